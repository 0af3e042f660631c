/* test_config.c - phoenix.conf: defaults, the shipped deploy/phoenix.conf, a file that sets every
 * key, dump -> load round trips, environment overrides, and broken files whose one-line error
 * must name the file, the line and the key. Sample files live in tests/data/config/. */
#include "config.h"
#include "phoenix/engine.h"
#include "phoenix/settings.h"
#include "phx_test.h"
#include "settings_load.h"

#include <dlfcn.h>
#include <libconfig.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char err[512];

static const char *data_file(const char *name)
{
    static char path[PATH_MAX];

    snprintf(path, sizeof(path), "%s", phx_test_source_path("tests/data/config"));
    snprintf(path + strlen(path), sizeof(path) - strlen(path), "/%s", name);
    return path;
}

/* Field by field, written out by hand so that it does not share a mistake with the table. */
static void assert_same_config(const phx_config_t *a, const phx_config_t *b)
{
    CU_ASSERT_STRING_EQUAL(a->prefix, b->prefix);
    CU_ASSERT_STRING_EQUAL(a->state_dir, b->state_dir);
    CU_ASSERT_STRING_EQUAL(a->plugin_dir, b->plugin_dir);
    CU_ASSERT_EQUAL(a->log.level, b->log.level);
    CU_ASSERT_STRING_EQUAL(a->log.file, b->log.file);
    CU_ASSERT_EQUAL(a->runtime.threads, b->runtime.threads);
    CU_ASSERT_EQUAL(a->runtime.mode, b->runtime.mode);
    CU_ASSERT_EQUAL(a->runtime.spin_us, b->runtime.spin_us);
    CU_ASSERT_EQUAL(a->runtime.urgent_threads, b->runtime.urgent_threads);
    CU_ASSERT_STRING_EQUAL(a->control.admin_group, b->control.admin_group);
    CU_ASSERT_EQUAL(a->control.socket_mode, b->control.socket_mode);
    CU_ASSERT_EQUAL(a->control.max_apps, b->control.max_apps);
    CU_ASSERT_STRING_EQUAL(a->topology.nic, b->topology.nic);
    CU_ASSERT_EQUAL(a->topology.bind_memory, b->topology.bind_memory);
    CU_ASSERT_STRING_EQUAL(a->topology.xml, b->topology.xml);
    CU_ASSERT_EQUAL(a->heap.send_mb, b->heap.send_mb);
    CU_ASSERT_EQUAL(a->heap.recv_mb, b->heap.recv_mb);
    CU_ASSERT_EQUAL(a->heap.slab_kb, b->heap.slab_kb);
    CU_ASSERT_EQUAL_FATAL(a->nplugins, b->nplugins);
    for (unsigned i = 0; i < a->nplugins; i++) {
        CU_ASSERT_STRING_EQUAL(a->plugins[i].name, b->plugins[i].name);
        CU_ASSERT_STRING_EQUAL(a->plugins[i].path, b->plugins[i].path);
    }
}

/* What the documentation says the defaults are (deploy/phoenix.conf), written out by hand. */
static const phx_config_t documented_defaults = {
    .prefix = "/run/phoenix",
    .state_dir = "",
    .plugin_dir = "",
    .log = { .level = PHX_LOG_INFO, .file = "-" },
    .runtime = { .threads = 1, .mode = PHX_RUNTIME_SHARED, .spin_us = 50, .urgent_threads = 1 },
    .control = { .admin_group = "", .socket_mode = 0660, .max_apps = 1024 },
    .topology = { .nic = "", .bind_memory = true, .xml = "" },
    .heap = { .send_mb = 1024, .recv_mb = 1024, .slab_kb = 2048 },
    .plugins = (struct phx_config_plugin[]){ { "mrpc", "libphoenix_mrpc.so" },
                                             { "ucx", "libphoenix_ucx.so" } },
    .nplugins = 2,
};

static void test_defaults(void)
{
    phx_config_t cfg;

    CU_ASSERT_EQUAL_FATAL(phx_config_init_defaults(&cfg), 0);
    assert_same_config(&cfg, &documented_defaults);
    CU_ASSERT_STRING_EQUAL(cfg.source, "(defaults)");
    phx_config_free(&cfg);
    CU_ASSERT_PTR_NULL(cfg.prefix);
    CU_ASSERT_EQUAL(cfg.nplugins, 0);
    CU_ASSERT_STRING_EQUAL(phx_runtime_mode_name(PHX_RUNTIME_DEDICATE), "dedicate");
    CU_ASSERT_STRING_EQUAL(phx_runtime_mode_name((phx_runtime_mode_t)7), "?");
}

static void test_empty_file_gives_defaults(void)
{
    const char *dir = phx_test_tmpdir("config");
    phx_config_t cfg, defaults;

    CU_ASSERT_EQUAL_FATAL(phx_config_init_defaults(&defaults), 0);
    CU_ASSERT_EQUAL(phx_config_load(&cfg, phx_test_write_file(dir, "empty.conf", "# nothing\n"),
                                    err, sizeof(err)), 0);
    assert_same_config(&cfg, &defaults);
    CU_ASSERT_PTR_NOT_NULL(strstr(cfg.source, "empty.conf"));
    phx_config_free(&cfg);
    phx_config_free(&defaults);
    phx_test_rmtree(dir);
}

