/* metrics_http.h - phoenixd's Prometheus endpoint: GET /metrics over HTTP (libmicrohttpd).
 *
 * The server runs inside the control thread's epoll loop, not on a thread of its own: libmicro-
 * httpd in its external-polling epoll mode gives one fd to watch and a timeout, and the loop
 * calls phx_metrics_http_run() when the fd is readable or the timeout passes. So the request
 * handler runs on the thread that owns the service and reads engines exactly as admin("stats")
 * does (metrics.h): there is no HTTP thread that could touch engine state. All socket I/O is
 * non-blocking and the response is built whole before it is queued, so a slow or silent client
 * costs a connection slot until its timeout, never the loop's time.
 *
 * Bounds: METRICS_HTTP_CONNECTIONS at once; METRICS_HTTP_PER_IP from one address, a newcomer
 * from an address at that limit served by hanging up on the address's connection idle the
 * longest (between requests), refused when all are mid-request; an idle connection dropped after
 * METRICS_HTTP_TIMEOUT_S, one whose request has not been answered METRICS_HTTP_REQUEST_S after it
 * connected or had its last answer dropped however busy it looks; request memory capped; only
 * GET (and HEAD) of /metrics is answered 200, another path 404, another method 405. */
#ifndef PHX_METRICS_HTTP_H
#define PHX_METRICS_HTTP_H

#include <stddef.h>

#define METRICS_HTTP_CONNECTIONS 16
#define METRICS_HTTP_PER_IP      8
#define METRICS_HTTP_TIMEOUT_S   10
#define METRICS_HTTP_REQUEST_S   5

struct phx_metrics_http;

/* The exposition text for one scrape (malloc'd; NULL: 500). */
typedef char *(*phx_metrics_http_fn)(void *arg);

/* Whether LISTEN ("host:port", "[v6]:port", "" or "off") is well formed; a sentence in WHY if
 * not. For the config key's check. */
int  phx_metrics_listen_check(const char *listen, char *why, size_t n);
/* Starts serving on LISTEN. NULL when it is "" or "off" (ERR empty) or when it cannot (a
 * sentence in ERR). */
struct phx_metrics_http *phx_metrics_http_start(const char *listen, phx_metrics_http_fn fn,
                                                void *arg, char *err, size_t errlen);
/* The fd the caller's epoll watches (readable: call run). */
int  phx_metrics_http_fd(const struct phx_metrics_http *h);
/* The address it listens on ("127.0.0.1:9464"; the kernel's port when 0 was asked). */
const char *phx_metrics_http_address(const struct phx_metrics_http *h);
/* Milliseconds until run() is due anyway (timeouts), -1: none. Hangs up on connections past
 * their deadline first. */
int  phx_metrics_http_timeout_ms(struct phx_metrics_http *h);
/* Does what is ready: accepts, reads requests, answers, drops timed-out clients. */
void phx_metrics_http_run(struct phx_metrics_http *h);
/* Closes every connection and the listener. NULL is ignored. */
void phx_metrics_http_stop(struct phx_metrics_http *h);

#endif /* PHX_METRICS_HTTP_H */
