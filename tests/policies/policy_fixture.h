/* policy_fixture.h - policyctl against a node of mrpc_fixture.h, for the policy tests.
 *
 *     CU_ASSERT(policy_attach(&up.client_node, "ratelimit", getpid(), "requests_per_sec=1000",
 *                             NULL) == 0);
 *     json_object *stats = policy_stats(&up.client_node, "RateLimitEngine", getpid());
 *     long n = policy_json_path_int(stats, "tx.forwarded");
 *     CU_ASSERT(policy_detach(&up.client_node, "ratelimit", getpid()) == 0);
 *
 * Every run of policyctl is bounded in time (phx_test_run's default) and reaped. */
#ifndef POLICY_FIXTURE_H
#define POLICY_FIXTURE_H

#include "mrpc_fixture.h"

#include <json-c/json.h>

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

#endif /* POLICY_FIXTURE_H */
