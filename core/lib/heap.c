/* heap.c - slab allocator over a shared region, with every bit of metadata in private memory.
 *
 * slabs[] describes each slab of the region. Slabs below `carved` have been handed out at least
 * once (and reported to on_slab); the rest were never touched. A carved slab is FREE, SMALL
 * (blocks of one size class, a bitmap of free slots), LARGE (first slab of a large block) or
 * LARGE_BODY (the other slabs of that block). Free slabs form maximal runs whose first and last
 * entries carry the run's length, so a release merges with both neighbours in O(1) and first fit
 * steps over whole runs. Small slabs with a free slot sit on their class's list; allocation takes
 * the lowest free slot of the list's first slab through a two-level bitmap (one summary bit per
 * bitmap word). A class keeps its only slab when it empties, to avoid taking and returning a slab
 * on every alloc/free pair; such cached slabs are released when slabs run out. See heap.h. */
#include "phoenix/heap.h"
#include "phoenix/log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define NUM_CLASSES 44          /* 8 classes of 16-byte steps up to 128 B + 4 per doubling to 64 KiB */
#define FINE_CLASSES 8
#define NO_SLAB UINT32_MAX

enum slab_state { SLAB_FREE, SLAB_SMALL, SLAB_LARGE, SLAB_LARGE_BODY };

struct slab {
    uint8_t state;
    uint8_t size_class;         /* SMALL */
    uint32_t run;               /* LARGE: slabs in the block; ends of a FREE run: its length */
    uint32_t nslots, nfree;     /* SMALL */
    uint32_t prev, next;        /* SMALL with a free slot: neighbours on its class's list */
    uint64_t *bits;             /* SMALL: a set bit is a free slot; then the summary words */
};

struct phx_heap {
    pthread_mutex_t lock;
    phx_shm_region_t *region;
    char *base;
    size_t slab_size;
    unsigned slab_shift;
    uint32_t nslabs;
    uint32_t carved;
    uint32_t free_slabs;        /* FREE slabs below `carved` */
    bool release_freed;
    void (*on_slab)(void *arg, void *slab, size_t len);
    void *on_slab_arg;
    struct slab *slabs;
    uint32_t class_list[NUM_CLASSES];
    struct phx_heap_stats stats;
    ProtobufCAllocator pb_allocator;
};

/* A live block, as found from a pointer. */
struct block {
    uint32_t slab;
    uint32_t slot;
    size_t size;
};

/* ---- size classes ---- */

static unsigned size_class(size_t size)
{
    if (size <= 128)
        return size ? (unsigned)((size - 1) >> 4) : 0;
    unsigned k = 63 - (unsigned)__builtin_clzll(size - 1);     /* size in (2^k, 2^(k+1)] */
    return FINE_CLASSES + (k - 7) * 4 + (unsigned)((size - 1 - (1ull << k)) >> (k - 2));
}

static size_t class_size(unsigned c)
{
    if (c < FINE_CLASSES)
        return (c + 1) * 16;
    unsigned k = 7 + (c - FINE_CLASSES) / 4;
    return (1ull << k) + ((c - FINE_CLASSES) % 4 + 1) * (1ull << (k - 2));
}

/* ---- slot bitmaps ---- */

static uint32_t words_for(uint32_t bits)
{
    return (bits + 63) / 64;
}

static uint64_t *bitmap_new(uint32_t nslots)
{
    uint32_t words = words_for(nslots);
    uint64_t *bits = calloc(words + words_for(words), sizeof(uint64_t));

    if (!bits)
        return NULL;
    for (uint32_t slot = 0; slot < nslots; slot++)
        bits[slot / 64] |= 1ull << (slot % 64);
    for (uint32_t w = 0; w < words; w++)
        bits[words + w / 64] |= 1ull << (w % 64);
    return bits;
}

/* Clears and returns the lowest set bit; the caller knows one is set. */
static uint32_t bitmap_take(uint64_t *bits, uint32_t nslots)
{
    uint32_t words = words_for(nslots);
    uint64_t *summary = bits + words;
    uint32_t j = 0;

    while (summary[j] == 0)
        j++;
    uint32_t w = j * 64 + (uint32_t)__builtin_ctzll(summary[j]);
    uint32_t slot = w * 64 + (uint32_t)__builtin_ctzll(bits[w]);
    bits[w] &= bits[w] - 1;
    if (bits[w] == 0)
        summary[j] &= ~(1ull << (w % 64));
    return slot;
}

static void bitmap_put(uint64_t *bits, uint32_t nslots, uint32_t slot)
{
    uint32_t w = slot / 64;

    bits[w] |= 1ull << (slot % 64);
    bits[words_for(nslots) + w / 64] |= 1ull << (w % 64);
}

