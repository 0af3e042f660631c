/* service.c - the daemon's state: plugins, runtime threads, registration and teardown of apps.
 *
 * Start: plugins from the config are loaded (relative paths under plugin_dir, private copies in
 * $prefix/plugins), then `runtime.threads` runtime threads and `runtime.urgent_threads` more
 * (for the groups a policy marks urgent), each pinned to the CPUs the placement (placement.h)
 * gives it next to the NIC. Placement is best effort: with no usable topology, or CPUs we may
 * not use, a thread runs unpinned and the log says why.
 *
 * Registration builds port -> subscription -> standing rules -> runtime, and any failure undoes
 * the steps already taken; an app's teardown frees them and gives the heap's free pages back to
 * the system (malloc_trim), so a node whose apps come and go keeps a flat RSS (tests/soak). SIDs
 * count from 0 per PID: a small list keeps the next SID of every PID that has subscriptions, and
 * forgets a PID with its last subscription (PIDs are reused). */
#include "service.h"
#include "rules.h"
#include "rules_store.h"

#include "paths.h"

#include "app_port_internal.h"
#include "phoenix/log.h"
#include "phoenix/admin/placement.h"
#include "phoenix/status.h"
#include "runtime.h"

#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>


struct phx_pid_sids {
    pid_t                pid;
    unsigned             next_sid;
    unsigned             live;      /* subscriptions of this PID */
    struct phx_pid_sids *next;
};

/* ---- plugins -------------------------------------------------------------------------------- */

/* Loads CFG's plugins into REG: a relative path is under plugin_dir. */
static int load_plugins_into(struct phx_registry *reg, const phx_config_t *cfg, char *err,
                             size_t errlen)
{
    const char *dir = *cfg->plugin_dir ? cfg->plugin_dir : phx_paths_plugin_dir();

    for (unsigned i = 0; i < cfg->nplugins; i++) {
        const char *path = cfg->plugins[i].path;
        char full[4096];
        if (path[0] != '/')
            snprintf(full, sizeof(full), "%s/%s", dir, path);
        else
            snprintf(full, sizeof(full), "%s", path);
        struct phx_plugin *pl = phx_registry_load(reg, full, err, errlen);
        if (!pl)
            return errno ? -errno : -EINVAL;
        if (strcmp(pl->desc->name, cfg->plugins[i].name) != 0)
            phx_warn("plugin '%s' (%s) calls itself '%s'", cfg->plugins[i].name, full,
                     pl->desc->name);
    }
    return 0;
}

static int load_plugins(struct phx_service *svc, char *err, size_t errlen)
{
    return load_plugins_into(&svc->registry, svc->cfg, err, errlen);
}

int phx_service_check_plugins(const phx_config_t *cfg, char *err, size_t errlen)
{
    const char *tmp = getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    char dir[4096];
    struct phx_registry reg;

    snprintf(dir, sizeof(dir), "%s/phoenixd-check-XXXXXX", tmp);
    if (!mkdtemp(dir)) {
        snprintf(err, errlen, "cannot create a scratch directory in %s: %s", tmp,
                 strerror(errno));
        return -1;
    }
    int rc = phx_registry_init(&reg, dir);
    if (rc == 0) {
        phx_registry_set_config(&reg, cfg);
        rc = load_plugins_into(&reg, cfg, err, errlen);
        phx_registry_fini(&reg);
    } else {
        snprintf(err, errlen, "cannot use %s for plugin copies: %s", dir, strerror(-rc));
    }
    rmdir(dir);     /* each private copy is unlinked as soon as it is open */
    return rc < 0 ? -1 : 0;
}

static bool can_reconfigure(const phx_engine_t *e)
{
    return e->ops->reconfigure && e->plugin && e->plugin->current;
}

/* Runs reconfigure() on every engine of SUB whose plugin is current, the group suspended (a
 * group with no such engine is left running). An engine that refuses keeps what it had, and
 * the log says why. */
