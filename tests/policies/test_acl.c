/* test_acl.c - AclEngine end to end: this process calls the echo server through two real
 * services (tests/mrpc/mrpc_fixture.h: namespaces joined by a veth pair when root, else loopback;
 * UCX pinned to tcp on that device), with the ACL attached to our subscription by policyctl
 * with a rules file (--settings), and a NullEngine on the server's subscription counting what
 * reaches the server.
 *
 *   deny method     a rule denying mrpc_test.Echo/Fail by name: Fail gets PERMISSION_DENIED,
 *                   and the server's NullEngine sees nothing of it; Echo passes; the rule's hits,
 *                   tx.rejected and last_reject (with the rule's name) say so
 *   first match     allow Echo, then deny everything: Echo passes, Sleep is denied by the second
 *                   rule; the same two rules swapped with a live `policyctl set --settings`: Echo
 *                   is denied by the first; `set default=deny` keeps the rules
 *   caller          a uid rule with another uid does not match, one with ours (and a gid rule
 *                   with our gid, a service rule by id) does; the stats show our uid
 *   bad rules       a bad action on line 3 of the file, a syntax error, an unknown key: exit 1,
 *                   one line with the line number and the key, nothing attached; a bad `set`
 *                   leaves the rules as they were
 *   live upgrade    the plugin replaced by a copy: rules, hits and counters carry on
 *   fields          rules on the request's fields (set membership, prefix, numeric compare,
 *                   equals) deny on the sender's side: the call fails with PERMISSION_DENIED and
 *                   the rule's sentence, and never reaches the server
 *   server side     the same rules on the server's subscription (policyctl --side server, and
 *                   --side refused for a policy of one side and for a side that is none): the caller
 *                   gets PERMISSION_DENIED with the sentence from the server's service, the
 *                   server's app never answers it; allowed calls pass
 *   checked = sent  a FaultEngine holds each request 300 ms behind the ACL, and the app
 *                   rewrites its request's 20 KB data in its send heap 100 ms after sending:
 *                   without the ACL the server echoes the rewritten bytes (the hazard is real),
 *                   with the ACL (which read the field) it echoes exactly the checked copy, and a
 *                   value the ACL denies never reaches it
 *   repeated        rules on an element of a repeated field by index (nodes[0].name) and on any
 *                   element (nodes[*].name): requests whose nodes match are denied by the rule's
 *                   name, others (and a request with no nodes) pass
 *   reply locally   a rule with action "reply" on mrpc_test.Echo/Fail: on the client's side the
 *                   call completes with PHX_OK (the server would have answered NOT_FOUND) and
 *                   nothing reaches the server's service; on the server's side (--side server)
 *                   the remote caller gets PHX_OK from the server's service, whose app would have
 *                   answered NOT_FOUND; tx.replied and rx.replied count them
 *
 * What reaches the app on a denial is PERMISSION_DENIED and the sentence naming the rule. */
#include "mrpc_fixture.h"
#include "mrpc_test.mrpc.h"
#include "phx_test.h"
#include "policy_fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct mrpc_setup up;

static bool bring_up(void)
{
    return mrpc_setup_start(&up, "acl", MRPC_TEST_PEER);
}

/* The nodes, and a NullEngine on the server's subscription (once). */
static void need_nodes(void)
{
    static bool null_attached;

    CU_ASSERT_FATAL(mrpc_bring_up_once(bring_up));
    if (!null_attached)
        CU_ASSERT_FATAL(policy_attach(&up.server_node, "null", up.peer.pid, NULL) == 0);
    null_attached = true;
}

/* Descriptors the server's NullEngine passed up to the server (rx). */
static long server_rx(void)
{
    json_object *stats = policy_stats(&up.server_node, "NullEngine", up.peer.pid);
    long n = policy_json_path_int(stats, "rx");

    json_object_put(stats);
    return n;
}

/* ---- calls ---------------------------------------------------------------------------------- */

struct result {
    bool    done;
    int32_t code;
    char    message[160];
};

static void on_done(mrpc_ctx_t *c, void *token, const mrpc_status_t *st,
                    const ProtobufCMessage *reply)
{
    struct result *r = token;

    r->done = true;
    r->code = st->code;
    snprintf(r->message, sizeof(r->message), "%s", st->message);
    if (reply)
        mrpc_release(c, reply);
}

enum method { ECHO, SLEEP, FAIL };

static struct result last;                /* the latest call()'s */

/* One call of M, waited for (10 s at most); its status code. */
static int32_t call(enum method m)
{
    static struct result r;
    mrpc_status_t st;

    memset(&r, 0, sizeof(r));
    if (m == FAIL) {
        MrpcTest__FailRequest *q = (MrpcTest__FailRequest *)mrpc_message_new(
            up.ctx, &mrpc_test__fail_request__descriptor);
        CU_ASSERT_FATAL(q != NULL);
        q->code = PHX_NOT_FOUND;
        st = mrpc_test__echo__fail_async(up.conn, q, on_done, &r, NULL);
    } else {
        MrpcTest__Blob *b = (MrpcTest__Blob *)mrpc_message_new(up.ctx,
                                                               &mrpc_test__blob__descriptor);
        CU_ASSERT_FATAL(b != NULL);
        st = m == ECHO ? mrpc_test__echo__echo_async(up.conn, b, on_done, &r, NULL)
                       : mrpc_test__echo__sleep_async(up.conn, b, on_done, &r, NULL);
    }
    CU_ASSERT_FATAL(st.code == PHX_OK);
    unsigned long long deadline = phx_test_now_ns() + 10 * PHX_NS;
    while (!r.done && phx_test_now_ns() < deadline)
        CU_ASSERT_FATAL(mrpc_ctx_progress(up.ctx, 20) >= 0);
    CU_ASSERT_FATAL(r.done);
    if (r.code == PHX_PERMISSION_DENIED)
        printf("(denied: \"%s\") ", r.message);
    last = r;
    return r.code;
}

