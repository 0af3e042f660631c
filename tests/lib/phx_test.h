/* phx_test.h - the small harness every CUnit test program uses.
 *
 * A test program lists its cases in a NULL-terminated array and returns phx_test_main():
 *
 *     static const phx_test_case_t cases[] = {
 *         { "push then pop keeps order", test_order },
 *         { NULL, NULL },
 *     };
 *     int main(int argc, char **argv) { return phx_test_main("ring", cases, argc, argv); }
 *
 * `prog NAME-SUBSTRING` runs only the cases whose name contains it. The exit status is 1 when any
 * assertion failed, else PHX_TEST_SKIP_CODE when a case could not check what it is for here
 * (phx_test_skip()), else 0; CUnit's summary is printed for CI to read. ctest reports a skip as
 * "Not Run" (PhxTesting.cmake sets SKIP_RETURN_CODE on every test), and CI fails on it. */
#ifndef PHX_TEST_H
#define PHX_TEST_H

#include "phoenix/shm_region.h"

#include <CUnit/CUnit.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct {
    const char *name;
    CU_TestFunc fn;
} phx_test_case_t;

int phx_test_main(const char *suite, const phx_test_case_t *cases, int argc, char **argv);

/* ctest's SKIP_RETURN_CODE for every test of the tree (cmake/PhxTesting.cmake: PHX_SKIP_CODE). */
#define PHX_TEST_SKIP_CODE 77

/* Prints "SKIPPED: <reason>" and makes phx_test_main() exit PHX_TEST_SKIP_CODE unless a case
 * fails. The calling case returns by itself after it. */
void phx_test_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A fresh private directory under $TMPDIR (or /tmp), removed with phx_test_rmtree(). The
 * returned string is static storage of the harness; copy it to keep two. */
const char *phx_test_tmpdir(const char *tag);
void phx_test_rmtree(const char *path);

/* Writes TEXT to DIR/NAME and returns the full path (static storage). */
const char *phx_test_write_file(const char *dir, const char *name, const char *text);

/* Path of a file in the source tree, from the PHX_SOURCE_DIR the build compiles in. */
const char *phx_test_source_path(const char *relative);

/* Monotonic clock in nanoseconds, for bounding loops in time. */
unsigned long long phx_test_now_ns(void);

void phx_test_sleep_ms(unsigned ms);

/* True when a line of /proc/self/maps contains NEEDLE (a library's file name, say). */
bool phx_test_maps_contain(const char *needle);

/* A fresh shared region of SIZE bytes (phx_shm_region_create() with only a size); the case
 * stops when it cannot be made. */
phx_shm_region_t phx_test_region(size_t size);

/* ---- child processes ---------------------------------------------------------------------- */

#define PHX_TEST_KILLED 999                 /* the child outlived its time and was killed */

/* Exit code of child PID, or 128 + its signal; PHX_TEST_KILLED if it outlived TIMEOUT_NS (it is
 * then killed and reaped all the same). */
int phx_test_reap(pid_t pid, unsigned long long timeout_ns);
/* In a child just forked by PARENT: it gets SIGKILL when PARENT dies, so a test that ctest kills
 * on its timeout takes its services and servers along instead of leaving them running. Call it
 * after any change of uid (which clears the setting). */
void phx_test_die_with_parent(pid_t parent);

enum {
    PHX_TEST_RUN_PARAM_FIELD_PATH    = 1u << 0,
    PHX_TEST_RUN_PARAM_FIELD_ENV     = 1u << 1,
    PHX_TEST_RUN_PARAM_FIELD_UID     = 1u << 2,
    PHX_TEST_RUN_PARAM_FIELD_TIMEOUT = 1u << 3,
    PHX_TEST_RUN_PARAM_FIELD_FLAGS   = 1u << 4,
};

enum {
    PHX_TEST_RUN_MERGE_OUTPUT = 1u << 0,    /* stderr into out too, in the order written (2>&1) */
};

