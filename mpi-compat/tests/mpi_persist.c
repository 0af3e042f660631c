/* mpi_persist.c - persistent requests against MPI-3.1 3.9: a ping-pong between rank pairs
 * (r, r ^ 1) over MPI_Send_init/MPI_Recv_init requests reused for many iterations, completed in
 * turn by MPI_Wait, an MPI_Test loop and MPI_Waitall, with a message of several fabric pieces and a
 * derived datatype freed while the requests hold it; MPI_Startall of six requests (one
 * MPI_Ssend_init) completed by each of the Wait/Test family in turn; inactive persistent requests
 * in the Wait/Test family (empty status, MPI_UNDEFINED index); MPI_Request_free of an inactive
 * and of an active one; MPI_Cancel of a started receive; a truncated receive's error and the
 * request's reuse after it; and the error classes of bad arguments (MPI_ERRORS_RETURN): starting a
 * null, a non-persistent or an active request, a request twice in MPI_Startall (none started),
 * bad ranks, tags, counts, datatypes and communicators. Any number of ranks: an odd last rank
 * does the checks on MPI_COMM_SELF only. Built with MPICH's mpicc it passes under mpirun.mpich
 * too, but for two checks marked MRPC_MPI where MPICH differs. */
#include "mpi_check.h"

#include <stdlib.h>
#include <string.h>

#define ITERS   300
#define N       64
#define BIG     (5 * 1024 * 1024 / 4 + 7)   /* ints: more than one 4 MiB piece */
#define LOOP_S  60.0                        /* bound of every Test loop */

static int rank, size, peer;

static int value(int iter, int from, int i) { return iter * 100003 + from * 1009 + i; }

/* Drives *R to completion with MPI_Test, at most LOOP_S seconds. */
static int test_until_done(MPI_Request *r, MPI_Status *st)
{
    int flag = 0, rc = MPI_SUCCESS;
    double t0 = MPI_Wtime();
    while (rc == MPI_SUCCESS && !flag && MPI_Wtime() - t0 < LOOP_S)
        rc = MPI_Test(r, &flag, st);
    CHECK(flag, "an MPI_Test loop did not complete in %.0f s", LOOP_S);
    return rc;
}

/* Completes SEND and RECV, the way chosen by ITER. */
static void complete_pair(MPI_Request *send, MPI_Request *recv, int iter, MPI_Status *rst)
{
    MPI_Request both[2] = { *send, *recv };
    MPI_Status sts[2];
    switch (iter % 3) {
    case 0:
        CHECK(MPI_Wait(send, MPI_STATUS_IGNORE) == MPI_SUCCESS, "MPI_Wait(send)");
        CHECK(MPI_Wait(recv, rst) == MPI_SUCCESS, "MPI_Wait(recv)");
        break;
    case 1:
        CHECK(test_until_done(recv, rst) == MPI_SUCCESS, "MPI_Test(recv)");
        CHECK(test_until_done(send, MPI_STATUS_IGNORE) == MPI_SUCCESS, "MPI_Test(send)");
        break;
    default:
        CHECK(MPI_Waitall(2, both, sts) == MPI_SUCCESS, "MPI_Waitall");
        CHECK(both[0] == *send && both[1] == *recv, "MPI_Waitall changed persistent handles");
        *rst = sts[1];
    }
    CHECK(*send != MPI_REQUEST_NULL && *recv != MPI_REQUEST_NULL,
          "a completed persistent request's handle became MPI_REQUEST_NULL");
}

