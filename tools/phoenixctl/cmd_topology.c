/* cmd_topology.c - `phoenixctl topology`: where the service puts its runtime threads and memory.
 *
 * Loads a topology (this machine, or --xml FILE exported elsewhere with `lstopo --of xml`), asks
 * phx_placement_compute() in libphoenix for the decision - the code phoenixd itself runs - and
 * prints it readably or as JSON. The command only parses and prints: when phoenixd can report
 * its own decision, the source of the placement changes and the output stays. */
#include "phoenixctl.h"
#include "phoenix/placement.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *xml;                        /* NULL: this machine */
    struct phx_placement_params params;
    int json;
} topology_args_t;

static void topology_usage(FILE *out)
{
    fprintf(out,
            "Usage: phoenixctl topology [--xml FILE] [--nic NAME] [--threads N] [--json]\n"
            "Shows which NIC the service uses and where its runtime threads and memory go:\n"
            "one core per thread next to the NIC, memory from the NUMA nodes there.\n\n"
            "  -x, --xml FILE     an hwloc XML topology (lstopo --of xml) instead of this machine\n"
            "  -n, --nic NAME     the NIC to use (mlx5_0, ib0, eth0, ...) instead of the first\n"
            "                     HCA, else the first network device\n"
            "  -t, --threads N    runtime threads to place, 1 to %d (default 1)\n"
            "  -j, --json         print one JSON object instead of a summary\n"
            "  -h, --help         show this help\n\n"
            "CPU and NUMA numbers are the kernel's (OS indexes), as in taskset and numactl.\n"
            "Exit status: 0 done, 1 the topology or NIC is unusable, 2 usage error.\n",
            PHX_PLACEMENT_THREADS_MAX);
}

static int parse_threads(const char *text, unsigned *threads)
{
    char *end;
    unsigned long n;

    errno = 0;
    n = strtoul(text, &end, 10);
    if (errno || end == text || *end || text[0] == '-' || n < 1 || n > PHX_PLACEMENT_THREADS_MAX)
        return -1;
    *threads = (unsigned)n;
    return 0;
}

/* Returns -1 to go on, else the exit code (help shown, or a usage error). */
static int parse_topology_args(int argc, char **argv, topology_args_t *a)
{
    static const struct option options[] = {
        { "xml", required_argument, NULL, 'x' },
        { "nic", required_argument, NULL, 'n' },
        { "threads", required_argument, NULL, 't' },
        { "json", no_argument, NULL, 'j' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    int c;

    while ((c = getopt_long(argc, argv, "x:n:t:jh", options, NULL)) != -1) {
        switch (c) {
        case 'x':
            a->xml = optarg;
            break;
        case 'n':
            a->params.nic = optarg;
            a->params.field_mask |= PHX_PLACEMENT_PARAM_FIELD_NIC;
            break;
        case 't':
            if (parse_threads(optarg, &a->params.threads) != 0)
                return phxctl_usage_error(argv[0], "--threads takes a number from 1 to %d, not '%s'",
                                          PHX_PLACEMENT_THREADS_MAX, optarg);
            a->params.field_mask |= PHX_PLACEMENT_PARAM_FIELD_THREADS;
            break;
        case 'j':
            a->json = 1;
            break;
        case 'h':
            topology_usage(stdout);
            return PHXCTL_EXIT_OK;
        default:
            return phxctl_usage_error(argv[0], NULL);
        }
    }
    if (optind < argc)
        return phxctl_usage_error(argv[0], "unexpected argument '%s'", argv[optind]);
    return -1;
}

static void print_cpus(const char *label, hwloc_const_bitmap_t set)
{
    char *list = NULL;

    if (hwloc_bitmap_list_asprintf(&list, set) < 0)
        list = NULL;
    printf("%-16s %s\n", label, list ? list : "?");
    free(list);
}

static void print_summary(const phx_placement_t *pl, const char *source)
{
    char label[32];

    printf("%-16s %s\n", "Topology:", source);
    if (pl->nic[0])
        printf("%-16s %s (%s)\n", "NIC:", pl->nic, pl->nic_kind);
    else
        printf("%-16s none\n", "NIC:");
    if (pl->numa_node >= 0)
        printf("%-16s %d\n", "NUMA node:", pl->numa_node);
    else
        printf("%-16s unknown\n", "NUMA node:");
    for (unsigned i = 0; i < pl->threads; i++) {
        snprintf(label, sizeof(label), "Thread %u CPUs:", i);
        print_cpus(label, pl->runtime_cpus[i]);
    }
    print_cpus("Memory nodes:", pl->memory_nodes);
    printf("%-16s %s\n", "Reason:", pl->reason);
}

static int print_json(const phx_placement_t *pl, const char *prog)
{
    char *json = phx_placement_to_json(pl);

    if (!json) {
        fprintf(stderr, "%s: cannot format JSON: %s\n", prog, strerror(errno));
        return PHXCTL_EXIT_FAILED;
    }
    printf("%s\n", json);
    free(json);
    return PHXCTL_EXIT_OK;
}

int phxctl_cmd_topology(int argc, char **argv)
{
    topology_args_t args = { 0 };
    hwloc_topology_t topo;
    phx_placement_t pl;
    char err[320];
    int rc = parse_topology_args(argc, argv, &args);

    if (rc >= 0)
        return rc;
    if (phx_topology_load(&topo, args.xml, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s: %s\n", argv[0], err);
        return PHXCTL_EXIT_FAILED;
    }
    if (phx_placement_compute(topo, &args.params, &pl, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s: %s\n", argv[0], err);
        rc = PHXCTL_EXIT_FAILED;
    } else if (args.json) {
        rc = print_json(&pl, argv[0]);
    } else {
        print_summary(&pl, args.xml ? args.xml : "this machine");
        rc = PHXCTL_EXIT_OK;
    }
    phx_placement_free(&pl);
    hwloc_topology_destroy(topo);
    return rc;
}
