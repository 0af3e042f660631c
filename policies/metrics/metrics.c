/* metrics.c - MetricsEngine: per app x method call counts, errors by status, bytes and latency
 * histograms, for `phoenixctl metrics` and phoenixd's Prometheus endpoint (docs/policies.md).
 *
 * Settings (phoenix.conf `settings = { metrics = { ... }; };`, an attach's config_string, or
 * `policyctl set` live):
 *
 *   buckets      the latency buckets: "default" (10 us .. 10 s, 1-2.5-5 steps), "fine"
 *                (1 us .. 16.8 s, doubling) or "coarse" (100 us .. 10 s by decades)
 *   max_methods  series kept (side x service x method), 1 .. 1024; calls beyond count in the
 *                side's overflow series (service and method "other")
 *
 * A call is timed from its request to its answer as this engine sees them: on the client side
 * from the request going out (tx) to the reply coming in (rx), on a server's subscription from
 * the request coming in (rx) to the reply going out (tx). The engine never holds or rejects.
 * A cancel, a send that failed and a lost connection end the calls they concern as errors with
 * CANCELLED, the send's status and UNAVAILABLE, untimed.
 *
 * Admin requests: "stats" (JSON: settings and totals, every series' counts) and "prometheus"
 * (the series in the text exposition format, labelled with side, service and method: their
 * names from the layouts the app registered, read when the text is written, or their ids when
 * no layout names them; phoenixd adds the app's pid, sid, name and job when it serves them). Both run on the control thread with the
 * group suspended, as every admin request does. The counters, histograms and calls in flight
 * cross a live upgrade in a versioned blob. */
#include "series.h"

#include "mrpc/transport.h"
#include "phoenix/clock.h"
#include "phoenix/handover.h"
#include "phoenix/policy.h"
#include "phoenix/prom.h"
#include "phoenix/settings.h"
#include "phoenix/status.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MX_VERSION       "1.0.0"
#define MX_STATE_VERSION 2                 /* 2: the SDK's framing (settings as text) */
#define MX_MAGIC         0x4d545831u        /* "MTX1" */
#define MX_QUEUE_MAX     64                 /* nothing is held: room for back-pressure only */

static const char *const bucket_names[] = { "default", "fine", "coarse", NULL };

struct mx_settings {
    int      buckets;
    unsigned max_methods;
};

static const struct phx_setting mx_keys[] = {
    PHX_SETTING_ENUM(struct mx_settings, buckets, 0, bucket_names,
                     "latency buckets: default (10 us .. 10 s), fine (1 us .. 16.8 s) or "
                     "coarse (100 us .. 10 s)"),
    PHX_SETTING_UINT(struct mx_settings, max_methods, 64, 1, MX_SERIES_MAX,
                     "series kept (side x service x method); beyond, the overflow series"),
};

static PHX_SETTINGS_SCHEMA(mx_schema, "metrics", struct mx_settings, mx_keys);

struct mx_state {
    phx_policy_t       pol;
    struct mx_settings set;
    struct mx_table    t;
    uint64_t           upgrades;
};

/* ---- calls ---------------------------------------------------------------------------------- */

/* The side a call flowing in DIR belongs to: a request going out is a client's. */
static enum mx_side side_of(const phx_call_t *c)
{
    bool request = c->kind == PHX_CALL_REQUEST || c->kind == PHX_CALL_CANCEL;

    return (c->dir == PHX_TX) == request ? MX_CLIENT : MX_SERVER;
}

static phx_verdict_t mx_decide(void *ctx, const phx_call_t *c, uint64_t now)
{
    struct mx_state *s = ctx;
    bool sent = c->dir == PHX_TX;

    switch (c->kind) {
    case PHX_CALL_REQUEST:
        mx_request(&s->t, side_of(c), c->conn_id, c->call_id, c->service_id, c->method_id,
                   c->bytes, sent, now);
        break;
    case PHX_CALL_REPLY:
    case PHX_CALL_ERROR: {
        int status = c->kind == PHX_CALL_ERROR && c->status == PHX_OK ? PHX_UNKNOWN : c->status;
        mx_answer(&s->t, side_of(c), c->conn_id, c->call_id, c->service_id, c->method_id,
                  status, c->bytes, sent, now);
        break;
    }
    case PHX_CALL_CANCEL:
        mx_end(&s->t, c->conn_id, c->call_id, PHX_CANCELLED, now);
        break;
    }
    return phx_verdict_forward();
}

