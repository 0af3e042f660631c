/* cmd_set.c - `policyctl set ENGINE_ID key=value ...`: new settings for a running policy.
 *
 * Sends a ReconfigureRequest: the service suspends the engine's group and hands the settings, as
 * a config_string, to the engine's reconfigure() op, which lays them over the settings in effect
 * and keeps its state (a rate limiter keeps its tokens and counters). A refused setting changes
 * nothing; the engine's one-line reason is printed as it is. */
#include "policyctl.h"

#include <stdio.h>
#include <stdlib.h>

static void set_usage(const void *args, FILE *out)
{
    fprintf(out, "Usage: policyctl set ENGINE_ID [KEY=VALUE...] [--settings FILE] [--prefix DIR]\n"
                 "                     [--timeout SEC]\n"
                 "Changes settings of the running policy engine ENGINE_ID (`policyctl list`\n"
                 "shows the ids) without detaching it; settings not named keep their values.\n\n"
                 "  -f, --settings FILE  settings in libconfig syntax (an ACL's rules)\n"
                 PHXCTL_CONN_HELP
                 "  -h, --help           show this help\n\n"
                 "Exit status: 0 done, 1 no service, no such engine or a bad setting,\n"
                 "2 usage error.\n");
}

static int take_file(void *args, int c, const char *arg, const char *prog)
{
    if (c != 'f')
        return phxctl_usage_error(prog, NULL);
    *(const char **)args = arg;
    return -1;
}

static int send_set(const phxctl_conn_t *conn, unsigned long long id, char *config)
{
    Phoenix__Control__ReconfigureRequest r = PHOENIX__CONTROL__RECONFIGURE_REQUEST__INIT;
    Phoenix__Control__Request req = PHOENIX__CONTROL__REQUEST__INIT;
    Phoenix__Control__Response *resp;

    r.engine_id = id;
    r.config_string = config;
    req.body_case = PHOENIX__CONTROL__REQUEST__BODY_RECONFIGURE;
    req.reconfigure = &r;
    int rc = phxctl_call(conn, &req, PHOENIX__CONTROL__RESPONSE__BODY_RECONFIGURE, &resp, NULL);
    if (rc == PHXCTL_EXIT_OK) {
        printf("%s: %s\n", resp->reconfigure->message, config);
        phoenix__control__response__free_unpacked(resp, NULL);
    }
    return rc;
}

int pctl_cmd_set(int argc, char **argv)
{
    static const struct option options[] = { { "settings", required_argument, NULL, 'f' },
                                             { NULL, 0, NULL, 0 } };
    const char *file = NULL;
    phxctl_conn_t conn = { 0 };
    phxctl_options_t opts = { .shortopts = "f:", .longopts = options, .take = take_file,
                              .ctx = &file, .usage = set_usage, .nargs = -1 };
    unsigned long long id;
    int rc = phxctl_parse_options(argc, argv, &opts, &conn);

    if (rc >= 0)
        return rc;
    if (argc - optind < (file ? 1 : 2))
        return phxctl_usage_error(argv[0], "ENGINE_ID and at least one KEY=VALUE or --settings "
                                  "are needed");
    if (phxctl_parse_uint(argv[optind], UINT64_MAX, &id) != 0)
        return phxctl_usage_error(argv[0], "ENGINE_ID is a number, not '%s'", argv[optind]);
    char *config = pctl_config_text(file, argv + optind + 1, (unsigned)(argc - optind - 1),
                                    argv[0], &rc);
    if (!config)
        return rc;
    rc = send_set(&conn, id, config);
    free(config);
    return rc;
}
