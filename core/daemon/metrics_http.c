/* metrics_http.c - GET /metrics with libmicrohttpd in external epoll mode (see metrics_http.h).
 *
 * Why libmicrohttpd: the design wants metrics to leave the node over HTTP from a Debian library
 * rather than a server of our own; it parses requests defensively, enforces the connection,
 * memory and idle limits we set, and can run inside our own epoll loop, which is what lets the
 * handler run on the control thread.
 *
 * libmicrohttpd's own timeout is one of inactivity, renewed by every byte, so a client trickling
 * a header byte every few seconds would hold its slot for ever, and METRICS_HTTP_PER_IP such
 * clients lock out every scrape from their address. So each connection also has an absolute
 * deadline, METRICS_HTTP_REQUEST_S after it was accepted or its last request was answered:
 * past it, the socket is shut down (shutdown(2), not closed: libmicrohttpd still owns the
 * descriptor), libmicrohttpd sees the end of stream and closes the connection itself. The
 * connections are tracked through MHD_OPTION_NOTIFY_CONNECTION and MHD_OPTION_NOTIFY_COMPLETED,
 * both in Debian 12's libmicrohttpd 0.9.75.
 *
 * The deadline does not stop METRICS_HTTP_PER_IP kept-alive clients that each ask again every
 * few seconds: each answer renews it. So the per-address limit is ours, not libmicrohttpd's
 * (whose limit refuses a newcomer before any callback of ours could make room; only the total
 * is left to it). The accept policy counts the address's connections, and at the limit hangs up
 * on the one of them idle the longest, so a newcomer always gets a slot while nobody is cut
 * mid-request. Idle: its last request answered (MHD_OPTION_NOTIFY_COMPLETED) and no request
 * line since (MHD_OPTION_URI_LOG_CALLBACK: a pipelined one), and not one byte received since
 * that request was whole (the kernel's count, TCP_INFO, taken when the handler answers: so a
 * request line still in libmicrohttpd's buffer or the socket's counts too); a connection that
 * never asked is idle since it connected. When all of the address's connections are
 * mid-request (each bounded by the deadline), the newcomer is refused, as before. Hanging up on
 * an idle kept-alive connection is what HTTP lets a server do at any time; the client opens
 * another.
 *
 * The listen address is parsed as numbers only (getaddrinfo with AI_NUMERICHOST|AI_NUMERICSERV):
 * no name lookup ever leaves the node. */
#include "metrics_http.h"

#include "phoenix/clock.h"
#include "phoenix/log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/tcp.h>         /* struct tcp_info with tcpi_bytes_received (glibc's lacks it) */
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"
#define REQUEST_MEMORY (32u << 10)
#define NS_PER_S       1000000000ull

/* One open connection: its client, the time by which its next request must have been answered,
 * and whether it is idle between requests. */
struct http_conn {
    int                     fd;
    struct sockaddr_storage client;
    uint64_t                deadline_ns;
    uint64_t                idle_since_ns;  /* answered (or connected) then */
    uint64_t                bytes_in;       /* received from it when its last request was whole */
    bool                    busy;           /* a request line since its last answer */
    bool                    cut;            /* shut down, waiting for libmicrohttpd to close it */
    struct http_conn       *prev, *next;
};

struct phx_metrics_http {
    struct MHD_Daemon  *mhd;
    phx_metrics_http_fn fn;
    void               *arg;
    struct http_conn   *conns;
    char                address[INET6_ADDRSTRLEN + 8];
};

/* ---- the address ---------------------------------------------------------------------------- */

static bool disabled(const char *listen)
{
    return !listen[0] || strcmp(listen, "off") == 0;
}

