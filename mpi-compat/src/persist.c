/* persist.c - persistent requests (MPI-3.1 3.9): MPI_Send_init, MPI_Ssend_init and MPI_Recv_init
 * make a request that holds a send's or receive's arguments and does nothing yet; MPI_Start and
 * MPI_Startall start it; the Wait/Test family completes it and leaves it inactive, its handle
 * kept, ready to be started again; MPI_Request_free ends it.
 *
 * A persistent request is a handle around an ordinary one: each start makes the send or receive
 * MPI_Isend, MPI_Issend or MPI_Irecv would make (mpix_p2p_isend/irecv) and keeps it as INNER, and
 * mpix_request_test takes INNER's outcome over once it completes (request.c). So a persistent
 * operation goes through the same matching, fabric, cancel and error paths as a non-blocking
 * one. Arguments are checked when the request is made, as the non-blocking call checks them, and
 * the request holds them as that call's request does (mpix_p2p_request): the datatype too, until
 * the request is freed, so MPI_Type_free meanwhile is safe. Starting a
 * request that is null, not persistent or active is refused with MPI_ERR_REQUEST, as is a request
 * twice in one MPI_Startall (MPICH starts it twice); as in MPICH, a NULL pointer is MPI_ERR_ARG
 * and a negative count MPI_ERR_COUNT. */
#include "core.h"
#include "dt.h"

static int make(const char *fn, enum mpix_request_kind kind, bool sync, const void *sendbuf,
                void *recvbuf, int count, MPI_Datatype dt, int peer, int tag, MPI_Comm comm,
                MPI_Request *request)
{
    int rc = mpix_p2p_check(fn, comm, count, dt, peer, tag, kind == MPIX_REQ_RECV);
    if (rc == MPI_SUCCESS && !request)
        rc = mpix_err(comm, MPI_ERR_REQUEST, "%s: request is NULL", fn);
    if (rc != MPI_SUCCESS)
        return rc;
    struct mpix_request *r = mpix_p2p_request(kind, comm, sendbuf, recvbuf, count, dt, peer, tag);
    if (!r)
        return mpix_err(comm, MPI_ERR_NO_MEM, "%s: out of memory", fn);
    r->persistent = true;
    r->sync = sync;
    mpix_status_empty(&r->status);
    *request = r;
    return MPI_SUCCESS;
}

int MPI_Send_init(const void *buf, int count, MPI_Datatype datatype, int dest, int tag,
                  MPI_Comm comm, MPI_Request *request)
{
    return make("MPI_Send_init", MPIX_REQ_SEND, false, buf, NULL, count, datatype, dest, tag,
                comm, request);
}

int MPI_Ssend_init(const void *buf, int count, MPI_Datatype datatype, int dest, int tag,
                   MPI_Comm comm, MPI_Request *request)
{
    return make("MPI_Ssend_init", MPIX_REQ_SEND, true, buf, NULL, count, datatype, dest, tag,
                comm, request);
}

int MPI_Recv_init(void *buf, int count, MPI_Datatype datatype, int source, int tag,
                  MPI_Comm comm, MPI_Request *request)
{
    return make("MPI_Recv_init", MPIX_REQ_RECV, false, NULL, buf, count, datatype, source, tag,
                comm, request);
}

/* MPI_SUCCESS when R may be started, else the error (MPI_ERR_REQUEST) naming FN. */
static int startable(struct mpix_request *r, const char *fn)
{
    if (!r)
        return mpix_err(MPI_COMM_WORLD, MPI_ERR_REQUEST, "%s: the request is MPI_REQUEST_NULL",
                        fn);
    if (!r->persistent)
        return mpix_err(r->comm, MPI_ERR_REQUEST, "%s: the request is not persistent (only "
                        "MPI_Send_init, MPI_Ssend_init and MPI_Recv_init make one)", fn);
    if (r->active)
        return mpix_err(r->comm, MPI_ERR_REQUEST, "%s: the request is active already (started "
                        "and not yet completed by a Wait or Test)", fn);
    return MPI_SUCCESS;
}

/* Starts checked R: its operation, made as the non-blocking call makes it, becomes R's INNER. */
static int start(struct mpix_request *r)
{
    int rc = r->kind == MPIX_REQ_RECV
        ? mpix_p2p_irecv(r->buf, r->count, r->dt, r->peer, r->tag, r->comm, &r->inner)
        : mpix_p2p_isend(r->data, r->count, r->dt, r->peer, r->tag, r->comm, r->sync, &r->inner);
    if (rc != MPI_SUCCESS) {
        r->inner = NULL;
        return rc;
    }
    r->active = true;
    return MPI_SUCCESS;
}

int MPI_Start(MPI_Request *request)
{
    mpix_check_init("MPI_Start");
    if (!request)
        return mpix_err(MPI_COMM_WORLD, MPI_ERR_ARG, "MPI_Start: request is NULL");
    int rc = startable(*request, "MPI_Start");
    return rc == MPI_SUCCESS ? start(*request) : rc;
}

/* Every request is checked (a request twice in the array is refused) before any is started. */
static int startall_check(int count, MPI_Request reqs[])
{
    int rc = MPI_SUCCESS, i;

    for (i = 0; i < count && rc == MPI_SUCCESS; i++) {
        rc = startable(reqs[i], "MPI_Startall");
        if (rc == MPI_SUCCESS && reqs[i]->starting)
            rc = mpix_err(reqs[i]->comm, MPI_ERR_REQUEST, "MPI_Startall: request %d is in the "
                          "array twice", i);
        else if (rc == MPI_SUCCESS)
            reqs[i]->starting = true;
    }
    for (int j = 0; j < i; j++)
        if (reqs[j])
            reqs[j]->starting = false;
    return rc;
}

int MPI_Startall(int count, MPI_Request reqs[])
{
    mpix_check_init("MPI_Startall");
    if (count < 0)
        return mpix_err(MPI_COMM_WORLD, MPI_ERR_COUNT, "MPI_Startall: count %d is negative", count);
    if (count > 0 && !reqs)
        return mpix_err(MPI_COMM_WORLD, MPI_ERR_ARG, "MPI_Startall: the request array is NULL");
    int rc = startall_check(count, reqs);
    for (int i = 0; i < count && rc == MPI_SUCCESS; i++)
        rc = start(reqs[i]);
    return rc;
}
