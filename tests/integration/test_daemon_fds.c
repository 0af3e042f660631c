/* test_daemon_fds.c - a client that sends phoenixd a descriptor whose close blocks cannot stall
 * the control loop.
 *
 * The descriptor is the one a red-team test used: a unix socket with, in flight inside it, a TCP
 * connection to a local listener that never reads, its send buffer full and SO_LINGER set for
 * 100000 s. Whoever drops the last reference to the unix socket drops the TCP socket's too, and
 * its close waits for the peer to take the data. The attacker is a forked child that sends it
 * with a List request and closes its own copy while phoenixd is stopped (SIGSTOP), leaving
 * phoenixd the last reference whatever the scheduler does (when
 * the kernel refuses it, the child's own close is the one stuck; it is reaped by PID at the
 * end). The case runs twice: as the kernel is (6.16 and later refuse the descriptor at
 * sendmsg, EPERM, since phoenixd turns SO_PASSRIGHTS off), and with PHOENIXD_TEST_NO_PASSRIGHTS,
 * as on an older kernel, where phoenixd must answer, hang up and leave the close to its closer
 * thread (the first run behaves so too on a kernel before 6.16). Either way List must still be answered within 5 s, a new app must register, and
 * SIGTERM must stop phoenixd. Closing the listener at the end resets the connection, which ends
 * any close still waiting.
 *
 * A third case, as on an older kernel, wedges the closer that way and then opens and closes more
 * control connections than it queues and parks: phoenixd must stop accepting (and say so)
 * rather than close one on the control loop, keep answering a connection it already holds, and
 * accept again once the close returns. */
#include "daemon_cases.h"
#include "fd_closer.h"
#include "phoenix/fdpass.h"
#include "phoenix/status.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define FILL_MAX_WRITES 100000      /* bound on the writes that fill the send buffer */

/* What the attacker tells the parent over a pipe: SENT once the carrier went and its own copy
 * is closed, then the outcome. */
enum attack { ATTACK_SENT = 'S', ATTACK_REFUSED = 'R', ATTACK_ANSWERED = 'A', ATTACK_BROKEN = 'X' };

