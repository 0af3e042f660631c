/* runtime.c - a runtime thread: progresses its engine groups, spins while busy, sleeps when idle.
 *
 * Commands. The control thread never touches a runtime's group list directly. It posts one
 * command at a time in `cmd` under `lock`, raises the `pending` flag, kicks the thread through
 * the `kick_fd` eventfd (in case it sleeps) and waits on `cond` until the thread has carried it
 * out between two iterations. The thread checks `pending` with a relaxed load at the top of every
 * turn (no system call, no lock on the busy path) and takes the lock only when it is set; the
 * lock is what orders the command's data, the flag is only a hint.
 *
 * Loop. One turn calls progress() on every engine of every non-suspended group, in the group's
 * engine order; groups a policy marked urgent (phx_engine_set_urgency: QosEngine's latency class)
 * go first and again after every other group that did work. While any returns work the thread keeps turning. A turn without work ends with
 * sched_yield(): on a node with fewer cores than busy processes (apps, services) the thread it
 * lets run is often the very one this thread waits for, and handing the core over costs a
 * context switch instead of the tens of microseconds of a sleep and wake-up (measured: 64 B round
 * trip between two services 161 us -> 33 us on 2 cores; benchmarks/RESULTS.md). The spinning is
 * adaptive (spin.h): a yield that kept the core away for a time slice (a CPU-bound process of
 * the same scheduling group got it) ends the spin at once and the next idle periods sleep
 * without spinning, backing off, so that the thread is woken by its fds ahead of the busy process
 * instead of waiting out its slices. After `spin_us` without work (or at once, while backing
 * off) it calls arm() on every engine; any engine that still has work cancels the sleep.
 * Otherwise the fds the engines gave are made part of the epoll set and the thread sleeps in
 * epoll_wait with the smallest timeout any engine asked for (none: until an fd or a kick), then
 * disarm()s them, telling each whether its own fd was among those reported (phx_engine_woken():
 * an app's doorbell is drained only when it rang, not on every wake-up from the network).
 *
 * Wait fds stay registered across sleeps (epoll_ctl costs a system call): each engine's current
 * fd is in `e->wait_fd`, and a per-fd reference count lets several engines share one fd (two
 * engines of a chain watching the same doorbell). An engine's fd is dropped when it arms with
 * another one, when its group is suspended or removed (a suspended group must not wake us in a
 * loop) and by phx_runtime_forget() before the engine is destroyed, so a closed fd number that
 * gets reused is never confused with the old registration. Only this thread touches the epoll
 * set and the table; forget is therefore a command too.
 *
 * The thread owns nothing of the groups: stopping it just drops them. */
#include "runtime.h"
#include "spin.h"

#include "phoenix/clock.h"
#include "phoenix/log.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#define RT_DEFAULT_SPIN_US   50u
#define RT_MAX_EVENTS        32
#define RT_BAD_FD_TIMEOUT_MS 10   /* poll engines whose fd epoll refused, rather than never */

enum rt_cmd_kind {
    RT_CMD_NONE,
    RT_CMD_ADD,
    RT_CMD_REMOVE,
    RT_CMD_SUSPEND,
    RT_CMD_RESUME,
    RT_CMD_FORGET,
    RT_CMD_STOP,
};

struct rt_cmd {
    enum rt_cmd_kind         kind;
    struct phx_subscription *sub;
    phx_engine_t            *engine;
    int                      result;
    bool                     done;
};

struct rt_group {
    struct phx_subscription *sub;
    bool                     suspended;
};

struct rt_fd_ref {
    int      fd;
    unsigned refs;
};

struct phx_runtime {
    pthread_t        thread;
    unsigned         index;
    unsigned         spin_us;
    int              epfd;
    int              kick_fd;

    pthread_mutex_t  lock;          /* guards cmd */
    pthread_cond_t   cond;          /* cmd slot freed / cmd done */
    struct rt_cmd    cmd;
    int              pending;       /* atomic hint: cmd.kind != NONE and not done */

