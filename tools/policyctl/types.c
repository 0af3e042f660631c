/* types.c - the policy types policyctl knows by name: one row each. A type must also be loaded by
 * the service (its plugin in phoenix.conf's `plugins`) to be attached; `policyctl list` shows
 * which are. A new policy type is one more row (the style of core/daemon/config.c's key table):
 * its name (also its plugin's name and settings section), its engine type, whether it takes a
 * `side` setting (attach --side), and the line `policyctl list` shows for it. */
#include "policyctl.h"

#include <string.h>
#include <strings.h>

/* NAME's plugin is named NAME too; SIDED: the engine takes `side` (PHX_POLICY_SIDE_NAMES). */
#define TYPE(name_, engine_, sided_, summary_) \
    { .name = name_, .engine = engine_, .plugin = name_, .summary = summary_, .sided = sided_ }

const pctl_type_t pctl_types[] = {
    TYPE("ratelimit", "RateLimitEngine", true,
         "token bucket on the requests an app sends (requests/s, bytes/s; delay or reject)"),
    TYPE("acl",       "AclEngine",       true,
         "allow/deny rules on the requests an app makes or serves (ids, uids, message fields)"),
    TYPE("logging",   "LoggingEngine",   false,
         "one JSON line per call to a file, sampled, with size-capped rotation"),
    TYPE("fault",     "FaultEngine",     true,
         "injects aborts (a status) and delays into requests at given probabilities"),
    TYPE("admission", "AdmissionEngine", true,
         "caps an app's outstanding calls; the excess fails at once with RESOURCE_EXHAUSTED"),
    TYPE("qos",       "QosEngine",       false,
         "priority between apps sharing the service: bulk-class apps pace large messages"),
    TYPE("metrics",   "MetricsEngine",   false,
         "per-method call counts, errors, bytes and latency histograms for Prometheus"),
    TYPE("null",      "NullEngine",      false,
         "forwards everything and counts it (a policy's overhead)"),
    { .name = NULL },
};

const pctl_type_t *pctl_type_find(const char *name)
{
    for (const pctl_type_t *t = pctl_types; t->name; t++)
        if (strcasecmp(t->name, name) == 0 || strcasecmp(t->engine, name) == 0)
            return t;
    return NULL;
}

const pctl_type_t *pctl_type_of_engine(const char *engine)
{
    for (const pctl_type_t *t = pctl_types; t->name; t++)
        if (strcmp(t->engine, engine) == 0)
            return t;
    return NULL;
}
