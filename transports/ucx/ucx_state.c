/* ucx_state.c - UcxRpcAdapterEngine's state as bytes, for a live upgrade (dump in the old build,
 *               restore in the new one; phoenix/handover.h has the contract).
 *
 * UCX calls back into the build that registered a callback: endpoint error handlers, listener
 * connection handlers, the worker's active-message handlers, and the completion callbacks of
 * requests in flight (sends, batches, grants, flushes, closes, rendezvous receives). So:
 *
 *   flush()    (ucx_engine.c) drives the engine's requests in flight to completion, at most
 *              PHX_UCX_DRAIN_MS, with `draining` set so that no new rendezvous fetch starts
 *              (such frames park); the upgrade fails with a sentence if UCX does not finish.
 *   dump()     refuses (-EBUSY, the reason logged) if UCX still holds a request of the engine
 *              (another engine's flush may have progressed the shared worker since), or the
 *              worker keeps a destroyed engine UCX may still call back into; else writes the
 *              blob below. Endpoints, listeners, memory handles and parked rendezvous
 *              descriptors go through the resource table as handles.
 *   restore()  builds a state of this build's layout; it shares the old state's context and
 *              worker (found by the runtime slot and the worker id, their references inherited)
 *              and registers a commit hook. It changes nothing UCX sees.
 *   commit     the hook (before the old state goes): this build becomes the context's newest and
 *              installs its active-message handlers, each endpoint's error handler and the
 *              worker's endpoint -> connection entry point to the new state
 *              (ucp_ep_modify_nb). Listening sockets simply carry on. An aborted
 *              upgrade never ran it, so UCX still calls the old build, which runs on.
 *   old state  destroyed STATE_ONLY: its memory only; every UCX object is the new state's.
 *
 * The blob, little-endian, each list's count first:
 *
 *   magic "UCXS", worker id, limits       max_message, inflight_budget, runtime_warned,
 *                                         next_accepted, rx_seq, inflight [, upgrades: v7]
 *   held SEND                             flag, descriptor
 *   stats                                 how many u64 counters, each, then pending_peak
 *   memory maps (send, receive)           chunks, failed, each chunk's handle (0: not mapped)
 *   connections                           id, state, endpoint handle, CONNECT, deadline, flags,
 *                                         credits, ungranted, peer identity (a heap block),
 *                                         loopback twin's endpoint or (flag CF_XPAIR) the
 *                                         pair across threads (ucx_xlocal.c), handshake
 *                                         socket (fd)
 *   bindings                              id, port, listening socket (an fd)
 *   events, landed                        descriptor, connection ordinal + 1 (0: none), charge
 *   sends (ucx_send.c)                    done list, wait lists
 *   parked frames (ucx_recv.c)            connection ordinal, descriptor handle, length, header
 *
 * A connection is named by its ordinal in the blob, not its id (a closing one may share its id
 * with a newer one). The shared context and worker are not in the blob: their layouts
 * (ucx_context.h, ucx_worker.h) must stay the same across builds. The test build
 * phoenix_ucx_next (UCX_STATE_NEXT) adds a field and writes version 7, converting 6; the test
 * build phoenix_ucx_refuse (UCX_STATE_REFUSE) reads only 8; phoenix_ucx_refuse_late
 * (UCX_STATE_REFUSE_LATE) reads everything, takes every handle, then refuses: the abort path. */
#include "ucx_engine.h"

#include "phoenix/log.h"
#include "phoenix/settings.h"

#include <errno.h>
#include <sys/epoll.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STATE_MAGIC 0x53584355U     /* "UCXS" */
#define STATE_MAX_STATS 64
#define STAT_WORDS (offsetof(struct phx_ucx_stats, pending_peak) / sizeof(uint64_t))

_Static_assert(STAT_WORDS <= STATE_MAX_STATS, "restore reads at most 64 counters");

enum conn_flag {
    CF_IN_ID_MAP = 1, CF_WIRED = 2, CF_LOST_DUE = 4, CF_CREDIT_FREE = 8, CF_GRANT_DUE = 16,
    CF_CLAIMED = 32, CF_REDIAL = 64, CF_XPAIR = 128
};

/* ---- dump ---------------------------------------------------------------------------------- */

struct dumper {
    phx_engine_t *e;
    phx_wbuf_t    w;
    int           rc;
};

