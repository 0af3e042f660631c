/* test_logging.c - LoggingEngine end to end: this process calls the echo server through two real
 * services (tests/mrpc/mrpc_fixture.h: namespaces joined by a veth pair when root, else
 * loopback; UCX pinned to tcp on that device), with the policy attached to our subscription by
 * policyctl, logging into files in the client node's directory.
 *
 *   lines           60 Echo and 5 Fail calls at 100 %: 65 lines, each one JSON object (json-c)
 *                   with our pid, the method ids, the sizes, the status (OK / NOT_FOUND) and a
 *                   latency; the stats count them
 *   sampling        sample_percent = 10 over 500 calls: 50 lines (+-5)
 *   rotation        max_bytes = 4096, keep = 2, 300 calls: the file and .1 and .2 exist, no .3,
 *                   none over 4,096 bytes, every line whole JSON; the stats count rotations
 *   bad settings    a relative path, a symbolic link, a directory, `dir` outside phoenix.conf,
 *                   sample_percent = 101: exit 1, one line naming the key, nothing attached
 *   live set        sample_percent 100 -> 50, then another path: the counts follow, the new
 *                   file gets the new lines
 *   live upgrade    the plugin replaced by a copy with calls in flight: every call is logged
 *                   once, the state counts one upgrade
 *   server side     attached to the echo server's subscription: one line per call it served,
 *                   "side":"server", with the server's pid */
#include "mrpc_fixture.h"
#include "mrpc_test.mrpc.h"
#include "phx_test.h"
#include "policy_fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define WINDOW 16

static struct mrpc_setup up;

static bool bring_up(void)
{
    return mrpc_setup_start(&up, "log", MRPC_TEST_PEER);
}

static void need_nodes(void)
{
    CU_ASSERT_FATAL(mrpc_bring_up_once(bring_up));
}

/* ---- files ---------------------------------------------------------------------------------- */

/* NAME in the client node's directory, with no file of that name (nor NAME.1 .. NAME.3). */
static const char *log_path(const char *name)
{
    static char path[4][512];
    static unsigned k;
    char old[600];

    k = (k + 1) % 4;
    snprintf(path[k], sizeof(path[k]), "%s/%s", up.client_node.d.dir, name);
    unlink(path[k]);
    for (unsigned i = 1; i <= 3; i++) {
        snprintf(old, sizeof(old), "%s.%u", path[k], i);
        unlink(old);
    }
    return path[k];
}

