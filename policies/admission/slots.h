/* slots.h - the outstanding calls of AdmissionEngine: one slot per call admitted and not yet
 * ended, found by its wire call id, with counts per method.
 *
 * The table is open addressing with linear probing and backward-shift deletion, sized on the
 * control thread (adm_slots_resize) to twice the most calls it may hold, so that the runtime
 * thread never allocates. Wire call ids are unique within one MrpcEngine, which is what one
 * policy instance sits behind, so the id alone is the key of the calls an app makes (client
 * side). The calls it serves come from many callers whose ids overlap: their slots are found by
 * connection and id (adm_slots_remove_on); their connections are accepted ones (ids from
 * 0x80000000), never one of the app's own. Methods are counted in a small fixed
 * table: a method that finds it full of methods with calls outstanding is counted with the app
 * only (adm_slots_method returns NULL). */
#ifndef ADM_SLOTS_H
#define ADM_SLOTS_H

#include <stdbool.h>
#include <stdint.h>

#define ADM_METHODS  64
#define ADM_ACCEPTED 0x80000000u      /* connection ids from here: accepted (served calls) */

struct adm_slot {
    uint64_t call_id;
    uint64_t expires_ns;
    uint32_t conn_id;
    uint32_t method_id;
    bool     used;
    bool     counted;         /* in its method's count (false: the method table was full) */
};

struct adm_method {
    uint32_t method_id;
    uint32_t count;           /* 0: the entry is free */
};

struct adm_slots {
    struct adm_slot  *slot;
    unsigned          cap;            /* a power of two */
    unsigned          count;
    uint64_t          earliest_ns;    /* no slot expires before this (a lower bound) */
    struct adm_method method[ADM_METHODS];
};

/* Makes room for at least MOST slots (keeping those held). 0 or -ENOMEM. Control thread. */
int  adm_slots_resize(struct adm_slots *t, unsigned most);
void adm_slots_free(struct adm_slots *t);
/* The count of METHOD's calls (made when NEW and there is room), or NULL. */
struct adm_method *adm_slots_method(struct adm_slots *t, uint32_t method_id, bool make);
/* Takes a slot for CALL_ID; false when the table is full (it never is within its cap). */
bool adm_slots_add(struct adm_slots *t, uint64_t call_id, uint32_t conn_id, uint32_t method_id,
                   uint64_t expires_ns);
/* Frees CALL_ID's slot on one of the app's own connections (a call it made); false when none. */
bool adm_slots_remove(struct adm_slots *t, uint64_t call_id);
/* Frees the slot of CALL_ID on CONN_ID (a call served: callers' ids overlap); false when none. */
bool adm_slots_remove_on(struct adm_slots *t, uint32_t conn_id, uint64_t call_id);
/* Frees every slot of CONN_ID; how many. */
unsigned adm_slots_remove_conn(struct adm_slots *t, uint32_t conn_id);
/* Frees every slot expired at NOW_NS (only when one may be); how many. */
unsigned adm_slots_expire(struct adm_slots *t, uint64_t now_ns);

#endif /* ADM_SLOTS_H */
