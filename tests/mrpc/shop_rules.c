/* shop_rules.c - the replies of the shop test's services (see shop_rules.h), compiled into both
 * shop_peer and test_mrpc_shop.
 *
 * A rule builds its reply with the builders at the top, which allocate with the allocator of
 * shop_build_with() and call its FULL function when that fails; where a reply carries a copy of
 * (part of) its request, the copy is mrpc_copy_out()'s, as a server's copy of a received message
 * is. The test calls a rule on the request it built, the server on the request it received: the
 * two replies are equal exactly when the request arrived intact and the reply came back so. */
#include "shop_rules.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static ProtobufCAllocator *heap;
static void (*heap_full)(void);

/* ---- building ------------------------------------------------------------------------------ */

void shop_build_with(ProtobufCAllocator *a, void (*full)(void))
{
    heap = a;
    heap_full = full;
}

static void *need(void *p)
{
    if (!p)
        heap_full();
    return p;
}

void *shop_zalloc(size_t size)
{
    void *p = size ? need(heap->alloc(heap->allocator_data, size)) : NULL;

    if (p)
        memset(p, 0, size);
    return p;
}

void *shop_new(const ProtobufCMessageDescriptor *desc)
{
    ProtobufCMessage *m = shop_zalloc(desc->sizeof_message);

    protobuf_c_message_init(desc, m);
    return m;
}

char *shop_str(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    int len = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *s = shop_zalloc((size_t)len + 1);
    va_start(ap, fmt);
    vsnprintf(s, (size_t)len + 1, fmt, ap);
    va_end(ap);
    return s;
}

void *shop_copy(const void *msg)
{
    return msg ? need(mrpc_copy_out(msg, heap)) : NULL;
}

void shop_free(void *p)
{
    if (p)
        heap->free(heap->allocator_data, p);
}

Shop__V1__Money *shop_money(const char *currency, int64_t units, int32_t nanos)
{
    Shop__V1__Money *m = shop_new(&shop__v1__money__descriptor);

    m->currency_code = shop_str("%s", currency);
    m->units = units;
    m->nanos = nanos;
    return m;
}

Shop__V1__Timestamp *shop_timestamp(int64_t seconds, int32_t nanos)
{
    Shop__V1__Timestamp *t = shop_new(&shop__v1__timestamp__descriptor);

    t->seconds = seconds;
    t->nanos = nanos;
    return t;
}

