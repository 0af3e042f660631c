#!/usr/bin/env bash
# test_mpi_srun.sh - mpi-compat's correctness programs (mpi-compat/tests/programs/*.c: ring, pi,
# matmul, halo, wildcard, ordering, datatypes, colls, nbc) as Slurm job steps, `srun ... mrpc-run
# PROGRAM`, on the private test cluster (cluster.sh: a network namespace per node), ranks spread
# over nodes:
#   - srun -N2 -n4 --mpi=pmix      two ranks on each of n1, n2
#   - srun -N2 -n8 -O --mpi=pmi2   four ranks on each of two nodes (-O: more tasks than the
#                                  fake nodes' 2 CPUs)
# Each node's ranks use the job's per-job service there (mrpc-run starts it), the services talk
# over the cluster's bridge, authenticated by the cluster's munged. Rank 0's output must equal
# Open MPI's on as many ranks (programs/expected, compared by programs/expect.sh, as the mrpc-run
# tests do). First, a step that prints every rank's node checks that the layout spreads the
# ranks as said; then mpi_comm_type (COMM_TYPE) checks that MPI_Comm_split_type with
# MPI_COMM_TYPE_SHARED gives the ranks of each node one communicator, the two nodes two
# different ones (each rank checks its own against every rank's processor name and that there
# are 2 nodes; every rank must print its ok line). One cluster serves all the steps; every step
# is bounded (timeout).
#
#   test_mpi_srun.sh SRC_DIR MRPC_RUN PHOENIXD MRPC_PLUGIN UCX_PLUGIN PROGRAM_DIR COMM_TYPE
set -euo pipefail
src=$1 run=$2 phoenixd=$3 mrpc_so=$4 ucx_so=$5 progs=$6 comm_type=$7
here=$src/mpi-compat/tests/programs
dir=$(mktemp -d /tmp/phx-mpisrun.XXXXXX)
chmod 0755 "$dir"
fail() {
  echo "FAILED: $*"
  for f in "$dir"/*.out "$dir"/*.err; do [ -s "$f" ] && { echo "--- $f"; tail -8 "$f"; }; done
  find "$dir/run" -name phoenixd.log -exec tail -3 {} + 2>/dev/null || true
  exit 1
}
cleanup() {
  [ -n "${KEEP:-}" ] && { echo "kept $dir"; return; }
  [ -f "$dir/cluster.env" ] && { . "$dir/cluster.env"; scancel --quiet -u root 2>/dev/null || true; }
  "$src/tests/slurm/cluster.sh" down "$dir" || true
  rm -rf "$dir"
}
trap cleanup EXIT
unset PHOENIX_PREFIX
export MRPC_RUN_PHOENIXD=$phoenixd MRPC_RUN_SERVICE_CONF=$dir/job.conf TMPDIR=$dir/run
export PATH=$(dirname "$run"):$PATH
mkdir -p -m 0755 "$dir/run"
cat > "$dir/job.conf" <<CONF
log = { level = "warn"; };
settings = { ucx = { tls = "tcp"; net_devices = "cl0"; munge_socket = "$dir/munge/munge.socket.2"; }; };
plugins = ( { name = "mrpc"; path = "$mrpc_so"; }, { name = "ucx"; path = "$ucx_so"; } );
CONF

rc=0; "$src/tests/slurm/cluster.sh" up "$dir" 2 || rc=$?
[ $rc -eq 77 ] && exit 77
[ $rc -eq 0 ] || fail "the cluster did not come up"
. "$dir/cluster.env"

t_all=$SECONDS
for layout in "-N2 -n4 --mpi=pmix" "-N2 -n8 -O --mpi=pmi2"; do
  np=$(sed 's/.*-n\([0-9]*\).*/\1/' <<<"$layout")
  # The layout: every rank's node, as mrpc-run tells the rank.
  # shellcheck disable=SC2086   # the layout is words
  timeout 60 srun $layout mrpc-run sh -c 'echo "$MRPC_RANK $MRPC_SIZE $MRPC_NODE"' >"$dir/layout.out" 2>"$dir/layout.err" ||
    fail "srun $layout mrpc-run failed"
  [ "$(wc -l < "$dir/layout.out")" -eq "$np" ] || fail "srun $layout started $(wc -l < "$dir/layout.out") ranks, not $np"
  for n in n1 n2; do
    c=$(grep -c " $np $n\$" "$dir/layout.out" || true)
    [ "$c" -eq $((np / 2)) ] || fail "srun $layout put $c ranks on $n, not $((np / 2)): $(sort -n "$dir/layout.out" | tr '\n' ';')"
  done
  echo "ok: srun $layout: ranks 0-$((np - 1)), $((np / 2)) on each of n1 and n2"
  rc=0
  # shellcheck disable=SC2086
  timeout 120 srun $layout mrpc-run "$comm_type" 2 >"$dir/comm_type.$np.out" 2>"$dir/comm_type.$np.err" || rc=$?
  [ $rc -eq 0 ] || fail "srun $layout mpi_comm_type exited $rc"
  ! grep -q "FAILED:" "$dir/comm_type.$np.out" || fail "mpi_comm_type on $np ranks: $(grep FAILED: "$dir/comm_type.$np.out")"
  oks=$(grep -c "^ok: rank [0-9]*: MPI_Comm_split_type: $((np / 2)) of $np ranks on node n[12], 2 node(s)" \
        "$dir/comm_type.$np.out" || true)
  [ "$oks" -eq "$np" ] || fail "mpi_comm_type on $np ranks: $oks of $np ranks said their node communicator was right"
  echo "ok: srun $layout: MPI_COMM_TYPE_SHARED gave each node's $((np / 2)) ranks one communicator, the nodes two"
  for prog in ring pi matmul halo wildcard ordering datatypes colls nbc; do
    t0=$SECONDS rc=0
    # shellcheck disable=SC2086
    timeout 300 srun $layout mrpc-run "$here/expect.sh" "$here/expected/$prog.$np.out" "$progs/mpi_prog_$prog" \
      >"$dir/$prog.$np.out" 2>"$dir/$prog.$np.err" || rc=$?
    [ $rc -eq 0 ] || fail "srun $layout $prog exited $rc"
    ! grep -q "FAILED:" "$dir/$prog.$np.out" || fail "$prog on $np ranks: $(grep -A20 FAILED: "$dir/$prog.$np.out")"
    grep -q "^ok: mpi_prog_$prog on $np ranks printed" "$dir/$prog.$np.out" || fail "$prog on $np ranks: rank 0 compared nothing"
    echo "ok: srun $layout $prog: $(grep "^ok: " "$dir/$prog.$np.out" | cut -c5-) ($((SECONDS - t0)) s)"
  done
done
echo "PASSED: the correctness programs under srun on 2 nodes in $((SECONDS - t_all)) s"
