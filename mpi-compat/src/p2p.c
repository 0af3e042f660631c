/* p2p.c - point to point: MPI_Send and its kin, MPI_Recv and its kin, probes, MPI_Get_count,
 * and the collectives' own sends and receives (mpix_coll_isend/irecv, in the collective context).
 *
 * Every send is a request whose packed bytes (the user's buffer itself when the datatype lays
 * them out as one block, else a packed copy) go to the fabric, or, to this rank, straight to
 * matching. A send completes when the user's buffer is free again: a message of one piece
 * (4 MiB; 256 KiB to a rank of this node, fabric.c) once it is copied into the send heap, a
 * larger one when every piece has landed at the receiver (in the receive it matched, or
 * buffered there); a synchronous one also waits for the receiver's word that a receive matched
 * it. Receives are matched in match.c. Every send's and
 * receive's request is made by mpix_p2p_request, also a persistent one's (persist.c), whose
 * starts go through mpix_p2p_isend/irecv. */
#include "core.h"
#include "dt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Synchronous sends waiting for their acknowledgement, by id. */
static struct mpix_request **awaiting;
static size_t n_awaiting, cap_awaiting;
static uint64_t last_sync_id;

/* ---- checking arguments --------------------------------------------------------------------- */

/* COUNT elements of DT in COMM to/from PEER with TAG; RECV allows the ANY_ wildcards, COLL is
 * the collective context (any tag). */
static int check_args(const char *fn, MPI_Comm comm, int count, MPI_Datatype dt, int peer,
                      int tag, bool recv, bool coll)
{
    mpix_check_init(fn);
    if (mpix_comm_check(comm) != MPI_SUCCESS)
        return mpix_err(comm, MPI_ERR_COMM, "%s: the communicator is MPI_COMM_NULL, freed or no "
                        "communicator", fn);
    if (count < 0)
        return mpix_err(comm, MPI_ERR_COUNT, "%s: count %d is negative", fn, count);
    if (mpix_dt_check(dt) != MPI_SUCCESS)
        return mpix_err(comm, MPI_ERR_TYPE, "%s: the datatype is null, freed or not committed", fn);
    if (peer != MPI_PROC_NULL && !(recv && peer == MPI_ANY_SOURCE) && (peer < 0 || peer >= comm->size))
        return mpix_err(comm, MPI_ERR_RANK, "%s: rank %d is not in the communicator (0..%d%s)",
                        fn, peer, comm->size - 1, recv ? ", MPI_ANY_SOURCE or MPI_PROC_NULL" :
                        " or MPI_PROC_NULL");
    if (!coll && !(recv && tag == MPI_ANY_TAG) && (tag < 0 || tag > MPI_TAG_UB_VALUE))
        return mpix_err(comm, MPI_ERR_TAG, "%s: tag %d is not 0..%d%s", fn, tag, MPI_TAG_UB_VALUE,
                        recv ? " or MPI_ANY_TAG" : "");
    return MPI_SUCCESS;
}

/* ---- the request of a send or receive ------------------------------------------------------- */

struct mpix_request *mpix_p2p_request(enum mpix_request_kind kind, MPI_Comm comm,
                                      const void *sendbuf, void *recvbuf, int count,
                                      MPI_Datatype dt, int peer, int tag)
{
    struct mpix_request *r = mpix_request_new(kind, comm);

    if (!r)
        return NULL;
    mpix_dt_retain(dt);
    r->data = sendbuf;
    r->buf = recvbuf;
    r->count = count;
    r->dt = dt;
    r->peer = peer;
    r->tag = tag;
    return r;
}

/* ---- sends ---------------------------------------------------------------------------------- */

static void await_ack(struct mpix_request *r)
{
    if (n_awaiting == cap_awaiting) {
        size_t cap = cap_awaiting ? 2 * cap_awaiting : 16;
        struct mpix_request **a = realloc(awaiting, cap * sizeof(*a));
        if (!a)
            mpix_die(MPI_ERR_NO_MEM);
        awaiting = a;
        cap_awaiting = cap;
    }
    r->id = ++last_sync_id;
    awaiting[n_awaiting++] = r;
}

