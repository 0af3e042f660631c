/* admin_harness.c - what the phoenixctl test programs share (admin_harness.h): the streaming
 * app, phoenixd's configuration, phoenixctl and policyctl run as root or as an ordinary user, and
 * what `list`, `plugins` and `engine ID stats` say, parsed. */
#include "admin_harness.h"
#include "phoenix/client.h"
#include "phoenix/status.h"

#include <dlfcn.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define STREAM_BATCH  256u
#define TRICKLE       16u           /* descriptors per millisecond beyond the gate */
#define APP_DEADLINE  (120 * PHX_NS)
#define CTL_TIMEOUT   (30 * PHX_NS)
#define WAIT_MS       60000u        /* for the stream to reach a point */
#define MAX_ARGS      24

/* ---- the app -------------------------------------------------------------------------------- */

static bool stopping(struct stream_shared *sh)
{
    return __atomic_load_n(&sh->stop, __ATOMIC_ACQUIRE);
}

/* Submits the next descriptors: a batch below the gate, a few beyond it. Returns how many went. */
static int submit_next(phx_client_t *c, struct stream_shared *sh, uint64_t total)
{
    phx_desc_t batch[STREAM_BATCH];
    uint64_t sent = load(&sh->sent), left = total - sent;
    unsigned n = sent < load(&sh->gate) ? STREAM_BATCH : TRICKLE;

    if (stopping(sh) || !left)
        return 0;
    n = left < n ? (unsigned)left : n;
    for (unsigned i = 0; i < n; i++)
        batch[i] = (phx_desc_t){ .kind = PHX_DESC_DATA, .seq = sent + i, .user = ~(sent + i) };
    int pushed = phx_client_submit(c, batch, n);
    if (pushed > 0)
        store(&sh->sent, sent + (unsigned)pushed);
    return pushed;
}

/* Takes the completions that arrived; each must be the next seq. */
static int collect(phx_client_t *c, struct stream_shared *sh, bool fast)
{
    phx_desc_t done[STREAM_BATCH];
    uint64_t expect = load(&sh->received);
    int n = fast ? phx_client_poll(c, done, STREAM_BATCH)
                 : phx_client_wait(c, done, STREAM_BATCH, 1);

    if (n < 0)
        return APP_WAIT;
    for (int i = 0; i < n; i++, expect++)
        if (done[i].kind != PHX_DESC_DATA || done[i].seq != expect || done[i].user != ~expect)
            return APP_ORDER;
    store(&sh->received, expect);
    return APP_OK;
}

static bool stream_over(struct stream_shared *sh, uint64_t total)
{
    uint64_t received = load(&sh->received);

    return received == total || (stopping(sh) && received == load(&sh->sent));
}

static int stream_app(const char *prefix, uint64_t total, struct stream_shared *sh)
{
    struct phx_client_params p = {
        .field_mask = PHX_CLIENT_PARAM_FIELD_PREFIX | PHX_CLIENT_PARAM_FIELD_SERVICE,
        .prefix = prefix,
        .service = "loopback",
    };
    unsigned long long deadline = phx_test_now_ns() + APP_DEADLINE;
    char err[512];
    phx_client_t *c = phx_client_register(&p, err, sizeof(err));
    int rc = APP_OK;

    if (!c) {
        fprintf(stderr, "app: %s\n", err);
        return APP_REGISTER;
    }
    while (rc == APP_OK && !stream_over(sh, total)) {
        bool fast = load(&sh->sent) < load(&sh->gate);
        int pushed = submit_next(c, sh, total);
        if (phx_test_now_ns() > deadline)
            rc = APP_DEADLINE_HIT;
        else if (pushed < 0)
            rc = APP_SUBMIT;
        else
            rc = collect(c, sh, fast && pushed > 0);
        if (!fast)
            phx_test_sleep_ms(1);    /* a trickle: completions must not pace it */
    }
    /* Stay registered until told: the test still asks about this subscription's engines. */
    while (rc == APP_OK && !stopping(sh) && phx_test_now_ns() < deadline)
        phx_test_sleep_ms(1);
    phx_client_close(c);
    return rc;
}

