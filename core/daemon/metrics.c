/* metrics.c - the service's Prometheus exposition: node gauges written here, and the families
 * of every attached MetricsEngine merged into one text (see metrics.h).
 *
 * Each engine answers admin("prometheus") with whole families of its own (HELP, TYPE, samples
 * labelled side/service/method). Many engines give the same families, and the format allows one
 * HELP and TYPE per family, so the merge keeps families in the order first seen, the first HELP
 * and TYPE of each, and appends every engine's samples to its family with the app's labels (pid,
 * sid, app name, job) put first. A sample belongs to the family of the last HELP/TYPE line before
 * it, which covers a histogram's _bucket/_sum/_count lines.
 *
 * The runtime busy ratio is over the time since the previous scrape (by any scraper), or since
 * the process started on the first; the counter phoenix_runtime_busy_seconds_total is there for
 * rate() over any window. */
#include "metrics.h"

#include "admin_handlers.h"
#include "graph.h"
#include "jobid.h"
#include "phoenix/clock.h"
#include "phoenix/log.h"
#include "phoenix/prom.h"
#include "runtime.h"
#include "service.h"

#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MERGE_FAMILIES_MAX 64
#define NAME_MAX_          128
#define LABELS_MAX         512
#define RUNTIMES_TRACKED   256
#define METRICS_ENGINE     "MetricsEngine"

/* ---- merging engines' families -------------------------------------------------------------- */

struct family {
    char       name[NAME_MAX_];
    bool       has_help, has_type;
    phx_prom_t head, body;
};

struct phx_metrics_merge {
    struct family fam[MERGE_FAMILIES_MAX];
    unsigned      n;
    bool          failed;
};

struct phx_metrics_merge *phx_metrics_merge_new(void)
{
    return calloc(1, sizeof(struct phx_metrics_merge));
}

/* The family named by the `# HELP NAME ...` or `# TYPE NAME ...` line L (after "# HELP "). */
static struct family *family_of(struct phx_metrics_merge *m, const char *l)
{
    size_t len = strcspn(l, " \n");

    if (!len || len >= NAME_MAX_)
        return NULL;
    for (unsigned i = 0; i < m->n; i++)
        if (strlen(m->fam[i].name) == len && memcmp(m->fam[i].name, l, len) == 0)
            return &m->fam[i];
    if (m->n == MERGE_FAMILIES_MAX)
        return NULL;
    struct family *f = &m->fam[m->n++];
    memcpy(f->name, l, len);
    f->name[len] = '\0';
    return f;
}

/* The sample line L (LEN bytes, no newline) into F with LABELS first. */
static int add_sample(struct family *f, const char *l, size_t len, const char *labels)
{
    size_t name = strcspn(l, "{ ");

    if (!name || name >= len)
        return -EINVAL;
    phx_prom_text(&f->body, l, name);
    phx_prom_text(&f->body, "{", 1);
    phx_prom_text(&f->body, labels, strlen(labels));
    if (l[name] == '{') {
        if (l[name + 1] != '}' && *labels)
            phx_prom_text(&f->body, ",", 1);
        phx_prom_text(&f->body, l + name + 1, len - name - 1);
    } else {
        phx_prom_text(&f->body, "}", 1);
        phx_prom_text(&f->body, l + name, len - name);
    }
    phx_prom_text(&f->body, "\n", 1);
    return 0;
}

int phx_metrics_merge_add(struct phx_metrics_merge *m, const char *text, const char *labels)
{
    struct family *cur = NULL;

    for (const char *l = text; *l;) {
        size_t len = strcspn(l, "\n");
        bool help = strncmp(l, "# HELP ", 7) == 0, type = strncmp(l, "# TYPE ", 7) == 0;
        if (help || type) {
            if (!(cur = family_of(m, l + 7)))
                return -EINVAL;
            bool *seen = help ? &cur->has_help : &cur->has_type;
            if (!*seen) {
                phx_prom_text(&cur->head, l, len);
                phx_prom_text(&cur->head, "\n", 1);
            }
            *seen = true;
        } else if (len && l[0] != '#') {
            if (!cur || add_sample(cur, l, len, labels) < 0)
                return -EINVAL;
        }
        l += len + (l[len] == '\n');
    }
    return 0;
}

