/* ucx_upq.h - a bounded FIFO of descriptors waiting to go up the engine's rx channel.
 *
 * UCX reports everything (connections accepted, messages landed, failures) from callbacks run
 * inside ucp_worker_progress(), when the rx channel may be full. What they produce waits here
 * until progress() can push it. Each entry remembers the connection it keeps alive and the
 * in-flight receive bytes to give back once it is pushed. The queue grows by doubling up to a
 * hard maximum fixed at init, so an idle engine holds little memory and a busy one is bounded. */
#ifndef PHX_UCX_UPQ_H
#define PHX_UCX_UPQ_H

#include "phoenix/desc.h"

#include <stdint.h>

struct phx_ucx_conn;

struct phx_ucx_up {
    phx_desc_t           desc;
    struct phx_ucx_conn *conn;      /* NULL, or the connection whose `queued` count it holds */
    uint64_t             charge;    /* in-flight receive bytes released when it is pushed */
};

struct phx_ucx_upq {
    struct phx_ucx_up *items;
    unsigned           cap;         /* allocated slots, a power of two */
    unsigned           max;         /* never more entries than this */
    unsigned           head;
    unsigned           count;
};

void phx_ucx_upq_init(struct phx_ucx_upq *q, unsigned max);
void phx_ucx_upq_fini(struct phx_ucx_upq *q);
/* Appends a copy of U: 0, -ENOBUFS when MAX entries wait, -ENOMEM when it could not grow. */
int  phx_ucx_upq_push(struct phx_ucx_upq *q, const struct phx_ucx_up *u);
/* The oldest entry (NULL when empty) and its removal. */
struct phx_ucx_up *phx_ucx_upq_head(struct phx_ucx_upq *q);
void phx_ucx_upq_pop(struct phx_ucx_upq *q);

static inline unsigned phx_ucx_upq_count(const struct phx_ucx_upq *q)
{
    return q->count;
}

#endif /* PHX_UCX_UPQ_H */