/* LISTEN as a socket address in *RES (freeaddrinfo), or -1 with WHY. */
static int resolve(const char *listen, struct addrinfo **res, char *why, size_t n)
{
    char host[INET6_ADDRSTRLEN + 2];
    const char *colon = strrchr(listen, ':');
    size_t hlen = colon ? (size_t)(colon - listen) : 0;
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                              .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE };

    if (!colon || !hlen || !colon[1] || hlen >= sizeof(host))
        return snprintf(why, n, "expected host:port with a numeric address, \"\" or \"off\" "
                        "(got '%s')", listen), -1;
    memcpy(host, listen, hlen);
    host[hlen] = '\0';
    if (host[0] == '[' && host[hlen - 1] == ']') {
        memmove(host, host + 1, hlen - 2);
        host[hlen - 2] = '\0';
    }
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || port < 0 || port > 65535)
        return snprintf(why, n, "'%s' is not a port (0 .. 65535)", colon + 1), -1;
    int rc = getaddrinfo(host, colon + 1, &hints, res);
    if (rc)
        return snprintf(why, n, "'%s' is not a numeric address: %s", host, gai_strerror(rc)),
               -1;
    return 0;
}

int phx_metrics_listen_check(const char *listen, char *why, size_t n)
{
    struct addrinfo *res;

    if (disabled(listen))
        return 0;
    if (resolve(listen, &res, why, n) < 0)
        return -1;
    freeaddrinfo(res);
    return 0;
}

/* ---- connections: deadlines and idleness --------------------------------------------------- */

static void hang_up(struct http_conn *hc)
{
    shutdown(hc->fd, SHUT_RDWR);
    hc->cut = true;
}

/* The bytes the kernel has received on FD (read by libmicrohttpd or not); UINT64_MAX when it
 * cannot say, which never equals a count taken before. */
static uint64_t bytes_received(int fd)
{
    struct tcp_info ti;
    socklen_t len = sizeof(ti);

    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0 ||
        len < offsetof(struct tcp_info, tcpi_bytes_received) + sizeof(ti.tcpi_bytes_received))
        return UINT64_MAX;
    return ti.tcpi_bytes_received;
}

/* Whether HC waits for a next request: its last one answered, not one byte of a next come. */
static bool idle(const struct http_conn *hc)
{
    return !hc->busy && !hc->cut && hc->bytes_in != UINT64_MAX &&
           bytes_received(hc->fd) == hc->bytes_in;
}

static bool same_address(const struct sockaddr_storage *a, const struct sockaddr *b)
{
    if (a->ss_family != b->sa_family)
        return false;
    if (b->sa_family == AF_INET)
        return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
               ((const struct sockaddr_in *)b)->sin_addr.s_addr;
    return b->sa_family == AF_INET6 &&
           memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
                  &((const struct sockaddr_in6 *)b)->sin6_addr, sizeof(struct in6_addr)) == 0;
}

/* libmicrohttpd's accept policy: ADDR may connect while it has fewer than METRICS_HTTP_PER_IP
 * connections, or when one of them is idle (the one idle the longest is hung up on). */
static enum MHD_Result on_accept(void *cls, const struct sockaddr *addr, socklen_t len)
{
    struct phx_metrics_http *h = cls;
    struct http_conn *longest = NULL;
    unsigned n = 0;

    (void)len;
    for (struct http_conn *hc = h->conns; hc; hc = hc->next)
        n += !hc->cut && same_address(&hc->client, addr);
    if (n < METRICS_HTTP_PER_IP)
        return MHD_YES;
    for (struct http_conn *hc = h->conns; hc; hc = hc->next)
        if (same_address(&hc->client, addr) && idle(hc) &&
            (!longest || hc->idle_since_ns < longest->idle_since_ns))
            longest = hc;
    if (!longest) {
        phx_debug("metrics endpoint: an address's %d connections are all mid-request: refusing "
                  "its next", METRICS_HTTP_PER_IP);
        return MHD_NO;
    }
    phx_debug("metrics endpoint: an address at its %d connections connects again: hanging up "
              "on its connection idle the longest", METRICS_HTTP_PER_IP);
    hang_up(longest);
    return MHD_YES;
}

