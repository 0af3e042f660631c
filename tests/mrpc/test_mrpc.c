/* test_mrpc.c - mRPC end to end: apps on two Phoenix services talking over UCX (tcp), in two
 * network namespaces joined by a veth pair when root, on loopback otherwise (mrpc_fixture.h).
 *
 * The "server node" runs the test server (mrpc_test_peer) and the rpc_hello example server; the
 * "client node" serves this process, which calls through libmrpc. Both nodes start once, with the
 * first case that needs them, and stop at the end. The cases:
 *
 *   rpc_hello        the tutorial's client and server print what the tutorial says
 *   round trips      Echo of nested, repeated-heavy messages from 0 B to 64 MiB of payload
 *                    comes back deep-equal (same protobuf encoding, same bytes)
 *   10000 calls      10,000 asynchronous calls outstanding on one connection all complete OK,
 *                    each with its own reply
 *   handler errors   a handler's status and text reach the caller; a method without handler
 *                    answers UNIMPLEMENTED
 *   deadline         a call outliving its timeout ends DEADLINE_EXCEEDED on time, and its late
 *                    reply does not disturb the next call
 *   nobody listens   connecting to a port nobody binds fails UNAVAILABLE within 2 s
 *   server killed    the server's phoenixd killed mid-call: the call ends UNAVAILABLE within 2 s
 *   live upgrade     the client's mrpc plugin replaced while a call is in flight: the call and
 *                    the ones after it succeed
 *   changed layout   both services' mrpc plugin upgraded to a build with another state layout
 *                    (version 4, converted from 3), and their ucx plugin to one with another
 *                    layout too (version 7, converted from 6), in one transaction per service
 *                    while 3,000 calls flow: none lost or failed, the old mrpc and ucx builds
 *                    gone from phoenixd's /proc/PID/maps; then upgrades of each plugin to a
 *                    build that cannot read the state are refused, and upgrades of each to a
 *                    build that fails after taking every resource the old state handed over
 *                    are aborted; 3,000 more calls go on through all four
 *   policy           NullEngine attached between MrpcEngine and the transport, and detached,
 *                    while 3,000 calls flow: each completes once with its own reply
 *
 * Latency is measured by benchmarks/rpc_bench (benchmarks/README.md), not here.
 *
 * Every loop is bounded in time; every process is stopped by PID. */
#include "mrpc_fixture.h"
#include "mrpc_test.mrpc.h"
#include "phx_test.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MIB (1u << 20)

static struct mrpc_setup up;    /* the nodes, the test server (up.peer), our up.ctx and up.conn */

/* ---- messages ----------------------------------------------------------------------------- */

static void fill(uint8_t *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(i * 131u + seed);
}

static MrpcTest__Leaf *leaf(unsigned i)
{
    MrpcTest__Leaf *l = (MrpcTest__Leaf *)mrpc_message_new(up.ctx, &mrpc_test__leaf__descriptor);
    char text[32];
    uint8_t data[24];

    snprintf(text, sizeof(text), "leaf %u", i);
    fill(data, sizeof(data), i);
    l->text = mrpc_strdup(up.ctx, text);
    mrpc_bytes_set(up.ctx, &l->data, data, i % sizeof(data));
    mrpc_repeated_alloc(up.ctx, &l->numbers, &l->n_numbers, sizeof(int64_t), i % 5);
    for (size_t k = 0; k < l->n_numbers; k++)
        l->numbers[k] = (int64_t)k * -1234567 + i;
    return l;
}

/* A node with every shape: leaves, a chain of DEPTH children, a map, a oneof, strings, doubles. */
static MrpcTest__Node *node(unsigned i, unsigned depth)
{
    MrpcTest__Node *n = (MrpcTest__Node *)mrpc_message_new(up.ctx, &mrpc_test__node__descriptor);
    char name[32];

    snprintf(name, sizeof(name), "node %u.%u", i, depth);
    n->name = mrpc_strdup(up.ctx, name);
    mrpc_repeated_alloc(up.ctx, &n->leaves, &n->n_leaves, sizeof(*n->leaves), 3);
    for (unsigned k = 0; k < n->n_leaves; k++)
        n->leaves[k] = leaf(i * 10 + k);
    n->child = depth ? node(i, depth - 1) : NULL;
    mrpc_repeated_alloc(up.ctx, &n->by_name, &n->n_by_name, sizeof(*n->by_name), 2);
    for (unsigned k = 0; k < n->n_by_name; k++) {
        n->by_name[k] = (MrpcTest__Node__ByNameEntry *)mrpc_message_new(
            up.ctx, &mrpc_test__node__by_name_entry__descriptor);
        n->by_name[k]->key = mrpc_strdup(up.ctx, k ? "second" : "first");
        n->by_name[k]->value = leaf(k + depth);
    }
    switch (i % 3) {
    case 0:
        n->choice_case = MRPC_TEST__NODE__CHOICE_LABEL;
        n->label = mrpc_strdup(up.ctx, "labelled");
        break;
    case 1:
        n->choice_case = MRPC_TEST__NODE__CHOICE_CODE;
        n->code = 0xfeedfacecafeull + i;
        break;
    default:
        n->choice_case = MRPC_TEST__NODE__CHOICE_SPECIAL;
        n->special = leaf(99);
    }
    mrpc_repeated_alloc(up.ctx, &n->tags, &n->n_tags, sizeof(char *), 3);
    for (unsigned k = 0; k < n->n_tags; k++)
        n->tags[k] = mrpc_strdup(up.ctx, k == 1 ? "" : "tag");
    mrpc_repeated_alloc(up.ctx, &n->weights, &n->n_weights, sizeof(double), 4);
    for (unsigned k = 0; k < n->n_weights; k++)
        n->weights[k] = 0.5 * k - i;
    return n;
}

