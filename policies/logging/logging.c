/* logging.c - LoggingEngine: one JSON line per call, to a file, sampled, with rotation.
 *
 * Settings (phoenix.conf `settings = { logging = { ... }; };`, an attach's config_string, or
 * `policyctl set` live):
 *
 *   path            the file (absolute; see logfile.h for what is refused); needed
 *   max_bytes       a file is rotated before it would pass this many bytes
 *   keep            rotated files kept (path.1 .. path.KEEP); 0: path is started again
 *   sample_percent  the share of calls logged, 0 .. 100: exactly that many of every 100
 *                   calls, spread evenly (a deterministic 1-in-N, not a random draw)
 *   dir             phoenix.conf only: when set, path must be inside it
 *
 * A call is a request and its answer. The request (tx on the client side, rx on a server's
 * subscription) is remembered in a table of LOG_PENDING_MAX calls by connection and call id; its
 * reply or error (the other direction) completes it, and one line is buffered:
 *
 *   {"time":"2026-12-07T03:31:00.123456Z","pid":4242,"side":"client","conn":3,"call":17,
 *    "service":13683667,"method":3213241550,"request_bytes":48,"reply_bytes":48,
 *    "status":"OK","latency_us":83}
 *
 * Calls carry protoc-gen-mrpc's stable ids, not names, so the line has the ids (as numbers); a
 * cancel completes the call with status "CANCELLED". The engine never holds or rejects: every
 * descriptor goes on at once. Lines are written by progress() in chunks of at most 64 KiB of
 * whole lines with O_APPEND; a full buffer (256 KiB) drops lines and counts them. The state -
 * settings, calls in flight, counters - crosses a live upgrade as a versioned blob (buffered
 * lines are written out first); the new build opens the file again. */
#include "logfile.h"
#include "phoenix/app_port.h"
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
#include <time.h>

#define LOG_VERSION       "1.0.0"
#define LOG_STATE_VERSION 2        /* 2: the settings as text (policy.h) */
#define LOG_MAGIC         0x4c4f4731u       /* "LOG1" */
#define LOG_QUEUE_MAX     64                /* nothing is held: room for back-pressure only */
#define LOG_PENDING_MAX   8192              /* calls in flight remembered (a power of two) */
#define LOG_PROBES        16
#define LOG_STALE_NS      (600ull * 1000000000ull)

struct log_settings {
    char    *path;
    unsigned max_bytes;
    unsigned keep;
    unsigned sample_percent;
    char    *dir;
};

static int check_path(const char *value, char *why, size_t n)
{
    return value[0] && !logfile_path_ok(value, "", why, n) ? -1 : 0;
}

static const struct phx_setting log_keys[] = {
    PHX_SETTING_STRING(struct log_settings, path, "",
                       "the file, an absolute path (no symbolic link, a regular file)",
                       .check_str = check_path),
    PHX_SETTING_UINT(struct log_settings, max_bytes, 64u << 20, 4096, 4000000000LL,
                     "a file is rotated before it would pass this many bytes"),
    PHX_SETTING_UINT(struct log_settings, keep, 5, 0, 100,
                     "rotated files kept (path.1 .. path.N); 0: the file is started again"),
    PHX_SETTING_UINT(struct log_settings, sample_percent, 100, 0, 100,
                     "the share of calls logged, evenly spread"),
    PHX_SETTING_STRING(struct log_settings, dir, "",
                       "phoenix.conf only: when set, every path must be inside this directory",
                       .check_str = check_path),
};

static PHX_SETTINGS_SCHEMA(log_schema, "logging", struct log_settings, log_keys);

struct pending {
    uint64_t call_id, start_ns, request_bytes;
    uint32_t conn_id, service_id, method_id;
    uint8_t  used, server;
};

struct log_state {
    phx_policy_t        pol;
    phx_engine_t       *e;
    struct log_settings set;            /* in effect (owns its strings) */
    struct logfile      file;
    struct pending     *pending;        /* LOG_PENDING_MAX */
    unsigned            sample_acc;
    int                 pid;            /* the app's, once known */
    uint64_t            calls, logged, untracked, unmatched, upgrades;
};

/* ---- calls in flight ------------------------------------------------------------------------ */

static unsigned slot_of(uint32_t conn, uint64_t call)
{
    uint64_t h = (call ^ ((uint64_t)conn << 32)) * 0x9e3779b97f4a7c15ull;

    return (unsigned)(h >> 40) & (LOG_PENDING_MAX - 1);
}

