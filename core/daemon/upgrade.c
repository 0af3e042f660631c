/* upgrade.c - live upgrade of plugins (see upgrade.h).
 *
 * An upgrade is a small transaction over every engine of the upgraded plugins:
 *
 *   open      each new build as a registry candidate (validated, not yet current); find the
 *             build it replaces and the engines running it; check that each engine's type
 *             exists in the new build with the same ports and that state can move (dump in the
 *             old build, restore in the new one). Nothing is suspended yet.
 *   prepare   suspend the groups of those engines; flush them all (a flush may progress what
 *             engines share, such as a UCX worker), then dump and restore each one into a new
 *             state held aside, through a blob of bytes and a resource table per engine
 *             (phoenix/handover.h). The old states keep everything they referenced.
 *   commit    (all restored) swap ops, plugin and state inside each engine wrapper, run the
 *             commit hooks the new states registered (phx_handover_on_commit), destroy the
 *             old states with PHX_DESTROY_STATE_ONLY (what they put in the table now belongs to
 *             the new ones), release what no restore() took, make the candidates current; once
 *             the groups run again, move the pins: the last unpin of an old build dlclose()s it
 *             (unmapping a library is no reason to keep traffic waiting).
 *   abort     (any failure) destroy the new states STATE_ONLY, drop the tables without
 *             releasing anything (it all stays the old states') and discard the candidates.
 *
 * and the groups are resumed either way. Channels are never touched, so queued descriptors
 * simply wait for the new code. */
#include "upgrade.h"

#include "phoenix/handover.h"
#include "plugin_registry.h"
#include "runtime.h"
#include "splice.h"
#include "phoenix/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define UPGRADE_MAX_PLUGINS 32

struct upgrade_pair {
    struct phx_plugin *old, *cand;
    unsigned           engines;
};

struct upgrade_item {
    phx_engine_t           *e;
    struct upgrade_pair    *pair;
    const phx_engine_ops_t *ops;        /* the type in the new build */
    void                   *state;      /* restored by the new build */
    struct phx_handover    *table;      /* what dump() handed over besides the blob */
    bool                    restored;
    struct phx_plugin      *was;        /* the build it ran before the commit */
};

struct upgrade {
    struct phx_registry     *reg;
    struct phx_subscription *subs;
    struct upgrade_pair      pairs[UPGRADE_MAX_PLUGINS];
    unsigned                 n_pairs;
    struct upgrade_item     *items;
    unsigned                 n_items;
    char                    *msg;
    size_t                   msglen;
};

__attribute__((format(printf, 3, 4)))
static int fail(struct upgrade *u, int rc, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(u->msg, u->msglen, fmt, ap);
    va_end(ap);
    return rc;
}

/* ---- open ---------------------------------------------------------------------------------- */

static bool name_taken(const struct upgrade *u, const char *name)
{
    for (unsigned i = 0; i < u->n_pairs; i++)
        if (strcmp(u->pairs[i].cand->desc->name, name) == 0)
            return true;
    return false;
}

static int open_candidate(struct upgrade *u, const char *path)
{
    struct phx_plugin *cand = phx_registry_open(u->reg, path, u->msg, u->msglen);

    if (!cand)
        return -errno;
    const char *name = cand->desc->name;
    struct phx_plugin *old = phx_registry_find(u->reg, name);
    int rc = 0;
    if (!old)
        rc = fail(u, -ENOENT, "plugin %s: '%s' is not loaded, so there is nothing to upgrade",
                  path, name);
    else if (name_taken(u, name))
        rc = fail(u, -EINVAL, "plugin %s: '%s' is upgraded twice in one request", path, name);
    if (rc) {
        phx_registry_discard(u->reg, cand);
        return rc;
    }
    u->pairs[u->n_pairs++] = (struct upgrade_pair){.old = old, .cand = cand};
    return 0;
}

static void discard_candidates(struct upgrade *u)
{
    for (unsigned i = 0; i < u->n_pairs; i++)
        phx_registry_discard(u->reg, u->pairs[i].cand);
    u->n_pairs = 0;
}

static int open_candidates(struct upgrade *u, const char *const *paths, unsigned npaths)
{
    if (npaths == 0 || npaths > UPGRADE_MAX_PLUGINS)
        return fail(u, -EINVAL, "upgrade 1 to %d plugins at a time", UPGRADE_MAX_PLUGINS);
    for (unsigned i = 0; i < npaths; i++) {
        int rc = open_candidate(u, paths[i]);
        if (rc) {
            discard_candidates(u);
            return rc;
        }
    }
    return 0;
}

