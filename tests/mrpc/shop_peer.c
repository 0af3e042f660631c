/* shop_peer.c - shop_peer ADDR:PORT: the server of the mRPC microservice round-trip test.
 *
 * It registers with the Phoenix service at $PHOENIX_PREFIX, binds ADDR:PORT, serves the four
 * services of protos/shop.proto and protos/legacy_inventory.proto, prints "ready" once it does,
 * and serves until SIGTERM (peer_main.h). Every reply is the one shop_rules.h's rule for its
 * method derives from the request alone; the test (test_mrpc_shop.c) runs the same rules on the
 * requests it sends, and checks that what comes back is equal.
 *
 * The rules build in the send heap (received messages are copied there with mrpc_copy_out()). A
 * full send heap ends the program (exit 3): the test sees the call fail and the exit code, never
 * a reply it could mistake for a right one. */
#include "peer_main.h"
#include "shop_rules.h"

#include <stdio.h>
#include <stdlib.h>

static _Noreturn void send_heap_full(void)
{
    fprintf(stderr, "shop_peer: the send heap is full\n");
    exit(3);
}

/* The handler NAME: the reply of shop_rule_NAME(), of type REPLY, to a request of type REQ. */
#define SERVE(name, Req, Reply)                                                                 \
    static phx_status_t name(void *impl, mrpc_call_t *call, const Req *req, Reply **reply)      \
    {                                                                                           \
        *reply = shop_rule_##name(req);                                                         \
        return PHX_OK;                                                                          \
    }

SERVE(get_product, Shop__V1__GetProductRequest, Shop__V1__Product)
SERVE(list_products, Shop__V1__ListProductsRequest, Shop__V1__ListProductsResponse)
SERVE(get_category_tree, Shop__V1__CategoryTreeRequest, Shop__V1__Category)
SERVE(summarize_categories, Shop__V1__Category, Shop__V1__CategorySummary)
SERVE(add_item, Shop__V1__AddItemRequest, Shop__V1__Cart)
SERVE(merge_carts, Shop__V1__MergeCartsRequest, Shop__V1__Cart)
SERVE(empty_cart, Shop__V1__EmptyCartRequest, Shop__V1__Nothing)
SERVE(place_order, Shop__V1__PlaceOrderRequest, Shop__V1__OrderResult)
SERVE(quote_shipping, Shop__V1__ShippingQuoteRequest, Shop__V1__ShippingQuote)
SERVE(lookup, Legacy__Inventory__StockQuery, Legacy__Inventory__StockReport)
SERVE(reconcile, Legacy__Inventory__StockReport, Legacy__Inventory__StockReport)

static const Shop__V1__CatalogService_Handlers catalog = {
    .get_product = get_product,
    .list_products = list_products,
    .get_category_tree = get_category_tree,
    .summarize_categories = summarize_categories,
};

static const Shop__V1__CartService_Handlers carts = {
    .add_item = add_item, .merge_carts = merge_carts, .empty_cart = empty_cart,
};

static const Shop__V1__CheckoutService_Handlers checkout = {
    .place_order = place_order, .quote_shipping = quote_shipping,
};

static const Legacy__Inventory__InventoryService_Handlers inventory = {
    .lookup = lookup, .reconcile = reconcile,
};

static mrpc_status_t add_services(mrpc_server_t *server, mrpc_ctx_t *ctx)
{
    shop_build_with(mrpc_allocator(ctx), send_heap_full);
    mrpc_status_t st = shop__v1__catalog_service__add_to_server(server, &catalog, ctx);
    if (st.code == PHX_OK)
        st = shop__v1__cart_service__add_to_server(server, &carts, ctx);
    if (st.code == PHX_OK)
        st = shop__v1__checkout_service__add_to_server(server, &checkout, ctx);
    if (st.code == PHX_OK)
        st = legacy__inventory__inventory_service__add_to_server(server, &inventory, ctx);
    return st;
}

int main(int argc, char **argv)
{
    return mrpc_peer_main(argc, argv, "shop_peer", add_services);
}
