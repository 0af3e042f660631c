/* wait.c - the Wait and Test families: completing requests, one, all, any or some of them.
 *
 * Waits sleep: each turn that finds nothing done drives the fabric with mpix_progress(), which
 * blocks on the mRPC context's event fd until something arrives (or WAIT_MS passes, to look at
 * generalized requests again). A request that completed is released and its handle set to
 * MPI_REQUEST_NULL (a persistent one is left inactive, its handle kept); null handles and
 * persistent requests not started are inactive and skipped, as MPI says. The library's own
 * blocking calls (MPI_Send, MPI_Recv, the barrier of MPI_Finalize...) wait with mpix_wait, so an
 * error names the call the user made, not MPI_Wait. */
#include "core.h"

#include <stdio.h>
#include <stdlib.h>

#define WAIT_MS 500

/* Completes *RP: its status into STATUS, its error raised on its communicator's handler. */
static int finish(MPI_Request *rp, MPI_Status *status, const char *fn)
{
    MPI_Comm c = (*rp)->comm;
    char why[sizeof (*rp)->why];
    mpix_text_copy(why, sizeof why, (*rp)->why[0] ? (*rp)->why : "the request failed");
    mpix_comm_retain(c);
    int err = mpix_request_finish(rp, status);
    int rc = err == MPI_SUCCESS ? MPI_SUCCESS : mpix_err(c, err, "%s: %s", fn, why);
    mpix_comm_release(c);
    return rc;
}

static int check_array(int count, MPI_Request reqs[], const char *fn)
{
    mpix_check_init(fn);
    if (count < 0 || (count > 0 && !reqs))
        return mpix_err(MPI_COMM_WORLD, MPI_ERR_ARG, "%s: count %d is negative or the request "
                        "array is NULL", fn, count);
    return MPI_SUCCESS;
}

int mpix_wait(MPI_Request *rp, MPI_Status *status, const char *fn)
{
    if (!mpix_request_active(*rp)) {
        mpix_status_empty(status);
        return MPI_SUCCESS;
    }
    while (!mpix_request_test(*rp))
        mpix_progress(WAIT_MS);
    return finish(rp, status, fn);
}

int MPI_Wait(MPI_Request *request, MPI_Status *status)
{
    mpix_check_init("MPI_Wait");
    if (!request)
        return mpix_err(MPI_COMM_WORLD, MPI_ERR_REQUEST, "MPI_Wait: request is NULL");
    return mpix_wait(request, status, "MPI_Wait");
}

int MPI_Test(MPI_Request *request, int *flag, MPI_Status *status)
{
    mpix_check_init("MPI_Test");
    if (!request || !flag)
        return mpix_err(MPI_COMM_WORLD, MPI_ERR_REQUEST, "MPI_Test: request or flag is NULL");
    *flag = 1;
    if (!mpix_request_active(*request)) {
        mpix_status_empty(status);
        return MPI_SUCCESS;
    }
    if (!mpix_request_test(*request))
        mpix_progress(0);
    if (!(*flag = mpix_request_test(*request)))
        return MPI_SUCCESS;
    return finish(request, status, "MPI_Test");
}

/* The first request of an array that failed: its communicator (a reference) and why. */
struct failure {
    MPI_Comm comm;
    char     why[sizeof ((struct mpix_request *)0)->why];
};

static void failure_note(struct failure *f, struct mpix_request *r)
{
    if (f->comm)
        return;
    f->comm = r->comm;
    mpix_comm_retain(f->comm);
    mpix_text_copy(f->why, sizeof f->why, r->why[0] ? r->why : "a request failed");
}

/* MPI_ERR_IN_STATUS raised on the communicator of the first request that failed. */
static int failure_raise(struct failure *f, const char *fn)
{
    if (!f->comm)
        return MPI_SUCCESS;
    int rc = mpix_err(f->comm, MPI_ERR_IN_STATUS, "%s: %s", fn, f->why);
    mpix_comm_release(f->comm);
    return rc;
}

/* Finishes every done request of REQS (status i into STATUSES[i]); *N_DONE counts them, and
 * INDICES (may be NULL) gets their indices. The first failure is noted in F. */
static void finish_done(int count, MPI_Request reqs[], MPI_Status statuses[], int *n_done,
                        int indices[], struct failure *f)
{
    int out = 0;

    for (int i = 0; i < count; i++) {
        if (!mpix_request_active(reqs[i]) || !mpix_request_test(reqs[i]))
            continue;
        MPI_Status *st = statuses ? &statuses[indices ? out : i] : NULL;
        if (reqs[i]->status.MPI_ERROR != MPI_SUCCESS)
            failure_note(f, reqs[i]);
        int err = mpix_request_finish(&reqs[i], st);
        if (st)
            st->MPI_ERROR = err;
        if (indices)
            indices[out] = i;
        out++;
    }
    *n_done = out;
}

