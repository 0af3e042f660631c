/* transport_threads.c - test_transport's cases with real runtime threads: the runtime sleeping
 * on the UCX worker's event fd and waking on traffic; crossed connects (two services calling each
 * other at once) turned by hand and between two threads; the same-node path across threads
 * (ucx_xlocal.c), both ways at once and then the receiver going mid-stream; and an app moved to
 * a runtime thread kept for urgent apps before it connects. */
#include "transport_cases.h"

#include "phoenix/status.h"
#include "runtime.h"

#include <stdio.h>
#include <time.h>

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

/* ---- waking up --------------------------------------------------------------------------- */

#define PINGS 10

void test_wakeup(void)
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
void test_crossed_connects(void)
{
    side_up_on(&A, 1, 0);
    side_up_on(&B, 2, 1);
    cross_connect(30);
    pair_down();
}

#define CROSS_THREAD_ROUNDS 30

/* The same with two real runtime threads, released together each round: the crossing then
 * happens or not as the threads' timing has it, as between two nodes. Every CONNECT connects. */
void test_crossed_threads(void)
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
        CU_ASSERT(threads_reach("connected", i + 1, i + 1, 4000));
    }
    CU_ASSERT(threads_reach("accepted", CROSS_THREAD_ROUNDS, CROSS_THREAD_ROUNDS,
                            4000));
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

/* ---- the same-node path across runtime threads (ucx_xlocal.c) ------------------------------ */

/* A and B on two real runtime threads, each on its own worker: 2,000 messages of up to 1 MiB
 * each way at once, both threads copying into each other's heap and sleeping when idle; then
 * B streams 64 KiB messages and A's app goes (its engine destroyed from this thread while B's
 * thread goes on): B's connection is lost, every SEND comes back, nothing is written into A's
 * heap after it went (ASan), and the hand-over is race-free (TSan). */
void test_xthread_threads(void)
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
void test_xthread_moved(void)
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
