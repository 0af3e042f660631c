/* admin.h - admin requests on the control socket: list, plugins, topology, upgrade, splice and
 * engine admin.
 *
 * The control server (control_server.c) has already checked that the peer is root or in the
 * admin group when it calls phx_admin_handle(); a handler only does the work and fills the
 * response. Everything it puts in RESP must be malloc'd, strings included: the caller frees RESP
 * with phoenix__control__response__free_unpacked(). Failures set resp->status and resp->error
 * with phx_response_fail() (control_server.h). */
#ifndef PHX_ADMIN_H
#define PHX_ADMIN_H

#include <sys/socket.h>

#include "control.pb-c.h"

struct phx_service;

/* Answers one admin request. Returns 0; the outcome is resp->status. */
int  phx_admin_handle(struct phx_service *svc, const struct ucred *peer,
                      const Phoenix__Control__Request *req, Phoenix__Control__Response *resp);

#endif /* PHX_ADMIN_H */
