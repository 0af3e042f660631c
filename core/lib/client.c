/* client.c - app side of a registration: control socket exchange, mapping the port, the rings.
 *
 * Registering is one Register request on a fresh SOCK_SEQPACKET connection; the reply carries the
 * layout and the port's five descriptors. The app trusts the service less than blindly: the
 * layout is checked (app_port.c) and the regions are mapped with phx_shm_region_map(), which
 * refuses an fd that is not a size-sealed memfd or an address that is taken. The memfds are closed
 * once mapped (each region keeps its own duplicate); the two doorbells stay open.
 *
 * Waiting for completions follows the ring's sleep protocol (ring.h) and adds the control socket
 * to the poll set: when the service dies its end of the socket hangs up, which wakes the app
 * even though nobody will ever ring the completion doorbell again. Before sleeping it polls for
 * spin_us, yielding the core between polls, adaptively (spin.h): a yield that lost the core for a
 * time slice to a busy process ends the spin and the next waits sleep at once, so that the
 * doorbell wakes the app ahead of that process instead of its slices delaying every call. */
#include "phoenix/client.h"
#include "phoenix/control.h"

#include "control.pb-c.h"
#include "register_layout.h"
#include "spin.h"
#include "phoenix/clock.h"
#include "phoenix/fdpass.h"
#include "phoenix/port_layout.h"
#include "phoenix/ring.h"
#include "phoenix/shm_region.h"
#include "phoenix/status.h"

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define CLIENT_DEFAULT_SPIN_US 50u
#define CLIENT_MAX_SPIN_US     1000000u
#define CLIENT_SPIN_ENV        "PHOENIX_CLIENT_SPIN_US"

struct phx_client {
    int              sock;
    unsigned         sid;
    unsigned         spin_us;
    struct phx_spin  spin;          /* adaptive: backs off when yields lose the core */
    bool             dead;          /* the service hung up */
    phx_shm_region_t rings, send, recv;
    phx_ring_t       sq;            /* we produce */
    phx_ring_t       cq;            /* we consume */
    int              sq_doorbell;
    int              cq_doorbell;
    phx_heap_t      *send_heap;
};

/* ---- raw control exchange ----------------------------------------------------------------- */

const char *phx_control_default_prefix(void)
{
    const char *env = getenv("PHOENIX_PREFIX");
    return env && *env ? env : PHX_DEFAULT_PREFIX;
}

int phx_control_connect(const char *prefix, char *err, size_t errlen)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };

    if (!prefix)
        prefix = phx_control_default_prefix();
    int len = snprintf(addr.sun_path, sizeof(addr.sun_path), "%s/%s", prefix,
                       PHX_CONTROL_SOCKET_NAME);
    if (len < 0 || (size_t)len >= sizeof(addr.sun_path)) {
        snprintf(err, errlen, "prefix %s is too long for a unix socket path", prefix);
        return -ENAMETOOLONG;
    }
    int sock = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (sock < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        return -errno;
    }
    if (connect(sock, (struct sockaddr *)&addr, sizeof(addr)) == 0)
        return sock;
    int rc = -errno;
    close(sock);
    if (rc == -ENOENT || rc == -ECONNREFUSED)
        snprintf(err, errlen, "no Phoenix service at %s: start one with `phoenixd --prefix %s` "
                 "or set PHOENIX_PREFIX", addr.sun_path, prefix);
    else
        snprintf(err, errlen, "cannot connect to %s: %s", addr.sun_path, strerror(-rc));
    return rc;
}

static long long now_ms(void)
{
    return (long long)(phx_now_ns() / 1000000);
}

/* Milliseconds left until DEADLINE (-1: none) as a poll() timeout. */
static int remaining_ms(long long deadline)
{
    if (deadline < 0)
        return -1;
    long long left = deadline - now_ms();
    return left <= 0 ? 0 : (int)left;
}

