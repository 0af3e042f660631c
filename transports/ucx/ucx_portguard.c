/* ucx_portguard.c - a socket filter on UCX's own TCP listening sockets that admits only peers.
 *
 * Why. Every UCX worker's tcp transport listens on a port of its own, and UCX 1.13 aborts the
 * process on a few malformed bytes sent there after its magic number (docs/transport.md, "UCX's
 * own ports"; tests/transport/test_transport_ucxport.c pins the cases). Our handshake port is
 * safe (ucx_hs.c: everything validated, peers authenticated), and it learns each peer's IP
 * address. So UCX's ports need to hear only from the hosts we did a handshake with: a classic
 * BPF socket filter (SO_ATTACH_FILTER) on each of them drops every IPv4 packet whose source
 * address is not one of those. For a listening TCP socket the kernel runs the filter on the SYN
 * (tcp_v4_rcv -> tcp_filter), so a stranger's connect never completes and UCX never sees it; the
 * sockets accept() makes inherit the filter, so their packets are checked too.
 *
 * The kernel keeps the state. A live upgrade hands the UCX workers, and with them their
 * sockets, to a new build of this plugin whose globals start empty. So nothing here lives in a
 * global that matters: a guarded socket is a listening IPv4 TCP socket of this process whose
 * filter, read back with SO_GET_FILTER, is one this file builds (the program rebuilt from the
 * addresses read out of it is the same, instruction for instruction, and starts with a marker),
 * and the allowed addresses are those written in it. Allowing an address builds the program
 * with one more and attaches it to every guarded socket, found in /proc/self/fd
 * (SO_ATTACH_FILTER replaces a filter atomically). A new worker's sockets get the program with
 * every address allowed anywhere in the process. `known` only spares the scan for an address
 * this build put on every guarded socket when no build has attached a filter since. The lock
 * and that count are the process's, not a build's (a runtime slot), so that two builds
 * overlapping in a live upgrade never lose each other's additions.
 *
 * The program: IPv4 packets (the version nibble is 4) are kept when their source, the word at
 * SKF_NET_OFF + 12, equals one of the addresses, which are compared in groups of GROUP (a
 * jump reaches 255 instructions at most), else dropped (return 0); other packets are kept.
 *
 * Limits. An allowed address is a host, not a peer: any user of that host, this host's own
 * users over loopback among them, still reaches UCX's port (the firewall recipe and its owner
 * rule are for those). IPv6 is not filtered (UCX's tcp is used over IPv4 here; a listening
 * IPv6 socket is not guarded). At most PHX_UCX_PORTGUARD_MAX addresses (the kernel takes 4096
 * instructions and charges the program to the socket's option memory): past it an error is
 * logged once and the others are refused, so their UCX connects time out; a larger cluster
 * relies on the firewall. Which addresses are a peer's is the handshake's call (ucx_hs.c,
 * allow_peer()): a peer whose UCX connects from any other (NAT) is dropped as well. */
#include "ucx_portguard.h"

#include "phoenix/handover.h"
#include "phoenix/log.h"

#include <dirent.h>
#include <errno.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MARK     0x50485850u        /* "PHXP": the first instruction loads it, and is ours */
#define KEEP     0xffffffffu
#define DROP     0u
#define GROUP    250u
#define PROLOGUE 6u
#define PROG_MAX (PROLOGUE + PHX_UCX_PORTGUARD_MAX + \
                  2u * ((PHX_UCX_PORTGUARD_MAX + GROUP - 1) / GROUP) + 1u)

struct ipset {
    unsigned n;
    uint32_t ip[PHX_UCX_PORTGUARD_MAX];     /* network order, in the order allowed */
};

/* What one scan found: the union of the guarded sockets' addresses, how many sockets, and
 * whether they all hold that union. */
struct scan {
    struct ipset all;
    unsigned     guarded;
    bool         same;
};

/* What the builds share (see the file comment), in the runtime slot SHARED_SLOT: made by the
 * first build that needs it, never freed; its layout is every build's. */
#define SHARED_SLOT "ucx.portguard"
struct shared {
    pthread_mutex_t lock;
    uint64_t        gen;        /* filters attached so far, by any build: `known` holds while
                                   it is the generation this build attached */
};

/* Under the lock. */
static struct shared      *sh;
static struct ipset        known;       /* on every guarded socket when sh->gen is known_gen */
static uint64_t            known_gen;
static bool                full_said;
static struct sock_filter  prog[PROG_MAX], back[PROG_MAX];
static struct ipset        parsed;

/* NULL when out of memory: then nothing is changed. */
static struct shared *shared_get(void)
{
    void **slot = phx_runtime_slot(SHARED_SLOT);
    struct shared *m, *none = NULL;

