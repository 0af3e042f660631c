/* fuzz_config.c - libFuzzer target: phoenix.conf through the service's schema and the plugins'.
 *
 * Input: phoenix.conf text, cut at its first NUL. It is loaded from memory with
 * phx_config_load_text(), the loader phoenixd's phx_config_load() runs on a file's contents at
 * start and on SIGHUP (no file is written: the fuzzer stays fast); an @include must be refused
 * (the file is the admin's, and an include would make the fuzzer read arbitrary files). A
 * refusal must be one line naming the origin. A text it takes must hold up: every plugin
 * section loads with that plugin's own schema (every plugin this build made, as phx_registry
 * loads them) or is refused with a sentence, and phx_config_dump()'s output, loaded again, dumps
 * to the same text (what `phoenixd --dump-config` promises). Seeds (corpus/) are
 * deploy/phoenix.conf, tests/data/config's files and variants; config.dict holds the keys. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "fuzz.h"
#include "phoenix/admin/config_text.h"
#include "plugin_schemas.h"

#define ORIGIN "fuzz.conf"

static const struct phx_fuzz_schema *schemas;
static unsigned                      n_schemas;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    n_schemas = phx_fuzz_plugin_schemas(&schemas);
    return 0;
}

static char *dump(const phx_config_t *cfg, size_t *len)
{
    char *text = NULL;
    FILE *f = open_memstream(&text, len);
    if (!f || phx_config_dump(cfg, f) != 0 || fclose(f) != 0)
        phx_fuzz_fail("the config does not dump");
    return text;
}

static void check_plugin_sections(const phx_config_t *cfg)
{
    char err[512];
    for (unsigned i = 0; i < n_schemas; i++) {
        const struct phx_settings_schema *s = schemas[i].schema;
        void *base = calloc(1, s ? s->size : 1);
        if (!base)
            phx_fuzz_fail("out of memory");
        err[0] = '\0';
        if (phx_config_plugin_settings(cfg, schemas[i].plugin, s, base, err, sizeof(err)) == 0) {
            if (s)
                phx_settings_free(s, base);
        } else if (!err[0]) {
            phx_fuzz_fail("settings.%s refused without a sentence", schemas[i].plugin);
        }
        free(base);
    }
}

/* Dumped, loaded again and dumped: the same text. */
static void check_dump(const phx_config_t *cfg)
{
    size_t len, len2;
    char *text = dump(cfg, &len), err[512] = "";
    phx_config_t again;

    if (phx_config_load_text(&again, text, "dumped.conf", err, sizeof(err)) < 0)
        phx_fuzz_fail("its own dump does not load: %s\n%s", err, text);
    char *text2 = dump(&again, &len2);
    /* the source line names the origin each came from */
    char *body = strchr(text, '\n'), *body2 = strchr(text2, '\n');
    if (!body || !body2 || strcmp(body, body2) != 0)
        phx_fuzz_fail("the dump changes when loaded again:\n%s\n---\n%s", text, text2);
    free(text);
    free(text2);
    phx_config_free(&again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = strndup((const char *)data, size), err[512] = "";
    phx_config_t cfg;

    if (!text)
        phx_fuzz_fail("out of memory");
    if (phx_config_load_text(&cfg, text, ORIGIN, err, sizeof(err)) == 0) {
        if (phx_config_text_include_line(text))
            phx_fuzz_fail("a text with an @include was taken");
        check_plugin_sections(&cfg);
        check_dump(&cfg);
        phx_fuzz_accepted++;
    } else if (strncmp(err, ORIGIN ":", strlen(ORIGIN ":")) != 0) {
        phx_fuzz_fail("refused without a sentence naming its origin: \"%s\"", err);
    }
    phx_config_free(&cfg);
    free(text);
    return 0;
}
