/* ctx.c - an mRPC context: one registration with the local service, and its progress loop.
 *
 * mrpc_ctx_create() registers for the service "mrpc" (phx_client_register: rings and heaps
 * mapped at the service's addresses) and waits for the engine's WELCOME, which carries the
 * service's default call timeout and largest message. From then on everything happens in
 * mrpc_ctx_progress(): it hands queued submissions to the ring, pops completions and dispatches
 * each to the file that owns its kind (a reply to calls.c, an incoming call to server.c, ...),
 * and fails calls whose deadline passed. When there is nothing to do it sleeps in
 * phx_client_wait(), which spins briefly and then blocks on the completion doorbell, never
 * longer than the next call deadline, and only in short slices while submissions wait for room
 * in the ring (a ring that drains does not ring our doorbell). The control socket hanging up
 * means the service is gone: every call fails with UNAVAILABLE and progress returns -1.
 *
 * Callbacks and handlers run inside progress and may themselves call (even blocking calls): the
 * loop keeps no state across a dispatch but its local batch. */
#include "mrpc_lib.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void lib_status_set(mrpc_status_t *st, phx_status_t code, const char *fmt, ...)
{
    va_list ap;

    if (!st)
        return;
    st->code = code;
    va_start(ap, fmt);
    vsnprintf(st->message, sizeof(st->message), fmt, ap);
    va_end(ap);
}

/* ---- dispatching completions ------------------------------------------------------------ */

static void on_welcome(mrpc_ctx_t *ctx, const phx_desc_t *d)
{
    ctx->welcomed = true;
    ctx->service_proto = d->proto_version;
    ctx->call_timeout_ms = d->service_timeout_ms && d->service_timeout_ms <= INT32_MAX
                               ? (uint32_t)d->service_timeout_ms : 30000;
    ctx->max_message = d->len;
}

/* An ERROR completion answers a submission nothing else answers (a RELEASE of a bad address):
 * libmrpc never makes those on purpose, so there is nobody to tell; the text goes back. */
static void on_error(mrpc_ctx_t *ctx, const phx_desc_t *d)
{
    mrpc_status_t ignored;

    lib_take_text(ctx, d, &ignored);
}

static void dispatch(mrpc_ctx_t *ctx, const phx_desc_t *d)
{
    switch (d->kind) {
    case MRPC_APP_WELCOME:
        on_welcome(ctx, d);
        break;
    case MRPC_APP_REGISTERED:
        lib_on_registered(ctx, d);
        break;
    case MRPC_APP_BOUND:
    case MRPC_APP_CONNECTED:
        lib_on_endpoint(ctx, d);
        break;
    case MRPC_APP_INCOMING_CALL:
        lib_on_incoming_call(ctx, d);
        break;
    case MRPC_APP_REPLY_RECEIVED:
        lib_on_reply(ctx, d);
        break;
    case MRPC_APP_SEND_DONE:
        lib_sent_done(ctx, d);
        break;
    case MRPC_APP_ERROR:
        on_error(ctx, d);
        break;
    case PHX_DESC_SHUTDOWN:
        lib_service_gone(ctx);
        break;
    }
}

/* What the callbacks submit reaches the service with one doorbell, after the batch (submit.c). */
static void dispatch_batch(mrpc_ctx_t *ctx, const phx_desc_t *batch, int n)
{
    lib_batch_begin(ctx);
    for (int i = 0; i < n; i++)
        dispatch(ctx, &batch[i]);
    lib_batch_end(ctx);
}

/* Handles what the completion ring holds, up to LIB_DRAIN_MAX; returns how many. */
static int drain(mrpc_ctx_t *ctx)
{
    phx_desc_t batch[LIB_BATCH];
    int total = 0;

    while (!ctx->dead && total < (int)LIB_DRAIN_MAX) {
        int n = phx_client_poll(ctx->client, batch, LIB_BATCH);
        if (n < 0)
            lib_service_gone(ctx);
        if (n <= 0)
            break;
        dispatch_batch(ctx, batch, n);
        total += n;
        lib_submit_flush(ctx);      /* answers to incoming calls, releases */
    }
    return total;
}

void lib_service_gone(mrpc_ctx_t *ctx)
{
    if (ctx->dead)
        return;
    ctx->dead = true;
    lib_buffers_service_gone(ctx);
    lib_calls_fail_all(ctx, PHX_UNAVAILABLE, "the mRPC service went away");
}

/* ---- waiting ---------------------------------------------------------------------------- */

/* How long one sleep may last: until DEADLINE_NS (0: none), the next call deadline, and only a
 * millisecond while submissions wait for room in the ring. */
static int sleep_ms(mrpc_ctx_t *ctx, uint64_t deadline_ns)
{
    int ms = -1;

    if (deadline_ns) {
        uint64_t now = phx_now_ns();
        ms = deadline_ns > now ? (int)((deadline_ns - now + 999999) / 1000000) : 0;
    }
    ms = phx_timeout_min(ms, lib_calls_next_deadline_ms(ctx));
    return ctx->pending_count ? phx_timeout_min(ms, 1) : ms;
}

static uint64_t deadline_after(int timeout_ms)
{
    return timeout_ms < 0 ? 0 : phx_now_ns() + (uint64_t)timeout_ms * 1000000ull;
}

