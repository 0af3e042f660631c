/* policy.h - the policy SDK: what a policy engine sees of each call, and the verdicts it gives.
 *
 * A policy is an engine (phoenix/engine.h) spliced between an app's front engine (MrpcEngine)
 * and its transport. This header adds, on top of the plugin SDK, the part every policy would
 * otherwise write again: reading a descriptor as a call, holding descriptors in a bounded queue
 * until a time without ever blocking the runtime, completing a rejected call upward with a
 * status, the timer that wakes the runtime when a held call is due, flush before detach and
 * upgrade, and counters as JSON. The policy itself is one function, decide(), asked once for each
 * call at the head of a direction's queue:
 *
 *     static phx_verdict_t decide(void *ctx, const phx_call_t *call, uint64_t now_ns)
 *     {
 *         if (call->kind != PHX_CALL_REQUEST)
 *             return phx_verdict_forward();
 *         if (too_soon(ctx, now_ns))
 *             return phx_verdict_hold(next_slot(ctx));           // asked again at that time
 *         if (too_big(ctx, call->bytes))
 *             return phx_verdict_reject(PHX_RESOURCE_EXHAUSTED, "requests over 1 MiB refused");
 *         return phx_verdict_forward();
 *     }
 *
 *     create():   phx_policy_init(&s->pol, decide, s, 1u << PHX_TX, queue_max);
 *     ops:        .progress = phx_policy_op_progress, .arm = phx_policy_op_arm,
 *                 .flush = phx_policy_op_flush        (the state begins with its phx_policy_t)
 *     destroy():  phx_policy_fini(&s->pol);
 *
 * or, with the settings and state framing below (phx_policy_kind_t), create, reconfigure,
 * destroy, dump and restore in one line: PHX_POLICY_DEFINE_OPS(kind), PHX_POLICY_OPS(kind).
 *
 * docs/policies.md is the guide, with a complete policy (policies/ratelimit).
 *
 * What a call is (phx_call_t). On tx, a call is a transport SEND (mrpc/transport.h): a request
 * (client side), a reply or an error (server side), or a cancel; on rx a RECEIVED of those kinds.
 * Everything else that flows (BIND, CONNECT, CLOSE, their answers, SENT, DROPPED, CONN_LOST) is
 * connection management: never shown to decide(), forwarded in order. Descriptors between
 * MrpcEngine and the transport come from the service itself, so the fields are trusted. Besides
 * the descriptor's fields a call shows who it is from and to (the app's pid, uid, gid and Slurm
 * job; the connection's peer, with its authenticated uid when the transport has one), a
 * request's deadline, the service's and method's names, and, through phx_call_field(), the
 * fields of its message, read on the private copy that is sent.
 *
 * Verdicts. FORWARD passes the call on. HOLD keeps it, and every descriptor behind it in the same
 * direction (order is never changed), until the given time, when decide() is asked again
 * (in hold-alone mode, phx_policy_hold_alone(), only the call itself). The
 * queue is bounded (queue_max): a call that finds it full is rejected with RESOURCE_EXHAUSTED;
 * a connection descriptor that finds it full waits in its channel (back-pressure). REJECT
 * completes the call upward with the status: on tx the transport's SENT answer carries it, so the
 * caller's call fails with it (client side) or the remote caller gets an ERROR (server side).
 * This needs the policy's rx ports spliced too (policyctl does; a tx-only descriptor does not):
 * without an rx way up, a rejected call is forwarded and counted as `unrejectable`. The sentence
 * travels with it (the wire message's `reason`, mrpc/transport.h): the app's call fails with the
 * status and the sentence. On rx, REJECT frees the landed payload and sends MRPC_DESC_REFUSED up
 * with the sentence: a refused request is answered to its remote caller with an ERROR of that
 * status and sentence (the server's app never sees it); a refused reply fails the app's call
 * with them. The sentence of the latest rejection also shows in the stats (`last_reject`) and in
 * the log.
 *
 * Cancels. A CANCEL never overtakes its own call. When the app's CANCEL (tx, client side) or the
 * remote caller's (rx, server side) finds the request it names still queued - held, or waiting
 * behind a held call - the SDK withdraws the request without asking decide(): on tx the request
 * is answered upward with CANCELLED (the transport's SENT answer, so the app's send buffer comes
 * back; the app's call has ended with CANCELLED already, MrpcEngine ends it at mrpc_cancel()),
 * on rx its payload is freed and the server's app never sees it; and the CANCEL goes no further,
 * as the peer never heard of the call (on tx it is answered SENT, OK). Neither is counted as
 * forwarded; both directions count `cancelled`. This is what a caller of gRPC expects of a call
 * that has not left: it is never run. When a tx request cannot be answered upward (no rx way up,
 * or no room there yet) the CANCEL waits behind its request instead, in hold-alone mode too: the
 * peer then sees the CALL before its CANCEL.
 *
 * Threads. Everything here runs on the engine's runtime thread (progress, arm) or on the control
 * thread with the group suspended (init, set_queue_max, flush, fini, stats) - as the engine ops
 * that call it. Nothing blocks on the runtime thread; nothing allocates there but phx_call_field()
 * (its copies) and the app identity read once (/proc). */
