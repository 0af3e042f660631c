/* test_daemon.c - phoenixd end to end: the built daemon, the loopback plugin and real apps.
 *
 * Each case starts its own phoenixd (daemon_harness.h: the build's binary, --foreground, a
 * private prefix under $TMPDIR, the configuration generated next to this test or a variant of
 * it) and stops it by PID.
 * Apps are forked children that register through client.h and stream descriptors through the
 * "loopback" service, which hands every submission back as a completion; they report through
 * exit codes and a shared counter. The cases:
 *
 *   stream      two apps each push 1,000,000 descriptors with seq numbers and get them back in
 *               order, through full rings (back-pressure), some naming real messages in the send
 *               heap and one naming memory outside it (which must come back as an ERROR)
 *   kill        an app killed by SIGKILL mid-stream vanishes from List, and the daemon's fds and
 *               memfd mappings return to what they were; the other app streams on
 *   bad input   garbage, truncated, oversized, fd-carrying and empty datagrams, an unknown
 *               service, an admin request from an unprivileged uid: each gets a clear error and
 *               the next valid request on the same connection works; an app corrupting its ring
 *               is dropped
 *   sigterm     a registered app sees SHUTDOWN, then -EPIPE; phoenixd exits 0 within 2 s
 *   idle        an idle phoenixd with one idle app uses < 0.5% of a core over 10 s (printed)
 *   lifecycle   --check-config (ok / one line with file:line, plugins opened and their settings
 *               checked, deprecated sections), usage errors, a second daemon on the same prefix,
 *               daemonizing, SIGHUP re-reading the log level and the plugins' settings (also
 *               after a start with a relative -c), syslog chosen when detached without a log file
 *   limits      dedicate mode with one thread and max_apps = 1 refuse a second app, until the
 *               first hangs up
 *
 * Every wait is bounded; every process started is stopped by PID and reaped. */
#include "control.pb-c.h"
#include "daemon_harness.h"
#include "phoenix/client.h"
#include "phoenix/control.h"
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

/* The whole file as a string (malloc'd), or NULL when it is missing or empty. */
static char *read_text(const char *path, size_t *len)
{
    FILE *f = fopen(path, "r");
    char *buf = NULL;
    size_t cap = 0;

    *len = 0;
    if (!f)
        return NULL;
    ssize_t n = getdelim(&buf, &cap, '\0', f);
    fclose(f);
    if (n <= 0) {
        free(buf);
        return NULL;
    }
    *len = strlen(buf);
    return buf;
}

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

/* ---- the daemon ---------------------------------------------------------------------------- */

static phx_test_run_result_t run_result;    /* large: one, reused by every run */

