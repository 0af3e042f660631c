/* test_runtime.c - runtime threads with fake in-process engines.
 *
 * Each fake engine counts its progress() calls and can be told to report work, to arm with an
 * eventfd or a timeout, or to flag a progress() call made while the test holds its group
 * suspended. The cases cover the command semantics (add/remove/suspend/resume, errors on unknown
 * or duplicate groups), adaptive polling (an idle runtime stops turning; a sleeping runtime wakes
 * on the fd an engine armed, or on its timeout, and tells each engine whether its own fd woke it;
 * an engine with late work cancels the sleep), fd
 * sharing between engines (dropping one engine keeps the other's registration), pinning, stop
 * with groups still on it, and the order of urgent groups (phx_engine_set_urgency). Every wait has a deadline; all state the runtime thread touches is
 * atomic so that ThreadSanitizer checks the runtime's own synchronisation. */
#include "runtime.h"
#include "phx_test.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#define MS 1000000ull

struct fake {
    int progress_calls;
    int work_per_call;      /* what progress() returns */
    int forbidden;          /* set by the test: a progress() call now is a bug */
    int violations;
    int fd;                 /* eventfd to arm with, -1: none */
    int timeout_ms;         /* arm's timeout */
    int busy_arms;          /* arm() returns 1 this many more times */
    int arms, disarms;
    int woken;              /* disarm() calls told their own fd ended the sleep */
    int events;             /* eventfd reads that found something */
    int last_cpu;
};

#define LOAD(x)     __atomic_load_n(&(x), __ATOMIC_SEQ_CST)
#define STORE(x, v) __atomic_store_n(&(x), (v), __ATOMIC_SEQ_CST)
#define INC(x)      __atomic_add_fetch(&(x), 1, __ATOMIC_SEQ_CST)

static int fake_progress(phx_engine_t *e, void *state)
{
    struct fake *f = state;
    uint64_t v;

    INC(f->progress_calls);
    if (LOAD(f->forbidden))
        INC(f->violations);
    STORE(f->last_cpu, sched_getcpu());
    int work = LOAD(f->work_per_call);
    if (f->fd >= 0 && read(f->fd, &v, sizeof(v)) == (ssize_t)sizeof(v)) {
        INC(f->events);
        work++;
    }
    return work;
}

static int fake_arm(phx_engine_t *e, void *state, phx_wait_t *w)
{
    struct fake *f = state;

    INC(f->arms);
    if (LOAD(f->busy_arms) > 0) {
        __atomic_sub_fetch(&f->busy_arms, 1, __ATOMIC_SEQ_CST);
        return 1;
    }
    w->fd = f->fd;
    w->timeout_ms = f->timeout_ms;
    return 0;
}

static void fake_disarm(phx_engine_t *e, void *state)
{
    struct fake *f = state;
    INC(f->disarms);
    if (phx_engine_woken(e))
        INC(f->woken);
}

static const phx_engine_ops_t fake_ops = {
    .type = "FakeEngine",
    .progress = fake_progress,
    .arm = fake_arm,
    .disarm = fake_disarm,
};

/* One engine and the group around it. */
struct fake_group {
    struct fake             f;
    phx_engine_t            e;
    struct phx_subscription sub;
};

static void fake_group_init(struct fake_group *g, int fd, int work_per_call)
{
    memset(g, 0, sizeof(*g));
    g->f.fd = fd;
    g->f.timeout_ms = -1;
    g->f.work_per_call = work_per_call;
    g->e.ops = &fake_ops;
    g->e.state = &g->f;
    g->e.wait_fd = -1;
    g->e.sub = &g->sub;
    g->e.group = &g->sub.group;
    g->sub.engines[0] = &g->e;
    g->sub.n_engines = 1;
}