/* The slot of CONN/CALL, or NULL. */
static struct pending *find(struct log_state *s, uint32_t conn, uint64_t call)
{
    for (unsigned i = 0, k = slot_of(conn, call); i < LOG_PROBES; i++) {
        struct pending *p = &s->pending[(k + i) & (LOG_PENDING_MAX - 1)];
        if (p->used && p->conn_id == conn && p->call_id == call)
            return p;
    }
    return NULL;
}

/* A free (or stale) slot for CONN/CALL, or NULL. */
static struct pending *claim(struct log_state *s, uint32_t conn, uint64_t call, uint64_t now)
{
    for (unsigned i = 0, k = slot_of(conn, call); i < LOG_PROBES; i++) {
        struct pending *p = &s->pending[(k + i) & (LOG_PENDING_MAX - 1)];
        if (!p->used || now - p->start_ns > LOG_STALE_NS)
            return p;
    }
    return NULL;
}

/* Whether this call is one of the sample: sample_percent of every 100, evenly. */
static bool sampled(struct log_state *s)
{
    s->sample_acc += s->set.sample_percent;
    if (s->sample_acc < 100)
        return false;
    s->sample_acc -= 100;
    return true;
}

static void start(struct log_state *s, const phx_call_t *c, uint64_t now)
{
    struct pending *p;

    s->calls++;
    if (!sampled(s))
        return;
    if (!(p = claim(s, c->conn_id, c->call_id, now))) {
        s->untracked++;
        return;
    }
    *p = (struct pending){ .call_id = c->call_id, .start_ns = now, .request_bytes = c->bytes,
                           .conn_id = c->conn_id, .service_id = c->service_id,
                           .method_id = c->method_id, .used = 1, .server = c->dir == PHX_RX };
}

/* ---- lines ---------------------------------------------------------------------------------- */

static void learn_pid(struct log_state *s)
{
    phx_app_port_t *port = s->e ? phx_engine_app_port(s->e) : NULL;

    if (!s->pid && port)
        s->pid = (int)phx_app_port_pid(port);
}

static void finish(struct log_state *s, const phx_call_t *c, uint64_t now)
{
    struct pending *p = find(s, c->conn_id, c->call_id);
    char when[40], line[512];
    struct timespec ts;
    struct tm tm;

    if (!p) {
        s->unmatched += c->kind != PHX_CALL_CANCEL;  /* not sampled, or before the attach */
        return;
    }
    p->used = 0;
    learn_pid(s);
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
    const char *status = c->kind == PHX_CALL_CANCEL ? "CANCELLED"
                         : c->kind == PHX_CALL_REPLY && !c->status
                             ? "OK" : phx_status_name((phx_status_t)c->status);
    int n = snprintf(line, sizeof(line), "{\"time\":\"%s.%06ldZ\",\"pid\":%d,\"side\":\"%s\","
                     "\"conn\":%u,\"call\":%" PRIu64 ",\"service\":%u,\"method\":%u,"
                     "\"request_bytes\":%" PRIu64 ",\"reply_bytes\":%" PRIu64 ",\"status\":"
                     "\"%s\",\"latency_us\":%" PRIu64 "}\n", when, ts.tv_nsec / 1000, s->pid,
                     p->server ? "server" : "client", p->conn_id, p->call_id, p->service_id,
                     p->method_id, p->request_bytes, c->kind == PHX_CALL_CANCEL ? 0 : c->bytes,
                     status, (now - p->start_ns) / 1000);
    if (n > 0 && (size_t)n < sizeof(line) && logfile_add(&s->file, line, (size_t)n))
        s->logged++;
}

/* Sees every call, holds none: a request starts a call, the answer the other way ends it. */
static phx_verdict_t log_decide(void *ctx, const phx_call_t *call, uint64_t now)
{
    struct log_state *s = ctx;

    if (call->kind == PHX_CALL_REQUEST)
        start(s, call, now);
    else
        finish(s, call, now);
    return phx_verdict_forward();
}

/* ---- settings ------------------------------------------------------------------------------- */

/* SET checked against the rules settings.h cannot say (`dir` stays phoenix.conf's), the file
 * opened, and a copy kept. */
