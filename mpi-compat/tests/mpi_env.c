/* mpi_env.c - the environment and error handling, as a singleton (no mrpc-run: rank 0 of 1)
 * and under mrpc-run: thread levels (MULTIPLE lowered to SERIALIZED), Initialized/Finalized,
 * versions, clocks, the processor name, error classes and strings, and, with MPI_ERRORS_RETURN,
 * the errors of an invalid rank, tag, count, communicator and request. */
#include "mpi_check.h"

#include <stdlib.h>
#include <string.h>

static int class_of(int rc)
{
    int cls = -1;
    MPI_Error_class(rc, &cls);
    return cls;
}

static void bad_arguments(int size)
{
    int v = 0, flag;
    MPI_Errhandler h;
    MPI_Request r = MPI_REQUEST_NULL;

    MPI_Comm_get_errhandler(MPI_COMM_WORLD, &h);
    CHECK(h == MPI_ERRORS_ARE_FATAL, "the default error handler is not MPI_ERRORS_ARE_FATAL");
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_get_errhandler(MPI_COMM_WORLD, &h);
    CHECK(h == MPI_ERRORS_RETURN, "MPI_Comm_set_errhandler did not take MPI_ERRORS_RETURN");
    CHECK(class_of(MPI_Send(&v, 1, MPI_INT, size, 0, MPI_COMM_WORLD)) == MPI_ERR_RANK,
          "a send to rank %d (the size) is not MPI_ERR_RANK", size);
    CHECK(class_of(MPI_Send(&v, 1, MPI_INT, -5, 0, MPI_COMM_WORLD)) == MPI_ERR_RANK,
          "a send to rank -5 is not MPI_ERR_RANK");
    CHECK(class_of(MPI_Recv(&v, 1, MPI_INT, size + 3, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE)) == MPI_ERR_RANK,
          "a receive from rank size+3 is not MPI_ERR_RANK");
    CHECK(class_of(MPI_Send(&v, 1, MPI_INT, 0, -3, MPI_COMM_WORLD)) == MPI_ERR_TAG,
          "a send with tag -3 is not MPI_ERR_TAG");
    CHECK(class_of(MPI_Send(&v, 1, MPI_INT, 0, MPI_ANY_TAG, MPI_COMM_WORLD)) == MPI_ERR_TAG,
          "a send with MPI_ANY_TAG is not MPI_ERR_TAG");
    CHECK(class_of(MPI_Isend(&v, -1, MPI_INT, 0, 0, MPI_COMM_WORLD, &r)) == MPI_ERR_COUNT,
          "a count of -1 is not MPI_ERR_COUNT");
    CHECK(class_of(MPI_Send(&v, 1, MPI_DATATYPE_NULL, 0, 0, MPI_COMM_WORLD)) == MPI_ERR_TYPE,
          "MPI_DATATYPE_NULL is not MPI_ERR_TYPE");
    /* An invalid communicator has no handler of its own: MPI_COMM_WORLD's (RETURN) applies. */
    CHECK(class_of(MPI_Send(&v, 1, MPI_INT, 0, 0, MPI_COMM_NULL)) == MPI_ERR_COMM,
          "MPI_COMM_NULL is not MPI_ERR_COMM");
    CHECK(class_of(MPI_Comm_free(&(MPI_Comm){ MPI_COMM_WORLD })) == MPI_ERR_COMM,
          "freeing MPI_COMM_WORLD is not MPI_ERR_COMM");
    CHECK(class_of(MPI_Cancel(&r)) == MPI_ERR_REQUEST, "cancelling MPI_REQUEST_NULL is not MPI_ERR_REQUEST");
    CHECK(MPI_Test(&r, &flag, MPI_STATUS_IGNORE) == MPI_SUCCESS && flag,
          "MPI_Test of MPI_REQUEST_NULL is not done at once");
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_ARE_FATAL);
    OK("invalid rank, tag, count, datatype, communicator and request give their error classes");
}

static void error_texts(void)
{
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;

    for (int c = MPI_SUCCESS; c <= MPI_ERR_REQUEST; c++) {
        CHECK(class_of(c) == c, "MPI_Error_class(%d) is %d", c, class_of(c));
        CHECK(MPI_Error_string(c, text, &len) == MPI_SUCCESS && len > 0 && (int)strlen(text) == len,
              "MPI_Error_string(%d) gave %d bytes", c, len);
    }
    MPI_Error_string(MPI_ERR_RANK, text, &len);
    CHECK(strstr(text, "rank") != NULL, "MPI_ERR_RANK reads '%s'", text);
    /* MPI_ERR_OTHER's text is a class name, not a sentence about the message it follows. */
    MPI_Error_string(MPI_ERR_OTHER, text, &len);
    CHECK(strcmp(text, "other error") == 0, "MPI_ERR_OTHER reads '%s'", text);
    OK("error classes and strings");
}

int main(int argc, char **argv)
{
    int flag = 1, provided = -1, rank, size, v, sv;

    MPI_Initialized(&flag);
    CHECK(!flag, "MPI_Initialized is true before MPI_Init");
    MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
    CHECK(provided == MPI_THREAD_SERIALIZED, "MULTIPLE was provided as %d, not SERIALIZED", provided);
    MPI_Query_thread(&v);
    CHECK(v == provided, "MPI_Query_thread says %d", v);
    MPI_Initialized(&flag);
    CHECK(flag, "MPI_Initialized is false after MPI_Init_thread");
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    const char *want = getenv("MRPC_SIZE");
    CHECK(size == (want ? atoi(want) : 1), "the size is %d", size);
    MPI_Get_version(&v, &sv);
    CHECK(v == 3 && sv == 1 && MPI_VERSION == 3 && MPI_SUBVERSION == 1, "MPI version %d.%d", v, sv);
    double t0 = MPI_Wtime(), t1 = MPI_Wtime();
    CHECK(t1 >= t0 && MPI_Wtick() > 0 && MPI_Wtick() < 0.01, "clocks: %g %g tick %g", t0, t1, MPI_Wtick());
    char name[MPI_MAX_PROCESSOR_NAME];
    int len = 0;
    MPI_Get_processor_name(name, &len);
    CHECK(len > 0 && (int)strlen(name) == len, "the processor name '%s' has length %d", name, len);
    error_texts();
    bad_arguments(size);
    MPI_Finalize();
    MPI_Finalized(&flag);
    CHECK(flag, "MPI_Finalized is false after MPI_Finalize");
    OK("environment of rank %d of %d on %s", rank, size, name);
    return check_exit();
}
