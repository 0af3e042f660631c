/* acl.c - AclEngine: allow/deny rules on the requests an app makes (client side, tx) and serves
 * (server side, rx).
 *
 * Settings (an attach's config_string - `policyctl attach acl --pid P --settings FILE` - or
 * `policyctl set` live; phoenix.conf `settings = { acl = { default = "allow"; }; };` gives the
 * default of every AclEngine attached):
 *
 *   rules    ( { name = "no-admin"; action = "deny"; method = "pkg.Admin/Shutdown";
 *                uid = 1000; }, ... )
 *            in order; a rule's conditions are service ("pkg.Service" or its stable id),
 *            method ("pkg.Service/Method" or its id), uid and gid (the app's own), peer_uid (the
 *            remote end's, when the transport authenticated it); a condition left out holds for
 *            every call. The first rule whose conditions all hold decides.
 *            A rule's action is "allow", "deny" or "reply": the ACL answers the request
 *            itself with PHX_OK and the method's reply message, so that it never reaches the
 *            server (a stub: phx_verdict_reply). The reply is at its defaults but for what the
 *            rule's `reply = ( { field = "pkg.Out.msg"; value = "cached"; }, ... );` sets (at
 *            most 8 singular fields, through sub-messages; such a rule names its method). The
 *            values are checked against the method's layouts when the settings are read, if
 *            the app registered them by then, else on the call: a value that does not suit
 *            its field fails the call with FAILED_PRECONDITION and the rule's sentence rather
 *            than answer without it.
 *   default  "allow" or "deny": the verdict when no rule holds.
 *   side     "client", "server" or "both" (default): the requests the app makes (checked on
 *            tx, before they leave), those it serves (checked on rx, before the app sees them),
 *            or both.
 *
 * A `set` that names `rules` replaces the whole list (hit counters start again); one that names
 * only `default` or `side` keeps the rules. Rules come in libconfig text which rules.c reads,
 * with errors in the settings helper's form ("config_string:3: rules[1].uid: ...").
 *
 * A denied request completes with PERMISSION_DENIED and the sentence "denied by ACL rule
 * 'no-admin'": on the client side the app's call fails with them, on the server side the remote
 * caller gets them as an ERROR and the server's app never sees the request (phoenix/policy.h).
 * Replies, errors, cancels and connection traffic pass untouched.
 *
 * Who calls comes from the SDK (phx_call_t): the app's uid (its port's), real gid and the peer's
 * authenticated uid. The state - rules, default, side, hit counters, the SDK's counters - crosses
 * a live upgrade as a versioned blob. */
#include "phoenix/app_port.h"
#include "phoenix/clock.h"
#include "phoenix/handover.h"
#include "phoenix/policy.h"
#include "phoenix/settings.h"
#include "rules.h"

#include <errno.h>
#include <stddef.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ACL_VERSION       "1.0.0"
#define ACL_STATE_VERSION 3                 /* 3: reply fields; 2: side, peer_uid; 1, 2 read */
#define ACL_MAGIC         0x41434c31u       /* "ACL1" */
#define ACL_QUEUE_MAX     64                /* nothing is held: room for back-pressure only */

static const char *const action_names[] = { "allow", "deny", NULL };    /* the default's */
static const char *const rule_action_names[] = { "allow", "deny", "reply" };

/* phoenix.conf's section: the default and side only (the settings helper takes no lists). */
struct acl_settings {
    int dflt;
    int side;
};

static const struct phx_setting acl_keys[] = {
    { "default", PHX_SETTING_KIND_ENUM, offsetof(struct acl_settings, dflt),
      .help = "allow or deny: the verdict on a request no rule matches", .def = ACL_ALLOW,
      .names = action_names },
    { "side", PHX_SETTING_KIND_ENUM, offsetof(struct acl_settings, side),
      .help = "client, server or both: check the requests the app makes, serves, or both",
      .def = 2, .names = PHX_POLICY_SIDE_NAMES },
};

static PHX_SETTINGS_SCHEMA(acl_schema, "acl", struct acl_settings, acl_keys);

struct acl_state {
    phx_policy_t      pol;
    phx_engine_t     *e;
    struct acl_rules  rules;
    struct acl_scalars sc;          /* default, side */
    uint64_t          default_hits, allowed, denied;
    uint64_t          upgrades;
    char              why[ACL_NAME_MAX + ACL_PATH_MAX + 200];
};
_Static_assert(offsetof(struct acl_state, pol) == 0,
               "phx_policy_op_* read the state as its policy");

