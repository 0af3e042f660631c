/* policy_fixture.h - policyctl against a node of mrpc_fixture.h, for the policy tests.
 *
 *     CU_ASSERT(policy_attach(&up.client_node, "ratelimit", getpid(), "requests_per_sec=1000",
 *                             NULL) == 0);
 *     json_object *stats = policy_stats(&up.client_node, "RateLimitEngine", getpid());
 *     long n = policy_json_path_int(stats, "tx.forwarded");
 *     CU_ASSERT(policy_detach(&up.client_node, "ratelimit", getpid()) == 0);
 *
 * Every run of policyctl is bounded in time (phx_test_run's default) and reaped.
 *
 * Traffic: a policy_flow keeps Echo (or Fail) calls in flight on a connection of the echo server
 * (tests/mrpc/mrpc_test.proto) and counts how they end:
 *
 *     static struct policy_flow f;
 *     policy_flow_init(&f, up.ctx, up.conn, 48);
 *     policy_flow_run(&f, 0, 500, 16, false, PHX_RESOURCE_EXHAUSTED);
 *     CU_ASSERT_EQUAL(f.wrong, 0);            (every failure was RESOURCE_EXHAUSTED)
 *
 * Every loop is bounded in time (60 s for a run, 30 s for a drain). */
#ifndef POLICY_FIXTURE_H
#define POLICY_FIXTURE_H

#include "mrpc_fixture.h"

#include <json-c/json.h>

/* Starts PROGRAM as an app of N (mrpc_peer_start, ready at "ready") with SLURM_JOB_ID=JOB in its
 * environment (JOB NULL: none), as an app of that Slurm job would be (unverified). */
bool policy_peer_of_job(struct mrpc_peer *p, const struct mrpc_node *n, const char *program,
                        const char *job);

/* Runs `policyctl ARGS... --prefix <N's>` (ARGS NULL-terminated); its exit code, output in R. */
int policy_ctl(const struct mrpc_node *n, const char *const *args, phx_test_run_result_t *r);
/* `policyctl attach TYPE --pid PID --set S...` (the settings NULL-terminated); its exit code. */
int policy_attach(const struct mrpc_node *n, const char *type, pid_t pid, ...);
/* `policyctl detach TYPE --pid PID`; its exit code. */
int policy_detach(const struct mrpc_node *n, const char *type, pid_t pid);
/* `policyctl set ID KEY=VALUE...` for the ENGINE attached to PID (NULL-terminated); exit code. */
int policy_set(const struct mrpc_node *n, const char *engine, pid_t pid, ...);
/* The stats of the ENGINE attached to PID, as `policyctl list --json` shows them, or NULL. */
json_object *policy_stats(const struct mrpc_node *n, const char *engine, pid_t pid);
/* The engine id of the ENGINE attached to PID, or -1. */
long policy_engine_id(const struct mrpc_node *n, const char *engine, pid_t pid);
/* The same for the subscription SID of PID (an app with several contexts). */
json_object *policy_stats_sid(const struct mrpc_node *n, const char *engine, pid_t pid,
                              unsigned sid);
long policy_engine_id_sid(const struct mrpc_node *n, const char *engine, pid_t pid,
                          unsigned sid);
/* The integer at PATH ("tx.forwarded") in O, or -1. */
long policy_json_path_int(json_object *o, const char *path);

/* ---- refusals ------------------------------------------------------------------------------- */

/* Asserts a refusal: a run that exited with RC (its output in R) exited 1 with one line on
 * stderr holding WANT; prints that line. */
void policy_expect_refusal(int rc, const phx_test_run_result_t *r, const char *want);
/* Asserts that `policyctl attach TYPE --pid PID --set S...` (the settings NULL-terminated) is
 * refused as policy_expect_refusal() says, the line holding WANT. */
void policy_attach_refused(const struct mrpc_node *n, const char *type, pid_t pid,
                           const char *want, ...);

/* ---- traffic -------------------------------------------------------------------------------- */

#define POLICY_FLOW_CALLS 10000         /* calls whose status is kept, by number */

struct policy_flow;
struct policy_flow_call {
    struct policy_flow *flow;
    unsigned            seq;
};

struct policy_flow {
    mrpc_ctx_t  *ctx;
    mrpc_conn_t *conn;
    size_t       payload;               /* bytes of data in each Echo (at most 64 KiB) */
    int          want;                  /* the status failures should have */
    unsigned     inflight, done, ok, failed;
    unsigned     exhausted;             /* failures with RESOURCE_EXHAUSTED */
    unsigned     wrong;                 /* failures with another status than `want` (the first
                                           is printed) */
    unsigned     sentences;             /* failures with a message (the first is printed) */
    char         message[200];          /* the first failure's message, as the caller read it */
    mrpc_call_id_t last_id;             /* the newest call's, for mrpc_cancel() */
    int          status[POLICY_FLOW_CALLS];      /* of call number seq, when seq < the size */
    struct policy_flow_call calls[POLICY_FLOW_CALLS];
};

/* F emptied, for calls on CONN of CTX carrying PAYLOAD bytes. */
void policy_flow_init(struct policy_flow *f, mrpc_ctx_t *ctx, mrpc_conn_t *conn, size_t payload);
/* One call numbered SEQ (the Blob's seq): Fail with NOT_FOUND when FAIL, else Echo. */
bool policy_flow_submit(struct policy_flow *f, unsigned seq, bool fail);
/* Progresses the context until no call of F is in flight (30 s at most; asserts it). */
void policy_flow_drain(struct policy_flow *f);
/* Calls numbered FIRST .. FIRST + N - 1, at most WIDTH in flight (60 s at most), failures
 * expected with WANT, then drained; asserts all were sent. Returns how many succeeded. */
unsigned policy_flow_run(struct policy_flow *f, unsigned first, unsigned n, unsigned width,
                         bool fail, int want);
/* N calls of 48 bytes on UP's connection (Fail when FAIL, else Echo), POLICY_CALLS_WIDTH in
 * flight, each failure expected with NOT_FOUND; asserts all N ended. Returns how many
 * succeeded. */
#define POLICY_CALLS_WIDTH 16
unsigned policy_calls(const struct mrpc_setup *up, unsigned n, bool fail);
/* N Echo calls of PAYLOAD bytes from CTX on CONN, 4 in flight: asserts all succeed. */
void policy_calls_ok(mrpc_ctx_t *ctx, mrpc_conn_t *conn, size_t payload, unsigned n);

/* ---- a held call cancelled (docs/policies.md, "Cancels") ---------------------------------- */

/* Where to look: the policy ENGINE attached to PID (subscription SID, or -1: any) on NODE, and
 * the app that serves the calls (SERVER_PID on SERVER). */
struct policy_held {
    const struct mrpc_node *node, *server;
    const char             *engine;
    pid_t                   pid, server_pid;
    long                    sid;
};

/* The counter NAME of the MrpcEngine of PID's newest subscription on N (admin "stats"), or -1. */
long policy_app_stat(const struct mrpc_node *n, pid_t pid, const char *name);
/* F's newest call, which H's policy holds (or will once it arrives: 10 s at most), is cancelled
 * by the app. Asserts that its callback ran once, with CANCELLED, at mrpc_cancel(); that the
 * policy withdrew it (tx.cancelled one more, tx.forwarded unchanged) and holds nothing after
 * (tx.waiting 0); and that the server's app was never handed it (its incoming_calls unchanged,
 * 300 ms on). */
void policy_cancel_held(struct policy_flow *f, const struct policy_held *h);

#endif /* POLICY_FIXTURE_H */
