/* dt_layout.c - prints the layout of tricky derived datatypes, for comparison with Open MPI.
 *
 * A plain MPI program: built with Open MPI's mpicc it printed tests/data/dt_layout.expected;
 * built against libmrpc_mpi it must print the same (test mpi_dt_layout). For each type it
 * prints MPI_Type_size, MPI_Type_get_extent, MPI_Type_get_true_extent, the MPI_Pack_size of two
 * elements and the bytes MPI_Pack makes of two elements of a buffer whose byte i is i % 251 + 1
 * (so every byte says where it came from), then MPI_Unpack of that image into a zeroed buffer,
 * printed as the offsets it wrote. */
#include <mpi.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#define SPAN 512            /* the buffer: elements start at its middle, lower bounds below */

static unsigned char src[2 * SPAN], dst[2 * SPAN], packed[4096];

static void show(const char *name, MPI_Datatype t)
{
    MPI_Aint lb, ext, tlb, text;
    int size, psize, pos = 0, upos = 0;

    MPI_Type_commit(&t);
    MPI_Type_size(t, &size);
    MPI_Type_get_extent(t, &lb, &ext);
    MPI_Type_get_true_extent(t, &tlb, &text);
    MPI_Pack_size(2, t, MPI_COMM_WORLD, &psize);
    printf("%s: size %d lb %ld extent %ld true_lb %ld true_extent %ld pack_size(2) %d\n", name,
           size, (long)lb, (long)ext, (long)tlb, (long)text, psize);
    MPI_Pack(src + SPAN, 2, t, packed, (int)sizeof(packed), &pos, MPI_COMM_WORLD);
    printf("  packed %d:", pos);
    for (int i = 0; i < pos; i++)
        printf(" %d", packed[i]);
    memset(dst, 0, sizeof(dst));
    MPI_Unpack(packed, pos, &upos, dst + SPAN, 2, t, MPI_COMM_WORLD);
    printf("\n  unpacked at:");
    for (int i = 0; i < 2 * SPAN; i++)
        if (dst[i])
            printf(" %d", i - SPAN);
    printf("\n");
    MPI_Type_free(&t);
}

static MPI_Datatype structure(int n, const int *bl, const MPI_Aint *d, const MPI_Datatype *ts)
{
    MPI_Datatype t;
    MPI_Type_create_struct(n, bl, d, ts, &t);
    return t;
}

static void constructors(void)
{
    MPI_Datatype t, u;
    int bl[3] = { 2, 1, 3 }, di[3] = { 5, 0, -3 };
    MPI_Aint ad[3] = { 0, 13, 40 };

    MPI_Type_contiguous(3, MPI_SHORT, &t); show("contiguous(3,short)", t);
    MPI_Type_vector(3, 2, 4, MPI_INT, &t); show("vector(3,2,4,int)", t);
    MPI_Type_vector(3, 2, -3, MPI_SHORT, &t); show("vector(3,2,-3,short)", t);
    MPI_Type_create_hvector(2, 3, 7, MPI_CHAR, &t); show("hvector(2,3,7,char)", t);
    MPI_Type_create_hvector(2, 1, 5, MPI_INT, &t); show("hvector(2,1,5,int)", t);
    MPI_Type_indexed(3, bl, di, MPI_INT, &t); show("indexed({2,1,3},{5,0,-3},int)", t);
    MPI_Type_create_hindexed(3, bl, ad, MPI_SHORT, &t); show("hindexed({2,1,3},{0,13,40},short)", t);
    MPI_Type_create_indexed_block(3, 2, di, MPI_DOUBLE, &t); show("indexed_block(3,2,{5,0,-3},double)", t);
    MPI_Type_create_hindexed_block(3, 1, ad, MPI_INT, &t); show("hindexed_block(3,1,{0,13,40},int)", t);
    MPI_Type_contiguous(0, MPI_INT, &t); show("contiguous(0,int)", t);
    MPI_Type_vector(2, 1, 3, MPI_DOUBLE_INT, &t); show("vector(2,1,3,double_int)", t);
    MPI_Type_contiguous(2, MPI_SHORT_INT, &t); show("contiguous(2,short_int)", t);
    MPI_Type_dup(MPI_LONG_DOUBLE_INT, &u); show("dup(long_double_int)", u);
}

static void structs(void)
{
    MPI_Datatype t, v, r, s;
    int bl[3] = { 1, 1, 1 }, b2[3] = { 1, 2, 0 };
    MPI_Aint d1[3] = { 0, 8, 12 }, d2[3] = { 0, 4, 100 }, d3[3] = { 8, 0, 20 };
    MPI_Datatype t1[3] = { MPI_DOUBLE, MPI_CHAR, MPI_INT };

    show("struct{double@0,char@8,int@12}", structure(3, bl, d1, t1));
    MPI_Datatype t2[3] = { MPI_INT, MPI_CHAR, MPI_INT };
    show("struct{int@0,2char@4,0int@100}", structure(3, b2, d2, t2));
    MPI_Type_vector(2, 1, 3, MPI_DOUBLE, &v);
    MPI_Datatype t3[3] = { MPI_CHAR, v, MPI_SHORT };
    MPI_Aint d4[3] = { 0, 8, 48 };
    s = structure(3, bl, d4, t3);
    MPI_Type_dup(s, &t);
    show("struct{char@0,vector(2,1,3,double)@8,short@48}", s);
    MPI_Type_contiguous(2, t, &r);
    show("contiguous(2,struct-of-vector)", r);
    MPI_Type_free(&t);
    MPI_Type_create_resized(MPI_INT, -4, 12, &r);
    show("resized(int,-4,12)", r);
    MPI_Type_create_resized(MPI_INT, -4, 12, &r);
    MPI_Datatype t4[3] = { r, MPI_INT, MPI_INT };
    show("struct{resized@8,int@0,int@20}", structure(3, bl, d3, t4));
    MPI_Type_free(&r);
    MPI_Type_create_resized(v, -16, 8, &r);
    MPI_Type_contiguous(3, r, &t);
    show("contiguous(3,resized(vector,-16,8))", t);
    MPI_Type_free(&r);
    MPI_Type_free(&v);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    for (int i = 0; i < 2 * SPAN; i++)
        src[i] = (unsigned char)(i % 251 + 1);
    constructors();
    structs();
    MPI_Finalize();
    return 0;
}
