/* coll_gather.c - MPI_Gather/MPI_Scatter (binomial trees) and their v forms (linear).
 *
 * Gather and Scatter move packed bytes through a binomial tree on ranks relative to the root:
 * a rank holds its subtree's blocks in one scratch buffer, so each message is one contiguous
 * piece, and log2 p rounds reach every rank; the root packs (Scatter) or unpacks (Gather) the
 * user's buffer in rank order. Gatherv/Scatterv cannot use a tree (a rank does not know the
 * others' counts), so the root posts one receive (send) per rank in a single round, as MPICH
 * and Open MPI do; the messages use the user's types directly. */
#include "coll.h"
#include "dt.h"

/* Blocks (of the tree on relative ranks) relative rank REL holds: its subtree's size. */
static int subtree(int rel, int size)
{
    int low = rel ? rel & -rel : size;
    return low < size - rel ? low : size - rel;
}

/* The root's blocks in relative order <-> the user's buffer in rank order: two runs. */
static void root_layout(struct coll_sched *s, bool pack, char *tmp, char *buf, int count,
                        MPI_Datatype dt, long blk)
{
    int root_first = coll_size(s) - coll_rank(s), root = coll_rank(s);
    char *hi = buf + (MPI_Aint)root * count * mpix_dt_extent(dt);
    if (pack) {
        coll_pack(s, hi, root_first * count, dt, tmp);
        coll_pack(s, buf, root * count, dt, tmp + root_first * blk);
    } else {
        coll_unpack(s, tmp, hi, root_first * count, dt);
        coll_unpack(s, tmp + root_first * blk, buf, root * count, dt);
    }
}

void coll_gather(struct coll_sched *s, const struct coll_args *a)
{
    int rank = coll_rank(s), size = coll_size(s), rel = (rank - a->root + size) % size;
    bool root = rank == a->root;
    long blk = root ? a->rcount * mpix_dt_size(a->rtype) : a->scount * mpix_dt_size(a->stype);
    if (blk == 0 || (size == 1 && a->sbuf == MPI_IN_PLACE))
        return;
    char *tmp = coll_tmp(s, (size_t)(subtree(rel, size) * blk));
    if (!tmp)
        return;
    if (root && a->sbuf == MPI_IN_PLACE)
        coll_pack(s, (char *)a->rbuf + (MPI_Aint)rank * a->rcount * mpix_dt_extent(a->rtype),
                  a->rcount, a->rtype, tmp);
    else
        coll_pack(s, a->sbuf, a->scount, a->stype, tmp);
    int mask = 1;
    coll_round(s);
    for (; mask < size && !(rel & mask); mask <<= 1)
        if (rel + mask < size)
            coll_recv(s, tmp + mask * blk, (int)(subtree(rel + mask, size) * blk), MPI_BYTE,
                      (rank + mask) % size);
    coll_round(s);
    if (!root)
        coll_send(s, tmp, (int)(subtree(rel, size) * blk), MPI_BYTE, (rank - mask + size) % size);
    else
        root_layout(s, false, tmp, a->rbuf, a->rcount, a->rtype, blk);
}

void coll_scatter(struct coll_sched *s, const struct coll_args *a)
{
    int rank = coll_rank(s), size = coll_size(s), rel = (rank - a->root + size) % size;
    bool root = rank == a->root;
    long blk = root ? a->scount * mpix_dt_size(a->stype) : a->rcount * mpix_dt_size(a->rtype);
    if (blk == 0 || (size == 1 && a->rbuf == MPI_IN_PLACE))
        return;
    char *tmp = coll_tmp(s, (size_t)(subtree(rel, size) * blk));
    if (!tmp)
        return;
    if (root)
        root_layout(s, true, tmp, (char *)a->sbuf, a->scount, a->stype, blk);
    int mask = 1;
    for (; mask < size; mask <<= 1)
        if (rel & mask) {
            coll_round(s);
            coll_recv(s, tmp, (int)(subtree(rel, size) * blk), MPI_BYTE,
                      (rank - mask + size) % size);
            break;
        }
    coll_round(s);
    for (mask >>= 1; mask > 0; mask >>= 1)
        if (rel + mask < size)
            coll_send(s, tmp + mask * blk, (int)(subtree(rel + mask, size) * blk), MPI_BYTE,
                      (rank + mask) % size);
    if (!(root && a->rbuf == MPI_IN_PLACE))
        coll_unpack(s, tmp, a->rbuf, a->rcount, a->rtype);
}

void coll_gatherv(struct coll_sched *s, const struct coll_args *a)
{
    int rank = coll_rank(s), size = coll_size(s);
    if (rank != a->root) {
        coll_send(s, a->sbuf, a->scount, a->stype, a->root);
        return;
    }
    MPI_Aint ext = mpix_dt_extent(a->rtype);      /* significant at the root only */
    for (int i = 0; i < size; i++)
        if (i != rank)
            coll_recv(s, (char *)a->rbuf + (MPI_Aint)a->rdispls[i] * ext, a->rcounts[i],
                      a->rtype, i);
    if (a->sbuf != MPI_IN_PLACE)
        coll_copy_typed(s, a->sbuf, a->scount, a->stype,
                        (char *)a->rbuf + (MPI_Aint)a->rdispls[rank] * ext, a->rcounts[rank],
                        a->rtype);
}

void coll_scatterv(struct coll_sched *s, const struct coll_args *a)
{
    int rank = coll_rank(s), size = coll_size(s);
    if (rank != a->root) {
        coll_recv(s, a->rbuf, a->rcount, a->rtype, a->root);
        return;
    }
    MPI_Aint ext = mpix_dt_extent(a->stype);      /* significant at the root only */
    for (int i = 0; i < size; i++)
        if (i != rank)
            coll_send(s, (const char *)a->sbuf + (MPI_Aint)a->sdispls[i] * ext, a->scounts[i],
                      a->stype, i);
    if (a->rbuf != MPI_IN_PLACE)
        coll_copy_typed(s, (const char *)a->sbuf + (MPI_Aint)a->sdispls[rank] * ext,
                        a->scounts[rank], a->stype, a->rbuf, a->rcount, a->rtype);
}
