/* test_transport.c - UcxRpcAdapterEngine end to end over loopback, in one process.
 *
 * Two apps A and B (transport_harness.h); the test plays the runtime (turning both chains by
 * hand) except in the wake-up case, where two real runtime threads drive them and sleep on the
 * UCX workers' event fds. raw_peer.c plays a hostile or dying remote service. The wire-up under
 * attack and its MUNGE authentication have programs of their own (test_transport_hostile.c,
 * test_transport_munge.c).
 *
 * Cases: bind/connect and refused requests; names, wildcard, IPv6 (bind [::], connect [::1]);
 * 10,000 messages each way of 0 B..8 MiB checked byte for byte in the receiving app's heap
 * (figures printed); 10,000 sends on one connection under back-pressure; CONNECT to a closed
 * port and to a listener that never answers; the peer's subscription destroyed and the peer
 * process killed mid-stream (CONN_LOST and every SEND back within 2 s); malformed frames; the
 * in-flight receive budget; an app that never releases (its parked frames refused as DROPPED
 * after a second); wake-up from sleep; two services calling each other at the same instant
 * (crossed connects: every one connects); a live upgrade of the ucx plugin in mid-stream and in
 * the middle of connects; the connection set-up figures. The exchange and the upgrade run again
 * with A and B on workers of their own (two runtime threads' apps, turned by hand here), and
 * with two real runtime threads, the receiver going mid-stream: the same-node path across
 * threads (ucx_xlocal.c).
 *
 * UCX_TLS=tcp unless the environment says otherwise (ctest runs it again with shared memory).
 * With PHX_TEST_EXPECT_SHM set, the exchange must have used a shared-memory transport. */
#include "transport_harness.h"

#include "mrpc/transport.h"
#include "phoenix/status.h"
#include "runtime.h"
#include "upgrade.h"

#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MSGS         10000u
#define MAX_SIZE     (8u << 20)
#define RAW_PEER_TAG 77
#define RAW_FRAMES   22             /* malformed frames raw_peer sends on its connection */
#define RAW_UNCLAIMED 2             /* ... and without a reply endpoint (no connection) */
#define RAW_VALID    8              /* and valid messages */
#define FAIL_LIMIT   (2000 * MS)    /* peer failure -> CONN_LOST and SENT errors */

/* ---- bind, connect, refusals ------------------------------------------------------------- */

static void assert_bind_refused(const char *addr, unsigned id, int status)
{
    long long before = st(A.wt, "bound");

    cmd(A.wt, "bind %u %s", id, addr);
    CU_ASSERT(RUN_UNTIL(st(A.wt, "bound") == before + 1, 3000));
    CU_ASSERT_EQUAL(st(A.wt, "bound_status"), status);
}

/* Every malformed or conflicting request is answered with its status; SAME is A's address. */
static void refuse_bad_requests(const char *same)
{
    assert_bind_refused("127.0.0.1:0", 1, PHX_INVALID_ARGUMENT);      /* id in use */
    assert_bind_refused(same, 2, PHX_UNAVAILABLE);                    /* address in use */
    assert_bind_refused("no-port-here", 3, PHX_INVALID_ARGUMENT);
    assert_bind_refused("127.0.0.1:99999", 4, PHX_INVALID_ARGUMENT);
    assert_bind_refused("[::1:80", 6, PHX_INVALID_ARGUMENT);
    assert_bind_refused("127.0.0.1:0", MRPC_CONN_ACCEPTED_BASE + 1, PHX_INVALID_ARGUMENT);

    cmd(B.wt, "connect 5 %s", same);                                  /* id in use */
    CU_ASSERT(RUN_UNTIL(st(B.wt, "connected") == 2, 3000));
    CU_ASSERT_EQUAL(st(B.wt, "connected_status"), PHX_INVALID_ARGUMENT);
    cmd(B.wt, "connect 7 *%s", strchr(same, ':'));                     /* no host */
    CU_ASSERT(RUN_UNTIL(st(B.wt, "connected") == 3, 3000));
    CU_ASSERT_EQUAL(st(B.wt, "connected_status"), PHX_INVALID_ARGUMENT);

    cmd(B.wt, "send_bad 5");                                          /* payload_len lies */
    CU_ASSERT(RUN_UNTIL(st(B.wt, "sent_err") == 1, 3000));
    CU_ASSERT_EQUAL(st(B.wt, "last_err_status"), PHX_INVALID_ARGUMENT);
    cmd(B.wt, "send 9 1 64 3");                                       /* unknown connection */
    CU_ASSERT(RUN_UNTIL(st(B.wt, "sent_err") == 2, 3000));
    CU_ASSERT_EQUAL(st(B.wt, "last_err_status"), PHX_UNAVAILABLE);
}

/* After the refusals traffic still flows; then A's binding goes (nobody listens at SAME any
 * more), then B's connection (A sees it lost, B is told nothing). */
static void close_in_turn(const char *same)
{
    cmd(A.wt, "expect 1 100");
    cmd(B.wt, "send 5 100 100000 1");
    CU_ASSERT(RUN_UNTIL(st(A.wt, "received") == 100 && st(B.wt, "sent_ok") == 100, 10000));
    CU_ASSERT_EQUAL(st(A.wt, "missing"), 0);
    cmd(A.wt, "close 1");
    CU_ASSERT(RUN_UNTIL(st(A.ucx, "listeners") == 0, 3000));
    cmd(B.wt, "connect 6 %s", same);
    CU_ASSERT(RUN_UNTIL(st(B.wt, "connected") == 4, 3000));
    CU_ASSERT_EQUAL(st(B.wt, "connected_status"), PHX_UNAVAILABLE);
    cmd(B.wt, "close 5");
    CU_ASSERT(RUN_UNTIL(st(A.wt, "conn_lost") == 1 && st(B.ucx, "conns") == 0 &&
                        st(B.ucx, "closing") == 0, 3000));
    CU_ASSERT_EQUAL(st(B.wt, "conn_lost"), 0);                        /* CLOSE has no answer */
}

static void test_bind_connect_refusals(void)
{
    char same[64];

    pair_up();
    pair_connect();
    snprintf(same, sizeof(same), "127.0.0.1:%lld", st(A.wt, "bound_port"));
    char *listeners = ask(A.ucx, "listeners");
    CU_ASSERT_PTR_NOT_NULL(strstr(listeners, strchr(same, ':') + 1));
    free(listeners);
    refuse_bad_requests(same);
    close_in_turn(same);
    assert_clean(A.wt);
    assert_clean(B.wt);
    pair_down();
}

/* ---- addresses --------------------------------------------------------------------------- */

/* A binds ADDR (port 0) as binding ID, B connects to it by HOST as connection CONN and sends one
 * message of stream TAG. */
static void reach(unsigned id, const char *addr, const char *host, unsigned conn, unsigned tag)
{
    long long bound = st(A.wt, "bound"), connected = st(B.wt, "connected");
    long long received = st(A.wt, "received");

    cmd(A.wt, "bind %u %s", id, addr);
    CU_ASSERT_FATAL(RUN_UNTIL(st(A.wt, "bound") == bound + 1, 3000));
    CU_ASSERT_EQUAL_FATAL(st(A.wt, "bound_status"), PHX_OK);
    cmd(B.wt, "connect %u %s:%lld", conn, host, st(A.wt, "bound_port"));
    CU_ASSERT_FATAL(RUN_UNTIL(st(B.wt, "connected") == connected + 1, 5000));
    CU_ASSERT_EQUAL(st(B.wt, "connected_status"), PHX_OK);
    cmd(A.wt, "expect %u 1", tag);
    cmd(B.wt, "send %u 1 1000 %u", conn, tag);
    CU_ASSERT(RUN_UNTIL(st(A.wt, "received") == received + 1, 3000));
}

/* Names, the wildcard, IPv6: bindings are the service's own sockets (ucx_listen.c), so IPv6
 * works whatever family UCX's TCP interfaces use. */
static void test_addresses(void)
{
    pair_up();
    reach(1, "localhost:0", "localhost", 5, 20);
    reach(2, "*:0", "127.0.0.1", 6, 21);
    reach(3, "[::1]:0", "[::1]", 7, 22);
    reach(4, "[::]:0", "[::1]", 8, 23);
    char *peers = ask(A.ucx, "peers");
    CU_ASSERT_PTR_NOT_NULL(strstr(peers, "\"addr\":\"[::1]:"));     /* the caller, as seen */
    CU_ASSERT_PTR_NOT_NULL(strstr(peers, "\"authenticated\":false"));
    free(peers);
    CU_ASSERT_EQUAL(st(A.wt, "missing"), 0);
    assert_clean(A.wt);
    pair_down();
}