static int send_request(int sock, const Phoenix__Control__Request *req, char *err,
                        size_t errlen)
{
    size_t len = phoenix__control__request__get_packed_size(req);
    if (len > PHX_CONTROL_MAX_REQUEST) {
        snprintf(err, errlen, "request of %zu bytes exceeds the %u-byte limit", len,
                 PHX_CONTROL_MAX_REQUEST);
        return -EMSGSIZE;
    }
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf)
        return -ENOMEM;
    phoenix__control__request__pack(req, buf);
    ssize_t rc = phx_sock_send(sock, buf, len, NULL, 0);
    free(buf);
    if (rc < 0)
        snprintf(err, errlen, "cannot send to the Phoenix service: %s", strerror((int)-rc));
    return rc < 0 ? (int)rc : 0;
}

/* Waits for the next datagram; -ETIMEDOUT or -EPIPE (hung up) with a sentence in ERR. */
static int wait_readable(int sock, int timeout_ms, char *err, size_t errlen)
{
    struct pollfd pfd = { .fd = sock, .events = POLLIN };
    long long deadline = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;

    for (;;) {
        int rc = poll(&pfd, 1, remaining_ms(deadline));
        if (rc > 0)
            return 0;       /* POLLIN, or POLLHUP which recv turns into EOF */
        if (rc == 0) {
            snprintf(err, errlen, "the Phoenix service did not answer within %d ms", timeout_ms);
            return -ETIMEDOUT;
        }
        if (errno != EINTR)
            return -errno;
    }
}

static void close_fds(const int *fds, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        close(fds[i]);
}

/* A Response of id 0 that is not OK is the service turning the connection away (its limits,
 * control_server.c): it answers whatever was asked, and comes just before the hang-up. */
static bool is_refusal(const Phoenix__Control__Response *resp)
{
    return resp->id == 0 && resp->status != PHX_OK && resp->error && *resp->error;
}

int phx_control_call(int sock, const Phoenix__Control__Request *req,
                     Phoenix__Control__Response **resp, int *fds, unsigned *nfds,
                     unsigned max_fds, int timeout_ms, char *err, size_t errlen)
{
    unsigned got_fds = 0;
    int rc = send_request(sock, req, err, errlen);

    *resp = NULL;
    if (nfds)
        *nfds = 0;
    /* A service that turned us away has hung up, but its sentence may wait in our queue. */
    char scratch[128];
    if ((rc == -EPIPE || rc == -ECONNRESET) &&
        wait_readable(sock, 0, scratch, sizeof(scratch)) == 0)
        rc = 0;
    if (rc < 0 || (rc = wait_readable(sock, timeout_ms, err, errlen)) < 0)
        return rc;
    uint8_t *buf = malloc(PHX_CONTROL_MAX_RESPONSE);
    if (!buf)
        return -ENOMEM;
    ssize_t len = phx_sock_recv(sock, buf, PHX_CONTROL_MAX_RESPONSE, fds, &got_fds, max_fds);
    /* A service that hung up with our request unread leaves ECONNRESET pending, which the
     * kernel reports (once) before what it had sent us: its refusal, if any, comes next. */
    if (len == -ECONNRESET)
        len = phx_sock_recv(sock, buf, PHX_CONTROL_MAX_RESPONSE, fds, &got_fds, max_fds);
    if (len <= 0) {
        free(buf);
        snprintf(err, errlen, "the Phoenix service %s",
                 len == 0 ? "hung up" : strerror((int)-len));
        return len == 0 ? -EPIPE : (int)len;
    }
    *resp = phoenix__control__response__unpack(NULL, (size_t)len, buf);
    free(buf);
    if (!*resp || ((*resp)->id != req->id && !is_refusal(*resp))) {
        snprintf(err, errlen, "the Phoenix service sent a reply that %s",
                 *resp ? "answers another request" : "does not parse");
        if (*resp)
            phoenix__control__response__free_unpacked(*resp, NULL);
        *resp = NULL;
        close_fds(fds, got_fds);
        return -EPROTO;
    }
    if (nfds)
        *nfds = got_fds;
    else
        close_fds(fds, got_fds);
    return 0;
}

/* ---- registration -------------------------------------------------------------------------- */

