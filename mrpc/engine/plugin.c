/* plugin.c - the "mrpc" plugin: MrpcEngine, and the service "mrpc" = [MrpcEngine,
 *            UcxRpcAdapterEngine].
 *
 * progress() does, in order: give the app what waits in the backlog, hand the transport what
 * waits in the tx queue, take what the transport sends up (rx), take the app's submissions, expire
 * calls whose deadline passed, each bounded (mrpc_engine.h lists the files that do the work),
 * and last rings the app's doorbell once for every completion of the pass (if it sleeps).
 * The first progress() also sends WELCOME, which tells libmrpc the service's limits.
 *
 * Sleeping: arm() watches the app's submission doorbell, unless back-pressure keeps the engine
 * from taking submissions (then the app's doorbell would wake us for nothing, over and over: the
 * transport, which holds what has to drain first, wakes the group instead). Completions waiting
 * for room in the app's ring and call deadlines need timers: the app does not signal when it
 * drains its ring, so the retry backs off from 1 to 64 ms while it stays full.
 *
 * Settings: `settings = { mrpc = { ... }; };` in phoenix.conf (mrpc_keys[] below, documented in
 * deploy/phoenix.conf), with an engine's config_string over them; create() and reconfigure()
 * (SIGHUP) copy the limits into the state.
 *
 * Live upgrade (dump/restore) moves the state as bytes (state.c): the next build may lay its state
 * out differently and converts older state versions; the wire messages the transport still holds
 * and connections whose address it may still read go through the runtime's resource table
 * (phoenix/handover.h). Nothing the next build keeps points into this one, so the old build is
 * dlclose()d once no engine runs it.
 *
 * Builds for the tests and the stall benchmark: MRPC_STATE_NEXT adds a field to the state (the
 * next state version, restored from the current one); MRPC_STATE_MIN_READ above the current
 * version makes a build that cannot read today's state (an upgrade to it is refused);
 * MRPC_STATE_REFUSE_LATE one that reads the whole state, takes every resource, then fails (the
 * upgrade aborts and the old build must carry on with everything it handed over). */
#include "mrpc_engine.h"

#include "phoenix/log.h"
#include "phoenix/settings.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

unsigned eng_cq_budget(const struct mrpc_engine *m, unsigned completions)
{
    unsigned cq_room = m->backlog.count < ENG_BACKLOG_SOFT
                           ? (ENG_BACKLOG_SOFT - m->backlog.count) / completions : 0;

    return cq_room < ENG_BATCH ? cq_room : ENG_BATCH;
}

unsigned eng_budget(const struct mrpc_engine *m, unsigned completions)
{
    unsigned tx_room = ENG_TXQ_CAP - m->txq.count;
    unsigned budget = eng_cq_budget(m, completions);

    return tx_room < budget ? tx_room : budget;
}

/* ---- settings ---- */

struct mrpc_settings {
    unsigned max_message_mb;
    unsigned inflight_mb;
    unsigned call_timeout_ms;
    int      marshal;           /* index into marshal_names */
};

/* The wire format. Only the native format exists so far (docs/marshalling.md); the key is there
 * so that configurations name their format explicitly. */
static const char *const marshal_names[] = { "native", NULL };

#define MRPC_SETTING(kind, field, ...) PHX_SETTING_##kind(struct mrpc_settings, field, __VA_ARGS__)

static const struct phx_setting mrpc_keys[] = {
    MRPC_SETTING(UINT, max_message_mb, 1024, 1, 1048576,
                 "largest request or response an app may send"),
    MRPC_SETTING(UINT, inflight_mb, 256, 1, 1048576,
                 "per app, bytes sent but not yet acknowledged"),
    MRPC_SETTING(UINT, call_timeout_ms, 30000, 1, 86400000,
                 "deadline of a call whose app gives none"),
    MRPC_SETTING(ENUM, marshal, 0, marshal_names, "the wire format (native)"),
};

static PHX_SETTINGS_SCHEMA(mrpc_schema, "mrpc", struct mrpc_settings, mrpc_keys);

/* The plugin's settings with CONFIG (a config_string) over them, into M's limits. 0 or -EINVAL
 * with ERR; M is unchanged then. */
