/* ucx_local.c - the same-node path: a message between two apps of this service goes from the
 * sender's send heap straight into the receiver's receive heap, without UCX.
 *
 * When. Two apps whose engines share a worker (the apps of one runtime thread, ucx_worker.c) are
 * connected by a loopback pair of endpoints: the client claims its handshake directly
 * (ucx_claim.c) and each connection knows its twin's endpoint (apps of different runtime
 * threads: ucx_xlocal.c). With settings.ucx.same_node on
 * for both engines (the default), a SEND on such a connection is not handed to UCX: the sender's
 * engine lands it in the receiver's engine itself, under the worker's lock that both share.
 * Apps of other services, and every connection with the setting off at either end, go through
 * UCX as before.
 *
 * What stays the same. The message has passed the sender's chain (MrpcEngine, then the policies
 * spliced on its tx) exactly as before, and lands through the receiver's own receive path
 * (phx_ucx_recv_local, ucx_recv.c): the frame checks, the in-flight budget and the landed bound,
 * a block of the receiver's receive heap, RECEIVED queued for the receiver's engine to push up
 * its own chain (the server's policies on rx, then MrpcEngine, which checks the payload where it
 * landed: the copy, not the sender's heap, which its app may still be writing). Credits work as
 * on the wire: the sender spends one per message and waits without; the receiver grants them
 * back once it consumed the messages, only the grant is a store into the twin connection instead
 * of an active message. A twin that closes or fails tells us as before (ucx_conn.c,
 * tell_twin): our connection is lost, its waiting sends come back UNAVAILABLE, CONN_LOST follows.
 *
 * Waiting. A message that finds no room at the receiver (its heap, in-flight budget or landed
 * bound) waits at the head of its connection's wait list, as one out of credits (ucx_send.c):
 * its data stays in the sender's heap, and the sender's slots and tx wait, the back-pressure of a
 * parked rendezvous frame on the wire. It is tried again once the receiver did something (pushed
 * messages up, freed blocks); once the receiver's heap has freed nothing for
 * PHX_UCX_PARK_STALL_MS while it waited, it is refused as a stalled parked frame is: DROPPED on
 * the receiver's side (its call fails, "release received messages"), SENT OK on ours. */
#include "ucx_engine.h"

#include "phoenix/status.h"

#include <errno.h>

struct phx_ucx_conn *phx_ucx_local_twin(const struct phx_ucx_conn *c)
{
    struct phx_ucx_conn *t;

    if (!c->twin_ep || !c->ep || !c->s->wcfg.same_node)
        return NULL;
    t = phx_u64map_get_ptr(&c->s->w->by_ep, c->twin_ep);
    if (!t || t->twin_ep != (uint64_t)(uintptr_t)c->ep || !t->s->wcfg.same_node)
        return NULL;
    return t;
}

/* What S's engine has done that may make room: blocks freed, messages pushed up or refused,
 * an upgrade's drain over. */
uint64_t phx_ucx_local_stamp(struct phx_ucx_engine *s)
{
    const struct phx_ucx_stats *st = &s->stats;

    return phx_ucx_recv_heap_frees(s) + st->rx_msgs + st->rejected_heap +
           st->rejected_inflight + !s->draining;
}

int phx_ucx_local_send(struct phx_ucx_conn *c, struct phx_ucx_conn *t,
                       const struct mrpc_wire_msg *msg)
{
    int rc = phx_ucx_recv_local(&c->lwait, t, msg);

    if (rc == -EAGAIN) {                /* tried again once T did something (local_ready) */
        c->local_stamp = phx_ucx_local_stamp(t->s);
        c->s->stats.local_waits++;
        return rc;
    }
    if (rc != PHX_UNAVAILABLE) {        /* it reached T, which grants the credit back */
        phx_ucx_credit_spend(c);
        c->s->stats.tx_local++;
    }
    return rc;
}

bool phx_ucx_local_ready(const struct phx_ucx_conn *c)
{
    if (c->xpair)               /* across threads only a full ring waits here (ucx_xlocal.c) */
        return phx_ucx_xlocal_room(c);
    struct phx_ucx_conn *t = phx_ucx_local_twin(c);
    if (!t)
        return true;            /* gone, or the path is off: the send goes its way */
    if (phx_ucx_local_stamp(t->s) != c->local_stamp)
        return true;
    return c->lwait.still_ns &&
           phx_now_ns() - c->lwait.still_ns >= PHX_UCX_PARK_STALL_MS * 1000000ull;
}

int phx_ucx_local_timeout_ms(const struct phx_ucx_engine *s)
{
    uint64_t now = phx_now_ns(), due = UINT64_MAX;

    for (const struct phx_ucx_conn *c = s->conns; c && s->waiting; c = c->next)
        if (c->wait_head && c->lwait.still_ns &&
            c->lwait.still_ns + PHX_UCX_PARK_STALL_MS * 1000000ull < due)
            due = c->lwait.still_ns + PHX_UCX_PARK_STALL_MS * 1000000ull;
    if (due == UINT64_MAX)
        return -1;
    return due <= now ? 0 : (int)((due - now + 999999) / 1000000);
}

void phx_ucx_local_grant(struct phx_ucx_conn *c, struct phx_ucx_conn *t, unsigned n)
{
    unsigned room = MRPC_WIRE_WINDOW - (t->credits < MRPC_WIRE_WINDOW ? t->credits
                                                                      : MRPC_WIRE_WINDOW);

    c->ungranted -= n;
    t->credits += n < room ? n : room;
    c->s->stats.tx_grants++;
    c->s->stats.granted += n;
    t->s->stats.rx_grants++;
}
