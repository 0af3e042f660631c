/* ctl_common.h - what every command-line tool of the service shares (phoenixctl, policyctl):
 * exit codes, the program's name in messages, usage errors and number parsing.
 *
 * A tool sets phxctl_prog to its name first thing in main(); the control client (ctl_client.h)
 * and the tables (table.h) say it in front of their messages. */
#ifndef PHXCTL_CTL_COMMON_H
#define PHXCTL_CTL_COMMON_H

enum {
    PHXCTL_EXIT_OK     = 0,     /* done */
    PHXCTL_EXIT_FAILED = 1,     /* could not do it: bad file, unknown NIC, service down, ... */
    PHXCTL_EXIT_USAGE  = 2,     /* the command line is wrong */
};

/* The tool's name, as its messages begin ("phoenixctl: ..."). */
extern const char *phxctl_prog;

/* Prints "PROG: MESSAGE" (MESSAGE NULL: getopt has already complained) and a pointer to --help
 * on stderr; returns PHXCTL_EXIT_USAGE. */
int phxctl_usage_error(const char *prog, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Reads TEXT as a decimal number from 0 to MAX into *VALUE: 0, or -1 for anything else (a
 * sign, a suffix, an empty string, too large). */
int phxctl_parse_uint(const char *text, unsigned long long max, unsigned long long *value);

#endif /* PHXCTL_CTL_COMMON_H */
