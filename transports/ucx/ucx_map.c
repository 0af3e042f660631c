/* ucx_map.c - fixed-capacity open-addressing hash map (see ucx_map.h).
 *
 * Keys are connection ids (small integers) or endpoint addresses (aligned pointers); a Fibonacci
 * multiplier spreads both over the table. Deletion shifts the following entries of the probe
 * run back into the hole, so lookups never need tombstones. */
#include "ucx_map.h"

#include <errno.h>
#include <stdlib.h>

static unsigned home_of(const struct phx_ucx_map *m, uint64_t key)
{
    return (unsigned)((key * 0x9E3779B97F4A7C15ull) >> 32) & m->mask;
}

int phx_ucx_map_init(struct phx_ucx_map *m, unsigned max)
{
    unsigned slots = 16;

    while (slots < 2 * max)
        slots <<= 1;
    m->slots = calloc(slots, sizeof(*m->slots));
    if (!m->slots)
        return -ENOMEM;
    m->mask = slots - 1;
    m->count = 0;
    m->max = max;
    return 0;
}

void phx_ucx_map_fini(struct phx_ucx_map *m)
{
    free(m->slots);
    m->slots = NULL;
    m->count = 0;
}

/* The slot holding KEY, or the empty slot that ends its probe run. */
static unsigned find(const struct phx_ucx_map *m, uint64_t key)
{
    unsigned i = home_of(m, key);

    while (m->slots[i].value && m->slots[i].key != key)
        i = (i + 1) & m->mask;
    return i;
}

void *phx_ucx_map_get(const struct phx_ucx_map *m, uint64_t key)
{
    return m->slots ? m->slots[find(m, key)].value : NULL;
}

int phx_ucx_map_put(struct phx_ucx_map *m, uint64_t key, void *value)
{
    if (!value)
        return -EINVAL;
    unsigned i = find(m, key);
    if (m->slots[i].value)
        return -EEXIST;
    if (m->count >= m->max)
        return -ENOSPC;
    m->slots[i] = (struct phx_ucx_map_slot){.key = key, .value = value};
    m->count++;
    return 0;
}

/* True when an entry whose home is HOME may move to HOLE: HOLE lies on its probe path, i.e.
 * cyclically in [HOME, AT) where AT is where the entry is now. */
static int may_move(unsigned home, unsigned hole, unsigned at, unsigned mask)
{
    return ((hole - home) & mask) < ((at - home) & mask);
}

void phx_ucx_map_del(struct phx_ucx_map *m, uint64_t key)
{
    unsigned hole = find(m, key);

    if (!m->slots[hole].value)
        return;
    m->slots[hole].value = NULL;
    m->count--;
    for (unsigned at = (hole + 1) & m->mask; m->slots[at].value; at = (at + 1) & m->mask) {
        if (may_move(home_of(m, m->slots[at].key), hole, at, m->mask)) {
            m->slots[hole] = m->slots[at];
            m->slots[at].value = NULL;
            hole = at;
        }
    }
}

int phx_ucx_map_grow(struct phx_ucx_map *m, unsigned max)
{
    struct phx_ucx_map bigger;

    if (max < m->count || phx_ucx_map_init(&bigger, max) < 0)
        return -ENOMEM;
    for (unsigned i = 0; i <= m->mask; i++)
        if (m->slots[i].value)
            phx_ucx_map_put(&bigger, m->slots[i].key, m->slots[i].value);
    phx_ucx_map_fini(m);
    *m = bigger;
    return 0;
}
