/* ucx_auth.c - MUNGE credentials bound to a handshake (ucx_auth.h). */
#include "ucx_auth.h"

#include <munge.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The payload a credential for B carries; *LEN its length. NULL: no memory. */
static uint8_t *payload_of(const struct phx_ucx_auth_bind *b, size_t *len)
{
    size_t n = 1 + 2 * PHX_UCX_HS_NONCE + b->addr_len;
    uint8_t *p = malloc(n);

    if (!p)
        return NULL;
    p[0] = (uint8_t)b->role;
    memcpy(p + 1, b->cnonce, PHX_UCX_HS_NONCE);
    memcpy(p + 1 + PHX_UCX_HS_NONCE, b->snonce, PHX_UCX_HS_NONCE);
    memcpy(p + 1 + 2 * PHX_UCX_HS_NONCE, b->addr, b->addr_len);
    *len = n;
    return p;
}

static munge_ctx_t ctx_for(const char *socket, char *err, size_t errlen)
{
    munge_ctx_t ctx = munge_ctx_create();

    if (!ctx) {
        snprintf(err, errlen, "out of memory for a MUNGE context");
        return NULL;
    }
    if (socket && socket[0] && munge_ctx_set(ctx, MUNGE_OPT_SOCKET, socket) != EMUNGE_SUCCESS) {
        snprintf(err, errlen, "cannot use MUNGE socket %s: %s", socket, munge_ctx_strerror(ctx));
        munge_ctx_destroy(ctx);
        return NULL;
    }
    return ctx;
}

char *phx_ucx_auth_make(const char *socket, const struct phx_ucx_auth_bind *b, size_t *len,
                        char *err, size_t errlen)
{
    size_t n;
    uint8_t *payload = payload_of(b, &n);
    munge_ctx_t ctx = payload ? ctx_for(socket, err, errlen) : NULL;
    char *cred = NULL;

    if (!payload)
        snprintf(err, errlen, "out of memory");
    if (ctx) {
        munge_err_t e = munge_encode(&cred, ctx, payload, (int)n);
        if (e != EMUNGE_SUCCESS) {
            snprintf(err, errlen, "munged cannot make a credential: %s", munge_ctx_strerror(ctx));
            free(cred);
            cred = NULL;
        } else {
            *len = strlen(cred);
        }
        munge_ctx_destroy(ctx);
    }
    free(payload);
    return cred;
}

/* Whether the decoded payload GOT (N bytes) is the one B expects. */
static bool bound_to(const struct phx_ucx_auth_bind *b, const void *got, int n)
{
    size_t want_len;
    uint8_t *want = payload_of(b, &want_len);
    bool same = want && n >= 0 && (size_t)n == want_len && memcmp(want, got, want_len) == 0;

    free(want);
    return same;
}

enum phx_ucx_hs_verdict phx_ucx_auth_check(const char *socket, const uint8_t *cred, size_t len,
                                           const struct phx_ucx_auth_bind *b, uint32_t *uid,
                                           uint32_t *gid, char *err, size_t errlen)
{
    char *text = malloc(len + 1);
    munge_ctx_t ctx = text ? ctx_for(socket, err, errlen) : NULL;
    enum phx_ucx_hs_verdict v = PHX_UCX_HS_R_AUTH;

    if (!text)
        snprintf(err, errlen, "out of memory");
    if (ctx) {
        void *got = NULL;
        int n = 0;
        uid_t u;
        gid_t g;
        memcpy(text, cred, len);
        text[len] = '\0';
        munge_err_t e = munge_decode(text, ctx, &got, &n, &u, &g);
        if (e == EMUNGE_CRED_REPLAYED) {
            snprintf(err, errlen, "the peer's MUNGE credential was replayed");
            v = PHX_UCX_HS_R_REPLAYED;
        } else if (e != EMUNGE_SUCCESS) {
            snprintf(err, errlen, "the peer's MUNGE credential does not verify: %s",
                     munge_strerror(e));
        } else if (!bound_to(b, got, n)) {
            snprintf(err, errlen, "the peer's MUNGE credential was made for another handshake");
            v = PHX_UCX_HS_R_REPLAYED;
        } else {
            *uid = (uint32_t)u;
            *gid = (uint32_t)g;
            v = PHX_UCX_HS_OK;
        }
        free(got);
        munge_ctx_destroy(ctx);
    }
    free(text);
    return v;
}
