/* mpi_comm.c - communicators and groups under mrpc-run: MPI_COMM_SELF, Comm_dup (a message on
 * the duplicate never matches a receive on the original), Comm_split (colors, keys reversing
 * the order, MPI_UNDEFINED), Comm_compare, Comm_group, Group_incl/size/rank/free, Comm_free,
 * and a ring inside each split communicator. */
#include "mpi_check.h"

#include <stdlib.h>

static int rank, size;

static void self(void)
{
    int v = 5, got = 0, r, n;
    MPI_Comm_rank(MPI_COMM_SELF, &r);
    MPI_Comm_size(MPI_COMM_SELF, &n);
    MPI_Sendrecv(&v, 1, MPI_INT, 0, 1, &got, 1, MPI_INT, 0, 1, MPI_COMM_SELF, MPI_STATUS_IGNORE);
    CHECK(r == 0 && n == 1 && got == 5, "MPI_COMM_SELF: rank %d size %d got %d", r, n, got);
    OK("MPI_COMM_SELF");
}

/* Rank 0 sends on DUP first, then on WORLD; rank 1 receives on WORLD first: only WORLD's
 * message may match, whatever arrived first. */
static void dup(void)
{
    MPI_Comm d;
    int result, r, n;

    MPI_Comm_dup(MPI_COMM_WORLD, &d);
    MPI_Comm_rank(d, &r);
    MPI_Comm_size(d, &n);
    CHECK(r == rank && n == size, "the duplicate: rank %d size %d", r, n);
    MPI_Comm_compare(MPI_COMM_WORLD, d, &result);
    CHECK(result == MPI_CONGRUENT, "WORLD and its duplicate compare as %d", result);
    MPI_Comm_compare(d, d, &result);
    CHECK(result == MPI_IDENT, "a communicator and itself compare as %d", result);
    if (rank == 0) {
        int a = 111, b = 222;
        MPI_Send(&a, 1, MPI_INT, 1, 9, d);
        MPI_Send(&b, 1, MPI_INT, 1, 9, MPI_COMM_WORLD);
    } else if (rank == 1) {
        int x = 0, y = 0;
        MPI_Recv(&y, 1, MPI_INT, MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        MPI_Recv(&x, 1, MPI_INT, 0, 9, d, MPI_STATUS_IGNORE);
        CHECK(y == 222 && x == 111, "WORLD got %d and the duplicate %d", y, x);
    }
    MPI_Comm_free(&d);
    CHECK(d == MPI_COMM_NULL, "MPI_Comm_free left the handle");
    OK("MPI_Comm_dup, MPI_Comm_compare, MPI_Comm_free");
}

/* Even and odd ranks, each in reverse order (key -rank); the last rank stays out. */
static void split(void)
{
    MPI_Comm half;
    int color = rank == size - 1 && size > 2 ? MPI_UNDEFINED : rank % 2;

    MPI_Comm_split(MPI_COMM_WORLD, color, -rank, &half);
    if (color == MPI_UNDEFINED) {
        CHECK(half == MPI_COMM_NULL, "MPI_UNDEFINED gave a communicator");
        OK("MPI_Comm_split (left out)");
        return;
    }
    int members = 0;
    for (int i = 0; i < size; i++)
        members += i % 2 == color && !(i == size - 1 && size > 2);
    int r, n, above = 0;
    MPI_Comm_rank(half, &r);
    MPI_Comm_size(half, &n);
    for (int i = rank + 1; i < size; i++)
        above += i % 2 == color && !(i == size - 1 && size > 2);
    CHECK(n == members && r == above, "split color %d: rank %d of %d, expected %d of %d", color, r,
          n, above, members);
    int token = 0, next = (r + 1) % n, prev = (r + n - 1) % n;
    if (r == 0) {
        MPI_Send(&token, 1, MPI_INT, next, 3, half);
        MPI_Recv(&token, 1, MPI_INT, prev, 3, half, MPI_STATUS_IGNORE);
        CHECK(token == n - 1, "the ring of color %d counted %d hops", color, token);
    } else {
        MPI_Recv(&token, 1, MPI_INT, prev, 3, half, MPI_STATUS_IGNORE);
        token++;
        MPI_Send(&token, 1, MPI_INT, next, 3, half);
    }
    int result;
    MPI_Comm_compare(MPI_COMM_WORLD, half, &result);
    CHECK(result == (n == size ? MPI_SIMILAR : MPI_UNEQUAL), "WORLD and a split compare as %d", result);
    MPI_Comm_free(&half);
    OK("MPI_Comm_split (color %d, rank %d of %d)", color, r, n);
}

static void groups(void)
{
    MPI_Group world, odd;
    int n, r, *ranks = malloc(sizeof(int) * (size_t)size), k = 0;

    MPI_Comm_group(MPI_COMM_WORLD, &world);
    MPI_Group_size(world, &n);
    MPI_Group_rank(world, &r);
    CHECK(n == size && r == rank, "WORLD's group: rank %d of %d", r, n);
    for (int i = size - 1; i >= 0; i--)
        if (i % 2)
            ranks[k++] = i;
    MPI_Group_incl(world, k, ranks, &odd);
    MPI_Group_size(odd, &n);
    MPI_Group_rank(odd, &r);
    int want = MPI_UNDEFINED;
    for (int i = 0; i < k; i++)
        if (ranks[i] == rank)
            want = i;
    CHECK(n == k && r == want, "the odd group: rank %d of %d, expected %d of %d", r, n, want, k);
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    int twice[2] = { 0, 0 }, cls = -1;
    MPI_Group bad;
    MPI_Error_class(MPI_Group_incl(world, 2, twice, &bad), &cls);
    CHECK(cls == MPI_ERR_RANK, "a rank given twice to MPI_Group_incl is class %d", cls);
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_ARE_FATAL);
    MPI_Group_free(&odd);
    MPI_Group_free(&world);
    CHECK(world == MPI_GROUP_NULL, "MPI_Group_free left the handle");
    free(ranks);
    OK("MPI_Comm_group, MPI_Group_incl/size/rank/free");
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    self();
    if (size >= 2)
        dup();
    split();
    groups();
    /* Many duplicates in a row: context ids stay distinct and agreed. */
    MPI_Comm c[20];
    for (int i = 0; i < 20; i++)
        MPI_Comm_dup(i ? c[i - 1] : MPI_COMM_WORLD, &c[i]);
    int v = rank, got = -1;
    MPI_Sendrecv(&v, 1, MPI_INT, (rank + 1) % size, 0, &got, 1, MPI_INT, (rank + size - 1) % size,
                 0, c[19], MPI_STATUS_IGNORE);
    CHECK(got == (rank + size - 1) % size, "a message on the 20th duplicate holds %d", got);
    for (int i = 19; i >= 0; i--)
        MPI_Comm_free(&c[i]);
    OK("20 nested duplicates");
    MPI_Finalize();
    return check_exit();
}