/* ---- which engines, and can they move ----------------------------------------------------- */

/* By name rather than by build: an engine still on an older superseded build moves as well. */
static struct upgrade_pair *pair_of(struct upgrade *u, const phx_engine_t *e)
{
    for (unsigned i = 0; i < u->n_pairs; i++)
        if (strcmp(u->pairs[i].old->desc->name, e->plugin->desc->name) == 0)
            return &u->pairs[i];
    return NULL;
}

static unsigned count_engines(struct upgrade *u)
{
    unsigned n = 0;

    for (struct phx_subscription *s = u->subs; s; s = s->next)
        for (unsigned i = 0; i < s->n_engines; i++)
            n += pair_of(u, s->engines[i]) != NULL;
    return n;
}

static const phx_engine_ops_t *type_in(const struct phx_plugin *p, const char *type)
{
    for (unsigned i = 0; i < p->desc->n_engines; i++)
        if (strcmp(p->desc->engines[i]->type, type) == 0)
            return p->desc->engines[i];
    return NULL;
}

static int check_movable(struct upgrade *u, const phx_engine_t *e, const phx_engine_ops_t *to,
                         const struct phx_plugin *cand)
{
    const char *type = e->ops->type;

    if (!to)
        return fail(u, -ENOENT, "plugin %s %s has no engine type %s, which running engines use",
                    cand->desc->name, cand->desc->version, type);
    if (memcmp(to->ports, e->ops->ports, sizeof(to->ports)) != 0)
        return fail(u, -EINVAL, "%s of plugin %s %s declares other ports than the running one",
                    type, cand->desc->name, cand->desc->version);
    if (!e->ops->dump || !to->restore)
        return fail(u, -ENOTSUP, "%s cannot carry its state over: %s", type,
                    !e->ops->dump ? "the running build has no dump()"
                                  : "the new build has no restore()");
    return 0;
}

static int collect_items(struct upgrade *u)
{
    u->items = calloc(count_engines(u) + 1, sizeof(*u->items));
    if (!u->items)
        return fail(u, -ENOMEM, "out of memory");
    for (struct phx_subscription *s = u->subs; s; s = s->next) {
        for (unsigned i = 0; i < s->n_engines; i++) {
            phx_engine_t *e = s->engines[i];
            struct upgrade_pair *pair = pair_of(u, e);
            if (!pair)
                continue;
            const phx_engine_ops_t *to = type_in(pair->cand, e->ops->type);
            int rc = check_movable(u, e, to, pair->cand);
            if (rc)
                return rc;
            pair->engines++;
            u->items[u->n_items++] = (struct upgrade_item){.e = e, .pair = pair, .ops = to};
        }
    }
    return 0;
}

/* ---- suspend / resume the groups concerned ----------------------------------------------- */

static bool group_concerned(const struct upgrade *u, const struct phx_subscription *s)
{
    for (unsigned i = 0; i < u->n_items; i++)
        if (u->items[i].e->sub == s)
            return true;
    return false;
}

static void resume_groups(struct upgrade *u, const struct phx_subscription *upto)
{
    for (struct phx_subscription *s = u->subs; s != upto; s = s->next)
        if (s->runtime && group_concerned(u, s))
            phx_runtime_resume(s->runtime, s);
}

static int suspend_groups(struct upgrade *u)
{
    for (struct phx_subscription *s = u->subs; s; s = s->next) {
        int rc = s->runtime && group_concerned(u, s) ? phx_runtime_suspend(s->runtime, s) : 0;
        if (rc) {
            resume_groups(u, s);
            return fail(u, rc, "cannot suspend pid %d sid %u: %s", (int)s->pid, s->sid,
                        strerror(-rc));
        }
    }
    return 0;
}

/* ---- prepare / commit / abort -------------------------------------------------------------- */

static int move_state(struct upgrade *u, struct upgrade_item *it)
{
    phx_engine_t *e = it->e;
    const struct phx_plugin *cand = it->pair->cand;
    phx_blob_t blob = {0};
    char why[256] = "";
    int rc;

    if (!(it->table = phx_handover_new()))
        return fail(u, -ENOMEM, "out of memory");
    e->handover = it->table;
    rc = e->ops->dump(e, e->state, &blob);
    if (rc) {
        e->handover = NULL;
        return fail(u, rc, "%s (engine %llu) cannot dump its state: %s", e->ops->type,
                    (unsigned long long)e->id, strerror(-rc));
    }
    /* restore() belongs to the new build and reads the new build's settings (its schema may
     * lay them out differently); the engine runs the old build again until the commit. */
    struct phx_plugin *was = e->plugin;
    e->plugin = it->pair->cand;
    rc = it->ops->restore(e, &blob, &it->state, why, sizeof(why));
    e->plugin = was;
    e->handover = NULL;
    free(blob.data);
    if (rc)
        return fail(u, rc, "cannot upgrade %s %s -> %s: %s", cand->desc->name,
                    it->pair->old->desc->version, cand->desc->version,
                    why[0] ? why : strerror(-rc));
    it->restored = true;
    return 0;
}

