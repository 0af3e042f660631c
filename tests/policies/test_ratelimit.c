/* test_ratelimit.c - RateLimitEngine end to end: this process calls the echo server through two
 * real services (tests/mrpc/mrpc_fixture.h: namespaces joined by a veth pair when root, else
 * loopback; UCX pinned to tcp on that device), with the policy spliced into our subscription
 * between MrpcEngine and the transport, as an administrator would.
 *
 *   rate            at 1,000 and 5,000 requests/s (delay mode), the calls that complete per
 *                   second, measured over 2 s with 64 calls kept in flight, are within 5 % of
 *                   the setting; without the policy the same loop is faster than either.
 *                   PHX_RATELIMIT_SECONDS=10 measures longer (the benchmark figure
 *                   p6_ratelimit_error_pct is the larger of the two errors printed)
 *   stalls          at 1,000 requests/s with the client's service stopped for 80 ms every
 *                   250 ms (a loaded machine's scheduling, made certain with SIGSTOP): the rate
 *                   over 3 s is still within 5 % (tokens owed to held calls are not lost to the
 *                   bucket's cap when the runtime wakes up late; 9.8 % short before)
 *   high rate       in simulated time, the bucket and the hold/wake cycle at 1,000 and 50,000
 *                   requests/s with wake-ups rounded up to whole milliseconds and 1-80 ms late:
 *                   the calls let through over 10 s are the rate's to within one; capping the
 *                   late fill (the old limiter) loses over 1 % of them
 *   server side     attached to the echo server's subscription with --side server: its incoming
 *                   requests are held to 1,000/s (within 5 %), then in reject mode a burst of
 *                   300 at 200/s: this caller reads RESOURCE_EXHAUSTED and the sentence, the
 *                   server's stats count them as rx rejections
 *   bytes           bytes_per_sec = 3.2 MB/s with 32 KiB requests: about 100 calls/s, within 5 %
 *   reject          mode = "reject": a burst of 300 calls at 200/s with a bucket of 10 - the
 *                   excess fails with RESOURCE_EXHAUSTED at once, the rest succeed, none lost
 *   full queue      delay mode at 20/s with queue_max = 16: a burst of 100 - what the bucket and
 *                   the queue hold succeeds (late), the rest fails at once with
 *                   RESOURCE_EXHAUSTED and is counted as overflowed
 *   cancel held     bytes_per_sec = 1: the first call passes, leaving the byte bucket in debt
 *                   for about a minute, the second is held; the app cancels it: its callback
 *                   runs once, with CANCELLED; the limiter withdraws it (never forwarded,
 *                   counted cancelled, nothing held); the server's app never gets it, and
 *                   gets the next call once the limiter is detached
 *   bad settings    a misspelt key and a bad mode: exit 1, one line naming the key, nothing
 *                   attached
 *   live set        `policyctl set` from 1,000 to 3,000 requests/s: the rate follows, the
 *                   counters go on; a bad value is refused in one line and changes nothing
 *   live upgrade    the plugin replaced by a copy while calls are held: counters, settings and
 *                   the rate carry on, the state counts one upgrade
 *
 * Attach and detach go through policyctl (tools/policyctl), which builds the splice itself. */
#include "bucket.h"
#include "mrpc_fixture.h"
#include "mrpc_test.mrpc.h"
#include "phx_test.h"
#include "policy_fixture.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define WINDOW    64        /* calls kept in flight */
#define TOLERANCE 0.05

static struct mrpc_setup up;

static bool bring_up(void)
{
    return mrpc_setup_start(&up, "rl", MRPC_TEST_PEER);
}

static void need_nodes(void)
{
    CU_ASSERT_FATAL(mrpc_bring_up_once(bring_up));
}

/* ---- traffic -------------------------------------------------------------------------------- */

static size_t payload = 48;         /* bytes of data in each request */

