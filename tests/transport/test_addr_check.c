/* test_addr_check.c - the worker-address validator (transports/ucx/ucx_addr_check.c) against
 * the addresses UCX 1.13 itself makes, and against what a hostile peer could send instead.
 *
 * Real addresses: workers with several transport lists and both address versions, with and
 * without the debug name; each must pass, come through phx_ucx_waddr_reachable() unchanged for a
 * peer on this host, and without any same-host record (and still valid) for one elsewhere. Then,
 * from each: every truncation, a trailing byte, and every byte flipped (xor 0xff, xor 0x01)
 * must be refused, or, when accepted, give copies (for a peer here and elsewhere) that
 * ucp_ep_create() takes without crashing. That runs
 * in a forked child in its own network and IPC namespaces (so flipped ports and segment ids
 * reach nobody's), with its own UCX context; at most MAX_CHILDREN such children. Also 64 bytes
 * of 0xff (the tester's abort) and the same-host checksums against libucs' ucs_crc16_string().
 * With directories as arguments (a fuzzer's corpus: fuzz_waddr), every file in them the check
 * accepts goes to ucp_ep_create() the same way instead. */
#include "ucx_addr_check.h"

#include <dirent.h>
#include <errno.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <ucp/api/ucp.h>
#include <ucs/algorithm/crc.h>
#include <unistd.h>

#define MAX_CHILDREN 4000
#define ADDR_MAX     2048

static int failures, children;

#define CHECK(cond, ...)                                                                       \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                               \
            fprintf(stderr, __VA_ARGS__);                                                      \
            fputc('\n', stderr);                                                               \
            failures++;                                                                        \
        }                                                                                      \
    } while (0)

struct worker {
    ucp_context_h ctx;
    ucp_worker_h  w;
};

/* A context and worker with UCX_TLS=TLS and the other knobs in KV (NULL-ended pairs). */
static int worker_open(struct worker *wk, const char *tls, const char *const *kv)
{
    ucp_params_t p = {.field_mask = UCP_PARAM_FIELD_FEATURES,
                      .features = UCP_FEATURE_AM | UCP_FEATURE_WAKEUP};
    ucp_worker_params_t wp = {.field_mask = UCP_WORKER_PARAM_FIELD_THREAD_MODE,
                              .thread_mode = UCS_THREAD_MODE_SINGLE};
    ucp_config_t *cfg;

    if (ucp_config_read(NULL, NULL, &cfg) != UCS_OK)
        return -1;
    ucp_config_modify(cfg, "TLS", tls);
    ucp_config_modify(cfg, "NET_DEVICES", "lo");
    for (; kv && kv[0]; kv += 2)
        ucp_config_modify(cfg, kv[0], kv[1]);
    ucs_status_t st = ucp_init(&p, cfg, &wk->ctx);
    ucp_config_release(cfg);
    if (st != UCS_OK)
        return -1;
    if (ucp_worker_create(wk->ctx, &wp, &wk->w) != UCS_OK) {
        ucp_cleanup(wk->ctx);
        return -1;
    }
    return 0;
}

static void worker_close(struct worker *wk)
{
    ucp_worker_destroy(wk->w);
    ucp_cleanup(wk->ctx);
}

/* WK's address into OUT; its length, or 0. */
static size_t worker_address(struct worker *wk, uint8_t *out)
{
    ucp_worker_attr_t a = {.field_mask = UCP_WORKER_ATTR_FIELD_ADDRESS};

    if (ucp_worker_query(wk->w, &a) != UCS_OK)
        return 0;
    size_t n = a.address_length <= ADDR_MAX ? a.address_length : 0;
    memcpy(out, a.address, n);
    ucp_worker_release_address(wk->w, a.address);
    return n;
}

/* In a child: its own network and IPC namespaces, with lo up. */
static int isolate(void)
{
    struct ifreq ifr = {0};
    int fd;

    if (unshare(CLONE_NEWNET | CLONE_NEWIPC) != 0)
        return -1;
    if ((fd = socket(AF_INET, SOCK_DGRAM, 0)) < 0)
        return -1;
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
    int rc = ioctl(fd, SIOCGIFFLAGS, &ifr);
    ifr.ifr_flags |= IFF_UP;
    if (rc == 0)
        rc = ioctl(fd, SIOCSIFFLAGS, &ifr);
    close(fd);
    return rc;
}

