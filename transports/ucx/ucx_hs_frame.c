/* ucx_hs_frame.c - encoding and checking the wire-up handshake's frames (ucx_hs_frame.h).
 *
 * Every byte a stranger sends to a bound port goes through phx_ucx_hs_parse() first: it reads
 * only inside the buffer it is given, decides from the header alone whether a frame can ever be
 * valid (so junk is refused after at most 12 bytes, and a huge length before any body is read),
 * and checks that a body's inner lengths add up to exactly its length. */
#include "ucx_hs_frame.h"

#include <string.h>

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

/* The header's verdict on what it announces, from as many of its bytes as LEN has. */
static enum phx_ucx_hs_verdict check_header(const uint8_t *buf, size_t len)
{
    static const uint8_t magic[4] = {'P', 'H', 'X', 'H'};
    size_t n = len < 4 ? len : 4;

    if (memcmp(buf, magic, n) != 0)
        return PHX_UCX_HS_R_MAGIC;
    if (len > 4 && buf[4] != PHX_UCX_HS_VERSION)
        return PHX_UCX_HS_R_VERSION;
    if (len > 5 && (buf[5] < PHX_UCX_HS_HELLO || buf[5] > PHX_UCX_HS_REFUSE))
        return PHX_UCX_HS_R_MALFORMED;
    if (len > 7 && (buf[6] | buf[7]))
        return PHX_UCX_HS_R_MALFORMED;
    if (len >= PHX_UCX_HS_HDR && get32(buf + 8) > PHX_UCX_HS_BODY_MAX)
        return PHX_UCX_HS_R_OVERSIZED;
    return len >= PHX_UCX_HS_HDR ? PHX_UCX_HS_OK : PHX_UCX_HS_NEED_MORE;
}

/* Body of TYPE, N bytes at B, into M. */
static enum phx_ucx_hs_verdict parse_body(uint8_t type, const uint8_t *b, uint32_t n,
                                          struct phx_ucx_hs_msg *m)
{
    switch (type) {
    case PHX_UCX_HS_HELLO:
        if (n != PHX_UCX_HS_NONCE + 4)
            return PHX_UCX_HS_R_MALFORMED;
        memcpy(m->nonce, b, PHX_UCX_HS_NONCE);
        m->auth = get32(b + PHX_UCX_HS_NONCE);
        return PHX_UCX_HS_OK;
    case PHX_UCX_HS_WELCOME:
        if (n < PHX_UCX_HS_NONCE + 12)
            return PHX_UCX_HS_R_MALFORMED;
        memcpy(m->nonce, b, PHX_UCX_HS_NONCE);
        m->auth = get32(b + 16);
        m->addr_len = get32(b + 20);
        m->cred_len = get32(b + 24);
        if (m->addr_len == 0 || m->addr_len > PHX_UCX_HS_ADDR_MAX ||
            m->cred_len > PHX_UCX_HS_CRED_MAX ||
            (uint64_t)28 + m->addr_len + m->cred_len != n)
            return PHX_UCX_HS_R_MALFORMED;
        m->addr = b + 28;
        m->cred = b + 28 + m->addr_len;
        return PHX_UCX_HS_OK;
    case PHX_UCX_HS_AUTH:
        if (n < 8)
            return PHX_UCX_HS_R_MALFORMED;
        m->addr_len = get32(b);
        m->cred_len = get32(b + 4);
        if (m->addr_len == 0 || m->addr_len > PHX_UCX_HS_ADDR_MAX ||
            m->cred_len > PHX_UCX_HS_CRED_MAX ||
            (uint64_t)8 + m->addr_len + m->cred_len != n)
            return PHX_UCX_HS_R_MALFORMED;
        m->addr = b + 8;
        m->cred = b + 8 + m->addr_len;
        return PHX_UCX_HS_OK;
    case PHX_UCX_HS_DONE:
        return n == 0 ? PHX_UCX_HS_OK : PHX_UCX_HS_R_MALFORMED;
    case PHX_UCX_HS_REFUSE:
        if (n != 4)
            return PHX_UCX_HS_R_MALFORMED;
        m->reason = get32(b);
        return PHX_UCX_HS_OK;
    }
    return PHX_UCX_HS_R_MALFORMED;
}

enum phx_ucx_hs_verdict phx_ucx_hs_parse(const uint8_t *buf, size_t len,
                                         struct phx_ucx_hs_msg *m, size_t *used)
{
    enum phx_ucx_hs_verdict v = check_header(buf, len);

