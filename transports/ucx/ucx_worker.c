/* ucx_worker.c - one ucp_worker per runtime thread, shared by the engines that thread drives,
 * and workers of their own for the apps that need one.
 *
 * Why. A worker opens every transport interface UCX may use, with its sockets, memory pools and
 * progress; one per app made a node with many apps pay that many times over and gave each
 * runtime thread one event fd per app to sleep on. So the engines of one runtime thread share
 * its worker: one set of interfaces, one fd to sleep on. Each engine still owns its connections,
 * listeners, sends, receive heap, in-flight budget, stats and failures (ucx_engine.h), which is
 * what keeps apps independent. Engines of different runtime threads never share a worker: it is
 * found by phx_engine_runtime_index(), and the service gives a group its runtime index before it
 * creates the group's engines (phx_subscription_create_on); a group it then puts on a thread
 * kept for urgent apps takes that thread's worker on its first turn (ucx_engine.c,
 * follow_runtime).
 *
 * Own workers. One ucp_worker_progress() moves whatever all the worker's sockets hold, so on a
 * shared worker an app's turn moves the other apps' data too: a latency app's turn moved a bulk
 * app's rendezvous data (docs/policies.md, "qos", measured). An own worker (PHX_UCX_WORKER_OWN in
 * `runtime`) serves one engine, still on its runtime thread; settings.ucx.worker says which
 * engines get one (ucx_engine.c). An engine can change workers only while it has nothing on the
 * one it leaves (phx_ucx_worker_make_own()).
 *
 * Lifetime. The context (ucx_context.h) lists its workers. The first engine created for runtime
 * thread R creates R's worker, the next ones take a reference, the last one destroyed destroys
 * it. The list and the counts live in the context and the worker, guarded by the context's lock,
 * not in this build's globals, because a live upgrade hands engines to a new build of the plugin
 * that must find the same workers (see Upgrades).
 *
 * Locking. The workers are UCS_THREAD_MODE_SERIALIZED: one thread at a time. Mostly that is the
 * runtime thread, but the control thread creates, destroys, dumps, restores and queries an engine
 * whose group is suspended while the runtime thread goes on progressing the other engines of the
 * same worker. So every engine operation holds `lock` from entry to return, and every UCX call on
 * the worker happens under it: about 20 ns per progress while nobody else wants it. An engine
 * that changes workers (ucx_engine.c, move_worker) holds two for a moment: the one it leaves,
 * then the one it joins. The order is always from a worker of an ordinary runtime thread to a
 * worker of a thread kept for urgent apps, or to a new one nobody else holds, never back, so two
 * moves cannot wait for each other.
 *
 * Callbacks. ucp_worker_progress() called by engine A runs the callbacks of every engine on the
 * worker: B's sends completing, B's messages arriving, B's peers failing, B's listeners
 * accepting. They run on the thread holding the lock, so touching B's state is safe, also while
 * B's group is suspended, and they only record and queue (ucx_engine.h); B's own progress pushes
 * up B's channel. B's queues count as work in B's progress and arm, so the runtime neither sleeps
 * while they hold something nor needs the worker to tell it again.
 *
 * Demultiplexing. The active-message handler is the worker's, so its argument is the worker:
 * the frame's reply endpoint finds the connection in `by_ep`, the connection its engine. A frame
 * without a reply endpoint, or on an endpoint no live connection owns any more (closed), belongs
 * to no app: it is dropped and counted here (`unclaimed`). Endpoint error handlers and listener
 * handlers carry their own connection or binding.
 *
 * Sleeping. Every engine's arm() returns the worker's efd; the runtime registers it once
 * (runtime.c counts references to a shared fd). The first engine that arms after a progress
 * calls ucp_worker_arm(); the others of the same sleep reuse its OK (`armed`), which holds since
 * nothing progressed the worker in between (an engine that arms with an fd progressed the worker
 * in the idle turn before). When the control thread progresses the worker (destroying an engine)
 * it may eat events the runtime thread sleeps for or queue work for other engines, so it signals
 * the worker afterwards (ucp_worker_signal): the runtime thread turns once and arms again.
 *
 * Destroying an engine (ucx_conn.c) closes only its own listeners and endpoints: first it lets
 * the rendezvous receives it started finish (UCX writes their data into the app's receive heap,
 * which goes right after), then it force-closes and progresses the worker until UCX gives back
 * every request that calls into its state; each a bounded while, one progress per turn of the
 * lock so that the runtime thread carries on with the others. If UCX
 * keeps some (ucx_send.c: UCX 1.13 keeps rendezvous sends of a peer that died over shared
 * memory), the state is kept here and freed after ucp_worker_destroy() has dropped them.
 *
 * Guarding. With settings.ucx.tcp_peers_only (the engine that creates a worker says), a new
 * worker's UCX TCP listening sockets get the "peers only" filter (ucx_portguard.h) right after
 * ucp_worker_create(), before its address goes to anyone; the filter lives in the kernel, so it
 * needs nothing from the worker afterwards, across upgrades too.
 *
 * Upgrades. UCX calls the callbacks of the build that registered them, and a live upgrade
 * dlclose()s the old build. The context (in a runtime slot) and its list of workers are not any
 * build's: engines restored in a new build find their worker there by id (ucx_state.c), and so
 * do that build's new engines; their layouts must therefore stay the same across builds. The
 * active-message handlers are registered per worker (single messages, batches, credit grants),
 * by the build that creates it, and taken over by the newest build (the one that adopted the
 * context last) in the commit hook of its restored engines, before the old build goes; an
 * engine of a newer build still claims them from its progress, for a worker it finds with
 * another build's. An aborted upgrade never ran the hook: the old handlers stay. A worker
 * that keeps a destroyed engine (above) refuses upgrades: UCX may still call into its build. */
