/* ucx_engine.h - UcxRpcAdapterEngine's state and the parts of the plugin that share it.
 *
 * One engine per app subscription, last in its chain: tx in port 0 brings BIND, CONNECT, CLOSE
 * and SEND descriptors (mrpc/transport.h), rx out port 0 takes BOUND, CONNECTED, ACCEPTED, SENT,
 * RECEIVED and CONN_LOST back. The engines of one runtime thread share that thread's ucp_worker
 * (ucx_worker.c) and its event fd; each engine keeps its own connections, listeners, sends,
 * receive heap, in-flight budget, stats and failures, so apps stay independent: one app's dead
 * peer, malformed frames, full heap or back-pressure never touches another app's engine.
 *
 * The plugin is split by concept:
 *   ucx_context.c   the shared ucp_context and the UCX settings
 *   ucx_worker.c    the worker a runtime thread's engines share: lock, demultiplexing, sleeping
 *   ucx_conn.c      connections: life cycle, connect, close, failures
 *   ucx_listen.c    bindings: bind, listeners, accepting
 *   ucx_send.c      SEND: bounded outstanding sends per connection, completions as SENT
 *   ucx_batch.c     small SENDs of one connection gathered into one active message
 *   ucx_credit.c    flow control per connection: credits spent by sends, granted back by receivers
 *   ucx_recv.c      the active-message handler: checks, receive heap, rendezvous, RECEIVED
 *   ucx_local.c     the same-node path: two apps of one worker, without UCX
 *   ucx_xlocal.c    ... and two apps of different runtime threads (workers)
 *   ucx_engine.c    the engine operations (progress, arm, admin, flush, destroy)
 *   ucx_state.c     live upgrade: the state as versioned bytes, UCX handles handed over
 *   ucx_mem.c       the app's heaps mapped into UCX chunk by chunk (memory handles)
 *   ucx_addr.c                         "host:port" parsing
 *
 * Everything here runs with the worker's lock held: in an engine operation (on the runtime thread,
 * or on the control thread while the engine's group is suspended), or in UCX callbacks called
 * from ucp_worker_progress() inside one, which may be another engine's operation on the same
 * worker. Callbacks therefore only record what happened and queue descriptors, never touch a
 * channel; the engine's own progress() pushes them up as the rx channel has room, in this order: events
 * (BOUND, CONNECTED, ACCEPTED, immediate SENT answers, CONN_LOST), then SENT completions, then
 * RECEIVED. A connection's ACCEPTED/CONNECTED therefore always precedes its messages, and its
 * CONN_LOST is queued only once all its SENT and RECEIVED have gone up. The one thing two
 * workers' threads share is a same-node pair across runtime threads (ucx_xlocal.c), guarded by
 * a mutex of its own, taken inside the worker's lock. */
#ifndef PHX_UCX_ENGINE_H
#define PHX_UCX_ENGINE_H

#include "mrpc/transport.h"
#include "phoenix/clock.h"
#include "phoenix/engine.h"
#include "phoenix/fifo.h"
#include "phoenix/handover.h"
#include "ucx_context.h"
#include "ucx_hs_frame.h"
#include "ucx_mem.h"
#include "ucx_worker.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <ucp/api/ucp.h>

#define PHX_UCX_AM_ID              1        /* the active message every RPC travels in */
#define PHX_UCX_AM_BATCH_ID        2        /* ... or several small ones of a connection */
#define PHX_UCX_AM_CREDIT_ID       3        /* credits granted back (ucx_credit.c) */
#define PHX_UCX_AM_CLAIM_ID        4        /* a new endpoint claims its handshake (ucx_claim.c) */
#define PHX_UCX_HS_SLOTS           320      /* handshakes in flight per engine, both roles */
#define PHX_UCX_HS_ACCEPTS         64       /* connections accepted per binding per turn */
#define PHX_UCX_HS_TRIES           3        /* a CONNECT's handshake starts again at most so
                                                often when the server hangs up mid-way */
#define PHX_UCX_SOCK_POLL_US       100      /* a busy engine with no handshake in flight looks at
                                                its sockets (listeners, live ones) this often */
#define PHX_UCX_LOG_PER_SEC        10       /* refusals logged per second; the rest counted */
#define PHX_UCX_ACCEPT_PAUSE_MS    100      /* out of fds: a binding rests this long */
#define PHX_UCX_GRANT_MIN          (MRPC_WIRE_WINDOW / 4)  /* consumed messages per grant */
#define PHX_UCX_MAX_CONNS          1024     /* per engine, outgoing and accepted */
#define PHX_UCX_MAX_LISTENERS      64       /* per engine */
#define PHX_UCX_MAX_SENDS_PER_CONN 256      /* outstanding: posted, SENT not yet pushed up */
#define PHX_UCX_MAX_SENDS          4096     /* the same for the whole engine */
#define PHX_UCX_MAX_IOV            1024     /* pieces UCX gets as an iov list; more are gathered */
#define PHX_UCX_MAX_PIECES         (1u << 22) /* pieces of one message at most */
#define PHX_UCX_INLINE_IOV         4        /* pieces described without an allocation */
#define PHX_UCX_TX_BATCH           128      /* tx descriptors handled per progress() */
#define PHX_UCX_UP_BATCH           256      /* descriptors pushed up per queue per progress() */
#define PHX_UCX_PROGRESS_TURNS     64       /* ucp_worker_progress() calls per progress() */
#define PHX_UCX_LANDED_MAX         16384    /* landed messages above which new ones are dropped */
#define PHX_UCX_EVENTS_SOFT        256      /* queued events above which tx is not read */
#define PHX_UCX_EVENTS_MAX \
    (PHX_UCX_EVENTS_SOFT + PHX_UCX_TX_BATCH + 2 * PHX_UCX_MAX_CONNS + PHX_UCX_MAX_LISTENERS)
#define PHX_UCX_CONNECT_TIMEOUT_MS 2000     /* CONNECT without an answer fails after this */
#define PHX_UCX_WAKE_MS            1000     /* idle engine with connections: keepalive turns */
#define PHX_UCX_DESTROY_WAIT_MS    1000     /* destroy: endpoints closing, at most this long */
#define PHX_UCX_DRAIN_MS           100      /* upgrade: UCX requests in flight finish within */
#define PHX_UCX_ABANDON_MS         200      /* sends UCX still holds this long after a close */
#define PHX_UCX_PARK_STALL_MS      1000     /* a parked frame facing a full heap that frees
                                               nothing this long is refused (ucx_recv.c) */
