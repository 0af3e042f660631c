/* layouts.c - telling the service the C layout of the messages an app sends and receives.
 *
 * The service cannot read an app's protobuf-c descriptors (they live in the app's binary), so
 * before a method is used the app registers a layout blob (mrpc/marshal:
 * mrpc_layout_encode_service) written into its send heap. A server registers whole services in
 * mrpc_server_add_service() and waits for the answer. A client knows only the method it calls (a
 * method description does not lead back to its service's), so its first call of a method
 * registers a one-method service with the method's service name and id (the id the method
 * description carries; its full name is split only for that first call), without waiting: the
 * ring is in order, so the service has the layout before it reads the call, and a failure shows
 * in the call's own status (no layout for the method).
 *
 * `registered` remembers which (service, method) pairs were registered; `registrations` the
 * blobs the service has not answered yet, by address (REGISTERED echoes it in `user`), so the
 * blob is freed when it is answered and a waiter learns the outcome. */
#include "mrpc_lib.h"

#include "marshal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct lib_registration {
    void         *blob;         /* in the send heap */
    bool          waited;       /* a caller waits for the answer (it frees this record) */
    bool          answered;
    mrpc_status_t status;
};

/* The blob for SVC, copied into the send heap; NULL after filling ST. */
static void *blob_in_heap(mrpc_ctx_t *ctx, const mrpc_service_desc_t *svc, size_t *len,
                          mrpc_status_t *st)
{
    void *blob, *copy;
    int rc = mrpc_layout_encode_service(svc, &blob, len);

    if (rc < 0) {
        lib_status_set(st, phx_status_of_errno(rc),
                       "cannot describe the message layouts of %s", svc->full_name);
        return NULL;
    }
    if ((copy = phx_heap_alloc(ctx->heap, *len)))
        memcpy(copy, blob, *len);
    else
        lib_status_set(st, PHX_RESOURCE_EXHAUSTED, "the send heap is full");
    free(blob);
    return copy;
}

static void mark_registered(mrpc_ctx_t *ctx, const mrpc_service_desc_t *svc)
{
    for (unsigned i = 0; i < svc->n_methods; i++)
        phx_u64map_put(&ctx->registered, lib_method_key(svc->service_id,
                                                         svc->methods[i].method_id), 1);
}

phx_status_t lib_register(mrpc_ctx_t *ctx, const mrpc_service_desc_t *svc, bool wait,
                          mrpc_status_t *st)
{
    struct lib_registration *r = calloc(1, sizeof(*r));
    size_t len;

    if (!r) {
        lib_status_set(st, PHX_RESOURCE_EXHAUSTED, "out of memory");
        return st->code;
    }
    if (!(r->blob = blob_in_heap(ctx, svc, &len, st)) ||
        phx_u64map_put(&ctx->registrations, (uintptr_t)r->blob, (uintptr_t)r) < 0) {
        if (r->blob)
            lib_status_set(st, PHX_RESOURCE_EXHAUSTED, "too many registrations in flight");
        phx_heap_free(ctx->heap, r->blob);
        free(r);
        return st->code;
    }
    r->waited = wait;
    phx_desc_t d = { .kind = MRPC_APP_REGISTER_SERVICE, .service_id = svc->service_id,
                     .addr = (uintptr_t)r->blob, .len = len, .user = (uintptr_t)r->blob };
    lib_submit(ctx, &d);
    mark_registered(ctx, svc);
    lib_status_set(st, PHX_OK, "OK");
    if (!wait)
        return PHX_OK;
    lib_wait_until(ctx, &r->answered, LIB_ANSWER_WAIT_MS);
    if (!r->answered) {
        r->waited = false;          /* the answer, if it ever comes, frees it */
        lib_status_set(st, ctx->dead ? PHX_UNAVAILABLE : PHX_DEADLINE_EXCEEDED,
                       "the mRPC service did not answer the registration of %s",
                       svc->full_name);
        return st->code;
    }
    *st = r->status;
    free(r);
    return st->code;
}

void lib_on_registered(mrpc_ctx_t *ctx, const phx_desc_t *d)
{
    uint64_t v;
    mrpc_status_t status = { .code = PHX_OK, .message = "OK" };

    if (d->status != PHX_OK)
        lib_take_text(ctx, d, &status);
    if (!phx_u64map_remove(&ctx->registrations, d->user, &v))
        return;
    struct lib_registration *r = (struct lib_registration *)(uintptr_t)v;
    phx_heap_free(ctx->heap, r->blob);
    if (!r->waited) {
        free(r);
        return;
    }
    r->answered = true;
    r->status = status;
}

/* Splits "pkg.Service.Method" after its service name; false when there is no dot. */
static bool service_name_of(const mrpc_method_desc_t *m, char *buf, size_t cap)
{
    const char *dot = m->full_name ? strrchr(m->full_name, '.') : NULL;
    size_t len = dot ? (size_t)(dot - m->full_name) : 0;

    if (!len || len >= cap)
        return false;
    memcpy(buf, m->full_name, len);
    buf[len] = '\0';
    return true;
}

phx_status_t lib_register_method(mrpc_ctx_t *ctx, const mrpc_method_desc_t *method,
                                 uint32_t *service_id, mrpc_status_t *st)
{
    char name[512];

    if (method->service_id &&
        phx_u64map_get(&ctx->registered, lib_method_key(method->service_id, method->method_id),
                        NULL)) {
        *service_id = method->service_id;   /* the common case: no name to split or hash */
        return PHX_OK;
    }
    if (!service_name_of(method, name, sizeof(name))) {
        lib_status_set(st, PHX_INVALID_ARGUMENT, "method %s has no service in its full name",
                       method->full_name ? method->full_name : "(unnamed)");
        return st->code;
    }
    *service_id = mrpc_id_of(name);
    if (method->service_id && method->service_id != *service_id) {
        lib_status_set(st, PHX_INVALID_ARGUMENT, "method %s says service id 0x%08x, its name "
                       "0x%08x", method->full_name, method->service_id, *service_id);
        return st->code;
    }
    if (phx_u64map_get(&ctx->registered, lib_method_key(*service_id, method->method_id), NULL))
        return PHX_OK;
    mrpc_service_desc_t one = { .name = name, .full_name = name, .service_id = *service_id,
                                .n_methods = 1, .methods = method };
    return lib_register(ctx, &one, false, st);
}

static void free_registration(void *arg, uint64_t key, uint64_t value)
{
    free((void *)(uintptr_t)value);     /* its blob goes with the send heap */
}

void lib_layouts_fini(mrpc_ctx_t *ctx)
{
    phx_u64map_each(&ctx->registrations, free_registration, NULL);
    phx_u64map_fini(&ctx->registrations);
    phx_u64map_fini(&ctx->registered);
}
