/* ucx_xlocal.c - the same-node path across runtime threads: two apps of this service whose
 * engines are driven by different runtime threads (so different workers, ucx_worker.c) exchange
 * messages without UCX, through a pair object both connections share.
 *
 * When. The client finished its handshake with a server that is not on its own worker (on its
 * worker, ucx_local.c pairs the two ends directly): it offers a pair, registered in the shared
 * context under the handshake's server nonce, then claims the handshake over UCX as usual. A
 * server of this process accepting that claim (ucx_claim.c) finds the offer by the nonce and
 * joins it before it acknowledges the claim; the client, once the ack comes, keeps the pair if
 * it was joined (the server is one of ours) and drops it otherwise (another process's). Either
 * end with settings.ucx.same_node off neither offers nor joins. The UCX endpoints are made all
 * the same: they carry nothing but tell each end of the other's death, as on the wire.
 *
 * The pair. Each end has a ring of posts (its messages to the other end) with three counters:
 * `posted` (the sender's), `taken` (the receiver's: landed or refused, each with its status)
 * and `reaped` (the sender's: its SENT queued), and `grants`, credits the other end gave back.
 * Everything in the pair is read and written under its mutex, which is never held across
 * anything that waits for another lock: the order is worker lock, then the context's lock
 * (the registry of offers), then the pair's. So every write of one end is ordered before every
 * later read of the other (the mutex's release/acquire); no field is touched without it.
 *
 * Sending. The sender posts the message's address (MrpcEngine's struct mrpc_wire_msg, valid
 * until its SENT goes up) and spends a credit, as for the wire; the receiver's thread, in its
 * engine's progress under its own worker's lock, lands it through the receive path of the
 * same-node path (phx_ucx_recv_local: the frame checks, the in-flight budget and the landed
 * bound, a block of its receive heap, ONE copy from the sender's pieces, RECEIVED queued).
 * The receiver copies, not the sender, so the receiver's heap is only ever written by its own
 * engine under its worker's lock: once that engine is destroyed nobody writes it. The sender's
 * memory is read by the other thread, which marks the post `copying` meanwhile (the mutex
 * released for the copy); whoever wants the sender's memory back (its end detaching, an
 * upgrade recalling its posts) waits on `idle` until the copy is over, at most one message's
 * copy. A post that finds no room in the receiver's heap stays at the head of the ring and is
 * tried again when the receiver's engine did something (its stamp changed) or the stall
 * timeout refuses it, the rule of ucx_local.c; the sender's slots and credits are its
 * back-pressure meanwhile. Credits come back as a count in the pair.
 *
 * Waking. A thread about to sleep checks its pairs in arm(), under their mutexes, and marks
 * its end `idle` where nothing waits; its next progress clears the mark. The sender signals the
 * receiver's worker (ucp_worker_signal, safe from any thread) when its ring goes from empty to
 * not, the receiver the sender's when it took posts or granted credits, either end the other's
 * when it goes, each only to an idle end (a polling thread needs no system call): a post
 * either comes before the check, which then sees it, or after, and then sees the mark and
 * signals; a signal that comes before ucp_worker_arm() makes that return BUSY, one after wakes
 * the sleep. The signal is sent with the pair's mutex held, so the worker cannot be destroyed
 * under it: an end forgets its worker, under the mutex, before its engine goes.
 *
 * Losses. An end that closes (its app closed the connection, or was killed, or its engine is
 * destroyed) detaches: marks its end gone, waits for a copy from its memory to end, reaps what
 * the other end took and answers the rest SENT UNAVAILABLE, signals the other end. That end's
 * next progress sees it: its own posts not taken come back UNAVAILABLE and the connection is
 * lost (CONN_LOST), as when UCX reports a dead peer. The last end to detach frees the pair.
 *
 * Upgrades. The pair, like the context and the worker, belongs to no build: its layout must
 * stay the same across builds that upgrade one another. flush() recalls the engine's posts not
 * taken yet to its wait lists (taken ones are reaped), so that no slot of the old build is in a
 * pair; the blob carries the pair's address; a new build's engine takes it over as it was. */
