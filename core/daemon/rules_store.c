/* rules_store.c - the standing rules file: read at start-up, rewritten on every change (see
 * rules_store.h for the contract).
 *
 * A rule is one group of the file's `rules` list, its keys one schema table (rule_keys) that the
 * settings helper loads (types, ranges, unknown keys, "file:line: rules[2].engine: ...") and
 * dumps; what a rule means is checked by phx_rule_make(), the very function a request to add it
 * goes through. The file ends with `rule_count`, which a file cut short lacks:
 *
 *     # phoenixd's standing rules (policyctl rules) ...
 *     next_id = 7;
 *     rules = (
 *       {
 *         id = 3;
 *         selector = "uid";
 *         ...
 *       }
 *     );
 *     rule_count = 1;
 */
#include "rules_store.h"

#include "config.h"
#include "phoenix/log.h"
#include "rules.h"
#include "service.h"
#include "settings_load.h"

#include <errno.h>
#include <fcntl.h>
#include <libconfig.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* A rule as the file holds it. */
struct stored_rule {
    unsigned id;
    int      selector;          /* enum phx_rule_kind: its index in selector_names */
    char    *job;
    unsigned uid;
    char    *engine;
    char    *config_string;
    unsigned created_uid;
    bool     by_admin;
};

static const char *const selector_names[] = { "job", "uid", "all", NULL };
_Static_assert(PHX_RULE_JOB == 0 && PHX_RULE_UID == 1 && PHX_RULE_ALL == 2,
               "selector_names follows enum phx_rule_kind");

#define REQUIRED .flags = PHX_SETTING_REQUIRED
static const struct phx_setting rule_keys[] = {
    PHX_SETTING_UINT(struct stored_rule, id, 1, 1, UINT32_MAX, "the rule's number", REQUIRED),
    { "selector", PHX_SETTING_KIND_ENUM, offsetof(struct stored_rule, selector), REQUIRED,
      .help = "job, uid or all: the apps the rule applies to", .names = selector_names },
    PHX_SETTING_STRING(struct stored_rule, job, "", "the Slurm job (selector job)"),
    PHX_SETTING_UINT(struct stored_rule, uid, 0, 0, UINT32_MAX - 1, "the uid (selector uid)"),
    PHX_SETTING_STRING(struct stored_rule, engine, "", "the policy's engine type", REQUIRED),
    PHX_SETTING_STRING(struct stored_rule, config_string, "", "the policy's settings"),
    PHX_SETTING_UINT(struct stored_rule, created_uid, 0, 0, UINT32_MAX - 1,
                     "who created the rule", REQUIRED),
    PHX_SETTING_BOOL(struct stored_rule, by_admin, false,
                     "whether an administrator created it", REQUIRED),
};

/* STATE/rules.conf into BUF (PATH_MAX). */
static void file_path(const phx_config_t *cfg, char *buf)
{
    const char *dir = cfg->state_dir && cfg->state_dir[0] ? cfg->state_dir : cfg->prefix;

    snprintf(buf, PATH_MAX, "%s/%s", dir, PHX_RULES_FILE);
}

/* ---- writing -------------------------------------------------------------------------------- */

static void stored_of(const struct phx_rule *r, struct stored_rule *s)
{
    *s = (struct stored_rule){ .id = r->id, .selector = (int)r->kind, .job = (char *)r->job,
                               .uid = (unsigned)r->uid, .engine = (char *)r->engine,
                               .config_string = r->config,
                               .created_uid = (unsigned)r->created_uid,
                               .by_admin = r->by_admin };
}

static int write_rules(const struct phx_service *svc, FILE *f)
{
    unsigned n = 0;

    fprintf(f, "# phoenixd's standing rules (policyctl rules), rewritten by phoenixd on every "
               "change.\n# Edit it only while phoenixd is stopped; it must stay mode 0600.\n"
               "next_id = %u;\nrules = (\n", svc->next_rule_id);
    for (const struct phx_rule *r = svc->rules; r; r = r->next) {
        struct stored_rule s;
        if (r->dropped)
            continue;
        stored_of(r, &s);
        fprintf(f, "%s  {\n", n++ ? ",\n" : "");
        if (phx_settings_dump_keys(rule_keys, COUNT(rule_keys), &s, "    ", f) < 0)
            return -EIO;
        fputs("  }", f);
    }
    fprintf(f, "%s);\nrule_count = %u;\n", n ? "\n" : "", n);
    return ferror(f) ? -EIO : 0;
}

/* Flushes the directory holding PATH, so that a rename in it is on disk. */
static int sync_dir(const char *path)
{
    char dir[PATH_MAX];
    const char *slash = strrchr(path, '/');

    snprintf(dir, sizeof(dir), "%.*s", slash && slash != path ? (int)(slash - path) : 1, path);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc = fd >= 0 && fsync(fd) == 0 ? 0 : -errno;
    if (fd >= 0)
        close(fd);
    return rc;
}