/* Every engine is flushed before any is dumped: a flush may progress something engines share
 * (a UCX worker), which must not change a state already dumped. */
static int prepare(struct upgrade *u)
{
    for (unsigned i = 0; i < u->n_items; i++) {
        int rc = phx_splice_flush(u->items[i].e, u->msg, u->msglen);
        if (rc)
            return rc;
    }
    for (unsigned i = 0; i < u->n_items; i++) {
        int rc = move_state(u, &u->items[i]);
        if (rc)
            return rc;
    }
    return 0;
}

static void abort_items(struct upgrade *u)
{
    for (unsigned i = 0; i < u->n_items; i++) {
        if (u->items[i].restored)
            u->items[i].ops->destroy(u->items[i].e, u->items[i].state, PHX_DESTROY_STATE_ONLY);
        phx_handover_drop(u->items[i].table);
    }
}

/* "upgraded null 1.0.0 -> 2.0.0 (3 engines); ..." - written before old builds may go. */
static void summarise(struct upgrade *u)
{
    size_t used = 0;

    u->msg[0] = '\0';
    for (unsigned i = 0; i < u->n_pairs && used < u->msglen; i++) {
        const struct upgrade_pair *p = &u->pairs[i];
        used += (size_t)snprintf(u->msg + used, u->msglen - used,
                                 "%supgraded %s %s -> %s (%u engine%s)", i ? "; " : "",
                                 p->cand->desc->name, p->old->desc->version,
                                 p->cand->desc->version, p->engines, p->engines == 1 ? "" : "s");
    }
    phx_info("%s", u->msg);
}

static void commit(struct upgrade *u)
{
    for (unsigned i = 0; i < u->n_items; i++) {
        struct upgrade_item *it = &u->items[i];
        phx_engine_t *e = it->e;
        const phx_engine_ops_t *old_ops = e->ops;
        void *old_state = e->state;
        it->was = e->plugin;
        if (e->sub->runtime)
            phx_runtime_forget(e->sub->runtime, e);   /* the new state arms its own wait fd */
        e->ops = it->ops;
        e->state = it->state;
        e->plugin = it->pair->cand;
        phx_handover_run_hooks(it->table, e);    /* e.g. re-point UCX callbacks: before the
                                                    old state that they name goes */
        old_ops->destroy(e, old_state, PHX_DESTROY_STATE_ONLY);
        phx_handover_commit(it->table);
    }
    summarise(u);
    for (unsigned i = 0; i < u->n_pairs; i++)
        phx_registry_supersede(u->reg, u->pairs[i].old, u->pairs[i].cand);
}

/* After the commit, with the groups running the new code: every old state is gone already, so
 * old code may be unmapped. */
static void move_pins(struct upgrade *u)
{
    for (unsigned i = 0; i < u->n_items; i++) {
        phx_plugin_pin(u->items[i].e->plugin);
        phx_plugin_unpin(u->items[i].was);
    }
}

int phx_upgrade(struct phx_registry *reg, struct phx_subscription *subs,
                const char *const *paths, unsigned npaths, char *msg, size_t msglen)
{
    struct upgrade u = {.reg = reg, .subs = subs, .msg = msg, .msglen = msglen};
    int rc = open_candidates(&u, paths, npaths);

    if (rc)
        return rc;
    rc = collect_items(&u);
    if (!rc)
        rc = suspend_groups(&u);
    if (!rc) {
        /* This line and "groups resumed" time the pause the upgrade costs traffic (the log's
         * timestamps; benchmarks/compare/stall reads them). */
        phx_info("upgrade: %u engine%s suspended", u.n_items, u.n_items == 1 ? "" : "s");
        rc = prepare(&u);
        if (rc)
            abort_items(&u);
        else
            commit(&u);
        resume_groups(&u, NULL);
        phx_info("upgrade: groups resumed");
        if (!rc)
            move_pins(&u);
    }
    if (rc) {
        discard_candidates(&u);
        phx_warn("upgrade refused: %s", msg);
    }
    free(u.items);
    return rc;
}
