/* service.c - makes sure this node has a Phoenix service for the job's ranks.
 *
 * The node's system service is used when its control socket answers (--system-prefix, whose
 * default is PHOENIX_PREFIX if the user set it, else /run/phoenix). Otherwise the job gets a service of its
 * own on this node, in RUN_DIR/mrpc-run-<uid>/<job>-<node>/ (0700, the user's): phoenixd
 * --foreground --prefix DIR/p, its log DIR/phoenixd.log.
 *
 * Exactly one per node per job, however many ranks start at once, and gone after the last:
 *   - every mrpc-run holds a shared flock on DIR/users for as long as its ranks run (the kernel
 *     drops it when the process dies, even by SIGKILL: a lock is never stale);
 *   - starting is decided under an exclusive flock on DIR/lock: the first to find no answering
 *     socket starts a keeper, the others find the socket;
 *   - the keeper (a child of mrpc-run, detached from the task's output so srun does not wait for
 *     it) runs phoenixd and blocks on an exclusive flock of DIR/users, which it gets when the last
 *     user is gone; it then stops phoenixd (SIGTERM, 5 s, SIGKILL) and removes the prefix. It
 *     holds DIR/users until it has, so a rank that arrives meanwhile waits and starts a new one.
 * A phoenixd that a killed job left running and that no longer answers is killed by its pid file
 * before a new one starts. */
#include "mrpc_run.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define LOCK_WAIT_MS   15000    /* a keeper stops its phoenixd within ~5 s */
#define START_WAIT_MS  10000
#define STOP_WAIT_MS   5000

static void sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

/* true when PREFIX/control.sock accepts a connection. */
static bool service_answers(const char *prefix)
{
    struct sockaddr_un a = { .sun_family = AF_UNIX };
    int fd, n = snprintf(a.sun_path, sizeof a.sun_path, "%s/control.sock", prefix);

    if (n < 0 || (size_t)n >= sizeof a.sun_path)
        return false;
    if ((fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0)) < 0)
        return false;
    bool ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
    close(fd);
    return ok;
}

/* flock with a bounded wait; 0 or -1 (errno ETIMEDOUT). */
static int lock_within(int fd, int op, int ms)
{
    for (int waited = 0;; waited += 50) {
        if (flock(fd, op | LOCK_NB) == 0)
            return 0;
        if (errno != EWOULDBLOCK && errno != EINTR)
            return -1;
        if (waited >= ms) {
            errno = ETIMEDOUT;
            return -1;
        }
        sleep_ms(50);
    }
}

static int mkdir_private(const char *path, char *err, size_t errlen)
{
    struct stat st;

    if (mkdir(path, 0700) < 0 && errno != EEXIST) {
        snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
        return -1;
    }
    if (lstat(path, &st) < 0 || !S_ISDIR(st.st_mode) || st.st_uid != geteuid() ||
        (st.st_mode & 0077)) {
        snprintf(err, errlen, "%s is not a private directory of this user: refusing to use it",
                 path);
        return -1;
    }
    return 0;
}

static pid_t read_pid(const char *path)
{
    FILE *f = fopen(path, "re");
    long pid = 0;

    if (f) {
        if (fscanf(f, "%ld", &pid) != 1)
            pid = 0;
        fclose(f);
    }
    return pid > 1 && pid < INT_MAX ? (pid_t)pid : 0;
}

/* true when PID runs the program called NAME (its comm): a pid file may outlive its process and
 * the number be reused. */
static bool pid_is(pid_t pid, const char *name)
{
    char path[64], comm[32] = "";
    snprintf(path, sizeof path, "/proc/%d/comm", (int)pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return false;
    bool ok = fgets(comm, sizeof comm, f) && strncmp(comm, name, strlen(name)) == 0 &&
              (comm[strlen(name)] == '\n' || comm[strlen(name)] == '\0');
    fclose(f);
    return ok;
}

/* Stops PID: SIGTERM, a bounded wait, SIGKILL. Reaps it when it is our child; true when it then
 * exited with status 0 (a clean stop). */
static bool stop_pid(pid_t pid)
{
    int status = -1;

    if (pid <= 0 || kill(pid, SIGTERM) < 0)
        return false;
    for (int ms = 0; ms < STOP_WAIT_MS; ms += 50) {
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid)
            return WIFEXITED(status) && WEXITSTATUS(status) == 0;
        if (w < 0 && kill(pid, 0) < 0)
            return false;
        sleep_ms(50);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return false;
}

/* Outside Slurm the directory is this run's alone: remove it, log included, after a clean stop. */
static void remove_dir(const struct run_service *svc)
{
    static const char *const files[] = { "phoenixd.log", "lock", "users", "keeper.pid" };
    char path[4200];

    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", svc->dir, files[i]);
        unlink(path);
    }
    rmdir(svc->dir);
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    return (flag == FTW_DP ? rmdir(path) : unlink(path)) < 0 && errno != ENOENT ? -1 : 0;
}

