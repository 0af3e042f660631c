/* test_mpi_op.c - reduction operations of libmrpc_mpi, through MPI_Reduce_local and op.h.
 *
 *   values     every predefined op on every type the standard allows it, against a plain C
 *              loop over the same arrays (integers, floating point, complex, C bool, byte, the
 *              pair types with ties: the lower index wins)
 *   refused    the whole (op, predefined type) matrix: exactly the standard's pairs are
 *              accepted, every other one is MPI_ERR_OP
 *   derived    a predefined op on a derived type of one basic type touches its data only; on a
 *              mixed struct or a derived pair type it is refused
 *   user       MPI_Op_create'd functions get (in, inout, &len, &type), commutativity is
 *              reported, MPI_Op_free frees only user ops, a freed op held by a pending
 *              collective still applies until released */
#include "op.h"
#include "phx_test.h"

#include <complex.h>
#include <mpi.h>
#include <stdlib.h>
#include <string.h>

#define N 37

static int rnd(int lo, int hi) { return lo + rand() % (hi - lo + 1); }

/* Fills A and B with small values (every 5th a zero, for the logical ops), reduces with OP
 * and checks B against WANT computed by EXPR in T's own arithmetic. */
#define CHECK_OP(T, mpi, op, EXPR, LO, HI)                                                    \
    do {                                                                                       \
        T a[N], b[N], want[N];                                                                 \
        for (int i = 0; i < N; i++) {                                                          \
            a[i] = (T)(i % 5 ? rnd(LO, HI) : 0);                                               \
            b[i] = (T)(i % 7 ? rnd(LO, HI) : 0);                                               \
            want[i] = (T)(EXPR(a[i], b[i]));                                                   \
        }                                                                                      \
        CU_ASSERT_EQUAL_FATAL(MPI_Reduce_local(a, b, N, mpi, op), MPI_SUCCESS);                \
        for (int i = 0; i < N; i++)                                                            \
            if (!(b[i] == want[i]))                                                            \
                CU_FAIL_FATAL(#op " on " #mpi " differs from C's");                          \
    } while (0)

#define C_MAX(a, b)  ((a) > (b) ? (a) : (b))
#define C_MIN(a, b)  ((a) < (b) ? (a) : (b))
#define C_SUM(a, b)  ((a) + (b))
#define C_PROD(a, b) ((a) * (b))
#define C_LAND(a, b) ((a) && (b))
#define C_LOR(a, b)  ((a) || (b))
#define C_LXOR(a, b) (!(a) != !(b))
#define C_BAND(a, b) ((a) & (b))
#define C_BOR(a, b)  ((a) | (b))
#define C_BXOR(a, b) ((a) ^ (b))

#define ARITH(T, mpi, LO, HI)                                                                  \
    CHECK_OP(T, mpi, MPI_MAX, C_MAX, LO, HI); CHECK_OP(T, mpi, MPI_MIN, C_MIN, LO, HI);        \
    CHECK_OP(T, mpi, MPI_SUM, C_SUM, LO, HI); CHECK_OP(T, mpi, MPI_PROD, C_PROD, LO, HI)
#define BITS(T, mpi, LO, HI)                                                                   \
    CHECK_OP(T, mpi, MPI_BAND, C_BAND, LO, HI); CHECK_OP(T, mpi, MPI_BOR, C_BOR, LO, HI);      \
    CHECK_OP(T, mpi, MPI_BXOR, C_BXOR, LO, HI)
#define LOGIC(T, mpi, LO, HI)                                                                  \
    CHECK_OP(T, mpi, MPI_LAND, C_LAND, LO, HI); CHECK_OP(T, mpi, MPI_LOR, C_LOR, LO, HI);      \
    CHECK_OP(T, mpi, MPI_LXOR, C_LXOR, LO, HI)
#define SIGNED(T, mpi)   ARITH(T, mpi, -11, 11); BITS(T, mpi, -100, 100); LOGIC(T, mpi, -2, 2)
#define UNSIGNED(T, mpi) ARITH(T, mpi, 0, 15); BITS(T, mpi, 0, 200); LOGIC(T, mpi, 0, 2)

static void test_integers(void)
{
    srand(1);
    SIGNED(signed char, MPI_SIGNED_CHAR); UNSIGNED(unsigned char, MPI_UNSIGNED_CHAR);
    SIGNED(short, MPI_SHORT); UNSIGNED(unsigned short, MPI_UNSIGNED_SHORT);
    SIGNED(int, MPI_INT); UNSIGNED(unsigned, MPI_UNSIGNED);
    SIGNED(long, MPI_LONG); UNSIGNED(unsigned long, MPI_UNSIGNED_LONG);
    SIGNED(long long, MPI_LONG_LONG_INT); SIGNED(long long, MPI_LONG_LONG);
    UNSIGNED(unsigned long long, MPI_UNSIGNED_LONG_LONG);
    SIGNED(int8_t, MPI_INT8_T); SIGNED(int16_t, MPI_INT16_T); SIGNED(int32_t, MPI_INT32_T);
    SIGNED(int64_t, MPI_INT64_T); UNSIGNED(uint8_t, MPI_UINT8_T);
    UNSIGNED(uint16_t, MPI_UINT16_T); UNSIGNED(uint32_t, MPI_UINT32_T);
    UNSIGNED(uint64_t, MPI_UINT64_T);
    /* multi-language types: arithmetic and bits, no logic */
    ARITH(MPI_Aint, MPI_AINT, -11, 11); BITS(MPI_Aint, MPI_AINT, -100, 100);
    ARITH(MPI_Offset, MPI_OFFSET, -11, 11); BITS(MPI_Offset, MPI_OFFSET, -100, 100);
    ARITH(MPI_Count, MPI_COUNT, -11, 11); BITS(MPI_Count, MPI_COUNT, -100, 100);
}

/* Integer sums and products wrap as unsigned arithmetic does (no undefined overflow). */
static void test_wrap(void)
{
    int a[2] = { INT32_MAX, 65536 }, b[2] = { 1, 65536 };
    unsigned short s[1] = { 300 }, t[1] = { 300 };

    CU_ASSERT_EQUAL(MPI_Reduce_local(a, b, 1, MPI_INT, MPI_SUM), MPI_SUCCESS);
    CU_ASSERT_EQUAL(b[0], INT32_MIN);
    CU_ASSERT_EQUAL(MPI_Reduce_local(&a[1], &b[1], 1, MPI_INT, MPI_PROD), MPI_SUCCESS);
    CU_ASSERT_EQUAL(b[1], 0);
    CU_ASSERT_EQUAL(MPI_Reduce_local(s, t, 1, MPI_UNSIGNED_SHORT, MPI_PROD), MPI_SUCCESS);
    CU_ASSERT_EQUAL(t[0], (unsigned short)(300 * 300));
}

static void test_floating(void)
{
    srand(2);
    ARITH(float, MPI_FLOAT, -9, 9); ARITH(double, MPI_DOUBLE, -9, 9);
    ARITH(long double, MPI_LONG_DOUBLE, -9, 9);
    CHECK_OP(float _Complex, MPI_C_COMPLEX, MPI_SUM, C_SUM, -9, 9);
    CHECK_OP(float _Complex, MPI_C_FLOAT_COMPLEX, MPI_PROD, C_PROD, -9, 9);
    CHECK_OP(double _Complex, MPI_C_DOUBLE_COMPLEX, MPI_SUM, C_SUM, -9, 9);
    CHECK_OP(double _Complex, MPI_C_DOUBLE_COMPLEX, MPI_PROD, C_PROD, -9, 9);
    CHECK_OP(long double _Complex, MPI_C_LONG_DOUBLE_COMPLEX, MPI_SUM, C_SUM, -9, 9);
    CHECK_OP(long double _Complex, MPI_C_LONG_DOUBLE_COMPLEX, MPI_PROD, C_PROD, -9, 9);
    /* complex values with imaginary parts: (1+2i)(3-i) = 5+5i */
    double _Complex x = 1 + 2 * I, y = 3 - I;
    MPI_Reduce_local(&x, &y, 1, MPI_C_DOUBLE_COMPLEX, MPI_PROD);
    CU_ASSERT(creal(y) == 5 && cimag(y) == 5);
}

static void test_bool_byte(void)
{
    srand(3);
    LOGIC(_Bool, MPI_C_BOOL, 0, 1);
    BITS(unsigned char, MPI_BYTE, 0, 255);
}

/* MINLOC/MAXLOC on each pair type against C, values from a small range so ties are common. */
#define CHECK_LOC(V, mpi, op, CMP)                                                            \
    do {                                                                                       \
        struct { V v; int i; } a[N], b[N], want[N];                                            \
        for (int k = 0; k < N; k++) {                                                          \
            a[k].v = (V)rnd(0, 3); a[k].i = rnd(0, 9);                                         \
            b[k].v = (V)rnd(0, 3); b[k].i = rnd(0, 9);                                         \
            bool a_wins = a[k].v CMP b[k].v || (a[k].v == b[k].v && a[k].i < b[k].i);          \
            want[k] = a_wins ? a[k] : b[k];                                                    \
        }                                                                                      \
        CU_ASSERT_EQUAL_FATAL(MPI_Reduce_local(a, b, N, mpi, op), MPI_SUCCESS);                \
        for (int k = 0; k < N; k++)                                                            \
            if (b[k].v != want[k].v || b[k].i != want[k].i)                                    \
                CU_FAIL_FATAL(#op " on " #mpi " differs from C's");                          \
    } while (0)
#define LOCS(V, mpi) CHECK_LOC(V, mpi, MPI_MINLOC, <); CHECK_LOC(V, mpi, MPI_MAXLOC, >)

static void test_pairs(void)
{
    struct { double v; int i; } p = { 2.0, 7 }, q = { 2.0, 3 };

    srand(4);
    LOCS(float, MPI_FLOAT_INT); LOCS(double, MPI_DOUBLE_INT); LOCS(long, MPI_LONG_INT);
    LOCS(int, MPI_2INT); LOCS(short, MPI_SHORT_INT); LOCS(long double, MPI_LONG_DOUBLE_INT);
    MPI_Reduce_local(&p, &q, 1, MPI_DOUBLE_INT, MPI_MAXLOC);    /* a tie: the lower index */
    CU_ASSERT(q.v == 2.0 && q.i == 3);
}

/* ---- the whole matrix of (op, type) pairs ------------------------------------------------- */

enum { K_CHAR, K_INT, K_MULTI, K_FLOAT, K_COMPLEX, K_BOOL, K_BYTE, K_PACKED, K_PAIR };

static const struct { MPI_Datatype t; int k; } TYPES[] = {
    { MPI_CHAR, K_CHAR }, { MPI_WCHAR, K_CHAR }, { MPI_SIGNED_CHAR, K_INT },
    { MPI_UNSIGNED_CHAR, K_INT }, { MPI_SHORT, K_INT }, { MPI_UNSIGNED_SHORT, K_INT },
    { MPI_INT, K_INT }, { MPI_UNSIGNED, K_INT }, { MPI_LONG, K_INT },
    { MPI_UNSIGNED_LONG, K_INT }, { MPI_LONG_LONG_INT, K_INT }, { MPI_LONG_LONG, K_INT },
    { MPI_UNSIGNED_LONG_LONG, K_INT }, { MPI_INT8_T, K_INT }, { MPI_INT16_T, K_INT },
    { MPI_INT32_T, K_INT }, { MPI_INT64_T, K_INT }, { MPI_UINT8_T, K_INT },
    { MPI_UINT16_T, K_INT }, { MPI_UINT32_T, K_INT }, { MPI_UINT64_T, K_INT },
    { MPI_AINT, K_MULTI }, { MPI_OFFSET, K_MULTI }, { MPI_COUNT, K_MULTI },
    { MPI_FLOAT, K_FLOAT }, { MPI_DOUBLE, K_FLOAT }, { MPI_LONG_DOUBLE, K_FLOAT },
    { MPI_C_COMPLEX, K_COMPLEX }, { MPI_C_FLOAT_COMPLEX, K_COMPLEX },
    { MPI_C_DOUBLE_COMPLEX, K_COMPLEX }, { MPI_C_LONG_DOUBLE_COMPLEX, K_COMPLEX },
    { MPI_C_BOOL, K_BOOL }, { MPI_BYTE, K_BYTE }, { MPI_PACKED, K_PACKED },
    { MPI_FLOAT_INT, K_PAIR }, { MPI_DOUBLE_INT, K_PAIR }, { MPI_LONG_INT, K_PAIR },
    { MPI_2INT, K_PAIR }, { MPI_SHORT_INT, K_PAIR }, { MPI_LONG_DOUBLE_INT, K_PAIR },
};

#define B(k) (1u << (k))
/* MPI-3.1 5.9.2: the classes each op is defined on. */
static const struct { MPI_Op op; unsigned classes; } OPS[] = {
    { MPI_MAX, B(K_INT) | B(K_MULTI) | B(K_FLOAT) },
    { MPI_MIN, B(K_INT) | B(K_MULTI) | B(K_FLOAT) },
    { MPI_SUM, B(K_INT) | B(K_MULTI) | B(K_FLOAT) | B(K_COMPLEX) },
    { MPI_PROD, B(K_INT) | B(K_MULTI) | B(K_FLOAT) | B(K_COMPLEX) },
    { MPI_LAND, B(K_INT) | B(K_BOOL) }, { MPI_LOR, B(K_INT) | B(K_BOOL) },
    { MPI_LXOR, B(K_INT) | B(K_BOOL) },
    { MPI_BAND, B(K_INT) | B(K_MULTI) | B(K_BYTE) },
    { MPI_BOR, B(K_INT) | B(K_MULTI) | B(K_BYTE) },
    { MPI_BXOR, B(K_INT) | B(K_MULTI) | B(K_BYTE) },
    { MPI_MINLOC, B(K_PAIR) }, { MPI_MAXLOC, B(K_PAIR) },
};

static void test_matrix(void)
{
    long double in[4] = { 0 }, io[4] = { 0 };              /* room for any type */
    int accepted = 0;

    for (size_t o = 0; o < sizeof(OPS) / sizeof(OPS[0]); o++)
        for (size_t t = 0; t < sizeof(TYPES) / sizeof(TYPES[0]); t++) {
            bool ok = OPS[o].classes & B(TYPES[t].k);
            int want = ok ? MPI_SUCCESS : MPI_ERR_OP;
            CU_ASSERT_EQUAL_FATAL(mpix_op_check(OPS[o].op, TYPES[t].t), want);
            CU_ASSERT_EQUAL_FATAL(MPI_Reduce_local(in, io, 1, TYPES[t].t, OPS[o].op), want);
            accepted += ok;
        }
    CU_ASSERT_EQUAL(accepted, 2 * 25 + 2 * 29 + 3 * 20 + 3 * 23 + 2 * 6);
    CU_ASSERT_EQUAL(mpix_op_check(MPI_OP_NULL, MPI_INT), MPI_ERR_OP);
    CU_ASSERT_EQUAL(mpix_op_check(MPI_SUM, MPI_DATATYPE_NULL), MPI_ERR_TYPE);
    CU_ASSERT_TRUE(mpix_op_commutative(MPI_MAXLOC));
    CU_ASSERT_STRING_EQUAL(mpix_op_name(MPI_BXOR), "MPI_BXOR");
}

/* ---- derived types ------------------------------------------------------------------------ */

static void test_derived(void)
{
    int a[8] = { 1, 2, 3, 4, 5, 6, 7, 8 }, b[8] = { 10, 20, 30, 40, 50, 60, 70, 80 };
    MPI_Datatype v, pairs, mixed, types[2] = { MPI_INT, MPI_DOUBLE };
    int bl[2] = { 1, 1 };
    MPI_Aint d[2] = { 0, 8 };

    MPI_Type_vector(2, 1, 2, MPI_INT, &v);                   /* ints 0 and 2, extent 3 */
    MPI_Type_commit(&v);
    CU_ASSERT_EQUAL(MPI_Reduce_local(a, b, 2, v, MPI_SUM), MPI_SUCCESS);
    CU_ASSERT(b[0] == 11 && b[2] == 33 && b[3] == 44 && b[5] == 66);
    CU_ASSERT(b[1] == 20 && b[4] == 50 && b[6] == 70);
    CU_ASSERT_EQUAL(mpix_op_check(MPI_MINLOC, v), MPI_ERR_OP);
    MPI_Type_contiguous(2, MPI_SHORT_INT, &pairs);         /* padded pairs: (short, pad, int) */
    MPI_Type_commit(&pairs);
    CU_ASSERT_EQUAL(mpix_op_check(MPI_MINLOC, pairs), MPI_SUCCESS);
    CU_ASSERT_EQUAL(mpix_op_check(MPI_SUM, pairs), MPI_ERR_OP);
    struct { short v; int i; } x[4] = { { 5, 1 }, { 2, 1 }, { 7, 1 }, { 3, 1 } },
                               y[4] = { { 4, 2 }, { 2, 0 }, { 9, 2 }, { 3, 2 } };
    CU_ASSERT_EQUAL(MPI_Reduce_local(x, y, 2, pairs, MPI_MINLOC), MPI_SUCCESS);
    CU_ASSERT(y[0].v == 4 && y[0].i == 2 && y[1].v == 2 && y[1].i == 0);   /* ties: lower index */
    CU_ASSERT(y[2].v == 7 && y[2].i == 1 && y[3].v == 3 && y[3].i == 1);
    MPI_Type_create_struct(2, bl, d, types, &mixed);
    MPI_Type_commit(&mixed);
    CU_ASSERT_EQUAL(mpix_op_check(MPI_SUM, mixed), MPI_ERR_OP);
    CU_ASSERT_EQUAL(mpix_op_check(MPI_SUM, MPI_PACKED), MPI_ERR_OP);
    MPI_Type_free(&mixed);
    MPI_Type_free(&pairs);
    MPI_Type_free(&v);
    MPI_Type_contiguous(2, MPI_INT, &v);                     /* not committed */
    CU_ASSERT_EQUAL(mpix_op_check(MPI_SUM, v), MPI_ERR_TYPE);
    MPI_Type_free(&v);
}

/* ---- user ops ----------------------------------------------------------------------------- */

static int calls, seen_len;
static MPI_Datatype seen_type;

/* Not commutative: inout = 10 * in + inout. */
static void shift_add(void *in, void *inout, int *len, MPI_Datatype *type)
{
    calls++;
    seen_len = *len;
    seen_type = *type;
    for (int i = 0; i < *len; i++)
        ((int *)inout)[i] = 10 * ((int *)in)[i] + ((int *)inout)[i];
}

static void test_user(void)
{
    MPI_Op op = MPI_OP_NULL, held, predef = MPI_SUM;
    int a[3] = { 1, 2, 3 }, b[3] = { 4, 5, 6 }, commute = -1;

    CU_ASSERT_EQUAL_FATAL(MPI_Op_create(shift_add, 0, &op), MPI_SUCCESS);
    CU_ASSERT_EQUAL(MPI_Op_commutative(op, &commute), MPI_SUCCESS);
    CU_ASSERT_EQUAL(commute, 0);
    CU_ASSERT_FALSE(mpix_op_commutative(op));
    CU_ASSERT_EQUAL(mpix_op_check(op, MPI_DOUBLE_INT), MPI_SUCCESS);   /* any type */
    CU_ASSERT_EQUAL(MPI_Reduce_local(a, b, 3, MPI_INT, op), MPI_SUCCESS);
    CU_ASSERT(calls == 1 && seen_len == 3 && seen_type == MPI_INT);
    CU_ASSERT(b[0] == 14 && b[1] == 25 && b[2] == 36);
    held = op;
    mpix_op_retain(held);                                    /* a pending Iallreduce */
    CU_ASSERT_EQUAL(MPI_Op_free(&op), MPI_SUCCESS);
    CU_ASSERT_PTR_NULL(op);
    CU_ASSERT_EQUAL(mpix_op_check(held, MPI_INT), MPI_ERR_OP);
    mpix_op_apply(held, a, b, 1, MPI_INT);                   /* still applies */
    CU_ASSERT(calls == 2 && b[0] == 24);
    mpix_op_release(held);
    CU_ASSERT_EQUAL(MPI_Op_free(&predef), MPI_ERR_OP);
    CU_ASSERT_EQUAL(MPI_Op_free(&op), MPI_ERR_OP);            /* null now */
    CU_ASSERT_EQUAL(MPI_Op_create(shift_add, 1, &op), MPI_SUCCESS);
    CU_ASSERT_TRUE(mpix_op_commutative(op));
    MPI_Op_free(&op);
    CU_ASSERT_EQUAL(MPI_Op_create(NULL, 1, &op), MPI_ERR_ARG);
}

static const phx_test_case_t cases[] = {
    { "every op on every integer type agrees with C", test_integers },
    { "integer sums and products wrap", test_wrap },
    { "floating point and complex agree with C", test_floating },
    { "logical ops on C bool, bitwise ops on bytes", test_bool_byte },
    { "MINLOC/MAXLOC on every pair type, ties to the lower index", test_pairs },
    { "exactly the standard's (op, type) pairs are accepted", test_matrix },
    { "predefined ops on derived types of one basic type", test_derived },
    { "user ops: calls, commutativity, free while held", test_user },
    { NULL, NULL },
};

int main(int argc, char **argv)
{
    int rc;

    MPI_Init(&argc, &argv);
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    rc = phx_test_main("mpi_op", cases, argc, argv);
    MPI_Finalize();
    return rc;
}
