/* launch.c - starts this process's ranks, waits for them, and says how they ended.
 *
 * Each rank is PROGRAM ARGS with PHOENIX_PREFIX, MRPC_RANK, MRPC_SIZE, MRPC_LOCAL_RANK,
 * MRPC_LOCAL_SIZE, MRPC_NODE, MRPC_HOST and MRPC_RUN_FD (its channel, rendezvous.c) added to the
 * environment. A rank that cannot be executed reports errno through a close-on-exec pipe, so
 * "no such program" is a sentence, not a silent status 127.
 *
 * One poll loop, no thread: a signalfd (SIGINT/SIGTERM/SIGHUP are forwarded to every rank,
 * SIGCHLD reaps), the ranks' channels, and with --tag-output their stdout/stderr pipes, relayed
 * line by line as "[rank] line". --timeout sends SIGTERM, then SIGKILL after KILL_GRACE_MS.
 * When a rank fails the others get SIGTERM (outside Slurm; srun handles its own steps). The exit
 * status is the first failing rank's (128+signal if killed), 0 if all succeeded. */
#include "mrpc_run.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define KILL_GRACE_MS 3000
#define OUT_LINE      4096

struct rank_proc {
    pid_t pid;
    int   out[2];               /* --tag-output: stdout, stderr read ends (-1 closed) */
    char  buf[2][OUT_LINE];
    size_t len[2];
    bool  done;
    int   status;
};

struct launch {
    const struct run_opts *o;
    const struct run_job  *job;
    struct run_rdv        *rdv;
    struct rank_proc      *procs;
    int    running;
    int    first_fail;          /* index of the first rank that failed, -1 none */
    int    stop_signal;         /* a signal we forwarded (not a failure of a rank) */
    long long kill_at_ms;       /* SIGKILL the survivors then, 0: not planned */
    bool   timed_out;
    bool   spawn_failed;        /* a rank could not be started: 127 */
};

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void set_env_int(const char *name, int v)
{
    char s[24];
    snprintf(s, sizeof s, "%d", v);
    setenv(name, s, 1);
}

/* In the child: the rank's environment and descriptors, then exec. Never returns. */
static void exec_rank(struct launch *l, int i, int errpipe, int outw[2], const char *prefix)
{
    int rank = l->job->first_rank + i, fd = rdv_child_fd(l->rdv, i);

    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    if (outw[0] >= 0) {
        dup2(outw[0], 1);
        dup2(outw[1], 2);
    }
    int kept = dup(fd);             /* without close-on-exec, unlike the socketpair */
    setenv("PHOENIX_PREFIX", prefix, 1);
    set_env_int("MRPC_RANK", rank);
    set_env_int("MRPC_SIZE", l->job->size);
    set_env_int("MRPC_LOCAL_RANK", l->job->local_rank + i);
    set_env_int("MRPC_LOCAL_SIZE", l->job->local_size);
    set_env_int("MRPC_RUN_FD", kept);
    setenv("MRPC_NODE", l->job->node, 1);
    setenv("MRPC_HOST", l->job->host, 1);
    execvp(l->o->argv[0], l->o->argv);
    int e = errno;
    if (write(errpipe, &e, sizeof e) < 0)
        _exit(127);
    _exit(127);
}

static int spawn(struct launch *l, int i, const char *prefix, char *err, size_t errlen)
{
    struct rank_proc *p = &l->procs[i];
    int ep[2], o[2] = { -1, -1 }, e[2] = { -1, -1 }, outw[2] = { -1, -1 };

    if (pipe2(ep, O_CLOEXEC) < 0 ||
        (l->o->tag_output && (pipe2(o, O_CLOEXEC) < 0 || pipe2(e, O_CLOEXEC) < 0))) {
        snprintf(err, errlen, "cannot create pipes: %s", strerror(errno));
        return -1;
    }
    outw[0] = o[1];
    outw[1] = e[1];
    p->pid = fork();
    if (p->pid == 0)
        exec_rank(l, i, ep[1], outw, prefix);
    close(ep[1]);
    if (o[1] >= 0) {
        close(o[1]);
        close(e[1]);
    }
    p->out[0] = o[0];
    p->out[1] = e[0];
    int code = 0;
    ssize_t n = p->pid > 0 ? read(ep[0], &code, sizeof code) : -1;
    close(ep[0]);
    if (p->pid < 0 || n == (ssize_t)sizeof code) {
        snprintf(err, errlen, "cannot run %s: %s", l->o->argv[0],
                 p->pid < 0 ? strerror(errno) : strerror(code));
        if (p->pid > 0)
            waitpid(p->pid, NULL, 0);
        p->pid = 0;
        return -1;
    }
    l->running++;
    return 0;
}

