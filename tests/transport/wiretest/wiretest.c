/* wiretest.c - test plugin "wiretest": WireTestEngine, a stand-in for MrpcEngine in front of a
 * transport, and the "wiretest" service = [WireTestEngine, UcxRpcAdapterEngine].
 *
 * It speaks mrpc/transport.h on tx out 0 / rx in 0 and is scripted through admin requests:
 *
 *   bind ID HOST:PORT          queue a BIND (the address string lives until BOUND)
 *   connect ID HOST:PORT       queue a CONNECT (until CONNECTED)
 *   close ID                   queue a CLOSE
 *   send CONN COUNT MAX TAG    queue COUNT SENDs on CONN: message i has call_id i, service_id
 *                              TAG, the size wp_size(i, MAX) and wire_pattern.h's payload, cut
 *                              into 0..3 iov pieces; messages are built as tx has room
 *   sendfix CONN COUNT SIZE TAG    the same with every message of SIZE bytes
 *   send1 CONN SIZE TAG CALL   one SEND of SIZE bytes with call id CALL
 *   sendcut CONN SIZE PIECES TAG CALL   the same, cut into PIECES even iov pieces
 *   send_bad CONN              one SEND whose payload_len lies about its iov
 *   expect TAG COUNT           RECEIVED messages of stream TAG must be call ids 0..COUNT-1, each
 *                              once (at most 4 streams)
 *   hold N                     keep the next RECEIVED buffers, N at most, instead of freeing
 *                              them (an app that does not release); hold 0 frees them
 *   stats                      every counter below, as JSON
 *
 * Everything coming up rx is recorded: BOUND/CONNECTED/ACCEPTED/CONN_LOST with their status and
 * ids, SENT by status (the message is freed), RECEIVED checked against the app port's receive
 * heap (inside it, the size the header announced, the pattern byte for byte, the stream's
 * bitmap) and then freed there as MrpcEngine would, and the transport's seq numbering. Ordering
 * rules of the contract are checked too: a RECEIVED on a connection never announced
 * (ACCEPTED/CONNECTED OK), or after its CONN_LOST, is counted. A CONN_LOST also ends the streams
 * still being built for that connection, as MrpcEngine would fail its calls. DROPPED (a message
 * the receive heap had no room for) is counted with its status. `last_rx_ns` is the
 * CLOCK_MONOTONIC time of the last RECEIVED, for wake-up latency tests, and `lost_ns` that of the
 * last CONN_LOST, for failure-detection tests. */
#include "../wire_pattern.h"
#include "mrpc/transport.h"
#include "phoenix/app_port.h"
#include "phoenix/engine.h"
#include "phoenix/status.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define WT_CTL_MAX      64
#define WT_STREAMS      4
#define WT_CONNS        64
#define WT_HOLD_MAX     64
#define WT_BATCH        256

struct wt_msg {
    struct mrpc_wire_msg wire;
    struct mrpc_iov      iov[3];
    struct mrpc_iov     *many;          /* sendcut's pieces, or NULL */
};

struct wt_stream {              /* sends still to build */
    uint32_t conn;
    uint64_t count, next;
    size_t   max;
    size_t   size;              /* every message's size, or SIZE_MAX: wp_size(i, max) */
    uint32_t tag;
    unsigned pieces;            /* cut evenly into this many (sendcut), or 0: cut() */
};

struct wt_expect {
    uint32_t  tag;
    uint64_t  count;
    uint8_t  *seen;             /* bitmap */
};

struct wt_conn {
    uint32_t id;
    bool     lost;
};

struct wt_counters {
    long long bound, bound_status, bound_port, connected, connected_status, connected_conn;
    long long connected_ok;     /* CONNECTED answers with OK */
    long long accepted, accepted_conn, accepted_binding, conn_lost, lost_conn, lost_status;
    long long pushed, tx_full, sent_ok, sent_err, last_err_status, outstanding_peak;
    long long received, rx_bytes, verify_errors, duplicates, unexpected, outside_heap;
    long long seq_errors, unannounced, after_lost, other, last_rx_ns, lost_ns;
    long long dropped, dropped_status, held;
};

