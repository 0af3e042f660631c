/* test_app_port.c - the service side of an app's shared memory, with a forked child as the app.
 *
 * The child drops the mappings it inherited and maps the port's descriptors again at the
 * service's addresses, exactly as a registering app does, then streams descriptors that point at
 * messages in its send heap through a small submission ring (back-pressure on every lap). The
 * parent, in the front engine's role, pops them with the helpers, checks order, bounds and
 * content, and answers each with a message written in the receive heap. The child checks the
 * answers and that the receive heap cannot be made writable. Other cases: a hostile app breaking
 * a ring, bad parameters and layouts, and no descriptor left open after destroy. Waits are
 * bounded: every poll has a timeout and the whole exchange a deadline; the child is reaped. */
#include "app_port_internal.h"
#include "phx_test.h"

#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define N_MESSAGES   100000u
#define DEPTH        64u
#define MSG_LEN      32u
#define DEADLINE_NS  (60ull * 1000000000ull)

static phx_app_port_t *small_port(int broken_fd)
{
    struct phx_app_port_params p = {
        .field_mask = PHX_APP_PORT_PARAM_FIELD_DEPTH | PHX_APP_PORT_PARAM_FIELD_SEND_SIZE |
                      PHX_APP_PORT_PARAM_FIELD_RECV_SIZE | PHX_APP_PORT_PARAM_FIELD_SLAB_SIZE |
                      PHX_APP_PORT_PARAM_FIELD_CRED | PHX_APP_PORT_PARAM_FIELD_BROKEN_FD,
        .depth = DEPTH,
        .send_size = 8u << 20,
        .recv_size = 8u << 20,
        .slab_size = 256u << 10,
        .pid = getpid(),
        .broken_fd = broken_fd,
    };
    char err[256] = "";
    phx_app_port_t *port = phx_app_port_create(&p, err, sizeof(err));
    if (!port)
        fprintf(stderr, "app port: %s\n", err);
    return port;
}

