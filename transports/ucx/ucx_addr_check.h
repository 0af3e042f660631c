/* ucx_addr_check.h - a peer's UCX worker address, checked before any UCX call sees it.
 *
 * UCX 1.13 trusts the packed worker address given to ucp_ep_create(): a wrong version byte
 * aborts the process (address.c: "addr version 15"), a wrong length reads past the buffer, and
 * the shared-memory records name segments (SysV ids, POSIX files, pids) that UCX attaches. The
 * handshake (ucx_hs.c) therefore walks every address a peer sends with phx_ucx_waddr_check(),
 * and every ucp_ep_create() to a peer's address gets the copy phx_ucx_waddr_reachable() makes,
 * which holds only records whose contents were checked too, and no same-host ones when the
 * peer is not on this host. The format accepted is
 * described in ucx_addr_check.c. Pure functions: no UCX state, no allocation (a fuzz target). */
#ifndef PHX_UCX_ADDR_CHECK_H
#define PHX_UCX_ADDR_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Most transport records one address may hold (UCX's own bound is 128). */
#define PHX_UCX_WADDR_MAX_TLS 64

/* 0 when the LEN bytes at A are a worker address UCX 1.13 unpacks without asserting and that
 * uses no feature our workers never use; else -EINVAL with one sentence in WHY. */
int phx_ucx_waddr_check(const uint8_t *a, size_t len, char *why, size_t whylen);

/* Checks A as above and copies it into OUT (room OUTLEN) with only the transport records UCX
 * may see: tcp and the InfiniBand/RoCE transports, and when LOCAL (the peer is on this host)
 * also tcp over loopback, self, posix, sysv and cma. The copy's length, or 0 (WHY says why: invalid, too long, or nothing left). */
size_t phx_ucx_waddr_reachable(const uint8_t *a, size_t len, bool local, uint8_t *out,
                               size_t outlen, char *why, size_t whylen);

/* The tcp records of the worker address A (LEN bytes), at most MAX into OUT: how many, or
 * -EINVAL when A is not a valid address. For ucx_portguard.h: the ports a worker's UCX listens
 * on, and the IPv4 addresses a peer's UCX has. */
struct phx_ucx_waddr_tcp {
    uint16_t port;      /* host order (the record's interface address, in network order) */
    uint32_t ipv4;      /* the device's IPv4 address, network order; 0 for a loopback device,
                           an address only this host has (127/8, 0.0.0.0) or IPv6 */
};
int phx_ucx_waddr_tcp(const uint8_t *a, size_t len, struct phx_ucx_waddr_tcp *out,
                      unsigned max);

/* The transports told apart, by the CRC-16 of their name UCX puts in each record. */
enum phx_ucx_tl {
    PHX_UCX_TL_OTHER, PHX_UCX_TL_TCP, PHX_UCX_TL_SELF, PHX_UCX_TL_POSIX, PHX_UCX_TL_SYSV,
    PHX_UCX_TL_CMA, PHX_UCX_TL_XPMEM, PHX_UCX_TL_KNEM, PHX_UCX_TL_RDMA,
};
enum phx_ucx_tl phx_ucx_waddr_tl_of(uint16_t csum);

#endif /* PHX_UCX_ADDR_CHECK_H */
