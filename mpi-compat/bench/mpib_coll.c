/*
 * mpib_coll - latency of one collective (-c NAME) over all ranks, by message size: the mean
 * time per call on each rank, then the average, minimum and maximum over the ranks, in
 * microseconds. -N times the non-blocking form instead: the call is started and MPI_Test is
 * called until it completes (progress by testing, as an overlapping program does).
 * SIZE is the bytes each rank contributes per peer (MPI_CHAR), or for the reductions
 * (reduce, allreduce, reduce_scatter, scan: MPI_SUM of MPI_INT) the bytes of its vector; the
 * barrier has one row, size 0.
 *   mrpc-run -n 4 mpib_coll -c allreduce [-N] [-s MIN:MAX] [-i ITERS] [-x WARMUP] [-M]
 */
#include "mpib.h"

struct cbuf {
    void *s, *r;                  /* send: SIZE x ranks bytes, receive: the same */
    int *counts, *displs;         /* every rank COUNT elements, at COUNT x rank */
    MPI_Datatype type;
    int count;
    const struct coll *c;
    int nonblocking;
};

typedef int coll_fn(const struct cbuf *b, MPI_Request *req);   /* req NULL: blocking */

#define W MPI_COMM_WORLD
static int c_barrier(const struct cbuf *b, MPI_Request *q)
{
    (void)b;
    return q ? MPI_Ibarrier(W, q) : MPI_Barrier(W);
}
static int c_bcast(const struct cbuf *b, MPI_Request *q)
{
    return q ? MPI_Ibcast(b->s, b->count, b->type, 0, W, q) : MPI_Bcast(b->s, b->count, b->type, 0, W);
}
static int c_reduce(const struct cbuf *b, MPI_Request *q)
{
    return q ? MPI_Ireduce(b->s, b->r, b->count, b->type, MPI_SUM, 0, W, q)
             : MPI_Reduce(b->s, b->r, b->count, b->type, MPI_SUM, 0, W);
}
static int c_allreduce(const struct cbuf *b, MPI_Request *q)
{
    return q ? MPI_Iallreduce(b->s, b->r, b->count, b->type, MPI_SUM, W, q)
             : MPI_Allreduce(b->s, b->r, b->count, b->type, MPI_SUM, W);
}
static int c_gather(const struct cbuf *b, MPI_Request *q)
{
    return q ? MPI_Igather(b->s, b->count, b->type, b->r, b->count, b->type, 0, W, q)
             : MPI_Gather(b->s, b->count, b->type, b->r, b->count, b->type, 0, W);
}
static int c_gatherv(const struct cbuf *b, MPI_Request *q)
{
    return q ? MPI_Igatherv(b->s, b->count, b->type, b->r, b->counts, b->displs, b->type, 0, W, q)
             : MPI_Gatherv(b->s, b->count, b->type, b->r, b->counts, b->displs, b->type, 0, W);
}
static int c_scatter(const struct cbuf *b, MPI_Request *q)
{
    return q ? MPI_Iscatter(b->s, b->count, b->type, b->r, b->count, b->type, 0, W, q)
             : MPI_Scatter(b->s, b->count, b->type, b->r, b->count, b->type, 0, W);
}
static int c_scatterv(const struct cbuf *b, MPI_Request *q)
{
    return q ? MPI_Iscatterv(b->s, b->counts, b->displs, b->type, b->r, b->count, b->type, 0, W, q)
             : MPI_Scatterv(b->s, b->counts, b->displs, b->type, b->r, b->count, b->type, 0, W);
}
static int c_allgather(const struct cbuf *b, MPI_Request *q)
{
    return q ? MPI_Iallgather(b->s, b->count, b->type, b->r, b->count, b->type, W, q)
             : MPI_Allgather(b->s, b->count, b->type, b->r, b->count, b->type, W);
}
static int c_allgatherv(const struct cbuf *b, MPI_Request *q)
{
    return q ? MPI_Iallgatherv(b->s, b->count, b->type, b->r, b->counts, b->displs, b->type, W, q)
             : MPI_Allgatherv(b->s, b->count, b->type, b->r, b->counts, b->displs, b->type, W);
}
static int c_alltoall(const struct cbuf *b, MPI_Request *q)
{
    return q ? MPI_Ialltoall(b->s, b->count, b->type, b->r, b->count, b->type, W, q)
             : MPI_Alltoall(b->s, b->count, b->type, b->r, b->count, b->type, W);
}
static int c_alltoallv(const struct cbuf *b, MPI_Request *q)
{
    return q ? MPI_Ialltoallv(b->s, b->counts, b->displs, b->type, b->r, b->counts, b->displs,
                              b->type, W, q)
             : MPI_Alltoallv(b->s, b->counts, b->displs, b->type, b->r, b->counts, b->displs,
                             b->type, W);
}
static int c_reduce_scatter(const struct cbuf *b, MPI_Request *q)
{
    return q ? MPI_Ireduce_scatter(b->s, b->r, b->counts, b->type, MPI_SUM, W, q)
             : MPI_Reduce_scatter(b->s, b->r, b->counts, b->type, MPI_SUM, W);
}
static int c_scan(const struct cbuf *b, MPI_Request *q)
{
    return q ? MPI_Iscan(b->s, b->r, b->count, b->type, MPI_SUM, W, q)
             : MPI_Scan(b->s, b->r, b->count, b->type, MPI_SUM, W);
}
#undef W

