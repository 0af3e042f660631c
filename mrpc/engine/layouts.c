/* layouts.c - the message layouts an app registered, and finding a method's.
 *
 * The marshal library's layout set holds one registration per service id (a second one is
 * -EEXIST). An app may register one service more than once, though: a client knows only the
 * methods it calls (a method description does not lead back to its service's), so libmrpc
 * registers a service lazily with the methods called so far, and a process that serves a service
 * and calls it too registers it from both sides. So registrations go on "shelves": the first
 * set that does not hold the service yet takes it, and a new set is opened when all do, up to
 * ENG_MAX_SHELVES. Finding a method asks the shelves in order and remembers the answer in
 * `methods`, so a call costs one hash lookup after the first.
 *
 * Each registration the sets took is also kept as the app sent it (`regs`): a layout set is made
 * of the marshal library's structures and the build's protobuf-c descriptors, so a live upgrade
 * carries the registrations and the next build replays them into sets of its own.
 *
 * The policies of the subscription read calls' contents through these layouts: MrpcEngine
 * shares a view of them (mrpc/transport.h, MRPC_LAYOUTS_SHARED) from create or restore until
 * destroy. */
#include "mrpc_engine.h"

#include "phoenix/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t method_key(uint32_t service_id, uint32_t method_id)
{
    return (uint64_t)service_id << 32 | method_id;
}

/* Keeps a copy of a registration the sets took; -ENOMEM (the caller drops it again). */
static int keep_registration(struct mrpc_engine *m, const void *blob, size_t len)
{
    if (m->n_regs == m->cap_regs) {
        unsigned cap = m->cap_regs ? 2 * m->cap_regs : 8;
        struct eng_registration *regs = realloc(m->regs, cap * sizeof(*regs));
        if (!regs)
            return -ENOMEM;
        m->regs = regs;
        m->cap_regs = cap;
    }
    void *copy = malloc(len ? len : 1);
    if (!copy)
        return -ENOMEM;
    memcpy(copy, blob, len);
    m->regs[m->n_regs++] = (struct eng_registration){ copy, len };
    return 0;
}

static int add_to_shelves(struct mrpc_engine *m, const void *blob, size_t len, char *err,
                          size_t errlen)
{
    for (unsigned i = 0; i < ENG_MAX_SHELVES; i++) {
        if (i == m->n_shelves) {
            if (!(m->shelves[i] = mrpc_layout_set_create())) {
                snprintf(err, errlen, "out of memory for message layouts");
                return -ENOMEM;
            }
            m->n_shelves++;
        }
        int rc = mrpc_layout_set_add(m->shelves[i], blob, len, err, errlen);
        if (rc != -EEXIST)
            return rc;
    }
    snprintf(err, errlen, "this service was registered %u times already", ENG_MAX_SHELVES);
    return -ENOSPC;
}

int eng_layouts_add(struct mrpc_engine *m, const void *blob, size_t len, char *err,
                    size_t errlen)
{
    if (keep_registration(m, blob, len) < 0) {
        snprintf(err, errlen, "out of memory for message layouts");
        return -ENOMEM;
    }
    int rc = add_to_shelves(m, blob, len, err, errlen);
    if (rc)
        free(m->regs[--m->n_regs].blob);    /* refused: a later upgrade must not replay it */
    return rc;
}

const struct mrpc_method_layout *eng_layouts_find(struct mrpc_engine *m, uint32_t service_id,
                                                  uint32_t method_id)
{
    uint64_t key = method_key(service_id, method_id), cached;

    if (phx_u64map_get(&m->methods, key, &cached))
        return (const struct mrpc_method_layout *)(uintptr_t)cached;
    for (unsigned i = 0; i < m->n_shelves; i++) {
        const struct mrpc_method_layout *ml =
            mrpc_layout_find_method(m->shelves[i], service_id, method_id);
        if (ml) {
            phx_u64map_put(&m->methods, key, (uint64_t)(uintptr_t)ml);  /* a cache: may fail */
            return ml;
        }
    }
    return NULL;
}

static const struct mrpc_method_layout *view_find(void *ctx, uint32_t service_id,
                                                  uint32_t method_id)
{
    return eng_layouts_find(ctx, service_id, method_id);
}

void eng_layouts_share(struct mrpc_engine *m, phx_engine_t *e)
{
    m->view = (struct mrpc_layout_view){ .size = sizeof(m->view), .marshal_abi = MRPC_MARSHAL_ABI,
                                         .ctx = m, .find = view_find };
    if (phx_engine_share(e, MRPC_LAYOUTS_SHARED, &m->view) < 0)
        phx_warn("mrpc: the app's message layouts cannot be shared with its policies: they "
                 "will not read calls' contents");
}

void eng_layouts_unshare(struct mrpc_engine *m, phx_engine_t *e)
{
    phx_engine_unshare(e, MRPC_LAYOUTS_SHARED, &m->view);
}

void eng_layouts_fini(struct mrpc_engine *m)
{
    phx_u64map_fini(&m->methods);
    for (unsigned i = 0; i < m->n_shelves; i++)
        mrpc_layout_set_destroy(m->shelves[i]);
    m->n_shelves = 0;
    for (unsigned i = 0; i < m->n_regs; i++)
        free(m->regs[i].blob);
    free(m->regs);
    m->regs = NULL;
    m->n_regs = m->cap_regs = 0;
}
