/* daemon_harness.c - phoenixd as integration tests run it (see daemon_harness.h).
 *
 * A started phoenixd runs in the foreground with its output in a file, and is up when its
 * control socket accepts a connection. A phoenixd run to its end (a launcher that daemonizes, a
 * refused start) goes through phx_test_run(), bounded like a start. A daemon meant for another
 * network namespace joins it in the child, between fork and exec. */
#include "daemon_harness.h"

#include "phoenix/client.h"
#include "phoenix/control.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef PHX_PHOENIXD
#error "PHX_PHOENIXD must be defined by the build"
#endif

#define DAEMON_START_NS (20 * PHX_NS)
#define DAEMON_STOP_NS  (10 * PHX_NS)
#define DAEMON_ARGS_MAX 16

bool phx_daemon_accepts(const char *prefix)
{
    char err[256];
    int fd = phx_control_connect(prefix, err, sizeof(err));

    if (fd < 0)
        return false;
    close(fd);
    return true;
}

int phx_netns_enter(const char *name)
{
    char path[128] = "/var/run/netns/";
    size_t n = strlen(path), len = strlen(name);

    if (len == 0 || len >= sizeof(path) - n || strchr(name, '/'))
        return -EINVAL;
    memcpy(path + n, name, len + 1);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = setns(fd, CLONE_NEWNET) == 0 ? 0 : -errno;
    close(fd);
    /* Tools (UCX among them) list devices in /sys/class/net, which shows the namespace of the
     * sysfs mount: remount it in a private mount namespace, as `ip netns exec` does. */
    if (rc == 0 && (unshare(CLONE_NEWNS) != 0 ||
                    mount("", "/", NULL, MS_SLAVE | MS_REC, NULL) != 0 ||
                    umount2("/sys", MNT_DETACH) != 0 || mount(name, "/sys", "sysfs", 0, NULL) != 0))
        rc = -errno;
    return rc;
}

pid_t phx_spawn_to_file(char *const argv[], char *const env[], const char *out_path,
                        const char *netns)
{
    static const char no_netns[] = "cannot enter the network namespace\n";
    pid_t parent = getpid(), pid = fork();

    if (pid == 0) {
        phx_test_die_with_parent(parent);
        int fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, STDOUT_FILENO);
            dup2(fd, STDERR_FILENO);
        }
        if (netns && netns[0] && phx_netns_enter(netns) != 0) {
            (void)!write(STDERR_FILENO, no_netns, sizeof(no_netns) - 1);
            _exit(126);
        }
        if (env)
            execve(argv[0], argv, env);
        else
            execv(argv[0], argv);
        _exit(127);
    }
    return pid;
}

/* phoenixd, then -c CONF --prefix PREFIX when D is not NULL, then ARGS (NULL-terminated). */
static void daemon_argv(const struct phx_daemon *d, const char *const *args, char **argv)
{
    int n = 0;

    argv[n++] = PHX_PHOENIXD;
    if (d) {
        argv[n++] = "-c";
        argv[n++] = (char *)d->conf;
        argv[n++] = "--prefix";
        argv[n++] = (char *)d->prefix;
    }
    for (int i = 0; args[i] && n < DAEMON_ARGS_MAX - 1; i++)
        argv[n++] = (char *)args[i];
    argv[n] = NULL;
}

int phx_daemon_run(const struct phx_daemon *d, const char *const *args, phx_test_run_result_t *r)
{
    struct phx_test_run_params p = {
        .field_mask = PHX_TEST_RUN_PARAM_FIELD_TIMEOUT | PHX_TEST_RUN_PARAM_FIELD_FLAGS,
        .timeout_ns = DAEMON_START_NS,
        .flags = PHX_TEST_RUN_MERGE_OUTPUT,
    };
    char *argv[DAEMON_ARGS_MAX];

    daemon_argv(d, args, argv);
    return phx_test_run(argv, &p, r);
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

static bool daemon_launch(struct phx_daemon *d, const char *netns);

bool phx_daemon_start(struct phx_daemon *d, const char *tag, const char *conf_text)
{
    return phx_daemon_start_params(d, tag, conf_text, NULL);
}

bool phx_daemon_start_params(struct phx_daemon *d, const char *tag, const char *conf_text,
                             const struct phx_daemon_params *params)
{
    const char *netns = params && (params->field_mask & PHX_DAEMON_PARAM_FIELD_NETNS)
                            ? params->netns : NULL;

    return daemon_dirs(d, tag, conf_text) && daemon_launch(d, netns);
}

bool phx_daemon_restart(struct phx_daemon *d)
{
    return d->pid == 0 && d->dir[0] && daemon_launch(d, NULL);
}

/* Starts phoenixd on D's directory (in NETNS unless NULL) and waits until it accepts. */
static bool daemon_launch(struct phx_daemon *d, const char *netns)
{
    char *argv[DAEMON_ARGS_MAX];

    daemon_argv(d, (const char *const[]){ "--foreground", NULL }, argv);
    unsigned long long deadline = phx_test_now_ns() + DAEMON_START_NS;

    if ((d->pid = phx_spawn_to_file(argv, NULL, d->log, netns)) < 0) {
        d->pid = 0;
        return false;
    }
    while (phx_test_now_ns() < deadline) {
        if (phx_daemon_accepts(d->prefix))
            return true;
        if (waitpid(d->pid, NULL, WNOHANG) == d->pid) {
            fprintf(stderr, "phoenixd exited at start; see %s\n", d->log);
            d->pid = 0;
            return false;
        }
        phx_test_sleep_ms(10);
    }
    fprintf(stderr, "phoenixd did not listen within 20 s; see %s\n", d->log);
    return false;
}

int phx_daemon_stop(struct phx_daemon *d, int sig)
{
    if (d->pid <= 0)
        return PHX_TEST_KILLED;
    kill(d->pid, sig);
    int code = phx_test_reap(d->pid, DAEMON_STOP_NS);
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
