/* test_mpi_dt.c - datatypes of libmrpc_mpi: predefined layouts, constructors, the pack/unpack
 * engine and the reference counts, through the MPI API and dt.h.
 *
 *   predefined   every predefined type's size and extent are C's sizeof; the pair types have
 *                the layout of their C structs (offsetof), MPI_SHORT_INT's hole included
 *   constructors each constructor packs what it describes and unpacks into exactly those bytes,
 *                element after element at the extent (count > 1), holes untouched
 *   nested       a struct holding a vector matches a C struct member by member
 *   resized      a negative lower bound packs data below the buffer address
 *   truncated    unpacking fewer bytes than the elements hold fills a whole element and part
 *                of the next, nothing else
 *   random       500 random type trees (every constructor, up to 3 deep) pack and unpack as an
 *                independent interpreter of the constructors says, and their size and bounds
 *                agree with it
 *   contiguous   a contiguous type of contiguous types is one block however large
 *   lifetime     a type freed while a request or a parent holds it still works until released
 *   errors       bad counts, null or freed or uncommitted types, freeing a predefined type, a
 *                pack buffer too small: each refused with its error class
 *   pack api     MPI_Pack/Unpack at positions, MPI_Pack_size, MPI_Get_elements
 *   pieces       packing and unpacking in windows of 1 to 13 bytes (mpix_dt_copy) gives the
 *                bytes and the buffer the whole operation gives */
#include "dt.h"
#include "dt_impl.h"
#include "phx_test.h"

#include <complex.h>
#include <mpi.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

/* ---- predefined --------------------------------------------------------------------------- */

static void expect_type(MPI_Datatype t, MPI_Aint size, MPI_Aint extent, MPI_Aint true_extent)
{
    int s = -1;
    MPI_Aint lb = -1, ext = -1, tlb = -1, text = -1;
    MPI_Count sx = -1;

    CU_ASSERT_EQUAL(MPI_Type_size(t, &s), MPI_SUCCESS);
    CU_ASSERT_EQUAL(MPI_Type_size_x(t, &sx), MPI_SUCCESS);
    CU_ASSERT_EQUAL(MPI_Type_get_extent(t, &lb, &ext), MPI_SUCCESS);
    CU_ASSERT_EQUAL(MPI_Type_get_true_extent(t, &tlb, &text), MPI_SUCCESS);
    if (s != size || ext != extent || text != true_extent || lb != 0 || tlb != 0 || sx != size)
        CU_FAIL_FATAL("a predefined type's size or extent differs from C's");
    CU_ASSERT_EQUAL(mpix_dt_check(t), MPI_SUCCESS);
}

#define SCALAR(mpi, ctype) expect_type(mpi, sizeof(ctype), sizeof(ctype), sizeof(ctype))
#define PAIR(mpi, vtype)                                                                       \
    do {                                                                                       \
        struct p { vtype v; int i; };                                                          \
        expect_type(mpi, sizeof(vtype) + sizeof(int), sizeof(struct p),                        \
                    offsetof(struct p, i) + sizeof(int));                                      \
    } while (0)

static void test_predefined(void)
{
    SCALAR(MPI_CHAR, char); SCALAR(MPI_SIGNED_CHAR, signed char);
    SCALAR(MPI_UNSIGNED_CHAR, unsigned char); SCALAR(MPI_SHORT, short);
    SCALAR(MPI_UNSIGNED_SHORT, unsigned short); SCALAR(MPI_INT, int);
    SCALAR(MPI_UNSIGNED, unsigned); SCALAR(MPI_LONG, long); SCALAR(MPI_UNSIGNED_LONG, long);
    SCALAR(MPI_LONG_LONG_INT, long long); SCALAR(MPI_LONG_LONG, long long);
    SCALAR(MPI_UNSIGNED_LONG_LONG, unsigned long long); SCALAR(MPI_FLOAT, float);
    SCALAR(MPI_DOUBLE, double); SCALAR(MPI_LONG_DOUBLE, long double);
    SCALAR(MPI_WCHAR, wchar_t); SCALAR(MPI_C_BOOL, _Bool);
    SCALAR(MPI_INT8_T, int8_t); SCALAR(MPI_INT16_T, int16_t); SCALAR(MPI_INT32_T, int32_t);
    SCALAR(MPI_INT64_T, int64_t); SCALAR(MPI_UINT8_T, uint8_t); SCALAR(MPI_UINT16_T, uint16_t);
    SCALAR(MPI_UINT32_T, uint32_t); SCALAR(MPI_UINT64_T, uint64_t);
    SCALAR(MPI_AINT, MPI_Aint); SCALAR(MPI_OFFSET, MPI_Offset); SCALAR(MPI_COUNT, MPI_Count);
    SCALAR(MPI_C_COMPLEX, float _Complex); SCALAR(MPI_C_FLOAT_COMPLEX, float _Complex);
    SCALAR(MPI_C_DOUBLE_COMPLEX, double _Complex);
    SCALAR(MPI_C_LONG_DOUBLE_COMPLEX, long double _Complex);
    SCALAR(MPI_BYTE, char); SCALAR(MPI_PACKED, char);
    PAIR(MPI_FLOAT_INT, float); PAIR(MPI_DOUBLE_INT, double); PAIR(MPI_LONG_INT, long);
    PAIR(MPI_2INT, int); PAIR(MPI_SHORT_INT, short); PAIR(MPI_LONG_DOUBLE_INT, long double);
}

