/* calls.c - the app's outgoing calls between their CALL and their reply.
 *
 * Each call gets a wire call id from an idtable (phoenix/idtable.h): the peer echoes it in its
 * reply, and the generation in the id means a late or forged reply finds nothing rather than
 * another call. The app's own call id and token travel with the entry and come back in
 * REPLY_RECEIVED: the app never learns wire ids, and a peer never sees the app's. A reply must also
 * arrive on the connection the call went out on.
 *
 * Every call ends exactly once, with REPLY_RECEIVED: a reply, an error from the peer, a lost or
 * closed connection, its deadline, or the app's CANCEL (its reply is then dropped on arrival, and
 * a wire CANCEL tells the server's service, which withdraws the call if its app has not seen
 * it). Deadlines are swept when the earliest may have passed: `earliest_deadline_ns` is a lower
 * bound kept on insert and made exact by each sweep. A progress() pass reads the clock once
 * (eng_pass_now): the calls it takes get their deadlines from that time, and its sweep checks
 * against it, so a batch of 32 calls costs one clock read, not 33; a deadline is early by at
 * most the pass's own length, microseconds against a timeout of milliseconds.
 *
 * A CANCEL names the app's call id, which the app chooses: `by_app` maps it to the wire id of
 * the newest live call that has it, so a CANCEL is one lookup, not a sweep of up to
 * ENG_MAX_CALLS calls (an app could otherwise spend the runtime thread it shares with other
 * apps at will). libmrpc's ids are unique; an app that reuses one can cancel only the newest
 * call with it.
 *
 * The records of ended calls are kept (up to ENG_SPARE_CALLS) for the next calls: at 32 calls
 * outstanding each batch frees more than the allocator's per-thread cache holds. */
#include "mrpc_engine.h"

#include <stdio.h>
#include <stdlib.h>

#define NS_PER_MS 1000000ull

uint64_t eng_pass_now(struct mrpc_engine *m)
{
    if (!m->pass_ns)
        m->pass_ns = phx_now_ns();
    return m->pass_ns;
}

void eng_pass_end(struct mrpc_engine *m)
{
    m->pass_ns = 0;
}

void eng_call_release(struct mrpc_engine *m, struct eng_call *c)
{
    if (c && m->n_spare_calls < ENG_SPARE_CALLS)
        m->spare_calls[m->n_spare_calls++] = c;
    else
        free(c);
}

struct eng_call *eng_call_add(struct mrpc_engine *m, const phx_desc_t *sub,
                              const struct mrpc_method_layout *method, uint64_t *wire_id)
{
    struct eng_call *c = m->n_spare_calls ? m->spare_calls[--m->n_spare_calls]
                                          : malloc(sizeof(*c));
    uint32_t timeout_ms = mrpc_app_call_timeout_ms(sub);

    if (!c)
        return NULL;
    *c = (struct eng_call){
        .app_call_id = sub->call_id,
        .user = sub->user,
        .conn_id = sub->conn_id,
        .method = method,
        .deadline_ns = eng_pass_now(m) + (uint64_t)(timeout_ms ? timeout_ms : m->call_timeout_ms) *
                                          NS_PER_MS,
    };
    if (!(*wire_id = phx_idtable_add(&m->calls, c))) {
        eng_call_release(m, c);
        return NULL;
    }
    if (phx_u64map_put(&m->by_app, c->app_call_id, *wire_id) < 0) {
        phx_idtable_remove(&m->calls, *wire_id);
        eng_call_release(m, c);
        return NULL;
    }
    if (m->calls.live == 1 || c->deadline_ns < m->earliest_deadline_ns)
        m->earliest_deadline_ns = c->deadline_ns;
    return c;
}

/* Takes call C, filed under WIRE_ID, off the table and the app-id index. */
static void call_forget(struct mrpc_engine *m, uint64_t wire_id, const struct eng_call *c)
{
    uint64_t filed;

    phx_idtable_remove(&m->calls, wire_id);
    if (phx_u64map_get(&m->by_app, c->app_call_id, &filed) && filed == wire_id)
        phx_u64map_remove(&m->by_app, c->app_call_id, NULL);
}

struct eng_call *eng_call_take(struct mrpc_engine *m, uint64_t wire_id, uint32_t conn_id)
{
    struct eng_call *c = phx_idtable_get(&m->calls, wire_id);

    if (!c || c->conn_id != conn_id)
        return NULL;
    call_forget(m, wire_id, c);
    return c;
}