/* The endings that are not answers: a request whose send failed, a connection gone. */
static void mx_watch(void *ctx, const phx_desc_t *d, phx_dir_t dir, uint64_t now)
{
    struct mx_state *s = ctx;

    if (dir == PHX_RX && d->kind == MRPC_DESC_SENT && d->status != PHX_OK && d->addr) {
        const struct mrpc_wire_hdr *h =
            &((const struct mrpc_wire_msg *)(uintptr_t)d->addr)->hdr;
        if (h->kind == MRPC_WIRE_CALL)
            mx_end(&s->t, d->conn_id, h->call_id, d->status, now);
    } else if ((dir == PHX_RX && d->kind == MRPC_DESC_CONN_LOST) ||
               (dir == PHX_TX && d->kind == MRPC_DESC_CLOSE)) {
        mx_end_conn(&s->t, d->conn_id, PHX_UNAVAILABLE, now);
    }
}

/* ---- settings ------------------------------------------------------------------------------- */

/* SET in effect: the table resized (kept series and calls) and re-bucketed when it changes. */
static int apply(void *state, const void *settings, char *err, size_t errlen)
{
    struct mx_state *s = state;
    const struct mx_settings *set = settings;

    if (s->t.series && set->max_methods == s->set.max_methods && set->buckets == s->set.buckets)
        return 0;
    int rc = s->t.series ? mx_table_resize(&s->t, set->max_methods, set->buckets)
                         : mx_table_init(&s->t, set->max_methods, set->buckets);
    if (rc == -EBUSY)
        snprintf(err, errlen, "config_string: max_methods: %u series are counted already, "
                 "more than %u (detach and attach again to start afresh)", s->t.n,
                 set->max_methods);
    else if (rc < 0)
        snprintf(err, errlen, "out of memory for %u series", set->max_methods);
    if (rc == 0)
        s->set = *set;
    return rc;
}

static void *state_new(phx_engine_t *e)
{
    struct mx_state *s = calloc(1, sizeof(*s));

    (void)e;
    if (s && phx_policy_init(&s->pol, mx_decide, s, (1u << PHX_TX) | (1u << PHX_RX),
                             MX_QUEUE_MAX) < 0) {
        free(s);
        return NULL;
    }
    if (s)
        phx_policy_watch(&s->pol, mx_watch);
    return s;
}

static void state_free(void *state)
{
    struct mx_state *s = state;

    mx_table_fini(&s->t);
    phx_policy_fini(&s->pol);
    free(s);
}

/* ---- live upgrade --------------------------------------------------------------------------- */

static void dump_series(phx_wbuf_t *w, const struct mx_series *x, unsigned nb)
{
    phx_wbuf_u32(w, x->service_id);
    phx_wbuf_u32(w, x->method_id);
    phx_wbuf_u8(w, x->side);
    phx_wbuf_u64(w, x->calls);
    phx_wbuf_u64(w, x->sent_bytes);
    phx_wbuf_u64(w, x->received_bytes);
    for (unsigned i = 0; i < MX_CODES; i++)
        phx_wbuf_u64(w, x->errors[i]);
    for (unsigned i = 0; i <= nb; i++)
        phx_wbuf_u64(w, x->hist[i]);
    phx_wbuf_u64(w, x->sum_ns);
}

static void dump_pending(phx_wbuf_t *w, const struct mx_table *t)
{
    phx_wbuf_u32(w, MX_PENDING_MAX - t->n_free);
    for (unsigned i = 0; i < MX_PENDING_MAX; i++) {
        const struct mx_pending *p = &t->pending[i];
        if (!p->used)
            continue;
        phx_wbuf_u64(w, p->call_id);
        phx_wbuf_u64(w, p->start_ns);
        phx_wbuf_u32(w, p->conn_id);
        phx_wbuf_u32(w, p->series);
    }
}