/* A Blob with SIZE bytes of data and, when RICH, three nested nodes. */
static MrpcTest__Blob *blob(size_t size, unsigned seq, bool rich)
{
    MrpcTest__Blob *b = (MrpcTest__Blob *)mrpc_message_new(up.ctx, &mrpc_test__blob__descriptor);

    if (!b)
        return NULL;
    b->seq = seq;
    if (size) {
        uint8_t *data = mrpc_alloc(up.ctx, size);
        if (!data)
            return NULL;
        fill(data, size, seq);
        b->data.data = data;
        b->data.len = size;
    }
    if (rich) {
        mrpc_repeated_alloc(up.ctx, &b->nodes, &b->n_nodes, sizeof(*b->nodes), 3);
        for (unsigned k = 0; k < b->n_nodes; k++)
            b->nodes[k] = node(k, 2);
    }
    return b;
}

/* The protobuf encoding of MSG (malloc'd), the yardstick of deep equality. */
static uint8_t *packed(const ProtobufCMessage *msg, size_t *len)
{
    *len = protobuf_c_message_get_packed_size(msg);
    uint8_t *buf = malloc(*len ? *len : 1);
    if (buf)
        protobuf_c_message_pack(msg, buf);
    return buf;
}

static mrpc_status_t echo(MrpcTest__Blob *req, const MrpcTest__Blob **reply)
{
    return mrpc_test__echo__echo_call(up.conn, req, reply, NULL);
}

/* ---- cases ------------------------------------------------------------------------------- */

static void test_rpc_hello(void)
{
    struct mrpc_peer hello_server;
    static phx_test_run_result_t r;

    mrpc_need_setup();
    CU_ASSERT_FATAL(mrpc_peer_start(&hello_server, &up.server_node, RPC_HELLO_SERVER,
                                    "serving rpc_hello.Greeter"));
    char *const argv[] = { RPC_HELLO_CLIENT, hello_server.addr, NULL };
    struct phx_test_run_params p = {
        .field_mask = PHX_TEST_RUN_PARAM_FIELD_ENV | PHX_TEST_RUN_PARAM_FIELD_TIMEOUT,
        .env = mrpc_env_with_prefix(up.client_node.d.prefix), .timeout_ns = 20 * PHX_NS };
    phx_test_run(argv, &p, &r);
    CU_ASSERT_EQUAL(r.code, 0);
    CU_ASSERT_STRING_EQUAL(r.out, "reply: Hello mRPC!\n");
    if (r.code)
        fprintf(stderr, "rpc_hello_client: %s", r.err);
    CU_ASSERT(mrpc_peer_said(&hello_server, "request: name=mRPC\n"));
    CU_ASSERT_EQUAL(mrpc_peer_stop(&hello_server), 0);
}

/* Sends a Blob of SIZE bytes and checks the echo is deep-equal. */
static void round_trip(size_t size, bool rich)
{
    MrpcTest__Blob *req = blob(size, (unsigned)size, rich);
    const MrpcTest__Blob *reply = NULL;
    size_t want_len, got_len;

    CU_ASSERT_PTR_NOT_NULL_FATAL(req);
    uint8_t *want = packed(&req->base, &want_len);   /* before the call: req is libmrpc's then */
    mrpc_status_t st = echo(req, &reply);
    CU_ASSERT_EQUAL(st.code, PHX_OK);
    if (st.code != PHX_OK || !reply) {
        fprintf(stderr, "echo of %zu bytes: %s: %s\n", size, phx_status_name(st.code), st.message);
        free(want);
        return;
    }
    uint8_t *got = packed(&reply->base, &got_len);
    CU_ASSERT_EQUAL(reply->data.len, size);
    CU_ASSERT_EQUAL(reply->n_nodes, rich ? 3u : 0u);
    CU_ASSERT_EQUAL(got_len, want_len);
    CU_ASSERT(got && want && got_len == want_len && memcmp(got, want, want_len) == 0);
    if (rich && reply->n_nodes == 3) {
        CU_ASSERT_STRING_EQUAL(reply->nodes[2]->child->child->name, "node 2.0");
        CU_ASSERT_EQUAL(reply->nodes[1]->choice_case, MRPC_TEST__NODE__CHOICE_CODE);
        CU_ASSERT_STRING_EQUAL(reply->nodes[0]->by_name[1]->key, "second");
    }
    free(got);
    free(want);
    mrpc_release(up.ctx, &reply->base);
}

