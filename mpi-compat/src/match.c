/* match.c - MPI's matching: messages that arrive meet receives that were posted.
 *
 * A receive matches a message of its context whose source and tag equal its own or its
 * wildcards (MPI_ANY_SOURCE, MPI_ANY_TAG). Messages are taken in the order they arrived and
 * receives in the order they were posted; since the fabric hands over each sender's messages in
 * the order sent, no message overtakes an earlier one of the same sender that the same receive
 * could take (MPI's non-overtaking rule).
 *
 * A message arrives in pieces (fabric.c), the first one carrying the envelope. Matched on its
 * first piece by a receive whose buffer is one block, its pieces are copied straight there;
 * otherwise (not matched yet, or a non-contiguous datatype) they are kept in a staging copy,
 * unpacked into the receive when both the message is complete and a receive has matched. A
 * message longer than its receive fills it and fails it with MPI_ERR_TRUNCATE.
 *
 * A rank that died (mpix_match_peer_lost) fails the receives that wait for it, now and whenever
 * one is posted later: those naming it, those from any source of a communicator it belongs to,
 * and every receive of a collective over such a communicator (a collective needs every member:
 * a rank waiting for a live one that gave up the collective would otherwise wait forever).
 * Once MPI_Finalize begins (mpix_match_closing), ranks that are done leave: a loss then fails
 * only the receives that name the rank lost (MPI_Finalize's barrier names each source), so a
 * rank that finalized and left before a slower one noticed is no error. */
#include "core.h"
#include "dt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct mpix_inmsg {
    struct mpix_envelope env;
    uint64_t             arrived;     /* bytes so far */
    struct mpix_request *req;         /* the receive that matched it, or NULL */
    char                *direct;      /* pieces go here (the receive's block), or NULL */
    uint64_t             cap;         /* bytes the receive (or the staging copy) takes */
    char                *staging;
    struct mpix_inmsg   *next, *prev; /* the unexpected queue */
};

/* Queues: receives posted and not matched; messages arrived and not matched. */
static struct { struct mpix_request *head, *tail; } posted;
static struct { struct mpix_inmsg *head, *tail; } unexpected;
/* The message each world rank is sending pieces of, until its last one arrives. */
static struct mpix_inmsg **arriving;
static int n_arriving;
/* Why each world rank is gone (NULL while it is not), and how many are. */
static char **lost;
static int n_lost;
static bool closing;                  /* MPI_Finalize began: only named sources count */

void mpix_match_init(int world_size)
{
    arriving = calloc((size_t)world_size, sizeof(*arriving));
    lost = calloc((size_t)world_size, sizeof(*lost));
    if (!arriving || !lost)
        mpix_die(MPI_ERR_NO_MEM);
    n_arriving = world_size;
}

static void msg_free(struct mpix_inmsg *m)
{
    mpix_scratch_put(m->staging);
    free(m);
}

/* Messages never received go; one a receive took is that receive's (it is not done). */
void mpix_match_fini(void)
{
    while (unexpected.head) {
        struct mpix_inmsg *m = unexpected.head;
        unexpected.head = m->next;
        msg_free(m);
    }
    unexpected.tail = NULL;
    for (int i = 0; lost && i < n_arriving; i++)
        free(lost[i]);
    free(lost);
    lost = NULL;
    n_lost = 0;
    free(arriving);
    arriving = NULL;
    closing = false;
}

void mpix_match_closing(void)
{
    closing = true;
}

static bool fits(const struct mpix_request *r, const struct mpix_envelope *e)
{
    return r->context == e->context && (r->peer == MPI_ANY_SOURCE || r->peer == e->source) &&
           (r->tag == MPI_ANY_TAG || r->tag == e->tag);
}

/* ---- queues ------------------------------------------------------------------------------- */

static void posted_unlink(struct mpix_request *r)
{
    *(r->prev ? &r->prev->next : &posted.head) = r->next;
    *(r->next ? &r->next->prev : &posted.tail) = r->prev;
    r->next = r->prev = NULL;
}

static void unexpected_unlink(struct mpix_inmsg *m)
{
    *(m->prev ? &m->prev->next : &unexpected.head) = m->next;
    *(m->next ? &m->next->prev : &unexpected.tail) = m->prev;
    m->next = m->prev = NULL;
}

static void unexpected_append(struct mpix_inmsg *m)
{
    m->prev = unexpected.tail;
    *(unexpected.tail ? &unexpected.tail->next : &unexpected.head) = m;
    unexpected.tail = m;
}