char *phx_metrics_merge_finish(struct phx_metrics_merge *m)
{
    phx_prom_t w = { 0 };
    bool failed = false;

    for (unsigned i = 0; i < m->n; i++) {
        struct family *f = &m->fam[i];
        failed |= f->head.failed || f->body.failed;
        if (f->head.buf)
            phx_prom_text(&w, f->head.buf, f->head.len);
        if (f->body.buf)
            phx_prom_text(&w, f->body.buf, f->body.len);
        phx_prom_reset(&f->head);
        phx_prom_reset(&f->body);
    }
    free(m);
    if (failed) {
        phx_prom_reset(&w);
        return NULL;
    }
    return phx_prom_finish(&w);
}

/* ---- node gauges ---------------------------------------------------------------------------- */

static struct {
    uint64_t at_ns, busy_ns;
} last_scrape[RUNTIMES_TRACKED];
static uint64_t started_ns;

/* The process start, near enough the runtimes' (the first scrape's ratio is since then). */
__attribute__((constructor)) static void note_start(void)
{
    started_ns = phx_now_ns();
}

static void node_apps(phx_prom_t *w, struct phx_service *svc)
{
    unsigned engines = 0, apps = 0;

    for (struct phx_subscription *s = svc->subs; s; s = s->next) {
        engines += s->n_engines;
        bool seen = false;
        for (struct phx_subscription *o = svc->subs; o != s && !seen; o = o->next)
            seen = o->pid == s->pid;
        apps += !seen;
    }
    phx_prom_family(w, "phoenix_apps_registered", "gauge", "Apps (processes) registered.");
    phx_prom_u64(w, "phoenix_apps_registered", "", apps);
    phx_prom_family(w, "phoenix_subscriptions", "gauge", "App registrations (engine groups).");
    phx_prom_u64(w, "phoenix_subscriptions", "", svc->n_subs);
    phx_prom_family(w, "phoenix_engines", "gauge", "Engines of every app, policies included.");
    phx_prom_u64(w, "phoenix_engines", "", engines);
}

static void node_runtimes(phx_prom_t *w, struct phx_service *svc)
{
    uint64_t now = phx_now_ns();
    char labels[64], idx[16];

    phx_prom_family(w, "phoenix_runtime_busy_seconds_total", "counter",
                    "Time a runtime thread spent in progress() calls that did work.");
    for (unsigned i = 0; i < svc->n_runtimes; i++) {
        struct phx_runtime_stats st;
        phx_runtime_get_stats(svc->runtimes[i], &st);
        snprintf(idx, sizeof(idx), "%u", i);
        labels[0] = '\0';
        phx_prom_label(labels, sizeof(labels), "runtime", idx);
        phx_prom_f64(w, "phoenix_runtime_busy_seconds_total", labels, (double)st.busy_ns / 1e9);
    }
    phx_prom_family(w, "phoenix_runtime_busy_ratio", "gauge",
                    "Share of the time since the previous scrape a runtime thread was busy.");
    for (unsigned i = 0; i < svc->n_runtimes && i < RUNTIMES_TRACKED; i++) {
        struct phx_runtime_stats st;
        phx_runtime_get_stats(svc->runtimes[i], &st);
        uint64_t since = last_scrape[i].at_ns ? last_scrape[i].at_ns : started_ns;
        double ratio = now > since ? (double)(st.busy_ns - last_scrape[i].busy_ns) /
                                         (double)(now - since) : 0;
        last_scrape[i].at_ns = now;
        last_scrape[i].busy_ns = st.busy_ns;
        snprintf(idx, sizeof(idx), "%u", i);
        labels[0] = '\0';
        phx_prom_label(labels, sizeof(labels), "runtime", idx);
        phx_prom_f64(w, "phoenix_runtime_busy_ratio", labels, ratio > 1 ? 1 : ratio);
    }
}

