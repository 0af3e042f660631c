/* transport_peers.c - test_transport's cases about peers that die or misbehave: the peer's
 * subscription destroyed and the peer process (raw_peer.c) killed mid-stream (CONN_LOST and every
 * SEND back within 2 s; the port bound again at once), and malformed frames from a raw UCX peer,
 * after which the engine goes on serving. */
#include "transport_cases.h"

#include "phoenix/status.h"

#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#define RAW_PEER_TAG 77
#define RAW_FRAMES   22             /* malformed frames raw_peer sends on its connection */
#define RAW_UNCLAIMED 2             /* ... and without a reply endpoint (no connection) */
#define RAW_VALID    8              /* and valid messages */
#define FAIL_LIMIT   (2000 * MS)    /* peer failure -> CONN_LOST and SENT errors */

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
void test_peer_destroyed(void)
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

/* raw_peer against the port of A with option OPT (or none), waiting on its stdin (closed by
 * reap) before it hangs up. */
static phx_test_child_t *spawn_peer(long long port, char *opt)
{
    static phx_test_child_t peer;
    char port_s[16], max_s[32];

    snprintf(port_s, sizeof(port_s), "%lld", port);
    snprintf(max_s, sizeof(max_s), "%u", MAX_SIZE);
    char *argv[] = { RAW_PEER, "127.0.0.1", port_s, max_s, opt, NULL };
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

void test_peer_killed(void)
{
    pair_up();
    cmd(A.wt, "bind 1 127.0.0.1:0");
    CU_ASSERT_FATAL(RUN_UNTIL(st(A.wt, "bound") == 1, 5000));
    phx_test_child_t *peer = spawn_peer(st(A.wt, "bound_port"), "--sink");
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

/* ---- a worker address UCX would abort on ------------------------------------------------- */

/* raw_peer names 64 bytes of 0xff in its AUTH (and would claim from its real endpoint, which
 * made the server adopt() that address and abort): refused as bad_address, the peer gives up,
 * and B's connection to A carries on. */
void test_bad_address_claim(void)
{
    pair_up();
    pair_connect();
    phx_test_child_t *peer = spawn_peer(st(A.wt, "bound_port"), "--bad-address");
    CU_ASSERT(RUN_UNTIL(refused(A.ucx, "bad_address") == 1, 10000));
    CU_ASSERT_EQUAL(reap(peer), 1);             /* its handshake was refused */
    CU_ASSERT_EQUAL(st(A.wt, "accepted"), 1);   /* pair_connect()'s only */
    round_trip(5, 44);
    assert_clean(A.wt);
    pair_down();
}

/* ---- malformed frames -------------------------------------------------------------------- */

void test_malformed(void)
{
    pair_up();
    cmd(A.wt, "bind 1 127.0.0.1:0");
    CU_ASSERT_FATAL(RUN_UNTIL(st(A.wt, "bound") == 1, 5000));
    cmd(A.wt, "expect %d %d", RAW_PEER_TAG, RAW_VALID);
    phx_test_child_t *peer = spawn_peer(st(A.wt, "bound_port"), NULL);
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
