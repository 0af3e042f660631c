/* test_transport_ucxport.c - UCX's own TCP port under attack: not our handshake's binding but the
 * port UCX 1.13's tcp transport listens on for every worker (the connections UCX makes between
 * workers), found among this process's listening sockets. Hostile input goes to it one fresh
 * connection at a time, in UCX's own wire format (src/uct/tcp/tcp.h of 1.13: an 8-byte magic
 * number, then active messages of a 5-byte header, id 32 carrying the connection manager's
 * packets, 33 and 34 PUT requests and acknowledgements).
 *
 * What UCX survives, in this process, with apps A and B talking over UCX (the same-node path
 * off, so their messages cross that very worker): a connect and close, random bytes, HTTP, a
 * wrong magic number, the magic alone or cut short, a well-formed connection request (UCX
 * answers it with its ACK, which shows that the packets here are built right), unknown and
 * unsolicited connection-manager events, active messages before and after a request that UCP
 * ignores; 200 connections at once; a slowloris trickle. After each batch a message still goes
 * from B to A and a new connection is made.
 *
 * What kills UCX 1.13: a few bytes after the magic number reach ucs_assert()s that Debian's
 * build keeps (a PUT request or acknowledgement of the wrong length, an active message longer
 * than the receive segment, a connection-manager packet too short, a request naming an endpoint
 * that does not exist or an address family UCX does not know), and once a request is accepted,
 * UCP's own messages of junk reach UCP's (a rendezvous request; a wire-up request naming no
 * endpoint) or make it follow a pointer taken from the message (a wire-up request naming an
 * endpoint of junk: SIGSEGV). Each goes to a service of its own (this program with --victim, the
 * same apps and settings) and the case asserts that it still dies there, with UCX's word for it:
 * the day one does not, UCX changed and docs/transport.md ("UCX's own ports") must say so.
 *
 * All of that comes from 127.0.0.1, a host the apps' own handshakes allowed through the "peers
 * only" filter (settings.ucx.tcp_peers_only, transports/ucx/ucx_portguard.c): what a user of a
 * peer's host, or of this one, can still do. From any other source (127.0.0.9, a stranger to the
 * filter) the connect itself never completes and the apps go on; with the setting off it does.
 * Every wait is bounded; every child is reaped. */
#include "transport_harness.h"

#include "phoenix/status.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---- UCX 1.13's tcp wire format ---------------------------------------------------------- */

#define UCT_TCP_MAGIC 0xCAFEBABE12345678ull
enum { AM_CM = 32, AM_PUT_REQ = 33, AM_PUT_ACK = 34 };     /* UCT_AM_ID_MAX + 0, 1, 2 */
enum { CM_REQ = 1, CM_ACK = 2, CM_FLAG_TO_EP = 1 };
enum { UCP_AM_WIREUP = 1, UCP_AM_RNDV_RTS = 9 };           /* UCP's wire-up, rendezvous */
/* The port a connection request names (127.0.0.1:65535: nothing of ours). */
enum { PEER_PORT = 65535 };
/* A source address no handshake here allows (127.0.0.9: loopback, another host to the filter). */
#define STRANGER 0x7f000009u

struct pkt {
    uint8_t b[512];
    size_t  n;
};

static void put(struct pkt *p, const void *d, size_t n)
{
    CU_ASSERT_FATAL(p->n + n <= sizeof(p->b));
    memcpy(p->b + p->n, d, n);
    p->n += n;
}

static void magic(struct pkt *p)
{
    uint64_t m = UCT_TCP_MAGIC;

    put(p, &m, sizeof(m));
}

/* An active message header (uct_tcp_am_hdr_t), then LEN bytes of FILL when FILL >= 0. */
static void am(struct pkt *p, uint8_t id, uint32_t len, int fill)
{
    uint8_t body[256];

    put(p, &id, 1);
    put(p, &len, 4);
    if (fill >= 0) {
        CU_ASSERT_FATAL(len <= sizeof(body));
        memset(body, fill, len);
        put(p, body, len);
    }
}

/* A connection-manager packet (uct_tcp_cm_conn_req_pkt_t: event, flags, the sender's endpoint
 * id; then its interface's address) naming 127.0.0.1:PORT of address family FAMILY. */
