/* register_layout.h - an app port's layout as RegisterReply carries it, in both directions.
 *
 * The service fills the reply from its port's layout (control_server.c) and the app reads the
 * layout back out of it (client.c). One list of field pairs drives both copies, so a field added
 * to the layout and the message cannot be sent but not read. Private to libphoenix: the control
 * protocol's messages are not part of the public API. */
#ifndef PHX_REGISTER_LAYOUT_H
#define PHX_REGISTER_LAYOUT_H

#include "control.pb-c.h"
#include "phoenix/port_layout.h"

/* X(layout field, RegisterReply field) */
#define PHX_REGISTER_LAYOUT_FIELDS(X)                                                          \
    X(depth, ring_depth) X(rings_addr, rings_addr) X(rings_size, rings_size)                 \
    X(sq_offset, sq_offset) X(cq_offset, cq_offset) X(ring_size, ring_size)                  \
    X(send_addr, send_addr) X(send_size, send_size) X(recv_addr, recv_addr)                  \
    X(recv_size, recv_size) X(slab_size, slab_size)

static inline void phx_register_layout_put(Phoenix__Control__RegisterReply *r,
                                           const struct phx_app_port_layout *l)
{
#define PHX_LAYOUT_TO_REPLY(lf, rf) r->rf = l->lf;
    PHX_REGISTER_LAYOUT_FIELDS(PHX_LAYOUT_TO_REPLY)
#undef PHX_LAYOUT_TO_REPLY
}

static inline void phx_register_layout_get(const Phoenix__Control__RegisterReply *r,
                                           struct phx_app_port_layout *l)
{
    *l = (struct phx_app_port_layout){ 0 };
#define PHX_LAYOUT_FROM_REPLY(lf, rf) l->lf = r->rf;
    PHX_REGISTER_LAYOUT_FIELDS(PHX_LAYOUT_FROM_REPLY)
#undef PHX_LAYOUT_FROM_REPLY
}

#endif /* PHX_REGISTER_LAYOUT_H */
