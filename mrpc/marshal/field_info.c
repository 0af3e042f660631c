/* field_info.c - what each protobuf-c field shape occupies in a C struct.
 *
 * One table answers, for every ProtobufCType, how big one element is and whether it carries a
 * pointer; the label adds the repeated field's pointer and count, the optional field's has_ flag
 * or the oneof's case. Layout validation, the app-side builder and the walker all ask here, so
 * the sizes are written down exactly once. */
#include "internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

static const struct {
    uint32_t             size;
    enum mrpc_field_kind kind;
} type_info[] = {
    [PROTOBUF_C_TYPE_INT32]    = { sizeof(int32_t), MRPC_FIELD_SCALAR },
    [PROTOBUF_C_TYPE_SINT32]   = { sizeof(int32_t), MRPC_FIELD_SCALAR },
    [PROTOBUF_C_TYPE_SFIXED32] = { sizeof(int32_t), MRPC_FIELD_SCALAR },
    [PROTOBUF_C_TYPE_INT64]    = { sizeof(int64_t), MRPC_FIELD_SCALAR },
    [PROTOBUF_C_TYPE_SINT64]   = { sizeof(int64_t), MRPC_FIELD_SCALAR },
    [PROTOBUF_C_TYPE_SFIXED64] = { sizeof(int64_t), MRPC_FIELD_SCALAR },
    [PROTOBUF_C_TYPE_UINT32]   = { sizeof(uint32_t), MRPC_FIELD_SCALAR },
    [PROTOBUF_C_TYPE_FIXED32]  = { sizeof(uint32_t), MRPC_FIELD_SCALAR },
    [PROTOBUF_C_TYPE_UINT64]   = { sizeof(uint64_t), MRPC_FIELD_SCALAR },
    [PROTOBUF_C_TYPE_FIXED64]  = { sizeof(uint64_t), MRPC_FIELD_SCALAR },
    [PROTOBUF_C_TYPE_FLOAT]    = { sizeof(float), MRPC_FIELD_SCALAR },
    [PROTOBUF_C_TYPE_DOUBLE]   = { sizeof(double), MRPC_FIELD_SCALAR },
    [PROTOBUF_C_TYPE_BOOL]     = { sizeof(protobuf_c_boolean), MRPC_FIELD_SCALAR },
    [PROTOBUF_C_TYPE_ENUM]     = { sizeof(int), MRPC_FIELD_SCALAR },   /* generated enums are int-sized */
    [PROTOBUF_C_TYPE_STRING]   = { sizeof(char *), MRPC_FIELD_STRING },
    [PROTOBUF_C_TYPE_BYTES]    = { sizeof(ProtobufCBinaryData), MRPC_FIELD_BYTES },
    [PROTOBUF_C_TYPE_MESSAGE]  = { sizeof(ProtobufCMessage *), MRPC_FIELD_MESSAGE },
};

bool mrpc_label_known(uint32_t label)
{
    return label <= PROTOBUF_C_LABEL_NONE;
}

bool mrpc_type_known(uint32_t type)
{
    return type < sizeof(type_info) / sizeof(type_info[0]) && type_info[type].size != 0;
}

uint32_t mrpc_elem_size(ProtobufCType type)
{
    return type_info[type].size;
}

enum mrpc_field_kind mrpc_field_kind_of(ProtobufCType type)
{
    return type_info[type].kind;
}

uint32_t mrpc_storage_size(ProtobufCLabel label, ProtobufCType type)
{
    return label == PROTOBUF_C_LABEL_REPEATED ? sizeof(void *) : mrpc_elem_size(type);
}

uint32_t mrpc_quantifier_size(ProtobufCLabel label, ProtobufCType type, bool oneof)
{
    if (oneof)
        return sizeof(uint32_t);                /* the generated _case enum */
    if (label == PROTOBUF_C_LABEL_REPEATED)
        return sizeof(size_t);
    /* proto2 optional: a has_ flag, except for strings and messages whose NULL means absent */
    if (label == PROTOBUF_C_LABEL_OPTIONAL && type != PROTOBUF_C_TYPE_STRING &&
        type != PROTOBUF_C_TYPE_MESSAGE)
        return sizeof(protobuf_c_boolean);
    return 0;
}

bool mrpc_null_allowed(const struct mrpc_field_layout *f)
{
    return !f->repeated && f->label != PROTOBUF_C_LABEL_REQUIRED;
}

int mrpc_fail(char *err, size_t errlen, int rc, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return rc;
}
