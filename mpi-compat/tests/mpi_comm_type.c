/* mpi_comm_type.c - MPI_Comm_split_type: under mrpc-run -n every rank is on one node, so
 * MPI_COMM_TYPE_SHARED over MPI_COMM_WORLD gives a communicator of all of them, ordered by key
 * (here the reverse of the world rank) and usable (an allreduce over it, a message on it); over a
 * split of WORLD it gives that split's members; MPI_UNDEFINED gives MPI_COMM_NULL while the
 * others still get theirs; a split type it does not know, a bad info or communicator return their
 * error classes with MPI_ERRORS_RETURN. */
#include "mpi_check.h"

#include <string.h>

int main(int argc, char **argv)
{
    int rank, size, nrank = -1, nsize = -1, sum = 0, cmp = -1;
    MPI_Comm node, half, sub;

    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);

    EXPECT(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node),
           MPI_SUCCESS);
    MPI_Comm_size(node, &nsize);
    MPI_Comm_rank(node, &nrank);
    MPI_Comm_compare(node, MPI_COMM_WORLD, &cmp);
    CHECK(nsize == size && nrank == rank && cmp == MPI_CONGRUENT,
          "the node communicator: size %d rank %d compare %d, not %d %d MPI_CONGRUENT", nsize,
          nrank, cmp, size, rank);
    MPI_Allreduce(&rank, &sum, 1, MPI_INT, MPI_SUM, node);
    CHECK(sum == size * (size - 1) / 2, "an allreduce over the node communicator gave %d", sum);
    MPI_Comm_free(&node);

    /* key orders the ranks: the reverse of the world's */
    MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, size - rank, MPI_INFO_NULL, &node);
    MPI_Comm_rank(node, &nrank);
    CHECK(nrank == size - 1 - rank, "with reversed keys rank %d is %d", rank, nrank);
    int token = rank, got = -1;
    MPI_Sendrecv(&token, 1, MPI_INT, (nrank + 1) % size, 0, &got, 1, MPI_INT,
                 (nrank + size - 1) % size, 0, node, MPI_STATUS_IGNORE);
    CHECK(got == (rank + 1) % size, "a ring on the node communicator gave %d", got);
    MPI_Comm_free(&node);

    /* over a split: that split's members; MPI_UNDEFINED: MPI_COMM_NULL */
    MPI_Comm_split(MPI_COMM_WORLD, rank % 2, rank, &half);
    int type = rank == size - 1 && size > 2 ? MPI_UNDEFINED : MPI_COMM_TYPE_SHARED;
    EXPECT(MPI_Comm_split_type(half, type, 0, MPI_INFO_NULL, &sub), MPI_SUCCESS);
    int hsize;
    MPI_Comm_size(half, &hsize);
    if (type == MPI_UNDEFINED) {
        CHECK(sub == MPI_COMM_NULL, "MPI_UNDEFINED did not give MPI_COMM_NULL");
    } else {
        int ssize = -1;
        MPI_Comm_size(sub, &ssize);
        int expect = hsize - (size > 2 && (size - 1) % 2 == rank % 2 ? 1 : 0);
        CHECK(ssize == expect, "the node communicator of a split has %d members, not %d", ssize,
              expect);
        MPI_Comm_free(&sub);
    }
    MPI_Comm_free(&half);

    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    EXPECT(MPI_Comm_split_type(MPI_COMM_WORLD, 12345, 0, MPI_INFO_NULL, &node), MPI_ERR_ARG);
    EXPECT(MPI_Comm_split_type(MPI_COMM_NULL, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node),
           MPI_ERR_COMM);
    EXPECT(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, NULL),
           MPI_ERR_ARG);
    char name[MPI_MAX_PROCESSOR_NAME];
    int len;
    MPI_Get_processor_name(name, &len);
    OK("MPI_Comm_split_type: %d ranks on node %s", size, name);
    MPI_Finalize();
    return check_exit();
}
