/* op_impl.h - the reduction operation object, shared by op_*.c only.
 *
 * A predefined op finds its function for a predefined type in a table indexed by (kind, basic
 * type) that op_predef.c generates; a user op carries the user's function. */
#ifndef MPIX_OP_IMPL_H
#define MPIX_OP_IMPL_H

#include "dt_impl.h"
#include "op.h"

#include <stddef.h>

enum mpix_op_kind {
    MPIX_OP_MAX, MPIX_OP_MIN, MPIX_OP_SUM, MPIX_OP_PROD, MPIX_OP_LAND, MPIX_OP_LOR,
    MPIX_OP_LXOR, MPIX_OP_BAND, MPIX_OP_BOR, MPIX_OP_BXOR, MPIX_OP_MINLOC, MPIX_OP_MAXLOC,
    MPIX_OP_NPREDEF,
    MPIX_OP_USER = MPIX_OP_NPREDEF,
};

#define MPIX_OP_MAGIC 0x4d504f50u /* "MPOP" */

struct mpix_op {
    uint32_t           magic;
    int                kind;     /* enum mpix_op_kind */
    bool               commute;
    bool               freed;    /* MPI_Op_free'd: only pending references remain */
    int                refs;     /* user ops: the handle and pending collectives */
    const char        *name;
    MPI_User_function *user;
};

/* A live op handle: not null, an op, not freed. */
bool mpix_op_valid(MPI_Op op);

/* inout[i] = in[i] op inout[i] for N elements of one predefined type. */
typedef void mpix_op_fn(const void *in, void *inout, size_t n);

/* The function of predefined op KIND on predefined type BASIC, or NULL when the standard does
 * not define the pair. */
mpix_op_fn *mpix_op_fn_for(int kind, int basic);

/* A new user op (refs 1), NULL when memory runs out. */
MPI_Op mpix_op_new(MPI_User_function *fn, bool commute);

/* MPI_Op_free on a user op: the handle dies, the object when its references do. */
void mpix_op_free(MPI_Op op);

#endif
