/* policy.c - the policy SDK's engine body: a bounded queue per direction in front of decide()
 * (see phoenix/policy.h for the contract).
 *
 * Every descriptor of a decided direction goes through the queue, so that one held call keeps
 * everything behind it in order. progress() takes what arrived one descriptor at a time and works
 * on the head while it is due (connection descriptors pass, calls are decided), so a call that
 * can go at once never takes a place; a call that finds the queue full of waiting ones is
 * rejected with RESOURCE_EXHAUSTED. A CANCEL that finds its request in the queue withdraws it
 * (policy.h, "Cancels"), so that it never overtakes it; it finds it through an index of the
 * queued requests by connection and call id, not by a pass over a queue of up to queue_max.
 * The out channel (and, for a rejection, the rx way up) must have room before decide() is
 * asked, so a verdict is never taken back. arm() turns the head's time into the runtime's sleep
 * timeout.
 *
 * Who a call is from and to: the app's identity is learned once (its port's pid and uid, the real
 * gid of /proc/PID/status, its Slurm job by core/daemon/jobid.c, the service's own rule, compiled
 * in here); each connection's peer is recorded as CONNECT (tx) or ACCEPTED (rx) passes and
 * forgotten as CLOSE or CONN_LOST passes, in every direction, decided or not. */
#include "phoenix/policy.h"

#include "jobid.h"
#include "sdk.h"
#include "mrpc/transport.h"
#include "phoenix/app_port.h"
#include "phoenix/clock.h"
#include "phoenix/heap.h"
#include "phoenix/log.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define POLICY_BATCH 256
#define POLICY_SLACK 64       /* room behind a full queue for connection descriptors */

static const char *const dir_names[2] = {"tx", "rx"};

/* ---- calls ---------------------------------------------------------------------------------- */

static bool kind_of_wire(unsigned wire, phx_call_kind_t *kind)
{
    switch (wire) {
    case MRPC_WIRE_CALL:   *kind = PHX_CALL_REQUEST; return true;
    case MRPC_WIRE_REPLY:  *kind = PHX_CALL_REPLY;   return true;
    case MRPC_WIRE_ERROR:  *kind = PHX_CALL_ERROR;   return true;
    case MRPC_WIRE_CANCEL: *kind = PHX_CALL_CANCEL;  return true;
    }
    return false;
}

static const phx_caller_t unknown_caller;
static const phx_peer_t unknown_peer = { .uid = PHX_PEER_UID_UNKNOWN, .gid = PHX_PEER_UID_UNKNOWN };

bool phx_policy_call_of(const phx_desc_t *d, phx_dir_t dir, phx_call_t *call)
{
    memset(call, 0, sizeof(*call));
    call->dir = dir;
    call->size = sizeof(*call);
    call->version = PHX_CALL_VERSION;
    call->caller = &unknown_caller;
    call->peer = &unknown_peer;
    if (dir == PHX_TX && d->kind == MRPC_DESC_SEND && d->addr) {
        const struct mrpc_wire_msg *w = (const struct mrpc_wire_msg *)(uintptr_t)d->addr;
        const struct mrpc_wire_hdr *h = &w->hdr;
        if (!kind_of_wire(h->kind, &call->kind))
            return false;
        call->deadline_ns = h->kind == MRPC_WIRE_CALL ? w->deadline_ns : 0;
        call->service_id = h->service_id;
        call->method_id = h->method_id;
        call->call_id = h->call_id;
        call->bytes = h->payload_len;
        call->status = h->status;
    } else if (dir == PHX_RX && d->kind == MRPC_DESC_RECEIVED) {
        if (!kind_of_wire(d->flags & 0xff, &call->kind))
            return false;
        call->service_id = d->service_id;
        call->method_id = d->method_id;
        call->call_id = d->call_id;
        call->bytes = d->len;
        call->status = d->status;
    } else {
        return false;
    }
    call->conn_id = d->conn_id;
    bool request = call->kind == PHX_CALL_REQUEST || call->kind == PHX_CALL_CANCEL;
    call->server_side = (dir == PHX_RX) == request;
    return true;
}

/* ---- who: the app and its peers --------------------------------------------------------------- */

