/* reduce_dt.c - reductions on derived datatypes whose lower bound is not 0 or whose elements are
 * pair types: a struct of two ints at displacement 8 (lb 8), a struct of one double at -8 (a
 * negative lb), a contiguous of MPI_2INT with MAXLOC and a contiguous of the padded
 * MPI_DOUBLE_INT with MINLOC, through Reduce, Allreduce (small, and from 64 KiB, where the ring
 * algorithms run in scratch buffers), Scan and Reduce_scatter_block. Each result is checked
 * against the value computed by hand here (a line says "ok", or "FAILED:" with the first wrong
 * word), the bytes outside the type's data are checked untouched, and everything is printed.
 *
 * Built as it is, the operations are user operations (MPI_Op_create) that do what SUM, MAX,
 * MAXLOC and MINLOC do on these layouts: Open MPI and MPICH refuse predefined operations on
 * derived types, so this is the form whose output equals Open MPI's (expected/). Built with
 * -DPREDEFINED_OPS it uses MPI_SUM, MPI_MAX, MPI_MAXLOC and MPI_MINLOC themselves, which
 * libmrpc_mpi defines on derived types made of one predefined type; the hand-computed values
 * are then the reference. */
#include "common.h"

#define BIG 20000                   /* elements of 8 data bytes: 160 KB, above 64 KiB */

static int rank, size;

struct di { double v; int i; };

/* ---- the user operations, one per layout ---------------------------------------------------- */

static void sum_ints_at_8(void *in, void *io, int *len, MPI_Datatype *dt)
{
  (void)dt;
  for (int k = 0; k < 2 * *len; k++)
    ((int *)((char *)io + 8))[k] += ((int *)((char *)in + 8))[k];
}

static void max_double_at_m8(void *in, void *io, int *len, MPI_Datatype *dt)
{
  (void)dt;
  double *a = (double *)((char *)in - 8), *b = (double *)((char *)io - 8);
  for (int k = 0; k < *len; k++)
    if (a[k] > b[k]) b[k] = a[k];
}

static void maxloc_2int(void *in, void *io, int *len, MPI_Datatype *dt)
{
  (void)dt;
  int *a = in, *b = io;
  for (int k = 0; k < 2 * *len; k++, a += 2, b += 2)
    if (a[0] > b[0] || (a[0] == b[0] && a[1] < b[1])) { b[0] = a[0]; b[1] = a[1]; }
}

static void minloc_double_int(void *in, void *io, int *len, MPI_Datatype *dt)
{
  (void)dt;
  struct di *a = in, *b = io;
  for (int k = 0; k < 3 * *len; k++)
    if (a[k].v < b[k].v || (a[k].v == b[k].v && a[k].i < b[k].i)) b[k] = a[k];
}

#ifdef PREDEFINED_OPS
#define OP(predefined, user) ((void)(user), (predefined))
#else
static MPI_Op user_op(MPI_User_function *fn)
{
  MPI_Op op;
  MPI_Op_create(fn, 1, &op);
  return op;
}
#define OP(predefined, user) user_op(user)
#endif

static void op_done(MPI_Op op)
{
#ifndef PREDEFINED_OPS
  MPI_Op_free(&op);
#else
  (void)op;
#endif
}

/* ---- checking ------------------------------------------------------------------------------- */

static void say(const char *what, int bad, unsigned long sum)
{
  if (bad < 0) out("reduce_dt: rank %d %s ok, checksum %lu\n", rank, what, sum);
  else out("FAILED: reduce_dt: rank %d %s wrong at word %d\n", rank, what, bad);
}

static unsigned long total(const int *w, int words)
{
  unsigned long s = 0;
  for (int i = 0; i < words; i++) s = s * 31 + (unsigned)w[i];
  return s;
}

/* sum over ranks r of (r * 10 + k) */
static long sum_of(int k) { return 10L * size * (size - 1) / 2 + (long)size * k; }

/* ---- a struct of two ints at displacement 8 ------------------------------------------------- */