    if (v != PHX_UCX_HS_OK)
        return v;
    uint32_t body = get32(buf + 8);
    if (len < PHX_UCX_HS_HDR + (size_t)body)
        return PHX_UCX_HS_NEED_MORE;
    memset(m, 0, sizeof(*m));
    m->type = buf[5];
    v = parse_body(m->type, buf + PHX_UCX_HS_HDR, body, m);
    if (v == PHX_UCX_HS_OK)
        *used = PHX_UCX_HS_HDR + (size_t)body;
    return v;
}

/* The body length M needs, or 0 when M breaks a limit. */
static size_t body_len(const struct phx_ucx_hs_msg *m)
{
    switch (m->type) {
    case PHX_UCX_HS_HELLO:
        return PHX_UCX_HS_NONCE + 4;
    case PHX_UCX_HS_WELCOME:
        if (!m->addr_len || m->addr_len > PHX_UCX_HS_ADDR_MAX ||
            m->cred_len > PHX_UCX_HS_CRED_MAX)
            return 0;
        return 28 + (size_t)m->addr_len + m->cred_len;
    case PHX_UCX_HS_AUTH:
        if (!m->addr_len || m->addr_len > PHX_UCX_HS_ADDR_MAX ||
            m->cred_len > PHX_UCX_HS_CRED_MAX)
            return 0;
        return 8 + (size_t)m->addr_len + m->cred_len;
    case PHX_UCX_HS_REFUSE:
        return 4;
    }
    return 0;
}

size_t phx_ucx_hs_encode(const struct phx_ucx_hs_msg *m, uint8_t *buf, size_t cap)
{
    size_t n = m->type == PHX_UCX_HS_DONE ? 0 : body_len(m);

    if ((m->type != PHX_UCX_HS_DONE && n == 0) || n > PHX_UCX_HS_BODY_MAX ||
        cap < PHX_UCX_HS_HDR + n)
        return 0;
    memcpy(buf, "PHXH", 4);
    buf[4] = PHX_UCX_HS_VERSION;
    buf[5] = m->type;
    buf[6] = buf[7] = 0;
    put32(buf + 8, (uint32_t)n);
    uint8_t *b = buf + PHX_UCX_HS_HDR;
    switch (m->type) {
    case PHX_UCX_HS_HELLO:
        memcpy(b, m->nonce, PHX_UCX_HS_NONCE);
        put32(b + 16, m->auth);
        break;
    case PHX_UCX_HS_WELCOME:
        memcpy(b, m->nonce, PHX_UCX_HS_NONCE);
        put32(b + 16, m->auth);
        put32(b + 20, m->addr_len);
        put32(b + 24, m->cred_len);
        memcpy(b + 28, m->addr, m->addr_len);
        if (m->cred_len)
            memcpy(b + 28 + m->addr_len, m->cred, m->cred_len);
        break;
    case PHX_UCX_HS_AUTH:
        put32(b, m->addr_len);
        put32(b + 4, m->cred_len);
        memcpy(b + 8, m->addr, m->addr_len);
        if (m->cred_len)
            memcpy(b + 8 + m->addr_len, m->cred, m->cred_len);
        break;
    case PHX_UCX_HS_REFUSE:
        put32(b, m->reason);
        break;
    }
    return PHX_UCX_HS_HDR + n;
}

const char *phx_ucx_hs_reason_name(unsigned verdict)
{
    static const char *const names[PHX_UCX_HS_NREASONS] = {
        [PHX_UCX_HS_OK] = "ok",
        [PHX_UCX_HS_NEED_MORE] = "need_more",
        [PHX_UCX_HS_R_MAGIC] = "bad_magic",
        [PHX_UCX_HS_R_VERSION] = "bad_version",
        [PHX_UCX_HS_R_OVERSIZED] = "oversized",
        [PHX_UCX_HS_R_MALFORMED] = "malformed",
        [PHX_UCX_HS_R_TIMEOUT] = "timeout",
        [PHX_UCX_HS_R_BUSY_SOURCE] = "busy_source",
        [PHX_UCX_HS_R_BUSY] = "busy",
        [PHX_UCX_HS_R_AUTH] = "auth",
        [PHX_UCX_HS_R_REPLAYED] = "replayed",
        [PHX_UCX_HS_R_POLICY] = "policy",
        [PHX_UCX_HS_R_PEER] = "peer",
        [PHX_UCX_HS_R_CLAIM] = "claim_timeout",
        [PHX_UCX_HS_R_ADDRESS] = "bad_address",
    };
    return verdict < PHX_UCX_HS_NREASONS ? names[verdict] : "unknown";
}
