/* logfile.h - the LoggingEngine's file: a bounded buffer of whole lines, written in bounded
 * chunks with O_APPEND, rotated when the next chunk would pass max_bytes.
 *
 * The service runs as root and opens the file itself, so the path is checked: absolute, without
 * "." or ".." components, inside `dir` when phoenix.conf names one; the last component must not
 * be a symbolic link (O_NOFOLLOW) and what is opened must be a regular file (a FIFO or a device
 * is refused, and O_NONBLOCK keeps the open itself from waiting on one). Rotation renames
 * path.N-1 to path.N ... path to path.1 (path.KEEP is replaced, so KEEP old files stay) and
 * opens a new path; keep = 0 truncates path instead. */
#ifndef LOG_LOGFILE_H
#define LOG_LOGFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LOG_BUF_SIZE   (256 * 1024)     /* lines waiting to be written; more are dropped */
#define LOG_CHUNK_MAX  (64 * 1024)      /* bytes written per progress() call at most */
#define LOG_PATH_MAX   512

struct logfile {
    int      fd;                        /* -1: none */
    char     path[LOG_PATH_MAX];
    uint64_t size;                      /* of the file now */
    uint64_t max_bytes;
    unsigned keep;
    char    *buf;
    size_t   used;
    uint64_t written, dropped, rotations, write_errors;
};

/* Whether PATH is acceptable under DIR ("" : anywhere absolute); false with a sentence in WHY. */
bool logfile_path_ok(const char *path, const char *dir, char *why, size_t n);

/* Opens PATH (checked with logfile_path_ok() first) for appending; the buffer is allocated on
 * the first open. 0, or -errno with a sentence in ERR. Control thread. */
int  logfile_open(struct logfile *f, const char *path, uint64_t max_bytes, unsigned keep,
                  char *err, size_t errlen);
/* Adds LINE (LEN bytes, ending in '\n') to the buffer; false (counted as dropped) when full. */
bool logfile_add(struct logfile *f, const char *line, size_t len);
/* Writes at most MAX bytes of whole lines, rotating first when due. Bytes written. */
size_t logfile_write(struct logfile *f, size_t max);
/* Writes everything buffered (control thread: flush, dump, destroy). */
void logfile_drain(struct logfile *f);
void logfile_close(struct logfile *f);

#endif /* LOG_LOGFILE_H */
