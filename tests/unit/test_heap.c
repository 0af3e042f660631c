/* test_heap.c - the shared-heap allocator within one process: size classes and alignment, calloc,
 * refused frees, exhaustion without damage, a million random operations checked against a shadow
 * map of live bytes, the protobuf-c allocator, slab reports, giving pages back, and threads.
 * Messages built by one process and read by another are in test_shm_region.c. */
#include "phoenix/heap.h"
#include "phoenix/log.h"
#include "phoenix/shm_region.h"
#include "phx_test.h"

#include "heap_test.pb-c.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#define KiB ((size_t)1024)
#define MiB (1024 * KiB)
#define SLAB (256 * KiB)
#define GRANULE 16

static phx_heap_t *heap_on(phx_shm_region_t *r, size_t slab_size, unsigned flags)
{
    struct phx_heap_params p = {
        .field_mask = PHX_HEAP_PARAM_FIELD_SLAB_SIZE | PHX_HEAP_PARAM_FIELD_FLAGS,
        .slab_size = slab_size,
        .flags = flags,
    };
    phx_heap_t *h = phx_heap_create(r, &p);

    CU_ASSERT_PTR_NOT_NULL_FATAL(h);
    return h;
}

static struct phx_heap_stats stats_of(phx_heap_t *h)
{
    struct phx_heap_stats s;

    phx_heap_get_stats(h, &s);
    return s;
}

static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* ---- patterns: small blocks filled whole, large ones one word per page ---- */

static size_t pattern_stride(size_t size)
{
    return size <= PHX_HEAP_SMALL_MAX ? 8 : 4096;
}

static uint64_t pattern_word(uint64_t seed, size_t off)
{
    return seed ^ (off * 0x9e3779b97f4a7c15ull);
}

static void pattern_fill(void *p, size_t size, uint64_t seed)
{
    unsigned char *b = p;

    for (size_t off = 0; off + 8 <= size; off += pattern_stride(size))
        memcpy(b + off, &(uint64_t){ pattern_word(seed, off) }, 8);
    for (size_t off = size & ~(size_t)7; off < size; off++)
        b[off] = (unsigned char)seed;
}

static bool pattern_intact(const void *p, size_t size, uint64_t seed)
{
    const unsigned char *b = p;
    uint64_t w;

    for (size_t off = 0; off + 8 <= size; off += pattern_stride(size)) {
        memcpy(&w, b + off, 8);
        if (w != pattern_word(seed, off))
            return false;
    }
    for (size_t off = size & ~(size_t)7; off < size; off++) {
        if (b[off] != (unsigned char)seed)
            return false;
    }
    return true;
}

/* ---- shadow map: one bit per 16-byte granule of the region, set while a block covers it ---- */

struct shadow {
    const char *base;
    uint64_t *bits;
};

static struct shadow shadow_new(const phx_shm_region_t *r)
{
    return (struct shadow){ r->base, calloc(r->size / GRANULE / 64 + 1, sizeof(uint64_t)) };
}

/* Claims (or releases) the granules of [P, P + LEN): false, changing nothing, when any of them
 * was already claimed (or was not). */
static bool shadow_update(struct shadow *s, const void *p, size_t len, bool claim)
{
    size_t first = (size_t)((const char *)p - s->base) / GRANULE, end = first + len / GRANULE;

    for (int apply = 0; apply < 2; apply++) {
        for (size_t i = first; i < end;) {
            size_t bit = i % 64, take = 64 - bit < end - i ? 64 - bit : end - i;
            uint64_t mask = (take == 64 ? ~0ull : (1ull << take) - 1) << bit;
            uint64_t *word = &s->bits[i / 64];

            if (apply)
                *word ^= mask;
            else if ((*word & mask) != (claim ? 0 : mask))
                return false;
            i += take;
        }
    }
    return true;
}

/* ---- cases ---- */

