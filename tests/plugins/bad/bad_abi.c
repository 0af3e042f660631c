/* bad_abi.c - a plugin built for ABI version 7, which the service must refuse by its version. */
#include "bad_engine.h"

static const phx_engine_ops_t future_engine = {
    .type = "FutureEngine", .create = bad_create, .progress = bad_progress,
    .destroy = bad_destroy};
static const phx_engine_ops_t *const engines[] = {&future_engine};

PHX_PLUGIN_DEFINE({.abi_version = 7, .ops_size = sizeof(phx_engine_ops_t), .name = "future",
                   .version = "7.0.0", .engines = engines, .n_engines = 1});
