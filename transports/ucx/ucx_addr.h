/* ucx_addr.h - "host:port" strings from BIND and CONNECT descriptors, as socket addresses.
 *
 * Accepted forms: "10.0.0.1:5000", "[fe80::1%eth0]:5000", "node12:5000" (a name), and for BIND
 * "*:5000" or ":5000" (every address). The port is a number, 0..65535 (0 on BIND: any free one).
 * Names go through getaddrinfo() on the caller's thread: numeric addresses resolve without any
 * lookup, a name may block on DNS (docs/transport.md).
 *
 * IPv4 and IPv6 are both accepted: these addresses are only ever our own wire-up sockets
 * (ucx_hs.c), never UCX's sockaddr connection manager (which overflows a heap buffer in UCX 1.13
 * when its address family differs from the TCP interfaces'). "*:port" is IPv4's 0.0.0.0;
 * "[::]:port" listens on IPv6 (and, as Linux does by default, IPv4-mapped addresses). */
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
