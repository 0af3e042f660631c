/* bench_common.c - options, size sweeps, clocks, statistics and output shared by the baselines.
 *
 * See bench_common.h for the conventions. Nothing here talks to a network: the programs own
 * their transports and call in here for everything that must be identical between them, so
 * that a difference in the figures is a difference in the transport, not in the bookkeeping. */
#include "bench_common.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#define BENCH_MAX_ITERS      10000000ul
#define BENCH_MAX_WINDOW     4096u
#define BENCH_MAX_SECONDS    3600.0
#define BENCH_WARMUP_SHARE   0.2

/* Per-mode defaults; the large counts apply above BENCH_LARGE_MSG unless the user chose. */
typedef struct {
    const char *name;
    unsigned long iters, warmup, large_iters, large_warmup;
    unsigned window;
    const char *sizes;
} bench_mode_defaults_t;

static const bench_mode_defaults_t mode_defaults[BENCH_MODE_COUNT] = {
    [BENCH_MODE_LATENCY]   = { "latency", 10000, 1000, 1000, 100, 1, BENCH_DEFAULT_SIZES },
    [BENCH_MODE_BANDWIDTH] = { "bandwidth", 100, 10, 20, 2, 64, BENCH_DEFAULT_SIZES },
    [BENCH_MODE_RATE]      = { "rate", 1000000, 10000, 1000000, 10000, 32, BENCH_RATE_SIZES },
};

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (!err || !errlen)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

const char *bench_mode_name(bench_mode_t mode)
{
    return mode < BENCH_MODE_COUNT ? mode_defaults[mode].name : "?";
}

/* ---- options -------------------------------------------------------------------------------- */

#define COMMON_SHORTOPTS "m:s:n:w:W:D:jh"
#define MAX_LONGOPTS     32

static const struct option common_longopts[] = {
    { "mode", required_argument, NULL, 'm' },   { "sizes", required_argument, NULL, 's' },
    { "iters", required_argument, NULL, 'n' },  { "warmup", required_argument, NULL, 'w' },
    { "window", required_argument, NULL, 'W' }, { "max-seconds", required_argument, NULL, 'D' },
    { "json", no_argument, NULL, 'j' },         { "help", no_argument, NULL, 'h' },
};
#define N_COMMON_LONGOPTS (sizeof(common_longopts) / sizeof(common_longopts[0]))

static void opts_init(bench_opts_t *o)
{
    memset(o, 0, sizeof(*o));
    o->mode = BENCH_MODE_LATENCY;
    o->max_seconds = BENCH_DEFAULT_SECONDS;
}

/* Digits only (strtoul would take "-1" and " 7"), within [MIN, MAX]. */
int bench_parse_count(const char *text, unsigned long min, unsigned long max, unsigned long *out)
{
    char *end;

    if (!text || *text < '0' || *text > '9')
        return -EINVAL;
    errno = 0;
    unsigned long v = strtoul(text, &end, 10);
    if (errno || *end || v < min || v > max)
        return -EINVAL;
    *out = v;
    return 0;
}

static int parse_mode(const char *text, bench_mode_t *mode)
{
    for (int m = 0; m < BENCH_MODE_COUNT; m++) {
        if (strcmp(text, mode_defaults[m].name) == 0) {
            *mode = (bench_mode_t)m;
            return 0;
        }
    }
    return -EINVAL;
}

static int parse_seconds(const char *text, double *out)
{
    char *end;

    errno = 0;
    double v = strtod(text, &end);
    if (errno || end == text || *end || !(v > 0.0) || v > BENCH_MAX_SECONDS)
        return -EINVAL;
    *out = v;
    return 0;
}

/* 0 when OPT is a common option with a good ARG, 1 when it is not common, -EINVAL if bad. */
static int parse_common(bench_opts_t *o, int opt, const char *arg, char *err, size_t errlen)
{
    unsigned long v = 0;
    int rc;

    switch (opt) {
    case 'm':
        rc = parse_mode(arg, &o->mode);
        break;
    case 's':
        return bench_parse_sizes(arg, o->sizes, BENCH_MAX_SIZES, &o->nsizes, err, errlen);
    case 'n':
        rc = bench_parse_count(arg, 1, BENCH_MAX_ITERS, &o->iters);
        o->iters_set = true;
        break;
    case 'w':
        rc = bench_parse_count(arg, 0, BENCH_MAX_ITERS, &o->warmup);
        o->warmup_set = true;
        break;
    case 'W':
        rc = bench_parse_count(arg, 1, BENCH_MAX_WINDOW, &v);
        o->window = (unsigned)v;
        break;
    case 'D':
        rc = parse_seconds(arg, &o->max_seconds);
        break;
    case 'j':
        o->json = true;
        return 0;
    default:
        return 1;
    }
    if (rc < 0)
        set_err(err, errlen, "bad value '%s' for -%c", arg, opt);
    return rc;
}

