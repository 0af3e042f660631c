/* cmd_metrics.c - `phoenixctl metrics`: the service's metrics, as its Prometheus endpoint serves
 * them, through the control socket (no HTTP needed).
 *
 * Without --json it prints the exposition text as it came. With --json the text is read back
 * into one object, {"families":[{"name","type","help","samples":[{"name","labels":{..},
 * "value"}]}]}, for scripts that would rather not parse the format: label values unescaped,
 * values as numbers (+Inf, -Inf and NaN as strings, which JSON has no numbers for). An ordinary
 * user sees the node gauges and their own apps' series; an administrator every app's. */
#include "phoenixctl.h"

#include "ctl_client.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void metrics_usage(FILE *out)
{
    fprintf(out, "Usage: phoenixctl metrics [--json] [--prefix DIR] [--timeout SEC]\n"
                 "Prints the service's metrics in Prometheus' text format, as GET /metrics on\n"
                 "metrics.listen serves them: node gauges and the series of every MetricsEngine\n"
                 "(an ordinary user: of their own apps).\n\n"
                 "  -j, --json           print one JSON object of families and samples\n"
                 PHXCTL_CONN_HELP
                 "  -h, --help           show this help\n\n"
                 "Exit status: 0 done, 1 no service or it refused, 2 usage error.\n");
}

/* ---- the text read back --------------------------------------------------------------------- */

/* The label value at P (after its opening quote) unescaped into OUT; P after the closing quote,
 * or NULL when it does not close. */
static const char *label_value(const char *p, char *out, size_t n)
{
    size_t o = 0;

    for (; *p && *p != '"'; p++) {
        char c = *p;
        if (c == '\\' && p[1]) {
            c = *++p == 'n' ? '\n' : *p;
        }
        if (o + 1 < n)
            out[o++] = c;
    }
    out[o] = '\0';
    return *p == '"' ? p + 1 : NULL;
}

/* The {k="v",...} at P into LABELS; P after the closing brace, or NULL. */
static const char *labels_of(const char *p, json_object *labels)
{
    char key[128], value[1024];

    while (*p && *p != '}') {
        size_t k = strcspn(p, "=}");
        if (p[k] != '=' || p[k + 1] != '"' || k >= sizeof(key))
            return NULL;
        memcpy(key, p, k);
        key[k] = '\0';
        if (!(p = label_value(p + k + 2, value, sizeof(value))))
            return NULL;
        json_object_object_add(labels, key, json_object_new_string(value));
        p += *p == ',';
    }
    return *p == '}' ? p + 1 : NULL;
}

static json_object *value_of(const char *text)
{
    double v = strtod(text, NULL);

    if (isnan(v) || isinf(v))
        return json_object_new_string(text);
    if (v == (double)(long long)v && fabs(v) < 9e15)
        return json_object_new_int64((long long)v);
    return json_object_new_double(v);
}

/* The sample line L into FAMILY's samples; false when it does not parse. */
static bool add_sample(json_object *family, char *l)
{
    json_object *s = json_object_new_object(), *labels = json_object_new_object(), *samples;
    size_t name = strcspn(l, "{ ");
    const char *p = l + name;

    if (l[name] == '{')
        p = labels_of(p + 1, labels);
    if (!name || !p || *p != ' ') {
        json_object_put(s);
        json_object_put(labels);
        return false;
    }
    l[name] = '\0';
    json_object_object_add(s, "name", json_object_new_string(l));
    json_object_object_add(s, "labels", labels);
    json_object_object_add(s, "value", value_of(p + 1));
    json_object_object_get_ex(family, "samples", &samples);
    json_object_array_add(samples, s);
    return true;
}

/* The family named at L (a HELP or TYPE line's rest), the last one when it is the same. */
static json_object *family_for(json_object *families, json_object *last, const char *l)
{
    size_t n = strcspn(l, " ");
    json_object *name;

    if (last && json_object_object_get_ex(last, "name", &name) &&
        strlen(json_object_get_string(name)) == n &&
        strncmp(json_object_get_string(name), l, n) == 0)
        return last;
    json_object *f = json_object_new_object();
    json_object_object_add(f, "name", json_object_new_string_len(l, (int)n));
    json_object_object_add(f, "samples", json_object_new_array());
    json_object_array_add(families, f);
    return f;
}

/* TEXT as the JSON object above, or NULL when a line does not parse. */
static json_object *text_to_json(char *text)
{
    json_object *doc = json_object_new_object(), *families = json_object_new_array();
    json_object *cur = NULL;
    bool ok = true;

    json_object_object_add(doc, "families", families);
    for (char *l = strtok(text, "\n"); l && ok; l = strtok(NULL, "\n")) {
        bool help = strncmp(l, "# HELP ", 7) == 0, type = strncmp(l, "# TYPE ", 7) == 0;
        if (help || type) {
            cur = family_for(families, cur, l + 7);
            const char *rest = l + 7 + strcspn(l + 7, " ");
            json_object_object_add(cur, help ? "help" : "type",
                                   json_object_new_string(*rest ? rest + 1 : ""));
        } else if (l[0] != '#') {
            ok = cur && add_sample(cur, l);
        }
    }
    if (!ok) {
        json_object_put(doc);
        return NULL;
    }
    return doc;
}

/* ---- the command ---------------------------------------------------------------------------- */

static int print_metrics(Phoenix__Control__Response *resp, bool json)
{
    char *text = resp->metrics->text;

    if (!json) {
        fputs(text, stdout);
        return PHXCTL_EXIT_OK;
    }
    json_object *doc = text_to_json(text);
    if (!doc) {
        fprintf(stderr, "phoenixctl metrics: the service's text is not in the exposition "
                        "format\n");
        return PHXCTL_EXIT_FAILED;
    }
    printf("%s\n", json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PRETTY |
                                                       JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(doc);
    return PHXCTL_EXIT_OK;
}

int phxctl_cmd_metrics(int argc, char **argv)
{
    Phoenix__Control__MetricsRequest metrics = PHOENIX__CONTROL__METRICS_REQUEST__INIT;
    Phoenix__Control__Request req = PHOENIX__CONTROL__REQUEST__INIT;

    req.body_case = PHOENIX__CONTROL__REQUEST__BODY_METRICS;
    req.metrics = &metrics;
    return phxctl_query(argc, argv, metrics_usage, &req, PHOENIX__CONTROL__RESPONSE__BODY_METRICS,
                        print_metrics);
}
