/* model.c - derives every name of model.h from the descriptors: C names from the file's C package
 * (protoc-c's rules), ids from the proto full names with mrpc_id_of() from mrpc.h, the very
 * function the library and the service use. */
#include "model.h"

#include <errno.h>
#include <stdio.h>

#include "mrpc/mrpc.h"
#include "names.h"
#include "pb_c_options.h"

static int find_type(const c_message_t **out, const type_index_t *types, const char *proto_name,
                     const char *method_full_name, char *err, size_t errlen)
{
    *out = type_index_find(types, proto_name ? proto_name : "");
    if (*out)
        return 0;
    snprintf(err, errlen, "method %s uses type %s, which is not a message of this request",
             method_full_name, proto_name ? proto_name : "(none)");
    return -EINVAL;
}

static int build_method(model_method_t *m, arena_t *arena, const type_index_t *types,
                        const model_service_t *s, const Google__Protobuf__MethodDescriptorProto *d,
                        char *err, size_t errlen)
{
    m->name = d->name;
    m->full_name = arena_printf(arena, "%s.%s", s->full_name, d->name);
    m->id = mrpc_id_of(m->full_name);
    m->member = names_camel_to_lower(arena, d->name);
    m->call_fn = arena_printf(arena, "%s__%s_call", s->lower, m->member);
    m->async_fn = arena_printf(arena, "%s__%s_async", s->lower, m->member);
    m->id_macro = arena_printf(arena, "%s__%s__METHOD_ID", s->upper,
                               names_camel_to_upper(arena, d->name));
    m->pb_c_fn = arena_printf(arena, "%s__%s", s->lower, m->member);
    int rc = find_type(&m->input, types, d->input_type, m->full_name, err, errlen);
    return rc ? rc : find_type(&m->output, types, d->output_type, m->full_name, err, errlen);
}

static int build_service(model_service_t *s, arena_t *arena, const type_index_t *types,
                         const char *package, const char *c_package,
                         const Google__Protobuf__ServiceDescriptorProto *d, char *err, size_t errlen)
{
    const char *c_full = names_join(arena, c_package, d->name);
    s->name = d->name;
    s->full_name = names_join(arena, package, d->name);
    s->id = mrpc_id_of(s->full_name);
    s->lower = names_full_to_lower(arena, c_full);
    s->upper = names_full_to_upper(arena, c_full);
    s->c_name = names_full_to_c(arena, c_full);
    s->desc_var = arena_printf(arena, "%s__service", s->lower);
    s->methods_var = arena_printf(arena, "%s__methods", s->lower);
    s->dispatch_fn = arena_printf(arena, "%s__dispatch", s->lower);
    s->add_fn = arena_printf(arena, "%s__add_to_server", s->lower);
    s->handlers_type = arena_printf(arena, "%s_Handlers", s->c_name);
    s->id_macro = arena_printf(arena, "%s__SERVICE_ID", s->upper);
    s->n_methods = d->n_method;
    s->methods = arena_array(arena, d->n_method, sizeof(*s->methods));
    for (size_t i = 0; i < d->n_method; i++) {
        int rc = build_method(&s->methods[i], arena, types, s, d->method[i], err, errlen);
        if (rc)
            return rc;
    }
    return 0;
}

int model_build(model_file_t *model, arena_t *arena, const type_index_t *types,
                const Google__Protobuf__FileDescriptorProto *file, char *err, size_t errlen)
{
    const char *package = file->package ? file->package : "";
    const char *c_package = pb_c_package(arena, file);
    model->proto_name = file->name;
    model->stem = names_strip_proto(arena, file->name);
    model->guard = arena_printf(arena, "MRPC_%s__INCLUDED",
                                names_filename_identifier(arena, file->name));
    model->n_services = file->n_service;
    model->services = arena_array(arena, file->n_service, sizeof(*model->services));
    for (size_t i = 0; i < file->n_service; i++) {
        int rc = build_service(&model->services[i], arena, types, package, c_package,
                               file->service[i], err, errlen);
        if (rc)
            return rc;
    }
    return model_messages_build(model, arena, types, file, err, errlen);
}
