/* qos.c - QosEngine: priority between the apps (and jobs) that share a service.
 *
 * Each app gets a class, "latency" or "bulk", and a priority within it (0 .. 7); together they
 * are the app's level (classes.h: every latency level is above every bulk level). Calls in
 * progress at each level are published in a table that all QosEngines of the service share.
 * While a level above an engine's own is busy (calls in progress, or one ended within
 * linger_ms), the engine paces its own large messages (requests on the client side, replies on
 * the server side, of at least pace_min_kb): it keeps at most one slice of them in progress - a
 * request until its reply, a reply until the transport has sent it - and holds the next in its
 * queue until an earlier one is done. A slice is
 * slice_kb, or else what the engine's own measured drain rate moves in slice_us (or in half the
 * tightest latency_budget_us of the levels above, when that is shorter); at least one message
 * always goes, so bulk never stops. With no higher-level work the engine forwards everything at
 * once, exactly like no policy.
 *
 * Why the sender paces whole calls: a lower level's large call is in progress until its reply,
 * so at most one slice of bulk work is anywhere on the path (the local service, the link, the
 * remote service, a server the apps share) while higher-level work goes on. What that buys on
 * TCP, measured, is in docs/policies.md ("qos"): a single latency call overtakes a bulk backlog
 * on its own endpoint with or without pacing; under continuous bulk load it waited, measured,
 * mostly in the services' runtime threads, for the bulk app's engines to finish their turn
 * (docs/policies.md, "qos"), and pacing reduces that work.
 *
 * The runtime hint. A latency-class engine marks its app's chain urgent (phx_engine_set_urgency,
 * 1 + priority; bulk: 0): the runtime thread progresses it before the other apps' chains and
 * again after each of them; and the UCX transport ends an engine's turn at the shared worker
 * once a message lands for another app's engine.
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
 *   pace_min_kb        messages smaller than this are never paced
 *   linger_ms          a higher level still holds this one back this long after its last call
 *                      ended (an app with one call outstanding has gaps between its calls)
 *   idle_ms            a level whose calls neither start nor end for this long holds no one back
 *                      (a call whose end is never seen must not pace others for ever)
 *   queue_max          messages held at most (more are refused with RESOURCE_EXHAUSTED)
 *
 * State across a live upgrade: the settings in effect, the calls in progress (published again
 * in the new build's table), the large messages in progress, the measured rate and every
 * counter. */
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

#define QOS_VERSION       "1.0.0"
#define QOS_STATE_VERSION 1
#define QOS_MAGIC         0x514f5331u       /* "QOS1" */
#define QOS_RECHECK_NS    20000ull          /* a paced message is looked at again this soon */
#define QOS_TIMED         64                /* calls timed at once (a ring keyed by call id) */
#define QOS_LARGE_MAX     256               /* large messages tracked in progress at once */
#define NS_PER_US         1000ull

enum qos_class { QOS_BULK = 0, QOS_LATENCY = 1 };

static const char *const class_names[] = { "bulk", "latency", NULL };

struct qos_settings {
    int      class;
    unsigned priority;
    unsigned latency_budget_us;
    unsigned slice_us;
    unsigned slice_kb;
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
};

struct qos_timing {
    uint64_t key, start_ns;         /* key 0: free */
};

/* A large message in progress: a request until its reply (or a failed SENT), a reply until its
 * SENT. */
struct qos_large {
    uint64_t key;                   /* 0: free */
    uint64_t bytes;
    uint32_t conn_id;
    bool     request;
};

