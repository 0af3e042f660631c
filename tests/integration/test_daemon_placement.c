/* test_daemon_placement.c - where phoenixd puts its threads and the apps' memory, end to end:
 * the app port's rings and heaps bound to the NIC's NUMA nodes (or not, when configured so), the
 * runtime thread kept within the CPUs phoenixd was started on (taskset, srun --cpu-bind), and the
 * placement following the transport's configured device. Each case starts its own phoenixd
 * (daemon_cases.h) and stops it by PID. */
#include "daemon_cases.h"
#include "phoenix/fdpass.h"
#include "phoenix/status.h"

#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

/* ---- NUMA placement of app memory ------------------------------------------------------------ */

/* How many of the app port's three memfd mappings in PID's numa_maps have a policy other than
 * "default" (they are bound next to the NIC); -1 when the kernel shows no NUMA maps. */
static int bound_port_mappings(pid_t pid)
{
    char path[64], line[1024];
    int bound = 0;

    snprintf(path, sizeof(path), "/proc/%d/numa_maps", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f)) {
        bool port = strstr(line, "/memfd:phoenix-rings") || strstr(line, "/memfd:phoenix-send-heap") ||
                    strstr(line, "/memfd:phoenix-recv-heap");
        bound += port && !strstr(line, " default ");
    }
    fclose(f);
    return bound;
}

static void check_port_binding(const char *tag, const char *from, const char *to, int expect)
{
    struct phx_daemon d;
    char err[512];

    CU_ASSERT_FATAL(daemon_start(&d, tag, from, to));
    phx_client_t *c = app_register(d.prefix, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    int bound = bound_port_mappings(d.pid);
    if (bound < 0)
        phx_test_skip("this kernel shows no /proc/PID/numa_maps");
    else
        CU_ASSERT_EQUAL(bound, expect);
    phx_client_close(c);
    CU_ASSERT_EQUAL(phx_daemon_stop(&d, SIGTERM), 0);
    phx_daemon_cleanup(&d);
}

static void test_memory_binding(void)
{
    check_port_binding("numa", NULL, NULL, 3);     /* topology.bind_memory defaults to true */
    check_port_binding("nonuma", "log = {", "topology = { bind_memory = false; };\nlog = {", 0);
}

/* Started with only the last CPU in its affinity mask (taskset, srun --cpu-bind), phoenixd pins
 * its runtime thread there rather than on the NIC's first core. */
static void test_obeys_cpu_binding(void)
{
    cpu_set_t all, last;
    struct phx_daemon d;
    char line[64];

    CU_ASSERT_FATAL(sched_getaffinity(0, sizeof(all), &all) == 0);
    int cpu = -1;
    for (int c = 0; c < CPU_SETSIZE; c++)
        if (CPU_ISSET(c, &all))
            cpu = c;
    if (CPU_COUNT(&all) < 2) {
        phx_test_skip("one CPU only, nothing to choose from");
        return;
    }
    CU_ASSERT_FATAL(daemon_start(&d, "cpufree", NULL, NULL));     /* no binding, no mention */
    CU_ASSERT(!phx_daemon_log_has(&d, "of the CPUs it may run on"));
    CU_ASSERT_EQUAL(phx_daemon_stop(&d, SIGTERM), 0);
    phx_daemon_cleanup(&d);

    CPU_ZERO(&last);
    CPU_SET(cpu, &last);
    CU_ASSERT_FATAL(sched_setaffinity(0, sizeof(last), &last) == 0);     /* the child inherits */
    bool up = daemon_start(&d, "cpubind", NULL, NULL);
    CU_ASSERT_FATAL(sched_setaffinity(0, sizeof(all), &all) == 0);
    CU_ASSERT_FATAL(up);
    snprintf(line, sizeof(line), "runtime 0 started on cpus %d\n", cpu);
    CU_ASSERT(phx_daemon_log_has(&d, line));
    CU_ASSERT(phx_daemon_log_has(&d, "of the CPUs it may run on"));
    CU_ASSERT_EQUAL(phx_daemon_stop(&d, SIGTERM), 0);
    phx_daemon_cleanup(&d);
}

/* Placement follows the transport: with settings.ucx.net_devices = "lo" and no topology.nic,
 * the service is placed for lo (no locality: the whole machine), not for the first NIC. */
static void test_placement_follows_transport(void)
{
    static const char plugins[] =
        "plugins = ( { name = \"loopback\"; path = \"libphoenix_loopback.so\"; },\n"
        "            { name = \"ucx\"; path = \"" PHX_PLUGIN_UCX "\"; } );\n"
        "settings = { ucx = { tls = \"tcp\"; net_devices = \"lo\"; }; };\n";
    struct phx_daemon d;

    CU_ASSERT_FATAL(daemon_start(&d, "placement-ucx", "plugins = ( { name = \"loopback\"; path = "
                                 "\"libphoenix_loopback.so\"; } );\n", plugins));
    CU_ASSERT(log_shows(&d, "placement: lo, the transport's device (settings.ucx.net_devices), "
                            "is no device of this topology"));
    CU_ASSERT_EQUAL(phx_daemon_stop(&d, SIGTERM), 0);
    phx_daemon_cleanup(&d);
}

int main(int argc, char **argv)
{
    static const phx_test_case_t cases[] = {
        { "app rings and heaps bound to the NIC's NUMA nodes", test_memory_binding },
        { "runtime threads stay on the CPUs phoenixd was started on", test_obeys_cpu_binding },
        { "placement follows the transport's devices", test_placement_follows_transport },
        { NULL, NULL },
    };
    signal(SIGPIPE, SIG_IGN);
    return phx_test_main("daemon-placement", cases, argc, argv);
}
