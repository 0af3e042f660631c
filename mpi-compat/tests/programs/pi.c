/* pi.c - numerical pi: the midpoint rule on 4/(1+x^2) over [0,1] with a fixed 1,000,000
 * intervals, dealt round-robin to the ranks, summed with MPI_Reduce and MPI_Allreduce. The sum's
 * order differs between MPI implementations, so the value is printed to 10 decimals (the
 * rounding error is ~1e-13) with whether it is within 1e-9 of pi. */
#include "common.h"
#include <math.h>

int main(int argc, char **argv)
{
  MPI_Init(&argc, &argv);
  int rank, size;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  int n = rank == 0 ? 1000000 : 0;
  MPI_Bcast(&n, 1, MPI_INT, 0, MPI_COMM_WORLD);
  double h = 1.0 / n, part = 0.0;
  for (int i = rank; i < n; i += size) {
    double x = h * (i + 0.5);
    part += 4.0 / (1.0 + x * x);
  }
  part *= h;
  double pi = 0.0, all = 0.0;
  MPI_Reduce(&part, &pi, 1, MPI_DOUBLE, MPI_SUM, 0, MPI_COMM_WORLD);
  MPI_Allreduce(&part, &all, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
  const double PI = 3.14159265358979323846;
  if (rank == 0)
    out("pi: %d intervals: pi ~ %.10f, within 1e-9: %s\n", n, pi, fabs(pi - PI) < 1e-9 ? "yes" : "no");
  out("pi: rank %d: allreduce ~ %.10f, within 1e-9: %s\n", rank, all, fabs(all - PI) < 1e-9 ? "yes" : "no");
  out_flush_all();
  MPI_Finalize();
  return 0;
}
