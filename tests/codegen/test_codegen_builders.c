/* test_codegen_builders.c - the typed builders protoc-gen-mrpc generates for protos/ and
 * tests/proto/hotel_profile.proto, against the double's send heap (mrpc_double.h): what they
 * allocate, that copies own every piece and keep numbers bit for bit, that repeated fields grow
 * in place with amortised moves, that oneof setters set the case, and that a heap running out at
 * any allocation leaves the message as it was and nothing allocated. */
#include "phx_test.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "builders.mrpc.h"
#include "cnames.mrpc.h"
#include "kitchen.mrpc.h"
#include "mrpc_double.h"
#include "profile_rules.h"

static struct mrpc_ctx ctx_object = { 7 };
static mrpc_ctx_t *const ctx = &ctx_object;

/* True when A and B pack to the same bytes: deep equality, floats bit for bit. */
static bool same_packed(const ProtobufCMessage *a, const ProtobufCMessage *b)
{
    size_t la = protobuf_c_message_get_packed_size(a), lb = protobuf_c_message_get_packed_size(b);
    uint8_t *pa = malloc(la + 1), *pb = malloc(lb + 1);
    protobuf_c_message_pack(a, pa);
    protobuf_c_message_pack(b, pb);
    bool same = la == lb && memcmp(pa, pb, la) == 0;
    free(pa);
    free(pb);
    return same;
}

static void start(void)
{
    mrpc_double_reset();
    mrpc_double_heap_clear();
}

static void finish(ProtobufCMessage *msg)
{
    mrpc_message_free(ctx, msg);
    CU_ASSERT_EQUAL(mrpc_double_heap_live(), 0);
}

/* ---- scalar shapes -------------------------------------------------------------------------- */

static void test_new_initialises_in_heap(void)
{
    start();
    Bld__Box *box = bld__box_new(ctx);
    CU_ASSERT_PTR_NOT_NULL_FATAL(box);
    CU_ASSERT_TRUE(mrpc_double_heap_owns(box));
    CU_ASSERT_PTR_EQUAL(box->base.descriptor, &bld__box__descriptor);
    CU_ASSERT_EQUAL(box->content_case, BLD__BOX__CONTENT__NOT_SET);
    CU_ASSERT_EQUAL(box->n_class_, 0);
    finish(&box->base);

    mrpc_double.heap.fail_after = 0;
    CU_ASSERT_PTR_NULL(bld__box_new(ctx));
    CU_ASSERT_EQUAL(mrpc_double_heap_live(), 0);
}

static void test_string_and_bytes_setters_copy(void)
{
    char name[] = "gift";
    const uint8_t seal[] = { 0, 1, 2, 0xff };
    start();
    Bld__Box *box = bld__box_new(ctx);
    CU_ASSERT_EQUAL(bld__box_set_int(ctx, box, name), 0);      /* member int_: a keyword */
    name[0] = 'X';
    CU_ASSERT_STRING_EQUAL(box->int_, "gift");
    CU_ASSERT_TRUE(mrpc_double_heap_owns(box->int_));
    CU_ASSERT_FALSE(box->has_seal);
    CU_ASSERT_EQUAL(bld__box_set_seal(ctx, box, seal, sizeof(seal)), 0);
    CU_ASSERT_TRUE(box->has_seal);                             /* proto2 optional bytes */
    CU_ASSERT_EQUAL(box->seal.len, sizeof(seal));
    CU_ASSERT_TRUE(mrpc_double_heap_owns(box->seal.data));
    CU_ASSERT_EQUAL(memcmp(box->seal.data, seal, sizeof(seal)), 0);
    CU_ASSERT_EQUAL(bld__box_set_int(ctx, box, NULL), -EINVAL);
    CU_ASSERT_EQUAL(bld__box_set_seal(ctx, box, NULL, 3), -EINVAL);
    mrpc_double.heap.fail_after = 0;
    CU_ASSERT_EQUAL(bld__box_set_int(ctx, box, "other"), -ENOMEM);
    CU_ASSERT_STRING_EQUAL(box->int_, "gift");                 /* unchanged on failure */
    finish(&box->base);
}

