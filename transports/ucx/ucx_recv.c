/* ucx_recv.c - the receive path: the active-message handlers land messages in the app's receive
 * heap and queue them as RECEIVED.
 *
 * The handlers belong to the runtime thread's shared worker (ucx_worker.c) and run inside
 * ucp_worker_progress(), maybe another app's, so they stay short, never progress the worker
 * themselves and only queue. The frame's reply endpoint (senders set UCP_AM_SEND_FLAG_REPLY)
 * names the connection and so the app; a frame no live connection claims is counted on the
 * worker. Everything in a frame is untrusted. Before anything is allocated the handler checks:
 * magic, version, header length == sizeof(struct mrpc_wire_hdr) + head_len (payload bytes the
 * sender moved into the AM header, at most MRPC_WIRE_HEAD_MAX, head_before <= head_len),
 * payload_len == head_len + the AM's length and <= settings.ucx.max_message_mb. A frame failing a check
 * is counted (`malformed`, or `dropped` for a connection being closed) and dropped. A refused
 * rendezvous frame's data is never fetched, and the handler returns why (refuse()): UCX completes
 * the sender's request with that status, so the caller learns at once instead of at its deadline.
 *
 * A valid frame gets a block of its payload size (16 bytes at least) from the app port's
 * recv_heap, within two bounds: the engine's in-flight receive bytes (allocated, RECEIVED not yet
 * pushed up) stay within settings.ucx.inflight_mb, and at most PHX_UCX_LANDED_MAX messages wait (a
 * connection's credits keep it to MRPC_WIRE_WINDOW of them, ucx_credit.c). Over either bound the
 * frame is dropped and counted in `rejected_inflight`; a full heap counts in `rejected_heap` and
 * goes up as DROPPED (the app forgot to release what it received: its call fails saying so).
 * The message's credit goes back; an eager sender's request has completed OK already, and its
 * caller hears of the loss from DROPPED (a full heap) or else its deadline (docs/transport.md). A
 * frame waits instead (parked, below) when room will come: a rendezvous frame's data stays with
 * the sender, whose request waits too; an eager frame's data is held here (UCX's buffer, or a
 * copy), within the in-flight budget, which keeps back-pressure for the messages the eager
 * switch sends eager over TCP (ucx_send.c); but once the heap has freed nothing for
 * PHX_UCX_PARK_STALL_MS the app is taken to keep what it has (not merely slow), and the frame
 * goes up as DROPPED after all. Head bytes and eager data are copied into the block at once;
 * rendezvous data is fetched into its place with ucp_am_recv_data_nbx() (with the receive heap's
 * memory handle, ucx_mem.c) and queued when it completes. The block belongs to MrpcEngine from the moment RECEIVED is pushed. */
#include "ucx_engine.h"

#include "phoenix/app_port.h"
#include "phoenix/log.h"
#include "phoenix/status.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct phx_ucx_rndv {
    struct phx_ucx_engine *s;
    struct phx_ucx_up      up;          /* the RECEIVED to queue once the data is in */
    size_t                 length;      /* of the AM's data */
    struct phx_ucx_rndv   *prev, *next;
};

static phx_heap_t *recv_heap(struct phx_ucx_engine *s)
{
    phx_app_port_t *port = phx_engine_app_port(s->engine);

    return port ? phx_app_port_recv_heap(port) : NULL;
}

/* Whether C may take frames: connected, or connecting (the peer's first frame answers). */
static bool conn_live(const struct phx_ucx_conn *c)
{
    return c->state == PHX_UCX_UP || c->state == PHX_UCX_CONNECTING;
}

/* Demultiplexing: ARG is the runtime thread's shared worker (ucx_worker.c); the frame's reply
 * endpoint names the connection, the connection its engine. NULL (the worker counts it) for a
 * frame no connection claims, and for one whose engine is being destroyed. */
static struct phx_ucx_engine *frame_engine(void *arg, const ucp_am_recv_param_t *param,
                                           struct phx_ucx_conn **conn)
{
    struct phx_ucx_conn *c = phx_ucx_worker_conn_of(arg, param);

    *conn = c;
    return c && !c->s->closing ? c->s : NULL;
}

/* What the handler returns for a frame it drops: for a rendezvous frame WHY, which UCX hands to
 * the sender's request (ucp_am_recv_callback_t); an eager frame has nothing to answer. */
static ucs_status_t refuse(const ucp_am_recv_param_t *param, ucs_status_t why)
{
    return param->recv_attr & UCP_AM_RECV_ATTR_FLAG_RNDV ? why : UCS_OK;
}

