/* mpi_comm_type.c [NODES] - MPI_Comm_split_type(MPI_COMM_TYPE_SHARED): each rank's node
 * communicator holds exactly the ranks whose processor name (the node the launcher names) is its
 * own, and the job spans NODES nodes (default 1). Under mrpc-run -n (NODES 1) that is every rank;
 * on the Slurm test cluster (tests/slurm/test_mpi_srun.sh: srun -N2, NODES 2) the ranks of each
 * node share one communicator and those of different nodes never do. What each rank expects is
 * computed from every rank's processor name (MPI_Allgather), which the library's split does not
 * use. The communicator is ordered by key (here the reverse of the world rank) and usable (an
 * allreduce over it, a ring on it); over a split of WORLD it gives that split's members on the
 * node; MPI_UNDEFINED gives MPI_COMM_NULL while the others still get theirs; a split type it does
 * not know, a bad info or communicator return their error classes with MPI_ERRORS_RETURN. */
#include "mpi_check.h"

#include <stdlib.h>
#include <string.h>

static int rank, size;
static char (*names)[MPI_MAX_PROCESSOR_NAME];     /* every rank's processor name, by rank */

static int here(int i)                  /* whether world rank I is on this rank's node */
{
    return strcmp(names[i], names[rank]) == 0;
}

/* How many ranks are on this node, and how many of them are below this rank. */
static void count_here(int *n, int *below)
{
    *n = *below = 0;
    for (int i = 0; i < size; i++)
        if (here(i)) {
            ++*n;
            *below += i < rank;
        }
}

/* The world rank of this node's K-th rank, by world rank. */
static int nth_here(int k)
{
    for (int i = 0; i < size; i++)
        if (here(i) && k-- == 0)
            return i;
    return -1;
}

static int count_nodes(void)
{
    int n = 0;
    for (int i = 0; i < size; i++) {
        int first = 1;
        for (int j = 0; j < i && first; j++)
            first = strcmp(names[i], names[j]) != 0;
        n += first;
    }
    return n;
}

/* NODE (key 0): this node's ranks in world order, and no other; ranks elsewhere in others. */
static void check_members(MPI_Comm node, int n_here, int below)
{
    int nrank = -1, nsize = -1, cmp = -1, low = -1, sum = 0, want_sum = 0;
    int *lows = malloc((size_t)size * sizeof(int));

    MPI_Comm_size(node, &nsize);
    MPI_Comm_rank(node, &nrank);
    CHECK(nsize == n_here && nrank == below, "the node communicator: size %d rank %d, not %d %d",
          nsize, nrank, n_here, below);
    MPI_Comm_compare(node, MPI_COMM_WORLD, &cmp);
    int want_cmp = n_here == size ? MPI_CONGRUENT : MPI_UNEQUAL;
    CHECK(cmp == want_cmp, "the node communicator compares %d with WORLD, not %d", cmp, want_cmp);
    /* the lowest world rank in each rank's communicator names it */
    MPI_Allreduce(&rank, &low, 1, MPI_INT, MPI_MIN, node);
    MPI_Allgather(&low, 1, MPI_INT, lows, 1, MPI_INT, MPI_COMM_WORLD);
    for (int i = 0; i < size; i++)
        CHECK((lows[i] == low) == here(i), "world rank %d on node %s is %s this rank's node "
              "communicator (node %s)", i, names[i], lows[i] == low ? "in" : "not in", names[rank]);
    MPI_Allreduce(&rank, &sum, 1, MPI_INT, MPI_SUM, node);
    for (int i = 0; i < size; i++)
        want_sum += here(i) ? i : 0;
    CHECK(sum == want_sum, "an allreduce over the node communicator gave %d, not %d", sum, want_sum);
    free(lows);
}

/* Reversed keys reverse the order; a ring over the node communicator passes world ranks. */
static void check_order(int n_here, int below)
{
    MPI_Comm node;
    int nrank = -1, token = rank, got = -1;

    MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, size - rank, MPI_INFO_NULL, &node);
    MPI_Comm_rank(node, &nrank);
    CHECK(nrank == n_here - 1 - below, "with reversed keys rank %d is %d, not %d", rank, nrank,
          n_here - 1 - below);
    MPI_Sendrecv(&token, 1, MPI_INT, (nrank + 1) % n_here, 0, &got, 1, MPI_INT,
                 (nrank + n_here - 1) % n_here, 0, node, MPI_STATUS_IGNORE);
    int want = nth_here((below + 1) % n_here);
    CHECK(got == want, "a ring on the node communicator gave %d, not %d", got, want);
    MPI_Comm_free(&node);
}

/* Over a split of WORLD (by parity), with the last rank passing MPI_UNDEFINED (when size > 2). */
static void check_split(void)
{
    MPI_Comm half, sub;
    int undefined = size - 1;

    MPI_Comm_split(MPI_COMM_WORLD, rank % 2, rank, &half);
    int type = rank == undefined && size > 2 ? MPI_UNDEFINED : MPI_COMM_TYPE_SHARED;
    EXPECT(MPI_Comm_split_type(half, type, 0, MPI_INFO_NULL, &sub), MPI_SUCCESS);
    if (type == MPI_UNDEFINED) {
        CHECK(sub == MPI_COMM_NULL, "MPI_UNDEFINED did not give MPI_COMM_NULL");
    } else {
        int ssize = -1, expect = 0;
        MPI_Comm_size(sub, &ssize);
        for (int i = 0; i < size; i++)
            expect += i % 2 == rank % 2 && here(i) && !(i == undefined && size > 2);
        CHECK(ssize == expect, "the node communicator of a split has %d members, not %d", ssize,
              expect);
        MPI_Comm_free(&sub);
    }
    MPI_Comm_free(&half);
}

int main(int argc, char **argv)
{
    int nodes = argc > 1 ? atoi(argv[1]) : 1, n_here, below, len;
    char name[MPI_MAX_PROCESSOR_NAME] = { 0 };
    MPI_Comm node;

    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    MPI_Get_processor_name(name, &len);
    names = calloc((size_t)size, sizeof(*names));
    MPI_Allgather(name, MPI_MAX_PROCESSOR_NAME, MPI_CHAR, names, MPI_MAX_PROCESSOR_NAME, MPI_CHAR,
                  MPI_COMM_WORLD);
    CHECK(count_nodes() == nodes, "the ranks are on %d nodes, not %d", count_nodes(), nodes);
    count_here(&n_here, &below);

    EXPECT(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node),
           MPI_SUCCESS);
    check_members(node, n_here, below);
    MPI_Comm_free(&node);
    check_order(n_here, below);
    check_split();

    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    EXPECT(MPI_Comm_split_type(MPI_COMM_WORLD, 12345, 0, MPI_INFO_NULL, &node), MPI_ERR_ARG);
    EXPECT(MPI_Comm_split_type(MPI_COMM_NULL, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node),
           MPI_ERR_COMM);
    EXPECT(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, NULL),
           MPI_ERR_ARG);
    OK("MPI_Comm_split_type: %d of %d ranks on node %s, %d node(s)", n_here, size, name,
       count_nodes());
    free(names);
    MPI_Finalize();
    return check_exit();
}
