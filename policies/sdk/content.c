/* content.c - phx_call_field: a policy reads a field of the call it decides, by path, through the
 * app's registered layouts (see phoenix/policy.h for the contract).
 *
 * The layouts are MrpcEngine's, shared with the subscription's engines under MRPC_LAYOUTS_SHARED
 * (mrpc/transport.h). What is read must be what is sent. On tx the payload may still point into
 * the app's send heap (zero-copy pieces), which the app can rewrite at any time, so the first read
 * gathers the whole payload into a private copy in service memory and points the wire message at
 * it (`copy`, freed by MrpcEngine when the SEND comes back): the transport then sends exactly
 * those bytes. On rx the payload is in the app's receive heap, which the app maps read-only. The
 * read itself decodes a second copy (the first must stay in wire form), with the marshal
 * library's decoder, which checks the payload as untrusted; then every pointer followed is
 * checked to lie inside that copy, or to be the field's default, before it is read. */
#include "internal.h"
#include "sdk.h"

#include "mrpc/transport.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define CONTENT_PATH_MAX 256

/* ---- the payload ---------------------------------------------------------------------------- */

/* Moves W's payload into a private copy (once) and points W at it; false when out of memory or
 * the pieces do not add up to the header's length. */
static bool own_copy(phx_policy_t *p, struct mrpc_wire_msg *w)
{
    size_t len = w->hdr.payload_len, at = 0, iov_at = mrpc_align16(len);

    if (w->copy)
        return true;
    char *base = malloc(iov_at + sizeof(struct mrpc_iov));
    if (!base)
        return false;
    for (unsigned i = 0; i < w->n_iov; i++) {
        if (w->iov[i].len > len - at) {
            free(base);
            return false;
        }
        memcpy(base + at, w->iov[i].base, w->iov[i].len);
        at += w->iov[i].len;
    }
    if (at != len) {
        free(base);
        return false;
    }
    struct mrpc_iov *iov = (struct mrpc_iov *)(base + iov_at);
    *iov = (struct mrpc_iov){ .base = base, .len = len };
    w->copy = base;
    w->iov = iov;
    w->n_iov = 1;
    p->copies++;
    return true;
}

/* The payload of the call in CX as sent or landed, with its layout hash. */
static int payload_of(struct phx_call_ctx *cx, const void **bytes, size_t *len, uint64_t *hash)
{
    const phx_desc_t *d = cx->d;

    if (d->kind == MRPC_DESC_SEND) {
        struct mrpc_wire_msg *w = (struct mrpc_wire_msg *)(uintptr_t)d->addr;
        if (!own_copy(cx->p, w))
            return -ENOMEM;
        *bytes = w->copy;
        *len = w->hdr.payload_len;
        *hash = w->hdr.type_hash;
        return w->hdr.format == MRPC_FORMAT_NATIVE ? 0 : -EINVAL;
    }
    *bytes = (const void *)(uintptr_t)d->addr;
    *len = d->len;
    *hash = d->type_hash;
    return (d->flags >> 8) == MRPC_FORMAT_NATIVE && (d->addr || !d->len) ? 0 : -EINVAL;
}

/* The call's message of type T, decoded in the policy's buffer (once per decision). */
static int decoded(struct phx_call_ctx *cx, const struct mrpc_type_layout *t, void **msg)
{
    phx_policy_t *p = cx->p;
    const void *bytes;
    size_t len;
    uint64_t hash;

    if (p->content.key && p->content.key == (const void *)(uintptr_t)cx->d->addr) {
        *msg = p->content.msg;
        return 0;
    }
    int rc = payload_of(cx, &bytes, &len, &hash);
    if (rc < 0)
        return rc;
    if (hash != mrpc_type_hash(t))
        return -EINVAL;
    if (len + 1 > p->content.cap) {
        void *buf = realloc(p->content.buf, len + 1);     /* malloc: 16-byte aligned */
        if (!buf)
            return -ENOMEM;
        p->content.buf = buf;
        p->content.cap = len + 1;
    }
    memcpy(p->content.buf, bytes, len);
    ((char *)p->content.buf)[len] = '\0';
    p->content.len = len;
    if (mrpc_native_decode(t, p->content.buf, len, msg, NULL, 0) < 0)
        return -EINVAL;
    p->content.key = (const void *)(uintptr_t)cx->d->addr;
    p->content.msg = *msg;
    return 0;
}