/* Appends to PATHS (n entries of KEY_MAX) the path of every leaf of GROUP; lists are leaves. */
#define KEY_MAX 128
static unsigned leaf_paths(const config_setting_t *group, const char *prefix,
                           char (*paths)[KEY_MAX], unsigned n, unsigned max)
{
    for (int i = 0; i < config_setting_length(group) && n < max; i++) {
        const config_setting_t *s = config_setting_get_elem(group, (unsigned)i);
        char path[KEY_MAX];
        snprintf(path, sizeof(path), "%s%s%s", prefix, *prefix ? "." : "", config_setting_name(s));
        if (config_setting_is_group(s))
            n = leaf_paths(s, path, paths, n, max);
        else
            snprintf(paths[n++], KEY_MAX, "%s", path);
    }
    return n;
}

static void test_deploy_file_is_the_defaults(void)
{
    const char *deploy = phx_test_source_path("deploy/phoenix.conf");
    phx_config_t cfg, defaults;

    CU_ASSERT_EQUAL_FATAL(phx_config_init_defaults(&defaults), 0);
    CU_ASSERT_EQUAL_FATAL(phx_config_load(&cfg, deploy, err, sizeof(err)), 0);
    assert_same_config(&cfg, &defaults);
    CU_ASSERT_STRING_EQUAL(cfg.source, deploy);

    /* Every key the schema knows is written out in the deploy file, for the admin to read. */
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    CU_ASSERT_EQUAL(phx_config_dump(&defaults, mem), 0);
    fclose(mem);
    config_t dumped, shipped;
    char paths[64][KEY_MAX];
    config_init(&dumped);
    config_init(&shipped);
    CU_ASSERT_EQUAL_FATAL(config_read_string(&dumped, text), CONFIG_TRUE);
    CU_ASSERT_EQUAL_FATAL(config_read_file(&shipped, deploy), CONFIG_TRUE);
    unsigned n = leaf_paths(config_root_setting(&dumped), "", paths, 0, 64);
    CU_ASSERT(n >= 17);
    for (unsigned i = 0; i < n; i++) {
        if (!config_lookup(&shipped, paths[i]))
            fprintf(stderr, "deploy/phoenix.conf lacks %s\n", paths[i]);
        CU_ASSERT_PTR_NOT_NULL(config_lookup(&shipped, paths[i]));
    }
    config_destroy(&dumped);
    config_destroy(&shipped);
    free(text);
    phx_config_free(&cfg);
    phx_config_free(&defaults);
}

/* SETTINGS as settings.h dumps them, malloc'd. */
static char *dump_settings(const struct phx_settings_schema *schema, const void *settings)
{
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);

    CU_ASSERT_PTR_NOT_NULL_FATAL(mem);
    CU_ASSERT_EQUAL(phx_settings_dump(schema, settings, "", mem), 0);
    fclose(mem);
    return text;
}

/* deploy/phoenix.conf's settings.NAME: every key of the plugin at SO is written there, with the
 * plugin's default. */
static void check_deploy_section(const char *so, const char *name)
{
    const char *deploy = phx_test_source_path("deploy/phoenix.conf");
    void *handle = dlopen(so, RTLD_NOW | RTLD_LOCAL);
    const phx_plugin_desc_t *desc = handle ? dlsym(handle, PHX_PLUGIN_SYMBOL) : NULL;
    phx_config_t cfg;
    config_t shipped;

    CU_ASSERT_PTR_NOT_NULL_FATAL(desc);
    const struct phx_settings_schema *schema = desc->settings;
    CU_ASSERT_PTR_NOT_NULL_FATAL(schema);
    void *from_file = calloc(1, schema->size), *defaults = calloc(1, schema->size);
    CU_ASSERT_EQUAL_FATAL(phx_config_load(&cfg, deploy, err, sizeof(err)), 0);
    CU_ASSERT_EQUAL_FATAL(phx_config_plugin_settings(&cfg, name, schema, from_file, err,
                                                     sizeof(err)), 0);
    CU_ASSERT_EQUAL_FATAL(phx_settings_init(schema, defaults), 0);
    char *a = dump_settings(schema, from_file), *b = dump_settings(schema, defaults);
    CU_ASSERT_STRING_EQUAL(a, b);
    config_init(&shipped);
    CU_ASSERT_EQUAL_FATAL(config_read_file(&shipped, deploy), CONFIG_TRUE);
    for (unsigned i = 0; i < schema->nkeys; i++) {
        char path[256];
        snprintf(path, sizeof(path), "settings.%s.%s", name, schema->keys[i].key);
        if (!config_lookup(&shipped, path))
            fprintf(stderr, "deploy/phoenix.conf lacks %s\n", path);
        CU_ASSERT_PTR_NOT_NULL(config_lookup(&shipped, path));
        CU_ASSERT_PTR_NOT_NULL(schema->keys[i].help);
    }
    config_destroy(&shipped);
    free(a);
    free(b);
    phx_settings_free(schema, from_file);
    phx_settings_free(schema, defaults);
    free(from_file);
    free(defaults);
    phx_config_free(&cfg);
    dlclose(handle);
}

static void test_deploy_file_has_plugin_settings(void)
{
    check_deploy_section(PHX_PLUGIN_MRPC, "mrpc");
    check_deploy_section(PHX_PLUGIN_UCX, "ucx");
}

