/* schema.h - a policy plugin's settings and their defaults, as the plugin declares them. */
#ifndef POLICYCTL_SCHEMA_H
#define POLICYCTL_SCHEMA_H

#include <stddef.h>

typedef struct {
    const char *key;
    const char *help;
    char        def[128];       /* the default as it would be written in phoenix.conf */
} pctl_setting_t;

/* Calls FN for each setting of the plugin at PATH (only while FN runs are the strings valid).
 * 0, or -1 with one sentence in ERR. */
int pctl_schema_each(const char *path, void (*fn)(void *arg, const pctl_setting_t *s), void *arg,
                     char *err, size_t errlen);

#endif /* POLICYCTL_SCHEMA_H */
