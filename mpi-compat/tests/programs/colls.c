/* colls.c - every collective of the subset, blocking and non-blocking, at 0 B, 1 B, 64 B,
 * 4 KiB, 64 KiB, 1 MiB and 4 MiB (or up to the size given as argv[1]), with MPI_IN_PLACE where
 * the standard allows it, the predefined reduction ops and a non-commutative user op. Each rank
 * prints one checksum line per case: "name size form rank checksum".
 *
 * Sizes are bytes of the whole buffer a rank holds: Bcast's message, the vector reduced, and
 * for Gather/Scatter/Allgather/Alltoall and their v forms the root's or the full buffer (so a
 * rank's block is size/ranks bytes, at least 1 when size > 0). Reductions run on ints (count
 * (size+3)/4) or, for the user op, on pairs of unsigned ints (count (size+7)/8). All data are
 * integers, so every implementation must produce the same bits. The v forms give every rank a
 * different count and leave a one-element gap between blocks, filled with 0xEE beforehand so
 * a write outside a block shows in the checksum. Roots are rank size/2. */
#include "common.h"

static int rank, size, root, nb;
static MPI_Datatype pair;
static MPI_Op affine;

static const char *form(void) { return nb ? "nonblocking" : "blocking"; }

/* One collective, blocking or not as NB says: the non-blocking call fills rq and is waited. */
#define COLL(icall, bcall)                                                       \
  do {                                                                           \
    if (nb) { MPI_Request rq; icall; MPI_Wait(&rq, MPI_STATUS_IGNORE); } else { bcall; } \
  } while (0)

static void report(const char *name, long bytes, const void *buf, size_t len)
{
  out("%-26s %8ld %-11s r%d %016llx\n", name, bytes, form(), rank,
      (unsigned long long)checksum(buf, len));
}

/* The non-commutative user op: pairs (a, b) are affine maps x -> a*x + b modulo 2^32, combined
 * in rank order by composition ("in" is the lower ranks' map, applied first). */
static void affine_fn(void *in, void *inout, int *len, MPI_Datatype *dt)
{
  (void)dt;
  unsigned *f = in, *g = inout;
  for (int i = 0; i < *len; i++, f += 2, g += 2) {
    unsigned a = g[0] * f[0], b = g[0] * f[1] + g[1];
    g[0] = a;
    g[1] = b;
  }
}

/* Buffers come from a pool of 8 slots used in turn and never freed (a case needs at most 8),
 * so large cases do not pay for fresh pages each time. */
static void *alloc(size_t len, int fill)
{
  static void *slot[8];
  static size_t cap[8];
  static int next;
  int k = next++ % 8;
  if (cap[k] < len + 1) {
    free(slot[k]);
    slot[k] = malloc(len + 1);
    must(slot[k] != NULL, "buffer allocation");
    cap[k] = len + 1;
  }
  memset(slot[k], fill, len + 1);
  return slot[k];
}

static void fill_bytes(unsigned char *b, size_t n, int r, int salt)
{
  for (size_t i = 0; i < n; i++) b[i] = (unsigned char)(r * 37 + i * 11 + salt);
}

static void fill_ints(int *v, size_t n, int r, int salt)
{
  for (size_t i = 0; i < n; i++) v[i] = (int)((r * 7919 + i * 31 + (size_t)salt) % 2001) - 1000;
}

static void fill_pairs(unsigned *v, size_t n, int r, int salt)
{
  for (size_t i = 0; i < n; i++) {
    v[2 * i] = 2u * (unsigned)(r * 13 + i * 7 + (size_t)salt) + 1;
    v[2 * i + 1] = (unsigned)(r * 101 + i * 3 + (size_t)salt);
  }
}

