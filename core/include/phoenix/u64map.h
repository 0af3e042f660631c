/* u64map.h - the hash map from 64-bit keys to 64-bit values (ids, addresses, pointers) that
 * libmrpc, MrpcEngine and the UCX transport keep their connections, calls and buffers in.
 *
 * Open addressing with linear probing and backward-shift deletion (no tombstones, so lookups stay
 * short however many keys come and go). The table doubles when it is 3/4 full and never shrinks;
 * MAX_ENTRIES bounds it, so memory stays bounded whatever an untrusted peer or app sends. A data
 * path that must not allocate reserves room up front (phx_u64map_reserve). Every key and every
 * value is allowed, 0 included. Keys are spread with splitmix64's finaliser, so sequential ids and
 * 16-byte aligned addresses do not cluster.
 *
 * Lookups are inline (they are on every message's path); changes are calls. Not thread-safe: one
 * owner thread, or the owner's lock. */
#ifndef PHOENIX_U64MAP_H
#define PHOENIX_U64MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct phx_u64map_entry {
    uint64_t key;
    uint64_t value;
    bool     used;
};

typedef struct phx_u64map {
    struct phx_u64map_entry *slots;
    size_t                   cap;           /* a power of two, or 0 before the first put */
    size_t                   count;
    size_t                   max_entries;   /* put() refuses more */
} phx_u64map_t;

/* An empty map that will hold at most MAX_ENTRIES; allocates nothing yet. */
void phx_u64map_init(phx_u64map_t *m, size_t max_entries);
/* Frees the table; M is empty (and usable) again. */
void phx_u64map_fini(phx_u64map_t *m);
/* Makes room for N entries (at most max_entries) so that puts up to N allocate nothing.
 * 0 or -ENOMEM (M unchanged). */
int  phx_u64map_reserve(phx_u64map_t *m, size_t n);

/* Inserts or overwrites. 0, -ENOSPC (max_entries reached) or -ENOMEM. */
int  phx_u64map_put(phx_u64map_t *m, uint64_t key, uint64_t value);
/* True (and *VALUE, when VALUE is not NULL) when KEY was present; it is gone afterwards. */
bool phx_u64map_remove(phx_u64map_t *m, uint64_t key, uint64_t *value);
/* Visits every entry; FN may not change the map. */
void phx_u64map_each(const phx_u64map_t *m, void (*fn)(void *arg, uint64_t key, uint64_t value),
                     void *arg);

static inline uint64_t phx_u64map_hash(uint64_t k)
{
    k ^= k >> 30;
    k *= 0xbf58476d1ce4e5b9ull;
    k ^= k >> 27;
    k *= 0x94d049bb133111ebull;
    return k ^ (k >> 31);
}

/* The slot holding KEY, or the empty slot where it would go. Needs cap > 0. */
static inline size_t phx_u64map_slot(const phx_u64map_t *m, uint64_t key)
{
    size_t mask = m->cap - 1, i = (size_t)phx_u64map_hash(key) & mask;

    while (m->slots[i].used && m->slots[i].key != key)
        i = (i + 1) & mask;
    return i;
}

/* True (and *VALUE, when VALUE is not NULL) when KEY is present. */
static inline bool phx_u64map_get(const phx_u64map_t *m, uint64_t key, uint64_t *value)
{
    if (!m->cap)
        return false;
    const struct phx_u64map_entry *e = &m->slots[phx_u64map_slot(m, key)];
    if (!e->used)
        return false;
    if (value)
        *value = e->value;
    return true;
}

/* The pointer stored for KEY, or NULL when KEY is absent: for maps whose values are pointers. */
static inline void *phx_u64map_get_ptr(const phx_u64map_t *m, uint64_t key)
{
    uint64_t v;

    return phx_u64map_get(m, key, &v) ? (void *)(uintptr_t)v : NULL;
}

static inline size_t phx_u64map_count(const phx_u64map_t *m)
{
    return m->count;
}

#endif /* PHOENIX_U64MAP_H */
