/* test_daemon.c - phoenixd end to end: the built daemon, the loopback plugin and real apps.
 *
 * Each case starts its own phoenixd (daemon_cases.h: the build's binary, --foreground, a private
 * prefix under $TMPDIR, the configuration generated next to this test or a variant of it) and
 * stops it by PID. Apps are forked children that register through client.h and stream
 * descriptors through the "loopback" service, which hands every submission back as a
 * completion; they report through exit codes and a shared counter. The cases:
 *
 *   stream      two apps each push 1,000,000 descriptors with seq numbers and get them back in
 *               order, through full rings (back-pressure), some naming real messages in the send
 *               heap and one naming memory outside it (which must come back as an ERROR)
 *   kill        an app killed by SIGKILL mid-stream vanishes from List, and the daemon's fds and
 *               memfd mappings return to what they were; the other app streams on
 *   bad input   garbage, truncated, oversized and empty datagrams, an unknown service, an admin
 *               request from an unprivileged uid: each gets a clear error and the next valid
 *               request on the same connection works; an fd-carrying one is refused by the
 *               kernel (test_daemon_fds.c has the rest); an app corrupting its ring is dropped
 *   sigterm     a registered app sees SHUTDOWN, then -EPIPE; phoenixd exits 0 within 2 s
 *   spin env    a malformed PHOENIX_CLIENT_SPIN_US fails registration with a sentence
 *   idle        an idle phoenixd with one idle app uses < 0.5% of a core over 10 s (printed)
 *
 * The command line, configuration and reload are test_daemon_lifecycle.c's; placement is
 * test_daemon_placement.c's. Every wait is bounded; every process started is stopped by PID and
 * reaped. */
#include "daemon_cases.h"
#include "phoenix/fdpass.h"
#include "phoenix/status.h"

#include <dirent.h>
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#define STREAM_TOTAL   1000000ull
#define STREAM_BATCH   256u
#define MSG_EVERY      4096u        /* every Nth descriptor names a real message */
#define APP_DEADLINE   (120 * PHX_NS)

/* ---- small helpers ------------------------------------------------------------------------ */

static unsigned proc_count_fds(pid_t pid)
{
    char path[64];
    unsigned n = 0;

    snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
    DIR *d = opendir(path);
    if (!d)
        return 0;
    for (struct dirent *e; (e = readdir(d));)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

/* PID's fd count once it has stopped changing (connections being closed settle first). */
static unsigned proc_count_fds_settled(pid_t pid)
{
    unsigned last = proc_count_fds(pid), same = 0;

    for (int i = 0; i < 100 && same < 3; i++) {
        phx_test_sleep_ms(20);
        unsigned now = proc_count_fds(pid);
        same = now == last ? same + 1 : 0;
        last = now;
    }
    return last;
}

/* Mappings of memfds (rings and heaps) in PID's address space. */
static unsigned proc_count_memfd_maps(pid_t pid)
{
    char path[64];
    size_t len;
    unsigned n = 0;

    snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
    char *text = read_text(path, &len);
    for (char *p = text; p && (p = strstr(p, "/memfd:")); p++)
        n++;
    free(text);
    return n;
}

static long proc_status_kb(pid_t pid, const char *key)
{
    char path[64];
    size_t len;
    long kb = -1;

    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    char *text = read_text(path, &len);
    char *p = text ? strstr(text, key) : NULL;
    if (p)
        kb = strtol(p + strlen(key) + 1, NULL, 10);
    free(text);
    return kb;
}

/* utime + stime of PID, in clock ticks. */
static unsigned long long proc_cpu_ticks(pid_t pid)
{
    char path[64];
    size_t len;
    unsigned long long utime = 0, stime = 0;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    char *text = read_text(path, &len);
    char *p = text ? strrchr(text, ')') : NULL;   /* the command may contain spaces */
    if (p)
        sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime);
    free(text);
    return utime + stime;
}

/* ---- control requests ---------------------------------------------------------------------- */

static Phoenix__Control__Response *list(const char *prefix)
{
    Phoenix__Control__Request req = PHOENIX__CONTROL__REQUEST__INIT;
    Phoenix__Control__ListRequest body = PHOENIX__CONTROL__LIST_REQUEST__INIT;
    char err[256];
    int sock = phx_control_connect(prefix, err, sizeof(err));

    if (sock < 0)
        return NULL;
    req.id = 7;
    req.body_case = PHOENIX__CONTROL__REQUEST__BODY_LIST;
    req.list = &body;
    Phoenix__Control__Response *resp = control_call(sock, &req, NULL, NULL, 0);
    close(sock);
    return resp;
}

