/* plugin.c - the "mrpc" plugin: MrpcEngine, and the service "mrpc" = [MrpcEngine,
 *            UcxRpcAdapterEngine].
 *
 * progress() does, in order: give the app what waits in the backlog, hand the transport what
 * waits in the tx queue, take what the transport sends up (rx), take the app's submissions, expire
 * calls whose deadline passed, each bounded (mrpc_engine.h lists the files that do the work).
 * The first progress() also sends WELCOME, which tells libmrpc the service's limits.
 *
 * Sleeping: arm() watches the app's submission doorbell, unless back-pressure keeps the engine
 * from taking submissions (then the app's doorbell would wake us for nothing, over and over: the
 * transport, which holds what has to drain first, wakes the group instead). Completions waiting
 * for room in the app's ring and call deadlines need timers: the app does not signal when it
 * drains its ring, so the retry backs off from 1 to 64 ms while it stays full.
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

#include "phoenix/config.h"
#include "phoenix/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>


uint64_t eng_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

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

static void take_limits(struct mrpc_engine *m)
{
    const phx_config_t *cfg = phx_config_current();

    m->max_message = (size_t)cfg->mrpc.max_message_mb << 20;
    m->inflight_limit = (size_t)cfg->mrpc.inflight_mb << 20;
    m->call_timeout_ms = cfg->mrpc.call_timeout_ms;
}

struct mrpc_engine *eng_new(phx_app_port_t *port)
{
    struct mrpc_engine *m = calloc(1, sizeof(*m));

    if (!m)
        return NULL;
    m->port = port;
    m->stall_ms = ENG_STALL_MIN_MS;
    take_limits(m);
    mrpc_u64map_init(&m->methods, ENG_MAX_CALLS);
    mrpc_u64map_init(&m->conns, ENG_MAX_CONNS);
    mrpc_u64map_init(&m->delivered, ENG_MAX_DELIVERED);
    mrpc_u64map_init(&m->adopted, ENG_MAX_CALLS);
    mrpc_idtable_init(&m->calls, ENG_MAX_CALLS);
    return m;
}

static int mrpc_create(phx_engine_t *e, const char *config, void **state, char *err,
                       size_t errlen)
{
    phx_app_port_t *port = phx_engine_app_port(e);

    if (!port) {
        snprintf(err, errlen, "MrpcEngine must be the first engine of an app's chain");
        return -EINVAL;
    }
    return (*state = eng_new(port)) ? 0 : -ENOMEM;
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
    mrpc_u64map_fini(&m->delivered);    /* the recv heap goes with the port */
    eng_queue_fini(&m->txq);
    eng_queue_fini(&m->backlog);
    free(m);
}

static void mrpc_destroy(phx_engine_t *e, void *state, phx_destroy_mode_t mode)
{
    eng_free(state, mode);
}

static void welcome(struct mrpc_engine *m)
{
    phx_desc_t d = { .kind = MRPC_APP_WELCOME, .call_id = MRPC_APP_PROTO_VERSION,
                     .user = m->call_timeout_ms, .len = m->max_message };

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
        m->stall_ms = ENG_STALL_MIN_MS;     /* the app drains its ring again */
    done += unstalled + eng_txq_flush(m, e);
    done += eng_rx_progress(m, e);
    done += eng_app_progress(m);
    done += eng_txq_flush(m, e);
    if (m->calls.live)
        eng_calls_expire(m, eng_now_ns());
    return (int)done;
}

/* Milliseconds until the earliest call may expire (at least 1), or -1 without calls. */
static int deadline_timer(const struct mrpc_engine *m)
{
    if (!m->calls.live)
        return -1;
    uint64_t now = eng_now_ns();
    if (m->earliest_deadline_ns <= now)
        return 1;
    uint64_t ms = (m->earliest_deadline_ns - now + 999999) / 1000000;
    return ms > 60000 ? 60000 : (int)ms;
}

static int min_timer(int a, int b)
{
    return a < 0 ? b : b < 0 ? a : a < b ? a : b;
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
        w->timeout_ms = (int)m->stall_ms;
        m->stall_ms = m->stall_ms * 2 > ENG_STALL_MAX_MS ? ENG_STALL_MAX_MS : m->stall_ms * 2;
    }
    w->timeout_ms = min_timer(w->timeout_ms, deadline_timer(m));
    return 0;
}

static void mrpc_disarm(phx_engine_t *e, void *state)
{
    struct mrpc_engine *m = state;

    if (m->armed)
        phx_app_port_disarm(m->port);
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

    *state = m;
    return rc;
}

static int mrpc_reconfigure(phx_engine_t *e, void *state, const char *config, char *err,
                            size_t errlen)
{
    take_limits(state);     /* the service's configuration may have changed under us */
    return 0;
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
    .ports = { [PHX_TX] = { 0, 1 }, [PHX_RX] = { 1, 0 } },
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

static const phx_engine_ops_t *const engines[] = { &mrpc_engine_ops };
static const char *const mrpc_chain[] = { "MrpcEngine", "UcxRpcAdapterEngine" };
static const phx_service_def_t services[] = {
    { .name = "mrpc", .chain = mrpc_chain, .chain_len = 2 },
};

PHX_PLUGIN_DEFINE({
    .abi_version = PHX_PLUGIN_ABI_VERSION,
    .ops_size = sizeof(phx_engine_ops_t),
    .name = "mrpc",
    .version = MRPC_PLUGIN_VERSION,
    .engines = engines,
    .n_engines = 1,
    .services = services,
    .n_services = 1,
});
