/* rendezvous.c - the ranks' channel: how a rank publishes "I serve at host:port", waits for the
 * others and looks a rank up (libmrpc's mrpc_rank_* functions, mrpc/lib/ranks.c, are the other
 * end).
 *
 * Each rank inherits one end of a socketpair, its number in MRPC_RUN_FD. Requests and answers
 * are single lines of at most RDV_LINE bytes:
 *
 *     PUT <value>   ->  OK                          this rank's value for the next barrier
 *     FENCE         ->  OK | ERR <CODE> <sentence>  the barrier: once every rank reached it
 *     GET <rank>    ->  OK <value> | ERR ...        a rank's value as of the last barrier
 *
 * CODE is a status name libmrpc returns as is: INVALID_ARGUMENT (a bad request), ABORTED (a rank
 * exited before the barrier), FAILED_PRECONDITION (a look-up before any barrier), UNAVAILABLE
 * (PMI failed).
 *
 * Outside Slurm this process owns every rank, so the barrier and the table are local; under
 * Slurm each mrpc-run owns one rank and the barrier is a PMI exchange (pmi.c), which blocks this
 * process while it runs (its only rank is waiting too). A value travels as "=" + value so that an
 * empty one is still a value. A rank that sends anything else gets an ERR and its channel stays
 * usable; a rank that exits before a local barrier fails the ranks waiting there. */
#include "mrpc_run.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define RDV_LINE (RUN_VALUE_MAX + 16)

struct rdv_rank {
    int  fd, child_fd;
    char in[RDV_LINE];
    size_t in_len;
    char pending[RUN_VALUE_MAX];    /* PUT since the last barrier */
    char value[RUN_VALUE_MAX];      /* as of the last barrier (local mode) */
    bool fenced, gone;
};

struct run_rdv {
    const struct run_job *job;
    unsigned epoch;                 /* barriers completed */
    struct rdv_rank ranks[];
};

struct run_rdv *rdv_create(const struct run_job *job)
{
    struct run_rdv *r = calloc(1, sizeof *r + (size_t)job->nlocal * sizeof r->ranks[0]);

    if (!r)
        return NULL;
    r->job = job;
    for (int i = 0; i < job->nlocal; i++) {
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
            for (int j = 0; j < i; j++) {
                close(r->ranks[j].fd);
                close(r->ranks[j].child_fd);
            }
            free(r);
            return NULL;
        }
        r->ranks[i].fd = sv[0];
        r->ranks[i].child_fd = sv[1];
    }
    return r;
}

void rdv_destroy(struct run_rdv *r)
{
    if (!r)
        return;
    rdv_close_child_fds(r);
    for (int i = 0; i < r->job->nlocal; i++)
        if (r->ranks[i].fd >= 0)
            close(r->ranks[i].fd);
    free(r);
}

int rdv_child_fd(struct run_rdv *r, int i) { return r->ranks[i].child_fd; }
int rdv_fd(struct run_rdv *r, int i) { return r->ranks[i].fd; }

void rdv_close_child_fds(struct run_rdv *r)
{
    for (int i = 0; i < r->job->nlocal; i++)
        if (r->ranks[i].child_fd >= 0) {
            close(r->ranks[i].child_fd);
            r->ranks[i].child_fd = -1;
        }
}

static void reply(struct rdv_rank *k, const char *fmt, const char *arg)
{
    char line[RDV_LINE + 64];
    int n = snprintf(line, sizeof line, fmt, arg);

    if (k->fd >= 0 && n > 0 && send(k->fd, line, (size_t)n, MSG_NOSIGNAL) < 0 && errno != EPIPE)
        fprintf(stderr, "mrpc-run: cannot answer a rank: %s\n", strerror(errno));
}

/* Local barrier: complete once every rank still running has fenced. */
static void local_fence_try(struct run_rdv *r)
{
    int n = r->job->nlocal, waiting = 0;

    for (int i = 0; i < n; i++) {
        if (!r->ranks[i].fenced && !r->ranks[i].gone)
            return;
        waiting += r->ranks[i].fenced;
    }
    if (!waiting)
        return;
    for (int i = 0; i < n; i++) {
        if (r->ranks[i].gone && !r->ranks[i].fenced)
            continue;
        memcpy(r->ranks[i].value, r->ranks[i].pending, RUN_VALUE_MAX);
    }
    r->epoch++;
    for (int i = 0; i < n; i++)
        if (r->ranks[i].fenced) {
            r->ranks[i].fenced = false;
            reply(&r->ranks[i], "OK%s\n", "");
        }
}

