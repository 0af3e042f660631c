/* ucx_send.c - the SEND path: one active message per mrpc_wire_msg, completions as SENT.
 *
 * A SEND names a struct mrpc_wire_msg that MrpcEngine owns until SENT hands it back. Its wire
 * header goes out as the AM header (valid until completion, so UCX need not copy it; UCX 1.13 has
 * no flag to make it copy; the exception is a send abandoned after a close, below, which is why
 * the head and batch shapes send copies) and its iov as the payload, in one of three shapes:
 *   - one piece: a contiguous buffer;
 *   - one large piece (>= PHX_UCX_SPLIT_MIN) and the rest small enough for the AM header
 *     (<= head_max): the small pieces are copied behind the wire header into the slot's head
 *     buffer (transport.h: head_len, head_before) and the large piece goes contiguous;
 *   - otherwise a UCP_DATATYPE_IOV list kept in the slot, or, past PHX_UCX_MAX_IOV pieces (a
 *     message of many strings and nested messages easily has thousands), the pieces copied
 *     together into one buffer of the slot's: UCX 1.13 walks an iov list piece by piece on every
 *     fragment and rendezvous pass, and one copy is cheaper than that at such counts.
 * A contiguous buffer inside the app's send heap carries its heap chunk's memory handle
 * (ucx_mem.c): UCX 1.13 takes a user handle only for contiguous data, and contiguous, the large
 * piece of a message travels zero-copy where the transport can (am_zcopy, get/put rendezvous)
 * instead of being packed into bounce buffers fragment by fragment. UCP_AM_SEND_FLAG_REPLY lets the receiver know which
 * endpoint a message came on. Small messages found together in one tx pass may instead leave in a
 * batch (ucx_batch.c); a slot is the same either way. On a loopback pair with the same-node path
 * (ucx_local.c) the message never reaches UCX: it is copied into the twin's receive heap and its
 * slot is DONE at once, or, finding no room there, waits first on its connection's list. On a
 * pair across runtime threads (ucx_xlocal.c) the slot stays POSTED until the other end's thread
 * took the message (phx_ucx_send_xdone); an upgrade recalls it to WAITING (phx_ucx_send_xback).
 *
 * Each send holds a slot until its SENT has gone up. Slots are bounded per connection
 * (PHX_UCX_MAX_SENDS_PER_CONN) and per engine (PHX_UCX_MAX_SENDS); a SEND that finds no room
 * waits as the engine's one held descriptor and tx is not read further (back-pressure towards
 * MrpcEngine: the tx channel fills, never an unbounded queue here). A SEND on a connection out
 * of credits (ucx_credit.c), or not wired up yet (ucx_conn.c), takes its slot but waits on the
 * connection's own list, in order, until grants come or the wiring completes; so one slow peer holds up the app's other connections only once it has
 * PHX_UCX_MAX_SENDS_PER_CONN sends waiting. A connection closed or failed with sends waiting
 * answers them SENT UNAVAILABLE (they never reached UCX). A send that completes at once
 * (ucp_am_send_nbx returns NULL: the data was copied out) goes on the done list right away, one
 * that completes later goes there from its callback; progress() turns the list into SENT in
 * completion order. SENDs that cannot go at all (malformed message, unknown or dead connection)
 * are answered immediately through the event queue.
 *
 * Closing an endpoint with UCP_EP_CLOSE_FLAG_FORCE should complete every request on it, but UCX
 * 1.13 keeps some rendezvous sends whose peer died over shared memory (seen with sysv: requests
 * stuck in RTS, reported "not returned to mpool" at worker destroy). PHX_UCX_ABANDON_MS after
 * such a close, those are reported as SENT UNAVAILABLE anyway, so that MrpcEngine gets every
 * message back; their slots stay reserved until UCX calls back, if it ever does. A slot is:
 *
 *   FREE --post--> POSTED --UCX completes--> DONE --SENT pushed--> FREE
 *    `--no credit--> WAITING --credits--> POSTED
 *                       `--connection closes--> DONE
 *                     POSTED --abandon--> ABANDONED_QUEUED --SENT pushed--> ABANDONED --UCX--> FREE
 *                                           `--UCX completes--> DONE */
#include "ucx_engine.h"

#include "phoenix/log.h"
#include "phoenix/status.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

enum send_state {
    SEND_FREE, SEND_WAITING, SEND_POSTED, SEND_DONE, SEND_ABANDONED_QUEUED, SEND_ABANDONED
};