/* Checks the mode against what the program supports and fills the mode's defaults. */
static int opts_finish(bench_opts_t *o, unsigned modes, char *err, size_t errlen)
{
    const bench_mode_defaults_t *d = &mode_defaults[o->mode];

    if (!(modes & BENCH_MODE_BIT(o->mode))) {
        set_err(err, errlen, "mode '%s' is not supported by this program", d->name);
        return -EINVAL;
    }
    if (!o->nsizes && bench_parse_sizes(d->sizes, o->sizes, BENCH_MAX_SIZES, &o->nsizes,
                                        err, errlen) < 0)
        return -EINVAL;
    if (!o->window)
        o->window = d->window;
    return 0;
}

/* The common long options followed by the program's, in LONGOPTS[MAX_LONGOPTS]. */
static int merge_longopts(const struct option *extra, struct option *longopts)
{
    size_t n = N_COMMON_LONGOPTS;

    memcpy(longopts, common_longopts, sizeof(common_longopts));
    for (; extra && extra->name; extra++) {
        if (n + 1 >= MAX_LONGOPTS)
            return -E2BIG;
        longopts[n++] = *extra;
    }
    memset(&longopts[n], 0, sizeof(longopts[n]));
    return 0;
}

/* One option from getopt_long: common, the program's, or an error. */
static int parse_one(const bench_program_t *prog, bench_opts_t *o, int c, const char *arg,
                     char *err, size_t errlen)
{
    if (c == 'h')
        return 1;
    if (c == '?' || c == ':') {
        set_err(err, errlen, "unknown option or missing value (see --help)");
        return -EINVAL;
    }
    int rc = parse_common(o, c, arg, err, errlen);
    if (rc != 1)
        return rc;
    return prog->parse ? prog->parse(prog->ctx, c, arg, err, errlen) : -EINVAL;
}

int bench_parse_args(int argc, char **argv, const bench_program_t *prog, bench_opts_t *o,
                     char *err, size_t errlen)
{
    struct option longopts[MAX_LONGOPTS];
    char shortopts[64];
    int c, rc = 0;

    opts_init(o);
    if (merge_longopts(prog->longopts, longopts) < 0 ||
        snprintf(shortopts, sizeof(shortopts), ":%s%s", COMMON_SHORTOPTS,
                 prog->shortopts ? prog->shortopts : "") >= (int)sizeof(shortopts)) {
        set_err(err, errlen, "too many options");
        return -EINVAL;
    }
    optind = 0;   /* glibc: start over, also after an earlier call */
    opterr = 0;   /* we say what was wrong ourselves */
    while (rc == 0 && (c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1)
        rc = parse_one(prog, o, c, optarg, err, errlen);
    if (rc == 0 && optind < argc) {
        set_err(err, errlen, "unexpected argument '%s'", argv[optind]);
        rc = -EINVAL;
    }
    return rc == 0 ? opts_finish(o, prog->modes, err, errlen) : rc;
}

void bench_opts_usage(FILE *out)
{
    fprintf(out,
            "  -m, --mode MODE        latency (default), bandwidth or rate\n"
            "  -s, --sizes SPEC       sizes: LO:HI doubles, commas list, K/M/G binary suffixes\n"
            "                         (default " BENCH_DEFAULT_SIZES ", rate: " BENCH_RATE_SIZES ")\n"
            "  -n, --iters N          latency: round trips; bandwidth: windows; rate: messages\n"
            "  -w, --warmup N         unmeasured iterations before each size\n"
            "  -W, --window N         messages in flight (bandwidth 64, rate 32)\n"
            "  -D, --max-seconds S    time budget per size (default %.0f; warmup gets a fifth)\n"
            "  -j, --json             one JSON object per size per line instead of a table\n"
            "  -h, --help             this text\n",
            BENCH_DEFAULT_SECONDS);
}

/* ---- sizes ---------------------------------------------------------------------------------- */

int bench_parse_size(const char *text, size_t *size)
{
    char *end;
    unsigned long long mult = 1;

    if (!text || *text < '0' || *text > '9')
        return -EINVAL;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno)
        return -EINVAL;
    switch (*end) {
    case 'k': case 'K': mult = 1ull << 10; end++; break;
    case 'm': case 'M': mult = 1ull << 20; end++; break;
    case 'g': case 'G': mult = 1ull << 30; end++; break;
    default: break;
    }
    if (*end || v == 0 || v > BENCH_MAX_MSG / mult)
        return -EINVAL;
    *size = (size_t)(v * mult);
    return 0;
}