static void conn_req(struct pkt *p, uint32_t event, uint8_t flags, uint64_t cm_id,
                     uint16_t family, unsigned port)
{
    struct sockaddr_in sin = {.sin_family = family, .sin_port = htons((uint16_t)port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};

    am(p, AM_CM, 4 + 1 + 8 + sizeof(sin), -1);
    put(p, &event, 4);
    put(p, &flags, 1);
    put(p, &cm_id, 8);
    put(p, &sin, sizeof(sin));
}

/* UCP's wire-up REQUEST (ucp_wireup_msg_t: type, error mode, connection number, source and
 * destination endpoint ids) naming DST_EP, with 64 bytes of 0xff for its packed address. */
static void wireup_req(struct pkt *p, uint64_t dst_ep)
{
    uint8_t head[2] = {0, 1};                           /* REQUEST, peer error handling */
    uint64_t conn_sn = 5, src_ep = 3;
    uint8_t junk[64];

    am(p, UCP_AM_WIREUP, 2 + 3 * 8 + 64, -1);
    put(p, head, 2);
    put(p, &conn_sn, 8);
    put(p, &src_ep, 8);
    put(p, &dst_ep, 8);
    memset(junk, 0xff, sizeof(junk));
    put(p, junk, sizeof(junk));
}

/* ---- finding UCX's port ------------------------------------------------------------------ */

/* Whether socket inode INODE is one of this process's descriptors. */
static bool ours(unsigned long inode)
{
    char want[64], link[64], path[300];
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    bool found = false;

    snprintf(want, sizeof(want), "socket:[%lu]", inode);
    while (d && !found && (e = readdir(d))) {
        snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
        ssize_t l = readlink(path, link, sizeof(link) - 1);
        found = l > 0 && (link[l] = 0, strcmp(link, want) == 0);
    }
    if (d)
        closedir(d);
    return found;
}

/* The TCP ports this process listens on, other than A's binding (our handshake's): UCX's. */
static unsigned ucx_ports(unsigned *out, unsigned max)
{
    unsigned except = (unsigned)st(A.wt, "bound_port"), n = 0, port, state;
    FILE *f = fopen("/proc/net/tcp", "r");
    unsigned long inode;
    char line[512];

    while (f && n < max && fgets(line, sizeof(line), f))
        if (sscanf(line, " %*u: %*x:%x %*x:%*x %x %*x:%*x %*x:%*x %*x %*u %*u %lu", &port, &state,
                   &inode) == 3 && state == 0x0A && port != except && ours(inode))
            out[n++] = port;
    if (f)
        fclose(f);
    return n;
}

/* A and B up with the same-node path off and the settings TEXT, B connected to A (its
 * connection 5); UCX's port of their worker (runtime 0's, which both share). */
static unsigned pair_over_ucx_with(const char *text)
{
    unsigned ports[8];
    char all[256];

    snprintf(all, sizeof(all), "same_node = false; %s", text);
    ucx_settings(all);
    pair_up();
    pair_connect();
    round_trip(5, 1);
    unsigned n = ucx_ports(ports, 8);
    CU_ASSERT_EQUAL_FATAL(n, 1);
    return ports[0];
}

static unsigned pair_over_ucx(void)
{
    return pair_over_ucx_with("");
}

/* ---- what UCX survives ------------------------------------------------------------------- */

/* Sends P on a fresh connection to PORT, turns the apps for HOLD_MS meanwhile reading what comes
 * back into BACK (at most 64 bytes), closes; how many bytes came back. */
static size_t probe(unsigned port, const struct pkt *p, unsigned hold_ms, uint8_t *back)
{
    int fd = dial(port);
    size_t got = 0;

    CU_ASSERT_FATAL(fd >= 0);
    CU_ASSERT(send_when_up(fd, p->b, p->n));
    unsigned long long deadline = phx_test_now_ns() + hold_ms * MS;
    while (phx_test_now_ns() < deadline) {
        turns(8);
        ssize_t r = got < 64 ? recv(fd, back + got, 64 - got, MSG_DONTWAIT) : 0;
        if (r > 0)
            got += (size_t)r;
    }
    close(fd);
    turns(8);
    return got;
}

/* A and B still serve: a new connection (ID) carries a message of stream TAG (the wiretest
 * engine keeps four streams: a case uses tags 1 to 4). */
static void still_serves(unsigned id, unsigned tag)
{
    CU_ASSERT_EQUAL(connect_again(id), PHX_OK);
    round_trip(id, tag);
}

/* Every kind of junk UCX 1.13 takes without harm, each on a connection of its own. */
static void test_junk_survived(void)
{
    static const char http[] = "GET / HTTP/1.1\r\nHost: phoenix\r\n\r\n";
    uint8_t back[64];
    unsigned port = pair_over_ucx();
    struct pkt p = {0};

    CU_ASSERT_EQUAL(probe(port, &p, 50, back), 0);                  /* connect and close */
    CU_ASSERT_EQUAL(getrandom(p.b, 512, 0), 512);
    p.b[0] = 0;                                                     /* not the magic's 0x78 */
    p.n = 512;
    probe(port, &p, 50, back);
    p = (struct pkt){0};
    put(&p, http, strlen(http));
    probe(port, &p, 50, back);
    p = (struct pkt){0};
    put(&p, "\x88\x77\x66\x55\x44\x33\x22\x11 and more", 17);       /* a wrong magic */
    probe(port, &p, 50, back);
    p = (struct pkt){0};
    magic(&p);
    probe(port, &p, 50, back);                                      /* the magic alone */
    p.n = 5;
    probe(port, &p, 50, back);                                      /* cut short */
    still_serves(30, 2);

    p = (struct pkt){0};
    magic(&p);
    conn_req(&p, CM_REQ, 0, 1, AF_INET, PEER_PORT);
    size_t got = probe(port, &p, 300, back);                        /* answered with an ACK */
    uint32_t len = 0, event = 0;
    memcpy(&len, back + 1, 4);
    memcpy(&event, back + 5, 4);
    CU_ASSERT(got == 9 && back[0] == AM_CM && len == 4 && event == CM_ACK);
    p = (struct pkt){0};
    magic(&p);
    am(&p, AM_CM, 4, 0x40);                                         /* an unknown event */
    probe(port, &p, 50, back);
    p = (struct pkt){0};
    magic(&p);
    am(&p, AM_CM, 4, 0);
    p.b[p.n - 4] = CM_ACK;                                          /* an ACK nobody asked for */
    probe(port, &p, 50, back);
    p = (struct pkt){0};
    magic(&p);
    am(&p, 0, 100, 0xff);                                           /* an AM before a request */
    probe(port, &p, 50, back);
    p = (struct pkt){0};
    magic(&p);
    conn_req(&p, CM_REQ, 0, 2, AF_INET, PEER_PORT);
    for (uint8_t id = 0; id < UCP_AM_RNDV_RTS; id++)                /* UCP's wire-up and eager */
        am(&p, id, 40, 0xff);
    probe(port, &p, 100, back);
    still_serves(31, 3);
    round_trip(5, 4);
    assert_clean(A.wt);
    pair_down();
}

/* 200 connections at once, half of them silent, half with a connection request, a message going
 * meanwhile; then they all go. */
static void test_many(void)
{
    enum { N = 200 };
    static int fds[N];
    unsigned port = pair_over_ucx(), opened = 0;
    struct pkt p = {0};

    magic(&p);
    conn_req(&p, CM_REQ, 0, 3, AF_INET, PEER_PORT);
    for (unsigned i = 0; i < N; i++) {
        fds[i] = dial(port);
        opened += fds[i] >= 0;
        if (fds[i] >= 0 && i % 2)
            CU_ASSERT(send_when_up(fds[i], p.b, p.n));
        if (i % 16 == 0)
            turns(4);
    }
    CU_ASSERT_EQUAL(opened, N);
    round_trip(5, 2);                                               /* during the storm */
    for (unsigned i = 0; i < N; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    still_serves(32, 3);
    round_trip(5, 4);
    assert_clean(A.wt);
    pair_down();
}

/* A slowloris dribbling a connection request and the header of an active message a byte every
 * 20 ms, a message going halfway: UCX answers the request and, unlike our handshake, never cuts
 * it off; it hangs up itself. */
static void test_slowloris(void)
{
    unsigned port = pair_over_ucx(), sent = 0;
    struct pkt p = {0};
    bool went = false;

    magic(&p);
    conn_req(&p, CM_REQ, 0, 4, AF_INET, PEER_PORT);
    am(&p, 0, 200, -1);                                             /* its data never comes */
    int fd = dial(port);
    CU_ASSERT_FATAL(fd >= 0);
    unsigned long long t0 = phx_test_now_ns();
    while (sent < p.n && phx_test_now_ns() < t0 + 5000 * MS) {
        if (phx_test_now_ns() >= t0 + sent * 20 * MS && send_when_up(fd, p.b + sent, 1))
            sent++;
        if (sent == p.n / 2 && !went) {
            round_trip(5, 2);                                       /* while it dribbles */
            went = true;
        }
        turns(8);
    }
    CU_ASSERT_EQUAL(sent, p.n);
    still_serves(33, 3);                                            /* it has said it all */
    uint8_t back[64];
    ssize_t got = recv(fd, back, sizeof(back), MSG_DONTWAIT);       /* UCX's ACK, and no more */
    CU_ASSERT_EQUAL(got, 9);
    errno = 0;
    CU_ASSERT(recv(fd, back, sizeof(back), MSG_DONTWAIT) < 0 && errno == EAGAIN);  /* still open */
    close(fd);
    round_trip(5, 4);
    assert_clean(A.wt);
    pair_down();
}

/* ---- strangers (settings.ucx.tcp_peers_only) --------------------------------------------- */

/* Whether a connect to UCX's PORT from STRANGER, a source address no handshake of this process
 * allowed (loopback, yet another host to the filter), completes within MS, the apps turning
 * meanwhile. */
static bool stranger_connects(unsigned port, unsigned ms)
{
    struct sockaddr_in from = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(STRANGER)},
                       to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), e = -1;
    socklen_t len = sizeof(e);
    struct pollfd p = {.fd = fd, .events = POLLOUT};
    bool done = false;

    CU_ASSERT_FATAL(fd >= 0);
    CU_ASSERT_FATAL(bind(fd, (struct sockaddr *)&from, sizeof(from)) == 0);
    CU_ASSERT(connect(fd, (struct sockaddr *)&to, sizeof(to)) == 0 || errno == EINPROGRESS);
    unsigned long long deadline = phx_test_now_ns() + ms * MS;
    while (!done && phx_test_now_ns() < deadline) {
        turns(8);
        done = poll(&p, 1, 1) == 1;
    }
    if (done)
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len);
    close(fd);
    return done && e == 0;
}

