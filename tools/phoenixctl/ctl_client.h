/* ctl_client.h - how a phoenixctl subcommand talks to the running phoenixd.
 *
 * Every command that asks the service takes the same two options, --prefix DIR (the service's
 * directory: default $PHOENIX_PREFIX, else /run/phoenix) and --timeout SECONDS (default 10): a
 * command puts PHXCTL_CONN_LONGOPTS in its getopt_long() table, PHXCTL_CONN_HELP in its --help,
 * and hands every option it does not know itself to phxctl_conn_option().
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

enum {
    PHXCTL_OPT_PREFIX = 0x100,      /* long-only options, out of the way of short ones */
    PHXCTL_OPT_TIMEOUT,
};

#define PHXCTL_CONN_LONGOPTS                                                                \
    { "prefix", required_argument, NULL, PHXCTL_OPT_PREFIX },                              \
    { "timeout", required_argument, NULL, PHXCTL_OPT_TIMEOUT }

#define PHXCTL_CONN_HELP                                                                    \
    "      --prefix DIR     the service's directory (default $PHOENIX_PREFIX, else\n"        \
    "                       /run/phoenix)\n"                                                \
    "      --timeout SEC    wait at most SEC seconds for the service's answer (default 10)\n"

typedef struct {
    const char *prefix;         /* NULL: $PHOENIX_PREFIX, else /run/phoenix */
    int         timeout_ms;     /* 0: PHX_CONTROL_TIMEOUT_MS */
} phxctl_conn_t;

/* Takes getopt_long()'s return C (and optarg ARG) if it is one of PHXCTL_CONN_LONGOPTS.
 * Returns 1 when it was, 0 when it is not one of them, -1 for a bad value (said on stderr,
 * followed by the pointer to PROG --help). */
int phxctl_conn_option(phxctl_conn_t *conn, int c, const char *arg, const char *prog);

/* Parses the command line of a command whose options are --json, --help and the connection
 * options, printing USAGE for --help. Exactly NARGS arguments must follow (named ARGS_NAME, e.g.
 * "ID REQUEST", in the complaint); they are argv[optind...] afterwards. Returns -1 to go on,
 * else the exit code. */
int phxctl_parse_query_args(int argc, char **argv, phxctl_conn_t *conn, bool *json,
                            void (*usage)(FILE *out), int nargs, const char *args_name);

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

#endif /* PHXCTL_CTL_CLIENT_H */
