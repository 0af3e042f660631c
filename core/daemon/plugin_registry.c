/* plugin_registry.c - loading, validating and unloading plugins (see plugin_registry.h).
 *
 * dlopen() hands back the handle it already has for a path it knows, so a rebuilt plugin at the
 * same path would silently be the old code. Every load therefore copies the .so to a private,
 * unique file in copy_dir, dlopen()s that, and unlinks it right away: the mapping keeps the code
 * alive and nothing is left on disk if the service dies.
 *
 * Plugins form one list. A loaded plugin is `current`: its engine types and services are the
 * ones lookups find. A candidate opened for an upgrade stays off the list until supersede()
 * puts it there in place of the old build, which then lingers (not current) until its last
 * engine is destroyed and unpin() dlclose()s it.
 *
 * Everything a plugin's descriptor says is checked before any of it is used. First its head,
 * which every ABI 2 build writes alike: the major ABI (the first field in every ABI there ever
 * was), the descriptor's size and the build signature (phoenix/engine.h). Then the descriptor and
 * each engine's ops table are copied into zeroed structs of this build's sizes, so that a plugin
 * built against an older minor ABI has NULL for the ops it did not know, and one built against a
 * newer minor loads as long as everything this build does not know is zero. Then the contents:
 * names, operations, port counts, and that no engine type or service is already provided by a
 * plugin of another name. Last its settings are loaded from its section of the registry's
 * configuration (phx_config_plugin_settings) with the schema the descriptor gives; a section
 * that does not fit refuses the plugin with the one line naming file, line and key. */
#include "plugin_registry.h"

#include "phoenix/settings.h"
#include "settings_load.h"

#include "config.h"
#include "graph.h"
#include "plugin_trust.h"
#include "phoenix/log.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Attempts at finding a free private file name (a stale copy of an earlier process may sit there). */
#define COPY_NAME_ATTEMPTS 16
/* Sizes and list lengths beyond these are a broken descriptor, not a future one. */
#define DESC_SIZE_MAX      4096
#define OPS_SIZE_MAX       4096
#define LIST_MAX           64
#define SIGNATURE_MAX      128
/* The part of a descriptor read before its size is trusted. */
/* The least an ABI 2 build writes: up to its engines; an ops table: up to its required ops. */
#define DESC_MIN_SIZE      (offsetof(phx_plugin_desc_t, engines) + sizeof(void *))
#define OPS_MIN_SIZE       (offsetof(phx_engine_ops_t, destroy) + sizeof(void *))

