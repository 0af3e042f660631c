/* engine.h - the plugin SDK: what a plugin declares and what its engines may ask of the runtime.
 *
 * A plugin author includes this one header. A plugin is a shared object, built with hidden
 * visibility, exporting one symbol: `phx_plugin_descriptor`, written by the self-filling macro
 *
 *     PHX_PLUGIN("null", "1.0.0", .engines = PHX_ENGINES(&null_ops));
 *
 * which fills the ABI version, the build signature and the sizes of the descriptor and ops
 * table the plugin was built with. docs/plugins.md is the guide; this file is the reference.
 *
 * ABI growth (as Linux's extensible syscall structs): new ops and descriptor fields are only ever
 * added at the end, under a new minor ABI version. The service copies what a plugin's ops table
 * and descriptor hold into zeroed structs of its own size, so a plugin built against an older,
 * shorter table still loads and the ops it lacks are NULL ("not provided"); a plugin built
 * against a newer, longer table loads as long as what this service does not know is zero. A
 * plugin is refused, with a sentence, only for another major ABI or another build signature
 * (PHX_BUILD_SIGNATURE: the compiler-visible options that change struct layouts).
 *
 * An engine is a state machine driven by one runtime thread: progress() does a bounded amount of
 * work and returns how much. It never blocks, sleeps or owns a thread. Engines talk through
 * channels: bounded single-producer single-consumer rings of phx_desc_t owned by the runtime, so
 * that channels (and the descriptors queued in them) survive splicing and live upgrade. Channels
 * are reached through numbered ports per direction (tx: app -> network, rx: network -> app); an
 * engine type declares how many ports it has. Ports are looked up on every progress() call: the
 * runtime may rewire them while the engine's group is suspended, never while it runs.
 *
 * Two threads call ops. The *runtime thread* driving the engine's group calls progress, arm and
 * disarm. The service's *control thread* calls every other op, and only while no runtime
 * progresses the engine: its group is suspended, or not on a runtime yet (create for a new
 * subscription) or any more (destroy at unregistration). The two never overlap for one engine,
 * so an engine's state needs no lock. An op on the control thread holds up every admin request
 * and registration of the service: it may do blocking set-up work (memory registration,
 * connecting a socket) but should not wait on the network or on other processes.
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

/* Major: a layout change old plugins cannot survive (refused). Minor: ops or descriptor fields
 * added at the end (older plugins load; the new ops are NULL for them). */
#define PHX_ABI_MAJOR      2
#define PHX_ABI_MINOR      0
#define PHX_PLUGIN_SYMBOL  "phx_plugin_descriptor"
#define PHX_MAX_PORTS      4
#define PHX_NAME_MAX       64

typedef enum phx_dir { PHX_TX = 0, PHX_RX = 1 } phx_dir_t;

typedef struct phx_engine    phx_engine_t;     /* runtime-owned instance wrapper */
typedef struct phx_channel   phx_channel_t;    /* runtime-owned SPSC ring of phx_desc_t */
typedef struct phx_app_port  phx_app_port_t;   /* the app's rings and heaps (app_port.h) */
struct phx_settings_schema;                    /* a plugin's settings (phoenix/settings.h) */

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

/* How many in and out ports an engine type has in one direction (at most PHX_MAX_PORTS each). */
typedef struct phx_port_counts {
    uint8_t in;
    uint8_t out;
} phx_port_counts_t;

/* The operations of one engine type. Ops marked "optional" may be NULL; a NULL op means the
 * engine does not provide it, and the service says what it does instead. New ops are added at
 * the end only (minor ABI), so a plugin built before they existed sees them as NULL. Every op
 * but progress/arm/disarm runs on the control thread while the engine is not progressed (see
 * the file comment). Errors are a negative errno, with one sentence in ERR where there is one. */
