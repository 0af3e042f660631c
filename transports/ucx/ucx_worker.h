/* ucx_worker.h - the ucp_worker that the UcxRpcAdapterEngines of one runtime thread share, and
 * the workers of their own that some apps get.
 *
 * One worker per runtime thread (DESIGN.md §7): the engines a runtime thread drives (one per app)
 * make their endpoints and listeners on it and the thread sleeps on its one event fd; engines of
 * different runtime threads never share one. An app may instead have a worker of its own on the
 * same thread (settings.ucx.worker: every app, or the latency class of the qos policy), so that
 * progressing it moves only that app's data. What stays per engine is everything an app owns:
 * connections, listeners, sends, the receive heap, the in-flight budget, stats and failures
 * (ucx_engine.h). ucx_worker.c says how the sharing works. */
#ifndef PHX_UCX_WORKER_H
#define PHX_UCX_WORKER_H

#include "phoenix/u64map.h"
#include "ucx_context.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <ucp/api/ucp.h>

struct phx_ucx_conn;
struct phx_ucx_engine;

/* Shared by the builds of the plugin that a live upgrade chains (ucx_worker.c, "Upgrades") and
 * not part of the state blob: its layout must not change between such builds. */
struct phx_ucx_worker {
    uint64_t                magic;          /* PHX_UCX_WORKER_MAGIC */
    struct phx_ucx_context *ctx;
    unsigned                id;             /* unique in the context: what admin shows */
    unsigned                runtime;        /* index of the runtime thread it serves, with
                                               PHX_UCX_WORKER_OWN for an app's own worker */
    unsigned                refs;           /* engines on it; under ctx->lock */
    ucp_worker_h            ucp;
    int                     efd;
    size_t                  max_am_header;
    pthread_mutex_t         lock;           /* every use of ucp and of the engines' states */

    /* The rest only under `lock`. */
    ucp_am_recv_callback_t  am_handler;     /* installed: the build it belongs to */
    bool                    armed;          /* ucp_worker_arm() said OK, nothing progressed since */
    phx_u64map_t            by_ep;          /* endpoint -> connection, of every engine on it */
    uint64_t                unclaimed;      /* frames no connection of any engine here claims */
    struct phx_ucx_engine  *kept;           /* destroyed engines UCX may still call back into */
    struct phx_ucx_worker  *next;           /* on ctx->workers */
    phx_u64map_t            claims;         /* handshake nonce -> struct phx_ucx_claim of any
                                               engine here (ucx_claim.c) */
    phx_u64map_t            spares;         /* endpoint -> deadline: made to adopt a client's
                                               endpoint, not claimed yet (ucx_claim.c) */
};

#define PHX_UCX_WORKER_MAGIC 0x7563785f776f726bull     /* "ucx_work" */
/* In `runtime`: one app's worker, never shared. A flag in an existing field, not a new one: the
 * layout is every build's, and an older build looking for its thread's worker by index simply
 * does not find an own one. */
#define PHX_UCX_WORKER_OWN   (1u << 31)

/* OWN false: a reference to the worker of runtime thread RUNTIME in CTX, created on first use.
 * OWN true: a new worker of one app, served by that thread. NULL with a sentence in ERR.
 * PEERS_ONLY (settings.ucx.tcp_peers_only): a worker created here has its UCX TCP ports guarded
 * (ucx_portguard.h). */
struct phx_ucx_worker *phx_ucx_worker_acquire(struct phx_ucx_context *ctx, unsigned runtime,
                                              bool own, bool peers_only, char *err,
                                              size_t errlen);
/* A worker of its own for an engine on W: W itself when that engine is its only user (it is
 * then never handed to another), else a new one served by W's thread (W keeps the engine's
 * reference: the caller releases it once the engine has moved; PEERS_ONLY as for acquire). Into *OWN; 0, or -EIO with a
 * sentence in ERR. Nothing of the engine may be on W: no endpoint, listener or request. */
int phx_ucx_worker_make_own(struct phx_ucx_worker *w, struct phx_ucx_worker **own,
                            bool peers_only, char *err, size_t errlen);
/* The runtime thread's index (without PHX_UCX_WORKER_OWN), and whether W is an app's own. */
unsigned phx_ucx_worker_runtime(const struct phx_ucx_worker *w);
bool     phx_ucx_worker_is_own(const struct phx_ucx_worker *w);
/* Drops one reference (the caller holds no lock); the last destroys the worker and frees the
 * engines it kept. */
void phx_ucx_worker_release(struct phx_ucx_worker *w);

/* Live upgrade (restore): the worker with id ID in CTX, without taking a reference (the
 * restored engine inherits its old state's), or NULL. */
struct phx_ucx_worker *phx_ucx_worker_find(struct phx_ucx_context *ctx, unsigned id);

/* How many engines share W (admin). */
unsigned phx_ucx_worker_engines(const struct phx_ucx_worker *w);

/* Every engine operation holds the lock while it touches its state or UCX. */
void phx_ucx_worker_lock(struct phx_ucx_worker *w);
void phx_ucx_worker_unlock(struct phx_ucx_worker *w);

/* The calls below need the lock. */

/* One ucp_worker_progress(); callbacks may land in any engine on W. */
unsigned     phx_ucx_worker_progress(struct phx_ucx_worker *w);
/* ucp_worker_arm(), once per sleep however many engines ask: UCS_OK (sleep on w->efd),
 * UCS_ERR_BUSY (events wait: progress first) or an error. */
ucs_status_t phx_ucx_worker_arm(struct phx_ucx_worker *w);
/* Makes w->efd readable, so that the runtime thread sleeping on it turns once (the control
 * thread progressed W for one engine and may have queued work for the others). */
void         phx_ucx_worker_wake(struct phx_ucx_worker *w);
/* Installs this build's active-message handler if this is the newest build (ucx_context.h). */
void         phx_ucx_worker_claim_handler(struct phx_ucx_worker *w);

/* Demultiplexing: endpoint EP belongs to connection C (0, -ENOMEM, -EEXIST), or no more. */
int  phx_ucx_worker_add_ep(struct phx_ucx_worker *w, ucp_ep_h ep, struct phx_ucx_conn *c);
void phx_ucx_worker_del_ep(struct phx_ucx_worker *w, ucp_ep_h ep);
/* The connection a frame came on (its reply endpoint), or NULL (counted in `unclaimed`). */
struct phx_ucx_conn *phx_ucx_worker_conn_of(struct phx_ucx_worker *w,
                                            const ucp_am_recv_param_t *param);

/* Keeps S, a destroyed engine whose state UCX may still call back into, until W is destroyed
 * (then phx_ucx_engine_free()). */
void phx_ucx_worker_keep(struct phx_ucx_worker *w, struct phx_ucx_engine *s);

#endif /* PHX_UCX_WORKER_H */
