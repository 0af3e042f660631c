/* ucx_engine.c - UcxRpcAdapterEngine: the engine operations and the plugin descriptor.
 *
 * progress() does, each time, a bounded amount of each kind of work: up to PHX_UCX_TX_BATCH tx
 * descriptors (BIND, CONNECT, CLOSE, SEND), up to PHX_UCX_PROGRESS_TURNS calls of
 * ucp_worker_progress() (until it reports nothing), the connections' chores (connect deadlines,
 * force-closing failed endpoints, CONN_LOST, freeing), and pushing queued descriptors up the rx
 * channel (ucx_engine.h says in which order). UCX is not progressed while more than
 * PHX_UCX_LANDED_SOFT received messages wait for room upstream: what UCX has not delivered stays
 * in the network's own flow control, which is how a slow app slows its senders down.
 *
 * arm() lets the runtime sleep on the worker's event fd (ucp_worker_arm(): UCS_ERR_BUSY means
 * more events came in, so there is work), with a timeout for the next connect deadline and, as
 * long as connections exist, at least once per PHX_UCX_WAKE_MS so that UCX's keepalive runs.
 *
 * Live upgrade: the state refers to UCX objects whose callbacks (endpoint error handlers,
 * listener handlers, pending requests) point into the build that created them, and that build
 * stays mapped (ucx_context.c pins it). dump() therefore passes the state itself, by address
 * (an upgrade never leaves the process), and the new build adopts it; a build whose state layout
 * differs must use another state_version and refuse older ones. The new build installs its own
 * active-message handler on its first progress(), so an upgrade that is aborted after restore()
 * leaves the running build untouched. */
#include "ucx_engine.h"

#include "phoenix/config.h"
#include "phoenix/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define UCX_STATE_VERSION 2    /* 2: memory maps, heads and batches in the state */
#define UCX_BLOB_MAGIC    0x7563785f626c6f62ull     /* "ucx_blob" */

/* What dump() writes: the state's address (see the file comment). */
struct ucx_blob {
    uint64_t               magic;
    struct phx_ucx_engine *state;
};

uint64_t phx_ucx_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int phx_ucx_queue_event(struct phx_ucx_engine *s, const phx_desc_t *d, struct phx_ucx_conn *conn)
{
    struct phx_ucx_up u = {.desc = *d, .conn = conn};
    int rc = phx_ucx_upq_push(&s->events, &u);

    if (rc < 0) {       /* the queue is sized for every event the bounds allow: a bug */
        phx_error("ucx: descriptor of kind %#x for connection %u lost: %s", d->kind, d->conn_id,
                  strerror(-rc));
        return rc;
    }
    if (conn)
        conn->queued++;
    return 0;
}

/* ---- create / destroy -------------------------------------------------------------------- */

static bool set_handler(struct phx_ucx_engine *s, unsigned id, ucp_am_recv_callback_t cb)
{
    ucp_am_handler_param_t p = {
        .field_mask = UCP_AM_HANDLER_PARAM_FIELD_ID | UCP_AM_HANDLER_PARAM_FIELD_FLAGS |
                      UCP_AM_HANDLER_PARAM_FIELD_CB | UCP_AM_HANDLER_PARAM_FIELD_ARG,
        .id = id,
        .flags = UCP_AM_FLAG_WHOLE_MSG,
        .cb = cb,
        .arg = s,
    };
    ucs_status_t st = ucp_worker_set_am_recv_handler(s->worker, &p);

    if (st != UCS_OK)
        phx_error("ucx: cannot set the handler of active message %u: %s", id,
                  ucs_status_string(st));
    return st == UCS_OK;
}

/* This build's handlers for single messages and batches. */
static void set_am_handler(struct phx_ucx_engine *s)
{
    if (set_handler(s, PHX_UCX_AM_ID, phx_ucx_am_recv) &&
        set_handler(s, PHX_UCX_AM_BATCH_ID, phx_ucx_am_batch_recv))
        s->am_handler = phx_ucx_am_recv;
}