static int add_size(size_t size, size_t *sizes, unsigned max, unsigned *n)
{
    if (*n >= max)
        return -E2BIG;
    sizes[(*n)++] = size;
    return 0;
}

/* One list element: "A" or "A:B" (doubling from A while <= B). */
static int parse_size_item(char *item, size_t *sizes, unsigned max, unsigned *n)
{
    char *colon = strchr(item, ':');
    size_t lo, hi;

    if (colon)
        *colon = '\0';
    if (bench_parse_size(item, &lo) < 0)
        return -EINVAL;
    if (!colon)
        return add_size(lo, sizes, max, n);
    if (bench_parse_size(colon + 1, &hi) < 0 || hi < lo)
        return -EINVAL;
    for (size_t s = lo; s <= hi; s *= 2) {
        if (add_size(s, sizes, max, n) < 0)
            return -E2BIG;
    }
    return 0;
}

int bench_parse_sizes(const char *spec, size_t *sizes, unsigned max, unsigned *n,
                      char *err, size_t errlen)
{
    char copy[256], *next;
    unsigned count = 0;
    int rc = 0;

    if (!spec || !*spec || strlen(spec) >= sizeof(copy)) {
        set_err(err, errlen, "bad size list '%s'", spec ? spec : "");
        return -EINVAL;
    }
    strcpy(copy, spec);
    for (char *item = copy; item && rc == 0; item = next) {   /* strtok would skip empty items */
        if ((next = strchr(item, ',')))
            *next++ = '\0';
        rc = parse_size_item(item, sizes, max, &count);
    }
    if (rc == -E2BIG)
        set_err(err, errlen, "more than %u sizes in '%s'", max, spec);
    else if (rc < 0)
        set_err(err, errlen, "bad size list '%s' (want e.g. 8:8M or 64,1K; 1 B to 1 GiB)", spec);
    if (rc < 0)
        return -EINVAL;
    *n = count;
    return 0;
}

size_t bench_max_size(const bench_opts_t *o)
{
    size_t max = 0;

    for (unsigned i = 0; i < o->nsizes; i++)
        max = o->sizes[i] > max ? o->sizes[i] : max;
    return max;
}

/* ---- budget and clocks ---------------------------------------------------------------------- */

void bench_counts_for(const bench_opts_t *o, size_t size, unsigned long *iters,
                      unsigned long *warmup)
{
    const bench_mode_defaults_t *d = &mode_defaults[o->mode];
    bool large = size > BENCH_LARGE_MSG;

    *iters = o->iters_set ? o->iters : large ? d->large_iters : d->iters;
    *warmup = o->warmup_set ? o->warmup : large ? d->large_warmup : d->warmup;
}

uint64_t bench_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * BENCH_NS_PER_SEC + (uint64_t)ts.tv_nsec;
}