#ifndef PHOENIX_POLICY_H
#define PHOENIX_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "phoenix/engine.h"
#include "phoenix/handover.h"
#include "phoenix/settings.h"
#include "phoenix/status.h"
#include "phoenix/u64map.h"

typedef enum phx_call_kind {
    PHX_CALL_REQUEST = 1,   /* a CALL: client side on tx, server side on rx */
    PHX_CALL_REPLY   = 2,
    PHX_CALL_ERROR   = 3,   /* a reply that is an error status and a sentence */
    PHX_CALL_CANCEL  = 4,   /* the caller gave up on call_id */
} phx_call_kind_t;

/* The app whose subscription the policy is attached to: the caller of its tx requests, the
 * callee of its rx ones. pid and uid as the control socket saw them when the app registered;
 * gid the real gid of /proc/PID/status; job as the service tells it (docs/policies.md, "Which job
 * an app belongs to": from the cgroup, verified, else from the environment, unverified). Learned
 * once, before the first call is decided. */
#define PHX_CALLER_JOB_MAX 24
typedef struct phx_caller {
    int32_t  pid;                 /* 0: not known (an engine without an app: tests) */
    uint32_t uid, gid;
    bool     gid_known;
    bool     job_verified;        /* the job came from the cgroup, which the app cannot change */
    char     job[PHX_CALLER_JOB_MAX];  /* Slurm job id, digits; "" = none */
} phx_caller_t;

/* The other end of a call's connection. On an accepted connection (a server's), what the
 * transport learned when it accepted it (mrpc/transport.h, struct mrpc_peer_info): the address
 * and, when the transport authenticated the peer, its uid and gid. On a connection the app made
 * (a client's), the address it connected to; the remote uid is not known there. */
#define PHX_PEER_UID_UNKNOWN UINT32_MAX
enum phx_peer_flags {
    PHX_PEER_KNOWN         = 1u << 0,     /* the SDK saw the connection being made */
    PHX_PEER_AUTHENTICATED = 1u << 1,     /* uid/gid are the transport's authenticated word */
};
typedef struct phx_peer {
    uint32_t flags;
    uint32_t uid, gid;            /* PHX_PEER_UID_UNKNOWN unless PHX_PEER_AUTHENTICATED */
    char     addr[64];            /* "host:port"; "" when not known */
} phx_peer_t;

/* One call as a policy sees it. `size` says how much of it the SDK filled: a field lies past
 * the end of an older SDK's struct when offsetof(phx_call_t, field) >= size. The SDK is a static
 * library built with each policy, so today they always agree; the field is there so that the
 * struct may grow at the end (into `reserved`) without a policy misreading it. */
#define PHX_CALL_VERSION 2
typedef struct phx_call {
    phx_call_kind_t kind;
    phx_dir_t       dir;          /* PHX_TX: towards the network; PHX_RX: towards the app */
    uint32_t        conn_id;      /* the app's connection (ids >= 0x80000000: accepted ones) */
    uint32_t        service_id;   /* protoc-gen-mrpc's stable ids */
    uint32_t        method_id;
    uint64_t        call_id;      /* the caller's; a reply echoes it */
    uint64_t        bytes;        /* payload bytes (marshalled on tx, landed on rx) */
    int32_t         status;       /* replies and errors: phx_status_t */
    /* version 2 */
    uint32_t        size;         /* sizeof(phx_call_t) of the SDK that filled it */
    uint32_t        version;      /* PHX_CALL_VERSION of that SDK */
    bool            server_side;  /* a call the app serves (rx request, tx reply/error/...) */
    uint64_t        deadline_ns;  /* tx requests: the phx_now_ns() time the caller gives up;
                                     0: not known (the wire carries no deadline to a server) */
    const phx_caller_t *caller;   /* never NULL while decide() runs */
    const phx_peer_t   *peer;     /* never NULL while decide() runs (flags 0: not known) */
    const char     *service_name; /* "rpc_hello.Greeter", or NULL: not known (no layouts) */
    const char     *method_name;  /* "SayHello", or NULL; both valid while decide() runs */
    const struct phx_call_ctx *ctx;  /* the SDK's (phx_call_field); NULL outside decide() */
    uint64_t        reserved[6];  /* 0: room to grow */
} phx_call_t;

