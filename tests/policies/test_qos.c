/* test_qos.c - QosEngine end to end: two apps of this process (two libmrpc contexts, so two
 * subscriptions of one service) call the echo server through two real services
 * (tests/mrpc/mrpc_fixture.h: namespaces joined by a veth pair when root, else loopback; UCX
 * pinned to tcp on that device), one as the bulk class and one as the latency class, with the
 * policy attached to each by policyctl. Each app has its own echo servers (all against the same
 * server-side service), as two jobs would; the latency app keeps a call in progress with Sleep
 * on a server of its own (the test server's Sleep blocks the server).
 *
 *   ordering        a latency call (a Sleep, cancelled at the end) in progress, then 16 bulk
 *                   calls of 4 MiB at once, then a 64 B latency call: the 64 B call completes
 *                   before the bulk backlog outstanding when it was made (at most the call in
 *                   progress and half of the rest end first), and the bulk engine never had more
 *                   than one large message on the wire (slice_kb = 1: one at a time), so the
 *                   64 B call found at most one bulk message ahead of it; every call
 *                   succeeds. Ordering is asserted, not times. (Measured: on TCP the 64 B call,
 *                   on its own endpoint, overtakes the backlog without pacing too; what only
 *                   the policy gives here is the one-at-a-time bound, docs/policies.md "qos".)
 *   slice           slice_kb = two bulk messages, depth = 4: exactly two on the wire at the
 *                   peak, at most four large calls in progress, and the latency app's sends
 *                   found at most the slice of bulk bytes on the wire (ahead_max_bytes)
 *   held alone      depth 1, three bulk calls of 4 MiB and a 64 B bulk call behind them: the
 *                   64 B call is not held behind the paced ones (it ends before the second)
 *   cancel held     depth 1, a latency call in progress: a bulk call of 32 KiB kept in progress
 *                   (an Echo to the busy Sleep server), so that the next one, to the echo
 *                   server, is paced and held; the app cancels it: its callback runs once,
 *                   with CANCELLED; the engine withdraws it (never forwarded, counted
 *                   cancelled, nothing held), its wait counted in paced_us; a second call
 *                   paced after it is timed again (paced and paced_us go on counting); the
 *                   echo server's app never gets either, and gets the next call once the
 *                   engines are detached
 *   no latency      half the burst with the latency app idle: nothing is paced, more than one
 *                   call is in progress at once
 *   node table      the stats show both engines' levels in the shared table
 *   bad settings    an unknown class, a priority out of range, a slice of 0, a depth of 0,
 *                   a misspelt key:
 *                   exit 1, one line naming the key, nothing attached
 *   live set        bulk -> latency priority 3 and back: the level follows; a bad value changes
 *                   nothing
 *   live upgrade    the plugin replaced by a copy while a latency call is in progress: the
 *                   settings, the counters and the call in progress come across (the bulk app
 *                   is paced by the new build's table), and the state counts one upgrade */
#include "mrpc_fixture.h"
#include "mrpc_test.mrpc.h"
#include "phx_test.h"
#include "policy_fixture.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BULK_CALLS 16
#define BULK_BYTES (4u << 20)
#define BULK_WIRE  (BULK_BYTES + 1024)   /* a bulk message as the engine counts it: with its
                                           encoding (measured: 112 bytes more) */
#define SLEEP_MS   30000        /* keeps the latency app's call in progress until cancelled */

static struct mrpc_setup up;

/* One app: its own context (subscription) and connection to an echo server. */
struct app {
    mrpc_ctx_t  *ctx;
    mrpc_conn_t *conn;
    mrpc_conn_t *slow;      /* the latency app's second connection, for Sleep */
    unsigned     sid;
};

static struct app bulk, lat;
/* The latency app's own servers: one answers its Echo calls, the other sleeps in its Sleep calls
 * (the test server's Sleep blocks the server, so that one serves nothing else meanwhile). */
static struct mrpc_peer lat_peer, sleep_peer;

