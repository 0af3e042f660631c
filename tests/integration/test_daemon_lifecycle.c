/* test_daemon_lifecycle.c - phoenixd's command line, configuration and lifecycle, end to end.
 *
 * Each case starts its own phoenixd (daemon_cases.h) and stops it by PID:
 *
 *   check-config  ok / one line with file:line, plugins opened and their settings checked,
 *                 deprecated sections, usage errors
 *   lifecycle     a second daemon on the same prefix, daemonizing, syslog chosen when detached
 *                 without a log file
 *   reload        SIGHUP re-reading the log level and the plugins' settings (also after a start
 *                 with a relative -c)
 *   limits        dedicate mode with one thread and max_apps = 1 refuse a second app, until the
 *                 first hangs up
 *
 * Every wait is bounded; every process started is stopped by PID and reaped. */
#include "daemon_cases.h"
#include "phoenix/fdpass.h"
#include "phoenix/status.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static phx_test_run_result_t run_result;    /* large: one, reused by every run */

/* ---- (f) command line and lifecycle --------------------------------------------------------- */

static void test_check_config(void)
{
    const char *dir = phx_test_tmpdir("cli");
    const char *out = run_result.out;
    char bad[512], good[512];

    snprintf(bad, sizeof(bad), "%s", phx_test_write_file(dir, "broken.conf",
             "# a broken file\nruntime = { threads = 0; };\n"));
    snprintf(good, sizeof(good), "%s", phx_test_write_file(dir, "good.conf",
             "runtime = { threads = 2; };\nplugins = ();\n"));
    CU_ASSERT_EQUAL(phx_daemon_run(NULL, (const char *const[]){ "--check-config", "-c", bad, NULL },
                                   &run_result), 1);
    printf("\n    --check-config broken.conf: %s", out);
    CU_ASSERT(strstr(out, "broken.conf:2:") != NULL);
    CU_ASSERT(strchr(out, '\n') == out + strlen(out) - 1);      /* one line */
    CU_ASSERT_EQUAL(phx_daemon_run(NULL, (const char *const[]){ "--check-config", "-c", good,
                                                                NULL }, &run_result), 0);
    CU_ASSERT_STRING_EQUAL(out, "ok\n");
    CU_ASSERT_EQUAL(phx_daemon_run(NULL, (const char *const[]){ "--frobnicate", NULL },
                                   &run_result), 2);
    CU_ASSERT_EQUAL(phx_daemon_run(NULL, (const char *const[]){ "--check-config", "--log-level",
                                                                "loud", NULL }, &run_result), 1);
    CU_ASSERT(strstr(out, "--log-level loud") != NULL);
    phx_test_rmtree(dir);
}

/* The pid in PREFIX's pid file, or 0. */
static pid_t detached_pid(const char *prefix)
{
    char path[512];
    size_t len;

    snprintf(path, sizeof(path), "%s/phoenixd.pid", prefix);
    char *text = read_text(path, &len);
    pid_t pid = text ? (pid_t)atoi(text) : 0;
    free(text);
    return pid;
}

/* Stops the daemonized phoenixd of PREFIX (not our child: its exit is polled) and checks that it
 * removed its pid file; kills it if it overstays. */
static void stop_detached(const char *prefix)
{
    pid_t pid = detached_pid(prefix);

    CU_ASSERT_FATAL(pid > 0);
    CU_ASSERT_EQUAL(kill(pid, SIGTERM), 0);
    unsigned long long deadline = phx_test_now_ns() + 5 * PHX_NS;
    while (kill(pid, 0) == 0 && phx_test_now_ns() < deadline)
        phx_test_sleep_ms(10);
    CU_ASSERT_NOT_EQUAL(kill(pid, 0), 0);
    if (kill(pid, 0) == 0)
        kill(pid, SIGKILL);
    CU_ASSERT_FALSE(file_exists(prefix, "phoenixd.pid"));
}

/* True once the file at PATH contains TEXT, polled for up to TIMEOUT_NS (0: looked at once). */
static bool wait_for_text(const char *path, const char *text, unsigned long long timeout_ns)
{
    unsigned long long deadline = phx_test_now_ns() + timeout_ns;

    for (;;) {
        size_t len;
        char *all = read_text(path, &len);
        bool found = all && strstr(all, text);
        free(all);
        if (found || phx_test_now_ns() >= deadline)
            return found;
        phx_test_sleep_ms(10);
    }
}