struct wiretest {
    phx_engine_t      *e;
    phx_desc_t         ctl[WT_CTL_MAX];
    unsigned           ctl_head, ctl_count;
    struct wt_stream   streams[WT_STREAMS];
    struct wt_expect   expects[WT_STREAMS];
    struct wt_conn     conns[WT_CONNS];
    unsigned           n_conns;
    uint64_t           rx_seq;
    unsigned           hold;            /* RECEIVED buffers to keep, not free ("hold N") */
    void              *held[WT_HOLD_MAX];
    struct wt_counters c;
};

/* ---- building SENDs ---------------------------------------------------------------------- */

/* Cuts message I's SIZE bytes at P into 0 (only when empty) to 3 iov pieces: even ones, or, for
 * every other 3-piece message, a short head, a long middle and a short tail (the shape that a
 * transport may send as one contiguous piece with the rest in its header). */
static void cut(struct wt_msg *m, uint64_t i, unsigned char *p, size_t size)
{
    unsigned pieces = size == 0 && i % 2 ? 0 : 1 + (unsigned)(i % 3);
    bool uneven = pieces == 3 && i % 2;
    size_t start = 0;

    for (unsigned k = 0; k < pieces; k++) {
        size_t end = size * (k + 1) / pieces;
        if (uneven && k < 2) {
            size_t edge = k == 0 ? 1 + i % 200 : 1 + i % 100;
            end = edge > size / 3 ? end : k == 0 ? edge : size - edge;
        }
        m->iov[k] = (struct mrpc_iov){.base = p + start, .len = end - start};
        start = end;
    }
    m->wire.n_iov = pieces;
    m->wire.iov = pieces ? m->iov : NULL;
}

static void msg_free(struct wt_msg *m)
{
    free(m->wire.owner);
    free(m->many);
    free(m);
}

/* Cuts SIZE bytes at P into PIECES even pieces (some empty when SIZE < PIECES); -1: no memory. */
static int cut_even(struct wt_msg *m, unsigned char *p, size_t size, unsigned pieces)
{
    if (!(m->many = calloc(pieces, sizeof(*m->many))))
        return -1;
    for (unsigned k = 0; k < pieces; k++) {
        size_t start = size * k / pieces, end = size * (k + 1) / pieces;
        m->many[k] = (struct mrpc_iov){.base = p + start, .len = end - start};
    }
    m->wire.n_iov = pieces;
    m->wire.iov = m->many;
    return 0;
}

/* Message I of stream S; NULL when out of memory. */
static struct wt_msg *build(const struct wt_stream *s, uint64_t i)
{
    size_t size = s->size == SIZE_MAX ? wp_size(i, s->max) : s->size;
    struct wt_msg *m = calloc(1, sizeof(*m));
    unsigned char *payload = malloc(size ? size : 1);

    if (!m || !payload) {
        free(m);
        free(payload);
        return NULL;
    }
    wp_fill(payload, size, s->tag, i);
    m->wire.hdr = (struct mrpc_wire_hdr){
        .magic = MRPC_WIRE_MAGIC, .version = MRPC_WIRE_VERSION, .kind = MRPC_WIRE_CALL,
        .format = MRPC_FORMAT_NATIVE, .service_id = s->tag, .method_id = 7, .call_id = i,
        .type_hash = size, .payload_len = size};
    m->wire.owner = payload;
    if (!s->pieces)
        cut(m, i, payload, size);
    else if (cut_even(m, payload, size, s->pieces) < 0) {
        msg_free(m);
        return NULL;
    }
    return m;
}

