/* reply.c - a policy answers a request itself (phx_verdict_reply): the reply it builds, and how the
 * answer travels (see phoenix/policy.h for the contract).
 *
 * The reply is a message of the method's output type, built in the policy's own buffer (service
 * memory, never the app's): every field at its default, then what the policy set with
 * phx_call_reply_set(). Strings, bytes and sub-messages it sets are copied into the same buffer.
 * When the verdict is given, the marshal library's encoder turns that message into a native
 * payload exactly as it does an app's reply, with the buffer as the "send heap", so every pointer
 * is checked to lie inside it; the payload is then decoded and checked by whoever receives it, as
 * any reply is.
 *
 * The answer reuses the ways messages already take, nothing new on the wire:
 *   client side (a SEND of a CALL on tx): the SEND comes back up as SENT with PHX_OK (the app's
 *     message is done with, nothing was sent), then the reply goes up as a RECEIVED REPLY whose
 *     payload is in the app's receive heap, as a transport would have landed it; MrpcEngine
 *     decodes it and completes the call.
 *   server side (a RECEIVED CALL on rx): the landed request is freed and MRPC_DESC_ANSWERED goes
 *     up with the reply's payload in the receive heap; MrpcEngine sends it to the remote caller
 *     as the REPLY (mrpc/transport.h). The app never sees the request. */
#include "internal.h"
#include "sdk.h"

#include "mrpc/transport.h"
#include "phoenix/app_port.h"
#include "phoenix/heap.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REPLY_MAX_BYTES (16u << 20)    /* an encoded local reply */

/* ---- building the message ------------------------------------------------------------------- */

/* SIZE bytes of the reply buffer, 16-aligned and zeroed, or NULL when it is full. */
static void *arena_take(phx_policy_t *p, size_t size)
{
    size_t at = mrpc_align16(p->reply.used);

    if (at > p->reply.cap || size > p->reply.cap - at)
        return NULL;
    p->reply.used = at + size;
    return memset((char *)p->reply.buf + at, 0, size);
}

/* The message of type T at MSG as protobuf-c's init leaves it, as far as the encoder can tell:
 * zeros, and strings and bytes at their defaults (a proto3 or required string at the app's
 * empty string, which is never followed). Oneof members stay unset. */
static void message_init(const struct mrpc_type_layout *t, char *msg)
{
    for (unsigned i = 0; i < t->n_fields; i++) {
        const struct mrpc_field_layout *f = &t->fields[i];
        uint64_t addr = f->default_addr;
        if (f->repeated || f->oneof)
            continue;
        if (f->type == PROTOBUF_C_TYPE_STRING) {
            if (!addr && f->label != PROTOBUF_C_LABEL_OPTIONAL)
                addr = t->empty_string_addr;
            memcpy(msg + f->offset, &addr, sizeof(addr));
        } else if (f->type == PROTOBUF_C_TYPE_BYTES && addr) {
            ProtobufCBinaryData b = { f->default_len, (uint8_t *)(uintptr_t)addr };
            memcpy(msg + f->offset, &b, sizeof(b));
        }
    }
}

/* The reply to the call in CX (type *T, at *MSG), begun now when this decision has none yet. */
static int reply_begin(struct phx_call_ctx *cx, const phx_call_t *call,
                       const struct mrpc_type_layout **t, char **msg)
{
    phx_policy_t *p = cx->p;
    const struct mrpc_method_layout *ml = phx_sdk_method_of(cx->e, call);

    if (call->kind != PHX_CALL_REQUEST || !ml)
        return -ENOTSUP;
    *t = ml->output;
    if (p->reply.key != (const void *)(uintptr_t)cx->d->addr || p->reply.type != *t) {
        size_t cap = mrpc_align16(mrpc_type_size(*t)) + PHX_POLICY_REPLY_ROOM;
        if (cap > p->reply.cap) {
            void *buf = realloc(p->reply.buf, cap);    /* malloc: 16-byte aligned */
            if (!buf)
                return -ENOMEM;
            p->reply.buf = buf;
            p->reply.cap = cap;
        }
        p->reply.used = 0;
        message_init(*t, arena_take(p, mrpc_type_size(*t)));
        p->reply.key = (const void *)(uintptr_t)cx->d->addr;
        p->reply.type = *t;
    }
    *msg = p->reply.buf;
    return 0;
}

