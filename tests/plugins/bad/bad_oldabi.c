/* bad_oldabi.c - a plugin built against major ABI 1 (the descriptor and ops table before the
 * self-filling macro, copied here as they were): the service must refuse it by its version
 * before reading anything else of the descriptor. */
#include "bad_engine.h"

typedef struct v1_engine_ops {
    const char *type;
    uint32_t    state_version;
    uint8_t     ports[2][2];
    int  (*create)(phx_engine_t *e, const char *config, void **state, char *err, size_t errlen);
    int  (*progress)(phx_engine_t *e, void *state);
    void *optional[8];
    void (*destroy)(phx_engine_t *e, void *state, phx_destroy_mode_t mode);
} v1_engine_ops_t;

typedef struct v1_plugin_desc {
    uint32_t                      abi_version;
    uint32_t                      ops_size;
    const char                   *name;
    const char                   *version;
    const v1_engine_ops_t *const *engines;
    unsigned                      n_engines;
    const void                   *services;
    unsigned                      n_services;
} v1_plugin_desc_t;

static const v1_engine_ops_t old_engine = {
    .type = "OldEngine", .create = bad_create, .progress = bad_progress, .destroy = bad_destroy};
static const v1_engine_ops_t *const engines[] = {&old_engine};

__attribute__((visibility("default"))) extern const v1_plugin_desc_t phx_plugin_descriptor;
__attribute__((visibility("default"))) const v1_plugin_desc_t phx_plugin_descriptor = {
    .abi_version = 1, .ops_size = sizeof(v1_engine_ops_t), .name = "old", .version = "0.9.0",
    .engines = engines, .n_engines = 1};
