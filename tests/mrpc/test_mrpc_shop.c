/* test_mrpc_shop.c - an online shop's microservice schemas round-trip exactly between two nodes.
 *
 * Two Phoenix services (mrpc_fixture.h: two network namespaces joined by a veth pair when root,
 * loopback otherwise); shop_peer serves protos/shop.proto (proto3: catalogue, carts, checkout)
 * and protos/legacy_inventory.proto (proto2) on the server node; this process calls it through
 * the client node. Each case builds requests from a seeded random generator, from the empty
 * message to a few MiB (many repeated items, long strings, big bytes, deep and wide category
 * trees, maps with many entries, every oneof case, proto2 fields set, unset and at their
 * defaults), predicts each reply locally with the rules shop_peer answers by (shop_rules.h, the
 * same code in both programs), and checks that the reply that crossed two services and the
 * network is deep-equal to the prediction.
 *
 * Deep equality is a walk over the protobuf-c descriptors (equal_msg below): every field, every
 * element of a repeated field and map, the case of every oneof, the presence flags of proto2,
 * nested messages to any depth, floats bit for bit; the first difference is printed with its
 * path ("OrderResult.order.lines[3].product.attributes[1].value: ..."). The protobuf encodings of
 * the two are compared as well. Where shop_peer copies a received message into its reply
 * (mrpc_copy_out: protobuf pack and unpack), the prediction holds the same kind of copy of the
 * request as this process built it.
 *
 * Every loop is bounded in count and time; every process is stopped by PID (the fixture). */
#include "mrpc_fixture.h"
#include "phx_test.h"
#include "shop_rules.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KIB     1024u
#define MIB     (1024u * 1024u)

static struct mrpc_setup up;        /* the nodes, shop_peer (up.peer), our up.ctx and up.conn */

/* ---- fixture ----------------------------------------------------------------------------- */

static bool bring_up(void)
{
    return mrpc_setup_start(&up, "shop", SHOP_PEER);
}

/* Starts the nodes, shop_peer and our side once; a failed start fails every case. */
static void need_nodes(void)
{
    CU_ASSERT_FATAL(mrpc_bring_up_once(bring_up));
}

/* ---- seeded randomness -------------------------------------------------------------------- */

static uint64_t rng;

static void seed(uint64_t s)
{
    rng = s * 0x9e3779b97f4a7c15ull + 1;
}

static uint64_t rnd(void)      /* xorshift64* */
{
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return rng * 0x2545f4914f6cdd1dull;
}

/* 0 .. N-1 (0 when N is 0). */
static size_t below(size_t n)
{
    return n ? (size_t)(rnd() % n) : 0;
}

static bool coin(void)
{
    return rnd() & 1;
}

/* ---- building messages -------------------------------------------------------------------- */

/* Messages are built with shop_rules.h's builders: requests in the send heap, predictions (and
 * the messages of the walker's own case) with malloc. */
static void *sys_alloc(void *data, size_t size)
{
    return malloc(size);
}

static void sys_free(void *data, void *p)
{
    free(p);
}

static ProtobufCAllocator local = { .alloc = sys_alloc, .free = sys_free };

static void out_of_memory(void)
{
    CU_FAIL_FATAL("out of memory to build a message in");
}

static void build_locally(void)
{
    shop_build_with(&local, out_of_memory);
}

static void build_in_send_heap(void)
{
    shop_build_with(mrpc_allocator(up.ctx), out_of_memory);
}

/* MSG (built locally) given back. */
static void free_msg(void *msg)
{
    if (msg)
        protobuf_c_message_free_unpacked(msg, &local);
}

/* Up to MAX bytes of text, some of it multi-byte UTF-8, never cut inside a character. */
static char *rand_text(size_t max)
{
    static const char *const pieces[] = { "a", "b", "Q", "7", " ", "-", "_", ".", "é", "€",
                                          "東京", "ß", "shop", "\t" };
    size_t want = below(max + 1), len = 0;
    char *s = shop_zalloc(want + 1);

    while (len < want) {
        const char *p = pieces[below(sizeof(pieces) / sizeof(pieces[0]))];
        size_t n = strlen(p);
        if (len + n > want)
            p = "z", n = 1;
        memcpy(s + len, p, n);
        len += n;
    }
    return s;
}

static void rand_bytes(ProtobufCBinaryData *b, size_t len)
{
    b->len = len;
    b->data = shop_zalloc(len);
    uint64_t x = rnd();
    for (size_t i = 0; i < len; i++)
        b->data[i] = (uint8_t)((x >> (i % 8 * 8)) + i / 8);
}

static Shop__V1__Money *rand_money(void)
{
    static const char *const currencies[] = { "EUR", "USD", "CHF", "JPY", "" };

    return shop_money(currencies[below(5)], (int64_t)below(1000000), (int32_t)below(SHOP_BILLION));
}

static Shop__V1__Timestamp *rand_timestamp(void)
{
    return shop_timestamp(1500000000 + (int64_t)below(400000000), (int32_t)below(SHOP_BILLION));
}

static Shop__V1__GeoPoint *rand_point(void)
{
    Shop__V1__GeoPoint *g = shop_new(&shop__v1__geo_point__descriptor);

    g->latitude = (double)below(180000000) / 1e6 - 90.0;
    g->longitude = (double)below(360000000) / 1e6 - 180.0;
    return g;
}

/* ---- random shop messages ------------------------------------------------------------------ */

/* Up to MAX elements (below(MAX + 1)) in FIELD of MSG, each EXPR, evaluated once per element in
 * order, and their count in n_FIELD. */
