/* series.c - MetricsEngine's bounded series and calls in flight (see series.h).
 *
 * Series live in one array: the first `n` are methods in the order they were first seen, the
 * two after `max` the overflow series of each side. A side's map takes (service, method) to the
 * index. The calls in flight are slots of a fixed array, found through a map keyed by a mix of
 * connection and call id and checked against both, taken from and given back to a stack. The
 * bucket of a latency is found by binary search over the preset's bounds (at most 32). */
#include "series.h"

#include "phoenix/status.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define US 1000ull
#define MS 1000000ull
#define S  1000000000ull

/* 10 us .. 10 s in 1-2.5-5 steps: RPCs on a LAN and across a job, with some room. */
static const uint64_t default_bounds[] = {
    10 * US, 25 * US, 50 * US, 100 * US, 250 * US, 500 * US, 1 * MS, 2500 * US, 5 * MS,
    10 * MS, 25 * MS, 50 * MS, 100 * MS, 250 * MS, 500 * MS, 1 * S, 2500 * MS, 5 * S, 10 * S,
};
/* 1 us .. 16.8 s, doubling: for shared-memory calls and for fine comparisons. */
static const uint64_t fine_bounds[] = {
    1 * US, 2 * US, 4 * US, 8 * US, 16 * US, 32 * US, 64 * US, 128 * US, 256 * US, 512 * US,
    1024 * US, 2048 * US, 4096 * US, 8192 * US, 16384 * US, 32768 * US, 65536 * US,
    131072 * US, 262144 * US, 524288 * US, 1048576 * US, 2097152 * US, 4194304 * US,
    8388608 * US, 16777216 * US,
};
/* 100 us .. 10 s by decades: the fewest series for many apps. */
static const uint64_t coarse_bounds[] = { 100 * US, 1 * MS, 10 * MS, 100 * MS, 1 * S, 10 * S };

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))
_Static_assert(COUNT(fine_bounds) <= MX_BUCKETS_MAX, "buckets fit a series");

const uint64_t *mx_buckets_of(int preset, unsigned *nb)
{
    switch (preset) {
    case 0: *nb = COUNT(default_bounds); return default_bounds;
    case 1: *nb = COUNT(fine_bounds);    return fine_bounds;
    case 2: *nb = COUNT(coarse_bounds);  return coarse_bounds;
    }
    return NULL;
}

/* ---- the table ------------------------------------------------------------------------------ */

static int table_alloc(struct mx_table *t, unsigned max, int preset)
{
    memset(t, 0, sizeof(*t));
    if (max < 1 || max > MX_SERIES_MAX || !(t->bounds_ns = mx_buckets_of(preset, &t->nb)))
        return -EINVAL;
    t->max = max;
    t->series = calloc(max + 2, sizeof(*t->series));
    t->pending = calloc(MX_PENDING_MAX, sizeof(*t->pending));
    t->free_slots = malloc(MX_PENDING_MAX * sizeof(*t->free_slots));
    for (int side = 0; side < 2; side++)
        phx_u64map_init(&t->index[side], max);
    phx_u64map_init(&t->by_call, MX_PENDING_MAX);
    if (!t->series || !t->pending || !t->free_slots ||
        phx_u64map_reserve(&t->index[0], max) < 0 || phx_u64map_reserve(&t->index[1], max) < 0 ||
        phx_u64map_reserve(&t->by_call, MX_PENDING_MAX) < 0) {
        mx_table_fini(t);
        return -ENOMEM;
    }
    for (unsigned i = 0; i < MX_PENDING_MAX; i++)
        t->free_slots[i] = MX_PENDING_MAX - 1 - i;
    t->n_free = MX_PENDING_MAX;
    for (int side = 0; side < 2; side++)
        t->series[max + side] = (struct mx_series){ .side = (uint8_t)side, .overflow = 1 };
    return 0;
}

int mx_table_init(struct mx_table *t, unsigned max, int preset)
{
    return table_alloc(t, max, preset);
}

void mx_table_fini(struct mx_table *t)
{
    for (int side = 0; side < 2; side++)
        phx_u64map_fini(&t->index[side]);
    phx_u64map_fini(&t->by_call);
    free(t->series);
    free(t->pending);
    free(t->free_slots);
    memset(t, 0, sizeof(*t));
}

static uint64_t method_key(uint32_t service, uint32_t method)
{
    return (uint64_t)service << 32 | method;
}

static uint64_t call_key(uint32_t conn, uint64_t call)
{
    return call ^ ((uint64_t)conn << 32) ^ ((uint64_t)conn >> 16);
}

/* Series S of an old table with OLD_MAX, now that the overflow series moved to NEW_MAX. */
static uint32_t series_moved(uint32_t s, unsigned old_max, unsigned new_max)
{
    return s >= old_max ? new_max + (s - old_max) : s;
}

