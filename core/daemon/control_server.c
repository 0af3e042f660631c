/* control_server.c - phoenixd's control socket: accepting, decoding, answering, hanging up.
 *
 * Every epoll entry points at a `struct cs_source` whose kind says what it is: the listener, the
 * signalfd, the service's broken-port eventfd, or a client. Client sockets are non-blocking, so a
 * client that stops reading its replies cannot stall the loop (it is dropped instead).
 *
 * Requests are untrusted: a datagram over 64 KiB, one that carries descriptors, or one that does
 * not decode as a Request gets INVALID_ARGUMENT "malformed request: ..." and the connection stays
 * open. The peer's credentials come from SO_PEERCRED at accept; whether the peer is an
 * administrator (root or a member of control.admin_group: primary group or SO_PEERGROUPS) is
 * decided once per connection on its first admin request, and admin.c decides from that what
 * it may do (others: their own apps only).
 *
 * A client owns the subscriptions it registered: its hang-up (EPOLLHUP, EPOLLRDHUP, EOF) tears
 * them down, which closes every descriptor and unmaps every region the service held for them. */
#include "control_server.h"

#include "admin.h"
#include "rules.h"
#include "phoenix/app_port.h"
#include "phoenix/client.h"
#include "phoenix/fdpass.h"
#include "phoenix/log.h"
#include "phoenix/status.h"
#include "register_layout.h"
#include "service.h"

#include <errno.h>
#include <grp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define CS_MAX_EVENTS     64
#define CS_EXTRA_CLIENTS  16      /* connections beyond max_apps, for admin tools; the last */
#define CS_ROOT_CLIENTS   8       /* ... CS_ROOT_CLIENTS of them for root only */

enum cs_kind { CS_LISTENER, CS_SIGNALS, CS_BROKEN, CS_CLIENT };

struct cs_source {
    enum cs_kind kind;
    int          fd;
};

enum cs_admin { CS_ADMIN_UNKNOWN, CS_ADMIN_YES, CS_ADMIN_NO };

struct cs_client {
    struct cs_source          src;
    struct ucred              cred;
    enum cs_admin             admin;
    struct phx_subscription **subs;
    unsigned                  n_subs, cap_subs;
    struct cs_client         *next;
};

struct phx_control_server {
    struct phx_service   *svc;
    struct cs_source      listener, signals, broken;
    int                   epfd;
    char                  path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    struct cs_client     *clients;
    unsigned              n_clients;
    struct cs_client     *dropped;       /* freed after the current batch of events */
    phx_control_reload_fn on_reload;
    void                 *reload_arg;
    uint8_t              *rxbuf;         /* PHX_CONTROL_MAX_REQUEST bytes */
};

/* ---- responses ------------------------------------------------------------------------------ */

void phx_response_fail(Phoenix__Control__Response *resp, int status, const char *fmt, ...)
{
    va_list ap;
    char *msg = NULL;

    va_start(ap, fmt);
    if (vasprintf(&msg, fmt, ap) < 0)
        msg = NULL;
    va_end(ap);
    if (resp->error && resp->error != protobuf_c_empty_string)
        free(resp->error);
    resp->error = msg ? msg : (char *)protobuf_c_empty_string;
    resp->status = status;
}

static Phoenix__Control__Response *response_new(uint64_t id)
{
    Phoenix__Control__Response *resp = malloc(sizeof(*resp));
    if (resp) {
        phoenix__control__response__init(resp);
        resp->id = id;
    }
    return resp;
}

static void client_drop(struct phx_control_server *cs, struct cs_client *c);

/* Sends RESP (with FDS) and frees it. A client that cannot take it is dropped. */
static void response_send(struct phx_control_server *cs, struct cs_client *c,
                          Phoenix__Control__Response *resp, const int *fds, unsigned nfds)
{
    size_t len = phoenix__control__response__get_packed_size(resp);
    uint8_t *buf = malloc(len ? len : 1);
    ssize_t rc = buf ? 0 : -ENOMEM;

    if (buf) {
        phoenix__control__response__pack(resp, buf);
        rc = phx_sock_send(c->src.fd, buf, len, fds, nfds);
        free(buf);
    }
    phoenix__control__response__free_unpacked(resp, NULL);
    if (rc < 0) {
        phx_info("dropping client pid %d: cannot send its reply: %s", (int)c->cred.pid,
                 strerror((int)-rc));
        client_drop(cs, c);
    }
}

/* ---- clients -------------------------------------------------------------------------------- */

