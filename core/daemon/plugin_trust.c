/* plugin_trust.c - the owner-and-mode walk a plugin file passes before it is read (see
 * plugin_trust.h).
 *
 * The walk keeps a descriptor of the directory it stands in (checked already), the path of that
 * directory as walked (for messages and for plugin_trusted_dirs) and the components still to go.
 * Each component is looked at without following it: a directory is opened O_PATH|O_NOFOLLOW
 * relative to its parent and checked through fstat() of that descriptor; a symbolic link is read
 * and its target put in front of what is left (an absolute one restarts the walk at /); the last
 * component is opened O_RDONLY|O_NOFOLLOW and checked the same way. Since every directory is
 * checked before anything in it is looked at, only its trusted owner could change what the walk
 * finds there. */
#include "plugin_trust.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LINKS_MAX 40        /* as the kernel's own lookup (ELOOP) */

#define RULE ": a plugin and every directory above it must be owned by root (or the service's " \
             "uid) and writable by no one else (plugin_trusted_dirs in phoenix.conf can vouch " \
             "for a directory)"

struct walk {
    int         dirfd;
    char        at[PATH_MAX];           /* the directory dirfd is, as walked: "/" or "/a/b" */
    char        rest[2 * PATH_MAX];     /* components still to walk */
    const char *path;                   /* as asked for */
    char        scope[PATH_MAX];        /* the trusted directory the plugin lies in, or "" */
    uid_t       owner;
    unsigned    links;
    char       *why;
    size_t      n;
};

__attribute__((format(printf, 3, 4)))
static int fail(struct walk *w, int errnum, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(w->why, w->n, fmt, ap);
    va_end(ap);
    return -errnum;
}

/* "/a/b" + "c", as walked. */
static void join(char *out, size_t n, const char *dir, const char *name)
{
    size_t dlen = strcmp(dir, "/") == 0 ? 0 : strlen(dir), nlen = strlen(name);

    dlen = dlen < n - 2 ? dlen : n - 2;             /* cut so that dlen + 1 + nlen < n */
    nlen = nlen < n - 2 - dlen ? nlen : n - 2 - dlen;

    memcpy(out, dir, dlen);
    out[dlen] = '/';
    memcpy(out + dlen + 1, name, nlen);
    out[dlen + 1 + nlen] = '\0';
}

/* Whether directory DIR is exempt: it is the trusted directory SCOPE or lies above it. */
static bool is_trusted(const char *scope, const char *dir)
{
    size_t dlen = strlen(dir);

    if (!*scope)
        return false;
    if (strcmp(dir, "/") == 0)
        return true;
    return strncmp(scope, dir, dlen) == 0 && (scope[dlen] == '\0' || scope[dlen] == '/');
}

/* The entry of TRUSTED (as its real path, into SCOPE) that the real path of PATH lies in; ""
 * when none. Only that entry's chain of directories is exempt from the walk's checks, so that
 * vouching for /tmp/build does not exempt /tmp for a plugin elsewhere in /tmp. Looking the paths
 * up here only picks the entry: the walk still checks everything outside that chain. */
static void trusted_scope(const char *trusted, const char *path, char *scope)
{
    char real[PATH_MAX], entry[PATH_MAX];

    scope[0] = '\0';
    if (!trusted || !*trusted || !realpath(path, real))
        return;
    for (const char *e = trusted; *e; e += strcspn(e, ":"), e += *e == ':') {
        snprintf(entry, sizeof(entry), "%.*s", (int)strcspn(e, ":"), e);
        if (!realpath(entry, scope))
            continue;
        size_t len = strlen(scope);
        if (strcmp(scope, "/") == 0 ||
            (strncmp(real, scope, len) == 0 && real[len] == '/'))
            return;
    }
    scope[0] = '\0';
}

/* "cannot open: No such file or directory", with where the walk stopped when that is not the
 * file asked for. */
static int cannot_open(struct walk *w, int errnum, const char *shown)
{
    if (strcmp(shown, w->path) == 0)
        return fail(w, errnum, "cannot open: %s", strerror(errnum));
    return fail(w, errnum, "cannot open: %s (at %s)", strerror(errnum), shown);
}

/* The owner-and-mode rule for what SHOWN names. */
static int check_rule(struct walk *w, const struct stat *st, const char *shown)
{
    if (st->st_uid != 0 && st->st_uid != w->owner)
        return fail(w, EPERM, "%s is owned by uid %u, not by root" RULE, shown,
                    (unsigned)st->st_uid);
    if (st->st_mode & S_IWOTH)
        return fail(w, EPERM, "%s is writable by others (mode %04o)" RULE, shown,
                    (unsigned)(st->st_mode & 07777));
    if (st->st_mode & S_IWGRP)
        return fail(w, EPERM, "%s is writable by its group (mode %04o)" RULE, shown,
                    (unsigned)(st->st_mode & 07777));
    return 0;
}

/* Moves into directory FD (named SHOWN), checking it unless it is trusted. Takes FD. */
static int enter_dir(struct walk *w, int fd, const char *shown)
{
    struct stat st;

    if (fstat(fd, &st) < 0) {
        int e = errno;
        close(fd);
        return fail(w, e, "cannot inspect %s: %s", shown, strerror(e));
    }
    int rc = is_trusted(w->scope, shown) ? 0 : check_rule(w, &st, shown);
    if (rc < 0) {
        close(fd);
        return rc;
    }
    if (w->dirfd >= 0)
        close(w->dirfd);
    w->dirfd = fd;
    snprintf(w->at, sizeof(w->at), "%s", shown);
    return 0;
}

