/* kind.c - the policy SDK's settings and state framing: what every policy plugin's create(),
 * reconfigure(), dump() and restore() would otherwise write again (phoenix/policy.h,
 * phx_policy_kind_t).
 *
 * Settings go through the platform's schema helper (phoenix/settings.h) and are put in effect by
 * the policy's apply(); the blob carries them as their libconfig text, read back through the
 * same helper, so a blob is checked exactly as a config_string is and never trusted to be in
 * range. Plan, validate, then mutate: a refused setting or a damaged blob changes nothing (a
 * failed restore frees the state it was building). */
#include "phoenix/policy.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SETTINGS_TEXT_MAX 8192      /* the settings of a blob, as text, at most */

static phx_policy_t *policy_of(const phx_policy_kind_t *k, const void *state)
{
    return (phx_policy_t *)((char *)state + k->policy_at);
}

static void *settings_of(const phx_policy_kind_t *k, void *state)
{
    return (char *)state + k->settings_at;
}

/* ---- settings ------------------------------------------------------------------------------- */

int phx_policy_settings_take(const phx_policy_kind_t *k, phx_engine_t *e, void *state,
                             const void *base, const char *config, char *err, size_t errlen)
{
    if (k->take)
        return k->take(state, config, err, errlen);
    void *set = malloc(k->schema->size);
    if (!set)
        return -ENOMEM;
    int rc = phx_settings_derive(k->schema, set, base ? base : phx_engine_settings(e), config,
                                 err, errlen);
    if (rc == 0) {
        rc = k->apply(state, set, err, errlen);
        phx_settings_free(k->schema, set);
    } else {
        rc = -EINVAL;
    }
    free(set);
    return rc;
}

int phx_policy_create(const phx_policy_kind_t *k, phx_engine_t *e, const char *config,
                      void **state, char *err, size_t errlen)
{
    void *s = k->state_new(e);

    if (!s)
        return -ENOMEM;
    int rc = phx_policy_settings_take(k, e, s, NULL, config, err, errlen);
    if (rc < 0) {
        k->state_free(s);
        return rc;
    }
    *state = s;
    return 0;
}

int phx_policy_reconfigure(const phx_policy_kind_t *k, phx_engine_t *e, void *state,
                           const char *config, char *err, size_t errlen)
{
    const void *in_effect = k->take ? NULL : settings_of(k, state);

    return phx_policy_settings_take(k, e, state, in_effect, config, err, errlen);
}

/* ---- live upgrade --------------------------------------------------------------------------- */

/* The settings in effect of STATE as libconfig text, a blob of W. -ENOMEM or -EIO. */
static int dump_settings(const phx_policy_kind_t *k, const void *state, phx_wbuf_t *w)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);

    if (!f)
        return -ENOMEM;
    int rc = phx_settings_dump(k->schema, settings_of(k, (void *)state), "", f);
    if (fclose(f) != 0 || rc < 0 || len > SETTINGS_TEXT_MAX)
        rc = rc < 0 ? rc : -EIO;
    else
        phx_wbuf_blob(w, text, len);
    free(text);
    return rc;
}

int phx_policy_dump(const phx_policy_kind_t *k, void *state, phx_blob_t *out)
{
    phx_wbuf_t w = { 0 };

    phx_wbuf_u32(&w, k->magic);
    int rc = k->schema ? dump_settings(k, state, &w) : 0;
    if (rc == 0 && k->dump)
        k->dump(state, &w);
    if (rc == 0)
        phx_policy_dump_counts(policy_of(k, state), &w);
    if (phx_wbuf_finish(&w, out) < 0 || rc < 0)
        return rc < 0 ? rc : -ENOMEM;
    out->version = k->state_version;
    return 0;
}

/* The settings text of R put in effect on S, checked as a config_string would be. */
static int restore_settings(const phx_policy_kind_t *k, phx_engine_t *e, void *s, phx_rbuf_t *r,
                            char *err, size_t errlen)
{
    size_t n = 0;
    const char *at = phx_rbuf_blob(r, SETTINGS_TEXT_MAX, &n);

    if (!at) {
        snprintf(err, errlen, "%s state is damaged (its settings)", k->type);
        return -EINVAL;
    }
    char *text = strndup(at, n);
    if (!text)
        return -ENOMEM;
    int rc = phx_policy_settings_take(k, e, s, NULL, text, err, errlen);
    free(text);
    return rc;
}

/* The blob of IN into the fresh state S. */
static int restore_into(const phx_policy_kind_t *k, phx_engine_t *e, const phx_blob_t *in,
                        void *s, char *err, size_t errlen)
{
    phx_rbuf_t r;

    phx_rbuf_init(&r, in);
    if (phx_rbuf_u32(&r) != k->magic || r.failed) {
        snprintf(err, errlen, "%s state is not one of this plugin's", k->type);
        return -EINVAL;
    }
    int rc = k->schema ? restore_settings(k, e, s, &r, err, errlen) : 0;
    if (rc < 0)
        return rc;
    if ((k->restore && !k->restore(s, &r, in->version)) ||
        !phx_policy_restore_counts(policy_of(k, s), &r) || r.failed || r.left) {
        snprintf(err, errlen, "%s state of %zu bytes is damaged", k->type, in->len);
        return -EINVAL;
    }
    return 0;
}

int phx_policy_restore(const phx_policy_kind_t *k, phx_engine_t *e, const phx_blob_t *in,
                       void **state, char *err, size_t errlen)
{
    uint32_t oldest = k->oldest_state_version ? k->oldest_state_version : k->state_version;

    if (in->version < oldest || in->version > k->state_version) {
        snprintf(err, errlen, "%s %s cannot read state version %u", k->type, k->version,
                 in->version);
        return -ENOTSUP;
    }
    void *s = k->state_new(e);
    if (!s)
        return -ENOMEM;
    int rc = restore_into(k, e, in, s, err, errlen);
    if (rc < 0) {
        k->state_free(s);
        return rc;
    }
    *state = s;
    return 0;
}