#include "ucx_engine.h"

#include "phoenix/log.h"
#include "phoenix/status.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define XPAIR_MAGIC 0x7870616972ull     /* "xpair" */
#define XRING       512                 /* posts of one end in the pair: more than a window,
                                           so that credits run out first (MRPC_WIRE_WINDOW) */
#define XTAKE_MAX   64                  /* posts landed per connection per progress() */

_Static_assert(XRING > MRPC_WIRE_WINDOW, "credits must bound the posts");

struct xpost {
    const struct mrpc_wire_msg *msg;    /* MrpcEngine's, in the sender's service memory */
    struct phx_ucx_send        *slot;   /* the sender's, opaque to the receiver */
    int32_t                     status; /* once taken */
};

struct xend {
    struct phx_ucx_worker *w;           /* to signal; NULL once the end is gone */
    bool                   gone;
    bool                   copying;     /* the other end copies from ring[taken % XRING] */
    bool                   idle;        /* its engine's arm() found nothing to do here: its
                                           thread may sleep, what the other end does rings */
    uint64_t               posted, taken, reaped;
    unsigned               grants;      /* credits the other end gave back, not yet counted */
    struct xpost           ring[XRING];
};

struct phx_ucx_xpair {
    uint64_t        magic;
    pthread_mutex_t lock;
    pthread_cond_t  idle;               /* a copy ended */
    uint8_t         nonce[PHX_UCX_HS_NONCE];
    bool            joined;             /* the server's end is in */
    unsigned        ends;               /* ends holding it */
    struct xend     end[2];             /* 0: the client's, 1: the server's */
};

static uint64_t key_of(const uint8_t *nonce)
{
    uint64_t k;

    memcpy(&k, nonce, sizeof(k));
    return k;
}

static struct xend *mine(const struct phx_ucx_conn *c)
{
    return &c->xpair->end[c->xside];
}

static struct xend *theirs(const struct phx_ucx_conn *c)
{
    return &c->xpair->end[!c->xside];
}

/* Wakes the runtime thread of E's engine if E is still there and may sleep (a thread that
 * polls sees the pair in its next progress: no system call for it). Under the pair's mutex. */
static void ring_bell(struct xend *e)
{
    if (e->w && e->idle) {
        e->idle = false;
        phx_ucx_worker_wake(e->w);
    }
}

static void pair_free(struct phx_ucx_xpair *p)
{
    pthread_cond_destroy(&p->idle);
    pthread_mutex_destroy(&p->lock);
    p->magic = 0;
    free(p);
}

/* ---- wiring up --------------------------------------------------------------------------- */

void phx_ucx_xlocal_offer(struct phx_ucx_conn *c, const uint8_t *snonce)
{
    struct phx_ucx_context *ctx = c->s->ctx;
    struct phx_ucx_xpair *p = NULL;

    if (c->xpair && !c->xlinked)
        phx_ucx_xlocal_detach(c);       /* a handshake again: a new nonce */
    if (!c->s->wcfg.same_node || c->xpair || !(p = calloc(1, sizeof(*p))))
        return;
    p->magic = XPAIR_MAGIC;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->idle, NULL);
    memcpy(p->nonce, snonce, sizeof(p->nonce));
    p->ends = 1;
    p->end[0].w = c->s->w;
    pthread_mutex_lock(&ctx->lock);
    int rc = phx_u64map_put(&ctx->xoffers, key_of(snonce), (uintptr_t)p);
    pthread_mutex_unlock(&ctx->lock);
    if (rc < 0) {               /* no memory, or 64 random bits collided: UCX it is */
        pair_free(p);
        return;
    }
    c->xpair = p;
    c->xside = 0;
    c->s->n_xpairs++;
}