/* Removes the prefix and what phoenixd left in it (the plugin copies' directory). */
static void remove_prefix(const struct run_service *svc)
{
    nftw(svc->prefix, rm_entry, 8, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

static volatile sig_atomic_t keeper_stop;
static void keeper_signal(int sig) { keeper_stop = sig; }

/* The keeper: runs phoenixd until the job's last user on this node is gone. Never returns. */
static void keeper(const struct run_opts *o, const struct run_service *svc)
{
    char path[4200], log[4200];
    struct sigaction sa = { .sa_handler = keeper_signal };   /* no SA_RESTART: flock wakes */

    setsid();
    snprintf(log, sizeof log, "%s/phoenixd.log", svc->dir);
    int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    int null = open("/dev/null", O_RDONLY);
    if (fd < 0 || null < 0)
        _exit(1);
    dup2(null, 0);
    dup2(fd, 1);
    dup2(fd, 2);
    close_range(3, ~0U, 0);     /* nothing of the task's (PMI socket, srun's pipes) stays open */
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    sigaction(SIGCHLD, &sa, NULL);
    sigset_t none;              /* mrpc-run blocks these for its signalfd; the keeper takes them */
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);

    pid_t pid = fork();
    if (pid == 0) {
        const char *argv[8];
        int n = 0;
        argv[n++] = o->phoenixd;
        argv[n++] = "--foreground";
        argv[n++] = "--prefix";
        argv[n++] = svc->prefix;
        if (o->service_conf) {
            argv[n++] = "-c";
            argv[n++] = o->service_conf;
        }
        argv[n] = NULL;
        execvp(o->phoenixd, (char **)argv);
        fprintf(stderr, "mrpc-run: cannot run %s: %s\n", o->phoenixd, strerror(errno));
        _exit(127);
    }
    snprintf(path, sizeof path, "%s/users", svc->dir);
    int users = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    while (users >= 0 && !keeper_stop && flock(users, LOCK_EX) < 0 && errno == EINTR)
        if (pid > 0 && waitpid(pid, NULL, WNOHANG) == pid) {
            fprintf(stderr, "mrpc-run: the job's phoenixd (pid %d) exited\n", (int)pid);
            pid = 0;
        }
    /* Last user gone (or told to stop): stop the service and clean up under the start lock. */
    snprintf(path, sizeof path, "%s/lock", svc->dir);
    int lock = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lock >= 0)      /* told to stop: whoever holds the lock may be the one who told us */
        lock_within(lock, LOCK_EX, keeper_stop ? 0 : LOCK_WAIT_MS);
    bool clean = pid > 0 && stop_pid(pid);
    remove_prefix(svc);
    snprintf(path, sizeof path, "%s/keeper.pid", svc->dir);
    unlink(path);
    if (clean && svc->private_dir)
        remove_dir(svc);
    _exit(0);
}

/* The log's first line that says something went wrong ("" if none). */
static void log_first_line(const char *dir, char *why, size_t len)
{
    char path[4200], line[200];
    snprintf(path, sizeof path, "%s/phoenixd.log", dir);
    FILE *f = fopen(path, "re");

    *why = '\0';
    while (f && fgets(line, sizeof line, f))
        if (strstr(line, "error") || strstr(line, "cannot") || strstr(line, "refus")) {
            line[strcspn(line, "\n")] = '\0';
            snprintf(why, len, "%s", line);
            break;
        }
    if (f)
        fclose(f);
}

