/* group.c - MPI groups: ordered sets of processes, each member named by its rank in
 * MPI_COMM_WORLD. A communicator holds its group; MPI_Comm_group hands out another reference. */
#include "core.h"

#include <stdlib.h>

struct mpix_group mpix_group_empty = { .refs = 0, .size = 0, .world = NULL };

struct mpix_group *mpix_group_new(int size)
{
    struct mpix_group *g = calloc(1, sizeof(*g));

    if (!g || !(g->world = malloc((size_t)(size ? size : 1) * sizeof(int)))) {
        free(g);
        return NULL;
    }
    g->refs = 1;
    g->size = size;
    return g;
}

void mpix_group_retain(struct mpix_group *g)
{
    if (g->refs > 0)
        g->refs++;
}

void mpix_group_release(struct mpix_group *g)
{
    if (g->refs > 0 && --g->refs == 0) {
        free(g->world);
        free(g);
    }
}

int mpix_group_rank_of(const struct mpix_group *g, int world)
{
    for (int i = 0; i < g->size; i++)
        if (g->world[i] == world)
            return i;
    return MPI_UNDEFINED;
}

static bool group_valid(MPI_Group g)
{
    return g && (g == MPI_GROUP_EMPTY || g->refs > 0);
}

static int bad_group(const char *fn)
{
    return mpix_err(MPI_COMM_WORLD, MPI_ERR_GROUP, "%s: the group is MPI_GROUP_NULL or was freed", fn);
}

int MPI_Group_size(MPI_Group group, int *size)
{
    mpix_check_init("MPI_Group_size");
    if (!group_valid(group))
        return bad_group("MPI_Group_size");
    if (!size)
        return mpix_err(MPI_COMM_WORLD, MPI_ERR_ARG, "MPI_Group_size: size is NULL");
    *size = group->size;
    return MPI_SUCCESS;
}

int MPI_Group_rank(MPI_Group group, int *rank)
{
    mpix_check_init("MPI_Group_rank");
    if (!group_valid(group))
        return bad_group("MPI_Group_rank");
    if (!rank)
        return mpix_err(MPI_COMM_WORLD, MPI_ERR_ARG, "MPI_Group_rank: rank is NULL");
    *rank = mpix_group_rank_of(group, mpix_env.world_rank);
    return MPI_SUCCESS;
}

/* RANKS: N distinct ranks of GROUP. */
static int incl_check(MPI_Group group, int n, const int ranks[])
{
    if (n < 0 || n > group->size || (n > 0 && !ranks))
        return mpix_err(MPI_COMM_WORLD, MPI_ERR_ARG, "MPI_Group_incl: n = %d is not 0..%d (the "
                        "group's size) or ranks is NULL", n, group->size);
    for (int i = 0; i < n; i++) {
        if (ranks[i] < 0 || ranks[i] >= group->size)
            return mpix_err(MPI_COMM_WORLD, MPI_ERR_RANK, "MPI_Group_incl: ranks[%d] = %d is no "
                            "rank of the group (0..%d)", i, ranks[i], group->size - 1);
        for (int j = 0; j < i; j++)
            if (ranks[j] == ranks[i])
                return mpix_err(MPI_COMM_WORLD, MPI_ERR_RANK, "MPI_Group_incl: rank %d is given "
                                "twice (ranks[%d] and ranks[%d])", ranks[i], j, i);
    }
    return MPI_SUCCESS;
}

int MPI_Group_incl(MPI_Group group, int n, const int ranks[], MPI_Group *newgroup)
{
    mpix_check_init("MPI_Group_incl");
    if (!group_valid(group))
        return bad_group("MPI_Group_incl");
    if (!newgroup)
        return mpix_err(MPI_COMM_WORLD, MPI_ERR_ARG, "MPI_Group_incl: newgroup is NULL");
    int rc = incl_check(group, n, ranks);
    if (rc != MPI_SUCCESS)
        return rc;
    if (n == 0) {
        *newgroup = MPI_GROUP_EMPTY;
        return MPI_SUCCESS;
    }
    struct mpix_group *g = mpix_group_new(n);
    if (!g)
        return mpix_err(MPI_COMM_WORLD, MPI_ERR_NO_MEM, "MPI_Group_incl: out of memory");
    for (int i = 0; i < n; i++)
        g->world[i] = group->world[ranks[i]];
    *newgroup = g;
    return MPI_SUCCESS;
}

int MPI_Group_free(MPI_Group *group)
{
    mpix_check_init("MPI_Group_free");
    if (!group || !group_valid(*group))
        return bad_group("MPI_Group_free");
    mpix_group_release(*group);
    *group = MPI_GROUP_NULL;
    return MPI_SUCCESS;
}
