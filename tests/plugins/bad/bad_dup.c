/* bad_dup.c - plugin "dupnull" claiming engine type NullEngine, which the null plugin provides:
 * loaded after it, it must be refused. */
#include "bad_engine.h"

static const phx_engine_ops_t dup_engine = {
    .type = "NullEngine", .ports = {{1, 1}, {1, 1}}, .create = bad_create,
    .progress = bad_progress, .destroy = bad_destroy};
static const phx_engine_ops_t *const engines[] = {&dup_engine};

PHX_PLUGIN_DEFINE({.abi_version = PHX_PLUGIN_ABI_VERSION, .ops_size = sizeof(phx_engine_ops_t),
                   .name = "dupnull", .version = "1.0.0", .engines = engines, .n_engines = 1});
