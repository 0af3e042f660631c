/* test_admission.c - AdmissionEngine end to end: this process calls the echo server through two
 * real services (tests/mrpc/mrpc_fixture.h: namespaces joined by a veth pair when root, else
 * loopback; UCX pinned to tcp on that device), with the policy attached by policyctl. The
 * server's Sleep method (the request back after `seq` ms) keeps calls outstanding.
 *
 *   cap             max_outstanding = 8 and 20 calls issued at once: exactly 12 fail with
 *                   RESOURCE_EXHAUSTED, all of them before any admitted call has come back;
 *                   the 8 succeed; then 8 more at once all succeed (the slots came back)
 *   replies free    500 calls kept 8 in flight under a cap of 8: none refused
 *   errors free     200 calls the server fails, 4 in flight under a cap of 4: all reach the
 *                   server and fail with its status, none refused
 *   per method      max_per_method = 3: 6 Sleep calls and 3 Echo calls at once - 3 Sleep
 *                   calls refused, every Echo call admitted
 *   cancel frees    a cap of 1: a call cancelled by the app frees its slot at once
 *   deadline        a cap of 1 and slot_timeout_ms = 1000: a call past its deadline (the engine
 *                   cannot see that) keeps its slot - the next call is refused - until the slot
 *                   times out, then a call is admitted; counted as expired
 *   connection lost a cap of 2 filled on a second connection whose server is then killed: both
 *                   calls fail, their slots are freed, a call on the first connection is
 *                   admitted
 *   server side     attached to the echo server's subscription with --side server and a cap of
 *                   2: of 6 Sleep calls at once 2 are served, 4 refused - this caller reads
 *                   RESOURCE_EXHAUSTED and the sentence; the server's replies free the slots
 *   bad settings    0, too large, a timeout under 100 ms, a misspelt key: exit 1, one line
 *                   naming the key, nothing attached
 *   live set        from 2 to 5 outstanding: the excess follows; a bad value changes nothing
 *   live upgrade    the plugin replaced by a copy while 4 calls hold all 4 slots: calls are
 *                   still refused after it (the slots came across), then admitted once the 4
 *                   reply; counters carry on and the state counts one upgrade */
#include "mrpc_fixture.h"
#include "mrpc_test.mrpc.h"
#include "phx_test.h"
#include "policy_fixture.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct mrpc_setup up;

static bool bring_up(void)
{
    return mrpc_setup_start(&up, "adm", MRPC_TEST_PEER);
}

static void need_nodes(void)
{
    CU_ASSERT_FATAL(mrpc_bring_up_once(bring_up));
}

/* ---- traffic -------------------------------------------------------------------------------- */

struct flow {
    unsigned inflight, done, ok, exhausted, other;
    unsigned exhausted_before_ok;       /* refusals that came before the first success */
    int      last_other;                /* the status of the latest other ending */
    char     message[200];              /* the first refusal's, as the caller read it */
};

static void flow_done(mrpc_ctx_t *c, void *token, const mrpc_status_t *st,
                      const ProtobufCMessage *reply)
{
    struct flow *f = token;

    f->inflight--;
    f->done++;
    if (st->code == PHX_OK) {
        f->ok++;
    } else if (st->code == PHX_RESOURCE_EXHAUSTED) {
        if (f->exhausted++ == 0)
            snprintf(f->message, sizeof(f->message), "%s", st->message);
        f->exhausted_before_ok += f->ok == 0;
    } else {
        f->other++;
        f->last_other = st->code;
    }
    if (reply)
        mrpc_release(c, reply);
}

enum how { ECHO, SLEEP, FAIL };

/* One call on CONN: Echo, Sleep for MS, or Fail; with TIMEOUT_MS (0: the default) and its id in
 * *ID when not NULL. */
static bool call_on(mrpc_conn_t *conn, struct flow *f, enum how how, unsigned ms, int timeout_ms,
                    mrpc_call_id_t *id)
{
    mrpc_call_opts_t opts = { .field_mask = (timeout_ms ? MRPC_CALL_OPT_FIELD_TIMEOUT : 0) |
                                            (id ? MRPC_CALL_OPT_FIELD_ID : 0),
                              .timeout_ms = timeout_ms, .id = id };
    mrpc_status_t st;

    if (how == FAIL) {
        MrpcTest__FailRequest *r = (MrpcTest__FailRequest *)
            mrpc_message_new(up.ctx, &mrpc_test__fail_request__descriptor);
        if (!r)
            return false;
        r->code = PHX_FAILED_PRECONDITION;
        st = mrpc_test__echo__fail_async(conn, r, flow_done, f, &opts);
    } else {
        MrpcTest__Blob *b = (MrpcTest__Blob *)mrpc_message_new(up.ctx,
                                                               &mrpc_test__blob__descriptor);
        if (!b)
            return false;
        b->seq = ms;
        st = how == SLEEP ? mrpc_test__echo__sleep_async(conn, b, flow_done, f, &opts)
                          : mrpc_test__echo__echo_async(conn, b, flow_done, f, &opts);
    }
    if (st.code != PHX_OK)
        return false;
    f->inflight++;
    return true;
}