/* settings.ucx.tcp_peers_only (the default): UCX's port never answers a host our handshake did
 * not meet, and the apps go on; the bytes that kill UCX never get there. */
static void test_stranger_dropped(void)
{
    unsigned port = pair_over_ucx();

    CU_ASSERT(!stranger_connects(port, 300));
    still_serves(34, 2);
    CU_ASSERT(!stranger_connects(port, 300));
    round_trip(5, 3);
    assert_clean(A.wt);
    pair_down();
}

/* tcp_peers_only = false: the same stranger connects. */
static void test_stranger_unfiltered(void)
{
    unsigned port = pair_over_ucx_with("tcp_peers_only = false;");

    CU_ASSERT(stranger_connects(port, 2000));
    round_trip(5, 2);
    assert_clean(A.wt);
    pair_down();
    ucx_settings("tcp_peers_only = true;");
}

/* ---- what kills UCX 1.13 ----------------------------------------------------------------- */

/* --victim: A and B as above, UCX's port said on stdout, turned until stdin closes (30 s at
 * most). */
static void victim(void)
{
    unsigned port = pair_over_ucx();
    struct pollfd in = {.fd = 0, .events = POLLIN};

    printf("\nUCXPORT %u\n", port);
    fflush(stdout);
    unsigned long long deadline = phx_test_now_ns() + 30000 * MS;
    while (poll(&in, 1, 1) == 0 && phx_test_now_ns() < deadline)
        turns(8);
    pair_down();
}

