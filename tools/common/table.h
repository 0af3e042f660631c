/* table.h - text tables with +---+ borders, as phoenixctl prints them (the seed's `list`).
 *
 *     phxctl_table_t *t = phxctl_table_new(2, (const char *[]){ "EngineId", "EngineType" });
 *     phxctl_table_add_row(t, (const char *[]){ "2", "MrpcEngine" });
 *     char *text = phxctl_table_render(t);      // "+----------+...\n| EngineId | ..."
 *
 * A cell may hold several lines ('\n' between them), so a rendered table fits in a cell of
 * another one: that is how `list` nests each subscription's engines. Widths are counted in
 * bytes: names are ASCII. */
#ifndef PHXCTL_TABLE_H
#define PHXCTL_TABLE_H

#include <stddef.h>

typedef struct phxctl_table phxctl_table_t;

/* A table of NCOLS columns (1..16) with these headers (copied). NULL with errno on failure. */
phxctl_table_t *phxctl_table_new(unsigned ncols, const char *const *headers);

/* Appends a row of the table's NCOLS cells (copied; NULL is an empty cell). 0 or -ENOMEM. */
int phxctl_table_add_row(phxctl_table_t *t, const char *const *cells);

/* The table as lines ending in '\n': a border, the headers, a border, then each row followed by
 * a border. Malloc'd; NULL on ENOMEM. */
char *phxctl_table_render(const phxctl_table_t *t);

void phxctl_table_free(phxctl_table_t *t);

/* For a command's output: prints T on stdout unless BUILD_RC (how building T went) is not 0,
 * then frees T (NULL is fine). Returns PHXCTL_EXIT_OK, or PHXCTL_EXIT_FAILED after saying on
 * stderr that memory ran out. */
int phxctl_table_emit(phxctl_table_t *t, int build_rc);

/* ITEMS one per line, as one cell; EMPTY when N is 0. Malloc'd; NULL on ENOMEM. */
char *phxctl_lines(char *const *items, size_t n, const char *empty);

#endif /* PHXCTL_TABLE_H */