/* ---- 10,000 each way --------------------------------------------------------------------- */

static void check_transports(phx_engine_t *ucx)
{
    char *t = ask(ucx, "transports");

    printf("(lanes %s) ", t);
    if (getenv("PHX_TEST_EXPECT_SHM"))
        CU_ASSERT(strstr(t, "posix") || strstr(t, "sysv"));
    free(t);
}

/* A on runtime thread 0, B on RT_B: one worker (0), or two (1), where the same-node path
 * crosses threads (ucx_xlocal.c). */
static void each_way(unsigned rt_b)
{
    side_up_on(&A, 1, 0);
    side_up_on(&B, 2, rt_b);
    uint32_t back = pair_connect();
    CU_ASSERT_EQUAL(st(A.ucx, "worker") == st(B.ucx, "worker"), rt_b == 0);
    check_transports(B.ucx);
    unsigned long long t0 = phx_test_now_ns();

    cmd(A.wt, "expect 1 %u", MSGS);
    cmd(B.wt, "expect 2 %u", MSGS);
    cmd(B.wt, "send 5 %u %u 1", MSGS, MAX_SIZE);
    cmd(A.wt, "send %u %u %u 2", back, MSGS, MAX_SIZE);
    CU_ASSERT(RUN_UNTIL(st(A.wt, "received") == MSGS && st(B.wt, "received") == MSGS &&
                        st(A.wt, "sent_ok") == MSGS && st(B.wt, "sent_ok") == MSGS, 120000));
    double t = secs_since(t0);
    long long bytes = st(A.wt, "rx_bytes") + st(B.wt, "rx_bytes");
    printf("(%u msgs in %.2f s: %.0f msgs/s, %.1f MB/s) ", 2 * MSGS, t, 2 * MSGS / t,
           (double)bytes / t / 1e6);
    struct side *sides[] = {&A, &B};
    for (unsigned i = 0; i < 2; i++) {
        struct side *s = sides[i];
        CU_ASSERT_EQUAL(st(s->wt, "missing"), 0);
        CU_ASSERT_EQUAL(st(s->wt, "sent_err"), 0);
        CU_ASSERT_EQUAL(st(s->ucx, "rx_msgs"), MSGS);
        CU_ASSERT_EQUAL(st(s->ucx, "tx_msgs"), MSGS);
        CU_ASSERT_EQUAL(st(s->ucx, "malformed"), 0);
        CU_ASSERT_EQUAL(st(s->ucx, "inflight_bytes"), 0);
        CU_ASSERT_EQUAL(st(s->ucx, "pending_sends"), 0);
        if (same_node_path()) {                 /* none of it went through UCX */
            CU_ASSERT_EQUAL(st(s->ucx, "tx_local"), MSGS);
            CU_ASSERT_EQUAL(st(s->ucx, "rx_local"), MSGS);
            CU_ASSERT_EQUAL(st(s->ucx, "tx_batches"), 0);
            continue;
        }
        CU_ASSERT_EQUAL(st(s->ucx, "tx_local"), 0);
        CU_ASSERT(st(s->ucx, "tx_head") > 0);   /* the uneven 3-piece messages (wiretest.c) */
        CU_ASSERT(st(s->ucx, "tx_batches") > 0);  /* small ones queued together (ucx_batch.c) */
        CU_ASSERT(st(s->ucx, "tx_batched") > st(s->ucx, "tx_batches"));
        CU_ASSERT(st(s->ucx, "rx_batches") > 0);
        printf("(%lld of %u in %lld batches) ", st(s->ucx, "tx_batched"), MSGS,
               st(s->ucx, "tx_batches"));
        assert_clean(s->wt);
    }
    pair_down();
}

static void test_each_way(void)
{
    each_way(0);
}

static void test_xthread_each_way(void)
{
    each_way(1);
}

/* ---- back-pressure ----------------------------------------------------------------------- */

/* B streams while A does not read. A and B share their runtime thread's worker, so B's progress
 * lands A's frames too: what bounds them is B's credits (ucx_credit.c). B spends its window,
 * waits for credits and stops reading tx, and the tx channel fills up in front of it; exactly a
 * window of messages waits on A's side. Then A reads, its grants flow back, everything drains,
 * nothing lost. */
static void test_backpressure(void)
{
    pair_up();
    pair_connect();
    CU_ASSERT_EQUAL(st(A.ucx, "worker"), st(B.ucx, "worker"));      /* one runtime thread */
    CU_ASSERT_EQUAL(st(A.ucx, "worker_engines"), 2);
    cmd(A.wt, "expect 3 %u", MSGS);
    cmd(B.wt, "sendfix 5 %u 32768 3", MSGS);
    unsigned long long deadline = phx_test_now_ns() + 10000 * MS;
    while ((st(B.ucx, "credit_waits") == 0 || st(A.ucx, "queued") < MRPC_WIRE_WINDOW) &&
           phx_test_now_ns() < deadline)
        tp_turn(B.sub);
    for (unsigned i = 0; i < 20; i++)      /* the front engine fills the tx channel */
        tp_turn(B.sub);
    CU_ASSERT(st(B.ucx, "credit_waits") > 0);
    CU_ASSERT_EQUAL(st(A.ucx, "queued"), MRPC_WIRE_WINDOW);     /* and not one more */
    CU_ASSERT_EQUAL(st(A.ucx, "rejected_inflight"), 0);
    CU_ASSERT_EQUAL(phx_chan_space(phx_engine_out(B.wt, PHX_TX, 0)), 0);
    long long pushed = st(B.wt, "pushed");
    tp_turn(B.sub);
    CU_ASSERT_EQUAL(st(B.wt, "pushed"), pushed);            /* held back */

    unsigned long long t0 = phx_test_now_ns();
    CU_ASSERT(RUN_UNTIL(st(A.wt, "received") == MSGS && st(B.wt, "sent_ok") == MSGS, 60000));
    printf("(drained in %.2f s; %lld grants, %lld waits for credits, front engine peak %lld) ",
           secs_since(t0), st(A.ucx, "tx_grants"), st(B.ucx, "credit_waits"),
           st(B.wt, "outstanding_peak"));
    CU_ASSERT(st(A.ucx, "granted") >= MSGS - MRPC_WIRE_WINDOW);  /* what let B send it all */
    CU_ASSERT(st(A.ucx, "granted") <= MSGS);
    CU_ASSERT(RUN_UNTIL(st(B.ucx, "rx_grants") == st(A.ucx, "tx_grants"), 2000));
    CU_ASSERT_EQUAL(st(A.wt, "missing"), 0);
    CU_ASSERT_EQUAL(st(B.wt, "sent_err"), 0);
    CU_ASSERT_EQUAL(st(B.ucx, "pending_sends"), 0);
    CU_ASSERT_EQUAL(st(A.ucx, "malformed"), 0);
    assert_clean(A.wt);
    pair_down();
}

/* Messages of more pieces than UCX gets as an iov list (a message of many strings and nested
 * messages has thousands) are copied together and arrive intact; a few pieces stay an iov. */
static void test_many_pieces(void)
{
    static const struct { unsigned long long size; unsigned pieces; } m[] = {
        {100000, 1025}, {3000000, 20000}, {64, 100000}, {1000000, 1024},
    };                                  /* wiretest runs at most 4 streams at once */
    const unsigned n = sizeof(m) / sizeof(m[0]);

    pair_up();
    pair_connect();
    cmd(A.wt, "expect 13 %u", n);
    for (unsigned i = 0; i < n; i++)
        cmd(B.wt, "sendcut 5 %llu %u 13 %u", m[i].size, m[i].pieces, i);
    CU_ASSERT(RUN_UNTIL(st(A.wt, "received") == n && st(B.wt, "sent_ok") == n, 10000));
    if (same_node_path()) {                 /* copied piece by piece into A's heap */
        CU_ASSERT_EQUAL(st(B.ucx, "tx_local"), n);
    } else {
        CU_ASSERT_EQUAL(st(B.ucx, "tx_gathered"), n - 1);      /* all but the 1024 */
    }
    CU_ASSERT_EQUAL(st(A.wt, "missing"), 0);
    CU_ASSERT_EQUAL(st(B.wt, "sent_err"), 0);
    assert_clean(A.wt);
    pair_down();
}

/* Messages of 4 KiB-20 KiB leave in batches too (ucx_batch.c: one active message, one system
 * call for up to 64 KiB of them), each lands intact on its own; one just over 20 KiB never
 * joins a batch. Through UCX only: the same-node path batches nothing. */
