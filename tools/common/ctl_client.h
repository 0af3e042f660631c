/* ctl_client.h - how a phoenixctl subcommand talks to the running phoenixd.
 *
 * Every command that asks the service takes the same two options, --prefix DIR (the service's
 * directory: default $PHOENIX_PREFIX, else /run/phoenix) and --timeout SECONDS (default 10), and
 * --help: a command describes only its own options to phxctl_parse_options(), which adds those,
 * and puts PHXCTL_CONN_HELP in its --help.
 *
 * phxctl_call() then makes one exchange on the control socket (a new connection each time) and
 * turns its outcome into an exit code: connection trouble, a timeout or the service's refusal
 * print "phoenixctl: <the reason>" on stderr and give PHXCTL_EXIT_FAILED. */
#ifndef PHXCTL_CTL_CLIENT_H
#define PHXCTL_CTL_CLIENT_H

#include <getopt.h>
#include <json-c/json.h>
#include <stdbool.h>
#include <stdio.h>

#include "control.pb-c.h"

#define PHXCTL_CONN_HELP                                                                    \
    "      --prefix DIR     the service's directory (default $PHOENIX_PREFIX, else\n"        \
    "                       /run/phoenix)\n"                                                \
    "      --timeout SEC    wait at most SEC seconds for the service's answer (default 10)\n"

typedef struct {
    const char *prefix;         /* NULL: $PHOENIX_PREFIX, else /run/phoenix */
    int         timeout_ms;     /* 0: PHX_CONTROL_TIMEOUT_MS */
} phxctl_conn_t;

/* A command's own options, for phxctl_parse_options(). */
typedef struct {
    const char          *shortopts;     /* in getopt's syntax, e.g. "p:s:d:"; without 'h' */
    const struct option *longopts;      /* at most 16, ending in { NULL }; without --help and
                                         * the connection options */
    /* Takes option C (as getopt_long() returns it) with its ARG; -1 to go on, else the exit
     * code. */
    int  (*take)(void *ctx, int c, const char *arg, const char *prog);
    void (*usage)(const void *ctx, FILE *out);     /* the --help text */
    void  *ctx;
    int         nargs;              /* the operands that must follow; -1: any (the command
                                     * checks them) */
    const char *args_name;          /* what they are, e.g. "ID REQUEST", when some are missing */
} phxctl_options_t;

/* Parses ARGV's options with getopt_long(): the command's own go to OPTS->take, --help prints
 * the usage on stdout (PHXCTL_EXIT_OK), the connection options fill CONN, anything else, or
 * another number of operands than OPTS->nargs, is a usage error. Returns -1 to go on, with the
 * operands at argv[optind...], else the exit code. */
int phxctl_parse_options(int argc, char **argv, const phxctl_options_t *opts, phxctl_conn_t *conn);

/* Parses the command line of a command whose options are --json, --help and the connection
 * options, printing USAGE for --help. Exactly NARGS arguments must follow (named ARGS_NAME, e.g.
 * "ID REQUEST", in the complaint); they are argv[optind...] afterwards. Returns -1 to go on,
 * else the exit code. */
int phxctl_parse_query_args(int argc, char **argv, phxctl_conn_t *conn, bool *json,
                            void (*usage)(FILE *out), int nargs, const char *args_name);

/* The whole of a command that takes no argument, only those options: parses the command line
 * as phxctl_parse_query_args() does, sends REQ as phxctl_call() does and hands the response to
 * PRINT (which may reorder its arrays), with whether --json was given. Returns the exit code:
 * PRINT's once the service answered. */
int phxctl_query(int argc, char **argv, void (*usage)(FILE *out), Phoenix__Control__Request *req,
                 Phoenix__Control__Response__BodyCase expect,
                 int (*print)(Phoenix__Control__Response *resp, bool json));

/* The prefix the connection goes to, for messages. */
const char *phxctl_conn_prefix(const phxctl_conn_t *conn);

/* Sends REQ (its id is set here) and waits for the response, which must carry body EXPECT.
 * Returns PHXCTL_EXIT_OK with *RESP set (free it with phoenix__control__response__free_unpacked
 * (*RESP, NULL)), else PHXCTL_EXIT_FAILED with *RESP NULL after saying why on stderr. When
 * ABSENT is not NULL and no service listens at the prefix, *ABSENT is set and nothing is said. */
int phxctl_call(const phxctl_conn_t *conn, Phoenix__Control__Request *req,
                Phoenix__Control__Response__BodyCase expect, Phoenix__Control__Response **resp,
                bool *absent);

/* Prints O as one line of JSON on stdout and drops the caller's reference to it. */
int phxctl_print_json(json_object *o);

/* Prints {"KEY": [ITEM(ITEMS, 0), ..., ITEM(ITEMS, N - 1)]} as phxctl_print_json() does. */
int phxctl_print_json_list(const char *key, const void *items, size_t n,
                           json_object *(*item)(const void *items, size_t i));

#endif /* PHXCTL_CTL_CLIENT_H */