static int apply(void *state, const void *settings, char *err, size_t errlen)
{
    struct log_state *s = state;
    const struct log_settings *set = settings, *conf = phx_engine_settings(s->e);
    char why[LOG_PATH_MAX + 96];
    struct log_settings copy;

    if (strcmp(set->dir, conf ? conf->dir : "") != 0) {
        snprintf(err, errlen, "config_string: dir: set only in phoenix.conf (settings.logging)");
        return -EINVAL;
    }
    if (!set->path[0]) {
        snprintf(err, errlen, "config_string: path: needed (an absolute file name)");
        return -EINVAL;
    }
    if (!logfile_path_ok(set->path, set->dir, why, sizeof(why))) {
        snprintf(err, errlen, "config_string: path: %s", why);
        return -EINVAL;
    }
    if (phx_settings_copy(&log_schema, &copy, set) < 0) {
        phx_settings_free(&log_schema, &copy);
        snprintf(err, errlen, "out of memory for the settings");
        return -ENOMEM;
    }
    int rc = logfile_open(&s->file, set->path, set->max_bytes, set->keep, err, errlen);
    phx_settings_free(&log_schema, rc < 0 ? &copy : &s->set);
    if (rc == 0)
        s->set = copy;
    return rc;
}

static void *state_new(phx_engine_t *e)
{
    struct log_state *s = calloc(1, sizeof(*s));

    if (!s)
        return NULL;
    s->e = e;
    s->file.fd = -1;
    s->pending = calloc(LOG_PENDING_MAX, sizeof(*s->pending));
    if (!s->pending || phx_settings_init(&log_schema, &s->set) < 0 ||
        phx_policy_init(&s->pol, log_decide, s, (1u << PHX_TX) | (1u << PHX_RX),
                        LOG_QUEUE_MAX) < 0) {
        phx_settings_free(&log_schema, &s->set);
        free(s->pending);
        free(s);
        return NULL;
    }
    return s;
}

static void state_free(void *state)
{
    struct log_state *s = state;

    logfile_close(&s->file);
    phx_policy_fini(&s->pol);
    phx_settings_free(&log_schema, &s->set);
    free(s->pending);
    free(s);
}

/* ---- engine ops ----------------------------------------------------------------------------- */

static int log_progress(phx_engine_t *e, void *state)
{
    struct log_state *s = state;
    int n = phx_policy_progress(&s->pol, e, phx_now_ns());

    return n + (logfile_write(&s->file, LOG_CHUNK_MAX) ? 1 : 0);
}

static int log_arm(phx_engine_t *e, void *state, phx_wait_t *w)
{
    struct log_state *s = state;

    if (s->file.used)
        return 1;                       /* lines to write: progress again */
    return phx_policy_arm(&s->pol, e, w, phx_now_ns());
}

static int log_flush(phx_engine_t *e, void *state)
{
    struct log_state *s = state;

    logfile_drain(&s->file);
    return phx_policy_flush(&s->pol, e);
}

/* ---- live upgrade --------------------------------------------------------------------------- */

static void dump_pending(phx_wbuf_t *w, const struct log_state *s)
{
    uint32_t n = 0;

    for (unsigned i = 0; i < LOG_PENDING_MAX; i++)
        n += s->pending[i].used;
    phx_wbuf_u32(w, n);
    for (unsigned i = 0; i < LOG_PENDING_MAX; i++) {
        const struct pending *p = &s->pending[i];
        if (!p->used)
            continue;
        phx_wbuf_u64(w, p->call_id);
        phx_wbuf_u64(w, p->start_ns);
        phx_wbuf_u64(w, p->request_bytes);
        phx_wbuf_u32(w, p->conn_id);
        phx_wbuf_u32(w, p->service_id);
        phx_wbuf_u32(w, p->method_id);
        phx_wbuf_u8(w, p->server);
    }
}

/* The sampling's place, the counters and the calls in flight, after the settings the SDK
 * writes. */
static void dump_rest(void *state, phx_wbuf_t *w)
{
    struct log_state *s = state;

    logfile_drain(&s->file);            /* the new build opens the file again */
    phx_wbuf_u32(w, s->sample_acc);
    uint64_t counts[] = { s->calls, s->logged, s->untracked, s->unmatched, s->upgrades,
                          s->file.written, s->file.dropped, s->file.rotations,
                          s->file.write_errors };
    for (unsigned i = 0; i < sizeof(counts) / sizeof(counts[0]); i++)
        phx_wbuf_u64(w, counts[i]);
    dump_pending(w, s);
}