    /* Owned by the runtime thread. */
    struct rt_group  *groups;
    unsigned          n_groups, cap_groups;
    struct rt_fd_ref *fds;
    unsigned          n_fds, cap_fds;
    bool              stopping;

    /* Written by the runtime thread only, read by anyone (relaxed atomics). */
    struct phx_runtime_stats stats;
};

/* ---- statistics ---------------------------------------------------------------------------- */

static void stat_add(uint64_t *counter, uint64_t n)
{
    /* Single writer: a load and a store, no locked instruction on the busy path. */
    __atomic_store_n(counter, __atomic_load_n(counter, __ATOMIC_RELAXED) + n, __ATOMIC_RELAXED);
}

void phx_runtime_get_stats(struct phx_runtime *rt, struct phx_runtime_stats *st)
{
    st->iterations = __atomic_load_n(&rt->stats.iterations, __ATOMIC_RELAXED);
    st->work = __atomic_load_n(&rt->stats.work, __ATOMIC_RELAXED);
    st->sleeps = __atomic_load_n(&rt->stats.sleeps, __ATOMIC_RELAXED);
    st->busy_ns = __atomic_load_n(&rt->stats.busy_ns, __ATOMIC_RELAXED);
    st->groups = __atomic_load_n(&rt->stats.groups, __ATOMIC_RELAXED);
}

/* ---- epoll registrations, reference-counted per fd ---------------------------------------- */

static struct rt_fd_ref *fd_ref_find(struct phx_runtime *rt, int fd)
{
    for (unsigned i = 0; i < rt->n_fds; i++)
        if (rt->fds[i].fd == fd)
            return &rt->fds[i];
    return NULL;
}