struct qos_state {
    phx_policy_t        pol;
    phx_engine_t       *e;              /* for the runtime's hint (urgency_of) */
    struct qos_settings set;
    unsigned            level;
    uint64_t            calls;          /* in progress, as published at `level` */
    uint64_t            inflight_bytes; /* large messages in progress (struct qos_large) */
    uint32_t            inflight_msgs;
    uint64_t            busy_since_ns;  /* when the oldest of those started draining */
    uint64_t            untracked;      /* large messages that found the table full */
    uint32_t            inflight_peak;  /* the most large messages in progress at once */
    double              rate_bpus;      /* measured drain rate, bytes per microsecond */
    uint64_t            held_since_ns;  /* the head has been paced since (0: not paced) */
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

/* ---- pacing --------------------------------------------------------------------------------- */

/* The bytes of large messages this engine may have in the transport while higher levels wait. */
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

/* Whether the large message CALL must wait now. */
static bool must_pace(struct qos_state *s, const phx_call_t *call, uint64_t now)
{
    if (!s->inflight_msgs)
        return false;                   /* at least one message always goes */
    unsigned budget_us = 0;
    if (!above_active(s, now, &budget_us))
        return false;
    return s->inflight_bytes + call->bytes > slice_bytes(s, budget_us);
}

/* A large message leaves: it is in progress until large_done(). */
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
                                    c->kind == PHX_CALL_REQUEST };
    if (!s->inflight_msgs)
        s->busy_since_ns = now;
    s->inflight_msgs++;
    s->inflight_bytes += c->bytes;
    if (s->inflight_msgs > s->inflight_peak)
        s->inflight_peak = s->inflight_msgs;
}

/* The large message L is out of the way (its reply came, or it was sent, or it failed). */
static void large_drop(struct qos_state *s, struct qos_large *l, uint64_t now)
{
    if (now > s->busy_since_ns) {
        double sample = (double)l->bytes * 1000.0 / (double)(now - s->busy_since_ns);
        s->rate_bpus = s->rate_bpus > 0 ? 0.75 * s->rate_bpus + 0.25 * sample : sample;
    }
    s->busy_since_ns = now;
    s->inflight_msgs--;
    s->inflight_bytes -= l->bytes;
    l->key = 0;
}

/* The large message of CALL_ID on CONN_ID (a request when REQUEST) is done, if it is one. */
static void large_done(struct qos_state *s, uint64_t call_id, uint32_t conn_id, bool request,
                       uint64_t now)
{
    uint64_t key = key_of(call_id, conn_id);

    for (unsigned i = 0; s->inflight_msgs && i < QOS_LARGE_MAX; i++)
        if (s->large[i].key == key && s->large[i].request == request) {
            large_drop(s, &s->large[i], now);
            return;
        }
}

/* Every large message of CONN_ID is done (the connection is gone). */
static void large_conn_gone(struct qos_state *s, uint32_t conn_id, uint64_t now)
{
    for (unsigned i = 0; s->inflight_msgs && i < QOS_LARGE_MAX; i++)
        if (s->large[i].key && s->large[i].conn_id == conn_id)
            large_drop(s, &s->large[i], now);
}

static phx_verdict_t pace(struct qos_state *s, const phx_call_t *call, uint64_t now)
{
    if (must_pace(s, call, now)) {
        if (!s->held_since_ns) {
            s->held_since_ns = now;
            s->n.paced++;
        }
        return phx_verdict_hold(now + QOS_RECHECK_NS);
    }
    if (s->held_since_ns)
        s->n.paced_ns += now - s->held_since_ns;
    s->held_since_ns = 0;
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
            if (s->inflight_msgs)
                large_done(s, call->call_id, call->conn_id, true, now);
        }
        return phx_verdict_forward();
    }
    if ((call->kind == PHX_CALL_REQUEST || is_answer(call->kind)) && is_large(s, call->bytes)) {
        phx_verdict_t v = pace(s, call, now);
        if (v.kind == PHX_VERDICT_HOLD)
            return v;
    }
    if (call->kind == PHX_CALL_REQUEST)
        call_start(s, call, now);
    else if (is_answer(call->kind) || call->kind == PHX_CALL_CANCEL)
        call_end(s, call, now);
    return phx_verdict_forward();
}

/* What is not a call: completions of large messages, failed sends, connections gone. */
static void qos_watch(void *ctx, const phx_desc_t *d, phx_dir_t dir, uint64_t now)
{
    struct qos_state *s = ctx;

    if (dir == PHX_RX && d->kind == MRPC_DESC_SENT && d->addr) {
        const struct mrpc_wire_hdr *h = &((const struct mrpc_wire_msg *)(uintptr_t)d->addr)->hdr;
        bool request = h->kind == MRPC_WIRE_CALL;
        if (is_large(s, h->payload_len) && (!request || d->status != PHX_OK))
            large_done(s, h->call_id, d->conn_id, request, now);
        if (d->status != PHX_OK && request)
            call_end(s, NULL, now);
    } else if ((dir == PHX_RX && d->kind == MRPC_DESC_CONN_LOST) ||
               (dir == PHX_TX && d->kind == MRPC_DESC_CLOSE)) {
        large_conn_gone(s, d->conn_id, now);
        calls_forget(s);
    }
}

