/* test_transport_hostile.c - the wire-up under attack: what comes to a bound port is refused,
 * counted by reason, and the app's service goes on.
 *
 * Cases: the reported crash (17 zero bytes aborted UCX 1.13's sockaddr connection manager) and
 * every other kind of junk (random bytes, HTTP, TLS, SSH greetings, bad versions, oversized,
 * malformed and truncated frames); a slowloris peer; 10,000 half-open connections; a flood of
 * junk connections from one source; a peer's UCX worker address that would abort UCX 1.13
 * (64 bytes of 0xff, the tester's), in AUTH to a server and in WELCOME to a client. Each time
 * B's connection to A carries on. The apps and helpers are transport_harness.h's. */
#include "transport_harness.h"

#include "phoenix/status.h"
#include "ucx_hs_frame.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---- the wire-up under attack (ucx_hs.c) ------------------------------------------------- */
/* Sends N bytes of P to A's binding and waits until A refused them for REASON; CLOSE_FIRST
 * hangs up right after sending. */
static void probe(const char *what, const void *p, size_t n, const char *reason, bool close_first)
{
    long long before = refused(A.ucx, reason);
    int fd = dial((unsigned)st(A.wt, "bound_port"));

    CU_ASSERT_FATAL(fd >= 0);
    CU_ASSERT(send_when_up(fd, p, n));
    if (close_first)
        close(fd);
    bool ok = RUN_UNTIL(refused(A.ucx, reason) == before + 1, 3000);
    if (!ok)
        fprintf(stderr, "\n  probe '%s' was not refused as %s\n", what, reason);
    CU_ASSERT(ok);
    if (!close_first)
        close(fd);
}

/* The reported crash (17 zero bytes aborted UCX 1.13's sockaddr CM) and every other kind of
 * junk: each is refused and counted by reason, and B's connection carries on. */
static void test_hostile_probes(void)
{
    static const char http[] = "GET / HTTP/1.1\r\nHost: phoenix\r\n\r\n";
    static const uint8_t tls[] = {0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03,
                                  0x03, 0x5a, 0x11, 0x42, 0x99, 0x00, 0x01, 0x02};
    static const char ssh[] = "SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n";
    uint8_t zeros[2080] = {0}, junk[512], f[64];

    pair_up();
    pair_connect();
    probe("17 zero bytes", zeros, 17, "bad_magic", false);
    probe("100 zero bytes", zeros, 100, "bad_magic", false);
    probe("2080 zero bytes", zeros, 2080, "bad_magic", false);
    CU_ASSERT_EQUAL(getrandom(junk, sizeof(junk), 0), (ssize_t)sizeof(junk));
    junk[0] = 'x';
    probe("random bytes", junk, sizeof(junk), "bad_magic", false);
    probe("an HTTP GET", http, strlen(http), "bad_magic", false);
    probe("a TLS ClientHello", tls, sizeof(tls), "bad_magic", false);
    probe("an SSH greeting", ssh, strlen(ssh), "bad_magic", false);
    frame_head(f, 9, PHX_UCX_HS_HELLO, 20);
    probe("another version", f, 12, "bad_version", false);
    frame_head(f, PHX_UCX_HS_VERSION, PHX_UCX_HS_HELLO, 0x7fffffff);
    probe("an oversized frame", f, 12, "oversized", false);
    frame_head(f, PHX_UCX_HS_VERSION, PHX_UCX_HS_HELLO, 3);
    probe("a HELLO of 3 bytes", f, 15, "malformed", false);
    frame_head(f, PHX_UCX_HS_VERSION, 77, 0);
    probe("an unknown frame type", f, 12, "malformed", false);
    frame_head(f, PHX_UCX_HS_VERSION, PHX_UCX_HS_HELLO, 20);
    probe("a truncated HELLO", f, 20, "peer", true);
    frame_head(f, PHX_UCX_HS_VERSION, PHX_UCX_HS_HELLO, 20);
    memset(f + 12, 7, 16);
    uint32_t munge = PHX_UCX_AUTH_MUNGE;
    memcpy(f + 28, &munge, 4);
    probe("a HELLO asking for MUNGE", f, 32, "auth", false);
    round_trip(5, 30);
    CU_ASSERT_EQUAL(st(A.ucx, "halfopen"), 0);
    assert_clean(A.wt);
    pair_down();
}

