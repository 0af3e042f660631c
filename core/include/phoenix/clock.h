/* clock.h - the one monotonic clock, and the small timeout arithmetic around it.
 *
 * Every deadline, timer and latency figure in the service, its plugins and the app libraries is
 * read from CLOCK_MONOTONIC through phx_now_ns(): one clock, so values taken in different places
 * compare. The helpers are inline because they sit on progress loops and poll paths: the clock
 * read is a vDSO call, never a system call.
 *
 * Timeouts follow poll(2): milliseconds, -1 meaning "none". phx_timeout_min() picks the sooner
 * of two such timeouts; phx_stall_backoff() is the retry timer a front engine uses while its app
 * leaves completions unread (there is no "space freed" signal on a ring): it starts at
 * PHX_STALL_MIN_MS and doubles up to PHX_STALL_MAX_MS while the stall lasts. */
#ifndef PHOENIX_CLOCK_H
#define PHOENIX_CLOCK_H

#include <stdint.h>
#include <time.h>

#define PHX_STALL_MIN_MS 1u     /* first retry while the app's completion ring is full */
#define PHX_STALL_MAX_MS 64u    /* retries back off up to this */

/* Nanoseconds of CLOCK_MONOTONIC. */
static inline uint64_t phx_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* The sooner of two poll() timeouts in ms, -1 (none) losing to any other. */
static inline int phx_timeout_min(int a, int b)
{
    return a < 0 ? b : b < 0 ? a : a < b ? a : b;
}

/* The next stall timer: returns *NEXT_MS and doubles it, up to PHX_STALL_MAX_MS. The caller sets
 * *NEXT_MS to PHX_STALL_MIN_MS when the stall ends (its held completions move again). */
static inline int phx_stall_backoff(unsigned *next_ms)
{
    unsigned ms = *next_ms ? *next_ms : PHX_STALL_MIN_MS;

    *next_ms = 2 * ms > PHX_STALL_MAX_MS ? PHX_STALL_MAX_MS : 2 * ms;
    return (int)ms;
}

#endif /* PHOENIX_CLOCK_H */
