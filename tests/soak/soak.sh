#!/usr/bin/env bash
# soak.sh - the soak test: traffic through two services for a given time while everything that
# can change under an app changes, with every call accounted for and the services' memory and
# file descriptors sampled.
#
#   soak.sh --build DIR [--duration SECONDS] [--out DIR] [--rate N] [--keep]
#
# Two phoenixd on this host, on loopback only (UCX pinned to lo and tcp): service A, which lives
# the whole run, and service B, its peer. A soak_app caller on A calls a soak_app server on B
# (tests/soak/soak_app.h). Once a second (a "tick") the script samples the RSS and the fd count
# of both services and does the next churn actions, each on its own period:
#   every tick    attach the next policy type to an app, or detach the one attached last: the
#                 types are the ones `policyctl list --json` says the service loaded (every
#                 policy plugin of the build is in both configurations), so a new policy is
#                 cycled without changing this script; the app is the caller on A or the
#                 server on B, in turn; settings some types need are in policy_settings.conf;
#   every 3 s     upgrade the next plugin `phoenixctl plugins --json` lists (policies, mrpc,
#                 ucx) to a fresh copy of its file, on both services;
#   every 17 s    kill -9 the caller and start a new one (its ledger survives the kill);
#   every 23 s    kill -9 the server and start it again;
#   every 41 s    restart service B (SIGTERM, start again; the server, which exits when its
#                 service goes away, is started again).
# At the end the caller is stopped with SIGTERM: it waits for its outstanding calls and prints
# its ledger. summarize.py adds up every caller's ledger and the samples and prints one JSON
# summary: calls issued, outcomes by status, lost (issued, no outcome by the caller's
# deadline), duplicated, mismatched, abandoned (in flight in a caller killed with -9), churn
# counts, and RSS/fd drift of both services (A: the median of the first quarter after warm-up
# against the last quarter's; B restarts, so each of its lives is summed up by its late
# samples and the first quarter of lives is compared with the last). Exits 1 when a call was
# lost, duplicated or answered with another call's reply, or a drift is above 5 %; 2 on bad
# usage or a setup failure.
#
# Every loop is bounded by the duration; every process is stopped by its PID; the directory is
# removed unless --out or --keep was given or the run failed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

usage() { grep -m1 '^#   soak.sh --build' "$0" | sed 's/^# *//'; }
duration=120 out="" build="" rate=2000 keep=0
while [ $# -gt 0 ]; do
  case "$1" in
    --build) build=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --out) out=$2; keep=1; shift 2 ;;
    --rate) rate=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "soak.sh: unknown option '$1'" >&2; usage >&2; exit 2 ;;
  esac
done
[[ "$duration" =~ ^[0-9]+$ ]] && [ "$duration" -ge 30 ] && [ "$duration" -le 86400 ] ||
  { echo "soak.sh: --duration must be 30..86400 seconds (got '$duration')" >&2; exit 2; }
[ -n "$build" ] || { echo "soak.sh: --build DIR (the cmake build directory) is required" >&2; exit 2; }
build=$(cd "$build" && pwd)
phoenixd=$build/core/phoenixd/phoenixd
phoenixctl=$build/tools/phoenixctl/phoenixctl
policyctl=$build/tools/policyctl/policyctl
app=$build/tests/soak/soak_app
for f in "$phoenixd" "$phoenixctl" "$policyctl" "$app"; do
  [ -x "$f" ] || { echo "soak.sh: $f is missing: build first" >&2; exit 2; }
done

if [ -z "$out" ]; then out=$(mktemp -d /tmp/phx-soak.XXXXXX); else mkdir -p "$out"; out=$(cd "$out" && pwd); fi
mkdir -p "$out/a" "$out/b" "$out/ledgers" "$out/plugins"
chmod 0755 "$out"   # munged wants every directory above its socket searchable
export UCX_NET_DEVICES=lo UCX_TLS=tcp
. "$here/../lib/ports.sh"
port=$(free_tcp_port) || exit 2
addr=127.0.0.1:$port

# ---- processes ---------------------------------------------------------------------------------

pid_a="" pid_b="" pid_server="" pid_caller="" life_b=0 caller_n=0
stop() {        # PID: TERM, up to 5 s, then KILL; waits for it
  [ -n "$1" ] || return 0
  kill -TERM "$1" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}
