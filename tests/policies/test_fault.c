/* test_fault.c - FaultEngine end to end: this process calls the echo server through two real
 * services (tests/mrpc/mrpc_fixture.h: namespaces joined by a veth pair when root, else loopback;
 * UCX pinned to tcp on that device), with the policy attached to our subscription by policyctl.
 *
 *   abort rate      10,000 calls at abort_per_million = 200000 (20 %): the calls that fail are
 *                   within 3 sigma of 2,000 (sigma = 40), every one with UNAVAILABLE and a
 *                   message, the others succeed; the stats count the same and show the
 *                   policy's sentence (the caller's message is the transport's: a rejection
 *                   carries a status up, not text - phoenix/policy.h)
 *   abort status    abort_status = "PERMISSION_DENIED" at 100 %: every call fails with it
 *   method          method = "mrpc_test.Echo/Fail" leaves Echo.Echo alone (nothing matched);
 *                   "mrpc_test.Echo/Echo" aborts it
 *   delay rate      5,000 calls at delay_per_million = 200000, delay_ms = 1: the delayed ones
 *                   within 3 sigma of 1,000, and the run took at least that many milliseconds
 *                   (a lower bound only: an upper one would measure the machine's load)
 *   delay seen      delay_ms = 50 at 100 %: each of 10 calls in turn takes at least 50 ms
 *   seed            the same seed gives the same calls aborted, call by call
 *   server side     attached to the echo server's subscription with --side server: 50 calls
 *                   aborted at 100 % with PERMISSION_DENIED reach this caller with the status
 *                   and the policy's sentence (rx rejections on the server); then delays of
 *                   50 ms make each call take at least that
 *
 * The two rates are drawn with a fixed seed (the suite cannot fail by chance);
 * PHX_FAULT_SEED=0 draws from the clock instead, PHX_FAULT_SEED=N with seed N.
 *   bad settings    a probability over a million, an unknown status, a malformed method, an
 *                   unknown key: exit 1, one line naming the key, nothing attached
 *   live set        0 % then `policyctl set abort_per_million=1000000`: every call fails; a bad
 *                   value is refused in one line and changes nothing
 *   live upgrade    the plugin replaced by a copy halfway through a seeded run: the same calls
 *                   fail as in a run without the upgrade (the generator's state carried over),
 *                   counters and settings carry on, the state counts one upgrade */
#include "mrpc_fixture.h"
#include "mrpc_test.mrpc.h"
#include "phx_test.h"
#include "policy_fixture.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define WINDOW    64        /* calls kept in flight */
#define MAX_CALLS POLICY_FLOW_CALLS

static struct mrpc_setup up;

static bool bring_up(void)
{
    return mrpc_setup_start(&up, "ft", MRPC_TEST_PEER);
}

static void need_nodes(void)
{
    CU_ASSERT_FATAL(mrpc_bring_up_once(bring_up));
}

/* ---- traffic -------------------------------------------------------------------------------- */

/* Calls numbered FIRST .. FIRST + N - 1 with at most WIDTH in flight (60 s at most); R's calls
 * must fail with WANT if they fail. */
static void issue(struct policy_flow *r, unsigned first, unsigned n, unsigned width, int want)
{
    r->ctx = up.ctx;                    /* the nodes may have come up since new_run() */
    r->conn = up.conn;
    policy_flow_run(r, first, n, width, false, want);
}

/* A run of calls: what each one ended with, by its number (two at a time may be compared). */
static struct policy_flow *new_run(void)
{
    static struct policy_flow runs[2];
    static unsigned next;
    struct policy_flow *r = &runs[next++ % 2];

    policy_flow_init(r, up.ctx, up.conn, 0);
    return r;
}

/* ---- cases ---------------------------------------------------------------------------------- */

/* "seed=N" for the statistical cases: PHX_FAULT_SEED (0: the clock's, a new draw each run, which
 * falls outside 3 sigma about once in 370 checks), else a fixed seed, so that the suite cannot
 * fail by chance. */
static const char *stat_seed(void)
{
    static char set[32];
    const char *v = getenv("PHX_FAULT_SEED");

    snprintf(set, sizeof(set), "seed=%lu", v ? (strtoul(v, NULL, 10) & 0xfffffffful) : 2026ul);
    return set;
}

/* True when COUNT of N trials is within 3 sigma of probability P; prints the figure. */
static bool within_3_sigma(const char *what, unsigned count, unsigned n, double p)
{
    double mean = n * p, sigma = sqrt(n * p * (1 - p));

    printf("(%s: %u of %u = %.2f %%, expected %.0f +- %.0f) ", what, count, n, 100.0 * count / n,
           mean, 3 * sigma);
    return fabs(count - mean) <= 3 * sigma;
}

