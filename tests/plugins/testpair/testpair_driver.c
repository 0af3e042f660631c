/* testpair_driver.c - plays the runtime for testpair subscriptions in unit tests, or watches a
 * real one drive them (see testpair_driver.h). */
#include "testpair_driver.h"

#include "runtime.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RUN_LIMIT_NS (60ull * 1000 * 1000 * 1000)

static unsigned long long now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (unsigned long long)ts.tv_sec * 1000000000ull + (unsigned long long)ts.tv_nsec;
}

static unsigned progress(phx_engine_t *e)
{
    int work = e->ops->progress(e, e->state);

    return work > 0 ? (unsigned)work : 0;
}

unsigned tp_turn(struct phx_subscription *sub)
{
    unsigned work = 0;

    for (unsigned i = 0; i < sub->n_engines; i++)
        work += progress(sub->engines[i]);
    return work;
}

void tp_progress(struct phx_subscription *sub, const char *type, unsigned times)
{
    phx_engine_t *e = phx_subscription_find(sub, type);

    for (unsigned i = 0; e && i < times; i++)
        progress(e);
}

bool tp_run_until_received(struct phx_subscription *sub, uint64_t n, unsigned max_turns)
{
    phx_engine_t *src = phx_subscription_find(sub, "TestSourceEngine");
    unsigned long long deadline = now_ns() + RUN_LIMIT_NS;

    for (unsigned turn = 0; turn < max_turns && now_ns() < deadline; turn++) {
        if (tp_stat(src, "received") >= (long long)n)
            return true;
        tp_turn(sub);
    }
    return tp_stat(src, "received") >= (long long)n;
}

long long tp_stat_of(struct phx_subscription *sub, const char *type, const char *key)
{
    if (sub->runtime)
        phx_runtime_suspend(sub->runtime, sub);
    long long v = tp_stat(phx_subscription_find(sub, type), key);
    if (sub->runtime)
        phx_runtime_resume(sub->runtime, sub);
    return v;
}

bool tp_wait_received(struct phx_subscription *sub, uint64_t n, unsigned timeout_ms)
{
    const struct timespec ms = {.tv_nsec = 1000 * 1000};

    for (unsigned waited = 0; waited < timeout_ms; waited++) {
        if (tp_stat_of(sub, "TestSourceEngine", "received") >= (long long)n)
            return true;
        nanosleep(&ms, NULL);
    }
    return tp_stat_of(sub, "TestSourceEngine", "received") >= (long long)n;
}

void tp_make_busy(struct phx_subscription *sub)
{
    unsigned last = sub->n_engines - 1;

    for (unsigned i = 0; i < 10; i++)
        progress(sub->engines[0]);
    for (unsigned i = 1; i < last; i++) {
        progress(sub->engines[i]);
        progress(sub->engines[i]);
    }
    progress(sub->engines[last]);
}

int tp_set_count(struct phx_subscription *sub, uint64_t count)
{
    phx_engine_t *src = phx_subscription_find(sub, "TestSourceEngine");
    char config[64], err[256];

    snprintf(config, sizeof(config), "count = %lluL;", (unsigned long long)count);
    return src->ops->reconfigure(src, src->state, config, err, sizeof(err));
}

uint64_t tp_stop_source(struct phx_subscription *sub)
{
    if (sub->runtime)
        phx_runtime_suspend(sub->runtime, sub);
    long long sent = tp_stat(phx_subscription_find(sub, "TestSourceEngine"), "sent");
    tp_set_count(sub, (uint64_t)sent);
    if (sub->runtime)
        phx_runtime_resume(sub->runtime, sub);
    return (uint64_t)sent;
}

/* E's "stats" reply, parsed; NULL when E has none. */
static json_object *stats_of(phx_engine_t *e)
{
    char *reply = NULL;

    if (!e || !e->ops->admin || e->ops->admin(e, e->state, "stats", &reply) || !reply)
        return NULL;
    json_object *j = json_tokener_parse(reply);
    free(reply);
    return j;
}

long long tp_stat(phx_engine_t *e, const char *key)
{
    json_object *j = stats_of(e), *v;
    long long n = -1;

    if (j && json_object_object_get_ex(j, key, &v))
        n = json_object_get_int64(v);
    json_object_put(j);
    return n;
}

const char *tp_stat_string(phx_engine_t *e, const char *key, char *buf, size_t len)
{
    json_object *j = stats_of(e), *v;

    buf[0] = '\0';
    if (j && json_object_object_get_ex(j, key, &v))
        snprintf(buf, len, "%s", json_object_get_string(v));
    json_object_put(j);
    return buf;
}

static void snapshot_ports(phx_engine_t *e, uint64_t chan[2][2][PHX_MAX_PORTS],
                           unsigned held[2][2][PHX_MAX_PORTS])
{
    for (int dir = 0; dir < 2; dir++) {
        for (unsigned p = 0; p < PHX_MAX_PORTS; p++) {
            phx_channel_t *in = e->in[dir][p], *out = e->out[dir][p];
            chan[dir][0][p] = in ? in->id : 0;
            chan[dir][1][p] = out ? out->id : 0;
            held[dir][0][p] = phx_chan_count(in);
            held[dir][1][p] = phx_chan_count(out);
        }
    }
}

void tp_snapshot(struct phx_subscription *sub, struct tp_snapshot *s)
{
    memset(s, 0, sizeof(*s));
    s->n_engines = sub->n_engines;
    for (unsigned i = 0; i < sub->n_engines; i++) {
        phx_engine_t *e = sub->engines[i];
        s->engines[i].id = e->id;
        snprintf(s->engines[i].type, sizeof(s->engines[i].type), "%s", e->ops->type);
        snapshot_ports(e, s->engines[i].chan, s->engines[i].held);
    }
}

bool tp_snapshot_equal(const struct tp_snapshot *a, const struct tp_snapshot *b)
{
    return memcmp(a, b, sizeof(*a)) == 0;
}

unsigned tp_queued(struct phx_subscription *sub)
{
    unsigned n = 0;

    for (unsigned i = 0; i < sub->n_engines; i++)
        for (int dir = 0; dir < 2; dir++)
            for (unsigned p = 0; p < PHX_MAX_PORTS; p++)
                n += phx_chan_count(sub->engines[i]->out[dir][p]);
    return n;
}
