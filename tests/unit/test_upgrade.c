/* test_upgrade.c - live upgrade of the null plugin under running testpair subscriptions: 1.0.0
 * -> 2.0.0 in mid-stream carries the counts on (in three subscriptions at once), with channels
 * and queued descriptors untouched and the old build unmapped once unused; an incompatible 3.0.0,
 * a plugin that is not loaded and engine types without dump() are refused with the old build
 * still running. The test plays the runtime (sub->runtime is NULL), except in one case where
 * runtime threads drive the groups while they are upgraded. */
#include "phoenix/admin/addon_desc.h"
#include "graph.h"
#include "phoenix/log.h"
#include "phx_test.h"
#include "plugin_registry.h"
#include "runtime.h"
#include "splice.h"
#include "testpair_driver.h"
#include "upgrade.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STREAM    100000u
#define N_SUBS    3
#define MAX_TURNS 100000u

static struct phx_registry reg;
static struct phx_subscription *subs;      /* the service's list, through ->next */
static char msg[512];

/* N subscriptions of testpair, each with NullEngine attached and traffic under way. */
static void service_up(unsigned n, bool with_null)
{
    CU_ASSERT_EQUAL_FATAL(phx_registry_init(&reg, phx_test_tmpdir("upgrade")), 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(phx_registry_load(&reg, PHX_PLUGIN_TESTPAIR, msg, sizeof(msg)));
    CU_ASSERT_PTR_NOT_NULL_FATAL(phx_registry_load(&reg, PHX_PLUGIN_NULL, msg, sizeof(msg)));
    subs = NULL;
    for (unsigned i = 0; i < n; i++) {
        struct phx_subscription *sub = phx_subscription_create(&reg, "testpair", 7, i, NULL, msg,
                                                               sizeof(msg));
        CU_ASSERT_PTR_NOT_NULL_FATAL(sub);
        CU_ASSERT_EQUAL(tp_set_count(sub, STREAM), 0);
        sub->next = subs;
        subs = sub;
        if (!with_null)
            continue;
        char *text = phx_addon_desc_load_file(
            phx_test_source_path("tests/data/addon/attach_null.conf"), msg, sizeof(msg));
        struct phx_addon_desc d;
        CU_ASSERT_EQUAL_FATAL(phx_addon_desc_parse(text, "attach", &d, msg, sizeof(msg)), 0);
        CU_ASSERT_EQUAL(phx_splice(&reg, sub, &d, msg, sizeof(msg)), 0);
        phx_addon_desc_fini(&d);
        free(text);
        CU_ASSERT_TRUE(tp_run_until_received(sub, STREAM / 4, MAX_TURNS));
        tp_make_busy(sub);
    }
}

static void service_down(void)
{
    char dir[4096];

    snprintf(dir, sizeof(dir), "%s", reg.copy_dir);
    while (subs) {
        struct phx_subscription *next = subs->next;
        phx_subscription_destroy(subs);
        subs = next;
    }
    phx_registry_fini(&reg);
    phx_test_rmtree(dir);
}

static int upgrade_to(const char *path)
{
    const char *paths[] = {path};

    msg[0] = '\0';
    return phx_upgrade(&reg, subs, paths, 1, msg, sizeof(msg));
}

static const char *null_version(struct phx_subscription *sub, char *buf, size_t len)
{
    return tp_stat_string(phx_subscription_find(sub, "NullEngine"), "version", buf, len);
}

static void assert_complete(struct phx_subscription *s, uint64_t total)
{
    phx_engine_t *src = phx_subscription_find(s, "TestSourceEngine");
    phx_engine_t *sink = phx_subscription_find(s, "TestSinkEngine");

    CU_ASSERT_TRUE(tp_run_until_received(s, total, MAX_TURNS));
    CU_ASSERT_EQUAL(tp_stat(src, "received"), (long long)total);
    CU_ASSERT_EQUAL(tp_stat(src, "order_errors"), 0);
    CU_ASSERT_EQUAL(tp_stat(sink, "reflected"), (long long)total);
    CU_ASSERT_EQUAL(tp_stat(sink, "order_errors"), 0);
    CU_ASSERT_EQUAL(tp_queued(s), 0);
}

static void assert_all_complete(void)
{
    for (struct phx_subscription *s = subs; s; s = s->next)
        assert_complete(s, STREAM);
}

static void test_v1_to_v2_mid_stream(void)
{
    struct tp_snapshot before[N_SUBS], after;
    long long tx[N_SUBS], rx[N_SUBS];
    char version[32];
    unsigned i = 0;

    service_up(N_SUBS, true);
    char v1_copy[4096];
    snprintf(v1_copy, sizeof(v1_copy), "%s", phx_registry_find(&reg, "null")->loaded_path);
    CU_ASSERT_TRUE(phx_test_maps_contain(v1_copy));
    for (struct phx_subscription *s = subs; s; s = s->next, i++) {
        CU_ASSERT_STRING_EQUAL(null_version(s, version, sizeof(version)), "1.0.0");
        CU_ASSERT(tp_queued(s) > 0);
        tp_snapshot(s, &before[i]);
        tx[i] = tp_stat(phx_subscription_find(s, "NullEngine"), "tx");
        rx[i] = tp_stat(phx_subscription_find(s, "NullEngine"), "rx");
        CU_ASSERT(tx[i] > 0 && rx[i] > 0);
    }

    CU_ASSERT_EQUAL(upgrade_to(PHX_PLUGIN_NULL_V2), 0);
    CU_ASSERT_STRING_EQUAL(msg, "upgraded null 1.0.0 -> 2.0.0 (3 engines)");
    CU_ASSERT_STRING_EQUAL(phx_registry_find(&reg, "null")->desc->version, "2.0.0");
    CU_ASSERT_FALSE(phx_test_maps_contain(v1_copy));              /* unused now, so unloaded */

    i = 0;
    for (struct phx_subscription *s = subs; s; s = s->next, i++) {
        phx_engine_t *null = phx_subscription_find(s, "NullEngine");
        tp_snapshot(s, &after);                         /* same engines, channels, queues */
        CU_ASSERT_TRUE(tp_snapshot_equal(&before[i], &after));
        CU_ASSERT_STRING_EQUAL(null_version(s, version, sizeof(version)), "2.0.0");
        CU_ASSERT_EQUAL(tp_stat(null, "tx"), tx[i]);     /* the counts carried over */
        CU_ASSERT_EQUAL(tp_stat(null, "rx"), rx[i]);
        CU_ASSERT_EQUAL(tp_stat(null, "upgrades"), 1);
        CU_ASSERT_STRING_EQUAL(null->plugin->desc->version, "2.0.0");
    }
    assert_all_complete();
    i = 0;
    for (struct phx_subscription *s = subs; s; s = s->next, i++) {
        phx_engine_t *null = phx_subscription_find(s, "NullEngine");
        CU_ASSERT(tp_stat(null, "tx") > tx[i]);          /* cumulative: it counted on */
        CU_ASSERT(tp_stat(null, "tx") <= STREAM);
    }
    service_down();
}

static void assert_still_v1(void)
{
    char version[32];

    CU_ASSERT_STRING_EQUAL(phx_registry_find(&reg, "null")->desc->version, "1.0.0");
    for (struct phx_subscription *s = subs; s; s = s->next)
        CU_ASSERT_STRING_EQUAL(null_version(s, version, sizeof(version)), "1.0.0");
}

static void test_incompatible_refused(void)
{
    struct tp_snapshot before, after;

    service_up(2, true);
    tp_snapshot(subs, &before);
    long long tx = tp_stat(phx_subscription_find(subs, "NullEngine"), "tx");

    CU_ASSERT_EQUAL(upgrade_to(PHX_PLUGIN_NULL_V3_INCOMPATIBLE), -ENOTSUP);
    CU_ASSERT_STRING_EQUAL(msg, "cannot upgrade null 1.0.0 -> 3.0.0: NullEngine 3.0.0 cannot "
                                "read state version 1");
    assert_still_v1();
    tp_snapshot(subs, &after);
    CU_ASSERT_TRUE(tp_snapshot_equal(&before, &after));
    CU_ASSERT_EQUAL(tp_stat(phx_subscription_find(subs, "NullEngine"), "tx"), tx);
    CU_ASSERT_EQUAL(reg.plugins->next->next, NULL);      /* testpair and null: v3 is gone */
    assert_all_complete();

    /* After a good upgrade to 2.0.0, 3.0.0 refuses state version 2 as well. */
    CU_ASSERT_EQUAL(upgrade_to(PHX_PLUGIN_NULL_V2), 0);
    CU_ASSERT_EQUAL(upgrade_to(PHX_PLUGIN_NULL_V3_INCOMPATIBLE), -ENOTSUP);
    CU_ASSERT_STRING_EQUAL(msg, "cannot upgrade null 2.0.0 -> 3.0.0: NullEngine 3.0.0 cannot "
                                "read state version 2");
    CU_ASSERT_STRING_EQUAL(phx_registry_find(&reg, "null")->desc->version, "2.0.0");
    service_down();
}

static void test_not_loaded_refused(void)
{
    char expected[1024];

    CU_ASSERT_EQUAL_FATAL(phx_registry_init(&reg, phx_test_tmpdir("upgrade")), 0);
    subs = NULL;
    CU_ASSERT_EQUAL(upgrade_to(PHX_PLUGIN_NULL_V2), -ENOENT);
    snprintf(expected, sizeof(expected), "plugin %s: 'null' is not loaded, so there is nothing "
             "to upgrade", PHX_PLUGIN_NULL_V2);
    CU_ASSERT_STRING_EQUAL(msg, expected);
    CU_ASSERT_PTR_NULL(reg.plugins);
    CU_ASSERT_EQUAL(upgrade_to(PHX_PLUGIN_BAD_ABI), -EPROTO);
    CU_ASSERT_PTR_NOT_NULL(strstr(msg, "built for major ABI 7, this service speaks 2"));
    service_down();
}

static void test_stateless_type_refused(void)
{
    struct tp_snapshot before, after;

    service_up(1, false);
    CU_ASSERT_TRUE(tp_run_until_received(subs, 1000, MAX_TURNS));
    tp_make_busy(subs);
    tp_snapshot(subs, &before);
    CU_ASSERT_EQUAL(upgrade_to(PHX_PLUGIN_TESTPAIR), -ENOTSUP);
    CU_ASSERT_STRING_EQUAL(msg, "TestSourceEngine cannot carry its state over: the running build "
                                "has no dump()");
    tp_snapshot(subs, &after);
    CU_ASSERT_TRUE(tp_snapshot_equal(&before, &after));
    assert_all_complete();
    service_down();
}

static void test_upgrade_without_engines(void)
{
    service_up(1, false);
    char v1_copy[4096];
    snprintf(v1_copy, sizeof(v1_copy), "%s", phx_registry_find(&reg, "null")->loaded_path);
    CU_ASSERT_EQUAL(upgrade_to(PHX_PLUGIN_NULL_V2), 0);
    CU_ASSERT_STRING_EQUAL(msg, "upgraded null 1.0.0 -> 2.0.0 (0 engines)");
    CU_ASSERT_FALSE(phx_test_maps_contain(v1_copy));
    const char *two[] = {PHX_PLUGIN_NULL_V2, PHX_PLUGIN_NULL_V2};
    CU_ASSERT_EQUAL(phx_upgrade(&reg, subs, two, 2, msg, sizeof(msg)), -EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(msg, "'null' is upgraded twice in one request"));
    CU_ASSERT_EQUAL(phx_upgrade(&reg, subs, two, 0, msg, sizeof(msg)), -EINVAL);
    service_down();
}

/* Two runtime threads drive the subscriptions, whose sources send without end until the
 * upgrades are done; a refused upgrade and a good one happen in mid-stream. */
static void test_upgrade_under_running_runtimes(void)
{
    struct phx_runtime *rt[2];
    uint64_t total[N_SUBS];
    unsigned i = 0;

    service_up(N_SUBS, true);
    for (unsigned r = 0; r < 2; r++) {
        struct phx_runtime_params params = {.field_mask = PHX_RUNTIME_PARAM_FIELD_INDEX,
                                            .index = r};
        rt[r] = phx_runtime_start(&params, msg, sizeof(msg));
        CU_ASSERT_PTR_NOT_NULL_FATAL(rt[r]);
    }
    for (struct phx_subscription *s = subs; s; s = s->next, i++) {
        CU_ASSERT_EQUAL(tp_set_count(s, INT64_MAX), 0);
        CU_ASSERT_EQUAL(phx_runtime_add(rt[i % 2], s), 0);
    }
    CU_ASSERT_TRUE(tp_wait_received(subs, 2 * STREAM, 30000));
    CU_ASSERT_EQUAL(upgrade_to(PHX_PLUGIN_NULL_V3_INCOMPATIBLE), -ENOTSUP);
    CU_ASSERT_TRUE(tp_wait_received(subs, 3 * STREAM, 30000));
    CU_ASSERT_EQUAL(upgrade_to(PHX_PLUGIN_NULL_V2), 0);
    CU_ASSERT_STRING_EQUAL(msg, "upgraded null 1.0.0 -> 2.0.0 (3 engines)");
    CU_ASSERT_TRUE(tp_wait_received(subs, 4 * STREAM, 30000));
    i = 0;
    for (struct phx_subscription *s = subs; s; s = s->next, i++)
        total[i] = tp_stop_source(s);
    i = 0;
    for (struct phx_subscription *s = subs; s; s = s->next, i++) {
        CU_ASSERT_TRUE(tp_wait_received(s, total[i], 30000));
        CU_ASSERT_EQUAL(phx_runtime_remove(rt[i % 2], s), 0);
    }
    phx_runtime_stop(rt[0]);
    phx_runtime_stop(rt[1]);
    i = 0;
    for (struct phx_subscription *s = subs; s; s = s->next, i++) {
        assert_complete(s, total[i]);
        CU_ASSERT_EQUAL(tp_stat(phx_subscription_find(s, "NullEngine"), "upgrades"), 1);
    }
    service_down();
}

static const phx_test_case_t cases[] = {
    {"null 1.0.0 -> 2.0.0 in mid-stream", test_v1_to_v2_mid_stream},
    {"an incompatible build is refused", test_incompatible_refused},
    {"a plugin not loaded is refused", test_not_loaded_refused},
    {"engine types without dump() are refused", test_stateless_type_refused},
    {"upgrade of a plugin without engines", test_upgrade_without_engines},
    {"upgrade under running runtimes", test_upgrade_under_running_runtimes},
    {NULL, NULL},
};

int main(int argc, char **argv)
{
    phx_log_set_level(PHX_LOG_ERROR);
    return phx_test_main("upgrade", cases, argc, argv);
}