static void test_abort_rate(void)
{
    struct policy_flow *r = new_run();

    need_nodes();
    CU_ASSERT_FATAL(policy_attach(&up.client_node, "fault", getpid(), "abort_per_million=200000",
                                  "abort_status=UNAVAILABLE", stat_seed(), NULL) == 0);
    issue(r, 0, MAX_CALLS, WINDOW, PHX_UNAVAILABLE);
    CU_ASSERT_EQUAL(r->done, MAX_CALLS);
    CU_ASSERT(within_3_sigma("aborted", r->failed, MAX_CALLS, 0.2));
    CU_ASSERT_EQUAL(r->wrong, 0);
    CU_ASSERT_EQUAL(r->sentences, r->failed);
    json_object *stats = policy_stats(&up.client_node, "FaultEngine", getpid());
    CU_ASSERT_EQUAL(policy_json_path_int(stats, "aborted"), (long)r->failed);
    CU_ASSERT_EQUAL(policy_json_path_int(stats, "matched"), MAX_CALLS);
    CU_ASSERT_EQUAL(policy_json_path_int(stats, "tx.rejected"), (long)r->failed);
    json_object *why = NULL;
    CU_ASSERT(json_object_object_get_ex(stats, "last_reject", &why) &&
              strstr(json_object_get_string(why), "fault injected: UNAVAILABLE"));
    json_object_put(stats);
    CU_ASSERT(policy_detach(&up.client_node, "fault", getpid()) == 0);
}

static void test_abort_status(void)
{
    struct policy_flow *r = new_run();

    need_nodes();
    CU_ASSERT_FATAL(policy_attach(&up.client_node, "fault", getpid(),
                                  "abort_per_million=1000000",
                                  "abort_status=PERMISSION_DENIED", NULL) == 0);
    issue(r, 0, 200, WINDOW, PHX_PERMISSION_DENIED);
    CU_ASSERT_EQUAL(r->failed, 200);
    CU_ASSERT_EQUAL(r->wrong, 0);
    CU_ASSERT(policy_detach(&up.client_node, "fault", getpid()) == 0);
}

static void test_method(void)
{
    struct policy_flow *r = new_run();

    need_nodes();
    CU_ASSERT_FATAL(policy_attach(&up.client_node, "fault", getpid(), "abort_per_million=1000000",
                                  "method=mrpc_test.Echo/Fail", NULL) == 0);
    issue(r, 0, 200, WINDOW, PHX_UNAVAILABLE);
    CU_ASSERT_EQUAL(r->ok, 200);
    json_object *stats = policy_stats(&up.client_node, "FaultEngine", getpid());
    CU_ASSERT_EQUAL(policy_json_path_int(stats, "matched"), 0);
    json_object_put(stats);
    CU_ASSERT_EQUAL(policy_set(&up.client_node, "FaultEngine", getpid(),
                               "method=mrpc_test.Echo/Echo", NULL), 0);
    r = new_run();
    issue(r, 0, 200, WINDOW, PHX_UNAVAILABLE);
    printf("(Echo/Fail: 0 of 200 aborted; Echo/Echo: %u of 200) ", r->failed);
    CU_ASSERT_EQUAL(r->failed, 200);
    CU_ASSERT(policy_detach(&up.client_node, "fault", getpid()) == 0);
}

static void test_delay_rate(void)
{
    struct policy_flow *r = new_run();
    const unsigned n = 5000;

    need_nodes();
    CU_ASSERT_FATAL(policy_attach(&up.client_node, "fault", getpid(), "delay_per_million=200000",
                                  "delay_ms=1", stat_seed(), NULL) == 0);
    unsigned long long t0 = phx_test_now_ns();
    issue(r, 0, n, WINDOW, PHX_OK);
    double elapsed_ms = (double)(phx_test_now_ns() - t0) / 1e6;
    CU_ASSERT_EQUAL(r->ok, n);
    json_object *stats = policy_stats(&up.client_node, "FaultEngine", getpid());
    long delayed = policy_json_path_int(stats, "delayed");
    CU_ASSERT(delayed >= 0 && within_3_sigma("delayed", (unsigned)delayed, n, 0.2));
    CU_ASSERT(policy_json_path_int(stats, "tx.held") == delayed);
    printf("(%u calls in %.0f ms, %ld delays of 1 ms) ", n, elapsed_ms, delayed);
    CU_ASSERT(elapsed_ms >= (double)delayed);           /* holds are in order: they add up */
    json_object_put(stats);
    CU_ASSERT(policy_detach(&up.client_node, "fault", getpid()) == 0);
}

/* N calls one at a time into R; the shortest, in milliseconds. */
static double shortest_of(struct policy_flow *r, unsigned n)
{
    double shortest = 1e9;

    for (unsigned i = 0; i < n; i++) {
        unsigned long long t0 = phx_test_now_ns();
        issue(r, i, 1, 1, PHX_OK);
        double ms = (double)(phx_test_now_ns() - t0) / 1e6;
        shortest = ms < shortest ? ms : shortest;
    }
    return shortest;
}

