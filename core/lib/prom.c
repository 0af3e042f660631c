/* prom.c - Prometheus' text exposition format, written into a growing buffer (see prom.h).
 *
 * The buffer doubles as it fills; every append goes through put(), the one place that can fail,
 * so a failed writer stays failed and finish() frees it. Floating values print with %.17g
 * (round-trips a double); bounds print in seconds with %.9g, so 0.0000025 shows as 2.5e-06,
 * which Prometheus parses. */
#include "phoenix/prom.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void put(phx_prom_t *w, const char *s, size_t n)
{
    if (w->failed)
        return;
    if (w->len + n + 1 > w->cap) {
        size_t cap = w->cap ? w->cap : 4096;
        while (cap < w->len + n + 1)
            cap *= 2;
        char *buf = realloc(w->buf, cap);
        if (!buf) {
            w->failed = true;
            return;
        }
        w->buf = buf;
        w->cap = cap;
    }
    memcpy(w->buf + w->len, s, n);
    w->len += n;
    w->buf[w->len] = '\0';
}

static void puts_(phx_prom_t *w, const char *s)
{
    put(w, s, strlen(s));
}

void phx_prom_text(phx_prom_t *w, const char *text, size_t len)
{
    put(w, text, len);
}

/* The escape of C in a label value (QUOTE) or a HELP text, or NULL: C as it is. */
static const char *escape_of(char c, bool quote)
{
    switch (c) {
    case '\\': return "\\\\";
    case '\n': return "\\n";
    case '"':  return quote ? "\\\"" : NULL;
    }
    return NULL;
}

static void escape_into(char *out, size_t size, const char *value, bool quote)
{
    size_t o = 0;

    for (const char *p = value ? value : ""; *p; p++) {
        const char *e = escape_of(*p, quote);
        size_t n = e ? strlen(e) : 1;
        if (o + n + 1 > size)
            break;
        memcpy(out + o, e ? e : p, n);
        o += n;
    }
    if (size)
        out[o] = '\0';
}

void phx_prom_escape(char *out, size_t size, const char *value)
{
    escape_into(out, size, value, true);
}

int phx_prom_label(char *buf, size_t size, const char *key, const char *value)
{
    size_t used = strlen(buf), vlen = strlen(value ? value : "");
    char *esc = malloc(2 * vlen + 1);

    if (!esc)
        return -1;
    escape_into(esc, 2 * vlen + 1, value, true);
    int n = snprintf(buf + used, size - used, "%s%s=\"%s\"", used ? "," : "", key, esc);
    free(esc);
    if (n < 0 || (size_t)n >= size - used) {
        buf[used] = '\0';
        return -1;
    }
    return 0;
}

void phx_prom_family(phx_prom_t *w, const char *name, const char *type, const char *help)
{
    size_t hlen = strlen(help);
    char *esc = malloc(2 * hlen + 1);

    if (!esc) {
        w->failed = true;
        return;
    }
    escape_into(esc, 2 * hlen + 1, help, false);
    puts_(w, "# HELP ");
    puts_(w, name);
    puts_(w, " ");
    puts_(w, esc);
    puts_(w, "\n# TYPE ");
    puts_(w, name);
    puts_(w, " ");
    puts_(w, type);
    puts_(w, "\n");
    free(esc);
}

/* NAME{LABELS} followed by a space. */
static void series(phx_prom_t *w, const char *name, const char *suffix, const char *labels,
                   const char *extra)
{
    bool any = (labels && *labels) || extra;

    puts_(w, name);
    puts_(w, suffix);
    if (any) {
        puts_(w, "{");
        if (labels && *labels)
            puts_(w, labels);
        if (extra) {
            if (labels && *labels)
                puts_(w, ",");
            puts_(w, extra);
        }
        puts_(w, "}");
    }
    puts_(w, " ");
}

static void u64_line(phx_prom_t *w, uint64_t v)
{
    char num[32];

    snprintf(num, sizeof(num), "%" PRIu64 "\n", v);
    puts_(w, num);
}

static void f64_line(phx_prom_t *w, double v)
{
    char num[40];

    if (isnan(v))
        snprintf(num, sizeof(num), "NaN\n");
    else if (isinf(v))
        snprintf(num, sizeof(num), "%s\n", v > 0 ? "+Inf" : "-Inf");
    else
        snprintf(num, sizeof(num), "%.17g\n", v);
    puts_(w, num);
}

void phx_prom_u64(phx_prom_t *w, const char *name, const char *labels, uint64_t value)
{
    series(w, name, "", labels, NULL);
    u64_line(w, value);
}

void phx_prom_f64(phx_prom_t *w, const char *name, const char *labels, double value)
{
    series(w, name, "", labels, NULL);
    f64_line(w, value);
}

void phx_prom_histogram(phx_prom_t *w, const char *name, const char *labels,
                        const uint64_t *bounds_ns, const uint64_t *counts, unsigned nb,
                        uint64_t sum_ns)
{
    uint64_t total = 0;
    char le[48];

    for (unsigned i = 0; i <= nb; i++) {
        total += counts[i];
        if (i < nb)
            snprintf(le, sizeof(le), "le=\"%.9g\"", (double)bounds_ns[i] / 1e9);
        else
            snprintf(le, sizeof(le), "le=\"+Inf\"");
        series(w, name, "_bucket", labels, le);
        u64_line(w, total);
    }
    series(w, name, "_sum", labels, NULL);
    f64_line(w, (double)sum_ns / 1e9);
    series(w, name, "_count", labels, NULL);
    u64_line(w, total);
}

char *phx_prom_finish(phx_prom_t *w)
{
    char *text = w->failed ? NULL : w->buf ? w->buf : strdup("");

    if (w->failed)
        free(w->buf);
    memset(w, 0, sizeof(*w));
    return text;
}

void phx_prom_reset(phx_prom_t *w)
{
    free(w->buf);
    memset(w, 0, sizeof(*w));
}
