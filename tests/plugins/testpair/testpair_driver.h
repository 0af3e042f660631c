/* testpair_driver.h - drives subscriptions of the "testpair" service by hand in unit tests.
 *
 * Unit tests mostly keep sub->runtime NULL and play the runtime themselves: one "turn" progresses
 * every engine once in engines[] order, and every loop is bounded in turns and in time. When a
 * real runtime thread drives the group, engine state is read only while it is suspended. Counters come
 * from the engines' admin "stats" requests, as an admin would read them. A snapshot records a
 * subscription's graph (engines, the channel on every port, what each channel holds) so a test
 * can assert that a refused splice or upgrade changed nothing. */
#ifndef PHX_TESTPAIR_DRIVER_H
#define PHX_TESTPAIR_DRIVER_H

#include <stdbool.h>
#include <stdint.h>

#include "graph.h"

/* Progresses every engine once; returns the work they reported. */
unsigned tp_turn(struct phx_subscription *sub);
/* Progresses only the engine of TYPE, TIMES times. */
void tp_progress(struct phx_subscription *sub, const char *type, unsigned times);
/* Turns until the source has received N descriptors back, at most MAX_TURNS and 60 s; whether
 * it got there. */
bool tp_run_until_received(struct phx_subscription *sub, uint64_t n, unsigned max_turns);
/* The same while a runtime thread drives SUB: polls every millisecond for at most TIMEOUT_MS. */
bool tp_wait_received(struct phx_subscription *sub, uint64_t n, unsigned timeout_ms);
/* Leaves descriptors queued in the subscription's channels, as a running group would: the
 * first engine runs ahead, the ones in the middle twice, the last once. */
void tp_make_busy(struct phx_subscription *sub);

/* The source's "count = N;" through reconfigure(). */
int tp_set_count(struct phx_subscription *sub, uint64_t count);
/* Makes the source stop where it is (count = what it sent so far; the group suspended meanwhile
 * if a runtime drives it) and returns that count: the stream's length from now on. */
uint64_t tp_stop_source(struct phx_subscription *sub);
/* Member KEY of E's admin "stats" reply: a number (-1 if absent), or a string copied to BUF. */
long long tp_stat(phx_engine_t *e, const char *key);
const char *tp_stat_string(phx_engine_t *e, const char *key, char *buf, size_t len);
/* tp_stat of SUB's engine of TYPE, read with the group suspended if a runtime drives it. */
long long tp_stat_of(struct phx_subscription *sub, const char *type, const char *key);

struct tp_snapshot {
    unsigned n_engines;
    struct {
        uint64_t id;
        char     type[PHX_NAME_MAX];
        uint64_t chan[2][2][PHX_MAX_PORTS];   /* [dir][in, out][port]: channel id or 0 */
        unsigned held[2][2][PHX_MAX_PORTS];   /* descriptors queued in it */
    } engines[PHX_SUB_MAX_ENGINES];
};

void tp_snapshot(struct phx_subscription *sub, struct tp_snapshot *s);
bool tp_snapshot_equal(const struct tp_snapshot *a, const struct tp_snapshot *b);
/* Descriptors queued in all channels of SUB. */
unsigned tp_queued(struct phx_subscription *sub);

#endif /* PHX_TESTPAIR_DRIVER_H */
