/* idtable.h - objects named by 64-bit ids that can be checked and never alias, for the call
 * tables of libmrpc and MrpcEngine.
 *
 * An id is (generation << 32) | (slot + 1): lookup is an array index, and because a slot's
 * generation changes every time it is freed, an id that outlived its object (a late reply, a
 * peer's guess) finds nothing instead of someone else's call. Id 0 is never issued. Freed slots
 * are reused most recent first; the array doubles up to MAX_SLOTS. The table stores
 * pointers: the objects are the owner's. Lookups are inline (every reply does one). One owner
 * thread. */
#ifndef PHOENIX_IDTABLE_H
#define PHOENIX_IDTABLE_H

#include <stddef.h>
#include <stdint.h>

struct phx_idslot {
    void    *obj;           /* NULL when free */
    uint32_t gen;
    uint32_t next_free;     /* slot index + 1 of the next free slot, 0: end */
};

typedef struct phx_idtable {
    struct phx_idslot *slots;
    uint32_t            cap;
    uint32_t            used;       /* slots ever handed out (high-water mark) */
    uint32_t            live;       /* objects in the table */
    uint32_t            free_head;  /* slot index + 1, 0: none */
    uint32_t            max_slots;
} phx_idtable_t;

void     phx_idtable_init(phx_idtable_t *t, uint32_t max_slots);
void     phx_idtable_fini(phx_idtable_t *t);
/* The new id of OBJ (not NULL), or 0 when the table is full or out of memory. */
uint64_t phx_idtable_add(phx_idtable_t *t, void *obj);
/* Removes and returns the object named by ID, or NULL. */
void    *phx_idtable_remove(phx_idtable_t *t, uint64_t id);
/* Rebuilds an empty table as another one stood: USED slots, slot i with generation GENS[i] and
 * object OBJS[i] (NULL: free), so that the other table's ids name the same objects here (a live
 * upgrade moving a call table). 0, or -1 when USED exceeds max_slots or memory runs out. */
int      phx_idtable_load(phx_idtable_t *t, uint32_t used, const uint32_t *gens,
                          void *const *objs);
/* Visits every live object with its id; FN may remove the one it is given (and no other). */
void     phx_idtable_each(phx_idtable_t *t, void (*fn)(void *arg, uint64_t id, void *obj),
                           void *arg);

/* The object named by ID, or NULL (never issued, freed, or a stale generation). */
static inline void *phx_idtable_get(const phx_idtable_t *t, uint64_t id)
{
    uint32_t low = (uint32_t)id;

    if (low < 1 || low > t->used || t->slots[low - 1].gen != (uint32_t)(id >> 32))
        return NULL;
    return t->slots[low - 1].obj;
}

#endif /* PHOENIX_IDTABLE_H */