static int ints_of(long bytes) { return (int)((bytes + 3) / 4); }
static int pairs_of(long bytes) { return (int)((bytes + 7) / 8); }
static int block_of(long bytes) { return bytes == 0 ? 0 : bytes / size ? (int)(bytes / size) : 1; }
/* Rank I's count in the v forms (of block B), and the one for the pair (I, J) in Alltoallv. */
static int vcount(int b, int i) { return (2 * b * (i + 1)) / (size + 1); }
static int vcount2(int b, int i, int j) { return vcount(b, (i + j) % size); }

static void vlayout(int b, int *counts, int *displs, int who, int pairwise)
{
  int off = 0;
  for (int i = 0; i < size; i++) {
    counts[i] = pairwise ? (who < 0 ? vcount2(b, i, -who - 1) : vcount2(b, who, i)) : vcount(b, i);
    displs[i] = off;
    off += counts[i] + 1;
  }
}

static int vtotal(const int *counts) { int t = 0; for (int i = 0; i < size; i++) t += counts[i] + 1; return t; }

static void t_bcast(long bytes)
{
  unsigned char *buf = alloc((size_t)bytes, 0);
  if (rank == root) fill_bytes(buf, (size_t)bytes, rank, 1);
  COLL(MPI_Ibcast(buf, (int)bytes, MPI_BYTE, root, MPI_COMM_WORLD, &rq),
       MPI_Bcast(buf, (int)bytes, MPI_BYTE, root, MPI_COMM_WORLD));
  report("bcast", bytes, buf, (size_t)bytes);
}

static void t_reduce(long bytes, int inplace)
{
  int n = ints_of(bytes);
  int *s = alloc(sizeof(int) * n, 0), *r = alloc(sizeof(int) * n, 0);
  fill_ints(s, n, rank, 2);
  const void *sb = s;
  if (inplace && rank == root) { memcpy(r, s, sizeof(int) * n); sb = MPI_IN_PLACE; }
  COLL(MPI_Ireduce(sb, r, n, MPI_INT, MPI_SUM, root, MPI_COMM_WORLD, &rq),
       MPI_Reduce(sb, r, n, MPI_INT, MPI_SUM, root, MPI_COMM_WORLD));
  if (rank == root) report(inplace ? "reduce-sum-inplace" : "reduce-sum", bytes, r, sizeof(int) * n);
}

static void t_reduce_user(long bytes)
{
  int n = pairs_of(bytes);
  unsigned *s = alloc(8 * n, 0), *r = alloc(8 * n, 0);
  fill_pairs(s, n, rank, 3);
  COLL(MPI_Ireduce(s, r, n, pair, affine, root, MPI_COMM_WORLD, &rq),
       MPI_Reduce(s, r, n, pair, affine, root, MPI_COMM_WORLD));
  if (rank == root) report("reduce-userop", bytes, r, 8 * n);
}

static void t_allreduce(long bytes, int inplace)
{
  int n = ints_of(bytes);
  int *s = alloc(sizeof(int) * n, 0), *r = alloc(sizeof(int) * n, 0);
  fill_ints(inplace ? r : s, n, rank, 4);
  COLL(MPI_Iallreduce(inplace ? MPI_IN_PLACE : s, r, n, MPI_INT, MPI_SUM, MPI_COMM_WORLD, &rq),
       MPI_Allreduce(inplace ? MPI_IN_PLACE : s, r, n, MPI_INT, MPI_SUM, MPI_COMM_WORLD));
  report(inplace ? "allreduce-sum-inplace" : "allreduce-sum", bytes, r, sizeof(int) * n);
}

static void t_allreduce_user(long bytes)
{
  int n = pairs_of(bytes);
  unsigned *s = alloc(8 * n, 0), *r = alloc(8 * n, 0);
  fill_pairs(s, n, rank, 5);
  COLL(MPI_Iallreduce(s, r, n, pair, affine, MPI_COMM_WORLD, &rq),
       MPI_Allreduce(s, r, n, pair, affine, MPI_COMM_WORLD));
  report("allreduce-userop", bytes, r, 8 * n);
}

