/* mpi_pingpong.c - OSU-style MPI point-to-point baseline between two ranks.
 *
 *     mpirun -np 2 mpi_pingpong_openmpi [--mode latency|bandwidth] [--sizes 8:8M] [-n N] [-w N]
 *                                       [-D SECONDS] [--json]
 *
 * One source built once per MPI implementation found; BENCH_MPI_SYSTEM ("openmpi", "mpich")
 * names it in the output. For every size:
 *   latency    rank 0 sends SIZE bytes with MPI_Send, rank 1 receives them with MPI_Recv and
 *              sends them back; rank 0 times each round trip, one-way latency = half of it;
 *   bandwidth  rank 0 posts a window of MPI_Isend (64 by default) and waits for all of them;
 *              rank 1 posts as many MPI_Irecv into one buffer (as osu_bw does), waits, and
 *              answers with a 4-byte ack; MB/s = bytes of all windows / time of all windows.
 * Rank 0 alone decides when a phase ends (iteration count or time budget, see bench_common.h)
 * and marks its last message with TAG_LAST, so rank 1 needs no clock and both ranks stop on the
 * same iteration. CPU time per message: getrusage of each rank over the measured phase, summed
 * over both ranks with MPI_Reduce. */
#include "bench_common.h"

#include <errno.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef BENCH_MPI_SYSTEM
#error "BENCH_MPI_SYSTEM (\"openmpi\" or \"mpich\") must be defined by the build"
#endif

enum { TAG_DATA = 1, TAG_LAST = 2, TAG_ACK = 3 };
#define ACK_BYTES 4
#define PAGE      4096

typedef struct {
    int rank;
    char *sbuf, *rbuf;          /* one message of the largest size each */
    char ack[ACK_BYTES];
    MPI_Request *reqs;          /* one window */
    MPI_Status *stats;
    unsigned window;
} mpi_bench_t;

/* ---- latency: blocking ping-pong ------------------------------------------------------------ */

