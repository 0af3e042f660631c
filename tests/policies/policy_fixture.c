/* policy_fixture.c - policyctl against a node (see policy_fixture.h). */
#include "policy_fixture.h"

#include "phx_test.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#ifndef POLICYCTL_PATH
#error "the build must define POLICYCTL_PATH"
#endif

#define ARGS_MAX 40

int policy_ctl(const struct mrpc_node *n, const char *const *args, phx_test_run_result_t *r)
{
    char *argv[ARGS_MAX + 4];
    unsigned k = 0;

    argv[k++] = POLICYCTL_PATH;
    for (unsigned i = 0; args[i] && i < ARGS_MAX; i++)
        argv[k++] = (char *)args[i];
    argv[k++] = "--prefix";
    argv[k++] = (char *)n->d.prefix;
    argv[k] = NULL;
    if (phx_test_run(argv, NULL, r) != 0)
        fprintf(stderr, "policyctl %s: exit %d: %s%s\n", args[0], r->code, r->out, r->err);
    return r->code;
}

/* ARGS (HEAD then what AP lists, each after FLAG when FLAG is not NULL), NULL-terminated. */
static unsigned collect(const char **args, unsigned k, const char *flag, va_list ap)
{
    for (const char *s; (s = va_arg(ap, const char *)) && k + 3 < ARGS_MAX;) {
        if (flag)
            args[k++] = flag;
        args[k++] = s;
    }
    args[k] = NULL;
    return k;
}

int policy_attach(const struct mrpc_node *n, const char *type, pid_t pid, ...)
{
    static phx_test_run_result_t r;
    const char *args[ARGS_MAX + 1] = { "attach", type, "--pid" };
    char p[16];
    va_list ap;

    snprintf(p, sizeof(p), "%d", (int)pid);
    args[3] = p;
    va_start(ap, pid);
    collect(args, 4, "--set", ap);
    va_end(ap);
    return policy_ctl(n, args, &r);
}

int policy_detach(const struct mrpc_node *n, const char *type, pid_t pid)
{
    static phx_test_run_result_t r;
    char p[16];

    snprintf(p, sizeof(p), "%d", (int)pid);
    return policy_ctl(n, (const char *[]){ "detach", type, "--pid", p, NULL }, &r);
}

int policy_set(const struct mrpc_node *n, const char *engine, pid_t pid, ...)
{
    static phx_test_run_result_t r;
    const char *args[ARGS_MAX + 1] = { "set" };
    char id[24];
    va_list ap;

    snprintf(id, sizeof(id), "%ld", policy_engine_id(n, engine, pid));
    args[1] = id;
    va_start(ap, pid);
    collect(args, 2, NULL, ap);
    va_end(ap);
    return policy_ctl(n, args, &r);
}

/* The entry of `policyctl list --json`'s "attached" for ENGINE of PID (and SID, when not -1; a
 * new reference), or NULL. */
static json_object *attached_sid(const struct mrpc_node *n, const char *engine, pid_t pid,
                                 long sid)
{
    static phx_test_run_result_t r;
    json_object *doc, *list, *found = NULL;

    if (policy_ctl(n, (const char *[]){ "list", "--json", NULL }, &r) != 0 ||
        !(doc = json_tokener_parse(r.out)))
        return NULL;
    if (json_object_object_get_ex(doc, "attached", &list))
        for (size_t i = 0; !found && i < json_object_array_length(list); i++) {
            json_object *a = json_object_array_get_idx(list, i), *e;
            if (policy_json_path_int(a, "pid") == (long)pid &&
                (sid < 0 || policy_json_path_int(a, "sid") == sid) &&
                json_object_object_get_ex(a, "engine", &e) &&
                strcmp(json_object_get_string(e), engine) == 0)
                found = json_object_get(a);
        }
    json_object_put(doc);
    return found;
}

static json_object *attached(const struct mrpc_node *n, const char *engine, pid_t pid)
{
    return attached_sid(n, engine, pid, -1);
}

json_object *policy_stats_sid(const struct mrpc_node *n, const char *engine, pid_t pid,
                              unsigned sid)
{
    json_object *a = attached_sid(n, engine, pid, sid), *stats = NULL;

    if (a && json_object_object_get_ex(a, "stats", &stats))
        json_object_get(stats);
    json_object_put(a);
    return stats;
}

long policy_engine_id_sid(const struct mrpc_node *n, const char *engine, pid_t pid,
                          unsigned sid)
{
    json_object *a = attached_sid(n, engine, pid, sid);
    long id = policy_json_path_int(a, "engine_id");

    json_object_put(a);
    return id;
}

json_object *policy_stats(const struct mrpc_node *n, const char *engine, pid_t pid)
{
    json_object *a = attached(n, engine, pid), *stats = NULL;

    if (a && json_object_object_get_ex(a, "stats", &stats))
        json_object_get(stats);
    json_object_put(a);
    return stats;
}

long policy_engine_id(const struct mrpc_node *n, const char *engine, pid_t pid)
{
    json_object *a = attached(n, engine, pid);
    long id = policy_json_path_int(a, "engine_id");

    json_object_put(a);
    return id;
}

long policy_json_path_int(json_object *o, const char *path)
{
    char key[64];

    while (o && *path) {
        size_t len = strcspn(path, ".");
        if (len >= sizeof(key))
            return -1;
        memcpy(key, path, len);
        key[len] = '\0';
        if (!json_object_object_get_ex(o, key, &o))
            return -1;
        path += len + (path[len] == '.');
    }
    return o && json_object_is_type(o, json_type_int) ? (long)json_object_get_int64(o) : -1;
}