/* F emptied for Echo calls of PAYLOAD bytes, whose failures should be RESOURCE_EXHAUSTED. */
static void flow_start(struct policy_flow *f)
{
    policy_flow_init(f, up.ctx, up.conn, payload);
    f->want = PHX_RESOURCE_EXHAUSTED;
}

/* Stops the client node's service for STALL_MS every EVERY_MS (0: never), as a loaded machine
 * deschedules it: its runtime wakes up late, its rate limiter with it. */
struct stalls {
    unsigned           stall_ms, every_ms;
    double             free_ms;         /* of each stall, what the limiter absorbs */
    bool               stopped;
    unsigned long long next, since;
    unsigned           count;
    double             stopped_ms, beyond_ms;   /* in all; beyond free_ms each */
};

/* Ends a stall begun at ST->since: how long it really was (this loop may come late). */
static void stall_end(struct stalls *st, unsigned long long now)
{
    double ms = (double)(now - st->since) / 1e6;

    CU_ASSERT(kill(up.client_node.d.pid, SIGCONT) == 0);
    st->stopped = false;
    st->stopped_ms += ms;
    st->beyond_ms += ms > st->free_ms ? ms - st->free_ms : 0;
}

static void stall_step(struct stalls *st, unsigned long long now)
{
    pid_t pid = up.client_node.d.pid;

    if (!st->stall_ms || pid <= 0 || now < st->next)
        return;
    if (st->stopped) {
        stall_end(st, now);
    } else {
        CU_ASSERT(kill(pid, SIGSTOP) == 0);
        st->stopped = true;
        st->since = now;
        st->count++;
    }
    st->next = now + (st->stopped ? st->stall_ms : st->every_ms) * 1000000ull;
}

/* Keeps WINDOW calls in flight for WARMUP_S, then SECONDS more (with ST's stalls, NULL: none);
 * the calls per second that succeeded in the second part. */
static double measure_stalled(double warmup_s, double seconds, struct stalls *st)
{
    static struct policy_flow f;
    unsigned long long start = phx_test_now_ns(), t0 = 0, end;
    unsigned ok0 = 0, seq = 0;

    flow_start(&f);
    end = start + (unsigned long long)((warmup_s + seconds) * PHX_NS);
    for (unsigned long long now = start; now < end; now = phx_test_now_ns()) {
        if (!t0 && now >= start + (unsigned long long)(warmup_s * PHX_NS)) {
            t0 = now;
            ok0 = f.ok;
        }
        if (st && t0)
            stall_step(st, now);
        while (f.inflight < WINDOW)
            CU_ASSERT_FATAL(policy_flow_submit(&f, seq++, false));
        CU_ASSERT_FATAL(mrpc_ctx_progress(up.ctx, 1) >= 0);
    }
    if (st && st->stopped)
        stall_end(st, phx_test_now_ns());
    double rate = (f.ok - ok0) / ((double)(phx_test_now_ns() - t0) / PHX_NS);
    policy_flow_drain(&f);
    CU_ASSERT_EQUAL(f.wrong, 0);
    return rate;
}

static double measure(double warmup_s, double seconds)
{
    return measure_stalled(warmup_s, seconds, NULL);
}

/* ---- cases ---------------------------------------------------------------------------------- */

static void expect_rate(unsigned setting, double rate)
{
    double err = fabs(rate - setting) / setting;

    printf("(%u req/s: achieved %.1f, error %.2f %%) ", setting, rate, 100 * err);
    CU_ASSERT(err < TOLERANCE);
}

/* How long each rate is measured: PHX_RATELIMIT_SECONDS (1 .. 60), else 2 s. */
static double rate_seconds(void)
{
    const char *v = getenv("PHX_RATELIMIT_SECONDS");
    double s = v ? atof(v) : 2.0;

    return s >= 1 && s <= 60 ? s : 2.0;
}

