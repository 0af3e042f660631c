/* client.c - one rpc_bench client thread: its own mrpc context, one connection, and calls kept
 * outstanding.
 *
 * The thread registers with the local service (mrpc_ctx_create), connects to its server and
 * then follows the main thread's steps (sweep.c): for every size a warmup step and a measured
 * step, each a phase of at most phase.calls calls or the size's time budget, whichever ends
 * first (at least one call). A phase keeps --concurrency calls in flight: each takes a slot
 * (its start time and tag), the completion callback checks the reply, records the round trip
 * (measured phase only), releases the reply and frees the slot, and the loop tops the window
 * up again. Every wait is bounded: a call's own timeout is the size's budget plus a grace, and
 * the loop gives up at the same point even if no completion came.
 *
 * Requests are built in the send heap for every call (they belong to libmrpc once sent) with
 * the call's tag in the first and last payload byte; a reply must have the asked size and the
 * same tag at both ends, else the run fails: no figure is reached by skipping that check.
 *
 * The measured phase also keeps the longest time between two consecutive completions of the
 * thread (from the phase's start): with calls always outstanding, that is the longest the
 * service left the thread without an answer, e.g. while it upgrades a plugin (the stall
 * benchmark, benchmarks/compare/stall). */
#include "rpc_bench.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROGRESS_MS 10   /* longest sleep in the call loop: deadlines and aborts are seen */

/* Notes the thread's first error; the main thread reports it. */
static void fail(rpcb_thread_t *t, const char *fmt, ...)
{
    va_list ap;

    if (t->failed)
        return;
    t->failed = true;
    va_start(ap, fmt);
    vsnprintf(t->err, sizeof(t->err), fmt, ap);
    va_end(ap);
}

int rpcb_thread_init(rpcb_thread_t *t, const rpcb_args_t *a, rpcb_sync_t *sync, unsigned index,
                     size_t samples_cap)
{
    unsigned window = a->o.window;

    *t = (rpcb_thread_t){ .args = a, .sync = sync, .index = index, .samples_cap = samples_cap };
    atomic_init(&t->published, 0);
    t->slots = calloc(window, sizeof(*t->slots));
    t->free_slots = calloc(window, sizeof(*t->free_slots));
    t->samples_us = malloc((samples_cap ? samples_cap : 1) * sizeof(*t->samples_us));
    if (a->log_gaps)
        t->gaps = malloc(RPCB_MAX_GAPS * sizeof(*t->gaps));
    if (!t->slots || !t->free_slots || !t->samples_us || (a->log_gaps && !t->gaps))
        return -ENOMEM;
    for (unsigned i = 0; i < window; i++) {
        t->slots[i].thread = t;
        t->free_slots[t->nfree++] = &t->slots[i];
    }
    return 0;
}

void rpcb_thread_free(rpcb_thread_t *t)
{
    free(t->slots);
    free(t->free_slots);
    free(t->samples_us);
    free(t->gaps);
}

/* ---- one call ------------------------------------------------------------------------------- */

static bool reply_matches(const rpcb_thread_t *t, const rpcb_slot_t *slot,
                          const RpcBench__BenchReply *reply)
{
    size_t len = reply->payload.len;

    if (len != t->phase.reply_size)
        return false;
    return len == 0 || (reply->payload.data && reply->payload.data[0] == slot->tag &&
                        reply->payload.data[len - 1] == slot->tag);
}

static void record(rpcb_thread_t *t, double rtt_us)
{
    size_t n = atomic_load_explicit(&t->published, memory_order_relaxed);

    if (n >= t->samples_cap)
        return;   /* cannot happen: a phase makes at most samples_cap calls */
    t->samples_us[n] = rtt_us;
    atomic_store_explicit(&t->published, n + 1, memory_order_release);
}

static void note_gap(rpcb_thread_t *t, uint64_t end)
{
    uint64_t gap = end - t->last_done_ns;

    if (gap > t->max_gap_ns)
        t->max_gap_ns = gap;
    if (t->gaps && gap >= RPCB_GAP_LOG_NS && t->n_gaps < RPCB_MAX_GAPS) {
        t->gaps[t->n_gaps][0] = end;
        t->gaps[t->n_gaps++][1] = gap;
    }
    t->last_done_ns = end;
}

static void on_reply(mrpc_ctx_t *ctx, void *token, const mrpc_status_t *st,
                     const ProtobufCMessage *msg)
{
    rpcb_slot_t *slot = token;
    rpcb_thread_t *t = slot->thread;
    uint64_t end = bench_now_ns();
    const RpcBench__BenchReply *reply = (const RpcBench__BenchReply *)msg;

    if (t->phase.measure)
        note_gap(t, end);
    if (st->code != PHX_OK)
        t->errors++;
    if (st->code == PHX_RESOURCE_EXHAUSTED && t->args->refusals_ok)
        ;                   /* a policy refused it: counted in errors, not timed */
    else if (st->code != PHX_OK)
        fail(t, "%s: Exchange: %s: %s", t->peer, phx_status_name(st->code), st->message);
    else if (!reply || !reply_matches(t, slot, reply))
        fail(t, "%s: a reply of %zu bytes does not answer its call (%zu bytes, tag %u)",
             t->peer, reply ? reply->payload.len : 0, t->phase.reply_size, slot->tag);
    else if (t->phase.measure)
        record(t, (double)(end - slot->start_ns) / 1e3);
    if (msg)
        mrpc_release(ctx, msg);
    t->free_slots[t->nfree++] = slot;
    t->completed++;
}

