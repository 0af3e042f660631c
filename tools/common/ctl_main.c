/* ctl_main.c - the main() of a command-line tool with subcommands (see ctl_main.h). */
#include "ctl_main.h"

#include "ctl_common.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

static void usage(const phxctl_tool_t *t, FILE *out)
{
    fprintf(out, "Usage: %s [--help | --version] COMMAND [OPTIONS]\n%s\n\nCommands:\n", t->prog,
            t->purpose);
    for (size_t i = 0; i < t->n_commands; i++)
        fprintf(out, "  %-12s %s\n", t->commands[i].name, t->commands[i].summary);
    fprintf(out, "\n'%s COMMAND --help' describes a command's options.\n"
                 "Exit status: 0 done, 1 the command failed, 2 usage error.\n", t->prog);
}

static const phxctl_command_t *find_command(const phxctl_tool_t *t, const char *name)
{
    for (size_t i = 0; i < t->n_commands; i++) {
        if (strcmp(t->commands[i].name, name) == 0)
            return &t->commands[i];
    }
    return NULL;
}

static int run_command(const phxctl_tool_t *t, const phxctl_command_t *cmd, int argc,
                       char **argv)
{
    char prog[64];

    snprintf(prog, sizeof(prog), "%s %s", t->prog, cmd->name);
    argv[0] = prog;
    optind = 0;         /* glibc: 0 re-initializes getopt completely for the subcommand */
    return cmd->run(argc, argv);
}

/* Returns -1 to go on to the command, else the exit code. */
static int parse_global_options(const phxctl_tool_t *t, int argc, char **argv)
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
            usage(t, stdout);
            return PHXCTL_EXIT_OK;
        case 'V':
            printf("%s %s\n", t->prog, t->version);
            return PHXCTL_EXIT_OK;
        default:
            return phxctl_usage_error(t->prog, NULL);
        }
    }
    if (optind >= argc) {
        usage(t, stderr);
        return PHXCTL_EXIT_USAGE;
    }
    return -1;
}

int phxctl_main(const phxctl_tool_t *t, int argc, char **argv)
{
    phxctl_prog = t->prog;
    int rc = parse_global_options(t, argc, argv);

    if (rc < 0) {
        const phxctl_command_t *cmd = find_command(t, argv[optind]);
        if (cmd)
            rc = run_command(t, cmd, argc - optind, argv + optind);
        else
            rc = phxctl_usage_error(t->prog, "unknown command '%s'", argv[optind]);
    }
    /* A full disk or a closed pipe must not look like success to a script. */
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "%s: writing output: ", t->prog);
        perror(NULL);
        return PHXCTL_EXIT_FAILED;
    }
    return rc;
}
