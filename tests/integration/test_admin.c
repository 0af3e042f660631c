/* test_admin.c - administering a running phoenixd with the built phoenixctl, as an admin would.
 *
 * Each case starts its own phoenixd (daemon_harness.h) with the loopback test plugin and
 * NullEngine 1.0.0 (policies/null), and an app: a forked child that registers for "loopback"
 * and streams descriptors numbered by `seq`, checking that each comes back once and in order.
 * The app and the test share a page: the app publishes how far it got, the test sets a `gate`
 * beyond which the app only trickles (one descriptor per millisecond). An admin operation runs
 * while the stream flows at full speed, and the gate only makes sure the stream cannot end
 * before the operation did. The cases:
 *
 *   stream      1,000,000 descriptors; mid-stream: attach NullEngine, detach it, attach it
 *               again, upgrade null to 2.0.0 under it. Every descriptor comes back in order,
 *               NullEngine's counts carry across the upgrade (engine stats), and `plugins`
 *               shows null 2.0.0 alone once 1.0.0 runs nothing
 *   list        the seed's table before and after attach ("None", then "NullEngine"), --json,
 *               plugins and topology from the running service
 *   job         an app exec'd (this program with --idle-app) with SLURM_JOB_ID=4711 in its
 *               environment and no Slurm cgroup shows job 4711, unverified, in the table and
 *               --json; the forked app, without the variable, shows no job
 *   sighup      NullEngine attached without config_string takes settings.null; SIGHUP with a
 *               new value reconfigures it in place, an out-of-range one changes nothing
 *   bad input   every kind of bad descriptor, unknown pid/sid/engine, bad upgrades (missing
 *               file, wrong ABI, an incompatible NullEngine 3.0.0 under traffic), a non-admin
 *               uid: each exits 1 or 2 with the reason, and the service goes on
 *   permissions an ordinary user (uid 60001, a forked app of theirs) lists only their own apps,
 *               attaches, asks and detaches on them; is refused with a sentence on root's app,
 *               on the service's own engines, on what root attached to their app, and for
 *               upgrade/topology, and nothing changes; holding more connections than the
 *               service takes does not keep root out
 *   rules       policyctl attach --uid 0 attaches NullEngine to the running app and to one that
 *               registers later (with the rule's settings); rules lists both; detach --rule
 *               detaches both; a --job rule reaches only the exec'd app of that job; detach
 *               --job removes it; an ordinary user may only make a --uid rule for themselves,
 *               up to control.max_user_rules, not remove an admin's; control.max_rules holds
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
#include "daemon_harness.h"
#include "phoenix/client.h"
#include "phoenix/status.h"
#include "phx_test.h"

#include <dlfcn.h>
#include <errno.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#if !defined(PHOENIXCTL_PATH) || !defined(PHX_PLUGIN_LOOPBACK) || !defined(PHX_PLUGIN_NULL)
#error "PHOENIXCTL_PATH and the PHX_PLUGIN_ paths must be defined by the build"
#endif

#define STREAM_TOTAL  1000000ull
#define STREAM_BATCH  256u
#define TRICKLE       16u           /* descriptors per millisecond beyond the gate */
#define APP_DEADLINE  (120 * PHX_NS)
#define CTL_TIMEOUT   (30 * PHX_NS)
#define WAIT_MS       60000u        /* for the stream to reach a point */
#define MAX_ARGS      24
#define NOBODY        65534
#define USER          60001         /* an unused uid: the ordinary user of the permissions case */

/* ---- the app -------------------------------------------------------------------------------- */

struct stream_shared {
    uint64_t gate;          /* test -> app: beyond this many sent, only trickle */
    int      stop;          /* test -> app: send no more, collect what is in flight, exit */
    uint64_t sent;          /* app -> test */
    uint64_t received;      /* app -> test: completions checked, in order */
};

enum { APP_OK = 0, APP_REGISTER = 10, APP_SUBMIT, APP_WAIT, APP_ORDER, APP_DEADLINE_HIT };

static uint64_t load(const uint64_t *v)
{
    return __atomic_load_n(v, __ATOMIC_ACQUIRE);
}

static void store(uint64_t *v, uint64_t x)
{
    __atomic_store_n(v, x, __ATOMIC_RELEASE);
}

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

struct app {
    pid_t                 pid;
    struct stream_shared *sh;
};

static void app_start(struct app *a, const char *prefix, uint64_t total, uint64_t gate)
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
static void user_app_start(struct app *a, const char *prefix)
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

static bool app_wait_received(const struct app *a, uint64_t at_least)
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

/* Tells the app to send no more and go once what is in flight is back; returns its exit code. */
static int app_finish(struct app *a)
{
    __atomic_store_n(&a->sh->stop, 1, __ATOMIC_RELEASE);
    return phx_test_reap(a->pid, APP_DEADLINE + 10 * PHX_NS);
}

static void app_free(struct app *a)
{
    munmap(a->sh, sizeof(*a->sh));
}

/* ---- the daemon and phoenixctl -------------------------------------------------------------- */