static const struct coll {
    const char *name;
    coll_fn *fn;
    int reduction;                /* MPI_INT vectors and MPI_SUM; else MPI_CHAR */
} colls[] = {
    { "barrier", c_barrier, 0 },       { "bcast", c_bcast, 0 },
    { "reduce", c_reduce, 1 },         { "allreduce", c_allreduce, 1 },
    { "gather", c_gather, 0 },         { "gatherv", c_gatherv, 0 },
    { "scatter", c_scatter, 0 },       { "scatterv", c_scatterv, 0 },
    { "allgather", c_allgather, 0 },   { "allgatherv", c_allgatherv, 0 },
    { "alltoall", c_alltoall, 0 },     { "alltoallv", c_alltoallv, 0 },
    { "reduce_scatter", c_reduce_scatter, 1 }, { "scan", c_scan, 1 },
};

static const struct coll *find(const char *name)
{
    for (size_t i = 0; name && i < sizeof colls / sizeof colls[0]; i++)
        if (strcmp(colls[i].name, name) == 0)
            return &colls[i];
    return NULL;
}

/* One call: blocking, or started and tested until it completes (bounded). */
static void call(const struct coll *c, const struct cbuf *b, int nonblocking)
{
    MPI_Request req;
    int done = 0;
    if (!nonblocking) {
        MPIB_CHECK(c->fn(b, NULL));
        return;
    }
    MPIB_CHECK(c->fn(b, &req));
    double start = MPI_Wtime();
    while (!done) {
        MPIB_CHECK(MPI_Test(&req, &done, MPI_STATUS_IGNORE));
        if (!done && MPI_Wtime() - start > MPIB_WAIT_S)
            mpib_fail("a non-blocking collective still pending after 60 s", MPI_SUCCESS);
    }
}

/* Mean time per call on this rank; figures = average, minimum, maximum over the ranks. */
static void measure(const struct coll *c, const struct cbuf *b, int iters, int warmup,
                    int nonblocking, double figures[3])
{
    double t0 = 0, mine, sum;
    MPIB_CHECK(MPI_Barrier(MPI_COMM_WORLD));
    for (int i = 0; i < iters + warmup; i++) {
        if (i == warmup)
            t0 = MPI_Wtime();
        call(c, b, nonblocking);
    }
    mine = (MPI_Wtime() - t0) * 1e6 / iters;
    MPIB_CHECK(MPI_Reduce(&mine, &sum, 1, MPI_DOUBLE, MPI_SUM, 0, MPI_COMM_WORLD));
    MPIB_CHECK(MPI_Reduce(&mine, &figures[1], 1, MPI_DOUBLE, MPI_MIN, 0, MPI_COMM_WORLD));
    MPIB_CHECK(MPI_Reduce(&mine, &figures[2], 1, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD));
    figures[0] = sum / mpib_size;
}

static void setup(struct cbuf *b, const struct coll *c, const struct mpib_opts *o)
{
    size_t n = (o->max_size ? o->max_size : 1) * (size_t)mpib_size;
    b->type = c->reduction ? MPI_INT : MPI_CHAR;
    b->s = mpib_alloc(o, n);
    b->r = mpib_alloc(o, n);
    b->counts = calloc((size_t)mpib_size, sizeof(int));
    b->displs = calloc((size_t)mpib_size, sizeof(int));
    if (!b->counts || !b->displs)
        mpib_fail("calloc", MPI_SUCCESS);
    if (c->reduction)
        memset(b->s, 0, n);       /* integer sums that cannot overflow */
}

static void set_count(struct cbuf *b, size_t size)
{
    int type_size;
    MPIB_CHECK(MPI_Type_size(b->type, &type_size));
    b->count = (int)(size / (size_t)type_size);
    for (int i = 0; i < mpib_size; i++) {
        b->counts[i] = b->count;
        b->displs[i] = b->count * i;
    }
}

/* The reductions' sizes are whole MPI_INTs: smaller sizes are left out (4 B if none is left). */
static void only_whole_ints(struct mpib_opts *o)
{
    int n = 0;
    for (int k = 0; k < o->nsizes; k++)
        if (o->sizes[k] >= sizeof(int))
            o->sizes[n++] = o->sizes[k];
    if (n == 0)
        o->sizes[n++] = sizeof(int);
    o->nsizes = n;
}

static void measure_size(void *ctx, size_t size, int iters, int warmup, double *figures)
{
    struct cbuf *b = ctx;
    set_count(b, size);
    measure(b->c, b, iters, warmup, b->nonblocking, figures);
}

int main(int argc, char **argv)
{
    struct mpib_opts o = mpib_init(&argc, &argv, "c:N", 1, 1 << 20, 1000, " -c NAME [-N]");
    const struct coll *c = find(o.coll);
    struct cbuf b;
    char title[128];
    if (!c) {
        if (mpib_rank == 0)
            fprintf(stderr, "mpib_coll: -c names the collective: barrier, bcast, reduce, allreduce, "
                    "gather(v), scatter(v), allgather(v), alltoall(v), reduce_scatter, scan\n");
        MPI_Finalize();
        return 2;
    }
    if (c->fn == c_barrier)
        o.sizes[0] = 0, o.nsizes = 1;
    else if (c->reduction)
        only_whole_ints(&o);
    setup(&b, c, &o);
    snprintf(title, sizeof title, "collective latency: MPI_%s%s", o.nonblocking ? "I" : "", c->name);
    mpib_header(title, &o, "Avg (us)       Min (us)       Max (us)");
    b.c = c;
    b.nonblocking = o.nonblocking;
    mpib_sweep_rows(&o, 3, measure_size, &b);
    free(b.counts);
    free(b.displs);
    mpib_free(&o, b.s);
    mpib_free(&o, b.r);
    return mpib_finish(title + strlen("collective latency: "));
}
