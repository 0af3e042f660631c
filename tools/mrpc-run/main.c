/* main.c - mrpc-run, the launcher of mRPC apps (docs/man/mrpc-run.1, docs/slurm.md).
 *
 *     mrpc-run [-n N] [--tag-output] [--timeout S] [--service auto|system|job] [...] [--] PROGRAM ARGS...
 *
 * Outside Slurm it starts N local ranks. As a task of a Slurm step (srun sets SLURM_STEP_ID) it
 * runs that task's one rank, ranked by Slurm, and exchanges the ranks' published values through
 * PMIx (srun --mpi=pmix) or PMI2 (--mpi=pmi2). In both cases it first makes sure the node has a
 * service (service.c) and then runs the ranks (launch.c). This file reads the options and the
 * job's shape and nothing else. */
#include "mrpc_run.h"
#include "paths.h"

#include <arpa/inet.h>
#include <getopt.h>
#include <ifaddrs.h>
#include <limits.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef PHX_VERSION
#define PHX_VERSION "(unknown)"
#endif
#ifndef PHX_PHOENIXD
#define PHX_PHOENIXD "phoenixd"
#endif
#ifndef PHX_REL_PHOENIXD
#define PHX_REL_PHOENIXD "../sbin/phoenixd"
#endif
#define MAX_LOCAL_RANKS 1024

/* The phoenixd of a per-job service when neither --phoenixd nor MRPC_RUN_PHOENIXD names one: the
 * one installed beside this mrpc-run (<prefix>/bin -> <prefix>/sbin, wherever the tree was
 * installed or moved), else the path the build was configured with. */
static const char *default_phoenixd(void)
{
    static char path[PATH_MAX];
    const char *env = getenv("MRPC_RUN_PHOENIXD");

    if (env && *env)
        return env;
    if (!path[0] && access(phx_paths_from_exe(path, sizeof path, PHX_REL_PHOENIXD), X_OK) != 0)
        snprintf(path, sizeof path, "%s", PHX_PHOENIXD);
    return path;
}

/* The node's system service unless --system-prefix names one: $PHOENIX_PREFIX, else the
 * systemd unit's /run/phoenix. */
static const char *default_system_prefix(void)
{
    const char *env = getenv("PHOENIX_PREFIX");

    return env && *env ? env : "/run/phoenix";
}

static void usage(FILE *out)
{
    fprintf(out,
        "usage: mrpc-run [-n N] [--tag-output] [--timeout S] [--service auto|system|job]\n"
        "                [--system-prefix DIR] [--phoenixd PATH] [--service-conf FILE]\n"
        "                [--run-dir DIR] [--] PROGRAM ARGS...\n"
        "       mrpc-run --help | --version\n"
        "  -n, --np N              ranks to start outside Slurm (default 1); under srun, one per task\n"
        "  -t, --tag-output        prefix every line of a rank's output with [rank]\n"
        "  -T, --timeout S         stop the ranks after S seconds (exit 124)\n"
        "  -s, --service MODE      auto: the node's service if it answers, else one for the job\n"
        "                          (default); system: only the node's; job: always the job's own\n"
        "  -S, --system-prefix DIR the node's service (default $PHOENIX_PREFIX, else /run/phoenix);\n"
        "                          %%n stands for the node's name\n"
        "  -p, --phoenixd PATH     phoenixd for a per-job service (default %s)\n"
        "  -c, --service-conf FILE its phoenix.conf (default: phoenixd's own)\n"
        "  -r, --run-dir DIR       where per-job services live (default $TMPDIR, else /tmp)\n"
        "  -h, --help              this text\n"
        "  -V, --version           the version\n",
        default_phoenixd());
}

static int parse_uint(const char *s, const char *what, unsigned max, unsigned *out)
{
    char *end;
    unsigned long v = strtoul(s, &end, 10);

    if (!*s || *end || *s == '-' || v > max) {
        fprintf(stderr, "mrpc-run: %s must be a number 0..%u (got '%s')\n", what, max, s);
        return -1;
    }
    *out = (unsigned)v;
    return 0;
}

