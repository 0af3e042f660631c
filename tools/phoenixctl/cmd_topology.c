/* cmd_topology.c - `phoenixctl topology`: where the service puts its runtime threads and memory.
 *
 * Without options it asks the running phoenixd (TopologyRequest) for the placement it decided
 * with its own configuration; when no service runs, it says so on stderr and computes what this
 * machine gives with the default settings. With --xml FILE (a topology exported elsewhere with
 * `lstopo --of xml`), --nic, --threads or --urgent-threads it needs no service: it asks
 * phx_placement_compute() in libphoenix directly - the code phoenixd itself runs - with the
 * threads phoenixd would start: runtime.threads and runtime.urgent_threads (--threads and
 * --urgent-threads, else phoenixd's defaults, placement.h). Either way the decision arrives as
 * the JSON of phx_placement_to_json(), printed as it is with --json or as a readable summary. */
#include "phoenixctl.h"

#include "ctl_client.h"
#include "phoenix/admin/placement.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *xml;                        /* NULL: this machine */
    struct phx_placement_params params;     /* the NIC; a THREADS or URGENT bit: given */
    unsigned threads, urgent;               /* runtime.threads, runtime.urgent_threads */
    int json;
    phxctl_conn_t conn;
} topology_args_t;

static void topology_usage(const void *args, FILE *out)
{
    fprintf(out,
            "Usage: phoenixctl topology [--xml FILE] [--nic NAME] [--threads N]\n"
            "                           [--urgent-threads N] [--json]\n"
            "                           [--prefix DIR] [--timeout SEC]\n"
            "Shows which NIC the service uses and where its runtime threads and memory go:\n"
            "one core per thread next to the NIC, memory from the NUMA nodes there.\n"
            "Without --xml, --nic, --threads and --urgent-threads it asks the running service\n"
            "for its own decision (falling back to this machine with phoenixd's default\n"
            "settings if none runs).\n\n"
            "  -x, --xml FILE       an hwloc XML topology (lstopo --of xml) instead of this\n"
            "                       machine\n"
            "  -n, --nic NAME       the NIC to use (mlx5_0, ib0, eth0, ...) instead of the\n"
            "                       first HCA, else the first network device\n"
            "  -t, --threads N      runtime threads (runtime.threads), 1 to %d (default %d)\n"
            "  -u, --urgent-threads N\n"
            "                       more threads, placed after them, kept for the apps a\n"
            "                       policy makes urgent (runtime.urgent_threads), 0 to %d\n"
            "                       (default %d)\n"
            "  -j, --json           print one JSON object instead of a summary\n"
            PHXCTL_CONN_HELP
            "  -h, --help           show this help\n\n"
            "CPU and NUMA numbers are the kernel's (OS indexes), as in taskset and numactl.\n"
            "Exit status: 0 done, 1 the topology or NIC is unusable, 2 usage error.\n",
            PHX_RUNTIME_THREADS_MAX, PHX_RUNTIME_THREADS_DEFAULT, PHX_RUNTIME_URGENT_THREADS_MAX,
            PHX_RUNTIME_URGENT_THREADS_DEFAULT);
}

/* TEXT as a count from LO to HI into *N. */
static int parse_count(const char *text, unsigned lo, unsigned hi, unsigned *n)
{
    unsigned long long v;

    if (phxctl_parse_uint(text, hi, &v) != 0 || v < lo)
        return -1;
    *n = (unsigned)v;
    return 0;
}

static int take_option(void *args, int c, const char *arg, const char *prog)
{
    topology_args_t *a = args;

    switch (c) {
    case 'x':
        a->xml = arg;
        break;
    case 'n':
        a->params.nic = arg;
        a->params.field_mask |= PHX_PLACEMENT_PARAM_FIELD_NIC;
        break;
    case 't':
        if (parse_count(arg, 1, PHX_RUNTIME_THREADS_MAX, &a->threads) != 0)
            return phxctl_usage_error(prog, "--threads takes a number from 1 to %d, not '%s'",
                                      PHX_RUNTIME_THREADS_MAX, arg);
        a->params.field_mask |= PHX_PLACEMENT_PARAM_FIELD_THREADS;
        break;
    case 'u':
        if (parse_count(arg, 0, PHX_RUNTIME_URGENT_THREADS_MAX, &a->urgent) != 0)
            return phxctl_usage_error(prog, "--urgent-threads takes a number from 0 to %d, "
                                      "not '%s'", PHX_RUNTIME_URGENT_THREADS_MAX, arg);
        a->params.field_mask |= PHX_PLACEMENT_PARAM_FIELD_URGENT;
        break;
    case 'j':
        a->json = 1;
        break;
    }
    return -1;
}

