#!/usr/bin/env bash
# test_mrpc_run.sh - mrpc-run, the per-job service, the system service and deploy/slurm's prolog
# and epilog on a 3-node Slurm cluster (cluster.sh: a network namespace per node):
#   1. srun -N2 --mpi=pmix: rank 0 serves on node n1, rank 1 on n2 finds it by rank and calls it;
#   2. srun -N3 -n6 --mpi=pmi2: five ranks call rank 0 (all to one);
#   3. exactly one phoenixd per node per job while 6 ranks run on 3 nodes, none after the job;
#   4. scancel mid-run: no phoenixd, keeper or rank of the job left, its directories gone;
#   5. a failing rank: srun exits non-zero and mrpc-run names the rank, the node and the status;
#      a step of two tasks without --mpi (MpiDefault=none) is refused before any rank starts;
#   6. killing one node's phoenixd mid-job: the caller on another node fails UNAVAILABLE within
#      2 s and mrpc-run names the node whose rank failed;
#   7. deploy/slurm/examples/hello.sbatch completes with exit 0;
#   8. system services (one per node, found through --system-prefix DIR/sys-%n): two concurrent
#      jobs are listed with their job ids by `phoenixctl list`; `policyctl attach ratelimit --job
#      J` slows job J's calls only; the epilog removes J's rules;
#   9. the prolog and the epilog ran on every node of the jobs (their log lines).
#
#   test_mrpc_run.sh SRC_DIR MRPC_RUN PHOENIXD RPC_HELLO_RANKS RPC_HELLO_SERVER MRPC_SO UCX_SO RATELIMIT_SO
#                    PHOENIXCTL POLICYCTL
set -euo pipefail
src=$1 run=$2 phoenixd=$3 ranks=$4 hello_server=$5 mrpc_so=$6 ucx_so=$7 rl_so=$8 phoenixctl=$9 policyctl=${10}
here=$src/tests/slurm
dir=$(mktemp -d /tmp/phx-slurm.XXXXXX)
chmod 0755 "$dir"
fail() {
  echo "FAILED: $*"
  for f in "$dir"/*.err "$dir"/phx-slurm.log; do [ -f "$f" ] && { echo "--- $f"; tail -8 "$f"; }; done
  find "$dir/run" -name phoenixd.log -exec tail -3 {} + 2>/dev/null || true
  exit 1
}
cleanup() {
  [ -n "${KEEP:-}" ] && { echo "kept $dir"; return; }
  [ -f "$dir/cluster.env" ] && { . "$dir/cluster.env"; scancel --quiet -u root 2>/dev/null || true; }
  for f in "$dir"/sys-n*/phoenixd.pid; do   # a service may remove its pid file meanwhile
    p=$(cat "$f" 2>/dev/null) || continue; [ -n "$p" ] && kill -TERM "$p" 2>/dev/null || true
  done
  "$here/cluster.sh" down "$dir" || true
  rm -rf "$dir"
}
trap cleanup EXIT
unset PHOENIX_PREFIX
export MRPC_RUN_PHOENIXD=$phoenixd MRPC_RUN_SERVICE_CONF=$dir/job.conf TMPDIR=$dir/run
export PATH=$(dirname "$run"):$(dirname "$ranks"):$(dirname "$phoenixctl"):$(dirname "$policyctl"):$PATH
mkdir -p -m 0755 "$dir/run"

# The services authenticate each other through the cluster's own munged, as on a real cluster.
plugins="{ name = \"mrpc\"; path = \"$mrpc_so\"; }, { name = \"ucx\"; path = \"$ucx_so\"; }"
cat > "$dir/job.conf" <<CONF
settings = { ucx = { tls = "tcp"; net_devices = "cl0"; munge_socket = "$dir/munge/munge.socket.2"; }; };
plugins = ( $plugins );
CONF
cat > "$dir/system.conf" <<CONF
control = { socket_mode = 0666; };
log = { file = "$dir/system.log"; };
settings = { ucx = { tls = "tcp"; net_devices = "cl0"; munge_socket = "$dir/munge/munge.socket.2"; }; };
plugins = ( $plugins, { name = "ratelimit"; path = "$rl_so"; } );
CONF
# Prolog/Epilog: deploy/slurm's scripts with this test's settings.
cat > "$dir/phoenix-defaults" <<DEF
PHOENIX_PREFIX=$dir/sys-\$SLURMD_NODENAME
MRPC_RUN_DIR=$dir/run
PHOENIX_BINDIR=$(dirname "$phoenixctl"):$(dirname "$policyctl")
PHOENIX_SLURM_LOG=$dir/phx-slurm.log
DEF
for s in prolog epilog; do
  printf '#!/bin/sh\nPHOENIX_SLURM_DEFAULTS=%s exec %s "$@"\n' "$dir/phoenix-defaults" "$src/deploy/slurm/$s.sh" > "$dir/$s"
  chmod 0755 "$dir/$s"
