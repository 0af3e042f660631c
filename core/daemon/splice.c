/* splice.c - attach and detach of policy engines (see splice.h for the rules).
 *
 * The work is split so that every refusal happens before anything changes:
 *
 *   1. plan     a copy of the graph as nodes (engines, plus the addon to be) and edges
 *               (producer node and out port -> consumer node and in port, per direction); the
 *               descriptor's replacements applied to it; every check made on the result.
 *   2. create   the addon engine (attach); its create() may still refuse the request.
 *   3. suspend  the group; flush the engine being detached into its out channels.
 *   4. prepare  every channel the new graph needs: reused, fresh, or merged (a dropped channel's
 *               descriptors in front of the reused one's). Only allocation can fail here, and
 *               merges are undone if it does.
 *   5. commit   plug the channels into the engines' ports, update engines[] (an addon goes right
 *               before its tx consumer, so progress order follows the chain), destroy the
 *               detached engine and the channels nobody uses any more; resume. After a detach
 *               the heap's free pages go back to the system (malloc_trim): a soak of 200
 *               attach/detach pairs otherwise kept 200 KB more RSS (tests/soak).
 *
 * Nodes 0..n-1 of a plan are the subscription's engines in engines[] order, so a node index is
 * also a position in engines[]; an attached addon is node n. */
#include "splice.h"

#include "plugin_registry.h"
#include "runtime.h"
#include "phoenix/log.h"

#include <errno.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define PLAN_MAX_NODES    (PHX_SUB_MAX_ENGINES + 1)
#define PLAN_MAX_EDGES    (PLAN_MAX_NODES * PHX_MAX_PORTS)
#define NO_NODE           (-1)
#define FLUSH_MAX_ROUNDS  8    /* each doubles the full out channels: 256x the room at most */

_Static_assert(PHX_ADDON_MAX_GROUP >= PHX_SUB_MAX_ENGINES, "a group can name every engine");

enum side { SIDE_IN = 0, SIDE_OUT = 1 };   /* phx_engine_ops_t.ports[dir].in / .out */

struct plan_node {
    const char             *name;
    const phx_engine_ops_t *ops;
    phx_engine_t           *engine;        /* NULL for the addon until it is created */
};

struct plan_edge {
    unsigned from, from_port, to, to_port;
};

/* Where a new edge's channel comes from, decided while the group is suspended. */
struct plan_wire {
    phx_channel_t *chan;        /* what the edge will use */
    phx_channel_t *reused;      /* the old channel of its producer port, or NULL */
    phx_channel_t *front;       /* a dropped channel merged in front of `reused`, or NULL */
    unsigned       n_front, n_reused;   /* what the merge took from each (to undo it) */
};

struct splice_plan {
    struct phx_subscription *sub;
    struct plan_node  nodes[PLAN_MAX_NODES];
    unsigned          n_nodes;
    int               addon, detached;                /* node indices or NO_NODE */
    struct plan_edge  old[2][PLAN_MAX_EDGES];
    unsigned          n_old[2];
    phx_channel_t    *old_chan[2][PLAN_MAX_EDGES];    /* filled by prepare */
    struct plan_edge  next[2][PLAN_MAX_EDGES];
    unsigned          n_next[2];
    struct plan_wire  wire[2][PLAN_MAX_EDGES];
};

static const char *const dir_names[2] = {"tx", "rx"};
static const char *const side_names[2] = {"in", "out"};
static const char *const edges_keys[2] = {"tx_channels_replacements", "rx_channels_replacements"};

__attribute__((format(printf, 3, 4)))
static int refuse(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -EINVAL;
}

/* ---- 1. plan: the graph as nodes and edges -------------------------------------------------- */

static int node_named(const struct splice_plan *pl, const char *name)
{
    for (unsigned i = 0; i < pl->n_nodes; i++)
        if (strcmp(pl->nodes[i].name, name) == 0)
            return (int)i;
    return NO_NODE;
}

