/* wildcard.c - receives with MPI_ANY_SOURCE and MPI_ANY_TAG: every rank (rank 0 too, to
 * itself) sends K messages {rank, k, rank*k} with tag 100*rank+k to rank 0, which receives them
 * all with both wildcards and checks that each status names the message's sender and tag, that
 * MPI_Get_count is right and that each sender's messages arrive in the order sent; then a
 * message of tag 7 from every rank is received with ANY_SOURCE and a specific tag, and the last
 * one from each rank with a specific source and ANY_TAG, found first with MPI_Probe/Iprobe.
 * Only counts are printed (the order of different senders is not deterministic). */
#include "common.h"

enum { K = 20 };

/* Phase 1: K messages of tag 100*rank+k; a rank other than 0 then waits for rank 0's "go"
 * (so phase 2's messages cannot be taken by phase 1's wildcard receives) and sends phase 2: one
 * of tag 7 and one of tag 5000+rank. Rank 0's own sends complete later, after its receives. */
static int msg[K][3], seven, last[2];
static MPI_Request req[K + 2];

static void send_phase1(int rank)
{
  for (int k = 0; k < K; k++) {
    msg[k][0] = rank; msg[k][1] = k; msg[k][2] = rank * k;
    MPI_Isend(msg[k], 3, MPI_INT, 0, 100 * rank + k, MPI_COMM_WORLD, &req[k]);
  }
}

static void send_phase2(int rank)
{
  seven = rank; last[0] = rank; last[1] = -1;
  MPI_Isend(&seven, 1, MPI_INT, 0, 7, MPI_COMM_WORLD, &req[K]);
  MPI_Isend(last, 2, MPI_INT, 0, 5000 + rank, MPI_COMM_WORLD, &req[K + 1]);
}

static void receive_phase1(int size)
{
  int next[64] = {0}, bad = 0;
  for (int i = 0; i < K * size; i++) {
    int m[3], count;
    MPI_Status st;
    MPI_Recv(m, 3, MPI_INT, MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD, &st);
    MPI_Get_count(&st, MPI_INT, &count);
    int r = m[0];
    bad += count != 3 || st.MPI_SOURCE != r || st.MPI_TAG != 100 * r + m[1] || m[1] != next[r] ||
           m[2] != r * m[1];
    next[r]++;
  }
  out("wildcard: %d messages with ANY_SOURCE/ANY_TAG, %d wrong or out of order\n", K * size, bad);
}

static void receive_phase2(int size)
{
  int seen = 0;
  for (int i = 0; i < size; i++) {
    int v;
    MPI_Status st;
    MPI_Recv(&v, 1, MPI_INT, MPI_ANY_SOURCE, 7, MPI_COMM_WORLD, &st);
    seen += st.MPI_SOURCE == v && st.MPI_TAG == 7;
  }
  out("wildcard: %d of %d tag-7 messages with ANY_SOURCE named their sender\n", seen, size);
  int probed = 0;
  for (int r = size - 1; r >= 0; r--) {
    MPI_Status st;
    int flag = 0, count, m[2];
    MPI_Probe(r, MPI_ANY_TAG, MPI_COMM_WORLD, &st);
    MPI_Iprobe(r, st.MPI_TAG, MPI_COMM_WORLD, &flag, MPI_STATUS_IGNORE);
    MPI_Get_count(&st, MPI_INT, &count);
    MPI_Recv(m, 2, MPI_INT, r, MPI_ANY_TAG, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    probed += flag && count == 2 && st.MPI_TAG == 5000 + r && m[0] == r;
  }
  out("wildcard: %d of %d probed ANY_TAG messages matched their receive\n", probed, size);
}

static void edge_cases(void)
{
  MPI_Request r;
  MPI_Status st;
  int flag = 0;
  MPI_Iprobe(MPI_ANY_SOURCE, 424242, MPI_COMM_WORLD, &flag, &st);
  out("wildcard: Iprobe of a tag nobody sends: %s\n", flag ? "found" : "nothing");
  MPI_Irecv(NULL, 0, MPI_INT, MPI_PROC_NULL, MPI_ANY_TAG, MPI_COMM_WORLD, &r);
  MPI_Wait(&r, &st);
  out("wildcard: receive from MPI_PROC_NULL: source %s, tag %s\n",
      st.MPI_SOURCE == MPI_PROC_NULL ? "PROC_NULL" : "?", st.MPI_TAG == MPI_ANY_TAG ? "ANY_TAG" : "?");
}

int main(int argc, char **argv)
{
  MPI_Init(&argc, &argv);
  int rank, size;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  if (rank == 0) edge_cases();
  send_phase1(rank);
  if (rank == 0) {
    receive_phase1(size);
    send_phase2(0);
    for (int r = 1; r < size; r++) MPI_Send(NULL, 0, MPI_INT, r, 1, MPI_COMM_WORLD);
    receive_phase2(size);
  } else {
    MPI_Recv(NULL, 0, MPI_INT, 0, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    send_phase2(rank);
  }
  MPI_Waitall(K + 2, req, MPI_STATUSES_IGNORE);
  out_flush_all();
  MPI_Finalize();
  return 0;
}