void app_start(struct app *a, const char *prefix, uint64_t total, uint64_t gate)
{
    a->sh = mmap(NULL, sizeof(*a->sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    CU_ASSERT_FATAL(a->sh != MAP_FAILED);
    a->sh->gate = gate;
    pid_t parent = getpid();
    a->pid = fork();
    CU_ASSERT_FATAL(a->pid >= 0);
    if (a->pid == 0) {
        phx_test_die_with_parent(parent);
        _exit(stream_app(prefix, total, a->sh));
    }
}

/* The same app running as the ordinary user USER (uid and gid), for the permissions case. */
void user_app_start(struct app *a, const char *prefix)
{
    a->sh = mmap(NULL, sizeof(*a->sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    CU_ASSERT_FATAL(a->sh != MAP_FAILED);
    pid_t parent = getpid();
    a->pid = fork();
    CU_ASSERT_FATAL(a->pid >= 0);
    if (a->pid == 0) {
        if (setgroups(0, NULL) < 0 || setgid(USER) < 0 || setuid(USER) < 0)
            _exit(APP_REGISTER);
        phx_test_die_with_parent(parent);
        _exit(stream_app(prefix, UINT64_MAX, a->sh));
    }
}

bool app_wait_received(const struct app *a, uint64_t at_least)
{
    unsigned long long deadline = phx_test_now_ns() + (unsigned long long)WAIT_MS * 1000000;

    while (load(&a->sh->received) < at_least) {
        if (phx_test_now_ns() > deadline || waitpid(a->pid, NULL, WNOHANG) == a->pid) {
            fprintf(stderr, "app stuck at %llu of %llu\n",
                    (unsigned long long)load(&a->sh->received), (unsigned long long)at_least);
            return false;
        }
        phx_test_sleep_ms(1);
    }
    return true;
}

/* app_start() of an endless stream, then its first 10 descriptors back; false (after saying so,
 * and with the app gone) if they do not come. */
static bool app_streaming(struct app *a, const char *prefix)
{
    app_start(a, prefix, UINT64_MAX, 0);
    if (app_wait_received(a, 10))
        return true;
    fprintf(stderr, "\n  the app at %s did not get its first 10 descriptors back\n", prefix);
    if (waitpid(a->pid, NULL, WNOHANG) == 0) {     /* stuck (one that died is reaped already) */
        kill(a->pid, SIGKILL);
        waitpid(a->pid, NULL, 0);
    }
    return false;
}

void app_up(struct app *a, const char *prefix)
{
    bool app_streams = app_streaming(a, prefix);
    CU_ASSERT_FATAL(app_streams);
}

/* Tells the app to send no more and go once what is in flight is back; returns its exit code. */
int app_finish(struct app *a)
{
    __atomic_store_n(&a->sh->stop, 1, __ATOMIC_RELEASE);
    return phx_test_reap(a->pid, APP_DEADLINE + 10 * PHX_NS);
}

void app_free(struct app *a)
{
    munmap(a->sh, sizeof(*a->sh));
}

const char *pid_text(const struct app *a)
{
    static char text[16];

    snprintf(text, sizeof(text), "%d", (int)a->pid);
    return text;
}

/* The exec'd app: registers at PREFIX and stays until killed, its parent dies or 60 s pass. */
static int idle_app(const char *prefix)
{
    struct phx_client_params p = {
        .field_mask = PHX_CLIENT_PARAM_FIELD_PREFIX | PHX_CLIENT_PARAM_FIELD_SERVICE,
        .prefix = prefix,
        .service = "loopback",
    };
    char err[512];
    phx_client_t *c = phx_client_register(&p, err, sizeof(err));
    pid_t parent = getppid();

    if (!c) {
        fprintf(stderr, "idle app: %s\n", err);
        return APP_REGISTER;
    }
    for (int i = 0; i < 60000 && getppid() == parent; i++)
        phx_test_sleep_ms(1);
    phx_client_close(c);
    return APP_OK;
}

pid_t idle_app_start(const char *prefix)
{
    char *argv[] = { "/proc/self/exe", "--idle-app", (char *)prefix, NULL };
    char *envp[] = { "SLURM_JOB_ID=4711", "PATH=/usr/bin:/bin", NULL };
    pid_t pid = fork();

    if (pid == 0) {
        execve("/proc/self/exe", argv, envp);
        _exit(127);
    }
    return pid;
}

/* ---- the daemon and phoenixctl -------------------------------------------------------------- */

/* NullEngine's batch comes from settings.null unless a config_string says otherwise. */
const char *admin_conf(unsigned null_batch)
{
    static char conf[2048];

    snprintf(conf, sizeof(conf),
             "# test_admin: loopback and NullEngine 1.0.0; any uid may connect, only root may "
             "administer.\n"
             "log = { level = \"info\"; };\n"
             "runtime = { threads = 1; mode = \"shared\"; spin_us = 50; };\n"
             "control = { admin_group = \"\"; socket_mode = 0666; max_apps = 16; max_rules = 4;\n"
             "            max_user_rules = 1; };\n"
             "heap = { send_mb = 16; recv_mb = 16; slab_kb = 256; };\n"
             "plugins = ( { name = \"loopback\"; path = \"%s\"; },\n"
             "            { name = \"null\"; path = \"%s\"; } );\n"
             "settings = { null = { batch = %u; }; };\n",
             PHX_PLUGIN_LOOPBACK, PHX_PLUGIN_NULL, null_batch);
    return conf;
}

bool daemon_up(struct phx_daemon *d, const char *tag)
{
    return phx_daemon_start(d, tag, admin_conf(32));
}

void daemon_and_app_up(struct phx_daemon *d, struct app *a, const char *tag)
{
    bool daemon_started = daemon_up(d, tag);
    if (!daemon_started)
        fprintf(stderr, "\n  %s: phoenixd did not come up (the line above says why)\n", tag);
    CU_ASSERT_FATAL(daemon_started);
    bool app_streams = app_streaming(a, d->prefix);
    if (!app_streams) {
        fprintf(stderr, "  %s: no app streams through phoenixd; it is stopped, its log: %s\n",
                tag, d->log);
        phx_daemon_stop(d, SIGTERM);
    }
    CU_ASSERT_FATAL(app_streams);
}

/* The path of a descriptor in tests/data/addon-cli; a few stay valid at once, as several go in
 * one command line. */
static char user_dir[256];     /* the tools and files an ordinary user runs, or "" (below) */

const char *data(const char *name)
{
    static char paths[4][4096];
    static unsigned next;
    char *path = paths[next++ % 4];

    if (user_dir[0])
        snprintf(path, sizeof(paths[0]), "%s/%s", user_dir, name);
    else
        snprintf(path, sizeof(paths[0]), "%s/tests/data/addon-cli/%s", PHX_SOURCE_DIR, name);
    return path;
}

/* ---- what an ordinary user can reach ---------------------------------------------------------
 * The checkout may lie in a directory only root can enter (CI clones into one), so USER runs
 * copies: phoenixctl, policyctl, libphoenix (found by LD_LIBRARY_PATH, which wins over the
 * build's RUNPATH) and the descriptors, in a directory anyone may read, made when a tool first
 * runs as USER and removed when the program ends. */

static bool copy_into(const char *from, const char *name, mode_t mode)
{
    char to[512];
    size_t len;
    char *text;
    FILE *in = fopen(from, "rb");

    snprintf(to, sizeof(to), "%s/%s", user_dir, name);
    if (!in)
        return false;
    text = NULL;
    len = 0;
    FILE *mem = open_memstream(&text, &len);
    char buf[65536];
    size_t n;
    while (mem && (n = fread(buf, 1, sizeof(buf), in)) > 0)
        fwrite(buf, 1, n, mem);
    fclose(in);
    if (!mem || fclose(mem) != 0)
        return false;
    FILE *out = fopen(to, "wb");
    bool ok = out && fwrite(text, 1, len, out) == len;
    ok = out && fclose(out) == 0 && ok && chmod(to, mode) == 0;
    free(text);
    return ok;
}

static bool user_tools_up(void)
{
    static const char *const files[] = {     /* all of tests/data/addon-cli: data() reads here */
        "attach-null.conf", "bad-dangling.conf", "bad-duplicate-name.conf",
        "bad-port-range.conf", "bad-port-syntax.conf", "bad-syntax.conf", "bad-wrong-group.conf",
        "detach-null.conf", "null.cfg", "ratelimit-attach.conf", "ratelimit-detach.conf",
    };
    char from[4096];
    Dl_info lib;

    snprintf(user_dir, sizeof(user_dir), "/tmp/phx-usertools.XXXXXX");
    if (!mkdtemp(user_dir) || chmod(user_dir, 0755) != 0 ||
        !dladdr((void *)phx_status_name, &lib) || !lib.dli_fname)
        return false;
    bool ok = copy_into(PHOENIXCTL_PATH, "phoenixctl", 0755) &&
              copy_into(POLICYCTL_PATH, "policyctl", 0755) &&
              copy_into(lib.dli_fname, "libphoenix.so.0", 0644);
    for (unsigned i = 0; ok && i < sizeof(files) / sizeof(files[0]); i++) {
        snprintf(from, sizeof(from), "%s/tests/data/addon-cli/%s", PHX_SOURCE_DIR, files[i]);
        ok = copy_into(from, files[i], 0644);
    }
    return ok;
}

static void user_tools_down(void)
{
    if (user_dir[0])
        phx_test_rmtree(user_dir);
    user_dir[0] = '\0';
}

static const char *ctl_path = PHOENIXCTL_PATH;  /* policyctl in the rules case */

/* Runs phoenixctl ARGS as AS_UID (-1: as we are), adding --prefix PREFIX unless it is NULL. */
static int ctl_run(int as_uid, const char *prefix, const char *const *args,
                   phx_test_run_result_t *r)
{
    struct phx_test_run_params p = {
        .field_mask = PHX_TEST_RUN_PARAM_FIELD_TIMEOUT |
                      (as_uid >= 0 ? PHX_TEST_RUN_PARAM_FIELD_UID : 0),
        .timeout_ns = CTL_TIMEOUT,
        .uid = as_uid,
    };
    char *argv[MAX_ARGS + 4] = { (char *)ctl_path };
    char tool[512], libs[300];
    char *env[] = { libs, "PATH=/usr/bin:/bin", NULL };
    int n = 1;

    if (as_uid >= 0 && !user_dir[0]) {     /* made once, removed when the program ends */
        atexit(user_tools_down);
        CU_ASSERT_FATAL(user_tools_up());
    }
    if (as_uid >= 0) {                     /* the copies an ordinary user can reach */
        snprintf(tool, sizeof(tool), "%s/%s", user_dir,
                 strcmp(ctl_path, POLICYCTL_PATH) == 0 ? "policyctl" : "phoenixctl");
        snprintf(libs, sizeof(libs), "LD_LIBRARY_PATH=%s", user_dir);
        argv[0] = tool;
        p.field_mask |= PHX_TEST_RUN_PARAM_FIELD_ENV;
        p.env = env;
    }

    for (int i = 0; args[i] && n < MAX_ARGS; i++)
        argv[n++] = (char *)args[i];
    if (prefix) {
        argv[n++] = "--prefix";
        argv[n++] = (char *)prefix;
    }
    argv[n] = NULL;
    return phx_test_run(argv, &p, r);
}

/* Runs phoenixctl and checks its exit code and that PHRASE (if any) is in stdout or stderr. */
void expect_ctl(int as_uid, const char *prefix, int code, const char *phrase,
                const char *const *args, phx_test_run_result_t *r)
{
    ctl_run(as_uid, prefix, args, r);
    bool found = !phrase || strstr(r->out, phrase) || strstr(r->err, phrase);
    if (r->code != code || !found)
        fprintf(stderr, "\n  phoenixctl %s %s: exit %d, want %d with '%s'\n  stdout: %s\n"
                "  stderr: %s\n", args[0] ? args[0] : "", args[0] && args[1] ? args[1] : "",
                r->code, code, phrase ? phrase : "", r->out, r->err);
    CU_ASSERT_EQUAL(r->code, code);
    CU_ASSERT(found);
}

phx_test_run_result_t run_result;

/* policyctl ARGS as uid AS (-1: as we are), as expect_ctl() runs phoenixctl. */
void expect_pctl(int as, const struct phx_daemon *d, int code, const char *phrase,
                 const char *const *args)
{
    ctl_path = POLICYCTL_PATH;
    expect_ctl(as, d->prefix, code, phrase, args, &run_result);
    ctl_path = PHOENIXCTL_PATH;
}

json_object *ctl_json(const struct phx_daemon *d, const char *const *args)
{
    if (ctl_run(-1, d->prefix, args, &run_result) != 0) {
        fprintf(stderr, "\n  phoenixctl %s: exit %d: %s\n", args[0], run_result.code,
                run_result.err);
        return NULL;
    }
    return json_tokener_parse(run_result.out);
}

json_object *pctl_json(const struct phx_daemon *d, const char *const *args)
{
    ctl_path = POLICYCTL_PATH;
    json_object *o = ctl_json(d, args);
    ctl_path = PHOENIXCTL_PATH;
    return o;
}

json_object *member(json_object *o, const char *key)
{
    json_object *v = NULL;

    json_object_object_get_ex(o, key, &v);
    return v;
}

/* ---- what the service says ------------------------------------------------------------------ */

/* PID's subscription in `list --json` LIST (SID 0), or NULL. */
json_object *subscription_of(json_object *list, pid_t pid)
{
    json_object *subs = member(list, "subscriptions");

    for (size_t i = 0; i < json_object_array_length(subs); i++) {
        json_object *s = json_object_array_get_idx(subs, i);
        if (json_object_get_int(member(s, "pid")) == pid &&
            json_object_get_int(member(s, "sid")) == 0)
            return s;
    }
    return NULL;
}

/* Field KEY of PID's engine of TYPE in `list --json`, -1 when there is none. */
long long engine_field(const struct phx_daemon *d, pid_t pid, const char *type,
                       const char *key)
{
    json_object *list = CTL_JSON(d, "list");
    json_object *engines = member(subscription_of(list, pid), "engines");
    long long value = -1;

    for (size_t i = 0; i < json_object_array_length(engines); i++) {
        json_object *e = json_object_array_get_idx(engines, i);
        if (strcmp(json_object_get_string(member(e, "type")), type) == 0)
            value = json_object_get_int64(member(e, key));
    }
    json_object_put(list);
    return value;
}

long long engine_id(const struct phx_daemon *d, pid_t pid, const char *type)
{
    return engine_field(d, pid, type, "id");
}

/* PID's addons as "A,B" ("" for none; "?" when PID is not listed). */
const char *addons_of(const struct phx_daemon *d, pid_t pid)
{
    static char text[256];
    json_object *list = CTL_JSON(d, "list");
    json_object *sub = subscription_of(list, pid), *addons = member(sub, "addons");

    snprintf(text, sizeof(text), "%s", sub ? "" : "?");
    for (size_t i = 0; i < json_object_array_length(addons); i++)
        snprintf(text + strlen(text), sizeof(text) - strlen(text), "%s%s", i ? "," : "",
                 json_object_get_string(json_object_array_get_idx(addons, i)));
    json_object_put(list);
    return text;
}

bool null_stats(const struct phx_daemon *d, long long id, struct null_stats *st)
{
    char id_text[24];

    snprintf(id_text, sizeof(id_text), "%lld", id);
    json_object *o = CTL_JSON(d, "engine", id_text, "stats");
    memset(st, 0, sizeof(*st));
    if (!o)
        return false;
    st->tx = json_object_get_int64(member(o, "tx"));
    st->rx = json_object_get_int64(member(o, "rx"));
    st->upgrades = json_object_get_int64(member(o, "upgrades"));
    st->batch = json_object_get_int64(member(o, "batch"));
    snprintf(st->version, sizeof(st->version), "%s", json_object_get_string(member(o, "version")));
    json_object_put(o);
    return true;
}

/* The builds of plugin NAME in `plugins --json`: how many, and the version of the current one. */
unsigned plugin_builds(const struct phx_daemon *d, const char *name, char *current,
                       size_t len)
{
    json_object *o = CTL_JSON(d, "plugins");
    json_object *list = member(o, "plugins");
    unsigned n = 0;

    current[0] = '\0';
    for (size_t i = 0; i < json_object_array_length(list); i++) {
        json_object *p = json_object_array_get_idx(list, i);
        if (strcmp(json_object_get_string(member(p, "name")), name) != 0)
            continue;
        n++;
        if (json_object_get_boolean(member(p, "current")))
            snprintf(current, len, "%s", json_object_get_string(member(p, "version")));
    }
    json_object_put(o);
    return n;
}

/* Waits (bounded) for PID to show in `list --json`; returns its subscription's object, owned by
 * *LIST (put it when done), or NULL. */
json_object *wait_listed(const struct phx_daemon *d, pid_t pid, json_object **list)
{
    for (int i = 0; i < 200; i++) {
        *list = CTL_JSON(d, "list");
        json_object *s = *list ? subscription_of(*list, pid) : NULL;
        if (s)
            return s;
        json_object_put(*list);
        *list = NULL;
        phx_test_sleep_ms(50);
    }
    return NULL;
}

int admin_main(const char *suite, const phx_test_case_t *cases, int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--idle-app") == 0)
        return idle_app(argv[2]);
    signal(SIGPIPE, SIG_IGN);
    return phx_test_main(suite, cases, argc, argv);
}