/* The predefined ops on their types, at one size: each result's checksum. */
static void t_allreduce_ops(long bytes)
{
  static const struct { const char *name; MPI_Op op; } ops[] = {
    {"max", MPI_MAX}, {"min", MPI_MIN}, {"band", MPI_BAND}, {"bor", MPI_BOR},
    {"bxor", MPI_BXOR}, {"land", MPI_LAND}, {"lor", MPI_LOR}, {"lxor", MPI_LXOR}};
  int n = ints_of(bytes), *s = alloc(sizeof(int) * n, 0), *r = alloc(sizeof(int) * n, 0);
  char name[64];
  for (size_t k = 0; k < sizeof ops / sizeof ops[0]; k++) {
    fill_ints(s, n, rank, 6 + (int)k);
    for (int i = 0; i < n; i++) if (k >= 5) s[i] = s[i] % 3 == 0;
    COLL(MPI_Iallreduce(s, r, n, MPI_INT, ops[k].op, MPI_COMM_WORLD, &rq),
         MPI_Allreduce(s, r, n, MPI_INT, ops[k].op, MPI_COMM_WORLD));
    snprintf(name, sizeof name, "allreduce-%s-int", ops[k].name);
    report(name, bytes, r, sizeof(int) * n);
  }
  double *d = alloc(sizeof(double) * n, 0), *dr = alloc(sizeof(double) * n, 0);
  for (int i = 0; i < n; i++) d[i] = (rank * 3 + i) % 7 * 0.5;
  COLL(MPI_Iallreduce(d, dr, n, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD, &rq),
       MPI_Allreduce(d, dr, n, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD));
  report("allreduce-sum-double", bytes, dr, sizeof(double) * n);
  struct { double v; int i; } *dl = alloc(16 * n, 0), *dlr = alloc(16 * n, 0);
  for (int i = 0; i < n; i++) { dl[i].v = (rank * 5 + i) % 4; dl[i].i = rank; }
  COLL(MPI_Iallreduce(dl, dlr, n, MPI_DOUBLE_INT, MPI_MAXLOC, MPI_COMM_WORLD, &rq),
       MPI_Allreduce(dl, dlr, n, MPI_DOUBLE_INT, MPI_MAXLOC, MPI_COMM_WORLD));
  unsigned long acc = 0;       /* wraps modulo 2^64: printed as the signed value it always was */
  for (int i = 0; i < n; i++) acc = acc * 31 + (unsigned long)((long)dlr[i].v * 100 + dlr[i].i);
  out("%-26s %8ld %-11s r%d %ld\n", "allreduce-maxloc-double-int", bytes, form(), rank, (long)acc);
  int (*il)[2] = alloc(8 * n, 0), (*ilr)[2] = alloc(8 * n, 0);
  for (int i = 0; i < n; i++) { il[i][0] = (rank * 7 + i) % 5; il[i][1] = rank; }
  COLL(MPI_Iallreduce(il, ilr, n, MPI_2INT, MPI_MINLOC, MPI_COMM_WORLD, &rq),
       MPI_Allreduce(il, ilr, n, MPI_2INT, MPI_MINLOC, MPI_COMM_WORLD));
  report("allreduce-minloc-2int", bytes, ilr, 8 * n);
}

static void t_gather(long bytes, int inplace)
{
  int b = block_of(bytes);
  unsigned char *s = alloc(b, 0), *r = alloc((size_t)b * size, 0xEE);
  fill_bytes(s, b, rank, 7);
  const void *sb = s;
  if (inplace && rank == root) { memcpy(r + (size_t)b * rank, s, b); sb = MPI_IN_PLACE; }
  COLL(MPI_Igather(sb, b, MPI_BYTE, r, b, MPI_BYTE, root, MPI_COMM_WORLD, &rq),
       MPI_Gather(sb, b, MPI_BYTE, r, b, MPI_BYTE, root, MPI_COMM_WORLD));
  if (rank == root) report(inplace ? "gather-inplace" : "gather", bytes, r, (size_t)b * size);
}

