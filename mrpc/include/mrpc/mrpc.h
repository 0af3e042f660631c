/* mrpc.h - the mRPC application library: what an app and its generated stubs call.
 *
 * An app never marshals: it builds protobuf-c messages in its send heap (shared with the local
 * Phoenix service), hands them over by pointer, and reads replies as const pointers into its
 * receive heap, which the service fills and the app maps read-only. The service marshals, runs the
 * policies an administrator attached, and moves the bytes to the peer's service over UCX.
 *
 * Threads: an mrpc_ctx_t belongs to one thread at a time (it owns one registration with the
 * service: rings, heaps, completions). Use one context per thread that makes calls.
 *
 * Stubs: protoc-gen-mrpc emits, per service, an mrpc_service_desc_t with one mrpc_method_desc_t
 * per method (stable 32-bit ids from mrpc_id_of(), the service's included), typed wrappers over mrpc_call() and
 * mrpc_call_async(), and a typed handler table registered with mrpc_server_add_service(). */
#ifndef MRPC_MRPC_H
#define MRPC_MRPC_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

#include "phoenix/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The version of this API. A new major version changes signatures (code must be rebuilt, stubs
 * regenerated); a new minor one only adds. Generated headers #error on a mrpc.h of another major
 * version or an older minor one than protoc-gen-mrpc was built for.
 *   1.0  _async, add_service and serve return mrpc_status_t; completions get the ctx; the
 *        service id in mrpc_method_desc_t; mrpc_cancel().
 *   1.1  mrpc_server_on_error(): a server is told when an answer did not go out as its handler
 *        returned it.
 *   1.2  mrpc_rank_publish/barrier/lookup: ranks started by mrpc-run find each other by rank.
 *   1.3  mrpc_buffer_alloc/find/busy/free and MRPC_CALL_OPT_FIELD_BORROW: calls that send from
 *        a long-lived block of the send heap without copying it or giving it away. */
#define MRPC_API_VERSION_MAJOR 1
#define MRPC_API_VERSION_MINOR 3
#define MRPC_API_VERSION       (MRPC_API_VERSION_MAJOR * 1000 + MRPC_API_VERSION_MINOR)

typedef struct mrpc_ctx    mrpc_ctx_t;
typedef struct mrpc_conn   mrpc_conn_t;
typedef struct mrpc_server mrpc_server_t;
typedef struct mrpc_call   mrpc_call_t;     /* one incoming call, on the server side */

/* A status code (status.h, gRPC numbering) with a readable message. */
typedef struct mrpc_status {
    phx_status_t code;
    char         message[160];
} mrpc_status_t;

/* ---- stub descriptions (emitted by protoc-gen-mrpc) --------------------------------------- */

typedef struct mrpc_method_desc {
    const char                       *name;        /* "SayHello" */
    const char                       *full_name;   /* "rpc_hello.Greeter.SayHello" */
    uint32_t                          method_id;   /* mrpc_id_of(full_name) */
    const ProtobufCMessageDescriptor *input;
    const ProtobufCMessageDescriptor *output;
    uint32_t                          service_id;  /* mrpc_id_of("rpc_hello.Greeter"); 0: found
                                                      from full_name on every call */
} mrpc_method_desc_t;

/* Calls the typed handler of method METHOD_INDEX in HANDLERS (a generated handler table) with
 * the right types: generated per service, so no function pointer is ever called through a cast. */
typedef phx_status_t (*mrpc_dispatch_fn)(const void *handlers, void *impl, unsigned method_index,
                                         mrpc_call_t *call, const ProtobufCMessage *req,
                                         ProtobufCMessage **reply);

typedef struct mrpc_service_desc {
    const char               *name;                /* "Greeter" */
    const char               *full_name;           /* "rpc_hello.Greeter" */
    uint32_t                  service_id;          /* mrpc_id_of(full_name) */
    unsigned                  n_methods;
    const mrpc_method_desc_t *methods;
    mrpc_dispatch_fn          dispatch;
} mrpc_service_desc_t;

/* The stable id of a service or method: 32-bit FNV-1a of its full name. The generator and the
 * service compute it the same way, so ids never depend on declaration order. */