/* Under the start lock: start the keeper and wait until the service answers. */
static int start_service(const struct run_opts *o, struct run_service *svc, char *err,
                         size_t errlen)
{
    char path[4200];

    snprintf(path, sizeof path, "%s/phoenixd.pid", svc->prefix);
    pid_t stale = read_pid(path);               /* left by a killed job, and not answering */
    if (stale && pid_is(stale, "phoenixd"))
        stop_pid(stale);
    snprintf(path, sizeof path, "%s/keeper.pid", svc->dir);
    if ((stale = read_pid(path)) && pid_is(stale, "mrpc-run"))
        stop_pid(stale);
    if (mkdir_private(svc->prefix, err, errlen) < 0)
        return -1;
    pid_t k = fork();
    if (k < 0) {
        snprintf(err, errlen, "cannot fork: %s", strerror(errno));
        return -1;
    }
    if (k == 0) {
        close(svc->users_fd);       /* our share is the parent's */
        keeper(o, svc);
    }
    FILE *f = fopen(path, "we");
    if (f) {
        fprintf(f, "%d\n", (int)k);
        fclose(f);
    }
    for (int ms = 0; ms < START_WAIT_MS; ms += 50) {
        if (service_answers(svc->prefix))
            return 0;
        if (waitpid(k, NULL, WNOHANG) == k)
            break;
        sleep_ms(50);
    }
    char why[256];
    log_first_line(svc->dir, why, sizeof why);
    snprintf(err, errlen, "the job's service on this node did not start%s%s (log: %s/phoenixd.log)",
             *why ? ": " : " within 10 s", why, svc->dir);
    return -1;
}

static int per_job_service(const struct run_opts *o, const struct run_job *job,
                           struct run_service *svc, char *err, size_t errlen)
{
    char base[2048], path[4200];

    if ((size_t)snprintf(base, sizeof base, "%s/mrpc-run-%u", o->run_dir, (unsigned)geteuid()) >=
        sizeof base) {
        snprintf(err, errlen, "--run-dir is too long");
        return -1;
    }
    if (mkdir_private(base, err, errlen) < 0)
        return -1;
    snprintf(svc->dir, sizeof svc->dir, "%s/%s-%s", base, job->job_key, job->node);
    if (mkdir_private(svc->dir, err, errlen) < 0)
        return -1;
    if ((size_t)snprintf(svc->prefix, sizeof svc->prefix, "%s/p", svc->dir) >=
        sizeof svc->prefix - sizeof "/control.sock") {
        snprintf(err, errlen, "%s is too long for a unix socket path: set --run-dir shorter",
                 svc->dir);
        return -1;
    }
    svc->per_job = true;
    svc->private_dir = !job->slurm;
    snprintf(path, sizeof path, "%s/users", svc->dir);
    svc->users_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (svc->users_fd < 0 || lock_within(svc->users_fd, LOCK_SH, LOCK_WAIT_MS) < 0) {
        snprintf(err, errlen, "cannot take a share of %s: %s", path, strerror(errno));
        return -1;
    }
    snprintf(path, sizeof path, "%s/lock", svc->dir);
    int lock = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lock < 0 || lock_within(lock, LOCK_EX, LOCK_WAIT_MS) < 0) {
        snprintf(err, errlen, "cannot lock %s: %s", path, strerror(errno));
        if (lock >= 0)
            close(lock);
        return -1;
    }
    int rc = service_answers(svc->prefix) ? 0 : start_service(o, svc, err, errlen);
    close(lock);
    return rc;
}

/* IN with every "%n" replaced by NODE (several services on one host, one per node name). */
static int expand_node(const char *in, const char *node, char *out, size_t len)
{
    size_t n = 0;

    for (; *in; in++) {
        const char *add = in[0] == '%' && in[1] == 'n' ? node : NULL;
        size_t k = add ? strlen(add) : 1;
        if (n + k >= len)
            return -1;
        memcpy(out + n, add ? add : in, k);
        n += k;
        in += add != NULL;
    }
    out[n] = '\0';
    return 0;
}

int service_ensure(const struct run_opts *o, const struct run_job *job, struct run_service *svc,
                   char *err, size_t errlen)
{
    memset(svc, 0, sizeof *svc);
    svc->users_fd = -1;
    if (strcmp(o->service, "job") != 0) {
        char sys[sizeof svc->prefix];
        if (expand_node(o->system_prefix, job->node, sys, sizeof sys) < 0) {
            snprintf(err, errlen, "the system service's prefix is too long for a socket path");
            return -1;
        }
        if (service_answers(sys)) {
            snprintf(svc->prefix, sizeof svc->prefix, "%s", sys);
            return 0;
        }
        if (strcmp(o->service, "system") == 0) {
            snprintf(err, errlen, "no Phoenix service answers at %s/control.sock on node %s", sys,
                     job->node);
            return -1;
        }
    }
    if (per_job_service(o, job, svc, err, errlen) == 0)
        return 0;
    service_release(svc);
    return -1;
}

void service_release(struct run_service *svc)
{
    if (svc->users_fd >= 0)
        close(svc->users_fd);       /* the keeper takes it from here */
    svc->users_fd = -1;
}
