/* ucx_engine.c - UcxRpcAdapterEngine: the engine operations and the plugin descriptor.
 *
 * progress() does, each time, a bounded amount of each kind of work: pushing up what other
 * engines' progress landed for it, up to PHX_UCX_TX_BATCH tx descriptors (BIND, CONNECT, CLOSE,
 * SEND), up to PHX_UCX_PROGRESS_TURNS calls of ucp_worker_progress() (until it reports nothing
 * or a message lands for a more urgent app's engine of the worker), the connections' chores
 * (connect deadlines, force-closing failed endpoints, CONN_LOST, freeing), pushing queued
 * descriptors up the rx
 * channel (ucx_engine.h says in which order) and granting the credits of what went up
 * (ucx_credit.c: how a slow app slows its senders down, since the shared worker cannot stop
 * delivering one app's frames while the others go on).
 *
 * arm() lets the runtime sleep on the worker's event fd (ucp_worker_arm(): UCS_ERR_BUSY means
 * more events came in, so there is work), with a timeout for the next connect deadline and, as
 * long as connections exist, at least once per PHX_UCX_WAKE_MS so that UCX's keepalive runs.
 * The worker and its fd are shared by the engines of the runtime thread (ucx_worker.c): every
 * operation holds the worker's lock, and arm() first reports what other engines' progress
 * queued for this one.
 *
 * Live upgrade (ucx_state.c has the whole story): flush() pushes up what is queued and first
 * drains the engine's UCX requests in flight, at most PHX_UCX_DRAIN_MS, so that no completion
 * callback of this build is still owed; dump() and restore() move the state as bytes and UCX
 * handles; UCX is re-pointed to the new build by a commit hook, so an aborted upgrade leaves
 * this build running untouched; destroy(STATE_ONLY) then frees only memory. The old build is
 * dlclose()d afterwards: nothing pins it (ucx_context.c pins UCX itself). */
#include "ucx_engine.h"

#include "phoenix/log.h"
#include "phoenix/settings.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int phx_ucx_queue_event(struct phx_ucx_engine *s, const phx_desc_t *d, struct phx_ucx_conn *conn)
{
    struct phx_ucx_up u = {.desc = *d, .conn = conn};
    int rc = phx_fifo_push(&s->events, &u);

    if (rc < 0) {       /* the queue is sized for every event the bounds allow: a bug */
        phx_error("ucx: descriptor of kind %#x for connection %u lost: %s", d->kind, d->conn_id,
                  strerror(-rc));
        return rc;
    }
    if (conn)
        conn->queued++;
    return 0;
}

/* ---- create / destroy -------------------------------------------------------------------- */

void phx_ucx_engine_worker_limits(struct phx_ucx_engine *s)
{
    s->head_max = s->w->max_am_header - sizeof(struct mrpc_wire_hdr);
    if (s->head_max > MRPC_WIRE_HEAD_MAX)
        s->head_max = MRPC_WIRE_HEAD_MAX;
    s->batch_max = (s->w->max_am_header - sizeof(struct mrpc_wire_batch)) /
                   sizeof(struct mrpc_wire_hdr);
    if (s->batch_max > MRPC_WIRE_BATCH_MAX)
        s->batch_max = MRPC_WIRE_BATCH_MAX;
    if (s->batch_max < 2)
        s->batch_max = 0;
}

/* Takes the worker of the runtime thread that will drive E (ucx_worker.c), or a new one of its
 * own served by that thread (settings.ucx.worker = "app"). */
static int worker_attach(struct phx_ucx_engine *s, phx_engine_t *e,
                         const struct phx_ucx_settings *set, char *err, size_t errlen)
{
    s->w = phx_ucx_worker_acquire(s->ctx, phx_engine_runtime_index(e),
                                  set->worker == PHX_UCX_WORKER_APP, set->tcp_peers_only, err,
                                  errlen);
    if (!s->w)
        return -EIO;
    s->worker = s->w->ucp;
    phx_ucx_engine_worker_limits(s);
    return 0;
}

void phx_ucx_engine_free(struct phx_ucx_engine *s)
{
    phx_ucx_batch_free(s);
    phx_ucx_send_free(s);
    phx_ucx_conns_free(s);
    phx_fifo_fini(&s->events);
    phx_fifo_fini(&s->landed);
    s->magic = 0;
    free(s);
}

/* Frees S whatever create() got to. Its own endpoints and listeners are closed first; the worker
 * and the other engines on it carry on. A state UCX may still call back into is handed to the
 * worker instead, to be freed with it (ucx_worker.c). */
