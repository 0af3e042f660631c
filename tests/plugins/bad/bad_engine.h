/* bad_engine.h - the do-nothing engine operations the broken test plugins are made of; each
 * plugin then gets one thing wrong in its descriptor. Header-only: every plugin is one .so. */
#ifndef PHX_TEST_BAD_ENGINE_H
#define PHX_TEST_BAD_ENGINE_H

#include "phoenix/engine.h"

static inline int bad_create(phx_engine_t *e, const char *config, void **state, char *err,
                             size_t errlen)
{
    *state = NULL;
    return 0;
}

static inline int bad_progress(phx_engine_t *e, void *state)
{
    return 0;
}

static inline void bad_destroy(phx_engine_t *e, void *state, phx_destroy_mode_t mode)
{
}

#endif /* PHX_TEST_BAD_ENGINE_H */
