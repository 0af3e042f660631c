/* coll_sched_test.c - the collectives' schedules and algorithms (src/coll_*.c, src/nbc.c) in one
 * process, over a simulated world of 1..8 ranks: a fake core below them (this file) queues
 * every send as a buffered message and matches receives by (source, destination, tag) in order,
 * and the test drives every rank's generalized request in turn until all complete. Each
 * collective runs at counts from 0 to past the large-message switch, with roots other than 0,
 * MPI_IN_PLACE, a non-commutative user op and non-contiguous datatypes, and its results are
 * compared with a serial computation. Prints "ok: ..." per collective; exits 1 on the first
 * wrong result, naming the collective, the rank count, the count and the rank.
 *
 * It tests the algorithms without the core's point to point; the programs in programs/ test the
 * whole library against Open MPI. */
#include "coll.h"
#include "dt.h"
#include "op.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MAXR = 8 };

/* ---- the fake core ---------------------------------------------------------------------------- */

struct mpix_comm mpix_comm_world;
static struct mpix_comm comms[MAXR];

struct msg { int src, dst, tag; char *data; long bytes; struct msg *next; };
struct posted { struct mpix_request *r; int me; struct posted *next; };
static struct msg *queue;
static struct posted *waiting;
static long n_messages;

int mpix_comm_rank(MPI_Comm c) { return c->rank; }
int mpix_comm_size(MPI_Comm c) { return c->size; }
int mpix_comm_check(MPI_Comm c) { return c ? MPI_SUCCESS : MPI_ERR_COMM; }
int mpix_check_init(const char *fn) { (void)fn; return MPI_SUCCESS; }
void mpix_progress(int timeout_ms) { (void)timeout_ms; }

int mpix_err(MPI_Comm c, int code, const char *fmt, ...)
{
    (void)c;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "mpix_err %d: ", code);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    return code;
}

static struct mpix_request *req_new(MPI_Comm c)
{
    struct mpix_request *r = calloc(1, sizeof *r);
    r->comm = c;
    return r;
}

/* Delivers queued messages to posted receives, each in posting and sending order. */
static void match(void)
{
    for (struct posted **pp = &waiting; *pp;) {
        struct posted *p = *pp;
        struct msg **mp = &queue;
        while (*mp && !((*mp)->dst == p->me && (*mp)->src == p->r->peer && (*mp)->tag == p->r->tag))
            mp = &(*mp)->next;
        if (!*mp) {
            pp = &p->next;
            continue;
        }
        struct msg *m = *mp;
        long room = (long)p->r->count * mpix_dt_size(p->r->dt);
        if (m->bytes > room) {
            fprintf(stderr, "FAILED: a %ld-byte message from %d to %d (tag %d) truncated to %ld\n",
                    m->bytes, m->src, m->dst, m->tag, room);
            exit(1);
        }
        mpix_dt_unpack(m->data, m->bytes, p->r->buf, p->r->count, p->r->dt);
        p->r->done = true;
        *mp = m->next;
        *pp = p->next;
        free(m->data);
        free(m);
        free(p);
    }
}

int mpix_coll_isend(const void *buf, int count, MPI_Datatype dt, int dest, int tag,
                    MPI_Comm comm, MPI_Request *req)
{
    struct msg *m = calloc(1, sizeof *m), **end = &queue;
    m->src = comm->rank;
    m->dst = dest;
    m->tag = tag;
    m->bytes = (long)count * mpix_dt_size(dt);
    m->data = malloc(m->bytes ? m->bytes : 1);
    mpix_dt_pack(buf, count, dt, m->data);
    while (*end)
        end = &(*end)->next;
    *end = m;
    n_messages++;
    *req = req_new(comm);
    (*req)->done = true;
    match();
    return MPI_SUCCESS;
}

