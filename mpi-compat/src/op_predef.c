/* op_predef.c - the predefined reduction operations: their objects (mpix_op_sum, ...) and the
 * table of functions by (op, type), generated from dt_impl.h's type classes.
 *
 * Which classes each op is defined on is MPI-3.1 5.9.2's table, written once below as the
 * DEF_* lists; a pair the lists leave out stays NULL in the table, and mpix_op_check refuses it.
 *
 *   MAX MIN            C integer, multi-language (MPI_AINT, MPI_OFFSET, MPI_COUNT), floating
 *   SUM PROD           the same and complex
 *   LAND LOR LXOR      C integer, logical (MPI_C_BOOL)
 *   BAND BOR BXOR      C integer, multi-language, byte
 *   MINLOC MAXLOC      the pair types; on equal values the lower index wins
 *
 * Integer sums and products wrap (computed in uintmax_t) instead of overflowing, which C leaves
 * undefined. Values are loaded and stored with memcpy, so buffers need no alignment. */
#include "op_impl.h"

#include <string.h>

/* One loop per (op, type): inout = EXPR(in, inout) element by element. */
#define DEF_LOOP(op, l, T, EXPR)                                                               \
    static void op##_##l(const void *in_, void *io_, size_t n)                                 \
    {                                                                                          \
        const char *in = in_;                                                                  \
        char *io = io_;                                                                        \
        for (size_t i = 0; i < n; i++, in += sizeof(T), io += sizeof(T)) {                     \
            T a, b;                                                                            \
            memcpy(&a, in, sizeof(T));                                                         \
            memcpy(&b, io, sizeof(T));                                                         \
            b = EXPR(T, a, b);                                                                 \
            memcpy(io, &b, sizeof(T));                                                         \
        }                                                                                      \
    }

#define E_MAX(T, a, b)   ((a) > (b) ? (a) : (b))
#define E_MIN(T, a, b)   ((a) < (b) ? (a) : (b))
#define E_SUM(T, a, b)   ((a) + (b))
#define E_PROD(T, a, b)  ((a) * (b))
#define E_WSUM(T, a, b)  ((T)((uintmax_t)(a) + (uintmax_t)(b)))
#define E_WPROD(T, a, b) ((T)((uintmax_t)(a) * (uintmax_t)(b)))
#define E_LAND(T, a, b)  ((T)((a) && (b)))
#define E_LOR(T, a, b)   ((T)((a) || (b)))
#define E_LXOR(T, a, b)  ((T)(!(a) != !(b)))
#define E_BAND(T, a, b)  ((T)((a) & (b)))
#define E_BOR(T, a, b)   ((T)((a) | (b)))
#define E_BXOR(T, a, b)  ((T)((a) ^ (b)))
/* a wins when its value is strictly better, or equal with a lower index. */
#define E_LOC(a, b, CMP) ((a).v CMP (b).v || ((a).v == (b).v && (a).i < (b).i) ? (a) : (b))
#define E_MINLOC(T, a, b) E_LOC(a, b, <)
#define E_MAXLOC(T, a, b) E_LOC(a, b, >)

#define L_MAX(l, U, T)    DEF_LOOP(max, l, T, E_MAX)
#define L_MIN(l, U, T)    DEF_LOOP(min, l, T, E_MIN)
#define L_SUM(l, U, T)    DEF_LOOP(sum, l, T, E_SUM)
#define L_PROD(l, U, T)   DEF_LOOP(prod, l, T, E_PROD)
#define L_WSUM(l, U, T)   DEF_LOOP(sum, l, T, E_WSUM)
#define L_WPROD(l, U, T)  DEF_LOOP(prod, l, T, E_WPROD)
#define L_LAND(l, U, T)   DEF_LOOP(land, l, T, E_LAND)
#define L_LOR(l, U, T)    DEF_LOOP(lor, l, T, E_LOR)
#define L_LXOR(l, U, T)   DEF_LOOP(lxor, l, T, E_LXOR)
#define L_BAND(l, U, T)   DEF_LOOP(band, l, T, E_BAND)
#define L_BOR(l, U, T)    DEF_LOOP(bor, l, T, E_BOR)
#define L_BXOR(l, U, T)   DEF_LOOP(bxor, l, T, E_BXOR)
#define L_MINLOC(l, U, T) DEF_LOOP(minloc, l, T, E_MINLOC)
#define L_MAXLOC(l, U, T) DEF_LOOP(maxloc, l, T, E_MAXLOC)

/* The standard's table: for each op, the classes it is defined on. DEF(L, KIND, name) is
 * applied to each (op, class) pair once to define the loops and once to fill the table. */
