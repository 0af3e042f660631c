/* fabric.c - the fabric: MPI frames between ranks as mRPC calls through the nodes' Phoenix
 * services (mpix_fabric.proto's Fabric.Deliver), so the policies of each rank's app chain apply.
 *
 * Each rank is one app of its node's service: one mrpc_ctx, a server bound on MRPC_HOST at the
 * first free port of a bounded scan, its "host:port" published through mrpc-run
 * (mrpc_rank_publish, barrier); a peer's address is looked up (mrpc_rank_lookup) and a
 * connection made when the first frame goes to it.
 *
 * Per peer, frames go out in the order queued, each numbered (SEQ) in one stream per pair of
 * ranks; the receiver handles them in that order whatever order they arrive in, holding early
 * ones. A message is cut into pieces of PIECE_BYTES (LOCAL_PIECE_BYTES to a peer on this node),
 * and at most IN_FLIGHT calls per peer are unanswered (flow control: the send heap holds at most
 * IN_FLIGHT pieces per peer). Between two ranks of one node every byte is copied three times
 * (into the send heap, by the service into the peer's receive heap, out of it), all on this
 * node's cores: small pieces keep what is in flight (IN_FLIGHT pieces) within the caches, so
 * each copy reads what the one before wrote while it is still cached (4 MiB pieces, 32 MiB in
 * flight, did not fit; benchmarks/RESULTS.md, "M2"). Across nodes the transport's own copies
 * dominate and each call costs it a rendezvous, so pieces stay large there. The answer
 * to a call means its frame was taken; a send whose pieces were all taken is delivered (p2p.c).
 * A message of one piece is delivered as soon as the piece is handed over: its bytes are in the
 * send heap then, and the user's buffer is free (an eager send; a later failure of that frame
 * fails the peer, so the sends after it report it).
 * Acknowledgements of synchronous sends go first, with the other control frames: a synchronous
 * send's cancel request (MPI_Cancel), sent once all its pieces are out so that it comes after
 * them, and the receiver's answer when it withdrew the unclaimed message (an acknowledgement
 * marked cancelled; when the message was matched already, the ordinary one answers).
 *
 * A dead peer: a frame to it fails (its connection is lost), which fails what was queued to it
 * and the receives waiting for it (match.c). A rank that only waits sends nothing, so a wait that
 * slept IDLE_MS without anything happening pings the ranks its receives wait for (an empty frame
 * the receiver drops); a peer that died is found within about 2 s, not never. In MPI_Finalize
 * (closing) only the sources its barrier's receives name are pinged: a rank those wait for
 * cannot have left, so one that is gone died, and the barrier fails rather than hangs. Any
 * other rank may have finalized and left: pings asked for before are dropped, and a ping still
 * out that finds one gone fails only receives naming it (match.c), never the barrier. Under
 * load a rank that waited IDLE_MS in the program's last collective once pinged every member,
 * found one that had finalized gone, and failed its own MPI_Finalize (mpi_srun under ASan).
 *
 * Zero copy: MPI_Alloc_mem's memory is an mRPC buffer of the send heap (mrpc_buffer_alloc). A
 * send of at least ZCOPY_MIN contiguous bytes from it puts the piece's payload field straight
 * into the buffer and lends it to the call (MRPC_CALL_OPT_FIELD_BORROW): the service reads the
 * user's bytes where they are. Such a piece's completion runs once the service no longer reads
 * it, so the send completes when every piece was taken and read, never at hand-over; and
 * MPI_Free_mem of a buffer the service still reads, or that a send has pieces of yet to send, is
 * put off until it is done.
 *
 * Handlers (incoming frames) and completions run inside mrpc_ctx_progress(); they only change
 * state, and the frames they want sent go out when the pump runs after it. Waits sleep in
 * mrpc_ctx_progress() on the context's event fd. */
