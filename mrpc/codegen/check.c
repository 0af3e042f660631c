/* check.c - the refusals of check.h. Name clashes are found by listing every file-level
 * identifier the .mrpc.h/.mrpc.c pair would declare, plus those protoc-c declares for the same
 * services, sorting them and looking at neighbours. */
#include "check.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emit.h"
#include "names.h"

/* Why protoc-c 1.4 cannot generate field F (a sentence's end), or NULL when it can. */
static const char *field_unsupported(arena_t *arena,
                                     const Google__Protobuf__FieldDescriptorProto *f)
{
    if (f->name && names_unescaped_c_keyword(names_field_member(arena, f->name)))
        return "field %s in %s%s%s is named like a C keyword that protoc-c 1.4 does not rename, "
               "so its struct would not compile: rename the field (the wire format only knows "
               "its number)";
    if (f->proto3_optional)
        return "proto3 optional fields are not supported by protoc-c 1.4 (field %s in %s%s%s): "
               "use a wrapper message or oneof";
    if (f->has_type && f->type == GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_GROUP)
        return "proto2 groups are not supported: protoc-c 1.4 crashes on them (field %s in "
               "%s%s%s): declare a nested message and a field of that type instead";
    return NULL;
}

static int check_fields(arena_t *arena, const char *file_name, const char *scope,
                        Google__Protobuf__DescriptorProto *const *msgs, size_t n, char *err,
                        size_t errlen)
{
    for (size_t i = 0; i < n; i++) {
        const Google__Protobuf__DescriptorProto *msg = msgs[i];
        const char *sep = *scope ? "." : "";
        for (size_t f = 0; f < msg->n_field; f++) {
            const char *why = field_unsupported(arena, msg->field[f]);
            if (why) {
                int len = snprintf(err, errlen, "%s: ", file_name);
                snprintf(err + len, errlen - (size_t)len, why, msg->field[f]->name, scope, sep,
                         msg->name);
                return -EINVAL;
            }
        }
        char inner[512];
        snprintf(inner, sizeof(inner), "%s%s%s", scope, sep, msg->name);
        int rc = check_fields(arena, file_name, inner, msg->nested_type, msg->n_nested_type, err,
                              errlen);
        if (rc)
            return rc;
    }
    return 0;
}

static int check_unary(const char *file_name, const char *service_full,
                       const Google__Protobuf__MethodDescriptorProto *m, char *err, size_t errlen)
{
    const char *what = m->client_streaming && m->server_streaming ? "requests and replies"
                     : m->client_streaming                        ? "requests"
                     : m->server_streaming                        ? "replies"
                                                                  : NULL;
    if (!what)
        return 0;
    snprintf(err, errlen, "%s: method %s.%s streams its %s: streaming methods are not supported, "
             "mRPC calls are unary (one request, one reply)", file_name, service_full, m->name,
             what);
    return -EINVAL;
}

int check_file_supported(const Google__Protobuf__FileDescriptorProto *file, arena_t *arena,
                         char *err, size_t errlen)
{
    const char *package = file->package ? file->package : "";
    int rc = check_fields(arena, file->name, package, file->message_type, file->n_message_type,
                          err, errlen);
    for (size_t s = 0; !rc && s < file->n_service; s++) {
        const Google__Protobuf__ServiceDescriptorProto *svc = file->service[s];
        char full[512];
        snprintf(full, sizeof(full), "%s%s%s", package, *package ? "." : "", svc->name);
        if (svc->n_method == 0) {
            snprintf(err, errlen, "%s: service %s declares no methods, and mRPC stubs need at "
                     "least one: add a method or remove the service", file->name, full);
            return -EINVAL;
        }
        for (size_t m = 0; !rc && m < svc->n_method; m++)
            rc = check_unary(file->name, full, svc->method[m], err, errlen);
    }
    return rc;
}

/* ---- name clashes ------------------------------------------------------------------------ */

typedef struct ident {
    const char *name;
    const char *what;      /* readable origin, for the error */
} ident_t;

typedef struct ident_list {
    ident_t *items;
    size_t   n, cap;
    arena_t *arena;
} ident_list_t;

static void add_ident(ident_list_t *l, const char *name, const char *what)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 32;
        ident_t *grown = arena_array(l->arena, cap, sizeof(*grown));
        if (l->n)
            memcpy(grown, l->items, l->n * sizeof(*grown));
        l->items = grown;
        l->cap = cap;
    }
    l->items[l->n++] = (ident_t){ name, what };
}

/* Everything protoc-c's c_service.cc declares for service S in the .pb-c.h. */
static void add_pb_c_idents(ident_list_t *l, const model_service_t *s)
{
    arena_t *a = l->arena;
    const char *what = arena_printf(a, "protoc-c's code for service %s", s->full_name);
    add_ident(l, arena_printf(a, "%s__init", s->lower), what);
    add_ident(l, arena_printf(a, "%s__descriptor", s->lower), what);
    add_ident(l, arena_printf(a, "%s_Service", s->c_name), what);
    add_ident(l, arena_printf(a, "%s_ServiceDestroy", s->c_name), what);
    add_ident(l, arena_printf(a, "%s__BASE_INIT", s->upper), what);
    add_ident(l, arena_printf(a, "%s__INIT", s->upper), what);
    for (size_t i = 0; i < s->n_methods; i++)
        add_ident(l, s->methods[i].pb_c_fn, arena_printf(a, "protoc-c's stub for method %s",
                                                           s->methods[i].full_name));
}

