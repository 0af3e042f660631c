/* test_registry.c - plugin loading and the objects built from plugins: every refusal with its
 * message (each followed by a valid load that must still work), private copies that leave no
 * file behind, supersede/pin/unpin unloading an old build only once unused, engines and
 * subscriptions with their default chain, and rollback when a chain cannot be built. ABI growth:
 * a plugin built against a shorter ops table loads and runs with the missing ops NULL; another
 * major ABI or build signature is refused with a sentence saying what differs. */
#include "graph.h"
#include "plugin_registry.h"
#include "phx_test.h"
#include "testpair_driver.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct phx_registry reg;
static char err[512];

static void registry_up(void)
{
    CU_ASSERT_EQUAL_FATAL(phx_registry_init(&reg, phx_test_tmpdir("registry")), 0);
    err[0] = '\0';
}

static void registry_down(void)
{
    char dir[4096];

    snprintf(dir, sizeof(dir), "%s", reg.copy_dir);
    phx_registry_fini(&reg);
    phx_test_rmtree(dir);
}

/* A refused load leaves the registry usable: the next valid plugin loads. */
static void assert_refused_then_valid_loads(const char *path, const char *expected_err)
{
    char expected[1024];

    snprintf(expected, sizeof(expected), "plugin %s: %s", path, expected_err);
    errno = 0;
    CU_ASSERT_PTR_NULL(phx_registry_load(&reg, path, err, sizeof(err)));
    CU_ASSERT_NOT_EQUAL(errno, 0);
    CU_ASSERT_STRING_EQUAL(err, expected);
    CU_ASSERT_PTR_NOT_NULL(phx_registry_load(&reg, PHX_PLUGIN_TESTPAIR, err, sizeof(err)));
    CU_ASSERT_PTR_NOT_NULL(phx_registry_service(&reg, "testpair"));
}

static void test_load_null(void)
{
    registry_up();
    struct phx_plugin *p = phx_registry_load(&reg, PHX_PLUGIN_NULL, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT_STRING_EQUAL(p->desc->name, "null");
    CU_ASSERT_STRING_EQUAL(p->desc->version, "1.0.0");
    CU_ASSERT_TRUE(p->current);
    CU_ASSERT_PTR_EQUAL(phx_registry_find(&reg, "null"), p);
    CU_ASSERT_PTR_NULL(phx_registry_find(&reg, "nothing"));

    struct phx_plugin *owner = NULL;
    const phx_engine_ops_t *ops = phx_registry_engine_type(&reg, "NullEngine", &owner);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ops);
    CU_ASSERT_PTR_EQUAL(owner, p);
    CU_ASSERT_EQUAL(ops->ports[PHX_TX].in, 1);
    CU_ASSERT_PTR_NULL(phx_registry_engine_type(&reg, "NoEngine", NULL));
    CU_ASSERT_PTR_NULL(phx_registry_service(&reg, "testpair"));
    registry_down();
}

