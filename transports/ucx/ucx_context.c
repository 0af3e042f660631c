/* ucx_context.c - the shared ucp_context: settings, creation on first use, reference counting.
 *
 * Settings. ucp_config_read() takes UCX_* from the environment; then ucp_config_modify() sets,
 * for every knob below whose variable is NOT in the environment, phoenix.conf's value
 * (settings.ucx.tls, .net_devices, .mm_error_handling: the plugin's settings, phx_ucx_settings)
 * or the transport's own default. The environment wins
 * so that an operator or a test can always pin UCX with the variables UCX documents.
 * ucp_config_modify() also takes transport-level settings, named as in the transport's own table
 * without its prefix (KEEPIDLE for UCX_TCP_KEEPIDLE, MM_ERROR_HANDLING for the mm transports
 * posix and sysv): UCX applies them to every transport that has them when a worker opens it, and
 * warns at every worker creation about one that no opened transport took, so a transport-level
 * knob is only set when the transport list (UCX_TLS, else settings.ucx.tls; empty = all) may
 * include it.
 *
 *   variable                   value    why
 *   UCX_KEEPALIVE_INTERVAL     1s       UCX's own liveness probe between endpoints (default 20 s)
 *   UCX_TCP_KEEPIDLE           1s       kernel TCP keepalive on UCX's sockets: an idle connection
 *   UCX_TCP_KEEPINTVL          500ms    to a vanished host fails after 1 s + 2 x 0.5 s instead of
 *   UCX_TCP_KEEPCNT            2        10 s + 9 x 2 s
 *   UCX_TCP_PORT_RANGE         settings.ucx.tcp_port_range: the ports UCX's TCP interfaces
 *                                       listen on (firewalls); "" = any
 *   UCX_MM_ERROR_HANDLING      settings.ucx.mm_error_handling: with peer error handling (which
 *                                       every endpoint uses) the shared-memory transports only take
 *                                       part when this is set; else same-node traffic uses TCP
 *   UCX_IB_SL                  settings.ucx.ib_sl, when not empty: the InfiniBand service
 *                                       level of every IB transport (rc, ud, dc; UCX_RC_VERBS_SL
 *                                       and the like per transport); UCX 1.13 has no per-endpoint
 *                                       field for it (ucp_ep_params), so it holds for the whole
 *                                       context, every app of the service (docs/policies.md, "qos")
 *   UCX_IB_TRAFFIC_CLASS       settings.ucx.ib_traffic_class, the same for the traffic class
 *                                       (RoCEv2: DSCP << 2)
 *   UCX_TLS, UCX_NET_DEVICES   settings.ucx.tls, .net_devices, when not empty
 *
 * Finding it. The context new engines share is kept in the runtime slot "ucx.context"
 * (phoenix/handover.h), not in a static of this build: a static dies with the build that a live
 * upgrade replaces, the slot is libphoenix's and every build of the plugin finds the same one.
 *
 * Unloading. A live upgrade dlclose()s the old build of this plugin (ucx_state.c re-points
 * every callback UCX holds into it first), but UCX itself must stay: its memory hooks (libucm
 * patches mmap/munmap for the registration cache) must never be unloaded while the process
 * lives. So the first context pins libucp (RTLD_NODELETE on UCX's library, which keeps libucs
 * and libucm with it), never the plugin. */
#include "ucx_context.h"

#include "phoenix/handover.h"
#include "phoenix/log.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const auth_names[] = {"none", "munge", NULL};
static const char *const worker_names[] = {"thread", "class", "app", NULL};  /* ucx_context.h */

void phx_ucx_service_job(char *out, size_t len)
{
    const char *job = getenv("SLURM_JOB_ID");
    size_t n = job ? strspn(job, "0123456789") : 0;

    if (!n || job[n] || n >= len)
        n = 0;
    memcpy(out, job ? job : "", n);
    out[n] = '\0';
}

/* auth_same_job = true makes sense only in a service of one job: a node service refuses to
 * start with it rather than refuse every peer. */