/* NullEngine's batch comes from settings.null unless a config_string says otherwise. */
static const char *admin_conf(unsigned null_batch)
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

static bool daemon_up(struct phx_daemon *d, const char *tag)
{
    return phx_daemon_start(d, tag, admin_conf(32));
}

/* The path of a descriptor in tests/data/addon-cli; a few stay valid at once, as several go in
 * one command line. */
static char user_dir[256];     /* the tools and files an ordinary user runs, or "" (below) */

static const char *data(const char *name)
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
static void expect_ctl(int as_uid, const char *prefix, int code, const char *phrase,
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

static phx_test_run_result_t run_result;    /* large: one, reused by every call */

#define CTL(d, code, phrase, ...)                                                              \
    expect_ctl(-1, (d)->prefix, code, phrase, (const char *const[]){ __VA_ARGS__, NULL },       \
               &run_result)
#define CTL_AS(uid, d, code, phrase, ...)                                                      \
    expect_ctl(uid, (d)->prefix, code, phrase, (const char *const[]){ __VA_ARGS__, NULL },      \
               &run_result)
#define CTL_NO_PREFIX(code, phrase, ...)                                                       \
    expect_ctl(-1, NULL, code, phrase, (const char *const[]){ __VA_ARGS__, NULL }, &run_result)

/* policyctl ARGS as uid AS (-1: as we are), as expect_ctl() runs phoenixctl. */
static void expect_pctl(int as, const struct phx_daemon *d, int code, const char *phrase,
                        const char *const *args)
{
    ctl_path = POLICYCTL_PATH;
    expect_ctl(as, d->prefix, code, phrase, args, &run_result);
    ctl_path = PHOENIXCTL_PATH;
}

#define PCTL(d, code, phrase, ...)                                                             \
    expect_pctl(-1, d, code, phrase, (const char *const[]){ __VA_ARGS__, NULL })
#define PCTL_AS(uid, d, code, phrase, ...)                                                     \
    expect_pctl(uid, d, code, phrase, (const char *const[]){ __VA_ARGS__, NULL })

/* phoenixctl ARGS --json, parsed (NULL if it failed or printed no JSON). */
static json_object *ctl_json(const struct phx_daemon *d, const char *const *args)
{
    if (ctl_run(-1, d->prefix, args, &run_result) != 0) {
        fprintf(stderr, "\n  phoenixctl %s: exit %d: %s\n", args[0], run_result.code,
                run_result.err);
        return NULL;
    }
    return json_tokener_parse(run_result.out);
}

#define CTL_JSON(d, ...) ctl_json(d, (const char *const[]){ __VA_ARGS__, "--json", NULL })

static json_object *member(json_object *o, const char *key)
{
    json_object *v = NULL;

    json_object_object_get_ex(o, key, &v);
    return v;
}

/* ---- what the service says ------------------------------------------------------------------ */

/* PID's subscription in `list --json` LIST (SID 0), or NULL. */
static json_object *subscription_of(json_object *list, pid_t pid)
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
static long long engine_field(const struct phx_daemon *d, pid_t pid, const char *type,
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

static long long engine_id(const struct phx_daemon *d, pid_t pid, const char *type)
{
    return engine_field(d, pid, type, "id");
}

/* PID's addons as "A,B" ("" for none; "?" when PID is not listed). */
static const char *addons_of(const struct phx_daemon *d, pid_t pid)
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

struct null_stats {
    long long tx, rx, upgrades, batch;
    char      version[16];
};

static bool null_stats(const struct phx_daemon *d, long long id, struct null_stats *st)
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
static unsigned plugin_builds(const struct phx_daemon *d, const char *name, char *current,
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

/* ---- (1) a million descriptors through attach, detach, attach and upgrade ------------------- */

#define ATTACH(d, a) CTL(d, 0, "attached NullEngine", "attach", "--pid", pid_text(a), "--sid", \
                         "0", "--descriptor", data("attach-null.conf"))
#define DETACH(d, a) CTL(d, 0, "detached NullEngine", "detach", "--pid", pid_text(a), "--sid", \
                         "0", "--descriptor", data("detach-null.conf"))

static const char *pid_text(const struct app *a)
{
    static char text[16];

    snprintf(text, sizeof(text), "%d", (int)a->pid);
    return text;
}

/* Waits for the stream to reach AT, then opens the gate BUDGET further: the operation that
 * follows runs under full traffic, and the stream cannot end before it did. */
static void midstream(struct app *a, uint64_t at, uint64_t budget)
{
    CU_ASSERT_FATAL(app_wait_received(a, at));
    store(&a->sh->gate, at + budget);
}

static void test_stream_through_splice_and_upgrade(void)
{
    struct phx_daemon d;
    struct app a;
    struct null_stats before, after;
    char current[16];

    CU_ASSERT_FATAL(daemon_up(&d, "admin-stream"));
    unsigned long long t0 = phx_test_now_ns();
    app_start(&a, d.prefix, STREAM_TOTAL, 100000);
    midstream(&a, 50000, 150000);
    ATTACH(&d, &a);
    midstream(&a, 200000, 150000);
    DETACH(&d, &a);
    midstream(&a, 350000, 150000);
    uint64_t done_before = load(&a.sh->received);   /* NullEngine sees none of these */
    ATTACH(&d, &a);
    uint64_t sent_after = load(&a.sh->sent);        /* it sees every one from here on */
    long long id = engine_id(&d, a.pid, "NullEngine");
    CU_ASSERT_FATAL(id > 0);
    midstream(&a, 500000, 150000);
    CU_ASSERT(null_stats(&d, id, &before));
    CU_ASSERT_STRING_EQUAL(before.version, "1.0.0");
    CU_ASSERT_EQUAL(before.batch, 64);      /* null.cfg, its config_string */
    CTL(&d, 0, "upgraded null 1.0.0 -> 2.0.0 (1 engine)", "upgrade", "--plugin",
        PHX_PLUGIN_NULL_V2);
    midstream(&a, 650000, STREAM_TOTAL);
    CU_ASSERT_FATAL(app_wait_received(&a, STREAM_TOTAL));
    CU_ASSERT_EQUAL(load(&a.sh->sent), STREAM_TOTAL);
    printf("\n    %llu descriptors round trip in %.2f s through attach, detach, attach, upgrade",
           STREAM_TOTAL, (double)(phx_test_now_ns() - t0) / PHX_NS);
    /* The runtime's counters: the front engine handled every descriptor, and took time doing so
     * (the runtime times each progress() call that did work). */
    long long front_work = engine_field(&d, a.pid, "LoopFrontEngine", "work");
    long long front_ns = engine_field(&d, a.pid, "LoopFrontEngine", "busy_ns");
    CU_ASSERT(front_work >= (long long)STREAM_TOTAL);
    CU_ASSERT(front_ns > 0);
    CU_ASSERT(engine_field(&d, a.pid, "NullEngine", "work") > 0);
    printf("\n    LoopFrontEngine: %lld items in %.3f s busy (%.0f ns each)", front_work,
           (double)front_ns / PHX_NS, front_work > 0 ? (double)front_ns / front_work : 0.0);

    /* The counts went on from the 1.0.0 state: they hold all traffic since the second attach.
     * What was already on its way back when NullEngine came in passes it on rx only, so rx may
     * exceed tx by that much, never the other way. */
    CU_ASSERT(null_stats(&d, id, &after));
    CU_ASSERT_STRING_EQUAL(after.version, "2.0.0");
    CU_ASSERT_EQUAL(after.upgrades, 1);
    CU_ASSERT_EQUAL(after.batch, 64);       /* the new build read the same config_string */
    CU_ASSERT(after.tx >= before.tx && after.rx >= before.rx);
    CU_ASSERT(after.rx >= after.tx);
    CU_ASSERT(after.tx >= (long long)(STREAM_TOTAL - sent_after));
    CU_ASSERT(after.rx <= (long long)(STREAM_TOTAL - done_before));
    printf("\n    NullEngine %lld: tx %lld rx %lld before the upgrade, tx %lld rx %lld after "
           "(%s)\n", id, before.tx, before.rx, after.tx, after.rx, after.version);
    CU_ASSERT_EQUAL(plugin_builds(&d, "null", current, sizeof(current)), 1);
    CU_ASSERT_STRING_EQUAL(current, "2.0.0");
    CU_ASSERT(phx_daemon_log_has(&d, "admin uid 0 pid "));
    CU_ASSERT_EQUAL(app_finish(&a), APP_OK);
    CU_ASSERT_EQUAL(load(&a.sh->received), STREAM_TOTAL);
    CU_ASSERT_EQUAL(phx_daemon_stop(&d, SIGTERM), 0);
    phx_daemon_cleanup(&d);
    app_free(&a);
}

/* ---- (2) list, plugins and topology of the running service ---------------------------------- */

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

    CU_ASSERT_FATAL(daemon_up(&d, "admin-list"));
    app_start(&a, d.prefix, UINT64_MAX, 0);
    CU_ASSERT_FATAL(app_wait_received(&a, 10));
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
    json_object *topo = CTL_JSON(&d, "topology");
    CU_ASSERT_EQUAL(json_object_array_length(member(topo, "runtime_cpus")), 1);
    json_object_put(topo);

    CU_ASSERT_EQUAL(app_finish(&a), APP_OK);
    CU_ASSERT_EQUAL(phx_daemon_stop(&d, SIGTERM), 0);
    phx_daemon_cleanup(&d);
    app_free(&a);
}

