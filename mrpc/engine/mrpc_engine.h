/* mrpc_engine.h - MrpcEngine's state and the functions its files share (private to engine/).
 *
 * MrpcEngine is the first engine of an app's "mrpc" subscription: it owns the app's rings and
 * heaps (app_port.h) and speaks mrpc/app_proto.h with libmrpc on one side and mrpc/transport.h
 * with the transport (through any policies spliced in between) on the other. One concept per
 * file:
 *
 *   plugin.c       the engine type and plugin: create/destroy, progress order, arm, admin, upgrade
 *   submissions.c  the app's submissions, one handler per kind
 *   calls.c        outgoing calls waiting for their reply (wire call id -> the app's call)
 *   sends.c        wire messages (encode, error messages), the tx queue, SENT
 *   delivery.c     what the transport hands up: messages to decode and deliver, connection events
 *   conns.c        connections and bindings
 *   completions.c  completions to the app, their backlog while its ring is full, texts for it
 *                  (the tx queue and the backlog are phoenix/fifo.h FIFOs)
 *   layouts.c      the app's registered message layouts
 *   state.c        the state as bytes for a live upgrade (dump/restore), and converting older ones
 *
 * Everything runs on the subscription's runtime thread; nothing is locked. The app is untrusted
 * (every address it names is checked, every blob copied before it is parsed), and so is the
 * network (headers and payloads are checked before use). Bounded: each progress() moves at most a
 * batch per direction, and every table has a maximum. */
#ifndef MRPC_ENGINE_PRIVATE_H
#define MRPC_ENGINE_PRIVATE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "marshal.h"
#include "mrpc/app_proto.h"
#include "mrpc/transport.h"
#include "phoenix/app_port.h"
#include "phoenix/clock.h"
#include "phoenix/engine.h"
#include "phoenix/fifo.h"
#include "phoenix/idtable.h"
#include "phoenix/status.h"
#include "phoenix/u64map.h"

#define ENG_BATCH          128u          /* descriptors per direction per progress() */
#define ENG_TXQ_CAP        1024u         /* tx descriptors waiting for room in tx out 0 */
#define ENG_BACKLOG_SOFT   2048u         /* completions held before we stop taking new work */
/* Everything a subscription can owe its app at once: two completions per call, plus slack. */
#define ENG_BACKLOG_MAX    (2u * ENG_MAX_CALLS + 4u * ENG_BACKLOG_SOFT)
#define ENG_MAX_CALLS      (1u << 17)    /* outgoing calls waiting for a reply */
#define ENG_SPARE_CALLS    64u           /* ended calls' records kept for reuse (calls.c) */
#define ENG_SPARE_SENDS    64u           /* records SENT gave back kept for reuse (sends.c) */
#define ENG_MAX_CONNS      4096u         /* connections and bindings */
#define ENG_MAX_DELIVERED  (1u << 20)    /* buffers the app holds */
#define ENG_MAX_SHELVES    16u           /* registrations of one service id */

/* What dump() writes (state.c). 1 and 2 were a pointer to the state, which no build reads. The
 * test build MRPC_STATE_NEXT writes 4 and reads 3 and 4. */
#ifndef MRPC_STATE_VERSION
#ifdef MRPC_STATE_NEXT
#define MRPC_STATE_VERSION 4    /* 4: `upgrades` */
#else
#define MRPC_STATE_VERSION 3    /* 3: serialised, with the resource table */
#endif
#endif
#ifndef MRPC_PLUGIN_VERSION
#define MRPC_PLUGIN_VERSION "1.0.0"
#endif
#ifndef MRPC_STATE_MIN_READ
#define MRPC_STATE_MIN_READ 3   /* the oldest state version restore() converts */
#endif

struct mrpc_send;

/* One counter per line of admin("stats"). */
#define ENG_STATS(X)                                                                          \
    X(calls)             /* CALLs sent to a peer */                                          \
    X(replies)           /* REPLYs (messages and errors) sent to a peer */                   \
    X(incoming_calls)    /* calls delivered to the app */                                    \
    X(replies_received)  /* replies delivered to the app with PHX_OK */                      \
    X(errors)            /* calls completed to the app with another status */               \
    X(invalid_argument)  /* app submissions refused as malformed */                         \
    X(not_found)         /* calls of a method with no registered layout */                  \
    X(layout_mismatch)   /* peer and local type hashes differ */                            \
    X(decode_errors)     /* payloads from the network that failed to decode */              \
    X(dropped)           /* network messages for no call or connection */                   \
    X(timeouts)          /* calls that expired here */                                      \
    X(conns_lost)                                                                            \
    X(released)          /* buffers the app gave back */                                    \
    X(backlog_stalls)    /* completions that had to wait for room in the app's ring */  \
    X(errors_unsent)     /* error replies to undeliverable calls dropped: tx was full */   \
    X(refused)           /* messages a policy refused (SENT with a reason, REFUSED) */      \
    X(answered)          /* calls for the app a policy answered itself (ANSWERED) */

