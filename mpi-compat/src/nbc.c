/* nbc.c - the schedule engine every collective runs on (coll.h): rounds of sends and receives
 * in the communicator's collective context, then local steps (reduce, copy, pack, unpack),
 * driven by a generalized request for the non-blocking collectives and by a loop on the
 * fabric's progress for the blocking ones.
 *
 * A schedule is built whole before it starts (plan), checked for allocation failures (validate),
 * and only then posts messages (mutate). Nothing spins: the blocking loop and MPI_Wait sleep in
 * mpix_progress() until the fabric has something. A failed message's error names the call the
 * user made: the blocking collective (MPI_Allreduce...), or MPI_Wait for a non-blocking one. */
#include "coll.h"
#include "dt.h"
#include "op.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum step_kind { ST_SEND, ST_RECV, ST_REDUCE, ST_COPY, ST_PACK, ST_UNPACK, ST_COPY_TYPED };

struct step {
    enum step_kind kind;
    const void    *src;
    void          *dst;
    int            count, count2, peer;
    MPI_Datatype   dt, dt2;
    MPI_Op         op;
    size_t         bytes;
};

struct coll_sched {
    MPI_Comm      comm;
    int           tag;
    struct step  *steps;
    int           nsteps, cap;
    int          *starts;           /* first step of each round */
    int           nrounds, rcap;
    int           cur;              /* the round running */
    bool          posted;           /* its messages are posted */
    MPI_Request  *reqs;             /* its messages' requests (MPI_REQUEST_NULL once reaped) */
    int           nreqs, qcap;
    void        **tmps;             /* scratch buffers, freed with the schedule */
    int           ntmps, tcap;
    MPI_Datatype *dts;              /* held types and ops, released with the schedule */
    int           ndts, dcap;
    MPI_Op       *ops;
    int           nops, ocap;
    bool          oom;              /* an allocation failed while building */
    int           err;
    const char   *fn;               /* the call a failed message's error names (reap) */
};

/* Grows *ARR (of *CAP elements of SIZE bytes) to hold N; false (and S->oom) when it cannot. */
static bool grow(struct coll_sched *s, void *arr, int *cap, int n, size_t size)
{
    void **p = arr;
    if (n <= *cap)
        return true;
    int ncap = *cap ? *cap * 2 : 16;
    while (ncap < n)
        ncap *= 2;
    void *q = realloc(*p, (size_t)ncap * size);
    if (!q) {
        s->oom = true;
        return false;
    }
    *p = q;
    *cap = ncap;
    return true;
}

/* The communicator's next collective tag. The collectives own comm->coll; it holds a counter,
 * not a pointer, so a communicator's collective state needs no freeing. */
static int next_tag(MPI_Comm c)
{
    uintptr_t n = (uintptr_t)c->coll;
    c->coll = (void *)(n + 1);
    return (int)(n & 0x3fffffff);
}

struct coll_sched *coll_sched_new(MPI_Comm comm)
{
    struct coll_sched *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->comm = comm;
    s->tag = next_tag(comm);
    s->fn = "MPI_Wait";                          /* a non-blocking collective's: coll_run's own */
    coll_round(s);
    return s;
}

int coll_rank(const struct coll_sched *s) { return mpix_comm_rank(s->comm); }
int coll_size(const struct coll_sched *s) { return mpix_comm_size(s->comm); }

void coll_round(struct coll_sched *s)
{
    if (s->nrounds > 0 && s->starts[s->nrounds - 1] == s->nsteps)
        return;                                  /* the open round is still empty */
    if (grow(s, &s->starts, &s->rcap, s->nrounds + 1, sizeof *s->starts))
        s->starts[s->nrounds++] = s->nsteps;
}

static struct step *add(struct coll_sched *s, enum step_kind kind)
{
    if (!grow(s, &s->steps, &s->cap, s->nsteps + 1, sizeof *s->steps))
        return NULL;
    struct step *st = &s->steps[s->nsteps++];
    memset(st, 0, sizeof *st);
    st->kind = kind;
    return st;
}

static void add_msg(struct coll_sched *s, enum step_kind kind, const void *buf, int count,
                    MPI_Datatype dt, int peer)
{
    struct step *st = add(s, kind);
    if (!st)
        return;
    st->src = buf;
    st->dst = (void *)buf;
    st->count = count;
    st->dt = dt;
    st->peer = peer;
}

void coll_send(struct coll_sched *s, const void *buf, int count, MPI_Datatype dt, int peer)
{
    add_msg(s, ST_SEND, buf, count, dt, peer);
}

void coll_recv(struct coll_sched *s, void *buf, int count, MPI_Datatype dt, int peer)
{
    add_msg(s, ST_RECV, buf, count, dt, peer);
}

void coll_reduce(struct coll_sched *s, MPI_Op op, const void *in, void *inout, int count,
                 MPI_Datatype dt)
{
    struct step *st = count > 0 ? add(s, ST_REDUCE) : NULL;
    if (st)
        *st = (struct step){ .kind = ST_REDUCE, .src = in, .dst = inout, .count = count,
                             .dt = dt, .op = op };
}

