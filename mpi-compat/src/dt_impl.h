/* dt_impl.h - the datatype object and the one list of predefined types, shared by the files of
 * datatypes (dt_*.c) and reduction operations (op_*.c); nothing outside them includes it.
 *
 * The predefined types are listed once, by class, as X-macros: X(lower, UPPER, c_type). The
 * classes are the standard's groups for reductions (MPI-3.1 5.9.2): the op table (op_predef.c)
 * is generated from them, the predefined objects (dt_predef.c) and the enum below too.
 *
 * MPI_LONG_LONG and MPI_C_COMPLEX are synonyms mpi.h maps to MPI_LONG_LONG_INT and
 * MPI_C_FLOAT_COMPLEX: they have no objects of their own.
 *
 * A derived type is built as a list of entries "COUNT copies of TYPE at DISP, DISP + extent,
 * ..." (every constructor reduces to that, as create_struct does), with its size and bounds
 * computed at construction; MPI_Type_commit flattens the entries into blocks (dt_build.c).
 *
 * Bounds follow Open MPI (and MPICH): without explicit bounds, lb and ub span the parts' copies,
 * each from its type's lb to its ub (so a part's own alignment padding counts), and the extent
 * is rounded up to the largest alignment of the basic types (MPI-3.1 4.1's epsilon); a type
 * built from a resized one has "sticky" bounds: lb and ub are the min and max of the resized
 * parts' bounds only, and no rounding applies. The true bounds span the data alone. */
#ifndef MPIX_DT_IMPL_H
#define MPIX_DT_IMPL_H

#include "dt.h"

#include <stddef.h>
#include <stdint.h>
#include <wchar.h>

/* The pair types of MINLOC/MAXLOC, with the layout C gives the structs (MPI-3.1 5.9.4). */
typedef struct { float v; int i; } mpix_pair_float_int;
typedef struct { double v; int i; } mpix_pair_double_int;
typedef struct { long v; int i; } mpix_pair_long_int;
typedef struct { int v; int i; } mpix_pair_2int;
typedef struct { short v; int i; } mpix_pair_short_int;
typedef struct { long double v; int i; } mpix_pair_long_double_int;

#define MPIX_TYPES_CHAR(X) X(char, CHAR, char) X(wchar, WCHAR, wchar_t)
#define MPIX_TYPES_INT(X)                                                                      \
    X(signed_char, SIGNED_CHAR, signed char) X(unsigned_char, UNSIGNED_CHAR, unsigned char)    \
    X(short, SHORT, short) X(unsigned_short, UNSIGNED_SHORT, unsigned short) X(int, INT, int)  \
    X(unsigned, UNSIGNED, unsigned) X(long, LONG, long)                                        \
    X(unsigned_long, UNSIGNED_LONG, unsigned long) X(long_long_int, LONG_LONG_INT, long long)  \
    X(unsigned_long_long, UNSIGNED_LONG_LONG, unsigned long long)                              \
    X(int8_t, INT8_T, int8_t) X(int16_t, INT16_T, int16_t) X(int32_t, INT32_T, int32_t)        \
    X(int64_t, INT64_T, int64_t) X(uint8_t, UINT8_T, uint8_t) X(uint16_t, UINT16_T, uint16_t)  \
    X(uint32_t, UINT32_T, uint32_t) X(uint64_t, UINT64_T, uint64_t)
#define MPIX_TYPES_MULTI(X) X(aint, AINT, MPI_Aint) X(offset, OFFSET, MPI_Offset)              \
    X(count, COUNT, MPI_Count)
#define MPIX_TYPES_FLOAT(X) X(float, FLOAT, float) X(double, DOUBLE, double)                   \
    X(long_double, LONG_DOUBLE, long double)
#define MPIX_TYPES_COMPLEX(X)                                                                  \
    X(c_float_complex, C_FLOAT_COMPLEX, float _Complex)                                        \
    X(c_double_complex, C_DOUBLE_COMPLEX, double _Complex)                                     \
    X(c_long_double_complex, C_LONG_DOUBLE_COMPLEX, long double _Complex)
#define MPIX_TYPES_BOOL(X) X(c_bool, C_BOOL, _Bool)
#define MPIX_TYPES_BYTE(X) X(byte, BYTE, unsigned char)
#define MPIX_TYPES_PACKED(X) X(packed, PACKED, unsigned char)
#define MPIX_TYPES_PAIR(X)                                                                     \
    X(float_int, FLOAT_INT, mpix_pair_float_int) X(double_int, DOUBLE_INT, mpix_pair_double_int)\
    X(long_int, LONG_INT, mpix_pair_long_int) X(2int, 2INT, mpix_pair_2int)                    \
    X(short_int, SHORT_INT, mpix_pair_short_int)                                               \
    X(long_double_int, LONG_DOUBLE_INT, mpix_pair_long_double_int)
