/* coll_check.c - checking the collectives' arguments before anything is built: the
 * communicator, the root, counts, datatypes, ops, MPI_IN_PLACE where MPI does not allow it and
 * the request of the non-blocking forms. Each failure is raised through mpix_err on the
 * communicator with a sentence naming the call, the argument and what to pass instead. */
#include "coll_check.h"
#include "dt.h"
#include "op.h"

int coll_check_comm(MPI_Comm comm, MPI_Request *req, bool nonblocking, const char *fn)
{
    int rc = mpix_check_init(fn);
    if (rc != MPI_SUCCESS)
        return rc;
    if (mpix_comm_check(comm) != MPI_SUCCESS)
        return mpix_err(comm, MPI_ERR_COMM, "%s: the communicator is MPI_COMM_NULL, freed or "
                        "not a communicator; pass MPI_COMM_WORLD or one you created", fn);
    if (nonblocking && !req)
        return mpix_err(comm, MPI_ERR_ARG, "%s: the request argument is NULL; pass the address "
                        "of an MPI_Request", fn);
    return MPI_SUCCESS;
}

int coll_check_root(MPI_Comm comm, int root, const char *fn)
{
    int size = mpix_comm_size(comm);
    if (root < 0 || root >= size)
        return mpix_err(comm, MPI_ERR_ROOT, "%s: root %d is not a rank of the communicator "
                        "(it has %d ranks); pass a rank from 0 to %d", fn, root, size, size - 1);
    return MPI_SUCCESS;
}

int coll_check_data(MPI_Comm comm, int count, MPI_Datatype dt, const char *what, const char *fn)
{
    if (count < 0)
        return mpix_err(comm, MPI_ERR_COUNT, "%s: the %s count %d is negative; pass 0 or more",
                        fn, what, count);
    if (mpix_dt_check(dt) != MPI_SUCCESS)
        return mpix_err(comm, MPI_ERR_TYPE, "%s: the %s datatype is MPI_DATATYPE_NULL, freed or "
                        "not committed; commit it with MPI_Type_commit first", fn, what);
    return MPI_SUCCESS;
}

int coll_check_counts(MPI_Comm comm, const int counts[], const int displs[], MPI_Datatype dt,
                      const char *what, const char *fn)
{
    if (!counts || !displs)
        return mpix_err(comm, MPI_ERR_ARG, "%s: the %s counts or displacements array is NULL; "
                        "pass one entry per rank", fn, what);
    for (int i = 0; i < mpix_comm_size(comm); i++) {
        int rc = coll_check_data(comm, counts[i], dt, what, fn);
        if (rc != MPI_SUCCESS)
            return rc;
    }
    return MPI_SUCCESS;
}

int coll_check_op(MPI_Comm comm, MPI_Op op, MPI_Datatype dt, const char *fn)
{
    int rc = mpix_op_check(op, dt);
    if (rc == MPI_ERR_TYPE)
        return mpix_err(comm, rc, "%s: the datatype is not a valid committed type", fn);
    if (rc != MPI_SUCCESS)
        return mpix_err(comm, rc, "%s: %s is not defined on %s (or the op is MPI_OP_NULL or "
                        "freed); use an op the standard defines for this type, or MPI_Op_create",
                        fn, op ? mpix_op_name(op) : "MPI_OP_NULL", mpix_dt_name(dt));
    return MPI_SUCCESS;
}

int coll_check_not_in_place(MPI_Comm comm, const void *buf, const char *what, const char *fn)
{
    if (buf == MPI_IN_PLACE)
        return mpix_err(comm, MPI_ERR_BUFFER, "%s: MPI_IN_PLACE is not allowed as the %s "
                        "buffer here; pass a real buffer", fn, what);
    return MPI_SUCCESS;
}
