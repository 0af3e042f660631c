/* count.c - CountEngine, an out-of-tree policy for the install test: it forwards every
 * descriptor in both directions and counts them; `phoenixctl engine ID stats` shows the counts,
 * which proves that calls went through it. */
#include <phoenix/engine.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

struct count { unsigned long long tx, rx; };

static int count_create(phx_engine_t *e, const char *config, void **state, char *err,
                        size_t errlen)
{
    (void)e, (void)config;
    if (!(*state = calloc(1, sizeof(struct count)))) {
        snprintf(err, errlen, "CountEngine: out of memory");
        return -ENOMEM;
    }
    return 0;
}

static int count_progress(phx_engine_t *e, void *state)
{
    struct count *c = state;
    unsigned tx = phx_chan_forward(phx_engine_in(e, PHX_TX, 0), phx_engine_out(e, PHX_TX, 0), 256);
    unsigned rx = phx_chan_forward(phx_engine_in(e, PHX_RX, 0), phx_engine_out(e, PHX_RX, 0), 256);

    c->tx += tx;
    c->rx += rx;
    return (int)(tx + rx);
}

static int count_admin(phx_engine_t *e, void *state, const char *request, char **reply)
{
    const struct count *c = state;

    (void)e, (void)request;
    return asprintf(reply, "{\"tx\":%llu,\"rx\":%llu}", c->tx, c->rx) < 0 ? -ENOMEM : 0;
}

static void count_destroy(phx_engine_t *e, void *state, phx_destroy_mode_t mode)
{
    (void)e, (void)mode;
    free(state);
}

static const phx_engine_ops_t count_ops = {
    .type = "CountEngine",
    .state_version = 1,
    .ports = { [PHX_TX] = { .in = 1, .out = 1 }, [PHX_RX] = { .in = 1, .out = 1 } },
    .create = count_create,
    .progress = count_progress,
    .admin = count_admin,
    .destroy = count_destroy,
};

PHX_PLUGIN("count", "1.0.0", .engines = PHX_ENGINES(&count_ops));
