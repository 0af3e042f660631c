/* series.h - MetricsEngine's counters: one series per (side, service, method), bounded, with the
 * latency of each call from its request to its answer.
 *
 * A series counts the requests started, the bytes the app sent and received, the answers that
 * were errors (by status) and a latency histogram over fixed log-scale buckets (a preset: see
 * mx_buckets_of). At most `max` series are kept per table; calls of methods beyond them count in
 * one overflow series per side (service and method "other"), so memory is fixed at create()
 * whatever methods an app calls. Calls in flight wait in a table of MX_PENDING_MAX by connection
 * and call id; one that finds it full is counted but not timed (`untimed`).
 *
 * Everything here runs on the engine's runtime thread (record) or on the control thread with the
 * group suspended (create, resize, dump, restore, reading for stats): no locks, no allocation
 * on the data path (the maps are reserved up front). */
#ifndef MX_SERIES_H
#define MX_SERIES_H

#include <stdbool.h>
#include <stdint.h>

#include "phoenix/u64map.h"

#define MX_BUCKETS_MAX  32
#define MX_CODES        16          /* phx_status_t 0 .. 15; others count as UNKNOWN */
#define MX_PENDING_MAX  16384       /* calls in flight timed at once */
#define MX_SERIES_MAX   1024        /* the largest max_methods */

enum mx_side { MX_CLIENT = 0, MX_SERVER = 1 };

struct mx_series {
    uint32_t service_id, method_id;
    uint8_t  side;                  /* enum mx_side */
    uint8_t  overflow;              /* the "other" series of its side */
    uint64_t calls;                 /* requests started */
    uint64_t sent_bytes, received_bytes;
    uint64_t errors[MX_CODES];      /* answers by status, OK (index 0) not counted */
    uint64_t hist[MX_BUCKETS_MAX + 1];
    uint64_t sum_ns;
};

struct mx_pending {
    uint64_t call_id, start_ns;
    uint32_t conn_id, series;
    bool     used;
};

struct mx_table {
    struct mx_series  *series;      /* max + 2: the last two are the overflow series */
    unsigned           n, max;
    phx_u64map_t       index[2];    /* (service << 32 | method) -> series, per side */
    struct mx_pending *pending;     /* MX_PENDING_MAX */
    phx_u64map_t       by_call;     /* mix of conn and call -> pending slot */
    uint32_t          *free_slots;  /* a stack of free pending slots */
    unsigned           n_free;
    const uint64_t    *bounds_ns;   /* the preset's bucket bounds */
    unsigned           nb;
    uint64_t           untimed, overflowed;
};

/* The bucket bounds of preset NAME ("default", "fine", "coarse"); NULL if there is none. */
const uint64_t *mx_buckets_of(int preset, unsigned *nb);

/* An empty table of MAX (1 .. MX_SERIES_MAX) series with PRESET's buckets. 0 or -ENOMEM. */
int  mx_table_init(struct mx_table *t, unsigned max, int preset);
void mx_table_fini(struct mx_table *t);
/* Moves T's series into a table of NEW_MAX (>= t->n) and PRESET's buckets; when the buckets
 * change, every histogram starts again (their counts would not fit the new bounds). 0 or
 * -ENOMEM (T unchanged). */
int  mx_table_resize(struct mx_table *t, unsigned new_max, int preset);

/* The series of SIDE/SERVICE/METHOD, made when new (the overflow series when full). */
struct mx_series *mx_series_get(struct mx_table *t, enum mx_side side, uint32_t service,
                                uint32_t method);

/* A request: counts it in its series and starts its clock. */
void mx_request(struct mx_table *t, enum mx_side side, uint32_t conn, uint64_t call,
                uint32_t service, uint32_t method, uint64_t bytes, bool sent, uint64_t now);
/* Its answer with STATUS (PHX_OK for a good reply) and BYTES: stops the clock. The series is the
 * request's; an answer to a call not timed counts in SIDE/SERVICE/METHOD's. */
void mx_answer(struct mx_table *t, enum mx_side side, uint32_t conn, uint64_t call,
               uint32_t service, uint32_t method, int status, uint64_t bytes, bool sent,
               uint64_t now);
/* The call ended without an answer (cancelled, a failed send): an error with STATUS in its
 * series when it was timed; false when it was not. */
bool mx_end(struct mx_table *t, uint32_t conn, uint64_t call, int status, uint64_t now);
/* Every call in flight on CONN ends with STATUS; how many. */
unsigned mx_end_conn(struct mx_table *t, uint32_t conn, int status, uint64_t now);

/* The sum of a series' histogram: the answers timed. */
uint64_t mx_series_count(const struct mx_table *t, const struct mx_series *s);

#endif /* MX_SERIES_H */