static int node_of_engine(const struct splice_plan *pl, const phx_engine_t *e)
{
    for (unsigned i = 0; i < pl->n_nodes; i++)
        if (e && pl->nodes[i].engine == e)
            return (int)i;
    return NO_NODE;
}

static unsigned declared(const struct splice_plan *pl, unsigned node, int dir, int side)
{
    const phx_port_counts_t *p = &pl->nodes[node].ops->ports[dir];

    return side == SIDE_IN ? p->in : p->out;
}

static void add_node(struct splice_plan *pl, const char *name, const phx_engine_ops_t *ops,
                     phx_engine_t *e)
{
    pl->nodes[pl->n_nodes++] = (struct plan_node){.name = name, .ops = ops, .engine = e};
}

/* The old edges: every channel leaving an engine's out port towards another engine of SUB. */
static void collect_old_edges(struct splice_plan *pl)
{
    for (unsigned i = 0; i < pl->n_nodes; i++) {
        for (int dir = 0; dir < 2; dir++) {
            for (unsigned p = 0; p < PHX_MAX_PORTS; p++) {
                phx_channel_t *c = pl->nodes[i].engine->out[dir][p];
                int to = c ? node_of_engine(pl, c->consumer) : NO_NODE;
                if (to != NO_NODE)
                    pl->old[dir][pl->n_old[dir]++] = (struct plan_edge){
                        .from = i, .from_port = p, .to = (unsigned)to,
                        .to_port = c->consumer_port};
            }
        }
    }
}

static void plan_init(struct splice_plan *pl, struct phx_subscription *sub)
{
    memset(pl, 0, sizeof(*pl));
    pl->sub = sub;
    pl->addon = pl->detached = NO_NODE;
    for (unsigned i = 0; i < sub->n_engines; i++)
        add_node(pl, sub->engines[i]->ops->type, sub->engines[i]->ops, sub->engines[i]);
    collect_old_edges(pl);
}

static int plan_attach(struct splice_plan *pl, struct phx_registry *reg,
                       const struct phx_addon_desc *d, char *err, size_t errlen)
{
    const phx_engine_ops_t *ops = phx_registry_engine_type(reg, d->engine, NULL);

    if (!ops) {
        snprintf(err, errlen, "unknown engine type '%s'", d->engine);
        return -ENOENT;
    }
    if (node_named(pl, d->engine) != NO_NODE)
        return refuse(err, errlen, "duplicate engine name: %s is already in the subscription",
                      d->engine);
    if (pl->n_nodes >= PHX_SUB_MAX_ENGINES)
        return refuse(err, errlen, "the subscription already has %d engines",
                      PHX_SUB_MAX_ENGINES);
    pl->addon = (int)pl->n_nodes;
    add_node(pl, ops->type, ops, NULL);
    return 0;
}

static int plan_detach(struct splice_plan *pl, const struct phx_addon_desc *d, char *err,
                       size_t errlen)
{
    int n = node_named(pl, d->engine);

    if (n == NO_NODE)
        return refuse(err, errlen, "cannot detach %s: it is not in the subscription", d->engine);
    if (!pl->nodes[n].engine->addon)
        return refuse(err, errlen, "cannot detach %s: it is part of the %s service's default "
                                   "chain", d->engine, pl->sub->service);
    pl->detached = n;
    return 0;
}

/* ---- 1. plan: the group ------------------------------------------------------------------ */

static bool in_group(const struct splice_plan *pl, unsigned node)
{
    return (int)node != pl->addon && (int)node != pl->detached;
}

/* "A, B, C" */
static void format_names(char *buf, size_t len, const char *const *names, unsigned n)
{
    size_t used = 0;

    buf[0] = '\0';
    for (unsigned i = 0; i < n && used < len; i++)
        used += (size_t)snprintf(buf + used, len - used, "%s%s", i ? ", " : "", names[i]);
}

