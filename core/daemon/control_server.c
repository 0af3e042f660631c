/* control_server.c - phoenixd's control socket: accepting, decoding, answering, hanging up.
 *
 * Every epoll entry points at a `struct cs_source` whose kind says what it is: the listener, the
 * signalfd, the service's broken-port eventfd, a client, or the metrics endpoint's epoll fd
 * (metrics_http.h: libmicrohttpd polled from this loop, so a scrape runs on this thread, which
 * owns the service). Client sockets are non-blocking, so a client that stops reading its replies
 * cannot stall the loop (it is dropped instead).
 *
 * Requests are untrusted: a datagram over 64 KiB or one that does not decode as a Request gets
 * INVALID_ARGUMENT "malformed request: ..." and the connection stays open. Descriptors never
 * reach this thread (control_fds.h): the kernel refuses them (SO_PASSRIGHTS off), or, on kernels
 * without it, a datagram that carries some gets that answer and the connection is hung up, its
 * socket closed by the closer thread (fd_closer.h), since closing the last reference to a file a
 * peer chose can block without bound; senders are logged like refusals. The peer's credentials
 * come from SO_PEERCRED at accept; whether the peer is an administrator (root or a member of
 * control.admin_group: primary group or SO_PEERGROUPS) is decided once per connection, on its
 * first admin request or when one of the limits below would refuse it, and admin.c decides from
 * that what it may do (others: their own apps only).
 *
 * A client owns the subscriptions it registered: its hang-up (EPOLLHUP, EPOLLRDHUP, EOF) tears
 * them down, which closes every descriptor and unmaps every region the service held for them.
 *
 * Local limits keep one user from locking others, and the administrators, out. An ordinary uid
 * holds at most control.max_conns_per_uid connections and control.max_apps_per_uid apps; all
 * ordinary users together leave the last CS_ADMIN_CLIENTS connections to administrators (root or
 * control.admin_group, told by SO_PEERCRED and SO_PEERGROUPS, which a peer cannot forge); a
 * connection that holds no app and says nothing for control.idle_timeout_s is closed; and one
 * descriptor is kept in reserve so that even with the process out of descriptors a connection is
 * accepted, told why and closed, rather than left in the backlog where it would keep the
 * listener readable (a busy loop) and the caller waiting. A refused connection gets one Response
 * (id 0, RESOURCE_EXHAUSTED, the sentence) before the hang-up, which libphoenix's
 * phx_control_call() hands to the caller as the answer; refusals are counted and logged at most
 * once every CS_LOG_EVERY_NS with the number not logged in between. */
#include "control_server.h"

#include "admin.h"
#include "control_fds.h"
#include "fd_closer.h"
#include "metrics.h"
#include "metrics_http.h"
#include "rules.h"
#include "phoenix/app_port.h"
#include "phoenix/clock.h"
#include "phoenix/client.h"
#include "phoenix/fdpass.h"
#include "phoenix/log.h"
#include "phoenix/status.h"
#include "register_layout.h"
#include "service.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define CS_MAX_EVENTS     64
#define CS_EXTRA_CLIENTS  16      /* connections beyond max_apps, for admin tools; the last */
#define CS_ADMIN_CLIENTS  8       /* ... CS_ADMIN_CLIENTS of them for administrators only */
#define CS_LOG_EVERY_NS   (5 * 1000000000ull)   /* at most one refusal line per 5 s */
#define CS_NS_PER_S       1000000000ull
#define CS_GROUP_TTL_NS   (10 * CS_NS_PER_S)    /* admin_group's gid is looked up again after */
#define CS_PARKED_RETRY_MS 1000
#define CS_FDS_PER_CLIENT (1 + PHX_APP_PORT_NFDS + 2)   /* socket, app port, spare */

enum cs_kind { CS_LISTENER, CS_SIGNALS, CS_BROKEN, CS_CLIENT, CS_METRICS };

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
    uint64_t                  last_ns;   /* accepted, or its last request */
    bool                      sent_fds;  /* its socket, still to close, holds descriptors */
    struct cs_client         *next;
};