/* MPI_SHORT_INT packs the short and the int of its struct, not the hole between them. */
static void test_pair_layout(void)
{
    struct { short v; int i; } in[2] = { { -3, 70000 }, { 9, -5 } }, out[2];
    char packed[12];

    CU_ASSERT_EQUAL_FATAL(sizeof(in[0]), 8u);
    mpix_dt_pack(in, 2, MPI_SHORT_INT, packed);
    CU_ASSERT_EQUAL(memcmp(packed, &in[0].v, 2), 0);
    CU_ASSERT_EQUAL(memcmp(packed + 2, &in[0].i, 4), 0);
    CU_ASSERT_EQUAL(memcmp(packed + 6, &in[1].v, 2), 0);
    CU_ASSERT_EQUAL(memcmp(packed + 8, &in[1].i, 4), 0);
    memset(out, 0x5a, sizeof(out));
    mpix_dt_unpack(packed, 12, out, 2, MPI_SHORT_INT);
    CU_ASSERT(out[0].v == -3 && out[0].i == 70000 && out[1].v == 9 && out[1].i == -5);
    CU_ASSERT_EQUAL(((unsigned char *)out)[2], 0x5a);       /* the hole stays as it was */
}

/* ---- a byte-level reference: the offsets of a type's data bytes in type-map order -------- */

struct bytes {
    MPI_Aint *at;
    size_t    n, cap;
};

static void bytes_add(struct bytes *b, MPI_Aint off)
{
    if (b->n == b->cap) {
        b->cap = b->cap ? 2 * b->cap : 256;
        b->at = realloc(b->at, b->cap * sizeof(*b->at));
        CU_ASSERT_PTR_NOT_NULL_FATAL(b->at);
    }
    b->at[b->n++] = off;
}

/* Packs by the reference offsets, and checks MPI_Pack against it; then unpacks both ways into
 * buffers that start equal and compares them whole. BUF has room [-SPAN, SPAN). */
#define SPAN 8192
static unsigned char srcbuf[2 * SPAN], refbuf[2 * SPAN], outbuf[2 * SPAN];

static void check_against(MPI_Datatype t, int count, const struct bytes *ref)
{
    unsigned char *packed = malloc(ref->n + 1), *mine = malloc(ref->n + 1);
    int pos = 0, upos = 0;

    CU_ASSERT_PTR_NOT_NULL_FATAL(packed);
    CU_ASSERT_PTR_NOT_NULL_FATAL(mine);
    for (size_t i = 0; i < ref->n; i++)
        packed[i] = srcbuf[SPAN + ref->at[i]];
    CU_ASSERT_EQUAL_FATAL(MPI_Pack(srcbuf + SPAN, count, t, mine, (int)ref->n + 1, &pos,
                                   MPI_COMM_WORLD), MPI_SUCCESS);
    CU_ASSERT_EQUAL_FATAL((size_t)pos, ref->n);
    CU_ASSERT_FATAL(memcmp(packed, mine, ref->n) == 0);
    memset(refbuf, 0, sizeof(refbuf));
    memset(outbuf, 0, sizeof(outbuf));
    for (size_t i = 0; i < ref->n; i++)
        refbuf[SPAN + ref->at[i]] = packed[i];
    CU_ASSERT_EQUAL_FATAL(MPI_Unpack(packed, pos, &upos, outbuf + SPAN, count, t,
                                     MPI_COMM_WORLD), MPI_SUCCESS);
    CU_ASSERT_FATAL(memcmp(refbuf, outbuf, sizeof(outbuf)) == 0);
    free(packed);
    free(mine);
}