static void t_gatherv(long bytes, int inplace)
{
  int b = block_of(bytes), counts[64] = {0}, displs[64] = {0};
  vlayout(b, counts, displs, 0, 0);
  unsigned char *s = alloc(counts[rank], 0), *r = alloc(vtotal(counts), 0xEE);
  fill_bytes(s, counts[rank], rank, 8);
  const void *sb = s;
  if (inplace && rank == root) { memcpy(r + displs[rank], s, counts[rank]); sb = MPI_IN_PLACE; }
  COLL(MPI_Igatherv(sb, counts[rank], MPI_BYTE, r, counts, displs, MPI_BYTE, root, MPI_COMM_WORLD, &rq),
       MPI_Gatherv(sb, counts[rank], MPI_BYTE, r, counts, displs, MPI_BYTE, root, MPI_COMM_WORLD));
  if (rank == root) report(inplace ? "gatherv-inplace" : "gatherv", bytes, r, vtotal(counts));
}

static void t_scatter(long bytes, int inplace)
{
  int b = block_of(bytes);
  unsigned char *s = alloc((size_t)b * size, 0), *r = alloc(b, 0xEE);
  if (rank == root) fill_bytes(s, (size_t)b * size, rank, 9);
  void *rb = inplace && rank == root ? MPI_IN_PLACE : r;
  COLL(MPI_Iscatter(s, b, MPI_BYTE, rb, b, MPI_BYTE, root, MPI_COMM_WORLD, &rq),
       MPI_Scatter(s, b, MPI_BYTE, rb, b, MPI_BYTE, root, MPI_COMM_WORLD));
  if (rb == MPI_IN_PLACE) memcpy(r, s + (size_t)b * rank, b);
  report(inplace ? "scatter-inplace" : "scatter", bytes, r, b);
}

static void t_scatterv(long bytes, int inplace)
{
  int b = block_of(bytes), counts[64] = {0}, displs[64] = {0};
  vlayout(b, counts, displs, 0, 0);
  unsigned char *s = alloc(vtotal(counts), 0), *r = alloc(counts[rank], 0xEE);
  if (rank == root) fill_bytes(s, vtotal(counts), rank, 10);
  void *rb = inplace && rank == root ? MPI_IN_PLACE : r;
  COLL(MPI_Iscatterv(s, counts, displs, MPI_BYTE, rb, counts[rank], MPI_BYTE, root, MPI_COMM_WORLD, &rq),
       MPI_Scatterv(s, counts, displs, MPI_BYTE, rb, counts[rank], MPI_BYTE, root, MPI_COMM_WORLD));
  if (rb == MPI_IN_PLACE) memcpy(r, s + displs[rank], counts[rank]);
  report(inplace ? "scatterv-inplace" : "scatterv", bytes, r, counts[rank]);
}

static void t_allgather(long bytes, int inplace)
{
  int b = block_of(bytes);
  unsigned char *s = alloc(b, 0), *r = alloc((size_t)b * size, 0xEE);
  fill_bytes(inplace ? r + (size_t)b * rank : s, b, rank, 11);
  const void *sb = inplace ? MPI_IN_PLACE : s;
  COLL(MPI_Iallgather(sb, b, MPI_BYTE, r, b, MPI_BYTE, MPI_COMM_WORLD, &rq),
       MPI_Allgather(sb, b, MPI_BYTE, r, b, MPI_BYTE, MPI_COMM_WORLD));
  report(inplace ? "allgather-inplace" : "allgather", bytes, r, (size_t)b * size);
}

