/* layout_set.c - the service's registry of an app's message layouts (one set per subscription).
 *
 * An app registers one ServiceLayout blob per service (layout_build.c makes them). The blob is
 * untrusted: a wrong offset would make the encoder read, and the decoder write, outside a struct.
 * So it is unpacked, bounded (blob size, types, fields, methods) and checked field by field
 * before anything uses it: label and type are protobuf-c values, the field's storage and its
 * quantifier lie inside the struct, after the ProtobufCMessage base, at aligned offsets; message
 * fields name a type of the same blob; methods name valid types. Only then is it turned into the
 * internal form (internal.h) that the walker trusts, and each type gets its hash.
 *
 * What a valid layout cannot prevent is an app describing its own structs wrongly: that can only
 * hurt its own messages, which the encoder and decoder still keep inside heap and payload. */
#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mrpc_layout.pb-c.h"

typedef Phoenix__Mrpc__ServiceLayout PbService;
typedef Phoenix__Mrpc__TypeLayout    PbType;
typedef Phoenix__Mrpc__FieldLayout   PbField;
typedef Phoenix__Mrpc__MethodLayout  PbMethod;

struct service_layout {
    PbService                 *pb;        /* owns every name the layout points at */
    uint32_t                   service_id;
    size_t                     n_types;
    struct mrpc_type_layout   *types;
    struct mrpc_field_layout  *fields;    /* all types' fields, each type a slice */
    uint8_t                   *defaults;  /* NUL-terminated copies of default texts */
    size_t                     n_methods;
    struct mrpc_method_layout *methods;   /* sorted by method_id */
};

struct mrpc_layout_set {
    struct service_layout **services;
    size_t                  n_services;
};

/* Where validation reports to. */
struct checker {
    char  *err;
    size_t errlen;
};

#define REFUSE(c, ...) mrpc_fail((c)->err, (c)->errlen, -EINVAL, __VA_ARGS__)

/* ---- validation ----------------------------------------------------------------------------- */

static int check_counts(const struct checker *c, const PbService *pb)
{
    if (pb->n_types > MRPC_LAYOUT_MAX_TYPES)
        return REFUSE(c, "the layout has %zu types, more than %u", pb->n_types,
                      MRPC_LAYOUT_MAX_TYPES);
    if (pb->n_methods > MRPC_LAYOUT_MAX_METHODS)
        return REFUSE(c, "the layout has %zu methods, more than %u", pb->n_methods,
                      MRPC_LAYOUT_MAX_METHODS);
    size_t total = 0;
    for (size_t i = 0; i < pb->n_types; i++) {
        if (pb->types[i]->n_fields > MRPC_LAYOUT_MAX_FIELDS)
            return REFUSE(c, "type %s has %zu fields, more than %u", pb->types[i]->full_name,
                          pb->types[i]->n_fields, MRPC_LAYOUT_MAX_FIELDS);
        total += pb->types[i]->n_fields;
    }
    if (total > MRPC_LAYOUT_MAX_TOTAL_FIELDS)
        return REFUSE(c, "the layout has %zu fields in all, more than %u", total,
                      MRPC_LAYOUT_MAX_TOTAL_FIELDS);
    return 0;
}

static int check_type(const struct checker *c, const PbType *t)
{
    if (t->size < sizeof(ProtobufCMessage) || t->size > MRPC_LAYOUT_MAX_TYPE_SIZE)
        return REFUSE(c, "type %s has a size of %llu bytes, outside [%zu, %u]", t->full_name,
                      (unsigned long long)t->size, sizeof(ProtobufCMessage),
                      MRPC_LAYOUT_MAX_TYPE_SIZE);
    return 0;
}

