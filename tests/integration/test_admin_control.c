/* test_admin_control.c - requests on phoenixd's control socket through the built phoenixctl,
 * and who may make them: what the running service reports, how the tools answer bad command
 * lines and a missing or silent service, what an ordinary user may do, the per-uid limits on
 * connections and apps, and which plugin files an upgrade may load.
 *
 * Each case starts its own phoenixd and app (admin_harness.h). The cases:
 *
 *   list        the seed's table before and after attach ("None", then "NullEngine"), --json,
 *               plugins and topology from the running service
 *   job         an app exec'd (this program with --idle-app) with SLURM_JOB_ID=4711 in its
 *               environment and no Slurm cgroup shows job 4711, unverified, in the table and
 *               --json; the forked app, without the variable, shows no job
 *   permissions an ordinary user (uid 60001, a forked app of theirs) lists only their own apps,
 *               attaches, asks and detaches on them; is refused with a sentence on root's app,
 *               on the service's own engines, on what root attached to their app, and for
 *               upgrade/topology, and nothing changes; holding more connections than the
 *               service takes does not keep root out
 *   usage       exit 2 for wrong command lines, --help for every subcommand, exit 1 with no
 *               service, and a service that never answers cannot hang phoenixctl
 *   limits      control.max_apps_per_uid = 1: the user's second app is refused with the
 *               sentence, another user's registers; control.max_conns_per_uid = 4: the user's
 *               next connection is refused with the sentence (phoenixctl prints it), root's
 *               phoenixctl and another user's app still get in, both refusals are logged; the
 *               user's silent connections are closed after control.idle_timeout_s, each told
 *               why, and the user gets in again
 *   trust       upgrade --plugin of NullEngine copies whose constructor would leave a marker
 *               file: a user-owned file, a group-writable one, one in a world-writable
 *               directory, a link through that directory, one under /tmp outside
 *               plugin_trusted_dirs: each refused naming the path and the rule, the marker never
 *               made; a root-owned copy in a vouched-for directory upgrades (and leaves it)
 *
 * Every wait is bounded; every process started is stopped by PID and reaped. */
#include "admin_harness.h"
#include "phoenix/client.h"

#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/* ---- list, plugins and topology of the running service -------------------------------------- */

/* The line of the table's row for PID ("| PID | 0 | loopback | ..."), copied into LINE. */
static bool table_row(const char *table, pid_t pid, char *line, size_t len)
{
    char start[32];

    snprintf(start, sizeof(start), "| %d ", (int)pid);
    const char *at = strstr(table, start);
    if (!at)
        return false;
    snprintf(line, len, "%.*s", (int)strcspn(at, "\n"), at);
    return true;
}

static void check_table(pid_t pid, const char *addons)
{
    const char *out = run_result.out;
    char row[512];

    CU_ASSERT(strncmp(out, "+-", 2) == 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "| PID "));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "| SID | Service  | Addons "));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "| | EngineId | EngineType      | |"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "LoopFrontEngine"));
    CU_ASSERT_FATAL(table_row(out, pid, row, sizeof(row)));
    CU_ASSERT_PTR_NOT_NULL(strstr(row, "| 0   | loopback |"));
    CU_ASSERT_PTR_NOT_NULL(strstr(row, addons));
    printf("\n%s", out);
}