/* ---- walking the message -------------------------------------------------------------------- */

struct walk {
    const char *lo, *hi;         /* the decoded copy */
};

static bool inside(const struct walk *w, const void *at, size_t n)
{
    const char *c = at;

    return c >= w->lo && c <= w->hi && n <= (size_t)(w->hi - c);
}

const struct mrpc_field_layout *phx_sdk_field_named(const struct mrpc_type_layout *t,
                                                    const char *name, size_t n)
{
    for (unsigned i = 0; i < t->n_fields; i++)
        if (strncmp(t->fields[i].name, name, n) == 0 && t->fields[i].name[n] == '\0')
            return &t->fields[i];
    return NULL;
}

/* Whether F is set in MSG, as far as its quantifier says (has_ flag, oneof case). */
static bool quantified(const struct mrpc_field_layout *f, const char *msg)
{
    uint32_t q = mrpc_quantifier_size(f->label, f->type, f->oneof);

    if (f->oneof) {
        uint32_t which;
        memcpy(&which, msg + f->quantifier_offset, sizeof(which));
        return which == f->id;
    }
    if (q == sizeof(protobuf_c_boolean) && f->label == PROTOBUF_C_LABEL_OPTIONAL) {
        protobuf_c_boolean has;
        memcpy(&has, msg + f->quantifier_offset, sizeof(has));
        return has != 0;
    }
    return true;
}

/* A text or bytes value at PTR: the field's default or the app's empty string (addresses in the
 * app, never followed), else LEN bytes inside the copy (a string: with its NUL there too). */
static int text_value(const struct walk *w, const struct mrpc_type_layout *t,
                      const struct mrpc_field_layout *f, const char *ptr, size_t len,
                      bool string, phx_field_t *out)
{
    out->kind = string ? PHX_FIELD_STRING : PHX_FIELD_BYTES;
    if (f->default_addr && (uint64_t)(uintptr_t)ptr == f->default_addr && f->default_value) {
        out->data = (const char *)f->default_value;
        out->len = f->default_len;
        return 0;
    }
    if ((string && (uint64_t)(uintptr_t)ptr == t->empty_string_addr) || (!string && len == 0)) {
        out->data = "";
        out->len = 0;
        return 0;
    }
    if (string) {
        if (!inside(w, ptr, 1))
            return -EINVAL;
        len = strnlen(ptr, (size_t)(w->hi - ptr));
        if (len == (size_t)(w->hi - ptr))
            return -EINVAL;                     /* not terminated inside the copy */
    } else if (!inside(w, ptr, len)) {
        return -EINVAL;
    }
    out->data = ptr;
    out->len = len;
    return 0;
}

static int64_t load_int(const char *at, size_t size)
{
    int32_t v32;
    int64_t v64;

    if (size == 4) {
        memcpy(&v32, at, 4);
        return v32;
    }
    memcpy(&v64, at, 8);
    return v64;
}

static uint64_t load_uint(const char *at, size_t size)
{
    uint32_t v32;
    uint64_t v64;

    if (size == 4) {
        memcpy(&v32, at, 4);
        return v32;
    }
    memcpy(&v64, at, 8);
    return v64;
}

/* The value of field F (one of T's) stored at AT - in its message, or an element of its array -
 * into *OUT. */
static int value_at(const struct walk *w, const struct mrpc_type_layout *t,
                    const struct mrpc_field_layout *f, const char *at, phx_field_t *out)
{
    memset(out, 0, sizeof(*out));
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32: case PROTOBUF_C_TYPE_SINT32: case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64: case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_ENUM:
        out->kind = PHX_FIELD_INT;
        out->i = load_int(at, f->elem_size);
        return 0;
    case PROTOBUF_C_TYPE_UINT32: case PROTOBUF_C_TYPE_FIXED32:
    case PROTOBUF_C_TYPE_UINT64: case PROTOBUF_C_TYPE_FIXED64:
        out->kind = PHX_FIELD_UINT;
        out->u = load_uint(at, f->elem_size);
        return 0;
    case PROTOBUF_C_TYPE_FLOAT: {
        float v;
        memcpy(&v, at, sizeof(v));
        out->kind = PHX_FIELD_DOUBLE;
        out->d = v;
        return 0;
    }
    case PROTOBUF_C_TYPE_DOUBLE:
        out->kind = PHX_FIELD_DOUBLE;
        memcpy(&out->d, at, sizeof(out->d));
        return 0;
    case PROTOBUF_C_TYPE_BOOL: {
        protobuf_c_boolean v;
        memcpy(&v, at, sizeof(v));
        out->kind = PHX_FIELD_BOOL;
        out->b = v != 0;
        return 0;
    }
    case PROTOBUF_C_TYPE_STRING: {
        const char *s;
        memcpy(&s, at, sizeof(s));
        return s ? text_value(w, t, f, s, 0, true, out) : 0;
    }
    case PROTOBUF_C_TYPE_BYTES: {
        ProtobufCBinaryData b;
        memcpy(&b, at, sizeof(b));
        return text_value(w, t, f, (const char *)b.data, b.len, false, out);
    }
    default:
        return -ENOTSUP;
    }
}