/* Ping-pong of COUNT ints, ITERS times over the same four requests (rank even starts). */
static void pingpong(int count, int iters, int tag)
{
    int *sbuf = calloc((size_t)count + 1, sizeof(int));
    int *rbuf = calloc((size_t)count + 1, sizeof(int));
    MPI_Request send, recv;
    MPI_Status st;
    int bad = 0;

    CHECK(MPI_Send_init(sbuf, count, MPI_INT, peer, tag, MPI_COMM_WORLD, &send) == MPI_SUCCESS,
          "MPI_Send_init");
    CHECK(MPI_Recv_init(rbuf, count, MPI_INT, peer, tag, MPI_COMM_WORLD, &recv) == MPI_SUCCESS,
          "MPI_Recv_init");
    for (int it = 0; it < iters; it++) {
        for (int i = 0; i < count; i++)
            sbuf[i] = value(it, rank, i);
        memset(rbuf, 0xff, (size_t)count * sizeof(int));
        if (rank % 2 == 0) {
            MPI_Start(&send);
            MPI_Start(&recv);
            complete_pair(&send, &recv, it, &st);
        } else {
            MPI_Start(&recv);
            CHECK(MPI_Wait(&recv, &st) == MPI_SUCCESS, "MPI_Wait(recv)");
            MPI_Start(&send);
            CHECK(MPI_Wait(&send, MPI_STATUS_IGNORE) == MPI_SUCCESS, "MPI_Wait(send)");
        }
        int got = -1;
        MPI_Get_count(&st, MPI_INT, &got);
        CHECK(st.MPI_SOURCE == peer && st.MPI_TAG == tag && got == count,
              "iteration %d: status source %d tag %d count %d, not %d %d %d", it, st.MPI_SOURCE,
              st.MPI_TAG, got, peer, tag, count);
        for (int i = 0; i < count; i++)
            bad += rbuf[i] != value(it, peer, i);
    }
    CHECK(!bad, "%d of %d ints arrived wrong in a ping-pong of %d ints", bad, iters * count, count);
    MPI_Request_free(&send);
    MPI_Request_free(&recv);
    CHECK(send == MPI_REQUEST_NULL && recv == MPI_REQUEST_NULL, "MPI_Request_free left a handle");
    free(sbuf);
    free(rbuf);
    OK("persistent ping-pong of %d ints, %d iterations", count, iters);
}

/* Every other int of 2 * N, through a vector type freed right after the requests are made. */
static void pingpong_vector(void)
{
    int sbuf[2 * N], rbuf[2 * N], bad = 0;
    MPI_Datatype vec;
    MPI_Request r[2];

    MPI_Type_vector(N, 1, 2, MPI_INT, &vec);
    MPI_Type_commit(&vec);
    MPI_Send_init(sbuf, 1, vec, peer, 7, MPI_COMM_WORLD, &r[0]);
    MPI_Recv_init(rbuf, 1, vec, peer, 7, MPI_COMM_WORLD, &r[1]);
    MPI_Type_free(&vec);
    for (int it = 0; it < 20; it++) {
        for (int i = 0; i < 2 * N; i++) {
            sbuf[i] = value(it, rank, i);
            rbuf[i] = -1;
        }
        MPI_Startall(2, r);
        CHECK(MPI_Waitall(2, r, MPI_STATUSES_IGNORE) == MPI_SUCCESS, "MPI_Waitall");
        for (int i = 0; i < 2 * N; i++)
            bad += rbuf[i] != (i % 2 ? -1 : value(it, peer, i));
    }
    CHECK(!bad, "%d ints wrong through a freed vector type", bad);
    MPI_Request_free(&r[0]);
    MPI_Request_free(&r[1]);
    OK("persistent requests keep a freed derived datatype");
}

#define K 6                                 /* MPI_Startall's requests: 3 receives, 3 sends */

/* Completes the K requests of REQS by the method M picks, checking that every one completes
 * exactly once. */
