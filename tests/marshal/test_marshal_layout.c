/* test_marshal_layout.c - layout blobs: what the app describes, what the service accepts.
 *
 * The valid case comes from mrpc_layout_encode_service() over the test service (mtest.All).
 * Bad layouts are that blob unpacked with protobuf-c, changed in one place and packed again, or
 * built from scratch where a limit needs thousands of entries; each must be refused with -EINVAL
 * and a sentence naming what is wrong, leaving the set as it was. Hashes must agree between
 * registrations in any order and change when any type a message reaches changes. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kitchen.pb-c.h"
#include "marshal_harness.h"
#include "marshal_test.pb-c.h"
#include "mrpc_layout.pb-c.h"
#include "phx_test.h"

typedef Phoenix__Mrpc__ServiceLayout PbService;
typedef Phoenix__Mrpc__TypeLayout    PbType;
typedef Phoenix__Mrpc__FieldLayout   PbField;

static char err[512];

static void *valid_blob(size_t *len)
{
    void *blob;
    CU_ASSERT_EQUAL_FATAL(mrpc_layout_encode_service(harness_service(), &blob, len), 0);
    return blob;
}

static PbService *valid_pb(void)
{
    size_t len;
    void *blob = valid_blob(&len);
    PbService *pb = phoenix__mrpc__service_layout__unpack(NULL, len, blob);
    free(blob);
    CU_ASSERT_PTR_NOT_NULL_FATAL(pb);
    return pb;
}

static PbType *pb_type(PbService *pb, const char *name)
{
    for (size_t i = 0; i < pb->n_types; i++)
        if (strcmp(pb->types[i]->full_name, name) == 0)
            return pb->types[i];
    CU_FAIL_FATAL("no such type in the test layout");
    return NULL;
}

static PbField *pb_field(PbService *pb, const char *type, const char *field)
{
    PbType *t = pb_type(pb, type);
    for (size_t i = 0; i < t->n_fields; i++)
        if (strcmp(t->fields[i]->name, field) == 0)
            return t->fields[i];
    CU_FAIL_FATAL("no such field in the test layout");
    return NULL;
}

static void *pack(const PbService *pb, size_t *len)
{
    *len = phoenix__mrpc__service_layout__get_packed_size(pb);
    void *blob = malloc(*len + 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(blob);
    phoenix__mrpc__service_layout__pack(pb, blob);
    return blob;
}

/* Adds BLOB to a fresh set: expects WANT_RC and WANT_TEXT, and an empty set afterwards. */
static void expect_refused(const void *blob, size_t len, int want_rc, const char *want_text)
{
    mrpc_layout_set_t *set = mrpc_layout_set_create();
    err[0] = '\0';
    int rc = mrpc_layout_set_add(set, blob, len, err, sizeof(err));
    CU_ASSERT_EQUAL(rc, want_rc);
    if (!strstr(err, want_text))
        printf("\nwanted \"%s\", got (%d) \"%s\"\n", want_text, rc, err);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, want_text));
    CU_ASSERT_PTR_NULL(mrpc_layout_find_method(set, mrpc_id_of("mtest.All"),
                                               mrpc_id_of("mtest.All.mtest.Node")));
    mrpc_layout_set_destroy(set);
}

static void expect_pb_refused(const PbService *pb, const char *want_text)
{
    size_t len;
    void *blob = pack(pb, &len);
    expect_refused(blob, len, -EINVAL, want_text);
    free(blob);
}

/* ---- the valid layout ------------------------------------------------------------------------ */

