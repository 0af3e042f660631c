/* qos_latency.c - job A of the QoS-between-jobs benchmark (run.sh): a latency-sensitive MPI
 * ping-pong between ranks 0 and 1 that times every round trip on its own.
 *
 *     srun -N2 -n2 --mpi=pmix mrpc-run qos_latency [-s SIZE] [-n MAX] [-w WARMUP] [-D SECONDS]
 *                                                  [-o SAMPLES_FILE]
 *
 * Rank 0 sends SIZE bytes (default 64) with MPI_Send, rank 1 receives them and sends them back;
 * after WARMUP unmeasured round trips (default 100) rank 0 times MAX round trips at most
 * (default 1000000) or until SECONDS have passed (default 10), whichever comes first. Rank 0
 * alone decides when to stop and marks its last ping with TAG_LAST, so rank 1 needs no clock.
 * Rank 0 prints one JSON line with the round trip's median, 99th percentile, mean and maximum
 * (nearest rank, microseconds; a round trip, not half of it: what the job waits for) and the
 * measured phase's start and end on the wall clock (CLOCK_REALTIME, seconds), which run.sh
 * lines up with job B's samples; with -o it writes every round trip, sorted, one per line. */
#include "bench_common.h"

#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { TAG_DATA = 1, TAG_LAST = 2 };

typedef struct {
    size_t size;
    unsigned long max, warmup;
    double seconds;
    const char *samples_file;
} lat_opts_t;

static int parse_opts(int argc, char **argv, lat_opts_t *o)
{
    unsigned long secs = 10;
    int c;

    *o = (lat_opts_t){ .size = 64, .max = 1000000, .warmup = 100, .seconds = 10 };
    while ((c = getopt(argc, argv, "s:n:w:D:o:")) != -1) {
        int bad = 0;
        switch (c) {
        case 's': bad = bench_parse_size(optarg, &o->size) || o->size > (64u << 20); break;
        case 'n': bad = bench_parse_count(optarg, 1, 100000000, &o->max); break;
        case 'w': bad = bench_parse_count(optarg, 0, 1000000, &o->warmup); break;
        case 'D': bad = bench_parse_count(optarg, 1, 3600, &secs); o->seconds = (double)secs; break;
        case 'o': o->samples_file = optarg; break;
        default: bad = 1;
        }
        if (bad) {
            fprintf(stderr, "usage: qos_latency [-s SIZE<=64M] [-n MAX] [-w WARMUP] [-D SECONDS 1..3600] "
                            "[-o SAMPLES_FILE]\n");
            return -1;
        }
    }
    return 0;
}

/* Rank 0: at most MAX round trips until DEADLINE (bench_now_ns clock); their times, in
 * microseconds, into RTT_US if given. Returns how many were made. */
static unsigned long pinger(char *buf, int n, unsigned long max, uint64_t deadline, double *rtt_us)
{
    for (unsigned long i = 0;; i++) {
        bool last = bench_is_last(i, max, deadline);
        uint64_t t0 = bench_now_ns();

        MPI_Send(buf, n, MPI_BYTE, 1, last ? TAG_LAST : TAG_DATA, MPI_COMM_WORLD);
        MPI_Recv(buf, n, MPI_BYTE, 1, TAG_DATA, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        if (rtt_us)
            rtt_us[i] = (double)(bench_now_ns() - t0) / 1e3;
        if (last)
            return i + 1;
    }
}

/* Rank 1: answers every ping until the one marked TAG_LAST. */
static void ponger(char *buf, int n)
{
    MPI_Status st;

    do {
        MPI_Recv(buf, n, MPI_BYTE, 0, MPI_ANY_TAG, MPI_COMM_WORLD, &st);
        MPI_Send(buf, n, MPI_BYTE, 0, TAG_DATA, MPI_COMM_WORLD);
    } while (st.MPI_TAG != TAG_LAST);
}

static int write_samples(const char *path, const double *sorted, unsigned long n)
{
    FILE *f = fopen(path, "w");

    if (!f) {
        perror(path);
        return -1;
    }
    for (unsigned long i = 0; i < n; i++)
        fprintf(f, "%.1f\n", sorted[i]);
    return fclose(f) == 0 ? 0 : -1;
}

static int report(const lat_opts_t *o, double *rtt_us, unsigned long done, double t0, double t1)
{
    bench_result_t r = { 0 };

    bench_latency_stats(rtt_us, done, &r);       /* sorts */
    printf("{\"program\":\"qos_latency\",\"size\":%zu,\"iters\":%lu,\"rtt_p50_us\":%.1f,"
           "\"rtt_p99_us\":%.1f,\"rtt_mean_us\":%.1f,\"rtt_max_us\":%.1f,\"t_start\":%.3f,"
           "\"t_end\":%.3f}\n", o->size, done, r.p50_us, r.p99_us, r.mean_us, rtt_us[done - 1], t0, t1);
    fflush(stdout);
    return o->samples_file ? write_samples(o->samples_file, rtt_us, done) : 0;
}

int main(int argc, char **argv)
{
    lat_opts_t o;
    int rank, size, rc = 0;

    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (parse_opts(argc, argv, &o) < 0 || size != 2) {
        if (rank == 0 && size != 2)
            fprintf(stderr, "qos_latency: needs exactly 2 ranks (got %d)\n", size);
        MPI_Abort(MPI_COMM_WORLD, 2);
    }
    char *buf = calloc(1, o.size);
    double *rtt_us = rank == 0 ? malloc(o.max * sizeof(double)) : NULL;
    if (!buf || (rank == 0 && !rtt_us)) {
        fprintf(stderr, "qos_latency: out of memory\n");
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    if (rank == 0) {
        if (o.warmup)
            pinger(buf, (int)o.size, o.warmup, UINT64_MAX, NULL);
        double t0 = bench_wall_seconds();
        unsigned long done = pinger(buf, (int)o.size, o.max,
                                    bench_now_ns() + (uint64_t)(o.seconds * 1e9), rtt_us);
        rc = report(&o, rtt_us, done, t0, bench_wall_seconds()) ? 1 : 0;
    } else {
        if (o.warmup)
            ponger(buf, (int)o.size);
        ponger(buf, (int)o.size);
    }
    free(rtt_us);
    free(buf);
    MPI_Finalize();
    return rc;
}
