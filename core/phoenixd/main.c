/* main.c - phoenixd, the per-node Phoenix service: options, pid file, daemon, lifetime.
 *
 *     phoenixd [-c phoenix.conf] [--prefix DIR] [--foreground] [--log-level L] [--check-config]
 *     phoenixd --help | --version
 *
 * Settings come from the defaults, then the config file (-c, else the installed phoenix.conf
 * when it exists, paths.c), then PHOENIX_PREFIX / PHOENIX_LOG_LEVEL, then the command line. A
 * relative -c is made absolute at start, because SIGHUP re-reads it after the daemon's
 * chdir("/"). The prefix directory holds control.sock and phoenixd.pid; the pid file is locked
 * (flock) for the daemon's life, so a second phoenixd on the same prefix refuses to start and
 * names the first.
 *
 * Under systemd (deploy/phoenixd.service, Type=notify) it sends READY=1 once it serves and
 * STOPPING=1 when it stops (libsystemd's sd_notify; nothing is sent without NOTIFY_SOCKET).
 *
 * Without --foreground the process daemonizes (fork, setsid, fork) and the launching process
 * waits on a pipe until the daemon is listening, so `phoenixd && app` never races and start-up
 * errors reach the terminal with exit status 1. Exit statuses: 0 clean stop, 1 failure, 2 usage.
 * Detached, with log.file "-" (the default) the log goes to syslog, which journald also reads:
 * stderr is /dev/null by then. The launcher says so on stderr before it detaches.
 *
 * Signals are blocked before any thread starts and read from a signalfd by the control loop:
 * SIGTERM/SIGINT stop the service (apps get a SHUTDOWN completion, then a hang-up), SIGHUP
 * re-reads the config file's log level and log file (a --log-level given here stays in force) and
 * the plugins' settings (settings.<plugin>), which engines with reconfigure() take at once; a
 * file that does not load, or a plugin section that does not fit, changes nothing.
 *
 * --check-config loads the file and then opens every plugin it names, which checks each plugin
 * and its settings section; it prints the deprecation notes, then "ok" or the one line why not.
 * The deprecation notes (old top-level ucx/mrpc sections) also go to the log at start. */
#include "control_server.h"
#include "paths.h"
#include "config.h"
#include "phoenix/log.h"
#include "service.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>


#define PID_FILE_NAME "phoenixd.pid"

struct options {
    const char *config;         /* NULL: the installed one if it exists */
    const char *prefix;
    const char *log_level;
    bool        foreground;
    bool        check_config;
};

struct daemon_ctx {
    struct options opts;
    const char    *config_path; /* what was loaded, NULL for the defaults */
    char           config_abs[PATH_MAX];    /* -c made absolute, when it could be */
    phx_config_t   cfg;
    struct phx_service *svc;    /* while serving: SIGHUP reloads its plugins' settings */
    int            pid_fd;
    int            ready_fd;    /* write end of the launcher's pipe, -1 in the foreground */
};

/* ---- options -------------------------------------------------------------------------------- */

static void usage(FILE *out)
{
    fprintf(out,
            "usage: phoenixd [-c phoenix.conf] [--prefix DIR] [--foreground] [--log-level L]\n"
            "                [--check-config]\n"
            "       phoenixd --help | --version\n"
            "  -c, --config FILE    configuration (default %s if it exists)\n"
            "  -p, --prefix DIR     directory of control.sock and the pid file\n"
            "  -f, --foreground     stay attached to the terminal, log to stderr\n"
            "  -l, --log-level L    error, warn, info, debug or trace\n"
            "      --check-config   load and validate the configuration and the plugins it\n"
            "                       names (with their settings), print \"ok\" or why not\n"
            "  -h, --help           show this help\n"
            "  -V, --version        print the version\n"
            "Detached, the log goes to syslog unless log.file names a file.\n",
            phx_paths_default_config());
}

