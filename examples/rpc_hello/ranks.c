/* ranks.c - rpc_hello_ranks [CALLS]: the tutorial's Greeter as a job of ranks (mrpc-run).
 *
 *     mrpc-run -n 4 rpc_hello_ranks            srun -N2 --mpi=pmix mrpc-run rpc_hello_ranks
 *
 * Rank 0 binds MRPC_HOST at the first free port from 5000, publishes "host:port"
 * (mrpc_rank_publish) and serves; every other rank finds it by rank (barrier, mrpc_rank_lookup),
 * says hello CALLS times (default 1) as "rank R", prints the first reply and how long its calls
 * took. Rank 0 stops after (size-1)*CALLS requests; a last barrier lets every rank finish
 * together. Exit 0 when every call got its greeting, 1 otherwise with
 * the status in one line. */
#include "rpc_hello.mrpc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static mrpc_server_t *server;
static long requests_left;

static int fail(int rank, const char *what, const mrpc_status_t *st)
{
    fprintf(stderr, "rpc_hello_ranks: rank %d: %s: %s: %s\n", rank, what,
            phx_status_name(st->code), st->message);
    return 1;
}

static phx_status_t say_hello(void *impl, mrpc_call_t *call, const RpcHello__HelloRequest *req,
                              RpcHello__HelloReply **reply)
{
    mrpc_ctx_t *ctx = impl;
    char text[128];
    int n = snprintf(text, sizeof text, "Hello %.*s!", (int)req->name.len, (const char *)req->name.data);
    RpcHello__HelloReply *r = rpc_hello__hello_reply_new(ctx);
    uint8_t *buf = r ? mrpc_alloc(ctx, (size_t)n) : NULL;

    if (!buf) {
        mrpc_message_free(ctx, r ? &r->base : NULL);
        mrpc_call_set_error(call, PHX_RESOURCE_EXHAUSTED, "the server's send heap is full");
        return PHX_RESOURCE_EXHAUSTED;
    }
    memcpy(buf, text, (size_t)n);
    r->message.data = buf;
    r->message.len = (size_t)n;
    *reply = r;
    if (--requests_left <= 0)
        mrpc_server_stop(server);
    return PHX_OK;
}

static const RpcHello__Greeter_Handlers greeter = { .say_hello = say_hello };

/* Rank 0: bind the first free port from 5000, publish it, serve the others' calls. */
static int serve(mrpc_ctx_t *ctx, int size, long calls)
{
    const char *host = getenv("MRPC_HOST") ? getenv("MRPC_HOST") : "127.0.0.1";
    char addr[MRPC_RANK_VALUE_MAX];
    mrpc_status_t st;

    for (int port = 5000; port < 5100 && !server; port++) {
        snprintf(addr, sizeof addr, "%s:%d", host, port);
        server = mrpc_bind(ctx, addr, &st);
    }
    if (!server)
        return fail(0, "bind", &st);
    if ((st = rpc_hello__greeter__add_to_server(server, &greeter, ctx)).code != PHX_OK ||
        (st = mrpc_rank_publish(addr)).code != PHX_OK || (st = mrpc_rank_barrier()).code != PHX_OK)
        return fail(0, "publish", &st);
    printf("rank 0: serving on %s\n", addr);
    fflush(stdout);
    requests_left = (size - 1) * calls;
    if (requests_left > 0 && (st = mrpc_serve(server)).code != PHX_OK)
        return fail(0, "serve", &st);
    printf("rank 0: answered %ld calls\n", (size - 1) * calls);
    return 0;
}

static int call(mrpc_ctx_t *ctx, int rank, long calls)
{
    char addr[MRPC_RANK_VALUE_MAX], name[32];
    mrpc_status_t st;

    if ((st = mrpc_rank_barrier()).code != PHX_OK || (st = mrpc_rank_lookup(0, addr, sizeof addr)).code != PHX_OK)
        return fail(rank, "find rank 0", &st);
    mrpc_conn_t *conn = mrpc_connect(ctx, addr, &st);
    if (!conn)
        return fail(rank, addr, &st);
    int len = snprintf(name, sizeof name, "rank %d", rank);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (long i = 0; i < calls; i++) {
        RpcHello__HelloRequest *req = rpc_hello__hello_request_new(ctx);
        const RpcHello__HelloReply *reply;
        if (!req || rpc_hello__hello_request_set_name(ctx, req, name, (size_t)len) < 0) {
            fprintf(stderr, "rpc_hello_ranks: rank %d: the send heap is full\n", rank);
            return 1;
        }
        st = rpc_hello__greeter__say_hello_call(conn, req, &reply, NULL);
        if (st.code != PHX_OK) {
            mrpc_conn_close(conn);
            return fail(rank, "SayHello", &st);
        }
        if (i == 0) {   /* flushed: under srun stdout is a pipe, and whoever waits for it */
            printf("rank %d: reply from %s: %.*s\n", rank, addr, (int)reply->message.len,
                   (const char *)reply->message.data);
            fflush(stdout);
        }
        mrpc_release(ctx, &reply->base);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("rank %d: %ld calls in %ld ms\n", rank, calls,
           (long)((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000));
    fflush(stdout);
    mrpc_conn_close(conn);
    return 0;
}

int main(int argc, char **argv)
{
    const char *r = getenv("MRPC_RANK"), *s = getenv("MRPC_SIZE");
    long calls = argc > 1 ? strtol(argv[1], NULL, 10) : 1;
    mrpc_status_t st;

    if (!r || !s || calls < 1 || argc > 2) {
        fprintf(stderr, "usage: mrpc-run [-n N] rpc_hello_ranks [CALLS]   (needs mrpc-run's MRPC_RANK)\n");
        return 2;
    }
    int rank = atoi(r), size = atoi(s);
    mrpc_ctx_t *ctx = mrpc_ctx_create(NULL, &st);
    if (!ctx)
        return fail(rank, "cannot reach the mRPC service", &st);
    int rc = rank == 0 ? serve(ctx, size, calls) : call(ctx, rank, calls);
    if (rc == 0 && (st = mrpc_rank_barrier()).code != PHX_OK)     /* everyone done */
        rc = fail(rank, "final barrier", &st);
    if (server)
        mrpc_server_close(server);
    mrpc_ctx_destroy(ctx);
    return rc;
}
