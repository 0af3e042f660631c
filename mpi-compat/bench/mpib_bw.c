/*
 * mpib_bw - point-to-point bandwidth between ranks 0 and 1: rank 0 posts a window of MPI_Isend
 * (-W, default 64) of SIZE bytes, rank 1 a window of MPI_Irecv into one buffer; both
 * MPI_Waitall, then rank 1 answers with a 4-byte ack. MB/s = 10^6 bytes per second. With -B
 * (bi-directional) both ranks send and receive a window at once and the figure counts both
 * directions.
 *   mrpc-run -n 2 mpib_bw [-B] [-W WINDOW] [-s MIN:MAX] [-i ITERS] [-x WARMUP] [-M]
 */
#include "mpib.h"

struct bufs {
    char *s, *r;
    MPI_Request *reqs;
    const struct mpib_opts *o;
};

static void one_window(const struct bufs *b, size_t size, int window, int bidir)
{
    int peer = 1 - mpib_rank, n = 0, ack = 0;
    if (mpib_rank == 1 || bidir)
        for (int w = 0; w < window; w++)
            MPIB_CHECK(MPI_Irecv(b->r, (int)size, MPI_CHAR, peer, 10, MPI_COMM_WORLD,
                                 &b->reqs[n++]));
    if (mpib_rank == 0 || bidir)
        for (int w = 0; w < window; w++)
            MPIB_CHECK(MPI_Isend(b->s, (int)size, MPI_CHAR, peer, 10, MPI_COMM_WORLD,
                                 &b->reqs[n++]));
    MPIB_CHECK(MPI_Waitall(n, b->reqs, MPI_STATUSES_IGNORE));
    if (mpib_rank == 1)
        MPIB_CHECK(MPI_Send(&ack, 1, MPI_INT, peer, 11, MPI_COMM_WORLD));
    else
        MPIB_CHECK(MPI_Recv(&ack, 1, MPI_INT, peer, 11, MPI_COMM_WORLD, MPI_STATUS_IGNORE));
}

static double bandwidth(const struct bufs *b, size_t size, int iters, int warmup,
                        const struct mpib_opts *o)
{
    double t0 = 0;
    MPIB_CHECK(MPI_Barrier(MPI_COMM_WORLD));
    for (int i = 0; i < iters + warmup; i++) {
        if (i == warmup)
            t0 = MPI_Wtime();
        if (mpib_rank < 2)
            one_window(b, size, o->window, o->bidir);
    }
    double bytes = (double)size * o->window * iters * (o->bidir ? 2 : 1);
    return bytes / (MPI_Wtime() - t0) / 1e6;
}

static void measure(void *ctx, size_t size, int iters, int warmup, double *figures)
{
    const struct bufs *b = ctx;
    figures[0] = bandwidth(b, size, iters, warmup, b->o);
}

int main(int argc, char **argv)
{
    struct mpib_opts o = mpib_init(&argc, &argv, "W:B", 1, 1 << 22, 100,
                                   " [-W WINDOW] [-B]");
    mpib_need_ranks(2, 0);
    struct bufs b = { mpib_alloc(&o, o.max_size), mpib_alloc(&o, o.max_size),
                      calloc(2 * (size_t)o.window, sizeof(MPI_Request)), &o };
    if (!b.reqs)
        mpib_fail("calloc", MPI_SUCCESS);
    mpib_header(o.bidir ? "bi-directional bandwidth: windows both ways between ranks 0 and 1"
                        : "bandwidth: windows of MPI_Isend from rank 0 to rank 1, then an ack",
                &o, "Bandwidth (MB/s)");
    mpib_sweep_rows(&o, 1, measure, &b);
    free(b.reqs);
    mpib_free(&o, b.s);
    mpib_free(&o, b.r);
    return mpib_finish(o.bidir ? "mpib_bw -B" : "mpib_bw");
}