struct mrpc_engine_stats {
#define ENG_STAT_FIELD(name) uint64_t name;
    ENG_STATS(ENG_STAT_FIELD)
#undef ENG_STAT_FIELD
};

/* A registration as the app sent it: replayed by the next build after a live upgrade. */
struct eng_registration {
    void  *blob;
    size_t len;
};

struct mrpc_engine {
    phx_app_port_t *port;
    struct mrpc_layout_view view;   /* shared with the policies (MRPC_LAYOUTS_SHARED) */
    /* limits: the plugin's settings (settings.mrpc) at create and reconfigure (plugin.c) */
    size_t   max_message;
    size_t   inflight_limit;
    uint32_t call_timeout_ms;
    bool     welcomed;              /* WELCOME completed */
    bool     armed;                 /* on the app's doorbell */
    unsigned stall_ms;              /* retry timer while completions wait for the app */
    /* layouts (layouts.c) */
    mrpc_layout_set_t *shelves[ENG_MAX_SHELVES];
    unsigned           n_shelves;
    phx_u64map_t      methods;     /* service_id << 32 | method_id -> method layout */
    struct eng_registration *regs;  /* every successful registration, in order */
    unsigned           n_regs, cap_regs;
    /* tables */
    phx_u64map_t      conns;       /* conn id -> struct eng_conn * */
    phx_idtable_t     calls;       /* wire call id -> struct eng_call * */
    phx_u64map_t      by_app;      /* app call id -> wire id of its newest live call (CANCEL) */
    uint64_t           earliest_deadline_ns;   /* no call expires before this */
    uint64_t           pass_ns;     /* the clock of this progress() pass (0: not read yet) */
    struct eng_call   *spare_calls[ENG_SPARE_CALLS];   /* ended calls' records, for new ones */
    unsigned           n_spare_calls;
    phx_u64map_t      delivered;   /* address given to the app -> recv heap block */
    /* queues */
    phx_fifo_t         txq;         /* of phx_desc_t, for tx out 0 */
    phx_fifo_t         backlog;     /* of phx_desc_t, for the app's completion ring */
    struct mrpc_send  *sends;       /* wire messages the transport holds (doubly linked) */
    struct mrpc_send  *spare_sends; /* records SENT gave back, kept for the next messages */
    unsigned           n_spare_sends;
    size_t             inflight_bytes;
    /* taken over from an older build (state.c): its wire message address -> our send record */
    phx_u64map_t      adopted;
    void             **retired;     /* older builds' connections a queued BIND may still read */
    unsigned           n_retired;
    struct mrpc_engine_stats stats;
    /* messages dropped on a full receive heap since the last log line (delivery.c) */
    uint64_t           heap_full_logged_ns;
    uint64_t           heap_full_unlogged;
#ifdef MRPC_STATE_NEXT
    uint64_t           upgrades;    /* the next layout's new field: restores it went through */
#endif
};

/* ---- plugin.c ---- */
struct mrpc_engine *eng_new(phx_app_port_t *port);
/* ALL: everything the state holds. STATE_ONLY (after a live upgrade handed it on, or when one
 * aborts): the wire messages and connections handed over through the resource table stay. */
void     eng_free(struct mrpc_engine *m, phx_destroy_mode_t mode);
/* How many items of work (submissions) may be taken now when each may queue one tx descriptor
 * and up to COMPLETIONS completions: at most a batch, within the room left. */
unsigned eng_budget(const struct mrpc_engine *m, unsigned completions);
/* The same counting only the room for completions: rx descriptors are taken whether or not tx
 * has room (delivery.c says why). */
unsigned eng_cq_budget(const struct mrpc_engine *m, unsigned completions);