#define INTEGERS(X) MPIX_TYPES_INT(X) MPIX_TYPES_MULTI(X)
#define OP_CLASSES(DEF)                                                                        \
    DEF(INTEGERS, L_MAX, MAX, max) DEF(MPIX_TYPES_FLOAT, L_MAX, MAX, max)                      \
    DEF(INTEGERS, L_MIN, MIN, min) DEF(MPIX_TYPES_FLOAT, L_MIN, MIN, min)                      \
    DEF(INTEGERS, L_WSUM, SUM, sum) DEF(MPIX_TYPES_FLOAT, L_SUM, SUM, sum)                     \
    DEF(MPIX_TYPES_COMPLEX, L_SUM, SUM, sum)                                                   \
    DEF(INTEGERS, L_WPROD, PROD, prod) DEF(MPIX_TYPES_FLOAT, L_PROD, PROD, prod)               \
    DEF(MPIX_TYPES_COMPLEX, L_PROD, PROD, prod)                                                \
    DEF(MPIX_TYPES_INT, L_LAND, LAND, land) DEF(MPIX_TYPES_BOOL, L_LAND, LAND, land)           \
    DEF(MPIX_TYPES_INT, L_LOR, LOR, lor) DEF(MPIX_TYPES_BOOL, L_LOR, LOR, lor)                 \
    DEF(MPIX_TYPES_INT, L_LXOR, LXOR, lxor) DEF(MPIX_TYPES_BOOL, L_LXOR, LXOR, lxor)           \
    DEF(INTEGERS, L_BAND, BAND, band) DEF(MPIX_TYPES_BYTE, L_BAND, BAND, band)                 \
    DEF(INTEGERS, L_BOR, BOR, bor) DEF(MPIX_TYPES_BYTE, L_BOR, BOR, bor)                       \
    DEF(INTEGERS, L_BXOR, BXOR, bxor) DEF(MPIX_TYPES_BYTE, L_BXOR, BXOR, bxor)                 \
    DEF(MPIX_TYPES_PAIR, L_MINLOC, MINLOC, minloc)                                             \
    DEF(MPIX_TYPES_PAIR, L_MAXLOC, MAXLOC, maxloc)

#define DEFINE_LOOPS(CLASS, LOOP, KIND, op) CLASS(LOOP)
OP_CLASSES(DEFINE_LOOPS)

#define CELL_max(l, U, T)    [MPIX_OP_MAX][MPIX_B_##l] = max_##l,
#define CELL_min(l, U, T)    [MPIX_OP_MIN][MPIX_B_##l] = min_##l,
#define CELL_sum(l, U, T)    [MPIX_OP_SUM][MPIX_B_##l] = sum_##l,
#define CELL_prod(l, U, T)   [MPIX_OP_PROD][MPIX_B_##l] = prod_##l,
#define CELL_land(l, U, T)   [MPIX_OP_LAND][MPIX_B_##l] = land_##l,
#define CELL_lor(l, U, T)    [MPIX_OP_LOR][MPIX_B_##l] = lor_##l,
#define CELL_lxor(l, U, T)   [MPIX_OP_LXOR][MPIX_B_##l] = lxor_##l,
#define CELL_band(l, U, T)   [MPIX_OP_BAND][MPIX_B_##l] = band_##l,
#define CELL_bor(l, U, T)    [MPIX_OP_BOR][MPIX_B_##l] = bor_##l,
#define CELL_bxor(l, U, T)   [MPIX_OP_BXOR][MPIX_B_##l] = bxor_##l,
#define CELL_minloc(l, U, T) [MPIX_OP_MINLOC][MPIX_B_##l] = minloc_##l,
#define CELL_maxloc(l, U, T) [MPIX_OP_MAXLOC][MPIX_B_##l] = maxloc_##l,
#define TABLE_CELLS(CLASS, LOOP, KIND, op) CLASS(CELL_##op)

static mpix_op_fn *const op_table[MPIX_OP_NPREDEF][MPIX_B_N] = { OP_CLASSES(TABLE_CELLS) };

mpix_op_fn *mpix_op_fn_for(int kind, int basic)
{
    if (kind < 0 || kind >= MPIX_OP_NPREDEF || basic < 0 || basic >= MPIX_B_N)
        return NULL;
    return op_table[kind][basic];
}

#define PREDEF_OP(l, U)                                                                        \
    struct mpix_op mpix_op_##l = { .magic = MPIX_OP_MAGIC, .kind = MPIX_OP_##U,                \
                                   .commute = true, .name = "MPI_" #U };
PREDEF_OP(max, MAX)
PREDEF_OP(min, MIN)
PREDEF_OP(sum, SUM)
PREDEF_OP(prod, PROD)
PREDEF_OP(land, LAND)
PREDEF_OP(lor, LOR)
PREDEF_OP(lxor, LXOR)
PREDEF_OP(band, BAND)
PREDEF_OP(bor, BOR)
PREDEF_OP(bxor, BXOR)
PREDEF_OP(minloc, MINLOC)
PREDEF_OP(maxloc, MAXLOC)
