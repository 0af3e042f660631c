/* daemon_cases.h - helpers shared by the phoenixd test programs (test_daemon.c: the data path and
 * bad input; test_daemon_lifecycle.c: command line, configuration, reload and limits;
 * test_daemon_placement.c: where threads and memory go). Each case starts its own phoenixd on
 * the loopback test configuration (PHX_TEST_CONF) and stops it by PID. */
#ifndef PHX_TESTS_DAEMON_CASES_H
#define PHX_TESTS_DAEMON_CASES_H

#include "control.pb-c.h"
#include "daemon_harness.h"
#include "phoenix/client.h"
#include "phoenix/control.h"

#include <stdbool.h>
#include <stddef.h>

/* The whole file as a string (malloc'd), or NULL when it is missing or empty. */
char *read_text(const char *path, size_t *len);
/* The test configuration with FROM replaced by TO (FROM NULL: as it is); malloc'd. */
char *test_conf(const char *from, const char *to);
/* Starts phoenixd on a fresh prefix with the test configuration, FROM replaced by TO in it. */
bool daemon_start(struct phx_daemon *d, const char *tag, const char *from, const char *to);
/* Sends REQ on SOCK; returns the response (NULL on failure, with the reason printed). */
Phoenix__Control__Response *control_call(int sock, Phoenix__Control__Request *req, int *fds,
                                         unsigned *nfds, unsigned max_fds);
/* REQ becomes a Register request (id ID) for SERVICE, its body in REG. */
void make_register(Phoenix__Control__Request *req, Phoenix__Control__Register *reg,
                   const char *service, uint64_t id);
/* Registers an app with the "loopback" service of the daemon at PREFIX. */
phx_client_t *app_register(const char *prefix, char *err, size_t errlen);
bool file_exists(const char *dir, const char *name);
/* Whether this kernel can refuse descriptors on a unix socket (SO_PASSRIGHTS, Linux 6.16), as
 * phoenixd does on control.sock; without it phoenixd hangs up on a client that sends some. */
bool kernel_refuses_fds(void);
/* Waits up to 5 s for TEXT in D's log. */
bool log_shows(const struct phx_daemon *d, const char *text);

#endif
