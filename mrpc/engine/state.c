/* state.c - MrpcEngine's state as bytes, for a live upgrade (dump in the old build, restore in
 *           the new one; phoenix/handover.h has the contract).
 *
 * The blob is little-endian, sections in this order, each count first:
 *
 *   magic "MRPS", limits and flags     max_message, inflight_limit, call_timeout_ms, welcomed,
 *                                      stall_ms, earliest_deadline_ns [, upgrades: version 4]
 *   stats                              how many counters, then each (a newer build with more
 *                                      counters reads an older blob's as far as they go)
 *   registrations                      the app's layout blobs: replayed into new layout sets
 *   connections                        id, kind, state, address, resource handle (0: none)
 *   retired blocks                     resource handles of older builds' connection blocks
 *   calls                              the id table's generations, then each live call by slot
 *                                      (its method by service and method id)
 *   delivered buffers                  address -> recv heap block (both in the app's shm)
 *   tx queue, backlog                  descriptors in order
 *   wire messages in flight            the address SENT will name, the resource handles of the
 *                                      memory behind it, the app's submission, header fields
 *
 * Resources (phx_handover_put_heap): the memory of every wire message the transport holds, and of
 * every connection whose address the transport may still read (a BIND or CONNECT not answered
 * yet). Nothing written is an address into this build: the protobuf-c descriptors behind the
 * layout sets are rebuilt from the registrations, calls find their method again by id.
 *
 * Restore refuses, with a sentence, any version outside MRPC_STATE_MIN_READ..MRPC_STATE_VERSION,
 * a short or oversized blob, and a call whose method no registration holds; the runtime then
 * keeps the old build running. */
#include "mrpc_engine.h"

#include "phoenix/handover.h"
#include "phoenix/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STATE_MAGIC 0x5350524dU     /* "MRPS" */
#define STATE_MAX_REG (64u << 20)   /* one registration blob, at most */

#define ENG_STAT_COUNT(name) +1
enum { n_stats = 0 ENG_STATS(ENG_STAT_COUNT), STATE_MAX_STATS = 64 };
#undef ENG_STAT_COUNT
_Static_assert(n_stats <= STATE_MAX_STATS, "load_stats() reads at most 64 counters");

/* ---- dump ---------------------------------------------------------------------------------- */

struct dumper {
    phx_engine_t *e;
    phx_wbuf_t    w;
    int           rc;
};

static uint32_t put_heap(struct dumper *d, void *block)
{
    uint32_t h = 0;

    if (block && !d->rc)
        d->rc = phx_handover_put_heap(d->e, block, &h);
    return h;
}

static void dump_stats(phx_wbuf_t *w, const struct mrpc_engine_stats *st)
{
    phx_wbuf_u32(w, n_stats);
#define ENG_STAT_PUT(name) phx_wbuf_u64(w, st->name);
    ENG_STATS(ENG_STAT_PUT)
#undef ENG_STAT_PUT
}

static void dump_conn(void *arg, uint64_t key, uint64_t value)
{
    struct dumper *d = arg;
    struct eng_conn *c = (struct eng_conn *)(uintptr_t)value;

    phx_wbuf_u32(&d->w, c->id);
    phx_wbuf_u8(&d->w, (uint8_t)c->kind);
    phx_wbuf_u8(&d->w, (uint8_t)c->state);
    phx_wbuf_blob(&d->w, c->addr, strnlen(c->addr, sizeof(c->addr) - 1));
    c->handed_over = eng_conn_addr_in_use(c);
    phx_wbuf_u32(&d->w, c->handed_over ? put_heap(d, c) : 0);
}