#include "core.h"
#include "mpix_fabric.mrpc.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PIECE_BYTES  (4u << 20)
#define LOCAL_PIECE_BYTES (256u << 10)
#define IN_FLIGHT    8
#define PORT_FIRST   20000
#define PORT_SPAN    20000
#define PORT_TRIES   400
#define CALL_TIMEOUT_MS 86400000       /* a receiver may compute for hours before it progresses */
#define FRAME_ACK    1u
#define FRAME_PING   2u
#define FRAME_CANCEL 4u                /* cancel synchronous send SYNC_ID, if still unclaimed */
#define FRAME_CANCELLED 8u             /* with FRAME_ACK: it was withdrawn, not matched */
/* A control frame queued in a peer's `ctl`: a synchronous send's id, its kind in the top bits. */
#define CTL_CANCELLED (1ull << 63)     /* an acknowledgement that says "cancelled" */
#define CTL_CANCEL    (1ull << 62)     /* a cancel request */
#define CTL_ID        (CTL_CANCEL - 1)
#define IDLE_MS      500
#define CONNECT_LATER_MS 100           /* pings needing a connect wait this for the others' */
#define ZCOPY_MIN    (64u << 10)       /* sends from a buffer this large go without a copy */

/* A frame that arrived before its turn, copied out of the receive heap. */
struct held {
    struct held          *next;
    uint64_t              seq, offset, sync_id;
    uint32_t              flags;
    struct mpix_envelope  env;
    size_t                len;
    unsigned char         data[];
};

struct peer {
    mrpc_conn_t         *conn;
    char                 failed[512];  /* why frames to it cannot go, or "" */
    struct mpix_request *head, *tail;  /* sends queued, oldest first */
    uint64_t            *acks;         /* control frames to send (CTL_ bits) */
    size_t               n_acks, cap_acks;
    bool                 ping_wanted, ping_out;
    uint64_t             seq_out, seq_in;
    uint64_t             piece;        /* bytes per piece to it, set when connected */
    int                  in_flight;
    struct held         *held;
};

/* What a call's completion needs: the peer, the send its piece belongs to (NULL: an ack, a
 * ping, or a send that completed when its only piece was handed over), and whether it pings. */
struct token {
    struct peer         *peer;
    struct mpix_request *req;
    bool                 ping;
};

static struct {
    mrpc_ctx_t    *ctx;
    mrpc_server_t *server;
    struct peer   *peers;
    int            n;
    char           host[MRPC_RANK_VALUE_MAX];  /* the host this rank's server bound */
    bool           busy;                /* some peer has something queued */
    bool           closing;             /* MPI_Finalize: peers may be gone */
    bool           inside;              /* in mrpc_ctx_progress: handlers only queue frames */
    unsigned long  seen;                /* mpix_activity at the last progress */
    double         idle_since;          /* MPI_Wtime() of the last activity */
    double         pinged_at;           /* MPI_Wtime() of the last round of pings */
    void         **unfreed;             /* MPI_Free_mem'd buffers the service still reads */
    size_t         n_unfreed, cap_unfreed;
} fab;

struct mpix_fabric_stats mpix_fabric_stats;

static const mrpc_call_opts_t call_opts = { .field_mask = MRPC_CALL_OPT_FIELD_TIMEOUT,
                                            .timeout_ms = CALL_TIMEOUT_MS };

/* ---- incoming ------------------------------------------------------------------------------- */

static void ctl_push(int world, uint64_t entry);

static void handle(uint32_t flags, const struct mpix_envelope *env, uint64_t offset,
                   uint64_t sync_id, const void *data, size_t len)
{
    if (flags & FRAME_ACK)
        (flags & FRAME_CANCELLED ? mpix_p2p_cancelled : mpix_p2p_acked)(sync_id);
    else if (flags & FRAME_CANCEL) {
        if (mpix_match_withdraw(env->world, sync_id))
            ctl_push(env->world, sync_id | CTL_CANCELLED);
    } else if (!(flags & FRAME_PING))
        mpix_match_arrive(env, offset, data, len);
}

static void hold(struct peer *p, const Mpix__Frame *f, const struct mpix_envelope *env)
{
    struct held *h = malloc(sizeof(*h) + f->payload.len);

    if (!h)
        mpix_die(MPI_ERR_NO_MEM);
    *h = (struct held){ .seq = f->seq, .offset = f->offset, .sync_id = f->sync_id,
                        .flags = f->flags, .env = *env, .len = f->payload.len };
    if (f->payload.len)
        memcpy(h->data, f->payload.data, f->payload.len);
    h->next = p->held;
    p->held = h;
}