/* tests/data/config/full.conf: every key set to a value other than its default. */
static const phx_config_t full_conf = {
    .prefix = "/tmp/phx-full",
    .state_dir = "/var/lib/phx-full",
    .plugin_dir = "/opt/phoenix/plugins",
    .log = { .level = PHX_LOG_DEBUG, .file = "/var/log/phoenix.log" },
    .runtime = { .threads = 8, .mode = PHX_RUNTIME_DEDICATE, .spin_us = 0, .urgent_threads = 2 },
    .control = { .admin_group = "hpcadmin", .socket_mode = 0600, .max_apps = 65536 },
    .topology = { .nic = "mlx5_0:1", .bind_memory = false, .xml = "hwloc-profiles/two-socket.xml" },
    .heap = { .send_mb = 64, .recv_mb = 128, .slab_kb = 64 },
    .plugins = (struct phx_config_plugin[]){ { "mrpc", "/opt/phoenix/libphoenix_mrpc.so" },
                                             { "ucx", "libphoenix_ucx.so" },
                                             { "ratelimit", "policies/libratelimit.so" } },
    .nplugins = 3,
};

static void test_full_custom_file(void)
{
    phx_config_t cfg;

    CU_ASSERT_EQUAL_FATAL(phx_config_load(&cfg, data_file("full.conf"), err, sizeof(err)), 0);
    assert_same_config(&cfg, &full_conf);
    phx_config_free(&cfg);
}

/* Dumps CFG to a file, loads that file back and checks both are the same. */
static void assert_round_trip(const phx_config_t *cfg, const char *dir)
{
    char path[PATH_MAX];
    phx_config_t back;

    snprintf(path, sizeof(path), "%s/dumped.conf", dir);
    FILE *out = fopen(path, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(out);
    CU_ASSERT_EQUAL(phx_config_dump(cfg, out), 0);
    fclose(out);
    CU_ASSERT_EQUAL(phx_config_load(&back, path, err, sizeof(err)), 0);
    if (err[0])
        fprintf(stderr, "%s\n", err);
    assert_same_config(&back, cfg);
    phx_config_free(&back);
}

static void test_dump_load_round_trip(void)
{
    const char *dir = phx_test_tmpdir("config");
    phx_config_t cfg;

    err[0] = '\0';
    CU_ASSERT_EQUAL_FATAL(phx_config_init_defaults(&cfg), 0);
    assert_round_trip(&cfg, dir);
    phx_config_free(&cfg);

    CU_ASSERT_EQUAL_FATAL(phx_config_load(&cfg, data_file("full.conf"), err, sizeof(err)), 0);
    assert_round_trip(&cfg, dir);
    phx_config_free(&cfg);

    /* Strings that need escaping, a mode without its group bits, no plugins at all. */
    const char *odd = "log = { file = \"/tmp/a \\\"quoted\\\" \\\\ path\\twith\\ntabs\"; };\n"
                      "control = { socket_mode = 07; admin_group = \"\\x01x\"; };\n"
                      "plugins = ();\n";
    CU_ASSERT_EQUAL_FATAL(phx_config_load(&cfg, phx_test_write_file(dir, "odd.conf", odd), err,
                                          sizeof(err)), 0);
    CU_ASSERT_STRING_EQUAL(cfg.log.file, "/tmp/a \"quoted\" \\ path\twith\ntabs");
    CU_ASSERT_EQUAL(cfg.control.socket_mode, 07);
    CU_ASSERT_EQUAL(cfg.nplugins, 0);
    assert_round_trip(&cfg, dir);
    phx_config_free(&cfg);
    phx_test_rmtree(dir);
}

/* ---- settings.h: a plugin's table ---------------------------------------------------------- */

struct demo_settings {
    char    *tls;
    bool     fast;
    unsigned batch;
    int      color;
    unsigned nested_depth;
    unsigned perms;
};

static const char *const colors[] = { "red", "green", NULL };

static int check_even(long long value, char *why, size_t n)
{
    return value % 2 ? snprintf(why, n, "must be even (got %lld)", value), -1 : 0;
}

static const struct phx_setting demo_keys[] = {
    PHX_SETTING_STRING(struct demo_settings, tls, "tcp", "transports"),
    PHX_SETTING_BOOL(struct demo_settings, fast, false, "go fast"),
    PHX_SETTING_UINT(struct demo_settings, batch, 64, 1, 4096, "per call",
                     .check_num = check_even),
    PHX_SETTING_ENUM(struct demo_settings, color, 1, colors, "a color"),
    { "nested.depth", PHX_SETTING_KIND_UINT, offsetof(struct demo_settings, nested_depth),
      .help = "a key in a section", .def = 3, .min = 0, .max = 9 },
    PHX_SETTING_MODE(struct demo_settings, perms, 0640, 0777, "permission bits"),
};

static PHX_SETTINGS_SCHEMA(demo_schema, "demo", struct demo_settings, demo_keys);

static void test_settings_defaults_and_parse(void)
{
    struct demo_settings d, copy;

    CU_ASSERT_EQUAL_FATAL(phx_settings_init(&demo_schema, &d), 0);
    CU_ASSERT_STRING_EQUAL(d.tls, "tcp");
    CU_ASSERT_EQUAL(d.batch, 64);
    CU_ASSERT_EQUAL(d.color, 1);
    CU_ASSERT_EQUAL(d.nested_depth, 3);
    CU_ASSERT_EQUAL(d.perms, 0640);
    CU_ASSERT_EQUAL(phx_settings_parse(&demo_schema, &d, "tls = \"rc\"; fast = true; batch = 8;"
                                       " color = \"RED\"; nested = { depth = 9; }; perms = 0600;",
                                       "config_string", err, sizeof(err)), 0);
    CU_ASSERT_STRING_EQUAL(d.tls, "rc");
    CU_ASSERT(d.fast);
    CU_ASSERT_EQUAL(d.batch, 8);
    CU_ASSERT_EQUAL(d.color, 0);
    CU_ASSERT_EQUAL(d.nested_depth, 9);
    CU_ASSERT_EQUAL(d.perms, 0600);
    CU_ASSERT_EQUAL(phx_settings_parse(&demo_schema, &d, "  \n", "x", err, sizeof(err)), 0);
    CU_ASSERT_EQUAL(phx_settings_parse(&demo_schema, &d, NULL, "x", err, sizeof(err)), 0);

    /* derive: a deep copy with a config_string over it; the base is left alone */
    CU_ASSERT_EQUAL_FATAL(phx_settings_derive(&demo_schema, &copy, &d, "batch = 2;", err,
                                              sizeof(err)), 0);
    CU_ASSERT_EQUAL(copy.batch, 2);
    CU_ASSERT_EQUAL(d.batch, 8);
    CU_ASSERT_STRING_EQUAL(copy.tls, "rc");
    CU_ASSERT_PTR_NOT_EQUAL(copy.tls, d.tls);
    phx_settings_free(&demo_schema, &copy);
    CU_ASSERT_EQUAL_FATAL(phx_settings_derive(&demo_schema, &copy, NULL, NULL, err, sizeof(err)),
                          0);
    CU_ASSERT_EQUAL(copy.batch, 64);
    phx_settings_free(&demo_schema, &copy);

    /* dump, then parse the dump over the defaults: the same values */
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    CU_ASSERT_EQUAL(phx_settings_dump(&demo_schema, &d, "", mem), 0);
    fclose(mem);
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "nested = {\n  depth = 9;\n};"));
    CU_ASSERT_EQUAL_FATAL(phx_settings_derive(&demo_schema, &copy, NULL, text, err, sizeof(err)),
                          0);
    CU_ASSERT_STRING_EQUAL(copy.tls, d.tls);
    CU_ASSERT_EQUAL(copy.fast, d.fast);
    CU_ASSERT_EQUAL(copy.batch, d.batch);
    CU_ASSERT_EQUAL(copy.color, d.color);
    CU_ASSERT_EQUAL(copy.nested_depth, d.nested_depth);
    CU_ASSERT_EQUAL(copy.perms, d.perms);
    phx_settings_free(&demo_schema, &copy);
    free(text);
    phx_settings_free(&demo_schema, &d);
}