static MPI_Aint extent_of(MPI_Datatype t)
{
    MPI_Aint lb, ext;
    MPI_Type_get_extent(t, &lb, &ext);
    return ext;
}

/* COUNT elements of T laid out by a constructor's arithmetic: ELEM(i) gives element offsets. */
static void ref_elems(struct bytes *b, MPI_Datatype leaf, const MPI_Aint *leaf_bytes,
                      size_t nleaf, int count, MPI_Aint base)
{
    for (int k = 0; k < count; k++)
        for (size_t j = 0; j < nleaf; j++)
            bytes_add(b, base + k * extent_of(leaf) + leaf_bytes[j]);
}

static const MPI_Aint INT_BYTES[] = { 0, 1, 2, 3 };

static void test_constructors(void)
{
    MPI_Datatype t;
    struct bytes ref = { 0 };
    int bl[3] = { 2, 0, 3 }, di[3] = { 4, 1, -6 };
    MPI_Aint ad[3] = { 3, 50, -17 };

    for (int i = 0; i < 2 * SPAN; i++)
        srcbuf[i] = (unsigned char)(i * 7 + 1);
    /* vector(3, 2, -5, int), two elements: blocks at 0, -20, -40 ints*4 bytes */
    MPI_Type_vector(3, 2, -5, MPI_INT, &t);
    MPI_Type_commit(&t);
    for (int e = 0; e < 2; e++)
        for (int i = 0; i < 3; i++)
            ref_elems(&ref, MPI_INT, INT_BYTES, 4, 2, e * extent_of(t) + i * -20);
    check_against(t, 2, &ref);
    MPI_Type_free(&t);
    ref.n = 0;
    MPI_Type_indexed(3, bl, di, MPI_INT, &t);
    MPI_Type_commit(&t);
    for (int e = 0; e < 3; e++)
        for (int i = 0; i < 3; i++)
            ref_elems(&ref, MPI_INT, INT_BYTES, 4, bl[i], e * extent_of(t) + di[i] * 4);
    check_against(t, 3, &ref);
    MPI_Type_free(&t);
    ref.n = 0;
    MPI_Type_create_hindexed(3, bl, ad, MPI_INT, &t);
    MPI_Type_commit(&t);
    for (int e = 0; e < 2; e++)
        for (int i = 0; i < 3; i++)
            ref_elems(&ref, MPI_INT, INT_BYTES, 4, bl[i], e * extent_of(t) + ad[i]);
    check_against(t, 2, &ref);
    CU_ASSERT_EQUAL(extent_of(t), 28);                      /* data from -17 to 11 */
    MPI_Type_free(&t);
    free(ref.at);
}

/* A struct holding a vector: { char c; double v[6]; short s; } sending c, v[0], v[3], s. */
static void test_nested(void)
{
    struct rec { char c; double v[6]; short s; } in[2], out[2];
    MPI_Datatype vec, rec, types[3];
    int bl[3] = { 1, 1, 1 };
    MPI_Aint d[3] = { offsetof(struct rec, c), offsetof(struct rec, v), offsetof(struct rec, s) };
    char packed[2 * 19];

    for (int e = 0; e < 2; e++) {
        in[e].c = (char)('a' + e);
        for (int i = 0; i < 6; i++)
            in[e].v[i] = e * 10 + i + 0.5;
        in[e].s = (short)(-7 * (e + 1));
    }
    MPI_Type_vector(2, 1, 3, MPI_DOUBLE, &vec);
    types[0] = MPI_CHAR; types[1] = vec; types[2] = MPI_SHORT;
    MPI_Type_create_struct(3, bl, d, types, &rec);
    MPI_Type_free(&vec);                                   /* rec holds it */
    MPI_Type_commit(&rec);
    CU_ASSERT_EQUAL(extent_of(rec), (MPI_Aint)sizeof(struct rec));
    CU_ASSERT_EQUAL(mpix_dt_size(rec), 19);
    mpix_dt_pack(in, 2, rec, packed);
    CU_ASSERT_EQUAL(packed[19], 'b');
    memset(out, 0, sizeof(out));
    mpix_dt_unpack(packed, sizeof(packed), out, 2, rec);
    for (int e = 0; e < 2; e++) {
        CU_ASSERT(out[e].c == in[e].c && out[e].s == in[e].s);
        CU_ASSERT(out[e].v[0] == in[e].v[0] && out[e].v[3] == in[e].v[3]);
        CU_ASSERT(out[e].v[1] == 0 && out[e].v[2] == 0 && out[e].v[4] == 0);
    }
    MPI_Type_free(&rec);
}

