/* test_fifo.c - the bounded growable FIFO (phoenix/fifo.h) behind MrpcEngine's tx queue and
 * backlog and the UCX transport's queues, against a counter model.
 *
 *   order      random pushes and batch drops across wrap-arounds and growth come out in order,
 *              whole (items larger than a descriptor), and head/run always describe contiguous
 *              items in order
 *   bound      the MAX-th push succeeds, the next is -ENOBUFS; a drop makes room again; fini
 *              leaves it empty and usable */
#include "phoenix/fifo.h"
#include "phx_test.h"

#include <stdlib.h>

struct item {
    uint64_t seq;
    char     pad[40];
    uint64_t check;
};

static void test_order_through_growth(void)
{
    phx_fifo_t q;
    uint64_t pushed = 0, popped = 0;

    phx_fifo_init(&q, sizeof(struct item), 5000);
    srand(11);
    for (int step = 0; step < 20000; step++) {
        unsigned n = (unsigned)rand() % 40;
        for (unsigned i = 0; i < n && phx_fifo_count(&q) < 5000; i++) {
            struct item it = { .seq = pushed, .check = ~pushed };
            CU_ASSERT_EQUAL_FATAL(phx_fifo_push(&q, &it), 0);
            pushed++;
        }
        uint32_t run = phx_fifo_run(&q), take = run ? (uint32_t)rand() % (run + 1) : 0;
        const struct item *head = phx_fifo_head(&q);
        CU_ASSERT_TRUE_FATAL(run <= phx_fifo_count(&q));
        CU_ASSERT_TRUE_FATAL(phx_fifo_count(&q) == 0 || run > 0);
        for (uint32_t i = 0; i < take; i++) {
            CU_ASSERT_EQUAL_FATAL(head[i].seq, popped + i);
            CU_ASSERT_EQUAL_FATAL(head[i].check, ~(popped + i));
        }
        phx_fifo_drop(&q, take);
        popped += take;
        CU_ASSERT_EQUAL_FATAL(phx_fifo_count(&q), pushed - popped);
    }
    CU_ASSERT_TRUE(pushed > 10000);
    CU_ASSERT_TRUE(q.cap >= 64 && (q.cap & (q.cap - 1)) == 0);
    phx_fifo_fini(&q);
}

static void test_bound(void)
{
    phx_fifo_t q;
    uint64_t v = 0;

    phx_fifo_init(&q, sizeof(v), 100);
    CU_ASSERT_PTR_NULL(phx_fifo_head(&q));
    CU_ASSERT_EQUAL(phx_fifo_run(&q), 0u);
    for (v = 0; v < 100; v++)
        CU_ASSERT_EQUAL_FATAL(phx_fifo_push(&q, &v), 0);
    CU_ASSERT_EQUAL(phx_fifo_push(&q, &v), -ENOBUFS);
    CU_ASSERT_EQUAL(*(uint64_t *)phx_fifo_head(&q), 0u);
    phx_fifo_drop(&q, 1);
    CU_ASSERT_EQUAL(phx_fifo_push(&q, &v), 0);
    CU_ASSERT_EQUAL(*(uint64_t *)phx_fifo_head(&q), 1u);
    CU_ASSERT_EQUAL(phx_fifo_count(&q), 100u);
    phx_fifo_fini(&q);
    CU_ASSERT_EQUAL(phx_fifo_count(&q), 0u);
    CU_ASSERT_PTR_NULL(phx_fifo_head(&q));
    CU_ASSERT_EQUAL(phx_fifo_push(&q, &v), 0);              /* empty again, and usable */
    CU_ASSERT_EQUAL(*(uint64_t *)phx_fifo_head(&q), 100u);
    phx_fifo_fini(&q);
}

static const phx_test_case_t cases[] = {
    { "items come out in order through wrap-around and growth", test_order_through_growth },
    { "the bound refuses one more, a drop makes room", test_bound },
    { NULL, NULL },
};

int main(int argc, char **argv)
{
    return phx_test_main("fifo", cases, argc, argv);
}
