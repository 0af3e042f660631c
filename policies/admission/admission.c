/* admission.c - AdmissionEngine: overload control on the calls an app makes (client side) or
 * serves (server side). An app may have at most max_outstanding calls outstanding, and at most
 * max_per_method of any one method; a request beyond either cap fails at once with
 * RESOURCE_EXHAUSTED: on the client side without reaching the network, on the server side
 * without reaching the app (the remote caller gets the status and the sentence). A call the app
 * serves is outstanding from its request (rx) until its reply or error (tx), or until its
 * connection is lost; `side` = "both" counts both kinds against the same caps.
 *
 * Settings (phoenix.conf `settings = { admission = { ... }; };`, an attach descriptor's
 * config_string, or `policyctl set` live):
 *
 *   max_outstanding  calls of the app outstanding at once (1 .. 65536)
 *   max_per_method   calls of any one method outstanding at once; 0: no cap per method
 *   slot_timeout_ms  the longest a call keeps its slot when the engine never sees it end
 *   side             "client" (default), "server" or "both" (policyctl attach --side)
 *
 * How a call ends, as this engine sees it. A request takes a slot when it is let through on tx;
 * the slot is freed by the reply or error that echoes its call id on rx, by a SENT on rx that
 * says the request could not be sent, by the app's CANCEL on tx, by a DROPPED reply, and every
 * slot of a connection by its CONN_LOST (rx) or the app's CLOSE (tx). One ending is invisible
 * here: a call whose deadline passes in MrpcEngine sends nothing down, and its slot waits for
 * the server's late reply. If that never comes (the server died without the connection
 * dropping, or dropped the call), the slot is freed after slot_timeout_ms, counted as
 * `expired`: set it somewhat above the longest deadline the app uses (the default is above
 * mrpc's default call_timeout_ms of 30 s). Expired slots are looked for only when a request
 * would otherwise be refused.
 *
 * Nothing is ever held for its own sake: calls wait in the SDK's queue (4,096 per direction) only
 * while the next engine has no room. Replies and other traffic pass untouched and in order. The slots (with the time each has
 * left), the settings and the counters cross a live upgrade. */
#include "mrpc/transport.h"
#include "phoenix/clock.h"
#include "phoenix/handover.h"
#include "phoenix/policy.h"
#include "phoenix/settings.h"
#include "slots.h"

#include <errno.h>
#include <stddef.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ADM_VERSION       "1.0.0"
#define ADM_STATE_VERSION 2        /* 2: the settings as text (policy.h) */
#define ADM_MAGIC         0x41444d31u       /* "ADM1" */
#define ADM_MAX           65536u
#define NS_PER_MS         1000000ull
#define ADM_QUEUE         4096      /* descriptors waiting for room in an out channel */

struct adm_settings {
    unsigned max_outstanding;
    unsigned max_per_method;
    unsigned slot_timeout_ms;
    int      side;
};

static const struct phx_setting adm_keys[] = {
    PHX_SETTING_UINT(struct adm_settings, max_outstanding, 1024, 1, ADM_MAX,
                     "calls of the app outstanding at once; more fail with RESOURCE_EXHAUSTED"),
    PHX_SETTING_UINT(struct adm_settings, max_per_method, 0, 0, ADM_MAX,
                     "calls of any one method outstanding at once; 0: no cap per method"),
    PHX_SETTING_UINT(struct adm_settings, slot_timeout_ms, 35000, 100, 86400000,
                     "the longest a call keeps its slot when its end is never seen"),
    PHX_SETTING_ENUM(struct adm_settings, side, 0, PHX_POLICY_SIDE_NAMES,
                     "client: the calls the app makes; server: those it serves; both"),
};

static PHX_SETTINGS_SCHEMA(adm_schema, "admission", struct adm_settings, adm_keys);

/* How slots were freed, and what was decided. */
struct adm_counts {
    uint64_t admitted, refused_app, refused_method;
    uint64_t replies, errors, send_failed, cancelled, dropped, conn_ended, expired;
    uint64_t peak;
};

