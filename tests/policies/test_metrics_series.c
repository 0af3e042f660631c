/* test_metrics_series.c - MetricsEngine's series table (policies/metrics/series.c), without a
 * service.
 *
 *   buckets     with the default preset a latency of exactly 10 us lands in the first bucket
 *               (le is inclusive), 10 us + 1 ns in the second, 11 s in +Inf; sum and count add
 *               up; every preset's bounds rise strictly
 *   answers     a request and its reply: one call, bytes both ways, timed; an error answer
 *               counts under its status; a reply to an unknown call counts bytes and errors in
 *               its method's series, untimed; a cancel and a lost connection end calls as
 *               CANCELLED and UNAVAILABLE
 *   overflow    max = 2: a third method counts in the side's "other" series; sides are apart
 *   bounded     MX_PENDING_MAX calls in flight are timed, the next is counted untimed
 *   resize      more series keeps every count and call in flight (its answer is still timed);
 *               new buckets start the histograms again; fewer than counted is -EBUSY */
#include "phx_test.h"
#include "series.h"

#include "phoenix/status.h"

#include <errno.h>

#define US 1000ull

static struct mx_table t;

static void test_buckets(void)
{
    CU_ASSERT_FATAL(mx_table_init(&t, 8, 0) == 0);
    mx_request(&t, MX_CLIENT, 1, 1, 7, 9, 10, true, 1000);
    mx_answer(&t, MX_CLIENT, 1, 1, 7, 9, PHX_OK, 20, false, 1000 + 10 * US);
    mx_request(&t, MX_CLIENT, 1, 2, 7, 9, 10, true, 1000);
    mx_answer(&t, MX_CLIENT, 1, 2, 7, 9, PHX_OK, 20, false, 1000 + 10 * US + 1);
    mx_request(&t, MX_CLIENT, 1, 3, 7, 9, 10, true, 0);
    mx_answer(&t, MX_CLIENT, 1, 3, 7, 9, PHX_OK, 20, false, 11000000000ull);
    struct mx_series *s = mx_series_get(&t, MX_CLIENT, 7, 9);
    CU_ASSERT_EQUAL(s->hist[0], 1);
    CU_ASSERT_EQUAL(s->hist[1], 1);
    CU_ASSERT_EQUAL(s->hist[t.nb], 1);
    CU_ASSERT_EQUAL(mx_series_count(&t, s), 3);
    CU_ASSERT_EQUAL(s->sum_ns, 20 * US + 1 + 11000000000ull);
    mx_table_fini(&t);
    for (int p = 0; p < 3; p++) {
        unsigned nb;
        const uint64_t *b = mx_buckets_of(p, &nb);
        CU_ASSERT_FATAL(b != NULL && nb > 0 && nb <= MX_BUCKETS_MAX);
        for (unsigned i = 1; i < nb; i++)
            CU_ASSERT(b[i] > b[i - 1]);
    }
    CU_ASSERT_PTR_NULL(mx_buckets_of(3, &(unsigned){ 0 }));
}

static void test_answers(void)
{
    CU_ASSERT_FATAL(mx_table_init(&t, 8, 0) == 0);
    mx_request(&t, MX_CLIENT, 1, 1, 7, 9, 100, true, 0);
    mx_answer(&t, MX_CLIENT, 1, 1, 7, 9, PHX_OK, 30, false, 50 * US);
    mx_request(&t, MX_CLIENT, 1, 2, 7, 9, 100, true, 0);
    mx_answer(&t, MX_CLIENT, 1, 2, 7, 9, PHX_NOT_FOUND, 0, false, 50 * US);
    mx_answer(&t, MX_CLIENT, 1, 99, 7, 9, PHX_INTERNAL, 5, false, 50 * US);  /* unknown call */
    mx_request(&t, MX_CLIENT, 1, 3, 7, 9, 100, true, 0);
    CU_ASSERT(mx_end(&t, 1, 3, PHX_CANCELLED, 1));
    CU_ASSERT(!mx_end(&t, 1, 3, PHX_CANCELLED, 1));                          /* ended once */
    mx_request(&t, MX_SERVER, 0x80000001u, 1, 7, 9, 40, false, 0);
    mx_request(&t, MX_SERVER, 0x80000001u, 2, 7, 9, 40, false, 0);
    CU_ASSERT_EQUAL(mx_end_conn(&t, 0x80000001u, PHX_UNAVAILABLE, 1), 2);
    struct mx_series *c = mx_series_get(&t, MX_CLIENT, 7, 9);
    struct mx_series *s = mx_series_get(&t, MX_SERVER, 7, 9);
    CU_ASSERT_EQUAL(c->calls, 3);
    CU_ASSERT_EQUAL(c->sent_bytes, 300);
    CU_ASSERT_EQUAL(c->received_bytes, 35);
    CU_ASSERT_EQUAL(c->errors[PHX_NOT_FOUND], 1);
    CU_ASSERT_EQUAL(c->errors[PHX_INTERNAL], 1);
    CU_ASSERT_EQUAL(c->errors[PHX_CANCELLED], 1);
    CU_ASSERT_EQUAL(c->errors[PHX_OK], 0);
    CU_ASSERT_EQUAL(mx_series_count(&t, c), 2);
    CU_ASSERT_EQUAL(s->calls, 2);
    CU_ASSERT_EQUAL(s->received_bytes, 80);
    CU_ASSERT_EQUAL(s->errors[PHX_UNAVAILABLE], 2);
    CU_ASSERT_EQUAL(t.n, 2);
    CU_ASSERT_EQUAL(t.n_free, MX_PENDING_MAX);                   /* nothing left in flight */
    mx_table_fini(&t);
}

