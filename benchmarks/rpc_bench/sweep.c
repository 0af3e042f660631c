/* sweep.c - rpc_bench's client side, main thread: the client threads and the size sweep.
 *
 * It starts --num-client-threads threads (client.c), waits until all are connected (with
 * --hold, then prints "rpc_bench: ready" and waits for a line on stdin; and again, still
 * connected, with "rpc_bench: done" after the last size), and then for every
 * size releases a warmup step and a measured step (sync.c), splitting the size's calls and
 * warmup calls evenly over the threads. Around the measured step it reads the CPU clocks and
 * the time; while it runs, it prints an --interval line at every interval boundary from the
 * round trips the threads have published since the last one. Once all threads arrived it
 * gathers every round trip (and appends them to --log-latency), summarises and prints. The
 * main thread only ever waits with a deadline: a thread still busy 15 s past its budget stops
 * the run. Any thread's error stops the run too, and is printed. */
#include "rpc_bench.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define STEP_SLACK_NS  (RPCB_GRACE_NS + 5 * BENCH_NS_PER_SEC)
#define CONNECT_NS     (30 * BENCH_NS_PER_SEC)
#define HOLD_MS        120000   /* --hold waits this long for its line */

typedef struct {
    const rpcb_args_t *a;
    rpcb_sync_t sync;
    rpcb_thread_t threads[RPCB_MAX_THREADS];
    unsigned nthreads;          /* started */
    FILE *latency_log;
    FILE *gap_log;
} sweep_t;

/* Thread I's part of TOTAL calls. */
static unsigned long share(unsigned long total, unsigned n, unsigned i)
{
    return total / n + (i < total % n ? 1 : 0);
}

/* The most calls any thread makes in one measured step: its sample buffer's size. */
static size_t samples_cap(const rpcb_args_t *a)
{
    unsigned long most = 0, iters, warmup;

    for (unsigned i = 0; i < a->o.nsizes; i++) {
        bench_counts_for(&a->o, a->o.sizes[i], &iters, &warmup);
        most = iters > most ? iters : most;
    }
    return share(most, a->client_threads, 0);
}

static bool any_failed(const sweep_t *s)
{
    bool failed = false;

    for (unsigned i = 0; i < s->nthreads; i++) {
        const rpcb_thread_t *t = &s->threads[i];
        if (t->failed) {
            fprintf(stderr, "rpc_bench: thread %u: %s (%lu calls failed, %lu never completed)\n",
                    i, t->err, t->errors, t->issued - t->completed);
            failed = true;
        }
    }
    return failed;
}

/* Waits for every thread to arrive; false (said why) on a failure or past LIMIT. */
static bool all_arrived(sweep_t *s, uint64_t limit)
{
    if (!rpcb_sync_wait_all(&s->sync, s->nthreads, limit)) {
        fprintf(stderr, "rpc_bench: a client thread is stuck past its time budget\n");
        return false;
    }
    return !any_failed(s);
}

static void set_phase(sweep_t *s, size_t size, unsigned long total, bool measure)
{
    const rpcb_args_t *a = s->a;

    for (unsigned i = 0; i < s->nthreads; i++) {
        rpcb_thread_t *t = &s->threads[i];
        t->phase = (rpcb_phase_t){
            .req_size = size,
            .reply_size = a->reply_size < 0 ? size : (size_t)a->reply_size,
            .calls = share(total, s->nthreads, i),
            .measure = measure,
        };
        atomic_store_explicit(&t->published, 0, memory_order_relaxed);  /* released by sync */
    }
}

/* Appends T's round trips [FROM, TO) to OUT[*N]. */
static void copy_samples(const rpcb_thread_t *t, size_t from, size_t to, double *out, size_t *n)
{
    memcpy(out + *n, t->samples_us + from, (to - from) * sizeof(*out));
    *n += to - from;
}

/* How far each thread has published (read once: the threads go on publishing). */
static size_t published_now(const sweep_t *s, size_t *upto)
{
    size_t total = 0;

    for (unsigned i = 0; i < s->nthreads; i++) {
        upto[i] = atomic_load_explicit(&s->threads[i].published, memory_order_acquire);
        total += upto[i];
    }
    return total;
}