/* Returns 0, or 2 (usage error) after printing why. */
static int parse_options(int argc, char **argv, struct options *o)
{
    enum { OPT_CHECK = 0x100 };
    static const struct option longopts[] = {
        { "config", required_argument, NULL, 'c' },
        { "prefix", required_argument, NULL, 'p' },
        { "foreground", no_argument, NULL, 'f' },
        { "log-level", required_argument, NULL, 'l' },
        { "check-config", no_argument, NULL, OPT_CHECK },
        { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, 'V' },
        { NULL, 0, NULL, 0 },
    };
    int opt;

    while ((opt = getopt_long(argc, argv, "c:p:fl:hV", longopts, NULL)) != -1) {
        switch (opt) {
        case 'c': o->config = optarg; break;
        case 'p': o->prefix = optarg; break;
        case 'f': o->foreground = true; break;
        case 'l': o->log_level = optarg; break;
        case OPT_CHECK: o->check_config = true; break;
        case 'h': usage(stdout); exit(0);
        case 'V': printf("phoenixd %s\n", PHX_VERSION); exit(0);
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "phoenixd: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    return 0;
}

/* ---- configuration -------------------------------------------------------------------------- */

/* Command-line overrides, checked like the file's values. 0 or -1 with ERR. */
static int apply_options(phx_config_t *cfg, const struct options *o, char *err, size_t errlen)
{
    const size_t max = sizeof(((struct sockaddr_un *)0)->sun_path) - sizeof("/control.sock");
    phx_log_level_t level;

    if (o->prefix) {
        if (o->prefix[0] != '/' || strlen(o->prefix) > max) {
            snprintf(err, errlen, "--prefix %s: must be an absolute path of at most %zu bytes",
                     o->prefix, max);
            return -1;
        }
        char *copy = strdup(o->prefix);
        if (!copy)
            return -1;
        free(cfg->prefix);
        cfg->prefix = copy;
    }
    if (o->log_level) {
        if (phx_log_parse_level(o->log_level, &level) < 0) {
            snprintf(err, errlen, "--log-level %s: expected error, warn, info, debug or trace",
                     o->log_level);
            return -1;
        }
        cfg->log.level = level;
    }
    return 0;
}

/* The file to read: -c, else the default one if it exists, else none (NULL). A -c that does not
 * resolve stays as given, for the loader to say why in its own words. */
static const char *config_path(struct daemon_ctx *d)
{
    if (d->opts.config)
        return realpath(d->opts.config, d->config_abs) ? d->config_abs : d->opts.config;
    const char *installed = phx_paths_default_config();

    return access(installed, F_OK) == 0 ? installed : NULL;
}

static int load_config(struct daemon_ctx *d, char *err, size_t errlen)
{
    d->config_path = config_path(d);
    int rc = d->config_path ? phx_config_load(&d->cfg, d->config_path, err, errlen)
                            : phx_config_init_defaults(&d->cfg);
    if (rc < 0 && !d->config_path)
        snprintf(err, errlen, "out of memory");
    if (rc == 0)
        rc = phx_config_apply_env(&d->cfg, err, errlen);
    if (rc == 0)
        rc = apply_options(&d->cfg, &d->opts, err, errlen);
    return rc < 0 ? -1 : 0;
}

/* log.file "-" is stderr, which a detached daemon no longer has: syslog takes its place. */
static bool logs_to_syslog(const struct daemon_ctx *d)
{
    return !d->opts.foreground && strcmp(d->cfg.log.file, "-") == 0;
}

static int apply_logging(const struct daemon_ctx *d)
{
    phx_log_set_level(d->cfg.log.level);
    if (logs_to_syslog(d)) {
        phx_log_set_syslog();
        return 0;
    }
    int rc = phx_log_set_file(d->cfg.log.file);
    if (rc < 0)
        phx_error("cannot log to %s: %s", d->cfg.log.file, strerror(-rc));
    return rc;
}

static void log_notes(const phx_config_t *cfg)
{
    for (const char *p = cfg->notes; p && *p; p += strcspn(p, "\n") + 1)
        phx_warn("%.*s", (int)strcspn(p, "\n"), p);
}

static void swap_trees(phx_config_t *a, phx_config_t *b)
{
    void *tree = a->tree;

    a->tree = b->tree;
    b->tree = tree;
}

/* The plugins' sections of FRESH become the service's, or nothing changes. 0 or -1. */
static int reload_plugin_settings(struct daemon_ctx *d, phx_config_t *fresh, char *err,
                                  size_t errlen)
{
    if (!d->svc)
        return 0;
    swap_trees(&d->cfg, fresh);
    if (phx_service_reload_settings(d->svc, err, errlen) == 0)
        return 0;
    swap_trees(&d->cfg, fresh);
    return -1;
}

/* SIGHUP: the file's log settings, unless the command line fixed the level, and the plugins'
 * settings. */
static void reload_config(void *arg)
{
    struct daemon_ctx *d = arg;
    phx_config_t fresh;
    char err[512];

    if (!d->config_path) {
        phx_info("no configuration file to re-read");
        return;
    }
    if (phx_config_load(&fresh, d->config_path, err, sizeof(err)) < 0 ||
        phx_config_apply_env(&fresh, err, sizeof(err)) < 0 ||
        reload_plugin_settings(d, &fresh, err, sizeof(err)) < 0) {
        phx_error("keeping the current settings: %s", err);
        phx_config_free(&fresh);
        return;
    }
    log_notes(&fresh);
    if (!d->opts.log_level)
        d->cfg.log.level = fresh.log.level;
    char *file = fresh.log.file;
    fresh.log.file = d->cfg.log.file;
    d->cfg.log.file = file;
    phx_config_free(&fresh);
    apply_logging(d);
    phx_info("reloaded %s: log level %s, log file %s, plugin settings reloaded", d->config_path,
             phx_log_level_name(d->cfg.log.level),
             logs_to_syslog(d) ? "syslog" : d->cfg.log.file);
}

/* ---- prefix and pid file -------------------------------------------------------------------- */

static int mkdir_p(const char *path, mode_t mode)
{
    char buf[PATH_MAX];

    snprintf(buf, sizeof(buf), "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        if (mkdir(buf, mode) < 0 && errno != EEXIST)
            return -errno;
        *p = '/';
    }
    return mkdir(buf, mode) < 0 && errno != EEXIST ? -errno : 0;
}

/* Opens and locks the pid file. Returns the fd, or -1 with ERR ("already running ..."). */
static int lock_pid_file(const char *prefix, char *err, size_t errlen)
{
    char path[256];             /* the prefix is short enough for a socket path */

    snprintf(path, sizeof(path), "%s/%s", prefix, PID_FILE_NAME);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) == 0)
        return fd;
    int saved = errno;
    char pid[32] = "";
    ssize_t n = pread(fd, pid, sizeof(pid) - 1, 0);
    pid[n > 0 ? n : 0] = 0;
    pid[strcspn(pid, "\n")] = 0;
    if (saved == EWOULDBLOCK)
        snprintf(err, errlen, "phoenixd already running on %s (pid %s)", prefix,
                 *pid ? pid : "unknown");
    else
        snprintf(err, errlen, "cannot lock %s: %s", path, strerror(saved));
    close(fd);
    return -1;
}

