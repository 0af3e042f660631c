#!/usr/bin/env bash
# test_firewall.sh - deploy/firewall/phoenix-ucx.nft does what docs/admin.md says: only phoenixd
# reaches UCX's own TCP ports. Three namespaces: nodes A and B joined by a veth, each with a
# phoenixd whose settings.ucx.tcp_port_range is set, and C, a host outside the cluster, cabled to
# B. Without the rules, a process of another uid on A or B and root on C all connect to the UCX
# ports (found with `ss -ltnp` for phoenixd's pid, within the range). With the recipe loaded in A
# and B (their namespaces only, never the host's; C has none), the rpc_hello call from A to B
# still crosses UCX, while the other uid is refused (on the other node's port and on its own
# node's) and C gets no answer, and the recipe's own counters show its rules did it. Both
# services are alive at the end. Needs root, iproute2, nft and setpriv, and fails without them.
#
#   test_firewall.sh PHOENIXD SERVER CLIENT MRPC_PLUGIN UCX_PLUGIN RECIPE
set -euo pipefail
phoenixd=$1 server=$2 client=$3 mrpc_so=$4 ucx_so=$5 recipe=$6
source "$(dirname "$0")/twonode_lib.sh"

[ "$(id -u)" -eq 0 ] || { echo "FAILED: network namespaces and nft need root"; exit 1; }
for tool in ip nft setpriv ss; do
  command -v "$tool" >/dev/null || { echo "FAILED: $tool missing (deploy/install-deps.sh)"; exit 1; }
done

twonode_init
ns_a=${tag}a ns_b=${tag}b ns_c=${tag}c
net=10.231.$(( $$ % 250 + 1 )) net_c=10.232.$(( $$ % 250 + 1 ))
ip_a=$net.1 ip_b=$net.2 ip_bc=$net_c.1 ip_c=$net_c.2
ports_lo=41000 ports_hi=41099 nobody=65534

twonode_netns "$ns_a"
twonode_netns "$ns_b"
twonode_netns "$ns_c"
twonode_link "$ns_a" "${tag}va" "$ip_a/24" "$ns_b" "${tag}vb" "$ip_b/24"
twonode_link "$ns_c" "${tag}vc" "$ip_c/24" "$ns_b" "${tag}vbc" "$ip_bc/24"
ip -n "$ns_c" route add "$ip_b/32" via "$ip_bc"

# The services' own guard (tcp_peers_only) is off: what admits and refuses here is the recipe.
range="tcp_port_range = \"$ports_lo-$ports_hi\"; tcp_peers_only = false;"
twonode_service a "$ns_a" "${tag}va" "$range"
twonode_service b "$ns_b" "${tag}vb" "$range"
pid_a=${pids[0]} pid_b=${pids[1]}
# A service has UCX workers (and ports) only while it has apps: an rpc_hello server on each.
for n in a b; do
  ns_var=ns_$n ip_var=ip_$n
  ip netns exec "${!ns_var}" env PHOENIX_PREFIX="$dir/$n" "$server" "${!ip_var}:5000" \
    >"$dir/server_$n.out" 2>&1 &
  pids+=($!)
done
twonode_hello "$ns_a" a "$ip_b:5000"

ucx_port() {   # NETNS PID NODE_ADDR: ADDR:PORT of a UCX listener of phoenixd PID in the range
  local addr port
  while read -r _ _ _ local_end _; do
    addr=${local_end%:*} port=${local_end##*:}
    [ "$port" -ge "$ports_lo" ] && [ "$port" -le "$ports_hi" ] || continue
    case $addr in 0.0.0.0|\*) addr=$3 ;; esac
    echo "$addr:$port"; return 0
  done < <(ip netns exec "$1" ss -ltnpH | grep "pid=$2,")
  fail "phoenixd $2 has no listening port in $ports_lo-$ports_hi: $(ip netns exec "$1" ss -ltnpH)"
}
port_a=$(ucx_port "$ns_a" "$pid_a" "$ip_a")
port_b=$(ucx_port "$ns_b" "$pid_b" "$ip_b")
echo "UCX ports: A $port_a, B $port_b"

