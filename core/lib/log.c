/* log.c - leveled logging: formats one record into a stack buffer and writes it with one
 * write(2), so concurrent writers never interleave within a line; or, once phx_log_set_syslog()
 * chose it, hands the record to syslog(3), which adds its own time, ident and pid. See log.h. */
#include "phoenix/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/syscall.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#define LOG_LINE_MAX 2048

int phx_log_threshold = PHX_LOG_INFO;

static int log_fd = STDERR_FILENO;
static int log_to_syslog;       /* records go to syslog(3), not log_fd */
static char log_ident[32] = "phoenix";

static const char *const level_names[] = { "error", "warn", "info", "debug", "trace" };
static const char *const level_tags[]  = { "ERROR", "WARN ", "INFO ", "DEBUG", "TRACE" };
static const int level_priorities[]     = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG, LOG_DEBUG };

void phx_log_set_ident(const char *ident)
{
    snprintf(log_ident, sizeof(log_ident), "%s", ident);
}

void phx_log_set_level(phx_log_level_t level)
{
    __atomic_store_n(&phx_log_threshold, (int)level, __ATOMIC_RELAXED);
}

phx_log_level_t phx_log_get_level(void)
{
    return (phx_log_level_t)__atomic_load_n(&phx_log_threshold, __ATOMIC_RELAXED);
}

int phx_log_set_file(const char *path)
{
    int fd = STDERR_FILENO;

    if (path && strcmp(path, "-") != 0) {
        fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
        if (fd < 0)
            return -errno;
    }
    int old = __atomic_exchange_n(&log_fd, fd, __ATOMIC_ACQ_REL);
    if (__atomic_exchange_n(&log_to_syslog, 0, __ATOMIC_ACQ_REL))
        closelog();
    if (old != STDERR_FILENO)
        close(old);
    return 0;
}

void phx_log_set_syslog(void)
{
    /* The ident must outlive the connection: log_ident is static and only set before this. */
    openlog(log_ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
    __atomic_store_n(&log_to_syslog, 1, __ATOMIC_RELEASE);
    int old = __atomic_exchange_n(&log_fd, STDERR_FILENO, __ATOMIC_ACQ_REL);
    if (old != STDERR_FILENO)
        close(old);
}

int phx_log_parse_level(const char *name, phx_log_level_t *level)
{
    for (unsigned i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
        if (name && strcasecmp(name, level_names[i]) == 0) {
            *level = (phx_log_level_t)i;
            return 0;
        }
    }
    return -EINVAL;
}

const char *phx_log_level_name(phx_log_level_t level)
{
    return (unsigned)level <= PHX_LOG_TRACE ? level_names[level] : "?";
}

/* syslog(3) stamps time, ident and pid itself: the record keeps its level and place. */
static void emit_syslog(phx_log_level_t level, const char *file, int line, const char *fmt,
                        va_list ap)
{
    char buf[LOG_LINE_MAX];
    const char *base = strrchr(file, '/');

    vsnprintf(buf, sizeof(buf), fmt, ap);
    syslog(level_priorities[level], "%s %s:%d: %s", level_tags[level], base ? base + 1 : file,
           line, buf);
}

static size_t format_prefix(char *buf, size_t cap, phx_log_level_t level, const char *file,
                            int line)
{
    struct timespec ts;
    struct tm tm;
    const char *base = strrchr(file, '/');

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(buf, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ %s[%d/%ld] %s %s:%d: ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                     tm.tm_sec, ts.tv_nsec / 1000, log_ident, (int)getpid(),
                     (long)syscall(SYS_gettid), level_tags[level], base ? base + 1 : file, line);
    return n < 0 ? 0 : ((size_t)n < cap ? (size_t)n : cap - 1);
}

void phx_log_vemit(phx_log_level_t level, const char *file, int line, const char *fmt,
                   va_list ap)
{
    char buf[LOG_LINE_MAX];
    int saved_errno = errno;    /* callers log strerror(errno) after us */

    if ((unsigned)level > PHX_LOG_TRACE)
        level = PHX_LOG_TRACE;
    if (__atomic_load_n(&log_to_syslog, __ATOMIC_ACQUIRE)) {
        emit_syslog(level, file, line, fmt, ap);
        errno = saved_errno;
        return;
    }
    size_t n = format_prefix(buf, sizeof(buf), level, file, line);
    int m = vsnprintf(buf + n, sizeof(buf) - n, fmt, ap);
    if (m > 0)
        n += (size_t)m < sizeof(buf) - n ? (size_t)m : sizeof(buf) - n - 1;
    if (n > 0 && buf[n - 1] != '\n')
        buf[n < sizeof(buf) - 1 ? n++ : n - 1] = '\n';

    ssize_t w = write(__atomic_load_n(&log_fd, __ATOMIC_ACQUIRE), buf, n);
    (void)w;    /* nowhere left to report a failed log write */
    errno = saved_errno;
}

void phx_log_emit(phx_log_level_t level, const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    phx_log_vemit(level, file, line, fmt, ap);
    va_end(ap);
}
