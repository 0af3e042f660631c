/* halo.c - a 1-D periodic stencil with non-blocking halo exchange: each rank owns 1000 cells
 * plus two ghost cells on each side, posts MPI_Irecv from both neighbours and MPI_Isend of its
 * edges, computes its interior meanwhile, then MPI_Waitall and its edges; 20 steps of integer
 * arithmetic modulo a prime, so the result is exact. Prints each rank's checksum and sum. */
#include "common.h"

enum { L = 1000, G = 2, STEPS = 20, P = 1000003 };

static long step_cell(const long *u, int i)
{
  return (u[i - 2] + 3 * u[i - 1] + 5 * u[i] + 7 * u[i + 1] + 11 * u[i + 2]) % P;
}

int main(int argc, char **argv)
{
  MPI_Init(&argc, &argv);
  int rank, size;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  int left = (rank + size - 1) % size, right = (rank + 1) % size;
  static long u[L + 2 * G], v[L + 2 * G];
  for (int i = 0; i < L; i++) u[G + i] = ((long)(rank * L + i) * 7919) % P;
  for (int s = 0; s < STEPS; s++) {
    MPI_Request req[4];
    MPI_Irecv(u, G, MPI_LONG, left, 1, MPI_COMM_WORLD, &req[0]);
    MPI_Irecv(u + G + L, G, MPI_LONG, right, 2, MPI_COMM_WORLD, &req[1]);
    MPI_Isend(u + L, G, MPI_LONG, right, 1, MPI_COMM_WORLD, &req[2]);
    MPI_Isend(u + G, G, MPI_LONG, left, 2, MPI_COMM_WORLD, &req[3]);
    for (int i = 2 * G; i < L; i++) v[i] = step_cell(u, i);
    MPI_Status st[4];
    MPI_Waitall(4, req, st);
    must(st[0].MPI_SOURCE == left && st[1].MPI_SOURCE == right, "halo statuses name the neighbours");
    for (int i = G; i < 2 * G; i++) v[i] = step_cell(u, i);
    for (int i = L; i < L + G; i++) v[i] = step_cell(u, i);
    memcpy(u + G, v + G, sizeof(long) * L);
  }
  long sum = 0;
  for (int i = 0; i < L; i++) sum += u[G + i];
  out("halo: rank %d after %d steps: sum %ld checksum %016llx\n", rank, STEPS, sum,
      (unsigned long long)checksum(u + G, sizeof(long) * L));
  out_flush_all();
  MPI_Finalize();
  return 0;
}
