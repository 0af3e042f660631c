/* mpi_p2p.c - point to point under mrpc-run (2 or more ranks): ping-pong at sizes from 0 B to
 * 64 MiB, a ring, wildcard receives, MPI's non-overtaking order, MPI_ERR_TRUNCATE, Ssend's
 * synchrony, Probe/Iprobe with Get_count, Cancel of a receive, Waitany/Waitsome/Testall,
 * Sendrecv(_replace), sends to self and to MPI_PROC_NULL, and a non-contiguous datatype. Every
 * rank checks what it received and prints ok:/FAILED: lines (mpi_check.h). */
#include "mpi_check.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int rank, size;
static MPI_Comm sync_comm;      /* a duplicate of WORLD: its messages never meet the tests' */

/* Every rank finished the previous section before any starts the next (no MPI_Barrier here:
 * that is the collectives' part). */
static void step(void)
{
    int token = 0;
    if (rank == 0) {
        for (int i = 1; i < size; i++)
            MPI_Recv(&token, 1, MPI_INT, i, 0, sync_comm, MPI_STATUS_IGNORE);
        for (int i = 1; i < size; i++)
            MPI_Send(&token, 1, MPI_INT, i, 1, sync_comm);
    } else {
        MPI_Send(&token, 1, MPI_INT, 0, 0, sync_comm);
        MPI_Recv(&token, 1, MPI_INT, 0, 1, sync_comm, MPI_STATUS_IGNORE);
    }
}

static void pause_ms(int ms)
{
    struct timespec t = { ms / 1000, (long)(ms % 1000) * 1000000L };
    nanosleep(&t, NULL);
}

static unsigned char pattern(size_t i, int seed) { return (unsigned char)(i * 31u + (unsigned)seed * 7u); }

static void fill(unsigned char *b, size_t n, int seed)
{
    for (size_t i = 0; i < n; i++)
        b[i] = pattern(i, seed);
}

static size_t first_bad(const unsigned char *b, size_t n, int seed)
{
    for (size_t i = 0; i < n; i++)
        if (b[i] != pattern(i, seed))
            return i;
    return n;
}

/* Rank 0 and 1: each size goes there and back, checked byte for byte at both ends. The sizes
 * around 256 KiB and 4 MiB are one piece, one piece and a byte, and several pieces to a rank of
 * the same node and of another one (fabric.c). */
static void ping_pong(void)
{
    static const size_t sizes[] = { 0, 1, 64, 4096, 65536, (256u << 10) - 1, 256u << 10,
                                    (256u << 10) + 1, 1u << 20, (1u << 20) + 3, 4u << 20,
                                    (4u << 20) + 1, 64u << 20 };
    unsigned char *buf = malloc(64u << 20);

    CHECK(buf, "no memory");
    for (size_t k = 0; buf && k < sizeof sizes / sizeof sizes[0] && rank < 2; k++) {
        size_t n = sizes[k];
        MPI_Status st;
        if (rank == 0) {
            fill(buf, n, (int)k);
            MPI_Send(buf, (int)n, MPI_BYTE, 1, 10 + (int)k, MPI_COMM_WORLD);
            memset(buf, 0, n);
            MPI_Recv(buf, (int)n, MPI_BYTE, 1, 20 + (int)k, MPI_COMM_WORLD, &st);
            CHECK(first_bad(buf, n, (int)k + 1) == n, "pong of %zu bytes wrong at byte %zu", n,
                  first_bad(buf, n, (int)k + 1));
        } else {
            MPI_Recv(buf, (int)n, MPI_BYTE, 0, 10 + (int)k, MPI_COMM_WORLD, &st);
            int count;
            MPI_Get_count(&st, MPI_BYTE, &count);
            CHECK((size_t)count == n && st.MPI_SOURCE == 0 && st.MPI_TAG == 10 + (int)k,
                  "ping of %zu bytes: count %d source %d tag %d", n, count, st.MPI_SOURCE, st.MPI_TAG);
            CHECK(first_bad(buf, n, (int)k) == n, "ping of %zu bytes wrong at byte %zu", n,
                  first_bad(buf, n, (int)k));
            fill(buf, n, (int)k + 1);
            MPI_Send(buf, (int)n, MPI_BYTE, 0, 20 + (int)k, MPI_COMM_WORLD);
        }
    }
    free(buf);
    if (rank < 2)
        OK("ping-pong 0 B to 64 MiB, around the piece sizes");
}

