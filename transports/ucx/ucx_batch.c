/* ucx_batch.c - several small messages of one connection in one active message.
 *
 * Over TCP every active message costs a system call and a trip through the kernel's network
 * stack on both sides (perf: most of the service's time at 64 B), and many outstanding small
 * calls pay it once each. So the SENDs that one tx pass brings for the same connection are
 * collected in the engine's open batch, and flushed as one active message (PHX_UCX_AM_BATCH_ID,
 * transport.h: a struct mrpc_wire_batch, then the messages' wire headers as the AM header, and
 * their payloads back to back as the data) when the pass ends, when a SEND for another
 * connection or one too big to batch comes, or when the batch is full. Nothing waits for more
 * traffic: a batch holds only what was already queued, so a lone call goes out as it did before
 * (a batch of one is sent as a plain message).
 *
 * Only messages of at most PHX_UCX_BATCH_MSG_MAX bytes (20 KiB) are batched, at most
 * PHX_UCX_BATCH_BYTES (64 KiB) per batch, and the payloads are gathered into the batch's own
 * buffer: each message is one UCX would send eagerly over TCP anyway (its switch to rendezvous
 * is at 20,553 B there), the batch forces the eager protocol (the receiver refuses a rendezvous
 * batch), and a full batch is one zero-copy fragment over TCP. The copy is cheaper than what it
 * saves: 1-20 KiB messages used to cost a system call and a trip through both kernels' network
 * stacks each (benchmarks/RESULTS.md, "Mid sizes"). The buffers are kept for reuse, at most
 * PHX_UCX_BATCHES_MAX per engine (2 MiB); with all of them in UCX's hands a message goes alone.
 * Each message keeps its send slot (ucx_send.c), so SENT goes up once per message, when UCX
 * completes the batch. */
#include "ucx_engine.h"

#include <stdlib.h>
#include <string.h>

struct phx_ucx_batch {
    struct phx_ucx_engine *s;
    struct phx_ucx_conn   *conn;
    unsigned               count;
    size_t                 bytes;
    struct phx_ucx_send   *slots[MRPC_WIRE_BATCH_MAX];
    struct phx_ucx_batch  *next;        /* on the free list */
    struct phx_ucx_batch  *all_next;    /* every batch, for destroy */
    uint8_t                header[sizeof(struct mrpc_wire_batch) +
                                  MRPC_WIRE_BATCH_MAX * sizeof(struct mrpc_wire_hdr)];
    uint8_t                data[PHX_UCX_BATCH_BYTES];
};

static struct phx_ucx_batch *batch_get(struct phx_ucx_engine *s)
{
    struct phx_ucx_batch *b = s->free_batches;

    if (b) {
        s->free_batches = b->next;
    } else {
        if (s->n_batches >= PHX_UCX_BATCHES_MAX || !(b = malloc(sizeof(*b))))
            return NULL;
        b->all_next = s->all_batches;
        s->all_batches = b;
        s->n_batches++;
    }
    b->s = s;
    b->conn = NULL;
    b->count = 0;
    b->bytes = 0;
    return b;
}

static void batch_put(struct phx_ucx_engine *s, struct phx_ucx_batch *b)
{
    b->next = s->free_batches;
    s->free_batches = b;
}

void phx_ucx_batch_free(struct phx_ucx_engine *s)
{
    for (struct phx_ucx_batch *b = s->all_batches, *next; b; b = next) {
        next = b->all_next;
        free(b);
    }
    s->all_batches = s->free_batches = s->open_batch = NULL;
    s->n_batches = 0;
}

/* UCX is done with B: each message is. */
static void batch_done(struct phx_ucx_batch *b, ucs_status_t status)
{
    for (unsigned i = 0; i < b->count; i++)
        phx_ucx_send_complete(b->slots[i], status);
    batch_put(b->s, b);
}

static void on_batch_sent(void *request, ucs_status_t status, void *user_data)
{
    batch_done(user_data, status);
    ucp_request_free(request);
}

bool phx_ucx_batch_offer(struct phx_ucx_engine *s, struct phx_ucx_send *slot)
{
    const struct mrpc_wire_msg *msg = phx_ucx_send_msg(slot);
    struct phx_ucx_conn *c = phx_ucx_send_conn(slot);
    struct phx_ucx_batch *b = s->open_batch;

    if (!s->batch_max || msg->hdr.payload_len > PHX_UCX_BATCH_MSG_MAX)
        return false;
    if (b && (b->conn != c || b->count == s->batch_max ||
              b->bytes + msg->hdr.payload_len > PHX_UCX_BATCH_BYTES)) {
        phx_ucx_batch_flush(s);
        b = NULL;
    }
    if (!b && !(b = s->open_batch = batch_get(s)))
        return false;
    b->conn = c;
    for (unsigned i = 0; i < msg->n_iov; i++) {
        if (msg->iov[i].len)
            memcpy(b->data + b->bytes, msg->iov[i].base, msg->iov[i].len);
        b->bytes += msg->iov[i].len;
    }
    memcpy(b->header + sizeof(struct mrpc_wire_batch) + b->count * sizeof(struct mrpc_wire_hdr),
           &msg->hdr, sizeof(struct mrpc_wire_hdr));
    b->slots[b->count++] = slot;
    return true;
}

/* Sends B (two messages at least) as one eager active message. */
static void batch_send(struct phx_ucx_engine *s, struct phx_ucx_batch *b)
{
    struct mrpc_wire_batch bh = {.magic = MRPC_WIRE_BATCH_MAGIC, .version = MRPC_WIRE_VERSION,
                                 .count = (uint16_t)b->count};
    ucp_request_param_t p = {
        .op_attr_mask = UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA |
                        UCP_OP_ATTR_FIELD_DATATYPE | UCP_OP_ATTR_FIELD_FLAGS |
                        UCP_OP_ATTR_FIELD_MEMORY_TYPE,
        .flags = UCP_AM_SEND_FLAG_REPLY | UCP_AM_SEND_FLAG_EAGER,
        .cb.send = on_batch_sent,
        .user_data = b,
        .datatype = ucp_dt_make_contig(1),
        .memory_type = UCS_MEMORY_TYPE_HOST,
    };

    if (!b->conn->ep) {
        batch_done(b, UCS_ERR_NOT_CONNECTED);
        return;
    }
    memcpy(b->header, &bh, sizeof(bh));
    s->stats.tx_batches++;
    s->stats.tx_batched += b->count;
    ucs_status_ptr_t r = ucp_am_send_nbx(b->conn->ep, PHX_UCX_AM_BATCH_ID, b->header,
                                         sizeof(bh) + b->count * sizeof(struct mrpc_wire_hdr),
                                         b->data, b->bytes, &p);
    if (r == NULL) {
        batch_done(b, UCS_OK);
    } else if (UCS_PTR_IS_ERR(r)) {
        phx_ucx_credit_refund(b->conn, b->count);
        batch_done(b, UCS_PTR_STATUS(r));
    }
}

void phx_ucx_batch_flush(struct phx_ucx_engine *s)
{
    struct phx_ucx_batch *b = s->open_batch;

    if (!b)
        return;
    s->open_batch = NULL;
    if (b->count == 1) {
        phx_ucx_send_post_one(s, b->slots[0]);
        batch_put(s, b);
    } else {
        batch_send(s, b);
    }
}