/* ---- calls with contents -------------------------------------------------------------------- */

struct echo_result {
    bool     done;
    int32_t  code;
    char     message[160];
    char     head[16];          /* the first bytes of the echoed data */
    size_t   len;
    uint32_t seq;
    double   ratio;
};

static void on_echo(mrpc_ctx_t *c, void *token, const mrpc_status_t *st,
                    const ProtobufCMessage *reply)
{
    struct echo_result *r = token;
    const MrpcTest__Blob *b = (const MrpcTest__Blob *)reply;

    r->done = true;
    r->code = st->code;
    snprintf(r->message, sizeof(r->message), "%s", st->message);
    if (b) {
        r->len = b->data.len;
        r->seq = b->seq;
        r->ratio = b->ratio;
        if (b->data.len)                        /* echo_nodes() sends no data */
            memcpy(r->head, b->data.data, b->data.len < 15 ? b->data.len : 15);
        mrpc_release(c, reply);
    }
}

/* Echo of LEN bytes of data beginning with HEAD and SEQ, on CONN (NULL: ours); when REWRITE,
 * the data's first bytes become REWRITE in our send heap 100 ms after the call went. Waited
 * for (10 s at most) into R. */
static void echo(mrpc_conn_t *conn, const char *head, size_t len, uint32_t seq,
                 const char *rewrite, struct echo_result *r)
{
    MrpcTest__Blob *b = (MrpcTest__Blob *)mrpc_message_new(up.ctx, &mrpc_test__blob__descriptor);
    char *data = malloc(len);

    CU_ASSERT_FATAL(b && data);
    memset(data, 'x', len);
    memcpy(data, head, strlen(head));
    CU_ASSERT_FATAL(mrpc_bytes_set(up.ctx, &b->data, data, len) == 0);
    free(data);
    b->seq = seq;
    memset(r, 0, sizeof(*r));
    CU_ASSERT_FATAL(mrpc_test__echo__echo_async(conn ? conn : up.conn, b, on_echo, r,
                                                NULL).code == PHX_OK);
    unsigned long long sent = phx_test_now_ns(), deadline = sent + 10 * PHX_NS;
    while (!r->done && phx_test_now_ns() < deadline) {
        CU_ASSERT_FATAL(mrpc_ctx_progress(up.ctx, 10) >= 0);
        if (rewrite && phx_test_now_ns() > sent + PHX_NS / 10) {
            memcpy(b->data.data, rewrite, strlen(rewrite));
            rewrite = NULL;
        }
    }
    CU_ASSERT_FATAL(r->done);
    CU_ASSERT(rewrite == NULL || r->code != PHX_OK);   /* it was rewritten while in flight */
}

/* Echo of a Blob whose nodes are named NAMES (N of them); its status code. */
static int32_t echo_nodes(const char *const *names, size_t n)
{
    static struct echo_result r;
    MrpcTest__Blob *b = (MrpcTest__Blob *)mrpc_message_new(up.ctx, &mrpc_test__blob__descriptor);

    CU_ASSERT_FATAL(b != NULL);
    b->n_nodes = n;
    b->nodes = n ? mrpc_alloc(up.ctx, n * sizeof(*b->nodes)) : NULL;
    CU_ASSERT_FATAL(!n || b->nodes);
    for (size_t i = 0; i < n; i++) {
        b->nodes[i] = (MrpcTest__Node *)mrpc_message_new(up.ctx, &mrpc_test__node__descriptor);
        CU_ASSERT_FATAL(b->nodes[i] && (b->nodes[i]->name = mrpc_strdup(up.ctx, names[i])));
    }
    memset(&r, 0, sizeof(r));
    CU_ASSERT_FATAL(mrpc_test__echo__echo_async(up.conn, b, on_echo, &r, NULL).code == PHX_OK);
    unsigned long long deadline = phx_test_now_ns() + 10 * PHX_NS;
    while (!r.done && phx_test_now_ns() < deadline)
        CU_ASSERT_FATAL(mrpc_ctx_progress(up.ctx, 20) >= 0);
    CU_ASSERT_FATAL(r.done);
    snprintf(last.message, sizeof(last.message), "%s", r.message);
    return r.code;
}

/* Fail with CODE: the server answers with that status unless the ACL denies it first. */
static int32_t fail_with(uint32_t code)
{
    static struct result r;

    memset(&r, 0, sizeof(r));
    MrpcTest__FailRequest *q = (MrpcTest__FailRequest *)mrpc_message_new(
        up.ctx, &mrpc_test__fail_request__descriptor);
    CU_ASSERT_FATAL(q != NULL);
    q->code = code;
    CU_ASSERT_FATAL(mrpc_test__echo__fail_async(up.conn, q, on_done, &r, NULL).code == PHX_OK);
    unsigned long long deadline = phx_test_now_ns() + 10 * PHX_NS;
    while (!r.done && phx_test_now_ns() < deadline)
        CU_ASSERT_FATAL(mrpc_ctx_progress(up.ctx, 20) >= 0);
    CU_ASSERT_FATAL(r.done);
    last = r;
    return r.code;
}