static phx_desc_t reply_desc(const struct eng_call *c)
{
    return (phx_desc_t){ .kind = MRPC_APP_REPLY_RECEIVED, .conn_id = c->conn_id,
                         .service_id = c->method->service_id, .method_id = c->method->method_id,
                         .call_id = c->app_call_id, .user = c->user };
}

static void call_vfail(struct mrpc_engine *m, struct eng_call *c, phx_status_t status,
                       const char *fmt, va_list ap)
{
    m->stats.errors++;
    eng_complete_vtext(m, reply_desc(c), status, fmt, ap);
    eng_call_release(m, c);
}

void eng_call_fail(struct mrpc_engine *m, struct eng_call *call, phx_status_t status,
                   const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    call_vfail(m, call, status, fmt, ap);
    va_end(ap);
}

void eng_call_succeed(struct mrpc_engine *m, struct eng_call *call, uint64_t addr, uint64_t len)
{
    phx_desc_t d = reply_desc(call);

    d.addr = addr;
    d.len = len;
    m->stats.replies_received++;
    eng_complete(m, &d);
    eng_call_release(m, call);
}

struct sweep {
    struct mrpc_engine *m;
    uint64_t            now, earliest;
    uint32_t            conn_id;        /* fail_conn */
    phx_status_t        status;
    const char         *why;
};

static void fail_on_conn(void *arg, uint64_t id, void *obj)
{
    struct sweep *s = arg;
    struct eng_call *c = obj;

    if (c->conn_id != s->conn_id)
        return;
    call_forget(s->m, id, c);
    eng_call_fail(s->m, c, s->status, "%s", s->why);
}

void eng_calls_fail_conn(struct mrpc_engine *m, uint32_t conn_id, phx_status_t status,
                         const char *why)
{
    struct sweep s = { .m = m, .conn_id = conn_id, .status = status, .why = why };

    phx_idtable_each(&m->calls, fail_on_conn, &s);
}

static void expire_one(void *arg, uint64_t id, void *obj)
{
    struct sweep *s = arg;
    struct eng_call *c = obj;

    if (c->deadline_ns > s->now) {
        if (c->deadline_ns < s->earliest)
            s->earliest = c->deadline_ns;
        return;
    }
    call_forget(s->m, id, c);
    s->m->stats.timeouts++;
    eng_call_fail(s->m, c, PHX_DEADLINE_EXCEEDED, "no reply from the server before the deadline");
}

void eng_calls_expire(struct mrpc_engine *m, uint64_t now_ns)
{
    struct sweep s = { .m = m, .now = now_ns, .earliest = UINT64_MAX };

    if (!m->calls.live || now_ns < m->earliest_deadline_ns)
        return;
    phx_idtable_each(&m->calls, expire_one, &s);
    m->earliest_deadline_ns = s.earliest;
}

bool eng_call_cancel(struct mrpc_engine *m, uint32_t conn_id, uint64_t app_call_id)
{
    uint64_t id;
    struct eng_call *c;

    if (!phx_u64map_get(&m->by_app, app_call_id, &id) || !(c = phx_idtable_get(&m->calls, id)) ||
        c->conn_id != conn_id || c->app_call_id != app_call_id)
        return false;
    call_forget(m, id, c);
    phx_desc_t wire = { .conn_id = c->conn_id, .service_id = c->method->service_id,
                        .method_id = c->method->method_id, .call_id = id };
    if (eng_txq_room(m, 1))
        eng_send_cancel(m, &wire);      /* the server withdraws it if it has not started */
    eng_call_fail(m, c, PHX_CANCELLED, "the app cancelled the call");
    return true;
}

struct indexing {
    struct mrpc_engine *m;
    bool                ok;
};

static void index_one(void *arg, uint64_t id, void *obj)
{
    struct indexing *x = arg;
    const struct eng_call *c = obj;

    x->ok &= phx_u64map_put(&x->m->by_app, c->app_call_id, id) == 0;
}

bool eng_calls_index(struct mrpc_engine *m)
{
    struct indexing x = { .m = m, .ok = true };

    phx_idtable_each(&m->calls, index_one, &x);
    return x.ok;
}

static void free_call(void *arg, uint64_t id, void *obj)
{
    free(obj);
}

void eng_calls_fini(struct mrpc_engine *m)
{
    phx_idtable_each(&m->calls, free_call, NULL);
    while (m->n_spare_calls)
        free(m->spare_calls[--m->n_spare_calls]);
    phx_idtable_fini(&m->calls);
    phx_u64map_fini(&m->by_app);
}
