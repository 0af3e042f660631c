/* daemon_harness.h - starting a real phoenixd and running programs for integration tests.
 *
 * A test gets a private directory (mode 0755, so that an unprivileged uid reaches control.sock
 * inside it), writes its phoenix.conf there, starts the build's phoenixd in the foreground with
 * its output in DIR/phoenixd.log, and stops it by PID:
 *
 *     struct phx_daemon d;
 *     CU_ASSERT_FATAL(phx_daemon_start(&d, "admin", conf_text));
 *     ... phx_run(argv, -1, &r, 20 * PHX_NS) ...
 *     CU_ASSERT_EQUAL(phx_daemon_stop(&d, SIGTERM), 0);
 *     phx_daemon_cleanup(&d);
 *
 * Every wait is bounded; every process started is reaped, and killed first if it overstays. */
#ifndef PHX_DAEMON_HARNESS_H
#define PHX_DAEMON_HARNESS_H

#include <stdbool.h>
#include <sys/types.h>

#define PHX_NS          1000000000ull
#define PHX_REAP_KILLED 999             /* phx_reap(): had to be killed */

void phx_sleep_ms(unsigned ms);

/* Exit code of child PID, or 128 + its signal; PHX_REAP_KILLED if it outlived TIMEOUT_NS. */
int phx_reap(pid_t pid, unsigned long long timeout_ns);

/* What a program run by phx_run() did. */
struct phx_run_result {
    int  code;                  /* exit code, 128 + signal, or PHX_REAP_KILLED */
    char out[65536];
    char err[16384];
};

/* Runs ARGV[0] with ARGV (exec, not a shell), as uid and gid AS_UID when it is >= 0 (we must be
 * root), with stdout and stderr captured, for at most TIMEOUT_NS. Returns R->code. */
int phx_run(char *const argv[], int as_uid, struct phx_run_result *r,
            unsigned long long timeout_ns);

struct phx_daemon {
    pid_t pid;                  /* 0 when not running */
    char  dir[256];             /* private directory, removed by cleanup */
    char  prefix[300];          /* DIR/run: control.sock, pid file */
    char  conf[300];            /* DIR/phoenix.conf */
    char  log[300];             /* DIR/phoenixd.log: the daemon's stdout and stderr */
};

/* Makes D's directory under $TMPDIR (named after TAG), writes CONF_TEXT as its phoenix.conf,
 * starts phoenixd (PHX_PHOENIXD, from the build) with it on D's prefix and waits until it accepts
 * connections. False (after saying why on stderr) if it does not come up within 20 s. */
bool phx_daemon_start(struct phx_daemon *d, const char *tag, const char *conf_text);

/* Sends SIG, waits up to 10 s for the exit and returns the exit code (PHX_REAP_KILLED: had to
 * be killed). */
int  phx_daemon_stop(struct phx_daemon *d, int sig);

/* Kills the daemon if it still runs and removes D's directory. */
void phx_daemon_cleanup(struct phx_daemon *d);

/* True when the daemon's log contains TEXT. */
bool phx_daemon_log_has(const struct phx_daemon *d, const char *text);

#endif /* PHX_DAEMON_HARNESS_H */
