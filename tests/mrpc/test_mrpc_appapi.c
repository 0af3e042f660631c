/* test_mrpc_appapi.c - the app API's footguns, each turned into a status the app is told.
 *
 * Two nodes and the test server (mrpc_test_peer) as in test_mrpc (mrpc_fixture.h); this process
 * calls through libmrpc. Each case failed on the library as it was before (issue 11):
 *
 *   borrowed reply    a handler whose reply points into its request (the receive heap) answers
 *                     OK with the request's content, not INTERNAL at the caller; where the
 *                     server's send heap has no room for the copy, the server is told too
 *   borrowed request  a request built from pieces of a received reply goes out as built
 *   copy_out          mrpc_copy_out keeps -0.0 (pack and unpack made it 0.0), on both sides
 *   full heap         an app that never releases its replies gets RESOURCE_EXHAUSTED saying
 *                     "release received messages", promptly, and its service logs it; for
 *                     large (rendezvous) replies too, where it was DEADLINE_EXCEEDED; an app
 *                     that is only slow to release them loses none
 *   bind/connect      the reason (resolver error, port range, address in use) reaches the app
 *   async             _async returns a status with a sentence; the callback gets the ctx;
 *                     a callback that calls and waits is heard by a sleeping service
 *   server exit       a server whose service goes away exits 1 (rpc_hello_server, rpc_bench
 *                     --server, peer_main)
 *   cancel            mrpc_cancel ends a call CANCELLED at once; its service drops the reply
 *
 * Every loop is bounded in count and time; every process is stopped by PID. */
#include "mrpc_fixture.h"
#include "mrpc_test.mrpc.h"
#include "phx_test.h"

#include <math.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static struct mrpc_setup up;    /* the nodes, the test server (up.peer), our up.ctx and up.conn */

/* ---- messages ----------------------------------------------------------------------------- */

static MrpcTest__Node *node(mrpc_ctx_t *c, unsigned i)
{
    MrpcTest__Node *n = (MrpcTest__Node *)mrpc_message_new(c, &mrpc_test__node__descriptor);
    char name[32];

    snprintf(name, sizeof(name), "node %u", i);
    n->name = mrpc_strdup(c, name);
    mrpc_repeated_alloc(c, &n->tags, &n->n_tags, sizeof(char *), 2);
    n->tags[0] = mrpc_strdup(c, "first tag");
    n->tags[1] = mrpc_strdup(c, "");
    mrpc_repeated_alloc(c, &n->weights, &n->n_weights, sizeof(double), 3);
    n->weights[0] = -0.0;
    n->weights[1] = 1.5 * i;
    n->weights[2] = -2.25;
    n->choice_case = MRPC_TEST__NODE__CHOICE_LABEL;
    n->label = mrpc_strdup(c, "labelled");
    return n;
}

static MrpcTest__Blob *blob(mrpc_ctx_t *c, size_t size, unsigned seq, unsigned n_nodes)
{
    MrpcTest__Blob *b = (MrpcTest__Blob *)mrpc_message_new(c, &mrpc_test__blob__descriptor);

    b->seq = seq;
    if (size) {
        uint8_t *data = mrpc_alloc(c, size);
        for (size_t i = 0; i < size; i++)
            data[i] = (uint8_t)(i * 7 + seq);
        b->data.data = data;
        b->data.len = size;
    }
    mrpc_repeated_alloc(c, &b->nodes, &b->n_nodes, sizeof(*b->nodes), n_nodes);
    for (unsigned k = 0; k < n_nodes; k++)
        b->nodes[k] = node(c, k);
    return b;
}

/* The protobuf encoding of MSG (malloc'd): deep equality is equality of encodings. */
static uint8_t *packed(const ProtobufCMessage *msg, size_t *len)
{
    *len = protobuf_c_message_get_packed_size(msg);
    uint8_t *buf = malloc(*len ? *len : 1);
    if (buf)
        protobuf_c_message_pack(msg, buf);
    return buf;
}

static bool same_encoding(const ProtobufCMessage *a, const uint8_t *want, size_t want_len)
{
    size_t len;
    uint8_t *got = packed(a, &len);
    bool same = got && len == want_len && memcmp(got, want, len) == 0;

    free(got);
    return same;
}

/* ---- pieces of received messages in outgoing ones ----------------------------------------- */

