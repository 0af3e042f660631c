#!/usr/bin/env bash
# regen-expected.sh - rebuilds the correctness programs with Open MPI's mpicc (reduce_dt with
# MPICH's, see below) and stores what they print on 1..8 ranks as expected/PROGRAM.N.out, the
# results our library's runs must reproduce (tests/programs/run.sh compares). Run it after
# changing a program, and commit the outputs with the change. Needs Open MPI (Debian:
# openmpi-bin, libopenmpi-dev) and MPICH (mpich); runs over loopback/shared memory only.
#
#   regen-expected.sh [PROGRAM...]      (default: every *.c here)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d /tmp/mpi-expected.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
progs=("$@")
[ ${#progs[@]} -gt 0 ] || progs=($(cd "$here" && ls *.c | sed 's/\.c$//'))
mkdir -p "$here/expected"
# reduce_dt's reference is MPICH (Debian: mpich): Open MPI 4.1.4's ring allreduce writes past
# its scratch buffer when the datatype's lower bound is not 0, and the program's large case
# aborts there with a corrupted heap.
for p in "${progs[@]}"; do
  cc=(mpicc) run=(mpirun --allow-run-as-root --oversubscribe --mca btl self,vader) impl="Open MPI"
  [ "$p" != reduce_dt ] || { cc=(mpicc.mpich); run=(mpirun.mpich); impl=MPICH; }
  "${cc[@]}" -O2 -Wall -Wextra -o "$tmp/$p" "$here/$p.c" -lm
  for n in 1 2 3 4 5 6 7 8; do
    timeout 300 "${run[@]}" -n "$n" \
      "$tmp/$p" > "$tmp/out" || { echo "$p on $n ranks failed under $impl" >&2; exit 1; }
    mv "$tmp/out" "$here/expected/$p.$n.out"
    echo "$p.$n.out: $(wc -l < "$here/expected/$p.$n.out") lines"
  done
done
