/* test_prom.c - the Prometheus exposition writer (core/lib/prom.c) and phoenixd's merge of
 * engines' families (core/daemon/metrics.c), without a service.
 *
 *   escaping     a label value with a backslash, a double quote and a newline comes out as
 *                \\ \" \n; HELP text escapes backslash and newline but not the quote
 *   labels       phx_prom_label joins pairs with commas and refuses what does not fit
 *   histogram    per-bucket counts become cumulative _bucket lines with le in seconds, the
 *                +Inf bucket and _count are the total, _sum is in seconds
 *   samples      counters, a float gauge, +Inf and NaN are written as the format spells them
 *   merge        two engines' texts with the same families: one HELP and TYPE per family, in
 *                the order first seen, every sample with the app's labels first; a sample with
 *                no labels gets only the app's; a text with a sample before any family is
 *                refused */
#include "metrics.h"
#include "phoenix/prom.h"
#include "phx_test.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static unsigned count_of(const char *text, const char *what)
{
    unsigned n = 0;

    for (const char *p = text; (p = strstr(p, what)); p += strlen(what))
        n++;
    return n;
}

static void test_escaping(void)
{
    char labels[128] = "", esc[64];
    phx_prom_t w = { 0 };

    CU_ASSERT_EQUAL(phx_prom_label(labels, sizeof(labels), "app", "a\\b\"c\nd"), 0);
    CU_ASSERT_STRING_EQUAL(labels, "app=\"a\\\\b\\\"c\\nd\"");
    phx_prom_escape(esc, sizeof(esc), "x\"y");
    CU_ASSERT_STRING_EQUAL(esc, "x\\\"y");
    phx_prom_family(&w, "m_total", "counter", "a \"quoted\" back\\slash\nnewline");
    char *text = phx_prom_finish(&w);
    CU_ASSERT_FATAL(text != NULL);
    CU_ASSERT_STRING_EQUAL(text, "# HELP m_total a \"quoted\" back\\\\slash\\nnewline\n"
                                 "# TYPE m_total counter\n");
    free(text);
}

static void test_labels(void)
{
    char labels[24] = "";

    CU_ASSERT_EQUAL(phx_prom_label(labels, sizeof(labels), "a", "1"), 0);
    CU_ASSERT_EQUAL(phx_prom_label(labels, sizeof(labels), "b", "2"), 0);
    CU_ASSERT_STRING_EQUAL(labels, "a=\"1\",b=\"2\"");
    CU_ASSERT_EQUAL(phx_prom_label(labels, sizeof(labels), "long", "too long to fit"), -1);
    CU_ASSERT_STRING_EQUAL(labels, "a=\"1\",b=\"2\"");        /* unchanged */
}

static void test_histogram(void)
{
    const uint64_t bounds[] = { 10000, 1000000, 2500000000ull };     /* 10 us, 1 ms, 2.5 s */
    const uint64_t counts[] = { 3, 0, 5, 2 };
    phx_prom_t w = { 0 };

    phx_prom_histogram(&w, "lat_seconds", "m=\"x\"", bounds, counts, 3, 1500000000ull);
    char *text = phx_prom_finish(&w);
    CU_ASSERT_FATAL(text != NULL);
    CU_ASSERT_STRING_EQUAL(text,
                           "lat_seconds_bucket{m=\"x\",le=\"1e-05\"} 3\n"
                           "lat_seconds_bucket{m=\"x\",le=\"0.001\"} 3\n"
                           "lat_seconds_bucket{m=\"x\",le=\"2.5\"} 8\n"
                           "lat_seconds_bucket{m=\"x\",le=\"+Inf\"} 10\n"
                           "lat_seconds_sum{m=\"x\"} 1.5\n"
                           "lat_seconds_count{m=\"x\"} 10\n");
    free(text);
}

static void test_samples(void)
{
    phx_prom_t w = { 0 };

    phx_prom_u64(&w, "c_total", "", 18446744073709551615ull);
    phx_prom_f64(&w, "g", "k=\"v\"", 0.25);
    phx_prom_f64(&w, "inf", NULL, INFINITY);
    phx_prom_f64(&w, "nan", NULL, NAN);
    char *text = phx_prom_finish(&w);
    CU_ASSERT_FATAL(text != NULL);
    CU_ASSERT_STRING_EQUAL(text, "c_total 18446744073709551615\ng{k=\"v\"} 0.25\n"
                                 "inf +Inf\nnan NaN\n");
    free(text);
}

static const char engine_text[] =
    "# HELP phoenix_rpc_calls_total Requests.\n"
    "# TYPE phoenix_rpc_calls_total counter\n"
    "phoenix_rpc_calls_total{side=\"client\",method=\"1\"} 5\n"
    "# HELP phoenix_rpc_latency_seconds Latency.\n"
    "# TYPE phoenix_rpc_latency_seconds histogram\n"
    "phoenix_rpc_latency_seconds_bucket{side=\"client\",le=\"+Inf\"} 5\n"
    "phoenix_rpc_latency_seconds_count{side=\"client\"} 5\n"
    "# HELP phoenix_rpc_untimed_total Untimed.\n"
    "# TYPE phoenix_rpc_untimed_total counter\n"
    "phoenix_rpc_untimed_total 0\n";

static void test_merge(void)
{
    struct phx_metrics_merge *m = phx_metrics_merge_new();

    CU_ASSERT_FATAL(m != NULL);
    CU_ASSERT_EQUAL(phx_metrics_merge_add(m, engine_text, "pid=\"1\""), 0);
    CU_ASSERT_EQUAL(phx_metrics_merge_add(m, engine_text, "pid=\"2\",app=\"a\\\"b\""), 0);
    char *text = phx_metrics_merge_finish(m);
    CU_ASSERT_FATAL(text != NULL);
    CU_ASSERT_EQUAL(count_of(text, "# TYPE phoenix_rpc_calls_total counter\n"), 1);
    CU_ASSERT_EQUAL(count_of(text, "# HELP "), 3);
    CU_ASSERT_PTR_NOT_NULL(strstr(text,
        "# TYPE phoenix_rpc_calls_total counter\n"
        "phoenix_rpc_calls_total{pid=\"1\",side=\"client\",method=\"1\"} 5\n"
        "phoenix_rpc_calls_total{pid=\"2\",app=\"a\\\"b\",side=\"client\",method=\"1\"} 5\n"
        "# HELP phoenix_rpc_latency_seconds"));
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "phoenix_rpc_latency_seconds_count{pid=\"2\","
                                        "app=\"a\\\"b\",side=\"client\"} 5\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "phoenix_rpc_untimed_total{pid=\"1\"} 0\n"));
    CU_ASSERT(strstr(text, "phoenix_rpc_untimed_total{pid=\"1\"}") <
              strstr(text, "phoenix_rpc_untimed_total{pid=\"2\""));
    free(text);
    m = phx_metrics_merge_new();
    CU_ASSERT_EQUAL(phx_metrics_merge_add(m, "orphan_total 1\n", "pid=\"1\""), -EINVAL);
    free(phx_metrics_merge_finish(m));
}

static const phx_test_case_t cases[] = {
    { "label values and HELP text are escaped", test_escaping },
    { "labels join with commas and never overflow", test_labels },
    { "histogram buckets are cumulative, le in seconds", test_histogram },
    { "counters, gauges, +Inf and NaN", test_samples },
    { "engines' families merge with one HELP/TYPE each", test_merge },
    { NULL, NULL },
};

int main(int argc, char **argv)
{
    return phx_test_main("prom", cases, argc, argv);
}
