/* test_marshal.c - native encode/decode: round trips of many shapes, hostile senders, bad payloads.
 *
 * Round trips build a message with protobuf-c, copy it into a send heap as an app would, encode
 * it with the service's encoder (both scattered and gathered), land the payload in a receive
 * heap, decode it in place, and compare protobuf_c_message_pack() of original and decoded
 * (deep equality). Hostile senders are messages written by hand into the send heap with pointers
 * and counts no protobuf-c code would produce; bad payloads are valid payloads edited after
 * encoding with an independent reader/writer of the documented format (segs_parse/segs_build).
 * Encode/decode speed is benchmarks/marshal_bench's business, not a test's. */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kitchen.pb-c.h"
#include "legacy.pb-c.h"
#include "marshal_harness.h"
#include "marshal_test.pb-c.h"
#include "phx_test.h"

#define MiB          (1ul << 20)
#define REGION_SIZE  (256 * MiB)

typedef Kitchen__Sink__V2__Order       Order;
typedef Kitchen__Sink__V2__Order__Line Line;
typedef Kitchen__Sink__V2__Order__Line__Note Note;

static char err[512];

static void open_harness(struct harness *h)
{
    int rc = harness_open(h, REGION_SIZE);
    if (rc)
        printf("harness_open: %s\n", strerror(-rc));
    CU_ASSERT_EQUAL_FATAL(rc, 0);
}

static const struct mrpc_encode_limits gathered = {
    .field_mask = MRPC_ENCODE_LIMIT_FIELD_GATHER_BELOW, .gather_below = SIZE_MAX,
};
static const struct mrpc_encode_limits scattered = {
    .field_mask = MRPC_ENCODE_LIMIT_FIELD_GATHER_BELOW, .gather_below = 0,
};

/* Copies MSG into the send heap, round-trips it scattered and gathered and checks that the
 * decoded message equals MSG. Returns the last decoded message (valid until the next trip). */
static ProtobufCMessage *check_roundtrip(struct harness *h, const ProtobufCMessage *msg)
{
    ProtobufCMessage *sent = harness_to_send_heap(h, msg);
    CU_ASSERT_PTR_NOT_NULL_FATAL(sent);
    CU_ASSERT(phx_shm_region_contains(&h->send_region, sent, msg->descriptor->sizeof_message));
    ProtobufCMessage *out = NULL;
    const struct mrpc_encode_limits *modes[] = { &scattered, &gathered };
    for (int i = 0; i < 2; i++) {
        int rc = harness_roundtrip(h, sent, modes[i], &out, err, sizeof(err));
        if (rc)
            printf("round trip of %s failed (%d): %s\n", msg->descriptor->name, rc, err);
        CU_ASSERT_EQUAL_FATAL(rc, 0);
        CU_ASSERT_PTR_EQUAL(out->descriptor, msg->descriptor);
        CU_ASSERT_EQUAL(out->n_unknown_fields, 0);
        CU_ASSERT_PTR_NULL(out->unknown_fields);
        CU_ASSERT(phx_shm_region_contains(&h->recv_region, out, msg->descriptor->sizeof_message));
        CU_ASSERT(harness_same_packed(msg, out));
    }
    return out;
}

static void *send_alloc(struct harness *h, size_t size)
{
    void *p = phx_heap_alloc(h->send_heap, size);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    return p;
}

/* A copy of the C struct INIT (SIZE bytes) in the send heap. */
static void *send_new(struct harness *h, const void *init, size_t size)
{
    return memcpy(send_alloc(h, size), init, size);
}

static char *send_str(struct harness *h, const char *s)
{
    return send_new(h, s, strlen(s) + 1);
}

static int encode(struct harness *h, const void *msg, const ProtobufCMessageDescriptor *d,
                  const struct mrpc_encode_limits *lim, struct mrpc_encoded *enc)
{
    err[0] = '\0';
    return mrpc_native_encode(harness_type(h->set, d), (uintptr_t)msg, &h->send_region, lim, enc,
                              err, sizeof(err));
}

static void expect_encode_fails(struct harness *h, const void *msg,
                                const ProtobufCMessageDescriptor *d,
                                const struct mrpc_encode_limits *lim, int want_rc,
                                const char *want_text)
{
    struct mrpc_encoded enc;
    int rc = encode(h, msg, d, lim, &enc);
    CU_ASSERT_EQUAL(rc, want_rc);
    CU_ASSERT_PTR_NULL(enc.iov);
    if (!strstr(err, want_text))
        printf("\nwanted \"%s\", got (%d) \"%s\"\n", want_text, rc, err);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, want_text));
    if (rc == 0)
        mrpc_encoded_free(&enc);
}

static void expect_decode_fails(struct harness *h, const ProtobufCMessageDescriptor *d,
                                void *payload, size_t len, const char *want_text)
{
    void *msg = NULL;
    err[0] = '\0';
    int rc = mrpc_native_decode(harness_type(h->set, d), payload, len, &msg, err, sizeof(err));
    CU_ASSERT_EQUAL(rc, -EINVAL);
    CU_ASSERT_PTR_NULL(msg);
    if (!strstr(err, want_text))
        printf("\nwanted \"%s\", got (%d) \"%s\"\n", want_text, rc, err);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, want_text));
}

/* ---- an independent reader and writer of the payload format ---------------------------------- */

#define MAX_TEST_SEGS 64

struct segs {
    size_t         n;
    uint64_t       len[MAX_TEST_SEGS];
    const uint8_t *data[MAX_TEST_SEGS];
};

static size_t up16(size_t n)
{
    return (n + 15) / 16 * 16;
}

/* Reads a payload the encoder made (trusted here), checking the documented format on the way. */
static void segs_parse(const uint8_t *p, size_t len, struct segs *s)
{
    uint32_t hdr[2];
    memcpy(hdr, p, sizeof(hdr));
    CU_ASSERT_FATAL(hdr[0] >= 1 && hdr[0] <= MAX_TEST_SEGS);
    CU_ASSERT_EQUAL(hdr[1], 0);
    s->n = hdr[0];
    size_t pos = up16(8 + 8 * s->n);
    for (size_t i = 8 + 8 * s->n; i < pos; i++)
        CU_ASSERT_EQUAL(p[i], 0);
    for (size_t i = 0; i < s->n; i++) {
        memcpy(&s->len[i], p + 8 + 8 * i, 8);
        size_t at = up16(pos);
        for (size_t j = pos; j < at; j++)
            CU_ASSERT_EQUAL(p[j], 0);       /* zero padding */
        s->data[i] = p + at;
        pos = at + s->len[i];
    }
    CU_ASSERT_EQUAL(pos, len);
}