/* ---- completing a receive ----------------------------------------------------------------- */

static void acknowledge(const struct mpix_envelope *e)
{
    if (!e->sync_id)
        return;
    if (e->world == mpix_env.world_rank)
        mpix_p2p_acked(e->sync_id);
    else
        mpix_fabric_ack(e->world, e->sync_id);
}

/* M is complete and R matched it: the data into R's buffer, R's status, and M is gone. */
static void deliver(struct mpix_inmsg *m, struct mpix_request *r)
{
    uint64_t cap = (uint64_t)r->count * (uint64_t)mpix_dt_size(r->dt);
    uint64_t got = m->env.total < cap ? m->env.total : cap;

    if (!m->direct && got)
        mpix_dt_unpack(m->staging, (MPI_Count)got, r->buf, r->count, r->dt);
    r->status = (MPI_Status){ .MPI_SOURCE = m->env.source, .MPI_TAG = m->env.tag,
                              .mpix_bytes = (MPI_Count)got };
    if (m->env.total > cap) {
        r->status.MPI_ERROR = MPI_ERR_TRUNCATE;
        snprintf(r->why, sizeof r->why, "a message of %llu bytes from rank %d (tag %d) arrived "
                 "for a receive of %llu bytes (%d x %s)", (unsigned long long)m->env.total,
                 m->env.source, m->env.tag, (unsigned long long)cap, r->count, mpix_dt_name(r->dt));
    }
    acknowledge(&m->env);
    r->msg = NULL;
    msg_free(m);
    mpix_request_complete(r);
}

/* R takes M: from now on M's pieces go to R's block when R can take them there. */
static void bind(struct mpix_inmsg *m, struct mpix_request *r)
{
    MPI_Aint offset;

    m->req = r;
    r->msg = m;
    if (m->staging)
        return;
    m->cap = (uint64_t)r->count * (uint64_t)mpix_dt_size(r->dt);
    if (mpix_dt_contig(r->dt, r->count, &offset))
        m->direct = (char *)r->buf + offset;
    else if (m->cap && !(m->staging = mpix_scratch_get(m->cap < m->env.total ? m->cap : m->env.total)))
        mpix_die(MPI_ERR_NO_MEM);
}

/* ---- arrivals ----------------------------------------------------------------------------- */

static struct mpix_request *posted_take(const struct mpix_envelope *e)
{
    for (struct mpix_request *r = posted.head; r; r = r->next)
        if (fits(r, e)) {
            posted_unlink(r);
            return r;
        }
    return NULL;
}

static struct mpix_inmsg *msg_new(const struct mpix_envelope *e)
{
    struct mpix_inmsg *m = calloc(1, sizeof(*m));

    if (!m)
        mpix_die(MPI_ERR_NO_MEM);
    m->env = *e;
    struct mpix_request *r = posted_take(e);
    if (r) {
        bind(m, r);
        return m;
    }
    m->cap = e->total;
    if (!(m->staging = mpix_scratch_get(e->total ? e->total : 1))) {
        fprintf(stderr, "MPI error on rank %d: no memory to buffer a message of %llu bytes from "
                "world rank %d\n", mpix_env.world_rank, (unsigned long long)e->total, e->world);
        mpix_die(MPI_ERR_NO_MEM);
    }
    unexpected_append(m);
    return m;
}

/* The part of [OFFSET, OFFSET + LEN) below M's capacity, into the block or the staging copy. */
static void piece(struct mpix_inmsg *m, uint64_t offset, const void *data, size_t len)
{
    char *to = m->direct ? m->direct : m->staging;

    if (to && len && offset < m->cap)
        memcpy(to + offset, data, (size_t)(len < m->cap - offset ? len : m->cap - offset));
    m->arrived += len;
}

void mpix_match_arrive(const struct mpix_envelope *env, uint64_t offset, const void *data,
                       size_t len)
{
    struct mpix_inmsg *m = offset == 0 ? msg_new(env) : arriving[env->world];

    mpix_activity++;
    if (!m) {
        fprintf(stderr, "MPI warning on rank %d: a piece at offset %llu from world rank %d "
                "belongs to no message: dropped\n", mpix_env.world_rank,
                (unsigned long long)offset, env->world);
        return;
    }
    piece(m, offset, data, len);
    if (m->arrived < m->env.total) {
        arriving[env->world] = m;
        return;
    }
    arriving[env->world] = NULL;
    if (m->req)
        deliver(m, m->req);
}

