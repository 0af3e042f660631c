/* ucx_hs.c - the transport's own wire-up: the handshake on a plain TCP socket that comes before
 *            any UCX endpoint, so that no untrusted byte ever reaches UCX's connection manager.
 *
 * A binding is our own non-blocking listening socket (ucx_listen.c). Each connection accepted on
 * it, and each CONNECT, runs one handshake here (frames: ucx_hs_frame.h):
 *
 *   client                                   server
 *   HELLO (client nonce, auth mode)   ->
 *                                     <-     WELCOME (server nonce, worker address, credential)
 *   AUTH (credential)                 ->
 *                                     <-     DONE, and the socket closes; a claim is expected
 *   endpoint to the server's worker address (UCP_EP_PARAM_FIELD_REMOTE_ADDRESS), claim on it
 *                                     ->     (ucx_claim.c) ACCEPTED, ack
 *   CONNECTED on the ack
 *
 * Everything is bounded: a frame is refused as soon as its header says it cannot be valid; a
 * handshake has a deadline (settings.ucx.handshake_timeout_ms; a client's is its CONNECT's);
 * half-open accepted connections are capped per source address and per engine; refusals are
 * counted by reason (the engine's stats) and logged at most PHX_UCX_LOG_PER_SEC a second. With
 * settings.ucx.auth = "munge" both credentials are checked (ucx_auth.c), by the engine's
 * credential thread: munged may take milliseconds, the runtime thread serves every app.
 * The worker address in WELCOME and AUTH is walked before anything else looks at it
 * (ucx_addr_check.h: UCX 1.13 aborts on a malformed one), refused as bad_address when it is not
 * one UCX packs, and the peer is judged on this host or not (peer_on_this_host()) for which of
 * its transports UCX may see. The peer's host may reach UCX's own TCP ports from the moment its
 * UCX may connect there (settings.ucx.tcp_peers_only, ucx_portguard.h): a server allows the
 * client's address once its AUTH is accepted, before DONE; a client the server's as it starts
 * connecting; each also the IPv4 addresses of the other's UCX tcp interfaces (allow_peer()).
 *
 * Sockets never block the runtime thread: each is in the engine's epoll set, which arm() hands
 * the runtime (with the worker's fd inside it), and progress() looks at the ready ones. */
#include "ucx_addr.h"
#include "ucx_addr_check.h"
#include "ucx_auth.h"
#include "ucx_engine.h"
#include "ucx_portguard.h"

#include "phoenix/log.h"
#include "phoenix/status.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

enum hs_step {
    HS_S_HELLO,         /* server: waits for HELLO */
    HS_S_MAKING,        /* server: the credential thread makes WELCOME's credential */
    HS_S_AUTH,          /* server: WELCOME sent (or going), waits for AUTH */
    HS_S_CHECKING,      /* server: the credential thread checks AUTH's */
    HS_S_DONE,          /* server: DONE going; closes once it went */
    HS_C_CONNECT,       /* client: TCP connect in progress */
    HS_C_WELCOME,       /* client: HELLO sent, waits for WELCOME */
    HS_C_CHECKING,      /* client: the credential thread checks WELCOME's, makes AUTH's */
    HS_C_DONE,          /* client: AUTH sent, waits for DONE */
};

struct phx_ucx_hs {
    struct phx_ucx_engine  *s;
    unsigned                slot;
    uint32_t                serial;         /* of this use of the slot (credential jobs) */
    int                     fd;
    enum hs_step            step;
    uint64_t                deadline_ns;
    uint32_t                binding_id;     /* server */
    struct phx_ucx_conn    *conn;           /* client */
    bool                    accepted;       /* server: counts as half-open */
    bool                    hung_up;        /* the peer closed (or reset) the socket unasked */
    bool                    peer_local;     /* the peer is on this host (peer_on_this_host()) */
    struct sockaddr_storage peer;
    char                    peer_text[MRPC_PEER_ADDR_MAX];
    uint8_t                 cnonce[PHX_UCX_HS_NONCE], snonce[PHX_UCX_HS_NONCE];
    uint8_t                *saddr;          /* client: the server's worker address */
    size_t                  saddr_len;
    uint8_t                *caddr;          /* server: the client's, from AUTH */
    size_t                  caddr_len;
    struct mrpc_peer_info   info;           /* server: who the client is */
    char                    peer_job[PHX_UCX_JOB_MAX + 1];  /* the Slurm job its credential
                                                               named ("" none or no auth) */
    uint8_t                *tx;
    size_t                  tx_len, tx_off;
    size_t                  rx_len;
    uint8_t                 rx[PHX_UCX_HS_FRAME_MAX];
};

/* ---- the epoll set ------------------------------------------------------------------------- */

int phx_ucx_sock_watch(struct phx_ucx_engine *s, int fd, uint64_t tag, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.u64 = tag};

    if (epoll_ctl(s->epfd, EPOLL_CTL_MOD, fd, &ev) == 0)
        return 0;
    if (errno != ENOENT || epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
        return -errno;
    s->n_sockets++;
    s->sock_due = true;
    return 0;
}

void phx_ucx_sock_unwatch(struct phx_ucx_engine *s, int fd)
{
    if (epoll_ctl(s->epfd, EPOLL_CTL_DEL, fd, NULL) == 0)
        s->n_sockets--;
}

/* With settings.ucx.worker = "class" the engine may change workers (ucx_engine.c,
 * follow_class): the runtime then always watches its own epoll set, never a worker's fd that the
 * move could close while the runtime still watches it. */
int phx_ucx_wait_fd(const struct phx_ucx_engine *s)
{
    return s->n_sockets || s->wcfg.worker == PHX_UCX_WORKER_CLASS ? s->epfd : s->w->efd;
}

