/* config.c - phoenix.conf into phx_config_t, driven by one schema table. See config.h.
 *
 * Every key is one row of config_keys[]: its dotted path, its kind (string, bool, unsigned, enum,
 * octal mode, plugin list), where it lives in phx_config_t, its default and its limits. The one
 * table sets the defaults, loads a file, applies the environment, dumps and frees, so adding a
 * key is a struct field plus a row. A section is a path prefix ("runtime" of "runtime.threads");
 * the rows of one section are contiguous, one level deep.
 *
 * Loading walks the libconfig tree rather than the table, so that every setting the table does
 * not know is found and reported with the nearest known name. Each kind has a small set of
 * operations (kinds[]) that check a setting's type, store it, print it and free it. The plugin
 * list is a kind of its own whose elements are groups walked with the same code over
 * plugin_keys[]. */
#include "phoenix/config.h"

#include <errno.h>
#include <libconfig.h>
#include <libgen.h>
#include <pthread.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/un.h>

#define KEY_PATH_MAX  256
#define WHY_MAX       512
#define SUGGEST_MAX   2     /* edits at most, for "did you mean" */

typedef enum { KIND_STRING, KIND_BOOL, KIND_UINT, KIND_ENUM, KIND_MODE, KIND_PLUGINS } key_kind_t;

#define KEY_REQUIRED 0x1u   /* must be present (plugin fields) */
#define KEY_NONEMPTY 0x2u   /* "" is an error */

/* The names of an enum, read through a function so that log levels keep theirs in log.c. */
struct enum_names {
    const char *noun;                   /* "unknown <noun> 'x'" */
    const char *(*name)(unsigned value);
    unsigned count;
};

struct key_spec {
    const char *path;
    key_kind_t kind;
    size_t offset;                      /* of the field in the struct the table describes */
    unsigned flags;
    const char *def_str;                /* KIND_STRING */
    long long def, min, max;            /* numbers, booleans, enums; max: most plugins */
    const struct enum_names *names;     /* KIND_ENUM */
    int (*check_str)(const char *value, char *why, size_t n);   /* extra rule, or NULL */
    int (*check_num)(long long value, char *why, size_t n);
};

/* ---- rules beyond type and range ---- */

