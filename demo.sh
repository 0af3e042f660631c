#!/usr/bin/env bash
# demo.sh - install what is missing, build, then run the main job on this machine:
#   1. a Phoenix service (phoenixd) with the mRPC, UCX, loopback and null plugins;
#   2. the tutorial: rpc_hello_server and rpc_hello_client calling each other through it;
#   3. an app streaming through the service while an administrator lists it, attaches a policy,
#      upgrades the policy's plugin to a new build and detaches it again - all live, with the
#      app checking that nothing is lost or reordered;
#   4. the seed's policy tutorial on mRPC (examples/policy_tutorial.sh, its own service): rpc_bench
#      prints its rate every second while policyctl attaches a 1,000 requests/s limit, raises it
#      to 2,500 and detaches it.
#
#   ./demo.sh             everything in a private temporary prefix, stopped at the end
#   ./demo.sh --keep      leave the service running afterwards (prints how to stop it)
set -euo pipefail
cd "$(dirname "$0")"
root=$(pwd)

keep=0
[ "${1:-}" = "--keep" ] && keep=1

if ! ./deploy/install-deps.sh --check >/dev/null 2>&1; then
  if [ "$(id -u)" -eq 0 ]; then ./deploy/install-deps.sh; else sudo ./deploy/install-deps.sh; fi
fi
cmake -S . -B build >/dev/null
cmake --build build -j "$(nproc)" --target phoenixd phoenixctl phoenix_mrpc phoenix_ucx rpc_hello_server rpc_hello_client \
  loopback_ping phoenix_loopback phoenix_null phoenix_null_v2 policyctl phoenix_ratelimit rpc_bench >/dev/null

bin=$root/build
prefix=$(mktemp -d /tmp/phoenix-demo.XXXXXX)
conf=$prefix/phoenix.conf
export PHOENIX_PREFIX=$prefix      # phoenixctl and apps find the service through it
cat > "$conf" <<CONF
# Demo configuration written by demo.sh
prefix = "$prefix";
log = { level = "info"; file = "$prefix/phoenixd.log"; };
runtime = { threads = 1; mode = "shared"; spin_us = 50; };
settings = { ucx = { net_devices = "lo"; auth = "none"; }; };   # loopback only, no munged
plugin_trusted_dirs = "$bin";   # this build's plugins, wherever the tree was cloned (/tmp too)
plugins = (
  { name = "mrpc";     path = "$bin/mrpc/engine/libphoenix_mrpc.so"; },
  { name = "ucx";      path = "$bin/transports/ucx/libphoenix_ucx.so"; },
  { name = "loopback"; path = "$bin/examples/loopback/libphoenix_loopback.so"; },
  { name = "null";     path = "$bin/policies/null/libphoenix_null.so"; }
);
CONF

daemon_pid=""
app_pid=""
server_pid=""
cleanup() {
  [ -n "$app_pid" ] && kill "$app_pid" 2>/dev/null || true
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
  if [ -n "$daemon_pid" ] && [ "$keep" -eq 0 ]; then
    kill -TERM "$daemon_pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$daemon_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$daemon_pid" 2>/dev/null || true
    rm -rf "$prefix"
  fi
}
trap cleanup EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
ctl() { echo "\$ phoenixctl $*"; "$bin/tools/phoenixctl/phoenixctl" "$@"; }

step "start phoenixd (prefix $prefix)"
"$bin/core/phoenixd/phoenixd" -c "$conf" --foreground &
daemon_pid=$!
for _ in $(seq 100); do [ -S "$prefix/control.sock" ] && break; sleep 0.05; done
[ -S "$prefix/control.sock" ] || { echo "phoenixd did not start; see $prefix/phoenixd.log"; exit 1; }
echo "phoenixd running, pid $daemon_pid"

step "the tutorial: rpc_hello through the service"
echo "\$ rpc_hello_server 127.0.0.1:5000 &"
"$bin/examples/rpc_hello/rpc_hello_server" 127.0.0.1:5000 &
server_pid=$!
echo "\$ rpc_hello_client 127.0.0.1:5000"
for attempt in $(seq 20); do     # the server binds asynchronously
  "$bin/examples/rpc_hello/rpc_hello_client" 127.0.0.1:5000 && break
  [ "$attempt" -eq 20 ] && { echo "rpc_hello_client failed"; exit 1; }
  sleep 0.25
done
ctl list
kill "$server_pid"; wait "$server_pid" 2>/dev/null || true
server_pid=""

step "an app streams through the loopback service for 6 s"
"$bin/examples/loopback/loopback_ping" -d 6 &
app_pid=$!
sleep 1

step "the administrator's view"
ctl list
ctl plugins

step "attach a policy (NullEngine) under the running app"
sid=0
ctl attach --pid "$app_pid" --sid "$sid" --descriptor "$root/examples/loopback/attach-null.conf"
ctl list
sleep 1
engine=$("$bin/tools/phoenixctl/phoenixctl" list --json |
         grep -o '"id": *[0-9]*, *"type": *"NullEngine"' | grep -o '[0-9]\+' | head -1)
ctl engine "$engine" stats

step "upgrade the policy's plugin live (NullEngine 1.0.0 -> 2.0.0, state carried over)"
ctl upgrade --plugin "$bin/policies/null/libphoenix_null_v2.so"
sleep 1
ctl engine "$engine" stats

step "detach it again"
ctl detach --pid "$app_pid" --sid "$sid" --descriptor "$root/examples/loopback/detach-null.conf"
ctl list

step "the app finishes: every descriptor back, in order"
wait "$app_pid"
app_pid=""

step "the seed's policy tutorial: rate limiting rpc_bench with policyctl (20 s)"
"$root/examples/policy_tutorial.sh" "$bin"

if [ "$keep" -eq 1 ]; then
  echo; echo "phoenixd still runs (pid $daemon_pid): PHOENIX_PREFIX=$prefix; stop it with kill $daemon_pid"
fi
