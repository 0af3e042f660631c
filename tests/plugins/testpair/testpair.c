/* testpair.c - test plugin "testpair": a traffic source and a reflecting sink that make the
 * "testpair" service, so the engine framework can be tested without apps, heaps or a network.
 *
 *   TestSourceEngine  tx out 0, rx in 0. Config "count = N;" (create or reconfigure): sends N
 *                     DATA descriptors with seq 0..N-1, at most 64 per progress(), and takes rx
 *                     descriptors back, counting any whose seq is not the next expected one.
 *                     Its stats also say which runtime index create() saw.
 *   TestSinkEngine    tx in 0, rx out 0. Reflects every tx descriptor into rx as it is (seq
 *                     kept), checking tx order the same way.
 *   TestTwoPortEngine two lanes per direction (in i -> out i), for port-numbering tests.
 *
 * Services: "testpair" = [TestSourceEngine, TestSinkEngine], and "testpair_broken", whose chain
 * names an engine type nobody provides.
 *
 * Every engine answers the admin request "stats" with its counters as JSON. Test code holds
 * the engines' state only through these requests, as an admin would. */
#include "phoenix/engine.h"

#include <errno.h>
#include <libconfig.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SOURCE_BATCH 64     /* descriptors generated per progress() */
#define SINK_BATCH   256

/* Counts descriptors and checks that their seq goes up by one. */
struct seq_check {
    uint64_t seen;
    uint64_t order_errors;
};

static void seq_check(struct seq_check *c, const phx_desc_t *d, unsigned n)
{
    for (unsigned i = 0; i < n; i++, c->seen++)
        c->order_errors += d[i].seq != c->seen;
}

static int no_admin(char **reply)
{
    *reply = NULL;
    return -ENOTSUP;
}

static void free_state(phx_engine_t *e, void *state, phx_destroy_mode_t mode)
{
    free(state);
}

/* ---- TestSourceEngine --------------------------------------------------------------------- */

struct source {
    unsigned         runtime;    /* phx_engine_runtime_index() as create() saw it */
    uint64_t         total;      /* descriptors to send */
    uint64_t         sent;
    struct seq_check rx;
};

static int parse_count(const char *config, uint64_t *count, char *err, size_t errlen)
{
    config_t cfg;
    long long v = 0;
    int rc = 0;

    *count = 0;
    if (!config)
        return 0;
    config_init(&cfg);
    if (config_read_string(&cfg, config) != CONFIG_TRUE) {
        snprintf(err, errlen, "line %d: %s", config_error_line(&cfg), config_error_text(&cfg));
        rc = -EINVAL;
    } else if (config_lookup_int64(&cfg, "count", &v) != CONFIG_TRUE || v < 0) {
        snprintf(err, errlen, "count: expected a non-negative integer");
        rc = -EINVAL;
    }
    config_destroy(&cfg);
    *count = (uint64_t)v;
    return rc;
}

static int source_create(phx_engine_t *e, const char *config, void **state, char *err,
                         size_t errlen)
{
    struct source *s = calloc(1, sizeof(*s));

    if (!s)
        return -ENOMEM;
    int rc = parse_count(config, &s->total, err, errlen);
    if (rc) {
        free(s);
        return rc;
    }
    s->runtime = phx_engine_runtime_index(e);
    *state = s;
    return 0;
}

static unsigned source_send(phx_engine_t *e, struct source *s)
{
    phx_desc_t batch[SOURCE_BATCH];
    uint64_t left = s->total - s->sent;
    unsigned n = left < SOURCE_BATCH ? (unsigned)left : SOURCE_BATCH;

    for (unsigned i = 0; i < n; i++)
        batch[i] = (phx_desc_t){.kind = PHX_DESC_DATA, .seq = s->sent + i, .call_id = s->sent + i};
    n = phx_chan_push(phx_engine_out(e, PHX_TX, 0), batch, n);
    s->sent += n;
    return n;
}

static int source_progress(phx_engine_t *e, void *state)
{
    struct source *s = state;
    phx_desc_t batch[SINK_BATCH];
    unsigned got = phx_chan_pop(phx_engine_in(e, PHX_RX, 0), batch, SINK_BATCH);

    seq_check(&s->rx, batch, got);
    return (int)(source_send(e, s) + got);
}

