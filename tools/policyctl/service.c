/* service.c - what policyctl asks the service about an app: the subscriptions (ListRequest), one
 * subscription by pid and sid, an engine's stats (EngineAdminRequest "stats"); and the
 * config_string it sends, built from a --settings file and --set key=value arguments. */
#include "policyctl.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int pctl_fetch_list(const phxctl_conn_t *conn, Phoenix__Control__Response **resp)
{
    Phoenix__Control__ListRequest list = PHOENIX__CONTROL__LIST_REQUEST__INIT;
    Phoenix__Control__Request req = PHOENIX__CONTROL__REQUEST__INIT;

    req.body_case = PHOENIX__CONTROL__REQUEST__BODY_LIST;
    req.list = &list;
    return phxctl_call(conn, &req, PHOENIX__CONTROL__RESPONSE__BODY_LIST, resp, NULL);
}

const pctl_sub_t *pctl_find_sub(const Phoenix__Control__ListReply *list, long long pid,
                                long long sid)
{
    const pctl_sub_t *found = NULL;

    for (size_t i = 0; i < list->n_subscriptions; i++) {
        const pctl_sub_t *s = list->subscriptions[i];
        if (s->pid != pid || s->n_engines < 2 || (sid >= 0 && s->sid != sid))
            continue;
        if (!found || s->sid > found->sid)
            found = s;
    }
    if (!found && sid >= 0)
        fprintf(stderr, "%s: pid %lld has no subscription %lld (see `policyctl list` or "
                "`phoenixctl list`)\n", phxctl_prog, pid, sid);
    else if (!found)
        fprintf(stderr, "%s: pid %lld has no subscription with a chain to splice into (is it "
                "an app of this service?)\n", phxctl_prog, pid);
    return found;
}

bool pctl_is_addon(const pctl_sub_t *sub, const char *type)
{
    for (size_t i = 0; i < sub->n_addons; i++)
        if (strcmp(sub->addons[i], type) == 0)
            return true;
    return false;
}

json_object *pctl_engine_stats(const phxctl_conn_t *conn, uint64_t engine_id)
{
    Phoenix__Control__EngineAdminRequest a = PHOENIX__CONTROL__ENGINE_ADMIN_REQUEST__INIT;
    Phoenix__Control__Request req = PHOENIX__CONTROL__REQUEST__INIT;
    Phoenix__Control__Response *resp;
    json_object *o = NULL;

    a.engine_id = engine_id;
    a.request = "stats";
    req.body_case = PHOENIX__CONTROL__REQUEST__BODY_ENGINE_ADMIN;
    req.engine_admin = &a;
    if (phxctl_call(conn, &req, PHOENIX__CONTROL__RESPONSE__BODY_ENGINE_ADMIN, &resp, NULL) != 0)
        return NULL;
    o = json_tokener_parse(resp->engine_admin->reply);
    phoenix__control__response__free_unpacked(resp, NULL);
    return o;
}

/* A key as settings.h takes it: a word, or "section.word". */
static bool valid_key(const char *k, size_t n)
{
    if (!n || !(isalpha((unsigned char)k[0]) || k[0] == '_'))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)k[i]) && k[i] != '_' && k[i] != '.')
            return false;
    return true;
}

/* A number or true/false goes as it is; anything else as a string. */
static bool bare_value(const char *v)
{
    if (!strcmp(v, "true") || !strcmp(v, "false"))
        return true;
    if (*v == '-' || *v == '+')
        v++;
    if (!*v)
        return false;
    for (; *v; v++)
        if (!isdigit((unsigned char)*v))
            return false;
    return true;
}

char *pctl_config_string(char *const *kv, unsigned n, const char *prog, int *rc)
{
    size_t cap = 1;
    for (unsigned i = 0; i < n; i++)
        cap += strlen(kv[i]) + 8;
    char *out = calloc(1, cap), *p = out;

    *rc = PHXCTL_EXIT_FAILED;
    if (!out) {
        fprintf(stderr, "%s: out of memory\n", prog);
        return NULL;
    }
    for (unsigned i = 0; i < n; i++) {
        const char *eq = strchr(kv[i], '=');
        size_t klen = eq ? (size_t)(eq - kv[i]) : 0;
        if (!eq || !valid_key(kv[i], klen) || strpbrk(eq + 1, "\";\n\\")) {
            free(out);
            *rc = phxctl_usage_error(prog, "'%s' is not key=value (a setting's name, '=', and a "
                                     "number, true/false or a word without quotes or ';')",
                                     kv[i]);
            return NULL;
        }
        const char *q = bare_value(eq + 1) ? "" : "\"";
        p += sprintf(p, "%s%.*s = %s%s%s;", i ? " " : "", (int)klen, kv[i], q, eq + 1, q);
    }
    return out;
}

#define SETTINGS_FILE_MAX (64 * 1024)

/* The text of FILE (at most SETTINGS_FILE_MAX bytes, no NUL), or NULL after saying why. */
static char *read_settings_file(const char *file, const char *prog)
{
    FILE *f = fopen(file, "r");
    char *text = f ? calloc(1, SETTINGS_FILE_MAX + 1) : NULL;
    size_t n = text ? fread(text, 1, SETTINGS_FILE_MAX + 1, f) : 0;

    if (!f || !text || ferror(f) || n > SETTINGS_FILE_MAX || memchr(text, '\0', n)) {
        fprintf(stderr, "%s: cannot use %s as settings: %s\n", prog, file,
                !f ? strerror(errno) : n > SETTINGS_FILE_MAX ? "larger than 64 KiB"
                                                            : "unreadable or binary");
        free(text);
        text = NULL;
    }
    if (f)
        fclose(f);
    return text;
}

char *pctl_config_text(const char *file, char *const *kv, unsigned n, const char *prog, int *rc)
{
    char *sets = pctl_config_string(kv, n, prog, rc), *text, *out = NULL;

    if (!sets || !file)
        return sets;
    *rc = PHXCTL_EXIT_FAILED;
    if ((text = read_settings_file(file, prog)) &&
        asprintf(&out, "%s\n%s", text, sets) < 0)          /* the file's lines keep numbers */
        out = NULL;
    free(text);
    free(sets);
    return out;
}
