/* port_layout.c - the layout of an app port both sides agree on (see port_layout.h).
 *
 * The check runs on the app side over what the service sent, before anything is mapped: the
 * service is trusted more than the app, but a layout that does not add up would make the app
 * scribble outside its mappings, so it is refused with -EPROTO instead. */
#include "phoenix/port_layout.h"

#include "phoenix/desc.h"

#include <errno.h>
#include <unistd.h>

#define SLOT_SIZE ((uint32_t)sizeof(phx_desc_t))

bool phx_app_port_depth_valid(unsigned depth)
{
    return depth >= 2 && depth <= PHX_APP_PORT_MAX_DEPTH && (depth & (depth - 1)) == 0;
}

/* True when [off, off + len) fits in SIZE, without overflow. */
static bool span_inside(uint64_t off, uint64_t len, uint64_t size)
{
    return len <= size && off <= size - len;
}

int phx_app_port_layout_check(const struct phx_app_port_layout *l)
{
    uint64_t ring = phx_ring_mem_size(SLOT_SIZE, l->depth);

    if (!phx_app_port_depth_valid(l->depth) || ring == 0 || l->ring_size != ring)
        return -EPROTO;
    if (!l->rings_size || !l->send_size || !l->recv_size)
        return -EPROTO;
    if (l->slab_size < PHX_HEAP_MIN_SLAB_SIZE || (l->slab_size & (l->slab_size - 1)) ||
        l->slab_size > l->send_size)
        return -EPROTO;
    if (!span_inside(l->sq_offset, ring, l->rings_size) ||
        !span_inside(l->cq_offset, ring, l->rings_size))
        return -EPROTO;
    if (l->sq_offset % PHX_RING_ALIGN || l->cq_offset % PHX_RING_ALIGN)
        return -EPROTO;
    uint64_t lo = l->sq_offset < l->cq_offset ? l->sq_offset : l->cq_offset;
    uint64_t hi = l->sq_offset < l->cq_offset ? l->cq_offset : l->sq_offset;
    return hi - lo >= ring ? 0 : -EPROTO;
}

int phx_app_port_rings_attach(const struct phx_app_port_layout *l, unsigned char *base,
                              phx_ring_t *sq, int sq_doorbell, phx_ring_t *cq, int cq_doorbell)
{
    int rc = phx_ring_attach(sq, base + l->sq_offset, l->ring_size, sq_doorbell);

    return rc < 0 ? rc : phx_ring_attach(cq, base + l->cq_offset, l->ring_size, cq_doorbell);
}

static void close_fd(int fd)
{
    if (fd >= 0)
        close(fd);
}

void phx_app_port_mem_release(phx_heap_t *heap, phx_shm_region_t *rings, phx_shm_region_t *send,
                              phx_shm_region_t *recv, int sq_doorbell, int cq_doorbell)
{
    if (heap)
        phx_heap_destroy(heap);
    phx_shm_region_destroy(recv);
    phx_shm_region_destroy(send);
    phx_shm_region_destroy(rings);
    close_fd(sq_doorbell);
    close_fd(cq_doorbell);
}
