/* test_log.c - logging: level parsing, disabled levels cost no argument evaluation, records land
 * whole in a file, and concurrent writers never interleave inside a line. */
#include "phoenix/log.h"
#include "phx_test.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void test_parse_levels(void)
{
    phx_log_level_t l;

    CU_ASSERT_EQUAL(phx_log_parse_level("debug", &l), 0);
    CU_ASSERT_EQUAL(l, PHX_LOG_DEBUG);
    CU_ASSERT_EQUAL(phx_log_parse_level("WARN", &l), 0);
    CU_ASSERT_EQUAL(l, PHX_LOG_WARN);
    CU_ASSERT_NOT_EQUAL(phx_log_parse_level("loud", &l), 0);
    CU_ASSERT_NOT_EQUAL(phx_log_parse_level(NULL, &l), 0);
    CU_ASSERT_STRING_EQUAL(phx_log_level_name(PHX_LOG_TRACE), "trace");
}

static int evaluations;
static int count_evaluation(void) { return ++evaluations; }

static void test_disabled_level_skips_arguments(void)
{
    phx_log_set_level(PHX_LOG_WARN);
    evaluations = 0;
    phx_debug("never %d", count_evaluation());
    CU_ASSERT_EQUAL(evaluations, 0);
    CU_ASSERT_EQUAL(phx_log_set_file("/dev/null"), 0);
    phx_error("always %d", count_evaluation());
    CU_ASSERT_EQUAL(evaluations, 1);
    CU_ASSERT_EQUAL(phx_log_set_file(NULL), 0);
}

static char *read_all(const char *path)
{
    FILE *f = fopen(path, "r");
    static char buf[1 << 20];
    size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;

    if (f)
        fclose(f);
    buf[n] = 0;
    return buf;
}

static void test_file_record_format(void)
{
    const char *dir = phx_test_tmpdir("log");
    char path[4096];

    snprintf(path, sizeof(path), "%s/out.log", dir);
    phx_log_set_ident("tester");
    phx_log_set_level(PHX_LOG_INFO);
    CU_ASSERT_EQUAL_FATAL(phx_log_set_file(path), 0);
    phx_info("hello %s", "world");
    phx_debug("hidden");
    CU_ASSERT_EQUAL(phx_log_set_file(NULL), 0);

    char *text = read_all(path);
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "tester["));
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "INFO  test_log.c:"));
    CU_ASSERT_PTR_NOT_NULL(strstr(text, ": hello world\n"));
    CU_ASSERT_PTR_NULL(strstr(text, "hidden"));
    CU_ASSERT_EQUAL(text[4], '-');              /* ISO date first */
    CU_ASSERT_NOT_EQUAL(phx_log_set_file("/nonexistent-dir/x.log"), 0);
    phx_test_rmtree(dir);
}

#define WRITERS 4
#define RECORDS 2000

static void *writer(void *arg)
{
    for (int i = 0; i < RECORDS; i++)
        phx_warn("writer %ld record %d %s", (long)arg, i, "padding-padding-padding-padding");
    return NULL;
}

static void test_concurrent_lines_stay_whole(void)
{
    const char *dir = phx_test_tmpdir("log");
    char path[4096];
    pthread_t t[WRITERS];

    snprintf(path, sizeof(path), "%s/mt.log", dir);
    CU_ASSERT_EQUAL_FATAL(phx_log_set_file(path), 0);
    for (long i = 0; i < WRITERS; i++)
        pthread_create(&t[i], NULL, writer, (void *)i);
    for (int i = 0; i < WRITERS; i++)
        pthread_join(t[i], NULL);
    phx_log_set_file(NULL);

    int lines = 0, whole = 0;
    for (char *save, *l = strtok_r(read_all(path), "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        lines++;
        const char *tail = strstr(l, "padding");
        whole += strstr(l, "WARN ") && tail && strcmp(tail, "padding-padding-padding-padding") == 0;
    }
    CU_ASSERT_EQUAL(lines, WRITERS * RECORDS);
    CU_ASSERT_EQUAL(whole, WRITERS * RECORDS);
    phx_test_rmtree(dir);
}

static const phx_test_case_t cases[] = {
    { "level names parse and print", test_parse_levels },
    { "disabled level evaluates no argument", test_disabled_level_skips_arguments },
    { "record format in a file", test_file_record_format },
    { "concurrent writers keep lines whole", test_concurrent_lines_stay_whole },
    { NULL, NULL },
};

int main(int argc, char **argv)
{
    return phx_test_main("log", cases, argc, argv);
}