/* ---- settings files ------------------------------------------------------------------------- */

/* TEXT in a file of the client node's directory; its path. */
static const char *rules_file(const char *text)
{
    static char path[512];
    static unsigned n;

    snprintf(path, sizeof(path), "%s/acl-%u.conf", up.client_node.d.dir, n++);
    FILE *f = fopen(path, "w");
    CU_ASSERT_FATAL(f != NULL);
    fputs(text, f);
    CU_ASSERT_FATAL(fclose(f) == 0);
    return path;
}

/* `policyctl attach acl --pid <ours> --settings FILE(TEXT)`; its exit code, output in R. */
static int attach_rules(const char *text, phx_test_run_result_t *r)
{
    char pid[16];

    snprintf(pid, sizeof(pid), "%d", (int)getpid());
    return policy_ctl(&up.client_node, (const char *[]){ "attach", "acl", "--pid", pid,
                                                         "--settings", rules_file(text), NULL },
                      r);
}

/* `policyctl attach acl --pid <the server's> --settings FILE(TEXT) --side server` on the
 * server's node; its exit code, output in R. */
static int attach_server_rules(const char *text, phx_test_run_result_t *r)
{
    char pid[16];

    snprintf(pid, sizeof(pid), "%d", (int)up.peer.pid);
    return policy_ctl(&up.server_node, (const char *[]){ "attach", "acl", "--pid", pid,
                                                         "--settings", rules_file(text),
                                                         "--side", "server", NULL },
                      r);
}

/* `policyctl set <our AclEngine> --settings FILE(TEXT) [KV]`; its exit code, output in R. */
static int set_rules(const char *text, const char *kv, phx_test_run_result_t *r)
{
    char id[24];

    snprintf(id, sizeof(id), "%ld", policy_engine_id(&up.client_node, "AclEngine", getpid()));
    if (!text)
        return policy_ctl(&up.client_node, (const char *[]){ "set", id, kv, NULL }, r);
    return policy_ctl(&up.client_node, (const char *[]){ "set", id, "--settings",
                                                         rules_file(text), kv, NULL }, r);
}

static json_object *acl_stats(void)
{
    return policy_stats(&up.client_node, "AclEngine", getpid());
}

/* The hits of rule I in STATS, or -1. */
static long rule_hits(json_object *stats, unsigned i)
{
    json_object *rules;

    if (!json_object_object_get_ex(stats, "rules", &rules) ||
        i >= json_object_array_length(rules))
        return -1;
    return policy_json_path_int(json_object_array_get_idx(rules, i), "hits");
}

static bool last_reject_has(json_object *stats, const char *text)
{
    json_object *o;

    return json_object_object_get_ex(stats, "last_reject", &o) &&
           strstr(json_object_get_string(o), text) != NULL;
}

/* ---- cases ---------------------------------------------------------------------------------- */

static void test_deny_method(void)
{
    static phx_test_run_result_t r;

    need_nodes();
    CU_ASSERT_FATAL(attach_rules("rules = ( { name = \"no-fail\"; action = \"deny\";\n"
                                 "            method = \"mrpc_test.Echo/Fail\"; } );\n"
                                 "default = \"allow\";\n", &r) == 0);
    CU_ASSERT_EQUAL(call(ECHO), PHX_OK);                    /* the connection is up */
    long before = server_rx();
    CU_ASSERT(before > 0);
    for (unsigned i = 0; i < 5; i++)
        CU_ASSERT_EQUAL(call(FAIL), PHX_PERMISSION_DENIED);
    CU_ASSERT_STRING_EQUAL(last.message, "denied by ACL rule 'no-fail'");  /* the sentence */
    CU_ASSERT_EQUAL(server_rx(), before);                   /* never reached the server */
    CU_ASSERT_EQUAL(call(ECHO), PHX_OK);
    CU_ASSERT(server_rx() > before);
    json_object *stats = acl_stats();
    CU_ASSERT_EQUAL(rule_hits(stats, 0), 5);
    CU_ASSERT_EQUAL(policy_json_path_int(stats, "tx.rejected"), 5);
    CU_ASSERT_EQUAL(policy_json_path_int(stats, "denied"), 5);
    CU_ASSERT_EQUAL(policy_json_path_int(stats, "default_hits"), 2);
    CU_ASSERT(last_reject_has(stats, "denied by ACL rule 'no-fail'"));
    json_object_put(stats);
    CU_ASSERT(policy_detach(&up.client_node, "acl", getpid()) == 0);
    CU_ASSERT_EQUAL(call(FAIL), PHX_NOT_FOUND);             /* detached: the server answers */
}

static const char allow_then_deny[] =
    "rules = ( { name = \"allow-echo\"; action = \"allow\";\n"
    "            method = \"mrpc_test.Echo.Echo\"; },\n"
    "          { name = \"deny-all\"; action = \"deny\"; } );\n";
static const char deny_then_allow[] =
    "rules = ( { name = \"deny-all\"; action = \"deny\"; },\n"
    "          { name = \"allow-echo\"; action = \"allow\";\n"
    "            method = \"mrpc_test.Echo/Echo\"; } );\n";

