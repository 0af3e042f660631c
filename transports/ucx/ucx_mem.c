/* ucx_mem.c - mapping an app's heaps into UCX, chunk by chunk (see ucx_mem.h for why).
 *
 * The heaps are memfd regions mapped at the same address in the app and here, and live as long
 * as the app's port, which outlives the engine; a chunk mapped once therefore stays valid for
 * every later message until destroy. The protection asked for matches how each heap is used
 * here: the send heap is only read (by UCX locally, or by a peer service's get), the receive heap
 * is written (by UCX locally, or by a peer service's put). Mapping happens on the runtime thread,
 * the first time a chunk carries a message: on TCP and shared memory it costs nothing, with an
 * HCA it is one registration per chunk for the life of the app. */
#include "ucx_engine.h"

#include "phoenix/app_port.h"
#include "phoenix/log.h"

#include <stdlib.h>

static void map_init(struct phx_ucx_heap_map *m, const phx_shm_region_t *r, unsigned prot,
                     const char *what)
{
    *m = (struct phx_ucx_heap_map){.base = r->base, .size = r->size, .prot = prot,
                                   .what = what};
    if (!r->base || !r->size)
        return;
    m->nchunks = (unsigned)((r->size + PHX_UCX_MAP_CHUNK - 1) / PHX_UCX_MAP_CHUNK);
    if (!(m->chunks = calloc(m->nchunks, sizeof(*m->chunks))))
        m->nchunks = 0;
}

void phx_ucx_mem_init(struct phx_ucx_engine *s)
{
    phx_app_port_t *port = phx_engine_app_port(s->engine);

    if (!port)
        return;
    map_init(&s->send_map, phx_app_port_send_region(port), UCP_MEM_MAP_PROT_LOCAL_READ |
             UCP_MEM_MAP_PROT_REMOTE_READ, "send");
    map_init(&s->recv_map, phx_app_port_recv_region(port), UCP_MEM_MAP_PROT_LOCAL_READ |
             UCP_MEM_MAP_PROT_LOCAL_WRITE | UCP_MEM_MAP_PROT_REMOTE_WRITE, "receive");
}

void phx_ucx_mem_unmap(struct phx_ucx_engine *s)
{
    struct phx_ucx_heap_map *maps[] = {&s->send_map, &s->recv_map};

    for (unsigned i = 0; i < 2; i++) {
        for (unsigned c = 0; c < maps[i]->nchunks; c++)
            if (maps[i]->chunks[c])
                ucp_mem_unmap(s->ctx->ucp, maps[i]->chunks[c]);
        free(maps[i]->chunks);
        maps[i]->chunks = NULL;
        maps[i]->nchunks = 0;
    }
}

/* Maps chunk C of M; its handle or NULL. */
static ucp_mem_h map_chunk(struct phx_ucx_engine *s, struct phx_ucx_heap_map *m, unsigned c)
{
    size_t off = (size_t)c * PHX_UCX_MAP_CHUNK;
    ucp_mem_map_params_t p = {
        .field_mask = UCP_MEM_MAP_PARAM_FIELD_ADDRESS | UCP_MEM_MAP_PARAM_FIELD_LENGTH |
                      UCP_MEM_MAP_PARAM_FIELD_PROT | UCP_MEM_MAP_PARAM_FIELD_MEMORY_TYPE,
        .address = (char *)m->base + off,
        .length = m->size - off < PHX_UCX_MAP_CHUNK ? m->size - off : PHX_UCX_MAP_CHUNK,
        .prot = m->prot,
        .memory_type = UCS_MEMORY_TYPE_HOST,
    };
    ucs_status_t st = ucp_mem_map(s->ctx->ucp, &p, &m->chunks[c]);

    if (st == UCS_OK)
        return m->chunks[c];
    if (!m->failed)
        phx_warn("ucx: cannot map part of the app's %s heap into UCX: %s; such messages go "
                 "without a memory handle", m->what, ucs_status_string(st));
    m->failed = true;
    return m->chunks[c] = NULL;
}

ucp_mem_h phx_ucx_memh_for(struct phx_ucx_engine *s, struct phx_ucx_heap_map *m, const void *buf,
                           size_t len)
{
    uintptr_t b = (uintptr_t)buf, base = (uintptr_t)m->base;

    if (!m->nchunks || !len || b < base || len > m->size || b - base > m->size - len)
        return NULL;
    unsigned first = (unsigned)((b - base) / PHX_UCX_MAP_CHUNK);
    unsigned last = (unsigned)((b - base + len - 1) / PHX_UCX_MAP_CHUNK);
    if (first != last || (m->failed && !m->chunks[first]))
        return NULL;
    return m->chunks[first] ? m->chunks[first] : map_chunk(s, m, first);
}
