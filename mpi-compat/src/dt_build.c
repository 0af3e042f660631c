/* dt_build.c - derived datatypes: construction from entries, bounds, commit (flattening into
 * blocks) and the reference counts that keep a type alive while a parent or a request uses it.
 *
 * Construction computes the size and bounds from the entries' types alone (dt_impl.h explains
 * the rules), so MPI_Type_size and MPI_Type_get_extent work before commit. Commit walks the
 * entries recursively down to predefined or committed types and appends their blocks in
 * type-map order, merging a block that starts where the previous one ends; an entry whose type is
 * one dense block (data as long as its extent) becomes one block for all its copies, so a
 * contiguous type of a contiguous type is one block however large its count.
 *
 * This file raises no MPI error (dt_api.c validates arguments), so it unit-tests alone. */
#include "dt_impl.h"

#include <stdlib.h>
#include <string.h>

bool mpix_dt_valid(MPI_Datatype dt)
{
    return dt && dt->magic == MPIX_DT_MAGIC && !(dt->flags & MPIX_DT_FREED);
}

int mpix_dt_check(MPI_Datatype dt)
{
    return mpix_dt_valid(dt) && (dt->flags & MPIX_DT_COMMITTED) ? MPI_SUCCESS : MPI_ERR_TYPE;
}

MPI_Count mpix_dt_size(MPI_Datatype dt) { return dt->size; }
MPI_Aint mpix_dt_extent(MPI_Datatype dt) { return dt->ub - dt->lb; }

size_t mpix_dt_span(MPI_Datatype dt, int count, MPI_Aint *first)
{
    MPI_Aint step = count > 0 ? (MPI_Aint)(count - 1) * (dt->ub - dt->lb) : 0;

    MPI_Aint lo = dt->true_lb < dt->lb ? dt->true_lb : dt->lb;
    MPI_Aint hi = dt->true_ub > dt->ub ? dt->true_ub : dt->ub;

    *first = 0;
    if (count <= 0 || dt->true_ub <= dt->true_lb)
        return 0;
    *first = lo + (step < 0 ? step : 0);
    return (size_t)(hi + (step > 0 ? step : 0) - *first);
}

const char *mpix_dt_name(MPI_Datatype dt)
{
    return mpix_dt_valid(dt) ? dt->name : "an invalid datatype";
}

void mpix_dt_retain(MPI_Datatype dt)
{
    if (!(dt->flags & MPIX_DT_PREDEF))
        __atomic_add_fetch(&dt->refs, 1, __ATOMIC_RELAXED);
}

void mpix_dt_release(MPI_Datatype dt)
{
    if ((dt->flags & MPIX_DT_PREDEF) || __atomic_sub_fetch(&dt->refs, 1, __ATOMIC_ACQ_REL) > 0)
        return;
    for (size_t i = 0; i < dt->nentries; i++)
        mpix_dt_release(dt->entries[i].type);
    free(dt->entries);
    free(dt->blocks);
    dt->magic = 0;
    free(dt);
}

void mpix_dt_free(MPI_Datatype dt)
{
    __atomic_or_fetch(&dt->flags, MPIX_DT_FREED, __ATOMIC_RELAXED);
    mpix_dt_release(dt);
}

/* ---- construction ------------------------------------------------------------------------ */

static MPI_Aint min_a(MPI_Aint a, MPI_Aint b) { return a < b ? a : b; }
static MPI_Aint max_a(MPI_Aint a, MPI_Aint b) { return a > b ? a : b; }

/* What the entries contribute, gathered before the bounds are settled: the span of their data
 * (true bounds), of their copies' bounds (each copy from its type's lb to its ub, padding
 * included, as Open MPI and MPICH count them) and of the resized parts' bounds (sticky). */
struct span {
    bool     data, bounds, sticky;
    MPI_Aint data_lb, data_ub, lb, ub, mark_lb, mark_ub, align;
    int      basic;
    bool     pair;
};

/* Widens [*LO, *HI) to cover [LO2, HI2); HAVE says whether it covered anything yet. */
static void widen(bool *have, MPI_Aint *lo, MPI_Aint *hi, MPI_Aint lo2, MPI_Aint hi2)
{
    *lo = *have ? min_a(*lo, lo2) : lo2;
    *hi = *have ? max_a(*hi, hi2) : hi2;
    *have = true;
}

static void span_add(struct span *s, const struct mpix_dt_entry *e)
{
    MPI_Datatype t = e->type;
    MPI_Aint reach = (e->count - 1) * (t->ub - t->lb), lo = e->disp + min_a(0, reach),
             hi = e->disp + max_a(0, reach);

    if (e->count <= 0)
        return;
    if (t->size > 0) {
        widen(&s->data, &s->data_lb, &s->data_ub, lo + t->true_lb, hi + t->true_ub);
        s->basic = s->basic == -1 || s->basic == t->basic ? t->basic : MPIX_B_MIXED;
        s->pair = s->pair || (t->flags & MPIX_DT_PAIR);
    }
    if (t->sticky)
        widen(&s->sticky, &s->mark_lb, &s->mark_ub, lo + t->lb, hi + t->ub);
    else
        widen(&s->bounds, &s->lb, &s->ub, lo + t->lb, hi + t->ub);
    s->align = max_a(s->align, t->align);
}