struct phx_ucx_send {
    struct phx_ucx_engine *s;
    enum send_state        state;
    struct phx_ucx_conn   *conn;        /* meaningless once ABANDONED */
    phx_desc_t             desc;        /* the SEND, echoed as SENT */
    uint64_t               bytes;
    ucs_status_t           status;
    struct phx_ucx_send   *next;        /* on the free, the done or its connection's wait list */
    struct phx_ucx_send   *all_next;    /* every slot, for destroy */
    ucp_dt_iov_t          *iov;         /* inline_iov or big_iov */
    ucp_dt_iov_t          *big_iov;     /* kept for reuse once a message needed it */
    unsigned               big_cap;
    uint8_t               *head;        /* wire header + head bytes; kept once allocated */
    uint8_t               *gather;      /* the payload copied together; freed with the send */
    struct pack_src {                   /* the payload as the pack datatype sees it (below) */
        const ucp_dt_iov_t *iov;
        size_t              n, len;
    } pack;
    ucp_dt_iov_t           one;         /* ... a contiguous payload as one piece */
    ucp_dt_iov_t           inline_iov[PHX_UCX_INLINE_IOV];
};

/* ---- slots ------------------------------------------------------------------------------- */

static struct phx_ucx_send *slot_get(struct phx_ucx_engine *s)
{
    struct phx_ucx_send *slot = s->free_sends;

    if (slot) {
        s->free_sends = slot->next;
        return slot;
    }
    if (s->n_sends >= PHX_UCX_MAX_SENDS || !(slot = calloc(1, sizeof(*slot))))
        return NULL;
    slot->s = s;
    slot->all_next = s->all_sends;
    s->all_sends = slot;
    s->n_sends++;
    return slot;
}

static void slot_put(struct phx_ucx_engine *s, struct phx_ucx_send *slot)
{
    free(slot->gather);             /* UCX is done with it */
    slot->gather = NULL;
    slot->state = SEND_FREE;
    slot->conn = NULL;
    slot->next = s->free_sends;
    s->free_sends = slot;
}

void phx_ucx_send_free(struct phx_ucx_engine *s)
{
    for (struct phx_ucx_send *slot = s->all_sends, *next; slot; slot = next) {
        next = slot->all_next;
        free(slot->big_iov);
        free(slot->head);
        free(slot->gather);
        free(slot);
    }
    s->all_sends = s->free_sends = s->done_head = s->done_tail = NULL;
    s->n_sends = s->pending_sends = s->done_count = 0;
    if (s->has_pack_dt)
        ucp_dt_destroy(s->pack_dt);
    s->has_pack_dt = false;
}

/* ---- checks ------------------------------------------------------------------------------ */

/* MrpcEngine's message as the wire needs it: PHX_OK with *BYTES the payload size, or why not. */
static int check_msg(const struct phx_ucx_engine *s, const struct mrpc_wire_msg *msg,
                     uint64_t *bytes)
{
    uint64_t sum = 0;

    if (msg->hdr.magic != MRPC_WIRE_MAGIC || msg->hdr.version != MRPC_WIRE_VERSION ||
        msg->hdr.head_len || msg->hdr.head_before ||        /* the head is ours to fill */
        msg->n_iov > PHX_UCX_MAX_PIECES || (msg->n_iov && !msg->iov))
        return PHX_INVALID_ARGUMENT;
    for (unsigned i = 0; i < msg->n_iov; i++) {
        if (msg->iov[i].len && !msg->iov[i].base)
            return PHX_INVALID_ARGUMENT;
        if (msg->iov[i].len > s->max_message)
            return PHX_RESOURCE_EXHAUSTED;
        sum += msg->iov[i].len;     /* at most 1024 pieces of at most max_message: no overflow */
    }
    if (sum != msg->hdr.payload_len)
        return PHX_INVALID_ARGUMENT;
    if (sum > s->max_message)
        return PHX_RESOURCE_EXHAUSTED;
    *bytes = sum;
    return PHX_OK;
}

static bool sendable(const struct phx_ucx_conn *c)
{
    /* UCX queues what is sent on a connection still being wired up. */
    return c && (c->state == PHX_UCX_UP || c->state == PHX_UCX_CONNECTING);
}

static void answer_now(struct phx_ucx_engine *s, const phx_desc_t *d, int status)
{
    phx_desc_t r = *d;

    r.kind = MRPC_DESC_SENT;
    r.status = status;
    s->stats.send_errors++;
    phx_ucx_queue_event(s, &r, NULL);
}

bool phx_ucx_send_has_room(struct phx_ucx_engine *s, const phx_desc_t *d)
{
    const struct phx_ucx_conn *c;

    if (d->kind != MRPC_DESC_SEND || !sendable(c = phx_ucx_conn_by_id(s, d->conn_id)))
        return true;            /* answered at once */
    return c->sends < PHX_UCX_MAX_SENDS_PER_CONN &&
           (s->free_sends || s->n_sends < PHX_UCX_MAX_SENDS);
}