/* An echo of SIZE bytes through K (on another node than ours); its status, and in *SECS how long
 * it took. */
static mrpc_status_t echo_on(mrpc_ctx_t *c, mrpc_conn_t *k, size_t size, double *secs)
{
    MrpcTest__Blob *req = (MrpcTest__Blob *)mrpc_message_new(c, &mrpc_test__blob__descriptor);
    const MrpcTest__Blob *reply = NULL;
    unsigned long long t0 = phx_test_now_ns();

    CU_ASSERT_PTR_NOT_NULL_FATAL(req);
    CU_ASSERT_PTR_NOT_NULL_FATAL(req->data.data = mrpc_alloc(c, size));
    req->data.len = size;
    mrpc_status_t st = mrpc_test__echo__echo_call(k, req, &reply, NULL);
    *secs = (double)(phx_test_now_ns() - t0) / PHX_NS;
    if (reply) {
        CU_ASSERT_EQUAL(reply->data.len, size);
        mrpc_release(c, &reply->base);
    }
    return st;
}

/* A reply too large for the caller's service (over its in-flight budget, set to 8 MiB on a node of
 * its own) is refused there, and the server's service answers the caller with the reason at once
 * instead of leaving it to its deadline (30 s here). */
static void test_reply_refused(void)
{
    static struct mrpc_node small;
    mrpc_ctx_params_t params = { .field_mask = MRPC_CTX_PARAM_FIELD_PREFIX };
    mrpc_status_t st;
    double secs;

    mrpc_need_setup();
    CU_ASSERT_FATAL(mrpc_node_start_mrpc(&small, "mrpc-small", MRPC_SIDE_CLIENT,
                                         "inflight_mb = 8;"));
    params.prefix = small.d.prefix;
    mrpc_ctx_t *c = mrpc_ctx_create(&params, &st);
    mrpc_conn_t *k = c ? mrpc_connect(c, up.peer.addr, &st) : NULL;
    CU_ASSERT_PTR_NOT_NULL(k);
    if (k) {
        CU_ASSERT_EQUAL(echo_on(c, k, 4 * MIB, &secs).code, PHX_OK);
        st = echo_on(c, k, 16 * MIB, &secs);
        printf("(%s after %.2f s: %s) ", phx_status_name(st.code), secs, st.message);
        CU_ASSERT_EQUAL(st.code, PHX_RESOURCE_EXHAUSTED);
        CU_ASSERT_PTR_NOT_NULL(strstr(st.message, "reply could not be sent"));
        CU_ASSERT(secs < 5);
        CU_ASSERT_EQUAL(echo_on(c, k, 4 * MIB, &secs).code, PHX_OK);    /* and it goes on */
        mrpc_conn_close(k);
    }
    mrpc_ctx_destroy(c);
    CU_ASSERT(mrpc_node_stop(&small, SIGTERM));
}

/* Counter KEY of the transport engine of app PID on node N, or -1. */
static long transport_stat(const struct mrpc_node *n, pid_t pid, const char *key)
{
    struct mrpc_sub sub;
    char id[32];

    if (!mrpc_ctl_find_sub(n, pid, &sub))
        return -1;
    snprintf(id, sizeof(id), "%ld", sub.back_engine);
    json_object *stats = mrpc_ctl_json(n, (const char *[]){ "engine", id, "stats", NULL });
    long v = mrpc_json_int(stats, key);
    json_object_put(stats);
    return v;
}

/* The client's transport counter KEY ("tx_memh", "tx_local", ...), or -1. */
static long client_sent(const char *key)
{
    return transport_stat(&up.client_node, getpid(), key);
}

/* KEY of the client's transport engine's answer to admin REQUEST, or -1. */
static long transport_says(const char *request, const char *key)
{
    struct mrpc_sub sub;
    char id[32];

    if (!mrpc_ctl_find_sub(&up.client_node, getpid(), &sub))
        return -1;
    snprintf(id, sizeof(id), "%ld", sub.back_engine);
    json_object *reply = mrpc_ctl_json(&up.client_node,
                                       (const char *[]){ "engine", id, request, NULL });
    long n = reply ? mrpc_json_int(reply, key) : -1;
    json_object_put(reply);
    return n;
}

