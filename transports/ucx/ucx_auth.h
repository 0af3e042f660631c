/* ucx_auth.h - the handshake's peer authentication: MUNGE credentials bound to one handshake.
 *
 * With security auth "munge" each side of a handshake proves that it runs on a node of the same
 * MUNGE realm: it sends a credential whose payload is ROLE ('S' server, 'C' client), both
 * nonces and the server's UCX worker address. The other side decodes it with its own munged and
 * checks that the payload is exactly what this handshake expects, so a credential captured on
 * one connection is refused on another even before munged's replay cache says so. The server
 * learns the client's uid and gid from it. With "none" there is no credential at all.
 *
 * munge_encode()/munge_decode() talk to the local munged over a unix socket (typically tens of
 * microseconds); they run on the runtime thread (docs/transport.md gives the figures). */
#ifndef PHX_UCX_AUTH_H
#define PHX_UCX_AUTH_H

#include "ucx_hs_frame.h"

#include <stddef.h>
#include <stdint.h>

struct phx_ucx_auth_bind {
    char           role;                        /* 'S' or 'C': who made the credential */
    const uint8_t *cnonce, *snonce;             /* PHX_UCX_HS_NONCE bytes each */
    const uint8_t *addr;                        /* the server's worker address */
    size_t         addr_len;
};

/* A credential for B (malloc'd, NUL-terminated, *LEN without the NUL) from the munged at SOCKET
 * ("" = libmunge's default). NULL with a sentence in ERR. */
char *phx_ucx_auth_make(const char *socket, const struct phx_ucx_auth_bind *b, size_t *len,
                        char *err, size_t errlen);

/* Checks CRED (LEN bytes) against B: PHX_UCX_HS_OK with *UID and *GID, PHX_UCX_HS_R_REPLAYED
 * (munged saw it before, or it was made for another handshake) or PHX_UCX_HS_R_AUTH (anything
 * else: another realm, expired, malformed), with a sentence in ERR. */
enum phx_ucx_hs_verdict phx_ucx_auth_check(const char *socket, const uint8_t *cred, size_t len,
                                           const struct phx_ucx_auth_bind *b, uint32_t *uid,
                                           uint32_t *gid, char *err, size_t errlen);

#endif /* PHX_UCX_AUTH_H */
