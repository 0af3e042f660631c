/* env.c - the MPI environment: MPI_Init (under mrpc-run: the fabric over the node's Phoenix
 * service; without it: a singleton, rank 0 of 1, that needs no service), the thread levels,
 * MPI_Finalize, MPI_Abort, clocks, names and versions, and MPI_Alloc_mem.
 *
 * Thread levels: SINGLE, FUNNELED and SERIALIZED are supported (the library holds no lock: one
 * thread at a time calls it, as those levels promise); MULTIPLE is lowered to SERIALIZED in
 * PROVIDED, as MPI-3.1 allows. */
#include "core.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct mpix_env mpix_env = { .state = MPIX_BEFORE, .world_size = 1 };

#define LIBRARY_VERSION "mrpc-mpi (Phoenix-C mRPC) MPI 3.1 subset"

/* MRPC_RANK and MRPC_SIZE when mrpc-run started us: 1, 0 without them, -1 when they are wrong. */
static int job_of(int *rank, int *size)
{
    const char *r = getenv("MRPC_RANK"), *s = getenv("MRPC_SIZE");
    char *end_r, *end_s;

    if (!r || !s)
        return 0;
    long lr = strtol(r, &end_r, 10), ls = strtol(s, &end_s, 10);
    if (*r == '\0' || *end_r || *s == '\0' || *end_s || ls < 1 || ls > 1 << 24 || lr < 0 || lr >= ls)
        return -1;
    *rank = (int)lr;
    *size = (int)ls;
    return 1;
}

static void name_node(void)
{
    const char *node = getenv("MRPC_NODE");

    if (node && *node)
        snprintf(mpix_env.node, sizeof mpix_env.node, "%s", node);
    else if (gethostname(mpix_env.node, sizeof mpix_env.node - 1) != 0)
        snprintf(mpix_env.node, sizeof mpix_env.node, "localhost");
}

static int start(const char *fn)
{
    char why[256];
    int rank = 0, size = 1, job;

    if (mpix_env.state != MPIX_BEFORE)
        return mpix_err(MPI_COMM_WORLD, MPI_ERR_OTHER, "%s: MPI was initialised already%s", fn,
                        mpix_env.state == MPIX_AFTER ? " and finalised: it cannot start again" : "");
    if ((job = job_of(&rank, &size)) < 0) {
        fprintf(stderr, "MPI error: %s: MRPC_RANK=%s MRPC_SIZE=%s is no rank of a job: start the "
                "program with mrpc-run, or without those variables as a single process\n", fn,
                getenv("MRPC_RANK"), getenv("MRPC_SIZE"));
        mpix_die(MPI_ERR_OTHER);
    }
    mpix_env.world_rank = rank;
    mpix_env.world_size = size;
    name_node();
    mpix_comm_init();
    mpix_match_init(size);
    if (job && mpix_fabric_start(why, sizeof why) != 0) {
        fprintf(stderr, "MPI error: %s on rank %d of %d: %s\n", fn, rank, size, why);
        mpix_die(MPI_ERR_OTHER);
    }
    mpix_env.state = MPIX_RUNNING;
    return MPI_SUCCESS;
}

int MPI_Init(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    mpix_env.thread = MPI_THREAD_SINGLE;
    return start("MPI_Init");
}

int MPI_Init_thread(int *argc, char ***argv, int required, int *provided)
{
    (void)argc;
    (void)argv;
    if (required < MPI_THREAD_SINGLE || required > MPI_THREAD_MULTIPLE || !provided)
        return mpix_err(MPI_COMM_WORLD, MPI_ERR_ARG, "MPI_Init_thread: required is %d, not one of "
                        "MPI_THREAD_SINGLE..MPI_THREAD_MULTIPLE, or provided is NULL", required);
    mpix_env.thread = required > MPI_THREAD_SERIALIZED ? MPI_THREAD_SERIALIZED : required;
    *provided = mpix_env.thread;
    return start("MPI_Init_thread");
}

int MPI_Query_thread(int *provided)
{
    mpix_check_init("MPI_Query_thread");
    if (!provided)
        return mpix_err(MPI_COMM_WORLD, MPI_ERR_ARG, "MPI_Query_thread: provided is NULL");
    *provided = mpix_env.thread;
    return MPI_SUCCESS;
}

/* Every rank's sends have landed before any rank stops serving: the exchange is a barrier over
 * the fabric, which keeps serving while it waits. Its own last frames may find their receiver
 * gone once it has taken them (it left the barrier): the fabric is told not to mind. */