static phx_desc_t send_desc(uint32_t conn, struct wt_msg *m)
{
    return (phx_desc_t){.kind = MRPC_DESC_SEND, .conn_id = conn,
                        .call_id = m->wire.hdr.call_id, .addr = (uint64_t)(uintptr_t)m,
                        .len = sizeof(*m), .user = 0xabcdef};
}

static unsigned push_stream(struct wiretest *w, phx_channel_t *out, struct wt_stream *s)
{
    unsigned n = 0;

    while (s->next < s->count && n < WT_BATCH) {
        if (!phx_chan_space(out)) {
            w->c.tx_full++;
            break;
        }
        struct wt_msg *m = build(s, s->next);
        if (!m)
            break;
        phx_desc_t d = send_desc(s->conn, m);
        phx_chan_push(out, &d, 1);
        s->next++;
        w->c.pushed++;
        n++;
    }
    long long outstanding = w->c.pushed - w->c.sent_ok - w->c.sent_err;
    if (outstanding > w->c.outstanding_peak)
        w->c.outstanding_peak = outstanding;
    return n;
}

static unsigned push_tx(struct wiretest *w)
{
    phx_channel_t *out = phx_engine_out(w->e, PHX_TX, 0);
    unsigned n = 0;

    if (!out)
        return 0;
    while (w->ctl_count && phx_chan_push(out, &w->ctl[w->ctl_head], 1) == 1) {
        w->ctl_head = (w->ctl_head + 1) % WT_CTL_MAX;
        w->ctl_count--;
        n++;
    }
    for (unsigned i = 0; i < WT_STREAMS && !w->ctl_count; i++)
        n += push_stream(w, out, &w->streams[i]);
    return n;
}

/* ---- what comes up ----------------------------------------------------------------------- */

static struct wt_conn *conn_of(struct wiretest *w, uint32_t id)
{
    for (unsigned i = 0; i < w->n_conns; i++)
        if (w->conns[i].id == id)
            return &w->conns[i];
    return NULL;
}

static void announce(struct wiretest *w, uint32_t id)
{
    struct wt_conn *c = conn_of(w, id);

    if (!c && w->n_conns < WT_CONNS)
        c = &w->conns[w->n_conns++];
    if (c)
        *c = (struct wt_conn){.id = id};
}

static struct wt_expect *expect_of(struct wiretest *w, uint32_t tag)
{
    for (unsigned i = 0; i < WT_STREAMS; i++)
        if (w->expects[i].seen && w->expects[i].tag == tag)
            return &w->expects[i];
    return NULL;
}

/* Marks call CALL of TAG seen; false for a duplicate or a call nobody expects. */
static bool mark_seen(struct wiretest *w, uint32_t tag, uint64_t call)
{
    struct wt_expect *x = expect_of(w, tag);

    if (!x || call >= x->count) {
        w->c.unexpected++;
        return false;
    }
    if (x->seen[call / 8] & (1u << (call % 8))) {
        w->c.duplicates++;
        return false;
    }
    x->seen[call / 8] |= (uint8_t)(1u << (call % 8));
    return true;
}

static long long mono_ns(void)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return now.tv_sec * 1000000000ll + now.tv_nsec;
}

static void on_received(struct wiretest *w, const phx_desc_t *d)
{
    phx_app_port_t *port = phx_engine_app_port(w->e);
    const void *p = (const void *)(uintptr_t)d->addr;
    struct wt_conn *c = conn_of(w, d->conn_id);

    w->c.last_rx_ns = mono_ns();
    w->c.received++;
    w->c.rx_bytes += (long long)d->len;
    if (!c)
        w->c.unannounced++;
    else if (c->lost)
        w->c.after_lost++;
    if (!port || !phx_shm_region_contains(phx_app_port_recv_region(port), p,
                                          d->len ? d->len : 1)) {
        w->c.outside_heap++;
        return;
    }
    if (d->flags != (MRPC_WIRE_CALL | MRPC_FORMAT_NATIVE << 8) || d->type_hash != d->len ||
        d->method_id != 7 || !wp_check(p, d->len, d->service_id, d->call_id))
        w->c.verify_errors++;
    mark_seen(w, d->service_id, d->call_id);
    if (w->c.held < w->hold)
        w->held[w->c.held++] = (void *)p;   /* an app that does not release */
    else
        phx_heap_free(phx_app_port_recv_heap(port), (void *)p);
}