void coll_copy(struct coll_sched *s, const void *src, void *dst, size_t bytes)
{
    struct step *st = bytes > 0 && src != dst ? add(s, ST_COPY) : NULL;
    if (st)
        *st = (struct step){ .kind = ST_COPY, .src = src, .dst = dst, .bytes = bytes };
}

void coll_pack(struct coll_sched *s, const void *buf, int count, MPI_Datatype dt, void *out)
{
    struct step *st = count > 0 ? add(s, ST_PACK) : NULL;
    if (st)
        *st = (struct step){ .kind = ST_PACK, .src = buf, .dst = out, .count = count, .dt = dt };
}

void coll_unpack(struct coll_sched *s, const void *in, void *buf, int count, MPI_Datatype dt)
{
    struct step *st = count > 0 ? add(s, ST_UNPACK) : NULL;
    if (st)
        *st = (struct step){ .kind = ST_UNPACK, .src = in, .dst = buf, .count = count, .dt = dt };
}

void coll_copy_typed(struct coll_sched *s, const void *src, int scount, MPI_Datatype stype,
                     void *dst, int rcount, MPI_Datatype rtype)
{
    struct step *st = scount > 0 && rcount > 0 ? add(s, ST_COPY_TYPED) : NULL;
    if (st)
        *st = (struct step){ .kind = ST_COPY_TYPED, .src = src, .dst = dst, .count = scount,
                             .dt = stype, .count2 = rcount, .dt2 = rtype };
}

void *coll_tmp(struct coll_sched *s, size_t bytes)
{
    void *p = mpix_scratch_get(bytes ? bytes : 1);
    if (!p || !grow(s, &s->tmps, &s->tcap, s->ntmps + 1, sizeof *s->tmps)) {
        mpix_scratch_put(p);
        s->oom = true;
        return NULL;
    }
    return s->tmps[s->ntmps++] = p;
}

void coll_hold_dt(struct coll_sched *s, MPI_Datatype dt)
{
    if (dt && grow(s, &s->dts, &s->dcap, s->ndts + 1, sizeof *s->dts)) {
        mpix_dt_retain(dt);
        s->dts[s->ndts++] = dt;
    }
}

void coll_hold_op(struct coll_sched *s, MPI_Op op)
{
    if (op && grow(s, &s->ops, &s->ocap, s->nops + 1, sizeof *s->ops)) {
        mpix_op_retain(op);
        s->ops[s->nops++] = op;
    }
}

void coll_sched_free(struct coll_sched *s)
{
    if (!s)
        return;
    for (int i = 0; i < s->nreqs; i++)           /* left pending by an error */
        if (s->reqs[i] != MPI_REQUEST_NULL)
            MPI_Request_free(&s->reqs[i]);
    for (int i = 0; i < s->ntmps; i++)
        mpix_scratch_put(s->tmps[i]);
    for (int i = 0; i < s->ndts; i++)
        mpix_dt_release(s->dts[i]);
    for (int i = 0; i < s->nops; i++)
        mpix_op_release(s->ops[i]);
    free(s->tmps);
    free(s->dts);
    free(s->ops);
    free(s->reqs);
    free(s->starts);
    free(s->steps);
    free(s);
}

/* ---- running ---------------------------------------------------------------------------------- */

static int round_end(const struct coll_sched *s, int r)
{
    return r + 1 < s->nrounds ? s->starts[r + 1] : s->nsteps;
}

/* Posts the round's sends and receives; an error stops the schedule. */
static void post_round(struct coll_sched *s, int b, int e)
{
    s->nreqs = 0;
    for (int i = b; i < e && !s->err; i++) {
        struct step *st = &s->steps[i];
        if (st->kind != ST_SEND && st->kind != ST_RECV)
            continue;
        MPI_Request *rq = &s->reqs[s->nreqs++];
        *rq = MPI_REQUEST_NULL;
        s->err = st->kind == ST_SEND
            ? mpix_coll_isend(st->src, st->count, st->dt, st->peer, s->tag, s->comm, rq)
            : mpix_coll_irecv(st->dst, st->count, st->dt, st->peer, s->tag, s->comm, rq);
    }
}

/* Completes the round's messages that are done; true when none is left. A message's error is
 * raised naming S->fn: the blocking collective (MPI_Bcast...), or MPI_Wait when the user waits
 * on a non-blocking one's request. */
static bool reap(struct coll_sched *s)
{
    bool all = true;
    for (int i = 0; i < s->nreqs; i++) {
        if (s->reqs[i] == MPI_REQUEST_NULL)
            continue;
        if (!s->reqs[i]->done) {
            all = false;
            continue;
        }
        int rc = mpix_wait(&s->reqs[i], MPI_STATUS_IGNORE, s->fn);
        if (rc != MPI_SUCCESS && !s->err)
            s->err = rc;
    }
    return all;
}

