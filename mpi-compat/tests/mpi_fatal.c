/* mpi_fatal.c MODE - an erroneous MPI program: under MPI_ERRORS_ARE_FATAL (the default) the
 * error must end the whole job with a sentence naming it, never hang nor go on.
 *   rank      rank 1 sends to a rank outside MPI_COMM_WORLD
 *   truncate  rank 0 receives 8 ints into room for 2
 *   abort     rank 1 calls MPI_Abort(MPI_COMM_WORLD, 7) while rank 0 waits for a message
 *   die       rank 1 is killed (SIGKILL) while rank 0 waits for its message with
 *             MPI_ERRORS_RETURN: the receive must fail within 2 s (rank 0 ignores the SIGTERM
 *             mrpc-run sends when a rank dies, so the library's own detection is what is tested)
 * Prints "FAILED:" if the program gets past the error. */
#include "mpi_check.h"

#include <signal.h>
#include <string.h>
#include <unistd.h>

/* Rank 1 dies; rank 0's receive from it fails, soon. */
static void die(int rank)
{
    int v = 0;
    if (rank == 1) {
        MPI_Send(&v, 1, MPI_INT, 0, 0, MPI_COMM_WORLD);      /* rank 0 is connected to us */
        MPI_Recv(&v, 1, MPI_INT, 0, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        raise(SIGKILL);
    }
    if (rank != 0)
        return;
    signal(SIGTERM, SIG_IGN);
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Recv(&v, 1, MPI_INT, 1, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    MPI_Send(&v, 1, MPI_INT, 1, 0, MPI_COMM_WORLD);
    double t0 = MPI_Wtime();
    int rc = MPI_Recv(&v, 1, MPI_INT, 1, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE), cls = -1;
    double took = MPI_Wtime() - t0;
    MPI_Error_class(rc, &cls);
    if (rc != MPI_SUCCESS && took < 2.0)
        printf("ok: rank 0: a receive from a dead rank failed after %.2f s (class %d)\n", took, cls);
    else
        printf("FAILED: rank 0: the receive from a dead rank returned %d after %.2f s\n", rc, took);
    fflush(stdout);
    _exit(0);                   /* MPI_Finalize would wait for the dead rank */
}

int main(int argc, char **argv)
{
    int rank, size, v[8] = { 0 };
    const char *mode = argc > 1 ? argv[1] : "";

    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (!strcmp(mode, "rank")) {
        if (rank == 1)
            MPI_Send(v, 1, MPI_INT, size + 1, 0, MPI_COMM_WORLD);
        else
            MPI_Recv(v, 1, MPI_INT, 1, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    } else if (!strcmp(mode, "truncate")) {
        if (rank == 1) {
            MPI_Send(v, 8, MPI_INT, 0, 0, MPI_COMM_WORLD);
            MPI_Recv(v, 1, MPI_INT, 0, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE);   /* never comes */
        } else
            MPI_Recv(v, 2, MPI_INT, 1, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    } else if (!strcmp(mode, "abort")) {
        if (rank == 1)
            MPI_Abort(MPI_COMM_WORLD, 7);
        else
            MPI_Recv(v, 1, MPI_INT, 1, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    } else if (!strcmp(mode, "die")) {
        die(rank);
    }
    printf("FAILED: rank %d went on after the error (mode '%s')\n", rank, mode);
    MPI_Finalize();
    return 1;
}