/* One --interval line from what the threads published since the last one (SEEN moves on). */
static void report_interval(sweep_t *s, unsigned index, uint64_t start, uint64_t since,
                            size_t *seen, size_t req_size)
{
    size_t upto[RPCB_MAX_THREADS], n = 0, room = published_now(s, upto);
    uint64_t now = bench_now_ns();

    for (unsigned i = 0; i < s->nthreads; i++)
        room -= seen[i];
    double *samples = malloc((room ? room : 1) * sizeof(*samples));
    if (!samples)
        return;
    for (unsigned i = 0; i < s->nthreads; i++) {
        copy_samples(&s->threads[i], seen[i], upto[i], samples, &n);
        seen[i] = upto[i];
    }
    rpcb_print_interval(s->a, index, (double)(now - start) / 1e9, req_size, samples, n,
                        (double)(now - since) / 1e9);
    free(samples);
}

/* Waits for the measured step to end, printing an interval line at every boundary. */
static bool wait_measured(sweep_t *s, uint64_t start, uint64_t limit, size_t req_size)
{
    uint64_t every = (uint64_t)(s->a->interval * 1e9), since = start;
    size_t seen[RPCB_MAX_THREADS] = { 0 };

    if (!every)
        return all_arrived(s, limit);
    for (unsigned k = 1;; k++) {
        uint64_t boundary = start + k * every;
        if (rpcb_sync_wait_all(&s->sync, s->nthreads, boundary < limit ? boundary : limit))
            return !any_failed(s);
        if (bench_now_ns() >= limit)
            return all_arrived(s, limit);   /* says it is stuck */
        report_interval(s, k, start, since, seen, req_size);
        since = bench_now_ns();
    }
}

/* All round trips of the measured step in one array (completion order per thread), also
 * written to --log-latency. NULL when out of memory. */
static double *gather(sweep_t *s, size_t *n)
{
    size_t upto[RPCB_MAX_THREADS], total = published_now(s, upto);
    double *all = malloc((total ? total : 1) * sizeof(*all));

    *n = 0;
    for (unsigned i = 0; all && i < s->nthreads; i++) {
        const rpcb_thread_t *t = &s->threads[i];
        copy_samples(t, 0, upto[i], all, n);
        for (size_t j = *n - upto[i]; s->latency_log && j < *n; j++)
            fprintf(s->latency_log, "%zu %zu %u %.3f\n", t->phase.req_size, t->phase.reply_size,
                    i, all[j]);
    }
    return all;
}

/* The longest wait between completions of any thread, and the calls that failed or were lost. */
static void count_stalls(const sweep_t *s, rpcb_summary_t *sum)
{
    for (unsigned i = 0; i < s->nthreads; i++) {
        const rpcb_thread_t *t = &s->threads[i];
        double gap_us = (double)t->max_gap_ns / 1e3;
        if (gap_us > sum->max_gap_us)
            sum->max_gap_us = gap_us;
        sum->failed += t->errors;
        sum->lost += t->issued - t->completed;
    }
}

/* --log-gaps: what each thread kept of the measured step. */
static void write_gaps(const sweep_t *s)
{
    for (unsigned i = 0; s->gap_log && i < s->nthreads; i++) {
        const rpcb_thread_t *t = &s->threads[i];
        for (size_t k = 0; k < t->n_gaps; k++)
            fprintf(s->gap_log, "%zu %u %llu %.1f\n", t->phase.req_size, i,
                    (unsigned long long)t->gaps[k][0], (double)t->gaps[k][1] / 1e3);
    }
}

static int run_size(sweep_t *s, size_t size)
{
    const rpcb_args_t *a = s->a;
    unsigned long iters, warmup;
    rpcb_cpu_t before, after;
    size_t n;

    bench_counts_for(&a->o, size, &iters, &warmup);
    set_phase(s, size, warmup, false);
    rpcb_sync_release(&s->sync);
    if (!all_arrived(s, bench_phase_deadline(&a->o, true) + STEP_SLACK_NS))
        return -1;
    set_phase(s, size, iters, true);
    rpcb_cpu_read(a, &before);
    uint64_t start = bench_now_ns();
    rpcb_sync_release(&s->sync);
    if (!wait_measured(s, start, bench_phase_deadline(&a->o, false) + STEP_SLACK_NS, size))
        return -1;
    double seconds = (double)(bench_now_ns() - start) / 1e9;
    rpcb_cpu_read(a, &after);
    double *all = gather(s, &n);
    if (!all)
        return -ENOMEM;
    rpcb_summary_t sum = { .req_size = size, .reply_size = s->threads[0].phase.reply_size };
    rpcb_summarize(&sum, all, n, seconds);
    count_stalls(s, &sum);
    write_gaps(s);
    rpcb_summarize_cpu(&sum, a, &before, &after);
    rpcb_print_summary(a, &sum);
    free(all);
    return 0;
}

