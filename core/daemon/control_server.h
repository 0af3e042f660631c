/* control_server.h - the control socket of phoenixd: apps register, admins ask, signals arrive.
 *
 * One thread (the daemon's main thread) runs an epoll loop over the listening SOCK_SEQPACKET
 * socket $prefix/control.sock, every connected client, a signalfd (SIGTERM, SIGINT, SIGHUP) and
 * the service's broken-port eventfd. Each datagram is one protobuf Request (proto/control.proto),
 * answered by one Response. A client's connection is its lifetime: when it hangs up, its
 * subscriptions are torn down. Per-uid limits (control.max_conns_per_uid, max_apps_per_uid,
 * idle_timeout_s) and connections kept for administrators are control_server.c's.
 *
 * The caller blocks SIGTERM, SIGINT and SIGHUP in every thread before starting any (so that only
 * the signalfd sees them): phx_control_block_signals() does it for the calling thread, and
 * threads started later inherit the mask. */
#ifndef PHX_CONTROL_SERVER_H
#define PHX_CONTROL_SERVER_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "control.pb-c.h"

struct phx_service;
struct phx_control_server;

/* Called on SIGHUP, on the loop's thread. */
typedef void (*phx_control_reload_fn)(void *arg);

int  phx_control_block_signals(void);

/* Binds $prefix/control.sock (replacing a stale socket file; the caller holds the pid file lock,
 * so no live service owns it) with control.socket_mode. NULL with errno and ERR on failure. */
struct phx_control_server *phx_control_server_start(struct phx_service *svc,
                                                    phx_control_reload_fn on_reload, void *arg,
                                                    char *err, size_t errlen);

/* Serves until SIGTERM or SIGINT. Then stops accepting, sends every app a SHUTDOWN completion,
 * hangs up on every client and tears their subscriptions down. Returns 0, or -errno if the loop
 * itself failed. */
int  phx_control_server_run(struct phx_control_server *cs);

/* Closes what is left and unlinks the socket. NULL is ignored. */
void phx_control_server_destroy(struct phx_control_server *cs);

/* The decoding of one datagram as the server reads it, with no socket (fuzz/control drives it):
 * N is recv's result (bytes, or -EMSGSIZE for an oversized datagram) and NFDS the descriptors
 * that came with it. Returns the Request (free it with phoenix__control__request__free_unpacked)
 * or NULL with why it is malformed in WHY, the reply's "malformed request: WHY". */
Phoenix__Control__Request *phx_control_request_decode(const uint8_t *buf, ssize_t n,
                                                      unsigned nfds, char *why, size_t whylen);

/* For request handlers: sets RESP's status and a malloc'd error sentence. Everything a handler
 * puts in a Response is malloc'd (strings and submessages): the server frees it with
 * phoenix__control__response__free_unpacked() after sending. */
void phx_response_fail(Phoenix__Control__Response *resp, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif /* PHX_CONTROL_SERVER_H */