static int take_limits(phx_engine_t *e, struct mrpc_engine *m, const char *config, char *err,
                       size_t errlen)
{
    struct mrpc_settings set;

    if (phx_settings_derive(&mrpc_schema, &set, phx_engine_settings(e), config, err, errlen) < 0)
        return -EINVAL;
    m->max_message = (size_t)set.max_message_mb << 20;
    m->inflight_limit = (size_t)set.inflight_mb << 20;
    m->call_timeout_ms = set.call_timeout_ms;
    phx_settings_free(&mrpc_schema, &set);
    return 0;
}

struct mrpc_engine *eng_new(phx_app_port_t *port)
{
    struct mrpc_engine *m = calloc(1, sizeof(*m));

    if (!m)
        return NULL;
    m->port = port;
    m->stall_ms = PHX_STALL_MIN_MS;
    phx_u64map_init(&m->methods, ENG_MAX_CALLS);
    phx_u64map_init(&m->conns, ENG_MAX_CONNS);
    phx_u64map_init(&m->delivered, ENG_MAX_DELIVERED);
    phx_u64map_init(&m->adopted, ENG_MAX_CALLS);
    phx_idtable_init(&m->calls, ENG_MAX_CALLS);
    phx_u64map_init(&m->by_app, ENG_MAX_CALLS);
    phx_fifo_init(&m->txq, sizeof(phx_desc_t), ENG_TXQ_CAP);
    phx_fifo_init(&m->backlog, sizeof(phx_desc_t), ENG_BACKLOG_MAX);
    return m;
}

static int mrpc_create(phx_engine_t *e, const char *config, void **state, char *err,
                       size_t errlen)
{
    phx_app_port_t *port = phx_engine_app_port(e);

    struct mrpc_engine *m;

    if (!port) {
        snprintf(err, errlen, "MrpcEngine must be the first engine of an app's chain");
        return -EINVAL;
    }
    if (!(m = eng_new(port)))
        return -ENOMEM;
    if (take_limits(e, m, config, err, errlen) < 0) {
        eng_free(m, PHX_DESTROY_ALL);
        return -EINVAL;
    }
    eng_layouts_share(m, e);
    *state = m;
    return 0;
}

void eng_free(struct mrpc_engine *m, phx_destroy_mode_t mode)
{
    eng_sends_fini(m, mode);
    eng_calls_fini(m);
    eng_conns_fini(m, mode);
    eng_layouts_fini(m);
    for (unsigned i = 0; mode == PHX_DESTROY_ALL && i < m->n_retired; i++)
        free(m->retired[i]);
    free(m->retired);
    phx_u64map_fini(&m->delivered);    /* the recv heap goes with the port */
    phx_fifo_fini(&m->txq);
    phx_fifo_fini(&m->backlog);
    free(m);
}

static void mrpc_destroy(phx_engine_t *e, void *state, phx_destroy_mode_t mode)
{
    eng_layouts_unshare(state, e);
    eng_free(state, mode);
}

static void welcome(struct mrpc_engine *m)
{
    phx_desc_t d = { .kind = MRPC_APP_WELCOME, .proto_version = MRPC_APP_PROTO_VERSION,
                     .service_timeout_ms = m->call_timeout_ms, .len = m->max_message };

    eng_complete(m, &d);
    m->welcomed = true;
}

static int mrpc_progress(phx_engine_t *e, void *state)
{
    struct mrpc_engine *m = state;
    unsigned done = 0;

    if (phx_app_port_is_broken(m->port))
        return 0;
    if (!m->welcomed)
        welcome(m);
    unsigned unstalled = eng_backlog_flush(m);
    if (unstalled)
        m->stall_ms = PHX_STALL_MIN_MS;     /* the app drains its ring again */
    done += unstalled + eng_txq_flush(m, e);
    done += eng_rx_progress(m, e);
    done += eng_app_progress(m);
    done += eng_txq_flush(m, e);
    if (m->calls.live)
        eng_calls_expire(m, eng_pass_now(m));
    eng_pass_end(m);
    phx_app_port_notify(m->port);          /* one doorbell for the pass (completions.c) */
    return (int)done;
}

/* Milliseconds until the earliest call may expire (at least 1), or -1 without calls. */
static int deadline_timer(const struct mrpc_engine *m)
{
    if (!m->calls.live)
        return -1;
    uint64_t now = phx_now_ns();
    if (m->earliest_deadline_ns <= now)
        return 1;
    uint64_t ms = (m->earliest_deadline_ns - now + 999999) / 1000000;
    return ms > 60000 ? 60000 : (int)ms;
}

