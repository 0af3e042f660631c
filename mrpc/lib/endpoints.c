/* endpoints.c - connections (mrpc_connect) and bindings (mrpc_bind), and their ids.
 *
 * The app picks the ids of its connections and bindings (app_proto.h): a counter, below the
 * range the transport uses for the connections it accepts. Opening one writes the "host:port"
 * into the send heap, submits CONNECT or BIND and waits for the service's answer, running
 * progress meanwhile; the string is freed when the answer comes. An endpoint the service refused
 * is forgotten; closing one tells the service (its calls in flight end with CANCELLED). */
#include "mrpc_lib.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

static uint32_t next_id(mrpc_ctx_t *ctx)
{
    do {
        ctx->next_endpoint_id = ctx->next_endpoint_id % (MRPC_CONN_ACCEPTED_BASE - 1) + 1;
    } while (phx_u64map_get(&ctx->endpoints, ctx->next_endpoint_id, NULL));
    return ctx->next_endpoint_id;
}

static void forget(mrpc_ctx_t *ctx, struct lib_endpoint *ep)
{
    phx_u64map_remove(&ctx->endpoints, ep->id, NULL);
}

phx_status_t lib_endpoint_open(mrpc_ctx_t *ctx, struct lib_endpoint *ep, uint16_t kind,
                               const char *addr, mrpc_status_t *st)
{
    const char *what = kind == MRPC_APP_BIND ? "bind to" : "connect to";

    if (ctx->dead) {
        lib_status_set(st, PHX_UNAVAILABLE, "the mRPC service went away");
        return st->code;
    }
    if (!addr || strlen(addr) + 1 > MRPC_APP_ADDR_MAX || !strchr(addr, ':')) {
        lib_status_set(st, PHX_INVALID_ARGUMENT, "cannot %s \"%s\": expected \"host:port\"",
                       what, addr ? addr : "(null)");
        return st->code;
    }
    ep->id = next_id(ctx);
    ep->binding = kind == MRPC_APP_BIND;
    if (!(ep->addr = mrpc_strdup(ctx, addr)) ||
        phx_u64map_put(&ctx->endpoints, ep->id, (uintptr_t)ep) < 0) {
        phx_heap_free(ctx->heap, ep->addr);
        lib_status_set(st, PHX_RESOURCE_EXHAUSTED, "cannot %s %s: out of memory", what, addr);
        return st->code;
    }
    phx_desc_t d = { .kind = kind, .conn_id = ep->id, .addr = (uintptr_t)ep->addr,
                     .len = strlen(addr) + 1 };
    lib_submit(ctx, &d);
    lib_wait_until(ctx, &ep->answered, LIB_ANSWER_WAIT_MS);
    if (!ep->answered) {
        lib_status_set(st, ctx->dead ? PHX_UNAVAILABLE : PHX_DEADLINE_EXCEEDED,
                       "cannot %s %s: the mRPC service did not answer", what, addr);
        lib_endpoint_close(ctx, ep);    /* the string stays: the service may not be done */
        return st->code;
    }
    *st = ep->status;
    return st->code;
}

void lib_on_endpoint(mrpc_ctx_t *ctx, const phx_desc_t *d)
{
    uint64_t v;
    mrpc_status_t st = { .code = PHX_OK, .message = "OK" };

    if (d->status != PHX_OK)
        lib_take_text(ctx, d, &st);
    if (!phx_u64map_get(&ctx->endpoints, d->conn_id, &v))
        return;
    struct lib_endpoint *ep = (struct lib_endpoint *)(uintptr_t)v;
    phx_heap_free(ctx->heap, ep->addr);
    ep->addr = NULL;
    ep->status = st;
    ep->answered = true;
    if (st.code != PHX_OK)
        forget(ctx, ep);            /* the service forgot it too */
}

void lib_endpoint_close(mrpc_ctx_t *ctx, struct lib_endpoint *ep)
{
    phx_desc_t d = { .kind = MRPC_APP_CLOSE, .conn_id = ep->id };

    if (!phx_u64map_get(&ctx->endpoints, ep->id, NULL))
        return;                     /* refused, or closed already */
    lib_submit(ctx, &d);
    forget(ctx, ep);
}

/* ---- connections ------------------------------------------------------------------------- */

mrpc_conn_t *mrpc_connect(mrpc_ctx_t *ctx, const char *addr, mrpc_status_t *status)
{
    mrpc_status_t local;
    mrpc_status_t *st = status ? status : &local;
    mrpc_conn_t *conn = calloc(1, sizeof(*conn));

    if (!conn) {
        lib_status_set(st, PHX_RESOURCE_EXHAUSTED, "out of memory");
        return NULL;
    }
    conn->ctx = ctx;
    if (lib_endpoint_open(ctx, &conn->ep, MRPC_APP_CONNECT, addr, st) != PHX_OK) {
        free(conn);
        return NULL;
    }
    return conn;
}

void mrpc_conn_close(mrpc_conn_t *conn)
{
    if (!conn)
        return;
    lib_endpoint_close(conn->ctx, &conn->ep);
    free(conn);
}

/* Connections the app did not close are freed with the context; servers have their own list. */
static void free_conn(void *arg, uint64_t key, uint64_t value)
{
    struct lib_endpoint *ep = (struct lib_endpoint *)(uintptr_t)value;

    if (!ep->binding)
        free((char *)ep - offsetof(struct mrpc_conn, ep));
}

void lib_endpoints_fini(mrpc_ctx_t *ctx)
{
    phx_u64map_each(&ctx->endpoints, free_conn, NULL);
    phx_u64map_fini(&ctx->endpoints);
}
