#!/usr/bin/env bash
# test_local.sh - mrpc-run outside Slurm, with no service running beforehand:
#   - `mrpc-run -n 4 rpc_hello_ranks 3` exits 0, every rank finds rank 0 by rank and gets its
#     greeting, and afterwards no phoenixd or mrpc-run of the run is left, nor its directory;
#   - bad input: an unknown program (127 and "cannot run"), a crashing rank (139, names the rank
#     and the signal), a service that cannot start (1, says so, within seconds), --timeout (124),
#     -n 0 and an unknown --service (2), a multi-task srun step without PMI (1), --system-prefix
#     before PHOENIX_PREFIX; SIGTERM and SIGINT are forwarded to the ranks;
#   - the per-job service under a job's identity (a Slurm task environment without PMI): two
#     mrpc-run racing for it get exactly one phoenixd; a stale directory from a killed job (a
#     dead pid file, a dead socket) is taken over.
#
#   - libmrpc's rank API against it (rank_probe): error statuses and a barrier a rank left.
#
#   test_local.sh MRPC_RUN PHOENIXD RPC_HELLO_RANKS MRPC_PLUGIN UCX_PLUGIN RANK_PROBE
set -euo pipefail
run=$1 phoenixd=$2 ranks=$3 mrpc_so=$4 ucx_so=$5 probe=$6
# The per-job service authenticates its peers as installed (settings.ucx.auth = "munge"), with
# a realm of the test's own (local_job.sh: a private directory, munged, config, clean-up, fail).
. "$(dirname "$0")/../lib/local_job.sh"
local_job_start mrpcrun "$phoenixd" "$mrpc_so" "$ucx_so" info
# Live processes whose command line mentions ARG (zombies have none; this host's pid 1 leaves
# orphans' zombies unreaped).
live() { pgrep -fc -- "$1" || true; }
expect() {   # WANT_RC PATTERN -- CMD...: runs CMD (bounded), checks rc and stderr
  local want=$1 pat=$2; shift 3
  local rc=0 t0=$SECONDS
  timeout 30 "$@" >"$dir/out" 2>"$dir/err" || rc=$?
  [ "$rc" -eq "$want" ] || fail "'$*' exited $rc, expected $want: $(cat "$dir/err")"
  [ -z "$pat" ] || grep -q -- "$pat" "$dir/err" || fail "'$*' did not say '$pat': $(cat "$dir/err")"
  echo "ok: rc=$rc in $((SECONDS - t0)) s: $* -> $(head -1 "$dir/err")"
}

# 1. Four local ranks, a per-run service, nothing left behind.
expect 0 "" -- "$run" -n 4 --tag-output "$ranks" 3
for r in 1 2 3; do grep -qx "\[$r\] rank $r: reply from 127.0.0.1:50[0-9][0-9]: Hello rank $r!" "$dir/out" ||
  fail "rank $r got no greeting: $(cat "$dir/out")"; done
grep -qx "\[0\] rank 0: answered 9 calls" "$dir/out" || fail "rank 0 did not answer 9 calls"
for _ in $(seq 50); do [ "$(live "$dir/mrpc-run-")" -eq 0 ] && break; sleep 0.1; done
[ "$(live "$dir/mrpc-run-")" -eq 0 ] || fail "processes left: $(ps -eo args | grep -F "$dir/mrpc-run-" | grep -v grep)"
[ -z "$(ls -A "$dir/mrpc-run-$(id -u)")" ] || fail "the run's directory was left: $(ls "$dir/mrpc-run-$(id -u)")"

# The rank API: outside mrpc-run, and its checks under it (rank_probe prints ok:/FAILED: lines).
"$probe" outside > "$dir/probe.out" || fail "rank_probe outside: $(cat "$dir/probe.out")"
expect 0 "" -- "$run" -n 2 "$probe"
grep -q "^FAILED:" "$dir/out" && fail "rank_probe: $(grep "^FAILED:" "$dir/out")"
[ "$(grep -c '^ok: ' "$dir/out")" -eq 13 ] || fail "rank_probe did not run every check: $(cat "$dir/out")"
grep -q "^ok: rank 0: barrier after rank 1 exited: ABORTED: rank 1 exited before reaching the barrier" "$dir/out" ||
  fail "the barrier rank 1 left was not ABORTED: $(cat "$dir/out")"
echo "ok: rank API: $(grep -c '^ok: ' "$dir/out") checks under mrpc-run, 3 outside"