static void test_size_classes(void)
{
    phx_shm_region_t r = phx_test_region(64 * MiB);
    phx_heap_t *h = heap_on(&r, SLAB, 0);
    size_t previous = 0, bad_align = 0, bad_size = 0;

    for (size_t size = 0; size <= PHX_HEAP_SMALL_MAX; size++) {
        char *p = phx_heap_alloc(h, size);
        size_t usable = phx_heap_usable_size(h, p);
        size_t wanted = size ? size : 1, waste_max = size <= 128 ? 15 : size / 4;

        bad_align += p == NULL || (uintptr_t)p % 16 != 0;
        bad_size += usable < wanted || usable - wanted > waste_max || usable < previous;
        previous = usable;
        phx_heap_free(h, p);
    }
    CU_ASSERT_EQUAL(bad_align, 0);
    CU_ASSERT_EQUAL(bad_size, 0);

    char *a = phx_heap_alloc(h, 100), *b = phx_heap_alloc(h, 100);
    CU_ASSERT(a && b && (a + 112 <= b || b + 112 <= a));
    CU_ASSERT_EQUAL(phx_heap_usable_size(h, a + 16), 0);
    CU_ASSERT_EQUAL(phx_heap_usable_size(h, &previous), 0);

    char *big = phx_heap_alloc(h, PHX_HEAP_SMALL_MAX + 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(big);
    CU_ASSERT_EQUAL((uintptr_t)big % 4096, 0);
    CU_ASSERT_EQUAL(phx_heap_usable_size(h, big), SLAB);
    CU_ASSERT_EQUAL(phx_heap_usable_size(h, big + 4096), 0);
    CU_ASSERT(phx_shm_region_contains(&r, big, SLAB));

    struct phx_heap_stats s = stats_of(h);
    CU_ASSERT_EQUAL(s.bytes_in_use, 2 * 112 + SLAB);
    CU_ASSERT_EQUAL(s.allocations, PHX_HEAP_SMALL_MAX + 1 + 3);
    CU_ASSERT_EQUAL(s.frees, PHX_HEAP_SMALL_MAX + 1);
    phx_heap_destroy(h);
    phx_shm_region_destroy(&r);
}

static void test_calloc(void)
{
    phx_shm_region_t r = phx_test_region(4 * MiB);
    phx_heap_t *h = heap_on(&r, SLAB, 0);

    unsigned char *p = phx_heap_alloc(h, 1000);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    memset(p, 0xff, 1000);
    phx_heap_free(h, p);
    unsigned char *q = phx_heap_calloc(h, 10, 100);
    CU_ASSERT_PTR_EQUAL(q, p);          /* the same block again, so zeroing is visible */
    size_t nonzero = 0;
    for (int i = 0; i < 1000; i++)
        nonzero += q[i] != 0;
    CU_ASSERT_EQUAL(nonzero, 0);

    errno = 0;
    CU_ASSERT_PTR_NULL(phx_heap_calloc(h, SIZE_MAX / 2, 3));
    CU_ASSERT_EQUAL(errno, ENOMEM);
    CU_ASSERT_EQUAL(stats_of(h).failed, 1);
    phx_heap_destroy(h);
    phx_shm_region_destroy(&r);
}

static void test_bad_frees_ignored(void)
{
    phx_shm_region_t r = phx_test_region(4 * MiB);
    phx_heap_t *h = heap_on(&r, SLAB, 0);
    int on_stack;

    phx_log_set_level(PHX_LOG_ERROR);   /* each refusal logs a warning */
    char *small = phx_heap_alloc(h, 64), *big = phx_heap_alloc(h, 2 * SLAB);
    CU_ASSERT_FATAL(small && big);
    phx_heap_free(h, NULL);
    phx_heap_free(h, &on_stack);
    phx_heap_free(h, small + 16);
    phx_heap_free(h, big + SLAB);
    phx_heap_free(h, (char *)r.base + r.size - 64);     /* never handed out */
    CU_ASSERT_EQUAL(stats_of(h).frees, 0);

    phx_heap_free(h, small);
    phx_heap_free(h, small);            /* double free */
    phx_heap_free(h, big);
    phx_heap_free(h, big);
    phx_log_set_level(PHX_LOG_INFO);

    struct phx_heap_stats s = stats_of(h);
    CU_ASSERT_EQUAL(s.frees, 2);
    CU_ASSERT_EQUAL(s.bytes_in_use, 0);
    char *a = phx_heap_alloc(h, 64), *b = phx_heap_alloc(h, 64);
    CU_ASSERT(a && b && a != b);        /* the double free did not list the block twice */
    phx_heap_destroy(h);
    phx_shm_region_destroy(&r);
}

#define EXHAUST_MAX_BLOCKS 4096

struct block {
    void *p;
    size_t size;
    uint64_t seed;
};

static size_t intact_blocks(const struct block *b, size_t n)
{
    size_t intact = 0;

    for (size_t i = 0; i < n; i++)
        intact += !b[i].p || pattern_intact(b[i].p, b[i].size, b[i].seed);
    return intact;
}

static void test_exhaustion(void)
{
    static struct block b[EXHAUST_MAX_BLOCKS];
    phx_shm_region_t r = phx_test_region(16 * SLAB);
    phx_heap_t *h = heap_on(&r, SLAB, 0);
    size_t n = 0, failures = 0, wrong_errno = 0;

    for (int i = 0; i < EXHAUST_MAX_BLOCKS && failures < 20; i++) {
        size_t size = i % 8 == 7 ? 300 * KiB : 1000 + (size_t)i % 3000;
        errno = 0;
        void *p = phx_heap_alloc(h, size);
        if (!p) {
            failures++;
            wrong_errno += errno != ENOMEM;
            continue;
        }
        b[n] = (struct block){ p, size, (uint64_t)i * 7919 };
        pattern_fill(p, size, b[n++].seed);
    }
    CU_ASSERT_EQUAL(failures, 20);
    CU_ASSERT_EQUAL(wrong_errno, 0);
    CU_ASSERT_EQUAL(intact_blocks(b, n), n);

    CU_ASSERT_PTR_NULL(phx_heap_alloc(h, r.size + 1));
    CU_ASSERT_PTR_NULL(phx_heap_alloc(h, SIZE_MAX));
    CU_ASSERT_EQUAL(stats_of(h).failed, failures + 2);
    CU_ASSERT_EQUAL(intact_blocks(b, n), n);

    size_t refilled = 0;
    for (size_t i = 0; i < n; i += 2) {
        phx_heap_free(h, b[i].p);
        b[i].p = NULL;
    }
    for (size_t i = 0; i < n; i += 2) {         /* what was freed can be had again */
        b[i].p = phx_heap_alloc(h, b[i].size);
        if (b[i].p) {
            pattern_fill(b[i].p, b[i].size, ++b[i].seed);
            refilled++;
        }
    }
    CU_ASSERT_EQUAL(refilled, (n + 1) / 2);
    CU_ASSERT_EQUAL(intact_blocks(b, n), n);
    for (size_t i = 0; i < n; i++)
        phx_heap_free(h, b[i].p);

    CU_ASSERT_EQUAL(stats_of(h).bytes_in_use, 0);
    void *all = phx_heap_alloc(h, r.size);      /* every slab free and merged again */
    CU_ASSERT_PTR_EQUAL(all, r.base);
    phx_heap_free(h, all);
    phx_heap_destroy(h);
    phx_shm_region_destroy(&r);
}

#define RANDOM_OPS 1000000
#define RANDOM_LIVE 4096
#define RANDOM_SECONDS 90

/* Mostly small blocks spread over every size class, 3% large ones of up to 1 MiB. */
static size_t random_size(uint64_t *rng)
{
    uint64_t x = rng_next(rng);

    if (x % 100 < 3)
        return PHX_HEAP_SMALL_MAX + 1 + (x >> 8) % MiB;
    return (size_t)((x >> 8) % (1ull << ((x >> 40) % 17)));
}

struct random_run {
    phx_heap_t *h;
    struct shadow shadow;
    struct block live[RANDOM_LIVE];
    size_t null, misaligned, overlaps, too_small, damaged, unknown;
};

static void random_alloc(struct random_run *run, struct block *b, uint64_t *rng)
{
    size_t size = random_size(rng);
    void *p = phx_heap_alloc(run->h, size);

    if (!p) {
        run->null++;
        return;
    }
    size_t usable = phx_heap_usable_size(run->h, p);
    run->misaligned += (uintptr_t)p % 16 != 0;
    run->too_small += usable < size;
    if (!shadow_update(&run->shadow, p, usable, true))
        run->overlaps++;
    *b = (struct block){ p, size, rng_next(rng) };
    pattern_fill(p, size, b->seed);
}

static void random_free(struct random_run *run, struct block *b)
{
    size_t usable = phx_heap_usable_size(run->h, b->p);

    run->damaged += !pattern_intact(b->p, b->size, b->seed);
    run->unknown += usable == 0 || !shadow_update(&run->shadow, b->p, usable, false);
    phx_heap_free(run->h, b->p);
    b->p = NULL;
}

static void test_random_operations(void)
{
    static struct random_run run;
    phx_shm_region_t r = phx_test_region(256 * MiB);
    uint64_t rng = 0x5eed0f0e11ull, deadline = phx_test_now_ns() + RANDOM_SECONDS * 1000000000ull;
    long ops = 0;

    run = (struct random_run){ .h = heap_on(&r, SLAB, 0), .shadow = shadow_new(&r) };
    CU_ASSERT_PTR_NOT_NULL_FATAL(run.shadow.bits);
    for (; ops < RANDOM_OPS; ops++) {
        if (ops % 65536 == 0 && phx_test_now_ns() > deadline)
            break;
        struct block *b = &run.live[rng_next(&rng) % RANDOM_LIVE];
        if (b->p)
            random_free(&run, b);
        else
            random_alloc(&run, b, &rng);
    }
    for (int i = 0; i < RANDOM_LIVE; i++) {
        if (run.live[i].p)
            random_free(&run, &run.live[i]);
    }
    CU_ASSERT_EQUAL(ops, RANDOM_OPS);
    CU_ASSERT_EQUAL(run.null, 0);
    CU_ASSERT_EQUAL(run.misaligned, 0);
    CU_ASSERT_EQUAL(run.too_small, 0);
    CU_ASSERT_EQUAL(run.overlaps, 0);
    CU_ASSERT_EQUAL(run.damaged, 0);
    CU_ASSERT_EQUAL(run.unknown, 0);

    struct phx_heap_stats s = stats_of(run.h);
    CU_ASSERT_EQUAL(s.bytes_in_use, 0);
    CU_ASSERT_EQUAL(s.allocations, s.frees);
    CU_ASSERT(s.allocations > RANDOM_OPS / 3);
    void *all = phx_heap_alloc(run.h, r.size);
    CU_ASSERT_PTR_EQUAL(all, r.base);
    phx_heap_free(run.h, all);
    free(run.shadow.bits);
    phx_heap_destroy(run.h);
    phx_shm_region_destroy(&r);
}

static void test_protobuf_allocator(void)
{
    phx_shm_region_t r = phx_test_region(4 * MiB);
    phx_heap_t *h = heap_on(&r, SLAB, 0);
    ProtobufCAllocator *allocator = phx_heap_protobuf_allocator(h);
    Phx__Test__Point origin = PHX__TEST__POINT__INIT, p1 = PHX__TEST__POINT__INIT;
    Phx__Test__Point *points[] = { &p1, &origin };
    char *tags[] = { "alpha", "beta" };
    int64_t values[] = { -1, 0, 1ll << 40 };
    uint8_t blob[] = { 0, 1, 2, 255 };
    Phx__Test__Shape shape = PHX__TEST__SHAPE__INIT;

    origin.label = "origin";
    p1.x = -7;
    shape.name = "square";
    shape.blob = (ProtobufCBinaryData){ sizeof(blob), blob };
    shape.n_values = 3;
    shape.values = values;
    shape.n_tags = 2;
    shape.tags = tags;
    shape.origin = &origin;
    shape.n_points = 2;
    shape.points = points;

    uint8_t wire[256], again[256];
    size_t len = phx__test__shape__pack(&shape, wire);
    Phx__Test__Shape *m = phx__test__shape__unpack(allocator, len, wire);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    CU_ASSERT(phx_shm_region_contains(&r, m, sizeof(*m)));
    CU_ASSERT(phx_shm_region_contains(&r, m->name, strlen(m->name) + 1));
    CU_ASSERT(phx_shm_region_contains(&r, m->blob.data, m->blob.len));
    CU_ASSERT(phx_shm_region_contains(&r, m->values, m->n_values * sizeof(int64_t)));
    CU_ASSERT(phx_shm_region_contains(&r, m->tags[1], 5));
    CU_ASSERT(phx_shm_region_contains(&r, m->points[1]->label, 7));
    CU_ASSERT_EQUAL(m->points[0]->x, -7);
    CU_ASSERT_EQUAL(phx__test__shape__pack(m, again), len);
    CU_ASSERT_EQUAL(memcmp(wire, again, len), 0);
    CU_ASSERT(stats_of(h).bytes_in_use > sizeof(*m));

    phx__test__shape__free_unpacked(m, allocator);
    CU_ASSERT_EQUAL(stats_of(h).bytes_in_use, 0);
    CU_ASSERT_PTR_NULL(phx__test__shape__unpack(allocator, len - 3, wire));     /* truncated */
    CU_ASSERT_EQUAL(stats_of(h).bytes_in_use, 0);
    phx_heap_destroy(h);
    phx_shm_region_destroy(&r);
}

#define MAX_REPORTS 64

struct slab_reports {
    size_t count;
    char *slab[MAX_REPORTS];
    size_t len[MAX_REPORTS];
};

static void record_slab(void *arg, void *slab, size_t len)
{
    struct slab_reports *rep = arg;

    if (rep->count < MAX_REPORTS) {
        rep->slab[rep->count] = slab;
        rep->len[rep->count] = len;
    }
    rep->count++;
}

static void test_slab_reports(void)
{
    phx_shm_region_t r = phx_test_region(32 * SLAB);
    struct slab_reports rep = { 0 };
    struct phx_heap_params p = {
        .field_mask = PHX_HEAP_PARAM_FIELD_SLAB_SIZE | PHX_HEAP_PARAM_FIELD_ON_SLAB,
        .slab_size = SLAB, .on_slab = record_slab, .on_slab_arg = &rep,
    };
    phx_heap_t *h = phx_heap_create(&r, &p);
    CU_ASSERT_PTR_NOT_NULL_FATAL(h);

    void *small = phx_heap_alloc(h, 10), *other = phx_heap_alloc(h, 5000);
    void *large = phx_heap_alloc(h, 3 * SLAB), *pin = phx_heap_alloc(h, PHX_HEAP_SMALL_MAX + 1);
    CU_ASSERT_EQUAL(rep.count, 6);
    CU_ASSERT_EQUAL(stats_of(h).slabs, 6);
    for (size_t i = 0; i < rep.count && i < MAX_REPORTS; i++) {
        CU_ASSERT_PTR_EQUAL(rep.slab[i], (char *)r.base + i * SLAB);
        CU_ASSERT_EQUAL(rep.len[i], SLAB);
    }
    CU_ASSERT_PTR_EQUAL(large, rep.slab[2]);
    CU_ASSERT_PTR_EQUAL(pin, rep.slab[5]);

    phx_heap_free(h, large);                    /* a free run between used slabs */
    phx_heap_free(h, small);
    phx_heap_free(h, other);
    void *larger = phx_heap_alloc(h, 4 * SLAB);         /* the run is too short */
    CU_ASSERT_PTR_EQUAL(larger, (char *)r.base + 6 * SLAB);
    CU_ASSERT_EQUAL(rep.count, 10);
    large = phx_heap_alloc(h, 3 * SLAB);        /* fits the run exactly: nothing new */
    CU_ASSERT_PTR_EQUAL(large, rep.slab[2]);
    CU_ASSERT_EQUAL(rep.count, 10);
    CU_ASSERT_EQUAL(stats_of(h).bytes_reserved, 10 * SLAB);    /* with 2 cached small slabs */
    phx_heap_destroy(h);
    phx_shm_region_destroy(&r);
}

static long long blocks_of(int fd)
{
    struct stat st;

    return fstat(fd, &st) == 0 ? (long long)st.st_blocks * 512 : -1;
}

static void test_release_freed(void)
{
    phx_shm_region_t r = phx_test_region(64 * MiB);
    phx_heap_t *keep = heap_on(&r, SLAB, 0);

    void *p = phx_heap_alloc(keep, 8 * MiB);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    memset(p, 1, 8 * MiB);
    phx_heap_free(keep, p);
    CU_ASSERT(blocks_of(r.fd) >= (long long)(8 * MiB));        /* kept without the flag */
    phx_heap_destroy(keep);

    phx_heap_t *h = heap_on(&r, SLAB, PHX_HEAP_FLAG_RELEASE_FREED);
    p = phx_heap_alloc(h, 8 * MiB);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    memset(p, 1, 8 * MiB);
    phx_heap_free(h, p);
    CU_ASSERT(blocks_of(r.fd) < (long long)MiB);
    CU_ASSERT_EQUAL(*(volatile char *)p, 0);    /* a hole reads as zeroes */

    CU_ASSERT_EQUAL(phx_shm_region_seal_readonly(&r), 0);      /* holes are refused now */
    p = phx_heap_alloc(h, 8 * MiB);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    memset(p, 1, 8 * MiB);
    phx_heap_free(h, p);
    CU_ASSERT(blocks_of(r.fd) >= (long long)(8 * MiB));
    CU_ASSERT_PTR_EQUAL(phx_heap_alloc(h, 8 * MiB), p);
    phx_heap_destroy(h);
    phx_shm_region_destroy(&r);
}

static void test_create_refuses_bad_params(void)
{
    phx_shm_region_t r = phx_test_region(4 * MiB);
    struct phx_shm_region_params ro_params = {
        .field_mask = PHX_SHM_REGION_PARAM_FIELD_SIZE | PHX_SHM_REGION_PARAM_FIELD_PROT,
        .size = 4 * MiB, .prot = PROT_READ,
    };
    phx_shm_region_t ro;
    const size_t bad_slabs[] = { 3 * MiB, 128 * KiB, 8 * MiB, 0 };

    errno = 0;
    CU_ASSERT_PTR_NULL(phx_heap_create(NULL, NULL));
    CU_ASSERT_EQUAL(errno, EINVAL);
    CU_ASSERT_EQUAL_FATAL(phx_shm_region_create(&ro, &ro_params), 0);
    CU_ASSERT_PTR_NULL(phx_heap_create(&ro, NULL));
    for (size_t i = 0; i < sizeof(bad_slabs) / sizeof(bad_slabs[0]); i++) {
        struct phx_heap_params p = {
            .field_mask = PHX_HEAP_PARAM_FIELD_SLAB_SIZE, .slab_size = bad_slabs[i],
        };
        errno = 0;
        CU_ASSERT_PTR_NULL(phx_heap_create(&r, &p));
        CU_ASSERT_EQUAL(errno, EINVAL);
    }
    phx_heap_t *h = phx_heap_create(&r, NULL);  /* defaults: two 2 MiB slabs */
    CU_ASSERT_PTR_NOT_NULL_FATAL(h);
    CU_ASSERT_EQUAL(phx_heap_usable_size(h, phx_heap_alloc(h, PHX_HEAP_SMALL_MAX + 1)),
                    PHX_HEAP_DEFAULT_SLAB_SIZE);
    phx_heap_destroy(h);
    phx_shm_region_destroy(&ro);
    phx_shm_region_destroy(&r);
}

#define THREADS 4
#define THREAD_OPS 20000
#define THREAD_LIVE 256

struct worker {
    phx_heap_t *h;
    uint64_t rng;
    size_t errors;
};

static void *worker_run(void *arg)
{
    struct worker *w = arg;
    struct block live[THREAD_LIVE] = { { 0 } };

    for (int i = 0; i < THREAD_OPS; i++) {
        struct block *b = &live[rng_next(&w->rng) % THREAD_LIVE];
        if (b->p) {
            w->errors += !pattern_intact(b->p, b->size, b->seed);
            phx_heap_free(w->h, b->p);
            b->p = NULL;
            continue;
        }
        b->size = random_size(&w->rng) / 4;
        b->seed = rng_next(&w->rng);
        b->p = phx_heap_alloc(w->h, b->size);
        w->errors += b->p == NULL;
        if (b->p)
            pattern_fill(b->p, b->size, b->seed);
    }
    for (int i = 0; i < THREAD_LIVE; i++) {
        w->errors += live[i].p && !pattern_intact(live[i].p, live[i].size, live[i].seed);
        phx_heap_free(w->h, live[i].p);
    }
    return NULL;
}

static void test_threads(void)
{
    phx_shm_region_t r = phx_test_region(256 * MiB);
    phx_heap_t *h = heap_on(&r, SLAB, 0);
    struct worker w[THREADS];
    pthread_t t[THREADS];

    for (int i = 0; i < THREADS; i++) {
        w[i] = (struct worker){ h, 0x1234567ull * (unsigned)(i + 1), 0 };
        CU_ASSERT_EQUAL_FATAL(pthread_create(&t[i], NULL, worker_run, &w[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
        CU_ASSERT_EQUAL(w[i].errors, 0);
    }
    struct phx_heap_stats s = stats_of(h);
    CU_ASSERT_EQUAL(s.bytes_in_use, 0);
    CU_ASSERT_EQUAL(s.allocations, s.frees);
    phx_heap_destroy(h);
    phx_shm_region_destroy(&r);
}

static const phx_test_case_t cases[] = {
    { "every size class is aligned and fits", test_size_classes },
    { "calloc zeroes and refuses overflow", test_calloc },
    { "foreign, interior and double frees are ignored", test_bad_frees_ignored },
    { "exhaustion fails cleanly and damages nothing", test_exhaustion },
    { "a million random operations never overlap", test_random_operations },
    { "protobuf-c unpacks into the heap", test_protobuf_allocator },
    { "each new slab is reported once", test_slab_reports },
    { "freed slabs give pages back on request", test_release_freed },
    { "create refuses bad parameters", test_create_refuses_bad_params },
    { "threads share one heap", test_threads },
    { NULL, NULL },
};

int main(int argc, char **argv)
{
    return phx_test_main("heap", cases, argc, argv);
}