static int check_same_job(long long on, char *why, size_t n)
{
    char job[32];

    phx_ucx_service_job(job, sizeof(job));
    if (!on || job[0])
        return 0;
    snprintf(why, n, "accepts only peers of this service's Slurm job, and this service has none "
             "(SLURM_JOB_ID is not a job id): it is for the per-job services mrpc-run starts; "
             "turn it off for a node service, which serves the apps of every job");
    return -1;
}

#define UCX_SETTING(kind, field, ...) \
    PHX_SETTING_##kind(struct phx_ucx_settings, field, __VA_ARGS__)

static const struct phx_setting ucx_keys[] = {
    UCX_SETTING(STRING, tls, "", "UCX_TLS, e.g. \"tcp\" or \"rc,sm,self\"; \"\" = UCX's choice"),
    UCX_SETTING(STRING, net_devices, "", "UCX_NET_DEVICES, e.g. \"mlx5_0:1\"; \"\" = all",
                .flags = PHX_SETTING_DEVICES),  /* placement follows it (settings.h) */
    UCX_SETTING(BOOL, mm_error_handling, true,
                "let shared-memory transports serve endpoints with peer error handling"),
    UCX_SETTING(UINT, max_message_mb, 1024, 1, 1048576,
                "largest message a frame may carry; keep it >= settings.mrpc.max_message_mb"),
    UCX_SETTING(UINT, inflight_mb, 256, 1, 1048576,
                "per engine, received bytes the app has not taken yet"),
    UCX_SETTING(BOOL, same_node, true,
                "messages between two apps of this service on one runtime thread go from the "
                "sender's send heap into the receiver's receive heap directly, without UCX"),
    UCX_SETTING(UINT, eager_max_kb, 256, 0, 16384,
                "on connections whose lanes are all TCP, messages past the batching limit (20 KiB) "
                "up to this size are sent eager, sparing the rendezvous round trip; 0 = off "
                "(RDMA and shared memory keep rendezvous, their zero-copy path)"),
    UCX_SETTING(ENUM, worker, PHX_UCX_WORKER_THREAD, worker_names,
                "\"thread\": the apps of a runtime thread share one UCX worker; \"class\": "
                "except latency-class apps (qos), each of which gets its own when it opens its "
                "first connection or listener; \"app\": every app its own"),

    UCX_SETTING(STRING, tcp_port_range, "",
                "UCX_TCP_PORT_RANGE, e.g. \"40000-40999\": the ports UCX's TCP transport listens "
                "on; \"\" = any the kernel gives"),
    UCX_SETTING(BOOL, tcp_peers_only, true,
                "UCX's TCP listening ports admit only IPv4 hosts this service did a handshake "
                "with (a socket filter; docs/transport.md, UCX's own ports)"),
    UCX_SETTING(STRING, ib_sl, "",
                "InfiniBand service level (0-15) of this service's RDMA traffic, every app's: "
                "UCX 1.13 sets it per context, not per endpoint; \"\" = UCX's auto"),
    UCX_SETTING(STRING, ib_traffic_class, "",
                "IB traffic class / RoCEv2 DSCP << 2 of this service's RDMA traffic (per "
                "context, as ib_sl); \"\" = UCX's auto"),
    UCX_SETTING(ENUM, auth, 1, auth_names,
                "peer authentication in the wire-up handshake: \"munge\" or \"none\""),
    UCX_SETTING(STRING, munge_socket, "", "munged's socket; \"\" = libmunge's default"),
    UCX_SETTING(BOOL, auth_same_uid, false,
                "with auth \"munge\": accept only callers running as the service's uid"),
    UCX_SETTING(BOOL, auth_same_job, false,
                "with auth \"munge\": accept only peers of this service's Slurm job "
                "(per-job services; SLURM_JOB_ID)", .check_num = check_same_job),
    UCX_SETTING(UINT, handshake_timeout_ms, 5000, 10, 600000,
                "a wire-up handshake not done in this time is refused"),
    UCX_SETTING(UINT, halfopen_max, 256, 1, 256,
                "per app, accepted connections still in their handshake"),
    UCX_SETTING(UINT, halfopen_per_source, 32, 1, 256,
                "per app, accepted connections in their handshake from one address"),
};

PHX_SETTINGS_SCHEMA(phx_ucx_settings_schema, "ucx", struct phx_ucx_settings, ucx_keys);