/* Whether ucp_ep_create() to the LEN bytes at A returns (any status) rather than killing the
 * process: tried in an isolated child. */
static bool ep_create_survives(const uint8_t *a, size_t len)
{
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();

    if (pid == 0) {
        struct worker wk;
        alarm(30);
        if (isolate() < 0)
            _exit(3);
        if (worker_open(&wk, "tcp,sm,self", NULL) < 0)
            _exit(4);
        ucp_ep_params_t p = {.field_mask = UCP_EP_PARAM_FIELD_REMOTE_ADDRESS,
                             .address = (const ucp_address_t *)a};
        ucp_ep_h ep;
        (void)ucp_ep_create(wk.w, &p, &ep);
        _exit(0);
    }
    int status = 0;
    children++;
    if (pid < 0 || waitpid(pid, &status, 0) != pid)
        return false;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fprintf(stderr, "  child: %s %d (%zu bytes)\n",
                WIFSIGNALED(status) ? "signal" : "exit",
                WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status), len);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

static bool has_shm(const uint8_t *a, size_t len);

/* A real address: passes; unchanged for a local peer; without same-host records elsewhere. */
static void real_address(const char *name, const uint8_t *a, size_t len)
{
    uint8_t out[ADDR_MAX];
    char why[256] = "";

    CHECK(phx_ucx_waddr_check(a, len, why, sizeof(why)) == 0, "%s refused: %s", name, why);
    size_t n = phx_ucx_waddr_reachable(a, len, true, out, sizeof(out), why, sizeof(why));
    CHECK(n == len && memcmp(out, a, len) == 0, "%s: changed for a local peer", name);
    n = phx_ucx_waddr_reachable(a, len, false, out, sizeof(out), why, sizeof(why));
    if (!has_shm(a, len)) {
        CHECK(n == len && memcmp(out, a, len) == 0, "%s: changed without shm records", name);
        return;
    }
    if (n == 0) {       /* only same-host transports: refused for a remote peer, with a reason */
        CHECK(strstr(why, "same-host") != NULL, "%s: remote refusal says '%s'", name, why);
        CHECK(ep_create_survives(a, len), "%s: ucp_ep_create on the local copy died", name);
        return;
    }
    CHECK(n < len && !has_shm(out, n), "%s: shm records left for a remote peer", name);
    CHECK(phx_ucx_waddr_check(out, n, why, sizeof(why)) == 0, "%s: remote copy invalid: %s",
          name, why);
    CHECK(ep_create_survives(out, n), "%s: ucp_ep_create on the remote copy died", name);
}

/* Whether the address has a same-host record: the transports left when not LOCAL differ. */
static bool has_shm(const uint8_t *a, size_t len)
{
    uint8_t out[ADDR_MAX];
    char why[256];
    size_t n = phx_ucx_waddr_reachable(a, len, false, out, sizeof(out), why, sizeof(why));

    return n != len || memcmp(out, a, len) != 0;
}

static void truncations(const char *name, const uint8_t *a, size_t len)
{
    uint8_t buf[ADDR_MAX + 1];
    char why[256];

    for (size_t n = 0; n < len; n++) {
        uint8_t *copy = malloc(n ? n : 1);  /* exactly N bytes: ASan sees any overread */
        if (copy)
            memcpy(copy, a, n);
        CHECK(copy && phx_ucx_waddr_check(copy, n, why, sizeof(why)) != 0,
              "%s cut to %zu passed", name, n);
        free(copy);
    }
    memcpy(buf, a, len);
    buf[len] = 0;
    CHECK(phx_ucx_waddr_check(buf, len + 1, why, sizeof(why)) != 0 && strstr(why, "after"),
          "%s with a trailing byte passed (%s)", name, why);
}