/* The test configuration with FROM replaced by TO (FROM NULL: as it is); malloc'd. */
static char *test_conf(const char *from, const char *to)
{
    size_t len;
    char *text = read_text(PHX_TEST_CONF, &len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    if (!from)
        return text;
    char *at = strstr(text, from);
    CU_ASSERT_PTR_NOT_NULL_FATAL(at);
    char *out = NULL;
    CU_ASSERT_FATAL(asprintf(&out, "%.*s%s%s", (int)(at - text), text, to,
                             at + strlen(from)) > 0);
    free(text);
    return out;
}

/* Starts phoenixd on a fresh prefix with the test configuration, FROM replaced by TO in it. */
static bool daemon_start(struct phx_daemon *d, const char *tag, const char *from, const char *to)
{
    char *conf = test_conf(from, to);
    bool up = phx_daemon_start(d, tag, conf);

    free(conf);
    return up;
}

/* ---- control requests ---------------------------------------------------------------------- */

/* Sends REQ on SOCK; returns the response (NULL on failure, with the reason printed). */
static Phoenix__Control__Response *call(int sock, Phoenix__Control__Request *req, int *fds,
                                        unsigned *nfds, unsigned max_fds)
{
    Phoenix__Control__Response *resp;
    char err[512];

    if (phx_control_call(sock, req, &resp, fds, nfds, max_fds, 5000, err, sizeof(err)) < 0) {
        fprintf(stderr, "control call: %s\n", err);
        return NULL;
    }
    return resp;
}

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
    Phoenix__Control__Response *resp = call(sock, &req, NULL, NULL, 0);
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

static phx_client_t *app_register(const char *prefix, char *err, size_t errlen)
{
    struct phx_client_params p = {
        .field_mask = PHX_CLIENT_PARAM_FIELD_PREFIX | PHX_CLIENT_PARAM_FIELD_SERVICE,
        .prefix = prefix,
        .service = "loopback",
    };
    return phx_client_register(&p, err, errlen);
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

/* Sends raw bytes (and FD if >= 0); expects INVALID_ARGUMENT "malformed request: ...". */
static void expect_malformed(int sock, const void *buf, size_t len, int fd, const char *what)
{
    ssize_t sent = phx_sock_send(sock, buf, len, fd >= 0 ? &fd : NULL, fd >= 0 ? 1 : 0);
    CU_ASSERT_EQUAL(sent, (ssize_t)len);
    Phoenix__Control__Response *resp = recv_response(sock);
    CU_ASSERT_PTR_NOT_NULL_FATAL(resp);
    CU_ASSERT_EQUAL(resp->status, PHX_INVALID_ARGUMENT);
    CU_ASSERT(strncmp(resp->error, "malformed request: ", 19) == 0);
    printf("\n    %-14s -> %s: %s", what, phx_status_name(resp->status), resp->error);
    phoenix__control__response__free_unpacked(resp, NULL);
}

static void make_register(Phoenix__Control__Request *req, Phoenix__Control__Register *reg,
                          const char *service, uint64_t id)
{
    phoenix__control__request__init(req);
    phoenix__control__register__init(reg);
    reg->service = (char *)service;
    req->id = id;
    req->body_case = PHOENIX__CONTROL__REQUEST__BODY_REGISTER;
    req->register_ = reg;
}

/* A valid request on SOCK works: registering gives OK and five descriptors. */
static void expect_register_works(int sock, uint64_t id)
{
    Phoenix__Control__Request req;
    Phoenix__Control__Register reg;
    int fds[PHX_SOCK_MAX_FDS];
    unsigned nfds = 0;

    make_register(&req, &reg, "loopback", id);
    Phoenix__Control__Response *resp = call(sock, &req, fds, &nfds, PHX_SOCK_MAX_FDS);
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
    Phoenix__Control__Response *resp = call(sock, &req, NULL, NULL, 0);
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
    Phoenix__Control__Response *resp = call(sock, &req, NULL, NULL, 0);
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
    Phoenix__Control__Response *resp = call(sock, &req, fds, &nfds, PHX_SOCK_MAX_FDS);
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

    expect_malformed(sock, garbage, sizeof(garbage), -1, "garbage");
    expect_register_works(sock, 1);
    make_register(&req, &reg, "loopback", 2);
    size_t len = phoenix__control__request__pack(&req, packed);
    expect_malformed(sock, packed, len - 3, -1, "truncated");
    expect_register_works(sock, 2);
    memset(big, 0x0a, sizeof(big));
    expect_malformed(sock, big, sizeof(big), -1, "oversized");
    expect_register_works(sock, 3);
    int efd = eventfd(0, EFD_CLOEXEC);
    expect_malformed(sock, packed, len, efd, "with an fd");
    close(efd);
    expect_malformed(sock, "", 0, -1, "empty");
    expect_register_works(sock, 4);
    check_unknown_service(sock);
    expect_register_works(sock, 5);
    close(sock);
    /* Five registrations went with the connection; the fd that came in was closed. */
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

static bool file_exists(const char *dir, const char *name)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    return access(path, F_OK) == 0;
}

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

/* ---- NUMA placement of app memory ------------------------------------------------------------ */

/* How many of the app port's three memfd mappings in PID's numa_maps have a policy other than
 * "default" (they are bound next to the NIC); -1 when the kernel shows no NUMA maps. */
static int bound_port_mappings(pid_t pid)
{
    char path[64], line[1024];
    int bound = 0;

    snprintf(path, sizeof(path), "/proc/%d/numa_maps", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f)) {
        bool port = strstr(line, "/memfd:phoenix-rings") || strstr(line, "/memfd:phoenix-send-heap") ||
                    strstr(line, "/memfd:phoenix-recv-heap");
        bound += port && !strstr(line, " default ");
    }
    fclose(f);
    return bound;
}

static void check_port_binding(const char *tag, const char *from, const char *to, int expect)
{
    struct phx_daemon d;
    char err[512];

    CU_ASSERT_FATAL(daemon_start(&d, tag, from, to));
    phx_client_t *c = app_register(d.prefix, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    int bound = bound_port_mappings(d.pid);
    if (bound < 0)
        phx_test_skip("this kernel shows no /proc/PID/numa_maps");
    else
        CU_ASSERT_EQUAL(bound, expect);
    phx_client_close(c);
    CU_ASSERT_EQUAL(phx_daemon_stop(&d, SIGTERM), 0);
    phx_daemon_cleanup(&d);
}

static void test_memory_binding(void)
{
    check_port_binding("numa", NULL, NULL, 3);     /* topology.bind_memory defaults to true */
    check_port_binding("nonuma", "log = {", "topology = { bind_memory = false; };\nlog = {", 0);
}

/* Started with only the last CPU in its affinity mask (taskset, srun --cpu-bind), phoenixd pins
 * its runtime thread there rather than on the NIC's first core. */
static void test_obeys_cpu_binding(void)
{
    cpu_set_t all, last;
    struct phx_daemon d;
    char line[64];

    CU_ASSERT_FATAL(sched_getaffinity(0, sizeof(all), &all) == 0);
    int cpu = -1;
    for (int c = 0; c < CPU_SETSIZE; c++)
        if (CPU_ISSET(c, &all))
            cpu = c;
    if (CPU_COUNT(&all) < 2) {
        phx_test_skip("one CPU only, nothing to choose from");
        return;
    }
    CU_ASSERT_FATAL(daemon_start(&d, "cpufree", NULL, NULL));     /* no binding, no mention */
    CU_ASSERT(!phx_daemon_log_has(&d, "of the CPUs it may run on"));
    CU_ASSERT_EQUAL(phx_daemon_stop(&d, SIGTERM), 0);
    phx_daemon_cleanup(&d);

    CPU_ZERO(&last);
    CPU_SET(cpu, &last);
    CU_ASSERT_FATAL(sched_setaffinity(0, sizeof(last), &last) == 0);     /* the child inherits */
    bool up = daemon_start(&d, "cpubind", NULL, NULL);
    CU_ASSERT_FATAL(sched_setaffinity(0, sizeof(all), &all) == 0);
    CU_ASSERT_FATAL(up);
    snprintf(line, sizeof(line), "runtime 0 started on cpus %d\n", cpu);
    CU_ASSERT(phx_daemon_log_has(&d, line));
    CU_ASSERT(phx_daemon_log_has(&d, "of the CPUs it may run on"));
    CU_ASSERT_EQUAL(phx_daemon_stop(&d, SIGTERM), 0);
    phx_daemon_cleanup(&d);
}

/* ---- (f) command line and lifecycle --------------------------------------------------------- */

static void test_check_config(void)
{
    const char *dir = phx_test_tmpdir("cli");
    const char *out = run_result.out;
    char bad[512], good[512];

    snprintf(bad, sizeof(bad), "%s", phx_test_write_file(dir, "broken.conf",
             "# a broken file\nruntime = { threads = 0; };\n"));
    snprintf(good, sizeof(good), "%s", phx_test_write_file(dir, "good.conf",
             "runtime = { threads = 2; };\nplugins = ();\n"));
    CU_ASSERT_EQUAL(phx_daemon_run(NULL, (const char *const[]){ "--check-config", "-c", bad, NULL },
                                   &run_result), 1);
    printf("\n    --check-config broken.conf: %s", out);
    CU_ASSERT(strstr(out, "broken.conf:2:") != NULL);
    CU_ASSERT(strchr(out, '\n') == out + strlen(out) - 1);      /* one line */
    CU_ASSERT_EQUAL(phx_daemon_run(NULL, (const char *const[]){ "--check-config", "-c", good,
                                                                NULL }, &run_result), 0);
    CU_ASSERT_STRING_EQUAL(out, "ok\n");
    CU_ASSERT_EQUAL(phx_daemon_run(NULL, (const char *const[]){ "--frobnicate", NULL },
                                   &run_result), 2);
    CU_ASSERT_EQUAL(phx_daemon_run(NULL, (const char *const[]){ "--check-config", "--log-level",
                                                                "loud", NULL }, &run_result), 1);
    CU_ASSERT(strstr(out, "--log-level loud") != NULL);
    phx_test_rmtree(dir);
}

/* The pid in PREFIX's pid file, or 0. */
static pid_t detached_pid(const char *prefix)
{
    char path[512];
    size_t len;

    snprintf(path, sizeof(path), "%s/phoenixd.pid", prefix);
    char *text = read_text(path, &len);
    pid_t pid = text ? (pid_t)atoi(text) : 0;
    free(text);
    return pid;
}

/* Stops the daemonized phoenixd of PREFIX (not our child: its exit is polled) and checks that it
 * removed its pid file; kills it if it overstays. */
static void stop_detached(const char *prefix)
{
    pid_t pid = detached_pid(prefix);

    CU_ASSERT_FATAL(pid > 0);
    CU_ASSERT_EQUAL(kill(pid, SIGTERM), 0);
    unsigned long long deadline = phx_test_now_ns() + 5 * PHX_NS;
    while (kill(pid, 0) == 0 && phx_test_now_ns() < deadline)
        phx_test_sleep_ms(10);
    CU_ASSERT_NOT_EQUAL(kill(pid, 0), 0);
    if (kill(pid, 0) == 0)
        kill(pid, SIGKILL);
    CU_ASSERT_FALSE(file_exists(prefix, "phoenixd.pid"));
}

/* True once the file at PATH contains TEXT, polled for up to TIMEOUT_NS (0: looked at once). */
static bool wait_for_text(const char *path, const char *text, unsigned long long timeout_ns)
{
    unsigned long long deadline = phx_test_now_ns() + timeout_ns;

    for (;;) {
        size_t len;
        char *all = read_text(path, &len);
        bool found = all && strstr(all, text);
        free(all);
        if (found || phx_test_now_ns() >= deadline)
            return found;
        phx_test_sleep_ms(10);
    }
}

/* Writes D's phoenix.conf: the test configuration with FROM replaced by TO. */
static void write_conf(struct phx_daemon *d, const char *from, const char *to)
{
    char *conf = test_conf(from, to);

    CU_ASSERT_PTR_NOT_NULL(phx_test_write_file(d->dir, "phoenix.conf", conf));
    free(conf);
}

/* The three plugins with SETTINGS (text after the plugin list) and the plugin list PLUGINS (NULL:
 * mrpc, ucx and null from the build). */
static const char *plugins_conf(const char *dir, const char *name, const char *plugins,
                                const char *settings)
{
    static char path[512];
    char text[4096];

    snprintf(text, sizeof(text), "plugins = (\n%s\n);\n%s",
             plugins ? plugins : "  { name = \"mrpc\"; path = \"" PHX_PLUGIN_MRPC "\"; },\n"
                                 "  { name = \"ucx\"; path = \"" PHX_PLUGIN_UCX "\"; },\n"
                                 "  { name = \"null\"; path = \"" PHX_PLUGIN_NULL "\"; }",
             settings);
    snprintf(path, sizeof(path), "%s", phx_test_write_file(dir, name, text));
    return path;
}

/* Runs --check-config on a file of those; returns the exit status, output in run_result.out. */
static int check_plugins(const char *dir, const char *plugins, const char *settings)
{
    const char *path = plugins_conf(dir, "plugins.conf", plugins, settings);

    return phx_daemon_run(NULL, (const char *const[]){ "--check-config", "-c", path, NULL },
                          &run_result);
}

/* --check-config opens the plugins: a section that does not fit its plugin's schema, or a plugin
 * that cannot be opened, is one line naming the file, line and key (or the plugin). The plugin
 * list takes lines 1 to 5 of the file, so `settings = {` is line 6. */
static void test_check_config_plugins(void)
{
    static const struct { const char *settings, *want; } broken[] = {
        { "settings = {\n  ucx = {\n    tls = 5;\n  };\n};\n",
          "plugins.conf:8: settings.ucx.tls: expected a string, got an integer" },
        { "settings = {\n  mrpc = {\n    marshal = \"json\";\n  };\n};\n",
          "plugins.conf:8: settings.mrpc.marshal: unknown marshal 'json' (native)" },
        { "settings = {\n  null = {\n    batch = 0;\n  };\n};\n",
          "plugins.conf:8: settings.null.batch: must be between 1 and 4096 (got 0)" },
        { "settings = {\n  ucx = {\n    net_device = \"lo\";\n  };\n};\n",
          "plugins.conf:8: unknown key 'settings.ucx.net_device' (did you mean "
          "'settings.ucx.net_devices'?)" },
        { "settings = {\n  mrpc = {\n\n    inflght_mb = 3;\n  };\n};\n",
          "plugins.conf:9: unknown key 'settings.mrpc.inflght_mb' (did you mean "
          "'settings.mrpc.inflight_mb'?)" },
        { "settings = { nul = { batch = 3; }; };\n",
          "plugins.conf:6: settings.nul: no plugin 'nul' in plugins (did you mean "
          "'settings.null'?)" },
    };
    const char *dir = phx_test_tmpdir("cli");
    const char *out = run_result.out;

    CU_ASSERT_EQUAL(check_plugins(dir, NULL, "settings = {\n  ucx = { tls = \"tcp\"; };\n"
                                  "  mrpc = { call_timeout_ms = 5; };\n"
                                  "  null = { batch = 8; };\n};\n"), 0);
    CU_ASSERT_STRING_EQUAL(out, "ok\n");
    for (unsigned i = 0; i < sizeof(broken) / sizeof(broken[0]); i++) {
        CU_ASSERT_EQUAL(check_plugins(dir, NULL, broken[i].settings), 1);
        if (!strstr(out, broken[i].want))
            printf("\n    got '%s', want '%s'", out, broken[i].want);
        CU_ASSERT_PTR_NOT_NULL(strstr(out, broken[i].want));
        CU_ASSERT(strchr(out, '\n') == out + strlen(out) - 1);  /* one line */
    }
    /* a plugin file that is not there: the plugin is named, and it is not "ok" */
    CU_ASSERT_EQUAL(check_plugins(dir, "  { name = \"ucx\"; path = \"/nonexistent/libx.so\"; }",
                                  ""), 1);
    printf("\n    missing plugin: %s", out);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "plugin /nonexistent/libx.so: cannot open: "));
    CU_ASSERT(strchr(out, '\n') == out + strlen(out) - 1);
    /* a section for a plugin that has no settings */
    CU_ASSERT_EQUAL(check_plugins(dir, "  { name = \"loopback\"; path = \"" PHX_PLUGIN_LOOPBACK
                                  "\"; }", "settings = {\n  loopback = { x = 1; };\n};\n"), 1);
    printf("\n    %s", out);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "plugins.conf:5: settings.loopback: plugin 'loopback' "
                                       "takes no settings"));
    phx_test_rmtree(dir);
}