/* Returns -1 to go on, else the exit code (help shown, or a usage error). */
static int parse_topology_args(int argc, char **argv, topology_args_t *a)
{
    static const struct option options[] = {
        { "xml", required_argument, NULL, 'x' },
        { "nic", required_argument, NULL, 'n' },
        { "threads", required_argument, NULL, 't' },
        { "urgent-threads", required_argument, NULL, 'u' },
        { "json", no_argument, NULL, 'j' },
        { NULL, 0, NULL, 0 },
    };
    phxctl_options_t opts = { .shortopts = "x:n:t:u:j", .longopts = options, .take = take_option,
                              .usage = topology_usage, .ctx = a, .nargs = 0 };
    _Static_assert(PHX_RUNTIME_THREADS_MAX + PHX_RUNTIME_URGENT_THREADS_MAX <=
                   PHX_PLACEMENT_THREADS_MAX, "every count phoenixd takes can be placed");
    return phxctl_parse_options(argc, argv, &opts, &a->conn);
}

/* ---- where the placement comes from -------------------------------------------------------- */

/* The running service's placement in *JSON. Returns the exit code, or -1 when no service
 * listens (then the caller computes it here). */
static int service_placement(const topology_args_t *a, char **json)
{
    Phoenix__Control__TopologyRequest topology = PHOENIX__CONTROL__TOPOLOGY_REQUEST__INIT;
    Phoenix__Control__Request req = PHOENIX__CONTROL__REQUEST__INIT;
    Phoenix__Control__Response *resp;
    bool absent = false;

    req.body_case = PHOENIX__CONTROL__REQUEST__BODY_TOPOLOGY;
    req.topology = &topology;
    int rc = phxctl_call(&a->conn, &req, PHOENIX__CONTROL__RESPONSE__BODY_TOPOLOGY, &resp,
                         &absent);
    if (absent)
        return -1;
    if (rc != PHXCTL_EXIT_OK)
        return rc;
    *json = strdup(resp->topology->json);
    phoenix__control__response__free_unpacked(resp, NULL);
    return *json ? PHXCTL_EXIT_OK : PHXCTL_EXIT_FAILED;
}

/* The placement computed here, for the topology of --xml or of this machine, of the threads a
 * service of A's runtime.threads and runtime.urgent_threads would start. */
