/* app_proto.h - the descriptors libmrpc and MrpcEngine exchange through an app's rings.
 *
 * An mRPC app talks to its MrpcEngine (the first engine of its "mrpc" subscription) only through
 * the submission ring (app -> service) and the completion ring (service -> app) of its port
 * (phoenix/app_port.h, phoenix/client.h), one phx_desc_t per message. Addresses name memory in
 * the two shared heaps, which sit at the same address in both processes:
 *
 *   send heap  written by the app (messages, layout blobs, address strings, error texts); the
 *              service only reads it, and checks every address and length against it;
 *   recv heap  written by the service (decoded messages, error texts); the app maps it read-only
 *              and hands every buffer it was given back with MRPC_APP_RELEASE.
 *
 * Submissions (app -> MrpcEngine), with the fields each one uses:
 *
 *   REGISTER_SERVICE  service_id, user (echoed); addr/len = a layout blob for some or all
 *                     methods of the service (mrpc/marshal: mrpc_layout_encode_service).
 *                     Answered by REGISTERED; the blob may be freed from then on.
 *   BIND              conn_id = a binding id the app picks (1 .. MRPC_CONN_ACCEPTED_BASE - 1,
 *                     not in use); addr/len = "host:port" with its NUL, len <= MRPC_APP_ADDR_MAX.
 *                     Answered by BOUND; the string may be reused from then on.
 *   CONNECT           the same with a connection id; answered by CONNECTED.
 *   CALL              conn_id, service_id, method_id, call_id (the app's, echoed), user (echoed),
 *                     call_timeout_ms (0: settings.mrpc.call_timeout_ms), addr = the
 *                     request message in the send heap, len = its top-level struct's size.
 *                     Answered by exactly one SEND_DONE and exactly one REPLY_RECEIVED, in either
 *                     order.
 *   REPLY             to an INCOMING_CALL: conn_id and call_id as it gave them, service_id,
 *                     method_id, user (echoed in SEND_DONE). status PHX_OK: addr/len = the reply
 *                     message; any other status: addr/len = an optional NUL-terminated error text
 *                     (len with the NUL, <= MRPC_APP_TEXT_MAX) or 0. Answered by one SEND_DONE
 *                     when addr is not 0.
 *   RELEASE           addr = a buffer the service handed over (message or text). No answer.
 *   CLOSE             conn_id: a connection or binding. Calls still waiting on it complete with
 *                     CANCELLED. No answer.
 *   CANCEL            conn_id and call_id of a CALL still waiting for its reply: it completes
 *                     now with REPLY_RECEIVED CANCELLED and a reply that still comes is dropped.
 *                     The server's service is told (a wire CANCEL) and withdraws the call if
 *                     its app has not been handed it yet. A call that already ended: no answer.
 *                     (A service older than this kind answers ERROR; nothing depends on it.)
 *
 * Completions (MrpcEngine -> app):
 *
 *   WELCOME           the first completion of every registration: proto_version =
 *                     MRPC_APP_PROTO_VERSION, service_timeout_ms = the service's call timeout,
 *                     len = the largest message in bytes.
 *   REGISTERED        service_id, user, status.
 *   BOUND, CONNECTED  conn_id, status (UNAVAILABLE: nobody listens or the bind failed).
 *   INCOMING_CALL     conn_id, service_id, method_id, call_id (echo it in REPLY), addr/len = the
 *                     decoded request in the recv heap.
 *   REPLY_RECEIVED    conn_id, service_id, method_id, call_id and user of the CALL, status;
 *                     PHX_OK: addr/len = the decoded reply.
 *   SEND_DONE         addr = the message (or text) a CALL or REPLY named: the service no longer
 *                     reads it and the app may free it; flags = that submission's kind; conn_id,
 *                     service_id, method_id, call_id and user echoed; status = PHX_OK or why it
 *                     was not sent.
 *   ERROR             a submission nothing else answers failed (an unknown kind, a RELEASE of an
 *                     address that is no buffer of the app, a CLOSE of an unknown id), or a
 *                     submission other than CALL had a non-zero `reserved` field (it is then
 *                     not carried out at all): flags = its kind, conn_id/call_id/user echoed,
 *                     status.
 *
 * Every completion but SEND_DONE whose status is not PHX_OK may carry, in addr/len, a sentence
 * saying why (addr 0 when the recv heap had no room for it).
 *
 * Texts the service writes are NUL-terminated and len counts the NUL; like messages they live in
 * the recv heap until released. Everything an app submits is untrusted: a submission that names
 * memory outside the app's send heap, an impossible message or an unknown method completes with
 * INVALID_ARGUMENT or NOT_FOUND and a sentence, and the service carries on. */
#ifndef MRPC_APP_PROTO_H
#define MRPC_APP_PROTO_H

#include <stdint.h>

#include "phoenix/desc.h"

#define MRPC_APP_PROTO_VERSION 1u
#define MRPC_APP_ADDR_MAX      256u     /* "host:port" with its NUL */
#define MRPC_APP_TEXT_MAX      1024u    /* error texts, with the NUL */

/* Connection ids from here up are the transport's (ACCEPTED); below it, the ids an app picks
 * for BIND and CONNECT. The app, MrpcEngine and the transport share this one id space. */
#define MRPC_CONN_ACCEPTED_BASE 0x80000000u

enum mrpc_app_kind {
    /* submissions */
    MRPC_APP_REGISTER_SERVICE = PHX_DESC_SERVICE_BASE + 0x00,
    MRPC_APP_BIND,
    MRPC_APP_CONNECT,
    MRPC_APP_CALL,
    MRPC_APP_REPLY,
    MRPC_APP_RELEASE,
    MRPC_APP_CLOSE,
    MRPC_APP_CANCEL,
    /* completions */
    MRPC_APP_WELCOME          = PHX_DESC_SERVICE_BASE + 0x20,
    MRPC_APP_REGISTERED,
    MRPC_APP_BOUND,
    MRPC_APP_CONNECTED,
    MRPC_APP_INCOMING_CALL,
    MRPC_APP_REPLY_RECEIVED,
    MRPC_APP_SEND_DONE,
    MRPC_APP_ERROR,
};

/* The timeout a CALL asks for (the descriptor's `call_timeout_ms`, where other kinds have
 * `reserved`). */
static inline uint32_t mrpc_app_call_timeout_ms(const phx_desc_t *d)
{
    return d->call_timeout_ms;
}

static inline void mrpc_app_set_call_timeout_ms(phx_desc_t *d, uint32_t ms)
{
    d->call_timeout_ms = ms;
}

#endif /* MRPC_APP_PROTO_H */
