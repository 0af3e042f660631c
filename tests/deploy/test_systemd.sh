#!/usr/bin/env bash
# test_systemd.sh - deploy/phoenixd.service and phoenixd's readiness notification:
#   1. the unit, configured with this build's phoenixd and deploy/phoenix.conf, passes
#      `systemd-analyze verify` (its man: references resolve to docs/man);
#   2. a corrupted copy (a misspelt section, a missing ExecStart binary) fails it: the check can
#      fail (an unknown directive is only a warning to it, so the unit's own run is also checked
#      for "Unknown" lines);
#   3. phoenixd --foreground under NOTIFY_SOCKET sends READY=1 only once control.sock accepts
#      connections, and STOPPING=1 on SIGTERM (what Type=notify relies on);
#   4. deploy/slurm's scripts parse (bash -n) and the epilog refuses a job id that is not digits.
#
#   test_systemd.sh SRC_DIR PHOENIXD MRPC_SO UCX_SO
set -euo pipefail
src=$1 phoenixd=$2 mrpc_so=$3 ucx_so=$4
dir=$(mktemp -d /tmp/phx-systemd.XXXXXX)
pid=""
cleanup() { [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null; rm -rf "$dir"; }
trap cleanup EXIT
fail() { echo "FAILED: $*"; exit 1; }
command -v systemd-analyze >/dev/null || { echo "SKIPPED: systemd-analyze is not installed"; exit 77; }

mkdir -p "$dir/man/man8" "$dir/man/man5"
ln -s "$src/docs/man/phoenixd.8" "$dir/man/man8/"
ln -s "$src/docs/man/phoenix.conf.5" "$dir/man/man5/"
sed -e "s|@PHOENIXD@|$phoenixd|g" -e "s|@PHOENIX_CONF@|$src/deploy/phoenix.conf|g" \
  "$src/deploy/phoenixd.service.in" > "$dir/phoenixd.service"
grep -q "@" "$dir/phoenixd.service" && fail "the unit has unreplaced @VARIABLES@"
MANPATH=$dir/man systemd-analyze verify "$dir/phoenixd.service" > "$dir/verify.out" 2>&1 ||
  fail "systemd-analyze verify: $(cat "$dir/verify.out")"
! grep -qi "unknown\|ignoring" "$dir/verify.out" || fail "systemd-analyze warned: $(cat "$dir/verify.out")"
echo "ok 1: systemd-analyze verify phoenixd.service"

mkdir -p "$dir/bad"
sed -e 's|^\[Service\]|[Servic]|' "$dir/phoenixd.service" > "$dir/bad/phoenixd.service"
! MANPATH=$dir/man systemd-analyze verify "$dir/bad/phoenixd.service" >/dev/null 2>&1 ||
  fail "verify accepted a unit without a [Service] section"
sed -e "s|$phoenixd|/nonexistent/phoenixd|g" "$dir/phoenixd.service" > "$dir/bad/phoenixd.service"
! MANPATH=$dir/man systemd-analyze verify "$dir/bad/phoenixd.service" >/dev/null 2>&1 ||
  fail "verify accepted a missing ExecStart binary"
echo "ok 2: verify rejects a misspelt section and a missing binary"

cat > "$dir/phoenix.conf" <<CONF
prefix = "$dir/p";
log = { file = "$dir/phoenixd.log"; };
plugins = ( { name = "mrpc"; path = "$mrpc_so"; }, { name = "ucx"; path = "$ucx_so"; } );
CONF
# A listener for sd_notify datagrams: for each, whether control.sock accepted a connection then.
python3 - "$dir/notify.sock" "$dir/p/control.sock" > "$dir/notify.out" <<'PY' &
import socket, sys, os
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1]); s.settimeout(20)
def serving():
    c = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try: c.connect(sys.argv[2]); return "serving"
    except OSError: return "not-serving"
    finally: c.close()
try:
    while True:
        msg = s.recv(4096).decode()
        for line in msg.split("\n"):
            print(line.split("=")[0] + "=" + line.split("=", 1)[1].split(" ")[0] if "=" in line else line, serving(), flush=True)
        if "STOPPING=1" in msg: break
except socket.timeout:
    print("timeout", flush=True)
PY
listener=$!
for _ in $(seq 50); do [ -S "$dir/notify.sock" ] && break; sleep 0.1; done
NOTIFY_SOCKET=$dir/notify.sock UCX_TLS=tcp UCX_NET_DEVICES=lo "$phoenixd" --foreground -c "$dir/phoenix.conf" & pid=$!
for _ in $(seq 100); do grep -q "^READY=1" "$dir/notify.out" && break; sleep 0.1; done
grep -q "^READY=1 serving$" "$dir/notify.out" || fail "no READY=1 while serving: $(cat "$dir/notify.out")"
grep -q "^MAINPID=$pid " "$dir/notify.out" || fail "MAINPID is not phoenixd's pid $pid: $(cat "$dir/notify.out")"
kill -TERM "$pid"; wait "$pid" || fail "phoenixd did not stop cleanly"; pid=""
wait "$listener" || true
grep -q "^STOPPING=1" "$dir/notify.out" || fail "no STOPPING=1: $(cat "$dir/notify.out")"
echo "ok 3: READY=1 once control.sock serves, MAINPID, STOPPING=1 on SIGTERM"

for s in common.sh prolog.sh epilog.sh; do bash -n "$src/deploy/slurm/$s" || fail "$s does not parse"; done
printf 'PHOENIX_PREFIX=%s\nMRPC_RUN_DIR=%s\nPHOENIX_SLURM_LOG=%s\n' "$dir/none" "$dir" "$dir/slurm.log" > "$dir/defaults"
mkdir -p "$dir/mrpc-run-0/job1-x"
PHOENIX_SLURM_DEFAULTS=$dir/defaults SLURM_JOB_ID='1-x/../..' SLURMD_NODENAME=x "$src/deploy/slurm/epilog.sh" ||
  fail "the epilog failed on a bad job id"
grep -q "no valid SLURM_JOB_ID" "$dir/slurm.log" || fail "the epilog did not refuse a bad job id"
[ -d "$dir/mrpc-run-0/job1-x" ] || fail "the epilog removed something for a bad job id"
PHOENIX_SLURM_DEFAULTS=$dir/defaults SLURM_JOB_ID=1 SLURMD_NODENAME=x "$src/deploy/slurm/epilog.sh"
[ ! -d "$dir/mrpc-run-0/job1-x" ] || fail "the epilog did not remove job 1's directory"
echo "ok 4: slurm scripts parse; the epilog refuses a bad job id and cleans a good one"
echo "PASSED: systemd unit and readiness"