/* How a victim ends: on an assertion, aborted; on a wild pointer, SEGV_EXIT: killed by SIGSEGV,
 * aborted (UCX's own signal handler, having said "Caught signal 11", may abort), or exit 1 under
 * ASan, whose handler may be the one to report it. Which one varies from run to run. */
#define ABORTED   (128 + SIGABRT)
#define SEGV_EXIT (-1)

static bool ended_as(int code, int ends)
{
    if (ends != SEGV_EXIT)
        return code == ends;
    return code == 128 + SIGSEGV || code == ABORTED || code == 1;
}

/* Sends P to a victim's UCX port, from 127.0.0.1 (its apps' handshakes allowed it: the filter
 * lets it through): it ends with exit code ENDS, saying WHY. Its files go under a
 * directory of ours (its TMPDIR), removed after it, since a victim that dies cannot clean up. */
static void dies(const char *what, const struct pkt *p, int ends, const char *why)
{
    static phx_test_child_t c;
    char *argv[] = {"/proc/self/exe", "--victim", NULL}, tmp[4200];
    const char *dir = phx_test_tmpdir("ucxport-victim");
    const char *env[] = {tmp, NULL};
    unsigned port = 0;

    CU_ASSERT_PTR_NOT_NULL_FATAL(dir);
    snprintf(tmp, sizeof(tmp), "TMPDIR=%s", dir);
    CU_ASSERT_EQUAL_FATAL(phx_test_child_spawn(&c, argv, env, PHX_TEST_CHILD_STDIN), 0);
    bool up = phx_test_child_wait_for(&c, "UCXPORT ", 20000 * MS) &&
              sscanf(strstr(c.out, "UCXPORT "), "UCXPORT %u", &port) == 1;
    CU_ASSERT(up);
    int fd = up ? dial(port) : -1;
    if (fd >= 0) {
        CU_ASSERT(send_when_up(fd, p->b, p->n));
        phx_test_child_wait_for(&c, NULL, 5000 * MS);
        close(fd);
    }
    int code = phx_test_child_reap(&c, 5000 * MS);
    phx_test_rmtree(dir);
    bool said = strstr(c.out, why) || strstr(c.err, why);
    printf("\n  %s: exit %d%s", what, code, said ? "" : " without UCX's word");
    CU_ASSERT(ended_as(code, ends));
    CU_ASSERT(said);
}

