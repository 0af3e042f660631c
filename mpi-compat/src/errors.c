/* errors.c - MPI's error classes and handlers: every MPI_ function returns through mpix_err(),
 * which either returns the class (MPI_ERRORS_RETURN) or says what went wrong and ends the job
 * (MPI_ERRORS_ARE_FATAL, the default). Codes are classes: MPI_Error_class is the identity on the
 * classes this library raises. */
#include "core.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct mpix_errhandler mpix_errhandler_fatal = { .fatal = true };
struct mpix_errhandler mpix_errhandler_return = { .fatal = false };

/* Each class's name (as in mpi.h) and text (MPI_Error_string). A fatal error's line gives both
 * after its own sentence, "(MPI_ERR_TRUNCATE: message truncated)", so that the class reads as
 * a label, not as part of the sentence. */
#define CLASS(c, text) [c] = { #c, text }
static const struct { const char *name, *text; } classes[] = {
    CLASS(MPI_SUCCESS, "no error"),
    CLASS(MPI_ERR_BUFFER, "invalid buffer pointer"),
    CLASS(MPI_ERR_COUNT, "invalid count argument"),
    CLASS(MPI_ERR_TYPE, "invalid datatype"),
    CLASS(MPI_ERR_TAG, "invalid tag"),
    CLASS(MPI_ERR_COMM, "invalid communicator"),
    CLASS(MPI_ERR_RANK, "invalid rank"),
    CLASS(MPI_ERR_ROOT, "invalid root"),
    CLASS(MPI_ERR_GROUP, "invalid group"),
    CLASS(MPI_ERR_OP, "invalid reduce operation"),
    CLASS(MPI_ERR_TOPOLOGY, "invalid topology"),
    CLASS(MPI_ERR_DIMS, "invalid dimension argument"),
    CLASS(MPI_ERR_ARG, "invalid argument of some other kind"),
    CLASS(MPI_ERR_UNKNOWN, "unknown error"),
    CLASS(MPI_ERR_TRUNCATE, "message truncated"),
    CLASS(MPI_ERR_OTHER, "other error"),
    CLASS(MPI_ERR_INTERN, "internal error"),
    CLASS(MPI_ERR_IN_STATUS, "error code is in status"),
    CLASS(MPI_ERR_PENDING, "pending request"),
    CLASS(MPI_ERR_REQUEST, "invalid request"),
    CLASS(MPI_ERR_INFO, "invalid info argument"),
    CLASS(MPI_ERR_INFO_KEY, "invalid info key"),
    CLASS(MPI_ERR_INFO_VALUE, "invalid info value"),
    CLASS(MPI_ERR_INFO_NOKEY, "no such key in the info object"),
    CLASS(MPI_ERR_NO_MEM, "out of memory (MPI_Alloc_mem)"),
    CLASS(MPI_ERR_KEYVAL, "invalid keyval"),
};
#undef CLASS
#define N_CLASSES ((int)(sizeof classes / sizeof classes[0]))

static const char *text_of(int code)
{
    return code >= 0 && code < N_CLASSES && classes[code].text ? classes[code].text : NULL;
}

void mpix_text_copy(char *dst, size_t size, const char *src)
{
    size_t n = strnlen(src, size - 1);

    memcpy(dst, src, n);
    dst[n] = '\0';
}

_Noreturn void mpix_die(int code)
{
    fflush(stdout);
    fflush(stderr);
    _exit(code ? code : 1);         /* no atexit handlers: the job is ending in error */
}

static MPI_Errhandler handler_of(MPI_Comm c)
{
    if (mpix_env.state != MPIX_RUNNING || mpix_comm_check(c) != MPI_SUCCESS)
        c = MPI_COMM_WORLD;
    return c->errhandler ? c->errhandler : MPI_ERRORS_ARE_FATAL;
}

