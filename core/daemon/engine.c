/* engine.c - engine instances: the runtime-owned wrapper around a plugin's engine state.
 *
 * The wrapper (graph.h) is what the service keeps: ids, ports and the subscription survive a live
 * upgrade, which swaps only `ops`, `plugin` and `state` inside it. Creating an engine pins its
 * plugin so that the code stays mapped while the engine lives; destroying it calls the plugin's
 * destroy() first and unpins afterwards, because unpinning may dlclose() a superseded build.
 *
 * The accessors are the engine.h calls a plugin makes from progress(); they are plain loads. */
#include "graph.h"
#include "plugin_registry.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t next_engine_id = 1;

phx_engine_t *phx_engine_create(struct phx_registry *reg, struct phx_subscription *sub,
                                const char *type, const char *config, char *err, size_t errlen)
{
    struct phx_plugin *plugin = NULL;
    const phx_engine_ops_t *ops = phx_registry_engine_type(reg, type, &plugin);

    if (!ops) {
        snprintf(err, errlen, "unknown engine type '%s'", type);
        errno = ENOENT;
        return NULL;
    }
    phx_engine_t *e = calloc(1, sizeof(*e));
    if (!e) {
        snprintf(err, errlen, "cannot create %s: out of memory", type);
        errno = ENOMEM;
        return NULL;
    }
    e->id = __atomic_fetch_add(&next_engine_id, 1, __ATOMIC_RELAXED);
    e->ops = ops;
    e->plugin = plugin;
    e->sub = sub;
    e->group = sub ? &sub->group : NULL;
    e->wait_fd = -1;
    if (config && !(e->config = strdup(config))) {
        snprintf(err, errlen, "cannot create %s: out of memory", type);
        free(e);
        errno = ENOMEM;
        return NULL;
    }
    phx_plugin_pin(plugin);

    char why[256] = "";
    int rc = ops->create(e, config, &e->state, why, sizeof(why));
    if (rc) {
        snprintf(err, errlen, "cannot create %s: %s", type, why[0] ? why : strerror(-rc));
        phx_plugin_unpin(plugin);
        free(e->config);
        free(e);
        errno = rc < 0 ? -rc : EINVAL;
        return NULL;
    }
    return e;
}

void phx_engine_destroy(phx_engine_t *e, phx_destroy_mode_t mode)
{
    if (!e)
        return;
    struct phx_plugin *plugin = e->plugin;
    e->ops->destroy(e, e->state, mode);
    free(e->config);
    free(e);
    phx_plugin_unpin(plugin);
}
