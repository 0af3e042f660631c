/* check.h - what protoc-gen-mrpc refuses, each with one sentence that says why and what to do.
 *
 * Refused before generating, so the user never gets stubs that do not compile or cannot work:
 *   - proto3 `optional` fields: protoc-c 1.4 cannot generate them (and its own message is cryptic);
 *   - streaming methods: mRPC calls are unary;
 *   - services without methods: nothing to call, and C has no empty structs;
 *   - fields named like a C keyword protoc-c does not rename ("restrict"): its struct would not
 *     compile;
 *   - two generated identifiers that would be spelled the same, ours or protoc-c's (protoc-c
 *     declares <service>__<method>() for its ProtobufCService stubs in the same header, and
 *     <message>__init() and friends per message; our builders are <message>_set_<field> and
 *     the like, so field names can collide with them or with each other);
 *   - two methods of one service whose 32-bit ids collide. */
#ifndef MRPC_CODEGEN_CHECK_H
#define MRPC_CODEGEN_CHECK_H

#include <stddef.h>

#include "arena.h"
#include "google/protobuf/descriptor.pb-c.h"
#include "model.h"

/* Returns 0, or -EINVAL with the sentence in ERR. */
int check_file_supported(const Google__Protobuf__FileDescriptorProto *file, arena_t *arena,
                         char *err, size_t errlen);
int check_model_names(const model_file_t *model, arena_t *arena, char *err, size_t errlen);

#endif /* MRPC_CODEGEN_CHECK_H */
