/* conns.c - the app's connections and bindings, as MrpcEngine and the transport see them.
 *
 * Ids: the app picks the ids of its bindings and outgoing connections (below
 * MRPC_CONN_ACCEPTED_BASE, unique among its live ones) and the engine passes them to the
 * transport unchanged; the transport picks the ids of connections it accepts (from the base up).
 * The table is bounded (ENG_MAX_CONNS); a connection the transport accepts beyond it is closed.
 *
 * BIND/CONNECT copy the app's "host:port" out of its send heap into the connection, once and
 * bounded, before checking it: the transport reads that copy until BOUND/CONNECTED, and writes
 * why it failed after it (transport.h), which the app's answer carries. A lost
 * connection fails the calls waiting on it with UNAVAILABLE; an outgoing one stays in the table
 * (later calls on it say it was lost) until the app closes it, an accepted one goes at once. */
#include "mrpc_engine.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct eng_conn *conn_find(struct mrpc_engine *m, uint32_t id)
{
    uint64_t v;

    return phx_u64map_get(&m->conns, id, &v) ? (struct eng_conn *)(uintptr_t)v : NULL;
}

static struct eng_conn *conn_insert(struct mrpc_engine *m, uint32_t id, enum eng_conn_kind kind)
{
    struct eng_conn *c = calloc(1, sizeof(*c));

    if (!c)
        return NULL;
    c->id = id;
    c->kind = kind;
    c->state = kind == ENG_CONN_ACCEPTED ? ENG_CONN_UP : ENG_CONN_PENDING;
    if (phx_u64map_put(&m->conns, id, (uint64_t)(uintptr_t)c) < 0) {
        free(c);
        return NULL;
    }
    return c;
}

static void conn_remove(struct mrpc_engine *m, struct eng_conn *c)
{
    phx_u64map_remove(&m->conns, c->id, NULL);
    free(c);
}

static void push_down(struct mrpc_engine *m, uint16_t kind, const struct eng_conn *c)
{
    phx_desc_t d = { .kind = kind, .conn_id = c->id, .addr = (uint64_t)(uintptr_t)c->addr,
                     .len = strlen(c->addr) + 1 };

    eng_txq_push(m, &d);
}

/* Copies the app's NUL-terminated address into DST; false with a sentence in WHY. */
static bool copy_address(struct mrpc_engine *m, const phx_desc_t *sub, char *dst, char *why,
                         size_t whylen)
{
    if (sub->len < 2 || sub->len > MRPC_APP_ADDR_MAX ||
        !phx_app_port_send_contains(m->port, sub->addr, sub->len)) {
        snprintf(why, whylen, "the address string (%llu bytes at 0x%llx) must lie in the send "
                 "heap and hold at most %u bytes with its NUL", (unsigned long long)sub->len,
                 (unsigned long long)sub->addr, MRPC_APP_ADDR_MAX);
        return false;
    }
    memcpy(dst, (const void *)(uintptr_t)sub->addr, sub->len);   /* read once, then check */
    if (!memchr(dst, '\0', sub->len) || !strchr(dst, ':') || dst[0] == '\0') {
        snprintf(why, whylen, "the address must be a NUL-terminated \"host:port\"");
        return false;
    }
    return true;
}

void eng_conn_open(struct mrpc_engine *m, const phx_desc_t *sub)
{
    bool bind = sub->kind == MRPC_APP_BIND;
    phx_desc_t answer = { .kind = bind ? MRPC_APP_BOUND : MRPC_APP_CONNECTED,
                          .conn_id = sub->conn_id, .user = sub->user };
    char addr[MRPC_APP_ADDR_MAX], why[256];

    if (sub->conn_id == 0 || sub->conn_id >= MRPC_CONN_ACCEPTED_BASE) {
        m->stats.invalid_argument++;
        eng_complete_text(m, answer, PHX_INVALID_ARGUMENT, "connection id %u is outside 1..%u",
                          sub->conn_id, MRPC_CONN_ACCEPTED_BASE - 1);
        return;
    }
    if (conn_find(m, sub->conn_id)) {
        eng_complete_text(m, answer, PHX_ALREADY_EXISTS, "connection id %u is in use",
                          sub->conn_id);
        return;
    }
    if (!copy_address(m, sub, addr, why, sizeof(why))) {
        m->stats.invalid_argument++;
        eng_complete_text(m, answer, PHX_INVALID_ARGUMENT, "%s", why);
        return;
    }
    struct eng_conn *c = conn_insert(m, sub->conn_id, bind ? ENG_CONN_BINDING : ENG_CONN_OUTGOING);
    if (!c) {
        eng_complete_text(m, answer, PHX_RESOURCE_EXHAUSTED,
                          "too many connections (at most %u per app)", ENG_MAX_CONNS);
        return;
    }
    memcpy(c->addr, addr, sizeof(addr));
    c->addr[sizeof(addr)] = '\0';       /* no reason yet */
    push_down(m, bind ? MRPC_DESC_BIND : MRPC_DESC_CONNECT, c);
}

