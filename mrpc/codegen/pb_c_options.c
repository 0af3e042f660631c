/* pb_c_options.c - packs an options message (its unknown fields included, which protobuf-c keeps
 * and re-emits) and unpacks the bytes as a *View message that declares field 1019. */
#include "pb_c_options.h"

#include "pb_c_options.pb-c.h"

/* OPTIONS re-read as VIEW_DESC; NULL when OPTIONS is NULL or does not parse as the view (which
 * only happens if the option has another type than protobuf-c's: then protoc-c ignores it too).
 * Free with protobuf_c_message_free_unpacked(). */
static ProtobufCMessage *reread_options(arena_t *arena, const ProtobufCMessage *options,
                                        const ProtobufCMessageDescriptor *view_desc)
{
    if (!options)
        return NULL;
    size_t len = protobuf_c_message_get_packed_size(options);
    uint8_t *bytes = arena_alloc(arena, len);
    protobuf_c_message_pack(options, bytes);
    return protobuf_c_message_unpack(view_desc, NULL, len, bytes);
}

const char *pb_c_package(arena_t *arena, const Google__Protobuf__FileDescriptorProto *file)
{
    const char *package = file->package ? file->package : "";
    ProtobufCMessage *m = reread_options(arena, file->options ? &file->options->base : NULL,
                                         &mrpc_codegen__file_options_view__descriptor);
    if (m) {
        const MrpcCodegen__FileOptionsView *view = (const MrpcCodegen__FileOptionsView *)m;
        if (view->pb_c_file && view->pb_c_file->c_package)
            package = arena_strdup(arena, view->pb_c_file->c_package);
        protobuf_c_message_free_unpacked(m, NULL);
    }
    return package;
}

const char *pb_c_base_field_name(arena_t *arena, const Google__Protobuf__DescriptorProto *msg)
{
    const char *base = "base";
    ProtobufCMessage *m = reread_options(arena, msg->options ? &msg->options->base : NULL,
                                         &mrpc_codegen__message_options_view__descriptor);
    if (m) {
        const MrpcCodegen__MessageOptionsView *view = (const MrpcCodegen__MessageOptionsView *)m;
        if (view->pb_c_msg && view->pb_c_msg->base_field_name)
            base = arena_strdup(arena, view->pb_c_msg->base_field_name);
        protobuf_c_message_free_unpacked(m, NULL);
    }
    return base;
}
