/* test_bench_common.c - the bookkeeping both baselines share (benchmarks/bench_common.c).
 *
 * Size sweeps ("8:8M", lists, suffixes, and what must be refused), the command line (common
 * options, a program's own options, per-mode defaults, bad values), the nearest-rank
 * percentile, the per-size budget, and the JSON line, parsed back with json-c. */
#include "bench_common.h"
#include "phx_test.h"

#include <errno.h>
#include <json-c/json.h>
#include <math.h>
#include <string.h>

#define ARGC(a) ((int)(sizeof(a) / sizeof((a)[0])) - 1)

static const bench_program_t all_modes = {
    .modes = BENCH_MODE_BIT(BENCH_MODE_LATENCY) | BENCH_MODE_BIT(BENCH_MODE_BANDWIDTH) |
             BENCH_MODE_BIT(BENCH_MODE_RATE),
};

static void test_sizes_default_sweep(void)
{
    size_t sizes[BENCH_MAX_SIZES];
    unsigned n = 0;

    CU_ASSERT_EQUAL_FATAL(bench_parse_sizes("8:8M", sizes, BENCH_MAX_SIZES, &n, NULL, 0), 0);
    CU_ASSERT_EQUAL(n, 21);
    CU_ASSERT_EQUAL(sizes[0], 8);
    CU_ASSERT_EQUAL(sizes[1], 16);
    CU_ASSERT_EQUAL(sizes[20], 8u << 20);
}

static void test_sizes_lists_and_suffixes(void)
{
    size_t sizes[BENCH_MAX_SIZES], one = 0;
    unsigned n = 0;

    CU_ASSERT_EQUAL_FATAL(bench_parse_sizes("64,1k:4K,3:20,1G", sizes, BENCH_MAX_SIZES, &n,
                                            NULL, 0), 0);
    size_t want[] = { 64, 1024, 2048, 4096, 3, 6, 12, 1u << 30 };
    CU_ASSERT_EQUAL_FATAL(n, sizeof(want) / sizeof(want[0]));
    for (unsigned i = 0; i < n; i++)
        CU_ASSERT_EQUAL(sizes[i], want[i]);
    CU_ASSERT_EQUAL(bench_parse_size("2m", &one), 0);
    CU_ASSERT_EQUAL(one, 2u << 20);
}

static void test_sizes_refused(void)
{
    static const char *bad[] = {
        "", "0", "8:4", "x", "8M:", ":8", "1K:2Q", "2G", "-8", " 8", "8,,16", "8,", "1.5K",
        "99999999999999999999", "8:8M,", NULL,
    };
    size_t sizes[4];
    unsigned n = 77;
    char err[128] = "";

    for (const char **b = bad; *b; b++) {
        err[0] = '\0';
        CU_ASSERT_EQUAL(bench_parse_sizes(*b, sizes, 4, &n, err, sizeof(err)), -EINVAL);
        CU_ASSERT(strlen(err) > 0);
        if (bench_parse_sizes(*b, sizes, 4, &n, NULL, 0) == 0)
            printf("\n    accepted bad size list '%s'", *b);
    }
    CU_ASSERT_EQUAL(n, 77);   /* untouched on failure */
    /* more sizes than room */
    CU_ASSERT_EQUAL(bench_parse_sizes("1:32", sizes, 4, &n, err, sizeof(err)), -EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "more than 4"));
}

static void test_args_defaults_per_mode(void)
{
    char *lat[] = { "prog", NULL }, *rate[] = { "prog", "--mode", "rate", NULL };
    bench_opts_t o;
    unsigned long iters, warmup;
    char err[128];

    CU_ASSERT_EQUAL_FATAL(bench_parse_args(ARGC(lat), lat, &all_modes, &o, err, sizeof(err)), 0);
    CU_ASSERT_EQUAL(o.mode, BENCH_MODE_LATENCY);
    CU_ASSERT_EQUAL(o.nsizes, 21);
    CU_ASSERT_FALSE(o.json);
    CU_ASSERT_DOUBLE_EQUAL(o.max_seconds, BENCH_DEFAULT_SECONDS, 1e-9);
    bench_counts_for(&o, 64, &iters, &warmup);
    CU_ASSERT_EQUAL(iters, 10000);
    CU_ASSERT_EQUAL(warmup, 1000);
    bench_counts_for(&o, 1u << 20, &iters, &warmup);   /* large messages: OSU's smaller counts */
    CU_ASSERT(iters < 10000 && warmup < 1000);

    CU_ASSERT_EQUAL_FATAL(bench_parse_args(ARGC(rate), rate, &all_modes, &o, err, sizeof(err)),
                          0);
    CU_ASSERT_EQUAL(o.mode, BENCH_MODE_RATE);
    CU_ASSERT_EQUAL(o.nsizes, 1);
    CU_ASSERT_EQUAL(o.sizes[0], 32);
    CU_ASSERT_EQUAL(o.window, 32);
}

