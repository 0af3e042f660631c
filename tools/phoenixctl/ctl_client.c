/* ctl_client.c - one request/response exchange with phoenixd for a phoenixctl subcommand (see
 * ctl_client.h).
 *
 * The raw exchange (connect, send, wait with a deadline, decode, match the id) is libphoenix's
 * phx_control_connect() and phx_control_call(); this file adds what a command line needs on top:
 * the common options, a bounded wait whatever happens, and one readable line on stderr for each
 * way it can go wrong. */
#include "ctl_client.h"

#include "phoenix/client.h"
#include "phoenix/status.h"
#include "phoenixctl.h"

#include <errno.h>
#include <stdio.h>
#include <unistd.h>

#define PROG             "phoenixctl"
#define TIMEOUT_MAX_SEC  3600

int phxctl_conn_option(phxctl_conn_t *conn, int c, const char *arg, const char *prog)
{
    unsigned long long sec;

    switch (c) {
    case PHXCTL_OPT_PREFIX:
        if (arg[0] != '/') {
            phxctl_usage_error(prog, "--prefix takes an absolute directory, not '%s'", arg);
            return -1;
        }
        conn->prefix = arg;
        return 1;
    case PHXCTL_OPT_TIMEOUT:
        if (phxctl_parse_uint(arg, TIMEOUT_MAX_SEC, &sec) != 0 || sec < 1) {
            phxctl_usage_error(prog, "--timeout takes seconds from 1 to %d, not '%s'",
                               TIMEOUT_MAX_SEC, arg);
            return -1;
        }
        conn->timeout_ms = (int)sec * 1000;
        return 1;
    default:
        return 0;
    }
}

int phxctl_parse_query_args(int argc, char **argv, phxctl_conn_t *conn, bool *json,
                            void (*usage)(FILE *out), int nargs, const char *args_name)
{
    static const struct option options[] = {
        { "json", no_argument, NULL, 'j' },
        { "help", no_argument, NULL, 'h' },
        PHXCTL_CONN_LONGOPTS,
        { NULL, 0, NULL, 0 },
    };
    int c, r;

    while ((c = getopt_long(argc, argv, "jh", options, NULL)) != -1) {
        if (c == 'j') {
            *json = true;
        } else if (c == 'h') {
            usage(stdout);
            return PHXCTL_EXIT_OK;
        } else if ((r = phxctl_conn_option(conn, c, optarg, argv[0])) <= 0) {
            return r < 0 ? PHXCTL_EXIT_USAGE : phxctl_usage_error(argv[0], NULL);
        }
    }
    if (argc - optind > nargs)
        return phxctl_usage_error(argv[0], "unexpected argument '%s'", argv[optind + nargs]);
    if (argc - optind < nargs)
        return phxctl_usage_error(argv[0], "expected %s", args_name);
    return -1;
}

const char *phxctl_conn_prefix(const phxctl_conn_t *conn)
{
    return conn->prefix ? conn->prefix : phx_control_default_prefix();
}

static int failed(const char *why)
{
    fprintf(stderr, PROG ": %s\n", why);
    return PHXCTL_EXIT_FAILED;
}

/* The service's answer: its refusal, or a reply of another kind than asked for. */
static int check_response(const Phoenix__Control__Response *resp,
                          Phoenix__Control__Response__BodyCase expect)
{
    if (resp->status != PHX_OK)
        return failed(resp->error && *resp->error ? resp->error : phx_status_name(resp->status));
    if (resp->body_case != expect)
        return failed("the service answered with another kind of reply than asked for "
                      "(a phoenixd of another version?)");
    return PHXCTL_EXIT_OK;
}

int phxctl_call(const phxctl_conn_t *conn, Phoenix__Control__Request *req,
                Phoenix__Control__Response__BodyCase expect, Phoenix__Control__Response **resp,
                bool *absent)
{
    int timeout = conn->timeout_ms > 0 ? conn->timeout_ms : PHX_CONTROL_TIMEOUT_MS;
    char err[512];
    int sock = phx_control_connect(phxctl_conn_prefix(conn), err, sizeof(err));

    *resp = NULL;
    if (sock < 0) {
        bool nobody = sock == -ENOENT || sock == -ECONNREFUSED;
        if (absent && nobody) {
            *absent = true;
            return PHXCTL_EXIT_FAILED;
        }
        return failed(err);
    }
    req->id = (uint64_t)getpid();
    int rc = phx_control_call(sock, req, resp, NULL, NULL, 0, timeout, err, sizeof(err));
    close(sock);
    if (rc < 0)
        return failed(err);
    rc = check_response(*resp, expect);
    if (rc != PHXCTL_EXIT_OK) {
        phoenix__control__response__free_unpacked(*resp, NULL);
        *resp = NULL;
    }
    return rc;
}

int phxctl_print_json(json_object *o)
{
    const char *text = o ? json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
                                                                JSON_C_TO_STRING_NOSLASHESCAPE)
                         : NULL;

    if (text)
        printf("%s\n", text);
    json_object_put(o);
    return text ? PHXCTL_EXIT_OK : failed("out of memory formatting JSON");
}