static void test_rate(void)
{
    need_nodes();
    double free_rate = measure(0.2, 1.0);
    printf("(no policy: %.0f req/s) ", free_rate);
    CU_ASSERT(free_rate > 5000 * (1 + TOLERANCE));
    for (unsigned setting = 1000; setting <= 5000; setting += 4000) {
        char set[64];
        snprintf(set, sizeof(set), "requests_per_sec=%u", setting);
        CU_ASSERT_FATAL(policy_attach(&up.client_node, "ratelimit", getpid(), set, NULL) == 0);
        expect_rate(setting, measure(0.3, rate_seconds()));
        CU_ASSERT(policy_detach(&up.client_node, "ratelimit", getpid()) == 0);
    }
    CU_ASSERT(measure(0.1, 0.5) > 5000 * (1 + TOLERANCE));      /* detached: free again */
}

/* The service stopped for 80 ms every 250 ms (SIGSTOP/SIGCONT), longer than the bucket's 50 ms
 * at 1,000 requests/s: the calls held through each stall are owed the tokens of the time they
 * waited, so the rate over the window still holds (capping them lost 30 of every 330 calls,
 * 9 %; measured before the fix: 9.7-9.8 %, 18 % with stalls of 120 ms; after: 0.1-2.3 %, the
 * rest being tokens of a stall beyond what the app had waiting that the bucket's cap takes
 * later). What no limiter can give back is the time beyond what the held calls (WINDOW) and
 * the bucket (50) absorb, 114 ms: on a loaded machine this loop may end a stall late, so that
 * time is measured and allowed for. */
static void test_stalls(void)
{
    const unsigned rate = 1000;
    const double seconds = 3.0;
    struct stalls st = { .stall_ms = 80, .every_ms = 250, .free_ms = (WINDOW + 50) * 1e3 / rate };

    need_nodes();
    CU_ASSERT_FATAL(policy_attach(&up.client_node, "ratelimit", getpid(), "requests_per_sec=1000",
                                  NULL) == 0);
    double achieved = measure_stalled(0.3, seconds, &st);
    double allowed = st.beyond_ms * rate / 1e3 / seconds;         /* calls/s no limiter has */
    printf("(%u stalls, %.0f ms in all, %.0f ms beyond %.0f ms each: %.1f calls/s allowed) ",
           st.count, st.stopped_ms, st.beyond_ms, st.free_ms, allowed);
    CU_ASSERT(st.count >= 5);
    printf("(%u req/s: achieved %.1f) ", rate, achieved);
    CU_ASSERT(achieved >= rate * (1 - TOLERANCE) - allowed);
    CU_ASSERT(achieved <= rate * (1 + TOLERANCE));
    CU_ASSERT(policy_detach(&up.client_node, "ratelimit", getpid()) == 0);
}

/* The hold/wake path at RATE in simulated time, with a backlog always waiting (the client is
 * never what limits): each wake-up decides the head as rl_decide() does (filled with the tokens
 * owed to a held head, then a token per call while one is whole), and a held head is decided
 * again when the runtime wakes, which is the wait rounded up to whole milliseconds (the
 * runtime's epoll timeout, phx_policy_arm()) plus LATE_MS[i % n] of lateness. OWED: fill a held
 * head's wait without the cap, as the limiter does; false: capped (the limiter before 4a6ec9b).
 * Returns the calls let through minus what the rate and the initial burst allow up to the last
 * wake-up, in calls (0 = exact; negative = tokens lost). */
static double simulate(double rate, const unsigned *late_ms, unsigned n, double seconds, bool owed)
{
    struct rl_bucket b = { 0 };
    double size = rate / 20 < 8 ? 8 : rate / 20;
    uint64_t start = 1000000, now = start, end = start + (uint64_t)(seconds * 1e9);
    unsigned long passed = 0;
    bool held = false;

    rl_bucket_set(&b, rate, size, now);
    for (unsigned i = 0; now < end && i < 100000000u; i++) {
        rl_bucket_fill(&b, now, held && owed);
        uint64_t wait;
        while ((wait = rl_bucket_wait_ns(&b, 1.0)) == 0) {
            b.tokens -= 1.0;
            passed++;
        }
        held = true;
        now += (wait + 999999) / 1000000 * 1000000 + late_ms[i % n] * 1000000ull;
    }
    return (double)passed - (size + rate * (double)(b.last_ns - start) / 1e9);
}