/* Copies the wire header out of UCX's buffer (no alignment is promised) if the frame passes the
 * checks that need no state beyond the limits. The AM header is the wire header and head_len
 * payload bytes (transport.h), and the head plus the AM's data make the whole payload. */
static bool frame_ok(const struct phx_ucx_engine *s, const void *header, size_t header_length,
                     size_t length, struct mrpc_wire_hdr *hdr)
{
    if (header_length < sizeof(*hdr) || !header)
        return false;
    memcpy(hdr, header, sizeof(*hdr));
    return hdr->magic == MRPC_WIRE_MAGIC && hdr->version >= MRPC_WIRE_VERSION_MIN &&
           hdr->version <= MRPC_WIRE_VERSION &&
           (hdr->version > 1 || (!hdr->head_len && !hdr->head_before)) &&
           hdr->head_len <= MRPC_WIRE_HEAD_MAX && hdr->head_before <= hdr->head_len &&
           header_length == sizeof(*hdr) + hdr->head_len &&
           hdr->payload_len <= s->max_message && hdr->payload_len == length + hdr->head_len;
}

/* Copies the head bytes that follow the wire header in HEADER around the data's place in BUF. */
static void head_place(const struct mrpc_wire_hdr *hdr, const void *header, uint8_t *buf)
{
    const uint8_t *head = (const uint8_t *)header + sizeof(*hdr);
    size_t after = hdr->head_len - hdr->head_before;

    memcpy(buf, head, hdr->head_before);
    memcpy(buf + hdr->payload_len - after, head + hdr->head_before, after);
}

enum land_result { LAND_OK, LAND_OVER_BOUND, LAND_HEAP_FULL };

static uint64_t charge_of(const struct mrpc_wire_hdr *hdr)
{
    return hdr->payload_len > PHX_UCX_MIN_RECV_ALLOC ? hdr->payload_len : PHX_UCX_MIN_RECV_ALLOC;
}

/* Reserves a receive-heap block for HDR's payload on C and describes it in UP, or says which
 * limit is in the way. */
static enum land_result land_prepare(struct phx_ucx_engine *s, struct phx_ucx_conn *c,
                                     const struct mrpc_wire_hdr *hdr, struct phx_ucx_up *up)
{
    uint64_t charge = charge_of(hdr);
    phx_heap_t *heap = recv_heap(s);
    void *buf;

    if (phx_fifo_count(&s->landed) + s->rndv_pending >= PHX_UCX_LANDED_MAX ||
        s->inflight + charge > s->inflight_budget)
        return LAND_OVER_BOUND;
    if (!heap || !(buf = phx_heap_alloc(heap, charge)))
        return LAND_HEAP_FULL;
    s->inflight += charge;
    c->queued++;
    *up = (struct phx_ucx_up){
        .desc = {.kind = MRPC_DESC_RECEIVED, .flags = (uint16_t)(hdr->kind | hdr->format << 8),
                 .status = hdr->status, .conn_id = c->id, .service_id = hdr->service_id,
                 .method_id = hdr->method_id, .call_id = hdr->call_id,
                 .addr = (uint64_t)(uintptr_t)buf, .len = hdr->payload_len,
                 .type_hash = hdr->type_hash},
        .conn = c,
        .charge = charge,
    };
    return LAND_OK;
}

/* Tells MrpcEngine that HDR's message on C did not fit in the app's receive heap (DROPPED), so
 * that the call it answers fails now, saying so, instead of at its deadline. Skipped (the
 * counter still says it) while the event queue is busy. */
static void report_heap_full(struct phx_ucx_engine *s, const struct phx_ucx_conn *c,
                             const struct mrpc_wire_hdr *hdr)
{
    phx_desc_t d = {.kind = MRPC_DESC_DROPPED, .flags = hdr->kind, .status = PHX_RESOURCE_EXHAUSTED,
                    .conn_id = c->id, .service_id = hdr->service_id, .method_id = hdr->method_id,
                    .call_id = hdr->call_id, .len = hdr->payload_len};

    if (phx_fifo_count(&s->events) < PHX_UCX_EVENTS_SOFT)
        phx_ucx_queue_event(s, &d, NULL);
}

/* A valid message HDR of C that no block could be found for will not go up: counted, its credit
 * back, a full heap reported. The status tells a rendezvous sender why. */
static ucs_status_t land_refused(struct phx_ucx_engine *s, struct phx_ucx_conn *c,
                                 const struct mrpc_wire_hdr *hdr, enum land_result why)
{
    if (why == LAND_OVER_BOUND) {
        s->stats.rejected_inflight++;
    } else {
        s->stats.rejected_heap++;
        report_heap_full(s, c, hdr);
    }
    phx_ucx_credit_consumed(c);
    return UCS_ERR_NO_MEMORY;
}