static int wrong_group(const struct splice_plan *pl, const struct phx_addon_desc *d, char *err,
                       size_t errlen)
{
    const char *given[PHX_ADDON_MAX_GROUP], *actual[PLAN_MAX_NODES];
    char given_s[512], actual_s[512];
    unsigned n_actual = 0;

    for (unsigned i = 0; i < d->n_group; i++)
        given[i] = d->group[i];
    for (unsigned i = 0; i < pl->n_nodes; i++)
        if (in_group(pl, i))
            actual[n_actual++] = pl->nodes[i].name;
    format_names(given_s, sizeof(given_s), given, d->n_group);
    format_names(actual_s, sizeof(actual_s), actual, n_actual);
    return refuse(err, errlen, "wrong group: [%s], but the other engines of the subscription are "
                               "[%s]", given_s, actual_s);
}

/* The group names every engine that stays, other than the addon, each once. */
static int check_group(const struct splice_plan *pl, const struct phx_addon_desc *d, char *err,
                       size_t errlen)
{
    bool seen[PLAN_MAX_NODES] = {false};
    unsigned members = 0;

    if (!d->has_group)
        return 0;
    for (unsigned i = 0; i < pl->n_nodes; i++)
        members += in_group(pl, i);
    if (d->n_group != members)
        return wrong_group(pl, d, err, errlen);
    for (unsigned g = 0; g < d->n_group; g++) {
        int n = node_named(pl, d->group[g]);
        if (n == NO_NODE || !in_group(pl, (unsigned)n) || seen[n])
            return wrong_group(pl, d, err, errlen);
        seen[n] = true;
    }
    return 0;
}

/* ---- 1. plan: the replacements ------------------------------------------------------------ */

static int port_out_of_range(const struct splice_plan *pl, unsigned node, int dir, int side,
                             unsigned port, char *err, size_t errlen)
{
    unsigned have = declared(pl, node, dir, side);

    return refuse(err, errlen, "port %u out of range: %s has %u %s %s port%s", port,
                  pl->nodes[node].name, have, dir_names[dir], side_names[side],
                  have == 1 ? "" : "s");
}

/* Resolves one replacement into an edge between nodes, checking names and ports. */
static int resolve_edge(const struct splice_plan *pl, int dir, const struct phx_addon_edge *r,
                        struct plan_edge *out, char *err, size_t errlen)
{
    const char *names[2] = {r->from, r->to};
    int nodes[2];

    for (int i = 0; i < 2; i++) {
        nodes[i] = node_named(pl, names[i]);
        if (nodes[i] == NO_NODE)
            return refuse(err, errlen, "%s: unknown engine %s: it is neither in the subscription "
                                       "nor the addon", edges_keys[dir], names[i]);
        if (nodes[i] == pl->detached)
            return refuse(err, errlen, "%s: %s is being detached and cannot keep a channel",
                          edges_keys[dir], names[i]);
    }
    if (nodes[0] == nodes[1])
        return refuse(err, errlen, "%s: %s cannot feed itself", edges_keys[dir], r->from);
    if (r->from_port >= declared(pl, (unsigned)nodes[0], dir, SIDE_OUT))
        return port_out_of_range(pl, (unsigned)nodes[0], dir, SIDE_OUT, r->from_port, err,
                                 errlen);
    if (r->to_port >= declared(pl, (unsigned)nodes[1], dir, SIDE_IN))
        return port_out_of_range(pl, (unsigned)nodes[1], dir, SIDE_IN, r->to_port, err, errlen);
    *out = (struct plan_edge){.from = (unsigned)nodes[0], .from_port = r->from_port,
                              .to = (unsigned)nodes[1], .to_port = r->to_port};
    return 0;
}

static bool shares_port(const struct plan_edge *a, const struct plan_edge *b)
{
    return (a->from == b->from && a->from_port == b->from_port) ||
           (a->to == b->to && a->to_port == b->to_port);
}

/* An old edge survives unless it touches the detached engine or shares a port with a
 * replacement. */
