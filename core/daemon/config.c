/* config.c - phoenix.conf into phx_config_t, driven by one schema table. See config.h.
 *
 * Every key is one row of config_keys[] (settings.h): its dotted path, its kind, where it lives
 * in phx_config_t, its default and its limits. The one table sets the defaults, loads a file,
 * applies the environment, dumps and frees, so adding a key is a struct field plus a row. The
 * walker and the kinds are settings.c's, shared with every plugin's settings.
 *
 * Three kinds are the service's own (settings_load.h, custom rows): the plugin list, whose
 * elements are groups walked over plugin_keys[]; `settings`, the plugins' sections, which stay
 * in the parsed tree (cfg->tree) until each plugin is open and loads its own with its schema
 * (phx_config_plugin_settings); and the deprecated top-level sections of plugins that used to
 * live here (legacy_sections[]), read as their settings.<name> with a note. */
#include "config.h"

#include "metrics_http.h"
#include "phoenix/admin/config_text.h"
#include "phoenix/admin/placement.h"
#include "plugin_trust.h"
#include "settings_load.h"

#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>

#define KEY_PATH_MAX  256

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* ---- rules beyond type and range ---- */

/* The control socket is PREFIX/control.sock: a prefix too long for sun_path fails here, where the
 * admin can see which key to fix, rather than at bind(2). */
static int check_prefix(const char *value, char *why, size_t n)
{
    const size_t max = sizeof(((struct sockaddr_un *)0)->sun_path) - sizeof("/control.sock");

    if (value[0] != '/')
        return snprintf(why, n, "must be an absolute path (got '%s')", value), -1;
    if (strlen(value) > max)
        return snprintf(why, n, "too long for a unix socket path (%zu bytes, at most %zu)",
                        strlen(value), max), -1;
    return 0;
}

/* The state directory: "" (the prefix) or an absolute path. */
static int check_state_dir(const char *value, char *why, size_t n)
{
    if (value[0] && value[0] != '/')
        return snprintf(why, n, "must be an absolute path or \"\" (got '%s')", value), -1;
    if (strlen(value) > 3900)
        return snprintf(why, n, "too long (%zu bytes)", strlen(value)), -1;
    return 0;
}

static int check_power_of_two(long long value, char *why, size_t n)
{
    if (value <= 0 || (value & (value - 1)) != 0)
        return snprintf(why, n, "must be a power of two (got %lld)", value), -1;
    return 0;
}

/* ---- the service's own kinds (defined further down) ---- */

static int init_plugins(const struct phx_setting *spec, void *base);
static int load_plugins(const struct phx_settings_loader *ld, const struct phx_setting *spec,
                        const config_setting_t *s, void *base, const char *key);
static void dump_plugins(const struct phx_setting *spec, const void *base, FILE *out);
static void release_plugins(const struct phx_setting *spec, void *base);
static int init_nothing(const struct phx_setting *spec, void *base);
static int load_sections(const struct phx_settings_loader *ld, const struct phx_setting *spec,
                         const config_setting_t *s, void *base, const char *key);
static void dump_sections(const struct phx_setting *spec, const void *base, FILE *out);
static int load_legacy(const struct phx_settings_loader *ld, const struct phx_setting *spec,
                       const config_setting_t *s, void *base, const char *key);

static const struct phx_setting_custom plugins_kind = {
    PHX_SETTINGS_TYPE_BIT(CONFIG_TYPE_LIST), "a list ( { name = ...; path = ...; }, ... )",
    init_plugins, load_plugins, dump_plugins, release_plugins,
};
static const struct phx_setting_custom sections_kind = {
    PHX_SETTINGS_TYPE_BIT(CONFIG_TYPE_GROUP), "a group { <plugin> = { ... }; ... }",
    init_nothing, load_sections, dump_sections, NULL,
};
static const struct phx_setting_custom legacy_kind = {
    PHX_SETTINGS_TYPE_BIT(CONFIG_TYPE_GROUP), "a group { ... }", init_nothing, load_legacy,
    NULL, NULL,
};

/* ---- the schema ---- */

static const char *const level_names[] = { "error", "warn", "info", "debug", "trace", NULL };
static const char *const runtime_mode_names[] = { "shared", "dedicate", NULL };

/* One row per key of phx_config_t. The key's path is the field's name, so the two cannot drift
 * apart. Optional trailing arguments are designated initializers (.check_num = ..., .flags). */