/* SIZE bytes at OFFSET (WHAT: "storage" or "quantifier") inside the struct, after its base. */
static int check_span(const struct checker *c, const PbType *t, const PbField *f,
                      const char *what, uint32_t offset, uint32_t size)
{
    uint32_t align = size < 8 ? size : 8;
    if (size > t->size || offset > t->size - size)
        return REFUSE(c, "field %s.%s: its %s at offset %u (%u bytes) lies outside the %llu-byte "
                      "struct", t->full_name, f->name, what, offset, size,
                      (unsigned long long)t->size);
    if (offset < sizeof(ProtobufCMessage))
        return REFUSE(c, "field %s.%s: its %s at offset %u overlaps the ProtobufCMessage base",
                      t->full_name, f->name, what, offset);
    if (offset % align)
        return REFUSE(c, "field %s.%s: its %s at offset %u is not %u-byte aligned", t->full_name,
                      f->name, what, offset, align);
    return 0;
}

static int check_field(const struct checker *c, const PbType *t, const PbField *f,
                       size_t n_types)
{
    if (!mrpc_label_known(f->label))
        return REFUSE(c, "field %s.%s has an unknown label %u", t->full_name, f->name, f->label);
    if (!mrpc_type_known(f->type))
        return REFUSE(c, "field %s.%s has an unknown type %u", t->full_name, f->name, f->type);
    bool oneof = f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF;
    if (oneof && f->label == PROTOBUF_C_LABEL_REPEATED)
        return REFUSE(c, "field %s.%s is repeated inside a oneof", t->full_name, f->name);
    bool is_message = f->type == PROTOBUF_C_TYPE_MESSAGE;
    if (is_message ? f->message_type < 0 || (size_t)f->message_type >= n_types
                   : f->message_type != -1)
        return REFUSE(c, "field %s.%s names message type %d, but the layout has %zu types",
                      t->full_name, f->name, f->message_type, n_types);
    int rc = check_span(c, t, f, "storage", f->offset, mrpc_storage_size(f->label, f->type));
    uint32_t qsize = mrpc_quantifier_size(f->label, f->type, oneof);
    if (rc == 0 && qsize)
        rc = check_span(c, t, f, "quantifier", f->quantifier_offset, qsize);
    return rc;
}