static void put_handle(struct dumper *d, void *handle)
{
    uint32_t h = 0;

    if (handle && !d->rc)
        d->rc = phx_handover_put_handle(d->e, handle, &h);
    phx_wbuf_u32(&d->w, h);
}

/* Why S cannot be dumped now, or NULL. */
static const char *not_movable(const struct phx_ucx_engine *s)
{
    if (phx_ucx_holds_requests(s))
        return "UCX still holds requests that call back into it";
    if (s->abandoned)
        return "UCX still holds sends of a closed connection";
    if (s->held_eager)
        return "eager frames wait for room in the receive heap, their data held here";
    if (s->open_batch)
        return "a batch is being filled";
    if (s->w->kept)
        return "its worker keeps a destroyed engine that UCX may still call back into";
    return NULL;
}

static void dump_limits(phx_wbuf_t *w, const struct phx_ucx_engine *s)
{
    phx_wbuf_u32(w, STATE_MAGIC);
    phx_wbuf_u32(w, s->w->id);
    phx_wbuf_u64(w, s->max_message);
    phx_wbuf_u64(w, s->inflight_budget);
    phx_wbuf_u8(w, s->runtime_warned);
    phx_wbuf_u32(w, s->next_accepted);
    phx_wbuf_u64(w, s->rx_seq);
    phx_wbuf_u64(w, s->inflight);
#ifdef UCX_STATE_NEXT
    phx_wbuf_u64(w, s->upgrades);
#endif
    phx_wbuf_u8(w, s->has_held);
    phx_wbuf_blob(w, &s->held, sizeof(s->held));
}

static void dump_stats(phx_wbuf_t *w, const struct phx_ucx_stats *st)
{
    uint64_t v[STAT_WORDS];

    memcpy(v, st, sizeof(v));
    phx_wbuf_u32(w, (uint32_t)STAT_WORDS);
    for (size_t i = 0; i < STAT_WORDS; i++)
        phx_wbuf_u64(w, v[i]);
    phx_wbuf_u32(w, st->pending_peak);
}

static void dump_map(struct dumper *d, const struct phx_ucx_heap_map *m)
{
    phx_wbuf_u32(&d->w, m->nchunks);
    phx_wbuf_u8(&d->w, m->failed);
    for (unsigned i = 0; i < m->nchunks; i++)
        put_handle(d, m->chunks[i]);
}

static uint8_t conn_flags(const struct phx_ucx_conn *c)
{
    return (uint8_t)((c->in_id_map ? CF_IN_ID_MAP : 0) | (c->wired ? CF_WIRED : 0) |
                     (c->lost_due ? CF_LOST_DUE : 0) | (c->credit_free ? CF_CREDIT_FREE : 0) |
                     (c->grant_due ? CF_GRANT_DUE : 0) | (c->claimed ? CF_CLAIMED : 0) |
                     (c->redial ? CF_REDIAL : 0) | (c->xpair ? CF_XPAIR : 0));
}

static void dump_conns(struct dumper *d, struct phx_ucx_engine *s)
{
    uint32_t ord = 0;

    phx_wbuf_u32(&d->w, s->n_conns);
    for (struct phx_ucx_conn *c = s->conns; c; c = c->next) {
        c->ord = ord++;
        phx_wbuf_u32(&d->w, c->id);
        phx_wbuf_u8(&d->w, (uint8_t)c->state);
        put_handle(d, c->ep);
        phx_wbuf_blob(&d->w, &c->request, sizeof(c->request));
        phx_wbuf_u64(&d->w, c->deadline_ns);
        phx_wbuf_u8(&d->w, conn_flags(c));
        phx_wbuf_u32(&d->w, c->credits);
        phx_wbuf_u32(&d->w, c->ungranted);
        uint32_t peer = 0;      /* ACCEPTED points at it: the same block must live on */
        if (c->peer && !d->rc)
            d->rc = phx_handover_put_heap(d->e, c->peer, &peer);
        phx_wbuf_u32(&d->w, peer);
        phx_wbuf_u64(&d->w, c->xpair ? phx_ucx_xlocal_dump(c) : c->twin_ep);  /* CF_XPAIR:
                                               the pair's, else UCX's; not this build's */
        uint32_t live = 0;
        if (c->live_fd >= 0 && !d->rc)
            d->rc = phx_handover_put_fd(d->e, c->live_fd, &live);
        phx_wbuf_u32(&d->w, live);
    }
}