done
printf 'Prolog=%s\nEpilog=%s\nPrologFlags=Alloc\n' "$dir/prolog" "$dir/epilog" > "$dir/slurm.extra.conf"

rc=0; "$here/cluster.sh" up "$dir" 3 || rc=$?
[ $rc -eq 77 ] && exit 77
[ $rc -eq 0 ] || fail "the cluster did not come up"
. "$dir/cluster.env"
net=$PHX_CLUSTER_NET

live() { pgrep -fc -- "$1" || true; }
wait_count() {   # PATTERN WANT TRIES(x0.1 s)
  local i c=0
  for ((i = 0; i < $3; i++)); do c=$(live "$1"); [ "$c" -eq "$2" ] && return 0; sleep 0.1; done
  echo "$c"; return 1
}
wait_job() { for _ in $(seq 600); do [ -z "$(squeue -h -j "$1" 2>/dev/null)" ] && return 0; sleep 0.1; done
             fail "job $1 did not end within 60 s"; }

# 1. Two nodes, PMIx.
timeout 60 srun -N2 -n2 --mpi=pmix mrpc-run "$ranks" 3 >"$dir/1.out" 2>"$dir/1.err" || fail "srun -N2 --mpi=pmix failed"
grep -qx "rank 1: reply from $net.1:50[0-9][0-9]: Hello rank 1!" "$dir/1.out" || fail "rank 1 on n2 did not reach rank 0 on n1: $(cat "$dir/1.out")"
grep -qx "rank 0: answered 3 calls" "$dir/1.out" || fail "rank 0 did not answer 3 calls"
echo "ok 1: srun -N2 --mpi=pmix: rank 1 on n2 called rank 0 at $net.1"

# 2. All to one, PMI2, six ranks on three nodes.
timeout 60 srun -N3 -n6 --mpi=pmi2 mrpc-run "$ranks" 2 >"$dir/2.out" 2>"$dir/2.err" || fail "srun -N3 -n6 --mpi=pmi2 failed"
[ "$(grep -c "reply from $net.1:50[0-9][0-9]: Hello rank [1-5]!" "$dir/2.out")" -eq 5 ] || fail "not every rank reached rank 0: $(cat "$dir/2.out")"
grep -qx "rank 0: answered 10 calls" "$dir/2.out" || fail "rank 0 did not answer 10 calls"
echo "ok 2: srun -N3 -n6 --mpi=pmi2: 5 ranks called rank 0"

# 3. One phoenixd per node per job, none after.
job=$(sbatch --parsable -N3 -n6 -o "$dir/3.out" --wrap "srun --mpi=pmix mrpc-run sleep 4")
for n in 1 2 3; do
  wait_count "phoenixd --foreground --prefix $dir/run/mrpc-run-0/job$job-n$n/p" 1 60 >/dev/null || true
done
sleep 1
for n in 1 2 3; do
  c=$(live "phoenixd --foreground --prefix $dir/run/mrpc-run-0/job$job-n$n/p")
  [ "$c" -eq 1 ] || fail "node n$n has $c phoenixd for job $job (want 1)"
done
[ "$(live "phoenixd --foreground --prefix $dir/run/mrpc-run-0/job$job-")" -eq 3 ] || fail "not 3 phoenixd for job $job"
wait_job "$job"
c=$(wait_count "$dir/run/mrpc-run-0/job$job-" 0 100) || fail "$c processes of job $job left after it ended"
echo "ok 3: job $job had exactly one phoenixd on each of 3 nodes, none after it ended"

# 4. scancel mid-run.
sbatch -N3 -o "$dir/4.out" --wrap "srun -N3 -n3 --mpi=pmix mrpc-run sleep 60" >"$dir/4.sbatch"
job=$(awk '{print $NF}' "$dir/4.sbatch")
wait_count "phoenixd --foreground --prefix $dir/run/mrpc-run-0/job$job-" 3 150 >/dev/null || fail "job $job's services did not start"
scancel "$job"
c=$(wait_count "$dir/run/mrpc-run-0/job$job-" 0 200) || fail "$c processes of job $job left 20 s after scancel"
job_dirs() { ls "$dir/run/mrpc-run-0" | grep "^job$1-" || true; }
for _ in $(seq 600); do [ -z "$(job_dirs "$job")" ] && break; sleep 0.1; done
[ -z "$(job_dirs "$job")" ] || fail "job $job's directories were left 60 s after scancel: $(job_dirs "$job")"
echo "ok 4: scancel $job mid-run left no process and no directory"

