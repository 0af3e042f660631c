/* coll_api_move.c - the data-movement collectives' MPI_ functions, blocking and non-blocking:
 * Gather(v), Scatter(v), Allgather(v), Alltoall(v). Each checks what is significant on this
 * rank (the root's receive or send side only at the root; MPI_IN_PLACE only where MPI allows
 * it), builds the schedule (coll_gather.c, coll_alltoall.c) and runs or starts it. */
#include "coll_check.h"

enum move { GATHER, GATHERV, SCATTER, SCATTERV, ALLGATHER, ALLGATHERV, ALLTOALL, ALLTOALLV };

/* The send side: one count, or counts per rank (v forms of Scatter and Alltoall). */
static int check_send(MPI_Comm comm, const struct coll_args *a, bool v, const char *fn)
{
    return v ? coll_check_counts(comm, a->scounts, a->sdispls, a->stype, "send", fn)
             : coll_check_data(comm, a->scount, a->stype, "send", fn);
}

static int check_recv(MPI_Comm comm, const struct coll_args *a, bool v, const char *fn)
{
    TRY(coll_check_not_in_place(comm, a->rbuf, "receive", fn));
    return v ? coll_check_counts(comm, a->rcounts, a->rdispls, a->rtype, "receive", fn)
             : coll_check_data(comm, a->rcount, a->rtype, "receive", fn);
}

static int check_rooted(MPI_Comm comm, const struct coll_args *a, enum move m, const char *fn)
{
    TRY(coll_check_root(comm, a->root, fn));
    bool root = mpix_comm_rank(comm) == a->root, gather = m == GATHER || m == GATHERV;
    bool v = m == GATHERV || m == SCATTERV;
    if (gather) {
        if (!root)
            TRY(coll_check_not_in_place(comm, a->sbuf, "send", fn));
        if (a->sbuf != MPI_IN_PLACE)
            TRY(check_send(comm, a, false, fn));
        return root ? check_recv(comm, a, v, fn) : MPI_SUCCESS;
    }
    if (!root)
        return check_recv(comm, a, false, fn);
    TRY(coll_check_not_in_place(comm, a->sbuf, "send", fn));
    TRY(check_send(comm, a, v, fn));
    if (a->rbuf != MPI_IN_PLACE)
        TRY(coll_check_data(comm, a->rcount, a->rtype, "receive", fn));
    return MPI_SUCCESS;
}

static int check_all(MPI_Comm comm, const struct coll_args *a, enum move m, const char *fn)
{
    bool v = m == ALLGATHERV || m == ALLTOALLV;
    if (a->sbuf != MPI_IN_PLACE)
        TRY(check_send(comm, a, m == ALLTOALLV, fn));
    return check_recv(comm, a, v, fn);
}

static void build(struct coll_sched *s, const struct coll_args *a, enum move m)
{
    static void (*const algo[])(struct coll_sched *, const struct coll_args *) = {
        [GATHER] = coll_gather, [GATHERV] = coll_gatherv, [SCATTER] = coll_scatter,
        [SCATTERV] = coll_scatterv, [ALLGATHER] = coll_allgather,
        [ALLGATHERV] = coll_allgatherv, [ALLTOALL] = coll_alltoall, [ALLTOALLV] = coll_alltoallv,
    };
    coll_hold_dt(s, a->stype);
    coll_hold_dt(s, a->rtype);
    algo[m](s, a);
}

static int move(const struct coll_args *a, enum move m, MPI_Comm comm, MPI_Request *req,
                bool nb, const char *fn)
{
    TRY(coll_check_comm(comm, req, nb, fn));
    bool rooted = m == GATHER || m == GATHERV || m == SCATTER || m == SCATTERV;
    TRY(rooted ? check_rooted(comm, a, m, fn) : check_all(comm, a, m, fn));
    struct coll_args args = *a;
    bool root = !rooted || mpix_comm_rank(comm) == a->root;
    if (!root && (m == GATHER || m == GATHERV))
        args.rtype = NULL;                       /* not significant here: not held */
    if (!root && (m == SCATTER || m == SCATTERV))
        args.stype = NULL;
    if (a->sbuf == MPI_IN_PLACE)
        args.stype = NULL;
    struct coll_sched *s = coll_sched_new(comm);
    if (s)
        build(s, &args, m);
    return coll_go(s, req, nb, fn);
}

#define ARGS(...) (&(struct coll_args){ __VA_ARGS__ })

int MPI_Gather(const void *sb, int sc, MPI_Datatype st, void *rb, int rc, MPI_Datatype rt,
               int root, MPI_Comm comm)
{
    return move(ARGS(.sbuf = sb, .scount = sc, .stype = st, .rbuf = rb, .rcount = rc, .rtype = rt,
                     .root = root), GATHER, comm, NULL, false, "MPI_Gather");
}

int MPI_Igather(const void *sb, int sc, MPI_Datatype st, void *rb, int rc, MPI_Datatype rt,
                int root, MPI_Comm comm, MPI_Request *req)
{
    return move(ARGS(.sbuf = sb, .scount = sc, .stype = st, .rbuf = rb, .rcount = rc, .rtype = rt,
                     .root = root), GATHER, comm, req, true, "MPI_Igather");
}

int MPI_Gatherv(const void *sb, int sc, MPI_Datatype st, void *rb, const int rcs[],
                const int rds[], MPI_Datatype rt, int root, MPI_Comm comm)
{
    return move(ARGS(.sbuf = sb, .scount = sc, .stype = st, .rbuf = rb, .rcounts = rcs,
                     .rdispls = rds, .rtype = rt, .root = root), GATHERV, comm, NULL, false,
                "MPI_Gatherv");
}

