/* table.c - drawing text tables with +---+ borders (see table.h).
 *
 * Cells are kept as copied strings, headers being row 0. Rendering measures every column (its
 * widest line), then writes each row as many text lines as its tallest cell has, padding the
 * shorter cells with blank lines, into an open_memstream() buffer. */
#include "table.h"

#include "ctl_common.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TABLE_MAX_COLS 16

struct phxctl_table {
    unsigned ncols;
    unsigned nrows;             /* including the header row */
    unsigned cap;
    char   **cells;             /* nrows * ncols, row-major */
};

/* ---- building ------------------------------------------------------------------------------- */

static int append_row(phxctl_table_t *t, const char *const *cells)
{
    if (t->nrows == t->cap) {
        unsigned cap = t->cap ? 2 * t->cap : 8;
        char **grown = realloc(t->cells, (size_t)cap * t->ncols * sizeof(*grown));
        if (!grown)
            return -ENOMEM;
        t->cells = grown;
        t->cap = cap;
    }
    char **row = t->cells + (size_t)t->nrows * t->ncols;
    for (unsigned c = 0; c < t->ncols; c++) {
        if (!(row[c] = strdup(cells[c] ? cells[c] : ""))) {
            while (c--)
                free(row[c]);
            return -ENOMEM;
        }
    }
    t->nrows++;
    return 0;
}

phxctl_table_t *phxctl_table_new(unsigned ncols, const char *const *headers)
{
    if (ncols == 0 || ncols > TABLE_MAX_COLS) {
        errno = EINVAL;
        return NULL;
    }
    phxctl_table_t *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->ncols = ncols;
    if (append_row(t, headers) < 0) {
        phxctl_table_free(t);
        errno = ENOMEM;
        return NULL;
    }
    return t;
}

int phxctl_table_add_row(phxctl_table_t *t, const char *const *cells)
{
    return append_row(t, cells);
}

void phxctl_table_free(phxctl_table_t *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < (size_t)t->nrows * t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
    free(t);
}

/* ---- rendering ------------------------------------------------------------------------------ */

static const char *cell(const phxctl_table_t *t, unsigned row, unsigned col)
{
    return t->cells[(size_t)row * t->ncols + col];
}

static unsigned line_count(const char *s)
{
    unsigned n = 1;

    for (; *s; s++)
        n += *s == '\n';
    return n;
}

/* Line LINE of S (or "" past its end): its start in *START, its length returned. */
static size_t line_at(const char *s, unsigned line, const char **start)
{
    for (; line && *s; s++)
        if (*s == '\n')
            line--;
    *start = line ? "" : s;
    return strcspn(*start, "\n");
}

static void measure(const phxctl_table_t *t, size_t *width)
{
    const char *start;

    for (unsigned c = 0; c < t->ncols; c++) {
        width[c] = 0;
        for (unsigned r = 0; r < t->nrows; r++) {
            unsigned lines = line_count(cell(t, r, c));
            for (unsigned l = 0; l < lines; l++) {
                size_t len = line_at(cell(t, r, c), l, &start);
                width[c] = len > width[c] ? len : width[c];
            }
        }
    }
}

static void put_border(FILE *out, const phxctl_table_t *t, const size_t *width)
{
    for (unsigned c = 0; c < t->ncols; c++) {
        fputc('+', out);
        for (size_t i = 0; i < width[c] + 2; i++)
            fputc('-', out);
    }
    fputs("+\n", out);
}

static void put_row(FILE *out, const phxctl_table_t *t, unsigned row, const size_t *width)
{
    unsigned lines = 1;
    const char *start;

    for (unsigned c = 0; c < t->ncols; c++) {
        unsigned n = line_count(cell(t, row, c));
        lines = n > lines ? n : lines;
    }
    for (unsigned l = 0; l < lines; l++) {
        for (unsigned c = 0; c < t->ncols; c++) {
            size_t len = line_at(cell(t, row, c), l, &start);
            fprintf(out, "| %.*s%*s ", (int)len, start, (int)(width[c] - len), "");
        }
        fputs("|\n", out);
    }
    put_border(out, t, width);
}

char *phxctl_table_render(const phxctl_table_t *t)
{
    size_t width[TABLE_MAX_COLS];
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);

    if (!out)
        return NULL;
    measure(t, width);
    put_border(out, t, width);
    for (unsigned r = 0; r < t->nrows; r++)
        put_row(out, t, r, width);
    if (fclose(out) != 0) {
        free(text);
        return NULL;
    }
    return text;
}

int phxctl_table_emit(phxctl_table_t *t, int build_rc)
{
    char *text = build_rc == 0 && t ? phxctl_table_render(t) : NULL;
    bool drawn = text != NULL;

    if (drawn)
        fputs(text, stdout);
    else
        fprintf(stderr, "%s: out of memory drawing the table\n", phxctl_prog);
    free(text);
    phxctl_table_free(t);
    return drawn ? PHXCTL_EXIT_OK : PHXCTL_EXIT_FAILED;
}

char *phxctl_lines(char *const *items, size_t n, const char *empty)
{
    size_t len = strlen(empty) + 1;

    for (size_t i = 0; i < n; i++)
        len += strlen(items[i]) + 1;
    char *text = malloc(len);
    if (!text)
        return NULL;
    strcpy(text, n ? "" : empty);
    for (size_t i = 0; i < n; i++) {
        strcat(text, items[i]);
        if (i + 1 < n)
            strcat(text, "\n");
    }
    return text;
}