/* NullEngine attached without a config_string takes settings.null; SIGHUP with another value
 * reconfigures it in place, and a value out of range changes nothing. */
static void test_sighup_reconfigures(void)
{
    struct phx_daemon d;
    struct app a;
    struct null_stats st;
    char descriptor[512];

    CU_ASSERT_FATAL(daemon_up(&d, "admin-sighup"));
    app_start(&a, d.prefix, UINT64_MAX, 0);
    CU_ASSERT_FATAL(app_wait_received(&a, 10));
    snprintf(descriptor, sizeof(descriptor), "%s", phx_test_write_file(d.dir, "attach.conf",
             "addon_engine = \"NullEngine\"; op = \"attach\";\n"
             "tx_channels_replacements = ( (\"LoopFrontEngine\", \"NullEngine\", 0, 0),\n"
             "                             (\"NullEngine\", \"LoopBackEngine\", 0, 0) );\n"
             "rx_channels_replacements = ( (\"LoopBackEngine\", \"NullEngine\", 0, 0),\n"
             "                             (\"NullEngine\", \"LoopFrontEngine\", 0, 0) );\n"
             "group = [ \"LoopFrontEngine\", \"LoopBackEngine\" ];\n"));
    CTL(&d, 0, "attached NullEngine", "attach", "--pid", pid_text(&a), "--sid", "0",
        "--descriptor", descriptor);
    long long id = engine_id(&d, a.pid, "NullEngine");
    CU_ASSERT_FATAL(id > 0);
    CU_ASSERT(null_stats(&d, id, &st));
    CU_ASSERT_EQUAL(st.batch, 32);

    CU_ASSERT_PTR_NOT_NULL(phx_test_write_file(d.dir, "phoenix.conf", admin_conf(5000)));
    kill(d.pid, SIGHUP);
    unsigned long long deadline = phx_test_now_ns() + 5 * PHX_NS;
    while (!phx_daemon_log_has(&d, "settings.null.batch") && phx_test_now_ns() < deadline)
        phx_test_sleep_ms(10);
    CU_ASSERT(phx_daemon_log_has(&d, "settings.null.batch: must be between 1 and 4096"));
    CU_ASSERT(null_stats(&d, id, &st));
    CU_ASSERT_EQUAL(st.batch, 32);

    CU_ASSERT_PTR_NOT_NULL(phx_test_write_file(d.dir, "phoenix.conf", admin_conf(16)));
    kill(d.pid, SIGHUP);
    deadline = phx_test_now_ns() + 5 * PHX_NS;
    while (null_stats(&d, id, &st) && st.batch != 16 && phx_test_now_ns() < deadline)
        phx_test_sleep_ms(10);
    CU_ASSERT_EQUAL(st.batch, 16);
    CU_ASSERT(app_wait_received(&a, load(&a.sh->received) + 1000));     /* traffic goes on */

    CU_ASSERT_EQUAL(app_finish(&a), APP_OK);
    CU_ASSERT_EQUAL(phx_daemon_stop(&d, SIGTERM), 0);
    phx_daemon_cleanup(&d);
    app_free(&a);
}

