/* test_portguard.c - the "peers only" socket filter (transports/ucx/ucx_portguard.c) on real
 * sockets of this process, over loopback without namespaces: 127.0.0.0/8 is all loopback, so a
 * client bound to 127.0.0.3 is a host of its own as far as the filter can tell.
 *
 * A connect that the filter drops never completes (its SYN is dropped, the kernel retries), so
 * "refused" here means: not connected within REFUSED_MS. What is checked: a guarded listener
 * admits only allowed sources, allowing one more opens it to that one, the sockets it accepts
 * carry the filter, a listener guarded later gets every address allowed so far (what the kernel
 * holds, not the module's memory), one without our filter or with somebody else's is never
 * touched, and the cap: PHX_UCX_PORTGUARD_MAX addresses in several jump groups, the last one
 * admitted, the next refused. */
#include "ucx_portguard.h"

#include "phx_test.h"

#include <CUnit/CUnit.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define REFUSED_MS 300
#define ADMITTED_MS 2000

static uint32_t ip_of(const char *text)
{
    struct in_addr a;

    CU_ASSERT_FATAL(inet_pton(AF_INET, text, &a) == 1);
    return a.s_addr;
}

static struct sockaddr_in sin_of(uint32_t ip, uint16_t port)
{
    return (struct sockaddr_in){.sin_family = AF_INET, .sin_addr.s_addr = ip,
                                .sin_port = htons(port)};
}

/* A listening socket on 127.0.0.1, any port: its fd, its port into *PORT. */
static int listener(uint16_t *port)
{
    struct sockaddr_in sin = sin_of(ip_of("127.0.0.1"), 0);
    socklen_t len = sizeof(sin);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    CU_ASSERT_FATAL(fd >= 0);
    CU_ASSERT_FATAL(bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0);
    CU_ASSERT_FATAL(listen(fd, 64) == 0);
    CU_ASSERT_FATAL(getsockname(fd, (struct sockaddr *)&sin, &len) == 0);
    *port = ntohs(sin.sin_port);
    return fd;
}

/* Whether a connect from SRC to 127.0.0.1:PORT completes within MS. */
static bool connects(const char *src, uint16_t port, unsigned ms)
{
    struct sockaddr_in from = sin_of(ip_of(src), 0), to = sin_of(ip_of("127.0.0.1"), port);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), e = -1;
    socklen_t len = sizeof(e);

    CU_ASSERT_FATAL(fd >= 0);
    CU_ASSERT_FATAL(bind(fd, (struct sockaddr *)&from, sizeof(from)) == 0);
    int rc = connect(fd, (struct sockaddr *)&to, sizeof(to));
    CU_ASSERT(rc == 0 || errno == EINPROGRESS);
    struct pollfd p = {.fd = fd, .events = POLLOUT};
    if (rc < 0 && poll(&p, 1, (int)ms) == 1)
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len);
    close(fd);
    return rc == 0 || e == 0;
}

static bool admitted(const char *src, uint16_t port)
{
    return connects(src, port, ADMITTED_MS);
}

static bool refused(const char *src, uint16_t port)
{
    return !connects(src, port, REFUSED_MS);
}

static int allow(const char *text)
{
    struct sockaddr_in sin = sin_of(ip_of(text), 0);

    return phx_ucx_portguard_allow((struct sockaddr *)&sin);
}

/* How many instructions FD's filter has (0: none). */
static int filter_len(int fd)
{
    socklen_t len = 0;

    CU_ASSERT_FATAL(getsockopt(fd, SOL_SOCKET, SO_GET_FILTER, NULL, &len) == 0);
    return (int)len;
}