static void test_mid_size_batches(void)
{
    static const unsigned sizes[] = {4096, 16384, 20480};
    const unsigned per = 200;

    pair_up();
    pair_connect();
    for (unsigned i = 0; i < 3; i++) {          /* a stream each: call ids 0..per-1 */
        cmd(A.wt, "expect %u %u", 14 + i, per);
        cmd(B.wt, "sendfix 5 %u %u %u", per, sizes[i], 14 + i);
    }
    CU_ASSERT(RUN_UNTIL(st(A.wt, "received") == 3 * per && st(B.wt, "sent_ok") == 3 * per,
                        20000));
    long long batched = st(B.ucx, "tx_batched"), batches = st(B.ucx, "tx_batches");
    printf("(%lld of %u in %lld batches) ", batched, 3 * per, batches);
    if (!same_node_path()) {
        CU_ASSERT(batches > 0);
        CU_ASSERT(batched > batches);
        CU_ASSERT(st(A.ucx, "rx_batches") == batches);
    }
    cmd(A.wt, "expect 17 %u", per);
    cmd(B.wt, "sendfix 5 %u %u 17", per, 20481u);
    CU_ASSERT(RUN_UNTIL(st(A.wt, "received") == 4 * per && st(B.wt, "sent_ok") == 4 * per,
                        20000));
    CU_ASSERT_EQUAL(st(B.ucx, "tx_batched"), batched);     /* none of them */
    CU_ASSERT_EQUAL(st(A.wt, "missing"), 0);
    CU_ASSERT_EQUAL(st(B.wt, "sent_err"), 0);
    CU_ASSERT_EQUAL(st(A.ucx, "malformed"), 0);
    assert_clean(A.wt);
    pair_down();
}

/* ---- mid-size messages eager over TCP (settings.ucx.eager_max_kb, ucx_send.c) ----------------- */

/* Whether every lane of B's connection 5 is TCP, as its "transports" admin answer says: the
 * messages past 20 KiB up to settings.ucx.eager_max_kb then go eager. Over UCX_TLS=tcp it must
 * be; with shared memory allowed the loopback pair takes shared memory (rendezvous stays). */
static bool conn_on_tcp(void)
{
    char *t = ask(B.ucx, "transports"), lanes[256] = "", *save = NULL;
    const char *at = t ? strstr(t, "\"5\":\"") : NULL;
    bool tcp = at && sscanf(at + 5, "%255[^\"]", lanes) == 1;

    for (char *tl = strtok_r(lanes, ",", &save); tl; tl = strtok_r(NULL, ",", &save))
        tcp = tcp && strncmp(tl, "tcp/", 4) == 0;
    printf("(lanes %s) ", t);
    if (!getenv("PHX_TEST_EXPECT_SHM"))
        CU_ASSERT(tcp);
    free(t);
    return tcp;
}

/* A and B over UCX (the same-node path off, unless PHX_TEST_SAME_NODE says already) with the
 * eager switch at KB KiB. */
static void eager_pair_up(size_t heap, unsigned kb)
{
    const char *env = getenv("PHX_TEST_SAME_NODE");
    bool own = !env || !*env;           /* else ucx_settings() names same_node itself */
    char text[96];

    snprintf(text, sizeof(text), "eager_max_kb = %u;%s", kb, own ? " same_node = false;" : "");
    ucx_settings(text);
    side_up_heap(&A, 1, 0, heap);
    side_up(&B, 2);
    ucx_settings(own ? "eager_max_kb = 256; same_node = true;" : "eager_max_kb = 256;");
    pair_connect();
}

/* Sends COUNT messages of SIZE on B's connection 5 as stream TAG and waits until A has them all,
 * intact. */
static void stream_to_a(unsigned count, unsigned size, unsigned tag)
{
    long long got = st(A.wt, "received"), sent = st(B.wt, "sent_ok");

    cmd(A.wt, "expect %u %u", tag, count);
    cmd(B.wt, "sendfix 5 %u %u %u", count, size, tag);
    CU_ASSERT(RUN_UNTIL(st(A.wt, "received") == got + count &&
                        st(B.wt, "sent_ok") == sent + count, 20000));
}

/* 32 KiB and 256 KiB messages (above the batching limit, above UCX's own eager limit over TCP
 * of ~20 KiB) go eager on a TCP connection; one byte past the switch goes as UCX picks
 * (rendezvous). All arrive intact. */
static void test_eager_mid_size(void)
{
    const unsigned per = 64;

    eager_pair_up(512u << 20, 256);
    bool tcp = conn_on_tcp();
    stream_to_a(per, 32768, 14);
    stream_to_a(per, 262144, 15);
    long long eager = st(B.ucx, "eager_sends");
    printf("(%lld of %u eager) ", eager, 2 * per);
    CU_ASSERT_EQUAL(eager, tcp ? 2 * per : 0);
    stream_to_a(16, 262145, 16);
    CU_ASSERT_EQUAL(st(B.ucx, "eager_sends"), eager);          /* none of them */
    CU_ASSERT_EQUAL(st(A.wt, "missing"), 0);
    CU_ASSERT_EQUAL(st(B.wt, "sent_err"), 0);
    CU_ASSERT_EQUAL(st(A.ucx, "rejected_heap"), 0);
    CU_ASSERT_EQUAL(st(A.ucx, "malformed"), 0);
    assert_clean(A.wt);
    pair_down();
}

/* settings.ucx.eager_max_kb = 0: nothing is forced eager. */
static void test_eager_off(void)
{
    eager_pair_up(512u << 20, 0);
    conn_on_tcp();
    stream_to_a(32, 32768, 14);
    stream_to_a(8, 262144, 15);
    CU_ASSERT_EQUAL(st(B.ucx, "eager_sends"), 0);
    CU_ASSERT_EQUAL(st(A.wt, "missing"), 0);
    assert_clean(A.wt);
    pair_down();
}

/* A keeps what it receives (at most 64 messages) in a HEAP-byte heap while B sends COUNT eager
 * messages of SIZE: once the heap is full the next frames are held with their data (not dropped,
 * as an eager frame used to be), and once A lets go every message arrives intact: nothing
 * dropped, nothing refused. With shared memory the 256 KiB ones travel by rendezvous and are
 * parked instead. */
static void full_heap_holds(size_t heap, unsigned count, unsigned size)
{
    eager_pair_up(heap, 256);
    bool tcp = conn_on_tcp();
    cmd(A.wt, "hold 64");
    cmd(A.wt, "expect 18 %u", count);
    cmd(B.wt, "sendfix 5 %u %u 18", count, size);
    CU_ASSERT(RUN_UNTIL(st(A.ucx, "eager_held") + st(A.ucx, "parked") > 0, 5000));
    long long held = st(A.ucx, "eager_held"), kept = st(A.wt, "held");
    printf("(%lld kept by the app, %lld frames held, %lld parked) ", kept, held,
           st(A.ucx, "parked"));
    CU_ASSERT(tcp ? held >= 1 : held + st(A.ucx, "parked") >= 1);
    CU_ASSERT(kept >= 1 && kept < count);
    cmd(A.wt, "hold 0");
    CU_ASSERT(RUN_UNTIL(st(A.wt, "received") == count && st(B.wt, "sent_ok") == count, 10000));
    CU_ASSERT_EQUAL(st(A.wt, "dropped"), 0);
    CU_ASSERT_EQUAL(st(A.ucx, "rejected_heap"), 0);
    CU_ASSERT_EQUAL(st(A.ucx, "rejected_inflight"), 0);
    CU_ASSERT_EQUAL(st(A.wt, "missing"), 0);
    CU_ASSERT_EQUAL(st(B.wt, "sent_err"), 0);
    CU_ASSERT_EQUAL(st(A.ucx, "inflight_bytes"), 0);
    assert_clean(A.wt);
    pair_down();
}

/* 256 KiB: UCX assembles the fragments and lets the handler keep its buffer. */
static void test_eager_full_heap_holds(void)
{
    full_heap_holds(8u << 20, 32, 262144);
}

/* 32 KiB: 64 of them fill a 2 MiB heap. */
static void test_eager_full_heap_holds_32k(void)
{
    full_heap_holds(2u << 20, 128, 32768);
}

/* B sends to A, which does not read, and to C: A's connection runs out of credits, and the 44
 * messages past its window wait on that connection alone, so C gets all of its own meanwhile.
 * Then A reads and gets everything. */