static void test_borrowed_reply(void)
{
    const MrpcTest__Blob *reply = NULL;
    size_t len;

    mrpc_need_setup();
    MrpcTest__Blob *req = blob(up.ctx, 3000, 7, 3);
    uint8_t *want = packed(&req->base, &len);
    mrpc_status_t st = mrpc_test__echo__borrow_call(up.conn, req, &reply, NULL);
    printf("(%s: %s) ", phx_status_name(st.code), st.message);
    CU_ASSERT_EQUAL(st.code, PHX_OK);
    CU_ASSERT_PTR_NOT_NULL(reply);
    if (reply) {
        CU_ASSERT(same_encoding(&reply->base, want, len));
        mrpc_release(up.ctx, &reply->base);
    }
    free(want);
}

/* Waits (5 s at most) until PEER's output says TEXT. */
static bool peer_says(const struct mrpc_peer *peer, const char *text)
{
    const struct timespec nap = { .tv_nsec = 20 * 1000000L };

    for (unsigned i = 0; i < 250 && !mrpc_peer_said(peer, text); i++)
        nanosleep(&nap, NULL);
    return mrpc_peer_said(peer, text);
}

/* A peer on TIGHT without an error handler of its own: libmrpc's default says it on stderr. */
static void default_error_line(const struct mrpc_node *tight)
{
    struct mrpc_peer peer = { .pid = 0 };
    const MrpcTest__Blob *reply = NULL;
    mrpc_status_t st = { .code = PHX_OK };

    setenv("MRPC_TEST_PEER_NO_ON_ERROR", "1", 1);
    CU_ASSERT(mrpc_peer_start(&peer, tight, MRPC_TEST_PEER, "ready"));
    unsetenv("MRPC_TEST_PEER_NO_ON_ERROR");
    mrpc_conn_t *k = peer.pid > 0 ? mrpc_connect(up.ctx, peer.addr, &st) : NULL;
    CU_ASSERT_PTR_NOT_NULL(k);
    if (k) {
        st = mrpc_test__echo__borrow_call(k, blob(up.ctx, 8u << 20, 11, 0), &reply, NULL);
        CU_ASSERT_EQUAL(st.code, PHX_RESOURCE_EXHAUSTED);
        CU_ASSERT(peer_says(&peer, "mrpc: mrpc_test.Echo.Borrow: RESOURCE_EXHAUSTED: the reply "
                            "borrows from a received message"));
        CU_ASSERT(!mrpc_peer_said(&peer, "server told"));
        mrpc_conn_close(k);
    }
    CU_ASSERT_EQUAL(mrpc_peer_stop(&peer), 0);
}

/* A server whose send heap (4 MiB) cannot hold the copy of an 8 MiB reply borrowed from its
 * request: the caller gets RESOURCE_EXHAUSTED, and the server app is told through its error
 * handler (mrpc_server_on_error; the peer prints what it is told). Replies that fit, before
 * and after, go out and are not reported. Without a handler, the default line on stderr. */
static void test_borrowed_reply_no_room(void)
{
    static struct mrpc_node tight;
    struct mrpc_peer peer = { .pid = 0 };
    const MrpcTest__Blob *reply = NULL;
    mrpc_status_t st = { .code = PHX_OK };

    mrpc_need_setup();
    CU_ASSERT_FATAL(mrpc_node_start_heap(&tight, "appapi-tight", MRPC_SIDE_SERVER, "",
                                         "send_mb = 4; recv_mb = 64; slab_kb = 64;"));
    CU_ASSERT(mrpc_peer_start(&peer, &tight, MRPC_TEST_PEER, "ready"));
    mrpc_conn_t *k = peer.pid > 0 ? mrpc_connect(up.ctx, peer.addr, &st) : NULL;
    CU_ASSERT_PTR_NOT_NULL(k);
    if (k) {
        st = mrpc_test__echo__borrow_call(k, blob(up.ctx, 1000, 8, 1), &reply, NULL);
        printf("(before: %s: %s) ", phx_status_name(st.code), st.message);
        CU_ASSERT_EQUAL(st.code, PHX_OK);
        if (st.code == PHX_OK)
            mrpc_release(up.ctx, &reply->base);
        st = mrpc_test__echo__borrow_call(k, blob(up.ctx, 8u << 20, 9, 0), &reply, NULL);
        printf("(caller: %s: %s) ", phx_status_name(st.code), st.message);
        CU_ASSERT_EQUAL(st.code, PHX_RESOURCE_EXHAUSTED);
        CU_ASSERT(peer_says(&peer, "server told (1): mrpc_test.Echo.Borrow: RESOURCE_EXHAUSTED: "
                            "the reply borrows from a received message"));
        st = mrpc_test__echo__borrow_call(k, blob(up.ctx, 1000, 10, 1), &reply, NULL);
        printf("(then: %s: %s) ", phx_status_name(st.code), st.message);
        CU_ASSERT_EQUAL(st.code, PHX_OK);
        if (st.code == PHX_OK)
            mrpc_release(up.ctx, &reply->base);
        CU_ASSERT(!mrpc_peer_said(&peer, "server told (2)"));
        mrpc_conn_close(k);
    }
    CU_ASSERT_EQUAL(mrpc_peer_stop(&peer), 0);
    default_error_line(&tight);
    CU_ASSERT(mrpc_node_stop(&tight, SIGTERM));
}

