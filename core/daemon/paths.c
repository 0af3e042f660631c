/* paths.c - where an installed executable finds the rest of its installed tree: phoenixd its
 * plugins and its default configuration, mrpc-run the phoenixd it starts for a job.
 *
 * An installed tree moves: `cmake --install build --prefix DIR`, a package unpacked somewhere
 * else, a module tree on a shared file system. So nothing is looked up at the path the build was
 * configured with. The build records where the plugins and the configuration lie *relative to
 * the directory phoenixd is installed in* (PHX_REL_PLUGIN_DIR, PHX_REL_CONFIG, from
 * core/CMakeLists.txt), and they are found from the running executable (/proc/self/exe):
 *
 *     <prefix>/sbin/phoenixd  ->  <prefix>/lib/phoenix/plugins, <prefix>/etc/phoenix/phoenix.conf
 *
 * (a relative CMAKE_INSTALL_SYSCONFDIR follows the prefix: /usr gives /usr/etc/phoenix; packagers
 * who want /etc pass -DCMAKE_INSTALL_SYSCONFDIR=/etc, and that absolute path is used as it is).
 * mrpc-run, in <prefix>/bin, finds <prefix>/sbin/phoenixd the same way (phx_paths_from_exe).
 * PHOENIX_PLUGIN_DIR and PHOENIX_CONFIG override both, for tests and odd layouts; the
 * configuration's own plugin_dir and phoenixd's -c override them in turn. Both answers are
 * computed once, on first use, by the thread that starts the service. */
#include "paths.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef PHX_REL_PLUGIN_DIR
#define PHX_REL_PLUGIN_DIR "../lib/phoenix/plugins"
#endif
#ifndef PHX_REL_CONFIG
#define PHX_REL_CONFIG "../etc/phoenix/phoenix.conf"
#endif

/* The directory holding the running executable, or "." if /proc cannot tell. */
static const char *exe_dir(void)
{
    static char dir[PATH_MAX];

    if (!dir[0]) {
        ssize_t n = readlink("/proc/self/exe", dir, sizeof(dir) - 1);
        char *slash = n > 0 ? (dir[n] = '\0', strrchr(dir, '/')) : NULL;
        if (slash && slash != dir)
            *slash = '\0';
        else
            snprintf(dir, sizeof(dir), ".");
    }
    return dir;
}

const char *phx_paths_from_exe(char *buf, size_t len, const char *rel)
{
    int n = snprintf(buf, len, "%s/%s", exe_dir(), rel);
    char *real = n > 0 && (size_t)n < len ? realpath(buf, NULL) : NULL;

    if (real && strlen(real) < len)
        memcpy(buf, real, strlen(real) + 1);
    free(real);
    return buf;
}

/* $VAR if set and not empty, else phx_paths_from_exe(REL), computed once into BUF. */
static const char *resolve(char *buf, size_t len, const char *var, const char *rel)
{
    const char *env = getenv(var);

    if (env && *env)
        return env;
    if (!buf[0])
        phx_paths_from_exe(buf, len, rel);
    return buf;
}

const char *phx_paths_plugin_dir(void)
{
    static char dir[PATH_MAX];

    return resolve(dir, sizeof(dir), "PHOENIX_PLUGIN_DIR", PHX_REL_PLUGIN_DIR);
}

const char *phx_paths_default_config(void)
{
    static char file[PATH_MAX];

    return resolve(file, sizeof(file), "PHOENIX_CONFIG", PHX_REL_CONFIG);
}
