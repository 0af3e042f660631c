/* test_transport_munge.c - peer authentication of the wire-up with MUNGE (ucx_auth.c), between
 * two apps of one process and against a hand-made client (hs_client.c).
 *
 * Each case starts from transport_harness.h's private munged realms (two keys: two realms):
 * one realm connects and the server learns the caller's uid; another realm is refused; a
 * captured credential replayed on another handshake is refused. */
#include "transport_harness.h"

#include "hs_client.h"
#include "phoenix/status.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- MUNGE (ucx_auth.c) -------------------------------------------------------------------- */

/* Two services of one realm (the same key): connected, and the server knows the caller's uid. */
static void test_munge_realm(void)
{
    char uid[64];

    munge_settings(0);
    pair_up();
    auth_none();
    pair_connect();
    round_trip(5, 36);
    char *peers = ask(A.ucx, "peers");
    snprintf(uid, sizeof(uid), "\"uid\":%u,", (unsigned)geteuid());
    CU_ASSERT_PTR_NOT_NULL(strstr(peers, uid));
    CU_ASSERT_PTR_NOT_NULL(strstr(peers, "\"authenticated\":true"));
    free(peers);
    CU_ASSERT_EQUAL(refused(A.ucx, "auth"), 0);
    pair_down();
}

/* B's munged has another key: B cannot verify A's credential (nor A B's): refused. */
static void test_munge_other_realm(void)
{
    munge_settings(0);
    side_up(&A, 1);
    munge_settings(1);
    side_up(&B, 2);
    auth_none();
    cmd(A.wt, "bind 1 127.0.0.1:0");
    CU_ASSERT_FATAL(RUN_UNTIL(st(A.wt, "bound") == 1, 3000));
    cmd(B.wt, "connect 5 127.0.0.1:%lld", st(A.wt, "bound_port"));
    CU_ASSERT(RUN_UNTIL(st(B.wt, "connected") == 1, 5000));
    CU_ASSERT_EQUAL(st(B.wt, "connected_status"), PHX_UNAVAILABLE);
    CU_ASSERT_EQUAL(refused(B.ucx, "auth"), 1);
    CU_ASSERT_EQUAL(st(A.wt, "accepted"), 0);
    pair_down();
}

struct replay_run {
    char             port[8];
    struct hs_client c;
    struct hs_result r;
    int              rc;
    bool             done;
    char             err[256];
};

static void *replay_thread(void *arg)
{
    struct replay_run *run = arg;

    run->rc = hs_client_run("127.0.0.1", run->port, &run->c, &run->r, run->err,
                            sizeof(run->err));
    __atomic_store_n(&run->done, true, __ATOMIC_RELEASE);
    return NULL;
}

/* Runs a client handshake with A (on a thread: this one turns A) as RUN says. */
static void run_client(struct replay_run *run)
{
    pthread_t t;

    run->done = false;
    CU_ASSERT_EQUAL_FATAL(pthread_create(&t, NULL, replay_thread, run), 0);
    CU_ASSERT(RUN_UNTIL(__atomic_load_n(&run->done, __ATOMIC_ACQUIRE), 10000));
    pthread_join(t, NULL);
}

/* A captured AUTH frame, sent again on another handshake, is refused as replayed (it names the
 * first handshake's nonces; munged has seen it too). */
static void test_munge_replay(void)
{
    static struct replay_run run;
    static const uint8_t addr[] = "not-a-worker";

    munge_settings(0);
    pair_up();
    auth_none();
    cmd(A.wt, "bind 1 127.0.0.1:0");
    CU_ASSERT_FATAL(RUN_UNTIL(st(A.wt, "bound") == 1, 3000));
    snprintf(run.port, sizeof(run.port), "%lld", st(A.wt, "bound_port"));
    run.c = (struct hs_client){.auth = PHX_UCX_AUTH_MUNGE, .munge_socket = munge_socket(0), .addr = addr,
                               .addr_len = sizeof(addr)};
    run_client(&run);                           /* an honest handshake, captured */
    CU_ASSERT_EQUAL_FATAL(run.rc, 0);
    close(run.r.fd);
    static uint8_t captured[PHX_UCX_HS_FRAME_MAX];
    size_t captured_len = run.r.auth_len;
    memcpy(captured, run.r.auth_frame, captured_len);
    run.c.replay = captured;
    run.c.replay_len = captured_len;
    run_client(&run);                           /* ... replayed on a new one */
    CU_ASSERT_EQUAL(run.rc, -1);
    CU_ASSERT_EQUAL(run.r.refused, PHX_UCX_HS_R_REPLAYED);
    CU_ASSERT_EQUAL(refused(A.ucx, "replayed"), 1);
    CU_ASSERT_EQUAL(st(A.wt, "accepted"), 0);   /* the honest one never claimed either */
    pair_down();
}

static const phx_test_case_t cases[] = {
    {"MUNGE: one realm connects, the server knows the uid", test_munge_realm},
    {"MUNGE: another realm is refused", test_munge_other_realm},
    {"MUNGE: a replayed credential is refused", test_munge_replay},
    {NULL, NULL},
};

int main(int argc, char **argv)
{
    return transport_main("transport_munge", cases, argc, argv);
}