/* Writes S as a payload into a fresh receive-heap buffer; *LEN gets its length. */
static uint8_t *segs_build(struct harness *h, const struct segs *s, size_t *len)
{
    size_t pos = up16(8 + 8 * s->n);
    for (size_t i = 0; i < s->n; i++)
        pos = up16(pos) + s->len[i];
    uint8_t *p = phx_heap_calloc(h->recv_heap, 1, pos + 16);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    uint32_t hdr[2] = { (uint32_t)s->n, 0 };
    memcpy(p, hdr, sizeof(hdr));
    pos = up16(8 + 8 * s->n);
    for (size_t i = 0; i < s->n; i++) {
        memcpy(p + 8 + 8 * i, &s->len[i], 8);
        pos = up16(pos);
        if (s->len[i])
            memcpy(p + pos, s->data[i], s->len[i]);
        pos += s->len[i];
    }
    *len = pos;
    return p;
}

/* Encodes MSG (in the send heap), lands it and parses its segments. Returns the landed payload. */
static uint8_t *encode_and_land(struct harness *h, const ProtobufCMessage *msg,
                                const struct mrpc_encode_limits *lim, size_t *len,
                                struct segs *s)
{
    struct mrpc_encoded enc;
    int rc = encode(h, msg, msg->descriptor, lim, &enc);
    if (rc)
        printf("encode: %s\n", err);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    uint8_t *payload = harness_land(h, &enc);
    CU_ASSERT_PTR_NOT_NULL_FATAL(payload);
    *len = enc.payload_len;
    mrpc_encoded_free(&enc);
    if (s)
        segs_parse(payload, *len, s);
    return payload;
}

/* ---- message builders ------------------------------------------------------------------------ */

struct order_parts {
    Note  notes[3];
    Note *note_ptrs[3];
    Line  lines[2];
    Line *line_ptrs[2];
    int64_t ids[4];
    char *tags[4];
    uint8_t blob_bytes[300];
    ProtobufCBinaryData blobs[3];
    double weights[2];
    Kitchen__Sink__V2__Order__StockEntry stock[2];
    Kitchen__Sink__V2__Order__StockEntry *stock_ptrs[2];
    Kitchen__Sink__V2__Order__ByNumberEntry by_number[1];
    Kitchen__Sink__V2__Order__ByNumberEntry *by_number_ptrs[1];
    Order order;
};

/* An Order using every field shape of kitchen.proto (the oneof is set by callers). */
static Order *build_order(struct order_parts *p)
{
    static const char *note_texts[] = { "first", "", "a note long enough to need two blocks" };
    for (int i = 0; i < 3; i++) {
        p->notes[i] = (Note)KITCHEN__SINK__V2__ORDER__LINE__NOTE__INIT;
        p->notes[i].text = (char *)note_texts[i];
        p->note_ptrs[i] = &p->notes[i];
    }
    for (int i = 0; i < 2; i++) {
        p->lines[i] = (Line)KITCHEN__SINK__V2__ORDER__LINE__INIT;
        p->lines[i].item = i ? "tea" : "coffee";
        p->lines[i].count = 3 + i;
        p->lines[i].n_notes = i ? 0 : 3;
        p->lines[i].notes = i ? NULL : p->note_ptrs;
        p->line_ptrs[i] = &p->lines[i];
    }
    for (int i = 0; i < 4; i++)
        p->ids[i] = (int64_t)1 << (15 * i);
    static char *tags[] = { "hot", "", "to go", "x" };
    memcpy(p->tags, tags, sizeof(tags));
    for (size_t i = 0; i < sizeof(p->blob_bytes); i++)
        p->blob_bytes[i] = (uint8_t)(i * 7);
    p->blobs[0] = (ProtobufCBinaryData){ 1, p->blob_bytes };
    p->blobs[1] = (ProtobufCBinaryData){ 0, NULL };
    p->blobs[2] = (ProtobufCBinaryData){ sizeof(p->blob_bytes), p->blob_bytes };
    p->weights[0] = 0.25;
    p->weights[1] = -1e300;
    for (int i = 0; i < 2; i++) {
        p->stock[i] = (Kitchen__Sink__V2__Order__StockEntry)KITCHEN__SINK__V2__ORDER__STOCK_ENTRY__INIT;
        p->stock[i].key = i ? "milk" : "beans";
        p->stock[i].value = 10 * i - 5;
        p->stock_ptrs[i] = &p->stock[i];
    }
    p->by_number[0] =
        (Kitchen__Sink__V2__Order__ByNumberEntry)KITCHEN__SINK__V2__ORDER__BY_NUMBER_ENTRY__INIT;
    p->by_number[0].key = 7;
    p->by_number[0].value = &p->lines[0];
    p->by_number_ptrs[0] = &p->by_number[0];

    Order *o = &p->order;
    *o = (Order)KITCHEN__SINK__V2__ORDER__INIT;
    o->n_lines = 2;
    o->lines = p->line_ptrs;
    o->n_ids = 4;
    o->ids = p->ids;
    o->n_tags = 4;
    o->tags = p->tags;
    o->n_blobs = 3;
    o->blobs = p->blobs;
    o->n_weights = 2;
    o->weights = p->weights;
    o->priority = KITCHEN__SINK__V2__ORDER__PRIORITY__PRIORITY_HIGH;
    o->temperature = KITCHEN__SINK__V2__TEMPERATURE__TEMPERATURE_HOT;
    o->n_stock = 2;
    o->stock = p->stock_ptrs;
    o->n_by_number = 1;
    o->by_number = p->by_number_ptrs;
    return o;
}

/* ---- round trips ----------------------------------------------------------------------------- */

static void test_empty_messages(void)
{
    struct harness h;
    open_harness(&h);
    Kitchen__Sink__V2__Empty empty = KITCHEN__SINK__V2__EMPTY__INIT;
    Legacy__Nothing nothing = LEGACY__NOTHING__INIT;
    check_roundtrip(&h, &empty.base);
    check_roundtrip(&h, &nothing.base);

    /* an empty message is one segment holding just the base */
    size_t len;
    struct segs s;
    encode_and_land(&h, harness_to_send_heap(&h, &empty.base), NULL, &len, &s);
    CU_ASSERT_EQUAL(s.n, 1);
    CU_ASSERT_EQUAL(s.len[0], sizeof(empty));
    CU_ASSERT_EQUAL(len, 16 + sizeof(empty));
    harness_close(&h);
}

static void test_kitchen_order(void)
{
    struct harness h;
    open_harness(&h);
    struct order_parts parts;
    Order *o = build_order(&parts);
    o->payment_case = KITCHEN__SINK__V2__ORDER__PAYMENT_CARD;
    o->card = "4111 1111";
    Order *out = (Order *)check_roundtrip(&h, &o->base);
    CU_ASSERT_STRING_EQUAL(out->card, "4111 1111");
    CU_ASSERT_STRING_EQUAL(out->lines[0]->notes[2]->text, parts.notes[2].text);
    CU_ASSERT_PTR_NULL(out->lines[1]->notes);
    CU_ASSERT_PTR_NULL(out->blobs[1].data);
    CU_ASSERT_EQUAL(memcmp(out->blobs[2].data, parts.blob_bytes, sizeof(parts.blob_bytes)), 0);
    CU_ASSERT(phx_shm_region_contains(&h.recv_region, out->by_number[0]->value->notes[0]->text, 6));

    Kitchen__Sink__V2__Receipt receipt = KITCHEN__SINK__V2__RECEIPT__INIT;
    receipt.order_id = UINT64_MAX;
    receipt.n_lines = 2;
    receipt.lines = parts.line_ptrs;
    check_roundtrip(&h, &receipt.base);
    harness_close(&h);
}

