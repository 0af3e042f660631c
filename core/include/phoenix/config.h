/* config.h - the service configuration, phoenix.conf, as a typed struct.
 *
 * phoenix.conf is libconfig syntax; deploy/phoenix.conf documents every key with its default.
 * Loading starts from the defaults and overlays the file; every key and section is optional, and
 * anything the schema does not know, a value of the wrong type or out of its limits is an error
 * reported as one line naming the file, the line and the key:
 *
 *     phoenix.conf:12: runtime.threads: must be between 1 and 256 (got 0)
 *
 * Two environment variables then override the file: PHOENIX_PREFIX and PHOENIX_LOG_LEVEL.
 * Typical use:
 *
 *     phx_config_t cfg;
 *     char err[512];
 *     if (phx_config_load(&cfg, path, err, sizeof(err)) < 0 ||
 *         phx_config_apply_env(&cfg, err, sizeof(err)) < 0)
 *         fprintf(stderr, "%s\n", err);
 *     ...
 *     phx_config_free(&cfg);
 *
 * The struct owns its strings; after phx_config_init_defaults() or phx_config_load() (whatever
 * they return) it is valid and must be released with phx_config_free(). */
#ifndef PHOENIX_CONFIG_H
#define PHOENIX_CONFIG_H

#include "phoenix/log.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define PHX_CONFIG_MAX_PLUGINS 64

/* runtime.mode: how engine groups share runtime threads. */
typedef enum {
    PHX_RUNTIME_SHARED   = 0,   /* groups share the runtime threads round-robin */
    PHX_RUNTIME_DEDICATE = 1,   /* one group per runtime thread */
} phx_runtime_mode_t;

/* mrpc.marshal: the wire format. Only the native format exists so far (docs/marshalling.md);
 * the key is there so that configurations name their format explicitly. */
typedef enum {
    PHX_MARSHAL_NATIVE   = 0,   /* scatter-gather of the in-heap structs */
} phx_marshal_t;

/* One plugin to load at start: NAME is unique, PATH is absolute or relative to plugin_dir. */
struct phx_config_plugin {
    char *name;
    char *path;
};

typedef struct phx_config {
    char *prefix;               /* control.sock, pid file and runtime files live here */
    char *plugin_dir;           /* "" = the directory phoenixd was installed with */
    struct {
        phx_log_level_t level;
        char *file;             /* "-" = stderr */
    } log;
    struct {
        unsigned threads;       /* 1..256 */
        phx_runtime_mode_t mode;
        unsigned spin_us;       /* busy-poll budget before sleeping, 0..1000000 */
    } runtime;
    struct {
        char *admin_group;      /* group allowed admin requests besides root; "" = root only */
        unsigned socket_mode;   /* permission bits of control.sock, 0..0777 */
        unsigned max_apps;      /* 1..65536 */
    } control;
    struct {
        char *nic;              /* "" = the one UCX picks */
        bool bind_memory;       /* bind heaps to the NIC's NUMA node */
        char *xml;              /* "" = the live machine; else an hwloc XML (dry runs) */
    } topology;
    struct {
        unsigned send_mb;       /* per-app send heap, virtual and sparse */
        unsigned recv_mb;       /* per-app receive heap */
        unsigned slab_kb;       /* growth and registration unit, power of two 64..1048576 */
    } heap;
    struct {
        char *tls;              /* UCX_TLS; "" = UCX default */
        char *net_devices;      /* UCX_NET_DEVICES; "" = UCX default */
        bool mm_error_handling; /* endpoints with peer error handling */
    } ucx;
    struct {
        unsigned max_message_mb;
        unsigned inflight_mb;   /* per app, bytes sent but not yet acknowledged */
        unsigned call_timeout_ms;
        phx_marshal_t marshal;
    } mrpc;
    struct phx_config_plugin *plugins;
    unsigned nplugins;
    char *source;               /* the file it came from, or "(defaults)" */
} phx_config_t;

/* Fills CFG with the documented defaults (deploy/phoenix.conf). Returns 0 or -ENOMEM; CFG is
 * valid to free either way. */
int phx_config_init_defaults(phx_config_t *cfg);

/* The defaults, then the file at PATH over them. Returns 0, or -1 with one line in ERR
 * ("file:line: key: what is wrong"); on failure CFG holds the defaults. */
int phx_config_load(phx_config_t *cfg, const char *path, char *err, size_t errlen);

/* Overrides prefix from PHOENIX_PREFIX and log.level from PHOENIX_LOG_LEVEL, each when set and
 * not empty, with the same checks as the file. Returns 0, or -1 with one line in ERR naming the
 * variable; CFG is left unchanged for that variable. */
int phx_config_apply_env(phx_config_t *cfg, char *err, size_t errlen);

void phx_config_free(phx_config_t *cfg);

/* Writes the effective configuration in libconfig syntax; loading the output gives CFG back.
 * Returns 0 or -EIO. */
int phx_config_dump(const phx_config_t *cfg, FILE *out);

/* "shared"/"dedicate", "native"; "?" outside the enum. */
const char *phx_runtime_mode_name(phx_runtime_mode_t mode);
const char *phx_marshal_name(phx_marshal_t marshal);

/* The configuration the running service uses, for plugins (transport settings, mRPC limits).
 * phoenixd publishes it once, before loading plugins; until then, and in processes that are not
 * a service, it is the built-in defaults. Read-only for everyone but the publisher. */
const phx_config_t *phx_config_current(void);
void                phx_config_publish(const phx_config_t *cfg);

#endif /* PHOENIX_CONFIG_H */
