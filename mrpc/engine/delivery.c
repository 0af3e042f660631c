/* delivery.c - what comes up from the transport: messages for the app, and connection events.
 *
 * A RECEIVED message has landed in the app's receive heap (the transport allocated it there and
 * checked the wire header's magic, version and length). Everything else in it is still the
 * network's word: the ids must name a method the app registered, the header's type hash must
 * equal our layout's (else the peers' message layouts differ and the bytes cannot be read in
 * place), and the payload must decode (mrpc_native_decode checks every segment). Only then does
 * the app get the decoded message, as a buffer it releases later.
 *
 *   CALL   -> INCOMING_CALL; a call we cannot deliver is answered to the peer with an ERROR
 *   REPLY  -> REPLY_RECEIVED for the call it names (wire call id and connection must match)
 *   ERROR  -> REPLY_RECEIVED with the peer's status and text
 *   CANCEL -> the caller gave up: its INCOMING_CALL is withdrawn if it still waits in the backlog
 *             (the app has not seen it, so its handler never runs); else nothing
 *
 * A message the transport could not land because the app's receive heap was full comes up as
 * DROPPED: the call it answers fails with RESOURCE_EXHAUSTED saying to release received
 * messages (a call for the app is answered so to its caller), and the log says it once a second.
 *
 * A message a policy refused on its way up comes as REFUSED (mrpc/transport.h): its payload is
 * gone, and in its place a sentence; the caller of a refused CALL is answered with an ERROR of
 * the policy's status and sentence, a refused REPLY or ERROR fails its call with them. A CALL a
 * policy answered itself comes as ANSWERED: its caller gets the policy's reply (sent as a copy,
 * checked by the caller's service as every reply is); the app never sees the call.
 *
 * Anything for no known connection or call is dropped and counted. How much is taken per
 * progress() is bounded by the room for completions, but never by room in tx: the transport's
 * tx waits for the peer to consume what we sent (credits, transports/ucx/ucx_credit.c), and the
 * peer's tx for us, so a side that stopped reading rx while its tx is full would deadlock with
 * a peer doing the same. The one thing rx sends, the ERROR answering an undeliverable call, is
 * therefore dropped and counted (`errors_unsent`) when tx has no room; its caller's deadline
 * reports it. */
#include "mrpc_engine.h"

#include "phoenix/log.h"

#include <stdio.h>
#include <string.h>

/* The payload of D as the transport landed it: a block of the app's receive heap. */
static void *payload_of(const phx_desc_t *d)
{
    return (void *)(uintptr_t)d->addr;
}

static void drop_payload(struct mrpc_engine *m, const phx_desc_t *d)
{
    phx_heap_free(phx_app_port_recv_heap(m->port), payload_of(d));
}

static unsigned wire_kind(const phx_desc_t *d)
{
    return d->flags & 0xff;
}

/* Checks format and type hash, decodes in place and records the buffer as the app's. Returns
 * PHX_OK with *MSG set, or a status with a sentence in WHY (the payload is then still ours). */
static phx_status_t decode(struct mrpc_engine *m, const phx_desc_t *d,
                           const struct mrpc_type_layout *t, void **msg, char *why,
                           size_t whylen)
{
    uint64_t local = mrpc_type_hash(t);

    if ((d->flags >> 8) != MRPC_FORMAT_NATIVE) {
        snprintf(why, whylen, "wire format %u is not supported", d->flags >> 8);
        return PHX_UNIMPLEMENTED;
    }
    if (d->type_hash != local) {
        m->stats.layout_mismatch++;
        snprintf(why, whylen, "layout mismatch for %s: peer %016llx, local %016llx",
                 mrpc_type_name(t), (unsigned long long)d->type_hash, (unsigned long long)local);
        return PHX_FAILED_PRECONDITION;
    }
    if (mrpc_native_decode(t, payload_of(d), d->len, msg, why, whylen) < 0) {
        m->stats.decode_errors++;
        return PHX_INVALID_ARGUMENT;
    }
    if (eng_deliver_track(m, (uint64_t)(uintptr_t)*msg, payload_of(d)) < 0) {
        snprintf(why, whylen, "the receiving app holds too many messages");
        return PHX_RESOURCE_EXHAUSTED;
    }
    return PHX_OK;
}