static int check_method(const struct checker *c, const PbMethod *m, size_t n_types)
{
    if (m->input_type >= n_types || m->output_type >= n_types)
        return REFUSE(c, "method %s names types %u and %u, but the layout has %zu types", m->name,
                      m->input_type, m->output_type, n_types);
    return 0;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The layout hash names message types by their full names: each must be unique. */
static int check_unique_names(const struct checker *c, const PbService *pb)
{
    const char **names = malloc((pb->n_types + 1) * sizeof(*names));
    if (!names)
        return mrpc_fail(c->err, c->errlen, -ENOMEM, "out of memory loading a layout");
    for (size_t i = 0; i < pb->n_types; i++)
        names[i] = pb->types[i]->full_name;
    qsort(names, pb->n_types, sizeof(*names), compare_names);
    int rc = 0;
    for (size_t i = 1; i < pb->n_types && rc == 0; i++)
        if (strcmp(names[i - 1], names[i]) == 0)
            rc = REFUSE(c, "the layout describes type %s twice", names[i]);
    free(names);
    return rc;
}

static int check_service(const struct checker *c, const PbService *pb)
{
    int rc = check_counts(c, pb);
    if (rc == 0)
        rc = check_unique_names(c, pb);
    for (size_t i = 0; i < pb->n_types && rc == 0; i++) {
        const PbType *t = pb->types[i];
        rc = check_type(c, t);
        for (size_t j = 0; j < t->n_fields && rc == 0; j++)
            rc = check_field(c, t, t->fields[j], pb->n_types);
    }
    for (size_t i = 0; i < pb->n_methods && rc == 0; i++)
        rc = check_method(c, pb->methods[i], pb->n_types);
    return rc;
}

/* ---- the internal form ---------------------------------------------------------------------- */

static bool has_default(const PbField *f)
{
    return f->default_addr &&
           (f->type == PROTOBUF_C_TYPE_STRING || f->type == PROTOBUF_C_TYPE_BYTES);
}

static size_t defaults_size(const PbService *pb)
{
    size_t total = 0;   /* bounded by the blob's size */
    for (size_t i = 0; i < pb->n_types; i++)
        for (size_t j = 0; j < pb->types[i]->n_fields; j++)
            if (has_default(pb->types[i]->fields[j]))
                total += pb->types[i]->fields[j]->default_value.len + 1;
    return total;
}

/* Fills OUT from the checked F; default texts are copied to *CURSOR with a NUL. */
static void fill_field(struct mrpc_field_layout *out, const PbField *f,
                       const struct mrpc_type_layout *types, uint8_t **cursor)
{
    *out = (struct mrpc_field_layout){
        .name = f->name, .id = f->id, .label = f->label, .type = f->type,
        .kind = mrpc_field_kind_of(f->type),
        .repeated = f->label == PROTOBUF_C_LABEL_REPEATED,
        .oneof = f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF,
        .offset = f->offset, .quantifier_offset = f->quantifier_offset,
        .elem_size = mrpc_elem_size(f->type),
        .message = f->type == PROTOBUF_C_TYPE_MESSAGE ? &types[f->message_type] : NULL,
    };
    if (has_default(f)) {
        out->default_addr = f->default_addr;
        out->default_value = *cursor;
        out->default_len = f->default_value.len;
        if (f->default_value.len)
            memcpy(*cursor, f->default_value.data, f->default_value.len);
        (*cursor)[f->default_value.len] = '\0';
        *cursor += f->default_value.len + 1;
    }
}

static int compare_method_ids(const void *a, const void *b)
{
    uint32_t x = ((const struct mrpc_method_layout *)a)->method_id;
    uint32_t y = ((const struct mrpc_method_layout *)b)->method_id;
    return x < y ? -1 : x > y;
}

static int fill_methods(const struct checker *c, struct service_layout *s)
{
    const PbService *pb = s->pb;
    for (size_t i = 0; i < pb->n_methods; i++)
        s->methods[i] = (struct mrpc_method_layout){
            .name = pb->methods[i]->name, .service_name = pb->full_name,
            .service_id = pb->service_id,
            .method_id = pb->methods[i]->method_id,
            .input = &s->types[pb->methods[i]->input_type],
            .output = &s->types[pb->methods[i]->output_type],
        };
    qsort(s->methods, s->n_methods, sizeof(*s->methods), compare_method_ids);
    for (size_t i = 1; i < s->n_methods; i++)
        if (s->methods[i].method_id == s->methods[i - 1].method_id)
            return REFUSE(c, "methods %s and %s of %s share the id %#x", s->methods[i - 1].name,
                          s->methods[i].name, pb->full_name, s->methods[i].method_id);
    return 0;
}

static void service_free(struct service_layout *s)
{
    if (!s)
        return;
    free(s->types);
    free(s->fields);
    free(s->defaults);
    free(s->methods);
    if (s->pb)
        protobuf_c_message_free_unpacked(&s->pb->base, NULL);
    free(s);
}

static int fill_service(const struct checker *c, struct service_layout *s)
{
    const PbService *pb = s->pb;
    size_t n_fields = 0;
    for (size_t i = 0; i < pb->n_types; i++)
        n_fields += pb->types[i]->n_fields;
    s->service_id = pb->service_id;
    s->n_types = pb->n_types;
    s->n_methods = pb->n_methods;
    s->types = calloc(pb->n_types + 1, sizeof(*s->types));
    s->fields = calloc(n_fields + 1, sizeof(*s->fields));
    s->defaults = malloc(defaults_size(pb) + 1);
    s->methods = calloc(pb->n_methods + 1, sizeof(*s->methods));
    if (!s->types || !s->fields || !s->defaults || !s->methods)
        return mrpc_fail(c->err, c->errlen, -ENOMEM, "out of memory loading a layout");

    struct mrpc_field_layout *next_field = s->fields;
    uint8_t *next_default = s->defaults;
    for (size_t i = 0; i < pb->n_types; i++) {
        const PbType *t = pb->types[i];
        s->types[i] = (struct mrpc_type_layout){
            .full_name = t->full_name, .size = t->size, .descriptor_addr = t->descriptor_addr,
            .empty_string_addr = pb->empty_string_addr, .n_fields = (unsigned)t->n_fields,
            .fields = next_field,
        };
        for (size_t j = 0; j < t->n_fields; j++)
            fill_field(next_field++, t->fields[j], s->types, &next_default);
    }
    int rc = fill_methods(c, s);
    if (rc == 0 && mrpc_layout_hash_types(s->types, s->n_types) != 0)
        rc = mrpc_fail(c->err, c->errlen, -ENOMEM, "out of memory hashing a layout");
    return rc;
}

/* ---- the set -------------------------------------------------------------------------------- */

mrpc_layout_set_t *mrpc_layout_set_create(void)
{
    return calloc(1, sizeof(mrpc_layout_set_t));
}

void mrpc_layout_set_destroy(mrpc_layout_set_t *set)
{
    if (!set)
        return;
    for (size_t i = 0; i < set->n_services; i++)
        service_free(set->services[i]);
    free(set->services);
    free(set);
}

static const struct service_layout *find_service(const mrpc_layout_set_t *set, uint32_t id)
{
    for (size_t i = 0; i < set->n_services; i++)
        if (set->services[i]->service_id == id)
            return set->services[i];
    return NULL;
}

static int unpack_checked(const struct checker *c, const void *blob, size_t len, PbService **pb)
{
    if (!blob || len > MRPC_LAYOUT_MAX_BLOB)
        return REFUSE(c, "a layout blob of %zu bytes is missing or larger than %u bytes", len,
                      MRPC_LAYOUT_MAX_BLOB);
    *pb = phoenix__mrpc__service_layout__unpack(NULL, len, blob);
    if (!*pb)
        return REFUSE(c, "the layout blob (%zu bytes) is not a valid ServiceLayout", len);
    return check_service(c, *pb);
}

int mrpc_layout_set_add(mrpc_layout_set_t *set, const void *blob, size_t len, char *err,
                        size_t errlen)
{
    const struct checker c = { err, errlen };
    if (set->n_services >= MRPC_LAYOUT_MAX_SERVICES)
        return mrpc_fail(err, errlen, -ENOSPC, "the app already registered %u services",
                         MRPC_LAYOUT_MAX_SERVICES);
    struct service_layout *s = calloc(1, sizeof(*s));
    if (!s)
        return mrpc_fail(err, errlen, -ENOMEM, "out of memory loading a layout");
    int rc = unpack_checked(&c, blob, len, &s->pb);
    if (rc == 0 && find_service(set, s->pb->service_id))
        rc = mrpc_fail(err, errlen, -EEXIST, "service %s (id %#x) is already registered",
                       s->pb->full_name, s->pb->service_id);
    if (rc == 0)
        rc = fill_service(&c, s);
    struct service_layout **services = NULL;
    if (rc == 0) {
        services = realloc(set->services, (set->n_services + 1) * sizeof(*services));
        if (!services)
            rc = mrpc_fail(err, errlen, -ENOMEM, "out of memory loading a layout");
    }
    if (rc) {
        service_free(s);
        return rc;
    }
    set->services = services;
    set->services[set->n_services++] = s;
    return 0;
}

const struct mrpc_method_layout *mrpc_layout_find_method(const mrpc_layout_set_t *set,
                                                         uint32_t service_id, uint32_t method_id)
{
    const struct service_layout *s = find_service(set, service_id);
    if (!s)
        return NULL;
    struct mrpc_method_layout key = { .method_id = method_id };
    return bsearch(&key, s->methods, s->n_methods, sizeof(key), compare_method_ids);
}

uint64_t mrpc_type_hash(const struct mrpc_type_layout *t)
{
    return t->type_hash;
}

const char *mrpc_type_name(const struct mrpc_type_layout *t)
{
    return t->full_name;
}

size_t mrpc_type_size(const struct mrpc_type_layout *t)
{
    return t->size;
}