/* ---- posting ----------------------------------------------------------------------------- */

static void done_append(struct phx_ucx_engine *s, struct phx_ucx_send *slot, ucs_status_t status)
{
    slot->status = status;
    slot->next = NULL;
    if (s->done_tail)
        s->done_tail->next = slot;
    else
        s->done_head = slot;
    s->done_tail = slot;
    s->done_count++;
}

/* UCX is done with SLOT (at once or from the callback). */
void phx_ucx_send_complete(struct phx_ucx_send *slot, ucs_status_t status)
{
    switch (slot->state) {
    case SEND_POSTED:
        slot->state = SEND_DONE;
        slot->conn->in_ucx--;
        done_append(slot->s, slot, status);
        break;
    case SEND_ABANDONED_QUEUED:     /* its SENT is queued already */
        slot->state = SEND_DONE;
        slot->s->abandoned--;
        break;
    case SEND_ABANDONED:
        slot->s->abandoned--;
        slot_put(slot->s, slot);
        break;
    default:
        phx_error("ucx: send completed twice");
    }
}

void phx_ucx_send_abandon(struct phx_ucx_engine *s, struct phx_ucx_conn *c)
{
    phx_warn("ucx: connection %u: UCX kept %u sends after closing; they are reported failed",
             c->id, c->in_ucx);
    for (struct phx_ucx_send *slot = s->all_sends; slot; slot = slot->all_next) {
        if (slot->state == SEND_POSTED && slot->conn == c) {
            slot->state = SEND_ABANDONED_QUEUED;
            done_append(s, slot, UCS_ERR_CANCELED);
        }
    }
    c->in_ucx = 0;
}

static void on_send_done(void *request, ucs_status_t status, void *user_data)
{
    phx_ucx_send_complete(user_data, status);
    ucp_request_free(request);
}

/* The iov list for MSG in SLOT (reusing a bigger array from an earlier message). */
static ucp_dt_iov_t *iov_of(struct phx_ucx_send *slot, const struct mrpc_wire_msg *msg)
{
    ucp_dt_iov_t *iov = slot->inline_iov;

    if (msg->n_iov > PHX_UCX_INLINE_IOV) {
        if (msg->n_iov > slot->big_cap) {
            ucp_dt_iov_t *bigger = realloc(slot->big_iov, msg->n_iov * sizeof(*bigger));
            if (!bigger)
                return NULL;
            slot->big_iov = bigger;
            slot->big_cap = msg->n_iov;
        }
        iov = slot->big_iov;
    }
    for (unsigned i = 0; i < msg->n_iov; i++)
        iov[i] = (ucp_dt_iov_t){.buffer = (void *)msg->iov[i].base, .length = msg->iov[i].len};
    return iov;
}

/* How a message goes out: the arguments of ucp_am_send_nbx. */
struct send_shape {
    const void    *header;
    size_t         header_len;
    const void    *buffer;
    size_t         count;
    ucp_datatype_t datatype;
    ucp_mem_h      memh;        /* NULL: none */
};

/* The piece of MSG worth sending contiguously with the rest in the AM header, or -1. */
static int split_piece(const struct phx_ucx_engine *s, const struct mrpc_wire_msg *msg)
{
    unsigned big = 0;

    for (unsigned i = 1; i < msg->n_iov; i++)
        if (msg->iov[i].len > msg->iov[big].len)
            big = i;
    if (msg->iov[big].len < PHX_UCX_SPLIT_MIN ||
        msg->hdr.payload_len - msg->iov[big].len > s->head_max)
        return -1;
    return (int)big;
}

/* Copies the wire header and every piece but BIG into SLOT's head buffer; its length, or 0. */
static size_t head_build(const struct phx_ucx_engine *s, struct phx_ucx_send *slot,
                         const struct mrpc_wire_msg *msg, unsigned big)
{
    struct mrpc_wire_hdr hdr = msg->hdr;
    size_t at = sizeof(hdr);

    if (!slot->head && !(slot->head = malloc(sizeof(hdr) + s->head_max)))
        return 0;
    hdr.head_len = (uint16_t)(msg->hdr.payload_len - msg->iov[big].len);
    hdr.head_before = 0;
    for (unsigned i = 0; i < msg->n_iov; i++) {
        if (i == big)
            continue;
        if (i < big)
            hdr.head_before += (uint16_t)msg->iov[i].len;
        if (msg->iov[i].len)
            memcpy(slot->head + at, msg->iov[i].base, msg->iov[i].len);
        at += msg->iov[i].len;
    }
    memcpy(slot->head, &hdr, sizeof(hdr));
    return at;
}

