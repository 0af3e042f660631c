/* test_policy_sdk.c - the policy SDK (phoenix/policy.h) alone, in process: a policy engine between
 * four channels the test plays (MrpcEngine above, the transport below), on an app port of its own
 * and a fake /proc tree, so that each case pins one promise of the SDK down:
 *
 *   identity    decide() sees the app's pid, uid, gid and Slurm job (verified, from its cgroup)
 *               and a request's deadline; `size` and `version` say what the SDK filled
 *   peers       the address a client connected to; an accepted connection's address and its
 *               authenticated uid/gid (struct mrpc_peer_info injected as ACCEPTED would carry
 *               it), recorded even when decide() sees only tx; forgotten after CONN_LOST
 *   reject tx   a refused SEND comes back up as SENT with the status, its sentence in the wire
 *               message's reason; nothing reaches the transport
 *   reject rx   a refused RECEIVED goes up as REFUSED with the status and the sentence in the
 *               receive heap; its payload is freed; an unrefused one passes untouched
 *   reply       a REPLY verdict the SDK cannot carry out: without the app's layouts (no MrpcEngine
 *               here) the call is rejected with INTERNAL and a sentence saying why; without a
 *               way up (no rx out) it is forwarded and counted unrejectable; a reply to
 *               something that is not a request is refused the same way (the answered cases,
 *               with MrpcEngine's layouts, are test_policy_content's)
 *   peer table  a thousand connections come and go: every live one is found, no ended one is
 *   hold alone  held calls let the calls behind them pass, keep their order among themselves,
 *               and keep a CLOSE behind them waiting; arm() then reports a timeout, no work
 *   cancels     a CANCEL whose request is held (or waits behind a held call) withdraws it, in
 *               ordinary and hold-alone mode: both come back up as SENT (CANCELLED for the
 *               request, OK for the CANCEL), nothing reaches the transport, nothing stays held;
 *               on rx both payloads are freed and nothing goes up; with no way up the CANCEL
 *               waits behind its request (hold-alone too: arm() reports no work) and follows it;
 *               the policy is told of the withdrawn call (phx_policy_on_withdrawn)
 *   many        4000 held calls (the queue grown to 4096 with some held): CANCELs of the head,
 *               the tail, the middle and others, and of a call id queued twice (the first, then
 *               the second), withdraw exactly theirs; CANCELs naming nothing held wait in line;
 *               released, the rest leave in their order; the SDK's index of them is kept while
 *               they wait and dropped once none does
 *               (and in hold-alone mode: 1000 held among 2000 that pass; a CANCEL of one that
 *               passed passes the held ones too)
 *
 * Every loop is bounded. */
#include "graph.h"
#include "host.h"
#include "mrpc/transport.h"
#include "phoenix/app_port.h"
#include "phoenix/clock.h"
#include "phoenix/heap.h"
#include "phoenix/policy.h"
#include "phx_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEPTH 2048u

static struct {
    char                    proc[64];
    phx_app_port_t         *port;
    struct phx_engine_group group;
    struct phx_engine       engine;
    phx_channel_t          *tx_in, *tx_out, *rx_in, *rx_out;
    phx_policy_t            pol;
    /* what decide() saw last, and what it answers */
    phx_call_t              seen;
    phx_caller_t            seen_caller;
    phx_peer_t              seen_peer;
    unsigned                decided;
    phx_verdict_t           verdict;
    uint64_t                hold_odd_until;     /* not 0: calls with odd ids held until then */
    phx_call_t              withdrawn;          /* the last call phx_policy_on_withdrawn told */
    unsigned                withdrawals;
} t;

static void on_withdrawn(void *ctx, const phx_call_t *c, uint64_t now)
{
    (void)ctx;
    (void)now;
    t.withdrawn = *c;
    t.withdrawals++;
}

static phx_verdict_t decide(void *ctx, const phx_call_t *c, uint64_t now)
{
    (void)ctx;
    (void)now;
    t.seen = *c;
    t.seen_caller = *c->caller;
    t.seen_peer = *c->peer;
    t.decided++;
    if (t.hold_odd_until && (c->call_id & 1) && c->kind == PHX_CALL_REQUEST)
        return phx_verdict_hold(t.hold_odd_until);
    return t.verdict;
}

static void write_file(const char *dir, const char *name, const char *text)
{
    char path[160];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f = fopen(path, "w"));
    fputs(text, f);
    fclose(f);
}

/* A fake /proc with this process in Slurm job 4242's cgroup and real gid 777. */
static void fake_proc(void)
{
    char dir[128];

    snprintf(t.proc, sizeof(t.proc), "/tmp/phx_sdk_proc.XXXXXX");
    CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(t.proc));
    snprintf(dir, sizeof(dir), "%s/%d", t.proc, (int)getpid());
    CU_ASSERT_EQUAL_FATAL(mkdir(dir, 0700), 0);
    write_file(dir, "cgroup", "0::/system.slice/slurmstepd.scope/job_4242/step_0/user/task_0\n");
    write_file(dir, "status", "Name:\tapp\nUid:\t1000\t1000\t1000\t1000\n"
                              "Gid:\t777\t777\t777\t777\n");
    setenv("PHOENIX_PROC_ROOT", t.proc, 1);
}

