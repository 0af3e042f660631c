/* ring_bench.c - throughput and doorbell latency of the SPSC ring between two processes.
 *
 *     ring_bench [-n ITEMS] [-b BATCH] [-r ROUNDS]
 *
 * Three phases, each in a ring of 8-byte slots in MAP_SHARED memory with a forked consumer:
 *   single    push/pop one item per call (ITEMS items, default 10M);
 *   batched   push/pop BATCH items per call (default 32);
 *   wakeup    ping-pong of one item over two rings whose consumers always sleep on the doorbell
 *             when empty, so every round trip is two eventfd wakeups (ROUNDS, default 20000).
 * In the throughput phases a side that finds the ring full or empty yields the CPU. The consumer
 * checks the sequence so a broken ring cannot post a good number. Each phase stops at its own
 * wall-clock budget, keeping the whole run under 10 s; a cut-short phase reports what it did. */
#include "phoenix/ring.h"

#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NS_PER_SEC          1000000000ull
#define BENCH_CAPACITY      1024u
#define THROUGHPUT_BUDGET   (3 * NS_PER_SEC)
#define WAKEUP_BUDGET       (2 * NS_PER_SEC)
#define SLEEP_POLL_MS       100

/* What the forked consumer reports back; the parent reads it after waitpid(). */
typedef struct {
    uint64_t received;
    uint64_t misordered;
    unsigned long long end_ns;
} bench_result_t;

/* A formatted ring in shared memory and the eventfd ringing its consumer. */
typedef struct {
    void *mem;
    size_t len;
    int doorbell;
} bench_ring_t;

static unsigned long long now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (unsigned long long)ts.tv_sec * NS_PER_SEC + (unsigned long long)ts.tv_nsec;
}

static void *map_shared(size_t len)
{
    void *mem = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

    if (mem == MAP_FAILED) {
        perror("ring_bench: mmap");
        exit(1);
    }
    return mem;
}

static bench_ring_t ring_create(void)
{
    bench_ring_t b = { .len = phx_ring_mem_size(sizeof(uint64_t), BENCH_CAPACITY) };

    b.mem = map_shared(b.len);
    b.doorbell = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (b.doorbell < 0 || phx_ring_format(b.mem, b.len, sizeof(uint64_t), BENCH_CAPACITY) != 0) {
        fprintf(stderr, "ring_bench: cannot set up a ring\n");
        exit(1);
    }
    return b;
}

static void ring_destroy(bench_ring_t *b)
{
    munmap(b->mem, b->len);
    close(b->doorbell);
}

static phx_ring_t ring_attach(const bench_ring_t *b)
{
    phx_ring_t r;

    if (phx_ring_attach(&r, b->mem, b->len, b->doorbell) != 0) {
        fprintf(stderr, "ring_bench: attach failed\n");
        exit(1);
    }
    return r;
}

/* Waits for the child; a child still running after the phase budget plus a second is killed. */
static void reap(pid_t child, unsigned long long deadline)
{
    int status;

    while (waitpid(child, &status, WNOHANG) == 0) {
        if (now_ns() > deadline + NS_PER_SEC) {
            kill(child, SIGKILL);
            waitpid(child, &status, 0);
            return;
        }
        usleep(1000);
    }
}

/* ---- throughput ---------------------------------------------------------------------------- */

static void consume(phx_ring_t *r, uint64_t items, uint32_t batch, unsigned long long deadline,
                    bench_result_t *res)
{
    uint64_t buf[BENCH_CAPACITY], received = 0, misordered = 0;

    while (received < items) {
        int n = phx_ring_pop(r, buf, batch);
        if (n < 0 || (n == 0 && now_ns() > deadline))
            break;
        if (n == 0)
            sched_yield();
        for (int i = 0; i < n; i++)
            misordered += buf[i] != received + (uint64_t)i;
        received += (uint64_t)n;
    }
    *res = (bench_result_t){ .received = received, .misordered = misordered, .end_ns = now_ns() };
}

static void produce(phx_ring_t *r, uint64_t items, uint32_t batch, unsigned long long deadline)
{
    uint64_t buf[BENCH_CAPACITY], sent = 0;

    while (sent < items) {
        uint32_t want = items - sent < batch ? (uint32_t)(items - sent) : batch;
        for (uint32_t i = 0; i < want; i++)
            buf[i] = sent + i;
        int n = phx_ring_push(r, buf, want);
        if (n < 0 || (n == 0 && now_ns() > deadline))
            break;
        if (n == 0)
            sched_yield();
        sent += (uint64_t)n;
    }
}

static void run_throughput(const char *label, uint64_t items, uint32_t batch)
{
    bench_ring_t ring = ring_create();
    bench_result_t *res = map_shared(sizeof(*res));
    unsigned long long start = now_ns(), deadline = start + THROUGHPUT_BUDGET;

    fflush(NULL);
    pid_t child = fork();
    if (child == 0) {
        phx_ring_t cons = ring_attach(&ring);
        consume(&cons, items, batch, deadline, res);
        _exit(0);
    }
    if (child < 0) {
        perror("ring_bench: fork");
        exit(1);
    }
    phx_ring_t prod = ring_attach(&ring);
    start = now_ns();
    produce(&prod, items, batch, deadline);
    reap(child, deadline);

    double secs = res->end_ns > start ? (double)(res->end_ns - start) / NS_PER_SEC : 0;
    printf("  %-8s (batch %4u): %10llu items in %6.3f s = %7.2f M items/s%s%s\n", label, batch,
           (unsigned long long)res->received, secs,
           secs > 0 ? (double)res->received / secs / 1e6 : 0.0,
           res->received < items ? "  (stopped at the time budget)" : "",
           res->misordered ? "  ERROR: items out of order" : "");
    munmap(res, sizeof(*res));
    ring_destroy(&ring);
}