/* A config_string's errors: one line, "config_string:LINE: key: what". */
static void test_settings_config_string_errors(void)
{
    static const struct { const char *text, *want; } cases[] = {
        { "batch = 0;", "config_string:1: batch: must be between 1 and 4096 (got 0)" },
        { "batch = 3;", "config_string:1: batch: must be even (got 3)" },
        { "\nbacth = 2;", "config_string:2: unknown key 'bacth' (did you mean 'batch'?)" },
        { "tls = 5;", "config_string:1: tls: expected a string, got an integer" },
        { "fast = 1;", "config_string:1: fast: expected true or false, got an integer" },
        { "color = \"blue\";", "config_string:1: color: unknown color 'blue' (red|green)" },
        { "nested = { dpeth = 1; };",
          "config_string:1: unknown key 'nested.dpeth' (did you mean 'nested.depth'?)" },
        { "nested = 1;", "config_string:1: nested: expected a group { ... }, got an integer" },
        { "batch = ;", "config_string:1: syntax error (libconfig: " },
        { "zzzzzz = 1;", "config_string:1: unknown key 'zzzzzz'" },
        { "batch = 2;\n  @include \"/etc/passwd\"\n",
          "config_string:2: @include: not allowed here" },
    };
    struct demo_settings d;

    for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        err[0] = '\0';
        CU_ASSERT_EQUAL(phx_settings_derive(&demo_schema, &d, NULL, cases[i].text, err,
                                            sizeof(err)), -1);
        if (strncmp(err, cases[i].want, strlen(cases[i].want)) != 0)
            fprintf(stderr, "\n  '%s': got '%s', want '%s'\n", cases[i].text, err, cases[i].want);
        CU_ASSERT_EQUAL(strncmp(err, cases[i].want, strlen(cases[i].want)), 0);
        CU_ASSERT_PTR_NULL(strchr(err, '\n'));
    }
    CU_ASSERT_PTR_NULL(strstr(err, "did you mean"));
}

/* ---- the plugins' sections of phoenix.conf ------------------------------------------------- */

static const char sections_conf[] =
    "plugins = ( { name = \"demo\"; path = \"demo.so\"; },\n"
    "            { name = \"bare\"; path = \"b.so\"; } );\n"
    "settings = {\n"
    "  demo = {\n"
    "    batch = 16;\n"
    "    color = \"red\";\n"
    "  };\n"
    "};\n";