struct adm_state {
    phx_policy_t        pol;
    struct adm_settings set;
    struct adm_slots    slots;
    struct adm_counts   n;
    uint64_t            upgrades;
    char                why_app[96], why_method[96];
};
_Static_assert(offsetof(struct adm_state, pol) == 0,
               "phx_policy_op_* read the state as its policy");

/* ---- the decision --------------------------------------------------------------------------- */

/* The cap CALL would go over at NOW (NULL: none), after freeing expired slots if it would. */
static const char *over_cap(struct adm_state *s, const phx_call_t *call, uint64_t now)
{
    for (int tries = 0; tries < 2; tries++) {
        struct adm_method *m = adm_slots_method(&s->slots, call->method_id, false);
        bool app = s->slots.count >= s->set.max_outstanding;
        bool method = s->set.max_per_method && m && m->count >= s->set.max_per_method;
        if (!app && !method)
            return NULL;
        unsigned gone = tries ? 0 : adm_slots_expire(&s->slots, now);
        s->n.expired += gone;
        if (!gone)
            return app ? s->why_app : s->why_method;
    }
    return NULL;
}

static phx_verdict_t admit(struct adm_state *s, const phx_call_t *call, uint64_t now)
{
    const char *why = over_cap(s, call, now);

    if (why) {
        if (why == s->why_app)
            s->n.refused_app++;
        else
            s->n.refused_method++;
        return phx_verdict_reject(PHX_RESOURCE_EXHAUSTED, why);
    }
    uint64_t expires = now + (uint64_t)s->set.slot_timeout_ms * NS_PER_MS;
    if (!adm_slots_add(&s->slots, call->call_id, call->conn_id, call->method_id, expires))
        return phx_verdict_reject(PHX_RESOURCE_EXHAUSTED, s->why_app);    /* never: sized */
    s->n.admitted++;
    if (s->slots.count > s->n.peak)
        s->n.peak = s->slots.count;
    return phx_verdict_forward();
}

static phx_verdict_t adm_decide(void *ctx, const phx_call_t *call, uint64_t now)
{
    struct adm_state *s = ctx;

    /* the SDK shows the calls of the side set only: a client's tx requests and cancels and rx
     * replies, a server's rx requests and cancels and tx replies */
    if (call->kind == PHX_CALL_REQUEST)
        return admit(s, call, now);
    if (call->kind == PHX_CALL_CANCEL && !call->server_side)
        s->n.cancelled += adm_slots_remove(&s->slots, call->call_id);
    else if (call->kind == PHX_CALL_REPLY || call->kind == PHX_CALL_ERROR)
        *(call->kind == PHX_CALL_REPLY ? &s->n.replies : &s->n.errors) +=
            call->server_side ? adm_slots_remove_on(&s->slots, call->conn_id, call->call_id)
                              : adm_slots_remove(&s->slots, call->call_id);
    return phx_verdict_forward();
}

/* The endings that are not calls: a failed send, a dropped reply, a connection gone. */
static void adm_watch(void *ctx, const phx_desc_t *d, phx_dir_t dir, uint64_t now)
{
    struct adm_state *s = ctx;
    unsigned wire = d->flags & 0xff;

    if (dir == PHX_RX && d->kind == MRPC_DESC_SENT && d->status != PHX_OK && d->addr) {
        const struct mrpc_wire_hdr *h =
            &((const struct mrpc_wire_msg *)(uintptr_t)d->addr)->hdr;
        if (h->kind == MRPC_WIRE_CALL)
            s->n.send_failed += adm_slots_remove(&s->slots, h->call_id);
    } else if (dir == PHX_RX && d->kind == MRPC_DESC_DROPPED &&
               (wire == MRPC_WIRE_REPLY || wire == MRPC_WIRE_ERROR)) {
        s->n.dropped += adm_slots_remove(&s->slots, d->call_id);
    } else if ((dir == PHX_RX && d->kind == MRPC_DESC_CONN_LOST) ||
               (dir == PHX_TX && d->kind == MRPC_DESC_CLOSE)) {
        s->n.conn_ended += adm_slots_remove_conn(&s->slots, d->conn_id);
    }
}