static void test_delay_seen(void)
{
    struct policy_flow *r = new_run();
    double shortest;

    need_nodes();
    CU_ASSERT_FATAL(policy_attach(&up.client_node, "fault", getpid(),
                                  "delay_per_million=1000000", "delay_ms=50", NULL) == 0);
    shortest = shortest_of(r, 10);
    printf("(shortest of 10 calls delayed 50 ms: %.1f ms) ", shortest);
    CU_ASSERT_EQUAL(r->ok, 10);
    CU_ASSERT(shortest >= 50.0);
    CU_ASSERT(policy_detach(&up.client_node, "fault", getpid()) == 0);
}

/* On the echo server's subscription (--side server): incoming requests aborted at 100 % never
 * reach the app, and this caller, on the other service, reads the status and the policy's
 * sentence; delayed ones reach it late. */
static void test_server_side(void)
{
    static phx_test_run_result_t res;
    struct policy_flow *r = new_run();
    char pid[16];

    need_nodes();
    snprintf(pid, sizeof(pid), "%d", (int)up.peer.pid);
    CU_ASSERT_FATAL(policy_ctl(&up.server_node, (const char *[]){
                        "attach", "fault", "--pid", pid, "--side", "server", "--set",
                        "abort_per_million=1000000", "--set", "abort_status=PERMISSION_DENIED",
                        NULL }, &res) == 0);
    issue(r, 0, 50, WINDOW, PHX_PERMISSION_DENIED);
    printf("(server side: %u of 50 aborted; the caller reads '%s') ", r->failed, r->message);
    CU_ASSERT_EQUAL(r->failed, 50);
    CU_ASSERT_EQUAL(r->wrong, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(r->message, "fault injected: PERMISSION_DENIED"));
    json_object *stats = policy_stats(&up.server_node, "FaultEngine", up.peer.pid);
    CU_ASSERT_EQUAL(policy_json_path_int(stats, "aborted"), 50);
    CU_ASSERT_EQUAL(policy_json_path_int(stats, "rx.rejected"), 50);
    CU_ASSERT_EQUAL(policy_json_path_int(stats, "tx.rejected"), 0);
    json_object_put(stats);
    CU_ASSERT_EQUAL(policy_set(&up.server_node, "FaultEngine", up.peer.pid, "abort_per_million=0",
                               "delay_per_million=1000000", "delay_ms=50", NULL), 0);
    r = new_run();
    double shortest = shortest_of(r, 5);
    printf("(server side: shortest of 5 calls delayed 50 ms: %.1f ms) ", shortest);
    CU_ASSERT_EQUAL(r->ok, 5);
    CU_ASSERT(shortest >= 50.0);
    CU_ASSERT(policy_detach(&up.server_node, "fault", up.peer.pid) == 0);
}

/* A seeded run of N calls at 30 %, with an upgrade of the plugin to UPGRADE_TO (NULL: none)
 * after the first half, into R. */
static void seeded_run(struct policy_flow *r, unsigned n, const char *upgrade_to)
{
    static phx_test_run_result_t res;

    CU_ASSERT_FATAL(policy_attach(&up.client_node, "fault", getpid(), "abort_per_million=300000",
                                  "seed=12345", NULL) == 0);
    issue(r, 0, n / 2, WINDOW, PHX_UNAVAILABLE);
    if (upgrade_to)
        CU_ASSERT_EQUAL(mrpc_ctl(&up.client_node, (const char *[]){ "upgrade", "--plugin",
                                                                    upgrade_to, NULL }, &res), 0);
    issue(r, n / 2, n - n / 2, WINDOW, PHX_UNAVAILABLE);
}

static void test_seed(void)
{
    struct policy_flow *a = new_run(), *b = new_run();

    need_nodes();
    seeded_run(a, 1000, NULL);
    CU_ASSERT(policy_detach(&up.client_node, "fault", getpid()) == 0);
    seeded_run(b, 1000, NULL);
    CU_ASSERT(policy_detach(&up.client_node, "fault", getpid()) == 0);
    printf("(seed 12345: %u and %u of 1000 aborted) ", a->failed, b->failed);
    CU_ASSERT(a->failed > 200 && a->failed < 400);
    CU_ASSERT(memcmp(a->status, b->status, 1000 * sizeof(int)) == 0);
}

/* SETTING refused by `policyctl attach fault`, the one line naming KEY. */
static void expect_refused(const char *setting, const char *key)
{
    policy_attach_refused(&up.client_node, "fault", getpid(), key, setting, NULL);
}