static int query_address(struct phx_ucx_engine *s, char *err, size_t errlen)
{
    ucp_worker_attr_t attr = {.field_mask = UCP_WORKER_ATTR_FIELD_ADDRESS};
    ucs_status_t st = ucp_worker_query(s->worker, &attr);

    if (st != UCS_OK) {
        snprintf(err, errlen, "cannot read the UCX worker's address: %s", ucs_status_string(st));
        return -EIO;
    }
    if (attr.address_length > PHX_UCX_HS_ADDR_MAX) {
        snprintf(err, errlen, "the UCX worker's address is %zu bytes, more than the handshake's "
                 "%d", attr.address_length, PHX_UCX_HS_ADDR_MAX);
        ucp_worker_release_address(s->worker, attr.address);
        return -E2BIG;
    }
    s->waddr = malloc(attr.address_length);
    if (s->waddr) {
        memcpy(s->waddr, attr.address, attr.address_length);
        s->waddr_len = attr.address_length;
    }
    ucp_worker_release_address(s->worker, attr.address);
    if (!s->waddr) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    return 0;
}

int phx_ucx_wireup_rehome(struct phx_ucx_engine *s, struct phx_ucx_worker *from, char *err,
                          size_t errlen)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 0};
    uint8_t *old = s->waddr;
    size_t old_len = s->waddr_len;
    int rc = 0;

    s->waddr = NULL;
    if (query_address(s, err, errlen) < 0) {
        rc = -EIO;
    } else if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->w->efd, &ev) < 0) {
        rc = -errno;
        snprintf(err, errlen, "cannot watch the new worker: %s", strerror(errno));
        free(s->waddr);
    }
    if (rc) {
        s->waddr = old;
        s->waddr_len = old_len;
        return rc;
    }
    epoll_ctl(s->epfd, EPOLL_CTL_DEL, from->efd, NULL);
    free(old);
    return 0;
}

int phx_ucx_wireup_init(struct phx_ucx_engine *s, const struct phx_ucx_settings *set, char *err,
                        size_t errlen)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 0};

    s->wcfg = (struct phx_ucx_wireup_cfg){
        .hs_timeout_ms = set->handshake_timeout_ms, .halfopen_max = set->halfopen_max,
        .halfopen_per_source = set->halfopen_per_source, .auth = set->auth,
        .same_uid = set->auth_same_uid, .same_job = set->auth_same_job,
        .same_node = set->same_node, .worker = (unsigned)set->worker,
        .peers_only = set->tcp_peers_only,
        .eager_max = (uint64_t)set->eager_max_kb << 10};
    snprintf(s->wcfg.munge_socket, sizeof(s->wcfg.munge_socket), "%s", set->munge_socket);
    phx_ucx_service_job(s->wcfg.job, sizeof(s->wcfg.job));
    if (s->wcfg.same_job && (s->wcfg.auth != PHX_UCX_AUTH_MUNGE || !s->wcfg.job[0])) {
        snprintf(err, errlen, "settings.ucx.auth_same_job needs auth \"munge\" and a service of "
                 "one Slurm job (SLURM_JOB_ID set, as mrpc-run's per-job services have); turn it "
                 "off for a node service, which serves the apps of every job");
        return -EINVAL;
    }
    s->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (s->epfd < 0 || epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->w->efd, &ev) < 0) {
        snprintf(err, errlen, "cannot make the transport's epoll set: %s", strerror(errno));
        return -errno;
    }
    if (s->wcfg.auth == PHX_UCX_AUTH_MUNGE) {
        int fd;
        if (!(s->authq = phx_ucx_authq_start(s->wcfg.munge_socket, &fd, err, errlen)))
            return -EIO;
        if (phx_ucx_sock_watch(s, fd, PHX_UCX_TAG_AUTH, EPOLLIN) < 0) {
            snprintf(err, errlen, "cannot watch the credential thread: %s", strerror(errno));
            return -EIO;
        }
    }
    return query_address(s, err, errlen);
}

static void hs_free(struct phx_ucx_hs *h);

void phx_ucx_wireup_fini(struct phx_ucx_engine *s)
{
    for (unsigned i = 0; i < PHX_UCX_HS_SLOTS; i++) {
        struct phx_ucx_hs *h = s->hs[i];
        if (h && h->conn)
            h->conn->hs = NULL;
        if (h)
            hs_free(h);
    }
    phx_ucx_authq_stop(s->authq);     /* joins it: no job runs this build's code after */
    s->authq = NULL;
    if (s->epfd >= 0)
        close(s->epfd);
    s->epfd = -1;
    free(s->waddr);
    s->waddr = NULL;
}

/* ---- refusals ------------------------------------------------------------------------------ */

void phx_ucx_hs_refusal(struct phx_ucx_engine *s, unsigned reason, const char *peer,
                        const char *why)
{
    uint64_t second = phx_now_ns() / 1000000000ull;

    if (reason < PHX_UCX_HS_NREASONS)
        s->stats.hs_refused[reason]++;
    if (second != s->log_second) {
        if (s->stats.hs_unlogged && s->logged >= PHX_UCX_LOG_PER_SEC)
            phx_warn("ucx: more handshakes were refused than logged (%llu in all so far)",
                     (unsigned long long)s->stats.hs_unlogged);
        s->log_second = second;
        s->logged = 0;
    }
    if (s->logged++ >= PHX_UCX_LOG_PER_SEC) {
        s->stats.hs_unlogged++;
        return;
    }
    phx_warn("ucx: handshake with %s refused (%s): %s", peer, phx_ucx_hs_reason_name(reason),
             why);
}

/* ---- handshake objects --------------------------------------------------------------------- */

static struct phx_ucx_hs *hs_new(struct phx_ucx_engine *s, int fd, enum hs_step step)
{
    unsigned slot = 0;
    int one = 1;