/* --hold: say we are STATE ("ready", "done") and wait (bounded) for a line on stdin. */
static int hold(const char *state)
{
    struct pollfd p = { .fd = STDIN_FILENO, .events = POLLIN };
    char line[64];

    printf("rpc_bench: %s (pid %d): waiting for a line on stdin\n", state, (int)getpid());
    fflush(stdout);
    if (poll(&p, 1, HOLD_MS) <= 0 || !fgets(line, sizeof(line), stdin)) {
        fprintf(stderr, "rpc_bench: --hold: no line on stdin within %d s\n", HOLD_MS / 1000);
        return -1;
    }
    return 0;
}

static int start_threads(sweep_t *s)
{
    size_t cap = samples_cap(s->a);

    for (unsigned i = 0; i < s->a->client_threads; i++) {
        rpcb_thread_t *t = &s->threads[i];
        if (rpcb_thread_init(t, s->a, &s->sync, i, cap) < 0) {
            rpcb_thread_free(t);
            fprintf(stderr, "rpc_bench: out of memory for %zu round trips per thread\n", cap);
            return -1;
        }
        if (pthread_create(&t->tid, NULL, rpcb_thread_main, t) != 0) {
            rpcb_thread_free(t);
            fprintf(stderr, "rpc_bench: cannot start client thread %u\n", i);
            return -1;
        }
        s->nthreads++;
    }
    return 0;
}

static int open_gap_log(sweep_t *s)
{
    if (!s->a->log_gaps)
        return 0;
    if (!(s->gap_log = fopen(s->a->log_gaps, "w"))) {
        fprintf(stderr, "rpc_bench: %s: %s\n", s->a->log_gaps, strerror(errno));
        return -1;
    }
    fprintf(s->gap_log, "# req_size thread end_ns gap_us\n");
    return 0;
}

static int open_log(sweep_t *s)
{
    if (open_gap_log(s) < 0)
        return -1;
    if (!s->a->log_latency)
        return 0;
    if (!(s->latency_log = fopen(s->a->log_latency, "w"))) {
        fprintf(stderr, "rpc_bench: %s: %s\n", s->a->log_latency, strerror(errno));
        return -1;
    }
    fprintf(s->latency_log, "# req_size reply_size thread rtt_us\n");
    return 0;
}

static int sweep(sweep_t *s)
{
    if (open_log(s) < 0 || start_threads(s) < 0 ||
        !all_arrived(s, bench_now_ns() + CONNECT_NS) || (s->a->hold && hold("ready") < 0))
        return -1;
    rpcb_print_header(s->a);
    for (unsigned i = 0; i < s->a->o.nsizes; i++) {
        if (run_size(s, s->a->o.sizes[i]) < 0)
            return -1;
    }
    return s->a->hold ? hold("done") : 0;
}

int rpcb_run_client(const rpcb_args_t *a)
{
    static sweep_t s;   /* large: the thread table */
    int rc;

    s = (sweep_t){ .a = a };
    for (unsigned i = 0; i < a->ncpu_pids; i++) {
        if (rpcb_pid_cpu_seconds(a->cpu_pids[i]) < 0.0) {
            fprintf(stderr, "rpc_bench: --cpu-pid %d: no such process\n", (int)a->cpu_pids[i]);
            return -1;
        }
    }
    rpcb_sync_init(&s.sync);
    rc = sweep(&s);
    rpcb_sync_stop(&s.sync);
    for (unsigned i = 0; i < s.nthreads; i++) {
        pthread_join(s.threads[i].tid, NULL);
        rpcb_thread_free(&s.threads[i]);
    }
    if (s.gap_log && fclose(s.gap_log) != 0 && rc == 0) {
        fprintf(stderr, "rpc_bench: %s: %s\n", a->log_gaps, strerror(errno));
        rc = -1;
    }
    if (s.latency_log && fclose(s.latency_log) != 0 && rc == 0) {
        fprintf(stderr, "rpc_bench: %s: %s\n", a->log_latency, strerror(errno));
        rc = -1;
    }
    rpcb_sync_destroy(&s.sync);
    return rc;
}