/* ---- (3) bad input ------------------------------------------------------------------------- */

/* Tries descriptor FILE with COMMAND on A's subscription: exit CODE with PHRASE, and the
 * subscription is left as it was (no addon). */
static void expect_refused(const struct phx_daemon *d, const struct app *a, const char *command,
                           const char *file, int code, const char *phrase)
{
    CTL(d, code, phrase, command, "--pid", pid_text(a), "--sid", "0", "--descriptor", data(file));
    printf("\n    %-24s -> %d: %.*s", file, run_result.code, (int)strcspn(run_result.err, "\n"),
           run_result.err);
    CU_ASSERT_STRING_EQUAL(addons_of(d, a->pid), "");
}

static void bad_descriptors(const struct phx_daemon *d, const struct app *a)
{
    expect_refused(d, a, "attach", "ratelimit-attach.conf", 1,
                   "phoenixctl: unknown engine type 'RateLimitEngine'");
    expect_refused(d, a, "attach", "bad-duplicate-name.conf", 1, "duplicate engine name");
    expect_refused(d, a, "attach", "bad-port-range.conf", 1, "port 1 out of range");
    expect_refused(d, a, "attach", "bad-port-syntax.conf", 1, "bad-port-syntax.conf:5: ");
    expect_refused(d, a, "attach", "bad-dangling.conf", 1, "dangling channel");
    expect_refused(d, a, "attach", "bad-wrong-group.conf", 1, "wrong group");
    expect_refused(d, a, "detach", "detach-null.conf", 1, "not in the subscription");
    expect_refused(d, a, "attach", "bad-syntax.conf", 1, "bad-syntax.conf:5: syntax error");
    expect_refused(d, a, "attach", "no-such-file.conf", 1, "cannot read");
    expect_refused(d, a, "detach", "attach-null.conf", 2, "use 'phoenixctl attach'");
}

static void bad_targets(const struct phx_daemon *d, const struct app *a)
{
    char back[24];

    CTL(d, 1, "phoenixctl: no subscription pid 1 sid 0", "attach", "--pid", "1", "--sid", "0",
        "--descriptor", data("attach-null.conf"));
    CTL(d, 1, "sid 7", "attach", "--pid", pid_text(a), "--sid", "7", "--descriptor",
        data("attach-null.conf"));
    CTL(d, 1, "phoenixctl: no engine 99999", "engine", "99999", "stats");
    snprintf(back, sizeof(back), "%lld", engine_id(d, a->pid, "LoopBackEngine"));
    CTL(d, 1, "takes no admin requests", "engine", back, "stats");
}