static bool app_open(struct app *a, const char *addr)
{
    mrpc_ctx_params_t params = { .field_mask = MRPC_CTX_PARAM_FIELD_PREFIX,
                                 .prefix = up.client_node.d.prefix };
    mrpc_status_t st;
    struct mrpc_sub sub;

    if (!(a->ctx = mrpc_ctx_create(&params, &st)) ||
        !(a->conn = mrpc_connect(a->ctx, addr, &st)) ||
        !mrpc_ctl_find_sub(&up.client_node, getpid(), &sub)) {
        fprintf(stderr, "app: %s: %s\n", phx_status_name(st.code), st.message);
        return false;
    }
    a->sid = sub.sid;                   /* the newest: this context's */
    return true;
}

static void app_close(struct app *a)
{
    if (a->slow)
        mrpc_conn_close(a->slow);
    if (a->conn)
        mrpc_conn_close(a->conn);
    if (a->ctx)
        mrpc_ctx_destroy(a->ctx);
}

static bool bring_up(void)
{
    mrpc_status_t st;

    if (!mrpc_setup_start(&up, "qos", MRPC_TEST_PEER) ||
        !mrpc_peer_start(&lat_peer, &up.server_node, MRPC_TEST_PEER, "ready") ||
        !mrpc_peer_start(&sleep_peer, &up.server_node, MRPC_TEST_PEER, "ready") ||
        !app_open(&bulk, up.peer.addr) || !app_open(&lat, lat_peer.addr))
        return false;
    lat.slow = mrpc_connect(lat.ctx, sleep_peer.addr, &st);
    return lat.slow != NULL;
}

static void need_nodes(void)
{
    CU_ASSERT_FATAL(mrpc_bring_up_once(bring_up));
}

/* ---- traffic -------------------------------------------------------------------------------- */

/* Calls of one kind, and the rank (1, 2, ...) at which each ended among all calls of a case. */
struct flow {
    unsigned inflight, done, ok, failed;
    unsigned first_rank, last_rank;
};

static unsigned ended;                  /* calls ended so far in the case */

static void flow_done(mrpc_ctx_t *c, void *token, const mrpc_status_t *st,
                      const ProtobufCMessage *reply)
{
    struct flow *f = token;

    f->inflight--;
    f->done++;
    ended++;
    if (!f->first_rank)
        f->first_rank = ended;
    f->last_rank = ended;
    if (st->code == PHX_OK)
        f->ok++;
    else
        f->failed++;
    if (reply)
        mrpc_release(c, reply);
}

/* A Blob of BYTES of data from A's heap, Seq MS, or NULL. */
static MrpcTest__Blob *blob(struct app *a, unsigned bytes, unsigned ms)
{
    MrpcTest__Blob *b = (MrpcTest__Blob *)mrpc_message_new(a->ctx, &mrpc_test__blob__descriptor);

    if (!b)
        return NULL;
    if (bytes) {
        if (!(b->data.data = mrpc_alloc(a->ctx, bytes)))
            return NULL;
        memset(b->data.data, 0x5a, bytes);
        b->data.len = bytes;
    }
    b->seq = ms;
    return b;
}

/* Echo B (B->seq 0) or Sleep B->seq ms (on A's slow connection) from A; its id in *ID when ID is
 * not NULL. */
static bool send_blob(struct app *a, struct flow *f, MrpcTest__Blob *b, mrpc_call_id_t *id)
{
    mrpc_call_opts_t opts = { .field_mask = id ? MRPC_CALL_OPT_FIELD_ID : 0, .id = id };

    if (!b)
        return false;
    mrpc_status_t st = b->seq ? mrpc_test__echo__sleep_async(a->slow, b, flow_done, f, &opts)
                              : mrpc_test__echo__echo_async(a->conn, b, flow_done, f, &opts);
    if (st.code != PHX_OK)
        return false;
    f->inflight++;
    return true;
}

static bool call_id(struct app *a, struct flow *f, unsigned bytes, unsigned ms,
                    mrpc_call_id_t *id)
{
    return send_blob(a, f, blob(a, bytes, ms), id);
}