static bool old_edge_survives(const struct splice_plan *pl, const struct plan_edge *e,
                              const struct plan_edge *repl, unsigned n_repl)
{
    if ((int)e->from == pl->detached || (int)e->to == pl->detached)
        return false;
    for (unsigned i = 0; i < n_repl; i++)
        if (shares_port(e, &repl[i]))
            return false;
    return true;
}

static int plan_next_edges(struct splice_plan *pl, const struct phx_addon_desc *d, char *err,
                           size_t errlen)
{
    for (int dir = 0; dir < 2; dir++) {
        struct plan_edge repl[PHX_ADDON_MAX_EDGES];
        for (unsigned i = 0; i < d->n_edges[dir]; i++) {
            int rc = resolve_edge(pl, dir, &d->edges[dir][i], &repl[i], err, errlen);
            if (rc)
                return rc;
        }
        for (unsigned k = 0; k < pl->n_old[dir]; k++)
            if (old_edge_survives(pl, &pl->old[dir][k], repl, d->n_edges[dir]))
                pl->next[dir][pl->n_next[dir]++] = pl->old[dir][k];
        for (unsigned i = 0; i < d->n_edges[dir]; i++)
            pl->next[dir][pl->n_next[dir]++] = repl[i];
    }
    return 0;
}

/* ---- 1. plan: what the new graph must satisfy ------------------------------------------- */

/* How many edges of SET touch (NODE, SIDE, PORT). */
static unsigned edges_at(const struct plan_edge *set, unsigned n, unsigned node, int side,
                         unsigned port)
{
    unsigned count = 0;

    for (unsigned i = 0; i < n; i++) {
        unsigned at = side == SIDE_OUT ? set[i].from : set[i].to;
        unsigned p = side == SIDE_OUT ? set[i].from_port : set[i].to_port;
        count += at == node && p == port;
    }
    return count;
}

static bool keeps_producer_port(const struct splice_plan *pl, int dir, const struct plan_edge *e)
{
    return edges_at(pl->next[dir], pl->n_next[dir], e->from, SIDE_OUT, e->from_port) > 0;
}

static phx_channel_t *channel_of(const struct splice_plan *pl, int dir, const struct plan_edge *e)
{
    return pl->nodes[e->from].engine->out[dir][e->from_port];
}

/* A dropped channel's descriptors go to whatever feeds its consumer's in port afterwards; with
 * no such feeder (or its consumer leaving) they would be lost. */
static int check_nothing_stranded(const struct splice_plan *pl, char *err, size_t errlen)
{
    for (int dir = 0; dir < 2; dir++) {
        for (unsigned k = 0; k < pl->n_old[dir]; k++) {
            const struct plan_edge *e = &pl->old[dir][k];
            unsigned held = phx_chan_count(channel_of(pl, dir, e));
            if (!held || keeps_producer_port(pl, dir, e))
                continue;
            if ((int)e->to == pl->detached ||
                !edges_at(pl->next[dir], pl->n_next[dir], e->to, SIDE_IN, e->to_port))
                return refuse(err, errlen, "%s channel %s->%s holds %u descriptors and the "
                                           "descriptor leaves them nowhere to go",
                              dir_names[dir], pl->nodes[e->from].name, pl->nodes[e->to].name,
                              held);
        }
    }
    return 0;
}

/* A port must stay connected if it was, and the addon's ports must all be connected. */
static bool must_be_connected(const struct splice_plan *pl, unsigned node, int dir, int side,
                              unsigned port)
{
    return (int)node == pl->addon || edges_at(pl->old[dir], pl->n_old[dir], node, side, port);
}

