#!/usr/bin/env bash
# run_mpi.sh - runs an MPI program of the tests as a job under mrpc-run with a per-run Phoenix
# service (authenticated by a munged of the test's own, as installed; tests/lib/local_job.sh, the
# set-up tests/mrpc-run shares) and checks how it ended:
#   run_mpi.sh MRPC_RUN PHOENIXD MRPC_PLUGIN UCX_PLUGIN NP [--expect-fail RC PATTERN]
#              [--expect-oks N] [--reject PATTERN] PROGRAM [ARGS]
# Passes when the job exits 0 and no rank printed "FAILED:" (each program checks its own results
# and prints "ok: ..." lines), or, with --expect-fail, when it exits RC and its stderr matches
# PATTERN (a fatal MPI error must end the job with a sentence), and no rank printed "FAILED:";
# with --expect-oks, when moreover exactly N "ok: " lines were printed (one per surviving rank);
# with --reject, when no line of its output or stderr matches PATTERN.
# Bounded: 150 s.
set -euo pipefail
run=$1 phoenixd=$2 mrpc_so=$3 ucx_so=$4 np=$5; shift 5
want_rc=0 want_pat=""
if [ "${1:-}" = "--expect-fail" ]; then want_rc=$2 want_pat=$3; shift 3; fi
want_oks=""
if [ "${1:-}" = "--expect-oks" ]; then want_oks=$2; shift 2; fi
reject=""
if [ "${1:-}" = "--reject" ]; then reject=$2; shift 2; fi
. "$(dirname "$0")/../../tests/lib/local_job.sh"
local_job_start mpi "$phoenixd" "$mrpc_so" "$ucx_so"
rc=0 t0=$SECONDS
timeout 150 "$run" -n "$np" --tag-output "$@" >"$dir/out" 2>"$dir/err" || rc=$?
cat "$dir/out"
[ -s "$dir/err" ] && sed 's/^/stderr: /' "$dir/err"
[ "$rc" -eq "$want_rc" ] || fail "'$*' on $np ranks exited $rc, expected $want_rc"
! grep -q "FAILED:" "$dir/out" || fail "'$*' on $np ranks: a check failed"
if [ -n "$want_pat" ]; then
  grep -q -- "$want_pat" "$dir/out" "$dir/err" || fail "'$*' did not say '$want_pat'"
else
  grep -q "ok: " "$dir/out" || fail "'$*' on $np ranks checked nothing"
fi
[ -z "$reject" ] || ! grep -q -- "$reject" "$dir/out" "$dir/err" || fail "'$*' said '$reject'"
oks=$(grep -c "ok: " "$dir/out" || true)
[ -z "$want_oks" ] || [ "$oks" -eq "$want_oks" ] || fail "'$*' on $np ranks printed $oks ok: lines, expected $want_oks"
echo "PASSED: $* on $np ranks in $((SECONDS - t0)) s"
