/* deadlines.c - outgoing calls ordered by deadline: a binary min-heap.
 *
 * Each call knows its index in the heap, so a call that completes leaves it in O(log n) and the
 * progress loop finds the next deadline at the top. Thousands of calls may be in flight, so
 * neither a scan per progress nor a sorted list would do. */
#include "mrpc_lib.h"

#include <errno.h>
#include <stdlib.h>

static void place(struct lib_deadlines *d, size_t i, struct lib_call *c)
{
    d->h[i] = c;
    c->heap_index = i;
}

static void sift_up(struct lib_deadlines *d, size_t i)
{
    struct lib_call *c = d->h[i];

    while (i > 0 && d->h[(i - 1) / 2]->deadline_ns > c->deadline_ns) {
        place(d, i, d->h[(i - 1) / 2]);
        i = (i - 1) / 2;
    }
    place(d, i, c);
}

static void sift_down(struct lib_deadlines *d, size_t i)
{
    struct lib_call *c = d->h[i];

    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= d->n)
            break;
        if (child + 1 < d->n && d->h[child + 1]->deadline_ns < d->h[child]->deadline_ns)
            child++;
        if (d->h[child]->deadline_ns >= c->deadline_ns)
            break;
        place(d, i, d->h[child]);
        i = child;
    }
    place(d, i, c);
}

int lib_deadlines_push(struct lib_deadlines *d, struct lib_call *c)
{
    if (d->n == d->cap) {
        size_t cap = d->cap ? 2 * d->cap : 64;
        struct lib_call **h = realloc(d->h, cap * sizeof(*h));
        if (!h)
            return -ENOMEM;
        d->h = h;
        d->cap = cap;
    }
    place(d, d->n++, c);
    sift_up(d, d->n - 1);
    return 0;
}

void lib_deadlines_remove(struct lib_deadlines *d, struct lib_call *c)
{
    size_t i = c->heap_index;

    if (i >= d->n || d->h[i] != c)
        return;
    struct lib_call *last = d->h[--d->n];
    if (last == c)
        return;
    place(d, i, last);
    sift_up(d, i);
    sift_down(d, last->heap_index);
}

struct lib_call *lib_deadlines_top(const struct lib_deadlines *d)
{
    return d->n ? d->h[0] : NULL;
}

void lib_deadlines_fini(struct lib_deadlines *d)
{
    free(d->h);
    *d = (struct lib_deadlines){ 0 };
}