static int write_pid(int fd)
{
    char buf[32];
    int len = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
    if (ftruncate(fd, 0) < 0 || pwrite(fd, buf, (size_t)len, 0) != len)
        return -errno;
    return 0;
}

static void remove_pid_file(const char *prefix)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s", prefix, PID_FILE_NAME);
    unlink(path);
}

/* ---- daemonizing ---------------------------------------------------------------------------- */

/* The launcher's side: waits for the daemon's verdict on the pipe and exits with it. */
static void launcher_wait(int rfd)
{
    char msg[1024];
    ssize_t n, len = 0;

    while (len < (ssize_t)sizeof(msg) - 1 &&
           (n = read(rfd, msg + len, sizeof(msg) - 1 - (size_t)len)) > 0)
        len += n;
    msg[len] = 0;
    if (len > 0 && msg[0] == '+')
        exit(0);
    fprintf(stderr, "phoenixd: %s\n", len > 1 ? msg + 1 : "the daemon died while starting");
    exit(1);
}

/* Detaches into the background. Returns in the daemon, with the pipe's write end. */
static int daemonize(void)
{
    int pipefd[2];

    if (pipe2(pipefd, O_CLOEXEC) < 0)
        return -errno;
    pid_t pid = fork();
    if (pid < 0)
        return -errno;
    if (pid > 0) {
        close(pipefd[1]);
        waitpid(pid, NULL, 0);      /* the intermediate child exits at once */
        launcher_wait(pipefd[0]);
    }
    close(pipefd[0]);
    setsid();
    if ((pid = fork()) < 0)
        _exit(1);
    if (pid > 0)
        _exit(0);
    if (chdir("/") < 0)
        _exit(1);
    umask(022);
    int null = open("/dev/null", O_RDWR);
    if (null >= 0) {
        dup2(null, STDIN_FILENO);
        dup2(null, STDOUT_FILENO);
        dup2(null, STDERR_FILENO);
        if (null > STDERR_FILENO)
            close(null);
    }
    return pipefd[1];
}

/* Tells the launcher (if any) how start-up went. */
/* Tells the launcher (its pipe) and systemd (sd_notify, a no-op without NOTIFY_SOCKET: a
 * Type=notify unit is "started" only once control.sock accepts apps) how start-up went. */