static void test_oneof_setters_set_the_case(void)
{
    start();
    Bld__Box *box = bld__box_new(ctx);
    bld__box_set_paint(box, BLD__COLOUR__GREEN);
    CU_ASSERT_EQUAL(box->content_case, BLD__BOX__CONTENT_PAINT);
    CU_ASSERT_EQUAL(box->paint, BLD__COLOUR__GREEN);
    CU_ASSERT_EQUAL(bld__box_set_raw(ctx, box, "ab", 2), 0);
    CU_ASSERT_EQUAL(box->content_case, BLD__BOX__CONTENT_RAW);
    CU_ASSERT_EQUAL(box->raw.len, 2);
    Bld__Part *part = bld__box_mutable_part(ctx, box);
    CU_ASSERT_PTR_NOT_NULL_FATAL(part);
    CU_ASSERT_EQUAL(box->content_case, BLD__BOX__CONTENT_PART);
    CU_ASSERT_PTR_EQUAL(bld__box_mutable_part(ctx, box), part);    /* made once */
    CU_ASSERT_PTR_EQUAL(part->base.descriptor, &bld__part__descriptor);

    Kitchen__Sink__V2__Order *o = kitchen__sink__v2__order_new(ctx);
    CU_ASSERT_EQUAL(kitchen__sink__v2__order_set_card(ctx, o, "4111"), 0);
    CU_ASSERT_EQUAL(o->payment_case, KITCHEN__SINK__V2__ORDER__PAYMENT_CARD);
    kitchen__sink__v2__order_set_voucher(o, 77);
    CU_ASSERT_EQUAL(o->payment_case, KITCHEN__SINK__V2__ORDER__PAYMENT_VOUCHER);
    CU_ASSERT_EQUAL(o->voucher, 77);
    mrpc_message_free(ctx, &o->base);
    mrpc_message_free(ctx, &box->base);
    /* documented: a replaced value stays in the heap (here the card and the raw bytes) */
    CU_ASSERT_EQUAL(mrpc_double_heap_live(), 2);
}

/* ---- repeated fields ------------------------------------------------------------------------ */

static void test_add_grows_in_place_amortised(void)
{
    enum { N = 1000 };
    start();
    Kitchen__Sink__V2__Order *o = kitchen__sink__v2__order_new(ctx);
    Kitchen__Sink__V2__Order__Line *lines[N];
    for (int i = 0; i < N; i++) {
        lines[i] = kitchen__sink__v2__order_add_lines(ctx, o);
        CU_ASSERT_PTR_NOT_NULL_FATAL(lines[i]);
        lines[i]->count = (uint32_t)i;
        CU_ASSERT_EQUAL_FATAL(kitchen__sink__v2__order_add_ids(ctx, o, -i), 0);
    }
    CU_ASSERT_EQUAL(o->n_lines, N);
    CU_ASSERT_EQUAL(o->n_ids, N);
    for (int i = 0; i < N; i++) {
        CU_ASSERT_PTR_EQUAL(o->lines[i], lines[i]);
        CU_ASSERT_EQUAL(o->ids[i], -i);
    }
    CU_ASSERT_EQUAL(mrpc_double.heap.added, 2 * N);
    CU_ASSERT_TRUE(mrpc_double.heap.moved <= 2 * 10);        /* doubling: log2(N) moves each */
    finish(&o->base);
}

