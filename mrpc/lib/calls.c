/* calls.c - outgoing calls: mrpc_call(), mrpc_call_async() and their completions.
 *
 * A call gets an id from an idtable (phoenix/idtable.h), which the service echoes in
 * REPLY_RECEIVED; the id's generation makes a reply that comes after its call ended (deadline
 * passed) find nothing, and such a reply is released at once. Deadlines (the call's timeout option,
 * else the service's default from WELCOME) are enforced here, with a heap (deadlines.c), so a call
 * ends on time even when the service or the peer does not answer; the service ends it too, later,
 * which libmrpc ignores.
 *
 * mrpc_cancel() ends a call at once (CANCELLED) and tells the service with CANCEL, which forgets
 * it; a reply that still comes finds no call, as after a deadline.
 *
 * The request becomes libmrpc's when the call is made: it is freed when the service says it has
 * sent it (SEND_DONE, messages.c), or at once if the call cannot be made. mrpc_call() is
 * mrpc_call_async() plus progress until its callback ran.
 *
 * A call that borrows a buffer (buffers.c) completes only when both its reply and its SEND_DONE
 * came, in either order (app_proto.h): a reply that comes first is parked in the call, which
 * stays in the table and the deadline heap until SEND_DONE (lib_calls_sent). */
#include "mrpc_lib.h"

#include <stdlib.h>

#define NS_PER_MS 1000000ull

/* Checks what a call needs before anything is submitted. */
static bool call_valid(mrpc_conn_t *conn, const mrpc_method_desc_t *method,
                       const ProtobufCMessage *req, mrpc_status_t *st)
{
    if (!conn || !method || !req) {
        lib_status_set(st, PHX_INVALID_ARGUMENT, "a call needs a connection, a method and a "
                       "request");
        return false;
    }
    if (conn->ctx->dead) {
        lib_status_set(st, PHX_UNAVAILABLE, "the mRPC service went away");
        return false;
    }
    if (req->descriptor != method->input) {
        lib_status_set(st, PHX_INVALID_ARGUMENT, "%s takes a %s, not a %s", method->full_name,
                       method->input->name, req->descriptor ? req->descriptor->name : "?");
        return false;
    }
    if (!phx_heap_usable_size(conn->ctx->heap, req)) {
        lib_status_set(st, PHX_INVALID_ARGUMENT, "the request must be built in the send heap "
                       "(mrpc_message_new)");
        return false;
    }
    return true;
}

/* The buffer OPTS say the request borrows: *B (NULL: none); false with ST when it is none. */
static bool borrow_of(mrpc_ctx_t *ctx, const mrpc_call_opts_t *opts, struct lib_buffer **b,
                      mrpc_status_t *st)
{
    *b = NULL;
    if (!opts || !(opts->field_mask & MRPC_CALL_OPT_FIELD_BORROW))
        return true;
    if (!(*b = lib_buffer_get(ctx, opts->borrow)))
        lib_status_set(st, PHX_INVALID_ARGUMENT, "MRPC_CALL_OPT_FIELD_BORROW names no buffer of "
                       "mrpc_buffer_alloc (the start of a live one)");
    return *b != NULL;
}

/* Ends C: off the table and the heap, then its callback (which may start new calls); no
 * callback when ST is NULL (a call that was never submitted). A parked reply that is not the
 * one it ends with is released. */
static void call_end(mrpc_ctx_t *ctx, struct lib_call *c, const mrpc_status_t *st,
                     const ProtobufCMessage *reply)
{
    phx_idtable_remove(&ctx->calls, c->id);
    lib_deadlines_remove(&ctx->deadlines, c);
    if (c->parked && c->parked_reply && c->parked_reply != reply)
        mrpc_release(ctx, c->parked_reply);
    if (c->done && st)
        c->done(ctx, c->token, st, reply);
    else if (reply)
        mrpc_release(ctx, reply);
    free(c);
}

static int timeout_of(const mrpc_ctx_t *ctx, const mrpc_call_opts_t *opts)
{
    if (opts && (opts->field_mask & MRPC_CALL_OPT_FIELD_TIMEOUT) && opts->timeout_ms > 0)
        return opts->timeout_ms;
    return (int)ctx->call_timeout_ms;
}

