/* native_decode.c - turns a landed native payload into a protobuf-c message in place (receiver).
 *
 * The payload came from the network and sits in the receiving app's receive heap, which only the
 * service writes. First the segment table is checked as a whole: the count fits the payload,
 * every segment starts at its 16-byte aligned offset and ends inside the payload, and the last
 * one ends exactly where the payload does. Then the walker (walk.c) goes over the landed structs
 * in the same order the encoder used; each pointer-carrying field takes the next segment, whose
 * length must be exactly what the struct's own counts (read once) imply, and gets the segment's
 * address. Each struct's ProtobufCMessage base gets the receiving app's descriptor and no
 * unknown fields. Pointers are only ever written into struct and array segments, so nothing
 * outside the payload is touched; the sender's pointer values are never followed. */
#include "walk.h"

#include <errno.h>
#include <string.h>

struct decoder {
    uint8_t *payload;
    size_t   len;
    size_t   n_segs;
    size_t   next;      /* index of the next segment to hand out */
    size_t   pos;       /* end of the segment handed out last */
    char    *err;
    size_t   errlen;
};

struct segment {
    uint8_t *base;
    uint64_t len;
};

static uint64_t table_len_of(const struct decoder *d, size_t i)
{
    uint64_t len;
    memcpy(&len, d->payload + MRPC_PAYLOAD_HDR_SIZE + 8 * i, sizeof(len));
    return len;
}

static int parse_table(struct decoder *d)
{
    uint32_t hdr[2];
    if ((uintptr_t)d->payload % MRPC_PAYLOAD_ALIGN)
        return mrpc_fail(d->err, d->errlen, -EINVAL, "the payload is not 16-byte aligned");
    if (d->len < MRPC_PAYLOAD_HDR_SIZE)
        return mrpc_fail(d->err, d->errlen, -EINVAL,
                         "a payload of %zu bytes is too short for its header", d->len);
    memcpy(hdr, d->payload, sizeof(hdr));
    if (hdr[0] == 0 || hdr[0] > (d->len - MRPC_PAYLOAD_HDR_SIZE) / 8)
        return mrpc_fail(d->err, d->errlen, -EINVAL,
                         "the payload announces %u segments, which %zu bytes cannot hold",
                         hdr[0], d->len);
    if (hdr[1] != 0)
        return mrpc_fail(d->err, d->errlen, -EINVAL, "the payload's reserved word is not zero");
    d->n_segs = hdr[0];

    size_t pos = mrpc_payload_table_end(d->n_segs);
    for (size_t i = 0; i < d->n_segs; i++) {
        size_t at = mrpc_align16(pos);
        uint64_t len = table_len_of(d, i);
        if (at > d->len || len > d->len - at)
            return mrpc_fail(d->err, d->errlen, -EINVAL,
                             "segment %zu (%llu bytes) ends beyond the payload's %zu bytes", i,
                             (unsigned long long)len, d->len);
        pos = at + len;
    }
    if (pos != d->len)
        return mrpc_fail(d->err, d->errlen, -EINVAL,
                         "the payload has %zu bytes after its last segment", d->len - pos);
    d->pos = mrpc_payload_table_end(d->n_segs);
    return 0;
}

static int next_segment(struct decoder *d, struct segment *seg)
{
    if (d->next == d->n_segs)
        return mrpc_fail(d->err, d->errlen, -EINVAL,
                         "the payload's %zu segments are fewer than its message needs",
                         d->n_segs);
    size_t at = mrpc_align16(d->pos);
    seg->base = d->payload + at;
    seg->len = table_len_of(d, d->next++);
    d->pos = at + seg->len;     /* parse_table checked that it fits */
    return 0;
}

static void store_ptr(unsigned char *slot, const void *ptr)
{
    memcpy(slot, &ptr, sizeof(ptr));
}

static int mismatch(struct decoder *d, const struct mrpc_piece *p, const char *what,
                    const struct segment *seg)
{
    return mrpc_fail(d->err, d->errlen, -EINVAL, "field %s.%s: %s (its segment holds %llu bytes)",
                     p->owner->full_name, p->field->name, what, (unsigned long long)seg->len);
}

/* protobuf-c tells an unset proto2 optional string from a set one by its pointer: equal to the
 * default text's address means unset. The default travels as text, so text equal to the
 * receiving app's default becomes a pointer to that app's own default (in its binary). Not for a
 * oneof member: its case says it is set, and protobuf-c's packer skips a member pointing at the
 * default, so "" chosen in a oneof would vanish from a copy or a re-encoding. */
