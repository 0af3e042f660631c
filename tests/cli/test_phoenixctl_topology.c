/* test_phoenixctl_topology.c - `phoenixctl topology` as a user runs it: the built binary on every
 * hwloc profile with --json (parsed back with json-c), the readable summary, the threads kept for
 * urgent apps (phoenixd's default runtime.urgent_threads = 1, with no service running too, and
 * --urgent-threads), --help, and the exit codes: 2 for a wrong command line, 1 for an unusable
 * topology or NIC.
 *
 * Each run is phx_test_run(): bounded in time, output captured, always reaped. */
#include "phx_test.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef PHOENIXCTL_PATH
#error "PHOENIXCTL_PATH must be defined by the build"
#endif

#define MAX_ARGS 16
/* phoenixd's defaults (placement.h): runtime.threads = 1 and one thread kept for urgent apps. */
#define DEFAULT_THREADS 1
#define DEFAULT_URGENT  1

static phx_test_run_result_t run_result;    /* large: one, reused by every run */

/* Runs phoenixctl ARGS (NULL-terminated) within phx_test_run()'s default 30 s. */
static const phx_test_run_result_t *run(const char *const *args)
{
    struct phx_test_run_params p = {
        .field_mask = PHX_TEST_RUN_PARAM_FIELD_PATH,
        .path = PHOENIXCTL_PATH,
    };
    char *argv[MAX_ARGS + 2] = { "phoenixctl" };

    for (int i = 0; i < MAX_ARGS && args[i]; i++)
        argv[i + 1] = (char *)args[i];
    phx_test_run(argv, &p, &run_result);
    return &run_result;
}

static const char *profile(const char *name)
{
    static char path[4096];

    snprintf(path, sizeof(path), "%s/hwloc-profiles/%s", PHX_SOURCE_DIR, name);
    return path;
}

/* Runs ARGS, expecting exit code CODE and, when given, PHRASE in stdout or stderr. */
static void expect_run(const char *const *args, int code, const char *phrase)
{
    const phx_test_run_result_t *r = run(args);

    if (r->code != code || (phrase && !strstr(r->out, phrase) && !strstr(r->err, phrase)))
        fprintf(stderr, "\n  %s ...: exit %d, want %d with '%s'\n  stdout: %s\n  stderr: %s\n",
                args[0] ? args[0] : "", r->code, code, phrase ? phrase : "", r->out, r->err);
    CU_ASSERT_EQUAL(r->code, code);
    if (phrase)
        CU_ASSERT(strstr(r->out, phrase) || strstr(r->err, phrase));
}

typedef struct {
    const char *profile;
    const char *nic;            /* --nic, NULL for none */
    const char *threads;        /* --threads: runtime.threads; one more is kept (the default) */
    const char *want_nic;
    const char *want_kind;
    int want_numa;
    int first_cpus[4];          /* OS indexes of thread 0's CPUs, -1 terminated */
    int memory_nodes[4];        /* -1 terminated */
} cli_case_t;

static const cli_case_t cli_cases[] = {
    { "two-socket-ib.xml", NULL, "2", "mlx5_0", "openfabrics", 1, { 8, 24, -1 }, { 1, -1 } },
    { "two-socket-ib.xml", "eno1", "1", "eno1", "network", 0, { 0, 16, -1 }, { 0, -1 } },
    { "one-socket-eth.xml", NULL, "3", "ens1f0", "network", 0, { 0, 8, -1 }, { 0, -1 } },
    { "four-numa-dual-hca.xml", NULL, "2", "mlx5_0", "openfabrics", 1, { 8, 9, -1 }, { 1, -1 } },
    { "four-numa-dual-hca.xml", "mlx5_1", "2", "mlx5_1", "openfabrics", 2, { 16, 17, -1 },
      { 2, -1 } },
    { "snc-package-hca.xml", NULL, "2", "mlx5_0", "openfabrics", 2, { 9, -1 }, { 2, 3, -1 } },
    { "vm-no-hca.xml", NULL, "3", "eth0", "network", 0, { 0, -1 }, { 0, -1 } },
};

static json_object *get(json_object *o, const char *key, json_type type)
{
    json_object *v = NULL;

    CU_ASSERT(json_object_object_get_ex(o, key, &v) && json_object_is_type(v, type));
    return v;
}

static void check_ints(json_object *array, const int *want)
{
    size_t n = 0;

    while (want[n] >= 0)
        n++;
    CU_ASSERT_EQUAL_FATAL(json_object_array_length(array), n);
    for (size_t i = 0; i < n; i++)
        CU_ASSERT_EQUAL(json_object_get_int(json_object_array_get_idx(array, i)), want[i]);
}