/* Each byte xor MASK: refused, or accepted and survivable by UCX (local and remote copies). */
static void flips(const char *name, const uint8_t *a, size_t len, uint8_t mask)
{
    uint8_t buf[ADDR_MAX], out[ADDR_MAX];
    char why[256];
    unsigned accepted = 0, refused = 0;

    for (size_t i = 0; i < len; i++) {
        memcpy(buf, a, len);
        buf[i] ^= mask;
        if (phx_ucx_waddr_check(buf, len, why, sizeof(why)) != 0) {
            refused++;
            continue;
        }
        accepted++;
        for (int local = 0; local <= 1 && children < MAX_CHILDREN; local++) {
            size_t n = phx_ucx_waddr_reachable(buf, len, local, out, sizeof(out), why,
                                               sizeof(why));
            if (n)
                CHECK(ep_create_survives(out, n), "%s byte %zu ^ 0x%02x (%s): UCX died", name,
                      i, mask, local ? "local" : "remote");
        }
    }
    printf("  %s ^0x%02x: %u refused, %u accepted\n", name, mask, refused, accepted);
    CHECK(refused > 0, "%s: no flip refused", name);
}

/* The first crash past the parser (found by feeding the fuzzer's finds to UCX): the tcp-only
 * address A with its device address left out, which ucp_ep_create() dereferenced as NULL. */
static void empty_device(const uint8_t *a, size_t len)
{
    uint8_t cut[ADDR_MAX];
    char why[256] = "";
    size_t dev_len = a[10] & 0x1fu;     /* v1: header 1, uuid 8, md 1, device length 1 */

    CHECK(len == 50 && a[0] == 0x20 && dev_len == 18, "the tcp address is not as expected");
    if (len != 50 || dev_len != 18)
        return;
    memcpy(cut, a, 11);
    cut[10] = 0x80;                     /* LAST, no device address */
    memcpy(cut + 11, a + 11 + dev_len, len - 11 - dev_len);
    CHECK(phx_ucx_waddr_check(cut, len - dev_len, why, sizeof(why)) != 0 && strstr(why, "tcp"),
          "a tcp record without its device address passed (%s)", why);
}

/* An InfiniBand record (rc_verbs), made from the tcp-only address A (header, uuid, one device,
 * one transport): with a DEV_LEN-byte device address and a 3-byte interface address (a QP). */
static size_t rdma_address(const uint8_t *a, uint8_t *out, unsigned dev_len)
{
    size_t at = 0;

    memcpy(out, a, 10);                         /* v1 header, uuid, md byte */
    at = 10;
    out[at++] = (uint8_t)(0x80u | dev_len);     /* LAST device, its length */
    memset(out + at, 0x5a, dev_len);
    at += dev_len;
    uint16_t csum = ucs_crc16_string("rc_verbs");
    memcpy(out + at, &csum, 2);
    memcpy(out + at + 2, a + 11 + 18 + 2, 16);  /* the tcp record's attributes */
    at += 18;
    out[at++] = 0x80u | 3u;                     /* LAST transport, 3-byte interface address */
    memset(out + at, 0x11, 3);
    return at + 3;
}

/* A tcp record of IPv4 address IP (no loopback flag, port 4242), made from the tcp-only A. */
static size_t tcp_ip_address(const uint8_t *a, uint8_t *out, const uint8_t ip[4])
{
    size_t at = 10;                             /* v1 header, uuid, md byte */

    memcpy(out, a, at);
    out[at++] = 0x80u | 6u;                     /* LAST device: flags, family, 4 bytes */
    out[at++] = 0;
    out[at++] = 2;                              /* AF_INET */
    memcpy(out + at, ip, 4);
    at += 4;
    memcpy(out + at, a + 11 + 18, 18);          /* the tcp record's checksum and attributes */
    at += 18;
    out[at++] = 0x80u | 2u;                     /* LAST transport, the port */
    out[at++] = 0x10;
    out[at++] = 0x92;
    return at;
}

/* A peer on another host may not point UCX at this host's loopback or unspecified address
 * (UCX would connect to a port of ours); one on this host may, and any other IP is kept. The
 * tcp records read back (phx_ucx_waddr_tcp(), ucx_portguard.h) with their port, and their
 * address only when it is not this host's loopback. */