/* A listener on 127.0.0.1 with a tiny receive buffer; it never accepts or reads. */
static int quiet_listener(struct sockaddr_in *a)
{
    socklen_t alen = sizeof(*a);
    int small = 4096, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    *a = (struct sockaddr_in){ .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    CU_ASSERT_FATAL(fd >= 0);
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    CU_ASSERT_FATAL(bind(fd, (struct sockaddr *)a, sizeof(*a)) == 0);
    CU_ASSERT_FATAL(getsockname(fd, (struct sockaddr *)a, &alen) == 0);
    CU_ASSERT_FATAL(listen(fd, 1) == 0);
    return fd;
}

/* In the child: a connection to A whose send buffer is full and whose close lingers, put in
 * flight inside a unix socket; returns that socket (-1 on failure). */
static int carrier_make(const struct sockaddr_in *a)
{
    int small = 4096, pair[2], i;
    struct linger lg = { .l_onoff = 1, .l_linger = 100000 };
    static const char chunk[4096];
    int tcp = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (tcp < 0)
        return -1;
    setsockopt(tcp, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
    if (connect(tcp, (const struct sockaddr *)a, sizeof(*a)) < 0)
        return -1;
    for (i = 0; i < FILL_MAX_WRITES; i++)
        if (send(tcp, chunk, sizeof(chunk), MSG_NOSIGNAL | MSG_DONTWAIT) < 0 && errno == EAGAIN)
            break;
    if (i == 0 || i == FILL_MAX_WRITES ||       /* some went, then the window closed */
        setsockopt(tcp, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) < 0 ||
        socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, pair) < 0 ||
        phx_sock_send(pair[0], "t", 1, &tcp, 1) != 1)
        return -1;
    close(tcp);
    close(pair[0]);
    return pair[1];
}

/* In the child: the reply to a request that carried descriptors, then the hang-up. Closed with
 * that datagram unread, the connection also reports ECONNRESET once, before or after the reply. */
static enum attack read_refusal(int sock)
{
    uint8_t rx[PHX_CONTROL_MAX_RESPONSE];
    struct timeval tv = { .tv_sec = 5 };
    bool answered = false, ended = false;

    setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    for (int i = 0; i < 3 && !ended; i++) {
        ssize_t n = phx_sock_recv(sock, rx, sizeof(rx), NULL, NULL, 0);
        if (n == -ECONNRESET)
            continue;
        Phoenix__Control__Response *resp =
            n > 0 ? phoenix__control__response__unpack(NULL, (size_t)n, rx) : NULL;
        ended = n <= 0;
        if (!resp)
            continue;
        answered = resp->status == PHX_INVALID_ARGUMENT &&
                   strstr(resp->error, "carries file descriptors");
        printf("\n    reply -> %s: %s", phx_status_name(resp->status), resp->error);
        phoenix__control__response__free_unpacked(resp, NULL);
    }
    return answered && ended ? ATTACK_ANSWERED : ATTACK_BROKEN;
}

/* *REQ as a List request with id ID, its body in *BODY. */
static void list_request(Phoenix__Control__Request *req, Phoenix__Control__ListRequest *body,
                         uint64_t id)
{
    *req = (Phoenix__Control__Request)PHOENIX__CONTROL__REQUEST__INIT;
    *body = (Phoenix__Control__ListRequest)PHOENIX__CONTROL__LIST_REQUEST__INIT;
    req->id = id;
    req->body_case = PHOENIX__CONTROL__REQUEST__BODY_LIST;
    req->list = body;
}

/* Subscriptions in List asked on SOCK, or -1 when it is not answered (control_call waits 5 s). */
static int list_on(int sock)
{
    Phoenix__Control__Request req;
    Phoenix__Control__ListRequest body;
    int n = -1;

    list_request(&req, &body, 7);
    Phoenix__Control__Response *resp = control_call(sock, &req, NULL, NULL, 0);
    if (resp && resp->status == PHX_OK && resp->body_case == PHOENIX__CONTROL__RESPONSE__BODY_LIST)
        n = (int)resp->list->n_subscriptions;
    if (resp)
        phoenix__control__response__free_unpacked(resp, NULL);
    return n;
}

/* The same on a connection of its own. */
static int list_count(const char *prefix)
{
    char err[256];
    int sock = phx_control_connect(prefix, err, sizeof(err));

    if (sock < 0)
        return -1;
    int n = list_on(sock);
    close(sock);
    return n;
}

/* In the child: sends the carrier with a List request on a connection of its own, closes its
 * own copy at once (phoenixd, stopped meanwhile, holds the last reference then) and says so on
 * TELL (ATTACK_SENT), then reads the refusal. */
static enum attack attack(const char *prefix, const struct sockaddr_in *a, int tell)
{
    Phoenix__Control__Request req;
    Phoenix__Control__ListRequest body;
    uint8_t buf[64];
    char err[256], sent_mark = ATTACK_SENT;
    int carrier = carrier_make(a), sock = phx_control_connect(prefix, err, sizeof(err));

    if (carrier < 0 || sock < 0)
        return ATTACK_BROKEN;
    list_request(&req, &body, 9);
    size_t len = phoenix__control__request__pack(&req, buf);
    ssize_t sent = phx_sock_send(sock, buf, len, &carrier, 1);
    if (sent >= 0)
        close(carrier);         /* the message in flight holds a reference: this close is quick */
    (void)!write(tell, &sent_mark, 1);
    printf("\n    sendmsg with the carrier -> %s", sent < 0 ? strerror((int)-sent) : "sent");
    fflush(stdout);
    if (sent == -EPERM)
        return ATTACK_REFUSED;
    return sent == (ssize_t)len ? read_refusal(sock) : ATTACK_BROKEN;
}

/* A byte from FD within 10 s, or ATTACK_BROKEN. */
static char read_mark(int fd)
{
    struct pollfd pfd = { .fd = fd, .events = POLLIN };
    char c = ATTACK_BROKEN;

    if (poll(&pfd, 1, 10000) != 1 || read(fd, &c, 1) != 1)
        return ATTACK_BROKEN;
    return c;
}

/* Forks the attacker against D; returns its pid, its outcome in *OUTCOME (ATTACK_BROKEN if none
 * came in 10 s). D is stopped (SIGSTOP) until the attacker has sent the carrier and closed its
 * own copy: were phoenixd to drop the message first, the attacker's close would be the last
 * one and block instead of phoenixd's (a race the attacker lost once under ASan). A refused
 * child's close is the last: it leaves it to its exit, which does not linger. */
static pid_t attacker_run(const struct phx_daemon *d, const struct sockaddr_in *a, char *outcome)
{
    int p[2];

    CU_ASSERT_FATAL(pipe(p) == 0);
    CU_ASSERT_FATAL(kill(d->pid, SIGSTOP) == 0);
    int stopped;
    (void)waitpid(d->pid, &stopped, WUNTRACED);     /* until it is: phoenixd is our child */
    pid_t pid = fork();
    if (pid == 0) {
        close(p[0]);
        char c = (char)attack(d->prefix, a, p[1]);
        (void)!write(p[1], &c, 1);
        _exit(0);
    }
    close(p[1]);
    char mark = pid > 0 ? read_mark(p[0]) : ATTACK_BROKEN;
    kill(d->pid, SIGCONT);
    CU_ASSERT_FATAL(pid > 0);
    *outcome = mark == ATTACK_SENT ? read_mark(p[0]) : mark;
    close(p[0]);
    return pid;
}

static void check_blocking_close(bool no_passrights)
{
    struct phx_daemon d;
    struct sockaddr_in a;
    char err[256], outcome;

    if (no_passrights)
        setenv("PHOENIXD_TEST_NO_PASSRIGHTS", "1", 1);
    bool up = daemon_start(&d, no_passrights ? "fdsold" : "fds", NULL, NULL);
    unsetenv("PHOENIXD_TEST_NO_PASSRIGHTS");
    CU_ASSERT_FATAL(up);
    int listener = quiet_listener(&a);
    pid_t child = attacker_run(&d, &a, &outcome);

    CU_ASSERT_EQUAL(outcome, !no_passrights && kernel_refuses_fds() ? ATTACK_REFUSED
                                                                      : ATTACK_ANSWERED);
    phx_test_sleep_ms(200);     /* the child's close, and phoenixd's, have happened by now */
    unsigned long long t0 = phx_test_now_ns();
    CU_ASSERT_EQUAL(list_count(d.prefix), 0);
    phx_client_t *app = app_register(d.prefix, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL(app);
    CU_ASSERT_EQUAL(list_count(d.prefix), 1);
    printf("\n    List, register, List answered in %.0f ms",
           (double)(phx_test_now_ns() - t0) / 1e6);
    if (outcome == ATTACK_ANSWERED)
        CU_ASSERT(log_shows(&d, "sent file descriptors"));
    if (app)
        phx_client_close(app);
    CU_ASSERT_EQUAL(phx_daemon_stop(&d, SIGTERM), 0);
    close(listener);            /* resets the stuck connection: ends any close still waiting */
    CU_ASSERT_EQUAL(phx_test_reap(child, 10 * PHX_NS), 0);
    phx_daemon_cleanup(&d);
    printf("\n");
}

/* Opens and closes N control connections, waiting (10 s at most in all) while the backlog is
 * full; returns how many were made. */
static unsigned flood(const char *prefix, unsigned n)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    unsigned long long deadline = phx_test_now_ns() + 10 * PHX_NS;
    unsigned made = 0;

    if ((size_t)snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/control.sock", prefix) >=
        sizeof(sa.sun_path))
        return 0;
    while (made < n && phx_test_now_ns() < deadline) {
        int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
            break;
        int rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
        close(fd);
        if (rc == 0)
            made++;
        else if (errno == EAGAIN)
            phx_test_sleep_ms(5);       /* the backlog is full: let the control loop catch up */
        else
            break;
    }
    return made;
}

static void test_closer_stuck(void)
{
    struct phx_daemon d;
    struct sockaddr_in a;
    char err[256], outcome;
    const unsigned n = PHX_FD_CLOSER_CAP + PHX_FD_CLOSER_PARK_MAX + 64;

    setenv("PHOENIXD_TEST_NO_PASSRIGHTS", "1", 1);
    bool up = daemon_start(&d, "fdstuck", NULL, NULL);
    unsetenv("PHOENIXD_TEST_NO_PASSRIGHTS");
    CU_ASSERT_FATAL(up);
    int held = phx_control_connect(d.prefix, err, sizeof(err));
    CU_ASSERT_FATAL(held >= 0);
    int listener = quiet_listener(&a);
    pid_t child = attacker_run(&d, &a, &outcome);
    CU_ASSERT_EQUAL(outcome, ATTACK_ANSWERED);

    unsigned made = flood(d.prefix, n);
    printf("\n    %u connections opened and closed", made);
    CU_ASSERT(log_shows(&d, "accepting no new control connections"));

    CU_ASSERT(list_on(held) >= 0);                  /* the control loop still runs */

    close(listener);            /* the stuck close returns; the parked ones drain */
    int seen = -1;
    for (int i = 0; i < 100 && seen < 0; i++) {     /* 10 s at most */
        seen = list_count(d.prefix);
        if (seen < 0)
            phx_test_sleep_ms(100);
    }
    CU_ASSERT_EQUAL(seen, 0);   /* accepted and answered again */
    close(held);
    CU_ASSERT_EQUAL(phx_daemon_stop(&d, SIGTERM), 0);
    CU_ASSERT_EQUAL(phx_test_reap(child, 10 * PHX_NS), 0);
    phx_daemon_cleanup(&d);
    printf("\n");
}

static void test_kernel_refuses(void)
{
    check_blocking_close(false);
}

static void test_closer_thread(void)
{
    check_blocking_close(true);
}

int main(int argc, char **argv)
{
    static const phx_test_case_t cases[] = {
        { "a descriptor whose close blocks, refused by the kernel", test_kernel_refuses },
        { "a descriptor whose close blocks, kernel without SO_PASSRIGHTS", test_closer_thread },
        { "a stuck closer with its queue and parking full: accepting pauses", test_closer_stuck },
        { NULL, NULL },
    };
    signal(SIGPIPE, SIG_IGN);
    return phx_test_main("daemon_fds", cases, argc, argv);
}