static int client_track(struct cs_client *c, struct phx_subscription *sub)
{
    if (c->n_subs == c->cap_subs) {
        unsigned cap = c->cap_subs ? 2 * c->cap_subs : 4;
        struct phx_subscription **subs = realloc(c->subs, cap * sizeof(*subs));
        if (!subs)
            return -ENOMEM;
        c->subs = subs;
        c->cap_subs = cap;
    }
    c->subs[c->n_subs++] = sub;
    return 0;
}

static void client_drop(struct phx_control_server *cs, struct cs_client *c)
{
    for (struct cs_client **pp = &cs->clients; *pp; pp = &(*pp)->next) {
        if (*pp == c) {
            *pp = c->next;
            cs->n_clients--;
            break;
        }
    }
    while (c->n_subs)
        phx_service_unregister(cs->svc, c->subs[--c->n_subs]);
    epoll_ctl(cs->epfd, EPOLL_CTL_DEL, c->src.fd, NULL);
    close(c->src.fd);
    c->src.fd = -1;
    phx_debug("client pid %d gone", (int)c->cred.pid);
    /* Its events may still be in the batch being handled: free it after the batch. */
    c->next = cs->dropped;
    cs->dropped = c;
}

static void free_dropped(struct phx_control_server *cs)
{
    while (cs->dropped) {
        struct cs_client *c = cs->dropped;
        cs->dropped = c->next;
        free(c->subs);
        free(c);
    }
}

/* Whether one more connection of CRED fits: ordinary users together leave root the last
 * CS_ROOT_CLIENTS, so that no user can keep an administrator out. */
static bool client_fits(const struct phx_control_server *cs, const struct ucred *cred)
{
    unsigned cap = cs->svc->cfg->control.max_apps + CS_EXTRA_CLIENTS;

    return cs->n_clients < (cred->uid == 0 ? cap : cap - CS_ROOT_CLIENTS);
}

static void client_accept(struct phx_control_server *cs)
{
    int fd = accept4(cs->listener.fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
        if (errno != EAGAIN && errno != EINTR)
            phx_warn("accept on %s: %s", cs->path, strerror(errno));
        return;
    }
    struct cs_client *c = calloc(1, sizeof(*c));
    if (!c || phx_sock_peer_cred(fd, &c->cred) < 0 || !client_fits(cs, &c->cred)) {
        phx_warn("refusing a connection: %s", c ? "too many clients or no credentials"
                                                 : "out of memory");
        free(c);
        close(fd);
        return;
    }
    c->src = (struct cs_source){ .kind = CS_CLIENT, .fd = fd };
    struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP, .data.ptr = &c->src };
    if (epoll_ctl(cs->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
        free(c);
        close(fd);
        return;
    }
    c->next = cs->clients;
    cs->clients = c;
    cs->n_clients++;
    phx_debug("client pid %d uid %d connected", (int)c->cred.pid, (int)c->cred.uid);
}

/* ---- permission ----------------------------------------------------------------------------- */

static bool peer_in_group(int fd, const struct ucred *cred, gid_t gid)
{
    gid_t groups[256];
    socklen_t len = sizeof(groups);

    if (cred->gid == gid)
        return true;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) < 0)
        return false;   /* more than 256 groups, or no support: primary group only */
    for (size_t i = 0; i < len / sizeof(gid_t); i++)
        if (groups[i] == gid)
            return true;
    return false;
}

static bool client_is_admin(struct phx_control_server *cs, struct cs_client *c)
{
    const char *group = cs->svc->cfg->control.admin_group;

    if (c->admin == CS_ADMIN_UNKNOWN) {
        bool yes = c->cred.uid == 0;
        if (!yes && *group) {
            struct group *gr = getgrnam(group);
            if (!gr)
                phx_warn("control.admin_group '%s' does not exist", group);
            yes = gr && peer_in_group(c->src.fd, &c->cred, gr->gr_gid);
        }
        c->admin = yes ? CS_ADMIN_YES : CS_ADMIN_NO;
    }
    return c->admin == CS_ADMIN_YES;
}

/* ---- requests ------------------------------------------------------------------------------- */

static Phoenix__Control__RegisterReply *register_reply(const struct phx_subscription *sub)
{
    const struct phx_app_port_layout *l = phx_app_port_layout(sub->group.app);
    Phoenix__Control__RegisterReply *r = malloc(sizeof(*r));

    if (!r)
        return NULL;
    phoenix__control__register_reply__init(r);
    r->fds = calloc(PHX_APP_PORT_NFDS, sizeof(*r->fds));
    if (!r->fds) {
        free(r);
        return NULL;
    }
    r->sid = sub->sid;
    phx_register_layout_put(r, l);
    /* phx_app_port_fds() orders them by enum phx_app_port_fd, which FdRole mirrors. */
    for (unsigned i = 0; i < PHX_APP_PORT_NFDS; i++)
        r->fds[i] = (Phoenix__Control__FdRole)i;
    r->n_fds = PHX_APP_PORT_NFDS;
    return r;
}

