/* runtime.h - runtime threads: each drives its engine groups (subscriptions) round-robin.
 *
 * Adaptive polling: a runtime spins while any engine reports work; after `spin_us` without work
 * it asks every engine whether it may sleep (engine op arm(): an fd to watch and a timeout),
 * registers those fds with its epoll set, and sleeps in epoll_wait until one is readable, a
 * timeout passes, or the control thread kicks it. Busy loops make no system call.
 *
 * The control thread changes a runtime's groups only through the calls below. Each one posts a
 * command, kicks the runtime and waits until the runtime has carried it out between two
 * iterations, so when it returns the runtime is guaranteed not to be inside that group:
 * after phx_runtime_suspend() the group's engines and channels may be rewired or replaced freely
 * until phx_runtime_resume(). */
#ifndef PHX_RUNTIME_H
#define PHX_RUNTIME_H

#include <hwloc.h>
#include <stdint.h>

#include "graph.h"

struct phx_placement;

#define PHX_RUNTIME_PARAM_FIELD_INDEX     (1u << 0)
#define PHX_RUNTIME_PARAM_FIELD_SPIN_US   (1u << 1)
#define PHX_RUNTIME_PARAM_FIELD_CPUSET    (1u << 2)

struct phx_runtime_params {
    uint64_t    field_mask;
    unsigned    index;          /* default 0 */
    unsigned    spin_us;        /* default 50 */
    hwloc_const_cpuset_t cpus;  /* CPUs to pin the thread to, OS indexes: a placement's
                                   runtime_cpus[i] (default: not pinned) */
};

struct phx_runtime_stats {
    uint64_t iterations;        /* loop turns */
    uint64_t work;              /* sum of what progress() returned */
    uint64_t sleeps;            /* times it blocked in epoll_wait */
    uint64_t busy_ns;           /* time in progress() calls that did work */
    unsigned groups;
};

struct phx_runtime *phx_runtime_start(const struct phx_runtime_params *p, char *err,
                                      size_t errlen);
/* Stops and joins the thread. Groups still on it are dropped from it, not destroyed. */
void phx_runtime_stop(struct phx_runtime *rt);

int  phx_runtime_add(struct phx_runtime *rt, struct phx_subscription *sub);
int  phx_runtime_remove(struct phx_runtime *rt, struct phx_subscription *sub);
int  phx_runtime_suspend(struct phx_runtime *rt, struct phx_subscription *sub);
int  phx_runtime_resume(struct phx_runtime *rt, struct phx_subscription *sub);
/* Drops E's wait fd from the epoll set; call while E's group is suspended or removed, before
 * E is destroyed. */
void phx_runtime_forget(struct phx_runtime *rt, phx_engine_t *e);
void phx_runtime_get_stats(struct phx_runtime *rt, struct phx_runtime_stats *st);

#endif /* PHX_RUNTIME_H */
