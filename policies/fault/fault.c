/* fault.c - FaultEngine: faults injected into the requests an app sends (client side, tx) or is
 * sent (server side, rx), with the semantics of gRPC's and Envoy's fault injection: a request
 * that matches is first delayed with probability delay_per_million, then aborted with
 * probability abort_per_million. On the client side an aborted request never reaches the
 * network and the caller's call fails with abort_status; on the server side it never reaches
 * the app and the remote caller gets abort_status and the sentence.
 *
 * Settings (phoenix.conf `settings = { fault = { ... }; };`, an attach descriptor's config_string,
 * or `policyctl set` live):
 *
 *   abort_per_million  chance that a request is aborted, in millionths (200000 = 20 %,
 *                      1000 = 0.1 %): integers, so that fractions of a percent need no floats
 *   abort_status       the status an aborted call fails with, by name ("UNAVAILABLE")
 *   delay_per_million  chance that a request is delayed, in millionths
 *   delay_ms           how long a delayed request is held
 *   service            only requests of this service, by full name ("rpc_hello.Greeter");
 *                      "": every service
 *   method             only requests of this method, "pkg.Service/Method" (or
 *                      "pkg.Service.Method"); "": every method. Both match by protoc-gen-mrpc's
 *                      ids (mrpc_id_of() of the full name), which is what a call carries
 *   seed               the random generator's seed; 0: from the clock (a fixed seed repeats the
 *                      same faults for the same sequence of requests, for tests)
 *   queue_max          requests held at most (delays); more are refused (RESOURCE_EXHAUSTED)
 *   side               "client" (default), "server" or "both": whose requests (policyctl
 *                      attach --side)
 *
 * A delay holds the request, and, as every hold of the policy SDK (phoenix/policy.h), the calls
 * the app sent behind it on the same subscription: order is never changed. Replies, errors,
 * cancels and connection traffic pass untouched. The generator's state, the settings and the
 * counters cross a live upgrade; a request held at the upgrade is let through by flush() first. */
#include "mrpc/mrpc.h"
#include "phoenix/clock.h"
#include "phoenix/handover.h"
#include "phoenix/policy.h"
#include "phoenix/settings.h"

#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FT_VERSION       "1.0.0"
#define FT_STATE_VERSION 2         /* 2: the settings as text (policy.h) */
#define FT_MAGIC         0x46544d31u        /* "FTM1" */
#define FT_MILLION       1000000u

/* The failure statuses by name; index i is status i + 1 (OK is no fault). */
static const char *const status_names[] = {
    "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
    "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
    "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
    "UNAUTHENTICATED", NULL };
#define FT_UNAVAILABLE_INDEX 13

/* ---- names of services and methods --------------------------------------------------------- */

/* True when NAME is made of letters, digits, '_' and '.', with SLASHES '/' at most. */
static bool plain_name(const char *name, unsigned slashes)
{
    for (const char *p = name; *p; p++)
        if (*p == '/' ? slashes-- == 0 : !(isalnum((unsigned char)*p) || *p == '_' || *p == '.'))
            return false;
    return true;
}

static int check_service(const char *value, char *why, size_t n)
{
    if (plain_name(value, 0))
        return 0;
    snprintf(why, n, "must be a service's full name such as \"rpc_hello.Greeter\"");
    return -1;
}

static int check_method(const char *value, char *why, size_t n)
{
    const char *cut = strchr(value, '/') ? strchr(value, '/') : strrchr(value, '.');

    if (!*value || (plain_name(value, 1) && cut && cut != value && cut[1]))
        return 0;
    snprintf(why, n, "must be a method's full name such as \"rpc_hello.Greeter/SayHello\"");
    return -1;
}

/* The id of METHOD ("pkg.Service/Method" or "pkg.Service.Method"): mrpc_id_of() of the dotted
 * name; 0 for "". */
static uint32_t method_id_of(const char *method)
{
    char name[512];

    if (!*method)
        return 0;
    snprintf(name, sizeof(name), "%s", method);
    char *slash = strchr(name, '/');
    if (slash)
        *slash = '.';
    return mrpc_id_of(name);
}

struct ft_settings {
    unsigned abort_per_million;
    int      abort_status;              /* index into status_names */
    unsigned delay_per_million;
    unsigned delay_ms;
    char    *service;
    char    *method;
    unsigned seed;
    unsigned queue_max;
    int      side;
};

