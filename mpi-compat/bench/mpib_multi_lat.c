/*
 * mpib_multi_lat - latency of many pairs at once: rank r of the first half ping-pongs with rank
 * r + n/2 (blocking MPI_Send / MPI_Recv), all pairs at the same time; the figure is the one-way
 * latency averaged over the pairs (MPI_Reduce), in microseconds. An even number of ranks.
 *   mrpc-run -n 4 mpib_multi_lat [-s MIN:MAX] [-i ITERS] [-x WARMUP] [-M]
 */
#include "mpib.h"

static double pair_latency(char *sbuf, char *rbuf, size_t size, int iters, int warmup)
{
    int half = mpib_size / 2, first = mpib_rank < half;
    int peer = first ? mpib_rank + half : mpib_rank - half;
    double t0 = 0;
    MPIB_CHECK(MPI_Barrier(MPI_COMM_WORLD));
    for (int i = 0; i < iters + warmup; i++) {
        if (i == warmup)
            t0 = MPI_Wtime();
        if (first) {
            MPIB_CHECK(MPI_Send(sbuf, (int)size, MPI_CHAR, peer, 2, MPI_COMM_WORLD));
            MPIB_CHECK(MPI_Recv(rbuf, (int)size, MPI_CHAR, peer, 2, MPI_COMM_WORLD,
                                MPI_STATUS_IGNORE));
        } else {
            MPIB_CHECK(MPI_Recv(rbuf, (int)size, MPI_CHAR, peer, 2, MPI_COMM_WORLD,
                                MPI_STATUS_IGNORE));
            MPIB_CHECK(MPI_Send(sbuf, (int)size, MPI_CHAR, peer, 2, MPI_COMM_WORLD));
        }
    }
    double mine = first ? (MPI_Wtime() - t0) * 1e6 / (2.0 * iters) : 0, sum = 0;
    MPIB_CHECK(MPI_Reduce(&mine, &sum, 1, MPI_DOUBLE, MPI_SUM, 0, MPI_COMM_WORLD));
    return sum / half;
}

int main(int argc, char **argv)
{
    struct mpib_opts o = mpib_init(&argc, &argv, "", 0, 1 << 20, 10000, "");
    mpib_need_ranks(2, 1);
    char *sbuf = mpib_alloc(&o, o.max_size), *rbuf = mpib_alloc(&o, o.max_size);
    mpib_header("multi-pair latency: rank r and r + n/2 ping-pong, all pairs at once", &o,
                "Latency (us)");
    for (int k = 0; k < o.nsizes; k++) {
        size_t size = o.sizes[k];
        int iters, warmup;
        mpib_counts(&o, size, &iters, &warmup);
        double lat = pair_latency(sbuf, rbuf, size, iters, warmup);
        mpib_row(size, 1, &lat);
    }
    mpib_free(&o, sbuf);
    mpib_free(&o, rbuf);
    return mpib_finish("mpib_multi_lat");
}