/* One field of a call's message (phx_call_field). */
typedef enum phx_field_kind {
    PHX_FIELD_UNSET = 0,          /* not set: an absent optional, message or oneof member */
    PHX_FIELD_INT,                /* int32, sint32, sfixed32, int64, sint64, sfixed64, enum: i */
    PHX_FIELD_UINT,               /* uint32, fixed32, uint64, fixed64: u */
    PHX_FIELD_DOUBLE,             /* float, double: d */
    PHX_FIELD_BOOL,               /* b */
    PHX_FIELD_STRING,             /* data/len, NUL-terminated */
    PHX_FIELD_BYTES,              /* data/len */
} phx_field_kind_t;

typedef struct phx_field {
    phx_field_kind_t kind;
    union {
        int64_t  i;
        uint64_t u;
        double   d;
        bool     b;
    };
    const char *data;             /* STRING, BYTES: valid until decide() returns */
    size_t      len;
} phx_field_t;

/* Reads field PATH of CALL's message into *OUT, from within decide(). PATH is the message type's
 * full name and the field's name, through singular message fields and elements of repeated
 * ones, an element named by its index in brackets: "rpc_hello.HelloRequest.name",
 * "pkg.Order.customer.id", "pkg.Order.items[2].sku", "pkg.Order.tags[0]". A request's message is
 * the method's input type, a reply's its output type; errors and cancels have none.
 *
 * What is read is what is sent: on tx, the first read moves the whole payload out of the app's
 * send heap into a private copy in service memory, and the message goes out from that copy
 * (mrpc/transport.h, `copy`), so the app rewriting its message after sending changes nothing
 * the policy checked (no time-of-check/time-of-use); on rx the payload is in the app's receive
 * heap, which the app cannot write. The read decodes a second private copy, bounds-checking
 * every pointer (an array: all of its elements), so a damaged payload is refused rather than
 * followed.
 *
 * 0 with *OUT set (kind PHX_FIELD_UNSET when the field is not set, or an index is past the end
 * of its array, or a message on the way is absent); -ENOENT when PATH names no field of this
 * call's message (another type: a rule about another method's messages), or is not of that
 * form (an index on a singular field, "[x]"); -ENOTSUP when the layouts are not known (no
 * MrpcEngine shares them), for a repeated field without an index or a message field, or a call
 * with no message; -EINVAL when the payload does not decode; -ENOMEM. Runtime thread; it
 * allocates (the copies), once per call and direction. */
int phx_call_field(const phx_call_t *call, const char *path, phx_field_t *out);

/* How many elements the repeated field PATH of CALL's message has, into *COUNT: PATH as for
 * phx_call_field, ending at a repeated field without an index ("pkg.Order.items",
 * "pkg.Order.items[0].tags"); 0 elements when a message on the way is absent. The same answers
 * as phx_call_field, -ENOENT also when PATH ends at a singular field or an element. Indexes
 * 0 .. *COUNT - 1 then read the elements. */
int phx_call_field_count(const phx_call_t *call, const char *path, size_t *count);

/* The names of method METHOD_ID of service SERVICE_ID from the layouts the app registered (as
 * phx_call_t's service_name and method_name): true with *SERVICE ("rpc_hello.Greeter") and
 * *METHOD ("SayHello"), valid while E's MrpcEngine keeps them (read and copy them at once); false
 * when not known. Runtime thread, or control thread with the group suspended (admin). */
bool phx_policy_method_names(phx_engine_t *e, uint32_t service_id, uint32_t method_id,
                             const char **service, const char **method);

/* Reads D, flowing in DIR, as a call into *CALL; false when it is connection management. The
 * caller and the peer are shown as not known (decide() gets them filled in by the SDK). */
bool phx_policy_call_of(const phx_desc_t *d, phx_dir_t dir, phx_call_t *call);

