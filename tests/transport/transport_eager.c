/* transport_eager.c - test_transport's cases about mid-size messages sent eager over TCP
 * (settings.ucx.eager_max_kb, ucx_send.c): 32 KiB and 256 KiB messages go eager and one byte past
 * the switch does not; eager_max_kb = 0 forces nothing eager; and a receiver whose heap is full
 * holds eager frames with their data until the app lets go, then delivers them all. */
#include "transport_cases.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
void test_eager_mid_size(void)
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
void test_eager_off(void)
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
void test_eager_full_heap_holds(void)
{
    full_heap_holds(8u << 20, 32, 262144);
}

/* 32 KiB: 64 of them fill a 2 MiB heap. */
void test_eager_full_heap_holds_32k(void)
{
    full_heap_holds(2u << 20, 128, 32768);
}
