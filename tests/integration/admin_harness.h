/* admin_harness.h - what the phoenixctl test programs share: a phoenixd to administer, an app
 * streaming descriptors through it, and phoenixctl and policyctl run as an admin or as an
 * ordinary user would run them.
 *
 * test_admin_control.c (control-socket requests and who may make them), test_admin_rules.c
 * (standing rules, their persistence across a restart and the rules file) and
 * test_admin_descriptors.c (descriptors streaming through attach, detach and upgrade; bad
 * descriptors) each list their cases and call admin_main().
 *
 * Each case starts its own phoenixd (daemon_harness.h) with the loopback test plugin and
 * NullEngine 1.0.0 (policies/null), and an app: a forked child that registers for "loopback"
 * and streams descriptors numbered by `seq`, checking that each comes back once and in order.
 * The app and the test share a page: the app publishes how far it got, the test sets a `gate`
 * beyond which the app only trickles (one descriptor per millisecond). An admin operation runs
 * while the stream flows at full speed, and the gate only makes sure the stream cannot end
 * before the operation did.
 *
 * Every wait is bounded; every process started is stopped by PID and reaped. */
#ifndef PHX_TESTS_ADMIN_HARNESS_H
#define PHX_TESTS_ADMIN_HARNESS_H

#include "daemon_harness.h"
#include "phx_test.h"

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#if !defined(PHOENIXCTL_PATH) || !defined(PHX_PLUGIN_LOOPBACK) || !defined(PHX_PLUGIN_NULL)
#error "PHOENIXCTL_PATH and the PHX_PLUGIN_ paths must be defined by the build"
#endif

#define NOBODY        65534
#define USER          60001         /* an unused uid: the ordinary user of the permissions case */

/* ---- the app -------------------------------------------------------------------------------- */

struct stream_shared {
    uint64_t gate;          /* test -> app: beyond this many sent, only trickle */
    int      stop;          /* test -> app: send no more, collect what is in flight, exit */
    uint64_t sent;          /* app -> test */
    uint64_t received;      /* app -> test: completions checked, in order */
};

enum { APP_OK = 0, APP_REGISTER = 10, APP_SUBMIT, APP_WAIT, APP_ORDER, APP_DEADLINE_HIT };

static inline uint64_t load(const uint64_t *v)
{
    return __atomic_load_n(v, __ATOMIC_ACQUIRE);
}

static inline void store(uint64_t *v, uint64_t x)
{
    __atomic_store_n(v, x, __ATOMIC_RELEASE);
}

struct app {
    pid_t                 pid;
    struct stream_shared *sh;
};

/* Forks an app that streams TOTAL descriptors (UINT64_MAX: until told to stop) through the
 * daemon at PREFIX, at full speed up to GATE. */
void app_start(struct app *a, const char *prefix, uint64_t total, uint64_t gate);
/* The same app running as the ordinary user USER (uid and gid), for the permissions case. */
void user_app_start(struct app *a, const char *prefix);
/* Waits (60 s at most) until A has AT_LEAST completions back; false if it got stuck or died. */
bool app_wait_received(const struct app *a, uint64_t at_least);
/* app_start() of an app that streams until told to stop, at full speed, and waits until its
 * first 10 descriptors came back. If they do not, the case stops (a fatal assertion) saying
 * so, with the app gone (killed if it was stuck). */
void app_up(struct app *a, const char *prefix);
/* Tells the app to send no more and go once what is in flight is back; returns its exit code. */
int  app_finish(struct app *a);
void app_free(struct app *a);
/* A's pid as text (static storage). */
const char *pid_text(const struct app *a);

/* The exec'd app (this program with --idle-app PREFIX, SLURM_JOB_ID=4711 in its environment):
 * registers at PREFIX and stays until killed, its parent dies or 60 s pass. Its PID. */
pid_t idle_app_start(const char *prefix);

/* ---- the daemon and the tools --------------------------------------------------------------- */

/* The configuration of these tests: loopback and NullEngine 1.0.0 with settings.null.batch
 * NULL_BATCH; any uid may connect, only root may administer (static storage). */
const char *admin_conf(unsigned null_batch);
/* Starts phoenixd on admin_conf(32). */
bool daemon_up(struct phx_daemon *d, const char *tag);
/* How most cases open: daemon_up(D, TAG), then app_up(A) through it. If either does not come
 * up, the case stops (a fatal assertion) after saying which, for TAG, on stderr; the app and
 * phoenixd are stopped then, and phoenixd's log is left for reading. */