typedef enum phx_verdict_kind {
    PHX_VERDICT_FORWARD = 0,
    PHX_VERDICT_HOLD    = 1,
    PHX_VERDICT_REJECT  = 2,
    PHX_VERDICT_REPLY   = 3,      /* requests only: answered by the policy, status PHX_OK */
} phx_verdict_kind_t;

typedef struct phx_verdict {
    phx_verdict_kind_t kind;
    uint64_t           until_ns;  /* HOLD: ask again at this phx_now_ns() time */
    phx_status_t       status;    /* REJECT: not PHX_OK */
    const char        *why;       /* REJECT: one sentence (static storage or the policy's own) */
} phx_verdict_t;

static inline phx_verdict_t phx_verdict_forward(void)
{
    return (phx_verdict_t){ .kind = PHX_VERDICT_FORWARD };
}

static inline phx_verdict_t phx_verdict_hold(uint64_t until_ns)
{
    return (phx_verdict_t){ .kind = PHX_VERDICT_HOLD, .until_ns = until_ns };
}

static inline phx_verdict_t phx_verdict_reject(phx_status_t status, const char *why)
{
    return (phx_verdict_t){ .kind = PHX_VERDICT_REJECT, .status = status, .why = why };
}

/* Answers the request with PHX_OK and a message of the method's output type: every field at its
 * default (0, false, "", absent sub-messages, no elements), but for those the policy set with
 * phx_call_reply_set() during this decide(). */
static inline phx_verdict_t phx_verdict_reply(void)
{
    return (phx_verdict_t){ .kind = PHX_VERDICT_REPLY };
}

/* Sets field PATH of the reply that phx_verdict_reply() will send to CALL (a request), from
 * within decide(): PATH as for phx_call_field, on the method's OUTPUT type ("rpc_hello.
 * HelloReply.message"), through singular sub-messages (made, at their defaults, as needed).
 * VALUE's kind must suit the field: INT or UINT in range for integer and enum fields (an enum's
 * number is not checked against its names), any number for float and double, BOOL for bool,
 * STRING (without NUL bytes) for string, STRING or BYTES for bytes; the text is copied. Setting a
 * member of a oneof selects it. The reply is built in the policy's own buffer (service memory,
 * PHX_POLICY_REPLY_ROOM bytes beyond the message for texts and sub-messages) and encoded, when
 * the verdict is given, by the encoder and checks every app's reply goes through.
 * 0; -ENOENT when PATH names no field of the output type; -ENOTSUP for a repeated field, a call
 * that is not a request or whose layouts are not known; -EINVAL when VALUE does not suit the
 * field (or names a message); -ENOSPC when the buffer is full; -ENOMEM. Runtime thread. */
#define PHX_POLICY_REPLY_ROOM 8192u
int phx_call_reply_set(const phx_call_t *call, const char *path, const phx_field_t *value);

/* Whether phx_call_reply_set(PATH, VALUE) would take for the replies of method METHOD_ID of
 * service SERVICE_ID, as the layouts E's MrpcEngine shares know the method: for a policy that
 * checks reply values it was given when its settings are read, not on the first call. 0; -ENOENT
 * (PATH names no field of the method's output type) or -EINVAL (a repeated field on the way, or
 * VALUE does not suit the field) with one sentence in WHY; -ENOTSUP when the method's layouts
 * are not known (no app registered them yet: the check then falls to phx_call_reply_set).
 * Control thread (create, reconfigure) or runtime thread. */
int phx_policy_reply_check(phx_engine_t *e, uint32_t service_id, uint32_t method_id,
                           const char *path, const phx_field_t *value, char *why, size_t whylen);

/* The policy: its verdict on CALL at NOW_NS (phx_now_ns()). Runtime thread; must not block. */
typedef phx_verdict_t (*phx_policy_decide_fn)(void *ctx, const phx_call_t *call, uint64_t now_ns);

/* Optional: shown each descriptor that is not a call (connection management: SENT, CONN_LOST,
 * DROPPED, CLOSE, ...) as it passes on a decided direction, in order with the calls, and those
 * flush() pushes out. Only watches: it cannot hold or change D. For a policy that must see how
 * calls end besides replies (a send that failed, a connection lost). Runtime thread. */
typedef void (*phx_policy_watch_fn)(void *ctx, const phx_desc_t *d, phx_dir_t dir,
                                    uint64_t now_ns);

/* Optional: told that the queued request CALL was withdrawn by its CANCEL (see Cancels), so
 * that decide() will not be asked about it again: for a policy that keeps state about a call it
 * holds (QosEngine: how long its paced message has waited). CALL shows who it is from and to, as
 * in decide(), but not its message (ctx NULL). Runtime thread. */