#define MPIX_TYPES_SCALAR(X) MPIX_TYPES_CHAR(X) MPIX_TYPES_INT(X) MPIX_TYPES_MULTI(X)           \
    MPIX_TYPES_FLOAT(X) MPIX_TYPES_COMPLEX(X) MPIX_TYPES_BOOL(X) MPIX_TYPES_BYTE(X)            \
    MPIX_TYPES_PACKED(X)
#define MPIX_TYPES_ALL(X) MPIX_TYPES_SCALAR(X) MPIX_TYPES_PAIR(X)

/* Index of each predefined type (the op table's column); MPIX_B_MIXED for a derived type whose
 * elements are not all of one predefined type. */
enum mpix_basic {
#define MPIX_B_ENUM(l, U, T) MPIX_B_##l,
    MPIX_TYPES_ALL(MPIX_B_ENUM)
#undef MPIX_B_ENUM
    MPIX_B_N,
    MPIX_B_MIXED = MPIX_B_N,
};

#define MPIX_DT_MAGIC     0x4d504454u /* "MPDT" */
#define MPIX_DT_PREDEF    1u          /* a predefined object: never freed, always committed */
#define MPIX_DT_COMMITTED 2u
#define MPIX_DT_FREED     4u          /* MPI_Type_free'd: only pending references remain */
#define MPIX_DT_PAIR      8u          /* a pair type, or a derived type whose basic one is */

/* Data bytes [off, off + len) of one element, relative to the element's start. */
struct mpix_dt_block {
    MPI_Aint off, len;
};

/* COUNT copies of TYPE at DISP, DISP + extent(TYPE), ... */
struct mpix_dt_entry {
    MPI_Aint     disp;
    MPI_Aint     count;
    MPI_Datatype type;
};

struct mpix_datatype {
    uint32_t    magic;
    uint32_t    flags;
    int         refs;             /* derived only: the user's handle, parents, requests */
    int         basic;            /* enum mpix_basic */
    const char *name;
    MPI_Count   size;
    MPI_Count   nelems;           /* basic elements in one element (a pair type's are 2) */
    MPI_Aint    lb, ub;           /* extent = ub - lb */
    MPI_Aint    true_lb, true_ub; /* span of the data; both 0 without data */
    MPI_Aint    align;            /* largest alignment of the basic types */
    bool        sticky;           /* lb, ub come from a resized part: no alignment rounding */
    size_t      nentries;         /* derived: its construction */
    struct mpix_dt_entry *entries;
    size_t      nblocks;          /* once committed (predefined: always) */
    struct mpix_dt_block *blocks;
    struct mpix_dt_block  own[2]; /* predefined types' blocks */
};

/* The predefined type of index BASIC (enum mpix_basic). */
MPI_Datatype mpix_dt_predef(int basic);

/* A live handle: not null, a datatype, not freed (committed or not). */
bool mpix_dt_valid(MPI_Datatype dt);

/* The derived type made of N entries (copied; their types retained), its size and bounds
 * computed; NULL when memory runs out. ROUND_EACH rounds the extent to the alignment after each
 * entry rather than once at the end: Open MPI does so for struct and the indexed family (one
 * "add" per block), which shows when a later block lowers the lower bound. */
MPI_Datatype mpix_dt_build(const struct mpix_dt_entry *entries, size_t n, bool round_each);

/* OLD with its bounds replaced by LB and LB + EXTENT (MPI_Type_create_resized). */
MPI_Datatype mpix_dt_resized(MPI_Datatype old, MPI_Aint lb, MPI_Aint extent);

/* Flattens DT into blocks and marks it committed: MPI_SUCCESS, or MPI_ERR_INTERN when memory
 * runs out. Committing again does nothing. */
int mpix_dt_commit(MPI_Datatype dt);

/* MPI_Type_free on a derived type: the handle dies, the object when its references do. */
void mpix_dt_free(MPI_Datatype dt);

/* MPI_Get_elements: how many basic elements BYTES of packed data hold, or MPI_UNDEFINED when
 * they end inside one. */
MPI_Count mpix_dt_elements(MPI_Datatype dt, MPI_Count bytes);

/* Copies between an element buffer and packed data: bytes [SKIP, SKIP + BYTES) of the packed
 * form of COUNT elements at BUF. PACK says the direction. The general form of pack and unpack,
 * for senders that pack a large message in pieces. */
void mpix_dt_copy(void *buf, int count, MPI_Datatype dt, void *packed, MPI_Count skip,
                  MPI_Count bytes, bool pack);

#endif