static void test_plugin_sections(void)
{
    const char *dir = phx_test_tmpdir("config");
    phx_config_t cfg;
    struct demo_settings d;

    CU_ASSERT_EQUAL_FATAL(phx_config_load(&cfg, phx_test_write_file(dir, "s.conf", sections_conf),
                                          err, sizeof(err)), 0);
    CU_ASSERT_PTR_NULL(cfg.notes);
    CU_ASSERT_EQUAL_FATAL(phx_config_plugin_settings(&cfg, "demo", &demo_schema, &d, err,
                                                     sizeof(err)), 0);
    CU_ASSERT_EQUAL(d.batch, 16);
    CU_ASSERT_EQUAL(d.color, 0);
    CU_ASSERT_STRING_EQUAL(d.tls, "tcp");       /* the default, the file says nothing */
    phx_settings_free(&demo_schema, &d);
    /* a plugin without a section gets the defaults; one without settings is fine without one */
    CU_ASSERT_EQUAL(phx_config_plugin_settings(&cfg, "bare", &demo_schema, &d, err, sizeof(err)),
                    0);
    CU_ASSERT_EQUAL(d.batch, 64);
    phx_settings_free(&demo_schema, &d);
    CU_ASSERT_EQUAL(phx_config_plugin_settings(&cfg, "bare", NULL, NULL, err, sizeof(err)), 0);
    /* a section for a plugin that declares no settings */
    CU_ASSERT_EQUAL(phx_config_plugin_settings(&cfg, "demo", NULL, NULL, err, sizeof(err)), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "s.conf:4: settings.demo: plugin 'demo' takes no "
                                       "settings"));
    /* the dump keeps the sections as written */
    err[0] = '\0';
    assert_round_trip(&cfg, dir);
    phx_config_free(&cfg);

    /* a value that does not fit: file, line and the full key */
    static const char bad[] = "plugins = ( { name = \"demo\"; path = \"demo.so\"; } );\n"
                              "settings = { demo = {\n"
                              "  batch = 5000;\n"
                              "  colour = \"red\";\n"
                              "}; };\n";
    CU_ASSERT_EQUAL_FATAL(phx_config_load(&cfg, phx_test_write_file(dir, "b.conf", bad), err,
                                          sizeof(err)), 0);
    CU_ASSERT_EQUAL(phx_config_plugin_settings(&cfg, "demo", &demo_schema, &d, err, sizeof(err)),
                    -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "b.conf:3: settings.demo.batch: must be between 1 and "
                                       "4096 (got 5000)"));
    CU_ASSERT_PTR_NULL(strchr(err, '\n'));
    phx_config_free(&cfg);
    static const char typo[] = "plugins = ( { name = \"demo\"; path = \"demo.so\"; } );\n"
                               "settings = { demo = {\n"
                               "  colour = \"red\";\n"
                               "}; };\n";
    CU_ASSERT_EQUAL_FATAL(phx_config_load(&cfg, phx_test_write_file(dir, "t.conf", typo), err,
                                          sizeof(err)), 0);
    CU_ASSERT_EQUAL(phx_config_plugin_settings(&cfg, "demo", &demo_schema, &d, err, sizeof(err)),
                    -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "t.conf:3: unknown key 'settings.demo.colour' (did you "
                                       "mean 'settings.demo.color'?)"));
    phx_config_free(&cfg);
    /* no file: the defaults */
    CU_ASSERT_EQUAL(phx_config_plugin_settings(NULL, "demo", &demo_schema, &d, err, sizeof(err)),
                    0);
    CU_ASSERT_EQUAL(d.batch, 64);
    phx_settings_free(&demo_schema, &d);
    phx_test_rmtree(dir);
}

/* The top-level ucx and mrpc sections of earlier releases: read, with a note giving the new
 * spelling; their errors name the key as written. */