static struct phx_runtime *start_runtime(unsigned spin_us)
{
    struct phx_runtime_params p = {
        .field_mask = PHX_RUNTIME_PARAM_FIELD_INDEX | PHX_RUNTIME_PARAM_FIELD_SPIN_US,
        .index = 3,
        .spin_us = spin_us,
    };
    char err[256] = "";
    struct phx_runtime *rt = phx_runtime_start(&p, err, sizeof(err));
    if (!rt)
        fprintf(stderr, "runtime start: %s\n", err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(rt);
    return rt;
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

/* Waits up to TIMEOUT_MS for *COUNTER to reach AT_LEAST. */
static bool wait_for(int *counter, int at_least, unsigned timeout_ms)
{
    unsigned long long deadline = phx_test_now_ns() + timeout_ms * MS;
    while (LOAD(*counter) < at_least) {
        if (phx_test_now_ns() > deadline)
            return false;
        sleep_ms(1);
    }
    return true;
}

/* Waits until the runtime sleeps and its iteration count stays put for a while. */
static bool wait_idle(struct phx_runtime *rt, unsigned timeout_ms)
{
    unsigned long long deadline = phx_test_now_ns() + timeout_ms * MS;
    struct phx_runtime_stats a, b;

    phx_runtime_get_stats(rt, &a);
    while (phx_test_now_ns() < deadline) {
        sleep_ms(20);
        phx_runtime_get_stats(rt, &b);
        if (b.sleeps > 0 && b.iterations == a.iterations)
            return true;
        a = b;
    }
    return false;
}

static int new_eventfd(void)
{
    int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    CU_ASSERT_FATAL(fd >= 0);
    return fd;
}

static void ring_fd(int fd)
{
    uint64_t one = 1;
    CU_ASSERT(write(fd, &one, sizeof(one)) == (ssize_t)sizeof(one));
}

/* ---- cases -------------------------------------------------------------------------------- */

static void test_add_remove(void)
{
    struct phx_runtime *rt = start_runtime(50);
    struct fake_group g;
    struct phx_runtime_stats st;

    fake_group_init(&g, -1, 1);
    CU_ASSERT_EQUAL(phx_runtime_add(rt, &g.sub), 0);
    CU_ASSERT_PTR_EQUAL(g.sub.runtime, rt);
    CU_ASSERT_EQUAL(g.sub.group.runtime_index, 3);
    CU_ASSERT_EQUAL(phx_runtime_add(rt, &g.sub), -EEXIST);
    CU_ASSERT(wait_for(&g.f.progress_calls, 1000, 2000));
    phx_runtime_get_stats(rt, &st);
    CU_ASSERT_EQUAL(st.groups, 1);
    CU_ASSERT(st.work >= 1000);

    CU_ASSERT_EQUAL(phx_runtime_remove(rt, &g.sub), 0);
    CU_ASSERT_PTR_NULL(g.sub.runtime);
    STORE(g.f.forbidden, 1);            /* removed: never called again */
    sleep_ms(30);
    CU_ASSERT_EQUAL(LOAD(g.f.violations), 0);
    CU_ASSERT_EQUAL(phx_runtime_remove(rt, &g.sub), -ENOENT);
    CU_ASSERT_EQUAL(phx_runtime_suspend(rt, &g.sub), -ENOENT);
    CU_ASSERT_EQUAL(phx_runtime_resume(rt, &g.sub), -ENOENT);
    CU_ASSERT_EQUAL(phx_runtime_add(NULL, &g.sub), -EINVAL);
    CU_ASSERT_EQUAL(phx_runtime_add(rt, NULL), -EINVAL);
    phx_runtime_get_stats(rt, &st);
    CU_ASSERT_EQUAL(st.groups, 0);
    phx_runtime_stop(rt);
}

/* While suspended, progress() of that group is never called, and others keep running. */
static void test_suspend_resume(void)
{
    struct phx_runtime *rt = start_runtime(50);
    struct fake_group a, b;

    fake_group_init(&a, -1, 1);
    fake_group_init(&b, -1, 1);
    CU_ASSERT_EQUAL(phx_runtime_add(rt, &a.sub), 0);
    CU_ASSERT_EQUAL(phx_runtime_add(rt, &b.sub), 0);
    for (int round = 0; round < 20; round++) {
        CU_ASSERT_EQUAL(phx_runtime_suspend(rt, &a.sub), 0);
        STORE(a.f.forbidden, 1);
        int a_calls = LOAD(a.f.progress_calls), b_calls = LOAD(b.f.progress_calls);
        CU_ASSERT(wait_for(&b.f.progress_calls, b_calls + 100, 2000));
        CU_ASSERT_EQUAL(LOAD(a.f.progress_calls), a_calls);
        CU_ASSERT_EQUAL(phx_runtime_suspend(rt, &a.sub), 0);     /* idempotent */
        STORE(a.f.forbidden, 0);
        CU_ASSERT_EQUAL(phx_runtime_resume(rt, &a.sub), 0);
        CU_ASSERT(wait_for(&a.f.progress_calls, a_calls + 100, 2000));
    }
    CU_ASSERT_EQUAL(LOAD(a.f.violations), 0);
    phx_runtime_stop(rt);
}

/* With nothing to do the runtime blocks: the iteration count stops growing, with or without
 * groups. */
static void test_idle_sleeps(void)
{
    struct phx_runtime *rt = start_runtime(50);
    struct phx_runtime_stats before, after;
    struct fake_group g;
    int fd = new_eventfd();

    CU_ASSERT(wait_idle(rt, 2000));
    fake_group_init(&g, fd, 0);
    CU_ASSERT_EQUAL(phx_runtime_add(rt, &g.sub), 0);
    CU_ASSERT(wait_idle(rt, 2000));
    phx_runtime_get_stats(rt, &before);
    sleep_ms(200);
    phx_runtime_get_stats(rt, &after);
    CU_ASSERT_EQUAL(after.iterations, before.iterations);
    CU_ASSERT_EQUAL(after.sleeps, before.sleeps);
    CU_ASSERT(LOAD(g.f.arms) >= 1);
    CU_ASSERT_EQUAL(LOAD(g.f.arms), LOAD(g.f.disarms) + 1);   /* armed now, asleep */
    phx_runtime_stop(rt);
    close(fd);
}

/* A sleeping runtime wakes when the fd an engine armed becomes readable, many times over. */
static void test_wakes_on_fd(void)
{
    struct phx_runtime *rt = start_runtime(20);
    struct phx_runtime_stats st;
    struct fake_group g;
    int fd = new_eventfd();

    fake_group_init(&g, fd, 0);
    CU_ASSERT_EQUAL(phx_runtime_add(rt, &g.sub), 0);
    for (int i = 1; i <= 20; i++) {
        CU_ASSERT(wait_idle(rt, 2000));
        ring_fd(fd);
        CU_ASSERT(wait_for(&g.f.events, i, 1000));
    }
    phx_runtime_get_stats(rt, &st);
    CU_ASSERT(st.sleeps >= 20);
    phx_runtime_stop(rt);
    close(fd);
}

/* An engine asking for a timeout is woken by it without any fd. */
static void test_wakes_on_timeout(void)
{
    struct phx_runtime *rt = start_runtime(20);
    struct phx_runtime_stats a, b;
    struct fake_group g;

    fake_group_init(&g, -1, 0);
    g.f.timeout_ms = 10;
    CU_ASSERT_EQUAL(phx_runtime_add(rt, &g.sub), 0);
    sleep_ms(20);
    phx_runtime_get_stats(rt, &a);
    sleep_ms(200);
    phx_runtime_get_stats(rt, &b);
    /* 200 ms / 10 ms = 20 wake-ups; allow for a slow, shared machine. */
    CU_ASSERT(b.sleeps - a.sleeps >= 5);
    CU_ASSERT(b.sleeps - a.sleeps <= 40);
    phx_runtime_stop(rt);
}

/* arm() saying "work after all" cancels the sleep; every engine armed is disarmed. */
static void test_late_work_cancels_sleep(void)
{
    struct phx_runtime *rt = start_runtime(10);
    struct fake_group g;
    int fd = new_eventfd();

    fake_group_init(&g, fd, 0);
    g.f.busy_arms = 5;
    CU_ASSERT_EQUAL(phx_runtime_add(rt, &g.sub), 0);
    CU_ASSERT(wait_idle(rt, 2000));
    CU_ASSERT_EQUAL(LOAD(g.f.busy_arms), 0);
    CU_ASSERT_EQUAL(LOAD(g.f.arms), 6);
    CU_ASSERT_EQUAL(LOAD(g.f.disarms), 0);     /* the five busy ones were never armed */
    ring_fd(fd);
    CU_ASSERT(wait_for(&g.f.disarms, 1, 1000));
    phx_runtime_stop(rt);
    close(fd);
}

/* Two groups watch one fd; removing one must keep the fd registered for the other. */
static void test_shared_fd(void)
{
    struct phx_runtime *rt = start_runtime(20);
    struct fake_group a, b;
    int fd = new_eventfd();

    fake_group_init(&a, fd, 0);
    fake_group_init(&b, fd, 0);
    CU_ASSERT_EQUAL(phx_runtime_add(rt, &a.sub), 0);
    CU_ASSERT_EQUAL(phx_runtime_add(rt, &b.sub), 0);
    CU_ASSERT(wait_idle(rt, 2000));
    CU_ASSERT_EQUAL(phx_runtime_remove(rt, &a.sub), 0);
    phx_runtime_forget(rt, &a.e);
    CU_ASSERT(wait_idle(rt, 2000));
    ring_fd(fd);
    CU_ASSERT(wait_for(&b.f.events, 1, 1000));
    phx_runtime_stop(rt);
    close(fd);
}

/* disarm() is told whether its own fd ended the sleep (phx_engine_woken): an engine drains its
 * doorbell only then, not on every wake-up another engine's fd causes. */
static void test_woken_by_own_fd(void)
{
    struct phx_runtime *rt = start_runtime(20);
    struct fake_group a, b;
    int fa = new_eventfd(), fb = new_eventfd();

    fake_group_init(&a, fa, 0);
    fake_group_init(&b, fb, 0);
    CU_ASSERT_EQUAL(phx_runtime_add(rt, &a.sub), 0);
    CU_ASSERT_EQUAL(phx_runtime_add(rt, &b.sub), 0);
    CU_ASSERT(wait_idle(rt, 2000));
    CU_ASSERT_EQUAL(LOAD(a.f.woken) + LOAD(b.f.woken), 0);
    ring_fd(fa);
    CU_ASSERT(wait_for(&a.f.events, 1, 1000));
    CU_ASSERT_EQUAL(LOAD(a.f.woken), 1);
    CU_ASSERT_EQUAL(LOAD(b.f.woken), 0);        /* disarmed too, but not by its fd */
    CU_ASSERT(LOAD(b.f.disarms) >= 1);
    CU_ASSERT(wait_idle(rt, 2000));
    ring_fd(fb);
    CU_ASSERT(wait_for(&b.f.events, 1, 1000));
    CU_ASSERT_EQUAL(LOAD(b.f.woken), 1);
    CU_ASSERT_EQUAL(LOAD(a.f.woken), 1);
    phx_runtime_stop(rt);
    close(fa);
    close(fb);
}

/* Replacing an engine while its group is suspended: forget the old one, its fd number may be
 * reused by the new one's fd. */
static void test_forget_and_replace(void)
{
    struct phx_runtime *rt = start_runtime(20);
    struct fake_group g;
    struct fake f2;
    phx_engine_t e2;
    int fd = new_eventfd();

    fake_group_init(&g, fd, 0);
    CU_ASSERT_EQUAL(phx_runtime_add(rt, &g.sub), 0);
    CU_ASSERT(wait_idle(rt, 2000));
    CU_ASSERT_EQUAL(phx_runtime_suspend(rt, &g.sub), 0);
    phx_runtime_forget(rt, &g.e);
    CU_ASSERT_EQUAL(g.e.wait_fd, -1);
    close(fd);
    int fd2 = new_eventfd();               /* very likely the same number */
    f2 = g.f;
    f2.fd = fd2;
    f2.events = 0;
    e2 = g.e;
    e2.state = &f2;
    g.sub.engines[0] = &e2;
    CU_ASSERT_EQUAL(phx_runtime_resume(rt, &g.sub), 0);
    CU_ASSERT(wait_idle(rt, 2000));
    ring_fd(fd2);
    CU_ASSERT(wait_for(&f2.events, 1, 1000));
    phx_runtime_stop(rt);
    close(fd2);
}

/* Pinned to a CPU set (what a placement's runtime_cpus holds): progress runs there; an empty,
 * unbounded or too large set is refused with a message. */
static void test_pinning(void)
{
    cpu_set_t mine;
    int cpu = -1;
    char err[256] = "";
    hwloc_bitmap_t set = hwloc_bitmap_alloc();

    CU_ASSERT_PTR_NOT_NULL_FATAL(set);
    CU_ASSERT_FATAL(sched_getaffinity(0, sizeof(mine), &mine) == 0);
    for (int c = CPU_SETSIZE - 1; c >= 0; c--)
        if (CPU_ISSET(c, &mine))
            cpu = c;
    hwloc_bitmap_only(set, (unsigned)cpu);
    struct phx_runtime_params p = { .field_mask = PHX_RUNTIME_PARAM_FIELD_CPUSET, .cpus = set };
    struct phx_runtime *rt = phx_runtime_start(&p, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(rt);
    struct fake_group g;
    fake_group_init(&g, -1, 1);
    g.f.last_cpu = -2;
    CU_ASSERT_EQUAL(phx_runtime_add(rt, &g.sub), 0);
    CU_ASSERT(wait_for(&g.f.progress_calls, 100, 2000));
    CU_ASSERT_EQUAL(LOAD(g.f.last_cpu), cpu);
    phx_runtime_stop(rt);

    hwloc_bitmap_zero(set);                         /* empty */
    err[0] = 0;
    CU_ASSERT_PTR_NULL(phx_runtime_start(&p, err, sizeof(err)));
    CU_ASSERT(strstr(err, "empty") != NULL);
    hwloc_bitmap_fill(set);                         /* unbounded */
    err[0] = 0;
    CU_ASSERT_PTR_NULL(phx_runtime_start(&p, err, sizeof(err)));
    CU_ASSERT(strstr(err, "unbounded") != NULL);
    hwloc_bitmap_only(set, CPU_SETSIZE + 5);        /* past what the kernel call takes */
    err[0] = 0;
    CU_ASSERT_PTR_NULL(phx_runtime_start(&p, err, sizeof(err)));
    CU_ASSERT(strstr(err, "past CPU") != NULL);
    p.field_mask = 0;                               /* no field: not pinned */
    rt = phx_runtime_start(&p, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL(rt);
    phx_runtime_stop(rt);
    hwloc_bitmap_free(set);
}

/* Stopping drops the groups still on it without touching them. */
static void test_stop_with_groups(void)
{
    struct phx_runtime *rt = start_runtime(50);
    struct fake_group g[3];

    for (int i = 0; i < 3; i++) {
        fake_group_init(&g[i], -1, i == 0);
        CU_ASSERT_EQUAL(phx_runtime_add(rt, &g[i].sub), 0);
    }
    CU_ASSERT(wait_for(&g[0].f.progress_calls, 10, 2000));
    phx_runtime_stop(rt);
    for (int i = 0; i < 3; i++) {
        CU_ASSERT_PTR_NULL(g[i].sub.runtime);
        CU_ASSERT_EQUAL(g[i].e.wait_fd, -1);
    }
}

/* Many commands from two threads at once are each carried out exactly once. */
struct hammer_arg {
    struct phx_runtime *rt;
    struct fake_group   g;
    int                 failures;
};

static void *hammer(void *p)
{
    struct hammer_arg *a = p;
    for (int i = 0; i < 200; i++) {
        if (phx_runtime_add(a->rt, &a->g.sub) || phx_runtime_suspend(a->rt, &a->g.sub) ||
            phx_runtime_resume(a->rt, &a->g.sub) || phx_runtime_remove(a->rt, &a->g.sub))
            a->failures++;
    }
    return NULL;
}

static void test_concurrent_callers(void)
{
    struct phx_runtime *rt = start_runtime(20);
    struct hammer_arg a[2];
    pthread_t t[2];

    for (int i = 0; i < 2; i++) {
        a[i].rt = rt;
        a[i].failures = 0;
        fake_group_init(&a[i].g, -1, 1);
        CU_ASSERT_FATAL(pthread_create(&t[i], NULL, hammer, &a[i]) == 0);
    }
    for (int i = 0; i < 2; i++) {
        pthread_join(t[i], NULL);
        CU_ASSERT_EQUAL(a[i].failures, 0);
    }
    struct phx_runtime_stats st;
    phx_runtime_get_stats(rt, &st);
    CU_ASSERT_EQUAL(st.groups, 0);
    phx_runtime_stop(rt);
}

/* Progress calls of G1 and G2 over a while the runtime turns. */
static void calls_over(struct fake_group *a, struct fake_group *b, unsigned ms, int *da, int *db)
{
    int a0 = LOAD(a->f.progress_calls), b0 = LOAD(b->f.progress_calls);

    sleep_ms(ms);
    *da = LOAD(a->f.progress_calls) - a0;
    *db = LOAD(b->f.progress_calls) - b0;
}

/* A group marked urgent (phx_engine_set_urgency, as QosEngine's latency class does) is
 * progressed first and again after every other group that did work: three times per turn beside
 * two busy groups, twice beside one busy and one idle; unmarked, once like the others. */
static void test_urgent_groups(void)
{
    struct phx_runtime *rt = start_runtime(50);
    struct fake_group u, busy, idle;
    int du, db;

    fake_group_init(&u, -1, 1);
    fake_group_init(&busy, -1, 1);
    fake_group_init(&idle, -1, 1);
    CU_ASSERT_EQUAL(phx_runtime_add(rt, &busy.sub), 0);
    CU_ASSERT_EQUAL(phx_runtime_add(rt, &u.sub), 0);
    CU_ASSERT_EQUAL(phx_runtime_add(rt, &idle.sub), 0);
    calls_over(&u, &busy, 200, &du, &db);
    CU_ASSERT(db > 100 && du >= db * 9 / 10 && du <= db * 11 / 10);

    phx_engine_set_urgency(&u.e, 1);
    CU_ASSERT_EQUAL(phx_engine_urgency(&u.e), 1);
    calls_over(&u, &busy, 200, &du, &db);
    CU_ASSERT(db > 100 && du >= db * 28 / 10 && du <= db * 32 / 10);

    STORE(idle.f.work_per_call, 0);             /* an idle group: no second call after it */
    calls_over(&u, &busy, 200, &du, &db);
    CU_ASSERT(db > 100 && du >= db * 18 / 10 && du <= db * 22 / 10);

    phx_engine_set_urgency(&u.e, 0);
    calls_over(&u, &busy, 200, &du, &db);
    CU_ASSERT(db > 100 && du >= db * 9 / 10 && du <= db * 11 / 10);
    printf("(urgent %d vs busy %d calls in 200 ms) ", du, db);
    phx_runtime_stop(rt);
}

int main(int argc, char **argv)
{
    static const phx_test_case_t cases[] = {
        { "add and remove", test_add_remove },
        { "suspend and resume", test_suspend_resume },
        { "idle runtime sleeps", test_idle_sleeps },
        { "wakes on an armed fd", test_wakes_on_fd },
        { "wakes on an armed timeout", test_wakes_on_timeout },
        { "late work cancels sleep", test_late_work_cancels_sleep },
        { "shared fd survives one engine", test_shared_fd },
        { "disarm knows its own fd woke it", test_woken_by_own_fd },
        { "forget and replace an engine", test_forget_and_replace },
        { "pinning", test_pinning },
        { "stop with groups", test_stop_with_groups },
        { "concurrent callers", test_concurrent_callers },
        { "urgent groups go first and between", test_urgent_groups },
        { NULL, NULL },
    };
    return phx_test_main("runtime", cases, argc, argv);
}
