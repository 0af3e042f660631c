/* sends.c - wire messages from MrpcEngine to the transport, and the tx queue in front of it.
 *
 * A send record holds one struct mrpc_wire_msg (what the SEND descriptor points at), the
 * encoding behind its iov and the app's submission it came from. The native encoder validates
 * the app's message against its send heap while it builds the iov; pieces may point into the
 * send heap (zero copy) for as long as the transport holds the record. The transport hands every
 * record back exactly once with SENT; then the app gets SEND_DONE for its message (it may free it
 * now), the record's bytes leave the in-flight count and the record is freed. Records the
 * transport holds are linked so that destroy() can free them.
 *
 * The tx queue holds descriptors for tx out 0 when the channel is full; while it is not empty,
 * new descriptors queue behind it, so order is kept. Callers take the work that produces them
 * within eng_budget() (submissions.c) or check eng_txq_room() first (delivery.c), so the queue
 * never overflows.
 *
 * Records SENT gave back are kept (up to ENG_SPARE_SENDS: two windows of 32 calls) and reused
 * for the next messages instead of going back to malloc: at 32 calls outstanding a batch frees
 * more records than the allocator's per-thread cache holds, and each then took its slow path.
 *
 * Live upgrade: a record the transport holds cannot move (the transport has its address), so
 * state.c hands its memory to the next build through the resource table, and the next build
 * makes an "adopted" record for it: keyed by the old address in `adopted`, with the old blocks
 * in `foreign` to free when SENT names it. Every piece of a wire message lies in the send heap
 * or in those blocks (native_encode.c), so nothing points into the old build. */
#include "mrpc_engine.h"

#include "phoenix/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SEND_MAGIC 0x4d53454e44524543ull     /* "MSENDREC" */

struct mrpc_send {
    struct mrpc_wire_msg wire;      /* first: SEND's addr and SENT's addr */
    uint64_t             magic;
    struct mrpc_encoded  enc;       /* message payloads */
    struct mrpc_iov      text_iov;  /* error payloads */
    char                *text;
    phx_desc_t           sub;       /* the app's submission, kind 0 when none */
    size_t               bytes;
    uint64_t             key;       /* adopted: the older build's wire message address */
    void                *foreign[3];/* adopted: that build's memory behind it */
    struct mrpc_send    *prev, *next;
};

void eng_wire_hdr_init(struct mrpc_wire_hdr *h, enum mrpc_wire_kind kind, uint32_t service_id,
                       uint32_t method_id, uint64_t call_id)
{
    *h = (struct mrpc_wire_hdr){ .magic = MRPC_WIRE_MAGIC, .version = MRPC_WIRE_VERSION,
                                 .kind = (uint8_t)kind, .format = MRPC_FORMAT_NATIVE,
                                 .service_id = service_id, .method_id = method_id,
                                 .call_id = call_id };
}

/* ---- the tx queue ------------------------------------------------------------------------ */

bool eng_txq_room(const struct mrpc_engine *m, unsigned n)
{
    return m->txq.count + n <= ENG_TXQ_CAP;
}

void eng_txq_push(struct mrpc_engine *m, const phx_desc_t *d)
{
    if (phx_fifo_push(&m->txq, d) < 0)
        phx_error("mrpc: tx queue overflow (kind 0x%x): a caller did not check for room",
                  d->kind);
}

unsigned eng_txq_flush(struct mrpc_engine *m, phx_engine_t *e)
{
    phx_channel_t *out = phx_engine_out(e, PHX_TX, 0);
    unsigned moved = 0;

    while (out && m->txq.count) {
        unsigned run = phx_fifo_run(&m->txq);
        unsigned n = phx_chan_push(out, phx_fifo_head(&m->txq), run);
        phx_fifo_drop(&m->txq, n);
        moved += n;
        if (n < run)
            break;
    }
    return moved;
}

/* ---- send records ------------------------------------------------------------------------ */

static struct mrpc_send *send_new(struct mrpc_engine *m, const phx_desc_t *sub)
{
    struct mrpc_send *s = m->spare_sends;

    if (s) {
        m->spare_sends = s->next;
        m->n_spare_sends--;
        memset(s, 0, sizeof(*s));
    } else if (!(s = calloc(1, sizeof(*s)))) {
        return NULL;
    }
    s->magic = SEND_MAGIC;
    s->wire.owner = s;
    if (sub)
        s->sub = *sub;
    return s;
}