static void t_allgatherv(long bytes, int inplace)
{
  int b = block_of(bytes), counts[64] = {0}, displs[64] = {0};
  vlayout(b, counts, displs, 0, 0);
  unsigned char *s = alloc(counts[rank], 0), *r = alloc(vtotal(counts), 0xEE);
  fill_bytes(inplace ? r + displs[rank] : s, counts[rank], rank, 12);
  const void *sb = inplace ? MPI_IN_PLACE : s;
  COLL(MPI_Iallgatherv(sb, counts[rank], MPI_BYTE, r, counts, displs, MPI_BYTE, MPI_COMM_WORLD, &rq),
       MPI_Allgatherv(sb, counts[rank], MPI_BYTE, r, counts, displs, MPI_BYTE, MPI_COMM_WORLD));
  report(inplace ? "allgatherv-inplace" : "allgatherv", bytes, r, vtotal(counts));
}

static void t_alltoall(long bytes, int inplace)
{
  int b = block_of(bytes);
  unsigned char *s = alloc((size_t)b * size, 0), *r = alloc((size_t)b * size, 0xEE);
  fill_bytes(inplace ? r : s, (size_t)b * size, rank, 13);
  const void *sb = inplace ? MPI_IN_PLACE : s;
  COLL(MPI_Ialltoall(sb, b, MPI_BYTE, r, b, MPI_BYTE, MPI_COMM_WORLD, &rq),
       MPI_Alltoall(sb, b, MPI_BYTE, r, b, MPI_BYTE, MPI_COMM_WORLD));
  report(inplace ? "alltoall-inplace" : "alltoall", bytes, r, (size_t)b * size);
}

static void t_alltoallv(long bytes)
{
  int b = block_of(bytes), sc[64] = {0}, sd[64] = {0}, rc[64] = {0}, rd[64] = {0};
  vlayout(b, sc, sd, rank, 1);        /* what I send to j: vcount2(me, j) */
  vlayout(b, rc, rd, -rank - 1, 1);   /* what I get from j: vcount2(j, me) */
  unsigned char *s = alloc(vtotal(sc), 0), *r = alloc(vtotal(rc), 0xEE);
  fill_bytes(s, vtotal(sc), rank, 14);
  COLL(MPI_Ialltoallv(s, sc, sd, MPI_BYTE, r, rc, rd, MPI_BYTE, MPI_COMM_WORLD, &rq),
       MPI_Alltoallv(s, sc, sd, MPI_BYTE, r, rc, rd, MPI_BYTE, MPI_COMM_WORLD));
  report("alltoallv", bytes, r, vtotal(rc));
}

static void t_reduce_scatter_block(long bytes, int inplace)
{
  int n = ints_of(bytes), b = n / size ? n / size : n > 0;
  int *s = alloc(sizeof(int) * b * size, 0), *r = alloc(sizeof(int) * b * size, 0);
  fill_ints(inplace ? r : s, (size_t)b * size, rank, 15);
  COLL(MPI_Ireduce_scatter_block(inplace ? MPI_IN_PLACE : s, r, b, MPI_INT, MPI_SUM, MPI_COMM_WORLD, &rq),
       MPI_Reduce_scatter_block(inplace ? MPI_IN_PLACE : s, r, b, MPI_INT, MPI_SUM, MPI_COMM_WORLD));
  report(inplace ? "reduce_scatter_block-inplace" : "reduce_scatter_block", bytes, r, sizeof(int) * b);
}

static void t_reduce_scatter(long bytes, int inplace, int user)
{
  int n = user ? pairs_of(bytes) : ints_of(bytes), counts[64], total = 0;
  int b = n / size ? n / size : n > 0;
  for (int i = 0; i < size; i++) total += counts[i] = vcount(b, i);
  size_t esz = user ? 8 : 4;
  void *s = alloc(esz * total, 0), *r = alloc(esz * total, 0);
  if (user) fill_pairs(inplace ? r : s, total, rank, 16);
  else fill_ints(inplace ? r : s, total, rank, 16);
  MPI_Datatype t = user ? pair : MPI_INT;
  MPI_Op op = user ? affine : MPI_SUM;
  COLL(MPI_Ireduce_scatter(inplace ? MPI_IN_PLACE : s, r, counts, t, op, MPI_COMM_WORLD, &rq),
       MPI_Reduce_scatter(inplace ? MPI_IN_PLACE : s, r, counts, t, op, MPI_COMM_WORLD));
  report(user ? "reduce_scatter-userop" : inplace ? "reduce_scatter-inplace" : "reduce_scatter", bytes,
         r, esz * counts[rank]);
}

