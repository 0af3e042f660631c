/* coll_reduce.c - the reductions' schedules: MPI_Reduce, MPI_Allreduce, MPI_Reduce_scatter(_block)
 * and MPI_Scan/MPI_Exscan.
 *
 * Reductions work in the datatype's own layout, in scratch buffers (coll_tmp_typed: they hold
 * the data wherever the type's bounds put it) or the user's receive buffer; mpix_op_apply combines "in op inout", so the
 * order of operands is kept for non-commutative ops: whatever comes from lower ranks goes left.
 *   Reduce: binomial tree; a commutative op on ranks relative to the root, a non-commutative one
 *     on ranks in order towards rank 0, which then sends the result to the root. From
 *     COLL_LARGE bytes (commutative ops): ring reduce-scatter, then the chunks to the root.
 *   Allreduce: recursive doubling (log2 p rounds; ranks beyond the largest power of two first
 *     fold into a partner) for small messages or non-commutative ops; from COLL_LARGE bytes, a
 *     ring reduce-scatter and ring allgather, which move ~2x the message per rank.
 *   Reduce_scatter: the ring reduce-scatter for commutative ops; else Reduce to rank 0 in rank
 *     order and Scatterv.
 *   Scan, Exscan: recursive doubling with a running partial result. */
#include "coll.h"
#include "dt.h"
#include "op.h"

/* ACC = TMP op ACC when TMP comes from lower ranks, else ACC = ACC op TMP (via TMP). */
static void combine(struct coll_sched *s, MPI_Op op, void *tmp, void *acc, int count,
                    MPI_Datatype dt, bool tmp_is_lower)
{
    if (tmp_is_lower || mpix_op_commutative(op)) {
        coll_reduce(s, op, tmp, acc, count, dt);
    } else {
        coll_reduce(s, op, acc, tmp, count, dt);
        coll_copy_typed(s, tmp, count, dt, acc, count, dt);
    }
}

static void ring_reduce_scatter(struct coll_sched *s, char *acc, const int *cnt, const int *disp,
                                MPI_Datatype dt, MPI_Op op);
static int *split(struct coll_sched *s, int count, int size, int **disp);

/* Large commutative Reduce: ring reduce-scatter of a copy, then every rank sends its reduced
 * chunk to the root (Rabenseifner's scheme with a ring): ~2x the message per rank. */
static void reduce_large(struct coll_sched *s, const void *in, void *recv, int count,
                         MPI_Datatype dt, MPI_Op op, int root)
{
    int rank = coll_rank(s), size = coll_size(s), *cnt, *disp;
    MPI_Aint ext = mpix_dt_extent(dt);
    char *acc = coll_tmp_typed(s, count, dt);
    if (!acc || !(cnt = split(s, count, size, &disp)))
        return;
    coll_copy_typed(s, in, count, dt, acc, count, dt);
    ring_reduce_scatter(s, acc, cnt, disp, dt, op);
    coll_round(s);
    if (rank != root) {
        coll_send(s, acc + (MPI_Aint)disp[rank] * ext, cnt[rank], dt, root);
        return;
    }
    for (int i = 0; i < size; i++)
        if (i != root)
            coll_recv(s, (char *)recv + (MPI_Aint)disp[i] * ext, cnt[i], dt, i);
    coll_copy_typed(s, acc + (MPI_Aint)disp[root] * ext, cnt[root], dt,
                    (char *)recv + (MPI_Aint)disp[root] * ext, cnt[root], dt);
}

