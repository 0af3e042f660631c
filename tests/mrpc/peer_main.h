/* peer_main.h - the main() of the mRPC tests' server programs (mrpc_test_peer, shop_peer).
 *
 * A server program is run as `PROGRAM ADDR:PORT` by mrpc_peer_start() (mrpc_fixture.h): it
 * registers with the Phoenix service at $PHOENIX_PREFIX, binds ADDR:PORT, adds its services,
 * prints "ready" once it serves, and serves until SIGTERM or SIGINT. All but the services is the
 * same for each, and is here:
 *
 *     static mrpc_status_t add_services(mrpc_server_t *server, mrpc_ctx_t *ctx)
 *     {
 *         return mrpc_test__echo__add_to_server(server, &handlers, ctx);
 *     }
 *
 *     int main(int argc, char **argv)
 *     {
 *         return mrpc_peer_main(argc, argv, "mrpc_test_peer", add_services);
 *     }
 */
#ifndef PEER_MAIN_H
#define PEER_MAIN_H

#include <mrpc/mrpc.h>

/* Adds a program's services to SERVER, bound in CTX; PHX_OK or why not. */
typedef mrpc_status_t (*mrpc_peer_add_fn)(mrpc_server_t *server, mrpc_ctx_t *ctx);

/* Runs the program NAME (for its messages) with ARGC and ARGV as main() got them, its services
 * added by ADD; main()'s exit code: 0 when it served and was stopped, 1 when it failed (its
 * service going away included), 2 on a wrong command line. */
int mrpc_peer_main(int argc, char **argv, const char *name, mrpc_peer_add_fn add);

#endif /* PEER_MAIN_H */
