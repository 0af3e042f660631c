/* ucx_listen.c - bindings: BIND makes our own listening socket, whose peers run the wire-up
 * handshake (ucx_hs.c) before they become accepted connections (ucx_claim.c).
 *
 * BIND resolves "host:port" (IPv4 or IPv6) and listens on a non-blocking TCP socket in the
 * engine's epoll set; BOUND answers with the status and, in `len`, the port actually bound (what
 * ":0" became). UCX's sockaddr connection manager is never used: it aborts the process on a few
 * malformed bytes (UCX 1.13). Each turn accepts at most PHX_UCX_HS_ACCEPTS connections per
 * binding; ucx_hs.c caps the handshakes in flight. CLOSE of a binding closes its socket;
 * connections accepted from it live on, handshakes still running on it finish or time out. A
 * live upgrade hands the socket over as it is (ucx_state.c): nobody is refused meanwhile. */
#include "ucx_addr.h"
#include "ucx_engine.h"

#include "phoenix/log.h"
#include "phoenix/status.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define LISTEN_BACKLOG 1024

static struct phx_ucx_binding *binding_by_id(struct phx_ucx_engine *s, uint32_t id, unsigned *at)
{
    for (unsigned i = 0; i < s->n_bindings; i++) {
        if (s->bindings[i]->id == id) {
            if (at)
                *at = i;
            return s->bindings[i];
        }
    }
    return NULL;
}

bool phx_ucx_binding_exists(struct phx_ucx_engine *s, uint32_t id)
{
    return binding_by_id(s, id, NULL) != NULL;
}

uint32_t phx_ucx_accepted_id(struct phx_ucx_engine *s)
{
    for (;;) {
        uint32_t id = MRPC_CONN_ACCEPTED_BASE + (s->next_accepted++ & ~MRPC_CONN_ACCEPTED_BASE);
        if (!phx_ucx_conn_by_id(s, id))     /* at most PHX_UCX_MAX_CONNS are taken */
            return id;
    }
}

/* ---- accepting --------------------------------------------------------------------------- */

/* Out of fds (or memory): the pending connection stays in the backlog and the socket readable,
 * so B stops being watched for PHX_UCX_ACCEPT_PAUSE_MS instead of waking the runtime in a loop. */
static void pause_accepting(struct phx_ucx_engine *s, struct phx_ucx_binding *b)
{
    phx_ucx_hs_refusal(s, PHX_UCX_HS_R_BUSY, "(backlog)", strerror(errno));
    phx_ucx_sock_unwatch(s, b->fd);
    b->paused = true;
    s->accept_resume_ns = phx_now_ns() + PHX_UCX_ACCEPT_PAUSE_MS * 1000000ull;
}

unsigned phx_ucx_bindings_resume(struct phx_ucx_engine *s, uint64_t now)
{
    unsigned n = 0;

    if (!s->accept_resume_ns || now < s->accept_resume_ns)
        return 0;
    s->accept_resume_ns = 0;
    for (unsigned i = 0; i < s->n_bindings; i++) {
        struct phx_ucx_binding *b = s->bindings[i];
        if (b->paused && phx_ucx_sock_watch(s, b->fd, PHX_UCX_TAG_LISTEN | b->id, EPOLLIN) == 0) {
            b->paused = false;
            n++;
        }
    }
    return n;
}

unsigned phx_ucx_binding_accept(struct phx_ucx_engine *s, uint32_t id)
{
    struct phx_ucx_binding *b = binding_by_id(s, id, NULL);
    unsigned n = 0;

    while (b && n < PHX_UCX_HS_ACCEPTS) {
        struct sockaddr_storage peer;
        socklen_t len = sizeof(peer);
        int fd = accept4(b->fd, (struct sockaddr *)&peer, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
                pause_accepting(s, b);
            break;
        }
        phx_ucx_hs_accepted(b, fd, &peer, len);
        n++;
    }
    if (n == PHX_UCX_HS_ACCEPTS)
        s->sock_due = true;         /* more may wait: look again next turn */
    return n;
}

/* ---- BIND -------------------------------------------------------------------------------- */

