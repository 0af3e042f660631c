/* ucx_conn.c - connections: their life cycle, CONNECT, CLOSE, and failures.
 *
 * Connections come from CONNECT (here) or from a binding (ucx_listen.c, ucx_claim.c). CONNECT
 * runs the wire-up handshake with "host:port" (ucx_hs.c), then creates an endpoint to the
 * server's UCX worker address and claims the handshake on it (ucx_claim.c): the server's ack
 * answers CONNECTED OK; a refused or failed handshake or endpoint answers CONNECTED UNAVAILABLE;
 * a connection that has neither after PHX_UCX_CONNECT_TIMEOUT_MS fails too, so a CONNECT to a
 * silent address is answered in bounded time. Every endpoint uses peer error handling (UCP_ERR_HANDLING_MODE_PEER):
 * when the peer dies UCX calls the error handler, which only marks the connection FAILED; the
 * next progress() force-closes the endpoint (UCX forbids closing from the callback), which
 * completes every send still pending on it with an error, and once those SENT and the messages
 * already landed have gone up, CONN_LOST follows.
 *
 * A connection object outlives its endpoint: it is freed only when no UCX request (flush,
 * close), no pending send and no queued descriptor refers to it any more. Ids: MrpcEngine picks
 * binding and connection ids from one space below MRPC_CONN_ACCEPTED_BASE; an id is free again
 * once CLOSE, a failed CONNECTED or CONN_LOST released it. CLOSE of a connection still
 * connecting answers its CONNECT with CANCELLED, so every CONNECT gets one CONNECTED. */
#include "ucx_addr.h"
#include "ucx_addr_check.h"
#include "ucx_engine.h"

#include "phoenix/log.h"
#include "phoenix/status.h"

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int phx_ucx_conns_init(struct phx_ucx_engine *s)
{
    phx_u64map_init(&s->by_id, PHX_UCX_MAX_CONNS);
    return phx_u64map_reserve(&s->by_id, PHX_UCX_MAX_CONNS);
}

/* ---- bookkeeping ----------------------------------------------------------------------------- */

static bool is_dying(enum phx_ucx_conn_state st)
{
    return st == PHX_UCX_FAILED || st == PHX_UCX_CLOSING;
}

/* Moves C to ST, keeping the engine's connecting/dying counts (they gate the scans in tick). */
static void set_state(struct phx_ucx_conn *c, enum phx_ucx_conn_state st)
{
    struct phx_ucx_engine *s = c->s;

    s->connecting -= c->state == PHX_UCX_CONNECTING;
    s->dying -= is_dying(c->state);
    c->state = st;
    s->connecting += st == PHX_UCX_CONNECTING;
    s->dying += is_dying(st);
}

struct phx_ucx_conn *phx_ucx_conn_new(struct phx_ucx_engine *s, uint32_t id)
{
    struct phx_ucx_conn *c = calloc(1, sizeof(*c));

    if (!c)
        return NULL;
    c->s = s;
    c->id = id;
    c->live_fd = -1;
    c->state = PHX_UCX_UP;      /* not counted anywhere until set_state() */
    phx_ucx_credit_init(c);
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    s->n_conns++;
    return c;
}

void phx_ucx_conn_free(struct phx_ucx_conn *c)
{
    struct phx_ucx_engine *s = c->s;

    s->dying -= is_dying(c->state);
    s->connecting -= c->state == PHX_UCX_CONNECTING;
    phx_ucx_credit_forget(c);
    if (c->in_id_map)
        phx_u64map_remove(&s->by_id, c->id, NULL);
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    s->n_conns--;
    phx_ucx_hs_drop(c);
    phx_ucx_live_drop(c);
    free(c->peer);
    free(c->peer_waddr);
    free(c);
}

static void release_id(struct phx_ucx_conn *c)
{
    if (c->in_id_map)
        phx_u64map_remove(&c->s->by_id, c->id, NULL);
    c->in_id_map = false;
}

struct phx_ucx_conn *phx_ucx_conn_by_id(struct phx_ucx_engine *s, uint32_t id)
{
    return phx_u64map_get_ptr(&s->by_id, id);
}

