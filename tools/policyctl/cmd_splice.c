/* cmd_splice.c - `policyctl attach` and `policyctl detach`: a policy in or out of an app's
 * subscription, with the splice built here rather than written in a descriptor file.
 *
 * attach puts the policy right behind the app's front engine (engines[0], MrpcEngine), before
 * what the front engine feeds now (the transport, or a policy attached earlier), in both
 * directions: tx carries the calls the policy decides on, rx is the way a refused call completes
 * upward (phoenix/policy.h). Engines are listed in progress order, and the service keeps an
 * addon right before its tx consumer, so engines[1] is what the front engine feeds. The group
 * names every engine of the subscription as listed, so a subscription that changed meanwhile is
 * refused rather than spliced wrongly. detach joins the policy's neighbours again. The service
 * checks it all again (core/daemon/splice.c) and the policy's create() checks its settings:
 * their refusal, one line, is printed as it is.
 *
 * --side client|server|both says whose calls the policy decides: those the app makes, those it
 * serves, or both. The splice is the same for all three (both directions: a client's refusals go
 * up rx, a server's requests come in on it); the side becomes the policy's `side` setting, for
 * the types that take one (types.c).
 *
 * attach --job/--uid/--all and detach --rule/--job are standing rules instead, which the service
 * keeps and applies itself (cmd_rules.c). */
#include "policyctl.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SET_MAX 32
#define SIDE_ARG_MAX 16

typedef struct {
    phxctl_conn_t conn;
    bool          attach;
    long long     pid, sid;         /* -1 until given */
    const char   *job;              /* --job: a standing rule (attach) or a job's rules (detach) */
    long long     uid, rule;        /* --uid (attach), --rule (detach); -1 until given */
    bool          all;              /* --all */
    char         *set[SET_MAX];
    unsigned      n_set;
    const char   *settings;         /* --settings FILE, or NULL */
    const char   *side;             /* --side, or NULL */
    char          side_set[SIDE_ARG_MAX + 8];   /* "side=..." among set[] */
} splice_args_t;

static void splice_usage(const void *args, FILE *out)
{
    if (((const splice_args_t *)args)->attach)
        fprintf(out, "Usage: policyctl attach TYPE (--pid PID [--sid SID] | --job JOBID | --uid UID\n"
                     "                        | --all) [--set KEY=VALUE ...] [--settings FILE]\n"
                     "                        [--side client|server|both]\n"
                     "                        [--prefix DIR] [--timeout SEC]\n"
                     "Attaches a policy of TYPE (`policyctl list` shows the types and their\n"
                     "settings) to the app PID, between its front engine and its transport; or\n"
                     "creates a standing rule that attaches it to every app of a Slurm job, of a\n"
                     "user, or to all apps, registered now and later (`policyctl rules`).\n\n"
                     "  -p, --pid PID        the app's process id\n"
                     "  -s, --sid SID        its subscription (default: its newest)\n"
                     "  -J, --job JOBID      a rule for the apps of Slurm job JOBID\n"
                     "  -u, --uid UID        a rule for the apps of user UID\n"
                     "  -a, --all            a rule for all apps\n"
                     "  -S, --set KEY=VALUE  a setting of the policy (repeat for more)\n"
                     "  -f, --settings FILE  settings in libconfig syntax (an ACL's rules), read\n"
                     "                       by policyctl; --set values follow them\n"
                     "  -d, --side SIDE      the calls the policy decides: client (those the app\n"
                     "                       makes), server (those it serves) or both; for the\n"
                     "                       types that take it (acl)\n");
    else
        fprintf(out, "Usage: policyctl detach (TYPE --pid PID [--sid SID] | --rule N | --job JOBID)\n"
                     "                        [--prefix DIR] [--timeout SEC]\n"
                     "Removes the policy of TYPE from the app PID; calls it holds go on. --rule N\n"
                     "removes standing rule N and detaches what it attached; --job JOBID does so\n"
                     "for every rule of the job (for a Slurm epilog).\n\n"
                     "  -p, --pid PID        the app's process id\n"
                     "  -s, --sid SID        its subscription (default: its newest)\n"
                     "  -r, --rule N         a standing rule (`policyctl rules` lists them)\n"
                     "  -J, --job JOBID      every standing rule of Slurm job JOBID\n");
    fprintf(out, PHXCTL_CONN_HELP
                 "  -h, --help           show this help\n\n"
                 "Exit status: 0 done, 1 no service, no such app, bad settings or the service\n"
                 "refused, 2 usage error.\n");
}

