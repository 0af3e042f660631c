/* coll_errors.c - the collectives' argument errors: under MPI_ERRORS_RETURN each bad argument
 * that every rank sees alike (a root out of range, a negative count, a null or uncommitted
 * type, an op undefined on the type, MPI_IN_PLACE where it is not allowed, MPI_COMM_NULL, a NULL
 * request) returns its error class with a sentence from MPI_Error_string, and the communicator
 * still works afterwards (the failed calls consumed nothing: a correct Allreduce and Ibcast
 * follow). With "fatal", the default handler ends the job on a bad root (run_mpi.sh checks the
 * exit status 7, MPI_ERR_ROOT, and the sentence). */
#include "mpi_check.h"

#include <string.h>

static void expect(int rc, int want, const char *what)
{
    int cls = -1;
    char text[MPI_MAX_ERROR_STRING] = "";
    int len = 0;
    MPI_Error_class(rc, &cls);
    MPI_Error_string(rc, text, &len);
    CHECK(cls == want, "%s returned class %d, expected %d", what, cls, want);
    if (cls == want)
        OK("%s: error class %d (%s)", what, cls, len > 0 ? "with a message" : "no message");
}

static void still_works(MPI_Comm comm)
{
    int rank, size, one = 1, sum = 0, v = 0;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    CHECK(MPI_Allreduce(&one, &sum, 1, MPI_INT, MPI_SUM, comm) == MPI_SUCCESS && sum == size,
          "Allreduce after the errors gave %d, expected %d", sum, size);
    MPI_Request req;
    if (rank == 0)
        v = 42;
    MPI_Ibcast(&v, 1, MPI_INT, 0, comm, &req);
    MPI_Wait(&req, MPI_STATUS_IGNORE);
    CHECK(v == 42, "Ibcast after the errors gave %d", v);
    OK("the communicator still works after the errors (allreduce %d, ibcast %d)", sum, v);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, size, x = 1, y = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (argc > 1 && strcmp(argv[1], "fatal") == 0) {
        MPI_Bcast(&x, 1, MPI_INT, size, MPI_COMM_WORLD);
        printf("FAILED: rank %d: a bad root did not end the job\n", rank);
        MPI_Finalize();
        return 1;
    }
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Request req;
    MPI_Datatype loose;
    MPI_Type_contiguous(2, MPI_INT, &loose);             /* never committed */
    struct { double v; int i; } di = {1.0, rank}, dout;
    expect(MPI_Bcast(&x, 1, MPI_INT, size, MPI_COMM_WORLD), MPI_ERR_ROOT, "Bcast to root = size");
    expect(MPI_Reduce(&x, &y, 1, MPI_INT, MPI_SUM, -1, MPI_COMM_WORLD), MPI_ERR_ROOT, "Reduce to root -1");
    expect(MPI_Gather(&x, 1, MPI_INT, &y, 1, MPI_INT, size + 3, MPI_COMM_WORLD), MPI_ERR_ROOT,
           "Gather to a root past the end");
    expect(MPI_Allreduce(&x, &y, -1, MPI_INT, MPI_SUM, MPI_COMM_WORLD), MPI_ERR_COUNT,
           "Allreduce of count -1");
    expect(MPI_Bcast(&x, 1, MPI_DATATYPE_NULL, 0, MPI_COMM_WORLD), MPI_ERR_TYPE,
           "Bcast of MPI_DATATYPE_NULL");
    expect(MPI_Bcast(&x, 1, loose, 0, MPI_COMM_WORLD), MPI_ERR_TYPE, "Bcast of an uncommitted type");
    expect(MPI_Allreduce(&di, &dout, 1, MPI_DOUBLE_INT, MPI_SUM, MPI_COMM_WORLD), MPI_ERR_OP,
           "Allreduce of MPI_SUM on MPI_DOUBLE_INT");
    expect(MPI_Allreduce(&x, &y, 1, MPI_INT, MPI_OP_NULL, MPI_COMM_WORLD), MPI_ERR_OP,
           "Allreduce with MPI_OP_NULL");
    expect(MPI_Allreduce(&x, MPI_IN_PLACE, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD), MPI_ERR_BUFFER,
           "Allreduce into MPI_IN_PLACE");
    expect(MPI_Barrier(MPI_COMM_NULL), MPI_ERR_COMM, "Barrier on MPI_COMM_NULL");
    expect(MPI_Ibarrier(MPI_COMM_WORLD, NULL), MPI_ERR_ARG, "Ibarrier without a request");
    expect(MPI_Iallreduce(&x, &y, 1, MPI_INT, MPI_BAND, MPI_COMM_WORLD, NULL), MPI_ERR_ARG,
           "Iallreduce without a request");
    expect(MPI_Ibcast(&x, -2, MPI_INT, 0, MPI_COMM_WORLD, &req), MPI_ERR_COUNT,
           "Ibcast of count -2");
    still_works(MPI_COMM_WORLD);
    MPI_Type_free(&loose);
    MPI_Finalize();
    return check_exit();
}