/* ---- receives ----------------------------------------------------------------------------- */

static bool fail_if_lost(struct mpix_request *r);

void mpix_match_post(struct mpix_request *r)
{
    for (struct mpix_inmsg *m = unexpected.head; m; m = m->next) {
        if (!fits(r, &m->env))
            continue;
        unexpected_unlink(m);
        bind(m, r);
        if (m->arrived == m->env.total)
            deliver(m, r);
        return;
    }
    if (fail_if_lost(r))
        return;
    r->prev = posted.tail;
    *(posted.tail ? &posted.tail->next : &posted.head) = r;
    posted.tail = r;
}

bool mpix_match_probe(uint32_t context, int source, int tag, MPI_Status *status)
{
    struct mpix_request probe = { .context = context, .peer = source, .tag = tag };

    for (struct mpix_inmsg *m = unexpected.head; m; m = m->next)
        if (fits(&probe, &m->env)) {
            *status = (MPI_Status){ .MPI_SOURCE = m->env.source, .MPI_TAG = m->env.tag,
                                    .mpix_bytes = (MPI_Count)m->env.total };
            return true;
        }
    return false;
}

bool mpix_match_cancel(struct mpix_request *r)
{
    if (r->msg)
        return false;
    posted_unlink(r);
    return true;
}

bool mpix_match_withdraw(int world, uint64_t sync_id)
{
    for (struct mpix_inmsg *m = unexpected.head; m; m = m->next)
        if (m->env.world == world && m->env.sync_id == sync_id && m->arrived == m->env.total) {
            unexpected_unlink(m);
            msg_free(m);
            return true;
        }
    return false;
}

/* ---- peers that died ---------------------------------------------------------------------- */

/* Whether R is a collective's receive (its communicator's collective context). */
static bool collective(const struct mpix_request *r)
{
    return r->context != r->comm->context;
}

static bool waits_for(const struct mpix_request *r, int world)
{
    if (r->peer != MPI_ANY_SOURCE && (!collective(r) || closing))
        return r->comm->group->world[r->peer] == world;
    return !closing && mpix_group_rank_of(r->comm->group, world) != MPI_UNDEFINED;
}

static void fail_recv(struct mpix_request *r, int world, const char *why)
{
    r->status = (MPI_Status){ .MPI_SOURCE = MPI_ANY_SOURCE, .MPI_TAG = MPI_ANY_TAG,
                              .MPI_ERROR = MPI_ERR_OTHER };
    snprintf(r->why, sizeof r->why, "world rank %d is gone: %.200s", world, why);
    mpix_request_complete(r);
}

/* A receive about to be queued that waits for a rank known to be gone fails now: true if so. */
static bool fail_if_lost(struct mpix_request *r)
{
    for (int w = 0; n_lost && w < n_arriving; w++)
        if (lost[w] && waits_for(r, w)) {
            fail_recv(r, w, lost[w]);
            return true;
        }
    return false;
}

void mpix_match_peer_lost(int world, const char *why)
{
    struct mpix_inmsg *m = arriving ? arriving[world] : NULL;

    if (lost && !lost[world] && (lost[world] = strdup(why)))
        n_lost++;

    if (m) {                            /* its last pieces will never come */
        arriving[world] = NULL;
        if (m->req) {
            m->req->msg = NULL;
            fail_recv(m->req, world, why);
            msg_free(m);
        } else {
            unexpected_unlink(m);
            msg_free(m);
        }
    }
    for (struct mpix_request *r = posted.head, *next; r; r = next) {
        next = r->next;
        if (waits_for(r, world)) {
            posted_unlink(r);
            fail_recv(r, world, why);
        }
    }
}

void mpix_match_ping_sources(void)
{
    for (struct mpix_request *r = posted.head; r; r = r->next) {
        if (closing) {
            if (r->peer != MPI_ANY_SOURCE)
                mpix_fabric_ping(r->comm->group->world[r->peer], false);
            continue;
        }
        if (collective(r)) {            /* it needs every member, connected or not */
            for (int i = 0; i < r->comm->size; i++)
                mpix_fabric_ping(r->comm->group->world[i], false);
            continue;
        }
        if (r->peer != MPI_ANY_SOURCE) {
            mpix_fabric_ping(r->comm->group->world[r->peer], false);
            continue;
        }
        for (int i = 0; i < r->comm->size; i++)
            mpix_fabric_ping(r->comm->group->world[i], true);
    }
}