static int extra_seen;

static int parse_extra(void *ctx, int opt, const char *arg, char *err, size_t errlen)
{
    if (opt != 'l')
        return -EINVAL;
    *(const char **)ctx = arg;
    extra_seen++;
    return 0;
}

static void test_args_common_and_own(void)
{
    static const struct option own[] = { { "listen", required_argument, NULL, 'l' },
                                          { NULL, 0, NULL, 0 } };
    const char *listen = NULL;
    const bench_program_t prog = { .shortopts = "l:", .longopts = own, .parse = parse_extra,
                                   .ctx = &listen, .modes = all_modes.modes };
    char *argv[] = { "prog", "-m", "bandwidth", "--sizes", "64,1M", "-n", "7", "--warmup", "0",
                     "-W", "8", "-D", "0.5", "--json", "--listen", "9000", NULL };
    bench_opts_t o;
    unsigned long iters, warmup;
    char err[128] = "";

    CU_ASSERT_EQUAL_FATAL(bench_parse_args(ARGC(argv), argv, &prog, &o, err, sizeof(err)), 0);
    CU_ASSERT_EQUAL(o.mode, BENCH_MODE_BANDWIDTH);
    CU_ASSERT_EQUAL(o.nsizes, 2);
    CU_ASSERT_EQUAL(o.sizes[1], 1u << 20);
    CU_ASSERT_EQUAL(o.window, 8);
    CU_ASSERT_DOUBLE_EQUAL(o.max_seconds, 0.5, 1e-9);
    CU_ASSERT_TRUE(o.json);
    CU_ASSERT_EQUAL(extra_seen, 1);
    CU_ASSERT_STRING_EQUAL(listen, "9000");
    bench_counts_for(&o, 1u << 20, &iters, &warmup);   /* chosen counts are not scaled */
    CU_ASSERT_EQUAL(iters, 7);
    CU_ASSERT_EQUAL(warmup, 0);
    CU_ASSERT_EQUAL(bench_max_size(&o), 1u << 20);
}

static void test_args_refused(void)
{
    static const bench_program_t mpi_like = {
        .modes = BENCH_MODE_BIT(BENCH_MODE_LATENCY) | BENCH_MODE_BIT(BENCH_MODE_BANDWIDTH),
    };
    char *cases[][4] = {
        { "prog", "--mode", "bogus", NULL },  { "prog", "--mode", "rate", NULL },
        { "prog", "-n", "0", NULL },          { "prog", "-n", "-3", NULL },
        { "prog", "-n", "12x", NULL },        { "prog", "-D", "0", NULL },
        { "prog", "-D", "nan", NULL },        { "prog", "-W", "0", NULL },
        { "prog", "--sizes", "8:4", NULL },   { "prog", "--what", NULL, NULL },
        { "prog", "stray", NULL, NULL },      { "prog", "-n", NULL, NULL },
        { "prog", "-l", "1", NULL },          /* not an option of this program */
    };
    char *help[] = { "prog", "--help", NULL };
    bench_opts_t o;
    char err[128];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int argc = 0;

        while (cases[i][argc])
            argc++;
        err[0] = '\0';
        CU_ASSERT_EQUAL(bench_parse_args(argc, cases[i], &mpi_like, &o, err, sizeof(err)),
                        -EINVAL);
        CU_ASSERT(strlen(err) > 0);
    }
    CU_ASSERT_EQUAL(bench_parse_args(ARGC(help), help, &mpi_like, &o, err, sizeof(err)), 1);
}

