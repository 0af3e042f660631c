/* channel.c - the bounded rings of descriptors that join one engine's out port to another's in
 * port (graph.h), and the channel calls engines make (engine.h).
 *
 * A channel is a phx_ring_t of phx_desc_t slots in private, cache-line-aligned memory of the
 * service. It has no doorbell: both ends belong to engines of one group, which a single runtime
 * thread progresses, so a descriptor pushed in one turn is seen in the same or the next turn
 * without any wake-up. Channels are owned by the subscription, not by the engines, which is what
 * lets splice and live upgrade rewire or swap engines while descriptors stay queued.
 *
 * Rings have power-of-two capacities; a requested capacity is rounded up. Growing a channel means
 * merging it into a bigger new one (phx_channel_merge), which keeps the order of its contents. */
#include "graph.h"
#include "phoenix/minmax.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Service-wide, never reused: lets tests and `phoenixctl list` tell a moved channel from a new one. */
static uint64_t next_channel_id = 1;

static uint32_t round_up_pow2(uint32_t n)
{
    uint32_t p = 1;

    while (p < n)
        p <<= 1;
    return p;
}

/* The ring geometry for CAPACITY requested slots, or 0 when it cannot be built. */
static uint32_t ring_capacity_for(unsigned capacity)
{
    if (capacity == 0)
        capacity = PHX_CHANNEL_DEFAULT_CAP;
    if (capacity > PHX_RING_MAX_CAPACITY)
        return 0;
    return round_up_pow2(capacity);
}

phx_channel_t *phx_channel_create(phx_dir_t dir, unsigned capacity)
{
    uint32_t cap = ring_capacity_for(capacity);
    size_t len = phx_ring_mem_size(sizeof(phx_desc_t), cap);

    if (!cap || !len || (dir != PHX_TX && dir != PHX_RX)) {
        errno = EINVAL;
        return NULL;
    }
    phx_channel_t *c = calloc(1, sizeof(*c));
    /* aligned_alloc wants a multiple of the alignment: ring sizes are (64-byte lines and slots). */
    void *mem = aligned_alloc(PHX_RING_ALIGN, len);
    if (!c || !mem) {
        free(c);
        free(mem);
        errno = ENOMEM;
        return NULL;
    }
    if (phx_ring_format(mem, len, sizeof(phx_desc_t), cap) ||
        phx_ring_attach(&c->ring, mem, len, -1)) {
        free(c);
        free(mem);
        errno = EINVAL;
        return NULL;
    }
    c->mem = mem;
    c->dir = dir;
    c->id = __atomic_fetch_add(&next_channel_id, 1, __ATOMIC_RELAXED);
    return c;
}

void phx_channel_destroy(phx_channel_t *c)
{
    if (!c)
        return;
    free(c->mem);
    free(c);
}

phx_channel_t *phx_channel_merge(phx_channel_t *first, phx_channel_t *second,
                                 unsigned min_capacity)
{
    unsigned held = phx_chan_count(first) + phx_chan_count(second);
    phx_dir_t dir = first ? first->dir : second ? second->dir : PHX_TX;
    phx_channel_t *merged;

    /* Allocate before moving anything, so that a failure leaves both inputs as they were. */
    merged = phx_channel_create(dir, held > min_capacity ? held : min_capacity);
    if (!merged)
        return NULL;
    phx_chan_forward(first, merged, held);
    phx_chan_forward(second, merged, held);
    return merged;
}

/* Moves C away from wherever it was plugged before, so that one channel is never on two ports. */
static void unplug(phx_channel_t *c)
{
    if (c->producer && c->producer->out[c->dir][c->producer_port] == c)
        c->producer->out[c->dir][c->producer_port] = NULL;
    if (c->consumer && c->consumer->in[c->dir][c->consumer_port] == c)
        c->consumer->in[c->dir][c->consumer_port] = NULL;
}

void phx_channel_connect(phx_channel_t *c, phx_engine_t *producer, unsigned out_port,
                         phx_engine_t *consumer, unsigned in_port)
{
    unplug(c);
    c->producer = producer;
    c->producer_port = out_port;
    c->consumer = consumer;
    c->consumer_port = in_port;
    if (producer)
        producer->out[c->dir][out_port] = c;
    if (consumer)
        consumer->in[c->dir][in_port] = c;
}
