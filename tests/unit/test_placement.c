/* test_placement.c - NIC-local placement on the XML profiles of hwloc-profiles/ and on this
 * machine: which NIC wins, exact per-thread cpusets (OS indexes, disallowed PUs left out, wrap
 * around), NUMA nodes, named NICs, bad names and files, binding, and the JSON form.
 *
 * The expectations are a table, one row per (profile, NIC, thread count); hwloc-profiles/README.md
 * explains each machine and why it lands where it does. */
#include "phoenix/admin/placement.h"
#include "phx_test.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_THREADS 10

typedef struct {
    const char *profile;        /* file in hwloc-profiles/ */
    const char *nic_param;      /* NULL: automatic choice */
    unsigned threads;
    const char *nic;
    const char *kind;
    int numa_node;
    const char *cpus[MAX_THREADS];  /* per thread, hwloc list syntax, OS indexes */
    const char *memory_nodes;
} expected_placement_t;

static const expected_placement_t expectations[] = {
    /* Intel 2 sockets, PUs interleaved (core 0 = PUs 0,16); eno1 on socket 0 comes first in the
     * tree, but the HCA on socket 1 wins. */
    { "two-socket-ib.xml", NULL, 1, "mlx5_0", "openfabrics", 1, { "8,24" }, "1" },
    { "two-socket-ib.xml", NULL, 2, "mlx5_0", "openfabrics", 1, { "8,24", "9,25" }, "1" },
    { "two-socket-ib.xml", NULL, 10, "mlx5_0", "openfabrics", 1,
      { "8,24", "9,25", "10,26", "11,27", "12,28", "13,29", "14,30", "15,31", "8,24", "9,25" },
      "1" },
    { "two-socket-ib.xml", "eno1", 2, "eno1", "network", 0, { "0,16", "1,17" }, "0" },
    { "two-socket-ib.xml", "ib0", 1, "ib0", "network", 1, { "8,24" }, "1" },
    { "two-socket-ib.xml", "mlx5_0:1", 1, "mlx5_0", "openfabrics", 1, { "8,24" }, "1" },
    /* AMD 1 socket, Ethernet only, I/O at the machine root as hwloc puts it on one package. */
    { "one-socket-eth.xml", NULL, 1, "ens1f0", "network", 0, { "0,8" }, "0" },
    { "one-socket-eth.xml", NULL, 2, "ens1f0", "network", 0, { "0,8", "1,9" }, "0" },
    { "one-socket-eth.xml", NULL, 10, "ens1f0", "network", 0,
      { "0,8", "1,9", "2,10", "3,11", "4,12", "5,13", "6,14", "7,15", "0,8", "1,9" }, "0" },
    { "one-socket-eth.xml", "ens1f1", 1, "ens1f1", "network", 0, { "0,8" }, "0" },
    /* 2 sockets x 2 NUMA nodes (Groups), contiguous PUs; mlx5_0 on node 1, mlx5_1 on node 2. */
    { "four-numa-dual-hca.xml", NULL, 1, "mlx5_0", "openfabrics", 1, { "8-9" }, "1" },
    { "four-numa-dual-hca.xml", NULL, 2, "mlx5_0", "openfabrics", 1, { "8-9", "10-11" }, "1" },
    { "four-numa-dual-hca.xml", NULL, 6, "mlx5_0", "openfabrics", 1,
      { "8-9", "10-11", "12-13", "14-15", "8-9", "10-11" }, "1" },
    { "four-numa-dual-hca.xml", "mlx5_1", 2, "mlx5_1", "openfabrics", 2, { "16-17", "18-19" },
      "2" },
    { "four-numa-dual-hca.xml", "ib1", 1, "ib1", "network", 2, { "16-17" }, "2" },
    /* SNC2: the HCA hangs off Package 1 (NUMA nodes 2 and 3); PUs 8, 24 and 25 are disallowed,
     * so core 8 is gone and core 9 keeps PU 9 only. */
    { "snc-package-hca.xml", NULL, 1, "mlx5_0", "openfabrics", 2, { "9" }, "2-3" },
    { "snc-package-hca.xml", NULL, 2, "mlx5_0", "openfabrics", 2, { "9", "10,26" }, "2-3" },
    { "snc-package-hca.xml", NULL, 9, "mlx5_0", "openfabrics", 2,
      { "9", "10,26", "11,27", "12,28", "13,29", "14,30", "15,31", "9", "10,26" }, "2-3" },
    { "snc-package-hca.xml", "ib0", 1, "ib0", "network", 2, { "9" }, "2-3" },
    /* The build VM: virtio eth0 with no locality (machine root), one NUMA node, 2 cores. */
    { "vm-no-hca.xml", NULL, 1, "eth0", "network", 0, { "0" }, "0" },
    { "vm-no-hca.xml", NULL, 2, "eth0", "network", 0, { "0", "1" }, "0" },
    { "vm-no-hca.xml", NULL, 3, "eth0", "network", 0, { "0", "1", "0" }, "0" },
};