#include "ucx_worker.h"

#include "mrpc/transport.h"
#include "ucx_addr_check.h"
#include "ucx_engine.h"
#include "ucx_portguard.h"

#include "phoenix/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WORKER_FIRST_EPS PHX_UCX_MAX_CONNS     /* by_ep doubles from here as engines join */

/* ---- creation and destruction ------------------------------------------------------------ */

static ucs_status_t set_handler(struct phx_ucx_worker *w, unsigned id, ucp_am_recv_callback_t cb)
{
    ucp_am_handler_param_t p = {
        .field_mask = UCP_AM_HANDLER_PARAM_FIELD_ID | UCP_AM_HANDLER_PARAM_FIELD_FLAGS |
                      UCP_AM_HANDLER_PARAM_FIELD_CB | UCP_AM_HANDLER_PARAM_FIELD_ARG,
        .id = id,
        .flags = UCP_AM_FLAG_WHOLE_MSG,
        .cb = cb,
        .arg = w,
    };

    return ucp_worker_set_am_recv_handler(w->ucp, &p);
}

/* Makes this build's handlers W's: single messages, batches (ucx_recv.c), credits
 * (ucx_credit.c) and claims (ucx_claim.c). */
static ucs_status_t set_handlers(struct phx_ucx_worker *w)
{
    ucs_status_t st = set_handler(w, PHX_UCX_AM_ID, phx_ucx_am_recv);

    if (st == UCS_OK)
        st = set_handler(w, PHX_UCX_AM_BATCH_ID, phx_ucx_am_batch_recv);
    if (st == UCS_OK)
        st = set_handler(w, PHX_UCX_AM_CREDIT_ID, phx_ucx_am_credit_recv);
    if (st == UCS_OK)
        st = set_handler(w, PHX_UCX_AM_CLAIM_ID, phx_ucx_am_claim_recv);
    if (st == UCS_OK)
        w->am_handler = phx_ucx_am_recv;
    return st;
}

static int worker_open(struct phx_ucx_worker *w, char *err, size_t errlen)
{
    ucp_worker_params_t wp = {
        .field_mask = UCP_WORKER_PARAM_FIELD_THREAD_MODE,
        /* One thread at a time, but not always the same one: the runtime thread progresses,
         * the control thread creates, restores and destroys engines on it (see Locking).
         * SERIALIZED says exactly that (no locks in UCX; ours orders the hand-overs), SINGLE
         * would promise one thread forever. */
        .thread_mode = UCS_THREAD_MODE_SERIALIZED,
    };
    ucs_status_t st = ucp_worker_create(w->ctx->ucp, &wp, &w->ucp);

    if (st != UCS_OK) {
        snprintf(err, errlen, "ucp_worker_create: %s", ucs_status_string(st));
        w->ucp = NULL;
        return -EIO;
    }
    ucp_worker_attr_t attr = {.field_mask = UCP_WORKER_ATTR_FIELD_MAX_AM_HEADER};
    if (ucp_worker_query(w->ucp, &attr) != UCS_OK ||
        attr.max_am_header < sizeof(struct mrpc_wire_hdr)) {
        snprintf(err, errlen, "UCX cannot carry a %zu-byte active-message header",
                 sizeof(struct mrpc_wire_hdr));
        return -ENOTSUP;
    }
    w->max_am_header = attr.max_am_header;
    if ((st = ucp_worker_get_efd(w->ucp, &w->efd)) != UCS_OK) {
        snprintf(err, errlen, "ucp_worker_get_efd: %s", ucs_status_string(st));
        return -EIO;
    }
    if ((st = set_handlers(w)) != UCS_OK) {
        snprintf(err, errlen, "cannot set the active-message handler: %s",
                 ucs_status_string(st));
        return -EIO;
    }
    return 0;
}

