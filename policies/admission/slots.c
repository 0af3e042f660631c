/* slots.c - the outstanding calls of AdmissionEngine (see slots.h). */
#include "slots.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static unsigned home_of(const struct adm_slots *t, uint64_t call_id)
{
    uint64_t h = call_id * 0x9e3779b97f4a7c15ull;

    return (unsigned)(h >> 32) & (t->cap - 1);
}

struct adm_method *adm_slots_method(struct adm_slots *t, uint32_t method_id, bool make)
{
    struct adm_method *free_one = NULL;

    for (unsigned i = 0; i < ADM_METHODS; i++) {
        struct adm_method *m = &t->method[i];
        if (m->count && m->method_id == method_id)
            return m;
        if (!m->count && !free_one)
            free_one = m;
    }
    if (!make || !free_one)
        return NULL;
    free_one->method_id = method_id;
    return free_one;
}

static void place(struct adm_slots *t, const struct adm_slot *s)
{
    unsigned i = home_of(t, s->call_id);

    while (t->slot[i].used)
        i = (i + 1) & (t->cap - 1);
    t->slot[i] = *s;
}

int adm_slots_resize(struct adm_slots *t, unsigned most)
{
    unsigned cap = 64;

    if (most < t->count)
        most = t->count;
    while (cap < 2 * most)
        cap *= 2;
    if (cap == t->cap)
        return 0;
    struct adm_slot *old = t->slot;
    unsigned old_cap = t->cap;
    if (!(t->slot = calloc(cap, sizeof(*t->slot)))) {
        t->slot = old;
        return -ENOMEM;
    }
    t->cap = cap;
    for (unsigned i = 0; i < old_cap; i++)
        if (old[i].used)
            place(t, &old[i]);
    free(old);
    return 0;
}

void adm_slots_free(struct adm_slots *t)
{
    free(t->slot);
    memset(t, 0, sizeof(*t));
}

bool adm_slots_add(struct adm_slots *t, uint64_t call_id, uint32_t conn_id, uint32_t method_id,
                   uint64_t expires_ns)
{
    if (!t->cap || t->count + 1 > t->cap / 2)
        return false;
    struct adm_method *m = adm_slots_method(t, method_id, true);
    if (m)
        m->count++;
    place(t, &(struct adm_slot){ call_id, expires_ns, conn_id, method_id, true, m != NULL });
    t->count++;
    if (!t->earliest_ns || expires_ns < t->earliest_ns)
        t->earliest_ns = expires_ns;
    return true;
}

/* Empties slot I, shifting back the slots of its run that belong before it. */
static void take_out(struct adm_slots *t, unsigned i)
{
    struct adm_method *m = t->slot[i].counted ? adm_slots_method(t, t->slot[i].method_id, false)
                                              : NULL;
    unsigned mask = t->cap - 1;

    if (m)
        m->count--;
    t->count--;
    for (unsigned j = (i + 1) & mask; t->slot[j].used; j = (j + 1) & mask) {
        unsigned home = home_of(t, t->slot[j].call_id);
        if (((j - home) & mask) >= ((j - i) & mask)) {
            t->slot[i] = t->slot[j];
            i = j;
        }
    }
    t->slot[i].used = false;
}

/* The slot of CALL_ID on CONN_ID, or (OWN) on any of the app's own connections; -1: none. */
static int find(const struct adm_slots *t, uint64_t call_id, uint32_t conn_id, bool own)
{
    if (!t->cap)
        return -1;
    for (unsigned i = home_of(t, call_id); t->slot[i].used; i = (i + 1) & (t->cap - 1)) {
        const struct adm_slot *s = &t->slot[i];
        if (s->call_id == call_id && (own ? s->conn_id < ADM_ACCEPTED : s->conn_id == conn_id))
            return (int)i;
    }
    return -1;
}

bool adm_slots_remove(struct adm_slots *t, uint64_t call_id)
{
    int i = find(t, call_id, 0, true);

    if (i < 0)
        return false;
    take_out(t, (unsigned)i);
    return true;
}

bool adm_slots_remove_on(struct adm_slots *t, uint32_t conn_id, uint64_t call_id)
{
    int i = find(t, call_id, conn_id, false);

    if (i < 0)
        return false;
    take_out(t, (unsigned)i);
    return true;
}

/* Frees every slot for which GONE(slot, ARG) holds; how many. A shift moves slots back into the
 * one just freed, so that one is looked at again; the others it moves land where the scan has
 * not been yet, or are slots it has already kept. */
static unsigned remove_if(struct adm_slots *t, bool (*gone)(const struct adm_slot *, uint64_t),
                          uint64_t arg)
{
    unsigned n = 0;

    for (unsigned i = 0; i < t->cap; i++)
        while (t->slot[i].used && gone(&t->slot[i], arg)) {
            take_out(t, i);
            n++;
        }
    return n;
}

static bool on_conn(const struct adm_slot *s, uint64_t conn_id)
{
    return s->conn_id == conn_id;
}

static bool expired(const struct adm_slot *s, uint64_t now_ns)
{
    return s->expires_ns <= now_ns;
}

unsigned adm_slots_remove_conn(struct adm_slots *t, uint32_t conn_id)
{
    return t->count ? remove_if(t, on_conn, conn_id) : 0;
}

unsigned adm_slots_expire(struct adm_slots *t, uint64_t now_ns)
{
    if (!t->count || now_ns < t->earliest_ns)
        return 0;
    unsigned n = remove_if(t, expired, now_ns);
    t->earliest_ns = UINT64_MAX;
    for (unsigned i = 0; i < t->cap; i++)
        if (t->slot[i].used && t->slot[i].expires_ns < t->earliest_ns)
            t->earliest_ns = t->slot[i].expires_ns;
    return n;
}