static inline uint32_t mrpc_id_of(const char *full_name)
{
    uint32_t h = 2166136261u;
    for (const unsigned char *p = (const unsigned char *)full_name; *p; p++)
        h = (h ^ *p) * 16777619u;
    return h;
}

/* Completion of an asynchronous call, run by mrpc_ctx_progress() on CTX. REPLY is NULL unless
 * status->code == PHX_OK; release it with mrpc_release(CTX, REPLY) when done. */
typedef void (*mrpc_completion_fn)(mrpc_ctx_t *ctx, void *token, const mrpc_status_t *status,
                                   const ProtobufCMessage *reply);

/* ---- context --------------------------------------------------------------------------------*/

#define MRPC_CTX_PARAM_FIELD_PREFIX (1u << 0)   /* default: $PHOENIX_PREFIX, else /run/phoenix */

typedef struct mrpc_ctx_params {
    uint64_t    field_mask;
    const char *prefix;
} mrpc_ctx_params_t;

mrpc_ctx_t *mrpc_ctx_create(const mrpc_ctx_params_t *params, mrpc_status_t *status);
void        mrpc_ctx_destroy(mrpc_ctx_t *ctx);
/* Readable when completions or incoming calls wait: for the app's own epoll loop. */
int         mrpc_ctx_event_fd(mrpc_ctx_t *ctx);
/* Runs completion callbacks and server handlers; waits up to TIMEOUT_MS (-1: no limit) when
 * there is nothing to do. Returns how many events it handled, or -1 when the service is gone. */
int         mrpc_ctx_progress(mrpc_ctx_t *ctx, int timeout_ms);

/* ---- messages -------------------------------------------------------------------------------*/

/* Allocates and initialises a message of type DESC in the send heap. */
ProtobufCMessage   *mrpc_message_new(mrpc_ctx_t *ctx, const ProtobufCMessageDescriptor *desc);
/* The send heap as a protobuf-c allocator, and shortcuts for the common fields. */
ProtobufCAllocator *mrpc_allocator(mrpc_ctx_t *ctx);
void               *mrpc_alloc(mrpc_ctx_t *ctx, size_t size);
char               *mrpc_strdup(mrpc_ctx_t *ctx, const char *s);
int                 mrpc_bytes_set(mrpc_ctx_t *ctx, ProtobufCBinaryData *field, const void *data,
                                   size_t len);
/* Sizes a repeated field: *FIELD gets room for COUNT elements of ELEM_SIZE, *N_FIELD = COUNT. */
int                 mrpc_repeated_alloc(mrpc_ctx_t *ctx, void *field, size_t *n_field,
                                        size_t elem_size, size_t count);
/* Appends one zeroed element of ELEM_SIZE to a repeated field and returns it, growing the array
 * in place: its capacity is the usable size of its send-heap block, doubled when full (an array
 * that is not a block of the send heap is copied into one first). Generated builders pass
 * sizeof(*msg->FIELD), so the size always matches the field. NULL when the heap is full, with
 * the field unchanged. */
void               *mrpc_repeated_add(mrpc_ctx_t *ctx, void *field, size_t *n_field,
                                      size_t elem_size);
/* Frees a message built in the send heap that was never sent (sent ones are reclaimed). */
void                mrpc_message_free(mrpc_ctx_t *ctx, ProtobufCMessage *msg);
/* Gives a received message (receive heap) back to the service. */
void                mrpc_release(mrpc_ctx_t *ctx, const ProtobufCMessage *msg);
/* A private, writable deep copy of a received message, made with ALLOCATOR (NULL: malloc). */
ProtobufCMessage   *mrpc_copy_out(const ProtobufCMessage *msg, ProtobufCAllocator *allocator);
/* The same into CTX's send heap, reading SRC as DESC describes it (what the generated _copy and
 * _from builders call): a message of its own to send, or NULL when the heap is full (nothing
 * left allocated) or the nesting is deeper than a sane message's. */
ProtobufCMessage   *mrpc_message_copy(mrpc_ctx_t *ctx, const ProtobufCMessageDescriptor *desc,
                                      const ProtobufCMessage *src);

/* ---- client ---------------------------------------------------------------------------------*/

mrpc_conn_t *mrpc_connect(mrpc_ctx_t *ctx, const char *addr /* "host:port" */,
                          mrpc_status_t *status);