static bool bitmap_is_set(const uint64_t *bits, uint32_t slot)
{
    return bits[slot / 64] & (1ull << (slot % 64));
}

/* ---- slab runs ---- */

static char *slab_addr(const phx_heap_t *h, uint32_t s)
{
    return h->base + ((size_t)s << h->slab_shift);
}

static void mark_free_run(phx_heap_t *h, uint32_t first, uint32_t n)
{
    h->slabs[first].run = n;
    h->slabs[first + n - 1].run = n;
}

static uint32_t first_fit(const phx_heap_t *h, uint32_t n)
{
    if (h->free_slabs < n)
        return NO_SLAB;
    for (uint32_t i = 0; i < h->carved;) {
        const struct slab *s = &h->slabs[i];

        if (s->state == SLAB_FREE && s->run >= n)
            return i;
        i += (s->state == SLAB_FREE || s->state == SLAB_LARGE) ? s->run : 1;
    }
    return NO_SLAB;
}

static void carve_up_to(phx_heap_t *h, uint32_t end)
{
    for (; h->carved < end; h->carved++) {
        if (h->on_slab)
            h->on_slab(h->on_slab_arg, slab_addr(h, h->carved), h->slab_size);
    }
}

/* Grows into never-used slabs, absorbing the free run that ends where carving stopped. */
static uint32_t take_uncarved(phx_heap_t *h, uint32_t n)
{
    uint32_t first = h->carved;

    if (first > 0 && h->slabs[first - 1].state == SLAB_FREE)
        first -= h->slabs[first - 1].run;
    if (n > h->nslabs - first)
        return NO_SLAB;
    h->free_slabs -= h->carved - first;
    carve_up_to(h, first + n);
    return first;
}

static uint32_t take_slabs(phx_heap_t *h, uint32_t n, enum slab_state state)
{
    uint32_t first = first_fit(h, n);

    if (first != NO_SLAB) {
        uint32_t len = h->slabs[first].run;
        if (len > n)
            mark_free_run(h, first + n, len - n);
        h->free_slabs -= n;
    } else if ((first = take_uncarved(h, n)) == NO_SLAB) {
        return NO_SLAB;
    }
    for (uint32_t i = 0; i < n; i++)
        h->slabs[first + i].state = i ? SLAB_LARGE_BODY : state;
    h->slabs[first].run = n;
    return first;
}

static void punch_hole(phx_heap_t *h, uint32_t first, uint32_t n)
{
    off_t offset = (off_t)((size_t)first << h->slab_shift);
    off_t len = (off_t)((size_t)n << h->slab_shift);

    if (fallocate(h->region->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset, len) < 0) {
        phx_debug("heap: cannot give freed slabs back (%s); keeping their pages", strerror(errno));
        h->release_freed = false;       /* sealed read-only, or a file system without holes */
    }
}

static void release_slabs(phx_heap_t *h, uint32_t first, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        h->slabs[first + i].state = SLAB_FREE;
    h->free_slabs += n;
    if (h->release_freed)
        punch_hole(h, first, n);
    if (first > 0 && h->slabs[first - 1].state == SLAB_FREE) {
        uint32_t left = h->slabs[first - 1].run;
        first -= left;
        n += left;
    }
    if (first + n < h->carved && h->slabs[first + n].state == SLAB_FREE)
        n += h->slabs[first + n].run;
    mark_free_run(h, first, n);
}

/* ---- small blocks ---- */

static void class_list_push(phx_heap_t *h, uint32_t s)
{
    struct slab *sl = &h->slabs[s];
    uint32_t *head = &h->class_list[sl->size_class];

    sl->prev = NO_SLAB;
    sl->next = *head;
    if (*head != NO_SLAB)
        h->slabs[*head].prev = s;
    *head = s;
}

static void class_list_remove(phx_heap_t *h, uint32_t s)
{
    struct slab *sl = &h->slabs[s];

    if (sl->prev != NO_SLAB)
        h->slabs[sl->prev].next = sl->next;
    else
        h->class_list[sl->size_class] = sl->next;
    if (sl->next != NO_SLAB)
        h->slabs[sl->next].prev = sl->prev;
    sl->prev = sl->next = NO_SLAB;
}

static void small_slab_release(phx_heap_t *h, uint32_t s)
{
    class_list_remove(h, s);
    free(h->slabs[s].bits);
    h->slabs[s].bits = NULL;
    release_slabs(h, s, 1);
}

