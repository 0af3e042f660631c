/* marker.c - a constructor that leaves a mark, linked into a copy of NullEngine 2.0.0 (tests only).
 *
 * The plugin-trust tests need to know whether any code of a refused plugin ran: dlopen() runs a
 * library's constructors before the loader could read anything of it. This one creates the file
 * named by $PHX_TEST_MARKER (when set), so a test asserts that the file is absent after a
 * refused load and present after an accepted one. */
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

__attribute__((constructor)) static void leave_mark(void)
{
    const char *path = getenv("PHX_TEST_MARKER");
    int fd = path && *path ? open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644) : -1;

    if (fd >= 0)
        close(fd);
}