bool phx_ucx_id_usable(struct phx_ucx_engine *s, uint32_t id)
{
    return id < MRPC_CONN_ACCEPTED_BASE && !phx_ucx_conn_by_id(s, id) &&
           !phx_ucx_binding_exists(s, id);
}

/* Echoes REQ up as KIND with STATUS (BOUND, CONNECTED), naming C when given, with WHY (or
 * NULL) written where MrpcEngine reads it (transport.h). */
static void answer(struct phx_ucx_engine *s, const phx_desc_t *req, uint16_t kind, int status,
                   struct phx_ucx_conn *c, const char *why)
{
    phx_desc_t d = *req;

    d.kind = kind;
    d.status = status;
    if (status != PHX_OK)
        mrpc_conn_reason_put(&d, why);
    phx_ucx_queue_event(s, &d, c);
}

static void on_closed(void *request, ucs_status_t status, void *user_data)
{
    struct phx_ucx_conn *c = user_data;

    c->ucx_ops--;
    ucp_request_free(request);
}

static void tell_twin(struct phx_ucx_conn *c);

/* Starts closing C's endpoint (gracefully: pending sends are flushed first; or FORCE: they
 * complete with UCS_ERR_CANCELED). C becomes CLOSING; its endpoint is forgotten at once, also by
 * the worker: once closed, UCX may hand the same address to another engine's new endpoint. */
static void close_ep(struct phx_ucx_conn *c, bool force)
{
    ucp_ep_h ep = c->ep;

    set_state(c, PHX_UCX_CLOSING);
    phx_ucx_hs_drop(c);
    phx_ucx_live_drop(c);       /* the peer hears of it at once */
    phx_ucx_xlocal_detach(c);   /* ... and so does a pair's other end (ucx_xlocal.c) */
    phx_ucx_send_cancel_waiting(c->s, c);   /* they never reached UCX */
    c->deadline_ns = phx_now_ns() + PHX_UCX_ABANDON_MS * 1000000ull;
    if (!ep)
        return;
    tell_twin(c);
    phx_ucx_worker_del_ep(c->s->w, ep);
    c->ep = NULL;
    ucp_request_param_t p = {
        .op_attr_mask = UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA |
                        UCP_OP_ATTR_FIELD_FLAGS,
        .flags = force ? UCP_EP_CLOSE_FLAG_FORCE : 0,
        .cb.send = on_closed,
        .user_data = c,
    };
    ucs_status_ptr_t r = ucp_ep_close_nbx(ep, &p);
    if (UCS_PTR_IS_PTR(r))
        c->ucx_ops++;
    else if (UCS_PTR_IS_ERR(r))
        phx_debug("ucx: closing connection %u: %s", c->id, ucs_status_string(UCS_PTR_STATUS(r)));
}

/* ---- failures ---------------------------------------------------------------------------- */

static void connect_failed_why(struct phx_ucx_conn *c, const char *why)
{
    phx_info("ucx: connection %u failed to connect: %s", c->id, why);
    phx_ucx_hs_drop(c);
    set_state(c, PHX_UCX_FAILED);
    release_id(c);              /* answered: MrpcEngine may reuse the id */
    answer(c->s, &c->request, MRPC_DESC_CONNECTED, PHX_UNAVAILABLE, c, why);
}

static void connect_failed(struct phx_ucx_conn *c, ucs_status_t why)
{
    connect_failed_why(c, ucs_status_string(why));
}

void phx_ucx_conn_handshake_failed(struct phx_ucx_conn *c, const char *why)
{
    if (c->state == PHX_UCX_CONNECTING && !c->s->closing)
        connect_failed_why(c, why);
}

/* C's peer is gone (STATUS says why): a connecting C fails, an established one is lost. */
static void peer_gone(struct phx_ucx_conn *c, ucs_status_t status)
{
    if (c->s->closing)
        return;
    if (c->state == PHX_UCX_CONNECTING) {
        connect_failed(c, status);
    } else if (c->state == PHX_UCX_UP) {
        phx_info("ucx: connection %u lost: %s", c->id, ucs_status_string(status));
        c->lost_due = true;
        set_state(c, PHX_UCX_FAILED);
    }
}

