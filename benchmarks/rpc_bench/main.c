/* main.c - rpc_bench: unary calls through the mRPC service, client or server (see rpc_bench.h).
 *
 *     rpc_bench --server [-p PORT] [--num-server-threads N]
 *     rpc_bench -c HOST [-p PORT] [-r SIZE | -s SIZES] [--reply-size SIZE] [--concurrency N]
 *               [-t CALLS] [-w CALLS] [-D SECONDS] [-i SECONDS] [--num-client-threads N] [--json]
 *     rpc_bench --version
 *
 * Both sides talk to the local phoenixd found through $PHOENIX_PREFIX. Exit status: 0 done,
 * 1 the run failed (said on stderr), 2 bad command line. */
#include "rpc_bench.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    rpcb_args_t args;

    if (argc == 2 && strcmp(argv[1], "--version") == 0) {
        printf("rpc_bench %s\n", PHX_VERSION);
        return 0;
    }
    int rc = rpcb_parse_args(argc, argv, &args);

    if (rc != 0)
        return rc < 0 ? 2 : 0;
    signal(SIGPIPE, SIG_IGN);   /* a vanished service shows up as an error, not a signal */
    rc = args.server ? rpcb_serve(&args) : rpcb_run_client(&args);
    return rc < 0 ? 1 : 0;
}
