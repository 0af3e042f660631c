#!/usr/bin/env bash
# run_mpi.sh - runs an MPI program of the tests as a job under mrpc-run with a per-run Phoenix
# service (authenticated by a munged of the test's own, as installed), as tests/mrpc-run does, and
# checks how it ended:
#   run_mpi.sh MRPC_RUN PHOENIXD MRPC_PLUGIN UCX_PLUGIN NP [--expect-fail RC PATTERN] PROGRAM [ARGS]
# Passes when the job exits 0 and no rank printed "FAILED:" (each program checks its own results
# and prints "ok: ..." lines), or, with --expect-fail, when it exits RC and its stderr matches
# PATTERN (a fatal MPI error must end the job with a sentence), and no rank printed "FAILED:".
# Bounded: 150 s.
set -euo pipefail
run=$1 phoenixd=$2 mrpc_so=$3 ucx_so=$4 np=$5; shift 5
want_rc=0 want_pat=""
if [ "${1:-}" = "--expect-fail" ]; then want_rc=$2 want_pat=$3; shift 3; fi
dir=$(mktemp -d /tmp/phx-mpi.XXXXXX)
chmod 0755 "$dir"     # munged wants every directory above its socket searchable
munged_sh=$(dirname "$0")/../../tests/lib/munged.sh
export TMPDIR=$dir MRPC_RUN_PHOENIXD=$phoenixd MRPC_RUN_SERVICE_CONF=$dir/phoenix.conf
export UCX_TLS=tcp UCX_NET_DEVICES=lo PHOENIX_PREFIX=$dir/no-system-service
cleanup() {
  for p in $(pgrep -f "$dir/" || true); do kill -KILL "$p" 2>/dev/null || true; done
  "$munged_sh" stop "$dir/munge" || true
  rm -rf "$dir"
}
trap cleanup EXIT
fail() { echo "FAILED: $*"; find "$dir" -name phoenixd.log -exec tail -5 {} + 2>/dev/null || true; exit 1; }
munge_socket=$("$munged_sh" start "$dir/munge") || fail "no munged for the test"
cat > "$dir/phoenix.conf" <<CONF
log = { level = "warn"; };
settings = { ucx = { tls = "tcp"; net_devices = "lo"; munge_socket = "$munge_socket"; }; };
plugins = ( { name = "mrpc"; path = "$mrpc_so"; }, { name = "ucx"; path = "$ucx_so"; } );
CONF
rc=0 t0=$SECONDS
timeout 150 "$run" -n "$np" --tag-output "$@" >"$dir/out" 2>"$dir/err" || rc=$?
cat "$dir/out"
[ -s "$dir/err" ] && sed 's/^/stderr: /' "$dir/err"
[ "$rc" -eq "$want_rc" ] || fail "'$*' on $np ranks exited $rc, expected $want_rc"
! grep -q "FAILED:" "$dir/out" || fail "'$*' on $np ranks: a check failed"
if [ -n "$want_pat" ]; then
  cat "$dir/out" "$dir/err" | grep -q -- "$want_pat" || fail "'$*' did not say '$want_pat'"
else
  grep -q "ok: " "$dir/out" || fail "'$*' on $np ranks checked nothing"
fi
echo "PASSED: $* on $np ranks in $((SECONDS - t0)) s"