static bool call(struct flow *f, enum how how, unsigned ms)
{
    return call_on(up.conn, f, how, ms, 0, NULL);
}

/* Progress until F has at most LEFT calls in flight or SECONDS pass. */
static void wait_left(struct flow *f, unsigned left, double seconds)
{
    unsigned long long deadline = phx_test_now_ns() + (unsigned long long)(seconds * PHX_NS);

    while (f->inflight > left && phx_test_now_ns() < deadline)
        CU_ASSERT_FATAL(mrpc_ctx_progress(up.ctx, 10) >= 0);
}

static void drain(struct flow *f)
{
    wait_left(f, 0, 30);
    CU_ASSERT_EQUAL(f->inflight, 0);
}

/* N calls of HOW kept WIDTH in flight. */
static void windowed(struct flow *f, enum how how, unsigned n, unsigned width)
{
    for (unsigned sent = 0; sent < n;) {
        while (f->inflight < width && sent < n) {
            CU_ASSERT_FATAL(call(f, how, 0));
            sent++;
        }
        wait_left(f, width - 1, 30);
    }
    drain(f);
}

static json_object *stats(void)
{
    return policy_stats(&up.client_node, "AdmissionEngine", getpid());
}

static long stat(const char *path)
{
    json_object *o = stats();
    long v = policy_json_path_int(o, path);

    json_object_put(o);
    return v;
}

static void attach(const char *a, const char *b)
{
    CU_ASSERT_FATAL(policy_attach(&up.client_node, "admission", getpid(), a, b, NULL) == 0);
}

static void detach(void)
{
    CU_ASSERT(policy_detach(&up.client_node, "admission", getpid()) == 0);
}

/* ---- cases ---------------------------------------------------------------------------------- */

/* On the echo server's subscription (--side server), a cap of 2 on the calls it serves: of 6
 * Sleep calls sent at once, 2 are served and 4 refused before reaching it, this caller reading
 * RESOURCE_EXHAUSTED and the sentence; the server's replies free its slots, so 2 more are
 * served after. */
static void test_server_side(void)
{
    static phx_test_run_result_t r;
    struct flow f = { 0 }, again = { 0 };
    char pid[16];

    need_nodes();
    snprintf(pid, sizeof(pid), "%d", (int)up.peer.pid);
    CU_ASSERT_FATAL(policy_ctl(&up.server_node, (const char *[]){
                        "attach", "admission", "--pid", pid, "--side", "server", "--set",
                        "max_outstanding=2", NULL }, &r) == 0);
    for (unsigned i = 0; i < 6; i++)
        CU_ASSERT_FATAL(call(&f, SLEEP, 300));
    drain(&f);
    printf("(server side: %u served, %u refused; the caller reads '%s') ", f.ok, f.exhausted,
           f.message);
    CU_ASSERT_EQUAL(f.ok, 2);
    CU_ASSERT_EQUAL(f.exhausted, 4);
    CU_ASSERT_EQUAL(f.other, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(f.message, "over the cap of 2 outstanding calls per app"));
    for (unsigned i = 0; i < 2; i++)
        CU_ASSERT_FATAL(call(&again, SLEEP, 50));
    drain(&again);
    CU_ASSERT_EQUAL(again.ok, 2);
    json_object *o = policy_stats(&up.server_node, "AdmissionEngine", up.peer.pid);
    CU_ASSERT_EQUAL(policy_json_path_int(o, "outstanding"), 0);
    CU_ASSERT_EQUAL(policy_json_path_int(o, "admitted"), 4);
    CU_ASSERT_EQUAL(policy_json_path_int(o, "freed.replies"), 4);
    CU_ASSERT_EQUAL(policy_json_path_int(o, "rx.rejected"), 4);
    json_object_put(o);
    CU_ASSERT(policy_detach(&up.server_node, "admission", up.peer.pid) == 0);
}