/* Puts the received descriptors in role order; false when roles are missing or repeated. */
static bool fds_by_role(const Phoenix__Control__RegisterReply *r, const int *fds, unsigned nfds,
                        int by_role[PHX_APP_PORT_NFDS])
{
    if (nfds != PHX_APP_PORT_NFDS || r->n_fds != nfds)
        return false;
    for (unsigned i = 0; i < PHX_APP_PORT_NFDS; i++)
        by_role[i] = -1;
    for (unsigned i = 0; i < nfds; i++) {
        unsigned role = (unsigned)r->fds[i];
        if (role >= PHX_APP_PORT_NFDS || by_role[role] >= 0)
            return false;
        by_role[role] = fds[i];
    }
    return true;
}

static int map_region(phx_shm_region_t *r, int fd, uint64_t addr, uint64_t size, int prot)
{
    return phx_shm_region_map(r, fd, (void *)(uintptr_t)addr, (size_t)size, prot);
}

/* Maps the regions, attaches the rings and builds the send heap. Takes the doorbells; the
 * memfds stay the caller's. */
static int client_attach(phx_client_t *c, const struct phx_app_port_layout *l,
                         const int fd[PHX_APP_PORT_NFDS], char *err, size_t errlen)
{
    int rc;

    c->sq_doorbell = fd[PHX_APP_PORT_FD_SQ_DOORBELL];
    c->cq_doorbell = fd[PHX_APP_PORT_FD_CQ_DOORBELL];
    if ((rc = map_region(&c->rings, fd[PHX_APP_PORT_FD_RINGS], l->rings_addr, l->rings_size,
                         PROT_READ | PROT_WRITE)) < 0 ||
        (rc = map_region(&c->send, fd[PHX_APP_PORT_FD_SEND], l->send_addr, l->send_size,
                         PROT_READ | PROT_WRITE)) < 0 ||
        (rc = map_region(&c->recv, fd[PHX_APP_PORT_FD_RECV], l->recv_addr, l->recv_size,
                         PROT_READ)) < 0) {
        snprintf(err, errlen, "cannot map the shared memory the Phoenix service offers: %s",
                 strerror(-rc));
        return rc;
    }
    if ((rc = phx_app_port_rings_attach(l, c->rings.base, &c->sq, c->sq_doorbell, &c->cq,
                                        c->cq_doorbell)) < 0) {
        snprintf(err, errlen, "the rings the Phoenix service offers are invalid: %s",
                 strerror(-rc));
        return rc;
    }
    struct phx_heap_params hp = { .field_mask = PHX_HEAP_PARAM_FIELD_SLAB_SIZE,
                                  .slab_size = l->slab_size };
    if (!(c->send_heap = phx_heap_create(&c->send, &hp))) {
        snprintf(err, errlen, "cannot build the send heap: %s", strerror(errno));
        return -errno;
    }
    return 0;
}

/* Turns a Register reply into a mapped client. */
static int client_setup(phx_client_t *c, const Phoenix__Control__Response *resp, int *fds,
                        unsigned nfds, char *err, size_t errlen)
{
    struct phx_app_port_layout l;
    int by_role[PHX_APP_PORT_NFDS];

    if (resp->status != PHX_OK) {
        snprintf(err, errlen, "%s", *resp->error ? resp->error : phx_status_name(resp->status));
        close_fds(fds, nfds);
        return -phx_errno_of_status(resp->status);
    }
    if (resp->body_case != PHOENIX__CONTROL__RESPONSE__BODY_REGISTER) {
        snprintf(err, errlen, "the Phoenix service answered a registration with something else");
        close_fds(fds, nfds);
        return -EPROTO;
    }
    phx_register_layout_get(resp->register_, &l);
    if (!fds_by_role(resp->register_, fds, nfds, by_role) ||
        phx_app_port_layout_check(&l) < 0) {
        snprintf(err, errlen, "the Phoenix service sent an invalid shared memory layout");
        close_fds(fds, nfds);
        return -EPROTO;
    }
    c->sid = resp->register_->sid;
    int rc = client_attach(c, &l, by_role, err, errlen);
    close(by_role[PHX_APP_PORT_FD_RINGS]);
    close(by_role[PHX_APP_PORT_FD_SEND]);
    close(by_role[PHX_APP_PORT_FD_RECV]);
    return rc;
}

