/* server.c - servers: bindings, the services they serve, and incoming calls.
 *
 * mrpc_bind() opens a binding (endpoints.c); mrpc_server_add_service() registers the service's
 * layouts with the service (waiting for the answer) and files each of its methods in the
 * context's `methods` map. An INCOMING_CALL finds its method there and runs the handler through
 * the service description's generated dispatch function, with the request as a const pointer
 * into the receive heap; the request is released when the handler returns (a handler that wants
 * to keep it copies it out), after the pieces of the reply that borrow from it (or from any
 * received message) were copied into the send heap (copy.c). The handler's reply goes back with
 * REPLY and is freed on SEND_DONE; a handler's error goes back as its status with the
 * mrpc_call_set_error() text.
 *
 * No silent failures: when a handler returned OK but its caller gets an error instead (the
 * reply could not be copied, was no reply, or the service could not send it: SEND_DONE with a
 * status), the server is told through its error handler (mrpc_server_on_error), or by default
 * with a line on stderr, once a second at most. A caller that went away is not reported. */
#include "mrpc_lib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- telling the server ------------------------------------------------------------------ */

#define SAY_EVERY_NS 1000000000ull

static void say_default(mrpc_server_t *srv, const char *method, const mrpc_status_t *st)
{
    uint64_t now = phx_now_ns();

    if (srv->said_ns && now - srv->said_ns < SAY_EVERY_NS) {
        srv->unsaid++;
        return;
    }
    if (srv->unsaid)
        fprintf(stderr, "mrpc: %s: %s: %s (and %lu more answers like it that did not go out)\n",
                method, phx_status_name(st->code), st->message, srv->unsaid);
    else
        fprintf(stderr, "mrpc: %s: %s: %s\n", method, phx_status_name(st->code), st->message);
    srv->said_ns = now;
    srv->unsaid = 0;
}

/* Tells SRV that its answer to a call of METHOD went to the caller as ST, not as meant. */
static void server_told(mrpc_server_t *srv, const char *method, const mrpc_status_t *st)
{
    if (srv->on_error)
        srv->on_error(srv, srv->on_error_arg, method, st);
    else
        say_default(srv, method, st);
}

void mrpc_server_on_error(mrpc_server_t *server, mrpc_server_error_fn fn, void *arg)
{
    if (!server)
        return;
    server->on_error = fn;
    server->on_error_arg = fn ? arg : NULL;
}

/* ---- answering an incoming call ---------------------------------------------------------- */

static void reply_error(mrpc_ctx_t *ctx, const phx_desc_t *in, phx_status_t code,
                        const char *text)
{
    char *copy = mrpc_strdup(ctx, text);       /* no room: the status alone goes back */
    phx_desc_t d = { .kind = MRPC_APP_REPLY, .status = code, .conn_id = in->conn_id,
                     .service_id = in->service_id, .method_id = in->method_id,
                     .call_id = in->call_id, .addr = (uintptr_t)copy,
                     .len = copy ? strlen(copy) + 1 : 0, .user = LIB_SENT_TEXT };

    lib_submit(ctx, &d);
}

static void reply_message(mrpc_ctx_t *ctx, const phx_desc_t *in, const ProtobufCMessage *reply)
{
    phx_desc_t d = { .kind = MRPC_APP_REPLY, .status = PHX_OK, .conn_id = in->conn_id,
                     .service_id = in->service_id, .method_id = in->method_id,
                     .call_id = in->call_id, .addr = (uintptr_t)reply,
                     .len = reply->descriptor->sizeof_message, .user = LIB_SENT_MESSAGE };

    lib_submit(ctx, &d);
}

/* Sends what the handler produced: its reply, or its error (a reply it built anyway is freed).
 * Returns the code sent. */