    /* Each side writes one small frame and waits for the other's: without this, Nagle and the
     * peer's delayed ACK add 40 ms to a round. */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    while (slot < PHX_UCX_HS_SLOTS && s->hs[slot])
        slot++;
    if (slot == PHX_UCX_HS_SLOTS)
        return NULL;
    struct phx_ucx_hs *h = malloc(sizeof(*h));
    if (!h)
        return NULL;
    *h = (struct phx_ucx_hs){.s = s, .slot = slot, .serial = ++s->hs_serial, .fd = fd,
                             .step = step};
    uint32_t events = step == HS_C_CONNECT ? EPOLLOUT : EPOLLIN;
    if (phx_ucx_sock_watch(s, fd, PHX_UCX_TAG_HS | slot, events) < 0) {
        free(h);
        return NULL;
    }
    s->hs[slot] = h;
    s->n_hs++;
    return h;
}

static void hs_free(struct phx_ucx_hs *h)
{
    struct phx_ucx_engine *s = h->s;

    if (h->fd >= 0) {
        phx_ucx_sock_unwatch(s, h->fd);
        close(h->fd);
    }
    s->hs[h->slot] = NULL;
    s->n_hs--;
    s->n_halfopen -= h->accepted;
    free(h->tx);
    free(h->saddr);
    free(h->caddr);
    free(h);
}

/* H is done and its socket lives on elsewhere (a claim's, a connection's): H goes without it. */
static void hs_release_fd(struct phx_ucx_hs *h)
{
    phx_ucx_sock_unwatch(h->s, h->fd);
    h->fd = -1;
    hs_free(h);
}

/* ---- live sockets -------------------------------------------------------------------------- */

void phx_ucx_live_keep(struct phx_ucx_conn *c, int fd)
{
    c->live_fd = -1;
    if (fd < 0)
        return;
    if (phx_ucx_sock_watch(c->s, fd, PHX_UCX_TAG_LIVE | c->id, EPOLLIN) < 0) {
        close(fd);
        return;
    }
    c->live_fd = fd;
}

void phx_ucx_live_drop(struct phx_ucx_conn *c)
{
    if (c->live_fd < 0)
        return;
    phx_ucx_sock_unwatch(c->s, c->live_fd);
    close(c->live_fd);
    c->live_fd = -1;
}

/* Connection ID's handshake socket is readable: the peer closed it (gone or closing), or sent
 * what it must not. Either way the connection is lost. */
static void live_ready(struct phx_ucx_engine *s, uint32_t id)
{
    struct phx_ucx_conn *c = phx_ucx_conn_by_id(s, id);
    uint8_t buf[64];

    if (!c || c->live_fd < 0)
        return;
    ssize_t n = recv(c->live_fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    phx_ucx_live_drop(c);
    phx_ucx_conn_peer_gone(c);
}

/* Numeric "host:port" ("[v6]:port") of SS into OUT. */
static void peer_text(const struct sockaddr_storage *ss, char *out, size_t len)
{
    char host[INET6_ADDRSTRLEN] = "?";
    const struct sockaddr *sa = (const struct sockaddr *)ss;

    if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ss)->sin6_addr, host, sizeof(host));
    else if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr, host, sizeof(host));
    snprintf(out, len, sa->sa_family == AF_INET6 ? "[%s]:%u" : "%s:%u", host,
             phx_ucx_addr_port(sa));
}

static bool same_host(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
    if (a->ss_family != b->ss_family)
        return false;
    if (a->ss_family == AF_INET)
        return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
               ((const struct sockaddr_in *)b)->sin_addr.s_addr;
    return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
                  &((const struct sockaddr_in6 *)b)->sin6_addr, sizeof(struct in6_addr)) == 0;
}

/* Whether H's peer is on this host, so that its worker address may name shared memory: its
 * address is a loopback one, or the one our end of the socket has (a connection from this host
 * to one of its own addresses). Anything else is another host, or one we cannot tell from it. */
static bool peer_on_this_host(const struct phx_ucx_hs *h)
{
    struct sockaddr_storage me;
    socklen_t len = sizeof(me);
    const struct sockaddr_in6 *p6 = (const struct sockaddr_in6 *)&h->peer;

    if (h->peer.ss_family == AF_INET &&
        (ntohl(((const struct sockaddr_in *)&h->peer)->sin_addr.s_addr) >> 24) == 127)
        return true;
    if (h->peer.ss_family == AF_INET6 &&
        (IN6_IS_ADDR_LOOPBACK(&p6->sin6_addr) ||
         (IN6_IS_ADDR_V4MAPPED(&p6->sin6_addr) && p6->sin6_addr.s6_addr[12] == 127)))
        return true;
    return getsockname(h->fd, (struct sockaddr *)&me, &len) == 0 && same_host(&me, &h->peer);
}