/* ---- the decision --------------------------------------------------------------------------- */

/* REPLY with R's fields set, or, when one cannot be set (layouts that were not known when the
 * rules were read), FAILED_PRECONDITION with the rule's sentence: never a reply without them. */
static phx_verdict_t reply_verdict(struct acl_state *s, const struct acl_rule *r,
                                   const phx_call_t *call)
{
    for (unsigned i = 0; i < r->n_reply; i++) {
        phx_field_t v = acl_reply_value(&r->reply[i]);
        char what[160];
        int rc = phx_call_reply_set(call, r->reply[i].path, &v);
        if (rc == 0)
            continue;
        if (phx_policy_reply_check(s->e, call->service_id, call->method_id, r->reply[i].path,
                                   &v, what, sizeof(what)) == 0)
            snprintf(what, sizeof(what), "%s", rc == -ENOSPC ? "no room left for the reply's texts"
                                                             : strerror(-rc));
        snprintf(s->why, sizeof(s->why), "ACL rule '%s' cannot set its reply: %s", r->name,
                 what);
        s->denied++;
        return phx_verdict_reject(PHX_FAILED_PRECONDITION, s->why);
    }
    return phx_verdict_reply();              /* counted by the SDK: tx/rx.replied */
}

static phx_verdict_t acl_decide(void *ctx, const phx_call_t *call, uint64_t now)
{
    struct acl_state *s = ctx;

    (void)now;
    if (call->kind != PHX_CALL_REQUEST)
        return phx_verdict_forward();
    struct acl_rule *r = acl_rules_match(&s->rules, call);
    uint32_t action = r ? r->action : s->sc.dflt;
    if (r)
        r->hits++;
    else
        s->default_hits++;
    if (action == ACL_ALLOW) {
        s->allowed++;
        return phx_verdict_forward();
    }
    if (action == ACL_REPLY)
        return reply_verdict(s, r, call);
    s->denied++;
    if (r)
        snprintf(s->why, sizeof(s->why), "denied by ACL rule '%s'", r->name);
    else
        snprintf(s->why, sizeof(s->why), "denied by the ACL's default");
    return phx_verdict_reject(PHX_PERMISSION_DENIED, s->why);
}

/* ---- settings ------------------------------------------------------------------------------- */

/* Whether the reply fields of RULES suit the methods' output types, as far as the app's
 * registered layouts tell (a method not known yet is checked on its calls). 0, or -1 with
 * "config_string:LINE: rules[I].reply[J]: what" in ERR. */
static int check_replies(phx_engine_t *e, const struct acl_rules *rules, char *err,
                         size_t errlen)
{
    char why[256];

    for (unsigned i = 0; i < rules->n; i++) {
        const struct acl_rule *r = &rules->rule[i];
        for (unsigned j = 0; r->reply_service_id && j < r->n_reply; j++) {
            phx_field_t v = acl_reply_value(&r->reply[j]);
            int rc = phx_policy_reply_check(e, r->reply_service_id, r->method_id,
                                            r->reply[j].path, &v, why, sizeof(why));
            if (rc == -ENOENT || rc == -EINVAL) {
                snprintf(err, errlen, "config_string:%u: rules[%u].reply[%u]: %s",
                         r->reply[j].line, i, j, why);
                return -1;
            }
        }
    }
    return 0;
}

/* CONFIG over the rules and default in effect (a fresh state: those of phoenix.conf). A refused
 * CONFIG changes nothing. */
static int take_settings(void *state, const char *config, char *err, size_t errlen)
{
    struct acl_state *s = state;
    struct acl_rules *next = malloc(sizeof(*next));
    struct acl_scalars sc = s->sc;
    bool has_rules;

    if (!next)
        return -ENOMEM;
    int rc = acl_rules_parse(config, "config_string", next, &has_rules, &sc, err, errlen);
    if (rc == 0 && has_rules)
        rc = check_replies(s->e, next, err, errlen);
    if (rc == 0 && has_rules)
        s->rules = *next;
    if (rc == 0) {
        s->sc = sc;
        phx_policy_set_sides(&s->pol, phx_policy_side_of(sc.side));
    }
    free(next);
    return rc < 0 ? -EINVAL : 0;
}