static int worker_create(struct phx_ucx_engine *s, char *err, size_t errlen)
{
    ucp_worker_params_t wp = {
        .field_mask = UCP_WORKER_PARAM_FIELD_THREAD_MODE,
        /* One thread at a time, but not always the same one: the control thread creates,
         * restores and destroys, runtime threads progress, and a group may change runtime.
         * SERIALIZED says exactly that (no locks; UCX may add the barriers a hand-over needs),
         * SINGLE would promise one thread forever. */
        .thread_mode = UCS_THREAD_MODE_SERIALIZED,
    };
    ucs_status_t st = ucp_worker_create(s->ctx->ucp, &wp, &s->worker);
    if (st != UCS_OK) {
        snprintf(err, errlen, "ucp_worker_create: %s", ucs_status_string(st));
        return -EIO;
    }
    ucp_worker_attr_t attr = {.field_mask = UCP_WORKER_ATTR_FIELD_MAX_AM_HEADER};
    if (ucp_worker_query(s->worker, &attr) != UCS_OK ||
        attr.max_am_header < sizeof(struct mrpc_wire_hdr)) {
        snprintf(err, errlen, "UCX cannot carry a %zu-byte active-message header",
                 sizeof(struct mrpc_wire_hdr));
        return -ENOTSUP;
    }
    s->head_max = attr.max_am_header - sizeof(struct mrpc_wire_hdr);
    if (s->head_max > MRPC_WIRE_HEAD_MAX)
        s->head_max = MRPC_WIRE_HEAD_MAX;
    s->batch_max = (attr.max_am_header - sizeof(struct mrpc_wire_batch)) /
                   sizeof(struct mrpc_wire_hdr);
    if (s->batch_max > MRPC_WIRE_BATCH_MAX)
        s->batch_max = MRPC_WIRE_BATCH_MAX;
    if (s->batch_max < 2)
        s->batch_max = 0;
    if ((st = ucp_worker_get_efd(s->worker, &s->efd)) != UCS_OK) {
        snprintf(err, errlen, "ucp_worker_get_efd: %s", ucs_status_string(st));
        return -EIO;
    }
    set_am_handler(s);
    return s->am_handler ? 0 : -EIO;
}

/* Frees S whatever create() got to; the worker's endpoints are closed first. */
static void teardown(struct phx_ucx_engine *s)
{
    s->closing = true;
    if (s->worker) {
        phx_ucx_listeners_shutdown(s);
        phx_ucx_conns_shutdown(s);
        ucp_worker_destroy(s->worker);
    }
    phx_ucx_recv_free(s);
    phx_ucx_batch_free(s);
    phx_ucx_send_free(s);
    phx_ucx_conns_free(s);
    phx_ucx_upq_fini(&s->events);
    phx_ucx_upq_fini(&s->landed);
    if (s->ctx)
        phx_ucx_mem_unmap(s);
    phx_ucx_context_release(s->ctx);
    s->magic = 0;
    free(s);
}

static bool blank(const char *config)
{
    return !config || !config[strspn(config, " \t\r\n")];
}

static int ucx_create(phx_engine_t *e, const char *config, void **state, char *err,
                      size_t errlen)
{
    const phx_config_t *cfg = phx_config_current();
    struct phx_ucx_engine *s;

    if (!blank(config)) {
        snprintf(err, errlen, "UcxRpcAdapterEngine takes no configuration (see phoenix.conf)");
        return -EINVAL;
    }
    if (!(s = calloc(1, sizeof(*s))))
        return -ENOMEM;
    s->magic = PHX_UCX_STATE_MAGIC;
    s->engine = e;
    s->efd = -1;
    s->max_message = (uint64_t)cfg->mrpc.max_message_mb << 20;
    s->inflight_budget = (uint64_t)cfg->mrpc.inflight_mb << 20;
    phx_ucx_upq_init(&s->events, PHX_UCX_EVENTS_MAX);
    phx_ucx_upq_init(&s->landed, PHX_UCX_LANDED_MAX);
    int rc = phx_ucx_conns_init(s);
    if (rc)
        snprintf(err, errlen, "out of memory");
    else if (!(s->ctx = phx_ucx_context_acquire(err, errlen)))
        rc = -EIO;
    else
        rc = worker_create(s, err, errlen);
    if (rc) {
        teardown(s);
        return rc;
    }
    phx_ucx_mem_init(s);
    *state = s;
    return 0;
}

/* STATE_ONLY: a restored instance adopted this very state (see the file comment). */
static void ucx_destroy(phx_engine_t *e, void *state, phx_destroy_mode_t mode)
{
    if (mode == PHX_DESTROY_ALL)
        teardown(state);
}

/* ---- pushing up -------------------------------------------------------------------------- */

