/* arena.c - every allocation is one malloc'd block on a singly linked list; arena_free() walks
 * it. Simple beats fast here: a run allocates a few thousand small strings at most. */
#include "arena.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct block {
    struct block   *next;
    max_align_t     payload[];    /* aligned for any type */
} block_t;

struct arena {
    block_t *blocks;
};

static void die(const char *why)
{
    fprintf(stderr, "protoc-gen-mrpc: %s\n", why);
    exit(1);
}

static void die_out_of_memory(void)
{
    die("out of memory");
}

void *xrealloc(void *ptr, size_t size)
{
    void *p = realloc(ptr, size ? size : 1);
    if (!p)
        die_out_of_memory();
    return p;
}

arena_t *arena_new(void)
{
    arena_t *arena = calloc(1, sizeof(*arena));
    if (!arena)
        die_out_of_memory();
    return arena;
}

void arena_free(arena_t *arena)
{
    if (!arena)
        return;
    for (block_t *b = arena->blocks, *next; b; b = next) {
        next = b->next;
        free(b);
    }
    free(arena);
}

void *arena_alloc(arena_t *arena, size_t size)
{
    if (size > SIZE_MAX - sizeof(block_t))
        die_out_of_memory();
    block_t *b = calloc(1, sizeof(block_t) + size);
    if (!b)
        die_out_of_memory();
    b->next = arena->blocks;
    arena->blocks = b;
    return b->payload;
}

void *arena_array(arena_t *arena, size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size)
        die_out_of_memory();
    return arena_alloc(arena, n * size);
}

char *arena_strdup(arena_t *arena, const char *s)
{
    size_t len = strlen(s);
    char *copy = arena_alloc(arena, len + 1);
    memcpy(copy, s, len);
    return copy;
}

char *arena_printf(arena_t *arena, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (len < 0)
        die("vsnprintf failed");    /* only on encoding errors, which our formats cannot have */
    char *s = arena_alloc(arena, (size_t)len + 1);
    va_start(ap, fmt);
    vsnprintf(s, (size_t)len + 1, fmt, ap);
    va_end(ap);
    return s;
}
