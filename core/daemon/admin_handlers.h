/* admin_handlers.h - the admin requests that change or inspect the running service: plugins,
 * topology, upgrade, splice and engine admin (admin.c's dispatch table points here).
 *
 * Each handler has the shape of admin.c's table entries: it answers REQ (whose body is the one
 * it handles) into RESP with malloc'd pieces, or fails it with phx_response_fail(), and returns
 * 0. admin.c has already refused what only administrators may send; splice, engine admin and
 * reconfigure check that a PEER who is not an administrator touches only their own apps, and
 * not what an administrator attached (admin.h). PEER also says in the log who changed what. */
#ifndef PHX_ADMIN_HANDLERS_H
#define PHX_ADMIN_HANDLERS_H

#include "admin.h"
#include "control.pb-c.h"
#include "host.h"

#include <stddef.h>

struct phx_service;

/* Every build of every plugin: current builds first, then superseded ones still running engines
 * (a client tells them apart by that order: the first build of a name is the current one). */
int phx_admin_plugins(struct phx_service *svc, const struct phx_peer *peer,
                      const Phoenix__Control__Request *req, Phoenix__Control__Response *resp);

/* The placement of runtime threads and memory as phx_placement_to_json() writes it. */
int phx_admin_topology(struct phx_service *svc, const struct phx_peer *peer,
                       const Phoenix__Control__Request *req, Phoenix__Control__Response *resp);

/* Live upgrade of the plugins at the request's (absolute) paths. */
int phx_admin_upgrade(struct phx_service *svc, const struct phx_peer *peer,
                      const Phoenix__Control__Request *req, Phoenix__Control__Response *resp);

/* Attach or detach a policy engine in subscription (pid, sid) from descriptor text. */
int phx_admin_splice(struct phx_service *svc, const struct phx_peer *peer,
                     const Phoenix__Control__Request *req, Phoenix__Control__Response *resp);

/* Hands a text request to one engine's admin() operation; its JSON answer is the reply. */
int phx_admin_engine(struct phx_service *svc, const struct phx_peer *peer,
                     const Phoenix__Control__Request *req, Phoenix__Control__Response *resp);

/* Runs E's admin() with REQUEST while its group is off the runtime thread (the one way the
 * control thread reads an engine's state). Returns 0 with *REPLY (malloc'd text, may be NULL)
 * or a negative errno with one sentence in ERR. */
int phx_admin_engine_ask(phx_engine_t *e, const char *request, char **reply, char *err,
                         size_t errlen);

/* Live settings for one engine: its reconfigure() op with the request's config_string, group
 * suspended (admins only, as every request here). */
int phx_admin_reconfigure(struct phx_service *svc, const struct phx_peer *peer,
                          const Phoenix__Control__Request *req, Phoenix__Control__Response *resp);

/* The service's metrics in Prometheus' text format (metrics.h): every app's for an
 * administrator, the peer's own apps' for anyone else, and the node gauges. */
int phx_admin_metrics(struct phx_service *svc, const struct phx_peer *peer,
                      const Phoenix__Control__Request *req, Phoenix__Control__Response *resp);

#endif /* PHX_ADMIN_HANDLERS_H */