static void test_cap(void)
{
    struct flow f = { 0 }, again = { 0 };

    need_nodes();
    attach("max_outstanding=8", NULL);
    for (unsigned i = 0; i < 20; i++)
        CU_ASSERT_FATAL(call(&f, SLEEP, 100));
    drain(&f);
    printf("(cap 8, 20 at once: %u admitted and ok, %u refused, %u of them before the first "
           "reply) ", f.ok, f.exhausted, f.exhausted_before_ok);
    CU_ASSERT_EQUAL(f.ok, 8);
    CU_ASSERT_EQUAL(f.exhausted, 12);
    CU_ASSERT_EQUAL(f.exhausted_before_ok, 12);
    CU_ASSERT_EQUAL(f.other, 0);
    for (unsigned i = 0; i < 8; i++)
        CU_ASSERT_FATAL(call(&again, SLEEP, 20));
    drain(&again);
    CU_ASSERT_EQUAL(again.ok, 8);
    json_object *o = stats();
    CU_ASSERT_EQUAL(policy_json_path_int(o, "refused_app"), 12);
    CU_ASSERT_EQUAL(policy_json_path_int(o, "admitted"), 16);
    CU_ASSERT_EQUAL(policy_json_path_int(o, "freed.replies"), 16);
    CU_ASSERT_EQUAL(policy_json_path_int(o, "outstanding"), 0);
    CU_ASSERT_EQUAL(policy_json_path_int(o, "peak"), 8);
    CU_ASSERT_EQUAL(policy_json_path_int(o, "tx.rejected"), 12);
    json_object_put(o);
    detach();
}

static void test_replies_free(void)
{
    struct flow f = { 0 };

    need_nodes();
    attach("max_outstanding=8", NULL);
    windowed(&f, ECHO, 500, 8);
    printf("(500 calls 8 in flight under a cap of 8: %u ok, %u refused) ", f.ok, f.exhausted);
    CU_ASSERT_EQUAL(f.ok, 500);
    CU_ASSERT_EQUAL(f.exhausted, 0);
    CU_ASSERT_EQUAL(stat("peak"), 8);
    detach();
}

static void test_errors_free(void)
{
    struct flow f = { 0 };

    need_nodes();
    attach("max_outstanding=4", NULL);
    windowed(&f, FAIL, 200, 4);
    printf("(200 failing calls under a cap of 4: %u failed by the server, %u refused) ", f.other,
           f.exhausted);
    CU_ASSERT_EQUAL(f.other, 200);
    CU_ASSERT_EQUAL(f.last_other, PHX_FAILED_PRECONDITION);
    CU_ASSERT_EQUAL(f.exhausted, 0);
    CU_ASSERT_EQUAL(stat("freed.errors"), 200);
    CU_ASSERT_EQUAL(stat("outstanding"), 0);
    detach();
}

static void test_per_method(void)
{
    struct flow sleeps = { 0 }, echoes = { 0 };

    need_nodes();
    attach("max_outstanding=100", "max_per_method=3");
    for (unsigned i = 0; i < 6; i++)
        CU_ASSERT_FATAL(call(&sleeps, SLEEP, 100));
    for (unsigned i = 0; i < 3; i++)
        CU_ASSERT_FATAL(call(&echoes, ECHO, 0));
    drain(&sleeps);
    drain(&echoes);
    printf("(3 per method: Sleep %u ok %u refused, Echo %u ok) ", sleeps.ok, sleeps.exhausted,
           echoes.ok);
    CU_ASSERT_EQUAL(sleeps.ok, 3);
    CU_ASSERT_EQUAL(sleeps.exhausted, 3);
    CU_ASSERT_EQUAL(echoes.ok, 3);
    CU_ASSERT_EQUAL(stat("refused_method"), 3);
    detach();
}

static void test_cancel(void)
{
    struct flow slow = { 0 }, next = { 0 };
    mrpc_call_id_t id = 0;

    need_nodes();
    attach("max_outstanding=1", NULL);
    CU_ASSERT_FATAL(call_on(up.conn, &slow, SLEEP, 500, 0, &id));
    CU_ASSERT(mrpc_ctx_progress(up.ctx, 50) >= 0);
    CU_ASSERT_EQUAL(mrpc_cancel(up.ctx, id), PHX_OK);
    drain(&slow);
    CU_ASSERT_EQUAL(slow.last_other, PHX_CANCELLED);
    CU_ASSERT_FATAL(call(&next, ECHO, 0));
    drain(&next);
    printf("(cap 1: after a cancel the next call is %s) ", next.ok ? "admitted" : "refused");
    CU_ASSERT_EQUAL(next.ok, 1);
    CU_ASSERT_EQUAL(stat("freed.cancelled"), 1);
    detach();
}