/* The real gid of PID (/proc/PID/status under the service's /proc root), or false. */
static bool gid_of(pid_t pid, uint32_t *gid)
{
    char path[4200], line[256];
    bool found = false;
    unsigned long g;

    snprintf(path, sizeof(path), "%s/%d/status", phx_job_proc_root(), (int)pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return false;
    while (!found && fgets(line, sizeof(line), f))
        if (sscanf(line, "Gid: %lu", &g) == 1) {
            *gid = (uint32_t)g;
            found = true;
        }
    fclose(f);
    return found;
}

void phx_policy_learn_caller(phx_policy_t *p, phx_engine_t *e)
{
    phx_app_port_t *port = e ? phx_engine_app_port(e) : NULL;
    struct phx_job job;

    if (p->caller_learned || !port)
        return;
    p->caller_learned = true;
    p->caller.pid = (int32_t)phx_app_port_pid(port);
    p->caller.uid = (uint32_t)phx_app_port_uid(port);
    p->caller.gid_known = p->caller.pid > 0 && gid_of(p->caller.pid, &p->caller.gid);
    if (p->caller.pid <= 0)
        return;
    phx_job_identify(phx_job_proc_root(), p->caller.pid, &job);
    snprintf(p->caller.job, sizeof(p->caller.job), "%s", job.id);
    p->caller.job_verified = job.id[0] && job.verified;
}

static unsigned peer_home(uint32_t conn_id)
{
    return (conn_id * 2654435761u) & (PHX_POLICY_PEERS_MAX - 1);
}

/* CONN_ID's slot, or the empty one where it would go (NULL: neither, the table is full). */
static phx_policy_peer_t *peer_slot(const phx_policy_t *p, uint32_t conn_id)
{
    for (unsigned i = 0, at = peer_home(conn_id); p->peers && i < PHX_POLICY_PEERS_MAX;
         i++, at = (at + 1) & (PHX_POLICY_PEERS_MAX - 1))
        if (!p->peers[at].used || p->peers[at].conn_id == conn_id)
            return &p->peers[at];
    return NULL;
}

const phx_peer_t *phx_policy_peer(const phx_policy_t *p, uint32_t conn_id)
{
    phx_policy_peer_t *s = peer_slot(p, conn_id);

    return s && s->used ? &s->peer : &unknown_peer;
}

static void peer_put(phx_policy_t *p, uint32_t conn_id, const phx_peer_t *peer)
{
    phx_policy_peer_t *s = peer_slot(p, conn_id);

    if (!s || (!s->used && p->n_peers + 1 >= PHX_POLICY_PEERS_MAX)) {
        p->peers_untracked++;
        return;
    }
    if (!s->used)
        p->n_peers++;
    *s = (phx_policy_peer_t){ .conn_id = conn_id, .used = true, .peer = *peer };
}

/* Removes CONN_ID, moving back the entries behind it that would no longer be found. */
static void peer_remove(phx_policy_t *p, uint32_t conn_id)
{
    phx_policy_peer_t *s = peer_slot(p, conn_id);
    const unsigned mask = PHX_POLICY_PEERS_MAX - 1;

    if (!s || !s->used)
        return;
    unsigned hole = (unsigned)(s - p->peers);
    p->peers[hole].used = false;
    p->n_peers--;
    for (unsigned at = (hole + 1) & mask; p->peers[at].used; at = (at + 1) & mask) {
        unsigned home = peer_home(p->peers[at].conn_id);
        if (((at - home) & mask) >= ((at - hole) & mask)) {
            p->peers[hole] = p->peers[at];
            p->peers[at].used = false;
            hole = at;
        }
    }
}

/* A NUL-terminated copy of at most N bytes at SRC into DST (64 bytes). */
static void copy_addr(char dst[64], const char *src, size_t n)
{
    size_t len = src ? strnlen(src, n < 63 ? n : 63) : 0;

    memcpy(dst, src ? src : "", len);
    dst[len] = '\0';
}

/* D begins a connection: record its peer. */
static void observe_new(phx_policy_t *p, const phx_desc_t *d, phx_dir_t dir)
{
    phx_peer_t peer = unknown_peer;

    peer.flags = PHX_PEER_KNOWN;
    if (dir == PHX_TX && d->kind == MRPC_DESC_CONNECT && d->addr) {
        copy_addr(peer.addr, (const char *)(uintptr_t)d->addr, MRPC_APP_ADDR_MAX);
        peer_put(p, d->conn_id, &peer);
    } else if (dir == PHX_RX && d->kind == MRPC_DESC_ACCEPTED) {
        const struct mrpc_peer_info *info = (const struct mrpc_peer_info *)(uintptr_t)d->addr;
        if (info && d->len >= sizeof(*info)) {
            copy_addr(peer.addr, info->addr, sizeof(info->addr));
            if (info->flags & MRPC_PEER_AUTHENTICATED) {
                peer.flags |= PHX_PEER_AUTHENTICATED;
                peer.uid = info->uid;
                peer.gid = info->gid;
            }
        }
        peer_put(p, d->conn_id, &peer);
    }
}

/* D, leaving the policy, ends a connection: forget its peer. */
static void observe_end(phx_policy_t *p, const phx_desc_t *d, phx_dir_t dir)
{
    if ((dir == PHX_TX && d->kind == MRPC_DESC_CLOSE) ||
        (dir == PHX_RX && (d->kind == MRPC_DESC_CONN_LOST ||
                           (d->kind == MRPC_DESC_CONNECTED && d->status != PHX_OK))))
        peer_remove(p, d->conn_id);
}

/* D as a call, with who it is from and to; false for connection management. */
static bool call_read(const phx_policy_t *p, const phx_desc_t *d, phx_dir_t dir, phx_call_t *c)
{
    if (!phx_policy_call_of(d, dir, c))
        return false;
    c->caller = &p->caller;
    c->peer = phx_policy_peer(p, d->conn_id);
    return true;
}

/* ---- the queues ----------------------------------------------------------------------------- */

/* What the queue keeps beside each slot: the descriptor's place in arrival order (increasing from
 * the head to the tail, as order never changes) and, for a request, who it is as read when it
 * arrived.
 *
 * The index (by_call) is kept only while calls wait: from the moment a descriptor is queued
 * behind another until the queue is empty again. A call that goes at once (queued alone, decided
 * and gone) never touches it, so the common path pays nothing for it; a queue of one is looked
 * through directly. While kept, a request is filed under its key unless another queued request
 * holds that key (the same call id twice on a connection, or two ids that mix to one key);
 * those are counted in `unindexed`, and while there are any a CANCEL looks for its request by a
 * pass over the tags, as it always did, so that it finds the first one. */
enum { TAG_REQUEST = 1u << 0, TAG_INDEXED = 1u << 1, TAG_UNINDEXED = 1u << 2 };
struct phx_policy_tag {
    uint64_t seq;
    uint64_t call_id;
    uint32_t conn_id;
    uint32_t flags;
};

static uint64_t request_key(uint32_t conn_id, uint64_t call_id)
{
    return (uint64_t)conn_id << 32 ^ call_id;
}

/* The slot AT places behind Q's head (AT < cap), without a division: this is on every call's
 * way through the queue. */
static unsigned ring_at(const phx_policy_queue_t *q, unsigned at)
{
    unsigned i = q->head + at;

    return i >= q->cap ? i - q->cap : i;
}

static struct phx_policy_tag *tag_at(const phx_policy_queue_t *q, unsigned at)
{
    return &q->tags[ring_at(q, at)];
}

/* Files the request tagged T in Q's index (or counts it unindexed). Never allocates: the index
 * has room for every slot (queue_alloc). */
static void index_add(phx_policy_queue_t *q, struct phx_policy_tag *t)
{
    uint64_t key = request_key(t->conn_id, t->call_id);

    if (!phx_u64map_get(&q->by_call, key, NULL) && phx_u64map_put(&q->by_call, key, t->seq) == 0) {
        t->flags |= TAG_INDEXED;
    } else {
        t->flags |= TAG_UNINDEXED;
        q->unindexed++;
    }
}

/* Q begins to keep its index: every queued request goes in. */
static void index_start(phx_policy_queue_t *q)
{
    q->indexing = true;
    for (unsigned i = 0; i < q->count; i++)
        if (tag_at(q, i)->flags & TAG_REQUEST)
            index_add(q, tag_at(q, i));
}

/* The descriptor tagged T leaves Q: out of the index. */
static void index_drop(phx_policy_queue_t *q, const struct phx_policy_tag *t)
{
    if (t->flags & TAG_INDEXED)
        phx_u64map_remove(&q->by_call, request_key(t->conn_id, t->call_id), NULL);
    else if (t->flags & TAG_UNINDEXED)
        q->unindexed--;
}

static int queue_alloc(phx_policy_queue_t *q, unsigned max)
{
    unsigned cap = max + POLICY_SLACK;
    phx_desc_t *slots = calloc(cap, sizeof(*slots));
    struct phx_policy_tag *tags = calloc(cap, sizeof(*tags));
    phx_u64map_t index;

    phx_u64map_init(&index, cap);
    if (!slots || !tags || phx_u64map_reserve(&index, cap) < 0) {
        free(slots);
        free(tags);
        phx_u64map_fini(&index);
        return -ENOMEM;
    }
    for (unsigned i = 0; i < q->count; i++) {
        slots[i] = q->slots[(q->head + i) % q->cap];
        tags[i] = *tag_at(q, i);
    }
    free(q->slots);
    free(q->tags);
    phx_u64map_fini(&q->by_call);
    q->slots = slots;
    q->tags = tags;
    q->by_call = index;
    q->cap = cap;
    q->max = max;
    q->head = 0;
    q->unindexed = 0;
    q->indexing = false;
    for (unsigned i = 0; i < q->count; i++)
        tags[i].flags &= (uint32_t)TAG_REQUEST;
    if (q->count > 1)
        index_start(q);
    return 0;
}

static phx_desc_t *queue_head(phx_policy_queue_t *q)
{
    return &q->slots[q->head];
}

/* Moves the descriptor (and tag) at place FROM of Q to place TO. */
static void queue_move(phx_policy_queue_t *q, unsigned to, unsigned from)
{
    unsigned t = ring_at(q, to), f = ring_at(q, from);

    q->slots[t] = q->slots[f];
    q->tags[t] = q->tags[f];
}

/* Takes the descriptor AT places behind the head out of Q, closing the gap from the nearer end:
 * the ones ahead of it move back a slot (the head with them), or the ones behind it move up. */
static void queue_cut(phx_policy_queue_t *q, unsigned at)
{
    index_drop(q, tag_at(q, at));
    if (at < q->count - 1 - at) {
        for (unsigned i = at; i > 0; i--)
            queue_move(q, i, i - 1);
        q->head = ring_at(q, 1);
    } else {
        for (unsigned i = at; i + 1 < q->count; i++)
            queue_move(q, i, i + 1);
    }
    if (!--q->count)
        q->indexing = false;            /* empty, as is the index: nothing waits */
}

static void queue_pop(phx_policy_queue_t *q)
{
    queue_cut(q, 0);
    q->until_ns = 0;
    q->head_held = false;
    if (q->held)
        q->held--;
}

/* Takes D out of Q: the head (queue_pop), or in hold-alone mode the first behind the held
 * calls, the held ones keeping their places in order. */
static void queue_take(phx_policy_queue_t *q, const phx_desc_t *d)
{
    unsigned at = ((unsigned)(d - q->slots) + q->cap - q->head) % q->cap;

    if (!at)
        queue_pop(q);
    else
        queue_cut(q, at);
}

/* Takes the descriptor AT places behind the head out of Q, wherever it is: a held one too. The
 * head's time and count go with it; in hold-alone mode the held ones stay held, in order. */
static void queue_remove(phx_policy_queue_t *q, unsigned at)
{
    if (at < q->held)
        q->held--;
    queue_cut(q, at);
    if (!at) {
        q->until_ns = 0;                /* the new head is asked again now */
        q->head_held = q->held > 0;     /* ... and was counted when it was held */
    }
}

/* Queues D at the tail of Q; CALL is D read as a call, or NULL (connection management). */
static void queue_push(phx_policy_queue_t *q, const phx_desc_t *d, const phx_call_t *call)
{
    unsigned at = ring_at(q, q->count);
    struct phx_policy_tag *t = &q->tags[at];

    q->slots[at] = *d;
    t->seq = q->next_seq++;
    t->flags = 0;
    q->count++;
    if (call && call->kind == PHX_CALL_REQUEST) {
        t->call_id = call->call_id;
        t->conn_id = call->conn_id;
        t->flags = TAG_REQUEST;
        if (q->indexing)
            index_add(q, t);
    }
    if (!q->indexing && q->count > 1)
        index_start(q);                 /* a descriptor waits behind another */
}

int phx_policy_init(phx_policy_t *p, phx_policy_decide_fn decide, void *ctx, unsigned dirs,
                    unsigned queue_max)
{
    memset(p, 0, sizeof(*p));
    if (!decide || queue_max < 1 || queue_max > PHX_POLICY_QUEUE_MAX)
        return -EINVAL;
    p->decide = decide;
    p->ctx = ctx;
    p->dirs = dirs;
    p->batch = POLICY_BATCH;
    p->sides = PHX_SIDE_BOTH;
    if (!(p->peers = calloc(PHX_POLICY_PEERS_MAX, sizeof(*p->peers))))
        return -ENOMEM;
    for (int d = PHX_TX; d <= PHX_RX; d++)
        if (queue_alloc(&p->q[d], queue_max) < 0) {
            phx_policy_fini(p);
            return -ENOMEM;
        }
    return 0;
}

int phx_policy_set_queue_max(phx_policy_t *p, unsigned queue_max, char *err, size_t errlen)
{
    for (int d = PHX_TX; d <= PHX_RX; d++)
        if (p->q[d].count > queue_max) {
            snprintf(err, errlen, "%u calls are held on %s, more than a queue of %u holds: "
                     "try again when fewer wait", p->q[d].count, dir_names[d], queue_max);
            return -EBUSY;
        }
    for (int d = PHX_TX; d <= PHX_RX; d++)
        if (p->q[d].max != queue_max && queue_alloc(&p->q[d], queue_max) < 0) {
            snprintf(err, errlen, "out of memory for a queue of %u calls", queue_max);
            return -ENOMEM;
        }
    return 0;
}

void phx_policy_fini(phx_policy_t *p)
{
    for (int d = PHX_TX; d <= PHX_RX; d++) {
        free(p->q[d].slots);
        free(p->q[d].tags);
        phx_u64map_fini(&p->q[d].by_call);
        p->q[d].slots = NULL;
        p->q[d].tags = NULL;
        p->q[d].cap = p->q[d].count = p->q[d].unindexed = 0;
        p->q[d].indexing = false;
    }
    free(p->peers);
    p->peers = NULL;
    p->n_peers = 0;
    free(p->content.buf);
    memset(&p->content, 0, sizeof(p->content));
    free(p->reply.buf);
    memset(&p->reply, 0, sizeof(p->reply));
}

void phx_policy_set_sides(phx_policy_t *p, unsigned sides)
{
    p->sides = sides & PHX_SIDE_BOTH ? sides & PHX_SIDE_BOTH : PHX_SIDE_BOTH;
}

unsigned phx_policy_request_dirs(unsigned sides)
{
    return (sides & PHX_SIDE_CLIENT ? 1u << PHX_TX : 0) |
           (sides & PHX_SIDE_SERVER ? 1u << PHX_RX : 0);
}

int phx_policy_set_dirs(phx_policy_t *p, unsigned dirs, char *err, size_t errlen)
{
    for (int d = PHX_TX; d <= PHX_RX; d++)
        if (!(dirs & (1u << d)) && p->q[d].count) {
            snprintf(err, errlen, "%u calls are held on %s; change this again once they have "
                     "gone", p->q[d].count, dir_names[d]);
            return -EBUSY;
        }
    p->dirs = dirs & ((1u << PHX_TX) | (1u << PHX_RX));
    return 0;
}

void phx_policy_watch(phx_policy_t *p, phx_policy_watch_fn watch)
{
    p->watch = watch;
}

void phx_policy_on_withdrawn(phx_policy_t *p, phx_policy_withdrawn_fn fn)
{
    p->withdrawn = fn;
}

void phx_policy_hold_alone(phx_policy_t *p, bool on)
{
    p->hold_alone = on;
}

unsigned phx_policy_held(const phx_policy_t *p, phx_dir_t dir)
{
    return p->q[dir].count;
}

/* ---- verdicts ------------------------------------------------------------------------------- */

/* The channel a rejection of a DIR call goes up through, or NULL (see policy.h): rx out either
 * way, where MrpcEngine is. */
static phx_channel_t *way_up(phx_engine_t *e, phx_dir_t dir)
{
    (void)dir;
    return phx_engine_out(e, PHX_RX, 0);
}

static void note_reject(phx_policy_t *p, phx_engine_t *e, const phx_call_t *c, phx_status_t st,
                        const char *why)
{
    snprintf(p->last_reject, sizeof(p->last_reject), "%s", why ? why : phx_status_name(st));
    phx_debug("%s %" PRIu64 ": call %" PRIu64 " on connection %u rejected with %s: %s",
              phx_engine_type(e), phx_engine_id(e), c->call_id, c->conn_id,
              phx_status_name(st), p->last_reject);
}

/* A tx call's refusal: the transport's SENT answer to its SEND, the sentence in the message. */
static phx_desc_t refusal_tx(const phx_desc_t *d, const phx_call_t *c, phx_status_t status,
                             const char *why)
{
    struct mrpc_wire_msg *w = (struct mrpc_wire_msg *)(uintptr_t)d->addr;

    snprintf(w->reason, sizeof(w->reason), "%s", why ? why : "");
    return (phx_desc_t){ .kind = MRPC_DESC_SENT, .status = status, .conn_id = d->conn_id,
                         .call_id = d->call_id, .addr = d->addr, .service_id = c->service_id,
                         .method_id = c->method_id };
}

/* An rx call's refusal: REFUSED, its payload freed and the sentence in the receive heap in its
 * place (0/0 when none fits; without an app port nothing is freed: tests). */
static phx_desc_t refusal_rx(phx_engine_t *e, const phx_desc_t *d, phx_status_t status,
                             const char *why)
{
    phx_app_port_t *port = phx_engine_app_port(e);
    phx_desc_t up = *d;
    size_t n = why ? strnlen(why, PHX_POLICY_REASON_MAX - 1) : 0;
    char *text = NULL;

    up.kind = MRPC_DESC_REFUSED;
    up.status = status;
    up.addr = up.len = 0;
    up.type_hash = 0;
    if (!port)
        return up;
    phx_heap_t *heap = phx_app_port_recv_heap(port);
    if (d->addr)
        phx_heap_free(heap, (void *)(uintptr_t)d->addr);
    if (n && (text = phx_heap_alloc(heap, n + 1))) {
        memcpy(text, why, n);
        text[n] = '\0';
        up.addr = (uint64_t)(uintptr_t)text;
        up.len = n + 1;
    }
    return up;
}

/* Completes the held or new call D upward with STATUS (see policy.h). False when there is no
 * room (or no way) up; nothing changed then. */
static bool reject(phx_policy_t *p, phx_engine_t *e, const phx_desc_t *d, const phx_call_t *c,
                   phx_status_t status, const char *why)
{
    phx_channel_t *up = way_up(e, c->dir);

    if (!status)
        status = PHX_UNKNOWN;
    if (!up || !phx_chan_space(up))
        return false;
    phx_desc_t answer = c->dir == PHX_TX ? refusal_tx(d, c, status, why)
                                         : refusal_rx(e, d, status, why);
    phx_chan_push(up, &answer, 1);
    p->counts[c->dir].rejected++;
    note_reject(p, e, c, status, why);
    return true;
}

/* The REPLY verdict on the head D: 1 when answered (popped), 0 when it waits for room up, -1
 * when it goes on as *V turned into a rejection (the reply cannot be made) or, with no way up,
 * a forward (counted unrejectable by the caller). */
static int answer(phx_policy_t *p, phx_engine_t *e, const phx_desc_t *d, const phx_call_t *c,
                  phx_verdict_t *v)
{
    phx_channel_t *up = way_up(e, c->dir);
    phx_status_t status = PHX_INTERNAL;

    if (!up) {
        *v = phx_verdict_reject(PHX_INTERNAL, NULL);
        return -1;
    }
    int rc = phx_sdk_answer(p, e, d, c, up, p->reply.why, sizeof(p->reply.why), &status);
    if (rc < 0) {
        *v = phx_verdict_reject(status, p->reply.why);
        return -1;
    }
    if (rc > 0) {
        p->counts[c->dir].replied++;
        queue_take(&p->q[c->dir], d);
    }
    return rc;
}

/* ---- cancels of queued calls ------------------------------------------------------------ */

static bool tag_names(const struct phx_policy_tag *t, const phx_call_t *c)
{
    return (t->flags & TAG_REQUEST) && t->conn_id == c->conn_id && t->call_id == c->call_id;
}

/* The place in Q of the descriptor with arrival number SEQ, or -1: the numbers increase from
 * the head, so a binary search. */
static int place_of(const phx_policy_queue_t *q, uint64_t seq)
{
    unsigned lo = 0, hi = q->count;

    while (lo < hi) {
        unsigned mid = lo + (hi - lo) / 2;
        uint64_t at = tag_at(q, mid)->seq;
        if (at == seq)
            return (int)mid;
        if (at < seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

/* Where in Q the request that the CANCEL C names waits, ahead of LIMIT places behind the head
 * (the CANCEL's own place, or the count): its place, or -1. The index and a binary search,
 * O(log n) in a queue of n; a pass over the tags in a queue of one (no index kept), or while
 * a key is taken twice (see the tags), for the first of them. */
static int queued_request(const phx_policy_queue_t *q, const phx_call_t *c, unsigned limit)
{
    uint64_t seq;
    int at = -1;

    if (q->unindexed || !q->indexing) {
        for (unsigned i = 0; i < limit && i < q->count; i++)
            if (tag_names(tag_at(q, i), c))
                return (int)i;
        return -1;
    }
    if (phx_u64map_get(&q->by_call, request_key(c->conn_id, c->call_id), &seq))
        at = place_of(q, seq);
    return at >= 0 && (unsigned)at < limit && tag_names(tag_at(q, (unsigned)at), c) ? at : -1;
}

/* Whether a CANCEL of DIR can withdraw its request now: an rx one always (nothing goes up), a
 * tx one when the way up has room for both SENT answers. */
static bool can_withdraw(phx_engine_t *e, phx_dir_t dir)
{
    phx_channel_t *up = way_up(e, dir);

    return dir == PHX_RX || (up && phx_chan_space(up) >= 2);
}

/* Frees the payload an rx descriptor D landed in the app's receive heap (none without an app
 * port: tests). */
static void free_landed(phx_engine_t *e, const phx_desc_t *d)
{
    phx_app_port_t *port = phx_engine_app_port(e);

    if (port && d->addr)
        phx_heap_free(phx_app_port_recv_heap(port), (void *)(uintptr_t)d->addr);
}

/* The CANCEL C (descriptor CD) withdraws the request AT places behind the head of DIR's queue
 * (policy.h, "Cancels") at NOW: neither goes on; the policy is told (phx_policy_on_withdrawn).
 * Needs can_withdraw(). */
static void withdraw(phx_policy_t *p, phx_engine_t *e, phx_dir_t dir, unsigned at,
                     const phx_desc_t *cd, const phx_call_t *c, uint64_t now)
{
    phx_policy_queue_t *q = &p->q[dir];
    phx_desc_t rd = q->slots[(q->head + at) % q->cap];
    phx_call_t r;

    call_read(p, &rd, dir, &r);
    queue_remove(q, at);
    if (dir == PHX_TX) {
        phx_desc_t answers[2] = { refusal_tx(&rd, &r, PHX_CANCELLED, NULL),
                                  refusal_tx(cd, c, PHX_OK, NULL) };
        phx_chan_push(way_up(e, dir), answers, 2);
    } else {
        free_landed(e, &rd);
        free_landed(e, cd);
    }
    p->counts[dir].cancelled++;
    if (p->withdrawn)
        p->withdrawn(p->ctx, &r, now);
    phx_debug("%s %" PRIu64 ": call %" PRIu64 " on connection %u cancelled while held (%s): "
              "withdrawn", phx_engine_type(e), phx_engine_id(e), c->call_id, c->conn_id,
              dir_names[dir]);
}

/* D, the CANCEL C at place AT of DIR's queue (or arriving: AT the count), and its request
 * queued ahead of it, at NOW: 1 when it withdrew it, 0 when it must wait behind it, -1 when its
 * request is not queued (it goes on as any call). */
static int cancel_queued(phx_policy_t *p, phx_engine_t *e, phx_dir_t dir, const phx_desc_t *d,
                         const phx_call_t *c, unsigned at, uint64_t now)
{
    int r = queued_request(&p->q[dir], c, at);

    if (r < 0)
        return -1;
    if (!can_withdraw(e, dir))
        return 0;
    phx_desc_t cd = *d;                 /* D may be a slot that withdraw() moves */
    withdraw(p, e, dir, (unsigned)r, &cd, c, now);
    return 1;
}

static bool can_reject(phx_engine_t *e, phx_dir_t dir)
{
    phx_channel_t *up = way_up(e, dir);

    return up && phx_chan_space(up) > 0;
}

/* Hold-alone mode: whether the first descriptor behind the held calls of DIR's queue Q may be
 * worked on before them: a call may, but for a CANCEL of one of them that cannot withdraw it
 * now (it waits behind it). */
static bool passable(const phx_policy_t *p, phx_engine_t *e, const phx_policy_queue_t *q,
                     phx_dir_t dir)
{
    phx_call_t call;

    if (!p->hold_alone || q->held >= q->count ||
        !phx_policy_call_of(&q->slots[(q->head + q->held) % q->cap], dir, &call))
        return false;
    return call.kind != PHX_CALL_CANCEL || can_withdraw(e, dir) ||
           queued_request(q, &call, q->held) < 0;
}

/* The descriptor of DIR's queue to work on at NOW: the head when it is due; in hold-alone mode,
 * while the held ones are not, the first behind them when it may pass them; NULL: none. */
static phx_desc_t *queue_next(phx_policy_t *p, phx_engine_t *e, phx_dir_t dir, uint64_t now)
{
    phx_policy_queue_t *q = &p->q[dir];

    if (q->until_ns <= now)
        return queue_head(q);
    if (!passable(p, e, q, dir))
        return NULL;
    return &q->slots[(q->head + q->held) % q->cap];
}

/* D of DIR's queue is held until UNTIL: the head (ordinary mode), or one more of the calls held
 * at the front (hold-alone mode). 1 when the next one may be worked on, else 0. */
static int hold(phx_policy_t *p, phx_policy_queue_t *q, phx_dir_t dir, const phx_desc_t *d,
                uint64_t until)
{
    if (d != queue_head(q)) {
        q->held++;                      /* hold-alone: already at the end of the held ones */
        p->counts[dir].held++;
        return 1;
    }
    q->until_ns = until;
    if (!q->head_held)
        p->counts[dir].held++;
    q->head_held = true;
    if (!p->hold_alone)
        return 0;
    if (!q->held)
        q->held = 1;
    return q->held < q->count;
}

/* Works on DIR's queue once (queue_next). 1 when a descriptor left the queue or was held alone,
 * 0 when nothing can move now (held, or no room to move it). */
static int decide_head(phx_policy_t *p, phx_engine_t *e, phx_dir_t dir, uint64_t now)
{
    phx_policy_queue_t *q = &p->q[dir];
    phx_channel_t *out = phx_engine_out(e, dir, 0);
    phx_desc_t *d = queue_next(p, e, dir, now);
    phx_call_t call;

    if (!d || !out || !phx_chan_space(out))
        return 0;
    if (!call_read(p, d, dir, &call)) {
        if (d != queue_head(q))
            return 0;                   /* never passes a held call */
        if (p->watch)
            p->watch(p->ctx, d, dir, now);
        observe_end(p, d, dir);
        phx_chan_push(out, d, 1);
        queue_pop(q);
        return 1;
    }
    unsigned at = ((unsigned)(d - q->slots) + q->cap - q->head) % q->cap;
    int cancelled = call.kind == PHX_CALL_CANCEL ? cancel_queued(p, e, dir, d, &call, at, now) : -1;
    if (cancelled >= 0) {               /* hold-alone: a CANCEL behind its held request */
        if (cancelled)
            queue_remove(q, at - 1);    /* its request, ahead of it, has gone */
        return cancelled;
    }
    unsigned side = call.server_side ? PHX_SIDE_SERVER : PHX_SIDE_CLIENT;
    struct phx_call_ctx cx = { .p = p, .e = e, .d = d };
    call.ctx = &cx;
    phx_sdk_call_names(e, &call);
    phx_verdict_t v = p->sides & side ? p->decide(p->ctx, &call, now) : phx_verdict_forward();
    p->content.key = NULL;              /* the decoded copy is this decision's only */
    if (v.kind == PHX_VERDICT_REPLY) {
        int rc = answer(p, e, d, &call, &v);
        p->reply.key = NULL;            /* and so is the reply built */
        if (rc >= 0)
            return rc;
    }
    if (v.kind == PHX_VERDICT_HOLD && v.until_ns > now)
        return hold(p, q, dir, d, v.until_ns);
    if (v.kind == PHX_VERDICT_REJECT) {
        if (reject(p, e, d, &call, v.status, v.why)) {
            queue_take(q, d);
            return 1;
        }
        if (way_up(e, dir))
            return 0;                   /* no room up yet: asked again next time */
        p->counts[dir].unrejectable++;
    }
    phx_chan_push(out, d, 1);
    p->counts[dir].forwarded++;
    queue_take(q, d);
    return 1;
}

/* Decides about the head of DIR's queue while it is due and can move; how many left. */
static unsigned drain_due(phx_policy_t *p, phx_engine_t *e, phx_dir_t dir, uint64_t now)
{
    unsigned n = 0;

    while (n < p->batch && p->q[dir].count && decide_head(p, e, dir, now))
        n++;
    return n;
}

/* Takes one descriptor that arrived on DIR into the queue (a call finding it full is refused);
 * false when nothing came or there is no room. */
static bool take_one(phx_policy_t *p, phx_engine_t *e, phx_dir_t dir, uint64_t now)
{
    phx_policy_queue_t *q = &p->q[dir];
    phx_desc_t d;
    phx_call_t call;

    if (q->count >= q->cap || phx_chan_pop(phx_engine_in(e, dir, 0), &d, 1) != 1)
        return false;
    observe_new(p, &d, dir);
    bool is_call = call_read(p, &d, dir, &call);
    if (is_call && call.kind == PHX_CALL_CANCEL &&
        cancel_queued(p, e, dir, &d, &call, q->count, now) > 0)
        return true;                    /* it withdrew its request: neither goes on */
    if (q->count >= q->max && is_call && can_reject(e, dir)) {
        p->counts[dir].overflowed++;
        reject(p, e, &d, &call, PHX_RESOURCE_EXHAUSTED,
               "the policy's queue of held calls is full");
        return true;
    }
    queue_push(q, &d, is_call ? &call : NULL);
    return true;
}

/* A direction decide() does not see: forwarded as it is, up to a batch, the connections it
 * makes and ends noted on the way. */
static unsigned forward_watched(phx_policy_t *p, phx_engine_t *e, phx_dir_t dir)
{
    phx_channel_t *in = phx_engine_in(e, dir, 0), *out = phx_engine_out(e, dir, 0);
    phx_desc_t chunk[64];
    unsigned moved = 0;

    while (in && out && moved < p->batch) {
        unsigned room = phx_chan_space(out), want = p->batch - moved;
        if (want > room)
            want = room;
        unsigned n = phx_chan_pop(in, chunk, want < 64 ? want : 64);
        for (unsigned i = 0; i < n; i++) {
            observe_new(p, &chunk[i], dir);
            observe_end(p, &chunk[i], dir);
        }
        phx_chan_push(out, chunk, n);
        moved += n;
        if (n < 64)
            break;
    }
    return moved;
}

/* One descriptor at a time, each decided as soon as it is at the head: only calls that really
 * wait take a place in the queue. */
static unsigned progress_dir(phx_policy_t *p, phx_engine_t *e, phx_dir_t dir, uint64_t now)
{
    unsigned work = 0;

    if (!(p->dirs & (1u << dir)))
        return forward_watched(p, e, dir);
    for (unsigned i = 0; i < p->batch; i++) {
        work += drain_due(p, e, dir, now);
        if (!take_one(p, e, dir, now))
            break;
        work++;
    }
    return work + drain_due(p, e, dir, now);
}

int phx_policy_progress(phx_policy_t *p, phx_engine_t *e, uint64_t now_ns)
{
    if (!p->caller_learned)
        phx_policy_learn_caller(p, e);
    return (int)(progress_dir(p, e, PHX_TX, now_ns) + progress_dir(p, e, PHX_RX, now_ns));
}

/* ---- timers and flush ----------------------------------------------------------------------- */

/* Work waiting on DIR now (> 0), else 0 with *TIMEOUT_MS lowered to the head's time. */
static unsigned ready_dir(phx_policy_t *p, phx_engine_t *e, phx_dir_t dir, uint64_t now,
                          int *timeout_ms)
{
    phx_channel_t *out = phx_engine_out(e, dir, 0);
    phx_policy_queue_t *q = &p->q[dir];
    unsigned room = out ? phx_chan_space(out) : 0;

    if (!(p->dirs & (1u << dir)) || !q->count)
        return room && phx_chan_count(phx_engine_in(e, dir, 0)) ? 1 : 0;
    if (q->until_ns <= now || passable(p, e, q, dir))
        return room ? 1 : 0;
    uint64_t ms = (q->until_ns - now + 999999) / 1000000;
    int t = ms > 60000 ? 60000 : (int)ms;
    if (*timeout_ms < 0 || t < *timeout_ms)
        *timeout_ms = t;
    return 0;
}

int phx_policy_arm(phx_policy_t *p, phx_engine_t *e, phx_wait_t *w, uint64_t now_ns)
{
    int timeout = -1;
    unsigned ready = ready_dir(p, e, PHX_TX, now_ns, &timeout) +
                     ready_dir(p, e, PHX_RX, now_ns, &timeout);

    w->fd = -1;
    w->timeout_ms = timeout;
    return (int)ready;
}

int phx_policy_flush(phx_policy_t *p, phx_engine_t *e)
{
    unsigned left = 0;

    for (int d = PHX_TX; d <= PHX_RX; d++) {
        phx_policy_queue_t *q = &p->q[d];
        phx_channel_t *out = phx_engine_out(e, (phx_dir_t)d, 0);
        phx_call_t call;
        while (q->count && out && phx_chan_push(out, queue_head(q), 1) == 1) {
            if (phx_policy_call_of(queue_head(q), (phx_dir_t)d, &call))
                p->counts[d].forwarded++;
            else if (p->watch)
                p->watch(p->ctx, queue_head(q), (phx_dir_t)d, phx_now_ns());
            observe_end(p, queue_head(q), (phx_dir_t)d);
            queue_pop(q);
        }
        left += q->count;
    }
    return (int)left;
}

/* ---- stats and state ------------------------------------------------------------------------ */

void phx_policy_json_text(char *out, size_t n, const char *s)
{
    size_t o = 0;

    for (; *s && o + 7 < n; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            o += (size_t)snprintf(out + o, n - o, "\\%c", c);
        else if (c < 0x20)
            o += (size_t)snprintf(out + o, n - o, "\\u%04x", c);
        else
            out[o++] = (char)c;
    }
    out[o] = '\0';
}

char *phx_policy_stats_json(const phx_policy_t *p)
{
    char reason[2 * PHX_POLICY_REASON_MAX], *s = NULL;
    const phx_policy_counts_t *t = &p->counts[PHX_TX], *r = &p->counts[PHX_RX];
    const char *f = "{\"forwarded\":%" PRIu64 ",\"held\":%" PRIu64 ",\"rejected\":%" PRIu64
                    ",\"overflowed\":%" PRIu64 ",\"unrejectable\":%" PRIu64 ",\"replied\":%" PRIu64
                    ",\"cancelled\":%" PRIu64 ",\"waiting\":%u}";
    char tx[320], rx[320];

    phx_policy_json_text(reason, sizeof(reason), p->last_reject);
    snprintf(tx, sizeof(tx), f, t->forwarded, t->held, t->rejected, t->overflowed,
             t->unrejectable, t->replied, t->cancelled, p->q[PHX_TX].count);
    snprintf(rx, sizeof(rx), f, r->forwarded, r->held, r->rejected, r->overflowed,
             r->unrejectable, r->replied, r->cancelled, p->q[PHX_RX].count);
    if (asprintf(&s, "\"tx\":%s,\"rx\":%s,\"last_reject\":\"%s\",\"peers\":%u,"
                 "\"peers_untracked\":%" PRIu64 ",\"copies\":%" PRIu64, tx, rx, reason,
                 p->n_peers, p->peers_untracked, p->copies) < 0)
        return NULL;
    return s;
}

void phx_policy_dump_counts(const phx_policy_t *p, phx_wbuf_t *w)
{
    for (int d = PHX_TX; d <= PHX_RX; d++) {
        const phx_policy_counts_t *c = &p->counts[d];
        phx_wbuf_u64(w, c->forwarded);
        phx_wbuf_u64(w, c->held);
        phx_wbuf_u64(w, c->rejected);
        phx_wbuf_u64(w, c->overflowed);
        phx_wbuf_u64(w, c->unrejectable);
    }
    phx_wbuf_blob(w, p->last_reject, strlen(p->last_reject));
    phx_wbuf_u64(w, p->counts[PHX_TX].replied);
    phx_wbuf_u64(w, p->counts[PHX_RX].replied);
    phx_wbuf_u64(w, p->counts[PHX_TX].cancelled);
    phx_wbuf_u64(w, p->counts[PHX_RX].cancelled);
}

bool phx_policy_restore_counts(phx_policy_t *p, phx_rbuf_t *r)
{
    size_t n = 0;

    for (int d = PHX_TX; d <= PHX_RX; d++) {
        phx_policy_counts_t *c = &p->counts[d];
        c->forwarded = phx_rbuf_u64(r);
        c->held = phx_rbuf_u64(r);
        c->rejected = phx_rbuf_u64(r);
        c->overflowed = phx_rbuf_u64(r);
        c->unrejectable = phx_rbuf_u64(r);
    }
    const void *text = phx_rbuf_blob(r, sizeof(p->last_reject) - 1, &n);
    if (!text)
        return false;
    memcpy(p->last_reject, text, n);
    p->last_reject[n] = '\0';
    if (r->left >= 2 * sizeof(uint64_t)) {     /* an older SDK's blob ends here */
        p->counts[PHX_TX].replied = phx_rbuf_u64(r);
        p->counts[PHX_RX].replied = phx_rbuf_u64(r);
    }
    if (r->left >= 2 * sizeof(uint64_t)) {     /* ... or here */
        p->counts[PHX_TX].cancelled = phx_rbuf_u64(r);
        p->counts[PHX_RX].cancelled = phx_rbuf_u64(r);
    }
    return !r->failed;
}

int phx_policy_op_progress(phx_engine_t *e, void *state)
{
    return phx_policy_progress(state, e, phx_now_ns());
}

int phx_policy_op_arm(phx_engine_t *e, void *state, phx_wait_t *w)
{
    return phx_policy_arm(state, e, w, phx_now_ns());
}

int phx_policy_op_flush(phx_engine_t *e, void *state)
{
    return phx_policy_flush(state, e);
}
