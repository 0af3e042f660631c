/* u64map.c - open-addressing hash map of 64-bit keys (see u64map.h).
 *
 * Deletion shifts the following run back instead of leaving a tombstone: an entry moves into the
 * hole when its home slot does not lie (cyclically) between the hole and its current position.
 * Growing rehashes into a table twice the size; reserve() sizes it once for a known load. */
#include "phoenix/u64map.h"

#include <errno.h>
#include <stdlib.h>

#define U64MAP_MIN_CAP 16u

void phx_u64map_init(phx_u64map_t *m, size_t max_entries)
{
    *m = (phx_u64map_t){ .max_entries = max_entries };
}

void phx_u64map_fini(phx_u64map_t *m)
{
    free(m->slots);
    *m = (phx_u64map_t){ .max_entries = m->max_entries };
}

/* Moves every entry into a new table of CAP slots (a power of two holding them all). */
static int rehash(phx_u64map_t *m, size_t cap)
{
    struct phx_u64map_entry *old = m->slots, *slots = calloc(cap, sizeof(*slots));
    size_t old_cap = m->cap;

    if (!slots)
        return -ENOMEM;
    m->slots = slots;
    m->cap = cap;
    for (size_t i = 0; i < old_cap; i++)
        if (old[i].used)
            m->slots[phx_u64map_slot(m, old[i].key)] = old[i];
    free(old);
    return 0;
}

/* The table size that holds N entries at most 3/4 full. */
static size_t cap_for(size_t n)
{
    size_t cap = U64MAP_MIN_CAP;

    while (4 * n > 3 * cap)
        cap *= 2;
    return cap;
}

int phx_u64map_reserve(phx_u64map_t *m, size_t n)
{
    size_t cap = cap_for(n < m->max_entries ? n : m->max_entries);

    return cap > m->cap ? rehash(m, cap) : 0;
}

int phx_u64map_put(phx_u64map_t *m, uint64_t key, uint64_t value)
{
    if (m->cap) {
        size_t i = phx_u64map_slot(m, key);
        if (m->slots[i].used) {
            m->slots[i].value = value;
            return 0;
        }
    }
    if (m->count >= m->max_entries)
        return -ENOSPC;
    if (4 * (m->count + 1) > 3 * m->cap) {
        int rc = rehash(m, m->cap ? 2 * m->cap : U64MAP_MIN_CAP);
        if (rc)
            return rc;
    }
    m->slots[phx_u64map_slot(m, key)] = (struct phx_u64map_entry){ key, value, true };
    m->count++;
    return 0;
}

/* True when HOME lies cyclically in (HOLE, POS]: the entry at POS must stay behind the hole. */
static bool home_between(size_t hole, size_t home, size_t pos)
{
    return hole <= pos ? hole < home && home <= pos : hole < home || home <= pos;
}

bool phx_u64map_remove(phx_u64map_t *m, uint64_t key, uint64_t *value)
{
    if (!m->cap)
        return false;
    size_t mask = m->cap - 1, hole = phx_u64map_slot(m, key);
    if (!m->slots[hole].used)
        return false;
    if (value)
        *value = m->slots[hole].value;
    for (size_t pos = (hole + 1) & mask; m->slots[pos].used; pos = (pos + 1) & mask) {
        size_t home = (size_t)phx_u64map_hash(m->slots[pos].key) & mask;
        if (home_between(hole, home, pos))
            continue;
        m->slots[hole] = m->slots[pos];
        hole = pos;
    }
    m->slots[hole].used = false;
    m->count--;
    return true;
}

void phx_u64map_each(const phx_u64map_t *m, void (*fn)(void *arg, uint64_t key, uint64_t value),
                     void *arg)
{
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i].used)
            fn(arg, m->slots[i].key, m->slots[i].value);
}