static void test_oneof_members(void)
{
    struct harness h;
    open_harness(&h);
    struct order_parts parts;
    Order *o = build_order(&parts);
    Kitchen__Sink__V2__Empty cash = KITCHEN__SINK__V2__EMPTY__INIT;

    o->payment_case = KITCHEN__SINK__V2__ORDER__PAYMENT_VOUCHER;
    o->voucher = 0xfeedfacecafebeefull;
    CU_ASSERT_EQUAL(((Order *)check_roundtrip(&h, &o->base))->voucher, o->voucher);
    o->payment_case = KITCHEN__SINK__V2__ORDER__PAYMENT_CASH;
    o->cash = &cash;
    CU_ASSERT_PTR_NOT_NULL(((Order *)check_roundtrip(&h, &o->base))->cash);
    o->payment_case = KITCHEN__SINK__V2__ORDER__PAYMENT__NOT_SET;
    check_roundtrip(&h, &o->base);
    /* An empty string is still a chosen member: protobuf-c drops a oneof string that points at
     * the field's default (protobuf_c_empty_string), so it must not arrive as that pointer. */
    o->payment_case = KITCHEN__SINK__V2__ORDER__PAYMENT_CARD;
    o->card = "";
    Order *empty_card = (Order *)check_roundtrip(&h, &o->base);
    CU_ASSERT_EQUAL(empty_card->payment_case, KITCHEN__SINK__V2__ORDER__PAYMENT_CARD);
    CU_ASSERT_PTR_NOT_EQUAL(empty_card->card, &protobuf_c_empty_string);
    CU_ASSERT_STRING_EQUAL(empty_card->card, "");

    /* every member kind of mtest.Choice, nested in a repeated Choice */
    Mtest__Node node = MTEST__NODE__INIT;
    node.name = "leaf";
    Mtest__Choice c[4], *more[3];
    for (int i = 0; i < 4; i++)
        c[i] = (Mtest__Choice)MTEST__CHOICE__INIT;
    c[0].pick_case = MTEST__CHOICE__PICK_TEXT;
    c[0].text = "text";
    c[1].pick_case = MTEST__CHOICE__PICK_RAW;
    c[1].raw = (ProtobufCBinaryData){ 3, (uint8_t *)"raw" };
    c[2].pick_case = MTEST__CHOICE__PICK_NODE;
    c[2].node = &node;
    c[3].pick_case = MTEST__CHOICE__PICK_NUMBER;
    c[3].number = -42;
    more[0] = &c[1];
    more[1] = &c[2];
    more[2] = &c[3];
    c[0].n_more = 3;
    c[0].more = more;
    Mtest__Choice *out = (Mtest__Choice *)check_roundtrip(&h, &c[0].base);
    CU_ASSERT_STRING_EQUAL(out->more[1]->node->name, "leaf");
    CU_ASSERT_EQUAL(out->more[2]->number, -42);
    harness_close(&h);
}

static void test_zero_length_everything(void)
{
    struct harness h;
    open_harness(&h);
    Order o = KITCHEN__SINK__V2__ORDER__INIT;
    Order *out = (Order *)check_roundtrip(&h, &o.base);
    CU_ASSERT_PTR_NULL(out->lines);
    CU_ASSERT_PTR_NULL(out->ids);
    CU_ASSERT_PTR_NULL(out->tags);
    CU_ASSERT_PTR_NULL(out->blobs);

    /* empty strings and blobs as elements, an empty required string, an empty nested message */
    Mtest__Node root = MTEST__NODE__INIT;
    Mtest__Big big = MTEST__BIG__INIT;
    char *strs[] = { "", "", "" };
    ProtobufCBinaryData blobs[2] = { { 0, NULL }, { 0, NULL } };
    big.title = "";
    big.root = &root;
    big.n_strs = 3;
    big.strs = strs;
    big.n_blobs = 2;
    big.blobs = blobs;
    big.has_blob = 1;
    Mtest__Big *b = (Mtest__Big *)check_roundtrip(&h, &big.base);
    CU_ASSERT_STRING_EQUAL(b->title, "");
    CU_ASSERT_STRING_EQUAL(b->strs[2], "");
    CU_ASSERT_PTR_NULL(b->blob.data);
    CU_ASSERT_PTR_NULL(b->blobs[1].data);
    harness_close(&h);
}

static void test_proto2_defaults_and_required(void)
{
    struct harness h;
    open_harness(&h);
    /* unset optional strings and bytes keep pointing at the app's default (in its binary) */
    Legacy__Query q = LEGACY__QUERY__INIT;
    q.key = "k";
    Legacy__Query *sent = (Legacy__Query *)harness_to_send_heap(&h, &q.base);
    CU_ASSERT_PTR_EQUAL(sent->mode, legacy__query__mode__default_value);
    Legacy__Query *out = (Legacy__Query *)check_roundtrip(&h, &q.base);
    /* the receiver gets its own default back: protobuf-c reads that pointer as "unset" */
    CU_ASSERT_PTR_EQUAL(out->mode, legacy__query__mode__default_value);
    CU_ASSERT_EQUAL(out->limit, 10);

    /* set explicitly: a copy in the receive heap */
    q.mode = "slow";
    out = (Legacy__Query *)check_roundtrip(&h, &q.base);
    CU_ASSERT_STRING_EQUAL(out->mode, "slow");
    CU_ASSERT(phx_shm_region_contains(&h.recv_region, out->mode, 5));

    int32_t deltas[] = { -1, 0, 1 << 30 };
    q.has_limit = 1;
    q.limit = -3;
    q.n_deltas = 3;
    q.deltas = deltas;
    check_roundtrip(&h, &q.base);

    Legacy__Record r = LEGACY__RECORD__INIT;
    r.data = (ProtobufCBinaryData){ 4, (uint8_t *)"\0\1\2\3" };
    r.has_score = 1;
    r.score = 2.5;
    check_roundtrip(&h, &r.base);

    Mtest__Node n = MTEST__NODE__INIT;      /* bytes default "\1\2abc", string default "hello" */
    Mtest__Node *nout = (Mtest__Node *)check_roundtrip(&h, &n.base);
    CU_ASSERT_PTR_EQUAL(nout->label, mtest__node__label__default_value);
    CU_ASSERT_EQUAL(nout->blob.len, 5);
    CU_ASSERT_EQUAL(memcmp(nout->blob.data, "\1\2abc", 5), 0);
    CU_ASSERT_PTR_NULL(nout->name);
    harness_close(&h);
}