kill9() { [ -n "$1" ] || return 0; kill -KILL "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }
cleanup() {     # a failed run keeps its files, to be read
  local rc=$?
  stop "$pid_caller"; stop "$pid_server"; stop "$pid_a"; stop "$pid_b"
  "$here/../lib/munged.sh" stop "$out/munge" || true
  if [ "$keep" = 1 ] || [ "$rc" != 0 ]; then echo "soak.sh: the run's files are in $out"
  else rm -rf "$out"; fi
}
trap cleanup EXIT
die() { echo "soak.sh: $*" >&2; for f in "$out"/*/phoenixd.log; do [ -f "$f" ] && tail -5 "$f" >&2; done; exit 2; }

write_conf() {  # NODE: every policy plugin of the build (policies/NAME/libphoenix_NAME.so)
  local node=$1 plugins="" dir so name
  for dir in "$build"/policies/*/; do
    dir=${dir%/} name=$(basename "$dir") so=$dir/libphoenix_$(basename "$dir").so
    [ -f "$so" ] || continue
    plugins+=$(printf ',\n  { name = "%s"; path = "%s"; }' "$name" "$so")
  done
  cat > "$out/$node/phoenix.conf" <<CONF
# written by tests/soak/soak.sh
prefix = "$out/$node";
log = { level = "info"; file = "$out/$node/phoenixd.log"; };
runtime = { threads = 1; mode = "shared"; spin_us = 0; };
metrics = { listen = "off"; };
plugin_trusted_dirs = "$build";   # this build's plugins, wherever the tree was cloned (/tmp too)
settings = { ucx = { tls = "tcp"; net_devices = "lo"; munge_socket = "$munge_socket"; }; };
plugins = (
  { name = "mrpc"; path = "$build/mrpc/engine/libphoenix_mrpc.so"; },
  { name = "ucx"; path = "$build/transports/ucx/libphoenix_ucx.so"; }$plugins
);
CONF
}

start_service() {   # NODE; sets pid_NODE
  local node=$1
  rm -f "$out/$node/control.sock"
  "$phoenixd" -c "$out/$node/phoenix.conf" --foreground >>"$out/$node/phoenixd.out" 2>&1 &
  printf -v "pid_$node" %s $!
  for _ in $(seq 200); do [ -S "$out/$node/control.sock" ] && return 0; sleep 0.05; done
  die "phoenixd $node did not start"
}

start_server() {
  PHOENIX_PREFIX=$out/b "$app" --serve "0.0.0.0:$port" >>"$out/server.out" 2>&1 &
  pid_server=$!
  for _ in $(seq 100); do
    [ "$(grep -c 'serving on' "$out/server.out" 2>/dev/null)" -gt "$servers_started" ] && break
    kill -0 "$pid_server" 2>/dev/null || break
    sleep 0.05
  done
  servers_started=$((servers_started + 1))
}

start_caller() {
  caller_n=$((caller_n + 1))
  PHOENIX_PREFIX=$out/a "$app" --call "$addr" --ledger "$out/ledgers/$caller_n.ledger" \
    --rate "$rate" --window 8 --timeout-ms 3000 >"$out/ledgers/$caller_n.json" \
    2>"$out/ledgers/$caller_n.err" &
  pid_caller=$!
}

# ---- churn -------------------------------------------------------------------------------------

count() { echo "$1" >> "$out/churn.log"; }
ctl() { PHOENIX_PREFIX=$out/$1 "${@:2}" >>"$out/ctl.log" 2>&1; }

types=() attached_type="" attached_node="" attached_pid="" type_i=0 round=0
declare -A settings=()
while read -r key value; do        # TYPE ARGS... lines; # comments
  [[ -z "$key" || "$key" == \#* ]] || settings[$key]=${value//@OUT@/$out}
done < "$here/policy_settings.conf"
policy_step() {
  if [ -n "$attached_type" ]; then
    if ctl "$attached_node" "$policyctl" detach "$attached_type" --pid "$attached_pid"; then
      count "detach $attached_type"
    else count "detach_refused $attached_type"; fi
    attached_type=""
    return
  fi
  [ ${#types[@]} -gt 0 ] || return 0
  local t=${types[$type_i]} node=a pid=$pid_caller
  if [ $(( (type_i + round) % 2 )) = 1 ]; then node=b pid=$pid_server; fi
  # shellcheck disable=SC2086 # the settings are words
  if ctl "$node" "$policyctl" attach "$t" --pid "$pid" ${settings[$t]:-}; then
    count "attach $t"; attached_type=$t attached_node=$node attached_pid=$pid
  else count "attach_refused $t"; fi
  type_i=$(( (type_i + 1) % ${#types[@]} ))
  if [ "$type_i" = 0 ]; then round=$((round + 1)); fi
}
forget_attached() {   # the app it was attached to is gone
  [ -n "$attached_type" ] && [ "$attached_pid" = "$1" ] && attached_type=""
  return 0
}

upgrade_i=0 upgrade_n=0 plugins=()
list_plugins() {    # the plugins service A loaded, as `phoenixctl plugins --json` names them
  mapfile -t plugins < <(PHOENIX_PREFIX=$out/a "$phoenixctl" plugins --json | python3 -c '
import json, sys
for p in json.load(sys.stdin)["plugins"]:
    if p.get("current"): print(p["name"])' | sort)
}
upgrade_step() {    # the next plugin, on both services
  local name node copy
  [ ${#plugins[@]} -gt 0 ] || return 0
  name=${plugins[$((upgrade_i % ${#plugins[@]}))]}
  upgrade_i=$((upgrade_i + 1))
  for node in a b; do
    upgrade_n=$((upgrade_n + 1))
    copy=$out/plugins/libphoenix_$name.soak$upgrade_n.so
    cp "$build/$(orig_path "$name")" "$copy"
    if ctl "$node" "$phoenixctl" upgrade --plugin "$copy"; then count "upgrade $name"
    else count "upgrade_refused $name"; fi
    rm -f "$copy"     # the service has it mapped; the file is not needed any more
  done
}
orig_path() {   # NAME: the plugin's file in the build, relative to it
  case "$1" in
    mrpc) echo mrpc/engine/libphoenix_mrpc.so ;;
    ucx) echo transports/ucx/libphoenix_ucx.so ;;
    *) echo "policies/$1/libphoenix_$1.so" ;;
  esac
}

restart_caller() { forget_attached "$pid_caller"; kill9 "$pid_caller"; count "kill9 caller"; start_caller; }
restart_server() { forget_attached "$pid_server"; kill9 "$pid_server"; count "kill9 server"; start_server; }
restart_b() {
  forget_attached "$pid_server"
  stop "$pid_b"; count "restart service_b"
  life_b=$((life_b + 1))
  wait "$pid_server" 2>/dev/null || true      # it exits once its service is gone
  start_service b
  start_server
}
revive_server() {   # the server exits when its service goes away, and may fail to bind
  kill -0 "$pid_server" 2>/dev/null && return 0
  wait "$pid_server" 2>/dev/null || true
  count "server_restarted"
  start_server
}

# ---- sampling ----------------------------------------------------------------------------------

sample() {      # SECONDS: a line per service, "t node life rss_kB fds" (builtins only: cheap)
  local t=$1 node pid life key value rss fds ok json
  for node in a b; do
    pid=$pid_a life=0; [ "$node" = b ] && { pid=$pid_b life=$life_b; }
    rss=""
    while read -r key value _; do
      [ "$key" = VmRSS: ] && { rss=$value; break; }
    done 2>/dev/null < "/proc/$pid/status" || continue
    fds=(/proc/"$pid"/fd/*)
    if [ -n "$rss" ]; then echo "$t $node $life $rss ${#fds[@]}" >> "$out/samples.txt"; fi
  done
  # The calls the current caller saw end OK so far: the summary finds stalls in them.
  json=$("$app" --read "$out/ledgers/$caller_n.ledger" 2>/dev/null) || json=""
  if [[ "$json" =~ \"OK\":\ ([0-9]+) ]]; then ok=${BASH_REMATCH[1]}; else ok=0; fi
  [ -z "$json" ] || echo "$t $caller_n $ok" >> "$out/progress.txt"
}

sleep_to_next_second() {
  local us=${EPOCHREALTIME#*.}
  us=${us#"${us%%[!0]*}"}
  sleep "$(printf '0.%03d' $(( (1000000 - ${us:-0}) / 1000 % 1000 )))"
}

# ---- the run -----------------------------------------------------------------------------------

servers_started=0
# The services authenticate each other as installed (MUNGE), in a realm of the soak's own.
munge_socket=$("$here/../lib/munged.sh" start "$out/munge") || die "no munged for the soak"
write_conf a; write_conf b
start_service a; start_service b
start_server
kill -0 "$pid_server" 2>/dev/null || die "the server did not start: $(tail -3 "$out/server.out")"
start_caller
mapfile -t types < <(PHOENIX_PREFIX=$out/a "$policyctl" list --json | python3 -c '
import json, sys
for t in json.load(sys.stdin)["types"]:
    if t.get("loaded"): print(t["type"])')
list_plugins
echo "soak.sh: ${duration} s in $out; policies cycled: ${types[*]:-none}; plugins upgraded:" \
     "${plugins[*]:-none}; caller -> $addr"

start=$EPOCHSECONDS
end=$((start + duration))
next_upgrade=3 next_caller=17 next_server=23 next_b=41 tick=0
: > "$out/churn.log"; : > "$out/samples.txt"; : > "$out/progress.txt"
while [ "$EPOCHSECONDS" -lt "$end" ] && [ "$tick" -lt $((duration * 2)) ]; do
  tick=$((tick + 1)) now=$((EPOCHSECONDS - start))
  kill -0 "$pid_a" 2>/dev/null || die "service A died (see $out/a/phoenixd.out)"
  sample "$now"
  revive_server
  kill -0 "$pid_caller" 2>/dev/null || { count "caller_died"; start_caller; }
  policy_step
  if [ "$now" -ge "$next_upgrade" ]; then upgrade_step; next_upgrade=$((now + 3)); fi
  if [ "$now" -ge "$next_caller" ]; then restart_caller; next_caller=$((now + 17)); fi
  if [ "$now" -ge "$next_server" ]; then restart_server; next_server=$((now + 23)); fi
  if [ "$now" -ge "$next_b" ]; then restart_b; next_b=$((now + 41)); fi
  sleep_to_next_second
done

# The last caller drains and prints its ledger; the others were killed: read what they left.
stop "$pid_caller"; pid_caller=""
for ((i = 1; i < caller_n; i++)); do "$app" --read "$out/ledgers/$i.ledger" > "$out/ledgers/$i.json"; done
sample $((EPOCHSECONDS - start))
rc=0
python3 "$here/summarize.py" --out "$out" --duration "$duration" > "$out/summary.json" || rc=$?
cat "$out/summary.json"
exit "$rc"
