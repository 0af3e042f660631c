/* ucx_claim.c - the last step of the wire-up: a new endpoint claims its handshake.
 *
 * Once the server has sent DONE (ucx_hs.c) it expects a claim: the client makes an endpoint to
 * the server's worker address and sends, on active message PHX_UCX_AM_CLAIM_ID with
 * UCP_AM_SEND_FLAG_REPLY, the server's nonce of that handshake. The server finds the handshake
 * by that nonce (the worker's `claims`, since the frame comes to the worker every engine of the
 * runtime thread shares), takes the frame's reply endpoint as the accepted connection's (its
 * error handler ours: peer failures are handled as for every endpoint), queues ACCEPTED with the
 * caller's struct mrpc_peer_info and answers with an ack on it. The client's CONNECT is answered
 * on the ack (ucx_conn.c), so an app never sends before the server knows the connection. A claim
 * not made within the handshake timeout is dropped and counted; a claim naming nothing known is
 * counted as the worker's `unclaimed`.
 *
 * The frame's reply endpoint is one UCX made by itself for the client's endpoint; such an
 * endpoint has no error handler and UCX destroys it silently when the peer goes, so the server
 * adopts it (adopt(): a ucp_ep_create() to the client's worker address that UCX matches with it).
 * UCX pairs endpoints of two workers by a per-peer sequence number; the two sides advance it in
 * step, one creation each per connection, so the first try finds it unless claims cross.
 *
 * Crossed connects. When two services' workers call each other at the same instant (each side's
 * client makes its endpoint before the other's wire-up request arrives), UCX pairs the two
 * clients' endpoints with each other: each side's claim comes on the other's own outgoing
 * endpoint. The rule (crossed()): when the claim's client worker address (from its AUTH, which
 * MUNGE vouches for when auth is on) is exactly the server worker address our CONNECTING client
 * on that endpoint called (from its WELCOME, likewise), the side whose worker address sorts
 * lower (shorter first, then bytes) keeps the pair for its outgoing connection and leaves the
 * peer's claim expected; the higher side gives its endpoint to the connection it accepts on
 * that claim (ack on it, as always) and its client claims the same handshake again on a new
 * endpoint, which UCX pairs as in the usual case. Both sides compute the same order from the
 * same two addresses, so exactly one connection keeps the crossed pair, and each CONNECT ends
 * in one connection. Any other claim on an endpoint we own is refused and counted as the
 * worker's `unclaimed`: a peer can only ever cross its own connections, never take over an
 * established one or another peer's.
 *
 * A client of the same worker (two apps of one runtime thread) claims directly: UCX connects an
 * endpoint to its own worker to itself, unless UCP_EP_PARAMS_FLAGS_NO_LOOPBACK pairs it with the
 * next one made so; the server's is made right after the client's, under the worker's lock, and
 * the two are each other's peers. */
#include "ucx_engine.h"

#include "phoenix/log.h"
#include "phoenix/status.h"

#include <errno.h>
#include <stdio.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#define CLAIM_MAGIC 0x43584850u     /* "PHXC" */
#define CLAIM_LEN   24              /* magic u32, kind u32, nonce[16] */
enum { CLAIM = 1, CLAIM_ACK = 2 };

struct phx_ucx_claim {
    struct phx_ucx_engine *s;
    uint8_t                snonce[PHX_UCX_HS_NONCE];
    uint32_t               binding_id;
    uint64_t               deadline_ns;
    struct mrpc_peer_info  peer;
    uint8_t               *caddr;       /* the client's worker address */
    size_t                 caddr_len;
    bool                   local;       /* the client is on this host (ucx_hs.c) */
    int                    live_fd;     /* the handshake's socket, for the connection */
    struct phx_ucx_claim  *next;
};

#define ADOPT_TRIES 16      /* endpoints made at most to find the one UCX pairs with a claim's */
#define SPARE_MS    5000    /* a spare endpoint nobody claims is closed after this */
#define SPARES_MAX  4096    /* per worker (its map's bound) */

static uint64_t key_of(const uint8_t *nonce)
{
    uint64_t k;

    memcpy(&k, nonce, sizeof(k));
    return k;
}