int mrpc_ctx_progress(mrpc_ctx_t *ctx, int timeout_ms)
{
    uint64_t deadline = deadline_after(timeout_ms);
    phx_desc_t batch[LIB_BATCH];

    if (ctx->dead)
        return -1;
    /* Called from a callback, what its batch submitted so far is rung here, before any wait
     * and on the way out, so that a callback polling with timeout 0 is heard too (submit.c). */
    lib_submit_flush(ctx);
    lib_doorbell(ctx);
    int handled = drain(ctx) + lib_calls_expire(ctx);
    while (!handled && timeout_ms != 0 && !ctx->dead) {
        lib_doorbell(ctx);
        int n = phx_client_wait(ctx->client, batch, LIB_BATCH, sleep_ms(ctx, deadline));
        if (n < 0)
            lib_service_gone(ctx);
        if (n > 0) {
            dispatch_batch(ctx, batch, n);
            handled += n + drain(ctx);
        }
        handled += lib_calls_expire(ctx);
        lib_submit_flush(ctx);
        if (deadline && phx_now_ns() >= deadline)
            break;
    }
    lib_submit_flush(ctx);
    lib_doorbell(ctx);
    return ctx->dead ? -1 : handled;
}

void lib_wait_until(mrpc_ctx_t *ctx, const bool *done, int timeout_ms)
{
    uint64_t deadline = deadline_after(timeout_ms);

    while (!*done && !ctx->dead) {
        uint64_t now = phx_now_ns();
        if (deadline && now >= deadline)
            break;
        mrpc_ctx_progress(ctx, deadline ? (int)((deadline - now + 999999) / 1000000) : -1);
    }
}

/* ---- the context ------------------------------------------------------------------------ */

static phx_status_t status_of_errno(int err)
{
    switch (err) {
    case EACCES:
    case EPERM:
        return PHX_PERMISSION_DENIED;
    case EBUSY:
        return PHX_RESOURCE_EXHAUSTED;
    case EINVAL:
        return PHX_INVALID_ARGUMENT;
    default:
        return PHX_UNAVAILABLE;     /* no service, or none with mRPC loaded */
    }
}

static bool ctx_register(mrpc_ctx_t *ctx, const mrpc_ctx_params_t *params, mrpc_status_t *st)
{
    struct phx_client_params cp = { .field_mask = PHX_CLIENT_PARAM_FIELD_SERVICE,
                                    .service = "mrpc" };
    char err[sizeof(st->message)];

    if (params && (params->field_mask & MRPC_CTX_PARAM_FIELD_PREFIX)) {
        cp.field_mask |= PHX_CLIENT_PARAM_FIELD_PREFIX;
        cp.prefix = params->prefix;
    }
    if (!(ctx->client = phx_client_register(&cp, err, sizeof(err)))) {
        lib_status_set(st, status_of_errno(errno), "%s", err);
        return false;
    }
    ctx->heap = phx_client_send_heap(ctx->client);
    ctx->recv_lo = (uintptr_t)phx_client_recv_base(ctx->client);
    ctx->recv_hi = ctx->recv_lo + phx_client_recv_size(ctx->client);
    return true;
}

mrpc_ctx_t *mrpc_ctx_create(const mrpc_ctx_params_t *params, mrpc_status_t *status)
{
    mrpc_ctx_t *ctx = calloc(1, sizeof(*ctx));

    if (!ctx) {
        lib_status_set(status, PHX_RESOURCE_EXHAUSTED, "out of memory");
        return NULL;
    }
    phx_u64map_init(&ctx->registered, LIB_MAX_CALLS);
    phx_u64map_init(&ctx->registrations, LIB_MAX_CALLS);
    phx_u64map_init(&ctx->endpoints, MRPC_CONN_ACCEPTED_BASE);
    phx_u64map_init(&ctx->methods, LIB_MAX_CALLS);
    phx_idtable_init(&ctx->calls, LIB_MAX_CALLS);
    lib_buffers_init(ctx);
    if (!ctx_register(ctx, params, status)) {
        mrpc_ctx_destroy(ctx);
        return NULL;
    }
    lib_messages_init(ctx);
    lib_wait_until(ctx, &ctx->welcomed, LIB_WELCOME_WAIT_MS);
    if (!ctx->welcomed || ctx->service_proto != MRPC_APP_PROTO_VERSION) {
        if (ctx->welcomed)
            lib_status_set(status, PHX_FAILED_PRECONDITION, "the mRPC service speaks protocol "
                           "version %llu, this libmrpc %u: upgrade one of them",
                           (unsigned long long)ctx->service_proto, MRPC_APP_PROTO_VERSION);
        else
            lib_status_set(status, PHX_UNAVAILABLE, "the mRPC service did not greet this app "
                           "within %d ms", LIB_WELCOME_WAIT_MS);
        mrpc_ctx_destroy(ctx);
        return NULL;
    }
    lib_status_set(status, PHX_OK, "OK");
    return ctx;
}

void mrpc_ctx_destroy(mrpc_ctx_t *ctx)
{
    if (!ctx)
        return;
    lib_servers_fini(ctx);
    lib_endpoints_fini(ctx);
    lib_calls_fini(ctx);
    lib_submit_fini(ctx);
    lib_layouts_fini(ctx);
    lib_buffers_fini(ctx);
    phx_u64map_fini(&ctx->methods);
    phx_client_close(ctx->client);      /* the service frees everything it held for us */
    free(ctx);
}

int mrpc_ctx_event_fd(mrpc_ctx_t *ctx)
{
    return phx_client_event_fd(ctx->client);
}