typedef struct phx_engine_ops {
    const char       *type;                 /* unique engine type name, e.g. "NullEngine" */
    uint32_t          state_version;        /* version of what dump() writes */
    phx_port_counts_t ports[2];             /* [PHX_TX], [PHX_RX]: { .in = n, .out = n } */

    /* Required. Control thread; the new engine is not on any runtime yet (a new subscription,
     * or attach: its group still runs, without it). CONFIG is the attach descriptor's
     * config_string (libconfig syntax) or NULL. May block on set-up (allocation, registering
     * memory, opening endpoints). On failure nothing is left behind and the request fails. */
    int  (*create)(phx_engine_t *e, const char *config, void **state, char *err, size_t errlen);
    /* Required. Runtime thread. Returns the amount of work done (0 = idle). Bounded: a few
     * hundred descriptors at most. Never blocks, sleeps or waits on anything. */
    int  (*progress)(phx_engine_t *e, void *state);
    /* Required. Control thread, engine not progressed (group suspended, or off its runtime at
     * unregistration). Releases the state; with PHX_DESTROY_STATE_ONLY only the memory of the
     * state, its resources belonging to another instance now (upgrade). May block briefly
     * (closing endpoints) but must not wait for peers. */
    void (*destroy)(phx_engine_t *e, void *state, phx_destroy_mode_t mode);

    /* Optional. Runtime thread, when it is about to sleep: return 0 and fill *W if the engine
     * may sleep, or a positive number if it has work after all. Never blocks. NULL: the engine
     * never prevents sleep and has no event source; it is progressed again on the next wakeup. */
    int  (*arm)(phx_engine_t *e, void *state, phx_wait_t *w);
    /* Optional. Runtime thread, after a sleep that arm() allowed. Never blocks. NULL: nothing to
     * undo. Called only for engines that have arm(). */
    void (*disarm)(phx_engine_t *e, void *state);
    /* Optional. Control thread, group suspended, before detach and upgrade. Pushes descriptors
     * held inside the engine to its out ports; returns how many are still held (out port full;
     * the service grows the channels and calls again). Never blocks. NULL: the engine holds no
     * descriptors between progress() calls. */
    int  (*flush)(phx_engine_t *e, void *state);
    /* Optional. Control thread, group suspended, during live upgrade: serialise the state into
     * *OUT (malloc'd, tagged with state_version). Never blocks. NULL: the engine's plugin cannot
     * be upgraded live while such an engine runs (the upgrade is refused with a sentence). */
    int  (*dump)(phx_engine_t *e, void *state, phx_blob_t *out);
    /* Optional. Control thread, group suspended, during live upgrade, in the new build: rebuild
     * *STATE from IN (which may be an older state_version: convert, or refuse with a sentence
     * and the old build keeps running). Never blocks. NULL: this build cannot take over running
     * engines (the upgrade is refused). */
    int  (*restore)(phx_engine_t *e, const phx_blob_t *in, void **state, char *err, size_t errlen);
    /* Optional. Control thread, group suspended: take the plugin's settings again
     * (phx_engine_settings(), after SIGHUP reloaded phoenix.conf) with CONFIG, the engine's
     * config string, over them. Never blocks. NULL: the engine keeps the settings it was created
     * with; its group is not even suspended for it. */
    int  (*reconfigure)(phx_engine_t *e, void *state, const char *config, char *err,
                        size_t errlen);
    /* Optional. Control thread, group suspended: answer an admin request (text) with *REPLY, a
     * malloc'd JSON document; -ENOTSUP or -EINVAL for a request it does not understand. Never
     * blocks. NULL: the admin is told the engine answers no requests. */
    int  (*admin)(phx_engine_t *e, void *state, const char *request, char **reply);

    /* ABI 2.1 and later: new ops go here, optional, NULL meaning what the old behaviour was. */
} phx_engine_ops_t;

/* A service an app can register for, and the engine chain created for it: chain[0] faces the
 * app (owns its rings), chain[n-1] faces the network; tx port 0 of each feeds the next one and
 * rx port 0 flows back. Engine types may come from other plugins. Write it with PHX_SERVICE. */
typedef struct phx_service_def {
    const char        *name;                 /* e.g. "mrpc"; NULL ends a PHX_SERVICES list */
    const char *const *chain;
    unsigned           chain_len;
} phx_service_def_t;

/* The exported descriptor. Write it with PHX_PLUGIN, never by hand: the macro fills the head.
 * The first field stays the major ABI version in every ABI to come, and the head (up to
 * `signature`) never changes within a major version. */