/* Sends what is queued; 0 when all went, 1 when the socket is full, -1 on an error. */
static int hs_flush(struct phx_ucx_hs *h)
{
    while (h->tx_off < h->tx_len) {
        ssize_t n = send(h->fd, h->tx + h->tx_off, h->tx_len - h->tx_off,
                         MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return phx_ucx_sock_watch(h->s, h->fd, PHX_UCX_TAG_HS | h->slot, EPOLLOUT) < 0 ? -1
                                                                                          : 1;
        if (n <= 0) {
            h->hung_up = n < 0 && (errno == EPIPE || errno == ECONNRESET);
            return -1;
        }
        h->tx_off += (size_t)n;
    }
    free(h->tx);
    h->tx = NULL;
    h->tx_len = h->tx_off = 0;
    return phx_ucx_sock_watch(h->s, h->fd, PHX_UCX_TAG_HS | h->slot, EPOLLIN) < 0 ? -1 : 0;
}

/* Queues M and starts sending it. 0, 1 or -1 as hs_flush(). */
static int hs_send(struct phx_ucx_hs *h, const struct phx_ucx_hs_msg *m)
{
    uint8_t *buf = malloc(PHX_UCX_HS_FRAME_MAX);
    size_t n = buf ? phx_ucx_hs_encode(m, buf, PHX_UCX_HS_FRAME_MAX) : 0;

    if (!n) {
        free(buf);
        return -1;
    }
    free(h->tx);
    h->tx = buf;
    h->tx_len = n;
    h->tx_off = 0;
    return hs_flush(h);
}

/* Tells the peer REASON (best effort: one non-blocking send) when it speaks our protocol. */
static void hs_tell_refusal(struct phx_ucx_hs *h, unsigned reason)
{
    uint8_t buf[PHX_UCX_HS_HDR + 4];
    struct phx_ucx_hs_msg m = {.type = PHX_UCX_HS_REFUSE, .reason = reason};
    size_t n = phx_ucx_hs_encode(&m, buf, sizeof(buf));

    if (n && send(h->fd, buf, n, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
        phx_debug("ucx: cannot tell %s why: %s", h->peer_text, strerror(errno));
}

/* ---- failing ------------------------------------------------------------------------------- */

static socklen_t addr_len_of(const struct sockaddr_storage *ss)
{
    return ss->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
}

/* C's handshake starts again with the server at PEER (its CONNECT's deadline still rules), a
 * try that COUNTS against PHX_UCX_HS_TRIES or not; C fails when it cannot. */
static void redial(struct phx_ucx_conn *c, const struct sockaddr_storage *peer, bool counts)
{
    char why[256];

    c->redial = false;
    c->hs_tries += counts;
    c->s->stats.hs_retried++;
    if (phx_ucx_hs_connect(c, peer, addr_len_of(peer), why, sizeof(why)) != PHX_OK)
        phx_ucx_conn_handshake_failed(c, why);
}

/* Whether H, a client's handshake failing for REASON, should rather start again: the server
 * hung up without a word (the service was upgraded mid-way, and the new build has the listening
 * socket), at most PHX_UCX_HS_TRIES times per CONNECT. */
static bool worth_redialing(const struct phx_ucx_hs *h, unsigned reason)
{
    return h->conn && reason == PHX_UCX_HS_R_PEER && h->hung_up && !h->s->closing &&
           h->conn->state == PHX_UCX_CONNECTING && h->conn->hs_tries < PHX_UCX_HS_TRIES;
}

/* H fails for REASON (WHY says more): counted, logged; a client's CONNECT is answered, or its
 * handshake starts again (worth_redialing()). */
static void hs_fail(struct phx_ucx_hs *h, unsigned reason, const char *why)
{
    struct phx_ucx_conn *c = h->conn;

    if (worth_redialing(h, reason)) {
        struct sockaddr_storage peer = h->peer;
        phx_info("ucx: connection %u: %s hung up in the handshake (%s); starting it again",
                 c->id, h->peer_text, why);
        c->hs = NULL;
        h->conn = NULL;
        hs_free(h);
        return redial(c, &peer, true);
    }

    if (reason != PHX_UCX_HS_R_MAGIC && reason != PHX_UCX_HS_R_PEER &&
        reason != PHX_UCX_HS_R_TIMEOUT)
        hs_tell_refusal(h, reason);
    phx_ucx_hs_refusal(h->s, reason, h->peer_text, why);
    if (c) {
        c->hs = NULL;
        phx_ucx_conn_handshake_failed(c, why);
    }
    hs_free(h);
}

void phx_ucx_hs_drop(struct phx_ucx_conn *c)
{
    if (c->hs) {
        c->hs->conn = NULL;
        hs_free(c->hs);
        c->hs = NULL;
    }
}

/* H, a client's handshake, is dropped for a live upgrade: its connection starts it again
 * (CHORE_REDIAL, ucx_conn.c) in whichever build runs next, within its CONNECT's deadline. */
static void hs_park(struct phx_ucx_hs *h)
{
    struct phx_ucx_conn *c = h->conn;

    c->redial = true;
    phx_ucx_hs_drop(c);
}

void phx_ucx_hs_redial(struct phx_ucx_conn *c)
{
    struct sockaddr_storage ss;
    socklen_t len;
    char why[256];

    if (phx_ucx_addr_resolve((const char *)(uintptr_t)c->request.addr, false, &ss, &len, why,
                             sizeof(why)) != 0) {
        c->redial = false;
        return phx_ucx_conn_handshake_failed(c, why);
    }
    redial(c, &ss, false);      /* the upgrade was ours, not the server's doing */
}

void phx_ucx_hs_fail_all(struct phx_ucx_engine *s)
{
    for (unsigned i = 0; i < PHX_UCX_HS_SLOTS; i++) {
        if (s->hs[i] && s->hs[i]->conn)
            hs_park(s->hs[i]);
        else if (s->hs[i])
            hs_fail(s->hs[i], PHX_UCX_HS_R_PEER, "interrupted by a live upgrade");
    }
    phx_ucx_claims_drop(s);
    phx_ucx_spares_close(s->w, true);   /* their error handler is this build's */
}

/* Whether the worker address in M (WELCOME or AUTH) may go to UCX: it parses as UCX 1.13's
 * and something is left once same-host transports are dropped for a peer on another host
 * (ucx_addr_check.h). When not, H fails (and is gone). */
static bool peer_address_ok(struct phx_ucx_hs *h, const struct phx_ucx_hs_msg *m)
{
    uint8_t *reach = malloc(PHX_UCX_HS_ADDR_MAX);
    char why[192];

    if (!reach) {
        hs_fail(h, PHX_UCX_HS_R_BUSY, "out of memory");
        return false;
    }
    h->peer_local = peer_on_this_host(h);
    size_t n = phx_ucx_waddr_reachable(m->addr, m->addr_len, h->peer_local, reach,
                                       PHX_UCX_HS_ADDR_MAX, why, sizeof(why));
    free(reach);
    if (!n)
        hs_fail(h, PHX_UCX_HS_R_ADDRESS, why);
    return n != 0;
}

/* ---- UCX's own ports ----------------------------------------------------------------------- */

/* Most addresses of a peer's worker address allowed per handshake, besides the one it used. */
#define PEER_UCX_IPS 4

/* H's peer, authenticated (or with auth "none", who it says it is), may reach UCX's own TCP
 * ports (ucx_portguard.h): the address its handshake came from or went to, and the first
 * PEER_UCX_IPS IPv4 addresses of its UCX tcp interfaces in ADDR (LEN bytes), which its UCX may
 * connect from (a handshake over IPv6, a host with several interfaces). */
static void allow_peer(const struct phx_ucx_hs *h, const uint8_t *addr, size_t len)
{
    struct phx_ucx_waddr_tcp tcp[PHX_UCX_WADDR_MAX_TLS];
    int n = addr ? phx_ucx_waddr_tcp(addr, len, tcp, PHX_UCX_WADDR_MAX_TLS) : 0;
    unsigned allowed = 0;

    phx_ucx_portguard_allow((const struct sockaddr *)&h->peer);
    for (int i = 0; i < n && allowed < PEER_UCX_IPS; i++) {
        struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = tcp[i].ipv4};
        if (!tcp[i].ipv4)
            continue;
        phx_ucx_portguard_allow((const struct sockaddr *)&sin);
        allowed++;
    }
}

/* ---- the server's side --------------------------------------------------------------------- */

static unsigned from_source(const struct phx_ucx_engine *s, const struct sockaddr_storage *peer)
{
    unsigned n = 0;

    for (unsigned i = 0; i < PHX_UCX_HS_SLOTS; i++)
        if (s->hs[i] && s->hs[i]->accepted && same_host(&s->hs[i]->peer, peer))
            n++;
    return n;
}

void phx_ucx_hs_accepted(struct phx_ucx_binding *b, int fd, const struct sockaddr_storage *peer,
                         socklen_t len)
{
    struct phx_ucx_engine *s = b->s;
    char text[MRPC_PEER_ADDR_MAX];
    unsigned reason = 0;

    (void)len;
    peer_text(peer, text, sizeof(text));
    if (s->closing || s->n_halfopen >= s->wcfg.halfopen_max)
        reason = PHX_UCX_HS_R_BUSY;
    else if (from_source(s, peer) >= s->wcfg.halfopen_per_source)
        reason = PHX_UCX_HS_R_BUSY_SOURCE;
    struct phx_ucx_hs *h = reason ? NULL : hs_new(s, fd, HS_S_HELLO);
    if (!h) {
        close(fd);
        phx_ucx_hs_refusal(s, reason ? reason : PHX_UCX_HS_R_BUSY, text,
                           "too many handshakes in flight");
        return;
    }
    h->accepted = true;
    s->n_halfopen++;
    h->binding_id = b->id;
    h->peer = *peer;
    memcpy(h->peer_text, text, sizeof(text));
    h->deadline_ns = phx_now_ns() + (uint64_t)s->wcfg.hs_timeout_ms * 1000000ull;
    h->info = (struct mrpc_peer_info){.uid = MRPC_PEER_UID_UNKNOWN,
                                      .gid = MRPC_PEER_UID_UNKNOWN};
    memcpy(h->info.addr, text, sizeof(text));
}

static bool nonce(uint8_t *out)
{
    return getrandom(out, PHX_UCX_HS_NONCE, GRND_NONBLOCK) == PHX_UCX_HS_NONCE;
}

/* A copy of the N bytes at P into *TO; false when out of memory. */
static bool dup_into(uint8_t **to, const uint8_t *p, size_t n)
{
    *to = n ? malloc(n) : NULL;
    if (n && *to)
        memcpy(*to, p, n);
    return !n || *to;
}

/* A credential job for H: its nonces, the server's worker address SADDR and the client's CADDR
 * (a client's credential), this service's job; CRED to check. NULL when out of memory. */
static struct phx_ucx_auth_job *job_for(struct phx_ucx_hs *h, const uint8_t *saddr,
                                        size_t saddr_len, const uint8_t *caddr, size_t caddr_len,
                                        const uint8_t *cred, size_t cred_len)
{
    struct phx_ucx_auth_job *j = calloc(1, sizeof(*j));

    if (!j || !dup_into(&j->saddr, saddr, saddr_len) || !dup_into(&j->caddr, caddr, caddr_len) ||
        !dup_into(&j->cred, cred, cred_len)) {
        if (j)
            phx_ucx_auth_job_free(j);
        return NULL;
    }
    j->owner = (uint64_t)h->slot << 32 | h->serial;
    memcpy(j->cnonce, h->cnonce, PHX_UCX_HS_NONCE);
    memcpy(j->snonce, h->snonce, PHX_UCX_HS_NONCE);
    j->saddr_len = saddr_len;
    j->caddr_len = caddr_len;
    j->cred_len = cred_len;
    memcpy(j->job, h->s->wcfg.job, sizeof(j->job));
    return j;
}

/* Hands J to the credential thread; H waits in STEP. */
static void submit(struct phx_ucx_hs *h, struct phx_ucx_auth_job *j, enum hs_step step)
{
    if (!j)
        return hs_fail(h, PHX_UCX_HS_R_BUSY, "out of memory");
    h->step = step;
    phx_ucx_authq_submit(h->s->authq, j);
}

/* WELCOME goes, with CRED (LEN bytes, none with auth "none"). */
static void send_welcome(struct phx_ucx_hs *h, const char *cred, size_t cred_len)
{
    struct phx_ucx_engine *s = h->s;
    struct phx_ucx_hs_msg w = {.type = PHX_UCX_HS_WELCOME, .auth = s->wcfg.auth,
                               .addr = s->waddr, .addr_len = (uint32_t)s->waddr_len,
                               .cred = (const uint8_t *)cred, .cred_len = (uint32_t)cred_len};

    memcpy(w.nonce, h->snonce, PHX_UCX_HS_NONCE);
    h->step = HS_S_AUTH;
    if (hs_send(h, &w) < 0)
        hs_fail(h, PHX_UCX_HS_R_PEER, "cannot send WELCOME");
}

/* HELLO came: WELCOME goes (its credential made by the credential thread first). */
static void on_hello(struct phx_ucx_hs *h, const struct phx_ucx_hs_msg *m)
{
    struct phx_ucx_engine *s = h->s;

    if (m->type != PHX_UCX_HS_HELLO)
        return hs_fail(h, PHX_UCX_HS_R_MALFORMED, "expected HELLO");
    if (m->auth != s->wcfg.auth)
        return hs_fail(h, PHX_UCX_HS_R_AUTH, "the peer uses another auth mode");
    memcpy(h->cnonce, m->nonce, PHX_UCX_HS_NONCE);
    if (!nonce(h->snonce))
        return hs_fail(h, PHX_UCX_HS_R_BUSY, "no random bytes for a nonce");
    if (s->wcfg.auth != PHX_UCX_AUTH_MUNGE)
        return send_welcome(h, NULL, 0);
    struct phx_ucx_auth_job *j = job_for(h, s->waddr, s->waddr_len, NULL, 0, NULL, 0);
    if (j)
        j->make_role = 'S';
    submit(h, j, HS_S_MAKING);
}

/* Whether H's peer may connect under auth_same_job: its credential named this service's Slurm
 * job (auth "munge" is required with it, so there always is a credential). WHY says why not. */
static bool same_job(const struct phx_ucx_hs *h, char *why, size_t len)
{
    const struct phx_ucx_engine *s = h->s;

    if (!s->wcfg.same_job || strcmp(h->peer_job, s->wcfg.job) == 0)
        return true;
    snprintf(why, len, "the peer's MUNGE credential names %s%s, not this service's job %s "
             "(auth_same_job)", h->peer_job[0] ? "job " : "no Slurm job", h->peer_job,
             s->wcfg.job);
    return false;
}

/* The client is who it says (or there is no saying): a claim is expected, DONE goes. */
static void accept_auth(struct phx_ucx_hs *h)
{
    struct phx_ucx_engine *s = h->s;
    char why[160];

    if (s->wcfg.same_uid && h->info.uid != (uint32_t)geteuid()) {
        snprintf(why, sizeof(why), "uid %u is not the service's (auth_same_uid)", h->info.uid);
        return hs_fail(h, PHX_UCX_HS_R_POLICY, why);
    }
    if (!same_job(h, why, sizeof(why)))
        return hs_fail(h, PHX_UCX_HS_R_POLICY, why);
    /* Its UCX connects to ours once DONE came: its host may reach UCX's ports from now on. */
    allow_peer(h, h->caddr, h->caddr_len);
    h->step = HS_S_DONE;
    int rc = hs_send(h, &(struct phx_ucx_hs_msg){.type = PHX_UCX_HS_DONE});
    if (rc != 0)                /* DONE did not go in one piece: no connection */
        return hs_fail(h, PHX_UCX_HS_R_PEER, "cannot send DONE");
    if (phx_ucx_claim_expect(s, h->binding_id, h->snonce, &h->info, h->caddr, h->caddr_len,
                             h->peer_local, h->fd) < 0)
        return hs_fail(h, PHX_UCX_HS_R_BUSY, "too many connections waiting for their claim");
    hs_release_fd(h);           /* the claim keeps the socket for the connection */
}

/* AUTH came: its credential is checked (by the credential thread), then accept_auth(). */
static void on_auth(struct phx_ucx_hs *h, const struct phx_ucx_hs_msg *m)
{
    struct phx_ucx_engine *s = h->s;

    if (m->type != PHX_UCX_HS_AUTH)
        return hs_fail(h, PHX_UCX_HS_R_MALFORMED, "expected AUTH");
    if (!peer_address_ok(h, m))
        return;
    if (!(h->caddr = malloc(m->addr_len)))
        return hs_fail(h, PHX_UCX_HS_R_BUSY, "out of memory");
    memcpy(h->caddr, m->addr, m->addr_len);
    h->caddr_len = m->addr_len;
    if (s->wcfg.auth != PHX_UCX_AUTH_MUNGE) {
        if (m->cred_len)
            return hs_fail(h, PHX_UCX_HS_R_AUTH, "a credential without auth \"munge\"");
        return accept_auth(h);
    }
    struct phx_ucx_auth_job *j = job_for(h, s->waddr, s->waddr_len, m->addr, m->addr_len,
                                         m->cred, m->cred_len);
    if (j)
        j->check_role = 'C';
    submit(h, j, HS_S_CHECKING);
}

/* ---- the client's side --------------------------------------------------------------------- */

int phx_ucx_hs_connect(struct phx_ucx_conn *c, const struct sockaddr_storage *ss, socklen_t len,
                       char *why, size_t whylen)
{
    struct phx_ucx_engine *s = c->s;
    /* The server's UCX may connect back to ours at any point from now on (ucx_portguard.h). */
    phx_ucx_portguard_allow((const struct sockaddr *)ss);
    int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

    if (fd < 0) {
        snprintf(why, whylen, "socket: %s", strerror(errno));
        return PHX_RESOURCE_EXHAUSTED;
    }
    if (connect(fd, (const struct sockaddr *)ss, len) < 0 && errno != EINPROGRESS) {
        snprintf(why, whylen, "connect: %s", strerror(errno));
        close(fd);
        return PHX_UNAVAILABLE;
    }
    struct phx_ucx_hs *h = hs_new(s, fd, HS_C_CONNECT);
    if (!h) {
        close(fd);
        snprintf(why, whylen, "too many handshakes in flight");
        return PHX_RESOURCE_EXHAUSTED;
    }
    h->conn = c;
    h->peer = *ss;
    peer_text(ss, h->peer_text, sizeof(h->peer_text));
    h->deadline_ns = UINT64_MAX;    /* the CONNECT's deadline rules (ucx_conn.c) */
    c->hs = h;
    return PHX_OK;
}

/* The TCP connect finished: HELLO goes. */
static void on_connected(struct phx_ucx_hs *h)
{
    int e = 0;
    socklen_t len = sizeof(e);
    struct pollfd p = {.fd = h->fd, .events = POLLOUT};

    if (poll(&p, 1, 0) != 1)    /* an event of the slot's previous socket: not yet */
        return;
    if (getsockopt(h->fd, SOL_SOCKET, SO_ERROR, &e, &len) < 0 || e) {
        char why[128];
        snprintf(why, sizeof(why), "connect: %s", strerror(e ? e : errno));
        return hs_fail(h, PHX_UCX_HS_R_PEER, why);
    }
    if (!nonce(h->cnonce))
        return hs_fail(h, PHX_UCX_HS_R_BUSY, "no random bytes for a nonce");
    struct phx_ucx_hs_msg m = {.type = PHX_UCX_HS_HELLO, .auth = h->s->wcfg.auth};
    memcpy(m.nonce, h->cnonce, PHX_UCX_HS_NONCE);
    h->step = HS_C_WELCOME;
    if (hs_send(h, &m) < 0)
        hs_fail(h, PHX_UCX_HS_R_PEER, "cannot send HELLO");
}

/* AUTH goes, with CRED (LEN bytes, none with auth "none"). */
static void send_auth(struct phx_ucx_hs *h, const char *cred, size_t cred_len)
{
    struct phx_ucx_engine *s = h->s;

    h->step = HS_C_DONE;
    if (hs_send(h, &(struct phx_ucx_hs_msg){.type = PHX_UCX_HS_AUTH, .addr = s->waddr,
                                            .addr_len = (uint32_t)s->waddr_len,
                                            .cred = (const uint8_t *)cred,
                                            .cred_len = (uint32_t)cred_len}) < 0)
        hs_fail(h, PHX_UCX_HS_R_PEER, "cannot send AUTH");
}

/* WELCOME came: the server's credential is checked and ours made (by the credential thread),
 * then AUTH goes. */
static void on_welcome(struct phx_ucx_hs *h, const struct phx_ucx_hs_msg *m)
{
    struct phx_ucx_engine *s = h->s;

    if (m->type != PHX_UCX_HS_WELCOME)
        return hs_fail(h, PHX_UCX_HS_R_MALFORMED, "expected WELCOME");
    if (m->auth != s->wcfg.auth)
        return hs_fail(h, PHX_UCX_HS_R_AUTH, "the server uses another auth mode");
    if (!peer_address_ok(h, m))
        return;
    memcpy(h->snonce, m->nonce, PHX_UCX_HS_NONCE);
    if (!(h->saddr = malloc(m->addr_len)))
        return hs_fail(h, PHX_UCX_HS_R_BUSY, "out of memory");
    memcpy(h->saddr, m->addr, m->addr_len);
    h->saddr_len = m->addr_len;
    if (s->wcfg.auth != PHX_UCX_AUTH_MUNGE) {
        if (m->cred_len)
            return hs_fail(h, PHX_UCX_HS_R_AUTH, "a credential without auth \"munge\"");
        return send_auth(h, NULL, 0);
    }
    struct phx_ucx_auth_job *j = job_for(h, h->saddr, h->saddr_len, s->waddr, s->waddr_len,
                                         m->cred, m->cred_len);
    if (j) {
        j->check_role = 'S';
        j->make_role = 'C';
    }
    submit(h, j, HS_C_CHECKING);
}

/* The credential thread finished J for H (which waits in one of the *_MAKING/CHECKING steps). */
static void on_job(struct phx_ucx_hs *h, struct phx_ucx_auth_job *j)
{
    char why[160];

    if (j->verdict != PHX_UCX_HS_OK)
        return hs_fail(h, j->verdict, j->err);
    switch (h->step) {
    case HS_S_MAKING:
        return send_welcome(h, j->made, j->made_len);
    case HS_S_CHECKING:
        memcpy(h->peer_job, j->peer_job, sizeof(h->peer_job));
        h->info.uid = j->uid;
        h->info.gid = j->gid;
        h->info.flags |= MRPC_PEER_AUTHENTICATED;
        return accept_auth(h);
    case HS_C_CHECKING:
        memcpy(h->peer_job, j->peer_job, sizeof(h->peer_job));
        if (!same_job(h, why, sizeof(why)))
            return hs_fail(h, PHX_UCX_HS_R_POLICY, why);
        return send_auth(h, j->made, j->made_len);
    default:
        return;
    }
}

/* The credential thread's finished jobs go to their handshakes (gone ones are ignored). */
static unsigned auth_results(struct phx_ucx_engine *s)
{
    struct phx_ucx_auth_job *j = s->authq ? phx_ucx_authq_done(s->authq) : NULL;
    unsigned n = 0;

    while (j) {
        struct phx_ucx_auth_job *next = j->next;
        uint32_t slot = (uint32_t)(j->owner >> 32);
        struct phx_ucx_hs *h = slot < PHX_UCX_HS_SLOTS ? s->hs[slot] : NULL;
        if (h && h->serial == (uint32_t)j->owner)
            on_job(h, j);
        phx_ucx_auth_job_free(j);
        j = next;
        n++;
    }
    return n;
}

/* DONE: the endpoint to the server's worker goes up and claims the handshake. */
static void on_done(struct phx_ucx_hs *h, const struct phx_ucx_hs_msg *m)
{
    struct phx_ucx_conn *c = h->conn;
    char why[256];

    if (m->type != PHX_UCX_HS_DONE)
        return hs_fail(h, PHX_UCX_HS_R_MALFORMED, "expected DONE");
    allow_peer(h, h->saddr, h->saddr_len);     /* its UCX may connect back from those too */
    bool local = h->saddr_len == h->s->waddr_len &&
                 memcmp(h->saddr, h->s->waddr, h->saddr_len) == 0;
    if (!local)
        phx_ucx_xlocal_offer(c, h->snonce);     /* a server of this process joins it */
    int status = local ? phx_ucx_claim_local(c, h->snonce, why, sizeof(why))
                       : phx_ucx_conn_to_worker(c, h->saddr, h->saddr_len, h->peer_local,
                                                h->snonce, why, sizeof(why));
    if (status != PHX_OK)
        return hs_fail(h, PHX_UCX_HS_R_PEER, why);
    c->hs = NULL;
    h->conn = NULL;
    free(c->peer_waddr);
    c->peer_waddr = h->saddr;   /* for a claim again after a crossed connect (ucx_claim.c) */
    c->peer_waddr_len = h->saddr_len;
    c->peer_local = h->peer_local;
    h->saddr = NULL;
    int fd = h->fd;
    hs_release_fd(h);
    phx_ucx_live_keep(c, fd);   /* the server sees it close when we go */
}

/* ---- reading and dispatching --------------------------------------------------------------- */

static void on_frame(struct phx_ucx_hs *h, const struct phx_ucx_hs_msg *m)
{
    if (m->type == PHX_UCX_HS_REFUSE) {
        char why[96];
        snprintf(why, sizeof(why), "the peer refused us (%s)", phx_ucx_hs_reason_name(m->reason));
        return hs_fail(h, PHX_UCX_HS_R_PEER, why);
    }
    switch (h->step) {
    case HS_S_HELLO:
        return on_hello(h, m);
    case HS_S_AUTH:
        return on_auth(h, m);
    case HS_C_WELCOME:
        return on_welcome(h, m);
    case HS_C_DONE:
        return on_done(h, m);
    default:
        return hs_fail(h, PHX_UCX_HS_R_MALFORMED, "a frame out of turn");
    }
}

/* Reads what H's socket has (at most one frame's room) and acts on a whole frame. */
static void hs_read(struct phx_ucx_hs *h)
{
    ssize_t n = recv(h->fd, h->rx + h->rx_len, sizeof(h->rx) - h->rx_len, MSG_DONTWAIT);

    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (n <= 0) {
        h->hung_up = n == 0 || errno == ECONNRESET;
        return hs_fail(h, PHX_UCX_HS_R_PEER, n == 0 ? "the peer closed the connection"
                                                     : strerror(errno));
    }
    h->rx_len += (size_t)n;
    struct phx_ucx_hs_msg m;
    size_t used = 0;
    enum phx_ucx_hs_verdict v = phx_ucx_hs_parse(h->rx, h->rx_len, &m, &used);
    if (v == PHX_UCX_HS_NEED_MORE)
        return;
    if (v != PHX_UCX_HS_OK)
        return hs_fail(h, v, "bytes that are no handshake frame");
    if (used != h->rx_len)
        return hs_fail(h, PHX_UCX_HS_R_MALFORMED, "bytes after a frame, before our answer");
    h->rx_len = 0;
    on_frame(h, &m);
}

static void hs_ready(struct phx_ucx_hs *h, uint32_t events)
{
    if (h->step == HS_C_CONNECT)
        return on_connected(h);
    if (h->tx && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
        int rc = hs_flush(h);
        if (rc < 0)
            return hs_fail(h, PHX_UCX_HS_R_PEER, "the peer went away");
        if (rc == 0 && h->step == HS_S_DONE)
            return hs_free(h);
        return;
    }
    if (events & (EPOLLIN | EPOLLERR | EPOLLHUP))
        hs_read(h);
}

static void dispatch(struct phx_ucx_engine *s, const struct epoll_event *ev)
{
    uint64_t kind = ev->data.u64 & ~0xffffffffull;
    uint32_t low = (uint32_t)ev->data.u64;

    if (kind == PHX_UCX_TAG_LISTEN)
        phx_ucx_binding_accept(s, low);
    else if (kind == PHX_UCX_TAG_AUTH)
        auth_results(s);
    else if (kind == PHX_UCX_TAG_LIVE)
        live_ready(s, low);
    else if (kind == PHX_UCX_TAG_HS && low < PHX_UCX_HS_SLOTS && s->hs[low])
        hs_ready(s->hs[low], ev->events);
}

static unsigned expire(struct phx_ucx_engine *s, uint64_t now)
{
    unsigned n = 0;

    for (unsigned i = 0; i < PHX_UCX_HS_SLOTS && s->n_hs; i++) {
        if (s->hs[i] && now >= s->hs[i]->deadline_ns) {
            hs_fail(s->hs[i], PHX_UCX_HS_R_TIMEOUT, "the handshake took too long");
            n++;
        }
    }
    return n + phx_ucx_claims_tick(s, now);
}

unsigned phx_ucx_hs_progress(struct phx_ucx_engine *s, bool idle)
{
    struct epoll_event evs[64];
    unsigned work = 0;

    if (!s->n_sockets && !s->n_claims && !s->accept_resume_ns)
        return 0;
    uint64_t now = phx_now_ns();
    if (!idle && !s->n_hs && !s->sock_due && now - s->sock_poll_ns < PHX_UCX_SOCK_POLL_US * 1000ull)
        return 0;
    s->sock_poll_ns = now;
    s->sock_due = false;
    int n = s->n_sockets ? epoll_wait(s->epfd, evs, 64, 0) : 0;
    for (int i = 0; i < n; i++) {
        if (evs[i].data.u64) {
            dispatch(s, &evs[i]);
            work++;
        }
    }
    return work + expire(s, now) + phx_ucx_bindings_resume(s, now);
}

int phx_ucx_hs_timeout_ms(struct phx_ucx_engine *s)
{
    uint64_t soonest = phx_ucx_claims_deadline(s), now = phx_now_ns();

    if (s->accept_resume_ns && s->accept_resume_ns < soonest)
        soonest = s->accept_resume_ns;
    for (unsigned i = 0; i < PHX_UCX_HS_SLOTS && s->n_hs; i++)
        if (s->hs[i] && s->hs[i]->deadline_ns < soonest)
            soonest = s->hs[i]->deadline_ns;
    if (soonest == UINT64_MAX)
        return -1;
    return soonest <= now ? 0 : (int)((soonest - now + 999999) / 1000000);
}
