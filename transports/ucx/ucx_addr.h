/* ucx_addr.h - "host:port" strings from BIND and CONNECT descriptors, as socket addresses.
 *
 * Accepted forms: "10.0.0.1:5000", "[fe80::1%eth0]:5000", "node12:5000" (a name), and for BIND
 * "*:5000" or ":5000" (every address). The port is a number, 0..65535 (0 on BIND: any free one).
 * Names go through getaddrinfo() on the caller's thread: numeric addresses resolve without any
 * lookup, a name may block on DNS (docs/transport.md).
 *
 * Only the address family UCX's TCP transport uses is accepted: the first of UCX_TCP_AF_PRIO
 * (IPv4 unless it starts with inet6). UCX 1.13 overflows a heap buffer (uct_tcp_cm_conn_start,
 * found with ASan) when the connection manager's address is IPv6 and the TCP interfaces' IPv4, or
 * the other way round, so a mixed setup is refused here rather than corrupting memory. */
#ifndef PHX_UCX_ADDR_H
#define PHX_UCX_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* Longest "host:port" accepted, NUL excluded; the string lives in MrpcEngine's memory. */
#define PHX_UCX_ADDR_MAX 1024

/* Resolves TEXT (a NUL-terminated string of at most PHX_UCX_ADDR_MAX bytes) into SS/LEN, for
 * listening when PASSIVE. 0, or -EINVAL with one sentence in ERR. */
int phx_ucx_addr_resolve(const char *text, bool passive, struct sockaddr_storage *ss,
                         socklen_t *len, char *err, size_t errlen);

/* The port of an AF_INET or AF_INET6 address, in host order; 0 for anything else. */
uint16_t phx_ucx_addr_port(const struct sockaddr *sa);

#endif /* PHX_UCX_ADDR_H */
