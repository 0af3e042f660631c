/* config_text.c - checks on libconfig text that an admin hands the service.
 *
 * Both the descriptor reader (phoenixctl, addon_desc.c) and the service's settings loader
 * (core/daemon/settings.c) refuse @include in text that came over the control socket, so the
 * check lives here, where both reach it. It reads the text as lines; it does not parse it. */
#include "phoenix/admin/config_text.h"

#include <string.h>

unsigned phx_config_text_include_line(const char *text)
{
    unsigned line = 1;

    for (const char *p = text; *p; line++) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (strncmp(p, "@include", 8) == 0)
            return line;
        p = strchrnul(p, '\n');
        if (*p)
            p++;
    }
    return 0;
}
