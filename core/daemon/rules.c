/* rules.c - standing rules: kept, matched, applied at registration, removed (see rules.h).
 *
 * Applying a rule to an app is what `policyctl attach --pid` does, built here in the service:
 * the policy goes right behind the app's front engine (engines[0]), before what it feeds now
 * (engines[1]), in both directions, with every engine of the app named as the group; detaching
 * joins the engine's neighbours again. Both go through phx_splice(), which suspends the app's
 * group, on the control thread. Each engine a rule attached carries the rule's id (rule_id) and
 * its creator (attached_uid, attached_by_admin), so `policyctl rules` finds the apps a rule
 * applied to by looking at the engines, and removing the rule finds what to detach. */
#include "rules.h"

#include "control_server.h"
#include "rules_store.h"
#include "graph.h"
#include "phoenix/admin/addon_desc.h"
#include "phoenix/log.h"
#include "phoenix/settings.h"
#include "phoenix/status.h"
#include "service.h"
#include "splice.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RULE_MSG_MAX 1024

/* ---- matching and splicing ------------------------------------------------------------------ */

static bool rule_matches(const struct phx_rule *r, const struct phx_subscription *sub)
{
    switch (r->kind) {
    case PHX_RULE_JOB:
        return sub->job.id[0] && strcmp(sub->job.id, r->job) == 0;
    case PHX_RULE_UID:
        return sub->uid == r->uid;
    default:
        return true;
    }
}

static void rule_selector(const struct phx_rule *r, char *out, size_t len)
{
    if (r->kind == PHX_RULE_JOB)
        snprintf(out, len, "job %s", r->job);
    else if (r->kind == PHX_RULE_UID)
        snprintf(out, len, "uid %d", (int)r->uid);
    else
        snprintf(out, len, "all");
}

/* The attach descriptor of R for SUB (malloc'd), as policyctl builds it. */
static char *attach_text(const struct phx_rule *r, const struct phx_subscription *sub)
{
    const char *front = sub->engines[0]->ops->type, *next = sub->engines[1]->ops->type;
    const char *e = r->engine;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);

    if (!f)
        return NULL;
    fprintf(f, "addon_engine = \"%s\";\nop = \"attach\";\n"
               "tx_channels_replacements = ( (\"%s\", \"%s\", 0, 0), (\"%s\", \"%s\", 0, 0) );\n"
               "rx_channels_replacements = ( (\"%s\", \"%s\", 0, 0), (\"%s\", \"%s\", 0, 0) );\n"
               "group = [ ", e, front, e, e, next, next, e, e, front);
    for (unsigned i = 0; i < sub->n_engines; i++)
        fprintf(f, "%s\"%s\"", i ? ", " : "", sub->engines[i]->ops->type);
    fputs(" ];\n", f);
    if (*r->config) {
        fputs("config_string = \"", f);
        for (const char *c = r->config; *c; c++)
            fprintf(f, *c == '"' || *c == '\\' ? "\\%c" : "%c", *c);
        fputs("\";\n", f);
    }
    return fclose(f) == 0 ? text : (free(text), NULL);
}

static int splice_text(struct phx_service *svc, struct phx_subscription *sub, const char *text,
                       char *err, size_t errlen)
{
    struct phx_addon_desc d;
    int rc = phx_addon_desc_parse(text, "standing rule", &d, err, errlen);

    if (rc)
        return rc;
    rc = phx_splice(&svc->registry, sub, &d, err, errlen);
    phx_addon_desc_fini(&d);
    return rc;
}

/* Attaches R's engine to SUB. 0 (or -EEXIST: it has that engine already), or -errno with the
 * reason in ERR. */
