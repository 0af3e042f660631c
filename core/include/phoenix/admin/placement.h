/* placement.h - where the service's runtime threads and heap memory go: next to the NIC it uses.
 *
 * The decision is a pure function of an hwloc topology and a few parameters, so that tests and
 * `phoenixctl topology` can show what phoenixd would do on a node from an XML profile exported
 * from that node (hwloc-profiles/), not only on the machine they run on.
 *
 * The rules: the NIC is the configured one, else the first OpenFabrics device (HCA), else the
 * first network device, else none. Its locality is its nearest non-I/O ancestor in the topology
 * (a Package, Group, ...) restricted to the allowed CPUs (and to the params' `cpus`, when given:
 * phoenixd passes the CPUs it was started on, so taskset, numactl and srun --cpu-bind are obeyed);
 * with no NIC, a NIC at the machine root
 * or no allowed CPU near it, the locality is the whole machine. Thread i runs on the i-th core of
 * the locality in topology order (all its allowed PUs), wrapping around when there are more
 * threads than cores; memory comes from the NUMA nodes local to the locality. Every CPU and NUMA
 * number here is an OS (physical) index as the kernel numbers it, never an hwloc logical index. */
#ifndef PHOENIX_PLACEMENT_H
#define PHOENIX_PLACEMENT_H

#include <hwloc.h>
#include <stddef.h>
#include <stdint.h>

/* Loads the topology of this machine (XML_PATH NULL) or of the hwloc 2.x XML file XML_PATH,
 * keeping I/O objects (PCI devices, NICs). A file is treated as another machine: it can be
 * inspected, but the service pins nothing after it. Returns 0 with *TOPO set
 * (release it with hwloc_topology_destroy()), or -errno with *TOPO NULL and ERR filled. */
int phx_topology_load(hwloc_topology_t *topo, const char *xml_path, char *err, size_t errlen);

enum {
    PHX_PLACEMENT_PARAM_FIELD_NIC     = 1u << 0,
    PHX_PLACEMENT_PARAM_FIELD_THREADS = 1u << 1,
    PHX_PLACEMENT_PARAM_FIELD_CPUS    = 1u << 2,
    PHX_PLACEMENT_PARAM_FIELD_DEVICES = 1u << 3,
    PHX_PLACEMENT_PARAM_FIELD_URGENT  = 1u << 4,
};

#define PHX_PLACEMENT_THREADS_MAX 1024

/* phoenixd's runtime.threads and runtime.urgent_threads when phoenix.conf says nothing, and the
 * most of each it takes: its configuration schema (core/daemon/config.c) and
 * `phoenixctl topology` without a service both take them from here. */
#define PHX_RUNTIME_THREADS_DEFAULT         1
#define PHX_RUNTIME_THREADS_MAX             256
#define PHX_RUNTIME_URGENT_THREADS_DEFAULT  1
#define PHX_RUNTIME_URGENT_THREADS_MAX      64

struct phx_placement_params {
    uint64_t field_mask;    /* PHX_PLACEMENT_PARAM_FIELD_ bits of the fields that are set */
    /* OS device name of the NIC: "mlx5_0", "ib0", "eth0"; UCX's "mlx5_0:1" names mlx5_0 too.
     * Unset, NULL or "": chosen by the rules above. */
    const char *nic;
    unsigned threads;       /* runtime threads to place, 1..PHX_PLACEMENT_THREADS_MAX; default 1 */
    hwloc_const_cpuset_t cpus;  /* stay within these OS CPUs; default: all the allowed ones */
    /* The devices the transport is pinned to, UCX style ("mlx5_0:1,eth0"), and who says so
     * ("settings.ucx.net_devices"), used when no nic is given: the first of them that the
     * topology knows is the NIC; when it knows none of them (lo, a bridge, a veth: devices
     * without locality), the first is reported as the NIC, kind "virtual", and the threads use
     * the whole machine. Unset, NULL or "": the rules above. */
    const char *devices;
    const char *devices_from;
    /* How many of the THREADS, the last ones, a service keeps for the apps a policy makes
     * urgent (runtime.urgent_threads): placed like the others, said in the result. Fewer than
     * THREADS; default 0. */
    unsigned urgent_threads;
};

typedef struct phx_placement {
    char nic[64];               /* OS device name, "" when there is no NIC */
    char nic_kind[16];          /* "openfabrics" | "network" | "virtual" | "none" */
    /* The NIC's local NUMA node: the first node of its locality (the reason says when there are
     * several). -1 when unknown: no NIC, or a NIC without locality on a multi-node machine. */
    int numa_node;
    unsigned threads;
    unsigned urgent_threads;        /* the last ones of THREADS, kept for urgent apps */
    hwloc_bitmap_t *runtime_cpus;   /* one cpuset per thread: the PUs of its core; phoenixd
                                       hands runtime_cpus[i] to runtime thread i, which pins
                                       itself with it (the one pinning path) */
    hwloc_bitmap_t memory_nodes;    /* nodeset the heap should come from */
    char reason[256];               /* one sentence: why this NIC and this place */
} phx_placement_t;

/* Sets P's threads as a service of RUNTIME_THREADS runtime threads (runtime.threads) and URGENT
 * more kept for urgent apps (runtime.urgent_threads) places them: RUNTIME_THREADS + URGENT
 * threads, the last URGENT of them kept. */
void phx_placement_params_service_threads(struct phx_placement_params *p,
                                          unsigned runtime_threads, unsigned urgent);

/* Decides the placement for TOPO (see the rules above); P NULL takes every default. Returns 0
 * with OUT filled (release with phx_placement_free()), or -errno with OUT empty and ERR filled:
 * -ENODEV for a named NIC the topology lacks (ERR lists the NICs it has), -EINVAL for bad params. */
int phx_placement_compute(hwloc_topology_t topo, const struct phx_placement_params *p,
                          phx_placement_t *out, char *err, size_t errlen);

/* Frees what compute() allocated and empties PL; safe on an empty or already freed placement. */
void phx_placement_free(phx_placement_t *pl);

/* The placement as one line of JSON, malloc'd (NULL with errno set on failure):
 * {"nic":"mlx5_0","nic_kind":"openfabrics","numa_node":1,"threads":2,"urgent_threads":1,
 *  "runtime_cpus":[[8,24],[9,25]],"memory_nodes":[1],"reason":"..."}; "nic" is null with no NIC. */
char *phx_placement_to_json(const phx_placement_t *pl);

#endif /* PHOENIX_PLACEMENT_H */
