/* rules.c - reading the AclEngine's rules with libconfig, and matching a call against them.
 *
 * The settings helper (phoenix/settings.h) takes scalars only, so the rules - a list of groups -
 * are read here, with the same form of error: "ORIGIN:line: rules[2].uid: what is wrong". The
 * whole text is checked before anything is kept, so a refused text changes nothing. Names of
 * services and methods become protoc-gen-mrpc's stable ids through mrpc_id_of() (mrpc/mrpc.h),
 * the very function the generator and the service use. */
#include "rules.h"

#include "mrpc/mrpc.h"

#include <ctype.h>
#include <libconfig.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* One error line into ERR: "ORIGIN:LINE: KEY: what". Returns -1. */
static int fail(char *err, size_t errlen, const char *origin, unsigned line, const char *key,
                const char *fmt, ...)
{
    char what[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    snprintf(err, errlen, "%s:%u: %s: %s", origin, line, key, what);
    return -1;
}

struct reader {
    const char *origin;
    char       *err;
    size_t      errlen;
    char        key[48];        /* "rules[3].method" */
};

static int bad(struct reader *rd, const config_setting_t *s, const char *fmt, const char *what)
{
    return fail(rd->err, rd->errlen, rd->origin, config_setting_source_line(s), rd->key, fmt,
                what);
}

/* "allow" or "deny" (or, for a rule, "reply") in S into *ACTION. */
static int read_action(struct reader *rd, const config_setting_t *s, uint32_t *action,
                       bool rule)
{
    const char *v = config_setting_get_string(s);

    if (v && strcmp(v, "allow") == 0)
        *action = ACL_ALLOW;
    else if (v && strcmp(v, "deny") == 0)
        *action = ACL_DENY;
    else if (rule && v && strcmp(v, "reply") == 0)
        *action = ACL_REPLY;
    else if (rule)
        return bad(rd, s, "must be \"allow\", \"deny\" or \"reply\" (got %s)",
                   v ? v : "no string");
    else
        return bad(rd, s, "must be \"allow\" or \"deny\" (got %s)", v ? v : "no string");
    return 0;
}

/* A rule's name: letters, digits and "_.:-", 1 to ACL_NAME_MAX - 1 of them. */
static int read_name(struct reader *rd, const config_setting_t *s, char *name)
{
    const char *v = config_setting_get_string(s);
    size_t n = v ? strlen(v) : 0;

    if (!v)
        return bad(rd, s, "expected a string, %s", "got something else");
    if (n == 0 || n >= ACL_NAME_MAX)
        return bad(rd, s, "must be 1 to 63 characters (got \"%s\")", v);
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)v[i]) && !strchr("_.:-", v[i]))
            return bad(rd, s, "may hold letters, digits and _.:- only (got \"%s\")", v);
    memcpy(name, v, n + 1);
    return 0;
}

/* A uid or gid: 0 .. 4294967294. */
static int read_id(struct reader *rd, const config_setting_t *s, uint32_t *id)
{
    int t = config_setting_type(s);
    long long v = config_setting_get_int64(s);

    if (t != CONFIG_TYPE_INT && t != CONFIG_TYPE_INT64)
        return bad(rd, s, "expected a number, %s", "got something else");
    if (v < 0 || v >= 4294967295LL)
        return bad(rd, s, "must be between 0 and 4294967294%s", "");
    *id = (uint32_t)v;
    return 0;
}

/* A service ("pkg.Service") or method ("pkg.Service/Method" or "pkg.Service.Method") by name,
 * or its stable id as a number; for a method named so, its service's id into *SERVICE (when
 * given), else 0 there. */
static int read_target(struct reader *rd, const config_setting_t *s, bool method, uint32_t *id,
                       uint32_t *service)
{
    const char *v = config_setting_get_string(s);
    char full[256];

    if (service)
        *service = 0;
    if (!v)
        return read_id(rd, s, id);
    if (strlen(v) >= sizeof(full) || !strchr(v, '.') || strpbrk(v, " \t\"\\"))
        return bad(rd, s, method ? "expected \"package.Service/Method\" (got \"%s\")"
                                 : "expected \"package.Service\" (got \"%s\")", v);
    strcpy(full, v);
    char *slash = strrchr(full, '/');
    if (slash && !method)
        return bad(rd, s, "a service has no '/' (got \"%s\")", v);
    if (slash)
        *slash = '.';           /* the generator's full name: package.Service.Method */
    *id = mrpc_id_of(full);
    if (method && service) {    /* the service's full name: what comes before the method's */
        *strrchr(full, '.') = '\0';
        *service = strchr(full, '.') ? mrpc_id_of(full) : 0;
    }
    return 0;
}