typedef void (*phx_policy_withdrawn_fn)(void *ctx, const phx_call_t *call, uint64_t now_ns);

#define PHX_POLICY_QUEUE_MAX  (1u << 20)    /* the largest queue_max */
#define PHX_POLICY_REASON_MAX 160

/* What happened to the calls of one direction. */
typedef struct phx_policy_counts {
    uint64_t forwarded;       /* calls passed on (connection descriptors are not counted) */
    uint64_t held;            /* calls that waited at least once */
    uint64_t rejected;        /* calls completed upward with a status */
    uint64_t overflowed;      /* ... of which because the queue was full */
    uint64_t unrejectable;    /* rejections and replies forwarded instead (no way up) */
    uint64_t replied;         /* requests the policy answered itself (REPLY) */
    uint64_t cancelled;       /* queued requests withdrawn by their CANCEL (see Cancels) */
} phx_policy_counts_t;

/* The peers of the app's connections the SDK has seen being made (CONNECT on tx, ACCEPTED on rx),
 * until they end (CLOSE, CONN_LOST): an open-addressed table of PHX_POLICY_PEERS_MAX, allocated
 * at init. A connection that finds it full is shown as not known (and counted). */
#define PHX_POLICY_PEERS_MAX 1024u
typedef struct phx_policy_peer {
    uint32_t   conn_id;
    bool       used;
    phx_peer_t peer;
} phx_policy_peer_t;

/* One direction's held descriptors: a ring of `cap` slots, queue_max for calls and a few more
 * for connection descriptors that arrive behind a full queue. Beside each slot a tag (private
 * to the SDK: its place in arrival order, and who a request is) and, for a CANCEL to find its
 * request without a pass over the queue, the requests by connection and call id. */
struct phx_policy_tag;
typedef struct phx_policy_queue {
    phx_desc_t *slots;
    unsigned    cap, max, head, count;
    uint64_t    until_ns;         /* when to ask about the head again; 0: ask now */
    bool        head_held;        /* the head was counted as held */
    unsigned    held;             /* hold-alone mode: the calls held at the front, in order */
    struct phx_policy_tag *tags;  /* cap of them, moved with their slots */
    uint64_t    next_seq;         /* the arrival number of the next descriptor queued */
    phx_u64map_t by_call;         /* a request's connection and call id -> its arrival number */
    bool        indexing;         /* by_call is kept (calls wait behind others: policy.c) */
    unsigned    unindexed;        /* requests queued whose key another one had taken */
} phx_policy_queue_t;

typedef struct phx_policy {
    phx_policy_decide_fn decide;
    void                *ctx;
    unsigned             dirs;        /* (1u << PHX_TX) | (1u << PHX_RX): what decide() sees */
    unsigned             batch;       /* descriptors taken per direction per progress() */
    phx_policy_queue_t   q[2];
    phx_policy_counts_t  counts[2];
    char                 last_reject[PHX_POLICY_REASON_MAX];
    phx_policy_watch_fn  watch;       /* NULL: none (phx_policy_watch) */
    /* SDK 2: who the calls are from and to */
    phx_caller_t         caller;      /* learned on the first progress() */
    bool                 caller_learned;
    phx_policy_peer_t   *peers;       /* PHX_POLICY_PEERS_MAX slots */
    unsigned             n_peers;
    uint64_t             peers_untracked;
    unsigned             sides;       /* PHX_SIDE_*: whose calls decide() sees (default both) */
    struct {                          /* the decoded copy of the call being decided (content.c) */
        void       *buf;
        size_t      cap, len;
        const void *key;              /* the descriptor's addr it was decoded from; NULL: none */
        void       *msg;
    } content;
    uint64_t             copies;      /* tx payloads moved into private copies */
    struct {                          /* the reply being built for the call decided (reply.c) */
        void       *buf;
        size_t      cap, used;
        const void *key;              /* the descriptor's addr it is for; NULL: none */
        const void *type;             /* its layout (struct mrpc_type_layout) */
        char        why[PHX_POLICY_REASON_MAX];   /* why it could not be made */
    } reply;
    bool                 hold_alone;  /* a held call holds only itself (phx_policy_hold_alone) */
    phx_policy_withdrawn_fn withdrawn; /* NULL: none (phx_policy_on_withdrawn) */
} phx_policy_t;