/* hindexed with a block 8 bytes below the buffer, resized to lb -8 extent 16: element i reads
 * buf + 16 i - 8 and buf + 16 i + 4. */
static void test_resized_negative(void)
{
    int a[12], got[6], bl[2] = { 1, 1 };
    MPI_Aint d[2] = { -8, 4 };
    MPI_Datatype h, r;
    MPI_Aint lb, ext;

    for (int i = 0; i < 12; i++)
        a[i] = 100 + i;
    MPI_Type_create_hindexed(2, bl, d, MPI_INT, &h);
    MPI_Type_create_resized(h, -8, 16, &r);
    MPI_Type_free(&h);
    MPI_Type_commit(&r);
    MPI_Type_get_extent(r, &lb, &ext);
    CU_ASSERT(lb == -8 && ext == 16);
    mpix_dt_pack(&a[2], 3, r, got);                      /* elements at a+2, a+6, a+10 */
    CU_ASSERT(got[0] == 100 && got[1] == 103 && got[2] == 104 && got[3] == 107);
    CU_ASSERT(got[4] == 108 && got[5] == 111);
    MPI_Type_free(&r);
}

static void test_truncated(void)
{
    double src[8], dst[8];
    MPI_Datatype v;
    unsigned char packed[4 * sizeof(double)];

    for (int i = 0; i < 8; i++)
        src[i] = i + 1;
    MPI_Type_vector(2, 1, 2, MPI_DOUBLE, &v);                 /* doubles 0 and 2; extent 3 */
    MPI_Type_commit(&v);
    mpix_dt_pack(src, 2, v, packed);                         /* 1 3 4 6 */
    memset(dst, 0, sizeof(dst));
    mpix_dt_unpack(packed, 3 * sizeof(double) + 2, dst, 2, v);
    CU_ASSERT(dst[0] == 1 && dst[2] == 3 && dst[3] == 4);
    CU_ASSERT(dst[1] == 0 && dst[4] == 0 && dst[6] == 0);
    CU_ASSERT_EQUAL(memcmp(&dst[5], &src[5], 2), 0);         /* 2 bytes of the 4th value */
    CU_ASSERT_EQUAL(((unsigned char *)&dst[5])[2], 0);
    MPI_Type_free(&v);
}

/* ---- random trees against the interpreter ------------------------------------------------- */

enum { LEAF, CONTIG, VECTOR, HVECTOR, INDEXED, HINDEXED, IBLOCK, STRUCT, RESIZED, DUP, NKINDS };

struct node {
    MPI_Datatype type;
    int          kind, n, bl[3], di[3], sticky;
    MPI_Aint     ad[3], align;
    struct node *kid[3];
    const MPI_Aint *leaf;
    size_t       nleaf;
};

static const MPI_Aint B_SHORT_INT[] = { 0, 1, 4, 5, 6, 7 };
static const MPI_Aint B_SEQ[] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11 };

static int rnd(int lo, int hi) { return lo + rand() % (hi - lo + 1); }

static struct node *leaf_node(void)
{
    struct node *x = calloc(1, sizeof(*x));
    switch (rnd(0, 4)) {
    case 0: x->type = MPI_CHAR; x->leaf = B_SEQ; x->nleaf = 1; x->align = 1; break;
    case 1: x->type = MPI_SHORT; x->leaf = B_SEQ; x->nleaf = 2; x->align = 2; break;
    case 2: x->type = MPI_INT; x->leaf = B_SEQ; x->nleaf = 4; x->align = 4; break;
    case 3: x->type = MPI_DOUBLE; x->leaf = B_SEQ; x->nleaf = 8; x->align = 8; break;
    default: x->type = MPI_SHORT_INT; x->leaf = B_SHORT_INT; x->nleaf = 6; x->align = 4;
    }
    return x;
}

