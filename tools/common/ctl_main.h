/* ctl_main.h - the main() of a command-line tool with subcommands (phoenixctl, policyctl).
 *
 * `TOOL [--help | --version] COMMAND [OPTIONS]`: phxctl_main() takes the global options, finds
 * COMMAND in the tool's table and hands it the rest of the command line, with argv[0] rewritten
 * to "TOOL COMMAND" (so getopt's messages say which command complains) and getopt reset, so the
 * command parses its options as if it were main(). Exit codes: 0 done, 1 the command failed,
 * 2 usage error; a failed write of the output (a full disk, a closed pipe) is a failure. */
#ifndef PHXCTL_CTL_MAIN_H
#define PHXCTL_CTL_MAIN_H

#include <stddef.h>

typedef struct {
    const char *name;
    const char *summary;                /* one line in `TOOL --help` */
    int (*run)(int argc, char **argv);
} phxctl_command_t;

typedef struct {
    const char             *prog;       /* "phoenixctl" */
    const char             *version;    /* for --version */
    const char             *purpose;    /* the line under Usage in --help */
    const phxctl_command_t *commands;   /* in the order --help lists them */
    size_t                  n_commands;
} phxctl_tool_t;

/* Sets phxctl_prog to TOOL->prog and runs the command line; returns the exit code. */
int phxctl_main(const phxctl_tool_t *tool, int argc, char **argv);

#endif /* PHXCTL_CTL_MAIN_H */