/* Frames held for P whose turn came. */
static void release_held(struct peer *p)
{
    for (struct held **hp = &p->held; *hp;) {
        struct held *h = *hp;
        if (h->seq != p->seq_in) {
            hp = &h->next;
            continue;
        }
        *hp = h->next;
        p->seq_in++;
        handle(h->flags, &h->env, h->offset, h->sync_id, h->data, h->len);
        free(h);
        hp = &p->held;                 /* the next one may be anywhere in the list */
    }
}

static phx_status_t on_deliver(void *impl, mrpc_call_t *call, const Mpix__Frame *f,
                               Mpix__Taken **reply)
{
    (void)impl;
    if (f->world < 0 || f->world >= fab.n || f->world == mpix_env.world_rank) {
        mrpc_call_set_error(call, PHX_INVALID_ARGUMENT, "the frame names no other rank of the job");
        return PHX_INVALID_ARGUMENT;
    }
    struct peer *p = &fab.peers[f->world];
    struct mpix_envelope env = { .context = f->context, .source = f->source, .tag = f->tag,
                                 .world = f->world, .total = f->total, .sync_id = f->sync_id };
    if (f->seq == p->seq_in) {
        p->seq_in++;
        handle(f->flags, &env, f->offset, f->sync_id, f->payload.data, f->payload.len);
        release_held(p);
    } else if (f->seq > p->seq_in) {
        hold(p, f, &env);
    }
    if (!(*reply = mpix__taken_new(fab.ctx))) {
        mrpc_call_set_error(call, PHX_RESOURCE_EXHAUSTED, "the receiver's send heap is full");
        return PHX_RESOURCE_EXHAUSTED;
    }
    return PHX_OK;
}

static const Mpix__Fabric_Handlers handlers = { .deliver = on_deliver };

/* ---- outgoing ------------------------------------------------------------------------------- */

static void fail_send(struct mpix_request *r, const char *why)
{
    if (!r->why[0])
        mpix_text_copy(r->why, sizeof r->why, why);
    if (r->pieces_out == 0)
        mpix_p2p_delivered(r, MPI_ERR_OTHER);
    else
        r->status.MPI_ERROR = MPI_ERR_OTHER;
}

/* P cannot be reached: every send queued to it fails with WHY. */
static void peer_fail(struct peer *p, const char *why)
{
    if (!p->failed[0])
        mpix_text_copy(p->failed, sizeof p->failed, why);
    while (p->head) {
        struct mpix_request *r = p->head;
        p->head = r->next;
        r->next = NULL;
        fail_send(r, p->failed);
    }
    p->tail = NULL;
    p->n_acks = 0;
    p->ping_wanted = false;
    mpix_match_peer_lost((int)(p - fab.peers), p->failed);
}

static void on_taken(mrpc_ctx_t *ctx, void *token, const mrpc_status_t *st,
                     const ProtobufCMessage *reply)
{
    struct token t = *(struct token *)token;

    free(token);
    if (reply)
        mrpc_release(ctx, reply);
    t.peer->in_flight--;
    if (t.ping)
        t.peer->ping_out = false;
    mpix_activity++;
    if (st->code != PHX_OK && !(fab.closing && st->code == PHX_UNAVAILABLE && !t.ping)) {
        char why[512];
        snprintf(why, sizeof why, "rank %d: a frame to world rank %d failed: %s: %s",
                 mpix_env.world_rank, (int)(t.peer - fab.peers), phx_status_name(st->code),
                 st->message);
        peer_fail(t.peer, why);
        if (t.req)
            fail_send(t.req, why);
    }
    if (t.req && --t.req->pieces_out == 0 && (t.req->sent == t.req->bytes || t.req->status.MPI_ERROR))
        mpix_p2p_delivered(t.req, t.req->status.MPI_ERROR);
}

/* ADDR's host part ("host:port" without ":port") into HOST (LEN bytes). */
static void host_of(char *host, size_t len, const char *addr)
{
    const char *colon = strrchr(addr, ':');
    size_t n = colon ? (size_t)(colon - addr) : strlen(addr);

    snprintf(host, len, "%.*s", (int)(n < len ? n : len - 1), addr);
}