/* Rounds the span's extent up to its alignment (MPI-3.1's epsilon), unless a resized part fixed
 * the bounds. */
static void span_round(struct span *s)
{
    MPI_Aint pad = s->bounds ? (s->ub - s->lb) % s->align : 0;

    if (!s->sticky && pad)
        s->ub += s->align - pad;
}

/* Settles DT's bounds from what its entries spanned. */
static void span_settle(MPI_Datatype dt, struct span *s)
{
    dt->true_lb = s->data ? s->data_lb : 0;
    dt->true_ub = s->data ? s->data_ub : 0;
    dt->align = s->align;
    dt->sticky = s->sticky;
    dt->basic = s->basic == -1 ? MPIX_B_MIXED : s->basic;
    dt->flags |= s->pair ? MPIX_DT_PAIR : 0;
    if (s->sticky) {
        dt->lb = s->mark_lb;
        dt->ub = s->mark_ub;
        return;
    }
    span_round(s);
    dt->lb = s->bounds ? s->lb : 0;
    dt->ub = s->bounds ? s->ub : 0;
}

static MPI_Datatype dt_new(size_t nentries)
{
    MPI_Datatype dt = calloc(1, sizeof(*dt));
    if (!dt)
        return NULL;
    dt->entries = calloc(nentries ? nentries : 1, sizeof(*dt->entries));
    if (!dt->entries) {
        free(dt);
        return NULL;
    }
    dt->magic = MPIX_DT_MAGIC;
    dt->refs = 1;
    dt->name = "a derived datatype";
    return dt;
}

MPI_Datatype mpix_dt_build(const struct mpix_dt_entry *entries, size_t n, bool round_each)
{
    struct span s = { .basic = -1, .align = 1 };
    MPI_Datatype dt = dt_new(n);

    if (!dt)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (entries[i].count <= 0)
            continue;
        dt->entries[dt->nentries++] = entries[i];
        mpix_dt_retain(entries[i].type);
        dt->size += entries[i].count * entries[i].type->size;
        dt->nelems += entries[i].count * entries[i].type->nelems;
        span_add(&s, &entries[i]);
        if (round_each)
            span_round(&s);
    }
    span_settle(dt, &s);
    return dt;
}

MPI_Datatype mpix_dt_resized(MPI_Datatype old, MPI_Aint lb, MPI_Aint extent)
{
    struct mpix_dt_entry e = { 0, 1, old };
    MPI_Datatype dt = mpix_dt_build(&e, 1, false);

    if (dt) {
        dt->lb = lb;
        dt->ub = lb + extent;
        dt->sticky = true;
    }
    return dt;
}

/* ---- commit: flattening ------------------------------------------------------------------ */

struct flat {
    struct mpix_dt_block *b;
    size_t n, cap;
    bool   failed;
};

static void flat_add(struct flat *f, MPI_Aint off, MPI_Aint len)
{
    if (len <= 0 || f->failed)
        return;
    if (f->n && f->b[f->n - 1].off + f->b[f->n - 1].len == off) {
        f->b[f->n - 1].len += len;
        return;
    }
    if (f->n == f->cap) {
        size_t cap = f->cap ? 2 * f->cap : 8;
        struct mpix_dt_block *b = realloc(f->b, cap * sizeof(*b));
        if (!b) {
            f->failed = true;
            return;
        }
        f->b = b;
        f->cap = cap;
    }
    f->b[f->n++] = (struct mpix_dt_block){ off, len };
}

static void flat_type(struct flat *f, MPI_Datatype t, MPI_Aint base);

static void flat_entry(struct flat *f, const struct mpix_dt_entry *e, MPI_Aint base)
{
    MPI_Datatype t = e->type;
    MPI_Aint ext = t->ub - t->lb;

    if (t->nblocks == 1 && t->blocks[0].len == ext) {   /* dense: all copies are one block */
        flat_add(f, base + e->disp + t->blocks[0].off, e->count * ext);
        return;
    }
    for (MPI_Aint k = 0; k < e->count && !f->failed; k++)
        flat_type(f, t, base + e->disp + k * ext);
}

static void flat_type(struct flat *f, MPI_Datatype t, MPI_Aint base)
{
    if (t->blocks) {
        for (size_t i = 0; i < t->nblocks; i++)
            flat_add(f, base + t->blocks[i].off, t->blocks[i].len);
        return;
    }
    for (size_t i = 0; i < t->nentries && !f->failed; i++)
        flat_entry(f, &t->entries[i], base);
}

int mpix_dt_commit(MPI_Datatype dt)
{
    struct flat f = { 0 };

    if (dt->flags & MPIX_DT_COMMITTED)
        return MPI_SUCCESS;
    flat_type(&f, dt, 0);
    if (f.failed) {
        free(f.b);
        return MPI_ERR_INTERN;
    }
    dt->blocks = f.b;
    dt->nblocks = f.n;
    dt->flags |= MPIX_DT_COMMITTED;
    return MPI_SUCCESS;
}
