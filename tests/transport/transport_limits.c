/* transport_limits.c - test_transport's cases about the receiver's limits: the in-flight receive
 * budget (a rendezvous frame over it refused, a large message waiting for room), a receive heap
 * that fills (a parked frame refused as DROPPED once nothing is freed for a second), and frames
 * refused as malformed (over settings.ucx.max_message_mb) still giving their credits back. */
#include "transport_cases.h"

#include "mrpc/transport.h"
#include "phoenix/status.h"

#include <stdio.h>

/* ---- the in-flight receive budget -------------------------------------------------------- */

void test_inflight_budget(void)
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

/* How often a message waited for room at A: parked there (a rendezvous frame), or, on the
 * same-node path, held in B's wait list. */
static long long waits_for_room(void)
{
    return same_node_path() ? st(B.ucx, "local_waits") : st(A.ucx, "parked");
}

/* Two 1.5 MiB messages against a 2 MiB budget while A does not push anything up (B's progress
 * lands A's frames: they share the worker): the first takes the budget, the second is not
 * refused but parked, its data left with B. Once A pushes the first up, the second is fetched:
 * both arrive, nothing refused. */

void test_inflight_budget_waits(void)
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
void test_full_heap_refuses_parked(void)
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
void test_malformed_frames_return_credits(void)
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