static hwloc_topology_t load_profile(const char *name)
{
    char path[4096], err[256] = "";
    hwloc_topology_t topo = NULL;

    snprintf(path, sizeof(path), "%s", phx_test_source_path("hwloc-profiles"));
    snprintf(path + strlen(path), sizeof(path) - strlen(path), "/%s", name);
    int rc = phx_topology_load(&topo, path, err, sizeof(err));
    if (rc != 0)
        fprintf(stderr, "\n  loading %s: %d %s\n", name, rc, err);
    CU_ASSERT_EQUAL(rc, 0);
    return topo;
}

static int compute(hwloc_topology_t topo, const char *nic, unsigned threads, phx_placement_t *pl,
                   char *err, size_t errlen)
{
    struct phx_placement_params params = {
        .field_mask = PHX_PLACEMENT_PARAM_FIELD_THREADS | (nic ? PHX_PLACEMENT_PARAM_FIELD_NIC : 0),
        .nic = nic,
        .threads = threads,
    };
    return phx_placement_compute(topo, &params, pl, err, errlen);
}

/* Compares as sets, so "8-9" and "8,9" are the same expectation. */
static int bitmap_is(hwloc_const_bitmap_t actual, const char *expected, const char *what)
{
    hwloc_bitmap_t want = hwloc_bitmap_alloc();
    char got[128];
    int same;

    hwloc_bitmap_list_sscanf(want, expected);
    same = actual && hwloc_bitmap_isequal(actual, want);
    if (!same) {
        hwloc_bitmap_list_snprintf(got, sizeof(got), actual);
        fprintf(stderr, "\n  %s: expected %s, got %s\n", what, expected, actual ? got : "NULL");
    }
    hwloc_bitmap_free(want);
    return same;
}

static void check_expectation(hwloc_topology_t topo, const expected_placement_t *e)
{
    phx_placement_t pl;
    char err[256] = "", what[128];

    CU_ASSERT_EQUAL_FATAL(compute(topo, e->nic_param, e->threads, &pl, err, sizeof(err)), 0);
    snprintf(what, sizeof(what), "%s nic=%s threads=%u", e->profile,
             e->nic_param ? e->nic_param : "auto", e->threads);
    CU_ASSERT_STRING_EQUAL(pl.nic, e->nic);
    CU_ASSERT_STRING_EQUAL(pl.nic_kind, e->kind);
    CU_ASSERT_EQUAL(pl.numa_node, e->numa_node);
    CU_ASSERT_EQUAL_FATAL(pl.threads, e->threads);
    for (unsigned i = 0; i < e->threads && i < MAX_THREADS; i++)
        CU_ASSERT(bitmap_is(pl.runtime_cpus[i], e->cpus[i], what));
    CU_ASSERT(bitmap_is(pl.memory_nodes, e->memory_nodes, what));
    CU_ASSERT_PTR_NOT_NULL(strstr(pl.reason, e->nic_param ? "configured" : e->nic));
    phx_placement_free(&pl);
}

static void check_profile(const char *profile)
{
    hwloc_topology_t topo = load_profile(profile);
    unsigned rows = 0;

    if (!topo)
        return;
    for (size_t i = 0; i < sizeof(expectations) / sizeof(expectations[0]); i++) {
        if (strcmp(expectations[i].profile, profile) == 0) {
            check_expectation(topo, &expectations[i]);
            rows++;
        }
    }
    CU_ASSERT(rows >= 3);
    hwloc_topology_destroy(topo);
}

