/* logfile.c - the LoggingEngine's file: checks, buffer, bounded writes, rotation (logfile.h).
 *
 * Writes happen on the runtime thread, so each is bounded: at most LOG_CHUNK_MAX bytes, cut at a
 * line's end, with O_APPEND (a regular file's write goes to the page cache; it does not wait for
 * the disk). Lines that find the buffer full are dropped and counted, never waited for. A
 * rotation is a few renames and an open, done on the runtime thread when a chunk would pass the
 * cap - short, but metadata work on the file system: a policy on a slow or network file system
 * would feel it. */
#include "logfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

bool logfile_path_ok(const char *path, const char *dir, char *why, size_t n)
{
    size_t dlen = strlen(dir);

    if (path[0] != '/') {
        snprintf(why, n, "must be an absolute path (got \"%s\")", path);
        return false;
    }
    for (const char *c = path; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == '"' || *c == '\\' || *c == 0x7f) {
            snprintf(why, n, "must not hold quotes, backslashes or control characters");
            return false;
        }
    if (strlen(path) >= LOG_PATH_MAX - 8 || strstr(path, "/./") || strstr(path, "/../") ||
        strstr(path, "//") || path[strlen(path) - 1] == '/' ||
        (strlen(path) >= 3 && strcmp(path + strlen(path) - 3, "/..") == 0) ||
        (strlen(path) >= 2 && strcmp(path + strlen(path) - 2, "/.") == 0)) {
        snprintf(why, n, "must name a file without ., .. or empty components (got \"%s\")",
                 path);
        return false;
    }
    while (dlen > 1 && dir[dlen - 1] == '/')
        dlen--;
    if (dlen && (strncmp(path, dir, dlen) != 0 || path[dlen] != '/')) {
        snprintf(why, n, "must be inside %s (phoenix.conf's logging.dir; got \"%s\")", dir, path);
        return false;
    }
    return true;
}

/* PATH opened for appending, checked to be a regular file; its size in *SIZE. */
static int open_checked(const char *path, int extra, uint64_t *size, char *err, size_t errlen)
{
    struct stat st;
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK |
                  extra, 0640);

    if (fd < 0) {
        int e = errno;
        snprintf(err, errlen, "path: cannot log to %s: %s", path,
                 e == ELOOP ? "it is a symbolic link"
                 : e == EISDIR ? "it is not a regular file" : strerror(e));
        return -e;
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "path: cannot log to %s: it is not a regular file", path);
        close(fd);
        return -EINVAL;
    }
    *size = (uint64_t)st.st_size;
    return fd;
}

int logfile_open(struct logfile *f, const char *path, uint64_t max_bytes, unsigned keep,
                 char *err, size_t errlen)
{
    uint64_t size;

    if (!f->buf && !(f->buf = malloc(LOG_BUF_SIZE)))
        return -ENOMEM;
    int fd = open_checked(path, 0, &size, err, errlen);
    if (fd < 0)
        return fd;
    if (f->fd >= 0 && strcmp(f->path, path) != 0)
        logfile_drain(f);                   /* the old file gets what was meant for it */
    if (f->fd >= 0)
        close(f->fd);
    f->fd = fd;
    f->size = size;
    snprintf(f->path, sizeof(f->path), "%s", path);
    f->max_bytes = max_bytes;
    f->keep = keep;
    return 0;
}

bool logfile_add(struct logfile *f, const char *line, size_t len)
{
    if (!f->buf || len > LOG_BUF_SIZE - f->used) {
        f->dropped++;
        return false;
    }
    memcpy(f->buf + f->used, line, len);
    f->used += len;
    return true;
}

/* path.K for K >= 1, path itself for K = 0. */
static void numbered(char *out, size_t n, const char *path, unsigned k)
{
    if (k)
        snprintf(out, n, "%s.%u", path, k);
    else
        snprintf(out, n, "%s", path);
}

/* The renames and the new file; on failure logging goes on in the file it had. */
static void rotate(struct logfile *f)
{
    char from[LOG_PATH_MAX + 16], to[LOG_PATH_MAX + 16], err[LOG_PATH_MAX + 64];
    uint64_t size;

    for (unsigned k = f->keep; k >= 1; k--) {
        numbered(from, sizeof(from), f->path, k - 1);
        numbered(to, sizeof(to), f->path, k);
        if (rename(from, to) < 0 && errno != ENOENT)
            f->write_errors++;
    }
    int fd = open_checked(f->path, f->keep ? 0 : O_TRUNC, &size, err, sizeof(err));
    if (fd < 0) {
        f->write_errors++;
        return;
    }
    close(f->fd);
    f->fd = fd;
    f->size = size;
    f->rotations++;
}

/* The bytes of whole lines among the first MAX of the buffer (at least one line). */
static size_t whole_lines(const struct logfile *f, size_t max)
{
    size_t n = f->used < max ? f->used : max;

    while (n && f->buf[n - 1] != '\n')
        n--;
    if (!n) {                                       /* one line longer than MAX */
        const char *nl = memchr(f->buf, '\n', f->used);
        n = nl ? (size_t)(nl - f->buf) + 1 : f->used;
    }
    return n;
}

size_t logfile_write(struct logfile *f, size_t max)
{
    if (f->fd < 0 || !f->used)
        return 0;
    size_t n = whole_lines(f, max);
    if (f->size && f->size + n > f->max_bytes)
        rotate(f);
    ssize_t w = write(f->fd, f->buf, n);
    if (w <= 0) {
        f->write_errors++;
        f->dropped++;                               /* what cannot be written is let go */
        w = (ssize_t)n;
    } else {
        f->size += (uint64_t)w;
        f->written += (uint64_t)w;
    }
    memmove(f->buf, f->buf + w, f->used - (size_t)w);
    f->used -= (size_t)w;
    return (size_t)w;
}

void logfile_drain(struct logfile *f)
{
    for (unsigned i = 0; f->used && i < LOG_BUF_SIZE / 64; i++)
        logfile_write(f, LOG_CHUNK_MAX);
}

void logfile_close(struct logfile *f)
{
    logfile_drain(f);
    if (f->fd >= 0)
        close(f->fd);
    f->fd = -1;
    free(f->buf);
    f->buf = NULL;
    f->used = 0;
}
