/* emit_source.c - <stem>.mrpc.c: the typed builders of the file's messages (emit_builders.c), then
 * per service the method table, the dispatch function and the service description, then the
 * client wrappers and the registration function.
 *
 * The dispatch function is what makes the handler table type-safe: libmrpc calls it through the
 * service description with untyped messages, and it calls the typed handler of the method index,
 * so no function pointer is ever called through a cast. Messages cross between the typed and the
 * untyped world as &msg->base (the ProtobufCMessage every protoc-c struct starts with) and back
 * by a data pointer conversion, valid because libmrpc builds each message from the descriptor in
 * the method table. */
#include "emit.h"

#include "emit_common.h"

static void emit_method_table(const emit_t *e, const model_service_t *s)
{
    sb_printf(e->sb, "static const mrpc_method_desc_t %s[%zu] = {\n", s->methods_var, s->n_methods);
    for (size_t i = 0; i < s->n_methods; i++) {
        const model_method_t *m = &s->methods[i];
        sb_printf(e->sb,
                  "    {\n"
                  "        .name      = \"%s\",\n"
                  "        .full_name = \"%s\",\n"
                  "        .method_id = %s,\n"
                  "        .input     = &%s,\n"
                  "        .output    = &%s,\n"
                  "        .service_id = %s,\n"
                  "    },\n",
                  m->name, m->full_name, m->id_macro, m->input->descriptor, m->output->descriptor,
                  s->id_macro);
    }
    sb_puts(e->sb, "};\n\n");
}

static void emit_dispatch_case(const emit_t *e, size_t index, const model_method_t *m)
{
    sb_printf(e->sb,
              "    case %zu: {\n"
              "        %s *out = NULL;\n"
              "        phx_status_t status;\n"
              "\n"
              "        if (h == NULL || h->%s == NULL)\n"
              "            return answer_unimplemented(\n"
              "                call, \"%s is not implemented by this server\");\n"
              "        status = h->%s(impl, call, (const %s *)req, &out);\n"
              "        *reply = out != NULL ? &out->%s : NULL;\n"
              "        return status;\n"
              "    }\n",
              index, m->output->c_type, m->member, m->full_name, m->member, m->input->c_type,
              m->output->base_field);
}

static void emit_dispatch(const emit_t *e, const model_service_t *s)
{
    const char *params[] = {
        "const void *handlers", "void *impl", "unsigned method_index", "mrpc_call_t *call",
        "const ProtobufCMessage *req", "ProtobufCMessage **reply",
    };
    emit_signature(e, "", "static phx_status_t ", s->dispatch_fn, params, N_OF(params), "\n");
    sb_printf(e->sb, "{\n    const %s *h = handlers;\n\n    *reply = NULL;\n"
                     "    switch (method_index) {\n", s->handlers_type);
    for (size_t i = 0; i < s->n_methods; i++)
        emit_dispatch_case(e, i, &s->methods[i]);
    sb_printf(e->sb, "    default:\n"
                     "        return answer_unimplemented(\n"
                     "            call, \"%s has no method with this index\");\n"
                     "    }\n}\n\n", s->full_name);
}

static void emit_service_desc(const emit_t *e, const model_service_t *s)
{
    sb_printf(e->sb,
              "const mrpc_service_desc_t %s = {\n"
              "    .name       = \"%s\",\n"
              "    .full_name  = \"%s\",\n"
              "    .service_id = %s,\n"
              "    .n_methods  = %zu,\n"
              "    .methods    = %s,\n"
              "    .dispatch   = %s,\n"
              "};\n",
              s->desc_var, s->name, s->full_name, s->id_macro, s->n_methods, s->methods_var,
              s->dispatch_fn);
}

static void emit_client(const emit_t *e, const model_service_t *s, size_t index)
{
    const model_method_t *m = &s->methods[index];
    const char *method = arena_printf(e->arena, "&%s[%zu]", s->methods_var, index);
    const char *msg = arena_printf(e->arena, "req != NULL ? &req->%s : NULL", m->input->base_field);
    const char *call_args[] = { "conn", method, msg, "reply != NULL ? &out : NULL", "opts" };
    const char *async_args[] = { "conn", method, msg, "done", "token", "opts" };

    sb_puts(e->sb, "\n");
    emit_call_signature(e, m, "\n");
    sb_puts(e->sb, "{\n"
                   "    const ProtobufCMessage *out = NULL;\n"
                   "    mrpc_status_t status;\n"
                   "\n");
    emit_signature(e, "    ", "status = ", "mrpc_call", call_args, N_OF(call_args), ";\n");
    sb_printf(e->sb, "    if (reply != NULL)\n"
                     "        *reply = (const %s *)out;\n"
                     "    return status;\n"
                     "}\n\n", m->output->c_type);
    emit_async_signature(e, m, "\n");
    sb_puts(e->sb, "{\n");
    emit_signature(e, "    ", "return ", "mrpc_call_async", async_args, N_OF(async_args), ";\n");
    sb_puts(e->sb, "}\n");
}

static void emit_add(const emit_t *e, const model_service_t *s)
{
    sb_puts(e->sb, "\n");
    emit_add_signature(e, s, "\n");
    sb_printf(e->sb, "{\n    return mrpc_server_add_service(server, &%s, handlers, impl);\n}\n",
              s->desc_var);
}

static void emit_service(const emit_t *e, const model_service_t *s)
{
    sb_printf(e->sb, "\n/* ---- service %s ---- */\n\n", s->full_name);
    emit_method_table(e, s);
    emit_dispatch(e, s);
    emit_service_desc(e, s);
    for (size_t i = 0; i < s->n_methods; i++)
        emit_client(e, s, i);
    emit_add(e, s);
}

static const char answer_unimplemented_fn[] =
    "\n"
    "/* Every service answers a method it has no handler for the same way. */\n"
    "static phx_status_t answer_unimplemented(mrpc_call_t *call, const char *message)\n"
    "{\n"
    "    mrpc_call_set_error(call, PHX_UNIMPLEMENTED, message);\n"
    "    return PHX_UNIMPLEMENTED;\n"
    "}\n";

char *emit_source(arena_t *arena, const model_file_t *model)
{
    strbuf_t sb = STRBUF_INIT;
    emit_t e = { .sb = &sb, .arena = arena, .model = model };
    emit_banner(&e, " * Client wrappers hand typed messages to mrpc_call()/mrpc_call_async() with the method's\n"
                    " * description; each service's dispatch function calls the typed handler of a method index\n"
                    " * for libmrpc, so no function pointer is ever called through a cast.");
    sb_printf(&sb, "#include \"%s.mrpc.h\"\n\n#include <stddef.h>\n", model->stem);
    if (model->n_messages > 0)
        sb_puts(&sb, "#include <errno.h>\n#include <stdint.h>\n#include <string.h>\n");
    emit_builder_defs(&e);
    if (model->n_services > 0)
        sb_puts(&sb, answer_unimplemented_fn);
    for (size_t i = 0; i < model->n_services; i++)
        emit_service(&e, &model->services[i]);
    char *text = arena_strdup(arena, sb_str(&sb));
    sb_free(&sb);
    return text;
}
