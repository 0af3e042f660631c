/* test_transport.c - UcxRpcAdapterEngine end to end over loopback, in one process.
 *
 * Two subscriptions of the "wiretest" service, A and B, each [WireTestEngine, UcxRpcAdapterEngine]
 * with an app port of its own; the test plays the runtime (turning both chains by hand) except
 * in the wake-up case, where two real runtime threads drive them and sleep on the UCX workers'
 * event fds. WireTestEngine (wiretest/wiretest.c) scripts the transport through admin requests
 * and checks everything that comes up; raw_peer.c plays a hostile or dying remote service.
 *
 * Cases: bind/connect and refused requests; names, wildcard, IPv6 (bind [::], connect [::1]); 10,000 messages each way of
 * 0 B..8 MiB checked byte for byte in the receiving app's heap (figures printed); 10,000 sends on
 * one connection under back-pressure; CONNECT to a closed port and to a listener that never answers; the peer's
 * subscription destroyed and the peer process killed mid-stream (CONN_LOST and every SEND back
 * within 2 s); malformed frames; the in-flight receive budget; an app that never releases (its
 * parked frames refused as DROPPED after a second); wake-up from sleep; a live upgrade
 * of the ucx plugin in mid-stream.
 *
 * UCX is pinned to loopback (UCX_NET_DEVICES=lo, forced) and to UCX_TLS=tcp unless the
 * environment says otherwise (ctest runs it again with shared memory). With PHX_TEST_EXPECT_SHM
 * set, the exchange must have used a shared-memory transport. Every wait is bounded in time;
 * every child process is reaped. */
#include "graph.h"
#include "mrpc/transport.h"
#include "phoenix/app_port.h"
#include "config.h"
#include "phoenix/status.h"
#include "phx_test.h"
#include "plugin_registry.h"
#include "runtime.h"
#include "testpair_driver.h"
#include "upgrade.h"

#include "hs_client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <json-c/json.h>
#include <poll.h>
#include <pthread.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MSGS         10000u
#define MAX_SIZE     (8u << 20)
/* The ucx plugin's settings of these tests (settings.ucx): MAX_SIZE in MiB, the default in-flight
 * budget. */
static const char usual_settings[] = "max_message_mb = 8; inflight_mb = 256; auth = \"none\";";
#define RAW_PEER_TAG 77
#define RAW_FRAMES   22             /* malformed frames raw_peer sends on its connection */
#define RAW_UNCLAIMED 2             /* ... and without a reply endpoint (no connection) */
#define RAW_VALID    8              /* and valid messages */
#define MS           1000000ull
#define FAIL_LIMIT   (2000 * MS)    /* peer failure -> CONN_LOST and SENT errors */

struct side {
    phx_app_port_t          *port;
    struct phx_subscription *sub;
    phx_engine_t            *wt, *ucx;
};

static struct phx_registry reg;
static phx_config_t cfg;
static struct side A, B, C;       /* C: a third app, only where a test says so */
static char err[512];

/* ---- the two sides ----------------------------------------------------------------------- */

/* An app registration whose group the runtime thread of index RUNTIME drives (and whose
 * transport therefore uses that thread's worker). */
static void side_up_heap(struct side *s, unsigned sid, unsigned runtime, size_t recv_size)
{
    struct phx_app_port_params p = {
        .field_mask = PHX_APP_PORT_PARAM_FIELD_DEPTH | PHX_APP_PORT_PARAM_FIELD_SEND_SIZE |
                      PHX_APP_PORT_PARAM_FIELD_RECV_SIZE,
        .depth = 64,
        .send_size = 2u << 20,
        .recv_size = recv_size,
    };

    s->port = phx_app_port_create(&p, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(s->port);
    s->sub = phx_subscription_create_on(&reg, "wiretest", getpid(), sid, s->port, runtime, err,
                                        sizeof(err));
    if (!s->sub)
        fprintf(stderr, "\n  subscription: %s\n", err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s->sub);
    s->wt = phx_subscription_find(s->sub, "WireTestEngine");
    s->ucx = phx_subscription_find(s->sub, "UcxRpcAdapterEngine");
}

static void side_up_on(struct side *s, unsigned sid, unsigned runtime)
{
    side_up_heap(s, sid, runtime, 512u << 20);  /* a 64 KiB + 1 message takes a 2 MiB slab */
}

static void side_up(struct side *s, unsigned sid)
{
    side_up_on(s, sid, 0);
}

static void side_down(struct side *s)
{
    phx_subscription_destroy(s->sub);
    phx_app_port_destroy(s->port);
    *s = (struct side){0};
}

static void pair_up(void)
{
    side_up(&A, 1);
    side_up(&B, 2);
}

static void pair_down(void)
{
    side_down(&A);
    side_down(&B);
}

static void cmd(phx_engine_t *e, const char *fmt, ...)
{
    char req[256], *reply = NULL;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(req, sizeof(req), fmt, ap);
    va_end(ap);
    int rc = e->ops->admin(e, e->state, req, &reply);
    if (rc)
        fprintf(stderr, "\n  admin '%s': %s\n", req, strerror(-rc));
    CU_ASSERT_EQUAL(rc, 0);
    free(reply);
}

/* The admin reply to REQUEST (malloc'd), for the engines' JSON documents. */
static char *ask(phx_engine_t *e, const char *request)
{
    char *reply = NULL;

    CU_ASSERT_EQUAL(e->ops->admin(e, e->state, request, &reply), 0);
    return reply;
}

static long long st(phx_engine_t *e, const char *key)
{
    return tp_stat(e, key);
}

static void turns(unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        if (A.sub)
            tp_turn(A.sub);
        if (B.sub)
            tp_turn(B.sub);
    }
}

