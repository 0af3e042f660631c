/* native_encode.c - turns an app's message in its send heap into a native payload (sender side).
 *
 * The walker (walk.c) visits every pointer-carrying field once; for each piece this file checks
 * that the memory it names lies inside the app's send heap (strings: that a NUL comes before the
 * heap ends), then records it as the next segment. Pointers and counts are read once by the
 * walker and only the checked copies are used, so an app changing its message concurrently can
 * at worst make the receiver see an inconsistent payload, which the decoder refuses; it can never
 * make the service read outside the heap. Strings that point at the app's own empty string or at
 * a field's default text (both in the app's binary) are sent from the layout's copy instead.
 *
 * The result is a scatter-gather list: the table (service memory), then each segment straight
 * from the heap with zero padding pieces between, or, for payloads under gather_below, one
 * service buffer with everything copied (one piece, and a frozen copy of the content).
 *
 * Every piece lies in the send heap or in the one malloc'd block the result owns: the padding,
 * the empty string and default texts are copied into that block rather than pointed at in this
 * library's constants or in a layout. So a wire message outlives the build of MrpcEngine that
 * encoded it and the layout set it was encoded with (a live upgrade hands it to the next build
 * while the transport still sends it). */
#include "walk.h"

#include <stdbool.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Upper bound on max_segments whatever the caller asks: keeps the iov count (1 + 2 per segment)
 * inside an unsigned and the table arithmetic far from overflow. */
#define ENCODE_SEGMENTS_CAP (1u << 28)

/* Segments the encoder keeps on the stack: a message of this many pieces (most: a struct and a
 * few strings or bytes) is encoded without allocating its segment list. */
#define ENCODE_INLINE_SEGMENTS 16

static const char    empty_text[1];

struct segment {
    const void *base;
    size_t      len;
};

struct encoder {
    const phx_shm_region_t *heap;
    size_t                  max_bytes;
    size_t                  max_segments;
    struct segment         *segs;       /* inline, or malloc'd once it outgrew inline */
    struct segment          inline_segs[ENCODE_INLINE_SEGMENTS];
    size_t                  n_segs;
    size_t                  cap_segs;
    size_t                  body_len;   /* the segments laid out from offset 0, padding included */
    char                   *err;
    size_t                  errlen;
};

static size_t payload_len_for(size_t n_segs, size_t body_len)
{
    return mrpc_payload_table_end(n_segs) + body_len;
}

static int add_segment(struct encoder *e, const void *base, size_t len)
{
    if (e->n_segs + 1 > e->max_segments)
        return mrpc_fail(e->err, e->errlen, -E2BIG, "the message has more than %zu pieces",
                         e->max_segments);
    size_t body = mrpc_align16(e->body_len) + len;   /* len <= heap size: no overflow */
    if (payload_len_for(e->n_segs + 1, body) > e->max_bytes)
        return mrpc_fail(e->err, e->errlen, -E2BIG, "the message is larger than %zu bytes",
                         e->max_bytes);
    if (e->n_segs == e->cap_segs) {
        size_t cap = 2 * e->cap_segs;
        bool moving = e->segs == e->inline_segs;
        struct segment *segs = realloc(moving ? NULL : e->segs, cap * sizeof(*segs));
        if (!segs)
            return mrpc_fail(e->err, e->errlen, -ENOMEM, "out of memory encoding a message");
        if (moving)
            memcpy(segs, e->inline_segs, sizeof(e->inline_segs));
        e->segs = segs;
        e->cap_segs = cap;
    }
    e->segs[e->n_segs++] = (struct segment){ base, len };
    e->body_len = body;
    return 0;
}

static int outside(struct encoder *e, const struct mrpc_piece *p)
{
    return mrpc_fail(e->err, e->errlen, -EINVAL, "field %s.%s points outside the send heap",
                     p->owner->full_name, p->field->name);
}

static int misaligned(struct encoder *e, const struct mrpc_piece *p)
{
    return mrpc_fail(e->err, e->errlen, -EINVAL, "field %s.%s points to a misaligned address",
                     p->owner->full_name, p->field->name);
}

