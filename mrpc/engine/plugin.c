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
 * Live upgrade (dump/restore) hands the state over by pointer: both builds run in one process and
 * share this state's layout (state_version). The state keeps pointing into the build that made
 * it, though: the layout sets hold protobuf-c messages whose descriptors are that build's static
 * data, and wire messages in flight may point at its constant strings. So every build pins itself
 * in memory (RTLD_NODELETE) when it first creates or restores an engine; a superseded build stays
 * mapped, costing its pages, instead of leaving the new one dangling pointers. */
#include "mrpc_engine.h"

#include "phoenix/config.h"
#include "phoenix/log.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MRPC_STATE_VERSION 3    /* 3: reason room in eng_conn, heap-full log state; 2: errors_unsent */

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

/* See the file comment: once per build, on the copy of the .so the registry dlopen()ed. */
static void pin_build(void)
{
    static bool pinned;
    Dl_info info;

    if (pinned || !dladdr((void *)pin_build, &info) || !info.dli_fname)
        return;
    if (dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE))
        pinned = true;
    else
        phx_warn("mrpc: cannot pin %s in memory: %s", info.dli_fname, dlerror());
}

static void take_limits(struct mrpc_engine *m)
{
    const phx_config_t *cfg = phx_config_current();

    m->max_message = (size_t)cfg->mrpc.max_message_mb << 20;
    m->inflight_limit = (size_t)cfg->mrpc.inflight_mb << 20;
    m->call_timeout_ms = cfg->mrpc.call_timeout_ms;
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
    if (!(m = calloc(1, sizeof(*m))))
        return -ENOMEM;
    pin_build();
    m->port = port;
    m->stall_ms = ENG_STALL_MIN_MS;
    take_limits(m);
    mrpc_u64map_init(&m->methods, ENG_MAX_CALLS);
    mrpc_u64map_init(&m->conns, ENG_MAX_CONNS);
    mrpc_u64map_init(&m->delivered, ENG_MAX_DELIVERED);
    mrpc_idtable_init(&m->calls, ENG_MAX_CALLS);
    *state = m;
    return 0;
}

static void mrpc_destroy(phx_engine_t *e, void *state, phx_destroy_mode_t mode)
{
    struct mrpc_engine *m = state;

    if (mode == PHX_DESTROY_STATE_ONLY)
        return;         /* restore() took this very state over */
    eng_sends_fini(m);  /* before the layouts: encodings may point at their default strings */
    eng_calls_fini(m);
    eng_conns_fini(m);
    eng_layouts_fini(m);
    mrpc_u64map_fini(&m->delivered);    /* the recv heap goes with the port */
    eng_queue_fini(&m->txq);
    eng_queue_fini(&m->backlog);
    free(m);
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
    if (!(out->data = malloc(sizeof(state))))
        return -ENOMEM;
    memcpy(out->data, &state, sizeof(state));
    out->len = sizeof(state);
    out->version = MRPC_STATE_VERSION;
    return 0;
}

static int mrpc_restore(phx_engine_t *e, const phx_blob_t *in, void **state, char *err,
                        size_t errlen)
{
    if (in->version != MRPC_STATE_VERSION || in->len != sizeof(*state)) {
        snprintf(err, errlen, "MrpcEngine cannot take over state version %u (%zu bytes)",
                 in->version, in->len);
        return -ENOTSUP;
    }
    memcpy(state, in->data, sizeof(*state));
    pin_build();
    return 0;
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
    .version = "1.0.0",
    .engines = engines,
    .n_engines = 1,
    .services = services,
    .n_services = 1,
});