static int source_reconfigure(phx_engine_t *e, void *state, const char *config, char *err,
                              size_t errlen)
{
    struct source *s = state;
    uint64_t count;
    int rc = parse_count(config, &count, err, errlen);

    if (!rc)
        s->total = count;
    return rc;
}

static int source_admin(phx_engine_t *e, void *state, const char *request, char **reply)
{
    const struct source *s = state;

    if (strcmp(request, "stats") != 0)
        return no_admin(reply);
    return asprintf(reply, "{\"sent\":%llu,\"received\":%llu,\"order_errors\":%llu,"
                    "\"created_on_runtime\":%u}",
                    (unsigned long long)s->sent, (unsigned long long)s->rx.seen,
                    (unsigned long long)s->rx.order_errors, s->runtime) < 0 ? -ENOMEM : 0;
}

static const phx_engine_ops_t source_engine = {
    .type = "TestSourceEngine",
    .state_version = 1,
    .ports = {[PHX_TX] = {.in = 0, .out = 1}, [PHX_RX] = {.in = 1, .out = 0}},
    .create = source_create,
    .progress = source_progress,
    .reconfigure = source_reconfigure,
    .admin = source_admin,
    .destroy = free_state,
};

/* ---- TestSinkEngine ----------------------------------------------------------------------- */

static int sink_create(phx_engine_t *e, const char *config, void **state, char *err,
                       size_t errlen)
{
    *state = calloc(1, sizeof(struct seq_check));
    return *state ? 0 : -ENOMEM;
}

static int sink_progress(phx_engine_t *e, void *state)
{
    phx_channel_t *out = phx_engine_out(e, PHX_RX, 0);
    unsigned room = phx_chan_space(out);
    phx_desc_t batch[SINK_BATCH];
    unsigned got = phx_chan_pop(phx_engine_in(e, PHX_TX, 0), batch,
                                room < SINK_BATCH ? room : SINK_BATCH);

    seq_check(state, batch, got);
    phx_chan_push(out, batch, got);
    return (int)got;
}

static int sink_admin(phx_engine_t *e, void *state, const char *request, char **reply)
{
    const struct seq_check *c = state;

    if (strcmp(request, "stats") != 0)
        return no_admin(reply);
    return asprintf(reply, "{\"reflected\":%llu,\"order_errors\":%llu}",
                    (unsigned long long)c->seen, (unsigned long long)c->order_errors) < 0
               ? -ENOMEM : 0;
}

static const phx_engine_ops_t sink_engine = {
    .type = "TestSinkEngine",
    .state_version = 1,
    .ports = {[PHX_TX] = {.in = 1, .out = 0}, [PHX_RX] = {.in = 0, .out = 1}},
    .create = sink_create,
    .progress = sink_progress,
    .admin = sink_admin,
    .destroy = free_state,
};

/* ---- TestTwoPortEngine -------------------------------------------------------------------- */

static int two_create(phx_engine_t *e, const char *config, void **state, char *err,
                      size_t errlen)
{
    *state = NULL;
    return 0;
}

static int two_progress(phx_engine_t *e, void *state)
{
    unsigned moved = 0;

    for (phx_dir_t d = PHX_TX; d <= PHX_RX; d++)
        for (unsigned lane = 0; lane < 2; lane++)
            moved += phx_chan_forward(phx_engine_in(e, d, lane), phx_engine_out(e, d, lane),
                                      SINK_BATCH);
    return (int)moved;
}

static const phx_engine_ops_t two_engine = {
    .type = "TestTwoPortEngine",
    .state_version = 1,
    .ports = {[PHX_TX] = {.in = 2, .out = 2}, [PHX_RX] = {.in = 2, .out = 2}},
    .create = two_create,
    .progress = two_progress,
    .destroy = free_state,
};

/* testpair_broken's second engine type exists nowhere: subscribing must fail and undo the first
 * engine. */
PHX_PLUGIN("testpair", "1.0.0", .engines = PHX_ENGINES(&source_engine, &sink_engine, &two_engine),
           .services = PHX_SERVICES(PHX_SERVICE("testpair", "TestSourceEngine", "TestSinkEngine"),
                                    PHX_SERVICE("testpair_broken", "TestSourceEngine",
                                                "MissingEngine")));
