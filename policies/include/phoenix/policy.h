/* policy.h - the policy SDK: what a policy engine sees of each call, and the verdicts it gives.
 *
 * A policy is an engine (phoenix/engine.h) spliced between an app's front engine (MrpcEngine)
 * and its transport. This header adds, on top of the plugin SDK, the part every policy would
 * otherwise write again: reading a descriptor as a call, holding descriptors in a bounded queue
 * until a time without ever blocking the runtime, completing a rejected call upward with a
 * status, the timer that wakes the runtime when a held call is due, flush before detach and
 * upgrade, and counters as JSON. The policy itself is one function, decide(), asked once for each
 * call at the head of a direction's queue:
 *
 *     static phx_verdict_t decide(void *ctx, const phx_call_t *call, uint64_t now_ns)
 *     {
 *         if (call->kind != PHX_CALL_REQUEST)
 *             return phx_verdict_forward();
 *         if (too_soon(ctx, now_ns))
 *             return phx_verdict_hold(next_slot(ctx));           // asked again at that time
 *         if (too_big(ctx, call->bytes))
 *             return phx_verdict_reject(PHX_RESOURCE_EXHAUSTED, "requests over 1 MiB refused");
 *         return phx_verdict_forward();
 *     }
 *
 *     create():   phx_policy_init(&s->pol, decide, s, 1u << PHX_TX, queue_max);
 *     ops:        .progress = phx_policy_op_progress, .arm = phx_policy_op_arm,
 *                 .flush = phx_policy_op_flush        (the state begins with its phx_policy_t)
 *     destroy():  phx_policy_fini(&s->pol);
 *
 * docs/policies.md is the guide, with a complete policy (policies/ratelimit).
 *
 * What a call is (phx_call_t). On tx, a call is a transport SEND (mrpc/transport.h): a request
 * (client side), a reply or an error (server side), or a cancel; on rx a RECEIVED of those kinds.
 * Everything else that flows (BIND, CONNECT, CLOSE, their answers, SENT, DROPPED, CONN_LOST) is
 * connection management: never shown to decide(), forwarded in order. Descriptors between
 * MrpcEngine and the transport come from the service itself, so the fields are trusted.
 *
 * Verdicts. FORWARD passes the call on. HOLD keeps it, and every descriptor behind it in the same
 * direction (order is never changed), until the given time, when decide() is asked again. The
 * queue is bounded (queue_max): a call that finds it full is rejected with RESOURCE_EXHAUSTED;
 * a connection descriptor that finds it full waits in its channel (back-pressure). REJECT
 * completes the call upward with the status: on tx the transport's SENT answer carries it, so the
 * caller's call fails with it (client side) or the remote caller gets an ERROR (server side).
 * This needs the policy's rx ports spliced too (policyctl does; a tx-only descriptor does not):
 * without an rx way up, a rejected call is forwarded and counted as `unrejectable`. On rx, this
 * slice of the SDK supports FORWARD and HOLD; a REJECT there is forwarded and counted the same.
 * The sentence of the latest rejection shows in the stats (`last_reject`) and in the log.
 *
 * Threads. Everything here runs on the engine's runtime thread (progress, arm) or on the control
 * thread with the group suspended (init, set_queue_max, flush, fini, stats) - as the engine ops
 * that call it. Nothing blocks or allocates on the runtime thread. */
#ifndef PHOENIX_POLICY_H
#define PHOENIX_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "phoenix/engine.h"
#include "phoenix/handover.h"
#include "phoenix/status.h"

typedef enum phx_call_kind {
    PHX_CALL_REQUEST = 1,   /* a CALL: client side on tx, server side on rx */
    PHX_CALL_REPLY   = 2,
    PHX_CALL_ERROR   = 3,   /* a reply that is an error status and a sentence */
    PHX_CALL_CANCEL  = 4,   /* the caller gave up on call_id */
} phx_call_kind_t;

/* One call as a policy sees it. */
typedef struct phx_call {
    phx_call_kind_t kind;
    phx_dir_t       dir;          /* PHX_TX: towards the network; PHX_RX: towards the app */
    uint32_t        conn_id;      /* the app's connection (ids >= 0x80000000: accepted ones) */
    uint32_t        service_id;   /* protoc-gen-mrpc's stable ids */
    uint32_t        method_id;
    uint64_t        call_id;      /* the caller's; a reply echoes it */
    uint64_t        bytes;        /* payload bytes (marshalled on tx, landed on rx) */
    int32_t         status;       /* replies and errors: phx_status_t */
} phx_call_t;

/* Reads D, flowing in DIR, as a call into *CALL; false when it is connection management. */
bool phx_policy_call_of(const phx_desc_t *d, phx_dir_t dir, phx_call_t *call);

typedef enum phx_verdict_kind {
    PHX_VERDICT_FORWARD = 0,
    PHX_VERDICT_HOLD    = 1,
    PHX_VERDICT_REJECT  = 2,
} phx_verdict_kind_t;

typedef struct phx_verdict {
    phx_verdict_kind_t kind;
    uint64_t           until_ns;  /* HOLD: ask again at this phx_now_ns() time */
    phx_status_t       status;    /* REJECT: not PHX_OK */
    const char        *why;       /* REJECT: one sentence (static storage or the policy's own) */
} phx_verdict_t;

static inline phx_verdict_t phx_verdict_forward(void)
{
    return (phx_verdict_t){ .kind = PHX_VERDICT_FORWARD };
}

