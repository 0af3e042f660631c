/* pb_c_options.h - the protobuf-c options that change C names: a file's c_package and a
 * message's base_field_name (see pb_c_options.proto for how they are read). */
#ifndef MRPC_CODEGEN_PB_C_OPTIONS_H
#define MRPC_CODEGEN_PB_C_OPTIONS_H

#include "arena.h"
#include "google/protobuf/descriptor.pb-c.h"

/* The package protoc-c uses in C names of FILE's declarations: option (pb_c_file).c_package when
 * set (possibly ""), else the proto package, else "". */
const char *pb_c_package(arena_t *arena, const Google__Protobuf__FileDescriptorProto *file);
/* The name of MSG's ProtobufCMessage member: option (pb_c_msg).base_field_name, else "base". */
const char *pb_c_base_field_name(arena_t *arena, const Google__Protobuf__DescriptorProto *msg);

#endif /* MRPC_CODEGEN_PB_C_OPTIONS_H */