static void signal_all(struct launch *l, int sig)
{
    for (int i = 0; i < l->job->nlocal; i++)
        if (l->procs[i].pid > 0 && !l->procs[i].done)
            kill(l->procs[i].pid, sig);
}

/* Stops the ranks still running: SIGTERM now, SIGKILL after the grace period. */
static void stop_all(struct launch *l, int sig)
{
    signal_all(l, sig);
    if (!l->kill_at_ms)
        l->kill_at_ms = now_ms() + KILL_GRACE_MS;
}

static void describe(const struct launch *l, int i, char *s, size_t len)
{
    int st = l->procs[i].status;

    if (WIFSIGNALED(st))
        snprintf(s, len, "was killed by signal %d (%s)", WTERMSIG(st), strsignal(WTERMSIG(st)));
    else
        snprintf(s, len, "exited with status %d", WEXITSTATUS(st));
}

static void reaped(struct launch *l, int i, int status)
{
    struct rank_proc *p = &l->procs[i];
    char how[96];

    p->done = true;
    p->status = status;
    l->running--;
    rdv_rank_gone(l->rdv, i);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return;
    describe(l, i, how, sizeof how);
    if (l->stop_signal && WIFSIGNALED(status) && WTERMSIG(status) == l->stop_signal)
        return;                             /* it did what we asked */
    fprintf(stderr, "mrpc-run: rank %d on node %s (%s) %s\n", l->job->first_rank + i,
            l->job->node, l->job->host, how);
    if (l->first_fail < 0) {
        l->first_fail = i;
        if (!l->job->slurm && l->running > 0) {
            l->stop_signal = SIGTERM;
            stop_all(l, SIGTERM);
        }
    }
}

static void reap(struct launch *l)
{
    int status;
    for (int i = 0; i < l->job->nlocal; i++) {
        struct rank_proc *p = &l->procs[i];
        if (p->pid > 0 && !p->done && waitpid(p->pid, &status, WNOHANG) == p->pid)
            reaped(l, i, status);
    }
}

/* --tag-output: relays complete lines of rank I's stream S (a partial one at EOF). */
static void relay(struct launch *l, int i, int s)
{
    struct rank_proc *p = &l->procs[i];
    FILE *to = s ? stderr : stdout;
    ssize_t n = read(p->out[s], p->buf[s] + p->len[s], sizeof p->buf[s] - p->len[s]);
    bool eof = n <= 0 && !(n < 0 && errno == EINTR);

    if (n > 0)
        p->len[s] += (size_t)n;
    char *start = p->buf[s], *nl;
    while ((nl = memchr(start, '\n', p->len[s] - (size_t)(start - p->buf[s])))) {
        fprintf(to, "[%d] %.*s\n", l->job->first_rank + i, (int)(nl - start), start);
        start = nl + 1;
    }
    size_t rest = p->len[s] - (size_t)(start - p->buf[s]);
    if (rest && (eof || rest == sizeof p->buf[s])) {
        fprintf(to, "[%d] %.*s\n", l->job->first_rank + i, (int)rest, start);
        rest = 0;
    }
    memmove(p->buf[s], start, rest);
    p->len[s] = rest;
    fflush(to);
    if (eof) {
        close(p->out[s]);
        p->out[s] = -1;
    }
}

static void on_signal(struct launch *l, int sfd)
{
    struct signalfd_siginfo si;

    while (read(sfd, &si, sizeof si) == (ssize_t)sizeof si) {
        if (si.ssi_signo == SIGCHLD)
            continue;
        l->stop_signal = (int)si.ssi_signo;
        signal_all(l, (int)si.ssi_signo);   /* forwarded; a second one is forwarded again */
    }
    reap(l);
}