static void test_every_scalar_type(void)
{
    struct harness h;
    open_harness(&h);
    Mtest__Scalars s = MTEST__SCALARS__INIT;
    s.has_i32 = s.has_s32 = s.has_sf32 = s.has_i64 = s.has_s64 = s.has_sf64 = 1;
    s.has_u32 = s.has_f32 = s.has_u64 = s.has_f64 = s.has_fl = s.has_db = s.has_b = 1;
    s.has_color = 1;
    s.i32 = INT32_MIN;
    s.s32 = -7;
    s.sf32 = 9;
    s.i64 = INT64_MIN;
    s.s64 = -1;
    s.sf64 = INT64_MAX;
    s.u32 = UINT32_MAX;
    s.f32 = 12345;
    s.u64 = UINT64_MAX;
    s.f64 = 1;
    s.fl = 1.5f;
    s.db = -0.0;
    s.b = 1;
    s.color = MTEST__SCALARS__COLOR__RED;
    int32_t i32[] = { 1, -2, INT32_MAX };
    int64_t i64[] = { 1, -2, INT64_MIN };
    uint32_t u32[] = { 0, 1, UINT32_MAX };
    uint64_t u64[] = { 0, 1, UINT64_MAX };
    float fl[] = { 0.5f, -1, 3 };
    double db[] = { 1e-300, 2, 3 };
    protobuf_c_boolean bo[] = { 1, 0, 1 };
    Mtest__Scalars__Color colors[] = { MTEST__SCALARS__COLOR__GREEN, MTEST__SCALARS__COLOR__RED,
                                       MTEST__SCALARS__COLOR__GREEN };
    s.n_r_i32 = s.n_r_s32 = s.n_r_sf32 = s.n_r_i64 = s.n_r_s64 = s.n_r_sf64 = 3;
    s.n_r_u32 = s.n_r_f32 = s.n_r_u64 = s.n_r_f64 = s.n_r_fl = s.n_r_db = 3;
    s.n_r_b = s.n_r_color = 3;
    s.r_i32 = s.r_s32 = s.r_sf32 = i32;
    s.r_i64 = s.r_s64 = s.r_sf64 = i64;
    s.r_u32 = s.r_f32 = u32;
    s.r_u64 = s.r_f64 = u64;
    s.r_fl = fl;
    s.r_db = db;
    s.r_b = bo;
    s.r_color = colors;
    Mtest__Scalars *out = (Mtest__Scalars *)check_roundtrip(&h, &s.base);
    CU_ASSERT_EQUAL(out->r_i64[2], INT64_MIN);
    CU_ASSERT_EQUAL(out->r_color[0], MTEST__SCALARS__COLOR__GREEN);

    /* a proto3 message with scalars only travels as one segment */
    Kitchen__Sink__V2__HeatRequest heat = KITCHEN__SINK__V2__HEAT_REQUEST__INIT;
    heat.seconds = 2.5f;
    check_roundtrip(&h, &heat.base);
    harness_close(&h);
}

static void test_big_repeated_fields(void)
{
    struct harness h;
    open_harness(&h);
    enum { N_INTS = 100000, N_STRS = 10000 };
    Mtest__Node root = MTEST__NODE__INIT;
    Mtest__Big big = MTEST__BIG__INIT;
    int32_t *ints = malloc(N_INTS * sizeof(*ints));
    char **strs = malloc(N_STRS * sizeof(*strs));
    char *text = malloc(N_STRS * 16);
    CU_ASSERT_FATAL(ints && strs && text);
    for (int i = 0; i < N_INTS; i++)
        ints[i] = i * 37 - 5000;
    for (int i = 0; i < N_STRS; i++) {
        strs[i] = text + 16 * i;
        snprintf(strs[i], 16, "s%d", i * 13);
    }
    big.title = "big";
    big.root = &root;
    big.n_ints = N_INTS;
    big.ints = ints;
    big.n_strs = N_STRS;
    big.strs = strs;
    Mtest__Big *out = (Mtest__Big *)check_roundtrip(&h, &big.base);
    CU_ASSERT_EQUAL(out->ints[N_INTS - 1], ints[N_INTS - 1]);
    CU_ASSERT_STRING_EQUAL(out->strs[N_STRS - 1], strs[N_STRS - 1]);
    free(ints);
    free(strs);
    free(text);
    harness_close(&h);
}

/* The encoder keeps the first 16 segments on its stack and moves to the heap past them
 * (native_encode.c): messages with a few pieces fewer and more than that round-trip alike. */
static void test_segments_around_inline(void)
{
    struct harness h;
    open_harness(&h);
    static char *words[] = { "a", "bb", "", "ccc", "d", "ee", "f", "", "ggg", "h", "ii", "j",
                             "kk", "", "l", "mmm", "n", "o", "pp", "q", "rr", "s", "", "t" };
    enum { N = sizeof(words) / sizeof(words[0]) };
    for (size_t n = 8; n <= N; n++) {
        Mtest__Node root = MTEST__NODE__INIT;
        Mtest__Big big = MTEST__BIG__INIT;
        big.title = "inline";
        big.root = &root;
        big.n_strs = n;
        big.strs = words;
        Mtest__Big *out = (Mtest__Big *)check_roundtrip(&h, &big.base);
        CU_ASSERT_EQUAL_FATAL(out->n_strs, n);
        for (size_t i = 0; i < n; i++)
            CU_ASSERT_STRING_EQUAL(out->strs[i], words[i]);
        CU_ASSERT_STRING_EQUAL(out->title, "inline");
    }
    harness_close(&h);
}

static void test_nesting_50_deep(void)
{
    struct harness h;
    open_harness(&h);
    enum { DEPTH = 50 };
    Mtest__Node nodes[DEPTH + 1];
    Mtest__Node *kids[DEPTH + 1][1];
    for (int i = DEPTH; i >= 0; i--) {
        nodes[i] = (Mtest__Node)MTEST__NODE__INIT;
        nodes[i].depth = i;
        nodes[i].name = i % 2 ? "odd" : "even";
        if (i < DEPTH) {
            /* alternate between the singular child and a repeated kid */
            if (i % 2) {
                nodes[i].child = &nodes[i + 1];
            } else {
                kids[i][0] = &nodes[i + 1];
                nodes[i].n_kids = 1;
                nodes[i].kids = kids[i];
            }
        }
    }
    Mtest__Node *out = (Mtest__Node *)check_roundtrip(&h, &nodes[0].base);
    for (int i = 0; i < DEPTH; i++)
        out = i % 2 ? out->child : out->kids[0];
    CU_ASSERT_EQUAL(out->depth, DEPTH);
    CU_ASSERT_PTR_NULL(out->child);
    harness_close(&h);
}