static int take_option(void *args, int c, const char *arg, const char *prog)
{
    splice_args_t *a = args;
    unsigned long long v;

    if (c == 'f') {
        a->settings = arg;
        return -1;
    }
    if (c == 'd') {
        if (strcmp(arg, "client") != 0 && strcmp(arg, "server") != 0 && strcmp(arg, "both") != 0)
            return phxctl_usage_error(prog, "--side takes client, server or both, not '%s'", arg);
        a->side = arg;
        return -1;
    }
    if (c == 'S') {
        if (a->n_set == SET_MAX)
            return phxctl_usage_error(prog, "at most %d --set", SET_MAX);
        a->set[a->n_set++] = (char *)arg;
        return -1;
    }
    if (c == 'a') {
        a->all = true;
        return -1;
    }
    const char *name = c == 'p' ? "pid" : c == 's' ? "sid" : c == 'u' ? "uid" : c == 'r' ? "rule"
                                                                                   : "job";
    if (phxctl_parse_uint(arg, UINT32_MAX, &v) != 0)
        return phxctl_usage_error(prog, "--%s takes a number, not '%s'", name, arg);
    if (c == 'J')
        a->job = arg;
    else
        *(c == 'p' ? &a->pid : c == 's' ? &a->sid : c == 'u' ? &a->uid : &a->rule) = (long long)v;
    return -1;
}

/* Returns -1 to go on, else the exit code. */
static int parse_args(int argc, char **argv, splice_args_t *a)
{
    static const struct option options[] = {
        { "pid", required_argument, NULL, 'p' },
        { "sid", required_argument, NULL, 's' },
        { "set", required_argument, NULL, 'S' },
        { "job", required_argument, NULL, 'J' },
        { "uid", required_argument, NULL, 'u' },
        { "all", no_argument, NULL, 'a' },
        { "rule", required_argument, NULL, 'r' },
        { "settings", required_argument, NULL, 'f' },
        { "side", required_argument, NULL, 'd' },
        { NULL, 0, NULL, 0 },
    };
    phxctl_options_t opts = { .shortopts = a->attach ? "p:s:S:f:J:u:ad:" : "p:s:J:r:",
                              .longopts = options, .take = take_option, .usage = splice_usage,
                              .ctx = a, .nargs = -1, .args_name = "TYPE" };
    int rc = phxctl_parse_options(argc, argv, &opts, &a->conn);

    if (rc >= 0)
        return rc;
    int selectors = (a->pid >= 0) + (a->job != NULL) + (a->uid >= 0) + a->all + (a->rule >= 0);
    bool rule_detach = !a->attach && (a->rule >= 0 || a->job);
    int operands = argc - optind;
    if (selectors > 1)
        return phxctl_usage_error(argv[0], "give one of %s", a->attach ?
                                  "--pid, --job, --uid and --all" : "--pid, --rule and --job");
    if (selectors == 0)
        return phxctl_usage_error(argv[0], "%s is needed (`policyctl list` shows the apps)",
                                  a->attach ? "--pid, --job, --uid or --all" : "--pid, --rule or --job");
    if (a->rule == 0)
        return phxctl_usage_error(argv[0], "rules count from 1 (`policyctl rules` lists them)");
    if (a->sid >= 0 && a->pid < 0)
        return phxctl_usage_error(argv[0], "--sid goes with --pid");
    if (operands != (rule_detach ? 0 : 1))
        return operands ? phxctl_usage_error(argv[0], "unexpected argument '%s'",
                                             argv[optind + (rule_detach ? 0 : 1)])
                        : phxctl_usage_error(argv[0], "TYPE is needed");
    return -1;
}

/* ---- the descriptor ------------------------------------------------------------------------- */

/* [ "A", "B", ... ]: every engine of SUB. */
static void put_group(FILE *f, const pctl_sub_t *sub)
{
    fputs("group = [ ", f);
    for (size_t i = 0; i < sub->n_engines; i++)
        fprintf(f, "%s\"%s\"", i ? ", " : "", sub->engines[i]->type);
    fputs(" ];\n", f);
}

static char *attach_text(const pctl_sub_t *sub, const char *engine, const char *config)
{
    const char *front = sub->engines[0]->type, *next = sub->engines[1]->type;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);

    if (!f)
        return NULL;
    fprintf(f, "addon_engine = \"%s\";\nop = \"attach\";\n"
               "tx_channels_replacements = ( (\"%s\", \"%s\", 0, 0), (\"%s\", \"%s\", 0, 0) );\n"
               "rx_channels_replacements = ( (\"%s\", \"%s\", 0, 0), (\"%s\", \"%s\", 0, 0) );\n",
            engine, front, engine, engine, next, next, engine, engine, front);
    put_group(f, sub);
    if (config && *config) {
        fputs("config_string = \"", f);
        for (const char *c = config; *c; c++)       /* escaped in the string */
            if (*c == '\n')
                fputs("\\n", f);
            else
                fprintf(f, *c == '"' || *c == '\\' ? "\\%c" : "%c", *c);
        fputs("\";\n", f);
    }
    return fclose(f) == 0 ? text : (free(text), NULL);
}

/* The policy's neighbours in progress order: what feeds it on tx and what it feeds. */
static char *detach_text(const pctl_sub_t *sub, const char *engine, const char *prog)
{
    size_t at = 0;
    char *text = NULL;

    while (at < sub->n_engines && strcmp(sub->engines[at]->type, engine) != 0)
        at++;
    if (at == 0 || at + 1 >= sub->n_engines) {
        fprintf(stderr, "%s: %s is not between two engines of pid %u sid %u\n", prog, engine,
                sub->pid, sub->sid);
        return NULL;
    }
    const char *prev = sub->engines[at - 1]->type, *next = sub->engines[at + 1]->type;
    if (asprintf(&text, "addon_engine = \"%s\";\nop = \"detach\";\n"
                 "tx_channels_replacements = ( (\"%s\", \"%s\", 0, 0) );\n"
                 "rx_channels_replacements = ( (\"%s\", \"%s\", 0, 0) );\n",
                 engine, prev, next, next, prev) < 0)
        return NULL;
    return text;
}

