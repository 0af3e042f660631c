/* u64map.h - a small hash map from 64-bit keys to 64-bit values, for libmrpc and MrpcEngine.
 *
 * Open addressing with linear probing and backward-shift deletion (no tombstones, so lookups stay
 * short however many keys come and go). The table doubles when it is 3/4 full and never shrinks;
 * MAX_ENTRIES bounds it, so memory stays bounded whatever an untrusted peer or app sends.
 * Every key is allowed, 0 included. Not thread-safe: one owner thread. */
#ifndef MRPC_U64MAP_H
#define MRPC_U64MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mrpc_u64map_entry {
    uint64_t key;
    uint64_t value;
    bool     used;
};

typedef struct mrpc_u64map {
    struct mrpc_u64map_entry *slots;
    size_t                    cap;           /* a power of two, or 0 before the first put */
    size_t                    count;
    size_t                    max_entries;   /* put() refuses more */
} mrpc_u64map_t;

void mrpc_u64map_init(mrpc_u64map_t *m, size_t max_entries);
void mrpc_u64map_fini(mrpc_u64map_t *m);

/* Inserts or overwrites. 0, -ENOSPC (max_entries reached) or -ENOMEM. */
int  mrpc_u64map_put(mrpc_u64map_t *m, uint64_t key, uint64_t value);
/* True (and *VALUE, when VALUE is not NULL) when KEY is present. */
bool mrpc_u64map_get(const mrpc_u64map_t *m, uint64_t key, uint64_t *value);
/* True (and *VALUE) when KEY was present; it is gone afterwards. */
bool mrpc_u64map_remove(mrpc_u64map_t *m, uint64_t key, uint64_t *value);

/* Visits every entry; FN may not change the map. */
void mrpc_u64map_each(const mrpc_u64map_t *m, void (*fn)(void *arg, uint64_t key, uint64_t value),
                      void *arg);

#endif /* MRPC_U64MAP_H */