/* ---- field tests ---------------------------------------------------------------------------- */

/* Whether the N bytes at V are a path's element index: "[digits]" or, once in a path, "[*]". */
static size_t index_len(const char *v, bool *any)
{
    size_t digits = strspn(v + 1, "0123456789");

    if (v[0] != '[')
        return 0;
    if (v[1] == '*' && v[2] == ']') {
        *any = true;
        return 3;
    }
    return digits && digits <= 9 && v[digits + 1] == ']' ? digits + 2 : 0;
}

/* A field's path: "pkg.Msg.field" (letters, digits, _ and dots; at least two dots' worth), with
 * elements of repeated fields by index ("items[0].sku") or any element, once ("items[*].sku"). */
static int read_path(struct reader *rd, const config_setting_t *s, char *path)
{
    const char *v = config_setting_get_string(s);
    size_t n = v ? strlen(v) : 0;
    unsigned anys = 0;

    if (!v || n == 0 || n >= ACL_PATH_MAX || !strchr(v, '.') || v[0] == '.' || v[n - 1] == '.' ||
        strstr(v, ".."))
        return bad(rd, s, "expected \"package.Message.field\" of at most 127 characters (got %s)",
                   v ? v : "no string");
    for (size_t i = 0; i < n; i++) {
        bool any = false;
        size_t k = index_len(v + i, &any);
        if (k && i > 0 && v[i - 1] != '.' && (v[i + k] == '.' || !v[i + k])) {
            anys += any;
            i += k - 1;
        } else if (!isalnum((unsigned char)v[i]) && v[i] != '_' && v[i] != '.') {
            return bad(rd, s, "a field path holds letters, digits, _ and dots, and an element's "
                       "index after a repeated field's name, [N] or [*] (got \"%s\")", v);
        }
    }
    if (anys > 1)
        return bad(rd, s, "a field path may say [*] (any element) once (got \"%s\")", v);
    memcpy(path, v, n + 1);
    return 0;
}

static int read_num(struct reader *rd, const config_setting_t *s, struct acl_num *num)
{
    int t = config_setting_type(s);

    if (t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64) {
        num->is_int = true;
        num->i = config_setting_get_int64(s);
        num->d = (double)num->i;
    } else if (t == CONFIG_TYPE_FLOAT) {
        num->is_int = false;
        num->d = config_setting_get_float(s);
    } else {
        return bad(rd, s, "expected a number, %s", "got something else");
    }
    return 0;
}

/* A text (at most CAP - 1 bytes) or a number: what equals and in compare with. */
static int read_value(struct reader *rd, const config_setting_t *s, bool *is_num,
                      struct acl_num *num, char *text, size_t cap)
{
    const char *v = config_setting_get_string(s);

    if (!v) {
        *is_num = true;
        return read_num(rd, s, num);
    }
    if (strlen(v) >= cap)
        return bad(rd, s, "a text to compare with is too long (\"%.40s...\")", v);
    *is_num = false;
    strcpy(text, v);
    return 0;
}

static int read_set(struct reader *rd, const config_setting_t *s, struct acl_field_test *f)
{
    int n = config_setting_length(s);

    if ((!config_setting_is_array(s) && !config_setting_is_list(s)) || n < 1 || n > ACL_SET_MAX)
        return bad(rd, s, "expected a list of 1 to 8 values [ ... ]%s", "");
    for (int i = 0; i < n; i++) {
        struct acl_item *it = &f->in[i];
        if (read_value(rd, config_setting_get_elem(s, (unsigned)i), &it->is_num, &it->num,
                       it->text, sizeof(it->text)) < 0)
            return -1;
    }
    f->n_in = (unsigned)n;
    return 0;
}

