/* cmd_list.c - `policyctl list`: the policy types (loaded or not, with their settings and
 * defaults) and the policies attached to apps (pid, sid, Slurm job, engine id, settings,
 * counters).
 *
 * Three questions to the service: its plugins (which policy types are loaded, and from which
 * file: the settings are read from that build, schema.c), its subscriptions (which engines are
 * addons), and "stats" to each attached policy engine (its settings in effect and counters, as
 * the engine answers them). With --json, one object {"types": [...], "attached": [...]}. */
#include "policyctl.h"

#include "schema.h"
#include "table.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void list_usage(FILE *out)
{
    fprintf(out, "Usage: policyctl list [--json] [--prefix DIR] [--timeout SEC]\n"
                 "Lists the policy types with their settings and defaults, and the policies\n"
                 "attached to apps with their engine ids, settings and counters.\n\n"
                 "  -j, --json           print one JSON object instead of the tables\n"
                 PHXCTL_CONN_HELP
                 "  -h, --help           show this help\n\n"
                 "Exit status: 0 done, 1 no service or it refused, 2 usage error.\n");
}

/* ---- types ---------------------------------------------------------------------------------- */

static const Phoenix__Control__Plugin *loaded(const Phoenix__Control__PluginsReply *p,
                                              const pctl_type_t *t)
{
    for (size_t i = 0; i < p->n_plugins; i++)
        for (size_t k = 0; k < p->plugins[i]->n_engine_types; k++)
            if (strcmp(p->plugins[i]->engine_types[k], t->engine) == 0)
                return p->plugins[i];
    return NULL;
}

static void add_setting(void *arg, const pctl_setting_t *s)
{
    json_object *o = json_object_new_object();

    json_object_object_add(o, "key", json_object_new_string(s->key));
    json_object_object_add(o, "default", json_object_new_string(s->def));
    json_object_object_add(o, "help", json_object_new_string(s->help));
    json_object_array_add(arg, o);
}

static json_object *type_json(const pctl_type_t *t, const Phoenix__Control__Plugin *p)
{
    json_object *o = json_object_new_object(), *settings = json_object_new_array();
    char err[256];

    json_object_object_add(o, "type", json_object_new_string(t->name));
    json_object_object_add(o, "engine", json_object_new_string(t->engine));
    json_object_object_add(o, "plugin", json_object_new_string(t->plugin));
    json_object_object_add(o, "summary", json_object_new_string(t->summary));
    json_object_object_add(o, "loaded", json_object_new_boolean(p != NULL));
    if (p) {
        json_object_object_add(o, "version", json_object_new_string(p->version));
        if (pctl_schema_each(p->path, add_setting, settings, err, sizeof(err)) < 0)
            json_object_object_add(o, "settings_error", json_object_new_string(err));
    }
    json_object_object_add(o, "settings", settings);
    return o;
}

/* ---- attached ------------------------------------------------------------------------------- */

static json_object *attached_json(const phxctl_conn_t *conn, const pctl_sub_t *s,
                                  const Phoenix__Control__Engine *e)
{
    json_object *o = json_object_new_object(), *stats = pctl_engine_stats(conn, e->id);
    const pctl_type_t *t = pctl_type_of_engine(e->type);

    json_object_object_add(o, "pid", json_object_new_int64(s->pid));
    json_object_object_add(o, "sid", json_object_new_int64(s->sid));
    json_object_object_add(o, "job", *s->job ? json_object_new_string(s->job) : NULL);
    json_object_object_add(o, "job_verified", json_object_new_boolean(s->job_verified));
    json_object_object_add(o, "engine_id", json_object_new_int64((int64_t)e->id));
    json_object_object_add(o, "type", json_object_new_string(t ? t->name : e->type));
    json_object_object_add(o, "engine", json_object_new_string(e->type));
    json_object_object_add(o, "stats", stats ? stats : json_object_new_object());
    return o;
}

static json_object *all_attached(const phxctl_conn_t *conn, const Phoenix__Control__ListReply *l)
{
    json_object *a = json_object_new_array();

    for (size_t i = 0; i < l->n_subscriptions; i++) {
        const pctl_sub_t *s = l->subscriptions[i];
        for (size_t k = 0; k < s->n_engines; k++)
            if (pctl_is_addon(s, s->engines[k]->type))
                json_object_array_add(a, attached_json(conn, s, s->engines[k]));
    }
    return a;
}

/* ---- tables --------------------------------------------------------------------------------- */

static const char *str(json_object *o, const char *key)
{
    json_object *v;

    return json_object_object_get_ex(o, key, &v) && v ? json_object_get_string(v) : "";
}

static char *settings_cell(json_object *settings)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);

    for (size_t i = 0; f && i < json_object_array_length(settings); i++) {
        json_object *s = json_object_array_get_idx(settings, i);
        fprintf(f, "%s%s = %s", i ? "\n" : "", str(s, "key"), str(s, "default"));
    }
    return f && fclose(f) == 0 ? text : NULL;
}

