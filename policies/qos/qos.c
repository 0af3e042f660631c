/* qos.c - QosEngine: priority between the apps (and jobs) that share a service.
 *
 * Each app gets a class, "latency" or "bulk", and a priority within it (0 .. 7); together they
 * are the app's level (classes.h: every latency level is above every bulk level). Calls in
 * progress at each level, and the bytes of its large messages on the wire, are published in a
 * table that all QosEngines of the service share.
 *
 * Pacing. While a level above an engine's own is busy (calls in progress, or one ended within
 * linger_ms), the engine paces its own large messages (requests on the client side, replies on
 * the server side, of at least pace_min_kb) with two budgets:
 *   - on the wire: at most one slice of bytes sent and not yet reported SENT by the transport
 *     (a rendezvous send completes once the receiver has the data), so that a message of the
 *     level above finds at most a slice of this engine's bytes ahead of it in the service's
 *     worker and on the link. A slice is slice_kb, or else what the engine's measured wire
 *     rate moves in slice_us (or in half the tightest latency_budget_us of the levels above,
 *     when that is shorter); at least one message is always on the wire, so bulk never stops;
 *   - end to end: at most `depth` large calls from request to reply (replies: until SENT), which
 *     bounds what waits further along (the remote service, a server the apps share) while
 *     keeping several transfers in flight, so that the next one starts as soon as one leaves
 *     the wire instead of after its reply.
 * The next large message waits in the engine's queue until both budgets have room; it waits
 * alone (phx_policy_hold_alone): the small messages behind it, and the large ones that fit, go
 * on. That matters when both ends pace: the end-to-end budget frees at the peer's reply, and a
 * reply kept behind the peer's own paced request froze both directions for up to a second at a
 * time (MPI between two paced services, benchmarks/mpi_qos: 6 MB/s of 329). With no
 * higher-level work the engine forwards everything at once, exactly like no policy.
 *
 * What it buys, measured, is in docs/policies.md ("qos"). Every engine also records, at each of
 * its sends, the bytes of lower levels on the wire (ahead_max_bytes): for a latency-class app
 * that is what its message found ahead of it, and the figure the slice bounds.
 *
 * The runtime hint. A latency-class engine marks its app's chain urgent (phx_engine_set_urgency,
 * 1 + priority; bulk: 0): the runtime thread progresses it before the other apps' chains and
 * again after each of them; and the UCX transport ends an engine's turn at the shared worker
 * once a message lands for another app's engine. A detach takes the mark away (kind.detach).
 *
 * A call is in progress from its request to its reply: on the client side from the tx REQUEST
 * to the rx REPLY or ERROR (or a cancel, or a SENT that says it could not be sent), on the
 * server side from the rx REQUEST to the tx REPLY or ERROR. A lost or closed connection ends
 * every call of this engine. The engine also times its own calls (a sample per call while fewer
 * than QOS_TIMED are in progress) and counts those over its latency_budget_us.
 *
 * Settings (phoenix.conf `settings = { qos = { ... }; };`, attach, or `policyctl set` live):
 *   class              "latency" or "bulk"
 *   priority           0 .. 7 within the class
 *   latency_budget_us  the round trip the app's calls should keep (0: none); levels below pace
 *                      with a slice of at most half of it
 *   slice_us           how long a message of a lower level may keep a higher one waiting
 *   slice_kb           the same in bytes (0: from slice_us and the measured rate)
 *   depth              large calls in progress end to end at most while paced
 *   pace_min_kb        messages smaller than this are never paced
 *   linger_ms          a higher level still holds this one back this long after its last call
 *                      ended (an app with one call outstanding has gaps between its calls)
 *   idle_ms            a level whose calls neither start nor end for this long holds no one back
 *                      (a call whose end is never seen must not pace others for ever)
 *   queue_max          messages held at most (more are refused with RESOURCE_EXHAUSTED)
 *
 * The settings, the create/reconfigure/dump/restore framing and the queue are the policy SDK's
 * (phoenix/policy.h, phx_policy_kind_t). State across a live upgrade: the settings in effect,
 * the calls in progress (published again in the new build's table), the large messages in
 * progress (and which are on the wire), the measured rate and every counter. */
