/* transport_wiring.c - test_transport's cases about making and refusing connections: bind and
 * connect, every malformed or conflicting request answered with its status, closing in turn;
 * names, the wildcard address and IPv6; CONNECT to a closed port and to a listener that never
 * answers (UNAVAILABLE, within the 2 s connect timeout); and what setting up a connection costs,
 * without and with MUNGE (figures). */
#include "transport_cases.h"

#include "mrpc/transport.h"
#include "phoenix/status.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

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

void test_bind_connect_refusals(void)
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
void test_addresses(void)
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

/* ---- nobody there ------------------------------------------------------------------------ */

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

void test_connect_nobody(void)
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
void test_setup_latency(void)
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