/* Adds one reference to FD, registering it with epoll on the first. 0 or -errno. */
static int fd_ref_get(struct phx_runtime *rt, int fd)
{
    struct rt_fd_ref *ref = fd_ref_find(rt, fd);

    if (ref) {
        ref->refs++;
        return 0;
    }
    if (rt->n_fds == rt->cap_fds) {
        unsigned cap = rt->cap_fds ? 2 * rt->cap_fds : 8;
        struct rt_fd_ref *fds = realloc(rt->fds, cap * sizeof(*fds));
        if (!fds)
            return -ENOMEM;
        rt->fds = fds;
        rt->cap_fds = cap;
    }
    struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };
    if (epoll_ctl(rt->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
        return -errno;
    rt->fds[rt->n_fds++] = (struct rt_fd_ref){ .fd = fd, .refs = 1 };
    return 0;
}

static void fd_ref_put(struct phx_runtime *rt, int fd)
{
    struct rt_fd_ref *ref = fd_ref_find(rt, fd);

    if (!ref || --ref->refs > 0)
        return;
    /* Fails harmlessly (EBADF/ENOENT) when the fd was closed already: epoll dropped it then. */
    epoll_ctl(rt->epfd, EPOLL_CTL_DEL, fd, NULL);
    *ref = rt->fds[--rt->n_fds];
}

/* Makes FD (or -1: nothing) the fd the epoll set watches for E. Returns false when epoll refused
 * FD, in which case E has no fd registered. */
static bool engine_watch(struct phx_runtime *rt, phx_engine_t *e, int fd)
{
    if (e->wait_fd == fd)
        return true;
    if (e->wait_fd >= 0)
        fd_ref_put(rt, e->wait_fd);
    e->wait_fd = -1;
    if (fd < 0)
        return true;
    int rc = fd_ref_get(rt, fd);
    if (rc < 0) {
        phx_debug("runtime %u: cannot watch fd %d of engine %s#%llu: %s", rt->index, fd,
                  e->ops->type, (unsigned long long)e->id, strerror(-rc));
        return false;
    }
    e->wait_fd = fd;
    return true;
}

static void group_unwatch(struct phx_runtime *rt, struct phx_subscription *sub)
{
    for (unsigned i = 0; i < sub->n_engines; i++)
        engine_watch(rt, sub->engines[i], -1);
}

/* ---- commands, on the runtime thread ------------------------------------------------------- */

static struct rt_group *group_find(struct phx_runtime *rt, struct phx_subscription *sub)
{
    for (unsigned i = 0; i < rt->n_groups; i++)
        if (rt->groups[i].sub == sub)
            return &rt->groups[i];
    return NULL;
}

static int group_add(struct phx_runtime *rt, struct phx_subscription *sub)
{
    if (group_find(rt, sub))
        return -EEXIST;
    if (rt->n_groups == rt->cap_groups) {
        unsigned cap = rt->cap_groups ? 2 * rt->cap_groups : 8;
        struct rt_group *groups = realloc(rt->groups, cap * sizeof(*groups));
        if (!groups)
            return -ENOMEM;
        rt->groups = groups;
        rt->cap_groups = cap;
    }
    rt->groups[rt->n_groups++] = (struct rt_group){ .sub = sub, .suspended = false };
    return 0;
}

static int group_remove(struct phx_runtime *rt, struct phx_subscription *sub)
{
    struct rt_group *g = group_find(rt, sub);

    if (!g)
        return -ENOENT;
    group_unwatch(rt, sub);
    /* Keep the order of the others: fairness between groups follows their position. */
    unsigned at = (unsigned)(g - rt->groups);
    memmove(g, g + 1, (rt->n_groups - at - 1) * sizeof(*g));
    rt->n_groups--;
    return 0;
}

static int group_set_suspended(struct phx_runtime *rt, struct phx_subscription *sub, bool on)
{
    struct rt_group *g = group_find(rt, sub);

    if (!g)
        return -ENOENT;
    if (on)
        group_unwatch(rt, sub);
    g->suspended = on;
    return 0;
}

static int cmd_execute(struct phx_runtime *rt, const struct rt_cmd *c)
{
    switch (c->kind) {
    case RT_CMD_ADD:     return group_add(rt, c->sub);
    case RT_CMD_REMOVE:  return group_remove(rt, c->sub);
    case RT_CMD_SUSPEND: return group_set_suspended(rt, c->sub, true);
    case RT_CMD_RESUME:  return group_set_suspended(rt, c->sub, false);
    case RT_CMD_FORGET:  engine_watch(rt, c->engine, -1); return 0;
    case RT_CMD_STOP:    rt->stopping = true; return 0;
    case RT_CMD_NONE:    break;
    }
    return -EINVAL;
}

static void kick_drain(struct phx_runtime *rt)
{
    uint64_t v;
    while (read(rt->kick_fd, &v, sizeof(v)) == (ssize_t)sizeof(v))
        ;
}

/* Carries out the posted command, if any, and wakes its poster. */
static void commands_handle(struct phx_runtime *rt)
{
    pthread_mutex_lock(&rt->lock);
    /* Under the lock: the poster kicks while holding it, so its kick is in by now. */
    kick_drain(rt);
    if (rt->cmd.kind != RT_CMD_NONE && !rt->cmd.done) {
        rt->cmd.result = cmd_execute(rt, &rt->cmd);
        rt->cmd.done = true;
        __atomic_store_n(&rt->stats.groups, rt->n_groups, __ATOMIC_RELAXED);
        pthread_cond_broadcast(&rt->cond);
    }
    __atomic_store_n(&rt->pending, 0, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&rt->lock);
}

/* ---- commands, on the caller's thread ------------------------------------------------------ */

static int cmd_post(struct phx_runtime *rt, enum rt_cmd_kind kind, struct phx_subscription *sub,
                    phx_engine_t *e)
{
    static const uint64_t one = 1;

    pthread_mutex_lock(&rt->lock);
    while (rt->cmd.kind != RT_CMD_NONE)         /* another caller's command is in flight */
        pthread_cond_wait(&rt->cond, &rt->lock);
    rt->cmd = (struct rt_cmd){ .kind = kind, .sub = sub, .engine = e };
    __atomic_store_n(&rt->pending, 1, __ATOMIC_RELAXED);
    if (write(rt->kick_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
        phx_warn("runtime %u: kick failed: %s", rt->index, strerror(errno));
    while (!rt->cmd.done)
        pthread_cond_wait(&rt->cond, &rt->lock);
    int result = rt->cmd.result;
    rt->cmd.kind = RT_CMD_NONE;
    pthread_cond_broadcast(&rt->cond);
    pthread_mutex_unlock(&rt->lock);
    return result;
}

int phx_runtime_add(struct phx_runtime *rt, struct phx_subscription *sub)
{
    if (!rt || !sub)
        return -EINVAL;
    /* Set before the thread can see the group: engines ask for their runtime index. */
    struct phx_runtime *prev_rt = sub->runtime;
    unsigned prev_index = sub->group.runtime_index;
    sub->runtime = rt;
    sub->group.runtime_index = rt->index;
    int rc = cmd_post(rt, RT_CMD_ADD, sub, NULL);
    if (rc < 0 && rc != -EEXIST) {
        sub->runtime = prev_rt;
        sub->group.runtime_index = prev_index;
    }
    return rc;
}

int phx_runtime_remove(struct phx_runtime *rt, struct phx_subscription *sub)
{
    if (!rt || !sub)
        return -EINVAL;
    int rc = cmd_post(rt, RT_CMD_REMOVE, sub, NULL);
    if (rc == 0)
        sub->runtime = NULL;
    return rc;
}

int phx_runtime_suspend(struct phx_runtime *rt, struct phx_subscription *sub)
{
    return rt && sub ? cmd_post(rt, RT_CMD_SUSPEND, sub, NULL) : -EINVAL;
}

int phx_runtime_resume(struct phx_runtime *rt, struct phx_subscription *sub)
{
    return rt && sub ? cmd_post(rt, RT_CMD_RESUME, sub, NULL) : -EINVAL;
}

void phx_runtime_forget(struct phx_runtime *rt, phx_engine_t *e)
{
    if (rt && e)
        cmd_post(rt, RT_CMD_FORGET, NULL, e);
}

/* ---- the loop ------------------------------------------------------------------------------ */

/* The engine's counters (graph.h); only this thread writes them. */
static void engine_account(phx_engine_t *e, uint64_t work, uint64_t ns)
{
    __atomic_store_n(&e->work, e->work + work, __ATOMIC_RELAXED);
    __atomic_store_n(&e->busy_ns, e->busy_ns + ns, __ATOMIC_RELAXED);
}

/* SUB's engines, in order. One clock read per engine (its end is the next one's start, a vDSO
 * call of ~20 ns) times each call, so that the counters say where the service's time goes; *T is
 * the start of the next call, *BUSY adds the time of the calls that did work. */
static uint64_t progress_group(struct phx_subscription *sub, uint64_t *t, uint64_t *busy)
{
    uint64_t work = 0;

    for (unsigned i = 0; i < sub->n_engines; i++) {
        phx_engine_t *e = sub->engines[i];
        int n = e->ops->progress(e, e->state);
        uint64_t end = phx_now_ns();
        if (n > 0) {
            work += (uint64_t)n;
            engine_account(e, (uint64_t)n, end - *t);
            *busy += end - *t;
        }
        *t = end;
    }
    return work;
}

static unsigned urgency_of(const struct rt_group *g)
{
    return __atomic_load_n(&g->sub->group.urgency, __ATOMIC_RELAXED);
}

/* The highest urgency of the active groups (engine.h, phx_engine_set_urgency); 0: none. */
static unsigned top_urgency(const struct phx_runtime *rt)
{
    unsigned top = 0;

    for (unsigned g = 0; g < rt->n_groups; g++)
        if (!rt->groups[g].suspended && urgency_of(&rt->groups[g]) > top)
            top = urgency_of(&rt->groups[g]);
    return top;
}

/* Every active group of urgency TOP. */
static uint64_t progress_urgent(struct phx_runtime *rt, unsigned top, uint64_t *t,
                                uint64_t *busy)
{
    uint64_t work = 0;

    for (unsigned g = 0; g < rt->n_groups; g++)
        if (!rt->groups[g].suspended && urgency_of(&rt->groups[g]) == top)
            work += progress_group(rt->groups[g].sub, t, busy);
    return work;
}

/* One turn over every engine. The groups of the highest urgency go first, and again after each
 * other group that did work: a latency-class app's message waits for one other app's progress()
 * call at most, not for a turn over every app (measured in docs/policies.md, "qos"). Without
 * urgent groups, every group once, in order. */
static uint64_t progress_all(struct phx_runtime *rt)
{
    uint64_t work = 0, busy = 0, t = phx_now_ns();
    unsigned top = top_urgency(rt);

    if (top)
        work += progress_urgent(rt, top, &t, &busy);
    for (unsigned g = 0; g < rt->n_groups; g++) {
        if (rt->groups[g].suspended || (top && urgency_of(&rt->groups[g]) == top))
            continue;
        uint64_t n = progress_group(rt->groups[g].sub, &t, &busy);
        if (n && top)
            n += progress_urgent(rt, top, &t, &busy);
        work += n;
    }
    if (busy)
        stat_add(&rt->stats.busy_ns, busy);
    return work;
}

/* Calls FN on the first LIMIT engines of the active groups, in progress order, until it returns
 * false; returns on how many it returned true. */
typedef bool (*rt_engine_fn)(struct phx_runtime *rt, phx_engine_t *e, void *arg);

static unsigned for_each_active_engine(struct phx_runtime *rt, rt_engine_fn fn, void *arg,
                                       unsigned limit)
{
    unsigned done = 0;

    for (unsigned g = 0; g < rt->n_groups; g++) {
        if (rt->groups[g].suspended)
            continue;
        struct phx_subscription *sub = rt->groups[g].sub;
        for (unsigned i = 0; i < sub->n_engines; i++) {
            if (done == limit || !fn(rt, sub->engines[i], arg))
                return done;
            done++;
        }
    }
    return done;
}

struct rt_arming {
    int  timeout_ms;    /* smallest an engine asked for, -1: none */
    bool busy;          /* an engine had work after all */
};

/* arm() one engine and register the fd it gave; false when it has work after all. */
static bool engine_arm(struct phx_runtime *rt, phx_engine_t *e, void *arg)
{
    struct rt_arming *a = arg;
    phx_wait_t w = { .fd = -1, .timeout_ms = -1 };
    int rc = e->ops->arm ? e->ops->arm(e, e->state, &w) : 0;

    if (rc > 0) {
        a->busy = true;
        return false;
    }
    if (rc < 0)                 /* a failing arm() must not make us sleep on a stale fd */
        w = (phx_wait_t){ .fd = -1, .timeout_ms = RT_BAD_FD_TIMEOUT_MS };
    if (!engine_watch(rt, e, w.fd))
        w.timeout_ms = RT_BAD_FD_TIMEOUT_MS;
    if (w.timeout_ms >= 0 && (a->timeout_ms < 0 || w.timeout_ms < a->timeout_ms))
        a->timeout_ms = w.timeout_ms;
    return true;
}

/* The fds the sleep reported readable: an engine drains its own only when it is among them
 * (phx_engine_woken()). */
struct rt_woken {
    const struct epoll_event *ev;
    int                       n;
};

static bool engine_disarm(struct phx_runtime *rt, phx_engine_t *e, void *arg)
{
    const struct rt_woken *w = arg;

    e->woken = false;
    for (int i = 0; e->wait_fd >= 0 && i < w->n; i++)
        if (w->ev[i].data.fd == e->wait_fd)
            e->woken = true;
    if (e->ops->arm && e->ops->disarm)
        e->ops->disarm(e, e->state);
    e->woken = false;
    return true;
}

/* Arms every engine and blocks until an fd, a timeout or a kick; returns at once if an engine
 * turns out to have work. Commands cannot run in between, so the engines disarmed are exactly
 * the ones armed. */
static void sleep_once(struct phx_runtime *rt)
{
    struct rt_arming a = { .timeout_ms = -1, .busy = false };
    unsigned armed = for_each_active_engine(rt, engine_arm, &a, UINT32_MAX);
    struct epoll_event ev[RT_MAX_EVENTS];
    struct rt_woken woken = { .ev = ev, .n = 0 };

    if (!a.busy) {
        stat_add(&rt->stats.sleeps, 1);
        int n = epoll_wait(rt->epfd, ev, RT_MAX_EVENTS, a.timeout_ms);
        if (n < 0 && errno != EINTR)
            phx_warn("runtime %u: epoll_wait: %s", rt->index, strerror(errno));
        /* A kick left over (its command was handled before we slept) must not keep the
         * level-triggered set readable. */
        for (int i = 0; i < n; i++)
            if (ev[i].data.fd == rt->kick_fd)
                kick_drain(rt);
        woken.n = n > 0 ? n : 0;
    }
    for_each_active_engine(rt, engine_disarm, &woken, armed);
}

static void *runtime_main(void *arg)
{
    struct phx_runtime *rt = arg;
    uint64_t idle_since = 0;            /* ns; 0: not idle */
    struct phx_spin spin;
    bool spinning = false;              /* this idle period may still yield before sleeping */
    char name[16];

    phx_spin_init(&spin, rt->spin_us);

    snprintf(name, sizeof(name), "phx-rt%u", rt->index);
    pthread_setname_np(pthread_self(), name);
    while (!rt->stopping) {
        if (__atomic_load_n(&rt->pending, __ATOMIC_RELAXED)) {
            commands_handle(rt);
            continue;
        }
        uint64_t work = progress_all(rt);
        stat_add(&rt->stats.iterations, 1);
        if (work) {
            stat_add(&rt->stats.work, work);
            idle_since = 0;
            continue;
        }
        uint64_t now = phx_now_ns();
        if (!idle_since) {
            idle_since = now;
            spinning = phx_spin_start(&spin);
        }
        if (spinning && now - idle_since < rt->spin_us * 1000ull) {
            spinning = phx_spin_yield(&spin);   /* long: one more turn, then sleep */
            continue;
        }
        sleep_once(rt);
        idle_since = 0;
    }
    /* Dropped, not destroyed: the control thread still owns them. */
    while (rt->n_groups) {
        struct phx_subscription *sub = rt->groups[rt->n_groups - 1].sub;
        group_remove(rt, sub);
        sub->runtime = NULL;
    }
    return NULL;
}

/* ---- start and stop ------------------------------------------------------------------------ */

/* SET holding the CPUs of CPUS (OS indexes in both). 0, or -EINVAL with the reason in ERR when
 * CPUS is empty, infinite or names a CPU past CPU_SETSIZE. */
static int cpu_set_of(hwloc_const_cpuset_t cpus, cpu_set_t *set, char *err, size_t errlen)
{
    int last = hwloc_bitmap_last(cpus), cpu;

    CPU_ZERO(set);
    if (last < 0 || last >= CPU_SETSIZE) {
        snprintf(err, errlen, "cannot pin to an empty or unbounded CPU set, or past CPU %d",
                 CPU_SETSIZE - 1);
        return -EINVAL;
    }
    hwloc_bitmap_foreach_begin(cpu, cpus)
        CPU_SET((unsigned)cpu, set);
    hwloc_bitmap_foreach_end();
    return 0;
}

static void runtime_free(struct phx_runtime *rt)
{
    if (rt->epfd >= 0)
        close(rt->epfd);
    if (rt->kick_fd >= 0)
        close(rt->kick_fd);
    pthread_mutex_destroy(&rt->lock);
    pthread_cond_destroy(&rt->cond);
    free(rt->groups);
    free(rt->fds);
    free(rt);
}

static struct phx_runtime *runtime_alloc(const struct phx_runtime_params *p, char *err,
                                         size_t errlen)
{
    struct phx_runtime *rt = calloc(1, sizeof(*rt));

    if (!rt) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    rt->index = p && (p->field_mask & PHX_RUNTIME_PARAM_FIELD_INDEX) ? p->index : 0;
    rt->spin_us = p && (p->field_mask & PHX_RUNTIME_PARAM_FIELD_SPIN_US) ? p->spin_us
                                                                          : RT_DEFAULT_SPIN_US;
    pthread_mutex_init(&rt->lock, NULL);
    pthread_cond_init(&rt->cond, NULL);
    rt->epfd = epoll_create1(EPOLL_CLOEXEC);
    rt->kick_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    struct epoll_event ev = { .events = EPOLLIN, .data.fd = rt->kick_fd };
    if (rt->epfd < 0 || rt->kick_fd < 0 ||
        epoll_ctl(rt->epfd, EPOLL_CTL_ADD, rt->kick_fd, &ev) < 0) {
        snprintf(err, errlen, "runtime %u: cannot create its epoll set: %s", rt->index,
                 strerror(errno));
        runtime_free(rt);
        return NULL;
    }
    return rt;
}

/* The CPUs P pins to, NULL when it does not pin. */
static hwloc_const_cpuset_t pinned_to(const struct phx_runtime_params *p)
{
    return p && (p->field_mask & PHX_RUNTIME_PARAM_FIELD_CPUSET) ? p->cpus : NULL;
}

/* Thread attributes, pinned to P's CPUs when it has some. */
static int thread_attr_init(pthread_attr_t *attr, const struct phx_runtime_params *p,
                            char *err, size_t errlen)
{
    hwloc_const_cpuset_t cpus = pinned_to(p);
    cpu_set_t set;
    char list[256];

    pthread_attr_init(attr);
    if (!cpus)
        return 0;
    int rc = cpu_set_of(cpus, &set, err, errlen);
    if (rc == 0 && (rc = pthread_attr_setaffinity_np(attr, sizeof(set), &set)) != 0) {
        hwloc_bitmap_list_snprintf(list, sizeof(list), cpus);
        snprintf(err, errlen, "cannot pin to cpus %s: %s", list, strerror(rc));
        rc = -rc;
    }
    if (rc < 0)
        pthread_attr_destroy(attr);
    return rc;
}

struct phx_runtime *phx_runtime_start(const struct phx_runtime_params *p, char *err,
                                      size_t errlen)
{
    struct phx_runtime *rt = runtime_alloc(p, err, errlen);
    pthread_attr_t attr;

    if (!rt)
        return NULL;
    if (thread_attr_init(&attr, p, err, errlen) < 0) {
        runtime_free(rt);
        errno = EINVAL;
        return NULL;
    }
    int rc = pthread_create(&rt->thread, &attr, runtime_main, rt);
    pthread_attr_destroy(&attr);
    if (rc) {
        /* EINVAL here means the CPU set names CPUs this process may not use. */
        char list[256] = "";
        if (pinned_to(p))
            hwloc_bitmap_list_snprintf(list, sizeof(list), pinned_to(p));
        snprintf(err, errlen, "runtime %u: cannot start its thread%s%s: %s", rt->index,
                 *list ? " on cpus " : "", list, strerror(rc));
        runtime_free(rt);
        errno = rc;
        return NULL;
    }
    return rt;
}

void phx_runtime_stop(struct phx_runtime *rt)
{
    if (!rt)
        return;
    cmd_post(rt, RT_CMD_STOP, NULL, NULL);
    pthread_join(rt->thread, NULL);
    runtime_free(rt);
}