#include "classes.h"
#include "mrpc/transport.h"
#include "phoenix/clock.h"
#include "phoenix/handover.h"
#include "phoenix/policy.h"
#include "phoenix/settings.h"

#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define QOS_VERSION       "1.1.0"
#define QOS_STATE_VERSION 2                 /* 2: settings as text (policy.h), on-wire flag */
#define QOS_MAGIC         0x514f5331u       /* "QOS1" */
#define QOS_RECHECK_NS    20000ull          /* a paced message is looked at again this soon */
#define QOS_TIMED         64                /* calls timed at once (a ring keyed by call id) */
#define QOS_LARGE_MAX     256               /* large messages tracked in progress at once */
#define NS_PER_US         1000ull
#define QOS_BLOB_BYTES_MAX (1ull << 40)     /* a message size a restored blob may claim */

enum qos_class { QOS_BULK = 0, QOS_LATENCY = 1 };

static const char *const class_names[] = { "bulk", "latency", NULL };

struct qos_settings {
    int      class;
    unsigned priority;
    unsigned latency_budget_us;
    unsigned slice_us;
    unsigned slice_kb;
    unsigned depth;
    unsigned pace_min_kb;
    unsigned linger_ms;
    unsigned idle_ms;
    unsigned queue_max;
};

static const struct phx_setting qos_keys[] = {
    PHX_SETTING_ENUM(struct qos_settings, class, QOS_BULK, class_names,
                     "latency: served first; bulk: paced while latency-class calls go on"),
    PHX_SETTING_UINT(struct qos_settings, priority, 0, 0, QOS_PRIORITIES - 1,
                     "priority within the class; a higher one makes lower ones pace"),
    PHX_SETTING_UINT(struct qos_settings, latency_budget_us, 0, 0, 10000000,
                     "the round trip this app's calls should keep; 0: none"),
    PHX_SETTING_UINT(struct qos_settings, slice_us, 1000, 10, 1000000,
                     "how long this app's large messages may keep higher-level calls waiting"),
    PHX_SETTING_UINT(struct qos_settings, slice_kb, 0, 0, 1048576,
                     "the slice in KiB; 0: what the measured rate moves in slice_us"),
    PHX_SETTING_UINT(struct qos_settings, depth, 2, 1, QOS_LARGE_MAX,
                     "large calls in progress end to end at most while paced (1: one at a time)"),
    PHX_SETTING_UINT(struct qos_settings, pace_min_kb, 64, 1, 1048576,
                     "messages of at least this many KiB are paced; smaller ones never"),
    PHX_SETTING_UINT(struct qos_settings, linger_ms, 100, 0, 60000,
                     "a higher level holds this one back this long after its last call ended"),
    PHX_SETTING_UINT(struct qos_settings, idle_ms, 5000, 1, 600000,
                     "a level with no call starting or ending for this long holds no one back"),
    PHX_SETTING_UINT(struct qos_settings, queue_max, 4096, 1, PHX_POLICY_QUEUE_MAX,
                     "messages held at most; more are refused with RESOURCE_EXHAUSTED"),
};

static PHX_SETTINGS_SCHEMA(qos_schema, "qos", struct qos_settings, qos_keys);

struct qos_counts {
    uint64_t started, ended, paced, paced_ns, large;
    uint64_t timed, over_budget, rtt_sum_ns, rtt_max_ns;
    uint64_t sends, ahead_sum, ahead_max;       /* lower levels' bytes on the wire at a send */
};

struct qos_timing {
    uint64_t key, start_ns;         /* key 0: free */
};

/* A large message in progress: a request until its reply (or a failed SENT), a reply until its
 * SENT; on the wire until its SENT. */
struct qos_large {
    uint64_t key;                   /* 0: free */
    uint64_t bytes;
    uint32_t conn_id;
    bool     request;
    bool     on_wire;
};

