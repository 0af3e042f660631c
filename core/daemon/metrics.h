/* metrics.h - the service's metrics in Prometheus' text format: node gauges and the series of
 * every attached MetricsEngine, for the HTTP endpoint (metrics_http.h) and `phoenixctl metrics`.
 *
 * Runs on the control thread, which owns the service: an engine's series are read the way
 * admin("stats") reads them, by its admin("prometheus") with the engine's group suspended (a
 * few microseconds per app that has a MetricsEngine), never from another thread. */
#ifndef PHX_METRICS_H
#define PHX_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct phx_service;

/* Which apps' series to show: all (the endpoint, an administrator) or those of UID. */
struct phx_metrics_scope {
    bool  all;
    uid_t uid;
};

/* The exposition text (malloc'd), or NULL on ENOMEM. */
char *phx_metrics_text(struct phx_service *svc, const struct phx_metrics_scope *scope);

/* Adds the text of one engine's families (TEXT: `# HELP`/`# TYPE` lines and samples) to the
 * families gathered so far, with LABELS (already escaped, "k=\"v\",...") put first in every
 * sample. Exposed for the unit tests; -ENOMEM, or -EINVAL for a line that is not a sample. */
struct phx_metrics_merge;
struct phx_metrics_merge *phx_metrics_merge_new(void);
int   phx_metrics_merge_add(struct phx_metrics_merge *m, const char *text, const char *labels);
/* Every family in the order first seen, HELP and TYPE once, then its samples; frees M. */
char *phx_metrics_merge_finish(struct phx_metrics_merge *m);

#endif /* PHX_METRICS_H */
