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

/* Some fields mean something else for some kinds; as in io_uring_sqe, every such meaning has its
 * own name in an anonymous union, so code says which one it uses. The names are listed with the
 * kinds that use them (mRPC's: mrpc/app_proto.h, mrpc/transport.h). `reserved` must be zero in
 * every descriptor whose kind gives that field no other name: readers of untrusted descriptors
 * refuse it otherwise, so that a later kind can give it a meaning. */
typedef struct phx_desc {
    uint16_t kind;          /* enum phx_desc_kind or a service's own kinds */
    uint16_t flags;
    int32_t  status;        /* phx_status_t, for completions */
    uint32_t conn_id;       /* connection (or binding) the message belongs to */
    uint32_t service_id;    /* RPC service and method, from protoc-gen-mrpc's stable ids */
    uint32_t method_id;
    union {
        uint32_t reserved;           /* must be 0 unless the kind names the field otherwise */
        uint32_t call_timeout_ms;    /* mRPC CALL: the call's timeout, 0: the service default */
    };
    union {
        uint64_t call_id;            /* matches a reply to its call */
        uint64_t proto_version;      /* mRPC WELCOME: MRPC_APP_PROTO_VERSION */
        uint64_t binding_id;         /* mRPC transport ACCEPTED: the binding it arrived on */
    };
    uint64_t addr;          /* message address in a shared heap */
    uint64_t len;           /* message length in bytes */
    union {
        uint64_t user;               /* the app's token; the service hands it back untouched */
        uint64_t service_timeout_ms; /* mRPC WELCOME: the service's default call timeout */
        uint64_t type_hash;          /* mRPC transport RECEIVED: the payload's layout hash */
    };
    uint64_t seq;           /* per-direction sequence number (ordering checks, tracing) */
} phx_desc_t;

_Static_assert(sizeof(phx_desc_t) == 64, "a descriptor is one cache line");
/* The unions keep every field where it always was: rings and the wire never changed. */
_Static_assert(__builtin_offsetof(phx_desc_t, reserved) == 20, "reserved at 20");
_Static_assert(__builtin_offsetof(phx_desc_t, call_id) == 24, "call_id at 24");
_Static_assert(__builtin_offsetof(phx_desc_t, user) == 48, "user at 48");
_Static_assert(__builtin_offsetof(phx_desc_t, seq) == 56, "seq at 56");

#endif /* PHOENIX_DESC_H */