/* Refused upgrades (missing file, another major ABI either way, another build signature, a state
 * it cannot read) leave NullEngine 1.0.0 running ID, traffic flowing and stats answering. */
static void bad_upgrades(const struct phx_daemon *d, const struct app *a, long long id)
{
    struct null_stats st;
    char current[16];

    CTL(d, 1, "/nonexistent/libphoenix_null.so", "upgrade", "--plugin",
        "/nonexistent/libphoenix_null.so");
    CTL(d, 1, "built for major ABI 7, this service speaks 2", "upgrade", "--plugin",
        PHX_PLUGIN_BAD_ABI);
    CTL(d, 1, "built for major ABI 1, this service speaks 2", "upgrade", "--plugin",
        PHX_PLUGIN_BAD_OLDABI);
    CTL(d, 1, "enum size is 1 in the plugin and 4 here", "upgrade", "--plugin",
        PHX_PLUGIN_BAD_SIGNATURE);
    CTL(d, 1, "cannot upgrade null 1.0.0 -> 3.0.0", "upgrade", "--plugin",
        PHX_PLUGIN_NULL_V3_INCOMPATIBLE);
    printf("\n    upgrade to 3.0.0 -> %d: %.*s\n", run_result.code,
           (int)strcspn(run_result.err, "\n"), run_result.err);
    CU_ASSERT(app_wait_received(a, load(&a->sh->received) + 200));
    CU_ASSERT(null_stats(d, id, &st));
    CU_ASSERT_STRING_EQUAL(st.version, "1.0.0");
    CU_ASSERT(st.tx > 0);
    CU_ASSERT_EQUAL(plugin_builds(d, "null", current, sizeof(current)), 1);
    CU_ASSERT_STRING_EQUAL(current, "1.0.0");
}

static void unprivileged(const struct phx_daemon *d, const struct app *a)
{
    if (getuid() != 0) {
        phx_test_skip("the non-admin uid case needs root to become uid %d", NOBODY);
        return;
    }
    CTL_AS(NOBODY, d, 1, "phoenixctl: admin requests need root", "topology");
    CTL_AS(NOBODY, d, 1, "belongs to uid 0: only its owner or an administrator", "detach",
           "--pid", pid_text(a), "--sid", "0", "--descriptor", data("detach-null.conf"));
    CU_ASSERT_STRING_EQUAL(addons_of(d, a->pid), "NullEngine");
}

static void test_bad_input(void)
{
    struct phx_daemon d;
    struct app a;

    CU_ASSERT_FATAL(daemon_up(&d, "admin-bad"));
    app_start(&a, d.prefix, UINT64_MAX, 0);
    CU_ASSERT_FATAL(app_wait_received(&a, 10));
    bad_descriptors(&d, &a);
    bad_targets(&d, &a);
    ATTACH(&d, &a);
    long long id = engine_id(&d, a.pid, "NullEngine");
    char id_text[24];
    snprintf(id_text, sizeof(id_text), "%lld", id);
    CTL(&d, 1, "does not understand 'frobnicate'", "engine", id_text, "frobnicate");
    bad_upgrades(&d, &a, id);
    unprivileged(&d, &a);
    CTL(&d, 0, "\"tx\"", "engine", id_text, "stats", "--json");
    CU_ASSERT_EQUAL(app_finish(&a), APP_OK);
    CU_ASSERT(phx_daemon_log_has(&d, "refused"));
    CU_ASSERT_EQUAL(phx_daemon_stop(&d, SIGTERM), 0);
    phx_daemon_cleanup(&d);
    app_free(&a);
}

/* ---- (4) usage, help, and no service ------------------------------------------------------- */

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

/* ---- (6) permissions ------------------------------------------------------------------------ */

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

/* ---- (8) local limits ------------------------------------------------------------------------ */

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

/* ---- (9) plugin trust ----------------------------------------------------------------------- */

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

/* ---- (7) standing rules --------------------------------------------------------------------- */

static pid_t idle_app_start(const char *prefix);
static json_object *wait_listed(const struct phx_daemon *d, pid_t pid, json_object **list);

static long long null_batch_of(const struct phx_daemon *d, const struct app *a)
{
    struct null_stats st;

    return null_stats(d, engine_id(d, a->pid, "NullEngine"), &st) ? st.batch : -1;
}

static json_object *rules_json(const struct phx_daemon *d)
{
    ctl_path = POLICYCTL_PATH;
    json_object *o = ctl_json(d, (const char *const[]){ "rules", "--json", NULL });
    ctl_path = PHOENIXCTL_PATH;
    return o;
}

/* Rule INDEX of `policyctl rules --json`: how many apps it applied to (-1: no such rule). */
static int rule_applied(const struct phx_daemon *d, size_t index)
{
    json_object *l = rules_json(d), *rules = member(l, "rules");
    int n = index < json_object_array_length(rules) ?
            (int)json_object_array_length(member(json_object_array_get_idx(rules, index),
                                                 "applied")) : -1;
    json_object_put(l);
    return n;
}