/* Polls signals, channels and output until every rank has exited and its output is drained. */
static void loop(struct launch *l, int sfd)
{
    int n = l->job->nlocal;
    struct pollfd *pf = calloc((size_t)(1 + 3 * n), sizeof *pf);
    long long deadline = l->o->timeout_s ? now_ms() + 1000LL * l->o->timeout_s : 0;

    if (!pf)
        return;
    for (;;) {
        int k = 0;
        bool open_out = false;
        pf[k++] = (struct pollfd){ .fd = sfd, .events = POLLIN };
        for (int i = 0; i < n; i++) {
            pf[k++] = (struct pollfd){ .fd = rdv_fd(l->rdv, i), .events = POLLIN };
            for (int s = 0; s < 2; s++) {
                pf[k++] = (struct pollfd){ .fd = l->procs[i].out[s], .events = POLLIN };
                open_out |= l->procs[i].out[s] >= 0;
            }
        }
        if (l->running == 0 && !open_out)
            break;
        long long t = now_ms(), wake = -1;
        if (deadline && !l->timed_out)
            wake = deadline;
        if (l->kill_at_ms && (wake < 0 || l->kill_at_ms < wake))
            wake = l->kill_at_ms;
        int ms = wake < 0 ? -1 : (int)(wake > t ? wake - t : 0);
        if (poll(pf, (nfds_t)k, ms) < 0 && errno != EINTR)
            break;
        t = now_ms();
        if (deadline && !l->timed_out && t >= deadline) {
            l->timed_out = true;
            fprintf(stderr, "mrpc-run: the job ran past --timeout %u s on node %s: stopping its ranks\n",
                    l->o->timeout_s, l->job->node);
            l->stop_signal = SIGTERM;
            stop_all(l, SIGTERM);
        }
        if (l->kill_at_ms && t >= l->kill_at_ms) {
            signal_all(l, SIGKILL);
            l->kill_at_ms = 0;
        }
        if (pf[0].revents)
            on_signal(l, sfd);
        for (int i = 0; i < n; i++) {
            struct pollfd *q = &pf[1 + 3 * i];
            if (q[0].fd >= 0 && q[0].revents)
                rdv_handle(l->rdv, i);
            for (int s = 0; s < 2; s++)
                if (q[1 + s].fd >= 0 && q[1 + s].revents)
                    relay(l, i, s);
        }
        reap(l);
    }
    free(pf);
}

static int exit_status(const struct launch *l)
{
    if (l->first_fail >= 0) {
        int st = l->procs[l->first_fail].status;
        return WIFSIGNALED(st) ? 128 + WTERMSIG(st) : WEXITSTATUS(st);
    }
    if (l->timed_out)
        return 124;
    for (int i = 0; i < l->job->nlocal; i++)    /* killed by a signal we forwarded */
        if (WIFSIGNALED(l->procs[i].status))
            return 128 + WTERMSIG(l->procs[i].status);
    return 0;
}

void launch_block_signals(sigset_t *set)
{
    static const int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGCHLD };

    sigemptyset(set);
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        /* An ignored signal is dropped, not queued for the signalfd (a shell starts background
         * jobs with SIGINT ignored): take them back, and the ranks start with the defaults. */
        signal(sigs[i], SIG_DFL);
        sigaddset(set, sigs[i]);
    }
    sigprocmask(SIG_BLOCK, set, NULL);
}

int launch_run(const struct run_opts *o, const struct run_job *job, const struct run_service *svc)
{
    struct launch l = { .o = o, .job = job, .first_fail = -1 };
    char err[512];
    sigset_t set;
    int rc = 1;

    launch_block_signals(&set);
    int sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    l.rdv = rdv_create(job);
    l.procs = calloc((size_t)job->nlocal, sizeof *l.procs);
    if (sfd < 0 || !l.rdv || !l.procs) {
        fprintf(stderr, "mrpc-run: out of resources on node %s: %s\n", job->node, strerror(errno));
        goto out;
    }
    for (int i = 0; i < job->nlocal; i++)
        l.procs[i].out[0] = l.procs[i].out[1] = -1;
    for (int i = 0; i < job->nlocal; i++)
        if (spawn(&l, i, svc->prefix, err, sizeof err) < 0) {
            fprintf(stderr, "mrpc-run: rank %d on node %s: %s\n", job->first_rank + i, job->node,
                    err);
            l.spawn_failed = true;
            l.stop_signal = SIGTERM;
            stop_all(&l, SIGTERM);
            break;
        }
    rdv_close_child_fds(l.rdv);
    loop(&l, sfd);
    rc = l.spawn_failed ? 127 : exit_status(&l);
out:
    rdv_destroy(l.rdv);
    free(l.procs);
    if (sfd >= 0)
        close(sfd);
    return rc;
}