static MPI_Datatype ints_at_8(void)
{
  int len = 2;
  MPI_Aint disp = 8;
  MPI_Datatype t, ty = MPI_INT;
  MPI_Type_create_struct(1, &len, &disp, &ty, &t);
  MPI_Type_commit(&t);
  return t;
}

/* COUNT elements: words 0 and 1 are outside the data (-1), element i's ints are words 2 + 2i and
 * 3 + 2i. */
static void fill_ints(int *w, int count, int base)
{
  for (int i = 0; i < 2; i++) w[i] = -1;
  for (int i = 0; i < 2 * count; i++) w[2 + i] = base + i % 97;
}

/* -1 when W holds the sum over ranks 0..UPTO of fill_ints(rank * 10), else the first wrong word. */
static int wrong_ints(const int *w, int count, int upto)
{
  long n = upto + 1;
  for (int i = 0; i < 2; i++) if (w[i] != -1) return i;
  for (int i = 0; i < 2 * count; i++)
    if (w[2 + i] != 10L * n * (n - 1) / 2 + n * (i % 97)) return 2 + i;
  return -1;
}

static void lb8(int count, const char *name)
{
  MPI_Datatype t = ints_at_8();
  MPI_Op op = OP(MPI_SUM, sum_ints_at_8);
  MPI_Aint lb, ext;
  int words = 2 + 2 * count, *in = malloc(sizeof(int) * (size_t)words), *res = malloc(sizeof(int) * (size_t)words);
  char what[80];
  MPI_Type_get_extent(t, &lb, &ext);
  if (count == 3) out("reduce_dt: rank %d struct(int x2 at 8): lb %ld extent %ld\n", rank, (long)lb, (long)ext);
  fill_ints(in, count, rank * 10);
  fill_ints(res, count, -1000);
  MPI_Reduce(in, res, count, t, op, size - 1, MPI_COMM_WORLD);
  if (rank == size - 1) {
    snprintf(what, sizeof what, "Reduce %s", name);
    say(what, wrong_ints(res, count, size - 1), total(res, words));
  }
  fill_ints(res, count, -1000);
  MPI_Allreduce(in, res, count, t, op, MPI_COMM_WORLD);
  snprintf(what, sizeof what, "Allreduce %s", name);
  say(what, wrong_ints(res, count, size - 1), total(res, words));
  fill_ints(res, count, -1000);
  MPI_Scan(in, res, count, t, op, MPI_COMM_WORLD);
  snprintf(what, sizeof what, "Scan %s", name);
  say(what, wrong_ints(res, count, rank), total(res, words));
  op_done(op);
  MPI_Type_free(&t);
  free(in);
  free(res);
}

/* Reduce_scatter_block: every rank gets 2 elements of the lb-8 type. */
static void scatter_block(void)
{
  MPI_Datatype t = ints_at_8();
  MPI_Op op = OP(MPI_SUM, sum_ints_at_8);
  int count = 2 * size, *in = malloc(sizeof(int) * (size_t)(2 + 2 * count)), res[6];
  fill_ints(in, count, rank * 10);
  for (int i = 0; i < 6; i++) res[i] = -1;
  MPI_Reduce_scatter_block(in, res, 2, t, op, MPI_COMM_WORLD);
  int bad = res[0] != -1 || res[1] != -1 ? 0 : -1;
  for (int i = 0; i < 4 && bad < 0; i++)
    if (res[2 + i] != sum_of((4 * rank + i) % 97)) bad = 2 + i;
  say("Reduce_scatter_block struct(int x2 at 8)", bad, total(res, 6));
  op_done(op);
  MPI_Type_free(&t);
  free(in);
}

/* ---- one double at displacement -8: element i's data at buf - 8 + 8i ------------------------ */