static void start(unsigned dirs)
{
    struct phx_app_port_params p = { .field_mask = PHX_APP_PORT_PARAM_FIELD_CRED |
                                                   PHX_APP_PORT_PARAM_FIELD_SEND_SIZE |
                                                   PHX_APP_PORT_PARAM_FIELD_RECV_SIZE,
                                     .send_size = 4u << 20, .recv_size = 4u << 20,
                                     .pid = getpid(), .uid = 1000, .gid = 1000 };
    char err[256];

    memset(&t, 0, sizeof(t));
    fake_proc();
    CU_ASSERT_PTR_NOT_NULL_FATAL(t.port = phx_app_port_create(&p, err, sizeof(err)));
    t.tx_in = phx_channel_create(PHX_TX, DEPTH);
    t.tx_out = phx_channel_create(PHX_TX, DEPTH);
    t.rx_in = phx_channel_create(PHX_RX, DEPTH);
    t.rx_out = phx_channel_create(PHX_RX, DEPTH);
    CU_ASSERT_FATAL(t.tx_in && t.tx_out && t.rx_in && t.rx_out);
    t.group.app = t.port;
    t.engine = (struct phx_engine){ .id = 9, .group = &t.group, .wait_fd = -1 };
    t.engine.in[PHX_TX][0] = t.tx_in;
    t.engine.out[PHX_TX][0] = t.tx_out;
    t.engine.in[PHX_RX][0] = t.rx_in;
    t.engine.out[PHX_RX][0] = t.rx_out;
    CU_ASSERT_EQUAL_FATAL(phx_policy_init(&t.pol, decide, NULL, dirs, 64), 0);
    t.verdict = phx_verdict_forward();
}

static void stop(void)
{
    char path[160];

    phx_policy_fini(&t.pol);
    phx_channel_destroy(t.tx_in);
    phx_channel_destroy(t.tx_out);
    phx_channel_destroy(t.rx_in);
    phx_channel_destroy(t.rx_out);
    phx_app_port_destroy(t.port);
    snprintf(path, sizeof(path), "rm -rf %s", t.proc);
    CU_ASSERT_EQUAL(system(path), 0);
    unsetenv("PHOENIX_PROC_ROOT");
}

static void turn(void)
{
    phx_policy_progress(&t.pol, &t.engine, phx_now_ns());
}

/* Pushes D on CH and turns once. */
static void feed(phx_channel_t *ch, const phx_desc_t *d)
{
    CU_ASSERT_EQUAL_FATAL(phx_chan_push(ch, d, 1), 1);
    turn();
}

static struct mrpc_wire_msg wire_of(uint8_t kind, uint64_t call_id, uint64_t deadline)
{
    struct mrpc_wire_msg w = { .hdr = { .magic = MRPC_WIRE_MAGIC, .version = MRPC_WIRE_VERSION,
                                        .kind = kind, .format = MRPC_FORMAT_NATIVE,
                                        .service_id = 11, .method_id = 22, .call_id = call_id,
                                        .payload_len = 48 },
                               .deadline_ns = deadline };
    return w;
}

static phx_desc_t send_of(uint32_t conn, struct mrpc_wire_msg *w)
{
    return (phx_desc_t){ .kind = MRPC_DESC_SEND, .conn_id = conn, .service_id = 11,
                         .method_id = 22, .call_id = w->hdr.call_id,
                         .addr = (uintptr_t)w, .len = sizeof(w->hdr) + 48 };
}

static void test_identity(void)
{
    start(1u << PHX_TX);
    uint64_t deadline = phx_now_ns() + 5000000000ull;
    struct mrpc_wire_msg w = wire_of(MRPC_WIRE_CALL, 1, deadline);
    phx_desc_t d = send_of(3, &w), out;

    feed(t.tx_in, &d);
    CU_ASSERT_EQUAL_FATAL(t.decided, 1);
    CU_ASSERT_EQUAL(t.seen.size, sizeof(phx_call_t));
    CU_ASSERT_EQUAL(t.seen.version, PHX_CALL_VERSION);
    CU_ASSERT_EQUAL(t.seen.kind, PHX_CALL_REQUEST);
    CU_ASSERT_FALSE(t.seen.server_side);
    CU_ASSERT_EQUAL(t.seen.deadline_ns, deadline);
    CU_ASSERT_EQUAL(t.seen.bytes, 48);
    CU_ASSERT_EQUAL(t.seen_caller.pid, getpid());
    CU_ASSERT_EQUAL(t.seen_caller.uid, 1000);
    CU_ASSERT(t.seen_caller.gid_known);
    CU_ASSERT_EQUAL(t.seen_caller.gid, 777);
    CU_ASSERT_STRING_EQUAL(t.seen_caller.job, "4242");
    CU_ASSERT(t.seen_caller.job_verified);
    CU_ASSERT_EQUAL(t.seen_peer.flags, 0);              /* a connection it never saw made */
    CU_ASSERT_EQUAL(t.seen_peer.uid, PHX_PEER_UID_UNKNOWN);
    CU_ASSERT_EQUAL(phx_chan_pop(t.tx_out, &out, 1), 1);
    CU_ASSERT_EQUAL(out.addr, d.addr);
    /* a reply carries no deadline and is the server's side */
    struct mrpc_wire_msg r = wire_of(MRPC_WIRE_REPLY, 2, 12345);
    d = send_of(3, &r);
    feed(t.tx_in, &d);
    CU_ASSERT_EQUAL(t.seen.deadline_ns, 0);
    CU_ASSERT(t.seen.server_side);
    stop();
}