/* Sets P up for DECIDE(CTX, ...) on the directions in DIRS, with a queue of QUEUE_MAX (1 ..
 * PHX_POLICY_QUEUE_MAX) descriptors per direction. 0, -EINVAL or -ENOMEM. Control thread. */
int  phx_policy_init(phx_policy_t *p, phx_policy_decide_fn decide, void *ctx, unsigned dirs,
                     unsigned queue_max);
/* Resizes the queues to QUEUE_MAX (live reconfigure). -EBUSY with a sentence in ERR when more
 * descriptors are held than would fit; -ENOMEM. Control thread, group suspended. */
int  phx_policy_set_queue_max(phx_policy_t *p, unsigned queue_max, char *err, size_t errlen);
void phx_policy_fini(phx_policy_t *p);
/* Sets WATCH (NULL: none), called with the ctx of phx_policy_init. Control thread. */
void phx_policy_watch(phx_policy_t *p, phx_policy_watch_fn watch);
/* Sets FN (NULL: none), called with the ctx of phx_policy_init when a CANCEL withdraws a queued
 * request. Control thread. */
void phx_policy_on_withdrawn(phx_policy_t *p, phx_policy_withdrawn_fn fn);
/* Hold-alone mode (ON): a held call holds only itself, not the descriptors behind it. The calls
 * behind a held one are decided as they come and may pass it; the held ones keep their order
 * among themselves (only the first is asked again, at its time); a connection descriptor still
 * waits until no call ahead of it is held. For a policy that delays some calls of an app but
 * must not delay the others (QosEngine: a paced large request must not keep back the small
 * reply the peer waits for). Control thread, nothing held. */
void phx_policy_hold_alone(phx_policy_t *p, bool on);

/* The body of the engine's progress(): takes new descriptors, asks decide() about due calls,
 * forwards, holds and rejects. Returns the work done. */
int  phx_policy_progress(phx_policy_t *p, phx_engine_t *e, uint64_t now_ns);
/* The body of arm(): work now (> 0), or 0 with W's timeout at the first held call's time. */
int  phx_policy_arm(phx_policy_t *p, phx_engine_t *e, phx_wait_t *w, uint64_t now_ns);
/* The body of flush(): pushes every held descriptor out without asking decide(); returns how
 * many are still held (out channels full). */
int  phx_policy_flush(phx_policy_t *p, phx_engine_t *e);
/* The three above as engine ops, for a policy whose state begins with its phx_policy_t (the
 * common case: nothing else to do in progress, arm or flush). */
int  phx_policy_op_progress(phx_engine_t *e, void *state);
int  phx_policy_op_arm(phx_engine_t *e, void *state, phx_wait_t *w);
int  phx_policy_op_flush(phx_engine_t *e, void *state);
/* Which calls decide() is asked about, by the app's role in them: PHX_SIDE_CLIENT, the calls it
 * makes (requests and cancels on tx, replies and errors on rx); PHX_SIDE_SERVER, the calls it
 * serves (requests and cancels on rx, replies and errors on tx). Calls of the other side pass as
 * if forwarded. `policyctl attach --side` sets a policy's `side` setting, which a policy that
 * takes one (PHX_POLICY_SIDE_NAMES as an enum setting) hands to phx_policy_set_sides(). */
enum phx_policy_side { PHX_SIDE_CLIENT = 1u << 0, PHX_SIDE_SERVER = 1u << 1,
                       PHX_SIDE_BOTH = PHX_SIDE_CLIENT | PHX_SIDE_SERVER };
/* The names of an enum setting `side`, in the order of phx_policy_side_of()'s index. */
#define PHX_POLICY_SIDE_NAMES ((const char *const[]){ "client", "server", "both", NULL })
static inline unsigned phx_policy_side_of(int index)
{
    return index == 0 ? PHX_SIDE_CLIENT : index == 1 ? PHX_SIDE_SERVER : PHX_SIDE_BOTH;
}
void phx_policy_set_sides(phx_policy_t *p, unsigned sides);
/* The directions in which the requests of SIDES travel: a client's on tx, a server's on rx (for
 * a policy that decides requests only, so that the other direction is forwarded in batches as
 * it is, never queued). */
unsigned phx_policy_request_dirs(unsigned sides);
/* Changes the directions decide() sees (live reconfigure). -EBUSY with a sentence in ERR when
 * calls are held in a direction it would drop. Control thread, group suspended. */
int  phx_policy_set_dirs(phx_policy_t *p, unsigned dirs, char *err, size_t errlen);

