/* ring.c - a token goes three times round the ring of ranks (each rank adds rank+1 as it
 * passes), then a 64 KiB buffer is shifted round the ring with MPI_Sendrecv_replace until it is
 * home again. Prints the token each rank saw and the checksum of the buffer that came back. */
#include "common.h"

int main(int argc, char **argv)
{
  MPI_Init(&argc, &argv);
  int rank, size;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  int next = (rank + 1) % size, prev = (rank + size - 1) % size;
  long token = 0;
  for (int lap = 0; lap < 3; lap++) {
    MPI_Request req;
    if (rank == 0) {
      token += 1;
      MPI_Isend(&token, 1, MPI_LONG, next, lap, MPI_COMM_WORLD, &req);
      MPI_Recv(&token, 1, MPI_LONG, prev, lap, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
      MPI_Wait(&req, MPI_STATUS_IGNORE);
    } else {
      MPI_Recv(&token, 1, MPI_LONG, prev, lap, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
      token += rank + 1;
      MPI_Send(&token, 1, MPI_LONG, next, lap, MPI_COMM_WORLD);
    }
    out("ring: rank %d lap %d token %ld\n", rank, lap, token);
  }
  enum { N = 65536 / sizeof(int) };
  static int buf[N];
  for (int i = 0; i < N; i++) buf[i] = rank * 100003 + i;
  uint64_t mine = checksum(buf, sizeof buf);
  for (int hop = 0; hop < size; hop++) {
    MPI_Status st;
    MPI_Sendrecv_replace(buf, N, MPI_INT, next, 7, prev, 7, MPI_COMM_WORLD, &st);
    int count;
    MPI_Get_count(&st, MPI_INT, &count);
    must(st.MPI_SOURCE == prev && st.MPI_TAG == 7 && count == N, "Sendrecv_replace status");
  }
  out("ring: rank %d buffer home after %d hops: %s (checksum %016llx)\n", rank, size,
      checksum(buf, sizeof buf) == mine ? "same" : "DIFFERENT", (unsigned long long)mine);
  out_flush_all();
  MPI_Finalize();
  return 0;
}