/* The top-level ucx and mrpc sections of earlier releases still work, with a line that gives
 * the new spelling; their mistakes name the key as written. */
static void test_check_config_deprecated(void)
{
    const char *dir = phx_test_tmpdir("cli");
    const char *out = run_result.out;

    CU_ASSERT_EQUAL(check_plugins(dir, NULL, "ucx = { tls = \"tcp\"; };\n"), 0);
    printf("\n    %s", out);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "plugins.conf:6: 'ucx = { ... }' is deprecated; write "
                                       "'settings = { ucx = { ... }; };'\nok\n"));
    CU_ASSERT_EQUAL(strncmp(out, "warning: ", 9), 0);
    CU_ASSERT_EQUAL(check_plugins(dir, NULL, "mrpc = {\n  call_timeout_ms = 0;\n};\n"), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "'settings = { mrpc = { ... }; };'\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "plugins.conf:7: mrpc.call_timeout_ms: must be between 1 "
                                       "and 86400000 (got 0)\n"));
    phx_test_rmtree(dir);
}

static void test_second_daemon_and_background(void)
{
    struct phx_daemon d;
    const char *out = run_result.out;

    CU_ASSERT_FATAL(daemon_start(&d, "twice", NULL, NULL));
    CU_ASSERT_EQUAL(phx_daemon_run(&d, (const char *const[]){ "--foreground", NULL }, &run_result),
                    1);
    char want[512];
    snprintf(want, sizeof(want), "phoenixd already running on %s (pid %d)", d.prefix,
             (int)d.pid);
    CU_ASSERT(strstr(out, want) != NULL);
    printf("\n    %s", out);
    CU_ASSERT_EQUAL(phx_daemon_stop(&d, SIGTERM), 0);

    /* Daemonized: the launcher returns once the daemon listens; the pid file names it. */
    CU_ASSERT_EQUAL(phx_daemon_run(&d, (const char *const[]){ NULL }, &run_result), 0);
    CU_ASSERT(phx_daemon_accepts(d.prefix));
    stop_detached(d.prefix);
    phx_daemon_cleanup(&d);
}

