/* coll_alltoall.c - MPI_Allgather(v) and MPI_Alltoall(v).
 *
 * Allgather: recursive doubling (log2 p rounds, each doubling the blocks held) when p is a
 * power of two and the result is small, else a ring (p-1 rounds of one block to the right),
 * which is bandwidth-optimal for large blocks and works for any p. Allgatherv: the ring.
 * Alltoall(v): pairwise exchange, in step k a rank sends to rank+k and receives from rank-k;
 * when a rank sends less than COLL_LARGE bytes in all, it posts every step at once (one round).
 * Each pair exchanges one message each way, so ranks choosing differently still match.
 * Blocks are sent straight from and into the user's buffers with the user's types; with
 * MPI_IN_PLACE, Alltoall(v) first packs the receive buffer into scratch and sends from there. */
#include "coll.h"
#include "dt.h"

/* Where block J of the receive buffer starts. */
static char *rblock(const struct coll_args *a, int j, bool v)
{
    return (char *)a->rbuf + (MPI_Aint)(v ? a->rdispls[j] : j * a->rcount) *
                                 mpix_dt_extent(a->rtype);
}

static int rcount_of(const struct coll_args *a, int j, bool v) { return v ? a->rcounts[j] : a->rcount; }

/* Each rank's own block into its place (unless MPI_IN_PLACE put it there already). */
static void own_block(struct coll_sched *s, const struct coll_args *a, bool v)
{
    int rank = coll_rank(s);
    if (a->sbuf != MPI_IN_PLACE)
        coll_copy_typed(s, a->sbuf, a->scount, a->stype, rblock(a, rank, v), rcount_of(a, rank, v),
                        a->rtype);
}

static void allgather_ring(struct coll_sched *s, const struct coll_args *a, bool v)
{
    int rank = coll_rank(s), size = coll_size(s);
    for (int k = 0; k < size - 1; k++) {
        int sj = (rank - k + size) % size, rj = (rank - k - 1 + size) % size;
        coll_round(s);
        coll_send(s, rblock(a, sj, v), rcount_of(a, sj, v), a->rtype, (rank + 1) % size);
        coll_recv(s, rblock(a, rj, v), rcount_of(a, rj, v), a->rtype, (rank - 1 + size) % size);
    }
}

void coll_allgather(struct coll_sched *s, const struct coll_args *a)
{
    int rank = coll_rank(s), size = coll_size(s);
    own_block(s, a, false);
    long bytes = (long)a->rcount * mpix_dt_size(a->rtype) * size;
    if (size == 1 || bytes == 0)
        return;
    if (coll_pof2(size) != size || bytes >= COLL_LARGE) {
        allgather_ring(s, a, false);
        return;
    }
    for (int mask = 1; mask < size; mask <<= 1) {
        int partner = rank ^ mask, mine = rank & ~(mask - 1), theirs = partner & ~(mask - 1);
        coll_round(s);
        coll_send(s, rblock(a, mine, false), mask * a->rcount, a->rtype, partner);
        coll_recv(s, rblock(a, theirs, false), mask * a->rcount, a->rtype, partner);
    }
}

void coll_allgatherv(struct coll_sched *s, const struct coll_args *a)
{
    own_block(s, a, true);
    if (coll_size(s) > 1)
        allgather_ring(s, a, true);
}

/* The send side of Alltoall(v): block J's address, count and type (scratch under IN_PLACE). */
struct sside { const char *base; MPI_Datatype type; long *off; int *cnt; };

static bool send_side(struct coll_sched *s, const struct coll_args *a, bool v, struct sside *ss)
{
    int size = coll_size(s);
    ss->off = coll_tmp(s, sizeof(long) * (size_t)size);
    ss->cnt = coll_tmp(s, sizeof(int) * (size_t)size);
    if (!ss->off || !ss->cnt)
        return false;
    if (a->sbuf != MPI_IN_PLACE) {
        MPI_Aint ext = mpix_dt_extent(a->stype);
        for (int j = 0; j < size; j++) {
            ss->cnt[j] = v ? a->scounts[j] : a->scount;
            ss->off[j] = (long)(v ? a->sdispls[j] : j * a->scount) * ext;
        }
        ss->base = a->sbuf;
        ss->type = a->stype;
        return true;
    }
    long esz = mpix_dt_size(a->rtype), total = 0;
    for (int j = 0; j < size; j++)
        total += rcount_of(a, j, v) * esz;
    char *tmp = coll_tmp(s, (size_t)total);
    if (!tmp)
        return false;
    for (int j = 0, off = 0; j < size; off += ss->cnt[j++]) {
        ss->cnt[j] = (int)(rcount_of(a, j, v) * esz);
        ss->off[j] = off;
        coll_pack(s, rblock(a, j, v), rcount_of(a, j, v), a->rtype, tmp + off);
    }
    ss->base = tmp;
    ss->type = MPI_BYTE;
    return true;
}

static void alltoall_pairwise(struct coll_sched *s, const struct coll_args *a, bool v)
{
    int rank = coll_rank(s), size = coll_size(s);
    struct sside ss;
    if (!send_side(s, a, v, &ss))
        return;
    long sent = 0;
    for (int j = 0; j < size; j++)
        sent += ss.cnt[j] * mpix_dt_size(ss.type);
    bool one_round = sent < COLL_LARGE;     /* small: every message at once */
    coll_round(s);
    coll_copy_typed(s, ss.base + ss.off[rank], ss.cnt[rank], ss.type, rblock(a, rank, v),
                    rcount_of(a, rank, v), a->rtype);
    for (int k = 1; k < size; k++) {
        int to = (rank + k) % size, from = (rank - k + size) % size;
        if (!one_round || k == 1)
            coll_round(s);
        coll_send(s, ss.base + ss.off[to], ss.cnt[to], ss.type, to);
        coll_recv(s, rblock(a, from, v), rcount_of(a, from, v), a->rtype, from);
    }
}

void coll_alltoall(struct coll_sched *s, const struct coll_args *a) { alltoall_pairwise(s, a, false); }
void coll_alltoallv(struct coll_sched *s, const struct coll_args *a) { alltoall_pairwise(s, a, true); }