void eng_conn_close(struct mrpc_engine *m, const phx_desc_t *sub)
{
    struct eng_conn *c = conn_find(m, sub->conn_id);

    if (!c) {
        phx_desc_t answer = { .kind = MRPC_APP_ERROR, .flags = (uint16_t)sub->kind,
                              .conn_id = sub->conn_id, .user = sub->user };
        eng_complete_text(m, answer, PHX_NOT_FOUND, "no connection or binding with id %u",
                          sub->conn_id);
        return;
    }
    if (c->state == ENG_CONN_CLOSING)
        return;
    push_down(m, MRPC_DESC_CLOSE, c);
    eng_calls_fail_conn(m, c->id, PHX_CANCELLED, "the connection was closed");
    if (c->state == ENG_CONN_PENDING)
        c->state = ENG_CONN_CLOSING;
    else
        conn_remove(m, c);
}

struct eng_conn *eng_conn_usable(struct mrpc_engine *m, uint32_t conn_id, char *why,
                                 size_t whylen)
{
    struct eng_conn *c = conn_find(m, conn_id);

    if (c && c->kind != ENG_CONN_BINDING && c->state == ENG_CONN_UP)
        return c;
    if (!c)
        snprintf(why, whylen, "no connection with id %u", conn_id);
    else if (c->kind == ENG_CONN_BINDING)
        snprintf(why, whylen, "id %u is a binding, not a connection", conn_id);
    else if (c->state == ENG_CONN_LOST)
        snprintf(why, whylen, "connection %u to %s was lost", conn_id, c->addr);
    else if (c->state == ENG_CONN_CLOSING)
        snprintf(why, whylen, "connection %u is closed", conn_id);
    else
        snprintf(why, whylen, "connection %u is not established yet", conn_id);
    return NULL;
}

/* BOUND or CONNECTED from the transport: tell the app; a failed one is forgotten. */
static void conn_established(struct mrpc_engine *m, const phx_desc_t *d, uint16_t app_kind)
{
    struct eng_conn *c = conn_find(m, d->conn_id);
    phx_desc_t answer = { .kind = app_kind, .conn_id = d->conn_id };

    if (c && c->state == ENG_CONN_CLOSING) {
        conn_remove(m, c);          /* closed by the app meanwhile: the transport is done */
        return;
    }
    if (!c || c->state != ENG_CONN_PENDING) {
        m->stats.dropped++;
        return;
    }
    if (d->status == PHX_OK) {
        c->state = ENG_CONN_UP;
        eng_complete(m, &answer);
        return;
    }
    const char *reason = mrpc_conn_reason_get(d, c->addr, sizeof(c->addr));
    eng_complete_text(m, answer, (phx_status_t)d->status, "cannot %s %s: %s",
                      app_kind == MRPC_APP_BOUND ? "bind to" : "connect to", c->addr,
                      reason ? reason : phx_status_name(d->status));
    conn_remove(m, c);
}

static void conn_accepted(struct mrpc_engine *m, const phx_desc_t *d)
{
    struct eng_conn *c = d->conn_id >= MRPC_CONN_ACCEPTED_BASE && !conn_find(m, d->conn_id)
                             ? conn_insert(m, d->conn_id, ENG_CONN_ACCEPTED)
                             : NULL;

    if (c) {
        snprintf(c->addr, sizeof(c->addr), "accepted on binding %llu",
                 (unsigned long long)d->binding_id);
        return;
    }
    phx_desc_t close = { .kind = MRPC_DESC_CLOSE, .conn_id = d->conn_id };
    if (eng_txq_room(m, 1))
        eng_txq_push(m, &close);
}

static void conn_lost(struct mrpc_engine *m, const phx_desc_t *d)
{
    struct eng_conn *c = conn_find(m, d->conn_id);

    if (!c)
        return;
    m->stats.conns_lost++;
    eng_calls_fail_conn(m, c->id, PHX_UNAVAILABLE, "the connection to the server was lost");
    if (c->kind == ENG_CONN_OUTGOING && c->state != ENG_CONN_CLOSING)
        c->state = ENG_CONN_LOST;
    else
        conn_remove(m, c);
}

void eng_conn_event(struct mrpc_engine *m, const phx_desc_t *d)
{
    switch (d->kind) {
    case MRPC_DESC_BOUND:
        conn_established(m, d, MRPC_APP_BOUND);
        break;
    case MRPC_DESC_CONNECTED:
        conn_established(m, d, MRPC_APP_CONNECTED);
        break;
    case MRPC_DESC_ACCEPTED:
        conn_accepted(m, d);
        break;
    case MRPC_DESC_CONN_LOST:
        conn_lost(m, d);
        break;
    default:
        m->stats.dropped++;         /* a kind the transport contract does not have */
    }
}

bool eng_conn_addr_in_use(const struct eng_conn *c)
{
    return c->state == ENG_CONN_PENDING || c->state == ENG_CONN_CLOSING;
}

int eng_conn_restore(struct mrpc_engine *m, const struct eng_conn *from)
{
    struct eng_conn *c = conn_insert(m, from->id, from->kind);

    if (!c)
        return -ENOMEM;
    *c = *from;
    c->handed_over = false;
    return 0;
}

static void free_conn(void *arg, uint64_t key, uint64_t value)
{
    const phx_destroy_mode_t *mode = arg;
    struct eng_conn *c = (struct eng_conn *)(uintptr_t)value;

    if (*mode == PHX_DESTROY_ALL || !c->handed_over)
        free(c);
}

void eng_conns_fini(struct mrpc_engine *m, phx_destroy_mode_t mode)
{
    phx_u64map_each(&m->conns, free_conn, &mode);
    phx_u64map_fini(&m->conns);
}
