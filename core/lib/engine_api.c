/* engine_api.c - the calls an engine makes from progress() (engine.h): its ports, its app's
 * port, who it is, and the channel operations.
 *
 * They are plain loads and ring operations on the objects the host created (host.h). A port out
 * of range or not connected reads as NULL, and every channel call takes NULL as "not connected":
 * it moves nothing. A channel's ring only fails once broken, which a private channel never is,
 * so a failure also reads as "nothing moved". */
#include "host.h"

#include "phoenix/minmax.h"

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

/* Descriptors moved per copy in phx_chan_forward: 2 KiB of stack, a few copies per call. */
#define FORWARD_BATCH 32u

/* ---- the engine's ports and identity ----------------------------------------------------- */

static bool port_ok(phx_dir_t dir, unsigned port)
{
    return (dir == PHX_TX || dir == PHX_RX) && port < PHX_MAX_PORTS;
}

phx_channel_t *phx_engine_in(phx_engine_t *e, phx_dir_t dir, unsigned port)
{
    return port_ok(dir, port) ? e->in[dir][port] : NULL;
}

phx_channel_t *phx_engine_out(phx_engine_t *e, phx_dir_t dir, unsigned port)
{
    return port_ok(dir, port) ? e->out[dir][port] : NULL;
}

phx_app_port_t *phx_engine_app_port(phx_engine_t *e)
{
    return e->group ? e->group->app : NULL;
}

uint64_t phx_engine_id(const phx_engine_t *e)
{
    return e->id;
}

const char *phx_engine_type(const phx_engine_t *e)
{
    return e->ops->type;
}

unsigned phx_engine_runtime_index(const phx_engine_t *e)
{
    return e->group ? e->group->runtime_index : 0;
}

void phx_engine_set_urgency(phx_engine_t *e, unsigned urgency)
{
    if (e->group)
        __atomic_store_n(&e->group->urgency, urgency, __ATOMIC_RELAXED);
}

bool phx_engine_woken(const phx_engine_t *e)
{
    return e->woken;
}

unsigned phx_engine_urgency(const phx_engine_t *e)
{
    return e->group ? __atomic_load_n(&e->group->urgency, __ATOMIC_RELAXED) : 0;
}

const void *phx_engine_settings(const phx_engine_t *e)
{
    return e->plugin ? ((const struct phx_plugin_host *)e->plugin)->settings : NULL;
}

const char *phx_engine_config(const phx_engine_t *e)
{
    return e->config;
}

/* ---- objects the group shares ---------------------------------------------------------------- */

static int shared_slot(const struct phx_engine_group *g, const char *name)
{
    for (int i = 0; i < PHX_SHARED_MAX; i++)
        if (g->shared[i].name[0] && strcmp(g->shared[i].name, name) == 0)
            return i;
    return -1;
}

int phx_engine_share(phx_engine_t *e, const char *name, const void *obj)
{
    struct phx_engine_group *g = e->group;
    size_t n = name ? strnlen(name, PHX_NAME_MAX) : 0;

    if (!g || n == 0 || n == PHX_NAME_MAX)
        return -EINVAL;
    int i = shared_slot(g, name);
    for (int j = 0; i < 0 && j < PHX_SHARED_MAX; j++)
        if (!g->shared[j].name[0])
            i = j;
    if (i < 0)
        return -ENOSPC;
    memcpy(g->shared[i].name, name, n + 1);
    g->shared[i].obj = obj;
    return 0;
}

void phx_engine_unshare(phx_engine_t *e, const char *name, const void *obj)
{
    int i = e->group && name ? shared_slot(e->group, name) : -1;

    if (i >= 0 && e->group->shared[i].obj == obj)
        memset(&e->group->shared[i], 0, sizeof(e->group->shared[i]));
}

const void *phx_engine_shared(phx_engine_t *e, const char *name)
{
    int i = e->group && name ? shared_slot(e->group, name) : -1;

    return i >= 0 ? e->group->shared[i].obj : NULL;
}

/* ---- channels --------------------------------------------------------------------------------- */

/* The ring only fails once broken, which a private channel never is; report "nothing moved". */
static unsigned moved(int rc)
{
    return rc > 0 ? (unsigned)rc : 0;
}

unsigned phx_chan_push(phx_channel_t *c, const phx_desc_t *d, unsigned n)
{
    return c ? moved(phx_ring_push(&c->ring, d, n)) : 0;
}

unsigned phx_chan_pop(phx_channel_t *c, phx_desc_t *d, unsigned max)
{
    return c ? moved(phx_ring_pop(&c->ring, d, max)) : 0;
}

unsigned phx_chan_count(phx_channel_t *c)
{
    return c ? phx_ring_count(&c->ring) : 0;
}

unsigned phx_chan_space(phx_channel_t *c)
{
    return c ? phx_ring_capacity(&c->ring) - phx_ring_count(&c->ring) : 0;
}

unsigned phx_chan_forward(phx_channel_t *in, phx_channel_t *out, unsigned max)
{
    phx_desc_t batch[FORWARD_BATCH];
    unsigned total = 0;

    if (!in || !out)
        return 0;
    /* One thread owns both ends, so what count and space report now cannot shrink under us:
     * every popped descriptor fits in OUT. */
    unsigned todo = phx_min_u32(max, phx_min_u32(phx_chan_count(in), phx_chan_space(out)));
    while (total < todo) {
        unsigned got = phx_chan_pop(in, batch, phx_min_u32(FORWARD_BATCH, todo - total));
        if (!got)
            break;
        phx_chan_push(out, batch, got);
        total += got;
    }
    return total;
}