static int rule_apply(struct phx_service *svc, const struct phx_rule *r,
                      struct phx_subscription *sub, char *err, size_t errlen)
{
    if (phx_subscription_find(sub, r->engine)) {
        snprintf(err, errlen, "pid %d sid %u has a %s already", (int)sub->pid, sub->sid,
                 r->engine);
        return -EEXIST;
    }
    if (sub->n_engines < 2) {
        snprintf(err, errlen, "pid %d sid %u has no engine to put %s behind", (int)sub->pid,
                 sub->sid, r->engine);
        return -EINVAL;
    }
    char *text = attach_text(r, sub);
    int rc = text ? splice_text(svc, sub, text, err, errlen) : -ENOMEM;
    free(text);
    if (rc == -ENOMEM && !err[0])
        snprintf(err, errlen, "out of memory");
    phx_engine_t *e = rc ? NULL : phx_subscription_find(sub, r->engine);
    if (e) {
        e->attached_uid = r->created_uid;
        e->attached_by_admin = r->by_admin;
        e->rule_id = r->id;
    }
    phx_info("rule %u (%s) on pid %d sid %u: %s%s", r->id, r->engine, (int)sub->pid, sub->sid,
             rc ? "skipped: " : "attached", rc ? err : "");
    return rc;
}

/* Detaches E (its neighbours in progress order joined again). */
static void engine_detach(struct phx_service *svc, phx_engine_t *e)
{
    struct phx_subscription *sub = e->sub;
    char err[RULE_MSG_MAX] = "", *text = NULL;
    unsigned at = 0;

    while (at < sub->n_engines && sub->engines[at] != e)
        at++;
    if (at == 0 || at + 1 >= sub->n_engines)
        return;
    const char *prev = sub->engines[at - 1]->ops->type, *next = sub->engines[at + 1]->ops->type;
    const char *type = e->ops->type;
    if (asprintf(&text, "addon_engine = \"%s\";\nop = \"detach\";\n"
                 "tx_channels_replacements = ( (\"%s\", \"%s\", 0, 0) );\n"
                 "rx_channels_replacements = ( (\"%s\", \"%s\", 0, 0) );\n",
                 type, prev, next, next, prev) < 0)
        return;
    int rc = splice_text(svc, sub, text, err, sizeof(err));
    free(text);
    if (rc)
        phx_warn("pid %d sid %u: cannot detach a rule's engine: %s", (int)sub->pid, sub->sid, err);
}

/* Detaches every engine rule ID attached; returns how many. */
static unsigned rule_detach_all(struct phx_service *svc, unsigned id)
{
    unsigned n = 0;

    for (struct phx_subscription *sub = svc->subs; sub; sub = sub->next) {
        for (unsigned i = 0; i < sub->n_engines; i++) {
            if (sub->engines[i]->addon && sub->engines[i]->rule_id == id) {
                engine_detach(svc, sub->engines[i]);
                n++;
                break;
            }
        }
    }
    return n;
}

void phx_rules_on_register(struct phx_service *svc, struct phx_subscription *sub)
{
    char err[RULE_MSG_MAX];

    for (struct phx_rule *r = svc->rules; r; r = r->next) {
        err[0] = '\0';
        if (rule_matches(r, sub))
            rule_apply(svc, r, sub, err, sizeof(err));
    }
}

void phx_rule_free(struct phx_rule *r)
{
    free(r->config);
    free(r);
}

void phx_rules_fini(struct phx_service *svc)
{
    while (svc->rules) {
        struct phx_rule *r = svc->rules;
        svc->rules = r->next;
        phx_rule_free(r);
    }
    svc->n_rules = 0;
}

/* ---- replies -------------------------------------------------------------------------------- */

static void reply_rule(Phoenix__Control__Response *resp, char *msg, unsigned id)
{
    Phoenix__Control__RuleReply *m = msg ? malloc(sizeof(*m)) : NULL;

    if (!m) {
        free(msg);
        phx_response_fail(resp, PHX_RESOURCE_EXHAUSTED, "out of memory for the reply");
        return;
    }
    phoenix__control__rule_reply__init(m);
    m->message = msg;
    m->rule_id = id;
    resp->body_case = PHOENIX__CONTROL__RESPONSE__BODY_RULE;
    resp->rule = m;
}