static void test_64mib_bytes(void)
{
    struct harness h;
    open_harness(&h);
    const size_t len = 64 * MiB;
    Mtest__Node root = MTEST__NODE__INIT;
    Mtest__Big *big = send_new(&h, &(Mtest__Big)MTEST__BIG__INIT, sizeof(Mtest__Big));
    big->title = send_str(&h, "huge");
    big->root = send_new(&h, &root, sizeof(root));
    big->has_blob = 1;
    big->blob = (ProtobufCBinaryData){ len, send_alloc(&h, len) };
    for (size_t i = 0; i < len; i += 4096)
        big->blob.data[i] = (uint8_t)(i >> 12);
    big->blob.data[len - 1] = 0xee;

    ProtobufCMessage *out;
    int rc = harness_roundtrip(&h, &big->base, NULL, &out, err, sizeof(err));
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    Mtest__Big *b = (Mtest__Big *)out;
    CU_ASSERT_EQUAL(b->blob.len, len);
    CU_ASSERT(phx_shm_region_contains(&h.recv_region, b->blob.data, len));
    CU_ASSERT_EQUAL(b->blob.data[len - 1], 0xee);
    CU_ASSERT(harness_same_packed(&big->base, out));
    harness_close(&h);
}

/* Scattered pieces come from the send heap (zero copy), gathered ones from one buffer; both
 * concatenate to the same bytes. */
static void test_gathered_equals_scattered(void)
{
    struct harness h;
    open_harness(&h);
    struct order_parts parts;
    Order *o = build_order(&parts);
    ProtobufCMessage *sent = harness_to_send_heap(&h, &o->base);
    struct mrpc_encoded a, b;
    CU_ASSERT_EQUAL_FATAL(encode(&h, sent, sent->descriptor, &scattered, &a), 0);
    CU_ASSERT_EQUAL_FATAL(encode(&h, sent, sent->descriptor, &gathered, &b), 0);
    CU_ASSERT_EQUAL(b.n_iov, 1);
    CU_ASSERT(a.n_iov > 10);
    CU_ASSERT_EQUAL(a.payload_len, b.payload_len);
    CU_ASSERT_PTR_EQUAL(a.iov[1].base, sent);        /* the struct itself, after the table */
    size_t total = 0;
    for (unsigned i = 0; i < a.n_iov; i++)
        total += a.iov[i].len;
    CU_ASSERT_EQUAL(total, a.payload_len);
    uint8_t *x = malloc(a.payload_len), *y = malloc(b.payload_len);
    CU_ASSERT_FATAL(x && y);
    CU_ASSERT_EQUAL(mrpc_wire_to_buffer(&a, x, a.payload_len), 0);
    CU_ASSERT_EQUAL(mrpc_wire_to_buffer(&b, y, b.payload_len), 0);
    CU_ASSERT_EQUAL(memcmp(x, y, a.payload_len), 0);
    CU_ASSERT_EQUAL(mrpc_wire_to_buffer(&a, x, a.payload_len - 1), -ENOSPC);

    /* the default encoding gathers this small message */
    struct mrpc_encoded c;
    CU_ASSERT_EQUAL_FATAL(encode(&h, sent, sent->descriptor, NULL, &c), 0);
    CU_ASSERT_EQUAL(c.n_iov, 1);
    mrpc_encoded_free(&c);
    mrpc_encoded_free(&a);
    mrpc_encoded_free(&b);
    mrpc_encoded_free(&b);      /* twice is harmless */
    free(x);
    free(y);
    harness_close(&h);
}

/* The segment order documented in docs/marshalling.md, checked on a Node. */
static void test_payload_layout(void)
{
    struct harness h;
    open_harness(&h);
    Mtest__Node kid = MTEST__NODE__INIT, *kids[] = { &kid };
    Mtest__Node n = MTEST__NODE__INIT;
    n.name = "abc";
    n.n_kids = 1;
    n.kids = kids;
    kid.label = "kl";
    size_t len;
    struct segs s;
    encode_and_land(&h, harness_to_send_heap(&h, &n.base), NULL, &len, &s);
    /* struct, name, child (NULL), kids array, kid struct, kid.name (NULL), kid.child, kid.kids,
     * kid.blob (default), kid.label, blob (default), label (default) */
    const uint64_t want[] = { sizeof(n), 4, 0, 8, sizeof(n), 0, 0, 0, 5, 3, 5, 6 };
    CU_ASSERT_EQUAL_FATAL(s.n, sizeof(want) / sizeof(want[0]));
    for (size_t i = 0; i < s.n; i++)
        CU_ASSERT_EQUAL(s.len[i], want[i]);
    CU_ASSERT_STRING_EQUAL((const char *)s.data[1], "abc");
    CU_ASSERT_STRING_EQUAL((const char *)s.data[11], "hello");
    harness_close(&h);
}

/* ---- hostile senders ------------------------------------------------------------------------- */

static Mtest__Node *heap_node(struct harness *h)
{
    return send_new(h, &(Mtest__Node)MTEST__NODE__INIT, sizeof(Mtest__Node));
}

static void test_pointer_outside_send_heap(void)
{
    struct harness h;
    open_harness(&h);
    static char outside_text[] = "not in the heap";
    Order *o = send_new(&h, &(Order)KITCHEN__SINK__V2__ORDER__INIT, sizeof(Order));
    o->payment_case = KITCHEN__SINK__V2__ORDER__PAYMENT_CARD;
    o->card = outside_text;
    expect_encode_fails(&h, o, o->base.descriptor, NULL, -EINVAL,
                        "field kitchen.sink.v2.Order.card points outside the send heap");

    /* into the receive heap: just as foreign */
    Mtest__Node *n = heap_node(&h);
    n->name = phx_heap_alloc(h.recv_heap, 16);
    strcpy(n->name, "receive heap");
    expect_encode_fails(&h, n, n->base.descriptor, NULL, -EINVAL,
                        "field mtest.Node.name points outside the send heap");

    /* an array straddling the heap's end, a nested struct outside, bytes outside */
    n->name = NULL;
    n->n_kids = 2;
    n->kids = (Mtest__Node **)((char *)h.send_region.base + h.send_region.size - 8);
    expect_encode_fails(&h, n, n->base.descriptor, NULL, -EINVAL,
                        "field mtest.Node.kids points outside the send heap");
    n->n_kids = 0;
    n->child = (Mtest__Node *)(uintptr_t)0x1000;
    expect_encode_fails(&h, n, n->base.descriptor, NULL, -EINVAL,
                        "field mtest.Node.child points outside the send heap");
    n->child = (Mtest__Node *)((char *)send_alloc(&h, 256) + 4);
    expect_encode_fails(&h, n, n->base.descriptor, NULL, -EINVAL,
                        "field mtest.Node.child points to a misaligned address");
    n->child = NULL;
    n->blob = (ProtobufCBinaryData){ 10, (uint8_t *)outside_text };
    expect_encode_fails(&h, n, n->base.descriptor, NULL, -EINVAL,
                        "field mtest.Node.blob points outside the send heap");

    /* the top-level message itself */
    Mtest__Node local = MTEST__NODE__INIT;
    expect_encode_fails(&h, &local, local.base.descriptor, NULL, -EINVAL,
                        "message mtest.Node at");
    expect_encode_fails(&h, (char *)n + 1, local.base.descriptor, NULL, -EINVAL,
                        "is outside the send heap");
    harness_close(&h);
}

