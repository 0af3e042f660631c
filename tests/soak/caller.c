/* caller.c - soak_app --call: calls Soak.Call without end, through whatever the soak does to
 * the services, and accounts for every call in the ledger.
 *
 * The loop keeps at most --window calls outstanding and makes at most --rate calls per second
 * (counted from the start, so a pause is not made up in a burst larger than the window). Each
 * call carries its ledger number as its token and in its request; the completion hands the
 * status to the ledger and, for an OK reply, checks that the reply carries the same number.
 *
 * Nothing the soak does stops the caller: when the service goes away libmrpc ends every call
 * with UNAVAILABLE and mrpc_ctx_progress() says so, and the caller makes a new context, at most
 * every RETRY_MS; when calls end with a status that says the connection may be broken, it stops
 * issuing, lets the outstanding calls end (each has its deadline) and connects again. SIGTERM
 * or SIGINT stops issuing; the caller then waits up to the calls' deadline plus DRAIN_GRACE_MS
 * for the outstanding ones, counts what never ended as lost and prints the ledger. */
#include "soak_app.h"

#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PROGRESS_MS     10
#define RETRY_MS        100
#define DRAIN_GRACE_MS  5000

typedef struct {
    const soak_args_t *args;
    soak_ledger_t *ledger;
    mrpc_ctx_t *ctx;
    mrpc_conn_t *conn;
    mrpc_call_opts_t opts;
    bool suspect;                /* a status said the connection may be broken */
    uint64_t start_ns, next_retry_ns;
} caller_t;

static atomic_bool stop_requested;
static caller_t *the_caller;     /* completions find the ledger here: one caller a process */

static void on_signal(int sig)
{
    (void)sig;
    atomic_store(&stop_requested, true);
}

static uint64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Statuses after which the connection (or the peer behind it) may be gone. */
static bool breaks_connection(int code)
{
    return code == PHX_UNAVAILABLE || code == PHX_DEADLINE_EXCEEDED || code == PHX_CANCELLED;
}

static void on_reply(mrpc_ctx_t *ctx, void *token, const mrpc_status_t *st,
                     const ProtobufCMessage *msg)
{
    caller_t *c = the_caller;
    uint64_t seq = (uint64_t)(uintptr_t)token;
    const Soak__SoakReply *reply = (const Soak__SoakReply *)msg;

    soak_ledger_end(c->ledger, seq, st->code);
    if (st->code == PHX_OK && (!reply || reply->seq != seq))
        soak_ledger_counters(c->ledger)->mismatched++;
    if (breaks_connection(st->code))
        c->suspect = true;
    if (msg)
        mrpc_release(ctx, msg);
}

/* One call; false when nothing could be sent (the heap is full, or the library refused). */
static bool issue(caller_t *c)
{
    Soak__SoakRequest *req =
        (Soak__SoakRequest *)mrpc_message_new(c->ctx, &soak__soak_request__descriptor);
    uint8_t *pad = req && c->args->pad ? mrpc_alloc(c->ctx, c->args->pad) : NULL;
    uint64_t seq;

    if (!req || (c->args->pad && !pad) || !(seq = soak_ledger_issue(c->ledger))) {
        mrpc_message_free(c->ctx, req ? &req->base : NULL);
        return false;
    }
    if (pad) {
        memset(pad, (int)(seq & 0xff), c->args->pad);
        req->pad.data = pad;
        req->pad.len = c->args->pad;
    }
    req->seq = seq;
    mrpc_status_t st = soak__soak__call_async(c->conn, req, on_reply, (void *)(uintptr_t)seq,
                                              &c->opts);
    if (st.code != PHX_OK) {          /* DONE never runs: the refusal is this call's ending */
        soak_ledger_end(c->ledger, seq, st.code);
        c->suspect = true;
        return false;
    }
    return true;
}

static void issue_some(caller_t *c)
{
    soak_counters_t *k = soak_ledger_counters(c->ledger);
    uint64_t allowed = (now_ns() - c->start_ns) / 1000000ull * c->args->rate / 1000ull + 1;

    while (!c->suspect && soak_ledger_outstanding(c->ledger) < c->args->window &&
           k->issued < allowed && issue(c))
        ;
}

static void drop_connection(caller_t *c, bool ctx_too)
{
    if (c->conn)
        mrpc_conn_close(c->conn);
    c->conn = NULL;
    if (ctx_too && c->ctx) {
        mrpc_ctx_destroy(c->ctx);
        c->ctx = NULL;
    }
    c->suspect = false;
    c->next_retry_ns = now_ns() + RETRY_MS * 1000000ull;
    soak_ledger_counters(c->ledger)->reconnects++;
}

/* A context and a connection, if they can be had now; false (and a pause) if not. */
static bool connect_once(caller_t *c)
{
    mrpc_status_t st;

    if (now_ns() < c->next_retry_ns)
        return false;
    c->next_retry_ns = now_ns() + RETRY_MS * 1000000ull;
    if (!c->ctx)
        c->ctx = mrpc_ctx_create(NULL, &st);
    if (c->ctx && !c->conn)
        c->conn = mrpc_connect(c->ctx, c->args->addr, &st);
    return c->conn != NULL;
}

/* One turn of the loop: connect if needed, issue, progress. */
static void turn(caller_t *c)
{
    if (!c->conn && !connect_once(c)) {
        if (c->ctx && mrpc_ctx_progress(c->ctx, 0) < 0)
            drop_connection(c, true);
        struct timespec pause = { 0, PROGRESS_MS * 1000000l };
        nanosleep(&pause, NULL);
        return;
    }
    issue_some(c);
    if (mrpc_ctx_progress(c->ctx, PROGRESS_MS) < 0)
        drop_connection(c, true);          /* every outstanding call ended UNAVAILABLE */
    else if (c->suspect && soak_ledger_outstanding(c->ledger) == 0)
        drop_connection(c, false);
}

/* After the stop: every outstanding call ends, or its deadline and a grace pass. */
static void drain(caller_t *c)
{
    uint64_t limit = now_ns() + (c->args->timeout_ms + DRAIN_GRACE_MS) * 1000000ull;

    while (c->ctx && soak_ledger_outstanding(c->ledger) > 0 && now_ns() < limit)
        if (mrpc_ctx_progress(c->ctx, PROGRESS_MS) < 0)
            break;
}

static void install_signals(void)
{
    struct sigaction sa = { .sa_handler = on_signal };

    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

int soak_call(const soak_args_t *a)
{
    char err[256];
    caller_t c = { .args = a, .start_ns = now_ns() };

    the_caller = &c;
    install_signals();
    if (!(c.ledger = soak_ledger_create(a->ledger, err, sizeof(err)))) {
        fprintf(stderr, "soak_app: %s\n", err);
        return -1;
    }
    c.opts = (mrpc_call_opts_t){ .field_mask = MRPC_CALL_OPT_FIELD_TIMEOUT,
                                 .timeout_ms = (int)a->timeout_ms };
    while (!atomic_load(&stop_requested))
        turn(&c);
    drain(&c);
    soak_ledger_finish(c.ledger);
    soak_ledger_print(soak_ledger_counters(c.ledger));
    if (c.conn)
        mrpc_conn_close(c.conn);
    if (c.ctx)
        mrpc_ctx_destroy(c.ctx);
    soak_ledger_close(c.ledger);
    return 0;
}
