#!/bin/bash
# samenode_rate.sh - one run of compare's one-node rate row (32 B calls, 32 outstanding, 32 B
# replies) through one phoenixd, as compare's one-node path runs it (benchmarks/RESULTS.md,
# "One-node rate: where a call's time goes").
#
#   benchmarks/samenode_rate.sh BUILD_DIR [SECONDS] [PERF_OUT]
#
# A fresh phoenixd (runtime.threads = 1, shared, spin_us 50, UCX sm,tcp on lo, same_node on:
# compare's one-node services), an rpc_bench server and a client through it, unpinned as in
# compare. Prints the load average, the client's JSON result (rate, CPU per call of the client,
# phoenixd and the server), the runtime's busy seconds, the server app's engines' work and
# busy_ns (the client has gone by then) and the counters of its UcxRpcAdapterEngine (tx_local =
# rx_local: the same-node path was taken). With PERF_OUT, `perf record` (-g, or $PERF_CG)
# samples the three processes during SECONDS - 1 s of the measured calls into PERF_OUT.data and
# `perf stat` counts their system calls, context switches and CPU time per thread into
# PERF_OUT.stat. Everything it starts is bounded by timeout and stopped by PID; its files go to
# a fresh directory under $TMPDIR.
set -u
B=$(cd "$1" && pwd); SECS=${2:-3}; PERF=${3:-}
D=$(mktemp -d "${TMPDIR:-/tmp}/samenode-rate.XXXXXX")
cat > "$D/phoenix.conf" <<CONF
prefix = "$D";
log = { level = "warn"; file = "$D/log"; };
runtime = { threads = 1; mode = "shared"; spin_us = 50; };
control = { admin_group = ""; socket_mode = 0666; max_apps = 64; };
plugin_trusted_dirs = "$B";
settings = { ucx = { tls = "sm,tcp"; net_devices = "lo"; auth = "none"; same_node = true; }; };
plugins = ( { name = "mrpc"; path = "$B/mrpc/engine/libphoenix_mrpc.so"; },
            { name = "ucx"; path = "$B/transports/ucx/libphoenix_ucx.so"; } );
CONF
export PHOENIX_PREFIX=$D UCX_TLS=sm,tcp UCX_NET_DEVICES=lo UCX_MM_ERROR_HANDLING=y \
       UCX_RNDV_SCHEME=get_zcopy
timeout 120 "$B/core/phoenixd/phoenixd" -c "$D/phoenix.conf" --foreground >"$D/out" 2>&1 &
TPD=$!; sleep 0.1; PD=$(pgrep -P $TPD || echo $TPD)     # phoenixd, not timeout
for _ in $(seq 100); do [ -S "$D/control.sock" ] && break; sleep 0.1; done
. "$(dirname "$0")/../tests/lib/ports.sh"; PORT=$(free_tcp_port)
timeout 100 "$B/benchmarks/rpc_bench/rpc_bench" --server -p "$PORT" >"$D/srv" 2>&1 &
TSV=$!
sleep 1; SV=$(pgrep -P $TSV || echo $TSV)
echo "build=$B load=$(cut -d' ' -f1-3 /proc/loadavg)"
ARGS=(-c 127.0.0.1 -p "$PORT" --json -D "$SECS" -s 32 -t 10000000 -w 10000 --concurrency 32
      --reply-size 32 --cpu-pid "$PD" --cpu-pid "$SV")
timeout 60 "$B/benchmarks/rpc_bench/rpc_bench" "${ARGS[@]}" > "$D/cl" 2>&1 &
TP=$!; sleep 0.2; CP=$(pgrep -P $TP || echo $TP)
if [ -n "$PERF" ]; then         # the middle of the measured calls, past the warm-up
  sleep 0.5
  perf record -q ${PERF_CG:--g} -o "$PERF.data" -p "$PD,$SV,$CP" -- sleep $((SECS - 1)) >/dev/null 2>&1 &
  PR=$!
  perf stat -x, -o "$PERF.stat" -e raw_syscalls:sys_enter,context-switches,task-clock \
       -p "$PD,$SV,$CP" --per-thread -- sleep $((SECS - 1)) >/dev/null 2>&1 &
  PS=$!
  wait $PR $PS
fi
wait $TP
grep "^{" "$D/cl" || { echo "client failed:"; tail -5 "$D/cl"; }
CTL="$B/tools/phoenixctl/phoenixctl"
[ -x "$CTL" ] || CTL=$(find "$B" -type f -name phoenixctl | head -1)
"$CTL" metrics --prefix "$D" | grep -E '^phoenix_runtime_busy_seconds_total' | tr '\n' ' '; echo
"$CTL" list --json --prefix "$D" | python3 -c 'import json, sys
d = json.load(sys.stdin)
print("engines (server app, the client has gone):", [(e["type"], e["work"], e["busy_ns"])
                                                     for s in d["subscriptions"] for e in s["engines"]])'
for ENG in $("$CTL" list --json --prefix "$D" | python3 -c 'import json, sys
d = json.load(sys.stdin)
print(" ".join(str(e["id"]) for s in d["subscriptions"] for e in s["engines"]
               if e["type"] == "UcxRpcAdapterEngine"))'); do
  "$CTL" engine "$ENG" stats --json --prefix "$D" | python3 -c 'import json, sys
d = json.load(sys.stdin)
print("ucx engine:", {k: d.get(k) for k in ("tx_local", "rx_local", "local_waits", "tx_msgs",
                                             "rx_msgs", "tx_grants")})'
done
kill "$SV" 2>/dev/null; wait "$TSV" 2>/dev/null
kill "$PD" 2>/dev/null; wait "$TPD" 2>/dev/null
rm -rf "$D"