static void dump_calls(phx_wbuf_t *w, const phx_idtable_t *t)
{
    phx_wbuf_u32(w, t->used);
    for (uint32_t i = 0; i < t->used; i++)
        phx_wbuf_u32(w, t->slots[i].gen);
    phx_wbuf_u32(w, t->live);
    for (uint32_t i = 0; i < t->used; i++) {
        const struct eng_call *c = t->slots[i].obj;
        if (!c)
            continue;
        phx_wbuf_u32(w, i);
        phx_wbuf_u64(w, c->app_call_id);
        phx_wbuf_u64(w, c->user);
        phx_wbuf_u32(w, c->conn_id);
        phx_wbuf_u32(w, c->method->service_id);
        phx_wbuf_u32(w, c->method->method_id);
        phx_wbuf_u64(w, c->deadline_ns);
    }
}

static void dump_pair(void *arg, uint64_t key, uint64_t value)
{
    phx_wbuf_u64(arg, key);
    phx_wbuf_u64(arg, value);
}

static void dump_queue(phx_wbuf_t *w, const phx_fifo_t *q)
{
    phx_wbuf_u32(w, phx_fifo_count(q));
    for (uint32_t i = 0; i < q->count; i++)
        phx_wbuf_blob(w, q->items + (size_t)((q->head + i) & (q->cap - 1)) * q->size,
                      sizeof(phx_desc_t));
}

static void dump_send(void *arg, const struct eng_send_view *v)
{
    struct dumper *d = arg;

    phx_wbuf_u64(&d->w, v->key);
    for (unsigned i = 0; i < 3; i++)
        phx_wbuf_u32(&d->w, put_heap(d, v->blocks[i]));
    phx_wbuf_blob(&d->w, &v->sub, sizeof(v->sub));
    phx_wbuf_u8(&d->w, v->kind);
    phx_wbuf_u32(&d->w, v->service_id);
    phx_wbuf_u32(&d->w, v->method_id);
    phx_wbuf_u64(&d->w, v->call_id);
    phx_wbuf_u64(&d->w, v->bytes);
}

static void count_send(void *arg, const struct eng_send_view *v)
{
    (*(uint32_t *)arg)++;
}

static uint32_t count_sends(struct mrpc_engine *m)
{
    uint32_t n = 0;

    eng_sends_each(m, count_send, &n);
    return n;
}

int eng_state_dump(phx_engine_t *e, struct mrpc_engine *m, phx_blob_t *out)
{
    struct dumper d = { .e = e };
    phx_wbuf_t *w = &d.w;

    phx_wbuf_u32(w, STATE_MAGIC);
    phx_wbuf_u64(w, m->max_message);
    phx_wbuf_u64(w, m->inflight_limit);
    phx_wbuf_u32(w, m->call_timeout_ms);
    phx_wbuf_u8(w, m->welcomed);
    phx_wbuf_u32(w, m->stall_ms);
    phx_wbuf_u64(w, m->earliest_deadline_ns);
#ifdef MRPC_STATE_NEXT
    phx_wbuf_u64(w, m->upgrades);
#endif
    dump_stats(w, &m->stats);
    phx_wbuf_u32(w, m->n_regs);
    for (unsigned i = 0; i < m->n_regs; i++)
        phx_wbuf_blob(w, m->regs[i].blob, m->regs[i].len);
    phx_wbuf_u32(w, (uint32_t)m->conns.count);
    phx_u64map_each(&m->conns, dump_conn, &d);
    phx_wbuf_u32(w, m->n_retired);          /* older builds' blocks: handed on again */
    for (unsigned i = 0; i < m->n_retired; i++)
        phx_wbuf_u32(w, put_heap(&d, m->retired[i]));
    dump_calls(w, &m->calls);
    phx_wbuf_u32(w, (uint32_t)m->delivered.count);
    phx_u64map_each(&m->delivered, dump_pair, w);
    dump_queue(w, &m->txq);
    dump_queue(w, &m->backlog);
    phx_wbuf_u32(w, count_sends(m));
    eng_sends_each(m, dump_send, &d);
    int rc = d.rc ? d.rc : phx_wbuf_finish(w, out);
    if (d.rc)
        free(w->data);
    out->version = MRPC_STATE_VERSION;
    return rc;
}

/* ---- restore ------------------------------------------------------------------------------- */