static void frame(uint8_t *out, uint32_t kind, const uint8_t *nonce)
{
    uint32_t magic = CLAIM_MAGIC;

    memcpy(out, &magic, 4);
    memcpy(out + 4, &kind, 4);
    if (nonce)
        memcpy(out + 8, nonce, PHX_UCX_HS_NONCE);
    else
        memset(out + 8, 0, PHX_UCX_HS_NONCE);
}

int phx_ucx_claim_expect(struct phx_ucx_engine *s, uint32_t binding_id, const uint8_t *snonce,
                         const struct mrpc_peer_info *peer, const uint8_t *caddr,
                         size_t caddr_len, bool local, int live_fd)
{
    if (s->n_claims >= s->wcfg.halfopen_max)
        return -EBUSY;
    struct phx_ucx_claim *cl = calloc(1, sizeof(*cl));
    uint8_t *copy = malloc(caddr_len);
    if (!cl || !copy) {
        free(cl);
        free(copy);
        return -ENOMEM;
    }
    memcpy(copy, caddr, caddr_len);
    *cl = (struct phx_ucx_claim){.s = s, .binding_id = binding_id, .peer = *peer,
                                 .deadline_ns = phx_now_ns() +
                                                (uint64_t)s->wcfg.hs_timeout_ms * 1000000ull,
                                 .caddr = copy, .caddr_len = caddr_len, .local = local,
                                 .live_fd = live_fd};
    memcpy(cl->snonce, snonce, PHX_UCX_HS_NONCE);
    if (phx_u64map_put(&s->w->claims, key_of(snonce), (uintptr_t)cl) < 0) {
        free(copy);
        free(cl);
        return -ENOMEM;     /* -EEXIST too: 64 random bits collided, refuse */
    }
    cl->next = s->claims;
    s->claims = cl;
    s->n_claims++;
    return 0;
}

/* Takes CL off its engine's list and the worker's map, and frees it. */
static void claim_free(struct phx_ucx_claim *cl)
{
    struct phx_ucx_engine *s = cl->s;
    struct phx_ucx_claim **pp = &s->claims;

    while (*pp != cl)
        pp = &(*pp)->next;
    *pp = cl->next;
    s->n_claims--;
    phx_u64map_remove(&s->w->claims, key_of(cl->snonce), NULL);
    if (cl->live_fd >= 0)
        close(cl->live_fd);
    free(cl->caddr);
    free(cl);
}

/* ---- adopting the client's endpoint -------------------------------------------------------- */

/* A spare failed before anyone claimed it: it is closed when its time is up. */
static void spare_error(void *arg, ucp_ep_h ep, ucs_status_t status)
{
    (void)arg;
    (void)ep;
    (void)status;
}

/* The endpoint the claim that came on REPLY must use: UCX made REPLY for the client's endpoint
 * on its own, and destroys such an endpoint silently when the peer goes, so it must become ours
 * (UCP_EP_FLAG_USED: error handler, ours to close). UCX hands it over to the ucp_ep_create() to
 * the client's address whose per-peer sequence number is the client's: the first try in the usual
 * case. Endpoints made on the way belong to other connections of the same two workers (claims
 * that come out of order): they wait in the worker's `spares` until their claim comes, at most
 * SPARE_MS. NULL: not found (refused; the client's CONNECT times out). */
static ucp_ep_h adopt(struct phx_ucx_worker *w, ucp_ep_h reply, const struct phx_ucx_claim *cl)
{
    char why[192];

    if (phx_u64map_remove(&w->spares, (uint64_t)(uintptr_t)reply, NULL))
        return reply;
    for (unsigned i = 0; i < ADOPT_TRIES; i++) {
        ucp_ep_params_t p = {
            .field_mask = UCP_EP_PARAM_FIELD_REMOTE_ADDRESS |
                          UCP_EP_PARAM_FIELD_ERR_HANDLING_MODE | UCP_EP_PARAM_FIELD_ERR_HANDLER,
            .err_mode = UCP_ERR_HANDLING_MODE_PEER,
            .err_handler = {.cb = spare_error, .arg = NULL},
        };
        ucp_ep_h ep;
        if (phx_ucx_ep_to_peer(w->ucp, &p, cl->caddr, cl->caddr_len, cl->local, &ep, why,
                               sizeof(why)) != UCS_OK) {
            phx_info("ucx: claim from %s: %s", cl->peer.addr, why);
            return NULL;
        }
        if (ep == reply)
            return ep;
        if (phx_u64map_put(&w->spares, (uint64_t)(uintptr_t)ep,
                           phx_now_ns() + SPARE_MS * 1000000ull) < 0) {
            ucs_status_ptr_t r = ucp_ep_close_nbx(ep, &(ucp_request_param_t){
                .op_attr_mask = UCP_OP_ATTR_FIELD_FLAGS, .flags = UCP_EP_CLOSE_FLAG_FORCE});
            if (UCS_PTR_IS_PTR(r))
                ucp_request_free(r);
            return NULL;
        }
    }
    return NULL;
}