static void teardown(struct phx_ucx_engine *s)
{
    struct phx_ucx_worker *w = s->w;
    struct phx_ucx_context *ctx = s->ctx;
    bool keep = w && !phx_ucx_conns_shutdown(s);

    if (w)
        phx_ucx_worker_lock(w);
    s->closing = true;
    if (w)
        phx_ucx_claims_drop(s);     /* the worker's map names them */
    phx_ucx_wireup_fini(s);
    if (!s->rndv_pending)       /* else UCX still writes to blocks it names: not ours to free */
        phx_ucx_recv_free(s);
    else
        phx_error("ucx: engine destroyed while UCX still fetches %u messages into its receive "
                  "heap", s->rndv_pending);
    if (ctx)
        phx_ucx_mem_unmap(s);
    if (keep) {
        s->detached = true;     /* late callbacks must not free blocks of the gone heap */
        phx_ucx_worker_keep(w, s);
    }
    if (w)
        phx_ucx_worker_unlock(w);
    if (!keep)
        phx_ucx_engine_free(s);
    phx_ucx_worker_release(w);
    phx_ucx_context_release(ctx);
}

/* settings.ucx.auth = "none" turns the peers' authentication off: said once per process. */
static void phx_warn_once_auth_none(void)
{
    static bool warned;

    if (!warned)
        phx_warn("ucx: settings.ucx.auth is \"none\": peers are not authenticated, anyone who "
                 "reaches a bound port may connect (docs/transport.md)");
    warned = true;
}

/* The plugin's settings with the engine's config_string over them (settings.h): the limits go
 * into the state; the UCX ones matter to the first engine only, which creates the context. */
static int ucx_create(phx_engine_t *e, const char *config, void **state, char *err,
                      size_t errlen)
{
    struct phx_ucx_settings set;
    struct phx_ucx_engine *s;

    if (phx_settings_derive(&phx_ucx_settings_schema, &set, phx_engine_settings(e), config, err,
                            errlen) < 0)
        return -EINVAL;
    int bad = phx_ucx_settings_check(&set, err, errlen);
    if (bad || !(s = calloc(1, sizeof(*s)))) {
        phx_settings_free(&phx_ucx_settings_schema, &set);
        return bad ? bad : -ENOMEM;
    }
    s->magic = PHX_UCX_STATE_MAGIC;
    s->engine = e;
    s->epfd = -1;
    s->max_message = (uint64_t)set.max_message_mb << 20;
    s->inflight_budget = (uint64_t)set.inflight_mb << 20;
    phx_fifo_init(&s->events, sizeof(struct phx_ucx_up), PHX_UCX_EVENTS_MAX);
    phx_fifo_init(&s->landed, sizeof(struct phx_ucx_up), PHX_UCX_LANDED_MAX);
    int rc = phx_ucx_conns_init(s);
    if (rc)
        snprintf(err, errlen, "out of memory");
    else if (!(s->ctx = phx_ucx_context_acquire(phx_ucx_am_recv, &set, err, errlen)))
        rc = -EIO;
    else if (!(rc = worker_attach(s, e, &set, err, errlen)))
        rc = phx_ucx_wireup_init(s, &set, err, errlen);
    if (!rc && set.auth == PHX_UCX_AUTH_NONE)
        phx_warn_once_auth_none();
    phx_settings_free(&phx_ucx_settings_schema, &set);
    if (rc) {
        teardown(s);
        return rc;
    }
    phx_ucx_mem_init(s);
    *state = s;
    return 0;
}

/* STATE_ONLY: a live upgrade handed every UCX object and reference on (ucx_state.c). */
static void ucx_destroy(phx_engine_t *e, void *state, phx_destroy_mode_t mode)
{
    if (mode == PHX_DESTROY_ALL)
        teardown(state);
    else
        phx_ucx_state_free(state);
}

/* ---- pushing up -------------------------------------------------------------------------- */

/* A RECEIVED that landed at AT_NS (0: unknown) goes up at *NOW (read here if 0): how long it waited for this
 * engine's progress, which is where a message waits while other engines hold the runtime thread
 * (docs/policies.md, "qos"). */
static void up_wait_count(struct phx_ucx_stats *st, uint64_t at_ns, uint64_t *now)
{
    if (!at_ns)
        return;
    if (!*now)                      /* one clock read for the batch that goes up together */
        *now = phx_now_ns();
    uint64_t waited = *now > at_ns ? *now - at_ns : 0;
    st->up_waits++;
    st->up_wait_ns += waited;
    if (waited > st->up_wait_max_ns)
        st->up_wait_max_ns = waited;
}

/* Pushes up to MAX of Q's entries up OUT; returns how many went. */
static unsigned deliver_queue(struct phx_ucx_engine *s, phx_fifo_t *q,
                              phx_channel_t *out, unsigned max)
{
    struct phx_ucx_up *u;
    unsigned n = 0;
    uint64_t now = 0;

    while (n < max && (u = phx_fifo_head(q))) {
        phx_desc_t d = u->desc;
        d.seq = s->rx_seq;
        if (!out || phx_chan_push(out, &d, 1) != 1)
            break;
        s->rx_seq++;
        s->inflight -= u->charge;
        if (u->conn)
            u->conn->queued--;
        if (d.kind == MRPC_DESC_RECEIVED) {
            up_wait_count(&s->stats, u->at_ns, &now);
            s->stats.rx_msgs++;
            s->stats.rx_bytes += d.len;
            phx_ucx_credit_consumed(u->conn);
        }
        phx_fifo_drop(q, 1);
        n++;
    }
    return n;
}

