/* short.c - a plugin built against an older, shorter engine ops table (tests only).
 *
 * `short_engine_ops_t` is today's phx_engine_ops_t with its tail cut off after disarm(), as a
 * plugin compiled against an older minor ABI would have it, and the descriptor claims that
 * smaller size. The service must load it, see flush, dump, restore, reconfigure and admin as
 * not provided, and drive its engine: ShortForwardEngine forwards both directions, and the
 * "shortpair" service puts it between testpair's source and sink. */
#include "phoenix/engine.h"

#include <stddef.h>

#define BATCH 64

typedef struct short_engine_ops {
    const char       *type;
    uint32_t          state_version;
    phx_port_counts_t ports[2];
    int  (*create)(phx_engine_t *e, const char *config, void **state, char *err, size_t errlen);
    int  (*progress)(phx_engine_t *e, void *state);
    void (*destroy)(phx_engine_t *e, void *state, phx_destroy_mode_t mode);
    int  (*arm)(phx_engine_t *e, void *state, phx_wait_t *w);
    void (*disarm)(phx_engine_t *e, void *state);
} short_engine_ops_t;

_Static_assert(sizeof(short_engine_ops_t) < sizeof(phx_engine_ops_t), "the table is shorter");
_Static_assert(offsetof(short_engine_ops_t, disarm) == offsetof(phx_engine_ops_t, disarm),
               "the head is today's");

static int short_create(phx_engine_t *e, const char *config, void **state, char *err,
                        size_t errlen)
{
    *state = NULL;
    return 0;
}

static int short_progress(phx_engine_t *e, void *state)
{
    unsigned moved = 0;

    for (phx_dir_t d = PHX_TX; d <= PHX_RX; d++)
        moved += phx_chan_forward(phx_engine_in(e, d, 0), phx_engine_out(e, d, 0), BATCH);
    return (int)moved;
}

static void short_destroy(phx_engine_t *e, void *state, phx_destroy_mode_t mode)
{
}

static const short_engine_ops_t short_engine = {
    .type = "ShortForwardEngine",
    .state_version = 1,
    .ports = {[PHX_TX] = {.in = 1, .out = 1}, [PHX_RX] = {.in = 1, .out = 1}},
    .create = short_create,
    .progress = short_progress,
    .destroy = short_destroy,
};

/* What PHX_PLUGIN wrote when the ops table ended at disarm(). */
__attribute__((visibility("default"))) extern const phx_plugin_desc_t phx_plugin_descriptor;
__attribute__((visibility("default"))) const phx_plugin_desc_t phx_plugin_descriptor = {
    .abi_major = PHX_ABI_MAJOR,
    .abi_minor = 0,
    .desc_size = sizeof(phx_plugin_desc_t),
    .ops_size = sizeof(short_engine_ops_t),
    .signature = PHX_BUILD_SIGNATURE,
    .name = "short",
    .version = "0.1.0",
    .engines = (const phx_engine_ops_t *const[]){(const phx_engine_ops_t *)&short_engine, NULL},
    .services = PHX_SERVICES(PHX_SERVICE("shortpair", "TestSourceEngine", "ShortForwardEngine",
                                         "TestSinkEngine")),
};
