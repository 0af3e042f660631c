/* mpi_pingpong.c [ITERS] - one-way latency and bandwidth of an MPI ping-pong between ranks 0 and
 * 1, from 64 B to 16 MiB (ITERS round trips for the small sizes, default 1000; a twentieth of
 * that, at least 5, from 1 MiB), after a warm-up round. The last byte of each message is checked
 * at both ends. Prints one "ok:" line per size: the figures docs/mpi.md quotes come from
 *   mpi-compat/tests/run_mpi.sh MRPC_RUN PHOENIXD MRPC_SO UCX_SO 2 build/.../mpi_pingpong 2000 */
#include "mpi_check.h"

#include <stdlib.h>
#include <string.h>

static double round_trips(char *buf, int n, int iters, int rank)
{
    double t0 = MPI_Wtime();

    for (int i = 0; i < iters; i++) {
        if (rank == 0) {
            buf[n - 1] = (char)i;
            MPI_Send(buf, n, MPI_BYTE, 1, 0, MPI_COMM_WORLD);
            MPI_Recv(buf, n, MPI_BYTE, 1, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            CHECK(buf[n - 1] == (char)(i + 1), "round trip %d of %d bytes came back wrong", i, n);
        } else if (rank == 1) {
            MPI_Recv(buf, n, MPI_BYTE, 0, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            CHECK(buf[n - 1] == (char)i, "ping %d of %d bytes arrived wrong", i, n);
            buf[n - 1] = (char)(i + 1);
            MPI_Send(buf, n, MPI_BYTE, 0, 0, MPI_COMM_WORLD);
        }
    }
    return (MPI_Wtime() - t0) / iters / 2;
}

int main(int argc, char **argv)
{
    static const int sizes[] = { 64, 4096, 65536, 1 << 20, 16 << 20 };
    int rank, iters = argc > 1 ? atoi(argv[1]) : 1000;
    char *buf = malloc(16 << 20);

    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    memset(buf, 0, 16 << 20);
    for (unsigned k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        int n = sizes[k], it = n >= 1 << 20 ? (iters / 20 > 5 ? iters / 20 : 5) : iters;
        round_trips(buf, n, it / 10 + 1, rank);
        double t = round_trips(buf, n, it, rank);
        if (rank == 0)
            OK("%9d B: one-way %8.1f us, %8.1f MB/s (%d round trips)", n, t * 1e6, n / t / 1e6, it);
    }
    free(buf);
    MPI_Finalize();
    return check_exit();
}