static int listen_on(struct phx_ucx_engine *s, struct phx_ucx_binding *b,
                     const struct sockaddr_storage *ss, socklen_t len, char *why, size_t whylen)
{
    int one = 1;
    int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

    if (fd < 0) {
        snprintf(why, whylen, "socket: %s", strerror(errno));
        return PHX_UNAVAILABLE;
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (const struct sockaddr *)ss, len) < 0 || listen(fd, LISTEN_BACKLOG) < 0) {
        snprintf(why, whylen, "%s%s", errno == EADDRINUSE ? "the address is in use: " : "",
                 strerror(errno));
        close(fd);
        return PHX_UNAVAILABLE;
    }
    struct sockaddr_storage got;
    socklen_t got_len = sizeof(got);
    if (getsockname(fd, (struct sockaddr *)&got, &got_len) == 0)
        b->port = phx_ucx_addr_port((const struct sockaddr *)&got);
    b->fd = fd;
    if (phx_ucx_sock_watch(s, fd, PHX_UCX_TAG_LISTEN | b->id, EPOLLIN) < 0) {
        snprintf(why, whylen, "cannot watch the listening socket: %s", strerror(errno));
        close(fd);
        return PHX_UNAVAILABLE;
    }
    return PHX_OK;
}

/* Listens as D asks; the status BOUND carries (PHX_OK with *B set, or why not in WHY). */
static int bind_listener(struct phx_ucx_engine *s, const phx_desc_t *d,
                         struct phx_ucx_binding **out, char *why, size_t whylen)
{
    struct sockaddr_storage ss;
    socklen_t len;

    if (!phx_ucx_id_usable(s, d->conn_id)) {
        snprintf(why, whylen, "binding id %u is in use or reserved", d->conn_id);
        return PHX_INVALID_ARGUMENT;
    }
    if (s->n_bindings >= PHX_UCX_MAX_LISTENERS) {
        snprintf(why, whylen, "at most %d bindings per app", PHX_UCX_MAX_LISTENERS);
        return PHX_RESOURCE_EXHAUSTED;
    }
    if (phx_ucx_addr_resolve((const char *)(uintptr_t)d->addr, true, &ss, &len, why, whylen))
        return PHX_INVALID_ARGUMENT;
    struct phx_ucx_binding *b = calloc(1, sizeof(*b));
    if (!b) {
        snprintf(why, whylen, "out of memory");
        return PHX_RESOURCE_EXHAUSTED;
    }
    *b = (struct phx_ucx_binding){.s = s, .id = d->conn_id, .fd = -1};
    int status = listen_on(s, b, &ss, len, why, whylen);
    if (status != PHX_OK) {
        free(b);
        return status;
    }
    s->bindings[s->n_bindings++] = b;
    *out = b;
    return PHX_OK;
}

void phx_ucx_bind(struct phx_ucx_engine *s, const phx_desc_t *d)
{
    struct phx_ucx_binding *b = NULL;
    char why[256] = "";
    int status = bind_listener(s, d, &b, why, sizeof(why));
    phx_desc_t r = *d;

    r.kind = MRPC_DESC_BOUND;
    r.status = status;
    if (status == PHX_OK) {
        r.len = b->port;        /* the port bound: what ":0" turned into (docs/transport.md) */
        phx_info("ucx: binding %u listens on port %u", b->id, b->port);
    } else {
        phx_warn("ucx: binding %u: %s", d->conn_id, why);
        mrpc_conn_reason_put(&r, why);
    }
    phx_ucx_queue_event(s, &r, NULL);
}

static void binding_destroy(struct phx_ucx_engine *s, unsigned at)
{
    struct phx_ucx_binding *b = s->bindings[at];

    if (b->fd >= 0) {
        if (!b->paused)
            phx_ucx_sock_unwatch(s, b->fd);
        close(b->fd);
    }
    free(b);
    s->bindings[at] = s->bindings[--s->n_bindings];
}

bool phx_ucx_unbind(struct phx_ucx_engine *s, uint32_t id)
{
    unsigned at;

    if (!binding_by_id(s, id, &at))
        return false;
    binding_destroy(s, at);
    return true;
}

void phx_ucx_listeners_shutdown(struct phx_ucx_engine *s)
{
    while (s->n_bindings)
        binding_destroy(s, s->n_bindings - 1);
}

/* ---- live upgrade ------------------------------------------------------------------------ */

int phx_ucx_binding_adopt(struct phx_ucx_engine *s, uint32_t id, uint16_t port, int fd)
{
    struct phx_ucx_binding *b = calloc(1, sizeof(*b));

    if (!b)
        return -ENOMEM;
    *b = (struct phx_ucx_binding){.s = s, .id = id, .port = port, .fd = fd};
    s->bindings[s->n_bindings++] = b;
    return 0;           /* watched once the new epoll set exists (ucx_state.c) */
}
