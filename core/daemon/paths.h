/* paths.h - where an installed executable finds the rest of its installed tree (paths.c). */
#ifndef PHX_PATHS_H
#define PHX_PATHS_H

#include <stddef.h>

/* REL (a path relative to the directory of the running executable, from /proc/self/exe) as a
 * path in BUF of LEN bytes, normalised when it exists; returns BUF. */
const char *phx_paths_from_exe(char *buf, size_t len, const char *rel);

/* The directory of plugins named by a relative path when plugin_dir is "": $PHOENIX_PLUGIN_DIR
 * when set and not empty, else the installed plugin directory as seen from this executable. */
const char *phx_paths_plugin_dir(void);

/* The configuration read when phoenixd is given no -c: $PHOENIX_CONFIG when set and not empty,
 * else the installed phoenix.conf as seen from this executable. */
const char *phx_paths_default_config(void);

#endif /* PHX_PATHS_H */