static void test_round_trips(void)
{
    static const size_t sizes[] = { 1, 100, 4096, 65536, MIB, 16 * MIB, 64 * MIB };
    enum { LARGE = 3 };     /* 64 KiB .. 16 MiB; 64 MiB spans two 64 MiB heap chunks (ucx_mem.h) */

    mrpc_need_setup();
    if (mrpc_one_service()) {       /* two runtime threads: the apps are on different workers */
        long mine = client_sent("worker"), server = transport_stat(&up.server_node,
                                                                   up.peer.pid, "worker");
        CU_ASSERT(mine > 0 && server > 0);
        CU_ASSERT_EQUAL(mine != server, mrpc_runtime_threads() > 1);
    }
    const char *counter = mrpc_same_node_path() ? "tx_local" : "tx_memh";
    long memh_before = client_sent(counter), eager_before = client_sent("eager_sends");
    round_trip(0, false);                   /* the empty message */
    round_trip(0, true);
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        round_trip(sizes[i], true);
        if (sizes[i] >= 65536)
            round_trip(sizes[i], false);    /* one big piece: the common shape of bulk data */
    }
    /* Each large plain request above the eager limit went as one contiguous piece with its heap
     * chunk's handle, the rest of it in the AM header (ucx_send.c); the rich ones have too many
     * pieces for that. On
     * the same-node path every request went straight into the server's receive heap instead. */
    CU_ASSERT(memh_before >= 0);
    long memh_after = client_sent(counter);
    printf("(%ld sends counted in %s) ", memh_after - memh_before, counter);
    if (mrpc_same_node_path()) {    /* and the server's replies came the same way */
        CU_ASSERT(memh_after - memh_before >= 2 + (long)(sizeof(sizes) / sizeof(sizes[0])));
        CU_ASSERT(client_sent("rx_local") >= 2 + (long)(sizeof(sizes) / sizeof(sizes[0])));
    } else {    /* over TCP, 64 KiB goes eager instead (settings.ucx.eager_max_kb) */
        long eager = client_sent("eager_sends") - eager_before;
        CU_ASSERT(eager >= 1);
        CU_ASSERT(memh_after - memh_before >= LARGE - 1);
    }
}

#define MANY 10000u

struct many {
    unsigned done, ok, right_reply;
    unsigned seen[MANY];
};

static void many_done(mrpc_ctx_t *c, void *token, const mrpc_status_t *st,
                      const ProtobufCMessage *reply)
{
    struct many *m = token;

    m->done++;
    if (st->code == PHX_OK)
        m->ok++;
    else if (m->done - m->ok == 1)      /* the first failure says why */
        printf("(call %u: %s: %s) ", m->done, phx_status_name(st->code), st->message);
    if (reply) {
        const MrpcTest__Blob *b = (const MrpcTest__Blob *)reply;
        if (b->seq < MANY && m->seen[b->seq]++ == 0)
            m->right_reply++;
        mrpc_release(c, reply);
    }
}

static void test_many_outstanding(void)
{
    static struct many m;
    unsigned long long deadline;

    mrpc_need_setup();
    memset(&m, 0, sizeof(m));
    for (unsigned i = 0; i < MANY; i++) {
        MrpcTest__Blob *req = blob(16, i, false);
        CU_ASSERT_PTR_NOT_NULL_FATAL(req);
        CU_ASSERT_EQUAL_FATAL(mrpc_test__echo__echo_async(up.conn, req, many_done, &m, NULL).code,
                              PHX_OK);
    }
    deadline = phx_test_now_ns() + 120 * PHX_NS;
    while (m.done < MANY && phx_test_now_ns() < deadline)
        CU_ASSERT_FATAL(mrpc_ctx_progress(up.ctx, 100) >= 0);
    CU_ASSERT_EQUAL(m.done, MANY);
    CU_ASSERT_EQUAL(m.ok, MANY);
    CU_ASSERT_EQUAL(m.right_reply, MANY);       /* every seq came back exactly once */
}

static void test_handler_errors(void)
{
    MrpcTest__FailRequest *req;
    MrpcTest__Empty *empty;
    const MrpcTest__Empty *reply = NULL;

    mrpc_need_setup();
    req = (MrpcTest__FailRequest *)mrpc_message_new(up.ctx, &mrpc_test__fail_request__descriptor);
    req->code = PHX_PERMISSION_DENIED;
    req->message = mrpc_strdup(up.ctx, "no entry for mRPC tests");
    mrpc_status_t st = mrpc_test__echo__fail_call(up.conn, req, &reply, NULL);
    CU_ASSERT_EQUAL(st.code, PHX_PERMISSION_DENIED);
    CU_ASSERT_STRING_EQUAL(st.message, "no entry for mRPC tests");
    CU_ASSERT_PTR_NULL(reply);

    empty = (MrpcTest__Empty *)mrpc_message_new(up.ctx, &mrpc_test__empty__descriptor);
    st = mrpc_test__echo__missing_call(up.conn, empty, &reply, NULL);
    CU_ASSERT_EQUAL(st.code, PHX_UNIMPLEMENTED);
    CU_ASSERT_PTR_NOT_NULL(strstr(st.message, "mrpc_test.Echo.Missing"));

    round_trip(10, false);                  /* and the connection still serves */
}

static void test_deadline(void)
{
    mrpc_call_opts_t opts = { .field_mask = MRPC_CALL_OPT_FIELD_TIMEOUT, .timeout_ms = 200 };
    const MrpcTest__Blob *reply = NULL;

    mrpc_need_setup();
    unsigned long long t0 = phx_test_now_ns();
    mrpc_status_t st = mrpc_test__echo__sleep_call(up.conn, blob(8, 1500, false), &reply, &opts);
    unsigned long long took = phx_test_now_ns() - t0;
    CU_ASSERT_EQUAL(st.code, PHX_DEADLINE_EXCEEDED);
    CU_ASSERT(took >= 190 * 1000000ull && took < 1000 * 1000000ull);
    round_trip(32, true);                   /* waits for the sleeper, whose reply is dropped */
}

