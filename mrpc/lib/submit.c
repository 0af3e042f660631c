/* submit.c - submissions to the service, and the local queue in front of a full ring.
 *
 * The submission ring is bounded (its depth is the service's), yet an app may start far more
 * calls than it holds. A submission that does not fit waits in a FIFO here, and so does every
 * later one until the queue is empty again, so the service sees them in the order they were
 * made (a layout registration before the call that needs it). The queue is the app's own memory
 * and grows as needed; progress moves it into the ring as the service makes room.
 *
 * The doorbell. A submission made on its own (the app's code calling) is pushed and the
 * service's doorbell rung at once (it rings only if the service sleeps: ring.h). Submissions
 * made while ctx.c dispatches a batch of completions (callbacks answering calls, releasing
 * replies, making the next calls) are pushed without it and the doorbell is rung once, when the
 * batch ends (lib_batch_end), or when a callback of the batch calls mrpc_ctx_progress() (to
 * wait or to poll: ctx.c rings on entry, before a wait and on return): one wake-up of a sleeping
 * service for the whole batch, which then finds every submission of it in one pass (and sends
 * the small ones in one message, docs/transport.md) instead of waking, preempting this process
 * on a shared core and taking them one at a time. Nothing waits for more: the batch is what the
 * app popped at once, and the doorbell rings as soon as it has been handled. */
#include "mrpc_lib.h"

#include <stdlib.h>

#define PENDING_MIN_CAP 256u

static bool pending_grow(mrpc_ctx_t *ctx)
{
    size_t cap = ctx->pending_cap ? 2 * ctx->pending_cap : PENDING_MIN_CAP;
    phx_desc_t *d = malloc(cap * sizeof(*d));

    if (!d)
        return false;
    for (size_t i = 0; i < ctx->pending_count; i++)
        d[i] = ctx->pending[(ctx->pending_head + i) % ctx->pending_cap];
    free(ctx->pending);
    ctx->pending = d;
    ctx->pending_cap = cap;
    ctx->pending_head = 0;
    return true;
}

static void pending_push(mrpc_ctx_t *ctx, const phx_desc_t *d)
{
    if (ctx->pending_count == ctx->pending_cap && !pending_grow(ctx)) {
        lib_service_gone(ctx);      /* out of memory: nothing can be kept in order any more */
        return;
    }
    ctx->pending[(ctx->pending_head + ctx->pending_count) % ctx->pending_cap] = *d;
    ctx->pending_count++;
}

void lib_doorbell(mrpc_ctx_t *ctx)
{
    if (!ctx->ring_owed)
        return;
    ctx->ring_owed = false;
    phx_client_notify(ctx->client);
}

void lib_batch_begin(mrpc_ctx_t *ctx)
{
    ctx->batching++;
}

void lib_batch_end(mrpc_ctx_t *ctx)
{
    if (--ctx->batching == 0)
        lib_doorbell(ctx);
}

/* Pushes up to N submissions, ringing now or owing the ring while a batch is dispatched. */
static int push(mrpc_ctx_t *ctx, const phx_desc_t *d, unsigned n)
{
    int pushed = phx_client_push(ctx->client, d, n);

    if (pushed < 0)
        lib_service_gone(ctx);
    if (pushed > 0) {
        ctx->ring_owed = true;
        if (!ctx->batching)
            lib_doorbell(ctx);
    }
    return pushed;
}

void lib_submit(mrpc_ctx_t *ctx, const phx_desc_t *d)
{
    if (ctx->dead)
        return;
    if (ctx->pending_count == 0 && push(ctx, d, 1) != 0)
        return;
    pending_push(ctx, d);
}

void lib_submit_flush(mrpc_ctx_t *ctx)
{
    while (ctx->pending_count && !ctx->dead) {
        size_t run = ctx->pending_cap - ctx->pending_head;     /* contiguous part */
        if (run > ctx->pending_count)
            run = ctx->pending_count;
        int n = push(ctx, &ctx->pending[ctx->pending_head], (unsigned)run);
        if (n <= 0)
            return;
        ctx->pending_head = (ctx->pending_head + (size_t)n) % ctx->pending_cap;
        ctx->pending_count -= (size_t)n;
        if ((size_t)n < run)
            return;
    }
}

void lib_submit_fini(mrpc_ctx_t *ctx)
{
    free(ctx->pending);
    ctx->pending = NULL;
    ctx->pending_cap = ctx->pending_head = ctx->pending_count = 0;
}