static void copy_typed(const struct step *st)
{
    MPI_Aint off;
    size_t bytes = (size_t)st->count * (size_t)mpix_dt_size(st->dt);
    if (mpix_dt_contig(st->dt, st->count, &off)) {
        mpix_dt_unpack((const char *)st->src + off, (MPI_Count)bytes, st->dst, st->count2, st->dt2);
        return;
    }
    void *tmp = malloc(bytes);
    if (!tmp) {
        mpix_err(MPI_COMM_WORLD, MPI_ERR_NO_MEM, "a collective's local copy: out of memory "
                 "for %zu bytes", bytes);
        return;
    }
    mpix_dt_pack(st->src, st->count, st->dt, tmp);
    mpix_dt_unpack(tmp, (MPI_Count)bytes, st->dst, st->count2, st->dt2);
    free(tmp);
}

static void run_local(const struct step *st)
{
    switch (st->kind) {
    case ST_REDUCE:
        mpix_op_apply(st->op, st->src, st->dst, st->count, st->dt);
        break;
    case ST_COPY:
        memmove(st->dst, st->src, st->bytes);
        break;
    case ST_PACK:
        mpix_dt_pack(st->src, st->count, st->dt, st->dst);
        break;
    case ST_UNPACK:
        mpix_dt_unpack(st->src, (MPI_Count)st->count * mpix_dt_size(st->dt), st->dst,
                       st->count, st->dt);
        break;
    case ST_COPY_TYPED:
        copy_typed(st);
        break;
    default:
        break;
    }
}

/* The generalized request's progress function: runs rounds as far as their messages allow. */
static int sched_progress(void *state, int *err)
{
    struct coll_sched *s = state;
    while (s->cur < s->nrounds && !s->err) {
        int b = s->starts[s->cur], e = round_end(s, s->cur);
        if (!s->posted) {
            post_round(s, b, e);
            s->posted = true;
        }
        if (!reap(s) && !s->err)
            return 0;
        for (int i = b; i < e && !s->err; i++)
            run_local(&s->steps[i]);
        s->cur++;
        s->posted = false;
    }
    *err = s->err;
    return 1;
}

static void sched_free(void *state) { coll_sched_free(state); }

/* Validate before anything is posted: every allocation of the build succeeded, and the
 * request array can hold the largest round's messages. */
static int sched_ready(struct coll_sched *s)
{
    int most = 0;
    for (int r = 0; r < s->nrounds; r++) {
        int n = 0;
        for (int i = s->starts[r]; i < round_end(s, r); i++)
            n += s->steps[i].kind == ST_SEND || s->steps[i].kind == ST_RECV;
        most = n > most ? n : most;
    }
    grow(s, &s->reqs, &s->qcap, most, sizeof *s->reqs);
    return s->oom ? MPI_ERR_NO_MEM : MPI_SUCCESS;
}

int coll_start(struct coll_sched *s, MPI_Request *req, const char *fn)
{
    if (!s)
        return mpix_err(MPI_COMM_WORLD, MPI_ERR_NO_MEM, "%s: out of memory for its schedule", fn);
    MPI_Comm c = s->comm;
    if (sched_ready(s) != MPI_SUCCESS) {
        coll_sched_free(s);
        return mpix_err(c, MPI_ERR_NO_MEM, "%s: out of memory for its schedule or its "
                        "scratch buffers", fn);
    }
    int rc = mpix_request_generalized(sched_progress, sched_free, s, c, req);
    if (rc != MPI_SUCCESS)
        coll_sched_free(s);
    return rc;
}

int coll_sched_drive(struct coll_sched *s)
{
    int err = sched_ready(s);
    if (err != MPI_SUCCESS)
        return err;
    while (!sched_progress(s, &err))
        mpix_progress(100);
    return err;
}

int coll_run(struct coll_sched *s, const char *fn)
{
    if (!s)
        return mpix_err(MPI_COMM_WORLD, MPI_ERR_NO_MEM, "%s: out of memory for its schedule", fn);
    MPI_Comm c = s->comm;
    s->fn = fn;
    int err = coll_sched_drive(s);
    coll_sched_free(s);
    if (err == MPI_ERR_NO_MEM)
        return mpix_err(c, err, "%s: out of memory for its schedule or its scratch buffers", fn);
    return err == MPI_SUCCESS ? MPI_SUCCESS
                              : mpix_err(c, err, "%s: a message of the collective failed", fn);
}

int coll_go(struct coll_sched *s, MPI_Request *req, bool nb, const char *fn)
{
    return nb ? coll_start(s, req, fn) : coll_run(s, fn);
}

void *coll_tmp_typed(struct coll_sched *s, int count, MPI_Datatype dt)
{
    MPI_Aint first;
    size_t span = mpix_dt_span(dt, count, &first);
    char *p = coll_tmp(s, span);

    return p ? p - first : NULL;
}

int coll_pof2(int n)
{
    int p = 1;
    while (p * 2 <= n)
        p *= 2;
    return p;
}