static void test_list_plugins_topology(void)
{
    struct phx_daemon d;
    struct app a;
    char current[16];

    daemon_and_app_up(&d, &a, "admin-list");
    CTL(&d, 0, "| Engines", "list");
    check_table(a.pid, "| None ");
    CU_ASSERT_STRING_EQUAL(addons_of(&d, a.pid), "");
    ATTACH(&d, &a);
    CTL(&d, 0, "NullEngine", "list");
    check_table(a.pid, "| NullEngine |");
    CU_ASSERT_STRING_EQUAL(addons_of(&d, a.pid), "NullEngine");
    CU_ASSERT(engine_id(&d, a.pid, "NullEngine") > engine_id(&d, a.pid, "LoopBackEngine"));

    CTL(&d, 0, "| null     | 1.0.0   | current", "plugins");
    CU_ASSERT_PTR_NOT_NULL(strstr(run_result.out, PHX_PLUGIN_LOOPBACK));
    printf("%s", run_result.out);
    CU_ASSERT_EQUAL(plugin_builds(&d, "null", current, sizeof(current)), 1);
    CU_ASSERT_STRING_EQUAL(current, "1.0.0");

    CTL(&d, 0, "the running service at", "topology");
    CU_ASSERT_PTR_NOT_NULL(strstr(run_result.out, "Kept threads:    1 (runtime.urgent_threads"));
    json_object *topo = CTL_JSON(&d, "topology");
    /* runtime.threads = 1, and the default runtime.urgent_threads = 1 */
    CU_ASSERT_EQUAL(json_object_array_length(member(topo, "runtime_cpus")), 2);
    CU_ASSERT_EQUAL(json_object_get_int(member(topo, "urgent_threads")), 1);
    json_object_put(topo);

    CU_ASSERT_EQUAL(app_finish(&a), APP_OK);
    CU_ASSERT_EQUAL(phx_daemon_stop(&d, SIGTERM), 0);
    phx_daemon_cleanup(&d);
    app_free(&a);
}

/* ---- job identity --------------------------------------------------------------------------- */

static void test_job_identity(void)
{
    struct phx_daemon d;
    struct app a;
    json_object *list = NULL, *s;
    char row[512];

    daemon_and_app_up(&d, &a, "admin-job");
    pid_t idle = idle_app_start(d.prefix);
    CU_ASSERT_FATAL(idle > 0);
    s = wait_listed(&d, idle, &list);
    CU_ASSERT_PTR_NOT_NULL(s);
    if (s) {
        CU_ASSERT_STRING_EQUAL(json_object_get_string(member(s, "job")), "4711");
        CU_ASSERT_FALSE(json_object_get_boolean(member(s, "job_verified")));
    }
    if (!getenv("SLURM_JOB_ID")) {      /* under Slurm this test's own app has a job */
        s = list ? subscription_of(list, a.pid) : NULL;
        json_object *job = NULL;
        CU_ASSERT(s && json_object_object_get_ex(s, "job", &job) && job == NULL);
    }
    json_object_put(list);
    CTL(&d, 0, "4711 (unverified)", "list");
    CU_ASSERT(table_row(run_result.out, idle, row, sizeof(row)) &&
              strstr(row, "| 4711 (unverified) |"));
    CU_ASSERT(phx_daemon_log_has(&d, "job 4711 unverified"));
    kill(idle, SIGTERM);
    CU_ASSERT_EQUAL(phx_test_reap(idle, 10 * PHX_NS), 128 + SIGTERM);
    CU_ASSERT_EQUAL(app_finish(&a), APP_OK);
    CU_ASSERT_EQUAL(phx_daemon_stop(&d, SIGTERM), 0);
    phx_daemon_cleanup(&d);
    app_free(&a);
}

/* ---- usage, help, and no service ------------------------------------------------------------ */

static void test_usage_and_help(void)
{
    static const char *const commands[] = { "list", "plugins", "attach", "detach", "upgrade",
                                            "engine", "topology" };
    char usage[64];

    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        snprintf(usage, sizeof(usage), "Usage: phoenixctl %s", commands[i]);
        CTL_NO_PREFIX(0, usage, commands[i], "--help");
        CTL_NO_PREFIX(2, "--help'", commands[i], "--bogus");
    }
    CTL_NO_PREFIX(2, "unexpected argument 'extra'", "list", "extra");
    CTL_NO_PREFIX(2, "--timeout takes seconds", "list", "--timeout", "0");
    CTL_NO_PREFIX(2, "--prefix takes an absolute", "plugins", "--prefix", "relative/dir");
    CTL_NO_PREFIX(2, "--pid, --sid and --descriptor", "attach", "--pid", "1", "--sid", "0");
    CTL_NO_PREFIX(2, "--pid takes a number", "detach", "--pid", "x1", "--sid", "0",
                  "--descriptor", data("detach-null.conf"));
    CTL_NO_PREFIX(2, "use 'phoenixctl detach'", "attach", "--pid", "1", "--sid", "0",
                  "--descriptor", data("detach-null.conf"));
    CTL_NO_PREFIX(2, "--plugin PATH", "upgrade");
    CTL_NO_PREFIX(2, "unexpected argument", "upgrade", "libphoenix_null.so");
    CTL_NO_PREFIX(2, "expected ID REQUEST", "engine", "5");
    CTL_NO_PREFIX(2, "not 'x'", "engine", "x", "stats");
    CTL_NO_PREFIX(2, "unexpected argument 'more'", "engine", "1", "stats", "more");
}