#define STRING(field, dflt, ...) \
    PHX_SETTING_STRING(phx_config_t, field, dflt, NULL, __VA_ARGS__)
#define BOOL(field, dflt)              PHX_SETTING_BOOL(phx_config_t, field, dflt, NULL)
#define UINT(field, dflt, lo, hi, ...) \
    PHX_SETTING_UINT(phx_config_t, field, dflt, lo, hi, NULL, __VA_ARGS__)
#define ENUM(field, dflt, names_)      PHX_SETTING_ENUM(phx_config_t, field, dflt, names_, NULL)
#define MODE(field, dflt, hi)          PHX_SETTING_MODE(phx_config_t, field, dflt, hi, NULL)
#define PLUGINS(field, most) \
    { #field, 0, offsetof(phx_config_t, field), .max = (most), .custom = &plugins_kind }
#define SECTIONS(name)                 { name, 0, 0, .custom = &sections_kind }
#define LEGACY(name)                   { name, 0, 0, .custom = &legacy_kind }

static const struct phx_setting config_keys[] = {
    STRING(prefix,               "/run/phoenix", .check_str = check_prefix),
    STRING(state_dir,            "", .check_str = check_state_dir),
    STRING(plugin_dir,           ""),
    STRING(plugin_trusted_dirs,  "", .check_str = phx_plugin_trust_check_list),
    ENUM(log.level,              PHX_LOG_INFO, level_names),
    STRING(log.file,             "-", .flags = PHX_SETTING_NONEMPTY),
    UINT(runtime.threads,        PHX_RUNTIME_THREADS_DEFAULT, 1, PHX_RUNTIME_THREADS_MAX),
    ENUM(runtime.mode,           PHX_RUNTIME_SHARED, runtime_mode_names),
    UINT(runtime.spin_us,        50, 0, 1000000),
    UINT(runtime.urgent_threads, PHX_RUNTIME_URGENT_THREADS_DEFAULT, 0,
         PHX_RUNTIME_URGENT_THREADS_MAX),
    STRING(control.admin_group,  ""),
    MODE(control.socket_mode,    0660, 0777),
    UINT(control.max_apps,       1024, 1, 65536),
    UINT(control.max_rules,      256, 1, 65536),
    UINT(control.max_user_rules, 4, 0, 65536),
    UINT(control.max_conns_per_uid, 320, 1, 65536),
    UINT(control.max_apps_per_uid, 256, 1, 65536),
    UINT(control.idle_timeout_s, 10, 1, 86400),
    STRING(metrics.listen,       "127.0.0.1:9464", .check_str = phx_metrics_listen_check),
    STRING(topology.nic,         ""),
    BOOL(topology.bind_memory,   true),
    STRING(topology.xml,         ""),
    UINT(heap.send_mb,           1024, 1, 1048576),
    UINT(heap.recv_mb,           1024, 1, 1048576),
    UINT(heap.slab_kb,           2048, 64, 1048576, .check_num = check_power_of_two),
    PLUGINS(plugins,             PHX_CONFIG_MAX_PLUGINS),
    SECTIONS("settings"),
    LEGACY("ucx"),
    LEGACY("mrpc"),
};

/* The fields of one element of the plugin list. */
static const struct phx_setting plugin_keys[] = {
    PHX_SETTING_STRING(struct phx_config_plugin, name, "", NULL,
                       .flags = PHX_SETTING_REQUIRED | PHX_SETTING_NONEMPTY),
    PHX_SETTING_STRING(struct phx_config_plugin, path, "", NULL,
                       .flags = PHX_SETTING_REQUIRED | PHX_SETTING_NONEMPTY),
};

static const struct { const char *name, *path; } default_plugins[] = {
    { "mrpc", "libphoenix_mrpc.so" },
    { "ucx",  "libphoenix_ucx.so" },
};

/* Environment variables that override a key; only kinds with a text form (strings, enums). */
static const struct { const char *var, *path; } env_overrides[] = {
    { "PHOENIX_PREFIX",    "prefix" },
    { "PHOENIX_STATE_DIR", "state_dir" },
    { "PHOENIX_LOG_LEVEL", "log.level" },
};

/* A group's keys are tracked in a 64-bit mask while it loads (required keys). */
_Static_assert(COUNT(config_keys) <= 64 && COUNT(plugin_keys) <= 64, "seen mask is 64 bits");
/* Enum fields are stored through an int pointer. */
_Static_assert(sizeof(phx_log_level_t) == sizeof(int) && sizeof(phx_runtime_mode_t) == sizeof(int),
               "enum fields must be int-sized");
_Static_assert(COUNT(level_names) == PHX_LOG_TRACE + 2, "one name per log level");

static struct phx_settings_target config_target(phx_config_t *cfg)
{
    return (struct phx_settings_target){ config_keys, COUNT(config_keys), cfg, "" };
}

static const struct phx_setting *find_key(const char *path)
{
    for (size_t i = 0; i < COUNT(config_keys); i++)
        if (strcmp(config_keys[i].key, path) == 0)
            return &config_keys[i];
    return NULL;
}

static int init_nothing(const struct phx_setting *spec, void *base)
{
    return 0;
}

/* ---- the plugin list ---- */

static struct phx_settings_target plugin_target(struct phx_config_plugin *plugin,
                                                const char *shown)
{
    return (struct phx_settings_target){ plugin_keys, COUNT(plugin_keys), plugin, shown };
}

static void release_plugins(const struct phx_setting *spec, void *base)
{
    phx_config_t *cfg = base;

    for (unsigned i = 0; i < cfg->nplugins; i++)
        phx_settings_free_keys(plugin_keys, COUNT(plugin_keys), &cfg->plugins[i]);
    free(cfg->plugins);
    cfg->plugins = NULL;
    cfg->nplugins = 0;
}

/* Replaces the list with N plugins holding plugin_keys' defaults. */
static int reset_plugins(phx_config_t *cfg, unsigned n)
{
    release_plugins(NULL, cfg);
    cfg->plugins = calloc(n ? n : 1, sizeof(*cfg->plugins));    /* calloc(0) may be NULL */
    if (!cfg->plugins)
        return -ENOMEM;
    for (; cfg->nplugins < n; cfg->nplugins++)
        if (phx_settings_init_keys(plugin_keys, COUNT(plugin_keys),
                                   &cfg->plugins[cfg->nplugins]) < 0)
            return -ENOMEM;
    return 0;
}

static int init_plugins(const struct phx_setting *spec, void *base)
{
    phx_config_t *cfg = base;

    cfg->plugins = calloc(COUNT(default_plugins), sizeof(*cfg->plugins));
    if (!cfg->plugins)
        return -ENOMEM;
    for (unsigned i = 0; i < COUNT(default_plugins); i++) {
        struct phx_config_plugin *plugin = &cfg->plugins[cfg->nplugins++];
        plugin->name = strdup(default_plugins[i].name);
        plugin->path = strdup(default_plugins[i].path);
        if (!plugin->name || !plugin->path)
            return -ENOMEM;
    }
    return 0;
}

/* Names identify plugins in admin requests, upgrades and settings, so two of one name is an
 * error. */
static int check_unique_name(const struct phx_settings_loader *ld, const phx_config_t *cfg,
                             const config_setting_t *list, unsigned index, const char *shown)
{
    for (unsigned j = 0; j < index; j++) {
        if (strcmp(cfg->plugins[j].name, cfg->plugins[index].name) != 0)
            continue;
        const config_setting_t *elem = config_setting_get_elem(list, index);
        char key[KEY_PATH_MAX];
        snprintf(key, sizeof(key), "%sname", shown);
        return phx_settings_fail_at(ld, config_setting_get_member(elem, "name"), key,
                                    "duplicate plugin name '%s' (also plugins[%u], line %u)",
                                    cfg->plugins[index].name, j,
                                    config_setting_source_line(config_setting_get_elem(list, j)));
    }
    return 0;
}

static int load_plugin(const struct phx_settings_loader *ld, phx_config_t *cfg,
                       const struct phx_setting *spec, const config_setting_t *list,
                       unsigned index)
{
    const config_setting_t *elem = config_setting_get_elem(list, index);
    char shown[32];     /* "plugins[63]." */
    struct phx_settings_target t = plugin_target(&cfg->plugins[index], shown);

    snprintf(shown, sizeof(shown), "%s[%u].", spec->key, index);

    if (!config_setting_is_group(elem)) {
        shown[strlen(shown) - 1] = '\0';    /* "plugins[3]", no dot */
        return phx_settings_fail_at(ld, elem, shown,
                                    "expected a group { name = ...; path = ...; }, got %s",
                                    phx_settings_type_name(elem));
    }
    if (phx_settings_load_group(ld, &t, elem) < 0)
        return -1;
    return check_unique_name(ld, cfg, list, index, shown);
}

static int load_plugins(const struct phx_settings_loader *ld, const struct phx_setting *spec,
                        const config_setting_t *s, void *base, const char *key)
{
    phx_config_t *cfg = base;
    unsigned n = (unsigned)config_setting_length(s);

    if (n > spec->max)
        return phx_settings_fail_at(ld, s, key, "at most %lld plugins (got %u)", spec->max, n);
    if (reset_plugins(cfg, n) < 0)
        return phx_settings_fail_at(ld, s, key, "out of memory");
    for (unsigned i = 0; i < n; i++)
        if (load_plugin(ld, cfg, spec, s, i) < 0)
            return -1;
    return 0;
}

static void dump_plugins(const struct phx_setting *spec, const void *base, FILE *out)
{
    const phx_config_t *cfg = base;

    fputs("(", out);
    for (unsigned i = 0; i < cfg->nplugins; i++) {
        fputs(i ? ",\n  { " : "\n  { ", out);
        for (size_t k = 0; k < COUNT(plugin_keys); k++) {
            fprintf(out, "%s = ", plugin_keys[k].key);
            phx_settings_dump_string(*(char *const *)((const char *)&cfg->plugins[i] +
                                                      plugin_keys[k].offset), out);
            fputs("; ", out);
        }
        fputs("}", out);
    }
    fputs(cfg->nplugins ? "\n)" : ")", out);
}

/* ---- the plugins' sections ---- */

/* The top-level sections of plugins whose settings lived in phx_config_t before settings.h. */
static const char *const legacy_sections[] = { "ucx", "mrpc" };

static bool is_legacy(const char *name)
{
    for (size_t i = 0; i < COUNT(legacy_sections); i++)
        if (strcmp(legacy_sections[i], name) == 0)
            return true;
    return false;
}

/* Each member is a group named after a plugin; the names are checked once the list is known. */
static int load_sections(const struct phx_settings_loader *ld, const struct phx_setting *spec,
                         const config_setting_t *s, void *base, const char *key)
{
    for (int i = 0; i < config_setting_length(s); i++) {
        const config_setting_t *section = config_setting_get_elem(s, (unsigned)i);
        char name[KEY_PATH_MAX];
        snprintf(name, sizeof(name), "%s.%s", key, config_setting_name(section));
        if (!config_setting_is_group(section))
            return phx_settings_fail_at(ld, section, name,
                                        "expected a group { ... } of plugin settings, got %s",
                                        phx_settings_type_name(section));
    }
    return 0;
}

static int add_note(phx_config_t *cfg, const char *line)
{
    size_t had = cfg->notes ? strlen(cfg->notes) : 0;
    char *notes = realloc(cfg->notes, had + strlen(line) + 2);

    if (!notes)
        return -ENOMEM;
    snprintf(notes + had, strlen(line) + 2, "%s\n", line);
    cfg->notes = notes;
    return 0;
}

static int load_legacy(const struct phx_settings_loader *ld, const struct phx_setting *spec,
                       const config_setting_t *s, void *base, const char *key)
{
    char note[512];

    snprintf(note, sizeof(note),
             "%s:%u: '%s = { ... }' is deprecated; write 'settings = { %s = { ... }; };'",
             phx_settings_source(ld, s), config_setting_source_line(s), key, key);
    if (add_note(base, note) < 0)
        return phx_settings_fail_at(ld, s, key, "out of memory");
    return 0;
}

static const struct phx_config_plugin *find_plugin(const phx_config_t *cfg, const char *name)
{
    for (unsigned i = 0; i < cfg->nplugins; i++)
        if (strcmp(cfg->plugins[i].name, name) == 0)
            return &cfg->plugins[i];
    return NULL;
}

static int no_such_plugin(const struct phx_settings_loader *ld, const phx_config_t *cfg,
                          const config_setting_t *s, const char *key)
{
    const char *names[PHX_CONFIG_MAX_PLUGINS];

    for (unsigned i = 0; i < cfg->nplugins; i++)
        names[i] = cfg->plugins[i].name;
    const char *near = phx_settings_nearest(config_setting_name(s), names, cfg->nplugins);
    if (near)
        return phx_settings_fail_at(ld, s, key, "no plugin '%s' in plugins (did you mean "
                                    "'settings.%s'?)", config_setting_name(s), near);
    return phx_settings_fail_at(ld, s, key, "no plugin '%s' in plugins",
                                config_setting_name(s));
}

/* Once the whole file is read: every section names a plugin, and none is given twice. */
static int check_sections(const struct phx_settings_loader *ld, const phx_config_t *cfg,
                          const config_setting_t *root)
{
    const config_setting_t *sections = config_setting_get_member(root, "settings");
    char key[KEY_PATH_MAX];

    for (int i = 0; sections && i < config_setting_length(sections); i++) {
        const config_setting_t *s = config_setting_get_elem(sections, (unsigned)i);
        snprintf(key, sizeof(key), "settings.%s", config_setting_name(s));
        if (!find_plugin(cfg, config_setting_name(s)))
            return no_such_plugin(ld, cfg, s, key);
    }
    for (size_t i = 0; i < COUNT(legacy_sections); i++) {
        const config_setting_t *s = config_setting_get_member(root, legacy_sections[i]);
        if (!s)
            continue;
        if (sections && config_setting_get_member(sections, legacy_sections[i]))
            return phx_settings_fail_at(ld, s, legacy_sections[i], "give settings.%s or the "
                                        "deprecated %s, not both", legacy_sections[i],
                                        legacy_sections[i]);
        if (!find_plugin(cfg, legacy_sections[i]))
            return no_such_plugin(ld, cfg, s, legacy_sections[i]);
    }
    return 0;
}

/* The section of PLUGIN in the tree, and how its keys are shown ("settings.ucx."). */
static const config_setting_t *find_section(const phx_config_t *cfg, const char *plugin,
                                            char *shown, size_t n)
{
    const config_t *tree = cfg ? cfg->tree : NULL;
    const config_setting_t *root = tree ? config_root_setting(tree) : NULL;
    const config_setting_t *sections = root ? config_setting_get_member(root, "settings") : NULL;
    const config_setting_t *s = sections ? config_setting_get_member(sections, plugin) : NULL;

    snprintf(shown, n, "settings.%s.", plugin);
    if (!s && root && is_legacy(plugin) && (s = config_setting_get_member(root, plugin)))
        snprintf(shown, n, "%s.", plugin);
    return s;
}

int phx_config_plugin_settings(const phx_config_t *cfg, const char *plugin,
                               const struct phx_settings_schema *schema, void *base, char *err,
                               size_t errlen)
{
    char shown[KEY_PATH_MAX];
    const config_setting_t *s = find_section(cfg, plugin, shown, sizeof(shown));
    struct phx_settings_loader ld = { cfg ? cfg->source : "(defaults)", err, errlen,
                                      phx_settings_libconfig_reads_octal() };

    if (!schema) {
        if (!s)
            return 0;
        shown[strlen(shown) - 1] = '\0';
        return phx_settings_fail_at(&ld, s, shown, "plugin '%s' takes no settings", plugin);
    }
    if (phx_settings_init(schema, base) < 0) {
        phx_settings_error(err, errlen, "%s: out of memory", plugin);
        phx_settings_free(schema, base);
        return -1;
    }
    struct phx_settings_target t = { schema->keys, schema->nkeys, base, shown };
    if (s && phx_settings_load_group(&ld, &t, s) < 0) {
        phx_settings_free(schema, base);
        return -1;
    }
    return 0;
}

/* The sections as written: libconfig values, recursively. */
static void dump_value(const config_setting_t *s, FILE *out);

static void dump_members(const config_setting_t *s, FILE *out, const char *open,
                         const char *close, bool named)
{
    fputs(open, out);
    for (int i = 0; i < config_setting_length(s); i++) {
        const config_setting_t *m = config_setting_get_elem(s, (unsigned)i);
        if (named)
            fprintf(out, " %s = ", config_setting_name(m));
        else
            fputs(i ? ", " : " ", out);
        dump_value(m, out);
        if (named)
            fputs(";", out);
    }
    fprintf(out, " %s", close);
}

/* libconfig reads a float too large for a double (1e999) as infinity and has no literal for
 * it: "inf" would not load again, so an infinity is written as the overflow it came from. A
 * float whose %g text has neither a point nor an exponent (8e12 prints "8000000000000") gets
 * ".0", or it would load again as an integer (and overflow one). */
static void dump_float(double v, FILE *out)
{
    char text[64];

    if (isinf(v)) {
        fputs(v > 0 ? "1e999" : "-1e999", out);
        return;
    }
    snprintf(text, sizeof(text), "%.17g", v);
    fprintf(out, "%s%s", text, strpbrk(text, ".eEn") ? "" : ".0");
}

static void dump_value(const config_setting_t *s, FILE *out)
{
    switch (config_setting_type(s)) {
    case CONFIG_TYPE_GROUP:  dump_members(s, out, "{", "}", true); break;
    case CONFIG_TYPE_LIST:   dump_members(s, out, "(", ")", false); break;
    case CONFIG_TYPE_ARRAY:  dump_members(s, out, "[", "]", false); break;
    case CONFIG_TYPE_INT:    fprintf(out, "%lld", config_setting_get_int64(s)); break;
    /* without its L, libconfig 1.5 reads a 64-bit value back wrong (9223372036854775807: -1) */
    case CONFIG_TYPE_INT64:  fprintf(out, "%lldL", config_setting_get_int64(s)); break;
    case CONFIG_TYPE_FLOAT:  dump_float(config_setting_get_float(s), out); break;
    case CONFIG_TYPE_BOOL:   fputs(config_setting_get_bool(s) ? "true" : "false", out); break;
    case CONFIG_TYPE_STRING: phx_settings_dump_string(config_setting_get_string(s), out); break;
    default:                 fputs("\"\"", out); break;
    }
}

/* settings.<name> and the deprecated sections, all under `settings`. */
static void dump_sections(const struct phx_setting *spec, const void *base, FILE *out)
{
    const phx_config_t *cfg = base;
    const config_t *tree = cfg->tree;
    const config_setting_t *root = tree ? config_root_setting(tree) : NULL;
    const config_setting_t *sections = root ? config_setting_get_member(root, "settings") : NULL;
    char shown[KEY_PATH_MAX];

    fputs("{", out);
    for (int i = 0; sections && i < config_setting_length(sections); i++) {
        const config_setting_t *s = config_setting_get_elem(sections, (unsigned)i);
        fprintf(out, "\n  %s = ", config_setting_name(s));
        dump_value(s, out);
        fputs(";", out);
    }
    for (size_t i = 0; root && i < COUNT(legacy_sections); i++) {
        const config_setting_t *s = find_section(cfg, legacy_sections[i], shown, sizeof(shown));
        bool in_sections = sections && config_setting_get_member(sections, legacy_sections[i]);
        if (s && !in_sections) {
            fprintf(out, "\n  %s = ", legacy_sections[i]);
            dump_value(s, out);
            fputs(";", out);
        }
    }
    fputs("\n}", out);
}

/* ---- public ---- */

const char *phx_runtime_mode_name(phx_runtime_mode_t mode)
{
    return (unsigned)mode < COUNT(runtime_mode_names) - 1 ? runtime_mode_names[mode] : "?";
}

int phx_config_init_defaults(phx_config_t *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->source = strdup("(defaults)");
    if (!cfg->source || phx_settings_init_keys(config_keys, COUNT(config_keys), cfg) < 0)
        return -ENOMEM;
    return 0;
}

static void free_tree(phx_config_t *cfg)
{
    if (cfg->tree)
        config_destroy(cfg->tree);
    free(cfg->tree);
    cfg->tree = NULL;
}

void phx_config_free(phx_config_t *cfg)
{
    phx_settings_free_keys(config_keys, COUNT(config_keys), cfg);
    free_tree(cfg);
    free(cfg->source);
    free(cfg->notes);
    memset(cfg, 0, sizeof(*cfg));
}

/* Parses LD->path into LC; relative @include files are looked up next to it. */
static int read_file(struct phx_settings_loader *ld, config_t *lc)
{
    /* libconfig only says "file I/O error"; the admin needs the reason. glibc opens a
     * directory for reading, so that one is caught by hand. */
    char include_dir[PATH_MAX];
    struct stat st;
    FILE *probe = fopen(ld->path, "r");
    int open_errno = !probe ? errno
                     : fstat(fileno(probe), &st) == 0 && S_ISDIR(st.st_mode) ? EISDIR : 0;

    if (probe)
        fclose(probe);
    if (open_errno) {
        phx_settings_error(ld->err, ld->errlen, "%s: cannot open: %s", ld->path,
                           strerror(open_errno));
        return -1;
    }
    snprintf(include_dir, sizeof(include_dir), "%s", ld->path);
    config_init(lc);
    config_set_include_dir(lc, dirname(include_dir));   /* libconfig keeps a copy */
    errno = 0;
    if (config_read_file(lc, ld->path) == CONFIG_TRUE)
        return 0;
    if (config_error_type(lc) == CONFIG_ERR_FILE_IO)
        phx_settings_error(ld->err, ld->errlen, "%s: cannot read: %s", ld->path,
                           strerror(errno ? errno : EIO));
    else
        phx_settings_error(ld->err, ld->errlen, "%s:%d: syntax error (libconfig: %s)",
                           config_error_file(lc) ? config_error_file(lc) : ld->path,
                           config_error_line(lc), config_error_text(lc));
    config_destroy(lc);
    return -1;
}

/* Parses TEXT into LC: phoenix.conf handed over in memory (ld->path names it), without
 * @include, which would open files relative to the current directory. */
static int read_text(struct phx_settings_loader *ld, config_t *lc, const char *text)
{
    unsigned include = phx_config_text_include_line(text);

    if (include) {
        phx_settings_error(ld->err, ld->errlen, "%s:%u: @include: not allowed here", ld->path,
                           include);
        return -1;
    }
    config_init(lc);
    if (config_read_string(lc, text) == CONFIG_TRUE)
        return 0;
    phx_settings_error(ld->err, ld->errlen, "%s:%d: syntax error (libconfig: %s)", ld->path,
                       config_error_line(lc), config_error_text(lc));
    config_destroy(lc);
    return -1;
}

/* The file (TEXT NULL) or the text, parsed and applied over CFG's defaults. */
static int load_tree(struct phx_settings_loader *ld, phx_config_t *cfg, const char *text)
{
    config_t *lc = malloc(sizeof(*lc));
    struct phx_settings_target t = config_target(cfg);

    if (!lc || (text ? read_text(ld, lc, text) : read_file(ld, lc)) < 0) {
        if (!lc)
            phx_settings_error(ld->err, ld->errlen, "%s: out of memory", ld->path);
        free(lc);
        return -1;
    }
    cfg->tree = lc;
    if (phx_settings_load_group(ld, &t, config_root_setting(lc)) < 0 ||
        check_sections(ld, cfg, config_root_setting(lc)) < 0)
        return -1;
    free(cfg->source);
    cfg->source = strdup(ld->path);
    if (!cfg->source) {
        phx_settings_error(ld->err, ld->errlen, "%s: out of memory", ld->path);
        return -1;
    }
    return 0;
}

static int load(phx_config_t *cfg, const char *path, const char *text, char *err, size_t errlen)
{
    struct phx_settings_loader ld = { .path = path, .err = err, .errlen = errlen,
                                      .reads_octal = phx_settings_libconfig_reads_octal() };

    if (phx_config_init_defaults(cfg) < 0) {
        phx_settings_error(err, errlen, "%s: out of memory", path);
        return -1;
    }
    if (load_tree(&ld, cfg, text) == 0)
        return 0;
    phx_config_free(cfg);
    phx_config_init_defaults(cfg);
    return -1;
}

int phx_config_load(phx_config_t *cfg, const char *path, char *err, size_t errlen)
{
    return load(cfg, path, NULL, err, errlen);
}

int phx_config_load_text(phx_config_t *cfg, const char *text, const char *origin, char *err,
                         size_t errlen)
{
    return load(cfg, origin, text, err, errlen);
}

const char *phx_config_env_trusted_dirs(void)
{
    const char *v = getenv(PHX_ENV_TRUSTED_DIRS);

    return v ? v : "";
}

int phx_config_apply_env(phx_config_t *cfg, char *err, size_t errlen)
{
    char why[512];

    for (size_t i = 0; i < COUNT(env_overrides); i++) {
        const char *value = getenv(env_overrides[i].var);
        if (!value || !*value)
            continue;
        if (phx_settings_set_text(find_key(env_overrides[i].path), cfg, value, why,
                                  sizeof(why)) < 0) {
            phx_settings_error(err, errlen, "%s: %s", env_overrides[i].var, why);
            return -1;
        }
    }
    return 0;
}

int phx_config_dump(const phx_config_t *cfg, FILE *out)
{
    fputs("# phoenix.conf: effective configuration, from ", out);
    phx_settings_dump_string(cfg->source ? cfg->source : "(defaults)", out);
    fputs("\n", out);
    return phx_settings_dump_keys(config_keys, COUNT(config_keys), cfg, "", out);
}