static void report_ready(struct daemon_ctx *d, const char *error)
{
    if (error)
        sd_notifyf(0, "STATUS=%s", error);
    else
        sd_notifyf(0, "READY=1\nSTATUS=serving on %s\nMAINPID=%d", d->cfg.prefix, (int)getpid());
    if (d->ready_fd < 0) {
        if (error)
            fprintf(stderr, "phoenixd: %s\n", error);
        return;
    }
    char msg[1024];
    int len = snprintf(msg, sizeof(msg), "%c%s", error ? '-' : '+', error ? error : "");
    if (write(d->ready_fd, msg, (size_t)len) < 0)
        phx_warn("cannot report start-up to the launcher: %s", strerror(errno));
    close(d->ready_fd);
    d->ready_fd = -1;
}

/* ---- main ----------------------------------------------------------------------------------- */

static int serve(struct daemon_ctx *d)
{
    struct phx_service svc;
    char err[1024];

    if (phx_service_init(&svc, &d->cfg, err, sizeof(err)) < 0) {
        phx_error("%s", err);
        report_ready(d, err);
        return 1;
    }
    d->svc = &svc;
    struct phx_control_server *cs = phx_control_server_start(&svc, reload_config, d, err,
                                                             sizeof(err));
    if (!cs) {
        phx_error("%s", err);
        report_ready(d, err);
        d->svc = NULL;
        phx_service_fini(&svc);
        return 1;
    }
    phx_info("phoenixd %s ready on %s (pid %d), configuration %s", PHX_VERSION, d->cfg.prefix,
             (int)getpid(), d->config_path ? d->config_path : "(built-in defaults)");
    report_ready(d, NULL);
    int rc = phx_control_server_run(cs);
    sd_notify(0, "STOPPING=1");
    phx_control_server_destroy(cs);
    d->svc = NULL;
    phx_service_fini(&svc);
    phx_info("phoenixd stopped");
    return rc < 0 ? 1 : 0;
}

static int start(struct daemon_ctx *d)
{
    char err[1024];
    int rc;

    if ((rc = mkdir_p(d->cfg.prefix, 0755)) < 0) {
        fprintf(stderr, "phoenixd: cannot create %s: %s\n", d->cfg.prefix, strerror(-rc));
        return 1;
    }
    if ((d->pid_fd = lock_pid_file(d->cfg.prefix, err, sizeof(err))) < 0) {
        fprintf(stderr, "phoenixd: %s\n", err);
        return 1;
    }
    if (logs_to_syslog(d))
        fprintf(stderr, "phoenixd: detaching; the log goes to syslog (log.file is \"-\")\n");
    if (!d->opts.foreground && (d->ready_fd = daemonize()) < 0) {
        fprintf(stderr, "phoenixd: cannot daemonize: %s\n", strerror(-d->ready_fd));
        return 1;
    }
    /* The lock came along through fork: the pid is now the daemon's own. */
    if ((rc = write_pid(d->pid_fd)) < 0)
        phx_warn("cannot write the pid file: %s", strerror(-rc));
    if (phx_control_block_signals() < 0 || signal(SIGPIPE, SIG_IGN) == SIG_ERR) {
        report_ready(d, "cannot set up signal handling");
        return 1;
    }
    apply_logging(d);
    log_notes(&d->cfg);
    rc = serve(d);
    remove_pid_file(d->cfg.prefix);
    close(d->pid_fd);
    return rc;
}

/* --check-config, once the file loaded: the notes, then the plugins and their sections. */
static int check_config(const phx_config_t *cfg)
{
    char err[1024];

    for (const char *p = cfg->notes; p && *p; p += strcspn(p, "\n") + 1)
        printf("warning: %.*s\n", (int)strcspn(p, "\n"), p);
    phx_log_set_level(PHX_LOG_WARN);    /* "loaded plugin ..." is not news here */
    if (phx_service_check_plugins(cfg, err, sizeof(err)) < 0) {
        printf("%s\n", err);
        return 1;
    }
    printf("ok\n");
    return 0;
}

int main(int argc, char **argv)
{
    struct daemon_ctx d = { .pid_fd = -1, .ready_fd = -1 };
    char err[1024];

    int rc = parse_options(argc, argv, &d.opts);
    if (rc)
        return rc;
    phx_log_set_ident("phoenixd");
    if (load_config(&d, err, sizeof(err)) < 0) {
        if (d.opts.check_config)
            printf("%s\n", err);
        else
            fprintf(stderr, "phoenixd: %s\n", err);
        phx_config_free(&d.cfg);
        return 1;
    }
    if (d.opts.check_config) {
        rc = check_config(&d.cfg);
        phx_config_free(&d.cfg);
        return rc;
    }
    rc = start(&d);
    phx_config_free(&d.cfg);
    return rc;
}