static void maybe_done(struct mpix_request *r)
{
    if (r->delivered && (!r->sync || r->acked || r->status.MPI_ERROR))
        mpix_request_complete(r);
}

void mpix_p2p_acked(uint64_t id)
{
    for (size_t i = 0; i < n_awaiting; i++)
        if (awaiting[i]->id == id) {
            struct mpix_request *r = awaiting[i];
            awaiting[i] = awaiting[--n_awaiting];
            r->acked = true;
            maybe_done(r);
            return;
        }
}

/* R waits for no acknowledgement any more. */
static void forget_ack(struct mpix_request *r)
{
    for (size_t i = 0; r->sync && i < n_awaiting; i++)
        if (awaiting[i] == r)
            awaiting[i] = awaiting[--n_awaiting];
}

void mpix_p2p_delivered(struct mpix_request *r, int err)
{
    r->delivered = true;
    if (err != MPI_SUCCESS) {
        r->status.MPI_ERROR = err;
        forget_ack(r);
    }
    maybe_done(r);
}

/* R was withdrawn before any receive matched it: done, and MPI_Test_cancelled says so. */
static void cancelled(struct mpix_request *r)
{
    forget_ack(r);
    r->status = (MPI_Status){ .MPI_SOURCE = MPI_ANY_SOURCE, .MPI_TAG = MPI_ANY_TAG,
                              .mpix_cancelled = 1 };
    r->acked = true;
    maybe_done(r);
}

void mpix_p2p_cancelled(uint64_t id)
{
    for (size_t i = 0; i < n_awaiting; i++)
        if (awaiting[i]->id == id) {
            cancelled(awaiting[i]);
            return;
        }
}

/* A send none of which went out is taken back; a synchronous one that went out is withdrawn
 * at the receiver if no receive took it; any other send completes as it would have (it needs no
 * receive to complete: its pieces are taken whether matched or not), and MPI_Test_cancelled
 * then says false, as MPI-3.1 3.8.4 allows. */
void mpix_p2p_cancel(struct mpix_request *r)
{
    if (r->done || r->status.MPI_ERROR)
        return;
    if (r->world_peer != mpix_env.world_rank && mpix_fabric_withdraw(r)) {
        r->delivered = true;
        cancelled(r);
    } else if (r->sync && !r->acked && r->world_peer == mpix_env.world_rank) {
        if (mpix_match_withdraw(r->world_peer, r->id))
            cancelled(r);
    } else if (r->sync && !r->acked) {
        mpix_fabric_cancel(r);
    }
}

/* R's bytes: the user's buffer when contiguous, else a packed copy. */
static int pack(struct mpix_request *r, const void *buf, int count, MPI_Datatype dt)
{
    MPI_Aint offset;

    r->bytes = (uint64_t)count * (uint64_t)mpix_dt_size(dt);
    if (mpix_dt_contig(dt, count, &offset)) {
        r->data = (const char *)buf + offset;
        return MPI_SUCCESS;
    }
    if (!(r->packed = malloc(r->bytes ? r->bytes : 1)))
        return MPI_ERR_NO_MEM;
    mpix_dt_pack(buf, count, dt, r->packed);
    r->data = r->packed;
    return MPI_SUCCESS;
}

/* To this rank: matching takes the whole message at once. */
static void send_self(struct mpix_request *r)
{
    struct mpix_envelope env = { .context = r->context, .source = r->comm->rank, .tag = r->tag,
                                 .world = mpix_env.world_rank, .total = r->bytes,
                                 .sync_id = r->sync ? r->id : 0 };
    mpix_match_arrive(&env, 0, r->data, (size_t)r->bytes);
    mpix_p2p_delivered(r, MPI_SUCCESS);
}