void         mrpc_conn_close(mrpc_conn_t *conn);

/* An outgoing call, for mrpc_cancel(); never 0. */
typedef uint64_t mrpc_call_id_t;

typedef struct mrpc_call_opts {
    uint64_t        field_mask;
    int             timeout_ms; /* MRPC_CALL_OPT_FIELD_TIMEOUT; default: the service's
                                   call_timeout */
    mrpc_call_id_t *id;         /* MRPC_CALL_OPT_FIELD_ID: *id gets the call's id once queued */
    const void     *borrow;     /* MRPC_CALL_OPT_FIELD_BORROW (since API 1.3): a buffer of
                                   mrpc_buffer_alloc() that the request points into */
} mrpc_call_opts_t;
#define MRPC_CALL_OPT_FIELD_TIMEOUT (1u << 0)
#define MRPC_CALL_OPT_FIELD_ID      (1u << 1)
#define MRPC_CALL_OPT_FIELD_BORROW  (1u << 2)

/* Blocking call: returns the status; on PHX_OK *REPLY points into the receive heap. */
mrpc_status_t mrpc_call(mrpc_conn_t *conn, const mrpc_method_desc_t *method,
                        const ProtobufCMessage *req, const ProtobufCMessage **reply,
                        const mrpc_call_opts_t *opts);
/* Asynchronous call: DONE runs from mrpc_ctx_progress() with TOKEN. Returns PHX_OK when queued
 * (DONE then runs exactly once), else why not (DONE never runs). */
mrpc_status_t mrpc_call_async(mrpc_conn_t *conn, const mrpc_method_desc_t *method,
                              const ProtobufCMessage *req, mrpc_completion_fn done, void *token,
                              const mrpc_call_opts_t *opts);

/* Cancels the outgoing call CALL (an id from MRPC_CALL_OPT_FIELD_ID) of CTX: its callback runs
 * now, inside this function, with CANCELLED; its reply, if one still comes, is dropped, and the
 * service forgets it. PHX_OK, or PHX_NOT_FOUND when it had ended already. The server's service
 * is told, and withdraws the call if the server app has not been handed it yet; a handler that
 * started finishes (its reply is dropped). */
phx_status_t  mrpc_cancel(mrpc_ctx_t *ctx, mrpc_call_id_t call);

/* ---- server ---------------------------------------------------------------------------------*/

mrpc_server_t *mrpc_bind(mrpc_ctx_t *ctx, const char *addr /* "0.0.0.0:5000" */,
                         mrpc_status_t *status);
/* HANDLERS is the service's generated handler table: one typed function per method, each reading
 * REQ (const, in the receive heap), building *REPLY in the send heap (mrpc_message_new) and
 * returning PHX_OK, or another code after mrpc_call_set_error(). A NULL entry answers
 * UNIMPLEMENTED. The table and IMPL must outlive the server. */
mrpc_status_t  mrpc_server_add_service(mrpc_server_t *server, const mrpc_service_desc_t *service,
                                       const void *handlers, void *impl);
/* Serves until mrpc_server_stop() (PHX_OK) or the service goes away (PHX_UNAVAILABLE, "the mRPC
 * service went away": a server should then exit non-zero). */
mrpc_status_t  mrpc_serve(mrpc_server_t *server);
void           mrpc_server_stop(mrpc_server_t *server);
void           mrpc_server_close(mrpc_server_t *server);
void           mrpc_call_set_error(mrpc_call_t *call, phx_status_t code, const char *message);

/* A call of METHOD (its full name) that SERVER answered otherwise than its handler meant: the
 * handler returned OK but its reply could not go out, so the caller got STATUS (the same code
 * and sentence) instead. Why: the reply borrowed from a received message and the send heap had
 * no room to copy it (RESOURCE_EXHAUSTED), it was not a message of the method's output type in
 * the send heap (INTERNAL), or the service refused it (the SEND_DONE status: too large, a
 * pointer outside the send heap). A caller that has gone away is not reported. Runs in the
 * thread that serves (mrpc_serve, mrpc_ctx_progress), after the handler returned. */
typedef void (*mrpc_server_error_fn)(mrpc_server_t *server, void *arg, const char *method,
                                     const mrpc_status_t *status);