/* The totals, every series and the calls in flight, after the settings the SDK writes. */
static void dump_rest(void *state, phx_wbuf_t *w)
{
    const struct mx_state *s = state;

    phx_wbuf_u64(w, s->t.untimed);
    phx_wbuf_u64(w, s->t.overflowed);
    phx_wbuf_u64(w, s->upgrades);
    phx_wbuf_u32(w, s->t.n);
    for (unsigned i = 0; i < s->t.n; i++)
        dump_series(w, &s->t.series[i], s->t.nb);
    dump_series(w, &s->t.series[s->t.max], s->t.nb);
    dump_series(w, &s->t.series[s->t.max + 1], s->t.nb);
    dump_pending(w, &s->t);
}

static void restore_series_body(phx_rbuf_t *r, struct mx_series *x, unsigned nb)
{
    x->calls = phx_rbuf_u64(r);
    x->sent_bytes = phx_rbuf_u64(r);
    x->received_bytes = phx_rbuf_u64(r);
    for (unsigned i = 0; i < MX_CODES; i++)
        x->errors[i] = phx_rbuf_u64(r);
    for (unsigned i = 0; i <= nb; i++)
        x->hist[i] = phx_rbuf_u64(r);
    x->sum_ns = phx_rbuf_u64(r);
}

/* One series of R into T (a method's when !OVERFLOW, else the side's overflow series). */
static bool restore_series(phx_rbuf_t *r, struct mx_table *t, bool overflow)
{
    uint32_t service = phx_rbuf_u32(r), method = phx_rbuf_u32(r);
    unsigned side = phx_rbuf_u8(r);

    if (r->failed || side > 1)
        return false;
    struct mx_series *x = overflow ? &t->series[t->max + side]
                                   : mx_series_get(t, (enum mx_side)side, service, method);
    if (!overflow && x->overflow)
        return false;
    restore_series_body(r, x, t->nb);
    return !r->failed;
}

static bool restore_pending(phx_rbuf_t *r, struct mx_table *t)
{
    uint32_t n = phx_rbuf_u32(r);

    if (n > MX_PENDING_MAX)
        return false;
    for (uint32_t i = 0; i < n && !r->failed; i++) {
        uint64_t call = phx_rbuf_u64(r), start = phx_rbuf_u64(r);
        uint32_t conn = phx_rbuf_u32(r), series = phx_rbuf_u32(r);
        if (series >= t->max + 2 || (series >= t->n && series < t->max))
            return false;
        struct mx_series *x = &t->series[series];
        mx_request(t, (enum mx_side)x->side, conn, call, x->service_id, x->method_id, 0, true,
                   start);
        x->calls--;             /* it was counted before the upgrade */
        t->overflowed -= x->overflow;
    }
    return !r->failed;
}

/* What dump_rest() wrote, into S whose settings (and so its table) the SDK restored. */
static bool restore_rest(void *state, phx_rbuf_t *r, uint32_t version)
{
    struct mx_state *s = state;

    (void)version;
    s->t.untimed = phx_rbuf_u64(r);
    s->t.overflowed = phx_rbuf_u64(r);
    s->upgrades = phx_rbuf_u64(r) + 1;
    uint32_t n = phx_rbuf_u32(r);
    bool ok = !r->failed && n <= s->t.max;
    for (uint32_t i = 0; ok && i < n; i++)
        ok = restore_series(r, &s->t, false);
    ok = ok && restore_series(r, &s->t, true) && restore_series(r, &s->t, true);
    return ok && restore_pending(r, &s->t);
}

static const phx_policy_kind_t mx_kind = {
    .type = "MetricsEngine", .version = MX_VERSION, .magic = MX_MAGIC,
    .state_version = MX_STATE_VERSION, .schema = &mx_schema,
    .policy_at = offsetof(struct mx_state, pol), .settings_at = offsetof(struct mx_state, set),
    .state_new = state_new, .state_free = state_free, .apply = apply,
    .dump = dump_rest, .restore = restore_rest,
};

PHX_POLICY_DEFINE_OPS(mx_kind)

/* ---- admin ---------------------------------------------------------------------------------- */

static const char *side_name(const struct mx_series *x)
{
    return x->side == MX_SERVER ? "server" : "client";
}

#define MX_LABELS_MAX 512

