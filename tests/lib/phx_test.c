/* phx_test.c - CUnit runner and file helpers shared by the test programs. See phx_test.h. */
#include "phx_test.h"

#include <CUnit/Basic.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifndef PHX_SOURCE_DIR
#error "PHX_SOURCE_DIR must be defined by the build"
#endif

int phx_test_main(const char *suite_name, const phx_test_case_t *cases, int argc, char **argv)
{
    const char *filter = argc > 1 ? argv[1] : NULL;

    if (CU_initialize_registry() != CUE_SUCCESS)
        return 2;
    CU_pSuite suite = CU_add_suite(suite_name, NULL, NULL);
    for (const phx_test_case_t *c = cases; suite && c->name; c++) {
        if (!filter || strstr(c->name, filter))
            CU_add_test(suite, c->name, c->fn);
    }
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}

const char *phx_test_tmpdir(const char *tag)
{
    static char path[PATH_MAX];
    const char *base = getenv("TMPDIR");

    snprintf(path, sizeof(path), "%s/phx-%s-XXXXXX", base && *base ? base : "/tmp", tag);
    return mkdtemp(path) ? path : NULL;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

void phx_test_rmtree(const char *path)
{
    if (path)
        nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

const char *phx_test_write_file(const char *dir, const char *name, const char *text)
{
    static char path[PATH_MAX];

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (!f)
        return NULL;
    fputs(text, f);
    fclose(f);
    return path;
}

const char *phx_test_source_path(const char *relative)
{
    static char path[PATH_MAX];

    snprintf(path, sizeof(path), "%s/%s", PHX_SOURCE_DIR, relative);
    return path;
}

unsigned long long phx_test_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (unsigned long long)ts.tv_sec * 1000000000ull + (unsigned long long)ts.tv_nsec;
}
