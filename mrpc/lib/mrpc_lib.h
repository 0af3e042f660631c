/* mrpc_lib.h - libmrpc's private state and the functions its files share.
 *
 * libmrpc implements mrpc/mrpc.h on top of a registration with the local service (phoenix/
 * client.h) and speaks mrpc/app_proto.h with its MrpcEngine. One concept per file:
 *
 *   ctx.c          the context: registering, the progress loop, dispatching completions
 *   submit.c       submissions, and the local queue in front of a full submission ring
 *   messages.c     messages in the send heap, releasing received ones
 *   copy.c         deep copies (mrpc_copy_out), and outgoing messages freed of receive-heap pieces
 *   layouts.c      registering message layouts with the service (lazily for clients)
 *   calls.c        outgoing calls: ids, callbacks, deadlines (deadlines.c keeps them ordered)
 *   buffers.c      long-lived send-heap blocks that calls borrow (mrpc_buffer_*)
 *   endpoints.c    connections and bindings, and waiting for the service's answer
 *   server.c       servers, their services, and incoming calls run through the stubs' dispatch
 *
 * A context belongs to one thread at a time, so nothing here is locked. The service is trusted
 * to follow app_proto.h; still, buffers it names are checked to be in the receive heap before
 * they are read. */
#ifndef MRPC_LIB_PRIVATE_H
#define MRPC_LIB_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mrpc/app_proto.h"
#include "mrpc/mrpc.h"
#include "phoenix/client.h"
#include "phoenix/clock.h"
#include "phoenix/idtable.h"
#include "phoenix/u64map.h"

#define LIB_BATCH           64u        /* completions popped at once */
#define LIB_DRAIN_MAX       4096u      /* completions handled per mrpc_ctx_progress() */
#define LIB_MAX_CALLS       (1u << 20) /* outgoing calls in flight per context */
#define LIB_ANSWER_WAIT_MS  30000      /* longest wait for REGISTERED, BOUND, CONNECTED */
#define LIB_WELCOME_WAIT_MS 10000      /* longest wait for the engine's WELCOME */
#define LIB_SERVE_SLICE_MS  250        /* mrpc_serve notices mrpc_server_stop() this often */

/* What the `user` field of a REPLY says its addr is, echoed in SEND_DONE. */
enum { LIB_SENT_MESSAGE = 0, LIB_SENT_TEXT = 1 };

/* An outgoing call from its submission to its completion callback. A call that borrows a
 * buffer completes once both its reply and its SEND_DONE came: a reply that comes first is
 * parked in it until then. */
struct lib_call {
    uint64_t           id;              /* the app call id the service echoes */
    uint32_t           conn_id;         /* for CANCEL */
    uint64_t           deadline_ns;
    size_t             heap_index;      /* in the deadline heap */
    mrpc_completion_fn done;
    void              *token;
    bool               borrows;         /* MRPC_CALL_OPT_FIELD_BORROW, SEND_DONE not come yet */
    bool               parked;          /* its reply came: PARKED_ST, PARKED_REPLY */
    mrpc_status_t      parked_st;
    const ProtobufCMessage *parked_reply;
};

/* A buffer (buffers.c): a send-heap block that lives until mrpc_buffer_free(). */
struct lib_buffer {
    void    *base;
    size_t   size;
    unsigned busy;                      /* requests borrowing it the service may still read */
};

/* A min-heap of calls by deadline (deadlines.c). */
struct lib_deadlines {
    struct lib_call **h;
    size_t            n, cap;
};

/* A connection or binding: what the service answered about it. */
struct lib_endpoint {
    uint32_t      id;
    bool          binding;      /* of an mrpc_server_t, else of an mrpc_conn_t */
    bool          answered;     /* BOUND/CONNECTED arrived */
    mrpc_status_t status;
    char         *addr;         /* "host:port" in the send heap until answered */
};

struct mrpc_conn {
    mrpc_ctx_t         *ctx;
    struct lib_endpoint ep;
};

struct lib_service {
    const mrpc_service_desc_t *desc;
    const void                *handlers;
    void                      *impl;
    struct mrpc_server        *server;
    struct lib_service        *next;
};

