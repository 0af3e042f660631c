/* coll_bcast.c - MPI_Barrier's and MPI_Bcast's schedules.
 *
 * Barrier: dissemination, ceil(log2 p) rounds of empty messages, any number of ranks.
 * Bcast: a binomial tree from the root (log2 p rounds) for small messages; from COLL_LARGE
 * bytes on, van de Geijn's scatter (binomial) of p chunks followed by a ring allgather, which
 * moves about 2x the message per rank instead of log2 p times. The message travels as packed
 * bytes: the user's buffer itself when its type is contiguous, else a scratch copy packed at
 * the root and unpacked at the others at the end. */
#include "coll.h"
#include "dt.h"

void coll_barrier(struct coll_sched *s)
{
    int rank = coll_rank(s), size = coll_size(s);
    for (int k = 1; k < size; k <<= 1) {
        coll_round(s);
        coll_send(s, NULL, 0, MPI_BYTE, (rank + k) % size);
        coll_recv(s, NULL, 0, MPI_BYTE, (rank - k + size) % size);
    }
}

/* Binomial tree on ranks relative to the root: receive from the parent, send to children. */
static void bcast_binomial(struct coll_sched *s, char *p, int bytes, int root)
{
    int rank = coll_rank(s), size = coll_size(s), rel = (rank - root + size) % size, mask = 1;
    for (; mask < size; mask <<= 1)
        if (rel & mask) {
            coll_round(s);
            coll_recv(s, p, bytes, MPI_BYTE, (rank - mask + size) % size);
            break;
        }
    coll_round(s);
    for (mask >>= 1; mask > 0; mask >>= 1)
        if (rel + mask < size)
            coll_send(s, p, bytes, MPI_BYTE, (rank + mask) % size);
}

/* Bytes of chunk J (chunks of CH bytes over BYTES) and of N chunks from J on, clipped. */
static int chunk_bytes(int bytes, int ch, int j, int n)
{
    long lo = (long)j * ch, hi = lo + (long)n * ch;
    if (hi > bytes)
        hi = bytes;
    return hi > lo ? (int)(hi - lo) : 0;
}

/* Scatter of the root's chunks down a binomial tree: relative rank r ends with chunks
 * [r, r + its subtree). Empty pieces are not sent (both sides compute the same sizes). */
static void bcast_scatter(struct coll_sched *s, char *p, int bytes, int ch, int root)
{
    int rank = coll_rank(s), size = coll_size(s), rel = (rank - root + size) % size, mask = 1;
    for (; mask < size; mask <<= 1)
        if (rel & mask) {
            int n = chunk_bytes(bytes, ch, rel, mask);
            coll_round(s);
            if (n > 0)
                coll_recv(s, p + (long)rel * ch, n, MPI_BYTE, (rank - mask + size) % size);
            break;
        }
    coll_round(s);
    for (mask >>= 1; mask > 0; mask >>= 1)
        if (rel + mask < size) {
            int n = chunk_bytes(bytes, ch, rel + mask, mask);
            if (n > 0)
                coll_send(s, p + (long)(rel + mask) * ch, n, MPI_BYTE, (rank + mask) % size);
        }
}

/* Ring allgather of the chunks: in step i relative rank r passes chunk r - i to its right. */
static void bcast_ring(struct coll_sched *s, char *p, int bytes, int ch, int root)
{
    int rank = coll_rank(s), size = coll_size(s), rel = (rank - root + size) % size;
    int right = (rank + 1) % size, left = (rank - 1 + size) % size;
    for (int i = 0; i < size - 1; i++) {
        int sj = (rel - i + size) % size, rj = (rel - i - 1 + size) % size;
        int sn = chunk_bytes(bytes, ch, sj, 1), rn = chunk_bytes(bytes, ch, rj, 1);
        coll_round(s);
        if (sn > 0)
            coll_send(s, p + (long)sj * ch, sn, MPI_BYTE, right);
        if (rn > 0)
            coll_recv(s, p + (long)rj * ch, rn, MPI_BYTE, left);
    }
}

void coll_bcast(struct coll_sched *s, void *buf, int count, MPI_Datatype dt, int root)
{
    int rank = coll_rank(s), size = coll_size(s);
    MPI_Aint off = 0;
    long bytes = (long)count * mpix_dt_size(dt);
    if (size == 1 || bytes == 0)
        return;
    bool contig = mpix_dt_contig(dt, count, &off);
    char *p = contig ? (char *)buf + off : coll_tmp(s, (size_t)bytes);
    if (!p)
        return;
    if (!contig && rank == root)
        coll_pack(s, buf, count, dt, p);
    if (bytes < COLL_LARGE || size < 3 || bytes / size == 0) {
        bcast_binomial(s, p, (int)bytes, root);
    } else {
        int ch = (int)((bytes + size - 1) / size);
        bcast_scatter(s, p, (int)bytes, ch, root);
        bcast_ring(s, p, (int)bytes, ch, root);
    }
    if (!contig && rank != root) {
        coll_round(s);
        coll_unpack(s, p, buf, count, dt);
    }
}