static void rules_by_uid(const struct phx_daemon *d, const struct app *a, struct app *b)
{
    PCTL(d, 0, "rule 1: NullEngine for uid 0, applied to 1 app now", "attach", "null", "--uid",
        "0", "--set", "batch=8");
    CU_ASSERT_STRING_EQUAL(addons_of(d, a->pid), "NullEngine");
    app_start(b, d->prefix, UINT64_MAX, 0);         /* registers later: gets it at once */
    CU_ASSERT_FATAL(app_wait_received(b, 10));
    CU_ASSERT_STRING_EQUAL(addons_of(d, b->pid), "NullEngine");
    CU_ASSERT_EQUAL(null_batch_of(d, b), 8);
    CU_ASSERT_EQUAL(rule_applied(d, 0), 2);
    PCTL(d, 0, "| uid 0    |", "rules");
    PCTL(d, 0, "removed 1 rule, detached 2 engines", "detach", "--rule", "1");
    CU_ASSERT_STRING_EQUAL(addons_of(d, a->pid), "");
    CU_ASSERT_STRING_EQUAL(addons_of(d, b->pid), "");
    PCTL(d, 1, "no rule 1", "detach", "--rule", "1");
    PCTL(d, 0, "no rules", "rules");
}

static void rules_by_job(const struct phx_daemon *d, const struct app *a)
{
    PCTL(d, 0, "rule 2: NullEngine for job 4711, applied to 0 apps now", "attach", "null",
        "--job", "4711");
    pid_t idle = idle_app_start(d->prefix);
    json_object *list = NULL;
    CU_ASSERT_PTR_NOT_NULL(wait_listed(d, idle, &list));
    json_object_put(list);
    CU_ASSERT_STRING_EQUAL(addons_of(d, idle), "NullEngine");
    CU_ASSERT_STRING_EQUAL(addons_of(d, a->pid), "");
    PCTL_AS(USER, d, 1, "only an administrator may remove the rules of a job", "detach", "--job",
           "4711");
    PCTL(d, 0, "removed 1 rule, detached 1 engine", "detach", "--job", "4711");
    CU_ASSERT_STRING_EQUAL(addons_of(d, idle), "");
    kill(idle, SIGTERM);
    CU_ASSERT_EQUAL(phx_test_reap(idle, 10 * PHX_NS), 128 + SIGTERM);
}

static void rules_refused(const struct phx_daemon *d)
{
    PCTL(d, 2, "--job takes a number", "attach", "null", "--job", "abc");
    PCTL(d, 2, "give one of", "attach", "null", "--all", "--uid", "0");
    PCTL(d, 2, "TYPE is needed", "attach", "--all");
    PCTL_AS(USER, d, 1, "only an administrator may create rules", "attach", "null", "--all");
    PCTL_AS(USER, d, 1, "only an administrator may create rules", "attach", "null", "--uid", "0");
    PCTL_AS(USER, d, 1, "only an administrator may create rules", "attach", "null", "--job", "1");
    PCTL_AS(USER, d, 0, "rule 3: NullEngine for uid 60001", "attach", "null", "--uid", "60001");
    PCTL_AS(USER, d, 1, "control.max_user_rules", "attach", "null", "--uid", "60001");
    PCTL(d, 0, "rule 4", "attach", "null", "--job", "1");
    PCTL_AS(USER, d, 1, "created by an administrator: only an administrator", "detach", "--rule",
           "4");
    PCTL(d, 0, "rule 5", "attach", "null", "--job", "2");
    PCTL(d, 0, "rule 6", "attach", "null", "--job", "3");
    PCTL(d, 1, "the service holds 4 standing rules already (control.max_rules)", "attach",
        "null", "--job", "4");
    PCTL_AS(USER, d, 0, "removed 1 rule", "detach", "--rule", "3");
    CU_ASSERT(phx_daemon_log_has(d, "rule 1 (NullEngine) removed"));
}

static void test_rules(void)
{
    struct phx_daemon d;
    struct app a, b;

    if (getuid() != 0) {
        phx_test_skip("the rules case needs root to act as uid %d too", USER);
        return;
    }
    CU_ASSERT_FATAL(daemon_up(&d, "admin-rules"));
    app_start(&a, d.prefix, UINT64_MAX, 0);
    CU_ASSERT_FATAL(app_wait_received(&a, 10));
    rules_by_uid(&d, &a, &b);
    rules_by_job(&d, &a);
    rules_refused(&d);
    CU_ASSERT(app_wait_received(&b, load(&b.sh->received) + 10));
    CU_ASSERT_EQUAL(app_finish(&b), APP_OK);
    CU_ASSERT_EQUAL(app_finish(&a), APP_OK);
    CU_ASSERT_EQUAL(phx_daemon_stop(&d, SIGTERM), 0);
    phx_daemon_cleanup(&d);
    app_free(&a);
    app_free(&b);
}

/* ---- (7b) standing rules across a restart --------------------------------------------------- */