#define PHX_UCX_MIN_RECV_ALLOC     16       /* a 0-byte payload still gets a block */
#define PHX_UCX_SPLIT_MIN          8192     /* a piece this big goes as contiguous data */
#define PHX_UCX_BATCH_MSG_MAX      20480    /* messages up to this size may be batched: below
                                               UCX's eager/rendezvous switch over TCP (20,553 B) */
#define PHX_UCX_BATCH_BYTES        65536    /* payload bytes of one batch at most: one zero-copy
                                               fragment over TCP (am_zcopy <= 64 KiB) */
#define PHX_UCX_BATCHES_MAX        32       /* batch buffers per engine; past them, alone */
#define PHX_UCX_EAGER_ZCOPY_MAX    63488    /* an eager message up to this size is one zero-copy
                                               fragment over TCP (64 KiB less the headers); a
                                               larger one is copied out (ucx_send.c, pack) */

enum phx_ucx_conn_state {
    PHX_UCX_CONNECTING,     /* CONNECT issued, no answer yet */
    PHX_UCX_UP,             /* connected or accepted */
    PHX_UCX_FAILED,         /* UCX reported an error; progress() will force-close the ep */
    PHX_UCX_CLOSING,        /* the ep is closed or closing; freed once nothing refers to it */
};

/* What carries a connection's messages, as far as the eager switch cares (ucx_conn.c). */
enum phx_ucx_lanes { PHX_UCX_LANES_UNKNOWN, PHX_UCX_LANES_TCP, PHX_UCX_LANES_OTHER };

struct phx_ucx_engine;
struct phx_ucx_xpair;       /* ucx_xlocal.c */

/* A same-node message that found no room in its receiver's heap waits since STILL_NS (0: it does
 * not wait), when that heap had freed FREES blocks (ucx_recv.c, phx_ucx_recv_local). */
struct phx_ucx_lwait {
    uint64_t still_ns, frees;
};

struct phx_ucx_conn {
    struct phx_ucx_engine  *s;
    uint32_t                id;
    enum phx_ucx_conn_state state;
    ucp_ep_h                ep;         /* NULL once ucp_ep_close_nbx() was called */
    phx_desc_t              request;    /* the CONNECT, echoed as CONNECTED */
    uint64_t                deadline_ns;/* CONNECTING: when it fails; CLOSING: when sends UCX
                                           still holds are given up (ucx_send.c) */
    unsigned                sends;      /* SENDs posted whose SENT has not gone up */
    unsigned                in_ucx;     /* ... of which UCX has not completed yet */
    unsigned                queued;     /* descriptors in the up queues that name it */
    unsigned                ucx_ops;    /* flush/close requests of UCX that refer to it */
    bool                    in_id_map;
    bool                    wired;      /* UCX finished wiring the endpoint up: sends may go */
    uint8_t                 lanes;      /* enum phx_ucx_lanes of the endpoint, read once wired
                                           (phx_ucx_conn_tcp_only) */
    bool                    lost_due;   /* a CONN_LOST must go up once the above drain */
    bool                    claimed;    /* CONNECTING: the claim went, the ack is awaited */
    bool                    reclaim;    /* CONNECTING: its endpoint went to a crossed connect's
                                           accepted connection; claim again on a new one */
    void                   *wire_req;   /* the flush wiring ep up (stale ones are ignored) */
    uint8_t                *peer_waddr; /* client: the server's worker address (from WELCOME) */
    size_t                  peer_waddr_len;
    bool                    peer_local; /* client: the server is on this host (ucx_hs.c) */
    struct phx_ucx_hs      *hs;         /* CONNECTING: its handshake, until DONE (ucx_hs.c) */
    bool                    redial;     /* CONNECTING: start the handshake again (an upgrade
                                           interrupted it; ucx_hs.c) */
    unsigned                hs_tries;   /* handshakes this CONNECT started again */
    struct mrpc_peer_info  *peer;       /* accepted: what ACCEPTED points at (malloc'd) */
    int                     live_fd;    /* the handshake's socket, kept open while C lives: its
                                           EOF says the peer is gone (ucx_hs.c); -1: none */
    uint8_t                 claim_hdr[32]; /* the claim frame, while UCX sends it */
    uint64_t                twin_ep;    /* a loopback pair (ucx_claim.c): the other end's
                                           endpoint, whose connection we tell when we close */
    uint32_t                ord;        /* its place in a state blob (ucx_state.c) */

    /* flow control (ucx_credit.c) */
    unsigned                credits;    /* messages we may still send */
    struct phx_ucx_send    *wait_head, *wait_tail;  /* sends waiting for credits (ucx_send.c) */
    unsigned                ungranted;  /* the peer's messages we consumed, not yet granted */
    bool                    credit_free;/* the peer is older than credits: no limit */
    bool                    local_blocked; /* the head of the wait list found no room at the
                                           twin (same-node path, ucx_local.c) */
    struct phx_ucx_lwait    lwait;      /* same-node path (ucx_local.c): the head of the wait
                                           list waits for room in the twin's receive heap */
    uint64_t                local_stamp;/* ... what the twin had done by the last attempt */
    /* the same-node path across runtime threads (ucx_xlocal.c) */
    struct phx_ucx_xpair   *xpair;      /* the pair shared with the other end, or NULL */
    unsigned                xside;      /* our end of it: 0 the client's, 1 the server's */
    bool                    xlinked;    /* both ends joined: messages take the pair */
    bool                    xblocked;   /* the other end's first post found no room here */
    unsigned                in_xpair;   /* our sends posted to the pair, not yet reaped */
    struct phx_ucx_lwait    xwait;      /* ... that post's wait for room in our heap */
    uint64_t                xstamp;     /* ... what our engine had done by the last attempt */
    bool                    grant_due;  /* on the engine's grants_due count */
    bool                    granting;   /* a grant is in flight; its header: */
    struct mrpc_wire_credit grant_hdr;
    struct phx_ucx_conn    *prev, *next;
};

struct phx_ucx_binding {
    struct phx_ucx_engine *s;
    uint32_t               id;
    uint16_t               port;
    int                    fd;          /* our own listening socket (ucx_hs.c) */
    bool                   paused;      /* out of fds: not watched for a while */
};