static void make_type(struct node *x)
{
    MPI_Datatype k0 = x->kid[0] ? x->kid[0]->type : MPI_DATATYPE_NULL;
    MPI_Datatype ks[3] = { k0, x->kid[1] ? x->kid[1]->type : k0,
                           x->kid[2] ? x->kid[2]->type : k0 };
    switch (x->kind) {
    case CONTIG: MPI_Type_contiguous(x->n, k0, &x->type); break;
    case VECTOR: MPI_Type_vector(x->n, x->bl[0], x->di[0], k0, &x->type); break;
    case HVECTOR: MPI_Type_create_hvector(x->n, x->bl[0], x->ad[0], k0, &x->type); break;
    case INDEXED: MPI_Type_indexed(x->n, x->bl, x->di, k0, &x->type); break;
    case HINDEXED: MPI_Type_create_hindexed(x->n, x->bl, x->ad, k0, &x->type); break;
    case IBLOCK: MPI_Type_create_indexed_block(x->n, x->bl[0], x->di, k0, &x->type); break;
    case STRUCT: MPI_Type_create_struct(x->n, x->bl, x->ad, ks, &x->type); break;
    case RESIZED: MPI_Type_create_resized(k0, x->ad[0], x->ad[1], &x->type); break;
    default: MPI_Type_dup(k0, &x->type);
    }
}

static struct node *random_node(int depth)
{
    struct node *x;

    if (depth == 0 || rnd(0, 3) == 0)
        return leaf_node();
    x = calloc(1, sizeof(*x));
    x->kind = rnd(CONTIG, DUP);
    x->n = x->kind == STRUCT ? rnd(1, 3) : rnd(0, 3);
    for (int i = 0; i < 3; i++) {
        x->bl[i] = rnd(0, 3);
        x->di[i] = rnd(-5, 5);
        x->ad[i] = rnd(-30, 30);
        x->kid[i] = i == 0 || x->kind == STRUCT ? random_node(depth - 1) : NULL;
    }
    if (x->kind == RESIZED)
        x->ad[1] = rnd(1, 32);
    make_type(x);
    for (int i = 0; i < 3; i++)
        if (x->kid[i])
            x->sticky |= x->kid[i]->sticky;
    x->sticky |= x->kind == RESIZED;
    return x;
}

/* The largest alignment of the basic types emit() met: the standard's epsilon rounds the
 * extent to it. */
static MPI_Aint emit_align;

/* The interpreter: X's data bytes at BASE in type-map order, by its constructor's definition. */
static void emit(struct bytes *b, const struct node *x, MPI_Aint base)
{
    MPI_Aint ext = x->kid[0] ? extent_of(x->kid[0]->type) : 0;

    switch (x->kind) {
    case LEAF:
        emit_align = x->align > emit_align ? x->align : emit_align;
        for (size_t j = 0; j < x->nleaf; j++)
            bytes_add(b, base + x->leaf[j]);
        return;
    case CONTIG:
        for (int k = 0; k < x->n; k++)
            emit(b, x->kid[0], base + k * ext);
        return;
    case RESIZED:
    case DUP:
        emit(b, x->kid[0], base);
        return;
    }
    for (int i = 0; i < x->n; i++) {
        int count = x->kind == VECTOR || x->kind == HVECTOR || x->kind == IBLOCK ? x->bl[0]
                                                                                  : x->bl[i];
        const struct node *kid = x->kind == STRUCT ? x->kid[i] : x->kid[0];
        MPI_Aint at = x->kind == VECTOR    ? i * x->di[0] * ext
                      : x->kind == HVECTOR ? i * x->ad[0]
                      : x->kind == INDEXED || x->kind == IBLOCK ? x->di[i] * ext
                                                                : x->ad[i];
        for (int k = 0; k < count; k++)
            emit(b, kid, base + at + k * extent_of(kid->type));
    }
}

static void free_node(struct node *x)
{
    for (int i = 0; i < 3; i++)
        if (x->kid[i])
            free_node(x->kid[i]);
    if (x->kind != LEAF)
        MPI_Type_free(&x->type);
    free(x);
}

/* Size and true bounds of the tree against its bytes; without a resized part, the bounds hold
 * the data and the extent is a multiple of the alignment (dt_layout compares the exact bounds
 * with Open MPI's). */
