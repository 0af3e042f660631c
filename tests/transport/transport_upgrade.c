/* transport_upgrade.c - test_transport's cases about a live upgrade of the ucx plugin
 * (phx_upgrade): in mid-stream, with the apps on one worker and on two runtime threads' workers
 * (nothing lost, old connections served and failing in the new build, a state of another version
 * refused), and in the middle of connects (every CONNECT still ends OK). */
#include "transport_cases.h"

#include "phoenix/status.h"
#include "ucx_portguard.h"
#include "upgrade.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    /* UCX's ports admit the apps' host, 127.0.0.1 (settings.ucx.tcp_peers_only): the kernel
     * keeps that across the upgrade, and the new build adds to it, not over it. */
    uint32_t peers[4];
    CU_ASSERT_EQUAL(phx_ucx_portguard_allowed(peers, 4), 1);
    CU_ASSERT_EQUAL(peers[0], htonl(INADDR_LOOPBACK));
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
    CU_ASSERT_EQUAL(phx_ucx_portguard_allowed(peers, 4), 1);
    CU_ASSERT_EQUAL(peers[0], htonl(INADDR_LOOPBACK));

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

void test_live_upgrade(void)
{
    live_upgrade(0);
}

void test_xthread_live_upgrade(void)
{
    live_upgrade(1);
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

void test_upgrade_mid_connects(void)
{
    upgrade_mid_connects(false);
    upgrade_mid_connects(true);
}