static void dump_bindings(struct dumper *d, const struct phx_ucx_engine *s)
{
    phx_wbuf_u32(&d->w, s->n_bindings);
    for (unsigned i = 0; i < s->n_bindings; i++) {
        phx_wbuf_u32(&d->w, s->bindings[i]->id);
        phx_wbuf_u32(&d->w, s->bindings[i]->port);
        uint32_t h = 0;
        if (!d->rc)
            d->rc = phx_handover_put_fd(d->e, s->bindings[i]->fd, &h);
        phx_wbuf_u32(&d->w, h);
    }
}

static void dump_queue(phx_wbuf_t *w, const phx_fifo_t *q)
{
    phx_wbuf_u32(w, phx_fifo_count(q));
    for (uint32_t i = 0; i < q->count; i++) {
        const struct phx_ucx_up *u = (const void *)(q->items + (size_t)((q->head + i) &
                                                                         (q->cap - 1)) * q->size);
        phx_wbuf_blob(w, &u->desc, sizeof(u->desc));
        phx_wbuf_u32(w, u->conn ? u->conn->ord + 1 : 0);
        phx_wbuf_u64(w, u->charge);
    }
}

int phx_ucx_state_dump(phx_engine_t *e, struct phx_ucx_engine *s, phx_blob_t *out)
{
    struct dumper d = {.e = e};
    const char *why = not_movable(s);

    if (why) {
        phx_warn("ucx: engine %llu cannot move to the new build now: %s",
                 (unsigned long long)phx_engine_id(e), why);
        return -EBUSY;
    }
    dump_limits(&d.w, s);
    dump_stats(&d.w, &s->stats);
    dump_map(&d, &s->send_map);
    dump_map(&d, &s->recv_map);
    dump_conns(&d, s);          /* sets the ordinals the rest refers to */
    dump_bindings(&d, s);
    dump_queue(&d.w, &s->events);
    dump_queue(&d.w, &s->landed);
    phx_ucx_send_dump(s, &d.w);
    if (!d.rc)
        d.rc = phx_ucx_recv_dump(e, s, &d.w);
    int rc = d.rc ? d.rc : phx_wbuf_finish(&d.w, out);
    if (d.rc)
        free(d.w.data);
    out->version = UCX_STATE_VERSION;
    return rc;
}

/* ---- restore ------------------------------------------------------------------------------- */

struct loader {
    phx_engine_t          *e;
    struct phx_ucx_engine *s;
    phx_rbuf_t             r;
    uint32_t               version;
    struct phx_ucx_conn  **conns;       /* by ordinal */
    uint32_t               n_conns;
    char                  *err;
    size_t                 errlen;
};

__attribute__((format(printf, 3, 4)))
static int refuse(struct loader *l, int rc, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(l->err, l->errlen, fmt, ap);
    va_end(ap);
    return rc;
}

static int malformed(struct loader *l, const char *part)
{
    return refuse(l, -EINVAL, "UcxRpcAdapterEngine state version %u is malformed (%s)",
                  l->version, part);
}

/* The old state's worker, through the context every build finds in the runtime slot. */
static int find_worker(struct loader *l, uint32_t id)
{
    struct phx_ucx_engine *s = l->s;

    if (!(s->ctx = phx_ucx_context_current()) || !(s->w = phx_ucx_worker_find(s->ctx, id)) ||
        s->w->magic != PHX_UCX_WORKER_MAGIC)
        return refuse(l, -EINVAL, "UcxRpcAdapterEngine state names UCX worker %u, which this "
                      "process does not have", id);
    s->worker = s->w->ucp;
    phx_ucx_engine_worker_limits(s);
    return 0;
}

static int load_limits(struct loader *l)
{
    struct phx_ucx_engine *s = l->s;
    size_t len;

    if (phx_rbuf_u32(&l->r) != STATE_MAGIC)
        return malformed(l, "magic");
    int rc = find_worker(l, phx_rbuf_u32(&l->r));
    if (rc)
        return rc;
    s->max_message = phx_rbuf_u64(&l->r);
    s->inflight_budget = phx_rbuf_u64(&l->r);
    s->runtime_warned = phx_rbuf_u8(&l->r) != 0;
    s->next_accepted = phx_rbuf_u32(&l->r);
    s->rx_seq = phx_rbuf_u64(&l->r);
    s->inflight = phx_rbuf_u64(&l->r);
    uint64_t upgrades = l->version >= 7 ? phx_rbuf_u64(&l->r) : 0;
#ifdef UCX_STATE_NEXT
    s->upgrades = upgrades + 1;     /* converting from 6: the field starts at this restore */
#else
    (void)upgrades;
#endif
    s->has_held = phx_rbuf_u8(&l->r) != 0;
    const void *held = phx_rbuf_blob(&l->r, sizeof(s->held), &len);
    if (!held || len != sizeof(s->held))
        return malformed(l, "limits");
    memcpy(&s->held, held, sizeof(s->held));
    return 0;
}