struct loader {
    phx_engine_t       *e;
    struct mrpc_engine *m;
    phx_rbuf_t          r;
    uint32_t            version;
    char               *err;
    size_t              errlen;
};

__attribute__((format(printf, 3, 4)))
static int refuse(struct loader *l, int rc, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(l->err, l->errlen, fmt, ap);
    va_end(ap);
    return rc;
}

static int truncated(struct loader *l)
{
    return refuse(l, -EINVAL, "MrpcEngine state version %u is truncated or malformed",
                  l->version);
}

static void load_limits(struct loader *l)
{
    struct mrpc_engine *m = l->m;

    m->max_message = phx_rbuf_u64(&l->r);
    m->inflight_limit = phx_rbuf_u64(&l->r);
    m->call_timeout_ms = phx_rbuf_u32(&l->r);
    m->welcomed = phx_rbuf_u8(&l->r) != 0;
    m->stall_ms = phx_rbuf_u32(&l->r);
    m->earliest_deadline_ns = phx_rbuf_u64(&l->r);
    uint64_t upgrades = l->version >= 4 ? phx_rbuf_u64(&l->r) : 0;
#ifdef MRPC_STATE_NEXT
    m->upgrades = upgrades + 1;     /* converting from 3: the field starts at this restore */
#else
    (void)upgrades;
#endif
}

static void load_stats(struct loader *l)
{
    uint64_t v[STATE_MAX_STATS] = { 0 };
    uint32_t n = phx_rbuf_u32(&l->r);

    for (uint32_t i = 0; i < n; i++) {
        uint64_t x = phx_rbuf_u64(&l->r);
        if (i < STATE_MAX_STATS)
            v[i] = x;
    }
    unsigned i = 0;
#define ENG_STAT_GET(name) l->m->stats.name = v[i++];
    ENG_STATS(ENG_STAT_GET)
#undef ENG_STAT_GET
}

static int load_registrations(struct loader *l)
{
    uint32_t n = phx_rbuf_u32(&l->r);
    char why[256];

    for (uint32_t i = 0; i < n && !l->r.failed; i++) {
        size_t len;
        const void *blob = phx_rbuf_blob(&l->r, STATE_MAX_REG, &len);
        if (blob && eng_layouts_add(l->m, blob, len, why, sizeof(why)) < 0)
            return refuse(l, -EINVAL, "MrpcEngine cannot replay the app's registration %u: %s",
                          i, why);
    }
    return 0;
}

static int retire(struct mrpc_engine *m, void *block)
{
    void **v = realloc(m->retired, (m->n_retired + 1) * sizeof(*v));

    if (!v)
        return -ENOMEM;
    m->retired = v;
    v[m->n_retired++] = block;
    return 0;
}

static int load_conn(struct loader *l)
{
    struct eng_conn c = { .id = phx_rbuf_u32(&l->r) };
    size_t len;

    c.kind = (enum eng_conn_kind)phx_rbuf_u8(&l->r);
    c.state = (enum eng_conn_state)phx_rbuf_u8(&l->r);
    const void *addr = phx_rbuf_blob(&l->r, sizeof(c.addr) - 1, &len);
    uint32_t handle = phx_rbuf_u32(&l->r);
    if (!addr)
        return truncated(l);
    memcpy(c.addr, addr, len);
    void *block = handle ? phx_handover_take_heap(l->e, handle) : NULL;
    if (handle && !block)
        return refuse(l, -EINVAL, "connection %u names no resource %u", c.id, handle);
    if ((block && retire(l->m, block) < 0) || eng_conn_restore(l->m, &c) < 0)
        return refuse(l, -ENOMEM, "out of memory restoring connection %u", c.id);
    return 0;
}

static int load_conns(struct loader *l)
{
    uint32_t n = phx_rbuf_u32(&l->r);

    for (uint32_t i = 0; i < n && !l->r.failed; i++) {
        int rc = load_conn(l);
        if (rc)
            return rc;
    }
    return 0;
}

/* Blocks an older build retired (connections a queued BIND may still read): this state keeps
 * them, or the second upgrade after a pending BIND would leak them. */
