/* layout_hash.c - the layout hash of a message type: do two apps agree on its C layout?
 *
 * Two peers may use the native format for a message only when both lay out every struct it can
 * reach identically. The hash is 64-bit FNV-1a over a canonical description:
 *
 *   local(T)  a type's own description: full name, size, field count and, per field, its id,
 *             name, label, type, offset, quantifier offset, oneof flag and the full name of its
 *             message type (or nothing). Addresses (descriptors, defaults, the empty string)
 *             differ between processes and are left out, and so are default values, which the
 *             encoder sends as text anyway. Type names are unique in a layout (layout_set.c
 *             checks), so the names of the targets pin down the edges of the type graph.
 *
 *   group(C)  types that reach each other (a strongly connected component of the graph: one type
 *             for acyclic messages, several for A.b -> B, B.a -> A, one for A.child = A) are
 *             hashed together: their local hashes sorted, then the sorted, distinct group hashes
 *             of the groups they point into. Sorting makes it independent of the order the app
 *             registered its types in; cycles need nothing special.
 *
 *   hash(T)   FNV over local(T) and group(T's component): everything T reaches.
 *
 * Components come from Tarjan's algorithm, which finishes a component only after every component
 * it points into, so each group hash is computed once, from finished ones: the whole service is
 * hashed in O(types + fields) plus the sorting, whatever an app sends. The walk is iterative, so
 * a long chain of types needs no deep recursion. */
#include "internal.h"
#include "phoenix/minmax.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define FNV64_OFFSET 0xcbf29ce484222325ull
#define FNV64_PRIME  0x100000001b3ull
#define UNVISITED    UINT32_MAX

static uint64_t fnv_bytes(uint64_t h, const void *data, size_t n)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * FNV64_PRIME;
    return h;
}

/* Little-endian, fixed width, so that a value never runs into the next. */
static uint64_t fnv_u64(uint64_t h, uint64_t v)
{
    unsigned char b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)(v >> (8 * i));
    return fnv_bytes(h, b, sizeof(b));
}

/* With its NUL, so that "ab","c" and "a","bc" differ. */
static uint64_t fnv_str(uint64_t h, const char *s)
{
    return fnv_bytes(h, s, strlen(s) + 1);
}

static uint64_t local_hash(const struct mrpc_type_layout *t)
{
    uint64_t h = fnv_str(FNV64_OFFSET, t->full_name);
    h = fnv_u64(h, t->size);
    h = fnv_u64(h, t->n_fields);
    for (unsigned i = 0; i < t->n_fields; i++) {
        const struct mrpc_field_layout *f = &t->fields[i];
        h = fnv_u64(h, f->id);
        h = fnv_str(h, f->name);
        h = fnv_u64(h, f->label);
        h = fnv_u64(h, f->type);
        h = fnv_u64(h, f->offset);
        h = fnv_u64(h, f->quantifier_offset);
        h = fnv_u64(h, f->oneof);
        h = fnv_str(h, f->message ? f->message->full_name : "");
    }
    return h;
}

static int compare_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Tarjan's state, for N types. */
struct graph {
    struct mrpc_type_layout *types;
    size_t                   n;
    uint64_t                *local;       /* local(T) */
    uint32_t                *index;       /* discovery order, UNVISITED */
    uint32_t                *low;         /* lowest index reachable through the DFS subtree */
    uint32_t                *component;   /* finished component of T, UNVISITED before */
    uint64_t                *group;       /* group hash of each finished component */
    uint32_t                *stack;       /* Tarjan's stack of open types */
    size_t                   sp;
    uint32_t                *dfs_type;    /* explicit DFS: the type and its next field */
    uint32_t                *dfs_field;
    uint64_t                *scratch;     /* room for sorting one component's hashes */
    uint32_t                 n_visited;
    uint32_t                 n_components;
};

static uint32_t type_index(const struct graph *g, const struct mrpc_type_layout *t)
{
    return (uint32_t)(t - g->types);
}

