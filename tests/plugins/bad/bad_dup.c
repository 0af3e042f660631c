/* bad_dup.c - plugin "dupnull" claiming engine type NullEngine, which the null plugin provides:
 * loaded after it, it must be refused. */
#include "bad_engine.h"

static const phx_engine_ops_t dup_engine = {
    .type = "NullEngine", .ports = {[PHX_TX] = {.in = 1, .out = 1}, [PHX_RX] = {.in = 1, .out = 1}},
    .create = bad_create, .progress = bad_progress, .destroy = bad_destroy};

PHX_PLUGIN("dupnull", "1.0.0", .engines = PHX_ENGINES(&dup_engine));