static void negative_lb(void)
{
  int len = 1;
  MPI_Aint disp = -8, lb, ext;
  MPI_Datatype t, ty = MPI_DOUBLE;
  MPI_Op op = OP(MPI_MAX, max_double_at_m8);
  MPI_Type_create_struct(1, &len, &disp, &ty, &t);
  MPI_Type_commit(&t);
  MPI_Type_get_extent(t, &lb, &ext);
  double in[6], res[6];
  for (int i = 0; i < 6; i++) { in[i] = rank * 1.5 + i; res[i] = -1; }
  MPI_Allreduce(in + 1, res + 1, 5, t, op, MPI_COMM_WORLD);
  int bad = res[5] != -1 ? 5 : -1;
  for (int i = 0; i < 5 && bad < 0; i++)
    if (res[i] != (size - 1) * 1.5 + i) bad = i;
  out("reduce_dt: rank %d struct(double at -8): lb %ld extent %ld, max %g %g\n", rank, (long)lb,
      (long)ext, res[0], res[4]);
  say("Allreduce struct(double at -8)", bad, (unsigned long)(res[0] + res[4]));
  op_done(op);
  MPI_Type_free(&t);
}

/* ---- pairs ---------------------------------------------------------------------------------- */

/* MAXLOC over a contiguous of MPI_2INT: value (rank * 7 + k) % 5, index rank; the largest
 * value, and among the ranks holding it the lowest index. */
static void pairs_2int(void)
{
  MPI_Datatype t;
  MPI_Op op = OP(MPI_MAXLOC, maxloc_2int);
  int in[8], res[8];
  MPI_Type_contiguous(2, MPI_2INT, &t);
  MPI_Type_commit(&t);
  for (int k = 0; k < 4; k++) { in[2 * k] = (rank * 7 + k) % 5; in[2 * k + 1] = rank; }
  MPI_Allreduce(in, res, 2, t, op, MPI_COMM_WORLD);
  int bad = -1;
  for (int k = 0; k < 4 && bad < 0; k++) {
    int best = -1, at = -1;
    for (int r = 0; r < size; r++)
      if ((r * 7 + k) % 5 > best) { best = (r * 7 + k) % 5; at = r; }
    if (res[2 * k] != best || res[2 * k + 1] != at) bad = 2 * k;
  }
  out("reduce_dt: rank %d contiguous(2, MPI_2INT) MAXLOC: (%d,%d) (%d,%d) (%d,%d) (%d,%d)\n", rank,
      res[0], res[1], res[2], res[3], res[4], res[5], res[6], res[7]);
  say("Allreduce contiguous(2, MPI_2INT) MAXLOC", bad, (unsigned long)(res[0] + res[1]));
  op_done(op);
  MPI_Type_free(&t);
}

/* MINLOC over a contiguous of the padded MPI_DOUBLE_INT, reduced at the root. */
static void pairs_double_int(void)
{
  MPI_Datatype t;
  MPI_Op op = OP(MPI_MINLOC, minloc_double_int);
  struct di in[3], res[3];
  MPI_Type_contiguous(3, MPI_DOUBLE_INT, &t);
  MPI_Type_commit(&t);
  memset(in, 0, sizeof in);
  for (int k = 0; k < 3; k++) { in[k].v = (double)((rank + k) % 3); in[k].i = 100 + rank; }
  memset(res, 0, sizeof res);
  MPI_Reduce(in, res, 1, t, op, 0, MPI_COMM_WORLD);
  if (rank == 0) {
    int bad = -1;
    for (int k = 0; k < 3 && bad < 0; k++) {
      int best = 1 << 30, at = -1;
      for (int r = 0; r < size; r++)
        if ((r + k) % 3 < best) { best = (r + k) % 3; at = 100 + r; }
      if (res[k].v != best || res[k].i != at) bad = k;
    }
    out("reduce_dt: contiguous(3, MPI_DOUBLE_INT) MINLOC: (%g,%d) (%g,%d) (%g,%d)\n", res[0].v,
        res[0].i, res[1].v, res[1].i, res[2].v, res[2].i);
    say("Reduce contiguous(3, MPI_DOUBLE_INT) MINLOC", bad, (unsigned long)(res[0].i + res[2].i));
  }
  op_done(op);
  MPI_Type_free(&t);
}

int main(int argc, char **argv)
{
  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  lb8(3, "struct(int x2 at 8) small");
  lb8(BIG, "struct(int x2 at 8) large");
  scatter_block();
  negative_lb();
  pairs_2int();
  pairs_double_int();
  out_flush_all();
  MPI_Finalize();
  return 0;
}