/* ---- settings ------------------------------------------------------------------------------- */

/* Puts SET in effect. On a live `set`, slots held stay: a lower cap refuses new calls until the
 * outstanding ones are under it. */
static int apply(void *state, const void *settings, char *err, size_t errlen)
{
    struct adm_state *s = state;
    const struct adm_settings *set = settings;

    if (adm_slots_resize(&s->slots, set->max_outstanding) < 0) {
        snprintf(err, errlen, "out of memory for %u slots", set->max_outstanding);
        return -ENOMEM;
    }
    s->set = *set;
    phx_policy_set_sides(&s->pol, phx_policy_side_of(set->side));
    snprintf(s->why_app, sizeof(s->why_app), "over the cap of %u outstanding calls per app",
             set->max_outstanding);
    snprintf(s->why_method, sizeof(s->why_method),
             "over the cap of %u outstanding calls per method", set->max_per_method);
    return 0;
}

static void *state_new(phx_engine_t *e)
{
    struct adm_state *s = calloc(1, sizeof(*s));

    if (s && phx_policy_init(&s->pol, adm_decide, s, (1u << PHX_TX) | (1u << PHX_RX),
                             ADM_QUEUE) < 0) {
        free(s);
        return NULL;
    }
    if (s)
        phx_policy_watch(&s->pol, adm_watch);
    return s;
}

static void state_free(void *state)
{
    struct adm_state *s = state;

    phx_policy_fini(&s->pol);
    adm_slots_free(&s->slots);
    free(s);
}

/* ---- live upgrade --------------------------------------------------------------------------- */

static void dump_counts(phx_wbuf_t *w, const struct adm_counts *n)
{
    const uint64_t v[] = { n->admitted, n->refused_app, n->refused_method, n->replies, n->errors,
                           n->send_failed, n->cancelled, n->dropped, n->conn_ended, n->expired,
                           n->peak };

    for (unsigned i = 0; i < sizeof(v) / sizeof(v[0]); i++)
        phx_wbuf_u64(w, v[i]);
}

static void restore_counts(phx_rbuf_t *r, struct adm_counts *n)
{
    uint64_t *v[] = { &n->admitted, &n->refused_app, &n->refused_method, &n->replies, &n->errors,
                      &n->send_failed, &n->cancelled, &n->dropped, &n->conn_ended, &n->expired,
                      &n->peak };

    for (unsigned i = 0; i < sizeof(v) / sizeof(v[0]); i++)
        *v[i] = phx_rbuf_u64(r);
}

/* The slots, each with the time it has left (clocks of two builds are one clock, but a blob
 * says what it means). */
static void dump_slots(phx_wbuf_t *w, const struct adm_slots *t, uint64_t now)
{
    phx_wbuf_u32(w, t->count);
    for (unsigned i = 0; i < t->cap; i++) {
        const struct adm_slot *sl = &t->slot[i];
        if (!sl->used)
            continue;
        phx_wbuf_u64(w, sl->call_id);
        phx_wbuf_u32(w, sl->conn_id);
        phx_wbuf_u32(w, sl->method_id);
        phx_wbuf_u64(w, sl->expires_ns > now ? sl->expires_ns - now : 0);
    }
}

static bool restore_slots(phx_rbuf_t *r, struct adm_slots *t, uint64_t now)
{
    uint32_t n = phx_rbuf_u32(r);

    if (r->failed || n > ADM_MAX || adm_slots_resize(t, n) < 0)
        return false;
    for (uint32_t i = 0; i < n && !r->failed; i++) {
        uint64_t call_id = phx_rbuf_u64(r);
        uint32_t conn_id = phx_rbuf_u32(r), method_id = phx_rbuf_u32(r);
        uint64_t left = phx_rbuf_u64(r);
        if (left > 86400000ull * NS_PER_MS ||
            !adm_slots_add(t, call_id, conn_id, method_id, now + left))
            return false;
    }
    return !r->failed;
}