static void test_nobody_listens(void)
{
    char addr[64];
    mrpc_status_t st;

    mrpc_need_setup();
    snprintf(addr, sizeof(addr), "%s:%d", mrpc_node_host(&up.server_node), mrpc_free_port());
    unsigned long long t0 = phx_test_now_ns();
    mrpc_conn_t *c = mrpc_connect(up.ctx, addr, &st);
    unsigned long long took = phx_test_now_ns() - t0;
    CU_ASSERT_PTR_NULL(c);
    CU_ASSERT_EQUAL(st.code, PHX_UNAVAILABLE);
    CU_ASSERT(took < 2 * PHX_NS);
    mrpc_conn_close(c);
}

struct one_call {
    bool          done;
    mrpc_status_t status;
};

static void one_done(mrpc_ctx_t *on, void *token, const mrpc_status_t *st,
                     const ProtobufCMessage *reply)
{
    struct one_call *c = token;

    c->done = true;
    c->status = *st;
    if (reply)
        mrpc_release(on, reply);
}

/* A call to SLEEPER's sleeping handler, through a connection of its own; once it reached the
 * handler, KILL_IT(ARG) kills WHAT, and the call must fail UNAVAILABLE within 2 s. */
static void call_fails_on_kill(const struct mrpc_peer *sleeper, void (*kill_it)(void *),
                               void *arg, const char *what)
{
    struct one_call call = { .done = false };
    mrpc_status_t st;
    mrpc_conn_t *c = mrpc_connect(up.ctx, sleeper->addr, &st);

    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_EQUAL_FATAL(mrpc_test__echo__sleep_async(c, blob(8, 5000, false), one_done, &call,
                                                        NULL).code, PHX_OK);
    for (unsigned long long t = phx_test_now_ns() + 300 * 1000000ull; phx_test_now_ns() < t;)
        mrpc_ctx_progress(up.ctx, 10);         /* the call reaches the sleeping handler */
    CU_ASSERT_FALSE(call.done);
    kill_it(arg);
    unsigned long long t0 = phx_test_now_ns(), deadline = t0 + 10 * PHX_NS;
    while (!call.done && phx_test_now_ns() < deadline)
        CU_ASSERT_FATAL(mrpc_ctx_progress(up.ctx, 50) >= 0);
    unsigned long long took = phx_test_now_ns() - t0;
    CU_ASSERT(call.done);
    CU_ASSERT_EQUAL(call.status.code, PHX_UNAVAILABLE);
    CU_ASSERT(took < 2 * PHX_NS);
    printf("\n    call failed %s %.0f ms after %s was killed: %s\n",
           phx_status_name(call.status.code), took / 1e6, what, call.status.message);
    mrpc_conn_close(c);
}

static void kill_node(void *node)
{
    mrpc_node_stop(node, SIGKILL);
}

static void kill_peer(void *peer)
{
    CU_ASSERT_EQUAL(kill(((struct mrpc_peer *)peer)->pid, SIGKILL), 0);
}

static void test_server_killed(void)
{
    struct mrpc_node victim;
    struct mrpc_peer sleeper;

    mrpc_need_setup();
    CU_ASSERT_FATAL(mrpc_node_start(&victim, "mrpc-victim", MRPC_SIDE_SERVER));
    CU_ASSERT_FATAL(mrpc_peer_start(&sleeper, &victim, MRPC_TEST_PEER, "ready"));
    call_fails_on_kill(&sleeper, kill_node, &victim, "the server's service");
    mrpc_peer_stop(&sleeper);               /* its service is gone: it exits or is killed */
    round_trip(64, true);                   /* our service is fine */
}

/* The server APP killed (SIGKILL) while it holds a call, its service alive: its engines go, the
 * connection is lost and the call fails UNAVAILABLE at once. With PHX_TEST_ONE_SERVICE=1 the
 * server app is an app of our own service (the same-node path). */
static void test_server_app_killed(void)
{
    struct mrpc_peer sleeper;

    mrpc_need_setup();
    CU_ASSERT_FATAL(mrpc_peer_start(&sleeper, &up.server_node, MRPC_TEST_PEER, "ready"));
    call_fails_on_kill(&sleeper, kill_peer, &sleeper, "the server app");
    mrpc_peer_stop(&sleeper);               /* reaps it */
    CU_ASSERT(mrpc_node_alive(&up.server_node));
    round_trip(64, true);                   /* the service serves on */
}

/* Another app of the client node, with a connection and registered layouts of its own. */
static mrpc_ctx_t *second_app(mrpc_conn_t **c)
{
    mrpc_ctx_params_t params = { .field_mask = MRPC_CTX_PARAM_FIELD_PREFIX,
                                 .prefix = up.client_node.d.prefix };
    mrpc_status_t st;
    mrpc_ctx_t *other = mrpc_ctx_create(&params, &st);

    CU_ASSERT_PTR_NOT_NULL_FATAL(other);
    *c = mrpc_connect(other, up.peer.addr, &st);
    CU_ASSERT_PTR_NOT_NULL_FATAL(*c);
    MrpcTest__FailRequest *req = (MrpcTest__FailRequest *)mrpc_message_new(
        other, &mrpc_test__fail_request__descriptor);
    req->code = PHX_ABORTED;
    CU_ASSERT_EQUAL(mrpc_test__echo__fail_call(*c, req, NULL, NULL).code, PHX_ABORTED);
    return other;
}