/* Says what every engine of both sides reports, after a wait ran out. */
static void dump_sides(const char *what)
{
    const struct side *sides[] = {&A, &B};

    fprintf(stderr, "\n  gave up waiting for: %s\n", what);
    for (unsigned i = 0; i < 2; i++) {
        for (unsigned k = 0; sides[i]->sub && k < sides[i]->sub->n_engines; k++) {
            phx_engine_t *e = sides[i]->sub->engines[k];
            char *reply = NULL;
            e->ops->admin(e, e->state, "stats", &reply);
            fprintf(stderr, "  %c %s %s\n", "AB"[i], e->ops->type, reply ? reply : "-");
            free(reply);
        }
    }
}

/* Turns both sides until COND holds, at most MS_ milliseconds; whether it holds. */
#define RUN_UNTIL(cond, ms_)                                                              \
    ({                                                                                    \
        unsigned long long deadline_ = phx_test_now_ns() + (unsigned long long)(ms_) * MS; \
        bool ok_;                                                                         \
        while (!(ok_ = (cond)) && phx_test_now_ns() < deadline_)                          \
            turns(8);                                                                     \
        if (!ok_)                                                                         \
            dump_sides(#cond);                                                            \
        ok_;                                                                              \
    })

static double secs_since(unsigned long long t0)
{
    return (double)(phx_test_now_ns() - t0) / 1e9;
}

/* A binds 127.0.0.1:0 as binding 1 and B connects to it as connection 5; A's id for it. */
static uint32_t pair_connect(void)
{
    cmd(A.wt, "bind 1 127.0.0.1:0");
    CU_ASSERT_FATAL(RUN_UNTIL(st(A.wt, "bound") == 1, 5000));
    CU_ASSERT_EQUAL_FATAL(st(A.wt, "bound_status"), PHX_OK);
    long long port = st(A.wt, "bound_port");
    CU_ASSERT_FATAL(port > 0 && port < 65536);
    cmd(B.wt, "connect 5 127.0.0.1:%lld", port);
    CU_ASSERT_FATAL(RUN_UNTIL(st(B.wt, "connected") == 1 && st(A.wt, "accepted") == 1, 5000));
    CU_ASSERT_EQUAL_FATAL(st(B.wt, "connected_status"), PHX_OK);
    CU_ASSERT_EQUAL(st(A.wt, "accepted_binding"), 1);
    long long id = st(A.wt, "accepted_conn");
    CU_ASSERT(id >= MRPC_CONN_ACCEPTED_BASE);
    return (uint32_t)id;
}

/* Nothing went wrong on E's side that the wiretest engine could see. */
static void assert_clean(phx_engine_t *wt)
{
    static const char *const keys[] = {"verify_errors", "duplicates", "unexpected",
                                       "outside_heap", "seq_errors", "unannounced",
                                       "after_lost", "other"};
    for (unsigned i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        long long v = st(wt, keys[i]);
        if (v)
            fprintf(stderr, "\n  %s = %lld\n", keys[i], v);
        CU_ASSERT_EQUAL(v, 0);
    }
}

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

static void test_each_way(void)
{
    pair_up();
    uint32_t back = pair_connect();
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
    CU_ASSERT_EQUAL(st(B.ucx, "tx_gathered"), n - 1);          /* all but the 1024 */
    CU_ASSERT_EQUAL(st(A.wt, "missing"), 0);
    CU_ASSERT_EQUAL(st(B.wt, "sent_err"), 0);
    assert_clean(A.wt);
    pair_down();
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

/* Every SEND of WT came back and the connection is reported lost; seconds it took from T0. */
static double assert_lost_in_time(struct side *s, unsigned long long t0)
{
    CU_ASSERT(RUN_UNTIL(st(s->wt, "conn_lost") == 1 &&
                        st(s->wt, "sent_ok") + st(s->wt, "sent_err") == st(s->wt, "pushed"),
                        5000));
    double t = secs_since(t0);
    CU_ASSERT(t < (double)FAIL_LIMIT / 1e9);
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
    cmd(A.wt, "sendfix %lld 1000000 262144 8", st(A.wt, "accepted_conn"));
    CU_ASSERT(RUN_UNTIL(st(A.wt, "sent_ok") >= 50, 10000));
    kill(peer->pid, SIGKILL);
    unsigned long long t0 = phx_test_now_ns();
    double t = assert_lost_in_time(&A, t0);
    printf("(CONN_LOST after %.3f s, %lld sends came back with an error) ", t,
           st(A.wt, "sent_err"));
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

/* Sets the ucx plugin's settings (settings.h text) for the engines created from now on. */
static void ucx_settings(const char *text)
{
    struct phx_plugin *pl = phx_registry_find(&reg, "ucx");

    CU_ASSERT_PTR_NOT_NULL_FATAL(pl);
    CU_ASSERT_EQUAL_FATAL(phx_settings_parse(pl->desc->settings, pl->host.settings, text, "test", err,
                                             sizeof(err)), 0);
}

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
    while ((st(A.ucx, "parked") < 1 || st(A.ucx, "queued") < 1 || st(B.wt, "sent_ok") < 1) &&
           phx_test_now_ns() < deadline)
        tp_turn(B.sub);
    for (unsigned i = 0; i < 100; i++)     /* the second stays parked however long B turns */
        tp_turn(B.sub);
    CU_ASSERT_EQUAL(st(A.ucx, "parked"), 1);
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
    CU_ASSERT(st(A.ucx, "parked") >= 1);
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
    struct phx_runtime_params pa = {.field_mask = PHX_RUNTIME_PARAM_FIELD_INDEX, .index = 0};
    struct phx_runtime_params pb = {.field_mask = PHX_RUNTIME_PARAM_FIELD_INDEX, .index = 1};
    long long worst = 0;

    side_up_on(&A, 1, 0);
    side_up_on(&B, 2, 1);
    pair_connect();
    CU_ASSERT_NOT_EQUAL(st(A.ucx, "worker"), st(B.ucx, "worker"));  /* a worker per thread */
    CU_ASSERT_EQUAL(st(A.ucx, "worker_runtime"), 0);
    CU_ASSERT_EQUAL(st(B.ucx, "worker_runtime"), 1);
    CU_ASSERT_EQUAL(st(A.ucx, "worker_engines"), 1);
    cmd(A.wt, "expect 9 %d", PINGS);
    struct phx_runtime *rt_a = phx_runtime_start(&pa, err, sizeof(err));
    struct phx_runtime *rt_b = phx_runtime_start(&pb, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(rt_a);
    CU_ASSERT_PTR_NOT_NULL_FATAL(rt_b);
    CU_ASSERT_EQUAL_FATAL(phx_runtime_add(rt_a, A.sub), 0);
    CU_ASSERT_EQUAL_FATAL(phx_runtime_add(rt_b, B.sub), 0);
    for (int i = 0; i < PINGS; i++) {
        const struct timespec settle = {.tv_nsec = 200 * MS};
        nanosleep(&settle, NULL);                  /* both runtimes go to sleep */
        phx_runtime_suspend(rt_b, B.sub);
        cmd(B.wt, "send1 5 100 9 %d", i);
        unsigned long long sent = phx_test_now_ns();
        phx_runtime_resume(rt_b, B.sub);
        nanosleep(&settle, NULL);                  /* A is not touched: only its fd wakes it */
        CU_ASSERT_EQUAL(tp_stat_of(A.sub, "WireTestEngine", "received"), i + 1);
        long long lat = tp_stat_of(A.sub, "WireTestEngine", "last_rx_ns") - (long long)sent;
        worst = lat > worst ? lat : worst;
    }
    struct phx_runtime_stats rs;
    phx_runtime_get_stats(rt_a, &rs);
    printf("(worst wake-up to delivery %.3f ms, %llu sleeps) ", (double)worst / 1e6,
           (unsigned long long)rs.sleeps);
    CU_ASSERT(rs.sleeps >= PINGS);
    CU_ASSERT(worst < (long long)(200 * MS));     /* not the 1 s keepalive timer */
    CU_ASSERT_EQUAL(phx_runtime_remove(rt_a, A.sub), 0);
    CU_ASSERT_EQUAL(phx_runtime_remove(rt_b, B.sub), 0);
    phx_runtime_stop(rt_a);
    phx_runtime_stop(rt_b);
    CU_ASSERT_EQUAL(st(A.wt, "missing"), 0);
    pair_down();
}

/* ---- live upgrade ------------------------------------------------------------------------ */

/* Both transports move to a new build of the ucx plugin while messages flow both ways: nothing
 * is lost, the new build serves old and new connections (A's listener is re-created), and an
 * old connection's failure reaches the new build. */
static void test_live_upgrade(void)
{
    char msg[512] = "";

    pair_up();
    uint32_t back = pair_connect();
    cmd(A.wt, "expect 10 2000");
    cmd(B.wt, "expect 11 2000");
    cmd(B.wt, "send 5 2000 1048576 10");
    cmd(A.wt, "send %u 2000 1048576 11", back);
    CU_ASSERT(RUN_UNTIL(st(A.wt, "received") >= 500 && st(B.wt, "received") >= 500, 20000));
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

/* ---- the wire-up under attack (ucx_hs.c) ------------------------------------------------- */

/* E's refusals of handshakes for REASON (its stats' hs_refused), or -1. */
static long long refused(phx_engine_t *e, const char *reason)
{
    char *reply = ask(e, "stats");
    json_object *j = reply ? json_tokener_parse(reply) : NULL, *r, *v;
    long long n = -1;

    if (j && json_object_object_get_ex(j, "hs_refused", &r) &&
        json_object_object_get_ex(r, reason, &v))
        n = json_object_get_int64(v);
    json_object_put(j);
    free(reply);
    return n;
}

/* A non-blocking TCP socket connecting to 127.0.0.1:PORT (the kernel completes the connection
 * from the listen backlog whether or not the service accepts). */
static int dial(unsigned port)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

    if (fd >= 0 && connect(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 && errno != EINPROGRESS) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Sends N bytes of P on FD once it is connected (at most a second). */
static bool send_when_up(int fd, const void *p, size_t n)
{
    struct pollfd pfd = {.fd = fd, .events = POLLOUT};

    return poll(&pfd, 1, 1000) == 1 && send(fd, p, n, MSG_NOSIGNAL) == (ssize_t)n;
}

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

/* B's connection CONN to A still carries a message of stream TAG. */
static void round_trip(unsigned conn, unsigned tag)
{
    long long received = st(A.wt, "received");

    cmd(A.wt, "expect %u 1", tag);
    cmd(B.wt, "send %u 1 1000 %u", conn, tag);
    CU_ASSERT(RUN_UNTIL(st(A.wt, "received") == received + 1, 3000));
}

/* A handshake frame header: magic, VERSION, TYPE, body length LEN, into OUT (12 bytes). */
static void frame_head(uint8_t *out, uint8_t version, uint8_t type, uint32_t len)
{
    memcpy(out, "PHXH", 4);
    out[4] = version;
    out[5] = type;
    out[6] = out[7] = 0;
    memcpy(out + 8, &len, 4);       /* little-endian host */
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

/* ---- MUNGE (ucx_auth.c) -------------------------------------------------------------------- */

static char munge_dir[2][4200];     /* two private munged: two realms */

static bool munged(const char *how, unsigned i, const char *key)
{
    char line[16384];

    snprintf(line, sizeof(line), "%s %s %s %s >/dev/null", MUNGED_SH, how, munge_dir[i],
             key ? key : "");
    return system(line) == 0;
}

static void munge_settings(unsigned i)
{
    char text[4400];

    snprintf(text, sizeof(text), "auth = \"munge\"; munge_socket = \"%s/munge.socket.2\";",
             munge_dir[i]);
    ucx_settings(text);
}

static void auth_none(void)
{
    ucx_settings("auth = \"none\"; munge_socket = \"\";");
}

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
    char sock[4300];

    munge_settings(0);
    pair_up();
    auth_none();
    cmd(A.wt, "bind 1 127.0.0.1:0");
    CU_ASSERT_FATAL(RUN_UNTIL(st(A.wt, "bound") == 1, 3000));
    snprintf(sock, sizeof(sock), "%s/munge.socket.2", munge_dir[0]);
    snprintf(run.port, sizeof(run.port), "%lld", st(A.wt, "bound_port"));
    run.c = (struct hs_client){.auth = PHX_UCX_AUTH_MUNGE, .munge_socket = sock, .addr = addr,
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

static const phx_test_case_t cases[] = {
    {"bind, connect and refused requests", test_bind_connect_refusals},
    {"names, the wildcard address, IPv6", test_addresses},
    {"10,000 messages each way, 0 B to 8 MiB", test_each_way},
    {"10,000 sends on one connection under back-pressure", test_backpressure},
    {"a slow peer holds up only its own connection", test_slow_peer_alone},
    {"messages of up to 100,000 pieces", test_many_pieces},
    {"connect to nobody fails within 2 s", test_connect_nobody},
    {"peer destroyed mid-stream, then restarted on its port", test_peer_destroyed},
    {"peer process killed mid-stream", test_peer_killed},
    {"malformed frames from a raw UCX peer", test_malformed},
    {"in-flight receive budget", test_inflight_budget},
    {"in-flight budget: a large message waits for room", test_inflight_budget_waits},
    {"malformed frames give their credits back", test_malformed_frames_return_credits},
    {"runtime sleeps on the worker fd and wakes on traffic", test_wakeup},
    {"a full heap refuses a parked frame once nothing is freed", test_full_heap_refuses_parked},
    {"live upgrade of the ucx plugin mid-stream", test_live_upgrade},
    {"hostile bytes on a bound port are refused and counted", test_hostile_probes},
    {"a slowloris peer is cut off at the handshake deadline", test_slowloris},
    {"10,000 half-open connections", test_halfopen_storm},
    {"a flood of junk connections from one source", test_flood_one_source},
    {"MUNGE: one realm connects, the server knows the uid", test_munge_realm},
    {"MUNGE: another realm is refused", test_munge_other_realm},
    {"MUNGE: a replayed credential is refused", test_munge_replay},
    {"connection set-up latency (figures)", test_setup_latency},
    {"InfiniBand service level settings are checked", test_ib_service_level_settings},
    {NULL, NULL},
};

int main(int argc, char **argv)
{
    setenv("UCX_NET_DEVICES", "lo", 1);         /* loopback only, whatever the caller says */
    setenv("UCX_TLS", "tcp", 0);
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s", phx_test_tmpdir("transport"));
    char conf[8192];
    snprintf(conf, sizeof(conf), "plugins = ( { name = \"ucx\"; path = \"-\"; } );\n"
             "settings = { ucx = { %s }; };\n", usual_settings);
    if (phx_config_load(&cfg, phx_test_write_file(dir, "phoenix.conf", conf), err,
                        sizeof(err)) < 0) {
        fprintf(stderr, "test_transport: %s\n", err);
        return 1;
    }
    if (phx_registry_init(&reg, dir) < 0)
        return 1;
    phx_registry_set_config(&reg, &cfg);
    if (!phx_registry_load(&reg, PHX_PLUGIN_UCX, err, sizeof(err)) ||
        !phx_registry_load(&reg, PHX_PLUGIN_WIRETEST, err, sizeof(err))) {
        fprintf(stderr, "test_transport: %s\n", err);
        return 1;
    }
    char munge_root[] = "/tmp/phx-munge-XXXXXX";   /* munged wants every parent searchable */
    if (!mkdtemp(munge_root) || chmod(munge_root, 0755) < 0)
        return 1;
    snprintf(munge_dir[0], sizeof(munge_dir[0]), "%s/a", munge_root);
    snprintf(munge_dir[1], sizeof(munge_dir[1]), "%s/b", munge_root);
    if (!munged("start", 0, NULL) || !munged("start", 1, NULL)) {   /* two keys: two realms */
        fprintf(stderr, "test_transport: cannot start munged (tests/lib/munged.sh)\n");
        munged("stop", 0, NULL);
        phx_test_rmtree(munge_root);
        return 1;
    }
    int rc = phx_test_main("transport", cases, argc, argv);
    munged("stop", 0, NULL);
    munged("stop", 1, NULL);
    phx_test_rmtree(munge_root);
    phx_registry_fini(&reg);
    phx_test_rmtree(dir);
    phx_config_free(&cfg);
    return rc;
}