struct phx_ucx_hs;          /* ucx_hs.c: one handshake on a TCP socket */
struct phx_ucx_claim;       /* ucx_claim.c: a handshake done, its endpoint awaited */

/* The wire-up settings an engine keeps (settings.ucx, ucx_context.c). */
struct phx_ucx_wireup_cfg {
    unsigned hs_timeout_ms;             /* a handshake's deadline */
    unsigned halfopen_max;              /* accepted handshakes in flight, per engine */
    unsigned halfopen_per_source;       /* ... from one source address */
    unsigned auth;                      /* enum phx_ucx_auth */
    bool     same_uid;                  /* accept only callers of the service's own uid */
    bool     same_job;                  /* accept only peers of the service's own Slurm job */
    bool     same_node;                 /* a loopback pair's messages skip UCX (ucx_local.c) */
    unsigned worker;                    /* enum phx_ucx_worker_mode (settings.ucx.worker) */
    bool     peers_only;                /* a worker it creates guards its UCX TCP ports
                                           (settings.ucx.tcp_peers_only, ucx_portguard.h) */
    uint64_t eager_max;                 /* bytes: single messages up to this size go eager on
                                           TCP connections (settings.ucx.eager_max_kb; 0: off;
                                           not wire-up, but read again at restore as it is) */
    char     job[32];                   /* that job (SLURM_JOB_ID), "" for a node service */
    char     munge_socket[108];
};

/* What waits in the engine's `events` and `landed` FIFOs to go up the rx channel: UCX reports
 * from callbacks inside ucp_worker_progress(), when the channel may be full. Each entry remembers
 * the connection it keeps alive and the in-flight receive bytes to give back once it is pushed. */
/* A message landed for S inside a ucp_worker_progress() that an engine of the worker is running:
 * when S's app is more urgent than that engine's (phx_engine_urgency: QosEngine's latency class),
 * or it is S and S's app is urgent, that engine ends its progress loop early (ucx_engine.c,
 * progress_worker), so that S pushes it up sooner. Callbacks only, on the runtime thread. */
void phx_ucx_handoff_note(const struct phx_ucx_engine *s);

struct phx_ucx_up {
    phx_desc_t           desc;
    struct phx_ucx_conn *conn;      /* NULL, or the connection whose `queued` count it holds */
    uint64_t             charge;    /* in-flight receive bytes released when it is pushed */
    uint64_t             at_ns;     /* when a RECEIVED landed (0: restored), for up_wait */
};

struct phx_ucx_send;        /* ucx_send.c */
struct phx_ucx_batch;       /* ucx_batch.c */
struct phx_ucx_rndv;        /* ucx_recv.c */
struct phx_ucx_parked;      /* ucx_recv.c */

struct phx_ucx_stats {
    uint64_t tx_msgs, tx_bytes;         /* SENT OK */
    uint64_t rx_msgs, rx_bytes;         /* RECEIVED pushed up */
    uint64_t malformed;                 /* frames failing the wire checks */
    uint64_t rejected_inflight;         /* over the in-flight budget or the landed bound */
    uint64_t rejected_heap;             /* the app's receive heap was full */
    uint64_t parked;                    /* rendezvous frames that waited for room first */
    uint64_t dropped;                   /* valid frames for a connection that failed */
    uint64_t send_errors;               /* SENT with a status other than OK */
    uint64_t rx_errors;                 /* rendezvous data that failed to land */
    uint64_t tx_unknown;                /* tx descriptors of a kind the transport ignores */
    uint64_t tx_memh;                   /* sends posted with the send heap's memory handle */
    uint64_t tx_head;                   /* sends with payload bytes in the AM header */
    uint64_t tx_gathered;               /* sends of too many pieces, copied together first */
    uint64_t tx_batches, tx_batched;    /* batches sent, messages in them (ucx_batch.c) */
    uint64_t rx_batches;                /* batches received */
    uint64_t tx_grants, rx_grants;      /* credit grants sent and received (ucx_credit.c) */
    uint64_t granted;                   /* credits given back in the grants sent */
    uint64_t credit_waits;              /* SENDs that waited for credits on their connection */
    uint64_t accepted, rejected_conns;
    uint64_t hs_ok;                     /* handshakes that made a connection */
    uint64_t hs_refused[PHX_UCX_HS_NREASONS];   /* by reason (ucx_hs_frame.h) */
    uint64_t hs_unlogged;               /* refusals over the logging rate */
    uint64_t hs_retried;                /* client handshakes started again (ucx_hs.c) */
    uint64_t up_waits, up_wait_ns, up_wait_max_ns;  /* RECEIVED from landing to going up */
    uint64_t wp_calls, wp_long, wp_max_ns;  /* ucp_worker_progress() calls, over 1 ms, longest */
    uint64_t handoffs;                  /* progress loops ended early for another engine */
    uint64_t tx_local, rx_local;        /* messages sent / landed on the same-node path */
    uint64_t local_waits;               /* ... tries that found no room at the receiver */
    uint64_t hs_crossed;                /* claims that came on our own outgoing endpoint
                                           from the server it calls (crossed connects) */
    uint64_t eager_sends;               /* messages sent with UCP_AM_SEND_FLAG_EAGER (ucx_send.c) */
    uint64_t eager_held;                /* eager frames that waited for room (ucx_recv.c) */
    unsigned pending_peak;              /* most SENDs outstanding on one connection */
};

struct phx_ucx_engine {
    uint64_t                magic;      /* PHX_UCX_STATE_MAGIC: dump/restore sanity */
    phx_engine_t           *engine;
    struct phx_ucx_context *ctx;
    struct phx_ucx_worker  *w;                  /* shared with the runtime thread's engines,
                                                   or its own (settings.ucx.worker) */
    ucp_worker_h            worker;             /* w->ucp, where endpoints and listeners go */
    bool                    runtime_warned;     /* said that it runs on another runtime */
    bool                    move_failed;        /* could not get its own worker: stays */
    uint64_t                max_message;        /* bytes (settings.ucx.max_message_mb) */
    uint64_t                inflight_budget;    /* bytes (settings.ucx.inflight_mb) */
    bool                    closing;            /* destroy() runs: callbacks only clean up */
    bool                    draining;           /* flush() for an upgrade: rendezvous frames
                                                   wait (parked) instead of being fetched;
                                                   cleared by the next progress() */
    bool                    detached;           /* destroyed and kept: the app's heaps are gone */
    struct phx_ucx_heap_map send_map, recv_map; /* ucx_mem.c */
    size_t                  head_max;           /* payload bytes an AM header may carry */
    unsigned                batch_max;          /* messages a batch may carry (0: none) */

