/* phoenixctl.h - what main.c and the subcommands (cmd_*.c) of phoenixctl share.
 *
 * A subcommand is one function in its own cmd_NAME.c, listed in main.c's table. It receives the
 * command line from its own name on, with argv[0] rewritten to "phoenixctl NAME" so that getopt's
 * messages say which command complains, and with getopt reset, so it parses its options with
 * getopt_long() as if it were main() (through phxctl_parse_options(), ctl_client.h). It prints its
 * --help to stdout and returns an exit code. */
#ifndef PHOENIXCTL_H
#define PHOENIXCTL_H

enum {
    PHXCTL_EXIT_OK     = 0,     /* done */
    PHXCTL_EXIT_FAILED = 1,     /* could not do it: bad file, unknown NIC, service down, ... */
    PHXCTL_EXIT_USAGE  = 2,     /* the command line is wrong */
};

typedef struct {
    const char *name;
    const char *summary;                /* one line in `phoenixctl --help` */
    int (*run)(int argc, char **argv);
} phxctl_command_t;

/* Prints "PROG: MESSAGE" (MESSAGE NULL: getopt has already complained) and a pointer to --help
 * on stderr; returns PHXCTL_EXIT_USAGE. */
int phxctl_usage_error(const char *prog, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Reads TEXT as a decimal number from 0 to MAX into *VALUE: 0, or -1 for anything else (a
 * sign, a suffix, an empty string, too large). */
int phxctl_parse_uint(const char *text, unsigned long long max, unsigned long long *value);

int phxctl_cmd_list(int argc, char **argv);
int phxctl_cmd_plugins(int argc, char **argv);
int phxctl_cmd_topology(int argc, char **argv);
int phxctl_cmd_attach(int argc, char **argv);
int phxctl_cmd_detach(int argc, char **argv);
int phxctl_cmd_upgrade(int argc, char **argv);
int phxctl_cmd_engine(int argc, char **argv);

#endif /* PHOENIXCTL_H */