static void shape_contig(struct phx_ucx_engine *s, struct send_shape *sh, const struct mrpc_iov *v)
{
    sh->buffer = v->base;
    sh->count = v->len;
    sh->memh = phx_ucx_memh_for(s, &s->send_map, v->base, v->len);
}

/* Fills SH for MSG in SLOT. 0 or -ENOMEM. */
/* MSG's pieces copied together into SLOT's gather buffer, sent contiguous. */
static int shape_gathered(struct phx_ucx_engine *s, struct phx_ucx_send *slot,
                          const struct mrpc_wire_msg *msg, struct send_shape *sh)
{
    uint8_t *at = slot->gather = malloc(msg->hdr.payload_len ? msg->hdr.payload_len : 1);

    if (!at)
        return -ENOMEM;
    for (unsigned i = 0; i < msg->n_iov; i++) {
        if (msg->iov[i].len)
            memcpy(at, msg->iov[i].base, msg->iov[i].len);
        at += msg->iov[i].len;
    }
    sh->buffer = slot->gather;
    sh->count = msg->hdr.payload_len;
    s->stats.tx_gathered++;
    return 0;
}

static int shape_of(struct phx_ucx_engine *s, struct phx_ucx_send *slot,
                    const struct mrpc_wire_msg *msg, struct send_shape *sh)
{
    *sh = (struct send_shape){.header = &msg->hdr, .header_len = sizeof(msg->hdr),
                              .datatype = ucp_dt_make_contig(1)};
    if (msg->n_iov == 1) {
        shape_contig(s, sh, &msg->iov[0]);
        return 0;
    }
    if (msg->n_iov == 0)
        return 0;
    int big = split_piece(s, msg);
    if (big >= 0 && (sh->header_len = head_build(s, slot, msg, (unsigned)big)) != 0) {
        sh->header = slot->head;
        s->stats.tx_head++;
        shape_contig(s, sh, &msg->iov[big]);
        return 0;
    }
    if (msg->n_iov > PHX_UCX_MAX_IOV)
        return shape_gathered(s, slot, msg, sh);
    if (!(slot->iov = iov_of(slot, msg)))
        return -ENOMEM;
    *sh = (struct send_shape){.header = &msg->hdr, .header_len = sizeof(msg->hdr),
                              .buffer = slot->iov, .count = msg->n_iov,
                              .datatype = ucp_dt_make_iov()};
    return 0;
}

/* SLOT holds D on C from now on: counted as outstanding until its SENT goes up. */
static void take(struct phx_ucx_engine *s, struct phx_ucx_conn *c, struct phx_ucx_send *slot,
                 const phx_desc_t *d, uint64_t bytes)
{
    slot->state = SEND_WAITING;
    slot->conn = c;
    slot->desc = *d;
    slot->bytes = bytes;
    c->sends++;
    s->pending_sends++;
    if (c->sends > s->stats.pending_peak)
        s->stats.pending_peak = c->sends;
}

const struct mrpc_wire_msg *phx_ucx_send_msg(const struct phx_ucx_send *slot)
{
    return (const struct mrpc_wire_msg *)(uintptr_t)slot->desc.addr;
}

struct phx_ucx_conn *phx_ucx_send_conn(const struct phx_ucx_send *slot)
{
    return slot->conn;
}

/* ---- waiting for credits ----------------------------------------------------------------- */

static void wait_append(struct phx_ucx_engine *s, struct phx_ucx_conn *c,
                        struct phx_ucx_send *slot)
{
    slot->next = NULL;
    if (c->wait_tail)
        c->wait_tail->next = slot;
    else
        c->wait_head = slot;
    c->wait_tail = slot;
    s->waiting++;
    s->stats.credit_waits += c->wired;     /* else it waits for the wiring (ucx_conn.c) */
}

/* SLOT waits first on C. */
static void wait_front(struct phx_ucx_engine *s, struct phx_ucx_conn *c, struct phx_ucx_send *slot)
{
    slot->state = SEND_WAITING;
    if (!(slot->next = c->wait_head))
        c->wait_tail = slot;
    c->wait_head = slot;
    s->waiting++;
}

/* SLOT, which found no room at the receiver on the same-node path, waits first on C. */
static void wait_push_front(struct phx_ucx_engine *s, struct phx_ucx_conn *c,
                            struct phx_ucx_send *slot)
{
    wait_front(s, c, slot);
    c->local_blocked = true;
}

