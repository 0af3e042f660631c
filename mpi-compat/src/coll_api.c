/* coll_api.c - the collectives' MPI_ functions, blocking and non-blocking: each checks its
 * arguments (coll_check.c), builds the collective's schedule (coll_*.c) and either waits for it
 * (MPI_Bcast...) or hands it out as a request (MPI_Ibcast...). Both forms share one function per
 * collective; NB says which, REQ is the non-blocking form's request. */
#include "coll_check.h"
#include "dt.h"
#include "op.h"

#include <stdlib.h>

static struct coll_sched *sched(MPI_Comm comm, MPI_Datatype t1, MPI_Datatype t2, MPI_Op op)
{
    struct coll_sched *s = coll_sched_new(comm);
    if (s) {
        coll_hold_dt(s, t1);
        if (t2 != t1)
            coll_hold_dt(s, t2);
        coll_hold_op(s, op);
    }
    return s;
}

static int barrier(MPI_Comm comm, MPI_Request *req, bool nb, const char *fn)
{
    TRY(coll_check_comm(comm, req, nb, fn));
    struct coll_sched *s = sched(comm, NULL, NULL, NULL);
    if (s)
        coll_barrier(s);
    return coll_go(s, req, nb, fn);
}

int MPI_Barrier(MPI_Comm comm) { return barrier(comm, NULL, false, "MPI_Barrier"); }
int MPI_Ibarrier(MPI_Comm comm, MPI_Request *req) { return barrier(comm, req, true, "MPI_Ibarrier"); }

static int bcast(void *buf, int count, MPI_Datatype dt, int root, MPI_Comm comm,
                 MPI_Request *req, bool nb, const char *fn)
{
    TRY(coll_check_comm(comm, req, nb, fn));
    TRY(coll_check_root(comm, root, fn));
    TRY(coll_check_data(comm, count, dt, "message", fn));
    TRY(coll_check_not_in_place(comm, buf, "message", fn));
    struct coll_sched *s = sched(comm, dt, dt, NULL);
    if (s)
        coll_bcast(s, buf, count, dt, root);
    return coll_go(s, req, nb, fn);
}

int MPI_Bcast(void *buf, int count, MPI_Datatype dt, int root, MPI_Comm comm)
{
    return bcast(buf, count, dt, root, comm, NULL, false, "MPI_Bcast");
}

int MPI_Ibcast(void *buf, int count, MPI_Datatype dt, int root, MPI_Comm comm, MPI_Request *req)
{
    return bcast(buf, count, dt, root, comm, req, true, "MPI_Ibcast");
}

/* Checks shared by the reductions: communicator, count, type, op, and where IN_PLACE may go. */
static int reduce_checks(const void *send, const void *recv, int count, MPI_Datatype dt,
                         MPI_Op op, MPI_Comm comm, MPI_Request *req, bool nb, bool send_in_place,
                         const char *fn)
{
    TRY(coll_check_comm(comm, req, nb, fn));
    TRY(coll_check_data(comm, count, dt, "reduction", fn));
    TRY(coll_check_op(comm, op, dt, fn));
    if (!send_in_place)
        TRY(coll_check_not_in_place(comm, send, "send", fn));
    return coll_check_not_in_place(comm, recv, "receive", fn);
}

static int reduce(const void *send, void *recv, int count, MPI_Datatype dt, MPI_Op op, int root,
                  MPI_Comm comm, MPI_Request *req, bool nb, const char *fn)
{
    TRY(coll_check_comm(comm, req, nb, fn));
    TRY(coll_check_root(comm, root, fn));
    bool root_me = mpix_comm_rank(comm) == root;
    TRY(reduce_checks(send, root_me ? recv : NULL, count, dt, op, comm, req, nb, root_me, fn));
    struct coll_sched *s = sched(comm, dt, dt, op);
    if (s)
        coll_reduce_to(s, send, recv, count, dt, op, root);
    return coll_go(s, req, nb, fn);
}

int MPI_Reduce(const void *send, void *recv, int count, MPI_Datatype dt, MPI_Op op, int root,
               MPI_Comm comm)
{
    return reduce(send, recv, count, dt, op, root, comm, NULL, false, "MPI_Reduce");
}

int MPI_Ireduce(const void *send, void *recv, int count, MPI_Datatype dt, MPI_Op op, int root,
                MPI_Comm comm, MPI_Request *req)
{
    return reduce(send, recv, count, dt, op, root, comm, req, true, "MPI_Ireduce");
}