static int parse_opts(int argc, char **argv, struct run_opts *o)
{
    static const struct option longs[] = {
        { "np", required_argument, NULL, 'n' },       { "tag-output", no_argument, NULL, 't' },
        { "timeout", required_argument, NULL, 'T' },  { "service", required_argument, NULL, 's' },
        { "system-prefix", required_argument, NULL, 'S' },
        { "phoenixd", required_argument, NULL, 'p' },
        { "service-conf", required_argument, NULL, 'c' },
        { "run-dir", required_argument, NULL, 'r' },  { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, 'V' },        { NULL, 0, NULL, 0 } };
    const char *tmp = getenv("TMPDIR");
    unsigned v;
    int c;

    *o = (struct run_opts){ .service = "auto", .system_prefix = default_system_prefix(),
                            .phoenixd = default_phoenixd(),
                            .service_conf = getenv("MRPC_RUN_SERVICE_CONF"),
                            .run_dir = tmp && *tmp ? tmp : "/tmp" };
    while ((c = getopt_long(argc, argv, "+n:tT:s:S:p:c:r:hV", longs, NULL)) != -1) {
        switch (c) {
        case 'n': if (parse_uint(optarg, "-n", MAX_LOCAL_RANKS, &v) < 0 || v == 0) {
                      if (v == 0) fprintf(stderr, "mrpc-run: -n must be at least 1\n");
                      return 2;
                  }
                  o->nranks = (int)v; break;
        case 't': o->tag_output = true; break;
        case 'T': if (parse_uint(optarg, "--timeout", 86400 * 365, &o->timeout_s) < 0) return 2;
                  break;
        case 's': o->service = optarg; break;
        case 'S': o->system_prefix = optarg; break;
        case 'p': o->phoenixd = optarg; break;
        case 'c': o->service_conf = optarg; break;
        case 'r': o->run_dir = optarg; break;
        case 'h': usage(stdout); exit(0);
        case 'V': printf("mrpc-run %s\n", PHX_VERSION); exit(0);
        default:  usage(stderr); return 2;
        }
    }
    if (strcmp(o->service, "auto") && strcmp(o->service, "system") && strcmp(o->service, "job")) {
        fprintf(stderr, "mrpc-run: --service must be auto, system or job (got '%s')\n", o->service);
        return 2;
    }
    if (optind >= argc) {
        fprintf(stderr, "mrpc-run: no program given (mrpc-run --help)\n");
        return 2;
    }
    o->argv = argv + optind;
    return 0;
}

static int env_int(const char *name, int dflt)
{
    const char *s = getenv(name);
    char *end;
    long v = s ? strtol(s, &end, 10) : dflt;

    return s && (*end || !*s || v < 0 || v > 1 << 24) ? -1 : (int)v;
}

/* SLURM_STEP_TASKS_PER_NODE ("2(x3),1"): the tasks on node NODEID. */
static int tasks_on_node(const char *spec, int nodeid)
{
    for (const char *p = spec; p && *p;) {
        char *end;
        long n = strtol(p, &end, 10), reps = 1;
        if (end == p)
            return -1;
        if (strncmp(end, "(x", 2) == 0)
            reps = strtol(end + 2, &end, 10), end += *end == ')';
        if (nodeid < reps)
            return (int)n;
        nodeid -= (int)reps;
        p = *end == ',' ? end + 1 : NULL;
    }
    return -1;
}

/* The node's address for peers: the IPv4 address of the interface UCX_NET_DEVICES names, if
 * any; else outside Slurm 127.0.0.1 (every rank is on this host), under Slurm the first
 * non-loopback IPv4 address. */
static void node_host(char *host, size_t len, bool slurm)
{
    const char *dev = getenv("UCX_NET_DEVICES");
    struct ifaddrs *ifs, *i;

    snprintf(host, len, "127.0.0.1");
    if (getifaddrs(&ifs) < 0)
        return;
    for (int pass = 0; pass < 2; pass++)
        for (i = ifs; i; i = i->ifa_next) {
            if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET)
                continue;
            if (pass == 0 ? !(dev && strncmp(dev, i->ifa_name, strlen(i->ifa_name)) == 0 &&
                              strchr(",:", dev[strlen(i->ifa_name)]))
                          : (!slurm || (i->ifa_flags & IFF_LOOPBACK)))
                continue;
            inet_ntop(AF_INET, &((struct sockaddr_in *)i->ifa_addr)->sin_addr, host, (socklen_t)len);
            freeifaddrs(ifs);
            return;
        }
    freeifaddrs(ifs);
}