typedef struct phx_plugin_desc {
    uint32_t                         abi_major;   /* PHX_ABI_MAJOR */
    uint32_t                         abi_minor;   /* PHX_ABI_MINOR */
    uint32_t                         desc_size;   /* sizeof(phx_plugin_desc_t) as built */
    uint32_t                         ops_size;    /* sizeof(phx_engine_ops_t) as built */
    const char                      *signature;   /* PHX_BUILD_SIGNATURE as built */

    const char                      *name;        /* e.g. "null" */
    const char                      *version;     /* e.g. "1.0.0" */
    const phx_engine_ops_t *const   *engines;     /* NULL-terminated (PHX_ENGINES) or NULL */
    const phx_service_def_t         *services;    /* ends with a NULL name (PHX_SERVICES) or NULL */
    /* The plugin's settings (settings.h): its section of phoenix.conf, `settings = { <name> =
     * { ... }; };`, is loaded with this schema when the plugin is opened, and a section that does
     * not fit refuses the plugin. NULL: the plugin has no settings (a section is an error). */
    const struct phx_settings_schema *settings;
    void                            *spare[4];    /* must be NULL: room for fields of ABI 2.x */
} phx_plugin_desc_t;

/* ---- the build signature (nginx's NGX_MODULE_SIGNATURE) ------------------------------------ */

/* One token per compiler-visible property that changes a struct layout of this ABI: pointer,
 * long, size_t, enum and bool sizes, uint64_t alignment, descriptor size, byte order. A plugin
 * built with other options (-m32, -fshort-enums, another target) differs and is refused. */
#define PHX_SIG_DIGIT_(n)   ((char)('0' + (n) % 10))
#define PHX_SIG_ENDIAN_     (__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ ? 'L' : 'B')
#define PHX_BUILD_SIGNATURE                                                                    \
    ((const char[]){'p', PHX_SIG_DIGIT_(sizeof(void *)), ' ', 'l', PHX_SIG_DIGIT_(sizeof(long)), \
                    ' ', 'z', PHX_SIG_DIGIT_(sizeof(size_t)), ' ', 'e',                        \
                    PHX_SIG_DIGIT_(sizeof(phx_dir_t)), ' ', 'b', PHX_SIG_DIGIT_(sizeof(bool)), \
                    ' ', 'a', PHX_SIG_DIGIT_(_Alignof(uint64_t)), ' ', 'd',                    \
                    PHX_SIG_DIGIT_(sizeof(phx_desc_t) / 10), PHX_SIG_DIGIT_(sizeof(phx_desc_t)), \
                    ' ', 'o', PHX_SIG_ENDIAN_, '\0'})

/* ---- the self-filling declaration ---------------------------------------------------------- */

/* PHX_PLUGIN(name, version, .engines = PHX_ENGINES(&a_ops, &b_ops),
 *            .services = PHX_SERVICES(PHX_SERVICE("svc", "AEngine", "BEngine")),
 *            .settings = &my_schema);
 * declares the plugin's one exported symbol. Everything but the name and version is optional. */
#define PHX_PLUGIN(plugin_name, plugin_version, ...)                                           \
    __attribute__((visibility("default"))) extern const phx_plugin_desc_t phx_plugin_descriptor; \
    __attribute__((visibility("default"))) const phx_plugin_desc_t phx_plugin_descriptor = {   \
        .abi_major = PHX_ABI_MAJOR,                                                            \
        .abi_minor = PHX_ABI_MINOR,                                                            \
        .desc_size = sizeof(phx_plugin_desc_t),                                                \
        .ops_size = sizeof(phx_engine_ops_t),                                                  \
        .signature = PHX_BUILD_SIGNATURE,                                                      \
        .name = (plugin_name),                                                                 \
        .version = (plugin_version),                                                           \
        __VA_ARGS__}