/* Rule INDEX of `policyctl rules --json` as "id selector engine settings created_uid admin",
 * or "" when there is no such rule. */
static const char *rule_line(const struct phx_daemon *d, size_t index)
{
    static char text[512];
    json_object *l = rules_json(d), *rules = member(l, "rules");

    text[0] = '\0';
    if (rules && index < json_object_array_length(rules)) {
        json_object *r = json_object_array_get_idx(rules, index);
        snprintf(text, sizeof(text), "%d %s %s %s %d %s",
                 json_object_get_int(member(r, "id")),
                 json_object_get_string(member(r, "selector")),
                 json_object_get_string(member(r, "engine")),
                 json_object_get_string(member(r, "settings")),
                 json_object_get_int(member(r, "created_uid")),
                 json_object_get_boolean(member(r, "by_admin")) ? "admin" : "user");
    }
    json_object_put(l);
    return text;
}

/* The rules file of D: its path. */
static const char *rules_file_of(const struct phx_daemon *d)
{
    static char path[512];

    snprintf(path, sizeof(path), "%s/rules.conf", d->prefix);
    return path;
}

/* phoenixd refuses to start on D's rules file holding TEXT (mode MODE): exit 1, and its output
 * names the file (at LINE, when not 0) and says WANT. */
static void start_refused(struct phx_daemon *d, const char *text, mode_t mode, unsigned line,
                          const char *want)
{
    static phx_test_run_result_t r;
    char where[600];
    FILE *f = fopen(rules_file_of(d), "w");

    CU_ASSERT_FATAL(f != NULL);
    fputs(text, f);
    CU_ASSERT_FATAL(fclose(f) == 0);
    CU_ASSERT_FATAL(chmod(rules_file_of(d), mode) == 0);
    CU_ASSERT_NOT_EQUAL(phx_daemon_run(d, (const char *const[]){ "--foreground", NULL }, &r), 0);
    if (line)
        snprintf(where, sizeof(where), "%s:%u: ", rules_file_of(d), line);
    else
        snprintf(where, sizeof(where), "%s: ", rules_file_of(d));
    printf("(%.*s) ", (int)strcspn(strstr(r.out, where) ? strstr(r.out, where) : r.out, "\n"),
           strstr(r.out, where) ? strstr(r.out, where) : r.out);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out, where));
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out, want));
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "fix the file, or move it away to start with none"));
    CU_ASSERT(!phx_daemon_accepts(d->prefix));
}

/* The rules a broken file holds would be taken by a start: each fault refuses it. */
static void rules_file_broken(struct phx_daemon *d)
{
    static const char good_rule[] =
        "next_id = 4;\nrules = (\n  {\n    id = 1;\n    selector = \"uid\";\n    uid = 0;\n"
        "    engine = \"NullEngine\";\n    created_uid = 0;\n    by_admin = true;\n  }\n);\n";
    char text[1024];

    snprintf(text, sizeof(text), "%srule_count = 1;\n", good_rule);
    start_refused(d, text, 0644, 0, "must be the service's (uid 0) and readable by it only");
    start_refused(d, good_rule, 0600, 0, "does not end with its rule_count: cut short");
    start_refused(d, "next_id = 4;\nrules = (\n  {\n    id = 1;\n    selector = \"uid\";\n", 0600,
                  6, "syntax error");
    snprintf(text, sizeof(text), "%srule_count = 2;\n", good_rule);
    start_refused(d, text, 0600, 12, "rule_count: says 2 rules, the file holds 1");
    snprintf(text, sizeof(text), "%s", good_rule);
    memcpy(strstr(text, "NullEngine"), "NullEngin_", 10);
    strcat(text, "rule_count = 1;\n");
    start_refused(d, text, 0600, 3, "rules[0]: unknown engine type 'NullEngin_'");
    snprintf(text, sizeof(text), "%s", good_rule);
    memcpy(strstr(text, "uid = 0;"), "uix = 0;", 8);
    strcat(text, "rule_count = 1;\n");
    start_refused(d, text, 0600, 6, "unknown key 'rules[0].uix' (did you mean 'rules[0].uid'?)");
    start_refused(d, "@include \"/etc/passwd\"\nrule_count = 0;\n", 0600, 1,
                  "@include is not taken");
}

