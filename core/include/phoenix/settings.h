/* settings.h - typed settings described by one table: defaults, loading, checking, dump, free.
 *
 * A plugin (or the service itself, config.c) describes the struct that holds its settings as a
 * table of keys. Each row gives the key's name, its kind, where the value lives in the struct,
 * its default, its limits and one line of help. The one table then fills the defaults, loads a
 * section of phoenix.conf or a config_string (libconfig syntax, "tls = \"tcp\"; batch = 64;"),
 * refuses what it does not know with the nearest known name, prints the effective values and
 * frees the strings. An error is one line naming where, which key and what is wrong:
 *
 *     phoenix.conf:31: settings.ucx.tls: expected a string, got an integer
 *     config_string:1: unknown key 'bacth' (did you mean 'batch'?)
 *
 * A plugin declares its settings in its descriptor (engine.h, `settings`); the service loads the
 * plugin's section of phoenix.conf (`settings = { <plugin> = { ... }; };`) into a struct of
 * `size` bytes after dlopen() and hands it to the engines through phx_engine_settings(). An
 * engine that takes a config_string overlays it on those with phx_settings_derive():
 *
 *     struct null_settings { unsigned batch; };
 *     static const struct phx_setting null_keys[] = {
 *         PHX_SETTING_UINT(struct null_settings, batch, 256, 1, 4096,
 *                          "descriptors moved per direction per progress() call"),
 *     };
 *     PHX_SETTINGS_SCHEMA(null_schema, "null", struct null_settings, null_keys);
 *
 *     struct null_settings mine;
 *     if (phx_settings_derive(&null_schema, &mine, phx_engine_settings(e), config, err, n) < 0)
 *         return -EINVAL;
 *     ...
 *     phx_settings_free(&null_schema, &mine);
 *
 * The calls below are provided to plugins by the process that loads them (phoenixd, and the
 * test programs that link its internals), not by libphoenix: they parse libconfig text, and
 * libconfig is the service's dependency, never an app's (core/daemon/plugin_calls.list). A
 * program that links only libphoenix may use the types and macros, not the calls.
 *
 * Keys are one word, or "section.key" one level deep (written `section = { key = ...; };`).
 * Storage per kind: STRING char * (owned, never NULL once initialised), BOOL bool, UINT and MODE
 * unsigned, ENUM int (the index into `names`). */
#ifndef PHOENIX_SETTINGS_H
#define PHOENIX_SETTINGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

typedef enum phx_setting_kind {
    PHX_SETTING_KIND_STRING = 0,
    PHX_SETTING_KIND_BOOL   = 1,
    PHX_SETTING_KIND_UINT   = 2,    /* an integer between min and max */
    PHX_SETTING_KIND_ENUM   = 3,    /* one of names[], case-insensitive */
    PHX_SETTING_KIND_MODE   = 4,    /* permission bits written in octal (0660), at most max */
} phx_setting_kind_t;

#define PHX_SETTING_REQUIRED 0x1u   /* must be present (checked in the table's first 64 rows) */
#define PHX_SETTING_NONEMPTY 0x2u   /* "" is an error (strings) */
/* A string naming the network devices the plugin's traffic uses, UCX style ("mlx5_0:1,eth0").
 * When topology.nic is "", the service places its threads next to the first of them (or on the
 * whole machine for a device without locality, such as lo): placement follows the transport. */
#define PHX_SETTING_DEVICES  0x4u

/* Kinds of the service's own (its plugin list); NULL in every plugin's table. */
struct phx_setting_custom;

struct phx_setting {
    const char         *key;        /* "tls", or "section.key" */
    phx_setting_kind_t  kind;
    size_t              offset;     /* of the field in the settings struct */
    unsigned            flags;      /* PHX_SETTING_REQUIRED | _NONEMPTY | _DEVICES */
    const char         *help;       /* one line, for documentation and dumps */
    const char         *def_str;    /* STRING */
    long long           def, min, max;      /* BOOL, UINT, ENUM (index), MODE */
    const char *const  *names;      /* ENUM: the values' names, NULL-terminated */
    /* Rules beyond type and range: return -1 with a sentence in WHY, else 0. Optional.
     * check_num serves UINT and BOOL (0 or 1) rows. */
    int (*check_str)(const char *value, char *why, size_t n);
    int (*check_num)(long long value, char *why, size_t n);
    const struct phx_setting_custom *custom;
};

