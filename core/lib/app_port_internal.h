/* app_port_internal.h - the inside of an app port, for core only (see phoenix/app_port.h).
 *
 * Plugins see `struct phx_app_port` as an opaque type and use the accessors of app_port.h; the
 * service (app_port.c, service.c, control_server.c) and core's own tests read the fields here.
 * Keeping it out of the SDK lets the port change its layout without breaking built plugins. */
#ifndef PHX_APP_PORT_INTERNAL_H
#define PHX_APP_PORT_INTERNAL_H

#include "phoenix/app_port.h"

struct phx_app_port {
    phx_shm_region_t rings;
    phx_shm_region_t send;          /* mapped read-only here */
    phx_shm_region_t recv;          /* writable here, read-only for the app */
    phx_ring_t       sq;            /* we consume */
    phx_ring_t       cq;            /* we produce */
    int              sq_doorbell;
    int              cq_doorbell;
    phx_heap_t      *recv_heap;
    struct phx_app_port_layout layout;
    pid_t            pid;
    uid_t            uid;
    gid_t            gid;
    int              broken_fd;     /* not owned */
    int              broken;        /* atomic: set once by the runtime thread */
    bool             cq_owed;       /* pushed without the doorbell (runtime thread only) */
};

#endif /* PHX_APP_PORT_INTERNAL_H */