/* Whether a message of HDR's size, refused for WHY, will fit once what is in flight or held
 * goes away: then a rendezvous frame may wait for it instead of being refused. */
static bool may_wait(struct phx_ucx_engine *s, const struct mrpc_wire_hdr *hdr,
                     enum land_result why)
{
    phx_app_port_t *port = phx_engine_app_port(s->engine);
    struct phx_heap_stats hs = {0};

    if (charge_of(hdr) > s->inflight_budget || !port || charge_of(hdr) > phx_app_port_recv_region(port)->size)
        return false;
    if (why == LAND_OVER_BOUND)
        return s->inflight || s->rndv_pending || phx_fifo_count(&s->landed);
    phx_heap_get_stats(phx_app_port_recv_heap(port), &hs);
    return hs.bytes_in_use > 0;     /* else the heap cannot take it even empty */
}

/* Undoes land_prepare(): the message will not go up. */
static void land_abort(struct phx_ucx_engine *s, struct phx_ucx_up *up)
{
    phx_heap_free(recv_heap(s), (void *)(uintptr_t)up->desc.addr);
    s->inflight -= up->charge;
    up->conn->queued--;
    phx_ucx_credit_consumed(up->conn);
}

/* The clock of this thread's progress() pass, read at its first landing (0: not yet): a batch
 * of 32 messages landing in one pass costs one clock read (~50 ns in a VM), not 32. */
static __thread bool     in_pass;
static __thread uint64_t pass_ns;

void phx_ucx_recv_pass(bool begin)
{
    in_pass = begin;
    pass_ns = 0;
}

static uint64_t landing_ns(void)
{
    if (!in_pass)
        return phx_now_ns();
    if (!pass_ns)
        pass_ns = phx_now_ns();
    return pass_ns;
}

static void landed(struct phx_ucx_engine *s, struct phx_ucx_up *up)
{
    up->at_ns = landing_ns();
    phx_ucx_handoff_note(s);
    if (phx_fifo_push(&s->landed, up) < 0) {     /* only -ENOMEM: the bound was checked */
        s->stats.rx_errors++;
        land_abort(s, up);
    }
}

/* ---- rendezvous -------------------------------------------------------------------------- */

static void rndv_finish(struct phx_ucx_rndv *r, ucs_status_t status)
{
    struct phx_ucx_engine *s = r->s;

    if (r->prev)
        r->prev->next = r->next;
    else
        s->rndvs = r->next;
    if (r->next)
        r->next->prev = r->prev;
    s->rndv_pending--;
    if (s->detached) {          /* its block went with the app's heap */
        free(r);
        return;
    }
    if (status == UCS_OK && !s->closing) {
        landed(s, &r->up);
    } else {
        if (!s->closing)
            phx_debug("ucx: rendezvous on connection %u failed: %s", r->up.conn->id,
                      ucs_status_string(status));
        s->stats.rx_errors += !s->closing;
        land_abort(s, &r->up);
    }
    free(r);
}

static void on_rndv_done(void *request, ucs_status_t status, size_t length, void *user_data)
{
    struct phx_ucx_rndv *r = user_data;

    if (status == UCS_OK && length != r->length)
        status = UCS_ERR_MESSAGE_TRUNCATED;
    rndv_finish(r, status);
    ucp_request_free(request);
}

/* Fetches the rendezvous data DATA_DESC of LENGTH bytes to DST in UP's block. */
static void rndv_start(struct phx_ucx_engine *s, void *data_desc, void *dst, size_t length,
                       struct phx_ucx_up *up)
{
    struct phx_ucx_rndv *r = malloc(sizeof(*r));

    if (!r) {
        s->stats.rx_errors++;
        land_abort(s, up);
        return;
    }
    *r = (struct phx_ucx_rndv){.s = s, .up = *up, .length = length, .next = s->rndvs};
    if (s->rndvs)
        s->rndvs->prev = r;
    s->rndvs = r;
    s->rndv_pending++;
    ucp_request_param_t p = {
        .op_attr_mask = UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA |
                        UCP_OP_ATTR_FIELD_DATATYPE | UCP_OP_ATTR_FIELD_MEMORY_TYPE,
        .cb.recv_am = on_rndv_done,
        .user_data = r,
        .datatype = ucp_dt_make_contig(1),
        .memory_type = UCS_MEMORY_TYPE_HOST,
    };
    if ((p.memh = phx_ucx_memh_for(s, &s->recv_map, dst, length)))
        p.op_attr_mask |= UCP_OP_ATTR_FIELD_MEMH;
    ucs_status_ptr_t q = ucp_am_recv_data_nbx(s->worker, data_desc, dst, length, &p);
    if (q == NULL)
        rndv_finish(r, UCS_OK);
    else if (UCS_PTR_IS_ERR(q))
        rndv_finish(r, UCS_PTR_STATUS(q));
}