static void test_valid_layout(void)
{
    mrpc_layout_set_t *set = harness_layout_set();
    CU_ASSERT_PTR_NOT_NULL_FATAL(set);
    const mrpc_service_desc_t *svc = harness_service();
    for (unsigned i = 0; i < svc->n_methods; i++) {
        const struct mrpc_method_layout *m =
            mrpc_layout_find_method(set, svc->service_id, svc->methods[i].method_id);
        CU_ASSERT_PTR_NOT_NULL_FATAL(m);
        CU_ASSERT_STRING_EQUAL(m->name, svc->methods[i].name);
        CU_ASSERT_EQUAL(m->service_id, svc->service_id);
        CU_ASSERT_PTR_EQUAL(m->input, m->output);
        CU_ASSERT_STRING_EQUAL(mrpc_type_name(m->input), svc->methods[i].input->name);
        CU_ASSERT_EQUAL(mrpc_type_size(m->input), svc->methods[i].input->sizeof_message);
        CU_ASSERT_NOT_EQUAL(mrpc_type_hash(m->input), 0);
    }
    CU_ASSERT_PTR_NULL(mrpc_layout_find_method(set, svc->service_id, 12345));
    CU_ASSERT_PTR_NULL(mrpc_layout_find_method(set, 12345, svc->methods[0].method_id));

    /* the closure includes nested and map entry types, each once, after the methods' types */
    PbService *pb = valid_pb();
    CU_ASSERT_PTR_NOT_NULL(pb_type(pb, "kitchen.sink.v2.Order.StockEntry"));
    CU_ASSERT_PTR_NOT_NULL(pb_type(pb, "kitchen.sink.v2.Order.Line.Note"));
    CU_ASSERT_EQUAL(pb->empty_string_addr, (uintptr_t)protobuf_c_empty_string);
    CU_ASSERT_EQUAL(pb_type(pb, "mtest.Node")->descriptor_addr,
                    (uintptr_t)&mtest__node__descriptor);
    PbField *label = pb_field(pb, "mtest.Node", "label");
    CU_ASSERT_EQUAL(label->default_addr, (uintptr_t)mtest__node__label__default_value);
    CU_ASSERT_EQUAL(label->default_value.len, 5);
    CU_ASSERT_EQUAL(pb_field(pb, "mtest.Node", "blob")->default_addr,
                    (uintptr_t)mtest__node__blob__default_value_data);
    CU_ASSERT_EQUAL(pb_field(pb, "mtest.Node", "name")->default_addr, 0);
    CU_ASSERT_EQUAL(pb_field(pb, "mtest.Node", "depth")->message_type, -1);
    protobuf_c_message_free_unpacked(&pb->base, NULL);

    /* the same service twice: -EEXIST, the first one stays */
    size_t len;
    void *blob = valid_blob(&len);
    CU_ASSERT_EQUAL(mrpc_layout_set_add(set, blob, len, err, sizeof(err)), -EEXIST);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "service mtest.All"));
    CU_ASSERT_PTR_NOT_NULL(mrpc_layout_find_method(set, svc->service_id,
                                                   svc->methods[0].method_id));
    free(blob);
    mrpc_layout_set_destroy(set);
    mrpc_layout_set_destroy(NULL);
}

static void test_encode_service_refuses_bad_descriptors(void)
{
    void *blob = (void *)1;
    size_t len = 1;
    CU_ASSERT_EQUAL(mrpc_layout_encode_service(NULL, &blob, &len), -EINVAL);
    CU_ASSERT_PTR_NULL(blob);
    CU_ASSERT_EQUAL(len, 0);

    ProtobufCMessageDescriptor bad = mtest__node__descriptor;
    bad.magic = 0;
    mrpc_method_desc_t m[] = { { .name = "M", .full_name = "x.S.M", .method_id = 1,
                                 .input = &mtest__node__descriptor, .output = NULL } };
    mrpc_service_desc_t svc = { .name = "S", .full_name = "x.S", .service_id = 2,
                                .n_methods = 1, .methods = m };
    CU_ASSERT_EQUAL(mrpc_layout_encode_service(&svc, &blob, &len), -EINVAL);
    m[0].output = &bad;
    CU_ASSERT_EQUAL(mrpc_layout_encode_service(&svc, &blob, &len), -EINVAL);
    m[0].output = &mtest__node__descriptor;
    CU_ASSERT_EQUAL(mrpc_layout_encode_service(&svc, &blob, &len), 0);
    free(blob);
}

/* ---- refusals -------------------------------------------------------------------------------- */

struct mutation {
    const char *type;
    const char *field;          /* NULL: a change to the type itself */
    void (*apply)(PbService *pb, PbType *t, PbField *f);
    const char *want;
};