/* Whether the rank published at ADDR is served by this node's service: it bound the same
 * host (MRPC_HOST, which the launcher gives every rank of a node alike). */
static bool on_this_node(const char *addr)
{
    char host[MRPC_RANK_VALUE_MAX];

    host_of(host, sizeof host, addr);
    return strcmp(host, fab.host) == 0;
}

/* P's connection, made on first use: 0, or -1 when P cannot be reached (P failed). Two ranks
 * that connect to each other in the same instant are the transport's crossed connect, which it
 * resolves (docs/transport.md); a connect that fails here is a rank that is gone. */
static int connect_peer(struct peer *p)
{
    char addr[MRPC_RANK_VALUE_MAX] = "", why[512];
    int world = (int)(p - fab.peers);
    mrpc_status_t st;

    if (p->conn)
        return 0;
    /* mrpc_connect runs handlers while it waits: as inside mrpc_ctx_progress, they only queue
     * frames (a pump from one of them would connect to P again, or send what the caller's loop
     * is about to). */
    bool was_inside = fab.inside;
    fab.inside = true;
    if ((st = mrpc_rank_lookup(world, addr, sizeof addr)).code == PHX_OK && addr[0])
        p->conn = mrpc_connect(fab.ctx, addr, &st);
    fab.inside = was_inside;
    if (p->conn) {
        p->piece = on_this_node(addr) ? LOCAL_PIECE_BYTES : PIECE_BYTES;
        return 0;
    }
    /* A lookup that succeeds with "" is a rank whose address never reached this one's mrpc-run
     * (MPI_Init publishes every rank's): never reported as the lookup's status OK. */
    if (st.code == PHX_OK)
        snprintf(why, sizeof why, "cannot reach world rank %d: it published no address (did every "
                 "rank call MPI_Init, and does mrpc-run exchange through PMI?)", world);
    else
        snprintf(why, sizeof why, "cannot reach world rank %d%s%s: %s: %s", world,
                 addr[0] ? " at " : "", addr[0] ? addr : "", phx_status_name(st.code), st.message);
    peer_fail(p, why);
    return -1;
}

/* The next frame to P into F: a ping, an acknowledgement, or the head send's next piece (*REQ). */
static int frame_fill(struct peer *p, Mpix__Frame *f, struct mpix_request **req)
{
    *req = NULL;
    if (p->ping_wanted) {
        f->flags = FRAME_PING;
        p->ping_wanted = false;
        p->ping_out = true;
        return 0;
    }
    if (p->n_acks) {
        uint64_t e = p->acks[--p->n_acks];
        f->flags = e & CTL_CANCEL ? FRAME_CANCEL : FRAME_ACK | (e & CTL_CANCELLED ? FRAME_CANCELLED : 0);
        f->sync_id = e & CTL_ID;
        return 0;
    }
    struct mpix_request *r = p->head;
    uint64_t len = r->bytes - r->sent < p->piece ? r->bytes - r->sent : p->piece;
    if (r->zcopy) {                     /* the buffer's bytes themselves: no copy */
        f->payload.data = (uint8_t *)(uintptr_t)((const char *)r->data + r->sent);
        f->payload.len = (size_t)len;
        mpix_fabric_stats.zcopy_bytes += len;
    } else if (len && mpix__frame_set_payload(fab.ctx, f, (const char *)r->data + r->sent, (size_t)len) < 0) {
        return -1;
    } else {
        mpix_fabric_stats.copied_bytes += len;
    }
    mpix_fabric_stats.pieces++;
    f->context = r->context;
    f->source = r->comm->rank;
    f->tag = r->tag;
    f->total = r->bytes;
    f->offset = r->sent;
    f->sync_id = r->sync ? r->id : 0;
    r->sent += len;
    r->started = true;
    r->pieces_out++;
    if (r->sent == r->bytes) {          /* every piece is out: off the queue */
        p->head = r->next;
        if (!p->head)
            p->tail = NULL;
        r->next = NULL;
        if (r->cancel_wanted)           /* MPI_Cancel came while pieces were queued */
            ctl_push(r->world_peer, r->id | CTL_CANCEL);
    }
    *req = r;
    return 0;
}

