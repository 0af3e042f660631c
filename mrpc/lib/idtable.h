/* idtable.h - objects named by 64-bit ids that can be checked and never alias, for call tables.
 *
 * An id is (generation << 32) | (slot + 1): lookup is an array index, and because a slot's
 * generation changes every time it is freed, an id that outlived its object (a late reply, a
 * peer's guess) finds nothing instead of someone else's call. Id 0 is never issued. Freed slots
 * are reused most recent first; the array doubles up to MAX_SLOTS. The table stores
 * pointers: the objects are the owner's. One owner thread. */
#ifndef MRPC_IDTABLE_H
#define MRPC_IDTABLE_H

#include <stddef.h>
#include <stdint.h>

struct mrpc_idslot {
    void    *obj;           /* NULL when free */
    uint32_t gen;
    uint32_t next_free;     /* slot index + 1 of the next free slot, 0: end */
};

typedef struct mrpc_idtable {
    struct mrpc_idslot *slots;
    uint32_t            cap;
    uint32_t            used;       /* slots ever handed out (high-water mark) */
    uint32_t            live;       /* objects in the table */
    uint32_t            free_head;  /* slot index + 1, 0: none */
    uint32_t            max_slots;
} mrpc_idtable_t;

void     mrpc_idtable_init(mrpc_idtable_t *t, uint32_t max_slots);
void     mrpc_idtable_fini(mrpc_idtable_t *t);
/* The new id of OBJ (not NULL), or 0 when the table is full or out of memory. */
uint64_t mrpc_idtable_add(mrpc_idtable_t *t, void *obj);
/* The object named by ID, or NULL (never issued, freed, or a stale generation). */
void    *mrpc_idtable_get(const mrpc_idtable_t *t, uint64_t id);
/* Removes and returns the object named by ID, or NULL. */
void    *mrpc_idtable_remove(mrpc_idtable_t *t, uint64_t id);
/* Rebuilds an empty table as another one stood: USED slots, slot i with generation GENS[i] and
 * object OBJS[i] (NULL: free), so that the other table's ids name the same objects here (a live
 * upgrade moving a call table). 0, or -1 when USED exceeds max_slots or memory runs out. */
int      mrpc_idtable_load(mrpc_idtable_t *t, uint32_t used, const uint32_t *gens,
                           void *const *objs);
/* Visits every live object with its id; FN may remove the one it is given (and no other). */
void     mrpc_idtable_each(mrpc_idtable_t *t, void (*fn)(void *arg, uint64_t id, void *obj),
                           void *arg);

#endif /* MRPC_IDTABLE_H */