struct spare_scan {
    uint64_t now;
    bool     all;
    unsigned n;
    uint64_t eps[64];
};

static void spare_due(void *arg, uint64_t key, uint64_t deadline)
{
    struct spare_scan *sc = arg;

    if ((sc->all || sc->now >= deadline) && sc->n < 64)
        sc->eps[sc->n++] = key;
}

void phx_ucx_spares_close(struct phx_ucx_worker *w, bool all)
{
    struct spare_scan sc = {.now = phx_now_ns(), .all = all};

    if (!phx_u64map_count(&w->spares))
        return;
    phx_u64map_each(&w->spares, spare_due, &sc);
    for (unsigned i = 0; i < sc.n; i++) {
        phx_u64map_remove(&w->spares, sc.eps[i], NULL);
        ucs_status_ptr_t r = ucp_ep_close_nbx((ucp_ep_h)(uintptr_t)sc.eps[i],
                                              &(ucp_request_param_t){
                                                  .op_attr_mask = UCP_OP_ATTR_FIELD_FLAGS,
                                                  .flags = UCP_EP_CLOSE_FLAG_FORCE});
        if (UCS_PTR_IS_PTR(r))
            ucp_request_free(r);    /* UCX finishes it on its own */
    }
}

unsigned phx_ucx_claims_tick(struct phx_ucx_engine *s, uint64_t now)
{
    unsigned n = 0;

    for (struct phx_ucx_claim *cl = s->claims, *next; cl; cl = next) {
        next = cl->next;
        if (now >= cl->deadline_ns) {
            phx_ucx_hs_refusal(s, PHX_UCX_HS_R_CLAIM, cl->peer.addr,
                               "no endpoint claimed the handshake in time");
            claim_free(cl);
            n++;
        }
    }
    phx_ucx_spares_close(s->w, false);
    return n;
}

uint64_t phx_ucx_claims_deadline(const struct phx_ucx_engine *s)
{
    uint64_t soonest = UINT64_MAX;

    for (const struct phx_ucx_claim *cl = s->claims; cl; cl = cl->next)
        if (cl->deadline_ns < soonest)
            soonest = cl->deadline_ns;
    return soonest;
}

void phx_ucx_claims_drop(struct phx_ucx_engine *s)
{
    while (s->claims)
        claim_free(s->claims);
}

/* ---- sending ------------------------------------------------------------------------------- */

static void on_claim_sent(void *request, ucs_status_t status, void *user_data)
{
    struct phx_ucx_conn *c = user_data;

    (void)status;           /* a failure fails the endpoint: its error handler says so */
    c->ucx_ops--;
    ucp_request_free(request);
}

/* Sends the claim frame in C's claim_hdr on C's endpoint. 0 or -EIO. */
static int send_frame(struct phx_ucx_conn *c)
{
    ucp_request_param_t p = {
        .op_attr_mask = UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA |
                        UCP_OP_ATTR_FIELD_FLAGS,
        .cb.send = on_claim_sent,
        .user_data = c,
        .flags = UCP_AM_SEND_FLAG_REPLY | UCP_AM_SEND_FLAG_EAGER,
    };
    ucs_status_ptr_t r = ucp_am_send_nbx(c->ep, PHX_UCX_AM_CLAIM_ID, c->claim_hdr, CLAIM_LEN,
                                         NULL, 0, &p);

    if (UCS_PTR_IS_ERR(r)) {
        phx_info("ucx: connection %u: cannot send its claim: %s", c->id,
                 ucs_status_string(UCS_PTR_STATUS(r)));
        return -EIO;
    }
    if (UCS_PTR_IS_PTR(r))
        c->ucx_ops++;
    return 0;
}