int mpix_err(MPI_Comm c, int code, const char *fmt, ...)
{
    if (code == MPI_SUCCESS)
        return MPI_SUCCESS;
    if (!handler_of(c)->fatal)
        return code;
    char what[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (text_of(code))
        fprintf(stderr, "MPI error on rank %d of %d: %s (%s: %s); MPI_ERRORS_ARE_FATAL ends the job\n",
                mpix_env.world_rank, mpix_env.world_size, what, classes[code].name, classes[code].text);
    else
        fprintf(stderr, "MPI error on rank %d of %d: %s (error code %d); MPI_ERRORS_ARE_FATAL ends "
                "the job\n", mpix_env.world_rank, mpix_env.world_size, what, code);
    mpix_die(code);
}

int mpix_check_init(const char *fn)
{
    if (mpix_env.state == MPIX_RUNNING)
        return MPI_SUCCESS;
    fprintf(stderr, "MPI error: %s was called %s: call it between MPI_Init and MPI_Finalize\n",
            fn, mpix_env.state == MPIX_BEFORE ? "before MPI_Init" : "after MPI_Finalize");
    mpix_die(MPI_ERR_OTHER);
}

int MPI_Error_class(int errorcode, int *errorclass)
{
    if (!errorclass || !text_of(errorcode))
        return mpix_err(MPI_COMM_WORLD, MPI_ERR_ARG,
                        "MPI_Error_class: %d is no error code of this library", errorcode);
    *errorclass = errorcode;
    return MPI_SUCCESS;
}

int MPI_Error_string(int errorcode, char *string, int *resultlen)
{
    const char *text = text_of(errorcode);

    if (!string || !resultlen || !text)
        return mpix_err(MPI_COMM_WORLD, MPI_ERR_ARG,
                        "MPI_Error_string: %d is no error code of this library", errorcode);
    *resultlen = snprintf(string, MPI_MAX_ERROR_STRING, "%s", text);
    return MPI_SUCCESS;
}

static bool handler_valid(MPI_Errhandler h)
{
    return h == MPI_ERRORS_ARE_FATAL || h == MPI_ERRORS_RETURN;
}

int MPI_Comm_set_errhandler(MPI_Comm comm, MPI_Errhandler errhandler)
{
    mpix_check_init("MPI_Comm_set_errhandler");
    if (mpix_comm_check(comm) != MPI_SUCCESS)
        return mpix_err(comm, MPI_ERR_COMM, "MPI_Comm_set_errhandler: invalid communicator");
    if (!handler_valid(errhandler))
        return mpix_err(comm, MPI_ERR_ARG, "MPI_Comm_set_errhandler: the error handler is neither "
                        "MPI_ERRORS_ARE_FATAL nor MPI_ERRORS_RETURN");
    comm->errhandler = errhandler;
    return MPI_SUCCESS;
}

int MPI_Comm_get_errhandler(MPI_Comm comm, MPI_Errhandler *errhandler)
{
    mpix_check_init("MPI_Comm_get_errhandler");
    if (mpix_comm_check(comm) != MPI_SUCCESS)
        return mpix_err(comm, MPI_ERR_COMM, "MPI_Comm_get_errhandler: invalid communicator");
    if (!errhandler)
        return mpix_err(comm, MPI_ERR_ARG, "MPI_Comm_get_errhandler: errhandler is NULL");
    *errhandler = comm->errhandler;
    return MPI_SUCCESS;
}

/* The predefined handlers are the only ones; freeing a handle to one only nulls the handle. */
int MPI_Errhandler_free(MPI_Errhandler *errhandler)
{
    mpix_check_init("MPI_Errhandler_free");
    if (!errhandler || !handler_valid(*errhandler))
        return mpix_err(MPI_COMM_WORLD, MPI_ERR_ARG, "MPI_Errhandler_free: not an error handler");
    *errhandler = MPI_ERRHANDLER_NULL;
    return MPI_SUCCESS;
}
