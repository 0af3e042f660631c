/* op.h - what collectives need from reduction operations: whether an op is defined on a type,
 * applying it to two buffers, and whether it commutes (which algorithms may reorder).
 *
 * Predefined ops are defined on the type classes MPI-3.1 5.9.2 lists (MPI_SUM on integers,
 * floating point and complex, MPI_MAXLOC on the pair types, ...), and on derived types all of
 * whose elements are one such type (as Open MPI and MPICH allow); user ops (MPI_Op_create) on
 * any type. None of these raises an error: callers raise what mpix_op_check() returns. */
#ifndef MPIX_OP_H
#define MPIX_OP_H

#include <mpi.h>
#include <stdbool.h>

/* MPI_SUCCESS; MPI_ERR_OP for a null or freed op or an op/type pair the standard does not
 * define (MPI_SUM on MPI_FLOAT_INT, MPI_BAND on MPI_DOUBLE...); MPI_ERR_TYPE for a bad type. */
int mpix_op_check(MPI_Op op, MPI_Datatype dt);

/* inout[i] = in[i] op inout[i] for COUNT elements of DT; user ops get the call
 * user_fn(in, inout, &count, &dt). */
void mpix_op_apply(MPI_Op op, const void *in, void *inout, int count, MPI_Datatype dt);

bool mpix_op_commutative(MPI_Op op);

/* "MPI_SUM", "a user operation", ... for error messages. */
const char *mpix_op_name(MPI_Op op);

/* A reference held by a pending non-blocking collective, so that MPI_Op_free meanwhile is
 * safe. No-ops on predefined ops. */
void mpix_op_retain(MPI_Op op);
void mpix_op_release(MPI_Op op);

#endif
