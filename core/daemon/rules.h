/* rules.h - standing rules: a policy attached to every app that matches a selector (a Slurm
 * job, a uid, or all apps), those registered now and those that register later.
 *
 * A rule is kept in the service (struct phx_service's list), and in the rules file so that it
 * outlives a restart (rules_store.h), until it is removed: `policyctl
 * detach --rule N`, or `policyctl detach --job J` for every rule of job J (what a Slurm epilog
 * calls). Removing a rule detaches the engines it attached. At registration the control thread
 * applies every matching rule after the default chain is built and before the app has its
 * rings, so the app's first call already goes through the policies. A rule whose engine cannot
 * go into an app (it has that engine already, or the policy refuses its settings) skips that app
 * with a log line; the app registers all the same.
 *
 * Bounds: control.max_rules rules at once; an ordinary user holds at most
 * control.max_user_rules, only for their own uid, and ordinary users' rules together at most
 * half of max_rules, so that administrators always have room. */
#ifndef PHX_RULES_H
#define PHX_RULES_H

#include "admin.h"
#include "jobid.h"
#include "phoenix/engine.h"
#include "phoenix/status.h"

struct phx_service;
struct phx_subscription;

enum phx_rule_kind { PHX_RULE_JOB, PHX_RULE_UID, PHX_RULE_ALL };

struct phx_rule {
    unsigned           id;
    enum phx_rule_kind kind;
    char               job[PHX_JOB_ID_MAX];     /* PHX_RULE_JOB */
    uid_t              uid;                     /* PHX_RULE_UID */
    char               engine[PHX_NAME_MAX];
    char              *config;                  /* config_string, "" for none */
    uid_t              created_uid;
    bool               by_admin;
    bool               dropped;                 /* being removed: not written (rules_store.h) */
    struct phx_rule   *next;
};

/* What a rule is made of, from a request or from the rules file. */
struct phx_rule_spec {
    const char *selector;                       /* "job", "uid" or "all" */
    const char *job;                            /* digits, for "job" */
    uint32_t    uid;                            /* for "uid" */
    const char *engine;                         /* an engine type a loaded plugin provides */
    const char *config_string;                  /* "" for none */
};

/* A new rule of SPEC, created by PEER (its uid and admin standing are the rule's owner), not
 * linked yet: PHX_OK with *OUT, or a status with a sentence in WHY (a bad selector or job, an
 * engine type no plugin provides, a rule PEER may not create, no room). */
phx_status_t phx_rule_make(struct phx_service *svc, const struct phx_peer *peer,
                           const struct phx_rule_spec *spec, struct phx_rule **out, char *why,
                           size_t n);
/* Appends R to SVC's rules with ID (0: the next one); ids given later stay above it. */
void phx_rule_link(struct phx_service *svc, struct phx_rule *r, unsigned id);
void phx_rule_free(struct phx_rule *r);

/* Applies every rule matching SUB, just registered and not on a runtime yet (phx_service_register
 * places it after them). Never fails the registration. */
void phx_rules_on_register(struct phx_service *svc, struct phx_subscription *sub);
/* Frees every rule (the engines stay: the service is going down). */
void phx_rules_fini(struct phx_service *svc);

/* The admin requests (admin.c's table): add, remove, list. */
int phx_admin_rule_add(struct phx_service *svc, const struct phx_peer *peer,
                       const Phoenix__Control__Request *req, Phoenix__Control__Response *resp);
int phx_admin_rule_remove(struct phx_service *svc, const struct phx_peer *peer,
                          const Phoenix__Control__Request *req, Phoenix__Control__Response *resp);
int phx_admin_rules(struct phx_service *svc, const struct phx_peer *peer,
                    const Phoenix__Control__Request *req, Phoenix__Control__Response *resp);

#endif /* PHX_RULES_H */
