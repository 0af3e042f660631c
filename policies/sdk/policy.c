/* policy.c - the policy SDK's engine body: a bounded queue per direction in front of decide()
 * (see phoenix/policy.h for the contract).
 *
 * Every descriptor of a decided direction goes through the queue, so that one held call keeps
 * everything behind it in order. progress() takes what arrived one descriptor at a time and works
 * on the head while it is due (connection descriptors pass, calls are decided), so a call that
 * can go at once never takes a place; a call that finds the queue full of waiting ones is
 * rejected with RESOURCE_EXHAUSTED. The out channel (and, for a rejection, the rx way up) must
 * have room before decide() is asked, so a verdict is never taken back. arm() turns the head's
 * time into the runtime's sleep timeout. */
#include "phoenix/policy.h"

#include "mrpc/transport.h"
#include "phoenix/clock.h"
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

bool phx_policy_call_of(const phx_desc_t *d, phx_dir_t dir, phx_call_t *call)
{
    memset(call, 0, sizeof(*call));
    call->dir = dir;
    if (dir == PHX_TX && d->kind == MRPC_DESC_SEND && d->addr) {
        const struct mrpc_wire_hdr *h = &((const struct mrpc_wire_msg *)(uintptr_t)d->addr)->hdr;
        if (!kind_of_wire(h->kind, &call->kind))
            return false;
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
    return true;
}

/* ---- the queues ----------------------------------------------------------------------------- */

static int queue_alloc(phx_policy_queue_t *q, unsigned max)
{
    unsigned cap = max + POLICY_SLACK;
    phx_desc_t *slots = calloc(cap, sizeof(*slots));

    if (!slots)
        return -ENOMEM;
    for (unsigned i = 0; i < q->count; i++)
        slots[i] = q->slots[(q->head + i) % q->cap];
    free(q->slots);
    q->slots = slots;
    q->cap = cap;
    q->max = max;
    q->head = 0;
    return 0;
}

static phx_desc_t *queue_head(phx_policy_queue_t *q)
{
    return &q->slots[q->head];
}

static void queue_pop(phx_policy_queue_t *q)
{
    q->head = (q->head + 1) % q->cap;
    q->count--;
    q->until_ns = 0;
    q->head_held = false;
}

static void queue_push(phx_policy_queue_t *q, const phx_desc_t *d)
{
    q->slots[(q->head + q->count) % q->cap] = *d;
    q->count++;
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
        p->q[d].slots = NULL;
        p->q[d].cap = p->q[d].count = 0;
    }
}

void phx_policy_watch(phx_policy_t *p, phx_policy_watch_fn watch)
{
    p->watch = watch;
}

unsigned phx_policy_held(const phx_policy_t *p, phx_dir_t dir)
{
    return p->q[dir].count;
}

/* ---- verdicts ------------------------------------------------------------------------------- */

/* The channel a rejection of a DIR call goes up through, or NULL (see policy.h). */
static phx_channel_t *way_up(phx_engine_t *e, phx_dir_t dir)
{
    return dir == PHX_TX ? phx_engine_out(e, PHX_RX, 0) : NULL;
}

static void note_reject(phx_policy_t *p, phx_engine_t *e, const phx_call_t *c, phx_status_t st,
                        const char *why)
{
    snprintf(p->last_reject, sizeof(p->last_reject), "%s", why ? why : phx_status_name(st));
    phx_debug("%s %" PRIu64 ": call %" PRIu64 " on connection %u rejected with %s: %s",
              phx_engine_type(e), phx_engine_id(e), c->call_id, c->conn_id,
              phx_status_name(st), p->last_reject);
}

/* Completes the held or new call D upward with STATUS: the transport's SENT answer to its SEND.
 * False when there is no room (or no way) up. */
static bool reject(phx_policy_t *p, phx_engine_t *e, const phx_desc_t *d, const phx_call_t *c,
                   phx_status_t status, const char *why)
{
    phx_channel_t *up = way_up(e, c->dir);
    phx_desc_t sent = { .kind = MRPC_DESC_SENT, .status = status ? status : PHX_UNKNOWN,
                        .conn_id = d->conn_id, .call_id = d->call_id, .addr = d->addr,
                        .service_id = c->service_id, .method_id = c->method_id };

    if (!up || phx_chan_push(up, &sent, 1) != 1)
        return false;
    p->counts[c->dir].rejected++;
    note_reject(p, e, c, sent.status, why);
    return true;
}

