/* mrpc_fixture.h - two Phoenix services and the test server, for the mRPC tests.
 *
 * A "node" is one phoenixd with the mrpc and ucx plugins from the build, on a private prefix
 * (daemon_harness.h), UCX pinned to tcp. Where the test runs as root and `ip netns add` works,
 * the two sides are two hosts: once per test process the fixture makes two network namespaces
 * joined by a veth pair (phx<pid>a 10.231.N.1, phx<pid>b 10.231.N.2; removed at exit), starts
 * client-side nodes in A and server-side nodes and their server programs in B, each with UCX
 * pinned to its namespace's veth. Otherwise both sides share loopback (UCX on lo, servers on
 * 127.0.0.1), and the fixture says once why. The test process itself stays where it is: it
 * reaches a node through the node's unix socket, which crosses namespaces.
 *
 * The tests run the client side in their own process (libmrpc, or raw descriptors through
 * phoenix/client.h) against a client-side node, and the test server (mrpc_test_peer, or the
 * rpc_hello example) against a server-side one; ports come from the kernel (bind to port 0), so
 * parallel test runs do not collide:
 *
 *     struct mrpc_node server_node, client_node;
 *     CU_ASSERT_FATAL(mrpc_node_start(&server_node, "srv", MRPC_SIDE_SERVER));
 *     CU_ASSERT_FATAL(mrpc_node_start(&client_node, "cli", MRPC_SIDE_CLIENT));
 *     struct mrpc_peer peer;
 *     CU_ASSERT_FATAL(mrpc_peer_start(&peer, &server_node, MRPC_TEST_PEER, "ready"));
 *     ... connect to peer.addr through client_node.d.prefix ...
 *     mrpc_peer_stop(&peer);
 *     mrpc_node_stop(&server_node);
 *
 * Most tests want exactly that, with this process connected through libmrpc: a struct mrpc_setup
 * holds the lot, started in that order by mrpc_setup_start() and stopped by mrpc_setup_stop():
 *
 *     static struct mrpc_setup up;
 *     CU_ASSERT_FATAL(mrpc_setup_start(&up, "mrpc", MRPC_TEST_PEER));
 *     ... calls through up.conn, messages in up.ctx ...
 *     mrpc_setup_stop(&up);
 *
 * (mrpc_setup_main() below does that for a program whose cases all share one set-up.)
 *
 * Every process started here is stopped by its PID and reaped within a bounded time. */
#ifndef MRPC_FIXTURE_H
#define MRPC_FIXTURE_H

#include "daemon_harness.h"

#include <json-c/json.h>
#include <mrpc/mrpc.h>
#include <stdbool.h>
#include <sys/types.h>

/* Which host a node stands for. */
enum mrpc_side {
    MRPC_SIDE_CLIENT,           /* namespace A: the node the test process calls through */
    MRPC_SIDE_SERVER,           /* namespace B: the node server programs run against */
};

struct mrpc_node {
    struct phx_daemon d;
    enum mrpc_side    side;
    struct mrpc_node *same_as;  /* a client-side node that is the server-side one (below) */
};

/* Starts a node on SIDE with heaps large enough for 64 MiB messages (the first start sets up the
 * two namespaces, or decides on loopback). */
bool mrpc_node_start(struct mrpc_node *n, const char *tag, enum mrpc_side side);
/* The same with MRPC_SETTINGS ("inflight_mb = 8;") added to its phoenix.conf's settings.mrpc and
 * settings.ucx sections (the limits both plugins have: max_message_mb, inflight_mb). */
bool mrpc_node_start_mrpc(struct mrpc_node *n, const char *tag, enum mrpc_side side,
                          const char *mrpc_settings);
/* The same with HEAP_SETTINGS ("send_mb = 256; recv_mb = 1; slab_kb = 256;") as its heap
 * section (NULL: the default above). */
bool mrpc_node_start_heap(struct mrpc_node *n, const char *tag, enum mrpc_side side,
                          const char *mrpc_settings, const char *heap_settings);
/* The client-side node CLI for the server-side node SRV: a node of its own (tag TAG), or, when
 * the environment says PHX_TEST_ONE_SERVICE=1, SRV itself, so that the test's calls are calls
 * between two apps of one service (the same-node path, settings.ucx.same_node, which
 * PHX_TEST_SAME_NODE=0/1 sets in every node's configuration; ctest runs the suites both ways).
 * Stopping such a CLI does nothing; SRV's stop stops the service. */
bool mrpc_client_node_start(struct mrpc_node *cli, struct mrpc_node *srv, const char *tag);
/* PHX_TEST_UCX_WORKER=thread|class|app in the environment sets settings.ucx.worker in every
 * node started afterwards. */
/* Whether the client side is the server-side node (PHX_TEST_ONE_SERVICE=1), and whether the
 * test's calls then take the same-node path (unless PHX_TEST_SAME_NODE=0). */
bool mrpc_one_service(void);
bool mrpc_same_node_path(void);
/* runtime.threads of every node: PHX_TEST_THREADS (1 to 8), else 1. With 2 in "shared" mode the
 * service gives its apps the threads in turn, so the server program and the test's own app run
 * on different runtime threads: the same-node path across threads (ucx_xlocal.c). */
unsigned mrpc_runtime_threads(void);

/* Stops it with SIG (SIGKILL: a crash) and removes its directory; true when it exited 0 (or was
 * not running). Its warnings and errors are copied to stderr first. */
bool mrpc_node_stop(struct mrpc_node *n, int sig);

/* True while N's phoenixd runs (a service that died is reaped here, and noted). */
bool mrpc_node_alive(struct mrpc_node *n);

