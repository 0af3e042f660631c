/* test_policyctl.c - policyctl's command line against two real services (mrpc_fixture.h), with
 * this process as the app whose subscription policies go into.
 *
 *   usage        --help exits 0 and names every command; a missing TYPE or --pid, an unknown
 *                type, a --set that is not key=value, a non-numeric ENGINE_ID: exit 2
 *   failures     no service at the prefix, no such app, no such engine, detaching what is not
 *                attached, attaching twice: exit 1 with one sentence, nothing changed
 *   list         --json: the types with their settings and defaults read from the plugin, and
 *                our attached policy with pid, sid, engine id, settings and counters; the tables
 *                without --json
 *   splice       attach builds a splice the service takes (both directions: the policy sits
 *                between MrpcEngine and the transport) and calls still complete; detach
 *                restores the chain */
#include "mrpc_test.mrpc.h"
#include "phx_test.h"
#include "policy_fixture.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static struct mrpc_setup up;
static phx_test_run_result_t r;
static char pid[16];

static bool bring_up(void)
{
    snprintf(pid, sizeof(pid), "%d", (int)getpid());
    return mrpc_setup_start(&up, "pctl", MRPC_TEST_PEER);
}

static void need_nodes(void)
{
    CU_ASSERT_FATAL(mrpc_bring_up_once(bring_up));
}

static int ctl(const char *const *args)
{
    return policy_ctl(&up.client_node, args, &r);
}

/* One line on stderr that contains TEXT. */
static void said(const char *text)
{
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, text));
    if (!strstr(r.err, text))
        printf("(stderr: %s) ", r.err);
}

static void test_usage(void)
{
    need_nodes();
    CU_ASSERT_EQUAL(ctl((const char *[]){ "--help", NULL }), 0);
    for (const char *c = "list\0attach\0set\0detach\0"; *c; c += strlen(c) + 1)
        CU_ASSERT_PTR_NOT_NULL(strstr(r.out, c));
    CU_ASSERT_EQUAL(ctl((const char *[]){ "attach", "--help", NULL }), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "--set KEY=VALUE"));
    CU_ASSERT_EQUAL(ctl((const char *[]){ "attach", "--pid", pid, NULL }), 2);
    CU_ASSERT_EQUAL(ctl((const char *[]){ "attach", "ratelimit", NULL }), 2);
    said("--pid");
    CU_ASSERT_EQUAL(ctl((const char *[]){ "attach", "bogus", "--pid", pid, NULL }), 2);
    said("no policy type 'bogus'");
    CU_ASSERT_EQUAL(ctl((const char *[]){ "attach", "ratelimit", "--pid", pid, "--set",
                                          "requests_per_sec", NULL }), 2);
    said("is not key=value");
    CU_ASSERT_EQUAL(ctl((const char *[]){ "set", "x", "a=1", NULL }), 2);
    CU_ASSERT_EQUAL(ctl((const char *[]){ "set", "3", NULL }), 2);
    CU_ASSERT_EQUAL(ctl((const char *[]){ "frobnicate", NULL }), 2);
}

static void test_failures(void)
{
    static phx_test_run_result_t none;
    struct mrpc_sub sub;

    need_nodes();
    char *argv[] = { POLICYCTL_PATH_FOR_TEST, "list", "--prefix", "/nonexistent/phx", NULL };
    CU_ASSERT_EQUAL(phx_test_run(argv, NULL, &none), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(none.err, "policyctl: "));
    CU_ASSERT_EQUAL(ctl((const char *[]){ "attach", "ratelimit", "--pid", "1", NULL }), 1);
    said("pid 1 has no subscription");
    CU_ASSERT_EQUAL(ctl((const char *[]){ "set", "999999", "requests_per_sec=5", NULL }), 1);
    said("no engine 999999");
    CU_ASSERT_EQUAL(ctl((const char *[]){ "detach", "ratelimit", "--pid", pid, NULL }), 1);
    said("has no RateLimitEngine attached");
    CU_ASSERT_EQUAL(ctl((const char *[]){ "attach", "ratelimit", "--pid", pid, NULL }), 0);
    CU_ASSERT_EQUAL(ctl((const char *[]){ "attach", "ratelimit", "--pid", pid, NULL }), 1);
    said("already");
    CU_ASSERT(mrpc_ctl_find_sub(&up.client_node, getpid(), &sub) && sub.n_addons == 1);
    CU_ASSERT_EQUAL(ctl((const char *[]){ "detach", "ratelimit", "--pid", pid, NULL }), 0);
    CU_ASSERT(mrpc_ctl_find_sub(&up.client_node, getpid(), &sub) && sub.n_addons == 0);
}

