#!/usr/bin/env bash
# rpc_hello_netns.sh - the tutorial across two "nodes": two network namespaces joined by a veth
# pair, a phoenixd in each (UCX pinned to tcp on the veth), the rpc_hello server on node B and
# the client on node A. Passes when the client prints the seed's reply and the server saw the
# request. Needs root for `ip netns`; prints SKIPPED and exits 77 (ctest's SKIP_RETURN_CODE)
# otherwise. Everything it starts it stops.
#
#   rpc_hello_netns.sh PHOENIXD SERVER CLIENT MRPC_PLUGIN UCX_PLUGIN
set -euo pipefail
phoenixd=$1 server=$2 client=$3 mrpc_so=$4 ucx_so=$5

if [ "$(id -u)" -ne 0 ] || ! command -v ip >/dev/null; then
  echo "SKIPPED: network namespaces need root and iproute2"; exit 77
fi

tag=phx$$
ns_a=${tag}a ns_b=${tag}b veth_a=${tag}va veth_b=${tag}vb
net=10.231.$(( $$ % 250 + 1 ))
ip_a=$net.1 ip_b=$net.2
dir=$(mktemp -d /tmp/phx-twonode.XXXXXX)
pids=()

cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do
    for _ in $(seq 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  ip netns del "$ns_a" 2>/dev/null || true
  ip netns del "$ns_b" 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT

fail() { echo "FAILED: $*"; for f in "$dir"/*.log "$dir"/*.out; do [ -f "$f" ] && { echo "--- $f"; tail -20 "$f"; }; done; exit 1; }

# Two hosts joined by a cable.
ip netns add "$ns_a" && ip netns add "$ns_b"
ip link add "$veth_a" type veth peer name "$veth_b"
ip link set "$veth_a" netns "$ns_a" && ip link set "$veth_b" netns "$ns_b"
ip -n "$ns_a" addr add "$ip_a/24" dev "$veth_a" && ip -n "$ns_b" addr add "$ip_b/24" dev "$veth_b"
for n in a b; do
  ns_var=ns_$n veth_var=veth_$n
  ip -n "${!ns_var}" link set lo up
  ip -n "${!ns_var}" link set "${!veth_var}" up
done

# A service on each host, its transport pinned to the host's veth.
# Node b's UCX listens in a port range (settings.ucx.tcp_port_range; its server app keeps its
# worker open to the end); node a's has none, and says so in its log.
range_b="41000-41099"
start_service() {   # NODE NETNS VETH [PORT_RANGE]
  local node=$1 ns=$2 veth=$3 range=${4:-} prefix=$dir/$1
  cat > "$dir/$node.conf" <<CONF
prefix = "$prefix";
log = { level = "info"; file = "$dir/$node.log"; };
settings = { ucx = { tls = "tcp"; net_devices = "$veth"; auth = "none";  # no munged here
                     tcp_port_range = "$range"; }; };
plugins = ( { name = "mrpc"; path = "$mrpc_so"; }, { name = "ucx"; path = "$ucx_so"; } );
CONF
  ip netns exec "$ns" env UCX_NET_DEVICES="$veth" UCX_TLS=tcp \
    "$phoenixd" -c "$dir/$node.conf" --foreground >"$dir/$node.out" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do [ -S "$prefix/control.sock" ] && return 0; sleep 0.05; done
  fail "phoenixd on node $node did not start"
}
start_service a "$ns_a" "$veth_a"
start_service b "$ns_b" "$veth_b" "$range_b"

ip netns exec "$ns_b" env PHOENIX_PREFIX="$dir/b" "$server" "$ip_b:5000" >"$dir/server.out" 2>&1 &
pids+=($!)

# The server binds asynchronously: retry the client a bounded number of times.
reply=""
for _ in $(seq 20); do
  reply=$(ip netns exec "$ns_a" env PHOENIX_PREFIX="$dir/a" timeout 10 "$client" "$ip_b:5000" 2>&1) && break
  sleep 0.25
done
echo "client: $reply"
grep -qx "reply: Hello mRPC!" <<<"$reply" || fail "client did not get the greeting"
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