# 2. Bad input: each a sentence, an exit status that says what happened, no hang.
expect 127 "cannot run $dir/nonexistent: No such file or directory" -- "$run" -n 2 "$dir/nonexistent"
expect 139 "rank 1 on node .* was killed by signal 11" -- "$run" -n 3 sh -c '[ $MRPC_RANK = 1 ] && kill -SEGV $$; sleep 5'
expect 3 "rank 2 on node .* exited with status 3" -- "$run" -n 3 sh -c '[ $MRPC_RANK = 2 ] && exit 3; sleep 5'
expect 1 "did not start: .*cannot run /nonexistent/phoenixd" -- "$run" --phoenixd /nonexistent/phoenixd true
expect 124 "ran past --timeout 1 s" -- "$run" -n 2 --timeout 1 sleep 20
expect 2 "must be at least 1" -- "$run" -n 0 true
expect 2 "must be auto, system or job" -- "$run" --service bogus true
expect 1 "no Phoenix service answers" -- "$run" --service system true
# --system-prefix names the system service; without it PHOENIX_PREFIX does.
expect 1 "no Phoenix service answers at $dir/sys-opt/control.sock" -- \
  env PHOENIX_PREFIX="$dir/sys-env" "$run" --service system --system-prefix "$dir/sys-opt" true
expect 1 "no Phoenix service answers at $dir/sys-env/control.sock" -- \
  env PHOENIX_PREFIX="$dir/sys-env" "$run" --service system true
expect 2 "no program given" -- "$run" -n 2

# A task of a multi-task step that srun gave no PMI (MpiDefault=none) is refused before any rank
# starts: its ranks could not find each other.
expect 1 "srun gave no PMI, so the job's 2 ranks cannot find each other: use srun --mpi=pmix" -- \
  env SLURM_JOB_ID=4243 SLURM_STEP_ID=0 SLURM_PROCID=1 SLURM_STEP_NUM_TASKS=2 SLURM_LOCALID=0 \
  SLURM_NODEID=0 SLURM_STEP_TASKS_PER_NODE=1 SLURMD_NODENAME=fake "$run" true
[ -z "$(ls -A "$dir/mrpc-run-$(id -u)" 2>/dev/null | grep 4243)" ] || fail "a refused task started a service"

# Signals: SIGTERM and SIGINT to mrpc-run reach every rank; the status says how they ended.
"$run" -n 2 sh -c 'trap "exit 7" TERM; sleep 20 & wait' >"$dir/out" 2>"$dir/err" & rp=$!
sleep 1; kill -TERM $rp; rc=0; t0=$SECONDS; wait $rp || rc=$?
[ $rc -eq 7 ] || fail "SIGTERM was not forwarded to the ranks (exit $rc): $(cat "$dir/err")"
"$run" -n 2 sleep 20 >"$dir/out" 2>"$dir/err" & rp=$!
sleep 1; kill -INT $rp; rc=0; wait $rp || rc=$?
[ $rc -eq 130 ] || fail "SIGINT did not end the ranks with 130 (exit $rc): $(cat "$dir/err")"
[ $((SECONDS - t0)) -lt 10 ] || fail "forwarded signals took $((SECONDS - t0)) s"
echo "ok: SIGTERM reached the ranks (exit 7 from their trap), SIGINT ended them (130)"

# 3. The same job's service from two mrpc-run at once (a task's environment, no PMI): one phoenixd.
job_env=(env SLURM_JOB_ID=4242 SLURM_STEP_ID=0 SLURM_PROCID=0 SLURM_STEP_NUM_TASKS=1 SLURM_LOCALID=0
         SLURM_STEP_TASKS_PER_NODE=1 SLURMD_NODENAME=fake)
svc_dir=$dir/mrpc-run-$(id -u)/job4242-fake
for i in 1 2; do "${job_env[@]}" "$run" sh -c 'sleep 2' & local_job_pids+=($!); done
count=0
for _ in $(seq 30); do count=$(live "--prefix $svc_dir/p"); [ "$count" -ge 1 ] && break; sleep 0.1; done
sleep 0.5; count=$(live "--prefix $svc_dir/p")
[ "$count" -eq 1 ] || fail "two racing mrpc-run made $count services for one job"
for p in "${local_job_pids[@]}"; do wait "$p" || fail "a racing mrpc-run failed"; done
local_job_pids=()
for _ in $(seq 80); do [ "$(live "$svc_dir")" -eq 0 ] && break; sleep 0.1; done
[ "$(live "$svc_dir")" -eq 0 ] || fail "the job's service outlived its ranks"
echo "ok: two racing mrpc-run shared one phoenixd, gone after them"

# 4. A stale directory from a killed job: a pid file of a dead process, a socket nobody serves.
sleep 60 & dead=$!; kill -KILL $dead; wait $dead 2>/dev/null || true
mkdir -p -m 0700 "$svc_dir/p"; echo $dead > "$svc_dir/p/phoenixd.pid"; echo $dead > "$svc_dir/keeper.pid"
python3 -c "import socket,sys; s=socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET); s.bind(sys.argv[1])" "$svc_dir/p/control.sock"
expect 0 "" -- "${job_env[@]}" "$run" sh -c 'test -S "$PHOENIX_PREFIX/control.sock"'
echo "PASSED: mrpc-run outside Slurm"