/* One frame to P: false when nothing more can go now (send heap full, P failed). */
static bool send_one(struct peer *p)
{
    struct token *t = malloc(sizeof(*t));
    Mpix__Frame *f = t ? mpix__frame_new(fab.ctx) : NULL;
    struct mpix_request *r;

    if (!f || frame_fill(p, f, &r) < 0) {
        if (f)
            mrpc_message_free(fab.ctx, &f->base);
        free(t);
        return false;                  /* the heap is full: the pump tries again later */
    }
    f->world = mpix_env.world_rank;
    f->seq = p->seq_out++;
    *t = (struct token){ .peer = p, .req = r, .ping = (f->flags & FRAME_PING) != 0 };
    mrpc_call_opts_t opts = call_opts;
    if (r && r->zcopy) {
        opts.field_mask |= MRPC_CALL_OPT_FIELD_BORROW;
        opts.borrow = r->zcopy;
    }
    mrpc_status_t st = mpix__fabric__deliver_async(p->conn, f, on_taken, t, &opts);
    if (st.code == PHX_OK) {
        p->in_flight++;
        if (r && !r->zcopy && r->sent == r->bytes && r->pieces_out == 1) {
            t->req = NULL;              /* all of it is in the send heap, the service's now */
            r->pieces_out = 0;
            mpix_p2p_delivered(r, MPI_SUCCESS);
        }
        return true;
    }
    free(t);
    char why[512];
    snprintf(why, sizeof why, "a frame to world rank %d could not go: %s: %s",
             (int)(p - fab.peers), phx_status_name(st.code), st.message);
    if (r)
        r->pieces_out--;
    peer_fail(p, why);
    if (r)
        fail_send(r, why);
    return false;
}

static bool has_frames(const struct peer *p)
{
    return p->ping_wanted || p->n_acks || p->head;
}

/* Whether P's only frame is a ping and P has no connection yet, within CONNECT_LATER_MS of the
 * round of pings that asked for it. mrpc_connect is synchronous (it waits for the service's
 * wire-up, which can take seconds under load, running handlers meanwhile); the answers to the
 * pings over connections made already usually settle the wait within milliseconds (a rank found
 * gone fails it), so they come first. Without this, rank 0 of mpi_dead_peer_coll_n4, the one
 * survivor with a live member it never sent to (rank 3), connected to it before it could act on
 * the answer that rank 1 was gone. */
static bool connect_put_off(const struct peer *p)
{
    return !p->conn && p->ping_wanted && !p->n_acks && !p->head &&
           (MPI_Wtime() - fab.pinged_at) * 1000 < CONNECT_LATER_MS;
}

/* Sends what flow control allows to every peer with something queued. */
static void pump(void)
{
    if (!fab.busy)
        return;
    fab.busy = false;
    for (int i = 0; i < fab.n; i++) {
        struct peer *p = &fab.peers[i];
        if (connect_put_off(p)) {
            fab.busy = true;
            continue;
        }
        while (has_frames(p) && p->in_flight < IN_FLIGHT && connect_peer(p) == 0 &&
               has_frames(p) && send_one(p))     /* the connect's handlers may fail P */
            ;
        if (has_frames(p))
            fab.busy = true;
    }
}

void mpix_fabric_send(struct mpix_request *r)
{
    struct peer *p = &fab.peers[r->world_peer];

    if (!r->packed && r->bytes >= ZCOPY_MIN)
        r->zcopy = mrpc_buffer_find(fab.ctx, r->data, (size_t)r->bytes);

    if (p->failed[0]) {
        fail_send(r, p->failed);
        return;
    }
    *(p->tail ? &p->tail->next : &p->head) = r;
    p->tail = r;
    fab.busy = true;
    pump();
}

/* Queues control frame ENTRY (an id with CTL_ bits) to WORLD. */
static void ctl_push(int world, uint64_t entry)
{
    struct peer *p = &fab.peers[world];

    if (p->n_acks == p->cap_acks) {
        size_t cap = p->cap_acks ? 2 * p->cap_acks : 8;
        uint64_t *a = realloc(p->acks, cap * sizeof(*a));
        if (!a)
            mpix_die(MPI_ERR_NO_MEM);
        p->acks = a;
        p->cap_acks = cap;
    }
    p->acks[p->n_acks++] = entry;
    fab.busy = true;
    if (!fab.inside)                    /* matched by a receive just posted: say so now */
        pump();
}