    /* connections (ucx_conn.c) */
    struct phx_ucx_conn    *conns;              /* every live one, including dying ones */
    unsigned                n_conns;
    unsigned                n_xpairs;           /* of which on a cross-thread pair */
    unsigned                connecting;         /* in PHX_UCX_CONNECTING */
    unsigned                dying;              /* in PHX_UCX_FAILED or PHX_UCX_CLOSING */
    phx_u64map_t            by_id;              /* by endpoint: the worker's by_ep */
    struct phx_ucx_binding *bindings[PHX_UCX_MAX_LISTENERS];
    unsigned                n_bindings;
    uint32_t                next_accepted;

    /* wire-up (ucx_hs.c, ucx_claim.c) */
    struct phx_ucx_wireup_cfg wcfg;
    int                     epfd;               /* sockets + the worker's fd; arm() gives it */
    unsigned                n_sockets;          /* registered in epfd besides the worker's */
    uint8_t                *waddr;              /* the worker's UCX address, for WELCOME */
    size_t                  waddr_len;
    struct phx_ucx_hs      *hs[PHX_UCX_HS_SLOTS];
    unsigned                n_hs, n_halfopen;   /* in use; of which accepted ones */
    struct phx_ucx_claim   *claims;
    unsigned                n_claims;
    uint64_t                sock_poll_ns;       /* sockets last looked at */
    bool                    sock_due;           /* look at them in the next progress() */
    struct phx_ucx_authq   *authq;              /* auth "munge": the credential thread */
    uint32_t                hs_serial;          /* tells a reused handshake slot from its past */
    uint64_t                accept_resume_ns;   /* paused bindings are watched again then */
    uint64_t                log_second;         /* refusal logging: the current second */
    unsigned                logged;             /* ... and how many were logged in it */

    /* send path (ucx_send.c) */
    phx_desc_t              held;               /* popped from tx, waiting for room */
    bool                    has_held;
    struct phx_ucx_send    *free_sends, *all_sends;
    struct phx_ucx_send    *done_head, *done_tail;
    unsigned                n_sends;            /* slots allocated */
    unsigned                pending_sends;      /* slots in use */
    unsigned                abandoned;          /* sends UCX kept after a close, still held */
    unsigned                done_count;
    unsigned                waiting;            /* sends on connections' wait lists */
    struct phx_ucx_batch   *open_batch;         /* being filled by this tx pass (ucx_batch.c) */
    struct phx_ucx_batch   *free_batches, *all_batches;
    unsigned                n_batches;          /* batch buffers allocated */
    ucp_datatype_t          pack_dt;            /* eager in several fragments (ucx_send.c) */
    bool                    has_pack_dt;        /* ... created (on first use) */

    /* receive path (ucx_recv.c) */
    uint64_t                inflight;           /* bytes allocated, RECEIVED not pushed up */
    struct phx_ucx_parked  *parked, *parked_tail; /* frames waiting for room, in order */
    unsigned                held_eager;         /* ... of which eager ones, their data held */
    uint64_t                held_bytes;         /* ... and those frames' bytes */
    unsigned                grants_due;         /* connections with a grant to send */
    unsigned                rndv_pending;
    struct phx_ucx_rndv    *rndvs;

    phx_fifo_t              events, landed;     /* of struct phx_ucx_up */
    uint64_t                rx_seq;             /* seq of the descriptors pushed up */
    struct phx_ucx_stats    stats;
    struct phx_ucx_engine  *kept_next;          /* destroyed, on the worker's kept list */
#ifdef UCX_STATE_NEXT
    uint64_t                upgrades;           /* a test build's layout change (ucx_state.c) */
#endif
};

#define PHX_UCX_STATE_MAGIC 0x7563785f73746174ull    /* "ucx_stat" */

/* The state versions this build writes and reads (ucx_state.c). 3: shared worker; 4: waiting
 * sends, parked frames (both by address); 5: bytes and handles; 6: our own listening sockets
 * (fds), peer identities. The test builds: */
#if defined(UCX_STATE_REFUSE)           /* phoenix_ucx_refuse: reads none that exists */
#define UCX_STATE_VERSION  8
#define UCX_STATE_MIN_READ 8
#elif defined(UCX_STATE_NEXT) || defined(UCX_STATE_REFUSE_LATE)
                                        /* phoenix_ucx_next: another layout, converts 6;
                                           phoenix_ucx_refuse_late: reads it, then refuses */
#define UCX_STATE_VERSION  7
#define UCX_STATE_MIN_READ 6
#else
#define UCX_STATE_VERSION  6
#define UCX_STATE_MIN_READ 6
#endif
#ifndef UCX_PLUGIN_VERSION
#define UCX_PLUGIN_VERSION "1.0.0"     /* another for the upgrade tests' other builds */
#endif

/* ---- ucx_engine.c ------------------------------------------------------------------------ */

/* Queues an event (BOUND, CONNECTED, ACCEPTED, an immediate SENT, CONN_LOST) naming CONN (may be
 * NULL). 0 or -ENOBUFS/-ENOMEM (logged). */
int      phx_ucx_queue_event(struct phx_ucx_engine *s, const phx_desc_t *d,
                             struct phx_ucx_conn *conn);
/* Frees a destroyed state that the worker kept (ucx_worker.c), once the worker is gone. */
void     phx_ucx_engine_free(struct phx_ucx_engine *s);

/* ---- ucx_state.c ------------------------------------------------------------------------- */

/* dump(): S (flushed, the lock held) as bytes, its UCX handles through E's resource table. 0, or
 * -EBUSY with the reason logged when UCX still holds requests calling into S. */
int  phx_ucx_state_dump(phx_engine_t *e, struct phx_ucx_engine *s, phx_blob_t *out);
/* restore(): a state of this build from IN; it registers the commit hook that makes UCX call
 * this build. 0 or -errno with a sentence in ERR. */
int  phx_ucx_state_restore(phx_engine_t *e, const phx_blob_t *in, struct phx_ucx_engine **out,
                           char *err, size_t errlen);