#define RAND_REPEATED(msg, field, max, expr)                                                    \
    do {                                                                                        \
        (msg)->n_##field = below((max) + 1);                                                    \
        (msg)->field = shop_zalloc((msg)->n_##field * sizeof(*(msg)->field));                   \
        for (size_t i_ = 0; i_ < (msg)->n_##field; i_++)                                        \
            (msg)->field[i_] = (expr);                                                          \
    } while (0)

static char **rand_strings(size_t *n, size_t count, size_t max_len)
{
    char **v = shop_zalloc(count * sizeof(char *));

    *n = count;
    for (size_t k = 0; k < count; k++)
        v[k] = rand_text(max_len);
    return v;
}

static Shop__V1__Address *rand_address(void)
{
    Shop__V1__Address *a = shop_new(&shop__v1__address__descriptor);

    a->recipient = rand_text(40);
    a->street_lines = rand_strings(&a->n_street_lines, below(4), 60);
    a->city = rand_text(20);
    a->region = rand_text(20);
    a->postal_code = shop_str("%05u", (unsigned)below(100000));
    a->country_code = shop_str("%c%c", 'A' + (int)below(26), 'A' + (int)below(26));
    a->location = coin() ? rand_point() : NULL;
    return a;
}

static Shop__V1__Product *rand_product(size_t thumb_max)
{
    Shop__V1__Product *p = shop_new(&shop__v1__product__descriptor);

    p->id = shop_str("p-%llu", (unsigned long long)below(1000000000));
    p->name = rand_text(40);
    p->description = rand_text(coin() ? 300 : 4 * KIB);
    p->price = coin() ? rand_money() : NULL;
    p->categories = rand_strings(&p->n_categories, below(6), 20);
    p->n_attributes = below(8);
    p->attributes = shop_zalloc(p->n_attributes * sizeof(*p->attributes));
    for (size_t k = 0; k < p->n_attributes; k++) {
        p->attributes[k] = shop_new(&shop__v1__product__attributes_entry__descriptor);
        p->attributes[k]->key = shop_str("k%zu", k);
        p->attributes[k]->value = rand_text(30);
    }
    rand_bytes(&p->thumbnail, below(thumb_max + 1));
    p->availability = (Shop__V1__Availability)below(4);
    RAND_REPEATED(p, ratings, 5, (float)below(51) / 10.0f);
    p->created_at = coin() ? rand_timestamp() : NULL;
    return p;
}

static Shop__V1__CartItem *rand_item(void)
{
    Shop__V1__CartItem *i = shop_new(&shop__v1__cart_item__descriptor);

    i->product_id = shop_str("p-%llu", (unsigned long long)below(1000000));
    i->quantity = (int32_t)below(100) - 5;
    i->unit_price = coin() ? rand_money() : NULL;
    return i;
}

static Shop__V1__Cart *rand_cart(size_t items)
{
    Shop__V1__Cart *c = shop_new(&shop__v1__cart__descriptor);

    c->user_id = rand_text(16);
    c->n_items = items;
    c->items = shop_zalloc(items * sizeof(*c->items));
    for (size_t k = 0; k < items; k++)
        c->items[k] = rand_item();
    c->updated_at = coin() ? rand_timestamp() : NULL;
    return c;
}

static Shop__V1__TrackingEvent *rand_event(void)
{
    Shop__V1__TrackingEvent *e = shop_new(&shop__v1__tracking_event__descriptor);

    e->at = rand_timestamp();
    e->status = rand_text(12);
    e->where = shop_new(&shop__v1__location__descriptor);
    e->where->facility = rand_text(20);
    e->where->point = rand_point();
    return e;
}

/* Fulfilment > Shipment > Parcel > TrackingEvent > Location > GeoPoint, N wide at each level. */
static Shop__V1__Fulfilment *rand_fulfilment(size_t n)
{
    Shop__V1__Fulfilment *f = shop_new(&shop__v1__fulfilment__descriptor);

    f->n_shipments = below(n + 1);
    f->shipments = shop_zalloc(f->n_shipments * sizeof(*f->shipments));
    for (size_t s = 0; s < f->n_shipments; s++) {
        Shop__V1__Shipment *sh = f->shipments[s] = shop_new(&shop__v1__shipment__descriptor);
        sh->carrier = rand_text(10);
        sh->destination = coin() ? rand_address() : NULL;
        sh->n_parcels = below(n + 1);
        sh->parcels = shop_zalloc(sh->n_parcels * sizeof(*sh->parcels));
        for (size_t p = 0; p < sh->n_parcels; p++) {
            Shop__V1__Parcel *pa = sh->parcels[p] = shop_new(&shop__v1__parcel__descriptor);
            pa->parcel_id = shop_str("parcel-%zu-%zu", s, p);
            pa->weight_grams = (uint32_t)below(50000);
            RAND_REPEATED(pa, events, n, rand_event());
        }
    }
    f->promised_by = rand_timestamp();
    return f;
}

static Shop__V1__OrderLine *rand_line(size_t thumb_max)
{
    Shop__V1__OrderLine *l = shop_new(&shop__v1__order_line__descriptor);

    l->product = below(8) ? rand_product(thumb_max) : NULL;
    l->quantity = 1 + (uint32_t)below(20);
    l->line_total = rand_money();
    l->notes = rand_strings(&l->n_notes, below(3), 50);
    return l;
}

static void rand_payment(Shop__V1__Order *o, unsigned which)
{
    switch (which % 6) {
    case 0:
        break;                                  /* not set */
    case 1:
        o->payment_case = SHOP__V1__ORDER__PAYMENT_CARD;
        o->card = shop_new(&shop__v1__card__descriptor);
        o->card->holder = rand_text(30);
        o->card->number = shop_str("4%015llu", (unsigned long long)below(1000000000000000ull));
        o->card->expiry_month = 1 + (uint32_t)below(12);
        o->card->expiry_year = 2024 + (uint32_t)below(10);
        rand_bytes(&o->card->token, below(64));
        break;
    case 2:
        o->payment_case = SHOP__V1__ORDER__PAYMENT_VOUCHER;
        o->voucher = rand_text(20);
        break;
    case 3:
        o->payment_case = SHOP__V1__ORDER__PAYMENT_GIFT_CARD;
        o->gift_card = shop_new(&shop__v1__gift_card__descriptor);
        o->gift_card->code = rand_text(16);
        o->gift_card->balance = coin() ? rand_money() : NULL;
        break;
    case 4:
        o->payment_case = SHOP__V1__ORDER__PAYMENT_STORE_CREDIT_ACCOUNT;
        o->store_credit_account = coin() ? rnd() : 0;
        break;
    default:
        o->payment_case = SHOP__V1__ORDER__PAYMENT_VOUCHER;
        o->voucher = shop_str("%s", "");                   /* an empty string, still the chosen case */
    }
}

/* The packed repeated scalars of ORDER, up to N of each. */
static void rand_scalars(Shop__V1__Order *o, size_t n)
{
    RAND_REPEATED(o, coupon_ids, n, rnd());
    RAND_REPEATED(o, adjustments, n, (int32_t)(uint32_t)rnd());
    RAND_REPEATED(o, weights_kg, n, (float)below(1000000) / 1000.0f);
    RAND_REPEATED(o, gift_wrap, n, coin());
    RAND_REPEATED(o, warehouse_ids, n, (uint32_t)rnd());
}

/* An order of LINES lines (thumbnails up to THUMB_MAX bytes), paid the WHICH way. */
static Shop__V1__Order *rand_order(size_t lines, size_t thumb_max, unsigned which)
{
    Shop__V1__Order *o = shop_new(&shop__v1__order__descriptor);

    o->order_id = shop_str("o-%llu", (unsigned long long)rnd());
    o->user_id = rand_text(16);
    o->n_lines = lines;
    o->lines = shop_zalloc(lines * sizeof(*o->lines));
    for (size_t k = 0; k < lines; k++)
        o->lines[k] = rand_line(thumb_max);
    o->shipping = rand_address();
    o->billing = coin() ? rand_address() : NULL;
    o->n_charges = below(lines + 3);
    o->charges = shop_zalloc(o->n_charges * sizeof(*o->charges));
    for (size_t k = 0; k < o->n_charges; k++) {
        o->charges[k] = shop_new(&shop__v1__order__charges_entry__descriptor);
        o->charges[k]->key = shop_str("charge-%zu", k);
        o->charges[k]->value = below(10) ? rand_money() : NULL;
    }
    rand_payment(o, which);
    rand_scalars(o, lines * 4);
    o->placed_at = rand_timestamp();
    o->fulfilment = coin() ? rand_fulfilment(2 + lines / 100) : NULL;
    o->express = coin() ? shop_new(&shop__v1__nothing__descriptor) : NULL;
    o->loyalty_delta = (int64_t)rnd();
    o->tax_rate = (double)below(3000) / 100.0;
    return o;
}

/* A tree of up to *BUDGET nodes, at most DEPTH levels, FANOUT children per node at most. */
static Shop__V1__Category *rand_category(const char *id, unsigned depth, unsigned fanout,
                                         size_t *budget)
{
    Shop__V1__Category *c = shop_new(&shop__v1__category__descriptor);

    (*budget)--;
    c->id = shop_str("%s", id);
    c->name = rand_text(24);
    c->n_labels = below(4);
    c->labels = shop_zalloc(c->n_labels * sizeof(*c->labels));
    for (size_t k = 0; k < c->n_labels; k++) {
        c->labels[k] = shop_new(&shop__v1__category__labels_entry__descriptor);
        c->labels[k]->key = shop_str("l%zu", k);
        c->labels[k]->value = rand_text(12);
    }
    c->product_count = (uint32_t)rnd();
    size_t n = depth > 1 ? below(fanout + 1) : 0;
    n = n < *budget ? n : *budget;
    c->children = shop_zalloc(n * sizeof(*c->children));
    for (size_t k = 0; k < n && *budget > 0; k++) {
        char child[32];
        snprintf(child, sizeof(child), "%.20s.%zu", id, k);
        c->children[c->n_children++] = rand_category(child, depth - 1, fanout, budget);
    }
    return c;
}

/* A chain of N categories, each the only child of the one before. */
static Shop__V1__Category *category_chain(unsigned n)
{
    Shop__V1__Category *c = shop_new(&shop__v1__category__descriptor);

    c->id = shop_str("chain-%u", n);
    c->name = shop_str("level %u from the bottom", n);
    if (n > 1) {
        c->n_children = 1;
        c->children = shop_zalloc(sizeof(*c->children));
        c->children[0] = category_chain(n - 1);
    }
    return c;
}

/* ---- legacy inventory (proto2) ------------------------------------------------------------- */

/* A random bin: each optional field set or not, the zone at its default, NULL or set. (Never set
 * to the text of its default: that arrives unset, as docs/marshalling.md says.) */
static Legacy__Inventory__Bin *rand_bin(void)
{
    Legacy__Inventory__Bin *b = shop_new(&legacy__inventory__bin__descriptor);

    b->code = rand_text(12);
    if ((b->has_shelf = coin()))
        b->shelf = (uint32_t)rnd();
    unsigned zone = (unsigned)below(3);
    b->zone = zone == 0 ? b->zone : zone == 1 ? NULL : rand_text(9);    /* no 'g' in it */
    if ((b->has_label = coin()))
        rand_bytes(&b->label, below(40));
    if ((b->has_temperature = coin()))
        b->temperature = (double)below(1000) / 8.0 - 60.0;
    if ((b->has_state = coin()))
        b->state = (Legacy__Inventory__StockState)below(4);
    if ((b->has_offset = coin()))
        b->offset = (int32_t)(uint32_t)rnd();
    if ((b->has_fragile = coin()))
        b->fragile = coin();
    if (coin()) {
        b->size = shop_new(&legacy__inventory__bin__dimensions__descriptor);
        b->size->width = (float)below(1000) / 4.0f;
        b->size->height = (float)below(1000) / 4.0f;
        if ((b->size->has_depth = coin()))
            b->size->depth = (float)below(1000) / 4.0f;
    }
    RAND_REPEATED(b, serials, 19, (int64_t)rnd());
    b->aliases = rand_strings(&b->n_aliases, below(3), 10);
    if ((b->has_checksum = coin()))
        b->checksum = (uint32_t)rnd();
    return b;
}

/* A random record with up to BINS bins, superseded by a chain of up to CHAIN older records. */
static Legacy__Inventory__StockRecord *rand_record(size_t bins, unsigned chain)
{
    Legacy__Inventory__StockRecord *r = shop_new(&legacy__inventory__stock_record__descriptor);

    r->sku = shop_str("SKU-%06u", (unsigned)below(1000000));
    r->on_hand = (int32_t)(uint32_t)rnd();
    if ((r->has_reserved = coin()))
        r->reserved = (int32_t)below(100);
    r->n_bins = below(bins + 1);
    r->bins = shop_zalloc(r->n_bins * sizeof(*r->bins));
    for (size_t k = 0; k < r->n_bins; k++)
        r->bins[k] = rand_bin();
    r->superseded_by = chain && coin() ? rand_record(bins / 2, chain - 1) : NULL;
    unsigned origin = (unsigned)below(3);
    if (origin == 1) {
        r->origin_case = LEGACY__INVENTORY__STOCK_RECORD__ORIGIN_SUPPLIER;
        r->supplier = rand_text(20);
    } else if (origin == 2) {
        r->origin_case = LEGACY__INVENTORY__STOCK_RECORD__ORIGIN_BATCH;
        r->batch = coin() ? rnd() : 0;
    }
    RAND_REPEATED(r, history, 7, (Legacy__Inventory__StockState)below(4));
    return r;
}

/* ---- deep equality ------------------------------------------------------------------------- */

static char path[2048];             /* where the walk is: "OrderResult.order.lines[3]" */
static size_t path_len;
static char first_diff[2600];       /* the first difference found, with its path */

static size_t push(const char *fmt, ...)
{
    size_t mark = path_len;
    va_list ap;

    va_start(ap, fmt);
    int n = vsnprintf(path + path_len, sizeof(path) - path_len, fmt, ap);
    va_end(ap);
    if (n > 0)
        path_len = path_len + (size_t)n < sizeof(path) ? path_len + (size_t)n : sizeof(path) - 1;
    return mark;
}

static void pop(size_t mark)
{
    path_len = mark;
    path[mark] = '\0';
}

static bool differ(const char *fmt, ...)
{
    char what[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    snprintf(first_diff, sizeof(first_diff), "%s: %s", path, what);
    return false;
}

static size_t elem_size(ProtobufCType type)
{
    switch (type) {
    case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64: case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64: case PROTOBUF_C_TYPE_FIXED64: case PROTOBUF_C_TYPE_DOUBLE:
        return 8;
    case PROTOBUF_C_TYPE_BOOL:
        return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_STRING: case PROTOBUF_C_TYPE_MESSAGE:
        return sizeof(void *);
    case PROTOBUF_C_TYPE_BYTES:
        return sizeof(ProtobufCBinaryData);
    default:
        return 4;       /* int32, sint32, sfixed32, uint32, fixed32, float, enum */
    }
}

static bool equal_msg(const ProtobufCMessage *want, const ProtobufCMessage *got);

static bool equal_string(const char *want, const char *got)
{
    if (!want || !got)
        return want == got ? true : differ("%s, want %s", got ? "a string" : "NULL",
                                           want ? "a string" : "NULL");
    size_t i = 0;
    while (want[i] && want[i] == got[i])
        i++;
    if (want[i] == got[i])
        return true;
    return differ("\"%.40s\" (%zu bytes), want \"%.40s\" (%zu bytes); first difference at %zu",
                  got, strlen(got), want, strlen(want), i);
}

static bool equal_bytes(const ProtobufCBinaryData *want, const ProtobufCBinaryData *got)
{
    if (want->len != got->len)
        return differ("%zu bytes, want %zu", got->len, want->len);
    for (size_t i = 0; i < want->len; i++)
        if (want->data[i] != got->data[i])
            return differ("byte %zu of %zu is %#x, want %#x", i, want->len, got->data[i],
                          want->data[i]);
    return true;
}

/* One value of field F's type at A (wanted) and B (got). */
static bool equal_value(const ProtobufCFieldDescriptor *f, const void *a, const void *b)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING:
        return equal_string(*(char *const *)a, *(char *const *)b);
    case PROTOBUF_C_TYPE_BYTES:
        return equal_bytes(a, b);
    case PROTOBUF_C_TYPE_MESSAGE: {
        const ProtobufCMessage *ma = *(ProtobufCMessage *const *)a;
        const ProtobufCMessage *mb = *(ProtobufCMessage *const *)b;
        if (!ma || !mb)
            return ma == mb ? true : differ("%s, want %s", mb ? "a message" : "NULL",
                                            ma ? "a message" : "NULL");
        return equal_msg(ma, mb);
    }
    case PROTOBUF_C_TYPE_FLOAT:
        return !memcmp(a, b, 4) ? true : differ("%.9g, want %.9g", *(const float *)b,
                                                *(const float *)a);
    case PROTOBUF_C_TYPE_DOUBLE:
        return !memcmp(a, b, 8) ? true : differ("%.17g, want %.17g", *(const double *)b,
                                                *(const double *)a);
    default: {
        size_t n = elem_size(f->type);
        uint64_t va = 0, vb = 0;
        memcpy(&va, a, n);
        memcpy(&vb, b, n);
        return va == vb ? true : differ("%#llx, want %#llx", (unsigned long long)vb,
                                        (unsigned long long)va);
    }
    }
}

static bool equal_repeated(const ProtobufCFieldDescriptor *f, const char *a, const char *b)
{
    size_t na = *(const size_t *)(a + f->quantifier_offset);
    size_t nb = *(const size_t *)(b + f->quantifier_offset);
    const char *va = *(char *const *)(a + f->offset), *vb = *(char *const *)(b + f->offset);
    size_t size = elem_size(f->type);

    if (na != nb)
        return differ("%zu elements, want %zu", nb, na);
    for (size_t i = 0; i < na; i++) {
        size_t mark = push("[%zu]", i);
        bool ok = equal_value(f, va + i * size, vb + i * size);
        pop(mark);
        if (!ok)
            return false;
    }
    return true;
}

/* A proto2 optional field with a has_ flag (strings and messages have none: NULL is absent). */
static bool has_flag(const ProtobufCFieldDescriptor *f)
{
    return f->label == PROTOBUF_C_LABEL_OPTIONAL && f->type != PROTOBUF_C_TYPE_STRING &&
           f->type != PROTOBUF_C_TYPE_MESSAGE;
}

/* A proto2 optional string is set when it is neither NULL nor its default's address. */
static bool string_set(const ProtobufCFieldDescriptor *f, const char *base)
{
    const char *s = *(char *const *)(base + f->offset);

    return s && s != f->default_value;
}

/* The member of a oneof of D whose id is CASE_ID, by name. */
static const char *case_name(const ProtobufCMessageDescriptor *d, uint32_t case_id)
{
    const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field(d, case_id);

    return case_id == 0 ? "not set" : f ? f->name : "no member";
}

static bool equal_field(const ProtobufCMessageDescriptor *d, const ProtobufCFieldDescriptor *f,
                        const char *a, const char *b)
{
    if (f->label == PROTOBUF_C_LABEL_REPEATED)
        return equal_repeated(f, a, b);
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
        uint32_t ca = *(const uint32_t *)(a + f->quantifier_offset);
        uint32_t cb = *(const uint32_t *)(b + f->quantifier_offset);
        if (ca != cb)
            return differ("the oneof's case is %s (%u), want %s (%u)", case_name(d, cb), cb,
                          case_name(d, ca), ca);
        if (ca != f->id)
            return true;
    } else if (has_flag(f)) {
        protobuf_c_boolean ha = *(const protobuf_c_boolean *)(a + f->quantifier_offset);
        protobuf_c_boolean hb = *(const protobuf_c_boolean *)(b + f->quantifier_offset);
        if (ha != hb)
            return differ("has_%s %d, want %d", f->name, hb, ha);
        if (!ha)
            return true;
    } else if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->type == PROTOBUF_C_TYPE_STRING &&
               string_set(f, a) != string_set(f, b)) {
        return differ("%s, want %s", string_set(f, b) ? "set" : "unset",
                      string_set(f, a) ? "set" : "unset");
    }
    return equal_value(f, a + f->offset, b + f->offset);
}

