/*
 * mpib_latency - point-to-point latency between ranks 0 and 1: a blocking ping-pong of SIZE
 * bytes (MPI_Send / MPI_Recv), one-way latency = half the mean round trip, in microseconds.
 * Other ranks (if any) only wait at the barriers.
 *   mrpc-run -n 2 mpib_latency [-s MIN:MAX] [-i ITERS] [-x WARMUP] [-M]
 */
#include "mpib.h"

static double pingpong(char *sbuf, char *rbuf, size_t size, int iters, int warmup)
{
    double t0 = 0;
    int peer = 1 - mpib_rank;
    MPIB_CHECK(MPI_Barrier(MPI_COMM_WORLD));
    for (int i = 0; i < iters + warmup; i++) {
        if (i == warmup)
            t0 = MPI_Wtime();
        if (mpib_rank == 0) {
            MPIB_CHECK(MPI_Send(sbuf, (int)size, MPI_CHAR, peer, 1, MPI_COMM_WORLD));
            MPIB_CHECK(MPI_Recv(rbuf, (int)size, MPI_CHAR, peer, 1, MPI_COMM_WORLD,
                                MPI_STATUS_IGNORE));
        } else if (mpib_rank == 1) {
            MPIB_CHECK(MPI_Recv(rbuf, (int)size, MPI_CHAR, peer, 1, MPI_COMM_WORLD,
                                MPI_STATUS_IGNORE));
            MPIB_CHECK(MPI_Send(sbuf, (int)size, MPI_CHAR, peer, 1, MPI_COMM_WORLD));
        }
    }
    return (MPI_Wtime() - t0) * 1e6 / (2.0 * iters);
}

int main(int argc, char **argv)
{
    struct mpib_opts o = mpib_init(&argc, &argv, "", 0, 1 << 22, 10000, "");
    mpib_need_ranks(2, 0);
    char *sbuf = mpib_alloc(&o, o.max_size), *rbuf = mpib_alloc(&o, o.max_size);
    mpib_header("latency: ping-pong between ranks 0 and 1", &o, "Latency (us)");
    for (int k = 0; k < o.nsizes; k++) {
        size_t size = o.sizes[k];
        int iters, warmup;
        mpib_counts(&o, size, &iters, &warmup);
        double lat = pingpong(sbuf, rbuf, size, iters, warmup);
        mpib_row(size, 1, &lat);
    }
    mpib_free(&o, sbuf);
    mpib_free(&o, rbuf);
    return mpib_finish("mpib_latency");
}