int mpix_coll_irecv(void *buf, int count, MPI_Datatype dt, int src, int tag, MPI_Comm comm,
                    MPI_Request *req)
{
    struct mpix_request *r = req_new(comm);
    struct posted *p = calloc(1, sizeof *p), **end = &waiting;
    *r = (struct mpix_request){ .comm = comm, .buf = buf, .count = count, .dt = dt, .peer = src,
                                .tag = tag };
    p->r = r;
    p->me = comm->rank;
    while (*end)
        end = &(*end)->next;
    *end = p;
    *req = r;
    match();
    return MPI_SUCCESS;
}

int mpix_request_generalized(int (*progress)(void *, int *), void (*free_fn)(void *), void *state,
                             MPI_Comm comm, MPI_Request *req)
{
    *req = req_new(comm);
    (*req)->kind = MPIX_REQ_GENERALIZED;
    (*req)->progress = progress;
    (*req)->free_fn = free_fn;
    (*req)->state = state;
    return MPI_SUCCESS;
}

/* The engine completes a message it found done; under a non-blocking collective (all of them
 * here) an error of it would name MPI_Wait, the call the user completes the request with. */
int mpix_wait(MPI_Request *req, MPI_Status *st, const char *fn)
{
    (void)st;
    if (strcmp(fn, "MPI_Wait") != 0) {
        fprintf(stderr, "FAILED: a non-blocking collective's message waits as %s\n", fn);
        exit(1);
    }
    if (!(*req)->done) {
        fprintf(stderr, "FAILED: the engine waited on a request that is not done\n");
        exit(1);
    }
    free(*req);
    *req = MPI_REQUEST_NULL;
    return MPI_SUCCESS;
}

int MPI_Request_free(MPI_Request *req)
{
    free(*req);
    *req = MPI_REQUEST_NULL;
    return MPI_SUCCESS;
}

/* ---- driving a collective on N ranks ---------------------------------------------------------- */

typedef void build_fn(struct coll_sched *s, int rank, int n, int count);

/* Builds BUILD's schedule on every rank and drives them all, in turn, to completion. */
static void run(build_fn *build, int n, int count)
{
    MPI_Request req[MAXR];
    for (int r = 0; r < n; r++) {
        comms[r].rank = r;
        comms[r].size = n;
        comms[r].coll = NULL;           /* every rank starts at the same collective tag */
        struct coll_sched *s = coll_sched_new(&comms[r]);
        build(s, r, n, count);
        if (coll_start(s, &req[r], "test") != MPI_SUCCESS) {
            fprintf(stderr, "FAILED: rank %d's schedule did not start\n", r);
            exit(1);
        }
    }
    for (int turn = 0, left = n; left > 0; turn++) {
        if (turn > 1000000) {
            fprintf(stderr, "FAILED: the schedules of %d ranks (count %d) never completed: a "
                    "receive without its send\n", n, count);
            exit(1);
        }
        for (int r = 0; r < n; r++) {
            int err = 0;
            if (req[r] && req[r]->progress(req[r]->state, &err)) {
                if (err != MPI_SUCCESS) {
                    fprintf(stderr, "FAILED: rank %d's schedule ended with error %d\n", r, err);
                    exit(1);
                }
                req[r]->free_fn(req[r]->state);
                free(req[r]);
                req[r] = NULL;
                left--;
            }
        }
    }
    if (queue || waiting) {
        fprintf(stderr, "FAILED: %s left after the collective (%d ranks, count %d)\n",
                queue ? "a message nobody received was" : "a receive was", n, count);
        exit(1);
    }
}

/* ---- data and references ------------------------------------------------------------------ */

static int *in[MAXR], *out[MAXR], *ref;
static MPI_Op affine;                 /* non-commutative: affine maps x -> a*x + b, composed */
static MPI_Datatype pair, vec;        /* two unsigned; every other int (vector of stride 2) */
static int root_of(int n) { return n / 2; }

static void affine_fn(void *a, void *b, int *len, MPI_Datatype *dt)
{
    (void)dt;
    unsigned *f = a, *g = b;
    for (int i = 0; i < *len; i++, f += 2, g += 2) {
        unsigned x = g[0] * f[0], y = g[0] * f[1] + g[1];
        g[0] = x;
        g[1] = y;
    }
}