/* ---- doorbell wakeup latency --------------------------------------------------------------- */

/* Pops one item, sleeping on the doorbell whenever the ring is empty. 0 past DEADLINE. */
static int pop_or_sleep(phx_ring_t *r, uint64_t *item, unsigned long long deadline)
{
    int n;

    while ((n = phx_ring_pop(r, item, 1)) == 0 && now_ns() < deadline) {
        if (phx_ring_prepare_sleep(r)) {
            struct pollfd p = { .fd = phx_ring_doorbell_fd(r), .events = POLLIN };
            poll(&p, 1, SLEEP_POLL_MS);
        }
        phx_ring_finish_sleep(r);
    }
    return n;
}

/* Child: returns every ping as a pong until ROUNDS are done or the budget is spent. */
static void echo(phx_ring_t *ping, phx_ring_t *pong, uint32_t rounds, unsigned long long deadline)
{
    uint64_t item;

    for (uint32_t i = 0; i < rounds && pop_or_sleep(ping, &item, deadline) == 1; i++) {
        while (phx_ring_push(pong, &item, 1) == 0 && now_ns() < deadline)
            sched_yield();
        phx_ring_notify(pong);
    }
}

static int compare_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static void report_latency(uint64_t *rtt, uint32_t done, uint32_t rings)
{
    double sum = 0;

    if (done == 0) {
        printf("  wakeup round trip: no round completed\n");
        return;
    }
    for (uint32_t i = 0; i < done; i++)
        sum += (double)rtt[i];
    qsort(rtt, done, sizeof(*rtt), compare_u64);
    printf("  wakeup round trip: %u rounds, median %.1f us, p99 %.1f us, mean %.1f us "
           "(consumer asleep and rung in %u of them)\n",
           done, rtt[done / 2] / 1e3, rtt[(uint64_t)done * 99 / 100] / 1e3, sum / done / 1e3,
           rings);
}

static void run_wakeup_latency(uint32_t rounds)
{
    bench_ring_t ping_ring = ring_create(), pong_ring = ring_create();
    unsigned long long deadline = now_ns() + WAKEUP_BUDGET;
    uint64_t *rtt = calloc(rounds, sizeof(*rtt));
    uint32_t done = 0, rings = 0;

    fflush(NULL);
    pid_t child = fork();
    if (child == 0) {
        phx_ring_t ping = ring_attach(&ping_ring), pong = ring_attach(&pong_ring);
        echo(&ping, &pong, rounds, deadline);
        _exit(0);
    }
    if (child < 0 || !rtt) {
        perror("ring_bench: wakeup setup");
        exit(1);
    }
    phx_ring_t ping = ring_attach(&ping_ring), pong = ring_attach(&pong_ring);
    for (uint64_t item = 0; done < rounds; done++, item++) {
        unsigned long long t0 = now_ns();
        if (phx_ring_push(&ping, &item, 1) != 1)   /* the child echoes each ping: never full */
            break;
        rings += phx_ring_notify(&ping) == 1;
        if (pop_or_sleep(&pong, &item, deadline) != 1)
            break;
        rtt[done] = now_ns() - t0;
    }
    reap(child, deadline);
    report_latency(rtt, done, rings);
    free(rtt);
    ring_destroy(&ping_ring);
    ring_destroy(&pong_ring);
}

static void usage(void)
{
    fprintf(stderr, "usage: ring_bench [-n ITEMS] [-b BATCH 1..%u] [-r ROUNDS 1..10000000]\n",
            BENCH_CAPACITY);
    exit(2);
}

/* A positive decimal count no larger than MAX; anything else prints the usage and exits. */
static unsigned long long parse_count(const char *text, unsigned long long max)
{
    char *end;
    unsigned long long v = strtoull(text, &end, 10);

    if (end == text || *end || v == 0 || v > max)
        usage();
    return v;
}

int main(int argc, char **argv)
{
    unsigned long long items = 10000000;
    uint32_t batch = 32, rounds = 20000;
    int opt;

    while ((opt = getopt(argc, argv, "n:b:r:")) != -1) {
        switch (opt) {
        case 'n': items = parse_count(optarg, ~0ull); break;
        case 'b': batch = (uint32_t)parse_count(optarg, BENCH_CAPACITY); break;
        case 'r': rounds = (uint32_t)parse_count(optarg, 10000000); break;
        default: usage();
        }
    }
    if (optind != argc)
        usage();

    printf("ring_bench: 8-byte slots, capacity %u, producer and consumer in two processes\n",
           BENCH_CAPACITY);
    run_throughput("single", items, 1);
    run_throughput("batched", items, batch);
    run_wakeup_latency(rounds);
    return 0;
}
