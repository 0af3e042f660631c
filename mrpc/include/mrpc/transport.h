/* transport.h - the contract between MrpcEngine and a transport engine (UcxRpcAdapterEngine).
 *
 * Inside one app's subscription the chain is MrpcEngine -tx-> [policies] -tx-> transport, and
 * back on rx. MrpcEngine marshals (mrpc/marshal) and the transport moves bytes; policies spliced
 * between them see these descriptors. Kinds, fields and ownership:
 *
 * tx (MrpcEngine -> transport)
 *   MRPC_DESC_BIND     conn_id = binding id chosen by MrpcEngine; addr -> NUL-terminated
 *                      "host:port" in service memory, owned by MrpcEngine until BOUND arrives,
 *                      in a buffer with MRPC_CONN_REASON_MAX more bytes after the NUL, where a
 *                      transport refusing it writes why (mrpc_conn_reason_put).
 *   MRPC_DESC_CONNECT  conn_id = connection id chosen by MrpcEngine (< MRPC_CONN_ACCEPTED_BASE);
 *                      addr -> "host:port" as for BIND, until CONNECTED arrives.
 *   MRPC_DESC_CLOSE    conn_id: close that connection or binding; no answer.
 *   MRPC_DESC_SEND     conn_id, call_id; addr -> struct mrpc_wire_msg, owned by MrpcEngine; the
 *                      transport hands it back with SENT (status OK or why not) exactly once.
 *                      A policy may answer it with SENT itself (a refusal): it writes its
 *                      sentence into the message's `reason` first, and the transport never sees
 *                      the SEND.
 *
 * rx (transport -> MrpcEngine)
 *   MRPC_DESC_BOUND      conn_id (binding), status; a failed bind says why in the log and,
 *                        when len covers more than the address, in a sentence after the
 *                        address's NUL in the BIND's buffer (mrpc_conn_reason_get); CONNECTED too.
 *   MRPC_DESC_CONNECTED  conn_id, status (UNAVAILABLE when nobody listens).
 *   MRPC_DESC_ACCEPTED   conn_id = new id >= MRPC_CONN_ACCEPTED_BASE chosen by the transport,
 *                        binding_id = the binding it arrived on; addr/len -> the caller's
 *                        struct mrpc_peer_info (0/0 from a transport that knows nothing of it).
 *                        The transport owns it and keeps it until the connection's CONN_LOST
 *                        or CLOSE: a reader that needs it longer copies it.
 *   MRPC_DESC_SENT       addr = the mrpc_wire_msg of a SEND, status; when status is not OK and
 *                        the message's `reason` is not empty, a policy refused the message and
 *                        reason says why: a CALL's caller fails with status and that sentence,
 *                        a REPLY's or ERROR's remote caller gets an ERROR with them.
 *   MRPC_DESC_RECEIVED   conn_id, call_id, service_id, method_id, status = the wire header's;
 *                        flags = MRPC_WIRE_* kind | format << 8; type_hash = the header's;
 *                        addr/len = the payload landed in the app's receive heap (allocated by
 *                        the transport from phx_app_port_t.recv_heap, aligned to 16; MrpcEngine
 *                        owns it from here).
 *   MRPC_DESC_CONN_LOST  conn_id, status UNAVAILABLE: the peer died or closed; every SEND still
 *                        pending on it has come back as SENT with an error first.
 *   MRPC_DESC_REFUSED    a policy refused a RECEIVED message on its way up: conn_id, call_id,
 *                        service_id, method_id and flags as the RECEIVED had them, status = the
 *                        policy's (not OK); addr/len = the policy's sentence, NUL-terminated (len
 *                        counts the NUL), in a block of the app's receive heap that MrpcEngine
 *                        frees, or 0/0 (no room: a generic sentence is used). The payload is gone
 *                        (the policy freed it). A CALL's caller is answered with an ERROR of that
 *                        status and sentence; a REPLY's or ERROR's call fails with them; a CANCEL
 *                        is dropped.
 *   MRPC_DESC_ANSWERED   a policy answered a RECEIVED CALL itself (phx_verdict_reply): conn_id,
 *                        call_id, service_id, method_id and flags as the RECEIVED had them;
 *                        type_hash = the method's output type's layout hash; addr/len = the
 *                        REPLY's native payload, encoded by the policy, in a block of the app's
 *                        receive heap that MrpcEngine frees. The call's payload is gone (the
 *                        policy freed it). MrpcEngine sends the caller a REPLY with a copy of
 *                        those bytes, which the caller's service decodes and checks as any reply;
 *                        the app never sees the call. (On tx, a policy answers a CALL with SENT,
 *                        status OK, then a RECEIVED REPLY of its own making: nothing new.)
 *   MRPC_DESC_DROPPED    a valid message that did not land: conn_id, call_id, service_id,
 *                        method_id as its header says, flags = its MRPC_WIRE_* kind, len = its
 *                        payload length, status = why (RESOURCE_EXHAUSTED: the app's receive
 *                        heap had no room). Nothing to free. A transport may leave some out (it
 *                        counts them); an engine that does not know the kind ignores it.
 *
 * On the wire a message is one active message: the fixed mrpc_wire_hdr as the AM header, then the
 * payload (the gathered iov). A transport may move small pieces of the payload into the AM header
 * (head_len bytes after the struct) so that one large piece travels as contiguous data with a
 * memory handle: the payload is then head[0..head_before) + the AM's data + head[head_before..).
 * MrpcEngine leaves both head fields 0. A transport may also carry several small messages of one
 * connection in one active message, a batch: a struct mrpc_wire_batch and `count` wire headers
 * (head fields 0) as the AM header, their payloads back to back as the data.
 *
 * Flow control (version 3): every message, alone or in a batch, spends one of the sender's
 * credits on its connection; the receiver grants them back (struct mrpc_wire_credit, an AM of its
 * own) once it has handed the messages up or dropped them. A sender out of credits waits. A peer
 * that sends frames of an older version grants nothing and is not limited.
 *
 * Everything in a header or payload from the network is untrusted: the transport checks magic,
 * version and lengths (payload_len == the AM's length plus head_len, at most the configured
 * maximum) before anything is allocated, and counts and drops what fails. */
