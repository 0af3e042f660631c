/* main.c - policyctl, the administrator's command line for the policies of phoenixd.
 *
 * `policyctl [--help | --version] COMMAND [OPTIONS]`: main() takes the global options, finds
 * COMMAND in the table below and hands it the rest of the command line, with argv[0] rewritten
 * to "policyctl COMMAND" and getopt reset (as phoenixctl does). Exit codes: 0 done, 1 the
 * command failed, 2 usage error. docs/policies.md is the guide. */
#include "policyctl.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#ifndef PHX_VERSION
#error "PHX_VERSION must be defined by the build"
#endif

#define PROG "policyctl"

typedef struct {
    const char *name;
    const char *summary;                /* one line in `policyctl --help` */
    int (*run)(int argc, char **argv);
} pctl_command_t;

/* In the order `policyctl --help` lists them. */
static const pctl_command_t commands[] = {
    { "list", "policy types with their settings, and the policies attached to apps",
      pctl_cmd_list },
    { "attach", "attach a policy to an app (between its front engine and its transport), or "
      "to a job's, a user's or all apps, now and later (a standing rule)", pctl_cmd_attach },
    { "set", "change settings of an attached policy while it runs", pctl_cmd_set },
    { "detach", "remove a policy from an app, or a standing rule (and what it attached)",
      pctl_cmd_detach },
    { "rules", "the standing rules and the apps they applied to", pctl_cmd_rules },
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *out)
{
    fprintf(out, "Usage: " PROG " [--help | --version] COMMAND [OPTIONS]\n"
                 "Applies policies (rate limits, ...) to the apps of this node's Phoenix\n"
                 "service (phoenixd).\n\nCommands:\n");
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(out, "  %-12s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\n'" PROG " COMMAND --help' describes a command's options.\n"
                 "Exit status: 0 done, 1 the command failed, 2 usage error.\n");
}

static const pctl_command_t *find_command(const char *name)
{
    for (size_t i = 0; i < NCOMMANDS; i++) {
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    }
    return NULL;
}

static int run_command(const pctl_command_t *cmd, int argc, char **argv)
{
    char prog[64];

    snprintf(prog, sizeof(prog), PROG " %s", cmd->name);
    argv[0] = prog;
    optind = 0;         /* glibc: 0 re-initializes getopt completely for the subcommand */
    return cmd->run(argc, argv);
}

/* Returns -1 to go on to the command, else the exit code. */
static int parse_global_options(int argc, char **argv)
{
    static const struct option options[] = {
        { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, 'V' },
        { NULL, 0, NULL, 0 },
    };
    int c;

    /* '+': stop at COMMAND, its options are its own. */
    while ((c = getopt_long(argc, argv, "+hV", options, NULL)) != -1) {
        switch (c) {
        case 'h':
            usage(stdout);
            return PHXCTL_EXIT_OK;
        case 'V':
            printf(PROG " " PHX_VERSION "\n");
            return PHXCTL_EXIT_OK;
        default:
            return phxctl_usage_error(PROG, NULL);
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return PHXCTL_EXIT_USAGE;
    }
    return -1;
}

int main(int argc, char **argv)
{
    phxctl_prog = PROG;
    int rc = parse_global_options(argc, argv);

    if (rc < 0) {
        const pctl_command_t *cmd = find_command(argv[optind]);
        if (cmd)
            rc = run_command(cmd, argc - optind, argv + optind);
        else
            rc = phxctl_usage_error(PROG, "unknown command '%s'", argv[optind]);
    }
    /* A full disk or a closed pipe must not look like success to a script. */
    if (fflush(stdout) != 0 || ferror(stdout)) {
        perror(PROG ": writing output");
        return PHXCTL_EXIT_FAILED;
    }
    return rc;
}