static void test_two_socket_ib(void) { check_profile("two-socket-ib.xml"); }
static void test_one_socket_eth(void) { check_profile("one-socket-eth.xml"); }
static void test_four_numa_dual_hca(void) { check_profile("four-numa-dual-hca.xml"); }
static void test_snc_package_hca(void) { check_profile("snc-package-hca.xml"); }
static void test_vm_no_hca(void) { check_profile("vm-no-hca.xml"); }

/* The reason names where and why, including the cases that fall back or share cores. */
static void check_reason(const char *profile, unsigned threads, const char *const *phrases)
{
    hwloc_topology_t topo = load_profile(profile);
    phx_placement_t pl;

    if (!topo)
        return;
    CU_ASSERT_EQUAL_FATAL(compute(topo, NULL, threads, &pl, NULL, 0), 0);
    for (; *phrases; phrases++) {
        if (!strstr(pl.reason, *phrases))
            fprintf(stderr, "\n  '%s' lacks '%s'\n", pl.reason, *phrases);
        CU_ASSERT_PTR_NOT_NULL(strstr(pl.reason, *phrases));
    }
    CU_ASSERT(strlen(pl.reason) < sizeof(pl.reason) - 1);   /* not truncated */
    phx_placement_free(&pl);
    hwloc_topology_destroy(topo);
}

static void test_reasons(void)
{
    check_reason("two-socket-ib.xml", 10, (const char *const[]){
        "first OpenFabrics device", "Package P#1", "8 cores", "shared by 10 threads",
        "NUMA node 1", NULL });
    check_reason("snc-package-hca.xml", 1, (const char *const[]){
        "Package P#1", "spans NUMA nodes 2-3", "reporting node 2", "7 cores", NULL });
    check_reason("vm-no-hca.xml", 1, (const char *const[]){
        "first network device", "machine root", NULL });
    check_reason("four-numa-dual-hca.xml", 1, (const char *const[]){ "Group", NULL });
}

/* Placement within CPUS (what phoenixd passes: the CPUs it was started on); the expected CPU list
 * of each of THREADS threads, or NULL for a refusal. */
static void check_within(const char *profile, const char *cpus, unsigned threads,
                         const char *const *expected)
{
    hwloc_topology_t topo = load_profile(profile);
    hwloc_bitmap_t within = hwloc_bitmap_alloc();
    phx_placement_t pl;
    char err[256] = "";

    if (!topo)
        return;
    hwloc_bitmap_list_sscanf(within, cpus);
    struct phx_placement_params params = {
        .field_mask = PHX_PLACEMENT_PARAM_FIELD_THREADS | PHX_PLACEMENT_PARAM_FIELD_CPUS,
        .threads = threads,
        .cpus = within,
    };
    int rc = phx_placement_compute(topo, &params, &pl, err, sizeof(err));
    if (!expected) {
        CU_ASSERT_EQUAL(rc, -EINVAL);
        CU_ASSERT_PTR_NOT_NULL(strstr(err, cpus));
    } else {
        CU_ASSERT_EQUAL_FATAL(rc, 0);
        for (unsigned i = 0; i < threads; i++)
            CU_ASSERT(bitmap_is(pl.runtime_cpus[i], expected[i], cpus));
        CU_ASSERT_PTR_NOT_NULL(strstr(pl.reason, "of the CPUs it may run on"));
    }
    phx_placement_free(&pl);
    hwloc_bitmap_free(within);
    hwloc_topology_destroy(topo);
}

static void test_within_started_cpus(void)
{
    /* two cores of the HCA's socket: those, each with the sibling PU it was given */
    check_within("two-socket-ib.xml", "10-11,26-27", 2, (const char *[]){ "10,26", "11,27" });
    /* only the other socket: the NIC's locality is out of reach, the given CPUs are used */
    check_within("two-socket-ib.xml", "0-3", 2, (const char *[]){ "0", "1" });
    check_within("vm-no-hca.xml", "1", 1, (const char *[]){ "1" });
    check_within("vm-no-hca.xml", "200-201", 1, NULL);     /* not in the machine: refused */
}