static void test_huge_repeated_count(void)
{
    struct harness h;
    open_harness(&h);
    Order *o = send_new(&h, &(Order)KITCHEN__SINK__V2__ORDER__INIT, sizeof(Order));
    o->ids = send_alloc(&h, 64);
    o->n_ids = SIZE_MAX / 8;
    expect_encode_fails(&h, o, o->base.descriptor, NULL, -EINVAL,
                        "field kitchen.sink.v2.Order.ids points outside the send heap");
    o->n_ids = SIZE_MAX / 8 + 1;
    expect_encode_fails(&h, o, o->base.descriptor, NULL, -EINVAL,
                        "field kitchen.sink.v2.Order.ids has");
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "more than memory can hold"));
    o->n_ids = 0;
    o->tags = send_alloc(&h, 64);
    o->n_tags = SIZE_MAX;
    expect_encode_fails(&h, o, o->base.descriptor, NULL, -EINVAL,
                        "field kitchen.sink.v2.Order.tags has");
    o->n_tags = 1ul << 40;
    expect_encode_fails(&h, o, o->base.descriptor, NULL, -EINVAL,
                        "field kitchen.sink.v2.Order.tags points outside the send heap");
    harness_close(&h);
}

static void test_cycle(void)
{
    struct harness h;
    open_harness(&h);
    Mtest__Node *n = heap_node(&h);
    n->child = n;
    expect_encode_fails(&h, n, n->base.descriptor, NULL, -EINVAL,
                        "nesting deeper than 64 (a cycle?)");
    n->child = NULL;
    n->n_kids = 1;
    n->kids = send_alloc(&h, sizeof(Mtest__Node *));
    n->kids[0] = n;
    expect_encode_fails(&h, n, n->base.descriptor, NULL, -EINVAL,
                        "nesting deeper than 64 (a cycle?)");
    struct mrpc_encode_limits lim = { .field_mask = MRPC_ENCODE_LIMIT_FIELD_MAX_DEPTH,
                                      .max_depth = 3 };
    expect_encode_fails(&h, n, n->base.descriptor, &lim, -EINVAL,
                        "nesting deeper than 3 (a cycle?)");

    /* a DAG fanning out (each kid list points at the same 8 kids) multiplies work: the segment
     * and byte limits stop it long before it could take long */
    Mtest__Node **fan = send_alloc(&h, 8 * sizeof(*fan));
    Mtest__Node *level = heap_node(&h);
    for (int d = 0; d < 40; d++) {
        Mtest__Node *up = heap_node(&h);
        Mtest__Node **k = send_alloc(&h, 8 * sizeof(*k));
        for (int i = 0; i < 8; i++)
            k[i] = level;
        up->n_kids = 8;
        up->kids = k;
        level = up;
    }
    (void)fan;
    unsigned long long t0 = phx_test_now_ns();
    expect_encode_fails(&h, level, level->base.descriptor, NULL, -E2BIG, "more than");
    CU_ASSERT(phx_test_now_ns() - t0 < 30ull * 1000 * 1000 * 1000);
    harness_close(&h);
}

static void test_string_without_terminator(void)
{
    struct harness h;
    open_harness(&h);
    Mtest__Node *n = heap_node(&h);
    char *end = (char *)h.send_region.base + h.send_region.size;
    memcpy(end - 3, "abc", 3);
    n->name = end - 3;
    expect_encode_fails(&h, n, n->base.descriptor, NULL, -EINVAL,
                        "string without terminator in field mtest.Node.name");
    /* the same at the end of the heap with a NUL is fine */
    end[-1] = '\0';
    struct mrpc_encoded enc;
    CU_ASSERT_EQUAL(encode(&h, n, n->base.descriptor, NULL, &enc), 0);
    mrpc_encoded_free(&enc);
    /* a repeated string element */
    n->name = NULL;
    n->n_kids = 0;
    Mtest__Big *b = send_new(&h, &(Mtest__Big)MTEST__BIG__INIT, sizeof(Mtest__Big));
    b->title = send_str(&h, "t");
    b->root = n;
    b->n_strs = 2;
    b->strs = send_alloc(&h, 2 * sizeof(char *));
    b->strs[0] = send_str(&h, "fine");
    b->strs[1] = end - 1;
    end[-1] = 'x';
    expect_encode_fails(&h, b, b->base.descriptor, NULL, -EINVAL,
                        "string without terminator in field mtest.Big.strs");
    harness_close(&h);
}

static void test_bad_oneof_case(void)
{
    struct harness h;
    open_harness(&h);
    Mtest__Choice *c = send_new(&h, &(Mtest__Choice)MTEST__CHOICE__INIT, sizeof(Mtest__Choice));
    c->pick_case = 77;                          /* no member has id 77 */
    c->text = (char *)(uintptr_t)0xdeadbeef;    /* never followed */
    ProtobufCMessage *out;
    CU_ASSERT_EQUAL(harness_roundtrip(&h, &c->base, NULL, &out, err, sizeof(err)), 0);
    CU_ASSERT_EQUAL(((Mtest__Choice *)out)->pick_case, 77);
    size_t len;
    struct segs s;
    encode_and_land(&h, &c->base, NULL, &len, &s);
    CU_ASSERT_EQUAL(s.n, 2);                    /* the struct and the empty `more` */

    /* a case selecting a pointer member makes it count: here it points nowhere valid */
    c->pick_case = MTEST__CHOICE__PICK_NODE;
    expect_encode_fails(&h, c, c->base.descriptor, NULL, -EINVAL,
                        "field mtest.Choice.node points outside the send heap");
    harness_close(&h);
}

static void test_null_where_protobuf_c_never_has_one(void)
{
    struct harness h;
    open_harness(&h);
    Mtest__Big *b = send_new(&h, &(Mtest__Big)MTEST__BIG__INIT, sizeof(Mtest__Big));
    b->title = send_str(&h, "t");
    expect_encode_fails(&h, b, b->base.descriptor, NULL, -EINVAL,
                        "field mtest.Big.root is NULL");
    b->root = heap_node(&h);
    b->n_strs = 1;
    b->strs = send_alloc(&h, sizeof(char *));
    b->strs[0] = NULL;
    expect_encode_fails(&h, b, b->base.descriptor, NULL, -EINVAL,
                        "field mtest.Big.strs is NULL");
    harness_close(&h);
}