static phx_status_t answer(mrpc_ctx_t *ctx, const phx_desc_t *in, const mrpc_method_desc_t *m,
                           phx_status_t code, mrpc_call_t *call, ProtobufCMessage *reply)
{
    if (code == PHX_OK && reply && reply->descriptor == m->output &&
        phx_heap_usable_size(ctx->heap, reply)) {
        reply_message(ctx, in, reply);
        return PHX_OK;
    }
    mrpc_message_free(ctx, reply);
    if (code == PHX_OK) {
        lib_status_set(&call->error, PHX_INTERNAL, "the handler of %s returned %s",
                       m->full_name, reply ? "a reply of another type or outside the send heap"
                                           : "no reply");
        code = PHX_INTERNAL;
    } else if (!call->error_set) {
        lib_status_set(&call->error, code, "%s failed: %s", m->full_name, phx_status_name(code));
    }
    reply_error(ctx, in, code, call->error.message);
    return code;
}

/* The service serving the call's method and the method's index in it, or NULL. */
static const struct lib_service *find_method(mrpc_ctx_t *ctx, const phx_desc_t *in,
                                             unsigned *index)
{
    uint64_t v;

    if (!phx_u64map_get(&ctx->methods, lib_method_key(in->service_id, in->method_id), &v))
        return NULL;
    const struct lib_service *s = (const struct lib_service *)(uintptr_t)v;
    for (unsigned i = 0; i < s->desc->n_methods; i++) {
        if (s->desc->methods[i].method_id == in->method_id) {
            *index = i;
            return s;
        }
    }
    return NULL;
}

void lib_on_incoming_call(mrpc_ctx_t *ctx, const phx_desc_t *in)
{
    const ProtobufCMessage *req = (const ProtobufCMessage *)(uintptr_t)in->addr;
    unsigned index = 0;
    const struct lib_service *s = find_method(ctx, in, &index);

    if (!s || !lib_in_recv_heap(ctx, in->addr, in->len) || !in->addr) {
        reply_error(ctx, in, PHX_UNIMPLEMENTED, "no handler for this method here");
        lib_release_addr(ctx, in->addr);
        return;
    }
    mrpc_call_t call = { .ctx = ctx };
    ProtobufCMessage *reply = NULL;
    phx_status_t code = s->desc->dispatch(s->handlers, s->impl, index, &call, req, &reply);
    bool meant_ok = code == PHX_OK;
    if (code == PHX_OK && reply && phx_heap_usable_size(ctx->heap, reply) &&
        lib_localize(ctx, reply, "reply", &call.error) != PHX_OK) {
        call.error_set = true;          /* before the request goes back: the reply borrows */
        code = call.error.code;
    }
    mrpc_release(ctx, req);
    const mrpc_method_desc_t *m = &s->desc->methods[index];
    if (answer(ctx, in, m, code, &call, reply) != PHX_OK && meant_ok)
        server_told(s->server, m->full_name, &call.error);
}

void lib_reply_not_sent(mrpc_ctx_t *ctx, const phx_desc_t *d)
{
    unsigned index = 0;
    const struct lib_service *s = find_method(ctx, d, &index);
    mrpc_status_t st;

    if (!s || d->status == PHX_UNAVAILABLE || d->status == PHX_CANCELLED)
        return;                         /* a service removed since, or the caller went away */
    lib_status_set(&st, (phx_status_t)d->status, "the mRPC service could not send the reply: %s",
                   phx_status_name((phx_status_t)d->status));
    server_told(s->server, s->desc->methods[index].full_name, &st);
}

void mrpc_call_set_error(mrpc_call_t *call, phx_status_t code, const char *message)
{
    if (!call)
        return;
    call->error_set = true;
    lib_status_set(&call->error, code, "%s", message ? message : phx_status_name(code));
}

/* ---- servers ----------------------------------------------------------------------------- */

mrpc_server_t *mrpc_bind(mrpc_ctx_t *ctx, const char *addr, mrpc_status_t *status)
{
    mrpc_status_t local;
    mrpc_status_t *st = status ? status : &local;
    mrpc_server_t *srv = calloc(1, sizeof(*srv));
    mrpc_server_t **list = realloc(ctx->servers, (ctx->n_servers + 1) * sizeof(*list));

    if (list)
        ctx->servers = list;
    if (!srv || !list) {
        free(srv);
        lib_status_set(st, PHX_RESOURCE_EXHAUSTED, "out of memory");
        return NULL;
    }
    srv->ctx = ctx;
    if (lib_endpoint_open(ctx, &srv->ep, MRPC_APP_BIND, addr, st) != PHX_OK) {
        free(srv);
        return NULL;
    }
    ctx->servers[ctx->n_servers++] = srv;
    return srv;
}