static void test_peers(void)
{
    static char target[] = "10.1.2.3:7000";
    struct mrpc_peer_info info = { .flags = MRPC_PEER_AUTHENTICATED, .uid = 1234, .gid = 55,
                                   .addr = "[fd00::2]:41000" };
    uint32_t acc = MRPC_CONN_ACCEPTED_BASE + 1, anon = MRPC_CONN_ACCEPTED_BASE + 2;
    phx_desc_t d;

    start(1u << PHX_TX);                 /* rx is not decided, and still watched */
    feed(t.tx_in, &(phx_desc_t){ .kind = MRPC_DESC_CONNECT, .conn_id = 5,
                                 .addr = (uintptr_t)target, .len = sizeof(target) });
    struct mrpc_wire_msg w = wire_of(MRPC_WIRE_CALL, 1, 0);
    d = send_of(5, &w);
    feed(t.tx_in, &d);
    CU_ASSERT_EQUAL(t.seen_peer.flags, PHX_PEER_KNOWN);
    CU_ASSERT_STRING_EQUAL(t.seen_peer.addr, "10.1.2.3:7000");
    CU_ASSERT_EQUAL(t.seen_peer.uid, PHX_PEER_UID_UNKNOWN);

    feed(t.rx_in, &(phx_desc_t){ .kind = MRPC_DESC_ACCEPTED, .conn_id = acc, .binding_id = 1,
                                 .addr = (uintptr_t)&info, .len = sizeof(info) });
    feed(t.rx_in, &(phx_desc_t){ .kind = MRPC_DESC_ACCEPTED, .conn_id = anon, .binding_id = 1 });
    struct mrpc_wire_msg r = wire_of(MRPC_WIRE_REPLY, 9, 0);
    d = send_of(acc, &r);
    feed(t.tx_in, &d);
    CU_ASSERT_EQUAL(t.seen_peer.flags, PHX_PEER_KNOWN | PHX_PEER_AUTHENTICATED);
    CU_ASSERT_EQUAL(t.seen_peer.uid, 1234);
    CU_ASSERT_EQUAL(t.seen_peer.gid, 55);
    CU_ASSERT_STRING_EQUAL(t.seen_peer.addr, "[fd00::2]:41000");
    d = send_of(anon, &r);
    feed(t.tx_in, &d);
    CU_ASSERT_EQUAL(t.seen_peer.flags, PHX_PEER_KNOWN);
    CU_ASSERT_EQUAL(t.seen_peer.uid, PHX_PEER_UID_UNKNOWN);
    CU_ASSERT_STRING_EQUAL(t.seen_peer.addr, "");

    feed(t.rx_in, &(phx_desc_t){ .kind = MRPC_DESC_CONN_LOST, .conn_id = acc,
                                 .status = PHX_UNAVAILABLE });
    d = send_of(acc, &r);
    feed(t.tx_in, &d);
    CU_ASSERT_EQUAL(t.seen_peer.flags, 0);
    feed(t.tx_in, &(phx_desc_t){ .kind = MRPC_DESC_CLOSE, .conn_id = 5 });
    CU_ASSERT_EQUAL(phx_policy_peer(&t.pol, 5)->flags, 0);
    CU_ASSERT_EQUAL(phx_policy_peer(&t.pol, anon)->flags, PHX_PEER_KNOWN);
    stop();
}

/* The server side decides rx too: a received call shows its peer and is the server's. */
static void test_peer_rx(void)
{
    struct mrpc_peer_info info = { .flags = MRPC_PEER_AUTHENTICATED, .uid = 4321, .gid = 66,
                                   .addr = "192.0.2.1:999" };
    uint32_t acc = MRPC_CONN_ACCEPTED_BASE + 7;

    start((1u << PHX_TX) | (1u << PHX_RX));
    feed(t.rx_in, &(phx_desc_t){ .kind = MRPC_DESC_ACCEPTED, .conn_id = acc,
                                 .addr = (uintptr_t)&info, .len = sizeof(info) });
    CU_ASSERT_EQUAL(t.decided, 0);
    feed(t.rx_in, &(phx_desc_t){ .kind = MRPC_DESC_RECEIVED, .conn_id = acc, .call_id = 3,
                                 .service_id = 11, .method_id = 22, .flags = MRPC_WIRE_CALL |
                                 (MRPC_FORMAT_NATIVE << 8), .len = 0 });
    CU_ASSERT_EQUAL_FATAL(t.decided, 1);
    CU_ASSERT_EQUAL(t.seen.dir, PHX_RX);
    CU_ASSERT(t.seen.server_side);
    CU_ASSERT_EQUAL(t.seen_peer.uid, 4321);
    CU_ASSERT_STRING_EQUAL(t.seen_peer.addr, "192.0.2.1:999");
    stop();
}

static void test_reject_tx(void)
{
    phx_desc_t out;

    start(1u << PHX_TX);
    t.verdict = phx_verdict_reject(PHX_PERMISSION_DENIED, "denied by ACL rule 'x'");
    struct mrpc_wire_msg w = wire_of(MRPC_WIRE_CALL, 4, 0);
    phx_desc_t d = send_of(3, &w);
    feed(t.tx_in, &d);
    CU_ASSERT_EQUAL(phx_chan_count(t.tx_out), 0);
    CU_ASSERT_EQUAL_FATAL(phx_chan_pop(t.rx_out, &out, 1), 1);
    CU_ASSERT_EQUAL(out.kind, MRPC_DESC_SENT);
    CU_ASSERT_EQUAL(out.status, PHX_PERMISSION_DENIED);
    CU_ASSERT_EQUAL(out.addr, (uintptr_t)&w);
    CU_ASSERT_STRING_EQUAL(w.reason, "denied by ACL rule 'x'");
    CU_ASSERT_EQUAL(t.pol.counts[PHX_TX].rejected, 1);
    stop();
}

