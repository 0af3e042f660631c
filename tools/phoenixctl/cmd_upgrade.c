/* cmd_upgrade.c - `phoenixctl upgrade --plugin PATH...`: live upgrade of loaded plugins.
 *
 * Sends the new builds' paths to the running service, which loads them and moves every engine
 * of those plugins onto them without stopping traffic, or refuses and keeps the old builds
 * running (see core/daemon/upgrade.h). Paths are made absolute here, against the admin's working
 * directory, because the service's working directory is not the admin's. The service's summary
 * ("upgraded null 1.0.0 -> 2.0.0 (1 engine)") is printed on success. */
#include "phoenixctl.h"

#include "ctl_client.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define UPGRADE_MAX_PATHS 32        /* as many as the service takes in one request */

typedef struct {
    phxctl_conn_t conn;
    char         *paths[UPGRADE_MAX_PATHS];     /* absolute, malloc'd */
    unsigned      n_paths;
} upgrade_args_t;

static void upgrade_usage(const void *args, FILE *out)
{
    fprintf(out, "Usage: phoenixctl upgrade --plugin PATH [--plugin PATH ...] [--prefix DIR]\n"
                 "                          [--timeout SEC]\n"
                 "Replaces loaded plugins by new builds while their engines keep running: each\n"
                 "engine's state moves to the new build, queued messages wait in place. If any\n"
                 "engine cannot move, nothing changes and the old builds keep running.\n\n"
                 "  -p, --plugin PATH    a new build (.so) of a loaded plugin; up to %d\n"
                 PHXCTL_CONN_HELP
                 "  -h, --help           show this help\n\n"
                 "Exit status: 0 upgraded, 1 no service or the upgrade was refused,\n"
                 "2 usage error.\n",
            UPGRADE_MAX_PATHS);
}

/* PATH against the current directory (not resolved: the service says what is missing). */
static char *absolute_path(const char *path)
{
    char cwd[PATH_MAX];
    char *full = NULL;

    if (path[0] == '/')
        return strdup(path);
    if (!getcwd(cwd, sizeof(cwd)) || asprintf(&full, "%s/%s", cwd, path) < 0)
        return NULL;
    return full;
}

/* --plugin PATH, the only option. */
static int add_path(void *args, int c, const char *path, const char *prog)
{
    upgrade_args_t *a = args;

    if (!*path)
        return phxctl_usage_error(prog, "--plugin takes a file name");
    if (a->n_paths == UPGRADE_MAX_PATHS)
        return phxctl_usage_error(prog, "at most %d plugins at a time", UPGRADE_MAX_PATHS);
    if (!(a->paths[a->n_paths] = absolute_path(path))) {
        fprintf(stderr, "phoenixctl: cannot make %s absolute: %m\n", path);
        return PHXCTL_EXIT_FAILED;
    }
    a->n_paths++;
    return -1;
}

/* Returns -1 to go on, else the exit code. */
static int parse_upgrade_args(int argc, char **argv, upgrade_args_t *a)
{
    static const struct option options[] = {
        { "plugin", required_argument, NULL, 'p' },
        { NULL, 0, NULL, 0 },
    };
    phxctl_options_t opts = { .shortopts = "p:", .longopts = options, .take = add_path,
                              .usage = upgrade_usage, .ctx = a, .nargs = -1 };
    int rc = phxctl_parse_options(argc, argv, &opts, &a->conn);

    if (rc >= 0)
        return rc;
    if (optind < argc)
        return phxctl_usage_error(argv[0], "unexpected argument '%s' (give each plugin with "
                                  "--plugin)", argv[optind]);
    if (a->n_paths == 0)
        return phxctl_usage_error(argv[0], "which plugin? give its new build with --plugin PATH");
    return -1;
}

static int send_upgrade(upgrade_args_t *a)
{
    Phoenix__Control__UpgradeRequest upgrade = PHOENIX__CONTROL__UPGRADE_REQUEST__INIT;
    Phoenix__Control__Request req = PHOENIX__CONTROL__REQUEST__INIT;
    Phoenix__Control__Response *resp;

    upgrade.paths = a->paths;
    upgrade.n_paths = a->n_paths;
    req.body_case = PHOENIX__CONTROL__REQUEST__BODY_UPGRADE;
    req.upgrade = &upgrade;
    int rc = phxctl_call(&a->conn, &req, PHOENIX__CONTROL__RESPONSE__BODY_UPGRADE, &resp, NULL);
    if (rc == PHXCTL_EXIT_OK) {
        printf("%s\n", resp->upgrade->message);
        phoenix__control__response__free_unpacked(resp, NULL);
    }
    return rc;
}

int phxctl_cmd_upgrade(int argc, char **argv)
{
    upgrade_args_t args = { 0 };
    int rc = parse_upgrade_args(argc, argv, &args);

    if (rc < 0)
        rc = send_upgrade(&args);
    for (unsigned i = 0; i < args.n_paths; i++)
        free(args.paths[i]);
    return rc;
}