/* A copy of the build's mrpc plugin in N's directory (a new build to upgrade to, as far as the
 * service can tell); its path in static storage, or NULL. */
const char *mrpc_node_plugin_copy(const struct mrpc_node *n);

/* Runs BRING_UP the first time it is called in a process and returns its outcome then and on
 * every later call: a test program starts its nodes once, and a failed start fails every case
 * instead of being retried by each. */
bool mrpc_bring_up_once(bool (*bring_up)(void));

/* A TCP port for a server to bind: below the kernel's ephemeral range (which the services' and
 * UCX's own sockets draw from, in every namespace), unused in this namespace now, and never one
 * this process was given before. In a node's own namespace only this test's picks compete.
 * tests/lib/ports.sh is the shell tests' twin. -1 after 200 draws. */
int  mrpc_free_port(void);

/* The IPv4 address servers on N listen on: its namespace's veth address, or 127.0.0.1. */
const char *mrpc_node_host(const struct mrpc_node *n);
/* N's network namespace ("" on loopback): where to run a program that must reach N's
 * loopback-only listeners (its metrics endpoint, metrics.listen = "127.0.0.1:0"). */
const char *mrpc_node_netns(const struct mrpc_node *n);

/* A server program running against a node. */
struct mrpc_peer {
    pid_t pid;
    char  addr[64];         /* HOST:PORT it serves on (mrpc_node_host() of its node) */
    char  log[320];         /* its stdout and stderr */
};

/* Starts PROGRAM ADDR with PHOENIX_PREFIX set to NODE's, in NODE's network namespace, and waits
 * (20 s at most) until its output contains READY. */
bool mrpc_peer_start(struct mrpc_peer *p, const struct mrpc_node *node, const char *program,
                     const char *ready);
/* SIGTERM, then its exit code (PHX_TEST_KILLED when it had to be killed). */
int  mrpc_peer_stop(struct mrpc_peer *p);
/* True when the peer's output contains TEXT. */
bool mrpc_peer_said(const struct mrpc_peer *p, const char *text);

/* ---- the usual set-up ---- */

/* Two nodes, a server program against the server-side one, and this process on the client-side
 * one with a libmrpc context and a connection to the program. */
struct mrpc_setup {
    struct mrpc_node server_node, client_node;
    struct mrpc_peer peer;      /* the server program */
    mrpc_ctx_t      *ctx;       /* ours, on client_node */
    mrpc_conn_t     *conn;      /* to peer */
};

/* Starts nodes "TAG-srv" (server side) and "TAG-cli" (client side), PROGRAM ready when it prints
 * "ready", the context and the connection; false when a step failed (why is on stderr), with
 * what did start left for mrpc_setup_stop(). */
bool mrpc_setup_start(struct mrpc_setup *s, const char *tag, const char *program);
/* Closes the connection and the context and stops the program and the nodes (whatever of them
 * started; nothing, for a set-up zeroed and never started); false when the program or a service
 * did not exit cleanly. */
bool mrpc_setup_stop(struct mrpc_setup *s);

/* Most test programs give all their cases that one set-up, started by the first case that needs
 * it (a failed start fails every case instead of being retried by each) and stopped when the
 * cases are done:
 *
 *     static struct mrpc_setup up;
 *     static void test_echo(void) { mrpc_need_setup(); ... up.ctx, up.conn ... }
 *     int main(int argc, char **argv)
 *     {
 *         return mrpc_setup_main(&up, "mrpc", "mrpc", MRPC_TEST_PEER, cases, argc, argv);
 *     }
 *
 * mrpc_setup_main() runs CASES as suite SUITE, with mrpc_setup_start(S, TAG, PROGRAM) as what
 * mrpc_need_setup() brings up, then mrpc_setup_stop(S); phx_test_main()'s exit code, or 1 when
 * the stop was not clean. */
int  mrpc_setup_main(struct mrpc_setup *s, const char *suite, const char *tag,
                     const char *program, const phx_test_case_t *cases, int argc, char **argv);
/* Ends the calling case (a fatal failure) unless mrpc_setup_main()'s set-up is up. */
void mrpc_need_setup(void);

/* ---- phoenixctl against a node (PHOENIXCTL_PATH) ---- */

/* Runs `phoenixctl ARGS... --prefix <N's>` (ARGS NULL-terminated); its exit code, output in R. */
int  mrpc_ctl(const struct mrpc_node *n, const char *const *args, phx_test_run_result_t *r);
/* The same with --json, parsed (json_object_put() it), or NULL when it failed. */
json_object *mrpc_ctl_json(const struct mrpc_node *n, const char *const *args);
/* The integer KEY of object O, or -1 when O has none. */
long         mrpc_json_int(json_object *o, const char *key);

/* A subscription as `phoenixctl list` shows it. */
struct mrpc_sub {
    unsigned sid;
    long     front_engine;      /* the id of its first engine (MrpcEngine) */
    long     back_engine;       /* the id of its last engine (UcxRpcAdapterEngine) */
    unsigned n_addons;          /* policies attached */
    unsigned runtime;           /* the runtime thread driving it */
    bool     runtime_urgent;    /* one kept for urgent apps (runtime.urgent_threads) */
};

/* The newest subscription of PID on N; false when it has none. */
bool mrpc_ctl_find_sub(const struct mrpc_node *n, pid_t pid, struct mrpc_sub *out);

/* Our environment with PHOENIX_PREFIX replaced by PREFIX (static storage, for phx_test_run). */
char *const *mrpc_env_with_prefix(const char *prefix);

#endif /* MRPC_FIXTURE_H */