void coll_reduce_to(struct coll_sched *s, const void *send, void *recv, int count,
                    MPI_Datatype dt, MPI_Op op, int root)
{
    int rank = coll_rank(s), size = coll_size(s);
    int base = mpix_op_commutative(op) ? root : 0, rel = (rank - base + size) % size;
    const void *in = send == MPI_IN_PLACE ? recv : send;
    if (size == 1 || count == 0) {
        if (in != recv)
            coll_copy_typed(s, in, count, dt, recv, count, dt);
        return;
    }
    if ((long)count * mpix_dt_size(dt) >= COLL_LARGE && count >= size && mpix_op_commutative(op)) {
        reduce_large(s, in, recv, count, dt, op, root);
        return;
    }
    char *acc = rank == base && rank == root ? recv : coll_tmp_typed(s, count, dt);
    char *tmp = coll_tmp_typed(s, count, dt);
    if (!acc || !tmp)
        return;
    if (acc != in)
        coll_copy_typed(s, in, count, dt, acc, count, dt);
    for (int mask = 1; mask < size; mask <<= 1) {
        coll_round(s);
        if (rel & mask) {
            coll_send(s, acc, count, dt, (rel - mask + base) % size);
            break;
        }
        if ((rel | mask) < size) {
            coll_recv(s, tmp, count, dt, ((rel | mask) + base) % size);
            combine(s, op, tmp, acc, count, dt, false);
        }
    }
    if (base != root) {
        coll_round(s);
        if (rank == base)
            coll_send(s, acc, count, dt, root);
        if (rank == root)
            coll_recv(s, recv, count, dt, base);
    }
}

/* Recursive doubling on ACC (count elements), whatever the number of ranks. */
static void allreduce_doubling(struct coll_sched *s, char *acc, int count, MPI_Datatype dt,
                               MPI_Op op)
{
    int rank = coll_rank(s), size = coll_size(s), pof2 = coll_pof2(size), rem = size - pof2;
    char *tmp = coll_tmp_typed(s, count, dt);
    int newrank = rank < 2 * rem ? (rank % 2 ? rank / 2 : -1) : rank - rem;
    if (!tmp)
        return;
    if (rank < 2 * rem) {                       /* fold the extra ranks into their partners */
        coll_round(s);
        if (rank % 2 == 0)
            coll_send(s, acc, count, dt, rank + 1);
        else {
            coll_recv(s, tmp, count, dt, rank - 1);
            combine(s, op, tmp, acc, count, dt, true);
        }
    }
    for (int mask = 1; newrank >= 0 && mask < pof2; mask <<= 1) {
        int nd = newrank ^ mask, dst = nd < rem ? nd * 2 + 1 : nd + rem;
        coll_round(s);
        coll_send(s, acc, count, dt, dst);
        coll_recv(s, tmp, count, dt, dst);
        combine(s, op, tmp, acc, count, dt, dst < rank);
    }
    if (rank < 2 * rem) {
        coll_round(s);
        if (rank % 2)
            coll_send(s, acc, count, dt, rank - 1);
        else
            coll_recv(s, acc, count, dt, rank + 1);
    }
}

/* Ring reduce-scatter of ACC split in chunks CNT/DISP (elements): after p-1 steps chunk
 * `rank` holds the full reduction. Commutative ops only. */
static void ring_reduce_scatter(struct coll_sched *s, char *acc, const int *cnt, const int *disp,
                                MPI_Datatype dt, MPI_Op op)
{
    int rank = coll_rank(s), size = coll_size(s), most = 0;
    int right = (rank + 1) % size, left = (rank - 1 + size) % size;
    MPI_Aint ext = mpix_dt_extent(dt);
    for (int i = 0; i < size; i++)
        most = cnt[i] > most ? cnt[i] : most;
    char *tmp = coll_tmp_typed(s, most, dt);
    if (!tmp)
        return;
    for (int k = 0; k < size - 1; k++) {
        int sj = ((rank - k - 1) % size + size) % size, rj = ((rank - k - 2) % size + size) % size;
        coll_round(s);
        coll_send(s, acc + (MPI_Aint)disp[sj] * ext, cnt[sj], dt, right);
        coll_recv(s, tmp, cnt[rj], dt, left);
        coll_reduce(s, op, tmp, acc + (MPI_Aint)disp[rj] * ext, cnt[rj], dt);
    }
}

/* Ring allgather of the chunks, each rank starting with chunk `rank`. */
static void ring_allgather(struct coll_sched *s, char *acc, const int *cnt, const int *disp,
                           MPI_Datatype dt)
{
    int rank = coll_rank(s), size = coll_size(s);
    MPI_Aint ext = mpix_dt_extent(dt);
    for (int k = 0; k < size - 1; k++) {
        int sj = ((rank - k) % size + size) % size, rj = ((rank - k - 1) % size + size) % size;
        coll_round(s);
        coll_send(s, acc + (MPI_Aint)disp[sj] * ext, cnt[sj], dt, (rank + 1) % size);
        coll_recv(s, acc + (MPI_Aint)disp[rj] * ext, cnt[rj], dt, (rank - 1 + size) % size);
    }
}