static void test_live_upgrade(void)
{
    static phx_test_run_result_t r;
    struct one_call call = { .done = false };
    mrpc_conn_t *other_conn;

    mrpc_need_setup();
    const char *copy = mrpc_node_plugin_copy(&up.client_node);
    CU_ASSERT_PTR_NOT_NULL_FATAL(copy);
    mrpc_ctx_t *other = second_app(&other_conn);
    CU_ASSERT_EQUAL_FATAL(mrpc_test__echo__sleep_async(up.conn, blob(4096, 300, true), one_done,
                                                        &call, NULL).code, PHX_OK);
    mrpc_ctx_progress(up.ctx, 0);              /* submitted: the upgrade finds it in flight */
    CU_ASSERT_EQUAL(mrpc_ctl(&up.client_node, (const char *[]){ "upgrade", "--plugin", copy, NULL },
                             &r), 0);
    unsigned long long deadline = phx_test_now_ns() + 10 * PHX_NS;
    while (!call.done && phx_test_now_ns() < deadline)
        CU_ASSERT_FATAL(mrpc_ctx_progress(up.ctx, 50) >= 0);
    CU_ASSERT(call.done);
    CU_ASSERT_EQUAL(call.status.code, PHX_OK);
    /* The other app leaves: the new build frees state the old build made. */
    mrpc_conn_close(other_conn);
    mrpc_ctx_destroy(other);
    mrpc_ctx_progress(up.ctx, 200);
    round_trip(MIB, true);                  /* the new build carries on with the old state */
    CU_ASSERT(mrpc_node_alive(&up.client_node));
}

/* The distinct mapped files of process PID whose path holds NEEDLE, one per line, in OUT. */
static void mapped_files(pid_t pid, const char *needle, char *out, size_t cap)
{
    char path[64], line[1024];
    size_t used = 0;

    snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
    FILE *f = fopen(path, "r");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    out[0] = '\0';
    while (fgets(line, sizeof(line), f)) {
        const char *file = strchr(line, '/');
        if (!file || !strstr(file, needle) || strstr(out, file))
            continue;
        used += (size_t)snprintf(out + used, cap - used, "%s", file);
        if (used >= cap)
            break;
    }
    fclose(f);
}

/* Upgrades the mrpc plugin of node N to PLUGIN and ucx to UCX_PLUGIN under traffic: the files of
 * the mrpc and ucx builds it ran are unmapped from its phoenixd afterwards (both dlclose()d). */
static void upgrade_and_unmap(const struct mrpc_node *n, const char *plugin, const char *ucx_plugin,
                              const char *expect)
{
    static phx_test_run_result_t r;
    static const char *const names[] = { "libphoenix_mrpc", "libphoenix_ucx" };
    static char before[2][8192], after[2][8192];

    for (unsigned i = 0; i < 2; i++) {
        mapped_files(n->d.pid, names[i], before[i], sizeof(before[i]));
        CU_ASSERT_FATAL(before[i][0] != '\0');
    }
    CU_ASSERT_EQUAL(mrpc_ctl(n, (const char *[]){ "upgrade", "--plugin", plugin, "--plugin",
                                                   ucx_plugin, NULL }, &r), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out, expect));
    for (unsigned i = 0; i < 2; i++) {
        mapped_files(n->d.pid, names[i], after[i], sizeof(after[i]));
        for (char *line = strtok(before[i], "\n"); line; line = strtok(NULL, "\n"))
            CU_ASSERT_PTR_NULL(strstr(after[i], line));     /* the old build was dlclose()d */
    }
    CU_ASSERT_PTR_NOT_NULL(strstr(after[0], "libphoenix_mrpc_next"));
    CU_ASSERT_PTR_NOT_NULL(strstr(after[1], "libphoenix_ucx_next"));
    printf("\n    %s; mapped now: %s%s", r.out, after[0], after[1]);
}

static void progress_until(const struct many *m, unsigned done);

/* Both services move to a build with another state layout while calls flow, then one that cannot
 * read the state is refused. */
/* Submits calls FROM..TO-1 of M (their seq numbers) and hands them to the service. */
static void submit_echoes(struct many *m, unsigned from, unsigned to)
{
    for (unsigned i = from; i < to; i++)
        CU_ASSERT_EQUAL_FATAL(mrpc_test__echo__echo_async(up.conn, blob(64, i, false), many_done, m,
                                                          NULL).code, PHX_OK);
    mrpc_ctx_progress(up.ctx, 0);
}