/* ---- completions.c ---- */
/* Pushes D to the app, behind whatever the backlog already holds. */
void     eng_complete(struct mrpc_engine *m, const phx_desc_t *d);
/* Completes D with STATUS and a sentence, copied into the recv heap (addr/len; 0 when full). */
void     eng_complete_text(struct mrpc_engine *m, phx_desc_t d, phx_status_t status,
                           const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void     eng_complete_vtext(struct mrpc_engine *m, phx_desc_t d, phx_status_t status,
                            const char *fmt, va_list ap);
/* Moves backlog into the app's ring; returns how many went. */
unsigned eng_backlog_flush(struct mrpc_engine *m);
/* Gives the app a buffer of the recv heap: ADDR is what it sees (and later releases), BLOCK the
 * heap block that holds it. 0 or -ENOSPC (the app holds too many; nothing was recorded). */
int      eng_deliver_track(struct mrpc_engine *m, uint64_t addr, void *block);
/* Frees the buffer the app released; false when ADDR is no buffer of the app. */
bool     eng_deliver_release(struct mrpc_engine *m, uint64_t addr);
/* The caller cancelled incoming call CALL_ID on CONN_ID: if its INCOMING_CALL still waits in the
 * backlog (the app has not seen it), it is withdrawn and its request freed. Whether it was. */
bool     eng_backlog_cancel(struct mrpc_engine *m, uint32_t conn_id, uint64_t call_id);

/* ---- layouts.c ---- */
/* Shares M's layouts with the engines of E's subscription (mrpc/transport.h); withdraws them. */
void     eng_layouts_share(struct mrpc_engine *m, phx_engine_t *e);
void     eng_layouts_unshare(struct mrpc_engine *m, phx_engine_t *e);
int      eng_layouts_add(struct mrpc_engine *m, const void *blob, size_t len, char *err,
                         size_t errlen);
const struct mrpc_method_layout *eng_layouts_find(struct mrpc_engine *m, uint32_t service_id,
                                                  uint32_t method_id);
void     eng_layouts_fini(struct mrpc_engine *m);

/* ---- conns.c ---- */
enum eng_conn_kind { ENG_CONN_BINDING, ENG_CONN_OUTGOING, ENG_CONN_ACCEPTED };
/* CLOSING: closed by the app before the transport answered BIND/CONNECT, which may still read
 * `addr`: kept until that answer comes. */
enum eng_conn_state { ENG_CONN_PENDING, ENG_CONN_UP, ENG_CONN_LOST, ENG_CONN_CLOSING };

struct eng_conn {
    uint32_t            id;
    enum eng_conn_kind  kind;
    enum eng_conn_state state;
    char                addr[MRPC_APP_ADDR_MAX + MRPC_CONN_REASON_MAX];  /* owned here until
                                        BOUND/CONNECTED, with room for the transport's reason */
    bool                handed_over;    /* dump() gave this memory to the next build */
};

void     eng_conn_open(struct mrpc_engine *m, const phx_desc_t *sub);
void     eng_conn_close(struct mrpc_engine *m, const phx_desc_t *sub);
/* The connection calls and replies may use, or NULL with a sentence in WHY. */
struct eng_conn *eng_conn_usable(struct mrpc_engine *m, uint32_t conn_id, char *why,
                                 size_t whylen);
void     eng_conn_event(struct mrpc_engine *m, const phx_desc_t *d);
/* STATE_ONLY keeps connections a queued BIND/CONNECT may still read (state.c hands them on). */
void     eng_conns_fini(struct mrpc_engine *m, phx_destroy_mode_t mode);
/* True while the transport may read C->addr (state.c hands the memory over then). */
bool     eng_conn_addr_in_use(const struct eng_conn *c);
/* Restores a connection; 0 or -ENOMEM. */
int      eng_conn_restore(struct mrpc_engine *m, const struct eng_conn *from);

/* ---- state.c ---- */
int      eng_state_dump(phx_engine_t *e, struct mrpc_engine *m, phx_blob_t *out);
int      eng_state_restore(phx_engine_t *e, const phx_blob_t *in, struct mrpc_engine **out,
                           char *err, size_t errlen);

/* ---- calls.c ---- */
struct eng_call {
    uint64_t                         app_call_id;
    uint64_t                         user;
    uint32_t                         conn_id;
    const struct mrpc_method_layout *method;
    uint64_t                         deadline_ns;
};

/* The time of this progress() pass, read at its first use: the calls a pass starts take their
 * deadlines from it, and its expiry sweep checks against it (eng_pass_end() forgets it). */
uint64_t eng_pass_now(struct mrpc_engine *m);
void     eng_pass_end(struct mrpc_engine *m);
/* Call C has ended (or never started): its record is kept for the next call, or freed. NULL is
 * ignored. */
void     eng_call_release(struct mrpc_engine *m, struct eng_call *c);
/* A new outgoing call for the app's CALL SUB; its wire id in *WIRE_ID. NULL when full. */
struct eng_call *eng_call_add(struct mrpc_engine *m, const phx_desc_t *sub,
                              const struct mrpc_method_layout *method, uint64_t *wire_id);
/* Takes the call a reply names off the table: it must have been made on CONN_ID. */
struct eng_call *eng_call_take(struct mrpc_engine *m, uint64_t wire_id, uint32_t conn_id);
/* Completes CALL (already off the table) to the app with STATUS and a sentence; frees it. */
void     eng_call_fail(struct mrpc_engine *m, struct eng_call *call, phx_status_t status,
                       const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Completes CALL (off the table) with the decoded reply at ADDR; frees it. */
void     eng_call_succeed(struct mrpc_engine *m, struct eng_call *call, uint64_t addr,
                          uint64_t len);
void     eng_calls_fail_conn(struct mrpc_engine *m, uint32_t conn_id, phx_status_t status,
                             const char *why);
/* Ends the app's call APP_CALL_ID on CONN_ID with CANCELLED; false when there is none. One
 * lookup: an app cannot make each CANCEL cost a sweep of every call it holds. */
bool     eng_call_cancel(struct mrpc_engine *m, uint32_t conn_id, uint64_t app_call_id);
void     eng_calls_expire(struct mrpc_engine *m, uint64_t now_ns);
void     eng_calls_fini(struct mrpc_engine *m);
/* Files the calls of a restored table by app call id (state.c); false when out of memory (the
 * calls left out cannot be cancelled, only answered or expire). */
bool     eng_calls_index(struct mrpc_engine *m);

/* ---- sends.c ---- */
/* Encodes the app's message at SUB->addr as type T and queues it with header HDR (and a CALL's
 * DEADLINE_NS, 0 for replies, for the policies on the way). 0, or a status with a sentence in
 * ERR when the message is refused (nothing was queued). */
phx_status_t eng_send_message(struct mrpc_engine *m, const phx_desc_t *sub,
                              const struct mrpc_type_layout *t, const struct mrpc_wire_hdr *hdr,
                              uint64_t deadline_ns, char *err, size_t errlen);
/* Queues a wire CANCEL for the call CALL (conn_id, service_id, method_id, call_id = its wire id)
 * that its app gave up on: the server's service withdraws it if its app has not seen it yet. */
void     eng_send_cancel(struct mrpc_engine *m, const phx_desc_t *call);
/* Queues a wire ERROR with STATUS and TEXT answering the call ABOUT names (conn_id, call_id,
 * service_id, method_id: a RECEIVED call or the app's REPLY). SUB is the app's REPLY to complete
 * with SEND_DONE once sent, or NULL. */
void     eng_send_error(struct mrpc_engine *m, const phx_desc_t *about, phx_status_t status,
                        const char *text, const phx_desc_t *sub);
/* Queues a wire REPLY answering the call ABOUT names with a copy of the native PAYLOAD (LEN
 * bytes, of the layout TYPE_HASH): a policy's answer to a RECEIVED call (ANSWERED). */
void     eng_send_answer(struct mrpc_engine *m, const phx_desc_t *about, const void *payload,
                         size_t len, uint64_t type_hash);
/* Completes SEND_DONE for the app's SUB at once (its message never reached a wire message). */
void     eng_send_done_now(struct mrpc_engine *m, const phx_desc_t *sub, phx_status_t status);
/* The transport is done with the wire message at ADDR (SENT). */
void     eng_send_finished(struct mrpc_engine *m, uint64_t addr, phx_status_t status);
/* Queues a descriptor for tx out 0 (the queue has room: callers took their work within
 * eng_budget(), or checked eng_txq_room()). */
void     eng_txq_push(struct mrpc_engine *m, const phx_desc_t *d);
bool     eng_txq_room(const struct mrpc_engine *m, unsigned n);
unsigned eng_txq_flush(struct mrpc_engine *m, phx_engine_t *e);
/* ALL frees every record; STATE_ONLY keeps what the resource table moved (state.c). */
void     eng_sends_fini(struct mrpc_engine *m, phx_destroy_mode_t mode);
/* state.c's view of a send record, to write it out and to take one over. */
struct eng_send_view {
    uint64_t   key;                 /* the wire message's address: what SENT will name */
    void      *blocks[3];           /* malloc'd memory behind it (NULL: none) */
    phx_desc_t sub;
    uint8_t    kind;
    uint32_t   service_id, method_id;
    uint64_t   call_id;
    size_t     bytes;
};
void     eng_sends_each(struct mrpc_engine *m, void (*fn)(void *arg, const struct eng_send_view *v),
                        void *arg);
/* A record standing for another build's wire message V->key, freeing V->blocks when done. */
int      eng_send_adopt(struct mrpc_engine *m, const struct eng_send_view *v);
/* STATUS as an error on the wire: 1..15 as they are, anything else UNKNOWN. */
phx_status_t eng_error_status(int32_t status);
void     eng_wire_hdr_init(struct mrpc_wire_hdr *h, enum mrpc_wire_kind kind, uint32_t service_id,
                           uint32_t method_id, uint64_t call_id);

/* ---- submissions.c ---- */
/* How many submissions may be taken now (0 while back-pressure holds). */
unsigned eng_app_budget(const struct mrpc_engine *m);
unsigned eng_app_progress(struct mrpc_engine *m);

/* ---- delivery.c ---- */
unsigned eng_rx_budget(const struct mrpc_engine *m);
unsigned eng_rx_progress(struct mrpc_engine *m, phx_engine_t *e);

#endif /* MRPC_ENGINE_PRIVATE_H */