static void test_first_match(void)
{
    static phx_test_run_result_t r;

    need_nodes();
    CU_ASSERT_FATAL(attach_rules(allow_then_deny, &r) == 0);
    CU_ASSERT_EQUAL(call(ECHO), PHX_OK);
    CU_ASSERT_EQUAL(call(SLEEP), PHX_PERMISSION_DENIED);
    json_object *stats = acl_stats();
    CU_ASSERT_EQUAL(rule_hits(stats, 0), 1);
    CU_ASSERT_EQUAL(rule_hits(stats, 1), 1);
    CU_ASSERT(last_reject_has(stats, "'deny-all'"));
    json_object_put(stats);

    CU_ASSERT_EQUAL(set_rules(deny_then_allow, NULL, &r), 0);     /* live: the order turns */
    CU_ASSERT_EQUAL(call(ECHO), PHX_PERMISSION_DENIED);
    stats = acl_stats();
    CU_ASSERT_EQUAL(rule_hits(stats, 0), 1);
    CU_ASSERT_EQUAL(rule_hits(stats, 1), 0);
    CU_ASSERT_EQUAL(policy_json_path_int(stats, "tx.rejected"), 2);
    json_object_put(stats);

    CU_ASSERT_EQUAL(set_rules("rules = ( );", "default=deny", &r), 0);
    CU_ASSERT_EQUAL(call(ECHO), PHX_PERMISSION_DENIED);           /* no rule: the default */
    CU_ASSERT_EQUAL(set_rules(NULL, "default=allow", &r), 0);
    CU_ASSERT_EQUAL(call(ECHO), PHX_OK);
    CU_ASSERT(policy_detach(&up.client_node, "acl", getpid()) == 0);
}

static void test_caller(void)
{
    static phx_test_run_result_t r;
    char text[512];

    need_nodes();
    snprintf(text, sizeof(text),
             "rules = ( { name = \"not-me\"; action = \"allow\"; uid = %u; },\n"
             "          { name = \"me\"; action = \"deny\"; uid = %u; method = \"mrpc_test.Echo/"
             "Sleep\"; },\n"
             "          { name = \"my-group\"; action = \"allow\"; gid = %u; service = %u; } );\n"
             "default = \"deny\";\n", (unsigned)getuid() + 1, (unsigned)getuid(),
             (unsigned)getgid(), MRPC_TEST__ECHO__SERVICE_ID);
    CU_ASSERT_FATAL(attach_rules(text, &r) == 0);
    CU_ASSERT_EQUAL(call(SLEEP), PHX_PERMISSION_DENIED);          /* "me" */
    CU_ASSERT_EQUAL(call(ECHO), PHX_OK);                          /* "my-group" */
    json_object *stats = acl_stats();
    CU_ASSERT_EQUAL(rule_hits(stats, 0), 0);
    CU_ASSERT_EQUAL(rule_hits(stats, 1), 1);
    CU_ASSERT_EQUAL(rule_hits(stats, 2), 1);
    CU_ASSERT_EQUAL(policy_json_path_int(stats, "caller.uid"), (long)getuid());
    CU_ASSERT_EQUAL(policy_json_path_int(stats, "caller.gid"), (long)getgid());
    CU_ASSERT(last_reject_has(stats, "'me'"));
    json_object_put(stats);
    CU_ASSERT(policy_detach(&up.client_node, "acl", getpid()) == 0);
}

/* A refusal (policy_expect_refusal()) whose one line holds WANT1 and WANT2. */
static void expect_refused(int rc, const phx_test_run_result_t *r, const char *want1,
                           const char *want2)
{
    policy_expect_refusal(rc, r, want1);
    CU_ASSERT_PTR_NOT_NULL(strstr(r->err, want2));
}

static void test_bad_rules(void)
{
    static phx_test_run_result_t r;
    struct mrpc_sub sub;

    need_nodes();
    expect_refused(attach_rules("rules = (\n  { name = \"a\"; action = \"allow\"; },\n"
                                "  { name = \"b\"; action = \"maybe\"; } );\n", &r),
                   &r, "config_string:3", "rules[1].action");
    expect_refused(attach_rules("default = \"allow\";\nrules = ( { name = \"a\"; } ;\n"
                                "default = \"deny\";\n", &r), &r, "config_string:2", "syntax");
    expect_refused(attach_rules("rules = ( { name = \"a\"; action = \"deny\";\n"
                                "  methd = \"x.Y/Z\"; } );\n", &r),
                   &r, "config_string:2", "rules[0].methd");
    expect_refused(attach_rules("rules = ( { name = \"a\"; action = \"deny\"; uid = -1; } );",
                                &r), &r, "config_string:1", "rules[0].uid");
    expect_refused(attach_rules("defualt = \"deny\";", &r), &r, "config_string:1", "defualt");
    CU_ASSERT(mrpc_ctl_find_sub(&up.client_node, getpid(), &sub) && sub.n_addons == 0);

    CU_ASSERT_FATAL(attach_rules(allow_then_deny, &r) == 0);
    expect_refused(set_rules("rules = ( { name = \"x\"; action = \"deny\"; method = \"nodots\"; "
                             "} );", NULL, &r), &r, "config_string:1", "rules[0].method");
    CU_ASSERT_EQUAL(call(ECHO), PHX_OK);                          /* the rules as they were */
    CU_ASSERT_EQUAL(call(SLEEP), PHX_PERMISSION_DENIED);
    CU_ASSERT(policy_detach(&up.client_node, "acl", getpid()) == 0);
}