/* BULK_CALLS large calls from the bulk app, made at once (the messages are filled first). */
static void bulk_burst(struct flow *big)
{
    MrpcTest__Blob *b[BULK_CALLS];

    for (unsigned i = 0; i < BULK_CALLS; i++)
        CU_ASSERT_PTR_NOT_NULL_FATAL(b[i] = blob(&bulk, BULK_BYTES, 0));
    for (unsigned i = 0; i < BULK_CALLS; i++)
        CU_ASSERT_FATAL(send_blob(&bulk, big, b[i], NULL));
}

static bool call(struct app *a, struct flow *f, unsigned bytes, unsigned ms)
{
    return call_id(a, f, bytes, ms, NULL);
}

/* Progresses both apps until every flow in FLOWS (NULL-terminated) is done or SECONDS pass. */
static void run_until_done(struct flow *const *flows, double seconds)
{
    unsigned long long deadline = phx_test_now_ns() + (unsigned long long)(seconds * PHX_NS);

    for (;;) {
        unsigned left = 0;
        for (unsigned i = 0; flows[i]; i++)
            left += flows[i]->inflight;
        if (!left || phx_test_now_ns() > deadline)
            break;
        CU_ASSERT_FATAL(mrpc_ctx_progress(bulk.ctx, 1) >= 0);
        CU_ASSERT_FATAL(mrpc_ctx_progress(lat.ctx, 1) >= 0);
    }
}

/* Progresses both apps for MS milliseconds. */
static void run_for(unsigned ms)
{
    unsigned long long end = phx_test_now_ns() + ms * 1000000ull;

    while (phx_test_now_ns() < end) {
        CU_ASSERT_FATAL(mrpc_ctx_progress(bulk.ctx, 1) >= 0);
        CU_ASSERT_FATAL(mrpc_ctx_progress(lat.ctx, 1) >= 0);
    }
}

/* Cancels the latency app's call ID (a Sleep that has served its purpose) and waits for it. */
static void cancel_sleeper(struct flow *sleeper, mrpc_call_id_t id)
{
    CU_ASSERT_EQUAL(mrpc_cancel(lat.ctx, id), PHX_OK);
    run_until_done((struct flow *const[]){ sleeper, NULL }, 10);
    CU_ASSERT_EQUAL(sleeper->failed, 1);
}

/* ---- policyctl ------------------------------------------------------------------------------ */

static int attach_to(const struct app *a, const char *s1, const char *s2, const char *s3,
                     phx_test_run_result_t *r)
{
    char pid[16], sid[16];

    snprintf(pid, sizeof(pid), "%d", (int)getpid());
    snprintf(sid, sizeof(sid), "%u", a->sid);
    const char *args[] = { "attach", "qos", "--pid", pid, "--sid", sid, "--set", s1,
                           s2 ? "--set" : NULL, s2, s3 ? "--set" : NULL, s3, NULL };
    return policy_ctl(&up.client_node, args, r);
}

static void attach3(const struct app *a, const char *s1, const char *s2, const char *s3)
{
    static phx_test_run_result_t r;

    CU_ASSERT_FATAL(attach_to(a, s1, s2, s3, &r) == 0);
}

static void attach(const struct app *a, const char *s1, const char *s2)
{
    attach3(a, s1, s2, NULL);
}

static void detach(const struct app *a)
{
    static phx_test_run_result_t r;
    char pid[16], sid[16];

    snprintf(pid, sizeof(pid), "%d", (int)getpid());
    snprintf(sid, sizeof(sid), "%u", a->sid);
    CU_ASSERT(policy_ctl(&up.client_node, (const char *[]){ "detach", "qos", "--pid", pid,
                                                            "--sid", sid, NULL }, &r) == 0);
}

static json_object *stats(const struct app *a)
{
    return policy_stats_sid(&up.client_node, "QosEngine", getpid(), a->sid);
}

static long stat(const struct app *a, const char *path)
{
    json_object *o = stats(a);
    long v = policy_json_path_int(o, path);

    json_object_put(o);
    return v;
}

