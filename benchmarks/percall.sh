#!/usr/bin/env bash
# percall.sh - system calls, sleeps and CPU per call of each of the four processes of an mRPC
# round trip: the client app, its phoenixd, the server's phoenixd, the server app.
#
# Two phoenixd on loopback (UCX tcp, auth none, runtime threads = 1, shared, spin_us 50), each
# "node" on a CPU of its own as compare's two-node path has it: the client and its phoenixd on
# CPU 0, the server and its phoenixd on CPU 1 (taskset). rpc_bench --hold waits once connected;
# then `perf stat` counts, per process (all its threads), every system call entry
# (raw_syscalls:sys_enter) and the main ones by name, plus context switches, while rpc_bench makes
# its warm-up and measured calls; /proc/PID/task/*/status gives the voluntary switches (a
# sleep that blocked; a sched_yield() counts as involuntary). Per call = over warm-up + measured
# calls. CPU per call is rpc_bench's own (--cpu-pid of the three others, measured phase only).
# Prints one line per process; a benchmark, not a test.
#
#     benchmarks/percall.sh BUILD_DIR CONCURRENCY SIZE [SECONDS] [OUT_DIR]
#
# The reply is SIZE bytes too, unless REPLY_SIZE is set in the environment (0: empty replies).
# e.g. `percall.sh build 1 64` (64 B round trips) and `percall.sh build 32 32` (32 B, 32
# outstanding). Needs root (or perf_event_paranoid <= -1) and tracefs mounted
# (`mount -t tracefs nodev /sys/kernel/tracing`) for the tracepoints.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(cd "${1:?BUILD_DIR}" && pwd)
conc=${2:?CONCURRENCY} size=${3:?SIZE} secs=${4:-4}
out=${5:-$(mktemp -d /tmp/phoenix-percall.XXXXXX)}
mkdir -p "$out"
export UCX_NET_DEVICES=lo UCX_TLS=tcp
. tests/lib/ports.sh
port=$(free_tcp_port)
[ -d /sys/kernel/tracing/events/raw_syscalls ] || [ -d /sys/kernel/debug/tracing/events/raw_syscalls ] ||
  { echo "no syscall tracepoints: mount -t tracefs nodev /sys/kernel/tracing (as root)" >&2; exit 1; }
events=raw_syscalls:sys_enter,context-switches
for sc in epoll_wait epoll_pwait sched_yield read write poll ppoll sendmsg recvmsg recvfrom \
          writev readv futex; do
  [ -d "/sys/kernel/tracing/events/syscalls/sys_enter_$sc" ] ||
    [ -d "/sys/kernel/debug/tracing/events/syscalls/sys_enter_$sc" ] &&
    events+=",syscalls:sys_enter_$sc"
done

node_conf() {   # NODE_DIR
  cat > "$1/phoenix.conf" <<CONF
prefix = "$1";
log = { level = "warn"; file = "$1/phoenixd.log"; };
runtime = { threads = 1; mode = "shared"; spin_us = 50; };
control = { admin_group = ""; socket_mode = 0666; max_apps = 64; };
settings = { ucx = { tls = "tcp"; net_devices = "lo"; auth = "none"; }; };
plugin_trusted_dirs = "$bin";
plugins = (
  { name = "mrpc"; path = "$bin/mrpc/engine/libphoenix_mrpc.so"; },
  { name = "ucx";  path = "$bin/transports/ucx/libphoenix_ucx.so"; }
);
CONF
}

pids=()
stop() {
  [ -n "${1:-}" ] || return 0
  kill -TERM "$1" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}
cleanup() {
  exec 3>&- 2>/dev/null || true
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do stop "${pids[i]}"; done
}
trap cleanup EXIT

start_node() {  # NAME CPU -> pid in $node_pid
  mkdir -p "$out/$1"; rm -f "$out/$1/control.sock"
  node_conf "$out/$1"
  taskset -c "$2" "$bin/core/phoenixd/phoenixd" -c "$out/$1/phoenix.conf" --foreground &
  node_pid=$!; pids+=("$node_pid")
  for _ in $(seq 100); do [ -S "$out/$1/control.sock" ] && return 0; sleep 0.05; done
  echo "phoenixd $1 did not start" >&2; exit 1
}