static void check_bounds(const struct node *x, const struct bytes *one)
{
    MPI_Aint lo = 0, hi = 0, lb, ext, tlb, text;

    for (size_t i = 0; i < one->n; i++) {
        lo = i == 0 || one->at[i] < lo ? one->at[i] : lo;
        hi = i == 0 || one->at[i] + 1 > hi ? one->at[i] + 1 : hi;
    }
    CU_ASSERT_EQUAL_FATAL(mpix_dt_size(x->type), (MPI_Count)one->n);
    MPI_Type_get_true_extent(x->type, &tlb, &text);
    CU_ASSERT_FATAL(tlb == lo && text == hi - lo);
    MPI_Type_get_extent(x->type, &lb, &ext);
    if (!x->sticky && one->n > 0)
        CU_ASSERT_FATAL(lb <= lo && lb + ext >= hi && ext % emit_align == 0);
}

static void test_random(void)
{
    srand(15);
    for (int i = 0; i < 500; i++) {
        struct node *x = random_node(3);
        struct bytes one = { 0 }, all = { 0 };
        int count = rnd(1, 3);
        MPI_Aint ext;

        if (x->kind == LEAF) {
            free_node(x);
            continue;
        }
        CU_ASSERT_EQUAL_FATAL(MPI_Type_commit(&x->type), MPI_SUCCESS);
        emit_align = 1;
        emit(&one, x, 0);
        check_bounds(x, &one);
        ext = extent_of(x->type);
        for (int e = 0; e < count; e++)
            for (size_t j = 0; j < one.n; j++)
                bytes_add(&all, e * ext + one.at[j]);
        bool inside = true;
        for (size_t j = 0; j < all.n; j++)
            inside = inside && all.at[j] >= -SPAN && all.at[j] < SPAN;
        if (inside)
            check_against(x->type, count, &all);
        free(one.at);
        free(all.at);
        free_node(x);
    }
}

/* ---- contiguity, lifetime, errors --------------------------------------------------------- */

static void test_contiguous(void)
{
    MPI_Datatype a, b;
    MPI_Aint off = -1;

    MPI_Type_contiguous(10, MPI_INT, &a);
    MPI_Type_contiguous(100000, a, &b);
    MPI_Type_commit(&b);
    CU_ASSERT_TRUE(mpix_dt_contig(b, 7, &off));
    CU_ASSERT_EQUAL(off, 0);
    CU_ASSERT_EQUAL(mpix_dt_size(b), 4000000);
    CU_ASSERT_TRUE(mpix_dt_contig(MPI_DOUBLE, 1000, &off));
    MPI_Type_free(&b);
    MPI_Type_vector(2, 1, 2, MPI_INT, &b);
    MPI_Type_commit(&b);
    CU_ASSERT_FALSE(mpix_dt_contig(b, 1, &off));
    MPI_Type_free(&b);
    MPI_Type_create_resized(MPI_INT, 0, 8, &b);               /* one block, but holes between */
    MPI_Type_commit(&b);
    CU_ASSERT_TRUE(mpix_dt_contig(b, 1, &off));
    CU_ASSERT_FALSE(mpix_dt_contig(b, 2, &off));
    MPI_Type_free(&b);
    MPI_Type_free(&a);
}

static void test_lifetime(void)
{
    MPI_Datatype v, held, parent;
    int src[6] = { 1, 2, 3, 4, 5, 6 }, out[3];

    MPI_Type_vector(3, 1, 2, MPI_INT, &v);
    MPI_Type_commit(&v);
    held = v;
    mpix_dt_retain(held);                                     /* a pending send */
    CU_ASSERT_EQUAL(MPI_Type_free(&v), MPI_SUCCESS);
    CU_ASSERT_PTR_NULL(v);
    CU_ASSERT_EQUAL(mpix_dt_check(held), MPI_ERR_TYPE);      /* the handle is dead... */
    mpix_dt_pack(src, 1, held, out);                          /* ...the object is not */
    CU_ASSERT(out[0] == 1 && out[1] == 3 && out[2] == 5);
    mpix_dt_release(held);                                    /* ASan: gone now */

    MPI_Type_vector(3, 1, 2, MPI_INT, &v);
    MPI_Type_contiguous(1, v, &parent);
    MPI_Type_free(&v);                                        /* before the parent's commit */
    CU_ASSERT_EQUAL(MPI_Type_commit(&parent), MPI_SUCCESS);
    mpix_dt_pack(src, 1, parent, out);
    CU_ASSERT(out[0] == 1 && out[1] == 3 && out[2] == 5);
    MPI_Type_free(&parent);
    mpix_dt_retain(MPI_INT);                                  /* no-ops on predefined types */
    mpix_dt_release(MPI_INT);
    CU_ASSERT_EQUAL(mpix_dt_check(MPI_INT), MPI_SUCCESS);
}