struct qos_state {
    phx_policy_t        pol;
    struct qos_settings set;            /* in effect */
    phx_engine_t       *e;              /* for the runtime's hint (urgency_of) */
    bool                joined;         /* counted in the table at `level` */
    unsigned            level;
    uint64_t            calls;          /* in progress, as published at `level` */
    uint32_t            large_n;        /* large messages in progress (struct qos_large) */
    uint32_t            large_peak;     /* the most at once */
    uint64_t            wire_bytes;     /* of those, on the wire (published at `level`) */
    uint32_t            wire_msgs;
    uint32_t            wire_peak;      /* the most on the wire at once */
    uint64_t            busy_since_ns;  /* the wire's current busy stretch, for the rate */
    uint64_t            untracked;      /* large messages that found the table full */
    double              rate_bpus;      /* measured wire rate, bytes per microsecond */
    uint64_t            held_since_ns;  /* the message held_key has been paced since (0: none) */
    uint64_t            held_key;
    uint64_t            upgrades;
    struct qos_counts   n;
    struct qos_timing   timing[QOS_TIMED];
    struct qos_large    large[QOS_LARGE_MAX];
};
_Static_assert(offsetof(struct qos_state, pol) == 0,
               "phx_policy_op_* read the state as its policy");

/* ---- calls in progress ---------------------------------------------------------------------- */

static uint64_t key_of(uint64_t call_id, uint32_t conn_id)
{
    return (call_id ^ ((uint64_t)conn_id << 40)) | 1;
}

static uint64_t timing_key(const phx_call_t *c)
{
    return key_of(c->call_id, c->conn_id);
}

static void call_start(struct qos_state *s, const phx_call_t *c, uint64_t now)
{
    struct qos_timing *t = &s->timing[c->call_id % QOS_TIMED];

    s->calls++;
    s->n.started++;
    qos_class_start(s->level, now);
    if (!t->key || now - t->start_ns > 1000000000ull)       /* free, or surely lost */
        *t = (struct qos_timing){ timing_key(c), now };
}

static void call_time(struct qos_state *s, const phx_call_t *c, uint64_t now)
{
    struct qos_timing *t = &s->timing[c->call_id % QOS_TIMED];

    if (t->key != timing_key(c))
        return;
    uint64_t rtt = now - t->start_ns;
    t->key = 0;
    s->n.timed++;
    s->n.rtt_sum_ns += rtt;
    if (rtt > s->n.rtt_max_ns)
        s->n.rtt_max_ns = rtt;
    if (s->set.latency_budget_us && rtt > s->set.latency_budget_us * NS_PER_US)
        s->n.over_budget++;
}

static void call_end(struct qos_state *s, const phx_call_t *c, uint64_t now)
{
    if (!s->calls)
        return;                         /* began before the policy was attached */
    s->calls--;
    s->n.ended++;
    qos_class_end(s->level, now);
    if (c)
        call_time(s, c, now);
}

static void calls_forget(struct qos_state *s)
{
    qos_class_forget(s->level, (unsigned)s->calls);
    s->n.ended += s->calls;
    s->calls = 0;
    memset(s->timing, 0, sizeof(s->timing));
}

/* What a send of S finds ahead of it: the lower levels' bytes on the wire. */
static void ahead_note(struct qos_state *s)
{
    uint64_t ahead = qos_class_wire_below(s->level);

    s->n.sends++;
    s->n.ahead_sum += ahead;
    if (ahead > s->n.ahead_max)
        s->n.ahead_max = ahead;
}

/* ---- pacing --------------------------------------------------------------------------------- */

/* The bytes of large messages this engine may have on the wire while higher levels wait. */
static uint64_t slice_bytes(const struct qos_state *s, unsigned budget_us)
{
    if (s->set.slice_kb)
        return (uint64_t)s->set.slice_kb * 1024;
    unsigned us = s->set.slice_us;
    if (budget_us && budget_us / 2 < us)
        us = budget_us / 2;
    return (uint64_t)(s->rate_bpus * us);
}

static bool is_large(const struct qos_state *s, uint64_t bytes)
{
    return bytes >= (uint64_t)s->set.pace_min_kb * 1024;
}

