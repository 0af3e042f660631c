/* emit.h - printing a file's model as C: the public header <stem>.mrpc.h and the source
 * <stem>.mrpc.c. Both return the text, allocated in ARENA; output depends on the model alone
 * (no dates, no addresses), so identical input gives identical bytes. */
#ifndef MRPC_CODEGEN_EMIT_H
#define MRPC_CODEGEN_EMIT_H

#include "arena.h"
#include "model.h"

char *emit_header(arena_t *arena, const model_file_t *model);
char *emit_source(arena_t *arena, const model_file_t *model);

#endif /* MRPC_CODEGEN_EMIT_H */