/* ---- the request ---------------------------------------------------------------------------- */

static int send_splice(const splice_args_t *a, const pctl_sub_t *sub, char *text)
{
    Phoenix__Control__SpliceRequest splice = PHOENIX__CONTROL__SPLICE_REQUEST__INIT;
    Phoenix__Control__Request req = PHOENIX__CONTROL__REQUEST__INIT;
    Phoenix__Control__Response *resp;
    char origin[128];

    snprintf(origin, sizeof(origin), "policyctl %s by uid %d", a->attach ? "attach" : "detach",
             (int)getuid());
    splice.pid = sub->pid;
    splice.sid = sub->sid;
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

/* The descriptor for A on SUB, or NULL with *RC set after saying why. */
static char *build(const splice_args_t *a, const pctl_sub_t *sub, const pctl_type_t *type,
                   const char *prog, int *rc)
{
    bool attached = pctl_is_addon(sub, type->engine);
    char *config, *text;

    *rc = PHXCTL_EXIT_FAILED;
    if (a->attach && attached) {
        fprintf(stderr, "%s: pid %u sid %u has a %s already: change it with `policyctl set`\n",
                prog, sub->pid, sub->sid, type->engine);
        return NULL;
    }
    if (!a->attach && !attached) {
        fprintf(stderr, "%s: pid %u sid %u has no %s attached\n", prog, sub->pid, sub->sid,
                type->engine);
        return NULL;
    }
    if (!a->attach)
        return detach_text(sub, type->engine, prog);
    if (!(config = pctl_config_text(a->settings, a->set, a->n_set, prog, rc)))
        return NULL;
    text = attach_text(sub, type->engine, config);
    free(config);
    return text;
}

/* --side as the `side` setting of TYPE, after the others (so it wins); exit code, or -1 to go
 * on. */
static int take_side(splice_args_t *a, const pctl_type_t *type, const char *prog)
{
    if (!a->side)
        return -1;
    if (!type->sided)
        return phxctl_usage_error(prog, "%s decides the calls of one side only: --side is for "
                                  "policies with a `side` setting (policyctl list shows them)",
                                  type->engine);
    if (a->n_set == SET_MAX)
        return phxctl_usage_error(prog, "at most %d --set with --side", SET_MAX - 1);
    snprintf(a->side_set, sizeof(a->side_set), "side=%s", a->side);
    a->set[a->n_set++] = a->side_set;
    return -1;
}

/* attach --job/--uid/--all: a standing rule of TYPE. */
static int rule_command(const splice_args_t *a, const pctl_type_t *type, const char *prog)
{
    int rc;
    char *config = pctl_config_text(a->settings, a->set, a->n_set, prog, &rc);

    if (!config)
        return rc;
    rc = pctl_rule_add(&a->conn, a->job ? "job" : a->uid >= 0 ? "uid" : "all", a->job, a->uid,
                       type->engine, config);
    free(config);
    return rc;
}

static int splice_command(int argc, char **argv, bool attach)
{
    splice_args_t a = { .attach = attach, .pid = -1, .sid = -1, .uid = -1, .rule = -1 };
    Phoenix__Control__Response *list;
    int rc = parse_args(argc, argv, &a);

    if (rc >= 0)
        return rc;
    if (!attach && a.pid < 0)
        return pctl_rule_remove(&a.conn, a.rule, a.job);
    const pctl_type_t *type = pctl_type_find(argv[optind]);
    if (!type)
        return phxctl_usage_error(argv[0], "no policy type '%s' (`policyctl list` shows them)",
                                  argv[optind]);
    if (attach && (rc = take_side(&a, type, argv[0])) >= 0)
        return rc;
    if (a.pid < 0)
        return rule_command(&a, type, argv[0]);
    if ((rc = pctl_fetch_list(&a.conn, &list)) != PHXCTL_EXIT_OK)
        return rc;
    const pctl_sub_t *sub = pctl_find_sub(list->list, a.pid, a.sid);
    char *text = sub ? build(&a, sub, type, argv[0], &rc) : NULL;
    if (text)
        rc = send_splice(&a, sub, text);
    else if (sub && rc == PHXCTL_EXIT_OK)
        rc = PHXCTL_EXIT_FAILED;
    else if (!sub)
        rc = PHXCTL_EXIT_FAILED;
    free(text);
    phoenix__control__response__free_unpacked(list, NULL);
    return rc;
}

int pctl_cmd_attach(int argc, char **argv)
{
    return splice_command(argc, argv, true);
}

int pctl_cmd_detach(int argc, char **argv)
{
    return splice_command(argc, argv, false);
}