/* "hold N": keeps the next RECEIVED buffers, up to N held at once; "hold 0" frees them all. */
static int set_hold(struct wiretest *w, unsigned n)
{
    phx_app_port_t *port = phx_engine_app_port(w->e);

    if (n > WT_HOLD_MAX)
        return -EINVAL;
    if (!n)
        while (w->c.held)
            phx_heap_free(phx_app_port_recv_heap(port), w->held[--w->c.held]);
    w->hold = n;
    return 0;
}

static void on_sent(struct wiretest *w, const phx_desc_t *d)
{
    if (d->status == PHX_OK) {
        w->c.sent_ok++;
    } else {
        w->c.sent_err++;
        w->c.last_err_status = d->status;
    }
    if (d->user != 0xabcdef)        /* the SEND's own fields come back untouched */
        w->c.verify_errors++;
    msg_free((struct wt_msg *)(uintptr_t)d->addr);
}

static void on_lost(struct wiretest *w, const phx_desc_t *d)
{
    struct wt_conn *c = conn_of(w, d->conn_id);

    w->c.conn_lost++;
    w->c.lost_ns = mono_ns();
    w->c.lost_conn = d->conn_id;
    w->c.lost_status = d->status;
    if (c)
        c->lost = true;
    for (unsigned i = 0; i < WT_STREAMS; i++)     /* MrpcEngine would fail those calls */
        if (w->streams[i].conn == d->conn_id)
            w->streams[i].count = w->streams[i].next;
}

static void on_rx(struct wiretest *w, const phx_desc_t *d)
{
    w->c.seq_errors += d->seq != w->rx_seq++;
    switch (d->kind) {
    case MRPC_DESC_RECEIVED:
        on_received(w, d);
        break;
    case MRPC_DESC_SENT:
        on_sent(w, d);
        break;
    case MRPC_DESC_BOUND:
        w->c.bound++;
        w->c.bound_status = d->status;
        w->c.bound_port = d->status == PHX_OK ? (long long)d->len : -1;
        free((void *)(uintptr_t)d->addr);
        break;
    case MRPC_DESC_CONNECTED:
        w->c.connected++;
        w->c.connected_ok += d->status == PHX_OK;
        w->c.connected_status = d->status;
        w->c.connected_conn = d->conn_id;
        if (d->status == PHX_OK)
            announce(w, d->conn_id);
        free((void *)(uintptr_t)d->addr);
        break;
    case MRPC_DESC_ACCEPTED:
        w->c.accepted++;
        w->c.accepted_conn = d->conn_id;
        w->c.accepted_binding = (long long)d->binding_id;
        announce(w, d->conn_id);
        break;
    case MRPC_DESC_CONN_LOST:
        on_lost(w, d);
        break;
    case MRPC_DESC_DROPPED:         /* the receive heap was full: no buffer with it */
        w->c.dropped++;
        w->c.dropped_status = d->status;
        break;
    default:
        w->c.other++;
    }
}

static int wt_progress(phx_engine_t *e, void *state)
{
    struct wiretest *w = state;
    phx_desc_t batch[WT_BATCH];
    unsigned got = phx_chan_pop(phx_engine_in(e, PHX_RX, 0), batch, WT_BATCH);

    for (unsigned i = 0; i < got; i++)
        on_rx(w, &batch[i]);
    return (int)(got + push_tx(w));
}

/* ---- admin ------------------------------------------------------------------------------- */