static int val(int r, long i) { return (int)((r * 7919 + i * 31) % 2001) - 1000; }

static void fill(int n, long ints)
{
    for (int r = 0; r < n; r++) {
        for (long i = 0; i < ints; i++) {
            in[r][i] = val(r, i) | 1;              /* odd: affine maps stay invertible-ish */
            out[r][i] = -7;
        }
    }
}

static void check(const char *what, int n, int count, int r, const int *got, const int *want,
                  long ints)
{
    for (long i = 0; i < ints; i++)
        if (got[i] != want[i]) {
            fprintf(stderr, "FAILED: %s on %d ranks, count %d: rank %d element %ld is %d, not %d\n",
                    what, n, count, r, i, got[i], want[i]);
            exit(1);
        }
}

/* REF = the reduction of ranks [LO, HI) of IN (ints with SUM, or pairs with the affine op),
 * each rank's data starting at int OFF. */
static void reduce_ref(int lo, int hi, long off, long ints, bool user)
{
    static int *tmp;
    tmp = realloc(tmp, sizeof(int) * (ints ? ints : 1));
    memcpy(ref, in[lo] + off, sizeof(int) * ints);
    for (int r = lo + 1; r < hi; r++) {
        if (user) {
            int len = (int)(ints / 2);
            memcpy(tmp, in[r] + off, sizeof(int) * ints);
            affine_fn(ref, tmp, &len, NULL);        /* tmp = ref op in[r] */
            memcpy(ref, tmp, sizeof(int) * ints);
        } else {
            for (long i = 0; i < ints; i++)
                ref[i] += in[r][off + i];
        }
    }
}

/* ---- the cases ---------------------------------------------------------------------------------- */

static bool inplace, user, strided;      /* the variant being run */

static MPI_Datatype red_type(void) { return user ? pair : MPI_INT; }
static MPI_Op red_op(void) { return user ? affine : MPI_SUM; }
static long red_ints(int count) { return user ? 2L * count : count; }

static void b_barrier(struct coll_sched *s, int r, int n, int count)
{
    (void)r; (void)n; (void)count;
    coll_barrier(s);
}

static void b_bcast(struct coll_sched *s, int r, int n, int count)
{
    if (r == root_of(n))
        for (long i = 0; i < 2L * count; i++)
            out[r][i] = in[r][i];
    coll_bcast(s, out[r], count, strided ? vec : MPI_INT, root_of(n));
}

static void c_bcast(int n, int count)
{
    for (int r = 0; r < n; r++)
        for (long i = 0; i < (strided ? 2L : 1L) * count; i++)
            if (out[r][i] != (!strided || i % 2 == 0 ? in[root_of(n)][i] : r == root_of(n) ? in[r][i] : -7))
                check("bcast", n, count, r, &out[r][i], &in[root_of(n)][i], 1);
}

static void b_reduce(struct coll_sched *s, int r, int n, int count)
{
    bool ip = inplace && r == root_of(n);
    if (ip)
        memcpy(out[r], in[r], sizeof(int) * red_ints(count));
    coll_reduce_to(s, ip ? MPI_IN_PLACE : in[r], out[r], count, red_type(), red_op(), root_of(n));
}

static void c_reduce(int n, int count)
{
    reduce_ref(0, n, 0, red_ints(count), user);
    check("reduce", n, count, root_of(n), out[root_of(n)], ref, red_ints(count));
}

static void b_allreduce(struct coll_sched *s, int r, int n, int count)
{
    (void)n;
    if (inplace)
        memcpy(out[r], in[r], sizeof(int) * red_ints(count));
    coll_allreduce(s, inplace ? MPI_IN_PLACE : in[r], out[r], count, red_type(), red_op());
}

static void c_allreduce(int n, int count)
{
    reduce_ref(0, n, 0, red_ints(count), user);
    for (int r = 0; r < n; r++)
        check("allreduce", n, count, r, out[r], ref, red_ints(count));
}

