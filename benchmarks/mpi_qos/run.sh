#!/usr/bin/env bash
# run.sh - QoS between jobs, measured: on a private 2-node Slurm cluster (tests/slurm/cluster.sh:
# a network namespace per node, joined by a bridge) with the node's system phoenixd on each node
# (qos and ratelimit plugins loaded), job A runs a latency-sensitive MPI ping-pong (qos_latency)
# and job B a bandwidth-heavy MPI stream (qos_stream, large messages both ways), both through
# `srun --mpi=pmix mrpc-run --service system` on the same two nodes. Five scenarios:
#
#   a_alone              A alone: its round trip's p50 and p99
#   b_alone              B alone: its goodput
#   a_with_b             A while B streams, no policy
#   a_with_b_qos         the same with standing rules on both nodes' services, attached before
#                        the jobs start:  policyctl attach qos --job A --set class=latency
#                                         policyctl attach qos --job B --set class=bulk
#                        (B's settings are --qos-b's; --qos-b none attaches nothing to B)
#   a_with_b_ratelimit   the same with only a rate limit on B instead:
#                        policyctl attach ratelimit --job B --set bytes_per_sec=X
#                        (X per rank: RATE_SHARE of what each rank of B moved alone)
#
# B's goodput in the A+B scenarios is taken from its per-round samples over A's measured phase
# (B starts first and runs longer); alone, over the same length after its first round. The goal
# of issue 15: with the policy, A's p99 <= 2x alone while B keeps >= 70 % of its goodput.
#
#   run.sh --build BUILD_DIR --out OUT_DIR [--seconds S] [--reps N] [--size-a BYTES]
#          [--size-b BYTES] [--window-b W] [--rate-share F] [--qos-b KEY=VALUE,...|none]
#          [--dedicate] [--keep]
#
# --dedicate gives each app its own runtime thread, and so its own UCX worker, in the system
# services (runtime = { threads = 2; mode = "dedicate"; }: A's and B's rank on each node);
# by default the two jobs share the one runtime thread and worker, as in a default phoenix.conf.
# Builds nothing (BUILD_DIR is a configured and built tree). Writes OUT_DIR/results.json (every
# repetition and the medians), OUT_DIR/latency_cdf.png (A's round trips per scenario, gnuplot),
# OUT_DIR/summary.txt, the services' configuration (system.conf), and what each job printed, the
# rules and `policyctl list --json` taken on both nodes while A ran under the QoS rule
# (policy-list-nN.json). Every wait is bounded; every process it starts is stopped by its pid
# (jobs by id, services by pid file, the cluster by cluster.sh down). Needs root (the cluster):
# exit 77 otherwise; 0 done; 1 with a sentence.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
usage() { sed -n '2,36p' "$0" >&2; exit 2; }
die() { echo "run.sh: $*" >&2; exit 1; }

build="" out="" seconds=10 reps=1 size_a=64 size_b=8M window_b=4 rate_share=0.75 qos_b=class=bulk keep=""
runtime_conf=""
while [ $# -gt 0 ]; do
  case "$1" in
    --build) build=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --reps) reps=$2; shift 2 ;;
    --size-a) size_a=$2; shift 2 ;;
    --size-b) size_b=$2; shift 2 ;;
    --window-b) window_b=$2; shift 2 ;;
    --rate-share) rate_share=$2; shift 2 ;;
    --qos-b) qos_b=$2; shift 2 ;;
    --dedicate) runtime_conf='runtime = { threads = 2; mode = "dedicate"; };'; shift ;;
    --keep) keep=1; shift ;;
    *) usage ;;
  esac
done
[ -n "$build" ] && [ -n "$out" ] || usage
[[ "$seconds" =~ ^[0-9]+$ ]] && [ "$seconds" -ge 1 ] && [ "$seconds" -le 600 ] || die "--seconds must be 1..600"
[[ "$reps" =~ ^[0-9]+$ ]] && [ "$reps" -ge 1 ] && [ "$reps" -le 10 ] || die "--reps must be 1..10"
[[ "$rate_share" =~ ^(0?\.[0-9]+|1(\.0*)?)$ ]] || die "--rate-share must be a fraction in (0, 1]"
build=$(cd "$build" && pwd) || die "no build directory $build"

# What it runs, all from the build tree.
declare -A bin=(
  [phoenixd]=core/phoenixd/phoenixd [mrpc-run]=tools/mrpc-run/mrpc-run
  [policyctl]=tools/policyctl/policyctl [mrpc]=mrpc/engine/libphoenix_mrpc.so
  [ucx]=transports/ucx/libphoenix_ucx.so [qos]=policies/qos/libphoenix_qos.so
  [ratelimit]=policies/ratelimit/libphoenix_ratelimit.so
  [qos_latency]=benchmarks/mpi_qos/qos_latency [qos_stream]=benchmarks/mpi_qos/qos_stream
)
for k in "${!bin[@]}"; do
  bin[$k]=$build/${bin[$k]}
  [ -e "${bin[$k]}" ] || die "${bin[$k]} is missing: build the tree first (cmake --build $build)"
