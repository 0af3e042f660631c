/* strbuf.h - a growable string the emitters write generated code into.
 *
 * Appending never fails (memory exhaustion ends the process, see arena.h), so emitters read as
 * straight-line templates without error paths. */
#ifndef MRPC_CODEGEN_STRBUF_H
#define MRPC_CODEGEN_STRBUF_H

#include <stdarg.h>
#include <stddef.h>

typedef struct strbuf {
    char   *data;     /* NUL-terminated once anything was appended; NULL before */
    size_t  len;
    size_t  cap;
} strbuf_t;

#define STRBUF_INIT { NULL, 0, 0 }

void sb_puts(strbuf_t *sb, const char *s);
void sb_printf(strbuf_t *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sb_vprintf(strbuf_t *sb, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
/* Appends S for use inside a C block comment: "*" followed by "/" becomes "* /". */
void sb_put_comment_text(strbuf_t *sb, const char *s);
/* The column the next character lands in (0-based), for aligning continuation lines. */
size_t sb_column(const strbuf_t *sb);
/* The contents ("" when empty); valid until the next append or sb_free(). */
const char *sb_str(const strbuf_t *sb);
void sb_free(strbuf_t *sb);

#endif /* MRPC_CODEGEN_STRBUF_H */