/* settings.ucx.tcp_peers_only: W's UCX TCP listening sockets, found by the ports its own
 * address names, admit only peers from now on, before that address goes to anyone
 * (ucx_portguard.h). A port not found is said, not fatal: UCX's tcp over IPv6 is not guarded. */
static void guard(struct phx_ucx_worker *w)
{
    ucp_worker_attr_t attr = {.field_mask = UCP_WORKER_ATTR_FIELD_ADDRESS};
    struct phx_ucx_waddr_tcp tcp[PHX_UCX_WADDR_MAX_TLS];
    uint16_t ports[PHX_UCX_WADDR_MAX_TLS];
    int n = -1;

    if (ucp_worker_query(w->ucp, &attr) == UCS_OK) {
        n = phx_ucx_waddr_tcp((const uint8_t *)attr.address, attr.address_length, tcp,
                              PHX_UCX_WADDR_MAX_TLS);
        ucp_worker_release_address(w->ucp, attr.address);
    }
    for (int i = 0; i < n; i++)
        ports[i] = tcp[i].port;
    int guarded = n > 0 ? phx_ucx_portguard_ports(ports, (unsigned)n) : 0;
    if (n < 0 || guarded < 0)
        phx_error("ucx: worker %u: cannot guard UCX's TCP ports: %s", w->id,
                  n < 0 ? "its address does not read" : strerror(-guarded));
    else if (guarded < n)
        phx_warn("ucx: worker %u: %d of UCX's %d TCP listening sockets admit peers only (the "
                 "others are not IPv4 sockets of this process)", w->id, guarded, n);
}

/* Frees W whatever worker_create() got to, and the engines it kept. */
static void worker_free(struct phx_ucx_worker *w)
{
    if (w->ucp)
        ucp_worker_destroy(w->ucp);     /* drops the requests the kept engines wait for */
    while (w->kept) {
        struct phx_ucx_engine *s = w->kept;
        w->kept = s->kept_next;
        phx_ucx_engine_free(s);
    }
    phx_u64map_fini(&w->by_ep);
    phx_u64map_fini(&w->claims);
    phx_u64map_fini(&w->spares);
    pthread_mutex_destroy(&w->lock);
    w->magic = 0;
    free(w);
}

/* Under ctx->lock. */
static struct phx_ucx_worker *worker_create(struct phx_ucx_context *ctx, unsigned runtime,
                                            bool peers_only, char *err, size_t errlen)
{
    struct phx_ucx_worker *w = calloc(1, sizeof(*w));

    if (!w) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    *w = (struct phx_ucx_worker){.magic = PHX_UCX_WORKER_MAGIC, .ctx = ctx,
                                 .id = ++ctx->last_worker_id, .runtime = runtime, .refs = 1,
                                 .efd = -1};
    pthread_mutex_init(&w->lock, NULL);
    phx_u64map_init(&w->by_ep, SIZE_MAX);      /* one entry per connection of its engines */
    phx_u64map_init(&w->claims, SIZE_MAX);     /* one entry per handshake awaiting its claim */
    phx_u64map_init(&w->spares, 4096);         /* bounded: ucx_claim.c */
    int rc = phx_u64map_reserve(&w->by_ep, WORKER_FIRST_EPS);
    if (rc < 0)
        snprintf(err, errlen, "out of memory");
    if (rc < 0 || worker_open(w, err, errlen) < 0) {
        worker_free(w);
        return NULL;
    }
    if (peers_only)
        guard(w);
    w->next = ctx->workers;
    ctx->workers = w;
    phx_info("ucx: worker %u created for runtime %u%s", w->id, runtime & ~PHX_UCX_WORKER_OWN,
             runtime & PHX_UCX_WORKER_OWN ? " (one app's own)" : "");
    return w;
}

struct phx_ucx_worker *phx_ucx_worker_acquire(struct phx_ucx_context *ctx, unsigned runtime,
                                              bool own, bool peers_only, char *err,
                                              size_t errlen)
{
    struct phx_ucx_worker *w = NULL;

    pthread_mutex_lock(&ctx->lock);
    if (!own)   /* an own worker's `runtime` has the flag: it never matches */
        for (w = ctx->workers; w && w->runtime != runtime; w = w->next)
            ;
    if (w)
        w->refs++;
    else
        w = worker_create(ctx, runtime | (own ? PHX_UCX_WORKER_OWN : 0), peers_only, err,
                          errlen);
    pthread_mutex_unlock(&ctx->lock);
    return w;
}

