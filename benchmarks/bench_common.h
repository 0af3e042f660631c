/* bench_common.h - what the baseline benchmarks (mpi_pingpong, ucx_pingpong) share.
 *
 * Both programs take the same options, sweep the same message sizes, time with the same clocks
 * and print the same rows, so their figures can be put side by side without conversion:
 *
 *   options     bench_parse_args() takes the common options (--mode, --sizes, --iters,
 *               --warmup, --window, -D, --json) and hands the program's own to its parser;
 *   sizes       "8:8M" doubles from 8 B up to 8 MiB; "64,1K,4K:16K" mixes lists and ranges;
 *               K, M and G are binary suffixes (8M = 8 MiB), as in the OSU benchmarks;
 *   budget      every size stops at its iteration count or its time budget (-D), whichever
 *               comes first; the warmup has a fifth of the budget;
 *   figures     latency: one-way = half a round trip, median / p99 / mean in microseconds;
 *               bandwidth and rate: MB/s (10^6 bytes) and messages/s; every mode also reports
 *               the CPU time (user + system, both processes summed) per message;
 *   output      a table (header once, one row per size) or one JSON object per size per line.
 */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define BENCH_MAX_SIZES        64
#define BENCH_MAX_MSG          (1ul << 30)    /* largest message: buffers are preallocated */
#define BENCH_DEFAULT_SIZES    "8:8M"
#define BENCH_RATE_SIZES       "32"
#define BENCH_DEFAULT_SECONDS  5.0            /* time budget per size */
#define BENCH_LARGE_MSG        8192u          /* above it, fewer default iterations (OSU) */
#define BENCH_NS_PER_SEC       1000000000ull

typedef enum {
    BENCH_MODE_LATENCY,     /* ping-pong of one message: one-way latency */
    BENCH_MODE_BANDWIDTH,   /* windows of messages, each closed by a small ack: MB/s */
    BENCH_MODE_RATE,        /* small messages with a window always outstanding: msgs/s */
    BENCH_MODE_COUNT
} bench_mode_t;

#define BENCH_MODE_BIT(m) (1u << (m))

typedef struct {
    bench_mode_t mode;
    size_t sizes[BENCH_MAX_SIZES];
    unsigned nsizes;
    unsigned long iters;        /* latency: round trips; bandwidth: windows; rate: messages */
    unsigned long warmup;       /* same unit, not measured */
    bool iters_set, warmup_set; /* the user chose them: no per-size scaling */
    unsigned window;            /* messages in flight (bandwidth, rate); 0 = mode default */
    double max_seconds;         /* time budget per size */
    bool json;
} bench_opts_t;

/* One size's figures. Unused fields stay 0 and are not printed. */
typedef struct {
    const char *system;         /* "openmpi", "mpich", "ucx" */
    bench_mode_t mode;
    size_t size;
    unsigned long iters;        /* measured iterations, in the unit of --iters */
    unsigned window;
    double p50_us, p99_us, mean_us;
    double mbps, msgs_per_s;
    double cpu_us_per_msg;
} bench_result_t;

/* What a program adds to the common options: its own getopt options and a parser for them
 * (called with each option that is not a common one; returns 0, or -EINVAL with a sentence in
 * ERR), and the modes it supports (BENCH_MODE_BIT mask). */
typedef struct {
    const char *shortopts;                  /* getopt syntax, "" for none */
    const struct option *longopts;          /* NULL-terminated, or NULL */
    int (*parse)(void *ctx, int opt, const char *arg, char *err, size_t errlen);
    void *ctx;
    unsigned modes;
} bench_program_t;

const char *bench_mode_name(bench_mode_t mode);

/* Parses ARGV into O (defaults filled in): 0 to run, 1 for -h/--help, -EINVAL with a sentence
 * in ERR for bad input. Resets getopt, so it may be called more than once. */
int bench_parse_args(int argc, char **argv, const bench_program_t *prog, bench_opts_t *o,
                     char *err, size_t errlen);
/* Prints the common options' help lines. */
void bench_opts_usage(FILE *out);

/* Parses one size with an optional K/M/G suffix, 1 <= size <= BENCH_MAX_MSG. */
int bench_parse_size(const char *text, size_t *size);
/* A whole number written with digits only ("-1" and " 7" are refused) within [MIN, MAX]:
 * 0 with *OUT set, or -EINVAL. */
int bench_parse_count(const char *text, unsigned long min, unsigned long max, unsigned long *out);
/* Parses a comma-separated list of sizes and LO:HI doubling ranges into SIZES[MAX]. */
int bench_parse_sizes(const char *spec, size_t *sizes, unsigned max, unsigned *n,
                      char *err, size_t errlen);
size_t bench_max_size(const bench_opts_t *o);

/* Iterations and warmup for one size: the chosen counts, or the mode default, which is
 * smaller for messages above BENCH_LARGE_MSG as in the OSU benchmarks. */
void bench_counts_for(const bench_opts_t *o, size_t size, unsigned long *iters,
                      unsigned long *warmup);
/* Absolute deadline (bench_now_ns clock) of a phase starting now. */
uint64_t bench_phase_deadline(const bench_opts_t *o, bool warmup);
/* Whether iteration I (from 0) of at most N is the last one, by count or by DEADLINE. */
bool bench_is_last(unsigned long i, unsigned long n, uint64_t deadline);

uint64_t bench_now_ns(void);
/* The wall clock (CLOCK_REALTIME) in seconds: for lining up what two programs measured. */
double bench_wall_seconds(void);
/* User + system CPU time of this process, all threads, in seconds. */
double bench_cpu_seconds(void);

/* Nearest-rank percentile P (0 < P <= 100) of SORTED[N]. */
double bench_percentile(const double *sorted, size_t n, double p);
/* Sorts SAMPLES_US (one-way latencies) and fills p50, p99 and mean of R. */
void bench_latency_stats(double *samples_us, size_t n, bench_result_t *r);
/* Fills mbps and msgs_per_s of R from MSGS messages of R->size bytes in SECONDS. */
void bench_rate_stats(uint64_t msgs, double seconds, bench_result_t *r);
/* Messages in DONE iterations of O's mode: 2 per round trip, WINDOW per window, 1 per message
 * (bandwidth acks are not counted). */
uint64_t bench_messages(const bench_opts_t *o, unsigned long done);
/* One size's result from a measured phase: DONE iterations in SECONDS of wall time and
 * CPU_SECONDS of both processes; SAMPLES_US[DONE] are the one-way latencies (latency mode,
 * sorted in place). */
void bench_fill_result(bench_result_t *r, const bench_opts_t *o, const char *system, size_t size,
                       unsigned long done, double seconds, double cpu_seconds,
                       double *samples_us);

/* Formats R as one JSON object (no newline); returns what snprintf returns. */
int bench_format_json(char *buf, size_t len, const bench_result_t *r);
/* The table header for O's mode (nothing in JSON mode), then one line per result. */
void bench_print_header(FILE *out, const bench_opts_t *o, const char *system);
void bench_print_result(FILE *out, const bench_opts_t *o, const bench_result_t *r);

#endif /* BENCH_COMMON_H */