static void test_reply_impossible(void)
{
    phx_desc_t out;

    start((1u << PHX_TX) | (1u << PHX_RX));
    t.verdict = phx_verdict_reply();
    struct mrpc_wire_msg w = wire_of(MRPC_WIRE_CALL, 5, 0);
    phx_desc_t d = send_of(3, &w);
    feed(t.tx_in, &d);
    CU_ASSERT_EQUAL(phx_chan_count(t.tx_out), 0);
    CU_ASSERT_EQUAL_FATAL(phx_chan_pop(t.rx_out, &out, 1), 1);
    CU_ASSERT_EQUAL(out.kind, MRPC_DESC_SENT);
    CU_ASSERT_EQUAL(out.status, PHX_INTERNAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(w.reason, "layouts are not known"));
    CU_ASSERT_EQUAL(t.pol.counts[PHX_TX].rejected, 1);
    CU_ASSERT_EQUAL(t.pol.counts[PHX_TX].replied, 0);
    /* a reply is no request: refused as well */
    struct mrpc_wire_msg r = wire_of(MRPC_WIRE_REPLY, 6, 0);
    phx_desc_t rd = send_of(3, &r);
    feed(t.tx_in, &rd);
    CU_ASSERT_EQUAL_FATAL(phx_chan_pop(t.rx_out, &out, 1), 1);
    CU_ASSERT_EQUAL(out.status, PHX_INTERNAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.reason, "only a request can be answered"));
    /* no way up: forwarded as it is, counted */
    t.engine.out[PHX_RX][0] = NULL;
    struct mrpc_wire_msg w2 = wire_of(MRPC_WIRE_CALL, 7, 0);
    phx_desc_t d2 = send_of(3, &w2);
    feed(t.tx_in, &d2);
    CU_ASSERT_EQUAL_FATAL(phx_chan_pop(t.tx_out, &out, 1), 1);
    CU_ASSERT_EQUAL(out.addr, (uintptr_t)&w2);
    CU_ASSERT_EQUAL(t.pol.counts[PHX_TX].unrejectable, 1);
    t.engine.out[PHX_RX][0] = t.rx_out;
    stop();
}

static void test_reject_rx(void)
{
    phx_heap_t *heap;
    struct phx_heap_stats before, after;
    phx_desc_t out;

    start((1u << PHX_TX) | (1u << PHX_RX));
    heap = phx_app_port_recv_heap(t.port);
    phx_heap_get_stats(heap, &before);
    void *payload = phx_heap_alloc(heap, 4096);
    CU_ASSERT_PTR_NOT_NULL_FATAL(payload);
    t.verdict = phx_verdict_reject(PHX_PERMISSION_DENIED, "denied by ACL rule 'rx'");
    feed(t.rx_in, &(phx_desc_t){ .kind = MRPC_DESC_RECEIVED, .conn_id = 8, .call_id = 5,
                                 .service_id = 11, .method_id = 22,
                                 .flags = MRPC_WIRE_CALL | (MRPC_FORMAT_NATIVE << 8),
                                 .addr = (uintptr_t)payload, .len = 4096, .type_hash = 99 });
    CU_ASSERT_EQUAL_FATAL(phx_chan_pop(t.rx_out, &out, 1), 1);
    CU_ASSERT_EQUAL(out.kind, MRPC_DESC_REFUSED);
    CU_ASSERT_EQUAL(out.status, PHX_PERMISSION_DENIED);
    CU_ASSERT_EQUAL(out.flags & 0xff, MRPC_WIRE_CALL);
    CU_ASSERT_EQUAL(out.call_id, 5);
    CU_ASSERT_EQUAL(out.conn_id, 8);
    CU_ASSERT_PTR_NOT_NULL_FATAL((void *)(uintptr_t)out.addr);
    CU_ASSERT_STRING_EQUAL((const char *)(uintptr_t)out.addr, "denied by ACL rule 'rx'");
    CU_ASSERT_EQUAL(out.len, strlen("denied by ACL rule 'rx'") + 1);
    CU_ASSERT_EQUAL(t.pol.counts[PHX_RX].rejected, 1);
    CU_ASSERT_EQUAL(t.pol.counts[PHX_RX].unrejectable, 0);
    phx_heap_free(heap, (void *)(uintptr_t)out.addr);        /* what MrpcEngine does */
    phx_heap_get_stats(heap, &after);
    CU_ASSERT_EQUAL(after.bytes_in_use, before.bytes_in_use);  /* the payload was freed */
    /* forwarded: the RECEIVED as it came */
    t.verdict = phx_verdict_forward();
    feed(t.rx_in, &(phx_desc_t){ .kind = MRPC_DESC_RECEIVED, .conn_id = 8, .call_id = 6,
                                 .flags = MRPC_WIRE_REPLY | (MRPC_FORMAT_NATIVE << 8) });
    CU_ASSERT_EQUAL_FATAL(phx_chan_pop(t.rx_out, &out, 1), 1);
    CU_ASSERT_EQUAL(out.kind, MRPC_DESC_RECEIVED);
    CU_ASSERT_EQUAL(out.call_id, 6);
    CU_ASSERT_FALSE(t.seen.server_side);
    stop();
}

static void test_peer_table(void)
{
    enum { N = 1000 };
    phx_desc_t d, sink[256];

    start(1u << PHX_TX);
    for (unsigned i = 0; i < N; i++) {
        d = (phx_desc_t){ .kind = MRPC_DESC_ACCEPTED, .conn_id = MRPC_CONN_ACCEPTED_BASE + i * 7 };
        CU_ASSERT_EQUAL_FATAL(phx_chan_push(t.rx_in, &d, 1), 1);
        if (i % 200 == 199)
            for (unsigned k = 0; k < 8; k++) {
                turn();
                while (phx_chan_pop(t.rx_out, sink, 256))
                    ;
            }
    }
    CU_ASSERT_EQUAL(t.pol.n_peers, N);
    for (unsigned i = 0; i < N; i += 2) {
        d = (phx_desc_t){ .kind = MRPC_DESC_CONN_LOST, .conn_id = MRPC_CONN_ACCEPTED_BASE + i * 7 };
        CU_ASSERT_EQUAL_FATAL(phx_chan_push(t.rx_in, &d, 1), 1);
    }
    for (unsigned k = 0; k < 16; k++) {
        turn();
        while (phx_chan_pop(t.rx_out, sink, 256))
            ;
    }
    unsigned wrong = 0;
    for (unsigned i = 0; i < N; i++) {
        unsigned flags = phx_policy_peer(&t.pol, MRPC_CONN_ACCEPTED_BASE + i * 7)->flags;
        wrong += (i % 2) ? flags != PHX_PEER_KNOWN : flags != 0;
    }
    CU_ASSERT_EQUAL(wrong, 0);
    CU_ASSERT_EQUAL(t.pol.n_peers, N / 2);
    CU_ASSERT_EQUAL(t.pol.peers_untracked, 0);
    stop();
}

