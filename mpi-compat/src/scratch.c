/* scratch.c - large temporary buffers (collective schedules' scratch, staging copies of messages
 * that arrived before their receive) kept for reuse instead of going back to malloc.
 *
 * malloc hands out blocks of a few MiB as fresh mappings (or trims them off the heap again when
 * freed), so every collective of a large message paid a page fault for each 4 KiB of each of its
 * buffers on first touch: profiled, that was most of the time of MPI_Scan over 4 MiB on 8 ranks.
 * Blocks from SCRATCH_MIN bytes are rounded up to a power of two and, when released, cached (at
 * most SCRATCH_KEEP bytes in all, the smallest fitting block reused first); smaller ones are plain
 * malloc. Every block has a header that records its size class. Not thread-safe: the library
 * runs one thread at a time (MPI_THREAD_SERIALIZED at most). */
#include "mpi_impl.h"

#include <stdlib.h>

#define SCRATCH_MIN   (64u * 1024)
#define SCRATCH_KEEP  (64u << 20)
#define SCRATCH_SLOTS 16
#define HEADER        64              /* keeps the block's alignment (malloc's, up to 64) */

static struct {
    void  *block[SCRATCH_SLOTS];      /* cached blocks (their headers), NULL where none */
    size_t cached;                    /* bytes cached */
} pool;

static size_t *header(void *p) { return (size_t *)((char *)p - HEADER); }

static size_t round_up(size_t bytes)
{
    size_t cap = SCRATCH_MIN;
    while (cap < bytes)
        cap *= 2;
    return cap;
}

void *mpix_scratch_get(size_t bytes)
{
    size_t cap = bytes < SCRATCH_MIN ? bytes : round_up(bytes);
    int best = -1;

    for (int i = 0; cap >= SCRATCH_MIN && i < SCRATCH_SLOTS; i++) {
        size_t *h = pool.block[i];
        if (h && *h >= cap && (best < 0 || *h < *(size_t *)pool.block[best]))
            best = i;
    }
    if (best >= 0) {
        size_t *h = pool.block[best];
        pool.block[best] = NULL;
        pool.cached -= *h;
        return (char *)h + HEADER;
    }
    size_t *h = malloc(HEADER + (cap ? cap : 1));
    if (!h)
        return NULL;
    *h = cap;
    return (char *)h + HEADER;
}

void mpix_scratch_put(void *p)
{
    if (!p)
        return;
    size_t *h = header(p);
    if (*h < SCRATCH_MIN || pool.cached + *h > SCRATCH_KEEP) {
        free(h);
        return;
    }
    for (int i = 0; i < SCRATCH_SLOTS; i++)
        if (!pool.block[i]) {
            pool.block[i] = h;
            pool.cached += *h;
            return;
        }
    free(h);
}

void mpix_scratch_fini(void)
{
    for (int i = 0; i < SCRATCH_SLOTS; i++) {
        free(pool.block[i]);
        pool.block[i] = NULL;
    }
    pool.cached = 0;
}