/* A copy of the built plugin in N's directory: a new build, as far as the service can tell. */
static const char *plugin_copy(const struct mrpc_node *n)
{
    static char path[512], cmd[1200];

    snprintf(path, sizeof(path), "%s/acl-next.so", n->d.dir);
    snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", PHX_PLUGIN_ACL, path);
    return system(cmd) == 0 ? path : NULL;
}

static void test_upgrade(void)
{
    static phx_test_run_result_t r;
    const char *copy;

    need_nodes();
    CU_ASSERT_FATAL((copy = plugin_copy(&up.client_node)) != NULL);
    CU_ASSERT_FATAL(attach_rules(allow_then_deny, &r) == 0);
    CU_ASSERT_EQUAL(call(ECHO), PHX_OK);
    CU_ASSERT_EQUAL(call(SLEEP), PHX_PERMISSION_DENIED);
    CU_ASSERT_EQUAL(mrpc_ctl(&up.client_node, (const char *[]){ "upgrade", "--plugin", copy,
                                                                NULL }, &r), 0);
    CU_ASSERT_EQUAL(call(SLEEP), PHX_PERMISSION_DENIED);
    CU_ASSERT_EQUAL(call(ECHO), PHX_OK);
    json_object *stats = acl_stats();
    CU_ASSERT_EQUAL(policy_json_path_int(stats, "upgrades"), 1);
    CU_ASSERT_EQUAL(rule_hits(stats, 0), 2);
    CU_ASSERT_EQUAL(rule_hits(stats, 1), 2);
    CU_ASSERT_EQUAL(policy_json_path_int(stats, "tx.rejected"), 2);
    CU_ASSERT_EQUAL(policy_json_path_int(stats, "settings.rules"), 2);
    json_object_put(stats);
    CU_ASSERT(policy_detach(&up.client_node, "acl", getpid()) == 0);
}

/* Field rules on the requests' contents, for either side. */
static const char field_rules[] =
    "rules = ( { name = \"bad-codes\"; action = \"deny\"; field = \"mrpc_test.FailRequest.code\";\n"
    "            in = [ 7, 8 ]; },\n"
    "          { name = \"no-evil\"; action = \"deny\"; field = \"mrpc_test.Blob.data\";\n"
    "            prefix = \"evil\"; },\n"
    "          { name = \"seq-range\"; action = \"deny\"; field = \"mrpc_test.Blob.seq\";\n"
    "            greater_than = 100; less_than = 200; },\n"
    "          { name = \"exact\"; action = \"deny\"; field = \"mrpc_test.FailRequest.message\";\n"
    "            equals = \"stop\"; } );\n"
    "default = \"allow\";\n";

/* The field rules' verdicts as the caller sees them; COUNTER is the ACL's (on NODE/PID) that
 * counts them, after EARLIER denials by rule 0. */
static void check_field_rules(const struct mrpc_node *node, pid_t pid, const char *counter,
                              long earlier)
{
    struct echo_result r;

    CU_ASSERT_EQUAL(fail_with(7), PHX_PERMISSION_DENIED);
    CU_ASSERT_STRING_EQUAL(last.message, "denied by ACL rule 'bad-codes'");
    CU_ASSERT_EQUAL(fail_with(9), 9);                     /* not in the set: the server answers */
    echo(NULL, "evil plans", 64, 1, NULL, &r);
    CU_ASSERT_EQUAL(r.code, PHX_PERMISSION_DENIED);
    CU_ASSERT_STRING_EQUAL(r.message, "denied by ACL rule 'no-evil'");
    echo(NULL, "good plans", 64, 150, NULL, &r);
    CU_ASSERT_EQUAL(r.code, PHX_PERMISSION_DENIED);
    CU_ASSERT_STRING_EQUAL(r.message, "denied by ACL rule 'seq-range'");
    echo(NULL, "good plans", 64, 200, NULL, &r);           /* 200 is not below 200 */
    CU_ASSERT_EQUAL(r.code, PHX_OK);
    CU_ASSERT_EQUAL(strncmp(r.head, "good plans", 10), 0);
    json_object *stats = policy_stats(node, "AclEngine", pid);
    CU_ASSERT_EQUAL(policy_json_path_int(stats, counter), 3 + earlier);
    CU_ASSERT_EQUAL(rule_hits(stats, 0), 1 + earlier);
    CU_ASSERT_EQUAL(rule_hits(stats, 1), 1);
    CU_ASSERT_EQUAL(rule_hits(stats, 2), 1);
    json_object_put(stats);
}

static void test_fields_client(void)
{
    static phx_test_run_result_t r;

    need_nodes();
    CU_ASSERT_FATAL(attach_rules(field_rules, &r) == 0);
    long before = server_rx();
    CU_ASSERT_EQUAL(fail_with(8), PHX_PERMISSION_DENIED);
    CU_ASSERT_EQUAL(server_rx(), before);                  /* never left this service */
    check_field_rules(&up.client_node, getpid(), "tx.rejected", 1);
    CU_ASSERT(policy_detach(&up.client_node, "acl", getpid()) == 0);
}