/* A socket that accepts connections into its backlog and never answers. */
static int silent_service(const char *dir)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

    snprintf(addr.sun_path, sizeof(addr.sun_path), "%s/%s", dir, PHX_CONTROL_SOCKET_NAME);
    if (fd >= 0 && (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(fd, 8) < 0)) {
        close(fd);
        fd = -1;
    }
    return fd;
}

static void test_no_service(void)
{
    char *dir = strdup(phx_test_tmpdir("admin-none"));
    const char *const list_args[] = { "list", "--prefix", dir, "--timeout", "1", NULL };

    CTL_NO_PREFIX(1, "phoenixctl: no Phoenix service at", "list", "--prefix", dir);
    CTL_NO_PREFIX(0, "this machine", "topology", "--prefix", dir);
    CU_ASSERT_PTR_NOT_NULL(strstr(run_result.err, "no Phoenix service"));
    int fd = silent_service(dir);
    CU_ASSERT_FATAL(fd >= 0);
    unsigned long long t0 = phx_test_now_ns();
    expect_ctl(-1, NULL, 1, "did not answer within 1000 ms", list_args, &run_result);
    CU_ASSERT(phx_test_now_ns() - t0 < 10 * PHX_NS);
    close(fd);
    phx_test_rmtree(dir);
    free(dir);
}

/* ---- permissions ---------------------------------------------------------------------------- */

/* What `list` shows uid AS: does it list PID? */
static bool lists(int as, const struct phx_daemon *d, pid_t pid)
{
    char row[512];

    CTL_AS(as, d, 0, "| Engines", "list");
    return table_row(run_result.out, pid, row, sizeof(row));
}

static long long id_of(const struct phx_daemon *d, const struct app *a, const char *type,
                       char text[24])
{
    long long id = engine_id(d, a->pid, type);
    snprintf(text, 24, "%lld", id);
    return id;
}

/* USER on their own app: attach, ask, set, detach. */
static void user_on_own_app(const struct phx_daemon *d, const struct app *u)
{
    char id[24];

    CTL_AS(USER, d, 0, "attached NullEngine", "attach", "--pid", pid_text(u), "--sid", "0",
           "--descriptor", data("attach-null.conf"));
    CU_ASSERT_STRING_EQUAL(addons_of(d, u->pid), "NullEngine");
    json_object *list = CTL_JSON(d, "list");
    json_object *e = json_object_array_get_idx(member(subscription_of(list, u->pid), "engines"),
                                               1);
    CU_ASSERT_EQUAL(json_object_get_int(member(e, "attached_uid")), USER);
    CU_ASSERT_FALSE(json_object_get_boolean(member(e, "attached_by_admin")));
    json_object_put(list);
    id_of(d, u, "NullEngine", id);
    CTL_AS(USER, d, 0, "\"tx\"", "engine", id, "stats", "--json");
    PCTL_AS(USER, d, 0, NULL, "set", id, "batch=4");
    CTL_AS(USER, d, 0, "detached NullEngine", "detach", "--pid", pid_text(u), "--sid", "0",
           "--descriptor", data("detach-null.conf"));
    CU_ASSERT_STRING_EQUAL(addons_of(d, u->pid), "");
}