void phx_ucx_send_xback(struct phx_ucx_send *slot)
{
    wait_front(slot->s, slot->conn, slot);
}

static void wait_pop(struct phx_ucx_engine *s, struct phx_ucx_conn *c)
{
    if (!(c->wait_head = c->wait_head->next))
        c->wait_tail = NULL;
    s->waiting--;
}

/* The SENT status of a same-node send that did not go (ucx_local.c), as UCX would say it. */
static ucs_status_t local_status(int status)
{
    switch (status) {
    case PHX_OK:
        return UCS_OK;
    case PHX_INVALID_ARGUMENT:
        return UCS_ERR_INVALID_PARAM;
    case PHX_UNAVAILABLE:
        return UCS_ERR_NOT_CONNECTED;
    default:
        return UCS_ERR_NO_MEMORY;
    }
}

/* SLOT's message goes to its twin's receive heap on the same-node path (ucx_local.c); false when
 * it must wait there for room (the caller puts it first on its connection's wait list). */
static bool post_local(struct phx_ucx_engine *s, struct phx_ucx_send *slot,
                       struct phx_ucx_conn *t)
{
    int rc = phx_ucx_local_send(slot->conn, t, phx_ucx_send_msg(slot));

    if (rc == -EAGAIN)
        return false;
    slot->conn->local_blocked = false;
    slot->state = SEND_DONE;
    done_append(s, slot, local_status(rc));
    return true;
}

/* SLOT's message goes to the other end's thread on the same-node path across runtime threads
 * (ucx_xlocal.c); false when the pair's ring is full (it waits first on its connection). */
static bool post_xlocal(struct phx_ucx_engine *s, struct phx_ucx_send *slot)
{
    int rc = phx_ucx_xlocal_post(slot->conn, phx_ucx_send_msg(slot), slot);

    if (rc == -EAGAIN)
        return false;
    slot->conn->local_blocked = false;
    if (rc == PHX_OK) {
        slot->state = SEND_POSTED;      /* its SENT comes from the pair (phx_ucx_send_xdone) */
        return true;
    }
    slot->state = SEND_DONE;
    done_append(s, slot, local_status(rc));
    return true;
}

void phx_ucx_send_xdone(struct phx_ucx_send *slot, int status)
{
    slot->state = SEND_DONE;
    done_append(slot->s, slot, local_status(status));
}

/* SLOT's message goes now: on the same-node path when its connection is a loopback pair that
 * takes it, or one end of a pair across runtime threads, else to UCX, spending a credit: in the open batch if it fits there, else on its own
 * (after the batch, which keeps the connection's order). False when it must wait for room at
 * the receiver (same-node path only). */
static bool post(struct phx_ucx_engine *s, struct phx_ucx_send *slot)
{
    struct phx_ucx_conn *t = phx_ucx_local_twin(slot->conn);

    if (slot->conn->xlinked)
        return post_xlocal(s, slot);
    if (t)
        return post_local(s, slot, t);
    slot->state = SEND_POSTED;
    slot->conn->in_ucx++;
    phx_ucx_credit_spend(slot->conn);
    if (!phx_ucx_batch_offer(s, slot)) {
        phx_ucx_batch_flush(s);
        phx_ucx_send_post_one(s, slot);
    }
    return true;
}

/* Whether a message of LEN bytes on C goes eager (UCP_AM_SEND_FLAG_EAGER) rather than by the
 * protocol UCX picks: past the batching limit, within settings.ucx.eager_max_kb, and only when
 * every lane of C is TCP. There UCX switches to rendezvous at ~20 KiB, and its RTS -> RTR -> data
 * exchange costs a round trip through both services per message, each step waiting for a service
 * that shares its core with its app; eager, the data follows the header in one stream
 * (benchmarks/RESULTS.md). Over RDMA or shared memory rendezvous is the zero-copy path: left to
 * UCX. The receiver keeps back-pressure for eager frames by holding them (ucx_recv.c). */
static bool goes_eager(struct phx_ucx_engine *s, struct phx_ucx_conn *c, uint64_t len)
{
    return len > PHX_UCX_BATCH_MSG_MAX && len <= s->wcfg.eager_max && phx_ucx_conn_tcp_only(c);
}

/* ---- eager in several fragments ---------------------------------------------------------- */