static void test_ucx_dies(void)
{
    struct pkt p = {0};

    magic(&p);
    am(&p, AM_PUT_REQ, 1, 'x');
    dies("a PUT request of 1 byte", &p, ABORTED,
         "Assertion `hdr->length == sizeof(uct_tcp_ep_put_req_hdr_t)' failed");
    p.n = 8;                                                        /* the magic again */
    am(&p, AM_PUT_ACK, 1, 'x');
    dies("a PUT acknowledgement of 1 byte", &p, ABORTED,
         "Assertion `hdr->length == sizeof(uint32_t)' failed");
    p.n = 8;
    am(&p, 0, 0xffffffffu, -1);
    dies("an active message of 4 GiB", &p, ABORTED,
         "Assertion `hdr->length <= (iface->config.rx_seg_size - sizeof(*hdr))' failed");
    p.n = 8;
    am(&p, AM_CM, 0, -1);
    dies("a connection-manager packet of 0 bytes", &p, ABORTED,
         "Assertion `length >= sizeof(cm_event)' failed");
    p.n = 8;
    am(&p, AM_CM, 4, 0);
    p.b[p.n - 4] = CM_REQ;
    dies("a connection request of 4 bytes", &p, ABORTED,
         "Assertion `length == (sizeof(*cm_req_pkt) + iface->config.sockaddr_len)' failed");
    p.n = 8;
    conn_req(&p, CM_REQ, 0, 1, 0xffff, PEER_PORT);
    dies("a connection request of address family 0xffff", &p, ABORTED, "unknown address family");
    p.n = 8;
    conn_req(&p, CM_REQ, CM_FLAG_TO_EP, 0xdeadbeef, AF_INET, PEER_PORT);
    dies("a connection request naming an endpoint that does not exist", &p, ABORTED,
         "Assertion `uct_tcp_cm_ep_accept_conn(ep)' failed");
    p.n = 8;
    conn_req(&p, CM_REQ, 0, 1, AF_INET, PEER_PORT);
    size_t accepted = p.n;                                          /* the magic and a request */
    am(&p, UCP_AM_RNDV_RTS, 64, 0xff);
    dies("UCP's rendezvous request of junk", &p, ABORTED,
         "Assertion `ucp_rndv_rts_is_tag(rts_hdr)' failed");
    p.n = accepted;
    wireup_req(&p, 0);
    dies("UCP's wire-up request naming no endpoint", &p, ABORTED,
         "Assertion `(msg)->dst_ep_id != ((ucs_ptr_map_key_t)0)' failed");
    p.n = accepted;
    wireup_req(&p, 1);
    dies("UCP's wire-up request naming an endpoint of junk", &p, SEGV_EXIT, "Caught signal 11");
    printf("\n  ");
}

static const phx_test_case_t cases[] = {
    {"junk on UCX's own port that UCX survives", test_junk_survived},
    {"200 connections at once on UCX's own port", test_many},
    {"a slowloris on UCX's own port", test_slowloris},
    {"a stranger's connect to UCX's own port is dropped (tcp_peers_only)", test_stranger_dropped},
    {"a stranger connects with tcp_peers_only = false", test_stranger_unfiltered},
    {"what on UCX's own port kills UCX 1.13 (each in a service of its own)", test_ucx_dies},
    {NULL, NULL},
};

static const phx_test_case_t victim_cases[] = {
    {"a service for test_ucx_dies", victim},
    {NULL, NULL},
};

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--victim") == 0)
        return transport_main("transport_ucxport_victim", victim_cases, 1, argv);
    return transport_main("transport_ucxport", cases, argc, argv);
}