/* A peer dribbling a valid HELLO byte by byte is cut off at the handshake deadline (300 ms
 * here) while B's connection carries on. */
static void test_slowloris(void)
{
    uint8_t f[32] = {0};
    unsigned sent = 0;

    ucx_settings("handshake_timeout_ms = 300;");
    pair_up();
    ucx_settings("handshake_timeout_ms = 5000;");
    pair_connect();
    frame_head(f, PHX_UCX_HS_VERSION, PHX_UCX_HS_HELLO, 20);
    long long before = refused(A.ucx, "timeout");
    int fd = dial((unsigned)st(A.wt, "bound_port"));
    unsigned long long t0 = phx_test_now_ns(), deadline = t0 + 3000 * MS;
    CU_ASSERT_FATAL(fd >= 0);
    while (refused(A.ucx, "timeout") == before && phx_test_now_ns() < deadline) {
        if (sent < sizeof(f) && phx_test_now_ns() >= t0 + sent * 100 * MS &&
            send_when_up(fd, f + sent, 1))
            sent++;
        turns(8);
    }
    double t = secs_since(t0);
    printf("(cut off after %.2f s, %u of %zu bytes) ", t, sent, sizeof(f));
    CU_ASSERT_EQUAL(refused(A.ucx, "timeout"), before + 1);
    CU_ASSERT(t >= 0.25 && t < 1.5);
    CU_ASSERT(sent < sizeof(f));
    close(fd);
    round_trip(5, 31);
    assert_clean(A.wt);
    pair_down();
}

/* 10,000 connections that never say a word: the half-open ones are capped (per source and in
 * all), the rest refused at once; B's connection carries on during the storm, and once the
 * sockets go a new connection is accepted. */