/* A new call in the table and the deadline heap; NULL when full. */
static struct lib_call *call_new(mrpc_ctx_t *ctx, int timeout_ms, mrpc_completion_fn done,
                                 void *token)
{
    struct lib_call *c = malloc(sizeof(*c));

    if (!c)
        return NULL;
    *c = (struct lib_call){ .deadline_ns = phx_now_ns() + (uint64_t)timeout_ms * NS_PER_MS,
                            .done = done, .token = token };
    if (!(c->id = phx_idtable_add(&ctx->calls, c))) {
        free(c);
        return NULL;
    }
    if (lib_deadlines_push(&ctx->deadlines, c) < 0) {
        phx_idtable_remove(&ctx->calls, c->id);
        free(c);
        return NULL;
    }
    return c;
}

/* Starts a call; on failure the request is freed (if it is in the send heap) and ST says why. */
static phx_status_t call_start(mrpc_conn_t *conn, const mrpc_method_desc_t *method,
                               const ProtobufCMessage *req, mrpc_completion_fn done, void *token,
                               const mrpc_call_opts_t *opts, mrpc_status_t *st)
{
    ProtobufCMessage *msg = (ProtobufCMessage *)req;    /* ours from here on */
    struct lib_buffer *borrowed = NULL;
    uint32_t service_id;

    if (!call_valid(conn, method, req, st) || !borrow_of(conn->ctx, opts, &borrowed, st)) {
        if (conn)
            mrpc_message_free(conn->ctx, msg);  /* frees only what the send heap holds */
        return st->code;
    }
    mrpc_ctx_t *ctx = conn->ctx;
    if (lib_localize(ctx, msg, "request", st) != PHX_OK) {
        mrpc_message_free(ctx, msg);
        return st->code;
    }
    int timeout_ms = timeout_of(ctx, opts);
    struct lib_call *c = NULL;
    if (lib_register_method(ctx, method, &service_id, st) == PHX_OK &&
        !(c = call_new(ctx, timeout_ms, done, token)))
        lib_status_set(st, PHX_RESOURCE_EXHAUSTED, "too many calls in flight");
    if (c && borrowed && lib_buffer_lend(ctx, borrowed, req) < 0) {
        call_end(ctx, c, NULL, NULL);
        c = NULL;
        lib_status_set(st, PHX_RESOURCE_EXHAUSTED, "out of memory for a borrowed buffer");
    }
    if (!c) {
        mrpc_message_free(ctx, msg);
        return st->code;
    }
    c->borrows = borrowed != NULL;
    c->conn_id = conn->ep.id;
    if (opts && (opts->field_mask & MRPC_CALL_OPT_FIELD_ID) && opts->id)
        *opts->id = c->id;
    phx_desc_t d = { .kind = MRPC_APP_CALL, .conn_id = conn->ep.id, .service_id = service_id,
                     .method_id = method->method_id, .call_id = c->id,
                     .addr = (uintptr_t)req, .len = method->input->sizeof_message };
    mrpc_app_set_call_timeout_ms(&d, (uint32_t)timeout_ms);
    lib_submit(ctx, &d);
    lib_status_set(st, PHX_OK, "OK");
    return PHX_OK;
}

mrpc_status_t mrpc_call_async(mrpc_conn_t *conn, const mrpc_method_desc_t *method,
                              const ProtobufCMessage *req, mrpc_completion_fn done, void *token,
                              const mrpc_call_opts_t *opts)
{
    mrpc_status_t st;

    call_start(conn, method, req, done, token, opts, &st);
    return st;
}

struct sync_call {
    bool                    done;
    mrpc_status_t           status;
    const ProtobufCMessage *reply;
};

static void sync_done(mrpc_ctx_t *ctx, void *token, const mrpc_status_t *status,
                      const ProtobufCMessage *reply)
{
    struct sync_call *s = token;

    s->status = *status;
    s->reply = reply;
    s->done = true;
}

mrpc_status_t mrpc_call(mrpc_conn_t *conn, const mrpc_method_desc_t *method,
                        const ProtobufCMessage *req, const ProtobufCMessage **reply,
                        const mrpc_call_opts_t *opts)
{
    struct sync_call s = { .done = false };

    if (reply)
        *reply = NULL;
    if (call_start(conn, method, req, sync_done, &s, opts, &s.status) != PHX_OK)
        return s.status;
    lib_wait_until(conn->ctx, &s.done, -1);     /* the deadline or the service's end stops it */
    if (reply)
        *reply = s.reply;
    else if (s.reply)
        mrpc_release(conn->ctx, s.reply);
    return s.status;
}