static bool equal_msg(const ProtobufCMessage *want, const ProtobufCMessage *got)
{
    const ProtobufCMessageDescriptor *d = want->descriptor;

    if (got->descriptor != d)
        return differ("a message with descriptor %p, want %s's (%p)", (void *)got->descriptor,
                      d->name, (void *)d);
    if (got->n_unknown_fields != want->n_unknown_fields)
        return differ("%u unknown fields, want %u", got->n_unknown_fields,
                      want->n_unknown_fields);
    for (unsigned i = 0; i < d->n_fields; i++) {
        size_t mark = push(".%s", d->fields[i].name);
        bool ok = equal_field(d, &d->fields[i], (const char *)want, (const char *)got);
        pop(mark);
        if (!ok)
            return false;
    }
    return true;
}

static bool same_encoding(const ProtobufCMessage *want, const ProtobufCMessage *got)
{
    size_t len = protobuf_c_message_get_packed_size(want);

    if (protobuf_c_message_get_packed_size(got) != len)
        return false;
    uint8_t *a = malloc(len + 1), *b = malloc(len + 1);
    bool same = a && b && protobuf_c_message_pack(want, a) == len &&
                protobuf_c_message_pack(got, b) == len && memcmp(a, b, len) == 0;
    free(a);
    free(b);
    return same;
}

