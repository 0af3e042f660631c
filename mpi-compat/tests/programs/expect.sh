#!/usr/bin/env bash
# expect.sh - one rank of a correctness program under mrpc-run (started by ../run_mpi.sh):
# runs the program; on rank 0, which prints every rank's lines (common.h), compares what it
# printed with Open MPI's output of the same program on as many ranks (expected/PROG.N.out,
# made by regen-expected.sh) and says "ok: ..." or "FAILED: ..." with the first differences.
#
#   expect.sh EXPECTED PROGRAM [ARGS...]
set -uo pipefail
want=$1
shift
rc=0
out=$("$@") || rc=$?
if [ "${MRPC_RANK:-0}" != 0 ]; then
  [ -z "$out" ] || printf '%s\n' "$out"
  exit $rc
fi
[ "$rc" -eq 0 ] || { echo "FAILED: $(basename "$1") exited $rc on rank 0"; exit "$rc"; }
if d=$(diff "$want" <(printf '%s\n' "$out")); then
  echo "ok: $(basename "$1") on ${MRPC_SIZE:-1} ranks printed the $(wc -l < "$want") lines Open MPI's run did"
else
  echo "FAILED: $(basename "$1") on ${MRPC_SIZE:-1} ranks differs from Open MPI's output ($want):"
  printf '%s\n' "$d" | head -20
  exit 1
fi
