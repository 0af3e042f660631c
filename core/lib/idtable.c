/* idtable.c - generation-checked id table (see idtable.h). */
#include "phoenix/idtable.h"

#include <stdlib.h>

#define IDTABLE_MIN_CAP 64u

void phx_idtable_init(phx_idtable_t *t, uint32_t max_slots)
{
    *t = (phx_idtable_t){ .max_slots = max_slots };
}

void phx_idtable_fini(phx_idtable_t *t)
{
    free(t->slots);
    phx_idtable_init(t, t->max_slots);
}

static uint64_t make_id(uint32_t gen, uint32_t slot)
{
    return (uint64_t)gen << 32 | (uint64_t)(slot + 1);
}

/* The slot index named by ID if it is in range, else UINT32_MAX. */
static uint32_t slot_of(const phx_idtable_t *t, uint64_t id)
{
    uint32_t low = (uint32_t)id;
    return low >= 1 && low <= t->used ? low - 1 : UINT32_MAX;
}

static int grow(phx_idtable_t *t)
{
    uint32_t cap = t->cap ? 2 * t->cap : IDTABLE_MIN_CAP;

    if (cap > t->max_slots)
        cap = t->max_slots;
    if (cap <= t->cap)
        return -1;
    struct phx_idslot *s = realloc(t->slots, cap * sizeof(*s));
    if (!s)
        return -1;
    t->slots = s;
    t->cap = cap;
    return 0;
}

uint64_t phx_idtable_add(phx_idtable_t *t, void *obj)
{
    uint32_t slot;

    if (t->free_head) {
        slot = t->free_head - 1;
        t->free_head = t->slots[slot].next_free;
    } else {
        if (t->used == t->cap && grow(t) < 0)
            return 0;
        slot = t->used++;
        t->slots[slot] = (struct phx_idslot){ .gen = 1 };
    }
    t->slots[slot].obj = obj;
    t->slots[slot].next_free = 0;
    t->live++;
    return make_id(t->slots[slot].gen, slot);
}

void *phx_idtable_remove(phx_idtable_t *t, uint64_t id)
{
    void *obj = phx_idtable_get(t, id);
    uint32_t slot = slot_of(t, id);

    if (!obj)
        return NULL;
    t->slots[slot].obj = NULL;
    t->slots[slot].gen++;       /* the id dies with the object */
    t->slots[slot].next_free = t->free_head;
    t->free_head = slot + 1;
    t->live--;
    return obj;
}

void phx_idtable_each(phx_idtable_t *t, void (*fn)(void *arg, uint64_t id, void *obj),
                       void *arg)
{
    for (uint32_t i = 0; i < t->used; i++)
        if (t->slots[i].obj)
            fn(arg, make_id(t->slots[i].gen, i), t->slots[i].obj);
}

int phx_idtable_load(phx_idtable_t *t, uint32_t used, const uint32_t *gens, void *const *objs)
{
    if (used > t->max_slots)
        return -1;
    while (t->cap < used)
        if (grow(t) < 0)
            return -1;
    t->used = used;
    for (uint32_t i = used; i-- > 0;) {     /* free slots end up lowest first */
        t->slots[i] = (struct phx_idslot){ .obj = objs[i], .gen = gens[i] };
        if (objs[i]) {
            t->live++;
        } else {
            t->slots[i].next_free = t->free_head;
            t->free_head = i + 1;
        }
    }
    return 0;
}
