/* bad_noprogress.c - an engine type without progress(): the service could never drive it. */
#include "bad_engine.h"

static const phx_engine_ops_t lazy_engine = {
    .type = "LazyEngine", .create = bad_create, .destroy = bad_destroy};
static const phx_engine_ops_t *const engines[] = {&lazy_engine};

PHX_PLUGIN_DEFINE({.abi_version = PHX_PLUGIN_ABI_VERSION, .ops_size = sizeof(phx_engine_ops_t),
                   .name = "lazy", .version = "1.0.0", .engines = engines, .n_engines = 1});
