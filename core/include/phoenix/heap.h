/* heap.h - a memory allocator over a shared region (shm_region.h), for messages in shared heaps.
 *
 * The allocating side is the only writer of its region: the app for its send heap, the service
 * for a receive heap that the app maps read-only. All allocator state (which slab holds what,
 * which slots are free) lives in this process's private memory, never inside the region, so
 * nothing a peer can see or write steers the allocator, and a stray write into a freed block
 * cannot corrupt it.
 *
 * The region is cut into slabs (2 MiB by default) carved on demand, lowest address first; the
 * region's size bounds the heap. Requests up to 64 KiB are rounded to one of 44 size classes
 * (16-byte steps to 128 B, then four steps per power of two, so at most 25% is wasted) and served
 * from slabs of that class. Larger requests take a run of whole contiguous slabs (first fit) that
 * goes back to the free slabs on free. Every block is 16-byte aligned; large ones page-aligned.
 *
 * One mutex makes every call thread-safe. */
#ifndef PHOENIX_HEAP_H
#define PHOENIX_HEAP_H

#include "phoenix/shm_region.h"

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

#define PHX_HEAP_DEFAULT_SLAB_SIZE (2u << 20)
#define PHX_HEAP_MIN_SLAB_SIZE     (256u << 10)    /* four blocks of the largest size class */
#define PHX_HEAP_SMALL_MAX         (64u << 10)     /* larger requests take whole slabs */

enum {
    PHX_HEAP_PARAM_FIELD_SLAB_SIZE = 1u << 0,
    PHX_HEAP_PARAM_FIELD_ON_SLAB   = 1u << 1,      /* on_slab and on_slab_arg */
    PHX_HEAP_PARAM_FIELD_FLAGS     = 1u << 2,
};

enum {
    /* Give the pages of freed slabs back to the kernel (fallocate PUNCH_HOLE). Off by default:
     * pages pinned by an RDMA registration of the slab (on_slab -> ucp_mem_map) would no longer be
     * the pages the file maps after the hole is refilled. Ignored once the region is sealed
     * read-only, which forbids punching holes. */
    PHX_HEAP_FLAG_RELEASE_FREED = 1u << 0,
};

struct phx_heap_params {
    uint64_t field_mask;
    size_t slab_size;   /* power of two >= PHX_HEAP_MIN_SLAB_SIZE; default 2 MiB */
    /* Called once for each slab the first time it is carved from the region, in address order,
     * with the heap's lock held (it must not call into the heap). A large block may span several
     * consecutive slabs, each reported on its own. */
    void (*on_slab)(void *arg, void *slab, size_t len);
    void *on_slab_arg;
    unsigned flags;     /* PHX_HEAP_FLAG_*; default 0 */
};

typedef struct phx_heap phx_heap_t;

/* Builds a heap over REGION, which must be mapped writable, hold at least one slab and outlive
 * the heap. P may be NULL for every default. Returns NULL with errno EINVAL or ENOMEM. */
phx_heap_t *phx_heap_create(phx_shm_region_t *region, const struct phx_heap_params *p);

/* Returns 16-byte aligned memory (SIZE 0 gives a minimal block), or NULL with errno ENOMEM when
 * the region is exhausted; a failed call changes nothing but the `failed` counter. */
void *phx_heap_alloc(phx_heap_t *h, size_t size);

/* Zeroed N * SIZE bytes; NULL with errno ENOMEM also when the product overflows. */
void *phx_heap_calloc(phx_heap_t *h, size_t n, size_t size);

/* NULL is ignored. A pointer that is not a live block of this heap (foreign, inside a block,
 * already freed) is logged and ignored, never followed. */
void phx_heap_free(phx_heap_t *h, void *ptr);

/* Bytes usable at PTR (at least what was asked), or 0 when PTR is not a live block. */
size_t phx_heap_usable_size(phx_heap_t *h, const void *ptr);

struct phx_heap_stats {
    size_t bytes_in_use;    /* usable bytes of live blocks */
    size_t bytes_reserved;  /* bytes of slabs holding small blocks or large runs */
    size_t slabs;           /* slabs carved so far (each reported once to on_slab) */
    size_t allocations;     /* successful allocations */
    size_t frees;           /* accepted frees */
    size_t failed;          /* allocations that returned NULL */
};

void phx_heap_get_stats(phx_heap_t *h, struct phx_heap_stats *s);

/* An allocator for protobuf-c (protobuf_c_message_unpack, ..._free_unpacked) that allocates from
 * H. It lives as long as the heap. */
ProtobufCAllocator *phx_heap_protobuf_allocator(phx_heap_t *h);

/* Frees the allocator's private state; the region and what was written there are untouched. */
void phx_heap_destroy(phx_heap_t *h);

#endif /* PHOENIX_HEAP_H */