static void add_mrpc_idents(ident_list_t *l, const model_service_t *s)
{
    arena_t *a = l->arena;
    const char *what = arena_printf(a, "mRPC's code for service %s", s->full_name);
    const char *own[] = { s->desc_var, s->methods_var, s->dispatch_fn, s->add_fn,
                          s->handlers_type, s->id_macro };
    for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++)
        add_ident(l, own[i], what);
    for (size_t i = 0; i < s->n_methods; i++) {
        const model_method_t *m = &s->methods[i];
        const char *mwhat = arena_printf(a, "mRPC's code for method %s", m->full_name);
        add_ident(l, m->call_fn, mwhat);
        add_ident(l, m->async_fn, mwhat);
        add_ident(l, m->id_macro, mwhat);
        /* members share a namespace per handler table only */
        add_ident(l, arena_printf(a, "%s.%s", s->handlers_type, m->member), mwhat);
    }
}

/* Everything protoc-c's c_message.cc declares at file level for message M in the .pb-c.h. */
static void add_pb_c_message_idents(ident_list_t *l, const model_message_t *m)
{
    arena_t *a = l->arena;
    const char *what = arena_printf(a, "protoc-c's code for message %s", m->full_name);
    static const char *const fns[] = { "init", "get_packed_size", "pack", "pack_to_buffer",
                                       "unpack", "free_unpacked", "descriptor" };
    for (size_t i = 0; i < sizeof(fns) / sizeof(fns[0]); i++)
        add_ident(l, arena_printf(a, "%s__%s", m->c->lower, fns[i]), what);
    add_ident(l, m->c->c_type, what);
    add_ident(l, arena_printf(a, "%s_Closure", m->c->c_type), what);
    add_ident(l, arena_printf(a, "%s__INIT", m->c->upper), what);
}

static void add_builder_idents(ident_list_t *l, const model_message_t *m)
{
    arena_t *a = l->arena;
    const char *what = arena_printf(a, "mRPC's builders of message %s", m->full_name);
    add_ident(l, m->new_fn, what);
    add_ident(l, m->copy_fn, what);
    for (size_t i = 0; i < m->n_fields; i++) {
        const model_field_t *f = &m->fields[i];
        const char *fwhat = arena_printf(a, "mRPC's builders of field %s", f->full_name);
        const char *fns[] = { f->set_fn, f->set_from_fn, f->mutable_fn, f->add_fn,
                              f->add_from_fn };
        for (size_t k = 0; k < sizeof(fns) / sizeof(fns[0]); k++)
            if (fns[k])
                add_ident(l, fns[k], fwhat);
    }
}

static void add_message_idents(ident_list_t *l, const model_file_t *model)
{
    for (size_t i = 0; i < model->n_messages; i++) {
        add_pb_c_message_idents(l, &model->messages[i]);
        add_builder_idents(l, &model->messages[i]);
    }
}

static int compare_idents(const void *a, const void *b)
{
    const ident_t *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : strcmp(x->what, y->what);
}

static int check_ids_distinct(const model_service_t *s, char *err, size_t errlen)
{
    for (size_t i = 0; i < s->n_methods; i++) {
        for (size_t j = i + 1; j < s->n_methods; j++) {
            if (s->methods[i].id != s->methods[j].id)
                continue;
            snprintf(err, errlen, "methods %s and %s have the same id 0x%08x (32-bit FNV-1a of "
                     "the full name): rename one of them", s->methods[i].full_name,
                     s->methods[j].full_name, s->methods[i].id);
            return -EINVAL;
        }
    }
    return 0;
}

int check_model_names(const model_file_t *model, arena_t *arena, char *err, size_t errlen)
{
    ident_list_t l = { .arena = arena };
    for (size_t i = 0; i < model->n_services; i++) {
        int rc = check_ids_distinct(&model->services[i], err, errlen);
        if (rc)
            return rc;
        add_pb_c_idents(&l, &model->services[i]);
        add_mrpc_idents(&l, &model->services[i]);
    }
    add_message_idents(&l, model);
    if (l.n)
        qsort(l.items, l.n, sizeof(*l.items), compare_idents);
    for (size_t i = 1; i < l.n; i++) {
        if (strcmp(l.items[i - 1].name, l.items[i].name) != 0)
            continue;
        snprintf(err, errlen, "%s: the C name %s would be declared twice, by %s and by %s: "
                 "rename one of them", model->proto_name, l.items[i].name,
                 l.items[i - 1].what, l.items[i].what);
        return -EINVAL;
    }
    return 0;
}
