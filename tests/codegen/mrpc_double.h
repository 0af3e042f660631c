/* mrpc_double.h - a recording stand-in for the libmrpc functions generated stubs call
 * (mrpc_call, mrpc_call_async, mrpc_call_set_error, mrpc_server_add_service), so the stubs can be
 * tested before and without the real library; and a malloc-backed send heap for the typed
 * builders (mrpc_message_new, mrpc_alloc, mrpc_strdup, mrpc_bytes_set, mrpc_repeated_add,
 * mrpc_message_free) that knows its live blocks, so tests can see what a builder allocated,
 * whether a pointer is the heap's, and make the heap run out.
 *
 * Each function stores its arguments in `mrpc_double` and answers what the test put there. The
 * opaque handles get test-only definitions here, so tests pass real, distinct objects instead of
 * made-up pointers; the stubs never look inside them. */
#ifndef MRPC_DOUBLE_H
#define MRPC_DOUBLE_H

#include "mrpc/mrpc.h"

struct mrpc_conn   { int tag; };
struct mrpc_server { int tag; };
struct mrpc_call   { int tag; };
struct mrpc_ctx    { int tag; };

typedef struct mrpc_double {
    struct {
        int                       count;
        mrpc_conn_t              *conn;
        const mrpc_method_desc_t *method;
        const ProtobufCMessage   *req;
        int                       reply_wanted;   /* reply argument was non-NULL */
        const mrpc_call_opts_t   *opts;
        mrpc_status_t             answer;         /* returned */
        const ProtobufCMessage   *answer_reply;   /* stored in *reply when wanted */
    } call;
    struct {
        int                       count;
        mrpc_conn_t              *conn;
        const mrpc_method_desc_t *method;
        const ProtobufCMessage   *req;
        mrpc_completion_fn        done;
        void                     *token;
        const mrpc_call_opts_t   *opts;
        mrpc_status_t             answer;
    } call_async;
    struct {
        int           count;
        mrpc_call_t  *call;
        phx_status_t  code;
        char          message[160];
    } set_error;
    struct {
        int                        count;
        mrpc_server_t             *server;
        const mrpc_service_desc_t *service;
        const void                *handlers;
        void                      *impl;
        mrpc_status_t              answer;
    } add_service;
    struct {
        long fail_after;        /* allocations that succeed before the heap is "full"; <0: never */
        int  added;             /* mrpc_repeated_add() calls */
        int  moved;             /* ... of which moved the array to a new block */
    } heap;
} mrpc_double_t;

extern mrpc_double_t mrpc_double;

/* Forgets every recorded call; answers become PHX_OK and no reply; the heap never fails. Live
 * blocks stay (see mrpc_double_heap_live()). */
void mrpc_double_reset(void);

/* Blocks of the double's heap not yet freed. */
size_t mrpc_double_heap_live(void);
/* Frees every live block (after a test that leaves some behind on purpose, or failed). */
void   mrpc_double_heap_clear(void);
/* True when P is the start of a live block of the double's heap. */
int    mrpc_double_heap_owns(const void *p);

#endif /* MRPC_DOUBLE_H */