/* ---- add ------------------------------------------------------------------------------------ */

static unsigned user_rules(const struct phx_service *svc, uid_t uid, unsigned *all_users)
{
    unsigned n = 0;

    *all_users = 0;
    for (const struct phx_rule *r = svc->rules; r; r = r->next) {
        *all_users += !r->by_admin;
        n += !r->by_admin && r->created_uid == uid;
    }
    return n;
}

/* May PEER create a rule of kind K for UID? Room for it? PHX_OK, or a status with the reason
 * in WHY. */
static phx_status_t rule_admissible(const struct phx_service *svc, const struct phx_peer *peer,
                                    enum phx_rule_kind k, uid_t uid, char *why, size_t n)
{
    const phx_config_t *cfg = svc->cfg;
    unsigned all_users, mine = user_rules(svc, peer->uid, &all_users);

    if (!peer->admin && (k != PHX_RULE_UID || uid != peer->uid)) {
        snprintf(why, n, "only an administrator may create rules for a job, another uid or all "
                 "apps; you may use --uid %d (your own apps)", (int)peer->uid);
        return PHX_PERMISSION_DENIED;
    }
    if (svc->n_rules >= cfg->control.max_rules) {
        snprintf(why, n, "the service holds %u standing rules already (control.max_rules): "
                 "remove one first", svc->n_rules);
        return PHX_RESOURCE_EXHAUSTED;
    }
    if (!peer->admin && (mine >= cfg->control.max_user_rules ||
                         all_users >= cfg->control.max_rules / 2)) {
        snprintf(why, n, "uid %d holds %u standing rules and ordinary users %u "
                 "(control.max_user_rules is %u, users may take half of control.max_rules): "
                 "remove one first", (int)peer->uid, mine, all_users,
                 cfg->control.max_user_rules);
        return PHX_RESOURCE_EXHAUSTED;
    }
    return PHX_OK;
}

/* A rule's settings, checked when the rule is made against its plugin's schema as the engine's
 * create() reads them (over the defaults here, over the plugin's section there), so that a
 * mistyped key or value is refused now instead of skipping the rule, in the log only, at every
 * registration it matches. */
static phx_status_t rule_settings_ok(const struct phx_plugin *pl, const char *config, char *why,
                                     size_t n)
{
    const struct phx_settings_schema *schema = pl ? pl->desc->settings : NULL;
    char err[RULE_MSG_MAX];

    if (!schema || !config || !*config)
        return PHX_OK;
    void *set = calloc(1, schema->size);
    if (!set) {
        snprintf(why, n, "out of memory for the rule");
        return PHX_RESOURCE_EXHAUSTED;
    }
    int rc = phx_settings_derive(schema, set, NULL, config, err, sizeof(err));
    if (rc == 0)
        phx_settings_free(schema, set);
    free(set);
    if (rc == 0)
        return PHX_OK;
    snprintf(why, n, "the rule's settings for %s: %s", pl->desc->name, err);
    return PHX_INVALID_ARGUMENT;
}

