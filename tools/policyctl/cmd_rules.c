/* cmd_rules.c - standing rules from the command line: `policyctl rules` lists them, and the rule
 * forms of attach (--job, --uid, --all) and detach (--rule N, --job J) send them.
 *
 * A rule is kept in the service (core/daemon/rules.h), which attaches the policy to the
 * matching apps registered now and to those that register later, and detaches what a rule
 * attached when the rule goes. The service checks the selector, the engine type and who asks;
 * its refusal, one sentence, is printed as it is. With --json, `rules` prints {"rules": [...]},
 * each rule with id, selector, engine, settings, created_uid, by_admin and the apps it applied
 * to (pid, sid, engine_id). */
#include "policyctl.h"

#include "table.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void rules_usage(FILE *out)
{
    fprintf(out, "Usage: policyctl rules [--json] [--prefix DIR] [--timeout SEC]\n"
                 "Lists the standing rules (made by `policyctl attach` for a job, a user or all\n"
                 "apps): id, selector, policy, settings, who created it and the apps it applied\n"
                 "to.\n\n"
                 "  -j, --json           print one JSON object instead of the table\n"
                 PHXCTL_CONN_HELP
                 "  -h, --help           show this help\n\n"
                 "Exit status: 0 done, 1 no service or it refused, 2 usage error.\n");
}

/* ---- add and remove ------------------------------------------------------------------------- */

int pctl_rule_add(const phxctl_conn_t *conn, const char *selector, const char *job, long long uid,
                  const char *engine, const char *config)
{
    Phoenix__Control__RuleAddRequest add = PHOENIX__CONTROL__RULE_ADD_REQUEST__INIT;
    Phoenix__Control__Request req = PHOENIX__CONTROL__REQUEST__INIT;
    Phoenix__Control__Response *resp;
    char origin[128];

    snprintf(origin, sizeof(origin), "policyctl attach by uid %d", (int)getuid());
    add.selector = (char *)selector;
    add.job = (char *)(job ? job : "");
    add.uid = uid >= 0 ? (uint32_t)uid : 0;
    add.engine = (char *)engine;
    add.config_string = (char *)config;
    add.origin = origin;
    req.body_case = PHOENIX__CONTROL__REQUEST__BODY_RULE_ADD;
    req.rule_add = &add;
    int rc = phxctl_call(conn, &req, PHOENIX__CONTROL__RESPONSE__BODY_RULE, &resp, NULL);
    if (rc == PHXCTL_EXIT_OK) {
        printf("%s\n", resp->rule->message);
        phoenix__control__response__free_unpacked(resp, NULL);
    }
    return rc;
}

int pctl_rule_remove(const phxctl_conn_t *conn, long long rule, const char *job)
{
    Phoenix__Control__RuleRemoveRequest rm = PHOENIX__CONTROL__RULE_REMOVE_REQUEST__INIT;
    Phoenix__Control__Request req = PHOENIX__CONTROL__REQUEST__INIT;
    Phoenix__Control__Response *resp;

    rm.rule_id = rule > 0 ? (uint32_t)rule : 0;
    rm.job = (char *)(job ? job : "");
    req.body_case = PHOENIX__CONTROL__REQUEST__BODY_RULE_REMOVE;
    req.rule_remove = &rm;
    int rc = phxctl_call(conn, &req, PHOENIX__CONTROL__RESPONSE__BODY_RULE, &resp, NULL);
    if (rc == PHXCTL_EXIT_OK) {
        printf("%s\n", resp->rule->message);
        phoenix__control__response__free_unpacked(resp, NULL);
    }
    return rc;
}

/* ---- rules ---------------------------------------------------------------------------------- */

static json_object *rule_json(const void *rules, size_t index)
{
    const Phoenix__Control__Rule *r = ((Phoenix__Control__Rule *const *)rules)[index];
    json_object *o = json_object_new_object(), *apps = json_object_new_array();

    for (size_t i = 0; i < r->n_applied; i++) {
        json_object *a = json_object_new_object();
        json_object_object_add(a, "pid", json_object_new_int64(r->applied[i]->pid));
        json_object_object_add(a, "sid", json_object_new_int64(r->applied[i]->sid));
        json_object_object_add(a, "engine_id",
                               json_object_new_int64((int64_t)r->applied[i]->engine_id));
        json_object_array_add(apps, a);
    }
    const pctl_type_t *t = pctl_type_of_engine(r->engine);
    json_object_object_add(o, "id", json_object_new_int64(r->id));
    json_object_object_add(o, "selector", json_object_new_string(r->selector));
    json_object_object_add(o, "type", json_object_new_string(t ? t->name : r->engine));
    json_object_object_add(o, "engine", json_object_new_string(r->engine));
    json_object_object_add(o, "settings", json_object_new_string(r->config_string));
    json_object_object_add(o, "created_uid", json_object_new_int64(r->created_uid));
    json_object_object_add(o, "by_admin", json_object_new_boolean(r->by_admin));
    json_object_object_add(o, "applied", apps);
    return o;
}

static char *applied_cell(const Phoenix__Control__Rule *r)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);

    if (!f)
        return NULL;
    for (size_t i = 0; i < r->n_applied; i++)
        fprintf(f, "%spid %u sid %u (engine %llu)", i ? "\n" : "", r->applied[i]->pid,
                r->applied[i]->sid, (unsigned long long)r->applied[i]->engine_id);
    if (!r->n_applied)
        fputs("none", f);
    return fclose(f) == 0 ? text : NULL;
}

static int print_rules(Phoenix__Control__Response *resp, bool json)
{
    const Phoenix__Control__RulesReply *l = resp->rules;

    if (json)
        return phxctl_print_json_list("rules", l->rules, l->n_rules, rule_json);
    if (!l->n_rules) {
        printf("no rules\n");
        return PHXCTL_EXIT_OK;
    }
    phxctl_table_t *t = phxctl_table_new(6, (const char *[]){ "Rule", "Selector", "Type",
                                                              "Settings", "By", "Applied" });
    int rc = t ? 0 : -1;
    for (size_t i = 0; rc == 0 && i < l->n_rules; i++) {
        const Phoenix__Control__Rule *r = l->rules[i];
        const pctl_type_t *ty = pctl_type_of_engine(r->engine);
        char id[16], by[32], *apps = applied_cell(r);
        snprintf(id, sizeof(id), "%u", r->id);
        snprintf(by, sizeof(by), "uid %u%s", r->created_uid, r->by_admin ? " (admin)" : "");
        rc = phxctl_table_add_row(t, (const char *[]){ id, r->selector, ty ? ty->name : r->engine,
                                                       *r->config_string ? r->config_string : "-",
                                                       by, apps ? apps : "" });
        free(apps);
    }
    return phxctl_table_emit(t, rc);
}

int pctl_cmd_rules(int argc, char **argv)
{
    Phoenix__Control__RulesRequest body = PHOENIX__CONTROL__RULES_REQUEST__INIT;
    Phoenix__Control__Request req = PHOENIX__CONTROL__REQUEST__INIT;

    req.body_case = PHOENIX__CONTROL__REQUEST__BODY_RULES;
    req.rules = &body;
    return phxctl_query(argc, argv, rules_usage, &req, PHOENIX__CONTROL__RESPONSE__BODY_RULES,
                        print_rules);
}