/* ---- parking ----------------------------------------------------------------------------- */

/* A frame with no room for it yet waits here, in arrival order, with a copy of its AM header
 * (valid only during the callback). A rendezvous frame keeps UCX's data descriptor (the handler
 * returned UCS_INPROGRESS; its data stays with the sender, whose request waits too). An eager
 * frame is held: its data is already here, in UCX's buffer when UCX lets us keep it
 * (UCP_AM_RECV_ATTR_FLAG_DATA: a message of several fragments, assembled; UCS_INPROGRESS, later
 * ucp_am_data_release()), else copied. The room comes when RECEIVED goes up (the in-flight budget)
 * or the app releases buffers (the heap), both seen by the engine's progress, which then fetches
 * or copies what fits (phx_ucx_recv_unpark). A connection's credits bound how many of its frames
 * wait; the bytes of eager frames held also stay within settings.ucx.inflight_mb, whatever the
 * peer does (past it an eager frame is dropped as before). Each holds its connection (`queued`). */
struct phx_ucx_parked {
    struct phx_ucx_conn   *c;
    struct mrpc_wire_hdr   hdr;
    void                  *desc;            /* rendezvous: UCX's descriptor; eager: UCX's data,
                                               or NULL when it was copied */
    void                  *copy;            /* eager: the data copied, or NULL */
    bool                   eager;
    size_t                 length;          /* of the AM's data */
    size_t                 cost;            /* eager: what holding it counts in held_bytes */
    uint64_t               still_ns;        /* since when the heap freed nothing (stalled()) */
    uint64_t               frees;           /* the heap's free count then */
    struct phx_ucx_parked *next;
    uint8_t                am_header[];     /* the wire header and head bytes, as they came */
};

/* How many blocks the app's receive heap has freed so far: a release by the app, or MrpcEngine
 * or this engine giving a block back. */
uint64_t phx_ucx_recv_heap_frees(struct phx_ucx_engine *s)
{
    phx_heap_t *heap = recv_heap(s);
    struct phx_heap_stats hs = {0};

    if (heap)
        phx_heap_get_stats(heap, &hs);
    return hs.frees;
}

/* Whether P, at the head and refused by a full heap, has waited PHX_UCX_PARK_STALL_MS without
 * the heap freeing anything: the app is not slow but keeps what it received. A free restarts
 * the wait. */
static bool stalled(struct phx_ucx_engine *s, struct phx_ucx_parked *p)
{
    uint64_t frees = phx_ucx_recv_heap_frees(s), now = phx_now_ns();

    if (frees != p->frees) {
        p->frees = frees;
        p->still_ns = now;
        return false;
    }
    return now - p->still_ns >= PHX_UCX_PARK_STALL_MS * 1000000ull;
}

/* P waits for something else than heap room (the in-flight budget): its wait for the heap has
 * not begun. */
static void not_stalled(struct phx_ucx_engine *s, struct phx_ucx_parked *p)
{
    p->frees = phx_ucx_recv_heap_frees(s);
    p->still_ns = phx_now_ns();
}

/* What holding an eager frame costs: its data, and the record with its header (a flood of
 * empty frames is not free). */
static size_t hold_cost(size_t header_length, size_t length)
{
    return sizeof(struct phx_ucx_parked) + header_length + length;
}

/* Whether an eager frame may be held on C: not while an upgrade drains S (it would keep the
 * state from being taken), at most a credit window of frames per connection (the peer may
 * ignore its credits: the network is untrusted), and the bytes held within the in-flight
 * budget. */
static bool may_hold(const struct phx_ucx_engine *s, const struct phx_ucx_conn *c,
                     size_t header_length, size_t length)
{
    return !s->draining && c->queued < MRPC_WIRE_WINDOW &&
           s->held_bytes + hold_cost(header_length, length) <= s->inflight_budget;
}

