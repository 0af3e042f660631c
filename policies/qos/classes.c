/* classes.c - the node-wide table of QoS levels (see classes.h). */
#include "classes.h"

#include <stdatomic.h>

struct qos_slot {
    atomic_uint           engines;
    atomic_long           calls;        /* in progress; never below 0 by construction */
    atomic_uint_least64_t last_ns;      /* latest start or end */
    atomic_uint           budget_us;
    atomic_llong          wire_bytes;   /* large messages sent, not yet SENT */
};

static struct qos_slot table[QOS_LEVELS];

unsigned qos_level(bool latency, unsigned priority)
{
    if (priority >= QOS_PRIORITIES)
        priority = QOS_PRIORITIES - 1;
    return (latency ? QOS_PRIORITIES : 0) + priority;
}

void qos_class_join(unsigned level)
{
    atomic_fetch_add_explicit(&table[level].engines, 1, memory_order_relaxed);
}

void qos_class_leave(unsigned level)
{
    atomic_fetch_sub_explicit(&table[level].engines, 1, memory_order_relaxed);
}

void qos_class_start(unsigned level, uint64_t now_ns)
{
    atomic_fetch_add_explicit(&table[level].calls, 1, memory_order_relaxed);
    atomic_store_explicit(&table[level].last_ns, now_ns, memory_order_relaxed);
}

void qos_class_end(unsigned level, uint64_t now_ns)
{
    atomic_fetch_sub_explicit(&table[level].calls, 1, memory_order_relaxed);
    atomic_store_explicit(&table[level].last_ns, now_ns, memory_order_relaxed);
}

void qos_class_forget(unsigned level, unsigned n)
{
    if (n)
        atomic_fetch_sub_explicit(&table[level].calls, (long)n, memory_order_relaxed);
}

void qos_class_wire(unsigned level, int64_t bytes)
{
    if (bytes)
        atomic_fetch_add_explicit(&table[level].wire_bytes, (long long)bytes,
                                  memory_order_relaxed);
}

uint64_t qos_class_wire_below(unsigned level)
{
    long long sum = 0;

    for (unsigned l = 0; l < level && l < QOS_LEVELS; l++)
        sum += atomic_load_explicit(&table[l].wire_bytes, memory_order_relaxed);
    return sum > 0 ? (uint64_t)sum : 0;
}

void qos_class_budget(unsigned level, unsigned budget_us)
{
    atomic_store_explicit(&table[level].budget_us, budget_us, memory_order_relaxed);
}

bool qos_class_above_active(unsigned level, uint64_t now_ns, uint64_t idle_ns,
                            uint64_t linger_ns, unsigned *budget_us)
{
    bool active = false;

    *budget_us = 0;
    for (unsigned l = level + 1; l < QOS_LEVELS; l++) {
        bool calls = atomic_load_explicit(&table[l].calls, memory_order_relaxed) > 0;
        uint64_t last = atomic_load_explicit(&table[l].last_ns, memory_order_relaxed);
        uint64_t since = now_ns > last ? now_ns - last : 0;
        if (since >= (calls ? idle_ns : linger_ns))
            continue;
        unsigned b = atomic_load_explicit(&table[l].budget_us, memory_order_relaxed);
        if (b && (!*budget_us || b < *budget_us))
            *budget_us = b;
        active = true;
    }
    return active;
}

void qos_class_read(unsigned level, unsigned *engines, long *calls)
{
    *engines = atomic_load_explicit(&table[level].engines, memory_order_relaxed);
    *calls = atomic_load_explicit(&table[level].calls, memory_order_relaxed);
}
