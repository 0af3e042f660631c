/* ranks.c - mrpc_rank_publish/barrier/lookup: the app's end of mrpc-run's rank channel.
 *
 * mrpc-run passes one end of a socketpair as MRPC_RUN_FD; each request is one line and gets one
 * line back (tools/mrpc-run/rendezvous.c has the protocol: PUT, FENCE, GET -> OK / ERR <CODE>
 * <sentence>, CODE a status name). The PMI libraries stay in mrpc-run, so an app's dependencies do not grow. A mutex
 * keeps one request in flight per process. */
#include "mrpc_lib.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

#define RANK_LINE (MRPC_RANK_VALUE_MAX + 16)

static pthread_mutex_t rank_lock = PTHREAD_MUTEX_INITIALIZER;

/* The channel's fd, or -1 with ST set. */
static int rank_fd(mrpc_status_t *st)
{
    const char *s = getenv("MRPC_RUN_FD");
    char *end;
    long fd = s ? strtol(s, &end, 10) : -1;
    struct stat sb;

    if (!s || !*s || *end || fd < 0 || fd > 1 << 20 || fstat((int)fd, &sb) < 0 ||
        !S_ISSOCK(sb.st_mode)) {
        lib_status_set(st, PHX_FAILED_PRECONDITION,
                       "this process was not started by mrpc-run (no channel in MRPC_RUN_FD)");
        return -1;
    }
    return (int)fd;
}

/* The status mrpc-run named at the start of TEXT ("ABORTED rank 1 exited ..."). */
static phx_status_t rank_code(const char *text)
{
    static const phx_status_t codes[] = { PHX_INVALID_ARGUMENT, PHX_ABORTED,
                                          PHX_FAILED_PRECONDITION, PHX_UNAVAILABLE };

    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        const char *name = phx_status_name(codes[i]);
        size_t n = strlen(name);
        if (strncmp(text, name, n) == 0 && text[n] == ' ')
            return codes[i];
    }
    return PHX_INTERNAL;
}

/* Sends REQ (one line) and reads the one-line answer into ANSWER (without "OK" / "OK "). */
static mrpc_status_t rank_request(const char *req, char *answer, size_t len)
{
    mrpc_status_t st = { .code = PHX_OK };
    char line[RANK_LINE];
    size_t got = 0;
    int fd;

    pthread_mutex_lock(&rank_lock);
    if ((fd = rank_fd(&st)) < 0)
        goto out;
    if (send(fd, req, strlen(req), MSG_NOSIGNAL) != (ssize_t)strlen(req)) {
        lib_status_set(&st, PHX_UNAVAILABLE, "mrpc-run went away: %s", strerror(errno));
        goto out;
    }
    while (got < sizeof line - 1 && !memchr(line, '\n', got)) {
        ssize_t n = recv(fd, line + got, sizeof line - 1 - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            lib_status_set(&st, PHX_UNAVAILABLE, "mrpc-run went away before it answered");
            goto out;
        }
        got += (size_t)n;
    }
    line[got] = '\0';
    line[strcspn(line, "\n")] = '\0';
    if (strncmp(line, "ERR ", 4) == 0) {
        const char *sentence = strchr(line + 4, ' ');
        lib_status_set(&st, rank_code(line + 4), "%s", sentence ? sentence + 1 : line + 4);
    } else if (strncmp(line, "OK", 2) != 0) {
        lib_status_set(&st, PHX_INTERNAL, "mrpc-run answered something unexpected");
    } else if (answer) {
        snprintf(answer, len, "%s", line[2] == ' ' ? line + 3 : "");
    }
out:
    pthread_mutex_unlock(&rank_lock);
    return st;
}

mrpc_status_t mrpc_rank_publish(const char *value)
{
    char req[RANK_LINE];
    mrpc_status_t st = { .code = PHX_OK };

    if (!value || strlen(value) >= MRPC_RANK_VALUE_MAX || strpbrk(value, " \t\r\n")) {
        lib_status_set(&st, PHX_INVALID_ARGUMENT,
                       "a published value must be at most %d bytes without blanks",
                       MRPC_RANK_VALUE_MAX - 1);
        return st;
    }
    snprintf(req, sizeof req, "PUT %s\n", value);
    return rank_request(req, NULL, 0);
}

mrpc_status_t mrpc_rank_barrier(void)
{
    return rank_request("FENCE\n", NULL, 0);
}

mrpc_status_t mrpc_rank_lookup(int rank, char *value, size_t len)
{
    char req[32];
    mrpc_status_t st = { .code = PHX_OK };

    if (!value || len == 0) {
        lib_status_set(&st, PHX_INVALID_ARGUMENT, "mrpc_rank_lookup needs a buffer");
        return st;
    }
    value[0] = '\0';
    snprintf(req, sizeof req, "GET %d\n", rank);
    return rank_request(req, value, len);
}
