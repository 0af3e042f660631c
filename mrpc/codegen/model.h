/* model.h - what the emitters print for one .proto file: its services and methods with every
 * identifier and id the generated code uses, computed here once so that the emitters only format
 * and the name-clash check (check.h) sees exactly the names that will be emitted.
 *
 * Ids come from proto full names, the wire identity: mrpc_id_of("rpc_hello.Greeter.SayHello").
 * C names follow protoc-c (names.h), c_package option included. Messages carry the names of
 * their typed builders: <message lower>_new, _copy, _set_<field>, _set_<field>_from,
 * _mutable_<field>, _add_<field>, _add_<field>_from, <field> lower-cased (model_messages.c). */
#ifndef MRPC_CODEGEN_MODEL_H
#define MRPC_CODEGEN_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "type_index.h"

typedef struct model_method {
    const char        *name;           /* "SayHello" */
    const char        *full_name;      /* "rpc_hello.Greeter.SayHello" */
    uint32_t           id;
    const c_message_t *input;
    const c_message_t *output;
    const char        *member;         /* "say_hello": handler table member (protoc-c's too) */
    const char        *call_fn;        /* "rpc_hello__greeter__say_hello_call" */
    const char        *async_fn;       /* "rpc_hello__greeter__say_hello_async" */
    const char        *id_macro;       /* "RPC_HELLO__GREETER__SAY_HELLO__METHOD_ID" */
    const char        *pb_c_fn;        /* "rpc_hello__greeter__say_hello": protoc-c's stub */
} model_method_t;

typedef struct model_service {
    const char     *name;              /* "Greeter" */
    const char     *full_name;         /* "rpc_hello.Greeter" */
    uint32_t        id;
    const char     *lower;             /* "rpc_hello__greeter": protoc-c's prefix */
    const char     *upper;             /* "RPC_HELLO__GREETER" */
    const char     *c_name;            /* "RpcHello__Greeter" */
    const char     *desc_var;          /* "rpc_hello__greeter__service" */
    const char     *methods_var;       /* "rpc_hello__greeter__methods" (static) */
    const char     *dispatch_fn;       /* "rpc_hello__greeter__dispatch" (static) */
    const char     *add_fn;            /* "rpc_hello__greeter__add_to_server" */
    const char     *handlers_type;     /* "RpcHello__Greeter_Handlers" */
    const char     *id_macro;          /* "RPC_HELLO__GREETER__SERVICE_ID" */
    size_t          n_methods;
    model_method_t *methods;
} model_service_t;

/* What a builder does with a field's values. */
typedef enum field_kind {
    FIELD_SCALAR,                      /* numbers, bool, enums: assigned */
    FIELD_STRING,                      /* copied with mrpc_strdup() */
    FIELD_BYTES,                       /* copied with mrpc_bytes_set() */
    FIELD_MESSAGE,                     /* built in place, or deep-copied */
} field_kind_t;

/* One field of a message and the builders generated for it; a builder that does not apply to
 * the field's shape is NULL (see emit_builders.c for which apply). */
typedef struct model_field {
    const char        *name;           /* "street_name": the proto name */
    const char        *full_name;      /* "hotel.Address.street_name" */
    field_kind_t       kind;
    int                repeated;
    const char        *c_type;         /* element type: "int32_t", "Kitchen__Temperature", ... */
    const c_message_t *message;        /* FIELD_MESSAGE: its type */
    const char        *member;         /* protoc-c's struct member: "class_" for "class" */
    const char        *has_member;     /* "has_data" (proto2 optional scalars, bytes) or NULL */
    const char        *case_member;    /* oneof members: "payment_case", else NULL */
    const char        *case_value;     /* oneof members: "KITCHEN__ORDER__PAYMENT_CARD" */
    const char        *set_fn;         /* "hotel__address_set_city" */
    const char        *set_from_fn;    /* "hotel__hotel_set_address_from" */
    const char        *mutable_fn;     /* "hotel__hotel_mutable_address" */
    const char        *add_fn;         /* "hotel__hotel_add_images" */
    const char        *add_from_fn;    /* "hotel__result_add_hotels_from" */
} model_field_t;

/* A message declared in the file (nested ones and map entries included) and its builders. */
typedef struct model_message {
    const char        *full_name;      /* "hotel.Hotel" */
    const c_message_t *c;              /* protoc-c's names */
    const char        *new_fn;         /* "hotel__hotel_new" */
    const char        *copy_fn;        /* "hotel__hotel_copy" */
    size_t             n_fields;
    model_field_t     *fields;
} model_message_t;

typedef struct model_file {
    const char      *proto_name;       /* "dir/rpc_hello.proto" */
    const char      *stem;             /* "dir/rpc_hello": output and .pb-c.h names */
    const char      *guard;            /* "MRPC_dir_2frpc_5fhello_2eproto__INCLUDED" */
    size_t           n_services;
    model_service_t *services;
    size_t           n_messages;
    model_message_t *messages;
} model_file_t;

/* Builds FILE's model. Returns 0, or -EINVAL with one sentence in ERR when a method or field
 * names a type the request does not describe. */
int model_build(model_file_t *model, arena_t *arena, const type_index_t *types,
                const Google__Protobuf__FileDescriptorProto *file, char *err, size_t errlen);
/* Its messages part (model_messages.c), which model_build() calls. */
int model_messages_build(model_file_t *model, arena_t *arena, const type_index_t *types,
                         const Google__Protobuf__FileDescriptorProto *file, char *err,
                         size_t errlen);

#endif /* MRPC_CODEGEN_MODEL_H */