static int job_shape(const struct run_opts *o, struct run_job *j)
{
    const char *step = getenv("SLURM_STEP_ID"), *jobid = getenv("SLURM_JOB_ID");
    const char *node = getenv("SLURMD_NODENAME");

    memset(j, 0, sizeof *j);
    j->slurm = step && jobid && getenv("SLURM_PROCID");
    if (node && *node)
        snprintf(j->node, sizeof j->node, "%s", node);
    else if (gethostname(j->node, sizeof j->node - 1) < 0)
        snprintf(j->node, sizeof j->node, "localhost");
    node_host(j->host, sizeof j->host, j->slurm);
    if (!j->slurm) {
        j->nlocal = j->size = j->local_size = o->nranks ? o->nranks : 1;
        snprintf(j->job_key, sizeof j->job_key, "local%d", (int)getpid());
        return 0;
    }
    if (o->nranks) {
        fprintf(stderr, "mrpc-run: under srun every task is one rank: give srun -n, not mrpc-run -n\n");
        return 2;
    }
    j->first_rank = env_int("SLURM_PROCID", -1);
    j->size = env_int("SLURM_STEP_NUM_TASKS", env_int("SLURM_NTASKS", -1));
    j->local_rank = env_int("SLURM_LOCALID", -1);
    const char *tpn = getenv("SLURM_STEP_TASKS_PER_NODE");
    j->local_size = tasks_on_node(tpn ? tpn : getenv("SLURM_TASKS_PER_NODE"), env_int("SLURM_NODEID", 0));
    if (j->first_rank < 0 || j->size <= j->first_rank || j->local_rank < 0 || j->local_size <= 0) {
        fprintf(stderr, "mrpc-run: the Slurm environment of this task is incomplete or malformed "
                        "(SLURM_PROCID, SLURM_STEP_NUM_TASKS, SLURM_LOCALID, SLURM_STEP_TASKS_PER_NODE)\n");
        return 1;
    }
    j->nlocal = 1;
    snprintf(j->job_id, sizeof j->job_id, "%s", jobid);
    snprintf(j->job_key, sizeof j->job_key, "job%s", jobid);
    j->pmi = getenv("PMIX_NAMESPACE") ? RUN_PMI_PMIX : getenv("PMI_FD") ? RUN_PMI_PMI2 : RUN_PMI_LOCAL;
    return 0;
}

int main(int argc, char **argv)
{
    struct run_opts o;
    struct run_job job;
    struct run_service svc;
    char err[512];
    int rc;

    sigset_t set;

    if ((rc = parse_opts(argc, argv, &o)) || (rc = job_shape(&o, &job)))
        return rc;
    launch_block_signals(&set);
    /* Without PMI each task's mrpc-run knows its own rank alone: barriers would pass on each
     * and lookups of the others find nothing, so the app would fail later and less clearly. */
    if (job.slurm && job.pmi == RUN_PMI_LOCAL && job.size > 1) {
        fprintf(stderr, "mrpc-run: rank %d: srun gave no PMI, so the job's %d ranks cannot find "
                        "each other: use srun --mpi=pmix or --mpi=pmi2 (or MpiDefault in slurm.conf)\n",
                job.first_rank, job.size);
        return 1;
    }
    if (service_ensure(&o, &job, &svc, err, sizeof err) < 0) {
        fprintf(stderr, "mrpc-run: node %s: %s\n", job.node, err);
        return 1;
    }
    if (job.pmi != RUN_PMI_LOCAL && pmi_init(job.pmi, err, sizeof err) < 0) {
        fprintf(stderr, "mrpc-run: rank %d on node %s: %s\n", job.first_rank, job.node, err);
        service_release(&svc);
        return 1;
    }
    rc = launch_run(&o, &job, &svc);
    if (job.pmi != RUN_PMI_LOCAL)
        pmi_fini();
    service_release(&svc);
    return rc;
}