/* The setting KEY of type NAME in `list --json`'s DOC: its default, or NULL. */
static const char *default_of(json_object *doc, const char *name, const char *key)
{
    json_object *types, *v;

    if (!json_object_object_get_ex(doc, "types", &types))
        return NULL;
    for (size_t i = 0; i < json_object_array_length(types); i++) {
        json_object *t = json_object_array_get_idx(types, i), *settings;
        if (!json_object_object_get_ex(t, "type", &v) || strcmp(json_object_get_string(v), name))
            continue;
        if (!json_object_object_get_ex(t, "settings", &settings))
            return NULL;
        for (size_t k = 0; k < json_object_array_length(settings); k++) {
            json_object *s = json_object_array_get_idx(settings, k), *def;
            if (json_object_object_get_ex(s, "key", &v) && !strcmp(json_object_get_string(v), key)
                && json_object_object_get_ex(s, "default", &def))
                return json_object_get_string(def);
        }
    }
    return NULL;
}

static void echo_done(mrpc_ctx_t *c, void *token, const mrpc_status_t *st,
                      const ProtobufCMessage *reply)
{
    *(int *)token = st->code == PHX_OK && reply && ((const MrpcTest__Blob *)reply)->seq == 7
                        ? 1 : 2;
    if (reply)
        mrpc_release(c, reply);
}

/* One echo call through the policy: it completes with its own reply within 10 s. */
static void echo_once(void)
{
    MrpcTest__Blob *b = (MrpcTest__Blob *)mrpc_message_new(up.ctx, &mrpc_test__blob__descriptor);
    unsigned long long deadline = phx_test_now_ns() + 10 * PHX_NS;
    int outcome = 0;

    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    b->seq = 7;
    CU_ASSERT_EQUAL_FATAL(mrpc_test__echo__echo_async(up.conn, b, echo_done, &outcome,
                                                      NULL).code, PHX_OK);
    while (!outcome && phx_test_now_ns() < deadline)
        CU_ASSERT_FATAL(mrpc_ctx_progress(up.ctx, 20) >= 0);
    CU_ASSERT_EQUAL(outcome, 1);
}

static void test_list_and_splice(void)
{
    need_nodes();
    CU_ASSERT_EQUAL(ctl((const char *[]){ "attach", "ratelimit", "--pid", pid, "--set",
                                          "requests_per_sec=500", "--set", "mode=reject", NULL }),
                    0);
    echo_once();
    CU_ASSERT_EQUAL(ctl((const char *[]){ "list", "--json", NULL }), 0);
    json_object *doc = json_tokener_parse(r.out);
    CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
    const char *d = default_of(doc, "ratelimit", "requests_per_sec");
    CU_ASSERT(d && strcmp(d, "0") == 0);
    d = default_of(doc, "ratelimit", "mode");
    CU_ASSERT(d && strcmp(d, "\"delay\"") == 0);
    CU_ASSERT_PTR_NOT_NULL(default_of(doc, "null", "batch"));
    json_object_put(doc);

    json_object *stats = policy_stats(&up.client_node, "RateLimitEngine", getpid());
    CU_ASSERT_EQUAL(policy_json_path_int(stats, "settings.requests_per_sec"), 500);
    CU_ASSERT_EQUAL(policy_json_path_int(stats, "tx.forwarded"), 1);
    json_object_put(stats);
    CU_ASSERT(policy_engine_id(&up.client_node, "RateLimitEngine", getpid()) > 0);

    CU_ASSERT_EQUAL(ctl((const char *[]){ "list", NULL }), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "Policy types:"));
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "requests_per_sec = 0"));
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out, pid));

    /* the chain as phoenixctl sees it: MrpcEngine, the policy, the transport */
    json_object *list = mrpc_ctl_json(&up.client_node, (const char *[]){ "list", NULL });
    CU_ASSERT_PTR_NOT_NULL(strstr(json_object_to_json_string(list),
                                  "\"RateLimitEngine\""));
    json_object_put(list);
    CU_ASSERT_EQUAL(ctl((const char *[]){ "detach", "RateLimitEngine", "--pid", pid, NULL }), 0);
    echo_once();
    CU_ASSERT_EQUAL(ctl((const char *[]){ "list", NULL }), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "Attached:\nnone"));
}

static const phx_test_case_t cases[] = {
    { "usage errors exit 2", test_usage },
    { "failures exit 1 with a sentence and change nothing", test_failures },
    { "list shows types, defaults and attached policies; attach and detach", test_list_and_splice },
    { NULL, NULL },
};

int main(int argc, char **argv)
{
    int rc = phx_test_main("policyctl", cases, argc, argv);

    return mrpc_setup_stop(&up) ? rc : 1;
}