void daemon_and_app_up(struct phx_daemon *d, struct app *a, const char *tag);
/* The path of descriptor NAME of tests/data/addon-cli (or of the ordinary user's copy of it);
 * a few stay valid at once, as several go in one command line. */
const char *data(const char *name);

/* Runs phoenixctl ARGS as AS_UID (-1: as we are; an ordinary user runs copies of the tools it
 * can reach), adding --prefix PREFIX unless it is NULL, and checks its exit code and that PHRASE
 * (if any) is in stdout or stderr. */
void expect_ctl(int as_uid, const char *prefix, int code, const char *phrase,
                const char *const *args, phx_test_run_result_t *r);
/* policyctl ARGS as uid AS (-1: as we are), as expect_ctl() runs phoenixctl. */
void expect_pctl(int as, const struct phx_daemon *d, int code, const char *phrase,
                 const char *const *args);

extern phx_test_run_result_t run_result;    /* large: one, reused by every call */

#define CTL(d, code, phrase, ...)                                                              \
    expect_ctl(-1, (d)->prefix, code, phrase, (const char *const[]){ __VA_ARGS__, NULL },       \
               &run_result)
#define CTL_AS(uid, d, code, phrase, ...)                                                      \
    expect_ctl(uid, (d)->prefix, code, phrase, (const char *const[]){ __VA_ARGS__, NULL },      \
               &run_result)
#define CTL_NO_PREFIX(code, phrase, ...)                                                       \
    expect_ctl(-1, NULL, code, phrase, (const char *const[]){ __VA_ARGS__, NULL }, &run_result)
#define PCTL(d, code, phrase, ...)                                                             \
    expect_pctl(-1, d, code, phrase, (const char *const[]){ __VA_ARGS__, NULL })
#define PCTL_AS(uid, d, code, phrase, ...)                                                     \
    expect_pctl(uid, d, code, phrase, (const char *const[]){ __VA_ARGS__, NULL })

#define ATTACH(d, a) CTL(d, 0, "attached NullEngine", "attach", "--pid", pid_text(a), "--sid", \
                         "0", "--descriptor", data("attach-null.conf"))
#define DETACH(d, a) CTL(d, 0, "detached NullEngine", "detach", "--pid", pid_text(a), "--sid", \
                         "0", "--descriptor", data("detach-null.conf"))

/* phoenixctl (policyctl) ARGS, parsed (NULL if it failed or printed no JSON). */
json_object *ctl_json(const struct phx_daemon *d, const char *const *args);
json_object *pctl_json(const struct phx_daemon *d, const char *const *args);

#define CTL_JSON(d, ...) ctl_json(d, (const char *const[]){ __VA_ARGS__, "--json", NULL })

/* Member KEY of O, or NULL. */
json_object *member(json_object *o, const char *key);

/* ---- what the service says ------------------------------------------------------------------ */

/* PID's subscription in `list --json` LIST (SID 0), or NULL. */
json_object *subscription_of(json_object *list, pid_t pid);
/* Waits (bounded) for PID to show in `list --json`; returns its subscription's object, owned by
 * *LIST (put it when done), or NULL. */
json_object *wait_listed(const struct phx_daemon *d, pid_t pid, json_object **list);
/* Field KEY of PID's engine of TYPE in `list --json`, -1 when there is none. */
long long engine_field(const struct phx_daemon *d, pid_t pid, const char *type, const char *key);
long long engine_id(const struct phx_daemon *d, pid_t pid, const char *type);
/* PID's addons as "A,B" ("" for none; "?" when PID is not listed). */
const char *addons_of(const struct phx_daemon *d, pid_t pid);

struct null_stats {
    long long tx, rx, upgrades, batch;
    char      version[16];
};

/* `engine ID stats` of a NullEngine. */
bool null_stats(const struct phx_daemon *d, long long id, struct null_stats *st);
/* The builds of plugin NAME in `plugins --json`: how many, and the version of the current one. */
unsigned plugin_builds(const struct phx_daemon *d, const char *name, char *current, size_t len);

/* Runs CASES of SUITE (phx_test_main), or, with --idle-app PREFIX, the idle app. */
int admin_main(const char *suite, const phx_test_case_t *cases, int argc, char **argv);

#endif /* PHX_TESTS_ADMIN_HARNESS_H */
