/* peer_main.c - the main() of the mRPC tests' server programs (see peer_main.h). */
#include "peer_main.h"

#include <signal.h>
#include <stdio.h>

static mrpc_server_t *server;       /* what SIGTERM stops */

static void on_signal(int sig)
{
    mrpc_server_stop(server);
}

int mrpc_peer_main(int argc, char **argv, const char *name, mrpc_peer_add_fn add)
{
    mrpc_status_t st;

    if (argc != 2) {
        fprintf(stderr, "usage: %s ADDR:PORT\n", argv[0]);
        return 2;
    }
    mrpc_ctx_t *ctx = mrpc_ctx_create(NULL, &st);
    if (!ctx || !(server = mrpc_bind(ctx, argv[1], &st))) {
        fprintf(stderr, "%s: %s: %s\n", name, phx_status_name(st.code), st.message);
        mrpc_ctx_destroy(ctx);
        return 1;
    }
    st = add(server, ctx);
    if (st.code == PHX_OK) {
        signal(SIGTERM, on_signal);
        signal(SIGINT, on_signal);
        printf("ready\n");
        fflush(stdout);
        st = mrpc_serve(server);
    }
    if (st.code != PHX_OK)
        fprintf(stderr, "%s: %s: %s\n", name, phx_status_name(st.code), st.message);
    mrpc_server_close(server);
    mrpc_ctx_destroy(ctx);
    return st.code == PHX_OK ? 0 : 1;
}
