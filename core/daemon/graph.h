/* graph.h - the service's object model: channels, engines and the subscriptions they form.
 *
 * A subscription is what one app registration creates (identified by PID and SID): a chain of
 * engines, the channels between them and the app-facing port (rings and heaps). Its engines are
 * one group: a single runtime thread progresses them in `engines[]` order, and splice/upgrade
 * change them only while the runtime keeps the group suspended (runtime.h), so nothing here
 * needs a lock. The control thread owns creation and destruction. */
#ifndef PHX_GRAPH_H
#define PHX_GRAPH_H

#include <sys/types.h>

#include "host.h"
#include "jobid.h"

#define PHX_SUB_MAX_ENGINES     16
#define PHX_CHANNEL_DEFAULT_CAP 1024

struct phx_plugin;
struct phx_registry;
struct phx_runtime;

phx_channel_t *phx_channel_create(phx_dir_t dir, unsigned capacity);
void           phx_channel_destroy(phx_channel_t *c);
/* A new channel holding FIRST's descriptors, then SECOND's (either may be NULL), with room for at
 * least MIN_CAPACITY and for all of them; both inputs are left empty. NULL on ENOMEM. */
phx_channel_t *phx_channel_merge(phx_channel_t *first, phx_channel_t *second,
                                 unsigned min_capacity);
/* Connects PRODUCER's out port to CONSUMER's in port through C (updates both engines). */
void           phx_channel_connect(phx_channel_t *c, phx_engine_t *producer, unsigned out_port,
                                   phx_engine_t *consumer, unsigned in_port);

/* Looks TYPE up in the registry, pins its plugin and calls create(). NULL with a message in ERR. */
phx_engine_t *phx_engine_create(struct phx_registry *reg, struct phx_subscription *sub,
                                const char *type, const char *config, char *err, size_t errlen);
void          phx_engine_destroy(phx_engine_t *e, phx_destroy_mode_t mode);

struct phx_subscription {
    pid_t                    pid;
    uid_t                    uid;
    gid_t                    gid;
    unsigned                 sid;
    struct phx_job           job;          /* its Slurm job, at registration (jobid.h) */
    char                     service[PHX_NAME_MAX];
    phx_engine_t            *engines[PHX_SUB_MAX_ENGINES];   /* progress order */
    unsigned                 n_engines;
    struct phx_engine_group  group;        /* what its engines see: app port, runtime index */
    struct phx_runtime      *runtime;      /* the thread that drives this group */
    struct phx_subscription *next;         /* in the service's list */
};

/* Builds SERVICE's default chain for an app: engines in chain order, tx port 0 of each into tx
 * port 0 of the next, rx port 0 back the other way. APP (may be NULL in tests) is set before
 * any engine is created, so a front engine can take its rings in create(). NULL with a message
 * in ERR; APP stays the caller's on failure. */
struct phx_subscription *phx_subscription_create(struct phx_registry *reg, const char *service,
                                                 pid_t pid, unsigned sid, phx_app_port_t *app,
                                                 char *err, size_t errlen);
/* The same for a group that runtime thread RUNTIME_INDEX will drive (phx_runtime_add() with that
 * runtime): its engines see the index from create() on, so that they can set up per-thread
 * resources there. The service may still give the group another thread before it has an app
 * to serve (a standing rule that makes it urgent: service.c, place_group); an engine that set
 * up such resources then moves them on its first turn there (phx_engine_runtime_index() says
 * which). phx_subscription_create() is this with index 0. */
struct phx_subscription *phx_subscription_create_on(struct phx_registry *reg,
                                                    const char *service, pid_t pid,
                                                    unsigned sid, phx_app_port_t *app,
                                                    unsigned runtime_index, char *err,
                                                    size_t errlen);
/* Destroys every engine and channel. The group must not be on a runtime any more. */
void                     phx_subscription_destroy(struct phx_subscription *sub);
phx_engine_t            *phx_subscription_find(struct phx_subscription *sub, const char *type);

#endif /* PHX_GRAPH_H */