/* The walk from the top: true when equal, else first_diff says where they differ. */
static bool walk_equal(const ProtobufCMessage *want, const ProtobufCMessage *got)
{
    path_len = 0;
    push("%s", want->descriptor->short_name);
    return equal_msg(want, got);
}

/* True when GOT deep-equals WANT; else prints the first difference, after WHAT. */
static bool deep_equal(const ProtobufCMessage *want, const ProtobufCMessage *got,
                       const char *what)
{
    if (!walk_equal(want, got)) {
        printf("\n    %s: %s\n", what, first_diff);
        return false;
    }
    if (!same_encoding(want, got)) {
        printf("\n    %s: deep-equal, but its protobuf encoding differs\n", what);
        return false;
    }
    return true;
}

/* ---- calls --------------------------------------------------------------------------------- */

/* The method NAME of service SVC. */
static const mrpc_method_desc_t *method(const mrpc_service_desc_t *svc, const char *name)
{
    for (unsigned i = 0; i < svc->n_methods; i++)
        if (!strcmp(svc->methods[i].name, name))
            return &svc->methods[i];
    CU_FAIL_FATAL("no such method");
    return NULL;
}

#define CATALOG(m)   method(&shop__v1__catalog_service__service, m)
#define CART(m)      method(&shop__v1__cart_service__service, m)
#define CHECKOUT(m)  method(&shop__v1__checkout_service__service, m)
#define INVENTORY(m) method(&legacy__inventory__inventory_service__service, m)

