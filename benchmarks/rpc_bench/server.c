/* server.c - rpc_bench --server: answers Bench.Exchange until SIGINT or SIGTERM.
 *
 * Thread T registers its own mrpc context with the local service, binds 0.0.0.0:(PORT + T) and
 * runs the context's progress loop, which calls exchange() for every incoming call. Once every
 * thread is bound the main thread prints "rpc_bench: serving on 0.0.0.0:PORT.." (whoever
 * started us waits for that line) and waits for the threads; a signal only raises an atomic
 * flag that each loop checks at least every PROGRESS_MS. A thread whose service went away ends
 * its loop, and rpc_bench then exits non-zero (a supervisor must not read it as a clean stop).
 * The request is checked before it is
 * answered (it comes from the network): its tag bytes must agree and the reply it asks for
 * must be at most RPCB_MAX_REPLY. The reply is built in the send heap with the request's tag in
 * its first and last byte; the bytes between are whatever the heap holds, as a real server's
 * buffer would be: only the transfer is measured. */
#include "rpc_bench.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

#define PROGRESS_MS 100

typedef struct {
    const rpcb_args_t *args;
    unsigned index;
    pthread_t tid;
    char addr[32];
    mrpc_ctx_t *ctx;
    mrpc_server_t *server;
    bool setup_failed;          /* written before say_ready() */
    bool failed;                /* read after the join */
    char err[256];
} server_thread_t;

static atomic_bool stop_requested;

/* Startup: every thread says here whether it bound (or failed). */
static pthread_mutex_t ready_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ready_cond = PTHREAD_COND_INITIALIZER;
static unsigned ready_count;

static void on_signal(int sig)
{
    atomic_store(&stop_requested, true);
}

/* Why REQ cannot be answered, or NULL. */
static const char *request_problem(const RpcBench__BenchRequest *req)
{
    if (req->payload.len < 1 || !req->payload.data)
        return "the request has no payload (rpc_bench tags its first and last byte)";
    if (req->payload.data[0] != req->payload.data[req->payload.len - 1])
        return "the request's first and last payload bytes differ";
    if (req->reply_size > RPCB_MAX_REPLY)
        return "the request asks for a reply above 1 GiB";
    return NULL;
}

static phx_status_t refuse(mrpc_call_t *call, phx_status_t code, const char *why)
{
    mrpc_call_set_error(call, code, why);
    return code;
}

static phx_status_t exchange(void *impl, mrpc_call_t *call, const RpcBench__BenchRequest *req,
                             RpcBench__BenchReply **reply)
{
    mrpc_ctx_t *ctx = impl;
    const char *problem = request_problem(req);

    if (problem)
        return refuse(call, PHX_INVALID_ARGUMENT, problem);
    size_t len = (size_t)req->reply_size;
    RpcBench__BenchReply *r =
        (RpcBench__BenchReply *)mrpc_message_new(ctx, &rpc_bench__bench_reply__descriptor);
    uint8_t *payload = r && len ? mrpc_alloc(ctx, len) : NULL;
    if (!r || (len && !payload)) {
        mrpc_message_free(ctx, r ? &r->base : NULL);
        return refuse(call, PHX_RESOURCE_EXHAUSTED, "the server's send heap is full");
    }
    if (len) {
        payload[0] = payload[len - 1] = req->payload.data[0];
        r->payload.data = payload;
        r->payload.len = len;
    }
    *reply = r;
    return PHX_OK;
}

static const RpcBench__Bench_Handlers handlers = { .exchange = exchange };

static void say_ready(void)
{
    pthread_mutex_lock(&ready_lock);
    ready_count++;
    pthread_cond_broadcast(&ready_cond);
    pthread_mutex_unlock(&ready_lock);
}

static int thread_setup(server_thread_t *s)
{
    mrpc_status_t st;

    snprintf(s->addr, sizeof(s->addr), "0.0.0.0:%u", s->args->port + s->index);
    if (!(s->ctx = mrpc_ctx_create(NULL, &st)) || !(s->server = mrpc_bind(s->ctx, s->addr, &st))) {
        snprintf(s->err, sizeof(s->err), "%s: %s", s->ctx ? s->addr : "the mRPC service",
                 st.message);
        return -1;
    }
    st = rpc_bench__bench__add_to_server(s->server, &handlers, s->ctx);
    if (st.code != PHX_OK) {
        snprintf(s->err, sizeof(s->err), "%s: adding the service: %s", s->addr, st.message);
        return -1;
    }
    return 0;
}

static void *server_main(void *arg)
{
    server_thread_t *s = arg;

    s->failed = s->setup_failed = thread_setup(s) < 0;
    say_ready();
    while (!s->failed && !atomic_load(&stop_requested)) {
        if (mrpc_ctx_progress(s->ctx, PROGRESS_MS) < 0) {
            snprintf(s->err, sizeof(s->err), "%s: the mRPC service went away", s->addr);
            s->failed = true;
        }
    }
    if (s->server)
        mrpc_server_close(s->server);
    mrpc_ctx_destroy(s->ctx);
    return NULL;
}

/* Waits until N threads said whether they are bound. */
static void wait_ready(unsigned n)
{
    pthread_mutex_lock(&ready_lock);
    while (ready_count < n)
        pthread_cond_wait(&ready_cond, &ready_lock);
    pthread_mutex_unlock(&ready_lock);
}

static void install_signals(void)
{
    struct sigaction sa = { .sa_handler = on_signal };

    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

int rpcb_serve(const rpcb_args_t *a)
{
    server_thread_t threads[RPCB_MAX_THREADS];
    unsigned started = 0;
    bool failed = false;

    install_signals();
    for (; started < a->server_threads; started++) {
        threads[started] = (server_thread_t){ .args = a, .index = started };
        if (pthread_create(&threads[started].tid, NULL, server_main, &threads[started]) != 0) {
            fprintf(stderr, "rpc_bench: cannot start server thread %u\n", started);
            atomic_store(&stop_requested, true);
            failed = true;
            break;
        }
    }
    wait_ready(started);
    for (unsigned i = 0; i < started; i++)
        failed |= threads[i].setup_failed;   /* ordered by ready_lock */
    if (failed) {
        atomic_store(&stop_requested, true);
    } else {
        printf("rpc_bench: serving on 0.0.0.0:%u..%u (%u threads)\n", a->port,
               a->port + a->server_threads - 1, a->server_threads);
        fflush(stdout);
    }
    for (unsigned i = 0; i < started; i++) {
        pthread_join(threads[i].tid, NULL);
        if (threads[i].failed)
            fprintf(stderr, "rpc_bench: %s\n", threads[i].err);
        failed |= threads[i].failed;        /* the service went away: a supervisor must see it */
    }
    return failed || started < a->server_threads ? -1 : 0;
}