/* Whether a level above S's is busy at NOW; *BUDGET_US the tightest budget there. */
static bool above_active(const struct qos_state *s, uint64_t now, unsigned *budget_us)
{
    return qos_class_above_active(s->level, now, (uint64_t)s->set.idle_ms * 1000000ull,
                                  (uint64_t)s->set.linger_ms * 1000000ull, budget_us);
}

/* Whether the large message CALL must wait now: the depth is used up, or the wire holds a
 * message and CALL would take it past the slice. */
static bool must_pace(struct qos_state *s, const phx_call_t *call, uint64_t now)
{
    if (!s->large_n)
        return false;                   /* at least one message always goes */
    unsigned budget_us = 0;
    if (!above_active(s, now, &budget_us))
        return false;
    if (s->large_n >= s->set.depth)
        return true;
    return s->wire_msgs && s->wire_bytes + call->bytes > slice_bytes(s, budget_us);
}

/* L goes on the wire (sent) or comes off it (ON false: SENT, or its end). */
static void wire_set(struct qos_state *s, struct qos_large *l, bool on, uint64_t now)
{
    if (l->on_wire == on)
        return;
    l->on_wire = on;
    if (on) {
        if (!s->wire_msgs)
            s->busy_since_ns = now;
        s->wire_msgs++;
        s->wire_bytes += l->bytes;
        if (s->wire_msgs > s->wire_peak)
            s->wire_peak = s->wire_msgs;
    } else {
        if (now > s->busy_since_ns) {
            double sample = (double)l->bytes * 1000.0 / (double)(now - s->busy_since_ns);
            s->rate_bpus = s->rate_bpus > 0 ? 0.75 * s->rate_bpus + 0.25 * sample : sample;
        }
        s->busy_since_ns = now;
        s->wire_msgs--;
        s->wire_bytes -= l->bytes;
    }
    qos_class_wire(s->level, on ? (int64_t)l->bytes : -(int64_t)l->bytes);
}

/* A large message leaves: it is in progress until large_drop(). */
static void large_sent(struct qos_state *s, const phx_call_t *c, uint64_t now)
{
    struct qos_large *free_one = NULL;

    for (unsigned i = 0; i < QOS_LARGE_MAX && !free_one; i++)
        if (!s->large[i].key)
            free_one = &s->large[i];
    s->n.large++;
    if (!free_one) {
        s->untracked++;
        return;
    }
    *free_one = (struct qos_large){ key_of(c->call_id, c->conn_id), c->bytes, c->conn_id,
                                    c->kind == PHX_CALL_REQUEST, false };
    if (++s->large_n > s->large_peak)
        s->large_peak = s->large_n;
    wire_set(s, free_one, true, now);
}

/* The large message L is out of the way (its reply came, or it was sent, or it failed). */
static void large_drop(struct qos_state *s, struct qos_large *l, uint64_t now)
{
    wire_set(s, l, false, now);
    s->large_n--;
    l->key = 0;
}

/* The large message of CALL_ID on CONN_ID (a request when REQUEST), if it is one in progress. */
static struct qos_large *large_find(struct qos_state *s, uint64_t call_id, uint32_t conn_id,
                                    bool request)
{
    uint64_t key = key_of(call_id, conn_id);

    for (unsigned i = 0; s->large_n && i < QOS_LARGE_MAX; i++)
        if (s->large[i].key == key && s->large[i].request == request)
            return &s->large[i];
    return NULL;
}

/* The transport says a large message was sent (OK) or not: a request sent stays in progress
 * until its reply, off the wire; anything else is done. */
static void large_sent_done(struct qos_state *s, uint64_t call_id, uint32_t conn_id,
                            bool request, bool ok, uint64_t now)
{
    struct qos_large *l = large_find(s, call_id, conn_id, request);

    if (l && request && ok)
        wire_set(s, l, false, now);
    else if (l)
        large_drop(s, l, now);
}