static void fence(struct run_rdv *r, int i)
{
    struct rdv_rank *k = &r->ranks[i];
    char err[256], value[RUN_VALUE_MAX + 1];

    if (r->job->pmi == RUN_PMI_LOCAL) {
        for (int j = 0; j < r->job->nlocal; j++)
            if (r->ranks[j].gone && !r->ranks[j].fenced) {
                snprintf(err, sizeof err, "rank %d exited before reaching the barrier",
                         r->job->first_rank + j);
                reply(k, "ERR ABORTED %s\n", err);
                return;
            }
        k->fenced = true;
        local_fence_try(r);
        return;
    }
    snprintf(value, sizeof value, "=%s", k->pending);
    if (pmi_exchange(r->job->first_rank + i, r->epoch, value, err, sizeof err) < 0) {
        reply(k, "ERR UNAVAILABLE %s\n", err);
        return;
    }
    r->epoch++;
    reply(k, "OK%s\n", "");
}

/* GET of RANK without PMI: only the ranks this mrpc-run started are known. (mrpc-run refuses a
 * Slurm step of several tasks without PMI, so another rank is a job shape this file was not
 * told about: answered, never looked up out of bounds.) */
static void get_local(struct run_rdv *r, struct rdv_rank *k, long rank)
{
    long i = rank - r->job->first_rank;
    char err[128];

    if (i >= 0 && i < r->job->nlocal) {
        reply(k, "OK %s\n", r->ranks[i].value);
        return;
    }
    snprintf(err, sizeof err, "rank %ld is not started by this mrpc-run and there is no PMI to "
             "ask for it", rank);
    reply(k, "ERR UNAVAILABLE %s\n", err);
}

static void get(struct run_rdv *r, int i, const char *arg)
{
    struct rdv_rank *k = &r->ranks[i];
    char *end, err[256], value[RUN_VALUE_MAX + 1];
    long rank = strtol(arg, &end, 10);

    if (*arg == '\0' || *end != '\0' || rank < 0 || rank >= r->job->size) {
        snprintf(err, sizeof err, "there is no rank '%.32s' (the job has ranks 0..%d)", arg,
                 r->job->size - 1);
        reply(k, "ERR INVALID_ARGUMENT %s\n", err);
    } else if (r->epoch == 0) {
        reply(k, "ERR FAILED_PRECONDITION %s\n",
              "no barrier has completed yet: call mrpc_rank_barrier() first");
    } else if (r->job->pmi == RUN_PMI_LOCAL) {
        get_local(r, k, rank);
    } else if (pmi_lookup((int)rank, r->epoch - 1, value, sizeof value, err, sizeof err) < 0) {
        reply(k, "ERR UNAVAILABLE %s\n", err);
    } else {
        reply(k, "OK %s\n", value[0] == '=' ? value + 1 : value);
    }
}

static void request(struct run_rdv *r, int i, char *line)
{
    struct rdv_rank *k = &r->ranks[i];

    if (strncmp(line, "PUT ", 4) == 0) {
        if (strlen(line + 4) >= RUN_VALUE_MAX || strpbrk(line + 4, " \t")) {
            reply(k, "ERR INVALID_ARGUMENT %s\n",
                  "a published value must be at most 255 bytes without blanks");
            return;
        }
        memmove(k->pending, line + 4, strlen(line + 4) + 1);     /* both in *k */
        reply(k, "OK%s\n", "");
    } else if (strcmp(line, "FENCE") == 0) {
        fence(r, i);
    } else if (strncmp(line, "GET ", 4) == 0) {
        get(r, i, line + 4);
    } else {
        reply(k, "ERR INVALID_ARGUMENT %s\n", "unknown request (expected PUT, FENCE or GET)");
    }
}

void rdv_handle(struct run_rdv *r, int i)
{
    struct rdv_rank *k = &r->ranks[i];
    ssize_t n = recv(k->fd, k->in + k->in_len, sizeof k->in - k->in_len, MSG_DONTWAIT);

    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
        close(k->fd);
        k->fd = -1;
        return;
    }
    if (n < 0)
        return;
    k->in_len += (size_t)n;
    for (char *nl; (nl = memchr(k->in, '\n', k->in_len));) {
        *nl = '\0';
        request(r, i, k->in);
        size_t used = (size_t)(nl + 1 - k->in);
        memmove(k->in, nl + 1, k->in_len - used);
        k->in_len -= used;
    }
    if (k->in_len == sizeof k->in) {        /* a line longer than any request */
        reply(k, "ERR INVALID_ARGUMENT %s\n", "request too long");
        k->in_len = 0;
    }
}

void rdv_rank_gone(struct run_rdv *r, int i)
{
    struct rdv_rank *k = &r->ranks[i];

    k->gone = true;
    if (r->job->pmi != RUN_PMI_LOCAL || k->fenced)
        return;
    /* Ranks waiting at a local barrier would wait for ever: fail them. */
    for (int j = 0; j < r->job->nlocal; j++)
        if (r->ranks[j].fenced) {
            char err[128];
            r->ranks[j].fenced = false;
            snprintf(err, sizeof err, "rank %d exited before reaching the barrier",
                     r->job->first_rank + i);
            reply(&r->ranks[j], "ERR ABORTED %s\n", err);
        }
}