static int queue_ctl(struct wiretest *w, uint16_t kind, uint32_t id, const char *addr)
{
    size_t len = addr ? strlen(addr) + 1 : 0;
    char *copy = addr ? calloc(1, len + MRPC_CONN_REASON_MAX) : NULL;  /* room for the reason */

    if (copy)
        memcpy(copy, addr, len);
    if (w->ctl_count == WT_CTL_MAX || (addr && !copy)) {
        free(copy);
        return -ENOSPC;
    }
    w->ctl[(w->ctl_head + w->ctl_count++) % WT_CTL_MAX] =
        (phx_desc_t){.kind = kind, .conn_id = id, .addr = (uint64_t)(uintptr_t)copy,
                     .user = 0x5555};
    return 0;
}

static int queue_bad_send(struct wiretest *w, uint32_t conn)
{
    struct wt_stream s = {.conn = conn, .max = 64, .size = SIZE_MAX, .tag = 99};
    struct wt_msg *m = build(&s, 0);

    if (!m)
        return -ENOMEM;
    m->wire.hdr.payload_len += 1;
    if (w->ctl_count == WT_CTL_MAX) {
        msg_free(m);
        return -ENOSPC;
    }
    w->ctl[(w->ctl_head + w->ctl_count++) % WT_CTL_MAX] = send_desc(conn, m);
    w->c.pushed++;
    return 0;
}

/* Calls FIRST..COUNT-1 of stream TAG on CONN. */
static int add_stream(struct wiretest *w, const struct wt_stream *s)
{
    for (unsigned i = 0; i < WT_STREAMS; i++) {
        if (w->streams[i].next == w->streams[i].count) {
            w->streams[i] = *s;
            return 0;
        }
    }
    return -ENOSPC;
}

static int add_expect(struct wiretest *w, uint32_t tag, uint64_t count)
{
    for (unsigned i = 0; i < WT_STREAMS; i++) {
        struct wt_expect *x = &w->expects[i];
        if (!x->seen || x->tag == tag) {
            free(x->seen);
            x->seen = calloc(count / 8 + 1, 1);
            x->tag = tag;
            x->count = count;
            return x->seen ? 0 : -ENOMEM;
        }
    }
    return -ENOSPC;
}

/* Expected calls not seen yet, over every stream. */
static long long missing(const struct wiretest *w)
{
    long long n = 0;

    for (unsigned i = 0; i < WT_STREAMS; i++)
        for (uint64_t call = 0; w->expects[i].seen && call < w->expects[i].count; call++)
            n += !(w->expects[i].seen[call / 8] & (1u << (call % 8)));
    return n;
}

#define WT_FIELDS(X)                                                                     \
    X(bound) X(bound_status) X(bound_port) X(connected) X(connected_status)              \
    X(connected_conn) X(connected_ok) X(accepted) X(accepted_conn) X(accepted_binding) X(conn_lost)      \
    X(lost_conn) X(lost_status) X(pushed) X(tx_full) X(sent_ok) X(sent_err)              \
    X(last_err_status) X(outstanding_peak) X(received) X(rx_bytes) X(verify_errors)      \
    X(duplicates) X(unexpected) X(outside_heap) X(seq_errors) X(unannounced)             \
    X(after_lost) X(other) X(last_rx_ns) X(lost_ns) X(dropped) X(dropped_status) X(held)

static int stats(const struct wiretest *w, char **reply)
{
    size_t len = 0;
    FILE *out = open_memstream(reply, &len);

    if (!out)
        return -ENOMEM;
#define WT_PRINT(f) fprintf(out, "\"" #f "\":%lld,", w->c.f);
    fputc('{', out);
    WT_FIELDS(WT_PRINT)
    fprintf(out, "\"missing\":%lld}", missing(w));
#undef WT_PRINT
    return fclose(out) ? -ENOMEM : 0;
}