/* Every large message of CONN_ID is done (the connection is gone). */
static void large_conn_gone(struct qos_state *s, uint32_t conn_id, uint64_t now)
{
    for (unsigned i = 0; s->large_n && i < QOS_LARGE_MAX; i++)
        if (s->large[i].key && s->large[i].conn_id == conn_id)
            large_drop(s, &s->large[i], now);
}

/* The paced message timed (held_key) waits no longer: its wait counts in paced_ns, and the next
 * message held is timed (and counted paced) when it is asked. */
static void pace_end(struct qos_state *s, uint64_t now)
{
    s->n.paced_ns += now - s->held_since_ns;
    s->held_since_ns = 0;
}

/* Held messages wait alone (phx_policy_hold_alone): the first of them is timed (held_key). */
static phx_verdict_t pace(struct qos_state *s, const phx_call_t *call, uint64_t now)
{
    uint64_t key = key_of(call->call_id, call->conn_id);

    if (must_pace(s, call, now)) {
        if (!s->held_since_ns) {
            s->held_since_ns = now;
            s->held_key = key;
            s->n.paced++;
        }
        return phx_verdict_hold(now + QOS_RECHECK_NS);
    }
    if (s->held_since_ns && s->held_key == key)
        pace_end(s, now);
    large_sent(s, call, now);
    return phx_verdict_forward();
}

/* ---- the decision --------------------------------------------------------------------------- */

static bool is_answer(phx_call_kind_t k)
{
    return k == PHX_CALL_REPLY || k == PHX_CALL_ERROR;
}

static phx_verdict_t qos_decide(void *ctx, const phx_call_t *call, uint64_t now)
{
    struct qos_state *s = ctx;

    if (call->dir == PHX_RX) {
        if (call->kind == PHX_CALL_REQUEST)
            call_start(s, call, now);               /* server side */
        else if (is_answer(call->kind)) {
            call_end(s, call, now);                 /* client side */
            struct qos_large *l = large_find(s, call->call_id, call->conn_id, true);
            if (l)
                large_drop(s, l, now);
        }
        return phx_verdict_forward();
    }
    bool message = call->kind == PHX_CALL_REQUEST || is_answer(call->kind);
    if (message && is_large(s, call->bytes)) {
        phx_verdict_t v = pace(s, call, now);
        if (v.kind == PHX_VERDICT_HOLD)
            return v;
    }
    if (message)
        ahead_note(s);
    if (call->kind == PHX_CALL_REQUEST)
        call_start(s, call, now);
    else if (is_answer(call->kind) || call->kind == PHX_CALL_CANCEL)
        call_end(s, call, now);
    return phx_verdict_forward();
}

/* A held message withdrawn by its CANCEL (policy.h, "Cancels"): decide() never sees it again,
 * so when it is the one timed its wait ends here (else no later message would be timed). */
static void qos_withdrawn(void *ctx, const phx_call_t *call, uint64_t now)
{
    struct qos_state *s = ctx;

    if (call->dir == PHX_TX && s->held_since_ns &&
        s->held_key == key_of(call->call_id, call->conn_id))
        pace_end(s, now);
}

/* What is not a call: completions of large messages, failed sends, connections gone. */
static void qos_watch(void *ctx, const phx_desc_t *d, phx_dir_t dir, uint64_t now)
{
    struct qos_state *s = ctx;

    if (dir == PHX_RX && d->kind == MRPC_DESC_SENT && d->addr) {
        const struct mrpc_wire_hdr *h = &((const struct mrpc_wire_msg *)(uintptr_t)d->addr)->hdr;
        bool request = h->kind == MRPC_WIRE_CALL;
        if (is_large(s, h->payload_len))
            large_sent_done(s, h->call_id, d->conn_id, request, d->status == PHX_OK, now);
        if (d->status != PHX_OK && request)
            call_end(s, NULL, now);
    } else if ((dir == PHX_RX && d->kind == MRPC_DESC_CONN_LOST) ||
               (dir == PHX_TX && d->kind == MRPC_DESC_CLOSE)) {
        large_conn_gone(s, d->conn_id, now);
        calls_forget(s);
    }
}

