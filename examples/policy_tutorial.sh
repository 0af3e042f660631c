#!/usr/bin/env bash
# policy_tutorial.sh - the seed's "Policy Management" tutorial with our own tools, on this host.
#
# A private phoenixd (mrpc, ucx on loopback, and the ratelimit policy plugin) serves an
# rpc_bench server and an rpc_bench client that prints its call rate every second. While it
# runs, an administrator:
#   1. lists the apps and the policy types (phoenixctl list, policyctl list);
#   2. attaches a rate limit of 1,000 requests/s to the client (policyctl attach): the rate drops;
#   3. raises it to 2,500 requests/s without detaching (policyctl set): the rate follows;
#   4. detaches it (policyctl detach): the rate is back to what the machine gives.
#
#   examples/policy_tutorial.sh [BUILD_DIR]     (default: ./build, built already)
# Everything it starts is stopped by PID at the end, and its temporary prefix removed.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(cd "${1:-build}" && pwd)
for f in core/phoenixd/phoenixd tools/policyctl/policyctl tools/phoenixctl/phoenixctl \
         benchmarks/rpc_bench/rpc_bench policies/ratelimit/libphoenix_ratelimit.so; do
  [ -e "$bin/$f" ] || { echo "policy_tutorial: $bin/$f is missing: build first (cmake --build build)"; exit 1; }
done

prefix=$(mktemp -d /tmp/phoenix-policy.XXXXXX)
export PHOENIX_PREFIX=$prefix
export UCX_NET_DEVICES=lo UCX_TLS=tcp
port=$((20000 + $$ % 20000))
cat > "$prefix/phoenix.conf" <<CONF
# written by examples/policy_tutorial.sh
prefix = "$prefix";
log = { level = "info"; file = "$prefix/phoenixd.log"; };
runtime = { threads = 1; mode = "shared"; spin_us = 50; };
settings = { ucx = { tls = "tcp"; net_devices = "lo"; auth = "none"; }; };  # no munged
plugin_trusted_dirs = "$bin";   # this build's plugins, wherever the tree was cloned (/tmp too)
plugins = (
  { name = "mrpc";      path = "$bin/mrpc/engine/libphoenix_mrpc.so"; },
  { name = "ucx";       path = "$bin/transports/ucx/libphoenix_ucx.so"; },
  { name = "ratelimit"; path = "$bin/policies/ratelimit/libphoenix_ratelimit.so"; }
);
CONF

daemon_pid="" server_pid="" client_pid=""
stop() {        # one process by PID: TERM, 5 s, KILL; the apps before the service they use
  [ -n "$1" ] || return 0
  kill -TERM "$1" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}
cleanup() {
  stop "$client_pid"; stop "$server_pid"; stop "$daemon_pid"
  rm -rf "$prefix"
}
trap cleanup EXIT

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { echo "\$ $*"; "$@"; }
policyctl() { "$bin/tools/policyctl/policyctl" "$@"; }
phoenixctl() { "$bin/tools/phoenixctl/phoenixctl" "$@"; }

say "start phoenixd with the ratelimit plugin (prefix $prefix)"
"$bin/core/phoenixd/phoenixd" -c "$prefix/phoenix.conf" --foreground &
daemon_pid=$!
for _ in $(seq 100); do [ -S "$prefix/control.sock" ] && break; sleep 0.05; done
[ -S "$prefix/control.sock" ] || { echo "phoenixd did not start; see $prefix/phoenixd.log"; exit 1; }

say "rpc_bench: a server, and a client printing its rate every second for 20 s"
"$bin/benchmarks/rpc_bench/rpc_bench" --server -p "$port" >/dev/null &
server_pid=$!
sleep 1
"$bin/benchmarks/rpc_bench/rpc_bench" -c "127.0.0.1:$port" -r 64 --concurrency 8 -t 10000000 -D 20 -i 1 &
client_pid=$!
sleep 3

say "what runs, and which policies there are"
run phoenixctl list
run policyctl list

say "limit the client to 1,000 requests/s"
run policyctl attach ratelimit --pid "$client_pid" --set requests_per_sec=1000 --set bucket_size=1000
sleep 5
engine=$(policyctl list --json | grep -o '"engine_id":[0-9]*' | head -1 | cut -d: -f2)

say "raise the limit to 2,500 requests/s, live"
run policyctl set "$engine" requests_per_sec=2500
sleep 5
run policyctl list

say "remove the limit"
run policyctl detach ratelimit --pid "$client_pid"
wait "$client_pid"
client_pid=""