void phx_ucx_conn_peer_gone(struct phx_ucx_conn *c)
{
    peer_gone(c, UCS_ERR_CONNECTION_RESET);
}

/* The error handler of every endpoint; runs inside ucp_worker_progress(). */
static void on_ep_error(void *arg, ucp_ep_h ep, ucs_status_t status)
{
    (void)ep;
    peer_gone(arg, status);
}

void phx_ucx_conn_twin(struct phx_ucx_conn *c, struct phx_ucx_conn *t)
{
    c->twin_ep = (uint64_t)(uintptr_t)t->ep;
    t->twin_ep = (uint64_t)(uintptr_t)c->ep;
}

/* C's endpoint goes: the other end of its loopback pair, if any, hears of it as a peer failure
 * (UCX tells a loopback pair nothing). Under the lock; the twin may be another engine's. */
static void tell_twin(struct phx_ucx_conn *c)
{
    struct phx_ucx_conn *t = c->twin_ep ? phx_u64map_get_ptr(&c->s->w->by_ep, c->twin_ep) : NULL;

    if (t && t->twin_ep == (uint64_t)(uintptr_t)c->ep) {
        t->twin_ep = 0;
        peer_gone(t, UCS_ERR_CONNECTION_RESET);
        if (t->s != c->s)
            phx_ucx_worker_wake(c->s->w);   /* its engine's progress must see it */
    }
    c->twin_ep = 0;
}

void phx_ucx_conn_set_err_handling(ucp_ep_params_t *p, struct phx_ucx_conn *c)
{
    p->field_mask |= UCP_EP_PARAM_FIELD_ERR_HANDLING_MODE | UCP_EP_PARAM_FIELD_ERR_HANDLER;
    p->err_mode = UCP_ERR_HANDLING_MODE_PEER;
    p->err_handler.cb = on_ep_error;
    p->err_handler.arg = c;
}

int phx_ucx_conn_repoint(struct phx_ucx_conn *c)
{
    ucp_ep_params_t p = {
        .field_mask = UCP_EP_PARAM_FIELD_ERR_HANDLER,   /* the mode cannot change (UCX) */
        .err_handler = {.cb = on_ep_error, .arg = c},
    };
    ucs_status_ptr_t r;

    if (!c->ep)
        return 0;
    r = ucp_ep_modify_nb(c->ep, &p);    /* UCX 1.13 sets the handler in place: NULL */
    if (UCS_PTR_IS_PTR(r))
        ucp_request_free(r);
    else if (UCS_PTR_IS_ERR(r)) {
        phx_error("ucx: connection %u: cannot re-point its error handler: %s", c->id,
                  ucs_status_string(UCS_PTR_STATUS(r)));
        return -EIO;
    }
    phx_ucx_worker_del_ep(c->s->w, c->ep);
    return phx_ucx_worker_add_ep(c->s->w, c->ep, c);
}

void phx_ucx_conns_recount(struct phx_ucx_engine *s)
{
    s->connecting = s->dying = 0;
    for (const struct phx_ucx_conn *c = s->conns; c; c = c->next) {
        s->connecting += c->state == PHX_UCX_CONNECTING;
        s->dying += is_dying(c->state);
    }
}

/* Whether REQUEST, a flush of flush_until_wired() that completed, is done with: its reference to
 * C is dropped, and it is stale when C's endpoint changed since (phx_ucx_conn_cede_ep()). */
static bool wire_req_stale(struct phx_ucx_conn *c, void *request)
{
    if (!request)                   /* NULL: flush_until_wired() calls at once */
        return false;
    c->ucx_ops--;
    ucp_request_free(request);
    if (request != c->wire_req)
        return true;
    c->wire_req = NULL;
    return false;
}

static void on_accept_flushed(void *request, ucs_status_t status, void *user_data)
{
    struct phx_ucx_conn *c = user_data;

    if (!wire_req_stale(c, request))
        c->wired = status == UCS_OK;    /* else the error handler fails the connection */
}