static void tcp_host_only(const uint8_t *a, size_t len)
{
    static const uint8_t lo[4] = { 127, 0, 0, 1 }, any[4] = { 0 }, other[4] = { 10, 1, 2, 3 };
    uint8_t in[ADDR_MAX], out[ADDR_MAX];
    char why[256] = "";
    size_t n;

    if (len != 50)
        return;
    n = tcp_ip_address(a, in, other);
    CHECK(phx_ucx_waddr_check(in, n, why, sizeof(why)) == 0, "a tcp record of 10.1.2.3: %s", why);
    CHECK(phx_ucx_waddr_reachable(in, n, false, out, sizeof(out), why, sizeof(why)) == n,
          "a tcp record of 10.1.2.3 from another host was dropped (%s)", why);
    struct phx_ucx_waddr_tcp tcp[2];
    uint32_t ip;
    memcpy(&ip, other, 4);
    CHECK(phx_ucx_waddr_tcp(in, n, tcp, 2) == 1 && tcp[0].port == 4242 && tcp[0].ipv4 == ip,
          "the tcp record of 10.1.2.3 reads as port %u, address %08x", tcp[0].port,
          tcp[0].ipv4);
    n = tcp_ip_address(a, in, lo);
    CHECK(phx_ucx_waddr_tcp(in, n, tcp, 2) == 1 && tcp[0].port == 4242 && tcp[0].ipv4 == 0,
          "the tcp record of 127.0.0.1 reads with an address (%08x)", tcp[0].ipv4);
    CHECK(phx_ucx_waddr_tcp(in, n - 1, tcp, 2) == -EINVAL, "a cut record reads");
    CHECK(phx_ucx_waddr_reachable(in, n, false, out, sizeof(out), why, sizeof(why)) == 0,
          "a tcp record of 127.0.0.1 from another host was kept");
    CHECK(phx_ucx_waddr_reachable(in, n, true, out, sizeof(out), why, sizeof(why)) == n,
          "a tcp record of 127.0.0.1 from this host was dropped (%s)", why);
    n = tcp_ip_address(a, in, any);
    CHECK(phx_ucx_waddr_reachable(in, n, false, out, sizeof(out), why, sizeof(why)) == 0,
          "a tcp record of 0.0.0.0 from another host was kept");
}

/* RDMA records reach UCX from a peer on another host (else services could not use an HCA
 * between them), but not without a device address. */
static void rdma_record(const uint8_t *a, size_t len)
{
    uint8_t in[ADDR_MAX], out[ADDR_MAX];
    char why[256] = "";

    if (len != 50)
        return;                                 /* empty_device() said so */
    size_t n = rdma_address(a, in, 4);
    CHECK(phx_ucx_waddr_check(in, n, why, sizeof(why)) == 0, "an rc_verbs record: %s", why);
    CHECK(phx_ucx_waddr_reachable(in, n, false, out, sizeof(out), why, sizeof(why)) == n &&
          memcmp(in, out, n) == 0, "an rc_verbs record from another host was dropped (%s)", why);
    n = rdma_address(a, in, 0);
    CHECK(phx_ucx_waddr_check(in, n, why, sizeof(why)) != 0 && strstr(why, "InfiniBand"),
          "an rc_verbs record without a device address passed (%s)", why);
}

static void garbage(void)
{
    uint8_t ff[64], zero[64] = {0};
    char why[256] = "";

    memset(ff, 0xff, sizeof(ff));
    CHECK(phx_ucx_waddr_check(ff, sizeof(ff), why, sizeof(why)) != 0 && strstr(why, "version"),
          "0xff*64 passed (%s)", why);
    CHECK(phx_ucx_waddr_check(zero, sizeof(zero), why, sizeof(why)) != 0, "zeros passed");
    CHECK(phx_ucx_waddr_check(NULL, 0, why, sizeof(why)) != 0, "nothing passed");
}

static void checksums(void)
{
    static const struct { const char *name; enum phx_ucx_tl kind; } tls[] = {
        {"tcp", PHX_UCX_TL_TCP},     {"self", PHX_UCX_TL_SELF},   {"posix", PHX_UCX_TL_POSIX},
        {"sysv", PHX_UCX_TL_SYSV},   {"cma", PHX_UCX_TL_CMA},     {"xpmem", PHX_UCX_TL_XPMEM},
        {"knem", PHX_UCX_TL_KNEM},   {"rc_verbs", PHX_UCX_TL_RDMA},
        {"ud_verbs", PHX_UCX_TL_RDMA}, {"rc_mlx5", PHX_UCX_TL_RDMA},
        {"dc_mlx5", PHX_UCX_TL_RDMA},  {"ud_mlx5", PHX_UCX_TL_RDMA},  {"gga_mlx5", PHX_UCX_TL_OTHER},
    };

    for (size_t i = 0; i < sizeof(tls) / sizeof(tls[0]); i++)
        CHECK(phx_ucx_waddr_tl_of(ucs_crc16_string(tls[i].name)) == tls[i].kind,
              "%s's checksum %04x is not told apart", tls[i].name,
              ucs_crc16_string(tls[i].name));
}