/* Hold-alone mode: held calls 1 and 3 let 2 pass, keep their order, and keep a CLOSE (and the
 * call 4 behind it) waiting; the runtime may sleep until their time (arm: no work, a timeout). */
static void test_hold_alone(void)
{
    struct mrpc_wire_msg w[5];
    phx_desc_t d, out[8];
    phx_wait_t wait;

    start(1u << PHX_TX);
    phx_policy_hold_alone(&t.pol, true);
    t.hold_odd_until = phx_now_ns() + 20000000ull;
    for (unsigned i = 1; i <= 4; i++) {
        w[i] = wire_of(MRPC_WIRE_CALL, i, 0);
        d = send_of(3, &w[i]);
        feed(t.tx_in, &d);
        if (i == 3)
            feed(t.tx_in, &(phx_desc_t){ .kind = MRPC_DESC_CLOSE, .conn_id = 3 });
    }
    CU_ASSERT_EQUAL_FATAL(phx_chan_pop(t.tx_out, out, 8), 1);
    CU_ASSERT_EQUAL(out[0].call_id, 2);
    CU_ASSERT_EQUAL(phx_policy_held(&t.pol, PHX_TX), 4);
    CU_ASSERT_EQUAL(t.pol.counts[PHX_TX].held, 2);
    CU_ASSERT_EQUAL(phx_policy_arm(&t.pol, &t.engine, &wait, phx_now_ns()), 0);
    CU_ASSERT(wait.timeout_ms >= 1 && wait.timeout_ms <= 20);
    t.hold_odd_until = 0;
    for (unsigned i = 0; i < 100 && phx_chan_count(t.tx_out) < 4; i++) {
        usleep(1000);
        turn();
    }
    CU_ASSERT_EQUAL_FATAL(phx_chan_pop(t.tx_out, out, 8), 4);
    CU_ASSERT_EQUAL(out[0].call_id, 1);
    CU_ASSERT_EQUAL(out[1].call_id, 3);
    CU_ASSERT_EQUAL(out[2].kind, MRPC_DESC_CLOSE);
    CU_ASSERT_EQUAL(out[3].call_id, 4);
    CU_ASSERT_EQUAL(phx_policy_held(&t.pol, PHX_TX), 0);
    stop();
}

/* Pushes W's SEND on connection CONN into tx and turns once. */
static void feed_send(uint32_t conn, struct mrpc_wire_msg *w)
{
    phx_desc_t d = send_of(conn, w);

    feed(t.tx_in, &d);
}

/* The two SENT answers a withdrawn tx request and its CANCEL come back up with. */
static void expect_withdrawn(const struct mrpc_wire_msg *call, const struct mrpc_wire_msg *cancel)
{
    phx_desc_t up[4];

    CU_ASSERT_EQUAL_FATAL(phx_chan_pop(t.rx_out, up, 4), 2);
    CU_ASSERT_EQUAL(up[0].kind, MRPC_DESC_SENT);
    CU_ASSERT_EQUAL(up[0].addr, (uintptr_t)call);
    CU_ASSERT_EQUAL(up[0].status, PHX_CANCELLED);
    CU_ASSERT_STRING_EQUAL(call->reason, "");       /* not a policy's refusal */
    CU_ASSERT_EQUAL(up[1].kind, MRPC_DESC_SENT);
    CU_ASSERT_EQUAL(up[1].addr, (uintptr_t)cancel);
    CU_ASSERT_EQUAL(up[1].status, PHX_OK);
}

/* Ordinary mode: call 1 held, call 2 waiting behind it; each one's CANCEL withdraws it. */
static void test_cancel_held(void)
{
    struct mrpc_wire_msg w1 = wire_of(MRPC_WIRE_CALL, 1, 0), w2 = wire_of(MRPC_WIRE_CALL, 2, 0);
    struct mrpc_wire_msg c1 = wire_of(MRPC_WIRE_CANCEL, 1, 0), c2 = wire_of(MRPC_WIRE_CANCEL, 2, 0);
    struct mrpc_wire_msg other = wire_of(MRPC_WIRE_CANCEL, 2, 0);
    phx_desc_t out[4];

    start((1u << PHX_TX) | (1u << PHX_RX));
    t.verdict = phx_verdict_hold(phx_now_ns() + 60000000000ull);
    feed_send(3, &w1);
    feed_send(3, &w2);
    CU_ASSERT_EQUAL(phx_policy_held(&t.pol, PHX_TX), 2);
    feed_send(4, &other);  /* call 2 of another connection: not ours */
    CU_ASSERT_EQUAL(phx_policy_held(&t.pol, PHX_TX), 3);
    CU_ASSERT_EQUAL(phx_chan_count(t.rx_out), 0);
    feed_send(3, &c2);     /* behind the held head */
    expect_withdrawn(&w2, &c2);
    CU_ASSERT_EQUAL(phx_policy_held(&t.pol, PHX_TX), 2);
    feed_send(3, &c1);     /* the held head itself */
    expect_withdrawn(&w1, &c1);
    CU_ASSERT_EQUAL(phx_policy_held(&t.pol, PHX_TX), 1);
    CU_ASSERT_EQUAL(phx_chan_count(t.tx_out), 0);        /* the server never hears of them */
    CU_ASSERT_EQUAL(t.pol.counts[PHX_TX].cancelled, 2);
    CU_ASSERT_EQUAL(t.pol.counts[PHX_TX].forwarded, 0);
    CU_ASSERT_EQUAL(t.pol.counts[PHX_TX].rejected, 0);
    char *json = phx_policy_stats_json(&t.pol);
    CU_ASSERT_PTR_NOT_NULL_FATAL(json);
    CU_ASSERT_PTR_NOT_NULL(strstr(json, "\"cancelled\":2,\"waiting\":1}"));
    free(json);
    t.verdict = phx_verdict_forward();                  /* the other connection's CANCEL goes */
    t.pol.q[PHX_TX].until_ns = 0;
    turn();
    CU_ASSERT_EQUAL_FATAL(phx_chan_pop(t.tx_out, out, 4), 1);
    CU_ASSERT_EQUAL(out[0].addr, (uintptr_t)&other);
    CU_ASSERT_EQUAL(phx_policy_held(&t.pol, PHX_TX), 0);
    stop();
}

