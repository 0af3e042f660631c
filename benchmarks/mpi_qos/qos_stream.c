/* qos_stream.c - job B of the QoS-between-jobs benchmark (run.sh): a bandwidth-heavy MPI
 * program, large messages streaming both ways between ranks 0 and 1.
 *
 *     srun -N2 -n2 --mpi=pmix mrpc-run qos_stream [-s SIZE] [-W WINDOW] [-n MAX] [-D SECONDS]
 *
 * In every round each rank posts WINDOW receives (default 4) of SIZE bytes (default 8 MiB) from
 * the other and WINDOW sends of SIZE bytes to it (MPI_Irecv, MPI_Isend from MPI_Alloc_mem'd
 * memory, MPI_Waitall), so 2 x WINDOW x SIZE bytes cross per round, half each way. Rank 0 stops
 * after MAX rounds (default 1000000) or SECONDS (default 10) and tells rank 1 with a broadcast
 * after each round. The last byte of every message carries the round number and is checked.
 * Rank 0 prints, after every round, "sample T BYTES" (T: CLOCK_REALTIME seconds; BYTES: payload
 * delivered so far, both directions), from which run.sh takes the goodput during job A's run,
 * and at the end one JSON line: rounds, bytes, seconds, goodput (MB/s, 10^6 bytes), wall-clock
 * start and end.
 *
 * Before streaming, and before the clock starts, one small ping-pong opens the two connections,
 * so that the goodput measured does not include connection set-up. It is not needed for
 * correctness: both ranks sending first at the same instant (a crossed connect) is resolved by
 * the transport's wire-up (docs/transport.md, "Crossed connects"). */
#include "bench_common.h"

#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_WINDOW 16

typedef struct {
    size_t size;
    unsigned long window, max;
    double seconds;
} stream_opts_t;

typedef struct {
    int rank, peer;
    char *sbuf, *rbuf[MAX_WINDOW];
    MPI_Request req[2 * MAX_WINDOW];
    unsigned long bad;      /* messages whose last byte was wrong */
} stream_t;

static int parse_opts(int argc, char **argv, stream_opts_t *o)
{
    unsigned long secs = 10;
    int c;

    *o = (stream_opts_t){ .size = 8u << 20, .window = 4, .max = 1000000, .seconds = 10 };
    while ((c = getopt(argc, argv, "s:W:n:D:")) != -1) {
        int bad = 0;
        switch (c) {
        case 's': bad = bench_parse_size(optarg, &o->size) || o->size > (64u << 20); break;
        case 'W': bad = bench_parse_count(optarg, 1, MAX_WINDOW, &o->window); break;
        case 'n': bad = bench_parse_count(optarg, 1, 100000000, &o->max); break;
        case 'D': bad = bench_parse_count(optarg, 1, 3600, &secs); o->seconds = (double)secs; break;
        default: bad = 1;
        }
        if (bad) {
            fprintf(stderr, "usage: qos_stream [-s SIZE<=64M] [-W WINDOW 1..16] [-n MAX] "
                            "[-D SECONDS 1..3600]\n");
            return -1;
        }
    }
    return 0;
}

static int stream_alloc(stream_t *s, const stream_opts_t *o)
{
    if (MPI_Alloc_mem((MPI_Aint)o->size, MPI_INFO_NULL, &s->sbuf) != MPI_SUCCESS)
        return -1;
    memset(s->sbuf, 0, o->size);
    for (unsigned long i = 0; i < o->window; i++)
        if (!(s->rbuf[i] = malloc(o->size)))
            return -1;
    return 0;
}

static void stream_free(stream_t *s, const stream_opts_t *o)
{
    for (unsigned long i = 0; i < o->window; i++)
        free(s->rbuf[i]);
    if (s->sbuf)
        MPI_Free_mem(s->sbuf);
}

/* Opens both connections before the clock starts (see the top of the file). */
static void open_connections(stream_t *s)
{
    char b = 0;

    if (s->rank == 0) {
        MPI_Send(&b, 1, MPI_BYTE, 1, 1, MPI_COMM_WORLD);
        MPI_Recv(&b, 1, MPI_BYTE, 1, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    } else {
        MPI_Recv(&b, 1, MPI_BYTE, 0, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        MPI_Send(&b, 1, MPI_BYTE, 0, 1, MPI_COMM_WORLD);
    }
}

/* One round: WINDOW messages each way, all posted at once, then waited for. */
static void round_trip(stream_t *s, const stream_opts_t *o, unsigned long round)
{
    int w = (int)o->window, n = (int)o->size;

    for (int i = 0; i < w; i++)
        MPI_Irecv(s->rbuf[i], n, MPI_BYTE, s->peer, 0, MPI_COMM_WORLD, &s->req[i]);
    s->sbuf[n - 1] = (char)round;
    for (int i = 0; i < w; i++)
        MPI_Isend(s->sbuf, n, MPI_BYTE, s->peer, 0, MPI_COMM_WORLD, &s->req[w + i]);
    MPI_Waitall(2 * w, s->req, MPI_STATUSES_IGNORE);
    for (int i = 0; i < w; i++)
        s->bad += s->rbuf[i][n - 1] != (char)round;
}

int main(int argc, char **argv)
{
    stream_opts_t o;
    stream_t s = { 0 };
    int size;

    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &s.rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (parse_opts(argc, argv, &o) < 0 || size != 2 || stream_alloc(&s, &o) < 0) {
        if (s.rank == 0)
            fprintf(stderr, "qos_stream: needs exactly 2 ranks (got %d), valid options and memory\n", size);
        MPI_Abort(MPI_COMM_WORLD, 2);
    }
    s.peer = 1 - s.rank;
    open_connections(&s);
    uint64_t deadline = bench_now_ns() + (uint64_t)(o.seconds * 1e9);
    double t0 = bench_wall_seconds(), bytes = 0;
    unsigned long rounds = 0;
    int more = 1;
    while (more) {
        round_trip(&s, &o, rounds++);
        bytes += 2.0 * (double)o.window * (double)o.size;
        if (s.rank == 0) {
            more = !bench_is_last(rounds - 1, o.max, deadline);
            printf("sample %.3f %.0f\n", bench_wall_seconds(), bytes);
            fflush(stdout);
        }
        MPI_Bcast(&more, 1, MPI_INT, 0, MPI_COMM_WORLD);
    }
    double t1 = bench_wall_seconds();
    unsigned long bad = 0;
    MPI_Reduce(&s.bad, &bad, 1, MPI_UNSIGNED_LONG, MPI_SUM, 0, MPI_COMM_WORLD);
    if (s.rank == 0) {
        printf("{\"program\":\"qos_stream\",\"size\":%zu,\"window\":%lu,\"rounds\":%lu,\"bytes\":%.0f,"
               "\"seconds\":%.3f,\"goodput_mbps\":%.1f,\"corrupt\":%lu,\"t_start\":%.3f,\"t_end\":%.3f}\n",
               o.size, o.window, rounds, bytes, t1 - t0, bytes / (t1 - t0) / 1e6, bad, t0, t1);
        fflush(stdout);
    }
    stream_free(&s, &o);
    MPI_Finalize();
    return bad ? 1 : 0;
}
