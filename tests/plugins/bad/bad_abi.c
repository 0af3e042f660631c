/* bad_abi.c - a plugin built for major ABI 7, which the service must refuse by its version. The
 * descriptor is written by hand, as no macro would fill in another major. */
#include "bad_engine.h"

static const phx_engine_ops_t future_engine = {
    .type = "FutureEngine", .create = bad_create, .progress = bad_progress,
    .destroy = bad_destroy};

__attribute__((visibility("default"))) extern const phx_plugin_desc_t phx_plugin_descriptor;
__attribute__((visibility("default"))) const phx_plugin_desc_t phx_plugin_descriptor = {
    .abi_major = 7, .desc_size = sizeof(phx_plugin_desc_t), .ops_size = sizeof(phx_engine_ops_t),
    .signature = PHX_BUILD_SIGNATURE, .name = "future", .version = "7.0.0",
    .engines = PHX_ENGINES(&future_engine)};