static const struct phx_setting ft_keys[] = {
    PHX_SETTING_UINT(struct ft_settings, abort_per_million, 0, 0, FT_MILLION,
                     "chance a request is aborted, in millionths (200000: 20 %)"),
    PHX_SETTING_ENUM(struct ft_settings, abort_status, FT_UNAVAILABLE_INDEX, status_names,
                     "the status an aborted call fails with"),
    PHX_SETTING_UINT(struct ft_settings, delay_per_million, 0, 0, FT_MILLION,
                     "chance a request is delayed, in millionths"),
    PHX_SETTING_UINT(struct ft_settings, delay_ms, 0, 0, 3600000,
                     "how long a delayed request is held, in milliseconds"),
    PHX_SETTING_STRING(struct ft_settings, service, "",
                       "only requests of this service (\"pkg.Service\"); \"\": every service",
                       .check_str = check_service),
    PHX_SETTING_STRING(struct ft_settings, method, "",
                       "only requests of this method (\"pkg.Service/Method\"); \"\": every method",
                       .check_str = check_method),
    PHX_SETTING_UINT(struct ft_settings, seed, 0, 0, 0xffffffffLL,
                     "seed of the random generator; 0: from the clock"),
    PHX_SETTING_UINT(struct ft_settings, queue_max, 4096, 1, PHX_POLICY_QUEUE_MAX,
                     "requests held at most by delays; more are refused"),
    PHX_SETTING_ENUM(struct ft_settings, side, 0, PHX_POLICY_SIDE_NAMES,
                     "client: the requests the app sends; server: those it is sent; both"),
};

static PHX_SETTINGS_SCHEMA(ft_schema, "fault", struct ft_settings, ft_keys);

struct ft_counts {
    uint64_t matched;       /* requests the settings applied to */
    uint64_t aborted;
    uint64_t delayed;
};

struct ft_state {
    phx_policy_t       pol;
    struct ft_settings set;         /* in effect (its own strings) */
    uint32_t           service_id;  /* 0: any */
    uint32_t           method_id;   /* 0: any */
    uint64_t           rng;         /* splitmix64 */
    struct ft_counts   n;
    struct {                        /* per direction: the head request was delayed, */
        bool           on;          /* and is not rolled again */
        uint32_t       conn;
        uint64_t       call;
    } pending[2];
    uint64_t           upgrades;
    char               why[96];
};
_Static_assert(offsetof(struct ft_state, pol) == 0,
               "phx_policy_op_* read the state as its policy");

/* ---- the decision --------------------------------------------------------------------------- */

