/* mpi_cancel.c - MPI_Cancel against MPI-3.1 3.8.4 (2 ranks or more; ranks 0 and 1 take part):
 * a receive no message matched is cancelled; a send none of which went out (queued behind a
 * 64 MiB one) is cancelled and never arrives; a standard send already handed over completes
 * normally (MPI_Test_cancelled false) and its data arrives; a synchronous send no receive
 * matched is withdrawn at the receiver (cancelled, and the receiver never sees it); one a
 * receive matched completes normally; a synchronous send to oneself is withdrawn; a
 * non-blocking collective cannot be cancelled (MPI_ERR_REQUEST). "Never arrives" is checked
 * after a later message of the same sender arrived, which MPI's order puts behind it. */
#include "mpi_check.h"

#include <stdlib.h>
#include <string.h>

#define BIG (64 << 20)

static int rank, size;

static int cancelled_of(MPI_Request *r)
{
    MPI_Status st;
    int flag = -1;
    MPI_Wait(r, &st);
    MPI_Test_cancelled(&st, &flag);
    return flag;
}

/* After the sentinel (tag 99) from rank 0: was a message with TAG left unreceived? */
static int arrived_before_sentinel(int tag)
{
    int flag = 1, x;
    MPI_Recv(&x, 1, MPI_INT, 0, 99, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    MPI_Iprobe(0, tag, MPI_COMM_WORLD, &flag, MPI_STATUS_IGNORE);
    return flag;
}

static void sentinel(void)
{
    int x = 0;
    MPI_Send(&x, 1, MPI_INT, 1, 99, MPI_COMM_WORLD);
}

static void receive(void)
{
    MPI_Request r;
    int v;
    if (rank != 0)
        return;
    MPI_Irecv(&v, 1, MPI_INT, 1, 5, MPI_COMM_WORLD, &r);
    MPI_Cancel(&r);
    CHECK(cancelled_of(&r) == 1 && r == MPI_REQUEST_NULL, "a posted receive was not cancelled");
    OK("MPI_Cancel of a receive");
}

/* The small send waits behind 64 MiB (at most 8 pieces of 4 MiB out at a time): taken back. */
static void queued_send(void)
{
    if (rank == 0) {
        char *big = malloc(BIG);
        int small[4] = { 1, 2, 3, 4 };
        MPI_Request rb, rs;
        memset(big, 7, BIG);
        MPI_Isend(big, BIG, MPI_BYTE, 1, 10, MPI_COMM_WORLD, &rb);
        MPI_Isend(small, 4, MPI_INT, 1, 11, MPI_COMM_WORLD, &rs);
        MPI_Cancel(&rs);
        CHECK(cancelled_of(&rs) == 1, "a send queued behind 64 MiB was not cancelled");
        MPI_Wait(&rb, MPI_STATUS_IGNORE);
        sentinel();
        free(big);
        OK("MPI_Cancel of a send still queued");
    } else if (rank == 1) {
        char *big = malloc(BIG);
        MPI_Recv(big, BIG, MPI_BYTE, 0, 10, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        CHECK(big[0] == 7 && big[BIG - 1] == 7, "the 64 MiB message is wrong");
        CHECK(!arrived_before_sentinel(11), "the cancelled send arrived");
        free(big);
    }
}

/* A standard send handed over: it completes as if not cancelled, and arrives. */
static void started_send(void)
{
    if (rank == 0) {
        int v = 42;
        MPI_Request r;
        MPI_Isend(&v, 1, MPI_INT, 1, 12, MPI_COMM_WORLD, &r);
        MPI_Cancel(&r);
        CHECK(cancelled_of(&r) == 0, "a send already out says it was cancelled");
        OK("MPI_Cancel of a send already out: completes, not cancelled");
    } else if (rank == 1) {
        int v = 0;
        MPI_Recv(&v, 1, MPI_INT, 0, 12, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        CHECK(v == 42, "the uncancelled send brought %d", v);
    }
}

/* A synchronous send out and unmatched: withdrawn at the receiver, which is waiting for the
 * sentinel meanwhile (so it serves the cancel request). */
static void unmatched_ssend(void)
{
    if (rank == 0) {
        int v = 43;
        MPI_Request r;
        MPI_Issend(&v, 1, MPI_INT, 1, 13, MPI_COMM_WORLD, &r);
        MPI_Cancel(&r);
        CHECK(cancelled_of(&r) == 1, "an unmatched synchronous send was not cancelled");
        sentinel();
        OK("MPI_Cancel of an unmatched synchronous send");
    } else if (rank == 1) {
        CHECK(!arrived_before_sentinel(13), "the withdrawn synchronous send is still there");
    }
}

/* A synchronous send whose receive was posted first: matched on arrival, so not cancelled. */
static void matched_ssend(void)
{
    if (rank == 0) {
        int v = 44, ready;
        MPI_Request r;
        MPI_Recv(&ready, 1, MPI_INT, 1, 14, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        MPI_Issend(&v, 1, MPI_INT, 1, 15, MPI_COMM_WORLD, &r);
        MPI_Cancel(&r);
        CHECK(cancelled_of(&r) == 0, "a matched synchronous send says it was cancelled");
        OK("MPI_Cancel of a matched synchronous send: completes, not cancelled");
    } else if (rank == 1) {
        int v = 0, ready = 1;
        MPI_Request r;
        MPI_Irecv(&v, 1, MPI_INT, 0, 15, MPI_COMM_WORLD, &r);
        MPI_Send(&ready, 1, MPI_INT, 0, 14, MPI_COMM_WORLD);
        MPI_Wait(&r, MPI_STATUS_IGNORE);
        CHECK(v == 44, "the matched synchronous send brought %d", v);
    }
}

static void self_ssend(void)
{
    int v = 45, flag = 1;
    MPI_Request r;
    MPI_Issend(&v, 1, MPI_INT, rank, 16, MPI_COMM_WORLD, &r);
    MPI_Cancel(&r);
    CHECK(cancelled_of(&r) == 1, "a synchronous send to oneself was not cancelled");
    MPI_Iprobe(rank, 16, MPI_COMM_WORLD, &flag, MPI_STATUS_IGNORE);
    CHECK(!flag, "the withdrawn message to oneself is still there");
    OK("MPI_Cancel of a synchronous send to oneself");
}

static void collective(void)
{
    MPI_Request r;
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Ibarrier(MPI_COMM_WORLD, &r);
    int rc = MPI_Cancel(&r);
    CHECK(rc == MPI_ERR_REQUEST, "cancelling a collective returned %d", rc);
    MPI_Wait(&r, MPI_STATUS_IGNORE);
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_ARE_FATAL);
    OK("a collective cannot be cancelled");
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    CHECK(size >= 2, "needs 2 ranks, has %d", size);
    if (size >= 2) {
        receive();
        queued_send();
        started_send();
        unmatched_ssend();
        matched_ssend();
    }
    self_ssend();
    collective();
    MPI_Finalize();
    return check_exit();
}
