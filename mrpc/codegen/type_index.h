/* type_index.h - the protoc-c C names of every message type protoc told us about.
 *
 * A method names its input and output types by full proto name (".rpc_hello.HelloRequest"), and
 * they may come from any file of the request (imports included), nested at any depth, under that
 * file's package or c_package option. The index maps each full name to the C names protoc-c gave
 * the type, once, so the stubs can use them. Enums are indexed too, for the typed builders'
 * parameters. */
#ifndef MRPC_CODEGEN_TYPE_INDEX_H
#define MRPC_CODEGEN_TYPE_INDEX_H

#include <stddef.h>

#include "arena.h"
#include "google/protobuf/compiler/plugin.pb-c.h"

typedef struct c_message {
    const char *proto_name;     /* ".rpc_hello.HelloRequest", as method types spell it */
    const char *c_type;         /* "RpcHello__HelloRequest" */
    const char *descriptor;     /* "rpc_hello__hello_request__descriptor" */
    const char *base_field;     /* "base": the ProtobufCMessage member */
    const char *lower;          /* "rpc_hello__hello_request": protoc-c's function prefix */
    const char *upper;          /* "RPC_HELLO__HELLO_REQUEST" */
    const Google__Protobuf__DescriptorProto *proto;
} c_message_t;

typedef struct c_enum {
    const char *proto_name;     /* ".kitchen.sink.v2.Temperature" */
    const char *c_type;         /* "Kitchen__Sink__V2__Temperature" */
} c_enum_t;

typedef struct type_index {
    size_t       n_messages;
    c_message_t *messages;
    size_t       n_enums;
    c_enum_t    *enums;
} type_index_t;

void type_index_build(type_index_t *index, arena_t *arena,
                      const Google__Protobuf__Compiler__CodeGeneratorRequest *request);
/* The message named PROTO_NAME (leading dot included), or NULL. */
const c_message_t *type_index_find(const type_index_t *index, const char *proto_name);
/* The enum named PROTO_NAME (leading dot included), or NULL. */
const c_enum_t *type_index_find_enum(const type_index_t *index, const char *proto_name);

#endif /* MRPC_CODEGEN_TYPE_INDEX_H */
