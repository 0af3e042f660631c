/* comm.c - communicators: MPI_COMM_WORLD, MPI_COMM_SELF and those made from them by
 * MPI_Comm_dup and MPI_Comm_split.
 *
 * A communicator is a group (its members' world ranks), this process's rank in it, and a context
 * id that no other communicator of any of its members uses: messages match only within one
 * context. WORLD has context 0, SELF 2; a new one gets its id from mpix_comm_agree_context()
 * (comm_agree.c), which every member of the parent calls collectively. MPI_Comm_split gives all
 * its new communicators the same id: their member sets are disjoint, so no process ever sees two
 * of them. Pending requests hold a reference, so MPI_Comm_free during a send is safe. Attributes
 * (attr.c) are copied by MPI_Comm_dup and deleted by MPI_Comm_free. */
#include "core.h"

#include <stdlib.h>
#include <string.h>

static struct mpix_group world_group, self_group;
struct mpix_comm mpix_comm_world, mpix_comm_self;

static void comm_set(struct mpix_comm *c, uint32_t context, struct mpix_group *g, int rank)
{
    *c = (struct mpix_comm){ .magic = MPIX_COMM_MAGIC, .context = context, .group = g,
                             .rank = rank, .size = g->size, .errhandler = MPI_ERRORS_ARE_FATAL };
}

void mpix_comm_init(void)
{
    static int self_world[1];
    int n = mpix_env.world_size;

    world_group = (struct mpix_group){ .refs = 0, .size = n, .world = calloc((size_t)n, sizeof(int)) };
    if (!world_group.world)
        mpix_die(MPI_ERR_NO_MEM);
    for (int i = 0; i < n; i++)
        world_group.world[i] = i;
    self_world[0] = mpix_env.world_rank;
    self_group = (struct mpix_group){ .refs = 0, .size = 1, .world = self_world };
    comm_set(&mpix_comm_world, 0, &world_group, mpix_env.world_rank);
    mpix_comm_world.predefined = true;
    comm_set(&mpix_comm_self, 2, &self_group, 0);
}

int mpix_comm_check(MPI_Comm c)
{
    return c && c->magic == MPIX_COMM_MAGIC ? MPI_SUCCESS : MPI_ERR_COMM;
}

int mpix_comm_rank(MPI_Comm c) { return c->rank; }
int mpix_comm_size(MPI_Comm c) { return c->size; }
int mpix_comm_world_rank(MPI_Comm c, int rank) { return c->group->world[rank]; }

void mpix_comm_retain(MPI_Comm c)
{
    if (c->refs > 0)
        c->refs++;
}

void mpix_comm_release(MPI_Comm c)
{
    if (c->refs == 0 || --c->refs > 0)
        return;
    if (c->coll_free)
        c->coll_free(c->coll);
    mpix_group_release(c->group);
    c->magic = 0;
    free(c);
}

/* Checks that MPI is running and COMM is one; the error otherwise. */
static int comm_usable(MPI_Comm comm, const char *fn)
{
    mpix_check_init(fn);
    if (mpix_comm_check(comm) != MPI_SUCCESS)
        return mpix_err(comm, MPI_ERR_COMM, "%s: the communicator is MPI_COMM_NULL, freed or no "
                        "communicator", fn);
    return MPI_SUCCESS;
}

int MPI_Comm_rank(MPI_Comm comm, int *rank)
{
    int rc = comm_usable(comm, "MPI_Comm_rank");
    if (rc != MPI_SUCCESS)
        return rc;
    if (!rank)
        return mpix_err(comm, MPI_ERR_ARG, "MPI_Comm_rank: rank is NULL");
    *rank = comm->rank;
    return MPI_SUCCESS;
}

int MPI_Comm_size(MPI_Comm comm, int *size)
{
    int rc = comm_usable(comm, "MPI_Comm_size");
    if (rc != MPI_SUCCESS)
        return rc;
    if (!size)
        return mpix_err(comm, MPI_ERR_ARG, "MPI_Comm_size: size is NULL");
    *size = comm->size;
    return MPI_SUCCESS;
}