static void test_legacy_sections(void)
{
    const char *dir = phx_test_tmpdir("config");
    phx_config_t cfg;
    struct demo_settings d;
    static const char legacy[] = "# old style\n"
                                 "ucx = { tls = \"rc\"; };\n"
                                 "mrpc = { batch = 7; };\n";

    CU_ASSERT_EQUAL_FATAL(phx_config_load(&cfg, phx_test_write_file(dir, "old.conf", legacy), err,
                                          sizeof(err)), 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(cfg.notes);
    CU_ASSERT_PTR_NOT_NULL(strstr(cfg.notes, "old.conf:2: 'ucx = { ... }' is deprecated; write "
                                             "'settings = { ucx = { ... }; };'\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(cfg.notes, "old.conf:3: 'mrpc = { ... }' is deprecated; write "
                                             "'settings = { mrpc = { ... }; };'\n"));
    CU_ASSERT_EQUAL(phx_config_plugin_settings(&cfg, "ucx", &demo_schema, &d, err, sizeof(err)),
                    0);
    CU_ASSERT_STRING_EQUAL(d.tls, "rc");
    phx_settings_free(&demo_schema, &d);
    CU_ASSERT_EQUAL(phx_config_plugin_settings(&cfg, "mrpc", &demo_schema, &d, err, sizeof(err)),
                    -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "old.conf:3: mrpc.batch: must be even (got 7)"));
    /* the dump writes them the new way, and that loads without a note */
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/new.conf", dir);
    FILE *out = fopen(path, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(out);
    CU_ASSERT_EQUAL(phx_config_dump(&cfg, out), 0);
    fclose(out);
    phx_config_free(&cfg);
    CU_ASSERT_EQUAL_FATAL(phx_config_load(&cfg, path, err, sizeof(err)), 0);
    CU_ASSERT_PTR_NULL(cfg.notes);
    CU_ASSERT_EQUAL(phx_config_plugin_settings(&cfg, "ucx", &demo_schema, &d, err, sizeof(err)),
                    0);
    CU_ASSERT_STRING_EQUAL(d.tls, "rc");
    phx_settings_free(&demo_schema, &d);
    phx_config_free(&cfg);
    phx_test_rmtree(dir);
}

static void test_socket_mode_spellings(void)
{
    static const struct { const char *text; unsigned mode; } cases[] = {
        { "control = { socket_mode = 0660; };", 0660 },
        { "control = { socket_mode = 0; };", 0 },
        { "control = { socket_mode = 0777; };", 0777 },
        { "control = { socket_mode = 0x1b0; };", 0660 },
    };
    const char *dir = phx_test_tmpdir("config");
    phx_config_t cfg;

    for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *path = phx_test_write_file(dir, "mode.conf", cases[i].text);
        CU_ASSERT_EQUAL(phx_config_load(&cfg, path, err, sizeof(err)), 0);
        CU_ASSERT_EQUAL(cfg.control.socket_mode, cases[i].mode);
        phx_config_free(&cfg);
    }
    /* An 8 is no octal digit, whether libconfig or the loader notices. */
    const char *path = phx_test_write_file(dir, "mode.conf",
                                           "\ncontrol = { socket_mode = 0778; };");
    CU_ASSERT_EQUAL(phx_config_load(&cfg, path, err, sizeof(err)), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "mode.conf:2:"));
    phx_config_free(&cfg);
    phx_test_rmtree(dir);
}

static void test_env_overrides(void)
{
    phx_config_t cfg;

    CU_ASSERT_EQUAL_FATAL(phx_config_init_defaults(&cfg), 0);
    unsetenv("PHOENIX_PREFIX");
    unsetenv("PHOENIX_LOG_LEVEL");
    CU_ASSERT_EQUAL(phx_config_apply_env(&cfg, err, sizeof(err)), 0);
    CU_ASSERT_STRING_EQUAL(cfg.prefix, "/run/phoenix");

    setenv("PHOENIX_PREFIX", "/tmp/phx-env", 1);
    setenv("PHOENIX_LOG_LEVEL", "Trace", 1);
    CU_ASSERT_EQUAL(phx_config_apply_env(&cfg, err, sizeof(err)), 0);
    CU_ASSERT_STRING_EQUAL(cfg.prefix, "/tmp/phx-env");
    CU_ASSERT_EQUAL(cfg.log.level, PHX_LOG_TRACE);

    setenv("PHOENIX_LOG_LEVEL", "loud", 1);
    CU_ASSERT_EQUAL(phx_config_apply_env(&cfg, err, sizeof(err)), -1);
    CU_ASSERT_STRING_EQUAL(err, "PHOENIX_LOG_LEVEL: unknown level 'loud' "
                                "(error|warn|info|debug|trace)");
    CU_ASSERT_EQUAL(cfg.log.level, PHX_LOG_TRACE);

    setenv("PHOENIX_LOG_LEVEL", "", 1);     /* empty counts as unset */
    setenv("PHOENIX_PREFIX", "relative/dir", 1);
    CU_ASSERT_EQUAL(phx_config_apply_env(&cfg, err, sizeof(err)), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "PHOENIX_PREFIX: must be an absolute path"));
    CU_ASSERT_STRING_EQUAL(cfg.prefix, "/tmp/phx-env");

    char long_prefix[200];
    memset(long_prefix, 'p', sizeof(long_prefix) - 1);
    long_prefix[0] = '/';
    long_prefix[sizeof(long_prefix) - 1] = '\0';
    setenv("PHOENIX_PREFIX", long_prefix, 1);
    CU_ASSERT_EQUAL(phx_config_apply_env(&cfg, err, sizeof(err)), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "too long for a unix socket path"));

    unsetenv("PHOENIX_PREFIX");
    unsetenv("PHOENIX_LOG_LEVEL");
    phx_config_free(&cfg);
}

/* Loads FILE, expects failure with "FILE:LINE: " first and WANT in the message, all on one line,
 * and the defaults left in the struct. */
static void expect_error_at(const char *path, const char *file, int line, const char *want)
{
    char where[256];
    phx_config_t cfg;

    snprintf(where, sizeof(where), "%s:%d: ", file, line);
    CU_ASSERT_EQUAL(phx_config_load(&cfg, path, err, sizeof(err)), -1);
    if (!strstr(err, where) || !strstr(err, want))
        fprintf(stderr, "\n  %s: got '%s', want '%s' and '%s'\n", file, err, where, want);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, where));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, want));
    CU_ASSERT_PTR_NULL(strchr(err, '\n'));
    CU_ASSERT_STRING_EQUAL(cfg.prefix, "/run/phoenix");
    CU_ASSERT_EQUAL(cfg.nplugins, 2);      /* a failed load leaves the defaults */
    phx_config_free(&cfg);
}