static int check_port(const struct splice_plan *pl, unsigned node, int dir, int side,
                      unsigned port, char *err, size_t errlen)
{
    const char *name = pl->nodes[node].name;
    unsigned n = edges_at(pl->next[dir], pl->n_next[dir], node, side, port);

    if (n > 1)
        return refuse(err, errlen, "%s %s %s port %u would be connected %u times", name,
                      dir_names[dir], side_names[side], port, n);
    if (n == 1)
        return 0;
    for (unsigned higher = port + 1; higher < declared(pl, node, dir, side); higher++)
        if (edges_at(pl->next[dir], pl->n_next[dir], node, side, higher))
            return refuse(err, errlen, "gaps in ports: %s %s %s port %u would be unconnected "
                                       "while port %u is connected", name, dir_names[dir],
                          side_names[side], port, higher);
    if (must_be_connected(pl, node, dir, side, port))
        return refuse(err, errlen, "dangling channel: %s %s %s port %u would be unconnected",
                      name, dir_names[dir], side_names[side], port);
    return 0;
}

static int check_ports(const struct splice_plan *pl, char *err, size_t errlen)
{
    for (unsigned node = 0; node < pl->n_nodes; node++) {
        if ((int)node == pl->detached)
            continue;
        for (int dir = 0; dir < 2; dir++)
            for (int side = SIDE_IN; side <= SIDE_OUT; side++)
                for (unsigned p = 0; p < declared(pl, node, dir, side); p++) {
                    int rc = check_port(pl, node, dir, side, p, err, errlen);
                    if (rc)
                        return rc;
                }
    }
    return 0;
}

/* Builds the plan and makes every check; touches nothing. */
static int plan_validate(struct splice_plan *pl, struct phx_registry *reg,
                         struct phx_subscription *sub, const struct phx_addon_desc *d, char *err,
                         size_t errlen)
{
    int rc;

    plan_init(pl, sub);
    if (d->op == PHX_ADDON_ATTACH)
        rc = plan_attach(pl, reg, d, err, errlen);
    else if (d->op == PHX_ADDON_DETACH)
        rc = plan_detach(pl, d, err, errlen);
    else
        rc = refuse(err, errlen, "unknown operation %d", (int)d->op);
    if (!rc)
        rc = check_group(pl, d, err, errlen);
    if (!rc)
        rc = plan_next_edges(pl, d, err, errlen);
    if (!rc)
        rc = check_nothing_stranded(pl, err, errlen);
    if (!rc)
        rc = check_ports(pl, err, errlen);
    return rc;
}

/* ---- 3. flush ----------------------------------------------------------------------------- */

/* Replaces every full out channel of E by one twice as big; returns how many it grew. */
static unsigned grow_full_outputs(phx_engine_t *e)
{
    unsigned grown = 0;

    for (int dir = 0; dir < 2; dir++) {
        for (unsigned p = 0; p < PHX_MAX_PORTS; p++) {
            phx_channel_t *c = e->out[dir][p];
            if (!c || phx_chan_space(c) > 0)
                continue;
            phx_channel_t *bigger = phx_channel_merge(c, NULL, 2 * phx_ring_capacity(&c->ring));
            if (!bigger)
                continue;
            phx_channel_connect(bigger, e, p, c->consumer, c->consumer_port);
            phx_channel_destroy(c);
            grown++;
        }
    }
    return grown;
}

int phx_splice_flush(phx_engine_t *e, char *err, size_t errlen)
{
    int held = 0;

    if (!e->ops->flush)
        return 0;
    for (int round = 0; round < FLUSH_MAX_ROUNDS; round++) {
        held = e->ops->flush(e, e->state);
        if (held < 0) {
            snprintf(err, errlen, "%s failed to flush: %s", e->ops->type, strerror(-held));
            return held;
        }
        if (held == 0 || !grow_full_outputs(e))
            break;
    }
    if (held == 0)
        return 0;
    snprintf(err, errlen, "%s still holds %d descriptors after flushing", e->ops->type, held);
    return -EBUSY;
}

/* ---- 4. prepare --------------------------------------------------------------------------- */

/* The non-empty channel dropped from (TO, TO_PORT)'s old feeder, if any. */
static phx_channel_t *dropped_into(const struct splice_plan *pl, int dir,
                                   const struct plan_edge *next)
{
    for (unsigned k = 0; k < pl->n_old[dir]; k++) {
        const struct plan_edge *e = &pl->old[dir][k];
        if (e->to == next->to && e->to_port == next->to_port &&
            !keeps_producer_port(pl, dir, e) && phx_chan_count(pl->old_chan[dir][k]))
            return pl->old_chan[dir][k];
    }
    return NULL;
}