/* Events, then SENT, then RECEIVED; a queue is started only once the one before is empty. */
static unsigned deliver(struct phx_ucx_engine *s, phx_channel_t *out)
{
    unsigned n = deliver_queue(s, &s->events, out, PHX_UCX_UP_BATCH);

    if (phx_fifo_count(&s->events))
        return n;
    n += phx_ucx_send_deliver(s, out);
    if (s->done_head)
        return n;
    return n + deliver_queue(s, &s->landed, out, PHX_UCX_UP_BATCH);
}

static unsigned queued_up(const struct phx_ucx_engine *s)
{
    return phx_fifo_count(&s->events) + s->done_count + phx_fifo_count(&s->landed);
}

/* ---- progress ---------------------------------------------------------------------------- */

/* One tx descriptor; false when it is a SEND that must wait for room. */
static bool handle_tx(struct phx_ucx_engine *s, const phx_desc_t *d)
{
    switch (d->kind) {
    case MRPC_DESC_SEND:
        return phx_ucx_send_submit(s, d);
    case MRPC_DESC_BIND:
        phx_ucx_bind(s, d);
        return true;
    case MRPC_DESC_CONNECT:
        phx_ucx_connect(s, d);
        return true;
    case MRPC_DESC_CLOSE:
        phx_ucx_batch_flush(s);     /* what was sent before the close goes first */
        phx_ucx_close(s, d);
        return true;
    default:                    /* nothing after us to hand it to */
        s->stats.tx_unknown++;
        phx_debug("ucx: tx descriptor of kind %#x ignored", d->kind);
        return true;
    }
}

/* Immediate answers wait in the event queue: past PHX_UCX_EVENTS_SOFT tx is not read. */
static bool tx_open(const struct phx_ucx_engine *s)
{
    return phx_fifo_count(&s->events) < PHX_UCX_EVENTS_SOFT;
}

static unsigned read_tx(struct phx_ucx_engine *s, phx_channel_t *in)
{
    unsigned n = phx_ucx_send_resume(s);   /* before anything new: order */
    phx_desc_t d;

    if (s->has_held && phx_ucx_send_submit(s, &s->held)) {
        s->has_held = false;
        n++;
    }
    while (!s->has_held && n < PHX_UCX_TX_BATCH && tx_open(s) && in &&
           phx_chan_pop(in, &d, 1) == 1) {
        n++;
        if (!handle_tx(s, &d)) {
            s->held = d;
            s->has_held = true;
            break;
        }
    }
    phx_ucx_batch_flush(s);     /* a batch holds only what this pass found (ucx_batch.c) */
    return n;
}

/* One ucp_worker_progress() took NS: one call moves whatever the sockets hold (docs/policies.md,
 * "qos", measured). */
static void wp_count(struct phx_ucx_stats *st, uint64_t ns)
{
    st->wp_calls++;
    if (ns > 1000000ull)
        st->wp_long++;
    if (ns > st->wp_max_ns)
        st->wp_max_ns = ns;
}

/* The engine whose progress_worker() runs on this thread, and whether a message landed for
 * another engine meanwhile. Per thread and per build, not in the worker: a transient flag, and
 * the worker's layout is shared by every build (ucx_worker.c, Upgrades); an engine of an older
 * build just does not stop early. */
static __thread const struct phx_ucx_engine *progressing;
static __thread bool handed_off;

void phx_ucx_handoff_note(const struct phx_ucx_engine *s)
{
    if (!progressing)
        return;
    unsigned urgency = phx_engine_urgency(s->engine);
    if (progressing == s ? urgency > 0 : urgency > phx_engine_urgency(progressing->engine))
        handed_off = true;
}

/* The callbacks it runs may be other engines' too (ucx_worker.c): they queue, their own
 * progress pushes. What lands for S while its rx channel is full is bounded by the credits of
 * its connections (ucx_credit.c). At most PHX_UCX_PROGRESS_TURNS calls, until one reports
 * nothing or a message landed for a more urgent app's engine, or for S itself when S's app is
 * urgent: the worker is shared, and while one app's bulk data keeps it busy a landed message
 * waits for this loop to end before its engine pushes it up (measured: docs/policies.md, "qos").
 * Only for urgent apps: fewer turns per progress() let an engine post sends faster than the
 * worker completes them.
 *
 * A call that moved a single event while UCX holds no request of S (small messages: eager sends
 * complete in place) also ends the loop: the sockets were drained, and the call after it, one
 * system call (TCP's epoll_wait) per call, would find nothing; the runtime turns again at once
 * after work anyway, and polls then (benchmarks/RESULTS.md, "Doorbells, completions and worker
 * polls per call"). With requests in flight (bulk data) the loop goes on as before. */