double bench_wall_seconds(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

uint64_t bench_phase_deadline(const bench_opts_t *o, bool warmup)
{
    double seconds = o->max_seconds * (warmup ? BENCH_WARMUP_SHARE : 1.0);

    return bench_now_ns() + (uint64_t)(seconds * (double)BENCH_NS_PER_SEC);
}

bool bench_is_last(unsigned long i, unsigned long n, uint64_t deadline)
{
    return i + 1 >= n || bench_now_ns() >= deadline;
}

double bench_cpu_seconds(void)
{
    struct rusage ru;

    if (getrusage(RUSAGE_SELF, &ru) < 0)
        return 0.0;
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e-6;
}

/* ---- statistics ----------------------------------------------------------------------------- */

static int compare_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

double bench_percentile(const double *sorted, size_t n, double p)
{
    if (!n)
        return 0.0;
    size_t rank = (size_t)ceil(p / 100.0 * (double)n);
    if (rank < 1)
        rank = 1;
    return sorted[(rank > n ? n : rank) - 1];
}

void bench_latency_stats(double *samples_us, size_t n, bench_result_t *r)
{
    double sum = 0.0;

    qsort(samples_us, n, sizeof(*samples_us), compare_double);
    for (size_t i = 0; i < n; i++)
        sum += samples_us[i];
    r->p50_us = bench_percentile(samples_us, n, 50.0);
    r->p99_us = bench_percentile(samples_us, n, 99.0);
    r->mean_us = n ? sum / (double)n : 0.0;
}

void bench_rate_stats(uint64_t msgs, double seconds, bench_result_t *r)
{
    if (!(seconds > 0.0))
        return;
    r->msgs_per_s = (double)msgs / seconds;
    r->mbps = r->msgs_per_s * (double)r->size / 1e6;
}

uint64_t bench_messages(const bench_opts_t *o, unsigned long done)
{
    switch (o->mode) {
    case BENCH_MODE_LATENCY:
        return 2ull * done;
    case BENCH_MODE_BANDWIDTH:
        return (uint64_t)done * o->window;
    default:
        return done;
    }
}

void bench_fill_result(bench_result_t *r, const bench_opts_t *o, const char *system, size_t size,
                       unsigned long done, double seconds, double cpu_seconds,
                       double *samples_us)
{
    uint64_t msgs = bench_messages(o, done);

    memset(r, 0, sizeof(*r));
    r->system = system;
    r->mode = o->mode;
    r->size = size;
    r->iters = done;
    r->window = o->window;
    if (o->mode == BENCH_MODE_LATENCY)
        bench_latency_stats(samples_us, done, r);
    else
        bench_rate_stats(msgs, seconds, r);
    r->cpu_us_per_msg = msgs ? cpu_seconds * 1e6 / (double)msgs : 0.0;
}

/* ---- output --------------------------------------------------------------------------------- */

/* A JSON number; non-finite values (which JSON cannot hold) become null. */
static const char *json_num(char *buf, size_t len, double v)
{
    if (!isfinite(v))
        return "null";
    snprintf(buf, len, "%.6g", v);
    return buf;
}

int bench_format_json(char *buf, size_t len, const bench_result_t *r)
{
    char a[32], b[32], c[32], d[32];
    int n = snprintf(buf, len, "{\"system\":\"%s\",\"mode\":\"%s\",\"size\":%zu,\"iters\":%lu,",
                     r->system, bench_mode_name(r->mode), r->size, r->iters);

    if (n < 0 || (size_t)n >= len)
        return n;
    if (r->mode == BENCH_MODE_LATENCY)
        return n + snprintf(buf + n, len - (size_t)n,
                            "\"p50_us\":%s,\"p99_us\":%s,\"mean_us\":%s,\"cpu_us_per_msg\":%s}",
                            json_num(a, sizeof(a), r->p50_us), json_num(b, sizeof(b), r->p99_us),
                            json_num(c, sizeof(c), r->mean_us),
                            json_num(d, sizeof(d), r->cpu_us_per_msg));
    return n + snprintf(buf + n, len - (size_t)n,
                        "\"window\":%u,\"mbps\":%s,\"msgs_per_s\":%s,\"cpu_us_per_msg\":%s}",
                        r->window, json_num(a, sizeof(a), r->mbps),
                        json_num(b, sizeof(b), r->msgs_per_s),
                        json_num(c, sizeof(c), r->cpu_us_per_msg));
}

void bench_print_header(FILE *out, const bench_opts_t *o, const char *system)
{
    if (o->json)
        return;
    if (o->mode == BENCH_MODE_LATENCY) {
        fprintf(out, "# %s latency: one-way = half a round trip, in us; cpu = user+sys of both "
                     "processes per message\n", system);
        fprintf(out, "# %10s %10s %10s %10s %10s %12s\n",
                "size", "iters", "p50_us", "p99_us", "mean_us", "cpu_us/msg");
        return;
    }
    fprintf(out, "# %s %s: %u messages in flight%s; MB/s = 10^6 B/s; cpu = user+sys of both "
                 "processes per message\n", system, bench_mode_name(o->mode), o->window,
            o->mode == BENCH_MODE_BANDWIDTH ? ", then a 4-byte ack" : " (sliding window)");
    fprintf(out, "# %10s %10s %12s %12s %12s\n", "size",
            o->mode == BENCH_MODE_BANDWIDTH ? "windows" : "messages", "MB/s", "msgs/s",
            "cpu_us/msg");
}

void bench_print_result(FILE *out, const bench_opts_t *o, const bench_result_t *r)
{
    char json[512];

    if (o->json) {
        bench_format_json(json, sizeof(json), r);
        fprintf(out, "%s\n", json);
    } else if (r->mode == BENCH_MODE_LATENCY) {
        fprintf(out, "  %10zu %10lu %10.3f %10.3f %10.3f %12.3f\n", r->size, r->iters,
                r->p50_us, r->p99_us, r->mean_us, r->cpu_us_per_msg);
    } else {
        fprintf(out, "  %10zu %10lu %12.1f %12.0f %12.3f\n", r->size, r->iters, r->mbps,
                r->msgs_per_s, r->cpu_us_per_msg);
    }
    fflush(out);
}
