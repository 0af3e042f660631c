/* bad_noprogress.c - an engine type without progress(): the service could never drive it. */
#include "bad_engine.h"

static const phx_engine_ops_t lazy_engine = {
    .type = "LazyEngine", .create = bad_create, .destroy = bad_destroy};
PHX_PLUGIN("lazy", "1.0.0", .engines = PHX_ENGINES(&lazy_engine));