struct mrpc_server {
    mrpc_ctx_t          *ctx;
    struct lib_endpoint  ep;
    struct lib_service  *services;
    volatile int         stopping;  /* may be set from a signal handler */
    mrpc_server_error_fn on_error;  /* NULL: the default (stderr, rate-limited) */
    void                *on_error_arg;
    uint64_t             said_ns;   /* the default's last line, and the ones it left out */
    unsigned long        unsaid;
};

/* An incoming call while its handler runs. */
struct mrpc_call {
    mrpc_ctx_t   *ctx;
    mrpc_status_t error;        /* mrpc_call_set_error() */
    bool          error_set;
};

struct mrpc_ctx {
    phx_client_t        *client;
    phx_heap_t          *heap;          /* send heap */
    ProtobufCAllocator   free_alloc;    /* frees only live blocks of the send heap */
    uintptr_t            recv_lo, recv_hi;
    bool                 dead;          /* the service is gone */
    uint32_t             call_timeout_ms;   /* the service's default (WELCOME) */
    uint64_t             max_message;
    bool                 welcomed;      /* WELCOME arrived */
    uint64_t             service_proto; /* the app_proto.h version it speaks */
    /* submit.c */
    phx_desc_t          *pending;       /* a FIFO ring of submissions waiting for room */
    size_t               pending_cap, pending_head, pending_count;
    unsigned             batching;      /* > 0: dispatching a batch, the doorbell waits */
    bool                 ring_owed;     /* pushed since the doorbell last had its say */
    /* layouts.c */
    phx_u64map_t        registered;    /* service_id << 32 | method_id registered */
    phx_u64map_t        registrations; /* blob address -> struct lib_registration * */
    /* calls.c */
    phx_idtable_t       calls;
    struct lib_deadlines deadlines;
    /* buffers.c */
    phx_u64map_t        buffers;       /* base -> struct lib_buffer * */
    phx_u64map_t        borrows;       /* request address -> the struct lib_buffer * it borrows */
    /* endpoints.c */
    phx_u64map_t        endpoints;     /* id -> struct lib_endpoint * */
    uint32_t             next_endpoint_id;
    /* server.c */
    phx_u64map_t        methods;       /* service_id << 32 | method_id -> struct lib_service * */
    mrpc_server_t      **servers;
    size_t               n_servers;
};

static inline uint64_t lib_method_key(uint32_t service_id, uint32_t method_id)
{
    return (uint64_t)service_id << 32 | method_id;
}

