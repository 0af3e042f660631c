/* settings_load.h - the schema walker over a libconfig tree, for the service's own loader.
 *
 * settings.h is what plugins use: text in, struct out, no libconfig types. config.c also walks
 * a file's root group and the groups of its plugin list with the same code, and has kinds of its
 * own (the plugin list, the plugin sections): those are rows whose `custom` points to a
 * phx_setting_custom. Everything here reports errors as settings.h says: one line,
 * "file:line: key: what". */
#ifndef PHX_SETTINGS_LOAD_H
#define PHX_SETTINGS_LOAD_H

#include "phoenix/settings.h"

#include <libconfig.h>
#include <stdint.h>

/* Where the settings come from and where the error goes. */
struct phx_settings_loader {
    const char *path;           /* the file (or "config_string") */
    char       *err;
    size_t      errlen;
    bool        reads_octal;    /* the library reads 0660 as octal (libconfig >= 1.6) */
};

/* One table applied to one struct. SHOWN goes before a key in messages: "", "plugins[3].",
 * "settings.ucx.". */
struct phx_settings_target {
    const struct phx_setting *keys;
    size_t                    nkeys;
    void                     *base;
    const char               *shown;
};

#define PHX_SETTINGS_TYPE_BIT(t) (1u << (t))

/* A kind of the service's own. A row with `custom` is loaded, dumped, initialised and released
 * through these instead of its `kind`. */
struct phx_setting_custom {
    unsigned    types;          /* PHX_SETTINGS_TYPE_BIT(CONFIG_TYPE_...) accepted */
    const char *expected;       /* for "expected X, got Y" */
    int  (*init)(const struct phx_setting *spec, void *base);                  /* -ENOMEM */
    int  (*load)(const struct phx_settings_loader *ld, const struct phx_setting *spec,
                 const config_setting_t *s, void *base, const char *key);
    void (*dump)(const struct phx_setting *spec, const void *base, FILE *out); /* NULL: none */
    void (*release)(const struct phx_setting *spec, void *base);              /* NULL: none */
};

/* Loads the members of GROUP into T (whose defaults are already there), then checks that its
 * required keys were present. 0 or -1 with ERR. */
int phx_settings_load_group(const struct phx_settings_loader *ld,
                            const struct phx_settings_target *t, const config_setting_t *group);

/* Sets one value from text (the environment); kinds without a text form refuse. 0 or -1 with a
 * sentence in WHY. */
int phx_settings_set_text(const struct phx_setting *spec, void *base, const char *value,
                          char *why, size_t n);

int  phx_settings_init_keys(const struct phx_setting *keys, size_t nkeys, void *base);
void phx_settings_free_keys(const struct phx_setting *keys, size_t nkeys, void *base);
/* The rows of KEYS as settings.h's dump, but only those with a dump. */
int  phx_settings_dump_keys(const struct phx_setting *keys, size_t nkeys, const void *base,
                            const char *indent, FILE *out);

/* "file:line: KEY: what" into ld->err, at the setting S. Returns -1. */
int phx_settings_fail_at(const struct phx_settings_loader *ld, const config_setting_t *s,
                         const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* One line into ERR; control characters of quoted values become '?'. */
void phx_settings_error(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* "a string", "a group { ... }", ... */
const char *phx_settings_type_name(const config_setting_t *s);
/* The file a setting came from (an @include file), else ld->path. */
const char *phx_settings_source(const struct phx_settings_loader *ld, const config_setting_t *s);
/* A quoted, escaped libconfig string. */
void phx_settings_dump_string(const char *value, FILE *out);
/* The known name in NAMES (NULL-terminated) nearest to NAME, or NULL when none is near. */
const char *phx_settings_nearest(const char *name, const char *const *names, size_t count);
/* Asks the library once how it reads a leading zero (see settings.c). */
bool phx_settings_libconfig_reads_octal(void);

/* Checks a table that came from a plugin before anything uses it: its row stride, and every
 * row's key, kind, offset (its field lies within schema->size), an enum's names, no custom
 * kind. 0, or -1 with a sentence in WHY. */
int phx_settings_schema_check(const struct phx_settings_schema *schema, char *why, size_t n);

#endif /* PHX_SETTINGS_LOAD_H */
