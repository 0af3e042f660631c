#!/bin/bash
# samenode_threads.sh - one run of the same-node path across runtime threads against UCX
# (benchmarks/RESULTS.md, "The same-node path across runtime threads").
#
#   benchmarks/samenode_threads.sh BUILD_DIR true|false rtt|bw
#
# A fresh phoenixd with runtime.threads = 2 (shared: the rpc_bench server, registered first, on
# thread 0, the client on thread 1) and settings.ucx.same_node as given; an rpc_bench server and
# one client run through it (rtt: 64 B, one outstanding; bw: 8 MiB, 4 outstanding, empty
# replies). Prints the load average, the client's JSON result and the server transport's
# worker and same-node counters (rx_local = rx_msgs: the path was used). Everything it starts
# is bounded by timeout and stopped by PID; its files go to a fresh directory under $TMPDIR.
set -u
B=$(cd "$1" && pwd); SN=$2; KIND=$3
D=$(mktemp -d "${TMPDIR:-/tmp}/samenode-threads.XXXXXX")
cat > "$D/phoenix.conf" <<CONF
prefix = "$D";
log = { level = "warn"; file = "$D/log"; };
runtime = { threads = 2; mode = "shared"; };
control = { admin_group = ""; socket_mode = 0666; max_apps = 64; };
plugin_trusted_dirs = "$B";
settings = { ucx = { tls = "sm,tcp"; net_devices = "lo"; auth = "none"; same_node = $SN; }; };
plugins = ( { name = "mrpc"; path = "$B/mrpc/engine/libphoenix_mrpc.so"; },
            { name = "ucx"; path = "$B/transports/ucx/libphoenix_ucx.so"; } );
CONF
export PHOENIX_PREFIX=$D UCX_TLS=sm,tcp UCX_NET_DEVICES=lo UCX_MM_ERROR_HANDLING=y
timeout 120 "$B/core/phoenixd/phoenixd" -c "$D/phoenix.conf" --foreground >"$D/out" 2>&1 &
PD=$!
for _ in $(seq 100); do [ -S "$D/control.sock" ] && break; sleep 0.1; done
PORT=$((20000 + RANDOM % 20000))
timeout 100 "$B/benchmarks/rpc_bench/rpc_bench" --server -p $PORT >"$D/srv" 2>&1 &
SV=$!
sleep 1
if [ "$KIND" = rtt ]; then
  ARGS="-s 64 -w 2000 --concurrency 1"
else
  ARGS="-s 8388608 -w 8 --concurrency 4 --reply-size 0"
fi
echo "same_node=$SN $KIND load=$(cut -d' ' -f1-3 /proc/loadavg)"
timeout 60 "$B/benchmarks/rpc_bench/rpc_bench" -c 127.0.0.1 -p $PORT --json -D 3 $ARGS \
  --cpu-pid $PD --cpu-pid $SV | grep '^{'
CTL="$B/tools/phoenixctl/phoenixctl"
[ -x "$CTL" ] || CTL=$(find "$B" -type f -name phoenixctl | head -1)
ENG=$("$CTL" list --json --prefix "$D" | python3 -c 'import json, sys
d = json.load(sys.stdin)
print([e["id"] for s in d["subscriptions"] for e in s["engines"]
       if e["type"] == "UcxRpcAdapterEngine"][0])')
"$CTL" engine "$ENG" stats --json --prefix "$D" | python3 -c 'import json, sys
d = json.load(sys.stdin)
print("server:", {k: d[k] for k in ("worker_runtime", "worker_engines", "rx_local", "rx_msgs")})'
kill $SV 2>/dev/null; wait $SV 2>/dev/null
kill $PD 2>/dev/null; wait $PD 2>/dev/null
rm -rf "$D"