done
command -v python3 >/dev/null || die "python3 is needed for the results"

mkdir -p "$out"; out=$(cd "$out" && pwd)
dir=$(mktemp -d /tmp/phx-mpiqos.XXXXXX)
chmod 0755 "$dir"
echo "$dir" > "$out/workdir.txt"     # for the smoke test: nothing of it may be left
jobs_started=()
cleanup() {
  set +e
  if [ -f "$dir/cluster.env" ]; then
    . "$dir/cluster.env"
    [ ${#jobs_started[@]} -gt 0 ] && scancel --quiet "${jobs_started[@]}" 2>/dev/null
    for n in n1 n2; do
      p=$(cat "$dir/sys-$n/phoenixd.pid" 2>/dev/null) && [ -n "$p" ] && kill -TERM "$p" 2>/dev/null
    done
  fi
  "$src/tests/slurm/cluster.sh" down "$dir" >/dev/null 2>&1
  if [ -n "$keep" ]; then echo "run.sh: kept $dir"; else rm -rf "$dir"; fi
}
trap cleanup EXIT

# ---- the cluster and its system services ----------------------------------------------------
cat > "$dir/system.conf" <<CONF
control = { socket_mode = 0666; };
log = { file = "$dir/system-%n.log"; level = "warn"; };
$runtime_conf
settings = { ucx = { tls = "tcp"; net_devices = "cl0"; munge_socket = "$dir/munge/munge.socket.2"; }; };
plugins = ( { name = "mrpc"; path = "${bin[mrpc]}"; }, { name = "ucx"; path = "${bin[ucx]}"; },
            { name = "qos"; path = "${bin[qos]}"; }, { name = "ratelimit"; path = "${bin[ratelimit]}"; } );
CONF
cp "$dir/system.conf" "$out/system.conf"
rc=0; "$src/tests/slurm/cluster.sh" up "$dir" 2 >"$dir/cluster.log" 2>&1 || rc=$?
[ $rc -eq 77 ] && { cat "$dir/cluster.log"; exit 77; }
[ $rc -eq 0 ] || die "the cluster did not come up: $(tail -3 "$dir/cluster.log")"
. "$dir/cluster.env"
for n in n1 n2; do
  sed "s/%n/$n/" "$dir/system.conf" > "$dir/system-$n.conf"
  "$src/tests/slurm/cluster.sh" exec "$dir" "$n" "${bin[phoenixd]}" -c "$dir/system-$n.conf" \
    --prefix "$dir/sys-$n" --log-level warn || die "the system service of $n did not start"
done
export PATH=$(dirname "${bin[mrpc-run]}"):$PATH TMPDIR=$dir/run
unset PHOENIX_PREFIX
mkdir -p -m 0755 "$dir/run"
pctl() { local n=$1; shift; "${bin[policyctl]}" "$@" --prefix "$dir/sys-$n"; }

# ---- jobs -------------------------------------------------------------------------------------
# Submits PROGRAM ARGS as a held 2-node job (one rank per node) through the system services;
# prints its id. Its output goes to OUT/NAME.out and .err.
submit() {
  local name=$1; shift
  local j
  j=$(sbatch --parsable -H -N2 -n2 -w n1,n2 -J "$name" -o "$out/$name.out" -e "$out/$name.err" \
      --wrap "srun --mpi=pmix mrpc-run --timeout $((seconds * 3 + 120)) --service system --system-prefix $dir/sys-%n $*") ||
    die "sbatch of $name failed"
  jobs_started+=("$j")
  echo "$j"
}
running() { [ -n "$(squeue -h -j "$1" 2>/dev/null)" ]; }
wait_job() {   # JOB SECONDS
  local i
  for ((i = 0; i < $2 * 10; i++)); do running "$1" || return 0; sleep 0.1; done
  die "job $1 did not end within $2 s: $(tail -3 "$out"/*"$1"*.err 2>/dev/null)"
}
wait_sample() {   # FILE SECONDS: until B's first round is done
  local i
  for ((i = 0; i < $2 * 10; i++)); do grep -q '^sample ' "$1" 2>/dev/null && return 0; sleep 0.1; done
  die "job B printed no sample within $2 s: $(tail -3 "${1%.out}.err" 2>/dev/null)"
}
rule() { local n; for n in n1 n2; do pctl "$n" attach "$@" >>"$out/rules.log" || die "policyctl attach $* on $n failed"; done; }
unrule() { local n; for n in n1 n2; do pctl "$n" detach --job "$1" >>"$out/rules.log" 2>&1 || true; done; }

# While job A runs under the QoS rule, keeps the last `policyctl list --json` of each node that
# shows A's QosEngine (it is gone with A's apps once A ends), and `policyctl rules --json`.
watch_policy() {   # JOB_A TAG
  local n i
  for ((i = 0; i < (seconds + 120) * 2; i++)); do
    running "$1" || break
    for n in n1 n2; do
      pctl "$n" list --json > "$dir/list-$n.json" 2>/dev/null || continue
      # A's engine with its stats (an engine going away with A is listed without them)
      grep -q "\"job\": *\"$1\"" "$dir/list-$n.json" && grep -q '"class": *"latency"' "$dir/list-$n.json" &&
        cp "$dir/list-$n.json" "$out/policy-list-$n-$2.json"
      pctl "$n" rules --json > "$out/policy-rules-$n-$2.json" 2>/dev/null || true
    done
    sleep 0.5
  done
}

lat_args() { echo "${bin[qos_latency]} -s $size_a -D $seconds -o $out/$1.samples"; }
stream_args() { echo "${bin[qos_stream]} -s $size_b -W $window_b -D $1"; }

# One scenario, one repetition: TAG names its files (SCENARIO-rREP).
run_a_alone() {
  local a; a=$(submit "$1-a" "$(lat_args "$1-a")")
  scontrol release "$a"; wait_job "$a" $((seconds + 180))
  echo "$1 a=$a" >> "$out/jobs.txt"
}
run_b_alone() {
  local b; b=$(submit "$1-b" "$(stream_args $((seconds + 1)))")
  scontrol release "$b"; wait_job "$b" $((seconds + 180))
  echo "$1 b=$b" >> "$out/jobs.txt"
}
run_a_with_b() {   # TAG POLICY (none, qos, ratelimit)
  local tag=$1 policy=$2 a b
  b=$(submit "$tag-b" "$(stream_args $((seconds * 3 + 60)))")
  a=$(submit "$tag-a" "$(lat_args "$tag-a")")
  case "$policy" in
    qos) rule qos --job "$a" --set class=latency
         if [ "$qos_b" != none ]; then
           local kv sets=(); IFS=, read -ra kv <<<"$qos_b"
           for k in "${kv[@]}"; do sets+=(--set "$k"); done
           rule qos --job "$b" "${sets[@]}"
         fi ;;
    ratelimit) rule ratelimit --job "$b" --set "bytes_per_sec=$(b_rate_limit)" ;;
  esac
  scontrol release "$b"; wait_sample "$out/$tag-b.out" 180
  scontrol release "$a"
  if [ "$policy" = qos ]; then watch_policy "$a" "$tag"; fi
  wait_job "$a" $((seconds + 180))
  scancel --quiet "$b"; wait_job "$b" 60
  unrule "$a"; unrule "$b"
  echo "$tag a=$a b=$b" >> "$out/jobs.txt"
}
# Bytes per second for each rank of B under the rate limit: RATE_SHARE of what one rank of B
# sent per second alone (the median of b_alone so far; each rank sends half of the goodput).
b_rate_limit() {
  python3 "$here/results.py" rate "$out" "$rate_share"
}