static int load_stats(struct loader *l)
{
    uint64_t v[STATE_MAX_STATS] = {0};
    uint32_t n = phx_rbuf_u32(&l->r);

    for (uint32_t i = 0; i < n && !l->r.failed; i++) {
        uint64_t x = phx_rbuf_u64(&l->r);
        if (i < STATE_MAX_STATS)
            v[i] = x;
    }
    memcpy(&l->s->stats, v, STAT_WORDS * sizeof(uint64_t));
    l->s->stats.pending_peak = phx_rbuf_u32(&l->r);
    return l->r.failed ? malformed(l, "stats") : 0;
}

static int load_map(struct loader *l, struct phx_ucx_heap_map *m)
{
    uint32_t n = phx_rbuf_u32(&l->r);

    m->failed = phx_rbuf_u8(&l->r) != 0;
    if (l->r.failed || n != m->nchunks)
        return refuse(l, -EINVAL, "UcxRpcAdapterEngine state maps %u chunks of the app's %s "
                      "heap, which has %u", n, m->what ? m->what : "", m->nchunks);
    for (uint32_t i = 0; i < n; i++) {
        uint32_t h = phx_rbuf_u32(&l->r);
        if (h && !(m->chunks[i] = phx_handover_take_handle(l->e, h)))
            return malformed(l, "memory handle");
    }
    return 0;
}

static int load_conn(struct loader *l, uint32_t ord)
{
    uint32_t id = phx_rbuf_u32(&l->r);
    uint8_t state = phx_rbuf_u8(&l->r);
    uint32_t ep = phx_rbuf_u32(&l->r);
    size_t len;
    const void *req = phx_rbuf_blob(&l->r, sizeof(phx_desc_t), &len);
    struct phx_ucx_conn *c;

    if (!req || len != sizeof(phx_desc_t) || state > PHX_UCX_CLOSING)
        return malformed(l, "connection");
    if (!(c = l->conns[ord] = phx_ucx_conn_new(l->s, id)))
        return refuse(l, -ENOMEM, "out of memory restoring connection %u", id);
    c->state = (enum phx_ucx_conn_state)state;
    memcpy(&c->request, req, sizeof(c->request));
    c->deadline_ns = phx_rbuf_u64(&l->r);
    uint8_t f = phx_rbuf_u8(&l->r);
    c->credits = phx_rbuf_u32(&l->r);
    c->ungranted = phx_rbuf_u32(&l->r);
    c->wired = f & CF_WIRED, c->lost_due = f & CF_LOST_DUE, c->credit_free = f & CF_CREDIT_FREE;
    c->claimed = f & CF_CLAIMED;
    c->redial = f & CF_REDIAL;          /* its handshake starts again here (ucx_hs.c) */
    uint32_t peer = phx_rbuf_u32(&l->r);
    if (peer && !(c->peer = phx_handover_take_heap(l->e, peer)))
        return malformed(l, "peer identity");
    uint64_t twin = phx_rbuf_u64(&l->r);
    if (!(f & CF_XPAIR))
        c->twin_ep = twin;
    else if (phx_ucx_xlocal_load(c, twin) < 0)
        return malformed(l, "same-node pair");
    uint32_t live = phx_rbuf_u32(&l->r);
    if (live && (c->live_fd = phx_handover_take_fd(l->e, live)) < 0)
        return malformed(l, "connection socket");
    if ((c->grant_due = f & CF_GRANT_DUE))
        l->s->grants_due++;
    if (ep && !(c->ep = phx_handover_take_handle(l->e, ep)))
        return malformed(l, "endpoint handle");
    if ((f & CF_IN_ID_MAP) && phx_u64map_put(&l->s->by_id, id, (uintptr_t)c) < 0)
        return refuse(l, -EINVAL, "UcxRpcAdapterEngine state names connection %u twice", id);
    c->in_id_map = f & CF_IN_ID_MAP;
    return 0;
}