static unsigned progress_worker(struct phx_ucx_engine *s)
{
    unsigned work = 0;
    uint64_t t0 = phx_now_ns();

    progressing = s;
    handed_off = false;
    for (unsigned turn = 0; turn < PHX_UCX_PROGRESS_TURNS; turn++) {
        phx_ucx_recv_pass(true);            /* what lands in it lands now, not at the pass's start */
        unsigned n = phx_ucx_worker_progress(s->w);
        uint64_t t1 = phx_now_ns();
        wp_count(&s->stats, t1 - t0);
        t0 = t1;
        work += n;
        if (!n || (n == 1 && !phx_ucx_holds_requests(s)))
            break;
        if (handed_off) {
            s->stats.handoffs++;
            break;
        }
    }
    progressing = NULL;
    return work;
}

/* Nothing of S is on its worker: no endpoint, listener, handshake, claim or UCX request. */
static bool worker_unused(const struct phx_ucx_engine *s)
{
    return !s->n_conns && !s->n_bindings && !s->n_hs && !s->n_claims && !s->rndv_pending &&
           !s->pending_sends && !s->abandoned && !s->parked;
}

/* S, under the lock of FROM, moves to worker TO (new or another thread's, not yet locked by us):
 * its handshakes' address and its epoll set follow. On return S's worker (TO, or FROM again when
 * the move failed, which is logged and not retried) is locked and the other one released. */
static void move_worker(struct phx_ucx_engine *s, phx_engine_t *e, struct phx_ucx_worker *from,
                        struct phx_ucx_worker *to, const char *why)
{
    char err[256];

    phx_ucx_worker_lock(to);
    s->w = to;
    s->worker = to->ucp;
    if (phx_ucx_wireup_rehome(s, from, err, sizeof(err)) < 0) {
        phx_warn("ucx: engine %llu stays on worker %u: %s",
                 (unsigned long long)phx_engine_id(e), from->id, err);
        s->move_failed = true;
        s->w = from;
        s->worker = from->ucp;
        phx_ucx_worker_unlock(to);
        phx_ucx_worker_release(to);
        return;
    }
    phx_ucx_engine_worker_limits(s);
    phx_info("ucx: engine %llu (%s) moved from worker %u to worker %u",
             (unsigned long long)phx_engine_id(e), why, from->id, to->id);
    phx_ucx_worker_unlock(from);
    phx_ucx_worker_release(from);
}

/* A group the service put on another runtime thread than the one its engines were created for
 * (an app a standing rule made urgent, placed on a thread kept for urgent apps when it
 * registered: service.c, place_group) takes that thread's worker, on its first turn there,
 * before anything of it is on the old one. Under the lock of S's worker, which it changes; the
 * lock order of the move is in ucx_worker.c, Locking. When S was the old worker's only engine
 * (no ordinary app on that thread yet), the release destroys that worker, here on the new
 * thread: one ucp_worker created and destroyed for nothing, at registration only. */
static void follow_runtime(struct phx_ucx_engine *s, phx_engine_t *e)
{
    struct phx_ucx_worker *from = s->w, *to;
    unsigned rt = phx_engine_runtime_index(e);
    char err[256];

    if (rt == phx_ucx_worker_runtime(from) || s->move_failed || !worker_unused(s))
        return;
    to = phx_ucx_worker_acquire(s->ctx, rt, phx_ucx_worker_is_own(from), s->wcfg.peers_only, err,
                                sizeof(err));
    if (!to) {
        phx_warn("ucx: engine %llu keeps the worker of runtime %u: %s",
                 (unsigned long long)phx_engine_id(e), phx_ucx_worker_runtime(from), err);
        s->move_failed = true;
        return;
    }
    move_worker(s, e, from, to, "its group changed runtime threads");
}

/* settings.ucx.worker = "class": an engine of a latency-class app (QosEngine marks its chain
 * urgent) that shares its thread's worker gets one of its own, as soon as it has nothing on the
 * shared one; in practice before its first connection or listener, when QoS comes from a
 * standing rule (applied at registration) or is attached before the app connects. One attached
 * to an app with connections leaves it where it is (endpoints cannot move between workers) and
 * it moves only once they are all closed; an app that leaves the class keeps its own worker.
 * Under the lock of S's worker, which it may change: the new one, nobody else's yet, is locked
 * on return instead. */