    if (!slot)
        return NULL;
    if ((m = __atomic_load_n(slot, __ATOMIC_ACQUIRE)))
        return m;
    if (!(m = calloc(1, sizeof(*m))))
        return NULL;
    pthread_mutex_init(&m->lock, NULL);
    if (__atomic_compare_exchange_n((struct shared **)slot, &none, m, false, __ATOMIC_ACQ_REL,
                                    __ATOMIC_ACQUIRE))
        return m;
    pthread_mutex_destroy(&m->lock);    /* another thread's came first */
    free(m);
    return none;
}

/* Takes the process's lock; false when out of memory. */
static bool lock(void)
{
    struct shared *m = shared_get();

    if (!m)
        return false;
    pthread_mutex_lock(&m->lock);
    sh = m;
    return true;
}

static bool has(const struct ipset *s, uint32_t ip)
{
    for (unsigned i = 0; i < s->n; i++)
        if (s->ip[i] == ip)
            return true;
    return false;
}

/* The program admitting SET into F; its length. */
static unsigned build(const struct ipset *set, struct sock_filter *f)
{
    unsigned k = 0;

    f[k++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_IMM, MARK);
    f[k++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_B | BPF_ABS, SKF_NET_OFF);
    f[k++] = (struct sock_filter)BPF_STMT(BPF_ALU | BPF_AND | BPF_K, 0xf0);
    f[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x40, 1, 0);
    f[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, KEEP);          /* not IPv4 */
    f[k++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, SKF_NET_OFF + 12);
    for (unsigned i = 0; i < set->n; i += GROUP) {
        unsigned g = set->n - i < GROUP ? set->n - i : GROUP;
        for (unsigned j = 0; j < g; j++)        /* a match jumps to this group's KEEP */
            f[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K,
                                                  ntohl(set->ip[i + j]), (uint8_t)(g - j), 0);
        f[k++] = (struct sock_filter)BPF_STMT(BPF_JMP | BPF_JA, 1);
        f[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, KEEP);
    }
    f[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, DROP);
    return k;
}

/* Whether the LEN instructions F are a program build() makes; its addresses into OUT. */
static bool parse(const struct sock_filter *f, unsigned len, struct ipset *out)
{
    out->n = 0;
    if (len <= PROLOGUE || len > PROG_MAX || f[0].code != (BPF_LD | BPF_W | BPF_IMM) ||
        f[0].k != MARK)
        return false;
    for (unsigned k = PROLOGUE; k < len; k++) {
        if (f[k].code != (BPF_JMP | BPF_JEQ | BPF_K))
            continue;
        if (out->n == PHX_UCX_PORTGUARD_MAX)
            return false;
        out->ip[out->n++] = htonl(f[k].k);
    }
    return build(out, prog) == len && memcmp(prog, f, len * sizeof(*f)) == 0;
}

static bool sockopt_is(int fd, int opt, int want)
{
    int v = 0;
    socklen_t len = sizeof(v);

    return getsockopt(fd, SOL_SOCKET, opt, &v, &len) == 0 && v == want;
}

/* FD's filter into `back`: its length in instructions (0: none), or -1 when it is longer than
 * any of ours or unreadable. */
static int read_filter(int fd)
{
    socklen_t len = PROG_MAX;       /* SO_GET_FILTER counts instructions, not bytes */

    if (getsockopt(fd, SOL_SOCKET, SO_GET_FILTER, back, &len) < 0)
        return -1;
    return (int)len;
}

/* The listening IPv4 TCP sockets of this process, each given to FN with its filter's length
 * (`back`, `parsed` hold it; -1 unreadable). Stops at FN's first error, which it returns. */
static int each_listener(int (*fn)(int fd, int flen, void *arg), void *arg)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int rc = 0;

    if (!d)
        return -errno;
    while (rc >= 0 && (e = readdir(d))) {
        char *end;
        long fd = strtol(e->d_name, &end, 10);
        if (*end || end == e->d_name || fd == dirfd(d) || !sockopt_is((int)fd, SO_ACCEPTCONN, 1) ||
            !sockopt_is((int)fd, SO_DOMAIN, AF_INET) ||
            !sockopt_is((int)fd, SO_PROTOCOL, IPPROTO_TCP))
            continue;
        rc = fn((int)fd, read_filter((int)fd), arg);
    }
    closedir(d);
    return rc < 0 ? rc : 0;
}

static int survey_one(int fd, int flen, void *arg)
{
    struct scan *sc = arg;

    (void)fd;
    if (flen <= 0 || !parse(back, (unsigned)flen, &parsed))
        return 0;
    sc->guarded++;
    bool was_all = sc->all.n == parsed.n;
    for (unsigned i = 0; i < parsed.n; i++) {
        if (has(&sc->all, parsed.ip[i]))
            continue;
        was_all = false;
        if (sc->all.n < PHX_UCX_PORTGUARD_MAX)
            sc->all.ip[sc->all.n++] = parsed.ip[i];
    }
    sc->same = sc->same && (sc->guarded == 1 || was_all);
    return 0;
}