static void test_errors(void)
{
    MPI_Datatype t = MPI_DATATYPE_NULL, predef = MPI_INT;
    int bl[2] = { 1, -1 }, di[2] = { 0, 1 }, pos = 0, x = 0;
    char small[3];

    CU_ASSERT_EQUAL(MPI_Type_contiguous(-1, MPI_INT, &t), MPI_ERR_COUNT);
    CU_ASSERT_EQUAL(MPI_Type_vector(1, -2, 1, MPI_INT, &t), MPI_ERR_COUNT);
    CU_ASSERT_EQUAL(MPI_Type_indexed(2, bl, di, MPI_INT, &t), MPI_ERR_COUNT);
    CU_ASSERT_EQUAL(MPI_Type_contiguous(1, MPI_DATATYPE_NULL, &t), MPI_ERR_TYPE);
    CU_ASSERT_EQUAL(MPI_Type_contiguous(1, MPI_INT, NULL), MPI_ERR_ARG);
    CU_ASSERT_EQUAL(MPI_Type_free(&predef), MPI_ERR_TYPE);
    CU_ASSERT_EQUAL(MPI_Type_free(&t), MPI_ERR_TYPE);
    CU_ASSERT_EQUAL(mpix_dt_check(MPI_DATATYPE_NULL), MPI_ERR_TYPE);
    CU_ASSERT_EQUAL(MPI_Type_contiguous(2, MPI_INT, &t), MPI_SUCCESS);
    CU_ASSERT_EQUAL(mpix_dt_check(t), MPI_ERR_TYPE);             /* not committed yet */
    CU_ASSERT_EQUAL(MPI_Pack(&x, 1, t, small, 3, &pos, MPI_COMM_WORLD), MPI_ERR_TYPE);
    MPI_Type_commit(&t);
    CU_ASSERT_EQUAL(mpix_dt_check(t), MPI_SUCCESS);
    CU_ASSERT_EQUAL(MPI_Pack(&x, 1, MPI_INT, small, 3, &pos, MPI_COMM_WORLD), MPI_ERR_TRUNCATE);
    CU_ASSERT_EQUAL(pos, 0);
    CU_ASSERT_EQUAL(MPI_Unpack(small, 3, &pos, &x, 1, MPI_INT, MPI_COMM_WORLD),
                    MPI_ERR_TRUNCATE);
    MPI_Type_free(&t);
    CU_ASSERT_STRING_EQUAL(mpix_dt_name(MPI_DOUBLE_INT), "MPI_DOUBLE_INT");
}