/* What S of this build holds (a policy's copy, the encoding, a text); S itself stays. */
static void send_clear(struct mrpc_send *s)
{
    free(s->wire.copy);
    mrpc_encoded_free(&s->enc);
    free(s->text);
    s->magic = 0;
}

/* ALL, or STATE_ONLY: memory another build handed over stays (it goes back to that build when an
 * upgrade aborts). */
static void send_free(struct mrpc_send *s, phx_destroy_mode_t mode)
{
    /* a policy's copy of the payload (transport.h): in the older build's wire message when the
     * record is adopted (foreign[0] is that build's record, its wire message first) */
    if (mode == PHX_DESTROY_ALL && s->key && s->foreign[0])
        free(((struct mrpc_wire_msg *)s->foreign[0])->copy);
    for (unsigned i = 0; mode == PHX_DESTROY_ALL && i < 3; i++)
        free(s->foreign[i]);
    send_clear(s);
    free(s);
}

/* A record of this build that SENT gave back (or that never went): what it holds is freed, the
 * record itself kept for the next message while there are fewer than ENG_SPARE_SENDS. */
static void send_recycle(struct mrpc_engine *m, struct mrpc_send *s)
{
    if (s->key || m->n_spare_sends >= ENG_SPARE_SENDS) {
        send_free(s, PHX_DESTROY_ALL);
        return;
    }
    send_clear(s);
    s->next = m->spare_sends;
    m->spare_sends = s;
    m->n_spare_sends++;
}

/* Links S into the transport's hands and queues its SEND. */
static void send_queue(struct mrpc_engine *m, struct mrpc_send *s)
{
    s->bytes = sizeof(s->wire.hdr) + s->wire.hdr.payload_len;
    s->next = m->sends;
    if (m->sends)
        m->sends->prev = s;
    m->sends = s;
    m->inflight_bytes += s->bytes;

    phx_desc_t d = { .kind = MRPC_DESC_SEND, .conn_id = s->sub.conn_id,
                     .service_id = s->wire.hdr.service_id, .method_id = s->wire.hdr.method_id,
                     .call_id = s->wire.hdr.call_id, .addr = (uint64_t)(uintptr_t)&s->wire,
                     .len = s->bytes };
    eng_txq_push(m, &d);
}

static void send_unlink(struct mrpc_engine *m, struct mrpc_send *s)
{
    if (s->prev)
        s->prev->next = s->next;
    else
        m->sends = s->next;
    if (s->next)
        s->next->prev = s->prev;
    m->inflight_bytes -= s->bytes;
}

phx_status_t eng_send_message(struct mrpc_engine *m, const phx_desc_t *sub,
                              const struct mrpc_type_layout *t, const struct mrpc_wire_hdr *hdr,
                              uint64_t deadline_ns, char *err, size_t errlen)
{
    struct mrpc_encode_limits lim = { .field_mask = MRPC_ENCODE_LIMIT_FIELD_MAX_BYTES,
                                      .max_bytes = m->max_message };
    struct mrpc_send *s = send_new(m, sub);

    if (!s) {
        snprintf(err, errlen, "out of memory");
        return PHX_RESOURCE_EXHAUSTED;
    }
    int rc = mrpc_native_encode(t, sub->addr, phx_app_port_send_region(m->port), &lim, &s->enc, err, errlen);
    if (rc < 0) {
        send_recycle(m, s);
        return phx_status_of_errno(rc);
    }
    s->wire.hdr = *hdr;
    s->wire.hdr.type_hash = mrpc_type_hash(t);
    s->wire.hdr.payload_len = s->enc.payload_len;
    s->wire.deadline_ns = deadline_ns;
    s->wire.iov = s->enc.iov;
    s->wire.n_iov = s->enc.n_iov;
    send_queue(m, s);
    return PHX_OK;
}

phx_status_t eng_error_status(int32_t status)
{
    return status > PHX_OK && status <= PHX_DATA_LOSS ? (phx_status_t)status : PHX_UNKNOWN;
}

/* Queues a wire message of KIND about the call ABOUT names, whose payload is a copy of the LEN
 * bytes at BYTES: an ERROR's or CANCEL's text, or a REPLY a policy encoded (TYPE_HASH). STATUS
 * goes into the header as it is. */