/* destroy(STATE_ONLY): frees S's memory and nothing UCX or another state owns. */
void phx_ucx_state_free(struct phx_ucx_engine *s);
/* Sets what S derives from its worker: head_max, batch_max (create, restore). */
void phx_ucx_engine_worker_limits(struct phx_ucx_engine *s);

/* ---- ucx_conn.c -------------------------------------------------------------------------- */

int  phx_ucx_conns_init(struct phx_ucx_engine *s);
/* A connection object with id ID, on the engine's list (no endpoint yet). NULL: no memory. */
struct phx_ucx_conn *phx_ucx_conn_new(struct phx_ucx_engine *s, uint32_t id);
void phx_ucx_conn_free(struct phx_ucx_conn *c);
/* Peer error handling with C's error handler, in the parameters of C's endpoint. */
void phx_ucx_conn_set_err_handling(ucp_ep_params_t *p, struct phx_ucx_conn *c);
/* Live upgrade, at commit: C's endpoint calls this build's error handler with C, and frames on
 * it find C (the worker's by_ep). 0 or -errno (logged). */
int  phx_ucx_conn_repoint(struct phx_ucx_conn *c);
/* C's peer closed its handshake socket (ucx_hs.c): lost, as on an endpoint error. */
void phx_ucx_conn_peer_gone(struct phx_ucx_conn *c);
/* C and T are the two ends of a loopback pair on one worker (ucx_claim.c). */
void phx_ucx_conn_twin(struct phx_ucx_conn *c, struct phx_ucx_conn *t);
/* Sets S's connecting/dying counts from its connections' states (after a restore). */
void phx_ucx_conns_recount(struct phx_ucx_engine *s);
/* C's handshake failed for WHY: a CONNECTING C answers its CONNECT with UNAVAILABLE. */
void phx_ucx_conn_handshake_failed(struct phx_ucx_conn *c, const char *why);
/* C's handshake is done: its endpoint to the server's worker address ADDR (LEN bytes; LOCAL:
 * the server is on this host) claims SNONCE (NULL: no claim, ucx_claim.c does it). PHX_OK or a
 * status with a sentence in WHY. */
int  phx_ucx_conn_to_worker(struct phx_ucx_conn *c, const uint8_t *addr, size_t len, bool local,
                            const uint8_t *snonce, char *why, size_t whylen);
/* ucp_ep_create() on WORKER with P (its address field is set here) to a peer's worker address
 * ADDR (LEN bytes; LOCAL: the peer is on this host), checked and without the same-host
 * transports of a peer elsewhere (ucx_addr_check.h) first. UCX's status, UCS_ERR_INVALID_ADDR
 * when the address is refused; WHY says why unless UCS_OK. */
ucs_status_t phx_ucx_ep_to_peer(ucp_worker_h worker, ucp_ep_params_t *p, const uint8_t *addr,
                                size_t len, bool local, ucp_ep_h *ep, char *why, size_t whylen);
/* C (accepted, no endpoint yet) takes EP, which a claim came on, or (NULL) a new endpoint to
 * our own worker paired with the one made just before: C is up. 0, or -errno (C is then freed
 * or being closed). */
int  phx_ucx_conn_adopt_ep(struct phx_ucx_conn *c, ucp_ep_h ep);
/* A crossed connect (ucx_claim.c): UCX paired C's endpoint with its server's own outgoing one,
 * and the connection accepted on it takes it. C forgets it and claims again on a new endpoint
 * in its engine's next progress; the endpoint returned. */
ucp_ep_h phx_ucx_conn_cede_ep(struct phx_ucx_conn *c);
/* An id MrpcEngine may give a new binding or connection. */
bool phx_ucx_id_usable(struct phx_ucx_engine *s, uint32_t id);
void phx_ucx_connect(struct phx_ucx_engine *s, const phx_desc_t *d);
void phx_ucx_close(struct phx_ucx_engine *s, const phx_desc_t *d);
struct phx_ucx_conn *phx_ucx_conn_by_id(struct phx_ucx_engine *s, uint32_t id);
/* Traffic arrived on a CONNECTING connection: it is up (CONNECTED goes first). */
void phx_ucx_conn_established(struct phx_ucx_conn *c);
/* Deadlines, force-closing failed endpoints, CONN_LOST, freeing drained connections. */
unsigned phx_ucx_conns_tick(struct phx_ucx_engine *s);
/* Whether phx_ucx_conns_tick() has something to do now. */
bool     phx_ucx_conns_due(struct phx_ucx_engine *s);
/* Milliseconds until the next deadline (a connect timing out, sends given up), or -1. */
int  phx_ucx_conns_timeout_ms(struct phx_ucx_engine *s);
/* destroy(), without the lock: force-closes every endpoint of S and progresses the worker, a
 * bounded while, until UCX holds no request that calls back into S. False when UCX still holds
 * some (then S must outlive the worker: phx_ucx_worker_keep()). */
bool phx_ucx_conns_shutdown(struct phx_ucx_engine *s);
void phx_ucx_conns_free(struct phx_ucx_engine *s);
/* Whether UCX holds requests that call back into S: flushes, closes and grants, sends it has not
 * completed, rendezvous receives. Under the lock. */
bool phx_ucx_holds_requests(const struct phx_ucx_engine *s);

/* The transports of EP's lanes, "tcp/lo,posix/memory", to OUT (ucp_ep_print_info()). */
void phx_ucx_ep_lanes(ucp_ep_h ep, FILE *out);
/* Whether every lane of C's endpoint is TCP: read once C is wired up, false before. */
bool phx_ucx_conn_tcp_only(struct phx_ucx_conn *c);

/* ---- ucx_listen.c ------------------------------------------------------------------------ */

void phx_ucx_bind(struct phx_ucx_engine *s, const phx_desc_t *d);
/* A free id for an accepted connection (>= MRPC_CONN_ACCEPTED_BASE). */
uint32_t phx_ucx_accepted_id(struct phx_ucx_engine *s);
bool phx_ucx_binding_exists(struct phx_ucx_engine *s, uint32_t id);
/* Destroys binding ID's listener; false when ID is no binding. */
bool phx_ucx_unbind(struct phx_ucx_engine *s, uint32_t id);
void phx_ucx_listeners_shutdown(struct phx_ucx_engine *s);
/* Accepts what waits on binding ID's socket (at most PHX_UCX_HS_ACCEPTS); how many. */
unsigned phx_ucx_binding_accept(struct phx_ucx_engine *s, uint32_t id);
/* Bindings paused for lack of fds are watched again once their pause is over; how many. */
unsigned phx_ucx_bindings_resume(struct phx_ucx_engine *s, uint64_t now);
/* Live upgrade (restore): binding ID on port PORT listening on FD, taken over (not yet in the
 * epoll set). 0 or -ENOMEM. */