static long file_size(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

struct tally {
    unsigned lines, bad, ok, not_found, ours, echo, fail, server;
    long     pid;               /* whose lines count as ours (0: this process) */
};

/* Every line of PATH parsed as JSON, counted into T. */
static void tally(const char *path, struct tally *t)
{
    char line[1024];
    FILE *f = fopen(path, "r");

    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    while (fgets(line, sizeof(line), f)) {
        json_object *o = json_tokener_parse(line), *v;
        t->lines++;
        if (!o || !json_object_is_type(o, json_type_object) || !strchr(line, '\n')) {
            t->bad++;
            json_object_put(o);
            continue;
        }
        if (json_object_object_get_ex(o, "status", &v))
            t->ok += strcmp(json_object_get_string(v), "OK") == 0,
            t->not_found += strcmp(json_object_get_string(v), "NOT_FOUND") == 0;
        t->ours += policy_json_path_int(o, "pid") == (t->pid ? t->pid : (long)getpid());
        t->server += json_object_object_get_ex(o, "side", &v) &&
                     strcmp(json_object_get_string(v), "server") == 0;
        t->echo += policy_json_path_int(o, "method") == (long)MRPC_TEST__ECHO__ECHO__METHOD_ID &&
                   policy_json_path_int(o, "service") == (long)MRPC_TEST__ECHO__SERVICE_ID &&
                   policy_json_path_int(o, "request_bytes") >= 48 &&
                   policy_json_path_int(o, "reply_bytes") >= 48;
        t->fail += policy_json_path_int(o, "method") == (long)MRPC_TEST__ECHO__FAIL__METHOD_ID;
        t->bad += policy_json_path_int(o, "latency_us") < 0 ||
                  !json_object_object_get_ex(o, "time", &v);
        json_object_put(o);
    }
    fclose(f);
}

static int attach(const char *path, const char *more1, const char *more2)
{
    char set[600];

    snprintf(set, sizeof(set), "path=%s", path);
    return policy_attach(&up.client_node, "logging", getpid(), set, more1, more2, NULL);
}

static json_object *log_stats(void)
{
    return policy_stats(&up.client_node, "LoggingEngine", getpid());
}

/* ---- cases ---------------------------------------------------------------------------------- */

static void test_lines(void)
{
    const char *path = log_path("calls.log");
    struct tally t = { 0 };

    need_nodes();
    CU_ASSERT_FATAL(attach(path, NULL, NULL) == 0);
    CU_ASSERT_EQUAL(policy_calls(&up, 60, false), 60);
    CU_ASSERT_EQUAL(policy_calls(&up, 5, true), 0);
    json_object *stats = log_stats();
    CU_ASSERT_EQUAL(policy_json_path_int(stats, "calls"), 65);
    CU_ASSERT_EQUAL(policy_json_path_int(stats, "logged"), 65);
    CU_ASSERT_EQUAL(policy_json_path_int(stats, "dropped"), 0);
    json_object_put(stats);
    CU_ASSERT(policy_detach(&up.client_node, "logging", getpid()) == 0);     /* writes it all */
    tally(path, &t);
    printf("(%u lines: %u OK, %u NOT_FOUND) ", t.lines, t.ok, t.not_found);
    CU_ASSERT_EQUAL(t.lines, 65);
    CU_ASSERT_EQUAL(t.bad, 0);
    CU_ASSERT_EQUAL(t.ok, 60);
    CU_ASSERT_EQUAL(t.not_found, 5);
    CU_ASSERT_EQUAL(t.ours, 65);
    CU_ASSERT_EQUAL(t.echo, 60);
    CU_ASSERT_EQUAL(t.fail, 5);
}

static void test_sampling(void)
{
    const char *path = log_path("sampled.log");
    struct tally t = { 0 };

    need_nodes();
    CU_ASSERT_FATAL(attach(path, "sample_percent=10", NULL) == 0);
    CU_ASSERT_EQUAL(policy_calls(&up, 500, false), 500);
    CU_ASSERT(policy_detach(&up.client_node, "logging", getpid()) == 0);
    tally(path, &t);
    printf("(500 calls at 10 %%: %u lines) ", t.lines);
    CU_ASSERT(t.lines >= 45 && t.lines <= 55);
    CU_ASSERT_EQUAL(t.bad, 0);
}

static void test_rotation(void)
{
    const char *path = log_path("rotated.log");
    char name[600];

    need_nodes();
    CU_ASSERT_FATAL(attach(path, "max_bytes=4096", "keep=2") == 0);
    CU_ASSERT_EQUAL(policy_calls(&up, 300, false), 300);
    json_object *stats = log_stats();
    long rotations = policy_json_path_int(stats, "rotations");
    json_object_put(stats);
    CU_ASSERT(policy_detach(&up.client_node, "logging", getpid()) == 0);
    printf("(%ld rotations; sizes %ld %ld %ld) ", rotations, file_size(path),
           file_size(strcat(strcpy(name, path), ".1")),
           file_size(strcat(strcpy(name, path), ".2")));
    CU_ASSERT(rotations >= 3);
    for (unsigned k = 0; k <= 2; k++) {
        struct tally t = { 0 };
        snprintf(name, sizeof(name), k ? "%s.%u" : "%s", path, k);
        CU_ASSERT(file_size(name) > 0 && file_size(name) <= 4096);
        tally(name, &t);
        CU_ASSERT(t.lines > 0);
        CU_ASSERT_EQUAL(t.bad, 0);
    }
    snprintf(name, sizeof(name), "%s.3", path);
    CU_ASSERT_EQUAL(file_size(name), -1);
}

static void test_bad_settings(void)
{
    char link[600], target[600];
    struct mrpc_sub sub;

    need_nodes();
    snprintf(link, sizeof(link), "path=%s", log_path("link.log"));
    snprintf(target, sizeof(target), "%s", log_path("target.log"));
    CU_ASSERT_FATAL(symlink(target, link + 5) == 0);
    policy_attach_refused(&up.client_node, "logging", getpid(), "path",
                          "path=logs/calls.log", "keep=1", NULL);
    policy_attach_refused(&up.client_node, "logging", getpid(), "symbolic link",
                          link, "keep=1", NULL);
    CU_ASSERT_EQUAL(file_size(target), -1);                 /* nothing created through it */
    snprintf(target, sizeof(target), "path=%s", up.client_node.d.dir);
    policy_attach_refused(&up.client_node, "logging", getpid(), "not a regular file",
                          target, "keep=1", NULL);
    snprintf(target, sizeof(target), "path=%s", log_path("x/../y.log"));
    policy_attach_refused(&up.client_node, "logging", getpid(), "path", target, "keep=1", NULL);
    policy_attach_refused(&up.client_node, "logging", getpid(), "dir",
                          "path=/tmp/phx-never.log", "dir=/tmp", NULL);
    policy_attach_refused(&up.client_node, "logging", getpid(), "sample_percent",
                          "path=/tmp/phx-never.log", "sample_percent=101", NULL);
    policy_attach_refused(&up.client_node, "logging", getpid(), "path",
                          "keep=1", "max_bytes=8192", NULL);
    CU_ASSERT_EQUAL(file_size("/tmp/phx-never.log"), -1);
    CU_ASSERT(mrpc_ctl_find_sub(&up.client_node, getpid(), &sub) && sub.n_addons == 0);
}

static void test_set(void)
{
    const char *first = log_path("first.log"), *second = log_path("second.log");
    char set[600];
    struct tally a = { 0 }, b = { 0 };

    need_nodes();
    CU_ASSERT_FATAL(attach(first, NULL, NULL) == 0);
    CU_ASSERT_EQUAL(policy_calls(&up, 40, false), 40);
    CU_ASSERT_EQUAL(policy_set(&up.client_node, "LoggingEngine", getpid(), "sample_percent=50",
                               NULL), 0);
    CU_ASSERT_EQUAL(policy_calls(&up, 100, false), 100);
    json_object *stats = log_stats();
    CU_ASSERT_EQUAL(policy_json_path_int(stats, "calls"), 140);
    CU_ASSERT_EQUAL(policy_json_path_int(stats, "logged"), 90);
    CU_ASSERT_EQUAL(policy_json_path_int(stats, "settings.sample_percent"), 50);
    json_object_put(stats);
    snprintf(set, sizeof(set), "path=%s", second);
    CU_ASSERT_EQUAL(policy_set(&up.client_node, "LoggingEngine", getpid(), set,
                               "sample_percent=100", NULL), 0);
    CU_ASSERT_EQUAL(policy_set(&up.client_node, "LoggingEngine", getpid(), "path=rel.log",
                               NULL), 1);                  /* refused, nothing changed */
    CU_ASSERT_EQUAL(policy_calls(&up, 10, false), 10);
    CU_ASSERT(policy_detach(&up.client_node, "logging", getpid()) == 0);
    tally(first, &a);
    tally(second, &b);
    printf("(first %u lines, second %u) ", a.lines, b.lines);
    CU_ASSERT_EQUAL(a.lines, 90);
    CU_ASSERT_EQUAL(b.lines, 10);
    CU_ASSERT_EQUAL(a.bad + b.bad, 0);
}

/* A copy of the built plugin in N's directory: a new build, as far as the service can tell. */
static const char *plugin_copy(const struct mrpc_node *n)
{
    static char path[512], cmd[1200];

    snprintf(path, sizeof(path), "%s/logging-next.so", n->d.dir);
    snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", PHX_PLUGIN_LOGGING, path);
    return system(cmd) == 0 ? path : NULL;
}

static void test_upgrade(void)
{
    static phx_test_run_result_t r;
    static struct policy_flow f;
    const char *path = log_path("upgraded.log"), *copy;
    struct tally t = { 0 };

    need_nodes();
    CU_ASSERT_FATAL((copy = plugin_copy(&up.client_node)) != NULL);
    CU_ASSERT_FATAL(attach(path, NULL, NULL) == 0);
    CU_ASSERT_EQUAL(policy_calls(&up, 50, false), 50);
    policy_flow_init(&f, up.ctx, up.conn, 48);
    for (unsigned i = 0; i < WINDOW; i++)               /* in flight across the upgrade */
        CU_ASSERT_FATAL(policy_flow_submit(&f, i, false));
    CU_ASSERT(mrpc_ctx_progress(up.ctx, 0) >= 0);
    CU_ASSERT_EQUAL(mrpc_ctl(&up.client_node, (const char *[]){ "upgrade", "--plugin", copy,
                                                                NULL }, &r), 0);
    policy_flow_drain(&f);
    CU_ASSERT_EQUAL(f.ok, WINDOW);
    CU_ASSERT_EQUAL(policy_calls(&up, 20, false), 20);
    json_object *stats = log_stats();
    CU_ASSERT_EQUAL(policy_json_path_int(stats, "upgrades"), 1);
    CU_ASSERT_EQUAL(policy_json_path_int(stats, "calls"), 50 + WINDOW + 20);
    json_object_put(stats);
    CU_ASSERT(policy_detach(&up.client_node, "logging", getpid()) == 0);
    tally(path, &t);
    printf("(%u lines) ", t.lines);
    CU_ASSERT_EQUAL(t.lines, 50 + WINDOW + 20);
    CU_ASSERT_EQUAL(t.ok, 50 + WINDOW + 20);
    CU_ASSERT_EQUAL(t.bad, 0);
}

static void test_server_side(void)
{
    char path[600], set[640];
    struct tally t = { .pid = 0 };

    need_nodes();
    snprintf(path, sizeof(path), "%s/served.log", up.server_node.d.dir);
    unlink(path);
    snprintf(set, sizeof(set), "path=%s", path);
    CU_ASSERT_FATAL(policy_attach(&up.server_node, "logging", up.peer.pid, set, NULL) == 0);
    CU_ASSERT_EQUAL(policy_calls(&up, 30, false), 30);
    CU_ASSERT_EQUAL(policy_calls(&up, 3, true), 0);
    CU_ASSERT(policy_detach(&up.server_node, "logging", up.peer.pid) == 0);
    t.pid = up.peer.pid;
    tally(path, &t);
    printf("(server: %u lines, %u OK, %u NOT_FOUND) ", t.lines, t.ok, t.not_found);
    CU_ASSERT_EQUAL(t.lines, 33);
    CU_ASSERT_EQUAL(t.server, 33);
    CU_ASSERT_EQUAL(t.ours, 33);
    CU_ASSERT_EQUAL(t.ok, 30);
    CU_ASSERT_EQUAL(t.not_found, 3);
    CU_ASSERT_EQUAL(t.bad, 0);
}

static const phx_test_case_t cases[] = {
    { "one JSON line per call, with status, sizes and ids", test_lines },
    { "sample_percent = 10 logs a tenth of the calls", test_sampling },
    { "rotation at max_bytes keeps `keep` files", test_rotation },
    { "bad settings: one line naming the key, nothing attached", test_bad_settings },
    { "policyctl set changes sampling and the file live", test_set },
    { "calls in flight and counters survive a live upgrade", test_upgrade },
    { "on a server's subscription: one line per call served", test_server_side },
    { NULL, NULL },
};

int main(int argc, char **argv)
{
    int rc = phx_test_main("logging", cases, argc, argv);

    return mrpc_setup_stop(&up) ? rc : 1;
}