/* How long phx_client_wait() polls: the caller's spin_us, else $PHOENIX_CLIENT_SPIN_US (for a
 * machine with a core per process, where an app should poll rather than sleep: benchmarks'
 * `compare --dedicate`), else the default. -EINVAL with a sentence for a malformed variable. */
static int client_spin_us(const struct phx_client_params *p, unsigned *spin_us, char *err,
                          size_t errlen)
{
    const char *env = getenv(CLIENT_SPIN_ENV);
    char *end;

    if (p->field_mask & PHX_CLIENT_PARAM_FIELD_SPIN_US) {
        *spin_us = p->spin_us;
        return 0;
    }
    if (!env || !*env) {
        *spin_us = CLIENT_DEFAULT_SPIN_US;
        return 0;
    }
    errno = 0;
    unsigned long v = strtoul(env, &end, 10);
    if (errno || *end || *env == '-' || v > CLIENT_MAX_SPIN_US) {
        snprintf(err, errlen, "%s='%.32s' is not a number of microseconds from 0 to %u",
                 CLIENT_SPIN_ENV, env, CLIENT_MAX_SPIN_US);
        return -EINVAL;
    }
    *spin_us = (unsigned)v;
    return 0;
}

static phx_client_t *client_alloc(unsigned spin_us)
{
    phx_client_t *c = calloc(1, sizeof(*c));

    if (!c)
        return NULL;
    c->sock = c->sq_doorbell = c->cq_doorbell = -1;
    c->rings.fd = c->send.fd = c->recv.fd = -1;
    c->spin_us = spin_us;
    phx_spin_init(&c->spin, spin_us);
    return c;
}

static int register_request(phx_client_t *c, const struct phx_client_params *p, char *err,
                            size_t errlen)
{
    Phoenix__Control__Request req = PHOENIX__CONTROL__REQUEST__INIT;
    Phoenix__Control__Register reg = PHOENIX__CONTROL__REGISTER__INIT;
    Phoenix__Control__Response *resp;
    int fds[PHX_SOCK_MAX_FDS];
    unsigned nfds;

    reg.service = (char *)p->service;
    reg.ring_depth = p->field_mask & PHX_CLIENT_PARAM_FIELD_RING_DEPTH ? p->ring_depth : 0;
    req.id = 1;
    req.body_case = PHOENIX__CONTROL__REQUEST__BODY_REGISTER;
    req.register_ = &reg;
    int rc = phx_control_call(c->sock, &req, &resp, fds, &nfds, PHX_SOCK_MAX_FDS,
                              PHX_CONTROL_TIMEOUT_MS, err, errlen);
    if (rc < 0)
        return rc;
    rc = client_setup(c, resp, fds, nfds, err, errlen);
    phoenix__control__response__free_unpacked(resp, NULL);
    return rc;
}

phx_client_t *phx_client_register(const struct phx_client_params *p, char *err, size_t errlen)
{
    if (!p || !(p->field_mask & PHX_CLIENT_PARAM_FIELD_SERVICE) || !p->service) {
        snprintf(err, errlen, "no service named to register with");
        errno = EINVAL;
        return NULL;
    }
    unsigned spin_us;
    if (client_spin_us(p, &spin_us, err, errlen) < 0) {
        errno = EINVAL;
        return NULL;
    }
    phx_client_t *c = client_alloc(spin_us);
    if (!c) {
        snprintf(err, errlen, "out of memory");
        errno = ENOMEM;
        return NULL;
    }
    const char *prefix = p->field_mask & PHX_CLIENT_PARAM_FIELD_PREFIX ? p->prefix : NULL;
    int rc = c->sock = phx_control_connect(prefix, err, errlen);
    if (rc >= 0)
        rc = register_request(c, p, err, errlen);
    if (rc < 0) {
        phx_client_close(c);
        errno = -rc;
        return NULL;
    }
    return c;
}

