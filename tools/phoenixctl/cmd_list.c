/* cmd_list.c - `phoenixctl list`: every subscription of the running service with its engines.
 *
 * Asks phoenixd for a ListRequest and prints the seed's table: one row per subscription (PID,
 * SID, service, the policies an admin spliced in, or "None", its Slurm job, "-" for none, with
 * "(unverified)" when the service took it from the app's environment, its accepted connections
 * with the remote address and the uid/gid the peer's MUNGE credential proved, "-" for none) whose
 * last cell is a nested table of its engines in progress order; or, with --json, the same as
 * one JSON object. Rows are sorted by PID, then SID, so that a subscription keeps its place
 * between two listings. */
#include "phoenixctl.h"

#include "ctl_client.h"
#include "table.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef Phoenix__Control__Subscription subscription_t;

static void list_usage(FILE *out)
{
    fprintf(out, "Usage: phoenixctl list [--json] [--prefix DIR] [--timeout SEC]\n"
                 "Lists the apps' subscriptions in the running service: PID, SID, service,\n"
                 "the policies attached to it (Addons), its Slurm job (\"(unverified)\" when\n"
                 "taken from the app's environment, not its cgroup), the runtime thread\n"
                 "driving it (\"(urgent)\": one kept for apps a policy made urgent), its\n"
                 "accepted connections (the remote address, and the uid/gid its MUNGE\n"
                 "credential proved, or \"unauthenticated\") and its engines.\n\n"
                 "  -j, --json           print one JSON object instead of the table\n"
                 PHXCTL_CONN_HELP
                 "  -h, --help           show this help\n\n"
                 "Exit status: 0 done, 1 no service or it refused, 2 usage error.\n");
}

static int by_pid_then_sid(const void *a, const void *b)
{
    const subscription_t *x = *(subscription_t *const *)a, *y = *(subscription_t *const *)b;

    if (x->pid != y->pid)
        return x->pid < y->pid ? -1 : 1;
    return x->sid < y->sid ? -1 : x->sid > y->sid;
}

/* ---- table ---------------------------------------------------------------------------------- */

/* The nested EngineId | EngineType table, without its last newline (it goes in a cell). */
static char *engines_table(const subscription_t *s)
{
    phxctl_table_t *t = phxctl_table_new(2, (const char *[]){ "EngineId", "EngineType" });
    char *text = NULL;
    int rc = t ? 0 : -1;

    for (size_t i = 0; rc == 0 && i < s->n_engines; i++) {
        char id[24];
        snprintf(id, sizeof(id), "%" PRIu64, s->engines[i]->id);
        rc = phxctl_table_add_row(t, (const char *[]){ id, s->engines[i]->type });
    }
    if (rc == 0 && (text = phxctl_table_render(t)) && *text)
        text[strlen(text) - 1] = '\0';
    phxctl_table_free(t);
    return text;
}

/* One line per accepted connection: "ID HOST:PORT uid U gid G" (or "unauthenticated"); "-"
 * for none. NULL when out of memory. */
static char *connections_lines(const subscription_t *s)
{
    char **lines = calloc(s->n_connections ? s->n_connections : 1, sizeof(*lines)), *text = NULL;
    size_t n = 0;

    for (; lines && n < s->n_connections; n++) {
        const Phoenix__Control__Connection *c = s->connections[n];
        int rc = c->authenticated
                     ? asprintf(&lines[n], "%u %s uid %" PRId64 " gid %" PRId64, c->id, c->peer,
                                c->uid, c->gid)
                     : asprintf(&lines[n], "%u %s unauthenticated", c->id, c->peer);
        if (rc < 0) {
            lines[n] = NULL;
            break;
        }
    }
    if (lines && n == s->n_connections)
        text = phxctl_lines(lines, n, "-");
    for (size_t i = 0; lines && i < n; i++)
        free(lines[i]);
    free(lines);
    return text;
}

static int add_subscription_row(phxctl_table_t *t, const subscription_t *s)
{
    char pid[16], sid[16], job[64], runtime[32];
    char *addons = phxctl_lines(s->addons, s->n_addons, "None");
    char *conns = connections_lines(s);
    char *engines = engines_table(s);
    int rc = -1;

    snprintf(pid, sizeof(pid), "%u", s->pid);
    snprintf(sid, sizeof(sid), "%u", s->sid);
    snprintf(job, sizeof(job), "%s%s", *s->job ? s->job : "-",
             *s->job && !s->job_verified ? " (unverified)" : "");
    snprintf(runtime, sizeof(runtime), "%u%s", s->runtime, s->runtime_urgent ? " (urgent)" : "");
    if (addons && conns && engines)
        rc = phxctl_table_add_row(t, (const char *[]){ pid, sid, s->service, addons, job,
                                                       runtime, conns, engines });
    free(addons);
    free(conns);
    free(engines);
    return rc;
}