/* One key of a rule's field test; 1 when K is none of them. */
static int read_field_member(struct reader *rd, const config_setting_t *m, const char *k,
                             struct acl_rule *r)
{
    struct acl_field_test *f = &r->field;

    if (strcmp(k, "field") == 0 && (r->has |= ACL_HAS_FIELD))
        return read_path(rd, m, f->path);
    if (strcmp(k, "equals") == 0 && (f->ops |= ACL_OP_EQUALS))
        return read_value(rd, m, &f->equals.is_num, &f->equals.num, f->equals.text,
                          sizeof(f->equals.text));
    if (strcmp(k, "prefix") == 0 && (f->ops |= ACL_OP_PREFIX)) {
        const char *v = config_setting_get_string(m);
        if (!v || strlen(v) >= sizeof(f->prefix))
            return bad(rd, m, "expected a text of at most 127 bytes%s", "");
        strcpy(f->prefix, v);
        return 0;
    }
    if (strcmp(k, "less_than") == 0 && (f->ops |= ACL_OP_LESS))
        return read_num(rd, m, &f->less);
    if (strcmp(k, "greater_than") == 0 && (f->ops |= ACL_OP_GREATER))
        return read_num(rd, m, &f->greater);
    if (strcmp(k, "in") == 0 && (f->ops |= ACL_OP_IN))
        return read_set(rd, m, f);
    return 1;
}

/* ---- reply fields --------------------------------------------------------------------------- */

/* The value of a reply field: an integer, a float, true or false, or a text. */
static int read_reply_value(struct reader *rd, const config_setting_t *s,
                            struct acl_reply_field *f)
{
    const char *v;

    switch (config_setting_type(s)) {
    case CONFIG_TYPE_INT: case CONFIG_TYPE_INT64:
        f->kind = PHX_FIELD_INT;
        f->i = config_setting_get_int64(s);
        return 0;
    case CONFIG_TYPE_FLOAT:
        f->kind = PHX_FIELD_DOUBLE;
        f->d = config_setting_get_float(s);
        return 0;
    case CONFIG_TYPE_BOOL:
        f->kind = PHX_FIELD_BOOL;
        f->b = config_setting_get_bool(s);
        return 0;
    case CONFIG_TYPE_STRING:
        v = config_setting_get_string(s);
        if (strlen(v) >= sizeof(f->text))
            return bad(rd, s, "a reply's text is at most 127 bytes (\"%.40s...\")", v);
        f->kind = PHX_FIELD_STRING;
        strcpy(f->text, v);
        return 0;
    default:
        return bad(rd, s, "expected a number, true or false, or a text%s", "");
    }
}

/* One `{ field = "pkg.Out.a"; value = ...; }` of a rule's reply list into F. */
static int read_reply_field(struct reader *rd, const config_setting_t *g,
                            struct acl_reply_field *f)
{
    const config_setting_t *path = config_setting_get_member(g, "field");
    const config_setting_t *value = config_setting_get_member(g, "value");

    if (!config_setting_is_group(g) || !path || !value || config_setting_length(g) != 2)
        return bad(rd, g, "expected { field = \"package.Message.field\"; value = ...; }%s", "");
    if (read_path(rd, path, f->path) < 0)
        return -1;
    if (strchr(f->path, '['))
        return bad(rd, path, "a reply sets singular fields only, not an element (got \"%s\")",
                   f->path);
    f->line = (unsigned)config_setting_source_line(value);
    return read_reply_value(rd, value, f);
}

/* A rule's `reply = ( { field = ...; value = ...; }, ... );` into R. */
static int read_reply(struct reader *rd, const config_setting_t *s, struct acl_rule *r)
{
    int n = config_setting_length(s);
    size_t at = strlen(rd->key);

    if (!config_setting_is_list(s) || n > ACL_REPLY_MAX)
        return bad(rd, s, "expected a list of at most 8 ( { field = ...; value = ...; }, ... )%s",
                   "");
    for (int i = 0; i < n; i++) {
        snprintf(rd->key + at, sizeof(rd->key) - at, "[%d]", i);
        if (read_reply_field(rd, config_setting_get_elem(s, (unsigned)i), &r->reply[i]) < 0)
            return -1;
        for (int j = 0; j < i; j++)
            if (strcmp(r->reply[j].path, r->reply[i].path) == 0)
                return bad(rd, config_setting_get_elem(s, (unsigned)i),
                           "sets %s a second time", r->reply[i].path);
    }
    rd->key[at] = '\0';
    r->n_reply = (unsigned)n;
    return 0;
}

