/* mpi_fatal.c MODE - an erroneous MPI program: under MPI_ERRORS_ARE_FATAL (the default) the
 * error must end the whole job with a sentence naming it, never hang nor go on.
 *   rank      rank 1 sends to a rank outside MPI_COMM_WORLD
 *   truncate  rank 0 receives 8 ints into room for 2
 *   abort     rank 1 calls MPI_Abort(MPI_COMM_WORLD, 7) while rank 0 waits for a message
 * Prints "FAILED:" if the program gets past the error. */
#include "mpi_check.h"

#include <string.h>

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
    }
    printf("FAILED: rank %d went on after the error (mode '%s')\n", rank, mode);
    MPI_Finalize();
    return 1;
}