/* Rank 0: MAX round trips at most, until DEADLINE; one-way times into SAMPLES_US if given. */
static unsigned long latency_pinger(mpi_bench_t *m, int count, unsigned long max,
                                    uint64_t deadline, double *samples_us)
{
    for (unsigned long i = 0;; i++) {
        bool last = bench_is_last(i, max, deadline);
        uint64_t start = bench_now_ns();

        MPI_Send(m->sbuf, count, MPI_CHAR, 1, last ? TAG_LAST : TAG_DATA, MPI_COMM_WORLD);
        MPI_Recv(m->rbuf, count, MPI_CHAR, 1, TAG_DATA, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        if (samples_us)
            samples_us[i] = (double)(bench_now_ns() - start) / 2e3;
        if (last)
            return i + 1;
    }
}

/* Rank 1: echoes until rank 0's TAG_LAST, so its loop is bounded by rank 0's. */
static unsigned long latency_ponger(mpi_bench_t *m, int count)
{
    MPI_Status st;

    for (unsigned long i = 0;; i++) {
        MPI_Recv(m->rbuf, count, MPI_CHAR, 0, MPI_ANY_TAG, MPI_COMM_WORLD, &st);
        MPI_Send(m->sbuf, count, MPI_CHAR, 0, TAG_DATA, MPI_COMM_WORLD);
        if (st.MPI_TAG == TAG_LAST)
            return i + 1;
    }
}

/* ---- bandwidth: windows of non-blocking sends, each closed by an ack ------------------------ */

static unsigned long bandwidth_sender(mpi_bench_t *m, int count, unsigned long max,
                                      uint64_t deadline)
{
    for (unsigned long w = 0;; w++) {
        int tag = bench_is_last(w, max, deadline) ? TAG_LAST : TAG_DATA;

        for (unsigned j = 0; j < m->window; j++)
            MPI_Isend(m->sbuf, count, MPI_CHAR, 1, tag, MPI_COMM_WORLD, &m->reqs[j]);
        /* statuses, not MPI_STATUSES_IGNORE: GCC 12 takes MPICH's (MPI_Status *)1 for an
         * empty array and warns (-Wstringop-overflow) */
        MPI_Waitall((int)m->window, m->reqs, m->stats);
        MPI_Recv(m->ack, ACK_BYTES, MPI_CHAR, 1, TAG_ACK, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        if (tag == TAG_LAST)
            return w + 1;
    }
}

/* Every receive of a window lands in the same buffer: only the transfer is measured. */
static unsigned long bandwidth_receiver(mpi_bench_t *m, int count)
{
    for (unsigned long w = 0;; w++) {
        for (unsigned j = 0; j < m->window; j++)
            MPI_Irecv(m->rbuf, count, MPI_CHAR, 0, MPI_ANY_TAG, MPI_COMM_WORLD, &m->reqs[j]);
        MPI_Waitall((int)m->window, m->reqs, m->stats);
        MPI_Send(m->ack, ACK_BYTES, MPI_CHAR, 0, TAG_ACK, MPI_COMM_WORLD);
        if (m->stats[0].MPI_TAG == TAG_LAST)
            return w + 1;
    }
}

/* One phase (warmup or measured) of O's mode; returns the iterations both ranks did. */
static unsigned long run_phase(mpi_bench_t *m, const bench_opts_t *o, size_t size,
                               unsigned long max, bool warmup, double *samples_us)
{
    uint64_t deadline = bench_phase_deadline(o, warmup);
    int count = (int)size;

    if (o->mode == BENCH_MODE_LATENCY)
        return m->rank == 0 ? latency_pinger(m, count, max, deadline, samples_us)
                            : latency_ponger(m, count);
    return m->rank == 0 ? bandwidth_sender(m, count, max, deadline)
                        : bandwidth_receiver(m, count);
}

/* ---- one size ------------------------------------------------------------------------------- */

static void run_size(mpi_bench_t *m, const bench_opts_t *o, size_t size)
{
    unsigned long iters, warmup;
    double *samples = NULL;

    bench_counts_for(o, size, &iters, &warmup);
    if (m->rank == 0 && o->mode == BENCH_MODE_LATENCY &&
        !(samples = malloc(iters * sizeof(*samples)))) {
        fprintf(stderr, "mpi_pingpong: no memory for %lu samples\n", iters);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    MPI_Barrier(MPI_COMM_WORLD);
    if (warmup)
        run_phase(m, o, size, warmup, true, NULL);
    MPI_Barrier(MPI_COMM_WORLD);

    double cpu_start = bench_cpu_seconds();
    uint64_t start = bench_now_ns();
    unsigned long done = run_phase(m, o, size, iters, false, samples);
    double seconds = (double)(bench_now_ns() - start) / 1e9;
    double cpu = bench_cpu_seconds() - cpu_start, cpu_both = 0.0;

    MPI_Reduce(&cpu, &cpu_both, 1, MPI_DOUBLE, MPI_SUM, 0, MPI_COMM_WORLD);
    if (m->rank == 0) {
        bench_result_t r;

        bench_fill_result(&r, o, BENCH_MPI_SYSTEM, size, done, seconds, cpu_both, samples);
        bench_print_result(stdout, o, &r);
    }
    free(samples);
}

/* ---- setup ---------------------------------------------------------------------------------- */

static void usage(FILE *out)
{
    fprintf(out, "usage: mpirun -np 2 mpi_pingpong_" BENCH_MPI_SYSTEM " [options]\n"
                 "OSU-style latency and bandwidth between two MPI ranks.\n");
    bench_opts_usage(out);
}

/* 0 to run, 1 for --help, -EINVAL for bad options; rank 0 says why. */
static int parse_args(int argc, char **argv, int rank, bench_opts_t *o)
{
    static const bench_program_t prog = {
        .modes = BENCH_MODE_BIT(BENCH_MODE_LATENCY) | BENCH_MODE_BIT(BENCH_MODE_BANDWIDTH),
    };
    char err[256] = "";
    int rc = bench_parse_args(argc, argv, &prog, o, err, sizeof(err));

    if (rank == 0 && rc < 0)
        fprintf(stderr, "mpi_pingpong: %s\n", err);
    if (rank == 0 && rc != 0)
        usage(rc < 0 ? stderr : stdout);
    return rc;
}

static int alloc_buffers(mpi_bench_t *m, const bench_opts_t *o)
{
    size_t len = (bench_max_size(o) + PAGE - 1) / PAGE * PAGE;

    m->window = o->window;
    m->sbuf = aligned_alloc(PAGE, len);
    m->rbuf = aligned_alloc(PAGE, len);
    m->reqs = calloc(o->window, sizeof(*m->reqs));
    m->stats = calloc(o->window, sizeof(*m->stats));
    if (!m->sbuf || !m->rbuf || !m->reqs || !m->stats)
        return -ENOMEM;
    memset(m->sbuf, 'a' + m->rank, len);   /* touch every page before timing */
    memset(m->rbuf, 0, len);
    return 0;
}

static void free_buffers(mpi_bench_t *m)
{
    free(m->sbuf);
    free(m->rbuf);
    free(m->reqs);
    free(m->stats);
}

static void print_banner(const bench_opts_t *o)
{
    char version[MPI_MAX_LIBRARY_VERSION_STRING];
    int len = 0;

    if (o->json)
        return;
    MPI_Get_library_version(version, &len);
    version[strcspn(version, "\n")] = '\0';   /* the first line names the library */
    printf("# library: %s\n", version);
    bench_print_header(stdout, o, BENCH_MPI_SYSTEM);
}

int main(int argc, char **argv)
{
    mpi_bench_t m = { 0 };
    bench_opts_t o;
    int nranks = 0, rc;

    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &m.rank);
    MPI_Comm_size(MPI_COMM_WORLD, &nranks);
    rc = parse_args(argc, argv, m.rank, &o);
    if (rc == 0 && nranks != 2) {
        if (m.rank == 0)
            fprintf(stderr, "mpi_pingpong: needs exactly 2 ranks, got %d (mpirun -np 2)\n",
                    nranks);
        rc = -EINVAL;
    }
    if (rc == 0 && alloc_buffers(&m, &o) < 0) {
        fprintf(stderr, "mpi_pingpong: rank %d: no memory for buffers\n", m.rank);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    if (rc == 0 && m.rank == 0)
        print_banner(&o);
    for (unsigned i = 0; rc == 0 && i < o.nsizes; i++)
        run_size(&m, &o, o.sizes[i]);
    free_buffers(&m);
    MPI_Finalize();
    return rc < 0 ? 2 : 0;
}