static void test_borrowed_request(void)
{
    const MrpcTest__Blob *first = NULL, *second = NULL;
    size_t len;

    mrpc_need_setup();
    CU_ASSERT_EQUAL_FATAL(mrpc_test__echo__echo_call(up.conn, blob(up.ctx, 500, 3, 2), &first,
                                                     NULL).code, PHX_OK);
    MrpcTest__Blob *req = blob(up.ctx, 0, 4, 0);
    req->data = first->data;                        /* both in the receive heap */
    req->n_nodes = first->n_nodes;
    req->nodes = first->nodes;
    uint8_t *want = packed(&req->base, &len);
    mrpc_status_t st = mrpc_test__echo__echo_call(up.conn, req, &second, NULL);
    printf("(%s: %s) ", phx_status_name(st.code), st.message);
    CU_ASSERT_EQUAL(st.code, PHX_OK);
    if (second) {
        CU_ASSERT(same_encoding(&second->base, want, len));
        mrpc_release(up.ctx, &second->base);
    }
    mrpc_release(up.ctx, &first->base);
    free(want);
}

/* ---- copies ------------------------------------------------------------------------------- */

static bool bits_equal(double a, double b)
{
    return memcmp(&a, &b, sizeof(a)) == 0;
}

static void test_copy_out_bit_exact(void)
{
    const MrpcTest__Blob *reply = NULL;
    size_t len;

    mrpc_need_setup();
    MrpcTest__Blob *req = blob(up.ctx, 64, 5, 2);
    req->ratio = -0.0;
    uint8_t *want = packed(&req->base, &len);
    CU_ASSERT_EQUAL_FATAL(mrpc_test__echo__echo_call(up.conn, req, &reply, NULL).code, PHX_OK);
    CU_ASSERT(signbit(reply->ratio));               /* the server copied it out too */
    MrpcTest__Blob *copy = (MrpcTest__Blob *)mrpc_copy_out(&reply->base, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(copy);
    CU_ASSERT(bits_equal(copy->ratio, -0.0));
    CU_ASSERT(same_encoding(&copy->base, want, len));
    CU_ASSERT_EQUAL(copy->n_nodes, 2);
    CU_ASSERT(copy->n_nodes == 2 && bits_equal(copy->nodes[1]->weights[0], -0.0));
    CU_ASSERT(copy->n_nodes == 2 && copy->nodes[0] != reply->nodes[0] &&
              strcmp(copy->nodes[0]->tags[0], "first tag") == 0);
    mrpc_release(up.ctx, &reply->base);
    protobuf_c_message_free_unpacked(&copy->base, NULL);
    free(want);
}

/* ---- a receive heap that fills -------------------------------------------------------------- */

static bool log_says(const struct mrpc_node *n, const char *text)
{
    FILE *f = fopen(n->d.log, "r");
    char line[1024];
    bool found = false;

    while (f && !found && fgets(line, sizeof(line), f))
        found = strstr(line, text) != NULL;
    if (f)
        fclose(f);
    return found;
}

/* A counter of our newest subscription's MrpcEngine, or its UcxRpcAdapterEngine when UCX, on
 * node N (admin "stats"), or -1. */
static long node_stat(const struct mrpc_node *n, bool ucx, const char *name)
{
    struct mrpc_sub sub;
    char id[32];

    if (!mrpc_ctl_find_sub(n, getpid(), &sub))
        return -1;
    snprintf(id, sizeof(id), "%ld", ucx ? sub.back_engine : sub.front_engine);
    json_object *stats = mrpc_ctl_json(n, (const char *[]){ "engine", id, "stats", NULL });
    long v = mrpc_json_int(stats, name);
    json_object_put(stats);
    return v;
}

/* An app on a node with a 1 MiB receive heap keeps every reply of SIZE bytes: within a few
 * hundred calls one fails RESOURCE_EXHAUSTED saying what to do, long before its 10 s deadline.
 * Small replies are refused as they land; large ones (rendezvous) first wait for room, and are
 * refused once the heap has freed nothing for a second (transports/ucx/ucx_recv.c). */
static void full_receive_heap(const char *tag, size_t size)
{
    static struct mrpc_node small;
    mrpc_ctx_params_t params = { .field_mask = MRPC_CTX_PARAM_FIELD_PREFIX };
    mrpc_call_opts_t opts = { .field_mask = MRPC_CALL_OPT_FIELD_TIMEOUT, .timeout_ms = 10000 };
    mrpc_status_t st = { .code = PHX_OK };
    unsigned calls = 0;

    mrpc_need_setup();
    CU_ASSERT_FATAL(mrpc_node_start_heap(&small, tag, MRPC_SIDE_CLIENT, "",
                                         "send_mb = 64; recv_mb = 1; slab_kb = 256;"));
    params.prefix = small.d.prefix;
    mrpc_ctx_t *c = mrpc_ctx_create(&params, &st);
    mrpc_conn_t *k = c ? mrpc_connect(c, up.peer.addr, &st) : NULL;
    CU_ASSERT_PTR_NOT_NULL(k);
    unsigned long long t0 = phx_test_now_ns(), took = 0;
    while (k && st.code == PHX_OK && calls < 2000) {
        const MrpcTest__Blob *reply = NULL;     /* kept: the app "forgets" mrpc_release */
        t0 = phx_test_now_ns();
        st = mrpc_test__echo__echo_call(k, blob(c, size, calls, 0), &reply, &opts);
        took = phx_test_now_ns() - t0;
        calls++;
    }
    printf("(call %u after %.2f s: %s: %s) ", calls, took / 1e9, phx_status_name(st.code),
           st.message);
    CU_ASSERT_EQUAL(st.code, PHX_RESOURCE_EXHAUSTED);
    CU_ASSERT_PTR_NOT_NULL(strstr(st.message, "release received messages"));
    CU_ASSERT(took < 5 * PHX_NS);
    CU_ASSERT(log_says(&small, "release received messages"));
    mrpc_conn_close(k);
    mrpc_ctx_destroy(c);
    CU_ASSERT(mrpc_node_stop(&small, SIGTERM));
}

static void test_full_receive_heap(void)
{
    full_receive_heap("appapi-small", 2048);
}

static void test_full_receive_heap_large(void)
{
    full_receive_heap("appapi-large", 300 * 1024);
}

/* The same heap and size, but an app that is only slow: eight calls at once, each reply held
 * for 300 ms and then released. The heap holds about three; the rest wait for room longer than
 * the one-second bound in all, yet each sees a release within it, so every call succeeds. */
#define SLOW_CALLS 8

static void slow_done(mrpc_ctx_t *on, void *token, const mrpc_status_t *st,
                      const ProtobufCMessage *reply)
{
    const struct timespec hold = { .tv_nsec = 300 * 1000000L };
    phx_status_t *code = token;

    *code = st->code;
    if (st->code != PHX_OK)
        printf("(%s: %s) ", phx_status_name(st->code), st->message);
    nanosleep(&hold, NULL);
    if (reply)
        mrpc_release(on, reply);
}

static void test_slow_app_loses_nothing(void)
{
    static struct mrpc_node small;
    mrpc_ctx_params_t params = { .field_mask = MRPC_CTX_PARAM_FIELD_PREFIX };
    mrpc_call_opts_t opts = { .field_mask = MRPC_CALL_OPT_FIELD_TIMEOUT, .timeout_ms = 20000 };
    mrpc_status_t st = { .code = PHX_OK };
    phx_status_t codes[SLOW_CALLS];
    unsigned queued = 0, done = 0;

    mrpc_need_setup();
    CU_ASSERT_FATAL(mrpc_node_start_heap(&small, "appapi-slow", MRPC_SIDE_CLIENT, "",
                                         "send_mb = 64; recv_mb = 1; slab_kb = 256;"));
    params.prefix = small.d.prefix;
    mrpc_ctx_t *c = mrpc_ctx_create(&params, &st);
    mrpc_conn_t *k = c ? mrpc_connect(c, up.peer.addr, &st) : NULL;
    CU_ASSERT_PTR_NOT_NULL(k);
    for (unsigned i = 0; k && i < SLOW_CALLS; i++) {
        codes[i] = PHX_UNKNOWN;
        st = mrpc_test__echo__echo_async(k, blob(c, 300 * 1024, i, 0), slow_done, &codes[i],
                                         &opts);
        queued += st.code == PHX_OK;
    }
    CU_ASSERT_EQUAL(queued, SLOW_CALLS);
    for (unsigned long long end = phx_test_now_ns() + 30 * PHX_NS;
         k && done < queued && phx_test_now_ns() < end;) {
        CU_ASSERT_FATAL(mrpc_ctx_progress(c, 100) >= 0);
        done = 0;
        for (unsigned i = 0; i < queued; i++)
            done += codes[i] != PHX_UNKNOWN;
    }
    for (unsigned i = 0; i < queued; i++)
        CU_ASSERT_EQUAL(codes[i], PHX_OK);
    long parked = node_stat(&small, true, "parked"), refused = node_stat(&small, true,
                                                                         "rejected_heap");
    printf("(%ld parked, %ld refused) ", parked, refused);
    CU_ASSERT(parked >= 1);                         /* it did wait for room */
    CU_ASSERT_EQUAL(refused, 0);
    CU_ASSERT(!log_says(&small, "release received messages"));
    mrpc_conn_close(k);
    mrpc_ctx_destroy(c);
    CU_ASSERT(mrpc_node_stop(&small, SIGTERM));
}

/* ---- bind and connect ------------------------------------------------------------------------ */

static bool says_resolver_error(const char *message)
{
    static const int codes[] = { EAI_NONAME, EAI_AGAIN, EAI_FAIL, EAI_NODATA };

    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
        if (strstr(message, gai_strerror(codes[i])))
            return true;
    return false;
}

static void test_bind_connect_reasons(void)
{
    char addr[64];
    mrpc_status_t st;

    mrpc_need_setup();
    CU_ASSERT_PTR_NULL(mrpc_bind(up.ctx, "no-such-host.invalid:5000", &st));
    printf("(%s) ", st.message);
    CU_ASSERT(says_resolver_error(st.message));

    CU_ASSERT_PTR_NULL(mrpc_connect(up.ctx, "127.0.0.1:70000", &st));
    printf("(%s) ", st.message);
    CU_ASSERT_EQUAL(st.code, PHX_INVALID_ARGUMENT);
    CU_ASSERT_PTR_NOT_NULL(strstr(st.message, "0..65535"));

    snprintf(addr, sizeof(addr), "%s:%d", mrpc_node_host(&up.client_node), mrpc_free_port());
    mrpc_server_t *first = mrpc_bind(up.ctx, addr, &st);
    CU_ASSERT_PTR_NOT_NULL(first);
    CU_ASSERT_PTR_NULL(mrpc_bind(up.ctx, addr, &st));
    printf("(%s) ", st.message);
    CU_ASSERT_PTR_NOT_NULL(strstr(st.message, "in use"));
    mrpc_server_close(first);
}

/* ---- statuses, callbacks, exits --------------------------------------------------------------- */

struct async_call {
    bool        done;
    mrpc_ctx_t *ctx;            /* what the callback was given */
    phx_status_t code;
};

static void async_done(mrpc_ctx_t *on, void *token, const mrpc_status_t *st,
                       const ProtobufCMessage *reply)
{
    struct async_call *a = token;

    a->done = true;
    a->ctx = on;
    a->code = st->code;
    if (reply)
        mrpc_release(on, reply);    /* no global needed */
}

static void test_async_status_and_ctx(void)
{
    struct async_call a = { .done = false };

    mrpc_need_setup();
    mrpc_status_t st = mrpc_test__echo__echo_async(up.conn, NULL, async_done, &a, NULL);
    CU_ASSERT_EQUAL(st.code, PHX_INVALID_ARGUMENT);
    CU_ASSERT(strlen(st.message) > 10);                 /* a sentence, not a bare code */
    st = mrpc_test__echo__echo_async(up.conn, blob(up.ctx, 10, 1, 0), async_done, &a, NULL);
    CU_ASSERT_EQUAL_FATAL(st.code, PHX_OK);
    for (unsigned long long end = phx_test_now_ns() + 10 * PHX_NS;
         !a.done && phx_test_now_ns() < end;)
        CU_ASSERT_FATAL(mrpc_ctx_progress(up.ctx, 100) >= 0);
    CU_ASSERT(a.done);
    CU_ASSERT_EQUAL(a.code, PHX_OK);
    CU_ASSERT_PTR_EQUAL(a.ctx, up.ctx);
}

/* A callback that calls and waits: what it submitted inside the batch of completions (the
 * release, the call) is pushed without the doorbell until the batch ends (mrpc/lib/submit.c), so
 * the wait must ring it first. The services are left to fall asleep before, so that without that
 * ring the call would wait for the service's next timer (a second or more). */
struct nested_call {
    bool         done;
    phx_status_t code;
    double       ms;
};

static void nested_done(mrpc_ctx_t *on, void *token, const mrpc_status_t *st,
                        const ProtobufCMessage *reply)
{
    struct nested_call *n = token;
    const MrpcTest__Blob *again = NULL;

    (void)st;
    if (reply)
        mrpc_release(on, reply);
    phx_test_sleep_ms(30);
    unsigned long long t0 = phx_test_now_ns();
    n->code = mrpc_test__echo__echo_call(up.conn, blob(on, 8, 2, 0), &again, NULL).code;
    n->ms = (double)(phx_test_now_ns() - t0) / 1e6;
    if (again)
        mrpc_release(on, &again->base);
    n->done = true;
}

#define NESTED_ROUNDS 5

static void test_callback_that_waits(void)
{
    double longest = 0.0;

    mrpc_need_setup();
    for (unsigned round = 0; round < NESTED_ROUNDS; round++) {
        struct nested_call n = { .done = false };
        CU_ASSERT_EQUAL_FATAL(mrpc_test__echo__echo_async(up.conn, blob(up.ctx, 8, 1, 0),
                                                          nested_done, &n, NULL).code, PHX_OK);
        for (unsigned long long end = phx_test_now_ns() + 10 * PHX_NS;
             !n.done && phx_test_now_ns() < end;)
            CU_ASSERT_FATAL(mrpc_ctx_progress(up.ctx, 100) >= 0);
        CU_ASSERT_FATAL(n.done);
        CU_ASSERT_EQUAL(n.code, PHX_OK);
        longest = n.ms > longest ? n.ms : longest;
    }
    printf("(longest nested call %.1f ms) ", longest);
    CU_ASSERT(longest < 100.0);     /* unrung: up to a second each (the service's next timer) */
}

/* A counter of our MrpcEngine on the client node (admin "stats"), or -1. */
static long engine_stat(const char *name)
{
    return node_stat(&up.client_node, false, name);
}

/* A cancelled call ends CANCELLED inside mrpc_cancel; the service forgets it, so the reply the
 * server sends later is dropped there (counted), and the connection serves on. */
static void test_cancel(void)
{
    struct async_call a = { .done = false };
    mrpc_call_id_t id = 0;
    mrpc_call_opts_t opts = { .field_mask = MRPC_CALL_OPT_FIELD_ID, .id = &id };
    const MrpcTest__Blob *reply = NULL;

    mrpc_need_setup();
    long dropped = engine_stat("dropped");
    CU_ASSERT_EQUAL_FATAL(mrpc_test__echo__sleep_async(up.conn, blob(up.ctx, 8, 400, 0), async_done,
                                                       &a, &opts).code, PHX_OK);
    CU_ASSERT_NOT_EQUAL_FATAL(id, 0);
    mrpc_ctx_progress(up.ctx, 0);
    CU_ASSERT_EQUAL(mrpc_cancel(up.ctx, id), PHX_OK);
    CU_ASSERT(a.done);
    CU_ASSERT_EQUAL(a.code, PHX_CANCELLED);
    CU_ASSERT_EQUAL(mrpc_cancel(up.ctx, id), PHX_NOT_FOUND);   /* once */
    for (unsigned long long end = phx_test_now_ns() + 10 * PHX_NS;
         engine_stat("dropped") <= dropped && phx_test_now_ns() < end;)
        mrpc_ctx_progress(up.ctx, 100);
    CU_ASSERT(dropped >= 0 && engine_stat("dropped") > dropped);
    CU_ASSERT_EQUAL(mrpc_test__echo__echo_call(up.conn, blob(up.ctx, 8, 1, 0), &reply, NULL).code,
                    PHX_OK);
    if (reply)
        mrpc_release(up.ctx, &reply->base);
}

/* Starts `rpc_bench --server -p PORT` against NODE, output in LOG; its PID once it serves, or
 * -1 (it is then stopped). */
static pid_t start_rpc_bench(const struct mrpc_node *node, const char *log)
{
    char port[16];
    struct mrpc_peer p = { .pid = -1 };

    snprintf(port, sizeof(port), "%d", mrpc_free_port());
    snprintf(p.log, sizeof(p.log), "%s", log);
    char *const argv[] = { (char *)RPC_BENCH, "--server", "-p", port, NULL };
    p.pid = phx_spawn_to_file(argv, mrpc_env_with_prefix(node->d.prefix), log, NULL);
    for (unsigned long long end = phx_test_now_ns() + 20 * PHX_NS;
         p.pid > 0 && phx_test_now_ns() < end; phx_test_sleep_ms(10))
        if (mrpc_peer_said(&p, "rpc_bench: serving"))
            return p.pid;
    mrpc_peer_stop(&p);
    return -1;
}

/* A server whose service goes away exits 1, not 0, so a supervisor does not take it for a clean
 * stop (rpc_hello_server, rpc_bench --server; mrpc_test_peer through peer_main.c likewise). */
static void test_server_exits_nonzero_when_service_goes(void)
{
    static struct mrpc_node victim;
    struct mrpc_peer hello, peer;
    char bench_log[320];

    mrpc_need_setup();
    CU_ASSERT_FATAL(mrpc_node_start(&victim, "appapi-victim", MRPC_SIDE_SERVER));
    CU_ASSERT_FATAL(mrpc_peer_start(&hello, &victim, RPC_HELLO_SERVER, "serving"));
    CU_ASSERT_FATAL(mrpc_peer_start(&peer, &victim, MRPC_TEST_PEER, "ready"));
    snprintf(bench_log, sizeof(bench_log), "%s/rpc_bench.log", victim.d.dir);
    pid_t bench = start_rpc_bench(&victim, bench_log);
    CU_ASSERT(bench > 0);
    kill(victim.d.pid, SIGTERM);        /* the service stops; its directory (logs) stays */
    int hello_code = phx_test_reap(hello.pid, 10 * PHX_NS);
    int peer_code = phx_test_reap(peer.pid, 10 * PHX_NS);
    int bench_code = bench > 0 ? phx_test_reap(bench, 10 * PHX_NS) : -1;
    printf("(rpc_hello_server exit %d, mrpc_test_peer exit %d, rpc_bench exit %d) ", hello_code,
           peer_code, bench_code);
    CU_ASSERT_EQUAL(hello_code, 1);
    CU_ASSERT_EQUAL(peer_code, 1);
    CU_ASSERT_EQUAL(bench_code, 1);
    CU_ASSERT(mrpc_peer_said(&hello, "went away"));
    CU_ASSERT(mrpc_node_stop(&victim, SIGTERM));
}

static const phx_test_case_t cases[] = {
    { "a reply borrowing from its request is copied, not refused", test_borrowed_reply },
    { "... and where it cannot be, the server is told", test_borrowed_reply_no_room },
    { "a request borrowing from a received reply is copied", test_borrowed_request },
    { "mrpc_copy_out is bit-exact", test_copy_out_bit_exact },
    { "a full receive heap says: release received messages", test_full_receive_heap },
    { "... also for large (rendezvous) replies, not DEADLINE_EXCEEDED",
      test_full_receive_heap_large },
    { "an app slow to release large replies loses none", test_slow_app_loses_nothing },
    { "bind and connect failures say why", test_bind_connect_reasons },
    { "_async returns a status with a message; callbacks get the ctx",
      test_async_status_and_ctx },
    { "a callback that calls and waits is heard by a sleeping service",
      test_callback_that_waits },
    { "a server exits 1 when its service goes away", test_server_exits_nonzero_when_service_goes },
    { "mrpc_cancel ends a call at once and the service forgets it", test_cancel },
    { NULL, NULL },
};

int main(int argc, char **argv)
{
    return mrpc_setup_main(&up, "mrpc_appapi", "appapi", MRPC_TEST_PEER, cases, argc, argv);
}