/* ---- settings and state --------------------------------------------------------------------- */

/* The runtime's hint for SET (engine.h, phx_engine_set_urgency): a latency-class app's chain is
 * progressed before the others and again between them, so that a bulk app's engines hold its
 * messages for one progress() call at most; a higher priority is more urgent. Bulk: none. */
static unsigned urgency_of(const struct qos_settings *set)
{
    return set->class == QOS_LATENCY ? 1 + set->priority : 0;
}

/* S's contribution to the table (calls in progress, bytes on the wire) leaves its level. */
static void table_leave(struct qos_state *s)
{
    qos_class_forget(s->level, (unsigned)s->calls);
    qos_class_wire(s->level, -(int64_t)s->wire_bytes);
    qos_class_leave(s->level);
    s->joined = false;
}

/* S joins the table at LEVEL with its calls in progress and bytes on the wire. */
static void table_join(struct qos_state *s, unsigned level, uint64_t now)
{
    s->level = level;
    qos_class_join(level);
    for (uint64_t i = 0; i < s->calls; i++)
        qos_class_start(level, now);
    qos_class_wire(level, (int64_t)s->wire_bytes);
    s->joined = true;
}

/* Puts SET in effect: the queue, the level (the calls in progress move with it) and the
 * runtime's hint. */
static int apply(void *state, const void *settings, char *err, size_t errlen)
{
    struct qos_state *s = state;
    const struct qos_settings *set = settings;
    int rc = phx_policy_set_queue_max(&s->pol, set->queue_max, err, errlen);

    if (rc < 0)
        return rc;
    unsigned level = qos_level(set->class == QOS_LATENCY, set->priority);
    if (s->joined && level != s->level)
        table_leave(s);
    if (!s->joined)
        table_join(s, level, phx_now_ns());
    s->set = *set;
    qos_class_budget(level, set->latency_budget_us);
    phx_engine_set_urgency(s->e, urgency_of(set));
    return 0;
}

static void *state_new(phx_engine_t *e)
{
    struct qos_state *s = calloc(1, sizeof(*s));

    if (s && phx_policy_init(&s->pol, qos_decide, s, (1u << PHX_TX) | (1u << PHX_RX), 1) < 0) {
        free(s);
        return NULL;
    }
    if (s) {
        phx_policy_watch(&s->pol, qos_watch);
        phx_policy_on_withdrawn(&s->pol, qos_withdrawn);
        phx_policy_hold_alone(&s->pol, true);
        s->e = e;
    }
    return s;
}

static void state_free(void *state)
{
    struct qos_state *s = state;

    if (s->joined)
        table_leave(s);
    phx_policy_fini(&s->pol);
    free(s);
}

/* Detached for good (not a live upgrade's handover): the chain is no longer urgent. */
static void detached(void *state, phx_engine_t *e)
{
    (void)state;
    phx_engine_set_urgency(e, 0);
}

/* ---- live upgrade --------------------------------------------------------------------------- */

static uint64_t *count_fields(struct qos_counts *n, unsigned i)
{
    uint64_t *v[] = { &n->started, &n->ended, &n->paced, &n->paced_ns, &n->large, &n->timed,
                      &n->over_budget, &n->rtt_sum_ns, &n->rtt_max_ns, &n->sends,
                      &n->ahead_sum, &n->ahead_max };

    return i < sizeof(v) / sizeof(v[0]) ? v[i] : NULL;
}

/* After the settings the SDK writes: calls and large messages in progress, rate, counters. */
static void dump_rest(void *state, phx_wbuf_t *w)
{
    struct qos_state *s = state;

    phx_wbuf_u64(w, s->calls);
    phx_wbuf_u32(w, s->large_n);
    for (unsigned i = 0; i < QOS_LARGE_MAX; i++)
        if (s->large[i].key) {
            phx_wbuf_u64(w, s->large[i].key);
            phx_wbuf_u64(w, s->large[i].bytes);
            phx_wbuf_u32(w, s->large[i].conn_id);
            phx_wbuf_u32(w, s->large[i].request | (uint32_t)s->large[i].on_wire << 1);
        }
    phx_wbuf_u64(w, s->untracked);
    phx_wbuf_u32(w, s->large_peak);
    phx_wbuf_u32(w, s->wire_peak);
    phx_wbuf_u64(w, (uint64_t)(s->rate_bpus * 1000.0));
    for (unsigned i = 0; count_fields(&s->n, i); i++)
        phx_wbuf_u64(w, *count_fields(&s->n, i));
    phx_wbuf_u64(w, s->upgrades);
}

