#!/usr/bin/env bash
# test_cluster.sh - the test cluster itself: brings up 3 nodes (cluster.sh), checks that srun puts
# one task on each node, that every node has its own address on the bridge and only cl0 + lo,
# that PMIx and PMI2 steps start across nodes, then tears down and checks that no daemon,
# namespace or bridge is left.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dir=$(mktemp -d /tmp/phx-cluster.XXXXXX)
fail() { echo "FAILED: $*"; tail -5 "$dir"/log/*.log 2>/dev/null || true; exit 1; }
cleanup() { "$here/cluster.sh" down "$dir" || true; rm -rf "$dir"; }
trap cleanup EXIT

rc=0; "$here/cluster.sh" up "$dir" 3 || rc=$?
[ $rc -eq 77 ] && exit 77
[ $rc -eq 0 ] || fail "cluster.sh up failed"
. "$dir/cluster.env"
k=$PHX_CLUSTER_INDEX

out=$(timeout 60 srun -N3 -n3 sh -c 'echo $SLURM_NODEID $(ip -o -4 addr show cl0 | awk "{print \$4}") $(ip -o link | awk -F": " "{print \$2}" | sed "s/@.*//" | sort | tr "\n" " ")') ||
  fail "srun -N3 did not run"
echo "$out"
for i in 0 1 2; do
  grep -q "^$i 10.77.$k.$((i + 1))/24 cl0 lo$" <<<"$out" || fail "node $i is not alone on 10.77.$k.$((i + 1)) with cl0 and lo"
done
pmix=$(timeout 60 srun -N2 -n2 --mpi=pmix sh -c 'echo $PMIX_RANK') || fail "srun --mpi=pmix failed"
[ "$(sort <<<"$pmix" | tr '\n' ' ')" = "0 1 " ] || fail "PMIx ranks were '$pmix'"
pmi2=$(timeout 60 srun -N2 -n2 --mpi=pmi2 sh -c 'echo $PMI_RANK') || fail "srun --mpi=pmi2 failed"
[ "$(sort <<<"$pmi2" | tr '\n' ' ')" = "0 1 " ] || fail "PMI2 ranks were '$pmi2'"

"$here/cluster.sh" down "$dir"
left=$(ps -eo args | grep -F "$dir" | grep -v grep || true)
[ -z "$left" ] || fail "processes left after down: $left"
! ip netns list | grep -q "^phx$k-" || fail "namespaces left after down"
! ip link show "phxb$k" >/dev/null 2>&1 || fail "bridge phxb$k left after down"
echo "PASSED: 3-node cluster on 10.77.$k.0/24, PMIx and PMI2 steps, clean tear-down"
