/* spin.h - adaptive spinning: poll briefly before sleeping, unless yields show a busy neighbour.
 *
 * Both phoenixd's runtime threads (runtime.c) and apps waiting for completions (client.c) poll
 * for a short budget (spin_us) before they sleep on a doorbell, calling sched_yield() after each
 * empty poll: on a quiet node the thread that yield lets run is usually the one that will answer
 * us, and the answer then costs a context switch instead of a sleep and a wake-up. But while a
 * poller spins it has told the other side it is awake, so nobody rings its doorbell; and when a
 * CPU-bound process shares the core and the scheduling group (autogroup: the session), every
 * yield hands the core to it for a whole time slice, 3-7 ms (benchmarks/RESULTS.md, "The slow
 * mode explained"). A sleeper woken by a doorbell is placed ahead of the busy process instead.
 *
 * So every yield is timed. A yield that took longer than phx_spin_long_ns() of the budget (the
 * core went to someone else for a slice) ends the spin at once (the caller polls once more and
 * sleeps) and makes the next `skip` waits sleep without spinning; skip starts at PHX_SPIN_SKIP_MIN
 * and doubles at each further long yield up to PHX_SPIN_SKIP_MAX. The first wait after the skips
 * is a probe: it spins again, and if none of its yields is long the back-off is forgotten. A
 * loaded node thus behaves like spin_us = 0 (one slice lost per probe), a quiet one keeps
 * spinning. The decisions (phx_spin_start, phx_spin_note) are pure functions of the durations
 * they are given, so tests feed them durations; only phx_spin_yield() touches the clock.
 *
 * The state is per waiting thread (a runtime thread's loop, an app's completion consumer); it is
 * not shared. */
#ifndef PHOENIX_LIB_SPIN_H
#define PHOENIX_LIB_SPIN_H

#include "phoenix/clock.h"

#include <sched.h>
#include <stdbool.h>
#include <stdint.h>

#define PHX_SPIN_LONG_FACTOR  4u          /* a yield longer than this many budgets is long, */
#define PHX_SPIN_LONG_MIN_NS  250000ull   /* ... but at least this (a quiet yield: ~1-50 us) */
#define PHX_SPIN_LONG_MAX_NS  1000000ull  /* ... and at most this (a time slice: >= ~1 ms) */
#define PHX_SPIN_SKIP_MIN     8u          /* waits without spinning after a first long yield */
#define PHX_SPIN_SKIP_MAX     1024u       /* ... doubling up to this at each long probe */

struct phx_spin {
    uint64_t long_ns;   /* a yield longer than this ends the spin and backs off */
    unsigned skip;      /* waits still to sleep without spinning */
    unsigned backoff;   /* skip given at the last long yield; 0: none since a clean spin */
    bool     clean;     /* the last spin saw a short yield and no long one */
};

/* The duration above which a yield means the core went to someone else for a slice, for a
 * budget of BUDGET_US: PHX_SPIN_LONG_FACTOR budgets, within [PHX_SPIN_LONG_MIN_NS,
 * PHX_SPIN_LONG_MAX_NS]. */
static inline uint64_t phx_spin_long_ns(unsigned budget_us)
{
    uint64_t ns = (uint64_t)budget_us * 1000ull * PHX_SPIN_LONG_FACTOR;

    return ns < PHX_SPIN_LONG_MIN_NS ? PHX_SPIN_LONG_MIN_NS
         : ns > PHX_SPIN_LONG_MAX_NS ? PHX_SPIN_LONG_MAX_NS : ns;
}

static inline void phx_spin_init(struct phx_spin *s, unsigned budget_us)
{
    *s = (struct phx_spin){ .long_ns = phx_spin_long_ns(budget_us) };
}

/* At the start of a wait: true when it may spin, false when it is one of the waits to skip (the
 * caller polls once and sleeps). A spin before it that saw short yields and no long one clears
 * the back-off. */
static inline bool phx_spin_start(struct phx_spin *s)
{
    if (s->skip) {
        s->skip--;
        return false;
    }
    if (s->clean)
        s->backoff = 0;
    s->clean = false;
    return true;
}

/* After a yield that took YIELD_NS: true to keep spinning; false when it was long, which also
 * sets the waits to skip (PHX_SPIN_SKIP_MIN, then twice the previous, up to PHX_SPIN_SKIP_MAX). */
static inline bool phx_spin_note(struct phx_spin *s, uint64_t yield_ns)
{
    if (yield_ns <= s->long_ns) {
        s->clean = true;        /* a long one ends the spin: no later note can undo this */
        return true;
    }
    s->backoff = !s->backoff ? PHX_SPIN_SKIP_MIN
               : 2 * s->backoff > PHX_SPIN_SKIP_MAX ? PHX_SPIN_SKIP_MAX : 2 * s->backoff;
    s->skip = s->backoff;
    s->clean = false;
    return false;
}

/* Yields the core and judges how long it was away: phx_spin_note()'s answer. */
static inline bool phx_spin_yield(struct phx_spin *s)
{
    uint64_t t0 = phx_now_ns();

    sched_yield();
    return phx_spin_note(s, phx_now_ns() - t0);
}

#endif /* PHOENIX_LIB_SPIN_H */