/* Reduce_scatter: rank i gets count + i elements (0 for count 0). */
static int rs_counts[MAXR];

static void b_reduce_scatter(struct coll_sched *s, int r, int n, int count)
{
    long total = 0;
    for (int i = 0; i < n; i++)
        total += rs_counts[i] = count ? count + i : 0;
    if (inplace)
        memcpy(out[r], in[r], sizeof(int) * red_ints((int)total));
    coll_reduce_scatter(s, inplace ? MPI_IN_PLACE : in[r], out[r], rs_counts, red_type(), red_op());
}

static void c_reduce_scatter(int n, int count)
{
    long off = 0;
    for (int r = 0; r < n; off += rs_counts[r++]) {
        reduce_ref(0, n, red_ints((int)off), red_ints(rs_counts[r]), user);
        check("reduce_scatter", n, count, r, out[r], ref, red_ints(rs_counts[r]));
    }
}

static bool exclusive;

static void b_scan(struct coll_sched *s, int r, int n, int count)
{
    (void)n;
    if (inplace)
        memcpy(out[r], in[r], sizeof(int) * red_ints(count));
    coll_scan(s, inplace ? MPI_IN_PLACE : in[r], out[r], count, red_type(), red_op(), exclusive);
}

static void c_scan(int n, int count)
{
    for (int r = exclusive ? 1 : 0; r < n; r++) {
        reduce_ref(0, exclusive ? r : r + 1, 0, red_ints(count), user);
        check(exclusive ? "exscan" : "scan", n, count, r, out[r], ref, red_ints(count));
    }
}

/* Data movement: rank r's block j (of COUNT ints) is in[r] + j*count; results in out. */
static int vcnt(int count, int i) { return count ? count + 3 * i : 0; }
static int vdispl(int count, int i) { int d = 0; for (int k = 0; k < i; k++) d += vcnt(count, k) + 1; return d; }
static int vc[MAXR], vd[MAXR], vc2[MAXR], vd2[MAXR];
static bool vform;

static void vtables(int n, int count)
{
    for (int i = 0; i < n; i++) {
        vc[i] = vcnt(count, i);
        vd[i] = vdispl(count, i);
    }
}

static void b_gather(struct coll_sched *s, int r, int n, int count)
{
    bool root = r == root_of(n), ip = inplace && root;
    vtables(n, count);
    int mine = vform ? vc[r] : count;
    int *slot = out[r] + (vform ? vd[r] : r * count);
    if (ip)
        memcpy(slot, in[r], sizeof(int) * mine);
    struct coll_args a = { .sbuf = ip ? MPI_IN_PLACE : in[r], .scount = mine, .stype = MPI_INT,
                           .rbuf = out[r], .rcount = count, .rcounts = vc, .rdispls = vd,
                           .rtype = MPI_INT, .root = root_of(n) };
    (vform ? coll_gatherv : coll_gather)(s, &a);
}

static void c_gather(int n, int count)
{
    int root = root_of(n);
    for (int i = 0; i < n; i++)
        check(vform ? "gatherv" : "gather", n, count, root, out[root] + (vform ? vd[i] : i * count),
              in[i], vform ? vc[i] : count);
}

static void b_scatter(struct coll_sched *s, int r, int n, int count)
{
    bool root = r == root_of(n), ip = inplace && root;
    vtables(n, count);
    struct coll_args a = { .sbuf = in[r], .scount = count, .scounts = vc, .sdispls = vd,
                           .stype = MPI_INT, .rbuf = ip ? MPI_IN_PLACE : out[r],
                           .rcount = vform ? vc[r] : count, .rtype = MPI_INT, .root = root_of(n) };
    (vform ? coll_scatterv : coll_scatter)(s, &a);
}

static void c_scatter(int n, int count)
{
    int root = root_of(n);
    for (int r = 0; r < n; r++)
        if (!(inplace && r == root))
            check(vform ? "scatterv" : "scatter", n, count, r, out[r],
                  in[root] + (vform ? vd[r] : r * count), vform ? vc[r] : count);
}