/* The counters, the upgrades and the slots, after the settings the SDK writes. */
static void dump_rest(void *state, phx_wbuf_t *w)
{
    const struct adm_state *s = state;

    dump_counts(w, &s->n);
    phx_wbuf_u64(w, s->upgrades);
    dump_slots(w, &s->slots, phx_now_ns());
}

static bool restore_rest(void *state, phx_rbuf_t *r, uint32_t version)
{
    struct adm_state *s = state;

    (void)version;
    restore_counts(r, &s->n);
    s->upgrades = phx_rbuf_u64(r) + 1;
    return restore_slots(r, &s->slots, phx_now_ns());
}

static const phx_policy_kind_t adm_kind = {
    .type = "AdmissionEngine", .version = ADM_VERSION, .magic = ADM_MAGIC,
    .state_version = ADM_STATE_VERSION, .schema = &adm_schema,
    .policy_at = offsetof(struct adm_state, pol), .settings_at = offsetof(struct adm_state, set),
    .state_new = state_new, .state_free = state_free, .apply = apply,
    .dump = dump_rest, .restore = restore_rest,
};

/* ---- engine ops ----------------------------------------------------------------------------- */

PHX_POLICY_DEFINE_OPS(adm_kind)

/* ---- admin ---------------------------------------------------------------------------------- */

/* "stats": the settings, the calls outstanding now, how slots were taken and freed. */
static int adm_admin(phx_engine_t *e, void *state, const char *request, char **reply)
{
    struct adm_state *s = state;
    const struct adm_counts *n = &s->n;

    if (strcmp(request, "stats") != 0)
        return -ENOTSUP;
    char *counts = phx_policy_stats_json(&s->pol);
    if (!counts)
        return -ENOMEM;
    int k = asprintf(reply, "{\"type\":\"AdmissionEngine\",\"version\":\"%s\",\"settings\":{"
                     "\"max_outstanding\":%u,\"max_per_method\":%u,\"slot_timeout_ms\":%u,"
                     "\"side\":\"%s\"},"
                     "\"outstanding\":%u,\"peak\":%" PRIu64 ",\"admitted\":%" PRIu64
                     ",\"refused_app\":%" PRIu64 ",\"refused_method\":%" PRIu64 ",\"freed\":{"
                     "\"replies\":%" PRIu64 ",\"errors\":%" PRIu64 ",\"send_failed\":%" PRIu64
                     ",\"cancelled\":%" PRIu64 ",\"dropped\":%" PRIu64 ",\"conn_ended\":%" PRIu64
                     ",\"expired\":%" PRIu64 "},\"upgrades\":%" PRIu64 ",%s}", ADM_VERSION,
                     s->set.max_outstanding, s->set.max_per_method, s->set.slot_timeout_ms,
                     PHX_POLICY_SIDE_NAMES[s->set.side], s->slots.count, n->peak, n->admitted,
                     n->refused_app, n->refused_method,
                     n->replies, n->errors, n->send_failed, n->cancelled, n->dropped,
                     n->conn_ended, n->expired, s->upgrades, counts);
    free(counts);
    return k < 0 ? -ENOMEM : 0;
}

static const phx_engine_ops_t adm_engine = {
    .type = "AdmissionEngine",
    .state_version = ADM_STATE_VERSION,
    PHX_POLICY_OPS(adm_kind),
    .ports = {[PHX_TX] = {.in = 1, .out = 1}, [PHX_RX] = {.in = 1, .out = 1}},
    .progress = phx_policy_op_progress,
    .arm = phx_policy_op_arm,
    .flush = phx_policy_op_flush,
    .admin = adm_admin,
};

PHX_PLUGIN("admission", ADM_VERSION, .engines = PHX_ENGINES(&adm_engine),
           .settings = &adm_schema);