/* Queues the frame (rendezvous: DATA is its descriptor; eager: its data, kept or copied). */
static ucs_status_t park(struct phx_ucx_engine *s, struct phx_ucx_conn *c,
                         const struct mrpc_wire_hdr *hdr, const void *header,
                         size_t header_length, void *data, size_t length,
                         const ucp_am_recv_param_t *param)
{
    bool eager = !(param->recv_attr & UCP_AM_RECV_ATTR_FLAG_RNDV);
    bool keep = !eager || (param->recv_attr & UCP_AM_RECV_ATTR_FLAG_DATA);
    struct phx_ucx_parked *p = malloc(sizeof(*p) + header_length);
    void *copy = NULL;

    if (p && !keep && !(copy = malloc(length ? length : 1))) {
        free(p);
        p = NULL;
    }
    if (!p) {
        s->stats.rx_errors++;
        phx_ucx_credit_consumed(c);
        return refuse(param, UCS_ERR_NO_MEMORY);
    }
    if (copy && length)
        memcpy(copy, data, length);
    *p = (struct phx_ucx_parked){.c = c, .hdr = *hdr, .desc = keep ? data : NULL, .copy = copy,
                                 .eager = eager, .length = length,
                                 .cost = eager ? hold_cost(header_length, length) : 0,
                                 .still_ns = phx_now_ns(),
                                 .frees = phx_ucx_recv_heap_frees(s)};
    memcpy(p->am_header, header, header_length);
    if (s->parked_tail)
        s->parked_tail->next = p;
    else
        s->parked = p;
    s->parked_tail = p;
    c->queued++;
    if (eager) {
        s->held_eager++;
        s->held_bytes += p->cost;
        s->stats.eager_held++;
    } else {
        s->stats.parked++;
    }
    return keep ? UCS_INPROGRESS : UCS_OK;
}

/* Lets go of P's data: an eager frame's copy or UCX's buffer; a rendezvous frame's descriptor,
 * unfetched. */
static void parked_release(struct phx_ucx_engine *s, struct phx_ucx_parked *p)
{
    if (p->copy)
        free(p->copy);
    else
        ucp_am_data_release(s->worker, p->desc);
}

/* Takes the first parked frame off the queue; it is the caller's now. */
static struct phx_ucx_parked *unpark_head(struct phx_ucx_engine *s)
{
    struct phx_ucx_parked *p = s->parked;

    if (!(s->parked = p->next))
        s->parked_tail = NULL;
    return p;
}

/* Frees P, off the queue, and lets go of its connection. */
static void parked_free(struct phx_ucx_parked *p)
{
    if (p->eager) {
        p->c->s->held_eager--;
        p->c->s->held_bytes -= p->cost;
    }
    p->c->queued--;
    free(p);
}

/* Gives P (off the queue) back to UCX unfetched (the sender's request completes OK: UCX 1.13 has
 * no way to refuse it later), counted in COUNTER, its credit back. */
static void parked_drop(struct phx_ucx_engine *s, struct phx_ucx_parked *p, uint64_t *counter)
{
    (*counter)++;
    phx_ucx_credit_consumed(p->c);
    parked_release(s, p);
    parked_free(p);
}

/* Drops the parked frames of connections that closed or failed wherever they wait, so that a
 * frame still waiting for room at the head does not hold up their CONN_LOST and freeing. */
static void drop_dead_parked(struct phx_ucx_engine *s)
{
    struct phx_ucx_parked *keep = NULL, *last = NULL, *next;

    for (struct phx_ucx_parked *p = s->parked; p; p = next) {
        next = p->next;
        if (!conn_live(p->c)) {
            parked_drop(s, p, &s->stats.dropped);
            continue;
        }
        p->next = NULL;
        if (last)
            last->next = p;
        else
            keep = p;
        last = p;
    }
    s->parked = keep;
    s->parked_tail = last;
}

/* ---- the handler ------------------------------------------------------------------------- */

ucs_status_t phx_ucx_am_recv(void *arg, const void *header, size_t header_length, void *data,
                             size_t length, const ucp_am_recv_param_t *param)
{
    struct phx_ucx_conn *c;
    struct phx_ucx_engine *s = frame_engine(arg, param, &c);
    struct mrpc_wire_hdr hdr;
    struct phx_ucx_up up;
    enum land_result why;

    if (!s)
        return refuse(param, UCS_ERR_REJECTED);
    if (!frame_ok(s, header, header_length, length, &hdr)) {
        s->stats.malformed++;
        if (conn_live(c))
            phx_ucx_credit_consumed(c);     /* the sender spent one on it (ucx_credit.c) */
        return refuse(param, UCS_ERR_INVALID_PARAM);
    }
    if (!conn_live(c)) {
        s->stats.dropped++;
        return refuse(param, UCS_ERR_REJECTED);
    }
    phx_ucx_conn_established(c);        /* the peer answers: CONNECTED goes up first */
    phx_ucx_credit_heard(c, hdr.version);
    bool rndv = param->recv_attr & UCP_AM_RECV_ATTR_FLAG_RNDV;
    bool can_wait = rndv || may_hold(s, c, header_length, length);
    /* Behind the ones that already wait; a rendezvous frame also while an upgrade drains UCX's
     * requests (no new fetch). An eager frame lands then if it can: held, it would keep the
     * upgrade from taking the state (ucx_state.c). */
    if (rndv ? s->parked || s->draining : s->parked && can_wait)
        return park(s, c, &hdr, header, header_length, data, length, param);
    if ((why = land_prepare(s, c, &hdr, &up)) != LAND_OK) {
        if (can_wait && may_wait(s, &hdr, why))
            return park(s, c, &hdr, header, header_length, data, length, param);
        return refuse(param, land_refused(s, c, &hdr, why));
    }
    uint8_t *buf = (uint8_t *)(uintptr_t)up.desc.addr, *dst = buf + hdr.head_before;
    head_place(&hdr, header, buf);
    if (rndv) {
        rndv_start(s, data, dst, length, &up);
    } else {
        memcpy(dst, data, length);
        landed(s, &up);
    }
    return UCS_OK;
}

