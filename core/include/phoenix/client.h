/* client.h - the app side of a registration with phoenixd: rings, heaps and the control socket.
 *
 * phx_client_register() connects to $prefix/control.sock, asks for a subscription to a service,
 * receives the subscription's file descriptors and maps the rings and heaps at the addresses the
 * service chose (app_port.h explains the layout). From then on the app talks to its engines only
 * through shared memory:
 *
 *     phx_client_t *c = phx_client_register(&(struct phx_client_params){
 *         .field_mask = PHX_CLIENT_PARAM_FIELD_SERVICE, .service = "mrpc" }, err, sizeof(err));
 *     void *msg = phx_heap_alloc(phx_client_send_heap(c), len);   // write the message there
 *     phx_client_submit(c, &desc, 1);                              // desc.addr = msg
 *     n = phx_client_wait(c, done, 64, 1000);                      // completions
 *
 * The control socket stays open as long as the client: its hang-up is how the service learns the
 * app is gone (and frees everything), and the service's hang-up is how the app learns the service
 * is gone (phx_client_wait returns -EPIPE). A client is used from one thread at a time.
 *
 * control.h has the raw request/response exchange on the control socket, for admin tools. */
#ifndef PHOENIX_CLIENT_H
#define PHOENIX_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "phoenix/desc.h"
#include "phoenix/heap.h"

#define PHX_DEFAULT_PREFIX        "/run/phoenix"
#define PHX_CONTROL_SOCKET_NAME   "control.sock"
#define PHX_CONTROL_MAX_REQUEST   (64u << 10)   /* the service refuses larger datagrams */
#define PHX_CONTROL_MAX_RESPONSE  (1u << 20)
#define PHX_CONTROL_TIMEOUT_MS    10000         /* default wait for a response */

enum {
    PHX_CLIENT_PARAM_FIELD_PREFIX     = 1u << 0,  /* default $PHOENIX_PREFIX, else /run/phoenix */
    PHX_CLIENT_PARAM_FIELD_SERVICE    = 1u << 1,  /* required */
    PHX_CLIENT_PARAM_FIELD_RING_DEPTH = 1u << 2,  /* default: the service's */
    PHX_CLIENT_PARAM_FIELD_SPIN_US    = 1u << 3,  /* phx_client_wait's busy poll; default
                                                     $PHOENIX_CLIENT_SPIN_US, else 50 */
};

struct phx_client_params {
    uint64_t    field_mask;
    const char *prefix;
    const char *service;     /* "mrpc", "loopback", ... */
    unsigned    ring_depth;  /* power of two */
    unsigned    spin_us;
};

typedef struct phx_client phx_client_t;

/* Registers with the service. NULL with errno and one sentence in ERR: ECONNREFUSED/ENOENT when
 * no service listens (the sentence says how to start one), ENOENT for an unknown service, EACCES,
 * EBUSY when the service is full, EPROTO for a reply that makes no sense, EINVAL for a malformed
 * $PHOENIX_CLIENT_SPIN_US. */
phx_client_t *phx_client_register(const struct phx_client_params *p, char *err, size_t errlen);

/* Hangs up: the service tears the subscription down. Unmaps everything. NULL is ignored. */
void          phx_client_close(phx_client_t *c);

/* Pushes up to N submissions and rings the service's doorbell if it sleeps. Returns how many fit
 * (0: the ring is full, back-pressure), or -EPROTO when the ring is corrupt. */
int           phx_client_submit(phx_client_t *c, const phx_desc_t *descs, unsigned n);

/* The two halves of phx_client_submit(), for an app that makes several submissions in a row
 * (answers to a batch of completions): push each without the doorbell, then notify once. Until
 * phx_client_notify() the service may sleep with the pushed submissions queued, so call it before
 * waiting (phx_client_wait() does not) and before leaving the code that pushed. notify rings only
 * when the service sleeps, and at most once per sleep; it returns 1 if it rang, else 0. */
int           phx_client_push(phx_client_t *c, const phx_desc_t *descs, unsigned n);
int           phx_client_notify(phx_client_t *c);

/* Pops up to MAX completions without blocking. Returns how many, or -EPROTO. */
int           phx_client_poll(phx_client_t *c, phx_desc_t *descs, unsigned max);

/* Like poll, but waits up to TIMEOUT_MS (-1: no limit) for at least one completion: polls for
 * spin_us (see PHX_CLIENT_PARAM_FIELD_SPIN_US), yielding the core after each empty poll, then sleeps on the completion
 * doorbell and the control socket. Returns how many (0 on timeout), -EPIPE once the service has
 * hung up, or -EPROTO. */
int           phx_client_wait(phx_client_t *c, phx_desc_t *descs, unsigned max, int timeout_ms);

/* The completion doorbell, for an app's own poll loop: readable when completions may be queued.
 * Before sleeping on it, call phx_client_poll(); see phx_client_wait() for the race-free way. */
int           phx_client_event_fd(const phx_client_t *c);
/* The control socket: POLLHUP/POLLIN with EOF means the service is gone. */
int           phx_client_control_fd(const phx_client_t *c);
unsigned      phx_client_sid(const phx_client_t *c);

/* The send heap (allocate outgoing messages here; thread-safe) and the receive heap's mapping
 * (read-only: incoming messages are const). */
phx_heap_t   *phx_client_send_heap(phx_client_t *c);
const void   *phx_client_recv_base(const phx_client_t *c);
size_t        phx_client_recv_size(const phx_client_t *c);

#endif /* PHOENIX_CLIENT_H */