static void undo_wire(struct plan_wire *w)
{
    if (w->chan && w->chan != w->reused) {
        phx_chan_forward(w->chan, w->front, w->n_front);
        phx_chan_forward(w->chan, w->reused, w->n_reused);
        phx_channel_destroy(w->chan);
    }
    w->chan = NULL;
}

static phx_channel_t *make_wire(struct plan_wire *w, int dir)
{
    if (!w->front)
        return w->reused ? w->reused : phx_channel_create((phx_dir_t)dir, PHX_CHANNEL_DEFAULT_CAP);
    unsigned cap = w->reused ? phx_ring_capacity(&w->reused->ring) : PHX_CHANNEL_DEFAULT_CAP;
    w->n_front = phx_chan_count(w->front);
    w->n_reused = phx_chan_count(w->reused);
    return phx_channel_merge(w->front, w->reused, cap);
}

static void undo_wires(struct splice_plan *pl)
{
    for (int dir = 0; dir < 2; dir++)
        for (unsigned j = 0; j < pl->n_next[dir]; j++)
            undo_wire(&pl->wire[dir][j]);
}

static int prepare_wires(struct splice_plan *pl, char *err, size_t errlen)
{
    for (int dir = 0; dir < 2; dir++)
        for (unsigned k = 0; k < pl->n_old[dir]; k++)
            pl->old_chan[dir][k] = channel_of(pl, dir, &pl->old[dir][k]);
    for (int dir = 0; dir < 2; dir++) {
        for (unsigned j = 0; j < pl->n_next[dir]; j++) {
            const struct plan_edge *e = &pl->next[dir][j];
            struct plan_wire *w = &pl->wire[dir][j];
            w->reused = pl->nodes[e->from].engine->out[dir][e->from_port];
            w->front = dropped_into(pl, dir, e);
            w->chan = make_wire(w, dir);
            if (!w->chan) {
                undo_wires(pl);
                snprintf(err, errlen, "out of memory for channels");
                return -ENOMEM;
            }
        }
    }
    return 0;
}

/* ---- 5. commit ---------------------------------------------------------------------------- */

static bool channel_kept(const struct splice_plan *pl, int dir, const phx_channel_t *c)
{
    for (unsigned j = 0; j < pl->n_next[dir]; j++)
        if (pl->wire[dir][j].chan == c)
            return true;
    return false;
}

static void plug_channels(struct splice_plan *pl)
{
    for (int dir = 0; dir < 2; dir++) {
        for (unsigned k = 0; k < pl->n_old[dir]; k++) {
            const struct plan_edge *e = &pl->old[dir][k];
            pl->nodes[e->from].engine->out[dir][e->from_port] = NULL;
            pl->nodes[e->to].engine->in[dir][e->to_port] = NULL;
        }
        for (unsigned j = 0; j < pl->n_next[dir]; j++) {
            const struct plan_edge *e = &pl->next[dir][j];
            phx_channel_connect(pl->wire[dir][j].chan, pl->nodes[e->from].engine, e->from_port,
                                pl->nodes[e->to].engine, e->to_port);
        }
    }
}

static void destroy_unused_channels(struct splice_plan *pl)
{
    for (int dir = 0; dir < 2; dir++)
        for (unsigned k = 0; k < pl->n_old[dir]; k++)
            if (!channel_kept(pl, dir, pl->old_chan[dir][k]))
                phx_channel_destroy(pl->old_chan[dir][k]);
}

/* Right before the engine its tx out port 0 feeds, so one progress turn moves a descriptor
 * through the whole chain; at the end when it has no tx output. */