static void offset_at_size(PbService *pb, PbType *t, PbField *f) { f->offset = (uint32_t)t->size; }
static void offset_straddles(PbService *pb, PbType *t, PbField *f) { f->offset = (uint32_t)t->size - 2; }
static void storage_on_base(PbService *pb, PbType *t, PbField *f) { f->offset = 8; }
static void quantifier_on_base(PbService *pb, PbType *t, PbField *f) { f->quantifier_offset = 16; }
static void quantifier_far(PbService *pb, PbType *t, PbField *f) { f->quantifier_offset = 1u << 20; }
static void misaligned(PbService *pb, PbType *t, PbField *f) { f->offset += 1; }
static void bad_type(PbService *pb, PbType *t, PbField *f) { f->type = 99; }
static void bad_label(PbService *pb, PbType *t, PbField *f) { f->label = 9; }
static void bad_index(PbService *pb, PbType *t, PbField *f) { f->message_type = 5000; }
static void negative_index(PbService *pb, PbType *t, PbField *f) { f->message_type = -1; }
static void scalar_with_index(PbService *pb, PbType *t, PbField *f) { f->message_type = 0; }
static void repeated_oneof(PbService *pb, PbType *t, PbField *f) { f->label = PROTOBUF_C_LABEL_REPEATED; }
static void size_too_big(PbService *pb, PbType *t, PbField *f) { t->size = 1u << 20; }
static void size_too_small(PbService *pb, PbType *t, PbField *f) { t->size = 8; }
static void input_out_of_range(PbService *pb, PbType *t, PbField *f) { pb->methods[0]->input_type = 1000; }
static void output_out_of_range(PbService *pb, PbType *t, PbField *f) { pb->methods[3]->output_type = (uint32_t)pb->n_types; }
static void same_method_id(PbService *pb, PbType *t, PbField *f) { pb->methods[1]->method_id = pb->methods[0]->method_id; }
static void duplicate_name(PbService *pb, PbType *t, PbField *f) { strcpy(t->full_name, "mtest.Big"); }

static const struct mutation mutations[] = {
    { "kitchen.sink.v2.Order.Line", "item", offset_at_size, "lies outside the" },
    { "kitchen.sink.v2.HeatRequest", "seconds", offset_straddles, "lies outside the 32-byte struct" },
    { "kitchen.sink.v2.Order.Line.Note", "text", storage_on_base, "overlaps the ProtobufCMessage base" },
    { "kitchen.sink.v2.Order", "ids", quantifier_on_base,
      "field kitchen.sink.v2.Order.ids: its quantifier at offset 16 overlaps the ProtobufCMessage base" },
    { "mtest.Scalars", "i32", quantifier_far, "its quantifier at offset 1048576" },
    { "kitchen.sink.v2.Order", "tags", misaligned, "is not 8-byte aligned" },
    { "mtest.Node", "name", bad_type, "field mtest.Node.name has an unknown type 99" },
    { "mtest.Node", "depth", bad_label, "field mtest.Node.depth has an unknown label 9" },
    { "kitchen.sink.v2.Receipt", "lines", bad_index, "names message type 5000" },
    { "mtest.Node", "child", negative_index, "names message type -1" },
    { "mtest.Node", "depth", scalar_with_index, "names message type 0" },
    { "kitchen.sink.v2.Order", "card", repeated_oneof, "is repeated inside a oneof" },
    { "kitchen.sink.v2.HeatRequest", NULL, size_too_big, "has a size of 1048576 bytes" },
    { "kitchen.sink.v2.Empty", NULL, size_too_small, "has a size of 8 bytes" },
    { "mtest.Node", NULL, input_out_of_range, "names types 1000" },
    { "mtest.Node", NULL, output_out_of_range, "but the layout has" },
    { "mtest.Node", NULL, same_method_id, "share the id" },
    { "mtest.Choice", NULL, duplicate_name, "describes type mtest.Big twice" },
};

static void test_bad_layouts_refused(void)
{
    for (size_t i = 0; i < sizeof(mutations) / sizeof(mutations[0]); i++) {
        const struct mutation *m = &mutations[i];
        PbService *pb = valid_pb();
        PbType *t = pb_type(pb, m->type);
        m->apply(pb, t, m->field ? pb_field(pb, m->type, m->field) : NULL);
        expect_pb_refused(pb, m->want);
        protobuf_c_message_free_unpacked(&pb->base, NULL);
    }
}

