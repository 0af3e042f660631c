/* ucx_listen.c - bindings: BIND makes a UCX listener, whose peers become accepted connections.
 *
 * BIND resolves "host:port" and creates a listener (ucp_listener_create) on the engine's worker;
 * BOUND answers with the status and, in `len`, the port actually bound (what ":0" became). The
 * listener's connection handler runs inside ucp_worker_progress(): it makes an endpoint from the
 * request (peer error handling, like every endpoint), gives it the id MRPC_CONN_ACCEPTED_BASE + n
 * and queues ACCEPTED with call_id = the binding id. Requests beyond PHX_UCX_MAX_CONNS are
 * rejected. CLOSE of a binding destroys its listener; connections accepted from it live on. */
#include "ucx_addr.h"
#include "ucx_engine.h"

#include "phoenix/log.h"
#include "phoenix/status.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>

static struct phx_ucx_binding *binding_by_id(struct phx_ucx_engine *s, uint32_t id, unsigned *at)
{
    for (unsigned i = 0; i < s->n_bindings; i++) {
        if (s->bindings[i]->id == id) {
            if (at)
                *at = i;
            return s->bindings[i];
        }
    }
    return NULL;
}

bool phx_ucx_binding_exists(struct phx_ucx_engine *s, uint32_t id)
{
    return binding_by_id(s, id, NULL) != NULL;
}

/* ---- accepting --------------------------------------------------------------------------- */

static uint32_t accepted_id(struct phx_ucx_engine *s)
{
    for (;;) {
        uint32_t id = MRPC_CONN_ACCEPTED_BASE + (s->next_accepted++ & ~MRPC_CONN_ACCEPTED_BASE);
        if (!phx_ucx_conn_by_id(s, id))     /* at most PHX_UCX_MAX_CONNS are taken */
            return id;
    }
}

/* Makes an endpoint for REQ on binding B; the connection, or NULL (REQ then rejected). */
static struct phx_ucx_conn *accept_one(struct phx_ucx_binding *b, ucp_conn_request_h req)
{
    struct phx_ucx_engine *s = b->s;
    struct phx_ucx_conn *c = phx_ucx_conn_new(s, accepted_id(s));
    if (!c)
        return NULL;
    ucp_ep_params_t p = {.field_mask = UCP_EP_PARAM_FIELD_CONN_REQUEST, .conn_request = req};
    phx_ucx_conn_set_err_handling(&p, c);
    ucs_status_t st = ucp_ep_create(s->worker, &p, &c->ep);
    if (st != UCS_OK) {
        phx_warn("ucx: binding %u: cannot accept a connection: %s", b->id,
                 ucs_status_string(st));
        phx_ucx_conn_free(c);
        return NULL;            /* UCX rejected the request itself */
    }
    return phx_ucx_conn_accepted(c) == 0 ? c : NULL;
}

static void on_conn_request(ucp_conn_request_h req, void *arg)
{
    struct phx_ucx_binding *b = arg;
    struct phx_ucx_engine *s = b->s;

    if (s->closing || s->n_conns >= PHX_UCX_MAX_CONNS) {
        s->stats.rejected_conns++;
        ucp_listener_reject(b->listener, req);
        return;
    }
    struct phx_ucx_conn *c = accept_one(b, req);
    if (!c) {
        s->stats.rejected_conns++;
        return;
    }
    s->stats.accepted++;
    phx_ucx_queue_event(s, &(phx_desc_t){.kind = MRPC_DESC_ACCEPTED, .status = PHX_OK,
                                         .conn_id = c->id, .binding_id = b->id}, c);
}

/* ---- BIND -------------------------------------------------------------------------------- */

static int listen_on(struct phx_ucx_engine *s, struct phx_ucx_binding *b,
                     const struct sockaddr_storage *ss, socklen_t len, char *why, size_t whylen)
{
    ucp_listener_params_t p = {
        .field_mask = UCP_LISTENER_PARAM_FIELD_SOCK_ADDR | UCP_LISTENER_PARAM_FIELD_CONN_HANDLER,
        .sockaddr = {.addr = (const struct sockaddr *)ss, .addrlen = len},
        .conn_handler = {.cb = on_conn_request, .arg = b},
    };
    ucs_status_t st = ucp_listener_create(s->worker, &p, &b->listener);
    if (st != UCS_OK) {
        snprintf(why, whylen, "%sucp_listener_create: %s",
                 st == UCS_ERR_BUSY ? "the address is in use: " : "", ucs_status_string(st));
        return PHX_UNAVAILABLE;
    }
    ucp_listener_attr_t attr = {.field_mask = UCP_LISTENER_ATTR_FIELD_SOCKADDR};
    if (ucp_listener_query(b->listener, &attr) == UCS_OK)
        b->port = phx_ucx_addr_port((const struct sockaddr *)&attr.sockaddr);
    return PHX_OK;
}