/* Takes P off the registry if it is still there. */
static void unoffer(struct phx_ucx_context *ctx, struct phx_ucx_xpair *p)
{
    pthread_mutex_lock(&ctx->lock);
    if (phx_u64map_get_ptr(&ctx->xoffers, key_of(p->nonce)) == p)
        phx_u64map_remove(&ctx->xoffers, key_of(p->nonce), NULL);
    pthread_mutex_unlock(&ctx->lock);
}

void phx_ucx_xlocal_join(struct phx_ucx_conn *t, const uint8_t *snonce)
{
    struct phx_ucx_context *ctx = t->s->ctx;
    struct phx_ucx_xpair *p;
    bool joined = false;

    if (!t->s->wcfg.same_node || t->xpair)
        return;
    pthread_mutex_lock(&ctx->lock);
    p = phx_u64map_get_ptr(&ctx->xoffers, key_of(snonce));
    if (p && memcmp(p->nonce, snonce, sizeof(p->nonce)) == 0) {
        phx_u64map_remove(&ctx->xoffers, key_of(snonce), NULL);
        pthread_mutex_lock(&p->lock);
        if (!p->end[0].gone && p->end[0].w != t->s->w) {
            p->end[1].w = t->s->w;
            p->joined = true;
            p->ends++;
            joined = true;
        }
        pthread_mutex_unlock(&p->lock);
    }
    pthread_mutex_unlock(&ctx->lock);
    if (!joined)
        return;
    t->xpair = p;
    t->xside = 1;
    t->xlinked = true;
    t->s->n_xpairs++;
}

void phx_ucx_xlocal_settle(struct phx_ucx_conn *c)
{
    struct phx_ucx_xpair *p = c->xpair;

    if (!p || c->xlinked)
        return;
    pthread_mutex_lock(&p->lock);
    bool joined = p->joined;
    pthread_mutex_unlock(&p->lock);
    if (joined)
        c->xlinked = true;      /* the server joined before it sent the ack */
    else
        phx_ucx_xlocal_detach(c);
}

/* ---- the sender's side ------------------------------------------------------------------- */

int phx_ucx_xlocal_post(struct phx_ucx_conn *c, const struct mrpc_wire_msg *msg,
                        struct phx_ucx_send *slot)
{
    struct phx_ucx_xpair *p = c->xpair;
    struct xend *me = mine(c), *them = theirs(c);
    int rc = PHX_OK;

    pthread_mutex_lock(&p->lock);
    if (them->gone) {
        rc = PHX_UNAVAILABLE;
    } else if (me->posted - me->reaped >= XRING) {
        rc = -EAGAIN;
    } else {
        me->ring[me->posted % XRING] = (struct xpost){.msg = msg, .slot = slot};
        if (me->posted++ == me->taken)
            ring_bell(them);    /* the ring was empty: the other thread may sleep on it */
    }
    pthread_mutex_unlock(&p->lock);
    if (rc == PHX_OK) {
        c->in_xpair++;
        phx_ucx_credit_spend(c);
    }
    return rc;
}

bool phx_ucx_xlocal_room(const struct phx_ucx_conn *c)
{
    struct xend *me = mine(c);

    pthread_mutex_lock(&c->xpair->lock);
    bool room = me->posted - me->reaped < XRING || theirs(c)->gone;
    pthread_mutex_unlock(&c->xpair->lock);
    return room;
}

/* C's posts the other end took go up as SENT with their status. Under the mutex. */
static unsigned reap(struct phx_ucx_conn *c)
{
    struct xend *me = mine(c);
    unsigned n = 0;

    for (; me->reaped < me->taken; me->reaped++, n++) {
        const struct xpost *x = &me->ring[me->reaped % XRING];
        if (x->status != PHX_UNAVAILABLE)
            c->s->stats.tx_local++;
        c->in_xpair--;
        phx_ucx_send_xdone(x->slot, x->status);
    }
    return n;
}

/* C's posts not taken come back SENT UNAVAILABLE (the other end is gone, or C goes). Under the
 * mutex, no copy from them running. */
static void cancel_posts(struct phx_ucx_conn *c)
{
    struct xend *me = mine(c);

    for (; me->taken < me->posted; me->taken++, me->reaped++) {
        c->in_xpair--;
        phx_ucx_send_xdone(me->ring[me->taken % XRING].slot, PHX_UNAVAILABLE);
    }
}

