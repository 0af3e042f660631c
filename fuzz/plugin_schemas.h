/* plugin_schemas.h - the settings schemas of the plugins this build made, for the targets that
 * parse settings (fuzz/desc's config_string, fuzz/config's per-plugin sections). */
#ifndef PHX_FUZZ_PLUGIN_SCHEMAS_H
#define PHX_FUZZ_PLUGIN_SCHEMAS_H

#include "phoenix/settings.h"

struct phx_fuzz_schema {
    const char                       *plugin;   /* "null" */
    const struct phx_settings_schema *schema;   /* NULL: the plugin takes no settings */
};

/* Opens every plugin of PHX_FUZZ_PLUGINS (compile-time, ':'-separated paths) once and returns
 * their schemas in *OUT; returns how many. Aborts when one does not open. */
unsigned phx_fuzz_plugin_schemas(const struct phx_fuzz_schema **out);

#endif /* PHX_FUZZ_PLUGIN_SCHEMAS_H */
