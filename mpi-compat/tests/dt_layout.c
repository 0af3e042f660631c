/* dt_layout.c - prints the layout of tricky derived datatypes, for comparison with Open MPI.
 *
 * A plain MPI program: built with Open MPI's mpicc it printed tests/data/dt_layout.expected;
 * built against libmrpc_mpi it must print the same (test mpi_dt_layout). For each type it
 * prints MPI_Type_size, MPI_Type_get_extent, MPI_Type_get_true_extent, the MPI_Pack_size of two
 * elements and the bytes MPI_Pack makes of two elements of a buffer whose byte i is i % 251 + 1
 * (so every byte says where it came from), then MPI_Unpack of that image into a zeroed buffer,
 * printed as the offsets it wrote. Then 1000 random type trees (every constructor, 3 deep, from
 * a fixed seed of its own generator, so both builds make the same trees) print the same figures
 * and a hash of their packed image, with one line each. Their block lengths are never zero:
 * Open MPI 4.1 mishandles types with empty parts (it packs the second element of
 * struct { 3 x int at -25, 2 x an empty type at 14 } 12 bytes after the first, not at the
 * extent, 40; and an empty hvector still stretches a parent's bounds), and some vectors with a
 * small negative stride (hvector(2, 1, -1, MPI_CHAR) packs the bytes at 0 and +1, not 0 and
 * -1): hvector strides are positive here. libmrpc_mpi follows the standard in those cases,
 * which test_mpi_dt's interpreter checks. */
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
    MPI_Type_create_hindexed(3, bl, ad, MPI_SHORT, &t);
    show("hindexed({2,1,3},{0,13,40},short)", t);
    MPI_Type_create_indexed_block(3, 2, di, MPI_DOUBLE, &t);
    show("indexed_block(3,2,{5,0,-3},double)", t);
    MPI_Type_create_hindexed_block(3, 1, ad, MPI_INT, &t);
    show("hindexed_block(3,1,{0,13,40},int)", t);
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

/* ---- random trees ------------------------------------------------------------------------- */

#define BIG 65536           /* the random trees' buffer, elements at its middle */
static unsigned char big[2 * BIG], bigpacked[2 * BIG];
static unsigned long long seed = 15;

static int rnd(int lo, int hi)
{
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    return lo + (int)((seed >> 33) % (unsigned long long)(hi - lo + 1));
}

#define NLEAVES 6

static MPI_Datatype leaf(int i)
{
    MPI_Datatype leaves[NLEAVES] = { MPI_CHAR, MPI_SHORT, MPI_INT, MPI_DOUBLE, MPI_SHORT_INT,
                                     MPI_DOUBLE_INT };
    return leaves[i];
}

static void free_derived(MPI_Datatype *t)
{
    for (int i = 0; i < NLEAVES; i++)
        if (*t == leaf(i))
            return;
    MPI_Type_free(t);
}

/* A random type DEPTH deep at most; the top one (TOP) is always derived. */
static MPI_Datatype random_type(int depth, int top)
{
    int n = rnd(1, 3), bl[3], di[3], kind = top ? rnd(0, 8) : depth ? rnd(0, 9) : 9;
    MPI_Aint ad[3];
    MPI_Datatype kid[3], t;

    if (kind == 9)
        return leaf(rnd(0, NLEAVES - 1));
    for (int i = 0; i < 3; i++) {
        bl[i] = rnd(1, 3);
        di[i] = rnd(-5, 5);
        ad[i] = rnd(-30, 30);
        kid[i] = i == 0 || kind == 7 ? random_type(depth - 1, 0) : MPI_DATATYPE_NULL;
    }
    switch (kind) {
    case 0: MPI_Type_contiguous(n, kid[0], &t); break;
    case 1: MPI_Type_vector(n, bl[0], di[0], kid[0], &t); break;
    case 2: MPI_Type_create_hvector(n, bl[0], ad[0] < 0 ? -ad[0] : ad[0], kid[0], &t); break;
    case 3: MPI_Type_indexed(n, bl, di, kid[0], &t); break;
    case 4: MPI_Type_create_hindexed(n, bl, ad, kid[0], &t); break;
    case 5: MPI_Type_create_indexed_block(n, bl[0], di, kid[0], &t); break;
    case 6: MPI_Type_create_resized(kid[0], ad[0], rnd(1, 32), &t); break;
    case 7: MPI_Type_create_struct(n, bl, ad, kid, &t); break;
    default: MPI_Type_dup(kid[0], &t);
    }
    for (int i = 0; i < 3; i++)
        if (kid[i] != MPI_DATATYPE_NULL)
            free_derived(&kid[i]);
    return t;
}

static void random_trees(void)
{
    for (int i = 0; i < 1000; i++) {
        MPI_Datatype t = random_type(3, 1);
        MPI_Aint lb, ext, tlb, text;
        int size, pos = 0;
        unsigned long long h = 14695981039346656037ull;

        MPI_Type_commit(&t);
        MPI_Type_size(t, &size);
        MPI_Type_get_extent(t, &lb, &ext);
        MPI_Type_get_true_extent(t, &tlb, &text);
        if (size <= BIG && tlb >= -BIG && ext >= 0 && tlb + text + ext <= BIG)
            MPI_Pack(big + BIG, 2, t, bigpacked, (int)sizeof(bigpacked), &pos, MPI_COMM_WORLD);
        for (int j = 0; j < pos; j++)
            h = (h ^ bigpacked[j]) * 1099511628211ull;
        if (size == 0)                  /* empty types' bounds are Open MPI's own quirks */
            printf("random %d: size 0\n", i);
        else
            printf("random %d: size %d lb %ld extent %ld true_lb %ld true_extent %ld packed %d "
                   "%016llx\n", i, size, (long)lb, (long)ext, (long)tlb, (long)text, pos, h);
        MPI_Type_free(&t);
    }
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    for (int i = 0; i < 2 * SPAN; i++)
        src[i] = (unsigned char)(i % 251 + 1);
    for (int i = 0; i < 2 * BIG; i++)
        big[i] = (unsigned char)(i % 251 + 1);
    constructors();
    structs();
    random_trees();
    MPI_Finalize();
    return 0;
}