static bool can_reject(phx_engine_t *e, phx_dir_t dir)
{
    phx_channel_t *up = way_up(e, dir);

    return up && phx_chan_space(up) > 0;
}

/* Works on the head of DIR's queue once. 1 when it left the queue, 0 when it stays (held, or
 * no room to move it). */
static int decide_head(phx_policy_t *p, phx_engine_t *e, phx_dir_t dir, uint64_t now)
{
    phx_policy_queue_t *q = &p->q[dir];
    phx_channel_t *out = phx_engine_out(e, dir, 0);
    phx_desc_t *d = queue_head(q);
    phx_call_t call;

    if (q->until_ns > now || !out || !phx_chan_space(out))
        return 0;
    if (!phx_policy_call_of(d, dir, &call)) {
        if (p->watch)
            p->watch(p->ctx, d, dir, now);
        phx_chan_push(out, d, 1);
        queue_pop(q);
        return 1;
    }
    phx_verdict_t v = p->decide(p->ctx, &call, now);
    if (v.kind == PHX_VERDICT_HOLD && v.until_ns > now) {
        q->until_ns = v.until_ns;
        if (!q->head_held)
            p->counts[dir].held++;
        q->head_held = true;
        return 0;
    }
    if (v.kind == PHX_VERDICT_REJECT) {
        if (reject(p, e, d, &call, v.status, v.why)) {
            queue_pop(q);
            return 1;
        }
        if (way_up(e, dir))
            return 0;                   /* no room up yet: asked again next time */
        p->counts[dir].unrejectable++;
    }
    phx_chan_push(out, d, 1);
    p->counts[dir].forwarded++;
    queue_pop(q);
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
static bool take_one(phx_policy_t *p, phx_engine_t *e, phx_dir_t dir)
{
    phx_policy_queue_t *q = &p->q[dir];
    phx_desc_t d;
    phx_call_t call;

    if (q->count >= q->cap || phx_chan_pop(phx_engine_in(e, dir, 0), &d, 1) != 1)
        return false;
    if (q->count >= q->max && phx_policy_call_of(&d, dir, &call) && can_reject(e, dir)) {
        p->counts[dir].overflowed++;
        reject(p, e, &d, &call, PHX_RESOURCE_EXHAUSTED,
               "the policy's queue of held calls is full");
        return true;
    }
    queue_push(q, &d);
    return true;
}

/* One descriptor at a time, each decided as soon as it is at the head: only calls that really
 * wait take a place in the queue. */
static unsigned progress_dir(phx_policy_t *p, phx_engine_t *e, phx_dir_t dir, uint64_t now)
{
    unsigned work = 0;

    if (!(p->dirs & (1u << dir)))
        return phx_chan_forward(phx_engine_in(e, dir, 0), phx_engine_out(e, dir, 0), p->batch);
    for (unsigned i = 0; i < p->batch; i++) {
        work += drain_due(p, e, dir, now);
        if (!take_one(p, e, dir))
            break;
        work++;
    }
    return work + drain_due(p, e, dir, now);
}

int phx_policy_progress(phx_policy_t *p, phx_engine_t *e, uint64_t now_ns)
{
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
    if (q->until_ns <= now)
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
            queue_pop(q);
        }
        left += q->count;
    }
    return (int)left;
}

/* ---- stats and state ------------------------------------------------------------------------ */

static void json_text(char *out, size_t n, const char *s)
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
                    ",\"overflowed\":%" PRIu64 ",\"unrejectable\":%" PRIu64 ",\"waiting\":%u}";
    char tx[256], rx[256];

    json_text(reason, sizeof(reason), p->last_reject);
    snprintf(tx, sizeof(tx), f, t->forwarded, t->held, t->rejected, t->overflowed,
             t->unrejectable, p->q[PHX_TX].count);
    snprintf(rx, sizeof(rx), f, r->forwarded, r->held, r->rejected, r->overflowed,
             r->unrejectable, p->q[PHX_RX].count);
    if (asprintf(&s, "\"tx\":%s,\"rx\":%s,\"last_reject\":\"%s\"", tx, rx, reason) < 0)
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
