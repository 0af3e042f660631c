/* type_index.c - walks every file's messages depth-first, naming each one from its path inside
 * the file ("Outer.Inner") and the file's C package, as protoc-c does. Lookups are linear: a
 * request holds at most a few hundred types and a file a handful of methods. */
#include "type_index.h"

#include <string.h>

#include "names.h"
#include "pb_c_options.h"

typedef struct walk {
    type_index_t *index;
    arena_t      *arena;
    size_t        cap;
    size_t        enum_cap;
    const char   *package;      /* proto package, for full names */
    const char   *c_package;    /* package protoc-c uses in C names */
} walk_t;

static void add_message(walk_t *w, const Google__Protobuf__DescriptorProto *msg, const char *path)
{
    type_index_t *index = w->index;
    if (index->n_messages == w->cap) {
        size_t cap = w->cap ? 2 * w->cap : 64;
        c_message_t *grown = arena_array(w->arena, cap, sizeof(*grown));
        if (index->n_messages)
            memcpy(grown, index->messages, index->n_messages * sizeof(*grown));
        index->messages = grown;
        w->cap = cap;
    }
    const char *c_full = names_join(w->arena, w->c_package, path);
    const char *lower = names_full_to_lower(w->arena, c_full);
    index->messages[index->n_messages++] = (c_message_t){
        .proto_name = arena_printf(w->arena, ".%s", names_join(w->arena, w->package, path)),
        .c_type     = names_full_to_c(w->arena, c_full),
        .descriptor = arena_printf(w->arena, "%s__descriptor", lower),
        .base_field = pb_c_base_field_name(w->arena, msg),
        .lower      = lower,
        .upper      = names_full_to_upper(w->arena, c_full),
        .proto      = msg,
    };
}

static void add_enums(walk_t *w, Google__Protobuf__EnumDescriptorProto *const *enums, size_t n,
                      const char *outer_path)
{
    type_index_t *index = w->index;
    for (size_t i = 0; i < n; i++) {
        if (index->n_enums == w->enum_cap) {
            size_t cap = w->enum_cap ? 2 * w->enum_cap : 32;
            c_enum_t *grown = arena_array(w->arena, cap, sizeof(*grown));
            if (index->n_enums)
                memcpy(grown, index->enums, index->n_enums * sizeof(*grown));
            index->enums = grown;
            w->enum_cap = cap;
        }
        const char *path = names_join(w->arena, outer_path, enums[i]->name);
        index->enums[index->n_enums++] = (c_enum_t){
            .proto_name = arena_printf(w->arena, ".%s", names_join(w->arena, w->package, path)),
            .c_type     = names_full_to_c(w->arena, names_join(w->arena, w->c_package, path)),
        };
    }
}

static void add_messages(walk_t *w, Google__Protobuf__DescriptorProto *const *msgs, size_t n,
                         const char *outer_path)
{
    for (size_t i = 0; i < n; i++) {
        const Google__Protobuf__DescriptorProto *msg = msgs[i];
        const char *path = names_join(w->arena, outer_path, msg->name);
        add_message(w, msg, path);
        add_enums(w, msg->enum_type, msg->n_enum_type, path);
        add_messages(w, msg->nested_type, msg->n_nested_type, path);
    }
}

void type_index_build(type_index_t *index, arena_t *arena,
                      const Google__Protobuf__Compiler__CodeGeneratorRequest *request)
{
    walk_t w = { .index = index, .arena = arena };
    *index = (type_index_t){ 0 };
    for (size_t i = 0; i < request->n_proto_file; i++) {
        const Google__Protobuf__FileDescriptorProto *file = request->proto_file[i];
        w.package = file->package ? file->package : "";
        w.c_package = pb_c_package(arena, file);
        add_enums(&w, file->enum_type, file->n_enum_type, "");
        add_messages(&w, file->message_type, file->n_message_type, "");
    }
}

const c_message_t *type_index_find(const type_index_t *index, const char *proto_name)
{
    for (size_t i = 0; i < index->n_messages; i++)
        if (strcmp(index->messages[i].proto_name, proto_name) == 0)
            return &index->messages[i];
    return NULL;
}

const c_enum_t *type_index_find_enum(const type_index_t *index, const char *proto_name)
{
    for (size_t i = 0; i < index->n_enums; i++)
        if (strcmp(index->enums[i].proto_name, proto_name) == 0)
            return &index->enums[i];
    return NULL;
}
