/* make_seeds.c - writes the fuzz corpus: one valid native payload per message shape.
 *
 * `marshal_make_seeds DIR` builds a few messages of the test types in a send heap, encodes them
 * and writes each as DIR/<type>-<n>: one byte (the type's index in harness_types, which is what
 * fuzz_decode.c reads first) followed by the payload. tests/marshal/corpus/ was made with it;
 * run it again after changing the payload format or the test types. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kitchen.pb-c.h"
#include "legacy.pb-c.h"
#include "marshal_harness.h"
#include "marshal_test.pb-c.h"

static int write_seed(struct harness *h, const char *dir, const ProtobufCMessage *msg, int n)
{
    unsigned index = 0;
    while (index < harness_n_types && harness_types[index] != msg->descriptor)
        index++;
    ProtobufCMessage *sent = harness_to_send_heap(h, msg);
    struct mrpc_encoded enc;
    char err[256];
    if (!sent || mrpc_native_encode(harness_type(h->set, msg->descriptor), (uintptr_t)sent,
                                    &h->send_region, NULL, &enc, err, sizeof(err)) != 0) {
        fprintf(stderr, "encoding %s failed\n", msg->descriptor->name);
        return -1;
    }
    uint8_t *buf = malloc(enc.payload_len + 1);
    buf[0] = (uint8_t)index;
    mrpc_wire_to_buffer(&enc, buf + 1, enc.payload_len);
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s-%d", dir, msg->descriptor->short_name, n);
    FILE *f = fopen(path, "wb");
    int rc = f && fwrite(buf, 1, enc.payload_len + 1, f) == enc.payload_len + 1 ? 0 : -1;
    if (f)
        fclose(f);
    free(buf);
    mrpc_encoded_free(&enc);
    return rc;
}

int main(int argc, char **argv)
{
    struct harness h;
    if (argc != 2 || harness_open(&h, 64u << 20) != 0) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    const char *dir = argv[1];
    int rc = 0;

    Kitchen__Sink__V2__Empty empty = KITCHEN__SINK__V2__EMPTY__INIT;
    rc |= write_seed(&h, dir, &empty.base, 1);

    Kitchen__Sink__V2__Order__Line__Note note = KITCHEN__SINK__V2__ORDER__LINE__NOTE__INIT;
    Kitchen__Sink__V2__Order__Line__Note *notes[] = { &note, &note };
    Kitchen__Sink__V2__Order__Line line = KITCHEN__SINK__V2__ORDER__LINE__INIT;
    Kitchen__Sink__V2__Order__Line *lines[] = { &line };
    Kitchen__Sink__V2__Order__StockEntry stock = KITCHEN__SINK__V2__ORDER__STOCK_ENTRY__INIT;
    Kitchen__Sink__V2__Order__StockEntry *stocks[] = { &stock };
    Kitchen__Sink__V2__Order order = KITCHEN__SINK__V2__ORDER__INIT;
    int64_t ids[] = { 1, 2 };
    char *tags[] = { "a", "" };
    ProtobufCBinaryData blobs[] = { { 2, (uint8_t *)"xy" }, { 0, NULL } };
    note.text = "n";
    line.item = "coffee";
    line.n_notes = 2;
    line.notes = notes;
    stock.key = "beans";
    order.n_lines = 1;
    order.lines = lines;
    order.n_ids = 2;
    order.ids = ids;
    order.n_tags = 2;
    order.tags = tags;
    order.n_blobs = 2;
    order.blobs = blobs;
    order.n_stock = 1;
    order.stock = stocks;
    order.payment_case = KITCHEN__SINK__V2__ORDER__PAYMENT_CARD;
    order.card = "card";
    rc |= write_seed(&h, dir, &order.base, 1);
    order.payment_case = KITCHEN__SINK__V2__ORDER__PAYMENT_CASH;
    order.cash = &empty;
    rc |= write_seed(&h, dir, &order.base, 2);

    Kitchen__Sink__V2__Receipt receipt = KITCHEN__SINK__V2__RECEIPT__INIT;
    receipt.n_lines = 1;
    receipt.lines = lines;
    rc |= write_seed(&h, dir, &receipt.base, 1);

    Legacy__Query query = LEGACY__QUERY__INIT;
    int32_t deltas[] = { -1, 7 };
    query.key = "k";
    query.n_deltas = 2;
    query.deltas = deltas;
    rc |= write_seed(&h, dir, &query.base, 1);

    Mtest__Node leaf = MTEST__NODE__INIT, mid = MTEST__NODE__INIT, top = MTEST__NODE__INIT;
    Mtest__Node *kids[] = { &leaf, &leaf };
    leaf.name = "leaf";
    mid.child = &leaf;
    top.name = "top";
    top.child = &mid;
    top.n_kids = 2;
    top.kids = kids;
    rc |= write_seed(&h, dir, &top.base, 1);

    Mtest__Scalars sc = MTEST__SCALARS__INIT;
    int32_t i32[] = { 1, 2, 3 };
    double db[] = { 0.5 };
    sc.has_i64 = 1;
    sc.i64 = -1;
    sc.n_r_i32 = 3;
    sc.r_i32 = i32;
    sc.n_r_db = 1;
    sc.r_db = db;
    rc |= write_seed(&h, dir, &sc.base, 1);

    Mtest__Big big = MTEST__BIG__INIT;
    char *strs[] = { "s1", "s22" };
    big.title = "t";
    big.root = &leaf;
    big.n_strs = 2;
    big.strs = strs;
    big.n_blobs = 2;
    big.blobs = blobs;
    rc |= write_seed(&h, dir, &big.base, 1);

    Mtest__Choice choice = MTEST__CHOICE__INIT, inner = MTEST__CHOICE__INIT;
    Mtest__Choice *more[] = { &inner };
    inner.pick_case = MTEST__CHOICE__PICK_RAW;
    inner.raw = (ProtobufCBinaryData){ 3, (uint8_t *)"raw" };
    choice.pick_case = MTEST__CHOICE__PICK_NODE;
    choice.node = &leaf;
    choice.n_more = 1;
    choice.more = more;
    rc |= write_seed(&h, dir, &choice.base, 1);

    harness_close(&h);
    return rc ? 1 : 0;
}
