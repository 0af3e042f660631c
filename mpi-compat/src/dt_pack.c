/* dt_pack.c - the pack/unpack engine: memcpy loops over a committed type's blocks.
 *
 * Element i of a buffer starts at buf + i * extent; its blocks lie at their offsets from there
 * (negative ones included: a type's lower bound may be below its buffer address). The packed
 * form is the blocks' bytes in order, element after element. One loop serves both directions
 * and any window [skip, skip + bytes) of the packed form, which gives truncated unpacks and
 * piecewise packing; a type whose COUNT elements are one block is a single memcpy. */
#include "dt_impl.h"

#include <string.h>

bool mpix_dt_contig(MPI_Datatype dt, int count, MPI_Aint *offset)
{
    *offset = dt->nblocks ? dt->blocks[0].off : 0;
    return dt->nblocks == 0 ||
           (dt->nblocks == 1 && (count <= 1 || dt->blocks[0].len == dt->ub - dt->lb));
}

/* Small blocks (a vector of doubles) copy as one move instead of a call. */
static inline void copy_block(char *dst, const char *src, size_t len)
{
    switch (len) {
    case 4: memcpy(dst, src, 4); break;
    case 8: memcpy(dst, src, 8); break;
    case 16: memcpy(dst, src, 16); break;
    default: memcpy(dst, src, len);
    }
}

/* Where the walk stands: the packed window still to copy. */
struct walk {
    char     *packed;
    MPI_Count skip, left;
    bool      pack;
};

/* Copies the part of one block [elem + off, + len) that falls in the window. */
static void walk_block(struct walk *w, char *elem, const struct mpix_dt_block *b)
{
    MPI_Count from, n;

    if (w->skip >= b->len) {
        w->skip -= b->len;
        return;
    }
    from = w->skip;
    w->skip = 0;
    n = b->len - from < w->left ? b->len - from : w->left;
    if (w->pack)
        copy_block(w->packed, elem + b->off + from, (size_t)n);
    else
        copy_block(elem + b->off + from, w->packed, (size_t)n);
    w->packed += n;
    w->left -= n;
}

void mpix_dt_copy(void *buf, int count, MPI_Datatype dt, void *packed, MPI_Count skip,
                  MPI_Count bytes, bool pack)
{
    MPI_Aint ext = dt->ub - dt->lb, off;
    struct walk w = { packed, skip, bytes, pack };
    int first = dt->size ? (int)(skip / dt->size) : count;

    if (bytes <= 0)
        return;
    if (mpix_dt_contig(dt, count, &off)) {
        char *data = (char *)buf + off + skip;
        memcpy(pack ? packed : data, pack ? data : packed, (size_t)bytes);
        return;
    }
    w.skip -= (MPI_Count)first * dt->size;
    for (int i = first; i < count && w.left > 0; i++)
        for (size_t j = 0; j < dt->nblocks && w.left > 0; j++)
            walk_block(&w, (char *)buf + (MPI_Aint)i * ext, &dt->blocks[j]);
}

void mpix_dt_pack(const void *buf, int count, MPI_Datatype dt, void *out)
{
    mpix_dt_copy((void *)buf, count, dt, out, 0, (MPI_Count)count * dt->size, true);
}

void mpix_dt_unpack(const void *in, MPI_Count bytes, void *buf, int count, MPI_Datatype dt)
{
    MPI_Count all = (MPI_Count)count * dt->size;
    mpix_dt_copy(buf, count, dt, (void *)in, 0, bytes < all ? bytes : all, false);
}