static void test_slow_peer_alone(void)
{
    pair_up();
    pair_connect();
    side_up(&C, 3);
    cmd(C.wt, "bind 1 127.0.0.1:0");
    unsigned long long deadline = phx_test_now_ns() + 5000 * MS;
    while (st(C.wt, "bound") != 1 && phx_test_now_ns() < deadline)
        tp_turn(C.sub);
    cmd(B.wt, "connect 6 127.0.0.1:%lld", st(C.wt, "bound_port"));
    cmd(A.wt, "expect 11 300");
    cmd(C.wt, "expect 12 100");
    cmd(B.wt, "sendfix 5 300 1000 11");
    cmd(B.wt, "sendfix 6 100 1000 12");
    deadline = phx_test_now_ns() + 10000 * MS;
    while (st(C.wt, "received") < 100 && phx_test_now_ns() < deadline) {
        tp_turn(B.sub);
        tp_turn(C.sub);
    }
    printf("(C got %lld while %lld waited for A's credits) ", st(C.wt, "received"),
           st(B.ucx, "credit_waits"));
    CU_ASSERT_EQUAL(st(C.wt, "received"), 100);
    CU_ASSERT_EQUAL(st(A.wt, "received"), 0);
    CU_ASSERT_EQUAL(st(A.ucx, "queued"), MRPC_WIRE_WINDOW);
    CU_ASSERT_EQUAL(st(B.ucx, "credit_waits"), 300 - MRPC_WIRE_WINDOW);
    CU_ASSERT(RUN_UNTIL(st(A.wt, "received") == 300 && st(B.wt, "sent_ok") == 400, 10000));
    CU_ASSERT_EQUAL(st(A.wt, "missing"), 0);
    CU_ASSERT_EQUAL(st(C.wt, "missing"), 0);
    assert_clean(A.wt);
    assert_clean(C.wt);
    side_down(&C);
    pair_down();
}

/* ---- nobody there ------------------------------------------------------------------------ */