static int load_retired(struct loader *l)
{
    uint32_t n = phx_rbuf_u32(&l->r);

    for (uint32_t i = 0; i < n && !l->r.failed; i++) {
        uint32_t handle = phx_rbuf_u32(&l->r);
        void *block = handle ? phx_handover_take_heap(l->e, handle) : NULL;
        if (!block)
            return refuse(l, -EINVAL, "retired block %u names no resource %u", i, handle);
        if (retire(l->m, block) < 0)
            return refuse(l, -ENOMEM, "out of memory restoring retired blocks");
    }
    return 0;
}

static int load_call(struct loader *l, uint32_t used, void **objs)
{
    uint32_t slot = phx_rbuf_u32(&l->r);
    struct eng_call c = { .app_call_id = phx_rbuf_u64(&l->r), .user = phx_rbuf_u64(&l->r),
                          .conn_id = phx_rbuf_u32(&l->r) };
    uint32_t service_id = phx_rbuf_u32(&l->r), method_id = phx_rbuf_u32(&l->r);

    c.deadline_ns = phx_rbuf_u64(&l->r);
    if (l->r.failed || slot >= used || objs[slot])
        return truncated(l);
    if (!(c.method = eng_layouts_find(l->m, service_id, method_id)))
        return refuse(l, -EINVAL, "a call in flight names method %u of service %u, which no "
                      "registration holds", method_id, service_id);
    if (!(objs[slot] = malloc(sizeof(c))))
        return refuse(l, -ENOMEM, "out of memory restoring calls");
    memcpy(objs[slot], &c, sizeof(c));
    return 0;
}

static int load_call_table(struct loader *l, uint32_t used, uint32_t *gens, void **objs)
{
    for (uint32_t i = 0; i < used; i++)
        gens[i] = phx_rbuf_u32(&l->r);
    uint32_t live = phx_rbuf_u32(&l->r);
    for (uint32_t i = 0; i < live; i++) {
        int rc = l->r.failed ? truncated(l) : load_call(l, used, objs);
        if (rc)
            return rc;
    }
    if (l->r.failed)
        return truncated(l);
    if (phx_idtable_load(&l->m->calls, used, gens, objs) < 0)
        return refuse(l, -ENOMEM, "cannot restore %u call slots", used);
    if (!eng_calls_index(l->m))     /* the table owns the calls now: do not fail the load */
        phx_warn("mrpc: out of memory filing restored calls: some cannot be cancelled");
    return 0;
}

static int load_calls(struct loader *l)
{
    uint32_t used = phx_rbuf_u32(&l->r);

    if (l->r.failed || used > ENG_MAX_CALLS || (size_t)used * 4 > l->r.left)
        return truncated(l);
    uint32_t *gens = calloc(used + 1, sizeof(*gens));
    void **objs = calloc(used + 1, sizeof(*objs));
    int rc = gens && objs ? load_call_table(l, used, gens, objs)
                          : refuse(l, -ENOMEM, "out of memory restoring calls");
    if (rc)
        for (uint32_t i = 0; objs && i < used; i++)
            free(objs[i]);
    free(gens);
    free(objs);
    return rc;
}

static int load_delivered(struct loader *l)
{
    uint32_t n = phx_rbuf_u32(&l->r);

    for (uint32_t i = 0; i < n && !l->r.failed; i++) {
        uint64_t addr = phx_rbuf_u64(&l->r), block = phx_rbuf_u64(&l->r);
        if (!l->r.failed && phx_u64map_put(&l->m->delivered, addr, block) < 0)
            return refuse(l, -ENOMEM, "cannot restore the app's %u held buffers", n);
    }
    return 0;
}

