/* fifo.c - bounded, growable FIFO of fixed-size items (see fifo.h).
 *
 * A ring of `cap` items; growing allocates twice the items and copies the entries in order to
 * the front of the new ring, so index arithmetic stays a mask. The maximum bounds the count, not
 * the allocation: the ring is the power of two at or above what it has had to hold. */
#include "phoenix/fifo.h"

#include <stdlib.h>

#define FIFO_FIRST_CAP 64u

void phx_fifo_init(phx_fifo_t *q, size_t item_size, uint32_t max)
{
    *q = (phx_fifo_t){ .size = (uint32_t)item_size, .max = max };
}

void phx_fifo_fini(phx_fifo_t *q)
{
    free(q->items);
    *q = (phx_fifo_t){ .size = q->size, .max = q->max };
}

int phx_fifo_grow(phx_fifo_t *q)
{
    uint32_t cap = q->cap ? 2 * q->cap : FIFO_FIRST_CAP;
    unsigned char *items = cap > q->cap ? malloc((size_t)cap * q->size) : NULL;

    if (!items)
        return -ENOMEM;
    for (uint32_t i = 0; i < q->count; i++)
        memcpy(items + (size_t)i * q->size,
               q->items + (size_t)((q->head + i) & (q->cap - 1)) * q->size, q->size);
    free(q->items);
    q->items = items;
    q->cap = cap;
    q->head = 0;
    return 0;
}

int phx_fifo_take(phx_fifo_t *q, int (*match)(const void *item, const void *arg),
                  const void *arg, void *out)
{
    for (uint32_t i = 0; i < q->count; i++) {
        unsigned char *at = q->items + (size_t)((q->head + i) & (q->cap - 1)) * q->size;
        if (!match(at, arg))
            continue;
        memcpy(out, at, q->size);
        for (uint32_t k = i; k + 1 < q->count; k++)     /* the later ones move up, in order */
            memcpy(q->items + (size_t)((q->head + k) & (q->cap - 1)) * q->size,
                   q->items + (size_t)((q->head + k + 1) & (q->cap - 1)) * q->size, q->size);
        q->count--;
        return 1;
    }
    return 0;
}