/* The runtime slot holding the context new engines get (see the file comment). Used from the
 * control thread (create, restore, destroy), where builds take turns; a mutex is cheap. */
#define CONTEXT_SLOT "ucx.context"
static pthread_mutex_t current_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *const tcp_names[] = {"tcp", NULL};
static const char *const mm_names[] = {"sm", "shm", "mm", "posix", "sysv", NULL};
static const char *const ib_names[] = {"ib", "rc", "ud", "dc", "rc_v", "rc_x", "ud_v", "ud_x",
                                       "dc_x", "rc_verbs", "rc_mlx5", "ud_verbs", "ud_mlx5",
                                       "dc_mlx5", NULL};

struct knob {
    const char        *name;    /* as ucp_config_modify() takes it */
    const char        *value;
    const char        *env[3];  /* the variables that override it; NULL-terminated */
    const char *const *family;  /* transport-level: the UCX_TLS names that include it */
};

/* Whether the transport list TLS (UCX_TLS syntax, "" = all, "^..." = all but) may include one of
 * NAMES. */
static bool tls_may_use(const char *tls, const char *const *names)
{
    char copy[512], *save = NULL;

    if (!tls || !tls[0] || tls[0] == '^' || strlen(tls) >= sizeof(copy))
        return true;
    strcpy(copy, tls);
    for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (strcmp(t, "all") == 0)
            return true;
        for (unsigned i = 0; names[i]; i++)
            if (strcmp(t, names[i]) == 0)
                return true;
    }
    return false;
}

static bool env_sets(const struct knob *k)
{
    for (unsigned i = 0; i < 3 && k->env[i]; i++)
        if (getenv(k->env[i]))
            return true;
    return false;
}

static int apply_knob(ucp_config_t *config, const struct knob *k, const char *tls, char *err,
                      size_t errlen)
{
    if (!k->value || !k->value[0] || env_sets(k) || (k->family && !tls_may_use(tls, k->family)))
        return 0;
    ucs_status_t st = ucp_config_modify(config, k->name, k->value);
    if (st != UCS_OK) {
        snprintf(err, errlen, "UCX refuses %s=%s: %s", k->name, k->value, ucs_status_string(st));
        return -EINVAL;
    }
    phx_debug("ucx: %s=%s", k->name, k->value);
    return 0;
}

/* VALUE of settings.ucx.KEY is "", "auto" or a number up to MAX (UCX itself checks only when a
 * worker opens an InfiniBand interface, which a node without an HCA never does). */
static int check_ib_number(const char *key, const char *value, unsigned long max, char *err,
                           size_t errlen)
{
    char *end = NULL;

    if (!value[0] || strcmp(value, "auto") == 0)
        return 0;
    unsigned long v = strtoul(value, &end, 10);
    if (value[0] >= '0' && value[0] <= '9' && end && !*end && v <= max)
        return 0;
    snprintf(err, errlen, "settings.ucx.%s is \"%s\": give a number from 0 to %lu, or \"auto\" "
             "(or \"\") for UCX's choice", key, value, max);
    return -EINVAL;
}

int phx_ucx_settings_check(const struct phx_ucx_settings *set, char *err, size_t errlen)
{
    if (check_ib_number("ib_sl", set->ib_sl, 15, err, errlen) < 0 ||
        check_ib_number("ib_traffic_class", set->ib_traffic_class, 255, err, errlen) < 0)
        return -EINVAL;
    return 0;
}

/* UCX's TCP transport listens on a port of its own that anyone who reaches it can abort the
 * service through (docs/transport.md, "UCX's own ports"): without a port range no firewall can
 * name it, which is said once per process. tcp_peers_only narrows "anyone" to the users of the
 * peers' hosts and of this one (ucx_portguard.h). */
static void warn_open_tcp_ports(const struct phx_ucx_settings *set, const char *tls)
{
    static bool warned;

    if (warned || !tls_may_use(tls, tcp_names) ||
        (set->tcp_port_range[0] || getenv("UCX_TCP_PORT_RANGE")))
        return;
    warned = true;
    phx_warn("ucx: settings.ucx.tcp_port_range is not set: UCX's own TCP ports take any port and "
             "%s, and a few malformed bytes there abort the service; set a range and let only the "
             "services reach it (docs/transport.md, UCX's own ports)",
             set->tcp_peers_only ? "any connection from a peer's host (tcp_peers_only)"
                                 : "any connection");
}

