/* placement.c - NIC-local placement of runtime threads and memory. See placement.h.
 *
 * phx_placement_compute() takes four steps, one function each: choose the NIC among the
 * topology's OS devices; find its locality (nearest non-I/O ancestor, restricted to the allowed
 * CPUs, or the whole machine); hand the locality's cores to the threads in topology order; take
 * the NUMA nodes of the locality. The topology and the params are the only inputs: nothing here
 * looks at the environment or the running machine, so an XML profile gives the same answer on
 * any host. */
#include "phoenix/admin/placement.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* What compute() learnt on the way, for the reason sentence. */
struct locality {
    hwloc_obj_t nic;
    int nic_configured;
    const char *devices_from;   /* the NIC came from the transport's devices: who set them */
    char virtual_nic[64];       /* the transport's device the topology does not know, or "" */
    hwloc_obj_t anchor;         /* nearest non-I/O ancestor of the NIC; NULL: none, or the root */
    int anchor_disallowed;      /* no allowed CPU near the NIC, so the whole machine is used */
    hwloc_const_cpuset_t within;/* the params' cpus, or NULL */
    hwloc_bitmap_t cpus;        /* allowed CPUs the threads may use */
    unsigned cores;             /* cores (or PUs without Core objects) among them */
};

static void vappend(char *buf, size_t len, const char *fmt, va_list ap)
{
    size_t used = strnlen(buf, len);

    if (used + 1 < len)
        vsnprintf(buf + used, len - used, fmt, ap);
}

/* Appends to the text in BUF; what does not fit is cut, the text stays terminated. */
static void append(char *buf, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void append(char *buf, size_t len, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vappend(buf, len, fmt, ap);
    va_end(ap);
}

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (!err || errlen == 0)
        return;
    err[0] = 0;
    va_start(ap, fmt);
    vappend(err, errlen, fmt, ap);
    va_end(ap);
}

/* ---- loading ---- */

static int load_failed(hwloc_topology_t t, const char *xml_path, char *err, size_t errlen)
{
    int rc = errno ? -errno : -EINVAL;

    hwloc_topology_destroy(t);
    if (xml_path)
        set_err(err, errlen, "%s is not a valid hwloc XML topology", xml_path);
    else
        set_err(err, errlen, "cannot discover this machine's topology: %s", strerror(-rc));
    return rc;
}

int phx_topology_load(hwloc_topology_t *topo, const char *xml_path, char *err, size_t errlen)
{
    hwloc_topology_t t;

    if (!topo)
        return -EINVAL;
    *topo = NULL;
    /* hwloc says nothing about why an XML file failed; a wrong path deserves its own message. */
    if (xml_path && access(xml_path, R_OK) != 0) {
        int rc = -errno;
        set_err(err, errlen, "cannot read topology file %s: %s", xml_path, strerror(-rc));
        return rc;
    }
    if (hwloc_topology_init(&t) < 0) {
        set_err(err, errlen, "cannot initialize hwloc: %s", strerror(errno));
        return -ENOMEM;
    }
    /* hwloc drops all I/O objects by default, from the machine and from XML alike; the important
     * ones (NICs, HCAs and the PCI path to them) are what placement needs. No flag such as
     * HWLOC_TOPOLOGY_FLAG_IS_THISSYSTEM is set: an XML file may describe another machine, and
     * binding threads of this one to its cpusets would be wrong. */
    errno = 0;
    if (hwloc_topology_set_io_types_filter(t, HWLOC_TYPE_FILTER_KEEP_IMPORTANT) < 0 ||
        (xml_path && hwloc_topology_set_xml(t, xml_path) < 0) || hwloc_topology_load(t) < 0)
        return load_failed(t, xml_path, err, errlen);
    *topo = t;
    return 0;
}

/* ---- choosing the NIC ---- */