static void on_incoming_call(struct mrpc_engine *m, const phx_desc_t *d)
{
    const struct mrpc_method_layout *ml = eng_layouts_find(m, d->service_id, d->method_id);
    phx_status_t status = PHX_UNIMPLEMENTED;
    char why[512];
    void *msg = NULL;

    if (!ml)
        snprintf(why, sizeof(why), "method 0x%08x of service 0x%08x is not served here",
                 d->method_id, d->service_id);
    else
        status = decode(m, d, ml->input, &msg, why, sizeof(why));
    if (status != PHX_OK) {
        drop_payload(m, d);
        if (eng_txq_room(m, 1)) {
            eng_send_error(m, d, status, why, NULL);
        } else {
            m->stats.errors_unsent++;
            phx_debug("mrpc: no room in tx for the error answering call %llu: %s",
                      (unsigned long long)d->call_id, why);
        }
        return;
    }
    phx_desc_t in = { .kind = MRPC_APP_INCOMING_CALL, .conn_id = d->conn_id,
                      .service_id = d->service_id, .method_id = d->method_id,
                      .call_id = d->call_id, .addr = (uint64_t)(uintptr_t)msg,
                      .len = mrpc_type_size(ml->input) };
    m->stats.incoming_calls++;
    eng_complete(m, &in);
}

static void on_reply(struct mrpc_engine *m, const phx_desc_t *d, struct eng_call *c)
{
    const struct mrpc_method_layout *ml = c->method;
    char why[512];
    void *msg = NULL;

    if (d->service_id != ml->service_id || d->method_id != ml->method_id) {
        drop_payload(m, d);
        eng_call_fail(m, c, PHX_INTERNAL, "the reply names method 0x%08x of service 0x%08x, "
                      "not the one called", d->method_id, d->service_id);
        return;
    }
    phx_status_t status = decode(m, d, ml->output, &msg, why, sizeof(why));
    if (status != PHX_OK) {
        drop_payload(m, d);
        eng_call_fail(m, c, status, "%s", why);
        return;
    }
    eng_call_succeed(m, c, (uint64_t)(uintptr_t)msg, mrpc_type_size(ml->output));
}

/* The peer's error: its status (an error code, else UNKNOWN) and its text, cut to fit. */
static void on_error(struct mrpc_engine *m, const phx_desc_t *d, struct eng_call *c)
{
    phx_status_t status = eng_error_status(d->status);
    int len = d->len < MRPC_APP_TEXT_MAX ? (int)d->len : (int)MRPC_APP_TEXT_MAX - 1;

    eng_call_fail(m, c, status, "%.*s", len, (const char *)payload_of(d));
    drop_payload(m, d);
}

static void on_received(struct mrpc_engine *m, const phx_desc_t *d)
{
    struct eng_call *c;

    switch (wire_kind(d)) {
    case MRPC_WIRE_CALL:
        if (eng_conn_usable(m, d->conn_id, NULL, 0)) {
            on_incoming_call(m, d);
            return;
        }
        break;
    case MRPC_WIRE_CANCEL:         /* the caller gave up: withdrawn if not yet seen */
        if (eng_conn_usable(m, d->conn_id, NULL, 0))
            eng_backlog_cancel(m, d->conn_id, d->call_id);
        drop_payload(m, d);
        return;
    case MRPC_WIRE_REPLY:
    case MRPC_WIRE_ERROR:
        if ((c = eng_call_take(m, d->call_id, d->conn_id))) {
            if (wire_kind(d) == MRPC_WIRE_REPLY)
                on_reply(m, d, c);
            else
                on_error(m, d, c);
            return;
        }
        break;
    }
    m->stats.dropped++;
    drop_payload(m, d);
}

/* Says in the log, at most once a second, that the app's receive heap is full. */
static void log_heap_full(struct mrpc_engine *m, const phx_desc_t *d)
{
    uint64_t now = phx_now_ns();

    m->heap_full_unlogged++;
    if (m->heap_full_logged_ns && now - m->heap_full_logged_ns < 1000000000ull)
        return;
    phx_warn("mrpc: app (pid %d): %llu message(s) did not fit in its receive heap (the last: %llu "
             "bytes on connection %u): the app must release received messages (mrpc_release)",
             (int)phx_app_port_pid(m->port), (unsigned long long)m->heap_full_unlogged,
             (unsigned long long)d->len, d->conn_id);
    m->heap_full_logged_ns = now;
    m->heap_full_unlogged = 0;
}

