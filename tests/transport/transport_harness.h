/* transport_harness.h - what the transport's test programs share: two (or three) apps of one
 * process, each a subscription [WireTestEngine, UcxRpcAdapterEngine] of the "wiretest" service
 * with an app port of its own, turned by hand; admin requests to script them; the wire-up's
 * stats; private munged realms; and the main() that loads the plugins.
 *
 * test_transport.c (the transport itself), test_transport_hostile.c (junk, slowloris, half-open
 * storms and floods against a bound port), test_transport_ucxport.c (the same against UCX's own
 * TCP port) and test_transport_munge.c (peer authentication) each list their cases and call
 * transport_main(). WireTestEngine (wiretest/wiretest.c) scripts the
 * transport through admin requests and checks everything that comes up.
 *
 * UCX is pinned to loopback (UCX_NET_DEVICES=lo, forced) and to UCX_TLS=tcp unless the
 * environment says otherwise. Every wait is bounded in time; every child process is reaped. */
#ifndef PHX_TEST_TRANSPORT_HARNESS_H
#define PHX_TEST_TRANSPORT_HARNESS_H

#include "graph.h"
#include "hs_client.h"
#include "phoenix/app_port.h"
#include "phx_test.h"
#include "plugin_registry.h"
#include "testpair_driver.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MS 1000000ull

struct side {
    phx_app_port_t          *port;
    struct phx_subscription *sub;
    phx_engine_t            *wt, *ucx;
};

extern struct phx_registry reg;
extern struct side A, B, C;         /* C: a third app, only where a test says so */
extern char err[512];

/* ---- the apps ------------------------------------------------------------------------------ */

/* App SID whose group runtime thread RUNTIME drives, with a receive heap of RECV_SIZE bytes. */
void side_up_heap(struct side *s, unsigned sid, unsigned runtime, size_t recv_size);
void side_up_on(struct side *s, unsigned sid, unsigned runtime);    /* 512 MiB heap */
void side_up(struct side *s, unsigned sid);                         /* runtime 0 */
void side_down(struct side *s);
void pair_up(void);             /* A (1) and B (2) */
void pair_down(void);

/* The admin request FMT to E (asserted to succeed). */
void cmd(phx_engine_t *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The admin reply to REQUEST (malloc'd), for the engines' JSON documents. */
char *ask(phx_engine_t *e, const char *request);
long long st(phx_engine_t *e, const char *key);
/* N turns of A and B (those up). */
void turns(unsigned n);
/* Says what every engine of both sides reports, after a wait ran out. */
void dump_sides(const char *what);

/* Turns both sides until COND holds, at most MS_ milliseconds; whether it holds. */
#define RUN_UNTIL(cond, ms_)                                                              \
    ({                                                                                    \
        unsigned long long deadline_ = phx_test_now_ns() + (unsigned long long)(ms_) * MS; \
        bool ok_;                                                                         \
        while (!(ok_ = (cond)) && phx_test_now_ns() < deadline_)                          \
            turns(8);                                                                     \
        if (!ok_)                                                                         \
            dump_sides(#cond);                                                            \
        ok_;                                                                              \
    })

double secs_since(unsigned long long t0);
/* A binds 127.0.0.1:0 as binding 1 and B connects to it as connection 5; A's id for it. */
uint32_t pair_connect(void);
/* Nothing went wrong on WT's side that the wiretest engine could see. */
void assert_clean(phx_engine_t *wt);
/* B's connection CONN to A still carries a message of stream TAG. */
void round_trip(unsigned conn, unsigned tag);

/* B connects to A's binding again (connection ID): its CONNECTED status (PHX_OK: the service
 * still takes new connections). */
long long connect_again(unsigned id);

/* Crossed connects: A and B (up, on workers of their own) bind, then in each of ROUNDS rounds
 * connect to each other in the same turn (ids 10, 11, ...), so that UCX pairs their outgoing
 * endpoints with each other. Asserts that every CONNECT is answered OK and accepted on the other
 * side, that crossings happened (hs_crossed), and that one message each way on each connection
 * arrives exactly once. */
void cross_connect(unsigned rounds);

/* ---- runtime threads ----------------------------------------------------------------------- */

struct phx_runtime;

/* A and B each on a runtime thread of its own, as two services' apps would be. */
struct pair_threads {
    struct phx_runtime *a, *b;      /* runtime threads 0 and 1 */
};

/* Starts runtime threads 0 and 1 and gives A (up on runtime 0, side_up_on()) to the first and
 * B (up on runtime 1) to the second: from then on the threads turn them, not turns(). A failure
 * ends the case. */
void threads_up(struct pair_threads *t);
/* Takes A and B back from their threads and stops both threads. */
void threads_down(struct pair_threads *t);

/* The ucx plugin's settings of these tests (phoenix.conf's settings.ucx). */
extern const char usual_settings[];
/* The largest message usual_settings allows (max_message_mb = 8). */
#define MAX_SIZE (8u << 20)
/* Sets the ucx plugin's settings (settings.h text) for the engines created from now on. */
void ucx_settings(const char *text);
/* Whether the apps' connections take the same-node path (settings.ucx.same_node: on unless
 * PHX_TEST_SAME_NODE=0): their messages then never reach UCX (no batches, no parked frames). */
bool same_node_path(void);

/* ---- the wire-up --------------------------------------------------------------------------- */

/* E's refusals of handshakes for REASON (its stats' hs_refused), or -1. */
long long refused(phx_engine_t *e, const char *reason);
/* A non-blocking TCP socket connecting to 127.0.0.1:PORT, or -1. */
int dial(unsigned port);
/* Sends N bytes of P on FD once it is connected (at most a second). */
bool send_when_up(int fd, const void *p, size_t n);
/* A handshake frame header: magic, VERSION, TYPE, body length LEN, into OUT (12 bytes). */
void frame_head(uint8_t *out, uint8_t version, uint8_t type, uint32_t len);

/* ---- MUNGE --------------------------------------------------------------------------------- */

/* Realm I's munged (0 or 1: two keys, two realms; started on first use, stopped at exit): its
 * socket's path, and settings making the engines created from now on use it. */
const char *munge_socket(unsigned i);
void munge_settings(unsigned i);
/* Back to auth "none" (and no same-job restriction) for the engines created from now on. */
void auth_none(void);

/* Loads the plugins, runs CASES of SUITE (phx_test_main), stops what it started. */
/* A loopback TCP socket bound to a free port (*PORT); listening (never accepting on its own)
 * when BACKLOG > 0. */
int loopback_socket(int backlog, unsigned *port);

/* A handshake client (hs_client.h) to 127.0.0.1:PORT, run on its own thread by run_client()
 * while this one turns the apps: RC is hs_client_run()'s, R what it saw. */
struct replay_run {
    char             port[8];
    struct hs_client c;
    struct hs_result r;
    int              rc;
    bool             done;
    char             err[256];
};
void run_client(struct replay_run *run);

int transport_main(const char *suite, const phx_test_case_t *cases, int argc, char **argv);

#endif /* PHX_TEST_TRANSPORT_HARNESS_H */
