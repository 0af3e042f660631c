/* cmd_plugins.c - `phoenixctl plugins`: the plugin builds loaded in the running service.
 *
 * One row per build: name, version, whether it is the current build of its name or a
 * superseded one that still runs engines after a live upgrade, how many engines run it, the
 * engine types it provides and the path it was loaded from. The service lists current builds
 * first (admin_handlers.h), so the first build of a name is its current one. */
#include "phoenixctl.h"

#include "ctl_client.h"
#include "table.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef Phoenix__Control__Plugin plugin_t;

static void plugins_usage(FILE *out)
{
    fprintf(out, "Usage: phoenixctl plugins [--json] [--prefix DIR] [--timeout SEC]\n"
                 "Lists the plugin builds loaded in the running service: current builds, and\n"
                 "superseded builds that still run engines after a live upgrade.\n\n"
                 "  -j, --json           print one JSON object instead of the table\n"
                 PHXCTL_CONN_HELP
                 "  -h, --help           show this help\n\n"
                 "Exit status: 0 done, 1 no service or it refused, 2 usage error.\n");
}

/* True when no earlier build in the reply has P's name. */
static bool is_current(plugin_t *const *plugins, size_t index)
{
    for (size_t i = 0; i < index; i++)
        if (strcmp(plugins[i]->name, plugins[index]->name) == 0)
            return false;
    return true;
}

static int print_table(plugin_t *const *plugins, size_t n)
{
    phxctl_table_t *t = phxctl_table_new(6, (const char *[]){ "Name", "Version", "State", "Live",
                                                               "EngineTypes", "Path" });
    int rc = t ? 0 : -1;

    for (size_t i = 0; rc == 0 && i < n; i++) {
        char live[16];
        char *types = phxctl_lines(plugins[i]->engine_types, plugins[i]->n_engine_types, "");
        snprintf(live, sizeof(live), "%u", plugins[i]->live);
        rc = types ? phxctl_table_add_row(t, (const char *[]){
                         plugins[i]->name, plugins[i]->version,
                         is_current(plugins, i) ? "current" : "superseded", live, types,
                         plugins[i]->path })
                   : -1;
        free(types);
    }
    return phxctl_table_emit(t, rc);
}

static json_object *plugin_json(const void *list, size_t index)
{
    plugin_t *const *plugins = list;
    const plugin_t *p = plugins[index];
    json_object *o = json_object_new_object();
    json_object *types = json_object_new_array();

    for (size_t i = 0; i < p->n_engine_types; i++)
        json_object_array_add(types, json_object_new_string(p->engine_types[i]));
    json_object_object_add(o, "name", json_object_new_string(p->name));
    json_object_object_add(o, "version", json_object_new_string(p->version));
    json_object_object_add(o, "current", json_object_new_boolean(is_current(plugins, index)));
    json_object_object_add(o, "live", json_object_new_int64(p->live));
    json_object_object_add(o, "engine_types", types);
    json_object_object_add(o, "path", json_object_new_string(p->path));
    return o;
}

static int print_plugins(Phoenix__Control__Response *resp, bool json)
{
    plugin_t *const *list = resp->plugins->plugins;
    size_t n = resp->plugins->n_plugins;

    return json ? phxctl_print_json_list("plugins", list, n, plugin_json) : print_table(list, n);
}

int phxctl_cmd_plugins(int argc, char **argv)
{
    Phoenix__Control__PluginsRequest plugins = PHOENIX__CONTROL__PLUGINS_REQUEST__INIT;
    Phoenix__Control__Request req = PHOENIX__CONTROL__REQUEST__INIT;

    req.body_case = PHOENIX__CONTROL__REQUEST__BODY_PLUGINS;
    req.plugins = &plugins;
    return phxctl_query(argc, argv, plugins_usage, &req, PHOENIX__CONTROL__RESPONSE__BODY_PLUGINS,
                        print_plugins);
}