static void test_fields_server(void)
{
    static phx_test_run_result_t r;
    char pid[16];
    json_object *o;

    need_nodes();
    snprintf(pid, sizeof(pid), "%d", (int)up.peer.pid);
    CU_ASSERT_EQUAL(policy_ctl(&up.server_node, (const char *[]){ "attach", "acl", "--pid", pid,
                                                                 "--side", "middle", NULL },
                               &r), 2);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "client, server or both"));
    CU_ASSERT_EQUAL(policy_ctl(&up.server_node, (const char *[]){ "attach", "null", "--pid",
                                                                 pid, "--side", "server", NULL },
                               &r), 2);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "one side only"));
    CU_ASSERT_FATAL(attach_server_rules(field_rules, &r) == 0);
    check_field_rules(&up.server_node, up.peer.pid, "rx.rejected", 0);
    json_object *stats = policy_stats(&up.server_node, "AclEngine", up.peer.pid);
    CU_ASSERT_EQUAL(policy_json_path_int(stats, "tx.rejected"), 0);
    CU_ASSERT(json_object_object_get_ex(stats, "settings", &o) &&
              json_object_object_get_ex(o, "side", &o) &&
              strcmp(json_object_get_string(o), "server") == 0);
    json_object_put(stats);
    CU_ASSERT(policy_detach(&up.server_node, "acl", up.peer.pid) == 0);
}

static void test_checked_is_sent(void)
{
    static phx_test_run_result_t r;
    struct echo_result e;

    need_nodes();
    CU_ASSERT_FATAL(policy_attach(&up.client_node, "fault", getpid(),
                                  "delay_per_million=1000000", "delay_ms=300", NULL) == 0);
    /* without the ACL the transport sends what the app's heap holds when it sends */
    echo(NULL, "good data", 20000, 1, "evil", &e);
    CU_ASSERT_EQUAL(e.code, PHX_OK);
    CU_ASSERT_EQUAL(e.len, 20000);
    CU_ASSERT_EQUAL(strncmp(e.head, "evil", 4), 0);
    /* with it, what it checked */
    CU_ASSERT_FATAL(attach_rules(field_rules, &r) == 0);
    echo(NULL, "good data", 20000, 1, "evil", &e);
    CU_ASSERT_EQUAL(e.code, PHX_OK);
    CU_ASSERT_EQUAL(e.len, 20000);
    CU_ASSERT_EQUAL(strncmp(e.head, "good data", 9), 0);
    echo(NULL, "evil data", 20000, 1, "good", &e);
    CU_ASSERT_EQUAL(e.code, PHX_PERMISSION_DENIED);
    json_object *stats = acl_stats();
    CU_ASSERT_EQUAL(policy_json_path_int(stats, "copies"), 2);   /* each request read once */
    json_object_put(stats);
    CU_ASSERT(policy_detach(&up.client_node, "acl", getpid()) == 0);
    CU_ASSERT(policy_detach(&up.client_node, "fault", getpid()) == 0);
}

static const char repeated_rules[] =
    "rules = ( { name = \"root-first\"; action = \"deny\";\n"
    "            field = \"mrpc_test.Blob.nodes[0].name\"; equals = \"root\"; },\n"
    "          { name = \"no-secrets\"; action = \"deny\";\n"
    "            field = \"mrpc_test.Blob.nodes[*].name\"; prefix = \"secret\"; } );\n";

static void test_fields_repeated(void)
{
    static phx_test_run_result_t r;

    need_nodes();
    CU_ASSERT_EQUAL(attach_rules("rules = ( { name = \"x\"; action = \"deny\";\n"
                                 "  field = \"mrpc_test.Blob.nodes[*].tags[*]\"; equals = 1; } );\n",
                                 &r), 1);                        /* [*] once only */
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "config_string:2: rules[0].field: a field path may say "
                                         "[*]"));
    CU_ASSERT_FATAL(attach_rules(repeated_rules, &r) == 0);
    CU_ASSERT_EQUAL(echo_nodes((const char *[]){ "root", "a" }, 2), PHX_PERMISSION_DENIED);
    CU_ASSERT_STRING_EQUAL(last.message, "denied by ACL rule 'root-first'");
    CU_ASSERT_EQUAL(echo_nodes((const char *[]){ "a", "root" }, 2), PHX_OK);   /* not first */
    CU_ASSERT_EQUAL(echo_nodes((const char *[]){ "a", "b", "secret-c" }, 3),
                    PHX_PERMISSION_DENIED);
    CU_ASSERT_STRING_EQUAL(last.message, "denied by ACL rule 'no-secrets'");
    CU_ASSERT_EQUAL(echo_nodes((const char *[]){ "a", "b", "c" }, 3), PHX_OK);
    CU_ASSERT_EQUAL(echo_nodes(NULL, 0), PHX_OK);
    json_object *stats = acl_stats();
    CU_ASSERT_EQUAL(rule_hits(stats, 0), 1);
    CU_ASSERT_EQUAL(rule_hits(stats, 1), 1);
    CU_ASSERT_EQUAL(policy_json_path_int(stats, "tx.rejected"), 2);
    json_object_put(stats);
    CU_ASSERT(policy_detach(&up.client_node, "acl", getpid()) == 0);
}

static const char reply_rules[] =
    "rules = ( { name = \"stub-fail\"; action = \"reply\";\n"
    "            method = \"mrpc_test.Echo/Fail\"; } );\n";