/* COUNT elements in SIZE nearly equal chunks: counts and displacements in scratch memory. */
static int *split(struct coll_sched *s, int count, int size, int **disp)
{
    int *cnt = coll_tmp(s, sizeof(int) * 2 * (size_t)size);
    if (!cnt)
        return NULL;
    *disp = cnt + size;
    for (int i = 0, off = 0; i < size; off += cnt[i++]) {
        cnt[i] = count / size + (i < count % size);
        (*disp)[i] = off;
    }
    return cnt;
}

void coll_allreduce(struct coll_sched *s, const void *send, void *recv, int count,
                    MPI_Datatype dt, MPI_Op op)
{
    int size = coll_size(s), *cnt, *disp;
    if (send != MPI_IN_PLACE)
        coll_copy_typed(s, send, count, dt, recv, count, dt);
    if (size == 1 || count == 0)
        return;
    long bytes = (long)count * mpix_dt_size(dt);
    if (bytes < COLL_LARGE || count < size || !mpix_op_commutative(op)) {
        allreduce_doubling(s, recv, count, dt, op);
    } else if ((cnt = split(s, count, size, &disp))) {
        ring_reduce_scatter(s, recv, cnt, disp, dt, op);
        ring_allgather(s, recv, cnt, disp, dt);
    }
}

void coll_reduce_scatter(struct coll_sched *s, const void *send, void *recv,
                         const int recvcounts[], MPI_Datatype dt, MPI_Op op)
{
    int rank = coll_rank(s), size = coll_size(s), total = 0;
    int *disp = coll_tmp(s, sizeof(int) * (size_t)size);
    const void *in = send == MPI_IN_PLACE ? recv : send;
    if (!disp)
        return;
    for (int i = 0; i < size; total += recvcounts[i++])
        disp[i] = total;
    char *acc = coll_tmp_typed(s, total, dt);
    if (!acc || total == 0)
        return;
    if (size == 1) {
        if (in != recv)
            coll_copy_typed(s, in, total, dt, recv, total, dt);
        return;
    }
    if (mpix_op_commutative(op)) {
        coll_copy_typed(s, in, total, dt, acc, total, dt);
        ring_reduce_scatter(s, acc, recvcounts, disp, dt, op);
        coll_round(s);
        coll_copy_typed(s, acc + (MPI_Aint)disp[rank] * mpix_dt_extent(dt), recvcounts[rank], dt,
                        recv, recvcounts[rank], dt);
        return;
    }
    coll_reduce_to(s, in, acc, total, dt, op, 0);
    coll_round(s);
    struct coll_args a = { .sbuf = acc, .scounts = recvcounts, .sdispls = disp, .stype = dt,
                           .rbuf = recv, .rcount = recvcounts[rank], .rtype = dt, .root = 0 };
    coll_scatterv(s, &a);
}

void coll_scan(struct coll_sched *s, const void *send, void *recv, int count, MPI_Datatype dt,
               MPI_Op op, bool exclusive)
{
    int rank = coll_rank(s), size = coll_size(s);
    const void *in = send == MPI_IN_PLACE ? recv : send;
    char *partial = coll_tmp_typed(s, count, dt), *tmp = coll_tmp_typed(s, count, dt);
    bool have = false;                           /* Exscan: RECV holds a lower rank's data */
    if (!partial || !tmp || count == 0)
        return;
    coll_copy_typed(s, in, count, dt, partial, count, dt);
    if (!exclusive && in != recv)
        coll_copy_typed(s, in, count, dt, recv, count, dt);
    for (int mask = 1; mask < size; mask <<= 1) {
        int dst = rank ^ mask;
        if (dst >= size)
            continue;
        coll_round(s);
        coll_send(s, partial, count, dt, dst);
        coll_recv(s, tmp, count, dt, dst);
        if (dst > rank) {
            combine(s, op, tmp, partial, count, dt, false);
            continue;
        }
        coll_reduce(s, op, tmp, partial, count, dt);
        if (exclusive && !have)
            coll_copy_typed(s, tmp, count, dt, recv, count, dt);
        else
            coll_reduce(s, op, tmp, recv, count, dt);
        have = true;
    }
}