/* A communicator of G (a reference is taken over) with context CONTEXT, inheriting PARENT's
 * error handler. */
static MPI_Comm comm_new(MPI_Comm parent, struct mpix_group *g, uint32_t context)
{
    struct mpix_comm *c = malloc(sizeof(*c));

    if (!c)
        return NULL;
    comm_set(c, context, g, mpix_group_rank_of(g, mpix_env.world_rank));
    c->errhandler = parent->errhandler;
    c->refs = 1;
    return c;
}

int MPI_Comm_dup(MPI_Comm comm, MPI_Comm *newcomm)
{
    uint32_t context;
    int rc = comm_usable(comm, "MPI_Comm_dup");

    if (rc == MPI_SUCCESS && !newcomm)
        rc = mpix_err(comm, MPI_ERR_ARG, "MPI_Comm_dup: newcomm is NULL");
    if (rc == MPI_SUCCESS)
        rc = mpix_comm_agree_context(comm, &context, "MPI_Comm_dup");
    if (rc != MPI_SUCCESS)
        return rc;
    mpix_group_retain(comm->group);
    if (!(*newcomm = comm_new(comm, comm->group, context))) {
        mpix_group_release(comm->group);
        return mpix_err(comm, MPI_ERR_NO_MEM, "MPI_Comm_dup: out of memory");
    }
    if ((rc = mpix_attr_copy(comm, *newcomm)) != MPI_SUCCESS) {
        mpix_attr_delete_all(*newcomm);
        mpix_comm_release(*newcomm);
        *newcomm = MPI_COMM_NULL;
        return mpix_err(comm, rc, "MPI_Comm_dup: an attribute's copy callback returned %d", rc);
    }
    return MPI_SUCCESS;
}

/* One member's (color, key, rank in the parent), for sorting a split. */
struct split_entry { int color, key, rank; };

static int by_key(const void *a, const void *b)
{
    const struct split_entry *x = a, *y = b;
    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    return x->rank < y->rank ? -1 : x->rank > y->rank;
}

/* The group of COLOR's members of PARENT ordered by (key, parent rank), from ALL (color, key)
 * pairs by parent rank. */
static struct mpix_group *split_group(MPI_Comm parent, const int *all, int color)
{
    struct split_entry *e = malloc((size_t)parent->size * sizeof(*e));
    int n = 0;

    if (!e)
        return NULL;
    for (int i = 0; i < parent->size; i++)
        if (all[2 * i] == color)
            e[n++] = (struct split_entry){ all[2 * i], all[2 * i + 1], i };
    qsort(e, (size_t)n, sizeof(*e), by_key);
    struct mpix_group *g = mpix_group_new(n);
    for (int i = 0; g && i < n; i++)
        g->world[i] = parent->group->world[e[i].rank];
    free(e);
    return g;
}

static int split_check(MPI_Comm comm, int color, MPI_Comm *newcomm)
{
    int rc = comm_usable(comm, "MPI_Comm_split");
    if (rc == MPI_SUCCESS && !newcomm)
        rc = mpix_err(comm, MPI_ERR_ARG, "MPI_Comm_split: newcomm is NULL");
    if (rc == MPI_SUCCESS && color < 0 && color != MPI_UNDEFINED)
        rc = mpix_err(comm, MPI_ERR_ARG, "MPI_Comm_split: color %d is negative and not "
                      "MPI_UNDEFINED", color);
    return rc;
}