static void conn_started(struct phx_metrics_http *h, struct MHD_Connection *c, void **ctx)
{
    const union MHD_ConnectionInfo *fd =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    const union MHD_ConnectionInfo *addr =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    struct http_conn *hc = fd && addr ? calloc(1, sizeof(*hc)) : NULL;

    *ctx = hc;
    if (!hc) {                  /* untracked would escape the per-address limit: refused */
        if (fd)
            shutdown(fd->connect_fd, SHUT_RDWR);
        return;
    }
    hc->fd = fd->connect_fd;
    memcpy(&hc->client, addr->client_addr, addr->client_addr->sa_family == AF_INET6
                                           ? sizeof(struct sockaddr_in6)
                                           : sizeof(struct sockaddr_in));
    hc->idle_since_ns = phx_now_ns();
    hc->deadline_ns = hc->idle_since_ns + METRICS_HTTP_REQUEST_S * NS_PER_S;
    hc->next = h->conns;
    if (h->conns)
        h->conns->prev = hc;
    h->conns = hc;
}

static void conn_closed(struct phx_metrics_http *h, struct http_conn *hc)
{
    if (!hc)
        return;
    if (hc->prev)
        hc->prev->next = hc->next;
    else
        h->conns = hc->next;
    if (hc->next)
        hc->next->prev = hc->prev;
    free(hc);
}

static void on_connection(void *cls, struct MHD_Connection *c, void **ctx,
                          enum MHD_ConnectionNotificationCode toe)
{
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        conn_started(cls, c, ctx);
    } else {
        conn_closed(cls, *ctx);
        *ctx = NULL;        /* on_completed() must not find it, whatever order MHD calls in */
    }
}

static struct http_conn *tracked(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

    return info ? info->socket_context : NULL;
}

/* A request line came: the connection is busy until it is answered. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
    struct http_conn *hc = tracked(c);

    (void)cls;
    (void)uri;
    if (hc)
        hc->busy = true;
    return NULL;
}

/* The whole request is in (the handler answers it now): a byte from here on is the next one's.
 * Counted here, not when the answer has gone (on_completed): libmicrohttpd may say that only
 * after the client has read the answer and begun its next request. */
static void request_whole(struct MHD_Connection *c)
{
    struct http_conn *hc = tracked(c);

    if (hc)
        hc->bytes_in = bytes_received(hc->fd);
}

/* A request was answered (or abandoned): the connection is idle from now, and the next request
 * on it gets a fresh deadline. */
static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct http_conn *hc = tracked(c);

    (void)cls;
    (void)con_cls;
    (void)toe;
    if (!hc || hc->cut)
        return;
    hc->busy = false;
    hc->idle_since_ns = phx_now_ns();
    hc->deadline_ns = hc->idle_since_ns + METRICS_HTTP_REQUEST_S * NS_PER_S;
}

/* Shuts down the connections past their deadline; returns the ms until the next one (-1:
 * none). */
static int cut_late(struct phx_metrics_http *h)
{
    uint64_t now = phx_now_ns(), next = UINT64_MAX;

    for (struct http_conn *hc = h->conns; hc; hc = hc->next) {
        if (hc->cut)
            continue;
        if (hc->deadline_ns <= now) {
            phx_debug("metrics endpoint: a request not answered within %d s: hanging up",
                      METRICS_HTTP_REQUEST_S);
            hang_up(hc);
        } else if (hc->deadline_ns < next) {
            next = hc->deadline_ns;
        }
    }
    return next == UINT64_MAX ? -1 : (int)((next - now + 999999) / 1000000);
}

/* ---- requests ------------------------------------------------------------------------------- */

static enum MHD_Result reply(struct MHD_Connection *c, unsigned code, char *body,
                             enum MHD_ResponseMemoryMode mode, const char *type)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), body, mode);

    if (!r) {
        if (mode == MHD_RESPMEM_MUST_FREE)
            free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    enum MHD_Result rc = MHD_queue_response(c, code, r);
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_size, void **con_cls)
{
    struct phx_metrics_http *h = cls;
    static int first_call;

    if (*con_cls != &first_call) {      /* headers only so far: wait for the whole request */
        *con_cls = &first_call;
        return MHD_YES;
    }
    if (*upload_size) {                 /* a body is never wanted: drop it */
        *upload_size = 0;
        return MHD_YES;
    }
    request_whole(c);
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
        return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET /metrics is served\n",
                     MHD_RESPMEM_PERSISTENT, "text/plain");
    if (strcmp(url, "/metrics") != 0)
        return reply(c, MHD_HTTP_NOT_FOUND, "not found: phoenixd serves /metrics only\n",
                     MHD_RESPMEM_PERSISTENT, "text/plain");
    char *text = h->fn(h->arg);
    if (!text)
        return reply(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory building the metrics\n",
                     MHD_RESPMEM_PERSISTENT, "text/plain");
    return reply(c, MHD_HTTP_OK, text, MHD_RESPMEM_MUST_FREE, CONTENT_TYPE);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    char line[256];

    vsnprintf(line, sizeof(line), fmt, ap);
    line[strcspn(line, "\n")] = '\0';
    phx_debug("metrics endpoint: %s", line);
}