static struct {
    unsigned calls, wrong, failed;
    size_t   request_bytes, reply_bytes;    /* protobuf sizes, for the record */
} tally;

/* The reply REQ should get, predicted with RULE (in malloc'd memory). */
static ProtobufCMessage *predict(const void *req, shop_rule_fn *rule)
{
    build_locally();
    ProtobufCMessage *want = rule(req);
    build_in_send_heap();
    tally.request_bytes += protobuf_c_message_get_packed_size(req);
    tally.reply_bytes += protobuf_c_message_get_packed_size(want);
    return want;
}

/* Each call's deadline: generous for a few MiB over tcp, short enough to end a case in time
 * when the server has stopped answering. */
static const mrpc_call_opts_t opts = { .field_mask = MRPC_CALL_OPT_FIELD_TIMEOUT,
                                       .timeout_ms = 20000 };

/* Calls M with REQ (built in the send heap) and checks the reply deep-equals RULE's. A call
 * that ends DEADLINE_EXCEEDED or UNAVAILABLE ends the case: the server may have stopped
 * answering, and the calls after it would only wait for their deadlines. */
static void check_call(const mrpc_method_desc_t *m, void *req, shop_rule_fn *rule)
{
    ProtobufCMessage *want = predict(req, rule);
    const ProtobufCMessage *reply = NULL;
    char what[96];

    snprintf(what, sizeof(what), "%s (call %u, seed state %#llx)", m->full_name, tally.calls,
             (unsigned long long)rng);
    mrpc_status_t st = mrpc_call(up.conn, m, req, &reply, &opts);
    tally.calls++;
    if (st.code == PHX_OK && !deep_equal(want, reply, what))
        tally.wrong++;
    if (reply)
        mrpc_release(up.ctx, reply);
    free_msg(want);
    if (st.code == PHX_OK)
        return;
    if (tally.failed++ < 5)
        printf("\n    %s: %s: %s\n", what, phx_status_name(st.code), st.message);
    if (st.code == PHX_DEADLINE_EXCEEDED || st.code == PHX_UNAVAILABLE)
        CU_FAIL_FATAL("a call got no answer");
}

