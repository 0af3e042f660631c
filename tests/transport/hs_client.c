/* hs_client.c - a blocking client of the wire-up handshake for tests (hs_client.h). */
#include "hs_client.h"

#include "ucx_auth.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#define HS_WAIT_MS 5000

static int dial(const char *host, const char *port, char *err, size_t errlen)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai;
    int fd = -1;

    if (getaddrinfo(host, port, &hints, &ai)) {
        snprintf(err, errlen, "cannot resolve %s", host);
        return -1;
    }
    fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
        snprintf(err, errlen, "connect: %s", strerror(errno));
        close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    return fd;
}

static int send_all(int fd, const uint8_t *p, size_t n)
{
    while (n) {
        ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
        if (k <= 0)
            return -1;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

static int send_msg(int fd, const struct phx_ucx_hs_msg *m, uint8_t *copy, size_t *copy_len)
{
    uint8_t buf[PHX_UCX_HS_FRAME_MAX];
    size_t n = phx_ucx_hs_encode(m, buf, sizeof(buf));

    if (copy) {
        memcpy(copy, buf, n);
        *copy_len = n;
    }
    return n ? send_all(fd, buf, n) : -1;
}

/* Reads one frame into BUF and M (bounded by HS_WAIT_MS). 0, or -1 with a sentence. */
static int recv_msg(int fd, uint8_t *buf, struct phx_ucx_hs_msg *m, char *err, size_t errlen)
{
    size_t have = 0, used = 0;

    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, HS_WAIT_MS) != 1) {
            snprintf(err, errlen, "no answer within %d ms", HS_WAIT_MS);
            return -1;
        }
        ssize_t n = recv(fd, buf + have, PHX_UCX_HS_FRAME_MAX - have, 0);
        if (n <= 0) {
            snprintf(err, errlen, "the server closed the connection");
            return -1;
        }
        have += (size_t)n;
        enum phx_ucx_hs_verdict v = phx_ucx_hs_parse(buf, have, m, &used);
        if (v == PHX_UCX_HS_OK)
            return 0;
        if (v != PHX_UCX_HS_NEED_MORE) {
            snprintf(err, errlen, "the server sent a bad frame (%s)", phx_ucx_hs_reason_name(v));
            return -1;
        }
    }
}

/* The part after WELCOME: AUTH (fresh, or REPLAY), then DONE. */
static int authenticate(int fd, const struct phx_ucx_hs_msg *w, const struct hs_client *c,
                        const uint8_t *cnonce, struct hs_result *r, char *err, size_t errlen)
{
    uint8_t buf[PHX_UCX_HS_FRAME_MAX];
    struct phx_ucx_hs_msg m = {.type = PHX_UCX_HS_AUTH,
                               .addr = c->frame_addr ? c->frame_addr : c->addr,
                               .addr_len = (uint32_t)(c->frame_addr ? c->frame_addr_len
                                                                    : c->addr_len)};
    const char *munge_socket = c->munge_socket ? c->munge_socket : "";
    char *cred = NULL;
    size_t cred_len = 0;
    int rc;

    memcpy(r->snonce, w->nonce, PHX_UCX_HS_NONCE);
    memcpy(r->addr, w->addr, w->addr_len);
    r->addr_len = w->addr_len;
    if (c->auth == PHX_UCX_AUTH_MUNGE && !c->replay) {
        struct phx_ucx_auth_bind b = {.role = 'S', .cnonce = cnonce, .snonce = r->snonce,
                                      .saddr = r->addr, .saddr_len = r->addr_len,
                                      .caddr = c->addr, .caddr_len = c->addr_len, .job = c->job};
        uint32_t uid, gid;
        char job[PHX_UCX_JOB_MAX + 1];
        if (phx_ucx_auth_check(munge_socket, w->cred, w->cred_len, &b, &uid, &gid, job, err,
                               errlen) != PHX_UCX_HS_OK)
            return -1;
        b.role = 'C';
        if (!(cred = phx_ucx_auth_make(munge_socket, &b, &cred_len, err, errlen)))
            return -1;
    }
    m.cred = (const uint8_t *)cred;
    m.cred_len = (uint32_t)cred_len;
    if (c->replay)
        rc = send_all(fd, c->replay, c->replay_len);
    else
        rc = send_msg(fd, &m, r->auth_frame, &r->auth_len);
    free(cred);
    if (rc < 0 || recv_msg(fd, buf, &m, err, errlen) < 0)
        return -1;
    if (m.type == PHX_UCX_HS_REFUSE) {
        r->refused = m.reason;
        snprintf(err, errlen, "refused (%s)", phx_ucx_hs_reason_name(m.reason));
        return -1;
    }
    return m.type == PHX_UCX_HS_DONE ? 0 : -1;
}

