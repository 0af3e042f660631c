/* coll_check.h - argument checks shared by the collectives' MPI_ functions (coll_check.c).
 * Each returns MPI_SUCCESS or the error class mpix_err returned (having raised it). */
#ifndef MPIX_COLL_CHECK_H
#define MPIX_COLL_CHECK_H

#include "coll.h"

/* Initialized, a valid communicator and, for a non-blocking form, a request pointer. */
int coll_check_comm(MPI_Comm comm, MPI_Request *req, bool nonblocking, const char *fn);
int coll_check_root(MPI_Comm comm, int root, const char *fn);
/* A count >= 0 and a valid committed datatype; WHAT says which ("send", "receive", ...). */
int coll_check_data(MPI_Comm comm, int count, MPI_Datatype dt, const char *what, const char *fn);
/* One count per rank, each >= 0, and the arrays present. */
int coll_check_counts(MPI_Comm comm, const int counts[], const int displs[], MPI_Datatype dt,
                      const char *what, const char *fn);
int coll_check_op(MPI_Comm comm, MPI_Op op, MPI_Datatype dt, const char *fn);
int coll_check_not_in_place(MPI_Comm comm, const void *buf, const char *what, const char *fn);

/* Returns from the calling function what a check returned, unless it is MPI_SUCCESS. */
#define TRY(expr)                                                                                \
    do {                                                                                         \
        int rc_ = (expr);                                                                        \
        if (rc_ != MPI_SUCCESS)                                                                  \
            return rc_;                                                                          \
    } while (0)

#endif