static bool is_default_text(const struct mrpc_field_layout *f, const struct segment *seg)
{
    return f->default_addr && !f->oneof && seg->len == f->default_len + 1 &&
           memcmp(seg->base, f->default_value, seg->len) == 0;
}

static int decode_string(struct decoder *d, const struct mrpc_piece *p, const struct segment *seg,
                         unsigned char **follow)
{
    if (!seg->len && !mrpc_null_allowed(p->field))
        return mismatch(d, p, "a required value or repeated element cannot be NULL", seg);
    if (seg->len && seg->base[seg->len - 1] != '\0')
        return mismatch(d, p, "the string does not end with a NUL", seg);
    store_ptr(p->slot, is_default_text(p->field, seg)
                           ? (const void *)(uintptr_t)p->field->default_addr
                           : seg->len ? seg->base : NULL);
    return 0;
}

static int decode_bytes(struct decoder *d, const struct mrpc_piece *p, const struct segment *seg,
                        unsigned char **follow)
{
    if (p->count != seg->len)
        return mismatch(d, p, "the length in the struct differs from the segment's", seg);
    store_ptr(p->slot, seg->len ? seg->base : NULL);
    return 0;
}

static int decode_message(struct decoder *d, const struct mrpc_piece *p,
                          const struct segment *seg, unsigned char **follow)
{
    if (!seg->len && !mrpc_null_allowed(p->field))
        return mismatch(d, p, "a required value or repeated element cannot be NULL", seg);
    if (seg->len && seg->len != p->field->message->size)
        return mismatch(d, p, "the nested message has another size", seg);
    store_ptr(p->slot, seg->len ? seg->base : NULL);
    *follow = seg->len ? seg->base : NULL;
    return 0;
}

static int decode_array(struct decoder *d, const struct mrpc_piece *p, const struct segment *seg,
                        unsigned char **follow)
{
    size_t es = p->field->elem_size;
    if (p->count > SIZE_MAX / es || p->count * es != seg->len)
        return mismatch(d, p, "the array's count implies another size", seg);
    store_ptr(p->slot, seg->len ? seg->base : NULL);
    *follow = seg->len ? seg->base : NULL;
    return 0;
}

/* One handler per piece kind (walk.h); MESSAGE and ARRAY set *FOLLOW to their segment. */
static int (*const decode_kind[])(struct decoder *, const struct mrpc_piece *,
                                  const struct segment *, unsigned char **) = {
    [MRPC_PIECE_STRING] = decode_string,
    [MRPC_PIECE_BYTES] = decode_bytes,
    [MRPC_PIECE_MESSAGE] = decode_message,
    [MRPC_PIECE_ARRAY] = decode_array,
};

static int decode_piece(void *ctx, const struct mrpc_piece *p, unsigned char **follow)
{
    struct decoder *d = ctx;
    struct segment seg = { 0 };
    int rc = next_segment(d, &seg);
    return rc ? rc : decode_kind[p->kind](d, p, &seg, follow);
}

/* The sender's base is meaningless here: its descriptor is an address in the sender's binary. */
static int decode_enter_struct(void *ctx, const struct mrpc_type_layout *t, unsigned char *s)
{
    ProtobufCMessage base = {
        .descriptor = (const ProtobufCMessageDescriptor *)(uintptr_t)t->descriptor_addr,
        .n_unknown_fields = 0,
        .unknown_fields = NULL,
    };
    memcpy(s, &base, sizeof(base));
    return 0;
}

static const struct mrpc_walk_ops decode_ops = {
    .enter_struct = decode_enter_struct,
    .piece = decode_piece,
};

int mrpc_native_decode(const struct mrpc_type_layout *t, void *payload, size_t len, void **msg,
                       char *err, size_t errlen)
{
    struct decoder d = { .payload = payload, .len = len, .err = err, .errlen = errlen };
    struct mrpc_walk w = {
        .ops = &decode_ops, .ctx = &d, .max_depth = MRPC_MARSHAL_DEFAULT_MAX_DEPTH,
        .err = err, .errlen = errlen,
    };
    struct segment top = { 0 };
    int rc = parse_table(&d);
    if (rc == 0)
        rc = next_segment(&d, &top);
    if (rc)
        return rc;
    if (top.len != t->size)
        return mrpc_fail(err, errlen, -EINVAL,
                         "the payload's first segment holds %llu bytes, but %s takes %zu",
                         (unsigned long long)top.len, t->full_name, t->size);
    rc = mrpc_walk_message(&w, t, top.base);
    if (rc)
        return rc;
    if (d.next != d.n_segs)
        return mrpc_fail(err, errlen, -EINVAL,
                         "the payload has %zu segments more than its message needs",
                         d.n_segs - d.next);
    *msg = top.base;
    return 0;
}