static void follow_class(struct phx_ucx_engine *s, phx_engine_t *e)
{
    struct phx_ucx_worker *from = s->w, *to;
    char err[256];

    if (s->wcfg.worker != PHX_UCX_WORKER_CLASS || s->move_failed ||
        phx_ucx_worker_is_own(from) || !phx_engine_urgency(e) || !worker_unused(s))
        return;
    if (phx_ucx_worker_make_own(from, &to, s->wcfg.peers_only, err, sizeof(err)) < 0) {
        phx_warn("ucx: engine %llu stays on the shared worker %u: %s",
                 (unsigned long long)phx_engine_id(e), from->id, err);
        s->move_failed = true;
        return;
    }
    if (to != from)         /* else it had the worker to itself: that is its own now */
        move_worker(s, e, from, to, "a latency-class app, to its own worker");
}

/* Where S's worker should be, before S does anything on it this turn. */
static void follow_group(struct phx_ucx_engine *s, phx_engine_t *e)
{
    follow_runtime(s, e);
    follow_class(s, e);
}

static int ucx_progress(phx_engine_t *e, void *state)
{
    struct phx_ucx_engine *s = state;

    phx_ucx_worker_lock(s->w);
    phx_ucx_recv_pass(true);
    follow_group(s, e);
    s->draining = false;                    /* an upgrade that drained it was aborted */
    if (s->w->am_handler != phx_ucx_am_recv)   /* a build newer than the worker's handlers */
        phx_ucx_worker_claim_handler(s->w);
    unsigned work = deliver(s, phx_engine_out(e, PHX_RX, 0));  /* what others' progress landed */
    work += read_tx(s, phx_engine_in(e, PHX_TX, 0));
    work += phx_ucx_xlocal_progress(s);     /* other runtime threads' apps (ucx_xlocal.c) */
    work += progress_worker(s);
    work += phx_ucx_conns_tick(s);
    work += phx_ucx_hs_progress(s, false);
    work += deliver(s, phx_engine_out(e, PHX_RX, 0));
    work += phx_ucx_recv_unpark(s);         /* what went up made room */
    work += phx_ucx_credit_grant_due(s);
    phx_ucx_recv_pass(false);
    phx_ucx_worker_unlock(s->w);
    return (int)work;
}

/* ---- sleeping ---------------------------------------------------------------------------- */

/* Work progress() would do right now without any event from UCX: also what callbacks run by
 * another engine's progress queued for S, since the worker will not report it again. */
static unsigned ready_work(struct phx_ucx_engine *s, phx_engine_t *e)
{
    phx_channel_t *in = phx_engine_in(e, PHX_TX, 0);
    unsigned queued = queued_up(s);

    if (queued && phx_chan_space(phx_engine_out(e, PHX_RX, 0)))
        return queued;
    if (s->has_held ? phx_ucx_send_has_room(s, &s->held) : tx_open(s) && phx_chan_count(in))
        return 1;
    return phx_ucx_conns_due(s) || s->grants_due || phx_ucx_send_resumable(s) ||
                   phx_ucx_xlocal_ready(s)
               ? 1
               : 0;
}

static int wake_timeout_ms(struct phx_ucx_engine *s)
{
    int t = phx_ucx_conns_timeout_ms(s), parked = phx_ucx_recv_timeout_ms(s);
    int hs = phx_ucx_hs_timeout_ms(s), local = phx_ucx_local_timeout_ms(s);
    int xlocal = phx_ucx_xlocal_timeout_ms(s);

    if (parked >= 0 && (t < 0 || parked < t))
        t = parked;
    if (hs >= 0 && (t < 0 || hs < t))
        t = hs;
    if (local >= 0 && (t < 0 || local < t))
        t = local;
    if (xlocal >= 0 && (t < 0 || xlocal < t))
        t = xlocal;
    if (s->n_conns && (t < 0 || t > PHX_UCX_WAKE_MS))
        t = PHX_UCX_WAKE_MS;
    return t;
}

/* A group on another runtime than its worker's, which it could not follow (follow_runtime: the
 * move failed, or the group was moved with something on the worker, which the service never
 * does), shares a worker with another thread: still correct (the lock), but the two threads may
 * sleep through each other's events. Say so. */
static void check_runtime(struct phx_ucx_engine *s, phx_engine_t *e)
{
    unsigned rt = phx_engine_runtime_index(e);

    if (rt != phx_ucx_worker_runtime(s->w) && !s->runtime_warned) {
        phx_warn("ucx: engine %llu runs on runtime %u with the worker of runtime %u",
                 (unsigned long long)phx_engine_id(e), rt, phx_ucx_worker_runtime(s->w));
        s->runtime_warned = true;
    }
}