static bool restore_pending(phx_rbuf_t *r, struct log_state *s)
{
    uint32_t n = phx_rbuf_u32(r);

    if (n > LOG_PENDING_MAX)
        return false;
    for (uint32_t i = 0; i < n && !r->failed; i++) {
        struct pending p = { .used = 1 };
        p.call_id = phx_rbuf_u64(r);
        p.start_ns = phx_rbuf_u64(r);
        p.request_bytes = phx_rbuf_u64(r);
        p.conn_id = phx_rbuf_u32(r);
        p.service_id = phx_rbuf_u32(r);
        p.method_id = phx_rbuf_u32(r);
        p.server = phx_rbuf_u8(r) != 0;
        struct pending *slot = claim(s, p.conn_id, p.call_id, p.start_ns);
        if (slot)
            *slot = p;
    }
    return !r->failed;
}

static bool restore_rest(void *state, phx_rbuf_t *r, uint32_t version)
{
    struct log_state *s = state;

    (void)version;
    s->sample_acc = phx_rbuf_u32(r) % 100;
    uint64_t *counts[] = { &s->calls, &s->logged, &s->untracked, &s->unmatched, &s->upgrades,
                           &s->file.written, &s->file.dropped, &s->file.rotations,
                           &s->file.write_errors };
    for (unsigned i = 0; i < sizeof(counts) / sizeof(counts[0]); i++)
        *counts[i] = phx_rbuf_u64(r);
    s->upgrades++;
    return restore_pending(r, s);
}

static const phx_policy_kind_t log_kind = {
    .type = "LoggingEngine", .version = LOG_VERSION, .magic = LOG_MAGIC,
    .state_version = LOG_STATE_VERSION, .schema = &log_schema,
    .policy_at = offsetof(struct log_state, pol), .settings_at = offsetof(struct log_state, set),
    .state_new = state_new, .state_free = state_free, .apply = apply,
    .dump = dump_rest, .restore = restore_rest,
};

PHX_POLICY_DEFINE_OPS(log_kind)

/* ---- admin ---------------------------------------------------------------------------------- */

static int stats_json(const struct log_state *s, char **reply)
{
    char *counts = phx_policy_stats_json(&s->pol);

    if (!counts)
        return -ENOMEM;
    int n = asprintf(reply, "{\"type\":\"LoggingEngine\",\"version\":\"%s\",\"settings\":{"
                     "\"path\":\"%s\",\"max_bytes\":%u,\"keep\":%u,\"sample_percent\":%u,"
                     "\"dir\":\"%s\"},\"calls\":%" PRIu64 ",\"logged\":%" PRIu64
                     ",\"dropped\":%" PRIu64 ",\"untracked\":%" PRIu64 ",\"unmatched\":%" PRIu64
                     ",\"bytes_written\":%" PRIu64 ",\"buffered\":%zu,\"rotations\":%" PRIu64
                     ",\"write_errors\":%" PRIu64 ",\"upgrades\":%" PRIu64 ",%s}", LOG_VERSION,
                     s->set.path, s->set.max_bytes, s->set.keep, s->set.sample_percent,
                     s->set.dir, s->calls, s->logged, s->file.dropped, s->untracked,
                     s->unmatched, s->file.written, s->file.used, s->file.rotations,
                     s->file.write_errors, s->upgrades, counts);
    free(counts);
    return n < 0 ? -ENOMEM : 0;
}

/* "stats": the settings in effect and the counters as JSON. */
static int log_admin(phx_engine_t *e, void *state, const char *request, char **reply)
{
    if (strcmp(request, "stats") != 0)
        return -ENOTSUP;
    return stats_json(state, reply);
}

static const phx_engine_ops_t log_engine = {
    .type = "LoggingEngine",
    .state_version = LOG_STATE_VERSION,
    PHX_POLICY_OPS(log_kind),
    .ports = {[PHX_TX] = {.in = 1, .out = 1}, [PHX_RX] = {.in = 1, .out = 1}},
    .progress = log_progress,
    .arm = log_arm,
    .flush = log_flush,
    .admin = log_admin,
};

PHX_PLUGIN("logging", LOG_VERSION, .engines = PHX_ENGINES(&log_engine),
           .settings = &log_schema);