/* At 50,000 requests/s a call is due every 20 us, yet the runtime sleeps in whole milliseconds
 * and on a loaded machine wakes later still: the tokens of every such wait go to the held calls,
 * so over 10 s the limiter lets exactly the rate through (to within one call), whether the
 * wake-ups are 1-4 ms late or, now and then, 80 ms (past the bucket's 50 ms). Capping a late
 * wake-up's fill at the bucket loses what lies beyond it: shown on the stalled pattern, so that
 * this case tells the two apart. Simulated time: no wall clock, nothing to flake. */
static void test_high_rate_model(void)
{
    static const unsigned busy[] = { 1, 2, 1, 4, 3, 1, 2, 1 };
    static const unsigned stalls[] = { 1, 2, 80, 1, 3, 1, 2, 1, 1, 2 };

    for (double rate = 1000; rate <= 50000; rate *= 50) {
        double e_busy = simulate(rate, busy, 8, 10.0, true);
        double e_stall = simulate(rate, stalls, 10, 10.0, true);
        double e_capped = simulate(rate, stalls, 10, 10.0, false);
        printf("(%.0f/s: %+.2f, %+.2f calls; capped %+.0f) ", rate, e_busy, e_stall, e_capped);
        CU_ASSERT(fabs(e_busy) <= 1.0);
        CU_ASSERT(fabs(e_stall) <= 1.0);
        CU_ASSERT(e_capped < -0.01 * rate * 10.0);      /* over 1 % of the calls lost */
    }
}

/* On the echo server's subscription (--side server): its incoming requests are held to the rate
 * (delay), or refused (reject) so that this caller, on the other service, reads
 * RESOURCE_EXHAUSTED and the limiter's sentence; the server's app never sees them. */
static void test_server_side(void)
{
    static struct policy_flow f;
    static phx_test_run_result_t r;
    char pid[16];

    need_nodes();
    snprintf(pid, sizeof(pid), "%d", (int)up.peer.pid);
    CU_ASSERT_FATAL(policy_ctl(&up.server_node, (const char *[]){ "attach", "ratelimit", "--pid",
                                                                  pid, "--side", "server",
                                                                  "--set", "requests_per_sec=1000",
                                                                  NULL }, &r) == 0);
    expect_rate(1000, measure(0.3, 1.5));
    json_object *stats = policy_stats(&up.server_node, "RateLimitEngine", up.peer.pid);
    CU_ASSERT(policy_json_path_int(stats, "rx.held") > 0);
    CU_ASSERT_EQUAL(policy_json_path_int(stats, "tx.held"), 0);
    json_object_put(stats);
    CU_ASSERT_EQUAL(policy_set(&up.server_node, "RateLimitEngine", up.peer.pid, "mode=reject",
                               "requests_per_sec=200", "bucket_size=10", NULL), 0);
    /* The delay-mode run above left the bucket empty; at 200/s its 10 tokens are back in 50 ms.
     * Without the wait a burst that ends sooner than that passes fewer than 10. */
    usleep(100 * 1000);
    flow_start(&f);
    for (unsigned i = 0; i < 300; i++)
        CU_ASSERT_FATAL(policy_flow_submit(&f, i, false));
    policy_flow_drain(&f);
    printf("(server side: %u ok, %u refused; the caller reads '%s') ", f.ok, f.exhausted,
           f.message);
    CU_ASSERT_EQUAL(f.ok + f.exhausted, 300);
    CU_ASSERT(f.exhausted > 0 && f.ok >= 10);
    CU_ASSERT_EQUAL(f.wrong, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(f.message, "over the rate limit of 200 requests/s"));
    stats = policy_stats(&up.server_node, "RateLimitEngine", up.peer.pid);
    CU_ASSERT_EQUAL(policy_json_path_int(stats, "rx.rejected"), (long)f.exhausted);
    json_object *o;
    CU_ASSERT(json_object_object_get_ex(stats, "settings", &o) &&
              json_object_object_get_ex(o, "side", &o) &&
              strcmp(json_object_get_string(o), "server") == 0);
    json_object_put(stats);
    CU_ASSERT(policy_detach(&up.server_node, "ratelimit", up.peer.pid) == 0);
}

