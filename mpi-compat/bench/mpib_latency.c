/*
 * mpib_latency - point-to-point latency: rank r of the first half ping-pongs with rank r + n/2
 * (blocking MPI_Send / MPI_Recv of SIZE bytes), all pairs at the same time; the figure is the
 * one-way latency (half the mean round trip) averaged over the pairs (MPI_Reduce), in
 * microseconds. On 2 ranks: ranks 0 and 1; on more, multi-pair latency. An even number of ranks.
 *   mrpc-run -n 2 mpib_latency [-s MIN:MAX] [-i ITERS] [-x WARMUP] [-M]
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

static void measure(void *ctx, size_t size, int iters, int warmup, double *figures)
{
    char **bufs = ctx;
    figures[0] = pair_latency(bufs[0], bufs[1], size, iters, warmup);
}

int main(int argc, char **argv)
{
    struct mpib_opts o = mpib_init(&argc, &argv, "", 0, 1 << 22, 10000, "");
    mpib_need_ranks(2, 1);
    char *bufs[2] = { mpib_alloc(&o, o.max_size), mpib_alloc(&o, o.max_size) };
    mpib_header(mpib_size == 2 ? "latency: ping-pong between ranks 0 and 1"
                               : "multi-pair latency: rank r and r + n/2 ping-pong, all pairs at once",
                &o, "Latency (us)");
    mpib_sweep_rows(&o, 1, measure, bufs);
    mpib_free(&o, bufs[0]);
    mpib_free(&o, bufs[1]);
    return mpib_finish("mpib_latency");
}