/* Refusals of one kind: counted, logged at most once every CS_LOG_EVERY_NS. */
struct cs_refusals {
    const char *what;          /* "refusing a connection" */
    uint64_t    count, unlogged, last_log_ns;
};

struct phx_control_server {
    struct phx_service   *svc;
    struct cs_source      listener, signals, broken, metrics;
    struct phx_metrics_http *http;       /* the Prometheus endpoint, or NULL (metrics.listen) */
    int                   epfd;
    char                  path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    struct cs_client     *clients;
    unsigned              n_clients;
    struct cs_client     *dropped;       /* freed after the current batch of events */
    phx_control_reload_fn on_reload;
    void                 *reload_arg;
    uint8_t              *rxbuf;         /* PHX_CONTROL_MAX_REQUEST bytes */
    int                   reserve_fd;    /* /dev/null, given up to accept when out of fds */
    struct cs_refusals    refused_conns, refused_apps, idle_closed, fd_senders;
    bool                  fds_refused;   /* SO_PASSRIGHTS is off on the listener */
    bool                  accept_paused; /* the closer is wedged: the listener is not watched */
    uint64_t              group_checked_ns;     /* admin_gid()'s cache */
    bool                  group_found;
    gid_t                 group_gid;
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

/* Closes socket FD. Without SO_PASSRIGHTS its queue may hold descriptors whose last reference
 * the close drops (even one that sent none when we last looked may have sent some since), so
 * the closer thread does it; UID is the uid it counts against until then, (uid_t)-1 for none:
 * only a socket found carrying descriptors counts, so that a wedged closer holding everyone's
 * closed connections does not turn them into refusals (conns_of). */
static void socket_close(struct phx_control_server *cs, int fd, uid_t uid)
{
    if (cs->fds_refused)
        close(fd);
    else
        phx_fd_closer_give(fd, uid);
}

static void client_drop(struct phx_control_server *cs, struct cs_client *c)
{
    for (struct cs_client **pp = &cs->clients; *pp; pp = &(*pp)->next) {
        if (*pp == c) {
            *pp = c->next;
            cs->n_clients--;
            cs->svc->control_clients = cs->n_clients;
            break;
        }
    }
    while (c->n_subs)
        phx_service_unregister(cs->svc, c->subs[--c->n_subs]);
    epoll_ctl(cs->epfd, EPOLL_CTL_DEL, c->src.fd, NULL);
    socket_close(cs, c->src.fd, c->sent_fds ? c->cred.uid : (uid_t)-1);
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

/* ---- limits --------------------------------------------------------------------------------- */

static bool client_is_admin(struct phx_control_server *cs, struct cs_client *c);

/* Logs one refusal of kind R (WHAT is its sentence) unless one was logged less than
 * CS_LOG_EVERY_NS ago; counts it either way. */
static void refusal_note(struct cs_refusals *r, const char *what)
{
    uint64_t now = phx_now_ns();
    const char *us = "phoenixd: ";     /* the peer needs to hear who speaks; the log does not */

    if (strncmp(what, us, strlen(us)) == 0)
        what += strlen(us);
    r->count++;
    if (r->last_log_ns && now - r->last_log_ns < CS_LOG_EVERY_NS) {
        r->unlogged++;
        return;
    }
    phx_warn("%s: %s (%llu so far; %llu not logged since the last line)", r->what, what,
             (unsigned long long)r->count, (unsigned long long)r->unlogged);
    r->unlogged = 0;
    r->last_log_ns = now;
}

/* Tells FD's peer, in one Response of id 0 that answers whatever it asks, why it is about to be
 * hung up on. Best effort: the socket is non-blocking. */
static void tell_peer(int fd, int status, const char *why)
{
    Phoenix__Control__Response resp = PHOENIX__CONTROL__RESPONSE__INIT;
    uint8_t buf[1024];

    resp.status = status;
    resp.error = (char *)why;
    if (phoenix__control__response__get_packed_size(&resp) <= sizeof(buf))
        (void)phx_sock_send(fd, buf, phoenix__control__response__pack(&resp, buf), NULL, 0);
}

/* Turns FD's peer away with WHY. */
static void refuse_connection(struct phx_control_server *cs, int fd, const char *why)
{
    tell_peer(fd, PHX_RESOURCE_EXHAUSTED, why);
    socket_close(cs, fd, (uid_t)-1);
    refusal_note(&cs->refused_conns, why);
}

static unsigned conns_of(const struct phx_control_server *cs, uid_t uid)
{
    unsigned n = 0;

    for (const struct cs_client *c = cs->clients; c; c = c->next)
        n += c->cred.uid == uid;
    return n + (cs->fds_refused ? 0 : phx_fd_closer_held(uid));
}

static unsigned apps_of(const struct phx_control_server *cs, uid_t uid)
{
    unsigned n = 0;

    for (const struct cs_client *c = cs->clients; c; c = c->next)
        if (c->cred.uid == uid)
            n += c->n_subs;
    return n;
}

/* Whether one more connection of C fits; if not, the sentence why goes to WHY. Ordinary users
 * together leave administrators the last CS_ADMIN_CLIENTS, and each holds at most
 * control.max_conns_per_uid. Whether C is an administrator is asked only when a limit is near
 * (the group lookup may be slow). */
static bool client_fits(struct phx_control_server *cs, struct cs_client *c, char *why, size_t n)
{
    const unsigned cap = cs->svc->cfg->control.max_apps + CS_EXTRA_CLIENTS;
    const unsigned per_uid = cs->svc->cfg->control.max_conns_per_uid;
    unsigned mine = conns_of(cs, c->cred.uid);

    if (cs->n_clients + CS_ADMIN_CLIENTS < cap && mine < per_uid)
        return true;
    if (client_is_admin(cs, c)) {
        if (cs->n_clients < cap)
            return true;
        snprintf(why, n, "phoenixd: the service holds %u control connections, all it takes "
                 "(control.max_apps + %d)", cs->n_clients, CS_EXTRA_CLIENTS);
        return false;
    }
    if (mine >= per_uid)
        snprintf(why, n, "phoenixd: uid %u already has %u control connection%s "
                 "(control.max_conns_per_uid)", (unsigned)c->cred.uid, mine,
                 mine == 1 ? "" : "s");
    else
        snprintf(why, n, "phoenixd: the service holds %u control connections, all it takes from "
                 "ordinary users (control.max_apps + %d; %d more are kept for "
                 "administrators)", cs->n_clients, CS_EXTRA_CLIENTS - CS_ADMIN_CLIENTS,
                 CS_ADMIN_CLIENTS);
    return false;
}

/* Out of descriptors: gives up the reserve for a moment to take the waiting connection, tell it
 * why and close it, so that it does not sit in the backlog keeping the listener readable. */
static void accept_without_fds(struct phx_control_server *cs)
{
    char why[256];
    struct rlimit rl = { 0 };

    if (cs->reserve_fd < 0)
        return;
    close(cs->reserve_fd);
    int fd = accept4(cs->listener.fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    getrlimit(RLIMIT_NOFILE, &rl);
    snprintf(why, sizeof(why), "phoenixd: out of file descriptors (%llu open, RLIMIT_NOFILE); "
             "try again when apps have gone", (unsigned long long)rl.rlim_cur);
    if (fd >= 0)
        refuse_connection(cs, fd, why);
    cs->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

static int watch(struct phx_control_server *cs, struct cs_source *src)
{
    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = src };
    return epoll_ctl(cs->epfd, EPOLL_CTL_ADD, src->fd, &ev) < 0 ? -errno : 0;
}

/* Stops (PAUSE) or resumes watching the listener. Without SO_PASSRIGHTS every socket we accept
 * must one day be closed by the closer thread; once a wedged closer has PHX_FD_CLOSER_PARK_MAX
 * of them waiting, new connections wait in the backlog (the kernel bounds it) instead, and the
 * control thread never closes one itself. */
static void accept_pause(struct phx_control_server *cs, bool pause)
{
    if (pause == cs->accept_paused || cs->listener.fd < 0)
        return;
    if (pause) {
        epoll_ctl(cs->epfd, EPOLL_CTL_DEL, cs->listener.fd, NULL);
        phx_warn("the descriptor closer is stuck with %u sockets waiting: accepting no new "
                 "control connections until it moves", phx_fd_closer_parked());
    } else if (watch(cs, &cs->listener) < 0) {
        return;
    }
    cs->accept_paused = pause;
}

static void client_accept(struct phx_control_server *cs)
{
    char why[256] = "phoenixd: cannot read the peer's credentials";

    if (!cs->fds_refused && phx_fd_closer_parked() >= PHX_FD_CLOSER_PARK_MAX) {
        accept_pause(cs, true);
        return;
    }
    int fd = accept4(cs->listener.fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

    if (fd < 0) {
        if (errno == EMFILE || errno == ENFILE)
            accept_without_fds(cs);
        else if (errno != EAGAIN && errno != EINTR)
            phx_warn("accept on %s: %s", cs->path, strerror(errno));
        return;
    }
    struct cs_client *c = calloc(1, sizeof(*c));
    if (c)
        c->src = (struct cs_source){ .kind = CS_CLIENT, .fd = fd };
    if (!c || phx_sock_peer_cred(fd, &c->cred) < 0 || !client_fits(cs, c, why, sizeof(why))) {
        refuse_connection(cs, fd, c ? why : "phoenixd: out of memory");
        free(c);
        return;
    }
    if (cs->fds_refused)
        phx_control_refuse_fds(fd);     /* inherited from the listener; made sure of */
    struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP, .data.ptr = &c->src };
    if (epoll_ctl(cs->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
        free(c);
        socket_close(cs, fd, (uid_t)-1);
        return;
    }
    c->last_ns = phx_now_ns();
    c->next = cs->clients;
    cs->clients = c;
    cs->n_clients++;
    cs->svc->control_clients = cs->n_clients;
    phx_debug("client pid %d uid %d connected", (int)c->cred.pid, (int)c->cred.uid);
}

/* Closes the connections that hold no app and said nothing for control.idle_timeout_s; returns
 * the timeout for epoll_wait until the next may expire (-1: none can). */
static int close_idle_clients(struct phx_control_server *cs)
{
    const uint64_t limit = (uint64_t)cs->svc->cfg->control.idle_timeout_s * CS_NS_PER_S;
    const uint64_t now = phx_now_ns();
    uint64_t next = UINT64_MAX;
    char why[192];

    for (struct cs_client *c = cs->clients, *after; c; c = after) {
        after = c->next;
        if (c->n_subs)
            continue;
        if (now - c->last_ns < limit) {
            next = c->last_ns + limit < next ? c->last_ns + limit : next;
            continue;
        }
        snprintf(why, sizeof(why), "phoenixd: closing a connection of uid %u that held no app and "
                 "sent nothing for %u s (control.idle_timeout_s)", (unsigned)c->cred.uid,
                 cs->svc->cfg->control.idle_timeout_s);
        tell_peer(c->src.fd, PHX_DEADLINE_EXCEEDED, why);
        refusal_note(&cs->idle_closed, why);
        client_drop(cs, c);
    }
    if (next == UINT64_MAX)
        return -1;
    return (int)((next - now) / 1000000 + 1);
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

/* control.admin_group's gid, looked up at most once every CS_GROUP_TTL_NS: a user flooding the
 * socket at its limits must not turn into as many (possibly remote) group lookups, nor as many
 * warnings about a group that does not exist. False when there is no such group. */
static bool admin_gid(struct phx_control_server *cs, const char *group, gid_t *gid)
{
    uint64_t now = phx_now_ns();

    if (!cs->group_checked_ns || now - cs->group_checked_ns >= CS_GROUP_TTL_NS) {
        struct group *gr = getgrnam(group);
        if (!gr)
            phx_warn("control.admin_group '%s' does not exist", group);
        cs->group_found = gr != NULL;
        cs->group_gid = gr ? gr->gr_gid : 0;
        cs->group_checked_ns = now;
    }
    *gid = cs->group_gid;
    return cs->group_found;
}

static bool client_is_admin(struct phx_control_server *cs, struct cs_client *c)
{
    const char *group = cs->svc->cfg->control.admin_group;
    gid_t gid;

    if (c->admin == CS_ADMIN_UNKNOWN) {
        bool yes = c->cred.uid == 0;
        if (!yes && *group && admin_gid(cs, group, &gid))
            yes = peer_in_group(c->src.fd, &c->cred, gid);
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
    unsigned mine = apps_of(cs, c->cred.uid);
    if (mine >= cs->svc->cfg->control.max_apps_per_uid && !client_is_admin(cs, c)) {
        phx_response_fail(resp, PHX_RESOURCE_EXHAUSTED, "phoenixd: uid %u already has %u app%s "
                          "registered (control.max_apps_per_uid)", (unsigned)c->cred.uid, mine,
                          mine == 1 ? "" : "s");
        refusal_note(&cs->refused_apps, resp->error);
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

/* C's next datagram carries descriptors (kernels without SO_PASSRIGHTS): it is left unread, C
 * is told and hung up on, and the closer thread closes its socket with them inside. */
static void client_sent_fds(struct phx_control_server *cs, struct cs_client *c)
{
    char who[96];

    snprintf(who, sizeof(who), "uid %u pid %d sent file descriptors", (unsigned)c->cred.uid,
             (int)c->cred.pid);
    refusal_note(&cs->fd_senders, who);
    c->sent_fds = true;
    reply_malformed(cs, c, 0, "it carries file descriptors, requests never do; hanging up");
    if (c->src.fd >= 0)             /* not dropped already for not taking the reply */
        client_drop(cs, c);
}

/* Reads and answers one datagram; HANGUP says the peer's end is closed. */
static void client_readable(struct phx_control_server *cs, struct cs_client *c, bool hangup)
{
    if (!cs->fds_refused && phx_control_next_has_fds(c->src.fd)) {
        client_sent_fds(cs, c);
        return;
    }
    ssize_t n = phx_sock_recv(c->src.fd, cs->rxbuf, PHX_CONTROL_MAX_REQUEST, NULL, NULL, 0);
    char why[128];

    if (n == -EAGAIN || n == -EINTR) {
        if (hangup)
            client_drop(cs, c);
        return;
    }
    /* On a seqpacket socket 0 is either EOF or an empty datagram; only the hang-up tells. */
    if ((n < 0 && n != -EMSGSIZE) || (n == 0 && hangup)) {
        client_drop(cs, c);
        return;
    }
    Phoenix__Control__Request *req = phx_control_request_decode(cs->rxbuf, n, 0, why,
                                                                sizeof(why));
    if (!req) {
        reply_malformed(cs, c, 0, why);
        return;
    }
    c->last_ns = phx_now_ns();
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
    cs->fds_refused = phx_control_refuse_fds(fd);
    if (!cs->fds_refused)
        phx_info("this kernel cannot refuse descriptors on %s (SO_PASSRIGHTS, Linux 6.16): "
                 "clients that send some are hung up on", cs->path);
    unlink(cs->path);       /* stale: we hold the pid file lock */
    if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
        chmod(cs->path, cs->svc->cfg->control.socket_mode) < 0 || listen(fd, 128) < 0)
        goto fail;
    return 0;
fail:
    snprintf(err, errlen, "cannot listen on %s: %s", cs->path, strerror(errno));
    return -errno;
}

/* Raises the descriptor limit to its hard limit, and says so when even that is short of what
 * control.max_apps apps and the extra connections could need. */
static void fd_budget(const phx_config_t *cfg)
{
    struct rlimit rl;
    unsigned long long need = (unsigned long long)(cfg->control.max_apps + CS_EXTRA_CLIENTS) *
                              CS_FDS_PER_CLIENT + 256;

    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need)
        phx_warn("RLIMIT_NOFILE is %llu, short of the ~%llu descriptors control.max_apps = %u "
                 "could need: raise it (LimitNOFILE= in the unit) or lower control.max_apps",
                 (unsigned long long)rl.rlim_cur, need, cfg->control.max_apps);
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

/* ---- the metrics endpoint ------------------------------------------------------------------- */

/* One scrape of GET /metrics: every app's series (the endpoint is the administrator's). */
static char *metrics_scrape(void *arg)
{
    struct phx_control_server *cs = arg;

    return phx_metrics_text(cs->svc, &(struct phx_metrics_scope){ .all = true });
}

/* Serves metrics.listen inside this loop (metrics_http.h). A failure to listen is a warning:
 * the service's work is the apps' calls, which do not need the endpoint. */
static void metrics_start(struct phx_control_server *cs)
{
    char err[256];
    const char *listen = cs->svc->cfg->metrics.listen;

    cs->http = phx_metrics_http_start(listen, metrics_scrape, cs, err, sizeof(err));
    if (!cs->http) {
        if (err[0])
            phx_warn("%s; the service runs without a metrics endpoint", err);
        return;
    }
    cs->metrics = (struct cs_source){ .kind = CS_METRICS, .fd = phx_metrics_http_fd(cs->http) };
    if (cs->metrics.fd < 0 || watch(cs, &cs->metrics) < 0) {
        phx_warn("metrics endpoint: cannot watch its sockets; the service runs without it");
        phx_metrics_http_stop(cs->http);
        cs->http = NULL;
        return;
    }
    phx_info("metrics: serving http://%s/metrics", phx_metrics_http_address(cs->http));
}

static void metrics_stop(struct phx_control_server *cs)
{
    if (!cs->http)
        return;
    epoll_ctl(cs->epfd, EPOLL_CTL_DEL, cs->metrics.fd, NULL);
    phx_metrics_http_stop(cs->http);
    cs->http = NULL;
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
    fd_budget(svc->cfg);
    cs->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    cs->refused_conns.what = "refusing a connection";
    cs->refused_apps.what = "refusing an app";
    cs->idle_closed.what = "idle";
    cs->fd_senders.what = "hanging up on a client";
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
    metrics_start(cs);
    return cs;
}

/* ---- loop and shutdown ---------------------------------------------------------------------- */

static void stop_listening(struct phx_control_server *cs)
{
    if (cs->listener.fd < 0)
        return;
    if (!cs->accept_paused)
        epoll_ctl(cs->epfd, EPOLL_CTL_DEL, cs->listener.fd, NULL);
    socket_close(cs, cs->listener.fd, (uid_t)-1);  /* its backlog's queues, with them */
    cs->listener.fd = -1;
    if (cs->path[0])
        unlink(cs->path);
}

/* Apps first hear SHUTDOWN on their completion ring, then the hang-up of their socket. */
static void shut_down(struct phx_control_server *cs)
{
    stop_listening(cs);
    metrics_stop(cs);
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
    case CS_METRICS:
        phx_metrics_http_run(cs->http);
        return false;
    }
    return false;
}

/* epoll_wait's timeout: the sooner of the next idle connection's expiry and the metrics
 * endpoint's own (-1: neither). */
static int loop_timeout_ms(struct phx_control_server *cs)
{
    int idle = close_idle_clients(cs);
    int http = cs->http ? phx_metrics_http_timeout_ms(cs->http) : -1;

    if (!cs->fds_refused && phx_fd_closer_retry() && (idle < 0 || idle > CS_PARKED_RETRY_MS))
        idle = CS_PARKED_RETRY_MS;      /* parked descriptors: look for room again soon */
    if (cs->accept_paused && phx_fd_closer_parked() < PHX_FD_CLOSER_PARK_MAX)
        accept_pause(cs, false);

    if (idle < 0 || http < 0)
        return idle < 0 ? http : idle;
    return idle < http ? idle : http;
}

int phx_control_server_run(struct phx_control_server *cs)
{
    struct epoll_event evs[CS_MAX_EVENTS];

    for (;;) {
        int n = epoll_wait(cs->epfd, evs, CS_MAX_EVENTS, loop_timeout_ms(cs));
        if (n < 0 && errno == EINTR)
            continue;
        if (n == 0 && cs->http)
            phx_metrics_http_run(cs->http);         /* its connections' timeouts */
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
    metrics_stop(cs);
    while (cs->clients)
        client_drop(cs, cs->clients);
    free_dropped(cs);
    if (cs->signals.fd >= 0)
        close(cs->signals.fd);
    if (cs->epfd >= 0)
        close(cs->epfd);
    if (cs->reserve_fd >= 0)
        close(cs->reserve_fd);
    free(cs->rxbuf);
    free(cs);
}