static const char *nic_kind_of(hwloc_obj_t osdev)
{
    switch (osdev->attr->osdev.type) {
    case HWLOC_OBJ_OSDEV_OPENFABRICS: return "openfabrics";
    case HWLOC_OBJ_OSDEV_NETWORK:     return "network";
    default:                          return NULL;
    }
}

static hwloc_obj_t next_nic(hwloc_topology_t topo, hwloc_obj_t prev)
{
    hwloc_obj_t o = prev;

    while ((o = hwloc_get_next_osdev(topo, o)) != NULL) {
        if (o->name && nic_kind_of(o))
            return o;
    }
    return NULL;
}

/* UCX names port 1 of mlx5_0 "mlx5_0:1"; the port is not an OS device of its own. */
static int is_port_of(const char *nic_name, const char *wanted)
{
    size_t n = strlen(nic_name);

    if (strncmp(nic_name, wanted, n) != 0 || wanted[n] != ':' || !wanted[n + 1])
        return 0;
    return strspn(wanted + n + 1, "0123456789") == strlen(wanted + n + 1);
}

static hwloc_obj_t find_nic_named(hwloc_topology_t topo, const char *wanted)
{
    for (hwloc_obj_t o = next_nic(topo, NULL); o; o = next_nic(topo, o)) {
        if (strcmp(o->name, wanted) == 0)
            return o;
    }
    for (hwloc_obj_t o = next_nic(topo, NULL); o; o = next_nic(topo, o)) {
        if (is_port_of(o->name, wanted))
            return o;
    }
    return NULL;
}

static hwloc_obj_t first_nic_of_type(hwloc_topology_t topo, hwloc_obj_osdev_type_t type)
{
    for (hwloc_obj_t o = next_nic(topo, NULL); o; o = next_nic(topo, o)) {
        if (o->attr->osdev.type == type)
            return o;
    }
    return NULL;
}

static void list_nics(hwloc_topology_t topo, char *buf, size_t len)
{
    buf[0] = 0;
    for (hwloc_obj_t o = next_nic(topo, NULL); o; o = next_nic(topo, o))
        append(buf, len, "%s%s", buf[0] ? ", " : "", o->name);
    if (!buf[0])
        append(buf, len, "none");
}

/* The first of DEVICES ("mlx5_0:1,eth0") the topology knows, else none; the first device's name
 * (without its port) goes to LOC's virtual_nic then. */
static void choose_device(hwloc_topology_t topo, const char *devices, struct locality *loc)
{
    char name[64];

    for (const char *p = devices; *p; p += *p == ',') {
        size_t n = strcspn(p, ",");
        snprintf(name, sizeof(name), "%.*s", (int)n, p);
        p += n;
        if (name[0] && (loc->nic = find_nic_named(topo, name)))
            return;
        if (name[0] && !loc->virtual_nic[0])
            snprintf(loc->virtual_nic, sizeof(loc->virtual_nic), "%.*s",
                     (int)strcspn(name, ":"), name);
    }
}

static int choose_nic(hwloc_topology_t topo, const char *wanted, const char *devices,
                      struct locality *loc, char *err, size_t errlen)
{
    char names[192];

    loc->nic_configured = wanted != NULL;
    if (wanted) {
        loc->nic = find_nic_named(topo, wanted);
        if (loc->nic)
            return 0;
        list_nics(topo, names, sizeof(names));
        set_err(err, errlen, "no NIC named '%s' in this topology; its NICs: %s", wanted, names);
        return -ENODEV;
    }
    if (devices) {
        choose_device(topo, devices, loc);
        if (loc->nic || loc->virtual_nic[0])
            return 0;
        loc->devices_from = NULL;       /* nothing but commas: the rules below */
    }
    loc->nic = first_nic_of_type(topo, HWLOC_OBJ_OSDEV_OPENFABRICS);
    if (!loc->nic)
        loc->nic = first_nic_of_type(topo, HWLOC_OBJ_OSDEV_NETWORK);
    return 0;
}

/* ---- locality, cores, memory ---- */

