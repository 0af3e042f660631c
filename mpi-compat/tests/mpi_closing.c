/* mpi_closing.c - once MPI_Finalize has begun, a rank that finalized and left is no error to a
 * slower one (3 ranks). In a job, a rank that waited long in the program's last collective pings
 * every member; a member that has since finalized and exited answers "gone". Before, that loss
 * failed every collective receive over WORLD, the finalize barrier's included, and the slower
 * rank's MPI_Finalize with it ("world rank 1 is gone", mpi_srun under ASan once). Timing cannot
 * be forced from outside, so rank 2 plays the moment itself (the program links the library's
 * objects to reach them): it posts two collective-context receives from rank 0 (as the barrier
 * does), begins closing (as MPI_Finalize does first), and is told rank 1 is gone. The receive
 * naming rank 0 must wait on, one posted after the loss too, and both must then complete with
 * rank 0's data; a receive naming rank 1 must fail, with the loss in its error. Then all three
 * finalize: rank 2's barrier, never naming rank 1, must succeed. */
#include "core.h"
#include "mpi_check.h"

enum { TAG_GO = 5, TAG_COLL = 77 };

static void rank0(void)
{
    int go = 0, v[2] = { 1234, 5678 };
    MPI_Request r[2];

    MPI_Recv(&go, 1, MPI_INT, 2, TAG_GO, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    CHECK(go == 1, "rank 2's go was %d", go);
    CHECK(mpix_coll_isend(&v[0], 1, MPI_INT, 2, TAG_COLL, MPI_COMM_WORLD, &r[0]) == MPI_SUCCESS &&
          mpix_coll_isend(&v[1], 1, MPI_INT, 2, TAG_COLL + 1, MPI_COMM_WORLD, &r[1]) == MPI_SUCCESS &&
          MPI_Waitall(2, r, MPI_STATUSES_IGNORE) == MPI_SUCCESS, "sending rank 2 its data failed");
}

static void rank2(void)
{
    int v[2] = { 0, 0 }, from1 = 0, flag = 1, go = 1, len = 0;
    char text[MPI_MAX_ERROR_STRING];
    MPI_Request early, late, named;
    MPI_Status st;

    CHECK(mpix_coll_irecv(&v[0], 1, MPI_INT, 0, TAG_COLL, MPI_COMM_WORLD, &early) == MPI_SUCCESS,
          "the first collective receive was refused");
    CHECK(MPI_Irecv(&from1, 1, MPI_INT, 1, 0, MPI_COMM_WORLD, &named) == MPI_SUCCESS,
          "the receive from rank 1 was refused");
    mpix_fabric_closing();
    mpix_match_peer_lost(1, "test: world rank 1 finalized and left");
    CHECK(mpix_coll_irecv(&v[1], 1, MPI_INT, 0, TAG_COLL + 1, MPI_COMM_WORLD, &late) == MPI_SUCCESS,
          "the collective receive posted after the loss was refused");

    CHECK(MPI_Test(&early, &flag, MPI_STATUS_IGNORE) == MPI_SUCCESS && !flag,
          "closing: a collective receive from rank 0 ended when rank 1 left");
    flag = 1;
    CHECK(MPI_Test(&late, &flag, MPI_STATUS_IGNORE) == MPI_SUCCESS && !flag,
          "closing: a collective receive from rank 0 posted after rank 1 left ended at once");
    int rc = MPI_Wait(&named, &st);
    MPI_Error_string(rc, text, &len);
    CHECK(rc != MPI_SUCCESS, "the receive naming the lost rank 1 succeeded");

    MPI_Send(&go, 1, MPI_INT, 0, TAG_GO, MPI_COMM_WORLD);
    CHECK(MPI_Wait(&early, MPI_STATUS_IGNORE) == MPI_SUCCESS && v[0] == 1234,
          "the first collective receive got %d, not 1234", v[0]);
    CHECK(MPI_Wait(&late, MPI_STATUS_IGNORE) == MPI_SUCCESS && v[1] == 5678,
          "the second collective receive got %d, not 5678", v[1]);
    if (!check_failures)
        OK("closing: losing rank 1 failed only the receive naming it (%s)", text);
}

int main(int argc, char **argv)
{
    int rank, size;

    MPI_Init(&argc, &argv);
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    CHECK(size == 3, "run on 3 ranks, not %d", size);
    if (size == 3 && rank == 0)
        rank0();
    else if (size == 3 && rank == 2)
        rank2();
    int rc = MPI_Finalize();
    CHECK(rc == MPI_SUCCESS, "MPI_Finalize failed (%d)", rc);
    if (rc == MPI_SUCCESS)
        OK("MPI_Finalize succeeded");
    return check_exit();
}