/* ---- the same-node path (ucx_local.c) ----------------------------------------------------- */

/* Whether a message that WAIT tracks, refused by R's full heap, has waited
 * PHX_UCX_PARK_STALL_MS without that heap freeing anything (stalled() for a parked frame). */
static bool local_stalled(struct phx_ucx_lwait *wait, struct phx_ucx_engine *r)
{
    uint64_t frees = phx_ucx_recv_heap_frees(r), now = phx_now_ns();

    if (!wait->still_ns || frees != wait->frees) {
        wait->frees = frees;
        wait->still_ns = now;
        return false;
    }
    return now - wait->still_ns >= PHX_UCX_PARK_STALL_MS * 1000000ull;
}

/* Copies MSG's pieces, one after the other, to DST: the one copy of the same-node path, from the
 * sender's send heap (or service memory) into the receiver's receive heap. */
static void gather_to(uint8_t *dst, const struct mrpc_wire_msg *msg)
{
    for (unsigned i = 0; i < msg->n_iov; i++) {
        if (msg->iov[i].len)
            memcpy(dst, msg->iov[i].base, msg->iov[i].len);
        dst += msg->iov[i].len;
    }
}

int phx_ucx_recv_local(struct phx_ucx_lwait *wait, struct phx_ucx_conn *t,
                       const struct mrpc_wire_msg *msg)
{
    struct phx_ucx_engine *r = t->s;
    struct mrpc_wire_hdr hdr;
    struct phx_ucx_up up;
    enum land_result why;

    if (r->closing || !conn_live(t)) {
        r->stats.dropped++;
        return PHX_UNAVAILABLE;
    }
    /* The header as a frame's: the sender's check_msg() made the payload length the pieces'. */
    if (!frame_ok(r, &msg->hdr, sizeof(msg->hdr), msg->hdr.payload_len, &hdr)) {
        r->stats.malformed++;
        phx_ucx_credit_consumed(t);     /* the sender spent one on it, as on the wire */
        return PHX_INVALID_ARGUMENT;
    }
    if (r->draining)                /* an upgrade is taking its state: not now */
        return -EAGAIN;
    if ((why = land_prepare(r, t, &hdr, &up)) != LAND_OK) {
        bool could_wait = may_wait(r, &hdr, why);
        if (could_wait && (why == LAND_OVER_BOUND || !local_stalled(wait, r))) {
            if (why == LAND_OVER_BOUND)
                wait->still_ns = 0;
            return -EAGAIN;
        }
        /* Refused as a rendezvous frame is, its credit back: one that can never fit at once,
         * the sender told (RESOURCE_EXHAUSTED); one that stalled, only the receiver hears of
         * (DROPPED for a full heap), as a parked frame. */
        land_refused(r, t, &hdr, why);
        wait->still_ns = 0;
        return could_wait ? PHX_OK : PHX_RESOURCE_EXHAUSTED;
    }
    phx_ucx_conn_established(t);
    phx_ucx_credit_heard(t, hdr.version);
    gather_to((uint8_t *)(uintptr_t)up.desc.addr, msg);
    wait->still_ns = 0;
    r->stats.rx_local++;
    landed(r, &up);
    return PHX_OK;
}

/* ---- batches (ucx_batch.c) --------------------------------------------------------------- */

/* Checks a batch's AM header against the data's LENGTH and copies its wire headers into HDRS;
 * the number of messages, or 0 when anything is off. A batch is always eager: one that came by
 * rendezvous is refused, which also makes UCX drop its data. */
static unsigned batch_ok(const struct phx_ucx_engine *s, const void *header, size_t header_length,
                         size_t length, const ucp_am_recv_param_t *param,
                         struct mrpc_wire_hdr *hdrs)
{
    struct mrpc_wire_batch bh;
    uint64_t sum = 0;