/* USER against root's app, the service's engines and what root attached: refused, unchanged. */
static void user_refused(const struct phx_daemon *d, const struct app *mine, const struct app *u)
{
    char id[24];

    CTL_AS(USER, d, 1, "belongs to uid 0", "attach", "--pid", pid_text(mine), "--sid", "0",
           "--descriptor", data("attach-null.conf"));
    CU_ASSERT_STRING_EQUAL(addons_of(d, mine->pid), "");
    id_of(d, mine, "LoopFrontEngine", id);
    CTL_AS(USER, d, 1, "belongs to uid 0", "engine", id, "stats");
    id_of(d, u, "LoopFrontEngine", id);
    CTL_AS(USER, d, 1, "set up by the service: only an administrator", "engine", id,
           "frobnicate");
    ATTACH(d, u);                                   /* root attaches to the user's app */
    id_of(d, u, "NullEngine", id);
    CTL_AS(USER, d, 1, "attached by an administrator: only an administrator may change or "
           "remove it", "detach", "--pid", pid_text(u), "--sid", "0", "--descriptor",
           data("detach-null.conf"));
    CTL_AS(USER, d, 1, "attached by an administrator", "engine", id, "frobnicate");
    PCTL_AS(USER, d, 1, "attached by an administrator", "set", id, "batch=4");
    PCTL_AS(USER, d, 1, "attached by an administrator", "detach", "null", "--pid", pid_text(u));
    CU_ASSERT_STRING_EQUAL(addons_of(d, u->pid), "NullEngine");
    PCTL_AS(USER, d, 0, "NullEngine", "list", "--json");   /* their app's policy, not root's */
    char pid_key[32];
    snprintf(pid_key, sizeof(pid_key), "\"pid\":%d,", (int)mine->pid);
    CU_ASSERT_PTR_NULL(strstr(run_result.out, pid_key));
    snprintf(pid_key, sizeof(pid_key), "\"pid\":%d,", (int)u->pid);
    CU_ASSERT_PTR_NOT_NULL(strstr(run_result.out, pid_key));
    CTL_AS(USER, d, 0, "\"tx\"", "engine", id, "stats", "--json");   /* reading is fine */
    CTL_AS(USER, d, 1, "admin requests need root", "upgrade", "--plugin", PHX_PLUGIN_NULL);
    CTL_AS(USER, d, 1, "admin requests need root", "topology");
    DETACH(d, u);
    CU_ASSERT(phx_daemon_log_has(d, "refused: NullEngine"));
}

/* USER holds 40 connections (more than max_apps + 16); root can still administer. */
static void user_floods_connections(const struct phx_daemon *d)
{
    int ready[2];
    char path[512], byte = 0;

    CU_ASSERT_FATAL(pipe(ready) == 0);
    snprintf(path, sizeof(path), "%s/control.sock", d->prefix);
    CU_ASSERT_FATAL(strlen(path) < sizeof(((struct sockaddr_un *)0)->sun_path));
    pid_t child = fork();
    CU_ASSERT_FATAL(child >= 0);
    if (child == 0) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        memcpy(sa.sun_path, path, strlen(path) + 1);
        if (setgroups(0, NULL) < 0 || setgid(USER) < 0 || setuid(USER) < 0)
            _exit(1);
        for (int i = 0; i < 40; i++) {
            int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
            if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
                close(fd);
        }
        close(ready[0]);
        if (write(ready[1], "r", 1) != 1)
            _exit(2);
        pause();                /* until killed */
        _exit(0);
    }
    close(ready[1]);
    CU_ASSERT_EQUAL(read(ready[0], &byte, 1), 1);
    close(ready[0]);
    phx_test_sleep_ms(300);     /* the service accepts (or refuses) them all */
    CTL(d, 0, "| Engines", "list");
    CU_ASSERT(phx_daemon_log_has(d, "refusing a connection"));
    kill(child, SIGKILL);
    CU_ASSERT_EQUAL(phx_test_reap(child, 10 * PHX_NS), 128 + SIGKILL);
}