static int isend(const void *buf, int count, MPI_Datatype dt, int dest, int tag, MPI_Comm comm,
                 uint32_t context, bool sync, MPI_Request *req)
{
    struct mpix_request *r = mpix_p2p_request(MPIX_REQ_SEND, comm, buf, NULL, count, dt, dest, tag);

    if (!r || (dest != MPI_PROC_NULL && pack(r, buf, count, dt) != MPI_SUCCESS)) {
        if (r)
            mpix_request_release(r);
        return mpix_err(comm, MPI_ERR_NO_MEM, "a send of %d elements: out of memory", count);
    }
    *req = r;
    if (dest == MPI_PROC_NULL) {
        mpix_status_empty(&r->status);
        mpix_request_complete(r);
        return MPI_SUCCESS;
    }
    r->context = context;
    r->sync = sync;
    r->world_peer = comm->group->world[dest];
    if (sync)
        await_ack(r);
    if (r->world_peer == mpix_env.world_rank)
        send_self(r);
    else
        mpix_fabric_send(r);
    return MPI_SUCCESS;
}

int MPI_Isend(const void *buf, int count, MPI_Datatype datatype, int dest, int tag, MPI_Comm comm,
              MPI_Request *request)
{
    int rc = check_args("MPI_Isend", comm, count, datatype, dest, tag, false, false);
    if (rc == MPI_SUCCESS && !request)
        rc = mpix_err(comm, MPI_ERR_REQUEST, "MPI_Isend: request is NULL");
    return rc == MPI_SUCCESS ? isend(buf, count, datatype, dest, tag, comm, comm->context, false,
                                     request) : rc;
}

int MPI_Issend(const void *buf, int count, MPI_Datatype datatype, int dest, int tag,
               MPI_Comm comm, MPI_Request *request)
{
    int rc = check_args("MPI_Issend", comm, count, datatype, dest, tag, false, false);
    if (rc == MPI_SUCCESS && !request)
        rc = mpix_err(comm, MPI_ERR_REQUEST, "MPI_Issend: request is NULL");
    return rc == MPI_SUCCESS ? isend(buf, count, datatype, dest, tag, comm, comm->context, true,
                                     request) : rc;
}

int MPI_Send(const void *buf, int count, MPI_Datatype datatype, int dest, int tag, MPI_Comm comm)
{
    MPI_Request r;
    int rc = check_args("MPI_Send", comm, count, datatype, dest, tag, false, false);
    if (rc == MPI_SUCCESS)
        rc = isend(buf, count, datatype, dest, tag, comm, comm->context, false, &r);
    return rc == MPI_SUCCESS ? mpix_wait(&r, MPI_STATUS_IGNORE, "MPI_Send") : rc;
}

int MPI_Ssend(const void *buf, int count, MPI_Datatype datatype, int dest, int tag, MPI_Comm comm)
{
    MPI_Request r;
    int rc = check_args("MPI_Ssend", comm, count, datatype, dest, tag, false, false);
    if (rc == MPI_SUCCESS)
        rc = isend(buf, count, datatype, dest, tag, comm, comm->context, true, &r);
    return rc == MPI_SUCCESS ? mpix_wait(&r, MPI_STATUS_IGNORE, "MPI_Ssend") : rc;
}

int mpix_coll_isend(const void *buf, int count, MPI_Datatype dt, int dest, int tag,
                    MPI_Comm comm, MPI_Request *req)
{
    int rc = check_args("a collective's send", comm, count, dt, dest, tag, false, true);
    return rc == MPI_SUCCESS ? isend(buf, count, dt, dest, tag, comm, comm->context + 1, false, req)
                             : rc;
}

/* ---- receives ------------------------------------------------------------------------------- */

static int irecv(void *buf, int count, MPI_Datatype dt, int src, int tag, MPI_Comm comm,
                 uint32_t context, MPI_Request *req)
{
    struct mpix_request *r = mpix_p2p_request(MPIX_REQ_RECV, comm, NULL, buf, count, dt, src, tag);

    if (!r)
        return mpix_err(comm, MPI_ERR_NO_MEM, "a receive: out of memory");
    *req = r;
    if (src == MPI_PROC_NULL) {
        r->status = (MPI_Status){ .MPI_SOURCE = MPI_PROC_NULL, .MPI_TAG = MPI_ANY_TAG };
        mpix_request_complete(r);
        return MPI_SUCCESS;
    }
    r->context = context;
    mpix_match_post(r);
    return MPI_SUCCESS;
}

