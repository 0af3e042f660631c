/* op_api.c - the MPI functions of reduction operations: MPI_Op_create, MPI_Op_free,
 * MPI_Op_commutative and MPI_Reduce_local (one rank's reduction, the building block collectives
 * use and tests call directly).
 *
 * Errors are raised on MPI_COMM_WORLD through mpix_err; a user op freed while a non-blocking
 * collective still holds it lives until that releases it (op_apply.c). */
#include "op_impl.h"
#include "mpi_impl.h"

#define WORLD MPI_COMM_WORLD

static int bad_op(const char *fn, MPI_Op op)
{
    return mpix_err(WORLD, MPI_ERR_OP, "%s: the operation is null or was freed; pass a "
                    "predefined one or one from MPI_Op_create.", fn);
}

int MPI_Op_create(MPI_User_function *user_fn, int commute, MPI_Op *op)
{
    const char *fn = "MPI_Op_create";

    if (!user_fn || !op)
        return mpix_err(WORLD, MPI_ERR_ARG, "%s: %s is NULL.", fn,
                        user_fn ? "op" : "the user function");
    *op = mpix_op_new(user_fn, commute != 0);
    if (!*op)
        return mpix_err(WORLD, MPI_ERR_INTERN, "%s: out of memory for the operation.", fn);
    return MPI_SUCCESS;
}

int MPI_Op_free(MPI_Op *op)
{
    const char *fn = "MPI_Op_free";

    if (!op)
        return mpix_err(WORLD, MPI_ERR_ARG, "%s: op is NULL.", fn);
    if (!mpix_op_valid(*op))
        return bad_op(fn, *op);
    if ((*op)->kind != MPIX_OP_USER)
        return mpix_err(WORLD, MPI_ERR_OP, "%s: %s is predefined and cannot be freed.", fn,
                        (*op)->name);
    mpix_op_free(*op);
    *op = MPI_OP_NULL;
    return MPI_SUCCESS;
}

int MPI_Op_commutative(MPI_Op op, int *commute)
{
    if (!mpix_op_valid(op))
        return bad_op("MPI_Op_commutative", op);
    if (!commute)
        return mpix_err(WORLD, MPI_ERR_ARG, "MPI_Op_commutative: commute is NULL.");
    *commute = mpix_op_commutative(op);
    return MPI_SUCCESS;
}

int MPI_Reduce_local(const void *inbuf, void *inoutbuf, int count, MPI_Datatype datatype,
                     MPI_Op op)
{
    const char *fn = "MPI_Reduce_local";
    int rc = mpix_op_check(op, datatype);

    if (!mpix_op_valid(op))
        return bad_op(fn, op);
    if (rc == MPI_ERR_TYPE)
        return mpix_err(WORLD, rc, "%s: the datatype is null, freed or not committed.", fn);
    if (rc)
        return mpix_err(WORLD, rc, "%s: %s is not defined on %s; see MPI-3.1 5.9.2 for the "
                        "types each operation takes.", fn, mpix_op_name(op),
                        mpix_dt_name(datatype));
    if (count < 0)
        return mpix_err(WORLD, MPI_ERR_COUNT, "%s: count is %d; it must be zero or more.", fn,
                        count);
    mpix_op_apply(op, inbuf, inoutbuf, count, datatype);
    return MPI_SUCCESS;
}