/* ---- lifetime ------------------------------------------------------------------------------- */

static void note_address(struct phx_metrics_http *h)
{
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->mhd, MHD_DAEMON_INFO_LISTEN_FD);
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    char host[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;

    if (!info || getsockname(info->listen_fd, (struct sockaddr *)&ss, &len) < 0)
        return;
    if (ss.ss_family == AF_INET6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
        port = ntohs(a->sin6_port);
        snprintf(h->address, sizeof(h->address), "[%s]:%u", host, port);
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
        port = ntohs(a->sin_port);
        snprintf(h->address, sizeof(h->address), "%s:%u", host, port);
    }
}

struct phx_metrics_http *phx_metrics_http_start(const char *listen, phx_metrics_http_fn fn,
                                                void *arg, char *err, size_t errlen)
{
    struct addrinfo *res;
    struct phx_metrics_http *h;

    err[0] = '\0';
    if (disabled(listen))
        return NULL;
    if (resolve(listen, &res, err, errlen) < 0)
        return NULL;
    if (!(h = calloc(1, sizeof(*h)))) {
        freeaddrinfo(res);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    h->fn = fn;
    h->arg = arg;
    unsigned flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG |
                     (res->ai_family == AF_INET6 ? MHD_USE_IPv6 : 0);
    h->mhd = MHD_start_daemon(flags, 0, on_accept, h, on_request, h,
                              MHD_OPTION_SOCK_ADDR, res->ai_addr,
                              MHD_OPTION_CONNECTION_LIMIT, (unsigned)METRICS_HTTP_CONNECTIONS,
                              MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)METRICS_HTTP_TIMEOUT_S,
                              MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)REQUEST_MEMORY,
                              MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)METRICS_HTTP_CONNECTIONS,
                              MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
                              MHD_OPTION_NOTIFY_CONNECTION, on_connection, h,
                              MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
                              MHD_OPTION_URI_LOG_CALLBACK, on_uri, h,
                              MHD_OPTION_END);
    int e = errno;
    freeaddrinfo(res);
    if (!h->mhd) {
        snprintf(err, errlen, "cannot serve metrics on %s: %s", listen,
                 e ? strerror(e) : "libmicrohttpd refused");
        free(h);
        return NULL;
    }
    note_address(h);
    return h;
}

int phx_metrics_http_fd(const struct phx_metrics_http *h)
{
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->mhd, MHD_DAEMON_INFO_EPOLL_FD);

    return info ? info->epoll_fd : -1;
}

const char *phx_metrics_http_address(const struct phx_metrics_http *h)
{
    return h->address;
}

int phx_metrics_http_timeout_ms(struct phx_metrics_http *h)
{
    MHD_UNSIGNED_LONG_LONG ms;
    int late = cut_late(h);
    int mhd = MHD_get_timeout(h->mhd, &ms) != MHD_YES ? -1 : ms > 60000 ? 60000 : (int)ms;

    if (late < 0 || mhd < 0)
        return late < 0 ? mhd : late;
    return late < mhd ? late : mhd;
}

void phx_metrics_http_run(struct phx_metrics_http *h)
{
    cut_late(h);
    MHD_run(h->mhd);
}

void phx_metrics_http_stop(struct phx_metrics_http *h)
{
    if (!h)
        return;
    MHD_stop_daemon(h->mhd);
    while (h->conns)                    /* in case a close went unreported */
        conn_closed(h, h->conns);
    free(h);
}