int phx_ucx_claim_send(struct phx_ucx_conn *c, const uint8_t *snonce)
{
    frame(c->claim_hdr, CLAIM, snonce);
    c->claimed = true;
    return send_frame(c);
}

int phx_ucx_claim_again(struct phx_ucx_conn *c, char *why, size_t whylen)
{
    uint8_t snonce[PHX_UCX_HS_NONCE];

    memcpy(snonce, c->claim_hdr + 8, sizeof(snonce));   /* the frame the first claim sent */
    return phx_ucx_conn_to_worker(c, c->peer_waddr, c->peer_waddr_len, c->peer_local, snonce,
                                  why, whylen);
}

/* ---- receiving ----------------------------------------------------------------------------- */

/* CL is claimed by REPLY_EP, or (NULL) by a client of the same worker, for which a loopback
 * endpoint is made here: the accepted connection, or NULL (refused and counted). Either way CL
 * is gone. */
static struct phx_ucx_conn *accept_claim(struct phx_ucx_claim *cl, ucp_ep_h reply_ep)
{
    struct phx_ucx_engine *s = cl->s;
    struct mrpc_peer_info *peer = malloc(sizeof(*peer));
    struct phx_ucx_conn *c = NULL;

    if (!s->closing && s->n_conns < PHX_UCX_MAX_CONNS && peer &&
        phx_ucx_binding_exists(s, cl->binding_id))
        c = phx_ucx_conn_new(s, phx_ucx_accepted_id(s));
    if (c) {
        *peer = cl->peer;
        c->peer = peer;
        peer = NULL;
    }
    if (!c || phx_ucx_conn_adopt_ep(c, reply_ep) < 0) {
        free(peer);
        s->stats.rejected_conns++;
        claim_free(cl);
        return NULL;
    }
    s->stats.accepted++;
    s->stats.hs_ok++;
    phx_ucx_live_keep(c, cl->live_fd);
    cl->live_fd = -1;
    phx_ucx_queue_event(s, &(phx_desc_t){.kind = MRPC_DESC_ACCEPTED, .status = PHX_OK,
                                         .conn_id = c->id, .binding_id = cl->binding_id,
                                         .addr = (uintptr_t)c->peer, .len = sizeof(*c->peer)},
                        c);
    claim_free(cl);
    return c;
}

int phx_ucx_claim_local(struct phx_ucx_conn *c, const uint8_t *snonce, char *why, size_t whylen)
{
    struct phx_ucx_claim *cl = phx_u64map_get_ptr(&c->s->w->claims, key_of(snonce));

    if (!cl || memcmp(cl->snonce, snonce, PHX_UCX_HS_NONCE) != 0) {
        snprintf(why, whylen, "the server no longer expects this handshake");
        return PHX_UNAVAILABLE;
    }
    int status = phx_ucx_conn_to_worker(c, c->s->waddr, c->s->waddr_len, true, NULL, why,
                                        whylen);
    if (status != PHX_OK)
        return status;
    struct phx_ucx_conn *t = accept_claim(cl, NULL);  /* its endpoint pairs with C's */
    if (!t) {
        snprintf(why, whylen, "the server refused the connection");
        return PHX_UNAVAILABLE;
    }
    phx_ucx_conn_twin(c, t);
    phx_ucx_conn_established(c);
    return PHX_OK;
}

/* The order of the crossed-connect rule: whether worker address A sorts below B. */
static bool addr_below(const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len)
{
    if (a_len != b_len)
        return a_len < b_len;
    return memcmp(a, b, a_len) < 0;
}

/* CL's claim came on OWN's endpoint, one of ours: whether it is a crossed connect (OWN, our
 * client, called exactly the worker CL's client is, and is not up on it yet), in which case it
 * is counted and, with KEEP, our side keeps the pair for OWN (the peer claims again). */
static bool crossed(const struct phx_ucx_claim *cl, const struct phx_ucx_conn *own, bool *keep)
{
    const struct phx_ucx_engine *s = cl->s;

    if (!own->claimed || own->state != PHX_UCX_CONNECTING || !own->peer_waddr ||
        own->peer_waddr_len != cl->caddr_len ||
        memcmp(own->peer_waddr, cl->caddr, cl->caddr_len) != 0 ||
        (s->waddr_len == cl->caddr_len && memcmp(s->waddr, cl->caddr, cl->caddr_len) == 0))
        return false;
    *keep = addr_below(s->waddr, s->waddr_len, cl->caddr, cl->caddr_len);
    return true;
}