static void test_deadline(void)
{
    struct flow slow = { 0 }, early = { 0 }, late = { 0 };

    need_nodes();
    attach("max_outstanding=1", "slot_timeout_ms=1000");
    unsigned long long t0 = phx_test_now_ns();
    CU_ASSERT_FATAL(call_on(up.conn, &slow, SLEEP, 2500, 100, NULL));
    wait_left(&slow, 0, 5);
    double ended_ms = (double)(phx_test_now_ns() - t0) / 1e6;
    CU_ASSERT_EQUAL(slow.last_other, PHX_DEADLINE_EXCEEDED);
    CU_ASSERT(ended_ms < 800);                  /* else the next check would prove nothing */
    CU_ASSERT_FATAL(call(&early, ECHO, 0));
    drain(&early);
    while (phx_test_now_ns() < t0 + 1200 * 1000000ull)
        CU_ASSERT_FATAL(mrpc_ctx_progress(up.ctx, 10) >= 0);
    CU_ASSERT_FATAL(call(&late, ECHO, 0));
    drain(&late);
    printf("(deadline at %.0f ms: a call then %s; after the slot's 1000 ms, %s) ", ended_ms,
           early.exhausted ? "refused" : "admitted", late.ok ? "admitted" : "refused");
    CU_ASSERT_EQUAL(early.exhausted, 1);
    CU_ASSERT_EQUAL(late.ok, 1);
    CU_ASSERT_EQUAL(stat("freed.expired"), 1);
    detach();
}

static void test_conn_lost(void)
{
    static struct mrpc_peer other;
    struct flow doomed = { 0 }, next = { 0 };
    mrpc_status_t st;

    need_nodes();
    CU_ASSERT_FATAL(mrpc_peer_start(&other, &up.server_node, MRPC_TEST_PEER, "ready"));
    mrpc_conn_t *conn = mrpc_connect(up.ctx, other.addr, &st);
    CU_ASSERT_FATAL(conn != NULL);
    attach("max_outstanding=2", NULL);
    for (unsigned i = 0; i < 2; i++)
        CU_ASSERT_FATAL(call_on(conn, &doomed, SLEEP, 20000, 0, NULL));
    CU_ASSERT(mrpc_ctx_progress(up.ctx, 100) >= 0);
    CU_ASSERT_EQUAL(stat("outstanding"), 2);
    kill(other.pid, SIGKILL);                   /* dies mid-call: no reply, no goodbye */
    mrpc_peer_stop(&other);
    wait_left(&doomed, 0, 20);
    CU_ASSERT_EQUAL(doomed.inflight, 0);
    CU_ASSERT_FATAL(call(&next, ECHO, 0));
    drain(&next);
    json_object *o = stats();
    long freed = policy_json_path_int(o, "freed.conn_ended") +
                 policy_json_path_int(o, "freed.send_failed") +
                 policy_json_path_int(o, "freed.errors");
    printf("(server gone: the 2 calls ended with %s, slots freed %ld, next call %s) ",
           phx_status_name(doomed.last_other), freed, next.ok ? "admitted" : "refused");
    CU_ASSERT_EQUAL(doomed.other, 2);
    CU_ASSERT_EQUAL(freed, 2);
    CU_ASSERT_EQUAL(next.ok, 1);
    json_object_put(o);
    detach();
    mrpc_conn_close(conn);
}

/* SETTING refused by `policyctl attach admission`, the one line naming KEY. */
static void expect_refused(const char *setting, const char *key)
{
    policy_attach_refused(&up.client_node, "admission", getpid(), key, setting, NULL);
}

static void test_bad_settings(void)
{
    struct mrpc_sub sub;

    need_nodes();
    expect_refused("max_outstanding=0", "max_outstanding");
    expect_refused("max_outstanding=70000", "max_outstanding");
    expect_refused("slot_timeout_ms=5", "slot_timeout_ms");
    expect_refused("max_outstandng=5", "max_outstandng");
    CU_ASSERT(mrpc_ctl_find_sub(&up.client_node, getpid(), &sub) && sub.n_addons == 0);
}

