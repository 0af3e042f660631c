/* model_messages.c - the messages part of a file's model: every message the file declares, at any
 * depth (map entries included, they are messages too), with its fields and the names of the typed
 * builders generated for them.
 *
 * Which builders a field gets depends on its shape:
 *   singular string or bytes      _set_<f>, _set_<f>_from
 *   singular message              _mutable_<f>, _set_<f>_from
 *   oneof member number or enum   _set_<f> (which sets the case too)
 *   repeated message (and maps)   _add_<f>, _add_<f>_from
 *   repeated anything else        _add_<f>
 * Other singular numbers are plain assignments and get none. protoc-c's struct layout decides
 * the rest: its member name (keyword-escaped), proto2's has_ flags, the oneof's case member and
 * case constant. */
#include "model.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "names.h"

typedef Google__Protobuf__FieldDescriptorProto field_proto_t;

typedef struct msg_walk {
    model_file_t       *model;
    arena_t            *arena;
    const type_index_t *types;
    const char         *package;
    int                 proto2;
    size_t              cap;
    char               *err;
    size_t              errlen;
} msg_walk_t;

/* The C type of a number field, or NULL when TYPE is not a number. */
static const char *scalar_c_type(Google__Protobuf__FieldDescriptorProto__Type type)
{
    switch (type) {
    case GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_DOUBLE:   return "double";
    case GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_FLOAT:    return "float";
    case GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_INT64:
    case GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_SINT64:
    case GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_SFIXED64: return "int64_t";
    case GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_UINT64:
    case GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_FIXED64:  return "uint64_t";
    case GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_INT32:
    case GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_SINT32:
    case GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_SFIXED32: return "int32_t";
    case GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_UINT32:
    case GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_FIXED32:  return "uint32_t";
    case GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_BOOL:     return "protobuf_c_boolean";
    default:                                                            return NULL;
    }
}

static int unknown_type(msg_walk_t *w, const model_field_t *f, const char *type_name)
{
    snprintf(w->err, w->errlen, "field %s has type %s, which is not described in this request",
             f->full_name, type_name ? type_name : "(none)");
    return -EINVAL;
}

/* Kind, element type and referenced message of F. */
static int field_type(msg_walk_t *w, model_field_t *f, const field_proto_t *d)
{
    switch (d->type) {
    case GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_STRING:
        f->kind = FIELD_STRING;
        f->c_type = "char *";
        return 0;
    case GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_BYTES:
        f->kind = FIELD_BYTES;
        f->c_type = "ProtobufCBinaryData";
        return 0;
    case GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_MESSAGE:
        f->kind = FIELD_MESSAGE;
        f->message = type_index_find(w->types, d->type_name ? d->type_name : "");
        if (!f->message)
            return unknown_type(w, f, d->type_name);
        f->c_type = f->message->c_type;
        return 0;
    case GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_ENUM: {
        const c_enum_t *e = type_index_find_enum(w->types, d->type_name ? d->type_name : "");
        if (!e)
            return unknown_type(w, f, d->type_name);
        f->kind = FIELD_SCALAR;
        f->c_type = e->c_type;
        return 0;
    }
    default:
        f->kind = FIELD_SCALAR;
        f->c_type = scalar_c_type(d->type);
        return f->c_type ? 0 : unknown_type(w, f, "(a group)");
    }
}

static void field_builders(msg_walk_t *w, model_field_t *f, const char *prefix)
{
    arena_t *a = w->arena;
    const char *suffix = names_to_lower(a, f->name);
    if (f->repeated) {
        f->add_fn = arena_printf(a, "%s_add_%s", prefix, suffix);
        if (f->kind == FIELD_MESSAGE)
            f->add_from_fn = arena_printf(a, "%s_add_%s_from", prefix, suffix);
        return;
    }
    if (f->kind == FIELD_MESSAGE)
        f->mutable_fn = arena_printf(a, "%s_mutable_%s", prefix, suffix);
    else if (f->kind != FIELD_SCALAR || f->case_member)
        f->set_fn = arena_printf(a, "%s_set_%s", prefix, suffix);
    if (f->kind != FIELD_SCALAR)
        f->set_from_fn = arena_printf(a, "%s_set_%s_from", prefix, suffix);
}