void mpix_fabric_ack(int world, uint64_t id)
{
    ctl_push(world, id);
}

bool mpix_fabric_withdraw(struct mpix_request *r)
{
    struct peer *p = &fab.peers[r->world_peer];
    struct mpix_request *prev = NULL;

    if (r->started)
        return false;
    for (struct mpix_request **rp = &p->head; *rp; prev = *rp, rp = &(*rp)->next)
        if (*rp == r) {
            *rp = r->next;
            if (p->tail == r)
                p->tail = prev;
            r->next = NULL;
            return true;
        }
    return false;
}

void mpix_fabric_cancel(struct mpix_request *r)
{
    if (r->cancel_wanted || fab.peers[r->world_peer].failed[0])
        return;
    r->cancel_wanted = true;
    if (r->sent == r->bytes)
        ctl_push(r->world_peer, r->id | CTL_CANCEL);
}

void mpix_fabric_ping(int world, bool known_only)
{
    struct peer *p;

    if (!fab.ctx || world == mpix_env.world_rank || world < 0 || world >= fab.n)
        return;
    p = &fab.peers[world];
    if (p->failed[0] || p->ping_out || p->ping_wanted || (known_only && !p->conn))
        return;
    p->ping_wanted = true;
    fab.busy = true;
}

/* ---- MPI_Alloc_mem's buffers ---------------------------------------------------------------- */

void *mpix_fabric_mem_alloc(size_t size)
{
    return fab.ctx && size ? mrpc_buffer_alloc(fab.ctx, size) : NULL;
}

/* Whether a send from buffer BASE still has pieces to send: between its pieces the service may
 * read none of it, but the buffer must live until the last one went. */
static bool queued_from(const void *base)
{
    for (int i = 0; i < fab.n; i++)
        for (const struct mpix_request *r = fab.peers[i].head; r; r = r->next)
            if (r->zcopy == base)
                return true;
    return false;
}

/* Frees BASE unless a send still reads it or has pieces of it to send: PHX_FAILED_PRECONDITION
 * then (put off), else mrpc_buffer_free's status. */
static phx_status_t buffer_free(void *base)
{
    return queued_from(base) ? PHX_FAILED_PRECONDITION : mrpc_buffer_free(fab.ctx, base);
}

/* Frees the put-off buffers the service has finished reading. */
static void unfreed_sweep(void)
{
    for (size_t i = 0; i < fab.n_unfreed;)
        if (buffer_free(fab.unfreed[i]) != PHX_FAILED_PRECONDITION)
            fab.unfreed[i] = fab.unfreed[--fab.n_unfreed];
        else
            i++;
}

bool mpix_fabric_mem_free(void *base)
{
    if (!fab.ctx)
        return false;
    phx_status_t st = buffer_free(base);
    if (st != PHX_FAILED_PRECONDITION)
        return st == PHX_OK;
    if (fab.n_unfreed == fab.cap_unfreed) {
        size_t cap = fab.cap_unfreed ? 2 * fab.cap_unfreed : 8;
        void **u = realloc(fab.unfreed, cap * sizeof(*u));
        if (!u)
            mpix_die(MPI_ERR_NO_MEM);
        fab.unfreed = u;
        fab.cap_unfreed = cap;
    }
    fab.unfreed[fab.n_unfreed++] = base;
    return true;
}

/* ---- progress ------------------------------------------------------------------------------- */

/* Nothing happened for IDLE_MS while a wait slept: are the ranks it waits for still there? */
static void check_idle(void)
{
    double now = MPI_Wtime();

    if (mpix_activity != fab.seen) {
        fab.idle_since = now;
        return;
    }
    if ((now - fab.idle_since) * 1000 < IDLE_MS)
        return;
    fab.idle_since = fab.pinged_at = now;
    mpix_match_ping_sources();
    pump();
}