static void test_add_strings_bytes_enums_keywords(void)
{
    start();
    Bld__Box *box = bld__box_new(ctx);
    CU_ASSERT_EQUAL(bld__box_add_class(ctx, box, "first"), 0);       /* member class_ */
    CU_ASSERT_EQUAL(bld__box_add_class(ctx, box, ""), 0);
    CU_ASSERT_EQUAL(bld__box_add_class(ctx, box, NULL), -EINVAL);
    CU_ASSERT_EQUAL(box->n_class_, 2);
    CU_ASSERT_STRING_EQUAL(box->class_[0], "first");
    CU_ASSERT_STRING_EQUAL(box->class_[1], "");
    CU_ASSERT_EQUAL(bld__box_add_colours(ctx, box, BLD__COLOUR__GREEN), 0);
    CU_ASSERT_EQUAL(bld__box_add_flags(ctx, box, 1), 0);
    CU_ASSERT_EQUAL(box->colours[0], BLD__COLOUR__GREEN);
    CU_ASSERT_EQUAL(box->flags[0], 1);
    Bld__Box__PartsEntry *e = bld__box_add_parts(ctx, box);           /* a map entry */
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    CU_ASSERT_EQUAL(bld__box__parts_entry_set_key(ctx, e, "k"), 0);
    CU_ASSERT_PTR_NOT_NULL(bld__box__parts_entry_mutable_value(ctx, e));
    CU_ASSERT_EQUAL(box->n_parts, 1);
    mrpc_double.heap.fail_after = 0;
    CU_ASSERT_EQUAL(bld__box_add_class(ctx, box, "x"), -ENOMEM);
    CU_ASSERT_PTR_NULL(bld__box_add_parts(ctx, box));
    CU_ASSERT_EQUAL(box->n_class_, 2);                                /* unchanged */
    CU_ASSERT_EQUAL(box->n_parts, 1);
    mrpc_double.heap.fail_after = -1;
    Kitchen__Sink__V2__Order *o = kitchen__sink__v2__order_new(ctx);
    CU_ASSERT_EQUAL(kitchen__sink__v2__order_add_blobs(ctx, o, "\0\1", 2), 0);
    CU_ASSERT_EQUAL(kitchen__sink__v2__order_add_blobs(ctx, o, NULL, 0), 0);
    CU_ASSERT_EQUAL(o->n_blobs, 2);
    CU_ASSERT_EQUAL(o->blobs[0].len, 2);
    CU_ASSERT_EQUAL(o->blobs[1].len, 0);
    mrpc_message_free(ctx, &o->base);
    finish(&box->base);
}

/* An array the heap did not make (static here, received in real life) is copied, not grown. */
static void test_add_copies_a_foreign_array(void)
{
    static char *foreign[] = { "a", "b" };
    start();
    Kitchen__Sink__V2__Order *o = kitchen__sink__v2__order_new(ctx);
    o->tags = foreign;
    o->n_tags = 2;
    CU_ASSERT_EQUAL(kitchen__sink__v2__order_add_tags(ctx, o, "c"), 0);
    CU_ASSERT_PTR_NOT_EQUAL(o->tags, foreign);
    CU_ASSERT_TRUE(mrpc_double_heap_owns(o->tags));
    CU_ASSERT_EQUAL(o->n_tags, 3);
    CU_ASSERT_STRING_EQUAL(o->tags[1], "b");
    CU_ASSERT_STRING_EQUAL(o->tags[2], "c");
    CU_ASSERT_STRING_EQUAL(foreign[1], "b");
    finish(&o->base);
}

/* ---- copies -------------------------------------------------------------------------------- */

/* An Order with every shape, built with malloc (not the heap), so a copy must own every piece. */
static float nan_with_payload(void)
{
    uint32_t bits = 0x7fc00123u;
    float f;
    memcpy(&f, &bits, sizeof(f));
    return f;
}

static Kitchen__Sink__V2__Order *foreign_order(void)
{
    static Kitchen__Sink__V2__Order__Line__Note note = KITCHEN__SINK__V2__ORDER__LINE__NOTE__INIT;
    static Kitchen__Sink__V2__Order__Line__Note *notes[] = { &note, &note };
    static Kitchen__Sink__V2__Order__Line line = KITCHEN__SINK__V2__ORDER__LINE__INIT;
    static Kitchen__Sink__V2__Order__Line *lines[] = { &line, &line, &line };
    static int64_t ids[] = { -1, INT64_MIN, 3 };
    static char *tags[] = { "x", "", "ü" };
    static uint8_t raw[] = { 1, 0, 2 };
    static ProtobufCBinaryData blobs[] = { { 3, raw }, { 0, NULL } };
    static double weights[] = { -0.0, 1e-310, 2.5, 0 };
    static Kitchen__Sink__V2__Order__StockEntry stock = KITCHEN__SINK__V2__ORDER__STOCK_ENTRY__INIT;
    static Kitchen__Sink__V2__Order__StockEntry *stocks[] = { &stock };
    static Kitchen__Sink__V2__Order o = KITCHEN__SINK__V2__ORDER__INIT;

    note.text = "note";
    line.item = "item";
    line.count = 9;
    line.n_notes = 2;
    line.notes = notes;
    stock.key = "apples";
    stock.value = -4;
    weights[3] = (double)nan_with_payload();
    o.n_lines = 3, o.lines = lines;
    o.n_ids = 3, o.ids = ids;
    o.n_tags = 3, o.tags = tags;
    o.n_blobs = 2, o.blobs = blobs;
    o.n_weights = 4, o.weights = weights;
    o.n_stock = 1, o.stock = stocks;
    o.payment_case = KITCHEN__SINK__V2__ORDER__PAYMENT_CARD;
    o.card = "4111 1111";
    o.priority = KITCHEN__SINK__V2__ORDER__PRIORITY__PRIORITY_HIGH;
    return &o;
}

