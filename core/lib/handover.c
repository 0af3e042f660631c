/* handover.c - the resource table of a live upgrade, runtime slots, and the state byte
 *              writer/reader (see phoenix/handover.h for who owns what, and when).
 *
 * A table is a growable array of entries numbered from 1; an entry remembers its kind and
 * whether restore() took it, which is all commit needs to release the rest. Commit hooks are
 * entries of their own kind, run in order by phx_handover_run_hooks(). Runtime slots are a
 * short linked list under a mutex: plugins look a slot up once per create/restore, not per
 * call, so a list is enough. */
#include "phoenix/handover.h"

#include "host.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum res_kind { RES_HEAP = 1, RES_FD = 2, RES_HANDLE = 3, RES_HOOK = 4 };

/* A commit hook is an entry too (never taken, never released): one array keeps them in the
 * order restore() registered them. */
struct res_entry {
    enum res_kind         kind;
    bool                  taken;
    void                 *block;     /* RES_HEAP, RES_HANDLE; RES_HOOK: its argument */
    int                   fd;
    phx_handover_hook_t   hook;
};

struct phx_handover {
    struct res_entry *v;
    uint32_t          n, cap;
};

struct phx_handover *phx_handover_new(void)
{
    return calloc(1, sizeof(struct phx_handover));
}

void phx_handover_commit(struct phx_handover *h)
{
    if (!h)
        return;
    for (uint32_t i = 0; i < h->n; i++) {
        if (h->v[i].taken)
            continue;
        if (h->v[i].kind == RES_HEAP)
            free(h->v[i].block);
        else if (h->v[i].kind == RES_FD && h->v[i].fd >= 0)
            close(h->v[i].fd);
    }
    phx_handover_drop(h);
}

void phx_handover_run_hooks(struct phx_handover *h, phx_engine_t *e)
{
    for (uint32_t i = 0; h && i < h->n; i++)
        if (h->v[i].kind == RES_HOOK)
            h->v[i].hook(e, h->v[i].block);
}

void phx_handover_drop(struct phx_handover *h)
{
    if (!h)
        return;
    free(h->v);
    free(h);
}

static int put(phx_engine_t *e, struct res_entry r, uint32_t *handle)
{
    struct phx_handover *h = e ? e->handover : NULL;

    if (!h)
        return -EINVAL;
    if (h->n == h->cap) {
        uint32_t cap = h->cap ? 2 * h->cap : 64;
        struct res_entry *v = realloc(h->v, cap * sizeof(*v));
        if (!v)
            return -ENOMEM;
        h->v = v;
        h->cap = cap;
    }
    h->v[h->n++] = r;
    *handle = h->n;
    return 0;
}

int phx_handover_put_heap(phx_engine_t *e, void *block, uint32_t *handle)
{
    return put(e, (struct res_entry){ .kind = RES_HEAP, .block = block, .fd = -1 }, handle);
}

int phx_handover_put_fd(phx_engine_t *e, int fd, uint32_t *handle)
{
    return put(e, (struct res_entry){ .kind = RES_FD, .fd = fd }, handle);
}

int phx_handover_put_handle(phx_engine_t *e, void *handle, uint32_t *id)
{
    if (!handle)
        return -EINVAL;
    return put(e, (struct res_entry){ .kind = RES_HANDLE, .block = handle, .fd = -1 }, id);
}

int phx_handover_on_commit(phx_engine_t *e, phx_handover_hook_t fn, void *arg)
{
    uint32_t unused;

    if (!fn)
        return -EINVAL;
    return put(e, (struct res_entry){ .kind = RES_HOOK, .block = arg, .fd = -1, .hook = fn },
               &unused);
}

static struct res_entry *take(phx_engine_t *e, uint32_t handle, enum res_kind kind)
{
    struct phx_handover *h = e ? e->handover : NULL;

    if (!h || handle == 0 || handle > h->n)
        return NULL;
    struct res_entry *r = &h->v[handle - 1];
    if (r->kind != kind || r->taken)
        return NULL;
    r->taken = true;
    return r;
}

void *phx_handover_take_heap(phx_engine_t *e, uint32_t handle)
{
    struct res_entry *r = take(e, handle, RES_HEAP);

    return r ? r->block : NULL;
}

int phx_handover_take_fd(phx_engine_t *e, uint32_t handle)
{
    struct res_entry *r = take(e, handle, RES_FD);

    return r ? r->fd : -1;
}

