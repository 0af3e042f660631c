/* ucx_upq.c - bounded, growable FIFO of descriptors on their way up (see ucx_upq.h).
 *
 * A ring of `cap` slots; growing allocates twice the slots and copies the entries in order to
 * the front of the new ring, so index arithmetic stays a mask. */
#include "ucx_upq.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define UPQ_FIRST_CAP 64u

void phx_ucx_upq_init(struct phx_ucx_upq *q, unsigned max)
{
    memset(q, 0, sizeof(*q));
    q->max = max;
}

void phx_ucx_upq_fini(struct phx_ucx_upq *q)
{
    free(q->items);
    memset(q, 0, sizeof(*q));
}

static int grow(struct phx_ucx_upq *q)
{
    unsigned cap = q->cap ? 2 * q->cap : UPQ_FIRST_CAP;
    struct phx_ucx_up *items = malloc(cap * sizeof(*items));

    if (!items)
        return -ENOMEM;
    for (unsigned i = 0; i < q->count; i++)
        items[i] = q->items[(q->head + i) & (q->cap - 1)];
    free(q->items);
    q->items = items;
    q->cap = cap;
    q->head = 0;
    return 0;
}

int phx_ucx_upq_push(struct phx_ucx_upq *q, const struct phx_ucx_up *u)
{
    if (q->count >= q->max)
        return -ENOBUFS;
    if (q->count == q->cap && grow(q) < 0)
        return -ENOMEM;
    q->items[(q->head + q->count) & (q->cap - 1)] = *u;
    q->count++;
    return 0;
}

struct phx_ucx_up *phx_ucx_upq_head(struct phx_ucx_upq *q)
{
    return q->count ? &q->items[q->head] : NULL;
}

void phx_ucx_upq_pop(struct phx_ucx_upq *q)
{
    if (!q->count)
        return;
    q->head = (q->head + 1) & (q->cap - 1);
    q->count--;
}
