/* dt_predef.c - the predefined datatype objects MPI_INT, MPI_DOUBLE_INT, ... that mpi.h's
 * handles point to (mpix_type_<name>), generated from dt_impl.h's list of types.
 *
 * A scalar type is one block of sizeof(c_type) bytes, aligned as C aligns it. A pair type has the
 * layout of its C struct { value; int index; }: its data is the value and the int at offsetof,
 * one block when they touch, two when the struct pads between them (MPI_SHORT_INT); its extent
 * is sizeof the struct, as the standard's epsilon rule gives. */
#include "dt_impl.h"

#define SCALAR(l, U, T)                                                                        \
    struct mpix_datatype mpix_type_##l = {                                                     \
        .magic = MPIX_DT_MAGIC, .flags = MPIX_DT_PREDEF | MPIX_DT_COMMITTED,                   \
        .basic = MPIX_B_##l, .name = "MPI_" #U, .size = sizeof(T), .nelems = 1,                \
        .ub = sizeof(T), .true_ub = sizeof(T), .align = _Alignof(T), .nblocks = 1,             \
        .blocks = mpix_type_##l.own, .own = { { 0, sizeof(T) } },                              \
    };
MPIX_TYPES_SCALAR(SCALAR)

/* The value's bytes, and where the index ends. */
#define VLEN(T)   ((MPI_Aint)sizeof(((T *)0)->v))
#define IEND(T)   ((MPI_Aint)(offsetof(T, i) + sizeof(int)))
#define TOUCH(T)  (offsetof(T, i) == sizeof(((T *)0)->v))

#define PAIR(l, U, T)                                                                          \
    struct mpix_datatype mpix_type_##l = {                                                     \
        .magic = MPIX_DT_MAGIC, .flags = MPIX_DT_PREDEF | MPIX_DT_COMMITTED | MPIX_DT_PAIR,    \
        .basic = MPIX_B_##l, .name = "MPI_" #U, .nelems = 2,                                   \
        .size = VLEN(T) + (MPI_Aint)sizeof(int),                                               \
        .ub = sizeof(T), .true_ub = IEND(T), .align = _Alignof(T), .nblocks = TOUCH(T) ? 1 : 2,\
        .blocks = mpix_type_##l.own,                                                           \
        .own = { { 0, TOUCH(T) ? IEND(T) : VLEN(T) }, { offsetof(T, i), sizeof(int) } },       \
    };
MPIX_TYPES_PAIR(PAIR)

static struct mpix_datatype *const predef[MPIX_B_N] = {
#define ENTRY(l, U, T) [MPIX_B_##l] = &mpix_type_##l,
    MPIX_TYPES_ALL(ENTRY)
};

MPI_Datatype mpix_dt_predef(int basic)
{
    return predef[basic];
}
