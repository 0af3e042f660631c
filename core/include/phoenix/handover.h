/* handover.h - what crosses a live upgrade besides the state blob: the resource table, and a
 *              small byte writer/reader for versioned state.
 *
 * A live upgrade (DESIGN.md §4) moves an engine's state from the old build of its plugin to the
 * new one as bytes: dump() writes a versioned blob, restore() reads it (converting older
 * versions) and builds a state of the new build's own layout. Nothing in the blob may be an
 * address into the old build, because the old build is dlclose()d once no engine uses it.
 *
 * Some things cannot be written as bytes: memory that another engine or the app still reads
 * (a wire message the transport is sending, a buffer a queued descriptor names), file
 * descriptors, process-wide objects such as a UCX context. Those go through the RESOURCE TABLE
 * the runtime keeps for each engine being upgraded:
 *
 *   dump()     phx_handover_put_*() each such resource; it gets a handle (a small number) to
 *              write into the blob. The old state still owns the resource.
 *   restore()  phx_handover_take_*(handle) for each handle it reads; the new state may use the
 *              resource from now on, but does not own it yet: if the upgrade aborts, the new
 *              state is destroyed with PHX_DESTROY_STATE_ONLY and must not release what it took.
 *   commit     the old state is destroyed with PHX_DESTROY_STATE_ONLY: it releases everything
 *              it did NOT put in the table and nothing it put. Ownership of taken resources
 *              passes to the new state; resources put but never taken are released by the
 *              runtime (free() for heap blocks, close() for fds).
 *   abort      (any restore failed, or another engine's did) the table is dropped and nothing in
 *              it is released: everything stays the old state's, which keeps running.
 *
 * Heap blocks must come from malloc() (libc's heap outlives every build); they must not contain
 * function pointers or addresses into the build that made them.
 *
 * HANDLES are opaque objects of another library (a ucp_ep_h, a ucp_listener_h, a ucp_mem_h):
 * the runtime cannot release them, so a handle put and never taken is simply forgotten at
 * commit; a restore() that does not take every handle of its blob should refuse the state.
 *
 * COMMIT HOOKS. A library object may call back into the build that set its callback (UCX's
 * endpoint error handler). The new build must re-point it, but only once the upgrade commits:
 * an aborted upgrade must leave the object calling the old build, which keeps running. So
 * restore() registers phx_handover_on_commit(e, fn, arg); the runtime calls fn(e, arg) at
 * commit, on the control thread with the groups still suspended, after the engine runs the new
 * build's ops and state and BEFORE the old state is destroyed; never on abort. A hook cannot
 * fail the upgrade any more: it logs what it could not do.
 *
 * Process-wide resources shared by every engine of a plugin (one UCX context, one worker per
 * runtime thread) cannot live in a static of the plugin: that static dies with the build. A
 * plugin keeps them in a RUNTIME SLOT instead: a named pointer owned by libphoenix, which every
 * build of the plugin finds by name. The plugin decides what the pointer holds; it must hold no
 * function pointers into a build (or re-point them when a new build first uses it).
 *
 * Threads: put/take are called from dump()/restore(), on the control thread with the engine's
 * group suspended. Runtime slots are looked up from create()/restore() (control thread) or from
 * progress(); the slot table itself is locked, the pointer in it is the plugin's business. */
#ifndef PHOENIX_HANDOVER_H
#define PHOENIX_HANDOVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "phoenix/engine.h"

/* ---- the resource table (only during dump/restore of a live upgrade) ---------------------- */

/* A malloc()'d BLOCK the old state hands over; 0 and *HANDLE, or -ENOMEM, or -EINVAL when E is
 * not being upgraded. */
