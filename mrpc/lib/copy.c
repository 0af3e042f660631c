/* copy.c - deep copies of messages, walking the descriptor, and moving the pieces of an outgoing
 * message that point into the receive heap over to the send heap.
 *
 * mrpc_copy_out() (into any allocator) and mrpc_message_copy() (into the send heap, what the
 * generated _copy and _from builders call) copy a message field by field: scalars as their bits (so -0.0 stays
 * -0.0 and NaN payloads survive, which a pack and unpack do not promise), strings, bytes and
 * arrays into fresh blocks of the caller's allocator, sub-messages recursively, unknown fields
 * too. Strings and bytes of a singular field that point at the field's default value keep
 * pointing there, as protobuf-c's free_unpacked() expects; every other piece is copied.
 *
 * lib_localize() is what makes a reply that borrows from its request work: a handler that sets
 * `reply->name = req->name` builds a message with a piece in the receive heap, which the service
 * refuses (it reads only the send heap) and which the app gives back when the handler returns.
 * Before a reply or request is submitted, every piece of it found in the receive heap is copied
 * into the send heap and the pointer in the (send-heap) message replaced; the copies are freed
 * with the message. Pieces elsewhere are left alone.
 *
 * Both walks are bounded by LIB_COPY_MAX_DEPTH nesting (received messages are bounded by the
 * service's decoder already; this stops a cycle an app built by mistake). */
#include "mrpc_lib.h"

#include <stdlib.h>
#include <string.h>

#define LIB_COPY_MAX_DEPTH 128

/* ---- the shape of a field ----------------------------------------------------------------- */

static void *field_at(const ProtobufCMessage *msg, size_t offset)
{
    return (char *)msg + offset;
}

/* Whether F holds a value in MSG: an inactive member of a oneof shares its storage. */
static bool field_active(const ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f)
{
    if (!(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF))
        return true;
    return *(const uint32_t *)field_at(msg, f->quantifier_offset) == f->id;
}

static size_t elem_size(ProtobufCType type)
{
    switch (type) {
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
    case PROTOBUF_C_TYPE_DOUBLE:
        return 8;
    case PROTOBUF_C_TYPE_BOOL:
        return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_STRING:
        return sizeof(char *);
    case PROTOBUF_C_TYPE_BYTES:
        return sizeof(ProtobufCBinaryData);
    case PROTOBUF_C_TYPE_MESSAGE:
        return sizeof(ProtobufCMessage *);
    default:
        return 4;
    }
}

static bool is_pointer_type(ProtobufCType type)
{
    return type == PROTOBUF_C_TYPE_STRING || type == PROTOBUF_C_TYPE_BYTES ||
           type == PROTOBUF_C_TYPE_MESSAGE;
}

/* protobuf_c_message_free_unpacked() leaves a singular field's default value alone and frees
 * every other string, the empty string of a repeated field included: only defaults are shared. */
static bool default_string(const ProtobufCFieldDescriptor *f, const char *s)
{
    return f->label != PROTOBUF_C_LABEL_REPEATED && f->default_value && s == f->default_value;
}

static bool default_bytes(const ProtobufCFieldDescriptor *f, const ProtobufCBinaryData *b)
{
    return f->default_value && b->data == ((const ProtobufCBinaryData *)f->default_value)->data;
}

/* ---- deep copy ---------------------------------------------------------------------------- */

static void *dup_bytes(ProtobufCAllocator *a, const void *src, size_t len)
{
    void *p = a->alloc(a->allocator_data, len ? len : 1);

    if (p && len)
        memcpy(p, src, len);
    return p;
}

static ProtobufCMessage *copy_message(const ProtobufCMessage *src,
                                      const ProtobufCMessageDescriptor *d, ProtobufCAllocator *a,
                                      unsigned depth);

/* Copies one value of type F->type from SRC to DST (both slots of the field or its array);
 * false when out of memory (DST then holds nothing to free). */
