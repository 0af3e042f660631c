/* ucx_auth.c - MUNGE credentials bound to a handshake, and the thread that asks munged for them
 * (ucx_auth.h). */
#include "ucx_auth.h"

#include <errno.h>
#include <munge.h>
#include <pthread.h>
#include <stdbool.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint8_t *put_bytes(uint8_t *p, const void *src, size_t n)
{
    if (n)
        memcpy(p, src, n);
    return p + n;
}

static uint8_t *put_u32(uint8_t *p, size_t v)
{
    uint32_t le = (uint32_t)v;      /* little-endian hosts only, as the frames */

    return put_bytes(p, &le, 4);
}

/* The payload a credential for B carries up to its job (the file comment of ucx_auth.h), with
 * room for JOB_ROOM more bytes; *LEN its length so far. NULL: no memory. */
static uint8_t *payload_of(const struct phx_ucx_auth_bind *b, size_t job_room, size_t *len)
{
    size_t caddr_len = b->role == 'C' ? b->caddr_len : 0;
    size_t n = 2 + 2 * PHX_UCX_HS_NONCE + 4 + b->saddr_len + 4 + caddr_len;
    uint8_t *p = malloc(n + job_room), *q = p;

    if (!p)
        return NULL;
    *q++ = (uint8_t)b->role;
    *q++ = PHX_UCX_AUTH_FORMAT;
    q = put_bytes(q, b->cnonce, PHX_UCX_HS_NONCE);
    q = put_bytes(q, b->snonce, PHX_UCX_HS_NONCE);
    q = put_bytes(put_u32(q, b->saddr_len), b->saddr, b->saddr_len);
    put_bytes(put_u32(q, caddr_len), b->caddr, caddr_len);
    *len = n;
    return p;
}

/* The whole payload of a credential B's maker makes: payload_of() and B's job. */
static uint8_t *whole_payload_of(const struct phx_ucx_auth_bind *b, size_t *len)
{
    size_t n, job_len = b->job ? strnlen(b->job, PHX_UCX_JOB_MAX) : 0;
    uint8_t *p = payload_of(b, 1 + job_len, &n);

    if (!p)
        return NULL;
    p[n] = (uint8_t)job_len;
    put_bytes(p + n + 1, b->job, job_len);
    *len = n + 1 + job_len;
    return p;
}

static munge_ctx_t ctx_for(const char *socket, char *err, size_t errlen)
{
    munge_ctx_t ctx = munge_ctx_create();

    if (!ctx) {
        snprintf(err, errlen, "out of memory for a MUNGE context");
        return NULL;
    }
    if (socket && socket[0] && munge_ctx_set(ctx, MUNGE_OPT_SOCKET, socket) != EMUNGE_SUCCESS) {
        snprintf(err, errlen, "cannot use MUNGE socket %s: %s", socket, munge_ctx_strerror(ctx));
        munge_ctx_destroy(ctx);
        return NULL;
    }
    return ctx;
}

char *phx_ucx_auth_make(const char *socket, const struct phx_ucx_auth_bind *b, size_t *len,
                        char *err, size_t errlen)
{
    size_t n;
    uint8_t *payload = whole_payload_of(b, &n);
    munge_ctx_t ctx = payload ? ctx_for(socket, err, errlen) : NULL;
    char *cred = NULL;

    if (!payload)
        snprintf(err, errlen, "out of memory");
    if (ctx) {
        munge_err_t e = munge_encode(&cred, ctx, payload, (int)n);
        if (e != EMUNGE_SUCCESS) {
            snprintf(err, errlen, "munged cannot make a credential: %s", munge_ctx_strerror(ctx));
            free(cred);
            cred = NULL;
        } else {
            *len = strlen(cred);
        }
        munge_ctx_destroy(ctx);
    }
    free(payload);
    return cred;
}

/* Whether the decoded payload GOT (N bytes) is the one B expects, ending with a job that goes
 * into JOB (PHX_UCX_JOB_MAX + 1 bytes). */
static bool bound_to(const struct phx_ucx_auth_bind *b, const uint8_t *got, int n, char *job)
{
    size_t want_len;
    uint8_t *want = payload_of(b, 0, &want_len);
    bool same = want && n >= 0 && (size_t)n > want_len && memcmp(want, got, want_len) == 0;
    size_t job_len = same ? got[want_len] : 0;

    free(want);
    if (!same || job_len > PHX_UCX_JOB_MAX || want_len + 1 + job_len != (size_t)n)
        return false;
    memcpy(job, got + want_len + 1, job_len);
    job[job_len] = '\0';
    return true;
}

enum phx_ucx_hs_verdict phx_ucx_auth_check(const char *socket, const uint8_t *cred, size_t len,
                                           const struct phx_ucx_auth_bind *b, uint32_t *uid,
                                           uint32_t *gid, char *job, char *err, size_t errlen)
{
    char *text = malloc(len + 1);
    munge_ctx_t ctx = text ? ctx_for(socket, err, errlen) : NULL;
    enum phx_ucx_hs_verdict v = PHX_UCX_HS_R_AUTH;

    if (!text)
        snprintf(err, errlen, "out of memory");
    if (ctx) {
        void *got = NULL;
        int n = 0;
        uid_t u;
        gid_t g;
        memcpy(text, cred, len);
        text[len] = '\0';
        munge_err_t e = munge_decode(text, ctx, &got, &n, &u, &g);
        if (e == EMUNGE_CRED_REPLAYED) {
            snprintf(err, errlen, "the peer's MUNGE credential was replayed");
            v = PHX_UCX_HS_R_REPLAYED;
        } else if (e != EMUNGE_SUCCESS) {
            snprintf(err, errlen, "the peer's MUNGE credential does not verify: %s",
                     munge_strerror(e));
        } else if (!bound_to(b, got, n, job)) {
            snprintf(err, errlen, "the peer's MUNGE credential was made for another handshake "
                     "or another worker address");
            v = PHX_UCX_HS_R_REPLAYED;
        } else {
            *uid = (uint32_t)u;
            *gid = (uint32_t)g;
            v = PHX_UCX_HS_OK;
        }
        free(got);
        munge_ctx_destroy(ctx);
    }
    free(text);
    return v;
}