static void reconfigure_group(struct phx_subscription *sub)
{
    unsigned n = 0;

    for (unsigned i = 0; i < sub->n_engines; i++)
        n += can_reconfigure(sub->engines[i]);
    if (!n)
        return;
    int rc = sub->runtime ? phx_runtime_suspend(sub->runtime, sub) : 0;

    if (rc) {
        phx_error("pid %d sid %u: cannot suspend the engine group to reconfigure it: %s",
                  (int)sub->pid, sub->sid, strerror(-rc));
        return;
    }
    for (unsigned i = 0; i < sub->n_engines; i++) {
        phx_engine_t *e = sub->engines[i];
        char why[512] = "";
        if (!can_reconfigure(e))
            continue;
        if (e->ops->reconfigure(e, e->state, e->config, why, sizeof(why)) != 0)
            phx_warn("%s (engine %llu) keeps its settings: %s", e->ops->type,
                     (unsigned long long)e->id, why[0] ? why : "reconfigure failed");
    }
    if (sub->runtime && phx_runtime_resume(sub->runtime, sub) != 0)
        phx_error("pid %d sid %u: cannot resume the engine group", (int)sub->pid, sub->sid);
}

int phx_service_reload_settings(struct phx_service *svc, char *err, size_t errlen)
{
    if (phx_registry_reload_settings(&svc->registry, svc->cfg, err, errlen) < 0)
        return -1;
    for (struct phx_subscription *sub = svc->subs; sub; sub = sub->next)
        reconfigure_group(sub);
    return 0;
}

void phx_service_names(struct phx_service *svc, char *buf, size_t len)
{
    size_t used = 0;

    buf[0] = 0;
    for (struct phx_plugin *pl = svc->registry.plugins; pl; pl = pl->next) {
        if (!pl->current)
            continue;
        for (unsigned i = 0; i < pl->desc->n_services && used < len; i++) {
            int n = snprintf(buf + used, len - used, "%s%s", used ? ", " : "",
                             pl->desc->services[i].name);
            used += n > 0 ? (size_t)n : 0;
        }
    }
    if (!buf[0])
        snprintf(buf, len, "none");
}

/* ---- runtime threads ------------------------------------------------------------------------ */

/* The CPUs this thread was started on (taskset, numactl, srun --cpu-bind) when they leave out
 * some that TOPO allows; NULL when they do not, or cannot be read. */
static hwloc_bitmap_t started_on_cpus(hwloc_topology_t topo)
{
    hwloc_bitmap_t cpus = hwloc_bitmap_alloc();

    if (cpus && (hwloc_get_cpubind(topo, cpus, HWLOC_CPUBIND_THREAD) < 0 ||
                 hwloc_bitmap_isincluded(hwloc_topology_get_allowed_cpuset(topo), cpus))) {
        hwloc_bitmap_free(cpus);
        cpus = NULL;
    }
    return cpus;
}

void phx_service_placement_params(struct phx_service *svc, struct phx_placement_params *pp,
                                  char *from, size_t fromlen)
{
    const phx_config_t *cfg = svc->cfg;

    *pp = (struct phx_placement_params){
        .field_mask = PHX_PLACEMENT_PARAM_FIELD_NIC,
        .nic = cfg->topology.nic,
    };
    phx_placement_params_service_threads(pp, cfg->runtime.threads, cfg->runtime.urgent_threads);
    if (!*cfg->topology.nic && svc->placed_devices[0]) {
        pp->field_mask |= PHX_PLACEMENT_PARAM_FIELD_DEVICES;   /* placement follows traffic */
        pp->devices = svc->placed_devices;
        snprintf(from, fromlen, "%s", svc->placed_devices_from);
        pp->devices_from = from;
    }
}

/* Remembers the devices a plugin's traffic is pinned to now, for the placement. */
static void note_devices(struct phx_service *svc)
{
    const char *devices = phx_registry_devices(&svc->registry, svc->placed_devices_from,
                                               sizeof(svc->placed_devices_from));

    snprintf(svc->placed_devices, sizeof(svc->placed_devices), "%s", devices ? devices : "");
}