/* The NIC's locality among ALLOWED CPUs, else all of them. */
static void locality_within(struct locality *loc, hwloc_obj_t anchor, hwloc_const_bitmap_t allowed)
{
    /* The root says nothing about where the NIC is: hwloc puts I/O there when it has no locality
     * (and on single-package machines, where the whole machine is the locality anyway). */
    if (anchor && anchor->parent) {
        loc->anchor = anchor;
        hwloc_bitmap_and(loc->cpus, anchor->cpuset, allowed);
        if (!hwloc_bitmap_iszero(loc->cpus))
            return;
        loc->anchor_disallowed = 1;
    }
    hwloc_bitmap_copy(loc->cpus, allowed);
}

/* LOC's CPUs: the allowed ones (within loc->within, if set) near the NIC. */
static int find_locality(hwloc_topology_t topo, struct locality *loc, char *err, size_t errlen)
{
    hwloc_obj_t anchor = loc->nic ? hwloc_get_non_io_ancestor_obj(topo, loc->nic) : NULL;
    hwloc_bitmap_t allowed = hwloc_bitmap_dup(hwloc_topology_get_allowed_cpuset(topo));

    loc->cpus = hwloc_bitmap_alloc();
    if (!loc->cpus || !allowed) {
        hwloc_bitmap_free(allowed);
        return -ENOMEM;
    }
    if (loc->within)
        hwloc_bitmap_and(allowed, allowed, loc->within);
    if (loc->within && hwloc_bitmap_iszero(allowed)) {
        char cpus[128];
        hwloc_bitmap_list_snprintf(cpus, sizeof(cpus), loc->within);
        set_err(err, errlen, "none of the CPUs %s is an allowed CPU of this topology", cpus);
        hwloc_bitmap_free(allowed);
        return -EINVAL;
    }
    locality_within(loc, anchor, allowed);
    hwloc_bitmap_free(allowed);
    return 0;
}

/* Cores meeting the locality, each cut down to it, in topology order. Topologies without Core
 * objects (some VMs and exotic platforms) use PUs instead. */
static int collect_cores(hwloc_topology_t topo, hwloc_const_cpuset_t cpus, hwloc_bitmap_t **cores,
                         unsigned *ncores)
{
    hwloc_obj_type_t type = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_CORE) > 0 ? HWLOC_OBJ_CORE
                                                                             : HWLOC_OBJ_PU;
    int total = hwloc_get_nbobjs_by_type(topo, type);

    *ncores = 0;
    *cores = calloc(total > 0 ? (size_t)total : 1, sizeof(**cores));
    if (!*cores)
        return -ENOMEM;
    for (int i = 0; i < total; i++) {
        hwloc_obj_t core = hwloc_get_obj_by_type(topo, type, (unsigned)i);
        if (!core->cpuset || !hwloc_bitmap_intersects(core->cpuset, cpus))
            continue;
        hwloc_bitmap_t set = hwloc_bitmap_alloc();
        if (!set)
            return -ENOMEM;
        hwloc_bitmap_and(set, core->cpuset, cpus);
        (*cores)[(*ncores)++] = set;
    }
    return 0;
}

static void free_bitmaps(hwloc_bitmap_t *sets, unsigned n)
{
    for (unsigned i = 0; sets && i < n; i++)
        hwloc_bitmap_free(sets[i]);
    free(sets);
}

static int assign_threads(hwloc_topology_t topo, struct locality *loc, unsigned threads,
                          phx_placement_t *out, char *err, size_t errlen)
{
    hwloc_bitmap_t *cores;
    int rc = collect_cores(topo, loc->cpus, &cores, &loc->cores);

    if (rc == 0 && loc->cores == 0) {
        set_err(err, errlen, "the topology has no allowed core to run runtime threads on");
        rc = -ENODEV;
    }
    if (rc == 0) {
        out->runtime_cpus = calloc(threads, sizeof(*out->runtime_cpus));
        rc = out->runtime_cpus ? 0 : -ENOMEM;
    }
    for (unsigned i = 0; rc == 0 && i < threads; i++) {
        out->threads = i + 1;       /* so that phx_placement_free() releases what exists */
        out->runtime_cpus[i] = hwloc_bitmap_dup(cores[i % loc->cores]);
        rc = out->runtime_cpus[i] ? 0 : -ENOMEM;
    }
    free_bitmaps(cores, loc->cores);
    return rc;
}

