/* test_admin_descriptors.c - descriptors through a running phoenixd while the built phoenixctl
 * changes their path: a stream under attach, detach and upgrade, an attached engine reconfigured
 * by SIGHUP, and every kind of bad addon descriptor, target and upgrade refused while the stream
 * goes on.
 *
 * Each case starts its own phoenixd and app (admin_harness.h). The cases:
 *
 *   stream      1,000,000 descriptors; mid-stream: attach NullEngine, detach it, attach it
 *               again, upgrade null to 2.0.0 under it. Every descriptor comes back in order,
 *               NullEngine's counts carry across the upgrade (engine stats), and `plugins`
 *               shows null 2.0.0 alone once 1.0.0 runs nothing
 *   sighup      NullEngine attached without config_string takes settings.null; SIGHUP with a
 *               new value reconfigures it in place, an out-of-range one changes nothing
 *   bad input   every kind of bad descriptor, unknown pid/sid/engine, bad upgrades (missing
 *               file, wrong ABI, an incompatible NullEngine 3.0.0 under traffic), a non-admin
 *               uid: each exits 1 or 2 with the reason, and the service goes on
 *
 * Every wait is bounded; every process started is stopped by PID and reaped. */
#include "admin_harness.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define STREAM_TOTAL  1000000ull

/* ---- a million descriptors through attach, detach, attach and upgrade ----------------------- */

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

/* ---- reconfiguring an attached engine ------------------------------------------------------- */

/* NullEngine attached without a config_string takes settings.null; SIGHUP with another value
 * reconfigures it in place, and a value out of range changes nothing. */
static void test_sighup_reconfigures(void)
{
    struct phx_daemon d;
    struct app a;
    struct null_stats st;
    char descriptor[512];

    daemon_and_app_up(&d, &a, "admin-sighup");
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

/* ---- bad input ------------------------------------------------------------------------------ */

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

    daemon_and_app_up(&d, &a, "admin-bad");
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

int main(int argc, char **argv)
{
    static const phx_test_case_t cases[] = {
        { "stream through attach, detach, attach and upgrade",
          test_stream_through_splice_and_upgrade },
        { "sighup reconfigures an attached NullEngine", test_sighup_reconfigures },
        { "bad input is refused and the service goes on", test_bad_input },
        { NULL, NULL },
    };

    return admin_main("admin_descriptors", cases, argc, argv);
}