/* Listens as D asks; the status BOUND carries (PHX_OK with *B set, or why not in WHY). */
static int bind_listener(struct phx_ucx_engine *s, const phx_desc_t *d,
                         struct phx_ucx_binding **out, char *why, size_t whylen)
{
    struct sockaddr_storage ss;
    socklen_t len;

    if (!phx_ucx_id_usable(s, d->conn_id)) {
        snprintf(why, whylen, "binding id %u is in use or reserved", d->conn_id);
        return PHX_INVALID_ARGUMENT;
    }
    if (s->n_bindings >= PHX_UCX_MAX_LISTENERS) {
        snprintf(why, whylen, "at most %d bindings per app", PHX_UCX_MAX_LISTENERS);
        return PHX_RESOURCE_EXHAUSTED;
    }
    if (phx_ucx_addr_resolve((const char *)(uintptr_t)d->addr, true, &ss, &len, why, whylen))
        return PHX_INVALID_ARGUMENT;
    struct phx_ucx_binding *b = calloc(1, sizeof(*b));
    if (!b) {
        snprintf(why, whylen, "out of memory");
        return PHX_RESOURCE_EXHAUSTED;
    }
    *b = (struct phx_ucx_binding){.s = s, .id = d->conn_id};
    int status = listen_on(s, b, &ss, len, why, whylen);
    if (status != PHX_OK) {
        free(b);
        return status;
    }
    s->bindings[s->n_bindings++] = b;
    *out = b;
    return PHX_OK;
}

void phx_ucx_bind(struct phx_ucx_engine *s, const phx_desc_t *d)
{
    struct phx_ucx_binding *b = NULL;
    char why[256] = "";
    int status = bind_listener(s, d, &b, why, sizeof(why));
    phx_desc_t r = *d;

    r.kind = MRPC_DESC_BOUND;
    r.status = status;
    if (status == PHX_OK) {
        r.len = b->port;        /* the port bound: what ":0" turned into (docs/transport.md) */
        phx_info("ucx: binding %u listens on port %u", b->id, b->port);
    } else {
        phx_warn("ucx: binding %u: %s", d->conn_id, why);
        mrpc_conn_reason_put(&r, why);
    }
    phx_ucx_queue_event(s, &r, NULL);
}

static void binding_destroy(struct phx_ucx_engine *s, unsigned at)
{
    struct phx_ucx_binding *b = s->bindings[at];

    if (b->listener)        /* NULL: could not listen again after an upgrade */
        ucp_listener_destroy(b->listener);
    free(b);
    s->bindings[at] = s->bindings[--s->n_bindings];
}

bool phx_ucx_unbind(struct phx_ucx_engine *s, uint32_t id)
{
    unsigned at;

    if (!binding_by_id(s, id, &at))
        return false;
    binding_destroy(s, at);
    return true;
}

void phx_ucx_listeners_shutdown(struct phx_ucx_engine *s)
{
    while (s->n_bindings)
        binding_destroy(s, s->n_bindings - 1);
}

/* ---- live upgrade ------------------------------------------------------------------------ */

/* A listener's connection handler cannot be changed (UCX 1.13 has no call for it): the old one
 * goes and a new one takes its address, which CM_REUSEADDR (ucx_context.c) allows at once. A
 * peer connecting in between is refused and retries as after any failed connect. */
int phx_ucx_binding_relisten(struct phx_ucx_binding *b)
{
    ucp_listener_attr_t attr = {.field_mask = UCP_LISTENER_ATTR_FIELD_SOCKADDR};
    char why[256];
    ucs_status_t st = ucp_listener_query(b->listener, &attr);

    if (st != UCS_OK) {
        phx_error("ucx: binding %u: cannot read its address to listen again: %s", b->id,
                  ucs_status_string(st));
        return -EIO;
    }
    ucp_listener_destroy(b->listener);
    b->listener = NULL;
    socklen_t len = attr.sockaddr.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                        : sizeof(struct sockaddr_in);
    if (listen_on(b->s, b, &attr.sockaddr, len, why, sizeof(why)) != PHX_OK) {
        phx_error("ucx: binding %u: cannot listen again on port %u after the upgrade: %s",
                  b->id, b->port, why);
        return -EIO;
    }
    return 0;
}