/* 32 KiB requests at 3,276,800 bytes/s: 100 requests/s (the message's own bytes besides the data
 * are well under 1 %). */
static void test_bytes(void)
{
    need_nodes();
    CU_ASSERT_FATAL(policy_attach(&up.client_node, "ratelimit", getpid(), "bytes_per_sec=3276800",
                                  NULL) == 0);
    payload = 32768;
    double rate = measure(0.5, 3.0);
    payload = 48;
    printf("(32 KiB at 3.2 MB/s: %.1f requests/s) ", rate);
    CU_ASSERT(rate > 100 * (1 - TOLERANCE) && rate < 100 * (1 + TOLERANCE));
    CU_ASSERT(policy_detach(&up.client_node, "ratelimit", getpid()) == 0);
}

static void test_reject(void)
{
    static struct policy_flow f;
    const unsigned n = 300;

    need_nodes();
    CU_ASSERT_FATAL(policy_attach(&up.client_node, "ratelimit", getpid(), "requests_per_sec=200",
                                  "bucket_size=10", "mode=reject", NULL) == 0);
    flow_start(&f);
    unsigned long long t0 = phx_test_now_ns();
    for (unsigned i = 0; i < n; i++)
        CU_ASSERT_FATAL(policy_flow_submit(&f, i, false));
    policy_flow_drain(&f);
    double elapsed = (double)(phx_test_now_ns() - t0) / PHX_NS;
    printf("(%u ok, %u refused in %.3f s) ", f.ok, f.exhausted, elapsed);
    CU_ASSERT_EQUAL(f.done, n);
    CU_ASSERT_EQUAL(f.ok + f.exhausted, n);
    CU_ASSERT(f.exhausted > 0);
    CU_ASSERT(f.ok >= 10);
    CU_ASSERT(f.ok <= 10 + 200 * elapsed + 2);
    json_object *stats = policy_stats(&up.client_node, "RateLimitEngine", getpid());
    CU_ASSERT_EQUAL(policy_json_path_int(stats, "tx.rejected"), (long)f.exhausted);
    json_object_put(stats);
    CU_ASSERT(policy_detach(&up.client_node, "ratelimit", getpid()) == 0);
}

static void test_queue_full(void)
{
    static struct policy_flow f;
    const unsigned n = 100;

    need_nodes();
    CU_ASSERT_FATAL(policy_attach(&up.client_node, "ratelimit", getpid(), "requests_per_sec=20",
                                  "bucket_size=8", "queue_max=16", NULL) == 0);
    flow_start(&f);
    for (unsigned i = 0; i < n; i++)
        CU_ASSERT_FATAL(policy_flow_submit(&f, i, false));
    policy_flow_drain(&f);
    printf("(%u ok, %u refused) ", f.ok, f.exhausted);
    CU_ASSERT_EQUAL(f.ok + f.exhausted, n);
    CU_ASSERT(f.ok >= 8 + 16 && f.ok <= 8 + 16 + 4);        /* bucket + queue (+ refills) */
    json_object *stats = policy_stats(&up.client_node, "RateLimitEngine", getpid());
    CU_ASSERT_EQUAL(policy_json_path_int(stats, "tx.overflowed"), (long)f.exhausted);
    CU_ASSERT(policy_json_path_int(stats, "tx.held") >= 16);
    json_object_put(stats);
    CU_ASSERT(policy_detach(&up.client_node, "ratelimit", getpid()) == 0);
}