static bool copy_value(const ProtobufCFieldDescriptor *f, void *dst, const void *src,
                       ProtobufCAllocator *a, unsigned depth)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(char *const *)src;
        char *c = (!s || default_string(f, s)) ? (char *)s : dup_bytes(a, s, strlen(s) + 1);
        *(char **)dst = c;
        return c || !s;
    }
    case PROTOBUF_C_TYPE_BYTES: {
        ProtobufCBinaryData b = *(const ProtobufCBinaryData *)src;
        ProtobufCBinaryData *out = dst;
        out->data = (!b.data || default_bytes(f, &b)) ? b.data : dup_bytes(a, b.data, b.len);
        out->len = out->data ? b.len : 0;
        return out->data || !b.data;
    }
    case PROTOBUF_C_TYPE_MESSAGE: {
        const ProtobufCMessage *m = *(ProtobufCMessage *const *)src;
        ProtobufCMessage *c = m ? copy_message(m, f->descriptor, a, depth + 1) : NULL;
        *(ProtobufCMessage **)dst = c;
        return c || !m;
    }
    default:
        memcpy(dst, src, elem_size(f->type));
        return true;
    }
}

static bool copy_repeated(const ProtobufCFieldDescriptor *f, ProtobufCMessage *dst,
                          const ProtobufCMessage *src, ProtobufCAllocator *a, unsigned depth)
{
    size_t n = *(const size_t *)field_at(src, f->quantifier_offset);
    const char *from = *(char *const *)field_at(src, f->offset);
    size_t es = elem_size(f->type);

    if (!n || !from)
        return true;
    char *to = a->alloc(a->allocator_data, n * es);
    if (!to)
        return false;
    memset(to, 0, n * es);
    *(char **)field_at(dst, f->offset) = to;
    *(size_t *)field_at(dst, f->quantifier_offset) = n;
    if (!is_pointer_type(f->type)) {
        memcpy(to, from, n * es);
        return true;
    }
    for (size_t i = 0; i < n; i++)
        if (!copy_value(f, to + i * es, from + i * es, a, depth))
            return false;
    return true;
}

/* Clears DST's pointers (a struct copy of SRC) so that a copy failing halfway frees only what it
 * allocated. */
static void clear_pointers(ProtobufCMessage *dst)
{
    const ProtobufCMessageDescriptor *d = dst->descriptor;

    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (!field_active(dst, f))
            continue;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            *(size_t *)field_at(dst, f->quantifier_offset) = 0;
            *(void **)field_at(dst, f->offset) = NULL;
        } else if (f->type == PROTOBUF_C_TYPE_BYTES) {
            *(ProtobufCBinaryData *)field_at(dst, f->offset) = (ProtobufCBinaryData){ 0, NULL };
        } else if (is_pointer_type(f->type)) {
            *(void **)field_at(dst, f->offset) = NULL;
        }
    }
    dst->n_unknown_fields = 0;
    dst->unknown_fields = NULL;
}

static bool copy_unknown(ProtobufCMessage *dst, const ProtobufCMessage *src,
                         ProtobufCAllocator *a)
{
    size_t n = src->n_unknown_fields;

    if (!n || !src->unknown_fields)
        return true;
    ProtobufCMessageUnknownField *u = a->alloc(a->allocator_data, n * sizeof(*u));
    if (!u)
        return false;
    memset(u, 0, n * sizeof(*u));
    dst->unknown_fields = u;
    dst->n_unknown_fields = n;
    for (size_t i = 0; i < n; i++) {
        u[i] = src->unknown_fields[i];
        u[i].data = dup_bytes(a, src->unknown_fields[i].data, u[i].len);
        if (!u[i].data) {
            u[i].len = 0;
            return false;
        }
    }
    return true;
}

/* SRC read as D describes it (sub-messages as their fields' descriptors do: never through the
 * message's own descriptor pointer), copied with A. */
static ProtobufCMessage *copy_message(const ProtobufCMessage *src,
                                      const ProtobufCMessageDescriptor *d, ProtobufCAllocator *a,
                                      unsigned depth)
{
    bool ok = depth <= LIB_COPY_MAX_DEPTH && d;
    ProtobufCMessage *dst = ok ? a->alloc(a->allocator_data, d->sizeof_message) : NULL;

    if (!dst)
        return NULL;
    memcpy(dst, src, d->sizeof_message);
    dst->descriptor = d;
    clear_pointers(dst);
    for (unsigned i = 0; ok && i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (!field_active(src, f))
            continue;
        if (f->label == PROTOBUF_C_LABEL_REPEATED)
            ok = copy_repeated(f, dst, src, a, depth);
        else if (is_pointer_type(f->type))
            ok = copy_value(f, field_at(dst, f->offset), field_at(src, f->offset), a, depth);
    }
    if (ok)
        ok = copy_unknown(dst, src, a);
    if (!ok) {
        protobuf_c_message_free_unpacked(dst, a);
        return NULL;
    }
    return dst;
}