int phx_rules_save(const struct phx_service *svc, char *err, size_t errlen)
{
    char path[PATH_MAX], tmp[PATH_MAX + 16];

    file_path(svc->cfg, path);
    snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path);
    int fd = mkostemp(tmp, O_CLOEXEC);             /* 0600, ours */
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    int rc = f ? 0 : -errno;

    if (!f && fd >= 0)
        close(fd);
    if (rc == 0 && (fchmod(fd, 0600) < 0 || write_rules(svc, f) < 0 || fflush(f) != 0 ||
                    fsync(fd) < 0))
        rc = errno ? -errno : -EIO;
    if (f && fclose(f) != 0 && rc == 0)
        rc = -errno;
    if (rc == 0 && rename(tmp, path) < 0)
        rc = -errno;
    if (rc < 0) {
        if (fd >= 0)
            unlink(tmp);
        snprintf(err, errlen, "cannot write the standing rules to %s: %s", path, strerror(-rc));
        return -1;
    }
    if ((rc = sync_dir(path)) < 0)
        phx_warn("%s: written, but its directory could not be flushed: %s", path,
                 strerror(-rc));
    return 0;
}

/* ---- reading -------------------------------------------------------------------------------- */

/* The file at PATH into *TEXT (malloc'd, NUL-terminated), checked as rules_store.h says: 0, 1
 * when there is none, or -1 with ERR. */