static int build_field(msg_walk_t *w, model_field_t *f, const model_message_t *m,
                       const Google__Protobuf__DescriptorProto *msg, const field_proto_t *d)
{
    arena_t *a = w->arena;
    f->name = d->name;
    f->full_name = arena_printf(a, "%s.%s", m->full_name, d->name);
    f->repeated = d->label == GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__LABEL__LABEL_REPEATED;
    f->member = names_field_member(a, d->name);
    int rc = field_type(w, f, d);
    if (rc)
        return rc;
    if (d->has_oneof_index && (size_t)d->oneof_index < msg->n_oneof_decl) {
        const char *oneof = msg->oneof_decl[d->oneof_index]->name;
        f->case_member = arena_printf(a, "%s_case", names_camel_to_lower(a, oneof));
        f->case_value = arena_printf(a, "%s__%s_%s", m->c->upper, names_camel_to_upper(a, oneof),
                                     names_camel_to_upper(a, d->name));
    } else if (w->proto2 && !f->repeated && (f->kind == FIELD_SCALAR || f->kind == FIELD_BYTES) &&
               d->label == GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__LABEL__LABEL_OPTIONAL) {
        f->has_member = arena_printf(a, "has_%s", f->member);
    }
    field_builders(w, f, m->c->lower);
    return 0;
}

static model_message_t *next_message(msg_walk_t *w)
{
    model_file_t *model = w->model;
    if (model->n_messages == w->cap) {
        size_t cap = w->cap ? 2 * w->cap : 16;
        model_message_t *grown = arena_array(w->arena, cap, sizeof(*grown));
        if (model->n_messages)
            memcpy(grown, model->messages, model->n_messages * sizeof(*grown));
        model->messages = grown;
        w->cap = cap;
    }
    return &model->messages[model->n_messages++];
}

static int build_messages(msg_walk_t *w, Google__Protobuf__DescriptorProto *const *msgs, size_t n,
                          const char *outer_path)
{
    for (size_t i = 0; i < n; i++) {
        const Google__Protobuf__DescriptorProto *msg = msgs[i];
        const char *path = names_join(w->arena, outer_path, msg->name);
        model_message_t *m = next_message(w);
        m->full_name = names_join(w->arena, w->package, path);
        m->c = type_index_find(w->types, arena_printf(w->arena, ".%s", m->full_name));
        if (!m->c) {
            snprintf(w->err, w->errlen, "message %s is not described in this request",
                     m->full_name);
            return -EINVAL;
        }
        m->new_fn = arena_printf(w->arena, "%s_new", m->c->lower);
        m->copy_fn = arena_printf(w->arena, "%s_copy", m->c->lower);
        m->n_fields = msg->n_field;
        m->fields = arena_array(w->arena, msg->n_field, sizeof(*m->fields));
        for (size_t f = 0; f < msg->n_field; f++) {
            int rc = build_field(w, &m->fields[f], m, msg, msg->field[f]);
            if (rc)
                return rc;
        }
        /* M may move when nested messages grow the array: nothing below uses it */
        int rc = build_messages(w, msg->nested_type, msg->n_nested_type, path);
        if (rc)
            return rc;
    }
    return 0;
}

int model_messages_build(model_file_t *model, arena_t *arena, const type_index_t *types,
                         const Google__Protobuf__FileDescriptorProto *file, char *err,
                         size_t errlen)
{
    msg_walk_t w = {
        .model = model, .arena = arena, .types = types,
        .package = file->package ? file->package : "",
        .proto2 = !file->syntax || strcmp(file->syntax, "proto3") != 0,
        .err = err, .errlen = errlen,
    };
    model->n_messages = 0;
    model->messages = NULL;
    return build_messages(&w, file->message_type, file->n_message_type, "");
}