/* Subscriptions the daemon lists for PID (all when PID is 0); -1 when List is refused. */
static int listed(const char *prefix, pid_t pid)
{
    Phoenix__Control__Response *resp = list(prefix);
    int n = -1;

    if (resp && resp->status == PHX_OK && resp->body_case == PHOENIX__CONTROL__RESPONSE__BODY_LIST) {
        n = 0;
        for (size_t i = 0; i < resp->list->n_subscriptions; i++)
            n += !pid || resp->list->subscriptions[i]->pid == (uint32_t)pid;
    }
    if (resp)
        phoenix__control__response__free_unpacked(resp, NULL);
    return n;
}

/* ---- a streaming app (in a child) ---------------------------------------------------------- */

struct stream_shared {
    uint64_t received;      /* completions checked so far */
    int      stop;          /* parent: finish what is in flight and exit */
};

enum {
    APP_OK = 0, APP_REGISTER = 10, APP_SUBMIT, APP_WAIT, APP_ORDER, APP_MESSAGE, APP_HEAP,
    APP_DEADLINE_HIT, APP_BAD_DESC,
};

/* Builds submission SEQ: every MSG_EVERY-th one names a message in the send heap. */
static int make_desc(phx_client_t *c, uint64_t seq, phx_desc_t *d)
{
    *d = (phx_desc_t){ .kind = PHX_DESC_DATA, .seq = seq, .call_id = seq, .user = ~seq };
    if (seq % MSG_EVERY)
        return 0;
    char *msg = phx_heap_alloc(phx_client_send_heap(c), 64);
    if (!msg)
        return -1;
    snprintf(msg, 64, "message %llu", (unsigned long long)seq);
    d->addr = (uintptr_t)msg;
    d->len = 64;
    return 0;
}

static int check_completion(phx_client_t *c, const phx_desc_t *d, uint64_t expect)
{
    char want[64];

    if (d->kind != PHX_DESC_DATA || d->seq != expect || d->user != ~expect)
        return APP_ORDER;
    if (!d->len)
        return APP_OK;
    snprintf(want, sizeof(want), "message %llu", (unsigned long long)expect);
    if (strcmp((const char *)(uintptr_t)d->addr, want) != 0)
        return APP_MESSAGE;
    phx_heap_free(phx_client_send_heap(c), (void *)(uintptr_t)d->addr);
    return APP_OK;
}

/* Submits as many of [*sent, limit) as fit. */
static int submit_some(phx_client_t *c, uint64_t *sent, uint64_t limit)
{
    phx_desc_t batch[STREAM_BATCH];
    unsigned n = limit - *sent < STREAM_BATCH ? (unsigned)(limit - *sent) : STREAM_BATCH;

    for (unsigned i = 0; i < n; i++)
        if (make_desc(c, *sent + i, &batch[i]) < 0)
            return -APP_HEAP;
    int pushed = phx_client_submit(c, batch, n);
    if (pushed < 0)
        return -APP_SUBMIT;
    for (unsigned i = (unsigned)pushed; i < n; i++)     /* did not fit: give the memory back */
        if (batch[i].len)
            phx_heap_free(phx_client_send_heap(c), (void *)(uintptr_t)batch[i].addr);
    *sent += (unsigned)pushed;
    return pushed;
}

/* A descriptor naming memory outside the send heap must come back as INVALID_ARGUMENT. */
static int check_bad_desc(phx_client_t *c)
{
    phx_desc_t d = { .kind = PHX_DESC_DATA, .addr = 0x1000, .len = 64, .seq = 77 };

    if (phx_client_submit(c, &d, 1) != 1 || phx_client_wait(c, &d, 1, 5000) != 1)
        return APP_BAD_DESC;
    return d.kind == PHX_DESC_ERROR && d.status == PHX_INVALID_ARGUMENT && d.seq == 77
               ? APP_OK : APP_BAD_DESC;
}

