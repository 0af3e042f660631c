/* ucx_portguard.h - "peers only": UCX's own TCP listening ports admit only the IPv4 addresses of
 * peers this service did our handshake with (settings.ucx.tcp_peers_only).
 *
 * A classic BPF socket filter on each such listening socket drops every packet, the SYN first,
 * whose IPv4 source is not one allowed; ucx_portguard.c says why, how the kernel keeps the state
 * across live upgrades, and the limits. Pure socket calls: no UCX here (the worker's ports come
 * from its address, ucx_addr_check.h, in ucx_worker.c). */
#ifndef PHX_UCX_PORTGUARD_H
#define PHX_UCX_PORTGUARD_H

#include <stdint.h>
#include <sys/socket.h>

/* Most addresses one filter holds; past it an error is logged (once) and no more are added. */
#define PHX_UCX_PORTGUARD_MAX 1000

/* Puts the filter, with every address allowed so far anywhere in the process, on this process's
 * listening IPv4 TCP sockets bound to one of the N ports PORTS (host order). How many sockets
 * carry it now, or -errno. A socket with somebody else's filter is left alone (and said). */
int phx_ucx_portguard_ports(const uint16_t *ports, unsigned n);

/* The peer at PEER (AF_INET, or AF_INET6 holding a mapped IPv4 address; others are ignored)
 * may reach the guarded sockets from now on. 0; -ENOSPC past PHX_UCX_PORTGUARD_MAX (logged
 * once); -errno when a socket refused the new filter (logged). */
int phx_ucx_portguard_allow(const struct sockaddr *peer);

/* The IPv4 addresses (network order) the guarded sockets admit, at most MAX into OUT: how many
 * there are (may exceed MAX), 0 also when no socket is guarded. */
int phx_ucx_portguard_allowed(uint32_t *out, unsigned max);

#endif /* PHX_UCX_PORTGUARD_H */