/* A token goes round twice, each rank adding its rank. */
static void ring(void)
{
    int token = 0, next = (rank + 1) % size, prev = (rank + size - 1) % size;

    for (int lap = 0; lap < 2; lap++) {
        if (rank == 0) {
            MPI_Send(&token, 1, MPI_INT, next, 5, MPI_COMM_WORLD);
            MPI_Recv(&token, 1, MPI_INT, prev, 5, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        } else {
            MPI_Recv(&token, 1, MPI_INT, prev, 5, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            token += rank;
            MPI_Send(&token, 1, MPI_INT, next, 5, MPI_COMM_WORLD);
        }
    }
    if (rank == 0)
        CHECK(token == size * (size - 1), "the ring's token is %d, not %d", token, size * (size - 1));
    OK("ring");
}

/* Every other rank sends rank 0 two messages; rank 0 takes them with wildcards. */
static void wildcards(void)
{
    if (rank != 0) {
        int v[2] = { rank, 100 + rank };
        MPI_Send(&v[0], 1, MPI_INT, 0, 7, MPI_COMM_WORLD);
        MPI_Send(&v[1], 1, MPI_INT, 0, 8 + rank, MPI_COMM_WORLD);
        return;
    }
    int seen_first = 0, seen_second = 0;
    for (int i = 0; i < 2 * (size - 1); i++) {
        int v;
        MPI_Status st;
        MPI_Recv(&v, 1, MPI_INT, MPI_ANY_SOURCE, i < size - 1 ? 7 : MPI_ANY_TAG, MPI_COMM_WORLD, &st);
        if (st.MPI_TAG == 7) {
            CHECK(v == st.MPI_SOURCE, "tag 7 from %d carried %d", st.MPI_SOURCE, v);
            seen_first++;
        } else {
            CHECK(v == 100 + st.MPI_SOURCE && st.MPI_TAG == 8 + st.MPI_SOURCE,
                  "tag %d from %d carried %d", st.MPI_TAG, st.MPI_SOURCE, v);
            seen_second++;
        }
    }
    CHECK(seen_first == size - 1 && seen_second == size - 1, "wildcards saw %d and %d messages",
          seen_first, seen_second);
    OK("wildcard receives (ANY_SOURCE, ANY_TAG)");
}

/* 1000 messages from rank 1 arrive in the order sent, with ANY_TAG and with a tag each. */
static void ordering(void)
{
    enum { N = 1000 };
    if (rank == 1) {
        MPI_Request r[N];
        int v[N];
        for (int i = 0; i < N; i++) {
            v[i] = i;
            MPI_Isend(&v[i], 1, MPI_INT, 0, i % 3, MPI_COMM_WORLD, &r[i]);
        }
        MPI_Waitall(N, r, MPI_STATUSES_IGNORE);
    } else if (rank == 0) {
        int last = -1, bad = 0;
        for (int i = 0; i < N; i++) {
            int v;
            MPI_Recv(&v, 1, MPI_INT, 1, MPI_ANY_TAG, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            bad += v != last + 1;
            last = v;
        }
        CHECK(!bad, "%d of %d messages overtook another", bad, N);
    }
    /* A small message does not overtake a large one sent before it (pieces vs one frame). */
    enum { BIG = 9 << 20 };
    char *big = malloc(BIG);
    if (rank == 1) {
        MPI_Request r[2];
        int small = 77;
        memset(big, 5, BIG);
        MPI_Isend(big, BIG, MPI_BYTE, 0, 1, MPI_COMM_WORLD, &r[0]);
        MPI_Isend(&small, 1, MPI_INT, 0, 2, MPI_COMM_WORLD, &r[1]);
        MPI_Waitall(2, r, MPI_STATUSES_IGNORE);
    } else if (rank == 0) {
        MPI_Status st;
        int count = 0;
        MPI_Probe(1, MPI_ANY_TAG, MPI_COMM_WORLD, &st);
        MPI_Get_count(&st, MPI_BYTE, &count);
        CHECK(st.MPI_TAG == 1 && count == BIG, "the first message probed is tag %d of %d bytes",
              st.MPI_TAG, count);
        MPI_Recv(big, BIG, MPI_BYTE, 1, MPI_ANY_TAG, MPI_COMM_WORLD, &st);
        CHECK(st.MPI_TAG == 1 && big[BIG - 1] == 5, "the 9 MiB message came as tag %d", st.MPI_TAG);
        MPI_Recv(&count, 1, MPI_INT, 1, MPI_ANY_TAG, MPI_COMM_WORLD, &st);
        CHECK(st.MPI_TAG == 2 && count == 77, "the small message came as tag %d", st.MPI_TAG);
    }
    free(big);
    if (rank < 2)
        OK("non-overtaking order of %d messages", N);
}

/* A receive smaller than its message: MPI_ERR_TRUNCATE, with ERRORS_RETURN. */
static void truncation(void)
{
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    if (rank == 1) {
        int v[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
        MPI_Send(v, 8, MPI_INT, 0, 30, MPI_COMM_WORLD);
    } else if (rank == 0) {
        int v[4] = { 0 }, cls = -1;
        MPI_Status st;
        int rc = MPI_Recv(v, 4, MPI_INT, 1, 30, MPI_COMM_WORLD, &st);
        MPI_Error_class(rc, &cls);
        CHECK(cls == MPI_ERR_TRUNCATE, "a truncated receive returned %d (class %d)", rc, cls);
        CHECK(v[0] == 1 && v[3] == 4, "the truncated receive's buffer holds %d..%d", v[0], v[3]);
        char text[MPI_MAX_ERROR_STRING];
        int len;
        MPI_Error_string(rc, text, &len);
        CHECK(len > 0 && strstr(text, "truncat"), "MPI_Error_string says '%s'", text);
    }
    /* A message of several pieces into a receive that holds one and a bit: the error, the bytes
     * that fit, and the message after it intact (the rest of the cut one is dropped). */
    enum { LONG = (1 << 20) + 5, SHORT = (300 << 10) };
    unsigned char *b = malloc(LONG);
    CHECK(b, "no memory");
    if (b && rank == 1) {
        fill(b, LONG, 3);
        MPI_Send(b, LONG, MPI_BYTE, 0, 31, MPI_COMM_WORLD);
        MPI_Send(b, 100, MPI_BYTE, 0, 32, MPI_COMM_WORLD);
    } else if (b && rank == 0) {
        MPI_Status st;
        int cls = -1, count = -1;
        memset(b, 0, LONG);
        MPI_Error_class(MPI_Recv(b, SHORT, MPI_BYTE, 1, 31, MPI_COMM_WORLD, &st), &cls);
        CHECK(cls == MPI_ERR_TRUNCATE, "1 MiB into %d bytes: class %d", SHORT, cls);
        CHECK(first_bad(b, SHORT, 3) == SHORT && b[SHORT] == 0,
              "1 MiB into %d bytes: wrong at byte %zu, or written past the receive", SHORT,
              first_bad(b, SHORT, 3));
        CHECK(MPI_Recv(b, 100, MPI_BYTE, 1, 32, MPI_COMM_WORLD, &st) == MPI_SUCCESS &&
              MPI_Get_count(&st, MPI_BYTE, &count) == MPI_SUCCESS && count == 100 &&
              first_bad(b, 100, 3) == 100, "the message after the cut one: %d bytes", count);
    }
    free(b);
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_ARE_FATAL);
    if (rank < 2)
        OK("MPI_ERR_TRUNCATE, also of a message of several pieces");
}

/* Ssend does not complete before the receive is posted (rank 1 posts it 300 ms late). */
static void ssend(void)
{
    int v = 42;
    if (rank == 0) {
        MPI_Request r;
        int flag = 0;
        double t0 = MPI_Wtime();
        MPI_Issend(&v, 1, MPI_INT, 1, 40, MPI_COMM_WORLD, &r);
        while (MPI_Wtime() - t0 < 0.15 && !flag) {
            MPI_Test(&r, &flag, MPI_STATUS_IGNORE);
            pause_ms(10);
        }
        CHECK(!flag, "MPI_Issend completed before the receive was posted");
        if (!flag)
            MPI_Wait(&r, MPI_STATUS_IGNORE);
        t0 = MPI_Wtime();
        MPI_Ssend(&v, 1, MPI_INT, 1, 41, MPI_COMM_WORLD);
        CHECK(MPI_Wtime() - t0 > 0.2, "MPI_Ssend returned after %.3f s, before the receive",
              MPI_Wtime() - t0);
    } else if (rank == 1) {
        pause_ms(300);
        MPI_Recv(&v, 1, MPI_INT, 0, 40, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        pause_ms(300);
        MPI_Recv(&v, 1, MPI_INT, 0, 41, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        CHECK(v == 42, "Ssend's value is %d", v);
    }
    if (rank < 2)
        OK("MPI_Ssend and MPI_Issend wait for the receive");
}

/* Probe sees a message's source, tag and size before it is received. */
static void probe(void)
{
    if (rank == 1) {
        double d[5] = { 1, 2, 3, 4, 5 };
        MPI_Send(d, 5, MPI_DOUBLE, 0, 50, MPI_COMM_WORLD);
    } else if (rank == 0) {
        MPI_Status st;
        int flag = 0, count = -1;
        MPI_Iprobe(1, 51, MPI_COMM_WORLD, &flag, &st);
        CHECK(!flag, "MPI_Iprobe found a message of tag 51 nobody sent");
        MPI_Probe(MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD, &st);
        MPI_Get_count(&st, MPI_DOUBLE, &count);
        CHECK(st.MPI_SOURCE == 1 && st.MPI_TAG == 50 && count == 5,
              "MPI_Probe: source %d tag %d count %d", st.MPI_SOURCE, st.MPI_TAG, count);
        MPI_Get_count(&st, MPI_INT64_T, &count);
        CHECK(count == 5, "MPI_Get_count in MPI_INT64_T: %d", count);
        MPI_Iprobe(1, 50, MPI_COMM_WORLD, &flag, &st);
        CHECK(flag, "MPI_Iprobe does not see the probed message");
        double d[5];
        MPI_Recv(d, 5, MPI_DOUBLE, st.MPI_SOURCE, st.MPI_TAG, MPI_COMM_WORLD, &st);
        CHECK(d[4] == 5.0, "the probed message holds %g", d[4]);
    }
    if (rank < 2)
        OK("MPI_Probe, MPI_Iprobe, MPI_Get_count");
}

/* A receive nothing matches is cancelled; a later message goes to the next receive. */
static void cancel(void)
{
    if (rank == 0) {
        MPI_Request r;
        MPI_Status st;
        int v = -1, cancelled = 0;
        MPI_Irecv(&v, 1, MPI_INT, 1, 60, MPI_COMM_WORLD, &r);
        MPI_Cancel(&r);
        MPI_Wait(&r, &st);
        MPI_Test_cancelled(&st, &cancelled);
        CHECK(cancelled && r == MPI_REQUEST_NULL, "the receive was not cancelled");
        MPI_Send(&v, 0, MPI_INT, 1, 61, MPI_COMM_WORLD);    /* now rank 1 may send */
        MPI_Recv(&v, 1, MPI_INT, 1, 60, MPI_COMM_WORLD, &st);
        CHECK(v == 7, "after the cancel, the message holds %d", v);
        MPI_Test_cancelled(&st, &cancelled);
        CHECK(!cancelled, "a completed receive says it was cancelled");
    } else if (rank == 1) {
        int v = 7;
        MPI_Recv(&v, 0, MPI_INT, 0, 61, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        v = 7;
        MPI_Send(&v, 1, MPI_INT, 0, 60, MPI_COMM_WORLD);
    }
    if (rank < 2)
        OK("MPI_Cancel of a receive");
}

/* Rank 0 posts receives from every other rank and takes them with Waitany, then Waitsome. */
static void wait_some_any(void)
{
    enum { K = 4 };
    if (rank != 0) {
        for (int round = 0; round < 2; round++)
            for (int k = 0; k < K; k++) {
                int v = rank * 100 + k;
                MPI_Send(&v, 1, MPI_INT, 0, 70 + round, MPI_COMM_WORLD);
            }
        return;
    }
    int n = (size - 1) * K, *v = calloc((size_t)n, sizeof(int)), *idx = calloc((size_t)n, sizeof(int));
    MPI_Request *r = calloc((size_t)n, sizeof(MPI_Request));
    MPI_Status *st = calloc((size_t)n, sizeof(MPI_Status));
    for (int round = 0; round < 2; round++) {
        long sum = 0, want = 0;
        for (int i = 0; i < n; i++) {
            MPI_Irecv(&v[i], 1, MPI_INT, 1 + i / K, 70 + round, MPI_COMM_WORLD, &r[i]);
            want += (1 + i / K) * 100 + i % K;
        }
        int done = 0;
        while (done < n) {
            if (round == 0) {
                int i;
                MPI_Waitany(n, r, &i, &st[0]);
                CHECK(i >= 0 && i < n && r[i] == MPI_REQUEST_NULL && st[0].MPI_SOURCE == 1 + i / K,
                      "MPI_Waitany gave index %d source %d", i, st[0].MPI_SOURCE);
                sum += v[i];
                done++;
            } else {
                int out = 0;
                MPI_Waitsome(n, r, &out, idx, st);
                CHECK(out >= 1, "MPI_Waitsome completed %d", out);
                for (int j = 0; j < out; j++)
                    sum += v[idx[j]];
                done += out > 0 ? out : n;
            }
        }
        CHECK(sum == want, "round %d: the values add up to %ld, not %ld", round, sum, want);
        int i, flag;
        MPI_Waitany(n, r, &i, MPI_STATUS_IGNORE);
        CHECK(i == MPI_UNDEFINED, "MPI_Waitany over null requests gave %d", i);
        MPI_Testall(n, r, &flag, MPI_STATUSES_IGNORE);
        CHECK(flag, "MPI_Testall over null requests says not done");
    }
    free(v);
    free(idx);
    free(r);
    free(st);
    OK("MPI_Waitany, MPI_Waitsome, MPI_Testall");
}

/* Each rank exchanges with its neighbours; replace swaps in place. */
static void sendrecv(void)
{
    int next = (rank + 1) % size, prev = (rank + size - 1) % size, got = -1, mine = rank;
    MPI_Status st;

    MPI_Sendrecv(&mine, 1, MPI_INT, next, 80, &got, 1, MPI_INT, prev, 80, MPI_COMM_WORLD, &st);
    CHECK(got == prev && st.MPI_SOURCE == prev, "MPI_Sendrecv got %d from %d", got, st.MPI_SOURCE);
    int v[3] = { rank, rank, rank };
    MPI_Sendrecv_replace(v, 3, MPI_INT, next, 81, prev, 81, MPI_COMM_WORLD, &st);
    CHECK(v[0] == prev && v[2] == prev, "MPI_Sendrecv_replace holds %d", v[0]);
    /* Pairs exchange 32 MiB both ways at once: flow control on both sides, no deadlock. */
    enum { BOTH = 32 << 20 };
    int partner = rank ^ 1;
    if (partner < size) {
        unsigned char *out = malloc(BOTH), *in = malloc(BOTH);
        fill(out, BOTH, rank);
        MPI_Sendrecv(out, BOTH, MPI_BYTE, partner, 82, in, BOTH, MPI_BYTE, partner, 82,
                     MPI_COMM_WORLD, &st);
        CHECK(first_bad(in, BOTH, partner) == BOTH, "32 MiB from %d wrong at byte %zu", partner,
              first_bad(in, BOTH, partner));
        free(out);
        free(in);
    }
    OK("MPI_Sendrecv (32 MiB both ways), MPI_Sendrecv_replace");
}

/* To self (before the receive is posted) and to MPI_PROC_NULL. */
static void self_and_null(void)
{
    int v = rank + 1000, got = -1;
    MPI_Status st;
    MPI_Request r;

    MPI_Isend(&v, 1, MPI_INT, rank, 90, MPI_COMM_WORLD, &r);
    MPI_Recv(&got, 1, MPI_INT, rank, 90, MPI_COMM_WORLD, &st);
    MPI_Wait(&r, MPI_STATUS_IGNORE);
    CHECK(got == v && st.MPI_SOURCE == rank, "a message to self holds %d", got);
    MPI_Send(&v, 1, MPI_INT, MPI_PROC_NULL, 91, MPI_COMM_WORLD);
    MPI_Recv(&got, 1, MPI_INT, MPI_PROC_NULL, 91, MPI_COMM_WORLD, &st);
    int count = -1;
    MPI_Get_count(&st, MPI_INT, &count);
    CHECK(st.MPI_SOURCE == MPI_PROC_NULL && st.MPI_TAG == MPI_ANY_TAG && count == 0,
          "a receive from MPI_PROC_NULL: source %d tag %d count %d", st.MPI_SOURCE, st.MPI_TAG, count);
    MPI_Request n = MPI_REQUEST_NULL;
    MPI_Wait(&n, &st);
    /* A synchronous send to self completes once the receive is posted; a freed request still
     * delivers its message; MPI_Testany/Testsome see completions. */
    MPI_Request rs[2];
    int flag = 1, idx = -1, out = -1, ids[2];
    MPI_Issend(&v, 1, MPI_INT, rank, 92, MPI_COMM_WORLD, &rs[0]);
    MPI_Test(&rs[0], &flag, MPI_STATUS_IGNORE);
    CHECK(!flag, "MPI_Issend to self completed before its receive was posted");
    MPI_Irecv(&got, 1, MPI_INT, rank, 92, MPI_COMM_WORLD, &rs[1]);
    MPI_Testany(2, rs, &idx, &flag, &st);
    CHECK(flag && idx >= 0, "MPI_Testany found nothing done (flag %d index %d)", flag, idx);
    MPI_Waitsome(2, rs, &out, ids, MPI_STATUSES_IGNORE);
    CHECK(out == 1 && rs[0] == MPI_REQUEST_NULL && rs[1] == MPI_REQUEST_NULL,
          "MPI_Waitsome completed %d", out);
    MPI_Testsome(2, rs, &out, ids, MPI_STATUSES_IGNORE);
    CHECK(out == MPI_UNDEFINED, "MPI_Testsome over null requests gave %d", out);
    MPI_Isend(&v, 1, MPI_INT, rank, 93, MPI_COMM_WORLD, &rs[0]);
    MPI_Request_free(&rs[0]);
    got = -1;
    MPI_Recv(&got, 1, MPI_INT, rank, 93, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    CHECK(rs[0] == MPI_REQUEST_NULL && got == v, "a freed send delivered %d", got);
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    int cls = -1;
    MPI_Isend(&v, 1, MPI_INT, rank, 94, MPI_COMM_WORLD, &rs[0]);    /* delivered at once */
    MPI_Error_class(MPI_Cancel(&rs[0]), &cls);
    CHECK(cls == MPI_SUCCESS, "cancelling a send is class %d, not MPI_SUCCESS", cls);
    MPI_Wait(&rs[0], &st);
    MPI_Test_cancelled(&st, &flag);
    CHECK(!flag, "a send to self already delivered says it was cancelled");
    got = -1;
    MPI_Recv(&got, 1, MPI_INT, rank, 94, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    CHECK(got == v, "the uncancelled send to self brought %d", got);
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_ARE_FATAL);
    OK("send to self (Issend, Testany, Waitsome, Testsome, Request_free), MPI_PROC_NULL");
}

/* A column of a 4x4 matrix (MPI_Type_vector) goes from rank 1 to rank 0's row. */
static void noncontig(void)
{
    MPI_Datatype column;
    MPI_Type_vector(4, 1, 4, MPI_INT, &column);
    MPI_Type_commit(&column);
    if (rank == 1) {
        int m[16];
        for (int i = 0; i < 16; i++)
            m[i] = i;
        MPI_Send(m, 1, column, 0, 95, MPI_COMM_WORLD);
    } else if (rank == 0) {
        int row[4] = { -1, -1, -1, -1 }, m[16] = { 0 };
        MPI_Recv(row, 4, MPI_INT, 1, 95, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        CHECK(row[0] == 0 && row[1] == 4 && row[2] == 8 && row[3] == 12,
              "the column arrived as %d %d %d %d", row[0], row[1], row[2], row[3]);
        MPI_Send(row, 4, MPI_INT, 1, 96, MPI_COMM_WORLD);
        (void)m;
    }
    if (rank == 1) {
        int m[16] = { 0 };
        MPI_Recv(m, 1, column, 0, 96, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        CHECK(m[0] == 0 && m[4] == 4 && m[8] == 8 && m[12] == 12 && m[1] == 0,
              "the row landed as a column: %d %d %d %d", m[0], m[4], m[8], m[12]);
    }
    MPI_Type_free(&column);
    if (rank < 2)
        OK("a non-contiguous datatype (MPI_Type_vector) both ways");
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (size < 2) {
        printf("FAILED: mpi_p2p needs 2 ranks or more\n");
        MPI_Finalize();
        return 1;
    }
    MPI_Comm_dup(MPI_COMM_WORLD, &sync_comm);
    ping_pong();
    step();
    ring();
    step();
    wildcards();
    step();
    ordering();
    step();
    truncation();
    step();
    ssend();
    step();
    probe();
    step();
    cancel();
    step();
    wait_some_any();
    step();
    sendrecv();
    step();
    self_and_null();
    step();
    noncontig();
    step();
    MPI_Comm_free(&sync_comm);
    MPI_Finalize();
    return check_exit();
}