/* Pushes up to MAX of Q's entries up OUT; returns how many went. */
static unsigned deliver_queue(struct phx_ucx_engine *s, struct phx_ucx_upq *q,
                              phx_channel_t *out, unsigned max)
{
    struct phx_ucx_up *u;
    unsigned n = 0;

    while (n < max && (u = phx_ucx_upq_head(q))) {
        phx_desc_t d = u->desc;
        d.seq = s->rx_seq;
        if (!out || phx_chan_push(out, &d, 1) != 1)
            break;
        s->rx_seq++;
        s->inflight -= u->charge;
        if (u->conn)
            u->conn->queued--;
        if (d.kind == MRPC_DESC_RECEIVED) {
            s->stats.rx_msgs++;
            s->stats.rx_bytes += d.len;
        }
        phx_ucx_upq_pop(q);
        n++;
    }
    return n;
}

/* Events, then SENT, then RECEIVED; a queue is started only once the one before is empty. */
static unsigned deliver(struct phx_ucx_engine *s, phx_channel_t *out)
{
    unsigned n = deliver_queue(s, &s->events, out, PHX_UCX_UP_BATCH);

    if (phx_ucx_upq_count(&s->events))
        return n;
    n += phx_ucx_send_deliver(s, out);
    if (s->done_head)
        return n;
    return n + deliver_queue(s, &s->landed, out, PHX_UCX_UP_BATCH);
}

static unsigned queued_up(const struct phx_ucx_engine *s)
{
    return phx_ucx_upq_count(&s->events) + s->done_count + phx_ucx_upq_count(&s->landed);
}

/* ---- progress ---------------------------------------------------------------------------- */

/* One tx descriptor; false when it is a SEND that must wait for room. */
static bool handle_tx(struct phx_ucx_engine *s, const phx_desc_t *d)
{
    switch (d->kind) {
    case MRPC_DESC_SEND:
        return phx_ucx_send_submit(s, d);
    case MRPC_DESC_BIND:
        phx_ucx_bind(s, d);
        return true;
    case MRPC_DESC_CONNECT:
        phx_ucx_connect(s, d);
        return true;
    case MRPC_DESC_CLOSE:
        phx_ucx_batch_flush(s);     /* what was sent before the close goes first */
        phx_ucx_close(s, d);
        return true;
    default:                    /* nothing after us to hand it to */
        s->stats.tx_unknown++;
        phx_debug("ucx: tx descriptor of kind %#x ignored", d->kind);
        return true;
    }
}

/* Immediate answers wait in the event queue: past PHX_UCX_EVENTS_SOFT tx is not read. */
static bool tx_open(const struct phx_ucx_engine *s)
{
    return phx_ucx_upq_count(&s->events) < PHX_UCX_EVENTS_SOFT;
}

static unsigned read_tx(struct phx_ucx_engine *s, phx_channel_t *in)
{
    unsigned n = 0;
    phx_desc_t d;

    if (s->has_held) {
        if (!phx_ucx_send_submit(s, &s->held))
            return 0;
        s->has_held = false;
        n++;
    }
    while (n < PHX_UCX_TX_BATCH && tx_open(s) && in && phx_chan_pop(in, &d, 1) == 1) {
        n++;
        if (!handle_tx(s, &d)) {
            s->held = d;
            s->has_held = true;
            break;
        }
    }
    phx_ucx_batch_flush(s);     /* a batch holds only what this pass found (ucx_batch.c) */
    return n;
}

static bool worker_blocked(const struct phx_ucx_engine *s)
{
    return phx_ucx_upq_count(&s->landed) >= PHX_UCX_LANDED_SOFT;
}

static unsigned progress_worker(struct phx_ucx_engine *s)
{
    unsigned work = 0;

    for (unsigned turn = 0; turn < PHX_UCX_PROGRESS_TURNS && !worker_blocked(s); turn++) {
        unsigned n = ucp_worker_progress(s->worker);
        if (!n)
            break;
        work += n;
    }
    return work;
}

static int ucx_progress(phx_engine_t *e, void *state)
{
    struct phx_ucx_engine *s = state;

    if (s->am_handler != phx_ucx_am_recv)      /* first progress after a live upgrade */
        set_am_handler(s);
    unsigned work = read_tx(s, phx_engine_in(e, PHX_TX, 0));
    work += progress_worker(s);
    work += phx_ucx_conns_tick(s);
    work += deliver(s, phx_engine_out(e, PHX_RX, 0));
    return (int)work;
}