/* Hold-alone mode: held call 1 lets call 2 pass; its CANCEL does not pass it but withdraws it. */
static void test_cancel_held_alone(void)
{
    struct mrpc_wire_msg w1 = wire_of(MRPC_WIRE_CALL, 1, 0), w2 = wire_of(MRPC_WIRE_CALL, 2, 0);
    struct mrpc_wire_msg c1 = wire_of(MRPC_WIRE_CANCEL, 1, 0);
    phx_desc_t out[4];

    start((1u << PHX_TX) | (1u << PHX_RX));
    phx_policy_hold_alone(&t.pol, true);
    phx_policy_on_withdrawn(&t.pol, on_withdrawn);
    t.hold_odd_until = phx_now_ns() + 60000000000ull;
    feed_send(3, &w1);
    feed_send(3, &w2);
    CU_ASSERT_EQUAL_FATAL(phx_chan_pop(t.tx_out, out, 4), 1);
    CU_ASSERT_EQUAL(out[0].call_id, 2);
    CU_ASSERT_EQUAL(t.withdrawals, 0);
    feed_send(3, &c1);
    expect_withdrawn(&w1, &c1);
    CU_ASSERT_EQUAL(t.withdrawals, 1);                  /* the policy is told which call */
    CU_ASSERT_EQUAL(t.withdrawn.kind, PHX_CALL_REQUEST);
    CU_ASSERT_EQUAL(t.withdrawn.call_id, 1);
    CU_ASSERT_EQUAL(t.withdrawn.conn_id, 3);
    CU_ASSERT_EQUAL(t.withdrawn.caller->pid, getpid());
    CU_ASSERT_EQUAL(phx_chan_count(t.tx_out), 0);
    CU_ASSERT_EQUAL(phx_policy_held(&t.pol, PHX_TX), 0);
    CU_ASSERT_EQUAL(t.pol.q[PHX_TX].held, 0);
    CU_ASSERT_EQUAL(t.pol.counts[PHX_TX].cancelled, 1);
    stop();
}

/* Hold-alone mode with no way up (a tx-only splice): the CANCEL cannot withdraw its request, so
 * it waits behind it without keeping the runtime busy, and follows it out. */
static void test_cancel_no_way_up(void)
{
    struct mrpc_wire_msg w1 = wire_of(MRPC_WIRE_CALL, 1, 0), w2 = wire_of(MRPC_WIRE_CALL, 2, 0);
    struct mrpc_wire_msg c1 = wire_of(MRPC_WIRE_CANCEL, 1, 0);
    phx_desc_t out[4];
    phx_wait_t wait;

    start(1u << PHX_TX);
    t.engine.out[PHX_RX][0] = NULL;
    phx_policy_hold_alone(&t.pol, true);
    t.hold_odd_until = phx_now_ns() + 60000000000ull;
    feed_send(3, &w1);
    feed_send(3, &c1);
    feed_send(3, &w2);
    CU_ASSERT_EQUAL(phx_chan_count(t.tx_out), 0);        /* call 2 waits behind the CANCEL */
    CU_ASSERT_EQUAL(phx_policy_held(&t.pol, PHX_TX), 3);
    CU_ASSERT_EQUAL(phx_policy_arm(&t.pol, &t.engine, &wait, phx_now_ns()), 0);
    CU_ASSERT(wait.timeout_ms > 0);
    t.hold_odd_until = 0;
    t.pol.q[PHX_TX].until_ns = 0;
    turn();
    CU_ASSERT_EQUAL_FATAL(phx_chan_pop(t.tx_out, out, 4), 3);
    CU_ASSERT_EQUAL(out[0].addr, (uintptr_t)&w1);
    CU_ASSERT_EQUAL(out[1].addr, (uintptr_t)&c1);
    CU_ASSERT_EQUAL(out[2].addr, (uintptr_t)&w2);
    CU_ASSERT_EQUAL(t.pol.counts[PHX_TX].cancelled, 0);
    CU_ASSERT_EQUAL(phx_policy_held(&t.pol, PHX_TX), 0);
    t.engine.out[PHX_RX][0] = t.rx_out;
    stop();
}

/* Turns until N descriptors came out on tx (bounded), into OUT; how many came. */
static unsigned drain_tx(phx_desc_t *out, unsigned n)
{
    unsigned got = 0;

    for (unsigned i = 0; i < 1000 && got < n; i++) {
        turn();
        got += phx_chan_pop(t.tx_out, out + got, n - got);
    }
    return got;
}

/* Ordinary mode, a queue of 4096: MANY requests held (ids 1 .. MANY on connection 3, the first
 * 50 queued before the queue grew to 4096, and a second call 10 at the end), cancels of the
 * head, the tail, the middle, every 97th, and both calls 10 (the first, then the second) each
 * withdraw exactly theirs; a CANCEL naming call 500 on another connection and a second CANCEL of
 * a withdrawn call find nothing and wait in line. Released, the rest leave in order. */
