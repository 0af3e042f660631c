/* test_admission_slots.c - AdmissionEngine's table of outstanding calls (policies/admission/
 * slots.c) against a plain array model, without a service.
 *
 *   model       100,000 random steps - adds, removes of present and absent ids, removes of a
 *               connection's calls, expiries, resizes - and after each the table holds exactly
 *               the model's calls (ids, connections, methods), counts per method agree, and
 *               every call the model holds can be removed (backward-shift deletion keeps each
 *               reachable from its home)
 *   full        a table sized for N takes N calls and refuses none of them; remove frees
 *   methods     a 65th method with calls outstanding is not counted separately (NULL); a call
 *               of it that was not counted does not lower the count of one that later was */
#include "phx_test.h"
#include "slots.h"

#include <stdlib.h>
#include <string.h>

#define MODEL_MAX 512

struct model {
    struct adm_slot s[MODEL_MAX];
    unsigned        n;
};

static int find_model(const struct model *m, uint64_t id)
{
    for (unsigned i = 0; i < m->n; i++)
        if (m->s[i].call_id == id)
            return (int)i;
    return -1;
}

static void drop_model(struct model *m, unsigned i)
{
    m->s[i] = m->s[--m->n];
}

/* The table holds exactly M, and its method counts are M's. */
static bool same(const struct adm_slots *t, const struct model *m)
{
    unsigned seen = 0;

    if (t->count != m->n)
        return false;
    for (unsigned i = 0; i < t->cap; i++) {
        if (!t->slot[i].used)
            continue;
        int k = find_model(m, t->slot[i].call_id);
        if (k < 0 || m->s[k].conn_id != t->slot[i].conn_id ||
            m->s[k].method_id != t->slot[i].method_id)
            return false;
        seen++;
    }
    for (unsigned j = 0; j < ADM_METHODS; j++) {
        unsigned want = 0;
        for (unsigned i = 0; i < m->n; i++)
            want += m->s[i].method_id == t->method[j].method_id;
        if (t->method[j].count && t->method[j].count != want)
            return false;
    }
    return seen == m->n;
}

static void step(struct adm_slots *t, struct model *m, uint64_t *next_id, uint64_t now)
{
    unsigned r = (unsigned)rand() % 100;

    if (r < 50 && m->n < 300) {
        uint64_t id = (*next_id += 1 + (unsigned)rand() % 3) * 0x10001ull;
        struct adm_slot s = { id, now + (unsigned)rand() % 1000, (unsigned)rand() % 4,
                              (unsigned)rand() % 6, true, true };
        CU_ASSERT_FATAL(adm_slots_add(t, s.call_id, s.conn_id, s.method_id, s.expires_ns));
        m->s[m->n++] = s;
    } else if (r < 85 && m->n) {
        unsigned i = (unsigned)rand() % m->n;
        CU_ASSERT_FATAL(adm_slots_remove(t, m->s[i].call_id));
        drop_model(m, i);
    } else if (r < 90) {
        CU_ASSERT_FATAL(!adm_slots_remove(t, *next_id * 0x10001ull + 7));
    } else if (r < 93) {
        uint32_t conn = (unsigned)rand() % 4;
        unsigned want = 0;
        for (unsigned i = m->n; i-- > 0;)
            if (m->s[i].conn_id == conn) {
                drop_model(m, i);
                want++;
            }
        CU_ASSERT_FATAL(adm_slots_remove_conn(t, conn) == want);
    } else if (r < 97) {
        unsigned want = 0;
        for (unsigned i = m->n; i-- > 0;)
            if (m->s[i].expires_ns <= now) {
                drop_model(m, i);
                want++;
            }
        CU_ASSERT_FATAL(adm_slots_expire(t, now) == want);
    } else {
        CU_ASSERT_FATAL(adm_slots_resize(t, 150 + (unsigned)rand() % 300) == 0);
    }
}

static void test_model(void)
{
    struct adm_slots t;
    static struct model m;
    uint64_t next_id = 0;

    memset(&t, 0, sizeof(t));
    CU_ASSERT_FATAL(adm_slots_resize(&t, 300) == 0);
    srand(7);
    for (unsigned i = 0; i < 100000; i++) {
        step(&t, &m, &next_id, i / 10);
        if (!same(&t, &m)) {
            CU_FAIL_FATAL("the table and the model differ");
        }
    }
    while (m.n) {
        CU_ASSERT_FATAL(adm_slots_remove(&t, m.s[m.n - 1].call_id));
        m.n--;
    }
    CU_ASSERT_EQUAL(t.count, 0);
    adm_slots_free(&t);
}

static void test_full(void)
{
    struct adm_slots t;

    memset(&t, 0, sizeof(t));
    CU_ASSERT_FATAL(adm_slots_resize(&t, 1000) == 0);
    for (uint64_t id = 1; id <= 1000; id++)
        CU_ASSERT_FATAL(adm_slots_add(&t, id, 1, 9, 100));
    CU_ASSERT_EQUAL(t.count, 1000);
    CU_ASSERT_EQUAL(adm_slots_method(&t, 9, false)->count, 1000);
    CU_ASSERT(adm_slots_remove(&t, 500));
    CU_ASSERT(!adm_slots_remove(&t, 500));
    CU_ASSERT_EQUAL(adm_slots_expire(&t, 99), 0);
    CU_ASSERT_EQUAL(adm_slots_expire(&t, 100), 999);
    CU_ASSERT_EQUAL(t.count, 0);
    CU_ASSERT_PTR_NULL(adm_slots_method(&t, 9, false));
    adm_slots_free(&t);
}

static void test_methods(void)
{
    struct adm_slots t;

    memset(&t, 0, sizeof(t));
    CU_ASSERT_FATAL(adm_slots_resize(&t, 100) == 0);
    for (uint32_t m = 0; m < ADM_METHODS + 1; m++)
        CU_ASSERT_FATAL(adm_slots_add(&t, m + 1, 1, 1000 + m, 100));
    CU_ASSERT_PTR_NOT_NULL(adm_slots_method(&t, 1000, false));
    CU_ASSERT_PTR_NULL(adm_slots_method(&t, 1000 + ADM_METHODS, false));
    CU_ASSERT(adm_slots_remove(&t, 1));
    CU_ASSERT_PTR_NULL(adm_slots_method(&t, 1000, false));
    CU_ASSERT_FATAL(adm_slots_add(&t, 200, 1, 1000 + ADM_METHODS, 100));   /* counted now */
    CU_ASSERT_EQUAL(adm_slots_method(&t, 1000 + ADM_METHODS, false)->count, 1);
    CU_ASSERT(adm_slots_remove(&t, ADM_METHODS + 1));   /* the uncounted one: count stays */
    CU_ASSERT_EQUAL(adm_slots_method(&t, 1000 + ADM_METHODS, false)->count, 1);
    adm_slots_free(&t);
}

static const phx_test_case_t cases[] = {
    { "the table follows a model through 100,000 random steps", test_model },
    { "a table sized for N takes N; remove and expire free", test_full },
    { "a 65th method is counted with the app only", test_methods },
    { NULL, NULL },
};

int main(int argc, char **argv)
{
    return phx_test_main("admission_slots", cases, argc, argv);
}