static unsigned addon_position(const struct splice_plan *pl)
{
    for (unsigned j = 0; j < pl->n_next[PHX_TX]; j++)
        if ((int)pl->next[PHX_TX][j].from == pl->addon)
            return pl->next[PHX_TX][j].to;
    return pl->sub->n_engines;
}

static void insert_engine(struct phx_subscription *sub, unsigned pos, phx_engine_t *e)
{
    memmove(&sub->engines[pos + 1], &sub->engines[pos],
            (sub->n_engines - pos) * sizeof(sub->engines[0]));
    sub->engines[pos] = e;
    sub->n_engines++;
}

static void remove_engine(struct phx_subscription *sub, unsigned pos)
{
    sub->n_engines--;
    memmove(&sub->engines[pos], &sub->engines[pos + 1],
            (sub->n_engines - pos) * sizeof(sub->engines[0]));
}

static void commit(struct splice_plan *pl)
{
    struct phx_subscription *sub = pl->sub;

    plug_channels(pl);
    destroy_unused_channels(pl);
    if (pl->addon != NO_NODE)
        insert_engine(sub, addon_position(pl), pl->nodes[pl->addon].engine);
    if (pl->detached != NO_NODE) {
        phx_engine_t *e = pl->nodes[pl->detached].engine;
        remove_engine(sub, (unsigned)pl->detached);
        if (sub->runtime)
            phx_runtime_forget(sub->runtime, e);
        phx_engine_destroy(e, PHX_DESTROY_ALL);
    }
}

/* ---- the whole operation -------------------------------------------------------------- */

static int suspend(struct phx_subscription *sub, char *err, size_t errlen)
{
    int rc = sub->runtime ? phx_runtime_suspend(sub->runtime, sub) : 0;

    if (rc)
        snprintf(err, errlen, "cannot suspend the engine group: %s", strerror(-rc));
    return rc;
}

static void resume(struct phx_subscription *sub)
{
    int rc = sub->runtime ? phx_runtime_resume(sub->runtime, sub) : 0;

    if (rc)
        phx_error("pid %d sid %u: cannot resume the engine group: %s", (int)sub->pid, sub->sid,
                  strerror(-rc));
}

static int create_addon(struct splice_plan *pl, struct phx_registry *reg,
                        const struct phx_addon_desc *d, char *err, size_t errlen)
{
    phx_engine_t *e = phx_engine_create(reg, pl->sub, d->engine, d->config, err, errlen);

    if (!e)
        return -errno;
    e->addon = true;
    pl->nodes[pl->addon].engine = e;
    return 0;
}

/* Steps 3-5, with the group suspended. */
static int rewire(struct splice_plan *pl, char *err, size_t errlen)
{
    int rc = 0;

    if (pl->detached != NO_NODE)
        rc = phx_splice_flush(pl->nodes[pl->detached].engine, err, errlen);
    if (!rc)
        rc = prepare_wires(pl, err, errlen);
    if (!rc)
        commit(pl);
    return rc;
}

int phx_splice(struct phx_registry *reg, struct phx_subscription *sub,
               const struct phx_addon_desc *d, char *err, size_t errlen)
{
    struct splice_plan pl;
    int rc = plan_validate(&pl, reg, sub, d, err, errlen);

    if (rc)
        return rc;
    if (pl.addon != NO_NODE && (rc = create_addon(&pl, reg, d, err, errlen)))
        return rc;
    rc = suspend(sub, err, errlen);
    if (!rc) {
        rc = rewire(&pl, err, errlen);
        resume(sub);
    }
    if (rc) {
        if (pl.addon != NO_NODE)
            phx_engine_destroy(pl.nodes[pl.addon].engine, PHX_DESTROY_ALL);
        return rc;
    }
    phx_info("pid %d sid %u: %s %s", (int)sub->pid, sub->sid,
             d->op == PHX_ADDON_ATTACH ? "attached" : "detached", d->engine);
    if (d->op != PHX_ADDON_ATTACH)
        malloc_trim(0);         /* what the detached engine held, back to the system */
    return 0;
}
