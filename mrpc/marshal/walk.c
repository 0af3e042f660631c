/* walk.c - the depth-first walk over pointer-carrying fields (see walk.h).
 *
 * For each struct: every field in layout order; scalars travel inside the struct and are
 * skipped; a oneof member only counts when the case (read once) equals its id; a repeated field
 * is one ARRAY piece followed, for strings, bytes and messages, by one piece per element; a
 * message piece recurses into the nested struct. The walker never decides whether memory may be
 * read: it only reads a nested struct or an array where the callback said it may. */
#include "walk.h"

#include <errno.h>

static int walk_struct(const struct mrpc_walk *w, const struct mrpc_type_layout *t,
                       unsigned char *s, unsigned depth);

/* One string, bytes or message value stored at SLOT (a singular field or an array element). */
static int walk_value(const struct mrpc_walk *w, const struct mrpc_type_layout *owner,
                      const struct mrpc_field_layout *f, unsigned char *slot, unsigned depth)
{
    struct mrpc_piece p = { .field = f, .owner = owner, .slot = slot };

    switch (f->kind) {
    case MRPC_FIELD_STRING:
        p.kind = MRPC_PIECE_STRING;
        break;
    case MRPC_FIELD_BYTES:
        p.kind = MRPC_PIECE_BYTES;
        p.count = mrpc_load_u64(slot + offsetof(ProtobufCBinaryData, len));
        p.slot = slot + offsetof(ProtobufCBinaryData, data);
        break;
    case MRPC_FIELD_MESSAGE:
        p.kind = MRPC_PIECE_MESSAGE;
        break;
    case MRPC_FIELD_SCALAR:
        return 0;
    }
    p.ptr = mrpc_load_u64(p.slot);

    unsigned char *follow = NULL;
    int rc = w->ops->piece(w->ctx, &p, &follow);
    if (rc || p.kind != MRPC_PIECE_MESSAGE || !follow)
        return rc;
    return walk_struct(w, f->message, follow, depth + 1);
}

/* A repeated field of the struct S: the array itself, then its elements when they point. */
static int walk_array(const struct mrpc_walk *w, const struct mrpc_type_layout *t,
                      const struct mrpc_field_layout *f, unsigned char *s, unsigned depth)
{
    struct mrpc_piece p = {
        .kind = MRPC_PIECE_ARRAY, .field = f, .owner = t, .slot = s + f->offset,
        .ptr = mrpc_load_u64(s + f->offset), .count = mrpc_load_u64(s + f->quantifier_offset),
    };
    unsigned char *follow = NULL;
    int rc = w->ops->piece(w->ctx, &p, &follow);
    if (rc || !follow || f->kind == MRPC_FIELD_SCALAR)
        return rc;
    /* the callback checked that p.count elements are readable at FOLLOW */
    for (size_t i = 0; i < p.count && rc == 0; i++)
        rc = walk_value(w, t, f, follow + i * f->elem_size, depth);
    return rc;
}

static int walk_struct(const struct mrpc_walk *w, const struct mrpc_type_layout *t,
                       unsigned char *s, unsigned depth)
{
    if (depth > w->max_depth)
        return mrpc_fail(w->err, w->errlen, -EINVAL, "nesting deeper than %u (a cycle?)",
                         w->max_depth);
    if (w->ops->enter_struct) {
        int rc = w->ops->enter_struct(w->ctx, t, s);
        if (rc)
            return rc;
    }
    for (unsigned i = 0; i < t->n_fields; i++) {
        const struct mrpc_field_layout *f = &t->fields[i];
        if (f->kind == MRPC_FIELD_SCALAR && !f->repeated)
            continue;
        if (f->oneof && mrpc_load_u32(s + f->quantifier_offset) != f->id)
            continue;
        int rc = f->repeated ? walk_array(w, t, f, s, depth)
                             : walk_value(w, t, f, s + f->offset, depth);
        if (rc)
            return rc;
    }
    return 0;
}

int mrpc_walk_message(const struct mrpc_walk *w, const struct mrpc_type_layout *t,
                      unsigned char *s)
{
    return walk_struct(w, t, s, 0);
}