#define MANY 4000u
static void test_cancel_many(void)
{
    struct mrpc_wire_msg *w = calloc(MANY + 2, sizeof(*w)), *c = calloc(MANY + 2, sizeof(*c));
    phx_desc_t *out = calloc(MANY + 8, sizeof(*out));
    bool *gone = calloc(MANY + 2, sizeof(*gone));
    unsigned withdrawn = 0;
    char err[160];

    CU_ASSERT_FATAL(w && c && out && gone);
    start((1u << PHX_TX) | (1u << PHX_RX));
    t.verdict = phx_verdict_hold(phx_now_ns() + 60000000000ull);
    for (unsigned i = 1; i <= MANY + 1; i++) {
        w[i] = wire_of(MRPC_WIRE_CALL, i <= MANY ? i : 10, 0);
        c[i] = wire_of(MRPC_WIRE_CANCEL, i <= MANY ? i : 10, 0);
        if (i == 50)
            CU_ASSERT_EQUAL_FATAL(phx_policy_set_queue_max(&t.pol, 4096, err, sizeof(err)), 0);
        feed_send(3, &w[i]);
    }
    CU_ASSERT_EQUAL_FATAL(phx_policy_held(&t.pol, PHX_TX), MANY + 1);
    CU_ASSERT(t.pol.q[PHX_TX].indexing);                /* calls wait behind others */
    CU_ASSERT_EQUAL(t.pol.q[PHX_TX].unindexed, 1);      /* the second call 10 */
    CU_ASSERT_EQUAL(phx_u64map_count(&t.pol.q[PHX_TX].by_call), MANY);
    feed_send(3, &c[10]);                                /* call 10 is queued twice: */
    expect_withdrawn(&w[10], &c[10]);                    /* the first goes ... */
    feed_send(3, &c[MANY + 1]);
    expect_withdrawn(&w[MANY + 1], &c[MANY + 1]);        /* ... then the second */
    gone[10] = true;
    withdrawn = 2;
    CU_ASSERT_EQUAL(t.pol.q[PHX_TX].unindexed, 0);      /* the rest are found by the index */
    uint64_t began = phx_now_ns();
    for (unsigned i = 1; i <= MANY; i++) {
        if (!(i == 1 || i == MANY || i == MANY / 2 || i == 30 || i % 97 == 0))
            continue;
        feed_send(3, &c[i]);
        expect_withdrawn(&w[i], &c[i]);
        gone[i] = true;
        withdrawn++;
    }
    uint64_t took = phx_now_ns() - began;
    printf("(%u cancels among %u held calls: %.1f us each, the test's feeding included) ",
           withdrawn - 2, MANY, (double)took / 1e3 / (withdrawn - 2));
    CU_ASSERT_EQUAL(t.pol.counts[PHX_TX].cancelled, withdrawn);
    CU_ASSERT_EQUAL(phx_policy_held(&t.pol, PHX_TX), MANY + 1 - withdrawn);
    CU_ASSERT_EQUAL(phx_u64map_count(&t.pol.q[PHX_TX].by_call), MANY + 1 - withdrawn);
    struct mrpc_wire_msg stranger = wire_of(MRPC_WIRE_CANCEL, 500, 0);
    feed_send(4, &stranger);                             /* call 500, another connection */
    feed_send(3, &c[MANY / 2]);                          /* already withdrawn */
    CU_ASSERT_EQUAL(phx_chan_count(t.rx_out), 0);
    CU_ASSERT_EQUAL(phx_chan_count(t.tx_out), 0);
    CU_ASSERT_EQUAL(phx_policy_held(&t.pol, PHX_TX), MANY + 3 - withdrawn);
    t.verdict = phx_verdict_forward();
    t.pol.q[PHX_TX].until_ns = 0;
    unsigned want = MANY + 3 - withdrawn, got = drain_tx(out, want), wrong = 0, at = 0;
    CU_ASSERT_EQUAL_FATAL(got, want);
    for (unsigned i = 1; i <= MANY; i++)
        if (!gone[i])
            wrong += out[at++].addr != (uintptr_t)&w[i];
    CU_ASSERT_EQUAL(wrong, 0);
    CU_ASSERT_EQUAL(out[at].addr, (uintptr_t)&stranger);
    CU_ASSERT_EQUAL(out[at + 1].addr, (uintptr_t)&c[MANY / 2]);
    CU_ASSERT_EQUAL(phx_policy_held(&t.pol, PHX_TX), 0);
    CU_ASSERT_EQUAL(phx_u64map_count(&t.pol.q[PHX_TX].by_call), 0);
    CU_ASSERT_FALSE(t.pol.q[PHX_TX].indexing);          /* nothing waits: not kept */
    CU_ASSERT_EQUAL(t.pol.counts[PHX_TX].forwarded, want);
    CU_ASSERT_EQUAL(phx_chan_count(t.rx_out), 0);
    stop();
    free(w);
    free(c);
    free(out);
    free(gone);
}

/* Hold-alone mode: of 2000 requests the odd ones are held (1000), the even ones pass; CANCELs of
 * every 7th odd one withdraw exactly theirs, a CANCEL of an even one (gone already) passes the
 * held ones; released, the odd ones left leave in order. */