/* Every file in DIR that the check accepts: UCX survives its local and remote copies. */
static void corpus(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    unsigned tried = 0;

    CHECK(d != NULL, "cannot open %s", dir);
    while (d && (e = readdir(d)) && children < MAX_CHILDREN) {
        static uint8_t a[ADDR_MAX], out[ADDR_MAX];
        char path[4096], why[256];
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        FILE *f = e->d_name[0] == '.' ? NULL : fopen(path, "rb");
        size_t len = f ? fread(a, 1, sizeof(a), f) : 0;
        if (f)
            fclose(f);
        if (!len || phx_ucx_waddr_check(a, len, why, sizeof(why)) != 0)
            continue;
        tried++;
        for (int local = 0; local <= 1; local++) {
            size_t n = phx_ucx_waddr_reachable(a, len, local, out, sizeof(out), why,
                                               sizeof(why));
            if (n)
                CHECK(ep_create_survives(out, n), "%s (%s): UCX died", path,
                      local ? "local" : "remote");
        }
    }
    if (d)
        closedir(d);
    printf("%s: %u accepted files tried\n", dir, tried);
}

struct variant {
    const char *name, *tls;
    const char *kv[5];
};

int main(int argc, char **argv)
{
    static const struct variant vs[] = {
        {"tcp v1", "tcp", {NULL}},
        {"tcp,sm,self v1", "tcp,sm,self", {NULL}},
        {"tcp,sm,self v2", "tcp,sm,self", {"ADDRESS_VERSION", "v2", NULL}},
        {"tcp,sm v1 debug", "tcp,sm", {"ADDRESS_DEBUG_INFO", "y", NULL}},
        {"tcp,sm v2 debug", "tcp,sm", {"ADDRESS_VERSION", "v2", "ADDRESS_DEBUG_INFO", "y", NULL}},
        {"posix", "posix", {NULL}},
        {"sysv", "sysv", {NULL}},
        {"cma", "cma", {NULL}},
    };
    static uint8_t addrs[8][ADDR_MAX];
    size_t lens[8];

    signal(SIGPIPE, SIG_IGN);
    if (argc > 1) {
        for (int i = 1; i < argc; i++)
            corpus(argv[i]);
        printf("%d children ran ucp_ep_create\n", children);
        return failures ? 1 : 0;
    }
    checksums();
    garbage();
    for (size_t i = 0; i < 8; i++) {
        struct worker wk;
        if (worker_open(&wk, vs[i].tls, vs[i].kv) < 0) {
            CHECK(0, "%s: no UCX worker", vs[i].name);
            continue;
        }
        lens[i] = worker_address(&wk, addrs[i]);
        worker_close(&wk);
        CHECK(lens[i] > 0, "%s: no address", vs[i].name);
        if (!lens[i])
            continue;
        printf("%s: %zu bytes\n", vs[i].name, lens[i]);
        real_address(vs[i].name, addrs[i], lens[i]);
        truncations(vs[i].name, addrs[i], lens[i]);
    }
    if (lens[0]) {
        empty_device(addrs[0], lens[0]);
        rdma_record(addrs[0], lens[0]);
        tcp_host_only(addrs[0], lens[0]);
    }
    /* Flips of the richest addresses of each version (every record kind is in them). */
    for (size_t i = 1; i <= 4; i++) {
        if (!lens[i])
            continue;
        flips(vs[i].name, addrs[i], lens[i], 0xff);
        flips(vs[i].name, addrs[i], lens[i], 0x01);
    }
    printf("%d children ran ucp_ep_create\n", children);
    CHECK(children > 0, "no accepted address was tried on UCX");
    if (failures)
        fprintf(stderr, "%d failures\n", failures);
    else
        printf("all passed\n");
    return failures ? 1 : 0;
}
