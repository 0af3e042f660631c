/* fuzz.c - what fuzz.h promises every target, linked into both its builds (libFuzzer, replay):
 * the accepted count, the failure exit and the private directory; and the ASan options every
 * run of a target gets in a sanitized build (ignored elsewhere). */
#include "fuzz.h"

#include <errno.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

unsigned long phx_fuzz_accepted;

void phx_fuzz_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("fuzz: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    abort();
}

static char tmpdir[256];

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

static void tmpdir_remove(void)
{
    nftw(tmpdir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

const char *phx_fuzz_tmpdir(const char *name)
{
    snprintf(tmpdir, sizeof(tmpdir), "/dev/shm/phx-fuzz-%s-XXXXXX", name);
    if (!mkdtemp(tmpdir))
        phx_fuzz_fail("mkdtemp %s: %s", tmpdir, strerror(errno));
    atexit(tmpdir_remove);
    return tmpdir;
}

/* ASan's default quarantine holds 256 MB of freed blocks before reusing any: an input's blocks
 * then land on pages the allocator has handed back to the kernel, and the page faults cost
 * the targets 2 to 3 times their speed. One input frees far less than 16 MB, so a use after free
 * within an input, or of the previous input's blocks, is still caught. ASAN_OPTIONS overrides. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "quarantine_size_mb=16";
}