#define SAME_FD_ROLE(role, fd) ((int)PHOENIX__CONTROL__FD_ROLE__FD_ROLE_##role == (int)(fd))
_Static_assert(SAME_FD_ROLE(RINGS, PHX_APP_PORT_FD_RINGS) &&
               SAME_FD_ROLE(SQ_DOORBELL, PHX_APP_PORT_FD_SQ_DOORBELL) &&
               SAME_FD_ROLE(CQ_DOORBELL, PHX_APP_PORT_FD_CQ_DOORBELL) &&
               SAME_FD_ROLE(SEND_HEAP, PHX_APP_PORT_FD_SEND) &&
               SAME_FD_ROLE(RECV_HEAP, PHX_APP_PORT_FD_RECV),
               "FdRole mirrors enum phx_app_port_fd");

static void handle_register(struct phx_control_server *cs, struct cs_client *c,
                            const Phoenix__Control__Register *reg,
                            Phoenix__Control__Response *resp)
{
    struct phx_subscription *sub;
    char err[512] = "";

    if (!reg->service || !*reg->service) {
        phx_response_fail(resp, PHX_INVALID_ARGUMENT,
                          "malformed request: register needs a service name");
        goto send;
    }
    struct phx_register_params p = { .field_mask = PHX_REGISTER_PARAM_FIELD_RING_DEPTH,
                                     .service = reg->service, .peer = c->cred,
                                     .ring_depth = reg->ring_depth };
    int status = phx_service_register(cs->svc, &p, &sub, err, sizeof(err));
    if (status != PHX_OK) {
        phx_response_fail(resp, status, "%s", err);
        goto send;
    }
    phx_rules_on_register(cs->svc, sub);    /* before the app has its rings: no call yet */
    if (client_track(c, sub) < 0 || !(resp->register_ = register_reply(sub))) {
        phx_service_unregister(cs->svc, sub);
        phx_response_fail(resp, PHX_RESOURCE_EXHAUSTED, "out of memory");
        goto send;
    }
    resp->body_case = PHOENIX__CONTROL__RESPONSE__BODY_REGISTER;
    int fds[PHX_APP_PORT_NFDS];
    phx_app_port_fds(sub->group.app, fds);
    response_send(cs, c, resp, fds, PHX_APP_PORT_NFDS);   /* dropping c unregisters sub */
    return;
send:
    response_send(cs, c, resp, NULL, 0);
}

/* Who may send what is admin.c's to decide (admin.h); here only whether the peer is an admin. */
static void handle_admin(struct phx_control_server *cs, struct cs_client *c,
                         const Phoenix__Control__Request *req, Phoenix__Control__Response *resp)
{
    struct phx_peer peer = { .pid = c->cred.pid, .uid = c->cred.uid, .gid = c->cred.gid,
                             .admin = client_is_admin(cs, c) };

    phx_admin_handle(cs->svc, &peer, req, resp);
    response_send(cs, c, resp, NULL, 0);
}

static void reply_malformed(struct phx_control_server *cs, struct cs_client *c, uint64_t id,
                            const char *why)
{
    Phoenix__Control__Response *resp = response_new(id);

    if (!resp)
        return;
    phx_response_fail(resp, PHX_INVALID_ARGUMENT, "malformed request: %s", why);
    response_send(cs, c, resp, NULL, 0);
}

static void request_dispatch(struct phx_control_server *cs, struct cs_client *c,
                             const Phoenix__Control__Request *req)
{
    Phoenix__Control__Response *resp;

    if (req->body_case == PHOENIX__CONTROL__REQUEST__BODY__NOT_SET) {
        reply_malformed(cs, c, req->id, "no request body (empty, or a type this service "
                        "does not know)");
        return;
    }
    if (!(resp = response_new(req->id)))
        return;
    if (req->body_case == PHOENIX__CONTROL__REQUEST__BODY_REGISTER)
        handle_register(cs, c, req->register_, resp);
    else
        handle_admin(cs, c, req, resp);
}

