/* generate.c - the driver: options from the parameter, the type index over every file of the
 * request, then per file to generate: refusals (check.h), model (model.h), name clashes, and
 * the two emitted files. The first error stops generation: protoc prints it and fails. */
#include "generate.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "emit.h"
#include "model.h"
#include "type_index.h"

typedef struct gen_options {
    bool all_files;     /* write a pair even for files without services or messages */
} gen_options_t;

typedef Google__Protobuf__Compiler__CodeGeneratorResponse__File response_file_t;

static int parse_options(gen_options_t *opts, arena_t *arena, const char *parameter, char *err,
                         size_t errlen)
{
    *opts = (gen_options_t){ 0 };
    char *copy = arena_strdup(arena, parameter ? parameter : "");
    char *save = NULL;
    for (char *opt = strtok_r(copy, ",", &save); opt; opt = strtok_r(NULL, ",", &save)) {
        if (strcmp(opt, "all_files") == 0) {
            opts->all_files = true;
        } else {
            snprintf(err, errlen, "unknown option '%s' (known: all_files)", opt);
            return -EINVAL;
        }
    }
    return 0;
}

static const Google__Protobuf__FileDescriptorProto *
find_file(const Google__Protobuf__Compiler__CodeGeneratorRequest *request, const char *name)
{
    for (size_t i = 0; i < request->n_proto_file; i++)
        if (request->proto_file[i]->name && strcmp(request->proto_file[i]->name, name) == 0)
            return request->proto_file[i];
    return NULL;
}

static void add_output(Google__Protobuf__Compiler__CodeGeneratorResponse *response,
                       arena_t *arena, char *name, char *content)
{
    response_file_t *f = arena_alloc(arena, sizeof(*f));
    *f = (response_file_t)GOOGLE__PROTOBUF__COMPILER__CODE_GENERATOR_RESPONSE__FILE__INIT;
    f->name = name;
    f->content = content;
    response->file[response->n_file++] = f;
}

static int generate_file(Google__Protobuf__Compiler__CodeGeneratorResponse *response,
                         arena_t *arena, const type_index_t *types, const gen_options_t *opts,
                         const Google__Protobuf__FileDescriptorProto *file, char *err,
                         size_t errlen)
{
    model_file_t model;
    int rc = check_file_supported(file, arena, err, errlen);
    if (!rc)
        rc = model_build(&model, arena, types, file, err, errlen);
    if (!rc)
        rc = check_model_names(&model, arena, err, errlen);
    if (rc || (model.n_services == 0 && model.n_messages == 0 && !opts->all_files))
        return rc;
    add_output(response, arena, arena_printf(arena, "%s.mrpc.h", model.stem),
               emit_header(arena, &model));
    add_output(response, arena, arena_printf(arena, "%s.mrpc.c", model.stem),
               emit_source(arena, &model));
    return 0;
}

static int generate_all(Google__Protobuf__Compiler__CodeGeneratorResponse *response,
                        arena_t *arena,
                        const Google__Protobuf__Compiler__CodeGeneratorRequest *request,
                        char *err, size_t errlen)
{
    gen_options_t opts;
    int rc = parse_options(&opts, arena, request->parameter, err, errlen);
    if (rc)
        return rc;
    type_index_t types;
    type_index_build(&types, arena, request);
    response->file = arena_array(arena, 2 * request->n_file_to_generate, sizeof(*response->file));
    for (size_t i = 0; i < request->n_file_to_generate; i++) {
        const char *name = request->file_to_generate[i];
        const Google__Protobuf__FileDescriptorProto *file = find_file(request, name);
        if (!file) {
            snprintf(err, errlen, "protoc asked for %s but did not describe it", name);
            return -EINVAL;
        }
        rc = generate_file(response, arena, &types, &opts, file, err, errlen);
        if (rc)
            return rc;
    }
    return 0;
}

void generate(Google__Protobuf__Compiler__CodeGeneratorResponse *response, arena_t *arena,
              const Google__Protobuf__Compiler__CodeGeneratorRequest *request)
{
    char err[1024] = "";
    /* We do support proto3 optional in the sense protoc means: we read such files and answer with
     * our own, clearer refusal (check.h) instead of protoc's generic one. */
    response->has_supported_features = 1;
    response->supported_features =
        GOOGLE__PROTOBUF__COMPILER__CODE_GENERATOR_RESPONSE__FEATURE__FEATURE_PROTO3_OPTIONAL;
    if (generate_all(response, arena, request, err, sizeof(err)) != 0) {
        response->error = arena_strdup(arena, err);
        response->n_file = 0;
    }
}