static void test_copy_is_deep_and_bit_exact(void)
{
    const Kitchen__Sink__V2__Order *src = foreign_order();
    start();
    Kitchen__Sink__V2__Order *o = kitchen__sink__v2__order_copy(ctx, src);
    CU_ASSERT_PTR_NOT_NULL_FATAL(o);
    CU_ASSERT_TRUE(same_packed(&o->base, &src->base));
    CU_ASSERT_TRUE(mrpc_double_heap_owns(o->lines) && mrpc_double_heap_owns(o->ids) &&
                   mrpc_double_heap_owns(o->tags) && mrpc_double_heap_owns(o->blobs) &&
                   mrpc_double_heap_owns(o->weights) && mrpc_double_heap_owns(o->card));
    CU_ASSERT_PTR_NOT_EQUAL(o->lines[0], o->lines[1]);       /* shared pieces get one copy each */
    CU_ASSERT_TRUE(mrpc_double_heap_owns(o->lines[2]->notes[1]));
    CU_ASSERT_TRUE(mrpc_double_heap_owns(o->lines[2]->notes[1]->text));
    CU_ASSERT_TRUE(mrpc_double_heap_owns(o->stock[0]->key));
    CU_ASSERT_TRUE(mrpc_double_heap_owns(o->blobs[0].data));
    CU_ASSERT_EQUAL(memcmp(o->weights, src->weights, 4 * sizeof(double)), 0);   /* -0.0, NaN */
    CU_ASSERT_TRUE(signbit(o->weights[0]));
    CU_ASSERT_EQUAL(o->payment_case, KITCHEN__SINK__V2__ORDER__PAYMENT_CARD);
    finish(&o->base);
}

static void test_from_builders_copy_received_values(void)
{
    const Kitchen__Sink__V2__Order *src = foreign_order();
    start();
    Kitchen__Sink__V2__Receipt *r = kitchen__sink__v2__receipt_new(ctx);
    Kitchen__Sink__V2__Order__Line *l = kitchen__sink__v2__receipt_add_lines_from(ctx, r,
                                                                                   src->lines[0]);
    CU_ASSERT_PTR_NOT_NULL_FATAL(l);
    CU_ASSERT_TRUE(same_packed(&l->base, &src->lines[0]->base));
    CU_ASSERT_TRUE(mrpc_double_heap_owns(l->notes[0]->text));
    Bld__Box *box = bld__box_new(ctx);
    Bld__Part part = BLD__PART__INIT;
    float sizes[] = { -0.0f, nan_with_payload() };
    part.label = "p", part.n_sizes = 2, part.sizes = sizes;
    CU_ASSERT_EQUAL(bld__box_set_part_from(ctx, box, &part), 0);
    CU_ASSERT_EQUAL(box->content_case, BLD__BOX__CONTENT_PART);
    CU_ASSERT_EQUAL(memcmp(box->part->sizes, sizes, sizeof(sizes)), 0);
    CU_ASSERT_EQUAL(bld__box_set_spare_from(ctx, box, &part), 0);
    CU_ASSERT_PTR_NOT_EQUAL(box->spare, box->part);
    ProtobufCBinaryData seal = { 2, (uint8_t *)"ok" };
    CU_ASSERT_EQUAL(bld__box_set_seal_from(ctx, box, &seal), 0);
    CU_ASSERT_TRUE(box->has_seal && box->seal.len == 2 && mrpc_double_heap_owns(box->seal.data));
    CU_ASSERT_EQUAL(bld__box_set_int_from(ctx, box, src->card), 0);
    CU_ASSERT_STRING_EQUAL(box->int_, "4111 1111");
    CU_ASSERT_EQUAL(bld__box_set_spare_from(ctx, box, NULL), -EINVAL);
    mrpc_message_free(ctx, &r->base);
    finish(&box->base);
}