static int read_file(const char *path, char **text, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    struct stat st;

    if (fd < 0 && errno == ENOENT)
        return 1;
    if (fd < 0) {
        snprintf(err, errlen, "%s: cannot open it: %s%s", path, strerror(errno),
                 errno == ELOOP ? " (a symbolic link is not followed)" : "");
        return -1;
    }
    if (fstat(fd, &st) < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    if (!S_ISREG(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 077) ||
        st.st_size > (off_t)PHX_RULES_FILE_MAX) {
        if (!S_ISREG(st.st_mode))
            snprintf(err, errlen, "%s: not a regular file", path);
        else if (st.st_size > (off_t)PHX_RULES_FILE_MAX)
            snprintf(err, errlen, "%s: %lld bytes, more than a rules file holds (%u)", path,
                     (long long)st.st_size, PHX_RULES_FILE_MAX);
        else
            snprintf(err, errlen, "%s: owned by uid %u with mode %04o, but it must be the "
                     "service's (uid %u) and readable by it only (0600): rules others could "
                     "have written are not taken", path, (unsigned)st.st_uid,
                     (unsigned)(st.st_mode & 07777), (unsigned)geteuid());
        close(fd);
        return -1;
    }
    char *buf = malloc((size_t)st.st_size + 1);
    size_t got = 0;
    ssize_t n = 1;
    while (buf && n > 0 && got < (size_t)st.st_size)
        if ((n = read(fd, buf + got, (size_t)st.st_size - got)) > 0)
            got += (size_t)n;
    close(fd);
    if (!buf || n < 0 || got != (size_t)st.st_size || memchr(buf, '\0', got)) {
        snprintf(err, errlen, "%s: %s", path, !buf ? "out of memory"
                 : n < 0 ? strerror(errno) : got != (size_t)st.st_size
                 ? "it changed while being read" : "it holds a NUL byte: not a rules file");
        free(buf);
        return -1;
    }
    buf[got] = '\0';
    *text = buf;
    return 0;
}

/* No line of TEXT may begin with '@' (libconfig's @include would read another file). */
static int refuse_includes(const char *text, const char *path, char *err, size_t errlen)
{
    unsigned line = 1;

    for (const char *p = text; *p; line++) {
        p += strspn(p, " \t");
        if (*p == '@') {
            snprintf(err, errlen, "%s:%u: @include is not taken in a rules file", path, line);
            return -1;
        }
        const char *nl = strchr(p, '\n');
        if (!nl)
            break;
        p = nl + 1;
    }
    return 0;
}

/* Rule I of the file, group G, into SVC. */
static int take_rule(struct phx_service *svc, const struct phx_settings_loader *ld,
                     const config_setting_t *g, unsigned i)
{
    struct stored_rule s;
    char shown[24], prefix[32], why[512];
    struct phx_rule *r = NULL;

    snprintf(shown, sizeof(shown), "rules[%u]", i);
    snprintf(prefix, sizeof(prefix), "%s.", shown);
    const struct phx_settings_target t = { rule_keys, COUNT(rule_keys), &s, prefix };
    if (phx_settings_init_keys(rule_keys, COUNT(rule_keys), &s) < 0)
        return phx_settings_fail_at(ld, g, shown, "out of memory");
    int rc = config_setting_is_group(g) ? phx_settings_load_group(ld, &t, g)
             : phx_settings_fail_at(ld, g, shown, "expected a group { id = ...; ... }");
    for (const struct phx_rule *o = svc->rules; rc == 0 && o; o = o->next)
        if (o->id == s.id)
            rc = phx_settings_fail_at(ld, g, shown, "a second rule numbered %u", s.id);
    if (rc == 0) {
        const struct phx_peer owner = { .uid = (uid_t)s.created_uid, .admin = s.by_admin };
        const struct phx_rule_spec spec = { .selector = selector_names[s.selector],
                                            .job = s.job, .uid = s.uid, .engine = s.engine,
                                            .config_string = s.config_string };
        if (phx_rule_make(svc, &owner, &spec, &r, why, sizeof(why)) != PHX_OK)
            rc = phx_settings_fail_at(ld, g, shown, "%s", why);
    }
    if (rc == 0)
        phx_rule_link(svc, r, s.id);
    phx_settings_free_keys(rule_keys, COUNT(rule_keys), &s);
    return rc;
}

static int read_count(const struct phx_settings_loader *ld, const config_setting_t *s,
                      const char *key, unsigned *out)
{
    int t = config_setting_type(s);
    long long v = config_setting_get_int64(s);

    if ((t != CONFIG_TYPE_INT && t != CONFIG_TYPE_INT64) || v < 0 || v > UINT32_MAX)
        return phx_settings_fail_at(ld, s, key, "expected a number from 0 to 4294967295, got %s",
                                    phx_settings_type_name(s));
    *out = (unsigned)v;
    return 0;
}

static int take_rules(struct phx_service *svc, const struct phx_settings_loader *ld,
                      const config_setting_t *list)
{
    if (!config_setting_is_list(list))
        return phx_settings_fail_at(ld, list, "rules", "expected a list ( { ... }, ... ), got %s",
                                    phx_settings_type_name(list));
    for (int i = 0; i < config_setting_length(list); i++)
        if (take_rule(svc, ld, config_setting_get_elem(list, (unsigned)i), (unsigned)i) < 0)
            return -1;
    return 0;
}

/* The root of the file: next_id, rules, rule_count (last), nothing else. */
static int take_root(struct phx_service *svc, const struct phx_settings_loader *ld,
                     const config_setting_t *root)
{
    unsigned next_id = 0, count = 0;
    int n = config_setting_length(root);
    const config_setting_t *last = n ? config_setting_get_elem(root, (unsigned)n - 1) : NULL;

    if (!last || strcmp(config_setting_name(last), "rule_count") != 0) {
        snprintf(ld->err, ld->errlen, "%s: it does not end with its rule_count: cut short, or "
                 "not written by phoenixd", ld->path);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        const config_setting_t *s = config_setting_get_elem(root, (unsigned)i);
        const char *k = config_setting_name(s);
        int rc = !strcmp(k, "next_id") ? read_count(ld, s, k, &next_id)
                 : !strcmp(k, "rule_count") ? read_count(ld, s, k, &count)
                 : !strcmp(k, "rules") ? take_rules(svc, ld, s)
                 : phx_settings_fail_at(ld, s, k, "unknown key (a rules file has next_id, rules "
                                        "and rule_count)");
        if (rc < 0)
            return -1;
    }
    if (count != svc->n_rules)
        return phx_settings_fail_at(ld, last, "rule_count", "says %u rules, the file holds %u: "
                                    "it was cut short or changed", count, svc->n_rules);
    if (next_id > svc->next_rule_id)
        svc->next_rule_id = next_id;        /* ids of removed rules are not given again */
    return 0;
}

/* The state directory, made (0700) when state_dir names one that is not there. */
static int make_state_dir(const phx_config_t *cfg, char *err, size_t errlen)
{
    if (!cfg->state_dir || !cfg->state_dir[0] || mkdir(cfg->state_dir, 0700) == 0 ||
        errno == EEXIST)
        return 0;
    snprintf(err, errlen, "state_dir %s: cannot make it: %s", cfg->state_dir, strerror(errno));
    return -1;
}

int phx_rules_load(struct phx_service *svc, char *err, size_t errlen)
{
    char path[PATH_MAX], *text = NULL;
    config_t lc;

    if (make_state_dir(svc->cfg, err, errlen) < 0)
        return -1;
    file_path(svc->cfg, path);
    int rc = read_file(path, &text, err, errlen);
    if (rc == 1) {
        phx_info("no standing rules file %s: no standing rules", path);
        return 0;
    }
    if (rc < 0 || refuse_includes(text, path, err, errlen) < 0) {
        free(text);
        return -1;
    }
    const struct phx_settings_loader ld = { .path = path, .err = err, .errlen = errlen,
                                            .reads_octal = phx_settings_libconfig_reads_octal() };
    config_init(&lc);
    if (config_read_string(&lc, text) != CONFIG_TRUE) {
        snprintf(err, errlen, "%s:%d: %s", path, config_error_line(&lc), config_error_text(&lc));
        rc = -1;
    } else {
        rc = take_root(svc, &ld, config_root_setting(&lc));
    }
    config_destroy(&lc);
    free(text);
    if (rc < 0) {
        phx_rules_fini(svc);
        return -1;
    }
    phx_info("%u standing rule%s read from %s", svc->n_rules, svc->n_rules == 1 ? "" : "s",
             path);
    return 0;
}
