/* client.c - rpc_hello_client [ADDR:PORT]: the tutorial's Greeter client (docs/tutorial.md).
 *
 * It registers with the local Phoenix service, connects to the server at ADDR:PORT (default
 * 127.0.0.1:5000), sends one SayHello with the name "mRPC" and prints the reply. The request is
 * built in the send heap and belongs to libmrpc once sent; the reply is a const view into the
 * receive heap, given back with mrpc_release(). */
#include "rpc_hello.mrpc.h"

#include <stdio.h>
#include <string.h>

#ifndef PHX_VERSION          /* the build of this tree says which; a copy built elsewhere does not */
#define PHX_VERSION "(built outside Phoenix-C)"
#endif

#define DEFAULT_ADDR "127.0.0.1:5000"

static int fail(const char *what, const mrpc_status_t *st)
{
    fprintf(stderr, "rpc_hello_client: %s: %s: %s\n", what, phx_status_name(st->code),
            st->message);
    return 1;
}

/* Says hello over CONN; 0 when the reply came. */
static int say_hello(mrpc_ctx_t *ctx, mrpc_conn_t *conn)
{
    RpcHello__HelloRequest *req = rpc_hello__hello_request_new(ctx);    /* typed builders */
    const RpcHello__HelloReply *reply;

    if (!req || rpc_hello__hello_request_set_name(ctx, req, "mRPC", 4) < 0) {
        fprintf(stderr, "rpc_hello_client: the send heap is full\n");
        return 1;
    }
    mrpc_status_t st = rpc_hello__greeter__say_hello_call(conn, req, &reply, NULL);
    if (st.code != PHX_OK)
        return fail("SayHello", &st);
    printf("reply: %.*s\n", (int)reply->message.len, (const char *)reply->message.data);
    mrpc_release(ctx, &reply->base);
    return 0;
}

int main(int argc, char **argv)
{
    const char *addr = argc > 1 ? argv[1] : DEFAULT_ADDR;
    mrpc_status_t st;

    if (argc == 2 && strcmp(argv[1], "--version") == 0) {
        printf("rpc_hello_client %s\n", PHX_VERSION);
        return 0;
    }
    if (argc > 2 || (argc == 2 && argv[1][0] == '-')) {
        fprintf(stderr, "usage: %s [ADDR:PORT] | --version   (default %s)\n", argv[0],
                DEFAULT_ADDR);
        return 2;
    }
    mrpc_ctx_t *ctx = mrpc_ctx_create(NULL, &st);
    if (!ctx)
        return fail("cannot reach the mRPC service", &st);
    mrpc_conn_t *conn = mrpc_connect(ctx, addr, &st);
    int rc = conn ? say_hello(ctx, conn) : fail(addr, &st);
    mrpc_conn_close(conn);
    mrpc_ctx_destroy(ctx);
    return rc;
}