static unsigned count_open_fds(void)
{
    unsigned n = 0;
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return 0;
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

/* ---- the app, in the child ---------------------------------------------------------------- */

struct app {
    phx_shm_region_t rings, send, recv;
    phx_ring_t sq, cq;
    phx_heap_t *heap;
};

/* Maps the port like a registering app; returns 0 or a small failure code for the exit status. */
static int app_attach(struct app *a, const phx_app_port_t *port)
{
    const struct phx_app_port_layout *l = &port->layout;
    int fds[PHX_APP_PORT_NFDS];

    phx_app_port_fds(port, fds);
    /* Forget what fork() gave us: the app maps only what it received. */
    munmap((void *)(uintptr_t)l->rings_addr, l->rings_size);
    munmap((void *)(uintptr_t)l->send_addr, l->send_size);
    munmap((void *)(uintptr_t)l->recv_addr, l->recv_size);
    if (phx_shm_region_map(&a->rings, fds[PHX_APP_PORT_FD_RINGS], (void *)(uintptr_t)l->rings_addr,
                           l->rings_size, PROT_READ | PROT_WRITE) < 0 ||
        phx_shm_region_map(&a->send, fds[PHX_APP_PORT_FD_SEND], (void *)(uintptr_t)l->send_addr,
                           l->send_size, PROT_READ | PROT_WRITE) < 0)
        return 10;
    if (phx_shm_region_map(&a->recv, fds[PHX_APP_PORT_FD_RECV], (void *)(uintptr_t)l->recv_addr,
                           l->recv_size, PROT_READ | PROT_WRITE) != -EPERM)
        return 11;                      /* the receive heap must refuse a writable mapping */
    if (phx_shm_region_map(&a->recv, fds[PHX_APP_PORT_FD_RECV], (void *)(uintptr_t)l->recv_addr,
                           l->recv_size, PROT_READ) < 0)
        return 12;
    if (mprotect(a->recv.base, a->recv.size, PROT_READ | PROT_WRITE) == 0)
        return 13;
    unsigned char *base = a->rings.base;
    if (phx_ring_attach(&a->sq, base + l->sq_offset, l->ring_size,
                        fds[PHX_APP_PORT_FD_SQ_DOORBELL]) < 0 ||
        phx_ring_attach(&a->cq, base + l->cq_offset, l->ring_size,
                        fds[PHX_APP_PORT_FD_CQ_DOORBELL]) < 0)
        return 14;
    struct phx_heap_params hp = { .field_mask = PHX_HEAP_PARAM_FIELD_SLAB_SIZE,
                                  .slab_size = l->slab_size };
    return (a->heap = phx_heap_create(&a->send, &hp)) ? 0 : 15;
}

static void sleep_on(phx_ring_t *r)
{
    if (phx_ring_prepare_sleep(r)) {
        struct pollfd pfd = { .fd = phx_ring_doorbell_fd(r), .events = POLLIN };
        poll(&pfd, 1, 100);
    }
    phx_ring_finish_sleep(r);
}

/* Checks one answer: its seq, and the text the service wrote in the receive heap. */
static int app_check_answer(const struct app *a, const phx_desc_t *d, uint64_t expect)
{
    char want[MSG_LEN];

    if (d->seq != expect || !phx_shm_region_contains(&a->recv, (void *)(uintptr_t)d->addr,
                                                     d->len))
        return 20;
    snprintf(want, sizeof(want), "reply %llu", (unsigned long long)expect);
    return strcmp((const char *)(uintptr_t)d->addr, want) == 0 ? 0 : 21;
}

static int app_main(const phx_app_port_t *port)
{
    struct app a = { 0 };
    uint64_t sent = 0, answered = 0;
    unsigned long long deadline = phx_test_now_ns() + DEADLINE_NS;
    int rc = app_attach(&a, port);

    while (rc == 0 && answered < N_MESSAGES && phx_test_now_ns() < deadline) {
        if (sent < N_MESSAGES && sent - answered < 2 * DEPTH) {
            char *msg = phx_heap_alloc(a.heap, MSG_LEN);
            if (!msg)
                return 30;
            snprintf(msg, MSG_LEN, "call %llu", (unsigned long long)sent);
            phx_desc_t d = { .kind = PHX_DESC_DATA, .addr = (uintptr_t)msg, .len = MSG_LEN,
                             .seq = sent };
            int pushed = phx_ring_push(&a.sq, &d, 1);
            if (pushed < 0)
                return 31;
            if (pushed == 0)
                phx_heap_free(a.heap, msg);         /* full: back-pressure, retry later */
            sent += (unsigned)pushed;
            phx_ring_notify(&a.sq);
        }
        phx_desc_t done[DEPTH];
        int n = phx_ring_pop(&a.cq, done, DEPTH);
        if (n < 0)
            return 32;
        for (int i = 0; i < n && rc == 0; i++)
            rc = app_check_answer(&a, &done[i], answered++);
        if (n == 0 && (sent == N_MESSAGES || sent - answered >= 2 * DEPTH))
            sleep_on(&a.cq);
    }
    return rc ? rc : answered == N_MESSAGES ? 0 : 33;
}

/* ---- the service, in the parent ---------------------------------------------------------- */

/* Pops and answers what the app submitted; returns how many, or -1 on a bad submission. */
static int service_turn(phx_app_port_t *port, uint64_t *expect, phx_desc_t *backlog,
                        unsigned *n_backlog)
{
    phx_desc_t in[DEPTH];
    int n = 0;

    if (*n_backlog == 0) {
        n = phx_app_port_pop_submissions(port, in, DEPTH);
        CU_ASSERT(n >= 0);
        for (int i = 0; i < n; i++) {
            char want[MSG_LEN];
            snprintf(want, sizeof(want), "call %llu", (unsigned long long)*expect);
            if (in[i].seq != *expect || !phx_app_port_send_contains(port, in[i].addr, in[i].len) ||
                strcmp((const char *)(uintptr_t)in[i].addr, want) != 0)
                return -1;
            char *reply = phx_heap_alloc(port->recv_heap, MSG_LEN);
            CU_ASSERT_PTR_NOT_NULL_FATAL(reply);
            snprintf(reply, MSG_LEN, "reply %llu", (unsigned long long)*expect);
            backlog[(*n_backlog)++] = (phx_desc_t){ .kind = PHX_DESC_DATA, .seq = *expect,
                                                    .addr = (uintptr_t)reply, .len = MSG_LEN };
            (*expect)++;
        }
    }
    int done = phx_app_port_complete(port, backlog, *n_backlog);
    CU_ASSERT(done >= 0);
    if (done > 0) {
        memmove(backlog, backlog + done, (*n_backlog - (unsigned)done) * sizeof(*backlog));
        *n_backlog -= (unsigned)done;
    }
    return n + done;
}

static void service_sleep(phx_app_port_t *port)
{
    phx_wait_t w;
    if (phx_app_port_arm(port, &w) == 0) {
        CU_ASSERT_EQUAL(w.fd, port->sq_doorbell);
        struct pollfd pfd = { .fd = w.fd, .events = POLLIN };
        phx_app_port_disarm(port, poll(&pfd, 1, 10) > 0 && pfd.revents);
    }
}

/* True once PID exited; it stays unreaped for phx_test_reap(). */
static bool exited(pid_t pid)
{
    siginfo_t info = { 0 };

    return waitid(P_PID, (id_t)pid, &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == pid;
}

static void test_stream_across_fork(void)
{
    phx_app_port_t *port = small_port(-1);
    phx_desc_t backlog[DEPTH];
    unsigned n_backlog = 0;
    uint64_t expect = 0;

    CU_ASSERT_PTR_NOT_NULL_FATAL(port);
    CU_ASSERT_EQUAL(port->send.prot, PROT_READ);   /* the service never writes the send heap */
    pid_t parent = getpid(), pid = fork();
    CU_ASSERT_FATAL(pid >= 0);
    if (pid == 0) {
        phx_test_die_with_parent(parent);
        _exit(app_main(port));
    }
    unsigned long long deadline = phx_test_now_ns() + DEADLINE_NS;
    while (phx_test_now_ns() < deadline) {
        int moved = service_turn(port, &expect, backlog, &n_backlog);
        if (moved < 0 || exited(pid))
            break;
        if (moved == 0)
            service_sleep(port);
    }
    CU_ASSERT_EQUAL(phx_test_reap(pid, 0), 0);     /* it exited, or it is killed now */
    CU_ASSERT_EQUAL(expect, N_MESSAGES);
    CU_ASSERT_FALSE(phx_app_port_is_broken(port));
    phx_app_port_destroy(port);
}

/* A hostile app publishes an impossible head: the port breaks once, says so, and stays broken. */
static void test_broken_ring(void)
{
    int broken_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    phx_app_port_t *port = small_port(broken_fd);
    phx_desc_t d[4];
    phx_wait_t w;
    uint64_t count = 0;

    CU_ASSERT_PTR_NOT_NULL_FATAL(port);
    phx_ring_shared_t *sq = (phx_ring_shared_t *)((char *)port->rings.base +
                                                  port->layout.sq_offset);
    __atomic_store_n(&sq->head, 5 * DEPTH, __ATOMIC_RELEASE);
    CU_ASSERT_EQUAL(phx_app_port_pop_submissions(port, d, 4), -EPROTO);
    CU_ASSERT_TRUE(phx_app_port_is_broken(port));
    CU_ASSERT_EQUAL(read(broken_fd, &count, sizeof(count)), (ssize_t)sizeof(count));
    CU_ASSERT_EQUAL(count, 1);
    CU_ASSERT_EQUAL(phx_app_port_pop_submissions(port, d, 4), -EPROTO);
    memset(d, 0, sizeof(d));
    CU_ASSERT_EQUAL(phx_app_port_complete(port, d, 1), -EPROTO);
    CU_ASSERT_EQUAL(phx_app_port_arm(port, &w), 0);
    CU_ASSERT_EQUAL(w.fd, -1);
    CU_ASSERT(read(broken_fd, &count, sizeof(count)) < 0);   /* told once only */
    phx_app_port_destroy(port);
    close(broken_fd);
}

/* A hostile app moves the completion ring's tail ahead of its head. */
static void test_broken_completion_ring(void)
{
    phx_app_port_t *port = small_port(-1);
    phx_desc_t d = { .kind = PHX_DESC_DATA };

    CU_ASSERT_PTR_NOT_NULL_FATAL(port);
    phx_ring_shared_t *cq = (phx_ring_shared_t *)((char *)port->rings.base +
                                                  port->layout.cq_offset);
    for (unsigned i = 0; i < DEPTH; i++)
        CU_ASSERT_EQUAL(phx_app_port_complete(port, &d, 1), 1);
    __atomic_store_n(&cq->tail, 7 * DEPTH + 3, __ATOMIC_RELEASE);
    CU_ASSERT_EQUAL(phx_app_port_complete(port, &d, 1), -EPROTO);
    CU_ASSERT_TRUE(phx_app_port_is_broken(port));
    phx_app_port_destroy(port);
}

static void test_arm_with_work(void)
{
    phx_app_port_t *port = small_port(-1);
    phx_ring_t app_sq;
    phx_wait_t w;
    phx_desc_t d = { .kind = PHX_DESC_DATA };

    CU_ASSERT_PTR_NOT_NULL_FATAL(port);
    CU_ASSERT_EQUAL(phx_app_port_arm(port, &w), 0);
    CU_ASSERT_EQUAL(w.fd, port->sq_doorbell);
    phx_app_port_disarm(port, false);
    CU_ASSERT_EQUAL(phx_ring_attach(&app_sq, (char *)port->rings.base + port->layout.sq_offset,
                                    port->layout.ring_size, port->sq_doorbell), 0);
    CU_ASSERT_EQUAL(phx_ring_push(&app_sq, &d, 1), 1);
    CU_ASSERT_EQUAL(phx_app_port_arm(port, &w), 1);
    CU_ASSERT_EQUAL(phx_app_port_pop_submissions(port, &d, 1), 1);
    phx_app_port_destroy(port);
}

static bool readable(int fd)
{
    struct pollfd pfd = { .fd = fd, .events = POLLIN };

    return poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLIN);
}

/* A wake-up the doorbell did not cause costs no read(); a ring that the runtime did not see
 * stays in the doorbell, so the next sleep ends at once and drains it: never a lost ring, and
 * never a doorbell readable for good (the runtime would spin on it). */
static void test_disarm_drains_only_when_rung(void)
{
    phx_app_port_t *port = small_port(-1);
    phx_ring_t app_sq;
    phx_wait_t w;
    phx_desc_t d = { .kind = PHX_DESC_DATA }, got[4];

    CU_ASSERT_PTR_NOT_NULL_FATAL(port);
    CU_ASSERT_EQUAL(phx_ring_attach(&app_sq, (char *)port->rings.base + port->layout.sq_offset,
                                    port->layout.ring_size, port->sq_doorbell), 0);
    CU_ASSERT_EQUAL(phx_app_port_arm(port, &w), 0);
    CU_ASSERT_EQUAL(phx_ring_push(&app_sq, &d, 1), 1);
    CU_ASSERT_EQUAL(phx_ring_notify(&app_sq), 1);           /* it slept: rung */
    phx_app_port_disarm(port, false);                       /* woken by something else */
    CU_ASSERT_TRUE(readable(port->sq_doorbell));            /* the ring is kept */
    CU_ASSERT_EQUAL(phx_ring_push(&app_sq, &d, 1), 1);
    CU_ASSERT_EQUAL(phx_ring_notify(&app_sq), 0);           /* awake: not rung again */
    CU_ASSERT_EQUAL(phx_app_port_arm(port, &w), 1);         /* the work is seen */
    CU_ASSERT_EQUAL(phx_app_port_pop_submissions(port, got, 4), 2);
    CU_ASSERT_EQUAL(phx_app_port_arm(port, &w), 0);
    CU_ASSERT_TRUE(readable(w.fd));                         /* this sleep ends at once ... */
    phx_app_port_disarm(port, true);                        /* ... and drains it */
    CU_ASSERT_FALSE(readable(port->sq_doorbell));
    CU_ASSERT_EQUAL(phx_app_port_arm(port, &w), 0);
    CU_ASSERT_EQUAL(phx_ring_push(&app_sq, &d, 1), 1);
    CU_ASSERT_EQUAL(phx_ring_notify(&app_sq), 1);           /* asleep again: rung again */
    phx_app_port_disarm(port, true);
    CU_ASSERT_FALSE(readable(port->sq_doorbell));
    phx_app_port_destroy(port);
}

/* Completions pushed without the doorbell ring a sleeping app once, at notify, and not before;
 * a notify with nothing pushed since the last one rings nobody, even an app asleep. */
static void test_completions_of_a_pass_ring_once(void)
{
    phx_app_port_t *port = small_port(-1);
    phx_ring_t app_cq;
    phx_desc_t d = { .kind = PHX_DESC_DATA }, got[4];
    uint64_t rings;

    CU_ASSERT_PTR_NOT_NULL_FATAL(port);
    CU_ASSERT_EQUAL_FATAL(phx_ring_attach(&app_cq, (char *)port->rings.base +
                                          port->layout.cq_offset, port->layout.ring_size,
                                          port->cq_doorbell), 0);
    CU_ASSERT_TRUE(phx_ring_prepare_sleep(&app_cq));        /* the app goes to sleep */
    for (unsigned i = 0; i < 3; i++)
        CU_ASSERT_EQUAL(phx_app_port_push_completions(port, &d, 1), 1);
    CU_ASSERT_FALSE(readable(port->cq_doorbell));           /* not yet: the pass goes on */
    CU_ASSERT_EQUAL(phx_app_port_notify(port), 1);          /* its end: rung once */
    CU_ASSERT_EQUAL(phx_app_port_notify(port), 0);          /* nothing new */
    CU_ASSERT_TRUE(readable(port->cq_doorbell));
    CU_ASSERT_EQUAL(read(port->cq_doorbell, &rings, sizeof(rings)), (ssize_t)sizeof(rings));
    CU_ASSERT_EQUAL(rings, 1);
    phx_ring_finish_sleep(&app_cq);
    CU_ASSERT_EQUAL(phx_ring_pop(&app_cq, got, 4), 3);
    CU_ASSERT_TRUE(phx_ring_prepare_sleep(&app_cq));        /* asleep again, nothing owed */
    CU_ASSERT_EQUAL(phx_app_port_notify(port), 0);
    CU_ASSERT_FALSE(readable(port->cq_doorbell));
    CU_ASSERT_EQUAL(phx_app_port_push_completions(port, &d, 1), 1);
    CU_ASSERT_EQUAL(phx_app_port_notify(port), 1);          /* the next pass rings again */
    CU_ASSERT_TRUE(readable(port->cq_doorbell));
    phx_ring_finish_sleep(&app_cq);
    CU_ASSERT_EQUAL(phx_app_port_complete(port, &d, 1), 1); /* awake: complete() rings nobody */
    CU_ASSERT_FALSE(readable(port->cq_doorbell));
    CU_ASSERT_EQUAL(phx_ring_pop(&app_cq, got, 4), 2);
    phx_app_port_destroy(port);
}

static void test_bad_params(void)
{
    char err[256] = "";
    struct phx_app_port_params p = { .field_mask = PHX_APP_PORT_PARAM_FIELD_DEPTH, .depth = 3 };

    CU_ASSERT_PTR_NULL(phx_app_port_create(&p, err, sizeof(err)));
    CU_ASSERT_EQUAL(errno, EINVAL);
    CU_ASSERT(strstr(err, "power of two") != NULL);
    p.depth = 0;
    CU_ASSERT_PTR_NULL(phx_app_port_create(&p, err, sizeof(err)));
    p.field_mask = PHX_APP_PORT_PARAM_FIELD_SEND_SIZE;
    p.send_size = 4096;
    CU_ASSERT_PTR_NULL(phx_app_port_create(&p, err, sizeof(err)));
    CU_ASSERT(strstr(err, "slab") != NULL);
}

static void test_layout_check(void)
{
    phx_app_port_t *port = small_port(-1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(port);
    const struct phx_app_port_layout good = port->layout;
    struct phx_app_port_layout l;

    CU_ASSERT_EQUAL(phx_app_port_layout_check(&good), 0);
    l = good; l.depth = 48;                      CU_ASSERT_EQUAL(phx_app_port_layout_check(&l), -EPROTO);
    l = good; l.cq_offset = good.sq_offset;      CU_ASSERT_EQUAL(phx_app_port_layout_check(&l), -EPROTO);
    l = good; l.cq_offset = good.rings_size;     CU_ASSERT_EQUAL(phx_app_port_layout_check(&l), -EPROTO);
    l = good; l.sq_offset = UINT64_MAX - 63;     CU_ASSERT_EQUAL(phx_app_port_layout_check(&l), -EPROTO);
    l = good; l.ring_size = good.ring_size * 2;  CU_ASSERT_EQUAL(phx_app_port_layout_check(&l), -EPROTO);
    l = good; l.slab_size = 12345;               CU_ASSERT_EQUAL(phx_app_port_layout_check(&l), -EPROTO);
    l = good; l.send_size = 0;                   CU_ASSERT_EQUAL(phx_app_port_layout_check(&l), -EPROTO);
    phx_app_port_destroy(port);
}

static void test_no_leak(void)
{
    unsigned before = count_open_fds();
    for (int i = 0; i < 20; i++) {
        phx_app_port_t *port = small_port(-1);
        CU_ASSERT_PTR_NOT_NULL(port);
        phx_app_port_destroy(port);
    }
    phx_app_port_destroy(NULL);
    CU_ASSERT_EQUAL(count_open_fds(), before);
}

int main(int argc, char **argv)
{
    static const phx_test_case_t cases[] = {
        { "stream across fork", test_stream_across_fork },
        { "broken submission ring", test_broken_ring },
        { "broken completion ring", test_broken_completion_ring },
        { "arm with work queued", test_arm_with_work },
        { "disarm drains only when rung", test_disarm_drains_only_when_rung },
        { "completions of a pass ring once", test_completions_of_a_pass_ring_once },
        { "bad params", test_bad_params },
        { "layout check", test_layout_check },
        { "no leak", test_no_leak },
        { NULL, NULL },
    };
    return phx_test_main("app_port", cases, argc, argv);
}
