/* mrpc_test_peer.c - mrpc_test_peer ADDR:PORT: the server side of the mRPC integration tests.
 *
 * It registers with the Phoenix service at $PHOENIX_PREFIX, binds ADDR:PORT, serves
 * mrpc_test.Echo (protos/mrpc_test.proto), prints "ready" once it does, and serves until SIGTERM:
 *
 *   Echo     the request back, deep-copied into the send heap (mrpc_copy_out with the heap's
 *            allocator), so the reply is a fresh message built from the received one
 *   Fail     the status `code` with the text `message` (mrpc_call_set_error)
 *   Sleep    the request back after `seq` milliseconds (calls that outlive their deadline, a
 *            service killed mid-call)
 *   Missing  no handler: the generated dispatch answers UNIMPLEMENTED
 *   Borrow   a reply whose data and nodes are the request's own (pointers into the receive
 *            heap), as a handler echoing a field does: libmrpc copies them before sending
 *
 * An answer that did not go out as its handler meant (mrpc_server_on_error) is printed as
 * "server told (N): METHOD: CODE: MESSAGE", N counting them; with MRPC_TEST_PEER_NO_ON_ERROR
 * set in its environment the peer leaves that to libmrpc's default (a line on stderr). */
#include "mrpc_test.mrpc.h"
#include "peer_main.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static phx_status_t echo(void *impl, mrpc_call_t *call, const MrpcTest__Blob *req,
                         MrpcTest__Blob **reply)
{
    ProtobufCMessage *copy = mrpc_copy_out(&req->base, mrpc_allocator(impl));

    if (!copy) {
        mrpc_call_set_error(call, PHX_RESOURCE_EXHAUSTED, "the server's send heap is full");
        return PHX_RESOURCE_EXHAUSTED;
    }
    *reply = (MrpcTest__Blob *)copy;
    return PHX_OK;
}

static phx_status_t fail(void *impl, mrpc_call_t *call, const MrpcTest__FailRequest *req,
                         MrpcTest__Empty **reply)
{
    mrpc_call_set_error(call, (phx_status_t)req->code, req->message);
    return (phx_status_t)req->code;
}

static phx_status_t sleep_then_echo(void *impl, mrpc_call_t *call, const MrpcTest__Blob *req,
                                    MrpcTest__Blob **reply)
{
    struct timespec ts = { .tv_sec = req->seq / 1000,
                           .tv_nsec = (long)(req->seq % 1000) * 1000000L };

    nanosleep(&ts, NULL);
    return echo(impl, call, req, reply);
}

static phx_status_t borrow(void *impl, mrpc_call_t *call, const MrpcTest__Blob *req,
                           MrpcTest__Blob **reply)
{
    MrpcTest__Blob *r = (MrpcTest__Blob *)mrpc_message_new(impl, &mrpc_test__blob__descriptor);

    if (!r) {
        mrpc_call_set_error(call, PHX_RESOURCE_EXHAUSTED, "the server's send heap is full");
        return PHX_RESOURCE_EXHAUSTED;
    }
    r->data = req->data;
    r->n_nodes = req->n_nodes;
    r->nodes = req->nodes;
    r->seq = req->seq;
    *reply = r;
    return PHX_OK;
}

static const MrpcTest__Echo_Handlers handlers = {
    .echo = echo, .fail = fail, .sleep = sleep_then_echo, .missing = NULL, .borrow = borrow,
};

/* What the server is told of answers that did not go out as its handlers meant: printed for
 * the tests to find, with a count. */
static void on_error(mrpc_server_t *server, void *arg, const char *method,
                     const mrpc_status_t *status)
{
    unsigned *told = arg;

    (void)server;
    printf("server told (%u): %s: %s: %s\n", ++*told, method, phx_status_name(status->code),
           status->message);
    fflush(stdout);
}

static mrpc_status_t add_services(mrpc_server_t *server, mrpc_ctx_t *ctx)
{
    static unsigned told;

    if (!getenv("MRPC_TEST_PEER_NO_ON_ERROR"))
        mrpc_server_on_error(server, on_error, &told);
    return mrpc_test__echo__add_to_server(server, &handlers, ctx);
}

int main(int argc, char **argv)
{
    return mrpc_peer_main(argc, argv, "mrpc_test_peer", add_services);
}