static int null_refused(struct encoder *e, const struct mrpc_piece *p)
{
    return mrpc_fail(e->err, e->errlen, -EINVAL,
                     "field %s.%s is NULL, which a required field or repeated element cannot be",
                     p->owner->full_name, p->field->name);
}

static const void *heap_ptr(uint64_t addr)
{
    return (const void *)(uintptr_t)addr;
}

/* The text is found with a memchr bounded by the heap's end and by what the payload may still
 * grow, so that many pointers to one long string cost no more than max_bytes of scanning. */
static int encode_string(struct encoder *e, const struct mrpc_piece *p, unsigned char **follow)
{
    const struct mrpc_field_layout *f = p->field;
    if (p->ptr == 0)
        return mrpc_null_allowed(f) ? add_segment(e, NULL, 0) : null_refused(e, p);
    if (p->ptr == p->owner->empty_string_addr)
        return add_segment(e, empty_text, sizeof(empty_text));
    if (f->default_addr && p->ptr == f->default_addr)
        return add_segment(e, f->default_value, f->default_len + 1);

    const char *s = heap_ptr(p->ptr);
    if (!phx_shm_region_contains(e->heap, s, 1))
        return outside(e, p);
    size_t room = (size_t)((const char *)e->heap->base + e->heap->size - s);
    size_t used = payload_len_for(e->n_segs + 1, mrpc_align16(e->body_len));
    size_t budget = e->max_bytes > used ? e->max_bytes - used : 0;
    size_t scan = room < budget ? room : budget;
    const char *nul = memchr(s, 0, scan);
    if (!nul && scan == room)
        return mrpc_fail(e->err, e->errlen, -EINVAL, "string without terminator in field %s.%s",
                         p->owner->full_name, f->name);
    if (!nul)
        return mrpc_fail(e->err, e->errlen, -E2BIG, "the message is larger than %zu bytes",
                         e->max_bytes);
    return add_segment(e, s, (size_t)(nul - s) + 1);
}

static int encode_bytes(struct encoder *e, const struct mrpc_piece *p, unsigned char **follow)
{
    const struct mrpc_field_layout *f = p->field;
    if (p->count == 0)
        return add_segment(e, NULL, 0);
    if (f->default_addr && p->ptr == f->default_addr && p->count == f->default_len)
        return add_segment(e, f->default_value, f->default_len);
    if (!phx_shm_region_contains(e->heap, heap_ptr(p->ptr), p->count))
        return outside(e, p);
    return add_segment(e, heap_ptr(p->ptr), p->count);
}

static int encode_message(struct encoder *e, const struct mrpc_piece *p, unsigned char **follow)
{
    size_t size = p->field->message->size;
    if (p->ptr == 0)
        return mrpc_null_allowed(p->field) ? add_segment(e, NULL, 0) : null_refused(e, p);
    if (!phx_shm_region_contains(e->heap, heap_ptr(p->ptr), size))
        return outside(e, p);
    if (p->ptr % sizeof(void *))
        return misaligned(e, p);
    *follow = (unsigned char *)(uintptr_t)p->ptr;
    return add_segment(e, heap_ptr(p->ptr), size);
}

static int encode_array(struct encoder *e, const struct mrpc_piece *p, unsigned char **follow)
{
    const struct mrpc_field_layout *f = p->field;
    if (p->count == 0)
        return add_segment(e, NULL, 0);
    if (p->count > SIZE_MAX / f->elem_size)
        return mrpc_fail(e->err, e->errlen, -EINVAL,
                         "field %s.%s has %zu elements, more than memory can hold",
                         p->owner->full_name, f->name, p->count);
    size_t bytes = p->count * f->elem_size;
    if (!phx_shm_region_contains(e->heap, heap_ptr(p->ptr), bytes))
        return outside(e, p);
    if (f->kind != MRPC_FIELD_SCALAR && p->ptr % sizeof(void *))
        return misaligned(e, p);
    *follow = (unsigned char *)(uintptr_t)p->ptr;
    return add_segment(e, heap_ptr(p->ptr), bytes);
}

