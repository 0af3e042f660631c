/* layout_build.c - app side: describes a service's message layouts for the service to load.
 *
 * The service walks the app's protobuf-c structs but cannot read the app's descriptors (they are
 * in the app's binary, at the app's addresses). So at registration the app lists, from those
 * descriptors, everything the walk needs: the closure of message types its methods use (inputs,
 * outputs and every message they nest, each once, numbered in breadth-first order), each type's
 * size and fields (offsets, labels, types, nested type numbers, string/bytes defaults), and the
 * addresses the service has to recognise or write back: each descriptor, each default text and
 * protobuf_c_empty_string. The result is a packed phoenix.mrpc.ServiceLayout
 * (proto/mrpc_layout.proto); layout_set.c validates it on the other side. */
#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mrpc_layout.pb-c.h"

typedef Phoenix__Mrpc__ServiceLayout PbService;
typedef Phoenix__Mrpc__TypeLayout    PbType;
typedef Phoenix__Mrpc__FieldLayout   PbField;
typedef Phoenix__Mrpc__MethodLayout  PbMethod;

/* The message types found so far; a type's index is its position. */
struct type_list {
    const ProtobufCMessageDescriptor **descs;
    size_t                             n;
    size_t                             cap;
};

static long index_of(const struct type_list *l, const ProtobufCMessageDescriptor *d)
{
    for (size_t i = 0; i < l->n; i++)
        if (l->descs[i] == d)
            return (long)i;
    return -1;
}

static int add_type(struct type_list *l, const ProtobufCMessageDescriptor *d)
{
    if (!d || d->magic != PROTOBUF_C__MESSAGE_DESCRIPTOR_MAGIC)
        return -EINVAL;
    if (index_of(l, d) >= 0)
        return 0;
    if (l->n == MRPC_LAYOUT_MAX_TYPES)
        return -EINVAL;     /* the service would refuse it */
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 16;
        const ProtobufCMessageDescriptor **descs = realloc(l->descs, cap * sizeof(*descs));
        if (!descs)
            return -ENOMEM;
        l->descs = descs;
        l->cap = cap;
    }
    l->descs[l->n++] = d;
    return 0;
}

/* Methods' types first, then (breadth first) every message type they reach. */
static int collect_types(const mrpc_service_desc_t *svc, struct type_list *l)
{
    int rc = 0;
    for (unsigned i = 0; i < svc->n_methods && rc == 0; i++) {
        rc = add_type(l, svc->methods[i].input);
        if (rc == 0)
            rc = add_type(l, svc->methods[i].output);
    }
    for (size_t i = 0; i < l->n && rc == 0; i++)
        for (unsigned j = 0; j < l->descs[i]->n_fields && rc == 0; j++)
            if (l->descs[i]->fields[j].type == PROTOBUF_C_TYPE_MESSAGE)
                rc = add_type(l, l->descs[i]->fields[j].descriptor);
    return rc;
}

static void describe_default(PbField *out, const ProtobufCFieldDescriptor *fd)
{
    if (!fd->default_value)
        return;
    if (fd->type == PROTOBUF_C_TYPE_STRING) {
        const char *text = fd->default_value;   /* generated: the char[] the init points at */
        out->default_addr = (uintptr_t)text;
        out->default_value = (ProtobufCBinaryData){ strlen(text), (uint8_t *)text };
    } else if (fd->type == PROTOBUF_C_TYPE_BYTES) {
        const ProtobufCBinaryData *bd = fd->default_value;   /* copied by the init */
        out->default_addr = (uintptr_t)bd->data;
        out->default_value = *bd;
    }
}

static void describe_field(PbField *out, const ProtobufCFieldDescriptor *fd,
                           const struct type_list *types)
{
    *out = (PbField)PHOENIX__MRPC__FIELD_LAYOUT__INIT;
    out->id = fd->id;
    out->name = (char *)fd->name;
    out->label = fd->label;
    out->type = fd->type;
    out->offset = fd->offset;
    out->quantifier_offset = fd->quantifier_offset;
    out->message_type = fd->type == PROTOBUF_C_TYPE_MESSAGE
                            ? (int32_t)index_of(types, fd->descriptor) : -1;
    out->flags = fd->flags;
    describe_default(out, fd);
}

/* The arrays the packed message points into; freed once packed. */
struct pb_storage {
    PbMethod  *methods;
    PbMethod **method_ptrs;
    PbType    *types;
    PbType   **type_ptrs;
    PbField   *fields;
    PbField  **field_ptrs;
};