/* Detached with log.file "-", the launcher says the log goes to syslog (stderr is /dev/null by
 * then); with a file it says nothing of the kind. */
static void test_detached_logs_to_syslog(void)
{
    struct phx_daemon d;

    CU_ASSERT_FATAL(daemon_start(&d, "syslog", NULL, NULL));
    CU_ASSERT_EQUAL(phx_daemon_stop(&d, SIGTERM), 0);
    CU_ASSERT_EQUAL(phx_daemon_run(&d, (const char *const[]){ NULL }, &run_result), 0);
    printf("\n    %s", run_result.out);
    CU_ASSERT(strstr(run_result.out, "the log goes to syslog") != NULL);
    stop_detached(d.prefix);

    write_conf(&d, "level = \"info\"", "file = \"/dev/null\"; level = \"info\"");
    CU_ASSERT_EQUAL(phx_daemon_run(&d, (const char *const[]){ NULL }, &run_result), 0);
    CU_ASSERT(strstr(run_result.out, "syslog") == NULL);
    stop_detached(d.prefix);
    phx_daemon_cleanup(&d);
}

/* Runs a detached phoenixd from DIR with -c NAME, a path relative to DIR. */
static int run_detached_in(const char *dir, const char *name, const char *prefix)
{
    char cwd[PATH_MAX];

    CU_ASSERT_PTR_NOT_NULL_FATAL(getcwd(cwd, sizeof(cwd)));
    CU_ASSERT_EQUAL_FATAL(chdir(dir), 0);
    int rc = phx_daemon_run(NULL, (const char *const[]){ "-c", name, "--prefix", prefix, NULL },
                            &run_result);
    CU_ASSERT_EQUAL_FATAL(chdir(cwd), 0);
    return rc;
}