/* V as an integer in [LO, HI]. */
static bool as_int(const phx_field_t *v, int64_t lo, int64_t hi, int64_t *out)
{
    if (v->kind == PHX_FIELD_INT && v->i >= lo && v->i <= hi)
        *out = v->i;
    else if (v->kind == PHX_FIELD_UINT && v->u <= (uint64_t)hi)
        *out = (int64_t)v->u;
    else
        return false;
    return true;
}

/* V as an unsigned integer up to HI. */
static bool as_uint(const phx_field_t *v, uint64_t hi, uint64_t *out)
{
    if (v->kind == PHX_FIELD_UINT && v->u <= hi)
        *out = v->u;
    else if (v->kind == PHX_FIELD_INT && v->i >= 0 && (uint64_t)v->i <= hi)
        *out = (uint64_t)v->i;
    else
        return false;
    return true;
}

/* V's text copied into the reply buffer (a NUL after it), or NULL. */
static char *text_copy(phx_policy_t *p, const phx_field_t *v)
{
    char *copy;

    if ((v->kind != PHX_FIELD_STRING && v->kind != PHX_FIELD_BYTES) || (v->len && !v->data) ||
        !(copy = arena_take(p, v->len + 1)))
        return NULL;
    memcpy(copy, v->data ? v->data : "", v->len);
    return copy;
}

static int store_number(const struct mrpc_field_layout *f, char *at, const phx_field_t *v)
{
    int64_t i;
    uint64_t u;
    double d;
    int32_t i32;
    uint32_t u32;
    float f32;

    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32: case PROTOBUF_C_TYPE_SINT32: case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_ENUM:
        if (!as_int(v, INT32_MIN, INT32_MAX, &i))
            return -EINVAL;
        i32 = (int32_t)i;
        memcpy(at, &i32, sizeof(i32));
        return 0;
    case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64: case PROTOBUF_C_TYPE_SFIXED64:
        if (!as_int(v, INT64_MIN, INT64_MAX, &i))
            return -EINVAL;
        memcpy(at, &i, sizeof(i));
        return 0;
    case PROTOBUF_C_TYPE_UINT32: case PROTOBUF_C_TYPE_FIXED32:
        if (!as_uint(v, UINT32_MAX, &u))
            return -EINVAL;
        u32 = (uint32_t)u;
        memcpy(at, &u32, sizeof(u32));
        return 0;
    case PROTOBUF_C_TYPE_UINT64: case PROTOBUF_C_TYPE_FIXED64:
        if (!as_uint(v, UINT64_MAX, &u))
            return -EINVAL;
        memcpy(at, &u, sizeof(u));
        return 0;
    default:
        break;
    }
    if (v->kind != PHX_FIELD_DOUBLE && v->kind != PHX_FIELD_INT && v->kind != PHX_FIELD_UINT)
        return -EINVAL;
    d = v->kind == PHX_FIELD_DOUBLE ? v->d : v->kind == PHX_FIELD_INT ? (double)v->i
                                                                       : (double)v->u;
    if (f->type == PROTOBUF_C_TYPE_DOUBLE) {
        memcpy(at, &d, sizeof(d));
        return 0;
    }
    f32 = (float)d;
    memcpy(at, &f32, sizeof(f32));
    return 0;
}

