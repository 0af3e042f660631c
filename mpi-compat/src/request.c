/* request.c - requests: the pending operations MPI_Isend, MPI_Irecv and the non-blocking
 * collectives (generalized requests, driven by their schedule's progress function) hand out, and
 * what MPI_Request_free, MPI_Cancel and MPI_Test_cancelled do to them. The Wait/Test family is
 * wait.c; what completes point-to-point requests is p2p.c and match.c. A persistent request
 * (persist.c) wraps the ordinary request of its current start: it completes when that one does,
 * taking its outcome over, and a Wait or Test leaves it inactive rather than releasing it. */
#include "core.h"
#include "dt.h"

#include <stdlib.h>

unsigned long mpix_activity;

struct mpix_request *mpix_request_new(enum mpix_request_kind kind, MPI_Comm comm)
{
    struct mpix_request *r = calloc(1, sizeof(*r));

    if (!r)
        return NULL;
    r->kind = kind;
    r->comm = comm;
    mpix_comm_retain(comm);
    return r;
}

void mpix_status_empty(MPI_Status *status)
{
    if (status)
        *status = (MPI_Status){ .MPI_SOURCE = MPI_ANY_SOURCE, .MPI_TAG = MPI_ANY_TAG };
}

void mpix_request_release(struct mpix_request *r)
{
    if (r->kind == MPIX_REQ_GENERALIZED && r->free_fn)
        r->free_fn(r->state);
    if (r->dt)                          /* a send's or receive's (mpix_p2p_request) */
        mpix_dt_release(r->dt);
    free(r->packed);
    mpix_comm_release(r->comm);
    free(r);
}

void mpix_request_complete(struct mpix_request *r)
{
    r->done = true;
    mpix_activity++;
    if (r->freed)
        mpix_request_release(r);
}

bool mpix_request_active(const struct mpix_request *r)
{
    return r && (!r->persistent || r->active);
}

/* A started persistent request is done when the request of its start is: that one's outcome
 * becomes R's, and it is released. */
static bool persistent_test(struct mpix_request *r)
{
    if (!r->done && r->inner && mpix_request_test(r->inner)) {
        r->status = r->inner->status;
        mpix_text_copy(r->why, sizeof r->why, r->inner->why);
        mpix_request_release(r->inner);
        r->inner = NULL;
        r->done = true;
    }
    return r->done;
}

bool mpix_request_test(struct mpix_request *r)
{
    if (r->persistent)
        return persistent_test(r);
    if (!r->done && r->kind == MPIX_REQ_GENERALIZED) {
        int err = MPI_SUCCESS;
        if (r->progress(r->state, &err)) {
            r->status.MPI_ERROR = err;
            r->done = true;
            mpix_activity++;
        }
    }
    return r->done;
}

int mpix_request_finish(MPI_Request *rp, MPI_Status *status)
{
    struct mpix_request *r = *rp;
    int err = r->status.MPI_ERROR;

    if (status) {
        *status = r->status;
        if (r->kind != MPIX_REQ_RECV) {     /* a send's status names no message */
            status->MPI_SOURCE = MPI_ANY_SOURCE;
            status->MPI_TAG = MPI_ANY_TAG;
            status->mpix_bytes = 0;
        }
    }
    if (r->persistent) {                /* inactive again, ready for the next MPI_Start */
        r->done = r->active = false;
        r->why[0] = '\0';
        mpix_status_empty(&r->status);
        return err;
    }
    mpix_request_release(r);
    *rp = MPI_REQUEST_NULL;
    return err;
}

int mpix_request_generalized(int (*progress)(void *state, int *err), void (*free_fn)(void *),
                             void *state, MPI_Comm comm, MPI_Request *req)
{
    struct mpix_request *r;

    if (!progress || !req || !(r = mpix_request_new(MPIX_REQ_GENERALIZED, comm)))
        return mpix_err(comm, !progress || !req ? MPI_ERR_ARG : MPI_ERR_NO_MEM,
                        "cannot start a non-blocking collective: %s",
                        !progress || !req ? "no progress function or request" : "out of memory");
    r->progress = progress;
    r->free_fn = free_fn;
    r->state = state;
    mpix_status_empty(&r->status);
    *req = r;
    return MPI_SUCCESS;
}

/* A persistent request goes at once; the operation of its current start, if any, goes on and is
 * released when it completes. */
static void persistent_free(struct mpix_request *r)
{
    if (r->inner && r->inner->done)
        mpix_request_release(r->inner);
    else if (r->inner)
        r->inner->freed = true;
    mpix_request_release(r);
}

/* A pending request is released when it completes; a generalized one has nobody left to drive
 * it, so it is driven to its end here. */
int MPI_Request_free(MPI_Request *request)
{
    mpix_check_init("MPI_Request_free");
    if (!request || !*request)
        return mpix_err(MPI_COMM_WORLD, MPI_ERR_REQUEST, "MPI_Request_free: the request is "
                        "MPI_REQUEST_NULL");
    struct mpix_request *r = *request;
    *request = MPI_REQUEST_NULL;
    if (r->persistent) {
        persistent_free(r);
        return MPI_SUCCESS;
    }
    while (r->kind == MPIX_REQ_GENERALIZED && !mpix_request_test(r))
        mpix_progress(100);
    if (r->done)
        mpix_request_release(r);
    else
        r->freed = true;
    return MPI_SUCCESS;
}

/* A receive no message matched yet is withdrawn and completes as cancelled; a send is taken back
 * when it can be (mpix_p2p_cancel), else completes normally; collectives cannot be cancelled. */
int MPI_Cancel(MPI_Request *request)
{
    mpix_check_init("MPI_Cancel");
    if (!request || !*request)
        return mpix_err(MPI_COMM_WORLD, MPI_ERR_REQUEST, "MPI_Cancel: the request is "
                        "MPI_REQUEST_NULL");
    struct mpix_request *r = *request;
    if (r->persistent && !r->active)    /* as MPICH says */
        return mpix_err(r->comm, MPI_ERR_REQUEST, "MPI_Cancel: the persistent request is not "
                        "active (MPI_Start it first)");
    if (r->persistent)                  /* the operation of its current start, if not done */
        return r->inner ? MPI_Cancel(&r->inner) : MPI_SUCCESS;
    if (r->kind == MPIX_REQ_GENERALIZED)
        return mpix_err(r->comm, MPI_ERR_REQUEST, "MPI_Cancel: a non-blocking collective cannot "
                        "be cancelled");
    if (r->kind == MPIX_REQ_SEND)
        mpix_p2p_cancel(r);
    else if (!r->done && mpix_match_cancel(r)) {
        r->status = (MPI_Status){ .MPI_SOURCE = MPI_ANY_SOURCE, .MPI_TAG = MPI_ANY_TAG,
                                  .mpix_cancelled = 1 };
        mpix_request_complete(r);
    }
    return MPI_SUCCESS;
}

int MPI_Test_cancelled(const MPI_Status *status, int *flag)
{
    mpix_check_init("MPI_Test_cancelled");
    if (!status || !flag)
        return mpix_err(MPI_COMM_WORLD, MPI_ERR_ARG, "MPI_Test_cancelled: status or flag is NULL");
    *flag = status->mpix_cancelled != 0;
    return MPI_SUCCESS;
}