static void test_upgrade_changed_layout(void)
{
    static struct many m;
    static phx_test_run_result_t r;
    const unsigned n = 3000;

    mrpc_need_setup();
    memset(&m, 0, sizeof(m));
    submit_echoes(&m, 0, n);
    progress_until(&m, n / 10);
    CU_ASSERT(m.done < n);                  /* calls are in flight during the upgrade */
    /* On one service (PHX_TEST_ONE_SERVICE=1) both apps' engines move, the second time from
     * the next build to itself. */
    const char *first = mrpc_one_service()
        ? "-> 1.1.0 (2 engines); upgraded ucx 1.0.0 -> 1.0.1 (2 engines)"
        : "-> 1.1.0 (1 engine); upgraded ucx 1.0.0 -> 1.0.1 (1 engine)";
    const char *second = mrpc_one_service()
        ? "-> 1.1.0 (2 engines); upgraded ucx 1.0.1 -> 1.0.1 (2 engines)" : first;
    long tx_before = transport_says("stats", "tx_msgs");
    upgrade_and_unmap(&up.client_node, PHX_PLUGIN_MRPC_NEXT, PHX_PLUGIN_UCX_NEXT, first);
    CU_ASSERT(tx_before > 0 && transport_says("stats", "tx_msgs") >= tx_before); /* moved */
    CU_ASSERT_EQUAL(transport_says("upgrades", "upgrades"), 1);   /* converted 5 -> 6 */
    progress_until(&m, n / 2);
    upgrade_and_unmap(&up.server_node, PHX_PLUGIN_MRPC_NEXT, PHX_PLUGIN_UCX_NEXT, second);
    CU_ASSERT_NOT_EQUAL(mrpc_ctl(&up.client_node, (const char *[]){ "upgrade", "--plugin",
                                 PHX_PLUGIN_MRPC_REFUSE, NULL }, &r), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "reads state versions 5 to 5, not 4"));
    printf("\n    refused: %s", r.err);
    CU_ASSERT_NOT_EQUAL(mrpc_ctl(&up.client_node, (const char *[]){ "upgrade", "--plugin",
                                 PHX_PLUGIN_UCX_REFUSE, NULL }, &r), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "UcxRpcAdapterEngine 1.0.2 reads state versions 8 to 8, "
                                         "not 7"));
    printf("\n    refused: %s", r.err);      /* the calls below check the transport runs on */
    submit_echoes(&m, n, 2 * n);            /* in the service when the next upgrade aborts */
    CU_ASSERT_NOT_EQUAL(mrpc_ctl(&up.client_node, (const char *[]){ "upgrade", "--plugin",
                                 PHX_PLUGIN_MRPC_REFUSE_LATE, NULL }, &r), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "refuses the state it has just read"));
    printf("\n    aborted: %s", r.err);
    CU_ASSERT_NOT_EQUAL(mrpc_ctl(&up.client_node, (const char *[]){ "upgrade", "--plugin",
                                 PHX_PLUGIN_UCX_REFUSE_LATE, NULL }, &r), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "UcxRpcAdapterEngine 1.0.3 refuses the state it has "
                                         "just read"));
    printf("\n    aborted: %s", r.err);        /* UCX still calls the running build: */
    progress_until(&m, 2 * n);
    CU_ASSERT_EQUAL(m.done, 2 * n);
    CU_ASSERT_EQUAL(m.ok, 2 * n);
    CU_ASSERT_EQUAL(m.right_reply, 2 * n);
    round_trip(MIB, true);                  /* the converted state carries on */
    mrpc_status_t st;
    double secs;
    mrpc_conn_t *k = mrpc_connect(up.ctx, up.peer.addr, &st);  /* accepted by the listener the */
    CU_ASSERT_PTR_NOT_NULL_FATAL(k);                        /* server's new ucx build made */
    CU_ASSERT_EQUAL(echo_on(up.ctx, k, 64, &secs).code, PHX_OK);
    mrpc_conn_close(k);
    CU_ASSERT(mrpc_node_alive(&up.client_node) && mrpc_node_alive(&up.server_node));
}

static const char attach_null[] =
    "addon_engine = \"NullEngine\";\n"
    "op = \"attach\";\n"
    "tx_channels_replacements = ( (\"MrpcEngine\", \"NullEngine\", 0, 0),\n"
    "                             (\"NullEngine\", \"UcxRpcAdapterEngine\", 0, 0) );\n"
    "rx_channels_replacements = ( (\"UcxRpcAdapterEngine\", \"NullEngine\", 0, 0),\n"
    "                             (\"NullEngine\", \"MrpcEngine\", 0, 0) );\n"
    "group = [ \"MrpcEngine\", \"UcxRpcAdapterEngine\" ];\n";
static const char detach_null[] =
    "addon_engine = \"NullEngine\";\n"
    "op = \"detach\";\n"
    "tx_channels_replacements = ( (\"MrpcEngine\", \"UcxRpcAdapterEngine\", 0, 0) );\n"
    "rx_channels_replacements = ( (\"UcxRpcAdapterEngine\", \"MrpcEngine\", 0, 0) );\n";

/* Runs the calls in M until DONE of them completed (or 60 s passed). */
static void progress_until(const struct many *m, unsigned done)
{
    unsigned long long deadline = phx_test_now_ns() + 60 * PHX_NS;

    while (m->done < done && phx_test_now_ns() < deadline)
        CU_ASSERT_FATAL(mrpc_ctx_progress(up.ctx, 50) >= 0);
}

