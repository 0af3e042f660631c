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
 * `prog NAME-SUBSTRING` runs only the cases whose name contains it. The exit status is non-zero
 * when any assertion failed, and CUnit's summary is printed for CI to read. */
#ifndef PHX_TEST_H
#define PHX_TEST_H

#include <CUnit/CUnit.h>
#include <stddef.h>

typedef struct {
    const char *name;
    CU_TestFunc fn;
} phx_test_case_t;

int phx_test_main(const char *suite, const phx_test_case_t *cases, int argc, char **argv);

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

#endif /* PHX_TEST_H */