static int local_placement(const topology_args_t *a, const char *prog, char **json)
{
    struct phx_placement_params params = a->params;
    hwloc_topology_t topo;
    phx_placement_t pl;
    char err[320];
    int rc = PHXCTL_EXIT_FAILED;

    phx_placement_params_service_threads(&params, a->threads, a->urgent);

    if (phx_topology_load(&topo, a->xml, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s: %s\n", prog, err);
        return rc;
    }
    if (phx_placement_compute(topo, &params, &pl, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s: %s\n", prog, err);
    } else {
        if ((*json = phx_placement_to_json(&pl)))
            rc = PHXCTL_EXIT_OK;
        else
            fprintf(stderr, "%s: cannot format JSON: %s\n", prog, strerror(errno));
        phx_placement_free(&pl);
    }
    hwloc_topology_destroy(topo);
    return rc;
}

/* ---- the readable summary ------------------------------------------------------------------ */

static json_object *member(json_object *o, const char *key)
{
    json_object *v = NULL;

    json_object_object_get_ex(o, key, &v);
    return v;
}

/* A JSON array of OS indexes as a kernel-style list: "0-3,8". */
static void print_set(const char *label, json_object *array)
{
    hwloc_bitmap_t set = hwloc_bitmap_alloc();
    char *list = NULL;

    for (size_t i = 0; set && i < json_object_array_length(array); i++)
        hwloc_bitmap_set(set, (unsigned)json_object_get_int(json_object_array_get_idx(array, i)));
    if (!set || hwloc_bitmap_list_asprintf(&list, set) < 0)
        list = NULL;
    printf("%-16s %s\n", label, list ? list : "?");
    free(list);
    hwloc_bitmap_free(set);
}

static void print_summary(json_object *o, const char *source)
{
    json_object *nic = member(o, "nic"), *cpus = member(o, "runtime_cpus");
    int numa = json_object_get_int(member(o, "numa_node"));
    char label[48];

    printf("%-16s %s\n", "Topology:", source);
    if (nic && json_object_get_string_len(nic))
        printf("%-16s %s (%s)\n", "NIC:", json_object_get_string(nic),
               json_object_get_string(member(o, "nic_kind")));
    else
        printf("%-16s none\n", "NIC:");
    if (numa >= 0)
        printf("%-16s %d\n", "NUMA node:", numa);
    else
        printf("%-16s unknown\n", "NUMA node:");
    size_t n = json_object_array_length(cpus);
    int urgent = json_object_get_int(member(o, "urgent_threads"));
    for (size_t i = 0; i < n; i++) {
        snprintf(label, sizeof(label), "Thread %zu CPUs:", i);
        print_set(label, json_object_array_get_idx(cpus, i));
    }
    if (urgent > 0 && (size_t)urgent < n) {
        char kept[48];
        if (urgent > 1)
            snprintf(kept, sizeof(kept), "%zu-%zu", n - (size_t)urgent, n - 1);
        else
            snprintf(kept, sizeof(kept), "%zu", n - 1);
        printf("%-16s %s (runtime.urgent_threads: for the apps a policy makes urgent)\n",
               "Kept threads:", kept);
    }
    print_set("Memory nodes:", member(o, "memory_nodes"));
    printf("%-16s %s\n", "Reason:", json_object_get_string(member(o, "reason")));
}

static int print_placement(const char *json, const topology_args_t *a, const char *source,
                           const char *prog)
{
    json_object *o;

    if (a->json) {
        printf("%s\n", json);
        return PHXCTL_EXIT_OK;
    }
    if (!(o = json_tokener_parse(json)) || !json_object_is_type(o, json_type_object) ||
        !json_object_is_type(member(o, "runtime_cpus"), json_type_array) ||
        !json_object_is_type(member(o, "memory_nodes"), json_type_array)) {
        fprintf(stderr, "%s: the placement is not the JSON object expected\n", prog);
        json_object_put(o);
        return PHXCTL_EXIT_FAILED;
    }
    print_summary(o, source);
    json_object_put(o);
    return PHXCTL_EXIT_OK;
}

int phxctl_cmd_topology(int argc, char **argv)
{
    topology_args_t args = { .threads = PHX_RUNTIME_THREADS_DEFAULT,
                             .urgent = PHX_RUNTIME_URGENT_THREADS_DEFAULT };
    char source[4200];
    char *json = NULL;
    int rc = parse_topology_args(argc, argv, &args);

    if (rc >= 0)
        return rc;
    /* A topology file or other settings than the service's: a question for here, not it. */
    if (!args.xml && !args.params.field_mask) {
        rc = service_placement(&args, &json);
        snprintf(source, sizeof(source), "the running service at %s",
                 phxctl_conn_prefix(&args.conn));
        if (rc < 0)
            fprintf(stderr, "%s: no Phoenix service at %s: showing this machine with the "
                    "default settings (a service may be configured otherwise)\n", argv[0],
                    phxctl_conn_prefix(&args.conn));
    }
    if (rc < 0) {
        rc = local_placement(&args, argv[0], &json);
        snprintf(source, sizeof(source), "%s", args.xml ? args.xml : "this machine");
    }
    if (rc == PHXCTL_EXIT_OK)
        rc = print_placement(json, &args, source, argv[0]);
    free(json);
    return rc;
}
