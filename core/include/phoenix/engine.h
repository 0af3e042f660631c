/* engine.h - the plugin API: what a plugin exports and what its engines may ask of the runtime.
 *
 * A plugin is a shared object exporting one symbol, `phx_plugin_descriptor` (PHX_PLUGIN_DEFINE),
 * that lists the engine types it provides and the services whose default chain it defines. The
 * service dlopen()s it, checks `abi_version` and `ops_size`, and refuses anything else.
 *
 * An engine is a state machine driven by one runtime thread: progress() does a bounded amount of
 * work and returns how much. It never blocks, sleeps or owns a thread. Engines talk through
 * channels: bounded single-producer single-consumer rings of phx_desc_t owned by the runtime, so
 * that channels (and the descriptors queued in them) survive splicing and live upgrade. Channels
 * are reached through numbered ports per direction (tx: app -> network, rx: network -> app); an
 * engine type declares how many ports it has. Ports are looked up on every progress() call: the
 * runtime may rewire them while the engine's group is suspended, never while it runs.
 *
 * Lifecycle (nginx-like): create -> progress* -> [flush] -> destroy. Live upgrade: the old build's
 * dump() serialises the state as bytes, the new build's restore() rebuilds it (converting older
 * state versions); what cannot be bytes (memory another engine reads, fds, UCX objects) crosses
 * through the runtime's resource table (phoenix/handover.h, which says who owns what when). Then
 * the old state is destroyed with PHX_DESTROY_STATE_ONLY: it releases everything except what it
 * put in the table, which now belongs to the new instance. The old build is dlclose()d once no
 * engine runs it, so nothing the new state keeps may point into it. */
#ifndef PHOENIX_ENGINE_H
#define PHOENIX_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "phoenix/desc.h"

#define PHX_PLUGIN_ABI_VERSION 1
#define PHX_PLUGIN_SYMBOL      "phx_plugin_descriptor"
#define PHX_MAX_PORTS          4
#define PHX_NAME_MAX           64

typedef enum phx_dir { PHX_TX = 0, PHX_RX = 1 } phx_dir_t;

typedef struct phx_engine    phx_engine_t;     /* runtime-owned instance wrapper */
typedef struct phx_channel   phx_channel_t;    /* runtime-owned SPSC ring of phx_desc_t */
typedef struct phx_app_port  phx_app_port_t;   /* the app's rings and heaps (app_port.h) */

/* How the runtime may sleep when this engine is idle (see arm()). */
typedef struct phx_wait {
    int fd;             /* readable when the engine has work again; -1: none */
    int timeout_ms;     /* wake up at the latest after this (timers); -1: no limit */
} phx_wait_t;

/* A serialised engine state, malloc'd by dump(), freed by the runtime. */
typedef struct phx_blob {
    void    *data;
    size_t   len;
    uint32_t version;   /* the engine type's state_version when it was written */
} phx_blob_t;

typedef enum phx_destroy_mode {
    PHX_DESTROY_ALL        = 0,  /* release everything the state references */
    PHX_DESTROY_STATE_ONLY = 1,  /* the resources were handed to another instance (upgrade) */
} phx_destroy_mode_t;

typedef struct phx_engine_ops {
    const char *type;                        /* unique engine type name, e.g. "NullEngine" */
    uint32_t    state_version;               /* version of what dump() writes */
    uint8_t     ports[2][2];                 /* [PHX_TX|PHX_RX][0 = in, 1 = out]: port counts */

    /* config: the policy's config_string (libconfig syntax) or NULL. */
    int  (*create)(phx_engine_t *e, const char *config, void **state, char *err, size_t errlen);
    /* Returns the amount of work done (0 = idle). Bounded: a few hundred descriptors at most. */
    int  (*progress)(phx_engine_t *e, void *state);
    /* The runtime wants to sleep: return 0 and fill *w if the engine may sleep, or a positive
     * number if it has work after all. Optional: without arm() an engine never blocks sleep. */
    int  (*arm)(phx_engine_t *e, void *state, phx_wait_t *w);
    void (*disarm)(phx_engine_t *e, void *state);   /* after waking; optional */
    /* Push descriptors held inside the engine to its out ports; return how many still remain
     * held (out port full). Called before detach and upgrade. Optional. */
    int  (*flush)(phx_engine_t *e, void *state);
    int  (*dump)(phx_engine_t *e, void *state, phx_blob_t *out);
    int  (*restore)(phx_engine_t *e, const phx_blob_t *in, void **state, char *err, size_t errlen);
    int  (*reconfigure)(phx_engine_t *e, void *state, const char *config, char *err,
                        size_t errlen);
    /* An admin request (text); *reply is a malloc'd JSON document. Optional. */
    int  (*admin)(phx_engine_t *e, void *state, const char *request, char **reply);
    void (*destroy)(phx_engine_t *e, void *state, phx_destroy_mode_t mode);
} phx_engine_ops_t;

/* A service an app can register for, and the engine chain created for it: chain[0] faces the
 * app (owns its rings), chain[n-1] faces the network; tx port 0 of each feeds the next one and
 * rx port 0 flows back. Engine types may come from other plugins. */
typedef struct phx_service_def {
    const char        *name;                 /* e.g. "mrpc" */
    const char *const *chain;
    unsigned           chain_len;
} phx_service_def_t;

typedef struct phx_plugin_desc {
    uint32_t                       abi_version;   /* PHX_PLUGIN_ABI_VERSION */
    uint32_t                       ops_size;      /* sizeof(phx_engine_ops_t) it was built with */
    const char                    *name;          /* e.g. "null" */
    const char                    *version;       /* e.g. "1.0.0" */
    const phx_engine_ops_t *const *engines;
    unsigned                       n_engines;
    const phx_service_def_t       *services;
    unsigned                       n_services;
} phx_plugin_desc_t;

#define PHX_PLUGIN_DEFINE(...) \
    __attribute__((visibility("default"))) const phx_plugin_desc_t phx_plugin_descriptor = __VA_ARGS__

/* ---- what an engine may ask of the runtime ------------------------------------------------ */

/* The channel on an in/out port, or NULL when the port is not connected. */
phx_channel_t  *phx_engine_in(phx_engine_t *e, phx_dir_t dir, unsigned port);
phx_channel_t  *phx_engine_out(phx_engine_t *e, phx_dir_t dir, unsigned port);
/* The app-facing rings and heaps of the engine's subscription (first engine of a chain). */
phx_app_port_t *phx_engine_app_port(phx_engine_t *e);
uint64_t        phx_engine_id(const phx_engine_t *e);
const char     *phx_engine_type(const phx_engine_t *e);
/* Index of the runtime thread driving this engine (per-thread resources such as UCX workers). */
unsigned        phx_engine_runtime_index(const phx_engine_t *e);

/* Channels: copy descriptors in or out; both return how many moved (0 when full / empty). */
unsigned phx_chan_push(phx_channel_t *c, const phx_desc_t *d, unsigned n);
unsigned phx_chan_pop(phx_channel_t *c, phx_desc_t *d, unsigned max);
unsigned phx_chan_count(phx_channel_t *c);
unsigned phx_chan_space(phx_channel_t *c);

/* Moves up to `max` descriptors from `in` to `out` (both may be NULL: returns 0). The common
 * body of a forwarding engine. */
unsigned phx_chan_forward(phx_channel_t *in, phx_channel_t *out, unsigned max);

#endif /* PHOENIX_ENGINE_H */