static void test_cancel_held(void)
{
    static struct policy_flow f;

    need_nodes();
    const struct policy_held h = { .node = &up.client_node, .server = &up.server_node,
                                   .engine = "RateLimitEngine", .pid = getpid(),
                                   .server_pid = up.peer.pid, .sid = -1 };
    CU_ASSERT_FATAL(policy_attach(&up.client_node, "ratelimit", getpid(), "bytes_per_sec=1",
                                  NULL) == 0);
    flow_start(&f);
    CU_ASSERT_FATAL(policy_flow_submit(&f, 0, false));
    policy_flow_drain(&f);                  /* the first goes: the bucket is in debt */
    CU_ASSERT_EQUAL(f.ok, 1);
    CU_ASSERT_FATAL(policy_flow_submit(&f, 1, false));
    policy_cancel_held(&f, &h);
    long incoming = policy_app_stat(&up.server_node, up.peer.pid, "incoming_calls");
    CU_ASSERT(policy_detach(&up.client_node, "ratelimit", getpid()) == 0);
    CU_ASSERT_FATAL(policy_flow_submit(&f, 2, false));
    policy_flow_drain(&f);
    CU_ASSERT_EQUAL(f.ok, 2);
    CU_ASSERT_EQUAL(policy_app_stat(&up.server_node, up.peer.pid, "incoming_calls"),
                    incoming + 1);          /* the next call, and not the cancelled one */
}

/* SETTING refused by `policyctl attach ratelimit`, the one line naming KEY. */
static void expect_refused(const char *setting, const char *key)
{
    policy_attach_refused(&up.client_node, "ratelimit", getpid(), key, setting, NULL);
}

static void test_bad_settings(void)
{
    struct mrpc_sub sub;

    need_nodes();
    expect_refused("reqests_per_sec=5", "reqests_per_sec");
    expect_refused("mode=fast", "mode");
    expect_refused("bucket_size=-3", "bucket_size");
    CU_ASSERT(mrpc_ctl_find_sub(&up.client_node, getpid(), &sub) && sub.n_addons == 0);
}

static void test_set(void)
{
    static phx_test_run_result_t r;

    need_nodes();
    CU_ASSERT_FATAL(policy_attach(&up.client_node, "ratelimit", getpid(), "requests_per_sec=1000",
                                  NULL) == 0);
    expect_rate(1000, measure(0.3, 1.0));
    json_object *first = policy_stats(&up.client_node, "RateLimitEngine", getpid());
    long before = policy_json_path_int(first, "tx.forwarded");
    json_object_put(first);
    CU_ASSERT(before > 900);
    CU_ASSERT_EQUAL(policy_set(&up.client_node, "RateLimitEngine", getpid(),
                               "requests_per_sec=3000", NULL), 0);
    expect_rate(3000, measure(0.3, 1.0));
    json_object *stats = policy_stats(&up.client_node, "RateLimitEngine", getpid());
    CU_ASSERT(policy_json_path_int(stats, "tx.forwarded") > before + 2500);
    CU_ASSERT_EQUAL(policy_json_path_int(stats, "settings.requests_per_sec"), 3000);
    json_object_put(stats);

    char id[24];
    snprintf(id, sizeof(id), "%ld", policy_engine_id(&up.client_node, "RateLimitEngine",
                                                     getpid()));
    CU_ASSERT_EQUAL(policy_ctl(&up.client_node, (const char *[]){ "set", id, "mode=sometimes",
                                                                  NULL }, &r), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "mode"));
    CU_ASSERT_EQUAL(strchr(r.err, '\n') - r.err + 1, (long)strlen(r.err));
    stats = policy_stats(&up.client_node, "RateLimitEngine", getpid());
    CU_ASSERT_EQUAL(policy_json_path_int(stats, "settings.requests_per_sec"), 3000);
    json_object_put(stats);
    CU_ASSERT(policy_detach(&up.client_node, "ratelimit", getpid()) == 0);
}