/* Waits, the mutex held, until the other end copies nothing from C's memory. */
static void wait_idle(struct phx_ucx_conn *c)
{
    while (mine(c)->copying)
        pthread_cond_wait(&c->xpair->idle, &c->xpair->lock);
}

void phx_ucx_xlocal_detach(struct phx_ucx_conn *c)
{
    struct phx_ucx_xpair *p = c->xpair;

    if (!p)
        return;
    if (!c->xlinked && !c->xside)
        unoffer(c->s->ctx, p);
    pthread_mutex_lock(&p->lock);
    struct xend *me = mine(c);
    me->gone = true;
    me->w = NULL;
    wait_idle(c);
    reap(c);
    cancel_posts(c);
    ring_bell(theirs(c));
    bool last = --p->ends == 0;
    pthread_mutex_unlock(&p->lock);
    if (last)
        pair_free(p);
    c->xpair = NULL;
    c->xlinked = false;
    c->xblocked = false;
    c->s->n_xpairs--;
}

void phx_ucx_xlocal_recall(struct phx_ucx_engine *s)
{
    for (struct phx_ucx_conn *c = s->conns; c && s->n_xpairs; c = c->next) {
        if (!c->xpair)
            continue;
        struct xend *me = mine(c);
        pthread_mutex_lock(&c->xpair->lock);
        wait_idle(c);
        reap(c);
        while (me->posted > me->taken) {        /* the last first: each goes to the front */
            me->posted--;
            c->in_xpair--;
            phx_ucx_credit_refund(c, 1);
            phx_ucx_send_xback(me->ring[me->posted % XRING].slot);
        }
        pthread_mutex_unlock(&c->xpair->lock);
    }
}

/* ---- the receiver's side ----------------------------------------------------------------- */

/* Whether the first post waiting for room in C's engine may be tried again. */
static bool retry_due(const struct phx_ucx_conn *c)
{
    if (!c->xblocked)
        return true;
    if (phx_ucx_local_stamp(c->s) != c->xstamp)
        return true;
    return c->xwait.still_ns &&
           phx_now_ns() - c->xwait.still_ns >= PHX_UCX_PARK_STALL_MS * 1000000ull;
}

/* Lands the other end's posts in C's engine, at most XTAKE_MAX; how many were taken. Under the
 * mutex, which is released for each copy. */
static unsigned take(struct phx_ucx_conn *c)
{
    struct phx_ucx_xpair *p = c->xpair;
    struct xend *them = theirs(c);
    unsigned n = 0;

    while (n < XTAKE_MAX && !them->gone && them->taken < them->posted && retry_due(c)) {
        struct xpost *x = &them->ring[them->taken % XRING];
        them->copying = true;
        pthread_mutex_unlock(&p->lock);
        int rc = phx_ucx_recv_local(&c->xwait, c, x->msg);
        pthread_mutex_lock(&p->lock);
        them->copying = false;
        pthread_cond_broadcast(&p->idle);
        if (rc == -EAGAIN) {
            c->xblocked = true;
            c->xstamp = phx_ucx_local_stamp(c->s);
            c->s->stats.local_waits++;
            break;
        }
        c->xblocked = false;
        x->status = rc;
        them->taken++;
        n++;
    }
    if (n)
        ring_bell(them);        /* SENT for them, and room */
    return n;
}

