/* mrpc_double.c - the recording stand-ins of mrpc_double.h: record, then answer as told; and the
 * send heap: malloc'd blocks listed in a table, so that freeing ignores what is not ours (as the
 * real heap's protobuf-c allocator does) and capacity is the block's size. */
#include "mrpc_double.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

mrpc_double_t mrpc_double;

void mrpc_double_reset(void)
{
    memset(&mrpc_double, 0, sizeof(mrpc_double));
    mrpc_double.heap.fail_after = -1;
}

/* ---- the send heap ------------------------------------------------------------------------ */

#define MAX_BLOCKS 65536

static struct block { void *p; size_t size; } blocks[MAX_BLOCKS];
static size_t n_blocks;

static struct block *find_block(const void *p)
{
    for (size_t i = 0; p && i < n_blocks; i++)
        if (blocks[i].p == p)
            return &blocks[i];
    return NULL;
}

size_t mrpc_double_heap_live(void)
{
    return n_blocks;
}

void mrpc_double_heap_clear(void)
{
    while (n_blocks)
        free(blocks[--n_blocks].p);
}

int mrpc_double_heap_owns(const void *p)
{
    return find_block(p) != NULL;
}

void *mrpc_alloc(mrpc_ctx_t *ctx, size_t size)
{
    if (mrpc_double.heap.fail_after == 0 || n_blocks == MAX_BLOCKS)
        return NULL;
    if (mrpc_double.heap.fail_after > 0)
        mrpc_double.heap.fail_after--;
    void *p = calloc(1, size ? size : 1);
    if (p)
        blocks[n_blocks++] = (struct block){ p, size };
    return p;
}

static void heap_free(void *data, void *p)
{
    struct block *b = find_block(p);
    if (!b)
        return;
    free(p);
    *b = blocks[--n_blocks];
}

static void *heap_alloc(void *data, size_t size)
{
    return mrpc_alloc(data, size);
}

ProtobufCMessage *mrpc_message_new(mrpc_ctx_t *ctx, const ProtobufCMessageDescriptor *desc)
{
    ProtobufCMessage *msg = mrpc_alloc(ctx, desc->sizeof_message);
    if (msg)
        protobuf_c_message_init(desc, msg);
    return msg;
}

char *mrpc_strdup(mrpc_ctx_t *ctx, const char *s)
{
    char *copy = mrpc_alloc(ctx, strlen(s) + 1);
    if (copy)
        memcpy(copy, s, strlen(s) + 1);
    return copy;
}

int mrpc_bytes_set(mrpc_ctx_t *ctx, ProtobufCBinaryData *field, const void *data, size_t len)
{
    uint8_t *copy = len ? mrpc_alloc(ctx, len) : NULL;
    if (len && !copy)
        return -ENOMEM;
    if (len)
        memcpy(copy, data, len);
    field->data = copy;
    field->len = len;
    return 0;
}

void *mrpc_repeated_add(mrpc_ctx_t *ctx, void *field, size_t *n_field, size_t elem_size)
{
    void *array;
    memcpy(&array, field, sizeof(array));
    struct block *b = find_block(array);
    size_t n = *n_field, cap = b ? b->size / elem_size : 0;
    mrpc_double.heap.added++;
    if (n >= cap) {
        void *grown = mrpc_alloc(ctx, (n < 4 ? 4 : 2 * n) * elem_size);
        if (!grown)
            return NULL;
        if (n)
            memcpy(grown, array, n * elem_size);
        heap_free(ctx, array);
        array = grown;
        memcpy(field, &array, sizeof(array));
        mrpc_double.heap.moved++;
    }
    char *slot = (char *)array + n * elem_size;
    memset(slot, 0, elem_size);
    *n_field = n + 1;
    return slot;
}

void mrpc_message_free(mrpc_ctx_t *ctx, ProtobufCMessage *msg)
{
    ProtobufCAllocator a = { .alloc = heap_alloc, .free = heap_free, .allocator_data = ctx };
    if (msg && find_block(msg))
        protobuf_c_message_free_unpacked(msg, &a);
}

/* The real deep copy (libmrpc's mrpc_copy_out, the same walk as mrpc_message_copy), into the
 * double's heap: the builders' copies are tested against libmrpc's one copy, not a twin. */
ProtobufCMessage *mrpc_message_copy(mrpc_ctx_t *ctx, const ProtobufCMessageDescriptor *desc,
                                    const ProtobufCMessage *src)
{
    ProtobufCAllocator a = { .alloc = heap_alloc, .free = heap_free, .allocator_data = ctx };

    if (!src || src->descriptor != desc)
        return NULL;
    return mrpc_copy_out(src, &a);
}

mrpc_status_t mrpc_call(mrpc_conn_t *conn, const mrpc_method_desc_t *method,
                        const ProtobufCMessage *req, const ProtobufCMessage **reply,
                        const mrpc_call_opts_t *opts)
{
    mrpc_double.call.count++;
    mrpc_double.call.conn = conn;
    mrpc_double.call.method = method;
    mrpc_double.call.req = req;
    mrpc_double.call.reply_wanted = reply != NULL;
    mrpc_double.call.opts = opts;
    if (reply)
        *reply = mrpc_double.call.answer_reply;
    return mrpc_double.call.answer;
}

mrpc_status_t mrpc_call_async(mrpc_conn_t *conn, const mrpc_method_desc_t *method,
                              const ProtobufCMessage *req, mrpc_completion_fn done, void *token,
                              const mrpc_call_opts_t *opts)
{
    mrpc_double.call_async.count++;
    mrpc_double.call_async.conn = conn;
    mrpc_double.call_async.method = method;
    mrpc_double.call_async.req = req;
    mrpc_double.call_async.done = done;
    mrpc_double.call_async.token = token;
    mrpc_double.call_async.opts = opts;
    return mrpc_double.call_async.answer;
}

void mrpc_call_set_error(mrpc_call_t *call, phx_status_t code, const char *message)
{
    mrpc_double.set_error.count++;
    mrpc_double.set_error.call = call;
    mrpc_double.set_error.code = code;
    snprintf(mrpc_double.set_error.message, sizeof(mrpc_double.set_error.message), "%s",
             message ? message : "");
}

mrpc_status_t mrpc_server_add_service(mrpc_server_t *server, const mrpc_service_desc_t *service,
                                      const void *handlers, void *impl)
{
    mrpc_double.add_service.count++;
    mrpc_double.add_service.server = server;
    mrpc_double.add_service.service = service;
    mrpc_double.add_service.handlers = handlers;
    mrpc_double.add_service.impl = impl;
    return mrpc_double.add_service.answer;
}
