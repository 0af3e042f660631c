/* test_tables.c - the id table and hash map libmrpc, MrpcEngine and the UCX transport keep their
 * calls, connections and buffers in (phoenix/idtable.h, u64map.h), against simple reference
 * models.
 *
 *   u64map     random puts, overwrites and removes checked against a plain array after every
 *              step (backward-shift deletion must never lose a key behind a hole); the bound;
 *              a reserved map takes its load without reallocating and hands pointers back
 *   idtable    ids of freed objects (late replies, guesses) find nothing even once their slot
 *              is reused; id 0 and ids out of range find nothing; the bound; removal while
 *              visiting */
#include "phoenix/idtable.h"
#include "phoenix/u64map.h"
#include "phx_test.h"

#include <errno.h>
#include <stdlib.h>

#define KEYS 512u

/* A key space with many collisions in a small table: small ints, aligned addresses, 0. */
static uint64_t key_of(unsigned i)
{
    return i % 3 == 0 ? i : i % 3 == 1 ? 0x7f0000000000ull + 16ull * i : (uint64_t)i << 40;
}

static void test_map_matches_model(void)
{
    static bool present[KEYS];
    static uint64_t value[KEYS];
    phx_u64map_t m;

    phx_u64map_init(&m, KEYS);
    srand(7);
    for (unsigned step = 0; step < 200000; step++) {
        unsigned i = (unsigned)rand() % KEYS;
        if (rand() % 3) {
            uint64_t v = (uint64_t)rand() << 20 | step;
            CU_ASSERT_EQUAL_FATAL(phx_u64map_put(&m, key_of(i), v), 0);
            present[i] = true;
            value[i] = v;
        } else {
            uint64_t v = 0;
            CU_ASSERT_EQUAL_FATAL(phx_u64map_remove(&m, key_of(i), &v), present[i]);
            if (present[i])
                CU_ASSERT_EQUAL_FATAL(v, value[i]);
            present[i] = false;
        }
        if (step % 97 == 0) {
            size_t count = 0;
            for (unsigned k = 0; k < KEYS; k++) {
                uint64_t v = 0;
                CU_ASSERT_EQUAL_FATAL(phx_u64map_get(&m, key_of(k), &v), present[k]);
                CU_ASSERT_FATAL(!present[k] || v == value[k]);
                count += present[k];
            }
            CU_ASSERT_EQUAL_FATAL(m.count, count);
        }
    }
    phx_u64map_fini(&m);
}

static void test_map_bound(void)
{
    phx_u64map_t m;

    phx_u64map_init(&m, 3);
    CU_ASSERT_EQUAL(phx_u64map_put(&m, 1, 1), 0);
    CU_ASSERT_EQUAL(phx_u64map_put(&m, 2, 2), 0);
    CU_ASSERT_EQUAL(phx_u64map_put(&m, 3, 3), 0);
    CU_ASSERT_EQUAL(phx_u64map_put(&m, 4, 4), -ENOSPC);
    CU_ASSERT_EQUAL(phx_u64map_put(&m, 3, 33), 0);      /* overwriting needs no room */
    CU_ASSERT_FALSE(phx_u64map_get(&m, 4, NULL));
    CU_ASSERT_TRUE(phx_u64map_remove(&m, 2, NULL));
    CU_ASSERT_EQUAL(phx_u64map_put(&m, 4, 4), 0);
    phx_u64map_fini(&m);
    CU_ASSERT_FALSE(phx_u64map_get(&m, 1, NULL));       /* empty again, and usable */
}

static void sum_values(void *arg, uint64_t key, uint64_t value)
{
    *(uint64_t *)arg += value - key;
}