/* Resets the tally and points the builders at the send heap; SEED makes the case repeatable. */
static void begin(uint64_t s)
{
    need_nodes();
    seed(s);
    memset(&tally, 0, sizeof(tally));
    build_in_send_heap();
}

static void end(void)
{
    printf("(%u calls, %.1f MiB out, %.1f MiB back) ", tally.calls,
           tally.request_bytes / (double)MIB, tally.reply_bytes / (double)MIB);
    CU_ASSERT_EQUAL(tally.failed, 0);
    CU_ASSERT_EQUAL(tally.wrong, 0);
}

/* ---- cases --------------------------------------------------------------------------------- */

static bool has_event(const Shop__V1__Order *o)
{
    return o->n_lines == 3 && o->fulfilment && o->fulfilment->n_shipments &&
           o->fulfilment->shipments[0]->n_parcels &&
           o->fulfilment->shipments[0]->parcels[0]->n_events;
}

/* The walker sees what it should: a copy is equal, and one changed leaf deep down, a oneof case,
 * an element and a proto2 presence flag are each a difference, named by its path. */
static void test_walker_finds_differences(void)
{
    seed(1);
    build_locally();
    Shop__V1__Order *a = rand_order(3, 100, 1);
    for (unsigned tries = 0; tries < 1000 && !has_event(a); tries++) {
        free_msg(a);
        a = rand_order(3, 100, 1);
    }
    CU_ASSERT_FATAL(has_event(a));
    Shop__V1__Order *b = shop_copy(a);
    CU_ASSERT(deep_equal(&a->base, &b->base, "a copy"));

    double *lat = &b->fulfilment->shipments[0]->parcels[0]->events[0]->where->point->latitude;
    *lat += 1e-9;
    CU_ASSERT_FALSE(walk_equal(&a->base, &b->base));
    CU_ASSERT_PTR_NOT_NULL(strstr(first_diff, "Order.fulfilment.shipments[0].parcels[0]"
                                              ".events[0].where.point.latitude: "));
    *lat -= 1e-9;
    b->payment_case = SHOP__V1__ORDER__PAYMENT_STORE_CREDIT_ACCOUNT;
    CU_ASSERT_FALSE(walk_equal(&a->base, &b->base));
    CU_ASSERT_PTR_NOT_NULL(strstr(first_diff, "Order.card: the oneof's case is "
                                              "store_credit_account (10), want card (7)"));
    b->payment_case = SHOP__V1__ORDER__PAYMENT_CARD;
    b->lines[2]->quantity++;
    CU_ASSERT_FALSE(walk_equal(&a->base, &b->base));
    CU_ASSERT_PTR_NOT_NULL(strstr(first_diff, "Order.lines[2].quantity: "));
    b->lines[2]->quantity--;
    CU_ASSERT(deep_equal(&a->base, &b->base, "the copy, restored"));
    free_msg(a);
    free_msg(b);

    Legacy__Inventory__Bin *bin = rand_bin(), *other = shop_copy(bin);
    other->has_shelf = !other->has_shelf;
    CU_ASSERT_FALSE(walk_equal(&bin->base, &other->base));
    CU_ASSERT_PTR_NOT_NULL(strstr(first_diff, "Bin.shelf: has_shelf "));
    free_msg(bin);
    free_msg(other);
}

static void test_catalog(void)
{
    static const uint32_t thumbs[] = { 0, 1, 100, 4096, 65536, MIB, 3 * MIB };

    begin(2);
    for (unsigned i = 0; i < 120; i++) {
        Shop__V1__GetProductRequest *req = shop_new(&shop__v1__get_product_request__descriptor);
        req->id = i % 10 == 0 ? shop_str("%s", "") : i % 10 == 1 ? rand_text(16 * KIB) : rand_text(24);
        req->thumbnail_size = thumbs[i % 7] + (uint32_t)(i % 3);
        check_call(CATALOG("GetProduct"), req, shop_rule_get_product);
    }
    for (unsigned i = 0; i < 30; i++) {
        Shop__V1__ListProductsRequest *req =
            shop_new(&shop__v1__list_products_request__descriptor);
        req->category = rand_text(20);
        req->page_size = i < 3 ? i : (uint32_t)below(i < 27 ? 200 : 5000);
        req->page = (uint32_t)below(1000);
        check_call(CATALOG("ListProducts"), req, shop_rule_list_products);
    }
    end();
}

