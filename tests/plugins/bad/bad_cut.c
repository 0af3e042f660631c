/* bad_cut.c - a plugin whose sizes cut through a pointer, which the service must refuse: its
 * descriptor claims a size that is no multiple of a pointer (BAD_CUT_DESC), or its ops table
 * ends halfway into destroy() (otherwise), which would leave half a pointer to be called. The
 * descriptor is written by hand, as no macro would fill in such sizes. */
#include "bad_engine.h"

#include <stddef.h>

static const phx_engine_ops_t cut_engine = {
    .type = "CutEngine", .create = bad_create, .progress = bad_progress,
    .destroy = bad_destroy};

__attribute__((visibility("default"))) extern const phx_plugin_desc_t phx_plugin_descriptor;
__attribute__((visibility("default"))) const phx_plugin_desc_t phx_plugin_descriptor = {
    .abi_major = PHX_ABI_MAJOR, .abi_minor = PHX_ABI_MINOR,
#ifdef BAD_CUT_DESC
    .desc_size = sizeof(phx_plugin_desc_t) - 4, .ops_size = sizeof(phx_engine_ops_t),
#else
    .desc_size = sizeof(phx_plugin_desc_t),
    .ops_size = offsetof(phx_engine_ops_t, destroy) + 4,
#endif
    .signature = PHX_BUILD_SIGNATURE, .name = "cut", .version = "1.0.0",
    .engines = PHX_ENGINES(&cut_engine)};