static int mrpc_arm(phx_engine_t *e, void *state, phx_wait_t *w)
{
    struct mrpc_engine *m = state;
    phx_channel_t *tx_out = phx_engine_out(e, PHX_TX, 0);
    phx_channel_t *rx_in = phx_engine_in(e, PHX_RX, 0);
    int rc = 0;

    w->fd = -1;
    w->timeout_ms = -1;
    m->armed = false;
    if (phx_app_port_is_broken(m->port))
        return 0;
    if ((m->txq.count && phx_chan_space(tx_out)) || (phx_chan_count(rx_in) && eng_rx_budget(m)))
        return 1;
    if (eng_app_budget(m)) {
        if ((rc = phx_app_port_arm(m->port, w)) != 0)
            return rc;
        m->armed = w->fd >= 0;
    }
    if (m->backlog.count) {
        w->timeout_ms = phx_stall_backoff(&m->stall_ms);
    }
    w->timeout_ms = phx_timeout_min(w->timeout_ms, deadline_timer(m));
    return 0;
}

static void mrpc_disarm(phx_engine_t *e, void *state)
{
    struct mrpc_engine *m = state;

    if (m->armed)
        phx_app_port_disarm(m->port, phx_engine_woken(e));
    m->armed = false;
}

static int mrpc_flush(phx_engine_t *e, void *state)
{
    struct mrpc_engine *m = state;

    eng_txq_flush(m, e);
    return (int)m->txq.count;
}

static int mrpc_dump(phx_engine_t *e, void *state, phx_blob_t *out)
{
    return eng_state_dump(e, state, out);
}

static int mrpc_restore(phx_engine_t *e, const phx_blob_t *in, void **state, char *err,
                        size_t errlen)
{
    struct mrpc_engine *m = NULL;
    int rc = eng_state_restore(e, in, &m, err, errlen);

    if (rc == 0 && m)
        eng_layouts_share(m, e);
    *state = m;
    return rc;
}

static int mrpc_reconfigure(phx_engine_t *e, void *state, const char *config, char *err,
                            size_t errlen)
{
    return take_limits(e, state, config, err, errlen);  /* SIGHUP: settings may have changed */
}

static int mrpc_admin(phx_engine_t *e, void *state, const char *request, char **reply)
{
    const struct mrpc_engine *m = state;
    char buf[2048];
    size_t n = 0;

    if (strcmp(request, "stats") != 0)
        return -ENOTSUP;
#define ENG_STAT_JSON(name)                                                                   \
    n += (size_t)snprintf(buf + n, sizeof(buf) - n, "\"" #name "\":%llu,",                    \
                          (unsigned long long)m->stats.name);
    ENG_STATS(ENG_STAT_JSON)
#undef ENG_STAT_JSON
    n += (size_t)snprintf(buf + n, sizeof(buf) - n,
                          "\"outstanding_calls\":%u,\"connections\":%zu,\"held_buffers\":%zu,"
                          "\"inflight_bytes\":%zu,\"tx_queue\":%u,\"backlog\":%u",
                          m->calls.live, m->conns.count, m->delivered.count,
                          m->inflight_bytes, m->txq.count, m->backlog.count);
#ifdef MRPC_STATE_NEXT
    n += (size_t)snprintf(buf + n, sizeof(buf) - n, ",\"upgrades\":%llu",
                          (unsigned long long)m->upgrades);
#endif
    return asprintf(reply, "{%.*s}", (int)n, buf) < 0 ? -ENOMEM : 0;
}

static const phx_engine_ops_t mrpc_engine_ops = {
    .type = "MrpcEngine",
    .state_version = MRPC_STATE_VERSION,
    .ports = { [PHX_TX] = { .in = 0, .out = 1 }, [PHX_RX] = { .in = 1, .out = 0 } },
    .create = mrpc_create,
    .progress = mrpc_progress,
    .arm = mrpc_arm,
    .disarm = mrpc_disarm,
    .flush = mrpc_flush,
    .dump = mrpc_dump,
    .restore = mrpc_restore,
    .reconfigure = mrpc_reconfigure,
    .admin = mrpc_admin,
    .destroy = mrpc_destroy,
};

PHX_PLUGIN("mrpc", MRPC_PLUGIN_VERSION, .engines = PHX_ENGINES(&mrpc_engine_ops),
           .services = PHX_SERVICES(PHX_SERVICE("mrpc", "MrpcEngine", "UcxRpcAdapterEngine")),
           .settings = &mrpc_schema);
