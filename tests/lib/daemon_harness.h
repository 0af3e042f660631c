/* daemon_harness.h - starting a real phoenixd for integration tests.
 *
 * A test gets a private directory (mode 0755, so that an unprivileged uid reaches control.sock
 * inside it), writes its phoenix.conf there, starts the build's phoenixd in the foreground with
 * its output in DIR/phoenixd.log, and stops it by PID:
 *
 *     struct phx_daemon d;
 *     CU_ASSERT_FATAL(phx_daemon_start(&d, "admin", conf_text));
 *     ... phx_test_run(argv, &params, &r) ...
 *     CU_ASSERT_EQUAL(phx_daemon_stop(&d, SIGTERM), 0);
 *     phx_daemon_cleanup(&d);
 *
 * phx_daemon_start_params() can start it inside a named network namespace (`ip netns add NAME`),
 * for tests of two "hosts" joined by a veth pair; its control socket stays reachable from any
 * namespace, since a unix socket lives in the file system.
 *
 * Every wait is bounded; every process started is reaped, and killed first if it overstays. */
#ifndef PHX_DAEMON_HARNESS_H
#define PHX_DAEMON_HARNESS_H

#include "phx_test.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define PHX_NS 1000000000ull

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

enum {
    PHX_DAEMON_PARAM_FIELD_NETNS = 1u << 0,
};

/* How phx_daemon_start_params() starts phoenixd; unset fields (or no params) take the defaults. */
struct phx_daemon_params {
    uint64_t    field_mask;     /* PHX_DAEMON_PARAM_FIELD_... */
    const char *netns;          /* run it in this named network namespace (/var/run/netns/NAME,
                                 * needs root); default: ours */
};

/* phx_daemon_start() with PARAMS (NULL: the defaults). */
bool phx_daemon_start_params(struct phx_daemon *d, const char *tag, const char *conf_text,
                             const struct phx_daemon_params *params);

/* Starts phoenixd again on D's directory and configuration, after phx_daemon_stop(): a restart
 * of the service, finding what it left there (its log starts again). False as for
 * phx_daemon_start(), or when D still runs. */
bool phx_daemon_restart(struct phx_daemon *d);

/* Moves the calling process into the named network namespace NAME as `ip netns exec` does (and
 * into a private mount namespace with NAME's /sys, where the network devices are listed; other
 * mounts, /tmp with its sockets among them, stay shared); 0 or a negative errno. For a child
 * between fork and exec: async-signal-safe. */
int  phx_netns_enter(const char *name);

/* Forks ARGV (ENV: its whole environment; NULL: ours) with stdout and stderr in OUT_PATH, inside
 * network namespace NETNS unless it is NULL or ""; its PID, or -1. A child that cannot enter
 * NETNS exits 126 (saying so in OUT_PATH), one that cannot exec 127. */
pid_t phx_spawn_to_file(char *const argv[], char *const env[], const char *out_path,
                        const char *netns);

/* Sends SIG, waits up to 10 s for the exit and returns the exit code (PHX_TEST_KILLED: had to
 * be killed). */
int  phx_daemon_stop(struct phx_daemon *d, int sig);

/* Kills the daemon if it still runs and removes D's directory. */
void phx_daemon_cleanup(struct phx_daemon *d);

/* True when the daemon's log contains TEXT. */
bool phx_daemon_log_has(const struct phx_daemon *d, const char *text);

/* True when a phoenixd on PREFIX accepts a connection. */
bool phx_daemon_accepts(const char *prefix);

/* Runs phoenixd with ARGS (NULL-terminated), preceded by -c D->conf --prefix D->prefix when D is
 * not NULL, to its end within 20 s: a launcher without --foreground, a start that is refused, a
 * configuration check. Its stdout and stderr come together in R->out. Returns R->code. */
int  phx_daemon_run(const struct phx_daemon *d, const char *const *args, phx_test_run_result_t *r);

#endif /* PHX_DAEMON_HARNESS_H */