static void test_broken_files(void)
{
    static const struct { const char *file; int line; const char *want; } cases[] = {
        { "bad-syntax.conf", 3, "syntax error (libconfig: " },
        { "bad-duplicate-key.conf", 4, "syntax error (libconfig: duplicate setting name)" },
        { "bad-unknown-top.conf", 4, "unknown key 'runtme' (did you mean 'runtime'?)" },
        { "bad-unknown-nested.conf", 4,
          "unknown key 'runtime.thread' (did you mean 'runtime.threads'?)" },
        { "bad-unknown-far.conf", 3, "unknown key 'completely_unrelated'" },
        { "bad-string-for-int.conf", 3, "runtime.threads: expected an integer, got a string" },
        { "bad-int-for-string.conf", 2, "prefix: expected a string, got an integer" },
        { "bad-list-for-group.conf", 3, "runtime: expected a group { ... }, got a list" },
        { "bad-bool.conf", 3, "topology.bind_memory: expected true or false, got an integer" },
        { "bad-float.conf", 2, "runtime.spin_us: expected an integer, got a float" },
        { "bad-array-for-list.conf", 2, "plugins: expected a list" },
        { "bad-range.conf", 4, "runtime.threads: must be between 1 and 256 (got 0)" },
        { "bad-mode.conf", 2, "runtime.mode: unknown mode 'exclusive' (shared|dedicate)" },
        { "bad-settings-no-plugin.conf", 3,
          "settings.ucz: no plugin 'ucz' in plugins (did you mean 'settings.ucx'?)" },
        { "bad-settings-not-group.conf", 2,
          "settings.mrpc: expected a group { ... } of plugin settings, got an integer" },
        { "bad-settings-twice.conf", 2, "ucx: give settings.ucx or the deprecated ucx, not both" },
        { "bad-level.conf", 3,
          "log.level: unknown level 'loud' (error|warn|info|debug|trace)" },
        { "bad-socket-mode.conf", 3,
          "control.socket_mode: must be between 0 and 0777 (got 01000)" },
        { "bad-slab.conf", 2, "heap.slab_kb: must be a power of two (got 3000)" },
        { "bad-prefix-relative.conf", 2, "prefix: must be an absolute path (got 'run/phoenix')" },
        { "bad-state-dir-relative.conf", 2,
          "state_dir: must be an absolute path or \"\" (got 'var/lib/phoenix')" },
        { "bad-plugin-duplicate.conf", 5,
          "plugins[2].name: duplicate plugin name 'mrpc' (also plugins[0], line 3)" },
        { "bad-plugin-no-path.conf", 4, "plugins[1].path: missing" },
        { "bad-plugin-unknown-key.conf", 3,
          "unknown key 'plugins[0].pth' (did you mean 'plugins[0].path'?)" },
        { "bad-plugin-not-group.conf", 3, "plugins[0]: expected a group" },
        { "bad-plugin-empty-name.conf", 2, "plugins[0].name: must not be empty" },
        { "bad-trusted-dirs.conf", 3,
          "plugin_trusted_dirs: 'build/plugins' is not an absolute directory" },
        { "bad-conns-per-uid.conf", 4,
          "control.max_conns_per_uid: must be between 1 and 65536 (got 0)" },
        { "bad-idle-timeout.conf", 3,
          "control.idle_timeout_s: expected an integer, got a string" },
    };

    for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        expect_error_at(data_file(cases[i].file), cases[i].file, cases[i].line, cases[i].want);
    /* No suggestion when nothing is near. */
    expect_error_at(data_file("bad-unknown-far.conf"), "bad-unknown-far.conf", 3, "");
    CU_ASSERT_PTR_NULL(strstr(err, "did you mean"));
}

static void test_missing_and_unreadable_files(void)
{
    phx_config_t cfg;
    const char *dir = phx_test_tmpdir("config");

    CU_ASSERT_EQUAL(phx_config_load(&cfg, "/nonexistent-dir/x.conf", err, sizeof(err)), -1);
    CU_ASSERT_STRING_EQUAL(err, "/nonexistent-dir/x.conf: cannot open: No such file or directory");
    CU_ASSERT_STRING_EQUAL(cfg.source, "(defaults)");
    phx_config_free(&cfg);

    char expected[PATH_MAX + 64];
    snprintf(expected, sizeof(expected), "%s: cannot open: Is a directory", dir);
    CU_ASSERT_EQUAL(phx_config_load(&cfg, dir, err, sizeof(err)), -1);
    CU_ASSERT_STRING_EQUAL(err, expected);
    phx_config_free(&cfg);
    phx_test_rmtree(dir);
}

static void test_include_next_to_the_file(void)
{
    phx_config_t cfg;

    CU_ASSERT_EQUAL(phx_config_load(&cfg, data_file("include-main.conf"), err, sizeof(err)), 0);
    CU_ASSERT_EQUAL(cfg.runtime.threads, 3);
    CU_ASSERT_STRING_EQUAL(cfg.prefix, "/tmp/phx-include");
    phx_config_free(&cfg);
    /* A mistake in an included file is reported in that file, at its own line. */
    expect_error_at(data_file("include-bad-main.conf"), "include-bad-part.conf", 3,
                    "heap.slab_kb: must be a power of two (got 100)");
}