/* Splices the policy in or out (OP "attach" or "detach", as DESCRIPTOR says), as an
 * administrator would, for our subscription; then EXPECT_ADDONS policies are attached. */
static void splice(const char *op, const char *descriptor, unsigned expect_addons)
{
    static phx_test_run_result_t r;
    struct mrpc_sub sub;
    char sid[16], pid[16], name[32];

    CU_ASSERT_FATAL(mrpc_ctl_find_sub(&up.client_node, getpid(), &sub));
    snprintf(sid, sizeof(sid), "%u", sub.sid);
    snprintf(pid, sizeof(pid), "%d", (int)getpid());
    snprintf(name, sizeof(name), "%s-null.conf", op);
    const char *file = phx_test_write_file(up.client_node.d.dir, name, descriptor);
    CU_ASSERT_EQUAL(mrpc_ctl(&up.client_node,
                             (const char *[]){ op, "--pid", pid, "--sid", sid, "--descriptor",
                                               file, NULL }, &r), 0);
    CU_ASSERT(mrpc_ctl_find_sub(&up.client_node, getpid(), &sub) && sub.n_addons == expect_addons);
}

/* NullEngine spliced between MrpcEngine and the transport, then out again, while calls flow:
 * every call completes once, with its own reply. */
static void test_policy_under_traffic(void)
{
    static struct many m;
    const unsigned n = 3000;

    mrpc_need_setup();
    memset(&m, 0, sizeof(m));
    for (unsigned i = 0; i < n; i++)
        CU_ASSERT_EQUAL_FATAL(mrpc_test__echo__echo_async(up.conn, blob(64, i, false), many_done,
                                                          &m, NULL).code, PHX_OK);
    progress_until(&m, n / 3);
    splice("attach", attach_null, 1);
    progress_until(&m, 2 * n / 3);
    splice("detach", detach_null, 0);
    progress_until(&m, n);
    CU_ASSERT_EQUAL(m.done, n);
    CU_ASSERT_EQUAL(m.ok, n);
    CU_ASSERT_EQUAL(m.right_reply, n);
}

/* The server's service lists the test server's accepted connection from us: our node's
 * address, and (auth "none" in these nodes) no uid, marked unauthenticated; the table says so. */
static void test_list_connections(void)
{
    static phx_test_run_result_t r;
    json_object *list, *subs, *conns, *v;
    bool found = false;

    mrpc_need_setup();
    round_trip(100, false);                 /* up.conn is connected and carried a call */
    list = mrpc_ctl_json(&up.server_node, (const char *[]){ "list", NULL });
    CU_ASSERT_FATAL(list && json_object_object_get_ex(list, "subscriptions", &subs));
    for (size_t i = 0; i < json_object_array_length(subs); i++) {
        json_object *sub = json_object_array_get_idx(subs, i);
        CU_ASSERT_FATAL(json_object_object_get_ex(sub, "connections", &conns));
        for (size_t k = 0; k < json_object_array_length(conns); k++) {
            json_object *c = json_object_array_get_idx(conns, k);
            CU_ASSERT(json_object_object_get_ex(c, "peer", &v));
            const char *peer = json_object_get_string(v);
            if (strncmp(peer, mrpc_node_host(&up.client_node),
                        strlen(mrpc_node_host(&up.client_node))) != 0)
                continue;
            found = true;
            CU_ASSERT(json_object_object_get_ex(c, "authenticated", &v) &&
                      !json_object_get_boolean(v));
            CU_ASSERT(json_object_object_get_ex(c, "uid", &v) && v == NULL);
            CU_ASSERT(mrpc_json_int(c, "id") > 0);
        }
    }
    json_object_put(list);
    CU_ASSERT(found);
    CU_ASSERT_EQUAL(mrpc_ctl(&up.server_node, (const char *[]){ "list", NULL }, &r), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "Connections"));
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "unauthenticated"));
}

static const phx_test_case_t cases[] = {
    { "rpc_hello client and server", test_rpc_hello },
    { "round trips from 0 B to 64 MiB stay deep-equal", test_round_trips },
    { "10000 outstanding calls on one connection", test_many_outstanding },
    { "handler errors reach the caller", test_handler_errors },
    { "a reply the caller's service refuses reaches it as an error", test_reply_refused },
    { "deadline exceeded on time", test_deadline },
    { "nobody listens: UNAVAILABLE within 2 s", test_nobody_listens },
    { "server's service killed mid-call: UNAVAILABLE within 2 s", test_server_killed },
    { "server app killed -9 mid-call: UNAVAILABLE within 2 s", test_server_app_killed },
    { "live upgrade of the mrpc plugin under a call", test_live_upgrade },
    { "live upgrade to a changed state layout under load", test_upgrade_changed_layout },
    { "policy attached and detached under traffic", test_policy_under_traffic },
    { "phoenixctl list shows the server's connections and who the peers are",
      test_list_connections },
    { NULL, NULL },
};

int main(int argc, char **argv)
{
    return mrpc_setup_main(&up, "mrpc", "mrpc", MRPC_TEST_PEER, cases, argc, argv);
}
