/* cmd_engine.c - `phoenixctl engine ID REQUEST`: a text request to one engine, e.g. "stats".
 *
 * The service hands REQUEST to the admin operation of engine ID (ids as `phoenixctl list`
 * shows them) while the engine's group is paused, and returns what the engine answers: a JSON
 * document. --json prints it as it came; otherwise a JSON object is shown as "key: value" lines
 * and anything else as it is. Which requests an engine understands is up to its plugin. */
#include "phoenixctl.h"

#include "ctl_client.h"

#include <stdint.h>
#include <stdio.h>

typedef struct {
    phxctl_conn_t      conn;
    bool               json;
    unsigned long long id;
    const char        *request;
} engine_args_t;

static void engine_usage(FILE *out)
{
    fprintf(out, "Usage: phoenixctl engine ID REQUEST [--json] [--prefix DIR] [--timeout SEC]\n"
                 "Sends REQUEST to the engine ID (see `phoenixctl list`) and prints its answer.\n"
                 "Policies answer \"stats\"; other requests depend on the engine.\n\n"
                 "  -j, --json           print the engine's JSON answer as it is\n"
                 PHXCTL_CONN_HELP
                 "  -h, --help           show this help\n\n"
                 "Exit status: 0 done, 1 no service, no such engine or it refused,\n"
                 "2 usage error.\n");
}

/* Returns -1 to go on, else the exit code. */
static int parse_engine_args(int argc, char **argv, engine_args_t *a)
{
    int rc = phxctl_parse_query_args(argc, argv, &a->conn, &a->json, engine_usage, 2,
                                     "ID REQUEST, e.g. 'phoenixctl engine 3 stats'");

    if (rc >= 0)
        return rc;
    if (phxctl_parse_uint(argv[optind], UINT64_MAX, &a->id) != 0)
        return phxctl_usage_error(argv[0], "ID is an engine id as `phoenixctl list` shows, "
                                  "not '%s'", argv[optind]);
    a->request = argv[optind + 1];
    if (!*a->request)
        return phxctl_usage_error(argv[0], "REQUEST is empty");
    return -1;
}

/* A JSON object as "key: value" lines; anything else as it came. */
static void print_readable(const char *reply)
{
    json_object *o = json_tokener_parse(reply);

    if (!o || !json_object_is_type(o, json_type_object)) {
        printf("%s\n", reply);
    } else {
        json_object_object_foreach(o, key, value)
            printf("%s: %s\n", key, json_object_get_string(value));
    }
    json_object_put(o);
}

int phxctl_cmd_engine(int argc, char **argv)
{
    engine_args_t args = { 0 };
    int rc = parse_engine_args(argc, argv, &args);
    Phoenix__Control__EngineAdminRequest admin = PHOENIX__CONTROL__ENGINE_ADMIN_REQUEST__INIT;
    Phoenix__Control__Request req = PHOENIX__CONTROL__REQUEST__INIT;
    Phoenix__Control__Response *resp;

    if (rc >= 0)
        return rc;
    admin.engine_id = args.id;
    admin.request = (char *)args.request;
    req.body_case = PHOENIX__CONTROL__REQUEST__BODY_ENGINE_ADMIN;
    req.engine_admin = &admin;
    rc = phxctl_call(&args.conn, &req, PHOENIX__CONTROL__RESPONSE__BODY_ENGINE_ADMIN, &resp,
                     NULL);
    if (rc != PHXCTL_EXIT_OK)
        return rc;
    if (args.json)
        printf("%s\n", resp->engine_admin->reply);
    else
        print_readable(resp->engine_admin->reply);
    phoenix__control__response__free_unpacked(resp, NULL);
    return PHXCTL_EXIT_OK;
}