/* ---- settings ------------------------------------------------------------------------------- */

/* The runtime's hint for SET (engine.h, phx_engine_set_urgency): a latency-class app's chain is
 * progressed before the others and again between them, so that a bulk app's engines hold its
 * messages for one progress() call at most; a higher priority is more urgent. Bulk: none. */
static unsigned urgency_of(const struct qos_settings *set)
{
    return set->class == QOS_LATENCY ? 1 + set->priority : 0;
}

/* Puts SET in effect: the queue, the level (the calls in progress move with it) and the
 * runtime's hint. */
static int apply(struct qos_state *s, const struct qos_settings *set, bool joined, char *err,
                 size_t errlen)
{
    int rc = phx_policy_set_queue_max(&s->pol, set->queue_max, err, errlen);

    if (rc < 0)
        return rc;
    unsigned level = qos_level(set->class == QOS_LATENCY, set->priority);
    if (joined && level != s->level) {
        uint64_t now = phx_now_ns();
        qos_class_forget(s->level, (unsigned)s->calls);
        qos_class_leave(s->level);
        qos_class_join(level);
        for (uint64_t i = 0; i < s->calls; i++)
            qos_class_start(level, now);
    } else if (!joined) {
        qos_class_join(level);
    }
    s->level = level;
    s->set = *set;
    qos_class_budget(level, set->latency_budget_us);
    phx_engine_set_urgency(s->e, urgency_of(set));
    return 0;
}

/* BASE with CONFIG over it, put in effect. */
static int take_settings(struct qos_state *s, const void *base, const char *config, bool joined,
                         char *err, size_t errlen)
{
    struct qos_settings set;

    if (phx_settings_derive(&qos_schema, &set, base, config, err, errlen) < 0)
        return -EINVAL;
    int rc = apply(s, &set, joined, err, errlen);
    phx_settings_free(&qos_schema, &set);
    return rc;
}

static struct qos_state *state_new(void)
{
    struct qos_state *s = calloc(1, sizeof(*s));

    if (s && phx_policy_init(&s->pol, qos_decide, s, (1u << PHX_TX) | (1u << PHX_RX), 1) < 0) {
        free(s);
        return NULL;
    }
    if (s)
        phx_policy_watch(&s->pol, qos_watch);
    return s;
}

/* Frees S; JOINED: it is counted in the table, and leaves it. */
static void state_free(struct qos_state *s, bool joined)
{
    if (joined) {
        qos_class_forget(s->level, (unsigned)s->calls);
        qos_class_leave(s->level);
    }
    phx_policy_fini(&s->pol);
    free(s);
}

/* ---- engine ops ----------------------------------------------------------------------------- */

static int qos_create(phx_engine_t *e, const char *config, void **state, char *err,
                      size_t errlen)
{
    struct qos_state *s = state_new();

    if (!s)
        return -ENOMEM;
    s->e = e;
    int rc = take_settings(s, phx_engine_settings(e), config, false, err, errlen);
    if (rc < 0) {
        state_free(s, false);
        return rc;
    }
    *state = s;
    return 0;
}

static void qos_destroy(phx_engine_t *e, void *state, phx_destroy_mode_t mode)
{
    if (mode != PHX_DESTROY_STATE_ONLY)     /* detached: the chain is no longer urgent */
        phx_engine_set_urgency(e, 0);
    state_free(state, true);
}

static int qos_reconfigure(phx_engine_t *e, void *state, const char *config, char *err,
                           size_t errlen)
{
    struct qos_state *s = state;

    return take_settings(s, &s->set, config, true, err, errlen);
}

/* ---- live upgrade --------------------------------------------------------------------------- */

static void dump_settings(phx_wbuf_t *w, const struct qos_settings *set)
{
    const unsigned v[] = { (unsigned)set->class, set->priority, set->latency_budget_us,
                           set->slice_us, set->slice_kb, set->pace_min_kb, set->linger_ms,
                           set->idle_ms,
                           set->queue_max };

    for (unsigned i = 0; i < sizeof(v) / sizeof(v[0]); i++)
        phx_wbuf_u32(w, v[i]);
}