static uint64_t fnv(const char *s)
{
    uint64_t h = 14695981039346656037ull;

    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* ---- CatalogService ------------------------------------------------------------------------ */

static void product_attributes(Shop__V1__Product *p, uint64_t h)
{
    p->n_attributes = (h >> 8) % 6;
    p->attributes = shop_zalloc(p->n_attributes * sizeof(*p->attributes));
    for (size_t k = 0; k < p->n_attributes; k++) {
        p->attributes[k] = shop_new(&shop__v1__product__attributes_entry__descriptor);
        p->attributes[k]->key = shop_str("attr%zu", k);
        p->attributes[k]->value = shop_str("v%llu", (unsigned long long)(h % 997 + k));
    }
}

/* The product ID: every field a function of a hash of ID, the thumbnail THUMB bytes. */
static Shop__V1__Product *product_from_id(const char *id, uint32_t thumb)
{
    Shop__V1__Product *p = shop_new(&shop__v1__product__descriptor);
    uint64_t h = fnv(id);

    p->id = shop_str("%s", id);
    p->name = shop_str("Product %s", id);
    p->description = shop_str("%.*s", (int)(h % 5) * 24,
                              "A fine thing, built well. A fine thing, built well. "
                              "A fine thing, built well. A fine thing, built well. ");
    p->price = shop_money("EUR", (int64_t)(h % 100000), (int32_t)((h >> 20) % SHOP_BILLION));
    p->n_categories = h % 4;
    p->categories = shop_zalloc(p->n_categories * sizeof(char *));
    for (size_t k = 0; k < p->n_categories; k++)
        p->categories[k] = shop_str("cat-%zu", k);
    product_attributes(p, h);
    p->thumbnail.len = thumb;
    p->thumbnail.data = shop_zalloc(thumb);
    for (uint32_t i = 0; i < thumb; i++)
        p->thumbnail.data[i] = (uint8_t)(h + i * 31u);
    p->availability = (Shop__V1__Availability)(h % 4);
    p->n_ratings = (h >> 16) % 5;
    p->ratings = shop_zalloc(p->n_ratings * sizeof(float));
    for (size_t k = 0; k < p->n_ratings; k++)
        p->ratings[k] = (float)((h >> k) % 50) / 10.0f;
    p->created_at = shop_timestamp(1600000000 + (int64_t)(h % 100000000),
                                   (int32_t)((h >> 3) % SHOP_BILLION));
    return p;
}

void *shop_rule_get_product(const void *request)
{
    const Shop__V1__GetProductRequest *req = request;

    return product_from_id(req->id, req->thumbnail_size);
}

void *shop_rule_list_products(const void *request)
{
    const Shop__V1__ListProductsRequest *req = request;
    Shop__V1__ListProductsResponse *r = shop_new(&shop__v1__list_products_response__descriptor);

    r->n_products = req->page_size;
    r->products = shop_zalloc(r->n_products * sizeof(*r->products));
    for (uint32_t k = 0; k < req->page_size; k++) {
        char *id = shop_str("%s-%llu", req->category,
                            (unsigned long long)req->page * req->page_size + k);
        r->products[k] = product_from_id(id, 64);
        shop_free(id);
    }
    r->next_page = req->page_size ? req->page + 1 : 0;
    r->category = shop_str("%s", req->category);
    return r;
}

static Shop__V1__Category *category_tree(const char *id, unsigned level, unsigned depth,
                                         unsigned fanout)
{
    Shop__V1__Category *c = shop_new(&shop__v1__category__descriptor);

    c->id = shop_str("%s", id);
    c->name = shop_str("Category %s", id);
    c->n_labels = 1;
    c->labels = shop_zalloc(sizeof(*c->labels));
    c->labels[0] = shop_new(&shop__v1__category__labels_entry__descriptor);
    c->labels[0]->key = shop_str("level");
    c->labels[0]->value = shop_str("%u", level);
    c->product_count = level * 10 + (uint32_t)strlen(id);
    if (level + 1 >= depth)
        return c;
    c->n_children = fanout;
    c->children = shop_zalloc(fanout * sizeof(*c->children));
    for (unsigned k = 0; k < fanout; k++) {
        char *child = shop_str("%s.%u", id, k);
        c->children[k] = category_tree(child, level + 1, depth, fanout);
        shop_free(child);
    }
    return c;
}

void *shop_rule_get_category_tree(const void *request)
{
    const Shop__V1__CategoryTreeRequest *req = request;

    return category_tree(req->root_id, 0, req->depth, req->fanout);
}

static void count_tree(const Shop__V1__Category *c, unsigned level, uint32_t *nodes,
                       uint32_t *depth)
{
    (*nodes)++;
    if (level + 1 > *depth)
        *depth = level + 1;
    for (size_t k = 0; k < c->n_children; k++)
        count_tree(c->children[k], level + 1, nodes, depth);
}

static void list_ids(const Shop__V1__Category *c, char **ids, size_t *n)
{
    ids[(*n)++] = shop_str("%s", c->id);
    for (size_t k = 0; k < c->n_children; k++)
        list_ids(c->children[k], ids, n);
}

void *shop_rule_summarize_categories(const void *request)
{
    const Shop__V1__Category *req = request;
    Shop__V1__CategorySummary *r = shop_new(&shop__v1__category_summary__descriptor);

    count_tree(req, 0, &r->nodes, &r->depth);
    r->ids = shop_zalloc(r->nodes * sizeof(char *));
    list_ids(req, r->ids, &r->n_ids);
    r->tree = shop_copy(req);
    return r;
}

/* ---- CartService --------------------------------------------------------------------------- */

/* Appends the N items at ITEMS, copied, to CART's items. */
static void append_items(Shop__V1__Cart *cart, Shop__V1__CartItem *const *items, size_t n)
{
    Shop__V1__CartItem **all = shop_zalloc((cart->n_items + n) * sizeof(*all));

    for (size_t k = 0; k < cart->n_items; k++)
        all[k] = cart->items[k];
    for (size_t k = 0; k < n; k++)
        all[cart->n_items + k] = shop_copy(items[k]);
    shop_free(cart->items);
    cart->items = all;
    cart->n_items += n;
}

void *shop_rule_add_item(const void *request)
{
    const Shop__V1__AddItemRequest *req = request;
    Shop__V1__Cart *cart = req->cart ? shop_copy(req->cart) : shop_new(&shop__v1__cart__descriptor);

    if (req->item)
        append_items(cart, &req->item, 1);
    if (cart->updated_at)
        protobuf_c_message_free_unpacked(&cart->updated_at->base, heap);
    cart->updated_at = shop_copy(req->now);
    return cart;
}

static bool later(const Shop__V1__Timestamp *a, const Shop__V1__Timestamp *b)
{
    return !b || a->seconds > b->seconds || (a->seconds == b->seconds && a->nanos > b->nanos);
}

void *shop_rule_merge_carts(const void *request)
{
    const Shop__V1__MergeCartsRequest *req = request;
    Shop__V1__Cart *cart = shop_new(&shop__v1__cart__descriptor);
    const Shop__V1__Timestamp *latest = NULL;

    cart->user_id = shop_str("%s", req->user_id);
    for (size_t k = 0; k < req->n_carts; k++) {
        append_items(cart, req->carts[k]->items, req->carts[k]->n_items);
        if (req->carts[k]->updated_at && later(req->carts[k]->updated_at, latest))
            latest = req->carts[k]->updated_at;
    }
    cart->updated_at = shop_copy(latest);
    return cart;
}

void *shop_rule_empty_cart(const void *request)
{
    return shop_new(&shop__v1__nothing__descriptor);
}

/* ---- CheckoutService ----------------------------------------------------------------------- */

/* PRICE x QUANTITY ("" and zero without a price). */
static Shop__V1__Money *line_total(const Shop__V1__OrderLine *line)
{
    const Shop__V1__Money *price = line->product ? line->product->price : NULL;

    if (!price)
        return shop_money("", 0, 0);
    int64_t nanos = (int64_t)price->nanos * line->quantity;
    return shop_money(price->currency_code, price->units * line->quantity + nanos / SHOP_BILLION,
                      (int32_t)(nanos % SHOP_BILLION));
}

static void add_money(Shop__V1__Money *sum, const Shop__V1__Money *m)
{
    int64_t nanos = (int64_t)sum->nanos + m->nanos;

    sum->units += m->units + nanos / SHOP_BILLION;
    sum->nanos = (int32_t)(nanos % SHOP_BILLION);
}

static void order_totals(const Shop__V1__Order *o, Shop__V1__OrderResult *r)
{
    r->n_line_totals = o->n_lines;
    r->line_totals = shop_zalloc(o->n_lines * sizeof(*r->line_totals));
    for (size_t k = 0; k < o->n_lines; k++) {
        r->line_totals[k] = line_total(o->lines[k]);
        r->item_count += o->lines[k]->quantity;
    }
    r->total = shop_money(o->n_lines ? r->line_totals[0]->currency_code : "", 0, 0);
    for (size_t k = 0; k < o->n_lines; k++)
        add_money(r->total, r->line_totals[k]);
    for (size_t k = 0; k < o->n_charges; k++)
        if (o->charges[k]->value)
            add_money(r->total, o->charges[k]->value);
}

void *shop_rule_place_order(const void *request)
{
    const Shop__V1__PlaceOrderRequest *req = request;
    Shop__V1__OrderResult *r = shop_new(&shop__v1__order_result__descriptor);
    const Shop__V1__Order *o = req->order;

    r->order = shop_copy(o);
    if (o)
        order_totals(o, r);
    r->confirmation = shop_str("CONF-%s-%s", req->idempotency_key, o ? o->order_id : "none");
    if (o && o->payment_case == SHOP__V1__ORDER__PAYMENT_CARD)
        r->fraud_checked = shop_new(&shop__v1__nothing__descriptor);
    return r;
}

void *shop_rule_quote_shipping(const void *request)
{
    const Shop__V1__ShippingQuoteRequest *req = request;
    Shop__V1__ShippingQuote *q = shop_new(&shop__v1__shipping_quote__descriptor);
    const char *country = req->destination ? req->destination->country_code : "XX";
    int64_t quantity = 0;

    for (size_t k = 0; k < req->n_items; k++)
        quantity += req->items[k]->quantity;
    q->cost = shop_money("EUR", 5 + quantity, req->n_items % 2 ? 990000000 : 0);
    q->n_carriers = 1 + req->n_items % 3;
    q->carriers = shop_zalloc(q->n_carriers * sizeof(char *));
    for (size_t k = 0; k < q->n_carriers; k++)
        q->carriers[k] = shop_str("%s-carrier-%zu", country, k);
    q->estimated_arrival = shop_timestamp(1700000000 + 86400 * (int64_t)req->n_items, 0);
    q->destination = shop_copy(req->destination);
    return q;
}

/* ---- InventoryService (proto2) ------------------------------------------------------------- */

/* Bin K of SKU: each optional field present or not, and the zone left at its default, set, or
 * NULL, by K. */
static Legacy__Inventory__Bin *bin_of(const char *sku, uint64_t h, unsigned k)
{
    Legacy__Inventory__Bin *b = shop_new(&legacy__inventory__bin__descriptor);

    b->code = shop_str("%s/b%u", sku, k);
    if ((b->has_shelf = k % 2 == 0))
        b->shelf = k + 1;
    if (k % 3 != 0)
        b->zone = k % 3 == 1 ? shop_str("cold") : NULL;
    if ((b->has_label = k % 2 == 1)) {
        b->label.len = strlen(sku);
        b->label.data = (uint8_t *)shop_str("%s", sku);
    }
    if ((b->has_temperature = k == 1))
        b->temperature = -18.5;
    b->has_state = true;
    b->state = (Legacy__Inventory__StockState)(k % 4);
    if ((b->has_offset = k % 3 == 0))
        b->offset = -(int32_t)k * 1000;
    if ((b->has_fragile = k == 2))
        b->fragile = false;
    if (k % 2 == 0) {
        b->size = shop_new(&legacy__inventory__bin__dimensions__descriptor);
        b->size->width = (float)k + 0.5f;
        b->size->height = 2.25f;
        if ((b->size->has_depth = k == 0))
            b->size->depth = 0.75f;
    }
    b->n_serials = k;
    b->serials = shop_zalloc(k * sizeof(int64_t));
    for (unsigned j = 0; j < k; j++)
        b->serials[j] = -(int64_t)(h >> j);
    b->n_aliases = k % 3;
    b->aliases = shop_zalloc(b->n_aliases * sizeof(char *));
    for (size_t j = 0; j < b->n_aliases; j++)
        b->aliases[j] = shop_str("alias%zu", j);
    if ((b->has_checksum = k == 3))
        b->checksum = (uint32_t)h;
    return b;
}

static Legacy__Inventory__StockRecord *record_from_sku(const char *sku, uint32_t max_bins)
{
    Legacy__Inventory__StockRecord *r = shop_new(&legacy__inventory__stock_record__descriptor);
    uint64_t h = fnv(sku);

    r->sku = shop_str("%s", sku);
    r->on_hand = (int32_t)(h % 2000) - 500;
    if ((r->has_reserved = h & 1))
        r->reserved = (int32_t)((h >> 4) % 50);
    r->n_bins = (h >> 8) % 6 < max_bins ? (h >> 8) % 6 : max_bins;
    r->bins = shop_zalloc(r->n_bins * sizeof(*r->bins));
    for (unsigned k = 0; k < r->n_bins; k++)
        r->bins[k] = bin_of(sku, h, k);
    if ((h >> 12) % 3 == 0) {
        r->superseded_by = shop_new(&legacy__inventory__stock_record__descriptor);
        r->superseded_by->sku = shop_str("%s-old", sku);
    }
    if ((h >> 14) % 3 == 1) {
        r->origin_case = LEGACY__INVENTORY__STOCK_RECORD__ORIGIN_SUPPLIER;
        r->supplier = shop_str("supplier-%u", (unsigned)(h % 10));
    } else if ((h >> 14) % 3 == 2) {
        r->origin_case = LEGACY__INVENTORY__STOCK_RECORD__ORIGIN_BATCH;
        r->batch = h >> 20;
    }
    r->n_history = (h >> 18) % 4;
    r->history = shop_zalloc(r->n_history * sizeof(*r->history));
    for (size_t j = 0; j < r->n_history; j++)
        r->history[j] = (Legacy__Inventory__StockState)(j % 4);
    return r;
}

/* A report of N records, still to be filled in. */
static Legacy__Inventory__StockReport *report_of(size_t n)
{
    Legacy__Inventory__StockReport *r = shop_new(&legacy__inventory__stock_report__descriptor);

    r->n_records = n;
    r->records = shop_zalloc(n * sizeof(*r->records));
    return r;
}

void *shop_rule_lookup(const void *request)
{
    const Legacy__Inventory__StockQuery *req = request;
    Legacy__Inventory__StockReport *r = report_of(req->n_skus);

    for (size_t k = 0; k < req->n_skus; k++)
        r->records[k] = record_from_sku(req->skus[k], req->max_bins);
    r->generated_at = req->n_skus * 1000 + req->max_bins;
    if (req->include_empty)
        r->warehouse = shop_str("all-bins");
    return r;
}

void *shop_rule_reconcile(const void *request)
{
    const Legacy__Inventory__StockReport *req = request;
    Legacy__Inventory__StockReport *r = report_of(req->n_records);

    for (size_t k = 0; k < req->n_records; k++)
        r->records[k] = shop_copy(req->records[req->n_records - 1 - k]);
    r->generated_at = req->generated_at + 1;
    r->warehouse = shop_str("%s/r", req->warehouse ? req->warehouse : "");
    return r;
}
