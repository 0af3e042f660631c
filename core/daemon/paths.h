/* paths.h - where phoenixd finds its plugins and its default configuration (paths.c). */
#ifndef PHX_PATHS_H
#define PHX_PATHS_H

/* The directory of plugins named by a relative path when plugin_dir is "": $PHOENIX_PLUGIN_DIR
 * when set and not empty, else the installed plugin directory as seen from this executable. */
const char *phx_paths_plugin_dir(void);

/* The configuration read when phoenixd is given no -c: $PHOENIX_CONFIG when set and not empty,
 * else the installed phoenix.conf as seen from this executable. */
const char *phx_paths_default_config(void);

#endif /* PHX_PATHS_H */