/* C's share of progress(): grants, completions, posts to land, the other end's loss. */
static unsigned progress_one(struct phx_ucx_conn *c)
{
    struct phx_ucx_xpair *p = c->xpair;
    struct xend *me = mine(c);
    unsigned n;

    pthread_mutex_lock(&p->lock);
    me->idle = false;
    unsigned grants = me->grants;
    me->grants = 0;
    n = reap(c) + (grants > 0);
    if (c->xlinked)
        n += take(c);
    bool lost = theirs(c)->gone;
    if (lost)
        cancel_posts(c);
    pthread_mutex_unlock(&p->lock);
    if (grants) {
        unsigned room = MRPC_WIRE_WINDOW - (c->credits < MRPC_WIRE_WINDOW ? c->credits
                                                                          : MRPC_WIRE_WINDOW);
        c->credits += grants < room ? grants : room;
        c->s->stats.rx_grants++;
    }
    if (lost && (c->state == PHX_UCX_UP || c->state == PHX_UCX_CONNECTING)) {
        phx_ucx_conn_peer_gone(c);      /* FAILED: the next tick closes C, which detaches */
        n++;
    }
    return n;
}

unsigned phx_ucx_xlocal_progress(struct phx_ucx_engine *s)
{
    unsigned n = 0;

    for (struct phx_ucx_conn *c = s->conns; c && s->n_xpairs; c = c->next)
        if (c->xpair)
            n += progress_one(c);
    return n;
}

/* Whether C has something to do; if not, its end is idle until its next progress (the other
 * end rings from now on: set under the mutex that the other end's post takes, so that a post
 * either comes before this check or sees the flag). */
static bool ready_one(const struct phx_ucx_conn *c)
{
    struct xend *me = mine(c), *them = theirs(c);

    pthread_mutex_lock(&c->xpair->lock);
    bool ready = me->grants || me->reaped < me->taken ||
                 (them->gone && (c->state == PHX_UCX_UP || c->state == PHX_UCX_CONNECTING)) ||
                 (c->xlinked && them->taken < them->posted && retry_due(c));
    me->idle = !ready;
    pthread_mutex_unlock(&c->xpair->lock);
    return ready;
}

bool phx_ucx_xlocal_ready(struct phx_ucx_engine *s)
{
    for (const struct phx_ucx_conn *c = s->conns; c && s->n_xpairs; c = c->next)
        if (c->xpair && ready_one(c))
            return true;
    return false;
}

int phx_ucx_xlocal_timeout_ms(const struct phx_ucx_engine *s)
{
    uint64_t now = phx_now_ns(), due = UINT64_MAX;

    for (const struct phx_ucx_conn *c = s->conns; c && s->n_xpairs; c = c->next)
        if (c->xpair && c->xblocked && c->xwait.still_ns &&
            c->xwait.still_ns + PHX_UCX_PARK_STALL_MS * 1000000ull < due)
            due = c->xwait.still_ns + PHX_UCX_PARK_STALL_MS * 1000000ull;
    if (due == UINT64_MAX)
        return -1;
    return due <= now ? 0 : (int)((due - now + 999999) / 1000000);
}

void phx_ucx_xlocal_grant(struct phx_ucx_conn *c, unsigned n)
{
    struct xend *them = theirs(c);

    pthread_mutex_lock(&c->xpair->lock);
    if (!them->gone) {
        them->grants += n;
        ring_bell(them);
    }
    pthread_mutex_unlock(&c->xpair->lock);
    c->ungranted -= n;
    c->s->stats.tx_grants++;
    c->s->stats.granted += n;
}

/* ---- live upgrade ------------------------------------------------------------------------ */

/* The pair's address with the end in bit 0 and the link in bit 1 (malloc aligns to 16). */
uint64_t phx_ucx_xlocal_dump(const struct phx_ucx_conn *c)
{
    if (!c->xpair)
        return 0;
    return (uint64_t)(uintptr_t)c->xpair | c->xside | (c->xlinked ? 2u : 0u);
}

int phx_ucx_xlocal_load(struct phx_ucx_conn *c, uint64_t word)
{
    struct phx_ucx_xpair *p = (struct phx_ucx_xpair *)(uintptr_t)(word & ~(uint64_t)3);

    if (!word)
        return 0;
    if (p->magic != XPAIR_MAGIC)        /* our own service's blob: a bug, not an attack */
        return -EINVAL;
    c->xpair = p;
    c->xside = word & 1;
    c->xlinked = word & 2;
    c->s->n_xpairs++;
    return 0;
}
