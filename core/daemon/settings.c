/* settings.c - typed settings driven by one table (settings.h), and the walker over a libconfig
 * tree that the service's own loader shares (settings_load.h).
 *
 * Each kind has a small set of operations (kinds[]) that check a setting's type, store it, print
 * it and free it; a row with `custom` brings its own (config.c's plugin list). Loading walks the
 * libconfig tree rather than the table, so that every setting the table does not know is found
 * and reported with the nearest known name ("did you mean"). A section is a key prefix
 * ("runtime" of "runtime.threads"), one level deep.
 *
 * The walker was config.c's; it moved here so that the service's file and every plugin's
 * settings (its section of phoenix.conf, an engine's config_string) are read by one code. */
#include "settings_load.h"

#include "phoenix/admin/config_text.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define KEY_PATH_MAX  256
#define WHY_MAX       512
#define SUGGEST_MAX   2     /* edits at most, for "did you mean" */

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static void *field_of(const struct phx_setting *spec, const void *base)
{
    return (char *)base + spec->offset;
}

static int reason(char *why, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int reason(char *why, size_t n, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(why, n, fmt, ap);
    va_end(ap);
    return -1;
}

/* ---- errors: one line, "file:line: key: what" ---- */

/* Values quoted back to the user may hold newlines; the caller was promised one line. */
void phx_settings_error(char *err, size_t errlen, const char *fmt, ...)
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
const char *phx_settings_source(const struct phx_settings_loader *ld, const config_setting_t *s)
{
    return config_setting_source_file(s) ? config_setting_source_file(s) : ld->path;
}

int phx_settings_fail_at(const struct phx_settings_loader *ld, const config_setting_t *s,
                         const char *key, const char *fmt, ...)
{
    char why[WHY_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    phx_settings_error(ld->err, ld->errlen, "%s:%u: %s: %s", phx_settings_source(ld, s),
                       config_setting_source_line(s), key, why);
    return -1;
}

const char *phx_settings_type_name(const config_setting_t *s)
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

static int set_string(const struct phx_setting *spec, void *base, const char *value, char *why,
                      size_t n)
{
    char **field = field_of(spec, base);

    if ((spec->flags & PHX_SETTING_NONEMPTY) && value[0] == '\0')
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

/* "unknown marshal 'json' (native)": the noun is the key's last word. */
static int set_enum(const struct phx_setting *spec, void *base, const char *value, char *why,
                    size_t n)
{
    const char *dot = strrchr(spec->key, '.');
    char choices[128] = "";

    for (unsigned v = 0; spec->names[v]; v++) {
        if (strcasecmp(value, spec->names[v]) == 0) {
            *(int *)field_of(spec, base) = (int)v;
            return 0;
        }
        size_t used = strlen(choices);
        snprintf(choices + used, sizeof(choices) - used, "%s%s", v ? "|" : "", spec->names[v]);
    }
    return reason(why, n, "unknown %s '%s' (%s)", dot ? dot + 1 : spec->key, value, choices);
}

static int set_uint(const struct phx_setting *spec, void *base, long long value, char *why,
                    size_t n)
{
    if (value < spec->min || value > spec->max)
        return reason(why, n, "must be between %lld and %lld (got %lld)", spec->min, spec->max,
                      value);
    if (spec->check_num && spec->check_num(value, why, n) < 0)
        return -1;
    *(unsigned *)field_of(spec, base) = (unsigned)value;
    return 0;
}

static int set_bool(const struct phx_setting *spec, void *base, long long value, char *why,
                    size_t n)
{
    if (spec->check_num && spec->check_num(value != 0, why, n) < 0)
        return -1;
    *(bool *)field_of(spec, base) = value != 0;
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

/* Asks the library once how it reads a leading zero, rather than trusting a version number:
 * the header and the shared library may differ (but the library loaded does not change). */
bool phx_settings_libconfig_reads_octal(void)
{
    static _Atomic int known;   /* 0: not asked yet, 1: decimal, 2: octal */
    config_t probe;
    int value = 0;

    if (known)
        return known == 2;
    config_init(&probe);
    if (config_read_string(&probe, "probe = 010;") == CONFIG_TRUE)
        config_lookup_int(&probe, "probe", &value);
    config_destroy(&probe);
    known = value == 8 ? 2 : 1;
    return known == 2;
}

static int load_mode(const struct phx_settings_loader *ld, const struct phx_setting *spec,
                     const config_setting_t *s, void *base, const char *key)
{
    long long written = config_setting_get_int64(s), value = written;

    if (!ld->reads_octal && config_setting_get_format(s) != CONFIG_FORMAT_HEX)
        value = decimal_digits_as_octal(written);
    if (value < 0)
        return phx_settings_fail_at(ld, s, key, "must be an octal mode such as 0660 (got %lld)",
                                    written);
    if (value < spec->min || value > spec->max)
        return phx_settings_fail_at(ld, s, key, "must be between %#llo and %#llo (got %#llo)",
                                    (unsigned long long)spec->min,
                                    (unsigned long long)spec->max, (unsigned long long)value);
    *(unsigned *)field_of(spec, base) = (unsigned)value;
    return 0;
}

void phx_settings_dump_string(const char *value, FILE *out)
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

static void dump_string(const struct phx_setting *spec, const void *base, FILE *out)
{
    phx_settings_dump_string(*(char *const *)field_of(spec, base), out);
}

static void dump_enum(const struct phx_setting *spec, const void *base, FILE *out)
{
    phx_settings_dump_string(spec->names[*(const int *)field_of(spec, base)], out);
}

static void dump_bool(const struct phx_setting *spec, const void *base, FILE *out)
{
    fputs(*(const bool *)field_of(spec, base) ? "true" : "false", out);
}

static void dump_uint(const struct phx_setting *spec, const void *base, FILE *out)
{
    fprintf(out, "%u", *(const unsigned *)field_of(spec, base));
}

/* The leading zero makes it octal for libconfig >= 1.6, and for 1.5 through the chmod reading. */
static void dump_mode(const struct phx_setting *spec, const void *base, FILE *out)
{
    fprintf(out, "%#o", *(const unsigned *)field_of(spec, base));
}

static int init_string(const struct phx_setting *spec, void *base)
{
    char **field = field_of(spec, base);

    *field = strdup(spec->def_str ? spec->def_str : "");
    return *field ? 0 : -ENOMEM;
}

static int init_number(const struct phx_setting *spec, void *base)
{
    switch (spec->kind) {
    case PHX_SETTING_KIND_BOOL: *(bool *)field_of(spec, base) = spec->def != 0; break;
    case PHX_SETTING_KIND_ENUM: *(int *)field_of(spec, base) = (int)spec->def; break;
    default:                    *(unsigned *)field_of(spec, base) = (unsigned)spec->def; break;
    }
    return 0;
}

static void release_string(const struct phx_setting *spec, void *base)
{
    char **field = field_of(spec, base);

    free(*field);
    *field = NULL;
}

#define TYPE_BIT PHX_SETTINGS_TYPE_BIT

/* How a kind is stored. A value from the file goes through set_text (string settings) or
 * set_number (integers, booleans), the same checks the environment goes through; a kind that
 * needs the libconfig setting itself (its literal's format) has load instead. */
struct kind_ops {
    unsigned types;         /* TYPE_BIT(CONFIG_TYPE_...) accepted */
    const char *expected;   /* for "expected X, got Y" */
    int (*init)(const struct phx_setting *spec, void *base);
    int (*set_text)(const struct phx_setting *spec, void *base, const char *value, char *why,
                    size_t n);
    int (*set_number)(const struct phx_setting *spec, void *base, long long value, char *why,
                      size_t n);
    int (*load)(const struct phx_settings_loader *ld, const struct phx_setting *spec,
                const config_setting_t *s, void *base, const char *key);
    void (*dump)(const struct phx_setting *spec, const void *base, FILE *out);
    void (*release)(const struct phx_setting *spec, void *base);   /* NULL: nothing owned */
};

#define INTEGER_TYPES (TYPE_BIT(CONFIG_TYPE_INT) | TYPE_BIT(CONFIG_TYPE_INT64))

static const struct kind_ops kinds[] = {
    [PHX_SETTING_KIND_STRING] = { TYPE_BIT(CONFIG_TYPE_STRING), "a string", init_string,
                                  .set_text = set_string, .dump = dump_string,
                                  .release = release_string },
    [PHX_SETTING_KIND_BOOL]   = { TYPE_BIT(CONFIG_TYPE_BOOL), "true or false", init_number,
                                  .set_number = set_bool, .dump = dump_bool },
    [PHX_SETTING_KIND_UINT]   = { INTEGER_TYPES, "an integer", init_number,
                                  .set_number = set_uint, .dump = dump_uint },
    [PHX_SETTING_KIND_ENUM]   = { TYPE_BIT(CONFIG_TYPE_STRING), "a string", init_number,
                                  .set_text = set_enum, .dump = dump_enum },
    [PHX_SETTING_KIND_MODE]   = { INTEGER_TYPES, "an octal integer such as 0660", init_number,
                                  .load = load_mode, .dump = dump_mode },
};

/* A custom row's operations seen as a kind's (it has no set_text or set_number). */
static struct kind_ops kind_of(const struct phx_setting *spec)
{
    const struct phx_setting_custom *c = spec->custom;

    if (!c)
        return (unsigned)spec->kind < COUNT(kinds) ? kinds[spec->kind] : (struct kind_ops){ 0 };
    return (struct kind_ops){ c->types, c->expected, c->init, .load = c->load, .dump = c->dump,
                              .release = c->release };
}

int phx_settings_set_text(const struct phx_setting *spec, void *base, const char *value,
                          char *why, size_t n)
{
    struct kind_ops kind = kind_of(spec);

    if (!kind.set_text)
        return reason(why, n, "cannot be set from text");
    return kind.set_text(spec, base, value, why, n);
}

/* ---- the table applied to a struct ---- */

int phx_settings_init_keys(const struct phx_setting *keys, size_t nkeys, void *base)
{
    for (size_t i = 0; i < nkeys; i++) {
        struct kind_ops kind = kind_of(&keys[i]);
        if (!kind.init || kind.init(&keys[i], base) < 0)
            return -ENOMEM;
    }
    return 0;
}

void phx_settings_free_keys(const struct phx_setting *keys, size_t nkeys, void *base)
{
    for (size_t i = 0; i < nkeys; i++) {
        struct kind_ops kind = kind_of(&keys[i]);
        if (kind.release)
            kind.release(&keys[i], base);
    }
}

/* ---- "did you mean": Levenshtein distance over the names one level down ---- */

/* Names whose lengths differ by more than SUGGEST_MAX are that far apart at least: not
 * computed, as names from a file may be long. */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b), row[KEY_PATH_MAX];

    if (lb >= KEY_PATH_MAX || la > lb + SUGGEST_MAX || lb > la + SUGGEST_MAX)
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

const char *phx_settings_nearest(const char *name, const char *const *names, size_t count)
{
    size_t best_distance = SUGGEST_MAX + 1;
    const char *best = NULL;

    for (size_t i = 0; i < count; i++) {
        size_t d = edit_distance(name, names[i]);
        if (d < best_distance && d < strlen(name)) {
            best_distance = d;
            best = names[i];
        }
    }
    return best;
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
static const char *suggest(const struct phx_settings_target *t, const char *section,
                           const char *name, char *best, size_t n)
{
    size_t best_distance = SUGGEST_MAX + 1;
    char candidate[KEY_PATH_MAX];

    for (size_t i = 0; i < t->nkeys; i++) {
        if (!child_name(t->keys[i].key, section, candidate, sizeof(candidate)))
            continue;
        size_t d = edit_distance(name, candidate);
        if (d < best_distance && d < strlen(name)) {
            best_distance = d;
            snprintf(best, n, "%s", candidate);
        }
    }
    return best_distance <= SUGGEST_MAX ? best : NULL;
}

static int unknown_key(const struct phx_settings_loader *ld, const struct phx_settings_target *t,
                       const config_setting_t *s, const char *section, const char *key)
{
    char near[KEY_PATH_MAX];
    const char *file = phx_settings_source(ld, s);
    unsigned line = config_setting_source_line(s);

    if (!suggest(t, section, config_setting_name(s), near, sizeof(near)))
        phx_settings_error(ld->err, ld->errlen, "%s:%u: unknown key '%s'", file, line, key);
    else
        phx_settings_error(ld->err, ld->errlen,
                           "%s:%u: unknown key '%s' (did you mean '%s%s%s%s'?)", file, line, key,
                           t->shown, section, *section ? "." : "", near);
    return -1;
}

/* ---- the walker ---- */

static const struct phx_setting *find_key(const struct phx_settings_target *t, const char *path)
{
    for (size_t i = 0; i < t->nkeys; i++)
        if (strcmp(t->keys[i].key, path) == 0)
            return &t->keys[i];
    return NULL;
}

static int is_section(const struct phx_settings_target *t, const char *path)
{
    char buf[KEY_PATH_MAX];

    for (size_t i = 0; i < t->nkeys; i++)
        if (child_name(t->keys[i].key, path, buf, sizeof(buf)))
            return 1;
    return 0;
}

static int load_value(const struct phx_settings_loader *ld, const struct phx_setting *spec,
                      const config_setting_t *s, void *base, const char *key)
{
    struct kind_ops kind = kind_of(spec);
    char why[WHY_MAX];
    int rc;

    if (!(kind.types & TYPE_BIT(config_setting_type(s))))
        return phx_settings_fail_at(ld, s, key, "expected %s, got %s", kind.expected,
                                    phx_settings_type_name(s));
    if (kind.load)
        return kind.load(ld, spec, s, base, key);
    if (config_setting_type(s) == CONFIG_TYPE_STRING)
        rc = kind.set_text(spec, base, config_setting_get_string(s), why, sizeof(why));
    else if (config_setting_type(s) == CONFIG_TYPE_BOOL)
        rc = kind.set_number(spec, base, config_setting_get_bool(s), why, sizeof(why));
    else
        rc = kind.set_number(spec, base, config_setting_get_int64(s), why, sizeof(why));
    return rc < 0 ? phx_settings_fail_at(ld, s, key, "%s", why) : 0;
}

static int walk_group(const struct phx_settings_loader *ld, const struct phx_settings_target *t,
                      const config_setting_t *group, const char *section, uint64_t *seen);

static int load_setting(const struct phx_settings_loader *ld,
                        const struct phx_settings_target *t, const config_setting_t *s,
                        const char *section, uint64_t *seen)
{
    char path[KEY_PATH_MAX], key[KEY_PATH_MAX];

    snprintf(path, sizeof(path), "%s%s%s", section, *section ? "." : "", config_setting_name(s));
    snprintf(key, sizeof(key), "%s%s", t->shown, path);

    const struct phx_setting *spec = find_key(t, path);
    if (spec) {
        size_t row = (size_t)(spec - t->keys);
        if (row < 64)
            *seen |= 1ull << row;
        return load_value(ld, spec, s, t->base, key);
    }
    if (!is_section(t, path))
        return unknown_key(ld, t, s, section, key);
    if (!config_setting_is_group(s))
        return phx_settings_fail_at(ld, s, key, "expected a group { ... }, got %s",
                                    phx_settings_type_name(s));
    return walk_group(ld, t, s, path, seen);
}

static int walk_group(const struct phx_settings_loader *ld, const struct phx_settings_target *t,
                      const config_setting_t *group, const char *section, uint64_t *seen)
{
    for (int i = 0; i < config_setting_length(group); i++)
        if (load_setting(ld, t, config_setting_get_elem(group, (unsigned)i), section, seen) < 0)
            return -1;
    return 0;
}

static int check_required(const struct phx_settings_loader *ld,
                          const struct phx_settings_target *t, const config_setting_t *group,
                          uint64_t seen)
{
    for (size_t i = 0; i < t->nkeys; i++) {
        if ((t->keys[i].flags & PHX_SETTING_REQUIRED) && i < 64 && !(seen & (1ull << i))) {
            char key[KEY_PATH_MAX];
            snprintf(key, sizeof(key), "%s%s", t->shown, t->keys[i].key);
            return phx_settings_fail_at(ld, group, key, "missing (required)");
        }
    }
    return 0;
}

int phx_settings_load_group(const struct phx_settings_loader *ld,
                            const struct phx_settings_target *t, const config_setting_t *group)
{
    uint64_t seen = 0;     /* required keys are tracked for the first 64 rows */

    if (walk_group(ld, t, group, "", &seen) < 0)
        return -1;
    return check_required(ld, t, group, seen);
}

/* ---- dump: sections as "name = { ... };" ---- */

/* The section of KEY ("runtime" of "runtime.threads"), as a length; 0 at top level. */
static size_t section_length(const char *key)
{
    const char *dot = strchr(key, '.');

    return dot ? (size_t)(dot - key) : 0;
}

int phx_settings_dump_keys(const struct phx_setting *keys, size_t nkeys, const void *base,
                           const char *indent, FILE *out)
{
    const char *open = NULL;    /* the section being written, as its first key */
    size_t open_len = 0;

    for (size_t i = 0; i < nkeys; i++) {
        struct kind_ops kind = kind_of(&keys[i]);
        size_t len = section_length(keys[i].key);

        if (!kind.dump)
            continue;
        if (open && (len != open_len || strncmp(open, keys[i].key, len) != 0)) {
            fprintf(out, "%s};\n", indent);
            open = NULL;
        }
        if (len && !open) {
            fprintf(out, "%s%.*s = {\n", indent, (int)len, keys[i].key);
            open = keys[i].key;
            open_len = len;
        }
        fprintf(out, "%s%s%s = ", indent, open ? "  " : "", keys[i].key + (len ? len + 1 : 0));
        kind.dump(&keys[i], base, out);
        fputs(";\n", out);
    }
    if (open)
        fprintf(out, "%s};\n", indent);
    return ferror(out) ? -EIO : 0;
}

/* ---- settings.h ---- */

int phx_settings_init(const struct phx_settings_schema *schema, void *base)
{
    memset(base, 0, schema->size);
    return phx_settings_init_keys(schema->keys, schema->nkeys, base);
}

void phx_settings_free(const struct phx_settings_schema *schema, void *base)
{
    phx_settings_free_keys(schema->keys, schema->nkeys, base);
}

int phx_settings_copy(const struct phx_settings_schema *schema, void *dst, const void *src)
{
    int rc = 0;

    memcpy(dst, src, schema->size);
    for (unsigned i = 0; i < schema->nkeys; i++) {
        const struct phx_setting *spec = &schema->keys[i];
        if (spec->kind != PHX_SETTING_KIND_STRING || spec->custom)
            continue;
        char **field = field_of(spec, dst);
        *field = rc == 0 ? strdup(*field) : NULL;
        if (!*field)
            rc = -ENOMEM;   /* the rest are set to NULL, so that free() frees only copies */
    }
    return rc;
}

static bool blank(const char *text)
{
    return !text || !text[strspn(text, " \t\r\n")];
}

int phx_settings_parse(const struct phx_settings_schema *schema, void *base, const char *text,
                       const char *origin, char *err, size_t errlen)
{
    struct phx_settings_target t = { schema->keys, schema->nkeys, base, "" };
    config_t lc;

    if (blank(text))
        return 0;
    unsigned include = phx_config_text_include_line(text);
    if (include) {
        phx_settings_error(err, errlen, "%s:%u: @include: not allowed here", origin, include);
        return -1;
    }
    struct phx_settings_loader ld = { origin, err, errlen, phx_settings_libconfig_reads_octal() };
    config_init(&lc);
    if (config_read_string(&lc, text) != CONFIG_TRUE) {
        phx_settings_error(err, errlen, "%s:%d: syntax error (libconfig: %s)", origin,
                           config_error_line(&lc), config_error_text(&lc));
        config_destroy(&lc);
        return -1;
    }
    int rc = phx_settings_load_group(&ld, &t, config_root_setting(&lc));
    config_destroy(&lc);
    return rc;
}

int phx_settings_derive(const struct phx_settings_schema *schema, void *dst, const void *base,
                        const char *config, char *err, size_t errlen)
{
    int rc = base ? phx_settings_copy(schema, dst, base) : phx_settings_init(schema, dst);

    if (rc < 0)
        phx_settings_error(err, errlen, "%s: out of memory", schema->name);
    else
        rc = phx_settings_parse(schema, dst, config, "config_string", err, errlen);
    if (rc < 0)
        phx_settings_free(schema, dst);
    return rc < 0 ? -1 : 0;
}

int phx_settings_dump(const struct phx_settings_schema *schema, const void *base,
                      const char *indent, FILE *out)
{
    return phx_settings_dump_keys(schema->keys, schema->nkeys, base, indent, out);
}

/* The bytes a row of KIND occupies in the settings struct, or 0 for an unknown kind. */
static size_t storage_size(phx_setting_kind_t kind)
{
    switch (kind) {
    case PHX_SETTING_KIND_STRING: return sizeof(char *);
    case PHX_SETTING_KIND_BOOL:   return sizeof(bool);
    case PHX_SETTING_KIND_UINT:
    case PHX_SETTING_KIND_MODE:   return sizeof(unsigned);
    case PHX_SETTING_KIND_ENUM:   return sizeof(int);
    }
    return 0;
}

static int check_row(const struct phx_settings_schema *schema, const struct phx_setting *row,
                     char *why, size_t n)
{
    size_t bytes = storage_size(row->kind);

    if (!row->key || !*row->key)
        return reason(why, n, "a row of its settings table has no key");
    if (!bytes)
        return reason(why, n, "setting '%s' has unknown kind %d", row->key, (int)row->kind);
    if (row->offset > schema->size || schema->size - row->offset < bytes)
        return reason(why, n, "setting '%s' lies at byte %zu of a %zu-byte struct", row->key,
                      row->offset, schema->size);
    if (row->kind == PHX_SETTING_KIND_ENUM && !row->names)
        return reason(why, n, "enum setting '%s' has no names", row->key);
    if (row->custom)
        return reason(why, n, "setting '%s' has a kind of the service's own", row->key);
    return 0;
}

int phx_settings_schema_check(const struct phx_settings_schema *schema, char *why, size_t n)
{
    if (schema->row_size != sizeof(struct phx_setting))
        return reason(why, n, "its settings table has rows of %u bytes, this service reads %zu: "
                      "rebuild it against this service's phoenix/settings.h", schema->row_size,
                      sizeof(struct phx_setting));
    if (schema->nkeys && !schema->keys)
        return reason(why, n, "its settings table has %u rows and no table", schema->nkeys);
    for (unsigned i = 0; i < schema->nkeys; i++)
        if (check_row(schema, &schema->keys[i], why, n) < 0)
            return -1;
    return 0;
}