/* UCX 1.13 aborts (uct_iface.h: `comp->count > 0`, seen when a peer goes mid-stream over TCP)
 * when an endpoint fails while an eager message of several zero-copy fragments is partly on the
 * wire: it completes the request at once (ucp_request_send_state_ff, "FIXME should not
 * fast-forward requests owned by UCT") and the fragments in flight complete it again. Rendezvous
 * and single-fragment sends never leave a request in that state. So a message the eager switch
 * sends that is larger than one zero-copy fragment goes with a generic datatype, which UCX packs
 * fragment by fragment into its own buffers (bcopy): once a fragment call returns, nothing of
 * the request is owned by the transport. The copy costs about what the send's system calls do. */
static void *pack_start(void *context, const void *buffer, size_t count)
{
    (void)context;
    (void)count;
    return (void *)(uintptr_t)buffer;       /* the slot's struct pack_src */
}

static void *pack_start_unpack(void *context, void *buffer, size_t count)
{
    (void)context;
    (void)buffer;
    (void)count;
    return NULL;                            /* never received with it */
}

static size_t pack_size(void *state)
{
    return ((const struct pack_src *)state)->len;
}

static size_t pack_copy(void *state, size_t offset, void *dest, size_t max_length)
{
    const struct pack_src *src = state;
    size_t done = 0;

    for (size_t i = 0; i < src->n && done < max_length; i++) {
        size_t len = src->iov[i].length;
        if (offset >= len) {
            offset -= len;
            continue;
        }
        size_t n = len - offset < max_length - done ? len - offset : max_length - done;
        memcpy((uint8_t *)dest + done, (const uint8_t *)src->iov[i].buffer + offset, n);
        done += n;
        offset = 0;
    }
    return done;
}

static ucs_status_t pack_unpack(void *state, size_t offset, const void *src, size_t length)
{
    (void)state;
    (void)offset;
    (void)src;
    (void)length;
    return UCS_ERR_UNSUPPORTED;
}

static void pack_finish(void *state)
{
    (void)state;
}

static const ucp_generic_dt_ops_t pack_ops = {
    .start_pack = pack_start, .start_unpack = pack_start_unpack, .packed_size = pack_size,
    .pack = pack_copy, .unpack = pack_unpack, .finish = pack_finish,
};

/* SH (contiguous or an iov list) becomes SLOT's payload for the pack datatype, in P. False when
 * the datatype cannot be had: SH stays as it is. */
static bool shape_packed(struct phx_ucx_engine *s, struct phx_ucx_send *slot,
                         const struct send_shape *sh, ucp_request_param_t *p)
{
    if (!s->has_pack_dt && ucp_dt_create_generic(&pack_ops, NULL, &s->pack_dt) != UCS_OK)
        return false;
    s->has_pack_dt = true;
    if (sh->datatype == ucp_dt_make_contig(1)) {
        slot->one = (ucp_dt_iov_t){.buffer = (void *)(uintptr_t)sh->buffer, .length = sh->count};
        slot->pack = (struct pack_src){.iov = &slot->one, .n = 1, .len = sh->count};
    } else {
        const ucp_dt_iov_t *iov = sh->buffer;
        size_t len = 0;
        for (size_t i = 0; i < sh->count; i++)
            len += iov[i].length;
        slot->pack = (struct pack_src){.iov = iov, .n = sh->count, .len = len};
    }
    p->datatype = s->pack_dt;
    return true;
}

void phx_ucx_send_post_one(struct phx_ucx_engine *s, struct phx_ucx_send *slot)
{
    const struct mrpc_wire_msg *msg = phx_ucx_send_msg(slot);
    ucp_request_param_t p = {
        .op_attr_mask = UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA |
                        UCP_OP_ATTR_FIELD_DATATYPE | UCP_OP_ATTR_FIELD_FLAGS |
                        UCP_OP_ATTR_FIELD_MEMORY_TYPE,
        .flags = UCP_AM_SEND_FLAG_REPLY,
        .cb.send = on_send_done,
        .user_data = slot,
        .memory_type = UCS_MEMORY_TYPE_HOST,    /* spares UCX a memory type lookup */
    };
    struct send_shape sh;

    if (!slot->conn->ep) {                      /* closed before the batch it waited in went */
        phx_ucx_send_complete(slot, UCS_ERR_NOT_CONNECTED);
        return;
    }
    if (shape_of(s, slot, msg, &sh) < 0) {
        phx_ucx_credit_refund(slot->conn, 1);
        phx_ucx_send_complete(slot, UCS_ERR_NO_MEMORY);
        return;
    }
    p.datatype = sh.datatype;
    if (goes_eager(s, slot->conn, msg->hdr.payload_len)) {
        p.flags |= UCP_AM_SEND_FLAG_EAGER;
        s->stats.eager_sends++;
        if (sh.count > PHX_UCX_EAGER_ZCOPY_MAX || sh.datatype != ucp_dt_make_contig(1)) {
            if (!shape_packed(s, slot, &sh, &p)) {
                phx_ucx_credit_refund(slot->conn, 1);
                phx_ucx_send_complete(slot, UCS_ERR_NO_MEMORY);
                return;
            }
            sh.buffer = &slot->pack;
            sh.count = 1;
            sh.memh = NULL;
        }
    }
    if (sh.memh) {
        p.op_attr_mask |= UCP_OP_ATTR_FIELD_MEMH;
        p.memh = sh.memh;
        s->stats.tx_memh++;
    }
    ucs_status_ptr_t r = ucp_am_send_nbx(slot->conn->ep, PHX_UCX_AM_ID, sh.header,
                                         sh.header_len, sh.buffer, sh.count, &p);
    if (r == NULL) {
        phx_ucx_send_complete(slot, UCS_OK);
    } else if (UCS_PTR_IS_ERR(r)) {
        phx_ucx_credit_refund(slot->conn, 1);
        phx_ucx_send_complete(slot, UCS_PTR_STATUS(r));
    }
}

