/* ucx_map.h - a fixed-capacity hash map from 64-bit keys to pointers, for the transport's lookups
 * (connection by id, connection by UCX endpoint) on the data path.
 *
 * Open addressing with linear probing and backward-shift deletion (no tombstones), sized at
 * creation to twice the most entries it will ever hold, so probes stay short and nothing is
 * allocated after init unless the owner grows it explicitly. A NULL value marks an empty slot:
 * NULL cannot be stored. */
#ifndef PHX_UCX_MAP_H
#define PHX_UCX_MAP_H

#include <stdint.h>

struct phx_ucx_map_slot {
    uint64_t key;
    void    *value;     /* NULL: empty */
};

struct phx_ucx_map {
    struct phx_ucx_map_slot *slots;
    unsigned                 mask;      /* slots - 1, slots a power of two */
    unsigned                 count;
    unsigned                 max;       /* entries accepted */
};

/* Room for MAX entries. 0 or -ENOMEM. */
int   phx_ucx_map_init(struct phx_ucx_map *m, unsigned max);
void  phx_ucx_map_fini(struct phx_ucx_map *m);
/* The value stored for KEY, or NULL. */
void *phx_ucx_map_get(const struct phx_ucx_map *m, uint64_t key);
/* 0, -EEXIST when KEY is present, -ENOSPC when MAX entries are stored, -EINVAL for NULL. */
int   phx_ucx_map_put(struct phx_ucx_map *m, uint64_t key, void *value);
/* Removes KEY if present. */
void  phx_ucx_map_del(struct phx_ucx_map *m, uint64_t key);
/* Room for MAX entries (at least as many as M holds), rehashing into a new table: the one
 * allocation after init, for a map whose bound grows (a worker's endpoints as engines join).
 * 0, or -ENOMEM with M unchanged. */
int   phx_ucx_map_grow(struct phx_ucx_map *m, unsigned max);

#endif /* PHX_UCX_MAP_H */