static void test_unknown_nic_lists_nics(void)
{
    hwloc_topology_t topo = load_profile("two-socket-ib.xml");
    phx_placement_t pl;
    char err[256] = "";

    if (!topo)
        return;
    CU_ASSERT_EQUAL(compute(topo, "mlx5_9", 1, &pl, err, sizeof(err)), -ENODEV);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "mlx5_9"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "eno1, ib0, mlx5_0"));
    CU_ASSERT_PTR_NULL(strstr(err, "nvme0n1"));     /* a disk is not a NIC */
    CU_ASSERT_PTR_NULL(pl.runtime_cpus);
    CU_ASSERT_PTR_NULL(pl.memory_nodes);
    CU_ASSERT_EQUAL(compute(topo, "nvme0n1", 1, &pl, err, sizeof(err)), -ENODEV);
    CU_ASSERT_EQUAL(compute(topo, "mlx5_0:x", 1, &pl, err, sizeof(err)), -ENODEV);
    CU_ASSERT_EQUAL(compute(topo, "mlx5_", 1, &pl, err, sizeof(err)), -ENODEV);
    phx_placement_free(&pl);
    hwloc_topology_destroy(topo);
}

/* The transport's devices (settings flagged PHX_SETTING_DEVICES) decide when no NIC is
 * configured: the first one the topology knows; a device it does not know (lo) means no
 * locality, the whole machine, reported as a "virtual" NIC; an explicit NIC still wins. */
static int compute_devices(hwloc_topology_t topo, const char *nic, const char *devices,
                           phx_placement_t *pl, char *err, size_t errlen)
{
    struct phx_placement_params params = {
        .field_mask = PHX_PLACEMENT_PARAM_FIELD_DEVICES | (nic ? PHX_PLACEMENT_PARAM_FIELD_NIC : 0),
        .nic = nic,
        .devices = devices,
        .devices_from = "settings.ucx.net_devices",
    };
    return phx_placement_compute(topo, &params, pl, err, errlen);
}

static void test_transport_devices(void)
{
    hwloc_topology_t topo = load_profile("two-socket-ib.xml");
    phx_placement_t pl;
    char err[256] = "";

    if (!topo)
        return;
    /* eno1 (socket 0) is the transport's device, though an HCA would win otherwise */
    CU_ASSERT_EQUAL_FATAL(compute_devices(topo, NULL, "eno1", &pl, err, sizeof(err)), 0);
    CU_ASSERT_STRING_EQUAL(pl.nic, "eno1");
    CU_ASSERT_STRING_EQUAL(pl.nic_kind, "network");
    CU_ASSERT_PTR_NOT_NULL(strstr(pl.reason, "transport's device (settings.ucx.net_devices)"));
    phx_placement_free(&pl);
    /* lo is unknown: whole machine, reported as it is */
    CU_ASSERT_EQUAL_FATAL(compute_devices(topo, NULL, "lo", &pl, err, sizeof(err)), 0);
    CU_ASSERT_STRING_EQUAL(pl.nic, "lo");
    CU_ASSERT_STRING_EQUAL(pl.nic_kind, "virtual");
    CU_ASSERT_PTR_NOT_NULL(strstr(pl.reason, "runtime threads use the machine's 16 cores"));
    CU_ASSERT_PTR_NOT_NULL(strstr(pl.reason, "lo, the transport's device"));
    phx_placement_free(&pl);
    /* the first device the topology knows, in UCX's spelling; an explicit NIC still wins */
    CU_ASSERT_EQUAL_FATAL(compute_devices(topo, NULL, "lo,mlx5_0:1", &pl, err, sizeof(err)), 0);
    CU_ASSERT_STRING_EQUAL(pl.nic, "mlx5_0");
    phx_placement_free(&pl);
    CU_ASSERT_EQUAL_FATAL(compute_devices(topo, "eno1", "mlx5_0:1", &pl, err, sizeof(err)), 0);
    CU_ASSERT_STRING_EQUAL(pl.nic, "eno1");
    phx_placement_free(&pl);
    /* nothing but commas: the usual rules (the HCA) */
    CU_ASSERT_EQUAL_FATAL(compute_devices(topo, NULL, ",,", &pl, err, sizeof(err)), 0);
    CU_ASSERT_STRING_EQUAL(pl.nic, "mlx5_0");
    phx_placement_free(&pl);
    hwloc_topology_destroy(topo);
}