#define ALONE 2000u
static void test_cancel_many_alone(void)
{
    struct mrpc_wire_msg *w = calloc(ALONE + 1, sizeof(*w)), *c = calloc(ALONE + 1, sizeof(*c));
    phx_desc_t *out = calloc(ALONE + 8, sizeof(*out));
    unsigned withdrawn = 0, wrong = 0, at = 0;
    char err[160];

    CU_ASSERT_FATAL(w && c && out);
    start((1u << PHX_TX) | (1u << PHX_RX));
    CU_ASSERT_EQUAL_FATAL(phx_policy_set_queue_max(&t.pol, 4096, err, sizeof(err)), 0);
    phx_policy_hold_alone(&t.pol, true);
    t.hold_odd_until = phx_now_ns() + 60000000000ull;
    for (unsigned i = 1; i <= ALONE; i++) {
        w[i] = wire_of(MRPC_WIRE_CALL, i, 0);
        c[i] = wire_of(MRPC_WIRE_CANCEL, i, 0);
        feed_send(3, &w[i]);
        if (!(i % 2))
            wrong += drain_tx(out, 1) != 1 || out[0].addr != (uintptr_t)&w[i];
    }
    CU_ASSERT_EQUAL(wrong, 0);                           /* each even one passed at once */
    CU_ASSERT_EQUAL_FATAL(phx_policy_held(&t.pol, PHX_TX), ALONE / 2);
    for (unsigned i = 1; i <= ALONE; i += 14) {
        feed_send(3, &c[i]);
        expect_withdrawn(&w[i], &c[i]);
        withdrawn++;
    }
    CU_ASSERT_EQUAL(t.pol.q[PHX_TX].held, ALONE / 2 - withdrawn);
    feed_send(3, &c[ALONE / 2]);                         /* even: forwarded long ago */
    CU_ASSERT_EQUAL(drain_tx(out, 1), 1);
    CU_ASSERT_EQUAL(out[0].addr, (uintptr_t)&c[ALONE / 2]);
    CU_ASSERT_EQUAL(phx_chan_count(t.rx_out), 0);
    t.hold_odd_until = 0;
    t.pol.q[PHX_TX].until_ns = 0;
    unsigned want = ALONE / 2 - withdrawn;
    CU_ASSERT_EQUAL_FATAL(drain_tx(out, want), want);
    wrong = 0;
    for (unsigned i = 1; i <= ALONE; i += 2)
        if ((i - 1) % 14)
            wrong += out[at++].addr != (uintptr_t)&w[i];
    CU_ASSERT_EQUAL(wrong, 0);
    CU_ASSERT_EQUAL(t.pol.counts[PHX_TX].cancelled, withdrawn);
    CU_ASSERT_EQUAL(phx_policy_held(&t.pol, PHX_TX), 0);
    CU_ASSERT_EQUAL(t.pol.q[PHX_TX].held, 0);
    CU_ASSERT_EQUAL(phx_u64map_count(&t.pol.q[PHX_TX].by_call), 0);
    stop();
    free(w);
    free(c);
    free(out);
}

/* Server side: a received request held, then the remote caller's CANCEL: both payloads freed,
 * nothing goes up to the app. */
static void test_cancel_held_rx(void)
{
    phx_heap_t *heap;
    struct phx_heap_stats before, after;

    start((1u << PHX_TX) | (1u << PHX_RX));
    heap = phx_app_port_recv_heap(t.port);
    phx_heap_get_stats(heap, &before);
    void *payload = phx_heap_alloc(heap, 4096), *text = phx_heap_alloc(heap, 16);
    CU_ASSERT_PTR_NOT_NULL_FATAL(payload);
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    t.verdict = phx_verdict_hold(phx_now_ns() + 60000000000ull);
    feed(t.rx_in, &(phx_desc_t){ .kind = MRPC_DESC_RECEIVED, .conn_id = 0x80000001u,
                                 .call_id = 5, .service_id = 11, .method_id = 22,
                                 .flags = MRPC_WIRE_CALL | (MRPC_FORMAT_NATIVE << 8),
                                 .addr = (uintptr_t)payload, .len = 4096 });
    CU_ASSERT_EQUAL(phx_policy_held(&t.pol, PHX_RX), 1);
    feed(t.rx_in, &(phx_desc_t){ .kind = MRPC_DESC_RECEIVED, .conn_id = 0x80000001u,
                                 .call_id = 5, .service_id = 11, .method_id = 22,
                                 .status = PHX_CANCELLED,
                                 .flags = MRPC_WIRE_CANCEL | (MRPC_FORMAT_NATIVE << 8),
                                 .addr = (uintptr_t)text, .len = 16 });
    CU_ASSERT_EQUAL(phx_chan_count(t.rx_out), 0);        /* the server's app never sees it */
    CU_ASSERT_EQUAL(phx_policy_held(&t.pol, PHX_RX), 0);
    CU_ASSERT_EQUAL(t.pol.counts[PHX_RX].cancelled, 1);
    CU_ASSERT_EQUAL(t.pol.counts[PHX_RX].forwarded, 0);
    phx_heap_get_stats(heap, &after);
    CU_ASSERT_EQUAL(after.bytes_in_use, before.bytes_in_use);
    stop();
}

static const phx_test_case_t cases[] = {
    { "decide() sees the app's pid, uid, gid, job and the deadline", test_identity },
    { "peers: connected-to address, accepted peer's authenticated uid", test_peers },
    { "a received call shows its authenticated peer (server side)", test_peer_rx },
    { "a refused SEND comes back as SENT with the sentence", test_reject_tx },
    { "a refused RECEIVED goes up as REFUSED, its payload freed", test_reject_rx },
    { "a reply that cannot be made rejects the call, or is forwarded with no way up",
      test_reply_impossible },
    { "a thousand connections come and go in the peer table", test_peer_table },
    { "hold-alone: a held call lets the calls behind it pass, not a CLOSE", test_hold_alone },
    { "a CANCEL withdraws its held (or waiting) request: neither is sent", test_cancel_held },
    { "hold-alone: a CANCEL does not pass its held request, it withdraws it",
      test_cancel_held_alone },
    { "with no way up a CANCEL waits behind its request, the runtime asleep",
      test_cancel_no_way_up },
    { "server side: a remote CANCEL withdraws the held request, payloads freed",
      test_cancel_held_rx },
    { "4000 held calls: each CANCEL withdraws its own, the rest leave in order",
      test_cancel_many },
    { "hold-alone, 1000 held among 2000: each CANCEL withdraws its own, order kept",
      test_cancel_many_alone },
    { NULL, NULL },
};

int main(int argc, char **argv)
{
    return phx_test_main("policy_sdk", cases, argc, argv);
}
