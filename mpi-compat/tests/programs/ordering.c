/* ordering.c - MPI's non-overtaking rule: every rank sends M messages with one tag to rank 0,
 * alternating small (8 B) and large (256 KiB) ones so that a small message may not pass the
 * large one before it whatever protocol each takes; rank 0 receives them with MPI_ANY_SOURCE
 * and checks that each sender's sequence numbers and payloads arrive in order. Then each rank
 * sends its right neighbour tag 1 then tag 2 (non-blocking, synchronous mode for the first)
 * and the neighbour receives tag 2 first: matching by tag may reorder, and nothing deadlocks. */
#include "common.h"

enum { M = 24, BIG = 256 * 1024 / sizeof(int) };

static int len_of(int seq) { return seq % 2 ? (int)BIG : 2; }

static void fill(int *b, int rank, int seq)
{
  for (int i = 0; i < len_of(seq); i++) b[i] = rank * 1000000 + seq * 1000 + i % 1000;
}

static void send_stream(int rank, int **bufs, MPI_Request *req)
{
  for (int s = 0; s < M; s++) {
    fill(bufs[s], rank, s);
    MPI_Isend(bufs[s], len_of(s), MPI_INT, 0, 3, MPI_COMM_WORLD, &req[s]);
  }
}

static void receive_streams(int size)
{
  int next[64] = {0}, bad = 0;
  int *got = malloc(sizeof(int) * BIG), *want = malloc(sizeof(int) * BIG);
  for (int i = 0; i < M * size; i++) {
    MPI_Status st;
    int count;
    MPI_Recv(got, BIG, MPI_INT, MPI_ANY_SOURCE, 3, MPI_COMM_WORLD, &st);
    MPI_Get_count(&st, MPI_INT, &count);
    int r = st.MPI_SOURCE, s = next[r]++;
    fill(want, r, s);
    bad += count != len_of(s) || memcmp(got, want, sizeof(int) * (size_t)count) != 0;
  }
  out("ordering: %d messages of alternating size from %d ranks, %d out of order\n", M * size, size, bad);
  free(got);
  free(want);
}

static void tag_reorder(int rank, int size)
{
  int right = (rank + 1) % size, left = (rank + size - 1) % size;
  int one = 100 + rank, two = 200 + rank, a = -1, b = -1;
  MPI_Request req[2];
  MPI_Issend(&one, 1, MPI_INT, right, 1, MPI_COMM_WORLD, &req[0]);
  MPI_Isend(&two, 1, MPI_INT, right, 2, MPI_COMM_WORLD, &req[1]);
  MPI_Recv(&b, 1, MPI_INT, left, 2, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
  MPI_Recv(&a, 1, MPI_INT, left, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
  MPI_Waitall(2, req, MPI_STATUSES_IGNORE);
  out("ordering: rank %d got tag 2 = %d before tag 1 = %d from rank %d\n", rank, b, a, left);
}

int main(int argc, char **argv)
{
  MPI_Init(&argc, &argv);
  int rank, size;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  int *bufs[M];
  MPI_Request req[M];
  for (int s = 0; s < M; s++) bufs[s] = malloc(sizeof(int) * (size_t)len_of(s));
  send_stream(rank, bufs, req);
  if (rank == 0) receive_streams(size);
  MPI_Waitall(M, req, MPI_STATUSES_IGNORE);
  for (int s = 0; s < M; s++) free(bufs[s]);
  tag_reorder(rank, size);
  out_flush_all();
  MPI_Finalize();
  return 0;
}