static void test_bad_params(void)
{
    hwloc_topology_t topo = load_profile("vm-no-hca.xml");
    phx_placement_t pl;
    char err[256] = "";

    if (!topo)
        return;
    CU_ASSERT_EQUAL(compute(topo, NULL, 0, &pl, err, sizeof(err)), -EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "threads"));
    CU_ASSERT_EQUAL(compute(topo, NULL, PHX_PLACEMENT_THREADS_MAX + 1, &pl, NULL, 0), -EINVAL);
    CU_ASSERT_EQUAL(phx_placement_compute(NULL, NULL, &pl, err, sizeof(err)), -EINVAL);
    CU_ASSERT_EQUAL(phx_placement_compute(topo, NULL, NULL, err, sizeof(err)), -EINVAL);
    /* NULL params and an empty NIC name both mean: all defaults. */
    CU_ASSERT_EQUAL_FATAL(phx_placement_compute(topo, NULL, &pl, NULL, 0), 0);
    CU_ASSERT_EQUAL(pl.threads, 1);
    CU_ASSERT_STRING_EQUAL(pl.nic, "eth0");
    phx_placement_free(&pl);
    phx_placement_free(&pl);                        /* freeing twice is harmless */
    CU_ASSERT_EQUAL_FATAL(compute(topo, "", 1, &pl, NULL, 0), 0);
    CU_ASSERT_STRING_EQUAL(pl.nic, "eth0");
    phx_placement_free(&pl);
    /* The threads kept for urgent apps are some of THREADS, never all of them. */
    struct phx_placement_params kept = {
        .field_mask = PHX_PLACEMENT_PARAM_FIELD_THREADS | PHX_PLACEMENT_PARAM_FIELD_URGENT,
        .threads = 2, .urgent_threads = 2 };
    CU_ASSERT_EQUAL(phx_placement_compute(topo, &kept, &pl, err, sizeof(err)), -EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "urgent_threads must be fewer than threads"));
    kept.urgent_threads = 1;
    CU_ASSERT_EQUAL_FATAL(phx_placement_compute(topo, &kept, &pl, err, sizeof(err)), 0);
    CU_ASSERT_EQUAL(pl.threads, 2);
    CU_ASSERT_EQUAL(pl.urgent_threads, 1);
    phx_placement_free(&pl);
    hwloc_topology_destroy(topo);
}

static int load_fails(const char *path, const char *phrase)
{
    hwloc_topology_t topo = (hwloc_topology_t)&topo;   /* any non-NULL: must come back NULL */
    char err[256] = "";
    int rc = phx_topology_load(&topo, path, err, sizeof(err));

    CU_ASSERT_PTR_NULL(topo);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, phrase));
    return rc;
}

static void test_bad_files(void)
{
    char *dir = strdup(phx_test_tmpdir("placement"));
    char truncated[8192];
    FILE *f = fopen(phx_test_source_path("hwloc-profiles/two-socket-ib.xml"), "r");
    size_t n = f ? fread(truncated, 1, sizeof(truncated) - 1, f) : 0;

    if (f)
        fclose(f);
    truncated[n] = 0;
    CU_ASSERT_FATAL(n > 1000);
    CU_ASSERT_EQUAL(load_fails("/nonexistent/topo.xml", "/nonexistent/topo.xml"), -ENOENT);
    CU_ASSERT(load_fails(phx_test_write_file(dir, "garbage.xml", "not xml at all\n"),
                         "not a valid hwloc XML") < 0);
    CU_ASSERT(load_fails(phx_test_write_file(dir, "html.xml", "<html><body/></html>\n"),
                         "not a valid hwloc XML") < 0);
    CU_ASSERT(load_fails(phx_test_write_file(dir, "cut.xml", truncated), "not a valid") < 0);
    CU_ASSERT(load_fails(phx_test_write_file(dir, "empty.xml", ""), "not a valid") < 0);
    CU_ASSERT(load_fails(dir, "not a valid") < 0);      /* a directory */
    CU_ASSERT_EQUAL(phx_topology_load(NULL, dir, NULL, 0), -EINVAL);
    phx_test_rmtree(dir);
    free(dir);
}