static int set(const struct app *a, const char *setting, phx_test_run_result_t *r)
{
    char id[24];

    snprintf(id, sizeof(id), "%ld",
             policy_engine_id_sid(&up.client_node, "QosEngine", getpid(), a->sid));
    return policy_ctl(&up.client_node, (const char *[]){ "set", id, setting, NULL }, r);
}

/* ---- cases ---------------------------------------------------------------------------------- */

/* Progresses both apps until the latency app's QosEngine has a call in progress (10 s at most). */
static void wait_in_progress(void)
{
    for (unsigned i = 0; i < 500 && stat(&lat, "calls") < 1; i++)
        run_for(20);
    CU_ASSERT_EQUAL(stat(&lat, "calls"), 1);
}

/* A latency call in progress, BULK_CALLS large calls, then a 64 B latency call; the bulk calls
 * still outstanding when the 64 B call was made. */
static unsigned burst_behind_latency(struct flow *sleeper, struct flow *big, struct flow *small)
{
    mrpc_call_id_t id = 0;

    ended = 0;
    CU_ASSERT_FATAL(call_id(&lat, sleeper, 0, SLEEP_MS, &id));
    wait_in_progress();
    bulk_burst(big);
    run_for(2);                         /* the bulk burst leaves the app */
    unsigned backlog = big->inflight;
    CU_ASSERT_FATAL(call(&lat, small, 0, 0));
    unsigned long long deadline = phx_test_now_ns() + 60 * PHX_NS;
    while (small->inflight && phx_test_now_ns() < deadline)
        run_for(1);
    small->first_rank = big->done;      /* bulk calls done when the 64 B call ended */
    run_until_done((struct flow *const[]){ big, small, NULL }, 60);
    cancel_sleeper(sleeper, id);
    return backlog;
}

static void test_ordering(void)
{
    struct flow sleeper = { 0 }, big = { 0 }, small = { 0 };

    need_nodes();
    attach3(&bulk, "class=bulk", "slice_kb=1", "idle_ms=60000");
    attach(&lat, "class=latency", NULL);
    unsigned backlog = burst_behind_latency(&sleeper, &big, &small);
    unsigned overtaken = small.first_rank - (BULK_CALLS - backlog);
    json_object *o = stats(&bulk);
    long paced = policy_json_path_int(o, "paced"), large = policy_json_path_int(o, "large");
    long peak = policy_json_path_int(o, "wire_peak");
    long ahead = stat(&lat, "ahead_max_bytes");
    printf("(the 64 B call was made behind %u bulk calls and ended after %u of them; bulk "
           "engine: %ld of %ld large calls paced, at most %ld on the wire; the latency app's "
           "sends found at most %ld bulk bytes on the wire) ", backlog, overtaken, paced, large,
           peak, ahead);
    CU_ASSERT_EQUAL(big.ok, BULK_CALLS);
    CU_ASSERT_EQUAL(small.ok, 1);
    CU_ASSERT(backlog >= 3);
    CU_ASSERT(overtaken <= 1 + backlog / 2);
    CU_ASSERT(paced >= 1);
    CU_ASSERT_EQUAL(peak, 1);
    CU_ASSERT(ahead <= (long)BULK_WIRE);                /* one message, the slice's minimum */
    CU_ASSERT_EQUAL(large, BULK_CALLS);
    CU_ASSERT_EQUAL(policy_json_path_int(o, "calls"), 0);
    CU_ASSERT_EQUAL(policy_json_path_int(o, "wire_msgs"), 0);
    CU_ASSERT_EQUAL(policy_json_path_int(o, "large_calls"), 0);
    json_object_put(o);
    CU_ASSERT_EQUAL(stat(&lat, "calls"), 0);
    CU_ASSERT_EQUAL(stat(&lat, "started"), 2);
    detach(&lat);
    detach(&bulk);
}

/* The slice as a budget of bytes on the wire, with several transfers in flight: a slice of two
 * bulk messages and a depth of 4. The bulk engine has exactly two on the wire at its peak (the
 * slice allows two, pacing allows no third), never more than `depth` large calls in progress,
 * and no send of the latency app found more than the slice of bulk bytes on the wire ahead of
 * it. Counts the engines record, not times. */