static void check_json_case(const cli_case_t *c)
{
    const char *args[MAX_ARGS] = { "topology", "--json", "--xml", profile(c->profile),
                                   "--threads", c->threads, c->nic ? "--nic" : NULL, c->nic };
    const phx_test_run_result_t *r = run(args);

    CU_ASSERT_EQUAL_FATAL(r->code, 0);
    json_object *o = json_tokener_parse(r->out);
    CU_ASSERT_PTR_NOT_NULL_FATAL(o);
    CU_ASSERT_STRING_EQUAL(json_object_get_string(get(o, "nic", json_type_string)), c->want_nic);
    CU_ASSERT_STRING_EQUAL(json_object_get_string(get(o, "nic_kind", json_type_string)),
                           c->want_kind);
    CU_ASSERT_EQUAL(json_object_get_int(get(o, "numa_node", json_type_int)), c->want_numa);
    json_object *cpus = get(o, "runtime_cpus", json_type_array);
    CU_ASSERT_EQUAL_FATAL(json_object_array_length(cpus), (size_t)atoi(c->threads) + DEFAULT_URGENT);
    CU_ASSERT_EQUAL(json_object_get_int(get(o, "urgent_threads", json_type_int)), DEFAULT_URGENT);
    check_ints(json_object_array_get_idx(cpus, 0), c->first_cpus);
    check_ints(get(o, "memory_nodes", json_type_array), c->memory_nodes);
    CU_ASSERT(strlen(json_object_get_string(get(o, "reason", json_type_string))) > 20);
    json_object_put(o);
}

static void test_json_on_every_profile(void)
{
    for (size_t i = 0; i < sizeof(cli_cases) / sizeof(cli_cases[0]); i++)
        check_json_case(&cli_cases[i]);
}

static void test_summary(void)
{
    char two_socket[4096];      /* profile()'s buffer is reused by the next call */

    snprintf(two_socket, sizeof(two_socket), "%s", profile("two-socket-ib.xml"));
    expect_run((const char *[]){ "topology", "--xml", two_socket, "-t", "2", NULL }, 0,
               "mlx5_0 (openfabrics)");
    expect_run((const char *[]){ "topology", "--xml", two_socket, "-t", "2", NULL }, 0,
               "Thread 1 CPUs:   9,25");
    expect_run((const char *[]){ "topology", "--xml", profile("snc-package-hca.xml"), NULL }, 0,
               "Memory nodes:    2-3");
    expect_run((const char *[]){ "topology", "-x", two_socket, NULL }, 0, "Reason:");
    expect_run((const char *[]){ "topology", "--xml", two_socket, "-t", "2", NULL }, 0,
               "Kept threads:    2 (runtime.urgent_threads");
    expect_run((const char *[]){ "topology", "--xml", two_socket, "-t", "2", "-u", "2", NULL }, 0,
               "Kept threads:    2-3 (runtime.urgent_threads");
    expect_run((const char *[]){ "topology", "--xml", two_socket, "-t", "2", "-u", "2", NULL }, 0,
               "Thread 3 CPUs:   11,27");
    const phx_test_run_result_t *r = run((const char *[]){ "topology", "--xml", two_socket,
                                                          "--urgent-threads", "0", NULL });
    CU_ASSERT_EQUAL(r->code, 0);
    CU_ASSERT_PTR_NULL(strstr(r->out, "Kept threads:"));        /* none kept */
    CU_ASSERT_PTR_NULL(strstr(r->out, "Thread 1 CPUs:"));
}

/* The placement of N threads (runtime_cpus) of which URGENT kept, from --json output OUT. */
static void check_threads(const char *out, size_t n, int urgent)
{
    json_object *o = json_tokener_parse(out);

    CU_ASSERT_PTR_NOT_NULL_FATAL(o);
    CU_ASSERT_EQUAL(json_object_array_length(get(o, "runtime_cpus", json_type_array)), n);
    CU_ASSERT_EQUAL(json_object_get_int(get(o, "urgent_threads", json_type_int)), urgent);
    json_object_put(o);
}

/* With no service at --prefix, the placement shown is the one phoenixd would make with its
 * default settings: runtime.threads and, after them, the thread kept for urgent apps. */
static void test_no_service_uses_phoenixd_defaults(void)
{
    char *dir = strdup(phx_test_tmpdir("phoenixctl-none"));
    const phx_test_run_result_t *r = run((const char *[]){ "topology", "--prefix", dir, NULL });

    CU_ASSERT_EQUAL(r->code, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(r->err, "no Phoenix service at"));
    CU_ASSERT_PTR_NOT_NULL(strstr(r->out, "Topology:        this machine"));
    CU_ASSERT_PTR_NOT_NULL(strstr(r->out, "Kept threads:    1 (runtime.urgent_threads"));
    r = run((const char *[]){ "topology", "--json", "--prefix", dir, NULL });
    CU_ASSERT_EQUAL_FATAL(r->code, 0);
    check_threads(r->out, DEFAULT_THREADS + DEFAULT_URGENT, DEFAULT_URGENT);
    phx_test_rmtree(dir);
    free(dir);
}