/* Hashes the component made of the stack above and including ROOT, then pops it. */
static void finish_component(struct graph *g, uint32_t root)
{
    uint32_t c = g->n_components++;
    size_t first = g->sp;
    do
        g->component[g->stack[--first]] = c;
    while (g->stack[first] != root);

    size_t n = 0;
    for (size_t i = first; i < g->sp; i++)
        g->scratch[n++] = g->local[g->stack[i]];
    qsort(g->scratch, n, sizeof(uint64_t), compare_u64);
    uint64_t h = fnv_u64(FNV64_OFFSET, n);
    for (size_t i = 0; i < n; i++)
        h = fnv_u64(h, g->scratch[i]);

    n = 0;      /* the groups pointed into, each finished already */
    for (size_t i = first; i < g->sp; i++) {
        const struct mrpc_type_layout *t = &g->types[g->stack[i]];
        for (unsigned j = 0; j < t->n_fields; j++) {
            const struct mrpc_type_layout *sub = t->fields[j].message;
            if (sub && g->component[type_index(g, sub)] != c)
                g->scratch[n++] = g->group[g->component[type_index(g, sub)]];
        }
    }
    qsort(g->scratch, n, sizeof(uint64_t), compare_u64);
    h = fnv_u64(h, 0);                  /* separates members from targets */
    for (size_t i = 0; i < n; i++)
        if (i == 0 || g->scratch[i] != g->scratch[i - 1])
            h = fnv_u64(h, g->scratch[i]);
    g->group[c] = h;
    g->sp = first;
}

static void open_type(struct graph *g, size_t *depth, uint32_t v)
{
    g->index[v] = g->low[v] = g->n_visited++;
    g->stack[g->sp++] = v;
    g->dfs_type[*depth] = v;
    g->dfs_field[*depth] = 0;
    ++*depth;
}

/* Tarjan's algorithm from ROOT with an explicit stack of (type, next field). */
static void visit(struct graph *g, uint32_t root)
{
    size_t depth = 0;
    open_type(g, &depth, root);
    while (depth) {
        uint32_t v = g->dfs_type[depth - 1];
        const struct mrpc_type_layout *t = &g->types[v];
        uint32_t *next = &g->dfs_field[depth - 1];
        bool descended = false;
        while (*next < t->n_fields && !descended) {
            const struct mrpc_type_layout *sub = t->fields[(*next)++].message;
            if (!sub)
                continue;
            uint32_t w = type_index(g, sub);
            if (g->index[w] == UNVISITED) {
                open_type(g, &depth, w);
                descended = true;
            } else if (g->component[w] == UNVISITED) {      /* still on Tarjan's stack */
                g->low[v] = phx_min_u32(g->low[v], g->index[w]);
            }
        }
        if (descended)
            continue;
        if (g->low[v] == g->index[v])
            finish_component(g, v);
        if (--depth)
            g->low[g->dfs_type[depth - 1]] = phx_min_u32(g->low[g->dfs_type[depth - 1]], g->low[v]);
    }
}

static void graph_free(struct graph *g)
{
    free(g->local);
    free(g->index);
    free(g->low);
    free(g->component);
    free(g->group);
    free(g->stack);
    free(g->dfs_type);
    free(g->dfs_field);
    free(g->scratch);
}

int mrpc_layout_hash_types(struct mrpc_type_layout *types, size_t n)
{
    size_t n_edges = 0;
    for (size_t i = 0; i < n; i++)
        n_edges += types[i].n_fields;
    struct graph g = {
        .types = types, .n = n,
        .local = malloc((n + 1) * sizeof(uint64_t)),
        .index = malloc((n + 1) * sizeof(uint32_t)),
        .low = malloc((n + 1) * sizeof(uint32_t)),
        .component = malloc((n + 1) * sizeof(uint32_t)),
        .group = malloc((n + 1) * sizeof(uint64_t)),
        .stack = malloc((n + 1) * sizeof(uint32_t)),
        .dfs_type = malloc((n + 1) * sizeof(uint32_t)),
        .dfs_field = malloc((n + 1) * sizeof(uint32_t)),
        .scratch = malloc((n + n_edges + 1) * sizeof(uint64_t)),
    };
    int rc = -ENOMEM;
    if (g.local && g.index && g.low && g.component && g.group && g.stack && g.dfs_type &&
        g.dfs_field && g.scratch) {
        for (size_t i = 0; i < n; i++) {
            g.local[i] = local_hash(&types[i]);
            g.index[i] = g.component[i] = UNVISITED;
        }
        for (size_t i = 0; i < n; i++)
            if (g.index[i] == UNVISITED)
                visit(&g, (uint32_t)i);
        for (size_t i = 0; i < n; i++)
            types[i].type_hash = fnv_u64(fnv_u64(FNV64_OFFSET, g.local[i]),
                                         g.group[g.component[i]]);
        rc = 0;
    }
    graph_free(&g);
    return rc;
}