/* Flushes C's new endpoint: the flush completes once UCX has wired it up, and until then C's
 * sends wait on it (ucx_send.c). Posting them earlier makes UCX queue and replay them when the
 * wiring completes, and UCX 1.13 asserts in that replay (proto_am.inl, `max_iov > 1`) for an iov
 * message whose final lane takes a single piece, as shared memory's may. */
static void flush_until_wired(struct phx_ucx_conn *c, ucp_send_nbx_callback_t done)
{
    ucp_request_param_t fp = {
        .op_attr_mask = UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA,
        .cb.send = done,
        .user_data = c,
    };
    ucs_status_ptr_t r = ucp_ep_flush_nbx(c->ep, &fp);

    c->wire_req = UCS_PTR_IS_PTR(r) ? r : NULL;
    if (UCS_PTR_IS_PTR(r))
        c->ucx_ops++;
    else
        done(NULL, UCS_PTR_STATUS(r), c);
}

/* ---- CONNECT ----------------------------------------------------------------------------- */

static void on_connect_flushed(void *request, ucs_status_t status, void *user_data)
{
    struct phx_ucx_conn *c = user_data;

    if (wire_req_stale(c, request))
        return;                 /* the endpoint went to a crossed connect's other connection */
    c->wired = status == UCS_OK;
    if (c->s->closing || c->state != PHX_UCX_CONNECTING || status == UCS_OK)
        return;             /* CONNECTED OK waits for the claim's ack (ucx_claim.c) */
    connect_failed(c, status);
}

void phx_ucx_conn_established(struct phx_ucx_conn *c)
{
    if (c->state != PHX_UCX_CONNECTING)
        return;
    set_state(c, PHX_UCX_UP);
    answer(c->s, &c->request, MRPC_DESC_CONNECTED, PHX_OK, c, NULL);
}

/* Starts C's handshake (ucx_hs.c); C is CONNECTING until the server acknowledges its claim. */
static int start_connect(struct phx_ucx_engine *s, struct phx_ucx_conn *c,
                         const struct sockaddr_storage *ss, socklen_t len, char *why,
                         size_t whylen)
{
    int status = phx_ucx_hs_connect(c, ss, len, why, whylen);

    if (status != PHX_OK)
        return status;
    c->deadline_ns = phx_now_ns() + PHX_UCX_CONNECT_TIMEOUT_MS * 1000000ull;
    set_state(c, PHX_UCX_CONNECTING);
    if (phx_u64map_put(&s->by_id, c->id, (uintptr_t)c) < 0) {
        snprintf(why, whylen, "out of connection slots");
        return PHX_RESOURCE_EXHAUSTED;
    }
    c->in_id_map = true;
    return PHX_OK;
}

ucs_status_t phx_ucx_ep_to_peer(ucp_worker_h worker, ucp_ep_params_t *p, const uint8_t *addr,
                                size_t len, bool local, ucp_ep_h *ep, char *why, size_t whylen)
{
    uint8_t *reach = malloc(PHX_UCX_HS_ADDR_MAX);
    size_t n = reach ? phx_ucx_waddr_reachable(addr, len, local, reach, PHX_UCX_HS_ADDR_MAX,
                                                why, whylen)
                     : 0;
    ucs_status_t st = UCS_ERR_INVALID_ADDR;

    if (!reach)
        snprintf(why, whylen, "out of memory");
    if (n) {
        p->address = (const ucp_address_t *)reach;
        st = ucp_ep_create(worker, p, ep);
        p->address = NULL;      /* UCX keeps no pointer into it */
        if (st != UCS_OK)
            snprintf(why, whylen, "ucp_ep_create: %s", ucs_status_string(st));
    }
    free(reach);
    return st;
}

/* An endpoint to the worker at ADDR for C; to our own worker, one that pairs with the next made
 * the same way (ucx_claim.c). */
static ucs_status_t ep_to_worker(struct phx_ucx_conn *c, const uint8_t *addr, size_t len,
                                 bool local, char *why, size_t whylen)
{
    ucp_ep_params_t p = {
        .field_mask = UCP_EP_PARAM_FIELD_REMOTE_ADDRESS | UCP_EP_PARAM_FIELD_FLAGS,
        .flags = UCP_EP_PARAMS_FLAGS_NO_LOOPBACK,
    };
    phx_ucx_conn_set_err_handling(&p, c);
    return phx_ucx_ep_to_peer(c->s->worker, &p, addr, len, local, &c->ep, why, whylen);
}