static phx_status_t service_valid(mrpc_server_t *server, const mrpc_service_desc_t *service,
                                  mrpc_status_t *st)
{
    if (!server || !service || !service->dispatch || !service->n_methods || !service->methods)
        lib_status_set(st, PHX_INVALID_ARGUMENT, "a server and a generated service "
                       "description are needed");
    else if (phx_u64map_get(&server->ctx->methods,
                             lib_method_key(service->service_id, service->methods[0].method_id),
                             NULL))
        lib_status_set(st, PHX_ALREADY_EXISTS, "%s is served already", service->full_name);
    else
        lib_status_set(st, PHX_OK, "OK");
    return st->code;
}

static void file_methods(mrpc_ctx_t *ctx, struct lib_service *s, bool add)
{
    for (unsigned i = 0; i < s->desc->n_methods; i++) {
        uint64_t key = lib_method_key(s->desc->service_id, s->desc->methods[i].method_id);
        if (add)
            phx_u64map_put(&ctx->methods, key, (uintptr_t)s);
        else
            phx_u64map_remove(&ctx->methods, key, NULL);
    }
}

mrpc_status_t mrpc_server_add_service(mrpc_server_t *server, const mrpc_service_desc_t *service,
                                      const void *handlers, void *impl)
{
    mrpc_status_t st;
    struct lib_service *s;

    if (service_valid(server, service, &st) != PHX_OK ||
        lib_register(server->ctx, service, true, &st) != PHX_OK)
        return st;
    if (!(s = calloc(1, sizeof(*s)))) {
        lib_status_set(&st, PHX_RESOURCE_EXHAUSTED, "out of memory");
        return st;
    }
    *s = (struct lib_service){ .desc = service, .handlers = handlers, .impl = impl,
                               .server = server, .next = server->services };
    server->services = s;
    file_methods(server->ctx, s, true);
    lib_status_set(&st, PHX_OK, "OK");
    return st;
}

mrpc_status_t mrpc_serve(mrpc_server_t *server)
{
    mrpc_status_t st;

    if (!server) {
        lib_status_set(&st, PHX_INVALID_ARGUMENT, "mrpc_serve needs a server");
        return st;
    }
    while (!server->stopping) {
        if (mrpc_ctx_progress(server->ctx, LIB_SERVE_SLICE_MS) < 0) {
            lib_status_set(&st, PHX_UNAVAILABLE, "the mRPC service went away");
            return st;
        }
    }
    server->stopping = 0;
    lib_status_set(&st, PHX_OK, "OK");
    return st;
}

void mrpc_server_stop(mrpc_server_t *server)
{
    if (server)
        server->stopping = 1;
}

/* Frees SRV's services (unfiled from the context) and SRV; CLOSE only when TELL. */
static void server_free(mrpc_server_t *srv, bool tell)
{
    mrpc_ctx_t *ctx = srv->ctx;

    while (srv->services) {
        struct lib_service *s = srv->services;
        srv->services = s->next;
        file_methods(ctx, s, false);
        free(s);
    }
    if (tell)
        lib_endpoint_close(ctx, &srv->ep);
    else
        phx_u64map_remove(&ctx->endpoints, srv->ep.id, NULL);
    free(srv);
}

void mrpc_server_close(mrpc_server_t *server)
{
    if (!server)
        return;
    mrpc_ctx_t *ctx = server->ctx;
    for (size_t i = 0; i < ctx->n_servers; i++) {
        if (ctx->servers[i] == server) {
            ctx->servers[i] = ctx->servers[--ctx->n_servers];
            break;
        }
    }
    server_free(server, true);
}

void lib_servers_fini(mrpc_ctx_t *ctx)
{
    while (ctx->n_servers)
        server_free(ctx->servers[--ctx->n_servers], false);
    free(ctx->servers);
    ctx->servers = NULL;
    phx_u64map_fini(&ctx->methods);
}
