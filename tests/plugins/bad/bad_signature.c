/* bad_signature.c - a plugin declared with the ordinary macro but compiled with -fshort-enums
 * (CMakeLists.txt): its enums, and so phx_dir_t and every struct holding one, have another
 * size than the service's. The build signature says so and the service must refuse it. */
#include "bad_engine.h"

static const phx_engine_ops_t short_enum_engine = {
    .type = "ShortEnumEngine", .create = bad_create, .progress = bad_progress,
    .destroy = bad_destroy};

PHX_PLUGIN("shortenums", "1.0.0", .engines = PHX_ENGINES(&short_enum_engine));