static void storage_free(struct pb_storage *s)
{
    free(s->methods);
    free(s->method_ptrs);
    free(s->types);
    free(s->type_ptrs);
    free(s->fields);
    free(s->field_ptrs);
}

static int storage_alloc(struct pb_storage *s, size_t n_methods, size_t n_types, size_t n_fields)
{
    s->methods = calloc(n_methods + 1, sizeof(*s->methods));
    s->method_ptrs = calloc(n_methods + 1, sizeof(*s->method_ptrs));
    s->types = calloc(n_types + 1, sizeof(*s->types));
    s->type_ptrs = calloc(n_types + 1, sizeof(*s->type_ptrs));
    s->fields = calloc(n_fields + 1, sizeof(*s->fields));
    s->field_ptrs = calloc(n_fields + 1, sizeof(*s->field_ptrs));
    bool ok = s->methods && s->method_ptrs && s->types && s->type_ptrs && s->fields &&
              s->field_ptrs;
    return ok ? 0 : -ENOMEM;
}

static void describe_types(struct pb_storage *s, const struct type_list *types)
{
    size_t next_field = 0;
    for (size_t i = 0; i < types->n; i++) {
        const ProtobufCMessageDescriptor *d = types->descs[i];
        PbType *t = &s->types[i];
        *t = (PbType)PHOENIX__MRPC__TYPE_LAYOUT__INIT;
        t->full_name = (char *)d->name;
        t->size = d->sizeof_message;
        t->descriptor_addr = (uintptr_t)d;
        t->n_fields = d->n_fields;
        t->fields = &s->field_ptrs[next_field];
        for (unsigned j = 0; j < d->n_fields; j++, next_field++) {
            describe_field(&s->fields[next_field], &d->fields[j], types);
            s->field_ptrs[next_field] = &s->fields[next_field];
        }
        s->type_ptrs[i] = t;
    }
}

static void describe_methods(struct pb_storage *s, const mrpc_service_desc_t *svc,
                             const struct type_list *types)
{
    for (unsigned i = 0; i < svc->n_methods; i++) {
        PbMethod *m = &s->methods[i];
        *m = (PbMethod)PHOENIX__MRPC__METHOD_LAYOUT__INIT;
        m->name = (char *)svc->methods[i].name;
        m->method_id = svc->methods[i].method_id;
        m->input_type = (uint32_t)index_of(types, svc->methods[i].input);
        m->output_type = (uint32_t)index_of(types, svc->methods[i].output);
        s->method_ptrs[i] = m;
    }
}

static int pack_service(const mrpc_service_desc_t *svc, const struct type_list *types,
                        void **blob, size_t *len)
{
    size_t n_fields = 0;
    for (size_t i = 0; i < types->n; i++)
        n_fields += types->descs[i]->n_fields;
    struct pb_storage s = { 0 };
    int rc = storage_alloc(&s, svc->n_methods, types->n, n_fields);
    if (rc == 0) {
        describe_types(&s, types);
        describe_methods(&s, svc, types);
        PbService pb = PHOENIX__MRPC__SERVICE_LAYOUT__INIT;
        pb.full_name = (char *)svc->full_name;
        pb.service_id = svc->service_id;
        pb.n_methods = svc->n_methods;
        pb.methods = s.method_ptrs;
        pb.n_types = types->n;
        pb.types = s.type_ptrs;
        pb.empty_string_addr = (uintptr_t)protobuf_c_empty_string;
        *len = phoenix__mrpc__service_layout__get_packed_size(&pb);
        *blob = malloc(*len + 1);
        if (*blob)
            phoenix__mrpc__service_layout__pack(&pb, *blob);
        else
            rc = -ENOMEM;
    }
    storage_free(&s);
    return rc;
}

int mrpc_layout_encode_service(const mrpc_service_desc_t *svc, void **blob, size_t *len)
{
    *blob = NULL;
    *len = 0;
    if (!svc || !svc->full_name || (svc->n_methods && !svc->methods))
        return -EINVAL;
    for (unsigned i = 0; i < svc->n_methods; i++)
        if (!svc->methods[i].name)
            return -EINVAL;
    struct type_list types = { 0 };
    int rc = collect_types(svc, &types);
    if (rc == 0)
        rc = pack_service(svc, &types, blob, len);
    free(types.descs);
    return rc;
}
