/* desc.h - the fixed-size descriptor that moves through every ring and channel.
 *
 * A descriptor never carries payload: it names a message by its address in a shared heap (valid at
 * the same address in the app and the service) and its length. One descriptor is one cache line,
 * so a ring slot never straddles two. Core kinds are below 0x100; a service (mRPC) defines its own
 * kinds from PHX_DESC_SERVICE_BASE up. */
#ifndef PHOENIX_DESC_H
#define PHOENIX_DESC_H

#include <stdint.h>

enum phx_desc_kind {
    PHX_DESC_NONE        = 0,
    PHX_DESC_DATA        = 1,    /* generic message, used by test and loopback services */
    PHX_DESC_ERROR       = 2,    /* completion: `status` says why, `call_id` says which */
    PHX_DESC_SHUTDOWN    = 3,    /* completion: the service is stopping; no more work */
    PHX_DESC_SERVICE_BASE = 0x100,
};

typedef struct phx_desc {
    uint16_t kind;          /* enum phx_desc_kind or a service's own kinds */
    uint16_t flags;
    int32_t  status;        /* phx_status_t, for completions */
    uint32_t conn_id;       /* connection (or binding) the message belongs to */
    uint32_t service_id;    /* RPC service and method, from protoc-gen-mrpc's stable ids */
    uint32_t method_id;
    uint32_t reserved;
    uint64_t call_id;       /* matches a reply to its call */
    uint64_t addr;          /* message address in a shared heap */
    uint64_t len;           /* message length in bytes */
    uint64_t user;          /* the app's token; the service hands it back untouched */
    uint64_t seq;           /* per-direction sequence number (ordering checks, tracing) */
} phx_desc_t;

_Static_assert(sizeof(phx_desc_t) == 64, "a descriptor is one cache line");

#endif /* PHOENIX_DESC_H */
