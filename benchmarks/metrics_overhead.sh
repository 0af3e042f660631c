#!/usr/bin/env bash
# metrics_overhead.sh - what MetricsEngine costs a call, and what a scrape costs: rpc_bench
# through one local phoenixd (loopback, UCX tcp), run three times with nothing, NullEngine and
# MetricsEngine attached to both the client and the server (attached while rpc_bench --hold
# waits, so every measured call goes through them), then timed scrapes of the endpoint. Prints
# figures; it is a benchmark, not a test.
#
#     benchmarks/metrics_overhead.sh [BUILD_DIR] [CONCURRENCY]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(cd "${1:-build}" && pwd)
conc=${2:-1}
prefix=$(mktemp -d /tmp/phoenix-mxbench.XXXXXX)
export PHOENIX_PREFIX=$prefix UCX_NET_DEVICES=lo UCX_TLS=tcp
. tests/lib/ports.sh
port=$(free_tcp_port) mport=$(free_tcp_port)
[ "$mport" != "$port" ] || mport=$(free_tcp_port)
cat > "$prefix/phoenix.conf" <<CONF
prefix = "$prefix";
log = { level = "warn"; file = "$prefix/phoenixd.log"; };
runtime = { threads = 1; mode = "shared"; spin_us = 50; };
metrics = { listen = "127.0.0.1:$mport"; };
settings = { ucx = { tls = "tcp"; net_devices = "lo"; auth = "none"; }; };  # no munged
plugin_trusted_dirs = "$bin";   # this build's plugins, wherever the tree was cloned (/tmp too)
plugins = (
  { name = "mrpc";    path = "$bin/mrpc/engine/libphoenix_mrpc.so"; },
  { name = "ucx";     path = "$bin/transports/ucx/libphoenix_ucx.so"; },
  { name = "null";    path = "$bin/policies/null/libphoenix_null.so"; },
  { name = "metrics"; path = "$bin/policies/metrics/libphoenix_metrics.so"; }
);
CONF
daemon="" server="" client=""
stop() {
  [ -n "$1" ] || return 0
  kill -TERM "$1" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}
cleanup() { exec 3>&- 2>/dev/null || true; stop "$client"; stop "$server"; stop "$daemon"; rm -rf "$prefix"; }
trap cleanup EXIT
"$bin/core/phoenixd/phoenixd" -c "$prefix/phoenix.conf" --foreground & daemon=$!
for _ in $(seq 100); do [ -S "$prefix/control.sock" ] && break; sleep 0.05; done
"$bin/benchmarks/rpc_bench/rpc_bench" --server -p "$port" >/dev/null & server=$!
sleep 1

# One measured run with POLICY ("" none) on both sides; prints rpc_bench's JSON line.
run() {
  local policy=$1 fifo=$prefix/in out=$prefix/out
  rm -f "$fifo"; mkfifo "$fifo"
  "$bin/benchmarks/rpc_bench/rpc_bench" -c "127.0.0.1:$port" -r 64 --concurrency "$conc" \
    -n 100000 -w 5000 -D 5 -j --hold <"$fifo" >"$out" & client=$!
  exec 3>"$fifo"
  for _ in $(seq 100); do grep -q ready "$out" 2>/dev/null && break; sleep 0.1; done
  if [ -n "$policy" ]; then
    "$bin/tools/policyctl/policyctl" attach "$policy" --pid "$client" >/dev/null
    "$bin/tools/policyctl/policyctl" attach "$policy" --pid "$server" >/dev/null
  fi
  echo go >&3
  for _ in $(seq 200); do grep -q done "$out" 2>/dev/null && break; sleep 0.1; done
  printf '%-8s %s\n' "${policy:-none}" "$(grep '^{' "$out" | head -1)"
  if [ "$policy" = metrics ]; then
    for _ in 1 2 3 4 5; do
      curl -s -o /dev/null -w 'scrape: %{time_total} s, %{size_download} bytes\n' \
        "http://127.0.0.1:$mport/metrics" || true
    done
  fi
  echo go >&3; exec 3>&-
  wait "$client" 2>/dev/null || true; client=""
  [ -z "$policy" ] || "$bin/tools/policyctl/policyctl" detach "$policy" --pid "$server" >/dev/null
}
echo "rpc_bench 64 B, concurrency $conc, one phoenixd on loopback (UCX tcp), policy on both sides"
run ""
run null
run metrics