phx_status_t phx_rule_make(struct phx_service *svc, const struct phx_peer *peer,
                           const struct phx_rule_spec *a, struct phx_rule **out, char *why,
                           size_t n)
{
    struct phx_rule *r;
    enum phx_rule_kind k;
    phx_status_t st;

    if (!strcmp(a->selector, "job"))
        k = PHX_RULE_JOB;
    else if (!strcmp(a->selector, "uid"))
        k = PHX_RULE_UID;
    else if (!strcmp(a->selector, "all"))
        k = PHX_RULE_ALL;
    else {
        snprintf(why, n, "a rule selects by job, uid or all, not '%.32s'", a->selector);
        return PHX_INVALID_ARGUMENT;
    }
    size_t jl = strlen(a->job);
    if (k == PHX_RULE_JOB && (jl == 0 || jl >= PHX_JOB_ID_MAX || strspn(a->job, "0123456789") != jl)) {
        snprintf(why, n, "a Slurm job id is a number, not '%.32s'", a->job);
        return PHX_INVALID_ARGUMENT;
    }
    struct phx_plugin *pl = NULL;
    if (!*a->engine || strlen(a->engine) >= PHX_NAME_MAX ||
        !phx_registry_engine_type(&svc->registry, a->engine, &pl)) {
        snprintf(why, n, "unknown engine type '%.64s'", a->engine);
        return PHX_NOT_FOUND;
    }
    if ((st = rule_admissible(svc, peer, k, (uid_t)a->uid, why, n)) != PHX_OK ||
        (st = rule_settings_ok(pl, a->config_string, why, n)) != PHX_OK)
        return st;
    if (!(r = calloc(1, sizeof(*r))) || !(r->config = strdup(a->config_string))) {
        free(r);
        snprintf(why, n, "out of memory for the rule");
        return PHX_RESOURCE_EXHAUSTED;
    }
    r->kind = k;
    if (k == PHX_RULE_JOB)
        memcpy(r->job, a->job, jl + 1);
    r->uid = (uid_t)a->uid;
    snprintf(r->engine, sizeof(r->engine), "%s", a->engine);
    r->created_uid = peer->uid;
    r->by_admin = peer->admin;
    *out = r;
    return PHX_OK;
}

/* A new rule from request A, or NULL with the reason in RESP. */
static struct phx_rule *rule_new(struct phx_service *svc, const struct phx_peer *peer,
                                 const Phoenix__Control__RuleAddRequest *a,
                                 Phoenix__Control__Response *resp)
{
    const struct phx_rule_spec spec = { .selector = a->selector, .job = a->job, .uid = a->uid,
                                        .engine = a->engine, .config_string = a->config_string };
    struct phx_rule *r = NULL;
    char why[RULE_MSG_MAX];
    phx_status_t st = phx_rule_make(svc, peer, &spec, &r, why, sizeof(why));

    if (st != PHX_OK)
        phx_response_fail(resp, st, "%s", why);
    return r;
}

void phx_rule_link(struct phx_service *svc, struct phx_rule *r, unsigned id)
{
    struct phx_rule **at = &svc->rules;

    while (*at)
        at = &(*at)->next;
    r->id = id ? id : ++svc->next_rule_id;
    if (r->id > svc->next_rule_id)
        svc->next_rule_id = r->id;
    *at = r;
    svc->n_rules++;
}

static void rule_unlink(struct phx_service *svc, struct phx_rule *r)
{
    for (struct phx_rule **at = &svc->rules; *at; at = &(*at)->next) {
        if (*at == r) {
            *at = r->next;
            svc->n_rules--;
            return;
        }
    }
}