static void send_bytes(struct mrpc_engine *m, enum mrpc_wire_kind kind, const phx_desc_t *about,
                       int32_t status, const void *bytes, size_t len, uint64_t type_hash,
                       const phx_desc_t *sub)
{
    struct mrpc_send *s = send_new(m, sub);

    if (!s || !(s->text = malloc(len ? len : 1))) {
        phx_warn("mrpc: out of memory: the peer of call %llu is not told (wire kind %d)",
                 (unsigned long long)about->call_id, kind);
        free(s);
        if (sub)
            eng_send_done_now(m, sub, PHX_RESOURCE_EXHAUSTED);
        return;
    }
    memcpy(s->text, bytes, len);
    s->sub.conn_id = about->conn_id;
    eng_wire_hdr_init(&s->wire.hdr, kind, about->service_id, about->method_id, about->call_id);
    s->wire.hdr.status = status;
    s->wire.hdr.type_hash = type_hash;
    s->text_iov = (struct mrpc_iov){ .base = s->text, .len = len };
    s->wire.hdr.payload_len = len;
    s->wire.iov = &s->text_iov;
    s->wire.n_iov = 1;
    send_queue(m, s);
}

static void send_text(struct mrpc_engine *m, enum mrpc_wire_kind kind, const phx_desc_t *about,
                      phx_status_t status, const char *text, const phx_desc_t *sub)
{
    size_t len = strlen(text);

    send_bytes(m, kind, about, eng_error_status(status), text,
               len < MRPC_APP_TEXT_MAX ? len : MRPC_APP_TEXT_MAX - 1, 0, sub);
}

void eng_send_error(struct mrpc_engine *m, const phx_desc_t *about, phx_status_t status,
                    const char *text, const phx_desc_t *sub)
{
    send_text(m, MRPC_WIRE_ERROR, about, status, text, sub);
}

void eng_send_answer(struct mrpc_engine *m, const phx_desc_t *about, const void *payload,
                     size_t len, uint64_t type_hash)
{
    send_bytes(m, MRPC_WIRE_REPLY, about, PHX_OK, payload, len, type_hash, NULL);
}

void eng_send_cancel(struct mrpc_engine *m, const phx_desc_t *call)
{
    send_text(m, MRPC_WIRE_CANCEL, call, PHX_CANCELLED, "", NULL);
}

void eng_send_done_now(struct mrpc_engine *m, const phx_desc_t *sub, phx_status_t status)
{
    phx_desc_t d = { .kind = MRPC_APP_SEND_DONE, .flags = sub->kind, .status = status,
                     .conn_id = sub->conn_id, .service_id = sub->service_id,
                     .method_id = sub->method_id, .call_id = sub->call_id, .addr = sub->addr,
                     .len = sub->len, .user = sub->user };

    if (sub->addr)
        eng_complete(m, &d);
}

/* A CALL the transport could not send will get no reply: end it now, with the sentence of the
 * policy that refused it (REASON, "" when none did). */
static void fail_unsent_call(struct mrpc_engine *m, const struct mrpc_send *s,
                             phx_status_t status, const char *reason)
{
    struct eng_call *c = eng_call_take(m, s->wire.hdr.call_id, s->sub.conn_id);

    if (c && reason[0])
        eng_call_fail(m, c, status, "%s", reason);
    else if (c)
        eng_call_fail(m, c, status, "the request could not be sent: %s",
                      phx_status_name(status));
}

/* A REPLY the transport could not send (too large for the peer, refused by it): its caller would
 * only learn of it at its deadline, so it gets an ERROR with the reason instead. Not when the
 * connection is gone (UNAVAILABLE: nothing reaches the caller), nor when tx has no room (rx
 * never waits for tx: delivery.c), which is counted. */
static void answer_unsent_reply(struct mrpc_engine *m, const struct mrpc_send *s,
                                phx_status_t status, const char *reason)
{
    phx_desc_t about = { .conn_id = s->sub.conn_id, .service_id = s->wire.hdr.service_id,
                         .method_id = s->wire.hdr.method_id, .call_id = s->wire.hdr.call_id };
    char text[MRPC_WIRE_REASON_MAX + 64];

    if (status == PHX_UNAVAILABLE && !reason[0])
        return;
    if (!eng_txq_room(m, 1)) {
        m->stats.errors_unsent++;
        return;
    }
    if (reason[0])
        snprintf(text, sizeof(text), "%s", reason);
    else
        snprintf(text, sizeof(text), "the server's reply could not be sent: %s",
                 phx_status_name(status));
    eng_send_error(m, &about, status, text, NULL);
}