/* Streams TOTAL descriptors (0: until sh->stop) and checks every completion. */
static int stream_app(const char *prefix, uint64_t total, struct stream_shared *sh)
{
    char err[512];
    phx_client_t *c = app_register(prefix, err, sizeof(err));
    uint64_t sent = 0, expect = 0;
    unsigned long long deadline = phx_test_now_ns() + APP_DEADLINE;
    int rc = APP_OK;

    if (!c) {
        fprintf(stderr, "app: %s\n", err);
        return APP_REGISTER;
    }
    for (;;) {
        bool stopping = total ? sent == total : __atomic_load_n(&sh->stop, __ATOMIC_ACQUIRE);
        if (stopping && expect == sent)
            break;
        if (phx_test_now_ns() > deadline) {
            rc = APP_DEADLINE_HIT;
            break;
        }
        int pushed = stopping ? 0 : submit_some(c, &sent, total ? total : UINT64_MAX);
        if (pushed < 0) {
            rc = -pushed;
            break;
        }
        phx_desc_t done[STREAM_BATCH];
        int n = pushed ? phx_client_poll(c, done, STREAM_BATCH)
                       : phx_client_wait(c, done, STREAM_BATCH, 1000);
        if (n < 0) {
            rc = APP_WAIT;
            break;
        }
        for (int i = 0; i < n && rc == APP_OK; i++)
            rc = check_completion(c, &done[i], expect++);
        if (rc != APP_OK)
            break;
        __atomic_store_n(&sh->received, expect, __ATOMIC_RELEASE);
    }
    if (rc == APP_OK)
        rc = check_bad_desc(c);
    phx_client_close(c);
    return rc;
}

