/* completions.c - what MrpcEngine tells the app, and the buffers the app holds.
 *
 * Completions go straight into the app's completion ring. When the ring is full (the app is not
 * keeping up) they wait in a backlog, in order, behind which every later completion queues too.
 * They are pushed without the app's doorbell; progress() rings it once at its end
 * (phx_app_port_notify), so that a sleeping app is woken once per pass with all of it.
 * The backlog grows as needed, but once it holds ENG_BACKLOG_SOFT the engine stops taking new work
 * from the app and the network (eng_budget), so it only grows past that by the bounded
 * fan-out of work already taken (a lost connection failing its calls).
 *
 * Texts (error sentences) are written into the recv heap like messages, and like messages the
 * app gets them as buffers to release. The `delivered` map records every buffer the app holds:
 * the address it was given and the heap block to free, so that a RELEASE can only ever free a
 * buffer that is the app's to give back. */
#include "mrpc_engine.h"

#include "phoenix/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void eng_complete(struct mrpc_engine *m, const phx_desc_t *d)
{
    if (m->backlog.count == 0 && phx_app_port_push_completions(m->port, d, 1) == 1)
        return;
    if (phx_app_port_is_broken(m->port))
        return;     /* the app is being dropped: nobody will read it */
    m->stats.backlog_stalls++;
    if (phx_fifo_push(&m->backlog, d) < 0)
        phx_warn("mrpc: app pid %d: completion of kind 0x%x lost: backlog full",
                 (int)phx_app_port_pid(m->port), d->kind);
}

unsigned eng_backlog_flush(struct mrpc_engine *m)
{
    unsigned moved = 0;

    while (m->backlog.count) {
        unsigned run = phx_fifo_run(&m->backlog);
        int n = phx_app_port_push_completions(m->port, phx_fifo_head(&m->backlog), run);
        if (n <= 0)
            break;
        phx_fifo_drop(&m->backlog, (unsigned)n);
        moved += (unsigned)n;
        if ((unsigned)n < run)
            break;
    }
    return moved;
}

/* ---- buffers the app holds -------------------------------------------------------------- */

int eng_deliver_track(struct mrpc_engine *m, uint64_t addr, void *block)
{
    return phx_u64map_put(&m->delivered, addr, (uint64_t)(uintptr_t)block);
}

bool eng_deliver_release(struct mrpc_engine *m, uint64_t addr)
{
    uint64_t block;

    if (!phx_u64map_remove(&m->delivered, addr, &block))
        return false;
    phx_heap_free(phx_app_port_recv_heap(m->port), (void *)(uintptr_t)block);
    m->stats.released++;
    return true;
}

/* A NUL-terminated copy of TEXT in the recv heap, recorded as the app's; 0 when none fits. */
static int is_incoming_call(const void *item, const void *arg)
{
    const phx_desc_t *d = item, *key = arg;

    return d->kind == MRPC_APP_INCOMING_CALL && d->conn_id == key->conn_id &&
           d->call_id == key->call_id;
}

/* A wire CANCEL comes from the network, as often as a peer likes: it looks for its call in a
 * short backlog only. Behind a longer one the call is delivered after all (the caller has its
 * CANCELLED already; the server's app just does work nobody waits for). */
#define ENG_CANCEL_SCAN_MAX 64u

bool eng_backlog_cancel(struct mrpc_engine *m, uint32_t conn_id, uint64_t call_id)
{
    phx_desc_t key = { .conn_id = conn_id, .call_id = call_id }, in;
    uint32_t held = phx_fifo_count(&m->backlog);

    if (!held || held > ENG_CANCEL_SCAN_MAX ||
        !phx_fifo_take(&m->backlog, is_incoming_call, &key, &in))
        return false;
    eng_deliver_release(m, in.addr);    /* the request the app will never see */
    return true;
}

static uint64_t text_to_app(struct mrpc_engine *m, const char *text, size_t len)
{
    char *buf = phx_heap_alloc(phx_app_port_recv_heap(m->port), len + 1);

    if (!buf)
        return 0;
    memcpy(buf, text, len);
    buf[len] = '\0';
    if (eng_deliver_track(m, (uint64_t)(uintptr_t)buf, buf) < 0) {
        phx_heap_free(phx_app_port_recv_heap(m->port), buf);
        return 0;
    }
    return (uint64_t)(uintptr_t)buf;
}

void eng_complete_vtext(struct mrpc_engine *m, phx_desc_t d, phx_status_t status,
                        const char *fmt, va_list ap)
{
    char text[MRPC_APP_TEXT_MAX];
    int n = vsnprintf(text, sizeof(text), fmt, ap);
    size_t len = n < 0 ? 0 : (size_t)n < sizeof(text) ? (size_t)n : sizeof(text) - 1;

    d.status = status;
    d.addr = text_to_app(m, text, len);
    d.len = d.addr ? len + 1 : 0;
    eng_complete(m, &d);
}

void eng_complete_text(struct mrpc_engine *m, phx_desc_t d, phx_status_t status,
                       const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    eng_complete_vtext(m, d, status, fmt, ap);
    va_end(ap);
}