int MPI_Finalize(void)
{
    mpix_check_init("MPI_Finalize");
    int rc = mpix_attr_delete_all(MPI_COMM_SELF);     /* first, as MPI-3.1 8.7.1 says */
    if (rc == MPI_SUCCESS)
        rc = mpix_attr_delete_all(MPI_COMM_WORLD);
    if (rc != MPI_SUCCESS)
        return mpix_err(MPI_COMM_WORLD, rc, "MPI_Finalize: an attribute's delete callback "
                        "returned %d", rc);
    mpix_fabric_closing();
    rc = mpix_comm_sync(MPI_COMM_WORLD, "MPI_Finalize");
    if (rc != MPI_SUCCESS)
        return rc;
    mpix_fabric_stop();
    mpix_match_fini();
    mpix_scratch_fini();
    mpix_attr_fini();
    mpix_env.state = MPIX_AFTER;
    return MPI_SUCCESS;
}

int MPI_Initialized(int *flag)
{
    if (!flag)
        return mpix_err(MPI_COMM_WORLD, MPI_ERR_ARG, "MPI_Initialized: flag is NULL");
    *flag = mpix_env.state != MPIX_BEFORE;
    return MPI_SUCCESS;
}

int MPI_Finalized(int *flag)
{
    if (!flag)
        return mpix_err(MPI_COMM_WORLD, MPI_ERR_ARG, "MPI_Finalized: flag is NULL");
    *flag = mpix_env.state == MPIX_AFTER;
    return MPI_SUCCESS;
}

/* The whole job ends: mrpc-run ends the other ranks when one exits with an error. */
int MPI_Abort(MPI_Comm comm, int errorcode)
{
    (void)comm;
    fprintf(stderr, "MPI_Abort on rank %d of %d with error code %d: ending the job\n",
            mpix_env.world_rank, mpix_env.world_size, errorcode);
    mpix_die(errorcode);
}

double MPI_Wtime(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

double MPI_Wtick(void)
{
    struct timespec res;

    if (clock_getres(CLOCK_MONOTONIC, &res) != 0)
        return 1e-9;
    return (double)res.tv_sec + (double)res.tv_nsec * 1e-9;
}

int MPI_Get_processor_name(char *name, int *resultlen)
{
    mpix_check_init("MPI_Get_processor_name");
    if (!name || !resultlen)
        return mpix_err(MPI_COMM_WORLD, MPI_ERR_ARG, "MPI_Get_processor_name: name or resultlen "
                        "is NULL");
    *resultlen = snprintf(name, MPI_MAX_PROCESSOR_NAME, "%s", mpix_env.node);
    return MPI_SUCCESS;
}

int MPI_Get_version(int *version, int *subversion)
{
    if (!version || !subversion)
        return mpix_err(MPI_COMM_WORLD, MPI_ERR_ARG, "MPI_Get_version: an argument is NULL");
    *version = MPI_VERSION;
    *subversion = MPI_SUBVERSION;
    return MPI_SUCCESS;
}

int MPI_Get_library_version(char *version, int *resultlen)
{
    if (!version || !resultlen)
        return mpix_err(MPI_COMM_WORLD, MPI_ERR_ARG, "MPI_Get_library_version: an argument is "
                        "NULL");
    *resultlen = snprintf(version, MPI_MAX_LIBRARY_VERSION_STRING, "%s", LIBRARY_VERSION);
    return MPI_SUCCESS;
}

/* Memory in the send heap (mpix_fabric_mem_alloc: large sends from it go without a copy), or
 * malloc'd when there is no service or the heap is full. */
int MPI_Alloc_mem(MPI_Aint size, MPI_Info info, void *baseptr)
{
    mpix_check_init("MPI_Alloc_mem");
    if (size < 0 || !baseptr)
        return mpix_err(MPI_COMM_WORLD, MPI_ERR_ARG, "MPI_Alloc_mem: size %ld is negative or "
                        "baseptr is NULL", (long)size);
    if (mpix_info_check(info) != MPI_SUCCESS)
        return mpix_err(MPI_COMM_WORLD, MPI_ERR_INFO, "MPI_Alloc_mem: the info is neither "
                        "MPI_INFO_NULL nor a valid info object");
    void *p = mpix_fabric_mem_alloc((size_t)size);
    if (!p)
        p = malloc(size ? (size_t)size : 1);
    if (!p)
        return mpix_err(MPI_COMM_WORLD, MPI_ERR_NO_MEM, "MPI_Alloc_mem: no memory for %ld bytes",
                        (long)size);
    memcpy(baseptr, &p, sizeof p);
    return MPI_SUCCESS;
}

int MPI_Free_mem(void *base)
{
    mpix_check_init("MPI_Free_mem");
    if (!mpix_fabric_mem_free(base))
        free(base);
    return MPI_SUCCESS;
}
