/* emit_builders.c - the typed message builders: per message of the file <msg>_new() and
 * <msg>_copy(), per field the builders model_messages.c chose (_set_, _set_..._from, _mutable_,
 * _add_, _add_..._from), declared in the header and defined in the source with one signature.
 *
 * Every builder allocates in the send heap through libmrpc's public calls (mrpc_message_new,
 * mrpc_strdup, mrpc_bytes_set, mrpc_repeated_add), so what it builds is what the generic calls
 * would have built. Copies of received messages are libmrpc's mrpc_message_copy() (mrpc/lib/
 * copy.c, the one deep copy): the struct is copied bit for bit, then every string, bytes,
 * submessage, repeated array and unknown field gets a send-heap copy of its own; nothing is
 * packed or unpacked, so -0.0 stays -0.0 and NaN payloads survive. A failed copy frees what it
 * built. */
#include "emit.h"

#include "emit_common.h"

typedef enum builder_kind {
    B_NEW, B_COPY, B_SET, B_SET_FROM, B_MUTABLE, B_ADD, B_ADD_FROM,
} builder_kind_t;

typedef struct builder {
    builder_kind_t kind;
    const char    *ret;          /* "int ", "Hotel__Hotel *" */
    const char    *name;
    const char    *params[4];
    size_t         n_params;
} builder_t;

/* The parameters that carry a field's value into _set_ and _add_. */
static size_t value_params(const emit_t *e, const model_field_t *f, const char **out)
{
    switch (f->kind) {
    case FIELD_STRING:
        out[0] = "const char *value";
        return 1;
    case FIELD_BYTES:
        out[0] = "const void *data";
        out[1] = "size_t len";
        return 2;
    default:
        out[0] = arena_printf(e->arena, "%s value", f->c_type);
        return 1;
    }
}

static const char *from_param(const emit_t *e, const model_field_t *f)
{
    if (f->kind == FIELD_STRING)
        return "const char *received";
    if (f->kind == FIELD_BYTES)
        return "const ProtobufCBinaryData *received";
    return arena_printf(e->arena, "const %s *received", f->c_type);
}

static builder_t field_builder(const emit_t *e, const model_message_t *m, const model_field_t *f,
                               builder_kind_t kind, const char *name)
{
    builder_t b = { .kind = kind, .name = name, .ret = "int " };
    const char *msg = arena_printf(e->arena, "%s *msg", m->c->c_type);
    const char *sub = f->kind == FIELD_MESSAGE ? arena_printf(e->arena, "%s *", f->c_type) : NULL;
    int with_ctx = !(kind == B_SET && f->kind == FIELD_SCALAR);

    if (with_ctx)
        b.params[b.n_params++] = "mrpc_ctx_t *ctx";
    b.params[b.n_params++] = msg;
    if (kind == B_SET || (kind == B_ADD && f->kind != FIELD_MESSAGE))
        b.n_params += value_params(e, f, &b.params[b.n_params]);
    if (kind == B_SET_FROM || kind == B_ADD_FROM)
        b.params[b.n_params++] = from_param(e, f);
    if (kind == B_SET && f->kind == FIELD_SCALAR)
        b.ret = "void ";
    if (kind == B_MUTABLE || kind == B_ADD_FROM || (kind == B_ADD && sub))
        b.ret = sub;
    return b;
}

/* The builders of M in declaration order, into OUT (room for 2 + 5 per field). */
static size_t message_builders(const emit_t *e, const model_message_t *m, builder_t *out)
{
    size_t n = 0;
    const char *type = arena_printf(e->arena, "%s *", m->c->c_type);
    out[n++] = (builder_t){ B_NEW, type, m->new_fn, { "mrpc_ctx_t *ctx" }, 1 };
    out[n++] = (builder_t){ B_COPY, type, m->copy_fn,
                            { "mrpc_ctx_t *ctx",
                              arena_printf(e->arena, "const %s *received", m->c->c_type) }, 2 };
    for (size_t i = 0; i < m->n_fields; i++) {
        const model_field_t *f = &m->fields[i];
        const struct { builder_kind_t kind; const char *name; } each[] = {
            { B_MUTABLE, f->mutable_fn }, { B_SET, f->set_fn }, { B_SET_FROM, f->set_from_fn },
            { B_ADD, f->add_fn }, { B_ADD_FROM, f->add_from_fn },
        };
        for (size_t k = 0; k < N_OF(each); k++)
            if (each[k].name)
                out[n++] = field_builder(e, m, f, each[k].kind, each[k].name);
    }
    return n;
}

static builder_t *builders_of(const emit_t *e, const model_message_t *m, size_t *n)
{
    builder_t *b = arena_array(e->arena, 2 + 5 * m->n_fields, sizeof(*b));
    *n = message_builders(e, m, b);
    return b;
}

/* ---- header ---------------------------------------------------------------------------- */

