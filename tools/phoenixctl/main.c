/* main.c - phoenixctl, the administrator's command line for the phoenixd of a node.
 *
 * `phoenixctl [--help | --version] COMMAND [OPTIONS]`: main() takes the global options, finds
 * COMMAND in the table below and hands it the rest of the command line (see phoenixctl.h).
 * Adding a subcommand is a cmd_NAME.c, a declaration in phoenixctl.h, a row in the table and a
 * line in CMakeLists.txt. Exit codes: 0 done, 1 the command failed, 2 usage error. */
#include "phoenixctl.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef PHX_VERSION
#error "PHX_VERSION must be defined by the build"
#endif

#define PROG "phoenixctl"

/* In the order `phoenixctl --help` lists them. */
static const phxctl_command_t commands[] = {
    { "list", "the apps' subscriptions with their engines and policies", phxctl_cmd_list },
    { "attach", "insert a policy engine into a subscription (descriptor file)",
      phxctl_cmd_attach },
    { "detach", "remove a policy engine from a subscription (descriptor file)",
      phxctl_cmd_detach },
    { "engine", "send a request such as \"stats\" to one engine", phxctl_cmd_engine },
    { "plugins", "the plugin builds loaded, current and superseded", phxctl_cmd_plugins },
    { "upgrade", "replace plugins by new builds while their engines run", phxctl_cmd_upgrade },
    { "topology", "where the service's threads and memory go: NIC, cores, NUMA nodes",
      phxctl_cmd_topology },
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *out)
{
    fprintf(out, "Usage: " PROG " [--help | --version] COMMAND [OPTIONS]\n"
                 "Administers the Phoenix service (phoenixd) of this node.\n\nCommands:\n");
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(out, "  %-12s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\n'" PROG " COMMAND --help' describes a command's options.\n"
                 "Exit status: 0 done, 1 the command failed, 2 usage error.\n");
}

static const phxctl_command_t *find_command(const char *name)
{
    for (size_t i = 0; i < NCOMMANDS; i++) {
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    }
    return NULL;
}

static int run_command(const phxctl_command_t *cmd, int argc, char **argv)
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
    int rc = parse_global_options(argc, argv);

    if (rc < 0) {
        const phxctl_command_t *cmd = find_command(argv[optind]);
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