/* The settings of one plugin (or of the service): NAME shows in messages of config_strings.
 * ROW_SIZE is sizeof(struct phx_setting) as the plugin was built: the service refuses a table
 * whose rows it would read with another stride, and checks every row (kind, offset within SIZE,
 * names of an enum) before it loads anything into the struct. */
struct phx_settings_schema {
    const char                *name;
    size_t                     size;    /* of the struct the table describes */
    const struct phx_setting  *keys;
    unsigned                   nkeys;
    unsigned                   row_size;
};

/* Rows. TYPE is the settings struct, FIELD its member (and the key's name); optional trailing
 * designated initializers add rules: .check_num = f, .flags = PHX_SETTING_NONEMPTY. */
#define PHX_SETTING_ROW_(kind_, type, field, help_, ...) \
    { #field, kind_, offsetof(type, field), .help = (help_), __VA_ARGS__ }
#define PHX_SETTING_STRING(type, field, dflt, help_, ...) \
    PHX_SETTING_ROW_(PHX_SETTING_KIND_STRING, type, field, help_, .def_str = (dflt), __VA_ARGS__)
#define PHX_SETTING_BOOL(type, field, dflt, help_, ...) \
    PHX_SETTING_ROW_(PHX_SETTING_KIND_BOOL, type, field, help_, .def = (dflt), __VA_ARGS__)
#define PHX_SETTING_UINT(type, field, dflt, lo, hi, help_, ...) \
    PHX_SETTING_ROW_(PHX_SETTING_KIND_UINT, type, field, help_, .def = (dflt), .min = (lo), \
                     .max = (hi), __VA_ARGS__)
#define PHX_SETTING_ENUM(type, field, dflt, names_, help_) \
    PHX_SETTING_ROW_(PHX_SETTING_KIND_ENUM, type, field, help_, .def = (dflt), .names = (names_))
#define PHX_SETTING_MODE(type, field, dflt, hi, help_) \
    PHX_SETTING_ROW_(PHX_SETTING_KIND_MODE, type, field, help_, .def = (dflt), .min = 0, \
                     .max = (hi))

#define PHX_SETTINGS_SCHEMA(var, name_, type, table)                                          \
    const struct phx_settings_schema var = { (name_), sizeof(type), (table),                  \
                                             sizeof(table) / sizeof((table)[0]),              \
                                             sizeof(struct phx_setting) }

/* Fills BASE (schema->size bytes) with the defaults. 0 or -ENOMEM; BASE is valid to free. */
int  phx_settings_init(const struct phx_settings_schema *schema, void *base);
/* Releases the strings of BASE; it must be initialised again before use. */
void phx_settings_free(const struct phx_settings_schema *schema, void *base);
/* DST = a deep copy of SRC. 0 or -ENOMEM (DST then holds the defaults or part of SRC: free it). */
int  phx_settings_copy(const struct phx_settings_schema *schema, void *dst, const void *src);

/* Overlays TEXT, libconfig syntax ("a = 1; b = \"x\";"), on BASE (initialised). ORIGIN names TEXT
 * in messages ("config_string"). 0, or -1 with one line "ORIGIN:line: key: what" in ERR; BASE
 * then may hold some of TEXT's values: overlay on a copy (phx_settings_derive). NULL or blank
 * TEXT changes nothing. */
int  phx_settings_parse(const struct phx_settings_schema *schema, void *base, const char *text,
                        const char *origin, char *err, size_t errlen);

/* DST = a copy of BASE (NULL: the defaults) with CONFIG (a config_string, NULL or blank: none)
 * over it. 0, or -1 with ERR ("config_string:1: batch: must be between 1 and 4096 (got 0)"), DST
 * released. Free DST with phx_settings_free(). */
int  phx_settings_derive(const struct phx_settings_schema *schema, void *dst, const void *base,
                         const char *config, char *err, size_t errlen);

/* Writes BASE as libconfig settings, one "key = value;" per line, each prefixed by INDENT,
 * sections as "name = { ... };". Returns 0 or -EIO. */
int  phx_settings_dump(const struct phx_settings_schema *schema, const void *base,
                       const char *indent, FILE *out);

#endif /* PHOENIX_SETTINGS_H */
