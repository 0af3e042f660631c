/* plugin_trust.h - whether a plugin file may be loaded into phoenixd, which runs as root.
 *
 * Loading a plugin runs its code (its constructors run inside dlopen(), before any descriptor is
 * read) with the service's privileges. So before anything of it is read, the file an admin or
 * the configuration names, and every directory above it, must be safe from everyone but root:
 * owned by root (or by the service's own uid) and writable by neither group nor others — the
 * rule sudo and sshd apply to their files. A sticky world-writable directory such as /tmp fails
 * it: anyone may put a file there. Symbolic links are followed, and what a link says is as
 * trustworthy as the directory holding it, so the directories of the link and of its target are
 * all checked.
 *
 * The walk opens each component relative to the descriptor of its already-checked parent
 * (O_NOFOLLOW), checks what it opened (fstat), and hands back the descriptor of the file itself:
 * the caller copies from that descriptor, so no path is looked up twice and nothing can be
 * swapped in between the check and the copy.
 *
 * TRUSTED, a colon-separated list of absolute directories (phoenix.conf plugin_trusted_dirs),
 * relaxes the rule for directories the admin vouches for: for a plugin whose real path lies
 * inside a listed directory, that directory and every directory above it are not checked;
 * whatever lies below it (subdirectories and the file) still is, and plugins elsewhere get no
 * exemption at all. */
#ifndef PHX_PLUGIN_TRUST_H
#define PHX_PLUGIN_TRUST_H

#include <stddef.h>
#include <sys/types.h>

/* Opens PATH (a relative one is taken from the working directory) read-only after checking it and every directory above it as described
 * above; OWNER is the uid besides root that may own them (the service's). Returns the file's
 * descriptor, or -errno with one sentence in WHY naming the path that fails and the rule:
 * "/tmp is writable by others (mode 1777): plugins and every directory above them must be owned
 * by root and writable by nobody else (see plugin_trusted_dirs in phoenix.conf(5))". */
int phx_plugin_trust_open(const char *path, const char *trusted, uid_t owner, char *why,
                          size_t n);

/* Checks that TEXT is a valid plugin_trusted_dirs value: "" or absolute directories separated by
 * ':'. Returns 0, or -1 with a sentence in WHY. */
int phx_plugin_trust_check_list(const char *text, char *why, size_t n);

#endif /* PHX_PLUGIN_TRUST_H */
