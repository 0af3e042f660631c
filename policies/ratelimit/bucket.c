/* bucket.c - token bucket arithmetic of RateLimitEngine (see bucket.h). */
#include "bucket.h"

#define NS_PER_SEC 1e9

void rl_bucket_set(struct rl_bucket *b, double rate, double size, uint64_t now_ns)
{
    if (b->last_ns)
        rl_bucket_fill(b, now_ns, false);
    else
        b->tokens = size;
    b->rate = rate;
    b->size = size;
    if (b->tokens > size)
        b->tokens = size;
    b->last_ns = now_ns;
}

void rl_bucket_fill(struct rl_bucket *b, uint64_t now_ns, bool owed)
{
    if (now_ns <= b->last_ns)
        return;
    b->tokens += (double)(now_ns - b->last_ns) * b->rate / NS_PER_SEC;
    if (!owed && b->tokens > b->size)
        b->tokens = b->size;
    b->last_ns = now_ns;
}

uint64_t rl_bucket_wait_ns(const struct rl_bucket *b, double need)
{
    if (b->rate <= 0 || b->tokens >= need)
        return 0;
    double ns = (need - b->tokens) * NS_PER_SEC / b->rate;
    return ns < 1 ? 1 : (uint64_t)ns + 1;
}