static void test_private_copy_leaves_no_file(void)
{
    registry_up();
    struct phx_plugin *p = phx_registry_load(&reg, PHX_PLUGIN_NULL, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT_STRING_EQUAL(p->path, PHX_PLUGIN_NULL);
    CU_ASSERT_EQUAL(strncmp(p->loaded_path, reg.copy_dir, strlen(reg.copy_dir)), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(p->loaded_path, "libphoenix_null."));
    CU_ASSERT_NOT_EQUAL(access(p->loaded_path, F_OK), 0);      /* unlinked after dlopen */
    CU_ASSERT_TRUE(phx_test_maps_contain(p->loaded_path));              /* but mapped */
    registry_down();
}

static void test_refuse_missing_file(void)
{
    registry_up();
    assert_refused_then_valid_loads("/nonexistent/libnope.so",
                                    "cannot open: No such file or directory (at /nonexistent)");
    registry_down();
}

static void test_refuse_not_elf(void)
{
    registry_up();
    phx_config_t cfg;           /* the file sits under /tmp: vouch for its directory */
    CU_ASSERT_EQUAL_FATAL(phx_config_init_defaults(&cfg), 0);
    free(cfg.plugin_trusted_dirs);
    cfg.plugin_trusted_dirs = strdup(reg.copy_dir);
    phx_registry_set_config(&reg, &cfg);
    const char *path = phx_test_write_file(reg.copy_dir, "libtext.so", "not an ELF file\n");
    char expected_prefix[1024];
    snprintf(expected_prefix, sizeof(expected_prefix), "plugin %s: cannot open: ", path);
    CU_ASSERT_PTR_NULL(phx_registry_load(&reg, path, err, sizeof(err)));
    CU_ASSERT_EQUAL(strncmp(err, expected_prefix, strlen(expected_prefix)), 0);
    CU_ASSERT(strlen(err) > strlen(expected_prefix));          /* dlerror's reason follows */
    CU_ASSERT_PTR_NOT_NULL(phx_registry_load(&reg, PHX_PLUGIN_NULL, err, sizeof(err)));
    registry_down();
    phx_config_free(&cfg);
}

static void test_refuse_no_symbol(void)
{
    registry_up();
    assert_refused_then_valid_loads(PHX_PLUGIN_BAD_NOSYM,
                                    "no symbol phx_plugin_descriptor (not a Phoenix plugin?)");
    registry_down();
}

static void test_refuse_abi_version(void)
{
    registry_up();
    assert_refused_then_valid_loads(PHX_PLUGIN_BAD_ABI, "built for major ABI 7, this service "
                                    "speaks 2: it needs a newer service");
    registry_down();
}

/* The descriptor of ABI 1 had abi_version where ABI 2 has abi_major: refused by that alone. */
static void test_refuse_old_major_abi(void)
{
    registry_up();
    assert_refused_then_valid_loads(PHX_PLUGIN_BAD_OLDABI, "built for major ABI 1, this service "
                                    "speaks 2: rebuild it against this service's "
                                    "phoenix/engine.h");
    registry_down();
}

/* Sizes that cut through a pointer are refused before anything behind them is read. */
static void test_refuse_cut_sizes(void)
{
    registry_up();
    char want[256];

    snprintf(want, sizeof(want), "engine ops tables of %zu bytes, which no build of ABI %d has",
             offsetof(phx_engine_ops_t, destroy) + 4, PHX_ABI_MAJOR);
    assert_refused_then_valid_loads(PHX_PLUGIN_BAD_CUTOPS, want);
    registry_down();
    registry_up();
    snprintf(want, sizeof(want), "its descriptor claims %zu bytes, which no build of ABI %d "
             "writes", sizeof(phx_plugin_desc_t) - 4, PHX_ABI_MAJOR);
    assert_refused_then_valid_loads(PHX_PLUGIN_BAD_CUTDESC, want);
    registry_down();
}

/* Built with -fshort-enums: the signature names the property that differs. */
static void test_refuse_build_signature(void)
{
    registry_up();
    assert_refused_then_valid_loads(PHX_PLUGIN_BAD_SIGNATURE, "built with another build "
                                    "signature (enum size is 1 in the plugin and 4 here); "
                                    "rebuild it with this service's compiler "
                                    "options");
    CU_ASSERT_PTR_NULL(phx_registry_find(&reg, "shortenums"));
    registry_down();
}

/* Built against ABI 2.1 (one more op, one more descriptor field): loaded when what this service
 * does not know is zero, refused when the plugin sets it. */
static void test_newer_minor_loads_only_if_its_news_are_unset(void)
{
    registry_up();
    struct phx_plugin *p = phx_registry_load(&reg, PHX_PLUGIN_LONG_ZERO, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT_EQUAL(p->desc->abi_minor, PHX_ABI_MINOR + 1);
    CU_ASSERT(p->desc->ops_size > sizeof(phx_engine_ops_t));
    const phx_engine_ops_t *ops = phx_registry_engine_type(&reg, "LongZeroEngine", NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ops);
    CU_ASSERT_EQUAL(ops->ports[PHX_TX].out, 1);
    CU_ASSERT_PTR_NOT_NULL(ops->progress);

    char expected[256];
    snprintf(expected, sizeof(expected), "an engine type provides ops that this service does "
             "not know (built for ABI %d.%d, this service speaks %d.%d): it needs a newer "
             "service", PHX_ABI_MAJOR, PHX_ABI_MINOR + 1, PHX_ABI_MAJOR, PHX_ABI_MINOR);
    assert_refused_then_valid_loads(PHX_PLUGIN_LONG_USED, expected);
    CU_ASSERT_PTR_NULL(phx_registry_engine_type(&reg, "LongUsedEngine", NULL));
    registry_down();
}

/* A plugin whose ops table ends at disarm(): loaded, the ops it lacks are NULL, and its engine,
 * between testpair's source and sink, moves every descriptor both ways. */
static void test_shorter_ops_table_loads_and_runs(void)
{
    registry_up();
    CU_ASSERT_PTR_NOT_NULL_FATAL(phx_registry_load(&reg, PHX_PLUGIN_TESTPAIR, err, sizeof(err)));
    struct phx_plugin *sp = phx_registry_load(&reg, PHX_PLUGIN_SHORT, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(sp);
    CU_ASSERT_EQUAL(sp->desc->ops_size, offsetof(phx_engine_ops_t, flush));
    CU_ASSERT(sp->desc->ops_size < sizeof(phx_engine_ops_t));

    const phx_engine_ops_t *ops = phx_registry_engine_type(&reg, "ShortForwardEngine", NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ops);
    CU_ASSERT_PTR_NOT_NULL(ops->progress);
    CU_ASSERT_PTR_NOT_NULL(ops->destroy);
    CU_ASSERT_EQUAL(ops->ports[PHX_RX].out, 1);
    CU_ASSERT_PTR_NULL(ops->flush);
    CU_ASSERT_PTR_NULL(ops->dump);
    CU_ASSERT_PTR_NULL(ops->restore);
    CU_ASSERT_PTR_NULL(ops->reconfigure);
    CU_ASSERT_PTR_NULL(ops->admin);

    struct phx_subscription *sub = phx_subscription_create(&reg, "shortpair", 1, 0, NULL, err,
                                                           sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(sub);
    CU_ASSERT_EQUAL_FATAL(sub->n_engines, 3);
    CU_ASSERT_EQUAL(sp->live, 1);
    CU_ASSERT_EQUAL(tp_set_count(sub, 500), 0);
    CU_ASSERT(tp_run_until_received(sub, 500, 10000));
    CU_ASSERT_EQUAL(tp_stat_of(sub, "TestSourceEngine", "received"), 500);
    CU_ASSERT_EQUAL(tp_stat_of(sub, "TestSourceEngine", "order_errors"), 0);
    CU_ASSERT_EQUAL(tp_stat_of(sub, "TestSinkEngine", "reflected"), 500);
    phx_subscription_destroy(sub);
    CU_ASSERT_EQUAL(sp->live, 0);
    registry_down();
}

static void test_refuse_duplicate_type(void)
{
    registry_up();
    CU_ASSERT_PTR_NOT_NULL_FATAL(phx_registry_load(&reg, PHX_PLUGIN_NULL, err, sizeof(err)));
    assert_refused_then_valid_loads(PHX_PLUGIN_BAD_DUP,
                                    "engine type NullEngine already provided by plugin 'null'");
    struct phx_plugin *owner = NULL;
    CU_ASSERT_PTR_NOT_NULL(phx_registry_engine_type(&reg, "NullEngine", &owner));
    CU_ASSERT_STRING_EQUAL(owner->desc->name, "null");
    registry_down();
}

static void test_refuse_missing_progress(void)
{
    registry_up();
    assert_refused_then_valid_loads(PHX_PLUGIN_BAD_NOPROGRESS,
                                    "engine type LazyEngine lacks create, progress or destroy");
    registry_down();
}

static void test_refuse_second_load_of_a_name(void)
{
    registry_up();
    CU_ASSERT_PTR_NOT_NULL_FATAL(phx_registry_load(&reg, PHX_PLUGIN_NULL, err, sizeof(err)));
    assert_refused_then_valid_loads(PHX_PLUGIN_NULL_V2,
                                    "plugin 'null' is already loaded (version 1.0.0); upgrade it");
    CU_ASSERT_STRING_EQUAL(phx_registry_find(&reg, "null")->desc->version, "1.0.0");
    registry_down();
}

static void test_open_is_not_current(void)
{
    registry_up();
    struct phx_plugin *v1 = phx_registry_load(&reg, PHX_PLUGIN_NULL, err, sizeof(err));
    struct phx_plugin *cand = phx_registry_open(&reg, PHX_PLUGIN_NULL_V2, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(cand);
    CU_ASSERT_FALSE(cand->current);
    CU_ASSERT_PTR_EQUAL(phx_registry_find(&reg, "null"), v1);
    char copy[4096];
    snprintf(copy, sizeof(copy), "%s", cand->loaded_path);
    CU_ASSERT_TRUE(phx_test_maps_contain(copy));
    phx_registry_discard(&reg, cand);
    CU_ASSERT_FALSE(phx_test_maps_contain(copy));
    registry_down();
}

static void test_supersede_unloads_only_unused(void)
{
    registry_up();
    struct phx_plugin *v1 = phx_registry_load(&reg, PHX_PLUGIN_NULL, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(v1);
    char v1_copy[4096];
    snprintf(v1_copy, sizeof(v1_copy), "%s", v1->loaded_path);

    phx_plugin_pin(v1);                  /* an engine of v1 still runs */
    struct phx_plugin *v2 = phx_registry_open(&reg, PHX_PLUGIN_NULL_V2, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(v2);
    phx_registry_supersede(&reg, v1, v2);
    CU_ASSERT_PTR_EQUAL(phx_registry_find(&reg, "null"), v2);
    CU_ASSERT_FALSE(v1->current);
    CU_ASSERT_TRUE(phx_test_maps_contain(v1_copy));
    phx_plugin_unpin(v1);                /* the last one goes: so does v1 */
    CU_ASSERT_FALSE(phx_test_maps_contain(v1_copy));

    /* No engine at all: superseding unloads at once. */
    char v2_copy[4096];
    snprintf(v2_copy, sizeof(v2_copy), "%s", v2->loaded_path);
    struct phx_plugin *v3 = phx_registry_open(&reg, PHX_PLUGIN_NULL_V3_INCOMPATIBLE, err,
                                              sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(v3);
    phx_registry_supersede(&reg, v2, v3);
    CU_ASSERT_FALSE(phx_test_maps_contain(v2_copy));
    CU_ASSERT_STRING_EQUAL(phx_registry_find(&reg, "null")->desc->version, "3.0.0");
    registry_down();
}

static void test_engine_create_pins_and_destroy_unpins(void)
{
    registry_up();
    struct phx_plugin *tp = phx_registry_load(&reg, PHX_PLUGIN_TESTPAIR, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(tp);

    phx_engine_t *a = phx_engine_create(&reg, NULL, "TestSourceEngine", "count = 5;", err,
                                        sizeof(err));
    phx_engine_t *b = phx_engine_create(&reg, NULL, "TestSinkEngine", NULL, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    CU_ASSERT_EQUAL(tp->live, 2);
    CU_ASSERT_NOT_EQUAL(phx_engine_id(a), phx_engine_id(b));
    CU_ASSERT_STRING_EQUAL(phx_engine_type(a), "TestSourceEngine");
    CU_ASSERT_PTR_NULL(phx_engine_app_port(a));
    CU_ASSERT_EQUAL(phx_engine_runtime_index(a), 0);
    CU_ASSERT_EQUAL(a->wait_fd, -1);

    CU_ASSERT_PTR_NULL(phx_engine_create(&reg, NULL, "TestSourceEngine", "count = ;", err,
                                         sizeof(err)));
    CU_ASSERT_STRING_EQUAL(err, "cannot create TestSourceEngine: line 1: syntax error");
    CU_ASSERT_PTR_NULL(phx_engine_create(&reg, NULL, "NoSuchEngine", NULL, err, sizeof(err)));
    CU_ASSERT_STRING_EQUAL(err, "unknown engine type 'NoSuchEngine'");
    CU_ASSERT_EQUAL(errno, ENOENT);
    CU_ASSERT_EQUAL(tp->live, 2);

    phx_engine_destroy(a, PHX_DESTROY_ALL);
    phx_engine_destroy(b, PHX_DESTROY_ALL);
    CU_ASSERT_EQUAL(tp->live, 0);
    registry_down();
}

static void test_subscription_default_chain(void)
{
    registry_up();
    struct phx_plugin *tp = phx_registry_load(&reg, PHX_PLUGIN_TESTPAIR, err, sizeof(err));
    struct phx_subscription *sub = phx_subscription_create(&reg, "testpair", 1234, 7, NULL, err,
                                                           sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(sub);
    CU_ASSERT_EQUAL(sub->pid, 1234);
    CU_ASSERT_EQUAL(sub->sid, 7);
    CU_ASSERT_STRING_EQUAL(sub->service, "testpair");
    CU_ASSERT_EQUAL_FATAL(sub->n_engines, 2);
    phx_engine_t *src = phx_subscription_find(sub, "TestSourceEngine");
    phx_engine_t *sink = phx_subscription_find(sub, "TestSinkEngine");
    CU_ASSERT_PTR_EQUAL(sub->engines[0], src);
    CU_ASSERT_PTR_EQUAL(sub->engines[1], sink);
    CU_ASSERT_PTR_NULL(phx_subscription_find(sub, "NullEngine"));
    CU_ASSERT_PTR_EQUAL(src->sub, sub);
    CU_ASSERT_EQUAL(tp->live, 2);

    /* tx: source out 0 -> sink in 0; rx: sink out 0 -> source in 0; nothing else. */
    phx_channel_t *tx = src->out[PHX_TX][0], *rx = sink->out[PHX_RX][0];
    CU_ASSERT_PTR_NOT_NULL_FATAL(tx);
    CU_ASSERT_PTR_NOT_NULL_FATAL(rx);
    CU_ASSERT_PTR_EQUAL(sink->in[PHX_TX][0], tx);
    CU_ASSERT_PTR_EQUAL(src->in[PHX_RX][0], rx);
    CU_ASSERT_EQUAL(tx->dir, PHX_TX);
    CU_ASSERT_EQUAL(rx->dir, PHX_RX);
    CU_ASSERT_PTR_NULL(src->in[PHX_TX][0]);
    CU_ASSERT_PTR_NULL(sink->out[PHX_TX][0]);

    phx_subscription_destroy(sub);
    CU_ASSERT_EQUAL(tp->live, 0);
    registry_down();
}

/* A group made for runtime 3 tells its engines so already in create(), where per-thread
 * resources get set up. */
static void test_subscription_on_runtime(void)
{
    char *reply = NULL;

    registry_up();
    CU_ASSERT_PTR_NOT_NULL_FATAL(phx_registry_load(&reg, PHX_PLUGIN_TESTPAIR, err, sizeof(err)));
    struct phx_subscription *sub = phx_subscription_create_on(&reg, "testpair", 1, 0, NULL, 3,
                                                              err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(sub);
    phx_engine_t *src = phx_subscription_find(sub, "TestSourceEngine");
    CU_ASSERT_EQUAL(phx_engine_runtime_index(src), 3);
    CU_ASSERT_EQUAL_FATAL(src->ops->admin(src, src->state, "stats", &reply), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(reply, "\"created_on_runtime\":3"));
    free(reply);
    phx_subscription_destroy(sub);
    registry_down();
}

static void test_subscription_rollback(void)
{
    registry_up();
    struct phx_plugin *tp = phx_registry_load(&reg, PHX_PLUGIN_TESTPAIR, err, sizeof(err));
    CU_ASSERT_PTR_NULL(phx_subscription_create(&reg, "testpair_broken", 1, 0, NULL, err, sizeof(err)));
    CU_ASSERT_STRING_EQUAL(err, "unknown engine type 'MissingEngine'");
    CU_ASSERT_EQUAL(tp->live, 0);                  /* the source made first is gone again */
    CU_ASSERT_PTR_NULL(phx_subscription_create(&reg, "nosuch", 1, 0, NULL, err, sizeof(err)));
    CU_ASSERT_STRING_EQUAL(err, "unknown service 'nosuch'");
    struct phx_subscription *sub = phx_subscription_create(&reg, "testpair", 1, 1, NULL, err,
                                                           sizeof(err));
    CU_ASSERT_PTR_NOT_NULL(sub);
    phx_subscription_destroy(sub);
    registry_down();
}

static const phx_test_case_t cases[] = {
    {"load null", test_load_null},
    {"private copy is mapped but leaves no file", test_private_copy_leaves_no_file},
    {"refuse a missing file", test_refuse_missing_file},
    {"refuse a file that is not ELF", test_refuse_not_elf},
    {"refuse a .so without descriptor", test_refuse_no_symbol},
    {"refuse another ABI version", test_refuse_abi_version},
    {"refuse the old major ABI", test_refuse_old_major_abi},
    {"refuse another build signature", test_refuse_build_signature},
    {"refuse sizes that cut through a pointer", test_refuse_cut_sizes},
    {"a shorter ops table loads and runs", test_shorter_ops_table_loads_and_runs},
    {"a newer minor loads only if its additions are unset",
     test_newer_minor_loads_only_if_its_news_are_unset},
    {"refuse a type another plugin provides", test_refuse_duplicate_type},
    {"refuse an engine type without progress", test_refuse_missing_progress},
    {"refuse loading a name twice", test_refuse_second_load_of_a_name},
    {"an opened candidate is not current", test_open_is_not_current},
    {"supersede unloads the old build once unused", test_supersede_unloads_only_unused},
    {"engines pin their plugin", test_engine_create_pins_and_destroy_unpins},
    {"subscription builds the default chain", test_subscription_default_chain},
    {"a group made for a runtime tells its engines at create", test_subscription_on_runtime},
    {"subscription rolls back a chain it cannot build", test_subscription_rollback},
    {NULL, NULL},
};

int main(int argc, char **argv)
{
    return phx_test_main("registry", cases, argc, argv);
}