/* A message for the app that did not land (its receive heap was full): the call waiting for it
 * fails now, or the caller of a call that could not be delivered is answered, with the reason. */
static void on_dropped(struct mrpc_engine *m, const phx_desc_t *d)
{
    struct eng_call *c;

    log_heap_full(m, d);
    switch (wire_kind(d)) {
    case MRPC_WIRE_CALL:
        if (!eng_conn_usable(m, d->conn_id, NULL, 0))
            break;
        if (eng_txq_room(m, 1))
            eng_send_error(m, d, PHX_RESOURCE_EXHAUSTED, "the server's receive heap is full: "
                           "its app must release received messages (mrpc_release)", NULL);
        else
            m->stats.errors_unsent++;
        return;
    case MRPC_WIRE_REPLY:
    case MRPC_WIRE_ERROR:
        if (!(c = eng_call_take(m, d->call_id, d->conn_id)))
            break;
        eng_call_fail(m, c, PHX_RESOURCE_EXHAUSTED, "the reply (%llu bytes) did not fit in the "
                      "receive heap: release received messages (mrpc_release) once done with "
                      "them", (unsigned long long)d->len);
        return;
    }
    m->stats.dropped++;
}

/* A message a policy refused on rx: D's addr/len is the policy's sentence in the receive heap
 * (or 0), the payload already freed. */
static void on_refused(struct mrpc_engine *m, const phx_desc_t *d)
{
    phx_status_t status = eng_error_status(d->status);
    char text[MRPC_APP_TEXT_MAX] = "refused by a policy of the service";
    struct eng_call *c;

    m->stats.refused++;
    if (d->addr && d->len > 1) {
        size_t n = d->len - 1 < sizeof(text) - 1 ? (size_t)d->len - 1 : sizeof(text) - 1;
        memcpy(text, payload_of(d), n);
        text[n] = '\0';
    }
    if (d->addr)
        drop_payload(m, d);
    switch (wire_kind(d)) {
    case MRPC_WIRE_CALL:
        if (!eng_conn_usable(m, d->conn_id, NULL, 0))
            break;
        if (eng_txq_room(m, 1))
            eng_send_error(m, d, status, text, NULL);
        else
            m->stats.errors_unsent++;
        return;
    case MRPC_WIRE_REPLY:
    case MRPC_WIRE_ERROR:
        if ((c = eng_call_take(m, d->call_id, d->conn_id))) {
            eng_call_fail(m, c, status, "%s", text);
            return;
        }
        break;
    case MRPC_WIRE_CANCEL:
        return;
    }
    m->stats.dropped++;
}

/* A CALL a policy answered on rx: D's addr/len is the reply's native payload in the receive heap
 * (mrpc/transport.h), sent to the caller as a REPLY, then freed. */
static void on_answered(struct mrpc_engine *m, const phx_desc_t *d)
{
    if (!d->addr || wire_kind(d) != MRPC_WIRE_CALL || !eng_conn_usable(m, d->conn_id, NULL, 0))
        m->stats.dropped++;
    else if (!eng_txq_room(m, 1))
        m->stats.errors_unsent++;
    else {
        eng_send_answer(m, d, payload_of(d), d->len, d->type_hash);
        m->stats.answered++;
    }
    if (d->addr)
        drop_payload(m, d);
}

static void handle(struct mrpc_engine *m, const phx_desc_t *d)
{
    switch (d->kind) {
    case MRPC_DESC_RECEIVED:
        on_received(m, d);
        break;
    case MRPC_DESC_DROPPED:
        on_dropped(m, d);
        break;
    case MRPC_DESC_REFUSED:
        on_refused(m, d);
        break;
    case MRPC_DESC_ANSWERED:
        on_answered(m, d);
        break;
    case MRPC_DESC_SENT:
        eng_send_finished(m, d->addr, (phx_status_t)d->status);
        break;
    default:
        eng_conn_event(m, d);
    }
}

unsigned eng_rx_budget(const struct mrpc_engine *m)
{
    return eng_cq_budget(m, 1);
}

unsigned eng_rx_progress(struct mrpc_engine *m, phx_engine_t *e)
{
    phx_desc_t batch[ENG_BATCH];
    unsigned budget = eng_rx_budget(m);
    unsigned n = budget ? phx_chan_pop(phx_engine_in(e, PHX_RX, 0), batch, budget) : 0;

    for (unsigned i = 0; i < n; i++)
        handle(m, &batch[i]);
    return n;
}
