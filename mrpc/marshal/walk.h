/* walk.h - the one walk over a message's pointer-carrying fields, shared by encoder and decoder.
 *
 * The native payload lists a message's out-of-line pieces in a fixed order: depth-first
 * pre-order over each struct's fields in layout order, repeated elements in index order, a oneof
 * member only when the case selects it. Both sides must agree on that order exactly, so it is
 * written once, here. The walker reads every pointer and count from the struct once and hands
 * it to a callback as a piece; the callback (encoder: validate and append a segment; decoder:
 * take the next segment, check it and rewrite the pointer) tells the walker where the nested
 * struct or the array's elements can be read, or that there is nothing to follow. */
#ifndef MRPC_MARSHAL_WALK_H
#define MRPC_MARSHAL_WALK_H

#include "internal.h"

enum mrpc_piece_kind {
    MRPC_PIECE_STRING,     /* ptr: the char * */
    MRPC_PIECE_BYTES,      /* ptr: data, count: len */
    MRPC_PIECE_MESSAGE,    /* ptr: the struct pointer */
    MRPC_PIECE_ARRAY,      /* ptr: the array, count: its n_ */
};

struct mrpc_piece {
    enum mrpc_piece_kind            kind;
    const struct mrpc_field_layout *field;
    const struct mrpc_type_layout  *owner;   /* the struct type holding the field (for messages) */
    unsigned char                  *slot;    /* where the pointer is stored (decoder rewrites it) */
    uint64_t                        ptr;     /* the pointer's value, read once */
    size_t                          count;   /* BYTES: len; ARRAY: element count; read once */
};

struct mrpc_walk_ops {
    /* Called on every struct before its fields (may be NULL). */
    int (*enter_struct)(void *ctx, const struct mrpc_type_layout *t, unsigned char *s);
    /* Handles one piece. For MESSAGE and ARRAY pieces sets *FOLLOW to where the walker may read
     * the nested struct or the elements (NULL: nothing to follow); untouched for others. */
    int (*piece)(void *ctx, const struct mrpc_piece *p, unsigned char **follow);
};

struct mrpc_walk {
    const struct mrpc_walk_ops *ops;
    void                       *ctx;
    unsigned                    max_depth;
    char                       *err;
    size_t                      errlen;
};

/* Walks the struct S of type T (depth 0). Returns 0 or the first callback error; -EINVAL with
 * "nesting deeper than N (a cycle?)" when structs nest deeper than W->max_depth. */
int mrpc_walk_message(const struct mrpc_walk *w, const struct mrpc_type_layout *t,
                      unsigned char *s);

/* Loads for memory another party may change concurrently: one access each, never re-read. */
static inline uint64_t mrpc_load_u64(const unsigned char *p)
{
    return __atomic_load_n((const uint64_t *)(const void *)p, __ATOMIC_RELAXED);
}

static inline uint32_t mrpc_load_u32(const unsigned char *p)
{
    return __atomic_load_n((const uint32_t *)(const void *)p, __ATOMIC_RELAXED);
}

_Static_assert(sizeof(size_t) == 8 && sizeof(void *) == 8, "the native format assumes LP64");

#endif /* MRPC_MARSHAL_WALK_H */