/* The engine types of a plugin: PHX_ENGINES(&a_ops, &b_ops) (a NULL-terminated array). */
#define PHX_ENGINES(...) ((const phx_engine_ops_t *const[]){__VA_ARGS__, NULL})
/* The services of a plugin: PHX_SERVICES(PHX_SERVICE(...), ...) (ends with a NULL name). */
#define PHX_SERVICES(...) ((const phx_service_def_t[]){__VA_ARGS__, {.name = NULL}})
/* One service and its default chain, app side first: PHX_SERVICE("mrpc", "MrpcEngine", "Ucx.."). */
#define PHX_SERVICE(service_name, ...)                                                         \
    {.name = (service_name), .chain = (const char *const[]){__VA_ARGS__},                      \
     .chain_len = sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *)}

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
/* The settings of the engine's plugin, a struct of its descriptor's settings->size bytes as the
 * service loaded it from phoenix.conf (defaults where the file says nothing), or NULL when the
 * plugin declares no settings. Read-only; valid during create() and reconfigure() and until the
 * next reconfigure() (SIGHUP replaces it): an engine copies what it keeps. */
const void     *phx_engine_settings(const phx_engine_t *e);
/* The config_string the engine was created with (an attach descriptor's), or NULL: what restore()
 * and reconfigure() overlay on phx_engine_settings() again. */
const char     *phx_engine_config(const phx_engine_t *e);

/* Objects the engines of one subscription share by name, such as MrpcEngine's view of the app's
 * message layouts that policies read calls' contents with ("mrpc.layouts", mrpc/transport.h).
 * phx_engine_share() names OBJ NAME for the whole group (replacing what NAME named); -ENOSPC
 * when the group holds PHX_SHARED_MAX names, -EINVAL without a group or with a name of
 * PHX_NAME_MAX bytes or more. phx_engine_unshare() withdraws NAME only while it still names OBJ
 * (in a live upgrade the new instance shares before the old one is destroyed). Control thread
 * (create, restore, destroy). phx_engine_shared() is what NAME names, or NULL; any of the
 * group's engines, on its runtime thread. The object must live until it is withdrawn. */
#define PHX_SHARED_MAX 4
int         phx_engine_share(phx_engine_t *e, const char *name, const void *obj);
void        phx_engine_unshare(phx_engine_t *e, const char *name, const void *obj);
const void *phx_engine_shared(phx_engine_t *e, const char *name);

/* A scheduling hint from a policy such as QosEngine: the engine's group (its app's chain)
 * carries latency-sensitive work at URGENCY (0: none, the default; higher: more urgent). In
 * every turn its runtime thread progresses the groups of the highest urgency first, and again
 * after each other group, so that an app's message waits for at most one other group's
 * progress() call, never for a whole turn over every app (docs/policies.md, "qos"). Any thread;
 * the last call wins. A policy withdraws its hint (0) when it is detached, not when a live
 * upgrade hands it to a new build (which sets it again in restore()). */
void     phx_engine_set_urgency(phx_engine_t *e, unsigned urgency);
/* The urgency of the engine's group (0: none, or no group). A transport shared by several apps
 * may yield to a more urgent one (the UCX transport ends a turn at its shared worker early). */
unsigned phx_engine_urgency(const phx_engine_t *e);

/* In disarm(): whether the sleep that just ended reported the fd this engine armed with as
 * readable (false after a timeout, a kick, another engine's fd, or a sleep that did not happen).
 * An engine that drains its fd only then saves a system call on every wake-up it did not cause;
 * a readiness that comes later leaves the fd readable, so the next sleep ends at once and says so. */
bool     phx_engine_woken(const phx_engine_t *e);

/* Channels: copy descriptors in or out; both return how many moved (0 when full / empty). */
unsigned phx_chan_push(phx_channel_t *c, const phx_desc_t *d, unsigned n);
unsigned phx_chan_pop(phx_channel_t *c, phx_desc_t *d, unsigned max);
unsigned phx_chan_count(phx_channel_t *c);
unsigned phx_chan_space(phx_channel_t *c);

/* Moves up to `max` descriptors from `in` to `out` (both may be NULL: returns 0). The common
 * body of a forwarding engine. */
unsigned phx_chan_forward(phx_channel_t *in, phx_channel_t *out, unsigned max);

#endif /* PHOENIX_ENGINE_H */