static void test_bad_settings(void)
{
    struct mrpc_sub sub;

    need_nodes();
    expect_refused("abort_per_million=1000001", "abort_per_million");
    expect_refused("abort_status=BROKEN", "abort_status");
    expect_refused("abort_status=OK", "abort_status");
    expect_refused("method=Echo", "method");
    expect_refused("method=a/b/c", "method");
    expect_refused("abort_percent=20", "abort_percent");
    CU_ASSERT(mrpc_ctl_find_sub(&up.client_node, getpid(), &sub) && sub.n_addons == 0);
}

static void test_set(void)
{
    static phx_test_run_result_t res;
    struct policy_flow *r = new_run();

    need_nodes();
    CU_ASSERT_FATAL(policy_attach(&up.client_node, "fault", getpid(), NULL) == 0);
    issue(r, 0, 500, WINDOW, PHX_UNAVAILABLE);
    CU_ASSERT_EQUAL(r->ok, 500);
    CU_ASSERT_EQUAL(policy_set(&up.client_node, "FaultEngine", getpid(),
                               "abort_per_million=1000000", NULL), 0);
    r = new_run();
    issue(r, 0, 500, WINDOW, PHX_UNAVAILABLE);
    CU_ASSERT_EQUAL(r->failed, 500);

    char id[24];
    snprintf(id, sizeof(id), "%ld", policy_engine_id(&up.client_node, "FaultEngine", getpid()));
    CU_ASSERT_EQUAL(policy_ctl(&up.client_node, (const char *[]){ "set", id,
                                                                  "delay_per_million=-1", NULL },
                               &res), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(res.err, "delay_per_million"));
    CU_ASSERT_EQUAL(strchr(res.err, '\n') - res.err + 1, (long)strlen(res.err));
    json_object *stats = policy_stats(&up.client_node, "FaultEngine", getpid());
    CU_ASSERT_EQUAL(policy_json_path_int(stats, "settings.abort_per_million"), 1000000);
    CU_ASSERT_EQUAL(policy_json_path_int(stats, "settings.delay_per_million"), 0);
    CU_ASSERT_EQUAL(policy_json_path_int(stats, "matched"), 1000);
    json_object_put(stats);
    CU_ASSERT(policy_detach(&up.client_node, "fault", getpid()) == 0);
}

/* A copy of the built plugin in N's directory: a new build, as far as the service can tell. */
static const char *plugin_copy(const struct mrpc_node *n)
{
    static char path[512], cmd[1200];

    snprintf(path, sizeof(path), "%s/fault-next.so", n->d.dir);
    snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", PHX_PLUGIN_FAULT, path);
    return system(cmd) == 0 ? path : NULL;
}

static void test_upgrade(void)
{
    struct policy_flow *plain = new_run(), *upgraded = new_run();
    const char *copy;

    need_nodes();
    CU_ASSERT_FATAL((copy = plugin_copy(&up.client_node)) != NULL);
    seeded_run(plain, 1000, NULL);
    CU_ASSERT(policy_detach(&up.client_node, "fault", getpid()) == 0);
    seeded_run(upgraded, 1000, copy);
    json_object *after = policy_stats(&up.client_node, "FaultEngine", getpid());
    printf("(across the upgrade: %u aborted, %u without it) ", upgraded->failed, plain->failed);
    CU_ASSERT(memcmp(plain->status, upgraded->status, 1000 * sizeof(int)) == 0);
    CU_ASSERT_EQUAL(policy_json_path_int(after, "upgrades"), 1);
    CU_ASSERT_EQUAL(policy_json_path_int(after, "matched"), 1000);
    CU_ASSERT_EQUAL(policy_json_path_int(after, "aborted"), (long)upgraded->failed);
    CU_ASSERT_EQUAL(policy_json_path_int(after, "settings.abort_per_million"), 300000);
    json_object_put(after);
    CU_ASSERT(policy_detach(&up.client_node, "fault", getpid()) == 0);
}

static const phx_test_case_t cases[] = {
    { "aborts at 20 % within 3 sigma, with UNAVAILABLE and a sentence", test_abort_rate },
    { "server side: aborts reach the remote caller with the sentence; delays", test_server_side },
    { "abort_status names the status the caller gets", test_abort_status },
    { "method restricts the faults to one method", test_method },
    { "delays at 20 % within 3 sigma, and they take time", test_delay_rate },
    { "a delayed call takes at least delay_ms", test_delay_seen },
    { "the same seed aborts the same calls", test_seed },
    { "bad settings: one line naming the key, nothing attached", test_bad_settings },
    { "policyctl set changes the faults live and refuses bad values", test_set },
    { "the generator, counters and settings survive a live upgrade", test_upgrade },
    { NULL, NULL },
};

int main(int argc, char **argv)
{
    int rc = phx_test_main("fault", cases, argc, argv);

    return mrpc_setup_stop(&up) ? rc : 1;
}