static int find_memory_nodes(hwloc_topology_t topo, const struct locality *loc,
                             phx_placement_t *out)
{
    out->memory_nodes = hwloc_bitmap_alloc();
    if (!out->memory_nodes)
        return -ENOMEM;
    /* hwloc 2.x keeps NUMA nodes as memory children beside the CPU tree: go through cpusets. */
    hwloc_cpuset_to_nodeset(topo, loc->cpus, out->memory_nodes);
    hwloc_bitmap_and(out->memory_nodes, out->memory_nodes,
                     hwloc_topology_get_allowed_nodeset(topo));
    /* A node is the NIC's own when its locality says so, or when it is the only candidate. */
    if (hwloc_bitmap_weight(out->memory_nodes) == 1 || (loc->anchor && !loc->anchor_disallowed))
        out->numa_node = hwloc_bitmap_first(out->memory_nodes);
    return 0;
}

/* ---- the reason sentence ---- */

static const char *plural(unsigned n)
{
    return n == 1 ? "" : "s";
}

static void append_obj_name(char *buf, size_t len, hwloc_obj_t obj)
{
    char type[32];

    hwloc_obj_type_snprintf(type, sizeof(type), obj, 0);
    if (obj->os_index != HWLOC_UNKNOWN_INDEX)
        append(buf, len, "%s P#%u", type, obj->os_index);
    else
        append(buf, len, "%s L#%u", type, obj->logical_index);
}

static void append_nic_choice(char *buf, size_t len, const struct locality *loc)
{
    if (loc->virtual_nic[0])
        append(buf, len, "%s, the transport's device (%s), is no device of this topology (a "
               "virtual interface such as lo has no locality)", loc->virtual_nic,
               loc->devices_from);
    else if (!loc->nic)
        append(buf, len, "No OpenFabrics or network device was found");
    else if (loc->devices_from)
        append(buf, len, "%s is the transport's device (%s)", loc->nic->name, loc->devices_from);
    else if (loc->nic_configured)
        append(buf, len, "%s is the configured NIC", loc->nic->name);
    else if (loc->nic->attr->osdev.type == HWLOC_OBJ_OSDEV_OPENFABRICS)
        append(buf, len, "%s is the first OpenFabrics device (HCA)", loc->nic->name);
    else
        append(buf, len, "%s is the first network device (no HCA found)", loc->nic->name);
}

static void append_place(char *buf, size_t len, const struct locality *loc,
                         const phx_placement_t *pl, const char *nodes)
{
    if (!loc->nic) {
        append(buf, len, ", so runtime threads use the machine's");
        return;
    }
    if (!loc->anchor) {
        append(buf, len, " and hangs off the machine root (no closer locality known), so runtime "
               "threads use the machine's");
        return;
    }
    append(buf, len, " and hangs off ");
    append_obj_name(buf, len, loc->anchor);
    if (loc->anchor_disallowed)
        append(buf, len, ", whose CPUs are all disallowed, so runtime threads use the machine's");
    else if (hwloc_bitmap_weight(pl->memory_nodes) > 1)
        append(buf, len, ", which spans NUMA nodes %s (reporting node %d), so runtime threads use "
               "its", nodes, pl->numa_node);
    else
        append(buf, len, ", so runtime threads use its");
}