static uint64_t *count_fields(struct qos_counts *n, unsigned i)
{
    uint64_t *v[] = { &n->started, &n->ended, &n->paced, &n->paced_ns, &n->large, &n->timed,
                      &n->over_budget, &n->rtt_sum_ns, &n->rtt_max_ns };

    return i < sizeof(v) / sizeof(v[0]) ? v[i] : NULL;
}

static int qos_dump(phx_engine_t *e, void *state, phx_blob_t *out)
{
    struct qos_state *s = state;
    phx_wbuf_t w = { 0 };

    phx_wbuf_u32(&w, QOS_MAGIC);
    dump_settings(&w, &s->set);
    phx_wbuf_u64(&w, s->calls);
    phx_wbuf_u32(&w, s->inflight_msgs);
    for (unsigned i = 0; i < QOS_LARGE_MAX; i++)
        if (s->large[i].key) {
            phx_wbuf_u64(&w, s->large[i].key);
            phx_wbuf_u64(&w, s->large[i].bytes);
            phx_wbuf_u32(&w, s->large[i].conn_id);
            phx_wbuf_u32(&w, s->large[i].request);
        }
    phx_wbuf_u64(&w, s->untracked);
    phx_wbuf_u32(&w, s->inflight_peak);
    phx_wbuf_u64(&w, (uint64_t)(s->rate_bpus * 1000.0));
    for (unsigned i = 0; count_fields(&s->n, i); i++)
        phx_wbuf_u64(&w, *count_fields(&s->n, i));
    phx_wbuf_u64(&w, s->upgrades);
    phx_policy_dump_counts(&s->pol, &w);
    if (phx_wbuf_finish(&w, out) < 0)
        return -ENOMEM;
    out->version = QOS_STATE_VERSION;
    return 0;
}

/* The settings written in R, checked as any others: a blob is not trusted to be in range. */
static int restore_settings(phx_rbuf_t *r, struct qos_state *s, char *err, size_t errlen)
{
    char text[320];
    unsigned v[9];

    for (unsigned i = 0; i < 9; i++)
        v[i] = phx_rbuf_u32(r);
    if (r->failed || v[0] > QOS_LATENCY) {
        snprintf(err, errlen, "QosEngine state is damaged (settings)");
        return -EINVAL;
    }
    snprintf(text, sizeof(text), "class = \"%s\"; priority = %u; latency_budget_us = %u; "
             "slice_us = %u; slice_kb = %u; pace_min_kb = %u; linger_ms = %u; idle_ms = %u; "
             "queue_max = %u;", class_names[v[0]], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8]);
    return take_settings(s, NULL, text, false, err, errlen);
}

static bool restore_rest(phx_rbuf_t *r, struct qos_state *s)
{
    uint64_t calls = phx_rbuf_u64(r), now = phx_now_ns();

    uint32_t msgs = phx_rbuf_u32(r);
    if (msgs > QOS_LARGE_MAX)
        return false;
    for (uint32_t i = 0; i < msgs && !r->failed; i++) {
        struct qos_large *l = &s->large[i];
        l->key = phx_rbuf_u64(r) | 1;
        l->bytes = phx_rbuf_u64(r);
        l->conn_id = phx_rbuf_u32(r);
        l->request = phx_rbuf_u32(r) != 0;
        s->inflight_bytes += l->bytes;
    }
    s->inflight_msgs = msgs;
    s->untracked = phx_rbuf_u64(r);
    s->inflight_peak = phx_rbuf_u32(r);
    s->rate_bpus = (double)phx_rbuf_u64(r) / 1000.0;
    for (unsigned i = 0; count_fields(&s->n, i); i++)
        *count_fields(&s->n, i) = phx_rbuf_u64(r);
    s->upgrades = phx_rbuf_u64(r) + 1;
    if (r->failed || calls > PHX_POLICY_QUEUE_MAX || !phx_policy_restore_counts(&s->pol, r) ||
        r->left)
        return false;
    s->busy_since_ns = now;
    for (; s->calls < calls; s->calls++)
        qos_class_start(s->level, now);
    return true;
}

