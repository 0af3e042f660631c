/* test_splice.c - policy descriptors and splicing: a million descriptors cross a testpair
 * subscription while NullEngine is attached, detached and attached again in mid-stream, none
 * lost or reordered; bad descriptors of every kind are refused with their message, leave the
 * graph exactly as it was and traffic flowing; descriptor files with config_path are inlined by
 * the client helper. The test plays the runtime (sub->runtime is NULL), except in one case where
 * a runtime thread drives the group while it is spliced. */
#include "phoenix/admin/addon_desc.h"
#include "graph.h"
#include "phoenix/log.h"
#include "phx_test.h"
#include "plugin_registry.h"
#include "runtime.h"
#include "splice.h"
#include "testpair_driver.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BIG_STREAM   1000000u
#define SMALL_STREAM 200000u
#define MAX_TURNS    200000u     /* a turn moves at least 64 descriptors: plenty for a million */

static struct phx_registry reg;
static char err[512];

static struct phx_subscription *testpair_up(uint64_t count)
{
    CU_ASSERT_EQUAL_FATAL(phx_registry_init(&reg, phx_test_tmpdir("splice")), 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(phx_registry_load(&reg, PHX_PLUGIN_TESTPAIR, err, sizeof(err)));
    CU_ASSERT_PTR_NOT_NULL_FATAL(phx_registry_load(&reg, PHX_PLUGIN_NULL, err, sizeof(err)));
    struct phx_subscription *sub = phx_subscription_create(&reg, "testpair", 42, 0, NULL, err,
                                                           sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(sub);
    CU_ASSERT_EQUAL(tp_set_count(sub, count), 0);
    return sub;
}

static void testpair_down(struct phx_subscription *sub)
{
    char dir[4096];

    snprintf(dir, sizeof(dir), "%s", reg.copy_dir);
    phx_subscription_destroy(sub);
    phx_registry_fini(&reg);
    phx_test_rmtree(dir);
}

/* Parses and splices TEXT; 0 or the error of whichever refused it. */
static int splice_text(struct phx_subscription *sub, const char *text)
{
    struct phx_addon_desc d;
    int rc = phx_addon_desc_parse(text, "test.conf", &d, err, sizeof(err));

    if (rc)
        return rc;
    rc = phx_splice(&reg, sub, &d, err, sizeof(err));
    phx_addon_desc_fini(&d);
    return rc;
}

/* Splices the descriptor file tests/data/addon/NAME as the admin's client would send it. */
static int splice_file(struct phx_subscription *sub, const char *name)
{
    char rel[256];

    snprintf(rel, sizeof(rel), "tests/data/addon/%s", name);
    char *text = phx_addon_desc_load_file(phx_test_source_path(rel), err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    int rc = splice_text(sub, text);
    free(text);
    return rc;
}

static void assert_stream_complete(struct phx_subscription *sub, uint64_t n)
{
    phx_engine_t *src = phx_subscription_find(sub, "TestSourceEngine");
    phx_engine_t *sink = phx_subscription_find(sub, "TestSinkEngine");

    CU_ASSERT_TRUE(tp_run_until_received(sub, n, MAX_TURNS));
    CU_ASSERT_EQUAL(tp_stat(src, "sent"), (long long)n);
    CU_ASSERT_EQUAL(tp_stat(src, "received"), (long long)n);
    CU_ASSERT_EQUAL(tp_stat(src, "order_errors"), 0);       /* rx order */
    CU_ASSERT_EQUAL(tp_stat(sink, "reflected"), (long long)n);
    CU_ASSERT_EQUAL(tp_stat(sink, "order_errors"), 0);      /* tx order */
    CU_ASSERT_EQUAL(tp_queued(sub), 0);
}

/* ---- the million ----------------------------------------------------------------------------- */

static void assert_chain(struct phx_subscription *sub, const char *const *types, unsigned n)
{
    CU_ASSERT_EQUAL_FATAL(sub->n_engines, n);
    for (unsigned i = 0; i < n; i++)
        CU_ASSERT_STRING_EQUAL(sub->engines[i]->ops->type, types[i]);
}

static const char *const with_null[] = {"TestSourceEngine", "NullEngine", "TestSinkEngine"};
static const char *const without_null[] = {"TestSourceEngine", "TestSinkEngine"};

/* Returns what the sink had reflected and the source received when NullEngine came in: from
 * then on every descriptor must cross it. */
static void attach_mid_stream(struct phx_subscription *sub, uint64_t at, long long *reflected,
                              long long *received)
{
    CU_ASSERT_TRUE(tp_run_until_received(sub, at, MAX_TURNS));
    tp_make_busy(sub);
    CU_ASSERT(tp_queued(sub) > 0);
    unsigned queued = tp_queued(sub);
    *reflected = tp_stat(phx_subscription_find(sub, "TestSinkEngine"), "reflected");
    *received = tp_stat(phx_subscription_find(sub, "TestSourceEngine"), "received");
    CU_ASSERT_EQUAL(splice_file(sub, "attach_null.conf"), 0);
    assert_chain(sub, with_null, 3);
    CU_ASSERT_EQUAL(tp_queued(sub), queued);                 /* moved, none dropped */
    CU_ASSERT_TRUE(sub->engines[1]->addon);
}

static void detach_mid_stream(struct phx_subscription *sub, uint64_t at)
{
    CU_ASSERT_TRUE(tp_run_until_received(sub, at, MAX_TURNS));
    tp_make_busy(sub);
    phx_engine_t *null = phx_subscription_find(sub, "NullEngine");
    /* What NullEngine already forwarded must be merged in front of what waits for it. */
    CU_ASSERT(phx_chan_count(null->out[PHX_TX][0]) > 0);
    CU_ASSERT(phx_chan_count(null->in[PHX_TX][0]) > 0);
    CU_ASSERT(phx_chan_count(null->in[PHX_RX][0]) > 0);
    unsigned queued = tp_queued(sub);
    CU_ASSERT_EQUAL(splice_file(sub, "detach_null.conf"), 0);
    assert_chain(sub, without_null, 2);
    CU_ASSERT_EQUAL(tp_queued(sub), queued);
}

static void test_million_through_splices(void)
{
    struct phx_subscription *sub = testpair_up(BIG_STREAM);
    unsigned long long t0 = phx_test_now_ns();
    long long reflected, received;

    attach_mid_stream(sub, BIG_STREAM / 4, &reflected, &received);
    detach_mid_stream(sub, BIG_STREAM / 2);
    attach_mid_stream(sub, 3 * (BIG_STREAM / 4), &reflected, &received);
    phx_engine_t *null = phx_subscription_find(sub, "NullEngine");
    assert_stream_complete(sub, BIG_STREAM);
    CU_ASSERT_EQUAL(tp_stat(null, "tx"), BIG_STREAM - reflected);
    CU_ASSERT_EQUAL(tp_stat(null, "rx"), BIG_STREAM - received);
    printf("(%.2f s) ", (double)(phx_test_now_ns() - t0) / 1e9);
    testpair_down(sub);
}

/* The source sends without end until the splices are done, so each one lands in mid-stream. */
static void test_splices_under_a_running_runtime(void)
{
    struct phx_subscription *sub = testpair_up(INT64_MAX);
    struct phx_runtime_params params = {.field_mask = 0};
    struct phx_runtime *rt = phx_runtime_start(&params, err, sizeof(err));

    CU_ASSERT_PTR_NOT_NULL_FATAL(rt);
    CU_ASSERT_EQUAL_FATAL(phx_runtime_add(rt, sub), 0);
    for (unsigned round = 1; round <= 6; round++) {
        CU_ASSERT_TRUE(tp_wait_received(sub, round * 20000u, 30000));
        CU_ASSERT_EQUAL(splice_file(sub, round % 2 ? "attach_null.conf" : "detach_null.conf"), 0);
        assert_chain(sub, round % 2 ? with_null : without_null, round % 2 ? 3 : 2);
    }
    uint64_t total = tp_stop_source(sub);
    CU_ASSERT_TRUE(tp_wait_received(sub, total, 30000));
    CU_ASSERT_EQUAL(phx_runtime_remove(rt, sub), 0);
    phx_runtime_stop(rt);
    assert_stream_complete(sub, total);
    testpair_down(sub);
}

/* ---- refusals -------------------------------------------------------------------------------- */

/* TEXT must be refused with a message containing EXPECTED, change nothing, and the stream must
 * go on afterwards. */
static void assert_refused_now(struct phx_subscription *sub, const char *text,
                               const char *expected)
{
    struct tp_snapshot before, after;
    phx_engine_t *src = phx_subscription_find(sub, "TestSourceEngine");

    tp_snapshot(sub, &before);
    err[0] = '\0';
    CU_ASSERT_NOT_EQUAL(splice_text(sub, text), 0);
    if (!strstr(err, expected))
        fprintf(stderr, "\n  expected \"%s\"\n  got      \"%s\"\n", expected, err);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, expected));
    CU_ASSERT_PTR_NULL(strchr(err, '\n'));                   /* one line */
    tp_snapshot(sub, &after);
    CU_ASSERT_TRUE(tp_snapshot_equal(&before, &after));
    long long received = tp_stat(src, "received");
    CU_ASSERT_TRUE(tp_run_until_received(sub, (uint64_t)received + 1000, 1000));
}

/* The same, with descriptors queued in the channels as a running group would have them. */
static void assert_refused(struct phx_subscription *sub, const char *text, const char *expected)
{
    tp_make_busy(sub);
    assert_refused_now(sub, text, expected);
}

#define ATTACH_NULL_HEAD "addon_engine = \"NullEngine\"; op = \"attach\";\n"
#define BOTH_GROUP       "group = [\"TestSourceEngine\", \"TestSinkEngine\"];\n"
#define RX_VIA_NULL \
    "rx_channels_replacements = ((\"TestSinkEngine\", \"NullEngine\", 0, 0), " \
    "(\"NullEngine\", \"TestSourceEngine\", 0, 0));\n"
#define TX_VIA_NULL \
    "tx_channels_replacements = ((\"TestSourceEngine\", \"NullEngine\", 0, 0), " \
    "(\"NullEngine\", \"TestSinkEngine\", 0, 0));\n"

static void test_refusals_on_the_default_chain(void)
{
    struct phx_subscription *sub = testpair_up(SMALL_STREAM);
    CU_ASSERT_TRUE(tp_run_until_received(sub, 1000, 1000));

    assert_refused(sub, "addon_engine = \"FooEngine\"; op = \"attach\";" BOTH_GROUP,
                   "unknown engine type 'FooEngine'");
    assert_refused(sub, "addon_engine = \"TestSinkEngine\"; op = \"attach\";" BOTH_GROUP,
                   "duplicate engine name: TestSinkEngine is already in the subscription");
    assert_refused(sub, ATTACH_NULL_HEAD BOTH_GROUP RX_VIA_NULL
                   "tx_channels_replacements = ((\"TestSourceEngine\", \"NullEngine\", 0, 0),"
                   " (\"NullEngine\", \"TestSinkEngine\", 1, 0));",
                   "port 1 out of range: NullEngine has 1 tx out port");
    assert_refused(sub, ATTACH_NULL_HEAD BOTH_GROUP TX_VIA_NULL,
                   "dangling channel: NullEngine rx in port 0 would be unconnected");
    assert_refused(sub, "addon_engine = \"TestTwoPortEngine\"; op = \"attach\";" BOTH_GROUP
                   "tx_channels_replacements = ((\"TestSourceEngine\", \"TestTwoPortEngine\", 0,"
                   " 1), (\"TestTwoPortEngine\", \"TestSinkEngine\", 1, 0));"
                   "rx_channels_replacements = ((\"TestSinkEngine\", \"TestTwoPortEngine\", 0, 1),"
                   " (\"TestTwoPortEngine\", \"TestSourceEngine\", 1, 0));",
                   "gaps in ports: TestTwoPortEngine tx in port 0 would be unconnected while "
                   "port 1 is connected");
    assert_refused(sub, ATTACH_NULL_HEAD TX_VIA_NULL RX_VIA_NULL
                   "group = [\"TestSourceEngine\", \"MrpcEngine\"];",
                   "wrong group: [TestSourceEngine, MrpcEngine], but the other engines of the "
                   "subscription are [TestSourceEngine, TestSinkEngine]");
    assert_refused(sub, "addon_engine = \"NullEngine\"; op = \"detach\";",
                   "cannot detach NullEngine: it is not in the subscription");
    assert_refused(sub, "addon_engine = \"TestSinkEngine\"; op = \"detach\";",
                   "cannot detach TestSinkEngine: it is part of the testpair service's default "
                   "chain");
    assert_refused(sub, "addon_engine = \"NullEngine\";\nop = \"remove\";",
                   "test.conf:2: op: must be \"attach\" or \"detach\"");
    assert_refused(sub, "addon_engine = \"NullEngine\";\nop = ;", "test.conf:2: syntax error");
    assert_refused(sub, "op = \"attach\";" BOTH_GROUP, "test.conf: missing key addon_engine");
    assert_refused(sub, ATTACH_NULL_HEAD TX_VIA_NULL RX_VIA_NULL,
                   "test.conf: missing key group");
    assert_refused(sub, ATTACH_NULL_HEAD BOTH_GROUP RX_VIA_NULL
                   "tx_channel_replacements = ();",
                   "test.conf:4: tx_channel_replacements: unknown key");
    assert_refused(sub, ATTACH_NULL_HEAD BOTH_GROUP RX_VIA_NULL
                   "tx_channels_replacements = ((\"TestSourceEngine\", \"Ghost\", 0, 0));",
                   "tx_channels_replacements: unknown engine Ghost");
    assert_refused(sub, ATTACH_NULL_HEAD BOTH_GROUP RX_VIA_NULL
                   "tx_channels_replacements = ((\"TestSourceEngine\", \"NullEngine\", 0, 0), "
                   "(\"NullEngine\", \"TestSinkEngine\", 0, 0), "
                   "(\"TestSourceEngine\", \"TestSinkEngine\", 0, 0));",
                   "TestSourceEngine tx out port 0 would be connected 2 times");
    assert_refused(sub, ATTACH_NULL_HEAD BOTH_GROUP RX_VIA_NULL
                   "tx_channels_replacements = ((\"NullEngine\", \"NullEngine\", 0, 0));",
                   "tx_channels_replacements: NullEngine cannot feed itself");
    assert_refused(sub, ATTACH_NULL_HEAD BOTH_GROUP TX_VIA_NULL RX_VIA_NULL
                   "tx_channels_replacements = ();",
                   "test.conf:5: duplicate setting name");
    assert_refused(sub, ATTACH_NULL_HEAD BOTH_GROUP TX_VIA_NULL RX_VIA_NULL
                   "\nconfig_path = \"/etc/shadow\";",
                   "test.conf:6: config_path: files are read by the admin's client");
    assert_refused(sub, "@include \"/etc/passwd\"\n" ATTACH_NULL_HEAD,
                   "test.conf:1: @include: not allowed in a descriptor");
    assert_refused(sub, "addon_engine = \"Null\\nEngine\"; op = \"attach\";" BOTH_GROUP,
                   "test.conf:1: addon_engine: engine name must be 1 to 63 printable characters "
                   "without blanks");
    assert_refused(sub, ATTACH_NULL_HEAD BOTH_GROUP RX_VIA_NULL
                   "tx_channels_replacements = ((\"TestSourceEngine\", \"NullEngine\", 0, -1));",
                   "tx_channels_replacements[0]: port -1 out of range 0..3");
    /* NullEngine's config_string goes through its settings schema (settings.h) */
    assert_refused(sub, ATTACH_NULL_HEAD BOTH_GROUP TX_VIA_NULL RX_VIA_NULL
                   "config_string = \"batch = 0;\";",
                   "cannot create NullEngine: config_string:1: batch: must be between 1 and 4096 "
                   "(got 0)");
    assert_refused(sub, ATTACH_NULL_HEAD BOTH_GROUP TX_VIA_NULL RX_VIA_NULL
                   "config_string = \"\\nbathc = 8;\";",
                   "config_string:2: unknown key 'bathc' (did you mean 'batch'?)");
    assert_refused(sub, ATTACH_NULL_HEAD BOTH_GROUP TX_VIA_NULL RX_VIA_NULL
                   "config_string = \"batch = \\\"8\\\";\";",
                   "config_string:1: batch: expected an integer, got a string");
    assert_refused(sub, ATTACH_NULL_HEAD BOTH_GROUP TX_VIA_NULL RX_VIA_NULL
                   "config_string = \"batch = ;\";",
                   "config_string:1: syntax error (libconfig: ");
    assert_stream_complete(sub, SMALL_STREAM);
    testpair_down(sub);
}

#define DETACH_NULL_HEAD "addon_engine = \"NullEngine\"; op = \"detach\";\n"

static void test_refusals_around_an_addon(void)
{
    struct phx_subscription *sub = testpair_up(SMALL_STREAM);
    char expected[256];

    CU_ASSERT_EQUAL(splice_file(sub, "attach_null.conf"), 0);
    CU_ASSERT_TRUE(tp_run_until_received(sub, 1000, 1000));

    /* Descriptors wait in NullEngine -> TestSourceEngine, and no rx replacement takes them on. */
    tp_make_busy(sub);
    phx_engine_t *null = phx_subscription_find(sub, "NullEngine");
    unsigned held = phx_chan_count(null->out[PHX_RX][0]);
    CU_ASSERT(held > 0);
    snprintf(expected, sizeof(expected), "rx channel NullEngine->TestSourceEngine holds %u "
             "descriptors and the descriptor leaves them nowhere to go", held);
    assert_refused_now(sub, DETACH_NULL_HEAD
                   "tx_channels_replacements = ((\"TestSourceEngine\", \"TestSinkEngine\", 0, 0));",
                   expected);

    /* The same with nothing queued on the rx side: a port would still be left unconnected. */
    CU_ASSERT_TRUE(tp_run_until_received(sub, SMALL_STREAM / 2, MAX_TURNS));
    for (int i = 0; i < 100 && (phx_chan_count(null->out[PHX_RX][0]) ||
                                phx_chan_count(null->in[PHX_RX][0])); i++) {
        tp_progress(sub, "TestSourceEngine", 1);
        tp_progress(sub, "NullEngine", 1);
    }
    CU_ASSERT_EQUAL(phx_chan_count(null->out[PHX_RX][0]), 0);
    struct tp_snapshot before, after;
    tp_snapshot(sub, &before);
    CU_ASSERT_NOT_EQUAL(splice_text(sub, DETACH_NULL_HEAD "tx_channels_replacements = "
                                         "((\"TestSourceEngine\", \"TestSinkEngine\", 0, 0));"),
                        0);
    CU_ASSERT_STRING_EQUAL(err, "dangling channel: TestSourceEngine rx in port 0 would be "
                                "unconnected");
    tp_snapshot(sub, &after);
    CU_ASSERT_TRUE(tp_snapshot_equal(&before, &after));

    assert_refused(sub, DETACH_NULL_HEAD
                   "tx_channels_replacements = ((\"NullEngine\", \"TestSinkEngine\", 0, 0));",
                   "tx_channels_replacements: NullEngine is being detached and cannot keep a "
                   "channel");
    assert_refused(sub, DETACH_NULL_HEAD "group = [\"TestSourceEngine\"];",
                   "wrong group: [TestSourceEngine], but the other engines of the subscription "
                   "are [TestSourceEngine, TestSinkEngine]");
    assert_refused(sub, ATTACH_NULL_HEAD BOTH_GROUP TX_VIA_NULL RX_VIA_NULL,
                   "duplicate engine name: NullEngine is already in the subscription");
    CU_ASSERT_EQUAL(splice_file(sub, "detach_null.conf"), 0);
    assert_stream_complete(sub, SMALL_STREAM);
    testpair_down(sub);
}

/* ---- descriptor files ------------------------------------------------------------------------- */

static void test_config_path_is_inlined(void)
{
    struct phx_addon_desc d;
    char *text = phx_addon_desc_load_file(
        phx_test_source_path("tests/data/addon/attach_null_config_path.conf"), err, sizeof(err));

    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    CU_ASSERT_PTR_NULL(strstr(text, "config_path"));
    CU_ASSERT_EQUAL_FATAL(phx_addon_desc_parse(text, "sent", &d, err, sizeof(err)), 0);
    CU_ASSERT_EQUAL(d.op, PHX_ADDON_ATTACH);
    CU_ASSERT_STRING_EQUAL(d.engine, "NullEngine");
    CU_ASSERT_EQUAL(d.n_edges[PHX_TX], 2);
    CU_ASSERT_EQUAL(d.n_edges[PHX_RX], 2);
    CU_ASSERT_STRING_EQUAL(d.edges[PHX_RX][1].from, "NullEngine");
    CU_ASSERT_STRING_EQUAL(d.edges[PHX_RX][1].to, "TestSourceEngine");
    CU_ASSERT_TRUE(d.has_group);
    CU_ASSERT_EQUAL(d.n_group, 2);
    CU_ASSERT_STRING_EQUAL(d.config, "batch = 128;\n");
    phx_addon_desc_fini(&d);
    free(text);
}

static void test_descriptor_file_errors(void)
{
    const char *dir = phx_test_tmpdir("addon");
    char path[4096];

    CU_ASSERT_PTR_NULL(phx_addon_desc_load_file("/nonexistent/attach.conf", err, sizeof(err)));
    CU_ASSERT_STRING_EQUAL(err, "/nonexistent/attach.conf: cannot read: No such file or "
                                "directory");
    snprintf(path, sizeof(path), "%s", phx_test_write_file(dir, "a.conf",
             ATTACH_NULL_HEAD BOTH_GROUP "config_path = \"missing.cfg\";\n"));
    CU_ASSERT_PTR_NULL(phx_addon_desc_load_file(path, err, sizeof(err)));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, ":3: config_path: cannot read "));
    snprintf(path, sizeof(path), "%s", phx_test_write_file(dir, "b.conf",
             ATTACH_NULL_HEAD BOTH_GROUP "config_path = \"x\";\nconfig_string = \"\";\n"));
    CU_ASSERT_PTR_NULL(phx_addon_desc_load_file(path, err, sizeof(err)));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "config_path: give config_string or config_path, not "
                                       "both"));
    snprintf(path, sizeof(path), "%s", phx_test_write_file(dir, "c.conf",
             ATTACH_NULL_HEAD "group = 3;\n"));
    CU_ASSERT_PTR_NULL(phx_addon_desc_load_file(path, err, sizeof(err)));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "c.conf:2: group: expected a list of engine names"));
    phx_test_rmtree(dir);
}