static void test_slice(void)
{
    struct flow sleeper = { 0 }, big = { 0 }, small = { 0 };
    char slice[32];

    need_nodes();
    snprintf(slice, sizeof(slice), "slice_kb=%u", 2 * BULK_WIRE / 1024);
    attach3(&bulk, "class=bulk", slice, "depth=4");
    attach(&lat, "class=latency", NULL);
    unsigned backlog = burst_behind_latency(&sleeper, &big, &small);
    json_object *o = stats(&bulk);
    long wire = policy_json_path_int(o, "wire_peak"), depth = policy_json_path_int(o,
                                                                                   "large_peak");
    long paced = policy_json_path_int(o, "paced"), ahead = stat(&lat, "ahead_max_bytes");
    printf("(backlog %u; bulk: at most %ld on the wire, %ld large calls in progress, %ld paced; "
           "latency sends found at most %ld bulk bytes ahead, slice %u) ", backlog, wire, depth,
           paced, ahead, 2 * BULK_WIRE);
    CU_ASSERT_EQUAL(big.ok, BULK_CALLS);
    CU_ASSERT_EQUAL(small.ok, 1);
    CU_ASSERT_EQUAL(wire, 2);
    CU_ASSERT(depth >= 2 && depth <= 4);
    CU_ASSERT(paced >= 1);
    CU_ASSERT(ahead <= 2 * (long)BULK_WIRE);
    CU_ASSERT_EQUAL(stat(&lat, "sends"), 2);                   /* the Sleep and the 64 B call */
    CU_ASSERT_EQUAL(policy_json_path_int(o, "wire_bytes"), 0);
    json_object_put(o);
    detach(&lat);
    detach(&bulk);
}

/* A paced message holds back only itself: with the latency app busy and a depth of one, the bulk
 * app's second and third large calls wait, each for the reply to the one before, and a 64 B
 * call the bulk app makes behind them goes on at once: it ends before the second large call.
 * (Held in order, it would leave only after the second large call's reply, so at best third.
 * Two services that both pace a flow each way froze so: each one's replies waited behind its
 * own paced request for the other's, benchmarks/mpi_qos.) Order, not times. */
static void test_held_alone(void)
{
    struct flow sleeper = { 0 }, big = { 0 }, small = { 0 };
    mrpc_call_id_t id = 0;

    need_nodes();
    attach3(&bulk, "class=bulk", "depth=1", "idle_ms=60000");
    attach(&lat, "class=latency", NULL);
    ended = 0;
    CU_ASSERT_FATAL(call_id(&lat, &sleeper, 0, SLEEP_MS, &id));
    wait_in_progress();
    for (unsigned i = 0; i < 3; i++)
        CU_ASSERT_FATAL(call(&bulk, &big, BULK_BYTES, 0));
    CU_ASSERT_FATAL(call(&bulk, &small, 64, 0));
    run_until_done((struct flow *const[]){ &big, &small, NULL }, 60);
    json_object *o = stats(&bulk);
    long paced = policy_json_path_int(o, "paced"), held = policy_json_path_int(o, "tx.held");
    long peak = policy_json_path_int(o, "large_peak");
    printf("(the 64 B call ended %u of 4, the large ones at %u..%u; bulk engine: %ld paced, "
           "%ld held, at most %ld large in progress) ", small.last_rank, big.first_rank,
           big.last_rank, paced, held, peak);
    CU_ASSERT_EQUAL(big.ok, 3);
    CU_ASSERT_EQUAL(small.ok, 1);
    CU_ASSERT(small.last_rank <= 2);
    CU_ASSERT(paced >= 1);
    CU_ASSERT(held >= 1);
    CU_ASSERT_EQUAL(peak, 1);
    CU_ASSERT_EQUAL(policy_json_path_int(o, "tx.waiting"), 0);
    json_object_put(o);
    cancel_sleeper(&sleeper, id);
    detach(&lat);
    detach(&bulk);
}