int hs_client_run(const char *host, const char *port, const struct hs_client *c,
                  struct hs_result *r, char *err, size_t errlen)
{
    uint8_t buf[PHX_UCX_HS_FRAME_MAX], cnonce[PHX_UCX_HS_NONCE];
    struct phx_ucx_hs_msg m = {.type = PHX_UCX_HS_HELLO, .auth = c->auth};
    int fd = dial(host, port, err, errlen), rc = -1;

    memset(r, 0, sizeof(*r));
    r->fd = -1;
    if (fd < 0)
        return -1;
    if (getrandom(cnonce, sizeof(cnonce), 0) != (ssize_t)sizeof(cnonce))
        goto out;
    memcpy(m.nonce, cnonce, sizeof(cnonce));
    if (send_msg(fd, &m, NULL, NULL) < 0 || recv_msg(fd, buf, &m, err, errlen) < 0)
        goto out;
    if (m.type == PHX_UCX_HS_REFUSE) {
        r->refused = m.reason;
        snprintf(err, errlen, "refused (%s)", phx_ucx_hs_reason_name(m.reason));
        goto out;
    }
    if (m.type != PHX_UCX_HS_WELCOME) {
        snprintf(err, errlen, "expected WELCOME");
        goto out;
    }
    rc = authenticate(fd, &m, c, cnonce, r, err, errlen);
out:
    if (rc == 0)
        r->fd = fd;
    else
        close(fd);
    return rc;
}

void hs_claim_frame(const struct hs_result *r, uint8_t *out)
{
    memcpy(out, "PHXC", 4);
    out[4] = 1;
    out[5] = out[6] = out[7] = 0;
    memcpy(out + 8, r->snonce, PHX_UCX_HS_NONCE);
}

int hs_is_ack(const void *header, size_t len)
{
    const uint8_t *h = header;

    return len == HS_CLAIM_LEN && memcmp(h, "PHXC", 4) == 0 && h[4] == 2;
}

size_t hs_fake_worker_address(uint8_t *out, uint8_t tag)
{
    /* v1 header (worker uuid), md 0 (last device, 18-byte tcp device address: loopback flag,
     * AF_INET, boot id and netns), tcp's checksum, v1 attributes (floats: overhead 5e-5 s,
     * bandwidth 12e6, latency 1e-5 s), last interface with a 2-byte port. */
    static const uint8_t tmpl[HS_FAKE_ADDR_LEN] = {
        0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0x20, 0x92,
        0x01, 0x02, 0x22, 0xed, 0x48, 0x01, 0xb0, 0x64, 0x27, 0xae, 0xf9, 0xff, 0xff, 0xef,
        0x00, 0x00, 0x00, 0x00,
        0xcf, 0x19, 0x17, 0xb7, 0x51, 0x38, 0x53, 0x9e, 0x3e, 0x4b, 0xd7, 0xe0, 0x37, 0x37,
        0x01, 0x13, 0x23, 0x00, 0x82, 0x00, 0x01};

    memcpy(out, tmpl, sizeof(tmpl));
    out[1] = tag;
    return sizeof(tmpl);
}