static void test_category_trees(void)
{
    static const unsigned shapes[][2] = {    /* depth, fanout */
        { 0, 0 }, { 1, 9 }, { 2, 0 }, { 2, 200 }, { 3, 12 }, { 5, 4 }, { 7, 3 }, { 6, 5 },
        { 40, 1 }, { 64, 1 },   /* the last level's label entries 64 below the top: the limit */
    };

    begin(3);
    for (unsigned i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
        Shop__V1__CategoryTreeRequest *req =
            shop_new(&shop__v1__category_tree_request__descriptor);
        req->root_id = shop_str("root%u", i);
        req->depth = shapes[i][0];
        req->fanout = shapes[i][1];
        check_call(CATALOG("GetCategoryTree"), req, shop_rule_get_category_tree);
    }
    for (unsigned i = 0; i < 60; i++) {
        size_t budget = i % 10 == 9 ? 20000 : 1 + below(500);
        Shop__V1__Category *tree = rand_category("r", 1 + (unsigned)below(12),
                                                 1 + (unsigned)below(8), &budget);
        check_call(CATALOG("SummarizeCategories"), tree, shop_rule_summarize_categories);
    }
    check_call(CATALOG("SummarizeCategories"), category_chain(1), shop_rule_summarize_categories);
    check_call(CATALOG("SummarizeCategories"), category_chain(64), shop_rule_summarize_categories);
    end();
}

static void test_carts(void)
{
    static const size_t sizes[] = { 0, 1, 5, 50, 500, 5000, 40000 };

    begin(4);
    for (unsigned i = 0; i < 70; i++) {
        Shop__V1__AddItemRequest *req = shop_new(&shop__v1__add_item_request__descriptor);
        req->cart = i % 9 == 0 ? NULL : rand_cart(sizes[i % 7]);
        req->item = i % 5 == 0 ? NULL : rand_item();
        req->now = i % 4 == 0 ? NULL : rand_timestamp();
        check_call(CART("AddItem"), req, shop_rule_add_item);
    }
    for (unsigned i = 0; i < 40; i++) {
        Shop__V1__MergeCartsRequest *req = shop_new(&shop__v1__merge_carts_request__descriptor);
        req->user_id = rand_text(30);
        req->n_carts = i < 2 ? i : below(i % 8 == 7 ? 40 : 6);
        req->carts = shop_zalloc(req->n_carts * sizeof(*req->carts));
        for (size_t k = 0; k < req->n_carts; k++)
            req->carts[k] = rand_cart(below(i % 8 == 7 ? 400 : 30));
        check_call(CART("MergeCarts"), req, shop_rule_merge_carts);
    }
    for (unsigned i = 0; i < 20; i++) {
        Shop__V1__EmptyCartRequest *req = shop_new(&shop__v1__empty_cart_request__descriptor);
        req->user_id = rand_text(i * 100);
        check_call(CART("EmptyCart"), req, shop_rule_empty_cart);
    }
    end();
}

static Shop__V1__PlaceOrderRequest *order_request(size_t lines, size_t thumb_max, unsigned pay)
{
    Shop__V1__PlaceOrderRequest *req = shop_new(&shop__v1__place_order_request__descriptor);

    req->order = rand_order(lines, thumb_max, pay);
    req->idempotency_key = shop_str("idem-%llx", (unsigned long long)rnd());
    req->n_metadata = below(lines + 2);
    req->metadata = shop_zalloc(req->n_metadata * sizeof(*req->metadata));
    for (size_t k = 0; k < req->n_metadata; k++) {
        req->metadata[k] = shop_new(&shop__v1__place_order_request__metadata_entry__descriptor);
        req->metadata[k]->key = shop_str("m%zu", k);
        req->metadata[k]->value = rand_text(64);
    }
    return req;
}

static void test_checkout(void)
{
    static const size_t lines[] = { 0, 1, 3, 10, 40, 200, 1000, 3000 };

    begin(5);
    Shop__V1__PlaceOrderRequest *bare = shop_new(&shop__v1__place_order_request__descriptor);
    bare->idempotency_key = shop_str("%s", "");
    check_call(CHECKOUT("PlaceOrder"), bare, shop_rule_place_order);       /* no order at all */
    bare = shop_new(&shop__v1__place_order_request__descriptor);
    bare->order = shop_new(&shop__v1__order__descriptor);                 /* an empty order */
    check_call(CHECKOUT("PlaceOrder"), bare, shop_rule_place_order);
    for (unsigned i = 0; i < 96; i++) {
        size_t n = lines[i % 8];
        check_call(CHECKOUT("PlaceOrder"), order_request(n, n >= 1000 ? 256 : 8 * KIB, i % 6),
                   shop_rule_place_order);
    }
    check_call(CHECKOUT("PlaceOrder"), order_request(4, 2 * MIB, 1), shop_rule_place_order);
    for (unsigned i = 0; i < 40; i++) {
        Shop__V1__ShippingQuoteRequest *req =
            shop_new(&shop__v1__shipping_quote_request__descriptor);
        req->destination = i % 7 == 0 ? NULL : rand_address();
        req->n_items = below(i % 10 == 9 ? 3000 : 12);
        req->items = shop_zalloc(req->n_items * sizeof(*req->items));
        for (size_t k = 0; k < req->n_items; k++)
            req->items[k] = rand_item();
        check_call(CHECKOUT("QuoteShipping"), req, shop_rule_quote_shipping);
    }
    end();
}

static void test_legacy_inventory(void)
{
    begin(6);
    for (unsigned i = 0; i < 50; i++) {
        Legacy__Inventory__StockQuery *req = shop_new(&legacy__inventory__stock_query__descriptor);
        req->n_skus = i % 10 == 9 ? 2000 + below(2000) : below(40);
        req->skus = shop_zalloc(req->n_skus * sizeof(char *));
        for (size_t k = 0; k < req->n_skus; k++)
            req->skus[k] = shop_str("SKU-%zu-%u", k, i);
        if ((req->has_max_bins = i % 3 != 0))       /* unset: the default, 16 */
            req->max_bins = (uint32_t)below(7);
        if ((req->has_include_empty = i % 4 != 0))
            req->include_empty = coin();
        check_call(INVENTORY("Lookup"), req, shop_rule_lookup);
    }
    for (unsigned i = 0; i < 50; i++) {
        Legacy__Inventory__StockReport *req =
            shop_new(&legacy__inventory__stock_report__descriptor);
        req->n_records = i == 0 ? 0 : below(i % 10 == 9 ? 3000 : 30);
        req->records = shop_zalloc(req->n_records * sizeof(*req->records));
        for (size_t k = 0; k < req->n_records; k++)
            req->records[k] = rand_record(8, 4);
        req->generated_at = rnd();
        if (i % 3 == 1)
            req->warehouse = NULL;                  /* else the default, or a name */
        else if (i % 3 == 2)
            req->warehouse = rand_text(20);
        check_call(INVENTORY("Reconcile"), req, shop_rule_reconcile);
    }
    end();
}