static void test_cancel_held(void)
{
    static struct policy_flow first, second;
    static phx_test_run_result_t r;
    struct flow sleeper = { 0 };
    mrpc_call_id_t id = 0;
    mrpc_status_t st;

    need_nodes();
    const struct policy_held h = { .node = &up.client_node, .server = &up.server_node,
                                   .engine = "QosEngine", .pid = getpid(),
                                   .server_pid = up.peer.pid, .sid = bulk.sid };
    attach3(&bulk, "class=bulk", "depth=1", "idle_ms=60000");
    CU_ASSERT_EQUAL(set(&bulk, "pace_min_kb=16", &r), 0);
    attach(&lat, "class=latency", NULL);
    CU_ASSERT_FATAL(call_id(&lat, &sleeper, 0, SLEEP_MS, &id));
    wait_in_progress();
    mrpc_conn_t *busy = mrpc_connect(bulk.ctx, sleep_peer.addr, &st);
    CU_ASSERT_PTR_NOT_NULL_FATAL(busy);
    policy_flow_init(&first, bulk.ctx, busy, 32768);
    policy_flow_init(&second, bulk.ctx, bulk.conn, 32768);
    CU_ASSERT_FATAL(policy_flow_submit(&first, 0, false));     /* in progress: depth used */
    CU_ASSERT_FATAL(policy_flow_submit(&second, 0, false));    /* paced: held */
    policy_cancel_held(&second, &h);
    long paced = stat(&bulk, "paced"), paced_us = stat(&bulk, "paced_us");
    CU_ASSERT(paced >= 1);
    CU_ASSERT(paced_us > 0);                    /* its wait counted, up to the withdrawal */
    CU_ASSERT_FATAL(policy_flow_submit(&second, 1, false));    /* paced, held, timed again */
    policy_cancel_held(&second, &h);
    printf("(paced %ld, %ld us; after another paced call was cancelled: %ld, %ld us) ", paced,
           paced_us, stat(&bulk, "paced"), stat(&bulk, "paced_us"));
    CU_ASSERT_EQUAL(stat(&bulk, "paced"), paced + 1);
    CU_ASSERT(stat(&bulk, "paced_us") > paced_us);
    first.want = PHX_CANCELLED;
    CU_ASSERT_EQUAL(mrpc_cancel(bulk.ctx, first.last_id), PHX_OK);
    CU_ASSERT_EQUAL(first.inflight, 0);
    cancel_sleeper(&sleeper, id);
    mrpc_conn_close(busy);
    long incoming = policy_app_stat(&up.server_node, up.peer.pid, "incoming_calls");
    detach(&lat);
    detach(&bulk);
    CU_ASSERT_FATAL(policy_flow_submit(&second, 2, false));
    policy_flow_drain(&second);
    CU_ASSERT_EQUAL(second.ok, 1);
    CU_ASSERT_EQUAL(policy_app_stat(&up.server_node, up.peer.pid, "incoming_calls"),
                    incoming + 1);          /* the next call, and not the cancelled one */
}

/* Waits (bounded: 2 s) until no level above A's is busy: the previous case's latency calls keep
 * their level busy for linger_ms after they end, which would pace the first calls here. */
static void wait_not_yielding(const struct app *a)
{
    for (unsigned i = 0; i < 40; i++) {
        json_object *o = stats(a), *y = NULL;
        bool busy = json_object_object_get_ex(o, "yielding", &y) && json_object_get_boolean(y);
        json_object_put(o);
        if (!busy)
            return;
        usleep(50000);
    }
    CU_FAIL("a level above the bulk app stayed busy for 2 s with the latency app idle");
}

