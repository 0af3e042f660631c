/* messages.c - messages in the send heap, received ones in the receive heap, and copies.
 *
 * Outgoing messages are ordinary protobuf-c structs whose every piece is allocated from the send
 * heap (mrpc_message_new, mrpc_allocator and the shortcuts), because the service reads them
 * there, by pointer. Once a message has been handed to mrpc_call/REPLY it belongs to libmrpc,
 * which frees it when the service says it is done with it (SEND_DONE).
 *
 * Freeing walks the message with protobuf_c_message_free_unpacked() through `free_alloc`, an
 * allocator whose free() only frees live blocks of the send heap: a message may hold pieces that
 * are not the heap's (a default string of protobuf-c, a static buffer the app pointed at, a piece
 * of a received message), and those are left alone instead of being handed to the heap, which
 * would complain, or to free(), which would be wrong. A buffer of mrpc_buffer_alloc() is not the
 * message's either: it lives until mrpc_buffer_free().
 *
 * Received messages are const views into the receive heap, mapped read-only: mrpc_release()
 * gives one back, mrpc_copy_out() (copy.c) makes a private writable copy. */
#include "mrpc_lib.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *heap_alloc(void *ctx, size_t size)
{
    return phx_heap_alloc(((mrpc_ctx_t *)ctx)->heap, size);
}

/* A buffer (buffers.c) is never freed with a message that points at it. */
static void heap_free_if_ours(void *ctx, void *ptr)
{
    phx_heap_t *heap = ((mrpc_ctx_t *)ctx)->heap;

    if (ptr && phx_heap_usable_size(heap, ptr) && !lib_buffer_is(ctx, ptr))
        phx_heap_free(heap, ptr);
}

void lib_messages_init(mrpc_ctx_t *ctx)
{
    ctx->free_alloc = (ProtobufCAllocator){ .alloc = heap_alloc, .free = heap_free_if_ours,
                                            .allocator_data = ctx };
}

ProtobufCMessage *mrpc_message_new(mrpc_ctx_t *ctx, const ProtobufCMessageDescriptor *desc)
{
    ProtobufCMessage *msg = desc ? phx_heap_alloc(ctx->heap, desc->sizeof_message) : NULL;

    if (msg)
        protobuf_c_message_init(desc, msg);
    return msg;
}

ProtobufCAllocator *mrpc_allocator(mrpc_ctx_t *ctx)
{
    return phx_heap_protobuf_allocator(ctx->heap);
}

void *mrpc_alloc(mrpc_ctx_t *ctx, size_t size)
{
    return phx_heap_alloc(ctx->heap, size);
}

char *mrpc_strdup(mrpc_ctx_t *ctx, const char *s)
{
    size_t len = strlen(s) + 1;
    char *copy = phx_heap_alloc(ctx->heap, len);

    if (copy)
        memcpy(copy, s, len);
    return copy;
}

int mrpc_bytes_set(mrpc_ctx_t *ctx, ProtobufCBinaryData *field, const void *data, size_t len)
{
    uint8_t *copy = len ? phx_heap_alloc(ctx->heap, len) : NULL;

    if (len && !copy)
        return -ENOMEM;
    if (len)
        memcpy(copy, data, len);
    field->data = copy;
    field->len = len;
    return 0;
}

int mrpc_repeated_alloc(mrpc_ctx_t *ctx, void *field, size_t *n_field, size_t elem_size,
                        size_t count)
{
    void *array = count ? phx_heap_calloc(ctx->heap, count, elem_size) : NULL;

    if (count && !array)
        return -ENOMEM;
    memcpy(field, &array, sizeof(array));       /* FIELD is a `T *` member of any T */
    *n_field = count;
    return 0;
}

/* Capacity is not stored anywhere protobuf-c would see (it keeps only n_FIELD): it is what the
 * heap says the array's block can hold, so arrays sized by mrpc_repeated_alloc() or grown here
 * both work, and an array that is not ours (static, received) is copied before it grows. */
void *mrpc_repeated_add(mrpc_ctx_t *ctx, void *field, size_t *n_field, size_t elem_size)
{
    void *array;
    size_t n = *n_field;

    memcpy(&array, field, sizeof(array));
    size_t cap = array && elem_size ? phx_heap_usable_size(ctx->heap, array) / elem_size : 0;
    if (!elem_size || n >= SIZE_MAX / 2 / elem_size)
        return NULL;
    if (n >= cap) {
        void *grown = phx_heap_alloc(ctx->heap, (n < 4 ? 4 : 2 * n) * elem_size);
        if (!grown)
            return NULL;
        if (n)
            memcpy(grown, array, n * elem_size);
        heap_free_if_ours(ctx, array);
        array = grown;
        memcpy(field, &array, sizeof(array));
    }
    char *slot = (char *)array + n * elem_size;
    memset(slot, 0, elem_size);
    *n_field = n + 1;
    return slot;
}

void mrpc_message_free(mrpc_ctx_t *ctx, ProtobufCMessage *msg)
{
    if (msg && phx_heap_usable_size(ctx->heap, msg))
        protobuf_c_message_free_unpacked(msg, &ctx->free_alloc);
}

void lib_sent_done(mrpc_ctx_t *ctx, const phx_desc_t *d)
{
    void *sent = (void *)(uintptr_t)d->addr;

    if (d->flags == MRPC_APP_REPLY && d->user == LIB_SENT_TEXT) {
        heap_free_if_ours(ctx, sent);
        return;
    }
    if (d->flags == MRPC_APP_REPLY && d->status != PHX_OK)
        lib_reply_not_sent(ctx, d);     /* its caller got an error: the server is told */
    mrpc_message_free(ctx, sent);
    if (d->flags == MRPC_APP_CALL) {
        lib_buffer_returned(ctx, d->addr);
        lib_calls_sent(ctx, d->call_id);   /* a borrowing call may complete now */
    }
}

/* ---- received messages ------------------------------------------------------------------- */

bool lib_in_recv_heap(const mrpc_ctx_t *ctx, uint64_t addr, uint64_t len)
{
    return addr >= ctx->recv_lo && addr < ctx->recv_hi && len <= ctx->recv_hi - addr;
}

void lib_release_addr(mrpc_ctx_t *ctx, uint64_t addr)
{
    phx_desc_t d = { .kind = MRPC_APP_RELEASE, .addr = addr };

    if (addr && lib_in_recv_heap(ctx, addr, 1))
        lib_submit(ctx, &d);
}

void mrpc_release(mrpc_ctx_t *ctx, const ProtobufCMessage *msg)
{
    lib_release_addr(ctx, (uint64_t)(uintptr_t)msg);
}

void lib_take_text(mrpc_ctx_t *ctx, const phx_desc_t *d, mrpc_status_t *st)
{
    st->code = (phx_status_t)d->status;
    if (d->addr && d->len && lib_in_recv_heap(ctx, d->addr, d->len)) {
        size_t n = d->len < sizeof(st->message) ? (size_t)d->len : sizeof(st->message);
        memcpy(st->message, (const void *)(uintptr_t)d->addr, n);
        st->message[n - 1] = '\0';
    } else if (d->status != PHX_OK && !d->addr) {      /* app_proto.h: no room for the text */
        snprintf(st->message, sizeof(st->message), "%s (the receive heap had no room for the "
                 "reason: release received messages with mrpc_release)",
                 phx_status_name(d->status));
    } else {
        snprintf(st->message, sizeof(st->message), "%s", phx_status_name(d->status));
    }
    lib_release_addr(ctx, d->addr);
}