/* What the kernel holds: the guarded sockets and the union of their addresses. */
static int survey(struct scan *sc)
{
    *sc = (struct scan){.same = true};
    return each_listener(survey_one, sc);
}

struct attach {
    const struct sock_filter *f;
    unsigned                  len;
    const uint16_t           *ports;    /* NULL: the guarded sockets; else these ports' */
    unsigned                  n_ports, done;
};

static bool wanted(const struct attach *a, int fd, int flen)
{
    struct sockaddr_in sin;
    socklen_t len = sizeof(sin);
    bool ours = flen > 0 && parse(back, (unsigned)flen, &parsed);

    if (!a->ports)
        return ours;
    if (getsockname(fd, (struct sockaddr *)&sin, &len) < 0 || sin.sin_family != AF_INET)
        return false;
    for (unsigned i = 0; i < a->n_ports; i++) {
        if (ntohs(sin.sin_port) != a->ports[i])
            continue;
        if (flen != 0 && !ours)
            phx_warn("ucx: UCX's TCP port %u has a socket filter not ours: left as it is",
                     a->ports[i]);
        return flen == 0 || ours;
    }
    return false;
}

static int attach_one(int fd, int flen, void *arg)
{
    struct attach *a = arg;
    struct sock_fprog fp = {.len = (unsigned short)a->len, .filter = (struct sock_filter *)a->f};

    if (!wanted(a, fd, flen))
        return 0;
    if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &fp, sizeof(fp)) < 0) {
        int e = errno;
        phx_error("ucx: cannot filter UCX's TCP port (fd %d): %s", fd, strerror(e));
        return -e;
    }
    a->done++;
    return 0;
}

/* Attaches the program admitting SET to the guarded sockets, or to the listeners on PORTS. */
static int apply(const struct ipset *set, const uint16_t *ports, unsigned n_ports)
{
    static struct sock_filter f[PROG_MAX];
    struct attach a = {.f = f, .len = build(set, f), .ports = ports, .n_ports = n_ports};
    int rc = each_listener(attach_one, &a);

    sh->gen++;
    if (rc == 0) {
        known = *set;
        known_gen = sh->gen;
    }
    return rc < 0 ? rc : (int)a.done;
}

int phx_ucx_portguard_ports(const uint16_t *ports, unsigned n)
{
    static struct scan sc;

    if (!lock())
        return -ENOMEM;
    int rc = survey(&sc);
    if (rc == 0)
        rc = apply(&sc.all, ports, n);
    pthread_mutex_unlock(&sh->lock);
    return rc;
}

/* Adds IP (network order) to the guarded sockets' programs. Under the lock. */
static int allow_ip(uint32_t ip)
{
    static struct scan sc;

    if (known_gen == sh->gen && has(&known, ip))
        return 0;
    int rc = survey(&sc);
    if (rc < 0 || sc.guarded == 0 || (has(&sc.all, ip) && sc.same))
        return rc;
    if (!has(&sc.all, ip) && sc.all.n == PHX_UCX_PORTGUARD_MAX) {
        if (!full_said)
            phx_error("ucx: UCX's TCP ports admit %u peer hosts already, the most they can: more "
                      "are refused there, so their connections fail; filter with the firewall "
                      "instead (settings.ucx.tcp_peers_only = false, docs/transport.md)",
                      PHX_UCX_PORTGUARD_MAX);
        full_said = true;
        return -ENOSPC;
    }
    if (!has(&sc.all, ip))
        sc.all.ip[sc.all.n++] = ip;
    rc = apply(&sc.all, NULL, 0);
    return rc < 0 ? rc : 0;
}

int phx_ucx_portguard_allow(const struct sockaddr *peer)
{
    uint32_t ip;

    if (peer->sa_family == AF_INET) {
        ip = ((const struct sockaddr_in *)peer)->sin_addr.s_addr;
    } else {
        const struct in6_addr *a6 = &((const struct sockaddr_in6 *)peer)->sin6_addr;
        if (peer->sa_family != AF_INET6 || !IN6_IS_ADDR_V4MAPPED(a6))
            return 0;
        memcpy(&ip, &a6->s6_addr[12], sizeof(ip));
    }
    if (!lock())
        return -ENOMEM;
    int rc = allow_ip(ip);
    pthread_mutex_unlock(&sh->lock);
    return rc;
}

int phx_ucx_portguard_allowed(uint32_t *out, unsigned max)
{
    static struct scan sc;

    if (!lock())
        return -ENOMEM;
    int rc = survey(&sc);
    if (rc == 0) {
        memcpy(out, sc.all.ip, (sc.all.n < max ? sc.all.n : max) * sizeof(*out));
        rc = (int)sc.all.n;
    }
    pthread_mutex_unlock(&sh->lock);
    return rc;
}