void mpix_progress(int timeout_ms)
{
    bool moved = mpix_activity != fab.seen;

    pump();
    if (!fab.ctx) {                     /* a singleton: nothing can arrive; do not spin */
        if (!moved && timeout_ms > 0)
            poll(NULL, 0, timeout_ms);
        fab.seen = mpix_activity;
        return;
    }
    fab.inside = true;
    int n = mrpc_ctx_progress(fab.ctx, moved ? 0 : timeout_ms);
    fab.inside = false;
    if (n < 0) {
        fprintf(stderr, "MPI error on rank %d of %d: the node's mRPC service went away\n",
                mpix_env.world_rank, mpix_env.world_size);
        mpix_die(MPI_ERR_OTHER);
    }
    pump();
    if (fab.n_unfreed)
        unfreed_sweep();
    if (timeout_ms > 0)
        check_idle();
    fab.seen = mpix_activity;
}

/* ---- start and stop ------------------------------------------------------------------------- */

/* Binds the first free port of a scan that starts at a place of this process's own. */
static int bind_server(char *addr, size_t len, mrpc_status_t *st)
{
    const char *host = getenv("MRPC_HOST") ? getenv("MRPC_HOST") : "127.0.0.1";
    int start = (int)(((unsigned)getpid() * 7u + (unsigned)mpix_env.world_rank * 131u) % PORT_SPAN);

    for (int i = 0; i < PORT_TRIES && !fab.server; i++) {
        snprintf(addr, len, "%s:%d", host, PORT_FIRST + (start + i) % PORT_SPAN);
        fab.server = mrpc_bind(fab.ctx, addr, st);
    }
    snprintf(fab.host, sizeof fab.host, "%s", host);
    return fab.server ? 0 : -1;
}

int mpix_fabric_start(char *why, size_t len)
{
    char addr[MRPC_RANK_VALUE_MAX];
    mrpc_status_t st;

    fab.n = mpix_env.world_size;
    if (!(fab.peers = calloc((size_t)fab.n, sizeof(*fab.peers)))) {
        snprintf(why, len, "out of memory");
        return -1;
    }
    if (!(fab.ctx = mrpc_ctx_create(NULL, &st))) {
        snprintf(why, len, "cannot reach the node's mRPC service: %s: %s", phx_status_name(st.code),
                 st.message);
        return -1;
    }
    const char *what = "bind a port on MRPC_HOST";
    if (bind_server(addr, sizeof addr, &st) == 0 &&
        (what = "serve MPI frames", st = mpix__fabric__add_to_server(fab.server, &handlers, NULL)).code == PHX_OK &&
        (what = "publish the address", st = mrpc_rank_publish(addr)).code == PHX_OK &&
        (what = "meet the other ranks", st = mrpc_rank_barrier()).code == PHX_OK)
        return 0;
    snprintf(why, len, "cannot %s: %s: %s", what, phx_status_name(st.code), st.message);
    return -1;
}

/* Whether frames are queued or unanswered. */
static bool fabric_busy(void)
{
    for (int i = 0; i < fab.n; i++)
        if (fab.peers[i].in_flight || (!fab.peers[i].failed[0] && (fab.peers[i].head || fab.peers[i].n_acks)))
            return true;
    return false;
}

void mpix_fabric_closing(void)
{
    fab.closing = true;
    for (int i = 0; i < fab.n; i++)     /* the waits they were for are over */
        fab.peers[i].ping_wanted = false;
    mpix_match_closing();
}

void mpix_fabric_stop(void)
{
    if (!fab.ctx)
        return;
    for (int i = 0; i < 200 && fabric_busy(); i++)   /* answers to the last frames: 2 s at most */
        mpix_progress(10);
    for (int i = 0; i < fab.n; i++) {
        struct peer *p = &fab.peers[i];
        if (p->conn)
            mrpc_conn_close(p->conn);
        while (p->held) {
            struct held *h = p->held;
            p->held = h->next;
            free(h);
        }
        free(p->acks);
    }
    if (fab.server)
        mrpc_server_close(fab.server);
    mrpc_ctx_destroy(fab.ctx);          /* and the buffers, put-off ones included */
    free(fab.unfreed);
    fab.unfreed = NULL;
    fab.n_unfreed = fab.cap_unfreed = 0;
    free(fab.peers);
    fab.peers = NULL;
    fab.ctx = NULL;
    fab.server = NULL;
}