static int print_table(subscription_t *const *subs, size_t n)
{
    phxctl_table_t *t = phxctl_table_new(8, (const char *[]){ "PID", "SID", "Service", "Addons",
                                                               "Job", "Runtime", "Connections",
                                                               "Engines" });
    int rc = t ? 0 : -1;

    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = add_subscription_row(t, subs[i]);
    return phxctl_table_emit(t, rc);
}

/* ---- JSON ----------------------------------------------------------------------------------- */

static json_object *engine_json(const Phoenix__Control__Engine *e)
{
    json_object *o = json_object_new_object();

    json_object_object_add(o, "id", json_object_new_uint64(e->id));
    json_object_object_add(o, "type", json_object_new_string(e->type));
    json_object_object_add(o, "plugin", json_object_new_string(e->plugin));
    json_object_object_add(o, "version", json_object_new_string(e->version));
    if (e->attached_by_admin || e->attached_uid) {      /* an addon: who attached it */
        json_object_object_add(o, "attached_uid", json_object_new_int64(e->attached_uid));
        json_object_object_add(o, "attached_by_admin",
                               json_object_new_boolean(e->attached_by_admin));
    }
    json_object_object_add(o, "work", json_object_new_uint64(e->work));
    json_object_object_add(o, "busy_ns", json_object_new_uint64(e->busy_ns));
    return o;
}

/* {"id":N,"peer":"host:port","uid":U,"gid":G,"authenticated":B}; uid and gid null when the
 * peer is unauthenticated. */
static json_object *connection_json(const Phoenix__Control__Connection *c)
{
    json_object *o = json_object_new_object();
    bool known = c->authenticated && c->uid >= 0;

    json_object_object_add(o, "id", json_object_new_int64(c->id));
    json_object_object_add(o, "peer", json_object_new_string(c->peer));
    json_object_object_add(o, "uid", known ? json_object_new_int64(c->uid) : NULL);
    json_object_object_add(o, "gid", known ? json_object_new_int64(c->gid) : NULL);
    json_object_object_add(o, "authenticated", json_object_new_boolean(c->authenticated));
    return o;
}

static json_object *subscription_json(const void *subs, size_t index)
{
    const subscription_t *s = ((subscription_t *const *)subs)[index];
    json_object *o = json_object_new_object();
    json_object *addons = json_object_new_array();
    json_object *engines = json_object_new_array();
    json_object *conns = json_object_new_array();

    for (size_t i = 0; i < s->n_connections; i++)
        json_object_array_add(conns, connection_json(s->connections[i]));
    for (size_t i = 0; i < s->n_addons; i++)
        json_object_array_add(addons, json_object_new_string(s->addons[i]));
    for (size_t i = 0; i < s->n_engines; i++)
        json_object_array_add(engines, engine_json(s->engines[i]));
    json_object_object_add(o, "pid", json_object_new_int64(s->pid));
    json_object_object_add(o, "sid", json_object_new_int64(s->sid));
    json_object_object_add(o, "service", json_object_new_string(s->service));
    json_object_object_add(o, "addons", addons);
    json_object_object_add(o, "job", *s->job ? json_object_new_string(s->job) : NULL);
    json_object_object_add(o, "job_verified", json_object_new_boolean(s->job_verified));
    json_object_object_add(o, "runtime", json_object_new_int64(s->runtime));
    json_object_object_add(o, "runtime_urgent", json_object_new_boolean(s->runtime_urgent));
    json_object_object_add(o, "connections", conns);
    json_object_object_add(o, "engines", engines);
    return o;
}

static int print_list(Phoenix__Control__Response *resp, bool json)
{
    /* Sorting the reply's own array in place: it is ours until freed. */
    subscription_t **subs = resp->list->subscriptions;
    size_t n = resp->list->n_subscriptions;

    if (n)
        qsort(subs, n, sizeof(*subs), by_pid_then_sid);
    return json ? phxctl_print_json_list("subscriptions", subs, n, subscription_json)
                : print_table(subs, n);
}

int phxctl_cmd_list(int argc, char **argv)
{
    Phoenix__Control__ListRequest list = PHOENIX__CONTROL__LIST_REQUEST__INIT;
    Phoenix__Control__Request req = PHOENIX__CONTROL__REQUEST__INIT;

    req.body_case = PHOENIX__CONTROL__REQUEST__BODY_LIST;
    req.list = &list;
    return phxctl_query(argc, argv, list_usage, &req, PHOENIX__CONTROL__RESPONSE__BODY_LIST,
                        print_list);
}