static void test_reply_client(void)
{
    static phx_test_run_result_t r;

    need_nodes();
    CU_ASSERT_FATAL(attach_rules(reply_rules, &r) == 0);
    CU_ASSERT_EQUAL(call(ECHO), PHX_OK);
    long before = server_rx();
    for (unsigned i = 0; i < 3; i++)
        CU_ASSERT_EQUAL(fail_with(PHX_NOT_FOUND), PHX_OK);     /* answered here */
    CU_ASSERT_EQUAL(server_rx(), before);                      /* nothing left this service */
    json_object *stats = acl_stats();
    CU_ASSERT_EQUAL(policy_json_path_int(stats, "tx.replied"), 3);
    CU_ASSERT_EQUAL(policy_json_path_int(stats, "tx.rejected"), 0);
    CU_ASSERT_EQUAL(rule_hits(stats, 0), 3);
    json_object_put(stats);
    CU_ASSERT(policy_detach(&up.client_node, "acl", getpid()) == 0);
    CU_ASSERT_EQUAL(fail_with(PHX_NOT_FOUND), PHX_NOT_FOUND);  /* the server answers again */
}

static void test_reply_server(void)
{
    static phx_test_run_result_t r;

    need_nodes();
    CU_ASSERT_FATAL(attach_server_rules(reply_rules, &r) == 0);
    for (unsigned i = 0; i < 3; i++)
        CU_ASSERT_EQUAL(fail_with(PHX_NOT_FOUND), PHX_OK);     /* the server's app never ran */
    CU_ASSERT_EQUAL(call(ECHO), PHX_OK);                       /* other methods reach it */
    json_object *stats = policy_stats(&up.server_node, "AclEngine", up.peer.pid);
    CU_ASSERT_EQUAL(policy_json_path_int(stats, "rx.replied"), 3);
    CU_ASSERT_EQUAL(policy_json_path_int(stats, "tx.replied"), 0);
    json_object_put(stats);
    CU_ASSERT(policy_detach(&up.server_node, "acl", up.peer.pid) == 0);
    CU_ASSERT_EQUAL(fail_with(PHX_NOT_FOUND), PHX_NOT_FOUND);
}

/* A reply rule that sets the reply's fields (data, a bytes field, from a text; seq; ratio). */
static const char reply_fields_rules[] =
    "rules = ( { name = \"cached-echo\"; action = \"reply\";\n"
    "            method = \"mrpc_test.Echo/Echo\";\n"
    "            reply = ( { field = \"mrpc_test.Blob.data\"; value = \"cached\"; },\n"
    "                      { field = \"mrpc_test.Blob.seq\"; value = 3; },\n"
    "                      { field = \"mrpc_test.Blob.ratio\"; value = 0.25; } ); } );\n";

/* What the caller gets from the rule above: exactly the values it sets. */
static void check_cached_echo(void)
{
    struct echo_result e;

    for (unsigned i = 0; i < 3; i++) {
        echo(NULL, "live data", 64, 77, NULL, &e);
        CU_ASSERT_EQUAL(e.code, PHX_OK);
        CU_ASSERT_EQUAL(e.len, 6);
        CU_ASSERT_EQUAL(memcmp(e.head, "cached", 6), 0);
        CU_ASSERT_EQUAL(e.seq, 3);
        CU_ASSERT_EQUAL(e.ratio, 0.25);
    }
}

static void test_reply_fields_client(void)
{
    static phx_test_run_result_t r;

    need_nodes();
    CU_ASSERT_EQUAL(call(ECHO), PHX_OK);                       /* the connection is up */
    CU_ASSERT_FATAL(attach_rules(reply_fields_rules, &r) == 0);
    long before = server_rx();
    check_cached_echo();
    CU_ASSERT_EQUAL(server_rx(), before);                      /* answered here */
    CU_ASSERT_EQUAL(call(SLEEP), PHX_OK);                      /* other methods pass */
    json_object *stats = acl_stats();
    CU_ASSERT_EQUAL(policy_json_path_int(stats, "tx.replied"), 3);
    CU_ASSERT_EQUAL(rule_hits(stats, 0), 3);
    json_object_put(stats);
    CU_ASSERT(policy_detach(&up.client_node, "acl", getpid()) == 0);
}

static void test_reply_fields_server(void)
{
    static phx_test_run_result_t r;

    need_nodes();
    CU_ASSERT_FATAL(attach_server_rules(reply_fields_rules, &r) == 0);
    check_cached_echo();
    json_object *stats = policy_stats(&up.server_node, "AclEngine", up.peer.pid);
    CU_ASSERT_EQUAL(policy_json_path_int(stats, "rx.replied"), 3);
    json_object_put(stats);
    CU_ASSERT(policy_detach(&up.server_node, "acl", up.peer.pid) == 0);
    struct echo_result e;
    echo(NULL, "live data", 64, 77, NULL, &e);                 /* the server echoes again */
    CU_ASSERT_EQUAL(e.code, PHX_OK);
    CU_ASSERT_EQUAL(e.seq, 77);
    CU_ASSERT_EQUAL(memcmp(e.head, "live data", 9), 0);
}

/* A reply rule on Echo whose one reply field is FIELD = VALUE (libconfig text), on line 3. */
static const char *reply_rule_with(const char *method, const char *field, const char *value)
{
    static char text[512];

    snprintf(text, sizeof(text),
             "rules = ( { name = \"r\"; action = \"reply\"; method = %s;\n"
             "  reply = (\n"
             "    { field = \"%s\"; value = %s; } ); } );\n", method, field, value);
    return text;
}