/* Places the service next to its NIC: fills PL, whose runtime_cpus the runtime threads are
 * pinned to (false when there is no placement to apply; the reason is logged; the caller frees
 * PL either way), and, when topology.bind_memory is set, keeps the topology and the NIC's NUMA
 * nodes so that every app's memory is bound there. */
static bool apply_placement(struct phx_service *svc, phx_placement_t *pl)
{
    const phx_config_t *cfg = svc->cfg;
    hwloc_topology_t topo;
    char err[512];

    *pl = (phx_placement_t){ .numa_node = -1 };
    note_devices(svc);
    if (*cfg->topology.xml) {
        phx_info("topology.xml is set: runtime threads are not pinned (dry-run topology)");
        return false;
    }
    if (phx_topology_load(&topo, NULL, err, sizeof(err)) < 0) {
        phx_warn("runtime threads not pinned: %s", err);
        return false;
    }
    struct phx_placement_params pp;
    char from[128];
    phx_service_placement_params(svc, &pp, from, sizeof(from));
    hwloc_bitmap_t started_on = started_on_cpus(topo);
    if (started_on) {           /* taskset, numactl, srun --cpu-bind: obeyed */
        pp.field_mask |= PHX_PLACEMENT_PARAM_FIELD_CPUS;
        pp.cpus = started_on;
    }
    int rc = phx_placement_compute(topo, &pp, pl, err, sizeof(err));
    hwloc_bitmap_free(started_on);
    if (rc < 0) {
        phx_warn("runtime threads not pinned: %s", err);
        hwloc_topology_destroy(topo);
        return false;
    }
    phx_info("placement: %s", pl->reason);
    if (cfg->topology.bind_memory && !hwloc_bitmap_iszero(pl->memory_nodes)) {
        svc->topo = topo;
        svc->heap_nodes = hwloc_bitmap_dup(pl->memory_nodes);
        char *nodes = NULL;
        if (hwloc_bitmap_list_asprintf(&nodes, pl->memory_nodes) >= 0)
            phx_info("app rings and heaps are bound to NUMA node(s) %s", nodes);
        free(nodes);
    } else {
        hwloc_topology_destroy(topo);
    }
    return pl->threads > 0;
}

/* Binds REGION's pages (present and future: the policy stays with the shared memory object) to
 * the NUMA nodes next to the NIC. Best effort: a kernel without NUMA support says no. */
static void bind_region(struct phx_service *svc, const phx_shm_region_t *region, const char *what)
{
    if (hwloc_set_area_membind(svc->topo, region->base, region->size, svc->heap_nodes,
                               HWLOC_MEMBIND_BIND, HWLOC_MEMBIND_BYNODESET) < 0)
        phx_warn("%s of an app not bound to its NUMA nodes: %s", what, strerror(errno));
}

static void bind_port_memory(struct phx_service *svc, phx_app_port_t *port)
{
    if (!svc->heap_nodes)
        return;
    bind_region(svc, &port->rings, "rings");
    bind_region(svc, &port->send, "send heap");
    bind_region(svc, &port->recv, "receive heap");
}

static struct phx_runtime *start_runtime(const phx_config_t *cfg, unsigned index,
                                         hwloc_const_cpuset_t cpus, char *err, size_t errlen)
{
    struct phx_runtime_params rp = {
        .field_mask = PHX_RUNTIME_PARAM_FIELD_INDEX | PHX_RUNTIME_PARAM_FIELD_SPIN_US |
                      (cpus ? PHX_RUNTIME_PARAM_FIELD_CPUSET : 0),
        .index = index,
        .spin_us = cfg->runtime.spin_us,
        .cpus = cpus,
    };
    char list[256] = "";
    struct phx_runtime *rt = phx_runtime_start(&rp, err, errlen);
    if (!rt && cpus) {
        phx_warn("runtime %u: %s; running it unpinned", index, err);
        rp.field_mask &= ~(uint64_t)PHX_RUNTIME_PARAM_FIELD_CPUSET;
        rt = phx_runtime_start(&rp, err, errlen);
        cpus = NULL;
    }
    if (cpus)
        hwloc_bitmap_list_snprintf(list, sizeof(list), cpus);
    if (rt)
        phx_info("runtime %u started%s%s", index, cpus ? " on cpus " : " unpinned", list);
    return rt;
}

