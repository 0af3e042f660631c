/* matmul.c - C = A x B for 96x96 matrices of small integers held in doubles (exact): rank 0
 * deals A's rows unevenly with MPI_Scatterv, broadcasts B, every rank multiplies its rows and
 * rank 0 gathers C with MPI_Gatherv, then compares it with its own serial product and prints
 * C's trace and checksum. */
#include "common.h"

enum { N = 96 };

/* Rows of rank R when N rows are dealt to SIZE ranks, the first N % SIZE getting one more. */
static int rows_of(int r, int size) { return N / size + (r < N % size); }

int main(int argc, char **argv)
{
  MPI_Init(&argc, &argv);
  int rank, size;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  static double A[N][N], B[N][N], C[N][N], S[N][N];
  if (rank == 0)
    for (int i = 0; i < N; i++)
      for (int j = 0; j < N; j++) { A[i][j] = (i + 2 * j) % 7 - 3; B[i][j] = (i * j) % 5 - 2; }
  int counts[64], displs[64], off = 0;
  for (int r = 0; r < size; r++) { counts[r] = rows_of(r, size) * N; displs[r] = off; off += counts[r]; }
  int mine = rows_of(rank, size);
  double *a = malloc(sizeof(double) * N * (mine ? mine : 1));
  double *c = malloc(sizeof(double) * N * (mine ? mine : 1));
  MPI_Scatterv(A, counts, displs, MPI_DOUBLE, a, mine * N, MPI_DOUBLE, 0, MPI_COMM_WORLD);
  MPI_Bcast(B, N * N, MPI_DOUBLE, 0, MPI_COMM_WORLD);
  for (int i = 0; i < mine; i++)
    for (int j = 0; j < N; j++) {
      double s = 0;
      for (int k = 0; k < N; k++) s += a[i * N + k] * B[k][j];
      c[i * N + j] = s;
    }
  MPI_Gatherv(c, mine * N, MPI_DOUBLE, C, counts, displs, MPI_DOUBLE, 0, MPI_COMM_WORLD);
  out("matmul: rank %d computed %d rows, B checksum %016llx\n", rank, mine,
      (unsigned long long)checksum(B, sizeof B));
  if (rank == 0) {
    double trace = 0;
    for (int i = 0; i < N; i++) {
      for (int j = 0; j < N; j++) {
        S[i][j] = 0;
        for (int k = 0; k < N; k++) S[i][j] += A[i][k] * B[k][j];
      }
      trace += C[i][i];
    }
    out("matmul: %dx%d trace %.1f checksum %016llx, equals the serial product: %s\n", N, N, trace,
        (unsigned long long)checksum(C, sizeof C), memcmp(C, S, sizeof C) == 0 ? "yes" : "no");
  }
  free(a);
  free(c);
  out_flush_all();
  MPI_Finalize();
  return 0;
}