phx_field_t acl_reply_value(const struct acl_reply_field *f)
{
    phx_field_t v = { .kind = f->kind };

    if (f->kind == PHX_FIELD_INT)
        v.i = f->i;
    else if (f->kind == PHX_FIELD_DOUBLE)
        v.d = f->d;
    else if (f->kind == PHX_FIELD_BOOL)
        v.b = f->b;
    else {
        v.data = f->text;
        v.len = strlen(f->text);
    }
    return v;
}

/* Condition or name NAME of rule G (the rule R in progress). */
static int read_member(struct reader *rd, const config_setting_t *m, struct acl_rule *r)
{
    const char *k = config_setting_name(m);
    size_t at = strlen(rd->key);

    snprintf(rd->key + at, sizeof(rd->key) - at, ".%s", k);
    int rc;
    if (strcmp(k, "name") == 0)
        rc = read_name(rd, m, r->name);
    else if (strcmp(k, "action") == 0)
        rc = read_action(rd, m, &r->action, true);
    else if (strcmp(k, "service") == 0 && (r->has |= ACL_HAS_SERVICE))
        rc = read_target(rd, m, false, &r->service_id, NULL);
    else if (strcmp(k, "method") == 0 && (r->has |= ACL_HAS_METHOD))
        rc = read_target(rd, m, true, &r->method_id, &r->reply_service_id);
    else if (strcmp(k, "uid") == 0 && (r->has |= ACL_HAS_UID))
        rc = read_id(rd, m, &r->uid);
    else if (strcmp(k, "gid") == 0 && (r->has |= ACL_HAS_GID))
        rc = read_id(rd, m, &r->gid);
    else if (strcmp(k, "peer_uid") == 0 && (r->has |= ACL_HAS_PEER_UID))
        rc = read_id(rd, m, &r->peer_uid);
    else if (strcmp(k, "reply") == 0)
        rc = read_reply(rd, m, r);
    else if ((rc = read_field_member(rd, m, k, r)) == 1)
        rc = bad(rd, m, "unknown key (a rule has name, action, service, method, uid, gid, "
                 "peer_uid, field, equals, prefix, less_than, greater_than, in, reply)%s", "");
    rd->key[at] = '\0';
    return rc;
}

static int read_rule(struct reader *rd, const config_setting_t *g, unsigned i,
                     struct acl_rules *out)
{
    struct acl_rule *r = &out->rule[i];
    bool has_action = false;

    snprintf(rd->key, sizeof(rd->key), "rules[%u]", i);
    if (!config_setting_is_group(g))
        return bad(rd, g, "expected a group { name = ...; action = ...; ... }%s", "");
    memset(r, 0, sizeof(*r));
    for (int k = 0; k < config_setting_length(g); k++) {
        config_setting_t *m = config_setting_get_elem(g, (unsigned)k);
        has_action |= strcmp(config_setting_name(m), "action") == 0;
        if (read_member(rd, m, r) < 0)
            return -1;
    }
    if (!r->name[0] || !has_action)
        return bad(rd, g, "a rule needs a name and an action%s", "");
    if ((r->has & ACL_HAS_FIELD) && !r->field.ops)
        return bad(rd, g, "a field needs a test: equals, prefix, less_than, greater_than or in%s",
                   "");
    if (!(r->has & ACL_HAS_FIELD) && r->field.ops)
        return bad(rd, g, "equals, prefix, less_than, greater_than and in test a field: "
                   "name it with field = \"package.Message.field\"%s", "");
    if (r->n_reply && r->action != ACL_REPLY)
        return bad(rd, g, "reply sets the fields of a reply: it needs action = \"reply\"%s", "");
    if (r->n_reply && !(r->has & ACL_HAS_METHOD))
        return bad(rd, g, "reply fields need the rule's method (method = \"package.Service/"
                   "Method\"): the reply is of that method's output type%s", "");
    for (unsigned j = 0; j < i; j++)
        if (strcmp(out->rule[j].name, r->name) == 0)
            return bad(rd, g, "a second rule named \"%s\"", r->name);
    return 0;
}

