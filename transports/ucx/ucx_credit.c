/* ucx_credit.c - flow control per connection: credits, so that a slow app slows its senders.
 *
 * Why. The engines of a runtime thread share one worker (ucx_worker.c), and UCX 1.13 runs every
 * endpoint's active-message callbacks whenever anyone progresses the worker: it cannot hold back
 * one endpoint while the others go on. So a receiver that is slow to hand messages up cannot
 * leave them in the network's own flow control; without a bound of its own, what a fast sender
 * sends would pile up, or be dropped. The bound is the sender's: it may have at most
 * MRPC_WIRE_WINDOW messages on a connection that the receiver has not consumed yet.
 *
 * How. Each connection starts with MRPC_WIRE_WINDOW credits; every message sent, alone or in a
 * batch, spends one (ucx_send.c waits, as back-pressure towards MrpcEngine, when none is left).
 * The receiver counts each message of the connection it consumed: pushed up as RECEIVED, or
 * dropped (malformed, a bound or the heap refused it, its rendezvous data failed); a send that
 * fails before it reaches the wire gets its credit back on the sender. Once
 * PHX_UCX_GRANT_MIN are counted it sends them back as one grant, an active message of its own
 * (PHX_UCX_AM_CREDIT_ID, struct mrpc_wire_credit, no data), from progress() rather than from a
 * callback (on a loopback pair with the same-node path, ucx_local.c, a store into the twin
 * connection instead). One grant per connection is in flight at a time; its header lives in the connection
 * until UCX completes it. Fewer than PHX_UCX_GRANT_MIN ungranted can never stall a sender: it
 * still holds at least MRPC_WIRE_WINDOW - PHX_UCX_GRANT_MIN credits.
 *
 * A grant is untrusted like every frame: one that is malformed or would lift the sender above
 * MRPC_WIRE_WINDOW is counted as malformed and ignored. A peer whose frames carry a wire version
 * older than MRPC_WIRE_CREDIT_VERSION grants nothing: its connection is not limited from then on,
 * and gets no grants (it has no handler for them). */
#include "ucx_engine.h"

#include "phoenix/log.h"

#include <string.h>

void phx_ucx_credit_init(struct phx_ucx_conn *c)
{
    c->credits = MRPC_WIRE_WINDOW;
    c->ungranted = 0;
    c->credit_free = false;
    c->grant_due = c->granting = false;
}

bool phx_ucx_credit_available(const struct phx_ucx_conn *c)
{
    return c->credits || c->credit_free;
}

void phx_ucx_credit_spend(struct phx_ucx_conn *c)
{
    if (c->credits)
        c->credits--;
}

void phx_ucx_credit_refund(struct phx_ucx_conn *c, unsigned n)
{
    c->credits = c->credits + n > MRPC_WIRE_WINDOW ? MRPC_WIRE_WINDOW : c->credits + n;
}

void phx_ucx_credit_heard(struct phx_ucx_conn *c, unsigned version)
{
    if (version < MRPC_WIRE_CREDIT_VERSION && !c->credit_free) {
        phx_info("ucx: connection %u: the peer speaks wire version %u, without flow control",
                 c->id, version);
        c->credit_free = true;
    }
}

static void mark_due(struct phx_ucx_conn *c)
{
    if (!c->grant_due && !c->granting && c->ungranted >= PHX_UCX_GRANT_MIN && !c->credit_free) {
        c->grant_due = true;
        c->s->grants_due++;
    }
}

void phx_ucx_credit_consumed(struct phx_ucx_conn *c)
{
    c->ungranted++;
    mark_due(c);
}

static void on_grant_sent(void *request, ucs_status_t status, void *user_data)
{
    struct phx_ucx_conn *c = user_data;

    (void)status;       /* a grant lost with its endpoint needs no answer */
    c->granting = false;
    c->ucx_ops--;
    mark_due(c);
    ucp_request_free(request);
}