/* Learns the app's identity (pid, uid, gid, Slurm job) for phx_call_t.caller now, on the control
 * thread, instead of on the first progress(): a policy may call it from create(). */
void phx_policy_learn_caller(phx_policy_t *p, phx_engine_t *e);
/* The peer of connection CONN_ID as the SDK knows it (flags 0: not known); never NULL. */
const phx_peer_t *phx_policy_peer(const phx_policy_t *p, uint32_t conn_id);

/* Descriptors held now in DIR. */
unsigned phx_policy_held(const phx_policy_t *p, phx_dir_t dir);

/* The counters as JSON members, without braces: "\"tx\":{...},\"rx\":{...},\"last_reject\":...,
 * \"peers\":N,\"peers_untracked\":N,\"copies\":N" (connections whose peer is known, those that
 * found the table full, tx payloads moved into private copies) for an engine's admin("stats") to
 * put in its object. Malloc'd, or NULL. */
char *phx_policy_stats_json(const phx_policy_t *p);

/* S as the contents of a JSON string (quotes and backslashes escaped, control characters as
 * \u00XX) into OUT (N bytes, cut short at a whole escape), for a policy's stats. */
void phx_policy_json_text(char *out, size_t n, const char *s);

/* The counters across a live upgrade: written into the engine's dump() blob, read back in its
 * restore() (false: the blob was short). They must be the last thing in the blob: `replied`,
 * then `cancelled`, come at its end, and a blob of an older SDK, which has none, restores them
 * as 0. */
void phx_policy_dump_counts(const phx_policy_t *p, phx_wbuf_t *w);
bool phx_policy_restore_counts(phx_policy_t *p, phx_rbuf_t *r);

/* ---- settings and state: the framing every policy shares ------------------------------------
 *
 * Most of a policy plugin besides decide() is the same from one policy to the next: create()
 * makes a state and puts the settings in effect, reconfigure() lays a config_string over the
 * settings in effect, destroy() frees the state, dump() and restore() carry the state across a
 * live upgrade in a versioned blob. A policy describes itself once in a phx_policy_kind_t and
 * its engine ops become one line each:
 *
 *     static const phx_policy_kind_t rl_kind = {
 *         .type = "RateLimitEngine", .version = RL_VERSION, .magic = RL_MAGIC,
 *         .state_version = RL_STATE_VERSION, .schema = &rl_schema,
 *         .policy_at = offsetof(struct rl_state, pol),
 *         .settings_at = offsetof(struct rl_state, set),
 *         .state_new = state_new, .state_free = state_free, .apply = apply,
 *         .dump = dump_rest, .restore = restore_rest,
 *     };
 *     PHX_POLICY_DEFINE_OPS(rl_kind)        (rl_kind_create, _destroy, _reconfigure, _dump,
 *                                           _restore: the engine ops, one line each)
 *     static const phx_engine_ops_t rl_engine = {
 *         .type = "RateLimitEngine", ..., PHX_POLICY_OPS(rl_kind), .admin = rl_admin,
 *     };
 *
 * The settings are derived with the platform's schema helper (phoenix/settings.h): BASE (the
 * plugin's section of phoenix.conf on create(), the settings in effect on reconfigure()) with
 * CONFIG over it, checked, and handed to apply(), which puts them in effect or refuses them with
 * a sentence, changing nothing. The derived copy is freed after apply() returns: apply() keeps
 * what it needs (phx_settings_copy() for a struct with strings).
 *
 * The blob: u32 magic (a blob of another plugin is refused as such), the settings in effect as
 * their libconfig text (so that a newer build reads them through the schema, its defaults
 * filling keys an older one did not have, and a damaged or out-of-range value is refused as in
 * any config_string), then what dump() writes, then the SDK's counters. restore() makes a state,
 * reads the settings back through apply(), then hands the rest to the kind's restore(); a blob
 * with bytes left over or missing is damaged. Blob version: state_version is written, and
 * oldest_state_version (0: the same) .. state_version are read, the kind's restore() told which.
 *
 * A policy whose settings are not a schema's struct (acl: rules) gives take() instead of apply()
 * and schema: the config_string goes to take() as it is, and the blob holds no settings text
 * (its dump() writes what it needs). Control thread, as the engine ops that call these. */