static void complete_all(MPI_Request reqs[K], int m)
{
    int done[K] = { 0 }, n = 0, idx, flag, out, ids[K];
    double t0 = MPI_Wtime();
    MPI_Status sts[K];

    switch (m) {
    case 0:
        CHECK(MPI_Waitall(K, reqs, sts) == MPI_SUCCESS, "MPI_Waitall");
        return;
    case 1:
        flag = 0;
        while (!flag && MPI_Wtime() - t0 < LOOP_S)
            CHECK(MPI_Testall(K, reqs, &flag, sts) == MPI_SUCCESS, "MPI_Testall");
        CHECK(flag, "MPI_Testall never said all done");
        return;
    }
    while (n < K && MPI_Wtime() - t0 < LOOP_S) {
        if (m == 2) {
            CHECK(MPI_Waitany(K, reqs, &idx, MPI_STATUS_IGNORE) == MPI_SUCCESS, "MPI_Waitany");
            out = idx == MPI_UNDEFINED ? 0 : 1;
            ids[0] = idx;
        } else if (m == 3) {
            CHECK(MPI_Testany(K, reqs, &idx, &flag, MPI_STATUS_IGNORE) == MPI_SUCCESS,
                  "MPI_Testany");
            out = flag && idx != MPI_UNDEFINED ? 1 : 0;
            ids[0] = idx;
        } else {
            int rc = m == 4 ? MPI_Waitsome(K, reqs, &out, ids, sts)
                            : MPI_Testsome(K, reqs, &out, ids, sts);
            CHECK(rc == MPI_SUCCESS && out != MPI_UNDEFINED, "MPI_%s: rc %d outcount %d",
                  m == 4 ? "Waitsome" : "Testsome", rc, out);
            if (out == MPI_UNDEFINED)
                break;
        }
        for (int i = 0; i < out; i++) {
            CHECK(ids[i] >= 0 && ids[i] < K && !done[ids[i]], "method %d: index %d twice or "
                  "out of range", m, ids[i]);
            if (ids[i] >= 0 && ids[i] < K)
                done[ids[i]]++;
            n++;
        }
    }
    CHECK(n == K, "method %d completed %d of %d requests", m, n, K);
    CHECK(MPI_Waitany(K, reqs, &idx, MPI_STATUS_IGNORE) == MPI_SUCCESS && idx == MPI_UNDEFINED,
          "MPI_Waitany of inactive persistent requests gave index %d, not MPI_UNDEFINED", idx);
    CHECK(MPI_Testsome(K, reqs, &out, ids, sts) == MPI_SUCCESS && out == MPI_UNDEFINED,
          "MPI_Testsome of inactive persistent requests gave outcount %d", out);
}

static void startall(void)
{
    int sbuf[3][N], rbuf[3][N], bad = 0;
    MPI_Request reqs[K];

    for (int j = 0; j < 3; j++) {
        MPI_Recv_init(rbuf[j], N, MPI_INT, peer, 10 + j, MPI_COMM_WORLD, &reqs[j]);
        if (j == 1)
            MPI_Ssend_init(sbuf[j], N, MPI_INT, peer, 10 + j, MPI_COMM_WORLD, &reqs[3 + j]);
        else
            MPI_Send_init(sbuf[j], N, MPI_INT, peer, 10 + j, MPI_COMM_WORLD, &reqs[3 + j]);
    }
    for (int it = 0; it < 60; it++) {
        for (int j = 0; j < 3; j++)
            for (int i = 0; i < N; i++) {
                sbuf[j][i] = value(it, rank, j * N + i);
                rbuf[j][i] = -1;
            }
        CHECK(MPI_Startall(K, reqs) == MPI_SUCCESS, "MPI_Startall");
        complete_all(reqs, it % 6);
        for (int j = 0; j < 3; j++)
            for (int i = 0; i < N; i++)
                bad += rbuf[j][i] != value(it, peer, j * N + i);
    }
    CHECK(!bad, "%d ints wrong over MPI_Startall", bad);
    for (int i = 0; i < K; i++)
        MPI_Request_free(&reqs[i]);
    OK("MPI_Startall of %d requests, 60 iterations, each of the Wait/Test family", K);
}