/* A loopback TCP socket bound to a free port; listening (never accepting) when BACKLOG > 0. */
static int loopback_socket(int backlog, unsigned *port)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sin);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    CU_ASSERT_FATAL(fd >= 0);
    CU_ASSERT_EQUAL_FATAL(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    CU_ASSERT_EQUAL_FATAL(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
    if (backlog)
        CU_ASSERT_EQUAL_FATAL(listen(fd, backlog), 0);
    *port = ntohs(sin.sin_port);
    return fd;
}

/* CONNECT id ID to PORT; how long until CONNECTED, which must be UNAVAILABLE. */
static double connect_fails(unsigned id, unsigned port)
{
    long long before = st(B.wt, "connected");
    unsigned long long t0 = phx_test_now_ns();

    cmd(B.wt, "connect %u 127.0.0.1:%u", id, port);
    CU_ASSERT(RUN_UNTIL(st(B.wt, "connected") == before + 1, 5000));
    double t = secs_since(t0);
    CU_ASSERT_EQUAL(st(B.wt, "connected_status"), PHX_UNAVAILABLE);
    return t;
}

static void test_connect_nobody(void)
{
    unsigned closed_port, silent_port;

    pair_up();
    close(loopback_socket(0, &closed_port));
    double refused = connect_fails(5, closed_port);
    int silent = loopback_socket(8, &silent_port);     /* accepts TCP, never answers UCX */
    double unanswered = connect_fails(6, silent_port);
    printf("(closed port %.3f s, silent listener %.3f s) ", refused, unanswered);
    CU_ASSERT(refused < 2.0);
    CU_ASSERT(unanswered > 1.5 && unanswered < 2.5);  /* the connect timeout, 2 s */
    close(silent);
    CU_ASSERT(RUN_UNTIL(st(B.ucx, "conns") == 0 && st(B.ucx, "closing") == 0, 3000));
    pair_down();
}

/* ---- peers that die ---------------------------------------------------------------------- */

/* The connection is reported lost within FAIL_LIMIT of T0 and every SEND of WT came back;
 * seconds from T0 to the CONN_LOST, which comes once every send pending on the connection is
 * back. Timed there: the SENDs the wiretest goes on building meanwhile are refused at once,
 * and building them (256 KiB of pattern each) is the harness's work, not the engine's; under
 * ASan on a loaded machine the whole tail of a million-message stream took longer than the
 * limit. */
static double assert_lost_in_time(struct side *s, unsigned long long t0)
{
    CU_ASSERT(RUN_UNTIL(st(s->wt, "conn_lost") == 1 &&
                        st(s->wt, "sent_ok") + st(s->wt, "sent_err") == st(s->wt, "pushed"),
                        5000));
    double t = (double)(st(s->wt, "lost_ns") - (long long)t0) / 1e9;
    CU_ASSERT(t > 0 && t < (double)FAIL_LIMIT / 1e9);
    CU_ASSERT_EQUAL(st(s->wt, "lost_status"), PHX_UNAVAILABLE);
    CU_ASSERT(RUN_UNTIL(st(s->ucx, "conns") == 0 && st(s->ucx, "closing") == 0, 3000));
    CU_ASSERT_EQUAL(st(s->ucx, "pending_sends"), 0);
    return t;
}

/* ... and A, restarted, listens on its port again at once (UCX_TCP_CM_REUSEADDR). */
static void test_peer_destroyed(void)
{
    pair_up();
    pair_connect();
    long long port = st(A.wt, "bound_port");
    cmd(B.wt, "sendfix 5 1000000 262144 6");
    CU_ASSERT(RUN_UNTIL(st(B.wt, "sent_ok") >= 50, 10000));
    side_down(&A);
    unsigned long long t0 = phx_test_now_ns();
    double t = assert_lost_in_time(&B, t0);
    printf("(CONN_LOST after %.3f s, %lld sends came back with an error) ", t,
           st(B.wt, "sent_err"));
    CU_ASSERT_EQUAL(st(B.wt, "lost_conn"), 5);
    assert_clean(B.wt);

    side_up(&A, 1);
    cmd(A.wt, "bind 1 127.0.0.1:%lld", port);
    CU_ASSERT(RUN_UNTIL(st(A.wt, "bound") == 1, 3000));
    CU_ASSERT_EQUAL(st(A.wt, "bound_status"), PHX_OK);
    cmd(B.wt, "connect 6 127.0.0.1:%lld", port);
    CU_ASSERT(RUN_UNTIL(st(B.wt, "connected") == 2 && st(A.wt, "accepted") == 1, 5000));
    CU_ASSERT_EQUAL(st(B.wt, "connected_status"), PHX_OK);
    pair_down();
}

/* raw_peer against the port of A, waiting on its stdin (closed by reap) before it hangs up. */
static phx_test_child_t *spawn_peer(long long port, bool sink)
{
    static phx_test_child_t peer;
    char port_s[16], max_s[32];

    snprintf(port_s, sizeof(port_s), "%lld", port);
    snprintf(max_s, sizeof(max_s), "%u", MAX_SIZE);
    char *argv[] = { RAW_PEER, "127.0.0.1", port_s, max_s, sink ? "--sink" : NULL, NULL };
    CU_ASSERT_EQUAL_FATAL(phx_test_child_spawn(&peer, argv, NULL,
                                               PHX_TEST_CHILD_STDIN | PHX_TEST_CHILD_KEEP_OUTPUT),
                          0);
    return &peer;
}

/* Lets the child go on (closes its stdin) and turns both sides until it exits, at most 15 s
 * (then it is stopped); its exit status, or 128 + the signal that ended it. */
static int reap(phx_test_child_t *c)
{
    close(c->in_fd);
    c->in_fd = -1;
    CU_ASSERT(RUN_UNTIL(phx_test_child_exited(c), 15000));
    return phx_test_child_reap(c, 0);
}

static void test_peer_killed(void)
{
    pair_up();
    cmd(A.wt, "bind 1 127.0.0.1:0");
    CU_ASSERT_FATAL(RUN_UNTIL(st(A.wt, "bound") == 1, 5000));
    phx_test_child_t *peer = spawn_peer(st(A.wt, "bound_port"), true);
    CU_ASSERT(RUN_UNTIL(st(A.wt, "accepted") == 1, 10000));
    /* bounded, so that few are built after the kill; still mid-stream then (asserted below) */
    cmd(A.wt, "sendfix %lld 300 262144 8", st(A.wt, "accepted_conn"));
    CU_ASSERT(RUN_UNTIL(st(A.wt, "sent_ok") >= 50, 10000));
    kill(peer->pid, SIGKILL);
    unsigned long long t0 = phx_test_now_ns();
    double t = assert_lost_in_time(&A, t0);
    printf("(CONN_LOST after %.3f s, %lld sends came back with an error) ", t,
           st(A.wt, "sent_err"));
    CU_ASSERT(st(A.wt, "sent_err") > 0);
    CU_ASSERT_EQUAL(reap(peer), 128 + SIGKILL);
    assert_clean(A.wt);
    pair_down();
}

/* ---- malformed frames -------------------------------------------------------------------- */

static void test_malformed(void)
{
    pair_up();
    cmd(A.wt, "bind 1 127.0.0.1:0");
    CU_ASSERT_FATAL(RUN_UNTIL(st(A.wt, "bound") == 1, 5000));
    cmd(A.wt, "expect %d %d", RAW_PEER_TAG, RAW_VALID);
    phx_test_child_t *peer = spawn_peer(st(A.wt, "bound_port"), false);
    CU_ASSERT(RUN_UNTIL(st(A.ucx, "malformed") == RAW_FRAMES &&
                        st(A.ucx, "worker_unclaimed") == RAW_UNCLAIMED &&
                        st(A.wt, "received") == RAW_VALID,
                        20000));
    CU_ASSERT_EQUAL(st(A.ucx, "rx_grants"), 0);     /* the bad grants gave nothing */
    CU_ASSERT_EQUAL(reap(peer), 0);
    CU_ASSERT(RUN_UNTIL(st(A.wt, "conn_lost") == 1, 3000));
    printf("(%lld malformed, %lld unclaimed, %lld valid after them) ", st(A.ucx, "malformed"),
           st(A.ucx, "worker_unclaimed"), st(A.wt, "received"));
    CU_ASSERT_EQUAL(st(A.wt, "missing"), 0);
    CU_ASSERT_EQUAL(st(A.ucx, "dropped"), 0);
    CU_ASSERT_EQUAL(st(A.ucx, "rejected_inflight"), 0);
    CU_ASSERT_EQUAL(st(A.ucx, "rejected_heap"), 0);
    CU_ASSERT_EQUAL(st(A.ucx, "inflight_bytes"), 0);
    assert_clean(A.wt);

    /* and the engine goes on serving */
    long long port = st(A.wt, "bound_port");
    cmd(A.wt, "expect 4 10");
    cmd(B.wt, "connect 5 127.0.0.1:%lld", port);
    CU_ASSERT(RUN_UNTIL(st(B.wt, "connected") == 1, 5000));
    cmd(B.wt, "send 5 10 100000 4");
    CU_ASSERT(RUN_UNTIL(st(A.wt, "received") == RAW_VALID + 10, 5000));
    CU_ASSERT_EQUAL(st(A.wt, "missing"), 0);
    pair_down();
}

/* ---- the in-flight receive budget -------------------------------------------------------- */

static void test_inflight_budget(void)
{
    ucx_settings("inflight_mb = 2;");   /* engines read it when they are created */
    pair_up();
    ucx_settings("inflight_mb = 256;");
    pair_connect();
    cmd(A.wt, "expect 8 2");
    cmd(B.wt, "send1 5 %u 8 0", 3u << 20);
    /* A rendezvous frame over the budget is refused, and the sender hears it at once. */
    CU_ASSERT(RUN_UNTIL(st(A.ucx, "rejected_inflight") == 1 && st(B.wt, "sent_err") == 1, 5000));
    CU_ASSERT_EQUAL(st(B.wt, "last_err_status"), PHX_RESOURCE_EXHAUSTED);
    cmd(B.wt, "send1 5 1000 8 1");
    CU_ASSERT(RUN_UNTIL(st(A.wt, "received") == 1, 5000));
    CU_ASSERT_EQUAL(st(A.wt, "missing"), 1);                /* call 0 was dropped */
    CU_ASSERT_EQUAL(st(A.ucx, "inflight_bytes"), 0);
    assert_clean(A.wt);
    pair_down();
}

/* Two 1.5 MiB messages against a 2 MiB budget while A does not push anything up (B's progress
 * lands A's frames: they share the worker): the first takes the budget, the second is not
 * refused but parked, its data left with B. Once A pushes the first up, the second is fetched:
 * both arrive, nothing refused. */
/* How often a message waited for room at A: parked there (a rendezvous frame), or, on the
 * same-node path, held in B's wait list. */
static long long waits_for_room(void)
{
    return same_node_path() ? st(B.ucx, "local_waits") : st(A.ucx, "parked");
}

static void test_inflight_budget_waits(void)
{
    const unsigned size = 3u << 19;

    ucx_settings("inflight_mb = 2;");
    pair_up();
    ucx_settings("inflight_mb = 256;");
    pair_connect();
    cmd(A.wt, "expect 8 2");
    cmd(B.wt, "send1 5 %u 8 0", size);
    cmd(B.wt, "send1 5 %u 8 1", size);
    unsigned long long deadline = phx_test_now_ns() + 5000 * MS;
    while ((waits_for_room() < 1 || st(A.ucx, "queued") < 1 || st(B.wt, "sent_ok") < 1) &&
           phx_test_now_ns() < deadline)
        tp_turn(B.sub);
    for (unsigned i = 0; i < 100; i++)     /* the second stays parked however long B turns */
        tp_turn(B.sub);
    if (same_node_path()) {                 /* tried again only when A did something */
        CU_ASSERT(waits_for_room() >= 1 && waits_for_room() <= 2);
    } else {
        CU_ASSERT_EQUAL(st(A.ucx, "parked"), 1);
    }
    CU_ASSERT_EQUAL(st(A.ucx, "queued"), 1);                /* the first, landed */
    CU_ASSERT_EQUAL(st(A.ucx, "inflight_bytes"), size);
    CU_ASSERT_EQUAL(st(B.wt, "sent_ok"), 1);                /* the second's send waits */
    CU_ASSERT_EQUAL(st(B.wt, "sent_err"), 0);
    CU_ASSERT(RUN_UNTIL(st(A.wt, "received") == 2 && st(B.wt, "sent_ok") == 2, 5000));
    CU_ASSERT_EQUAL(st(A.ucx, "rejected_inflight"), 0);
    CU_ASSERT_EQUAL(st(A.wt, "missing"), 0);
    CU_ASSERT_EQUAL(st(A.ucx, "inflight_bytes"), 0);
    assert_clean(A.wt);
    pair_down();
}

/* ---- a receive heap that fills -------------------------------------------------------------- */

/* An app that keeps everything it receives (WireTestEngine "hold") in an 8 MiB receive heap:
 * B's 3 MiB messages (rendezvous) fill it after one or two; the next waits (parked) and, the
 * heap freeing nothing for a second (PHX_UCX_PARK_STALL_MS), goes up as DROPPED
 * RESOURCE_EXHAUSTED instead of waiting for ever, and the ones behind it with it. Once the app
 * lets go of what it held, the connection carries messages again. */
static void test_full_heap_refuses_parked(void)
{
    const unsigned size = 3u << 20, count = 4;

    side_up_heap(&A, 1, 0, 8u << 20);
    side_up(&B, 2);
    pair_connect();
    cmd(A.wt, "hold 64");
    cmd(A.wt, "expect 8 %u", count);
    unsigned long long t0 = phx_test_now_ns();
    cmd(B.wt, "sendfix 5 %u %u 8", count, size);
    CU_ASSERT(RUN_UNTIL(st(A.wt, "received") + st(A.wt, "dropped") == count, 10000));
    double took = secs_since(t0);
    printf("(%lld landed, %lld dropped after %.2f s) ", st(A.wt, "received"),
           st(A.wt, "dropped"), took);
    CU_ASSERT(st(A.wt, "received") >= 1);
    CU_ASSERT(st(A.wt, "dropped") >= 1);
    CU_ASSERT_EQUAL(st(A.wt, "dropped_status"), PHX_RESOURCE_EXHAUSTED);
    CU_ASSERT_EQUAL(st(A.ucx, "rejected_heap"), st(A.wt, "dropped"));
    CU_ASSERT(waits_for_room() >= 1);
    CU_ASSERT(took >= 0.9 && took < 5.0);       /* the bound, not a deadline */
    CU_ASSERT(RUN_UNTIL(st(B.wt, "sent_ok") == count, 5000));
    cmd(A.wt, "hold 0");
    CU_ASSERT_EQUAL(st(A.wt, "held"), 0);
    cmd(A.wt, "expect 9 1");
    cmd(B.wt, "send1 5 %u 9 0", size);
    CU_ASSERT(RUN_UNTIL(st(A.wt, "received") + st(A.wt, "dropped") == count + 1, 5000));
    CU_ASSERT_EQUAL(st(A.ucx, "rejected_heap"), st(A.wt, "dropped"));   /* this one landed */
    CU_ASSERT_EQUAL(st(A.ucx, "inflight_bytes"), 0);
    assert_clean(A.wt);
    pair_down();
}

/* A receiver with a smaller settings.ucx.max_message_mb than its sender finds the sender's large
 * messages malformed. Each cost the sender a credit, so the receiver must grant them back: after
 * 300 refused (more than a window) the connection still carries messages. */
static void test_malformed_frames_return_credits(void)
{
    ucx_settings("max_message_mb = 1;");    /* A only: engines read it when they are created */
    side_up(&A, 1);
    ucx_settings(usual_settings);
    side_up(&B, 2);
    pair_connect();
    cmd(A.wt, "expect 14 10");
    cmd(B.wt, "sendfix 5 300 %u 15", 3u << 19);
    CU_ASSERT(RUN_UNTIL(st(B.wt, "sent_err") == 300, 20000));
    CU_ASSERT_EQUAL(st(B.wt, "last_err_status"), PHX_INVALID_ARGUMENT);
    CU_ASSERT_EQUAL(st(A.ucx, "malformed"), 300);
    cmd(B.wt, "send 5 10 1000 14");
    CU_ASSERT(RUN_UNTIL(st(A.wt, "received") == 10, 5000));
    CU_ASSERT(st(A.ucx, "granted") >= 300 - MRPC_WIRE_WINDOW);
    CU_ASSERT_EQUAL(st(A.wt, "missing"), 0);
    assert_clean(A.wt);
    pair_down();
}

/* ---- waking up --------------------------------------------------------------------------- */

#define PINGS 10

static void test_wakeup(void)
{
    struct pair_threads rt;
    long long worst = 0;

    side_up_on(&A, 1, 0);
    side_up_on(&B, 2, 1);
    pair_connect();
    CU_ASSERT_NOT_EQUAL(st(A.ucx, "worker"), st(B.ucx, "worker"));  /* a worker per thread */
    CU_ASSERT_EQUAL(st(A.ucx, "worker_runtime"), 0);
    CU_ASSERT_EQUAL(st(B.ucx, "worker_runtime"), 1);
    CU_ASSERT_EQUAL(st(A.ucx, "worker_engines"), 1);
    cmd(A.wt, "expect 9 %d", PINGS);
    threads_up(&rt);
    for (int i = 0; i < PINGS; i++) {
        const struct timespec settle = {.tv_nsec = 200 * MS}, deliver = {.tv_nsec = 600 * MS};
        nanosleep(&settle, NULL);                  /* both runtimes go to sleep */
        phx_runtime_suspend(rt.b, B.sub);
        cmd(B.wt, "send1 5 100 9 %d", i);
        unsigned long long sent = phx_test_now_ns();
        phx_runtime_resume(rt.b, B.sub);
        nanosleep(&deliver, NULL);  /* A is not touched: only its fd wakes it (or its timer) */
        CU_ASSERT_EQUAL(tp_stat_of(A.sub, "WireTestEngine", "received"), i + 1);
        long long lat = tp_stat_of(A.sub, "WireTestEngine", "last_rx_ns") - (long long)sent;
        worst = lat > worst ? lat : worst;
    }
    struct phx_runtime_stats rs;
    phx_runtime_get_stats(rt.a, &rs);
    printf("(worst wake-up to delivery %.3f ms, %llu sleeps) ", (double)worst / 1e6,
           (unsigned long long)rs.sleeps);
    CU_ASSERT(rs.sleeps >= PINGS);
    /* Not the 1 s keepalive timer: woken by it, a delivery would wait 0-1 s after the send,
     * and all PINGS of them under 500 ms has a chance of 1 in 2^PINGS. The bound leaves room
     * for a loaded machine's scheduling, which made a 200 ms bound fail. */
    CU_ASSERT(worst < (long long)(500 * MS));
    threads_down(&rt);
    CU_ASSERT_EQUAL(st(A.wt, "missing"), 0);
    pair_down();
}

/* ---- crossed connects --------------------------------------------------------------------- */

/* Two services on workers of their own call each other at the same instant, round after round
 * (an MPI program whose two ranks Isend first): see cross_connect() (transport_harness.h). */
static void test_crossed_connects(void)
{
    side_up_on(&A, 1, 0);
    side_up_on(&B, 2, 1);
    cross_connect(30);
    pair_down();
}

#define CROSS_THREAD_ROUNDS 30

/* Polls STAT of both sides' WireTestEngine until it reaches N, at most 4 s. */
static bool both_reach(const char *stat, long long n)
{
    const struct timespec tick = {.tv_nsec = MS};

    for (unsigned i = 0; i < 4000; i++) {
        if (tp_stat_of(A.sub, "WireTestEngine", stat) >= n &&
            tp_stat_of(B.sub, "WireTestEngine", stat) >= n)
            return true;
        nanosleep(&tick, NULL);
    }
    return false;
}

/* The same with two real runtime threads, released together each round: the crossing then
 * happens or not as the threads' timing has it, as between two nodes. Every CONNECT connects. */
static void test_crossed_threads(void)
{
    struct pair_threads rt;

    side_up_on(&A, 1, 0);
    side_up_on(&B, 2, 1);
    cmd(A.wt, "bind 1 127.0.0.1:0");
    cmd(B.wt, "bind 1 127.0.0.1:0");
    CU_ASSERT_FATAL(RUN_UNTIL(st(A.wt, "bound") == 1 && st(B.wt, "bound") == 1, 5000));
    long long port_a = st(A.wt, "bound_port"), port_b = st(B.wt, "bound_port");
    threads_up(&rt);
    for (unsigned i = 0; i < CROSS_THREAD_ROUNDS; i++) {
        phx_runtime_suspend(rt.a, A.sub);
        phx_runtime_suspend(rt.b, B.sub);
        cmd(A.wt, "connect %u 127.0.0.1:%lld", 10 + i, port_b);
        cmd(B.wt, "connect %u 127.0.0.1:%lld", 10 + i, port_a);
        phx_runtime_resume(rt.a, A.sub);
        phx_runtime_resume(rt.b, B.sub);
        CU_ASSERT(both_reach("connected", i + 1));
    }
    CU_ASSERT(both_reach("accepted", CROSS_THREAD_ROUNDS));
    long long a_ok = tp_stat_of(A.sub, "WireTestEngine", "connected_ok");
    long long b_ok = tp_stat_of(B.sub, "WireTestEngine", "connected_ok");
    printf("(%lld + %lld of %u CONNECTs OK, %lld + %lld crossed) ", a_ok, b_ok,
           CROSS_THREAD_ROUNDS, tp_stat_of(A.sub, "UcxRpcAdapterEngine", "hs_crossed"),
           tp_stat_of(B.sub, "UcxRpcAdapterEngine", "hs_crossed"));
    CU_ASSERT_EQUAL(a_ok, CROSS_THREAD_ROUNDS);
    CU_ASSERT_EQUAL(b_ok, CROSS_THREAD_ROUNDS);
    threads_down(&rt);
    assert_clean(A.wt);
    assert_clean(B.wt);
    pair_down();
}

/* ---- live upgrade ------------------------------------------------------------------------ */

/* Both transports move to a new build of the ucx plugin while messages flow both ways: nothing
 * is lost, the new build serves old and new connections (A's listener is re-created), and an
 * old connection's failure reaches the new build. */
static void live_upgrade(unsigned rt_b)
{
    char msg[512] = "";

    side_up_on(&A, 1, 0);
    side_up_on(&B, 2, rt_b);
    uint32_t back = pair_connect();
    cmd(A.wt, "expect 10 2000");
    cmd(B.wt, "expect 11 2000");
    cmd(B.wt, "send 5 2000 1048576 10");
    cmd(A.wt, "send %u 2000 1048576 11", back);
    CU_ASSERT(RUN_UNTIL(st(A.wt, "received") >= 500 && st(B.wt, "received") >= 500, 20000));
    /* Over UCX between two workers, A's flush progresses only A's worker here (nobody turns
     * B's while phx_upgrade() runs), so UCX's requests in flight could not finish: the streams
     * end first. The same-node pair has no such wait (its posts are recalled). */
    if (rt_b && !same_node_path())
        CU_ASSERT(RUN_UNTIL(st(A.wt, "sent_ok") == 2000 && st(B.wt, "sent_ok") == 2000, 60000));
    const struct phx_plugin *old = A.ucx->plugin;
    const char *const paths[] = {PHX_PLUGIN_UCX};
    A.sub->next = B.sub;                       /* the service's list of subscriptions */
    int rc = phx_upgrade(&reg, A.sub, paths, 1, msg, sizeof(msg));
    A.sub->next = NULL;
    if (rc)
        fprintf(stderr, "\n  upgrade: %s\n", msg);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    CU_ASSERT(A.ucx->plugin != old && B.ucx->plugin == A.ucx->plugin);
    printf("(%s, at %lld + %lld received) ", msg, st(A.wt, "received"), st(B.wt, "received"));
    CU_ASSERT(RUN_UNTIL(st(A.wt, "received") == 2000 && st(B.wt, "received") == 2000 &&
                        st(A.wt, "sent_ok") == 2000 && st(B.wt, "sent_ok") == 2000, 60000));
    CU_ASSERT_EQUAL(st(A.wt, "missing"), 0);
    CU_ASSERT_EQUAL(st(B.wt, "missing"), 0);
    CU_ASSERT_EQUAL(st(B.ucx, "tx_msgs"), 2000);       /* the counters moved along */
    CU_ASSERT_EQUAL(st(B.ucx, "tx_local"), same_node_path() ? 2000 : 0);   /* ... and the path */
    CU_ASSERT_EQUAL(st(A.ucx, "rx_local"), same_node_path() ? 2000 : 0);
    assert_clean(A.wt);
    assert_clean(B.wt);

    cmd(B.wt, "connect 6 127.0.0.1:%lld", st(A.wt, "bound_port"));
    CU_ASSERT(RUN_UNTIL(st(B.wt, "connected") == 2 && st(A.wt, "accepted") == 2, 5000));
    CU_ASSERT_EQUAL(st(B.wt, "connected_status"), PHX_OK);

    /* A state of a version this build does not read is refused, not adopted; and dump() runs
     * only inside an upgrade (its UCX handles need the resource table). */
    phx_blob_t blob = {.data = (void *)"UCXS", .len = 4,
                       .version = A.ucx->ops->state_version - 1};
    void *adopted = NULL;
    CU_ASSERT_EQUAL(A.ucx->ops->restore(A.ucx, &blob, &adopted, msg, sizeof(msg)), -ENOTSUP);
    CU_ASSERT_PTR_NULL(adopted);
    CU_ASSERT_PTR_NOT_NULL(strstr(msg, "state version"));
    blob = (phx_blob_t){0};
    CU_ASSERT_NOT_EQUAL(A.ucx->ops->dump(A.ucx, A.ucx->state, &blob), 0);
    free(blob.data);

    /* B's first connection was made by the old build, which is unloaded: its endpoint's error
     * handler must be the new build's when A goes (else this crashes). */
    side_down(&A);
    CU_ASSERT(RUN_UNTIL(st(B.wt, "conn_lost") == 2 && st(B.ucx, "conns") == 0 &&
                        st(B.ucx, "closing") == 0, 5000));
    CU_ASSERT_EQUAL(st(B.wt, "lost_status"), PHX_UNAVAILABLE);
    side_down(&B);
}

static void test_live_upgrade(void)
{
    live_upgrade(0);
}

static void test_xthread_live_upgrade(void)
{
    live_upgrade(1);
}

/* ---- the same-node path across runtime threads (ucx_xlocal.c) ------------------------------ */

/* Polls the wiretest counter KEY of both sides while their runtime threads run, until A's
 * reaches WANT_A and B's WANT_B, at most MS_ milliseconds. */
static bool threads_reach(const char *key, long long want_a, long long want_b, unsigned ms_)
{
    unsigned long long deadline = phx_test_now_ns() + ms_ * MS;
    const struct timespec pause = {.tv_nsec = 5 * MS};

    while (phx_test_now_ns() < deadline) {
        if (tp_stat_of(A.sub, "WireTestEngine", key) >= want_a &&
            tp_stat_of(B.sub, "WireTestEngine", key) >= want_b)
            return true;
        nanosleep(&pause, NULL);
    }
    return false;
}

/* A and B on two real runtime threads, each on its own worker: 2,000 messages of up to 1 MiB
 * each way at once, both threads copying into each other's heap and sleeping when idle; then
 * B streams 64 KiB messages and A's app goes (its engine destroyed from this thread while B's
 * thread goes on): B's connection is lost, every SEND comes back, nothing is written into A's
 * heap after it went (ASan), and the hand-over is race-free (TSan). */
static void test_xthread_threads(void)
{
    enum { N = 2000, STREAM = 4000 };
    struct pair_threads rt;

    side_up_on(&A, 1, 0);
    side_up_on(&B, 2, 1);
    uint32_t back = pair_connect();
    cmd(A.wt, "expect 17 %u", N);
    cmd(B.wt, "expect 18 %u", N);
    cmd(B.wt, "send 5 %u %u 17", N, 1u << 20);
    cmd(A.wt, "send %u %u %u 18", back, N, 1u << 20);
    threads_up(&rt);
    CU_ASSERT(threads_reach("received", N, N, 60000));
    CU_ASSERT(threads_reach("sent_ok", N, N, 5000));
    threads_down(&rt);
    CU_ASSERT_EQUAL(st(A.wt, "missing"), 0);
    CU_ASSERT_EQUAL(st(B.wt, "missing"), 0);
    CU_ASSERT_EQUAL(st(A.ucx, "tx_local"), same_node_path() ? N : 0);
    CU_ASSERT_EQUAL(st(B.ucx, "rx_local"), same_node_path() ? N : 0);
    assert_clean(A.wt);
    assert_clean(B.wt);

    cmd(A.wt, "expect 19 %u", STREAM);
    cmd(B.wt, "sendfix 5 %u 65536 19", STREAM);
    threads_up(&rt);
    CU_ASSERT(threads_reach("received", N + 200, 0, 20000));     /* mid-stream */
    CU_ASSERT_EQUAL(phx_runtime_remove(rt.a, A.sub), 0);
    side_down(&A);                          /* as when its app is killed */
    unsigned long long deadline = phx_test_now_ns() + 5000 * MS;
    const struct timespec pause = {.tv_nsec = 5 * MS};
    while (phx_test_now_ns() < deadline &&
           tp_stat_of(B.sub, "WireTestEngine", "conn_lost") < 1)
        nanosleep(&pause, NULL);
    CU_ASSERT_EQUAL(phx_runtime_remove(rt.b, B.sub), 0);
    phx_runtime_stop(rt.a);
    phx_runtime_stop(rt.b);
    CU_ASSERT_EQUAL(st(B.wt, "conn_lost"), 1);
    CU_ASSERT_EQUAL(st(B.wt, "lost_status"), PHX_UNAVAILABLE);
    CU_ASSERT(RUN_UNTIL(st(B.ucx, "pending_sends") == 0 && st(B.ucx, "conns") == 0 &&
                        st(B.wt, "sent_ok") + st(B.wt, "sent_err") == st(B.wt, "pushed"),
                        3000));     /* every SEND came back */
    printf("(%lld sent, %lld refused when A went) ", st(B.wt, "sent_ok"), st(B.wt, "sent_err"));
    CU_ASSERT(st(B.wt, "sent_ok") >= N + 200);
    CU_ASSERT(st(B.wt, "sent_err") > 0);    /* A went before the stream's end */
    side_down(&B);
}

/* The service puts an app that a standing rule made urgent on a runtime thread kept for such
 * apps after its engines were created for another (core/daemon/service.c, place_group): B,
 * created for runtime 0 beside A, is given runtime 1 before it does anything. On its first turn
 * it takes runtime 1's worker (ucx_engine.c, follow_runtime); it then binds, connects and
 * exchanges messages both ways with A, driven by runtime thread 1 while thread 0 drives A. */
static void test_xthread_moved(void)
{
    enum { N = 2000 };
    struct pair_threads rt;

    side_up_on(&A, 1, 0);
    side_up_on(&B, 2, 0);
    CU_ASSERT_EQUAL(st(B.ucx, "worker"), st(A.ucx, "worker"));     /* runtime 0's */
    B.sub->group.runtime_index = 1;         /* as phx_runtime_add() will say */
    tp_turn(B.sub);
    CU_ASSERT_EQUAL(st(B.ucx, "worker_runtime"), 1);
    CU_ASSERT_NOT_EQUAL(st(B.ucx, "worker"), st(A.ucx, "worker"));
    CU_ASSERT_EQUAL(st(A.ucx, "worker_engines"), 1);              /* B left it */
    uint32_t back = pair_connect();
    cmd(A.wt, "expect 17 %u", N);
    cmd(B.wt, "expect 18 %u", N);
    cmd(B.wt, "send 5 %u %u 17", N, 64u << 10);
    cmd(A.wt, "send %u %u %u 18", back, N, 64u << 10);
    threads_up(&rt);
    CU_ASSERT(threads_reach("received", N, N, 60000));
    CU_ASSERT(threads_reach("sent_ok", N, N, 5000));
    threads_down(&rt);
    CU_ASSERT_EQUAL(st(B.ucx, "worker_runtime"), 1);              /* stayed */
    CU_ASSERT_EQUAL(st(A.wt, "missing"), 0);
    CU_ASSERT_EQUAL(st(B.wt, "missing"), 0);
    assert_clean(A.wt);
    assert_clean(B.wt);
    pair_down();
}

/* N connects of B to A, some handshakes under way, when A (and with BOTH, B too) moves to a
 * new build: the client's handshakes start again in its new build, the server's end (its
 * client, hearing the socket close, starts again), and every CONNECT ends OK. */
static void upgrade_mid_connects(bool both)
{
    enum { N = 24 };
    char msg[512] = "";
    const char *const paths[] = {PHX_PLUGIN_UCX};

    pair_up();
    pair_connect();
    long long port = st(A.wt, "bound_port");
    for (unsigned i = 0; i < N; i++) {
        cmd(B.wt, "connect %u 127.0.0.1:%lld", 100 + i, port);
        if (i % 6 == 5)
            turns(1);               /* some handshakes under way, some not started */
    }
    long long done_before = st(B.wt, "connected");
    A.sub->next = both ? B.sub : NULL;      /* the service's list of subscriptions */
    int rc = phx_upgrade(&reg, A.sub, paths, 1, msg, sizeof(msg));
    A.sub->next = NULL;
    if (rc)
        fprintf(stderr, "\n  upgrade: %s\n", msg);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    CU_ASSERT(RUN_UNTIL(st(B.wt, "connected") == N + 1, 10000));
    printf("(%s: %lld of %d answered before it, %lld handshakes started again) ",
           both ? "both upgraded" : "the server upgraded", done_before - 1, N,
           st(B.ucx, "hs_retried"));
    CU_ASSERT_EQUAL(st(B.wt, "connected_ok"), N + 1);
    CU_ASSERT(done_before - 1 < N);         /* the upgrade did come in the middle */
    CU_ASSERT(st(B.ucx, "hs_retried") > 0);
    CU_ASSERT(RUN_UNTIL(st(A.wt, "accepted") == N + 1, 5000));
    round_trip(100 + N - 1, 38);
    assert_clean(A.wt);
    assert_clean(B.wt);
    pair_down();
}

static void test_upgrade_mid_connects(void)
{
    upgrade_mid_connects(false);
    upgrade_mid_connects(true);
}

/* Connection set-up, CONNECT to CONNECTED, N times over: mean microseconds. */
static double connect_us(unsigned n)
{
    unsigned long long t0 = phx_test_now_ns();
    unsigned done = 0;

    for (unsigned i = 0; i < n; i++) {
        long long before = st(B.wt, "connected");
        cmd(B.wt, "connect 20 127.0.0.1:%lld", st(A.wt, "bound_port"));
        if (!RUN_UNTIL(st(B.wt, "connected") == before + 1, 3000))
            break;
        done += st(B.wt, "connected_status") == PHX_OK;
        cmd(B.wt, "close 20");
        turns(2);
    }
    CU_ASSERT_EQUAL(done, n);
    return (double)(phx_test_now_ns() - t0) / 1e3 / n;
}

/* Figures, not a timed test: what the handshake costs per connection, without and with MUNGE
 * (two apps of one process: the loopback pair, no network round trip in UCX's wiring). */
static void test_setup_latency(void)
{
    pair_up();
    pair_connect();
    double none = connect_us(200);
    pair_down();
    munge_settings(0);
    pair_up();
    auth_none();
    pair_connect();
    double munge = connect_us(100);
    pair_down();
    printf("(set-up per connection: %.0f us with auth none, %.0f us with MUNGE) ", none, munge);
}

/* settings.ucx.ib_sl / ib_traffic_class (docs/policies.md, "qos"): UCX itself checks them only
 * when a worker opens an InfiniBand interface, which this machine has none of, so the plugin
 * checks them in every engine's create(); valid ones create engines (over TCP they do nothing). */
static void test_ib_service_level_settings(void)
{
    static const char *const bad[] = {"ib_sl = \"16\";", "ib_sl = \"zz\";",
                                      "ib_traffic_class = \"256\";", "ib_sl = \"-1\";"};

    for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct phx_app_port_params p = {.field_mask = PHX_APP_PORT_PARAM_FIELD_DEPTH, .depth = 64};
        phx_app_port_t *port = phx_app_port_create(&p, err, sizeof(err));
        CU_ASSERT_PTR_NOT_NULL_FATAL(port);
        ucx_settings(bad[i]);
        struct phx_subscription *sub = phx_subscription_create_on(&reg, "wiretest", getpid(), 90,
                                                                  port, 0, err, sizeof(err));
        CU_ASSERT_PTR_NULL(sub);
        CU_ASSERT(strstr(err, "settings.ucx.ib_") && strstr(err, "from 0 to"));
        if (sub)
            phx_subscription_destroy(sub);
        phx_app_port_destroy(port);
        ucx_settings("ib_sl = \"\"; ib_traffic_class = \"\";");
    }
    ucx_settings("ib_sl = \"3\"; ib_traffic_class = \"106\";");
    pair_up();
    ucx_settings("ib_sl = \"\"; ib_traffic_class = \"\";");
    pair_connect();
    round_trip(5, 36);
    pair_down();
}

