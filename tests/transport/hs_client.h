/* hs_client.h - the client's side of the transport's wire-up handshake, blocking, for test
 * programs that play a peer without Phoenix (raw_peer.c, test_transport_munge.c).
 *
 * It speaks ucx_hs_frame.h's frames over a TCP socket with poll() deadlines: HELLO, WELCOME
 * (checking the server's MUNGE credential when asked), AUTH, DONE. The caller then makes an
 * endpoint to `addr` and sends hs_claim_frame() on it (active message 4, UCP_AM_SEND_FLAG_REPLY);
 * the server answers with an ack on the same active message. */
#ifndef PHX_TEST_HS_CLIENT_H
#define PHX_TEST_HS_CLIENT_H

#include "ucx_hs_frame.h"

#include <stddef.h>
#include <stdint.h>

#define HS_CLAIM_AM  4
#define HS_CLAIM_LEN 24

struct hs_result {
    uint8_t  snonce[PHX_UCX_HS_NONCE];
    uint8_t  addr[PHX_UCX_HS_ADDR_MAX];     /* the server's UCX worker address */
    size_t   addr_len;
    uint32_t refused;                       /* the server's REFUSE reason, or 0 */
    uint8_t  auth_frame[PHX_UCX_HS_FRAME_MAX];  /* the AUTH frame sent (for replays) */
    size_t   auth_len;
    int      fd;        /* after DONE: the socket, open while the connection lives (the
                           service takes its closing as the connection's end); else -1 */
};

/* What the client brings: its auth mode (PHX_UCX_AUTH_NONE or _MUNGE, credentials from the
 * munged at munge_socket, naming Slurm job `job` when not NULL), its UCX worker address, and
 * optionally an AUTH frame to send instead of a fresh one (a replay), or another worker address
 * for the AUTH frame than the one its credential names (a man in the middle's). */
struct hs_client {
    uint32_t       auth;
    const char    *munge_socket;
    const char    *job;
    const uint8_t *addr;
    size_t         addr_len;
    const uint8_t *replay;
    size_t         replay_len;
    const uint8_t *frame_addr;
    size_t         frame_addr_len;
};

/* Runs the handshake with HOST:PORT as C says. 0 on DONE, else -1 with a sentence in ERR (and
 * R->refused when the server said why). */
int hs_client_run(const char *host, const char *port, const struct hs_client *c,
                  struct hs_result *r, char *err, size_t errlen);

/* A worker address that parses as UCX 1.13's (one tcp record to 127.0.0.1, worker uuid TAG,
 * nobody listening at it) for handshakes that never reach an endpoint, into OUT (at least
 * HS_FAKE_ADDR_LEN bytes). Its length. */
#define HS_FAKE_ADDR_LEN 50
size_t hs_fake_worker_address(uint8_t *out, uint8_t tag);

/* The claim of R's handshake, HS_CLAIM_LEN bytes into OUT. */
void hs_claim_frame(const struct hs_result *r, uint8_t *out);

/* Whether HEADER (LEN bytes) of an active message 4 is the server's ack. */
int hs_is_ack(const void *header, size_t len);

#endif /* PHX_TEST_HS_CLIENT_H */