static void *state_new(phx_engine_t *e)
{
    struct acl_state *s = calloc(1, sizeof(*s));
    const struct acl_settings *base = phx_engine_settings(e);

    if (s && phx_policy_init(&s->pol, acl_decide, s, (1u << PHX_TX) | (1u << PHX_RX),
                             ACL_QUEUE_MAX) < 0) {
        free(s);
        return NULL;
    }
    if (s) {
        s->e = e;
        s->sc.dflt = base && base->dflt == ACL_DENY ? ACL_DENY : ACL_ALLOW;
        s->sc.side = base && base->side >= 0 && base->side <= 2 ? base->side : 2;
        phx_policy_set_sides(&s->pol, phx_policy_side_of(s->sc.side));
    }
    return s;
}

static void state_free(void *state)
{
    struct acl_state *s = state;

    phx_policy_fini(&s->pol);
    free(s);
}

/* ---- live upgrade --------------------------------------------------------------------------- */

static void dump_num(phx_wbuf_t *w, const struct acl_num *n)
{
    uint64_t bits;

    memcpy(&bits, &n->d, sizeof(bits));
    phx_wbuf_u8(w, n->is_int);
    phx_wbuf_u64(w, (uint64_t)n->i);
    phx_wbuf_u64(w, bits);
}

static void dump_text(phx_wbuf_t *w, const char *text)
{
    phx_wbuf_blob(w, text, strlen(text));
}

static void dump_field(phx_wbuf_t *w, const struct acl_field_test *f)
{
    dump_text(w, f->path);
    phx_wbuf_u32(w, f->ops);
    phx_wbuf_u8(w, f->equals.is_num);
    dump_num(w, &f->equals.num);
    dump_text(w, f->equals.text);
    dump_text(w, f->prefix);
    dump_num(w, &f->less);
    dump_num(w, &f->greater);
    phx_wbuf_u32(w, f->n_in);
    for (unsigned i = 0; i < f->n_in; i++) {
        phx_wbuf_u8(w, f->in[i].is_num);
        dump_num(w, &f->in[i].num);
        dump_text(w, f->in[i].text);
    }
}

static void dump_rule(phx_wbuf_t *w, const struct acl_rule *r)
{
    phx_wbuf_blob(w, r->name, strlen(r->name));
    phx_wbuf_u32(w, r->action);
    phx_wbuf_u32(w, r->has);
    phx_wbuf_u32(w, r->service_id);
    phx_wbuf_u32(w, r->method_id);
    phx_wbuf_u32(w, r->uid);
    phx_wbuf_u32(w, r->gid);
    phx_wbuf_u64(w, r->hits);
    phx_wbuf_u32(w, r->peer_uid);
    if (r->has & ACL_HAS_FIELD)
        dump_field(w, &r->field);
    phx_wbuf_u32(w, r->reply_service_id);
    phx_wbuf_u32(w, r->n_reply);
    for (unsigned i = 0; i < r->n_reply; i++) {
        const struct acl_reply_field *f = &r->reply[i];
        dump_text(w, f->path);
        phx_wbuf_u32(w, f->kind);
        dump_num(w, &(struct acl_num){ .is_int = f->b, .i = f->i, .d = f->d });
        dump_text(w, f->text);
        phx_wbuf_u32(w, f->line);
    }
}

/* The default, the side, the rules with their hits and the counters (the SDK frames them). */
static void dump_rest(void *state, phx_wbuf_t *w)
{
    const struct acl_state *s = state;

    phx_wbuf_u32(w, s->sc.dflt);
    phx_wbuf_u32(w, (uint32_t)s->sc.side);
    phx_wbuf_u32(w, s->rules.n);
    for (unsigned i = 0; i < s->rules.n; i++)
        dump_rule(w, &s->rules.rule[i]);
    phx_wbuf_u64(w, s->default_hits);
    phx_wbuf_u64(w, s->allowed);
    phx_wbuf_u64(w, s->denied);
    phx_wbuf_u64(w, s->upgrades);
}

static void restore_num(phx_rbuf_t *r, struct acl_num *n)
{
    uint64_t bits;

    n->is_int = phx_rbuf_u8(r) != 0;
    n->i = (int64_t)phx_rbuf_u64(r);
    bits = phx_rbuf_u64(r);
    memcpy(&n->d, &bits, sizeof(bits));
}

