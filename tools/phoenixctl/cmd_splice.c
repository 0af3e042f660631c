/* cmd_splice.c - `phoenixctl attach` and `phoenixctl detach`: policy engines in and out of a
 * running subscription, from a descriptor file.
 *
 * Both read the descriptor with libphoenix's phx_addon_desc_load_file(), which checks it and
 * inlines a config_path (relative to the descriptor) as config_string: a mistake is reported
 * here as "file:line: key: what is wrong" before anything is sent, and the service never opens
 * an admin's files. The file's `op` must be the command's (attach.conf with `detach` is a usage
 * error). The service then validates the descriptor against the subscription and splices it
 * without losing a message, or refuses with its reason (core/daemon/splice.h). */
#include "phoenixctl.h"

#include "phoenix/admin/addon_desc.h"
#include "ctl_client.h"

#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    phxctl_conn_t  conn;
    phx_addon_op_t op;              /* the command's */
    const char    *verb;            /* "attach" | "detach" */
    long long      pid, sid;        /* -1 until given */
    const char    *descriptor;
} splice_args_t;

static void splice_usage(const void *args, FILE *out)
{
    const char *verb = ((const splice_args_t *)args)->verb;

    fprintf(out, "Usage: phoenixctl %s --pid PID --sid SID --descriptor FILE [--prefix DIR]\n"
                 "                         [--timeout SEC]\n"
                 "%s a policy engine %s the subscription SID of process PID, as the\n"
                 "descriptor FILE says (`phoenixctl list` shows the subscriptions; the\n"
                 "administrator's guide docs/admin.md explains descriptors).\n\n"
                 "  -p, --pid PID        the app's process id\n"
                 "  -s, --sid SID        its subscription id\n"
                 "  -d, --descriptor FILE\n"
                 "                       the policy descriptor, with op = \"%s\"\n"
                 PHXCTL_CONN_HELP
                 "  -h, --help           show this help\n\n"
                 "Exit status: 0 done, 1 bad descriptor, no service or the service refused,\n"
                 "2 usage error.\n",
            verb, strcmp(verb, "attach") == 0 ? "Inserts" : "Removes",
            strcmp(verb, "attach") == 0 ? "into" : "from", verb);
}

static int parse_id(const char *text, const char *what, long long *out, const char *prog)
{
    unsigned long long v;

    if (phxctl_parse_uint(text, UINT32_MAX, &v) != 0)
        return phxctl_usage_error(prog, "--%s takes a number, not '%s'", what, text);
    *out = (long long)v;
    return -1;
}

static int take_option(void *args, int c, const char *arg, const char *prog)
{
    splice_args_t *a = args;

    if (c == 'p')
        return parse_id(arg, "pid", &a->pid, prog);
    if (c == 's')
        return parse_id(arg, "sid", &a->sid, prog);
    a->descriptor = arg;                                    /* 'd' */
    return -1;
}

/* Returns -1 to go on, else the exit code. */
static int parse_splice_args(int argc, char **argv, splice_args_t *a)
{
    static const struct option options[] = {
        { "pid", required_argument, NULL, 'p' },
        { "sid", required_argument, NULL, 's' },
        { "descriptor", required_argument, NULL, 'd' },
        { NULL, 0, NULL, 0 },
    };
    phxctl_options_t opts = { .shortopts = "p:s:d:", .longopts = options, .take = take_option,
                              .usage = splice_usage, .ctx = a, .nargs = 0 };
    int rc = phxctl_parse_options(argc, argv, &opts, &a->conn);

    if (rc >= 0)
        return rc;
    if (a->pid < 0 || a->sid < 0 || !a->descriptor)
        return phxctl_usage_error(argv[0], "--pid, --sid and --descriptor are all needed "
                                  "(`phoenixctl list` shows PIDs and SIDs)");
    return -1;
}

/* The descriptor as it goes to the service, or NULL with *RC the exit code after saying why. */
static char *load_descriptor(const splice_args_t *a, const char *prog, int *rc)
{
    struct phx_addon_desc d;
    char err[512];
    char *text = phx_addon_desc_load_file(a->descriptor, err, sizeof(err));

    *rc = PHXCTL_EXIT_FAILED;
    if (!text) {
        fprintf(stderr, "phoenixctl: %s\n", err);
        return NULL;
    }
    /* load_file() has checked it: parsing again only tells which op it is. */
    if (phx_addon_desc_parse(text, a->descriptor, &d, err, sizeof(err)) != 0) {
        fprintf(stderr, "phoenixctl: %s\n", err);
        free(text);
        return NULL;
    }
    phx_addon_op_t op = d.op;
    phx_addon_desc_fini(&d);
    if (op != a->op) {
        const char *other = op == PHX_ADDON_ATTACH ? "attach" : "detach";
        *rc = phxctl_usage_error(prog, "%s says op = \"%s\": use 'phoenixctl %s'",
                                 a->descriptor, other, other);
        free(text);
        return NULL;
    }
    return text;
}

static int send_splice(const splice_args_t *a, char *text)
{
    Phoenix__Control__SpliceRequest splice = PHOENIX__CONTROL__SPLICE_REQUEST__INIT;
    Phoenix__Control__Request req = PHOENIX__CONTROL__REQUEST__INIT;
    Phoenix__Control__Response *resp;
    char origin[256];
    char *file = strdup(a->descriptor);

    snprintf(origin, sizeof(origin), "phoenixctl %s by uid %d, %s", a->verb, (int)getuid(),
             file ? basename(file) : a->descriptor);
    free(file);
    splice.pid = (uint32_t)a->pid;
    splice.sid = (uint32_t)a->sid;
    splice.descriptor_text = text;
    splice.origin = origin;
    req.body_case = PHOENIX__CONTROL__REQUEST__BODY_SPLICE;
    req.splice = &splice;
    int rc = phxctl_call(&a->conn, &req, PHOENIX__CONTROL__RESPONSE__BODY_SPLICE, &resp, NULL);
    if (rc == PHXCTL_EXIT_OK) {
        printf("%s\n", resp->splice->message);
        phoenix__control__response__free_unpacked(resp, NULL);
    }
    return rc;
}

static int splice_command(int argc, char **argv, phx_addon_op_t op, const char *verb)
{
    splice_args_t args = { .op = op, .verb = verb, .pid = -1, .sid = -1 };
    int rc = parse_splice_args(argc, argv, &args);
    char *text;

    if (rc >= 0)
        return rc;
    if (!(text = load_descriptor(&args, argv[0], &rc)))
        return rc;
    rc = send_splice(&args, text);
    free(text);
    return rc;
}

int phxctl_cmd_attach(int argc, char **argv)
{
    return splice_command(argc, argv, PHX_ADDON_ATTACH, "attach");
}

int phxctl_cmd_detach(int argc, char **argv)
{
    return splice_command(argc, argv, PHX_ADDON_DETACH, "detach");
}