int phx_ucx_worker_make_own(struct phx_ucx_worker *w, struct phx_ucx_worker **own,
                            bool peers_only, char *err, size_t errlen)
{
    struct phx_ucx_context *ctx = w->ctx;

    pthread_mutex_lock(&ctx->lock);
    if (w->refs > 1)        /* shared: a new one */
        *own = worker_create(ctx, phx_ucx_worker_runtime(w) | PHX_UCX_WORKER_OWN, peers_only,
                             err, errlen);
    else                    /* the engine's alone: acquire() never hands it out from now on */
        *own = w;
    if (*own == w)
        w->runtime |= PHX_UCX_WORKER_OWN;
    pthread_mutex_unlock(&ctx->lock);
    return *own ? 0 : -EIO;
}

unsigned phx_ucx_worker_runtime(const struct phx_ucx_worker *w)
{
    return w->runtime & ~PHX_UCX_WORKER_OWN;
}

bool phx_ucx_worker_is_own(const struct phx_ucx_worker *w)
{
    return (w->runtime & PHX_UCX_WORKER_OWN) != 0;
}

void phx_ucx_worker_release(struct phx_ucx_worker *w)
{
    struct phx_ucx_context *ctx;
    bool last;

    if (!w)
        return;
    ctx = w->ctx;
    pthread_mutex_lock(&ctx->lock);
    if ((last = --w->refs == 0)) {
        struct phx_ucx_worker **pp = &ctx->workers;
        while (*pp != w)
            pp = &(*pp)->next;
        *pp = w->next;
    }
    pthread_mutex_unlock(&ctx->lock);
    if (last) {     /* no engine refers to it: nobody else takes the lock */
        unsigned id = w->id;
        worker_free(w);
        phx_info("ucx: worker %u destroyed", id);
    }
}

struct phx_ucx_worker *phx_ucx_worker_find(struct phx_ucx_context *ctx, unsigned id)
{
    struct phx_ucx_worker *w;

    pthread_mutex_lock(&ctx->lock);
    for (w = ctx->workers; w && w->id != id; w = w->next)
        ;
    pthread_mutex_unlock(&ctx->lock);
    return w;
}

unsigned phx_ucx_worker_engines(const struct phx_ucx_worker *w)
{
    pthread_mutex_lock(&w->ctx->lock);      /* refs is the context's */
    unsigned n = w->refs;
    pthread_mutex_unlock(&w->ctx->lock);
    return n;
}

/* ---- the lock and what needs it ---------------------------------------------------------- */

void phx_ucx_worker_lock(struct phx_ucx_worker *w)
{
    pthread_mutex_lock(&w->lock);
}

void phx_ucx_worker_unlock(struct phx_ucx_worker *w)
{
    pthread_mutex_unlock(&w->lock);
}

unsigned phx_ucx_worker_progress(struct phx_ucx_worker *w)
{
    w->armed = false;
    return ucp_worker_progress(w->ucp);
}

ucs_status_t phx_ucx_worker_arm(struct phx_ucx_worker *w)
{
    if (w->armed)
        return UCS_OK;
    ucs_status_t st = ucp_worker_arm(w->ucp);
    w->armed = st == UCS_OK;
    return st;
}

void phx_ucx_worker_wake(struct phx_ucx_worker *w)
{
    ucs_status_t st = ucp_worker_signal(w->ucp);

    if (st != UCS_OK)
        phx_warn("ucx: worker %u: ucp_worker_signal: %s", w->id, ucs_status_string(st));
}

void phx_ucx_worker_claim_handler(struct phx_ucx_worker *w)
{
    if (w->am_handler == phx_ucx_am_recv || !phx_ucx_context_is_newest(w->ctx, phx_ucx_am_recv))
        return;
    ucs_status_t st = set_handlers(w);
    if (st != UCS_OK)
        phx_error("ucx: worker %u: cannot set the active-message handlers: %s", w->id,
                  ucs_status_string(st));
}

/* ---- demultiplexing ---------------------------------------------------------------------- */

int phx_ucx_worker_add_ep(struct phx_ucx_worker *w, ucp_ep_h ep, struct phx_ucx_conn *c)
{
    return phx_u64map_put(&w->by_ep, (uint64_t)(uintptr_t)ep, (uintptr_t)c);
}

void phx_ucx_worker_del_ep(struct phx_ucx_worker *w, ucp_ep_h ep)
{
    phx_u64map_remove(&w->by_ep, (uint64_t)(uintptr_t)ep, NULL);
}

struct phx_ucx_conn *phx_ucx_worker_conn_of(struct phx_ucx_worker *w,
                                            const ucp_am_recv_param_t *param)
{
    struct phx_ucx_conn *c = NULL;

    if ((param->recv_attr & UCP_AM_RECV_ATTR_FIELD_REPLY_EP) && param->reply_ep)
        c = phx_u64map_get_ptr(&w->by_ep, (uint64_t)(uintptr_t)param->reply_ep);
    if (!c)
        w->unclaimed++;
    return c;
}

void phx_ucx_worker_keep(struct phx_ucx_worker *w, struct phx_ucx_engine *s)
{
    s->kept_next = w->kept;
    w->kept = s;
}