static int arm_locked(struct phx_ucx_engine *s, phx_engine_t *e, phx_wait_t *w)
{
    follow_group(s, e);     /* before the runtime watches the fd of a worker S leaves */
    unsigned ready = ready_work(s, e);

    w->fd = -1;
    w->timeout_ms = -1;
    if (ready)
        return (int)ready;
    check_runtime(s, e);
    ucs_status_t st = phx_ucx_worker_arm(s->w);
    if (st == UCS_ERR_BUSY)     /* events wait, maybe another engine's: progress first */
        return 1;
    if (st != UCS_OK) {
        phx_warn("ucx: ucp_worker_arm: %s", ucs_status_string(st));
        return -EIO;
    }
    w->fd = phx_ucx_wait_fd(s); /* the worker's (shared), or our epoll set holding it */
    w->timeout_ms = wake_timeout_ms(s);
    s->sock_due = s->n_sockets > 0;     /* woken: the sockets may be why */
    return 0;
}

static int ucx_arm(phx_engine_t *e, void *state, phx_wait_t *w)
{
    struct phx_ucx_engine *s = state;

    phx_ucx_worker_lock(s->w);
    int rc = arm_locked(s, e, w);
    phx_ucx_worker_unlock(s->w);
    return rc;
}

/* ---- flush, dump, restore ---------------------------------------------------------------- */

/* Progresses the worker until UCX holds no request of S, at most PHX_UCX_DRAIN_MS (see
 * ucx_state.c); new rendezvous frames park meanwhile. Whether it is drained. Under the lock. */
static bool drain(struct phx_ucx_engine *s, phx_channel_t *out)
{
    uint64_t deadline = phx_now_ns() + PHX_UCX_DRAIN_MS * 1000000ull;
    bool progressed = false;

    s->draining = true;
    while (phx_ucx_holds_requests(s) && phx_now_ns() < deadline) {
        progressed |= phx_ucx_worker_progress(s->w) > 0;
        deliver(s, out);
    }
    if (progressed)
        phx_ucx_worker_wake(s->w);  /* other engines' frames may wait: their thread turns */
    return !phx_ucx_holds_requests(s);
}

/* Control thread, group suspended: the lock keeps out callbacks run by the engines that share
 * the worker and still progress. Returns what is still queued, or -ETIME when UCX did not finish
 * the engine's requests in time (logged: the upgrade is refused, the engine runs on). */
static int ucx_flush(phx_engine_t *e, void *state)
{
    struct phx_ucx_engine *s = state;
    phx_channel_t *out = phx_engine_out(e, PHX_RX, 0);

    phx_ucx_worker_lock(s->w);
    phx_ucx_hs_fail_all(s);     /* handshakes in flight do not cross an upgrade */
    phx_ucx_batch_flush(s);
    phx_ucx_xlocal_recall(s);   /* no slot of this build stays in a pair (ucx_xlocal.c) */
    bool drained = drain(s, out);
    while (deliver(s, out))
        ;
    unsigned left = queued_up(s);
    phx_ucx_worker_unlock(s->w);
    if (!drained)
        phx_warn("ucx: engine %llu: UCX did not finish its requests within %d ms; it stays on "
                 "its build", (unsigned long long)phx_engine_id(e), PHX_UCX_DRAIN_MS);
    return drained ? (int)left : -ETIME;
}

/* ucx_state.c does the work; the lock keeps out the callbacks of engines sharing the worker. */
static int ucx_dump(phx_engine_t *e, void *state, phx_blob_t *out)
{
    struct phx_ucx_engine *s = state;

    phx_ucx_worker_lock(s->w);
    int rc = phx_ucx_state_dump(e, s, out);
    phx_ucx_worker_unlock(s->w);
    return rc;
}

static int ucx_restore(phx_engine_t *e, const phx_blob_t *in, void **state, char *err,
                       size_t errlen)
{
    struct phx_ucx_engine *s;
    int rc = phx_ucx_state_restore(e, in, &s, err, errlen);

    if (!rc)
        *state = s;
    return rc;
}

/* ---- admin ------------------------------------------------------------------------------- */

static int stats_base_json(const struct phx_ucx_engine *s, char **reply);

/* The wire-up's part of the stats: handshakes in flight and refusals by reason. */
static int wireup_json(const struct phx_ucx_engine *s, FILE *out)
{
    fprintf(out, ",\"handshakes\":%u,\"halfopen\":%u,\"claims\":%u,\"hs_ok\":%llu,"
            "\"hs_unlogged\":%llu,\"hs_retried\":%llu,\"hs_crossed\":%llu,\"auth\":\"%s\","
            "\"hs_refused\":{",
            s->n_hs, s->n_halfopen, s->n_claims, (unsigned long long)s->stats.hs_ok,
            (unsigned long long)s->stats.hs_unlogged, (unsigned long long)s->stats.hs_retried,
            (unsigned long long)s->stats.hs_crossed,
            s->wcfg.auth == PHX_UCX_AUTH_MUNGE ? "munge" : "none");
    for (unsigned r = PHX_UCX_HS_R_MAGIC; r < PHX_UCX_HS_NREASONS; r++)
        fprintf(out, "%s\"%s\":%llu", r == PHX_UCX_HS_R_MAGIC ? "" : ",",
                phx_ucx_hs_reason_name(r), (unsigned long long)s->stats.hs_refused[r]);
    fputs("}", out);
    return 0;
}

