/* comm_type.c - MPI_Comm_split_type: MPI_COMM_TYPE_SHARED splits a communicator by node, into
 * the members that can share memory with each other.
 *
 * A node is what the launcher says it is: the node name mrpc-run gives each rank (MRPC_NODE,
 * also MPI_Get_processor_name's; the host name for a program started alone), so ranks of one
 * mrpc-run -n share a node, and under Slurm the tasks of one host do. The members gather each
 * other's node names (mpix_comm_allgather_ints, a name packed in ints) and each takes as its color
 * the lowest rank of the parent on its node; MPI_Comm_split's split (mpix_comm_split) then makes
 * the communicators (ordered by key, then parent rank) and their context. A member that passes
 * MPI_UNDEFINED takes part and gets MPI_COMM_NULL. No info hint is read; the info must be
 * MPI_INFO_NULL or a valid one. */
#include "core.h"

#include <stdlib.h>
#include <string.h>

/* A node name in ints, NUL-padded, for mpix_comm_allgather_ints. */
#define NAME_INTS (MPI_MAX_PROCESSOR_NAME / (int)sizeof(int))

static int check(MPI_Comm comm, int split_type, MPI_Info info, MPI_Comm *newcomm)
{
    mpix_check_init("MPI_Comm_split_type");
    if (mpix_comm_check(comm) != MPI_SUCCESS)
        return mpix_err(comm, MPI_ERR_COMM, "MPI_Comm_split_type: the communicator is "
                        "MPI_COMM_NULL, freed or no communicator");
    if (!newcomm)
        return mpix_err(comm, MPI_ERR_ARG, "MPI_Comm_split_type: newcomm is NULL");
    if (split_type != MPI_COMM_TYPE_SHARED && split_type != MPI_UNDEFINED)
        return mpix_err(comm, MPI_ERR_ARG, "MPI_Comm_split_type: split_type %d is neither "
                        "MPI_COMM_TYPE_SHARED nor MPI_UNDEFINED", split_type);
    if (mpix_info_check(info) != MPI_SUCCESS)
        return mpix_err(comm, MPI_ERR_INFO, "MPI_Comm_split_type: the info is neither "
                        "MPI_INFO_NULL nor a valid info object");
    return MPI_SUCCESS;
}

/* The lowest rank of COMM whose node name (in ALL, NAME_INTS ints each) is this rank's. */
static int node_color(MPI_Comm comm, const int *all)
{
    const int *mine = all + (size_t)comm->rank * NAME_INTS;
    int i = 0;

    while (memcmp(all + (size_t)i * NAME_INTS, mine, NAME_INTS * sizeof(int)))
        i++;
    return i;
}

int MPI_Comm_split_type(MPI_Comm comm, int split_type, int key, MPI_Info info,
                        MPI_Comm *newcomm)
{
    int rc = check(comm, split_type, info, newcomm);
    if (rc != MPI_SUCCESS)
        return rc;
    int mine[NAME_INTS] = { 0 }, *all = malloc((size_t)comm->size * sizeof(mine));
    if (!all)
        return mpix_err(comm, MPI_ERR_NO_MEM, "MPI_Comm_split_type: out of memory");
    memcpy(mine, mpix_env.node, strnlen(mpix_env.node, sizeof(mine) - 1));
    rc = mpix_comm_allgather_ints(comm, mine, NAME_INTS, all, "MPI_Comm_split_type");
    int color = split_type == MPI_UNDEFINED ? MPI_UNDEFINED : node_color(comm, all);
    free(all);
    if (rc != MPI_SUCCESS)              /* raised already, as in MPI_Comm_split */
        return rc;
    return mpix_comm_split(comm, color, key, newcomm, "MPI_Comm_split_type");
}