void *phx_handover_take_handle(phx_engine_t *e, uint32_t id)
{
    struct res_entry *r = take(e, id, RES_HANDLE);

    return r ? r->block : NULL;
}

/* ---- runtime slots --------------------------------------------------------------------------- */

struct slot {
    struct slot *next;
    void        *value;
    char         name[];
};

static pthread_mutex_t slots_lock = PTHREAD_MUTEX_INITIALIZER;
static struct slot    *slots;

void **phx_runtime_slot(const char *name)
{
    struct slot *s;

    pthread_mutex_lock(&slots_lock);
    for (s = slots; s && strcmp(s->name, name) != 0; s = s->next)
        ;
    if (!s && (s = calloc(1, sizeof(*s) + strlen(name) + 1))) {
        strcpy(s->name, name);
        s->next = slots;
        slots = s;
    }
    pthread_mutex_unlock(&slots_lock);
    return s ? &s->value : NULL;
}

/* ---- writer ---------------------------------------------------------------------------------- */

static bool wbuf_room(phx_wbuf_t *w, size_t n)
{
    if (w->failed)
        return false;
    if (w->len + n <= w->cap)
        return true;
    size_t cap = w->cap ? w->cap : 256;
    while (cap < w->len + n)
        cap *= 2;
    uint8_t *d = realloc(w->data, cap);
    if (!d) {
        w->failed = true;
        return false;
    }
    w->data = d;
    w->cap = cap;
    return true;
}

void phx_wbuf_bytes(phx_wbuf_t *w, const void *p, size_t n)
{
    if (n && wbuf_room(w, n)) {
        memcpy(w->data + w->len, p, n);
        w->len += n;
    }
}

static void wbuf_le(phx_wbuf_t *w, uint64_t v, unsigned n)
{
    uint8_t b[8];

    for (unsigned i = 0; i < n; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    phx_wbuf_bytes(w, b, n);
}

void phx_wbuf_u8(phx_wbuf_t *w, uint8_t v)   { wbuf_le(w, v, 1); }
void phx_wbuf_u32(phx_wbuf_t *w, uint32_t v) { wbuf_le(w, v, 4); }
void phx_wbuf_u64(phx_wbuf_t *w, uint64_t v) { wbuf_le(w, v, 8); }

void phx_wbuf_blob(phx_wbuf_t *w, const void *p, size_t n)
{
    if (n > UINT32_MAX) {
        w->failed = true;
        return;
    }
    phx_wbuf_u32(w, (uint32_t)n);
    phx_wbuf_bytes(w, p, n);
}

int phx_wbuf_finish(phx_wbuf_t *w, phx_blob_t *out)
{
    if (w->failed) {
        free(w->data);
        *w = (phx_wbuf_t){ 0 };
        return -ENOMEM;
    }
    out->data = w->data;
    out->len = w->len;
    *w = (phx_wbuf_t){ 0 };
    return 0;
}

/* ---- reader ---------------------------------------------------------------------------------- */

void phx_rbuf_init(phx_rbuf_t *r, const phx_blob_t *in)
{
    *r = (phx_rbuf_t){ .p = in->data, .left = in->data ? in->len : 0 };
}

const void *phx_rbuf_bytes(phx_rbuf_t *r, size_t n)
{
    if (r->failed || n > r->left) {
        r->failed = true;
        return NULL;
    }
    const void *at = r->p;
    r->p += n;
    r->left -= n;
    return at;
}

static uint64_t rbuf_le(phx_rbuf_t *r, unsigned n)
{
    const uint8_t *b = phx_rbuf_bytes(r, n);
    uint64_t v = 0;

    for (unsigned i = 0; b && i < n; i++)
        v |= (uint64_t)b[i] << (8 * i);
    return v;
}

uint8_t  phx_rbuf_u8(phx_rbuf_t *r)  { return (uint8_t)rbuf_le(r, 1); }
uint32_t phx_rbuf_u32(phx_rbuf_t *r) { return (uint32_t)rbuf_le(r, 4); }
uint64_t phx_rbuf_u64(phx_rbuf_t *r) { return rbuf_le(r, 8); }

const void *phx_rbuf_blob(phx_rbuf_t *r, size_t max, size_t *n)
{
    uint32_t len = phx_rbuf_u32(r);

    if (len > max)
        r->failed = true;
    const void *at = phx_rbuf_bytes(r, r->failed ? 0 : len);
    *n = r->failed ? 0 : len;
    return r->failed ? NULL : at;
}