static void test_plugin_count_limit(void)
{
    const char *dir = phx_test_tmpdir("config");
    char text[8192] = "\nplugins = (\n";
    phx_config_t cfg;

    for (int i = 0; i < PHX_CONFIG_MAX_PLUGINS; i++)
        snprintf(text + strlen(text), sizeof(text) - strlen(text),
                 "%s{ name = \"p%d\"; path = \"p%d.so\"; }\n", i ? "," : "", i, i);
    strcat(text, ");\n");
    CU_ASSERT_EQUAL(phx_config_load(&cfg, phx_test_write_file(dir, "max.conf", text), err,
                                    sizeof(err)), 0);
    CU_ASSERT_EQUAL(cfg.nplugins, PHX_CONFIG_MAX_PLUGINS);
    phx_config_free(&cfg);

    strcpy(strstr(text, ");\n"), ", { name = \"one-more\"; path = \"x.so\"; } );\n");
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s", phx_test_write_file(dir, "toomany.conf", text));
    expect_error_at(path, "toomany.conf", 2, "plugins: at most 64 plugins (got 65)");
    phx_test_rmtree(dir);
}

static void test_error_buffer_edges(void)
{
    phx_config_t cfg;
    char small[16];

    CU_ASSERT_EQUAL(phx_config_load(&cfg, data_file("bad-range.conf"), NULL, 0), -1);
    phx_config_free(&cfg);
    CU_ASSERT_EQUAL(phx_config_load(&cfg, data_file("bad-range.conf"), small, sizeof(small)), -1);
    CU_ASSERT_EQUAL(strlen(small), sizeof(small) - 1);
    phx_config_free(&cfg);

    /* A value quoted back in the message must not break it into two lines. */
    const char *dir = phx_test_tmpdir("config");
    const char *path = phx_test_write_file(dir, "nl.conf", "log = { level = \"in\\nfo\"; };\n");
    CU_ASSERT_EQUAL(phx_config_load(&cfg, path, err, sizeof(err)), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "nl.conf:1: log.level: unknown level 'in?fo'"));
    phx_config_free(&cfg);
    phx_test_rmtree(dir);
}

/* A plugin's settings table is checked before the service writes into the struct it names. */
struct checked { unsigned batch; char *name; };
static const char *const checked_names[] = { "a", NULL };

static void test_schema_check(void)
{
    struct phx_setting good[] = {
        PHX_SETTING_UINT(struct checked, batch, 1, 1, 9, "b"),
        PHX_SETTING_STRING(struct checked, name, "", "n"),
    };
    PHX_SETTINGS_SCHEMA(schema, "t", struct checked, good);
    struct phx_settings_schema bad = schema;
    char why[256] = "";

    CU_ASSERT_EQUAL(phx_settings_schema_check(&schema, why, sizeof(why)), 0);
    good[1].offset = sizeof(struct checked) - 4;           /* a pointer past the end */
    CU_ASSERT_EQUAL(phx_settings_schema_check(&schema, why, sizeof(why)), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(why, "setting 'name' lies at byte"));
    good[1].offset = offsetof(struct checked, name);
    good[0].kind = (phx_setting_kind_t)9;
    CU_ASSERT_EQUAL(phx_settings_schema_check(&schema, why, sizeof(why)), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(why, "setting 'batch' has unknown kind 9"));
    good[0].kind = PHX_SETTING_KIND_ENUM;                   /* an enum without names */
    CU_ASSERT_EQUAL(phx_settings_schema_check(&schema, why, sizeof(why)), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(why, "enum setting 'batch' has no names"));
    good[0].names = checked_names;
    CU_ASSERT_EQUAL(phx_settings_schema_check(&schema, why, sizeof(why)), 0);
    bad.row_size = sizeof(struct phx_setting) + 8;          /* a table of another build */
    CU_ASSERT_EQUAL(phx_settings_schema_check(&bad, why, sizeof(why)), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(why, "rows of"));
}

static const phx_test_case_t cases[] = {
    { "a plugin's settings table is checked before use", test_schema_check },
    { "defaults", test_defaults },
    { "empty file gives the defaults", test_empty_file_gives_defaults },
    { "deploy file loads and is the defaults", test_deploy_file_is_the_defaults },
    { "deploy file documents the plugins' settings", test_deploy_file_has_plugin_settings },
    { "full custom file sets every key", test_full_custom_file },
    { "dump then load round trips", test_dump_load_round_trip },
    { "socket mode spellings", test_socket_mode_spellings },
    { "environment overrides", test_env_overrides },
    { "broken files name file, line and key", test_broken_files },
    { "missing and unreadable files", test_missing_and_unreadable_files },
    { "include next to the file", test_include_next_to_the_file },
    { "plugin count limit", test_plugin_count_limit },
    { "error buffer edges", test_error_buffer_edges },
    { "settings: defaults, parse, derive, dump", test_settings_defaults_and_parse },
    { "settings: config_string errors", test_settings_config_string_errors },
    { "plugin sections of phoenix.conf", test_plugin_sections },
    { "deprecated ucx and mrpc sections", test_legacy_sections },
    { NULL, NULL },
};

int main(int argc, char **argv)
{
    return phx_test_main("config", cases, argc, argv);
}