/* The large messages of R into S (not yet published: restore_rest does). */
static bool restore_large(phx_rbuf_t *r, struct qos_state *s)
{
    uint32_t n = phx_rbuf_u32(r);

    if (n > QOS_LARGE_MAX)
        return false;
    for (uint32_t i = 0; i < n && !r->failed; i++) {
        struct qos_large *l = &s->large[i];
        l->key = phx_rbuf_u64(r) | 1;
        l->bytes = phx_rbuf_u64(r);
        l->conn_id = phx_rbuf_u32(r);
        uint32_t flags = phx_rbuf_u32(r);
        l->request = flags & 1;
        if (l->bytes > QOS_BLOB_BYTES_MAX)
            return false;                   /* damaged: no message is that large */
        if (flags & 2) {                    /* on the wire: counted as it is published */
            l->on_wire = true;
            s->wire_msgs++;
            s->wire_bytes += l->bytes;
        }
    }
    s->large_n = n;
    return !r->failed;
}

static bool restore_rest(void *state, phx_rbuf_t *r, uint32_t version)
{
    struct qos_state *s = state;
    uint64_t calls = phx_rbuf_u64(r), now = phx_now_ns();

    (void)version;
    table_leave(s);                         /* joined by apply() with nothing: again with all */
    if (!restore_large(r, s))
        return false;
    s->untracked = phx_rbuf_u64(r);
    s->large_peak = phx_rbuf_u32(r);
    s->wire_peak = phx_rbuf_u32(r);
    s->rate_bpus = (double)phx_rbuf_u64(r) / 1000.0;
    for (unsigned i = 0; count_fields(&s->n, i); i++)
        *count_fields(&s->n, i) = phx_rbuf_u64(r);
    s->upgrades = phx_rbuf_u64(r) + 1;
    if (r->failed || calls > PHX_POLICY_QUEUE_MAX)
        return false;
    s->busy_since_ns = now;
    s->calls = calls;
    table_join(s, s->level, now);
    return true;
}

static const phx_policy_kind_t qos_kind = {
    .type = "QosEngine", .version = QOS_VERSION, .magic = QOS_MAGIC,
    .state_version = QOS_STATE_VERSION, .schema = &qos_schema,
    .policy_at = offsetof(struct qos_state, pol), .settings_at = offsetof(struct qos_state, set),
    .state_new = state_new, .state_free = state_free, .apply = apply, .detach = detached,
    .dump = dump_rest, .restore = restore_rest,
};

PHX_POLICY_DEFINE_OPS(qos_kind)

/* ---- admin ---------------------------------------------------------------------------------- */

/* The node's table as JSON: {"latency.0":{"engines":1,"calls":1},...}, levels with engines. */
static void table_json(char *out, size_t n)
{
    size_t o = (size_t)snprintf(out, n, "{");

    for (unsigned l = 0; l < QOS_LEVELS && o < n; l++) {
        unsigned engines;
        long calls;
        qos_class_read(l, &engines, &calls);
        if (!engines)
            continue;
        o += (size_t)snprintf(out + o, n - o, "%s\"%s.%u\":{\"engines\":%u,\"calls\":%ld}",
                              o > 1 ? "," : "", class_names[l / QOS_PRIORITIES],
                              l % QOS_PRIORITIES, engines, calls);
    }
    if (o < n)
        snprintf(out + o, n - o, "}");
}

