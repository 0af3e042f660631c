/* comm_agree.c - what members of a communicator agree on without any central server: a new
 * context id (MPI_Comm_dup, MPI_Comm_split), everyone's (color, key) (MPI_Comm_split), and the
 * barrier of MPI_Finalize. The core's own small collectives, over the parent's collective context
 * with the core's negative tags, so they never meet a user's message or the collectives' (coll).
 *
 * Context ids: each process keeps NEXT, above every context id it uses. A new communicator's id
 * is the maximum of NEXT over the parent's members (a binomial reduction to rank 0, then a
 * binomial broadcast: 2 log2(n) steps); every member then sets NEXT to that id + 2 (each
 * communicator uses two ids: point to point and collectives). The id is above every id any
 * member uses, so it is new to each of them, and every member computes the same one. */
#include "core.h"

#include <stdlib.h>

enum { TAG_GATHER = -1000, TAG_BCAST = -1001, TAG_REDUCE = -1002 };

static uint32_t next_context = 4;       /* WORLD uses 0-1, SELF 2-3 */

/* Each step waits with mpix_wait naming FN, the user's call (MPI_Comm_split, MPI_Finalize...):
 * a member found gone fails that call, which the error then names. */
static int send_ints(const int *buf, int n, int to, int tag, MPI_Comm c, const char *fn)
{
    MPI_Request r;
    int rc = mpix_coll_isend(buf, n, MPI_INT, to, tag, c, &r);
    return rc == MPI_SUCCESS ? mpix_wait(&r, MPI_STATUS_IGNORE, fn) : rc;
}

static int recv_ints(int *buf, int n, int from, int tag, MPI_Comm c, const char *fn)
{
    MPI_Request r;
    int rc = mpix_coll_irecv(buf, n, MPI_INT, from, tag, c, &r);
    return rc == MPI_SUCCESS ? mpix_wait(&r, MPI_STATUS_IGNORE, fn) : rc;
}

/* BUF (N ints) from rank 0 to every member: binomial tree. */
static int bcast_ints(int *buf, int n, MPI_Comm c, const char *fn)
{
    int rank = c->rank, size = c->size, mask = 1, rc = MPI_SUCCESS;

    for (; mask < size; mask <<= 1)
        if (rank & mask) {
            rc = recv_ints(buf, n, rank - mask, TAG_BCAST, c, fn);
            break;
        }
    for (mask >>= 1; mask > 0 && rc == MPI_SUCCESS; mask >>= 1)
        if (rank + mask < size)
            rc = send_ints(buf, n, rank + mask, TAG_BCAST, c, fn);
    return rc;
}

/* The maximum of every member's *V, in *V on every member. */
static int allreduce_max(int *v, MPI_Comm c, const char *fn)
{
    int rank = c->rank, size = c->size, rc = MPI_SUCCESS, other;

    for (int mask = 1; mask < size && rc == MPI_SUCCESS; mask <<= 1) {
        if (rank & mask) {
            rc = send_ints(v, 1, rank - mask, TAG_REDUCE, c, fn);
            break;
        }
        if (rank + mask < size && (rc = recv_ints(&other, 1, rank + mask, TAG_REDUCE, c, fn)) == MPI_SUCCESS &&
            other > *v)
            *v = other;
    }
    return rc == MPI_SUCCESS ? bcast_ints(v, 1, c, fn) : rc;
}

int mpix_comm_agree_context(MPI_Comm parent, uint32_t *context, const char *fn)
{
    int v = (int)next_context;
    int rc = allreduce_max(&v, parent, fn);

    if (rc != MPI_SUCCESS)
        return rc;
    if ((uint32_t)v > UINT32_MAX - 4)
        return mpix_err(parent, MPI_ERR_INTERN, "%s: no context id is left for a new communicator",
                        fn);
    *context = (uint32_t)v;
    next_context = (uint32_t)v + 2;
    return MPI_SUCCESS;
}

int mpix_comm_sync(MPI_Comm c, const char *fn)
{
    int v = 0;
    return allreduce_max(&v, c, fn);
}

/* Binomial gather to rank 0: each rank forwards the block of ranks [rank, rank + have). */
static int gather_ints(int *all, int n, MPI_Comm c, const char *fn)
{
    int rank = c->rank, size = c->size, have = 1, rc = MPI_SUCCESS;

    for (int mask = 1; mask < size && rc == MPI_SUCCESS; mask <<= 1) {
        if (rank & mask)
            return send_ints(all + (size_t)rank * n, have * n, rank - mask, TAG_GATHER, c, fn);
        if (rank + mask < size) {
            int more = rank + 2 * mask <= size ? mask : size - rank - mask;
            rc = recv_ints(all + (size_t)(rank + mask) * n, more * n, rank + mask, TAG_GATHER, c,
                           fn);
            have += more;
        }
    }
    return rc;
}

int mpix_comm_allgather_ints(MPI_Comm parent, const int *mine, int n, int *all, const char *fn)
{
    for (int i = 0; i < n; i++)
        all[(size_t)parent->rank * n + i] = mine[i];
    int rc = gather_ints(all, n, parent, fn);
    return rc == MPI_SUCCESS ? bcast_ints(all, parent->size * n, parent, fn) : rc;
}
