/* app_port.h - the shared memory between one app registration and the service: rings and heaps.
 *
 * The service creates a port for every subscription and hands its file descriptors to the app
 * over the control socket; the app maps everything at the same addresses (client.h):
 *
 *   rings region   submission ring (app -> service) then completion ring (service -> app), each a
 *                  phx_ring_t of phx_desc_t slots, `depth` deep, both in one memfd
 *   sq doorbell    eventfd the service sleeps on when the submission ring is empty
 *   cq doorbell    eventfd the app sleeps on when the completion ring is empty
 *   send heap      the app allocates and writes its outgoing messages there; the service maps it
 *                  read-only and checks every address against it (phx_app_port_send_contains)
 *   recv heap      the service writes incoming messages there with `recv_heap`; the memfd is
 *                  sealed so the app can only map it read-only
 *
 * The app is untrusted: it may scribble over both ring headers at any time. The service's ring
 * handles keep their own geometry; the first impossible index makes the ring, and with it the
 * port, broken: every later call returns -EPROTO, the port writes its `broken_fd` once, and the
 * service drops the app. A front engine (chain[0]) uses only the helpers below, from its runtime
 * thread. `struct phx_app_port` is opaque outside core (its definition is core/lib's
 * app_port_internal.h): plugins reach the port through these functions, so its layout may change
 * without breaking them. */
#ifndef PHOENIX_APP_PORT_H
#define PHOENIX_APP_PORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "phoenix/desc.h"
#include "phoenix/engine.h"
#include "phoenix/heap.h"
#include "phoenix/port_layout.h"
#include "phoenix/ring.h"
#include "phoenix/shm_region.h"

#define PHX_APP_PORT_DEFAULT_DEPTH     1024u
#define PHX_APP_PORT_DEFAULT_HEAP_SIZE (64ull << 20)

enum {
    PHX_APP_PORT_PARAM_FIELD_DEPTH     = 1u << 0,   /* default PHX_APP_PORT_DEFAULT_DEPTH */
    PHX_APP_PORT_PARAM_FIELD_SEND_SIZE = 1u << 1,   /* default PHX_APP_PORT_DEFAULT_HEAP_SIZE */
    PHX_APP_PORT_PARAM_FIELD_RECV_SIZE = 1u << 2,   /* default PHX_APP_PORT_DEFAULT_HEAP_SIZE */
    PHX_APP_PORT_PARAM_FIELD_SLAB_SIZE = 1u << 3,   /* default PHX_HEAP_DEFAULT_SLAB_SIZE */
    PHX_APP_PORT_PARAM_FIELD_CRED      = 1u << 4,   /* pid, uid, gid; default 0 */
    PHX_APP_PORT_PARAM_FIELD_BROKEN_FD = 1u << 5,   /* default -1: nobody is told */
};

struct phx_app_port_params {
    uint64_t field_mask;
    unsigned depth;         /* slots per ring, a power of two in [2, PHX_APP_PORT_MAX_DEPTH] */
    size_t   send_size;     /* bytes; at least one slab */
    size_t   recv_size;
    size_t   slab_size;     /* recv heap slab; raised to PHX_HEAP_MIN_SLAB_SIZE if smaller */
    pid_t    pid;
    uid_t    uid;
    gid_t    gid;
    int      broken_fd;     /* eventfd written (1) when the port breaks, e.g. the service's */
};

/* Creates the regions, rings, doorbells and the recv heap. NULL with errno and a sentence in ERR. */
phx_app_port_t *phx_app_port_create(const struct phx_app_port_params *p, char *err,
                                    size_t errlen);
/* Unmaps and closes everything. NULL is ignored. */
void            phx_app_port_destroy(phx_app_port_t *port);

/* The descriptors to send to the app, indexed by enum phx_app_port_fd (still owned by PORT). */
void phx_app_port_fds(const phx_app_port_t *port, int fds[PHX_APP_PORT_NFDS]);

/* ---- for the front engine, on its runtime thread ----------------------------------------- */

/* Pops up to MAX submissions. Returns how many, or -EPROTO once the port is broken. Descriptors
 * are copies, but their contents are the app's: validate addr/len before use. */
int  phx_app_port_pop_submissions(phx_app_port_t *port, phx_desc_t *descs, unsigned max);

/* Pushes up to N completions and rings the app's doorbell if it sleeps. Returns how many fit
 * (0: the app is not keeping up; retry later), or -EPROTO once the port is broken. */
int  phx_app_port_complete(phx_app_port_t *port, const phx_desc_t *descs, unsigned n);

/* The two halves of phx_app_port_complete(), for an engine that completes several things in one
 * progress(): push each without the doorbell (same returns), then phx_app_port_notify() once,
 * before progress() returns: until then the app may sleep with them queued. notify rings only
 * if something was pushed since the last notify and the app sleeps (at most once per sleep);
 * 1 if it rang, else 0. A sleeping app is thus woken once per pass, with everything the pass
 * had for it, instead of at the first completion (which, on a core it shares with the service,
 * can preempt the service in the middle of its pass). Runtime thread only. */
int  phx_app_port_push_completions(phx_app_port_t *port, const phx_desc_t *descs, unsigned n);
int  phx_app_port_notify(phx_app_port_t *port);

/* The runtime wants to sleep: returns 0 with W set to the sq doorbell when no submission is
 * queued (call phx_app_port_disarm() after waking), 1 when there is work after all. A broken port
 * returns 0 with no fd: it has nothing more to say. */
int  phx_app_port_arm(phx_app_port_t *port, phx_wait_t *w);
/* After the sleep: RUNG when the runtime saw the doorbell readable (phx_engine_woken()), which
 * drains it; otherwise only the flag is cleared (phx_ring_cancel_sleep(): no system call for a
 * wake-up the app did not cause, e.g. a reply coming in from the network). */
void phx_app_port_disarm(phx_app_port_t *port, bool rung);

bool phx_app_port_is_broken(const phx_app_port_t *port);
/* True when [ADDR, ADDR + LEN) lies inside the app's send heap. */
bool phx_app_port_send_contains(const phx_app_port_t *port, uint64_t addr, uint64_t len);

/* ---- accessors: the port's parts a plugin may use (any thread; they never change) ---------- */

/* The heap over the recv region, where the service allocates what it delivers to the app. */
phx_heap_t             *phx_app_port_recv_heap(phx_app_port_t *port);
/* The app's send region (mapped read-only here) and the recv region (writable here). */
const phx_shm_region_t *phx_app_port_send_region(const phx_app_port_t *port);
const phx_shm_region_t *phx_app_port_recv_region(const phx_app_port_t *port);
/* Where the app maps everything (what RegisterReply carries). */
const struct phx_app_port_layout *phx_app_port_layout(const phx_app_port_t *port);
/* The registered app's credentials, as the control socket saw them. */
pid_t phx_app_port_pid(const phx_app_port_t *port);
uid_t phx_app_port_uid(const phx_app_port_t *port);

#endif /* PHOENIX_APP_PORT_H */