static uint64_t next_random(struct ft_state *s)
{
    uint64_t z = (s->rng += 0x9e3779b97f4a7c15ull);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* True with probability PER_MILLION / 1,000,000 (no draw when it is 0 or certain). */
static bool roll(struct ft_state *s, unsigned per_million)
{
    if (per_million == 0 || per_million >= FT_MILLION)
        return per_million >= FT_MILLION;
    return next_random(s) % FT_MILLION < per_million;
}

static bool matches(const struct ft_state *s, const phx_call_t *call)
{
    return call->kind == PHX_CALL_REQUEST &&        /* of the side set: the SDK shows no other */
           (!s->service_id || call->service_id == s->service_id) &&
           (!s->method_id || call->method_id == s->method_id);
}

/* The request asked about again after its delay. */
static bool was_delayed(struct ft_state *s, const phx_call_t *call)
{
    bool again = s->pending[call->dir].on && s->pending[call->dir].conn == call->conn_id &&
                 s->pending[call->dir].call == call->call_id;

    s->pending[call->dir].on = false;
    return again;
}

static phx_verdict_t ft_decide(void *ctx, const phx_call_t *call, uint64_t now)
{
    struct ft_state *s = ctx;

    if (!matches(s, call))
        return phx_verdict_forward();
    if (!was_delayed(s, call)) {
        s->n.matched++;
        if (s->set.delay_ms && roll(s, s->set.delay_per_million)) {
            s->n.delayed++;
            s->pending[call->dir].on = true;
            s->pending[call->dir].conn = call->conn_id;
            s->pending[call->dir].call = call->call_id;
            return phx_verdict_hold(now + (uint64_t)s->set.delay_ms * 1000000u);
        }
    }
    if (roll(s, s->set.abort_per_million)) {
        s->n.aborted++;
        return phx_verdict_reject((phx_status_t)(s->set.abort_status + 1), s->why);
    }
    return phx_verdict_forward();
}

/* ---- settings ------------------------------------------------------------------------------- */

static uint64_t seed_of(unsigned seed)
{
    return seed ? seed : phx_now_ns() ^ ((uint64_t)(uintptr_t)&seed_of << 17);
}

/* Puts SET in effect. A new or changed seed restarts the generator; otherwise it goes on. */
static int apply(void *state, const void *settings, char *err, size_t errlen)
{
    struct ft_state *s = state;
    const struct ft_settings *set = settings;
    unsigned sides = phx_policy_side_of(set->side), dirs = s->pol.dirs;
    struct ft_settings copy;

    if (phx_settings_copy(&ft_schema, &copy, set) < 0) {
        phx_settings_free(&ft_schema, &copy);
        snprintf(err, errlen, "out of memory for the settings");
        return -ENOMEM;
    }
    int rc = phx_policy_set_dirs(&s->pol, phx_policy_request_dirs(sides), err, errlen);
    if (rc == 0 && (rc = phx_policy_set_queue_max(&s->pol, set->queue_max, err, errlen)) < 0)
        s->pol.dirs = dirs;                     /* refused: nothing changed */
    if (rc < 0) {
        phx_settings_free(&ft_schema, &copy);
        return rc;
    }
    if (!s->rng || set->seed != s->set.seed)
        s->rng = seed_of(set->seed);
    phx_policy_set_sides(&s->pol, sides);
    phx_settings_free(&ft_schema, &s->set);
    s->set = copy;
    s->service_id = *set->service ? mrpc_id_of(set->service) : 0;
    s->method_id = method_id_of(set->method);
    snprintf(s->why, sizeof(s->why), "fault injected: %s (abort_per_million = %u)",
             status_names[set->abort_status], set->abort_per_million);
    return 0;
}

static void *state_new(phx_engine_t *e)
{
    struct ft_state *s = calloc(1, sizeof(*s));

    if (!s)
        return NULL;
    if (phx_settings_init(&ft_schema, &s->set) < 0 ||
        phx_policy_init(&s->pol, ft_decide, s, (1u << PHX_TX) | (1u << PHX_RX), 1) < 0) {
        phx_settings_free(&ft_schema, &s->set);
        free(s);
        return NULL;
    }
    return s;
}

static void state_free(void *state)
{
    struct ft_state *s = state;

    phx_policy_fini(&s->pol);
    phx_settings_free(&ft_schema, &s->set);
    free(s);
}

/* ---- live upgrade --------------------------------------------------------------------------- */

/* The generator (so that the sequence goes on, not reseeded), the counters and the upgrades,
 * after the settings the SDK writes. */
static void dump_rest(void *state, phx_wbuf_t *w)
{
    const struct ft_state *s = state;

    phx_wbuf_u64(w, s->rng);
    phx_wbuf_u64(w, s->n.matched);
    phx_wbuf_u64(w, s->n.aborted);
    phx_wbuf_u64(w, s->n.delayed);
    phx_wbuf_u64(w, s->upgrades);
}

static bool restore_rest(void *state, phx_rbuf_t *r, uint32_t version)
{
    struct ft_state *s = state;

    (void)version;
    s->rng = phx_rbuf_u64(r);
    s->n.matched = phx_rbuf_u64(r);
    s->n.aborted = phx_rbuf_u64(r);
    s->n.delayed = phx_rbuf_u64(r);
    s->upgrades = phx_rbuf_u64(r) + 1;
    return !r->failed;
}

static const phx_policy_kind_t ft_kind = {
    .type = "FaultEngine", .version = FT_VERSION, .magic = FT_MAGIC,
    .state_version = FT_STATE_VERSION, .schema = &ft_schema,
    .policy_at = offsetof(struct ft_state, pol), .settings_at = offsetof(struct ft_state, set),
    .state_new = state_new, .state_free = state_free, .apply = apply,
    .dump = dump_rest, .restore = restore_rest,
};

/* ---- engine ops ----------------------------------------------------------------------------- */

PHX_POLICY_DEFINE_OPS(ft_kind)

static int ft_flush(phx_engine_t *e, void *state)
{
    struct ft_state *s = state;

    s->pending[PHX_TX].on = s->pending[PHX_RX].on = false;
    return phx_policy_flush(&s->pol, e);
}

/* ---- admin ---------------------------------------------------------------------------------- */

/* "stats": the settings in effect and the counters as JSON. */
static int ft_admin(phx_engine_t *e, void *state, const char *request, char **reply)
{
    struct ft_state *s = state;

    if (strcmp(request, "stats") != 0)
        return -ENOTSUP;
    char *counts = phx_policy_stats_json(&s->pol);
    if (!counts)
        return -ENOMEM;
    int n = asprintf(reply, "{\"type\":\"FaultEngine\",\"version\":\"%s\",\"settings\":{"
                     "\"abort_per_million\":%u,\"abort_status\":\"%s\",\"delay_per_million\":%u,"
                     "\"delay_ms\":%u,\"service\":\"%s\",\"method\":\"%s\",\"seed\":%u,"
                     "\"queue_max\":%u,\"side\":\"%s\"},\"matched\":%" PRIu64
                     ",\"aborted\":%" PRIu64
                     ",\"delayed\":%" PRIu64 ",\"upgrades\":%" PRIu64 ",%s}", FT_VERSION,
                     s->set.abort_per_million, status_names[s->set.abort_status],
                     s->set.delay_per_million, s->set.delay_ms, s->set.service,
                     s->set.method, s->set.seed, s->set.queue_max,
                     PHX_POLICY_SIDE_NAMES[s->set.side], s->n.matched,
                     s->n.aborted, s->n.delayed, s->upgrades, counts);
    free(counts);
    return n < 0 ? -ENOMEM : 0;
}

static const phx_engine_ops_t ft_engine = {
    .type = "FaultEngine",
    .state_version = FT_STATE_VERSION,
    PHX_POLICY_OPS(ft_kind),
    .ports = {[PHX_TX] = {.in = 1, .out = 1}, [PHX_RX] = {.in = 1, .out = 1}},
    .progress = phx_policy_op_progress,
    .arm = phx_policy_op_arm,
    .flush = ft_flush,
    .admin = ft_admin,
};

PHX_PLUGIN("fault", FT_VERSION, .engines = PHX_ENGINES(&ft_engine), .settings = &ft_schema);