static void test_detach_without_group_and_empty_lists(void)
{
    struct phx_addon_desc d;

    CU_ASSERT_EQUAL_FATAL(phx_addon_desc_parse(DETACH_NULL_HEAD "rx_channels_replacements = [];"
                                               "tx_channels_replacements = ();",
                                               "t", &d, err, sizeof(err)), 0);
    CU_ASSERT_EQUAL(d.op, PHX_ADDON_DETACH);
    CU_ASSERT_FALSE(d.has_group);
    CU_ASSERT_EQUAL(d.n_edges[PHX_TX] + d.n_edges[PHX_RX], 0);
    CU_ASSERT_PTR_NULL(d.config);
    phx_addon_desc_fini(&d);
}

static const phx_test_case_t cases[] = {
    {"a million descriptors through attach, detach, attach", test_million_through_splices},
    {"splices under a running runtime", test_splices_under_a_running_runtime},
    {"bad descriptors on the default chain are refused", test_refusals_on_the_default_chain},
    {"bad descriptors around an addon are refused", test_refusals_around_an_addon},
    {"config_path is inlined by the client", test_config_path_is_inlined},
    {"descriptor file errors", test_descriptor_file_errors},
    {"detach needs no group; empty lists and arrays", test_detach_without_group_and_empty_lists},
    {NULL, NULL},
};

int main(int argc, char **argv)
{
    phx_log_set_level(PHX_LOG_WARN);
    return phx_test_main("splice", cases, argc, argv);
}
