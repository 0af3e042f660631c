/* config.h - the service configuration, phoenix.conf, as a typed struct.
 *
 * phoenix.conf is libconfig syntax; deploy/phoenix.conf documents every key with its default.
 * Loading starts from the defaults and overlays the file; every key and section is optional, and
 * anything the schema does not know, a value of the wrong type or out of its limits is an error
 * reported as one line naming the file, the line and the key:
 *
 *     phoenix.conf:12: runtime.threads: must be between 1 and 256 (got 0)
 *
 * Three environment variables then override the file: PHOENIX_PREFIX, PHOENIX_STATE_DIR and
 * PHOENIX_LOG_LEVEL.
 *
 * Plugins' settings are not the service's: each plugin's section, `settings = { <plugin> = {
 * ... }; };`, is kept as written and loaded with the plugin's own schema (settings.h) once the
 * plugin is open, through phx_config_plugin_settings(). Loading the file checks only that every
 * section names a plugin of the list. The top-level `ucx = { ... }` and `mrpc = { ... }` of
 * earlier releases are still read as settings.ucx and settings.mrpc; each leaves a deprecation
 * line in `notes`, which phoenixd logs.
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
#include "phoenix/settings.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define PHX_CONFIG_MAX_PLUGINS 64

/* runtime.mode: how engine groups share runtime threads. */
typedef enum {
    PHX_RUNTIME_SHARED   = 0,   /* groups share the runtime threads round-robin */
    PHX_RUNTIME_DEDICATE = 1,   /* one group per runtime thread */
} phx_runtime_mode_t;

/* One plugin to load at start: NAME is unique, PATH is absolute or relative to plugin_dir. */
struct phx_config_plugin {
    char *name;
    char *path;
};

typedef struct phx_config {
    char *prefix;               /* control.sock, pid file and runtime files live here */
    char *state_dir;            /* what outlives a restart (standing rules); "" = prefix */
    char *plugin_dir;           /* "" = the directory phoenixd was installed with */
    char *plugin_trusted_dirs;  /* ':'-separated directories exempt, with those above them, from
                                 * the plugin owner-and-mode check (plugin_trust.h); "" = none */
    struct {
        phx_log_level_t level;
        char *file;             /* "-" = stderr */
    } log;
    struct {
        unsigned threads;       /* 1..256 */
        phx_runtime_mode_t mode;
        unsigned spin_us;       /* busy-poll budget before sleeping, 0..1000000 */
        unsigned urgent_threads; /* more threads, for apps a policy marks urgent, 0..64 */
    } runtime;
    struct {
        char *admin_group;      /* group allowed admin requests besides root; "" = root only */
        unsigned socket_mode;   /* permission bits of control.sock, 0..0777 */
        unsigned max_apps;      /* 1..65536 */
        unsigned max_rules;     /* standing rules at once, 1..65536 */
        unsigned max_user_rules; /* of one ordinary user, 0..65536 */
        unsigned max_conns_per_uid; /* connections of one ordinary uid at once, 1..65536 */
        unsigned max_apps_per_uid;  /* apps registered by one ordinary uid at once, 1..65536 */
        unsigned idle_timeout_s; /* a connection with no app, silent this long, is closed */
    } control;
    struct {
        char *listen;           /* Prometheus endpoint "host:port"; "" or "off": none */
    } metrics;
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
    struct phx_config_plugin *plugins;
    unsigned nplugins;
    char *source;               /* the file it came from, or "(defaults)" */
    void *tree;                 /* the file as parsed, for the plugin sections; NULL: defaults */
    char *notes;                /* deprecation lines, each ending in a newline; NULL: none */
} phx_config_t;

/* Fills CFG with the documented defaults (deploy/phoenix.conf). Returns 0 or -ENOMEM; CFG is
 * valid to free either way. */
int phx_config_init_defaults(phx_config_t *cfg);

/* The defaults, then the file at PATH over them. Returns 0, or -1 with one line in ERR
 * ("file:line: key: what is wrong"); on failure CFG holds the defaults. */
int phx_config_load(phx_config_t *cfg, const char *path, char *err, size_t errlen);

/* The same from TEXT in memory (what fuzz/config feeds it), ORIGIN naming it in ERR and in
 * cfg->source; an @include line is refused (it would open files relative to the current
 * directory). */
int phx_config_load_text(phx_config_t *cfg, const char *text, const char *origin, char *err,
                         size_t errlen);

/* The environment variable whose directories the plugin registry vouches for besides
 * plugin_trusted_dirs (phoenix.conf(5), ENVIRONMENT), and its value ("" when unset). */
#define PHX_ENV_TRUSTED_DIRS "PHOENIX_PLUGIN_TRUSTED_DIRS"
const char *phx_config_env_trusted_dirs(void);

/* Overrides prefix from PHOENIX_PREFIX, state_dir from PHOENIX_STATE_DIR and log.level from
 * PHOENIX_LOG_LEVEL, each when set and not empty, with the same checks as the file. Returns 0,
 * or -1 with one line in ERR naming the variable; CFG is left unchanged for that variable. */
int phx_config_apply_env(phx_config_t *cfg, char *err, size_t errlen);

void phx_config_free(phx_config_t *cfg);

/* Writes the effective configuration in libconfig syntax; loading the output gives CFG back.
 * Plugin sections are written as the file had them, under `settings` (their effective values
 * need the plugins' schemas). Returns 0 or -EIO. */
int phx_config_dump(const phx_config_t *cfg, FILE *out);

/* "shared"/"dedicate"; "?" outside the enum. */
const char *phx_runtime_mode_name(phx_runtime_mode_t mode);

/* Plugin PLUGIN's settings: BASE (SCHEMA->size bytes) gets the schema's defaults, then the
 * section settings.PLUGIN of CFG's file (or the deprecated top-level one) over them. SCHEMA NULL:
 * the plugin has no settings, and a section for it is an error. Returns 0, or -1 with one line
 * in ERR ("phoenix.conf:31: settings.ucx.tls: expected a string, got an integer") and BASE
 * released. CFG NULL: the defaults. */
int phx_config_plugin_settings(const phx_config_t *cfg, const char *plugin,
                               const struct phx_settings_schema *schema, void *base, char *err,
                               size_t errlen);

#endif /* PHOENIX_CONFIG_H */