static void test_permissions(void)
{
    struct phx_daemon d;
    struct app mine, u;

    if (getuid() != 0) {
        phx_test_skip("the ordinary-user case needs root to become uid %d", USER);
        return;
    }
    CU_ASSERT_FATAL(daemon_up(&d, "admin-perm"));
    app_start(&mine, d.prefix, UINT64_MAX, 0);
    user_app_start(&u, d.prefix);
    CU_ASSERT_FATAL(app_wait_received(&mine, 10) && app_wait_received(&u, 10));
    CU_ASSERT(lists(USER, &d, u.pid));
    CU_ASSERT_FALSE(lists(USER, &d, mine.pid));     /* others' apps are not shown */
    CU_ASSERT(lists(-1, &d, u.pid) && lists(-1, &d, mine.pid));
    user_on_own_app(&d, &u);
    user_refused(&d, &mine, &u);
    user_floods_connections(&d);
    CU_ASSERT_EQUAL(app_finish(&u), APP_OK);
    CU_ASSERT_EQUAL(app_finish(&mine), APP_OK);
    CU_ASSERT_EQUAL(phx_daemon_stop(&d, SIGTERM), 0);
    phx_daemon_cleanup(&d);
    app_free(&u);
    app_free(&mine);
}

/* ---- local limits --------------------------------------------------------------------------- */

static const char *limits_conf(void)
{
    static char conf[1024];

    snprintf(conf, sizeof(conf),
             "# test_admin limits: one app and four connections per ordinary uid.\n"
             "control = { admin_group = \"\"; socket_mode = 0666; max_apps = 16;\n"
             "            max_conns_per_uid = 4; max_apps_per_uid = 1; idle_timeout_s = 8; };\n"
             "heap = { send_mb = 16; recv_mb = 16; slab_kb = 256; };\n"
             "plugins = ( { name = \"loopback\"; path = \"%s\"; } );\n", PHX_PLUGIN_LOOPBACK);
    return conf;
}

/* Registers an app for "loopback" as uid AS (and closes it): 0 when it registered, else 1 with
 * the sentence it was refused with in WHY. */
static int register_as(int as, const char *prefix, char *why, size_t n)
{
    int out[2];

    CU_ASSERT_FATAL(pipe(out) == 0);
    pid_t parent = getpid(), pid = fork();
    CU_ASSERT_FATAL(pid >= 0);
    if (pid == 0) {
        struct phx_client_params p = {
            .field_mask = PHX_CLIENT_PARAM_FIELD_PREFIX | PHX_CLIENT_PARAM_FIELD_SERVICE,
            .prefix = prefix, .service = "loopback",
        };
        char err[512] = "";
        close(out[0]);
        if (setgroups(0, NULL) < 0 || setgid(as) < 0 || setuid(as) < 0)
            _exit(3);
        phx_test_die_with_parent(parent);
        phx_client_t *c = phx_client_register(&p, err, sizeof(err));
        if (c)
            phx_client_close(c);
        _exit(write(out[1], err, strlen(err)) < 0 ? 4 : c ? 0 : 1);
    }
    close(out[1]);
    ssize_t got = read(out[0], why, n - 1);      /* the child writes once, then exits */
    why[got > 0 ? got : 0] = '\0';
    close(out[0]);
    return phx_test_reap(pid, 30 * PHX_NS);
}

/* As USER, holds N connections that never send anything; returns once they are made. The child
 * exits 0 when the service closed every one within 30 s after telling it why (the
 * idle_timeout_s sentence), else 4 (not closed in time) or 5 (closed without the sentence). */
