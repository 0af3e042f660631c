/* submit.c - submissions to the service, and the local queue in front of a full ring.
 *
 * The submission ring is bounded (its depth is the service's), yet an app may start far more
 * calls than it holds. A submission that does not fit waits in a FIFO here, and so does every
 * later one until the queue is empty again, so the service sees them in the order they were
 * made (a layout registration before the call that needs it). The queue is the app's own memory
 * and grows as needed; progress moves it into the ring as the service makes room. */
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

void lib_submit(mrpc_ctx_t *ctx, const phx_desc_t *d)
{
    if (ctx->dead)
        return;
    if (ctx->pending_count == 0) {
        int n = phx_client_submit(ctx->client, d, 1);
        if (n < 0)
            lib_service_gone(ctx);
        if (n != 0)
            return;
    }
    pending_push(ctx, d);
}

void lib_submit_flush(mrpc_ctx_t *ctx)
{
    while (ctx->pending_count && !ctx->dead) {
        size_t run = ctx->pending_cap - ctx->pending_head;     /* contiguous part */
        if (run > ctx->pending_count)
            run = ctx->pending_count;
        int n = phx_client_submit(ctx->client, &ctx->pending[ctx->pending_head], (unsigned)run);
        if (n < 0)
            lib_service_gone(ctx);
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
