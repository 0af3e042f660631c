/* plugin_registry.h - the plugins loaded in the service and the engine types they provide.
 *
 * Nothing of a plugin file is read before it passed plugin_trust.h's owner-and-mode walk (with
 * the configuration's plugin_trusted_dirs): a file anyone but root could have written is refused
 * before its constructors could run. Loading copies the .so to a private file before dlopen(), so that a new build at the same path
 * is a new library (dlopen returns the already-loaded handle for a path it knows). A plugin is
 * refused, with the reason in ERR, when the file is missing, the symbol is absent, the major ABI
 * or build signature differ, an engine type it provides already belongs to another plugin name,
 * or its section of the configuration does not fit its settings schema (settings.h). What a
 * plugin's descriptor says is read once, into a `phx_plugin_info` of this build's sizes: engine
 * ops tables shorter than this service's are copied into zeroed full-size ones.
 * A superseded build stays loaded while engines of it live (`live` count) and is dlclose()d when
 * the last one goes. The control thread is the only user; no locking. */
#ifndef PHX_PLUGIN_REGISTRY_H
#define PHX_PLUGIN_REGISTRY_H

#include "config.h"
#include "host.h"
#include "phoenix/engine.h"

/* A plugin's descriptor as this service reads it: lists counted, ops tables full-size copies
 * (the ops a plugin built against an older ABI lacks are NULL), owned by the registry. */
struct phx_plugin_info {
    const char                       *name;
    const char                       *version;
    const phx_engine_ops_t *const    *engines;
    unsigned                          n_engines;
    const phx_service_def_t          *services;     /* the plugin's own array */
    unsigned                          n_services;
    const struct phx_settings_schema *settings;
    uint32_t                          abi_major, abi_minor;   /* as the plugin was built */
    uint32_t                          ops_size;
};

struct phx_plugin {
    struct phx_plugin_host        host;        /* first: what engine calls read (host.h) */
    struct phx_registry          *registry;
    const struct phx_plugin_info *desc;        /* == &info once validated */
    struct phx_plugin_info        info;
    phx_engine_ops_t             *ops;         /* info.n_engines full-size copies */
    const phx_engine_ops_t      **ops_list;    /* info.engines: pointers into ops */
    void                    *handle;
    char                    *path;        /* as given by the admin or the config */
    char                    *loaded_path; /* the private copy that was dlopen()ed */
    unsigned                 live;        /* engines created from it and not destroyed */
    bool                     current;     /* false once superseded by an upgrade */
    struct phx_plugin       *next;
};

struct phx_registry {
    struct phx_plugin *plugins;
    char              *copy_dir;          /* where private copies go, e.g. $PREFIX/plugins */
    unsigned           copies;
    const phx_config_t *cfg;              /* plugins' settings come from it; NULL: defaults */
};

/* COPY_DIR (made 0700 if missing) must be a directory of the service's uid that neither group
 * nor others may write (-EPERM otherwise): the private copies there are what dlopen() maps. */
int  phx_registry_init(struct phx_registry *reg, const char *copy_dir);
/* The configuration whose plugin sections plugins opened from now on load (it must outlive the
 * registry, or be replaced). Without one, plugins get their settings' defaults. */
void phx_registry_set_config(struct phx_registry *reg, const phx_config_t *cfg);
/* Loads every current plugin's section of CFG anew; all or nothing. On success the plugins hold
 * the new settings (the old ones are freed: engines copy what they keep, see engine.h) and
 * CFG becomes the registry's. 0, or -1 with one line in ERR and nothing changed. */
int  phx_registry_reload_settings(struct phx_registry *reg, const phx_config_t *cfg, char *err,
                                  size_t errlen);
void phx_registry_fini(struct phx_registry *reg);   /* unloads everything; no engine may live */

/* Loads a plugin as current. Loading a second build of a name already loaded is an upgrade's
 * first step: see upgrade.h; here it is refused with "already loaded". */
struct phx_plugin *phx_registry_load(struct phx_registry *reg, const char *path, char *err,
                                     size_t errlen);
/* Opens and validates PATH without making it current (the upgrade's candidate). */
struct phx_plugin *phx_registry_open(struct phx_registry *reg, const char *path, char *err,
                                     size_t errlen);
/* Makes CANDIDATE current in place of OLD (same name); OLD lingers until its last engine goes. */
void               phx_registry_supersede(struct phx_registry *reg, struct phx_plugin *old,
                                          struct phx_plugin *candidate);
/* Drops a candidate that was opened but not used. */
void               phx_registry_discard(struct phx_registry *reg, struct phx_plugin *candidate);

struct phx_plugin       *phx_registry_find(struct phx_registry *reg, const char *name);
/* The network devices a current plugin's traffic is pinned to: the value of the first non-empty
 * setting flagged PHX_SETTING_DEVICES (settings.h), with its name ("settings.ucx.net_devices")
 * in FROM; NULL when no plugin pins its devices. Valid until the settings are reloaded. */
const char              *phx_registry_devices(struct phx_registry *reg, char *from, size_t n);
const phx_engine_ops_t  *phx_registry_engine_type(struct phx_registry *reg, const char *type,
                                                  struct phx_plugin **plugin);
const phx_service_def_t *phx_registry_service(struct phx_registry *reg, const char *name);

/* Engine bookkeeping: pin on create, unpin on destroy (dlclose()s a superseded, unused build). */
void phx_plugin_pin(struct phx_plugin *p);
void phx_plugin_unpin(struct phx_plugin *p);

#endif /* PHX_PLUGIN_REGISTRY_H */