    if (!header || header_length < sizeof(bh) ||
        (param->recv_attr & UCP_AM_RECV_ATTR_FLAG_RNDV))
        return 0;
    memcpy(&bh, header, sizeof(bh));
    if (bh.magic != MRPC_WIRE_BATCH_MAGIC || bh.version < MRPC_WIRE_BATCH_VERSION ||
        bh.version > MRPC_WIRE_VERSION || bh.count < 2 ||
        bh.count > MRPC_WIRE_BATCH_MAX || header_length != sizeof(bh) + bh.count * sizeof(*hdrs))
        return 0;
    memcpy(hdrs, (const uint8_t *)header + sizeof(bh), bh.count * sizeof(*hdrs));
    for (unsigned i = 0; i < bh.count; i++) {
        const struct mrpc_wire_hdr *h = &hdrs[i];
        if (h->magic != MRPC_WIRE_MAGIC || h->version != bh.version || h->head_len ||
            h->head_before || h->payload_len > s->max_message)
            return 0;
        sum += h->payload_len;      /* at most 32 x max_message: no overflow */
    }
    return sum == length ? bh.count : 0;
}

/* How many messages a batch that failed the checks claims to carry: the credits its sender spent
 * (1 to MRPC_WIRE_BATCH_MAX; a sender can gain at most its window back by lying). */
static unsigned batch_claimed(const void *header, size_t header_length)
{
    struct mrpc_wire_batch bh;

    if (!header || header_length < sizeof(bh))
        return 1;
    memcpy(&bh, header, sizeof(bh));
    return bh.count >= 1 && bh.count <= MRPC_WIRE_BATCH_MAX ? bh.count : 1;
}

ucs_status_t phx_ucx_am_batch_recv(void *arg, const void *header, size_t header_length,
                                   void *data, size_t length, const ucp_am_recv_param_t *param)
{
    struct phx_ucx_conn *c;
    struct phx_ucx_engine *s = frame_engine(arg, param, &c);
    struct mrpc_wire_hdr hdrs[MRPC_WIRE_BATCH_MAX];
    const uint8_t *at = data;
    unsigned n;

    if (!s)
        return refuse(param, UCS_ERR_REJECTED);
    if (!(n = batch_ok(s, header, header_length, length, param, hdrs))) {
        s->stats.malformed++;
        for (unsigned i = batch_claimed(header, header_length); conn_live(c) && i; i--)
            phx_ucx_credit_consumed(c);     /* what the sender spent on it */
        return refuse(param, UCS_ERR_INVALID_PARAM);
    }
    if (!conn_live(c)) {
        s->stats.dropped++;
        return UCS_OK;
    }
    phx_ucx_conn_established(c);
    phx_ucx_credit_heard(c, hdrs[0].version);
    s->stats.rx_batches++;
    for (unsigned i = 0; i < n; i++) {     /* each message lands (or is refused) on its own */
        struct phx_ucx_up up;
        enum land_result why = land_prepare(s, c, &hdrs[i], &up);
        if (why == LAND_OK) {
            if (hdrs[i].payload_len)
                memcpy((void *)(uintptr_t)up.desc.addr, at, hdrs[i].payload_len);
            landed(s, &up);
        } else {
            land_refused(s, c, &hdrs[i], why);
        }
        at += hdrs[i].payload_len;
    }
    return UCS_OK;
}

unsigned phx_ucx_recv_unpark(struct phx_ucx_engine *s)
{
    unsigned n = 0;
    struct phx_ucx_parked *p;

    while ((p = s->parked)) {
        struct phx_ucx_up up;
        if (!conn_live(p->c)) {
            parked_drop(s, unpark_head(s), &s->stats.dropped);
            continue;
        }
        enum land_result why = land_prepare(s, p->c, &p->hdr, &up);
        if (why != LAND_OK) {
            if (may_wait(s, &p->hdr, why) && (why == LAND_OVER_BOUND || !stalled(s, p))) {
                if (why == LAND_OVER_BOUND)
                    not_stalled(s, p);
                drop_dead_parked(s);
                break;
            }
            if (why == LAND_OVER_BOUND) {
                parked_drop(s, unpark_head(s), &s->stats.rejected_inflight);
                continue;
            }
            report_heap_full(s, p->c, &p->hdr);
            parked_drop(s, unpark_head(s), &s->stats.rejected_heap);
            continue;
        }
        uint8_t *buf = (uint8_t *)(uintptr_t)up.desc.addr, *dst = buf + p->hdr.head_before;
        void *desc = p->desc;
        size_t length = p->length;
        head_place(&p->hdr, p->am_header, buf);
        unpark_head(s);
        if (p->eager) {
            if (length)
                memcpy(dst, p->copy ? p->copy : desc, length);
            parked_release(s, p);
            parked_free(p);
            landed(s, &up);
        } else {
            parked_free(p);
            rndv_start(s, desc, dst, length, &up);
        }
        n++;
    }
    return n;
}