/* How phx_test_run() runs a program; unset fields (or no params at all) take the defaults. */
struct phx_test_run_params {
    uint64_t           field_mask;          /* PHX_TEST_RUN_PARAM_FIELD_... */
    const char        *path;                /* the program to exec; default argv[0] */
    char *const       *env;                 /* its whole environment; default ours */
    int                uid;                 /* run as this uid and gid without supplementary
                                             * groups (we must be root); default ours */
    unsigned long long timeout_ns;          /* default 30 s */
    unsigned           flags;               /* PHX_TEST_RUN_...; default 0 */
};

/* What a program run by phx_test_run() did. Large: keep it static or on the heap. */
typedef struct {
    int  code;                  /* exit code, 128 + signal, PHX_TEST_KILLED, or -1: not started */
    char out[65536];            /* its stdout (NUL-terminated, cut at the size) */
    char err[16384];            /* its stderr, unless merged into out */
} phx_test_run_result_t;

/* Runs ARGV (exec, not a shell) to its end with stdout and stderr captured, for at most the
 * timeout, after which it is killed. Exec and privilege failures exit 127 and 126 with the
 * reason on stderr. Returns R->code. */
int phx_test_run(char *const argv[], const struct phx_test_run_params *params,
                 phx_test_run_result_t *r);

/* ---- a child that runs alongside the test: spawn, wait for a line, reap ------------------- */

#define PHX_TEST_CHILD_OUT_CAP 65536

enum {
    PHX_TEST_CHILD_STDIN        = 1u << 0,  /* a pipe to its stdin (in_fd); else it shares ours */
    PHX_TEST_CHILD_OWN_GROUP    = 1u << 1,  /* its own process group, stopped as a whole (mpirun
                                             * and its ranks) when it outstays its time */
    PHX_TEST_CHILD_KEEP_OUTPUT  = 1u << 2,  /* stdout and stderr stay ours, not captured */
};

/* A program started by phx_test_child_spawn(). Large: keep it static or on the heap. */
typedef struct {
    pid_t  pid;                 /* 0 once reaped */
    int    in_fd;               /* write end of its stdin, or -1 */
    int    out_fd, err_fd;      /* read ends of its stdout and stderr, -1 at EOF or not captured */
    int    code;                /* exit code (as phx_test_reap()) once it exited, else -1 */
    unsigned flags;
    size_t out_len, err_len;
    char   out[PHX_TEST_CHILD_OUT_CAP];     /* what it wrote so far, NUL-terminated */
    char   err[PHX_TEST_CHILD_OUT_CAP];
} phx_test_child_t;

/* Starts ARGV (looked up in PATH unless it has a '/') with ENV_ADD ("K=V" strings added to our
 * environment; NULL: none) and FLAGS (PHX_TEST_CHILD_...). It dies with the test (see
 * phx_test_die_with_parent()). Returns 0 or -errno; a child that cannot exec exits 127. */
int  phx_test_child_spawn(phx_test_child_t *c, char *const argv[], const char *const env_add[],
                          unsigned flags);
/* Reads its output until NEEDLE shows up in its stdout (NULL: until both pipes are at EOF) or
 * TIMEOUT_NS passed. True when NEEDLE (or EOF) was reached. */
bool phx_test_child_wait_for(phx_test_child_t *c, const char *needle,
                             unsigned long long timeout_ns);
/* True once it exited (reaped without waiting; C->code is then set). */
bool phx_test_child_exited(phx_test_child_t *c);
/* Closes its stdin, reads its output and waits up to TIMEOUT_NS for its exit; past that it gets
 * SIGTERM (its group, with PHX_TEST_CHILD_OWN_GROUP), half a second, then SIGKILL. Returns its
 * exit code, 128 + its signal, or PHX_TEST_KILLED when it had to be stopped; closes the pipes. */
int  phx_test_child_reap(phx_test_child_t *c, unsigned long long timeout_ns);

#endif /* PHX_TEST_H */
