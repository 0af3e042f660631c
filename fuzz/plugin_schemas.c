/* plugin_schemas.c - opens the built plugins and reads their settings schemas (plugin_schemas.h).
 *
 * Each plugin's descriptor (phx_plugin_descriptor, engine.h) names it and points at its schema.
 * The plugins stay open for the whole run, so libFuzzer keeps counting their coverage. */
#include "plugin_schemas.h"

#include <dlfcn.h>
#include <string.h>

#include "fuzz.h"
#include "phoenix/engine.h"

#ifndef PHX_FUZZ_PLUGINS
#error "PHX_FUZZ_PLUGINS: the plugins' paths (fuzz/CMakeLists.txt)"
#endif

#define MAX_PLUGINS 16

unsigned phx_fuzz_plugin_schemas(const struct phx_fuzz_schema **out)
{
    static struct phx_fuzz_schema schemas[MAX_PLUGINS];
    static unsigned n;
    static int opened;

    if (!opened) {
        char paths[] = PHX_FUZZ_PLUGINS, *save = NULL;
        for (char *p = strtok_r(paths, ":", &save); p && n < MAX_PLUGINS;
             p = strtok_r(NULL, ":", &save)) {
            void *h = dlopen(p, RTLD_NOW | RTLD_LOCAL);
            const phx_plugin_desc_t *d = h ? dlsym(h, "phx_plugin_descriptor") : NULL;
            if (!d)
                phx_fuzz_fail("%s: %s", p, dlerror());
            schemas[n++] = (struct phx_fuzz_schema){ d->name, d->settings };
        }
        opened = 1;
    }
    *out = schemas;
    return n;
}
