/* shop_rules.h - the replies of the shop test's services, derived from their requests alone.
 *
 * The one definition of what each method of protos/shop.proto and protos/legacy_inventory.proto
 * answers, shared by the server (shop_peer.c, which sends these replies) and the test
 * (test_mrpc_shop.c, which computes them locally and checks that the reply that crossed two
 * services and the network deep-equals them). Each rule is a function of the request only, so
 * both sides get the same message:
 *
 *   GetProduct           every field a function of a hash of the id, a thumbnail of
 *                        thumbnail_size bytes
 *   ListProducts         page_size products "<category>-<page * page_size + k>", thumbnails of
 *                        64 bytes; next_page = page + 1 (0 for an empty page); the category
 *   GetCategoryTree      a tree `depth` levels deep (at least the root), `fanout` children per
 *                        node, child k of node X named "X.k"
 *   SummarizeCategories  node count, levels, pre-order ids, and a copy of the tree
 *   AddItem              a copy of the cart with a copy of the item appended, updated_at = now
 *   MergeCarts           the items of all carts in order, the latest updated_at
 *   EmptyCart            an empty message
 *   PlaceOrder           a copy of the order, price x quantity per line, their sum plus the
 *                        charges as total, the item count, a confirmation text, and
 *                        fraud_checked when paid by card
 *   QuoteShipping        a cost and carriers from the item count, a copy of the destination
 *   Lookup               per sku a record, every field a function of a hash of the sku, with
 *                        at most max_bins bins, each proto2 field set, unset or at its
 *                        default by the bin's index
 *   Reconcile            the records copied in reverse order, generated_at + 1, warehouse + "/r"
 *
 * Everything is built with the allocator given to shop_build_with() (the server: its send heap;
 * the test: malloc for predictions, its send heap for requests), and a copy of a received message
 * is made with mrpc_copy_out() (protobuf pack and unpack) there too. When the allocator returns
 * NULL, the FULL function given with it is called, and must not return. The builders below the
 * rules are the ones the rules use, for the test's requests too. One thread at a time. */
#ifndef SHOP_RULES_H
#define SHOP_RULES_H

#include "legacy_inventory.mrpc.h"
#include "shop.mrpc.h"

#define SHOP_BILLION 1000000000

/* ---- building ---------------------------------------------------------------------------- */

/* Builds with A from now on; FULL (which must not return) when A is out of memory. */
void shop_build_with(ProtobufCAllocator *a, void (*full)(void));

/* SIZE zeroed bytes (NULL for 0), a new message of type DESC, formatted text, a copy of MSG (NULL
 * stays NULL), and P given back: all with the allocator of shop_build_with(). */
void *shop_zalloc(size_t size);
void *shop_new(const ProtobufCMessageDescriptor *desc);
char *shop_str(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void *shop_copy(const void *msg);
void  shop_free(void *p);

Shop__V1__Money     *shop_money(const char *currency, int64_t units, int32_t nanos);
Shop__V1__Timestamp *shop_timestamp(int64_t seconds, int32_t nanos);

/* ---- the rules --------------------------------------------------------------------------- */

/* A rule: the reply to REQUEST (a request message of its method), newly built. */
typedef void *shop_rule_fn(const void *request);

shop_rule_fn shop_rule_get_product;         /* shop.v1.CatalogService */
shop_rule_fn shop_rule_list_products;
shop_rule_fn shop_rule_get_category_tree;
shop_rule_fn shop_rule_summarize_categories;
shop_rule_fn shop_rule_add_item;            /* shop.v1.CartService */
shop_rule_fn shop_rule_merge_carts;
shop_rule_fn shop_rule_empty_cart;
shop_rule_fn shop_rule_place_order;         /* shop.v1.CheckoutService */
shop_rule_fn shop_rule_quote_shipping;
shop_rule_fn shop_rule_lookup;              /* legacy.inventory.InventoryService */
shop_rule_fn shop_rule_reconcile;

#endif /* SHOP_RULES_H */
