/* long.c - plugins built against a newer minor ABI than the service's (tests only).
 *
 * `long_engine_ops_t` and `long_plugin_desc_t` are today's ops table and descriptor with one
 * more op and one more field at the end, as a later minor ABI would add them. Built as
 * "longzero" (LONG_USES_NEW = 0) the new op and field are left NULL: the service must load it,
 * since nothing it does not know is set. Built as "longused" (LONG_USES_NEW = 1) the new op is
 * set: the service must refuse it, since it would never call an op the plugin relies on. */
#include "phoenix/engine.h"

#ifndef LONG_USES_NEW
#error "LONG_USES_NEW must be 0 or 1"
#endif

typedef struct long_engine_ops {
    phx_engine_ops_t today;
    int (*op_of_abi_2_1)(phx_engine_t *e, void *state);
} long_engine_ops_t;

typedef struct long_plugin_desc {
    phx_plugin_desc_t today;
    const void       *field_of_abi_2_1;
} long_plugin_desc_t;

static int long_create(phx_engine_t *e, const char *config, void **state, char *err,
                       size_t errlen)
{
    *state = NULL;
    return 0;
}

static int long_progress(phx_engine_t *e, void *state)
{
    return (int)phx_chan_forward(phx_engine_in(e, PHX_TX, 0), phx_engine_out(e, PHX_TX, 0), 64);
}

static void long_destroy(phx_engine_t *e, void *state, phx_destroy_mode_t mode)
{
}

static const long_engine_ops_t long_engine = {
    .today = {.type = LONG_TYPE, .state_version = 1,
              .ports = {[PHX_TX] = {.in = 1, .out = 1}, [PHX_RX] = {.in = 0, .out = 0}},
              .create = long_create, .progress = long_progress, .destroy = long_destroy},
    .op_of_abi_2_1 = LONG_USES_NEW ? long_progress : NULL,
};

__attribute__((visibility("default"))) extern const long_plugin_desc_t phx_plugin_descriptor;
__attribute__((visibility("default"))) const long_plugin_desc_t phx_plugin_descriptor = {
    .today = {.abi_major = PHX_ABI_MAJOR, .abi_minor = PHX_ABI_MINOR + 1,
              .desc_size = sizeof(long_plugin_desc_t), .ops_size = sizeof(long_engine_ops_t),
              .signature = PHX_BUILD_SIGNATURE, .name = LONG_NAME, .version = "2.1.0",
              .engines = (const phx_engine_ops_t *const[]){&long_engine.today, NULL}},
};
