/* fuzz_desc.c - libFuzzer target: policy descriptors, the text an admin sends to attach/detach.
 *
 * Input: descriptor text (libconfig syntax; see addon_desc.h), cut at its first NUL as the
 * service receives it in a string field. phx_addon_desc_parse() must take it or refuse it with
 * one "ORIGIN:LINE: KEY: ..." sentence. A descriptor it takes must be within its bounds (edge
 * and group counts, terminated names) and its config_string, when it has one and no @include
 * (the service refuses those: config_text.h), goes through every built plugin's settings schema
 * the way an engine derives its settings from it. Seeds (corpus/) are the descriptors of
 * examples/ and tests/data/addon*; descriptors.dict holds the keys and engine names. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "phoenix/admin/addon_desc.h"
#include "phoenix/admin/config_text.h"
#include "plugin_schemas.h"

static const struct phx_fuzz_schema *schemas;
static unsigned                      n_schemas;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    n_schemas = phx_fuzz_plugin_schemas(&schemas);
    return 0;
}

static void check_name(const char *name, size_t cap, const char *what)
{
    if (strnlen(name, cap) == cap)
        phx_fuzz_fail("a parsed descriptor's %s is not terminated", what);
}

static void check_desc(const struct phx_addon_desc *d)
{
    check_name(d->engine, sizeof(d->engine), "addon_engine");
    if (d->n_edges[0] > PHX_ADDON_MAX_EDGES || d->n_edges[1] > PHX_ADDON_MAX_EDGES ||
        d->n_group > PHX_ADDON_MAX_GROUP)
        phx_fuzz_fail("a parsed descriptor has more edges or group members than it may");
    for (int dir = 0; dir < 2; dir++)
        for (unsigned i = 0; i < d->n_edges[dir]; i++) {
            check_name(d->edges[dir][i].from, sizeof(d->edges[dir][i].from), "edge");
            check_name(d->edges[dir][i].to, sizeof(d->edges[dir][i].to), "edge");
        }
    for (unsigned i = 0; i < d->n_group; i++)
        check_name(d->group[i], sizeof(d->group[i]), "group member");
}

/* The config_string through each plugin's schema, as phx_settings_derive() would. */
static void parse_config(const char *config)
{
    char err[512];
    if (phx_config_text_include_line(config))
        return;
    for (unsigned i = 0; i < n_schemas; i++) {
        const struct phx_settings_schema *s = schemas[i].schema;
        void *base = s ? calloc(1, s->size) : NULL;
        if (!s)
            continue;
        if (!base || phx_settings_init(s, base) < 0)
            phx_fuzz_fail("out of memory");
        err[0] = '\0';
        if (phx_settings_parse(s, base, config, "config_string", err, sizeof(err)) < 0 &&
            !err[0])
            phx_fuzz_fail("%s: settings refused without a sentence", schemas[i].plugin);
        phx_settings_free(s, base);
        free(base);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = strndup((const char *)data, size);
    char err[512] = "";
    struct phx_addon_desc d;

    if (!text)
        phx_fuzz_fail("out of memory");
    if (phx_addon_desc_parse(text, "fuzz.conf", &d, err, sizeof(err)) == 0) {
        check_desc(&d);
        if (d.config)
            parse_config(d.config);
        phx_addon_desc_fini(&d);
        phx_fuzz_accepted++;
    } else if (strncmp(err, "fuzz.conf", 9) != 0) {
        phx_fuzz_fail("refused without an \"ORIGIN...\" sentence: \"%s\"", err);
    }
    free(text);
    return 0;
}
