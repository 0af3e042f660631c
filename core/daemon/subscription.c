/* subscription.c - what one app registration creates: its service's default engine chain and
 * the channels between neighbours.
 *
 * The chain comes from the service definition of whichever plugin provides the service; its
 * engine types may live in other plugins. Neighbours i and i+1 are joined by a tx channel from
 * i's tx out port 0 to i+1's tx in port 0, and an rx channel back from i+1's rx out port 0 to i's
 * rx in port 0, each only when both engines declare the ports. Creation is all or nothing: an
 * engine that refuses to be created takes the ones before it down with it.
 *
 * The subscription owns every channel joining its engines; destroying it finds them through the
 * engines' out ports. */
#include "graph.h"
#include "plugin_registry.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool declares(const phx_engine_t *e, phx_dir_t dir, int side)
{
    return (side == 0 ? e->ops->ports[dir].in : e->ops->ports[dir].out) > 0;
}

/* Joins FROM's out port 0 to TO's in port 0 in DIR if both have them. 0 or -ENOMEM. */
static int join(phx_engine_t *from, phx_engine_t *to, phx_dir_t dir)
{
    if (!declares(from, dir, 1) || !declares(to, dir, 0))
        return 0;
    phx_channel_t *c = phx_channel_create(dir, PHX_CHANNEL_DEFAULT_CAP);
    if (!c)
        return -ENOMEM;
    phx_channel_connect(c, from, 0, to, 0);
    return 0;
}

static int join_neighbours(struct phx_subscription *sub)
{
    for (unsigned i = 0; i + 1 < sub->n_engines; i++) {
        phx_engine_t *a = sub->engines[i], *b = sub->engines[i + 1];
        if (join(a, b, PHX_TX) || join(b, a, PHX_RX))
            return -ENOMEM;
    }
    return 0;
}

static bool listed_before(const phx_service_def_t *def, unsigned i)
{
    for (unsigned j = 0; j < i; j++)
        if (strcmp(def->chain[j], def->chain[i]) == 0)
            return true;
    return false;
}

static int create_chain(struct phx_registry *reg, struct phx_subscription *sub,
                        const phx_service_def_t *def, char *err, size_t errlen)
{
    for (unsigned i = 0; i < def->chain_len; i++) {
        if (listed_before(def, i)) {
            snprintf(err, errlen, "service %s: engine %s appears twice in its chain", def->name,
                     def->chain[i]);
            return -EINVAL;
        }
        phx_engine_t *e = phx_engine_create(reg, sub, def->chain[i], NULL, err, errlen);
        if (!e)
            return -errno;
        sub->engines[sub->n_engines++] = e;
    }
    return 0;
}

struct phx_subscription *phx_subscription_create(struct phx_registry *reg, const char *service,
                                                 pid_t pid, unsigned sid, phx_app_port_t *app,
                                                 char *err, size_t errlen)
{
    return phx_subscription_create_on(reg, service, pid, sid, app, 0, err, errlen);
}

struct phx_subscription *phx_subscription_create_on(struct phx_registry *reg,
                                                    const char *service, pid_t pid,
                                                    unsigned sid, phx_app_port_t *app,
                                                    unsigned runtime_index, char *err,
                                                    size_t errlen)
{
    const phx_service_def_t *def = phx_registry_service(reg, service);
    if (!def) {
        snprintf(err, errlen, "unknown service '%s'", service);
        errno = ENOENT;
        return NULL;
    }
    struct phx_subscription *sub = calloc(1, sizeof(*sub));
    if (!sub) {
        snprintf(err, errlen, "out of memory");
        errno = ENOMEM;
        return NULL;
    }
    sub->pid = pid;
    sub->sid = sid;
    sub->group.app = app;
    sub->group.runtime_index = runtime_index;     /* before the engines: they may ask for it */
    snprintf(sub->service, sizeof(sub->service), "%s", service);

    int rc = create_chain(reg, sub, def, err, errlen);
    if (!rc && (rc = join_neighbours(sub)))
        snprintf(err, errlen, "out of memory");
    if (rc) {
        phx_subscription_destroy(sub);
        errno = -rc;
        return NULL;
    }
    return sub;
}

#define SUB_MAX_CHANNELS (PHX_SUB_MAX_ENGINES * 2 * PHX_MAX_PORTS)

/* Every channel of the group has a producer among its engines, so out ports find them all. */
static unsigned collect_channels(struct phx_subscription *sub, phx_channel_t **chans)
{
    unsigned n = 0;

    for (unsigned i = 0; i < sub->n_engines; i++)
        for (int dir = 0; dir < 2; dir++)
            for (unsigned p = 0; p < PHX_MAX_PORTS; p++)
                if (sub->engines[i]->out[dir][p])
                    chans[n++] = sub->engines[i]->out[dir][p];
    return n;
}

void phx_subscription_destroy(struct phx_subscription *sub)
{
    phx_channel_t *chans[SUB_MAX_CHANNELS];

    if (!sub)
        return;
    unsigned n = collect_channels(sub, chans);
    /* Engines first, while the channels their ports point at still exist; reverse chain order,
     * so the network side goes before the app side that feeds it. */
    while (sub->n_engines)
        phx_engine_destroy(sub->engines[--sub->n_engines], PHX_DESTROY_ALL);
    while (n)
        phx_channel_destroy(chans[--n]);
    free(sub);
}

phx_engine_t *phx_subscription_find(struct phx_subscription *sub, const char *type)
{
    for (unsigned i = 0; i < sub->n_engines; i++)
        if (strcmp(sub->engines[i]->ops->type, type) == 0)
            return sub->engines[i];
    return NULL;
}
