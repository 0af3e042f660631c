/* u64map.c - open-addressing hash map of 64-bit keys (see u64map.h).
 *
 * Keys are spread with a 64-bit finaliser (splitmix64's), so sequential ids and 16-byte aligned
 * addresses do not cluster. Deletion shifts the following run back instead of leaving a
 * tombstone: an entry moves into the hole when its home slot does not lie (cyclically) between
 * the hole and its current position. */
#include "u64map.h"

#include <errno.h>
#include <stdlib.h>

#define U64MAP_MIN_CAP 16u

static uint64_t mix(uint64_t k)
{
    k ^= k >> 30;
    k *= 0xbf58476d1ce4e5b9ull;
    k ^= k >> 27;
    k *= 0x94d049bb133111ebull;
    return k ^ (k >> 31);
}

void mrpc_u64map_init(mrpc_u64map_t *m, size_t max_entries)
{
    *m = (mrpc_u64map_t){ .max_entries = max_entries };
}

void mrpc_u64map_fini(mrpc_u64map_t *m)
{
    free(m->slots);
    *m = (mrpc_u64map_t){ .max_entries = m->max_entries };
}

/* The slot holding KEY, or the empty slot where it would go. Needs cap > 0. */
static size_t find_slot(const mrpc_u64map_t *m, uint64_t key)
{
    size_t mask = m->cap - 1, i = (size_t)mix(key) & mask;

    while (m->slots[i].used && m->slots[i].key != key)
        i = (i + 1) & mask;
    return i;
}

static int grow(mrpc_u64map_t *m)
{
    size_t cap = m->cap ? 2 * m->cap : U64MAP_MIN_CAP;
    struct mrpc_u64map_entry *old = m->slots, *slots = calloc(cap, sizeof(*slots));
    size_t old_cap = m->cap;

    if (!slots)
        return -ENOMEM;
    m->slots = slots;
    m->cap = cap;
    for (size_t i = 0; i < old_cap; i++)
        if (old[i].used)
            m->slots[find_slot(m, old[i].key)] = old[i];
    free(old);
    return 0;
}

int mrpc_u64map_put(mrpc_u64map_t *m, uint64_t key, uint64_t value)
{
    if (m->cap) {
        size_t i = find_slot(m, key);
        if (m->slots[i].used) {
            m->slots[i].value = value;
            return 0;
        }
    }
    if (m->count >= m->max_entries)
        return -ENOSPC;
    if (4 * (m->count + 1) > 3 * m->cap) {
        int rc = grow(m);
        if (rc)
            return rc;
    }
    m->slots[find_slot(m, key)] = (struct mrpc_u64map_entry){ key, value, true };
    m->count++;
    return 0;
}

bool mrpc_u64map_get(const mrpc_u64map_t *m, uint64_t key, uint64_t *value)
{
    if (!m->cap)
        return false;
    size_t i = find_slot(m, key);
    if (!m->slots[i].used)
        return false;
    if (value)
        *value = m->slots[i].value;
    return true;
}

/* True when HOME lies cyclically in (HOLE, POS]: the entry at POS must stay behind the hole. */
static bool home_between(size_t hole, size_t home, size_t pos)
{
    return hole <= pos ? hole < home && home <= pos : hole < home || home <= pos;
}

bool mrpc_u64map_remove(mrpc_u64map_t *m, uint64_t key, uint64_t *value)
{
    if (!m->cap)
        return false;
    size_t mask = m->cap - 1, hole = find_slot(m, key);
    if (!m->slots[hole].used)
        return false;
    if (value)
        *value = m->slots[hole].value;
    for (size_t pos = (hole + 1) & mask; m->slots[pos].used; pos = (pos + 1) & mask) {
        size_t home = (size_t)mix(m->slots[pos].key) & mask;
        if (home_between(hole, home, pos))
            continue;
        m->slots[hole] = m->slots[pos];
        hole = pos;
    }
    m->slots[hole].used = false;
    m->count--;
    return true;
}

void mrpc_u64map_each(const mrpc_u64map_t *m, void (*fn)(void *arg, uint64_t key, uint64_t value),
                      void *arg)
{
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i].used)
            fn(arg, m->slots[i].key, m->slots[i].value);
}
