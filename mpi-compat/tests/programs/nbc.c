/* nbc.c - non-blocking collectives in flight together: each rank starts an Ibcast, an
 * Iallreduce, an Ialltoall and an Ibarrier on MPI_COMM_WORLD and an Iallgather and an Iscan on
 * a duplicate of it, all before completing any, then completes them in another order (an
 * MPI_Test loop of at most 2000 tests then MPI_Wait, MPI_Waitany, MPI_Waitall) with a
 * point-to-point message crossing them; then ten rounds of Iallreduce on a split communicator
 * (even and odd ranks) overlapping an Ireduce on the world. Prints what each rank got. */
#include "common.h"

enum { N = 3000 };

static int rank, size;

static void overlap(void)
{
    MPI_Comm dup;
    MPI_Comm_dup(MPI_COMM_WORLD, &dup);
    static int bc[N], s1[N], r1[N], a2a_s[N * 8], a2a_r[N * 8], ag[8 * 16], sc_in[16], sc_out[16];
    for (int i = 0; i < N; i++) { bc[i] = rank == 0 ? i * 3 : -1; s1[i] = rank + i; }
    for (int i = 0; i < N * size; i++) a2a_s[i] = rank * 100000 + i;
    for (int i = 0; i < 16; i++) sc_in[i] = rank * 16 + i;
    MPI_Request req[6];
    MPI_Ibcast(bc, N, MPI_INT, 0, MPI_COMM_WORLD, &req[0]);
    MPI_Iallgather(sc_in, 16, MPI_INT, ag, 16, MPI_INT, dup, &req[1]);
    MPI_Iallreduce(s1, r1, N, MPI_INT, MPI_MAX, MPI_COMM_WORLD, &req[2]);
    MPI_Iscan(sc_in, sc_out, 16, MPI_INT, MPI_SUM, dup, &req[3]);
    MPI_Ialltoall(a2a_s, N, MPI_INT, a2a_r, N, MPI_INT, MPI_COMM_WORLD, &req[4]);
    MPI_Ibarrier(MPI_COMM_WORLD, &req[5]);
    int token = rank, got = -1;
    MPI_Sendrecv(&token, 1, MPI_INT, (rank + 1) % size, 5, &got, 1, MPI_INT, (rank + size - 1) % size,
                 5, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    int flag = 0;
    for (int i = 0; i < 2000 && !flag; i++)
        MPI_Test(&req[3], &flag, MPI_STATUS_IGNORE);
    if (!flag)
        MPI_Wait(&req[3], MPI_STATUS_IGNORE);
    int idx;
    MPI_Waitany(6, req, &idx, MPI_STATUS_IGNORE);
    MPI_Waitall(6, req, MPI_STATUSES_IGNORE);
    out("nbc: rank %d: token %d, bcast %016llx, allreduce %016llx, alltoall %016llx\n", rank, got,
        (unsigned long long)checksum(bc, sizeof bc), (unsigned long long)checksum(r1, sizeof r1),
        (unsigned long long)checksum(a2a_r, sizeof(int) * N * size));
    out("nbc: rank %d: allgather on the dup %016llx, scan on the dup %016llx\n", rank,
        (unsigned long long)checksum(ag, sizeof(int) * 16 * size),
        (unsigned long long)checksum(sc_out, sizeof sc_out));
    MPI_Comm_free(&dup);
}

static void split_rounds(void)
{
    MPI_Comm half;
    MPI_Comm_split(MPI_COMM_WORLD, rank % 2, rank, &half);
    long acc = 0;
    for (int k = 0; k < 10; k++) {
        int v = rank * 10 + k, hs = 0, ws = 0;
        MPI_Request req[2];
        MPI_Iallreduce(&v, &hs, 1, MPI_INT, MPI_SUM, half, &req[0]);
        MPI_Ireduce(&v, &ws, 1, MPI_INT, MPI_SUM, size - 1, MPI_COMM_WORLD, &req[1]);
        MPI_Waitall(2, req, MPI_STATUSES_IGNORE);
        acc = acc * 7 + hs + (rank == size - 1 ? ws : 0);
    }
    out("nbc: rank %d: ten split-communicator rounds: %ld\n", rank, acc);
    MPI_Comm_free(&half);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    must(size <= 8, "at most 8 ranks");
    overlap();
    split_rounds();
    out_flush_all();
    MPI_Finalize();
    return 0;
}