# Voluntary and involuntary context switches of all threads of PID.
switches() {
  cat /proc/"$1"/task/*/status 2>/dev/null |
    awk '/^voluntary_ctxt/ {v += $2} /^nonvoluntary_ctxt/ {n += $2} END {print v + 0, n + 0}'
}

start_node a 0; pa=$node_pid
start_node b 1; pb=$node_pid
PHOENIX_PREFIX=$out/b taskset -c 1 "$bin/benchmarks/rpc_bench/rpc_bench" --server -p "$port" \
  >/dev/null & ps=$!; pids+=("$ps")
sleep 1
rm -f "$out/in"; mkfifo "$out/in"
warm=200
PHOENIX_PREFIX=$out/a taskset -c 0 "$bin/benchmarks/rpc_bench/rpc_bench" -c "127.0.0.1:$port" \
  -s "$size" --reply-size "${REPLY_SIZE:-$size}" --concurrency "$conc" -n 10000000 -w "$warm" -D "$secs" -j \
  --hold --cpu-pid "$pa" --cpu-pid "$pb" --cpu-pid "$ps" <"$out/in" >"$out/client.out" &
pc=$!; pids+=("$pc")
exec 3>"$out/in"
for _ in $(seq 200); do grep -q ready "$out/client.out" 2>/dev/null && break; sleep 0.1; done
grep -q ready "$out/client.out" || { echo "client did not connect" >&2; exit 1; }

# The UCX engine's counters of APP's engine on NODE (worker polls, messages, batches).
ucx_stats() {   # NODE APP_PID OUT
  local ctl=$bin/tools/phoenixctl/phoenixctl
  local id
  id=$("$ctl" list --json --prefix "$out/$1" | python3 -c '
import json, sys
for s in json.load(sys.stdin)["subscriptions"]:
    if s["pid"] == int(sys.argv[1]):
        print([e["id"] for e in s["engines"] if e["type"] == "UcxRpcAdapterEngine"][0])' "$2")
  "$ctl" engine "$id" stats --json --prefix "$out/$1" > "$3"
}

names=(client_app client_phoenixd server_phoenixd server_app)
procs=("$pc" "$pa" "$pb" "$ps")
ucx_stats a "$pc" "$out/ucx0.a"; ucx_stats b "$ps" "$out/ucx0.b"
perfs=()
for i in 0 1 2 3; do
  switches "${procs[i]}" > "$out/sw0.$i"
  perf stat -x, -e "$events" -p "${procs[i]}" -o "$out/perf.$i" & perfs+=($!)
done
sleep 1         # perf attached (slower on a loaded machine)
echo go >&3
for _ in $(seq $((secs * 30 + 300))); do grep -q done "$out/client.out" 2>/dev/null && break; sleep 0.1; done
for i in 0 1 2 3; do switches "${procs[i]}" > "$out/sw1.$i"; done
ucx_stats a "$pc" "$out/ucx1.a"; ucx_stats b "$ps" "$out/ucx1.b"
for p in "${perfs[@]}"; do kill -INT "$p" 2>/dev/null || true; done
for p in "${perfs[@]}"; do wait "$p" 2>/dev/null || true; done
echo go >&3; exec 3>&-

json=$(grep '^{"type":"result"' "$out/client.out" | head -1)
[ -n "$json" ] || { echo "no result from rpc_bench" >&2; cat "$out/client.out" >&2; exit 1; }
echo "$json" > "$out/result.json"
python3 - "$out" "$warm" "$pc" "$pa" "$pb" "$ps" <<'PY'
import json, sys
out, warm, pids = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
names = ["client_app", "client_phoenixd", "server_phoenixd", "server_app"]
r = json.load(open(f"{out}/result.json"))
calls = warm + r["iters"]
cpu = [r["cpu_us_per_call_self"]] + [r["cpu_us_per_call_pids"][p] for p in pids[1:]]
print(f"# {r['size']} B x {r['concurrency']}: {r['rpc_per_s']:.0f} calls/s, p50 "
      f"{r['rtt_p50_us']:.1f} us, {calls} calls counted, CPU {r['cpu_us_per_call']:.1f} us/call")
print("process          cpu_us  syscalls  sleeps  invol_cs  " +
      "  ".join(["epoll", "yield", "read", "write", "poll", "sendmsg", "recv", "futex"]))
for i, name in enumerate(names):
    ev = {}
    for line in open(f"{out}/perf.{i}"):
        f = line.strip().split(",")
        if len(f) > 2 and f[0].replace(".", "").isdigit():
            ev[f[2].split(":")[-1].replace("sys_enter_", "")] = float(f[0])
    v0, n0 = map(int, open(f"{out}/sw0.{i}").read().split())
    v1, n1 = map(int, open(f"{out}/sw1.{i}").read().split())
    per = lambda k: ev.get(k, 0.0) / calls
    cols = [per("epoll_wait") + per("epoll_pwait"), per("sched_yield"), per("read"),
            per("write"), per("poll") + per("ppoll"), per("sendmsg"),
            per("recvmsg") + per("recvfrom"), per("futex")]
    print(f"{name:16} {cpu[i]:6.1f}  {per('sys_enter'):8.2f}  {(v1 - v0) / calls:6.2f}  "
          f"{(n1 - n0) / calls:9.2f}  " + "  ".join(f"{c:5.2f}" for c in cols))
for node in "ab":
    u0, u1 = (json.load(open(f"{out}/ucx{k}.{node}")) for k in "01")
    d = lambda k: (u1.get(k, 0) - u0.get(k, 0)) / calls
    ams = d('tx_msgs') - d('tx_batched') + d('tx_batches')
    print(f"ucx engine {node}: per call {d('wp_calls'):.2f} ucp_worker_progress, "
          f"{ams:.3f} active messages sent ({d('tx_batched'):.2f} of the messages in batches)")
PY
