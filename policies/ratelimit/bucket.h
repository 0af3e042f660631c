/* bucket.h - the token buckets of RateLimitEngine: one of requests, one of bytes.
 *
 * A bucket fills at `rate` tokens per second up to `size` and a call takes what it costs. The
 * request bucket lets a call through when it holds one whole token; the byte bucket when it holds
 * anything at all, and may then go into debt by the call's size, so that a call larger than the
 * bucket still passes and the average rate still holds. A rate of 0 is no limit. Tokens are
 * doubles: they cross a live upgrade as their bit patterns (the state never leaves the host).
 *
 * The cap (`size`) bounds the burst an idle bucket can let through; it must not take tokens from
 * a call that was already waiting for them. A call held until its token is due is let through
 * when the runtime wakes up, which on a loaded machine may be long after that time: the tokens
 * of the whole wait are the held call's and its followers' due (they would have gone one by one
 * had the runtime been on time), so that fill is OWED and not capped. Capping it lost a token
 * for every 1/rate the wake-up came later than the bucket's size in time (50 ms by default):
 * 4-18 % of the rate on a loaded machine. The bucket is capped again at the next fill. */
#ifndef RL_BUCKET_H
#define RL_BUCKET_H

#include <stdbool.h>
#include <stdint.h>

struct rl_bucket {
    double   rate;          /* tokens per second; 0: unlimited */
    double   size;          /* the most it holds */
    double   tokens;        /* may be negative (debt) in the byte bucket */
    uint64_t last_ns;       /* when it was last filled */
};

/* Sets RATE and SIZE; a new bucket (LAST_NS 0) starts full, a running one keeps its tokens
 * (cut to the new size). */
void     rl_bucket_set(struct rl_bucket *b, double rate, double size, uint64_t now_ns);
/* Fills B for the time since it was last filled, up to its size; OWED: without the cap (a call
 * has waited for these tokens since B was last filled). */
void     rl_bucket_fill(struct rl_bucket *b, uint64_t now_ns, bool owed);
/* 0 when a call needing at least NEED tokens may pass now, else the nanoseconds until it may. */
uint64_t rl_bucket_wait_ns(const struct rl_bucket *b, double need);

#endif /* RL_BUCKET_H */
