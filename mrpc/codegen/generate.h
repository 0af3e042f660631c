/* generate.h - one protoc request in, one response out: for every file protoc asks for, check it,
 * model it and print <stem>.mrpc.h and <stem>.mrpc.c.
 *
 * Files without services get no output, unless the parameter (--mrpc_opt=all_files) asks for a
 * pair anyway: build systems such as mrpc_generate() declare outputs before knowing which .proto
 * files declare services. */
#ifndef MRPC_CODEGEN_GENERATE_H
#define MRPC_CODEGEN_GENERATE_H

#include "arena.h"
#include "google/protobuf/compiler/plugin.pb-c.h"

/* Fills RESPONSE (its files, or its error: the first problem found, as one sentence) with memory
 * from ARENA. */
void generate(Google__Protobuf__Compiler__CodeGeneratorResponse *response, arena_t *arena,
              const Google__Protobuf__Compiler__CodeGeneratorRequest *request);

#endif /* MRPC_CODEGEN_GENERATE_H */
