/* internal.h - what the marshalling library's files share and users of marshal.h never see.
 *
 * The validated, service-side form of a layout (a field, a type, a service), the table of how
 * much C storage each protobuf-c field shape takes (field_info.c), the payload format's
 * arithmetic, and the one-sentence error helper. Everything in these structs has been checked by
 * layout_set.c, so the walker (walk.c) relies on it: offsets are inside the struct and aligned,
 * message fields point at a type of the same service. */
#ifndef MRPC_MARSHAL_INTERNAL_H
#define MRPC_MARSHAL_INTERNAL_H

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "marshal.h"

/* What a field's storage holds, as far as marshalling cares. */
enum mrpc_field_kind {
    MRPC_FIELD_SCALAR,      /* numbers, bools, enums: copied with the struct */
    MRPC_FIELD_STRING,      /* char *, NUL-terminated */
    MRPC_FIELD_BYTES,       /* ProtobufCBinaryData */
    MRPC_FIELD_MESSAGE,     /* pointer to a nested struct */
};

struct mrpc_field_layout {
    const char                    *name;
    uint32_t                       id;
    ProtobufCLabel                 label;
    ProtobufCType                  type;
    enum mrpc_field_kind           kind;
    bool                           repeated;
    bool                           oneof;
    uint32_t                       offset;
    uint32_t                       quantifier_offset;
    uint32_t                       elem_size;       /* one element (the value of a singular field) */
    const struct mrpc_type_layout *message;         /* MRPC_FIELD_MESSAGE: the nested type */
    uint64_t                       default_addr;    /* 0: none */
    const uint8_t                 *default_value;   /* NUL-terminated copy (strings send the NUL) */
    size_t                         default_len;     /* without the NUL */
};

struct mrpc_type_layout {
    const char                     *full_name;
    size_t                          size;
    uint64_t                        descriptor_addr;
    uint64_t                        empty_string_addr;  /* the owning app's protobuf_c_empty_string */
    uint64_t                        type_hash;
    unsigned                        n_fields;
    const struct mrpc_field_layout *fields;
};

/* ---- field_info.c ---------------------------------------------------------------------------- */

/* True when LABEL and TYPE are values protobuf-c defines. */
bool mrpc_label_known(uint32_t label);
bool mrpc_type_known(uint32_t type);

/* Bytes of one element of TYPE in a struct or a repeated array (4, 8, a pointer, a
 * ProtobufCBinaryData); TYPE must be known. */
uint32_t mrpc_elem_size(ProtobufCType type);

enum mrpc_field_kind mrpc_field_kind_of(ProtobufCType type);

/* Bytes the field's storage takes in its struct: a pointer for repeated fields, else one
 * element. */
uint32_t mrpc_storage_size(ProtobufCLabel label, ProtobufCType type);

/* Bytes of the field's quantifier (n_ for repeated, has_ for optional scalars and bytes, the
 * _case of a oneof), or 0 when it has none. */
uint32_t mrpc_quantifier_size(ProtobufCLabel label, ProtobufCType type, bool oneof);

/* Whether protobuf-c lets the string or message F (or one element of it) be NULL: only singular,
 * non-required fields. protobuf-c itself never produces a NULL element of a repeated field or a
 * NULL required value, and apps (and protobuf_c_message_pack) dereference them unchecked. */
bool mrpc_null_allowed(const struct mrpc_field_layout *f);

/* Writes one sentence into ERR (if any) and returns RC, so that callers can
 * `return mrpc_fail(err, errlen, -EINVAL, "...", ...);`. */
int mrpc_fail(char *err, size_t errlen, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* ---- layout_hash.c --------------------------------------------------------------------------- */

/* Sets type_hash of each of the N types of one service (message fields point into TYPES).
 * Returns 0 or -ENOMEM. */
int mrpc_layout_hash_types(struct mrpc_type_layout *types, size_t n);

/* ---- the native payload ---------------------------------------------------------------------- */

/* [u32 n_segments][u32 reserved][u64 seg_len[n_segments]], then segments at 16-byte offsets. */
#define MRPC_PAYLOAD_ALIGN      16u
#define MRPC_PAYLOAD_HDR_SIZE   8u

static inline size_t mrpc_align16(size_t n)
{
    return (n + (MRPC_PAYLOAD_ALIGN - 1)) & ~(size_t)(MRPC_PAYLOAD_ALIGN - 1);
}

/* Offset of segment 0 for N segments (N is bounded by callers so this cannot overflow). */
static inline size_t mrpc_payload_table_end(size_t n_segments)
{
    return mrpc_align16(MRPC_PAYLOAD_HDR_SIZE + 8 * n_segments);
}

#endif /* MRPC_MARSHAL_INTERNAL_H */