/* {"<id>":{"addr":"host:port","uid":N,"gid":N,"authenticated":true},...}: accepted ones. */
static int peers_json(const struct phx_ucx_engine *s, char **reply)
{
    size_t len = 0;
    FILE *out = open_memstream(reply, &len);
    const char *sep = "";

    if (!out)
        return -ENOMEM;
    fputc('{', out);
    for (const struct phx_ucx_conn *c = s->conns; c; c = c->next) {
        if (!c->peer || c->state == PHX_UCX_CLOSING)
            continue;
        fprintf(out, "%s\"%u\":{\"addr\":\"%s\",\"uid\":%lld,\"gid\":%lld,"
                "\"authenticated\":%s}", sep, c->id, c->peer->addr,
                c->peer->uid == MRPC_PEER_UID_UNKNOWN ? -1LL : (long long)c->peer->uid,
                c->peer->gid == MRPC_PEER_UID_UNKNOWN ? -1LL : (long long)c->peer->gid,
                c->peer->flags & MRPC_PEER_AUTHENTICATED ? "true" : "false");
        sep = ",";
    }
    fputc('}', out);
    return fclose(out) ? -ENOMEM : 0;
}

static int stats_json(const struct phx_ucx_engine *s, char **reply)
{
    char *base = NULL;
    size_t len = 0;
    int rc = stats_base_json(s, &base);
    FILE *out = rc ? NULL : open_memstream(reply, &len);

    if (!out) {
        free(base);
        return -ENOMEM;
    }
    base[strlen(base) - 1] = '\0';     /* its closing brace: the wire-up's part goes on */
    fputs(base, out);
    wireup_json(s, out);
    fprintf(out, ",\"worker_own\":%s,\"worker_mode\":\"%s\"",
            phx_ucx_worker_is_own(s->w) ? "true" : "false",
            s->wcfg.worker == PHX_UCX_WORKER_APP     ? "app"
            : s->wcfg.worker == PHX_UCX_WORKER_CLASS ? "class" : "thread");
    fputc('}', out);
    free(base);
    return fclose(out) ? -ENOMEM : 0;
}

static int stats_base_json(const struct phx_ucx_engine *s, char **reply)
{
    const struct phx_ucx_stats *st = &s->stats;

    return asprintf(reply,
                    "{\"tx_msgs\":%llu,\"tx_bytes\":%llu,\"rx_msgs\":%llu,\"rx_bytes\":%llu,"
                    "\"malformed\":%llu,\"rejected_inflight\":%llu,\"rejected_heap\":%llu,"
                    "\"parked\":%llu,\"eager_sends\":%llu,\"eager_held\":%llu,"
                    "\"dropped\":%llu,\"send_errors\":%llu,\"rx_errors\":%llu,"
                    "\"tx_unknown\":%llu,\"tx_memh\":%llu,\"tx_head\":%llu,\"tx_gathered\":%llu,"
                    "\"tx_batches\":%llu,\"tx_batched\":%llu,\"rx_batches\":%llu,"
                    "\"tx_grants\":%llu,\"rx_grants\":%llu,\"granted\":%llu,\"credit_waits\":%llu,"
                    "\"accepted\":%llu,\"rejected_conns\":%llu,"
                    "\"conns\":%u,\"closing\":%u,\"listeners\":%u,\"pending_sends\":%u,"
                    "\"pending_peak\":%u,\"inflight_bytes\":%llu,\"queued\":%u,"
                    "\"worker\":%u,\"worker_runtime\":%u,\"worker_engines\":%u,"
                    "\"worker_unclaimed\":%llu,\"up_waits\":%llu,\"up_wait_mean_us\":%.1f,"
                    "\"up_wait_max_us\":%.1f,\"wp_calls\":%llu,\"wp_long\":%llu,"
                    "\"wp_max_us\":%.1f,\"handoffs\":%llu,\"tx_local\":%llu,\"rx_local\":%llu,"
                    "\"local_waits\":%llu,\"same_node\":%s}",
                    (unsigned long long)st->tx_msgs, (unsigned long long)st->tx_bytes,
                    (unsigned long long)st->rx_msgs, (unsigned long long)st->rx_bytes,
                    (unsigned long long)st->malformed, (unsigned long long)st->rejected_inflight,
                    (unsigned long long)st->rejected_heap, (unsigned long long)st->parked,
                    (unsigned long long)st->eager_sends, (unsigned long long)st->eager_held,
                    (unsigned long long)st->dropped,
                    (unsigned long long)st->send_errors, (unsigned long long)st->rx_errors,
                    (unsigned long long)st->tx_unknown, (unsigned long long)st->tx_memh,
                    (unsigned long long)st->tx_head, (unsigned long long)st->tx_gathered,
                    (unsigned long long)st->tx_batches,
                    (unsigned long long)st->tx_batched, (unsigned long long)st->rx_batches,
                    (unsigned long long)st->tx_grants, (unsigned long long)st->rx_grants,
                    (unsigned long long)st->granted,
                    (unsigned long long)st->credit_waits,
                    (unsigned long long)st->accepted,
                    (unsigned long long)st->rejected_conns, s->n_conns - s->dying, s->dying,
                    s->n_bindings, s->pending_sends, st->pending_peak,
                    (unsigned long long)s->inflight, queued_up(s), s->w->id,
                    phx_ucx_worker_runtime(s->w),
                    phx_ucx_worker_engines(s->w), (unsigned long long)s->w->unclaimed,
                    (unsigned long long)st->up_waits,
                    st->up_waits ? (double)st->up_wait_ns / (double)st->up_waits / 1e3 : 0.0,
                    (double)st->up_wait_max_ns / 1e3, (unsigned long long)st->wp_calls,
                    (unsigned long long)st->wp_long, (double)st->wp_max_ns / 1e3,
                    (unsigned long long)st->handoffs, (unsigned long long)st->tx_local,
                    (unsigned long long)st->rx_local, (unsigned long long)st->local_waits,
                    s->wcfg.same_node ? "true" : "false") < 0
               ? -ENOMEM
               : 0;
}