probe() {   # NETNS UID ADDR:PORT EXPECTED: connect as UID and close; connected/refused/timeout
  local out rc=0 got
  out=$(ip netns exec "$1" setpriv --reuid="$2" --regid="$2" --clear-groups \
        timeout 3 bash -c "exec 3<>/dev/tcp/${3%:*}/${3##*:}" 2>&1) || rc=$?
  case $rc in
    0) got=connected ;;
    124) got=timeout ;;
    *) if grep -q "Connection refused" <<<"$out"; then got=refused; else got="error: $out"; fi ;;
  esac
  echo "uid $2 in $1 -> $3: $got"
  [ "$got" = "$4" ] || fail "uid $2 in $1 connecting to $3: expected $4, got $got"
}

# Without the rules every one of them gets in: what follows is the rules' doing.
probe "$ns_a" "$nobody" "$port_b" connected
probe "$ns_b" "$nobody" "$port_b" connected
probe "$ns_c" 0 "$port_b" connected

# The recipe with this cluster's settings, each of which must have been found and set.
fw=$dir/phoenix-ucx.nft
sed -e "s/^define UCX_PORTS = .*/define UCX_PORTS = $ports_lo-$ports_hi/" \
    -e "s/^define PHOENIXD_UID = .*/define PHOENIXD_UID = 0/" \
    -e "s/^define NODES = .*/define NODES = { $ip_a, $ip_b }/" "$recipe" >"$fw"
for line in "define UCX_PORTS = $ports_lo-$ports_hi" "define PHOENIXD_UID = 0" \
            "define NODES = { $ip_a, $ip_b }"; do
  grep -qxF "$line" "$fw" || fail "the recipe has no line to set: $line"
done
host_tables=$(nft list tables)
for ns in "$ns_a" "$ns_b"; do
  ip netns exec "$ns" nft -f "$fw" || fail "nft -f the recipe in $ns"
  ip netns exec "$ns" nft -f "$fw" || fail "reloading the recipe in $ns"
done
[ "$(nft list tables)" = "$host_tables" ] || fail "the host's tables changed"

counter() {   # NETNS CHAIN RULE_TEXT: packets counted by the chain's rules containing it (summed)
  ip netns exec "$1" nft list chain inet phoenix_ucx "$2" |
    awk -v t="$3" 'index($0, t) && match($0, /counter packets [0-9]+/) {
                     n += substr($0, RSTART + 16, RLENGTH - 16); found = 1 }
                   END { if (found) print n }'
}
expect_count() {   # NETNS CHAIN RULE_TEXT MIN
  local n; n=$(counter "$1" "$2" "$3")
  echo "$1 $2 '$3': $n packets"
  [ -n "$n" ] && [ "$n" -ge "$4" ] || fail "$1 chain $2 rule '$3' counted ${n:-nothing}, want >= $4"
}

probe "$ns_a" 0 "$port_b" connected              # phoenixd's uid from a node: let in
probe "$ns_a" "$nobody" "$port_b" refused        # another uid, to the other node
probe "$ns_a" "$nobody" "$port_a" refused        # ... and to its own node's port
probe "$ns_b" "$nobody" "$port_b" refused
probe "$ns_b" 0 "$port_b" connected              # phoenixd's uid on its own node, over lo
probe "$ns_c" 0 "$port_b" timeout                # a host outside the cluster: dropped
expect_count "$ns_a" ucx_out "@nodes4" 1       # to the other node
expect_count "$ns_a" ucx_out "fib daddr" 1       # to its own
expect_count "$ns_b" ucx_out "fib daddr" 1
expect_count "$ns_b" ucx_in "drop" 1
expect_count "$ns_b" ucx_in "iif \"lo\"" 1

# The services still talk through UCX: a new client's call crosses the range from a node.
before=$(counter "$ns_b" ucx_in "@nodes4")
twonode_hello "$ns_a" a "$ip_b:5000"
expect_count "$ns_b" ucx_in "@nodes4" $(( before + 1 ))
for pid in "$pid_a" "$pid_b"; do kill -0 "$pid" 2>/dev/null || fail "phoenixd $pid died"; done
echo "PASSED: only phoenixd reaches UCX's ports $ports_lo-$ports_hi with the recipe loaded"