int MPI_Irecv(void *buf, int count, MPI_Datatype datatype, int source, int tag, MPI_Comm comm,
              MPI_Request *request)
{
    int rc = check_args("MPI_Irecv", comm, count, datatype, source, tag, true, false);
    if (rc == MPI_SUCCESS && !request)
        rc = mpix_err(comm, MPI_ERR_REQUEST, "MPI_Irecv: request is NULL");
    return rc == MPI_SUCCESS ? irecv(buf, count, datatype, source, tag, comm, comm->context,
                                     request) : rc;
}

int MPI_Recv(void *buf, int count, MPI_Datatype datatype, int source, int tag, MPI_Comm comm,
             MPI_Status *status)
{
    MPI_Request r;
    int rc = check_args("MPI_Recv", comm, count, datatype, source, tag, true, false);
    if (rc == MPI_SUCCESS)
        rc = irecv(buf, count, datatype, source, tag, comm, comm->context, &r);
    return rc == MPI_SUCCESS ? mpix_wait(&r, status, "MPI_Recv") : rc;
}

int mpix_coll_irecv(void *buf, int count, MPI_Datatype dt, int src, int tag,
                    MPI_Comm comm, MPI_Request *req)
{
    int rc = check_args("a collective's receive", comm, count, dt, src, tag, true, true);
    return rc == MPI_SUCCESS ? irecv(buf, count, dt, src, tag, comm, comm->context + 1, req) : rc;
}

/* ---- for persistent requests (persist.c) -------------------------------------------------- */

int mpix_p2p_check(const char *fn, MPI_Comm comm, int count, MPI_Datatype dt, int peer, int tag,
                   bool recv)
{
    return check_args(fn, comm, count, dt, peer, tag, recv, false);
}

int mpix_p2p_isend(const void *buf, int count, MPI_Datatype dt, int dest, int tag, MPI_Comm comm,
                   bool sync, MPI_Request *req)
{
    return isend(buf, count, dt, dest, tag, comm, comm->context, sync, req);
}

int mpix_p2p_irecv(void *buf, int count, MPI_Datatype dt, int src, int tag, MPI_Comm comm,
                   MPI_Request *req)
{
    return irecv(buf, count, dt, src, tag, comm, comm->context, req);
}

/* ---- both ----------------------------------------------------------------------------------- */

int MPI_Sendrecv(const void *sendbuf, int sendcount, MPI_Datatype sendtype, int dest,
                 int sendtag, void *recvbuf, int recvcount, MPI_Datatype recvtype, int source,
                 int recvtag, MPI_Comm comm, MPI_Status *status)
{
    MPI_Request r[2];
    MPI_Status st[2];
    int rc = check_args("MPI_Sendrecv", comm, sendcount, sendtype, dest, sendtag, false, false);
    if (rc == MPI_SUCCESS)
        rc = check_args("MPI_Sendrecv", comm, recvcount, recvtype, source, recvtag, true, false);
    if (rc == MPI_SUCCESS)
        rc = irecv(recvbuf, recvcount, recvtype, source, recvtag, comm, comm->context, &r[0]);
    if (rc != MPI_SUCCESS)
        return rc;
    if ((rc = isend(sendbuf, sendcount, sendtype, dest, sendtag, comm, comm->context, false, &r[1])) != MPI_SUCCESS) {
        MPI_Cancel(&r[0]);
        MPI_Wait(&r[0], MPI_STATUS_IGNORE);
        return rc;
    }
    MPI_Errhandler h = comm->errhandler;
    comm->errhandler = MPI_ERRORS_RETURN;       /* the receive's own error is what counts */
    rc = MPI_Waitall(2, r, st);
    comm->errhandler = h;
    if (status)
        *status = st[0];
    if (rc == MPI_SUCCESS)
        return MPI_SUCCESS;
    int err = st[0].MPI_ERROR ? st[0].MPI_ERROR : st[1].MPI_ERROR;
    return mpix_err(comm, err, "MPI_Sendrecv: its %s failed", st[0].MPI_ERROR ? "receive" : "send");
}