static void release_cached_slabs(phx_heap_t *h)
{
    for (unsigned c = 0; c < NUM_CLASSES; c++) {
        for (uint32_t s = h->class_list[c], next; s != NO_SLAB; s = next) {
            next = h->slabs[s].next;
            if (h->slabs[s].nfree == h->slabs[s].nslots)
                small_slab_release(h, s);
        }
    }
}

static uint32_t take_slabs_or_reclaim(phx_heap_t *h, uint32_t n, enum slab_state state)
{
    uint32_t s = take_slabs(h, n, state);

    if (s == NO_SLAB) {
        release_cached_slabs(h);
        s = take_slabs(h, n, state);
    }
    return s;
}

static uint32_t new_small_slab(phx_heap_t *h, unsigned c)
{
    uint32_t s = take_slabs_or_reclaim(h, 1, SLAB_SMALL);
    if (s == NO_SLAB)
        return NO_SLAB;

    struct slab *sl = &h->slabs[s];
    sl->size_class = (uint8_t)c;
    sl->nslots = sl->nfree = (uint32_t)(h->slab_size / class_size(c));
    sl->bits = bitmap_new(sl->nslots);
    if (!sl->bits) {
        release_slabs(h, s, 1);
        return NO_SLAB;
    }
    class_list_push(h, s);
    return s;
}

static void *small_alloc(phx_heap_t *h, unsigned c)
{
    uint32_t s = h->class_list[c];

    if (s == NO_SLAB && (s = new_small_slab(h, c)) == NO_SLAB)
        return NULL;
    struct slab *sl = &h->slabs[s];
    uint32_t slot = bitmap_take(sl->bits, sl->nslots);
    if (--sl->nfree == 0)
        class_list_remove(h, s);
    return slab_addr(h, s) + (size_t)slot * class_size(c);
}

static void small_free(phx_heap_t *h, uint32_t s, uint32_t slot)
{
    struct slab *sl = &h->slabs[s];

    bitmap_put(sl->bits, sl->nslots, slot);
    if (sl->nfree++ == 0)
        class_list_push(h, s);
    bool only_slab = h->class_list[sl->size_class] == s && sl->next == NO_SLAB;
    if (sl->nfree == sl->nslots && !only_slab)
        small_slab_release(h, s);
}

/* ---- blocks ---- */

static void *alloc_locked(phx_heap_t *h, size_t size, size_t *usable)
{
    if (size <= PHX_HEAP_SMALL_MAX) {
        unsigned c = size_class(size);
        *usable = class_size(c);
        return small_alloc(h, c);
    }
    if (size > ((size_t)h->nslabs << h->slab_shift))
        return NULL;
    uint32_t n = (uint32_t)((size + h->slab_size - 1) >> h->slab_shift);
    uint32_t s = take_slabs_or_reclaim(h, n, SLAB_LARGE);
    *usable = (size_t)n << h->slab_shift;
    return s == NO_SLAB ? NULL : slab_addr(h, s);
}

/* Finds the live block starting at PTR. Returns NULL, or why PTR is not such a block. */
static const char *find_block(const phx_heap_t *h, const void *ptr, struct block *b)
{
    uintptr_t p = (uintptr_t)ptr, base = (uintptr_t)h->base;

    if (p < base || ((p - base) >> h->slab_shift) >= h->carved)
        return "not in this heap";
    b->slab = (uint32_t)((p - base) >> h->slab_shift);
    size_t in_slab = (p - base) & (h->slab_size - 1);
    const struct slab *sl = &h->slabs[b->slab];

    switch (sl->state) {
    case SLAB_SMALL:
        b->size = class_size(sl->size_class);
        b->slot = (uint32_t)(in_slab / b->size);
        if (in_slab % b->size || b->slot >= sl->nslots)
            return "not the start of a block";
        return bitmap_is_set(sl->bits, b->slot) ? "already free" : NULL;
    case SLAB_LARGE:
        b->size = (size_t)sl->run << h->slab_shift;
        return in_slab ? "not the start of a block" : NULL;
    case SLAB_LARGE_BODY:
        return "not the start of a block";
    default:
        return "already free";
    }
}

static void free_block(phx_heap_t *h, const struct block *b)
{
    if (h->slabs[b->slab].state == SLAB_SMALL)
        small_free(h, b->slab, b->slot);
    else
        release_slabs(h, b->slab, h->slabs[b->slab].run);
}

/* ---- public ---- */

void *phx_heap_alloc(phx_heap_t *h, size_t size)
{
    size_t usable = 0;

    pthread_mutex_lock(&h->lock);
    void *p = alloc_locked(h, size, &usable);
    if (p) {
        h->stats.allocations++;
        h->stats.bytes_in_use += usable;
    } else {
        h->stats.failed++;
    }
    pthread_mutex_unlock(&h->lock);
    if (!p)
        errno = ENOMEM;
    return p;
}