/* Starts runtime.threads runtime threads, then runtime.urgent_threads more for urgent groups
 * (place_group), all placed together. */
static int start_runtimes(struct phx_service *svc, char *err, size_t errlen)
{
    unsigned n = svc->cfg->runtime.threads + svc->cfg->runtime.urgent_threads;
    phx_placement_t pl;
    bool pinned = apply_placement(svc, &pl) && pl.threads >= n;
    int rc = 0;

    svc->runtimes = calloc(n, sizeof(*svc->runtimes));
    svc->runtime_groups = calloc(n, sizeof(*svc->runtime_groups));
    if (!svc->runtimes || !svc->runtime_groups) {
        snprintf(err, errlen, "out of memory");
        rc = -ENOMEM;
    }
    for (unsigned i = 0; rc == 0 && i < n; i++) {
        svc->runtimes[i] = start_runtime(svc->cfg, i, pinned ? pl.runtime_cpus[i] : NULL, err,
                                         errlen);
        if (!svc->runtimes[i])
            rc = -errno;
        else
            svc->n_runtimes++;
    }
    phx_placement_free(&pl);
    return rc;
}

#define NO_RUNTIME UINT_MAX

bool phx_service_runtime_kept(const struct phx_service *svc, unsigned index)
{
    return index >= svc->cfg->runtime.threads;
}

/* The ordinary runtime (one of the first runtime.threads) a new group would get: the next in
 * turn in shared mode, the first free one in dedicate mode; NO_RUNTIME when dedicate mode has
 * none free. The turn moves on once a group landed there (place_group). */
static unsigned pick_runtime(const struct phx_service *svc)
{
    unsigned ordinary = svc->cfg->runtime.threads;

    if (svc->cfg->runtime.mode == PHX_RUNTIME_SHARED)
        return svc->next_runtime % ordinary;
    for (unsigned i = 0; i < ordinary; i++)
        if (svc->runtime_groups[i] == 0)
            return i;
    return NO_RUNTIME;
}

/* The thread kept for urgent groups (runtime.urgent_threads) a new urgent group would get: the
 * least loaded, and in dedicate mode only an empty one; NO_RUNTIME when there is none. */
static unsigned pick_kept(const struct phx_service *svc)
{
    unsigned best = NO_RUNTIME;

    for (unsigned i = svc->cfg->runtime.threads; i < svc->n_runtimes; i++)
        if (best == NO_RUNTIME || svc->runtime_groups[i] < svc->runtime_groups[best])
            best = i;
    if (best != NO_RUNTIME && svc->cfg->runtime.mode == PHX_RUNTIME_DEDICATE &&
        svc->runtime_groups[best] > 0)
        return NO_RUNTIME;
    return best;
}

static void say_busy(const struct phx_service *svc, char *err, size_t errlen)
{
    snprintf(err, errlen, "all %u runtime threads are busy (runtime.mode = \"dedicate\": one app "
             "per thread; %u more are kept for apps a policy makes urgent)",
             svc->cfg->runtime.threads, svc->cfg->runtime.urgent_threads);
}

/* Puts SUB, with the standing rules on it, on its runtime thread and counts it there. A group a
 * policy marked urgent (phx_engine_set_urgency: QosEngine's latency class) goes to a thread kept
 * for urgent groups (pick_kept), so that its turns never wait for an ordinary group's bulk
 * progress and its UCX traffic is on that thread's worker, not the bulk's; any other group, or
 * an urgent one with no kept thread to take it, goes to PICKED. The engines were created for a
 * thread before the rules were known; nothing of theirs is on its resources yet (the app has no
 * rings), and each takes its new thread's on its first turn there (the UCX transport its worker,
 * ucx_engine.c). A policy attached later moves nothing: the app's connections are on its
 * thread's worker by then. PHX_OK, or RESOURCE_EXHAUSTED / INTERNAL with a sentence in ERR. */