static pid_t user_holds_connections(const struct phx_daemon *d, int n)
{
    int ready[2];
    char path[512], byte = 0;

    CU_ASSERT_FATAL(pipe(ready) == 0);
    snprintf(path, sizeof(path), "%s/control.sock", d->prefix);
    pid_t parent = getpid(), child = fork();
    CU_ASSERT_FATAL(child >= 0);
    if (child == 0) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        struct pollfd pfd[8];
        char buf[1024];
        int told = 0, closed = 0;
        memcpy(sa.sun_path, path, strlen(path) + 1);
        if (n > 8 || setgroups(0, NULL) < 0 || setgid(USER) < 0 || setuid(USER) < 0)
            _exit(1);
        phx_test_die_with_parent(parent);
        for (int i = 0; i < n; i++) {
            pfd[i] = (struct pollfd){ .fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0),
                                      .events = POLLIN };
            if (pfd[i].fd < 0 || connect(pfd[i].fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
                _exit(2);
        }
        close(ready[0]);
        if (write(ready[1], "r", 1) != 1)
            _exit(2);
        unsigned long long deadline = phx_test_now_ns() + 30 * PHX_NS;
        while (closed < n && phx_test_now_ns() < deadline) {
            if (poll(pfd, (nfds_t)n, 100) <= 0)
                continue;
            for (int i = 0; i < n; i++) {
                if (pfd[i].fd < 0 || !pfd[i].revents)
                    continue;
                ssize_t got = recv(pfd[i].fd, buf, sizeof(buf), MSG_DONTWAIT);
                if (got > 0 && memmem(buf, (size_t)got, "(control.idle_timeout_s)", 24))
                    told++;
                if (got <= 0) {
                    close(pfd[i].fd);
                    pfd[i].fd = -1;     /* poll() skips it from now on */
                    closed++;
                }
            }
        }
        _exit(closed < n ? 4 : told < n ? 5 : 0);
    }
    close(ready[1]);
    CU_ASSERT_EQUAL(read(ready[0], &byte, 1), 1);
    close(ready[0]);
    phx_test_sleep_ms(300);     /* the service accepts them */
    return child;
}

static void test_local_limits(void)
{
    struct phx_daemon d;
    struct app u;
    char why[512];

    if (getuid() != 0) {
        phx_test_skip("the limits case needs root to become uid %d", USER);
        return;
    }
    CU_ASSERT_FATAL(phx_daemon_start(&d, "admin-limits", limits_conf()));
    user_app_start(&u, d.prefix);
    CU_ASSERT_FATAL(app_wait_received(&u, 10));
    CTL_AS(USER, &d, 0, "| Engines", "list");
    CU_ASSERT_EQUAL(register_as(USER, d.prefix, why, sizeof(why)), 1);
    CU_ASSERT_STRING_EQUAL(why, "phoenixd: uid 60001 already has 1 app registered "
                           "(control.max_apps_per_uid)");
    CU_ASSERT_EQUAL(register_as(NOBODY, d.prefix, why, sizeof(why)), 0);
    pid_t holder = user_holds_connections(&d, 3);   /* with the app's own: 4 */
    CTL_AS(USER, &d, 1, "phoenixctl: phoenixd: uid 60001 already has 4 control connections "
           "(control.max_conns_per_uid)", "list");
    printf("\n    %.*s", (int)strcspn(run_result.err, "\n"), run_result.err);
    CTL(&d, 0, "| Engines", "list");
    CU_ASSERT_EQUAL(register_as(NOBODY, d.prefix, why, sizeof(why)), 0);
    CU_ASSERT(phx_daemon_log_has(&d, "refusing a connection: uid 60001 already has 4 control "
                                 "connections (control.max_conns_per_uid) (1 so far"));
    CU_ASSERT(phx_daemon_log_has(&d, "refusing an app: uid 60001 already has 1 app registered"));
    CU_ASSERT_EQUAL(phx_test_reap(holder, 40 * PHX_NS), 0);
    CU_ASSERT(phx_daemon_log_has(&d, "idle: closing a connection of uid "
                                 "60001"));
    CTL_AS(USER, &d, 0, "| Engines", "list");
    CU_ASSERT_EQUAL(app_finish(&u), APP_OK);
    CU_ASSERT_EQUAL(phx_daemon_stop(&d, SIGTERM), 0);
    phx_daemon_cleanup(&d);
    app_free(&u);
}

/* ---- plugin trust --------------------------------------------------------------------------- */

/* Copies the marker build of NullEngine 2.0.0 to DIR/NAME with MODE; its path. */
static const char *marker_copy(const char *dir, const char *name, mode_t mode)
{
    static char paths[2][512];
    static unsigned next;
    char cmd[1200], *to = paths[next++ % 2];

    snprintf(to, sizeof(paths[0]), "%s/%s", dir, name);
    snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", PHX_PLUGIN_NULL_MARKER, to);
    CU_ASSERT_FATAL(system(cmd) == 0 && chmod(to, mode) == 0);
    return to;
}