static void test_limits(void)
{
    struct harness h;
    open_harness(&h);
    struct order_parts parts;
    ProtobufCMessage *sent = harness_to_send_heap(&h, &build_order(&parts)->base);
    struct mrpc_encode_limits lim = { .field_mask = MRPC_ENCODE_LIMIT_FIELD_MAX_SEGMENTS,
                                      .max_segments = 3 };
    expect_encode_fails(&h, sent, sent->descriptor, &lim, -E2BIG,
                        "the message has more than 3 pieces");
    lim = (struct mrpc_encode_limits){ .field_mask = MRPC_ENCODE_LIMIT_FIELD_MAX_BYTES,
                                       .max_bytes = 600 };
    expect_encode_fails(&h, sent, sent->descriptor, &lim, -E2BIG,
                        "the message is larger than 600 bytes");

    /* a long string is scanned only as far as the byte budget reaches */
    Mtest__Node *n = heap_node(&h);
    n->name = send_alloc(&h, 1 * MiB);
    memset(n->name, 'a', 1 * MiB);
    n->name[MiB - 1] = '\0';
    lim.max_bytes = 4096;
    expect_encode_fails(&h, n, n->base.descriptor, &lim, -E2BIG,
                        "the message is larger than 4096 bytes");
    harness_close(&h);
}

/* ---- bad payloads ---------------------------------------------------------------------------- */

static void test_decode_bad_tables(void)
{
    struct harness h;
    open_harness(&h);
    const ProtobufCMessageDescriptor *d = &mtest__node__descriptor;
    uint8_t *p = phx_heap_calloc(h.recv_heap, 1, 4096);
    uint32_t hdr[2];

    expect_decode_fails(&h, d, p, 4, "too short for its header");
    hdr[0] = 0;
    hdr[1] = 0;
    memcpy(p, hdr, 8);
    expect_decode_fails(&h, d, p, 64, "announces 0 segments");
    hdr[0] = UINT32_MAX;
    memcpy(p, hdr, 8);
    expect_decode_fails(&h, d, p, 4096, "announces 4294967295 segments");
    hdr[0] = 3;
    memcpy(p, hdr, 8);
    expect_decode_fails(&h, d, p, 24, "announces 3 segments");
    hdr[1] = 1;
    memcpy(p, hdr, 8);
    expect_decode_fails(&h, d, p, 4096, "reserved word is not zero");

    /* a valid payload, then its table edited */
    Mtest__Node n = MTEST__NODE__INIT;
    n.name = "named";
    size_t len;
    struct segs s;
    uint8_t *good = encode_and_land(&h, harness_to_send_heap(&h, &n.base), NULL, &len, &s);
    uint8_t *copy = phx_heap_alloc(h.recv_heap, len + 64);
    memcpy(copy, good, len);
    expect_decode_fails(&h, d, copy, len - 1, "ends beyond the payload");
    expect_decode_fails(&h, d, copy, 8 + 8 * s.n, "ends beyond the payload");   /* truncated */
    expect_decode_fails(&h, d, copy + 8, len, "not 16-byte aligned");
    memcpy(copy, good, len);
    uint64_t huge = UINT64_MAX - 8;
    memcpy(copy + 8 + 8 * 1, &huge, 8);
    expect_decode_fails(&h, d, copy, len, "ends beyond the payload");
    memcpy(copy, good, len);
    memset(copy + len, 0, 16);
    expect_decode_fails(&h, d, copy, len + 16, "bytes after its last segment");
    /* the first segment must be the whole struct of the expected type */
    expect_decode_fails(&h, &mtest__scalars__descriptor, copy, len, "first segment holds");
    harness_close(&h);
}

static void test_decode_wrong_segments(void)
{
    struct harness h;
    open_harness(&h);
    const ProtobufCMessageDescriptor *d = &mtest__node__descriptor;
    Mtest__Node n = MTEST__NODE__INIT;
    n.name = "named";
    size_t len;
    struct segs s, t;
    encode_and_land(&h, harness_to_send_heap(&h, &n.base), NULL, &len, &s);

    t = s;          /* missing: drop the last segment */
    t.n--;
    uint8_t *p = segs_build(&h, &t, &len);
    expect_decode_fails(&h, d, p, len, "fewer than its message needs");
    t = s;          /* leftover: one more empty segment */
    t.len[t.n++] = 0;
    p = segs_build(&h, &t, &len);
    expect_decode_fails(&h, d, p, len, "1 segments more than its message needs");
    t = s;          /* the name without its NUL */
    t.len[1]--;
    p = segs_build(&h, &t, &len);
    expect_decode_fails(&h, d, p, len, "field mtest.Node.name: the string does not end with a NUL");
    t = s;          /* a nested message of the wrong size: the child's segment is empty */
    t.len[2] = 8;
    t.data[2] = (const uint8_t *)"12345678";
    p = segs_build(&h, &t, &len);
    expect_decode_fails(&h, d, p, len, "field mtest.Node.child: the nested message has another size");
    t = s;          /* bytes whose length in the struct differs */
    t.len[4] = 4;
    p = segs_build(&h, &t, &len);
    expect_decode_fails(&h, d, p, len, "field mtest.Node.blob: the length in the struct differs");

    /* an array segment shorter than its count, with a consistent table */
    Mtest__Scalars sc = MTEST__SCALARS__INIT;
    Mtest__Scalars__Color colors[5] = { 0 };
    sc.n_r_color = 5;
    sc.r_color = colors;
    encode_and_land(&h, harness_to_send_heap(&h, &sc.base), NULL, &len, &s);
    CU_ASSERT_EQUAL(s.len[s.n - 1], sizeof(colors));
    s.len[s.n - 1] -= 4;
    p = segs_build(&h, &s, &len);
    expect_decode_fails(&h, &mtest__scalars__descriptor, p, len,
                        "field mtest.Scalars.r_color: the array's count implies another size");
    /* a NULL element of a repeated string */
    Mtest__Node root = MTEST__NODE__INIT;
    Mtest__Big big = MTEST__BIG__INIT;
    char *strs[] = { "a" };
    big.title = "t";
    big.root = &root;
    big.n_strs = 1;
    big.strs = strs;
    encode_and_land(&h, harness_to_send_heap(&h, &big.base), NULL, &len, &s);
    CU_ASSERT_EQUAL(s.len[3], 2);
    s.len[3] = 0;
    p = segs_build(&h, &s, &len);
    expect_decode_fails(&h, &mtest__big__descriptor, p, len,
                        "field mtest.Big.strs: a required value or repeated element cannot be NULL");
    harness_close(&h);
}