#ifndef MRPC_TRANSPORT_H
#define MRPC_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "mrpc/app_proto.h"     /* MRPC_CONN_ACCEPTED_BASE: one id space end to end */
#include "phoenix/desc.h"

enum mrpc_desc_kind {
    /* app <-> MrpcEngine kinds are in mrpc/app_proto.h, from PHX_DESC_SERVICE_BASE */
    MRPC_DESC_BIND       = PHX_DESC_SERVICE_BASE + 0x40,
    MRPC_DESC_CONNECT,
    MRPC_DESC_CLOSE,
    MRPC_DESC_SEND,
    MRPC_DESC_BOUND      = PHX_DESC_SERVICE_BASE + 0x60,
    MRPC_DESC_CONNECTED,
    MRPC_DESC_ACCEPTED,
    MRPC_DESC_SENT,
    MRPC_DESC_RECEIVED,
    MRPC_DESC_CONN_LOST,
    MRPC_DESC_DROPPED,
    MRPC_DESC_REFUSED,
    MRPC_DESC_ANSWERED,
};

#define MRPC_CONN_REASON_MAX    256u     /* bytes after a BIND/CONNECT address's NUL */

/* Who is on the other side of an accepted connection, as the transport's wire-up learned it
 * (ACCEPTED's addr/len). `uid`/`gid` come from the peer's authentication (MUNGE: the uid the
 * credential was made by, on a node of the same realm); MRPC_PEER_UID_UNKNOWN when the peer was
 * not authenticated. `addr` is the peer's numeric "host:port" ("[v6]:port"), NUL-terminated. */
#define MRPC_PEER_ADDR_MAX      64u
#define MRPC_PEER_UID_UNKNOWN   UINT32_MAX
enum mrpc_peer_flags { MRPC_PEER_AUTHENTICATED = 1u << 0 };

struct mrpc_peer_info {
    uint32_t flags;                   /* enum mrpc_peer_flags */
    uint32_t uid, gid;                /* MRPC_PEER_UID_UNKNOWN unless AUTHENTICATED */
    uint32_t reserved;                /* 0 */
    char     addr[MRPC_PEER_ADDR_MAX];
};

/* The transport's answer D (BOUND, CONNECTED: a copy of the BIND or CONNECT) says why it failed:
 * REASON, cut to fit, goes after the address's NUL in the request's buffer, and len covers it. */
static inline void mrpc_conn_reason_put(phx_desc_t *d, const char *reason)
{
    char *addr = (char *)(uintptr_t)d->addr;

    if (!addr || !reason || !reason[0])
        return;
    size_t at = strlen(addr) + 1, n = strnlen(reason, MRPC_CONN_REASON_MAX - 1);
    memcpy(addr + at, reason, n);
    addr[at + n] = '\0';
    d->len = at + n + 1;
}

/* The reason a transport wrote for D into BUF (the request's address buffer of SIZE bytes, its
 * address NUL-terminated), or NULL. */
static inline const char *mrpc_conn_reason_get(const phx_desc_t *d, const char *buf, size_t size)
{
    size_t at = strnlen(buf, size) + 1;

    if (at >= size || d->len <= at || !memchr(buf + at, '\0', size - at))
        return NULL;
    return buf + at;
}

#define MRPC_WIRE_MAGIC    0x4d525043u    /* "MRPC" */
#define MRPC_WIRE_VERSION  3              /* 3: credits; 2: head bytes in the AM header, batches */
#define MRPC_WIRE_VERSION_MIN 1           /* oldest a receiver takes: 1 had neither */
#define MRPC_WIRE_CREDIT_VERSION 3        /* first version whose peers grant credits */
#define MRPC_WIRE_HEAD_MAX 1024           /* payload bytes an AM header may carry (head_len) */
#define MRPC_WIRE_BATCH_MAGIC 0x4d524242u /* "MRBB" */
#define MRPC_WIRE_BATCH_MAX   32          /* messages in one batch */
#define MRPC_WIRE_BATCH_VERSION 2         /* first version with batches */
#define MRPC_WIRE_CREDIT_MAGIC 0x4d524343u /* "MRCC" */
#define MRPC_WIRE_WINDOW      256         /* messages a sender may have unacknowledged */