/* Sets SERVER's error handler (since API 1.1). Without one, or with FN NULL, libmrpc writes
 * "mrpc: METHOD: MESSAGE" to stderr, at most once a second (with a count of the ones it left
 * out), as gRPC logs what it cannot report to anyone. */
void           mrpc_server_on_error(mrpc_server_t *server, mrpc_server_error_fn fn, void *arg);

/* ---- buffers that calls borrow (since API 1.3) --------------------------------------------- */

/* A buffer is a block of the send heap that lives until mrpc_buffer_free(), for data an app
 * sends from again and again (MPI_Alloc_mem's memory): a request's bytes field (or any other
 * piece) points into it, and the service reads the bytes where they are, with the same checks
 * as every message's (the whole piece must lie in the send heap), so nothing is copied.
 *
 * A call whose request points into buffer B names it: opts.field_mask |=
 * MRPC_CALL_OPT_FIELD_BORROW, opts.borrow = B. Then B is not freed with the request, and the
 * call's completion runs only once the service has also finished reading the request (its
 * reply AND its word that it no longer reads the request both came), so when DONE runs B may
 * be written again. A call that ends early (its deadline, mrpc_cancel, the service gone) runs
 * DONE at once; B stays busy until the service gives the request back. A call may borrow one
 * buffer; its other pieces are the request's own, freed with it as usual. A request that points
 * into a buffer without naming it works too, but nobody learns when the service has read it. */

/* A buffer of SIZE (> 0) bytes in CTX's send heap, or NULL when the heap has no room. */
void        *mrpc_buffer_alloc(mrpc_ctx_t *ctx, size_t size);
/* The buffer of CTX that [PTR, PTR + LEN) lies in, or NULL when it lies in none. */
void        *mrpc_buffer_find(mrpc_ctx_t *ctx, const void *ptr, size_t len);
/* How many calls borrowing BUF the service may still read (0: it may be freed or written), or
 * -1 when BUF is no buffer of CTX. */
int          mrpc_buffer_busy(mrpc_ctx_t *ctx, const void *buf);
/* Frees BUF: PHX_OK; PHX_FAILED_PRECONDITION while calls borrowing it are being read (nothing
 * is freed: free it once mrpc_buffer_busy() says 0); PHX_INVALID_ARGUMENT when BUF is no buffer
 * of CTX (a pointer inside one, one freed already). */
phx_status_t mrpc_buffer_free(mrpc_ctx_t *ctx, void *buf);

/* ---- ranks of a job started by mrpc-run (since API 1.2) ------------------------------------ */

/* mrpc-run (docs/man/mrpc-run.1) starts an app as ranks 0..MRPC_SIZE-1 (its own rank in
 * MRPC_RANK, the node's address for peers in MRPC_HOST) and lets them find each other: a rank
 * publishes a value, typically "host:port" where it serves; every rank calls the barrier; after
 * it, any rank's value of that barrier can be looked up. Under Slurm the exchange goes through
 * PMI inside mrpc-run (srun --mpi=pmix or --mpi=pmi2); the app only talks to its mrpc-run over an
 * inherited socket (MRPC_RUN_FD), so it links no PMI library. Outside mrpc-run these fail with
 * FAILED_PRECONDITION. Thread-safe; each blocks until mrpc-run answers. */
#define MRPC_RANK_VALUE_MAX 256     /* a value's bytes, NUL included */
/* This rank's value for the next barrier: at most 255 bytes, no blanks or newlines. */
mrpc_status_t  mrpc_rank_publish(const char *value);
/* Returns once every rank of the job has called it (ABORTED if a rank exited first). Values
 * published before it become visible to mrpc_rank_lookup(). Collective: every rank must call it
 * the same number of times. */
mrpc_status_t  mrpc_rank_barrier(void);
/* Copies RANK's value as of the last barrier into VALUE (LEN bytes, MRPC_RANK_VALUE_MAX is
 * enough): "" when that rank published nothing. INVALID_ARGUMENT for a rank outside the job,
 * FAILED_PRECONDITION before the first barrier. */
mrpc_status_t  mrpc_rank_lookup(int rank, char *value, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* MRPC_MRPC_H */