typedef struct phx_policy_kind {
    const char *type;                   /* "RateLimitEngine": names it in messages */
    const char *version;                /* the plugin's "1.0.0" */
    uint32_t    magic;                  /* first word of the blob */
    uint32_t    state_version;          /* written; the engine ops' state_version */
    uint32_t    oldest_state_version;   /* the oldest read (0: state_version only) */
    const struct phx_settings_schema *schema;
    size_t      policy_at;              /* offsetof(state, its phx_policy_t) */
    size_t      settings_at;            /* offsetof(state, its settings in effect) (schema) */
    void      *(*state_new)(phx_engine_t *e);      /* NULL: out of memory */
    void       (*state_free)(void *state);
    /* Puts SET in effect, or refuses it (-errno, a sentence in ERR) changing nothing. */
    int        (*apply)(void *state, const void *set, char *err, size_t errlen);
    /* Instead of schema and apply: CONFIG over the settings in effect. */
    int        (*take)(void *state, const char *config, char *err, size_t errlen);
    /* Optional: the engine E is destroyed for good (a detach, the app leaving; not the old or
     * new side of a live upgrade's handover), just before state_free(): undo what the policy
     * set on E itself (QosEngine: the runtime's urgency hint). */
    void       (*detach)(void *state, phx_engine_t *e);
    /* Optional: the state besides settings and counters, into W (after finishing what must be
     * finished first: buffered lines written out) / back from R (false: damaged; VERSION the
     * blob's). */
    void       (*dump)(void *state, phx_wbuf_t *w);
    bool       (*restore)(void *state, phx_rbuf_t *r, uint32_t version);
} phx_policy_kind_t;

/* BASE (NULL: the plugin's settings of E, phoenix.conf's) with CONFIG over it, derived through
 * K's schema and handed to K's apply(STATE, ...). 0, -EINVAL with "config_string:1: key: what"
 * in ERR, or apply()'s error. */
int  phx_policy_settings_take(const phx_policy_kind_t *k, phx_engine_t *e, void *state,
                              const void *base, const char *config, char *err, size_t errlen);
/* The bodies of create(), reconfigure() (CONFIG over the settings in effect, so that a live
 * `set` changes only what it names), dump() and restore() for K. */
int  phx_policy_create(const phx_policy_kind_t *k, phx_engine_t *e, const char *config,
                       void **state, char *err, size_t errlen);
int  phx_policy_reconfigure(const phx_policy_kind_t *k, phx_engine_t *e, void *state,
                            const char *config, char *err, size_t errlen);
int  phx_policy_dump(const phx_policy_kind_t *k, void *state, phx_blob_t *out);
int  phx_policy_restore(const phx_policy_kind_t *k, phx_engine_t *e, const phx_blob_t *in,
                        void **state, char *err, size_t errlen);

/* Defines KIND_create, KIND_destroy, KIND_reconfigure, KIND_dump and KIND_restore, the engine ops
 * of the policy kind KIND (a phx_policy_kind_t defined above it), and names them in an ops table
 * (PHX_POLICY_OPS). */
#define PHX_POLICY_DEFINE_OPS(kind)                                                            \
    static int kind##_create(phx_engine_t *e, const char *config, void **state, char *err,     \
                             size_t errlen)                                                    \
    {                                                                                          \
        return phx_policy_create(&kind, e, config, state, err, errlen);                        \
    }                                                                                          \
    static void kind##_destroy(phx_engine_t *e, void *state, phx_destroy_mode_t mode)          \
    {                                                                                          \
        if (mode != PHX_DESTROY_STATE_ONLY && kind.detach)                                     \
            kind.detach(state, e);                                                             \
        kind.state_free(state);                                                                \
    }                                                                                          \
    static int kind##_reconfigure(phx_engine_t *e, void *state, const char *config, char *err, \
                                  size_t errlen)                                               \
    {                                                                                          \
        return phx_policy_reconfigure(&kind, e, state, config, err, errlen);                   \
    }                                                                                          \
    static int kind##_dump(phx_engine_t *e, void *state, phx_blob_t *out)                      \
    {                                                                                          \
        (void)e;                                                                               \
        return phx_policy_dump(&kind, state, out);                                             \
    }                                                                                          \
    static int kind##_restore(phx_engine_t *e, const phx_blob_t *in, void **state, char *err,  \
                              size_t errlen)                                                   \
    {                                                                                          \
        return phx_policy_restore(&kind, e, in, state, err, errlen);                           \
    }
#define PHX_POLICY_OPS(kind)                                                                   \
    .create = kind##_create, .destroy = kind##_destroy, .reconfigure = kind##_reconfigure,     \
    .dump = kind##_dump, .restore = kind##_restore

#endif /* PHOENIX_POLICY_H */