/* ---- sleeping ---------------------------------------------------------------------------- */

/* Work progress() would do right now without any event from UCX. */
static unsigned ready_work(struct phx_ucx_engine *s, phx_engine_t *e)
{
    phx_channel_t *in = phx_engine_in(e, PHX_TX, 0);
    unsigned queued = queued_up(s);

    if (queued && phx_chan_space(phx_engine_out(e, PHX_RX, 0)))
        return queued;
    if (s->has_held ? phx_ucx_send_has_room(s, &s->held) : tx_open(s) && phx_chan_count(in))
        return 1;
    return phx_ucx_conns_due(s) ? 1 : 0;
}

static int wake_timeout_ms(struct phx_ucx_engine *s)
{
    int t = phx_ucx_conns_timeout_ms(s);

    if (s->n_conns && (t < 0 || t > PHX_UCX_WAKE_MS))
        t = PHX_UCX_WAKE_MS;
    return t;
}

static int ucx_arm(phx_engine_t *e, void *state, phx_wait_t *w)
{
    struct phx_ucx_engine *s = state;
    unsigned ready = ready_work(s, e);

    w->fd = -1;
    w->timeout_ms = -1;
    if (ready)
        return (int)ready;
    if (worker_blocked(s))      /* only room upstream helps: the consumer's progress wakes us */
        return 0;
    ucs_status_t st = ucp_worker_arm(s->worker);
    if (st == UCS_ERR_BUSY)
        return 1;
    if (st != UCS_OK) {
        phx_warn("ucx: ucp_worker_arm: %s", ucs_status_string(st));
        return -EIO;
    }
    w->fd = s->efd;
    w->timeout_ms = wake_timeout_ms(s);
    return 0;
}

/* ---- flush, dump, restore ---------------------------------------------------------------- */

static int ucx_flush(phx_engine_t *e, void *state)
{
    struct phx_ucx_engine *s = state;
    phx_channel_t *out = phx_engine_out(e, PHX_RX, 0);

    while (deliver(s, out))
        ;
    return (int)queued_up(s);
}

static int ucx_dump(phx_engine_t *e, void *state, phx_blob_t *out)
{
    struct ucx_blob *b = malloc(sizeof(*b));

    if (!b)
        return -ENOMEM;
    *b = (struct ucx_blob){.magic = UCX_BLOB_MAGIC, .state = state};
    out->data = b;
    out->len = sizeof(*b);
    out->version = UCX_STATE_VERSION;
    return 0;
}

static int ucx_restore(phx_engine_t *e, const phx_blob_t *in, void **state, char *err,
                       size_t errlen)
{
    const struct ucx_blob *b = in->data;

    if (in->version != UCX_STATE_VERSION) {
        snprintf(err, errlen, "UcxRpcAdapterEngine state version %u, this build reads %u",
                 in->version, UCX_STATE_VERSION);
        return -ENOTSUP;
    }
    if (in->len != sizeof(*b) || b->magic != UCX_BLOB_MAGIC || !b->state ||
        b->state->magic != PHX_UCX_STATE_MAGIC || b->state->engine != e) {
        snprintf(err, errlen, "UcxRpcAdapterEngine state is not a live state of this engine");
        return -EINVAL;
    }
    phx_ucx_context_adopt(b->state->ctx);
    *state = b->state;
    return 0;
}

/* ---- admin ------------------------------------------------------------------------------- */

