/* test_log.c - logging: level parsing, disabled levels cost no argument evaluation, records land
 * whole in a file, concurrent writers never interleave inside a line, and syslog mode sends each
 * record to /dev/log with the daemon facility and the record's level (checked in a child with a
 * private /dev, where the test's own socket is /dev/log). */
#include "phoenix/log.h"
#include "phx_test.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <syslog.h>
#include <unistd.h>

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

/* In a child: a private /dev whose log is a datagram socket of ours; PHX_TEST_SKIP_CODE when
 * this process may not make one. Returns the socket. */
static int private_dev_log(void)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX, .sun_path = "/dev/log" };
    struct timeval wait = { .tv_sec = 5 };

    if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
        mount("tmpfs", "/dev", "tmpfs", 0, "size=64k") != 0) {
        printf("SKIPPED: no private mount namespace here (needs root): %s\n", strerror(errno));
        _exit(PHX_TEST_SKIP_CODE);
    }
    int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &wait, sizeof(wait)) != 0) {
        printf("cannot make /dev/log: %s\n", strerror(errno));
        _exit(1);
    }
    return fd;
}

/* The child's checks: exit 0 when the record arrived as syslog should send it. */
static void syslog_child(void)
{
    char got[2048];
    int fd = private_dev_log();

    phx_log_set_ident("syslogtest");
    phx_log_set_level(PHX_LOG_INFO);
    phx_log_set_syslog();
    phx_warn("to syslog %d", 42);
    ssize_t n = recv(fd, got, sizeof(got) - 1, 0);
    got[n > 0 ? n : 0] = 0;
    phx_log_set_file(NULL);
    printf("    /dev/log got: %s\n", got);
    char prio[16];
    snprintf(prio, sizeof(prio), "<%d>", LOG_DAEMON | LOG_WARNING);
    bool ok = strncmp(got, prio, strlen(prio)) == 0 && strstr(got, "syslogtest[") &&
              strstr(got, "WARN  test_log.c:") && strstr(got, "to syslog 42");
    _exit(ok ? 0 : 1);
}

static void test_syslog_record(void)
{
    fflush(stdout);
    pid_t parent = getpid(), pid = fork();

    CU_ASSERT_FATAL(pid >= 0);
    if (pid == 0) {
        phx_test_die_with_parent(parent);
        syslog_child();
    }
    int code = phx_test_reap(pid, 20 * 1000000000ull);
    if (code == PHX_TEST_SKIP_CODE) {
        phx_test_skip("syslog record: no private mount namespace for a test /dev/log");
        return;
    }
    CU_ASSERT_EQUAL(code, 0);
}

static const phx_test_case_t cases[] = {
    { "level names parse and print", test_parse_levels },
    { "disabled level evaluates no argument", test_disabled_level_skips_arguments },
    { "record format in a file", test_file_record_format },
    { "concurrent writers keep lines whole", test_concurrent_lines_stay_whole },
    { "syslog mode: facility, level and text reach /dev/log", test_syslog_record },
    { NULL, NULL },
};

int main(int argc, char **argv)
{
    return phx_test_main("log", cases, argc, argv);
}
