/* service.h - the daemon's state: configuration, plugins, runtime threads and subscriptions.
 *
 * One struct phx_service per phoenixd, owned by the control thread: every function here runs on
 * it, so nothing is locked. Runtime threads only see the subscriptions they were given through
 * runtime.h.
 *
 * Registering an app creates its port (app_port.h: rings and heaps), its subscription (the
 * service's default engine chain, graph.h), applies the standing rules that match it (rules.h)
 * and puts the group on a runtime thread: round-robin in shared mode, a free thread of its own in
 * dedicate mode, or, when a rule's policy marked it urgent, one of the runtime.urgent_threads
 * kept for such groups. Unregistering undoes it in reverse. The
 * ports of all apps share one `broken_fd` eventfd that a port writes when its app corrupts a ring,
 * so the control thread can find and drop that app (phx_service_port_broken). */
#ifndef PHX_SERVICE_H
#define PHX_SERVICE_H

#include <stdbool.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "graph.h"
#include "config.h"
#include "phoenix/admin/placement.h"
#include "plugin_registry.h"

struct phx_runtime;
struct phx_pid_sids;
struct phx_rule;

struct phx_service {
    const phx_config_t      *cfg;           /* the caller's; outlives the service */
    struct phx_registry      registry;
    struct phx_runtime     **runtimes;
    unsigned                *runtime_groups; /* groups on each runtime */
    unsigned                 n_runtimes;
    unsigned                 next_runtime;   /* round-robin cursor (shared mode) */
    struct phx_subscription *subs;           /* newest first */
    unsigned                 n_subs;
    struct phx_pid_sids     *pids;           /* next SID of every PID with subscriptions */
    int                      broken_fd;      /* eventfd, readable when an app port broke */
    unsigned                 control_clients; /* the control socket's, for the metrics */
    struct phx_rule         *rules;          /* standing rules, oldest first (rules.h) */
    unsigned                 n_rules;
    unsigned                 next_rule_id;   /* last id given; ids are never reused */
    hwloc_topology_t         topo;           /* kept while app memory is bound (heap_nodes) */
    hwloc_bitmap_t           heap_nodes;     /* NUMA nodes next to the NIC, or NULL: unbound */
    /* The transport's devices as they were when the threads were placed (a SIGHUP may change
     * the setting, not where the threads and the UCX context are), and the setting's name. */
    char                     placed_devices[256];
    char                     placed_devices_from[128];
};

/* Loads the config's plugins and starts its runtime threads. Returns 0, or -errno with one
 * sentence in ERR (and nothing left to free). */
int  phx_service_init(struct phx_service *svc, const phx_config_t *cfg, char *err,
                      size_t errlen);
/* Unregisters every app, stops the runtimes and unloads the plugins. */
void phx_service_fini(struct phx_service *svc);
/* SIGHUP: every plugin loads its section of svc->cfg anew (the caller has replaced the file's
 * tree), all or nothing; then each engine of those plugins that has reconfigure() re-reads its
 * settings, with its config_string over them, while its group is suspended. 0, or -1 with one
 * line in ERR ("phoenix.conf:31: settings.mrpc.inflight_mb: ...") and the old settings kept. */
int  phx_service_reload_settings(struct phx_service *svc, char *err, size_t errlen);
/* --check-config: opens every plugin of CFG in a scratch registry (private copies in a temporary
 * directory), which checks its descriptor and its settings section, and closes them again.
 * 0, or -1 with one line in ERR naming the plugin (or file:line:key). */
int  phx_service_check_plugins(const phx_config_t *cfg, char *err, size_t errlen);

#define PHX_REGISTER_PARAM_FIELD_RING_DEPTH (1u << 0)

struct phx_register_params {
    uint64_t     field_mask;
    const char  *service;       /* required */
    struct ucred peer;          /* required: the app, from SO_PEERCRED */
    unsigned     ring_depth;    /* default PHX_APP_PORT_DEFAULT_DEPTH */
};

/* Registers an app: port, subscription, runtime. Returns PHX_OK with *OUT set, or a phx_status_t
 * with one sentence in ERR: NOT_FOUND (unknown service; ERR lists the loaded ones),
 * RESOURCE_EXHAUSTED (max_apps, or no free runtime in dedicate mode), INVALID_ARGUMENT (ring
 * depth), INTERNAL (anything else). */
int  phx_service_register(struct phx_service *svc, const struct phx_register_params *p,
                          struct phx_subscription **out, char *err, size_t errlen);
/* Whether runtime INDEX is one of the runtime.urgent_threads kept for urgent apps. */
bool phx_service_runtime_kept(const struct phx_service *svc, unsigned index);
/* Takes SUB off its runtime and destroys it with its port. */
void phx_service_unregister(struct phx_service *svc, struct phx_subscription *sub);

/* Shutdown, first step: takes every group off its runtime and pushes a PHX_DESC_SHUTDOWN
 * completion (status UNAVAILABLE) to every app, ringing its doorbell. The subscriptions stay
 * until unregistered or phx_service_fini(). */
void phx_service_shutdown_apps(struct phx_service *svc);

/* When broken_fd is readable: phx_service_drain_broken() clears it, then every subscription for
 * which phx_service_port_broken() is true belongs to an app that corrupted its rings and must be
 * dropped. */
bool phx_service_port_broken(const struct phx_subscription *sub);
void phx_service_drain_broken(struct phx_service *svc);

struct phx_subscription *phx_service_find(struct phx_service *svc, pid_t pid, unsigned sid);

/* "mrpc, loopback": the services the loaded plugins define, for messages. */
void phx_service_names(struct phx_service *svc, char *buf, size_t len);

/* The placement inputs of SVC: the configured NIC and thread count, and when no NIC is
 * configured the devices a plugin's traffic was pinned to at start (FROM names the setting).
 * Used for the placement at start and for `phoenixctl topology`, so both say the same. */
void phx_service_placement_params(struct phx_service *svc, struct phx_placement_params *pp,
                                  char *from, size_t fromlen);

#endif /* PHX_SERVICE_H */
