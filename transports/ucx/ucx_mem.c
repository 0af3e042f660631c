/* ucx_mem.c - mapping an app's heaps into UCX (see ucx_mem.h for why).
 *
 * The heaps are memfd regions mapped at the same address in the app and here, and live as long
 * as the app's port, which outlives the engine; so mapping them once at create and unmapping at
 * destroy covers every message. The protection asked for matches how each heap is mapped here:
 * the send heap is only read (by UCX, locally or by a peer's get), the receive heap is written by
 * UCX locally or by a peer's put. */
#include "ucx_engine.h"

#include "phoenix/app_port.h"
#include "phoenix/log.h"

static void map_one(struct phx_ucx_engine *s, struct phx_ucx_heap_map *m,
                    const phx_shm_region_t *r, unsigned prot, const char *what)
{
    *m = (struct phx_ucx_heap_map){.base = r->base, .size = r->size};
    if (!r->base || !r->size)
        return;
    ucp_mem_map_params_t p = {
        .field_mask = UCP_MEM_MAP_PARAM_FIELD_ADDRESS | UCP_MEM_MAP_PARAM_FIELD_LENGTH |
                      UCP_MEM_MAP_PARAM_FIELD_PROT | UCP_MEM_MAP_PARAM_FIELD_MEMORY_TYPE,
        .address = (void *)r->base,
        .length = r->size,
        .prot = prot,
        .memory_type = UCS_MEMORY_TYPE_HOST,
    };
    ucs_status_t st = ucp_mem_map(s->ctx->ucp, &p, &m->memh);
    if (st != UCS_OK) {
        phx_warn("ucx: cannot map the app's %s heap (%zu bytes) into UCX: %s; its messages go "
                 "without a memory handle", what, r->size, ucs_status_string(st));
        m->memh = NULL;
    }
}

void phx_ucx_mem_map(struct phx_ucx_engine *s)
{
    phx_app_port_t *port = phx_engine_app_port(s->engine);

    if (!port)
        return;
    map_one(s, &s->send_map, &port->send, UCP_MEM_MAP_PROT_LOCAL_READ |
            UCP_MEM_MAP_PROT_REMOTE_READ, "send");
    map_one(s, &s->recv_map, &port->recv, UCP_MEM_MAP_PROT_LOCAL_READ |
            UCP_MEM_MAP_PROT_LOCAL_WRITE | UCP_MEM_MAP_PROT_REMOTE_WRITE, "receive");
}

void phx_ucx_mem_unmap(struct phx_ucx_engine *s)
{
    struct phx_ucx_heap_map *maps[] = {&s->send_map, &s->recv_map};

    for (unsigned i = 0; i < 2; i++) {
        if (maps[i]->memh)
            ucp_mem_unmap(s->ctx->ucp, maps[i]->memh);
        maps[i]->memh = NULL;
    }
}

ucp_mem_h phx_ucx_memh_for(const struct phx_ucx_heap_map *m, const void *buf, size_t len)
{
    uintptr_t b = (uintptr_t)buf, base = (uintptr_t)m->base;

    return m->memh && b >= base && len <= m->size && b - base <= m->size - len ? m->memh : NULL;
}
