/* fifo.h - a bounded FIFO of fixed-size items (descriptors, or descriptors with a little context)
 * in a growable ring: MrpcEngine's tx queue and completion backlog, the UCX transport's queues of
 * what waits to go up.
 *
 * The ring starts empty and doubles (64 items first) up to a hard maximum fixed at init, so an
 * idle engine holds little memory and a busy one is bounded. Capacities are powers of two, so
 * index arithmetic is a mask; growing copies the items in order to the front of the new ring.
 * Items are copied in and read in place: phx_fifo_head() points at the oldest, phx_fifo_run()
 * says how many follow it contiguously, so a batch can be pushed to a ring in one call and then
 * dropped. Push, head and drop are inline: they are on every descriptor's path. One owner
 * thread. */
#ifndef PHOENIX_FIFO_H
#define PHOENIX_FIFO_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct phx_fifo {
    unsigned char *items;
    uint32_t       size;        /* bytes per item */
    uint32_t       cap;         /* allocated items, a power of two (0 before the first push) */
    uint32_t       max;         /* never more items than this */
    uint32_t       head;
    uint32_t       count;
} phx_fifo_t;

/* An empty FIFO of items of ITEM_SIZE bytes, holding at most MAX; allocates nothing yet. */
void phx_fifo_init(phx_fifo_t *q, size_t item_size, uint32_t max);
/* Frees the ring; Q is empty (and usable) again. */
void phx_fifo_fini(phx_fifo_t *q);
/* Doubles the ring (the slow path of push). 0 or -ENOMEM. */
int  phx_fifo_grow(phx_fifo_t *q);
/* Removes the oldest item MATCH accepts into OUT (item_size bytes), keeping the order of the
 * others: true, or false when none does. O(count): for rare removals (a cancelled call). */
int  phx_fifo_take(phx_fifo_t *q, int (*match)(const void *item, const void *arg),
                   const void *arg, void *out);

static inline uint32_t phx_fifo_count(const phx_fifo_t *q)
{
    return q->count;
}

/* Appends a copy of ITEM: 0, -ENOBUFS when MAX items wait, -ENOMEM when it could not grow. */
static inline int phx_fifo_push(phx_fifo_t *q, const void *item)
{
    if (q->count >= q->max)
        return -ENOBUFS;
    if (q->count == q->cap && phx_fifo_grow(q) < 0)
        return -ENOMEM;
    memcpy(q->items + (size_t)((q->head + q->count) & (q->cap - 1)) * q->size, item, q->size);
    q->count++;
    return 0;
}

/* The oldest item, NULL when empty. */
static inline void *phx_fifo_head(const phx_fifo_t *q)
{
    return q->count ? q->items + (size_t)q->head * q->size : NULL;
}

/* How many items lie contiguously from the head (the rest wraps to the ring's start). */
static inline uint32_t phx_fifo_run(const phx_fifo_t *q)
{
    uint32_t to_end = q->cap - q->head;

    return q->count < to_end ? q->count : to_end;
}

/* Removes the N oldest items (N <= count). */
static inline void phx_fifo_drop(phx_fifo_t *q, uint32_t n)
{
    if (!n)
        return;
    q->head = (q->head + n) & (q->cap - 1);
    q->count -= n;
}

#endif /* PHOENIX_FIFO_H */