/* The service and method of X as labels show them: the names E's layouts give, else the ids as
 * decimal numbers (in SID, MID), else "other" for an overflow series. */
static void series_names(phx_engine_t *e, const struct mx_series *x, const char **service,
                         const char **method, char sid[16], char mid[16])
{
    if (x->overflow) {
        *service = *method = "other";
        return;
    }
    if (phx_policy_method_names(e, x->service_id, x->method_id, service, method))
        return;
    snprintf(sid, 16, "%" PRIu32, x->service_id);
    snprintf(mid, 16, "%" PRIu32, x->method_id);
    *service = sid;
    *method = mid;
}

/* The labels of series X: side, service and method (escaped by phx_prom_label). */
static void series_labels(phx_engine_t *e, const struct mx_series *x, char *out, size_t n)
{
    char sid[16], mid[16];
    const char *service, *method;

    series_names(e, x, &service, &method, sid, mid);
    out[0] = '\0';
    phx_prom_label(out, n, "side", side_name(x));
    phx_prom_label(out, n, "service", service);
    phx_prom_label(out, n, "method", method);
}

/* Whether overflow series X counted anything (a method's series is shown from its first call). */
static bool overflow_used(const struct mx_series *x)
{
    uint64_t any = x->calls | x->sent_bytes | x->received_bytes;

    for (unsigned i = 0; i < MX_CODES; i++)
        any |= x->errors[i];
    return any != 0;
}

/* Visits the series worth showing: every method's, and an overflow series that counted. */
#define each_series(t, x)                                                                    \
    for (const struct mx_series *x = (t)->series; x < (t)->series + (t)->max + 2; x++)      \
        if (x < (t)->series + (t)->n || (x >= (t)->series + (t)->max && overflow_used(x)))

static void prom_counter(phx_prom_t *w, phx_engine_t *e, const struct mx_table *t,
                         const char *name, const char *help, size_t offset)
{
    char labels[MX_LABELS_MAX];

    phx_prom_family(w, name, "counter", help);
    each_series(t, x) {
        series_labels(e, x, labels, sizeof(labels));
        phx_prom_u64(w, name, labels, *(const uint64_t *)((const char *)x + offset));
    }
}

static void prom_errors(phx_prom_t *w, phx_engine_t *e, const struct mx_table *t)
{
    char labels[MX_LABELS_MAX + 48];

    phx_prom_family(w, "phoenix_rpc_errors_total", "counter",
                    "Calls that ended in an error status, by status.");
    each_series(t, x)
        for (int code = 1; code < MX_CODES; code++) {
            if (!x->errors[code])
                continue;
            series_labels(e, x, labels, sizeof(labels));
            phx_prom_label(labels, sizeof(labels), "code", phx_status_name(code));
            phx_prom_u64(w, "phoenix_rpc_errors_total", labels, x->errors[code]);
        }
}

static int prom_text(const struct mx_state *s, phx_engine_t *e, char **reply)
{
    const struct mx_table *t = &s->t;
    phx_prom_t w = { 0 };
    char labels[MX_LABELS_MAX];

    prom_counter(&w, e, t, "phoenix_rpc_calls_total",
                 "Requests started (client side: sent; server side: received).",
                 offsetof(struct mx_series, calls));
    prom_errors(&w, e, t);
    prom_counter(&w, e, t, "phoenix_rpc_sent_bytes_total",
                 "Payload bytes the app sent (requests on the client side, replies on the "
                 "server side).", offsetof(struct mx_series, sent_bytes));
    prom_counter(&w, e, t, "phoenix_rpc_received_bytes_total",
                 "Payload bytes the app received.", offsetof(struct mx_series, received_bytes));
    phx_prom_family(&w, "phoenix_rpc_latency_seconds", "histogram",
                    "Time from a request to its answer, as the service sees them.");
    each_series(t, x) {
        series_labels(e, x, labels, sizeof(labels));
        phx_prom_histogram(&w, "phoenix_rpc_latency_seconds", labels, t->bounds_ns, x->hist,
                           t->nb, x->sum_ns);
    }
    phx_prom_family(&w, "phoenix_rpc_untimed_total", "counter",
                    "Requests counted but not timed (too many calls in flight).");
    phx_prom_u64(&w, "phoenix_rpc_untimed_total", "", t->untimed);
    return (*reply = phx_prom_finish(&w)) ? 0 : -ENOMEM;
}

