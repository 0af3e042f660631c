/* strbuf.c - doubling growth, always NUL-terminated, appends through vsnprintf. */
#include "strbuf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"

static void sb_reserve(strbuf_t *sb, size_t extra)
{
    size_t need = sb->len + extra + 1;
    if (need <= sb->cap)
        return;
    size_t cap = sb->cap ? sb->cap : 256;
    while (cap < need)
        cap *= 2;
    sb->data = xrealloc(sb->data, cap);
    sb->cap = cap;
}

static void sb_putn(strbuf_t *sb, const char *s, size_t n)
{
    sb_reserve(sb, n);
    memcpy(sb->data + sb->len, s, n);
    sb->len += n;
    sb->data[sb->len] = '\0';
}

void sb_puts(strbuf_t *sb, const char *s)
{
    sb_putn(sb, s, strlen(s));
}

void sb_vprintf(strbuf_t *sb, const char *fmt, va_list ap)
{
    va_list again;
    va_copy(again, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    if (n > 0) {
        sb_reserve(sb, (size_t)n);
        vsnprintf(sb->data + sb->len, (size_t)n + 1, fmt, again);
        sb->len += (size_t)n;
    }
    va_end(again);
}

void sb_printf(strbuf_t *sb, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sb_vprintf(sb, fmt, ap);
    va_end(ap);
}

void sb_put_comment_text(strbuf_t *sb, const char *s)
{
    for (const char *end; (end = strstr(s, "*/")) != NULL; s = end + 1) {
        sb_putn(sb, s, (size_t)(end - s) + 1);
        sb_puts(sb, " ");
    }
    sb_puts(sb, s);
}

size_t sb_column(const strbuf_t *sb)
{
    size_t col = 0;
    while (col < sb->len && sb->data[sb->len - 1 - col] != '\n')
        col++;
    return col;
}

const char *sb_str(const strbuf_t *sb)
{
    return sb->data ? sb->data : "";
}

void sb_free(strbuf_t *sb)
{
    free(sb->data);
    *sb = (strbuf_t)STRBUF_INIT;
}
