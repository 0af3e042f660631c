/* http_get.c - a minimal HTTP/1.0 client for the metrics tests, run inside a node's network
 * namespace (the test process stays outside it), so the tests need no curl.
 *
 *     http_get HOST PORT PATH            the whole response (status line, headers, body) on
 *                                        stdout; "elapsed_us N" on stderr; exit 0 once a
 *                                        response came, 1 otherwise
 *     http_get HOST PORT --idle SECONDS  connects and sends nothing for SECONDS (a silent
 *                                        client), then says on stdout whether the server had
 *                                        closed the connection: "closed" or "open"
 *     http_get HOST PORT --raw TEXT      sends TEXT as the request (a bad method, say)
 *     http_get HOST PORT --trickle SECONDS  sends a request's header one byte a second, never
 *                                        finishing it, for up to SECONDS; says "closed N" (the
 *                                        server hung up after N s) or "open"
 *
 * Every wait is bounded: 5 s to connect, 10 s for the whole response, 8 MiB at most. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define RESPONSE_MAX (8u << 20)

static long long now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000ll + ts.tv_nsec / 1000;
}

static int connect_to(const char *host, int port)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    struct timeval tv = { .tv_sec = 5 };
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (fd < 0 || inet_pton(AF_INET, host, &a.sin_addr) != 1)
        return -1;
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Reads until EOF into a buffer; its length, or -1 on a timeout or error. */
static long read_all(int fd, char *buf, size_t cap)
{
    long long deadline = now_us() + 10000000;
    size_t len = 0;

    while (len < cap - 1 && now_us() < deadline) {
        ssize_t n = read(fd, buf + len, cap - 1 - len);
        if (n == 0)
            break;
        if (n < 0)
            return errno == EINTR ? (long)len : -1;
        len += (size_t)n;
    }
    buf[len] = '\0';
    return (long)len;
}

/* Whether the server closed FD within SECONDS while we said nothing. */
static int idle(int fd, int seconds)
{
    struct pollfd p = { .fd = fd, .events = POLLIN };
    char c;

    if (poll(&p, 1, seconds * 1000) == 1 && read(fd, &c, 1) <= 0)
        return puts("closed"), 0;
    return puts("open"), 0;
}

/* One header byte a second, never the end of the header, until the server hangs up. */
static int trickle(int fd, int seconds)
{
    static const char header[] = "GET /metrics HTTP/1.0\r\nX-Slow: ";
    long long t0 = now_us();
    char c;

    for (int i = 0; i < seconds; i++) {
        const char *b = i < (int)sizeof(header) - 1 ? &header[i] : "a";
        struct pollfd p = { .fd = fd, .events = POLLIN };
        if (send(fd, b, 1, MSG_NOSIGNAL) != 1 ||
            (poll(&p, 1, 1000) == 1 && read(fd, &c, 1) <= 0))
            return printf("closed %lld\n", (now_us() - t0) / 1000000), 0;
    }
    return puts("open"), 0;
}

int main(int argc, char **argv)
{
    if (argc != 4 && argc != 5) {
        fprintf(stderr, "usage: http_get HOST PORT PATH | HOST PORT --idle S | "
                        "HOST PORT --raw TEXT | HOST PORT --trickle S\n");
        return 2;
    }
    long long t0 = now_us();
    int fd = connect_to(argv[1], atoi(argv[2]));
    if (fd < 0) {
        fprintf(stderr, "http_get: cannot connect to %s:%s: %s\n", argv[1], argv[2],
                strerror(errno));
        return 1;
    }
    if (argc == 5 && strcmp(argv[3], "--idle") == 0)
        return idle(fd, atoi(argv[4]));
    if (argc == 5 && strcmp(argv[3], "--trickle") == 0)
        return trickle(fd, atoi(argv[4]));
    char req[1024];
    if (argc == 5 && strcmp(argv[3], "--raw") == 0)
        snprintf(req, sizeof(req), "%s", argv[4]);
    else
        snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: %s:%s\r\n\r\n", argv[3], argv[1],
                 argv[2]);
    char *buf = malloc(RESPONSE_MAX);
    if (!buf || write(fd, req, strlen(req)) != (ssize_t)strlen(req))
        return 1;
    long n = read_all(fd, buf, RESPONSE_MAX);
    close(fd);
    if (n <= 0)
        return 1;
    long long elapsed = now_us() - t0;
    fwrite(buf, 1, (size_t)n, stdout);
    fflush(stdout);             /* the line below comes after the whole response */
    fprintf(stderr, "elapsed_us %lld\n", elapsed);
    free(buf);
    return 0;
}