static void test_peers_only(void)
{
    uint16_t p1, p2, p3;
    int l1 = listener(&p1), l2 = listener(&p2);
    uint32_t got[8];

    CU_ASSERT_EQUAL(phx_ucx_portguard_allowed(got, 8), 0);
    CU_ASSERT_EQUAL(allow("127.0.0.2"), 0);                 /* nothing guarded: not kept */
    CU_ASSERT_EQUAL(phx_ucx_portguard_allowed(got, 8), 0);
    CU_ASSERT_EQUAL(phx_ucx_portguard_ports(&p1, 1), 1);
    CU_ASSERT(filter_len(l1) > 0);
    CU_ASSERT(refused("127.0.0.2", p1));                    /* allow none yet */
    CU_ASSERT_EQUAL(allow("127.0.0.2"), 0);
    CU_ASSERT_EQUAL(phx_ucx_portguard_allowed(got, 8), 1);
    CU_ASSERT_EQUAL(got[0], ip_of("127.0.0.2"));

    CU_ASSERT(refused("127.0.0.3", p1));
    CU_ASSERT(admitted("127.0.0.2", p1));
    int a = accept(l1, NULL, NULL);                         /* accepted sockets inherit it */
    CU_ASSERT(a >= 0 && filter_len(a) == filter_len(l1));
    if (a >= 0)
        close(a);
    CU_ASSERT(admitted("127.0.0.3", p2));                   /* not guarded: never touched */
    CU_ASSERT_EQUAL(filter_len(l2), 0);

    CU_ASSERT_EQUAL(allow("127.0.0.3"), 0);
    CU_ASSERT(admitted("127.0.0.3", p1));
    struct sockaddr_in6 mapped = {.sin6_family = AF_INET6};
    CU_ASSERT_EQUAL(inet_pton(AF_INET6, "::ffff:127.0.0.4", &mapped.sin6_addr), 1);
    CU_ASSERT_EQUAL(phx_ucx_portguard_allow((struct sockaddr *)&mapped), 0);
    CU_ASSERT_EQUAL(allow("127.0.0.3"), 0);                 /* twice is once */
    CU_ASSERT_EQUAL(phx_ucx_portguard_allowed(got, 8), 3);
    CU_ASSERT(got[1] == ip_of("127.0.0.3") && got[2] == ip_of("127.0.0.4"));
    CU_ASSERT(admitted("127.0.0.4", p1));
    CU_ASSERT(refused("127.0.0.9", p1));
    CU_ASSERT_EQUAL(filter_len(l2), 0);

    int l3 = listener(&p3);                                 /* a new worker's: what is allowed */
    uint16_t both[2] = {p3, p1};
    CU_ASSERT_EQUAL(phx_ucx_portguard_ports(both, 2), 2);
    CU_ASSERT(admitted("127.0.0.3", p3));
    CU_ASSERT(refused("127.0.0.9", p3));
    CU_ASSERT_EQUAL(phx_ucx_portguard_allowed(got, 8), 3);
    close(l3);
    close(l2);
    close(l1);
    CU_ASSERT_EQUAL(phx_ucx_portguard_allowed(got, 8), 0);  /* the kernel held it all */
}

/* A listener with somebody else's filter (keep everything) on a port asked for: left alone. */
static void test_foreign_filter(void)
{
    struct sock_filter keep[] = {BPF_STMT(BPF_RET | BPF_K, 0xffffffffu)};
    struct sock_fprog fp = {.len = 1, .filter = keep};
    uint16_t port;
    int l = listener(&port);

    CU_ASSERT_FATAL(setsockopt(l, SOL_SOCKET, SO_ATTACH_FILTER, &fp, sizeof(fp)) == 0);
    CU_ASSERT_EQUAL(phx_ucx_portguard_ports(&port, 1), 0);
    CU_ASSERT_EQUAL(filter_len(l), 1);
    CU_ASSERT_EQUAL(allow("127.0.0.2"), 0);
    CU_ASSERT_EQUAL(filter_len(l), 1);
    CU_ASSERT(admitted("127.0.0.9", port));
    close(l);
}

/* PHX_UCX_PORTGUARD_MAX addresses (127.1.x.y), in four jump groups: the first and the last
 * admitted, the next refused with -ENOSPC and dropped. */
static void test_cap(void)
{
    uint16_t port;
    int l = listener(&port), full = 0;
    char text[32], last[32] = "";
    static uint32_t got[PHX_UCX_PORTGUARD_MAX + 1];

    CU_ASSERT_EQUAL_FATAL(phx_ucx_portguard_ports(&port, 1), 1);
    for (unsigned i = 0; i < PHX_UCX_PORTGUARD_MAX; i++) {
        snprintf(text, sizeof(text), "127.1.%u.%u", i / 200, 1 + i % 200);
        full += allow(text) != 0;
        memcpy(last, text, sizeof(text));
    }
    CU_ASSERT_EQUAL(full, 0);
    CU_ASSERT_EQUAL(phx_ucx_portguard_allowed(got, PHX_UCX_PORTGUARD_MAX + 1),
                    PHX_UCX_PORTGUARD_MAX);
    CU_ASSERT_EQUAL(allow("127.2.0.1"), -ENOSPC);
    CU_ASSERT_EQUAL(allow("127.1.0.1"), 0);                 /* one it has */
    CU_ASSERT(admitted("127.1.0.1", port));
    CU_ASSERT(admitted("127.1.2.123", port));               /* the third group */
    CU_ASSERT(admitted(last, port));
    CU_ASSERT(refused("127.2.0.1", port));
    CU_ASSERT(filter_len(l) < 4096);
    close(l);
}

static const phx_test_case_t cases[] = {
    {"a guarded listener admits only allowed sources", test_peers_only},
    {"a listener with another filter is left alone", test_foreign_filter},
    {"at most PHX_UCX_PORTGUARD_MAX addresses, then refused", test_cap},
    {NULL, NULL},
};

int main(int argc, char **argv)
{
    return phx_test_main("portguard", cases, argc, argv);
}
