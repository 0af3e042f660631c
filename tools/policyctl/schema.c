/* schema.c - a policy plugin's settings with their defaults, read from the plugin itself.
 *
 * The settings of a plugin are the table it declares in its descriptor (phoenix/engine.h,
 * phoenix/settings.h): policyctl opens the build the service loaded (its path from a
 * PluginsRequest) with dlopen(), reads the table, and closes it again. Nothing of the plugin
 * runs but its constructors, which plugins do not have; the service is not involved. Lazily:
 * a plugin calls functions phoenixd provides (the settings helpers live in the service), which
 * are never called here and so need not resolve. */
#include "schema.h"

#include "phoenix/engine.h"
#include "phoenix/settings.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

static void default_of(const struct phx_setting *k, char *out, size_t n)
{
    switch (k->kind) {
    case PHX_SETTING_KIND_STRING:
        snprintf(out, n, "\"%s\"", k->def_str ? k->def_str : "");
        break;
    case PHX_SETTING_KIND_BOOL:
        snprintf(out, n, "%s", k->def ? "true" : "false");
        break;
    case PHX_SETTING_KIND_ENUM:
        snprintf(out, n, "\"%s\"", k->names ? k->names[k->def] : "?");
        break;
    case PHX_SETTING_KIND_MODE:
        snprintf(out, n, "0%llo", (unsigned long long)k->def);
        break;
    default:
        snprintf(out, n, "%lld", k->def);
    }
}

int pctl_schema_each(const char *path, void (*fn)(void *arg, const pctl_setting_t *s), void *arg,
                     char *err, size_t errlen)
{
    void *so = dlopen(path, RTLD_LAZY | RTLD_LOCAL);

    if (!so) {
        snprintf(err, errlen, "cannot open %s: %s", path, dlerror());
        return -1;
    }
    const phx_plugin_desc_t *d = dlsym(so, PHX_PLUGIN_SYMBOL);
    if (!d || d->abi_major != PHX_ABI_MAJOR) {
        snprintf(err, errlen, "%s is not a plugin of this ABI", path);
        dlclose(so);
        return -1;
    }
    for (unsigned i = 0; d->settings && i < d->settings->nkeys; i++) {
        const struct phx_setting *k = &d->settings->keys[i];
        pctl_setting_t s = { .key = k->key, .help = k->help ? k->help : "" };
        default_of(k, s.def, sizeof(s.def));
        fn(arg, &s);
    }
    dlclose(so);
    return 0;
}