static hwloc_topology_t load_synthetic(const char *description)
{
    hwloc_topology_t topo;

    CU_ASSERT_EQUAL_FATAL(hwloc_topology_init(&topo), 0);
    CU_ASSERT_EQUAL_FATAL(hwloc_topology_set_synthetic(topo, description), 0);
    CU_ASSERT_EQUAL_FATAL(hwloc_topology_load(topo), 0);
    return topo;
}

static void test_no_nic_uses_whole_machine(void)
{
    hwloc_topology_t topo = load_synthetic("pack:2 [numa] core:2 pu:2");
    phx_placement_t pl;

    CU_ASSERT_EQUAL_FATAL(compute(topo, NULL, 5, &pl, NULL, 0), 0);
    CU_ASSERT_STRING_EQUAL(pl.nic, "");
    CU_ASSERT_STRING_EQUAL(pl.nic_kind, "none");
    CU_ASSERT_EQUAL(pl.numa_node, -1);             /* two nodes, none closer to anything */
    CU_ASSERT(bitmap_is(pl.runtime_cpus[0], "0-1", "no NIC"));
    CU_ASSERT(bitmap_is(pl.runtime_cpus[3], "6-7", "no NIC"));
    CU_ASSERT(bitmap_is(pl.runtime_cpus[4], "0-1", "no NIC"));
    CU_ASSERT(bitmap_is(pl.memory_nodes, "0-1", "no NIC"));
    CU_ASSERT_PTR_NOT_NULL(strstr(pl.reason, "No OpenFabrics or network device"));
    CU_ASSERT_PTR_NOT_NULL(strstr(pl.reason, "the machine's 4 cores (shared by 5 threads)"));

    char *json = phx_placement_to_json(&pl);
    CU_ASSERT(json && strstr(json, "\"nic\":null,\"nic_kind\":\"none\",\"numa_node\":-1"));
    free(json);
    phx_placement_free(&pl);
    hwloc_topology_destroy(topo);
}

static void test_topology_without_cores_uses_pus(void)
{
    hwloc_topology_t topo = load_synthetic("pack:1 [numa] pu:4");
    phx_placement_t pl;

    CU_ASSERT_EQUAL_FATAL(compute(topo, NULL, 2, &pl, NULL, 0), 0);
    CU_ASSERT(bitmap_is(pl.runtime_cpus[0], "0", "no cores"));
    CU_ASSERT(bitmap_is(pl.runtime_cpus[1], "1", "no cores"));
    CU_ASSERT_EQUAL(pl.numa_node, 0);               /* the only node is everybody's */
    phx_placement_free(&pl);
    hwloc_topology_destroy(topo);
}

static void test_live_machine(void)
{
    hwloc_topology_t topo = NULL;
    phx_placement_t pl;
    char err[256] = "";

    CU_ASSERT_EQUAL_FATAL(phx_topology_load(&topo, NULL, err, sizeof(err)), 0);
    CU_ASSERT_EQUAL_FATAL(compute(topo, NULL, 3, &pl, err, sizeof(err)), 0);
    CU_ASSERT_EQUAL(pl.threads, 3);
    for (unsigned i = 0; i < pl.threads; i++) {
        CU_ASSERT(!hwloc_bitmap_iszero(pl.runtime_cpus[i]));
        CU_ASSERT(hwloc_bitmap_isincluded(pl.runtime_cpus[i],
                                          hwloc_topology_get_allowed_cpuset(topo)));
    }
    CU_ASSERT(!hwloc_bitmap_iszero(pl.memory_nodes));
    CU_ASSERT(strcmp(pl.nic_kind, "openfabrics") == 0 || strcmp(pl.nic_kind, "network") == 0 ||
              strcmp(pl.nic_kind, "none") == 0);
    CU_ASSERT(pl.reason[0] != 0);
    printf("\n  this machine: %s\n", pl.reason);
    phx_placement_free(&pl);
    hwloc_topology_destroy(topo);
}