/* The sentence a policy left in the wire message at ADDR when it refused it (SENT), "" when none
 * did. ADDR is this build's record or, adopted, an older build's still-allocated one: both begin
 * with the same struct mrpc_wire_msg. A reason that is not terminated is not believed. */
static const char *refusal_of(struct mrpc_engine *m, uint64_t addr)
{
    const struct mrpc_wire_msg *w = (const struct mrpc_wire_msg *)(uintptr_t)addr;

    if (!w->reason[0] || !memchr(w->reason, '\0', sizeof(w->reason)))
        return "";
    m->stats.refused++;
    return w->reason;
}

void eng_send_finished(struct mrpc_engine *m, uint64_t addr, phx_status_t status)
{
    struct mrpc_send *s = (struct mrpc_send *)(uintptr_t)addr;
    uint64_t adopted;

    if (m->adopted.count && phx_u64map_remove(&m->adopted, addr, &adopted))
        s = (struct mrpc_send *)(uintptr_t)adopted;
    else if (!s || s->magic != SEND_MAGIC) {
        phx_error("mrpc: SENT names no wire message of this engine (0x%llx)",
                  (unsigned long long)addr);
        return;
    }
    send_unlink(m, s);
    const char *reason = status != PHX_OK ? refusal_of(m, addr) : "";
    if (status != PHX_OK && s->wire.hdr.kind == MRPC_WIRE_CALL)
        fail_unsent_call(m, s, status, reason);
    else if (status != PHX_OK && (s->wire.hdr.kind == MRPC_WIRE_REPLY ||
                                  (s->wire.hdr.kind == MRPC_WIRE_ERROR && reason[0])))
        answer_unsent_reply(m, s, status, reason);
    if (s->sub.kind)
        eng_send_done_now(m, &s->sub, status);
    send_recycle(m, s);
}

void eng_sends_fini(struct mrpc_engine *m, phx_destroy_mode_t mode)
{
    while (m->sends) {
        struct mrpc_send *s = m->sends;
        send_unlink(m, s);
        if (mode == PHX_DESTROY_ALL || s->key)
            send_free(s, mode);         /* a record of this build went to the next one whole */
    }
    while (m->spare_sends) {            /* this build's own: free in either mode */
        struct mrpc_send *s = m->spare_sends;
        m->spare_sends = s->next;
        free(s);
    }
    m->n_spare_sends = 0;
    phx_u64map_fini(&m->adopted);
}

/* ---- live upgrade (state.c) -------------------------------------------------------------- */

void eng_sends_each(struct mrpc_engine *m, void (*fn)(void *arg, const struct eng_send_view *v),
                    void *arg)
{
    for (struct mrpc_send *s = m->sends; s; s = s->next) {
        struct eng_send_view v = {
            .key = s->key ? s->key : (uint64_t)(uintptr_t)&s->wire,
            .blocks = { s->key ? s->foreign[0] : s, s->key ? s->foreign[1] : s->enc.owned,
                        s->key ? s->foreign[2] : s->text },
            .sub = s->sub, .kind = s->wire.hdr.kind, .service_id = s->wire.hdr.service_id,
            .method_id = s->wire.hdr.method_id, .call_id = s->wire.hdr.call_id,
            .bytes = s->bytes };
        fn(arg, &v);
    }
}

int eng_send_adopt(struct mrpc_engine *m, const struct eng_send_view *v)
{
    struct mrpc_send *s = send_new(m, NULL);

    if (!s)
        return -ENOMEM;
    s->sub = v->sub;
    s->key = v->key;
    memcpy(s->foreign, v->blocks, sizeof(s->foreign));
    s->wire.hdr.kind = v->kind;
    s->wire.hdr.service_id = v->service_id;
    s->wire.hdr.method_id = v->method_id;
    s->wire.hdr.call_id = v->call_id;
    if (phx_u64map_put(&m->adopted, v->key, (uint64_t)(uintptr_t)s) < 0) {
        free(s);
        return -ENOMEM;
    }
    s->bytes = v->bytes;
    s->next = m->sends;
    if (m->sends)
        m->sends->prev = s;
    m->sends = s;
    m->inflight_bytes += s->bytes;
    return 0;
}
