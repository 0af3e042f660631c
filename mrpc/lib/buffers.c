/* buffers.c - long-lived blocks of the send heap that calls borrow (mrpc_buffer_*).
 *
 * An app that sends large data from one place again and again (MPI_Alloc_mem'd memory) keeps
 * it in a buffer: a send-heap block that is never freed with a message. A request's field points
 * into it, the call names it (MRPC_CALL_OPT_FIELD_BORROW), and the service reads the bytes where
 * they are, checking them against the send heap as it checks every message (app_proto.h): no
 * copy on either side. The buffer counts the calls whose requests the service may still read
 * (BUSY: from the call's submission to its SEND_DONE, kept by request address in `borrows`), so
 * that it is never freed while the service reads it. Buffers are found by their start in
 * `buffers`; by an address inside them by a walk of that map (an app has a few). */
#include "mrpc_lib.h"

#include <stdlib.h>

#define LIB_MAX_BUFFERS 65536u

void lib_buffers_init(mrpc_ctx_t *ctx)
{
    phx_u64map_init(&ctx->buffers, LIB_MAX_BUFFERS);
    phx_u64map_init(&ctx->borrows, LIB_MAX_CALLS);
}

static void free_one(void *arg, uint64_t key, uint64_t value)
{
    (void)arg, (void)key;
    free((void *)(uintptr_t)value);
}

void lib_buffers_fini(mrpc_ctx_t *ctx)
{
    phx_u64map_each(&ctx->buffers, free_one, NULL);     /* the heap goes with the registration */
    phx_u64map_fini(&ctx->buffers);
    phx_u64map_fini(&ctx->borrows);
}

struct lib_buffer *lib_buffer_get(const mrpc_ctx_t *ctx, const void *base)
{
    return phx_u64map_get_ptr(&ctx->buffers, (uint64_t)(uintptr_t)base);
}

bool lib_buffer_is(const mrpc_ctx_t *ctx, const void *ptr)
{
    return ptr && lib_buffer_get(ctx, ptr);
}

void *mrpc_buffer_alloc(mrpc_ctx_t *ctx, size_t size)
{
    struct lib_buffer *b = ctx && size ? malloc(sizeof(*b)) : NULL;
    void *base = b ? phx_heap_alloc(ctx->heap, size) : NULL;

    if (base && phx_u64map_put(&ctx->buffers, (uint64_t)(uintptr_t)base, (uintptr_t)b) == 0) {
        *b = (struct lib_buffer){ .base = base, .size = size };
        return base;
    }
    if (base)
        phx_heap_free(ctx->heap, base);
    free(b);
    return NULL;
}

struct find {
    uintptr_t lo, hi;
    void     *found;
};

static void find_one(void *arg, uint64_t key, uint64_t value)
{
    struct find *f = arg;
    const struct lib_buffer *b = (const struct lib_buffer *)(uintptr_t)value;

    if (f->lo >= key && f->hi <= key + b->size)
        f->found = b->base;
}

void *mrpc_buffer_find(mrpc_ctx_t *ctx, const void *ptr, size_t len)
{
    struct find f = { .lo = (uintptr_t)ptr, .hi = (uintptr_t)ptr + len };

    if (!ctx || !ptr || f.hi < f.lo)
        return NULL;
    phx_u64map_each(&ctx->buffers, find_one, &f);
    return f.found;
}

int mrpc_buffer_busy(mrpc_ctx_t *ctx, const void *buf)
{
    const struct lib_buffer *b = ctx ? lib_buffer_get(ctx, buf) : NULL;

    return b ? (int)b->busy : -1;
}

phx_status_t mrpc_buffer_free(mrpc_ctx_t *ctx, void *buf)
{
    struct lib_buffer *b = ctx ? lib_buffer_get(ctx, buf) : NULL;

    if (!b)
        return PHX_INVALID_ARGUMENT;
    if (b->busy)
        return PHX_FAILED_PRECONDITION;
    phx_u64map_remove(&ctx->buffers, (uint64_t)(uintptr_t)buf, NULL);
    phx_heap_free(ctx->heap, buf);
    free(b);
    return PHX_OK;
}

int lib_buffer_lend(mrpc_ctx_t *ctx, struct lib_buffer *b, const void *req)
{
    if (phx_u64map_put(&ctx->borrows, (uint64_t)(uintptr_t)req, (uintptr_t)b) < 0)
        return -1;
    b->busy++;
    return 0;
}

void lib_buffer_returned(mrpc_ctx_t *ctx, uint64_t req)
{
    uint64_t v;

    if (phx_u64map_remove(&ctx->borrows, req, &v))
        ((struct lib_buffer *)(uintptr_t)v)->busy--;
}

static void idle_one(void *arg, uint64_t key, uint64_t value)
{
    (void)arg, (void)key;
    ((struct lib_buffer *)(uintptr_t)value)->busy = 0;
}

void lib_buffers_service_gone(mrpc_ctx_t *ctx)
{
    phx_u64map_each(&ctx->buffers, idle_one, NULL);     /* nobody reads them any more */
    phx_u64map_fini(&ctx->borrows);
}
