/* classes.h - the node-wide table of QoS levels that every QosEngine of one service shares.
 *
 * Each app has its own chain, but the apps of a service share its runtime threads, the UCX
 * worker of each thread and the links to a remote service. QoS is therefore a matter between
 * engines of different apps: a bulk-class engine must know whether latency-class work is going on
 * anywhere in the service. The engines of one plugin build are one module in the service's
 * process, so the table is module-level state here: one slot per level (16: the latency class's
 * 8 priorities above the bulk class's 8), each with the calls in progress at that level, the
 * time of its latest start or end, and the bytes of its large messages on the wire.
 *
 * Engines run on any runtime thread, so the slots are atomics and nothing here blocks or takes a
 * lock: decide() may read and write them. Each engine adds and later removes only its own
 * contribution (qos_class_* take the engine's own count), so an engine that goes away (detach,
 * upgrade) leaves the table as if it had never been there. A live upgrade loads a new build with
 * a table of its own: the restored engines publish their calls in progress there again
 * (qos.c), and engines of two builds never see each other, which only matters while an upgrade
 * is half done. */
#ifndef QOS_CLASSES_H
#define QOS_CLASSES_H

#include <stdbool.h>
#include <stdint.h>

#define QOS_PRIORITIES 8                        /* per class: 0 .. 7 */
#define QOS_LEVELS     (2 * QOS_PRIORITIES)     /* bulk 0..7, then latency 8..15 */

/* The level of an engine of CLASS_LATENCY (else bulk) with PRIORITY (0..7). */
unsigned qos_level(bool latency, unsigned priority);

/* Engines attached at LEVEL: one more, one less (for the stats). */
void qos_class_join(unsigned level);
void qos_class_leave(unsigned level);

/* A call started or ended at LEVEL at NOW_NS. */
void qos_class_start(unsigned level, uint64_t now_ns);
void qos_class_end(unsigned level, uint64_t now_ns);
/* N of an engine's calls at LEVEL end without being seen (its connection was lost, it leaves). */
void qos_class_forget(unsigned level, unsigned n);

/* BYTES of LEVEL's large messages went on the wire (> 0) or came off it (< 0): sent by an
 * engine and not yet reported SENT by its transport. */
void qos_class_wire(unsigned level, int64_t bytes);
/* The bytes of large messages of every level below LEVEL on the wire now: what a message of
 * LEVEL sent now may find ahead of it in the service and on the link. */
uint64_t qos_class_wire_below(unsigned level);

/* The latency budget of LEVEL's apps (the latest an engine at LEVEL was given; 0: none). */
void qos_class_budget(unsigned level, unsigned budget_us);

/* Whether a level above LEVEL is busy at NOW_NS: it has calls in progress and saw a start or an
 * end within IDLE_NS (a call whose end is never seen does not hold lower levels back for ever),
 * or its last call ended within LINGER_NS (the gap between two calls of an app that keeps one
 * outstanding). *BUDGET_US then is the smallest budget of those levels (0: none). */
bool qos_class_above_active(unsigned level, uint64_t now_ns, uint64_t idle_ns,
                            uint64_t linger_ns, unsigned *budget_us);

/* What the table holds for LEVEL now: engines and calls in progress. */
void qos_class_read(unsigned level, unsigned *engines, long *calls);

#endif /* QOS_CLASSES_H */