int phx_ucx_conn_to_worker(struct phx_ucx_conn *c, const uint8_t *addr, size_t len, bool local,
                           const uint8_t *snonce, char *why, size_t whylen)
{
    ucs_status_t st = ep_to_worker(c, addr, len, local, why, whylen);
    if (st != UCS_OK) {
        c->ep = NULL;
        return PHX_UNAVAILABLE;
    }
    if (phx_ucx_worker_add_ep(c->s->w, c->ep, c) < 0) {
        snprintf(why, whylen, "out of memory");
        return PHX_RESOURCE_EXHAUSTED;      /* the ep goes with the failed connection */
    }
    if (snonce && phx_ucx_claim_send(c, snonce) < 0) {
        snprintf(why, whylen, "cannot claim the handshake on the new endpoint");
        return PHX_UNAVAILABLE;
    }
    flush_until_wired(c, on_connect_flushed);
    return PHX_OK;
}

ucp_ep_h phx_ucx_conn_cede_ep(struct phx_ucx_conn *c)
{
    ucp_ep_h ep = c->ep;

    phx_ucx_worker_del_ep(c->s->w, ep);
    c->ep = NULL;
    c->wired = false;
    c->lanes = PHX_UCX_LANES_UNKNOWN;   /* the next endpoint's are read again */
    c->wire_req = NULL;         /* its flush, still running, is stale */
    c->reclaim = true;
    phx_ucx_worker_wake(c->s->w);   /* C's engine may be another one of the worker */
    return ep;
}

/* C claims its handshake again on a new endpoint to the same server (after cede_ep()). */
static void reclaim(struct phx_ucx_conn *c)
{
    char why[256];

    c->reclaim = false;
    if (phx_ucx_claim_again(c, why, sizeof(why)) != PHX_OK)
        connect_failed_why(c, why);
}

int phx_ucx_conn_adopt_ep(struct phx_ucx_conn *c, ucp_ep_h ep)
{
    int rc;

    if (ep) {
        c->ep = ep;
        rc = phx_ucx_conn_repoint(c);       /* our error handler; in the worker's by_ep */
    } else {
        char why[192];
        rc = ep_to_worker(c, c->s->waddr, c->s->waddr_len, true, why, sizeof(why)) == UCS_OK
                 ? 0 : -EIO;
        if (rc < 0) {
            phx_info("ucx: connection %u: %s", c->id, why);
            c->ep = NULL;
        }
        else
            rc = phx_ucx_worker_add_ep(c->s->w, c->ep, c);
    }
    if (rc < 0) {
        if (c->ep)
            phx_ucx_worker_del_ep(c->s->w, c->ep);
        c->ep = NULL;       /* a claimed one stays UCX's; our own goes unused: leaked to UCX */
        phx_ucx_conn_free(c);
        return -EIO;
    }
    set_state(c, PHX_UCX_UP);
    rc = phx_u64map_put(&c->s->by_id, c->id, (uintptr_t)c);
    if (rc < 0) {
        close_ep(c, true);
        return rc;
    }
    c->in_id_map = true;
    flush_until_wired(c, on_accept_flushed);
    return 0;
}

static int connect_status(struct phx_ucx_engine *s, const phx_desc_t *d, char *why,
                          size_t whylen)
{
    struct sockaddr_storage ss;
    socklen_t len;

    if (!phx_ucx_id_usable(s, d->conn_id)) {
        snprintf(why, whylen, "connection id %u is in use or reserved", d->conn_id);
        return PHX_INVALID_ARGUMENT;
    }
    if (s->n_conns >= PHX_UCX_MAX_CONNS) {
        snprintf(why, whylen, "at most %d connections per app", PHX_UCX_MAX_CONNS);
        return PHX_RESOURCE_EXHAUSTED;
    }
    if (phx_ucx_addr_resolve((const char *)(uintptr_t)d->addr, false, &ss, &len, why, whylen))
        return PHX_INVALID_ARGUMENT;
    struct phx_ucx_conn *c = phx_ucx_conn_new(s, d->conn_id);
    if (!c) {
        snprintf(why, whylen, "out of memory");
        return PHX_RESOURCE_EXHAUSTED;
    }
    c->request = *d;
    int status = start_connect(s, c, &ss, len, why, whylen);
    if (status != PHX_OK) {
        release_id(c);
        if (c->ep)
            close_ep(c, true);  /* freed by tick once UCX is done with it */
        else
            phx_ucx_conn_free(c);
    }
    return status;
}

