/* mpi_check.h - the checks of the mpi-compat test programs: CHECK(cond, fmt, ...) prints
 * "FAILED: rank R: <sentence>" when COND is false (EXPECT(call, class) when CALL does not fail
 * with that error class), OK(fmt, ...) prints "ok: rank R: <what>"
 * (run_mpi.sh fails a job that printed a FAILED line or no ok line), and check_exit() is the
 * program's exit status. Lines are flushed: under mrpc-run stdout is a pipe. */
#ifndef MPI_CHECK_H
#define MPI_CHECK_H

#include <mpi.h>
#include <stdio.h>

static int check_failures;

static inline int check_rank(void)
{
    int init = 0, fin = 0, r = -1;
    MPI_Initialized(&init);
    MPI_Finalized(&fin);
    if (init && !fin)
        MPI_Comm_rank(MPI_COMM_WORLD, &r);
    return r;
}

#define CHECK(cond, ...)                                                                       \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            printf("FAILED: rank %d: line %d: ", check_rank(), __LINE__);                      \
            printf(__VA_ARGS__);                                                               \
            printf("\n");                                                                      \
            fflush(stdout);                                                                    \
            check_failures++;                                                                  \
        }                                                                                      \
    } while (0)

/* CALL must return an error of class CLS. */
#define EXPECT(call, cls)                                                                      \
    do {                                                                                       \
        int rc_ = (call), class_ = rc_;                                                        \
        MPI_Error_class(rc_, &class_);                                                         \
        CHECK(class_ == (cls), "%s returned class %d, not %s (%d)", #call, class_, #cls, cls); \
    } while (0)

#define OK(...)                                                                                \
    do {                                                                                       \
        printf("ok: rank %d: ", check_rank());                                                 \
        printf(__VA_ARGS__);                                                                   \
        printf("\n");                                                                          \
        fflush(stdout);                                                                        \
    } while (0)

static inline int check_exit(void) { return check_failures ? 1 : 0; }

#endif