static struct stream_shared *shared_new(void)
{
    void *p = mmap(NULL, sizeof(struct stream_shared), PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    CU_ASSERT_FATAL(p != MAP_FAILED);
    return p;
}

static pid_t start_stream_app(const char *prefix, uint64_t total, struct stream_shared *sh)
{
    pid_t pid = fork();
    CU_ASSERT_FATAL(pid >= 0);
    if (pid == 0)
        _exit(stream_app(prefix, total, sh));
    return pid;
}

static bool wait_received(struct stream_shared *sh, uint64_t at_least, unsigned timeout_ms)
{
    unsigned long long deadline = phx_test_now_ns() + (unsigned long long)timeout_ms * 1000000;
    while (__atomic_load_n(&sh->received, __ATOMIC_ACQUIRE) < at_least) {
        if (phx_test_now_ns() > deadline)
            return false;
        phx_test_sleep_ms(5);
    }
    return true;
}

/* ---- (a) two apps stream a million descriptors each ------------------------------------- */

static void test_stream(void)
{
    struct phx_daemon d;
    struct stream_shared *sh[2] = { shared_new(), shared_new() };
    pid_t app[2];

    CU_ASSERT_FATAL(daemon_start(&d, "stream", NULL, NULL));
    unsigned long long t0 = phx_test_now_ns();
    for (int i = 0; i < 2; i++)
        app[i] = start_stream_app(d.prefix, STREAM_TOTAL, sh[i]);
    for (int i = 0; i < 2; i++) {
        int code = phx_test_reap(app[i], APP_DEADLINE + 10 * PHX_NS);
        CU_ASSERT_EQUAL(code, APP_OK);
        CU_ASSERT_EQUAL(sh[i]->received, STREAM_TOTAL);
    }
    printf("\n    2 apps x %llu descriptors round trip in %.2f s\n", STREAM_TOTAL,
           (double)(phx_test_now_ns() - t0) / PHX_NS);
    CU_ASSERT_EQUAL(phx_daemon_stop(&d, SIGTERM), 0);
    phx_daemon_cleanup(&d);
    munmap(sh[0], sizeof(*sh[0]));
    munmap(sh[1], sizeof(*sh[1]));
}

/* ---- (b) an app killed mid-stream leaves nothing behind ------------------------------------ */

struct footprint {
    unsigned fds, memfd_maps;
    long     rss_kb;
};

static void footprint_take(pid_t pid, struct footprint *f)
{
    f->fds = proc_count_fds_settled(pid);
    f->memfd_maps = proc_count_memfd_maps(pid);
    f->rss_kb = proc_status_kb(pid, "VmRSS:");
}

/* Waits until the daemon's fds and memfd maps are back to BASE. */
static bool footprint_back_to(pid_t pid, const struct footprint *base, struct footprint *now)
{
    unsigned long long deadline = phx_test_now_ns() + 5 * PHX_NS;
    do {
        footprint_take(pid, now);
        if (now->fds == base->fds && now->memfd_maps == base->memfd_maps)
            return true;
        phx_test_sleep_ms(10);
    } while (phx_test_now_ns() < deadline);
    return false;
}

static bool wait_listed(const char *prefix, pid_t pid, int want)
{
    unsigned long long deadline = phx_test_now_ns() + 5 * PHX_NS;
    do {
        if (listed(prefix, pid) == want)
            return true;
        phx_test_sleep_ms(10);
    } while (phx_test_now_ns() < deadline);
    return false;
}

static void test_kill_app(void)
{
    struct phx_daemon d;
    struct stream_shared *keep = shared_new(), *victim = shared_new();
    struct footprint base, busy, after;
    bool can_list = getuid() == 0;

    CU_ASSERT_FATAL(daemon_start(&d, "kill", NULL, NULL));
    pid_t b = start_stream_app(d.prefix, 0, keep);
    CU_ASSERT(wait_received(keep, 10000, 20000));
    footprint_take(d.pid, &base);
    pid_t a = start_stream_app(d.prefix, 0, victim);
    CU_ASSERT(wait_received(victim, 10000, 20000));
    footprint_take(d.pid, &busy);
    CU_ASSERT_EQUAL(busy.fds, base.fds + 6);            /* socket, 3 memfds, 2 eventfds */
    CU_ASSERT_EQUAL(busy.memfd_maps, base.memfd_maps + 3);
    if (can_list) {
        CU_ASSERT_EQUAL(listed(d.prefix, a), 1);
        CU_ASSERT_EQUAL(listed(d.prefix, 0), 2);
    }

    kill(a, SIGKILL);
    CU_ASSERT_EQUAL(phx_test_reap(a, 5 * PHX_NS), 128 + SIGKILL);
    if (can_list) {
        CU_ASSERT(wait_listed(d.prefix, a, 0));
        CU_ASSERT_EQUAL(listed(d.prefix, b), 1);
    } else {
        phx_test_skip("List needs root (admin_group is \"\"); fds and maps still checked");
    }
    CU_ASSERT(footprint_back_to(d.pid, &base, &after));
    printf("\n    daemon fds %u -> %u -> %u, memfd maps %u -> %u -> %u, VmRSS %ld -> %ld -> %ld kB\n",
           base.fds, busy.fds, after.fds, base.memfd_maps, busy.memfd_maps, after.memfd_maps,
           base.rss_kb, busy.rss_kb, after.rss_kb);
    CU_ASSERT(after.rss_kb <= base.rss_kb + 2048);

    uint64_t before = __atomic_load_n(&keep->received, __ATOMIC_ACQUIRE);
    CU_ASSERT(wait_received(keep, before + 100000, 20000));     /* the other app goes on */
    __atomic_store_n(&keep->stop, 1, __ATOMIC_RELEASE);
    CU_ASSERT_EQUAL(phx_test_reap(b, 20 * PHX_NS), APP_OK);
    CU_ASSERT_EQUAL(phx_daemon_stop(&d, SIGTERM), 0);
    phx_daemon_cleanup(&d);
    munmap(keep, sizeof(*keep));
    munmap(victim, sizeof(*victim));
}

/* ---- (c) bad input on the control socket --------------------------------------------------- */

/* Receives one response on SOCK (bounded); NULL if none. */
static Phoenix__Control__Response *recv_response(int sock)
{
    static uint8_t buf[PHX_CONTROL_MAX_RESPONSE];
    int fds[PHX_SOCK_MAX_FDS];
    unsigned nfds = 0;
    struct timeval tv = { .tv_sec = 5 };

    setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    ssize_t n = phx_sock_recv(sock, buf, sizeof(buf), fds, &nfds, PHX_SOCK_MAX_FDS);
    for (unsigned i = 0; i < nfds; i++)
        close(fds[i]);
    return n > 0 ? phoenix__control__response__unpack(NULL, (size_t)n, buf) : NULL;
}

/* Sends raw bytes; expects INVALID_ARGUMENT "malformed request: ...". */
static void expect_malformed(int sock, const void *buf, size_t len, const char *what)
{
    ssize_t sent = phx_sock_send(sock, buf, len, NULL, 0);
    CU_ASSERT_EQUAL(sent, (ssize_t)len);
    Phoenix__Control__Response *resp = recv_response(sock);
    CU_ASSERT_PTR_NOT_NULL_FATAL(resp);
    CU_ASSERT_EQUAL(resp->status, PHX_INVALID_ARGUMENT);
    CU_ASSERT(strncmp(resp->error, "malformed request: ", 19) == 0);
    printf("\n    %-14s -> %s: %s", what, phx_status_name(resp->status), resp->error);
    phoenix__control__response__free_unpacked(resp, NULL);
}

/* A valid request on SOCK works: registering gives OK and five descriptors. */
static void expect_register_works(int sock, uint64_t id)
{
    Phoenix__Control__Request req;
    Phoenix__Control__Register reg;
    int fds[PHX_SOCK_MAX_FDS];
    unsigned nfds = 0;

    make_register(&req, &reg, "loopback", id);
    Phoenix__Control__Response *resp = control_call(sock, &req, fds, &nfds, PHX_SOCK_MAX_FDS);
    CU_ASSERT_PTR_NOT_NULL_FATAL(resp);
    CU_ASSERT_EQUAL(resp->status, PHX_OK);
    CU_ASSERT_EQUAL(resp->body_case, PHOENIX__CONTROL__RESPONSE__BODY_REGISTER);
    CU_ASSERT_EQUAL(nfds, 5);
    for (unsigned i = 0; i < nfds; i++)
        close(fds[i]);
    phoenix__control__response__free_unpacked(resp, NULL);
}

static void check_unknown_service(int sock)
{
    Phoenix__Control__Request req;
    Phoenix__Control__Register reg;

    make_register(&req, &reg, "nope", 3);
    Phoenix__Control__Response *resp = control_call(sock, &req, NULL, NULL, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(resp);
    CU_ASSERT_EQUAL(resp->status, PHX_NOT_FOUND);
    CU_ASSERT_STRING_EQUAL(resp->error, "no service 'nope' (loaded: loopback)");
    printf("\n    %-14s -> %s: %s", "unknown svc", phx_status_name(resp->status), resp->error);
    phoenix__control__response__free_unpacked(resp, NULL);
}

/* Sends a Topology request (administrators only) and returns its status (-1: no answer). */
static int topology_status(int sock, char *error, size_t errlen)
{
    Phoenix__Control__Request req = PHOENIX__CONTROL__REQUEST__INIT;
    Phoenix__Control__TopologyRequest body = PHOENIX__CONTROL__TOPOLOGY_REQUEST__INIT;

    req.id = 11;
    req.body_case = PHOENIX__CONTROL__REQUEST__BODY_TOPOLOGY;
    req.topology = &body;
    Phoenix__Control__Response *resp = control_call(sock, &req, NULL, NULL, 0);
    if (!resp)
        return -1;
    int status = resp->status;
    snprintf(error, errlen, "%s", resp->error);
    phoenix__control__response__free_unpacked(resp, NULL);
    return status;
}

/* In a child without privileges: Topology is refused, Register still works. */
static int unprivileged_admin(const char *prefix)
{
    unsigned failures = CU_get_number_of_failures();
    char err[256];

    if (getuid() == 0 && (setgroups(0, NULL) < 0 || setgid(65534) < 0 || setuid(65534) < 0))
        return 20;
    int sock = phx_control_connect(prefix, err, sizeof(err));
    if (sock < 0) {
        fprintf(stderr, "unprivileged connect: %s\n", err);
        return 21;
    }
    int status = topology_status(sock, err, sizeof(err));
    printf("\n    %-14s -> %s: %s", "admin, uid 65534", phx_status_name(status), err);
    if (status != PHX_PERMISSION_DENIED || strcmp(err, "admin requests need root") != 0)
        return 22;
    expect_register_works(sock, 12);
    close(sock);
    return CU_get_number_of_failures() != failures ? 23 : 0;
}

/* An app that corrupts its submission ring is dropped: its socket hangs up. */
static void check_hostile_ring(const char *prefix)
{
    Phoenix__Control__Request req;
    Phoenix__Control__Register reg;
    int fds[PHX_SOCK_MAX_FDS];
    unsigned nfds = 0;
    char err[256];
    int sock = phx_control_connect(prefix, err, sizeof(err));

    CU_ASSERT_FATAL(sock >= 0);
    make_register(&req, &reg, "loopback", 21);
    Phoenix__Control__Response *resp = control_call(sock, &req, fds, &nfds, PHX_SOCK_MAX_FDS);
    CU_ASSERT_FATAL(resp && resp->status == PHX_OK && nfds == 5);
    /* Map the rings anywhere and publish an impossible head, then ring the doorbell. */
    void *rings = mmap(NULL, resp->register_->rings_size, PROT_READ | PROT_WRITE, MAP_SHARED,
                       fds[0], 0);
    CU_ASSERT_FATAL(rings != MAP_FAILED);
    uint32_t *head = (uint32_t *)((char *)rings + resp->register_->sq_offset + 64);
    __atomic_store_n(head, 1u << 31, __ATOMIC_RELEASE);
    uint64_t one = 1;
    CU_ASSERT_EQUAL(write(fds[1], &one, sizeof(one)), (ssize_t)sizeof(one));
    char byte;
    struct timeval tv = { .tv_sec = 5 };
    setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    CU_ASSERT_EQUAL(recv(sock, &byte, 1, 0), 0);          /* dropped: end of stream */
    printf("\n    %-14s -> dropped", "corrupt ring");
    munmap(rings, resp->register_->rings_size);
    for (unsigned i = 0; i < nfds; i++)
        close(fds[i]);
    phoenix__control__response__free_unpacked(resp, NULL);
    close(sock);
}

static void test_bad_input(void)
{
    struct phx_daemon d;
    char err[256];
    static uint8_t big[70000];
    uint8_t garbage[] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01 };
    uint8_t packed[256];
    Phoenix__Control__Request req;
    Phoenix__Control__Register reg;

    CU_ASSERT_FATAL(daemon_start(&d, "bad", NULL, NULL));
    unsigned fds_before = proc_count_fds_settled(d.pid);
    int sock = phx_control_connect(d.prefix, err, sizeof(err));
    CU_ASSERT_FATAL(sock >= 0);

    expect_malformed(sock, garbage, sizeof(garbage), "garbage");
    expect_register_works(sock, 1);
    make_register(&req, &reg, "loopback", 2);
    size_t len = phoenix__control__request__pack(&req, packed);
    expect_malformed(sock, packed, len - 3, "truncated");
    expect_register_works(sock, 2);
    memset(big, 0x0a, sizeof(big));
    expect_malformed(sock, big, sizeof(big), "oversized");
    expect_register_works(sock, 3);
    if (kernel_refuses_fds()) {     /* else phoenixd hangs up on it: test_daemon_fds.c */
        int efd = eventfd(0, EFD_CLOEXEC);
        CU_ASSERT_EQUAL(phx_sock_send(sock, packed, len, &efd, 1), -EPERM);
        printf("\n    %-14s -> refused by the kernel (EPERM)", "with an fd");
        close(efd);
    }
    expect_malformed(sock, "", 0, "empty");
    expect_register_works(sock, 4);
    check_unknown_service(sock);
    expect_register_works(sock, 5);
    close(sock);
    /* Five registrations went with the connection. */
    unsigned long long deadline = phx_test_now_ns() + 5 * PHX_NS;
    while (proc_count_fds(d.pid) != fds_before && phx_test_now_ns() < deadline)
        phx_test_sleep_ms(10);
    CU_ASSERT_EQUAL(proc_count_fds(d.pid), fds_before);

    pid_t child = fork();
    CU_ASSERT_FATAL(child >= 0);
    if (child == 0)
        _exit(unprivileged_admin(d.prefix));
    CU_ASSERT_EQUAL(phx_test_reap(child, 20 * PHX_NS), 0);
    check_hostile_ring(d.prefix);
    printf("\n");
    CU_ASSERT_EQUAL(phx_daemon_stop(&d, SIGTERM), 0);
    phx_daemon_cleanup(&d);
}

/* ---- (d) SIGTERM with a registered app ------------------------------------------------------ */

static void test_sigterm(void)
{
    struct phx_daemon d;
    char err[512];
    phx_desc_t got[4];

    CU_ASSERT_FATAL(daemon_start(&d, "sigterm", NULL, NULL));
    phx_client_t *c = app_register(d.prefix, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    pid_t pid = d.pid;
    kill(pid, SIGTERM);
    int n = phx_client_wait(c, got, 4, 5000);
    CU_ASSERT_EQUAL(n, 1);
    CU_ASSERT_EQUAL(got[0].kind, PHX_DESC_SHUTDOWN);
    CU_ASSERT_EQUAL(got[0].status, PHX_UNAVAILABLE);
    CU_ASSERT_EQUAL(phx_client_wait(c, got, 4, 5000), -EPIPE);
    d.pid = pid;
    unsigned long long t0 = phx_test_now_ns();
    CU_ASSERT_EQUAL(phx_daemon_stop(&d, 0), 0);          /* already signalled: just reap */
    double seconds = (double)(phx_test_now_ns() - t0) / PHX_NS;
    printf("\n    phoenixd exited %.3f s after SIGTERM\n", seconds);
    CU_ASSERT(seconds < 2.0);
    CU_ASSERT_FALSE(file_exists(d.prefix, "control.sock"));
    CU_ASSERT_FALSE(file_exists(d.prefix, "phoenixd.pid"));
    phx_client_close(c);
    /* No service any more: registering says how to start one. */
    CU_ASSERT_PTR_NULL(app_register(d.prefix, err, sizeof(err)));
    CU_ASSERT(strstr(err, "no Phoenix service at ") && strstr(err, "phoenixd --prefix"));
    printf("    %s\n", err);
    phx_daemon_cleanup(&d);
}

/* PHOENIX_CLIENT_SPIN_US: a malformed value is refused with a sentence naming it, before the
 * service is bothered; a good one registers. */
static void test_client_spin_env(void)
{
    static const char *const bad[] = { "abc", "-1", "1000001", "12us", "99999999999999999999" };
    struct phx_daemon d;
    char err[512];

    CU_ASSERT_FATAL(daemon_start(&d, "spinenv", NULL, NULL));
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        setenv("PHOENIX_CLIENT_SPIN_US", bad[i], 1);
        err[0] = 0;
        errno = 0;
        CU_ASSERT_PTR_NULL(app_register(d.prefix, err, sizeof(err)));
        CU_ASSERT_EQUAL(errno, EINVAL);
        CU_ASSERT_PTR_NOT_NULL(strstr(err, "PHOENIX_CLIENT_SPIN_US"));
        CU_ASSERT_PTR_NOT_NULL(strstr(err, bad[i]));
    }
    setenv("PHOENIX_CLIENT_SPIN_US", "1000", 1);
    phx_client_t *c = app_register(d.prefix, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL(c);
    phx_client_close(c);
    unsetenv("PHOENIX_CLIENT_SPIN_US");
    CU_ASSERT_EQUAL(phx_daemon_stop(&d, SIGTERM), 0);
    phx_daemon_cleanup(&d);
}

/* ---- (e) idle CPU --------------------------------------------------------------------------- */

static void test_idle_cpu(void)
{
    struct phx_daemon d;
    char err[512];
    phx_desc_t got;

    CU_ASSERT_FATAL(daemon_start(&d, "idle", NULL, NULL));
    phx_client_t *c = app_register(d.prefix, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_EQUAL(phx_client_submit(c, &(phx_desc_t){ .kind = PHX_DESC_DATA }, 1), 1);
    CU_ASSERT_EQUAL(phx_client_wait(c, &got, 1, 5000), 1);    /* it works, then goes idle */
    phx_test_sleep_ms(500);
    unsigned long long t0 = phx_test_now_ns(), ticks0 = proc_cpu_ticks(d.pid);
    phx_test_sleep_ms(10000);
    unsigned long long ticks = proc_cpu_ticks(d.pid) - ticks0;
    double wall = (double)(phx_test_now_ns() - t0) / PHX_NS;
    double percent = 100.0 * ((double)ticks / (double)sysconf(_SC_CLK_TCK)) / wall;
    printf("\n    idle phoenixd with one idle app: %llu ticks in %.1f s = %.3f%% of a core\n",
           ticks, wall, percent);
    CU_ASSERT(percent < 0.5);
    phx_client_close(c);
    CU_ASSERT_EQUAL(phx_daemon_stop(&d, SIGTERM), 0);
    phx_daemon_cleanup(&d);
}

int main(int argc, char **argv)
{
    static const phx_test_case_t cases[] = {
        { "stream: two apps, a million descriptors each", test_stream },
        { "kill: a killed app leaves nothing behind", test_kill_app },
        { "bad input on the control socket", test_bad_input },
        { "sigterm with a registered app", test_sigterm },
        { "an app's poll time from PHOENIX_CLIENT_SPIN_US", test_client_spin_env },
        { "idle cpu", test_idle_cpu },
        { NULL, NULL },
    };
    signal(SIGPIPE, SIG_IGN);
    return phx_test_main("daemon", cases, argc, argv);
}
