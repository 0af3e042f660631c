/* arena.h - memory for protoc-gen-mrpc: everything one run allocates, freed at once.
 *
 * The generator is a short-lived process that builds many small strings (C names, messages) and
 * frees them all when it answers protoc; an arena makes that one call and keeps ownership out of
 * every other function's signature. Running out of memory ends the process with a message: there
 * is nothing sensible a code generator can do instead, and protoc reports the failed plugin. */
#ifndef MRPC_CODEGEN_ARENA_H
#define MRPC_CODEGEN_ARENA_H

#include <stddef.h>

typedef struct arena arena_t;

arena_t *arena_new(void);
void     arena_free(arena_t *arena);

/* Zeroed memory that lives until arena_free(). */
void    *arena_alloc(arena_t *arena, size_t size);
/* Room for N elements of SIZE, zeroed; checks the multiplication. */
void    *arena_array(arena_t *arena, size_t n, size_t size);
char    *arena_strdup(arena_t *arena, const char *s);
char    *arena_printf(arena_t *arena, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* realloc() that ends the process when memory runs out (see above). */
void    *xrealloc(void *ptr, size_t size);

#endif /* MRPC_CODEGEN_ARENA_H */