int phx_admin_rule_add(struct phx_service *svc, const struct phx_peer *peer,
                       const Phoenix__Control__Request *req, Phoenix__Control__Response *resp)
{
    struct phx_rule *r = rule_new(svc, peer, req->rule_add, resp);
    char err[RULE_MSG_MAX], sel[64];
    unsigned applied = 0, skipped = 0;
    char *msg = NULL;

    if (!r)
        return 0;
    phx_rule_link(svc, r, 0);
    rule_selector(r, sel, sizeof(sel));
    for (struct phx_subscription *sub = svc->subs; sub; sub = sub->next) {
        err[0] = '\0';
        if (!rule_matches(r, sub))
            continue;
        int rc = rule_apply(svc, r, sub, err, sizeof(err));
        if (rc == -EINVAL && applied == 0) {       /* the policy refused the settings */
            rule_detach_all(svc, r->id);
            rule_unlink(svc, r);
            phx_rule_free(r);
            phx_response_fail(resp, PHX_INVALID_ARGUMENT, "%s", err);
            return 0;
        }
        applied += rc == 0;
        skipped += rc != 0;
    }
    if (phx_rules_save(svc, err, sizeof(err)) < 0) {   /* kept only if it outlives a restart */
        rule_detach_all(svc, r->id);
        rule_unlink(svc, r);
        phx_error("rule %u (%s) not added: %s", r->id, r->engine, err);
        phx_rule_free(r);
        phx_response_fail(resp, PHX_UNAVAILABLE, "the rule was not added: %s", err);
        return 0;
    }
    phx_info("admin uid %d pid %d: rule %u: %s for %s%s%s: applied to %u apps",
             (int)peer->uid, (int)peer->pid, r->id, r->engine, sel, *r->config ? ", " : "",
             r->config, applied);
    if (asprintf(&msg, "rule %u: %s for %s, applied to %u app%s now%s", r->id, r->engine, sel,
                 applied, applied == 1 ? "" : "s", skipped ? " (some skipped: see the log)" : "")
        < 0)
        msg = NULL;
    reply_rule(resp, msg, r->id);
    return 0;
}

/* ---- remove --------------------------------------------------------------------------------- */

static bool may_remove(const struct phx_peer *peer, const struct phx_rule *r,
                       Phoenix__Control__Response *resp)
{
    if (peer->admin || (!r->by_admin && r->created_uid == peer->uid))
        return true;
    phx_response_fail(resp, PHX_PERMISSION_DENIED, "rule %u was created by %s: only an "
                      "administrator may remove it", r->id,
                      r->by_admin ? "an administrator" : "another user");
    return false;
}

/* Whether removal request A names R. */
static bool remove_hits(const Phoenix__Control__RuleRemoveRequest *a, const struct phx_rule *r)
{
    return a->rule_id ? r->id == a->rule_id : r->kind == PHX_RULE_JOB && !strcmp(r->job, a->job);
}

/* Marks the rules A names as dropped, when PEER may remove every one of them: their count, or
 * -1 with the reason in RESP and nothing marked. */
static int mark_dropped(struct phx_service *svc, const struct phx_peer *peer,
                        const Phoenix__Control__RuleRemoveRequest *a,
                        Phoenix__Control__Response *resp)
{
    int n = 0;

    for (const struct phx_rule *r = svc->rules; r; r = r->next)
        if (remove_hits(a, r) && !may_remove(peer, r, resp))
            return -1;
    for (struct phx_rule *r = svc->rules; r; r = r->next)
        if (remove_hits(a, r)) {
            r->dropped = true;
            n++;
        }
    return n;
}

int phx_admin_rule_remove(struct phx_service *svc, const struct phx_peer *peer,
                          const Phoenix__Control__Request *req, Phoenix__Control__Response *resp)
{
    const Phoenix__Control__RuleRemoveRequest *a = req->rule_remove;
    unsigned removed = 0, detached = 0;
    char *msg = NULL, err[RULE_MSG_MAX];

    if (!a->rule_id && !*a->job) {
        phx_response_fail(resp, PHX_INVALID_ARGUMENT, "say which rule, or which job's rules, "
                          "to remove");
        return 0;
    }
    if (!a->rule_id && !peer->admin) {
        phx_response_fail(resp, PHX_PERMISSION_DENIED, "only an administrator may remove the "
                          "rules of a job");
        return 0;
    }
    int n = mark_dropped(svc, peer, a, resp);
    if (n < 0)
        return 0;
    if (a->rule_id && n == 0) {
        phx_response_fail(resp, PHX_NOT_FOUND, "no rule %u (`policyctl rules` lists them)",
                          a->rule_id);
        return 0;
    }
    if (n && phx_rules_save(svc, err, sizeof(err)) < 0) {  /* gone only once gone for good */
        for (struct phx_rule *r = svc->rules; r; r = r->next)
            r->dropped = false;
        phx_error("rules not removed: %s", err);
        phx_response_fail(resp, PHX_UNAVAILABLE, "nothing removed: %s", err);
        return 0;
    }
    for (struct phx_rule *r = svc->rules, *next; r; r = next) {
        next = r->next;
        if (!r->dropped)
            continue;
        detached += rule_detach_all(svc, r->id);
        rule_unlink(svc, r);
        phx_info("admin uid %d pid %d: rule %u (%s) removed", (int)peer->uid, (int)peer->pid,
                 r->id, r->engine);
        phx_rule_free(r);
        removed++;
    }
    if (asprintf(&msg, "removed %u rule%s, detached %u engine%s", removed,
                 removed == 1 ? "" : "s", detached, detached == 1 ? "" : "s") < 0)
        msg = NULL;
    reply_rule(resp, msg, 0);
    return 0;
}