void phx_ucx_connect(struct phx_ucx_engine *s, const phx_desc_t *d)
{
    char why[256] = "";
    int status = connect_status(s, d, why, sizeof(why));

    if (status != PHX_OK) {
        phx_warn("ucx: connection %u: %s", d->conn_id, why);
        answer(s, d, MRPC_DESC_CONNECTED, status, NULL, why);
    }
}

/* ---- CLOSE ------------------------------------------------------------------------------- */

void phx_ucx_close(struct phx_ucx_engine *s, const phx_desc_t *d)
{
    struct phx_ucx_conn *c;

    if (phx_ucx_unbind(s, d->conn_id))
        return;
    if (!(c = phx_ucx_conn_by_id(s, d->conn_id))) {
        phx_debug("ucx: CLOSE of unknown connection %u", d->conn_id);
        return;
    }
    release_id(c);
    c->lost_due = false;        /* MrpcEngine asked for it: no CONN_LOST */
    if (c->state == PHX_UCX_CONNECTING)     /* every CONNECT gets its CONNECTED */
        answer(s, &c->request, MRPC_DESC_CONNECTED, PHX_CANCELLED, c, "the connection was closed");
    if (c->state != PHX_UCX_CLOSING)
        close_ep(c, c->state != PHX_UCX_UP);
}

/* ---- progress ---------------------------------------------------------------------------- */

enum conn_chore {
    CHORE_NONE, CHORE_TIMEOUT, CHORE_REDIAL, CHORE_RECLAIM, CHORE_CLOSE, CHORE_ABANDON,
    CHORE_LOST, CHORE_FREE
};

/* Whether C's deadline_ns means something now. */
static bool has_deadline(const struct phx_ucx_conn *c)
{
    return c->state == PHX_UCX_CONNECTING ||
           (c->state == PHX_UCX_CLOSING && c->in_ucx && !c->ucx_ops);
}

/* What progress() must do for C at time NOW. */
static enum conn_chore chore_of(const struct phx_ucx_conn *c, uint64_t now)
{
    if (c->state == PHX_UCX_CONNECTING && now >= c->deadline_ns)
        return CHORE_TIMEOUT;
    if (c->state == PHX_UCX_CONNECTING)
        return c->redial ? CHORE_REDIAL : c->reclaim ? CHORE_RECLAIM : CHORE_NONE;
    if (c->state == PHX_UCX_FAILED)
        return CHORE_CLOSE;
    if (c->state != PHX_UCX_CLOSING)
        return CHORE_NONE;
    if (has_deadline(c))            /* closed, yet UCX keeps sends: see ucx_send.c */
        return now >= c->deadline_ns ? CHORE_ABANDON : CHORE_NONE;
    if (c->sends || c->queued)
        return CHORE_NONE;
    if (c->lost_due)            /* every SENT and RECEIVED of it went up: now CONN_LOST */
        return CHORE_LOST;
    return c->ucx_ops ? CHORE_NONE : CHORE_FREE;
}

static void report_lost(struct phx_ucx_engine *s, struct phx_ucx_conn *c)
{
    phx_desc_t d = {.kind = MRPC_DESC_CONN_LOST, .status = PHX_UNAVAILABLE, .conn_id = c->id};

    if (phx_ucx_queue_event(s, &d, c) == 0) {
        c->lost_due = false;
        release_id(c);
    }
}

