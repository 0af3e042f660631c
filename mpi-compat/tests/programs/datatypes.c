/* datatypes.c - derived datatypes exchanged between ranks: each rank pairs with rank^1 (itself
 * when that rank does not exist) and sends with one type what the partner receives with
 * another of the same type signature: a vector received as contiguous ints, contiguous ints
 * received into an indexed layout, an array of structs (int, double, char[3]) described by
 * MPI_Type_create_struct and resized to the C struct's extent, and a resized int (extent of two
 * ints) used as a stride. Prints sizes, extents and checksums of what arrived (with the gaps
 * left untouched as -1, so a write outside the layout shows). */
#include "common.h"
#include <stddef.h>

struct rec { int a; double b; char c[3]; };

static void exchange(const void *sbuf, int scount, MPI_Datatype st, void *rbuf, int rcount,
                     MPI_Datatype rt, int partner)
{
  MPI_Status status;
  MPI_Sendrecv(sbuf, scount, st, partner, 11, rbuf, rcount, rt, partner, 11, MPI_COMM_WORLD, &status);
}

static void vector_case(int rank, int partner)
{
  int src[40], dst[20];
  MPI_Datatype vec;
  MPI_Type_vector(5, 3, 7, MPI_INT, &vec);
  MPI_Type_commit(&vec);
  for (int i = 0; i < 40; i++) src[i] = rank * 100 + i;
  for (int i = 0; i < 20; i++) dst[i] = -1;
  exchange(src, 1, vec, dst, 15, MPI_INT, partner);
  int size;
  MPI_Aint lb, extent;
  MPI_Type_size(vec, &size);
  MPI_Type_get_extent(vec, &lb, &extent);
  out("datatypes: rank %d vector(5,3,7): size %d extent %ld, got %d %d .. %d, checksum %016llx\n",
      rank, size, (long)extent, dst[0], dst[3], dst[14], (unsigned long long)checksum(dst, sizeof dst));
  MPI_Type_free(&vec);
}

static void indexed_case(int rank, int partner)
{
  int src[12], dst[30];
  int lens[3] = {2, 4, 6}, disps[3] = {1, 8, 20};
  MPI_Datatype idx;
  MPI_Type_indexed(3, lens, disps, MPI_INT, &idx);
  MPI_Type_commit(&idx);
  for (int i = 0; i < 12; i++) src[i] = rank * 1000 + i * 3;
  for (int i = 0; i < 30; i++) dst[i] = -1;
  exchange(src, 12, MPI_INT, dst, 1, idx, partner);
  MPI_Aint lb, extent;
  MPI_Type_get_extent(idx, &lb, &extent);
  out("datatypes: rank %d indexed: lb %ld extent %ld, got %d %d %d, checksum %016llx\n", rank,
      (long)lb, (long)extent, dst[1], dst[8], dst[25], (unsigned long long)checksum(dst, sizeof dst));
  MPI_Type_free(&idx);
}

static MPI_Datatype rec_type(void)
{
  int lens[3] = {1, 1, 3};
  MPI_Aint disps[3] = {offsetof(struct rec, a), offsetof(struct rec, b), offsetof(struct rec, c)};
  MPI_Datatype types[3] = {MPI_INT, MPI_DOUBLE, MPI_CHAR}, raw, rec;
  MPI_Type_create_struct(3, lens, disps, types, &raw);
  MPI_Type_create_resized(raw, 0, sizeof(struct rec), &rec);
  MPI_Type_commit(&rec);
  MPI_Type_free(&raw);
  return rec;
}

static void struct_case(int rank, int partner)
{
  struct rec src[4], dst[4];
  MPI_Datatype rec = rec_type();
  memset(src, 0, sizeof src);
  memset(dst, 0xff, sizeof dst);
  for (int i = 0; i < 4; i++) {
    src[i].a = rank * 10 + i;
    src[i].b = rank + i * 0.25;
    memcpy(src[i].c, i % 2 ? "xyz" : "abc", 3);
  }
  exchange(src, 4, rec, dst, 4, rec, partner);
  int size;
  MPI_Type_size(rec, &size);
  long sum = 0;
  double dsum = 0;
  for (int i = 0; i < 4; i++) { sum += dst[i].a + dst[i].c[0] + dst[i].c[2]; dsum += dst[i].b; }
  out("datatypes: rank %d struct: size %d, ints+chars %ld, doubles %.2f, last '%.3s'\n", rank, size,
      sum, dsum, dst[3].c);
  MPI_Type_free(&rec);
}

static void resized_case(int rank, int partner)
{
  int src[16], dst[16];
  MPI_Datatype every_other;
  MPI_Type_create_resized(MPI_INT, 0, 2 * sizeof(int), &every_other);
  MPI_Type_commit(&every_other);
  for (int i = 0; i < 16; i++) { src[i] = rank * 50 + i; dst[i] = -1; }
  exchange(src, 8, every_other, dst, 8, MPI_INT, partner);
  out("datatypes: rank %d resized stride: got %d %d %d, checksum %016llx\n", rank, dst[0], dst[1],
      dst[7], (unsigned long long)checksum(dst, sizeof dst));
  MPI_Datatype vec;
  MPI_Type_contiguous(4, every_other, &vec);
  MPI_Type_commit(&vec);
  for (int i = 0; i < 16; i++) dst[i] = -1;
  exchange(src, 4, MPI_INT, dst, 1, vec, partner);
  out("datatypes: rank %d contiguous(resized): got %d %d %d %d, checksum %016llx\n", rank, dst[0],
      dst[1], dst[2], dst[6], (unsigned long long)checksum(dst, sizeof dst));
  MPI_Type_free(&vec);
  MPI_Type_free(&every_other);
}

int main(int argc, char **argv)
{
  MPI_Init(&argc, &argv);
  int rank, size;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  int partner = (rank ^ 1) < size ? rank ^ 1 : rank;
  vector_case(rank, partner);
  indexed_case(rank, partner);
  struct_case(rank, partner);
  resized_case(rank, partner);
  out_flush_all();
  MPI_Finalize();
  return 0;
}