static void test_bad_blobs_refused(void)
{
    size_t len;
    uint8_t *blob = valid_blob(&len);
    expect_refused(blob, len / 2, -EINVAL, "is not a valid ServiceLayout");
    expect_refused(blob, 3, -EINVAL, "is not a valid ServiceLayout");
    expect_refused(NULL, 0, -EINVAL, "missing");
    memset(blob, 0xff, len);
    expect_refused(blob, len, -EINVAL, "is not a valid ServiceLayout");
    free(blob);
    size_t huge = MRPC_LAYOUT_MAX_BLOB + 1;
    uint8_t *big = calloc(1, huge);
    expect_refused(big, huge, -EINVAL, "larger than");
    free(big);
}

/* N types of one scalar field each, or one type of N fields, packed from scratch. */
static void *many(size_t n_types, size_t fields_per_type, size_t *len)
{
    PbField field = PHOENIX__MRPC__FIELD_LAYOUT__INIT;
    field.name = "f";
    field.id = 1;
    field.label = PROTOBUF_C_LABEL_NONE;
    field.type = PROTOBUF_C_TYPE_INT32;
    field.offset = sizeof(ProtobufCMessage);
    field.message_type = -1;
    PbField **fields = malloc(fields_per_type * sizeof(*fields));
    for (size_t i = 0; i < fields_per_type; i++)
        fields[i] = &field;
    PbType *types = calloc(n_types, sizeof(*types));
    PbType **type_ptrs = malloc(n_types * sizeof(*type_ptrs));
    char (*names)[24] = malloc(n_types * sizeof(*names));
    for (size_t i = 0; i < n_types; i++) {
        types[i] = (PbType)PHOENIX__MRPC__TYPE_LAYOUT__INIT;
        snprintf(names[i], sizeof(names[i]), "x.T%zu", i);
        types[i].full_name = names[i];
        types[i].size = 32;
        types[i].n_fields = fields_per_type;
        types[i].fields = fields;
        type_ptrs[i] = &types[i];
    }
    PbService pb = PHOENIX__MRPC__SERVICE_LAYOUT__INIT;
    pb.full_name = "x.S";
    pb.service_id = 7;
    pb.n_types = n_types;
    pb.types = type_ptrs;
    void *blob = pack(&pb, len);
    free(fields);
    free(types);
    free(type_ptrs);
    free(names);
    return blob;
}

static void test_counts_bounded(void)
{
    size_t len;
    void *blob = many(MRPC_LAYOUT_MAX_TYPES + 1, 1, &len);
    expect_refused(blob, len, -EINVAL, "the layout has 4097 types, more than 4096");
    free(blob);
    blob = many(1, MRPC_LAYOUT_MAX_FIELDS + 1, &len);
    expect_refused(blob, len, -EINVAL, "type x.T0 has 4097 fields, more than 4096");
    free(blob);
    blob = many(17, 4000, &len);
    expect_refused(blob, len, -EINVAL, "68000 fields in all, more than 65536");
    free(blob);
    blob = many(MRPC_LAYOUT_MAX_TYPES, 16, &len);    /* the largest allowed loads */
    mrpc_layout_set_t *set = mrpc_layout_set_create();
    CU_ASSERT_EQUAL(mrpc_layout_set_add(set, blob, len, err, sizeof(err)), 0);
    mrpc_layout_set_destroy(set);
    free(blob);
}

static void test_set_bounded(void)
{
    PbService *pb = valid_pb();
    mrpc_layout_set_t *set = mrpc_layout_set_create();
    int rc = 0;
    for (unsigned i = 0; i < MRPC_LAYOUT_MAX_SERVICES && rc == 0; i++) {
        pb->service_id = i;
        size_t len;
        void *blob = pack(pb, &len);
        rc = mrpc_layout_set_add(set, blob, len, err, sizeof(err));
        free(blob);
    }
    CU_ASSERT_EQUAL(rc, 0);
    pb->service_id = MRPC_LAYOUT_MAX_SERVICES;
    size_t len;
    void *blob = pack(pb, &len);
    CU_ASSERT_EQUAL(mrpc_layout_set_add(set, blob, len, err, sizeof(err)), -ENOSPC);
    free(blob);
    mrpc_layout_set_destroy(set);
    protobuf_c_message_free_unpacked(&pb->base, NULL);
}