/* A daemon started with a relative -c re-reads that file on SIGHUP, although it chdir'd to /. */
static void test_sighup_relative_config(void)
{
    struct phx_daemon d;
    char log_path[400], setting[600], dir[PATH_MAX], want[PATH_MAX + 64];

    CU_ASSERT_FATAL(daemon_start(&d, "relconf", NULL, NULL));
    CU_ASSERT_EQUAL(phx_daemon_stop(&d, SIGTERM), 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(realpath(d.dir, dir));     /* what the daemon will name */
    snprintf(log_path, sizeof(log_path), "%s/detached.log", d.dir);
    snprintf(setting, sizeof(setting), "file = \"%s\"; level = \"info\"", log_path);
    write_conf(&d, "level = \"info\"", setting);
    CU_ASSERT_EQUAL_FATAL(run_detached_in(d.dir, "phoenix.conf", d.prefix), 0);

    snprintf(setting, sizeof(setting), "file = \"%s\"; level = \"debug\"", log_path);
    write_conf(&d, "level = \"info\"", setting);
    CU_ASSERT_EQUAL(kill(detached_pid(d.prefix), SIGHUP), 0);
    snprintf(want, sizeof(want), "reloaded %s/phoenix.conf: log level debug", dir);
    bool reloaded = wait_for_text(log_path, want, 5 * PHX_NS);
    CU_ASSERT(reloaded);
    if (!reloaded)
        printf("\n    no \"%s\" in %s", want, log_path);
    CU_ASSERT_FALSE(wait_for_text(log_path, "keeping the current log settings", 0));
    stop_detached(d.prefix);
    phx_daemon_cleanup(&d);
}

/* ---- limits and reload ---------------------------------------------------------------------- */

/* Registers on a fresh connection; returns the status and keeps the connection in *SOCK. */
static int register_status(const char *prefix, int *sock, char *error, size_t errlen)
{
    Phoenix__Control__Request req;
    Phoenix__Control__Register reg;
    int fds[PHX_SOCK_MAX_FDS];
    unsigned nfds = 0;
    char err[256];

    *sock = phx_control_connect(prefix, err, sizeof(err));
    if (*sock < 0)
        return -1;
    make_register(&req, &reg, "loopback", 1);
    Phoenix__Control__Response *resp = call(*sock, &req, fds, &nfds, PHX_SOCK_MAX_FDS);
    for (unsigned i = 0; i < nfds; i++)
        close(fds[i]);
    int status = resp ? resp->status : -1;
    snprintf(error, errlen, "%s", resp ? resp->error : "");
    if (resp)
        phoenix__control__response__free_unpacked(resp, NULL);
    return status;
}

/* Dedicate mode with one runtime thread takes one app; max_apps caps registrations. A slot
 * frees up when its app hangs up. */
static void check_limit(const char *tag, const char *from, const char *to, const char *want)
{
    struct phx_daemon d;
    char error[512];
    int first, second, third;

    CU_ASSERT_FATAL(daemon_start(&d, tag, from, to));
    CU_ASSERT_EQUAL(register_status(d.prefix, &first, error, sizeof(error)), PHX_OK);
    CU_ASSERT_EQUAL(register_status(d.prefix, &second, error, sizeof(error)),
                    PHX_RESOURCE_EXHAUSTED);
    printf("\n    %s: %s", tag, error);
    CU_ASSERT(strstr(error, want) != NULL);
    close(first);
    close(second);
    /* The hang-ups are noticed asynchronously: retry for a while. */
    unsigned long long deadline = phx_test_now_ns() + 5 * PHX_NS;
    int status = register_status(d.prefix, &third, error, sizeof(error));
    while (status != PHX_OK && phx_test_now_ns() < deadline) {
        close(third);
        phx_test_sleep_ms(10);
        status = register_status(d.prefix, &third, error, sizeof(error));
    }
    close(third);
    CU_ASSERT_EQUAL(status, PHX_OK);
    CU_ASSERT_EQUAL(phx_daemon_stop(&d, SIGTERM), 0);
    phx_daemon_cleanup(&d);
}

static void test_limits(void)
{
    check_limit("dedicate", "mode = \"shared\"", "mode = \"dedicate\"", "runtime threads are busy");
    check_limit("max-apps", "max_apps = 64", "max_apps = 1", "control.max_apps");
    printf("\n");
}

/* SIGHUP re-reads the log level from the file. */
static void test_sighup(void)
{
    struct phx_daemon d;

    CU_ASSERT_FATAL(daemon_start(&d, "sighup", NULL, NULL));
    char *conf = test_conf("level = \"info\"", "level = \"debug\"");
    CU_ASSERT_PTR_NOT_NULL(phx_test_write_file(d.dir, "phoenix.conf", conf));  /* d.conf */
    free(conf);
    kill(d.pid, SIGHUP);
    bool seen = false;
    unsigned long long deadline = phx_test_now_ns() + 5 * PHX_NS;
    while (!seen && phx_test_now_ns() < deadline) {
        seen = phx_daemon_log_has(&d, "log level debug");
        phx_test_sleep_ms(10);
    }
    CU_ASSERT(seen);
    CU_ASSERT_EQUAL(phx_daemon_stop(&d, SIGTERM), 0);
    phx_daemon_cleanup(&d);
}

/* Waits up to 5 s for TEXT in D's log. */
static bool log_shows(const struct phx_daemon *d, const char *text)
{
    unsigned long long deadline = phx_test_now_ns() + 5 * PHX_NS;
    bool seen = phx_daemon_log_has(d, text);

    while (!seen && phx_test_now_ns() < deadline) {
        phx_test_sleep_ms(10);
        seen = phx_daemon_log_has(d, text);
    }
    return seen;
}

/* SIGHUP re-reads the plugins' sections too: one that does not fit changes nothing and the log
 * says which key; one that fits is taken. The deprecated top-level section is logged at start. */
static void test_sighup_plugin_settings(void)
{
    static const char with_null[] =
        "plugins = ( { name = \"loopback\"; path = \"libphoenix_loopback.so\"; },\n"
        "            { name = \"ucx\"; path = \"" PHX_PLUGIN_UCX "\"; },\n"
        "            { name = \"null\"; path = \"" PHX_PLUGIN_NULL "\"; } );\n"
        "ucx = { tls = \"tcp\"; };\n"
        "settings = { null = { batch = %s; }; };\n";
    struct phx_daemon d;
    char plugins[1024];

    snprintf(plugins, sizeof(plugins), with_null, "8");
    CU_ASSERT_FATAL(daemon_start(&d, "sighup-plugins", "plugins = ( { name = \"loopback\"; path = "
                                 "\"libphoenix_loopback.so\"; } );\n", plugins));
    CU_ASSERT(log_shows(&d, "'ucx = { ... }' is deprecated; write 'settings = { ucx = { ... }; "
                            "};'"));
    snprintf(plugins, sizeof(plugins), with_null, "0");
    char *conf = test_conf("plugins = ( { name = \"loopback\"; path = \"libphoenix_loopback.so\"; "
                           "} );\n", plugins);
    CU_ASSERT_PTR_NOT_NULL(phx_test_write_file(d.dir, "phoenix.conf", conf));  /* d.conf */
    free(conf);
    kill(d.pid, SIGHUP);
    CU_ASSERT(log_shows(&d, "keeping the current settings: "));
    CU_ASSERT(log_shows(&d, "settings.null.batch: must be between 1 and 4096 (got 0)"));
    CU_ASSERT_FALSE(phx_daemon_log_has(&d, "plugin settings reloaded"));
    snprintf(plugins, sizeof(plugins), with_null, "16");
    conf = test_conf("plugins = ( { name = \"loopback\"; path = \"libphoenix_loopback.so\"; "
                     "} );\n", plugins);
    CU_ASSERT_PTR_NOT_NULL(phx_test_write_file(d.dir, "phoenix.conf", conf));
    free(conf);
    kill(d.pid, SIGHUP);
    CU_ASSERT(log_shows(&d, "plugin settings reloaded"));
    CU_ASSERT(phx_daemon_accepts(d.prefix));
    CU_ASSERT_EQUAL(phx_daemon_stop(&d, SIGTERM), 0);
    phx_daemon_cleanup(&d);
}

/* Placement follows the transport: with settings.ucx.net_devices = "lo" and no topology.nic,
 * the service is placed for lo (no locality: the whole machine), not for the first NIC. */
static void test_placement_follows_transport(void)
{
    static const char plugins[] =
        "plugins = ( { name = \"loopback\"; path = \"libphoenix_loopback.so\"; },\n"
        "            { name = \"ucx\"; path = \"" PHX_PLUGIN_UCX "\"; } );\n"
        "settings = { ucx = { tls = \"tcp\"; net_devices = \"lo\"; }; };\n";
    struct phx_daemon d;

    CU_ASSERT_FATAL(daemon_start(&d, "placement-ucx", "plugins = ( { name = \"loopback\"; path = "
                                 "\"libphoenix_loopback.so\"; } );\n", plugins));
    CU_ASSERT(log_shows(&d, "placement: lo, the transport's device (settings.ucx.net_devices), "
                            "is no device of this topology"));
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
        { "app rings and heaps bound to the NIC's NUMA nodes", test_memory_binding },
        { "runtime threads stay on the CPUs phoenixd was started on", test_obeys_cpu_binding },
        { "check-config and usage", test_check_config },
        { "check-config opens the plugins and checks their settings", test_check_config_plugins },
        { "deprecated ucx and mrpc sections", test_check_config_deprecated },
        { "second daemon and background start", test_second_daemon_and_background },
        { "limits: dedicate mode and max_apps", test_limits },
        { "sighup reloads the log level", test_sighup },
        { "detached with log.file \"-\" logs to syslog", test_detached_logs_to_syslog },
        { "sighup after a start with a relative -c", test_sighup_relative_config },
        { "sighup reloads the plugins' settings", test_sighup_plugin_settings },
        { "placement follows the transport's devices", test_placement_follows_transport },
        { NULL, NULL },
    };
    signal(SIGPIPE, SIG_IGN);
    return phx_test_main("daemon", cases, argc, argv);
}
