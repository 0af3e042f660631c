/* ucx_mem.h - an app's heaps mapped into UCX once, so the data path passes memory handles.
 *
 * ucp_mem_map() of the whole send heap (read-only here) and receive heap when the engine is
 * created; sends whose data lies in the send heap, and rendezvous receives into the receive heap,
 * then carry the handle and UCX never registers memory per message. A heap UCX cannot map (an
 * RDMA device refusing read-only pages, say) is logged once and used without a handle: UCX then
 * registers through its own cache, which is slower but correct. */
#ifndef PHX_UCX_MEM_H
#define PHX_UCX_MEM_H

#include <stddef.h>
#include <ucp/api/ucp.h>

struct phx_ucx_engine;

struct phx_ucx_heap_map {
    const void *base;
    size_t      size;
    ucp_mem_h   memh;       /* NULL: not mapped */
};

/* Maps the engine's app port heaps (none when the engine has no port). Never fails. */
void      phx_ucx_mem_map(struct phx_ucx_engine *s);
void      phx_ucx_mem_unmap(struct phx_ucx_engine *s);
/* The handle covering [BUF, BUF + LEN) in M, or NULL. */
ucp_mem_h phx_ucx_memh_for(const struct phx_ucx_heap_map *m, const void *buf, size_t len);

#endif /* PHX_UCX_MEM_H */