/* One handler per piece kind (walk.h); MESSAGE and ARRAY set *FOLLOW to the checked memory. */
static int (*const encode_kind[])(struct encoder *, const struct mrpc_piece *, unsigned char **) = {
    [MRPC_PIECE_STRING] = encode_string,
    [MRPC_PIECE_BYTES] = encode_bytes,
    [MRPC_PIECE_MESSAGE] = encode_message,
    [MRPC_PIECE_ARRAY] = encode_array,
};

static int encode_piece(void *ctx, const struct mrpc_piece *p, unsigned char **follow)
{
    return encode_kind[p->kind](ctx, p, follow);
}

static const struct mrpc_walk_ops encode_ops = { .piece = encode_piece };

/* ---- output --------------------------------------------------------------------------------- */

static void write_table(const struct encoder *e, uint8_t *dst)
{
    uint32_t hdr[2] = { (uint32_t)e->n_segs, 0 };
    memset(dst, 0, mrpc_payload_table_end(e->n_segs));
    memcpy(dst, hdr, sizeof(hdr));
    for (size_t i = 0; i < e->n_segs; i++) {
        uint64_t len = e->segs[i].len;
        memcpy(dst + MRPC_PAYLOAD_HDR_SIZE + 8 * i, &len, sizeof(len));
    }
}

/* One buffer: table, segments, zero padding. */
static int emit_gathered(const struct encoder *e, size_t payload_len, struct mrpc_encoded *out)
{
    struct mrpc_iov *iov = malloc(sizeof(*iov) + payload_len);
    if (!iov)
        return mrpc_fail(e->err, e->errlen, -ENOMEM, "out of memory encoding a message");
    uint8_t *buf = (uint8_t *)(iov + 1);
    size_t pos = mrpc_payload_table_end(e->n_segs);
    write_table(e, buf);
    for (size_t i = 0; i < e->n_segs; i++) {
        size_t at = mrpc_align16(pos);
        memset(buf + pos, 0, at - pos);
        if (e->segs[i].len)
            memcpy(buf + at, e->segs[i].base, e->segs[i].len);
        pos = at + e->segs[i].len;
    }
    iov[0] = (struct mrpc_iov){ buf, payload_len };
    *out = (struct mrpc_encoded){ .iov = iov, .n_iov = 1, .payload_len = payload_len,
                                  .owned = iov };
    return 0;
}

/* Bytes of the segments that do not lie in the send heap (texts from the layout). */
static size_t foreign_bytes(const struct encoder *e)
{
    size_t n = 0;

    for (size_t i = 0; i < e->n_segs; i++)
        if (e->segs[i].len && !phx_shm_region_contains(e->heap, e->segs[i].base, e->segs[i].len))
            n += e->segs[i].len;
    return n;
}

/* SEG itself when it lies in the send heap, else a copy at *SPARE (which moves on). */
static const void *own_piece(const struct encoder *e, const struct segment *seg, uint8_t **spare)
{
    if (phx_shm_region_contains(e->heap, seg->base, seg->len))
        return seg->base;
    uint8_t *copy = *spare;
    memcpy(copy, seg->base, seg->len);
    *spare += seg->len;
    return copy;
}

/* The table in service memory, then every segment in place with padding pieces between. */
static int emit_scattered(const struct encoder *e, size_t payload_len, struct mrpc_encoded *out)
{
    size_t max_iov = 1 + 2 * e->n_segs;
    size_t table_len = mrpc_payload_table_end(e->n_segs);
    struct mrpc_iov *iov = malloc(max_iov * sizeof(*iov) + table_len + MRPC_PAYLOAD_ALIGN +
                                  foreign_bytes(e));
    if (!iov)
        return mrpc_fail(e->err, e->errlen, -ENOMEM, "out of memory encoding a message");
    uint8_t *table = (uint8_t *)(iov + max_iov);
    uint8_t *pad = table + table_len, *spare = pad + MRPC_PAYLOAD_ALIGN;
    write_table(e, table);
    memset(pad, 0, MRPC_PAYLOAD_ALIGN);

    unsigned n = 0;
    size_t pos = table_len;
    iov[n++] = (struct mrpc_iov){ table, table_len };
    for (size_t i = 0; i < e->n_segs; i++) {
        size_t at = mrpc_align16(pos);
        if (at > pos)
            iov[n++] = (struct mrpc_iov){ pad, at - pos };
        if (e->segs[i].len)
            iov[n++] = (struct mrpc_iov){ own_piece(e, &e->segs[i], &spare), e->segs[i].len };
        pos = at + e->segs[i].len;
    }
    *out = (struct mrpc_encoded){ .iov = iov, .n_iov = n, .payload_len = payload_len,
                                  .owned = iov };
    return 0;
}