int MPI_Igatherv(const void *sb, int sc, MPI_Datatype st, void *rb, const int rcs[],
                 const int rds[], MPI_Datatype rt, int root, MPI_Comm comm, MPI_Request *req)
{
    return move(ARGS(.sbuf = sb, .scount = sc, .stype = st, .rbuf = rb, .rcounts = rcs,
                     .rdispls = rds, .rtype = rt, .root = root), GATHERV, comm, req, true,
                "MPI_Igatherv");
}

int MPI_Scatter(const void *sb, int sc, MPI_Datatype st, void *rb, int rc, MPI_Datatype rt,
                int root, MPI_Comm comm)
{
    return move(ARGS(.sbuf = sb, .scount = sc, .stype = st, .rbuf = rb, .rcount = rc, .rtype = rt,
                     .root = root), SCATTER, comm, NULL, false, "MPI_Scatter");
}

int MPI_Iscatter(const void *sb, int sc, MPI_Datatype st, void *rb, int rc, MPI_Datatype rt,
                 int root, MPI_Comm comm, MPI_Request *req)
{
    return move(ARGS(.sbuf = sb, .scount = sc, .stype = st, .rbuf = rb, .rcount = rc, .rtype = rt,
                     .root = root), SCATTER, comm, req, true, "MPI_Iscatter");
}

int MPI_Scatterv(const void *sb, const int scs[], const int sds[], MPI_Datatype st, void *rb,
                 int rc, MPI_Datatype rt, int root, MPI_Comm comm)
{
    return move(ARGS(.sbuf = sb, .scounts = scs, .sdispls = sds, .stype = st, .rbuf = rb,
                     .rcount = rc, .rtype = rt, .root = root), SCATTERV, comm, NULL, false,
                "MPI_Scatterv");
}

int MPI_Iscatterv(const void *sb, const int scs[], const int sds[], MPI_Datatype st, void *rb,
                  int rc, MPI_Datatype rt, int root, MPI_Comm comm, MPI_Request *req)
{
    return move(ARGS(.sbuf = sb, .scounts = scs, .sdispls = sds, .stype = st, .rbuf = rb,
                     .rcount = rc, .rtype = rt, .root = root), SCATTERV, comm, req, true,
                "MPI_Iscatterv");
}

int MPI_Allgather(const void *sb, int sc, MPI_Datatype st, void *rb, int rc, MPI_Datatype rt,
                  MPI_Comm comm)
{
    return move(ARGS(.sbuf = sb, .scount = sc, .stype = st, .rbuf = rb, .rcount = rc, .rtype = rt),
                ALLGATHER, comm, NULL, false, "MPI_Allgather");
}

int MPI_Iallgather(const void *sb, int sc, MPI_Datatype st, void *rb, int rc, MPI_Datatype rt,
                   MPI_Comm comm, MPI_Request *req)
{
    return move(ARGS(.sbuf = sb, .scount = sc, .stype = st, .rbuf = rb, .rcount = rc, .rtype = rt),
                ALLGATHER, comm, req, true, "MPI_Iallgather");
}

int MPI_Allgatherv(const void *sb, int sc, MPI_Datatype st, void *rb, const int rcs[],
                   const int rds[], MPI_Datatype rt, MPI_Comm comm)
{
    return move(ARGS(.sbuf = sb, .scount = sc, .stype = st, .rbuf = rb, .rcounts = rcs,
                     .rdispls = rds, .rtype = rt), ALLGATHERV, comm, NULL, false, "MPI_Allgatherv");
}

int MPI_Iallgatherv(const void *sb, int sc, MPI_Datatype st, void *rb, const int rcs[],
                    const int rds[], MPI_Datatype rt, MPI_Comm comm, MPI_Request *req)
{
    return move(ARGS(.sbuf = sb, .scount = sc, .stype = st, .rbuf = rb, .rcounts = rcs,
                     .rdispls = rds, .rtype = rt), ALLGATHERV, comm, req, true, "MPI_Iallgatherv");
}

int MPI_Alltoall(const void *sb, int sc, MPI_Datatype st, void *rb, int rc, MPI_Datatype rt,
                 MPI_Comm comm)
{
    return move(ARGS(.sbuf = sb, .scount = sc, .stype = st, .rbuf = rb, .rcount = rc, .rtype = rt),
                ALLTOALL, comm, NULL, false, "MPI_Alltoall");
}

int MPI_Ialltoall(const void *sb, int sc, MPI_Datatype st, void *rb, int rc, MPI_Datatype rt,
                  MPI_Comm comm, MPI_Request *req)
{
    return move(ARGS(.sbuf = sb, .scount = sc, .stype = st, .rbuf = rb, .rcount = rc, .rtype = rt),
                ALLTOALL, comm, req, true, "MPI_Ialltoall");
}

int MPI_Alltoallv(const void *sb, const int scs[], const int sds[], MPI_Datatype st, void *rb,
                  const int rcs[], const int rds[], MPI_Datatype rt, MPI_Comm comm)
{
    return move(ARGS(.sbuf = sb, .scounts = scs, .sdispls = sds, .stype = st, .rbuf = rb,
                     .rcounts = rcs, .rdispls = rds, .rtype = rt), ALLTOALLV, comm, NULL, false,
                "MPI_Alltoallv");
}

int MPI_Ialltoallv(const void *sb, const int scs[], const int sds[], MPI_Datatype st, void *rb,
                   const int rcs[], const int rds[], MPI_Datatype rt, MPI_Comm comm,
                   MPI_Request *req)
{
    return move(ARGS(.sbuf = sb, .scounts = scs, .sdispls = sds, .stype = st, .rbuf = rb,
                     .rcounts = rcs, .rdispls = rds, .rtype = rt), ALLTOALLV, comm, req, true,
                "MPI_Ialltoallv");
}