/* The outgoing data is packed first, so the receive may overwrite BUF. */
int MPI_Sendrecv_replace(void *buf, int count, MPI_Datatype datatype, int dest, int sendtag,
                         int source, int recvtag, MPI_Comm comm, MPI_Status *status)
{
    int rc = check_args("MPI_Sendrecv_replace", comm, count, datatype, dest, sendtag, false, false);
    if (rc == MPI_SUCCESS)
        rc = check_args("MPI_Sendrecv_replace", comm, count, datatype, source, recvtag, true, false);
    if (rc != MPI_SUCCESS)
        return rc;
    MPI_Count bytes = (MPI_Count)count * mpix_dt_size(datatype);
    if (bytes > 0x7fffffff)
        return mpix_err(comm, MPI_ERR_COUNT, "MPI_Sendrecv_replace: %lld bytes are more than it "
                        "can send at once (2 GiB)", (long long)bytes);
    void *copy = malloc(bytes ? (size_t)bytes : 1);
    if (!copy)
        return mpix_err(comm, MPI_ERR_NO_MEM, "MPI_Sendrecv_replace: out of memory");
    mpix_dt_pack(buf, count, datatype, copy);
    rc = MPI_Sendrecv(copy, (int)bytes, MPI_BYTE, dest, sendtag, buf, count, datatype, source,
                      recvtag, comm, status);
    free(copy);
    return rc;
}

/* ---- probes and counts ---------------------------------------------------------------------- */

int MPI_Iprobe(int source, int tag, MPI_Comm comm, int *flag, MPI_Status *status)
{
    int rc = check_args("MPI_Iprobe", comm, 0, MPI_BYTE, source, tag, true, false);
    if (rc == MPI_SUCCESS && !flag)
        rc = mpix_err(comm, MPI_ERR_ARG, "MPI_Iprobe: flag is NULL");
    if (rc != MPI_SUCCESS)
        return rc;
    if (source == MPI_PROC_NULL) {
        *flag = 1;
        if (status)
            *status = (MPI_Status){ .MPI_SOURCE = MPI_PROC_NULL, .MPI_TAG = MPI_ANY_TAG };
        return MPI_SUCCESS;
    }
    MPI_Status st;
    if (!(*flag = mpix_match_probe(comm->context, source, tag, &st))) {
        mpix_progress(0);
        *flag = mpix_match_probe(comm->context, source, tag, &st);
    }
    if (*flag && status)
        *status = st;
    return MPI_SUCCESS;
}

int MPI_Probe(int source, int tag, MPI_Comm comm, MPI_Status *status)
{
    int flag = 0, rc;
    while ((rc = MPI_Iprobe(source, tag, comm, &flag, status)) == MPI_SUCCESS && !flag)
        mpix_progress(500);
    return rc;
}

int MPI_Get_count(const MPI_Status *status, MPI_Datatype datatype, int *count)
{
    mpix_check_init("MPI_Get_count");
    if (!status || !count)
        return mpix_err(MPI_COMM_WORLD, MPI_ERR_ARG, "MPI_Get_count: status or count is NULL");
    if (mpix_dt_check(datatype) != MPI_SUCCESS)
        return mpix_err(MPI_COMM_WORLD, MPI_ERR_TYPE, "MPI_Get_count: the datatype is null, "
                        "freed or not committed");
    MPI_Count size = mpix_dt_size(datatype), n;
    if (size == 0)
        n = status->mpix_bytes == 0 ? 0 : MPI_UNDEFINED;
    else
        n = status->mpix_bytes % size ? MPI_UNDEFINED : status->mpix_bytes / size;
    *count = n > 0x7fffffff ? MPI_UNDEFINED : (int)n;
    return MPI_SUCCESS;
}