static json_object *field(json_object *o, const char *key, json_type type)
{
    json_object *v = NULL;

    CU_ASSERT(json_object_object_get_ex(o, key, &v));
    CU_ASSERT(json_object_is_type(v, type));
    return v;
}

static void check_int_array(json_object *array, const int *want, size_t n)
{
    CU_ASSERT_EQUAL_FATAL(json_object_array_length(array), n);
    for (size_t i = 0; i < n; i++)
        CU_ASSERT_EQUAL(json_object_get_int(json_object_array_get_idx(array, i)), want[i]);
}

static void test_json_round_trip(void)
{
    hwloc_topology_t topo = load_profile("two-socket-ib.xml");
    phx_placement_t pl;

    if (!topo)
        return;
    CU_ASSERT_EQUAL_FATAL(compute(topo, NULL, 2, &pl, NULL, 0), 0);
    char *text = phx_placement_to_json(&pl);
    char *again = phx_placement_to_json(&pl);
    json_object *o = text ? json_tokener_parse(text) : NULL;

    CU_ASSERT_PTR_NOT_NULL_FATAL(o);
    CU_ASSERT_STRING_EQUAL(text, again);
    CU_ASSERT_STRING_EQUAL(json_object_get_string(field(o, "nic", json_type_string)), "mlx5_0");
    CU_ASSERT_STRING_EQUAL(json_object_get_string(field(o, "nic_kind", json_type_string)),
                           "openfabrics");
    CU_ASSERT_EQUAL(json_object_get_int(field(o, "numa_node", json_type_int)), 1);
    CU_ASSERT_EQUAL(json_object_get_int(field(o, "threads", json_type_int)), 2);
    CU_ASSERT_EQUAL(json_object_get_int(field(o, "urgent_threads", json_type_int)), 0);
    json_object *cpus = field(o, "runtime_cpus", json_type_array);
    CU_ASSERT_EQUAL_FATAL(json_object_array_length(cpus), 2);
    /* OS indexes: hwloc's logical numbering would say [16,17] and [18,19]. */
    check_int_array(json_object_array_get_idx(cpus, 0), (const int[]){ 8, 24 }, 2);
    check_int_array(json_object_array_get_idx(cpus, 1), (const int[]){ 9, 25 }, 2);
    check_int_array(field(o, "memory_nodes", json_type_array), (const int[]){ 1 }, 1);
    CU_ASSERT_STRING_EQUAL(json_object_get_string(field(o, "reason", json_type_string)),
                           pl.reason);
    json_object_put(o);
    free(text);
    free(again);
    phx_placement_free(&pl);
    CU_ASSERT_PTR_NULL(phx_placement_to_json(NULL));
    hwloc_topology_destroy(topo);
}

static const phx_test_case_t cases[] = {
    { "profile two-socket-ib", test_two_socket_ib },
    { "profile one-socket-eth", test_one_socket_eth },
    { "profile four-numa-dual-hca", test_four_numa_dual_hca },
    { "profile snc-package-hca", test_snc_package_hca },
    { "profile vm-no-hca", test_vm_no_hca },
    { "reason names the NIC, the place and sharing", test_reasons },
    { "unknown NIC name lists the NICs there are", test_unknown_nic_lists_nics },
    { "the transport's devices decide without a configured NIC", test_transport_devices },
    { "placement stays within the CPUs it was started on", test_within_started_cpus },
    { "bad params are refused, defaults apply", test_bad_params },
    { "missing or garbage XML fails cleanly", test_bad_files },
    { "no NIC uses the whole machine", test_no_nic_uses_whole_machine },
    { "topology without cores uses PUs", test_topology_without_cores_uses_pus },
    { "live machine gives a sane placement", test_live_machine },
    { "JSON parses back with OS indexes", test_json_round_trip },
    { NULL, NULL },
};

int main(int argc, char **argv)
{
    return phx_test_main("placement", cases, argc, argv);
}