/* upgrade --plugin PATH is refused naming WHAT, and no code of it ran. */
static void expect_untrusted(const struct phx_daemon *d, const char *path, const char *what,
                             const char *marker)
{
    CTL(d, 1, what, "upgrade", "--plugin", path);
    CU_ASSERT_PTR_NOT_NULL(strstr(run_result.err, "must be owned by root"));
    CU_ASSERT_PTR_NOT_NULL(strstr(run_result.err, path));
    printf("\n    %.*s", (int)strcspn(run_result.err, "\n"), run_result.err);
    CU_ASSERT_NOT_EQUAL(access(marker, F_OK), 0);
}

static void test_plugin_trust(void)
{
    char base[64] = "/tmp/phx-admin-plugins-XXXXXX", other[64] = "/tmp/phx-admin-other-XXXXXX";
    char marker[128], sub[128], conf[4096];
    struct phx_daemon d;

    CU_ASSERT_FATAL(mkdtemp(base) && mkdtemp(other) && chmod(base, 0755) == 0);
    snprintf(marker, sizeof(marker), "%s/marker", base);
    setenv("PHX_TEST_MARKER", marker, 1);           /* phoenixd inherits it */
    snprintf(conf, sizeof(conf), "%splugin_trusted_dirs = \"%s\";\n", admin_conf(32), base);
    CU_ASSERT_FATAL(phx_daemon_start(&d, "admin-trust", conf));
    const char *user = marker_copy(base, "user.so", 0644);
    CU_ASSERT_FATAL(chown(user, USER, USER) == 0);
    expect_untrusted(&d, user, "user.so is owned by uid 60001, not by root", marker);
    expect_untrusted(&d, marker_copy(base, "group.so", 0664),
                     "group.so is writable by its group (mode 0664)", marker);
    snprintf(sub, sizeof(sub), "%s/ww", base);
    CU_ASSERT_FATAL(mkdir(sub, 0777) == 0 && chmod(sub, 0777) == 0);
    expect_untrusted(&d, marker_copy(sub, "null.so", 0644), "/ww is writable by others (mode "
                     "0777)", marker);
    snprintf(sub, sizeof(sub), "%s/ok", base);
    CU_ASSERT_FATAL(mkdir(sub, 0755) == 0);
    const char *good = marker_copy(sub, "null.so", 0644);
    char link[160];
    snprintf(link, sizeof(link), "%s/ww/link.so", base);
    CU_ASSERT_FATAL(symlink(good, link) == 0);
    expect_untrusted(&d, link, "/ww is writable by others", marker);
    expect_untrusted(&d, marker_copy(other, "null.so", 0644), "/tmp is writable by others (mode "
                     "1777)", marker);
    CU_ASSERT(phx_daemon_log_has(&d, "refused: "));
    CTL(&d, 0, "upgraded null 1.0.0 -> 2.0.0", "upgrade", "--plugin", good);
    CU_ASSERT_EQUAL(access(marker, F_OK), 0);       /* its code ran: the marker works */
    CU_ASSERT_EQUAL(phx_daemon_stop(&d, SIGTERM), 0);
    phx_daemon_cleanup(&d);
    unsetenv("PHX_TEST_MARKER");
    phx_test_rmtree(base);
    phx_test_rmtree(other);
}

int main(int argc, char **argv)
{
    static const phx_test_case_t cases[] = {
        { "list, plugins and topology of the service", test_list_plugins_topology },
        { "an app's Slurm job from its environment is unverified", test_job_identity },
        { "an ordinary user changes their own apps only", test_permissions },
        { "usage errors exit 2, every command has --help", test_usage_and_help },
        { "no service, or one that never answers", test_no_service },
        { "per-uid limits on connections and apps, idle connections", test_local_limits },
        { "untrusted plugin files are refused before their code runs", test_plugin_trust },
        { NULL, NULL },
    };

    return admin_main("admin_control", cases, argc, argv);
}