/* CANCEL (header only, payload empty): the caller gave up on call_id; a receiver that does not
 * know the kind drops it (MrpcEngine before it did), so it needs no new wire version. */
enum mrpc_wire_kind   { MRPC_WIRE_CALL = 1, MRPC_WIRE_REPLY = 2, MRPC_WIRE_ERROR = 3,
                        MRPC_WIRE_CANCEL = 4 };
enum mrpc_wire_format { MRPC_FORMAT_NATIVE = 1 };

/* The AM header of every message. An ERROR carries status and a UTF-8 message as payload. */
struct mrpc_wire_hdr {
    uint32_t magic;
    uint16_t version;
    uint8_t  kind;          /* enum mrpc_wire_kind */
    uint8_t  format;        /* enum mrpc_wire_format */
    uint32_t service_id;
    uint32_t method_id;
    uint64_t call_id;       /* chosen by the caller, echoed by the reply */
    int32_t  status;        /* phx_status_t, for replies and errors */
    uint16_t head_len;      /* payload bytes carried in the AM header after this struct */
    uint16_t head_before;   /* ... of which precede the AM's data in the payload; the rest follow */
    uint64_t type_hash;     /* layout hash of the payload's message type (0 for errors) */
    uint64_t payload_len;
};

_Static_assert(sizeof(struct mrpc_wire_hdr) == 48, "wire header layout is fixed");

/* Opens the AM header of a batch; `count` struct mrpc_wire_hdr follow. */
struct mrpc_wire_batch {
    uint32_t magic;         /* MRPC_WIRE_BATCH_MAGIC */
    uint16_t version;       /* MRPC_WIRE_VERSION; each header in the batch has the same */
    uint16_t count;         /* 2 .. MRPC_WIRE_BATCH_MAX */
};

/* The whole AM header of a credit grant (no data): the receiver consumed `grant` more of the
 * connection's messages, so the sender may send that many more. A sender starts with
 * MRPC_WIRE_WINDOW and never holds more. */
struct mrpc_wire_credit {
    uint32_t magic;         /* MRPC_WIRE_CREDIT_MAGIC */
    uint16_t version;       /* MRPC_WIRE_VERSION */
    uint16_t reserved;      /* 0 */
    uint32_t grant;         /* 1 .. MRPC_WIRE_WINDOW */
    uint32_t reserved2;     /* 0 */
};

struct mrpc_iov {
    const void *base;
    size_t      len;
};

#define MRPC_WIRE_REASON_MAX 160u    /* a policy's refusal sentence in a wire message, with NUL */

/* One outgoing message: what MrpcEngine built and the transport sends. The payload is the
 * concatenation of iov[0..n_iov). Pieces may point into the app's send heap (zero copy, after
 * validation) or into service memory. Fields after `owner` are for policies between the two
 * (phoenix/policy.h): MrpcEngine fills deadline_ns and leaves reason empty; the transport reads
 * neither. */
struct mrpc_wire_msg {
    struct mrpc_wire_hdr hdr;
    unsigned             n_iov;
    struct mrpc_iov     *iov;
    void                *owner;      /* MrpcEngine's bookkeeping; the transport never touches it */
    uint64_t             deadline_ns;/* a CALL's deadline (phx_now_ns() time); 0: none/not one */
    char                 reason[MRPC_WIRE_REASON_MAX];  /* a policy's refusal (see SENT) */
    /* A policy that reads the payload first moves it into a private copy in service memory,
     * malloc'd, and points iov at it (one piece), so that the bytes it checked are the bytes
     * sent, whatever the app writes into its send heap meanwhile. MrpcEngine free()s it when
     * the SEND comes back. NULL: none. */
    void                *copy;
};

/* The app's message layouts as MrpcEngine knows them, shared with the engines of its
 * subscription under MRPC_LAYOUTS_SHARED (phx_engine_share(), phoenix/engine.h) for as long as
 * the MrpcEngine lives: policies read calls' contents through them (phoenix/policy.h). `find`
 * answers a method's layout (mrpc/marshal's struct mrpc_method_layout, of the same build), or
 * NULL; runtime thread. */
#define MRPC_LAYOUTS_SHARED "mrpc.layouts"
struct mrpc_method_layout;
struct mrpc_layout_view {
    uint32_t size;                    /* sizeof(struct mrpc_layout_view) as built */
    uint32_t marshal_abi;             /* MRPC_MARSHAL_ABI of the build: layouts are its structs */
    void    *ctx;
    const struct mrpc_method_layout *(*find)(void *ctx, uint32_t service_id, uint32_t method_id);
};

#endif /* MRPC_TRANSPORT_H */