static int read_rules(struct reader *rd, const config_setting_t *s, struct acl_rules *out)
{
    snprintf(rd->key, sizeof(rd->key), "rules");
    if (!config_setting_is_list(s) && !config_setting_is_array(s))
        return bad(rd, s, "expected a list ( { ... }, ... )%s", "");
    if (config_setting_length(s) > ACL_RULES_MAX)
        return bad(rd, s, "at most 256 rules%s", "");
    out->n = 0;
    for (int i = 0; i < config_setting_length(s); i++) {
        if (read_rule(rd, config_setting_get_elem(s, (unsigned)i), (unsigned)i, out) < 0)
            return -1;
        out->n = (unsigned)i + 1;
    }
    return 0;
}

/* "client", "server" or "both" in S into *SIDE. */
static int read_side(struct reader *rd, const config_setting_t *s, int *side)
{
    const char *v = config_setting_get_string(s);

    for (int i = 0; v && PHX_POLICY_SIDE_NAMES[i]; i++)
        if (strcmp(v, PHX_POLICY_SIDE_NAMES[i]) == 0) {
            *side = i;
            return 0;
        }
    return bad(rd, s, "must be \"client\", \"server\" or \"both\" (got %s)", v ? v : "no string");
}

/* The top-level keys of ROOT into OUT / *SC. */
static int read_root(struct reader *rd, const config_setting_t *root, struct acl_rules *out,
                     bool *has_rules, struct acl_scalars *sc)
{
    for (int i = 0; i < config_setting_length(root); i++) {
        config_setting_t *s = config_setting_get_elem(root, (unsigned)i);
        const char *k = config_setting_name(s);
        if (strcmp(k, "rules") == 0) {
            if (read_rules(rd, s, out) < 0)
                return -1;
            *has_rules = true;
        } else if (strcmp(k, "default") == 0) {
            snprintf(rd->key, sizeof(rd->key), "default");
            if (read_action(rd, s, &sc->dflt, false) < 0)
                return -1;
        } else if (strcmp(k, "side") == 0) {
            snprintf(rd->key, sizeof(rd->key), "side");
            if (read_side(rd, s, &sc->side) < 0)
                return -1;
        } else {
            snprintf(rd->key, sizeof(rd->key), "%s", k);
            return bad(rd, s, "unknown key (the AclEngine's keys are rules, default and side)%s",
                       "");
        }
    }
    return 0;
}

int acl_rules_parse(const char *text, const char *origin, struct acl_rules *out, bool *has_rules,
                    struct acl_scalars *sc, char *err, size_t errlen)
{
    struct reader rd = { .origin = origin, .err = err, .errlen = errlen };
    struct acl_scalars d = *sc;
    config_t cfg;

    *has_rules = false;
    if (!text)
        return 0;
    config_init(&cfg);
    if (config_read_string(&cfg, text) != CONFIG_TRUE) {
        snprintf(err, errlen, "%s:%d: %s", origin, config_error_line(&cfg),
                 config_error_text(&cfg));
        config_destroy(&cfg);
        return -1;
    }
    int rc = read_root(&rd, config_root_setting(&cfg), out, has_rules, &d);
    config_destroy(&cfg);
    if (rc == 0)
        *sc = d;
    return rc;
}

/* -1, 0 or 1 as V is below, equal to or above N; 2 when V is no number. */
static int compare(const phx_field_t *v, const struct acl_num *n)
{
    long double a, b = n->is_int ? (long double)n->i : (long double)n->d;

    switch (v->kind) {
    case PHX_FIELD_INT:
        if (n->is_int)
            return v->i < n->i ? -1 : v->i > n->i;
        a = (long double)v->i;
        break;
    case PHX_FIELD_UINT:
        if (n->is_int && n->i < 0)
            return 1;
        if (n->is_int)
            return v->u < (uint64_t)n->i ? -1 : v->u > (uint64_t)n->i;
        a = (long double)v->u;
        break;
    case PHX_FIELD_DOUBLE:
        a = v->d;
        break;
    case PHX_FIELD_BOOL:
        a = v->b;
        break;
    default:
        return 2;
    }
    return a < b ? -1 : a > b ? 1 : a == b ? 0 : 2;     /* NaN compares with nothing */
}