static int reason(char *why, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int reason(char *why, size_t n, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(why, n, fmt, ap);
    va_end(ap);
    return -1;
}

/* The control socket is PREFIX/control.sock: a prefix too long for sun_path fails here, where the
 * admin can see which key to fix, rather than at bind(2). */
static int check_prefix(const char *value, char *why, size_t n)
{
    const size_t max = sizeof(((struct sockaddr_un *)0)->sun_path) - sizeof("/control.sock");

    if (value[0] != '/')
        return reason(why, n, "must be an absolute path (got '%s')", value);
    if (strlen(value) > max)
        return reason(why, n, "too long for a unix socket path (%zu bytes, at most %zu)",
                      strlen(value), max);
    return 0;
}

static int check_power_of_two(long long value, char *why, size_t n)
{
    if (value <= 0 || (value & (value - 1)) != 0)
        return reason(why, n, "must be a power of two (got %lld)", value);
    return 0;
}

/* ---- the schema ---- */

static const char *level_name(unsigned v) { return phx_log_level_name((phx_log_level_t)v); }
static const char *mode_name(unsigned v) { return phx_runtime_mode_name((phx_runtime_mode_t)v); }
static const char *marshal_name(unsigned v) { return phx_marshal_name((phx_marshal_t)v); }

static const struct enum_names level_names   = { "level", level_name, PHX_LOG_TRACE + 1 };
static const struct enum_names mode_names    = { "mode", mode_name, PHX_RUNTIME_DEDICATE + 1 };
static const struct enum_names marshal_names = { "marshal", marshal_name,
                                                 PHX_MARSHAL_NATIVE + 1 };

/* One row per key of phx_config_t. The key's path is the field's name, so the two cannot drift
 * apart. Optional trailing arguments are designated initializers (.check_num = ..., .flags). */
#define ROW(kind, field, ...) { #field, kind, offsetof(phx_config_t, field), __VA_ARGS__ }
#define STRING(field, dflt, ...)       ROW(KIND_STRING, field, .def_str = (dflt), __VA_ARGS__)
#define BOOL(field, dflt)              ROW(KIND_BOOL, field, .def = (dflt))
#define UINT(field, dflt, lo, hi, ...) \
    ROW(KIND_UINT, field, .def = (dflt), .min = (lo), .max = (hi), __VA_ARGS__)
#define ENUM(field, dflt, names_)      ROW(KIND_ENUM, field, .def = (dflt), .names = (names_))
#define MODE(field, dflt, hi)          ROW(KIND_MODE, field, .def = (dflt), .min = 0, .max = (hi))
#define PLUGINS(field, most)           ROW(KIND_PLUGINS, field, .max = (most))

static const struct key_spec config_keys[] = {
    STRING(prefix,               "/run/phoenix", .check_str = check_prefix),
    STRING(plugin_dir,           ""),
    ENUM(log.level,              PHX_LOG_INFO, &level_names),
    STRING(log.file,             "-", .flags = KEY_NONEMPTY),
    UINT(runtime.threads,        1, 1, 256),
    ENUM(runtime.mode,           PHX_RUNTIME_SHARED, &mode_names),
    UINT(runtime.spin_us,        50, 0, 1000000),
    STRING(control.admin_group,  ""),
    MODE(control.socket_mode,    0660, 0777),
    UINT(control.max_apps,       1024, 1, 65536),
    STRING(topology.nic,         ""),
    BOOL(topology.bind_memory,   true),
    STRING(topology.xml,         ""),
    UINT(heap.send_mb,           1024, 1, 1048576),
    UINT(heap.recv_mb,           1024, 1, 1048576),
    UINT(heap.slab_kb,           2048, 64, 1048576, .check_num = check_power_of_two),
    STRING(ucx.tls,              ""),
    STRING(ucx.net_devices,      ""),
    BOOL(ucx.mm_error_handling,  true),
    UINT(mrpc.max_message_mb,    1024, 1, 1048576),
    UINT(mrpc.inflight_mb,       256, 1, 1048576),
    UINT(mrpc.call_timeout_ms,   30000, 1, 86400000),
    ENUM(mrpc.marshal,           PHX_MARSHAL_NATIVE, &marshal_names),
    PLUGINS(plugins,             PHX_CONFIG_MAX_PLUGINS),
};

/* The fields of one element of the plugin list. */
static const struct key_spec plugin_keys[] = {
    { "name", KIND_STRING, offsetof(struct phx_config_plugin, name),
      .flags = KEY_REQUIRED | KEY_NONEMPTY, .def_str = "" },
    { "path", KIND_STRING, offsetof(struct phx_config_plugin, path),
      .flags = KEY_REQUIRED | KEY_NONEMPTY, .def_str = "" },
};

static const struct { const char *name, *path; } default_plugins[] = {
    { "mrpc", "libphoenix_mrpc.so" },
    { "ucx",  "libphoenix_ucx.so" },
};

/* Environment variables that override a key; only kinds with set_text (strings, enums). */
static const struct { const char *var, *path; } env_overrides[] = {
    { "PHOENIX_PREFIX",    "prefix" },
    { "PHOENIX_LOG_LEVEL", "log.level" },
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* A group's keys are tracked in a 64-bit mask while it loads (required keys). */
_Static_assert(COUNT(config_keys) <= 64 && COUNT(plugin_keys) <= 64, "seen mask is 64 bits");
/* Enum fields are stored through an int pointer. */
_Static_assert(sizeof(phx_log_level_t) == sizeof(int) && sizeof(phx_runtime_mode_t) == sizeof(int)
               && sizeof(phx_marshal_t) == sizeof(int), "enum fields must be int-sized");

/* One table applied to one struct: the whole config, or one plugin of the list. */
struct schema {
    const struct key_spec *keys;
    size_t nkeys;
    void *base;
    const char *shown;      /* put before a key in messages: "" or "plugins[3]." */
};

static void *field_of(const struct key_spec *spec, const void *base)
{
    return (char *)base + spec->offset;
}

static const struct key_spec *find_key(const struct schema *sc, const char *path)
{
    for (size_t i = 0; i < sc->nkeys; i++)
        if (strcmp(sc->keys[i].path, path) == 0)
            return &sc->keys[i];
    return NULL;
}

/* ---- errors: one line, "file:line: key: what" ---- */

struct loader {
    const char *path;
    char *err;
    size_t errlen;
    bool reads_octal;       /* the library reads 0660 as octal (libconfig >= 1.6) */
    char include_dir[PATH_MAX];
};

/* Values quoted back to the user may hold newlines; the caller was promised one line. */
static void set_error(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_error(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (!err || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    for (char *p = err; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';
}

/* Settings from an @include file name that file; the others may not name any. */
static const char *source_file(const struct loader *ld, const config_setting_t *s)
{
    return config_setting_source_file(s) ? config_setting_source_file(s) : ld->path;
}

static int fail_at(const struct loader *ld, const config_setting_t *s, const char *key,
                   const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int fail_at(const struct loader *ld, const config_setting_t *s, const char *key,
                   const char *fmt, ...)
{
    char why[WHY_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    set_error(ld->err, ld->errlen, "%s:%u: %s: %s", source_file(ld, s),
              config_setting_source_line(s), key, why);
    return -1;
}

static const char *type_name(const config_setting_t *s)
{
    static const char *const names[] = {
        [CONFIG_TYPE_NONE] = "nothing",         [CONFIG_TYPE_GROUP] = "a group { ... }",
        [CONFIG_TYPE_INT] = "an integer",       [CONFIG_TYPE_INT64] = "an integer",
        [CONFIG_TYPE_FLOAT] = "a float",        [CONFIG_TYPE_STRING] = "a string",
        [CONFIG_TYPE_BOOL] = "a boolean",       [CONFIG_TYPE_ARRAY] = "an array [ ... ]",
        [CONFIG_TYPE_LIST] = "a list ( ... )",
    };
    unsigned t = (unsigned)config_setting_type(s);

    return t < COUNT(names) && names[t] ? names[t] : "an unknown type";
}

/* ---- the kinds: set from a value, load from a setting, dump, free ---- */

static int set_string(const struct key_spec *spec, void *base, const char *value, char *why,
                      size_t n)
{
    char **field = field_of(spec, base);

    if ((spec->flags & KEY_NONEMPTY) && value[0] == '\0')
        return reason(why, n, "must not be empty");
    if (spec->check_str && spec->check_str(value, why, n) < 0)
        return -1;
    char *copy = strdup(value);
    if (!copy)
        return reason(why, n, "out of memory");
    free(*field);
    *field = copy;
    return 0;
}

static int set_enum(const struct key_spec *spec, void *base, const char *value, char *why,
                    size_t n)
{
    const struct enum_names *en = spec->names;
    char choices[128] = "";

    for (unsigned v = 0; v < en->count; v++) {
        if (strcasecmp(value, en->name(v)) == 0) {
            *(int *)field_of(spec, base) = (int)v;
            return 0;
        }
        size_t used = strlen(choices);
        snprintf(choices + used, sizeof(choices) - used, "%s%s", v ? "|" : "", en->name(v));
    }
    return reason(why, n, "unknown %s '%s' (%s)", en->noun, value, choices);
}

static int set_uint(const struct key_spec *spec, void *base, long long value, char *why, size_t n)
{
    if (value < spec->min || value > spec->max)
        return reason(why, n, "must be between %lld and %lld (got %lld)", spec->min, spec->max,
                      value);
    if (spec->check_num && spec->check_num(value, why, n) < 0)
        return -1;
    *(unsigned *)field_of(spec, base) = (unsigned)value;
    return 0;
}

/* libconfig 1.5 reads "0660" as decimal 660, losing the leading zero. Modes are then read the
 * way chmod(1) reads them: the decimal digits are octal digits. Returns -1 for an 8 or a 9. */
static long long decimal_digits_as_octal(long long value)
{
    long long octal = 0;

    for (long long weight = 1; value > 0; value /= 10, weight *= 8) {
        if (value % 10 > 7)
            return -1;
        octal += (value % 10) * weight;
    }
    return value < 0 ? -1 : octal;
}

/* Asks the library once per load how it reads a leading zero, rather than trusting a version
 * number: the header and the shared library may differ. */
static bool libconfig_reads_octal(void)
{
    config_t probe;
    int value = 0;

    config_init(&probe);
    if (config_read_string(&probe, "probe = 010;") == CONFIG_TRUE)
        config_lookup_int(&probe, "probe", &value);
    config_destroy(&probe);
    return value == 8;
}

static int set_bool(const struct key_spec *spec, void *base, long long value, char *why,
                    size_t n)
{
    *(bool *)field_of(spec, base) = value != 0;
    return 0;
}

static int load_mode(const struct loader *ld, const struct key_spec *spec,
                     const config_setting_t *s, void *base, const char *key)
{
    long long written = config_setting_get_int64(s), value = written;

    if (!ld->reads_octal && config_setting_get_format(s) != CONFIG_FORMAT_HEX)
        value = decimal_digits_as_octal(written);
    if (value < 0)
        return fail_at(ld, s, key, "must be an octal mode such as 0660 (got %lld)", written);
    if (value < spec->min || value > spec->max)
        return fail_at(ld, s, key, "must be between %#llo and %#llo (got %#llo)",
                       (unsigned long long)spec->min, (unsigned long long)spec->max,
                       (unsigned long long)value);
    *(unsigned *)field_of(spec, base) = (unsigned)value;
    return 0;
}

static void dump_string_value(const char *value, FILE *out)
{
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
        switch (*p) {
        case '"':  fputs("\\\"", out); break;
        case '\\': fputs("\\\\", out); break;
        case '\n': fputs("\\n", out); break;
        case '\t': fputs("\\t", out); break;
        case '\r': fputs("\\r", out); break;
        case '\f': fputs("\\f", out); break;
        default:
            if (*p < 0x20 || *p == 0x7f)
                fprintf(out, "\\x%02x", *p);
            else
                fputc(*p, out);
        }
    }
    fputc('"', out);
}

static void dump_string(const struct key_spec *spec, const void *base, FILE *out)
{
    dump_string_value(*(char *const *)field_of(spec, base), out);
}

static void dump_enum(const struct key_spec *spec, const void *base, FILE *out)
{
    dump_string_value(spec->names->name((unsigned)*(const int *)field_of(spec, base)), out);
}

static void dump_bool(const struct key_spec *spec, const void *base, FILE *out)
{
    fputs(*(const bool *)field_of(spec, base) ? "true" : "false", out);
}

static void dump_uint(const struct key_spec *spec, const void *base, FILE *out)
{
    fprintf(out, "%u", *(const unsigned *)field_of(spec, base));
}

/* The leading zero makes it octal for libconfig >= 1.6, and for 1.5 through the chmod reading. */
static void dump_mode(const struct key_spec *spec, const void *base, FILE *out)
{
    fprintf(out, "%#o", *(const unsigned *)field_of(spec, base));
}

static int init_string(const struct key_spec *spec, void *base)
{
    char **field = field_of(spec, base);

    *field = strdup(spec->def_str);
    return *field ? 0 : -ENOMEM;
}

static int init_number(const struct key_spec *spec, void *base)
{
    switch (spec->kind) {
    case KIND_BOOL: *(bool *)field_of(spec, base) = spec->def != 0; break;
    case KIND_ENUM: *(int *)field_of(spec, base) = (int)spec->def; break;
    default:        *(unsigned *)field_of(spec, base) = (unsigned)spec->def; break;
    }
    return 0;
}

static void release_string(const struct key_spec *spec, void *base)
{
    char **field = field_of(spec, base);

    free(*field);
    *field = NULL;
}

/* The plugin list kind, further down, needs the generic walker. */
static int init_plugins(const struct key_spec *spec, void *base);
static int load_plugins(const struct loader *ld, const struct key_spec *spec,
                        const config_setting_t *s, void *base, const char *key);
static void dump_plugins(const struct key_spec *spec, const void *base, FILE *out);
static void release_plugins(const struct key_spec *spec, void *base);

#define TYPE_BIT(t) (1u << (t))

/* How a kind is stored. A value from the file goes through set_text (string settings) or
 * set_number (integers, booleans), the same checks the environment goes through; a kind that
 * needs the libconfig setting itself (its literal's format, its elements) has load instead. */
struct kind_ops {
    unsigned types;         /* TYPE_BIT(CONFIG_TYPE_...) accepted */
    const char *expected;   /* for "expected X, got Y" */
    int (*init)(const struct key_spec *spec, void *base);
    int (*set_text)(const struct key_spec *spec, void *base, const char *value, char *why,
                    size_t n);
    int (*set_number)(const struct key_spec *spec, void *base, long long value, char *why,
                      size_t n);
    int (*load)(const struct loader *ld, const struct key_spec *spec, const config_setting_t *s,
                void *base, const char *key);
    void (*dump)(const struct key_spec *spec, const void *base, FILE *out);
    void (*release)(const struct key_spec *spec, void *base);   /* NULL: nothing owned */
};

#define INTEGER_TYPES (TYPE_BIT(CONFIG_TYPE_INT) | TYPE_BIT(CONFIG_TYPE_INT64))

static const struct kind_ops kinds[] = {
    [KIND_STRING]  = { TYPE_BIT(CONFIG_TYPE_STRING), "a string", init_string,
                       .set_text = set_string, .dump = dump_string, .release = release_string },
    [KIND_BOOL]    = { TYPE_BIT(CONFIG_TYPE_BOOL), "true or false", init_number,
                       .set_number = set_bool, .dump = dump_bool },
    [KIND_UINT]    = { INTEGER_TYPES, "an integer", init_number,
                       .set_number = set_uint, .dump = dump_uint },
    [KIND_ENUM]    = { TYPE_BIT(CONFIG_TYPE_STRING), "a string", init_number,
                       .set_text = set_enum, .dump = dump_enum },
    [KIND_MODE]    = { INTEGER_TYPES, "an octal integer such as 0660", init_number,
                       .load = load_mode, .dump = dump_mode },
    [KIND_PLUGINS] = { TYPE_BIT(CONFIG_TYPE_LIST), "a list ( { name = ...; path = ...; }, ... )",
                       init_plugins, .load = load_plugins, .dump = dump_plugins,
                       .release = release_plugins },
};

/* ---- the table applied to a struct ---- */

static int init_schema(const struct schema *sc)
{
    for (size_t i = 0; i < sc->nkeys; i++)
        if (kinds[sc->keys[i].kind].init(&sc->keys[i], sc->base) < 0)
            return -ENOMEM;
    return 0;
}

static void release_schema(const struct schema *sc)
{
    for (size_t i = 0; i < sc->nkeys; i++)
        if (kinds[sc->keys[i].kind].release)
            kinds[sc->keys[i].kind].release(&sc->keys[i], sc->base);
}

/* ---- "did you mean": Levenshtein distance over the names one level down ---- */

static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b), row[KEY_PATH_MAX];

    if (lb >= KEY_PATH_MAX)
        return SIZE_MAX;
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diagonal = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t above = row[j];
            size_t best = diagonal + (a[i - 1] != b[j - 1]);
            if (above + 1 < best)
                best = above + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diagonal = above;
        }
    }
    return row[lb];
}

/* The name right below SECTION in PATH ("threads" of "runtime.threads" in "runtime"), or NULL
 * when PATH is not in SECTION. Copied into BUF. */
static const char *child_name(const char *path, const char *section, char *buf, size_t n)
{
    size_t sl = strlen(section);

    if (sl) {
        if (strncmp(path, section, sl) != 0 || path[sl] != '.')
            return NULL;
        path += sl + 1;
    }
    snprintf(buf, n, "%.*s", (int)strcspn(path, "."), path);
    return buf;
}

/* The known name below SECTION nearest to NAME, copied into BEST, or NULL if none is near. */
static const char *suggest(const struct schema *sc, const char *section, const char *name,
                           char *best, size_t n)
{
    size_t best_distance = SUGGEST_MAX + 1;
    char candidate[KEY_PATH_MAX];

    for (size_t i = 0; i < sc->nkeys; i++) {
        if (!child_name(sc->keys[i].path, section, candidate, sizeof(candidate)))
            continue;
        size_t d = edit_distance(name, candidate);
        if (d < best_distance && d < strlen(name)) {
            best_distance = d;
            snprintf(best, n, "%s", candidate);
        }
    }
    return best_distance <= SUGGEST_MAX ? best : NULL;
}

static int unknown_key(const struct loader *ld, const struct schema *sc, const config_setting_t *s,
                       const char *section, const char *key)
{
    char near[KEY_PATH_MAX];
    const char *file = source_file(ld, s);
    unsigned line = config_setting_source_line(s);

    if (!suggest(sc, section, config_setting_name(s), near, sizeof(near)))
        set_error(ld->err, ld->errlen, "%s:%u: unknown key '%s'", file, line, key);
    else
        set_error(ld->err, ld->errlen, "%s:%u: unknown key '%s' (did you mean '%s%s%s%s'?)",
                  file, line, key, sc->shown, section, *section ? "." : "", near);
    return -1;
}

/* ---- the walker ---- */

static int is_section(const struct schema *sc, const char *path)
{
    char buf[KEY_PATH_MAX];

    for (size_t i = 0; i < sc->nkeys; i++)
        if (child_name(sc->keys[i].path, path, buf, sizeof(buf)))
            return 1;
    return 0;
}

static int load_value(const struct loader *ld, const struct key_spec *spec,
                      const config_setting_t *s, void *base, const char *key)
{
    const struct kind_ops *kind = &kinds[spec->kind];
    char why[WHY_MAX];
    int rc;

    if (!(kind->types & TYPE_BIT(config_setting_type(s))))
        return fail_at(ld, s, key, "expected %s, got %s", kind->expected, type_name(s));
    if (kind->load)
        return kind->load(ld, spec, s, base, key);
    if (config_setting_type(s) == CONFIG_TYPE_STRING)
        rc = kind->set_text(spec, base, config_setting_get_string(s), why, sizeof(why));
    else if (config_setting_type(s) == CONFIG_TYPE_BOOL)
        rc = kind->set_number(spec, base, config_setting_get_bool(s), why, sizeof(why));
    else
        rc = kind->set_number(spec, base, config_setting_get_int64(s), why, sizeof(why));
    return rc < 0 ? fail_at(ld, s, key, "%s", why) : 0;
}

static int load_group(const struct loader *ld, const struct schema *sc,
                      const config_setting_t *group, const char *section, uint64_t *seen);

static int load_setting(const struct loader *ld, const struct schema *sc,
                        const config_setting_t *s, const char *section, uint64_t *seen)
{
    char path[KEY_PATH_MAX], key[KEY_PATH_MAX];

    snprintf(path, sizeof(path), "%s%s%s", section, *section ? "." : "", config_setting_name(s));
    snprintf(key, sizeof(key), "%s%s", sc->shown, path);

    const struct key_spec *spec = find_key(sc, path);
    if (spec) {
        *seen |= 1ull << (spec - sc->keys);
        return load_value(ld, spec, s, sc->base, key);
    }
    if (!is_section(sc, path))
        return unknown_key(ld, sc, s, section, key);
    if (!config_setting_is_group(s))
        return fail_at(ld, s, key, "expected a group { ... }, got %s", type_name(s));
    return load_group(ld, sc, s, path, seen);
}

static int load_group(const struct loader *ld, const struct schema *sc,
                      const config_setting_t *group, const char *section, uint64_t *seen)
{
    for (int i = 0; i < config_setting_length(group); i++)
        if (load_setting(ld, sc, config_setting_get_elem(group, (unsigned)i), section, seen) < 0)
            return -1;
    return 0;
}

static int check_required(const struct loader *ld, const struct schema *sc,
                          const config_setting_t *group, uint64_t seen)
{
    for (size_t i = 0; i < sc->nkeys; i++) {
        if ((sc->keys[i].flags & KEY_REQUIRED) && !(seen & (1ull << i))) {
            char key[KEY_PATH_MAX];
            snprintf(key, sizeof(key), "%s%s", sc->shown, sc->keys[i].path);
            return fail_at(ld, group, key, "missing (required)");
        }
    }
    return 0;
}

/* ---- the plugin list ---- */

static struct schema plugin_schema(struct phx_config_plugin *plugin, const char *shown)
{
    return (struct schema){ plugin_keys, COUNT(plugin_keys), plugin, shown };
}

static void release_plugins(const struct key_spec *spec, void *base)
{
    phx_config_t *cfg = base;

    for (unsigned i = 0; i < cfg->nplugins; i++) {
        struct schema sc = plugin_schema(&cfg->plugins[i], "");
        release_schema(&sc);
    }
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
    for (; cfg->nplugins < n; cfg->nplugins++) {
        struct schema sc = plugin_schema(&cfg->plugins[cfg->nplugins], "");
        if (init_schema(&sc) < 0)
            return -ENOMEM;
    }
    return 0;
}

static int init_plugins(const struct key_spec *spec, void *base)
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

/* Names identify plugins in admin requests and upgrades, so two of one name is an error. */
static int check_unique_name(const struct loader *ld, const phx_config_t *cfg,
                             const config_setting_t *list, unsigned index, const char *shown)
{
    for (unsigned j = 0; j < index; j++) {
        if (strcmp(cfg->plugins[j].name, cfg->plugins[index].name) != 0)
            continue;
        const config_setting_t *elem = config_setting_get_elem(list, index);
        char key[KEY_PATH_MAX];
        snprintf(key, sizeof(key), "%sname", shown);
        return fail_at(ld, config_setting_get_member(elem, "name"), key,
                       "duplicate plugin name '%s' (also plugins[%u], line %u)",
                       cfg->plugins[index].name, j,
                       config_setting_source_line(config_setting_get_elem(list, j)));
    }
    return 0;
}

static int load_plugin(const struct loader *ld, phx_config_t *cfg, const struct key_spec *spec,
                       const config_setting_t *list, unsigned index)
{
    const config_setting_t *elem = config_setting_get_elem(list, index);
    char shown[32];     /* "plugins[63]." */
    struct schema sc = plugin_schema(&cfg->plugins[index], shown);
    uint64_t seen = 0;

    snprintf(shown, sizeof(shown), "%s[%u].", spec->path, index);

    if (!config_setting_is_group(elem)) {
        shown[strlen(shown) - 1] = '\0';    /* "plugins[3]", no dot */
        return fail_at(ld, elem, shown, "expected a group { name = ...; path = ...; }, got %s",
                       type_name(elem));
    }
    if (load_group(ld, &sc, elem, "", &seen) < 0 || check_required(ld, &sc, elem, seen) < 0)
        return -1;
    return check_unique_name(ld, cfg, list, index, shown);
}

static int load_plugins(const struct loader *ld, const struct key_spec *spec,
                        const config_setting_t *s, void *base, const char *key)
{
    phx_config_t *cfg = base;
    unsigned n = (unsigned)config_setting_length(s);

    if (n > spec->max)
        return fail_at(ld, s, key, "at most %lld plugins (got %u)", spec->max, n);
    if (reset_plugins(cfg, n) < 0)
        return fail_at(ld, s, key, "out of memory");
    for (unsigned i = 0; i < n; i++)
        if (load_plugin(ld, cfg, spec, s, i) < 0)
            return -1;
    return 0;
}

static void dump_plugins(const struct key_spec *spec, const void *base, FILE *out)
{
    const phx_config_t *cfg = base;

    fputs("(", out);
    for (unsigned i = 0; i < cfg->nplugins; i++) {
        fputs(i ? ",\n  { " : "\n  { ", out);
        for (size_t k = 0; k < COUNT(plugin_keys); k++) {
            fprintf(out, "%s = ", plugin_keys[k].path);
            kinds[plugin_keys[k].kind].dump(&plugin_keys[k], &cfg->plugins[i], out);
            fputs("; ", out);
        }
        fputs("}", out);
    }
    fputs(cfg->nplugins ? "\n)" : ")", out);
}

/* ---- public ---- */

static const char *const runtime_mode_names[] = { "shared", "dedicate" };
static const char *const marshal_format_names[] = { "native" };

const char *phx_runtime_mode_name(phx_runtime_mode_t mode)
{
    return (unsigned)mode < COUNT(runtime_mode_names) ? runtime_mode_names[mode] : "?";
}

const char *phx_marshal_name(phx_marshal_t marshal)
{
    return (unsigned)marshal < COUNT(marshal_format_names) ? marshal_format_names[marshal] : "?";
}

static struct schema config_schema(phx_config_t *cfg)
{
    return (struct schema){ config_keys, COUNT(config_keys), cfg, "" };
}

int phx_config_init_defaults(phx_config_t *cfg)
{
    struct schema sc = config_schema(cfg);

    memset(cfg, 0, sizeof(*cfg));
    cfg->source = strdup("(defaults)");
    if (!cfg->source || init_schema(&sc) < 0)
        return -ENOMEM;
    return 0;
}

void phx_config_free(phx_config_t *cfg)
{
    struct schema sc = config_schema(cfg);

    release_schema(&sc);
    free(cfg->source);
    memset(cfg, 0, sizeof(*cfg));
}

/* Parses PATH into LC; relative @include files are looked up next to PATH. */
static int read_file(struct loader *ld, config_t *lc)
{
    /* libconfig only says "file I/O error"; the admin needs the reason. glibc opens a
     * directory for reading, so that one is caught by hand. */
    struct stat st;
    FILE *probe = fopen(ld->path, "r");
    int open_errno = !probe ? errno
                     : fstat(fileno(probe), &st) == 0 && S_ISDIR(st.st_mode) ? EISDIR : 0;

    if (probe)
        fclose(probe);
    if (open_errno) {
        set_error(ld->err, ld->errlen, "%s: cannot open: %s", ld->path, strerror(open_errno));
        return -1;
    }
    snprintf(ld->include_dir, sizeof(ld->include_dir), "%s", ld->path);
    config_init(lc);
    config_set_include_dir(lc, dirname(ld->include_dir));
    errno = 0;
    if (config_read_file(lc, ld->path) == CONFIG_TRUE)
        return 0;
    if (config_error_type(lc) == CONFIG_ERR_FILE_IO)
        set_error(ld->err, ld->errlen, "%s: cannot read: %s", ld->path,
                  strerror(errno ? errno : EIO));
    else
        set_error(ld->err, ld->errlen, "%s:%d: syntax error (libconfig: %s)",
                  config_error_file(lc) ? config_error_file(lc) : ld->path,
                  config_error_line(lc), config_error_text(lc));
    config_destroy(lc);
    return -1;
}

static int load_file(struct loader *ld, phx_config_t *cfg)
{
    config_t lc;
    uint64_t seen = 0;
    struct schema sc = config_schema(cfg);

    if (read_file(ld, &lc) < 0)
        return -1;
    int rc = load_group(ld, &sc, config_root_setting(&lc), "", &seen);
    config_destroy(&lc);
    if (rc == 0) {
        free(cfg->source);
        cfg->source = strdup(ld->path);
        if (!cfg->source) {
            set_error(ld->err, ld->errlen, "%s: out of memory", ld->path);
            return -1;
        }
    }
    return rc;
}

int phx_config_load(phx_config_t *cfg, const char *path, char *err, size_t errlen)
{
    struct loader ld = { .path = path, .err = err, .errlen = errlen,
                         .reads_octal = libconfig_reads_octal() };

    if (phx_config_init_defaults(cfg) < 0) {
        set_error(err, errlen, "%s: out of memory", path);
        return -1;
    }
    if (load_file(&ld, cfg) == 0)
        return 0;
    phx_config_free(cfg);
    phx_config_init_defaults(cfg);
    return -1;
}

int phx_config_apply_env(phx_config_t *cfg, char *err, size_t errlen)
{
    struct schema sc = config_schema(cfg);
    char why[WHY_MAX];

    for (size_t i = 0; i < COUNT(env_overrides); i++) {
        const char *value = getenv(env_overrides[i].var);
        if (!value || !*value)
            continue;
        const struct key_spec *spec = find_key(&sc, env_overrides[i].path);
        if (kinds[spec->kind].set_text(spec, cfg, value, why, sizeof(why)) < 0) {
            set_error(err, errlen, "%s: %s", env_overrides[i].var, why);
            return -1;
        }
    }
    return 0;
}

/* The section of PATH ("runtime" of "runtime.threads"), as a length; 0 at top level. */
static size_t section_length(const char *path)
{
    const char *dot = strchr(path, '.');

    return dot ? (size_t)(dot - path) : 0;
}

int phx_config_dump(const phx_config_t *cfg, FILE *out)
{
    const char *open = NULL;    /* the section being written, as the first key's path */
    size_t open_len = 0;

    fputs("# phoenix.conf: effective configuration, from ", out);
    dump_string_value(cfg->source ? cfg->source : "(defaults)", out);
    fputs("\n", out);
    for (size_t i = 0; i < COUNT(config_keys); i++) {
        const struct key_spec *spec = &config_keys[i];
        size_t len = section_length(spec->path);

        if (open && (len != open_len || strncmp(open, spec->path, len) != 0)) {
            fputs("};\n", out);
            open = NULL;
        }
        if (len && !open) {
            fprintf(out, "%.*s = {\n", (int)len, spec->path);
            open = spec->path;
            open_len = len;
        }
        fprintf(out, "%s%s = ", open ? "  " : "", spec->path + (len ? len + 1 : 0));
        kinds[spec->kind].dump(spec, cfg, out);
        fputs(";\n", out);
    }
    if (open)
        fputs("};\n", out);
    return ferror(out) ? -EIO : 0;
}

/* ---- the running service's configuration ------------------------------------------------ */

static const phx_config_t *published_config;
static phx_config_t        builtin_defaults;
static pthread_once_t      builtin_once = PTHREAD_ONCE_INIT;

static void init_builtin_defaults(void)
{
    if (phx_config_init_defaults(&builtin_defaults) < 0)
        abort();    /* a few strdup()s at start-up: nothing sensible to run without them */
}

const phx_config_t *phx_config_current(void)
{
    const phx_config_t *cfg = __atomic_load_n(&published_config, __ATOMIC_ACQUIRE);

    if (cfg)
        return cfg;
    pthread_once(&builtin_once, init_builtin_defaults);
    return &builtin_defaults;
}

void phx_config_publish(const phx_config_t *cfg)
{
    __atomic_store_n(&published_config, cfg, __ATOMIC_RELEASE);
}