static void test_map_reserve(void)
{
    static int objs[1000];
    phx_u64map_t m;
    uint64_t sum = 0;

    phx_u64map_init(&m, 1000);
    CU_ASSERT_PTR_NULL(phx_u64map_get_ptr(&m, 5));          /* empty, no table yet */
    CU_ASSERT_EQUAL_FATAL(phx_u64map_reserve(&m, 1u << 20), 0);   /* capped by max_entries */
    const struct phx_u64map_entry *table = m.slots;
    size_t cap = m.cap;
    CU_ASSERT_TRUE(cap >= 1000 && cap <= 4096);
    for (unsigned i = 0; i < 1000; i++)
        CU_ASSERT_EQUAL_FATAL(phx_u64map_put(&m, (uintptr_t)&objs[i], (uintptr_t)&objs[i]), 0);
    CU_ASSERT_PTR_EQUAL(m.slots, table);                    /* no allocation after reserve */
    CU_ASSERT_EQUAL(m.cap, cap);
    CU_ASSERT_EQUAL(phx_u64map_count(&m), 1000u);
    CU_ASSERT_PTR_EQUAL(phx_u64map_get_ptr(&m, (uintptr_t)&objs[517]), &objs[517]);
    CU_ASSERT_PTR_NULL(phx_u64map_get_ptr(&m, (uintptr_t)&objs[517] + 1));
    phx_u64map_each(&m, sum_values, &sum);
    CU_ASSERT_EQUAL(sum, 0u);                               /* every value is its key */
    CU_ASSERT_EQUAL(phx_u64map_reserve(&m, 10), 0);         /* never shrinks */
    CU_ASSERT_EQUAL(m.cap, cap);
    phx_u64map_fini(&m);
}

static void test_ids_die_with_their_object(void)
{
    phx_idtable_t t;
    int a, b, c;

    phx_idtable_init(&t, 2);
    uint64_t ia = phx_idtable_add(&t, &a), ib = phx_idtable_add(&t, &b);
    CU_ASSERT(ia && ib && ia != ib);
    CU_ASSERT_EQUAL(phx_idtable_add(&t, &c), 0u);       /* full */
    CU_ASSERT_PTR_EQUAL(phx_idtable_get(&t, ia), &a);
    CU_ASSERT_PTR_EQUAL(phx_idtable_remove(&t, ia), &a);
    CU_ASSERT_PTR_NULL(phx_idtable_get(&t, ia));
    CU_ASSERT_PTR_NULL(phx_idtable_remove(&t, ia));     /* twice: nothing */
    uint64_t ic = phx_idtable_add(&t, &c);              /* reuses a's slot */
    CU_ASSERT(ic != 0 && ic != ia && (uint32_t)ic == (uint32_t)ia);
    CU_ASSERT_PTR_NULL(phx_idtable_get(&t, ia));        /* the late reply finds nothing */
    CU_ASSERT_PTR_EQUAL(phx_idtable_get(&t, ic), &c);
    CU_ASSERT_PTR_NULL(phx_idtable_get(&t, 0));
    CU_ASSERT_PTR_NULL(phx_idtable_get(&t, 1ull << 32 | 3));   /* a slot never handed out */
    CU_ASSERT_PTR_NULL(phx_idtable_get(&t, ib + (1ull << 32)));  /* b's slot, wrong age */
    CU_ASSERT_PTR_NULL(phx_idtable_get(&t, ~0ull));
    CU_ASSERT_EQUAL(t.live, 2u);
    phx_idtable_fini(&t);
}

static void remove_odd(void *arg, uint64_t id, void *obj)
{
    if (*(int *)obj % 2)
        phx_idtable_remove(arg, id);
}

static void count_live(void *arg, uint64_t id, void *obj)
{
    ++*(unsigned *)arg;
}

static void test_ids_visit_and_grow(void)
{
    static int objs[5000];
    phx_idtable_t t;
    unsigned seen = 0;

    phx_idtable_init(&t, 1u << 20);
    for (int i = 0; i < 5000; i++) {
        objs[i] = i;
        CU_ASSERT_NOT_EQUAL_FATAL(phx_idtable_add(&t, &objs[i]), 0u);
    }
    phx_idtable_each(&t, remove_odd, &t);
    CU_ASSERT_EQUAL(t.live, 2500u);
    phx_idtable_each(&t, count_live, &seen);
    CU_ASSERT_EQUAL(seen, 2500u);
    phx_idtable_fini(&t);
}

static const phx_test_case_t cases[] = {
    { "u64map matches a model through puts and removes", test_map_matches_model },
    { "u64map keeps its bound", test_map_bound },
    { "u64map reserves room and holds pointers", test_map_reserve },
    { "idtable ids die with their object", test_ids_die_with_their_object },
    { "idtable visits, removes while visiting, grows", test_ids_visit_and_grow },
    { NULL, NULL },
};

int main(int argc, char **argv)
{
    return phx_test_main("tables", cases, argc, argv);
}
