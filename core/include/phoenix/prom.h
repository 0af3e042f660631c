/* prom.h - writing Prometheus' text exposition format (version 0.0.4), for phoenixd's metrics
 * endpoint and for the engines that export series through it (policies/metrics).
 *
 * A writer appends to a growing buffer; a failed allocation marks it failed and later calls do
 * nothing, so a caller checks once, at phx_prom_finish():
 *
 *     phx_prom_t w = { 0 };
 *     char labels[256] = "";
 *     phx_prom_label(labels, sizeof(labels), "method", "Echo");
 *     phx_prom_family(&w, "phoenix_rpc_calls_total", "counter", "Calls started.");
 *     phx_prom_u64(&w, "phoenix_rpc_calls_total", labels, 42);
 *     char *text = phx_prom_finish(&w);           // malloc'd, or NULL
 *
 * Names are the caller's constants ([a-zA-Z_:][a-zA-Z0-9_:]*); label values are any text and are
 * escaped here (backslash, double quote, newline), HELP text too (backslash, newline). A
 * histogram is written from per-bucket counts (not cumulative) with upper bounds in nanoseconds,
 * as `_bucket{le="<seconds>"}` lines made cumulative here, the `+Inf` bucket, `_sum` (seconds)
 * and `_count`. */
#ifndef PHOENIX_PROM_H
#define PHOENIX_PROM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct phx_prom {
    char  *buf;
    size_t len, cap;
    bool   failed;
} phx_prom_t;

/* Appends KEY="VALUE" (VALUE escaped) to the label list in BUF (SIZE bytes, "" to start), with
 * a comma when BUF is not empty. -1 (BUF unchanged) when it does not fit. */
int   phx_prom_label(char *buf, size_t size, const char *key, const char *value);
/* VALUE escaped as a label value into OUT (SIZE bytes; cut short at a whole character). */
void  phx_prom_escape(char *out, size_t size, const char *value);

/* `# HELP NAME HELP` and `# TYPE NAME TYPE` (counter, gauge, histogram). */
void  phx_prom_family(phx_prom_t *w, const char *name, const char *type, const char *help);
/* One sample `NAME{LABELS} VALUE` (LABELS as phx_prom_label makes them; "" or NULL: none). */
void  phx_prom_u64(phx_prom_t *w, const char *name, const char *labels, uint64_t value);
void  phx_prom_f64(phx_prom_t *w, const char *name, const char *labels, double value);
/* A histogram's samples: COUNTS[i] observations in (BOUNDS_NS[i-1], BOUNDS_NS[i]] for i < NB,
 * COUNTS[NB] above the last bound; SUM_NS their total. */
void  phx_prom_histogram(phx_prom_t *w, const char *name, const char *labels,
                         const uint64_t *bounds_ns, const uint64_t *counts, unsigned nb,
                         uint64_t sum_ns);
/* Raw text (already in the format). */
void  phx_prom_text(phx_prom_t *w, const char *text, size_t len);

/* The text (malloc'd, NUL-terminated, the caller frees it; the writer is reset), or NULL when
 * an allocation failed (everything is freed). */
char *phx_prom_finish(phx_prom_t *w);
/* Frees what W holds without returning it. */
void  phx_prom_reset(phx_prom_t *w);

#endif /* PHOENIX_PROM_H */
