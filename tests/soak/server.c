/* server.c - soak_app --serve: answers Soak.Call with the caller's number until SIGTERM.
 *
 * One mrpc context bound to --serve ADDR; its progress loop runs the handler, which copies the
 * request's number into the reply. When the service goes away the server exits with status 1,
 * as a real server should: soak.sh starts it again once its service is back. */
#include "soak_app.h"

#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>

#define PROGRESS_MS 100

static atomic_bool stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    atomic_store(&stop_requested, true);
}

static phx_status_t call(void *impl, mrpc_call_t *call, const Soak__SoakRequest *req,
                         Soak__SoakReply **reply)
{
    mrpc_ctx_t *ctx = impl;
    Soak__SoakReply *r = (Soak__SoakReply *)mrpc_message_new(ctx, &soak__soak_reply__descriptor);

    if (!r) {
        mrpc_call_set_error(call, PHX_RESOURCE_EXHAUSTED, "the server's send heap is full");
        return PHX_RESOURCE_EXHAUSTED;
    }
    r->seq = req->seq;
    *reply = r;
    return PHX_OK;
}

static const Soak__Soak_Handlers handlers = { .call = call };

int soak_serve(const soak_args_t *a)
{
    struct sigaction sa = { .sa_handler = on_signal };
    mrpc_status_t st = { 0 };
    mrpc_ctx_t *ctx;
    mrpc_server_t *server = NULL;
    int rc = 0;

    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    if (!(ctx = mrpc_ctx_create(NULL, &st)) || !(server = mrpc_bind(ctx, a->addr, &st)) ||
        (st = soak__soak__add_to_server(server, &handlers, ctx)).code != PHX_OK) {
        fprintf(stderr, "soak_app: cannot serve on %s: %s\n", a->addr, st.message);
        rc = -1;
    } else {
        printf("soak_app: serving on %s\n", a->addr);
        fflush(stdout);
    }
    while (rc == 0 && !atomic_load(&stop_requested)) {
        if (mrpc_ctx_progress(ctx, PROGRESS_MS) < 0) {
            fprintf(stderr, "soak_app: %s: the mRPC service went away\n", a->addr);
            rc = -1;
        }
    }
    if (server)
        mrpc_server_close(server);
    if (ctx)
        mrpc_ctx_destroy(ctx);
    return rc;
}