static int wt_admin(phx_engine_t *e, void *state, const char *request, char **reply)
{
    struct wiretest *w = state;
    char addr[256];
    unsigned id, tag, pieces;
    unsigned long long count, max, call;
    int rc = -EINVAL;

    *reply = NULL;
    if (strcmp(request, "stats") == 0)
        return stats(w, reply);
    if (sscanf(request, "bind %u %255s", &id, addr) == 2)
        rc = queue_ctl(w, MRPC_DESC_BIND, id, addr);
    else if (sscanf(request, "connect %u %255s", &id, addr) == 2)
        rc = queue_ctl(w, MRPC_DESC_CONNECT, id, addr);
    else if (sscanf(request, "close %u", &id) == 1)
        rc = queue_ctl(w, MRPC_DESC_CLOSE, id, NULL);
    else if (sscanf(request, "send_bad %u", &id) == 1)
        rc = queue_bad_send(w, id);
    else if (sscanf(request, "sendfix %u %llu %llu %u", &id, &count, &max, &tag) == 4)
        rc = add_stream(w, &(struct wt_stream){.conn = id, .count = count, .size = (size_t)max,
                                               .tag = tag});
    else if (sscanf(request, "sendcut %u %llu %u %u %llu", &id, &max, &pieces, &tag, &call) == 5)
        rc = add_stream(w, &(struct wt_stream){.conn = id, .next = call, .count = call + 1,
                                               .size = (size_t)max, .tag = tag,
                                               .pieces = pieces ? pieces : 1});
    else if (sscanf(request, "send1 %u %llu %u %llu", &id, &max, &tag, &call) == 4)
        rc = add_stream(w, &(struct wt_stream){.conn = id, .next = call, .count = call + 1,
                                               .size = (size_t)max, .tag = tag});
    /* after send1/sendfix/send_bad: a blank in a scanf format also matches no blank at all */
    else if (sscanf(request, "send %u %llu %llu %u", &id, &count, &max, &tag) == 4)
        rc = add_stream(w, &(struct wt_stream){.conn = id, .count = count, .max = (size_t)max,
                                               .size = SIZE_MAX, .tag = tag});
    else if (sscanf(request, "expect %u %llu", &tag, &count) == 2)
        rc = add_expect(w, tag, count);
    else if (sscanf(request, "hold %u", &id) == 1)
        rc = set_hold(w, id);
    if (rc == 0)
        *reply = strdup("{}");
    return rc;
}

/* ---- lifecycle --------------------------------------------------------------------------- */

static int wt_create(phx_engine_t *e, const char *config, void **state, char *err,
                     size_t errlen)
{
    struct wiretest *w = calloc(1, sizeof(*w));

    if (!w)
        return -ENOMEM;
    w->e = e;
    *state = w;
    return 0;
}

/* Messages still queued as SENDs in channels belong to the test that dropped them. */
static void wt_destroy(phx_engine_t *e, void *state, phx_destroy_mode_t mode)
{
    struct wiretest *w = state;

    for (unsigned i = 0; i < WT_STREAMS; i++)
        free(w->expects[i].seen);
    for (unsigned i = 0; i < w->ctl_count; i++) {
        phx_desc_t *d = &w->ctl[(w->ctl_head + i) % WT_CTL_MAX];
        if (d->kind == MRPC_DESC_SEND)
            msg_free((struct wt_msg *)(uintptr_t)d->addr);
        else
            free((void *)(uintptr_t)d->addr);
    }
    free(w);
}

static const phx_engine_ops_t wt_engine = {
    .type = "WireTestEngine",
    .state_version = 1,
    .ports = {[PHX_TX] = {.in = 0, .out = 1}, [PHX_RX] = {.in = 1, .out = 0}},
    .create = wt_create,
    .progress = wt_progress,
    .admin = wt_admin,
    .destroy = wt_destroy,
};

PHX_PLUGIN("wiretest", "1.0.0", .engines = PHX_ENGINES(&wt_engine),
           .services = PHX_SERVICES(PHX_SERVICE("wiretest", "WireTestEngine", "UcxRpcAdapterEngine")));