static int apply_knobs(ucp_config_t *config, const struct phx_ucx_settings *set, char *err,
                       size_t errlen)
{

    const char *tls = getenv("UCX_TLS") ? getenv("UCX_TLS") : set->tls;
    const struct knob knobs[] = {
        {"TLS", set->tls, {"UCX_TLS"}, NULL},
        {"NET_DEVICES", set->net_devices, {"UCX_NET_DEVICES"}, NULL},
        {"KEEPALIVE_INTERVAL", PHX_UCX_KEEPALIVE_INTERVAL, {"UCX_KEEPALIVE_INTERVAL"}, NULL},
        {"MM_ERROR_HANDLING", set->mm_error_handling ? "y" : "n",
         {"UCX_MM_ERROR_HANDLING", "UCX_POSIX_ERROR_HANDLING", "UCX_SYSV_ERROR_HANDLING"},
         mm_names},
        {"KEEPIDLE", PHX_UCX_TCP_KEEPIDLE, {"UCX_TCP_KEEPIDLE"}, tcp_names},
        {"KEEPINTVL", PHX_UCX_TCP_KEEPINTVL, {"UCX_TCP_KEEPINTVL"}, tcp_names},
        {"KEEPCNT", PHX_UCX_TCP_KEEPCNT, {"UCX_TCP_KEEPCNT"}, tcp_names},
        {"PORT_RANGE", set->tcp_port_range, {"UCX_TCP_PORT_RANGE"}, tcp_names},
        {"SL", set->ib_sl, {"UCX_IB_SL"}, ib_names},
        {"TRAFFIC_CLASS", set->ib_traffic_class, {"UCX_IB_TRAFFIC_CLASS"}, ib_names},
    };

    for (unsigned i = 0; i < sizeof(knobs) / sizeof(knobs[0]); i++)
        if (apply_knob(config, &knobs[i], tls, err, errlen) < 0)
            return -EINVAL;
    warn_open_tcp_ports(set, tls);
    return 0;
}

/* See the file comment: UCX's own library, never this build. Once per process is enough
 * (a second dlopen with RTLD_NODELETE is harmless). */
static void pin_ucx(void)
{
    Dl_info info;

    if (!dladdr((void *)ucp_init_version, &info) || !info.dli_fname)
        return;
    if (!dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE))
        phx_warn("ucx: cannot keep %s loaded: %s", info.dli_fname, dlerror());
}

/* Batches (ucx_batch.c) and the eager switch (ucx_send.c) send up to 64 KiB over TCP as one
 * zero-copy fragment, the size of UCX's TCP segment (UCX_TCP_RX_SEG_SIZE, 64k by default). A
 * smaller segment would make them several fragments, the shape UCX 1.13 aborts on when the
 * endpoint fails mid-send (a peer that goes away would take the service with it), so the
 * service refuses to start with one. True, with the reason in ERR, when the environment sets
 * one. */
static bool tcp_segment_too_small(char *err, size_t errlen)
{
    const char *v = getenv("UCX_TCP_RX_SEG_SIZE");
    char *end;

    if (!v || !*v)
        return false;
    unsigned long long n = strtoull(v, &end, 10);
    int shift = *end == 'k' || *end == 'K' ? 10 : *end == 'm' || *end == 'M' ? 20
              : *end == 'g' || *end == 'G' ? 30 : 0;
    if (n >= (65536ull >> shift))
        return false;
    snprintf(err, errlen, "UCX_TCP_RX_SEG_SIZE=%s is below 64k: messages of up to 64 KiB would "
             "leave in several zero-copy fragments, which UCX 1.13 aborts on when a peer fails "
             "mid-send; unset it (docs/transport.md, Limits)", v);
    return true;
}