/* Whether V's kind suits the singular field F (phx_call_reply_set's rules): 0 or -EINVAL. */
static int suits(const struct mrpc_field_layout *f, const phx_field_t *v)
{
    char scratch[sizeof(uint64_t)];

    switch (f->type) {
    case PROTOBUF_C_TYPE_BOOL:
        return v->kind == PHX_FIELD_BOOL ? 0 : -EINVAL;
    case PROTOBUF_C_TYPE_STRING:
        return v->kind == PHX_FIELD_STRING && (v->data || !v->len) &&
               !memchr(v->data ? v->data : "", '\0', v->len) ? 0 : -EINVAL;
    case PROTOBUF_C_TYPE_BYTES:
        return (v->kind == PHX_FIELD_BYTES || v->kind == PHX_FIELD_STRING) &&
               (v->data || !v->len) ? 0 : -EINVAL;
    case PROTOBUF_C_TYPE_MESSAGE:
        return -EINVAL;
    default:
        return store_number(f, scratch, v);
    }
}

/* Writes V into the singular field F at AT (in the reply buffer). */
static int store(phx_policy_t *p, const struct mrpc_field_layout *f, char *at,
                 const phx_field_t *v)
{
    char *text;
    int rc = suits(f, v);

    if (rc < 0)
        return rc;
    switch (f->type) {
    case PROTOBUF_C_TYPE_BOOL: {
        protobuf_c_boolean b = v->b;
        memcpy(at, &b, sizeof(b));
        return 0;
    }
    case PROTOBUF_C_TYPE_STRING:
        if (!(text = text_copy(p, v)))
            return -ENOSPC;
        memcpy(at, &text, sizeof(text));
        return 0;
    case PROTOBUF_C_TYPE_BYTES: {
        if (!(text = text_copy(p, v)))
            return -ENOSPC;
        ProtobufCBinaryData b = { v->len, (uint8_t *)text };
        memcpy(at, &b, sizeof(b));
        return 0;
    }
    default:
        return store_number(f, at, v);
    }
}

/* Marks F set in the message at MSG (has_ flag, oneof case). */
static void mark_set(const struct mrpc_field_layout *f, char *msg)
{
    uint32_t q = mrpc_quantifier_size(f->label, f->type, f->oneof);

    if (f->oneof) {
        uint32_t which = f->id;
        memcpy(msg + f->quantifier_offset, &which, sizeof(which));
    } else if (q == sizeof(protobuf_c_boolean)) {
        protobuf_c_boolean has = 1;
        memcpy(msg + f->quantifier_offset, &has, sizeof(has));
    }
}

/* The sub-message in field F of MSG, made (at its defaults) when not there yet. */
static int sub_message(phx_policy_t *p, const struct mrpc_field_layout *f, char *msg, char **out)
{
    char *next;
    uint32_t which = 0;

    memcpy(&next, msg + f->offset, sizeof(next));
    if (f->oneof)
        memcpy(&which, msg + f->quantifier_offset, sizeof(which));
    if (next && (!f->oneof || which == f->id)) {
        *out = next;
        return 0;
    }
    if (!(next = arena_take(p, f->message->size)))
        return -ENOSPC;
    message_init(f->message, next);
    memcpy(msg + f->offset, &next, sizeof(next));
    mark_set(f, msg);
    *out = next;
    return 0;
}

/* The fields PATH ("pkg.Out.a.b") goes through from type T, into STEPS (at most
 * REPLY_DEPTH_MAX), the last one the field set: 0 with *N; -ENOENT when PATH does not begin with
 * T's name or names no field; -ENOTSUP when it goes through a repeated field; -E2BIG when it is
 * deeper than REPLY_DEPTH_MAX. */
#define REPLY_DEPTH_MAX 16
static int reply_path(const struct mrpc_type_layout *t, const char *path,
                      const struct mrpc_field_layout **steps, unsigned *n)
{
    size_t len = strlen(t->full_name);

    if (strncmp(path, t->full_name, len) != 0 || path[len] != '.' || !path[len + 1])
        return -ENOENT;
    *n = 0;
    for (const char *name = path + len + 1;; name = strchr(name, '.') + 1) {
        const char *dot = strchr(name, '.');
        const struct mrpc_field_layout *f =
            phx_sdk_field_named(t, name, dot ? (size_t)(dot - name) : strlen(name));
        if (!f)
            return -ENOENT;
        if (f->repeated)
            return -ENOTSUP;
        if (*n == REPLY_DEPTH_MAX)
            return -E2BIG;
        steps[(*n)++] = f;
        if (!dot)
            return 0;
        if (f->kind != MRPC_FIELD_MESSAGE)
            return -ENOENT;
        t = f->message;
    }
}