void phx_client_close(phx_client_t *c)
{
    if (!c)
        return;
    phx_app_port_mem_release(c->send_heap, &c->rings, &c->send, &c->recv, c->sq_doorbell,
                             c->cq_doorbell);
    if (c->sock >= 0)
        close(c->sock);
    free(c);
}

/* ---- data path ----------------------------------------------------------------------------- */

int phx_client_push(phx_client_t *c, const phx_desc_t *descs, unsigned n)
{
    return phx_ring_push(&c->sq, descs, n);
}

int phx_client_notify(phx_client_t *c)
{
    return phx_ring_notify(&c->sq) == 1;
}

int phx_client_submit(phx_client_t *c, const phx_desc_t *descs, unsigned n)
{
    int pushed = phx_client_push(c, descs, n);
    if (pushed > 0)
        phx_client_notify(c);
    return pushed;
}

int phx_client_poll(phx_client_t *c, phx_desc_t *descs, unsigned max)
{
    return phx_ring_pop(&c->cq, descs, max);
}

/* The control socket woke us: hang-up or EOF means the service is gone. Anything else is a
 * datagram nobody asked for; it is dropped (with any fds) so that poll() does not spin on it. */
static void control_check(phx_client_t *c, short revents)
{
    char byte;

    if (revents & (POLLHUP | POLLERR)) {
        c->dead = true;
        return;
    }
    ssize_t n = recv(c->sock, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
        c->dead = true;
        return;
    }
    if (n > 0) {
        char buf[256];
        phx_sock_recv(c->sock, buf, sizeof(buf), NULL, NULL, 0);
    }
}

/* Polls for spin_us. Each empty poll yields the core: the thread that will answer us (the service,
 * or the peer app behind it) is often waiting for this very core. Polls once only while spin.h
 * backs off, and stops after a yield that lost the core for a slice. */
static int spin_poll(phx_client_t *c, phx_desc_t *descs, unsigned max)
{
    uint64_t t0 = phx_now_ns();
    int n = phx_client_poll(c, descs, max);

    if (n != 0 || !c->spin_us || !phx_spin_start(&c->spin))
        return n;
    for (;;) {
        if (phx_now_ns() - t0 >= (uint64_t)c->spin_us * 1000)
            return 0;
        bool go_on = phx_spin_yield(&c->spin);
        if ((n = phx_client_poll(c, descs, max)) != 0 || !go_on)
            return n;
    }
}

int phx_client_wait(phx_client_t *c, phx_desc_t *descs, unsigned max, int timeout_ms)
{
    long long deadline = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
    int n = spin_poll(c, descs, max);

    while (n == 0 && !c->dead) {
        bool rung = false;
        if (phx_ring_prepare_sleep(&c->cq)) {
            struct pollfd pfd[2] = { { .fd = c->cq_doorbell, .events = POLLIN },
                                     { .fd = c->sock, .events = POLLIN } };
            if (poll(pfd, 2, remaining_ms(deadline)) > 0 && pfd[1].revents)
                control_check(c, pfd[1].revents);
            rung = pfd[0].revents != 0;
        }
        /* Drained only when it rang: a ring that comes after the poll stays in the eventfd
         * and ends the next poll at once (ring.h). */
        if (rung)
            phx_ring_finish_sleep(&c->cq);
        else
            phx_ring_cancel_sleep(&c->cq);
        /* Completions queued before the service went away are still delivered first. */
        n = phx_client_poll(c, descs, max);
        if (n == 0 && deadline >= 0 && now_ms() >= deadline)
            break;
    }
    return n == 0 && c->dead ? -EPIPE : n;
}

int phx_client_event_fd(const phx_client_t *c)
{
    return c->cq_doorbell;
}

int phx_client_control_fd(const phx_client_t *c)
{
    return c->sock;
}

unsigned phx_client_sid(const phx_client_t *c)
{
    return c->sid;
}

phx_heap_t *phx_client_send_heap(phx_client_t *c)
{
    return c->send_heap;
}

const void *phx_client_recv_base(const phx_client_t *c)
{
    return c->recv.base;
}

size_t phx_client_recv_size(const phx_client_t *c)
{
    return c->recv.size;
}