static void test_halfopen_storm(void)
{
    enum { N = 10000 };
    struct rlimit rl;
    static int fds[N];
    unsigned opened = 0;

    CU_ASSERT_EQUAL_FATAL(getrlimit(RLIMIT_NOFILE, &rl), 0);
    if (rl.rlim_cur < N + 1024) {
        struct rlimit more = {.rlim_cur = N + 4096, .rlim_max = rl.rlim_max};
        if (more.rlim_max < more.rlim_cur)
            more.rlim_max = more.rlim_cur;      /* root may raise it */
        CU_ASSERT_EQUAL_FATAL(setrlimit(RLIMIT_NOFILE, &more), 0);
    }
    pair_up();
    pair_connect();
    unsigned port = (unsigned)st(A.wt, "bound_port");
    long long busy0 = refused(A.ucx, "busy_source") + refused(A.ucx, "busy");
    unsigned long long t0 = phx_test_now_ns();
    for (unsigned i = 0; i < N; i++) {
        if ((fds[i] = dial(port)) >= 0)
            opened++;
        if (i % 256 == 0)
            turns(2);
    }
    CU_ASSERT_EQUAL(opened, N);
    round_trip(5, 32);                      /* during the storm */
    CU_ASSERT(RUN_UNTIL(refused(A.ucx, "busy_source") + refused(A.ucx, "busy") - busy0 >= 5000,
                        20000));
    long long halfopen = st(A.ucx, "halfopen");
    printf("(%u opened in %.2f s, %lld refused as busy, %lld half-open) ", opened,
           secs_since(t0), refused(A.ucx, "busy_source") + refused(A.ucx, "busy") - busy0,
           halfopen);
    CU_ASSERT(halfopen > 0 && halfopen <= 32);  /* settings.ucx.halfopen_per_source */
    round_trip(5, 33);
    for (unsigned i = 0; i < N; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    CU_ASSERT(RUN_UNTIL(st(A.ucx, "halfopen") == 0, 5000));
    cmd(B.wt, "connect 9 127.0.0.1:%u", port);
    CU_ASSERT(RUN_UNTIL(st(B.wt, "connected") == 2, 5000));
    CU_ASSERT_EQUAL(st(B.wt, "connected_status"), PHX_OK);
    round_trip(9, 34);
    CU_ASSERT(setrlimit(RLIMIT_NOFILE, &rl) == 0);
    assert_clean(A.wt);
    pair_down();
}

/* 2,000 junk connections from one source as fast as they go: all refused, the log says at most
 * PHX_UCX_LOG_PER_SEC a second (the rest counted), and the service goes on. */
static void test_flood_one_source(void)
{
    enum { N = 2000 };
    static const uint8_t zeros[17];

    pair_up();
    pair_connect();
    unsigned port = (unsigned)st(A.wt, "bound_port");
    long long before = refused(A.ucx, "bad_magic");
    for (unsigned i = 0; i < N; i++) {
        int fd = dial(port);
        CU_ASSERT_FATAL(fd >= 0);
        CU_ASSERT(send_when_up(fd, zeros, sizeof(zeros)));
        close(fd);
        if (i % 16 == 0)
            turns(4);
    }
    CU_ASSERT(RUN_UNTIL(refused(A.ucx, "bad_magic") + refused(A.ucx, "peer") +
                        refused(A.ucx, "busy_source") - before >= N, 20000));
    long long unlogged = st(A.ucx, "hs_unlogged");
    printf("(%lld of the refusals not logged) ", unlogged);
    CU_ASSERT(unlogged > 0);
    round_trip(5, 35);
    assert_clean(A.wt);
    pair_down();
}

/* ---- the peer's worker address (ucx_addr_check.c) ---------------------------------------- */

/* A client whose AUTH names 64 bytes of 0xff, then a real address cut short, as its worker:
 * refused as bad_address before UCX sees it; A lives and takes the next connection. */
static void test_bad_address_auth(void)
{
    static struct replay_run run;
    static uint8_t ff[64], cut[HS_FAKE_ADDR_LEN];

    memset(ff, 0xff, sizeof(ff));
    pair_up();
    pair_connect();
    snprintf(run.port, sizeof(run.port), "%lld", st(A.wt, "bound_port"));
    run.c = (struct hs_client){.auth = PHX_UCX_AUTH_NONE, .addr = ff, .addr_len = sizeof(ff)};
    run_client(&run);
    CU_ASSERT_EQUAL(run.rc, -1);
    CU_ASSERT_EQUAL(run.r.refused, PHX_UCX_HS_R_ADDRESS);
    CU_ASSERT_EQUAL(refused(A.ucx, "bad_address"), 1);
    run.c.addr = cut;
    run.c.addr_len = hs_fake_worker_address(cut, 7) - 3;
    run_client(&run);
    CU_ASSERT_EQUAL(run.r.refused, PHX_UCX_HS_R_ADDRESS);
    CU_ASSERT_EQUAL(refused(A.ucx, "bad_address"), 2);
    CU_ASSERT_EQUAL(st(A.wt, "accepted"), 1);           /* pair_connect()'s only */
    round_trip(5, 40);
    CU_ASSERT_EQUAL(connect_again(21), PHX_OK);
    CU_ASSERT(RUN_UNTIL(st(A.wt, "accepted") == 2, 3000));
    round_trip(5, 41);
    assert_clean(A.wt);
    pair_down();
}

/* Reads N bytes from the non-blocking FD into BUF, *GOT so far; whether all came. */
static bool read_all(int fd, uint8_t *buf, size_t n, size_t *got)
{
    ssize_t r = recv(fd, buf + *got, n - *got, MSG_DONTWAIT);

    if (r > 0)
        *got += (size_t)r;
    return *got == n;
}

/* Plays the fake server's last step: once the client's AUTH is in, DONE goes (which makes a
 * client without the address check call ucp_ep_create() on the server's address). *SENT says
 * whether it went. Never true: the caller waits for the client's answer meanwhile. */
static bool done_after_auth(int fd, bool *sent)
{
    uint8_t rx[PHX_UCX_HS_FRAME_MAX], done[PHX_UCX_HS_HDR];
    ssize_t n = *sent ? 0 : recv(fd, rx, sizeof(rx), MSG_DONTWAIT);

    if (n >= PHX_UCX_HS_HDR && rx[5] == PHX_UCX_HS_AUTH) {
        size_t len = phx_ucx_hs_encode(&(struct phx_ucx_hs_msg){.type = PHX_UCX_HS_DONE}, done,
                                       sizeof(done));
        *sent = len && send(fd, done, len, MSG_NOSIGNAL) == (ssize_t)len;
    }
    return false;
}

/* A fake server answers B's HELLO with a WELCOME naming 64 bytes of 0xff as its worker (and
 * would answer AUTH with DONE): B refuses it as bad_address before AUTH (its CONNECT fails
 * UNAVAILABLE), lives, and connects to A again. */
static void test_bad_address_welcome(void)
{
    static uint8_t ff[64];
    uint8_t hello[PHX_UCX_HS_HDR + PHX_UCX_HS_NONCE + 4], welcome[256];
    unsigned port;
    size_t got = 0;
    int fd = -1;

    memset(ff, 0xff, sizeof(ff));
    pair_up();
    pair_connect();
    int lfd = loopback_socket(8, &port);
    CU_ASSERT_EQUAL_FATAL(fcntl(lfd, F_SETFL, O_NONBLOCK), 0);
    long long before = st(B.wt, "connected");
    cmd(B.wt, "connect 22 127.0.0.1:%u", port);
    CU_ASSERT_FATAL(RUN_UNTIL((fd = accept(lfd, NULL, NULL)) >= 0, 3000));
    CU_ASSERT_FATAL(RUN_UNTIL(read_all(fd, hello, sizeof(hello), &got), 3000));
    struct phx_ucx_hs_msg w = {.type = PHX_UCX_HS_WELCOME, .auth = PHX_UCX_AUTH_NONE,
                               .addr = ff, .addr_len = sizeof(ff)};
    size_t n = phx_ucx_hs_encode(&w, welcome, sizeof(welcome));
    CU_ASSERT_FATAL(n > 0);
    CU_ASSERT(send_when_up(fd, welcome, n));
    bool done_sent = false;
    CU_ASSERT(RUN_UNTIL(st(B.wt, "connected") == before + 1 || done_after_auth(fd, &done_sent),
                        3000));
    CU_ASSERT(!done_sent);
    CU_ASSERT_EQUAL(st(B.wt, "connected_status"), PHX_UNAVAILABLE);
    CU_ASSERT_EQUAL(refused(B.ucx, "bad_address"), 1);
    close(fd);
    close(lfd);
    round_trip(5, 42);
    CU_ASSERT_EQUAL(connect_again(23), PHX_OK);
    round_trip(5, 43);
    assert_clean(A.wt);
    pair_down();
}

static const phx_test_case_t cases[] = {
    {"hostile bytes on a bound port are refused and counted", test_hostile_probes},
    {"a slowloris peer is cut off at the handshake deadline", test_slowloris},
    {"10,000 half-open connections", test_halfopen_storm},
    {"a flood of junk connections from one source", test_flood_one_source},
    {"a worker address UCX would abort on, in AUTH, is refused", test_bad_address_auth},
    {"a worker address UCX would abort on, in WELCOME, is refused", test_bad_address_welcome},
    {NULL, NULL},
};

int main(int argc, char **argv)
{
    return transport_main("transport_hostile", cases, argc, argv);
}
