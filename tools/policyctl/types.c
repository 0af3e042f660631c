/* types.c - the policy types policyctl knows by name. A type must also be loaded by the service
 * (its plugin in phoenix.conf's `plugins`) to be attached; `policyctl list` shows which are. */
#include "policyctl.h"

#include <string.h>
#include <strings.h>

static const pctl_type_t ratelimit = {
    "ratelimit", "RateLimitEngine", "ratelimit",
    "token bucket on the requests an app sends (requests/s, bytes/s; delay or reject)" };
static const pctl_type_t acl = {
    "acl", "AclEngine", "acl",
    "allow/deny rules on the requests an app makes or serves (ids, uids, message fields)" };
static const pctl_type_t logging = {
    "logging", "LoggingEngine", "logging",
    "one JSON line per call to a file, sampled, with size-capped rotation" };
static const pctl_type_t fault = {
    "fault", "FaultEngine", "fault",
    "injects aborts (a status) and delays into requests at given probabilities" };
static const pctl_type_t admission = {
    "admission", "AdmissionEngine", "admission",
    "caps an app's outstanding calls; the excess fails at once with RESOURCE_EXHAUSTED" };
static const pctl_type_t qos = {
    "qos", "QosEngine", "qos",
    "priority between apps sharing the service: bulk-class apps pace large messages" };
static const pctl_type_t metrics = {
    "metrics", "MetricsEngine", "metrics",
    "per-method call counts, errors, bytes and latency histograms for Prometheus" };
static const pctl_type_t null_policy = {
    "null", "NullEngine", "null", "forwards everything and counts it (a policy's overhead)" };

const pctl_type_t *const pctl_types[] = { &ratelimit, &acl, &logging, &fault, &admission, &qos,
                                          &metrics, &null_policy, NULL };

const pctl_type_t *pctl_type_find(const char *name)
{
    for (unsigned i = 0; pctl_types[i]; i++)
        if (strcasecmp(pctl_types[i]->name, name) == 0 ||
            strcasecmp(pctl_types[i]->engine, name) == 0)
            return pctl_types[i];
    return NULL;
}

const pctl_type_t *pctl_type_of_engine(const char *engine)
{
    for (unsigned i = 0; pctl_types[i]; i++)
        if (strcmp(pctl_types[i]->engine, engine) == 0)
            return pctl_types[i];
    return NULL;
}

bool pctl_type_takes_side(const pctl_type_t *type)
{
    static const char *const sided[] = { "AclEngine", "RateLimitEngine", "FaultEngine",
                                         "AdmissionEngine", NULL };

    for (unsigned i = 0; sided[i]; i++)
        if (strcmp(type->engine, sided[i]) == 0)
            return true;
    return false;
}