static void write_reason(const struct locality *loc, phx_placement_t *pl)
{
    char *buf = pl->reason, nodes[64];
    size_t len = sizeof(pl->reason);
    int nnodes = hwloc_bitmap_weight(pl->memory_nodes);

    hwloc_bitmap_list_snprintf(nodes, sizeof(nodes), pl->memory_nodes);
    buf[0] = 0;
    append_nic_choice(buf, len, loc);
    append_place(buf, len, loc, pl, nodes);
    append(buf, len, " %u core%s", loc->cores, plural(loc->cores));
    if (loc->within)
        append(buf, len, " of the CPUs it may run on");
    if (pl->threads > loc->cores)
        append(buf, len, " (shared by %u threads)", pl->threads);
    if (nnodes > 0)
        append(buf, len, " and memory comes from NUMA node%s %s.", nnodes > 1 ? "s" : "", nodes);
    else
        append(buf, len, " and memory is not bound (no allowed NUMA node).");
}

/* ---- the public entry points ---- */

static int read_params(const struct phx_placement_params *p, const char **nic,
                       const char **devices, unsigned *threads, struct locality *loc, char *err,
                       size_t errlen)
{
    *nic = *devices = NULL;
    *threads = 1;
    if (!p)
        return 0;
    if ((p->field_mask & PHX_PLACEMENT_PARAM_FIELD_DEVICES) && p->devices && *p->devices) {
        *devices = p->devices;
        loc->devices_from = p->devices_from ? p->devices_from : "the transport's settings";
    }
    if ((p->field_mask & PHX_PLACEMENT_PARAM_FIELD_CPUS) && p->cpus)
        loc->within = p->cpus;
    if ((p->field_mask & PHX_PLACEMENT_PARAM_FIELD_NIC) && p->nic && *p->nic)
        *nic = p->nic;
    if (p->field_mask & PHX_PLACEMENT_PARAM_FIELD_THREADS)
        *threads = p->threads;
    if (*threads == 0 || *threads > PHX_PLACEMENT_THREADS_MAX) {
        set_err(err, errlen, "threads must be between 1 and %d, not %u",
                PHX_PLACEMENT_THREADS_MAX, *threads);
        return -EINVAL;
    }
    return 0;
}

void phx_placement_params_service_threads(struct phx_placement_params *p,
                                          unsigned runtime_threads, unsigned urgent)
{
    p->field_mask |= PHX_PLACEMENT_PARAM_FIELD_THREADS | PHX_PLACEMENT_PARAM_FIELD_URGENT;
    p->threads = runtime_threads + urgent;
    p->urgent_threads = urgent;
}

static void fill_nic(const struct locality *loc, phx_placement_t *out)
{
    const char *kind = loc->nic ? nic_kind_of(loc->nic) : loc->virtual_nic[0] ? "virtual" : "none";

    snprintf(out->nic, sizeof(out->nic), "%s", loc->nic ? loc->nic->name : loc->virtual_nic);
    snprintf(out->nic_kind, sizeof(out->nic_kind), "%s", kind);
}

int phx_placement_compute(hwloc_topology_t topo, const struct phx_placement_params *p,
                          phx_placement_t *out, char *err, size_t errlen)
{
    struct locality loc = { 0 };
    const char *nic, *devices;
    unsigned threads;
    int rc;

    if (!out)
        return -EINVAL;
    memset(out, 0, sizeof(*out));
    out->numa_node = -1;
    if (!topo) {
        set_err(err, errlen, "no topology given");
        return -EINVAL;
    }
    rc = read_params(p, &nic, &devices, &threads, &loc, err, errlen);
    unsigned urgent = p && (p->field_mask & PHX_PLACEMENT_PARAM_FIELD_URGENT) ? p->urgent_threads
                                                                               : 0;
    if (rc == 0 && urgent >= threads) {
        set_err(err, errlen, "urgent_threads must be fewer than threads (%u), not %u", threads,
                urgent);
        rc = -EINVAL;
    }
    if (rc == 0)
        rc = choose_nic(topo, nic, devices, &loc, err, errlen);
    if (rc == 0)
        rc = find_locality(topo, &loc, err, errlen);
    if (rc == 0)
        rc = assign_threads(topo, &loc, threads, out, err, errlen);
    if (rc == 0)
        rc = find_memory_nodes(topo, &loc, out);
    if (rc == 0) {
        out->urgent_threads = urgent;
        fill_nic(&loc, out);
        write_reason(&loc, out);
    } else {
        if (rc == -ENOMEM)
            set_err(err, errlen, "out of memory while computing the placement");
        phx_placement_free(out);
    }
    hwloc_bitmap_free(loc.cpus);
    return rc;
}

