/* port_layout.h - what both sides of an app port agree on: the layout of its shared memory, the
 * order of its file descriptors, and the few steps both sides take over them.
 *
 * The service creates a port (app_port.h) and describes it with a phx_app_port_layout that
 * RegisterReply carries to the app; the app (client.h) checks the layout before it maps
 * anything, then maps the regions at the same addresses. Both sides attach the two rings of the
 * rings region at the layout's offsets with their own handles, and both release their share of
 * the memory the same way. This header is all the app side needs of the port: the service-side
 * port and its front-engine helpers stay in app_port.h. */
#ifndef PHOENIX_PORT_LAYOUT_H
#define PHOENIX_PORT_LAYOUT_H

#include <stdbool.h>
#include <stdint.h>

#include "phoenix/heap.h"
#include "phoenix/ring.h"
#include "phoenix/shm_region.h"

#define PHX_APP_PORT_MAX_DEPTH (1u << 20)

/* Order of the descriptors the service sends (RegisterReply's FdRole mirrors it). */
enum phx_app_port_fd {
    PHX_APP_PORT_FD_RINGS = 0,
    PHX_APP_PORT_FD_SQ_DOORBELL,
    PHX_APP_PORT_FD_CQ_DOORBELL,
    PHX_APP_PORT_FD_SEND,
    PHX_APP_PORT_FD_RECV,
    PHX_APP_PORT_NFDS,
};

/* Everything the app needs, besides the fds, to map the port (RegisterReply carries it). */
struct phx_app_port_layout {
    uint32_t depth;
    uint64_t rings_addr, rings_size;
    uint64_t sq_offset, cq_offset;      /* ring offsets in the rings region */
    uint64_t ring_size;                 /* bytes of each ring (phx_ring_mem_size) */
    uint64_t send_addr, send_size;
    uint64_t recv_addr, recv_size;
    uint64_t slab_size;                 /* heap growth unit, for the app's send heap too */
};

/* True for a ring depth a port may have: a power of two in [2, PHX_APP_PORT_MAX_DEPTH]. */
bool phx_app_port_depth_valid(unsigned depth);

/* Checks a layout received from the service (client side) before anything is mapped with it:
 * sizes non-zero, depth a power of two, both rings inside the rings region and not overlapping.
 * Returns 0 or -EPROTO. */
int  phx_app_port_layout_check(const struct phx_app_port_layout *l);

/* Attaches SQ and CQ (with their doorbells) to the two rings of L inside the rings region
 * mapped at BASE. 0 or the -errno of phx_ring_attach. */
int  phx_app_port_rings_attach(const struct phx_app_port_layout *l, unsigned char *base,
                               phx_ring_t *sq, int sq_doorbell, phx_ring_t *cq, int cq_doorbell);

/* Releases one side's share of a port: HEAP first (NULL: none), since it lives in a region, then
 * the RINGS, SEND and RECV regions, then the two doorbells (-1: none). */
void phx_app_port_mem_release(phx_heap_t *heap, phx_shm_region_t *rings, phx_shm_region_t *send,
                              phx_shm_region_t *recv, int sq_doorbell, int cq_doorbell);

#endif /* PHOENIX_PORT_LAYOUT_H */
