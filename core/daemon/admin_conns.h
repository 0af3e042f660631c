/* admin_conns.h - `list`'s connections of an app, from its transport (admin_conns.c). */
#ifndef PHX_ADMIN_CONNS_H
#define PHX_ADMIN_CONNS_H

#include "graph.h"
#include "control.pb-c.h"

/* Fills M's connections with what SUB's transport (its last engine) answers to "peers"; none
 * when it does not understand the request. 0, or -1 when out of memory. */
int phx_admin_connections(const struct phx_subscription *sub, Phoenix__Control__Subscription *m);

#endif /* PHX_ADMIN_CONNS_H */