static int load_queue(struct loader *l, phx_fifo_t *q)
{
    uint32_t n = phx_rbuf_u32(&l->r);

    for (uint32_t i = 0; i < n && !l->r.failed; i++) {
        size_t len;
        const void *d = phx_rbuf_blob(&l->r, sizeof(phx_desc_t), &len);
        phx_desc_t copy;
        if (!d || len != sizeof(copy))
            return truncated(l);
        memcpy(&copy, d, sizeof(copy));
        if (phx_fifo_push(q, &copy) < 0)
            return refuse(l, -ENOMEM, "cannot restore a queue of %u descriptors", n);
    }
    return 0;
}

static int load_send(struct loader *l)
{
    struct eng_send_view v = { .key = phx_rbuf_u64(&l->r) };
    uint32_t handles[3];
    size_t len;

    for (unsigned i = 0; i < 3; i++)
        handles[i] = phx_rbuf_u32(&l->r);
    const void *sub = phx_rbuf_blob(&l->r, sizeof(v.sub), &len);
    v.kind = phx_rbuf_u8(&l->r);
    v.service_id = phx_rbuf_u32(&l->r);
    v.method_id = phx_rbuf_u32(&l->r);
    v.call_id = phx_rbuf_u64(&l->r);
    v.bytes = phx_rbuf_u64(&l->r);
    if (!sub || len != sizeof(v.sub) || !handles[0])
        return truncated(l);
    memcpy(&v.sub, sub, sizeof(v.sub));
    for (unsigned i = 0; i < 3; i++)
        if (handles[i] && !(v.blocks[i] = phx_handover_take_heap(l->e, handles[i])))
            return refuse(l, -EINVAL, "a wire message names no resource %u", handles[i]);
    return eng_send_adopt(l->m, &v) < 0 ? refuse(l, -ENOMEM, "out of memory adopting sends") : 0;
}

static int load_sends(struct loader *l)
{
    uint32_t n = phx_rbuf_u32(&l->r);

    for (uint32_t i = 0; i < n && !l->r.failed; i++) {
        int rc = load_send(l);
        if (rc)
            return rc;
    }
    return 0;
}

static int load_all(struct loader *l)
{
    if (phx_rbuf_u32(&l->r) != STATE_MAGIC)
        return truncated(l);
    load_limits(l);
    load_stats(l);
    int rc = load_registrations(l);
    if (!rc)
        rc = load_conns(l);
    if (!rc)
        rc = load_retired(l);
    if (!rc)
        rc = load_calls(l);
    if (!rc)
        rc = load_delivered(l);
    if (!rc)
        rc = load_queue(l, &l->m->txq);
    if (!rc)
        rc = load_queue(l, &l->m->backlog);
    if (!rc)
        rc = load_sends(l);
    if (!rc && (l->r.failed || l->r.left))
        rc = truncated(l);
#ifdef MRPC_STATE_REFUSE_LATE
    if (!rc)    /* a test build: the abort path after every resource was taken */
        rc = refuse(l, -ECANCELED, "MrpcEngine %s refuses the state it has just read (a test "
                    "build)", MRPC_PLUGIN_VERSION);
#endif
    return rc;
}

int eng_state_restore(phx_engine_t *e, const phx_blob_t *in, struct mrpc_engine **out,
                      char *err, size_t errlen)
{
    struct loader l = { .e = e, .version = in->version, .err = err, .errlen = errlen };
    phx_app_port_t *port = phx_engine_app_port(e);

    if (in->version < MRPC_STATE_MIN_READ || in->version > MRPC_STATE_VERSION)
        return refuse(&l, -ENOTSUP, "MrpcEngine %s reads state versions %u to %u, not %u",
                      MRPC_PLUGIN_VERSION, MRPC_STATE_MIN_READ, MRPC_STATE_VERSION,
                      in->version);
    if (!port)
        return refuse(&l, -EINVAL, "MrpcEngine must be the first engine of an app's chain");
    if (!(l.m = eng_new(port)))
        return refuse(&l, -ENOMEM, "out of memory");
    phx_rbuf_init(&l.r, in);
    int rc = load_all(&l);
    if (rc) {
        eng_free(l.m, PHX_DESTROY_STATE_ONLY);  /* what it took stays the old state's */
        return rc;
    }
    *out = l.m;
    return 0;
}
