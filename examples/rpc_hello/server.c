/* server.c - rpc_hello_server [ADDR:PORT]: the tutorial's Greeter server (docs/tutorial.md).
 *
 * It registers with the local Phoenix service (mrpc_ctx_create), binds ADDR:PORT (default
 * 0.0.0.0:5000), serves rpc_hello.Greeter and answers every SayHello with "Hello <name>!",
 * printing each request. The request is a const view into the receive heap; the reply is built
 * in the send heap and handed over, so libmrpc frees it once the service has sent it. SIGINT or
 * SIGTERM stops it cleanly (exit 0); its service going away makes it exit 1. */
#include "rpc_hello.mrpc.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

#ifndef PHX_VERSION          /* the build of this tree says which; a copy built elsewhere does not */
#define PHX_VERSION "(built outside Phoenix-C)"
#endif

#define DEFAULT_ADDR "0.0.0.0:5000"

static mrpc_server_t *server;

static void on_signal(int sig)
{
    mrpc_server_stop(server);       /* async-signal-safe: it only raises a flag */
}

/* SayHello: "Hello " + name + "!", written straight into a reply in the send heap. */
static phx_status_t say_hello(void *impl, mrpc_call_t *call, const RpcHello__HelloRequest *req,
                              RpcHello__HelloReply **reply)
{
    static const char head[] = "Hello ", tail[] = "!";
    mrpc_ctx_t *ctx = impl;
    size_t len = strlen(head) + req->name.len + strlen(tail);

    printf("request: name=%.*s\n", (int)req->name.len, (const char *)req->name.data);
    fflush(stdout);
    RpcHello__HelloReply *r =
        (RpcHello__HelloReply *)mrpc_message_new(ctx, &rpc_hello__hello_reply__descriptor);
    uint8_t *text = r ? mrpc_alloc(ctx, len) : NULL;
    if (!text) {
        mrpc_message_free(ctx, r ? &r->base : NULL);
        mrpc_call_set_error(call, PHX_RESOURCE_EXHAUSTED, "the server's send heap is full");
        return PHX_RESOURCE_EXHAUSTED;
    }
    memcpy(text, head, strlen(head));
    memcpy(text + strlen(head), req->name.data, req->name.len);
    memcpy(text + strlen(head) + req->name.len, tail, strlen(tail));
    r->message.data = text;
    r->message.len = len;
    *reply = r;
    return PHX_OK;
}

static const RpcHello__Greeter_Handlers greeter = { .say_hello = say_hello };

int main(int argc, char **argv)
{
    const char *addr = argc > 1 ? argv[1] : DEFAULT_ADDR;
    mrpc_status_t st;

    if (argc == 2 && strcmp(argv[1], "--version") == 0) {
        printf("rpc_hello_server %s\n", PHX_VERSION);
        return 0;
    }
    if (argc > 2 || (argc == 2 && argv[1][0] == '-')) {
        fprintf(stderr, "usage: %s [ADDR:PORT] | --version   (default %s)\n", argv[0],
                DEFAULT_ADDR);
        return 2;
    }
    mrpc_ctx_t *ctx = mrpc_ctx_create(NULL, &st);
    if (!ctx) {
        fprintf(stderr, "rpc_hello_server: %s\n", st.message);
        return 1;
    }
    if (!(server = mrpc_bind(ctx, addr, &st))) {
        fprintf(stderr, "rpc_hello_server: %s\n", st.message);
        mrpc_ctx_destroy(ctx);
        return 1;
    }
    st = rpc_hello__greeter__add_to_server(server, &greeter, ctx);
    if (st.code == PHX_OK) {
        signal(SIGINT, on_signal);
        signal(SIGTERM, on_signal);
        printf("rpc_hello_server: serving rpc_hello.Greeter on %s\n", addr);
        fflush(stdout);
        st = mrpc_serve(server);        /* UNAVAILABLE when the service went away */
    }
    if (st.code != PHX_OK)
        fprintf(stderr, "rpc_hello_server: %s\n", st.message);
    mrpc_server_close(server);
    mrpc_ctx_destroy(ctx);
    return st.code == PHX_OK ? 0 : 1;
}