# 5. A failing rank is named with its node.
rc=0; timeout 60 srun -N2 -n2 --mpi=pmix mrpc-run sh -c '[ $MRPC_RANK = 1 ] && exit 3; sleep 3' >"$dir/5.out" 2>"$dir/5.err" || rc=$?
[ $rc -ne 0 ] || fail "srun exited 0 although rank 1 failed"
grep -q "mrpc-run: rank 1 on node n2 ($net.2) exited with status 3" "$dir/5.err" || fail "mrpc-run did not name rank 1 on n2: $(cat "$dir/5.err")"
echo "ok 5: a failing rank: srun exit $rc, '$(grep -m1 "rank 1 on node" "$dir/5.err")'"
# Without --mpi (this cluster's MpiDefault=none) every task refuses before any rank starts.
rc=0; timeout 60 srun -N2 -n2 mrpc-run sh -c 'echo started' >"$dir/5b.out" 2>"$dir/5b.err" || rc=$?
[ $rc -ne 0 ] || fail "srun -N2 -n2 without PMI exited 0"
! grep -q started "$dir/5b.out" || fail "a rank started without PMI: $(cat "$dir/5b.out")"
grep -q "rank 1: srun gave no PMI, so the job's 2 ranks cannot find each other" "$dir/5b.err" ||
  fail "mrpc-run did not refuse a step without PMI: $(cat "$dir/5b.err")"
echo "ok 5: without PMI: srun exit $rc, '$(grep -m1 "no PMI" "$dir/5b.err")'"

# 6. Killing one node's service mid-job.
job=$(sbatch --parsable -N2 -n2 -w n1,n2 -o "$dir/6.out" -e "$dir/6.err" \
      --wrap "srun --mpi=pmix mrpc-run $ranks 1000000; echo srun-exit=\$? at \$(date +%s%N)")
# On n1 and n2 (-w: the case kills n1's service), which may still be running the previous jobs'
# epilogs (30-45 s seen here): the job waits for them.
for _ in $(seq 900); do grep -q "reply from" "$dir/6.out" 2>/dev/null && break; sleep 0.1; done
grep -q "reply from" "$dir/6.out" 2>/dev/null || fail "job $job's ranks made no call within 90 s: $(cat "$dir/6.out" "$dir/6.err" 2>/dev/null | tail -5)"
pid=$(pgrep -f -- "phoenixd --foreground --prefix $dir/run/mrpc-run-0/job$job-n1/p") || fail "no phoenixd of job $job on n1"
t0=$(date +%s%N); kill -KILL "$pid"
wait_job "$job"
read -r rc t1 < <(sed -n 's/^srun-exit=\([0-9]*\) at \([0-9]*\)$/\1 \2/p' "$dir/6.out")
[ -n "$rc" ] || fail "job $job did not report srun's exit: $(cat "$dir/6.out")"
ms=$(( (t1 - t0) / 1000000 ))
[ $rc -ne 0 ] || fail "srun exited 0 although n1's service was killed"
grep -q "rank 1: SayHello: UNAVAILABLE" "$dir/6.err" || fail "rank 1's call did not end UNAVAILABLE: $(cat "$dir/6.err")"
grep -q "mrpc-run: rank 0 on node n1 ($net.1) exited with status 1" "$dir/6.err" || fail "mrpc-run did not name n1: $(cat "$dir/6.err")"
[ $ms -le 2000 ] || fail "the job took $ms ms to end after n1's phoenixd was killed (want <= 2000)"
echo "ok 6: n1's phoenixd killed: rank 1 UNAVAILABLE, srun exit $rc after $ms ms"

# 7. The sbatch example.
(cd "$dir" && timeout 120 sbatch --wait -o "$dir/7.out" "$src/deploy/slurm/examples/hello.sbatch" "$ranks" >/dev/null) || fail "hello.sbatch failed: $(cat "$dir/7.out")"
[ "$(grep -c "Hello rank" "$dir/7.out")" -eq 3 ] || fail "hello.sbatch's ranks did not all reach rank 0: $(cat "$dir/7.out")"
echo "ok 7: deploy/slurm/examples/hello.sbatch completed with exit 0"

# 8. System services: two jobs listed, a rate limit for one job only, the epilog's detach.
for n in 1 2; do
  "$here/cluster.sh" exec "$dir" n$n "$phoenixd" -c "$dir/system.conf" --prefix "$dir/sys-n$n" --log-level warn ||
    fail "the system service of n$n did not start"