/* The settings in effect as a JSON object's members. */
static int settings_json(const struct qos_settings *set, char **out)
{
    return asprintf(out, "\"class\":\"%s\",\"priority\":%u,\"latency_budget_us\":%u,"
                    "\"slice_us\":%u,\"slice_kb\":%u,\"depth\":%u,\"pace_min_kb\":%u,"
                    "\"linger_ms\":%u,\"idle_ms\":%u,\"queue_max\":%u", class_names[set->class],
                    set->priority, set->latency_budget_us, set->slice_us, set->slice_kb,
                    set->depth, set->pace_min_kb, set->linger_ms, set->idle_ms,
                    set->queue_max);
}

/* "stats": settings, level, what is in progress and on the wire, counters, the node's table. */
static int stats_json(phx_engine_t *e, struct qos_state *s, char **reply)
{
    const struct qos_counts *n = &s->n;
    char table[QOS_LEVELS * 64], *set = NULL;
    char *counts = phx_policy_stats_json(&s->pol);

    if (!counts || settings_json(&s->set, &set) < 0) {
        free(counts);
        return -ENOMEM;
    }
    table_json(table, sizeof(table));
    unsigned budget_us = 0;
    bool yielding = above_active(s, phx_now_ns(), &budget_us);
    int k = asprintf(reply, "{\"type\":\"QosEngine\",\"version\":\"%s\",\"settings\":{%s},"
                     "\"level\":%u,\"urgency\":%u,\"yielding\":%s,\"calls\":%" PRIu64
                     ",\"started\":%" PRIu64 ",\"ended\":%" PRIu64 ",\"large\":%" PRIu64
                     ",\"paced\":%" PRIu64 ",\"paced_us\":%" PRIu64 ",\"large_calls\":%u"
                     ",\"large_peak\":%u,\"wire_bytes\":%" PRIu64 ",\"wire_msgs\":%u"
                     ",\"wire_peak\":%u,\"untracked\":%" PRIu64 ",\"rate_mb_s\":%.1f"
                     ",\"slice_bytes\":%" PRIu64 ",\"sends\":%" PRIu64
                     ",\"ahead_mean_bytes\":%" PRIu64 ",\"ahead_max_bytes\":%" PRIu64
                     ",\"timed\":%" PRIu64 ",\"over_budget\":%" PRIu64 ",\"rtt_mean_us\":%.1f"
                     ",\"rtt_max_us\":%.1f,\"upgrades\":%" PRIu64 ",\"node\":%s,%s}",
                     QOS_VERSION, set, s->level, phx_engine_urgency(e),
                     yielding ? "true" : "false", s->calls, n->started, n->ended, n->large,
                     n->paced, (uint64_t)(n->paced_ns / NS_PER_US), s->large_n, s->large_peak,
                     s->wire_bytes, s->wire_msgs, s->wire_peak, s->untracked, s->rate_bpus,
                     slice_bytes(s, budget_us), n->sends,
                     n->sends ? n->ahead_sum / n->sends : 0, n->ahead_max, n->timed,
                     n->over_budget,
                     n->timed ? (double)n->rtt_sum_ns / (double)n->timed / 1e3 : 0.0,
                     (double)n->rtt_max_ns / 1e3, s->upgrades, table, counts);
    free(set);
    free(counts);
    return k < 0 ? -ENOMEM : 0;
}

static int qos_admin(phx_engine_t *e, void *state, const char *request, char **reply)
{
    if (strcmp(request, "stats") != 0)
        return -ENOTSUP;
    return stats_json(e, state, reply);
}

static const phx_engine_ops_t qos_engine = {
    .type = "QosEngine",
    .state_version = QOS_STATE_VERSION,
    PHX_POLICY_OPS(qos_kind),
    .ports = {[PHX_TX] = {.in = 1, .out = 1}, [PHX_RX] = {.in = 1, .out = 1}},
    .progress = phx_policy_op_progress,
    .arm = phx_policy_op_arm,
    .flush = phx_policy_op_flush,
    .admin = qos_admin,
};

PHX_PLUGIN("qos", QOS_VERSION, .engines = PHX_ENGINES(&qos_engine), .settings = &qos_schema);
