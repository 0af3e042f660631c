/*
 * mpib_mbw_mr - aggregate bandwidth and message rate of many pairs: rank r of the first half
 * sends windows (-W, default 64) of MPI_Isend to rank r + n/2, which posts the window's
 * MPI_Irecv and acknowledges each window with 4 bytes; all pairs at once. Figures summed over
 * the pairs (MPI_Reduce): MB/s (10^6 B/s) and messages per second. An even number of ranks.
 *   mrpc-run -n 4 mpib_mbw_mr [-W WINDOW] [-s MIN:MAX] [-i ITERS] [-x WARMUP] [-M]
 */
#include "mpib.h"

static void window_once(char *buf, size_t size, int window, MPI_Request *reqs)
{
    int half = mpib_size / 2, first = mpib_rank < half, ack = 0;
    int peer = first ? mpib_rank + half : mpib_rank - half;
    for (int w = 0; w < window; w++) {
        if (first)
            MPIB_CHECK(MPI_Isend(buf, (int)size, MPI_CHAR, peer, 20, MPI_COMM_WORLD, &reqs[w]));
        else
            MPIB_CHECK(MPI_Irecv(buf, (int)size, MPI_CHAR, peer, 20, MPI_COMM_WORLD, &reqs[w]));
    }
    MPIB_CHECK(MPI_Waitall(window, reqs, MPI_STATUSES_IGNORE));
    if (first)
        MPIB_CHECK(MPI_Recv(&ack, 1, MPI_INT, peer, 21, MPI_COMM_WORLD, MPI_STATUS_IGNORE));
    else
        MPIB_CHECK(MPI_Send(&ack, 1, MPI_INT, peer, 21, MPI_COMM_WORLD));
}

/* figures[0] = MB/s, figures[1] = messages/s, both summed over the pairs (valid on rank 0). */
static void rate(char *buf, size_t size, int iters, int warmup, const struct mpib_opts *o,
                 MPI_Request *reqs, double figures[2])
{
    double t0 = 0, mine[2] = { 0, 0 };
    MPIB_CHECK(MPI_Barrier(MPI_COMM_WORLD));
    for (int i = 0; i < iters + warmup; i++) {
        if (i == warmup)
            t0 = MPI_Wtime();
        window_once(buf, size, o->window, reqs);
    }
    if (mpib_rank < mpib_size / 2) {
        double msgs = (double)o->window * iters, elapsed = MPI_Wtime() - t0;
        mine[0] = msgs * (double)size / elapsed / 1e6;
        mine[1] = msgs / elapsed;
    }
    MPIB_CHECK(MPI_Reduce(mine, figures, 2, MPI_DOUBLE, MPI_SUM, 0, MPI_COMM_WORLD));
}

struct bufs {
    char *buf;
    MPI_Request *reqs;
    const struct mpib_opts *o;
};

static void measure(void *ctx, size_t size, int iters, int warmup, double *figures)
{
    const struct bufs *b = ctx;
    rate(b->buf, size, iters, warmup, b->o, b->reqs, figures);
}

int main(int argc, char **argv)
{
    struct mpib_opts o = mpib_init(&argc, &argv, "W:", 1, 1 << 22, 100, " [-W WINDOW]");
    mpib_need_ranks(2, 1);
    char *buf = mpib_alloc(&o, o.max_size);
    MPI_Request *reqs = calloc((size_t)o.window, sizeof *reqs);
    if (!reqs)
        mpib_fail("calloc", MPI_SUCCESS);
    mpib_header("multiple bandwidth / message rate: windows from rank r to r + n/2, all pairs",
                &o, "MB/s           Messages/s");
    struct bufs b = { buf, reqs, &o };
    mpib_sweep_rows(&o, 2, measure, &b);
    free(reqs);
    mpib_free(&o, buf);
    return mpib_finish("mpib_mbw_mr");
}
