/* host.h - the engine and channel objects as libphoenix's engine calls see them.
 *
 * Engines and channels are created, wired and destroyed by the host that drives them (phoenixd's
 * daemon internals, core/daemon/graph.h), but the calls an engine makes from progress()
 * (engine.h: phx_engine_in, phx_chan_push, ...) are libphoenix's, so that a plugin links only
 * libphoenix. This header is the contract between the two: the host includes it and fills the
 * structs; libphoenix's engine_api.c only reads them. It is not installed: plugins see both
 * types as opaque.
 *
 * Threads: the fields are written by the control thread while the engine's group is suspended
 * (creation, splice, upgrade) and read by the runtime thread that progresses the group, which
 * the suspend/resume handshake (core/daemon/runtime.c) orders; the counters at the end are the
 * exception, see there. */
#ifndef PHX_LIB_HOST_H
#define PHX_LIB_HOST_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "phoenix/engine.h"
#include "phoenix/ring.h"

struct phx_handover;
struct phx_plugin;
struct phx_subscription;

/* The part of a loaded plugin that its engines' calls read. It is the first member of the
 * registry's struct phx_plugin (core/daemon/plugin_registry.h), so that phx_engine_settings()
 * reaches it from the engine's `plugin`. */
struct phx_plugin_host {
    void *settings;     /* the plugin's settings as loaded from phoenix.conf (settings.h), or NULL */
};

/* A channel joins one out port of its producer to one in port of its consumer, in memory of the
 * service process. Descriptors queued in it survive rewiring: splice moves the channel (or merges
 * it into a new one), it never drops what it holds. */
struct phx_channel {
    phx_ring_t    ring;
    void         *mem;
    uint64_t      id;
    phx_dir_t     dir;
    phx_engine_t *producer;
    unsigned      producer_port;
    phx_engine_t *consumer;
    unsigned      consumer_port;
};

/* What the engines of one group share and may ask for: the app's rings and heaps (NULL for
 * groups that tests make without an app) and the runtime thread driving the group, which
 * changes when the host moves the group to another thread. */
struct phx_engine_group {
    phx_app_port_t *app;
    unsigned        runtime_index;
    unsigned        urgency;      /* phx_engine_set_urgency(); relaxed atomics, read by runtime.c */
    struct {                      /* phx_engine_share(): name "" is a free slot */
        char        name[PHX_NAME_MAX];
        const void *obj;
    } shared[PHX_SHARED_MAX];
};

struct phx_engine {
    uint64_t                 id;          /* service-wide, never reused */
    const phx_engine_ops_t  *ops;
    struct phx_plugin       *plugin;      /* pinned while the engine lives */
    void                    *state;
    char                    *config;      /* its config_string, for reconfigure(); NULL: none */
    struct phx_subscription *sub;
    struct phx_engine_group *group;       /* the subscription's; NULL until it has one */
    bool                     addon;       /* spliced in by an admin, not part of the default chain */
    phx_channel_t           *in[2][PHX_MAX_PORTS];
    phx_channel_t           *out[2][PHX_MAX_PORTS];
    int                      wait_fd;     /* fd the runtime's epoll watches for it, or -1 */
    bool                     woken;       /* the last sleep reported wait_fd readable */
    struct phx_handover     *handover;    /* the resource table while a live upgrade moves it */
    /* Written by the runtime thread that drives it, read by the control thread (relaxed atomics:
     * counters, not synchronisation). What `phoenixctl list --json` shows per engine. */
    uint64_t                 work;        /* items its progress() calls reported */
    uint64_t                 busy_ns;     /* time in the progress() calls that reported work */
    /* Who spliced an addon in (the control thread's): an ordinary user may not detach or change
     * what an administrator attached (core/daemon/admin.h). */
    uid_t                    attached_uid;
    bool                     attached_by_admin;
    unsigned                 rule_id;     /* the standing rule that attached it, 0 = none */
};

#endif /* PHX_LIB_HOST_H */