/* One step of a path: a field's name, and an element's index when it has "[N]". */
struct step {
    const char *name;
    size_t      n;
    bool        indexed;
    size_t      index;
    const char *rest;            /* after the step's dot; NULL: the last step */
};

#define CONTENT_INDEX_DIGITS 9

/* The step at PATH, or false when it is not "name" or "name[digits]" followed by "." or the end. */
static bool step_of(const char *path, struct step *s)
{
    const char *end = path + strcspn(path, ".[");

    *s = (struct step){ .name = path, .n = (size_t)(end - path) };
    if (*end == '[') {
        const char *d = end + 1;
        size_t digits = strspn(d, "0123456789");
        if (digits == 0 || digits > CONTENT_INDEX_DIGITS || d[digits] != ']')
            return false;
        s->indexed = true;
        s->index = strtoul(d, NULL, 10);
        end = d + digits + 1;
    }
    if (*end != '.' && *end != '\0')
        return false;
    s->rest = *end == '.' ? end + 1 : NULL;
    return s->n > 0 && (!s->rest || *s->rest);
}

/* Where element I of the repeated field F of MSG lies, checked inside the copy: *AT, or NULL past
 * the end. -EINVAL when the array is not inside the copy. */
static int element_at(const struct walk *w, const struct mrpc_field_layout *f, const char *msg,
                      size_t i, const char **at)
{
    size_t count;
    const char *array;

    memcpy(&count, msg + f->quantifier_offset, sizeof(count));
    memcpy(&array, msg + f->offset, sizeof(array));
    *at = NULL;
    if (i >= count)
        return 0;
    if (count > (size_t)(w->hi - w->lo) / f->elem_size || !inside(w, array, count * f->elem_size))
        return -EINVAL;
    *at = array + i * f->elem_size;
    return 0;
}

/* Where the field F of MSG named by step S lies (its value, or the element's): *AT, NULL when it
 * is not set (an absent optional or oneof member, an index past the end). */
static int field_at(const struct walk *w, const struct mrpc_field_layout *f, const char *msg,
                    const struct step *s, const char **at)
{
    if (s->indexed)
        return element_at(w, f, msg, s->index, at);
    *at = quantified(f, msg) ? msg + f->offset : NULL;
    return 0;
}

/* What a walk ends on: a value, or how many elements a repeated field has. */
struct walk_end {
    phx_field_t *value;          /* NULL: the count is wanted */
    size_t      *count;
};

/* The last step S, on field F of MSG (of type T). */
static int walk_last(const struct walk *w, const struct mrpc_type_layout *t,
                     const struct mrpc_field_layout *f, const char *msg, const struct step *s,
                     const struct walk_end *end)
{
    const char *at;

    if (!end->value) {
        if (!f->repeated || s->indexed)
            return -ENOENT;
        memcpy(end->count, msg + f->quantifier_offset, sizeof(*end->count));
        return element_at(w, f, msg, 0, &at);      /* checks the array is inside */
    }
    if (f->repeated != s->indexed)
        return f->repeated ? -ENOTSUP : -ENOENT;
    if (f->kind == MRPC_FIELD_MESSAGE)
        return -ENOTSUP;
    int rc = field_at(w, f, msg, s, &at);
    return rc < 0 || !at ? rc : value_at(w, t, f, at, end->value);
}

/* Follows the path FIELDS from the message MSG of type T: dotted field names, a repeated one
 * with an element's index ("items[2].id"). A message that is not there (or an element past the
 * end) ends the walk: nothing below it is set. */