/* Writes D's phoenix.conf: the test configuration with FROM replaced by TO. */
static void write_conf(struct phx_daemon *d, const char *from, const char *to)
{
    char *conf = test_conf(from, to);

    CU_ASSERT_PTR_NOT_NULL(phx_test_write_file(d->dir, "phoenix.conf", conf));
    free(conf);
}

/* The three plugins with SETTINGS (text after the plugin list) and the plugin list PLUGINS (NULL:
 * mrpc, ucx and null from the build). */
static const char *plugins_conf(const char *dir, const char *name, const char *plugins,
                                const char *settings)
{
    static char path[512];
    char text[4096];

    snprintf(text, sizeof(text), "plugins = (\n%s\n);\n%s",
             plugins ? plugins : "  { name = \"mrpc\"; path = \"" PHX_PLUGIN_MRPC "\"; },\n"
                                 "  { name = \"ucx\"; path = \"" PHX_PLUGIN_UCX "\"; },\n"
                                 "  { name = \"null\"; path = \"" PHX_PLUGIN_NULL "\"; }",
             settings);
    snprintf(path, sizeof(path), "%s", phx_test_write_file(dir, name, text));
    return path;
}

/* Runs --check-config on a file of those; returns the exit status, output in run_result.out. */
static int check_plugins(const char *dir, const char *plugins, const char *settings)
{
    const char *path = plugins_conf(dir, "plugins.conf", plugins, settings);

    return phx_daemon_run(NULL, (const char *const[]){ "--check-config", "-c", path, NULL },
                          &run_result);
}

/* --check-config opens the plugins: a section that does not fit its plugin's schema, or a plugin
 * that cannot be opened, is one line naming the file, line and key (or the plugin). The plugin
 * list takes lines 1 to 5 of the file, so `settings = {` is line 6. */
static void test_check_config_plugins(void)
{
    static const struct { const char *settings, *want; } broken[] = {
        { "settings = {\n  ucx = {\n    tls = 5;\n  };\n};\n",
          "plugins.conf:8: settings.ucx.tls: expected a string, got an integer" },
        { "settings = {\n  mrpc = {\n    marshal = \"json\";\n  };\n};\n",
          "plugins.conf:8: settings.mrpc.marshal: unknown marshal 'json' (native)" },
        { "settings = {\n  null = {\n    batch = 0;\n  };\n};\n",
          "plugins.conf:8: settings.null.batch: must be between 1 and 4096 (got 0)" },
        { "settings = {\n  ucx = {\n    net_device = \"lo\";\n  };\n};\n",
          "plugins.conf:8: unknown key 'settings.ucx.net_device' (did you mean "
          "'settings.ucx.net_devices'?)" },
        { "settings = {\n  mrpc = {\n\n    inflght_mb = 3;\n  };\n};\n",
          "plugins.conf:9: unknown key 'settings.mrpc.inflght_mb' (did you mean "
          "'settings.mrpc.inflight_mb'?)" },
        { "settings = { nul = { batch = 3; }; };\n",
          "plugins.conf:6: settings.nul: no plugin 'nul' in plugins (did you mean "
          "'settings.null'?)" },
    };
    const char *dir = phx_test_tmpdir("cli");
    const char *out = run_result.out;

    CU_ASSERT_EQUAL(check_plugins(dir, NULL, "settings = {\n  ucx = { tls = \"tcp\"; };\n"
                                  "  mrpc = { call_timeout_ms = 5; };\n"
                                  "  null = { batch = 8; };\n};\n"), 0);
    CU_ASSERT_STRING_EQUAL(out, "ok\n");
    for (unsigned i = 0; i < sizeof(broken) / sizeof(broken[0]); i++) {
        CU_ASSERT_EQUAL(check_plugins(dir, NULL, broken[i].settings), 1);
        if (!strstr(out, broken[i].want))
            printf("\n    got '%s', want '%s'", out, broken[i].want);
        CU_ASSERT_PTR_NOT_NULL(strstr(out, broken[i].want));
        CU_ASSERT(strchr(out, '\n') == out + strlen(out) - 1);  /* one line */
    }
    /* a plugin file that is not there: the plugin is named, and it is not "ok" */
    CU_ASSERT_EQUAL(check_plugins(dir, "  { name = \"ucx\"; path = \"/nonexistent/libx.so\"; }",
                                  ""), 1);
    printf("\n    missing plugin: %s", out);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "plugin /nonexistent/libx.so: cannot open: "));
    CU_ASSERT(strchr(out, '\n') == out + strlen(out) - 1);
    /* a section for a plugin that has no settings */
    CU_ASSERT_EQUAL(check_plugins(dir, "  { name = \"loopback\"; path = \"" PHX_PLUGIN_LOOPBACK
                                  "\"; }", "settings = {\n  loopback = { x = 1; };\n};\n"), 1);
    printf("\n    %s", out);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "plugins.conf:5: settings.loopback: plugin 'loopback' "
                                       "takes no settings"));
    phx_test_rmtree(dir);
}

