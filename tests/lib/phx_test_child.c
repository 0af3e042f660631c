/* phx_test_child.c - a program run alongside a test, which talks to it while it runs (see
 * phx_test.h): a server that must say "listening" before its client starts, a peer fed through
 * its stdin, a benchmark under mpirun. One copy of fork/exec, pipes, reading with a deadline and
 * reaping with escalation, for the tests that used to keep their own.
 *
 * The child gets its own stdout and stderr pipes (unless told to keep ours), dies with the test,
 * and may lead its own process group so that a timeout stops everything it started. Reading polls
 * both pipes, so a chatty child cannot block on a full one while the test waits for a line. */
#include "phx_test.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define TERM_GRACE_MS 500

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

/* In the child, between fork and exec. */
static void child_exec(char *const argv[], const char *const env_add[], unsigned flags,
                       const int in[2], const int out[2], const int err[2], pid_t parent)
{
    if (flags & PHX_TEST_CHILD_OWN_GROUP)
        setpgid(0, 0);
    phx_test_die_with_parent(parent);
    if (flags & PHX_TEST_CHILD_STDIN)
        dup2(in[0], STDIN_FILENO);
    if (!(flags & PHX_TEST_CHILD_KEEP_OUTPUT)) {
        dup2(out[1], STDOUT_FILENO);
        dup2(err[1], STDERR_FILENO);
    }
    for (const char *const *e = env_add; e && *e; e++)
        putenv((char *)*e);
    execvp(argv[0], argv);
    fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
    _exit(127);
}

/* The pipes FLAGS ask for (the others stay -1). Returns 0 or -errno. */
static int make_pipes(unsigned flags, int in[2], int out[2], int err[2])
{
    in[0] = in[1] = out[0] = out[1] = err[0] = err[1] = -1;
    if ((flags & PHX_TEST_CHILD_STDIN) && pipe2(in, O_CLOEXEC) < 0)
        return -errno;
    if (!(flags & PHX_TEST_CHILD_KEEP_OUTPUT) &&
        (pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0))
        return -errno;
    return 0;
}

int phx_test_child_spawn(phx_test_child_t *c, char *const argv[], const char *const env_add[],
                         unsigned flags)
{
    int in[2], out[2], err[2];

    memset(c, 0, sizeof(*c));
    c->in_fd = c->out_fd = c->err_fd = c->code = -1;
    c->flags = flags;
    int rc = make_pipes(flags, in, out, err);
    pid_t parent = getpid();
    c->pid = rc == 0 ? fork() : -1;
    if (c->pid == 0)
        child_exec(argv, env_add, flags, in, out, err, parent);
    if (rc == 0 && c->pid < 0)
        rc = -errno;
    close_fd(&in[0]);
    close_fd(&out[1]);
    close_fd(&err[1]);
    c->in_fd = in[1];
    c->out_fd = out[0];
    c->err_fd = err[0];
    if (rc < 0) {
        c->pid = 0;
        close_fd(&c->in_fd);
        close_fd(&c->out_fd);
        close_fd(&c->err_fd);
        return rc;
    }
    if (flags & PHX_TEST_CHILD_OWN_GROUP)
        setpgid(c->pid, c->pid);    /* both sides set it: no race with the exec */
    return 0;
}

/* Appends what FD has to BUF (what does not fit is read and dropped); at EOF closes it. */
static void drain(int *fd, char *buf, size_t *len)
{
    char scratch[4096];
    size_t room = PHX_TEST_CHILD_OUT_CAP - 1 - *len;
    ssize_t n = room ? read(*fd, buf + *len, room) : read(*fd, scratch, sizeof(scratch));

    if (n < 0 && errno == EINTR)
        return;
    if (n <= 0) {
        close_fd(fd);
        return;
    }
    if (room) {
        *len += (size_t)n;
        buf[*len] = '\0';
    }
}

bool phx_test_child_wait_for(phx_test_child_t *c, const char *needle,
                             unsigned long long timeout_ns)
{
    unsigned long long deadline = phx_test_now_ns() + timeout_ns;

    while (c->out_fd >= 0 || c->err_fd >= 0) {
        if (needle && strstr(c->out, needle))
            return true;
        unsigned long long now = phx_test_now_ns();
        if (now >= deadline)
            return false;
        struct pollfd p[2] = { { .fd = c->out_fd, .events = POLLIN },
                               { .fd = c->err_fd, .events = POLLIN } };
        if (poll(p, 2, (int)((deadline - now) / 1000000 + 1)) < 0 && errno != EINTR)
            return false;
        if (p[0].revents)
            drain(&c->out_fd, c->out, &c->out_len);
        if (p[1].revents)
            drain(&c->err_fd, c->err, &c->err_len);
    }
    return needle ? strstr(c->out, needle) != NULL : true;
}

static int exit_code(int status)
{
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

bool phx_test_child_exited(phx_test_child_t *c)
{
    int status;

    if (c->pid <= 0)
        return c->code >= 0;
    if (waitpid(c->pid, &status, WNOHANG) != c->pid)
        return false;
    c->code = exit_code(status);
    c->pid = 0;
    return true;
}

/* SIGTERM, a grace period, SIGKILL: to the group when the child leads one. */
static void stop(phx_test_child_t *c)
{
    pid_t target = c->flags & PHX_TEST_CHILD_OWN_GROUP ? -c->pid : c->pid;
    unsigned long long deadline = phx_test_now_ns() + TERM_GRACE_MS * 1000000ull;

    kill(target, SIGTERM);
    while (!phx_test_child_exited(c) && phx_test_now_ns() < deadline)
        phx_test_sleep_ms(10);
    kill(target, SIGKILL);      /* the group's other members too, if the leader went first */
    if (c->pid > 0) {
        waitpid(c->pid, NULL, 0);
        c->pid = 0;
    }
    c->code = PHX_TEST_KILLED;
}

int phx_test_child_reap(phx_test_child_t *c, unsigned long long timeout_ns)
{
    unsigned long long deadline = phx_test_now_ns() + timeout_ns;

    close_fd(&c->in_fd);
    while (!phx_test_child_exited(c)) {
        unsigned long long now = phx_test_now_ns();
        if (now >= deadline) {
            stop(c);
            break;
        }
        if (c->out_fd >= 0 || c->err_fd >= 0)
            phx_test_child_wait_for(c, NULL, deadline - now < 10000000 ? deadline - now : 10000000);
        else
            phx_test_sleep_ms(2);
    }
    phx_test_child_wait_for(c, NULL, 200000000ull);    /* what it wrote last */
    close_fd(&c->out_fd);
    close_fd(&c->err_fd);
    return c->code;
}