/* A TCP segment below 64 KiB (UCX_TCP_RX_SEG_SIZE) is refused when the process's UCX context
 * is made: batches and eager messages would leave in several zero-copy fragments
 * (ucx_context.c). 64k itself, the default, is fine. */
static void test_small_tcp_segment(void)
{
    static const char *const bad[] = {"8k", "65535", "16K"};

    for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct phx_app_port_params p = {.field_mask = PHX_APP_PORT_PARAM_FIELD_DEPTH, .depth = 64};
        phx_app_port_t *port = phx_app_port_create(&p, err, sizeof(err));
        CU_ASSERT_PTR_NOT_NULL_FATAL(port);
        setenv("UCX_TCP_RX_SEG_SIZE", bad[i], 1);
        struct phx_subscription *sub = phx_subscription_create_on(&reg, "wiretest", getpid(), 91,
                                                                  port, 0, err, sizeof(err));
        unsetenv("UCX_TCP_RX_SEG_SIZE");
        CU_ASSERT_PTR_NULL(sub);
        CU_ASSERT_PTR_NOT_NULL(strstr(err, "UCX_TCP_RX_SEG_SIZE"));
        if (sub)
            phx_subscription_destroy(sub);
        phx_app_port_destroy(port);
    }
    setenv("UCX_TCP_RX_SEG_SIZE", "64k", 1);
    pair_up();
    unsetenv("UCX_TCP_RX_SEG_SIZE");
    pair_connect();
    round_trip(5, 36);
    pair_down();
}

