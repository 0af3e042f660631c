/* control.h - the raw request/response exchange on phoenixd's control socket, for admin tools.
 *
 * The messages are those of the control protocol, proto/control.proto, installed as
 * ${datadir}/phoenix/control.proto. libphoenix keeps its own compiled copy private, so a tool
 * compiles the .proto with protoc-c itself and links the result; these calls take and return
 * those types (phoenixctl does exactly this). Apps never need this header: phx_client_register()
 * (client.h) speaks the protocol for them.
 *
 *     int sock = phx_control_connect(NULL, err, sizeof(err));
 *     Phoenix__Control__Request req = PHOENIX__CONTROL__REQUEST__INIT;  ... fill req ...
 *     Phoenix__Control__Response *resp;
 *     if (phx_control_call(sock, &req, &resp, NULL, NULL, 0, 5000, err, sizeof(err)) == 0)
 *         ... use resp, then phoenix__control__response__free_unpacked(resp, NULL) ... */
#ifndef PHOENIX_CONTROL_H
#define PHOENIX_CONTROL_H

#include <stddef.h>

#include "phoenix/client.h"   /* PHX_DEFAULT_PREFIX, PHX_CONTROL_SOCKET_NAME */

struct Phoenix__Control__Request;
struct Phoenix__Control__Response;

/* PHOENIX_PREFIX when set and not empty, else PHX_DEFAULT_PREFIX. */
const char *phx_control_default_prefix(void);

/* Connects to PREFIX/control.sock (PREFIX NULL: the default). Returns the socket or -errno with
 * a sentence in ERR. */
int phx_control_connect(const char *prefix, char *err, size_t errlen);

/* Sends REQ and waits up to TIMEOUT_MS (-1: no limit) for its response, returned in *RESP (free
 * with phoenix__control__response__free_unpacked(*RESP, NULL)). Descriptors that came with it go
 * to FDS (up to MAX_FDS, their count in *NFDS; both may be NULL when MAX_FDS is 0). Returns 0,
 * or -errno with a sentence in ERR: -EPIPE when the service hung up, -ETIMEDOUT, -EPROTO for a
 * response that does not parse or answers another request. A service that turns the connection
 * away (its limits: too many connections or apps of this uid, an idle connection) answers with
 * a response of id 0 whose status is not OK and whose error says why: that one is returned as
 * the answer (0, *RESP set), even when the request could no longer be sent. */
int phx_control_call(int sock, const struct Phoenix__Control__Request *req,
                     struct Phoenix__Control__Response **resp, int *fds, unsigned *nfds,
                     unsigned max_fds, int timeout_ms, char *err, size_t errlen);

#endif /* PHOENIX_CONTROL_H */