/* Does C's chore; whether there was one. */
static bool tick_one(struct phx_ucx_engine *s, struct phx_ucx_conn *c, uint64_t now)
{
    switch (chore_of(c, now)) {
    case CHORE_NONE:
        return false;
    case CHORE_TIMEOUT:
        connect_failed(c, UCS_ERR_TIMED_OUT);
        break;
    case CHORE_REDIAL:          /* after a live upgrade: this build's handshake */
        phx_ucx_hs_redial(c);
        break;
    case CHORE_RECLAIM:         /* a crossed connect took its first endpoint (ucx_claim.c) */
        reclaim(c);
        break;
    case CHORE_CLOSE:           /* not from the error handler: UCX forbids it there */
        close_ep(c, true);
        break;
    case CHORE_ABANDON:
        s->abandoned += c->in_ucx;  /* UCX may still call back with them: see shutdown */
        phx_ucx_send_abandon(s, c);
        break;
    case CHORE_LOST:
        report_lost(s, c);
        break;
    case CHORE_FREE:
        phx_ucx_conn_free(c);
        break;
    }
    return true;
}

/* Deadlines exist only while something connects or dies: the clock is read only then. */
static uint64_t tick_time(const struct phx_ucx_engine *s)
{
    return s->connecting || s->dying ? phx_now_ns() : 0;
}

unsigned phx_ucx_conns_tick(struct phx_ucx_engine *s)
{
    unsigned work = 0;

    if (!s->connecting && !s->dying)
        return 0;
    uint64_t now = tick_time(s);
    for (struct phx_ucx_conn *c = s->conns, *next; c; c = next) {
        next = c->next;
        work += tick_one(s, c, now);
    }
    return work;
}

bool phx_ucx_conns_due(struct phx_ucx_engine *s)
{
    if (!s->connecting && !s->dying)
        return false;
    uint64_t now = tick_time(s);
    for (struct phx_ucx_conn *c = s->conns; c; c = c->next)
        if (chore_of(c, now) != CHORE_NONE)
            return true;
    return false;
}

int phx_ucx_conns_timeout_ms(struct phx_ucx_engine *s)
{
    uint64_t now = phx_now_ns(), soonest = UINT64_MAX;

    if (!s->connecting && !s->dying)
        return -1;
    for (struct phx_ucx_conn *c = s->conns; c; c = c->next)
        if (has_deadline(c) && c->deadline_ns < soonest)
            soonest = c->deadline_ns;
    if (soonest == UINT64_MAX)
        return -1;
    return soonest <= now ? 0 : (int)((soonest - now + 999999) / 1000000);
}

/* ---- destroy ----------------------------------------------------------------------------- */

/* Whether UCX holds requests that call back into S: flushes and closes, sends it has not
 * completed, rendezvous receives. */
bool phx_ucx_holds_requests(const struct phx_ucx_engine *s)
{
    if (s->rndv_pending)
        return true;
    for (const struct phx_ucx_conn *c = s->conns; c; c = c->next)
        if (c->ucx_ops || c->in_ucx || c->in_xpair)
            return true;
    return false;
}

static bool rndv_pending(const struct phx_ucx_engine *s)
{
    return s->rndv_pending;
}

/* S's endpoints, and nothing else on the shared worker. Under the lock. */
static void close_all(struct phx_ucx_engine *s)
{
    for (struct phx_ucx_conn *c = s->conns; c; c = c->next)
        if (c->ep || c->xpair)
            close_ep(c, true);
}

/* Progresses W, one call per turn of the lock so that the runtime thread goes on with the
 * engines sharing it, until DONE(S) is false or DEADLINE passes; whatever the progress did for
 * the others, the worker is signalled so that their thread turns (ucx_worker.c). Returns whether
 * DONE(S) still holds. Called and returns with the lock held. */
static bool progress_while(struct phx_ucx_engine *s, bool (*busy)(const struct phx_ucx_engine *),
                           uint64_t deadline)
{
    const struct timespec pause = {.tv_nsec = 100000};
    struct phx_ucx_worker *w = s->w;
    bool held;

    while ((held = busy(s)) && phx_now_ns() < deadline) {
        bool progressed = phx_ucx_worker_progress(w) > 0;
        if (progressed)
            phx_ucx_worker_wake(w);
        phx_ucx_worker_unlock(w);
        if (progressed)
            sched_yield();              /* the runtime thread may want the lock */
        else
            nanosleep(&pause, NULL);    /* UCX waits for the network: no need to spin */
        phx_ucx_worker_lock(w);
    }
    return held;
}

