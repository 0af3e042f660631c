/* loopback.c - test plugin "loopback": an app's submissions come back as its completions.
 *
 * The "loopback" service chains two engines:
 *
 *   LoopFrontEngine  faces the app. tx: pops the app's submission ring into tx out 0, never more
 *                    than the channel has room for (back-pressure reaches the app as a full
 *                    ring). rx: moves rx in 0 into the app's completion ring; what the ring
 *                    cannot take yet is held (at most one batch) and nothing more is popped.
 *                    A descriptor naming memory outside the app's send heap is turned into an
 *                    ERROR completion (INVALID_ARGUMENT) instead of travelling on.
 *   LoopBackEngine   reflects tx in 0 into rx out 0, as the network side of a real chain would.
 *
 * Sleeping: the front engine arms on the app's submission doorbell. While it holds completions
 * for an app that is not draining its ring, nothing would wake it (the ring only signals its
 * consumer), so it asks for a timer that backs off from 1 to 64 ms while the app stays stalled.
 * Apps are untrusted: a broken ring makes the port helpers fail and the engine goes quiet; the
 * service drops the app. */
#include "phoenix/app_port.h"
#include "phoenix/clock.h"
#include "phoenix/engine.h"
#include "phoenix/minmax.h"
#include "phoenix/status.h"

#include <errno.h>
#include <stdlib.h>

#define BATCH             256

static void free_state(phx_engine_t *e, void *state, phx_destroy_mode_t mode)
{
    free(state);
}

/* ---- LoopFrontEngine ---------------------------------------------------------------------- */

struct front {
    phx_desc_t held[BATCH];     /* completions the app's ring had no room for */
    unsigned   n_held;
    unsigned   stall_ms;        /* next retry timer while held completions do not move */
    bool       armed;           /* on the app's doorbell */
};

static int front_create(phx_engine_t *e, const char *config, void **state, char *err,
                        size_t errlen)
{
    struct front *f = calloc(1, sizeof(*f));

    if (!f)
        return -ENOMEM;
    f->stall_ms = PHX_STALL_MIN_MS;
    *state = f;
    return 0;
}

/* A submission must name memory inside the app's own send heap (or none at all). */
static void validate(phx_app_port_t *port, phx_desc_t *d, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        if (d[i].len && !phx_app_port_send_contains(port, d[i].addr, d[i].len)) {
            d[i].kind = PHX_DESC_ERROR;
            d[i].status = PHX_INVALID_ARGUMENT;
        }
    }
}

static unsigned front_tx(phx_engine_t *e, phx_app_port_t *port)
{
    phx_channel_t *out = phx_engine_out(e, PHX_TX, 0);
    phx_desc_t batch[BATCH];
    unsigned room = out ? phx_min_u32(phx_chan_space(out), BATCH) : 0;
    int n = room ? phx_app_port_pop_submissions(port, batch, room) : 0;

    if (n <= 0)
        return 0;
    validate(port, batch, (unsigned)n);
    phx_chan_push(out, batch, (unsigned)n);
    return (unsigned)n;
}

/* Pushes held completions; returns how many went. */
static unsigned front_flush_held(struct front *f, phx_app_port_t *port)
{
    int n = f->n_held ? phx_app_port_complete(port, f->held, f->n_held) : 0;

    if (n <= 0)
        return 0;
    f->stall_ms = PHX_STALL_MIN_MS;
    f->n_held -= (unsigned)n;
    for (unsigned i = 0; i < f->n_held; i++)
        f->held[i] = f->held[i + (unsigned)n];
    return (unsigned)n;
}

static unsigned front_rx(phx_engine_t *e, struct front *f, phx_app_port_t *port)
{
    unsigned done = front_flush_held(f, port);

    if (f->n_held == 0) {
        f->n_held = phx_chan_pop(phx_engine_in(e, PHX_RX, 0), f->held, BATCH);
        done += f->n_held;      /* popping is progress even if the app's ring is full */
        front_flush_held(f, port);
    }
    return done;
}

static int front_progress(phx_engine_t *e, void *state)
{
    phx_app_port_t *port = phx_engine_app_port(e);

    if (!port || phx_app_port_is_broken(port))
        return 0;
    return (int)(front_tx(e, port) + front_rx(e, state, port));
}

static int front_arm(phx_engine_t *e, void *state, phx_wait_t *w)
{
    struct front *f = state;
    phx_app_port_t *port = phx_engine_app_port(e);
    phx_channel_t *rx_in = phx_engine_in(e, PHX_RX, 0);

    w->fd = -1;
    w->timeout_ms = -1;
    if (!port || phx_app_port_is_broken(port))
        return 0;
    if (f->n_held) {
        w->timeout_ms = phx_stall_backoff(&f->stall_ms);
        return 0;
    }
    if (rx_in && phx_chan_count(rx_in))
        return 1;
    int rc = phx_app_port_arm(port, w);
    f->armed = rc == 0 && w->fd >= 0;
    return rc;
}

static void front_disarm(phx_engine_t *e, void *state)
{
    struct front *f = state;
    phx_app_port_t *port = phx_engine_app_port(e);

    if (f->armed && port)
        phx_app_port_disarm(port, phx_engine_woken(e));
    f->armed = false;
}

/* Moves held completions out; how many are still held. */
static int front_flush(phx_engine_t *e, void *state)
{
    struct front *f = state;
    phx_app_port_t *port = phx_engine_app_port(e);

    if (port)
        front_flush_held(f, port);
    return (int)f->n_held;
}

static const phx_engine_ops_t front_engine = {
    .type = "LoopFrontEngine",
    .state_version = 1,
    .ports = { [PHX_TX] = { .in = 0, .out = 1 }, [PHX_RX] = { .in = 1, .out = 0 } },
    .create = front_create,
    .progress = front_progress,
    .arm = front_arm,
    .disarm = front_disarm,
    .flush = front_flush,
    .destroy = free_state,
};

/* ---- LoopBackEngine ----------------------------------------------------------------------- */

static int back_create(phx_engine_t *e, const char *config, void **state, char *err,
                       size_t errlen)
{
    *state = NULL;
    return 0;
}

static int back_progress(phx_engine_t *e, void *state)
{
    phx_channel_t *in = phx_engine_in(e, PHX_TX, 0);
    phx_channel_t *out = phx_engine_out(e, PHX_RX, 0);

    return (int)phx_chan_forward(in, out, BATCH);
}

static const phx_engine_ops_t back_engine = {
    .type = "LoopBackEngine",
    .state_version = 1,
    .ports = { [PHX_TX] = { .in = 1, .out = 0 }, [PHX_RX] = { .in = 0, .out = 1 } },
    .create = back_create,
    .progress = back_progress,
    .destroy = free_state,
};

/* ---- the plugin --------------------------------------------------------------------------- */

PHX_PLUGIN("loopback", "1.0.0", .engines = PHX_ENGINES(&front_engine, &back_engine),
           .services = PHX_SERVICES(PHX_SERVICE("loopback", "LoopFrontEngine", "LoopBackEngine")));
