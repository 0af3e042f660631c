/* sync.c - steps between rpc_bench's main thread and its client threads.
 *
 * The main thread releases numbered steps (connect is step 0, then warmup and measurement of
 * each size); each client thread waits for the step it is due, does it and arrives. The main
 * thread waits until every thread arrived (bounded by a deadline) before it reads clocks or
 * releases the next step, so every thread measures the same interval and nobody overtakes.
 * A stop ends the waits of the threads and, through the atomic flag, their call loops. */
#include "rpc_bench.h"

#include <time.h>

void rpcb_sync_init(rpcb_sync_t *s)
{
    pthread_condattr_t attr;

    pthread_mutex_init(&s->lock, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);   /* bench_now_ns's clock */
    pthread_cond_init(&s->cond, &attr);
    pthread_condattr_destroy(&attr);
    s->step = s->arrived = 0;
    atomic_init(&s->stop, false);
}

void rpcb_sync_destroy(rpcb_sync_t *s)
{
    pthread_cond_destroy(&s->cond);
    pthread_mutex_destroy(&s->lock);
}

void rpcb_sync_release(rpcb_sync_t *s)
{
    pthread_mutex_lock(&s->lock);
    s->arrived = 0;
    s->step++;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);
}

void rpcb_sync_stop(rpcb_sync_t *s)
{
    pthread_mutex_lock(&s->lock);
    atomic_store(&s->stop, true);
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);
}

bool rpcb_sync_wait_step(rpcb_sync_t *s, unsigned step)
{
    pthread_mutex_lock(&s->lock);
    while (s->step < step && !atomic_load(&s->stop))
        pthread_cond_wait(&s->cond, &s->lock);
    bool go = !atomic_load(&s->stop);
    pthread_mutex_unlock(&s->lock);
    return go;
}

void rpcb_sync_arrive(rpcb_sync_t *s)
{
    pthread_mutex_lock(&s->lock);
    s->arrived++;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);
}

bool rpcb_sync_wait_all(rpcb_sync_t *s, unsigned n, uint64_t deadline)
{
    struct timespec ts = { .tv_sec = (time_t)(deadline / BENCH_NS_PER_SEC),
                           .tv_nsec = (long)(deadline % BENCH_NS_PER_SEC) };
    int rc = 0;

    pthread_mutex_lock(&s->lock);
    while (s->arrived < n && rc == 0)
        rc = pthread_cond_timedwait(&s->cond, &s->lock, &ts);
    bool all = s->arrived >= n;
    pthread_mutex_unlock(&s->lock);
    return all;
}