void emit_builder_decls(const emit_t *e)
{
    const model_file_t *model = e->model;
    if (model->n_messages == 0)
        return;
    sb_puts(e->sb,
            "\n/* ---- typed builders ---- */\n\n"
            "/* Messages built in the send heap: X_new() allocates and initialises one; X_copy() deep-\n"
            " * copies a message (a received one, typically) bit for bit. Per field: _set_F() copies a\n"
            " * string or bytes in (a oneof member also gets its case); _set_F_from() copies a received\n"
            " * value; _mutable_F() returns the submessage, made when missing; _add_F() appends to a\n"
            " * repeated field (a new element for messages and map entries, else VALUE copied), growing\n"
            " * the array in place; _add_F_from() appends a copy of a received message. int results are\n"
            " * 0, -ENOMEM (send heap full) or -EINVAL (NULL value); pointers are NULL when the heap is\n"
            " * full. Set each field once: a replaced value is not freed (it may not be the heap's), so\n"
            " * it stays allocated until the context is destroyed. */\n");
    for (size_t i = 0; i < model->n_messages; i++) {
        const model_message_t *m = &model->messages[i];
        size_t n;
        builder_t *b = builders_of(e, m, &n);
        sb_printf(e->sb, "\n/* %s */\n", m->full_name);
        for (size_t k = 0; k < n; k++)
            emit_signature(e, "", b[k].ret, b[k].name, b[k].params, b[k].n_params, ";\n");
    }
}

/* ---- source ---------------------------------------------------------------------------- */

/* What a builder's body says about F, ready to paste. */
typedef struct field_text {
    const char *member;          /* "msg->street_name" */
    const char *grow;            /* the mrpc_repeated_add() call for F */
    const char *marks;           /* "    msg->has_x = 1;\n" / "    msg->pay_case = ...;\n" */
    const char *sub_desc;        /* "&hotel__address__descriptor" */
    const char *sub_base;        /* "&received->base" */
} field_text_t;

static field_text_t field_text(const emit_t *e, const model_field_t *f)
{
    arena_t *a = e->arena;
    field_text_t t = { .member = arena_printf(a, "msg->%s", f->member), .marks = "" };
    t.grow = arena_printf(a, "mrpc_repeated_add(ctx, &msg->%s, &msg->n_%s, sizeof(*msg->%s))",
                          f->member, f->member, f->member);
    if (f->has_member)
        t.marks = arena_printf(a, "    msg->%s = 1;\n", f->has_member);
    if (f->case_member)
        t.marks = arena_printf(a, "    msg->%s = %s;\n", f->case_member, f->case_value);
    if (f->message) {
        t.sub_desc = arena_printf(a, "&%s", f->message->descriptor);
        t.sub_base = arena_printf(a, "&received->%s", f->message->base_field);
    }
    return t;
}

static void body_set(const emit_t *e, const model_field_t *f, const field_text_t *t)
{
    if (f->kind == FIELD_STRING)
        sb_printf(e->sb, "    char *copy = value != NULL ? mrpc_strdup(ctx, value) : NULL;\n\n"
                         "    if (copy == NULL)\n"
                         "        return value != NULL ? -ENOMEM : -EINVAL;\n"
                         "    %s = copy;\n%s    return 0;\n", t->member, t->marks);
    else if (f->kind == FIELD_BYTES)
        sb_printf(e->sb, "    ProtobufCBinaryData copy;\n\n"
                         "    if (data == NULL && len > 0)\n"
                         "        return -EINVAL;\n"
                         "    if (mrpc_bytes_set(ctx, &copy, data, len) != 0)\n"
                         "        return -ENOMEM;\n"
                         "    %s = copy;\n%s    return 0;\n", t->member, t->marks);
    else
        sb_printf(e->sb, "    %s = value;\n%s", t->member, t->marks);
}

static void body_set_from(const emit_t *e, const model_field_t *f, const field_text_t *t)
{
    if (f->kind == FIELD_STRING) {
        sb_printf(e->sb, "    return %s(ctx, msg, received);\n", f->set_fn);
    } else if (f->kind == FIELD_BYTES) {
        sb_printf(e->sb, "    if (received == NULL)\n"
                         "        return -EINVAL;\n"
                         "    return %s(ctx, msg, received->data, received->len);\n", f->set_fn);
    } else {
        sb_printf(e->sb, "    ProtobufCMessage *copy;\n\n"
                         "    if (received == NULL)\n"
                         "        return -EINVAL;\n"
                         "    copy = mrpc_message_copy(ctx, %s,\n"
                         "                             %s);\n"
                         "    if (copy == NULL)\n"
                         "        return -ENOMEM;\n"
                         "    %s = (%s *)copy;\n%s    return 0;\n",
                  t->sub_desc, t->sub_base, t->member, f->c_type, t->marks);
    }
}

static void body_mutable(const emit_t *e, const model_field_t *f, const field_text_t *t)
{
    const char *active = f->case_member
        ? arena_printf(e->arena, "msg->%s == %s && ", f->case_member, f->case_value) : "";
    sb_printf(e->sb, "    %s *sub;\n\n"
                     "    if (%s%s != NULL)\n"
                     "        return %s;\n"
                     "    sub = (%s *)\n        mrpc_message_new(ctx, %s);\n"
                     "    if (sub == NULL)\n"
                     "        return NULL;\n"
                     "    %s = sub;\n%s    return sub;\n",
              f->c_type, active, t->member, t->member, f->c_type, t->sub_desc, t->member,
              t->marks);
}