bool phx_ucx_send_submit(struct phx_ucx_engine *s, const phx_desc_t *d)
{
    const struct mrpc_wire_msg *msg = (const struct mrpc_wire_msg *)(uintptr_t)d->addr;
    uint64_t bytes = 0;
    int status = msg ? check_msg(s, msg, &bytes) : PHX_INVALID_ARGUMENT;
    struct phx_ucx_conn *c;
    struct phx_ucx_send *slot;

    if (status != PHX_OK) {
        phx_debug("ucx: SEND %llu on %u refused: %s", (unsigned long long)d->call_id,
                  d->conn_id, phx_status_name(status));
        answer_now(s, d, status);
        return true;
    }
    if (!sendable(c = phx_ucx_conn_by_id(s, d->conn_id))) {
        answer_now(s, d, PHX_UNAVAILABLE);
        return true;
    }
    if (c->sends >= PHX_UCX_MAX_SENDS_PER_CONN || !(slot = slot_get(s))) {
        phx_ucx_batch_flush(s);     /* what waits in it must not wait for this one */
        return false;
    }
    take(s, c, slot, d, bytes);
    if (c->wait_head || !c->wired || !phx_ucx_credit_available(c))
        wait_append(s, c, slot);    /* behind the ones already waiting: order */
    else if (!post(s, slot))
        wait_push_front(s, c, slot);
    return true;
}

/* Whether C's first waiting send may go now. */
static bool head_may_go(const struct phx_ucx_conn *c)
{
    return c->wait_head && c->wired && phx_ucx_credit_available(c) && sendable(c) &&
           (!c->local_blocked || phx_ucx_local_ready(c));
}

unsigned phx_ucx_send_resume(struct phx_ucx_engine *s)
{
    unsigned n = 0;

    for (struct phx_ucx_conn *c = s->conns; c && s->waiting; c = c->next) {
        while (head_may_go(c)) {
            struct phx_ucx_send *slot = c->wait_head;
            wait_pop(s, c);
            if (!post(s, slot)) {
                wait_push_front(s, c, slot);
                break;
            }
            n++;
        }
    }
    return n;
}

bool phx_ucx_send_resumable(const struct phx_ucx_engine *s)
{
    for (const struct phx_ucx_conn *c = s->conns; c && s->waiting; c = c->next)
        if (head_may_go(c))
            return true;
    return false;
}

void phx_ucx_send_cancel_waiting(struct phx_ucx_engine *s, struct phx_ucx_conn *c)
{
    c->local_blocked = false;
    while (c->wait_head) {
        struct phx_ucx_send *slot = c->wait_head;
        wait_pop(s, c);
        slot->state = SEND_DONE;
        done_append(s, slot, UCS_ERR_NOT_CONNECTED);
    }
}

/* ---- completions ------------------------------------------------------------------------- */

static int sent_status(ucs_status_t st)
{
    switch (st) {
    case UCS_OK:
        return PHX_OK;
    case UCS_ERR_CANCELED:              /* force-closed: the peer failed or we closed */
    case UCS_ERR_CONNECTION_RESET:
    case UCS_ERR_ENDPOINT_TIMEOUT:
    case UCS_ERR_UNREACHABLE:
    case UCS_ERR_REJECTED:
    case UCS_ERR_NOT_CONNECTED:
    case UCS_ERR_TIMED_OUT:
    case UCS_ERR_IO_ERROR:
        return PHX_UNAVAILABLE;
    case UCS_ERR_NO_MEMORY:             /* also: the receiver had no room (ucx_recv.c) */
        return PHX_RESOURCE_EXHAUSTED;
    case UCS_ERR_INVALID_PARAM:         /* the receiver found the frame malformed */
        return PHX_INVALID_ARGUMENT;
    default:
        return PHX_INTERNAL;
    }
}