/* ---- list ----------------------------------------------------------------------------------- */

static bool add_applied(const struct phx_service *svc, const struct phx_peer *peer,
                        const struct phx_rule *r, Phoenix__Control__Rule *m)
{
    for (struct phx_subscription *sub = svc->subs; sub; sub = sub->next) {
        if (!peer->admin && sub->uid != peer->uid)
            continue;           /* an ordinary user sees their own apps only */
        for (unsigned i = 0; i < sub->n_engines; i++) {
            const phx_engine_t *e = sub->engines[i];
            if (!e->addon || e->rule_id != r->id)
                continue;
            Phoenix__Control__RuleApp *app = malloc(sizeof(*app));
            void *grown = realloc(m->applied, (m->n_applied + 1) * sizeof(*m->applied));
            if (!app || !grown) {
                free(app);
                if (grown)
                    m->applied = grown;
                return false;
            }
            m->applied = grown;
            phoenix__control__rule_app__init(app);
            app->pid = (uint32_t)sub->pid;
            app->sid = sub->sid;
            app->engine_id = e->id;
            m->applied[m->n_applied++] = app;
        }
    }
    return true;
}

static Phoenix__Control__Rule *rule_reply(const struct phx_service *svc,
                                          const struct phx_peer *peer, const struct phx_rule *r)
{
    Phoenix__Control__Rule *m = malloc(sizeof(*m));
    char sel[64];

    if (!m)
        return NULL;
    phoenix__control__rule__init(m);
    rule_selector(r, sel, sizeof(sel));
    m->id = r->id;
    m->created_uid = (uint32_t)r->created_uid;
    m->by_admin = r->by_admin;
    bool ok = (m->selector = strdup(sel)) && (m->engine = strdup(r->engine)) &&
              (m->config_string = strdup(r->config)) && add_applied(svc, peer, r, m);
    if (!ok) {
        phoenix__control__rule__free_unpacked(m, NULL);
        return NULL;
    }
    return m;
}

int phx_admin_rules(struct phx_service *svc, const struct phx_peer *peer,
                    const Phoenix__Control__Request *req, Phoenix__Control__Response *resp)
{
    Phoenix__Control__RulesReply *m = malloc(sizeof(*m));

    if (!m)
        goto oom;
    phoenix__control__rules_reply__init(m);
    resp->body_case = PHOENIX__CONTROL__RESPONSE__BODY_RULES;
    resp->rules = m;            /* from here on freed with RESP */
    m->rules = calloc(svc->n_rules ? svc->n_rules : 1, sizeof(*m->rules));
    if (!m->rules)
        goto oom;
    for (const struct phx_rule *r = svc->rules; r; r = r->next) {
        if (!(m->rules[m->n_rules] = rule_reply(svc, peer, r)))
            goto oom;
        m->n_rules++;
    }
    return 0;
oom:
    phx_response_fail(resp, PHX_RESOURCE_EXHAUSTED, "out of memory listing rules");
    return 0;
}