static int load_conns(struct loader *l)
{
    uint32_t n = phx_rbuf_u32(&l->r);

    if (l->r.failed || n > PHX_UCX_MAX_CONNS)
        return malformed(l, "connections");
    if (!(l->conns = calloc(n + 1, sizeof(*l->conns))))
        return refuse(l, -ENOMEM, "out of memory");
    l->n_conns = n;
    for (uint32_t i = 0; i < n; i++) {
        int rc = l->r.failed ? malformed(l, "connections") : load_conn(l, i);
        if (rc)
            return rc;
    }
    phx_ucx_conns_recount(l->s);
    return 0;
}

static int load_bindings(struct loader *l)
{
    struct phx_ucx_engine *s = l->s;
    uint32_t n = phx_rbuf_u32(&l->r);

    if (l->r.failed || n > PHX_UCX_MAX_LISTENERS)
        return malformed(l, "bindings");
    for (uint32_t i = 0; i < n; i++) {
        uint32_t id = phx_rbuf_u32(&l->r);
        uint16_t port = (uint16_t)phx_rbuf_u32(&l->r);
        int fd = phx_handover_take_fd(l->e, phx_rbuf_u32(&l->r));
        if (l->r.failed || fd < 0)
            return malformed(l, "listening socket");
        if (phx_ucx_binding_adopt(s, id, port, fd) < 0)
            return refuse(l, -ENOMEM, "cannot watch binding %u's socket", id);
    }
    return 0;
}

static int load_queue(struct loader *l, phx_fifo_t *q)
{
    uint32_t n = phx_rbuf_u32(&l->r);

    for (uint32_t i = 0; i < n && !l->r.failed; i++) {
        struct phx_ucx_up u = {0};
        size_t len;
        const void *d = phx_rbuf_blob(&l->r, sizeof(u.desc), &len);
        uint32_t ord = phx_rbuf_u32(&l->r);
        u.charge = phx_rbuf_u64(&l->r);
        if (!d || len != sizeof(u.desc) || ord > l->n_conns)
            return malformed(l, "queue");
        memcpy(&u.desc, d, sizeof(u.desc));
        if ((u.conn = ord ? l->conns[ord - 1] : NULL))
            u.conn->queued++;
        if (phx_fifo_push(q, &u) < 0)
            return refuse(l, -ENOMEM, "cannot restore a queue of %u descriptors", n);
    }
    return l->r.failed ? malformed(l, "queue") : 0;
}

static int load_lists(struct loader *l)
{
    int rc = load_queue(l, &l->s->events);

    if (!rc)
        rc = load_queue(l, &l->s->landed);
    if (!rc && (rc = phx_ucx_send_load(l->s, &l->r, l->conns, l->n_conns)) != 0)
        rc = rc == -ENOMEM ? refuse(l, rc, "out of memory restoring sends")
                           : malformed(l, "sends");
    if (!rc && (rc = phx_ucx_recv_load(l->e, l->s, &l->r, l->conns, l->n_conns)) != 0)
        rc = rc == -ENOMEM ? refuse(l, rc, "out of memory restoring parked frames")
                           : malformed(l, "parked frames");
    return rc;
}

static int load_all(struct loader *l)
{
    int rc = load_limits(l);

    if (!rc)
        rc = load_stats(l);
    if (!rc)
        rc = load_map(l, &l->s->send_map);
    if (!rc)
        rc = load_map(l, &l->s->recv_map);
    if (!rc)
        rc = load_conns(l);
    if (!rc)
        rc = load_bindings(l);
    if (!rc)
        rc = load_lists(l);
    if (!rc && (l->r.failed || l->r.left))
        rc = malformed(l, "length");
#ifdef UCX_STATE_REFUSE_LATE
    if (!rc)    /* a test build: the abort path after every handle was taken */
        rc = refuse(l, -ECANCELED, "UcxRpcAdapterEngine %s refuses the state it has just read "
                    "(a test build)", UCX_PLUGIN_VERSION);
#endif
    return rc;
}

/* The commit hook (see the file comment): UCX calls this build from now on. Control thread,
 * groups suspended, the old state not yet destroyed. */
static void on_commit(phx_engine_t *e, void *arg)
{
    struct phx_ucx_engine *s = arg;
    struct phx_ucx_worker *w = s->w;
    unsigned failed = 0;

    phx_ucx_context_adopt(s->ctx, phx_ucx_am_recv);
    phx_ucx_worker_lock(w);
    phx_ucx_worker_claim_handler(w);
    for (struct phx_ucx_conn *c = s->conns; c; c = c->next)
        failed += phx_ucx_conn_repoint(c) < 0;
    phx_ucx_worker_wake(w);
    phx_ucx_worker_unlock(w);
    if (failed)
        phx_error("ucx: engine %llu: %u endpoints could not be moved to the new "
                  "build", (unsigned long long)phx_engine_id(e), failed);
}

