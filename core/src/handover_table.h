/* handover_table.h - the runtime's side of the resource table (phoenix/handover.h).
 *
 * upgrade.c makes one table per engine it moves, sets it on the engine wrapper for the old
 * build's dump() and the new build's restore(), then commits it (ownership passes, entries no
 * one took are released) or drops it (abort: nothing is released, all stays the old state's). */
#ifndef PHX_HANDOVER_TABLE_H
#define PHX_HANDOVER_TABLE_H

struct phx_handover;

struct phx_handover *phx_handover_new(void);
/* The upgrade committed: frees heap blocks and closes fds that restore() did not take. */
void phx_handover_commit(struct phx_handover *h);
/* The upgrade aborted: forgets every entry (they stay the old state's). */
void phx_handover_drop(struct phx_handover *h);

#endif /* PHX_HANDOVER_TABLE_H */
