/* phx_test.c - CUnit runner, file, clock and memory helpers shared by the test programs. See
 * phx_test.h; running child programs is in phx_test_run.c. */
#include "phx_test.h"

#include <CUnit/Basic.h>
#include <ftw.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifndef PHX_SOURCE_DIR
#error "PHX_SOURCE_DIR must be defined by the build"
#endif

static bool skipped;

void phx_test_skip(const char *fmt, ...)
{
    va_list ap;

    printf("\n    SKIPPED: ");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
    skipped = true;
}

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
    if (failed)
        return 1;
    if (skipped)
        printf("\nSKIPPED: some cases could not run here (see above)\n");
    return skipped ? PHX_TEST_SKIP_CODE : 0;
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

void phx_test_sleep_ms(unsigned ms)
{
    struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };

    nanosleep(&ts, NULL);
}

bool phx_test_maps_contain(const char *needle)
{
    FILE *f = fopen("/proc/self/maps", "r");
    char line[4096];
    bool found = false;

    while (f && !found && fgets(line, sizeof(line), f))
        found = strstr(line, needle) != NULL;
    if (f)
        fclose(f);
    return found;
}

phx_shm_region_t phx_test_region(size_t size)
{
    struct phx_shm_region_params p = { .field_mask = PHX_SHM_REGION_PARAM_FIELD_SIZE,
                                       .size = size };
    phx_shm_region_t r;

    CU_ASSERT_EQUAL_FATAL(phx_shm_region_create(&r, &p), 0);
    return r;
}