static void t_scan(long bytes, int ex, int inplace, int user)
{
  int n = user ? pairs_of(bytes) : ints_of(bytes);
  size_t esz = user ? 8 : 4;
  void *s = alloc(esz * n, 0), *r = alloc(esz * n, 0);
  if (user) fill_pairs(inplace ? r : s, n, rank, 17);
  else fill_ints(inplace ? r : s, n, rank, 17);
  const void *sb = inplace ? MPI_IN_PLACE : s;
  MPI_Datatype t = user ? pair : MPI_INT;
  MPI_Op op = user ? affine : MPI_SUM;
  if (ex)
    COLL(MPI_Iexscan(sb, r, n, t, op, MPI_COMM_WORLD, &rq), MPI_Exscan(sb, r, n, t, op, MPI_COMM_WORLD));
  else
    COLL(MPI_Iscan(sb, r, n, t, op, MPI_COMM_WORLD, &rq), MPI_Scan(sb, r, n, t, op, MPI_COMM_WORLD));
  char name[64];
  snprintf(name, sizeof name, "%s%s%s", ex ? "exscan" : "scan", user ? "-userop" : "-sum",
           inplace ? "-inplace" : "");
  if (!ex || rank > 0) report(name, bytes, r, esz * n);
}

static void run_size(long bytes)
{
  t_bcast(bytes);
  t_reduce(bytes, 0); t_reduce(bytes, 1); t_reduce_user(bytes);
  t_allreduce(bytes, 0); t_allreduce(bytes, 1); t_allreduce_user(bytes);
  if (bytes == 64 || bytes == 4096) t_allreduce_ops(bytes);
  t_gather(bytes, 0); t_gather(bytes, 1); t_gatherv(bytes, 0); t_gatherv(bytes, 1);
  t_scatter(bytes, 0); t_scatter(bytes, 1); t_scatterv(bytes, 0); t_scatterv(bytes, 1);
  t_allgather(bytes, 0); t_allgather(bytes, 1); t_allgatherv(bytes, 0); t_allgatherv(bytes, 1);
  t_alltoall(bytes, 0); t_alltoall(bytes, 1); t_alltoallv(bytes);
  t_reduce_scatter_block(bytes, 0); t_reduce_scatter_block(bytes, 1);
  t_reduce_scatter(bytes, 0, 0); t_reduce_scatter(bytes, 1, 0); t_reduce_scatter(bytes, 0, 1);
  for (int ex = 0; ex < 2; ex++) { t_scan(bytes, ex, 0, 0); t_scan(bytes, ex, 1, 0); t_scan(bytes, ex, 0, 1); }
}

int main(int argc, char **argv)
{
  static const long sizes[] = {0, 1, 64, 4096, 65536, 1 << 20, 4 << 20};
  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  long max = argc > 1 ? atol(argv[1]) : 4 << 20;
  must(size <= 64, "at most 64 ranks");
  root = size / 2;
  MPI_Type_contiguous(2, MPI_UNSIGNED, &pair);
  MPI_Type_commit(&pair);
  MPI_Op_create(affine_fn, 0, &affine);
  for (nb = 0; nb < 2; nb++) {
    COLL(MPI_Ibarrier(MPI_COMM_WORLD, &rq), MPI_Barrier(MPI_COMM_WORLD));
    out("barrier %s r%d done\n", form(), rank);
  }
  for (size_t k = 0; k < sizeof sizes / sizeof sizes[0] && sizes[k] <= max; k++)
    for (nb = 0; nb < 2; nb++) run_size(sizes[k]);
  MPI_Op_free(&affine);
  MPI_Type_free(&pair);
  out_flush_all();
  MPI_Finalize();
  return 0;
}