static int print_types(json_object *types)
{
    phxctl_table_t *t = phxctl_table_new(4, (const char *[]){ "Type", "Engine", "Loaded",
                                                              "Settings (defaults)" });
    int rc = t ? 0 : -1;

    for (size_t i = 0; rc == 0 && i < json_object_array_length(types); i++) {
        json_object *o = json_object_array_get_idx(types, i), *s;
        char *cell = json_object_object_get_ex(o, "settings", &s) ? settings_cell(s) : NULL;
        const char *ver = str(o, "version");
        rc = phxctl_table_add_row(t, (const char *[]){ str(o, "type"), str(o, "engine"),
                                                       *ver ? ver : "no", cell ? cell : "" });
        free(cell);
    }
    return phxctl_table_emit(t, rc);
}

/* STATS as lines "key: value", an object's members on its line as "k=v" (JSON values). */
static char *stats_cell(json_object *stats)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    bool first = true;

    if (!f)
        return NULL;
    json_object_object_foreach(stats, key, val) {
        if (!strcmp(key, "type") || (json_object_is_type(val, json_type_string) &&
                                     !*json_object_get_string(val)))
            continue;
        fprintf(f, "%s%s:", first ? "" : "\n", key);
        first = false;
        if (!json_object_is_type(val, json_type_object)) {
            fprintf(f, " %s", json_object_to_json_string_ext(val, JSON_C_TO_STRING_PLAIN));
            continue;
        }
        json_object_object_foreach(val, k, v)
            fprintf(f, " %s=%s", k, json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN));
    }
    return fclose(f) == 0 ? text : NULL;
}

static int print_attached(json_object *attached)
{
    phxctl_table_t *t = phxctl_table_new(6, (const char *[]){ "PID", "SID", "Job", "EngineId",
                                                              "Type", "Stats" });
    int rc = t ? 0 : -1;

    for (size_t i = 0; rc == 0 && i < json_object_array_length(attached); i++) {
        json_object *o = json_object_array_get_idx(attached, i), *stats = NULL;
        char *cell = json_object_object_get_ex(o, "stats", &stats) ? stats_cell(stats) : NULL;
        char job[64];
        json_object *v;
        bool verified = json_object_object_get_ex(o, "job_verified", &v) &&
                        json_object_get_boolean(v);
        snprintf(job, sizeof(job), "%s%s", *str(o, "job") ? str(o, "job") : "-",
                 *str(o, "job") && !verified ? " (unverified)" : "");
        rc = phxctl_table_add_row(t, (const char *[]){ str(o, "pid"), str(o, "sid"), job,
                                                       str(o, "engine_id"), str(o, "type"),
                                                       cell ? cell : "" });
        free(cell);
    }
    return phxctl_table_emit(t, rc);
}

/* ---- the command ---------------------------------------------------------------------------- */

static int fetch_plugins(const phxctl_conn_t *conn, Phoenix__Control__Response **resp)
{
    Phoenix__Control__PluginsRequest p = PHOENIX__CONTROL__PLUGINS_REQUEST__INIT;
    Phoenix__Control__Request req = PHOENIX__CONTROL__REQUEST__INIT;

    req.body_case = PHOENIX__CONTROL__REQUEST__BODY_PLUGINS;
    req.plugins = &p;
    return phxctl_call(conn, &req, PHOENIX__CONTROL__RESPONSE__BODY_PLUGINS, resp, NULL);
}

static int print_all(json_object *doc, bool json)
{
    json_object *types, *attached;

    if (json)
        return phxctl_print_json(doc);
    json_object_object_get_ex(doc, "types", &types);
    json_object_object_get_ex(doc, "attached", &attached);
    printf("Policy types:\n");
    int rc = print_types(types);
    printf("\nAttached:\n");
    if (rc == PHXCTL_EXIT_OK)
        rc = json_object_array_length(attached) ? print_attached(attached)
                                                : (printf("none\n"), PHXCTL_EXIT_OK);
    json_object_put(doc);
    return rc;
}

int pctl_cmd_list(int argc, char **argv)
{
    phxctl_conn_t conn = { 0 };
    Phoenix__Control__Response *plugins, *list;
    bool json = false;
    int rc = phxctl_parse_query_args(argc, argv, &conn, &json, list_usage, 0, "");

    if (rc >= 0)
        return rc;
    if ((rc = fetch_plugins(&conn, &plugins)) != PHXCTL_EXIT_OK)
        return rc;
    if ((rc = pctl_fetch_list(&conn, &list)) != PHXCTL_EXIT_OK) {
        phoenix__control__response__free_unpacked(plugins, NULL);
        return rc;
    }
    json_object *doc = json_object_new_object(), *types = json_object_new_array();
    for (const pctl_type_t *t = pctl_types; t->name; t++)
        json_object_array_add(types, type_json(t, loaded(plugins->plugins, t)));
    json_object_object_add(doc, "types", types);
    json_object_object_add(doc, "attached", all_attached(&conn, list->list));
    phoenix__control__response__free_unpacked(plugins, NULL);
    phoenix__control__response__free_unpacked(list, NULL);
    return print_all(doc, json);
}