Phoenix__Control__Request *phx_control_request_decode(const uint8_t *buf, ssize_t n,
                                                      unsigned nfds, char *why, size_t whylen)
{
    Phoenix__Control__Request *req = NULL;

    if (nfds)
        snprintf(why, whylen, "it carries file descriptors, requests never do");
    else if (n < 0 || n > PHX_CONTROL_MAX_REQUEST)
        snprintf(why, whylen, "datagram over %u bytes (or with over %u descriptors)",
                 PHX_CONTROL_MAX_REQUEST, PHX_SOCK_MAX_FDS);
    else if (!(req = phoenix__control__request__unpack(NULL, (size_t)n, buf)))
        snprintf(why, whylen, "%zd bytes that do not decode as a Request", n);
    return req;
}

/* Reads and answers one datagram; HANGUP says the peer's end is closed. */
static void client_readable(struct phx_control_server *cs, struct cs_client *c, bool hangup)
{
    int fds[PHX_SOCK_MAX_FDS];
    unsigned nfds = 0;
    ssize_t n = phx_sock_recv(c->src.fd, cs->rxbuf, PHX_CONTROL_MAX_REQUEST, fds, &nfds,
                              PHX_SOCK_MAX_FDS);
    char why[128];

    if (n == -EAGAIN || n == -EINTR) {
        if (hangup)
            client_drop(cs, c);
        return;
    }
    for (unsigned i = 0; i < nfds; i++)
        close(fds[i]);
    /* On a seqpacket socket 0 is either EOF or an empty datagram; only the hang-up tells. */
    if ((n < 0 && n != -EMSGSIZE) || (n == 0 && hangup && !nfds)) {
        client_drop(cs, c);
        return;
    }
    Phoenix__Control__Request *req = phx_control_request_decode(cs->rxbuf, n, nfds, why,
                                                                sizeof(why));
    if (!req) {
        reply_malformed(cs, c, 0, why);
        return;
    }
    request_dispatch(cs, c, req);
    phoenix__control__request__free_unpacked(req, NULL);
}

/* ---- broken ports --------------------------------------------------------------------------- */

static bool client_has_broken_port(const struct cs_client *c)
{
    for (unsigned i = 0; i < c->n_subs; i++)
        if (phx_service_port_broken(c->subs[i]))
            return true;
    return false;
}

static void drop_broken_clients(struct phx_control_server *cs)
{
    phx_service_drain_broken(cs->svc);
    for (struct cs_client *c = cs->clients, *next; c; c = next) {
        next = c->next;
        if (client_has_broken_port(c)) {
            phx_warn("dropping pid %d: it corrupted its rings", (int)c->cred.pid);
            client_drop(cs, c);
        }
    }
}

/* ---- signals -------------------------------------------------------------------------------- */

static void signal_set(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGHUP);
}

int phx_control_block_signals(void)
{
    sigset_t set;
    signal_set(&set);
    return -pthread_sigmask(SIG_BLOCK, &set, NULL);
}

/* Returns true when the loop must stop. */
static bool signal_readable(struct phx_control_server *cs)
{
    struct signalfd_siginfo si;

    while (read(cs->signals.fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        if (si.ssi_signo == SIGHUP) {
            phx_info("SIGHUP: reloading the log and plugin settings");
            if (cs->on_reload)
                cs->on_reload(cs->reload_arg);
            continue;
        }
        phx_info("%s: shutting down", strsignal((int)si.ssi_signo));
        return true;
    }
    return false;
}

/* ---- setup ---------------------------------------------------------------------------------- */

static int listen_socket(struct phx_control_server *cs, char *err, size_t errlen)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    const char *prefix = cs->svc->cfg->prefix;
    int n = snprintf(cs->path, sizeof(cs->path), "%s/%s", prefix, PHX_CONTROL_SOCKET_NAME);

    if (n < 0 || (size_t)n >= sizeof(cs->path)) {
        snprintf(err, errlen, "prefix %s is too long for a unix socket path", prefix);
        cs->path[0] = 0;
        return -ENAMETOOLONG;
    }
    memcpy(addr.sun_path, cs->path, sizeof(cs->path));
    int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        goto fail;
    cs->listener = (struct cs_source){ .kind = CS_LISTENER, .fd = fd };
    unlink(cs->path);       /* stale: we hold the pid file lock */
    if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
        chmod(cs->path, cs->svc->cfg->control.socket_mode) < 0 || listen(fd, 128) < 0)
        goto fail;
    return 0;
fail:
    snprintf(err, errlen, "cannot listen on %s: %s", cs->path, strerror(errno));
    return -errno;
}