static void test_reply_fields_bad(void)
{
    static phx_test_run_result_t r;
    struct mrpc_sub sub;
    const char *echo_m = "\"mrpc_test.Echo/Echo\"";

    need_nodes();
    CU_ASSERT_EQUAL(call(ECHO), PHX_OK);                       /* the layouts are registered */
    expect_refused(attach_rules(reply_rule_with(echo_m, "mrpc_test.Blob.sq", "3"), &r), &r,
                   "config_string:3: rules[0].reply[0]: ",
                   "mrpc_test.Blob.sq is no field of the method's reply, a mrpc_test.Blob");
    expect_refused(attach_rules(reply_rule_with(echo_m, "mrpc_test.Blob.seq", "\"three\""), &r),
                   &r, "config_string:3: rules[0].reply[0]: ",
                   "does not suit mrpc_test.Blob.seq, which takes an integer from 0");
    expect_refused(attach_rules(reply_rule_with(echo_m, "mrpc_test.Blob.seq", "-1"), &r), &r,
                   "config_string:3: rules[0].reply[0]: ", "does not suit");
    expect_refused(attach_rules(reply_rule_with(echo_m, "mrpc_test.Blob.nodes", "\"x\""), &r),
                   &r, "config_string:3: rules[0].reply[0]: ", "repeated field");
    expect_refused(attach_rules(reply_rule_with(echo_m, "mrpc_test.Blob.seq", "( 1 )"), &r), &r,
                   "config_string:3: rules[0].reply[0]", "expected a number, true or false");
    expect_refused(attach_rules("rules = ( { name = \"r\"; action = \"deny\";\n"
                                "  method = \"mrpc_test.Echo/Echo\";\n"
                                "  reply = ( { field = \"mrpc_test.Blob.seq\"; value = 1; } );\n"
                                "} );",
                                &r), &r, "config_string:1: rules[0]", "needs action = \"reply\"");
    expect_refused(attach_rules("rules = ( { name = \"r\"; action = \"reply\";\n"
                                "  reply = ( { field = \"mrpc_test.Blob.seq\"; value = 1; } );\n"
                                "} );",
                                &r), &r, "config_string:1: rules[0]", "need the rule's method");
    CU_ASSERT(mrpc_ctl_find_sub(&up.client_node, getpid(), &sub) && sub.n_addons == 0);

    /* a live set with a bad value changes nothing: the good rule keeps answering */
    CU_ASSERT_FATAL(attach_rules(reply_fields_rules, &r) == 0);
    expect_refused(set_rules(reply_rule_with(echo_m, "mrpc_test.Blob.data", "7"), NULL, &r), &r,
                   "config_string:3: rules[0].reply[0]: ", "does not suit mrpc_test.Blob.data");
    check_cached_echo();
    CU_ASSERT(policy_detach(&up.client_node, "acl", getpid()) == 0);

    /* a method by its id only: its reply's type is not known when the rules are read, so the
     * bad value is found on the call, which fails with the rule's sentence, never a reply
     * without the value */
    char by_id[16];
    snprintf(by_id, sizeof(by_id), "%uL", MRPC_TEST__ECHO__ECHO__METHOD_ID);   /* 64-bit */
    CU_ASSERT_FATAL(attach_rules(reply_rule_with(by_id, "mrpc_test.Blob.seq", "\"three\""), &r)
                    == 0);
    struct echo_result e;
    echo(NULL, "live data", 64, 77, NULL, &e);
    CU_ASSERT_EQUAL(e.code, PHX_FAILED_PRECONDITION);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.message, "ACL rule 'r' cannot set its reply: the value does "
                                             "not suit mrpc_test.Blob.seq"));
    printf("(%s) ", e.message);
    CU_ASSERT(policy_detach(&up.client_node, "acl", getpid()) == 0);
}

static const phx_test_case_t cases[] = {
    { "a denied method gets PERMISSION_DENIED and never reaches the server", test_deny_method },
    { "the first matching rule decides; set turns the order live", test_first_match },
    { "uid and gid rules match the app's own credentials", test_caller },
    { "bad rules: one line with the line and the key, nothing changed", test_bad_rules },
    { "rules and hits survive a live upgrade", test_upgrade },
    { "field rules deny on the sender's side with the rule's sentence", test_fields_client },
    { "field rules deny on the receiver's side; the caller gets the sentence",
      test_fields_server },
    { "what the ACL checked is what is sent, whatever the app rewrites", test_checked_is_sent },
    { "field rules on an element of a repeated field, by index and any", test_fields_repeated },
    { "a reply rule answers the client's call itself; nothing reaches the server",
      test_reply_client },
    { "a reply rule on the server answers the remote caller; the server's app never runs",
      test_reply_server },
    { "a reply rule's fields reach the client's caller exactly as set", test_reply_fields_client },
    { "a reply rule's fields reach the remote caller from the server's side",
      test_reply_fields_server },
    { "bad reply fields: refused with the line and the key, nothing changed",
      test_reply_fields_bad },
    { NULL, NULL },
};

int main(int argc, char **argv)
{
    int rc = phx_test_main("acl", cases, argc, argv);

    return mrpc_setup_stop(&up) ? rc : 1;
}