/* Freeing an active send: the message still goes, and the receiver gets it. */
static void free_active(void)
{
    int v = 1234 + rank, got = -1;
    MPI_Request r;

    if (rank % 2 == 0) {
        MPI_Send_init(&v, 1, MPI_INT, peer, 20, MPI_COMM_WORLD, &r);
        MPI_Start(&r);
        CHECK(MPI_Request_free(&r) == MPI_SUCCESS && r == MPI_REQUEST_NULL,
              "MPI_Request_free of an active persistent send");
        MPI_Recv(&got, 1, MPI_INT, peer, 21, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    } else {
        MPI_Recv(&got, 1, MPI_INT, peer, 20, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        MPI_Send(&v, 1, MPI_INT, peer, 21, MPI_COMM_WORLD);
    }
    CHECK(got == 1234 + peer, "got %d, not %d, after freeing an active send", got, 1234 + peer);
    OK("an active persistent send freed still arrives");
}

/* On MPI_COMM_SELF: inactive requests in Wait/Test, MPI_PROC_NULL, cancel, a truncated receive
 * and the reuse after it. */
static void self_checks(void)
{
    int one = -1, four[4] = { 1, 2, 3, 4 }, flag = 0;
    MPI_Request r, s;
    MPI_Status st;

    MPI_Comm_set_errhandler(MPI_COMM_SELF, MPI_ERRORS_RETURN);      /* the truncation */
    MPI_Recv_init(&one, 1, MPI_INT, 0, 5, MPI_COMM_SELF, &r);
    st.MPI_SOURCE = 99;
    CHECK(MPI_Wait(&r, &st) == MPI_SUCCESS && st.MPI_SOURCE == MPI_ANY_SOURCE &&
          st.MPI_TAG == MPI_ANY_TAG && r != MPI_REQUEST_NULL,
          "MPI_Wait of an inactive persistent request: source %d", st.MPI_SOURCE);
    CHECK(MPI_Test(&r, &flag, MPI_STATUS_IGNORE) == MPI_SUCCESS && flag,
          "MPI_Test of an inactive persistent request: flag %d", flag);

    /* a message too long for the receive: MPI_ERR_TRUNCATE, then the request works again */
    MPI_Isend(four, 4, MPI_INT, 0, 5, MPI_COMM_SELF, &s);
    MPI_Start(&r);
    int rc = MPI_Wait(&r, &st);
    MPI_Error_class(rc, &rc);
    CHECK(rc == MPI_ERR_TRUNCATE, "a truncated persistent receive returned class %d, not "
          "MPI_ERR_TRUNCATE (%d)", rc, MPI_ERR_TRUNCATE);
    MPI_Wait(&s, MPI_STATUS_IGNORE);
    CHECK(MPI_Start(&r) == MPI_SUCCESS, "MPI_Start after a failed completion");
    MPI_Send(&four[3], 1, MPI_INT, 0, 5, MPI_COMM_SELF);   /* to a posted receive: portable */
    CHECK(MPI_Wait(&r, &st) == MPI_SUCCESS && one == 4, "reuse after truncation: got %d", one);

    /* cancel a started receive nobody sends to, then start it again and complete it */
    MPI_Start(&r);
    CHECK(MPI_Cancel(&r) == MPI_SUCCESS, "MPI_Cancel of a started persistent receive");
    MPI_Wait(&r, &st);
    MPI_Test_cancelled(&st, &flag);
    CHECK(flag, "a cancelled persistent receive is not marked cancelled");
    MPI_Start(&r);
    MPI_Send(&four[1], 1, MPI_INT, 0, 5, MPI_COMM_SELF);
    CHECK(MPI_Wait(&r, &st) == MPI_SUCCESS && one == 2, "after a cancel: got %d", one);
    MPI_Test_cancelled(&st, &flag);
    CHECK(!flag, "a completed receive after a cancelled one says cancelled");
    MPI_Request_free(&r);

    MPI_Recv_init(&one, 1, MPI_INT, MPI_PROC_NULL, 5, MPI_COMM_SELF, &r);
    MPI_Start(&r);
    int count = -1, wrc = MPI_Wait(&r, &st), crc = MPI_Get_count(&st, MPI_INT, &count);
    CHECK(wrc == MPI_SUCCESS && crc == MPI_SUCCESS && count == 0, "a receive from "
          "MPI_PROC_NULL: wait %d, get_count %d, count %d", wrc, crc, count);
#ifdef MRPC_MPI       /* MPI-3.1 3.11's status (MPICH gives a persistent one an empty status) */
    CHECK(st.MPI_SOURCE == MPI_PROC_NULL && st.MPI_TAG == MPI_ANY_TAG, "a receive from "
          "MPI_PROC_NULL: source %d tag %d", st.MPI_SOURCE, st.MPI_TAG);
#endif
    MPI_Request_free(&r);
    OK("inactive requests, truncation, cancel and MPI_PROC_NULL on MPI_COMM_SELF");
}

static void errors(void)
{
    int buf[4] = { 0 }, flag = 0;
    MPI_Request r = MPI_REQUEST_NULL, a[3], q;
    MPI_Status st;

    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_set_errhandler(MPI_COMM_SELF, MPI_ERRORS_RETURN);
    EXPECT(MPI_Start(&r), MPI_ERR_REQUEST);
    EXPECT(MPI_Start(NULL), MPI_ERR_ARG);
    EXPECT(MPI_Startall(-1, a), MPI_ERR_COUNT);
    EXPECT(MPI_Startall(1, &r), MPI_ERR_REQUEST);
    EXPECT(MPI_Request_free(&r), MPI_ERR_REQUEST);
    EXPECT(MPI_Send_init(buf, 1, MPI_INT, size, 0, MPI_COMM_WORLD, &r), MPI_ERR_RANK);
    EXPECT(MPI_Send_init(buf, 1, MPI_INT, MPI_ANY_SOURCE, 0, MPI_COMM_WORLD, &r), MPI_ERR_RANK);
    EXPECT(MPI_Ssend_init(buf, 1, MPI_INT, 0, -5, MPI_COMM_WORLD, &r), MPI_ERR_TAG);
    EXPECT(MPI_Send_init(buf, 1, MPI_INT, 0, MPI_ANY_TAG, MPI_COMM_WORLD, &r), MPI_ERR_TAG);
    EXPECT(MPI_Recv_init(buf, -1, MPI_INT, 0, 0, MPI_COMM_WORLD, &r), MPI_ERR_COUNT);
    EXPECT(MPI_Recv_init(buf, 1, MPI_DATATYPE_NULL, 0, 0, MPI_COMM_WORLD, &r), MPI_ERR_TYPE);
    EXPECT(MPI_Recv_init(buf, 1, MPI_INT, 0, 0, MPI_COMM_NULL, &r), MPI_ERR_COMM);
    CHECK(r == MPI_REQUEST_NULL, "a refused init set the request");

    /* a non-persistent request cannot be started */
    MPI_Irecv(buf, 1, MPI_INT, 0, 9, MPI_COMM_SELF, &q);
    EXPECT(MPI_Start(&q), MPI_ERR_REQUEST);
    MPI_Cancel(&q);
    MPI_Wait(&q, MPI_STATUS_IGNORE);

    /* an active request cannot be started again; nor can MPI_Startall take one twice */
    MPI_Recv_init(&buf[0], 1, MPI_INT, 0, 8, MPI_COMM_SELF, &a[0]);
    MPI_Recv_init(&buf[1], 1, MPI_INT, 0, 8, MPI_COMM_SELF, &a[1]);
    a[2] = a[0];
#ifdef MRPC_MPI                             /* MPICH does not look for duplicates */
    EXPECT(MPI_Startall(3, a), MPI_ERR_REQUEST);
#endif
    CHECK(MPI_Testall(2, a, &flag, MPI_STATUSES_IGNORE) == MPI_SUCCESS && flag,
          "a refused MPI_Startall started some of its requests");
    EXPECT(MPI_Cancel(&a[0]), MPI_ERR_REQUEST);          /* not active (MPICH says so too) */
    EXPECT(MPI_Start(&a[0]), MPI_SUCCESS);
    EXPECT(MPI_Start(&a[0]), MPI_ERR_REQUEST);
    EXPECT(MPI_Startall(2, a), MPI_ERR_REQUEST);
    CHECK(MPI_Test(&a[1], &flag, &st) == MPI_SUCCESS && flag && st.MPI_SOURCE == MPI_ANY_SOURCE,
          "MPI_Startall refused for an active request still started another");
    int v = 77;
    MPI_Send(&v, 1, MPI_INT, 0, 8, MPI_COMM_SELF);
    CHECK(MPI_Wait(&a[0], &st) == MPI_SUCCESS && buf[0] == 77, "the request whose second "
          "start was refused did not complete: got %d", buf[0]);
    MPI_Request_free(&a[0]);
    MPI_Request_free(&a[1]);
    MPI_Comm_set_errhandler(MPI_COMM_SELF, MPI_ERRORS_ARE_FATAL);
    OK("bad arguments return their error classes");
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    peer = rank ^ 1;
    if (peer < size) {
        pingpong(N, ITERS, 1);
        pingpong(0, 10, 2);
        pingpong(BIG, 3, 3);
        pingpong_vector();
        startall();
        free_active();
    }
    self_checks();
    errors();
    MPI_Barrier(MPI_COMM_WORLD);
    MPI_Finalize();
    return check_exit();
}