static void test_set(void)
{
    static phx_test_run_result_t r;
    struct flow a = { 0 }, b = { 0 };

    need_nodes();
    attach("max_outstanding=2", NULL);
    for (unsigned i = 0; i < 5; i++)
        CU_ASSERT_FATAL(call(&a, SLEEP, 30));
    drain(&a);
    CU_ASSERT_EQUAL(a.exhausted, 3);
    CU_ASSERT_EQUAL(policy_set(&up.client_node, "AdmissionEngine", getpid(),
                               "max_outstanding=5", NULL), 0);
    for (unsigned i = 0; i < 5; i++)
        CU_ASSERT_FATAL(call(&b, SLEEP, 30));
    drain(&b);
    printf("(5 at once: cap 2 refused %u, cap 5 refused %u) ", a.exhausted, b.exhausted);
    CU_ASSERT_EQUAL(b.exhausted, 0);
    char id[24];
    snprintf(id, sizeof(id), "%ld", policy_engine_id(&up.client_node, "AdmissionEngine",
                                                     getpid()));
    CU_ASSERT_EQUAL(policy_ctl(&up.client_node, (const char *[]){ "set", id, "max_outstanding=0",
                                                                  NULL }, &r), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "max_outstanding"));
    CU_ASSERT_EQUAL(stat("settings.max_outstanding"), 5);
    CU_ASSERT_EQUAL(stat("refused_app"), 3);
    detach();
}

/* A copy of the built plugin in N's directory: a new build, as far as the service can tell. */
static const char *plugin_copy(const struct mrpc_node *n)
{
    static char path[512], cmd[1200];

    snprintf(path, sizeof(path), "%s/admission-next.so", n->d.dir);
    snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", PHX_PLUGIN_ADMISSION, path);
    return system(cmd) == 0 ? path : NULL;
}

static void test_upgrade(void)
{
    static phx_test_run_result_t r;
    struct flow held = { 0 }, refused = { 0 }, after = { 0 };
    const char *copy;

    need_nodes();
    CU_ASSERT_FATAL((copy = plugin_copy(&up.client_node)) != NULL);
    attach("max_outstanding=4", NULL);
    for (unsigned i = 0; i < 4; i++)
        CU_ASSERT_FATAL(call(&held, SLEEP, 1000));     /* the first replies after 1 s */
    CU_ASSERT(mrpc_ctx_progress(up.ctx, 20) >= 0);
    CU_ASSERT_EQUAL(mrpc_ctl(&up.client_node, (const char *[]){ "upgrade", "--plugin", copy,
                                                                NULL }, &r), 0);
    for (unsigned i = 0; i < 2; i++)
        CU_ASSERT_FATAL(call(&refused, ECHO, 0));
    drain(&refused);
    drain(&held);
    for (unsigned i = 0; i < 4; i++)
        CU_ASSERT_FATAL(call(&after, ECHO, 0));
    drain(&after);
    json_object *o = stats();
    printf("(after the upgrade: %u of 2 refused while 4 held the slots; then %u of 4 ok; "
           "upgrades %ld) ", refused.exhausted, after.ok, policy_json_path_int(o, "upgrades"));
    CU_ASSERT_EQUAL(held.ok, 4);
    CU_ASSERT_EQUAL(refused.exhausted, 2);
    CU_ASSERT_EQUAL(after.ok, 4);
    CU_ASSERT_EQUAL(policy_json_path_int(o, "upgrades"), 1);
    CU_ASSERT_EQUAL(policy_json_path_int(o, "admitted"), 8);
    CU_ASSERT_EQUAL(policy_json_path_int(o, "refused_app"), 2);
    CU_ASSERT_EQUAL(policy_json_path_int(o, "outstanding"), 0);
    CU_ASSERT_EQUAL(policy_json_path_int(o, "settings.max_outstanding"), 4);
    json_object_put(o);
    detach();
}

static const phx_test_case_t cases[] = {
    { "a cap of 8 refuses exactly the excess of 20 at once, slots come back", test_cap },
    { "replies free slots: a full window never refused", test_replies_free },
    { "errors free slots", test_errors_free },
    { "max_per_method caps one method, not the others", test_per_method },
    { "a cancelled call frees its slot", test_cancel },
    { "a call past its deadline keeps its slot until slot_timeout_ms", test_deadline },
    { "a lost connection frees its calls' slots", test_conn_lost },
    { "server side: a cap on the calls served; refusals reach the caller", test_server_side },
    { "bad settings: one line naming the key, nothing attached", test_bad_settings },
    { "policyctl set changes the cap live and refuses bad values", test_set },
    { "slots and counters survive a live upgrade", test_upgrade },
    { NULL, NULL },
};

int main(int argc, char **argv)
{
    int rc = phx_test_main("admission", cases, argc, argv);

    return mrpc_setup_stop(&up) ? rc : 1;
}
