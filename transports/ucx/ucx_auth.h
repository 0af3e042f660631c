/* ucx_auth.h - the handshake's peer authentication: MUNGE credentials bound to one handshake.
 *
 * With security auth "munge" each side of a handshake proves that it runs on a node of the same
 * MUNGE realm: it sends a credential whose payload is
 *
 *   role u8 ('S' server, 'C' client) | format u8 (PHX_UCX_AUTH_FORMAT) | client nonce[16] |
 *   server nonce[16] | len u32, the server's UCX worker address | len u32, the client's (a
 *   client's credential; none in a server's) | len u8, the maker's Slurm job ("" for none)
 *
 * The other side decodes it with its own munged and checks that everything before the job is
 * exactly what this handshake expects, so a credential captured on one connection is refused on
 * another even before munged's replay cache says so, and one whose frame names another worker
 * address than the credential was made for is refused too (a man in the middle cannot point the
 * server's endpoint at his own worker). The job comes out of the payload for auth_same_job:
 * since munged sealed it, it cannot be changed in transit. The server learns the client's uid
 * and gid from it. With "none" there is no credential at all.
 *
 * munge_encode()/munge_decode() talk to the local munged over a unix socket: from a hundred
 * microseconds to several milliseconds on a loaded node, too long for the runtime thread, which
 * serves every app. So an engine hands them to its own credential thread (the queue below) and
 * hears back through an eventfd in its epoll set. */
#ifndef PHX_UCX_AUTH_H
#define PHX_UCX_AUTH_H

#include "ucx_hs_frame.h"

#include <stddef.h>
#include <stdint.h>

#define PHX_UCX_AUTH_FORMAT 2      /* of the payload above (1: before addresses and job) */
#define PHX_UCX_JOB_MAX     31     /* a Slurm job id, characters */

struct phx_ucx_auth_bind {
    char           role;                        /* 'S' or 'C': who made the credential */
    const uint8_t *cnonce, *snonce;             /* PHX_UCX_HS_NONCE bytes each */
    const uint8_t *saddr;                       /* the server's worker address */
    size_t         saddr_len;
    const uint8_t *caddr;                       /* 'C': the client's worker address */
    size_t         caddr_len;
    const char    *job;                         /* making: the maker's Slurm job, "" or NULL */
};

/* A credential for B (malloc'd, NUL-terminated, *LEN without the NUL) from the munged at SOCKET
 * ("" = libmunge's default). NULL with a sentence in ERR. */
char *phx_ucx_auth_make(const char *socket, const struct phx_ucx_auth_bind *b, size_t *len,
                        char *err, size_t errlen);

/* Checks CRED (LEN bytes) against B (its job ignored): PHX_UCX_HS_OK with *UID, *GID and the
 * maker's job in JOB (PHX_UCX_JOB_MAX + 1 bytes; "" for none), PHX_UCX_HS_R_REPLAYED (munged saw
 * it before, or it was made for another handshake or address) or PHX_UCX_HS_R_AUTH (anything
 * else: another realm, expired, malformed), with a sentence in ERR. */
enum phx_ucx_hs_verdict phx_ucx_auth_check(const char *socket, const uint8_t *cred, size_t len,
                                           const struct phx_ucx_auth_bind *b, uint32_t *uid,
                                           uint32_t *gid, char *job, char *err, size_t errlen);

/* ---- the credential thread ---------------------------------------------------------------- */

/* One job: check CRED (when cred_len) against the binding with role CHECK_ROLE, then, if that
 * passed, make a credential with role MAKE_ROLE (when not 0). The binding's bytes are copied in. */
struct phx_ucx_auth_job {
    uint64_t                 owner;         /* the caller's tag (a handshake slot and serial) */
    char                     check_role, make_role;
    uint8_t                  cnonce[PHX_UCX_HS_NONCE], snonce[PHX_UCX_HS_NONCE];
    uint8_t                 *saddr, *caddr; /* the two worker addresses (malloc'd; caddr
                                               only for a client's credential) */
    size_t                   saddr_len, caddr_len;
    char                     job[PHX_UCX_JOB_MAX + 1];      /* ours, for the one made */
    uint8_t                 *cred;          /* to check (malloc'd) */
    size_t                   cred_len;
    /* results */
    enum phx_ucx_hs_verdict  verdict;
    uint32_t                 uid, gid;
    char                     peer_job[PHX_UCX_JOB_MAX + 1]; /* the checked one's maker's */
    char                    *made;          /* the credential made (malloc'd), or NULL */
    size_t                   made_len;
    char                     err[256];
    struct phx_ucx_auth_job *next;
};

struct phx_ucx_authq;

/* A credential thread for the munged at SOCKET, and its eventfd (*FD, readable when jobs are
 * done). NULL with a sentence in ERR. */
struct phx_ucx_authq *phx_ucx_authq_start(const char *socket, int *fd, char *err, size_t errlen);
/* Queues J (the queue owns it until it comes back from phx_ucx_authq_done). */
void phx_ucx_authq_submit(struct phx_ucx_authq *q, struct phx_ucx_auth_job *j);
/* The jobs done since the last call, oldest first (the caller frees them with
 * phx_ucx_auth_job_free); clears the eventfd. */
struct phx_ucx_auth_job *phx_ucx_authq_done(struct phx_ucx_authq *q);
/* Stops the thread (a job under way finishes first), frees every job and the queue. */
void phx_ucx_authq_stop(struct phx_ucx_authq *q);
void phx_ucx_auth_job_free(struct phx_ucx_auth_job *j);

#endif /* PHX_UCX_AUTH_H */
