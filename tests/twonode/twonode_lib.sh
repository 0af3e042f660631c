# twonode_lib.sh - sourced by the tests of tests/twonode: "nodes" made of network namespaces
# joined by veth pairs, a phoenixd in a namespace (UCX pinned to tcp on its veth), the rpc_hello
# call between two of them, and the cleanup that stops every process it started (by pid) and
# deletes every namespace it made (by name). Its namespaces are the only network it touches.
#
# The caller sets phoenixd, server, client, mrpc_so and ucx_so, then calls twonode_init.

twonode_init() {
  tag=phx$$
  dir=$(mktemp -d /tmp/phx-twonode.XXXXXX)
  pids=() namespaces=()
  trap twonode_cleanup EXIT
}

twonode_cleanup() {
  local pid ns
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do
    for _ in $(seq 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  for ns in "${namespaces[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
  rm -rf "$dir"
}

fail() {   # to stderr, so that a failure inside $(...) is still shown
  {
    echo "FAILED: $*"
    for f in "$dir"/*.log "$dir"/*.out; do [ -f "$f" ] && { echo "--- $f"; tail -20 "$f"; }; done
  } >&2
  exit 1
}

twonode_netns() {   # NAME: a namespace with its loopback up
  ip netns add "$1" || fail "ip netns add $1"
  namespaces+=("$1")
  ip -n "$1" link set lo up || fail "no loopback in $1"
}

# The pair is made on the host and moved (one made inside the namespaces was, to UCX 1.13 in
# there, "not available": seen, not explained); a pair left on the host by a failed move goes.
twonode_link() {   # NS1 DEV1 ADDR1/LEN NS2 DEV2 ADDR2/LEN: a cable between two namespaces
  ip link add "$2" type veth peer name "$5" || fail "veth $2/$5"
  ip link set "$2" netns "$1" && ip link set "$5" netns "$4" ||
    { ip link del "$2" 2>/dev/null; ip link del "$5" 2>/dev/null; fail "moving $2/$5"; }
  ip -n "$1" addr add "$3" dev "$2" && ip -n "$4" addr add "$6" dev "$5" || fail "addresses $3 $6"
  ip -n "$1" link set "$2" up && ip -n "$4" link set "$5" up || fail "links $2 $5 up"
}

twonode_service() {   # NODE NETNS VETH [UCX_SETTINGS]: phoenixd with prefix $dir/NODE
  local node=$1 ns=$2 veth=$3 extra=${4:-} prefix=$dir/$1
  cat > "$dir/$node.conf" <<CONF
prefix = "$prefix";
log = { level = "info"; file = "$dir/$node.log"; };
settings = { ucx = { tls = "tcp"; net_devices = "$veth"; auth = "none"; $extra }; };  # no munged here
plugins = ( { name = "mrpc"; path = "$mrpc_so"; }, { name = "ucx"; path = "$ucx_so"; } );
CONF
  ip netns exec "$ns" env UCX_NET_DEVICES="$veth" UCX_TLS=tcp \
    "$phoenixd" -c "$dir/$node.conf" --foreground >"$dir/$node.out" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do [ -S "$prefix/control.sock" ] && return 0; sleep 0.05; done
  fail "phoenixd on node $node did not start"
}

twonode_hello() {   # NETNS NODE ADDR:PORT: the rpc_hello client on NODE's service, checked
  # The server binds asynchronously: retry the client a bounded number of times.
  local reply=""
  for _ in $(seq 20); do
    reply=$(ip netns exec "$1" env PHOENIX_PREFIX="$dir/$2" timeout 10 "$client" "$3" 2>&1) && break
    sleep 0.25
  done
  echo "client: $reply"
  grep -qx "reply: Hello mRPC!" <<<"$reply" || fail "client did not get the greeting"
}
