/* ctl_client.c - one request/response exchange with phoenixd for a command of phoenixctl or
 * policyctl (see ctl_client.h).
 *
 * The raw exchange (connect, send, wait with a deadline, decode, match the id) is libphoenix's
 * phx_control_connect() and phx_control_call(); this file adds what a command line needs on top:
 * the common options, a bounded wait whatever happens, and one readable line on stderr for each
 * way it can go wrong. */
#include "ctl_client.h"

#include "phoenix/client.h"
#include "phoenix/control.h"
#include "phoenix/status.h"
#include "ctl_common.h"

#include <errno.h>
#include <stdio.h>
#include <unistd.h>

#define TIMEOUT_MAX_SEC  3600
#define OPTIONS_MAX      16         /* a command's own long options */

enum {
    OPT_PREFIX = 0x100,             /* long-only options, out of the way of short ones */
    OPT_TIMEOUT,
};

/* What every command takes besides its own options, in the order --help lists them. */
static const struct option common_options[] = {
    { "help", no_argument, NULL, 'h' },
    { "prefix", required_argument, NULL, OPT_PREFIX },
    { "timeout", required_argument, NULL, OPT_TIMEOUT },
    { NULL, 0, NULL, 0 },
};
#define N_COMMON (sizeof(common_options) / sizeof(common_options[0]))

/* Takes C (and ARG) if it is a connection option. Returns 1 when it was, 0 when it is not one of
 * them, -1 for a bad value (said on stderr, followed by the pointer to PROG --help). */
static int conn_option(phxctl_conn_t *conn, int c, const char *arg, const char *prog)
{
    unsigned long long sec;

    switch (c) {
    case OPT_PREFIX:
        if (arg[0] != '/') {
            phxctl_usage_error(prog, "--prefix takes an absolute directory, not '%s'", arg);
            return -1;
        }
        conn->prefix = arg;
        return 1;
    case OPT_TIMEOUT:
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

int phxctl_parse_options(int argc, char **argv, const phxctl_options_t *opts, phxctl_conn_t *conn)
{
    struct option longopts[OPTIONS_MAX + N_COMMON];
    char shortopts[64];
    size_t n = 0;
    int c, r;

    for (const struct option *o = opts->longopts; o && o->name && n < OPTIONS_MAX; o++)
        longopts[n++] = *o;
    for (size_t i = 0; i < N_COMMON; i++)           /* with the terminator */
        longopts[n++] = common_options[i];
    snprintf(shortopts, sizeof(shortopts), "%sh", opts->shortopts);
    while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
        if (c == 'h') {
            opts->usage(opts->ctx, stdout);
            return PHXCTL_EXIT_OK;
        }
        if ((r = conn_option(conn, c, optarg, argv[0])) < 0)
            return PHXCTL_EXIT_USAGE;
        if (r == 0 && c == '?')
            return phxctl_usage_error(argv[0], NULL);       /* getopt has said what is wrong */
        if (r == 0 && (r = opts->take(opts->ctx, c, optarg, argv[0])) >= 0)
            return r;
    }
    if (opts->nargs >= 0 && argc - optind > opts->nargs)
        return phxctl_usage_error(argv[0], "unexpected argument '%s'", argv[optind + opts->nargs]);
    if (opts->nargs >= 0 && argc - optind < opts->nargs)
        return phxctl_usage_error(argv[0], "expected %s", opts->args_name);
    return -1;
}

/* ---- commands with --json and N arguments --------------------------------------------------- */

struct query_options {
    bool *json;
    void (*usage)(FILE *out);
};

static int take_json(void *ctx, int c, const char *arg, const char *prog)
{
    *((struct query_options *)ctx)->json = true;        /* 'j', the only one */
    return -1;
}

static void query_usage(const void *ctx, FILE *out)
{
    ((const struct query_options *)ctx)->usage(out);
}

int phxctl_parse_query_args(int argc, char **argv, phxctl_conn_t *conn, bool *json,
                            void (*usage)(FILE *out), int nargs, const char *args_name)
{
    static const struct option options[] = {
        { "json", no_argument, NULL, 'j' },
        { NULL, 0, NULL, 0 },
    };
    struct query_options q = { json, usage };
    phxctl_options_t opts = { .shortopts = "j", .longopts = options, .take = take_json,
                              .usage = query_usage, .ctx = &q, .nargs = nargs,
                              .args_name = args_name };

    return phxctl_parse_options(argc, argv, &opts, conn);
}

int phxctl_query(int argc, char **argv, void (*usage)(FILE *out), Phoenix__Control__Request *req,
                 Phoenix__Control__Response__BodyCase expect,
                 int (*print)(Phoenix__Control__Response *resp, bool json))
{
    phxctl_conn_t conn = { 0 };
    Phoenix__Control__Response *resp;
    bool json = false;
    int rc = phxctl_parse_query_args(argc, argv, &conn, &json, usage, 0, NULL);

    if (rc >= 0)
        return rc;
    rc = phxctl_call(&conn, req, expect, &resp, NULL);
    if (rc != PHXCTL_EXIT_OK)
        return rc;
    rc = print(resp, json);
    phoenix__control__response__free_unpacked(resp, NULL);
    return rc;
}

/* ---- the exchange --------------------------------------------------------------------------- */

const char *phxctl_conn_prefix(const phxctl_conn_t *conn)
{
    return conn->prefix ? conn->prefix : phx_control_default_prefix();
}

static int failed(const char *why)
{
    fprintf(stderr, "%s: %s\n", phxctl_prog, why);
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

int phxctl_print_json_list(const char *key, const void *items, size_t n,
                           json_object *(*item)(const void *items, size_t i))
{
    json_object *root = json_object_new_object();
    json_object *list = json_object_new_array();

    for (size_t i = 0; i < n; i++)
        json_object_array_add(list, item(items, i));
    json_object_object_add(root, key, list);
    return phxctl_print_json(root);
}