int mx_table_resize(struct mx_table *t, unsigned new_max, int preset)
{
    struct mx_table nt;
    bool same_buckets = mx_buckets_of(preset, &nt.nb) == t->bounds_ns;

    if (new_max < t->n)
        return -EBUSY;
    int rc = table_alloc(&nt, new_max, preset);
    if (rc < 0)
        return rc;
    for (unsigned i = 0; i < t->n; i++) {
        nt.series[i] = t->series[i];
        phx_u64map_put(&nt.index[t->series[i].side],
                       method_key(t->series[i].service_id, t->series[i].method_id), i);
    }
    nt.series[new_max] = t->series[t->max];
    nt.series[new_max + 1] = t->series[t->max + 1];
    nt.n = t->n;
    if (!same_buckets)
        for (unsigned i = 0; i < new_max + 2; i++) {
            memset(nt.series[i].hist, 0, sizeof(nt.series[i].hist));
            nt.series[i].sum_ns = 0;
        }
    for (unsigned i = 0; i < MX_PENDING_MAX; i++) {
        if (!t->pending[i].used)
            continue;
        struct mx_pending p = t->pending[i];
        p.series = series_moved(p.series, t->max, new_max);
        uint32_t slot = nt.free_slots[--nt.n_free];
        nt.pending[slot] = p;
        phx_u64map_put(&nt.by_call, call_key(p.conn_id, p.call_id), slot);
    }
    nt.untimed = t->untimed;
    nt.overflowed = t->overflowed;
    mx_table_fini(t);
    *t = nt;
    return 0;
}

struct mx_series *mx_series_get(struct mx_table *t, enum mx_side side, uint32_t service,
                                uint32_t method)
{
    uint64_t key = method_key(service, method), i;

    if (phx_u64map_get(&t->index[side], key, &i))
        return &t->series[i];
    if (t->n >= t->max || phx_u64map_put(&t->index[side], key, t->n) < 0)
        return &t->series[t->max + side];
    t->series[t->n] = (struct mx_series){ .service_id = service, .method_id = method,
                                          .side = (uint8_t)side };
    return &t->series[t->n++];
}

uint64_t mx_series_count(const struct mx_table *t, const struct mx_series *s)
{
    uint64_t n = 0;

    for (unsigned i = 0; i <= t->nb; i++)
        n += s->hist[i];
    return n;
}

/* ---- calls ---------------------------------------------------------------------------------- */

static void count_bytes(struct mx_series *s, uint64_t bytes, bool sent)
{
    if (sent)
        s->sent_bytes += bytes;
    else
        s->received_bytes += bytes;
}

static void count_error(struct mx_series *s, int status)
{
    if (status != PHX_OK)
        s->errors[status > 0 && status < MX_CODES ? status : PHX_UNKNOWN]++;
}

static unsigned bucket_of(const struct mx_table *t, uint64_t ns)
{
    unsigned lo = 0, hi = t->nb;        /* the first bound >= ns is in [lo, hi] */

    while (lo < hi) {
        unsigned mid = (lo + hi) / 2;
        if (t->bounds_ns[mid] >= ns)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

/* The slot of CONN/CALL's clock, taken out of the map, or NULL. */
static struct mx_pending *take(struct mx_table *t, uint32_t conn, uint64_t call)
{
    uint64_t key = call_key(conn, call), slot;

    if (!phx_u64map_get(&t->by_call, key, &slot))
        return NULL;
    struct mx_pending *p = &t->pending[slot];
    if (p->conn_id != conn || p->call_id != call)
        return NULL;
    phx_u64map_remove(&t->by_call, key, NULL);
    p->used = false;
    t->free_slots[t->n_free++] = (uint32_t)slot;
    return p;
}

void mx_request(struct mx_table *t, enum mx_side side, uint32_t conn, uint64_t call,
                uint32_t service, uint32_t method, uint64_t bytes, bool sent, uint64_t now)
{
    struct mx_series *s = mx_series_get(t, side, service, method);
    uint64_t key = call_key(conn, call);

    s->calls++;
    t->overflowed += s->overflow;
    count_bytes(s, bytes, sent);
    if (!t->n_free || phx_u64map_get(&t->by_call, key, NULL)) {
        t->untimed++;
        return;
    }
    uint32_t slot = t->free_slots[--t->n_free];
    t->pending[slot] = (struct mx_pending){ .call_id = call, .start_ns = now, .conn_id = conn,
                                            .series = (uint32_t)(s - t->series), .used = true };
    phx_u64map_put(&t->by_call, key, slot);
}

void mx_answer(struct mx_table *t, enum mx_side side, uint32_t conn, uint64_t call,
               uint32_t service, uint32_t method, int status, uint64_t bytes, bool sent,
               uint64_t now)
{
    struct mx_pending *p = take(t, conn, call);
    struct mx_series *s = p ? &t->series[p->series] : mx_series_get(t, side, service, method);

    count_bytes(s, bytes, sent);
    count_error(s, status);
    if (!p)
        return;
    uint64_t ns = now > p->start_ns ? now - p->start_ns : 0;
    s->hist[bucket_of(t, ns)]++;
    s->sum_ns += ns;
}

bool mx_end(struct mx_table *t, uint32_t conn, uint64_t call, int status, uint64_t now)
{
    struct mx_pending *p = take(t, conn, call);

    if (p)
        count_error(&t->series[p->series], status);
    return p != NULL;
}

unsigned mx_end_conn(struct mx_table *t, uint32_t conn, int status, uint64_t now)
{
    unsigned n = 0;

    for (unsigned i = 0; i < MX_PENDING_MAX && t->n_free < MX_PENDING_MAX; i++)
        if (t->pending[i].used && t->pending[i].conn_id == conn)
            n += mx_end(t, conn, t->pending[i].call_id, status, now);
    return n;
}