void *phx_heap_calloc(phx_heap_t *h, size_t n, size_t size)
{
    size_t total;

    if (__builtin_mul_overflow(n, size, &total)) {
        pthread_mutex_lock(&h->lock);
        h->stats.failed++;
        pthread_mutex_unlock(&h->lock);
        errno = ENOMEM;
        return NULL;
    }
    void *p = phx_heap_alloc(h, total);
    if (p)
        memset(p, 0, total);    /* reused blocks hold old data; fresh pages are zero anyway */
    return p;
}

void phx_heap_free(phx_heap_t *h, void *ptr)
{
    struct block b;

    if (!ptr)
        return;
    pthread_mutex_lock(&h->lock);
    const char *why = find_block(h, ptr, &b);
    if (!why) {
        free_block(h, &b);
        h->stats.frees++;
        h->stats.bytes_in_use -= b.size;
    }
    pthread_mutex_unlock(&h->lock);
    if (why)
        phx_warn("heap: free(%p) ignored: %s", ptr, why);
}

size_t phx_heap_usable_size(phx_heap_t *h, const void *ptr)
{
    struct block b;

    pthread_mutex_lock(&h->lock);
    const char *why = find_block(h, ptr, &b);
    pthread_mutex_unlock(&h->lock);
    return why ? 0 : b.size;
}

void phx_heap_get_stats(phx_heap_t *h, struct phx_heap_stats *s)
{
    pthread_mutex_lock(&h->lock);
    *s = h->stats;
    s->slabs = h->carved;
    s->bytes_reserved = (size_t)(h->carved - h->free_slabs) << h->slab_shift;
    pthread_mutex_unlock(&h->lock);
}

static void *protobuf_alloc(void *heap, size_t size)
{
    return phx_heap_alloc(heap, size);
}

static void protobuf_free(void *heap, void *ptr)
{
    phx_heap_free(heap, ptr);
}

ProtobufCAllocator *phx_heap_protobuf_allocator(phx_heap_t *h)
{
    return &h->pb_allocator;
}

static bool valid_slab_size(size_t slab_size, const phx_shm_region_t *region)
{
    return slab_size >= PHX_HEAP_MIN_SLAB_SIZE && (slab_size & (slab_size - 1)) == 0 &&
           region->size >= slab_size;
}

static void apply_params(phx_heap_t *h, const struct phx_heap_params *p)
{
    if (!p)
        return;
    if (p->field_mask & PHX_HEAP_PARAM_FIELD_ON_SLAB) {
        h->on_slab = p->on_slab;
        h->on_slab_arg = p->on_slab_arg;
    }
    if (p->field_mask & PHX_HEAP_PARAM_FIELD_FLAGS)
        h->release_freed = p->flags & PHX_HEAP_FLAG_RELEASE_FREED;
}

phx_heap_t *phx_heap_create(phx_shm_region_t *region, const struct phx_heap_params *p)
{
    size_t slab_size = p && (p->field_mask & PHX_HEAP_PARAM_FIELD_SLAB_SIZE)
                           ? p->slab_size : PHX_HEAP_DEFAULT_SLAB_SIZE;

    if (!region || !region->base || !(region->prot & PROT_WRITE) ||
        !valid_slab_size(slab_size, region)) {
        errno = EINVAL;
        return NULL;
    }
    size_t nslabs = region->size / slab_size;
    if (nslabs >= NO_SLAB)
        nslabs = NO_SLAB - 1;
    phx_heap_t *h = calloc(1, sizeof(*h));
    if (!h || !(h->slabs = calloc(nslabs, sizeof(*h->slabs)))) {
        free(h);
        errno = ENOMEM;
        return NULL;
    }
    pthread_mutex_init(&h->lock, NULL);
    h->region = region;
    h->base = region->base;
    h->slab_size = slab_size;
    h->slab_shift = (unsigned)__builtin_ctzll(slab_size);
    h->nslabs = (uint32_t)nslabs;
    for (unsigned c = 0; c < NUM_CLASSES; c++)
        h->class_list[c] = NO_SLAB;
    h->pb_allocator = (ProtobufCAllocator){ protobuf_alloc, protobuf_free, h };
    apply_params(h, p);
    return h;
}

void phx_heap_destroy(phx_heap_t *h)
{
    if (!h)
        return;
    for (uint32_t s = 0; s < h->carved; s++) {
        if (h->slabs[s].state == SLAB_SMALL)
            free(h->slabs[s].bits);
    }
    free(h->slabs);
    pthread_mutex_destroy(&h->lock);
    free(h);
}
