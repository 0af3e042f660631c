#!/usr/bin/env bash
# test_mpicc.sh - mrpc-mpicc as users meet it: its -show/-compile-info/-link-info lines, a
# program built with it (unchanged MPI source) that runs as a job under mrpc-run, and a program
# using a function outside the subset failing to build with that function's name.
#   test_mpicc.sh MRPC_MPICC RUN_MPI_SH MRPC_RUN PHOENIXD MRPC_PLUGIN UCX_PLUGIN
set -euo pipefail
mpicc=$1 run_mpi=$2; shift 2
dir=$(mktemp -d /tmp/phx-mpicc.XXXXXX)
trap 'rm -rf "$dir"' EXIT
fail() { echo "FAILED: $*"; exit 1; }

show=$("$mpicc" -show -O2 -o "$dir/x" x.c)
case $show in
  *" -I"*"-O2"*"x.c"*"-lmrpc_mpi"*) echo "ok: -show: $show" ;;
  *) fail "-show printed '$show'" ;;
esac
[ "$("$mpicc" -show -c x.c | grep -c lmrpc_mpi)" -eq 0 ] || fail "-c -show still links"
"$mpicc" -compile-info | grep -q -- "-I.*" || fail "-compile-info: $("$mpicc" -compile-info)"
"$mpicc" -link-info | grep -q -- "-lmrpc_mpi" || fail "-link-info: $("$mpicc" -link-info)"
echo "ok: -compile-info: $("$mpicc" -compile-info); -link-info: $("$mpicc" -link-info)"

# An MPI program as written for Open MPI or MPICH.
cat > "$dir/hello.c" <<'C'
#include <mpi.h>
#include <stdio.h>
int main(int argc, char **argv)
{
    int rank, size, len, sum = 0, token;
    char name[MPI_MAX_PROCESSOR_NAME];
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    MPI_Get_processor_name(name, &len);
    token = rank;
    if (rank == 0) {
        MPI_Send(&token, 1, MPI_INT, 1 % size, 0, MPI_COMM_WORLD);
        MPI_Recv(&sum, 1, MPI_INT, size - 1, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        printf(sum == size * (size - 1) / 2 ? "ok: rank 0: hello ring of %d on %s\n"
                                            : "FAILED: ring of %d on %s\n", size, name);
    } else {
        MPI_Recv(&sum, 1, MPI_INT, rank - 1, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        sum += rank;
        MPI_Send(&sum, 1, MPI_INT, (rank + 1) % size, 0, MPI_COMM_WORLD);
        printf("ok: rank %d: passed the token on\n", rank);
    }
    MPI_Finalize();
    return 0;
}
C
"$mpicc" -Wall -Wextra -Werror -o "$dir/hello" "$dir/hello.c" || fail "mrpc-mpicc could not build hello.c"
echo "ok: built hello.c with mrpc-mpicc"
"$run_mpi" "$@" 3 "$dir/hello" || fail "hello did not run as a job of 3 ranks"

# Outside the subset: no silent stub; the build fails and names the function.
cat > "$dir/win.c" <<'C'
#include <mpi.h>
int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    MPI_Win_fence(0, 0);
    return MPI_Finalize();
}
C
if "$mpicc" -o "$dir/win" "$dir/win.c" >"$dir/win.out" 2>&1; then fail "a program calling MPI_Win_fence was built"; fi
grep -q "MPI_Win_fence" "$dir/win.out" || fail "the failed build does not name MPI_Win_fence: $(cat "$dir/win.out")"
echo "ok: MPI_Win_fence (outside the subset) fails the build: $(grep -m1 MPI_Win_fence "$dir/win.out")"
# The same at link time: a program that declares the function itself compiles, and the link
# fails naming it (no stub in libmrpc_mpi resolves it).
cat > "$dir/win2.c" <<'C'
#include <mpi.h>
int MPI_Win_fence(int assert, void *win);
int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    MPI_Win_fence(0, 0);
    return MPI_Finalize();
}
C
"$mpicc" -c -o "$dir/win2.o" "$dir/win2.c" || fail "win2.c (declaring MPI_Win_fence itself) did not compile"
if "$mpicc" -o "$dir/win2" "$dir/win2.o" >"$dir/win2.out" 2>&1; then fail "a program calling MPI_Win_fence was linked"; fi
grep -q "undefined reference to .MPI_Win_fence" "$dir/win2.out" ||
  fail "the failed link does not name MPI_Win_fence: $(cat "$dir/win2.out")"
echo "ok: MPI_Win_fence fails the link: $(grep -m1 MPI_Win_fence "$dir/win2.out")"
echo "PASSED: mrpc-mpicc"