/* ---- entry points --------------------------------------------------------------------------- */

/* LIM's MEMBER when its field_mask has BIT, else the default. */
#define LIMIT(lim, bit, member, fallback) \
    ((lim) && ((lim)->field_mask & (bit)) ? (lim)->member : (fallback))

int mrpc_native_encode(const struct mrpc_type_layout *t, uint64_t msg_addr,
                       const phx_shm_region_t *send_heap, const struct mrpc_encode_limits *lim,
                       struct mrpc_encoded *out, char *err, size_t errlen)
{
    *out = (struct mrpc_encoded){ 0 };
    if (!t || !send_heap)
        return mrpc_fail(err, errlen, -EINVAL, "no message type or no send heap");
    struct encoder e = {
        .heap = send_heap,
        .max_bytes = LIMIT(lim, MRPC_ENCODE_LIMIT_FIELD_MAX_BYTES, max_bytes,
                           MRPC_MARSHAL_DEFAULT_MAX_BYTES),
        .max_segments = LIMIT(lim, MRPC_ENCODE_LIMIT_FIELD_MAX_SEGMENTS, max_segments,
                              MRPC_MARSHAL_DEFAULT_MAX_SEGMENTS),
        .err = err, .errlen = errlen,
    };
    if (e.max_segments > ENCODE_SEGMENTS_CAP)
        e.max_segments = ENCODE_SEGMENTS_CAP;
    e.segs = e.inline_segs;
    e.cap_segs = ENCODE_INLINE_SEGMENTS;
    struct mrpc_walk w = {
        .ops = &encode_ops, .ctx = &e, .err = err, .errlen = errlen,
        .max_depth = LIMIT(lim, MRPC_ENCODE_LIMIT_FIELD_MAX_DEPTH, max_depth,
                           MRPC_MARSHAL_DEFAULT_MAX_DEPTH),
    };
    size_t gather_below = LIMIT(lim, MRPC_ENCODE_LIMIT_FIELD_GATHER_BELOW, gather_below,
                                MRPC_MARSHAL_DEFAULT_GATHER_BELOW);

    unsigned char *msg = (unsigned char *)(uintptr_t)msg_addr;
    int rc;
    if (!phx_shm_region_contains(send_heap, msg, t->size) || msg_addr % sizeof(void *))
        rc = mrpc_fail(err, errlen, -EINVAL, "message %s at %#llx is outside the send heap",
                       t->full_name, (unsigned long long)msg_addr);
    else if ((rc = add_segment(&e, msg, t->size)) == 0 &&
             (rc = mrpc_walk_message(&w, t, msg)) == 0) {
        size_t payload_len = payload_len_for(e.n_segs, e.body_len);
        rc = payload_len < gather_below ? emit_gathered(&e, payload_len, out)
                                        : emit_scattered(&e, payload_len, out);
    }
    if (e.segs != e.inline_segs)
        free(e.segs);
    return rc;
}

void mrpc_encoded_free(struct mrpc_encoded *e)
{
    if (!e)
        return;
    free(e->owned);
    *e = (struct mrpc_encoded){ 0 };
}

int mrpc_wire_to_buffer(const struct mrpc_encoded *e, void *dst, size_t cap)
{
    if (e->payload_len > cap)
        return -ENOSPC;
    uint8_t *p = dst;
    for (unsigned i = 0; i < e->n_iov; i++) {
        if (e->iov[i].len)
            memcpy(p, e->iov[i].base, e->iov[i].len);
        p += e->iov[i].len;
    }
    return 0;
}