/* A request of phase.req_size bytes tagged at both ends, in the send heap; NULL when full. */
static RpcBench__BenchRequest *new_request(rpcb_thread_t *t, uint8_t tag)
{
    size_t len = t->phase.req_size;
    RpcBench__BenchRequest *req =
        (RpcBench__BenchRequest *)mrpc_message_new(t->ctx, &rpc_bench__bench_request__descriptor);
    uint8_t *payload = req ? mrpc_alloc(t->ctx, len) : NULL;

    if (!payload) {
        mrpc_message_free(t->ctx, req ? &req->base : NULL);
        return NULL;
    }
    payload[0] = payload[len - 1] = tag;
    req->payload.data = payload;
    req->payload.len = len;
    req->reply_size = t->phase.reply_size;
    return req;
}

static int issue(rpcb_thread_t *t)
{
    rpcb_slot_t *slot = t->free_slots[--t->nfree];
    RpcBench__BenchRequest *req;

    slot->tag = (uint8_t)t->issued;
    if (!(req = new_request(t, slot->tag))) {
        t->nfree++;
        fail(t, "the send heap is full (%zu-byte requests, %lu in flight)", t->phase.req_size,
             t->issued - t->completed);
        return -ENOMEM;
    }
    slot->start_ns = bench_now_ns();
    mrpc_status_t st = rpc_bench__bench__exchange_async(t->conn, req, on_reply, slot,
                                                        &t->call_opts);
    if (st.code != PHX_OK) {   /* libmrpc freed the request */
        t->nfree++;
        fail(t, "%s: Exchange: %s: %s", t->peer, phx_status_name(st.code), st.message);
        return -EIO;
    }
    t->issued++;
    return 0;
}

/* ---- a phase -------------------------------------------------------------------------------- */

/* Whether to stop making calls: the share is done, or the budget is over (after one call). */
static bool issuing_done(const rpcb_thread_t *t, uint64_t deadline)
{
    return t->issued >= t->phase.calls || (t->issued > 0 && bench_now_ns() >= deadline);
}

static void run_phase(rpcb_thread_t *t)
{
    uint64_t deadline = bench_phase_deadline(&t->args->o, !t->phase.measure);
    uint64_t limit = deadline + RPCB_GRACE_NS;

    t->issued = t->completed = t->errors = 0;
    t->last_done_ns = bench_now_ns();
    t->max_gap_ns = 0;
    t->n_gaps = 0;
    t->call_opts = (mrpc_call_opts_t){ .field_mask = MRPC_CALL_OPT_FIELD_TIMEOUT,
                                       .timeout_ms = (int)((limit - bench_now_ns()) / 1000000) };
    while (!t->failed && !atomic_load(&t->sync->stop)) {
        bool done = issuing_done(t, deadline);
        while (!done && t->nfree && issue(t) == 0)
            done = issuing_done(t, deadline);
        if (done && t->completed == t->issued)
            return;
        if (mrpc_ctx_progress(t->ctx, PROGRESS_MS) < 0)
            fail(t, "%s: the mRPC service went away", t->peer);
        else if (bench_now_ns() > limit)
            fail(t, "%s: %lu calls still pending 10 s past the budget", t->peer,
                 t->issued - t->completed);
    }
}

/* ---- the thread ----------------------------------------------------------------------------- */

/* "HOST[:PORT]" of -c number index mod N; without a port, --port + index mod server threads. */
static void peer_address(rpcb_thread_t *t)
{
    const rpcb_args_t *a = t->args;
    const char *host = a->connect[t->index % a->nconnect];

    if (strchr(host, ':'))
        snprintf(t->peer, sizeof(t->peer), "%s", host);
    else
        snprintf(t->peer, sizeof(t->peer), "%s:%u", host,
                 a->port + t->index % a->server_threads);
}

static void thread_connect(rpcb_thread_t *t)
{
    mrpc_status_t st;

    peer_address(t);
    if (!(t->ctx = mrpc_ctx_create(NULL, &st)))
        fail(t, "cannot reach the mRPC service: %s", st.message);
    else if (!(t->conn = mrpc_connect(t->ctx, t->peer, &st)))
        fail(t, "%s: %s: %s", t->peer, phx_status_name(st.code), st.message);
}

/* Waits for STEP, runs it unless failed, arrives; false once the main thread stopped the run. */
static bool do_step(rpcb_thread_t *t, unsigned step)
{
    if (!rpcb_sync_wait_step(t->sync, step))
        return false;
    if (!t->failed)
        run_phase(t);
    rpcb_sync_arrive(t->sync);
    return true;
}

void *rpcb_thread_main(void *arg)
{
    rpcb_thread_t *t = arg;
    unsigned step = 0;

    thread_connect(t);
    rpcb_sync_arrive(t->sync);
    while (do_step(t, ++step))
        ;
    mrpc_conn_close(t->conn);
    mrpc_ctx_destroy(t->ctx);
    return NULL;
}