int   phx_handover_put_heap(phx_engine_t *e, void *block, uint32_t *handle);
/* A file descriptor the old state hands over; as phx_handover_put_heap(). */
int   phx_handover_put_fd(phx_engine_t *e, int fd, uint32_t *handle);
/* The block put under HANDLE, or NULL (no such handle, another kind, or taken already). */
void *phx_handover_take_heap(phx_engine_t *e, uint32_t handle);
/* The fd put under HANDLE, or -1. */
int   phx_handover_take_fd(phx_engine_t *e, uint32_t handle);
/* An opaque HANDLE of another library (never NULL); as phx_handover_put_heap(). Never released
 * by the runtime. */
int   phx_handover_put_handle(phx_engine_t *e, void *handle, uint32_t *id);
/* The handle put under ID, or NULL. */
void *phx_handover_take_handle(phx_engine_t *e, uint32_t id);

/* restore(): call FN(E, ARG) if and when this upgrade commits (see COMMIT HOOKS above). 0, or
 * -ENOMEM, or -EINVAL when E is not being upgraded. */
typedef void (*phx_handover_hook_t)(phx_engine_t *e, void *arg);
int   phx_handover_on_commit(phx_engine_t *e, phx_handover_hook_t fn, void *arg);

/* ---- runtime slots: process-wide pointers that outlive any build -------------------------- */

/* The slot named NAME (created holding NULL on first use), or NULL when out of memory. The
 * address is stable for the life of the process. */
void **phx_runtime_slot(const char *name);

/* ---- a byte writer and reader for state blobs --------------------------------------------- */

/* Little-endian, unaligned. The writer grows a malloc'd buffer; after a failed allocation every
 * call is ignored and phx_wbuf_finish() reports -ENOMEM. */
typedef struct phx_wbuf {
    uint8_t *data;
    size_t   len, cap;
    bool     failed;
} phx_wbuf_t;

void phx_wbuf_u8(phx_wbuf_t *w, uint8_t v);
void phx_wbuf_u32(phx_wbuf_t *w, uint32_t v);
void phx_wbuf_u64(phx_wbuf_t *w, uint64_t v);
void phx_wbuf_bytes(phx_wbuf_t *w, const void *p, size_t n);
/* A u32 length then the bytes. */
void phx_wbuf_blob(phx_wbuf_t *w, const void *p, size_t n);
/* Moves the buffer into OUT (data, len; the caller sets version). 0 or -ENOMEM (nothing to
 * free then). */
int  phx_wbuf_finish(phx_wbuf_t *w, phx_blob_t *out);

/* The reader never reads past the end: a short blob sets `failed` and yields zeros. */
typedef struct phx_rbuf {
    const uint8_t *p;
    size_t         left;
    bool           failed;
} phx_rbuf_t;

void        phx_rbuf_init(phx_rbuf_t *r, const phx_blob_t *in);
uint8_t     phx_rbuf_u8(phx_rbuf_t *r);
uint32_t    phx_rbuf_u32(phx_rbuf_t *r);
uint64_t    phx_rbuf_u64(phx_rbuf_t *r);
/* N bytes in place (valid while the blob is), or NULL. */
const void *phx_rbuf_bytes(phx_rbuf_t *r, size_t n);
/* A u32 length (at most MAX) then the bytes; NULL when longer or short. */
const void *phx_rbuf_blob(phx_rbuf_t *r, size_t max, size_t *n);

/* ---- the host's side (phoenixd's upgrade; a plugin never calls these) ---------------------- */

struct phx_handover;

/* A table for one engine's upgrade (the host sets it as the engine's while dump/restore run). */
struct phx_handover *phx_handover_new(void);
/* The upgrade commits and E runs the new build: calls the commit hooks restore() registered,
 * in order. Before the old state is destroyed. */
void phx_handover_run_hooks(struct phx_handover *h, phx_engine_t *e);
/* The upgrade committed: frees heap blocks and closes fds that restore() did not take. */
void phx_handover_commit(struct phx_handover *h);
/* The upgrade aborted: forgets every entry (they stay the old state's). */
void phx_handover_drop(struct phx_handover *h);

#endif /* PHOENIX_HANDOVER_H */