int phx_ucx_recv_timeout_ms(struct phx_ucx_engine *s)
{
    uint64_t now = phx_now_ns(), due;

    if (!s->parked)
        return -1;
    due = s->parked->still_ns + PHX_UCX_PARK_STALL_MS * 1000000ull;
    return due <= now ? 0 : (int)((due - now + 999999) / 1000000);
}

void phx_ucx_recv_release_parked(struct phx_ucx_engine *s)
{
    while (s->parked)
        parked_drop(s, unpark_head(s), &s->stats.dropped);
}

void phx_ucx_recv_free(struct phx_ucx_engine *s)
{
    struct phx_ucx_up *u;

    while ((u = phx_fifo_head(&s->landed))) {
        land_abort(s, u);
        phx_fifo_drop(&s->landed, 1);
    }
    while (s->rndvs) {      /* requests UCX dropped with the worker, without a callback */
        struct phx_ucx_rndv *r = s->rndvs;
        s->rndvs = r->next;
        land_abort(s, &r->up);
        free(r);
    }
    s->rndv_pending = 0;
}

/* ---- live upgrade (ucx_state.c) ---------------------------------------------------------- */

static size_t am_header_len(const struct mrpc_wire_hdr *hdr)
{
    return sizeof(*hdr) + hdr->head_len;    /* frame_ok() checked it when the frame came */
}

int phx_ucx_recv_dump(phx_engine_t *e, const struct phx_ucx_engine *s, phx_wbuf_t *w)
{
    uint32_t n = 0;

    for (const struct phx_ucx_parked *p = s->parked; p; p = p->next)
        n++;
    phx_wbuf_u32(w, n);
    for (const struct phx_ucx_parked *p = s->parked; p; p = p->next) {
        uint32_t desc;
        int rc = phx_handover_put_handle(e, p->desc, &desc);
        if (rc < 0)
            return rc;
        phx_wbuf_u32(w, p->c->ord);
        phx_wbuf_u32(w, desc);
        phx_wbuf_u64(w, p->length);
        phx_wbuf_blob(w, p->am_header, am_header_len(&p->hdr));
    }
    return 0;
}

static int load_parked(phx_engine_t *e, struct phx_ucx_engine *s, phx_rbuf_t *r,
                       struct phx_ucx_conn **conns, uint32_t n_conns)
{
    uint32_t ord = phx_rbuf_u32(r), handle = phx_rbuf_u32(r);
    uint64_t length = phx_rbuf_u64(r);
    size_t len;
    const uint8_t *header = phx_rbuf_blob(r, sizeof(struct mrpc_wire_hdr) + MRPC_WIRE_HEAD_MAX,
                                          &len);
    struct mrpc_wire_hdr hdr;
    void *desc;

    if (!header || len < sizeof(hdr) || ord >= n_conns)
        return -EINVAL;
    memcpy(&hdr, header, sizeof(hdr));
    if (len != am_header_len(&hdr) || !(desc = phx_handover_take_handle(e, handle)))
        return -EINVAL;
    struct phx_ucx_parked *p = malloc(sizeof(*p) + len);
    if (!p)
        return -ENOMEM;
    *p = (struct phx_ucx_parked){.c = conns[ord], .hdr = hdr, .desc = desc, .length = length};
    memcpy(p->am_header, header, len);
    if (s->parked_tail)
        s->parked_tail->next = p;
    else
        s->parked = p;
    s->parked_tail = p;
    p->c->queued++;
    return 0;
}

int phx_ucx_recv_load(phx_engine_t *e, struct phx_ucx_engine *s, phx_rbuf_t *r,
                      struct phx_ucx_conn **conns, uint32_t n_conns)
{
    uint32_t n = phx_rbuf_u32(r);
    int rc = 0;

    for (uint32_t i = 0; i < n && !rc && !r->failed; i++)
        rc = load_parked(e, s, r, conns, n_conns);
    return rc ? rc : r->failed ? -EINVAL : 0;
}

void phx_ucx_recv_forget_parked(struct phx_ucx_engine *s)
{
    while (s->parked) {
        struct phx_ucx_parked *p = unpark_head(s);
        free(p->copy);          /* ours; UCX's buffers and descriptors went with the state (an
                                   eager frame is never held while draining, may_hold) */
        free(p);
    }
    s->held_eager = 0;
    s->held_bytes = 0;
}
