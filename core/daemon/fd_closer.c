/* fd_closer.c - the closer thread, its bounded queue and the parked descriptors (fd_closer.h).
 * The thread is detached and lives as long as the process: it may be stuck in a close() that
 * never returns, which only exit_group() ends, so nobody may wait for it. Parked descriptors
 * belong to the control thread alone; the queue is shared under LOCK. */
#include "fd_closer.h"

#include "phoenix/log.h"

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

struct fd_entry {
    int   fd;
    uid_t uid;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t  wake = PTHREAD_COND_INITIALIZER;
static struct fd_entry queue[PHX_FD_CLOSER_CAP];
static unsigned        head, count;     /* queue[head] is the oldest of COUNT (being closed) */
static bool            started;

static struct fd_entry *parked;         /* control thread only */
static unsigned         n_parked, cap_parked;

static void *closer_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&lock);
    for (;;) {
        while (!count)
            pthread_cond_wait(&wake, &lock);
        int fd = queue[head].fd;
        pthread_mutex_unlock(&lock);
        close(fd);                      /* may block: that is why it happens here */
        pthread_mutex_lock(&lock);
        head = (head + 1) % PHX_FD_CLOSER_CAP;
        count--;
    }
    return NULL;
}

/* Called with LOCK held. Signals stay with the control loop's signalfd. */
static bool start_locked(void)
{
    pthread_attr_t attr;
    pthread_t tid;
    sigset_t all, old;

    if (started)
        return true;
    if (pthread_attr_init(&attr) != 0)
        return false;
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    started = pthread_create(&tid, &attr, closer_main, NULL) == 0;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    return started;
}

static bool enqueue(struct fd_entry e)
{
    bool taken = false;

    pthread_mutex_lock(&lock);
    if (count < PHX_FD_CLOSER_CAP && start_locked()) {
        queue[(head + count) % PHX_FD_CLOSER_CAP] = e;
        count++;
        taken = true;
        pthread_cond_signal(&wake);
    }
    pthread_mutex_unlock(&lock);
    return taken;
}

static bool park(struct fd_entry e)
{
    if (n_parked == cap_parked) {
        unsigned cap = cap_parked ? 2 * cap_parked : 16;
        struct fd_entry *p = realloc(parked, cap * sizeof(*p));
        if (!p)
            return false;
        parked = p;
        cap_parked = cap;
    }
    parked[n_parked++] = e;
    return true;
}

void phx_fd_closer_give(int fd, uid_t uid)
{
    struct fd_entry e = { .fd = fd, .uid = uid };

    if (n_parked == 0 && enqueue(e))
        return;
    if (!park(e)) {
        phx_warn("descriptor closer wedged and no memory to park a descriptor (%u parked): "
                 "closing it inline, which may block", n_parked);
        close(fd);
    }
}

unsigned phx_fd_closer_parked(void)
{
    return n_parked;
}

unsigned phx_fd_closer_held(uid_t uid)
{
    unsigned n = 0;

    pthread_mutex_lock(&lock);
    for (unsigned i = 0; i < count; i++)
        n += queue[(head + i) % PHX_FD_CLOSER_CAP].uid == uid;
    pthread_mutex_unlock(&lock);
    for (unsigned i = 0; i < n_parked; i++)
        n += parked[i].uid == uid;
    return n;
}

bool phx_fd_closer_retry(void)
{
    unsigned done = 0;

    while (done < n_parked && enqueue(parked[done]))
        done++;
    for (unsigned i = done; i < n_parked; i++)
        parked[i - done] = parked[i];
    n_parked -= done;
    if (!n_parked) {
        free(parked);
        parked = NULL;
        cap_parked = 0;
    }
    return n_parked != 0;
}