static void test_live_machine(void)
{
    const phx_test_run_result_t *r = run((const char *[]){ "topology", "--json", "--threads", "2",
                                                          NULL });

    CU_ASSERT_EQUAL_FATAL(r->code, 0);
    check_threads(r->out, 2 + DEFAULT_URGENT, DEFAULT_URGENT);
    json_object *o = json_tokener_parse(r->out);
    CU_ASSERT_PTR_NOT_NULL_FATAL(o);
    CU_ASSERT(json_object_array_length(get(o, "memory_nodes", json_type_array)) > 0);
    json_object_put(o);
    r = run((const char *[]){ "topology", "--json", "--threads", "2", "--urgent-threads", "3",
                              NULL });
    CU_ASSERT_EQUAL_FATAL(r->code, 0);
    check_threads(r->out, 5, 3);
    expect_run((const char *[]){ "topology", NULL }, 0, "this machine");
}

static void test_help_and_version(void)
{
    expect_run((const char *[]){ "--help", NULL }, 0, "topology");
    expect_run((const char *[]){ "-h", NULL }, 0, "Commands:");
    expect_run((const char *[]){ "topology", "--help", NULL }, 0, "--threads N");
    expect_run((const char *[]){ "topology", "--help", NULL }, 0, "--urgent-threads N");
    expect_run((const char *[]){ "--version", NULL }, 0, "phoenixctl ");
}

static void test_usage_errors_exit_2(void)
{
    const char *xml = profile("vm-no-hca.xml");

    expect_run((const char *[]){ NULL }, 2, "Usage:");
    expect_run((const char *[]){ "frobnicate", NULL }, 2, "unknown command 'frobnicate'");
    expect_run((const char *[]){ "--bogus", NULL }, 2, "Try 'phoenixctl --help'");
    expect_run((const char *[]){ "topology", "--bogus", NULL }, 2,
               "Try 'phoenixctl topology --help'");
    expect_run((const char *[]){ "topology", "--xml", NULL }, 2, "phoenixctl topology:");
    expect_run((const char *[]){ "topology", "--xml", xml, "--threads", NULL }, 2, NULL);
    expect_run((const char *[]){ "topology", "--xml", xml, "--threads", "0", NULL }, 2, "'0'");
    expect_run((const char *[]){ "topology", "--xml", xml, "--threads", "2x", NULL }, 2, NULL);
    expect_run((const char *[]){ "topology", "--xml", xml, "--threads", "-1", NULL }, 2, NULL);
    expect_run((const char *[]){ "topology", "--xml", xml, "--threads", "5000", NULL }, 2, NULL);
    expect_run((const char *[]){ "topology", "--xml", xml, "--threads", "257", NULL }, 2,
               "from 1 to 256, not '257'");
    expect_run((const char *[]){ "topology", "--xml", xml, "-u", "65", NULL }, 2, "'65'");
    expect_run((const char *[]){ "topology", "--xml", xml, "-u", "-1", NULL }, 2, NULL);
    expect_run((const char *[]){ "topology", "--xml", xml, "-u", "1x", NULL }, 2, NULL);
    expect_run((const char *[]){ "topology", "--xml", xml, "--urgent-threads", NULL }, 2, NULL);
    expect_run((const char *[]){ "topology", "--xml", xml, "extra", NULL }, 2, "'extra'");
}

static void test_failures_exit_1(void)
{
    char *dir = strdup(phx_test_tmpdir("phoenixctl"));
    const char *garbage = phx_test_write_file(dir, "garbage.xml", "<topology><object");

    expect_run((const char *[]){ "topology", "--xml", garbage, NULL }, 1, "not a valid hwloc XML");
    expect_run((const char *[]){ "topology", "--xml", "/nonexistent.xml", NULL }, 1,
               "/nonexistent.xml");
    expect_run((const char *[]){ "topology", "--xml", profile("four-numa-dual-hca.xml"), "--nic",
                                 "mlx5_9", NULL }, 1, "ib0, mlx5_0, ib1, mlx5_1");
    expect_run((const char *[]){ "topology", "--nic", "no-such-nic0", NULL }, 1, "no-such-nic0");
    phx_test_rmtree(dir);
    free(dir);
}

static const phx_test_case_t cases[] = {
    { "--json on every profile", test_json_on_every_profile },
    { "readable summary", test_summary },
    { "live machine", test_live_machine },
    { "no service: phoenixd's default threads, one kept", test_no_service_uses_phoenixd_defaults },
    { "help and version", test_help_and_version },
    { "usage errors exit 2", test_usage_errors_exit_2 },
    { "unusable topology or NIC exits 1", test_failures_exit_1 },
    { NULL, NULL },
};

int main(int argc, char **argv)
{
    return phx_test_main("phoenixctl_topology", cases, argc, argv);
}