int mpix_comm_split(MPI_Comm comm, int color, int key, MPI_Comm *newcomm, const char *fn)
{
    int mine[2] = { color, key }, *all = malloc(2 * (size_t)comm->size * sizeof(int)), rc;
    uint32_t context;
    if (!all)
        return mpix_err(comm, MPI_ERR_NO_MEM, "%s: out of memory", fn);
    rc = mpix_comm_allgather_ints(comm, mine, 2, all, fn);
    if (rc == MPI_SUCCESS)
        rc = mpix_comm_agree_context(comm, &context, fn);
    struct mpix_group *g = rc == MPI_SUCCESS && color != MPI_UNDEFINED ? split_group(comm, all, color) : NULL;
    free(all);
    if (rc != MPI_SUCCESS)
        return rc;
    *newcomm = MPI_COMM_NULL;
    if (color == MPI_UNDEFINED)
        return MPI_SUCCESS;
    if (!g || !(*newcomm = comm_new(comm, g, context))) {
        if (g)
            mpix_group_release(g);
        return mpix_err(comm, MPI_ERR_NO_MEM, "%s: out of memory", fn);
    }
    return MPI_SUCCESS;
}

int MPI_Comm_split(MPI_Comm comm, int color, int key, MPI_Comm *newcomm)
{
    int rc = split_check(comm, color, newcomm);
    return rc == MPI_SUCCESS ? mpix_comm_split(comm, color, key, newcomm, "MPI_Comm_split") : rc;
}

int MPI_Comm_free(MPI_Comm *comm)
{
    int rc = comm_usable(comm ? *comm : MPI_COMM_NULL, "MPI_Comm_free");
    if (rc != MPI_SUCCESS)
        return rc;
    if ((*comm)->refs == 0)
        return mpix_err(*comm, MPI_ERR_COMM, "MPI_Comm_free: MPI_COMM_WORLD and MPI_COMM_SELF "
                        "cannot be freed");
    if ((rc = mpix_attr_delete_all(*comm)) != MPI_SUCCESS)
        return mpix_err(*comm, rc, "MPI_Comm_free: an attribute's delete callback returned %d", rc);
    mpix_comm_release(*comm);
    *comm = MPI_COMM_NULL;
    return MPI_SUCCESS;
}

/* MPI_IDENT for one communicator, CONGRUENT for the same members in the same order, SIMILAR for
 * the same members in another order, else UNEQUAL. */
static int compare(MPI_Comm a, MPI_Comm b)
{
    if (a == b)
        return MPI_IDENT;
    if (a->size != b->size)
        return MPI_UNEQUAL;
    if (!memcmp(a->group->world, b->group->world, (size_t)a->size * sizeof(int)))
        return MPI_CONGRUENT;
    for (int i = 0; i < a->size; i++)
        if (mpix_group_rank_of(b->group, a->group->world[i]) == MPI_UNDEFINED)
            return MPI_UNEQUAL;
    return MPI_SIMILAR;
}

int MPI_Comm_compare(MPI_Comm comm1, MPI_Comm comm2, int *result)
{
    int rc = comm_usable(comm1, "MPI_Comm_compare");
    if (rc == MPI_SUCCESS)
        rc = comm_usable(comm2, "MPI_Comm_compare");
    if (rc == MPI_SUCCESS && !result)
        rc = mpix_err(comm1, MPI_ERR_ARG, "MPI_Comm_compare: result is NULL");
    if (rc != MPI_SUCCESS)
        return rc;
    *result = compare(comm1, comm2);
    return MPI_SUCCESS;
}

int MPI_Comm_group(MPI_Comm comm, MPI_Group *group)
{
    int rc = comm_usable(comm, "MPI_Comm_group");
    if (rc != MPI_SUCCESS)
        return rc;
    if (!group)
        return mpix_err(comm, MPI_ERR_ARG, "MPI_Comm_group: group is NULL");
    struct mpix_group *g = mpix_group_new(comm->size);
    if (!g)
        return mpix_err(comm, MPI_ERR_NO_MEM, "MPI_Comm_group: out of memory");
    memcpy(g->world, comm->group->world, (size_t)comm->size * sizeof(int));
    *group = g;
    return MPI_SUCCESS;
}