done
sys=(--system-prefix "$dir/sys-%n" --service system)
for port in 6001 6002; do
  sbatch -N1 -w n1 -o "$dir/8-$port.out" --wrap "srun mrpc-run ${sys[*]} rpc_hello_server $net.1:$port" > "$dir/8-$port.sbatch"
done
ja=$(awk '{print $NF}' "$dir/8-6001.sbatch") jb=$(awk '{print $NF}' "$dir/8-6002.sbatch")
listed=""
for _ in $(seq 100); do
  listed=$("$phoenixctl" list --prefix "$dir/sys-n1" 2>&1 || true)
  grep -qw "$ja" <<<"$listed" && grep -qw "$jb" <<<"$listed" && break; sleep 0.1
done
grep -qw "$ja" <<<"$listed" && grep -qw "$jb" <<<"$listed" || fail "phoenixctl list does not show jobs $ja and $jb: $listed"
scancel "$ja" "$jb"
echo "ok 8a: two concurrent jobs $ja and $jb listed by phoenixctl list"
# Job J: rank 1 on n2 calls rank 0 on n1 40 times through the system services; with "limited",
# a standing rate-limit rule for J (20 calls/s) goes on both services before J starts. Prints
# "J MS" (the calls' duration as rank 1 measured it) into DIR/8-HOW.result.
timed_job() {
  local how=$1 j
  j=$(sbatch --parsable -N2 -n2 -w "n[1-2]" -H -o "$dir/8-$how.out" --wrap "srun --mpi=pmix mrpc-run ${sys[*]} $ranks 40")
  if [ "$how" = limited ]; then
    for n in 1 2; do "$policyctl" attach ratelimit --job "$j" --set requests_per_sec=20 --prefix "$dir/sys-n$n" >/dev/null ||
      fail "policyctl attach ratelimit --job $j failed on n$n"; done
  fi
  scontrol release "$j"
  for _ in $(seq 300); do [ -z "$(squeue -h -j "$j" 2>/dev/null)" ] && break; sleep 0.1; done
  grep -q "answered 40 calls" "$dir/8-$how.out" || fail "job $j ($how) did not complete: $(cat "$dir/8-$how.out")"
  echo "$j $(awk '/calls in/ {print $(NF-1)}' "$dir/8-$how.out")" > "$dir/8-$how.result"
}
timed_job limited; read -r jl ms_l < "$dir/8-limited.result"
timed_job unlimited; read -r ju ms_u < "$dir/8-unlimited.result"
echo "    job $jl (limited to 20/s): 40 calls in $ms_l ms; job $ju (no rule): $ms_u ms"
[ "$ms_l" -ge 1200 ] || fail "job $jl's 40 calls at 20/s took only $ms_l ms"
[ "$ms_u" -lt 1000 ] || fail "job $ju, without a rule, was slowed too ($ms_u ms)"
for n in 1 2; do
  rules=$("$policyctl" rules --prefix "$dir/sys-n$n" 2>&1 || true)
  ! grep -qw "$jl" <<<"$rules" || fail "the epilog left job $jl's rule on n$n: $rules"
done
echo "ok 8b: policyctl attach ratelimit --job $jl slowed that job only; the epilog removed its rules"

# 9. The prolog and the epilog ran on the nodes of the jobs.
for n in n1 n2; do
  grep -q "prolog.sh job $jl on $n: system service at $dir/sys-$n is healthy" "$dir/phx-slurm.log" ||
    fail "no prolog line for job $jl on $n"
  grep -q "epilog.sh job $jl on $n: removed the job's standing rules" "$dir/phx-slurm.log" ||
    fail "no epilog line for job $jl on $n"
done
grep -q "prolog.sh job [0-9]* on n3: no system service at $dir/sys-n3: mrpc-run will start one" "$dir/phx-slurm.log" ||
  fail "no prolog line for a per-job service on n3"
grep -q "epilog.sh job [0-9]* on n3: removed the job's service directory" "$dir/phx-slurm.log" ||
  fail "no epilog line removing a per-job directory on n3"
echo "ok 9: prolog and epilog ran: $(grep -c prolog.sh "$dir/phx-slurm.log") prolog and $(grep -c epilog.sh "$dir/phx-slurm.log") epilog lines"
for n in 1 2; do kill -TERM "$(cat "$dir/sys-n$n/phoenixd.pid")" 2>/dev/null || true; done
echo "PASSED: mrpc-run on a 3-node Slurm cluster"