/* ---- hashes ---------------------------------------------------------------------------------- */

static uint64_t hash_in(const mrpc_layout_set_t *set, uint32_t service_id,
                        const ProtobufCMessageDescriptor *d)
{
    char full[160];
    const mrpc_service_desc_t *svc = harness_service();
    for (unsigned i = 0; i < svc->n_methods; i++)
        if (svc->methods[i].input == d) {
            snprintf(full, sizeof(full), "%s", svc->methods[i].full_name);
            const struct mrpc_method_layout *m =
                mrpc_layout_find_method(set, service_id, mrpc_id_of(full));
            CU_ASSERT_PTR_NOT_NULL_FATAL(m);
            return mrpc_type_hash(m->input);
        }
    CU_FAIL_FATAL("type not in the test service");
    return 0;
}

static void test_hashes_agree_and_differ(void)
{
    const mrpc_service_desc_t *svc = harness_service();
    mrpc_layout_set_t *a = harness_layout_set(), *b = mrpc_layout_set_create();
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);

    /* the same methods registered in reverse order (other type numbering) hash the same */
    mrpc_method_desc_t reversed[16];
    for (unsigned i = 0; i < svc->n_methods; i++)
        reversed[i] = svc->methods[svc->n_methods - 1 - i];
    mrpc_service_desc_t rsvc = *svc;
    rsvc.methods = reversed;
    void *blob;
    size_t len;
    CU_ASSERT_EQUAL_FATAL(mrpc_layout_encode_service(&rsvc, &blob, &len), 0);
    CU_ASSERT_EQUAL_FATAL(mrpc_layout_set_add(b, blob, len, err, sizeof(err)), 0);
    free(blob);
    for (unsigned i = 0; i < harness_n_types; i++) {
        uint64_t h = hash_in(a, svc->service_id, harness_types[i]);
        CU_ASSERT_EQUAL(h, hash_in(b, svc->service_id, harness_types[i]));
        for (unsigned j = 0; j < i; j++)        /* distinct types, distinct hashes */
            CU_ASSERT_NOT_EQUAL(h, hash_in(a, svc->service_id, harness_types[j]));
    }

    /* a change deep inside (a Note's field offset) changes every type that reaches it */
    PbService *pb = valid_pb();
    pb_field(pb, "kitchen.sink.v2.Order.Line.Note", "text")->offset += 8;
    pb_type(pb, "kitchen.sink.v2.Order.Line.Note")->size += 8;
    pb->service_id = 99;
    blob = pack(pb, &len);
    CU_ASSERT_EQUAL_FATAL(mrpc_layout_set_add(a, blob, len, err, sizeof(err)), 0);
    free(blob);
    const ProtobufCMessageDescriptor *changed[] = {
        &kitchen__sink__v2__order__descriptor, &kitchen__sink__v2__order__line__descriptor,
        &kitchen__sink__v2__receipt__descriptor,
    };
    for (size_t i = 0; i < 3; i++)
        CU_ASSERT_NOT_EQUAL(hash_in(a, 99, changed[i]), hash_in(a, svc->service_id, changed[i]));
    CU_ASSERT_EQUAL(hash_in(a, 99, &kitchen__sink__v2__heat_request__descriptor),
                    hash_in(a, svc->service_id, &kitchen__sink__v2__heat_request__descriptor));
    CU_ASSERT_EQUAL(hash_in(a, 99, &mtest__node__descriptor),       /* self-recursive */
                    hash_in(a, svc->service_id, &mtest__node__descriptor));

    /* ... and so does a change to a type inside a cycle (Node reaches itself; Big reaches Node) */
    pb_field(pb, "mtest.Node", "depth")->id = 60;
    pb->service_id = 100;
    blob = pack(pb, &len);
    CU_ASSERT_EQUAL_FATAL(mrpc_layout_set_add(a, blob, len, err, sizeof(err)), 0);
    free(blob);
    CU_ASSERT_NOT_EQUAL(hash_in(a, 100, &mtest__node__descriptor),
                        hash_in(a, svc->service_id, &mtest__node__descriptor));
    CU_ASSERT_NOT_EQUAL(hash_in(a, 100, &mtest__big__descriptor),
                        hash_in(a, svc->service_id, &mtest__big__descriptor));
    CU_ASSERT_EQUAL(hash_in(a, 100, &mtest__scalars__descriptor),
                    hash_in(a, svc->service_id, &mtest__scalars__descriptor));
    protobuf_c_message_free_unpacked(&pb->base, NULL);
    mrpc_layout_set_destroy(a);
    mrpc_layout_set_destroy(b);
}