/* The top-level ucx and mrpc sections of earlier releases still work, with a line that gives
 * the new spelling; their mistakes name the key as written. */
static void test_check_config_deprecated(void)
{
    const char *dir = phx_test_tmpdir("cli");
    const char *out = run_result.out;

    CU_ASSERT_EQUAL(check_plugins(dir, NULL, "ucx = { tls = \"tcp\"; };\n"), 0);
    printf("\n    %s", out);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "plugins.conf:6: 'ucx = { ... }' is deprecated; write "
                                       "'settings = { ucx = { ... }; };'\nok\n"));
    CU_ASSERT_EQUAL(strncmp(out, "warning: ", 9), 0);
    CU_ASSERT_EQUAL(check_plugins(dir, NULL, "mrpc = {\n  call_timeout_ms = 0;\n};\n"), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "'settings = { mrpc = { ... }; };'\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "plugins.conf:7: mrpc.call_timeout_ms: must be between 1 "
                                       "and 86400000 (got 0)\n"));
    phx_test_rmtree(dir);
}

static void test_second_daemon_and_background(void)
{
    struct phx_daemon d;
    const char *out = run_result.out;

    CU_ASSERT_FATAL(daemon_start(&d, "twice", NULL, NULL));
    CU_ASSERT_EQUAL(phx_daemon_run(&d, (const char *const[]){ "--foreground", NULL }, &run_result),
                    1);
    char want[512];
    snprintf(want, sizeof(want), "phoenixd already running on %s (pid %d)", d.prefix,
             (int)d.pid);
    CU_ASSERT(strstr(out, want) != NULL);
    printf("\n    %s", out);
    CU_ASSERT_EQUAL(phx_daemon_stop(&d, SIGTERM), 0);

    /* Daemonized: the launcher returns once the daemon listens; the pid file names it. */
    CU_ASSERT_EQUAL(phx_daemon_run(&d, (const char *const[]){ NULL }, &run_result), 0);
    CU_ASSERT(phx_daemon_accepts(d.prefix));
    stop_detached(d.prefix);
    phx_daemon_cleanup(&d);
}

/* Detached with log.file "-", the launcher says the log goes to syslog (stderr is /dev/null by
 * then); with a file it says nothing of the kind. */
static void test_detached_logs_to_syslog(void)
{
    struct phx_daemon d;

    CU_ASSERT_FATAL(daemon_start(&d, "syslog", NULL, NULL));
    CU_ASSERT_EQUAL(phx_daemon_stop(&d, SIGTERM), 0);
    CU_ASSERT_EQUAL(phx_daemon_run(&d, (const char *const[]){ NULL }, &run_result), 0);
    printf("\n    %s", run_result.out);
    CU_ASSERT(strstr(run_result.out, "the log goes to syslog") != NULL);
    stop_detached(d.prefix);

    write_conf(&d, "level = \"info\"", "file = \"/dev/null\"; level = \"info\"");
    CU_ASSERT_EQUAL(phx_daemon_run(&d, (const char *const[]){ NULL }, &run_result), 0);
    CU_ASSERT(strstr(run_result.out, "syslog") == NULL);
    stop_detached(d.prefix);
    phx_daemon_cleanup(&d);
}

/* Runs a detached phoenixd from DIR with -c NAME, a path relative to DIR. */
static int run_detached_in(const char *dir, const char *name, const char *prefix)
{
    char cwd[PATH_MAX];

    CU_ASSERT_PTR_NOT_NULL_FATAL(getcwd(cwd, sizeof(cwd)));
    CU_ASSERT_EQUAL_FATAL(chdir(dir), 0);
    int rc = phx_daemon_run(NULL, (const char *const[]){ "-c", name, "--prefix", prefix, NULL },
                            &run_result);
    CU_ASSERT_EQUAL_FATAL(chdir(cwd), 0);
    return rc;
}