void phx_placement_free(phx_placement_t *pl)
{
    if (!pl)
        return;
    free_bitmaps(pl->runtime_cpus, pl->threads);
    hwloc_bitmap_free(pl->memory_nodes);
    memset(pl, 0, sizeof(*pl));
    pl->numa_node = -1;
}

/* ---- JSON ---- */

static json_object *bitmap_to_json(hwloc_const_bitmap_t set)
{
    json_object *array = json_object_new_array();

    if (!array || hwloc_bitmap_weight(set) < 0)     /* an infinite set has no list */
        goto fail;
    for (int i = hwloc_bitmap_first(set); i >= 0; i = hwloc_bitmap_next(set, i)) {
        json_object *n = json_object_new_int(i);
        if (!n || json_object_array_add(array, n) < 0) {
            json_object_put(n);
            goto fail;
        }
    }
    return array;
fail:
    json_object_put(array);
    return NULL;
}

static json_object *cpusets_to_json(const phx_placement_t *pl)
{
    json_object *array = json_object_new_array();

    for (unsigned i = 0; array && i < pl->threads; i++) {
        json_object *set = bitmap_to_json(pl->runtime_cpus[i]);
        if (!set || json_object_array_add(array, set) < 0) {
            json_object_put(set);
            json_object_put(array);
            return NULL;
        }
    }
    return array;
}

/* Takes VALUE over; a NULL value means it could not be built, unless NULL_OK (JSON null). */
static int add_field(json_object *obj, const char *key, json_object *value, int null_ok)
{
    if ((!value && !null_ok) || json_object_object_add(obj, key, value) < 0) {
        json_object_put(value);
        return -1;
    }
    return 0;
}

static json_object *placement_to_json_object(const phx_placement_t *pl)
{
    json_object *o = json_object_new_object();
    int has_nic = strcmp(pl->nic_kind, "none") != 0 && pl->nic[0];

    if (!o || add_field(o, "nic", has_nic ? json_object_new_string(pl->nic) : NULL, !has_nic) ||
        add_field(o, "nic_kind", json_object_new_string(pl->nic_kind), 0) ||
        add_field(o, "numa_node", json_object_new_int(pl->numa_node), 0) ||
        add_field(o, "threads", json_object_new_int((int)pl->threads), 0) ||
        add_field(o, "urgent_threads", json_object_new_int((int)pl->urgent_threads), 0) ||
        add_field(o, "runtime_cpus", cpusets_to_json(pl), 0) ||
        add_field(o, "memory_nodes", bitmap_to_json(pl->memory_nodes), 0) ||
        add_field(o, "reason", json_object_new_string(pl->reason), 0)) {
        json_object_put(o);
        return NULL;
    }
    return o;
}

char *phx_placement_to_json(const phx_placement_t *pl)
{
    json_object *o;
    const char *text;
    char *copy = NULL;

    if (!pl || !pl->memory_nodes || (pl->threads && !pl->runtime_cpus)) {
        errno = EINVAL;
        return NULL;
    }
    o = placement_to_json_object(pl);
    text = o ? json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
                                                     JSON_C_TO_STRING_NOSLASHESCAPE)
             : NULL;
    if (text)
        copy = strdup(text);
    json_object_put(o);
    if (!copy)
        errno = ENOMEM;
    return copy;
}
