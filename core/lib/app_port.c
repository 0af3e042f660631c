/* app_port.c - service side of an app's shared memory: creation, and the front engine's helpers.
 *
 * Creation: one memfd for both rings (submission ring at offset 0, completion ring after it on
 * the next cache line), formatted here and attached with our own handles; two eventfd doorbells;
 * the send region, which we map read-only since only the app writes it; the recv region with a
 * heap over it, sealed read-only for every later mapping (the app's) while ours stays writable.
 * Every region is created at an address from the reserved range that the app maps too.
 *
 * Breakage: the ring handles detect an app that published impossible indices (-EPROTO). The first
 * time a helper sees that, it sets `broken` and writes the service's broken_fd so the control
 * thread, which owns the port's life, drops the app. The runtime thread never frees anything. */
#include "app_port_internal.h"

#include "phoenix/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#define SLOT_SIZE ((uint32_t)sizeof(phx_desc_t))

static size_t align_up(size_t v, size_t a)
{
    return (v + a - 1) / a * a;
}

/* ---- creation ------------------------------------------------------------------------------ */

struct port_sizes {
    unsigned depth;
    size_t   send, recv, slab;
};

static int sizes_from_params(const struct phx_app_port_params *p, struct port_sizes *s,
                             char *err, size_t errlen)
{
    uint64_t mask = p ? p->field_mask : 0;

    s->depth = mask & PHX_APP_PORT_PARAM_FIELD_DEPTH ? p->depth : PHX_APP_PORT_DEFAULT_DEPTH;
    s->send = mask & PHX_APP_PORT_PARAM_FIELD_SEND_SIZE ? p->send_size
                                                        : PHX_APP_PORT_DEFAULT_HEAP_SIZE;
    s->recv = mask & PHX_APP_PORT_PARAM_FIELD_RECV_SIZE ? p->recv_size
                                                        : PHX_APP_PORT_DEFAULT_HEAP_SIZE;
    s->slab = mask & PHX_APP_PORT_PARAM_FIELD_SLAB_SIZE ? p->slab_size
                                                        : PHX_HEAP_DEFAULT_SLAB_SIZE;
    if (s->slab < PHX_HEAP_MIN_SLAB_SIZE)
        s->slab = PHX_HEAP_MIN_SLAB_SIZE;
    if (!phx_app_port_depth_valid(s->depth)) {
        snprintf(err, errlen, "ring depth %u is not a power of two in [2, %u]", s->depth,
                 PHX_APP_PORT_MAX_DEPTH);
        return -EINVAL;
    }
    if (s->send < s->slab || s->recv < s->slab) {
        snprintf(err, errlen, "heaps of %zu and %zu bytes cannot hold one slab of %zu bytes",
                 s->send, s->recv, s->slab);
        return -EINVAL;
    }
    return 0;
}

static int region_create(phx_shm_region_t *r, const char *name, size_t size, int prot)
{
    struct phx_shm_region_params rp = {
        .field_mask = PHX_SHM_REGION_PARAM_FIELD_NAME | PHX_SHM_REGION_PARAM_FIELD_SIZE |
                      PHX_SHM_REGION_PARAM_FIELD_PROT,
        .name = name,
        .size = size,
        .prot = prot,
    };
    return phx_shm_region_create(r, &rp);
}

static int rings_create(phx_app_port_t *port, unsigned depth)
{
    struct phx_app_port_layout *l = &port->layout;

    l->depth = depth;
    l->ring_size = phx_ring_mem_size(SLOT_SIZE, depth);
    l->sq_offset = 0;
    l->cq_offset = align_up(l->ring_size, PHX_RING_ALIGN);
    int rc = region_create(&port->rings, "phoenix-rings", l->cq_offset + l->ring_size,
                           PROT_READ | PROT_WRITE);
    if (rc < 0)
        return rc;
    unsigned char *base = port->rings.base;
    l->rings_addr = (uintptr_t)base;
    l->rings_size = port->rings.size;
    if ((rc = phx_ring_format(base + l->sq_offset, l->ring_size, SLOT_SIZE, depth)) < 0 ||
        (rc = phx_ring_format(base + l->cq_offset, l->ring_size, SLOT_SIZE, depth)) < 0)
        return rc;
    port->sq_doorbell = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    port->cq_doorbell = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (port->sq_doorbell < 0 || port->cq_doorbell < 0)
        return -errno;
    return phx_app_port_rings_attach(l, base, &port->sq, port->sq_doorbell, &port->cq,
                                     port->cq_doorbell);
}