static void test_no_latency(void)
{
    struct flow big = { 0 };

    need_nodes();
    attach3(&bulk, "class=bulk", "slice_kb=1", "idle_ms=60000");
    attach(&lat, "class=latency", NULL);
    wait_not_yielding(&bulk);
    ended = 0;
    for (unsigned i = 0; i < BULK_CALLS / 2; i++)
        CU_ASSERT_FATAL(call(&bulk, &big, BULK_BYTES, 0));
    run_until_done((struct flow *const[]){ &big, NULL }, 60);
    long paced = stat(&bulk, "paced"), peak = stat(&bulk, "wire_peak");
    printf("(latency app idle: %ld of %u bulk calls paced, %ld in progress at once) ", paced,
           BULK_CALLS / 2, peak);
    CU_ASSERT_EQUAL(big.ok, BULK_CALLS / 2);
    CU_ASSERT_EQUAL(paced, 0);
    CU_ASSERT(peak > 1);
    CU_ASSERT_EQUAL(stat(&bulk, "large"), BULK_CALLS / 2);
    detach(&lat);
    detach(&bulk);
}

static void test_table(void)
{
    need_nodes();
    attach(&bulk, "class=bulk", "priority=2");
    attach(&lat, "class=latency", "latency_budget_us=500");
    json_object *o = stats(&bulk);
    printf("(bulk level %ld, latency level %ld) ", policy_json_path_int(o, "level"),
           stat(&lat, "level"));
    CU_ASSERT_EQUAL(policy_json_path_int(o, "level"), 2);
    CU_ASSERT_EQUAL(stat(&lat, "level"), 8);
    CU_ASSERT_EQUAL(policy_json_path_int(o, "urgency"), 0);     /* the runtime's hint */
    CU_ASSERT_EQUAL(stat(&lat, "urgency"), 1);
    CU_ASSERT_EQUAL(stat(&lat, "settings.latency_budget_us"), 500);
    json_object *node = NULL, *entry = NULL;
    CU_ASSERT(json_object_object_get_ex(o, "node", &node));
    CU_ASSERT(node && json_object_object_get_ex(node, "bulk.2", &entry) &&
              policy_json_path_int(entry, "engines") == 1);
    CU_ASSERT(node && json_object_object_get_ex(node, "latency.0", &entry) &&
              policy_json_path_int(entry, "engines") == 1);
    json_object_put(o);
    detach(&lat);
    detach(&bulk);
}

static void expect_refused(const char *setting, const char *key)
{
    static phx_test_run_result_t r;

    CU_ASSERT_EQUAL(attach_to(&bulk, setting, NULL, NULL, &r), 1);
    printf("(%s -> %.*s) ", setting, (int)strcspn(r.err, "\n"), r.err);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, key));
    CU_ASSERT_EQUAL(strchr(r.err, '\n') - r.err + 1, (long)strlen(r.err));    /* one line */
}

static void test_bad_settings(void)
{
    need_nodes();
    expect_refused("class=fast", "class");
    expect_refused("priority=8", "priority");
    expect_refused("slice_us=0", "slice_us");
    expect_refused("depth=0", "depth");
    expect_refused("clas=latency", "clas");
    CU_ASSERT_EQUAL(stat(&bulk, "level"), -1);          /* nothing attached */
}

static void test_set(void)
{
    static phx_test_run_result_t r;

    need_nodes();
    attach(&bulk, "class=bulk", NULL);
    CU_ASSERT_EQUAL(set(&bulk, "class=latency", &r), 0);
    CU_ASSERT_EQUAL(set(&bulk, "priority=3", &r), 0);
    long level = stat(&bulk, "level");
    CU_ASSERT_EQUAL(stat(&bulk, "urgency"), 4);                 /* 1 + priority */
    CU_ASSERT_EQUAL(set(&bulk, "priority=99", &r), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "priority"));
    long kept = stat(&bulk, "level");
    CU_ASSERT_EQUAL(set(&bulk, "class=bulk", &r), 0);
    long back = stat(&bulk, "level");
    CU_ASSERT_EQUAL(stat(&bulk, "urgency"), 0);
    printf("(bulk -> latency priority 3: level %ld; a bad value keeps %ld; back to bulk: %ld) ",
           level, kept, back);
    CU_ASSERT_EQUAL(level, 11);
    CU_ASSERT_EQUAL(kept, 11);
    CU_ASSERT_EQUAL(back, 3);
    detach(&bulk);
}

