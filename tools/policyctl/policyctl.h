/* policyctl.h - what the commands of policyctl share: the policy types it knows, and the
 * service's view of an app (its subscription, its engines, a policy's stats).
 *
 * policyctl talks to phoenixd only through the control protocol, as phoenixctl does, with the
 * client and table helpers both tools share (tools/common). A command is one function in its own
 * cmd_NAME.c, called with argv[0] rewritten to "policyctl NAME". */
#ifndef POLICYCTL_H
#define POLICYCTL_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>

#include "ctl_client.h"
#include "ctl_common.h"

/* A policy type: the name admins type, its engine type and the plugin that provides it (one row
 * of types.c's table). */
typedef struct {
    const char *name;           /* "ratelimit" */
    const char *engine;         /* "RateLimitEngine" */
    const char *plugin;         /* "ratelimit" (its section in phoenix.conf's settings) */
    const char *summary;
    bool        sided;          /* takes a `side` setting (client, server, both): attach --side */
} pctl_type_t;

/* The type named NAME (its name or its engine type, case-insensitive), or NULL. */
const pctl_type_t *pctl_type_find(const char *name);
/* The type whose engine type is ENGINE, or NULL (an addon that is no policy policyctl knows). */
const pctl_type_t *pctl_type_of_engine(const char *engine);
/* Every known type, ended by a row whose name is NULL. */
extern const pctl_type_t pctl_types[];

typedef Phoenix__Control__Subscription pctl_sub_t;

/* The service's subscriptions (free with phoenix__control__response__free_unpacked). Exit code;
 * *RESP set when PHXCTL_EXIT_OK. */
int  pctl_fetch_list(const phxctl_conn_t *conn, Phoenix__Control__Response **resp);
/* PID's subscription SID (SID < 0: its newest one) in LIST, or NULL after saying why. */
const pctl_sub_t *pctl_find_sub(const Phoenix__Control__ListReply *list, long long pid,
                                long long sid);
/* Whether engine type TYPE is one of SUB's addons. */
bool pctl_is_addon(const pctl_sub_t *sub, const char *type);
/* The engine's answer to "stats", parsed, or NULL. */
json_object *pctl_engine_stats(const phxctl_conn_t *conn, uint64_t engine_id);

/* "key = value; ..." from the --set arguments KV[0..N), each "key=value"; NULL after a usage
 * error on stderr (*RC the exit code). Malloc'd. */
char *pctl_config_string(char *const *kv, unsigned n, const char *prog, int *rc);

/* FILE's text (libconfig settings, NULL: none) then the --set arguments, as one config_string
 * whose first lines are FILE's; NULL after saying why (*RC the exit code). Malloc'd. */
char *pctl_config_text(const char *file, char *const *kv, unsigned n, const char *prog, int *rc);

int pctl_cmd_list(int argc, char **argv);
int pctl_cmd_attach(int argc, char **argv);
int pctl_cmd_detach(int argc, char **argv);
int pctl_cmd_set(int argc, char **argv);
int pctl_cmd_rules(int argc, char **argv);

/* Standing rules (cmd_rules.c): SELECTOR "job" (JOB), "uid" (UID) or "all"; remove RULE, or
 * (RULE <= 0) every rule of JOB. Print the service's answer; return the exit code. */
int pctl_rule_add(const phxctl_conn_t *conn, const char *selector, const char *job, long long uid,
                  const char *engine, const char *config);
int pctl_rule_remove(const phxctl_conn_t *conn, long long rule, const char *job);

#endif /* POLICYCTL_H */
