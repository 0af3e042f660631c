/* ratelimit.c - RateLimitEngine: a token bucket on the requests an app sends (client side, tx),
 * or on those it is sent (server side, rx), or both through one bucket.
 *
 * Settings (phoenix.conf `settings = { ratelimit = { ... }; };`, an attach descriptor's
 * config_string, or `policyctl set` live):
 *
 *   requests_per_sec  requests let through per second (0: no limit on requests)
 *   bucket_size       requests that may go in one burst (0: a twentieth of a second's worth,
 *                     at least 8)
 *   bytes_per_sec     request payload bytes per second (0: no limit on bytes)
 *   mode              "delay" (hold the request until its turn; a full queue refuses with
 *                     RESOURCE_EXHAUSTED) or "reject" (refuse it at once with RESOURCE_EXHAUSTED)
 *   queue_max         requests held at most in delay mode
 *   side              "client" (default: the requests the app sends), "server" (the requests
 *                     that come in for it: held before the app sees them, or refused, the
 *                     remote caller getting RESOURCE_EXHAUSTED and the sentence), or "both"
 *
 * Replies, errors, cancels and connection traffic pass untouched (the rx ports of a client-side
 * limiter are there so that a refused request completes upward, phoenix/policy.h).
 *
 * The queue, the timer and the verdicts are the policy SDK's (phoenix/policy.h); this file is the
 * settings, the decision and the state. The state (both buckets' tokens, the settings in effect,
 * the counters) crosses a live upgrade as a versioned blob, and a live `set` keeps the tokens.
 * Requests held at an upgrade or a detach are let through by flush() first (the service asks). */
#include "bucket.h"
#include "phoenix/clock.h"
#include "phoenix/handover.h"
#include "phoenix/policy.h"
#include "phoenix/settings.h"

#include <errno.h>
#include <stddef.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RL_VERSION       "1.0.0"
#define RL_STATE_VERSION 2        /* 2: the settings as text (policy.h) */
#define RL_MAGIC         0x524c4d31u        /* "RLM1" */

enum rl_mode { RL_DELAY = 0, RL_REJECT = 1 };

static const char *const mode_names[] = { "delay", "reject", NULL };

struct rl_settings {
    unsigned requests_per_sec;
    unsigned bucket_size;
    unsigned bytes_per_sec;
    int      mode;
    unsigned queue_max;
    int      side;
};

static const struct phx_setting rl_keys[] = {
    PHX_SETTING_UINT(struct rl_settings, requests_per_sec, 0, 0, 100000000,
                     "requests let through per second; 0: no limit on requests"),
    PHX_SETTING_UINT(struct rl_settings, bucket_size, 0, 0, 100000000,
                     "requests in one burst; 0: a twentieth of a second's worth, at least 8"),
    PHX_SETTING_UINT(struct rl_settings, bytes_per_sec, 0, 0, 4000000000LL,
                     "request payload bytes per second; 0: no limit on bytes"),
    PHX_SETTING_ENUM(struct rl_settings, mode, RL_DELAY, mode_names,
                     "delay: hold requests until their turn; reject: refuse them at once"),
    PHX_SETTING_UINT(struct rl_settings, queue_max, 4096, 1, PHX_POLICY_QUEUE_MAX,
                     "requests held at most in delay mode; more are refused"),
    PHX_SETTING_ENUM(struct rl_settings, side, 0, PHX_POLICY_SIDE_NAMES,
                     "client: the requests the app sends; server: those it is sent; both"),
};

static PHX_SETTINGS_SCHEMA(rl_schema, "ratelimit", struct rl_settings, rl_keys);

struct rl_state {
    phx_policy_t       pol;
    struct rl_settings set;         /* in effect (strings: none) */
    struct rl_bucket   requests, bytes;
    bool               head_held[2];    /* per direction: the call decided next there was held,
                                           its wait is owed ... */
    uint64_t           held_call[2];    /* ... if it is still that call (its call_id and */
    uint32_t           held_conn[2];    /* conn_id): its CANCEL may have withdrawn it */
    uint64_t           upgrades;    /* live upgrades this state went through */
    char               why[96];     /* the sentence of a rejection */
};
_Static_assert(offsetof(struct rl_state, pol) == 0,
               "phx_policy_op_* read the state as its policy");