static void test_overflow(void)
{
    CU_ASSERT_FATAL(mx_table_init(&t, 2, 0) == 0);
    for (uint32_t m = 1; m <= 3; m++)
        mx_request(&t, MX_CLIENT, 1, m, 7, m, 1, true, 0);
    mx_request(&t, MX_SERVER, 2, 1, 7, 3, 1, false, 0);
    struct mx_series *o = mx_series_get(&t, MX_CLIENT, 7, 3);
    CU_ASSERT(o->overflow);
    CU_ASSERT_EQUAL(o->calls, 1);
    CU_ASSERT_EQUAL(o->side, MX_CLIENT);
    CU_ASSERT(mx_series_get(&t, MX_SERVER, 7, 3)->overflow);
    CU_ASSERT(mx_series_get(&t, MX_SERVER, 7, 3) != o);
    CU_ASSERT_EQUAL(t.n, 2);
    CU_ASSERT_EQUAL(t.overflowed, 2);
    mx_table_fini(&t);
}

static void test_bounded(void)
{
    CU_ASSERT_FATAL(mx_table_init(&t, 1, 0) == 0);
    for (uint64_t i = 0; i <= MX_PENDING_MAX; i++)
        mx_request(&t, MX_CLIENT, 1, i, 7, 9, 1, true, 0);
    CU_ASSERT_EQUAL(t.untimed, 1);
    CU_ASSERT_EQUAL(t.n_free, 0);
    CU_ASSERT_EQUAL(mx_series_get(&t, MX_CLIENT, 7, 9)->calls, MX_PENDING_MAX + 1);
    mx_table_fini(&t);
}

static void test_resize(void)
{
    CU_ASSERT_FATAL(mx_table_init(&t, 2, 0) == 0);
    mx_request(&t, MX_CLIENT, 1, 1, 7, 1, 1, true, 0);
    mx_answer(&t, MX_CLIENT, 1, 1, 7, 1, PHX_OK, 1, false, 30 * US);
    mx_request(&t, MX_CLIENT, 1, 2, 7, 2, 1, true, 0);
    mx_request(&t, MX_CLIENT, 1, 3, 7, 3, 1, true, 0);              /* overflow, in flight */
    CU_ASSERT_EQUAL(mx_table_resize(&t, 1, 0), -EBUSY);
    CU_ASSERT_FATAL(mx_table_resize(&t, 4, 0) == 0);
    CU_ASSERT_EQUAL(t.n, 2);
    CU_ASSERT_EQUAL(mx_series_count(&t, mx_series_get(&t, MX_CLIENT, 7, 1)), 1);
    mx_answer(&t, MX_CLIENT, 1, 3, 7, 3, PHX_OK, 1, false, 40 * US);
    struct mx_series *o = &t.series[t.max];
    CU_ASSERT(o->overflow);
    CU_ASSERT_EQUAL(o->calls, 1);
    CU_ASSERT_EQUAL(mx_series_count(&t, o), 1);                     /* still timed */
    CU_ASSERT_FATAL(mx_table_resize(&t, 4, 1) == 0);                 /* fine buckets */
    CU_ASSERT_EQUAL(mx_series_count(&t, mx_series_get(&t, MX_CLIENT, 7, 1)), 0);
    CU_ASSERT_EQUAL(mx_series_get(&t, MX_CLIENT, 7, 1)->calls, 1);
    mx_answer(&t, MX_CLIENT, 1, 2, 7, 2, PHX_OK, 1, false, 3 * US);
    CU_ASSERT_EQUAL(mx_series_get(&t, MX_CLIENT, 7, 2)->hist[2], 1);  /* (2 us, 4 us] */
    mx_table_fini(&t);
}

static const phx_test_case_t cases[] = {
    { "latencies land in inclusive log-scale buckets", test_buckets },
    { "replies, errors, cancels and lost connections", test_answers },
    { "methods beyond max_methods count as other", test_overflow },
    { "calls in flight are bounded; the excess is untimed", test_bounded },
    { "resizing keeps counts and calls; new buckets restart", test_resize },
    { NULL, NULL },
};

int main(int argc, char **argv)
{
    return phx_test_main("metrics_series", cases, argc, argv);
}