static int heaps_create(phx_app_port_t *port, const struct port_sizes *s)
{
    struct phx_app_port_layout *l = &port->layout;
    int rc = region_create(&port->send, "phoenix-send-heap", s->send, PROT_READ);

    if (rc < 0 || (rc = region_create(&port->recv, "phoenix-recv-heap", s->recv,
                                      PROT_READ | PROT_WRITE)) < 0)
        return rc;
    struct phx_heap_params hp = { .field_mask = PHX_HEAP_PARAM_FIELD_SLAB_SIZE,
                                  .slab_size = s->slab };
    port->recv_heap = phx_heap_create(&port->recv, &hp);
    if (!port->recv_heap)
        return -errno;
    if ((rc = phx_shm_region_seal_readonly(&port->recv)) < 0)
        return rc;
    l->send_addr = (uintptr_t)port->send.base;
    l->send_size = port->send.size;
    l->recv_addr = (uintptr_t)port->recv.base;
    l->recv_size = port->recv.size;
    l->slab_size = s->slab;
    return 0;
}

static phx_app_port_t *port_alloc(void)
{
    phx_app_port_t *port = calloc(1, sizeof(*port));

    if (!port)
        return NULL;
    port->rings.fd = port->send.fd = port->recv.fd = -1;
    port->sq_doorbell = port->cq_doorbell = port->broken_fd = -1;
    return port;
}

phx_app_port_t *phx_app_port_create(const struct phx_app_port_params *p, char *err,
                                    size_t errlen)
{
    struct port_sizes s;
    int rc = sizes_from_params(p, &s, err, errlen);
    phx_app_port_t *port = rc < 0 ? NULL : port_alloc();

    if (rc == 0 && !port) {
        snprintf(err, errlen, "out of memory");
        rc = -ENOMEM;
    }
    if (rc < 0) {
        errno = -rc;
        return NULL;
    }
    if (p && (p->field_mask & PHX_APP_PORT_PARAM_FIELD_CRED)) {
        port->pid = p->pid;
        port->uid = p->uid;
        port->gid = p->gid;
    }
    if (p && (p->field_mask & PHX_APP_PORT_PARAM_FIELD_BROKEN_FD))
        port->broken_fd = p->broken_fd;
    if ((rc = rings_create(port, s.depth)) < 0 || (rc = heaps_create(port, &s)) < 0) {
        snprintf(err, errlen, "cannot create the shared memory of an app port: %s",
                 strerror(-rc));
        phx_app_port_destroy(port);
        errno = -rc;
        return NULL;
    }
    return port;
}

void phx_app_port_destroy(phx_app_port_t *port)
{
    if (!port)
        return;
    phx_app_port_mem_release(port->recv_heap, &port->rings, &port->send, &port->recv,
                             port->sq_doorbell, port->cq_doorbell);
    free(port);
}

void phx_app_port_fds(const phx_app_port_t *port, int fds[PHX_APP_PORT_NFDS])
{
    fds[PHX_APP_PORT_FD_RINGS] = port->rings.fd;
    fds[PHX_APP_PORT_FD_SQ_DOORBELL] = port->sq_doorbell;
    fds[PHX_APP_PORT_FD_CQ_DOORBELL] = port->cq_doorbell;
    fds[PHX_APP_PORT_FD_SEND] = port->send.fd;
    fds[PHX_APP_PORT_FD_RECV] = port->recv.fd;
}

/* ---- the front engine's helpers ------------------------------------------------------------ */