/* ---- the credential thread ---------------------------------------------------------------- */

struct phx_ucx_authq {
    pthread_t                thread;
    pthread_mutex_t          lock;
    pthread_cond_t           wake;
    bool                     stop;
    int                      efd;
    char                     socket[108];
    struct phx_ucx_auth_job *todo, *todo_tail, *done, *done_tail;
};

static void append(struct phx_ucx_auth_job **head, struct phx_ucx_auth_job **tail,
                   struct phx_ucx_auth_job *j)
{
    j->next = NULL;
    if (*tail)
        (*tail)->next = j;
    else
        *head = j;
    *tail = j;
}

static void run_job(const char *socket, struct phx_ucx_auth_job *j)
{
    struct phx_ucx_auth_bind b = {.cnonce = j->cnonce, .snonce = j->snonce, .saddr = j->saddr,
                                  .saddr_len = j->saddr_len, .caddr = j->caddr,
                                  .caddr_len = j->caddr_len, .job = j->job};

    j->verdict = PHX_UCX_HS_OK;
    if (j->check_role) {
        b.role = j->check_role;
        j->verdict = phx_ucx_auth_check(socket, j->cred, j->cred_len, &b, &j->uid, &j->gid,
                                        j->peer_job, j->err, sizeof(j->err));
    }
    if (j->verdict == PHX_UCX_HS_OK && j->make_role) {
        b.role = j->make_role;
        if (!(j->made = phx_ucx_auth_make(socket, &b, &j->made_len, j->err, sizeof(j->err))))
            j->verdict = PHX_UCX_HS_R_AUTH;
    }
}

static void *authq_main(void *arg)
{
    struct phx_ucx_authq *q = arg;

    pthread_mutex_lock(&q->lock);
    for (;;) {
        while (!q->stop && !q->todo)
            pthread_cond_wait(&q->wake, &q->lock);
        if (q->stop)
            break;
        struct phx_ucx_auth_job *j = q->todo;
        if (!(q->todo = j->next))
            q->todo_tail = NULL;
        pthread_mutex_unlock(&q->lock);
        run_job(q->socket, j);
        pthread_mutex_lock(&q->lock);
        append(&q->done, &q->done_tail, j);
        uint64_t one = 1;
        if (write(q->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
            break;      /* cannot happen with a valid eventfd */
    }
    pthread_mutex_unlock(&q->lock);
    return NULL;
}

struct phx_ucx_authq *phx_ucx_authq_start(const char *socket, int *fd, char *err, size_t errlen)
{
    struct phx_ucx_authq *q = calloc(1, sizeof(*q));

    if (!q) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    snprintf(q->socket, sizeof(q->socket), "%s", socket ? socket : "");
    pthread_mutex_init(&q->lock, NULL);
    pthread_cond_init(&q->wake, NULL);
    q->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    int rc = q->efd < 0 ? errno : pthread_create(&q->thread, NULL, authq_main, q);
    if (rc) {
        snprintf(err, errlen, "cannot start the MUNGE credential thread: %s", strerror(rc));
        if (q->efd >= 0)
            close(q->efd);
        free(q);
        return NULL;
    }
    *fd = q->efd;
    return q;
}

void phx_ucx_authq_submit(struct phx_ucx_authq *q, struct phx_ucx_auth_job *j)
{
    pthread_mutex_lock(&q->lock);
    append(&q->todo, &q->todo_tail, j);
    pthread_cond_signal(&q->wake);
    pthread_mutex_unlock(&q->lock);
}

struct phx_ucx_auth_job *phx_ucx_authq_done(struct phx_ucx_authq *q)
{
    uint64_t n;

    pthread_mutex_lock(&q->lock);
    struct phx_ucx_auth_job *done = q->done;
    q->done = q->done_tail = NULL;
    if (read(q->efd, &n, sizeof(n)) < 0)
        n = 0;          /* EAGAIN: nothing was signalled */
    pthread_mutex_unlock(&q->lock);
    return done;
}

void phx_ucx_auth_job_free(struct phx_ucx_auth_job *j)
{
    free(j->saddr);
    free(j->caddr);
    free(j->cred);
    free(j->made);
    free(j);
}

static void free_list(struct phx_ucx_auth_job *j)
{
    while (j) {
        struct phx_ucx_auth_job *next = j->next;
        phx_ucx_auth_job_free(j);
        j = next;
    }
}

void phx_ucx_authq_stop(struct phx_ucx_authq *q)
{
    if (!q)
        return;
    pthread_mutex_lock(&q->lock);
    q->stop = true;
    pthread_cond_signal(&q->wake);
    pthread_mutex_unlock(&q->lock);
    pthread_join(q->thread, NULL);
    free_list(q->todo);
    free_list(q->done);
    close(q->efd);
    pthread_mutex_destroy(&q->lock);
    pthread_cond_destroy(&q->wake);
    free(q);
}
