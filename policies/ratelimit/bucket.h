/* bucket.h - the token buckets of RateLimitEngine: one of requests, one of bytes.
 *
 * A bucket fills at `rate` tokens per second up to `size` and a call takes what it costs. The
 * request bucket lets a call through when it holds one whole token; the byte bucket when it holds
 * anything at all, and may then go into debt by the call's size, so that a call larger than the
 * bucket still passes and the average rate still holds. A rate of 0 is no limit. Tokens are
 * doubles: they cross a live upgrade as their bit patterns (the state never leaves the host). */
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
/* Fills B for the time since it was last filled. */
void     rl_bucket_fill(struct rl_bucket *b, uint64_t now_ns);
/* 0 when a call needing at least NEED tokens may pass now, else the nanoseconds until it may. */
uint64_t rl_bucket_wait_ns(const struct rl_bucket *b, double need);

#endif /* RL_BUCKET_H */
