/* log.h - leveled logging for the service, its plugins, tools and the app library.
 *
 * One line per record: "2026-11-23T21:30:01.123456Z phoenixd[pid/tid] WARN file.c:42: text".
 * Records go to stderr or to a file (opened O_APPEND), each written with a single write(2) so that
 * lines from threads and processes never interleave; or to syslog(3) (phx_log_set_syslog()). A disabled level costs one relaxed atomic
 * load and a compare: the arguments are not evaluated. */
#ifndef PHOENIX_LOG_H
#define PHOENIX_LOG_H

#include <stdarg.h>

typedef enum {
    PHX_LOG_ERROR = 0,
    PHX_LOG_WARN  = 1,
    PHX_LOG_INFO  = 2,
    PHX_LOG_DEBUG = 3,
    PHX_LOG_TRACE = 4,
} phx_log_level_t;

/* Records at or below this level are written. Read it through phx_log_enabled(). */
extern int phx_log_threshold;

static inline int phx_log_enabled(phx_log_level_t level)
{
    return (int)level <= __atomic_load_n(&phx_log_threshold, __ATOMIC_RELAXED);
}

#define phx_log(level, ...)                                              \
    do {                                                                 \
        if (phx_log_enabled(level))                                      \
            phx_log_emit((level), __FILE__, __LINE__, __VA_ARGS__);      \
    } while (0)

#define phx_error(...) phx_log(PHX_LOG_ERROR, __VA_ARGS__)
#define phx_warn(...)  phx_log(PHX_LOG_WARN, __VA_ARGS__)
#define phx_info(...)  phx_log(PHX_LOG_INFO, __VA_ARGS__)
#define phx_debug(...) phx_log(PHX_LOG_DEBUG, __VA_ARGS__)
#define phx_trace(...) phx_log(PHX_LOG_TRACE, __VA_ARGS__)

/* Names the program in every record (default "phoenix"); the string is copied. */
void phx_log_set_ident(const char *ident);
void phx_log_set_level(phx_log_level_t level);
phx_log_level_t phx_log_get_level(void);

/* Sends records to PATH (appending), or to stderr when PATH is NULL or "-".
 * Returns 0, or -errno with the previous destination kept. */
int phx_log_set_file(const char *path);

/* Sends records to syslog(3) (facility LOG_DAEMON, the ident of phx_log_set_ident(), the level
 * as priority), until the next phx_log_set_file(). For a daemon without a terminal or a file. */
void phx_log_set_syslog(void);

/* "error", "warn", "info", "debug", "trace" (case-insensitive). Returns 0 or -EINVAL. */
int phx_log_parse_level(const char *name, phx_log_level_t *level);
const char *phx_log_level_name(phx_log_level_t level);

void phx_log_emit(phx_log_level_t level, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void phx_log_vemit(phx_log_level_t level, const char *file, int line, const char *fmt,
                   va_list ap);

#endif /* PHOENIX_LOG_H */