/* The largest layout a service accepts, with every type in one cycle of message fields, loads
 * (and hashes) quickly: an app cannot make registration expensive. */
static void test_worst_case_layout_is_cheap(void)
{
    const size_t n_types = MRPC_LAYOUT_MAX_TYPES, n_fields = 16;
    PbField *fields = calloc(n_types * n_fields, sizeof(*fields));
    PbField **field_ptrs = malloc(n_types * n_fields * sizeof(*field_ptrs));
    PbType *types = calloc(n_types, sizeof(*types));
    PbType **type_ptrs = malloc(n_types * sizeof(*type_ptrs));
    char (*names)[24] = malloc(n_types * sizeof(*names));
    CU_ASSERT_FATAL(fields && field_ptrs && types && type_ptrs && names);
    for (size_t i = 0; i < n_types; i++) {
        for (size_t j = 0; j < n_fields; j++) {
            PbField *f = &fields[i * n_fields + j];
            *f = (PbField)PHOENIX__MRPC__FIELD_LAYOUT__INIT;
            f->id = (uint32_t)j + 1;
            f->name = "f";
            f->label = PROTOBUF_C_LABEL_REPEATED;
            f->type = PROTOBUF_C_TYPE_MESSAGE;
            f->quantifier_offset = (uint32_t)(sizeof(ProtobufCMessage) + 16 * j);
            f->offset = f->quantifier_offset + 8;
            f->message_type = (int32_t)((i + 1 + j) % n_types);
            field_ptrs[i * n_fields + j] = f;
        }
        types[i] = (PbType)PHOENIX__MRPC__TYPE_LAYOUT__INIT;
        snprintf(names[i], sizeof(names[i]), "x.T%zu", i);
        types[i].full_name = names[i];
        types[i].size = sizeof(ProtobufCMessage) + 16 * n_fields;
        types[i].n_fields = n_fields;
        types[i].fields = &field_ptrs[i * n_fields];
        type_ptrs[i] = &types[i];
    }
    PbService pb = PHOENIX__MRPC__SERVICE_LAYOUT__INIT;
    pb.full_name = "x.S";
    pb.n_types = n_types;
    pb.types = type_ptrs;
    size_t len;
    void *blob = pack(&pb, &len);
    mrpc_layout_set_t *set = mrpc_layout_set_create();
    unsigned long long t0 = phx_test_now_ns();
    CU_ASSERT_EQUAL(mrpc_layout_set_add(set, blob, len, err, sizeof(err)), 0);
    unsigned long long ns = phx_test_now_ns() - t0;
    printf("\n  %zu types x %zu message fields in one cycle: loaded and hashed in %.1f ms\n",
           n_types, n_fields, ns / 1e6);
    CU_ASSERT(ns < 5ull * 1000 * 1000 * 1000);
    mrpc_layout_set_destroy(set);
    free(blob);
    free(fields);
    free(field_ptrs);
    free(types);
    free(type_ptrs);
    free(names);
}

int main(int argc, char **argv)
{
    static const phx_test_case_t cases[] = {
        { "valid layout loads and finds its methods", test_valid_layout },
        { "encode_service refuses bad descriptors", test_encode_service_refuses_bad_descriptors },
        { "bad layouts refused", test_bad_layouts_refused },
        { "bad blobs refused", test_bad_blobs_refused },
        { "counts bounded", test_counts_bounded },
        { "set bounded", test_set_bounded },
        { "hashes agree and differ", test_hashes_agree_and_differ },
        { "worst-case layout is cheap", test_worst_case_layout_is_cheap },
        { NULL, NULL },
    };
    return phx_test_main("marshal_layout", cases, argc, argv);
}