/* A daemon started with a relative -c re-reads that file on SIGHUP, although it chdir'd to /. */
static void test_sighup_relative_config(void)
{
    struct phx_daemon d;
    char log_path[400], setting[600], dir[PATH_MAX], want[PATH_MAX + 64];

    CU_ASSERT_FATAL(daemon_start(&d, "relconf", NULL, NULL));
    CU_ASSERT_EQUAL(phx_daemon_stop(&d, SIGTERM), 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(realpath(d.dir, dir));     /* what the daemon will name */
    snprintf(log_path, sizeof(log_path), "%s/detached.log", d.dir);
    snprintf(setting, sizeof(setting), "file = \"%s\"; level = \"info\"", log_path);
    write_conf(&d, "level = \"info\"", setting);
    CU_ASSERT_EQUAL_FATAL(run_detached_in(d.dir, "phoenix.conf", d.prefix), 0);

    snprintf(setting, sizeof(setting), "file = \"%s\"; level = \"debug\"", log_path);
    write_conf(&d, "level = \"info\"", setting);
    CU_ASSERT_EQUAL(kill(detached_pid(d.prefix), SIGHUP), 0);
    snprintf(want, sizeof(want), "reloaded %s/phoenix.conf: log level debug", dir);
    bool reloaded = wait_for_text(log_path, want, 5 * PHX_NS);
    CU_ASSERT(reloaded);
    if (!reloaded)
        printf("\n    no \"%s\" in %s", want, log_path);
    CU_ASSERT_FALSE(wait_for_text(log_path, "keeping the current log settings", 0));
    stop_detached(d.prefix);
    phx_daemon_cleanup(&d);
}

/* ---- limits and reload ---------------------------------------------------------------------- */

/* Registers on a fresh connection; returns the status and keeps the connection in *SOCK. */
static int register_status(const char *prefix, int *sock, char *error, size_t errlen)
{
    Phoenix__Control__Request req;
    Phoenix__Control__Register reg;
    int fds[PHX_SOCK_MAX_FDS];
    unsigned nfds = 0;
    char err[256];

    *sock = phx_control_connect(prefix, err, sizeof(err));
    if (*sock < 0)
        return -1;
    make_register(&req, &reg, "loopback", 1);
    Phoenix__Control__Response *resp = control_call(*sock, &req, fds, &nfds, PHX_SOCK_MAX_FDS);
    for (unsigned i = 0; i < nfds; i++)
        close(fds[i]);
    int status = resp ? resp->status : -1;
    snprintf(error, errlen, "%s", resp ? resp->error : "");
    if (resp)
        phoenix__control__response__free_unpacked(resp, NULL);
    return status;
}

/* Dedicate mode with one runtime thread takes one app; max_apps caps registrations. A slot
 * frees up when its app hangs up. */
static void check_limit(const char *tag, const char *from, const char *to, const char *want)
{
    struct phx_daemon d;
    char error[512];
    int first, second, third;

    CU_ASSERT_FATAL(daemon_start(&d, tag, from, to));
    CU_ASSERT_EQUAL(register_status(d.prefix, &first, error, sizeof(error)), PHX_OK);
    CU_ASSERT_EQUAL(register_status(d.prefix, &second, error, sizeof(error)),
                    PHX_RESOURCE_EXHAUSTED);
    printf("\n    %s: %s", tag, error);
    CU_ASSERT(strstr(error, want) != NULL);
    close(first);
    close(second);
    /* The hang-ups are noticed asynchronously: retry for a while. */
    unsigned long long deadline = phx_test_now_ns() + 5 * PHX_NS;
    int status = register_status(d.prefix, &third, error, sizeof(error));
    while (status != PHX_OK && phx_test_now_ns() < deadline) {
        close(third);
        phx_test_sleep_ms(10);
        status = register_status(d.prefix, &third, error, sizeof(error));
    }
    close(third);
    CU_ASSERT_EQUAL(status, PHX_OK);
    CU_ASSERT_EQUAL(phx_daemon_stop(&d, SIGTERM), 0);
    phx_daemon_cleanup(&d);
}

static void test_limits(void)
{
    check_limit("dedicate", "mode = \"shared\"", "mode = \"dedicate\"", "runtime threads are busy");
    check_limit("max-apps", "max_apps = 64", "max_apps = 1", "control.max_apps");
    printf("\n");
}

/* SIGHUP re-reads the log level from the file. */
static void test_sighup(void)
{
    struct phx_daemon d;

    CU_ASSERT_FATAL(daemon_start(&d, "sighup", NULL, NULL));
    char *conf = test_conf("level = \"info\"", "level = \"debug\"");
    CU_ASSERT_PTR_NOT_NULL(phx_test_write_file(d.dir, "phoenix.conf", conf));  /* d.conf */
    free(conf);
    kill(d.pid, SIGHUP);
    bool seen = false;
    unsigned long long deadline = phx_test_now_ns() + 5 * PHX_NS;
    while (!seen && phx_test_now_ns() < deadline) {
        seen = phx_daemon_log_has(&d, "log level debug");
        phx_test_sleep_ms(10);
    }
    CU_ASSERT(seen);
    CU_ASSERT_EQUAL(phx_daemon_stop(&d, SIGTERM), 0);
    phx_daemon_cleanup(&d);
}

/* SIGHUP re-reads the plugins' sections too: one that does not fit changes nothing and the log
 * says which key; one that fits is taken. The deprecated top-level section is logged at start. */
static void test_sighup_plugin_settings(void)
{
    static const char with_null[] =
        "plugins = ( { name = \"loopback\"; path = \"libphoenix_loopback.so\"; },\n"
        "            { name = \"ucx\"; path = \"" PHX_PLUGIN_UCX "\"; },\n"
        "            { name = \"null\"; path = \"" PHX_PLUGIN_NULL "\"; } );\n"
        "ucx = { tls = \"tcp\"; };\n"
        "settings = { null = { batch = %s; }; };\n";
    struct phx_daemon d;
    char plugins[1024];

    snprintf(plugins, sizeof(plugins), with_null, "8");
    CU_ASSERT_FATAL(daemon_start(&d, "sighup-plugins", "plugins = ( { name = \"loopback\"; path = "
                                 "\"libphoenix_loopback.so\"; } );\n", plugins));
    CU_ASSERT(log_shows(&d, "'ucx = { ... }' is deprecated; write 'settings = { ucx = { ... }; "
                            "};'"));
    snprintf(plugins, sizeof(plugins), with_null, "0");
    char *conf = test_conf("plugins = ( { name = \"loopback\"; path = \"libphoenix_loopback.so\"; "
                           "} );\n", plugins);
    CU_ASSERT_PTR_NOT_NULL(phx_test_write_file(d.dir, "phoenix.conf", conf));  /* d.conf */
    free(conf);
    kill(d.pid, SIGHUP);
    CU_ASSERT(log_shows(&d, "keeping the current settings: "));
    CU_ASSERT(log_shows(&d, "settings.null.batch: must be between 1 and 4096 (got 0)"));
    CU_ASSERT_FALSE(phx_daemon_log_has(&d, "plugin settings reloaded"));
    snprintf(plugins, sizeof(plugins), with_null, "16");
    conf = test_conf("plugins = ( { name = \"loopback\"; path = \"libphoenix_loopback.so\"; "
                     "} );\n", plugins);
    CU_ASSERT_PTR_NOT_NULL(phx_test_write_file(d.dir, "phoenix.conf", conf));
    free(conf);
    kill(d.pid, SIGHUP);
    CU_ASSERT(log_shows(&d, "plugin settings reloaded"));
    CU_ASSERT(phx_daemon_accepts(d.prefix));
    CU_ASSERT_EQUAL(phx_daemon_stop(&d, SIGTERM), 0);
    phx_daemon_cleanup(&d);
}

int main(int argc, char **argv)
{
    static const phx_test_case_t cases[] = {
        { "check-config and usage", test_check_config },
        { "check-config opens the plugins and checks their settings", test_check_config_plugins },
        { "deprecated ucx and mrpc sections", test_check_config_deprecated },
        { "second daemon and background start", test_second_daemon_and_background },
        { "limits: dedicate mode and max_apps", test_limits },
        { "sighup reloads the log level", test_sighup },
        { "detached with log.file \"-\" logs to syslog", test_detached_logs_to_syslog },
        { "sighup after a start with a relative -c", test_sighup_relative_config },
        { "sighup reloads the plugins' settings", test_sighup_plugin_settings },
        { NULL, NULL },
    };
    signal(SIGPIPE, SIG_IGN);
    return phx_test_main("daemon-lifecycle", cases, argc, argv);
}
