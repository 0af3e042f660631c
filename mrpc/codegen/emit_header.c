/* emit_header.c - <stem>.mrpc.h: the typed builders of the file's messages, then per service the
 * id macros, the service description, the typed client wrappers, the handler table type and its
 * registration function. It includes protoc-c's <stem>.pb-c.h for the message types and
 * mrpc/mrpc.h for the runtime's. */
#include "emit.h"

#include <string.h>

#include "emit_common.h"
#include "mrpc/mrpc.h"

static void emit_ids(const emit_t *e, const model_service_t *s)
{
    int width = (int)strlen(s->id_macro);
    for (size_t i = 0; i < s->n_methods; i++)
        if ((int)strlen(s->methods[i].id_macro) > width)
            width = (int)strlen(s->methods[i].id_macro);
    sb_puts(e->sb, "/* Ids: mrpc_id_of() of the full names, computed by protoc-gen-mrpc. */\n");
    sb_printf(e->sb, "#define %-*s 0x%08xu /* %s */\n", width, s->id_macro, s->id, s->full_name);
    for (size_t i = 0; i < s->n_methods; i++) {
        const model_method_t *m = &s->methods[i];
        sb_printf(e->sb, "#define %-*s 0x%08xu /* %s */\n", width, m->id_macro, m->id,
                  m->full_name);
    }
}

static void emit_client(const emit_t *e, const model_service_t *s)
{
    sb_puts(e->sb,
            "/* Client. X_call() blocks and returns the call's status; on PHX_OK *REPLY points into the\n"
            " * receive heap until mrpc_release(). X_async() returns PHX_OK once the call is queued (DONE\n"
            " * then runs from mrpc_ctx_progress() with the ctx and TOKEN), else why not. OPTS may be\n"
            " * NULL. */\n");
    for (size_t i = 0; i < s->n_methods; i++) {
        sb_printf(e->sb, "\n/* %s */\n", s->methods[i].full_name);
        emit_call_signature(e, &s->methods[i], ";\n");
        emit_async_signature(e, &s->methods[i], ";\n");
    }
}

static void emit_server(const emit_t *e, const model_service_t *s)
{
    sb_puts(e->sb,
            "/* Server: one handler per method. A handler reads REQ (read-only, in the receive heap),\n"
            " * builds *REPLY with mrpc_message_new() and returns PHX_OK, or returns another code after\n"
            " * mrpc_call_set_error(). A NULL handler answers UNIMPLEMENTED. */\n");
    sb_printf(e->sb, "typedef struct %s {\n", s->handlers_type);
    for (size_t i = 0; i < s->n_methods; i++) {
        sb_printf(e->sb, "    /* %s */\n", s->methods[i].full_name);
        emit_handler_member(e, &s->methods[i], "    ");
    }
    sb_printf(e->sb, "} %s;\n\n", s->handlers_type);
    sb_puts(e->sb, "/* Serves the service on SERVER; HANDLERS and IMPL must outlive the server. */\n");
    emit_add_signature(e, s, ";\n");
}

static void emit_service(const emit_t *e, const model_service_t *s)
{
    sb_printf(e->sb, "\n/* ---- service %s ---- */\n\n", s->full_name);
    emit_ids(e, s);
    sb_printf(e->sb, "\n/* The service and its methods, as mrpc_server_add_service() takes them. */\n"
                     "extern const mrpc_service_desc_t %s;\n\n", s->desc_var);
    emit_client(e, s);
    sb_puts(e->sb, "\n");
    emit_server(e, s);
}

/* The stubs use the API of the mrpc.h protoc-gen-mrpc was built with: a header of another major
 * version, or an older minor one, stops the build here with a sentence instead of later with
 * puzzling type errors (protoc-c's headers do the same for protobuf-c). */
static void emit_version_guard(const emit_t *e)
{
    sb_printf(e->sb,
              "#if !defined(MRPC_API_VERSION_MAJOR) || MRPC_API_VERSION_MAJOR != %d || \\\n"
              "    MRPC_API_VERSION_MINOR < %d\n"
              "#error \"These stubs need libmrpc API %d.%d (mrpc/mrpc.h): regenerate them with the "
              "protoc-gen-mrpc of the libmrpc you build against.\"\n"
              "#endif\n\n",
              MRPC_API_VERSION_MAJOR, MRPC_API_VERSION_MINOR, MRPC_API_VERSION_MAJOR,
              MRPC_API_VERSION_MINOR);
}

char *emit_header(arena_t *arena, const model_file_t *model)
{
    strbuf_t sb = STRBUF_INIT;
    emit_t e = { .sb = &sb, .arena = arena, .model = model };
    emit_banner(&e, " * mRPC stubs: typed client wrappers over mrpc_call() and mrpc_call_async(), typed\n"
                    " * server handler tables for mrpc_server_add_service(), and stable method ids. The\n"
                    " * message types are protoc-c's; typed builders make them in the send heap.");
    sb_printf(&sb, "#ifndef %s\n#define %s\n\n", model->guard, model->guard);
    sb_printf(&sb, "#include <mrpc/mrpc.h>\n\n#include \"%s.pb-c.h\"\n\n", model->stem);
    emit_version_guard(&e);
    sb_puts(&sb, "#ifdef __cplusplus\nextern \"C\" {\n#endif\n");
    emit_builder_decls(&e);
    for (size_t i = 0; i < model->n_services; i++)
        emit_service(&e, &model->services[i]);
    sb_printf(&sb, "\n#ifdef __cplusplus\n}\n#endif\n\n#endif /* %s */\n", model->guard);
    char *text = arena_strdup(arena, sb_str(&sb));
    sb_free(&sb);
    return text;
}
