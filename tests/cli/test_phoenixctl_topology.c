/* test_phoenixctl_topology.c - `phoenixctl topology` as a user runs it: the built binary on every
 * hwloc profile with --json (parsed back with json-c), the readable summary, --help, and the exit
 * codes: 2 for a wrong command line, 1 for an unusable topology or NIC.
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
    const char *threads;
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
    CU_ASSERT_EQUAL_FATAL(json_object_array_length(cpus), (size_t)atoi(c->threads));
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
    const char *two_socket = profile("two-socket-ib.xml");

    expect_run((const char *[]){ "topology", "--xml", two_socket, "-t", "2", NULL }, 0,
               "mlx5_0 (openfabrics)");
    expect_run((const char *[]){ "topology", "--xml", two_socket, "-t", "2", NULL }, 0,
               "Thread 1 CPUs:   9,25");
    expect_run((const char *[]){ "topology", "--xml", profile("snc-package-hca.xml"), NULL }, 0,
               "Memory nodes:    2-3");
    expect_run((const char *[]){ "topology", "-x", two_socket, NULL }, 0, "Reason:");
}

static void test_live_machine(void)
{
    const phx_test_run_result_t *r = run((const char *[]){ "topology", "--json", "--threads", "2",
                                                          NULL });

    CU_ASSERT_EQUAL_FATAL(r->code, 0);
    json_object *o = json_tokener_parse(r->out);
    CU_ASSERT_PTR_NOT_NULL_FATAL(o);
    CU_ASSERT_EQUAL(json_object_array_length(get(o, "runtime_cpus", json_type_array)), 2);
    CU_ASSERT(json_object_array_length(get(o, "memory_nodes", json_type_array)) > 0);
    json_object_put(o);
    expect_run((const char *[]){ "topology", NULL }, 0, "this machine");
}

static void test_help_and_version(void)
{
    expect_run((const char *[]){ "--help", NULL }, 0, "topology");
    expect_run((const char *[]){ "-h", NULL }, 0, "Commands:");
    expect_run((const char *[]){ "topology", "--help", NULL }, 0, "--threads N");
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
    { "help and version", test_help_and_version },
    { "usage errors exit 2", test_usage_errors_exit_2 },
    { "unusable topology or NIC exits 1", test_failures_exit_1 },
    { NULL, NULL },
};

int main(int argc, char **argv)
{
    return phx_test_main("phoenixctl_topology", cases, argc, argv);
}