static inline phx_verdict_t phx_verdict_hold(uint64_t until_ns)
{
    return (phx_verdict_t){ .kind = PHX_VERDICT_HOLD, .until_ns = until_ns };
}

static inline phx_verdict_t phx_verdict_reject(phx_status_t status, const char *why)
{
    return (phx_verdict_t){ .kind = PHX_VERDICT_REJECT, .status = status, .why = why };
}

/* The policy: its verdict on CALL at NOW_NS (phx_now_ns()). Runtime thread; must not block. */
typedef phx_verdict_t (*phx_policy_decide_fn)(void *ctx, const phx_call_t *call, uint64_t now_ns);

/* Optional: shown each descriptor that is not a call (connection management: SENT, CONN_LOST,
 * DROPPED, CLOSE, ...) as it passes on a decided direction, in order with the calls, and those
 * flush() pushes out. Only watches: it cannot hold or change D. For a policy that must see how
 * calls end besides replies (a send that failed, a connection lost). Runtime thread. */
typedef void (*phx_policy_watch_fn)(void *ctx, const phx_desc_t *d, phx_dir_t dir,
                                    uint64_t now_ns);

#define PHX_POLICY_QUEUE_MAX  (1u << 20)    /* the largest queue_max */
#define PHX_POLICY_REASON_MAX 160

/* What happened to the calls of one direction. */
typedef struct phx_policy_counts {
    uint64_t forwarded;       /* calls passed on (connection descriptors are not counted) */
    uint64_t held;            /* calls that waited at least once */
    uint64_t rejected;        /* calls completed upward with a status */
    uint64_t overflowed;      /* ... of which because the queue was full */
    uint64_t unrejectable;    /* rejections forwarded instead (no way up, see above) */
} phx_policy_counts_t;

/* One direction's held descriptors: a ring of `cap` slots, queue_max for calls and a few more
 * for connection descriptors that arrive behind a full queue. */
typedef struct phx_policy_queue {
    phx_desc_t *slots;
    unsigned    cap, max, head, count;
    uint64_t    until_ns;         /* when to ask about the head again; 0: ask now */
    bool        head_held;        /* the head was counted as held */
} phx_policy_queue_t;

typedef struct phx_policy {
    phx_policy_decide_fn decide;
    void                *ctx;
    unsigned             dirs;        /* (1u << PHX_TX) | (1u << PHX_RX): what decide() sees */
    unsigned             batch;       /* descriptors taken per direction per progress() */
    phx_policy_queue_t   q[2];
    phx_policy_counts_t  counts[2];
    char                 last_reject[PHX_POLICY_REASON_MAX];
    phx_policy_watch_fn  watch;       /* NULL: none (phx_policy_watch) */
} phx_policy_t;

/* Sets P up for DECIDE(CTX, ...) on the directions in DIRS, with a queue of QUEUE_MAX (1 ..
 * PHX_POLICY_QUEUE_MAX) descriptors per direction. 0, -EINVAL or -ENOMEM. Control thread. */
int  phx_policy_init(phx_policy_t *p, phx_policy_decide_fn decide, void *ctx, unsigned dirs,
                     unsigned queue_max);
/* Resizes the queues to QUEUE_MAX (live reconfigure). -EBUSY with a sentence in ERR when more
 * descriptors are held than would fit; -ENOMEM. Control thread, group suspended. */
int  phx_policy_set_queue_max(phx_policy_t *p, unsigned queue_max, char *err, size_t errlen);
void phx_policy_fini(phx_policy_t *p);
/* Sets WATCH (NULL: none), called with the ctx of phx_policy_init. Control thread. */
void phx_policy_watch(phx_policy_t *p, phx_policy_watch_fn watch);

/* The body of the engine's progress(): takes new descriptors, asks decide() about due calls,
 * forwards, holds and rejects. Returns the work done. */
int  phx_policy_progress(phx_policy_t *p, phx_engine_t *e, uint64_t now_ns);
/* The body of arm(): work now (> 0), or 0 with W's timeout at the first held call's time. */
int  phx_policy_arm(phx_policy_t *p, phx_engine_t *e, phx_wait_t *w, uint64_t now_ns);
/* The body of flush(): pushes every held descriptor out without asking decide(); returns how
 * many are still held (out channels full). */
int  phx_policy_flush(phx_policy_t *p, phx_engine_t *e);
/* The three above as engine ops, for a policy whose state begins with its phx_policy_t (the
 * common case: nothing else to do in progress, arm or flush). */
int  phx_policy_op_progress(phx_engine_t *e, void *state);
int  phx_policy_op_arm(phx_engine_t *e, void *state, phx_wait_t *w);
int  phx_policy_op_flush(phx_engine_t *e, void *state);
/* Descriptors held now in DIR. */
unsigned phx_policy_held(const phx_policy_t *p, phx_dir_t dir);

/* The counters as JSON members, without braces: "\"tx\":{...},\"rx\":{...},\"last_reject\":..."
 * for an engine's admin("stats") to put in its object. Malloc'd, or NULL. */
char *phx_policy_stats_json(const phx_policy_t *p);

/* The counters across a live upgrade: written into the engine's dump() blob, read back in its
 * restore() (false: the blob was short). */
void phx_policy_dump_counts(const phx_policy_t *p, phx_wbuf_t *w);
bool phx_policy_restore_counts(phx_policy_t *p, phx_rbuf_t *r);

#endif /* PHOENIX_POLICY_H */