static void test_percentiles(void)
{
    double v[100];

    for (int i = 0; i < 100; i++)
        v[i] = 100 - i;   /* 100 .. 1, unsorted on purpose */
    bench_result_t r = { 0 };
    bench_latency_stats(v, 100, &r);
    CU_ASSERT_DOUBLE_EQUAL(r.p50_us, 50.0, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(r.p99_us, 99.0, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(r.mean_us, 50.5, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(v[0], 1.0, 1e-9);   /* sorted in place */

    double one[] = { 7.0 };
    CU_ASSERT_DOUBLE_EQUAL(bench_percentile(one, 1, 99.0), 7.0, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(bench_percentile(one, 1, 0.001), 7.0, 1e-9);
    double three[] = { 1.0, 2.0, 3.0 };
    CU_ASSERT_DOUBLE_EQUAL(bench_percentile(three, 3, 50.0), 2.0, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(bench_percentile(three, 3, 99.0), 3.0, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(bench_percentile(three, 0, 50.0), 0.0, 1e-9);
}

static void test_rate_and_budget(void)
{
    bench_result_t r = { .size = 1000 };
    char *argv[] = { "prog", "-D", "0.05", NULL };
    bench_opts_t o;

    bench_rate_stats(5000, 2.0, &r);
    CU_ASSERT_DOUBLE_EQUAL(r.msgs_per_s, 2500.0, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(r.mbps, 2.5, 1e-9);   /* MB = 10^6 bytes */

    CU_ASSERT_EQUAL_FATAL(bench_parse_args(ARGC(argv), argv, &all_modes, &o, NULL, 0), 0);
    uint64_t start = bench_now_ns(), deadline = bench_phase_deadline(&o, false);
    CU_ASSERT(deadline >= start + 49000000ull && deadline <= start + 60000000ull);
    CU_ASSERT(bench_phase_deadline(&o, true) < deadline);   /* warmup gets a share */
    CU_ASSERT_FALSE(bench_is_last(0, 10, deadline));
    CU_ASSERT_TRUE(bench_is_last(9, 10, deadline));
    CU_ASSERT_TRUE(bench_is_last(0, 10, start));          /* past the deadline */
    CU_ASSERT(bench_cpu_seconds() > 0.0);
}

/* Messages and CPU per message count 2 per round trip, WINDOW per window, 1 per rate message. */
static void test_fill_result(void)
{
    char *lat[] = { "prog", NULL }, *bw[] = { "prog", "-m", "bandwidth", "-W", "8", NULL },
         *rate[] = { "prog", "-m", "rate", NULL };
    double samples[4] = { 4.0, 1.0, 3.0, 2.0 };
    bench_opts_t o;
    bench_result_t r;

    CU_ASSERT_EQUAL_FATAL(bench_parse_args(ARGC(lat), lat, &all_modes, &o, NULL, 0), 0);
    bench_fill_result(&r, &o, "x", 64, 4, 1.0, 16e-6, samples);
    CU_ASSERT_EQUAL(bench_messages(&o, 4), 8);
    CU_ASSERT_DOUBLE_EQUAL(r.cpu_us_per_msg, 2.0, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(r.p50_us, 2.0, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(r.p99_us, 4.0, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(r.mbps, 0.0, 1e-9);

    CU_ASSERT_EQUAL_FATAL(bench_parse_args(ARGC(bw), bw, &all_modes, &o, NULL, 0), 0);
    bench_fill_result(&r, &o, "x", 1000000, 10, 2.0, 80e-6, NULL);
    CU_ASSERT_EQUAL(bench_messages(&o, 10), 80);
    CU_ASSERT_DOUBLE_EQUAL(r.msgs_per_s, 40.0, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(r.mbps, 40.0, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(r.cpu_us_per_msg, 1.0, 1e-9);
    CU_ASSERT_EQUAL(r.window, 8);
    CU_ASSERT_STRING_EQUAL(r.system, "x");

    CU_ASSERT_EQUAL_FATAL(bench_parse_args(ARGC(rate), rate, &all_modes, &o, NULL, 0), 0);
    bench_fill_result(&r, &o, "x", 32, 1000, 0.5, 0.0, NULL);
    CU_ASSERT_EQUAL(bench_messages(&o, 1000), 1000);
    CU_ASSERT_DOUBLE_EQUAL(r.msgs_per_s, 2000.0, 1e-9);
    bench_fill_result(&r, &o, "x", 32, 0, 0.0, 1.0, NULL);   /* nothing done: no division */
    CU_ASSERT_DOUBLE_EQUAL(r.cpu_us_per_msg, 0.0, 1e-9);
}

static double json_double(json_object *obj, const char *key)
{
    json_object *v = NULL;

    return json_object_object_get_ex(obj, key, &v) ? json_object_get_double(v) : -1.0;
}

static void test_json_round_trip(void)
{
    bench_result_t lat = { .system = "ucx", .mode = BENCH_MODE_LATENCY, .size = 64,
                           .iters = 1000, .p50_us = 0.25, .p99_us = 1.5, .mean_us = 0.3,
                           .cpu_us_per_msg = 0.75 };
    bench_result_t bw = { .system = "mpich", .mode = BENCH_MODE_BANDWIDTH, .size = 8u << 20,
                          .iters = 20, .window = 64, .mbps = 12345.678, .msgs_per_s = 1471.5,
                          .cpu_us_per_msg = 900.0 };
    char buf[512];
    json_object *obj, *v;

    CU_ASSERT(bench_format_json(buf, sizeof(buf), &lat) < (int)sizeof(buf));
    CU_ASSERT_PTR_NOT_NULL_FATAL(obj = json_tokener_parse(buf));
    CU_ASSERT_TRUE(json_object_object_get_ex(obj, "system", &v));
    CU_ASSERT_STRING_EQUAL(json_object_get_string(v), "ucx");
    CU_ASSERT_TRUE(json_object_object_get_ex(obj, "mode", &v));
    CU_ASSERT_STRING_EQUAL(json_object_get_string(v), "latency");
    CU_ASSERT_DOUBLE_EQUAL(json_double(obj, "size"), 64.0, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(json_double(obj, "p50_us"), 0.25, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(json_double(obj, "p99_us"), 1.5, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(json_double(obj, "cpu_us_per_msg"), 0.75, 1e-9);
    CU_ASSERT_FALSE(json_object_object_get_ex(obj, "mbps", &v));
    json_object_put(obj);

    CU_ASSERT(bench_format_json(buf, sizeof(buf), &bw) < (int)sizeof(buf));
    CU_ASSERT_PTR_NOT_NULL_FATAL(obj = json_tokener_parse(buf));
    CU_ASSERT_DOUBLE_EQUAL(json_double(obj, "size"), 8388608.0, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(json_double(obj, "mbps"), 12345.7, 0.01);
    CU_ASSERT_DOUBLE_EQUAL(json_double(obj, "window"), 64.0, 1e-9);
    json_object_put(obj);

    bw.mbps = NAN;   /* JSON has no NaN: must still parse */
    bench_format_json(buf, sizeof(buf), &bw);
    CU_ASSERT_PTR_NOT_NULL_FATAL(obj = json_tokener_parse(buf));
    CU_ASSERT_TRUE(json_object_object_get_ex(obj, "mbps", &v));
    CU_ASSERT_PTR_NULL(v);
    json_object_put(obj);
}

static const phx_test_case_t cases[] = {
    { "sizes: 8:8M is 21 doublings", test_sizes_default_sweep },
    { "sizes: lists, ranges and suffixes", test_sizes_lists_and_suffixes },
    { "sizes: bad lists are refused with a reason", test_sizes_refused },
    { "args: per-mode defaults", test_args_defaults_per_mode },
    { "args: common options and the program's own", test_args_common_and_own },
    { "args: bad input is refused", test_args_refused },
    { "percentiles: nearest rank", test_percentiles },
    { "rate and time budget", test_rate_and_budget },
    { "results: messages and CPU per message", test_fill_result },
    { "json: one parseable object per result", test_json_round_trip },
    { NULL, NULL },
};

int main(int argc, char **argv)
{
    return phx_test_main("bench_common", cases, argc, argv);
}