static void json_series(phx_prom_t *w, phx_engine_t *e, const struct mx_table *t,
                        const struct mx_series *x)
{
    char line[1024], sid[16], mid[16], service[256], method[256];
    const char *sn, *mn;

    series_names(e, x, &sn, &mn, sid, mid);
    phx_policy_json_text(service, sizeof(service), sn);
    phx_policy_json_text(method, sizeof(method), mn);
    int n = snprintf(line, sizeof(line), "{\"side\":\"%s\",\"service\":%" PRIu32 ",\"method\":"
                     "%" PRIu32 ",\"service_name\":\"%s\",\"method_name\":\"%s\",\"overflow\":%s,\"calls\":%" PRIu64 ",\"sent_bytes\":%" PRIu64
                     ",\"received_bytes\":%" PRIu64 ",\"timed\":%" PRIu64 ",\"latency_sum_us\":"
                     "%" PRIu64 ",\"errors\":{", side_name(x), x->service_id, x->method_id,
                     service, method, x->overflow ? "true" : "false", x->calls, x->sent_bytes, x->received_bytes,
                     mx_series_count(t, x), x->sum_ns / 1000);
    bool first = true;

    phx_prom_text(w, line, (size_t)n);
    for (int code = 1; code < MX_CODES; code++)
        if (x->errors[code]) {
            n = snprintf(line, sizeof(line), "%s\"%s\":%" PRIu64, first ? "" : ",",
                         phx_status_name(code), x->errors[code]);
            phx_prom_text(w, line, (size_t)n);
            first = false;
        }
    phx_prom_text(w, "}}", 2);
}

static int stats_json(const struct mx_state *s, phx_engine_t *e, char **reply)
{
    const struct mx_table *t = &s->t;
    char *counts = phx_policy_stats_json(&s->pol), head[512];
    phx_prom_t w = { 0 };
    bool first = true;

    if (!counts)
        return -ENOMEM;
    int n = snprintf(head, sizeof(head), "{\"type\":\"MetricsEngine\",\"version\":\"%s\","
                     "\"settings\":{\"buckets\":\"%s\",\"max_methods\":%u},\"methods\":%u,"
                     "\"overflowed\":%" PRIu64 ",\"untimed\":%" PRIu64 ",\"in_flight\":%u,"
                     "\"upgrades\":%" PRIu64 ",%s,\"series\":[", MX_VERSION,
                     bucket_names[s->set.buckets], s->set.max_methods, t->n, t->overflowed,
                     t->untimed, MX_PENDING_MAX - t->n_free, s->upgrades, counts);
    free(counts);
    phx_prom_text(&w, head, n > 0 && (size_t)n < sizeof(head) ? (size_t)n : 0);
    each_series(t, x) {
        if (!first)
            phx_prom_text(&w, ",", 1);
        json_series(&w, e, t, x);
        first = false;
    }
    phx_prom_text(&w, "]}", 2);
    return (*reply = phx_prom_finish(&w)) ? 0 : -ENOMEM;
}

/* "stats": JSON; "prometheus": the exposition text of the series. */
static int mx_admin(phx_engine_t *e, void *state, const char *request, char **reply)
{
    if (strcmp(request, "stats") == 0)
        return stats_json(state, e, reply);
    if (strcmp(request, "prometheus") == 0)
        return prom_text(state, e, reply);
    return -ENOTSUP;
}

static const phx_engine_ops_t mx_engine = {
    .type = "MetricsEngine",
    .state_version = MX_STATE_VERSION,
    .ports = {[PHX_TX] = {.in = 1, .out = 1}, [PHX_RX] = {.in = 1, .out = 1}},
    PHX_POLICY_OPS(mx_kind),
    .progress = phx_policy_op_progress,
    .arm = phx_policy_op_arm,
    .flush = phx_policy_op_flush,
    .admin = mx_admin,
};

PHX_PLUGIN("metrics", MX_VERSION, .engines = PHX_ENGINES(&mx_engine),
           .settings = &mx_schema);