static void *system_alloc(void *data, size_t size)
{
    return malloc(size);
}

static void system_free(void *data, void *ptr)
{
    free(ptr);
}

ProtobufCMessage *mrpc_copy_out(const ProtobufCMessage *msg, ProtobufCAllocator *allocator)
{
    ProtobufCAllocator system = { .alloc = system_alloc, .free = system_free };

    if (!msg || !msg->descriptor)
        return NULL;
    return copy_message(msg, msg->descriptor, allocator ? allocator : &system, 0);
}

ProtobufCMessage *mrpc_message_copy(mrpc_ctx_t *ctx, const ProtobufCMessageDescriptor *desc,
                                    const ProtobufCMessage *src)
{
    if (!ctx || !desc || !src)
        return NULL;
    return copy_message(src, desc, mrpc_allocator(ctx), 0);
}

/* ---- pieces in the receive heap ----------------------------------------------------------- */

struct localizer {
    mrpc_ctx_t        *ctx;
    ProtobufCAllocator heap;        /* the send heap; frees only its own blocks */
    unsigned           copied;
};

static bool in_recv(const struct localizer *l, const void *p)
{
    return p && lib_in_recv_heap(l->ctx, (uintptr_t)p, 1);
}

static bool localize_message(struct localizer *l, ProtobufCMessage *msg, unsigned depth);

/* Makes the value at SLOT (of the field or its array, in send-heap memory) free of
 * receive-heap pointers. */
static bool localize_value(struct localizer *l, const ProtobufCFieldDescriptor *f, void *slot,
                           unsigned depth)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING:
    case PROTOBUF_C_TYPE_BYTES: {
        if (f->type == PROTOBUF_C_TYPE_STRING ? !in_recv(l, *(char **)slot)
                                              : !in_recv(l, ((ProtobufCBinaryData *)slot)->data))
            return true;
        l->copied++;
        return copy_value(f, slot, slot, &l->heap, depth);
    }
    case PROTOBUF_C_TYPE_MESSAGE: {
        ProtobufCMessage *m = *(ProtobufCMessage **)slot;
        if (!in_recv(l, m))
            return !m || localize_message(l, m, depth + 1);
        l->copied++;
        return copy_value(f, slot, slot, &l->heap, depth);
    }
    default:
        return true;
    }
}

static bool localize_repeated(struct localizer *l, const ProtobufCFieldDescriptor *f,
                              ProtobufCMessage *msg, unsigned depth)
{
    size_t n = *(size_t *)field_at(msg, f->quantifier_offset);
    char **array = field_at(msg, f->offset);
    size_t es = elem_size(f->type);

    if (!n || !*array)
        return true;
    if (in_recv(l, *array)) {
        char *copy = l->heap.alloc(l->heap.allocator_data, n * es);
        if (!copy)
            return false;
        memcpy(copy, *array, n * es);
        *array = copy;
        l->copied++;
    }
    for (size_t i = 0; is_pointer_type(f->type) && i < n; i++)
        if (!localize_value(l, f, *array + i * es, depth))
            return false;
    return true;
}

static bool localize_message(struct localizer *l, ProtobufCMessage *msg, unsigned depth)
{
    const ProtobufCMessageDescriptor *d = msg->descriptor;

    if (depth > LIB_COPY_MAX_DEPTH || !d)
        return false;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        bool ok = true;
        if (!field_active(msg, f))
            continue;
        if (f->label == PROTOBUF_C_LABEL_REPEATED)
            ok = localize_repeated(l, f, msg, depth);
        else if (is_pointer_type(f->type))
            ok = localize_value(l, f, field_at(msg, f->offset), depth);
        if (!ok)
            return false;
    }
    return true;
}

phx_status_t lib_localize(mrpc_ctx_t *ctx, ProtobufCMessage *msg, const char *what,
                          mrpc_status_t *st)
{
    struct localizer l = { .ctx = ctx, .heap = ctx->free_alloc };

    if (localize_message(&l, msg, 0))
        return PHX_OK;
    lib_status_set(st, PHX_RESOURCE_EXHAUSTED, "the %s borrows from a received message and the "
                   "send heap has no room to copy it (or it nests deeper than %d)", what,
                   LIB_COPY_MAX_DEPTH);
    return st->code;
}