/* The app changes its message after the service encoded it (zero copy): the receiver notices. */
static void test_changed_after_encode(void)
{
    struct harness h;
    open_harness(&h);
    struct order_parts parts;
    Order *o = (Order *)harness_to_send_heap(&h, &build_order(&parts)->base);
    struct mrpc_encoded enc;
    void *msg;
    CU_ASSERT_EQUAL_FATAL(encode(&h, o, o->base.descriptor, &scattered, &enc), 0);
    o->n_tags = 3;
    void *payload = harness_land(&h, &enc);
    CU_ASSERT_EQUAL(mrpc_native_decode(harness_type(h.set, o->base.descriptor), payload,
                                       enc.payload_len, &msg, err, sizeof(err)), -EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "field kitchen.sink.v2.Order.tags"));
    o->n_tags = 4;
    o->tags[2][5] = 'X';            /* "to go" loses its NUL */
    payload = harness_land(&h, &enc);
    CU_ASSERT_EQUAL(mrpc_native_decode(harness_type(h.set, o->base.descriptor), payload,
                                       enc.payload_len, &msg, err, sizeof(err)), -EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "does not end with a NUL"));
    o->tags[2][5] = '\0';
    o->payment_case = KITCHEN__SINK__V2__ORDER__PAYMENT_VOUCHER;   /* a oneof flipped */
    o->voucher = 1;
    payload = harness_land(&h, &enc);
    CU_ASSERT_EQUAL(mrpc_native_decode(harness_type(h.set, o->base.descriptor), payload,
                                       enc.payload_len, &msg, err, sizeof(err)), 0);
    o->payment_case = KITCHEN__SINK__V2__ORDER__PAYMENT_CARD;
    o->card = send_str(&h, "card");
    payload = harness_land(&h, &enc);   /* the table has no segment for the card */
    CU_ASSERT_EQUAL(mrpc_native_decode(harness_type(h.set, o->base.descriptor), payload,
                                       enc.payload_len, &msg, err, sizeof(err)), -EINVAL);
    mrpc_encoded_free(&enc);
    harness_close(&h);
}

/* An app thread scribbles over its message (counts, pointers, a oneof, a string's NUL) while the
 * service encodes and decodes it over and over: every encode must succeed or refuse cleanly, and
 * whatever decodes must be safe to pack. Not labelled tsan: these races are the point. */
struct scribbler {
    Order       *o;
    char       **tags;
    int          stop;
    unsigned long flips;
};

static void *scribble(void *arg)
{
    struct scribbler *s = arg;
    char *card = s->tags[0];
    for (unsigned i = 0; !__atomic_load_n(&s->stop, __ATOMIC_RELAXED); i++) {
        __atomic_store_n(&s->o->n_tags, i & 1 ? 4 : SIZE_MAX / 4, __ATOMIC_RELAXED);
        __atomic_store_n(&s->o->tags, i & 2 ? s->tags : (char **)(uintptr_t)0x1000,
                         __ATOMIC_RELAXED);
        __atomic_store_n(&s->tags[2][5], i & 4 ? 'X' : '\0', __ATOMIC_RELAXED);
        __atomic_store_n(&s->o->payment_case, i & 8 ? KITCHEN__SINK__V2__ORDER__PAYMENT_CARD
                                                    : KITCHEN__SINK__V2__ORDER__PAYMENT__NOT_SET,
                         __ATOMIC_RELAXED);
        __atomic_store_n(&s->o->card, i & 16 ? card : (char *)(uintptr_t)0x2000, __ATOMIC_RELAXED);
        __atomic_store_n(&s->o->n_lines, i & 32 ? 2 : 1, __ATOMIC_RELAXED);
        s->flips = i;
    }
    return NULL;
}

static void test_app_changes_message_concurrently(void)
{
    struct harness h;
    open_harness(&h);
    struct order_parts parts;
    Order *o = (Order *)harness_to_send_heap(&h, &build_order(&parts)->base);
    struct scribbler s = { .o = o, .tags = o->tags };
    const struct mrpc_type_layout *t = harness_type(h.set, o->base.descriptor);
    pthread_t thread;
    CU_ASSERT_EQUAL_FATAL(pthread_create(&thread, NULL, scribble, &s), 0);

    unsigned long encoded = 0, refused = 0, decoded = 0, iters = 0;
    unsigned long long t0 = phx_test_now_ns();
    for (; iters < 200000 && phx_test_now_ns() - t0 < 1000ull * 1000 * 1000; iters++) {
        struct mrpc_encoded enc;
        int rc = mrpc_native_encode(t, (uintptr_t)o, &h.send_region, iters & 1 ? &gathered
                                                                               : &scattered,
                                    &enc, err, sizeof(err));
        CU_ASSERT(rc == 0 || rc == -EINVAL);
        if (rc) {
            refused++;
            continue;
        }
        encoded++;
        void *payload = harness_land(&h, &enc), *msg;
        rc = mrpc_native_decode(t, payload, enc.payload_len, &msg, err, sizeof(err));
        CU_ASSERT(rc == 0 || rc == -EINVAL);
        if (rc == 0) {
            uint8_t *packed = malloc(protobuf_c_message_get_packed_size(msg) + 1);
            protobuf_c_message_pack(msg, packed);
            free(packed);
            decoded++;
        }
        mrpc_encoded_free(&enc);
    }
    __atomic_store_n(&s.stop, 1, __ATOMIC_RELAXED);
    pthread_join(thread, NULL);
    printf("\n  %lu rounds against %lu flips: %lu refused by the encoder, %lu encoded, %lu decoded\n",
           iters, s.flips, refused, encoded, decoded);
    CU_ASSERT(iters > 0);
    harness_close(&h);
}

int main(int argc, char **argv)
{
    static const phx_test_case_t cases[] = {
        { "empty messages", test_empty_messages },
        { "kitchen order with every field shape", test_kitchen_order },
        { "oneof members of every kind", test_oneof_members },
        { "zero-length everything", test_zero_length_everything },
        { "proto2 defaults and required fields", test_proto2_defaults_and_required },
        { "every scalar type, singular and repeated", test_every_scalar_type },
        { "big repeated fields", test_big_repeated_fields },
        { "segment lists around the encoder's inline size", test_segments_around_inline },
        { "nesting 50 deep", test_nesting_50_deep },
        { "64 MiB bytes field", test_64mib_bytes },
        { "gathered and scattered payloads are the same", test_gathered_equals_scattered },
        { "payload layout as documented", test_payload_layout },
        { "pointers outside the send heap", test_pointer_outside_send_heap },
        { "huge repeated counts", test_huge_repeated_count },
        { "cycles and fan-out", test_cycle },
        { "string without terminator", test_string_without_terminator },
        { "bad oneof case", test_bad_oneof_case },
        { "NULL where protobuf-c never has one", test_null_where_protobuf_c_never_has_one },
        { "encode limits", test_limits },
        { "decode: bad tables", test_decode_bad_tables },
        { "decode: wrong segments", test_decode_wrong_segments },
        { "decode: message changed after encode", test_changed_after_encode },
        { "app changes its message concurrently", test_app_changes_message_concurrently },
        { NULL, NULL },
    };
    return phx_test_main("marshal", cases, argc, argv);
}