/* C's outcome came: it ends, unless it borrows a buffer the service still reads (parked). */
static void call_answered(mrpc_ctx_t *ctx, struct lib_call *c, const mrpc_status_t *st,
                          const ProtobufCMessage *reply)
{
    if (!c->borrows) {
        call_end(ctx, c, st, reply);
        return;
    }
    c->parked = true;
    c->parked_st = *st;
    c->parked_reply = reply;
}

void lib_calls_sent(mrpc_ctx_t *ctx, uint64_t call_id)
{
    struct lib_call *c = phx_idtable_get(&ctx->calls, call_id);

    if (!c || !c->borrows)
        return;
    c->borrows = false;
    if (c->parked)
        call_end(ctx, c, &c->parked_st, c->parked_reply);
}

void lib_on_reply(mrpc_ctx_t *ctx, const phx_desc_t *d)
{
    struct lib_call *c = phx_idtable_get(&ctx->calls, d->call_id);
    mrpc_status_t st = { .code = PHX_OK, .message = "OK" };

    if (!c || c->parked) {
        lib_release_addr(ctx, d->addr);     /* late: the call already ended */
        return;
    }
    if (d->status != PHX_OK) {
        lib_take_text(ctx, d, &st);
        call_answered(ctx, c, &st, NULL);
        return;
    }
    if (!lib_in_recv_heap(ctx, d->addr, d->len) || !d->addr) {
        lib_status_set(&st, PHX_INTERNAL, "the service delivered a reply outside the receive "
                       "heap");
        call_answered(ctx, c, &st, NULL);
        return;
    }
    call_answered(ctx, c, &st, (const ProtobufCMessage *)(uintptr_t)d->addr);
}

phx_status_t mrpc_cancel(mrpc_ctx_t *ctx, mrpc_call_id_t call)
{
    struct lib_call *c = ctx && call ? phx_idtable_get(&ctx->calls, call) : NULL;
    mrpc_status_t st;

    if (!c)
        return PHX_NOT_FOUND;
    phx_desc_t d = { .kind = MRPC_APP_CANCEL, .conn_id = c->conn_id, .call_id = c->id };
    lib_submit(ctx, &d);                /* the service forgets it too */
    lib_status_set(&st, PHX_CANCELLED, "the call was cancelled");
    call_end(ctx, c, &st, NULL);
    return PHX_OK;
}

int lib_calls_expire(mrpc_ctx_t *ctx)
{
    uint64_t now = phx_now_ns();
    struct lib_call *c;
    int n = 0;

    while ((c = lib_deadlines_top(&ctx->deadlines)) && c->deadline_ns <= now) {
        mrpc_status_t st;
        lib_status_set(&st, PHX_DEADLINE_EXCEEDED, "no reply before the call's deadline");
        call_end(ctx, c, &st, NULL);
        n++;
    }
    return n;
}

int lib_calls_next_deadline_ms(mrpc_ctx_t *ctx)
{
    struct lib_call *c = lib_deadlines_top(&ctx->deadlines);
    uint64_t now = phx_now_ns();

    if (!c)
        return -1;
    if (c->deadline_ns <= now)
        return 0;
    uint64_t ms = (c->deadline_ns - now + NS_PER_MS - 1) / NS_PER_MS;
    return ms > INT32_MAX ? INT32_MAX : (int)ms;
}

void lib_calls_fail_all(mrpc_ctx_t *ctx, phx_status_t code, const char *why)
{
    struct lib_call *c;
    mrpc_status_t st;

    lib_status_set(&st, code, "%s", why);
    while ((c = lib_deadlines_top(&ctx->deadlines)))    /* every call is in the heap */
        call_end(ctx, c, &st, NULL);
}

void lib_calls_fini(mrpc_ctx_t *ctx)
{
    struct lib_call *c;

    while ((c = lib_deadlines_top(&ctx->deadlines))) {
        lib_deadlines_remove(&ctx->deadlines, c);
        free(c);
    }
    lib_deadlines_fini(&ctx->deadlines);
    phx_idtable_fini(&ctx->calls);
}