static int stats_json(const struct phx_ucx_engine *s, char **reply)
{
    const struct phx_ucx_stats *st = &s->stats;

    return asprintf(reply,
                    "{\"tx_msgs\":%llu,\"tx_bytes\":%llu,\"rx_msgs\":%llu,\"rx_bytes\":%llu,"
                    "\"malformed\":%llu,\"rejected_inflight\":%llu,\"rejected_heap\":%llu,"
                    "\"dropped\":%llu,\"send_errors\":%llu,\"rx_errors\":%llu,"
                    "\"tx_unknown\":%llu,\"tx_memh\":%llu,\"tx_head\":%llu,"
                    "\"tx_batches\":%llu,\"tx_batched\":%llu,\"rx_batches\":%llu,"
                    "\"accepted\":%llu,\"rejected_conns\":%llu,"
                    "\"conns\":%u,\"closing\":%u,\"listeners\":%u,\"pending_sends\":%u,"
                    "\"pending_peak\":%u,\"inflight_bytes\":%llu,\"queued\":%u}",
                    (unsigned long long)st->tx_msgs, (unsigned long long)st->tx_bytes,
                    (unsigned long long)st->rx_msgs, (unsigned long long)st->rx_bytes,
                    (unsigned long long)st->malformed, (unsigned long long)st->rejected_inflight,
                    (unsigned long long)st->rejected_heap, (unsigned long long)st->dropped,
                    (unsigned long long)st->send_errors, (unsigned long long)st->rx_errors,
                    (unsigned long long)st->tx_unknown, (unsigned long long)st->tx_memh,
                    (unsigned long long)st->tx_head, (unsigned long long)st->tx_batches,
                    (unsigned long long)st->tx_batched, (unsigned long long)st->rx_batches,
                    (unsigned long long)st->accepted,
                    (unsigned long long)st->rejected_conns, s->n_conns - s->dying, s->dying,
                    s->n_bindings, s->pending_sends, st->pending_peak,
                    (unsigned long long)s->inflight, queued_up(s)) < 0
               ? -ENOMEM
               : 0;
}

/* Appends the transports of C's lanes ("tcp/lo", "posix/memory") from ucp_ep_print_info(). */
static void lanes_of(ucp_ep_h ep, FILE *out)
{
    char *text = NULL, *save = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    bool first = true;

    if (!mem)
        return;
    ucp_ep_print_info(ep, mem);
    fclose(mem);
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char tl[64];
        const char *lane = strstr(line, "lane[");
        if (lane && (lane = strstr(lane, "]:")) &&
            sscanf(lane + 2, " %*u:%63[^. ]", tl) == 1) {
            fprintf(out, "%s%s", first ? "" : ",", tl);
            first = false;
        }
    }
    free(text);
}

/* {"<id>":"tcp/lo,posix/memory",...} for the connections that have an endpoint. */
static int transports_json(const struct phx_ucx_engine *s, char **reply)
{
    size_t len = 0;
    FILE *out = open_memstream(reply, &len);
    const char *sep = "";

    if (!out)
        return -ENOMEM;
    fputc('{', out);
    for (const struct phx_ucx_conn *c = s->conns; c; c = c->next) {
        if (!c->ep)
            continue;
        fprintf(out, "%s\"%u\":\"", sep, c->id);
        lanes_of(c->ep, out);
        fputc('"', out);
        sep = ",";
    }
    fputc('}', out);
    return fclose(out) ? -ENOMEM : 0;
}

/* [{"id":1,"port":5000},...] */
static int listeners_json(const struct phx_ucx_engine *s, char **reply)
{
    size_t len = 0;
    FILE *out = open_memstream(reply, &len);

    if (!out)
        return -ENOMEM;
    fputc('[', out);
    for (unsigned i = 0; i < s->n_bindings; i++)
        fprintf(out, "%s{\"id\":%u,\"port\":%u}", i ? "," : "", s->bindings[i]->id,
                s->bindings[i]->port);
    fputc(']', out);
    return fclose(out) ? -ENOMEM : 0;
}

static int ucx_admin(phx_engine_t *e, void *state, const char *request, char **reply)
{
    *reply = NULL;
    if (strcmp(request, "stats") == 0)
        return stats_json(state, reply);
    if (strcmp(request, "listeners") == 0)
        return listeners_json(state, reply);
    if (strcmp(request, "transports") == 0)
        return transports_json(state, reply);
    return -ENOTSUP;
}

static const phx_engine_ops_t ucx_engine = {
    .type = "UcxRpcAdapterEngine",
    .state_version = UCX_STATE_VERSION,
    .ports = {[PHX_TX] = {1, 0}, [PHX_RX] = {0, 1}},
    .create = ucx_create,
    .progress = ucx_progress,
    .arm = ucx_arm,
    .flush = ucx_flush,
    .dump = ucx_dump,
    .restore = ucx_restore,
    .admin = ucx_admin,
    .destroy = ucx_destroy,
};

static const phx_engine_ops_t *const ucx_engines[] = {&ucx_engine};

PHX_PLUGIN_DEFINE({
    .abi_version = PHX_PLUGIN_ABI_VERSION,
    .ops_size = sizeof(phx_engine_ops_t),
    .name = "ucx",
    .version = "1.0.0",
    .engines = ucx_engines,
    .n_engines = 1,
});
