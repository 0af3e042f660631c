/* ucx_mem.h - an app's heaps mapped into UCX a chunk at a time, so the data path passes memory
 * handles.
 *
 * Each heap is cut into PHX_UCX_MAP_CHUNK-sized chunks, mapped (ucp_mem_map) the first time a
 * message lies inside one and kept until the engine goes: a send from the send heap, and a
 * rendezvous receive into the receive heap, carry their chunk's handle and UCX never registers
 * memory per message. Mapping lazily keeps what an HCA pins (without on-demand paging, a mapping
 * pins its pages) to the chunks the app actually uses, not its whole sparse heap, and keeps the
 * remote keys UCX hands a peer service for a rendezvous to one chunk. A message that crosses a
 * chunk boundary, or a chunk UCX cannot map (logged once), goes without a handle: UCX then
 * registers through its own cache, which is slower but correct. */
#ifndef PHX_UCX_MEM_H
#define PHX_UCX_MEM_H

#include <stdbool.h>
#include <stddef.h>
#include <ucp/api/ucp.h>

#define PHX_UCX_MAP_CHUNK (64u << 20)

struct phx_ucx_engine;

struct phx_ucx_heap_map {
    const void *base;
    size_t      size;
    unsigned    prot;           /* UCP_MEM_MAP_PROT_* */
    const char *what;           /* "send", "receive": for the log */
    unsigned    nchunks;
    ucp_mem_h  *chunks;         /* NULL: not mapped (yet) */
    bool        failed;         /* a chunk could not be mapped: said once */
};

/* Prepares the maps of the engine's app port heaps (none without a port); nothing is mapped yet.
 * Never fails: without memory for the table, messages go without handles. */
void      phx_ucx_mem_init(struct phx_ucx_engine *s);
/* Unmaps every chunk mapped so far. */
void      phx_ucx_mem_unmap(struct phx_ucx_engine *s);
/* The handle of the chunk of M holding [BUF, BUF + LEN), mapped now if it was not; NULL when the
 * range is not inside one chunk of M, or the chunk cannot be mapped. */
ucp_mem_h phx_ucx_memh_for(struct phx_ucx_engine *s, struct phx_ucx_heap_map *m, const void *buf,
                           size_t len);

#endif /* PHX_UCX_MEM_H */