static const phx_test_case_t cases[] = {
    {"bind, connect and refused requests", test_bind_connect_refusals},
    {"names, the wildcard address, IPv6", test_addresses},
    {"10,000 messages each way, 0 B to 8 MiB", test_each_way},
    {"10,000 each way between apps of two runtime threads", test_xthread_each_way},
    {"two runtime threads: both ways at once, then the receiver goes", test_xthread_threads},
    {"10,000 sends on one connection under back-pressure", test_backpressure},
    {"a slow peer holds up only its own connection", test_slow_peer_alone},
    {"messages of up to 100,000 pieces", test_many_pieces},
    {"4-20 KiB messages travel in batches, larger ones alone", test_mid_size_batches},
    {"32 KiB and 256 KiB messages go eager on a TCP connection", test_eager_mid_size},
    {"eager_max_kb = 0 forces nothing eager", test_eager_off},
    {"a full heap holds eager frames and then delivers them all", test_eager_full_heap_holds},
    {"a full heap holds 32 KiB eager frames too", test_eager_full_heap_holds_32k},
    {"connect to nobody fails within 2 s", test_connect_nobody},
    {"peer destroyed mid-stream, then restarted on its port", test_peer_destroyed},
    {"peer process killed mid-stream", test_peer_killed},
    {"malformed frames from a raw UCX peer", test_malformed},
    {"in-flight receive budget", test_inflight_budget},
    {"in-flight budget: a large message waits for room", test_inflight_budget_waits},
    {"malformed frames give their credits back", test_malformed_frames_return_credits},
    {"runtime sleeps on the worker fd and wakes on traffic", test_wakeup},
    {"crossed connects: two services call each other at once", test_crossed_connects},
    {"crossed connects between two runtime threads", test_crossed_threads},
    {"two runtime threads: an app moved to the other before it connects", test_xthread_moved},
    {"a full heap refuses a parked frame once nothing is freed", test_full_heap_refuses_parked},
    {"live upgrade of the ucx plugin mid-stream", test_live_upgrade},
    {"live upgrade mid-stream between apps of two runtime threads", test_xthread_live_upgrade},
    {"connects in flight across a live upgrade all succeed", test_upgrade_mid_connects},
    {"connection set-up latency (figures)", test_setup_latency},
    {"InfiniBand service level settings are checked", test_ib_service_level_settings},
    {"a TCP segment below 64 KiB is refused", test_small_tcp_segment},
    {NULL, NULL},
};


int main(int argc, char **argv)
{
    return transport_main("transport", cases, argc, argv);
}
