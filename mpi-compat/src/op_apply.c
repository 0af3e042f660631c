/* op_apply.c - applying a reduction operation to buffers of a datatype, checking that the op is
 * defined on the type, and the lifetime of user ops.
 *
 * A predefined op on a predefined type is one call of its table function over the COUNT
 * elements (a pair type's elements are its C struct, so the function strides by the extent). On
 * a derived type whose data is all one non-pair predefined type, it is one call per block of
 * each element: blocks hold whole elements of that type. On a derived type made of one pair
 * type (a contiguous of MPI_2INT, a struct of MPI_DOUBLE_INTs), blocks need not hold whole pairs
 * (pairs without padding merge into one block, padded ones leave holes), so both buffers are
 * packed and the pairs rebuilt as their C structs, combined, and unpacked back. Elements are
 * found from the buffer as MPI says (element i at buf + i * extent, its data at the blocks'
 * offsets, a non-zero lower bound included). This file raises no MPI error. */
#include "op_impl.h"

#include <stdlib.h>
#include <stdio.h>

bool mpix_op_valid(MPI_Op op)
{
    return op && op->magic == MPIX_OP_MAGIC && !op->freed;
}

/* The table function for a predefined OP on DT, or NULL. */
static mpix_op_fn *predef_fn(MPI_Op op, MPI_Datatype dt)
{
    return mpix_op_fn_for(op->kind, dt->basic);
}

int mpix_op_check(MPI_Op op, MPI_Datatype dt)
{
    if (!mpix_op_valid(op))
        return MPI_ERR_OP;
    if (mpix_dt_check(dt) != MPI_SUCCESS)
        return MPI_ERR_TYPE;
    if (op->kind == MPIX_OP_USER)
        return MPI_SUCCESS;
    return predef_fn(op, dt) ? MPI_SUCCESS : MPI_ERR_OP;
}

static void apply_blocks(mpix_op_fn *fn, const char *in, char *io, int count, MPI_Datatype dt)
{
    MPI_Aint ext = dt->ub - dt->lb, unit = (MPI_Aint)mpix_dt_predef(dt->basic)->size;

    for (int i = 0; i < count; i++)
        for (size_t j = 0; j < dt->nblocks; j++) {
            const struct mpix_dt_block *b = &dt->blocks[j];
            MPI_Aint at = (MPI_Aint)i * ext + b->off;
            fn(in + at, io + at, (size_t)(b->len / unit));
        }
}

/* COUNT elements of DT at BUF as an array of its pair type's C structs, in OUT (N pairs). */
static void to_pairs(const void *buf, int count, MPI_Datatype dt, char *packed, void *out,
                     size_t n)
{
    MPI_Datatype pair = mpix_dt_predef(dt->basic);

    mpix_dt_pack(buf, count, dt, packed);
    mpix_dt_unpack(packed, (MPI_Count)n * pair->size, out, (int)n, pair);
}

static void apply_pairs(mpix_op_fn *fn, const void *in, void *io, int count, MPI_Datatype dt)
{
    MPI_Datatype pair = mpix_dt_predef(dt->basic);
    size_t n = (size_t)count * (size_t)(dt->size / pair->size), ext = (size_t)(pair->ub - pair->lb);
    char *packed = malloc((size_t)count * (size_t)dt->size + 1);
    char *a = malloc(n * ext + 1), *b = malloc(n * ext + 1);

    if (!packed || !a || !b) {
        fprintf(stderr, "MPI error: no memory for a reduction of %zu pairs\n", n);
        exit(MPI_ERR_NO_MEM);
    }
    to_pairs(in, count, dt, packed, a, n);
    to_pairs(io, count, dt, packed, b, n);
    fn(a, b, n);
    mpix_dt_pack(b, (int)n, pair, packed);
    mpix_dt_unpack(packed, (MPI_Count)count * dt->size, io, count, dt);
    free(packed);
    free(a);
    free(b);
}

void mpix_op_apply(MPI_Op op, const void *in, void *inout, int count, MPI_Datatype dt)
{
    mpix_op_fn *fn;

    if (op->kind == MPIX_OP_USER) {
        op->user((void *)in, inout, &count, &dt);
        return;
    }
    fn = predef_fn(op, dt);
    if (dt->flags & MPIX_DT_PREDEF)
        fn(in, inout, (size_t)count);
    else if (dt->flags & MPIX_DT_PAIR)
        apply_pairs(fn, in, inout, count, dt);
    else
        apply_blocks(fn, in, inout, count, dt);
}

bool mpix_op_commutative(MPI_Op op) { return op->commute; }

const char *mpix_op_name(MPI_Op op)
{
    return mpix_op_valid(op) ? op->name : "an invalid operation";
}

void mpix_op_retain(MPI_Op op)
{
    if (op->kind == MPIX_OP_USER)
        __atomic_add_fetch(&op->refs, 1, __ATOMIC_RELAXED);
}

void mpix_op_release(MPI_Op op)
{
    if (op->kind != MPIX_OP_USER || __atomic_sub_fetch(&op->refs, 1, __ATOMIC_ACQ_REL) > 0)
        return;
    op->magic = 0;
    free(op);
}

MPI_Op mpix_op_new(MPI_User_function *fn, bool commute)
{
    MPI_Op op = calloc(1, sizeof(*op));

    if (op)
        *op = (struct mpix_op){ .magic = MPIX_OP_MAGIC, .kind = MPIX_OP_USER,
                                .commute = commute, .refs = 1, .name = "a user operation",
                                .user = fn };
    return op;
}

void mpix_op_free(MPI_Op op)
{
    op->freed = true;
    mpix_op_release(op);
}