int phx_call_reply_set(const phx_call_t *call, const char *path, const phx_field_t *value)
{
    struct phx_call_ctx *cx = call ? (struct phx_call_ctx *)call->ctx : NULL;
    const struct mrpc_field_layout *steps[REPLY_DEPTH_MAX];
    const struct mrpc_type_layout *t;
    unsigned n;
    char *msg;

    if (!cx || !path || !value)
        return -ENOTSUP;
    int rc = reply_begin(cx, call, &t, &msg);
    if (rc < 0 || (rc = reply_path(t, path, steps, &n)) < 0)
        return rc == -E2BIG ? -ENOENT : rc;
    for (unsigned i = 0; i + 1 < n; i++)
        if ((rc = sub_message(cx->p, steps[i], msg, &msg)) < 0)
            return rc;
    if ((rc = store(cx->p, steps[n - 1], msg + steps[n - 1]->offset, value)) == 0)
        mark_set(steps[n - 1], msg);
    return rc;
}

/* What a value for F must be, in words. */
static const char *takes(const struct mrpc_field_layout *f)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_BOOL:
        return "true or false";
    case PROTOBUF_C_TYPE_STRING:
        return "a text";
    case PROTOBUF_C_TYPE_BYTES:
        return "a text (its bytes)";
    case PROTOBUF_C_TYPE_MESSAGE:
        return "no value of its own (set its fields)";
    case PROTOBUF_C_TYPE_FLOAT: case PROTOBUF_C_TYPE_DOUBLE:
        return "a number";
    case PROTOBUF_C_TYPE_UINT32: case PROTOBUF_C_TYPE_FIXED32:
        return "an integer from 0 to 4294967295";
    case PROTOBUF_C_TYPE_UINT64: case PROTOBUF_C_TYPE_FIXED64:
        return "an integer from 0";
    case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64: case PROTOBUF_C_TYPE_SFIXED64:
        return "an integer";
    default:
        return "an integer from -2147483648 to 2147483647";
    }
}

int phx_policy_reply_check(phx_engine_t *e, uint32_t service_id, uint32_t method_id,
                           const char *path, const phx_field_t *value, char *why, size_t whylen)
{
    const phx_call_t call = { .service_id = service_id, .method_id = method_id };
    const struct mrpc_method_layout *ml = e ? phx_sdk_method_of(e, &call) : NULL;
    const struct mrpc_field_layout *steps[REPLY_DEPTH_MAX];
    unsigned n;

    if (!ml || !ml->output)
        return -ENOTSUP;
    const char *out = ml->output->full_name;
    switch (reply_path(ml->output, path, steps, &n)) {
    case 0:
        break;
    case -ENOTSUP:
        snprintf(why, whylen, "%s goes through a repeated field: a reply sets singular fields "
                 "only", path);
        return -EINVAL;
    default:
        snprintf(why, whylen, "%s is no field of the method's reply, a %s", path, out);
        return -ENOENT;
    }
    if (suits(steps[n - 1], value) == 0)
        return 0;
    snprintf(why, whylen, "the value does not suit %s, which takes %s", path, takes(steps[n - 1]));
    return -EINVAL;
}

/* ---- answering ------------------------------------------------------------------------------ */

/* The reply to the call D carries, encoded into a block of RECV_HEAP: 0 with *AT and *LEN, or a
 * status with a sentence in WHY. */