/* Formats "plugin PATH: <reason>" into ERR; returns -ERRNO so callers can `return refuse(...)`. */
__attribute__((format(printf, 5, 6)))
static int refuse(char *err, size_t errlen, const char *path, int errnum, const char *fmt, ...)
{
    char reason[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(reason, sizeof(reason), fmt, ap);
    va_end(ap);
    if (err && errlen)
        snprintf(err, errlen, "plugin %s: %s", path, reason);
    return -errnum;
}

int phx_registry_init(struct phx_registry *reg, const char *copy_dir)
{
    memset(reg, 0, sizeof(*reg));
    if (!copy_dir || !*copy_dir)
        return -EINVAL;
    if (mkdir(copy_dir, 0700) && errno != EEXIST)
        return -errno;
    /* The copies are what dlopen() maps: no one else may be able to swap them. */
    struct stat st;
    int fd = open(copy_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    int rc = fd < 0 || fstat(fd, &st) < 0 ? -errno
             : st.st_uid != geteuid() || (st.st_mode & (S_IWGRP | S_IWOTH)) ? -EPERM : 0;
    if (fd >= 0)
        close(fd);
    if (rc)
        return rc;
    reg->copy_dir = strdup(copy_dir);
    return reg->copy_dir ? 0 : -ENOMEM;
}

static void free_settings(const struct phx_plugin_info *desc, void *settings)
{
    if (settings)
        phx_settings_free(desc->settings, settings);
    free(settings);
}

static void plugin_free(struct phx_plugin *p)
{
    if (p->host.settings)
        free_settings(p->desc, p->host.settings);  /* before dlclose: the schema is the plugin's */
    free(p->ops);
    free(p->ops_list);
    if (p->handle)
        dlclose(p->handle);
    free(p->path);
    free(p->loaded_path);
    free(p);
}

void phx_registry_fini(struct phx_registry *reg)
{
    while (reg->plugins) {
        struct phx_plugin *p = reg->plugins;
        if (p->live)
            phx_warn("plugin %s unloaded with %u engines alive", p->desc->name, p->live);
        reg->plugins = p->next;
        plugin_free(p);
    }
    free(reg->copy_dir);
    reg->copy_dir = NULL;
}

/* ---- the private copy ----------------------------------------------------------------------- */

static int copy_bytes(int from, int to)
{
    char buf[64 * 1024];
    ssize_t n;

    while ((n = read(from, buf, sizeof(buf))) > 0) {
        for (ssize_t done = 0; done < n;) {
            ssize_t w = write(to, buf + done, (size_t)(n - done));
            if (w < 0)
                return -errno;
            done += w;
        }
    }
    return n < 0 ? -errno : 0;
}

/* "<copy_dir>/<basename without .so>.<pid>.<n>.so", created exclusively; returns its fd. */
static int create_copy_file(struct phx_registry *reg, const char *path, char *name, size_t len)
{
    char *tmp = strdup(path);
    if (!tmp)
        return -ENOMEM;
    char *base = basename(tmp);
    size_t blen = strlen(base);
    if (blen > 3 && strcmp(base + blen - 3, ".so") == 0)
        base[blen - 3] = '\0';

    int fd = -EEXIST;
    for (int i = 0; i < COPY_NAME_ATTEMPTS && fd == -EEXIST; i++) {
        snprintf(name, len, "%s/%s.%d.%u.so", reg->copy_dir, base, (int)getpid(), ++reg->copies);
        fd = open(name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0700);
        if (fd < 0)
            fd = -errno;
    }
    free(tmp);
    return fd;
}

/* The directories vouched for: the configuration's plugin_trusted_dirs and those the
 * environment adds (PHX_ENV_TRUSTED_DIRS, config.h). Malloc'd, or NULL. */
static char *trusted_dirs(const struct phx_registry *reg)
{
    const char *conf = reg->cfg && reg->cfg->plugin_trusted_dirs ? reg->cfg->plugin_trusted_dirs
                                                                  : "";
    const char *env = phx_config_env_trusted_dirs();
    char *both = NULL;

    if (asprintf(&both, "%s%s%s", conf, *conf && *env ? ":" : "", env) < 0)
        return NULL;
    return both;
}

/* Copies PATH into a private file whose name goes to COPY, from the descriptor the trust walk
 * (plugin_trust.h) opened and checked: nothing of an untrusted file is read. 0 or -errno with
 * the reason in WHY. */
static int make_private_copy(struct phx_registry *reg, const char *path, char *copy, size_t len,
                             char *why, size_t whylen)
{
    char *trusted = trusted_dirs(reg);
    int from = trusted ? phx_plugin_trust_open(path, trusted, geteuid(), why, whylen) : -ENOMEM;

    free(trusted);
    if (from < 0)
        return from;
    int to = create_copy_file(reg, path, copy, len);
    if (to < 0)
        snprintf(why, whylen, "cannot make its private copy in %s: %s", reg->copy_dir,
                 strerror(-to));
    if (to < 0) {
        close(from);
        return to;
    }
    int rc = copy_bytes(from, to);
    close(from);
    if (close(to) && !rc)
        rc = -errno;
    if (rc) {
        snprintf(why, whylen, "cannot copy it to %.512s: %s", copy,
                 strerror(-rc));
        unlink(copy);
    }
    return rc;
}

/* ---- reading the descriptor ------------------------------------------------------------------ */

/* What each token of PHX_BUILD_SIGNATURE stands for, by its first letter. */
static const struct {
    char        key;
    const char *what;
} signature_fields[] = {
    {'p', "pointer size"},    {'l', "long size"},         {'z', "size_t size"},
    {'e', "enum size"},       {'b', "bool size"},         {'a', "uint64_t alignment"},
    {'d', "phx_desc_t size"}, {'o', "byte order (L/B)"},
};

/* The value of the token starting with KEY in signature SIG ("?" when absent). */
static void signature_value(const char *sig, char key, char *val, size_t len)
{
    for (const char *t = sig; t && *t; t = strchr(t, ' ') ? strchr(t, ' ') + 1 : NULL) {
        if (*t == key) {
            snprintf(val, len, "%.*s", (int)strcspn(t + 1, " "), t + 1);
            return;
        }
    }
    snprintf(val, len, "?");
}

/* "enum size is 1 in the plugin and 4 here" for the first property that differs. */
static void signature_difference(const char *theirs, const char *ours, char *out, size_t len)
{
    snprintf(out, len, "'%s' in the plugin and '%s' here", theirs, ours);
    for (size_t i = 0; i < sizeof(signature_fields) / sizeof(signature_fields[0]); i++) {
        char a[16], b[16];
        signature_value(theirs, signature_fields[i].key, a, sizeof(a));
        signature_value(ours, signature_fields[i].key, b, sizeof(b));
        if (strcmp(a, b) == 0)
            continue;
        snprintf(out, len, "%s is %s in the plugin and %s here", signature_fields[i].what, a, b);
        return;
    }
}

static int check_signature(const phx_plugin_desc_t *raw, const char *path, char *err,
                           size_t errlen)
{
    const char *ours = PHX_BUILD_SIGNATURE;
    char diff[256];

    if (!raw->signature || strnlen(raw->signature, SIGNATURE_MAX) == SIGNATURE_MAX)
        return refuse(err, errlen, path, EPROTO, "no build signature in its descriptor "
                      "(declare the plugin with PHX_PLUGIN)");
    if (strcmp(raw->signature, ours) == 0)
        return 0;
    signature_difference(raw->signature, ours, diff, sizeof(diff));
    return refuse(err, errlen, path, EPROTO, "built with another build signature (%s); rebuild "
                  "it with this service's compiler options", diff);
}

/* The major ABI, the descriptor's size and the build signature: what must hold before anything
 * else of the descriptor is read. */
static int check_head(const phx_plugin_desc_t *raw, const char *path, char *err, size_t errlen)
{
    if (raw->abi_major != PHX_ABI_MAJOR)
        return refuse(err, errlen, path, EPROTO, "built for major ABI %u, this service speaks "
                      "%d: %s", raw->abi_major, PHX_ABI_MAJOR, raw->abi_major < PHX_ABI_MAJOR
                      ? "rebuild it against this service's phoenix/engine.h"
                      : "it needs a newer service");
    /* Every ABI 2 descriptor has at least its engines, and ends on a pointer boundary: a size
     * that cuts through a pointer would leave half of one to be read as a whole. */
    if (raw->desc_size < DESC_MIN_SIZE || raw->desc_size > DESC_SIZE_MAX ||
        raw->desc_size % _Alignof(void *))
        return refuse(err, errlen, path, EPROTO, "its descriptor claims %u bytes, which no "
                      "build of ABI %d writes", raw->desc_size, PHX_ABI_MAJOR);
    return check_signature(raw, path, err, errlen);
}

static bool zero_from(const void *p, size_t from, size_t to)
{
    for (size_t i = from; i < to; i++)
        if (((const unsigned char *)p)[i])
            return false;
    return true;
}

/* Copies what the plugin has of a struct of RAW_SIZE bytes into DST (DST_SIZE bytes, zeroed
 * first). False when the plugin's struct is longer and sets something past DST_SIZE. */
static bool copy_grown(void *dst, size_t dst_size, const void *raw, size_t raw_size)
{
    memset(dst, 0, dst_size);
    memcpy(dst, raw, raw_size < dst_size ? raw_size : dst_size);
    return raw_size <= dst_size || zero_from(raw, dst_size, raw_size);
}

static int newer_minor(const phx_plugin_desc_t *d, const char *what, const char *path, char *err,
                       size_t errlen)
{
    return refuse(err, errlen, path, EPROTO, "%s that this service does not know (built for ABI "
                  "%u.%u, this service speaks %d.%d): it needs a newer service", what,
                  d->abi_major, d->abi_minor, PHX_ABI_MAJOR, PHX_ABI_MINOR);
}

/* The number of entries before the end marker, or LIST_MAX + 1 when there is none in reach. */
static unsigned count_engines(const phx_engine_ops_t *const *list)
{
    unsigned n = 0;
    while (list && n <= LIST_MAX && list[n])
        n++;
    return n;
}

static unsigned count_services(const phx_service_def_t *list)
{
    unsigned n = 0;
    while (list && n <= LIST_MAX && list[n].name)
        n++;
    return n;
}

/* Full-size copies of the plugin's ops tables into p->ops, listed in p->ops_list. */
static int copy_engines(struct phx_plugin *p, const phx_plugin_desc_t *d, unsigned n,
                        const char *path, char *err, size_t errlen)
{
    if (d->ops_size < OPS_MIN_SIZE || d->ops_size > OPS_SIZE_MAX || d->ops_size % _Alignof(void *))
        return refuse(err, errlen, path, EPROTO, "engine ops tables of %u bytes, which no build "
                      "of ABI %d has", d->ops_size, PHX_ABI_MAJOR);
    p->ops = calloc(n ? n : 1, sizeof(*p->ops));
    p->ops_list = calloc(n + 1, sizeof(*p->ops_list));
    if (!p->ops || !p->ops_list)
        return -ENOMEM;
    for (unsigned i = 0; i < n; i++) {
        if (!copy_grown(&p->ops[i], sizeof(p->ops[i]), d->engines[i], d->ops_size))
            return newer_minor(d, "an engine type provides ops", path, err, errlen);
        p->ops_list[i] = &p->ops[i];
    }
    return 0;
}

/* Reads RAW into p->info as this build's structs. */
static int read_descriptor(struct phx_plugin *p, const phx_plugin_desc_t *raw, const char *path,
                           char *err, size_t errlen)
{
    phx_plugin_desc_t d;
    int rc = check_head(raw, path, err, errlen);

    if (rc)
        return rc;
    if (!copy_grown(&d, sizeof(d), raw, raw->desc_size) || !zero_from(d.spare, 0, sizeof(d.spare)))
        return newer_minor(&d, "its descriptor sets fields", path, err, errlen);
    unsigned n_engines = count_engines(d.engines), n_services = count_services(d.services);
    if (n_engines > LIST_MAX || n_services > LIST_MAX)
        return refuse(err, errlen, path, EINVAL, "more than %d engine types or services, or a "
                      "list without its end (declare them with PHX_ENGINES and PHX_SERVICES)",
                      LIST_MAX);
    rc = copy_engines(p, &d, n_engines, path, err, errlen);
    if (rc)
        return rc;
    p->info = (struct phx_plugin_info){
        .name = d.name, .version = d.version, .engines = p->ops_list, .n_engines = n_engines,
        .services = d.services, .n_services = n_services, .settings = d.settings,
        .abi_major = d.abi_major, .abi_minor = d.abi_minor, .ops_size = d.ops_size};
    p->desc = &p->info;
    return 0;
}

/* ---- validation ----------------------------------------------------------------------------- */

static bool name_ok(const char *s)
{
    return s && *s && strlen(s) < PHX_NAME_MAX;
}

static const struct phx_plugin *other_provider_of_type(const struct phx_registry *reg,
                                                       const char *plugin_name, const char *type)
{
    for (const struct phx_plugin *p = reg->plugins; p; p = p->next) {
        if (strcmp(p->desc->name, plugin_name) == 0)
            continue;
        for (unsigned i = 0; i < p->desc->n_engines; i++)
            if (strcmp(p->desc->engines[i]->type, type) == 0)
                return p;
    }
    return NULL;
}

static const struct phx_plugin *other_provider_of_service(const struct phx_registry *reg,
                                                          const char *plugin_name,
                                                          const char *service)
{
    for (const struct phx_plugin *p = reg->plugins; p; p = p->next) {
        if (strcmp(p->desc->name, plugin_name) == 0)
            continue;
        for (unsigned i = 0; i < p->desc->n_services; i++)
            if (strcmp(p->desc->services[i].name, service) == 0)
                return p;
    }
    return NULL;
}

static int check_ports(const phx_engine_ops_t *ops, const char *path, char *err, size_t errlen)
{
    for (int dir = 0; dir < 2; dir++)
        for (int side = 0; side < 2; side++) {
            unsigned n = side == 0 ? ops->ports[dir].in : ops->ports[dir].out;
            if (n > PHX_MAX_PORTS)
                return refuse(err, errlen, path, EINVAL,
                              "engine type %s declares %u %s %s ports, at most %d are supported",
                              ops->type, n, dir == PHX_TX ? "tx" : "rx",
                              side == 0 ? "in" : "out", PHX_MAX_PORTS);
        }
    return 0;
}

static int check_engine_type(const struct phx_registry *reg, const struct phx_plugin_info *d,
                             unsigned i, const char *path, char *err, size_t errlen)
{
    const phx_engine_ops_t *ops = d->engines[i];

    if (!ops || !name_ok(ops->type))
        return refuse(err, errlen, path, EINVAL, "engine type %u has no valid name", i);
    if (!ops->create || !ops->progress || !ops->destroy)
        return refuse(err, errlen, path, EINVAL, "engine type %s lacks create, progress or destroy",
                      ops->type);
    for (unsigned j = 0; j < i; j++)
        if (strcmp(d->engines[j]->type, ops->type) == 0)
            return refuse(err, errlen, path, EINVAL, "engine type %s is listed twice", ops->type);
    const struct phx_plugin *other = other_provider_of_type(reg, d->name, ops->type);
    if (other)
        return refuse(err, errlen, path, EEXIST, "engine type %s already provided by plugin '%s'",
                      ops->type, other->desc->name);
    return check_ports(ops, path, err, errlen);
}

/* Engine types named in a chain are looked up only when an app subscribes: they may come from
 * plugins loaded later. */
static int check_service(const struct phx_registry *reg, const struct phx_plugin_info *d, unsigned i,
                         const char *path, char *err, size_t errlen)
{
    const phx_service_def_t *s = &d->services[i];

    if (!name_ok(s->name))
        return refuse(err, errlen, path, EINVAL, "service %u has no valid name", i);
    if (!s->chain || s->chain_len == 0 || s->chain_len > PHX_SUB_MAX_ENGINES)
        return refuse(err, errlen, path, EINVAL, "service %s needs 1 to %d engines in its chain",
                      s->name, PHX_SUB_MAX_ENGINES);
    for (unsigned k = 0; k < s->chain_len; k++)
        if (!name_ok(s->chain[k]))
            return refuse(err, errlen, path, EINVAL, "service %s: chain entry %u has no valid name",
                          s->name, k);
    for (unsigned j = 0; j < i; j++)
        if (strcmp(d->services[j].name, s->name) == 0)
            return refuse(err, errlen, path, EINVAL, "service %s is listed twice", s->name);
    const struct phx_plugin *other = other_provider_of_service(reg, d->name, s->name);
    if (other)
        return refuse(err, errlen, path, EEXIST, "service %s already provided by plugin '%s'",
                      s->name, other->desc->name);
    return 0;
}

static int check_contents(const struct phx_registry *reg, const struct phx_plugin_info *d,
                          const char *path, char *err, size_t errlen)
{
    if (!name_ok(d->name) || !name_ok(d->version))
        return refuse(err, errlen, path, EINVAL, "missing or overlong plugin name or version");
    for (unsigned i = 0; i < d->n_engines; i++) {
        int rc = check_engine_type(reg, d, i, path, err, errlen);
        if (rc)
            return rc;
    }
    for (unsigned i = 0; i < d->n_services; i++) {
        int rc = check_service(reg, d, i, path, err, errlen);
        if (rc)
            return rc;
    }
    return 0;
}

/* ---- settings ------------------------------------------------------------------------------ */

void phx_registry_set_config(struct phx_registry *reg, const phx_config_t *cfg)
{
    reg->cfg = cfg;
}

/* DESC's section of CFG, loaded with its schema into a new struct (*OUT; NULL without schema). */
static int load_settings(const phx_config_t *cfg, const struct phx_plugin_info *desc, void **out,
                         char *err, size_t errlen)
{
    const struct phx_settings_schema *schema = desc->settings;
    char why[256];

    *out = NULL;
    if (schema && phx_settings_schema_check(schema, why, sizeof(why)) < 0) {
        snprintf(err, errlen, "plugin %s: %s", desc->name, why);
        return -EPROTO;
    }
    void *settings = schema ? calloc(1, schema->size ? schema->size : 1) : NULL;
    if (schema && !settings) {
        snprintf(err, errlen, "plugin %s: out of memory", desc->name);
        return -ENOMEM;
    }
    if (phx_config_plugin_settings(cfg, desc->name, schema, settings, err, errlen) < 0) {
        free(settings);
        return -EINVAL;
    }
    *out = settings;
    return 0;
}

int phx_registry_reload_settings(struct phx_registry *reg, const phx_config_t *cfg, char *err,
                                 size_t errlen)
{
    unsigned n = 0, i = 0;
    int rc = 0;

    for (struct phx_plugin *p = reg->plugins; p; p = p->next)
        n += p->current;
    void **fresh = calloc(n ? n : 1, sizeof(*fresh));
    if (!fresh) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (struct phx_plugin *p = reg->plugins; p && rc == 0; p = p->next)
        if (p->current)
            rc = load_settings(cfg, p->desc, &fresh[i++], err, errlen);
    i = 0;
    for (struct phx_plugin *p = reg->plugins; p; p = p->next) {
        if (!p->current)
            continue;
        void *old = rc == 0 ? p->host.settings : fresh[i];
        if (rc == 0)
            p->host.settings = fresh[i];
        i++;
        if (old)
            free_settings(p->desc, old);
    }
    free(fresh);
    if (rc == 0)
        reg->cfg = cfg;
    return rc < 0 ? -1 : 0;
}

/* ---- open, load, supersede ---------------------------------------------------------------- */

static struct phx_plugin *fail_open(struct phx_plugin *p, int rc)
{
    plugin_free(p);
    errno = -rc;
    return NULL;
}

static int dlopen_copy(struct phx_plugin *p, const char *path, char *err, size_t errlen)
{
    char copy[4096], why[1024];
    int rc = make_private_copy(p->registry, path, copy, sizeof(copy), why, sizeof(why));

    if (rc == -EPERM)
        return refuse(err, errlen, path, EPERM, "refused: %s", why);
    if (rc)
        return refuse(err, errlen, path, -rc, "%s", why);
    p->loaded_path = strdup(copy);
    p->handle = dlopen(copy, RTLD_NOW | RTLD_LOCAL);
    /* The mapping keeps the code; the file is only in the way from now on. */
    unlink(copy);
    if (!p->handle)
        return refuse(err, errlen, path, ENOEXEC, "cannot open: %s", dlerror());
    return p->loaded_path ? 0 : -ENOMEM;
}

struct phx_plugin *phx_registry_open(struct phx_registry *reg, const char *path, char *err,
                                     size_t errlen)
{
    struct phx_plugin *p = calloc(1, sizeof(*p));

    if (!p || !(p->path = strdup(path))) {
        free(p);
        errno = ENOMEM;
        return NULL;
    }
    p->registry = reg;
    int rc = dlopen_copy(p, path, err, errlen);
    if (rc)
        return fail_open(p, rc);
    const phx_plugin_desc_t *raw = dlsym(p->handle, PHX_PLUGIN_SYMBOL);
    if (!raw)
        return fail_open(p, refuse(err, errlen, path, ENOENT,
                                   "no symbol %s (not a Phoenix plugin?)", PHX_PLUGIN_SYMBOL));
    rc = read_descriptor(p, raw, path, err, errlen);
    if (!rc)
        rc = check_contents(reg, &p->info, path, err, errlen);
    if (!rc)
        rc = load_settings(reg->cfg, p->desc, &p->host.settings, err, errlen);
    if (rc)
        return fail_open(p, rc);
    return p;
}

static void link_current(struct phx_registry *reg, struct phx_plugin *p)
{
    p->current = true;
    p->next = reg->plugins;
    reg->plugins = p;
}

struct phx_plugin *phx_registry_load(struct phx_registry *reg, const char *path, char *err,
                                     size_t errlen)
{
    struct phx_plugin *p = phx_registry_open(reg, path, err, errlen);
    if (!p)
        return NULL;
    struct phx_plugin *old = phx_registry_find(reg, p->desc->name);
    if (old) {
        refuse(err, errlen, path, EEXIST, "plugin '%s' is already loaded (version %s); upgrade it",
               old->desc->name, old->desc->version);
        return fail_open(p, -EEXIST);
    }
    link_current(reg, p);
    phx_info("loaded plugin %s %s from %s", p->desc->name, p->desc->version, path);
    return p;
}

static void unlink_plugin(struct phx_registry *reg, struct phx_plugin *p)
{
    for (struct phx_plugin **pp = &reg->plugins; *pp; pp = &(*pp)->next) {
        if (*pp == p) {
            *pp = p->next;
            return;
        }
    }
}

/* A superseded build goes as soon as nothing runs its code any more. */
static void unload_if_unused(struct phx_plugin *p)
{
    if (p->current || p->live)
        return;
    phx_info("unloaded plugin %s %s", p->desc->name, p->desc->version);
    unlink_plugin(p->registry, p);
    plugin_free(p);
}

void phx_registry_supersede(struct phx_registry *reg, struct phx_plugin *old,
                            struct phx_plugin *candidate)
{
    link_current(reg, candidate);
    old->current = false;
    unload_if_unused(old);
}

void phx_registry_discard(struct phx_registry *reg, struct phx_plugin *candidate)
{
    (void)reg;
    if (candidate)
        plugin_free(candidate);
}

/* ---- lookups and pins ----------------------------------------------------------------------- */

struct phx_plugin *phx_registry_find(struct phx_registry *reg, const char *name)
{
    for (struct phx_plugin *p = reg->plugins; p; p = p->next)
        if (p->current && strcmp(p->desc->name, name) == 0)
            return p;
    return NULL;
}

/* P's devices setting (see phx_registry_devices), or NULL. */
static const char *plugin_devices(const struct phx_plugin *p, char *from, size_t n)
{
    const struct phx_settings_schema *schema = p->desc->settings;

    for (unsigned i = 0; schema && p->host.settings && i < schema->nkeys; i++) {
        const struct phx_setting *row = &schema->keys[i];
        if (!(row->flags & PHX_SETTING_DEVICES) || row->kind != PHX_SETTING_KIND_STRING)
            continue;       /* only a string row holds a char * at its offset */
        const char *value = *(char *const *)((const char *)p->host.settings + row->offset);
        if (value && *value) {
            snprintf(from, n, "settings.%s.%s", p->desc->name, row->key);
            return value;
        }
    }
    return NULL;
}

const char *phx_registry_devices(struct phx_registry *reg, char *from, size_t n)
{
    for (struct phx_plugin *p = reg->plugins; p; p = p->next) {
        const char *devices = p->current ? plugin_devices(p, from, n) : NULL;
        if (devices)
            return devices;
    }
    return NULL;
}

const phx_engine_ops_t *phx_registry_engine_type(struct phx_registry *reg, const char *type,
                                                 struct phx_plugin **plugin)
{
    for (struct phx_plugin *p = reg->plugins; p; p = p->next) {
        for (unsigned i = 0; p->current && i < p->desc->n_engines; i++) {
            if (strcmp(p->desc->engines[i]->type, type) == 0) {
                if (plugin)
                    *plugin = p;
                return p->desc->engines[i];
            }
        }
    }
    return NULL;
}

const phx_service_def_t *phx_registry_service(struct phx_registry *reg, const char *name)
{
    for (struct phx_plugin *p = reg->plugins; p; p = p->next)
        for (unsigned i = 0; p->current && i < p->desc->n_services; i++)
            if (strcmp(p->desc->services[i].name, name) == 0)
                return &p->desc->services[i];
    return NULL;
}

void phx_plugin_pin(struct phx_plugin *p)
{
    p->live++;
}

void phx_plugin_unpin(struct phx_plugin *p)
{
    if (p->live)
        p->live--;
    unload_if_unused(p);
}
