/* ucx_context.h - the one ucp_context the transport's engines share, and the UCX settings it is
 * created with.
 *
 * The first engine created makes the context, the last one destroyed cleans it up; every engine
 * holds one reference. The reference count lives in the context itself, not in this build's
 * globals, because a live upgrade hands engines (and their references) from one build of the
 * plugin to the next. For the same reason the context lists the workers of the runtime threads
 * (ucx_worker.h) and knows which build joined it last. */
#ifndef PHX_UCX_CONTEXT_H
#define PHX_UCX_CONTEXT_H

#include "phoenix/settings.h"
#include "phoenix/u64map.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <ucp/api/ucp.h>

struct phx_ucx_worker;

/* Shared by the builds a live upgrade chains and not part of the state blob (ucx_state.c): its
 * layout must not change between builds that upgrade one another. */
struct phx_ucx_context {
    ucp_context_h          ucp;
    pthread_mutex_t        lock;        /* guards the rest, across builds of the plugin */
    unsigned               refs;
    struct phx_ucx_worker *workers;     /* one per runtime thread with engines (ucx_worker.c) */
    unsigned               last_worker_id;
    ucp_am_recv_callback_t newest_handler; /* of the build that created or adopted it last */
    phx_u64map_t           xoffers;     /* handshake nonce -> a client's pair awaiting a
                                           server of this process (ucx_xlocal.c) */
};

/* UCX settings the transport sets unless the environment names them (ucx_context.c). */
#define PHX_UCX_KEEPALIVE_INTERVAL "1s"
#define PHX_UCX_TCP_KEEPIDLE       "1s"
#define PHX_UCX_TCP_KEEPINTVL      "500ms"
#define PHX_UCX_TCP_KEEPCNT        "2"

/* The plugin's settings, `settings = { ucx = { ... }; };` in phoenix.conf (deploy/phoenix.conf
 * and docs/transport.md document them). The table is in ucx_context.c. */
struct phx_ucx_settings {
    char    *tls;               /* UCX_TLS; "" = UCX default */
    char    *net_devices;       /* UCX_NET_DEVICES; "" = UCX default */
    bool     mm_error_handling; /* endpoints with peer error handling over shared memory */
    unsigned max_message_mb;    /* largest message a frame may carry */
    unsigned inflight_mb;       /* per engine, received bytes not yet taken by the app */
    bool     same_node;         /* loopback pairs skip UCX (ucx_local.c) */
    unsigned eager_max_kb;      /* larger single messages up to it go eager over TCP; 0: off */
    int      worker;            /* enum phx_ucx_worker_mode: which apps get a worker of their own */
    char    *tcp_port_range;    /* UCX_TCP_PORT_RANGE: the ports UCX's TCP interfaces listen on */
    bool     tcp_peers_only;    /* those admit only hosts we did a handshake with */
    char    *ib_sl;             /* SL of UCX's InfiniBand transports; "" = UCX's "auto" */
    char    *ib_traffic_class;  /* their TRAFFIC_CLASS (RoCE: DSCP << 2); "" = UCX's "auto" */
    /* the wire-up (ucx_hs.c) and its security (ucx_auth.c) */
    int      auth;              /* enum phx_ucx_auth: "none" or "munge" */
    char    *munge_socket;      /* munged's socket; "" = libmunge's default */
    bool     auth_same_uid;     /* only callers of the service's own uid */
    bool     auth_same_job;     /* only peers of the service's own Slurm job */
    unsigned handshake_timeout_ms;
    unsigned halfopen_max;      /* per engine */
    unsigned halfopen_per_source;
};
extern const struct phx_settings_schema phx_ucx_settings_schema;

/* settings.ucx.worker: the engines of a runtime thread share its worker (ucx_worker.c), except
 * those of latency-class apps (CLASS) or every app's (APP), which get one of their own. */
enum phx_ucx_worker_mode { PHX_UCX_WORKER_THREAD, PHX_UCX_WORKER_CLASS, PHX_UCX_WORKER_APP };
/* What the schema cannot check (ib_sl, ib_traffic_class); every engine's create(), since only
 * the first one creates the context. 0, or -EINVAL with a sentence in ERR. */
int phx_ucx_settings_check(const struct phx_ucx_settings *set, char *err, size_t errlen);

/* The Slurm job this service belongs to, into OUT (LEN bytes): SLURM_JOB_ID when it holds a job
 * id (digits) that fits, else "" (a node service, started outside any job). */
void phx_ucx_service_job(char *out, size_t len);

/* A reference to the shared context, created on first use with SETTINGS (HANDLER, this build's
 * active-message handler, is then the newest). NULL with a sentence in ERR. */
struct phx_ucx_context *phx_ucx_context_acquire(ucp_am_recv_callback_t handler,
                                                const struct phx_ucx_settings *settings,
                                                char *err, size_t errlen);
/* Drops one reference; the last one cleans the context up. */
void phx_ucx_context_release(struct phx_ucx_context *c);
/* Live upgrade, at commit: an engine restored in this build brought C and its reference along;
 * engines this build creates later share C too unless it already has a context of its own.
 * HANDLER, this build's active-message handler, becomes the newest. */
void phx_ucx_context_adopt(struct phx_ucx_context *c, ucp_am_recv_callback_t handler);
/* The context in the runtime slot (the one every build's new engines share), or NULL. */
struct phx_ucx_context *phx_ucx_context_current(void);
/* Whether HANDLER is the newest build's (ucx_worker.c: which handler a shared worker gets). */
bool phx_ucx_context_is_newest(struct phx_ucx_context *c, ucp_am_recv_callback_t handler);

#endif /* PHX_UCX_CONTEXT_H */