static int walk_fields(const struct walk *w, const struct mrpc_type_layout *t, const char *msg,
                       const char *fields, const struct walk_end *end)
{
    struct step s;

    for (;;) {
        if (!step_of(fields, &s))
            return -ENOENT;
        const struct mrpc_field_layout *f = phx_sdk_field_named(t, s.name, s.n);
        if (!f)
            return -ENOENT;
        if (!s.rest)
            return walk_last(w, t, f, msg, &s, end);
        if (f->kind != MRPC_FIELD_MESSAGE)
            return -ENOENT;
        if (f->repeated != s.indexed)
            return f->repeated ? -ENOTSUP : -ENOENT;
        const char *at, *next = NULL;
        int rc = field_at(w, f, msg, &s, &at);
        if (rc < 0)
            return rc;
        if (at)
            memcpy(&next, at, sizeof(next));
        if (!next)
            return 0;                   /* the out values are zero: UNSET, or a count of 0 */
        if (!inside(w, next, f->message->size))
            return -EINVAL;
        t = f->message;
        msg = next;
        fields = s.rest;
    }
}

/* ---- the call ------------------------------------------------------------------------------- */

const struct mrpc_method_layout *phx_sdk_method_of(phx_engine_t *e, const phx_call_t *call)
{
    const struct mrpc_layout_view *view = phx_engine_shared(e, MRPC_LAYOUTS_SHARED);

    if (!view || view->size < sizeof(*view) || view->marshal_abi != MRPC_MARSHAL_ABI)
        return NULL;
    return view->find(view->ctx, call->service_id, call->method_id);
}

void phx_sdk_call_names(phx_engine_t *e, phx_call_t *call)
{
    const struct mrpc_method_layout *ml = phx_sdk_method_of(e, call);

    if (ml) {
        call->service_name = ml->service_name;
        call->method_name = ml->name;
    }
}

bool phx_policy_method_names(phx_engine_t *e, uint32_t service_id, uint32_t method_id,
                             const char **service, const char **method)
{
    const phx_call_t call = { .service_id = service_id, .method_id = method_id };
    const struct mrpc_method_layout *ml = e ? phx_sdk_method_of(e, &call) : NULL;

    if (!ml || !ml->service_name || !ml->name)
        return false;
    *service = ml->service_name;
    *method = ml->name;
    return true;
}

/* The layout of CALL's message, or why not. */
static int message_type(struct phx_call_ctx *cx, const phx_call_t *call,
                        const struct mrpc_type_layout **t)
{
    if (call->kind != PHX_CALL_REQUEST && call->kind != PHX_CALL_REPLY)
        return -ENOTSUP;
    const struct mrpc_method_layout *ml = phx_sdk_method_of(cx->e, call);
    if (!ml)
        return -ENOTSUP;
    *t = call->kind == PHX_CALL_REQUEST ? ml->input : ml->output;
    return 0;
}

/* Reads PATH of CALL's message up to END. */
static int call_walk(const phx_call_t *call, const char *path, const struct walk_end *end)
{
    struct phx_call_ctx *cx = (struct phx_call_ctx *)call->ctx;
    const struct mrpc_type_layout *t;
    void *msg;

    if (!cx || !path || strnlen(path, CONTENT_PATH_MAX) == CONTENT_PATH_MAX)
        return cx ? -ENOENT : -ENOTSUP;
    int rc = message_type(cx, call, &t);
    if (rc < 0)
        return rc;
    size_t n = strlen(t->full_name);
    if (strncmp(path, t->full_name, n) != 0 || path[n] != '.' || !path[n + 1])
        return -ENOENT;
    if ((rc = decoded(cx, t, &msg)) < 0)
        return rc;
    const struct walk w = { .lo = cx->p->content.buf,
                            .hi = (const char *)cx->p->content.buf + cx->p->content.len };
    return walk_fields(&w, t, msg, path + n + 1, end);
}

int phx_call_field(const phx_call_t *call, const char *path, phx_field_t *out)
{
    memset(out, 0, sizeof(*out));
    return call_walk(call, path, &(struct walk_end){ .value = out });
}

int phx_call_field_count(const phx_call_t *call, const char *path, size_t *count)
{
    *count = 0;
    int rc = call_walk(call, path, &(struct walk_end){ .count = count });
    if (rc < 0)
        *count = 0;
    return rc;
}