/* Two phases, each bounded by PHX_UCX_DESTROY_WAIT_MS. First the rendezvous receives already
 * started finish while no new frame is taken (`closing`: the handlers drop them, which also
 * makes UCX refuse a new rendezvous): over TCP, UCX writes rendezvous data into the receive heap
 * as it reads the socket, and a force-closed endpoint's socket is read on until UCX tears the
 * endpoint down on some later progress - another engine's, after this app's heap is unmapped.
 * A finished receive has all its data in. Then the endpoints are force-closed, and UCX gives
 * back every request that calls into S. */
bool phx_ucx_conns_shutdown(struct phx_ucx_engine *s)
{
    uint64_t wait = PHX_UCX_DESTROY_WAIT_MS * 1000000ull;
    struct phx_ucx_worker *w = s->w;

    phx_ucx_worker_lock(w);
    s->closing = true;
    phx_ucx_listeners_shutdown(s);
    phx_ucx_recv_release_parked(s);
    bool fetching = progress_while(s, rndv_pending, phx_now_ns() + wait);
    close_all(s);
    bool held = progress_while(s, phx_ucx_holds_requests, phx_now_ns() + wait);
    phx_ucx_worker_wake(w);             /* we touched the worker: its thread re-arms */
    phx_ucx_worker_unlock(w);
    if (fetching)
        phx_error("ucx: a peer did not finish %u rendezvous sends into a destroyed app's "
                  "receive heap within %u ms", s->rndv_pending, PHX_UCX_DESTROY_WAIT_MS);
    if (held || s->abandoned)
        phx_warn("ucx: UCX still holds requests of a destroyed engine; its state is kept until "
                 "the worker goes");
    return !fetching && !held && !s->abandoned;
}

void phx_ucx_conns_free(struct phx_ucx_engine *s)
{
    while (s->conns)
        phx_ucx_conn_free(s->conns);
    phx_u64map_fini(&s->by_id);
}

/* ---- lanes ------------------------------------------------------------------------------- */

/* UCX 1.13's ucp_ep_query() names no transports; ucp_ep_print_info() does, one line per lane:
 * "#   lane[0]:  1:tcp/lo.0 md[1] -> ...". */
void phx_ucx_ep_lanes(ucp_ep_h ep, FILE *out)
{
    char *text = NULL, *save = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    bool first = true;

    if (!mem)
        return;
    ucp_ep_print_info(ep, mem);
    fclose(mem);
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char tl[64];
        const char *lane = strstr(line, "lane[");
        if (lane && (lane = strstr(lane, "]:")) &&
            sscanf(lane + 2, " %*u:%63[^. ]", tl) == 1) {
            fprintf(out, "%s%s", first ? "" : ",", tl);
            first = false;
        }
    }
    free(text);
}

/* Whether EP has lanes and every one is TCP ("tcp/DEV"). */
static bool ep_tcp_only(ucp_ep_h ep)
{
    char *text = NULL, *save = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    bool any = false, all = true;

    if (!mem)
        return false;
    phx_ucx_ep_lanes(ep, mem);
    if (fclose(mem) || !text)
        return false;
    for (char *tl = strtok_r(text, ",", &save); tl; tl = strtok_r(NULL, ",", &save)) {
        any = true;
        all = all && strncmp(tl, "tcp/", 4) == 0;
    }
    free(text);
    return any && all;
}

bool phx_ucx_conn_tcp_only(struct phx_ucx_conn *c)
{
    if (c->lanes == PHX_UCX_LANES_UNKNOWN && c->ep && c->wired)
        c->lanes = ep_tcp_only(c->ep) ? PHX_UCX_LANES_TCP : PHX_UCX_LANES_OTHER;
    return c->lanes == PHX_UCX_LANES_TCP;
}