/* However early the heap runs out, a copy returns NULL and leaves nothing behind. */
static void test_failed_copy_leaves_nothing(void)
{
    const Kitchen__Sink__V2__Order *src = foreign_order();
    start();
    Kitchen__Sink__V2__Order *whole = kitchen__sink__v2__order_copy(ctx, src);
    size_t needed = mrpc_double_heap_live();
    finish(&whole->base);
    CU_ASSERT_TRUE_FATAL(needed > 20);
    for (size_t k = 0; k < needed; k++) {
        mrpc_double.heap.fail_after = (long)k;
        CU_ASSERT_PTR_NULL(kitchen__sink__v2__order_copy(ctx, src));
        CU_ASSERT_EQUAL_FATAL(mrpc_double_heap_live(), 0);
    }
    mrpc_double.heap.fail_after = (long)needed;
    whole = kitchen__sink__v2__order_copy(ctx, src);
    CU_ASSERT_PTR_NOT_NULL(whole);
    finish(whole ? &whole->base : NULL);
}

/* The renamed base member (option base_field_name) works in builders too. */
static void test_builders_use_renamed_base(void)
{
    Cn__Ask ask = CN__ASK__INIT;
    ask.question = "why";
    start();
    Cn__Ask *copy = cn__ask_copy(ctx, &ask);
    CU_ASSERT_PTR_NOT_NULL_FATAL(copy);
    CU_ASSERT_STRING_EQUAL(copy->question, "why");
    CU_ASSERT_PTR_EQUAL(copy->header.descriptor, &cn__ask__descriptor);
    finish(&copy->header);
}

/* ---- the tutorial's Profile reply ----------------------------------------------------------- */

static void test_profile_reply(void)
{
    char *ids[] = { "3", "nope", "1", "2" };
    Profile__GetProfilesRequest req = PROFILE__GET_PROFILES_REQUEST__INIT;
    req.n_hotel_ids = 4, req.hotel_ids = ids;
    start();
    Profile__GetProfilesResult *res = profile_build_reply(ctx, &req);
    CU_ASSERT_PTR_NOT_NULL_FATAL(res);
    CU_ASSERT_EQUAL_FATAL(res->n_hotels, 3);
    const Profile__Hotel *h = res->hotels[0];
    CU_ASSERT_STRING_EQUAL(h->name, hotel_rows[2].name);
    CU_ASSERT_STRING_EQUAL(h->address->postal_code, "104-0061");
    CU_ASSERT_EQUAL(h->n_images, 5);
    CU_ASSERT_TRUE(h->images[1]->default_ && !h->images[0]->default_);
    CU_ASSERT_STRING_EQUAL(h->images[4]->url, "https://img.example/3/e.png");
    CU_ASSERT_TRUE(signbit(res->hotels[2]->address->lat));
    CU_ASSERT_EQUAL(res->hotels[2]->address->lon, 1e-40f);
    size_t needed = mrpc_double_heap_live();
    finish(&res->base);
    for (size_t k = 0; k < needed; k++) {          /* a full heap at any point: NULL, no leak */
        mrpc_double.heap.fail_after = (long)k;
        CU_ASSERT_PTR_NULL(profile_build_reply(ctx, &req));
        CU_ASSERT_EQUAL_FATAL(mrpc_double_heap_live(), 0);
    }
}

static const phx_test_case_t cases[] = {
    { "new initialises in the heap", test_new_initialises_in_heap },
    { "string and bytes setters copy", test_string_and_bytes_setters_copy },
    { "oneof setters set the case", test_oneof_setters_set_the_case },
    { "add grows in place, amortised", test_add_grows_in_place_amortised },
    { "add strings, bytes, enums, keywords, maps", test_add_strings_bytes_enums_keywords },
    { "add copies a foreign array", test_add_copies_a_foreign_array },
    { "copy is deep and bit-exact", test_copy_is_deep_and_bit_exact },
    { "_from builders copy received values", test_from_builders_copy_received_values },
    { "failed copy leaves nothing", test_failed_copy_leaves_nothing },
    { "builders use a renamed base member", test_builders_use_renamed_base },
    { "the tutorial's profile reply", test_profile_reply },
    { NULL, NULL },
};

int main(int argc, char **argv)
{
    return phx_test_main("codegen_builders", cases, argc, argv);
}