int  phx_ucx_binding_adopt(struct phx_ucx_engine *s, uint32_t id, uint16_t port, int fd);

/* ---- ucx_hs.c ---------------------------------------------------------------------------- */

/* epoll tags: what a ready socket is (the low 32 bits: a binding id or a handshake slot). */
#define PHX_UCX_TAG_LISTEN (1ull << 32)
#define PHX_UCX_TAG_HS     (2ull << 32)
#define PHX_UCX_TAG_AUTH   (3ull << 32)     /* the credential thread's eventfd */
#define PHX_UCX_TAG_LIVE   (4ull << 32)     /* a connection's handshake socket (low: its id) */

/* create()/restore(): the wire-up settings from SET, the epoll set (with the worker's fd) and the
 * worker's address. 0 or -errno with a sentence in ERR. */
int      phx_ucx_wireup_init(struct phx_ucx_engine *s, const struct phx_ucx_settings *set,
                             char *err, size_t errlen);
/* destroy(): closes every handshake's socket, the epoll set; frees the address. */
void     phx_ucx_wireup_fini(struct phx_ucx_engine *s);
/* FD in S's epoll set with TAG, for EVENTS; or out of it. 0 or -errno. */
int      phx_ucx_sock_watch(struct phx_ucx_engine *s, int fd, uint64_t tag, uint32_t events);
void     phx_ucx_sock_unwatch(struct phx_ucx_engine *s, int fd);
/* The fd arm() sleeps on: the epoll set when S has sockets or may change workers, else the
 * worker's. */
int      phx_ucx_wait_fd(const struct phx_ucx_engine *s);
/* S moved from worker FROM to s->w (s->worker set, nothing of S on FROM): its epoll set and the
 * address its handshakes give follow. 0, or -errno with a sentence in ERR (nothing changed). */
int      phx_ucx_wireup_rehome(struct phx_ucx_engine *s, struct phx_ucx_worker *from, char *err,
                               size_t errlen);
/* progress(): the ready sockets and the handshakes' deadlines; how much was done. While a
 * handshake is in flight every call looks (its next frame is a round trip away), else every
 * PHX_UCX_SOCK_POLL_US, or at once after the runtime slept on the set. */
unsigned phx_ucx_hs_progress(struct phx_ucx_engine *s, bool idle);
/* Milliseconds until the next handshake or claim deadline, or -1. */
int      phx_ucx_hs_timeout_ms(struct phx_ucx_engine *s);
/* A connection FD just accepted on binding B from PEER: its handshake starts, or it is refused
 * (counted). */
void     phx_ucx_hs_accepted(struct phx_ucx_binding *b, int fd, const struct sockaddr_storage *peer,
                             socklen_t len);
/* CONNECT: C's handshake to SS starts. PHX_OK, or a status with a sentence in WHY. */
int      phx_ucx_hs_connect(struct phx_ucx_conn *c, const struct sockaddr_storage *ss,
                            socklen_t len, char *why, size_t whylen);
/* C no longer waits for its handshake (CLOSE, timeout): the socket goes. */
void     phx_ucx_hs_drop(struct phx_ucx_conn *c);
/* C keeps FD, its handshake's socket, to learn when the peer is gone (-1: nothing). */
void     phx_ucx_live_keep(struct phx_ucx_conn *c, int fd);
/* C goes: its handshake socket is closed (which tells the peer). */
void     phx_ucx_live_drop(struct phx_ucx_conn *c);
/* Counts a refusal for REASON and logs it, at most PHX_UCX_LOG_PER_SEC a second. */
void     phx_ucx_hs_refusal(struct phx_ucx_engine *s, unsigned reason, const char *peer,
                            const char *why);
/* flush() before an upgrade: a client's handshake in flight is dropped and starts again in the
 * build that runs next (C->redial); a server's ends (its client, hearing the socket close,
 * starts again: PHX_UCX_HS_TRIES); claims awaited are dropped (their clients fail). */
void     phx_ucx_hs_fail_all(struct phx_ucx_engine *s);
/* C's handshake was interrupted by a live upgrade (C->redial): it starts again, or C fails. */
void     phx_ucx_hs_redial(struct phx_ucx_conn *c);

/* ---- ucx_claim.c ------------------------------------------------------------------------- */

/* The server side of a finished handshake on binding BINDING_ID: an endpoint naming SNONCE
 * must claim it within the handshake timeout; the connection then keeps LIVE_FD (the handshake's
 * socket; closed if nobody claims). 0 or -ENOMEM. */
int      phx_ucx_claim_expect(struct phx_ucx_engine *s, uint32_t binding_id,
                              const uint8_t *snonce, const struct mrpc_peer_info *peer,
                              const uint8_t *caddr, size_t caddr_len, bool local,
                              int live_fd);
/* The client side: C's endpoint (to the server's worker address) claims SNONCE. 0 or -EIO. */
int      phx_ucx_claim_send(struct phx_ucx_conn *c, const uint8_t *snonce);
/* C's endpoint went to a crossed connect's accepted connection (phx_ucx_conn_cede_ep()): a
 * new one to the same server claims the same handshake. PHX_OK or a status with WHY. */
int      phx_ucx_claim_again(struct phx_ucx_conn *c, char *why, size_t whylen);
/* The same when the server is an engine of C's own worker: claimed directly, with a loopback
 * pair of endpoints; C is then up. PHX_OK or a status with a sentence in WHY. */
int      phx_ucx_claim_local(struct phx_ucx_conn *c, const uint8_t *snonce, char *why,
                             size_t whylen);