static phx_status_t reply_encode(struct phx_call_ctx *cx, const phx_call_t *call,
                                 phx_heap_t *heap, void **at, size_t *len, uint64_t *hash,
                                 char *why, size_t whylen)
{
    struct mrpc_encode_limits lim = { .field_mask = MRPC_ENCODE_LIMIT_FIELD_MAX_BYTES,
                                      .max_bytes = REPLY_MAX_BYTES };
    const struct mrpc_type_layout *t;
    struct mrpc_encoded enc = { 0 };
    char *msg;

    if (reply_begin(cx, call, &t, &msg) < 0) {
        snprintf(why, whylen, "the policy's reply cannot be built: %s",
                 call->kind != PHX_CALL_REQUEST ? "only a request can be answered"
                 : "the method's layouts are not known");
        return PHX_INTERNAL;
    }
    const phx_shm_region_t buf = { .fd = -1, .base = cx->p->reply.buf,
                                   .size = cx->p->reply.cap };
    char err[200];
    if (mrpc_native_encode(t, (uint64_t)(uintptr_t)msg, &buf, &lim, &enc, err, sizeof(err))) {
        snprintf(why, whylen, "the policy's reply does not encode: %s", err);
        return PHX_INTERNAL;
    }
    *len = enc.payload_len;
    *hash = mrpc_type_hash(t);
    if (!heap || !(*at = phx_heap_alloc(heap, *len))) {
        mrpc_encoded_free(&enc);
        snprintf(why, whylen, "the app's receive heap has no room for the policy's reply "
                 "(%zu bytes): the app must release received messages", *len);
        return PHX_RESOURCE_EXHAUSTED;
    }
    mrpc_wire_to_buffer(&enc, *at, *len);
    mrpc_encoded_free(&enc);
    return PHX_OK;
}

/* The descriptors that carry the answer up, for D in the direction of CALL. */
static unsigned answer_descs(const phx_desc_t *d, const phx_call_t *call, void *payload,
                             size_t len, uint64_t hash, phx_desc_t out[2])
{
    phx_desc_t reply = { .conn_id = d->conn_id, .call_id = call->call_id,
                         .service_id = call->service_id, .method_id = call->method_id,
                         .flags = MRPC_WIRE_REPLY | (MRPC_FORMAT_NATIVE << 8),
                         .type_hash = hash, .addr = (uint64_t)(uintptr_t)payload, .len = len };

    if (call->dir == PHX_RX) {
        out[0] = reply;
        out[0].kind = MRPC_DESC_ANSWERED;
        out[0].flags = d->flags;
        return 1;
    }
    out[0] = (phx_desc_t){ .kind = MRPC_DESC_SENT, .status = PHX_OK, .conn_id = d->conn_id,
                           .call_id = d->call_id, .addr = d->addr,
                           .service_id = call->service_id, .method_id = call->method_id };
    out[1] = reply;
    out[1].kind = MRPC_DESC_RECEIVED;
    return 2;
}

int phx_sdk_answer(phx_policy_t *p, phx_engine_t *e, const phx_desc_t *d, const phx_call_t *call,
                   phx_channel_t *up, char *why, size_t whylen, phx_status_t *status)
{
    struct phx_call_ctx cx = { .p = p, .e = e, .d = d };
    phx_app_port_t *port = phx_engine_app_port(e);
    phx_heap_t *heap = port ? phx_app_port_recv_heap(port) : NULL;
    phx_desc_t descs[2];
    void *payload = NULL;
    size_t len = 0;
    uint64_t hash = 0;

    if (phx_chan_space(up) < (call->dir == PHX_TX ? 2u : 1u))
        return 0;
    *status = reply_encode(&cx, call, heap, &payload, &len, &hash, why, whylen);
    if (*status != PHX_OK)
        return -1;
    unsigned n = answer_descs(d, call, payload, len, hash, descs);
    if (call->dir == PHX_RX && d->addr)
        phx_heap_free(heap, (void *)(uintptr_t)d->addr);
    phx_chan_push(up, descs, n);
    return 1;
}
