/* null.c - NullEngine, the policy that does nothing: it forwards every descriptor unchanged in
 * both directions and counts them.
 *
 * It is the smallest complete policy, and the fixture of splice and live-upgrade tests: its
 * counts must carry across an upgrade, which makes a lost state visible. The same source builds
 * several versions of the plugin, chosen with PHX_NULL_BUILD:
 *
 *   1  "1.0.0"  state version 1: {tx, rx}                 (the installed plugin)
 *   2  "2.0.0"  state version 2: {tx, rx, upgrades}       reads versions 1 and 2
 *   3  "3.0.0"  state version 3, reads only version 3     (test: an incompatible build)
 *
 * `upgrades` counts the live upgrades the state went through. A state is serialised as an array
 * of uint64_t in host order: it never leaves the process.
 *
 * Its one setting, `batch`, bounds the descriptors moved per direction per progress() call: in
 * phoenix.conf as `settings = { null = { batch = 64; }; };`, per engine as the config_string of
 * an attach (or reconfigure) descriptor, "batch = 64;". Both go through settings.h. */
#include "phoenix/engine.h"
#include "phoenix/settings.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef PHX_NULL_BUILD
#define PHX_NULL_BUILD 1
#endif

#if PHX_NULL_BUILD == 1
#define NULL_VERSION       "1.0.0"
#define NULL_STATE_VERSION 1
#elif PHX_NULL_BUILD == 2
#define NULL_VERSION       "2.0.0"
#define NULL_STATE_VERSION 2
#elif PHX_NULL_BUILD == 3
#define NULL_VERSION       "3.0.0"
#define NULL_STATE_VERSION 3
#else
#error "PHX_NULL_BUILD must be 1, 2 or 3"
#endif

enum { F_TX, F_RX, F_UPGRADES, F_COUNT };

struct null_state {
    uint64_t f[F_COUNT];
    unsigned batch;         /* from the settings; not part of the dumped state */
};

/* Build 2 lays its settings out differently (a string first): a live upgrade from build 1 must
 * hand restore() the new build's settings, never the old struct read with the new schema. */
struct null_settings {
#if PHX_NULL_BUILD == 2
    char    *label;
#endif
    unsigned batch;
};

/* A few hundred descriptors per direction per call keeps progress() bounded. */
static const struct phx_setting null_keys[] = {
#if PHX_NULL_BUILD == 2
    PHX_SETTING_STRING(struct null_settings, label, "null 2.0.0", "a name shown nowhere yet"),
#endif
    PHX_SETTING_UINT(struct null_settings, batch, 256, 1, 4096,
                     "descriptors moved per direction per progress() call"),
};

static PHX_SETTINGS_SCHEMA(null_schema, "null", struct null_settings, null_keys);

/* The plugin's settings with CONFIG (a config_string) over them, into S. 0 or -EINVAL. */
static int take_settings(phx_engine_t *e, struct null_state *s, const char *config, char *err,
                         size_t errlen)
{
    struct null_settings set;

    if (phx_settings_derive(&null_schema, &set, phx_engine_settings(e), config, err, errlen) < 0)
        return -EINVAL;
    s->batch = set.batch;
    phx_settings_free(&null_schema, &set);
    return 0;
}

/* How many fields a state of VERSION holds, or 0 when this build cannot read it. */
static unsigned fields_of(uint32_t version)
{
#if PHX_NULL_BUILD == 2
    if (version == 1)
        return 2;
#endif
    if (version != NULL_STATE_VERSION)
        return 0;
    return NULL_STATE_VERSION == 2 ? 3 : 2;
}

static int null_create(phx_engine_t *e, const char *config, void **state, char *err,
                       size_t errlen)
{
    struct null_state *s = calloc(1, sizeof(*s));

    if (!s)
        return -ENOMEM;
    if (take_settings(e, s, config, err, errlen) < 0) {
        free(s);
        return -EINVAL;
    }
    *state = s;
    return 0;
}