/* Expired claims go (counted); how many. */
unsigned phx_ucx_claims_tick(struct phx_ucx_engine *s, uint64_t now);
/* The soonest claim deadline, or UINT64_MAX. */
uint64_t phx_ucx_claims_deadline(const struct phx_ucx_engine *s);
/* Every claim of S goes (destroy, upgrade). */
void     phx_ucx_claims_drop(struct phx_ucx_engine *s);
/* The worker's spare endpoints (ucx_claim.c) whose time is up are closed; ALL: every one. */
void     phx_ucx_spares_close(struct phx_ucx_worker *w, bool all);
/* The handler of PHX_UCX_AM_CLAIM_ID; ARG is the worker. */
ucs_status_t phx_ucx_am_claim_recv(void *arg, const void *header, size_t header_length,
                                   void *data, size_t length, const ucp_am_recv_param_t *param);

/* ---- ucx_send.c -------------------------------------------------------------------------- */

/* Handles one SEND: false when it must wait (connection or engine at its bound). */
bool     phx_ucx_send_submit(struct phx_ucx_engine *s, const phx_desc_t *d);
/* Pushes completed sends up as SENT; returns how many went. */
unsigned phx_ucx_send_deliver(struct phx_ucx_engine *s, phx_channel_t *out);
/* Posts the sends that waited for credits and may go now; how many went. */
unsigned phx_ucx_send_resume(struct phx_ucx_engine *s);
/* Whether phx_ucx_send_resume() has something to do. */
bool     phx_ucx_send_resumable(const struct phx_ucx_engine *s);
/* C closes: its sends still waiting for credits go up as SENT UNAVAILABLE. */
void     phx_ucx_send_cancel_waiting(struct phx_ucx_engine *s, struct phx_ucx_conn *c);
/* Whether a SEND to this connection would be accepted now. */
bool     phx_ucx_send_has_room(struct phx_ucx_engine *s, const phx_desc_t *d);
/* Sends SLOT's message (taken by phx_ucx_send_submit) as an active message of its own. */
void     phx_ucx_send_post_one(struct phx_ucx_engine *s, struct phx_ucx_send *slot);
/* UCX is done with SLOT's message (at once or from a callback). */
void     phx_ucx_send_complete(struct phx_ucx_send *slot, ucs_status_t status);
const struct mrpc_wire_msg *phx_ucx_send_msg(const struct phx_ucx_send *slot);
struct phx_ucx_conn        *phx_ucx_send_conn(const struct phx_ucx_send *slot);
/* The pair (ucx_xlocal.c) is done with SLOT's message: taken by the other end with STATUS
 * (PHX_OK, or why it was refused), or not (PHX_UNAVAILABLE: the other end went). */
void     phx_ucx_send_xdone(struct phx_ucx_send *slot, int status);
/* An upgrade recalls SLOT's message from the pair: it waits first on its connection again (the
 * caller goes from the last recalled to the first, keeping the order). */
void     phx_ucx_send_xback(struct phx_ucx_send *slot);
/* C is closed but UCX still holds some of its sends: they go up as SENT UNAVAILABLE now. */
void     phx_ucx_send_abandon(struct phx_ucx_engine *s, struct phx_ucx_conn *c);
void     phx_ucx_send_free(struct phx_ucx_engine *s);
/* Live upgrade (ucx_state.c): the done list, then each connection's wait list, as (connection
 * ordinal, SEND, bytes[, status]); the caller set every c->ord. */
void     phx_ucx_send_dump(const struct phx_ucx_engine *s, phx_wbuf_t *w);
/* ... and back, CONNS by ordinal. 0, -EINVAL (malformed) or -ENOMEM. */
int      phx_ucx_send_load(struct phx_ucx_engine *s, phx_rbuf_t *r, struct phx_ucx_conn **conns,
                           uint32_t n_conns);

/* ---- ucx_batch.c ------------------------------------------------------------------------- */

/* Takes SLOT's message into the engine's open batch (flushing a full one or one for another
 * connection first); false when it is too big to batch: the caller sends it alone. */
bool     phx_ucx_batch_offer(struct phx_ucx_engine *s, struct phx_ucx_send *slot);
/* Sends the open batch, if any: at the end of every tx pass and before anything that must not
 * overtake it. */
void     phx_ucx_batch_flush(struct phx_ucx_engine *s);
void     phx_ucx_batch_free(struct phx_ucx_engine *s);

/* ---- ucx_credit.c ------------------------------------------------------------------------ */

void phx_ucx_credit_init(struct phx_ucx_conn *c);
/* Whether C may send one more message now, and spending it. */
bool phx_ucx_credit_available(const struct phx_ucx_conn *c);
void phx_ucx_credit_spend(struct phx_ucx_conn *c);
/* N messages spent credits but failed before reaching the wire: the peer will not grant them. */
void phx_ucx_credit_refund(struct phx_ucx_conn *c, unsigned n);
/* A valid frame of wire version VERSION came on C (an old peer is not limited). */
void phx_ucx_credit_heard(struct phx_ucx_conn *c, unsigned version);
/* One message of C's peer left our hands (pushed up or dropped): its credit goes back. */
void phx_ucx_credit_consumed(struct phx_ucx_conn *c);
/* C is being freed: off the engine's due count. */
void phx_ucx_credit_forget(struct phx_ucx_conn *c);
/* progress(): sends the grants that are due; returns how many went. */
unsigned phx_ucx_credit_grant_due(struct phx_ucx_engine *s);
/* The handler of PHX_UCX_AM_CREDIT_ID; ARG is the worker. */
ucs_status_t phx_ucx_am_credit_recv(void *arg, const void *header, size_t header_length,
                                    void *data, size_t length, const ucp_am_recv_param_t *param);

/* ---- ucx_local.c ------------------------------------------------------------------------ */

/* The other end of C when C's messages take the same-node path (both engines have
 * settings.ucx.same_node on, and C is one end of a live loopback pair): its twin connection,
 * else NULL. Under the lock. */
struct phx_ucx_conn *phx_ucx_local_twin(const struct phx_ucx_conn *c);
/* MSG on C goes straight into twin T's receive heap: PHX_OK (landed, or dropped as the wire
 * drops a frame: counted, reported on T's side), another status (SENT with it), or -EAGAIN: no
 * room yet, the message waits on C's wait list (ucx_send.c). Spends C's credit when it went. */
int  phx_ucx_local_send(struct phx_ucx_conn *c, struct phx_ucx_conn *t,
                        const struct mrpc_wire_msg *msg);
/* Whether the head of C's wait list, waiting for room on the same-node path, may go now (the
 * twin did something since, is gone, or the wait has stalled). */
