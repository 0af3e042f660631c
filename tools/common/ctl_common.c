/* ctl_common.c - usage errors and number parsing for the service's tools (see ctl_common.h). */
#include "ctl_common.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

const char *phxctl_prog = "phoenixctl";

int phxctl_usage_error(const char *prog, const char *fmt, ...)
{
    va_list ap;

    if (fmt) {
        fprintf(stderr, "%s: ", prog);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
    }
    fprintf(stderr, "Try '%s --help'.\n", prog);
    return PHXCTL_EXIT_USAGE;
}

int phxctl_parse_uint(const char *text, unsigned long long max, unsigned long long *value)
{
    char *end;
    unsigned long long v;

    if (!isdigit((unsigned char)text[0]))
        return -1;          /* strtoull() would take a sign or leading blanks */
    errno = 0;
    v = strtoull(text, &end, 10);
    if (errno || *end || v > max)
        return -1;
    *value = v;
    return 0;
}