/* The process's resident set (/proc/self/statm), 0 when it cannot be read. */
static uint64_t resident_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long long size = 0, resident = 0;

    if (f) {
        if (fscanf(f, "%llu %llu", &size, &resident) != 2)
            resident = 0;
        fclose(f);
    }
    return (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

static void node_gauges(phx_prom_t *w, struct phx_service *svc)
{
    struct mallinfo2 mi = mallinfo2();
    char labels[128] = "";

    phx_prom_label(labels, sizeof(labels), "version", PHX_VERSION);
    phx_prom_family(w, "phoenix_build_info", "gauge", "The phoenixd build, as a label.");
    phx_prom_u64(w, "phoenix_build_info", labels, 1);
    node_apps(w, svc);
    node_runtimes(w, svc);
    phx_prom_family(w, "phoenix_heap_bytes", "gauge",
                    "Bytes the service process has allocated (malloc, its own memory).");
    phx_prom_u64(w, "phoenix_heap_bytes", "", (uint64_t)mi.uordblks + mi.hblkhd);
    phx_prom_family(w, "phoenix_resident_bytes", "gauge",
                    "Resident memory of the service process (apps' shared heaps included as "
                    "far as it touched them).");
    phx_prom_u64(w, "phoenix_resident_bytes", "", resident_bytes());
    phx_prom_family(w, "phoenix_control_connections", "gauge",
                    "Clients connected to the control socket (apps and tools).");
    phx_prom_u64(w, "phoenix_control_connections", "", svc->control_clients);
}

/* ---- engines -------------------------------------------------------------------------------- */

/* The app's name (/proc/PID/comm), or "" when it cannot be read. */
static void app_name(pid_t pid, char *out, size_t n)
{
    char path[96];
    FILE *f;

    out[0] = '\0';
    snprintf(path, sizeof(path), "%s/%d/comm", phx_job_proc_root(), (int)pid);
    if ((f = fopen(path, "r"))) {
        if (fgets(out, (int)n, f))
            out[strcspn(out, "\n")] = '\0';
        fclose(f);
    }
}

static void sub_labels(const struct phx_subscription *sub, char *out, size_t n)
{
    char num[16], name[32];

    out[0] = '\0';
    snprintf(num, sizeof(num), "%d", (int)sub->pid);
    phx_prom_label(out, n, "pid", num);
    snprintf(num, sizeof(num), "%u", sub->sid);
    phx_prom_label(out, n, "sid", num);
    app_name(sub->pid, name, sizeof(name));
    phx_prom_label(out, n, "app", name);
    phx_prom_label(out, n, "job", sub->job.id);
}

/* The families of SUB's MetricsEngine, if it has one, into M. */
static void engine_series(struct phx_metrics_merge *m, struct phx_subscription *sub)
{
    phx_engine_t *e = phx_subscription_find(sub, METRICS_ENGINE);
    char err[256], labels[LABELS_MAX], *text = NULL;

    if (!e || !e->ops->admin)
        return;
    if (phx_admin_engine_ask(e, "prometheus", &text, err, sizeof(err)) != 0 || !text) {
        phx_warn("metrics of pid %d sid %u left out: %s", (int)sub->pid, sub->sid,
                 text ? err : "no text");
        return;
    }
    sub_labels(sub, labels, sizeof(labels));
    if (phx_metrics_merge_add(m, text, labels) < 0)
        phx_warn("metrics of pid %d sid %u left out: the engine's text does not parse",
                 (int)sub->pid, sub->sid);
    free(text);
}

char *phx_metrics_text(struct phx_service *svc, const struct phx_metrics_scope *scope)
{
    struct phx_metrics_merge *m = phx_metrics_merge_new();
    phx_prom_t w = { 0 };

    if (!m)
        return NULL;
    for (struct phx_subscription *sub = svc->subs; sub; sub = sub->next)
        if (scope->all || sub->uid == scope->uid)
            engine_series(m, sub);
    char *engines = phx_metrics_merge_finish(m);
    node_gauges(&w, svc);
    if (engines)
        phx_prom_text(&w, engines, strlen(engines));
    free(engines);
    return engines ? phx_prom_finish(&w) : (phx_prom_reset(&w), NULL);
}