static void b_allgather(struct coll_sched *s, int r, int n, int count)
{
    vtables(n, count);
    int mine = vform ? vc[r] : count;
    if (inplace)
        memcpy(out[r] + (vform ? vd[r] : r * count), in[r], sizeof(int) * mine);
    struct coll_args a = { .sbuf = inplace ? MPI_IN_PLACE : in[r], .scount = mine,
                           .stype = MPI_INT, .rbuf = out[r], .rcount = count, .rcounts = vc,
                           .rdispls = vd, .rtype = MPI_INT };
    (vform ? coll_allgatherv : coll_allgather)(s, &a);
}

static void c_allgather(int n, int count)
{
    for (int r = 0; r < n; r++)
        for (int i = 0; i < n; i++)
            check(vform ? "allgatherv" : "allgather", n, count, r,
                  out[r] + (vform ? vd[i] : i * count), in[i], vform ? vc[i] : count);
}

/* Alltoallv: what rank i sends rank j is count + i + 2j ints, at 1-int gaps; with MPI_IN_PLACE
 * the counts must be symmetric (a rank sends what its receive counts say): count + i + j. */
static int a2c(int count, int i, int j) { return count ? count + i + (inplace ? 1 : 2) * j : 0; }

static void b_alltoall(struct coll_sched *s, int r, int n, int count)
{
    for (int j = 0, so = 0, ro = 0; j < n; j++) {
        vc[j] = vform ? a2c(count, r, j) : count;
        vd[j] = so;
        so += vc[j] + vform;
        vc2[j] = vform ? a2c(count, j, r) : count;
        vd2[j] = ro;
        ro += vc2[j] + vform;
    }
    if (inplace)
        memcpy(out[r], in[r], sizeof(int) * (size_t)(vd[n - 1] + vc[n - 1]));
    struct coll_args a = { .sbuf = inplace ? MPI_IN_PLACE : in[r], .scount = count, .scounts = vc,
                           .sdispls = vd, .stype = MPI_INT, .rbuf = out[r], .rcount = count,
                           .rcounts = vc2, .rdispls = vd2, .rtype = MPI_INT };
    (vform ? coll_alltoallv : coll_alltoall)(s, &a);
}

static void c_alltoall(int n, int count)
{
    for (int r = 0; r < n; r++)
        for (int j = 0, ro = 0; j < n; j++) {
            int c = vform ? a2c(count, j, r) : count, so = 0;
            for (int k = 0; k < r; k++)
                so += (vform ? a2c(count, j, k) : count) + vform;
            check(vform ? "alltoallv" : "alltoall", n, count, r, out[r] + ro, in[j] + so, c);
            ro += c + vform;
        }
}

/* ---- main ------------------------------------------------------------------------------------ */

struct tcase {
    const char *name;
    build_fn   *build;
    void      (*check)(int n, int count);
    bool        inplace, user, strided, exclusive, vform;
};