/* A copy of the built plugin in N's directory: a new build, as far as the service can tell. */
static const char *plugin_copy(const struct mrpc_node *n)
{
    static char path[512], cmd[1200];

    snprintf(path, sizeof(path), "%s/ratelimit-next.so", n->d.dir);
    snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", PHX_PLUGIN_RATELIMIT, path);
    return system(cmd) == 0 ? path : NULL;
}

static void test_upgrade(void)
{
    static phx_test_run_result_t r;
    static struct policy_flow f;
    const char *copy;

    need_nodes();
    CU_ASSERT_FATAL((copy = plugin_copy(&up.client_node)) != NULL);
    CU_ASSERT_FATAL(policy_attach(&up.client_node, "ratelimit", getpid(), "requests_per_sec=2000",
                                  "bucket_size=20", NULL) == 0);
    CU_ASSERT(measure(0.1, 0.5) > 0);
    json_object *before = policy_stats(&up.client_node, "RateLimitEngine", getpid());
    long forwarded = policy_json_path_int(before, "tx.forwarded");
    CU_ASSERT(forwarded > 500);
    flow_start(&f);
    for (unsigned i = 0; i < 200; i++)                      /* held while the plugin changes */
        CU_ASSERT_FATAL(policy_flow_submit(&f, i, false));
    CU_ASSERT(mrpc_ctx_progress(up.ctx, 0) >= 0);
    CU_ASSERT_EQUAL(mrpc_ctl(&up.client_node, (const char *[]){ "upgrade", "--plugin", copy,
                                                                NULL }, &r), 0);
    policy_flow_drain(&f);
    CU_ASSERT_EQUAL(f.ok, 200);
    json_object *after = policy_stats(&up.client_node, "RateLimitEngine", getpid());
    CU_ASSERT(policy_json_path_int(after, "tx.forwarded") >= forwarded + 200);
    CU_ASSERT_EQUAL(policy_json_path_int(after, "upgrades"), 1);
    CU_ASSERT_EQUAL(policy_json_path_int(after, "settings.requests_per_sec"), 2000);
    expect_rate(2000, measure(0.3, 1.5));
    json_object_put(before);
    json_object_put(after);
    CU_ASSERT(policy_detach(&up.client_node, "ratelimit", getpid()) == 0);
}

static const phx_test_case_t cases[] = {
    { "achieved rate at 1,000 and 5,000 requests/s", test_rate },
    { "the rate holds when the service stalls for longer than the bucket", test_stalls },
    { "50,000 requests/s with millisecond wake-ups, late ones too: no token lost (model)",
      test_high_rate_model },
    { "server side: incoming requests held to the rate, or refused to the caller",
      test_server_side },
    { "bytes_per_sec limits request payload bytes", test_bytes },
    { "reject mode refuses the excess with RESOURCE_EXHAUSTED", test_reject },
    { "delay mode: a full queue refuses with RESOURCE_EXHAUSTED", test_queue_full },
    { "a held call cancelled by the app: one CANCELLED answer, never sent", test_cancel_held },
    { "bad settings: one line naming the key, nothing attached", test_bad_settings },
    { "policyctl set changes the rate live and refuses bad values", test_set },
    { "tokens, counters and settings survive a live upgrade", test_upgrade },
    { NULL, NULL },
};

int main(int argc, char **argv)
{
    int rc = phx_test_main("ratelimit", cases, argc, argv);

    return mrpc_setup_stop(&up) ? rc : 1;
}