static int active(int count, MPI_Request reqs[])
{
    int n = 0;
    for (int i = 0; i < count; i++)
        n += mpix_request_active(reqs[i]);
    return n;
}

static bool all_done(int count, MPI_Request reqs[])
{
    for (int i = 0; i < count; i++)
        if (mpix_request_active(reqs[i]) && !mpix_request_test(reqs[i]))
            return false;
    return true;
}

/* Inactive entries of an all-completed array get empty statuses. */
static void empty_statuses(int count, MPI_Request reqs[], MPI_Status statuses[])
{
    for (int i = 0; statuses && i < count; i++)
        if (!mpix_request_active(reqs[i]))
            mpix_status_empty(&statuses[i]);
}

int MPI_Waitall(int count, MPI_Request reqs[], MPI_Status statuses[])
{
    int rc = check_array(count, reqs, "MPI_Waitall"), n;
    if (rc != MPI_SUCCESS)
        return rc;
    while (!all_done(count, reqs))
        mpix_progress(WAIT_MS);
    struct failure f = { 0 };
    empty_statuses(count, reqs, statuses);
    finish_done(count, reqs, statuses, &n, NULL, &f);
    return failure_raise(&f, "MPI_Waitall");
}

int MPI_Testall(int count, MPI_Request reqs[], int *flag, MPI_Status statuses[])
{
    int rc = check_array(count, reqs, "MPI_Testall"), n;
    if (rc == MPI_SUCCESS && !flag)
        rc = mpix_err(MPI_COMM_WORLD, MPI_ERR_ARG, "MPI_Testall: flag is NULL");
    if (rc != MPI_SUCCESS)
        return rc;
    if (!all_done(count, reqs))
        mpix_progress(0);
    if (!(*flag = all_done(count, reqs)))
        return MPI_SUCCESS;
    struct failure f = { 0 };
    empty_statuses(count, reqs, statuses);
    finish_done(count, reqs, statuses, &n, NULL, &f);
    return failure_raise(&f, "MPI_Testall");
}

/* The index of the first done request of REQS, or -1. */
static int first_done(int count, MPI_Request reqs[])
{
    for (int i = 0; i < count; i++)
        if (mpix_request_active(reqs[i]) && mpix_request_test(reqs[i]))
            return i;
    return -1;
}

static int any(int count, MPI_Request reqs[], int *indx, int *flag, MPI_Status *status,
               bool block, const char *fn)
{
    int rc = check_array(count, reqs, fn), i;
    if (rc == MPI_SUCCESS && (!indx || !flag))
        rc = mpix_err(MPI_COMM_WORLD, MPI_ERR_ARG, "%s: index or flag is NULL", fn);
    if (rc != MPI_SUCCESS)
        return rc;
    *flag = 1;
    *indx = MPI_UNDEFINED;
    if (!active(count, reqs)) {
        mpix_status_empty(status);
        return MPI_SUCCESS;
    }
    if ((i = first_done(count, reqs)) < 0)
        mpix_progress(0);
    while ((i = first_done(count, reqs)) < 0 && block)
        mpix_progress(WAIT_MS);
    if (i < 0) {
        *flag = 0;
        return MPI_SUCCESS;
    }
    *indx = i;
    return finish(&reqs[i], status, fn);
}

int MPI_Waitany(int count, MPI_Request reqs[], int *indx, MPI_Status *status)
{
    int flag;
    return any(count, reqs, indx, &flag, status, true, "MPI_Waitany");
}

int MPI_Testany(int count, MPI_Request reqs[], int *indx, int *flag, MPI_Status *status)
{
    return any(count, reqs, indx, flag, status, false, "MPI_Testany");
}

static int some(int incount, MPI_Request reqs[], int *outcount, int indices[],
                MPI_Status statuses[], bool block, const char *fn)
{
    int rc = check_array(incount, reqs, fn);
    if (rc == MPI_SUCCESS && (!outcount || (incount > 0 && !indices)))
        rc = mpix_err(MPI_COMM_WORLD, MPI_ERR_ARG, "%s: outcount or indices is NULL", fn);
    if (rc != MPI_SUCCESS)
        return rc;
    if (!active(incount, reqs)) {
        *outcount = MPI_UNDEFINED;
        return MPI_SUCCESS;
    }
    if (first_done(incount, reqs) < 0)
        mpix_progress(0);
    while (block && first_done(incount, reqs) < 0)
        mpix_progress(WAIT_MS);
    struct failure f = { 0 };
    finish_done(incount, reqs, statuses, outcount, indices, &f);
    return failure_raise(&f, fn);
}

int MPI_Waitsome(int incount, MPI_Request reqs[], int *outcount, int indices[],
                 MPI_Status statuses[])
{
    return some(incount, reqs, outcount, indices, statuses, true, "MPI_Waitsome");
}

int MPI_Testsome(int incount, MPI_Request reqs[], int *outcount, int indices[],
                 MPI_Status statuses[])
{
    return some(incount, reqs, outcount, indices, statuses, false, "MPI_Testsome");
}