static int place_group(struct phx_service *svc, struct phx_subscription *sub, unsigned picked,
                       char *err, size_t errlen)
{
    bool urgent = __atomic_load_n(&sub->group.urgency, __ATOMIC_RELAXED) > 0;
    unsigned rt = urgent ? pick_kept(svc) : NO_RUNTIME;

    if (rt == NO_RUNTIME)
        rt = picked;
    if (rt == NO_RUNTIME) {
        say_busy(svc, err, errlen);
        return PHX_RESOURCE_EXHAUSTED;
    }
    int rc = phx_runtime_add(svc->runtimes[rt], sub);
    if (rc < 0) {
        snprintf(err, errlen, "cannot start the engines on runtime %u: %s", rt, strerror(-rc));
        return PHX_INTERNAL;
    }
    if (rt == picked && svc->cfg->runtime.mode == PHX_RUNTIME_SHARED)
        svc->next_runtime++;
    svc->runtime_groups[rt]++;
    return PHX_OK;
}

/* ---- init / fini ---------------------------------------------------------------------------- */

/* The standing rules of the previous run (rules_store.h): a file that cannot be taken whole
 * refuses the start, rather than run without an administrator's policy. */
static int load_rules(struct phx_service *svc, char *err, size_t errlen)
{
    char why[1024];

    if (phx_rules_load(svc, why, sizeof(why)) == 0)
        return 0;
    snprintf(err, errlen, "%s; phoenixd does not start without the standing rules it was "
             "given: fix the file, or move it away to start with none", why);
    return -EINVAL;
}

int phx_service_init(struct phx_service *svc, const phx_config_t *cfg, char *err, size_t errlen)
{
    char copy_dir[4096];
    int rc;

    memset(svc, 0, sizeof(*svc));
    svc->cfg = cfg;
    svc->broken_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (svc->broken_fd < 0) {
        snprintf(err, errlen, "eventfd: %s", strerror(errno));
        return -errno;
    }
    snprintf(copy_dir, sizeof(copy_dir), "%s/plugins", cfg->prefix);
    if ((rc = phx_registry_init(&svc->registry, copy_dir)) < 0) {
        snprintf(err, errlen, "cannot use %s for plugin copies: %s", copy_dir,
                 rc == -EPERM ? "it must be the service's own directory, writable by no one "
                                "else" : strerror(-rc));
        close(svc->broken_fd);
        return rc;
    }
    phx_registry_set_config(&svc->registry, cfg);   /* the plugins' sections */
    if ((rc = load_plugins(svc, err, errlen)) < 0 ||
        (rc = start_runtimes(svc, err, errlen)) < 0 || (rc = load_rules(svc, err, errlen)) < 0) {
        phx_service_fini(svc);
        return rc;
    }
    return 0;
}

void phx_service_fini(struct phx_service *svc)
{
    phx_rules_fini(svc);
    while (svc->subs)
        phx_service_unregister(svc, svc->subs);
    for (unsigned i = 0; i < svc->n_runtimes; i++)
        phx_runtime_stop(svc->runtimes[i]);
    free(svc->runtimes);
    free(svc->runtime_groups);
    svc->runtimes = NULL;
    svc->n_runtimes = 0;
    phx_registry_fini(&svc->registry);
    if (svc->heap_nodes)
        hwloc_bitmap_free(svc->heap_nodes);
    if (svc->topo)
        hwloc_topology_destroy(svc->topo);
    svc->heap_nodes = NULL;
    svc->topo = NULL;
    if (svc->broken_fd >= 0)
        close(svc->broken_fd);
    svc->broken_fd = -1;
}