static int allreduce(const void *send, void *recv, int count, MPI_Datatype dt, MPI_Op op,
                     MPI_Comm comm, MPI_Request *req, bool nb, const char *fn)
{
    TRY(reduce_checks(send, recv, count, dt, op, comm, req, nb, true, fn));
    struct coll_sched *s = sched(comm, dt, dt, op);
    if (s)
        coll_allreduce(s, send, recv, count, dt, op);
    return coll_go(s, req, nb, fn);
}

int MPI_Allreduce(const void *send, void *recv, int count, MPI_Datatype dt, MPI_Op op,
                  MPI_Comm comm)
{
    return allreduce(send, recv, count, dt, op, comm, NULL, false, "MPI_Allreduce");
}

int MPI_Iallreduce(const void *send, void *recv, int count, MPI_Datatype dt, MPI_Op op,
                   MPI_Comm comm, MPI_Request *req)
{
    return allreduce(send, recv, count, dt, op, comm, req, true, "MPI_Iallreduce");
}

static int reduce_scatter(const void *send, void *recv, const int counts[], int block,
                          MPI_Datatype dt, MPI_Op op, MPI_Comm comm, MPI_Request *req, bool nb,
                          const char *fn)
{
    TRY(coll_check_comm(comm, req, nb, fn));
    int size = mpix_comm_size(comm);
    if (!counts)
        TRY(coll_check_data(comm, block, dt, "receive", fn));
    else
        TRY(coll_check_counts(comm, counts, counts, dt, "receive", fn));
    TRY(reduce_checks(send, recv, 0, dt, op, comm, req, nb, true, fn));
    struct coll_sched *s = sched(comm, dt, dt, op);
    int *all = s && !counts ? coll_tmp(s, sizeof(int) * (size_t)size) : NULL;
    for (int i = 0; all && i < size; i++)
        all[i] = block;
    if (s && (counts || all))
        coll_reduce_scatter(s, send, recv, counts ? counts : all, dt, op);
    return coll_go(s, req, nb, fn);
}

int MPI_Reduce_scatter(const void *send, void *recv, const int counts[], MPI_Datatype dt,
                       MPI_Op op, MPI_Comm comm)
{
    return reduce_scatter(send, recv, counts, 0, dt, op, comm, NULL, false, "MPI_Reduce_scatter");
}

int MPI_Ireduce_scatter(const void *send, void *recv, const int counts[], MPI_Datatype dt,
                        MPI_Op op, MPI_Comm comm, MPI_Request *req)
{
    return reduce_scatter(send, recv, counts, 0, dt, op, comm, req, true, "MPI_Ireduce_scatter");
}

int MPI_Reduce_scatter_block(const void *send, void *recv, int count, MPI_Datatype dt, MPI_Op op,
                             MPI_Comm comm)
{
    return reduce_scatter(send, recv, NULL, count, dt, op, comm, NULL, false,
                          "MPI_Reduce_scatter_block");
}

int MPI_Ireduce_scatter_block(const void *send, void *recv, int count, MPI_Datatype dt,
                              MPI_Op op, MPI_Comm comm, MPI_Request *req)
{
    return reduce_scatter(send, recv, NULL, count, dt, op, comm, req, true,
                          "MPI_Ireduce_scatter_block");
}

static int scan(const void *send, void *recv, int count, MPI_Datatype dt, MPI_Op op,
                MPI_Comm comm, MPI_Request *req, bool nb, bool exclusive, const char *fn)
{
    TRY(reduce_checks(send, recv, count, dt, op, comm, req, nb, true, fn));
    struct coll_sched *s = sched(comm, dt, dt, op);
    if (s)
        coll_scan(s, send, recv, count, dt, op, exclusive);
    return coll_go(s, req, nb, fn);
}

int MPI_Scan(const void *send, void *recv, int count, MPI_Datatype dt, MPI_Op op, MPI_Comm comm)
{
    return scan(send, recv, count, dt, op, comm, NULL, false, false, "MPI_Scan");
}

int MPI_Iscan(const void *send, void *recv, int count, MPI_Datatype dt, MPI_Op op, MPI_Comm comm,
              MPI_Request *req)
{
    return scan(send, recv, count, dt, op, comm, req, true, false, "MPI_Iscan");
}

int MPI_Exscan(const void *send, void *recv, int count, MPI_Datatype dt, MPI_Op op, MPI_Comm comm)
{
    return scan(send, recv, count, dt, op, comm, NULL, false, true, "MPI_Exscan");
}

int MPI_Iexscan(const void *send, void *recv, int count, MPI_Datatype dt, MPI_Op op,
                MPI_Comm comm, MPI_Request *req)
{
    return scan(send, recv, count, dt, op, comm, req, true, true, "MPI_Iexscan");
}