/* OWN's endpoint, which a crossed connect's claim came on, leaves OWN (which claims again) for
 * the connection about to be accepted on it; meanwhile its error handler is a spare's, so that
 * no error of it reaches OWN. */
static ucp_ep_h take_crossed(struct phx_ucx_conn *own)
{
    ucp_ep_params_t p = {.field_mask = UCP_EP_PARAM_FIELD_ERR_HANDLER,
                         .err_handler = {.cb = spare_error, .arg = NULL}};
    ucp_ep_h ep = phx_ucx_conn_cede_ep(own);
    ucs_status_ptr_t r = ucp_ep_modify_nb(ep, &p);     /* UCX 1.13: in place, NULL */

    if (UCS_PTR_IS_PTR(r))
        ucp_request_free(r);
    return ep;
}

/* The endpoint CL's claim, which came on REPLY_EP, is to use: REPLY_EP when it is a crossed
 * connect's and our side gives it up, else adopt()'s. NULL when the claim was handled here:
 * refused, or left expected for the peer's claim again (crossed, our side keeps the pair). */
static ucp_ep_h claim_ep(struct phx_ucx_worker *w, struct phx_ucx_claim *cl, ucp_ep_h reply_ep)
{
    struct phx_ucx_conn *own = phx_u64map_get_ptr(&w->by_ep, (uint64_t)(uintptr_t)reply_ep);
    bool keep = false;

    if (own && !crossed(cl, own, &keep)) {
        w->unclaimed++;
        return NULL;
    }
    if (own) {
        cl->s->stats.hs_crossed++;
        phx_debug("ucx: crossed connect with %s: %s", cl->peer.addr,
                  keep ? "our connection keeps the pair" : "the accepted one takes it");
        return keep ? NULL : take_crossed(own);
    }
    ucp_ep_h ep = adopt(w, reply_ep, cl);
    if (!ep) {
        phx_ucx_hs_refusal(cl->s, PHX_UCX_HS_R_CLAIM, cl->peer.addr,
                           "UCX paired the client's endpoint with none we could make");
        claim_free(cl);
    }
    return ep;
}

ucs_status_t phx_ucx_am_claim_recv(void *arg, const void *header, size_t header_length,
                                   void *data, size_t length, const ucp_am_recv_param_t *param)
{
    struct phx_ucx_worker *w = arg;
    const uint8_t *h = header;
    uint32_t magic, kind;

    (void)data;
    if (header_length != CLAIM_LEN || length) {
        w->unclaimed++;
        return UCS_OK;
    }
    memcpy(&magic, h, 4);
    memcpy(&kind, h + 4, 4);
    bool has_ep = (param->recv_attr & UCP_AM_RECV_ATTR_FIELD_REPLY_EP) && param->reply_ep;
    if (magic == CLAIM_MAGIC && kind == CLAIM_ACK) {
        struct phx_ucx_conn *c = phx_ucx_worker_conn_of(w, param);
        if (c && c->claimed && c->state == PHX_UCX_CONNECTING && !c->s->closing) {
            phx_ucx_xlocal_settle(c);   /* a server of this process joined its pair? */
            phx_ucx_conn_established(c);
        }
        return UCS_OK;
    }
    struct phx_ucx_claim *cl = magic == CLAIM_MAGIC && kind == CLAIM && has_ep
                                   ? phx_u64map_get_ptr(&w->claims, key_of(h + 8))
                                   : NULL;
    if (!cl || memcmp(cl->snonce, h + 8, PHX_UCX_HS_NONCE) != 0) {
        w->unclaimed++;
        return UCS_OK;
    }
    ucp_ep_h ep = claim_ep(w, cl, param->reply_ep);
    if (!ep)
        return UCS_OK;
    uint8_t snonce[PHX_UCX_HS_NONCE];
    memcpy(snonce, cl->snonce, sizeof(snonce));     /* accept_claim() frees CL */
    struct phx_ucx_conn *c = accept_claim(cl, ep);
    if (c) {
        phx_ucx_xlocal_join(c, snonce);     /* before the ack: ucx_xlocal.c */
        frame(c->claim_hdr, CLAIM_ACK, NULL);
        send_frame(c);
    }
    return UCS_OK;
}