static int null_progress(phx_engine_t *e, void *state)
{
    struct null_state *s = state;
    unsigned tx = phx_chan_forward(phx_engine_in(e, PHX_TX, 0), phx_engine_out(e, PHX_TX, 0),
                                   s->batch);
    unsigned rx = phx_chan_forward(phx_engine_in(e, PHX_RX, 0), phx_engine_out(e, PHX_RX, 0),
                                   s->batch);

    s->f[F_TX] += tx;
    s->f[F_RX] += rx;
    return (int)(tx + rx);
}

/* Work waits in an in channel only when the out channel was full: not a reason to stay awake
 * unless there is room to move it now. */
static int null_arm(phx_engine_t *e, void *state, phx_wait_t *w)
{
    unsigned ready = 0;

    for (phx_dir_t d = PHX_TX; d <= PHX_RX; d++)
        if (phx_chan_space(phx_engine_out(e, d, 0)))
            ready += phx_chan_count(phx_engine_in(e, d, 0));
    w->fd = -1;
    w->timeout_ms = -1;
    return (int)ready;
}

static int null_dump(phx_engine_t *e, void *state, phx_blob_t *out)
{
    size_t len = fields_of(NULL_STATE_VERSION) * sizeof(uint64_t);

    out->data = malloc(len);
    if (!out->data)
        return -ENOMEM;
    memcpy(out->data, ((struct null_state *)state)->f, len);
    out->len = len;
    out->version = NULL_STATE_VERSION;
    return 0;
}

static int null_restore(phx_engine_t *e, const phx_blob_t *in, void **state, char *err,
                        size_t errlen)
{
    unsigned fields = fields_of(in->version);

    if (!fields) {
        snprintf(err, errlen, "NullEngine %s cannot read state version %u", NULL_VERSION,
                 in->version);
        return -ENOTSUP;
    }
    if (in->len != fields * sizeof(uint64_t)) {
        snprintf(err, errlen, "NullEngine state version %u of %zu bytes, expected %zu",
                 in->version, in->len, fields * sizeof(uint64_t));
        return -EINVAL;
    }
    struct null_state *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    if (take_settings(e, s, phx_engine_config(e), err, errlen) < 0) {
        free(s);
        return -EINVAL;
    }
    memcpy(s->f, in->data, in->len);
    s->f[F_UPGRADES]++;
    *state = s;
    return 0;
}

static int null_reconfigure(phx_engine_t *e, void *state, const char *config, char *err,
                            size_t errlen)
{
    return take_settings(e, state, config, err, errlen);
}

static int null_admin(phx_engine_t *e, void *state, const char *request, char **reply)
{
    const struct null_state *s = state;

    if (strcmp(request, "stats") != 0)
        return -ENOTSUP;
    int n = NULL_STATE_VERSION == 2
                ? asprintf(reply, "{\"tx\":%llu,\"rx\":%llu,\"version\":\"%s\","
                           "\"upgrades\":%llu,\"batch\":%u}", (unsigned long long)s->f[F_TX],
                           (unsigned long long)s->f[F_RX], NULL_VERSION,
                           (unsigned long long)s->f[F_UPGRADES], s->batch)
                : asprintf(reply, "{\"tx\":%llu,\"rx\":%llu,\"version\":\"%s\",\"batch\":%u}",
                           (unsigned long long)s->f[F_TX], (unsigned long long)s->f[F_RX],
                           NULL_VERSION, s->batch);
    return n < 0 ? -ENOMEM : 0;
}

/* Both modes alike: the state references nothing but its own memory. */
static void null_destroy(phx_engine_t *e, void *state, phx_destroy_mode_t mode)
{
    free(state);
}

static const phx_engine_ops_t null_engine = {
    .type = "NullEngine",
    .state_version = NULL_STATE_VERSION,
    .ports = {[PHX_TX] = {.in = 1, .out = 1}, [PHX_RX] = {.in = 1, .out = 1}},
    .create = null_create,
    .progress = null_progress,
    .arm = null_arm,
    .dump = null_dump,
    .restore = null_restore,
    .reconfigure = null_reconfigure,
    .admin = null_admin,
    .destroy = null_destroy,
};

PHX_PLUGIN("null", NULL_VERSION, .engines = PHX_ENGINES(&null_engine), .settings = &null_schema);