/* ---- the decision --------------------------------------------------------------------------- */

static phx_verdict_t rl_decide(void *ctx, const phx_call_t *call, uint64_t now)
{
    struct rl_state *s = ctx;

    if (call->kind != PHX_CALL_REQUEST)         /* of the side set: the SDK shows no other */
        return phx_verdict_forward();
    phx_dir_t dir = call->dir;
    bool owed = s->head_held[dir] &&                /* bucket.h: a late wake-up's tokens */
                s->held_call[dir] == call->call_id && s->held_conn[dir] == call->conn_id;
    rl_bucket_fill(&s->requests, now, owed);
    rl_bucket_fill(&s->bytes, now, owed);
    uint64_t wait = rl_bucket_wait_ns(&s->requests, 1.0);
    uint64_t wait_bytes = rl_bucket_wait_ns(&s->bytes, 1.0);
    if (wait_bytes > wait)
        wait = wait_bytes;
    if (wait && s->set.mode == RL_REJECT)
        return phx_verdict_reject(PHX_RESOURCE_EXHAUSTED, s->why);
    s->head_held[call->dir] = wait != 0;        /* the SDK asks about the same call next */
    s->held_call[call->dir] = call->call_id;
    s->held_conn[call->dir] = call->conn_id;
    if (wait)
        return phx_verdict_hold(now + wait);
    if (s->requests.rate > 0)
        s->requests.tokens -= 1.0;
    if (s->bytes.rate > 0)
        s->bytes.tokens -= (double)call->bytes;
    return phx_verdict_forward();
}

/* ---- settings and state --------------------------------------------------------------------- */

/* Puts SET in effect: buckets (keeping their tokens), queue, the rejection's sentence. */
static int apply(void *state, const void *settings, char *err, size_t errlen)
{
    struct rl_state *s = state;
    const struct rl_settings *set = settings;
    unsigned sides = phx_policy_side_of(set->side), dirs = s->pol.dirs;
    int rc = phx_policy_set_dirs(&s->pol, phx_policy_request_dirs(sides), err, errlen);
    uint64_t now = phx_now_ns();

    if (rc == 0 && (rc = phx_policy_set_queue_max(&s->pol, set->queue_max, err, errlen)) < 0)
        s->pol.dirs = dirs;                     /* refused: nothing changed */
    if (rc < 0)
        return rc;
    phx_policy_set_sides(&s->pol, sides);
    s->set = *set;
    double burst = set->bucket_size ? set->bucket_size : set->requests_per_sec / 20.0;
    rl_bucket_set(&s->requests, set->requests_per_sec, burst < 8 ? 8 : burst, now);
    double bytes_burst = set->bytes_per_sec / 20.0;
    rl_bucket_set(&s->bytes, set->bytes_per_sec, bytes_burst < 1 ? 1 : bytes_burst, now);
    snprintf(s->why, sizeof(s->why), "over the rate limit of %u requests/s%s",
             set->requests_per_sec, set->bytes_per_sec ? " or its byte rate" : "");
    return 0;
}

static void *state_new(phx_engine_t *e)
{
    struct rl_state *s = calloc(1, sizeof(*s));

    if (s && phx_policy_init(&s->pol, rl_decide, s, (1u << PHX_TX) | (1u << PHX_RX), 1) < 0) {
        free(s);
        return NULL;
    }
    return s;
}

static void state_free(void *state)
{
    struct rl_state *s = state;

    phx_policy_fini(&s->pol);
    free(s);
}

/* ---- live upgrade --------------------------------------------------------------------------- */

static uint64_t bits_of(double v)
{
    uint64_t u;

    memcpy(&u, &v, sizeof(u));
    return u;
}

static double double_of(uint64_t u)
{
    double v;

    memcpy(&v, &u, sizeof(v));
    return v;
}

static void dump_bucket(phx_wbuf_t *w, const struct rl_bucket *b)
{
    phx_wbuf_u64(w, bits_of(b->tokens));
    phx_wbuf_u64(w, b->last_ns);
}

