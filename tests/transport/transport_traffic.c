/* transport_traffic.c - test_transport's cases about messages flowing on healthy connections:
 * 10,000 messages each way of 0 B..8 MiB checked byte for byte (on one worker and between the
 * workers of two runtime threads; figures printed, and with PHX_TEST_EXPECT_SHM the lanes must be
 * shared memory); 10,000 sends under back-pressure (credits); a slow peer holding up only its
 * own connection; messages of up to 100,000 pieces; small and mid-size messages in batches. */
#include "transport_cases.h"

#include "mrpc/transport.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MSGS 10000u

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

void test_each_way(void)
{
    each_way(0);
}

void test_xthread_each_way(void)
{
    each_way(1);
}

/* ---- back-pressure ----------------------------------------------------------------------- */

/* B streams while A does not read. A and B share their runtime thread's worker, so B's progress
 * lands A's frames too: what bounds them is B's credits (ucx_credit.c). B spends its window,
 * waits for credits and stops reading tx, and the tx channel fills up in front of it; exactly a
 * window of messages waits on A's side. Then A reads, its grants flow back, everything drains,
 * nothing lost. */
void test_backpressure(void)
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
void test_many_pieces(void)
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
void test_mid_size_batches(void)
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

/* B sends to A, which does not read, and to C: A's connection runs out of credits, and the 44
 * messages past its window wait on that connection alone, so C gets all of its own meanwhile.
 * Then A reads and gets everything. */
void test_slow_peer_alone(void)
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
