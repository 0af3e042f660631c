/* phx_test_run.c - child processes as tests run them: reaping with a deadline, and running a
 * program to its end with its output captured (see phx_test.h).
 *
 * Programs run as forked children that exec at once (the test process may have threads).
 * Their output comes back through pipes read with poll() until EOF or the deadline, so a
 * chatty program cannot block on a full pipe and a hung one is killed, then always reaped. */
#include "phx_test.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#define RUN_TIMEOUT_NS (30 * 1000000000ull)

int phx_test_reap(pid_t pid, unsigned long long timeout_ns)
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
            return PHX_TEST_KILLED;
        }
        phx_test_sleep_ms(2);
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

void phx_test_die_with_parent(pid_t parent)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)        /* it died before the line above */
        _exit(128 + SIGKILL);
}

static void exec_child(char *const argv[], const struct phx_test_run_params *p, int out_fd,
                       int err_fd, pid_t parent)
{
    uint64_t fields = p ? p->field_mask : 0;
    const char *path = fields & PHX_TEST_RUN_PARAM_FIELD_PATH ? p->path : argv[0];
    char *const *env = fields & PHX_TEST_RUN_PARAM_FIELD_ENV ? p->env : environ;
    int uid = fields & PHX_TEST_RUN_PARAM_FIELD_UID ? p->uid : -1;

    dup2(out_fd, STDOUT_FILENO);
    dup2(err_fd, STDERR_FILENO);
    if (uid >= 0 && (setgroups(0, NULL) < 0 || setgid((gid_t)uid) < 0 || setuid((uid_t)uid) < 0)) {
        perror("dropping privileges");
        _exit(126);
    }
    phx_test_die_with_parent(parent);
    execve(path, argv, env);
    perror(path);
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
static void collect(int out_fd, int err_fd, phx_test_run_result_t *r, unsigned long long deadline)
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

int phx_test_run(char *const argv[], const struct phx_test_run_params *params,
                 phx_test_run_result_t *r)
{
    bool timed = params && (params->field_mask & PHX_TEST_RUN_PARAM_FIELD_TIMEOUT);
    bool merge = params && (params->field_mask & PHX_TEST_RUN_PARAM_FIELD_FLAGS) &&
                 (params->flags & PHX_TEST_RUN_MERGE_OUTPUT);
    unsigned long long deadline = phx_test_now_ns() + (timed ? params->timeout_ns : RUN_TIMEOUT_NS);
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
    pid_t parent = getpid(), pid = fork();
    if (pid == 0)
        exec_child(argv, params, out[1], merge ? out[1] : err[1], parent);
    close(out[1]);
    close(err[1]);
    if (pid > 0)
        collect(out[0], err[0], r, deadline);
    close(out[0]);
    close(err[0]);
    if (pid > 0) {
        unsigned long long now = phx_test_now_ns();
        r->code = phx_test_reap(pid, deadline > now ? deadline - now : 0);
    }
    return r->code;
}