/* ---- SIDs ----------------------------------------------------------------------------------- */

static struct phx_pid_sids *pid_entry(struct phx_service *svc, pid_t pid, bool create)
{
    for (struct phx_pid_sids *p = svc->pids; p; p = p->next)
        if (p->pid == pid)
            return p;
    if (!create)
        return NULL;
    struct phx_pid_sids *p = calloc(1, sizeof(*p));
    if (p) {
        p->pid = pid;
        p->next = svc->pids;
        svc->pids = p;
    }
    return p;
}

static void pid_release(struct phx_service *svc, pid_t pid)
{
    for (struct phx_pid_sids **pp = &svc->pids; *pp; pp = &(*pp)->next) {
        struct phx_pid_sids *p = *pp;
        if (p->pid != pid)
            continue;
        if (--p->live == 0) {
            *pp = p->next;
            free(p);
        }
        return;
    }
}

/* ---- registration --------------------------------------------------------------------------- */

static phx_app_port_t *create_port(struct phx_service *svc, const struct phx_register_params *p,
                                   char *err, size_t errlen)
{
    const phx_config_t *cfg = svc->cfg;
    struct phx_app_port_params pp = {
        .field_mask = PHX_APP_PORT_PARAM_FIELD_SEND_SIZE | PHX_APP_PORT_PARAM_FIELD_RECV_SIZE |
                      PHX_APP_PORT_PARAM_FIELD_SLAB_SIZE | PHX_APP_PORT_PARAM_FIELD_CRED |
                      PHX_APP_PORT_PARAM_FIELD_BROKEN_FD,
        .send_size = (size_t)cfg->heap.send_mb << 20,
        .recv_size = (size_t)cfg->heap.recv_mb << 20,
        .slab_size = (size_t)cfg->heap.slab_kb << 10,
        .pid = p->peer.pid,
        .uid = p->peer.uid,
        .gid = p->peer.gid,
        .broken_fd = svc->broken_fd,
    };
    if ((p->field_mask & PHX_REGISTER_PARAM_FIELD_RING_DEPTH) && p->ring_depth) {
        pp.field_mask |= PHX_APP_PORT_PARAM_FIELD_DEPTH;
        pp.depth = p->ring_depth;
    }
    phx_app_port_t *port = phx_app_port_create(&pp, err, errlen);
    if (port)
        bind_port_memory(svc, port);
    return port;
}

/* Checks what can be refused before anything is built. */
static int register_admissible(struct phx_service *svc, const char *service, char *err,
                               size_t errlen)
{
    if (svc->n_subs >= svc->cfg->control.max_apps) {
        snprintf(err, errlen, "the service is full: %u apps registered (control.max_apps)",
                 svc->n_subs);
        return PHX_RESOURCE_EXHAUSTED;
    }
    if (!phx_registry_service(&svc->registry, service)) {
        char names[512];
        phx_service_names(svc, names, sizeof(names));
        snprintf(err, errlen, "no service '%s' (loaded: %s)", service, names);
        return PHX_NOT_FOUND;
    }
    return PHX_OK;
}

static void sub_link(struct phx_service *svc, struct phx_subscription *sub)
{
    sub->next = svc->subs;
    svc->subs = sub;
    svc->n_subs++;
}

static void sub_unlink(struct phx_service *svc, struct phx_subscription *sub)
{
    for (struct phx_subscription **pp = &svc->subs; *pp; pp = &(*pp)->next) {
        if (*pp == sub) {
            *pp = sub->next;
            svc->n_subs--;
            return;
        }
    }
}

int phx_service_register(struct phx_service *svc, const struct phx_register_params *p,
                         struct phx_subscription **out, char *err, size_t errlen)
{
    int status = register_admissible(svc, p->service, err, errlen);