static bool is_text(const phx_field_t *v)
{
    return v->kind == PHX_FIELD_STRING || v->kind == PHX_FIELD_BYTES;
}

static bool same(const phx_field_t *v, bool is_num, const struct acl_num *num, const char *text)
{
    if (is_num)
        return compare(v, num) == 0;
    return is_text(v) && v->len == strlen(text) && memcmp(v->data, text, v->len) == 0;
}

/* Whether every test of F holds for the value V. */
static bool value_holds(const struct acl_field_test *f, const phx_field_t *v)
{
    if (v->kind == PHX_FIELD_UNSET)
        return false;
    if ((f->ops & ACL_OP_EQUALS) && !same(v, f->equals.is_num, &f->equals.num, f->equals.text))
        return false;
    if ((f->ops & ACL_OP_PREFIX) &&
        (!is_text(v) || v->len < strlen(f->prefix) ||
         memcmp(v->data, f->prefix, strlen(f->prefix)) != 0))
        return false;
    if ((f->ops & ACL_OP_LESS) && compare(v, &f->less) != -1)
        return false;
    if ((f->ops & ACL_OP_GREATER) && compare(v, &f->greater) != 1)
        return false;
    if (f->ops & ACL_OP_IN) {
        bool found = false;
        for (unsigned i = 0; !found && i < f->n_in; i++)
            found = same(v, f->in[i].is_num, &f->in[i].num, f->in[i].text);
        if (!found)
            return false;
    }
    return true;
}

/* Whether F's tests hold for some element of the repeated field before its path's "[*]" (at
 * ANY): each element's path is read in turn, as many as the message has. */
static bool any_holds(const struct acl_field_test *f, const char *any, const phx_call_t *call)
{
    char list[ACL_PATH_MAX], path[2 * ACL_PATH_MAX + 24];
    size_t count = 0, n = (size_t)(any - f->path);
    phx_field_t v;

    memcpy(list, f->path, n);
    list[n] = '\0';
    if (phx_call_field_count(call, list, &count) != 0)
        return false;
    for (size_t i = 0; i < count; i++) {
        snprintf(path, sizeof(path), "%s[%zu]%s", list, i, any + 3);
        if (phx_call_field(call, path, &v) == 0 && value_holds(f, &v))
            return true;
    }
    return false;
}

/* Whether every test of F holds for CALL's message (for some element, with [*]). */
static bool field_holds(const struct acl_field_test *f, const phx_call_t *call)
{
    const char *any = strstr(f->path, "[*]");
    phx_field_t v;

    if (any)
        return any_holds(f, any, call);
    return phx_call_field(call, f->path, &v) == 0 && value_holds(f, &v);
}

static bool holds(const struct acl_rule *r, const phx_call_t *call)
{
    const phx_caller_t *c = call->caller;
    const phx_peer_t *p = call->peer;

    if ((r->has & ACL_HAS_SERVICE) && r->service_id != call->service_id)
        return false;
    if ((r->has & ACL_HAS_METHOD) && r->method_id != call->method_id)
        return false;
    if ((r->has & ACL_HAS_UID) && (c->pid <= 0 || r->uid != c->uid))
        return false;
    if ((r->has & ACL_HAS_GID) && (!c->gid_known || r->gid != c->gid))
        return false;
    if ((r->has & ACL_HAS_PEER_UID) &&
        (!(p->flags & PHX_PEER_AUTHENTICATED) || r->peer_uid != p->uid))
        return false;
    return !(r->has & ACL_HAS_FIELD) || field_holds(&r->field, call);
}

struct acl_rule *acl_rules_match(struct acl_rules *r, const phx_call_t *call)
{
    for (unsigned i = 0; i < r->n; i++)
        if (holds(&r->rule[i], call))
            return &r->rule[i];
    return NULL;
}