/* A text of at most CAP - 1 bytes into TEXT; false when the blob's is longer or missing. */
static bool restore_text(phx_rbuf_t *r, char *text, size_t cap)
{
    size_t n;
    const void *at = phx_rbuf_blob(r, cap - 1, &n);

    if (!at)
        return false;
    memcpy(text, at, n);
    text[n] = '\0';
    return true;
}

static bool restore_field(phx_rbuf_t *r, struct acl_field_test *f)
{
    if (!restore_text(r, f->path, sizeof(f->path)))
        return false;
    f->ops = phx_rbuf_u32(r);
    f->equals.is_num = phx_rbuf_u8(r) != 0;
    restore_num(r, &f->equals.num);
    if (!restore_text(r, f->equals.text, sizeof(f->equals.text)) ||
        !restore_text(r, f->prefix, sizeof(f->prefix)))
        return false;
    restore_num(r, &f->less);
    restore_num(r, &f->greater);
    f->n_in = phx_rbuf_u32(r);
    if (r->failed || f->n_in > ACL_SET_MAX || !f->ops || (f->ops & ~ACL_OP_ALL))
        return false;
    for (unsigned i = 0; i < f->n_in; i++) {
        f->in[i].is_num = phx_rbuf_u8(r) != 0;
        restore_num(r, &f->in[i].num);
        if (!restore_text(r, f->in[i].text, sizeof(f->in[i].text)))
            return false;
    }
    return !r->failed;
}

/* A rule's reply fields (state version 3), checked as the reader would. */
static bool restore_replies(phx_rbuf_t *r, struct acl_rule *rule)
{
    rule->reply_service_id = phx_rbuf_u32(r);
    rule->n_reply = phx_rbuf_u32(r);
    if (r->failed || rule->n_reply > ACL_REPLY_MAX)
        return false;
    for (unsigned i = 0; i < rule->n_reply; i++) {
        struct acl_reply_field *f = &rule->reply[i];
        struct acl_num n;
        if (!restore_text(r, f->path, sizeof(f->path)))
            return false;
        f->kind = (phx_field_kind_t)phx_rbuf_u32(r);
        restore_num(r, &n);
        f->b = n.is_int;
        f->i = n.i;
        f->d = n.d;
        if (!restore_text(r, f->text, sizeof(f->text)))
            return false;
        f->line = phx_rbuf_u32(r);
        if (f->kind != PHX_FIELD_INT && f->kind != PHX_FIELD_DOUBLE &&
            f->kind != PHX_FIELD_BOOL && f->kind != PHX_FIELD_STRING)
            return false;
    }
    return !r->failed;
}

/* One rule from R, checked as the reader would: a blob is not trusted to be well formed. */
static bool restore_rule(phx_rbuf_t *r, struct acl_rule *rule, uint32_t version)
{
    size_t n;
    const void *name = phx_rbuf_blob(r, ACL_NAME_MAX - 1, &n);

    if (!name || n == 0)
        return false;
    memcpy(rule->name, name, n);
    rule->name[n] = '\0';
    rule->action = phx_rbuf_u32(r);
    rule->has = phx_rbuf_u32(r);
    rule->service_id = phx_rbuf_u32(r);
    rule->method_id = phx_rbuf_u32(r);
    rule->uid = phx_rbuf_u32(r);
    rule->gid = phx_rbuf_u32(r);
    rule->hits = phx_rbuf_u64(r);
    if (version >= 2)
        rule->peer_uid = phx_rbuf_u32(r);
    uint32_t known = version >= 2 ? ACL_HAS_ALL : (ACL_HAS_GID << 1) - 1;
    if ((rule->has & ACL_HAS_FIELD) && (r->failed || !restore_field(r, &rule->field)))
        return false;
    if (version >= 3 && !restore_replies(r, rule))
        return false;
    return !r->failed && rule->action <= ACL_REPLY && (rule->has & ~known) == 0;
}