static int enter_root(struct walk *w)
{
    int fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);

    if (fd < 0)
        return fail(w, errno, "cannot open /: %s", strerror(errno));
    return enter_dir(w, fd, "/");
}

/* Takes the next component of w->rest into NAME (NAME_MAX + 1 bytes); false when none is left.
 * *LAST says whether it is the last one. */
static bool next_component(struct walk *w, char *name, bool *last)
{
    char *p = w->rest;

    while (*p == '/')
        p++;
    size_t len = strcspn(p, "/");
    if (len == 0)
        return false;
    snprintf(name, NAME_MAX + 1, "%.*s", (int)len, p);
    p += len;
    while (*p == '/')
        p++;
    *last = *p == '\0';
    memmove(w->rest, p, strlen(p) + 1);
    return true;
}

/* Puts what link NAME (in the current directory) points at in front of what is left. */
static int follow_link(struct walk *w, const char *name, const char *shown)
{
    char target[PATH_MAX], rest[sizeof(w->rest)];

    if (++w->links > LINKS_MAX)
        return fail(w, ELOOP, "cannot open %s: too many symbolic links", shown);
    ssize_t len = readlinkat(w->dirfd, name, target, sizeof(target) - 1);
    if (len < 0)
        return fail(w, errno, "cannot read link %s: %s", shown, strerror(errno));
    target[len] = '\0';
    snprintf(rest, sizeof(rest), "%s", w->rest);
    if ((size_t)snprintf(w->rest, sizeof(w->rest), "%s/%s", target, rest) >= sizeof(w->rest))
        return fail(w, ENAMETOOLONG, "cannot open %s: the path it leads to is too long", shown);
    return target[0] == '/' ? enter_root(w) : 0;
}

static int go_up(struct walk *w)
{
    char parent[PATH_MAX];
    int fd = openat(w->dirfd, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);

    if (fd < 0)
        return fail(w, errno, "cannot open %s/..: %s", w->at, strerror(errno));
    snprintf(parent, sizeof(parent), "%s", w->at);
    char *slash = strrchr(parent, '/');
    if (slash)
        slash[slash == parent ? 1 : 0] = '\0';          /* "/a" -> "/", "/a/b" -> "/a" */
    return enter_dir(w, fd, parent);
}

/* Opens the plugin file itself, NAME in the current directory. */
static int open_file(struct walk *w, const char *name, const char *shown)
{
    struct stat st;
    int fd = openat(w->dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);

    if (fd < 0)
        return cannot_open(w, errno, shown);
    int rc = fstat(fd, &st) < 0 ? fail(w, errno, "cannot inspect %s: %s", shown, strerror(errno))
             : !S_ISREG(st.st_mode) ? fail(w, EINVAL, "%s is not a regular file", shown)
             : check_rule(w, &st, shown);
    if (rc < 0) {
        close(fd);
        return rc;
    }
    return fd;
}

/* One component: a directory to enter, a link to follow, or (last) the file. Returns 0 to go on,
 * the file's descriptor (> 0) when done, or -errno. */
static int step(struct walk *w, const char *name, bool last)
{
    char shown[PATH_MAX];
    struct stat st;

    if (strcmp(name, ".") == 0 && !last)
        return 0;
    if (strcmp(name, "..") == 0 && !last)
        return go_up(w);
    join(shown, sizeof(shown), w->at, name);
    if (fstatat(w->dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return cannot_open(w, errno, shown);
    if (S_ISLNK(st.st_mode))
        return follow_link(w, name, shown);
    if (last)
        return open_file(w, name, shown);
    int fd = openat(w->dirfd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return cannot_open(w, errno, shown);
    return enter_dir(w, fd, shown);
}

int phx_plugin_trust_open(const char *path, const char *trusted, uid_t owner, char *why,
                          size_t n)
{
    struct walk w = { .dirfd = -1, .path = path, .owner = owner, .why = why, .n = n };
    char name[NAME_MAX + 1];
    bool last = false;
    int rc;

    char cwd[PATH_MAX] = "";

    if (strlen(path) >= PATH_MAX)
        return fail(&w, ENAMETOOLONG, "the path is too long");
    if (path[0] != '/' && !getcwd(cwd, sizeof(cwd)))     /* relative: walked from / too */
        return fail(&w, errno, "cannot tell the working directory: %s", strerror(errno));
    snprintf(w.rest, sizeof(w.rest), "%s/%s", cwd, path);
    trusted_scope(trusted, w.rest, w.scope);
    rc = enter_root(&w);
    while (rc == 0) {
        if (!next_component(&w, name, &last)) {
            rc = fail(&w, EISDIR, "%s names a directory, not a plugin file", path);
            break;
        }
        rc = step(&w, name, last);
    }
    if (w.dirfd >= 0)
        close(w.dirfd);
    return rc;
}

int phx_plugin_trust_check_list(const char *text, char *why, size_t n)
{
    for (const char *e = text; *e; e += strcspn(e, ":"), e += *e == ':') {
        size_t len = strcspn(e, ":");
        if (len == 0)
            return snprintf(why, n, "an empty entry in '%s' (separate absolute directories "
                            "with ':')", text), -1;
        if (e[0] != '/')
            return snprintf(why, n, "'%.*s' is not an absolute directory", (int)len, e), -1;
        if (len >= PATH_MAX)
            return snprintf(why, n, "an entry is longer than %d bytes", PATH_MAX - 1), -1;
    }
    return 0;
}