    if (status != PHX_OK)
        return status;
    unsigned picked = pick_runtime(svc), first = picked != NO_RUNTIME ? picked : pick_kept(svc);
    if (first == NO_RUNTIME) {          /* dedicate mode, every thread taken */
        say_busy(svc, err, errlen);
        return PHX_RESOURCE_EXHAUSTED;
    }
    struct phx_pid_sids *pid = pid_entry(svc, p->peer.pid, true);
    if (!pid) {
        snprintf(err, errlen, "out of memory");
        return PHX_INTERNAL;
    }
    pid->live++;        /* from here on, failures release it */
    phx_app_port_t *port = create_port(svc, p, err, errlen);
    status = port ? PHX_OK : phx_status_of_errno(errno);
    struct phx_subscription *sub = NULL;
    if (port && !(sub = phx_subscription_create_on(&svc->registry, p->service, p->peer.pid,
                                                   pid->next_sid, port, first, err, errlen)))
        status = PHX_INTERNAL;
    if (sub) {
        sub->uid = p->peer.uid;
        sub->gid = p->peer.gid;
        phx_job_identify(phx_job_proc_root(), p->peer.pid, &sub->job);
        phx_rules_on_register(svc, sub);    /* before the app has its rings: no call yet */
        status = place_group(svc, sub, picked, err, errlen);
    }
    if (status != PHX_OK) {
        phx_subscription_destroy(sub);
        phx_app_port_destroy(port);
        pid_release(svc, p->peer.pid);
        return status;
    }
    pid->next_sid++;
    sub_link(svc, sub);
    unsigned rt = sub->group.runtime_index;
    phx_info("registered pid %d sid %u (uid %d, job %s%s) for %s on runtime %u%s", (int)sub->pid,
             sub->sid, (int)sub->uid, sub->job.id[0] ? sub->job.id : "none",
             sub->job.id[0] && !sub->job.verified ? " unverified" : "", sub->service, rt,
             phx_service_runtime_kept(svc, rt) ? " (kept for urgent apps)" : "");
    *out = sub;
    return PHX_OK;
}

void phx_service_unregister(struct phx_service *svc, struct phx_subscription *sub)
{
    unsigned rt = sub->group.runtime_index;

    if (sub->runtime) {
        phx_runtime_remove(sub->runtime, sub);
        svc->runtime_groups[rt]--;
    }
    sub_unlink(svc, sub);
    pid_release(svc, sub->pid);
    phx_info("unregistered pid %d sid %u", (int)sub->pid, sub->sid);
    phx_app_port_t *port = sub->group.app;
    phx_subscription_destroy(sub);      /* engines first: they use the port */
    phx_app_port_destroy(port);
    malloc_trim(0);                     /* what the app's engines and port held, to the system */
}

void phx_service_shutdown_apps(struct phx_service *svc)
{
    const phx_desc_t bye = { .kind = PHX_DESC_SHUTDOWN, .status = PHX_UNAVAILABLE };

    for (struct phx_subscription *sub = svc->subs; sub; sub = sub->next) {
        /* The completion ring has one producer, the front engine: stop it before pushing. */
        if (sub->runtime) {
            phx_runtime_remove(sub->runtime, sub);
            svc->runtime_groups[sub->group.runtime_index]--;
        }
        if (sub->group.app && phx_app_port_complete(sub->group.app, &bye, 1) != 1)
            phx_debug("pid %d sid %u: no room for the shutdown notice", (int)sub->pid,
                      sub->sid);
    }
}

bool phx_service_port_broken(const struct phx_subscription *sub)
{
    return sub->group.app && phx_app_port_is_broken(sub->group.app);
}

void phx_service_drain_broken(struct phx_service *svc)
{
    uint64_t v;
    while (read(svc->broken_fd, &v, sizeof(v)) == (ssize_t)sizeof(v))
        ;
}

struct phx_subscription *phx_service_find(struct phx_service *svc, pid_t pid, unsigned sid)
{
    for (struct phx_subscription *sub = svc->subs; sub; sub = sub->next)
        if (sub->pid == pid && sub->sid == sid)
            return sub;
    return NULL;
}