static void body_add_message(const emit_t *e, const model_field_t *f, const field_text_t *t,
                             int from)
{
    const char *cond = from ? "received != NULL ? " : "";
    const char *make = from
        ? arena_printf(e->arena, "mrpc_message_copy(ctx, %s, %s)", t->sub_desc, t->sub_base)
        : arena_printf(e->arena, "mrpc_message_new(ctx, %s)", t->sub_desc);
    sb_printf(e->sb, "    %s **slot =\n        %s%s%s;\n"
                     "    ProtobufCMessage *sub =\n        slot != NULL ? %s : NULL;\n\n"
                     "    if (slot != NULL && sub == NULL)\n"
                     "        msg->n_%s--;\n"
                     "    else if (slot != NULL)\n"
                     "        *slot = (%s *)sub;\n"
                     "    return (%s *)sub;\n",
              f->c_type, cond, t->grow, from ? " : NULL" : "", make, f->member, f->c_type,
              f->c_type);
}

static void body_add(const emit_t *e, const model_field_t *f, const field_text_t *t)
{
    if (f->kind == FIELD_MESSAGE)
        body_add_message(e, f, t, 0);
    else if (f->kind == FIELD_STRING)
        sb_printf(e->sb, "    char **slot =\n        value != NULL ? %s : NULL;\n"
                         "    char *copy = slot != NULL ? mrpc_strdup(ctx, value) : NULL;\n\n"
                         "    if (copy == NULL) {\n"
                         "        if (slot != NULL)\n"
                         "            msg->n_%s--;\n"
                         "        return value != NULL ? -ENOMEM : -EINVAL;\n"
                         "    }\n"
                         "    *slot = copy;\n"
                         "    return 0;\n", t->grow, f->member);
    else if (f->kind == FIELD_BYTES)
        sb_printf(e->sb, "    ProtobufCBinaryData *slot;\n\n"
                         "    if (data == NULL && len > 0)\n"
                         "        return -EINVAL;\n"
                         "    slot =\n        %s;\n"
                         "    if (slot == NULL)\n"
                         "        return -ENOMEM;\n"
                         "    if (mrpc_bytes_set(ctx, slot, data, len) != 0) {\n"
                         "        msg->n_%s--;\n"
                         "        return -ENOMEM;\n"
                         "    }\n"
                         "    return 0;\n", t->grow, f->member);
    else
        sb_printf(e->sb, "    %s *slot =\n        %s;\n\n"
                         "    if (slot == NULL)\n"
                         "        return -ENOMEM;\n"
                         "    *slot = value;\n"
                         "    return 0;\n", f->c_type, t->grow);
}

static void body_field(const emit_t *e, const builder_t *b, const model_field_t *f)
{
    field_text_t t = field_text(e, f);
    switch (b->kind) {
    case B_SET:      body_set(e, f, &t); break;
    case B_SET_FROM: body_set_from(e, f, &t); break;
    case B_MUTABLE:  body_mutable(e, f, &t); break;
    case B_ADD:      body_add(e, f, &t); break;
    default:         body_add_message(e, f, &t, 1); break;
    }
}

/* The field builder B was made for (builders are listed in field order). */
static const model_field_t *field_of(const model_message_t *m, const builder_t *b)
{
    for (size_t i = 0; i < m->n_fields; i++) {
        const model_field_t *f = &m->fields[i];
        const char *names[] = { f->set_fn, f->set_from_fn, f->mutable_fn, f->add_fn,
                                f->add_from_fn };
        for (size_t k = 0; k < N_OF(names); k++)
            if (names[k] == b->name)
                return f;
    }
    return NULL;
}

static void emit_message_builders(const emit_t *e, const model_message_t *m)
{
    size_t n;
    builder_t *b = builders_of(e, m, &n);
    sb_printf(e->sb, "\n/* ---- builders of %s ---- */\n", m->full_name);
    for (size_t k = 0; k < n; k++) {
        sb_puts(e->sb, "\n");
        emit_signature(e, "", b[k].ret, b[k].name, b[k].params, b[k].n_params, "\n{\n");
        if (b[k].kind == B_NEW)
            sb_printf(e->sb, "    return (%s *)\n        mrpc_message_new(ctx, &%s);\n",
                      m->c->c_type, m->c->descriptor);
        else if (b[k].kind == B_COPY)
            sb_printf(e->sb, "    if (received == NULL)\n"
                             "        return NULL;\n"
                             "    return (%s *)\n"
                             "        mrpc_message_copy(ctx, &%s, &received->%s);\n",
                      m->c->c_type, m->c->descriptor, m->c->base_field);
        else
            body_field(e, &b[k], field_of(m, &b[k]));
        sb_puts(e->sb, "}\n");
    }
}

void emit_builder_defs(const emit_t *e)
{
    const model_file_t *model = e->model;
    if (model->n_messages == 0)
        return;
    for (size_t i = 0; i < model->n_messages; i++)
        emit_message_builders(e, &model->messages[i]);
}