bool phx_ucx_local_ready(const struct phx_ucx_conn *c);
/* Milliseconds until a same-node send of S that waits for room may be refused, or -1. */
int  phx_ucx_local_timeout_ms(const struct phx_ucx_engine *s);
/* Grants N credits of C to its twin T directly (no active message). */
void phx_ucx_local_grant(struct phx_ucx_conn *c, struct phx_ucx_conn *t, unsigned n);
/* What S's engine has done that may make room in its receive heap (a count that only grows). */
uint64_t phx_ucx_local_stamp(struct phx_ucx_engine *s);

/* ---- ucx_xlocal.c ----------------------------------------------------------------------- */

/* Client side, handshake done with a server elsewhere than C's worker (ucx_hs.c): C offers a
 * pair under the handshake's SNONCE, which a server of this process joins when it accepts the
 * claim. Nothing happens when C's engine has the same-node path off or memory is short. */
void phx_ucx_xlocal_offer(struct phx_ucx_conn *c, const uint8_t *snonce);
/* Server side (ucx_claim.c): T, just accepted on a claim of SNONCE, joins the pair a client of
 * this process offered, if any and if T's engine has the path on. */
void phx_ucx_xlocal_join(struct phx_ucx_conn *t, const uint8_t *snonce);
/* Client side, the claim's ack came (ucx_claim.c): C keeps its pair if a server joined it, else
 * drops it (the server is another process's). */
void phx_ucx_xlocal_settle(struct phx_ucx_conn *c);
/* C closes (ucx_conn.c): its end of the pair goes. Its posts the other end took are reaped, the
 * others come back SENT UNAVAILABLE; waits while the other end copies from one. */
void phx_ucx_xlocal_detach(struct phx_ucx_conn *c);
/* SLOT's message MSG on C goes to the pair: PHX_OK (posted; its SENT comes once the other end
 * took it), PHX_UNAVAILABLE (the other end is gone) or -EAGAIN (the ring is full). */
int  phx_ucx_xlocal_post(struct phx_ucx_conn *c, const struct mrpc_wire_msg *msg,
                         struct phx_ucx_send *slot);
/* Whether C's ring has room for another post. */
bool phx_ucx_xlocal_room(const struct phx_ucx_conn *c);
/* progress(): grants and completions taken, the other ends' posts landed, losses seen; how much
 * was done. */
unsigned phx_ucx_xlocal_progress(struct phx_ucx_engine *s);
/* Whether phx_ucx_xlocal_progress() has something to do now. */
bool phx_ucx_xlocal_ready(struct phx_ucx_engine *s);
/* Milliseconds until a post waiting for room in S's heap may be refused, or -1. */
int  phx_ucx_xlocal_timeout_ms(const struct phx_ucx_engine *s);
/* Grants N credits of C to the other end of its pair. */
void phx_ucx_xlocal_grant(struct phx_ucx_conn *c, unsigned n);
/* flush() before an upgrade: S's posts not taken yet come back to their wait lists, taken ones
 * are reaped, so that nothing of this build's is in a pair. */
void phx_ucx_xlocal_recall(struct phx_ucx_engine *s);
/* Live upgrade (ucx_state.c): C's pair as a word of the blob (0: none), and back. 0 or
 * -EINVAL. */
uint64_t phx_ucx_xlocal_dump(const struct phx_ucx_conn *c);
int      phx_ucx_xlocal_load(struct phx_ucx_conn *c, uint64_t word);

/* ---- ucx_recv.c -------------------------------------------------------------------------- */

/* The worker's active-message handler; ARG is the struct phx_ucx_worker (ucx_worker.c). */
ucs_status_t phx_ucx_am_recv(void *arg, const void *header, size_t header_length, void *data,
                             size_t length, const ucp_am_recv_param_t *param);
/* The same for a batch (PHX_UCX_AM_BATCH_ID): each message is checked and lands on its own. */
ucs_status_t phx_ucx_am_batch_recv(void *arg, const void *header, size_t header_length,
                                   void *data, size_t length, const ucp_am_recv_param_t *param);
/* The receive side of the same-node path (ucx_local.c, ucx_xlocal.c): MSG for T lands in T's
 * engine as a frame would (the same checks and bounds, a block of T's receive heap, one copy of
 * the payload, RECEIVED queued). PHX_OK (landed or dropped and counted), a status, or -EAGAIN
 * (no room yet; WAIT tracks how long). Under T's worker's lock. */
int      phx_ucx_recv_local(struct phx_ucx_lwait *wait, struct phx_ucx_conn *t,
                            const struct mrpc_wire_msg *msg);
/* How many blocks S's receive heap has freed so far. */
uint64_t phx_ucx_recv_heap_frees(struct phx_ucx_engine *s);
/* A pass of this thread's progress() begins (again, after a worker progress that may have run
 * long) or ends: the messages that land within a pass share one clock read for their landing
 * time (up_wait); outside a pass every landing reads the clock. */
void     phx_ucx_recv_pass(bool begin);
/* progress(): fetches the parked rendezvous frames there is room for now, in order; how many. */
unsigned phx_ucx_recv_unpark(struct phx_ucx_engine *s);
/* Milliseconds until the parked frame at the head may be refused (stalled()), or -1. */
int      phx_ucx_recv_timeout_ms(struct phx_ucx_engine *s);
/* destroy(): gives the parked frames back to UCX unfetched. */
void     phx_ucx_recv_release_parked(struct phx_ucx_engine *s);
/* destroy(): gives back the receive-heap blocks of messages that never went up. */
void     phx_ucx_recv_free(struct phx_ucx_engine *s);
/* Live upgrade (ucx_state.c): the parked frames, their UCX data descriptors through E's table.
 * 0 or -ENOMEM. */
int      phx_ucx_recv_dump(phx_engine_t *e, const struct phx_ucx_engine *s, phx_wbuf_t *w);
/* ... and back. 0, -EINVAL or -ENOMEM. */
int      phx_ucx_recv_load(phx_engine_t *e, struct phx_ucx_engine *s, phx_rbuf_t *r,
                           struct phx_ucx_conn **conns, uint32_t n_conns);
/* destroy(STATE_ONLY): frees the parked frames without giving their data back to UCX. */
void     phx_ucx_recv_forget_parked(struct phx_ucx_engine *s);

#endif /* PHX_UCX_ENGINE_H */
