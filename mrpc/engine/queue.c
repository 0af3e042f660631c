/* queue.c - a FIFO of descriptors in a growable ring: the tx queue and the completion backlog.
 *
 * It grows by doubling up to the maximum its owner gives, so its memory follows what is actually
 * held; callers push only after checking for room, or treat a refused push as the bug it is.
 * eng_queue_take() removes one entry from anywhere (a cancelled call's completion), keeping the
 * order of the others. */
#include "mrpc_engine.h"

#include <errno.h>
#include <stdlib.h>

#define QUEUE_MIN_CAP 64u

static int queue_grow(struct eng_queue *q, unsigned max)
{
    unsigned cap = q->cap ? 2 * q->cap : QUEUE_MIN_CAP;

    if (cap > max)
        cap = max;
    if (cap <= q->cap)
        return -ENOSPC;
    phx_desc_t *d = malloc(cap * sizeof(*d));
    if (!d)
        return -ENOMEM;
    for (unsigned i = 0; i < q->count; i++)
        d[i] = q->d[(q->head + i) % q->cap];
    free(q->d);
    q->d = d;
    q->cap = cap;
    q->head = 0;
    return 0;
}

int eng_queue_push(struct eng_queue *q, const phx_desc_t *d, unsigned max)
{
    if (q->count == q->cap) {
        int rc = queue_grow(q, max);
        if (rc)
            return rc;
    }
    q->d[(q->head + q->count) % q->cap] = *d;
    q->count++;
    return 0;
}

const phx_desc_t *eng_queue_peek(const struct eng_queue *q)
{
    return q->count ? &q->d[q->head] : NULL;
}

void eng_queue_drop(struct eng_queue *q, unsigned n)
{
    q->head = (q->head + n) % (q->cap ? q->cap : 1);
    q->count -= n;
}

bool eng_queue_take(struct eng_queue *q, bool (*match)(const phx_desc_t *d, const void *arg),
                    const void *arg, phx_desc_t *out)
{
    for (unsigned i = 0; i < q->count; i++) {
        if (!match(&q->d[(q->head + i) % q->cap], arg))
            continue;
        *out = q->d[(q->head + i) % q->cap];
        for (unsigned k = i; k + 1 < q->count; k++)     /* the later ones move up, in order */
            q->d[(q->head + k) % q->cap] = q->d[(q->head + k + 1) % q->cap];
        q->count--;
        return true;
    }
    return false;
}

void eng_queue_fini(struct eng_queue *q)
{
    free(q->d);
    *q = (struct eng_queue){ 0 };
}