static bool restore_rest(void *state, phx_rbuf_t *r, uint32_t version)
{
    struct acl_state *s = state;

    s->sc.dflt = phx_rbuf_u32(r);
    s->sc.side = version >= 2 ? (int)phx_rbuf_u32(r) : 0;    /* 1 checked the client side only */
    s->rules.n = phx_rbuf_u32(r);
    if (r->failed || s->sc.dflt > ACL_DENY || s->sc.side < 0 || s->sc.side > 2 ||
        s->rules.n > ACL_RULES_MAX)
        return false;
    phx_policy_set_sides(&s->pol, phx_policy_side_of(s->sc.side));
    for (unsigned i = 0; i < s->rules.n; i++)
        if (!restore_rule(r, &s->rules.rule[i], version))
            return false;
    s->default_hits = phx_rbuf_u64(r);
    s->allowed = phx_rbuf_u64(r);
    s->denied = phx_rbuf_u64(r);
    s->upgrades = phx_rbuf_u64(r) + 1;
    return !r->failed;
}

/* Rules are not a schema's struct: the config_string goes to take_settings() as it is. */
static const phx_policy_kind_t acl_kind = {
    .type = "AclEngine", .version = ACL_VERSION, .magic = ACL_MAGIC,
    .state_version = ACL_STATE_VERSION, .oldest_state_version = 1,
    .policy_at = offsetof(struct acl_state, pol),
    .state_new = state_new, .state_free = state_free, .take = take_settings,
    .dump = dump_rest, .restore = restore_rest,
};

/* ---- engine ops ----------------------------------------------------------------------------- */

PHX_POLICY_DEFINE_OPS(acl_kind)

/* ---- admin ---------------------------------------------------------------------------------- */

/* "[{\"name\":...,\"action\":...,\"hits\":N},...]" into F. */
static void rules_json(FILE *f, const struct acl_rules *rules)
{
    fputc('[', f);
    for (unsigned i = 0; i < rules->n; i++) {
        const struct acl_rule *r = &rules->rule[i];
        fprintf(f, "%s{\"name\":\"%s\",\"action\":\"%s\",\"hits\":%" PRIu64 "}", i ? "," : "",
                r->name, rule_action_names[r->action], r->hits);
    }
    fputc(']', f);
}

static int stats_json(const struct acl_state *s, char **reply)
{
    char *counts = phx_policy_stats_json(&s->pol), *text = NULL;
    size_t len = 0;
    FILE *f = counts ? open_memstream(&text, &len) : NULL;

    if (!f) {
        free(counts);
        return -ENOMEM;
    }
    fprintf(f, "{\"type\":\"AclEngine\",\"version\":\"%s\",\"settings\":{\"default\":\"%s\","
               "\"side\":\"%s\",\"rules\":%u},\"rules\":", ACL_VERSION,
            action_names[s->sc.dflt], PHX_POLICY_SIDE_NAMES[s->sc.side], s->rules.n);
    rules_json(f, &s->rules);
    fprintf(f, ",\"default_hits\":%" PRIu64 ",\"allowed\":%" PRIu64 ",\"denied\":%" PRIu64
               ",\"caller\":{\"known\":%s,\"uid\":%u,\"gid\":%u},\"upgrades\":%" PRIu64 ",%s}",
            s->default_hits, s->allowed, s->denied,
            s->pol.caller_learned && s->pol.caller.gid_known ? "true" : "false",
            s->pol.caller.uid, s->pol.caller.gid, s->upgrades, counts);
    free(counts);
    if (fclose(f) != 0) {
        free(text);
        return -ENOMEM;
    }
    *reply = text;
    return 0;
}

/* "stats": the default, each rule with its hits, and the counters as JSON. */
static int acl_admin(phx_engine_t *e, void *state, const char *request, char **reply)
{
    if (strcmp(request, "stats") != 0)
        return -ENOTSUP;
    return stats_json(state, reply);
}

static const phx_engine_ops_t acl_engine = {
    .type = "AclEngine",
    .state_version = ACL_STATE_VERSION,
    PHX_POLICY_OPS(acl_kind),
    .ports = {[PHX_TX] = {.in = 1, .out = 1}, [PHX_RX] = {.in = 1, .out = 1}},
    .progress = phx_policy_op_progress,
    .arm = phx_policy_op_arm,
    .flush = phx_policy_op_flush,
    .admin = acl_admin,
};

PHX_PLUGIN("acl", ACL_VERSION, .engines = PHX_ENGINES(&acl_engine), .settings = &acl_schema);