static void test_pack_api(void)
{
    struct { int a; double d; } rec = { 7, 2.5 }, back = { 0, 0 };
    int n = 41, m = 0, size = 0, pos = 0, upos = 0, elems = 0;
    char buf[64];
    MPI_Datatype st, types[2] = { MPI_INT, MPI_DOUBLE };
    int bl[2] = { 1, 1 };
    MPI_Aint d[2] = { offsetof(__typeof__(rec), a), offsetof(__typeof__(rec), d) };
    MPI_Status status = { 0 };

    MPI_Type_create_struct(2, bl, d, types, &st);
    MPI_Type_commit(&st);
    CU_ASSERT_EQUAL(MPI_Pack_size(3, st, MPI_COMM_WORLD, &size), MPI_SUCCESS);
    CU_ASSERT_EQUAL(size, 36);
    CU_ASSERT_EQUAL(MPI_Pack(&n, 1, MPI_INT, buf, sizeof(buf), &pos, MPI_COMM_WORLD), 0);
    CU_ASSERT_EQUAL(MPI_Pack(&rec, 1, st, buf, sizeof(buf), &pos, MPI_COMM_WORLD), 0);
    CU_ASSERT_EQUAL(pos, 16);
    CU_ASSERT_EQUAL(MPI_Unpack(buf, pos, &upos, &m, 1, MPI_INT, MPI_COMM_WORLD), 0);
    CU_ASSERT_EQUAL(MPI_Unpack(buf, pos, &upos, &back, 1, st, MPI_COMM_WORLD), 0);
    CU_ASSERT(m == 41 && back.a == 7 && back.d == 2.5 && upos == 16);
    status.mpix_bytes = 12 + 4;                              /* one struct and an int */
    CU_ASSERT_EQUAL(MPI_Get_elements(&status, st, &elems), MPI_SUCCESS);
    CU_ASSERT_EQUAL(elems, 3);
    status.mpix_bytes = 12 + 6;                              /* ends inside the double */
    MPI_Get_elements(&status, st, &elems);
    CU_ASSERT_EQUAL(elems, MPI_UNDEFINED);
    status.mpix_bytes = 6 + 2;                      /* a pair, then the next one's value */
    MPI_Get_elements(&status, MPI_SHORT_INT, &elems);
    CU_ASSERT_EQUAL(elems, 3);
    status.mpix_bytes = 4;                                   /* ends inside the index */
    MPI_Get_elements(&status, MPI_SHORT_INT, &elems);
    CU_ASSERT_EQUAL(elems, MPI_UNDEFINED);
    status.mpix_bytes = 8;
    MPI_Get_elements(&status, MPI_2INT, &elems);
    CU_ASSERT_EQUAL(elems, 2);
    MPI_Type_free(&st);
}

/* Three elements of struct { char; vector(2, 1, 3, double); short } in windows of W bytes. */
static void test_pieces(void)
{
    unsigned char src[512], whole[64], piece[64], back[512], ref[512];
    MPI_Datatype vec, st, types[3] = { MPI_CHAR, MPI_DATATYPE_NULL, MPI_SHORT };
    int bl[3] = { 1, 1, 1 };
    MPI_Aint d[3] = { 0, 8, 48 };
    MPI_Count total;

    for (int i = 0; i < (int)sizeof(src); i++)
        src[i] = (unsigned char)(i * 13 + 5);
    MPI_Type_vector(2, 1, 3, MPI_DOUBLE, &vec);
    types[1] = vec;
    MPI_Type_create_struct(3, bl, d, types, &st);
    MPI_Type_commit(&st);
    total = 3 * mpix_dt_size(st);
    CU_ASSERT_EQUAL_FATAL(total, 57);
    mpix_dt_pack(src, 3, st, whole);
    memset(ref, 0, sizeof(ref));
    mpix_dt_unpack(whole, total, ref, 3, st);
    for (MPI_Count w = 1; w <= 13; w++) {
        memset(piece, 0, sizeof(piece));
        memset(back, 0, sizeof(back));
        for (MPI_Count at = 0; at < total; at += w) {
            MPI_Count n = total - at < w ? total - at : w;
            mpix_dt_copy(src, 3, st, piece + at, at, n, true);
            mpix_dt_copy(back, 3, st, whole + at, at, n, false);
        }
        CU_ASSERT_FATAL(memcmp(piece, whole, (size_t)total) == 0);
        CU_ASSERT_FATAL(memcmp(back, ref, sizeof(ref)) == 0);
    }
    MPI_Type_free(&st);
    MPI_Type_free(&vec);
}

static const phx_test_case_t cases[] = {
    { "predefined types have C's sizes and extents", test_predefined },
    { "a pair type packs its struct's members, not the hole", test_pair_layout },
    { "vector, indexed, hindexed pack and unpack what they describe", test_constructors },
    { "a struct holding a vector matches a C struct", test_nested },
    { "a resized type with a negative lb packs below the buffer", test_resized_negative },
    { "a truncated unpack fills a whole element and part of the next", test_truncated },
    { "500 random type trees agree with an interpreter", test_random },
    { "a contiguous type of contiguous types is one block", test_contiguous },
    { "a type freed while held lives until released", test_lifetime },
    { "bad arguments are refused with their error classes", test_errors },
    { "MPI_Pack, MPI_Unpack, MPI_Pack_size and MPI_Get_elements", test_pack_api },
    { "packing and unpacking in pieces equals doing it whole", test_pieces },
    { NULL, NULL },
};

int main(int argc, char **argv)
{
    int rc;

    MPI_Init(&argc, &argv);
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    rc = phx_test_main("mpi_dt", cases, argc, argv);
    MPI_Finalize();
    return rc;
}