static struct phx_ucx_context *context_create(const struct phx_ucx_settings *settings, char *err,
                                              size_t errlen)
{
    ucp_config_t *config;

    if (tcp_segment_too_small(err, errlen))
        return NULL;
    ucs_status_t st = ucp_config_read(NULL, NULL, &config);

    if (st != UCS_OK) {
        snprintf(err, errlen, "cannot read the UCX configuration: %s", ucs_status_string(st));
        return NULL;
    }
    struct phx_ucx_context *c = calloc(1, sizeof(*c));
    ucp_params_t params = {
        .field_mask = UCP_PARAM_FIELD_FEATURES | UCP_PARAM_FIELD_MT_WORKERS_SHARED |
                      UCP_PARAM_FIELD_NAME,
        .features = UCP_FEATURE_AM | UCP_FEATURE_WAKEUP,
        .mt_workers_shared = 1,     /* one worker per runtime thread, several threads */
        .name = "phoenix-ucx",
    };
    if (!c)
        snprintf(err, errlen, "out of memory");
    else if (apply_knobs(config, settings, err, errlen) == 0 &&
             (st = ucp_init(&params, config, &c->ucp)) != UCS_OK)
        snprintf(err, errlen, "ucp_init: %s", ucs_status_string(st));
    ucp_config_release(config);
    if (!c || !c->ucp) {
        free(c);
        return NULL;
    }
    pthread_mutex_init(&c->lock, NULL);
    phx_u64map_init(&c->xoffers, SIZE_MAX);    /* one per client connection wiring up */
    pin_ucx();
    return c;
}

/* HANDLER's build is the newest to join C. */
static void set_newest(struct phx_ucx_context *c, ucp_am_recv_callback_t handler)
{
    pthread_mutex_lock(&c->lock);
    c->newest_handler = handler;
    pthread_mutex_unlock(&c->lock);
}

bool phx_ucx_context_is_newest(struct phx_ucx_context *c, ucp_am_recv_callback_t handler)
{
    pthread_mutex_lock(&c->lock);
    bool newest = c->newest_handler == handler;
    pthread_mutex_unlock(&c->lock);
    return newest;
}

struct phx_ucx_context *phx_ucx_context_acquire(ucp_am_recv_callback_t handler,
                                                const struct phx_ucx_settings *settings,
                                                char *err, size_t errlen)
{
    void **current = phx_runtime_slot(CONTEXT_SLOT);

    if (!current) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    pthread_mutex_lock(&current_lock);
    struct phx_ucx_context *c = *current;
    if (c) {
        pthread_mutex_lock(&c->lock);
        c->refs++;
        pthread_mutex_unlock(&c->lock);
    } else if ((c = context_create(settings, err, errlen))) {
        c->refs = 1;
        *current = c;
        set_newest(c, handler);
        phx_info("ucx: context created");
    }
    pthread_mutex_unlock(&current_lock);
    return c;
}

void phx_ucx_context_release(struct phx_ucx_context *c)
{
    void **current = phx_runtime_slot(CONTEXT_SLOT);

    if (!c)
        return;
    pthread_mutex_lock(&current_lock);
    pthread_mutex_lock(&c->lock);
    bool last = --c->refs == 0;
    pthread_mutex_unlock(&c->lock);
    if (last) {
        if (current && *current == c)
            *current = NULL;
        ucp_cleanup(c->ucp);
        phx_u64map_fini(&c->xoffers);
        pthread_mutex_destroy(&c->lock);
        free(c);
        phx_info("ucx: context cleaned up");
    }
    pthread_mutex_unlock(&current_lock);
}

void phx_ucx_context_adopt(struct phx_ucx_context *c, ucp_am_recv_callback_t handler)
{
    void **current = phx_runtime_slot(CONTEXT_SLOT);

    pthread_mutex_lock(&current_lock);
    if (current && !*current)
        *current = c;
    set_newest(c, handler);
    pthread_mutex_unlock(&current_lock);
}

struct phx_ucx_context *phx_ucx_context_current(void)
{
    void **current = phx_runtime_slot(CONTEXT_SLOT);

    pthread_mutex_lock(&current_lock);
    struct phx_ucx_context *c = current ? *current : NULL;
    pthread_mutex_unlock(&current_lock);
    return c;
}