unsigned phx_ucx_send_deliver(struct phx_ucx_engine *s, phx_channel_t *out)
{
    unsigned n = 0;

    while (s->done_head && n < PHX_UCX_UP_BATCH) {
        struct phx_ucx_send *slot = s->done_head;
        phx_desc_t d = slot->desc;
        d.kind = MRPC_DESC_SENT;
        d.status = sent_status(slot->status);
        d.seq = s->rx_seq;
        if (!out || phx_chan_push(out, &d, 1) != 1)
            break;
        s->rx_seq++;
        if (d.status == PHX_OK) {
            s->stats.tx_msgs++;
            s->stats.tx_bytes += slot->bytes;
        } else {
            s->stats.send_errors++;
        }
        if (!(s->done_head = slot->next))
            s->done_tail = NULL;
        s->done_count--;
        slot->conn->sends--;
        s->pending_sends--;
        if (slot->state == SEND_ABANDONED_QUEUED)
            slot->state = SEND_ABANDONED;       /* UCX may still call back with it */
        else
            slot_put(s, slot);
        n++;
    }
    return n;
}

/* ---- live upgrade (ucx_state.c) ---------------------------------------------------------- */

static void dump_slot(phx_wbuf_t *w, const struct phx_ucx_send *slot)
{
    phx_wbuf_u32(w, slot->conn->ord);
    phx_wbuf_blob(w, &slot->desc, sizeof(slot->desc));
    phx_wbuf_u64(w, slot->bytes);
}

/* After a flush only DONE and WAITING slots remain (ucx_state.c refuses the rest). */
void phx_ucx_send_dump(const struct phx_ucx_engine *s, phx_wbuf_t *w)
{
    phx_wbuf_u32(w, s->done_count);
    for (const struct phx_ucx_send *slot = s->done_head; slot; slot = slot->next) {
        dump_slot(w, slot);
        phx_wbuf_u32(w, (uint32_t)(int32_t)slot->status);
    }
    phx_wbuf_u32(w, s->waiting);
    for (const struct phx_ucx_conn *c = s->conns; c; c = c->next)
        for (const struct phx_ucx_send *slot = c->wait_head; slot; slot = slot->next)
            dump_slot(w, slot);
}

/* One slot read back onto its connection, in state WAITING (counted as outstanding). */
static struct phx_ucx_send *load_slot(struct phx_ucx_engine *s, phx_rbuf_t *r,
                                      struct phx_ucx_conn **conns, uint32_t n_conns, int *rc)
{
    uint32_t ord = phx_rbuf_u32(r);
    size_t len;
    const void *d = phx_rbuf_blob(r, sizeof(phx_desc_t), &len);
    uint64_t bytes = phx_rbuf_u64(r);
    phx_desc_t desc;
    struct phx_ucx_send *slot;

    if (!d || len != sizeof(desc) || ord >= n_conns) {
        *rc = -EINVAL;
        return NULL;
    }
    if (!(slot = slot_get(s))) {
        *rc = -ENOMEM;
        return NULL;
    }
    memcpy(&desc, d, sizeof(desc));
    take(s, conns[ord], slot, &desc, bytes);
    return slot;
}

int phx_ucx_send_load(struct phx_ucx_engine *s, phx_rbuf_t *r, struct phx_ucx_conn **conns,
                      uint32_t n_conns)
{
    uint32_t n = phx_rbuf_u32(r);
    int rc = 0;

    for (uint32_t i = 0; i < n && !rc && !r->failed; i++) {
        struct phx_ucx_send *slot = load_slot(s, r, conns, n_conns, &rc);
        ucs_status_t status = (ucs_status_t)(int32_t)phx_rbuf_u32(r);
        if (slot) {
            slot->state = SEND_DONE;
            done_append(s, slot, status);
        }
    }
    n = rc ? 0 : phx_rbuf_u32(r);
    for (uint32_t i = 0; i < n && !rc && !r->failed; i++) {
        struct phx_ucx_send *slot = load_slot(s, r, conns, n_conns, &rc);
        if (slot) {
            struct phx_ucx_conn *c = slot->conn;
            bool wired = c->wired;
            c->wired = false;               /* not counted again in credit_waits */
            wait_append(s, c, slot);
            c->wired = wired;
        }
    }
    return rc ? rc : r->failed ? -EINVAL : 0;
}
