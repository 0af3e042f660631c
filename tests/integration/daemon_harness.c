/* daemon_harness.c - phoenixd and other programs as integration tests run them (see
 * daemon_harness.h).
 *
 * Programs run as forked children that exec at once (the test process may have threads).
 * Their output comes back through pipes read with poll() until EOF or the deadline, so a
 * chatty program cannot block on a full pipe and a hung one is killed, then always reaped.
 * phoenixd runs in the foreground with its output in a file, and is up when its control socket
 * accepts a connection. */
#include "daemon_harness.h"

#include "phoenix/client.h"
#include "phx_test.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef PHX_PHOENIXD
#error "PHX_PHOENIXD must be defined by the build"
#endif

#define DAEMON_START_NS (20 * PHX_NS)
#define DAEMON_STOP_NS  (10 * PHX_NS)

void phx_sleep_ms(unsigned ms)
{
    struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

int phx_reap(pid_t pid, unsigned long long timeout_ns)
{
    unsigned long long deadline = phx_test_now_ns() + timeout_ns;
    int status = 0;

    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            break;
        if (r < 0 || phx_test_now_ns() > deadline) {
            fprintf(stderr, "child %d did not finish in time: killing it\n", (int)pid);
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            return PHX_REAP_KILLED;
        }
        phx_sleep_ms(2);
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* ---- running a program ---------------------------------------------------------------------- */

static void exec_child(char *const argv[], int as_uid, int out_fd, int err_fd)
{
    dup2(out_fd, STDOUT_FILENO);
    dup2(err_fd, STDERR_FILENO);
    if (as_uid >= 0 && (setgroups(0, NULL) < 0 || setgid((gid_t)as_uid) < 0 ||
                        setuid((uid_t)as_uid) < 0)) {
        perror("dropping privileges");
        _exit(126);
    }
    execv(argv[0], argv);
    perror(argv[0]);
    _exit(127);
}

/* Appends what FD has to BUF; false at EOF. */
static bool drain(int fd, char *buf, size_t cap, size_t *used)
{
    char scratch[4096];
    ssize_t n = read(fd, scratch, sizeof(scratch));

    if (n <= 0)
        return n < 0 && errno == EINTR;
    size_t keep = (size_t)n < cap - 1 - *used ? (size_t)n : cap - 1 - *used;
    memcpy(buf + *used, scratch, keep);
    *used += keep;
    buf[*used] = '\0';
    return true;
}

/* Reads both pipes until EOF on both or the deadline. */
static void collect(int out_fd, int err_fd, struct phx_run_result *r, unsigned long long deadline)
{
    struct pollfd fds[2] = { { out_fd, POLLIN, 0 }, { err_fd, POLLIN, 0 } };
    char *bufs[2] = { r->out, r->err };
    size_t caps[2] = { sizeof(r->out), sizeof(r->err) }, used[2] = { 0, 0 };

    while ((fds[0].fd >= 0 || fds[1].fd >= 0) && phx_test_now_ns() < deadline) {
        if (poll(fds, 2, 100) < 0 && errno != EINTR)
            break;
        for (int i = 0; i < 2; i++)
            if (fds[i].fd >= 0 && fds[i].revents && !drain(fds[i].fd, bufs[i], caps[i], &used[i]))
                fds[i].fd = -1;
    }
}

int phx_run(char *const argv[], int as_uid, struct phx_run_result *r,
            unsigned long long timeout_ns)
{
    unsigned long long deadline = phx_test_now_ns() + timeout_ns;
    int out[2], err[2];

    r->out[0] = r->err[0] = '\0';
    r->code = -1;
    if (pipe2(out, O_CLOEXEC) < 0)
        return r->code;
    if (pipe2(err, O_CLOEXEC) < 0) {
        close(out[0]);
        close(out[1]);
        return r->code;
    }
    pid_t pid = fork();
    if (pid == 0)
        exec_child(argv, as_uid, out[1], err[1]);
    close(out[1]);
    close(err[1]);
    if (pid > 0)
        collect(out[0], err[0], r, deadline);
    close(out[0]);
    close(err[0]);
    if (pid > 0) {
        unsigned long long now = phx_test_now_ns();
        r->code = phx_reap(pid, deadline > now ? deadline - now : 0);
    }
    return r->code;
}

/* ---- the daemon ----------------------------------------------------------------------------- */

static bool can_connect(const char *prefix)
{
    char err[256];
    int fd = phx_control_connect(prefix, err, sizeof(err));

    if (fd < 0)
        return false;
    close(fd);
    return true;
}

static pid_t spawn_to_file(char *const argv[], const char *out_path)
{
    pid_t pid = fork();

    if (pid == 0) {
        int fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, STDOUT_FILENO);
            dup2(fd, STDERR_FILENO);
        }
        execv(argv[0], argv);
        _exit(127);
    }
    return pid;
}

static bool daemon_dirs(struct phx_daemon *d, const char *tag, const char *conf_text)
{
    const char *dir = phx_test_tmpdir(tag);

    d->pid = 0;
    d->dir[0] = '\0';
    if (!dir)
        return false;
    snprintf(d->dir, sizeof(d->dir), "%s", dir);
    chmod(d->dir, 0755);        /* an unprivileged uid must reach control.sock */
    snprintf(d->prefix, sizeof(d->prefix), "%s/run", d->dir);
    snprintf(d->log, sizeof(d->log), "%s/phoenixd.log", d->dir);
    const char *conf = phx_test_write_file(d->dir, "phoenix.conf", conf_text);
    if (!conf)
        return false;
    snprintf(d->conf, sizeof(d->conf), "%s", conf);
    return true;
}

bool phx_daemon_start(struct phx_daemon *d, const char *tag, const char *conf_text)
{
    if (!daemon_dirs(d, tag, conf_text))
        return false;
    char *const argv[] = { PHX_PHOENIXD, "-c", d->conf, "--prefix", d->prefix, "--foreground",
                           NULL };
    unsigned long long deadline = phx_test_now_ns() + DAEMON_START_NS;

    if ((d->pid = spawn_to_file(argv, d->log)) < 0) {
        d->pid = 0;
        return false;
    }
    while (phx_test_now_ns() < deadline) {
        if (can_connect(d->prefix))
            return true;
        if (waitpid(d->pid, NULL, WNOHANG) == d->pid) {
            fprintf(stderr, "phoenixd exited at start; see %s\n", d->log);
            d->pid = 0;
            return false;
        }
        phx_sleep_ms(10);
    }
    fprintf(stderr, "phoenixd did not listen within 20 s; see %s\n", d->log);
    return false;
}

int phx_daemon_stop(struct phx_daemon *d, int sig)
{
    if (d->pid <= 0)
        return PHX_REAP_KILLED;
    kill(d->pid, sig);
    int code = phx_reap(d->pid, DAEMON_STOP_NS);
    d->pid = 0;
    if (code)
        fprintf(stderr, "phoenixd exit code %d; log in %s\n", code, d->log);
    return code;
}

void phx_daemon_cleanup(struct phx_daemon *d)
{
    if (d->pid > 0)
        phx_daemon_stop(d, SIGKILL);
    if (d->dir[0])
        phx_test_rmtree(d->dir);
}

bool phx_daemon_log_has(const struct phx_daemon *d, const char *text)
{
    FILE *f = fopen(d->log, "r");
    char *line = NULL;
    size_t cap = 0;
    bool found = false;

    while (f && !found && getline(&line, &cap, f) >= 0)
        found = strstr(line, text) != NULL;
    free(line);
    if (f)
        fclose(f);
    return found;
}
