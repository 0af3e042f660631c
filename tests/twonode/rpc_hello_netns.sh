#!/usr/bin/env bash
# rpc_hello_netns.sh - the tutorial across two "nodes": two network namespaces joined by a veth
# pair, a phoenixd in each (UCX pinned to tcp on the veth), the rpc_hello server on node B and
# the client on node A. Passes when the client prints the seed's reply and the server saw the
# request. Needs root for `ip netns`; prints SKIPPED and exits 77 (ctest's SKIP_RETURN_CODE)
# otherwise. Everything it starts it stops (twonode_lib.sh).
#
#   rpc_hello_netns.sh PHOENIXD SERVER CLIENT MRPC_PLUGIN UCX_PLUGIN
set -euo pipefail
phoenixd=$1 server=$2 client=$3 mrpc_so=$4 ucx_so=$5
source "$(dirname "$0")/twonode_lib.sh"

if [ "$(id -u)" -ne 0 ] || ! command -v ip >/dev/null; then
  echo "SKIPPED: network namespaces need root and iproute2"; exit 77
fi

twonode_init
ns_a=${tag}a ns_b=${tag}b
net=10.231.$(( $$ % 250 + 1 ))
ip_a=$net.1 ip_b=$net.2

# Two hosts joined by a cable, a service on each. Node b's UCX listens in a port range
# (settings.ucx.tcp_port_range; its server app keeps its worker open to the end); node a's has
# none, and says so in its log.
range_b="41000-41099"
twonode_netns "$ns_a"
twonode_netns "$ns_b"
twonode_link "$ns_a" "${tag}va" "$ip_a/24" "$ns_b" "${tag}vb" "$ip_b/24"
twonode_service a "$ns_a" "${tag}va"
twonode_service b "$ns_b" "${tag}vb" "tcp_port_range = \"$range_b\";"

ip netns exec "$ns_b" env PHOENIX_PREFIX="$dir/b" "$server" "$ip_b:5000" >"$dir/server.out" 2>&1 &
pids+=($!)
twonode_hello "$ns_a" a "$ip_b:5000"
grep -q "mRPC" "$dir/server.out" || fail "server did not print the request"
echo "server: $(grep -m1 mRPC "$dir/server.out")"

# Node b's UCX listened in its range only; node a warned that its UCX ports have none.
ports_b=$(ip netns exec "$ns_b" ss -Hltnp | awk -v pid="pid=${pids[1]}," 'index($0, pid) { n = split($4, a, ":"); print a[n] }')
echo "node b's phoenixd listens on: $(echo $ports_b)"
in_range=0
for p in $ports_b; do
  if [ "$p" -ge 41000 ] && [ "$p" -le 41099 ]; then in_range=$((in_range + 1))
  elif [ "$p" -ne 5000 ] && ! grep -q "metrics.*:$p\b" "$dir/b.log"; then
    fail "node b's phoenixd listens on $p, outside tcp_port_range $range_b"
  fi
done
[ "$in_range" -ge 1 ] || fail "node b's UCX does not listen in tcp_port_range $range_b"
warning="settings.ucx.tcp_port_range is not set"
grep -q "$warning" "$dir/a.log" || fail "node a (no tcp_port_range) did not warn: $warning"
! grep -q "$warning" "$dir/b.log" || fail "node b (tcp_port_range $range_b) warned: $warning"
echo "PASSED: rpc_hello between $ns_a ($ip_a) and $ns_b ($ip_b) over veth"
