/* ucx_hs_frame.h - the frames of the transport's own wire-up handshake, as bytes.
 *
 * Before any UCX endpoint exists, two services talk over a plain TCP connection to the address
 * an app bound (ucx_hs.c drives it). Every frame is a 12-byte header and a body:
 *
 *   magic u32 "PHXH" | version u8 | type u8 | flags u16 (0) | body_len u32    (little-endian)
 *
 *   HELLO    client -> server  client nonce[16], auth u32 (PHX_UCX_AUTH_*)
 *   WELCOME  server -> client  server nonce[16], auth u32, addr_len u32, cred_len u32,
 *                              the server's UCX worker address, its credential
 *   AUTH     client -> server  addr_len u32, cred_len u32, the client's UCX worker address,
 *                              its credential
 *   DONE     server -> client  (empty): the server expects the client's claim (ucx_claim.c)
 *   REFUSE   either way        reason u32 (PHX_UCX_HS_R_*)
 *
 * Bodies are at most PHX_UCX_HS_BODY_MAX bytes and their inner lengths must add up exactly. This
 * file only encodes and checks bytes: no sockets, no UCX, no allocation, so that a fuzzer can
 * drive phx_ucx_hs_parse() with anything. */
#ifndef PHX_UCX_HS_FRAME_H
#define PHX_UCX_HS_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define PHX_UCX_HS_MAGIC     0x48584850u    /* "PHXH" as it appears on the wire */
#define PHX_UCX_HS_VERSION   1
#define PHX_UCX_HS_HDR       12
#define PHX_UCX_HS_BODY_MAX  4096
#define PHX_UCX_HS_FRAME_MAX (PHX_UCX_HS_HDR + PHX_UCX_HS_BODY_MAX)
#define PHX_UCX_HS_NONCE     16
#define PHX_UCX_HS_ADDR_MAX  2048           /* a UCX worker address, bytes */
#define PHX_UCX_HS_CRED_MAX  2048           /* a MUNGE credential, bytes */

enum phx_ucx_hs_type {
    PHX_UCX_HS_HELLO = 1,
    PHX_UCX_HS_WELCOME = 2,
    PHX_UCX_HS_AUTH = 3,
    PHX_UCX_HS_DONE = 4,
    PHX_UCX_HS_REFUSE = 5,
};

enum phx_ucx_auth { PHX_UCX_AUTH_NONE = 0, PHX_UCX_AUTH_MUNGE = 1 };

/* Verdicts of phx_ucx_hs_parse(), and the reasons a handshake is refused: the refusal counters
 * of the engine's stats are indexed by them (ucx_hs.c names them). */
enum phx_ucx_hs_verdict {
    PHX_UCX_HS_OK = 0,          /* one whole, valid frame */
    PHX_UCX_HS_NEED_MORE,       /* a valid prefix: read on */
    PHX_UCX_HS_R_MAGIC,         /* not our protocol (HTTP, TLS, SSH, zeros...) */
    PHX_UCX_HS_R_VERSION,       /* our protocol, a version we do not speak */
    PHX_UCX_HS_R_OVERSIZED,     /* body_len over PHX_UCX_HS_BODY_MAX */
    PHX_UCX_HS_R_MALFORMED,     /* bad type, flags or inner lengths */
    PHX_UCX_HS_R_TIMEOUT,       /* the handshake's deadline passed */
    PHX_UCX_HS_R_BUSY_SOURCE,   /* too many half-open connections from that address */
    PHX_UCX_HS_R_BUSY,          /* too many half-open connections in all */
    PHX_UCX_HS_R_AUTH,          /* another auth mode, or a credential that does not verify */
    PHX_UCX_HS_R_REPLAYED,      /* a credential seen before, or bound to another handshake */
    PHX_UCX_HS_R_POLICY,        /* authenticated, but not allowed (same-uid) */
    PHX_UCX_HS_R_PEER,          /* the peer refused us, or closed the connection */
    PHX_UCX_HS_R_CLAIM,         /* the handshake succeeded but no endpoint claimed it in time */
    PHX_UCX_HS_R_ADDRESS,       /* the peer's UCX worker address is refused (ucx_addr_check.h) */
    PHX_UCX_HS_NREASONS
};

/* A frame, decoded. Pointers point into the parsed buffer. */
struct phx_ucx_hs_msg {
    uint8_t        type;
    uint8_t        nonce[PHX_UCX_HS_NONCE];   /* HELLO, WELCOME */
    uint32_t       auth;                      /* HELLO, WELCOME */
    const uint8_t *addr;                      /* WELCOME, AUTH */
    uint32_t       addr_len;
    const uint8_t *cred;                      /* WELCOME, AUTH */
    uint32_t       cred_len;
    uint32_t       reason;                    /* REFUSE */
};

/* Checks the LEN bytes at BUF (what has been read so far) for one frame. PHX_UCX_HS_OK with *M
 * filled and *USED its length; PHX_UCX_HS_NEED_MORE when BUF is a valid prefix; else the reason
 * the bytes are refused. Pure: reads only BUF[0..LEN). */
enum phx_ucx_hs_verdict phx_ucx_hs_parse(const uint8_t *buf, size_t len,
                                         struct phx_ucx_hs_msg *m, size_t *used);

/* Writes M as a frame into BUF (CAP bytes); its length, or 0 when it does not fit or M breaks
 * the limits above. */
size_t phx_ucx_hs_encode(const struct phx_ucx_hs_msg *m, uint8_t *buf, size_t cap);

/* The name of a verdict ("bad_magic", ...): the key of its counter in the stats. */
const char *phx_ucx_hs_reason_name(unsigned verdict);

#endif /* PHX_UCX_HS_FRAME_H */