/* Records that the app broke a ring and tells the control thread, once. */
static int port_break(phx_app_port_t *port)
{
    static const uint64_t one = 1;

    if (__atomic_exchange_n(&port->broken, 1, __ATOMIC_ACQ_REL))
        return -EPROTO;
    phx_warn("app pid %d broke its rings (impossible index): dropping it", (int)port->pid);
    if (port->broken_fd >= 0 && write(port->broken_fd, &one, sizeof(one)) < 0)
        phx_warn("cannot signal the broken port of pid %d: %s", (int)port->pid,
                 strerror(errno));
    return -EPROTO;
}

bool phx_app_port_is_broken(const phx_app_port_t *port)
{
    return __atomic_load_n(&port->broken, __ATOMIC_ACQUIRE) != 0;
}

int phx_app_port_pop_submissions(phx_app_port_t *port, phx_desc_t *descs, unsigned max)
{
    if (phx_app_port_is_broken(port))
        return -EPROTO;
    int n = phx_ring_pop(&port->sq, descs, max);
    return n < 0 ? port_break(port) : n;
}

static int cq_push(phx_app_port_t *port, const phx_desc_t *descs, unsigned n)
{
    if (phx_app_port_is_broken(port))
        return -EPROTO;
    int pushed = phx_ring_push(&port->cq, descs, n);
    return pushed < 0 ? port_break(port) : pushed;
}

static int cq_notify(phx_app_port_t *port)
{
    int rc = phx_ring_notify(&port->cq);

    if (rc < 0)
        phx_debug("cq doorbell of pid %d: %s", (int)port->pid, strerror(-rc));
    return rc == 1;
}

int phx_app_port_complete(phx_app_port_t *port, const phx_desc_t *descs, unsigned n)
{
    int pushed = cq_push(port, descs, n);

    if (pushed > 0)
        cq_notify(port);
    return pushed;
}

int phx_app_port_push_completions(phx_app_port_t *port, const phx_desc_t *descs, unsigned n)
{
    int pushed = cq_push(port, descs, n);

    if (pushed > 0)
        port->cq_owed = true;
    return pushed;
}

int phx_app_port_notify(phx_app_port_t *port)
{
    if (!port->cq_owed)
        return 0;
    port->cq_owed = false;
    return cq_notify(port);
}

int phx_app_port_arm(phx_app_port_t *port, phx_wait_t *w)
{
    w->fd = -1;
    w->timeout_ms = -1;
    if (phx_app_port_is_broken(port))
        return 0;
    if (!phx_ring_prepare_sleep(&port->sq)) {
        phx_ring_cancel_sleep(&port->sq);      /* a ring meanwhile: the next sleep drains it */
        if (phx_ring_is_broken(&port->sq)) {
            port_break(port);
            return 0;
        }
        return 1;
    }
    w->fd = port->sq_doorbell;
    return 0;
}

void phx_app_port_disarm(phx_app_port_t *port, bool rung)
{
    if (rung)
        phx_ring_finish_sleep(&port->sq);
    else
        phx_ring_cancel_sleep(&port->sq);
}

bool phx_app_port_send_contains(const phx_app_port_t *port, uint64_t addr, uint64_t len)
{
    return phx_shm_region_contains(&port->send, (const void *)(uintptr_t)addr, (size_t)len);
}

/* ---- accessors ------------------------------------------------------------------------------ */

phx_heap_t *phx_app_port_recv_heap(phx_app_port_t *port)
{
    return port->recv_heap;
}

const phx_shm_region_t *phx_app_port_send_region(const phx_app_port_t *port)
{
    return &port->send;
}

const phx_shm_region_t *phx_app_port_recv_region(const phx_app_port_t *port)
{
    return &port->recv;
}

const struct phx_app_port_layout *phx_app_port_layout(const phx_app_port_t *port)
{
    return &port->layout;
}

pid_t phx_app_port_pid(const phx_app_port_t *port)
{
    return port->pid;
}

uid_t phx_app_port_uid(const phx_app_port_t *port)
{
    return port->uid;
}