/* Sends C's ungranted count back as one grant. */
static void grant(struct phx_ucx_engine *s, struct phx_ucx_conn *c)
{
    ucp_request_param_t p = {
        .op_attr_mask = UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA |
                        UCP_OP_ATTR_FIELD_FLAGS,
        .flags = UCP_AM_SEND_FLAG_REPLY | UCP_AM_SEND_FLAG_EAGER,
        .cb.send = on_grant_sent,
        .user_data = c,
    };
    unsigned n = c->ungranted > MRPC_WIRE_WINDOW ? MRPC_WIRE_WINDOW : c->ungranted;
    struct phx_ucx_conn *t = phx_ucx_local_twin(c);

    if (t) {                /* the same-node path: the twin is ours to credit (ucx_local.c) */
        phx_ucx_local_grant(c, t, n);
        mark_due(c);
        return;
    }
    if (c->xlinked) {       /* ... across runtime threads: a count in the pair (ucx_xlocal.c) */
        phx_ucx_xlocal_grant(c, n);
        mark_due(c);
        return;
    }

    c->grant_hdr = (struct mrpc_wire_credit){.magic = MRPC_WIRE_CREDIT_MAGIC,
                                             .version = MRPC_WIRE_VERSION, .grant = n};
    c->ungranted -= n;
    ucs_status_ptr_t r = ucp_am_send_nbx(c->ep, PHX_UCX_AM_CREDIT_ID, &c->grant_hdr,
                                         sizeof(c->grant_hdr), NULL, 0, &p);
    if (UCS_PTR_IS_PTR(r)) {
        c->granting = true;
        c->ucx_ops++;
    }
    if (!UCS_PTR_IS_ERR(r)) {
        s->stats.tx_grants++;
        s->stats.granted += n;
    }
    mark_due(c);        /* more than a window was counted: the rest goes next */
}

unsigned phx_ucx_credit_grant_due(struct phx_ucx_engine *s)
{
    unsigned sent = 0;

    for (struct phx_ucx_conn *c = s->conns; c && s->grants_due; c = c->next) {
        if (!c->grant_due)
            continue;
        c->grant_due = false;
        s->grants_due--;
        if (c->ep && c->state == PHX_UCX_UP) {
            grant(s, c);
            sent++;
        }
    }
    return sent;
}

void phx_ucx_credit_forget(struct phx_ucx_conn *c)
{
    if (c->grant_due) {
        c->grant_due = false;
        c->s->grants_due--;
    }
}

/* The credits a grant frame gives C, or 0 when it is malformed (UCX promises no alignment of
 * HEADER: copied out). */
static unsigned grant_of(const struct phx_ucx_conn *c, const void *header, size_t header_length,
                         size_t length, const ucp_am_recv_param_t *param)
{
    struct mrpc_wire_credit g;

    if (!header || header_length != sizeof(g) || length ||
        (param->recv_attr & UCP_AM_RECV_ATTR_FLAG_RNDV))
        return 0;
    memcpy(&g, header, sizeof(g));
    bool ok = g.magic == MRPC_WIRE_CREDIT_MAGIC && g.version >= MRPC_WIRE_CREDIT_VERSION &&
              g.version <= MRPC_WIRE_VERSION && !g.reserved && !g.reserved2 &&
              g.grant <= MRPC_WIRE_WINDOW - c->credits;
    return ok ? g.grant : 0;
}

ucs_status_t phx_ucx_am_credit_recv(void *arg, const void *header, size_t header_length,
                                    void *data, size_t length, const ucp_am_recv_param_t *param)
{
    struct phx_ucx_conn *c = phx_ucx_worker_conn_of(arg, param);
    unsigned n;

    (void)data;
    if (!c || c->s->closing)
        return UCS_OK;
    if (!(n = grant_of(c, header, header_length, length, param))) {
        c->s->stats.malformed++;
        return UCS_OK;
    }
    c->credits += n;
    c->s->stats.rx_grants++;
    return UCS_OK;
}