static int signal_fd(struct phx_control_server *cs, char *err, size_t errlen)
{
    sigset_t set;

    signal_set(&set);
    int fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "signalfd: %s", strerror(errno));
        return -errno;
    }
    cs->signals = (struct cs_source){ .kind = CS_SIGNALS, .fd = fd };
    return 0;
}

static int watch(struct phx_control_server *cs, struct cs_source *src)
{
    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = src };
    return epoll_ctl(cs->epfd, EPOLL_CTL_ADD, src->fd, &ev) < 0 ? -errno : 0;
}

struct phx_control_server *phx_control_server_start(struct phx_service *svc,
                                                    phx_control_reload_fn on_reload, void *arg,
                                                    char *err, size_t errlen)
{
    struct phx_control_server *cs = calloc(1, sizeof(*cs));
    int rc = cs ? 0 : -ENOMEM;

    if (!cs) {
        snprintf(err, errlen, "out of memory");
        errno = ENOMEM;
        return NULL;
    }
    cs->svc = svc;
    cs->on_reload = on_reload;
    cs->reload_arg = arg;
    cs->listener.fd = cs->signals.fd = cs->epfd = -1;
    cs->broken = (struct cs_source){ .kind = CS_BROKEN, .fd = svc->broken_fd };
    cs->rxbuf = malloc(PHX_CONTROL_MAX_REQUEST);
    cs->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (!cs->rxbuf || cs->epfd < 0) {
        snprintf(err, errlen, "cannot set up the control loop: %s", strerror(errno));
        rc = -errno;
    }
    if (rc == 0 && (rc = signal_fd(cs, err, errlen)) == 0)
        rc = listen_socket(cs, err, errlen);
    if (rc == 0 && ((rc = watch(cs, &cs->listener)) < 0 || (rc = watch(cs, &cs->signals)) < 0 ||
                    (rc = watch(cs, &cs->broken)) < 0))
        snprintf(err, errlen, "epoll: %s", strerror(-rc));
    if (rc < 0) {
        phx_control_server_destroy(cs);
        errno = -rc;
        return NULL;
    }
    phx_info("listening on %s (mode %04o)", cs->path, svc->cfg->control.socket_mode);
    return cs;
}

/* ---- loop and shutdown ---------------------------------------------------------------------- */

static void stop_listening(struct phx_control_server *cs)
{
    if (cs->listener.fd < 0)
        return;
    epoll_ctl(cs->epfd, EPOLL_CTL_DEL, cs->listener.fd, NULL);
    close(cs->listener.fd);
    cs->listener.fd = -1;
    if (cs->path[0])
        unlink(cs->path);
}

/* Apps first hear SHUTDOWN on their completion ring, then the hang-up of their socket. */
static void shut_down(struct phx_control_server *cs)
{
    stop_listening(cs);
    phx_service_shutdown_apps(cs->svc);
    while (cs->clients)
        client_drop(cs, cs->clients);
}

static bool dispatch_event(struct phx_control_server *cs, const struct epoll_event *ev)
{
    struct cs_source *src = ev->data.ptr;

    switch (src->kind) {
    case CS_LISTENER:
        client_accept(cs);
        return false;
    case CS_SIGNALS:
        return signal_readable(cs);
    case CS_BROKEN:
        drop_broken_clients(cs);
        return false;
    case CS_CLIENT:
        client_readable(cs, (struct cs_client *)src,
                        ev->events & (EPOLLHUP | EPOLLRDHUP | EPOLLERR));
        return false;
    }
    return false;
}

int phx_control_server_run(struct phx_control_server *cs)
{
    struct epoll_event evs[CS_MAX_EVENTS];

    for (;;) {
        int n = epoll_wait(cs->epfd, evs, CS_MAX_EVENTS, -1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int rc = -errno;
            phx_error("control loop: epoll_wait: %s", strerror(errno));
            shut_down(cs);
            return rc;
        }
        for (int i = 0; i < n; i++) {
            struct cs_source *src = evs[i].data.ptr;
            if (src->fd >= 0 && dispatch_event(cs, &evs[i])) {
                shut_down(cs);
                free_dropped(cs);
                return 0;
            }
        }
        free_dropped(cs);
    }
}

void phx_control_server_destroy(struct phx_control_server *cs)
{
    if (!cs)
        return;
    stop_listening(cs);
    while (cs->clients)
        client_drop(cs, cs->clients);
    free_dropped(cs);
    if (cs->signals.fd >= 0)
        close(cs->signals.fd);
    if (cs->epfd >= 0)
        close(cs->epfd);
    free(cs->rxbuf);
    free(cs);
}
