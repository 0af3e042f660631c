/* ucx_addr_check.h - a peer's UCX worker address, checked before any UCX call sees it.
 *
 * UCX 1.13 trusts the packed worker address given to ucp_ep_create(): a wrong version byte
 * aborts the process (address.c: "addr version 15"), a wrong length reads past the buffer, and
 * the shared-memory records name segments (SysV ids, POSIX files, pids) that UCX attaches. The
 * handshake (ucx_hs.c) therefore walks every address a peer sends with phx_ucx_waddr_check(),
 * and every ucp_ep_create() to a peer's address gets the copy phx_ucx_waddr_reachable() makes,
 * which drops the same-host records when the peer is not on this host. The format accepted is
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

/* Checks A as above and copies it into OUT (room OUTLEN), without the records of same-host
 * transports (posix, sysv, xpmem, cma, knem) unless LOCAL: the peer is on this host. The copy's
 * length, or 0 (WHY says why: invalid, too long, or nothing left this host could reach). */
size_t phx_ucx_waddr_reachable(const uint8_t *a, size_t len, bool local, uint8_t *out,
                               size_t outlen, char *why, size_t whylen);

/* Whether the transport record with name checksum CSUM is a same-host one. */
bool phx_ucx_waddr_tl_is_shm(uint16_t csum);

#endif /* PHX_UCX_ADDR_CHECK_H */