static int qos_restore(phx_engine_t *e, const phx_blob_t *in, void **state, char *err,
                       size_t errlen)
{
    phx_rbuf_t r;

    if (in->version != QOS_STATE_VERSION) {
        snprintf(err, errlen, "QosEngine %s cannot read state version %u", QOS_VERSION,
                 in->version);
        return -ENOTSUP;
    }
    phx_rbuf_init(&r, in);
    struct qos_state *s = state_new();
    if (!s)
        return -ENOMEM;
    s->e = e;
    if (phx_rbuf_u32(&r) != QOS_MAGIC) {
        snprintf(err, errlen, "QosEngine state is not one of this plugin's");
        state_free(s, false);
        return -EINVAL;
    }
    int rc = restore_settings(&r, s, err, errlen);
    if (rc < 0) {
        state_free(s, false);
        return rc;
    }
    if (!restore_rest(&r, s)) {
        snprintf(err, errlen, "QosEngine state of %zu bytes is damaged", in->len);
        state_free(s, true);
        return -EINVAL;
    }
    *state = s;
    return 0;
}

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

static int qos_admin(phx_engine_t *e, void *state, const char *request, char **reply)
{
    struct qos_state *s = state;
    const struct qos_counts *n = &s->n;
    char table[QOS_LEVELS * 64];

    if (strcmp(request, "stats") != 0)
        return -ENOTSUP;
    char *counts = phx_policy_stats_json(&s->pol);
    if (!counts)
        return -ENOMEM;
    table_json(table, sizeof(table));
    uint64_t now = phx_now_ns();
    unsigned budget_us = 0;
    bool yielding = above_active(s, now, &budget_us);
    int k = asprintf(reply, "{\"type\":\"QosEngine\",\"version\":\"%s\",\"settings\":{"
                     "\"class\":\"%s\",\"priority\":%u,\"latency_budget_us\":%u,\"slice_us\":%u,"
                     "\"slice_kb\":%u,\"pace_min_kb\":%u,\"linger_ms\":%u,\"idle_ms\":%u,"
                     "\"queue_max\":%u},"
                     "\"level\":%u,\"urgency\":%u,\"yielding\":%s,\"calls\":%" PRIu64 ",\"started\":%" PRIu64
                     ",\"ended\":%" PRIu64 ",\"large\":%" PRIu64 ",\"paced\":%" PRIu64
                     ",\"paced_us\":%" PRIu64 ",\"inflight_bytes\":%" PRIu64
                     ",\"inflight_msgs\":%u,\"inflight_peak\":%u,\"untracked\":%" PRIu64
                     ",\"rate_mb_s\":%.1f,\"slice_bytes\":%" PRIu64 ",\"timed\":%" PRIu64
                     ",\"over_budget\":%" PRIu64 ",\"rtt_mean_us\":%.1f,\"rtt_max_us\":%.1f,"
                     "\"upgrades\":%" PRIu64 ",\"node\":%s,%s}",
                     QOS_VERSION, class_names[s->set.class], s->set.priority,
                     s->set.latency_budget_us, s->set.slice_us, s->set.slice_kb,
                     s->set.pace_min_kb, s->set.linger_ms, s->set.idle_ms, s->set.queue_max,
                     s->level, phx_engine_urgency(e), yielding ? "true" : "false", s->calls, n->started, n->ended,
                     n->large, n->paced, (uint64_t)(n->paced_ns / NS_PER_US), s->inflight_bytes,
                     s->inflight_msgs, s->inflight_peak, s->untracked,
                     s->rate_bpus, slice_bytes(s, budget_us), n->timed, n->over_budget,
                     n->timed ? (double)n->rtt_sum_ns / (double)n->timed / 1e3 : 0.0,
                     (double)n->rtt_max_ns / 1e3, s->upgrades, table, counts);
    free(counts);
    return k < 0 ? -ENOMEM : 0;
}

static const phx_engine_ops_t qos_engine = {
    .type = "QosEngine",
    .state_version = QOS_STATE_VERSION,
    .ports = {[PHX_TX] = {.in = 1, .out = 1}, [PHX_RX] = {.in = 1, .out = 1}},
    .create = qos_create,
    .progress = phx_policy_op_progress,
    .destroy = qos_destroy,
    .arm = phx_policy_op_arm,
    .flush = phx_policy_op_flush,
    .dump = qos_dump,
    .restore = qos_restore,
    .reconfigure = qos_reconfigure,
    .admin = qos_admin,
};

PHX_PLUGIN("qos", QOS_VERSION, .engines = PHX_ENGINES(&qos_engine), .settings = &qos_schema);