void     lib_status_set(mrpc_status_t *st, phx_status_t code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- ctx.c ---- */
/* Runs progress until *DONE turns true, the service goes away or TIMEOUT_MS passes. */
void lib_wait_until(mrpc_ctx_t *ctx, const bool *done, int timeout_ms);
/* The service went away: everything waiting for it fails with UNAVAILABLE. */
void lib_service_gone(mrpc_ctx_t *ctx);

/* ---- submit.c ---- */
/* Submits D now, or queues it behind earlier ones while the ring is full. Inside
 * lib_batch_begin/end the service's doorbell is left for lib_batch_end() to ring. */
void lib_submit(mrpc_ctx_t *ctx, const phx_desc_t *d);
void lib_submit_flush(mrpc_ctx_t *ctx);
/* Around the dispatch of a batch of completions: what its callbacks submit reaches the service
 * with one doorbell at the end. Nest; the outermost end rings. */
void lib_batch_begin(mrpc_ctx_t *ctx);
void lib_batch_end(mrpc_ctx_t *ctx);
/* Rings the service's doorbell for what was pushed without it: before any wait, and whenever
 * mrpc_ctx_progress() runs or returns inside a batch (a callback waiting or polling). */
void lib_doorbell(mrpc_ctx_t *ctx);
void lib_submit_fini(mrpc_ctx_t *ctx);

/* ---- messages.c ---- */
void lib_messages_init(mrpc_ctx_t *ctx);
bool lib_in_recv_heap(const mrpc_ctx_t *ctx, uint64_t addr, uint64_t len);
/* Frees a sent message or text the service handed back (SEND_DONE). */
void lib_sent_done(mrpc_ctx_t *ctx, const phx_desc_t *d);
/* Copies a text the service wrote into ST's message, and releases it. */
void lib_take_text(mrpc_ctx_t *ctx, const phx_desc_t *d, mrpc_status_t *st);
void lib_release_addr(mrpc_ctx_t *ctx, uint64_t addr);

/* ---- copy.c ---- */
/* Copies every piece of MSG (in the send heap, about to be submitted as WHAT: "reply",
 * "request") that lies in the receive heap into the send heap. PHX_OK, or a status in ST. */
phx_status_t lib_localize(mrpc_ctx_t *ctx, ProtobufCMessage *msg, const char *what,
                          mrpc_status_t *st);

/* ---- layouts.c ---- */
/* Registers SVC's layouts (the methods SVC lists). Waits for REGISTERED when WAIT. */
phx_status_t lib_register(mrpc_ctx_t *ctx, const mrpc_service_desc_t *svc, bool wait,
                          mrpc_status_t *st);
/* Makes sure METHOD's layouts are registered before a call of it is submitted; its service's
 * id (the description's, else from its full name) in *SERVICE_ID. */
phx_status_t lib_register_method(mrpc_ctx_t *ctx, const mrpc_method_desc_t *method,
                                 uint32_t *service_id, mrpc_status_t *st);
void lib_on_registered(mrpc_ctx_t *ctx, const phx_desc_t *d);
void lib_layouts_fini(mrpc_ctx_t *ctx);

/* ---- calls.c ---- */
void lib_on_reply(mrpc_ctx_t *ctx, const phx_desc_t *d);
/* Fails calls whose deadline passed; returns how many. */
int  lib_calls_expire(mrpc_ctx_t *ctx);
/* Milliseconds until the next deadline (0: one passed), or -1 without calls. */
int  lib_calls_next_deadline_ms(mrpc_ctx_t *ctx);
void lib_calls_fail_all(mrpc_ctx_t *ctx, phx_status_t code, const char *why);
void lib_calls_fini(mrpc_ctx_t *ctx);

/* The service gave back request REQ's memory (SEND_DONE of call CALL_ID). */
void lib_calls_sent(mrpc_ctx_t *ctx, uint64_t call_id);

/* ---- buffers.c ---- */
void lib_buffers_init(mrpc_ctx_t *ctx);
void lib_buffers_fini(mrpc_ctx_t *ctx);
/* The buffer starting at BASE, or NULL. */
struct lib_buffer *lib_buffer_get(const mrpc_ctx_t *ctx, const void *base);
/* Whether PTR is the start of a buffer (never freed with a message). */
bool lib_buffer_is(const mrpc_ctx_t *ctx, const void *ptr);
/* Request REQ borrows B until lib_buffer_returned(REQ): 0, or -1 when out of memory. */
int  lib_buffer_lend(mrpc_ctx_t *ctx, struct lib_buffer *b, const void *req);
void lib_buffer_returned(mrpc_ctx_t *ctx, uint64_t req);
/* Nobody reads the buffers any more: none is busy. */
void lib_buffers_service_gone(mrpc_ctx_t *ctx);

/* ---- deadlines.c ---- */
int  lib_deadlines_push(struct lib_deadlines *d, struct lib_call *c);
void lib_deadlines_remove(struct lib_deadlines *d, struct lib_call *c);
struct lib_call *lib_deadlines_top(const struct lib_deadlines *d);
void lib_deadlines_fini(struct lib_deadlines *d);

/* ---- endpoints.c ---- */
/* Opens a binding or connection to ADDR and waits for the service's answer. */
phx_status_t lib_endpoint_open(mrpc_ctx_t *ctx, struct lib_endpoint *ep, uint16_t kind,
                               const char *addr, mrpc_status_t *st);
void lib_endpoint_close(mrpc_ctx_t *ctx, struct lib_endpoint *ep);
void lib_on_endpoint(mrpc_ctx_t *ctx, const phx_desc_t *d);
void lib_endpoints_fini(mrpc_ctx_t *ctx);

/* ---- server.c ---- */
void lib_on_incoming_call(mrpc_ctx_t *ctx, const phx_desc_t *d);
/* The service could not send the reply D (SEND_DONE of a REPLY) names: its server is told. */
void lib_reply_not_sent(mrpc_ctx_t *ctx, const phx_desc_t *d);
void lib_servers_fini(mrpc_ctx_t *ctx);

#endif /* MRPC_LIB_PRIVATE_H */