/* {"<id>":"tcp/lo,posix/memory",...} for the connections that have an endpoint. */
static int transports_json(const struct phx_ucx_engine *s, char **reply)
{
    size_t len = 0;
    FILE *out = open_memstream(reply, &len);
    const char *sep = "";

    if (!out)
        return -ENOMEM;
    fputc('{', out);
    for (const struct phx_ucx_conn *c = s->conns; c; c = c->next) {
        if (!c->ep)
            continue;
        fprintf(out, "%s\"%u\":\"", sep, c->id);
        phx_ucx_ep_lanes(c->ep, out);
        fputc('"', out);
        sep = ",";
    }
    fputc('}', out);
    return fclose(out) ? -ENOMEM : 0;
}

/* [{"id":1,"port":5000},...] */
static int listeners_json(const struct phx_ucx_engine *s, char **reply)
{
    size_t len = 0;
    FILE *out = open_memstream(reply, &len);

    if (!out)
        return -ENOMEM;
    fputc('[', out);
    for (unsigned i = 0; i < s->n_bindings; i++)
        fprintf(out, "%s{\"id\":%u,\"port\":%u}", i ? "," : "", s->bindings[i]->id,
                s->bindings[i]->port);
    fputc(']', out);
    return fclose(out) ? -ENOMEM : 0;
}

static int admin_locked(struct phx_ucx_engine *s, const char *request, char **reply)
{
    if (strcmp(request, "stats") == 0)
        return stats_json(s, reply);
    if (strcmp(request, "listeners") == 0)
        return listeners_json(s, reply);
    if (strcmp(request, "transports") == 0)
        return transports_json(s, reply);
    if (strcmp(request, "peers") == 0)
        return peers_json(s, reply);
#ifdef UCX_STATE_NEXT
    if (strcmp(request, "upgrades") == 0)   /* the test build's converted field (ucx_state.c) */
        return asprintf(reply, "{\"upgrades\":%llu}", (unsigned long long)s->upgrades) < 0
                   ? -ENOMEM
                   : 0;
#endif
    return -ENOTSUP;
}

/* The group is suspended, but engines sharing the worker may run callbacks into S: lock. */
static int ucx_admin(phx_engine_t *e, void *state, const char *request, char **reply)
{
    struct phx_ucx_engine *s = state;

    *reply = NULL;
    phx_ucx_worker_lock(s->w);
    int rc = admin_locked(s, request, reply);
    phx_ucx_worker_unlock(s->w);
    return rc;
}

static const phx_engine_ops_t ucx_engine = {
    .type = "UcxRpcAdapterEngine",
    .state_version = UCX_STATE_VERSION,
    .ports = {[PHX_TX] = {.in = 1, .out = 0}, [PHX_RX] = {.in = 0, .out = 1}},
    .create = ucx_create,
    .progress = ucx_progress,
    .arm = ucx_arm,
    .flush = ucx_flush,
    .dump = ucx_dump,
    .restore = ucx_restore,
    .admin = ucx_admin,
    .destroy = ucx_destroy,
};

PHX_PLUGIN("ucx", UCX_PLUGIN_VERSION, .engines = PHX_ENGINES(&ucx_engine),
           .settings = &phx_ucx_settings_schema);
