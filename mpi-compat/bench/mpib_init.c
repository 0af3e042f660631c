/*
 * mpib_init - start-up: how long MPI_Init takes on each rank (CLOCK_MONOTONIC around the call;
 * average, minimum and maximum over the ranks, in milliseconds), then a hello from every rank
 * with its processor name, gathered to rank 0 and printed in rank order.
 *   mrpc-run -n 4 mpib_init
 */
#define _POSIX_C_SOURCE 200809L
#include <mpi.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void check(int rc, const char *what)
{
    if (rc != MPI_SUCCESS) {
        fprintf(stderr, "mpib_init: %s failed (%d)\n", what, rc);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
}

int main(int argc, char **argv)
{
    double t0 = now_ms(), init_ms, sum = 0, lo = 0, hi = 0;
    int rank, size, len;
    char name[MPI_MAX_PROCESSOR_NAME] = "", *all = NULL;
    check(MPI_Init(&argc, &argv), "MPI_Init");
    init_ms = now_ms() - t0;
    check(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler");
    check(MPI_Comm_rank(MPI_COMM_WORLD, &rank), "MPI_Comm_rank");
    check(MPI_Comm_size(MPI_COMM_WORLD, &size), "MPI_Comm_size");
    check(MPI_Get_processor_name(name, &len), "MPI_Get_processor_name");
    check(MPI_Reduce(&init_ms, &sum, 1, MPI_DOUBLE, MPI_SUM, 0, MPI_COMM_WORLD), "MPI_Reduce");
    check(MPI_Reduce(&init_ms, &lo, 1, MPI_DOUBLE, MPI_MIN, 0, MPI_COMM_WORLD), "MPI_Reduce");
    check(MPI_Reduce(&init_ms, &hi, 1, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD), "MPI_Reduce");
    if (rank == 0 && !(all = malloc((size_t)size * MPI_MAX_PROCESSOR_NAME)))
        MPI_Abort(MPI_COMM_WORLD, 1);
    check(MPI_Gather(name, MPI_MAX_PROCESSOR_NAME, MPI_CHAR, all, MPI_MAX_PROCESSOR_NAME,
                     MPI_CHAR, 0, MPI_COMM_WORLD), "MPI_Gather");
    if (rank == 0) {
        printf("# mpib start-up: MPI_Init on %d ranks\n", size);
        printf("MPI_Init (ms): avg %.2f min %.2f max %.2f\n", sum / size, lo, hi);
        for (int r = 0; r < size; r++)
            printf("hello from rank %d of %d on %s\n", r, size, all + (size_t)r * MPI_MAX_PROCESSOR_NAME);
        printf("# ok: mpib_init: %d ranks\n", size);
        free(all);
    }
    check(MPI_Finalize(), "MPI_Finalize");
    return 0;
}