/* A copy of the built plugin in N's directory: a new build, as far as the service can tell. */
static const char *plugin_copy(const struct mrpc_node *n)
{
    static char path[512], cmd[1200];

    snprintf(path, sizeof(path), "%s/qos-next.so", n->d.dir);
    snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", PHX_PLUGIN_QOS, path);
    return system(cmd) == 0 ? path : NULL;
}

static void test_upgrade(void)
{
    static phx_test_run_result_t r;
    struct flow sleeper = { 0 }, big = { 0 }, small = { 0 };
    const char *copy;

    need_nodes();
    CU_ASSERT_FATAL((copy = plugin_copy(&up.client_node)) != NULL);
    attach3(&bulk, "class=bulk", "slice_kb=1", "idle_ms=60000");
    attach(&lat, "class=latency", "latency_budget_us=100000");
    mrpc_call_id_t id = 0;
    ended = 0;
    CU_ASSERT_FATAL(call_id(&lat, &sleeper, 0, SLEEP_MS, &id));
    wait_in_progress();
    CU_ASSERT_EQUAL(mrpc_ctl(&up.client_node, (const char *[]){ "upgrade", "--plugin", copy,
                                                                NULL }, &r), 0);
    bulk_burst(&big);
    run_for(2);
    CU_ASSERT_FATAL(call(&lat, &small, 0, 0));
    run_until_done((struct flow *const[]){ &big, &small, NULL }, 60);
    cancel_sleeper(&sleeper, id);
    json_object *o = stats(&bulk);
    long paced = policy_json_path_int(o, "paced"), peak = policy_json_path_int(o, "wire_peak");
    printf("(after the upgrade: upgrades %ld and %ld, bulk paced %ld, at most %ld in progress, "
           "latency budget %ld) ", policy_json_path_int(o, "upgrades"), stat(&lat, "upgrades"),
           paced, peak, stat(&lat, "settings.latency_budget_us"));
    CU_ASSERT_EQUAL(big.ok, BULK_CALLS);
    CU_ASSERT_EQUAL(small.ok, 1);
    CU_ASSERT_EQUAL(policy_json_path_int(o, "upgrades"), 1);
    CU_ASSERT(paced >= 1);
    CU_ASSERT_EQUAL(peak, 1);
    CU_ASSERT_EQUAL(stat(&lat, "upgrades"), 1);
    CU_ASSERT_EQUAL(stat(&lat, "started"), 2);
    CU_ASSERT_EQUAL(stat(&lat, "calls"), 0);
    CU_ASSERT_EQUAL(stat(&lat, "settings.latency_budget_us"), 100000);
    json_object_put(o);
    detach(&lat);
    detach(&bulk);
}

static const phx_test_case_t cases[] = {
    { "a 64 B latency call ends before the bulk backlog queued ahead of it", test_ordering },
    { "a slice of two messages: two on the wire, never more bulk bytes ahead of latency",
      test_slice },
    { "a paced message holds back only itself: a small call behind it goes on", test_held_alone },
    { "a held bulk call cancelled by the app: one CANCELLED answer, never sent",
      test_cancel_held },
    { "with the latency app idle, bulk is not paced", test_no_latency },
    { "stats show both levels in the node's shared table", test_table },
    { "bad settings: one line naming the key, nothing attached", test_bad_settings },
    { "policyctl set moves the app between classes and refuses bad values", test_set },
    { "settings, counters and calls in progress survive a live upgrade", test_upgrade },
    { NULL, NULL },
};

int main(int argc, char **argv)
{
    int rc = phx_test_main("qos", cases, argc, argv);

    app_close(&lat);
    app_close(&bulk);
    if (lat_peer.pid > 0 && mrpc_peer_stop(&lat_peer) != 0)
        rc = 1;
    if (sleep_peer.pid > 0) {
        kill(sleep_peer.pid, SIGKILL);  /* still asleep in a cancelled Sleep, by design */
        mrpc_peer_stop(&sleep_peer);
    }
    return mrpc_setup_stop(&up) ? rc : 1;
}