static void restore_bucket(phx_rbuf_t *r, struct rl_bucket *b)
{
    b->tokens = double_of(phx_rbuf_u64(r));
    b->last_ns = phx_rbuf_u64(r);
}

/* Both buckets' tokens and the upgrades, after the settings the SDK writes. */
static void dump_rest(void *state, phx_wbuf_t *w)
{
    const struct rl_state *s = state;

    dump_bucket(w, &s->requests);
    dump_bucket(w, &s->bytes);
    phx_wbuf_u64(w, s->upgrades);
}

static bool restore_rest(void *state, phx_rbuf_t *r, uint32_t version)
{
    struct rl_state *s = state;

    (void)version;
    restore_bucket(r, &s->requests);
    restore_bucket(r, &s->bytes);
    s->upgrades = phx_rbuf_u64(r) + 1;
    return !r->failed;
}

static const phx_policy_kind_t rl_kind = {
    .type = "RateLimitEngine", .version = RL_VERSION, .magic = RL_MAGIC,
    .state_version = RL_STATE_VERSION, .schema = &rl_schema,
    .policy_at = offsetof(struct rl_state, pol), .settings_at = offsetof(struct rl_state, set),
    .state_new = state_new, .state_free = state_free, .apply = apply,
    .dump = dump_rest, .restore = restore_rest,
};

/* ---- engine ops ----------------------------------------------------------------------------- */

PHX_POLICY_DEFINE_OPS(rl_kind)

/* Held requests go out undecided (detach, upgrade): the next call decided waited for nothing. */
static int rl_flush(phx_engine_t *e, void *state)
{
    struct rl_state *s = state;

    s->head_held[PHX_TX] = s->head_held[PHX_RX] = false;
    return phx_policy_flush(&s->pol, e);
}

/* ---- admin ---------------------------------------------------------------------------------- */

static int stats_json(struct rl_state *s, char **reply)
{
    char *counts = phx_policy_stats_json(&s->pol);

    if (!counts)
        return -ENOMEM;
    struct rl_bucket shown = s->requests;
    bool owed = (s->head_held[PHX_TX] && phx_policy_held(&s->pol, PHX_TX)) ||
                (s->head_held[PHX_RX] && phx_policy_held(&s->pol, PHX_RX));
    rl_bucket_fill(&shown, phx_now_ns(), owed);
    int n = asprintf(reply, "{\"type\":\"RateLimitEngine\",\"version\":\"%s\","
                     "\"settings\":{\"requests_per_sec\":%u,\"bucket_size\":%u,"
                     "\"bytes_per_sec\":%u,\"mode\":\"%s\",\"queue_max\":%u,\"side\":\"%s\"},"
                     "\"tokens\":%.3f,\"upgrades\":%" PRIu64 ",%s}", RL_VERSION,
                     s->set.requests_per_sec, s->set.bucket_size, s->set.bytes_per_sec,
                     mode_names[s->set.mode], s->set.queue_max,
                     PHX_POLICY_SIDE_NAMES[s->set.side], shown.tokens,
                     s->upgrades, counts);
    free(counts);
    return n < 0 ? -ENOMEM : 0;
}

/* "stats": the settings in effect, tokens and counters as JSON. */
static int rl_admin(phx_engine_t *e, void *state, const char *request, char **reply)
{
    if (strcmp(request, "stats") != 0)
        return -ENOTSUP;
    return stats_json(state, reply);
}

static const phx_engine_ops_t rl_engine = {
    .type = "RateLimitEngine",
    .state_version = RL_STATE_VERSION,
    PHX_POLICY_OPS(rl_kind),
    .ports = {[PHX_TX] = {.in = 1, .out = 1}, [PHX_RX] = {.in = 1, .out = 1}},
    .progress = phx_policy_op_progress,
    .arm = phx_policy_op_arm,
    .flush = rl_flush,
    .admin = rl_admin,
};

PHX_PLUGIN("ratelimit", RL_VERSION, .engines = PHX_ENGINES(&rl_engine), .settings = &rl_schema);