static void test_rules_restart(void)
{
    struct phx_daemon d;
    struct app a;
    struct stat st;

    if (getuid() != 0) {
        phx_test_skip("the rules-restart case needs root to act as uid %d too", USER);
        return;
    }
    CU_ASSERT_FATAL(daemon_up(&d, "admin-rules-restart"));
    CU_ASSERT(phx_daemon_log_has(&d, "no standing rules file"));
    PCTL(&d, 0, "rule 1: NullEngine for uid 0, applied to 0 apps now", "attach", "null", "--uid",
         "0", "--set", "batch=8");
    PCTL(&d, 0, "rule 2: NullEngine for job 4711", "attach", "null", "--job", "4711");
    PCTL_AS(USER, &d, 0, "rule 3: NullEngine for uid 60001", "attach", "null", "--uid", "60001");
    PCTL(&d, 0, "removed 1 rule", "detach", "--rule", "2");
    CU_ASSERT_FATAL(stat(rules_file_of(&d), &st) == 0);
    CU_ASSERT_EQUAL(st.st_mode & 07777, 0600);
    CU_ASSERT_EQUAL(st.st_uid, geteuid());

    /* a restart keeps rules 1 and 3 with their numbers, owners and settings */
    CU_ASSERT_EQUAL(phx_daemon_stop(&d, SIGTERM), 0);
    CU_ASSERT_FATAL(phx_daemon_restart(&d));
    CU_ASSERT(phx_daemon_log_has(&d, "2 standing rules read from"));
    CU_ASSERT_STRING_EQUAL(rule_line(&d, 0), "1 uid 0 NullEngine batch = 8; 0 admin");
    CU_ASSERT_STRING_EQUAL(rule_line(&d, 1), "3 uid 60001 NullEngine  60001 user");
    CU_ASSERT_STRING_EQUAL(rule_line(&d, 2), "");
    app_start(&a, d.prefix, UINT64_MAX, 0);          /* registers after the restart */
    CU_ASSERT_FATAL(app_wait_received(&a, 10));
    CU_ASSERT_STRING_EQUAL(addons_of(&d, a.pid), "NullEngine");
    CU_ASSERT_EQUAL(null_batch_of(&d, &a), 8);
    PCTL_AS(USER, &d, 1, "created by an administrator: only an administrator", "detach",
            "--rule", "1");
    PCTL(&d, 0, "rule 4: NullEngine for job 5", "attach", "null", "--job", "5");  /* not 2 */
    PCTL(&d, 0, "removed 1 rule, detached 1 engine", "detach", "--rule", "1");
    CU_ASSERT_STRING_EQUAL(addons_of(&d, a.pid), "");
    CU_ASSERT(app_wait_received(&a, load(&a.sh->received) + 10));
    CU_ASSERT_EQUAL(app_finish(&a), APP_OK);
    app_free(&a);

    /* removed for good: another restart has rules 3 and 4 only */
    CU_ASSERT_EQUAL(phx_daemon_stop(&d, SIGTERM), 0);
    CU_ASSERT_FATAL(phx_daemon_restart(&d));
    CU_ASSERT_STRING_EQUAL(rule_line(&d, 0), "3 uid 60001 NullEngine  60001 user");
    CU_ASSERT_STRING_EQUAL(rule_line(&d, 1), "4 job 5 NullEngine  0 admin");
    CU_ASSERT_STRING_EQUAL(rule_line(&d, 2), "");
    CU_ASSERT_EQUAL(phx_daemon_stop(&d, SIGTERM), 0);

    rules_file_broken(&d);
    CU_ASSERT_FATAL(unlink(rules_file_of(&d)) == 0);    /* no file: no rules */
    CU_ASSERT_FATAL(phx_daemon_restart(&d));
    PCTL(&d, 0, "no rules", "rules");
    CU_ASSERT_EQUAL(phx_daemon_stop(&d, SIGTERM), 0);
    phx_daemon_cleanup(&d);
}

/* ---- (5) job identity ----------------------------------------------------------------------- */

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

static pid_t idle_app_start(const char *prefix)
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

/* Waits (bounded) for PID to show in `list --json`; returns its subscription's object, owned by
 * *LIST (put it when done), or NULL. */
static json_object *wait_listed(const struct phx_daemon *d, pid_t pid, json_object **list)
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

static void test_job_identity(void)
{
    struct phx_daemon d;
    struct app a;
    json_object *list = NULL, *s;
    char row[512];

    CU_ASSERT_FATAL(daemon_up(&d, "admin-job"));
    app_start(&a, d.prefix, UINT64_MAX, 0);
    CU_ASSERT_FATAL(app_wait_received(&a, 10));
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

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--idle-app") == 0)
        return idle_app(argv[2]);
    static const phx_test_case_t cases[] = {
        { "stream through attach, detach, attach and upgrade",
          test_stream_through_splice_and_upgrade },
        { "list, plugins and topology of the service", test_list_plugins_topology },
        { "an app's Slurm job from its environment is unverified", test_job_identity },
        { "an ordinary user changes their own apps only", test_permissions },
        { "standing rules by uid and job, their bounds and permissions", test_rules },
        { "standing rules outlive a restart; a broken rules file refuses the start",
          test_rules_restart },
        { "sighup reconfigures an attached NullEngine", test_sighup_reconfigures },
        { "bad input is refused and the service goes on", test_bad_input },
        { "usage errors exit 2, every command has --help", test_usage_and_help },
        { "no service, or one that never answers", test_no_service },
        { "per-uid limits on connections and apps, idle connections", test_local_limits },
        { "untrusted plugin files are refused before their code runs", test_plugin_trust },
        { NULL, NULL },
    };

    signal(SIGPIPE, SIG_IGN);
    return phx_test_main("admin", cases, argc, argv);
}
