/* admin.h - admin requests on the control socket: list, plugins, topology, upgrade, splice and
 * engine admin.
 *
 * Who may send what (docs/admin.md, "Permissions"): an administrator (root or a member of
 * control.admin_group; the control server decides once per connection and says so in
 * phx_peer.admin) may send anything. Anyone else may list (their own apps only) and see the
 * plugins, and may attach, detach, set and ask the policies of their own apps (same uid), but
 * not change or remove what an administrator attached; upgrade and topology are refused. A
 * refusal is PERMISSION_DENIED with one sentence and changes nothing. Everything it puts in RESP must be malloc'd, strings included: the caller frees RESP
 * with phoenix__control__response__free_unpacked(). Failures set resp->status and resp->error
 * with phx_response_fail() (control_server.h). */
#ifndef PHX_ADMIN_H
#define PHX_ADMIN_H

#include <stdbool.h>
#include <sys/types.h>

#include "control.pb-c.h"

struct phx_service;

/* Who sent a request: the connection's SO_PEERCRED, and whether it is an administrator. */
struct phx_peer {
    pid_t pid;
    uid_t uid;
    gid_t gid;
    bool  admin;
};

/* Answers one admin request. Returns 0; the outcome is resp->status. */
int  phx_admin_handle(struct phx_service *svc, const struct phx_peer *peer,
                      const Phoenix__Control__Request *req, Phoenix__Control__Response *resp);

#endif /* PHX_ADMIN_H */