# ---- the scenarios, interleaved by repetition --------------------------------------------------
rm -f "$out"/*.out "$out"/*.err "$out"/*.samples "$out"/policy-*.json "$out/jobs.txt" "$out/rules.log"
uptime > "$out/uptime-before.txt"
echo "run.sh: cluster $PHX_CLUSTER_NET.0/24 up; $reps repetition(s) of 5 scenarios, $seconds s each ($(uptime))"
for ((r = 1; r <= reps; r++)); do
  run_a_alone "a_alone-r$r"
  run_b_alone "b_alone-r$r"
  run_a_with_b "a_with_b-r$r" none
  run_a_with_b "a_with_b_qos-r$r" qos
  run_a_with_b "a_with_b_ratelimit-r$r" ratelimit
  echo "run.sh: repetition $r of $reps done ($(uptime))"
done
uptime > "$out/uptime-after.txt"
python3 "$here/results.py" summarize "$out" "$seconds" "$reps" "$size_a" "$size_b" "$window_b" "$rate_share" "$qos_b" \
  > "$out/summary.txt" || die "the results are incomplete: $(tail -3 "$out/summary.txt")"
cat "$out/summary.txt"
gnuplot -e "out='$out'" "$here/latency_cdf.gp" 2>"$dir/gnuplot.err" || die "gnuplot failed: $(cat "$dir/gnuplot.err")"
echo "run.sh: results in $out/results.json, plot $out/latency_cdf.png"