/* ---- many calls outstanding ---------------------------------------------------------------- */

#define OUTSTANDING 600u

struct pending {
    ProtobufCMessage *want;
    char              what[64];
    bool              done;
};

static struct {
    struct pending calls[OUTSTANDING];
    unsigned       done, ok, right;
} async;

static void async_done(mrpc_ctx_t *ctx, void *token, const mrpc_status_t *st,
                       const ProtobufCMessage *reply)
{
    struct pending *p = token;

    if (p->done)
        printf("\n    %s completed twice\n", p->what);
    p->done = true;
    async.done++;
    if (st->code == PHX_OK) {
        async.ok++;
        if (deep_equal(p->want, reply, p->what))
            async.right++;
    } else if (async.done - async.ok == 1) {
        printf("\n    %s: %s: %s\n", p->what, phx_status_name(st->code), st->message);
    }
    if (reply)
        mrpc_release(up.ctx, reply);
}

/* Request I of the mix: every service, mostly small, some of them large. */
static void *mixed_request(unsigned i, const mrpc_method_desc_t **m, shop_rule_fn **rule)
{
    switch (i % 5) {
    case 0:
        *m = CHECKOUT("PlaceOrder"), *rule = shop_rule_place_order;
        return order_request(i % 50 == 0 ? 300 : below(6), 2 * KIB, i);
    case 1: {
        Shop__V1__GetProductRequest *req = shop_new(&shop__v1__get_product_request__descriptor);
        *m = CATALOG("GetProduct"), *rule = shop_rule_get_product;
        req->id = shop_str("async-%u", i);
        req->thumbnail_size = i % 100 == 1 ? MIB : (uint32_t)below(2000);
        return req;
    }
    case 2: {
        Shop__V1__AddItemRequest *req = shop_new(&shop__v1__add_item_request__descriptor);
        *m = CART("AddItem"), *rule = shop_rule_add_item;
        req->cart = rand_cart(below(20));
        req->item = rand_item();
        req->now = rand_timestamp();
        return req;
    }
    case 3: {
        size_t budget = 1 + below(100);
        *m = CATALOG("SummarizeCategories"), *rule = shop_rule_summarize_categories;
        return rand_category("a", 1 + (unsigned)below(6), 1 + (unsigned)below(4), &budget);
    }
    default: {
        Legacy__Inventory__StockReport *req =
            shop_new(&legacy__inventory__stock_report__descriptor);
        *m = INVENTORY("Reconcile"), *rule = shop_rule_reconcile;
        req->n_records = below(5);
        req->records = shop_zalloc(req->n_records * sizeof(*req->records));
        for (size_t k = 0; k < req->n_records; k++)
            req->records[k] = rand_record(4, 2);
        return req;
    }
    }
}

static void test_many_outstanding(void)
{
    begin(7);
    memset(&async, 0, sizeof(async));
    for (unsigned i = 0; i < OUTSTANDING; i++) {
        const mrpc_method_desc_t *m;
        shop_rule_fn *rule;
        void *req = mixed_request(i, &m, &rule);
        struct pending *p = &async.calls[i];
        p->want = predict(req, rule);
        snprintf(p->what, sizeof(p->what), "%s (async %u)", m->full_name, i);
        CU_ASSERT_EQUAL_FATAL(mrpc_call_async(up.conn, m, req, async_done, p, &opts).code, PHX_OK);
        tally.calls++;
    }
    unsigned long long deadline = phx_test_now_ns() + 120 * PHX_NS;
    while (async.done < OUTSTANDING && phx_test_now_ns() < deadline)
        CU_ASSERT_FATAL(mrpc_ctx_progress(up.ctx, 100) >= 0);
    CU_ASSERT_EQUAL(async.done, OUTSTANDING);
    CU_ASSERT_EQUAL(async.ok, OUTSTANDING);
    CU_ASSERT_EQUAL(async.right, OUTSTANDING);
    for (unsigned i = 0; i < OUTSTANDING; i++)
        free_msg(async.calls[i].want);
    end();
}

/* Nesting past the services' limit (64 levels below the top) is refused with INVALID_ARGUMENT
 * before it leaves this node, and the connection serves on. */
static void test_too_deep(void)
{
    const ProtobufCMessage *reply = NULL;

    begin(8);
    mrpc_status_t st = mrpc_call(up.conn, CATALOG("SummarizeCategories"), &category_chain(66)->base,
                                 &reply, &opts);
    CU_ASSERT_EQUAL(st.code, PHX_INVALID_ARGUMENT);
    CU_ASSERT_PTR_NULL(reply);
    if (reply)
        mrpc_release(up.ctx, reply);
    check_call(CATALOG("SummarizeCategories"), category_chain(3), shop_rule_summarize_categories);
    end();
}

static const phx_test_case_t cases[] = {
    { "the deep-equality check finds a changed leaf", test_walker_finds_differences },
    { "catalog: products and pages from 0 B to 3 MiB", test_catalog },
    { "catalog: category trees, wide and 64 levels deep", test_category_trees },
    { "carts: add, merge, empty", test_carts },
    { "checkout: orders of every payment, up to 3000 lines", test_checkout },
    { "legacy inventory (proto2): defaults, presence, recursion", test_legacy_inventory },
    { "600 calls of every service outstanding at once", test_many_outstanding },
    { "nesting past the limit is refused and the connection serves on", test_too_deep },
    { NULL, NULL },
};

int main(int argc, char **argv)
{
    int rc = phx_test_main("mrpc_shop", cases, argc, argv);

    return mrpc_setup_stop(&up) ? rc : 1;
}