/* The wire-up settings are not in the blob: the plugin's settings and the engine's config string
 * give them again, as at create(). The epoll set and the worker's address are new. */
static int wireup_again(struct loader *l)
{
    struct phx_ucx_settings set;

    if (phx_settings_derive(&phx_ucx_settings_schema, &set, phx_engine_settings(l->e),
                            phx_engine_config(l->e), l->err, l->errlen) < 0)
        return -EINVAL;
    int rc = phx_ucx_wireup_init(l->s, &set, l->err, l->errlen);
    phx_settings_free(&phx_ucx_settings_schema, &set);
    for (unsigned i = 0; !rc && i < l->s->n_bindings; i++)
        rc = phx_ucx_sock_watch(l->s, l->s->bindings[i]->fd,
                                PHX_UCX_TAG_LISTEN | l->s->bindings[i]->id, EPOLLIN);
    for (struct phx_ucx_conn *c = l->s->conns; !rc && c; c = c->next)
        if (c->live_fd >= 0 && c->in_id_map)
            rc = phx_ucx_sock_watch(l->s, c->live_fd, PHX_UCX_TAG_LIVE | c->id, EPOLLIN);
    return rc;
}

static struct phx_ucx_engine *state_new(phx_engine_t *e)
{
    struct phx_ucx_engine *s = calloc(1, sizeof(*s));

    if (!s)
        return NULL;
    s->magic = PHX_UCX_STATE_MAGIC;
    s->engine = e;
    s->epfd = -1;
    phx_fifo_init(&s->events, sizeof(struct phx_ucx_up), PHX_UCX_EVENTS_MAX);
    phx_fifo_init(&s->landed, sizeof(struct phx_ucx_up), PHX_UCX_LANDED_MAX);
    if (phx_ucx_conns_init(s) < 0) {
        phx_ucx_state_free(s);
        return NULL;
    }
    phx_ucx_mem_init(s);
    return s;
}

int phx_ucx_state_restore(phx_engine_t *e, const phx_blob_t *in, struct phx_ucx_engine **out,
                          char *err, size_t errlen)
{
    struct loader l = {.e = e, .version = in->version, .err = err, .errlen = errlen};

    if (in->version < UCX_STATE_MIN_READ || in->version > UCX_STATE_VERSION)
        return refuse(&l, -ENOTSUP, "UcxRpcAdapterEngine %s reads state versions %u to %u, "
                      "not %u", UCX_PLUGIN_VERSION, UCX_STATE_MIN_READ, UCX_STATE_VERSION,
                      in->version);
    if (!(l.s = state_new(e)))
        return refuse(&l, -ENOMEM, "out of memory");
    phx_rbuf_init(&l.r, in);
    int rc = load_all(&l);
    if (!rc)
        rc = wireup_again(&l);
    if (!rc && phx_handover_on_commit(e, on_commit, l.s) < 0)
        rc = refuse(&l, -ENOMEM, "out of memory");
    free(l.conns);
    if (rc) {
        phx_ucx_state_free(l.s);    /* what it took stays the old state's */
        return rc;
    }
    *out = l.s;
    return 0;
}

/* ---- destroy(STATE_ONLY) ------------------------------------------------------------------- */

void phx_ucx_state_free(struct phx_ucx_engine *s)
{
    struct phx_ucx_heap_map *maps[] = {&s->send_map, &s->recv_map};

    phx_ucx_recv_forget_parked(s);
    for (unsigned i = 0; i < 2; i++) {
        free(maps[i]->chunks);
        maps[i]->chunks = NULL;
        maps[i]->nchunks = 0;
    }
    for (unsigned i = 0; i < s->n_bindings; i++)
        free(s->bindings[i]);       /* their sockets are the other state's */
    s->n_bindings = 0;
    for (struct phx_ucx_conn *c = s->conns; c; c = c->next) {
        c->peer = NULL;             /* ... and so are the peer identities */
        c->live_fd = -1;            /* ... and the connections' sockets */
    }
    phx_ucx_wireup_fini(s);
    phx_ucx_engine_free(s);
}