static const struct tcase cases[] = {
    {"barrier", b_barrier, NULL, 0, 0, 0, 0, 0},
    {"bcast", b_bcast, c_bcast, 0, 0, 0, 0, 0},
    {"bcast-strided-type", b_bcast, c_bcast, 0, 0, 1, 0, 0},
    {"reduce-sum", b_reduce, c_reduce, 0, 0, 0, 0, 0},
    {"reduce-sum-inplace", b_reduce, c_reduce, 1, 0, 0, 0, 0},
    {"reduce-userop", b_reduce, c_reduce, 0, 1, 0, 0, 0},
    {"allreduce-sum", b_allreduce, c_allreduce, 0, 0, 0, 0, 0},
    {"allreduce-sum-inplace", b_allreduce, c_allreduce, 1, 0, 0, 0, 0},
    {"allreduce-userop", b_allreduce, c_allreduce, 0, 1, 0, 0, 0},
    {"reduce_scatter-sum", b_reduce_scatter, c_reduce_scatter, 0, 0, 0, 0, 0},
    {"reduce_scatter-inplace", b_reduce_scatter, c_reduce_scatter, 1, 0, 0, 0, 0},
    {"reduce_scatter-userop", b_reduce_scatter, c_reduce_scatter, 0, 1, 0, 0, 0},
    {"scan-sum", b_scan, c_scan, 0, 0, 0, 0, 0},
    {"scan-inplace", b_scan, c_scan, 1, 0, 0, 0, 0},
    {"scan-userop", b_scan, c_scan, 0, 1, 0, 0, 0},
    {"exscan-sum", b_scan, c_scan, 0, 0, 0, 1, 0},
    {"exscan-inplace", b_scan, c_scan, 1, 0, 0, 1, 0},
    {"exscan-userop", b_scan, c_scan, 0, 1, 0, 1, 0},
    {"gather", b_gather, c_gather, 0, 0, 0, 0, 0},
    {"gather-inplace", b_gather, c_gather, 1, 0, 0, 0, 0},
    {"gatherv", b_gather, c_gather, 0, 0, 0, 0, 1},
    {"gatherv-inplace", b_gather, c_gather, 1, 0, 0, 0, 1},
    {"scatter", b_scatter, c_scatter, 0, 0, 0, 0, 0},
    {"scatter-inplace", b_scatter, c_scatter, 1, 0, 0, 0, 0},
    {"scatterv", b_scatter, c_scatter, 0, 0, 0, 0, 1},
    {"allgather", b_allgather, c_allgather, 0, 0, 0, 0, 0},
    {"allgather-inplace", b_allgather, c_allgather, 1, 0, 0, 0, 0},
    {"allgatherv", b_allgather, c_allgather, 0, 0, 0, 0, 1},
    {"allgatherv-inplace", b_allgather, c_allgather, 1, 0, 0, 0, 1},
    {"alltoall", b_alltoall, c_alltoall, 0, 0, 0, 0, 0},
    {"alltoall-inplace", b_alltoall, c_alltoall, 1, 0, 0, 0, 0},
    {"alltoallv", b_alltoall, c_alltoall, 0, 0, 0, 0, 1},
    {"alltoallv-inplace", b_alltoall, c_alltoall, 1, 0, 0, 0, 1},
};

int main(void)
{
    static const int counts[] = {0, 1, 7, 64, 1000, 20000, 70000};
    const long cap = 2L * MAXR * (70000 + 3 * MAXR + 2 * MAXR + 2) + 64;
    for (int r = 0; r < MAXR; r++) {
        in[r] = malloc(sizeof(int) * cap);
        out[r] = malloc(sizeof(int) * cap);
    }
    ref = malloc(sizeof(int) * cap);
    MPI_Type_contiguous(2, MPI_UNSIGNED, &pair);
    MPI_Type_commit(&pair);
    MPI_Type_create_resized(MPI_INT, 0, 2 * sizeof(int), &vec);
    MPI_Type_commit(&vec);
    MPI_Op_create(affine_fn, 0, &affine);
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const struct tcase *t = &cases[c];
        inplace = t->inplace; user = t->user; strided = t->strided;
        exclusive = t->exclusive; vform = t->vform;
        long before = n_messages;
        for (int n = 1; n <= MAXR; n++)
            for (size_t k = 0; k < sizeof counts / sizeof counts[0]; k++) {
                long ints = 2L * n * (counts[k] + 5 * MAXR + 2);
                fill(n, ints < cap ? ints : cap);
                run(t->build, n, counts[k]);
                if (t->check)
                    t->check(n, counts[k]);
            }
        printf("ok: %s on 1..%d ranks at counts 0..%d (%ld messages)\n", t->name, MAXR,
               counts[sizeof counts / sizeof counts[0] - 1], n_messages - before);
    }
    printf("PASSED: every collective's schedule agrees with the serial result\n");
    return 0;
}
