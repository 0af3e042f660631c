/* test_policy_kind.c - the policy SDK's settings helper and state framing (phoenix/policy.h,
 * phx_policy_kind_t) alone, in process, on a toy policy with a number, a string and one counter:
 *
 *   create/set   create() puts the defaults with the config_string over them in effect; a live
 *                reconfigure changes only what it names; a refused value is one line naming
 *                the key and changes nothing
 *   round trip   dump() then restore(): settings (the string too), the kind's own state and the
 *                SDK's counters come back
 *   refusals     another plugin's blob (magic), a version outside the range read, a truncated
 *                blob, bytes left over, a blob whose settings are out of range: each refused
 *                with its sentence, no state made
 *   detach       the destroy op of PHX_POLICY_DEFINE_OPS calls the kind's detach() on a destroy
 *                for good, not on a live upgrade's handover (PHX_DESTROY_STATE_ONLY)
 *
 * Every loop is bounded. */
#include "graph.h"                      /* struct phx_engine */
#include "phoenix/handover.h"
#include "phoenix/policy.h"
#include "phx_test.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

struct toy_settings {
    unsigned limit;
    char    *label;
};

static const struct phx_setting toy_keys[] = {
    PHX_SETTING_UINT(struct toy_settings, limit, 10, 1, 1000, "a number"),
    PHX_SETTING_STRING(struct toy_settings, label, "plain", "a string"),
};
static PHX_SETTINGS_SCHEMA(toy_schema, "toy", struct toy_settings, toy_keys);

struct toy_state {
    phx_policy_t        pol;
    struct toy_settings set;
    uint64_t            seen;           /* the kind's own state */
    unsigned            applied;
};

static phx_verdict_t toy_decide(void *ctx, const phx_call_t *call, uint64_t now)
{
    return phx_verdict_forward();
}

static int apply(void *state, const void *settings, char *err, size_t errlen)
{
    struct toy_state *s = state;
    struct toy_settings copy;

    if (phx_settings_copy(&toy_schema, &copy, settings) < 0) {
        phx_settings_free(&toy_schema, &copy);
        return -ENOMEM;
    }
    phx_settings_free(&toy_schema, &s->set);
    s->set = copy;
    s->applied++;
    return 0;
}

static void *state_new(phx_engine_t *e)
{
    struct toy_state *s = calloc(1, sizeof(*s));

    if (s && (phx_settings_init(&toy_schema, &s->set) < 0 ||
              phx_policy_init(&s->pol, toy_decide, s, 1u << PHX_TX, 4) < 0)) {
        phx_settings_free(&toy_schema, &s->set);
        free(s);
        return NULL;
    }
    return s;
}

static void state_free(void *state)
{
    struct toy_state *s = state;

    phx_policy_fini(&s->pol);
    phx_settings_free(&toy_schema, &s->set);
    free(s);
}

static void dump_rest(void *state, phx_wbuf_t *w)
{
    phx_wbuf_u64(w, ((struct toy_state *)state)->seen);
}

static bool restore_rest(void *state, phx_rbuf_t *r, uint32_t version)
{
    ((struct toy_state *)state)->seen = phx_rbuf_u64(r) + version;
    return !r->failed;
}

static const phx_policy_kind_t toy_kind = {
    .type = "ToyEngine", .version = "3.0.0", .magic = 0x544f5931u, .state_version = 3,
    .oldest_state_version = 2, .schema = &toy_schema,
    .policy_at = offsetof(struct toy_state, pol), .settings_at = offsetof(struct toy_state, set),
    .state_new = state_new, .state_free = state_free, .apply = apply,
    .dump = dump_rest, .restore = restore_rest,
};

static struct phx_engine engine;        /* no plugin: its phoenix.conf settings are the defaults */

static struct toy_state *create(const char *config)
{
    char err[256] = "";
    void *s = NULL;

    CU_ASSERT_EQUAL(phx_policy_create(&toy_kind, &engine, config, &s, err, sizeof(err)), 0);
    return s;
}

static void test_create_set(void)
{
    char err[256] = "";
    struct toy_state *s = create("label = \"first\";");

    CU_ASSERT_FATAL(s != NULL);
    CU_ASSERT_EQUAL(s->set.limit, 10);
    CU_ASSERT_STRING_EQUAL(s->set.label, "first");
    CU_ASSERT_EQUAL(phx_policy_reconfigure(&toy_kind, &engine, s, "limit = 20;", err,
                                           sizeof(err)), 0);
    CU_ASSERT_EQUAL(s->set.limit, 20);
    CU_ASSERT_STRING_EQUAL(s->set.label, "first");          /* kept: not named */
    CU_ASSERT_EQUAL(phx_policy_reconfigure(&toy_kind, &engine, s, "limit = 2000;", err,
                                           sizeof(err)), -EINVAL);
    printf("(%s) ", err);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "limit"));
    CU_ASSERT_PTR_NULL(strchr(err, '\n'));
    CU_ASSERT_EQUAL(s->set.limit, 20);
    CU_ASSERT_EQUAL(s->applied, 2);
    void *none = NULL;
    CU_ASSERT_EQUAL(phx_policy_create(&toy_kind, &engine, "lmit = 3;", &none, err, sizeof(err)),
                    -EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "lmit"));
    CU_ASSERT_PTR_NULL(none);
    state_free(s);
}

static void test_round_trip(void)
{
    char err[256] = "";
    struct toy_state *s = create("limit = 7; label = \"with \\\"quotes\\\" and ; = {\";");
    phx_blob_t blob = { 0 };
    void *back = NULL;

    CU_ASSERT_FATAL(s != NULL);
    s->seen = 41;
    s->pol.counts[PHX_TX].forwarded = 99;
    snprintf(s->pol.last_reject, sizeof(s->pol.last_reject), "no more");
    CU_ASSERT_EQUAL_FATAL(phx_policy_dump(&toy_kind, s, &blob), 0);
    CU_ASSERT_EQUAL(blob.version, 3);
    CU_ASSERT_EQUAL_FATAL(phx_policy_restore(&toy_kind, &engine, &blob, &back, err,
                                             sizeof(err)), 0);
    struct toy_state *t = back;
    CU_ASSERT_EQUAL(t->set.limit, 7);
    CU_ASSERT_STRING_EQUAL(t->set.label, "with \"quotes\" and ; = {");
    CU_ASSERT_EQUAL(t->seen, 41 + 3);
    CU_ASSERT_EQUAL(t->pol.counts[PHX_TX].forwarded, 99);
    CU_ASSERT_STRING_EQUAL(t->pol.last_reject, "no more");
    state_free(t);
    state_free(s);
    free(blob.data);
}

/* Restoring IN must fail with RC and a sentence holding WHAT. */
static void expect_refused(const phx_blob_t *in, int rc, const char *what)
{
    char err[256] = "";
    void *s = NULL;

    CU_ASSERT_EQUAL(phx_policy_restore(&toy_kind, &engine, in, &s, err, sizeof(err)), rc);
    printf("(%s) ", err);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, what));
    CU_ASSERT_PTR_NULL(s);
}

static void test_refusals(void)
{
    struct toy_state *s = create(NULL);
    phx_blob_t good = { 0 };

    CU_ASSERT_FATAL(s != NULL);
    CU_ASSERT_EQUAL_FATAL(phx_policy_dump(&toy_kind, s, &good), 0);
    uint8_t *bytes = malloc(good.len + 1);
    CU_ASSERT_FATAL(bytes != NULL);
    memcpy(bytes, good.data, good.len);
    phx_blob_t b = { .data = bytes, .len = good.len, .version = 1 };
    expect_refused(&b, -ENOTSUP, "cannot read state version 1");
    b.version = 4;
    expect_refused(&b, -ENOTSUP, "cannot read state version 4");
    b.version = 2;                                          /* oldest_state_version: read */
    b.len = good.len - 3;
    expect_refused(&b, -EINVAL, "is damaged");
    b.len = good.len + 1;
    expect_refused(&b, -EINVAL, "is damaged");
    b.len = good.len;
    bytes[0] ^= 0xff;
    expect_refused(&b, -EINVAL, "not one of this plugin's");
    bytes[0] ^= 0xff;
    char *limit = memmem(bytes, good.len, "limit = 10", 10);
    CU_ASSERT_FATAL(limit != NULL);
    memcpy(limit, "limit = 00", 10);                        /* out of range: 0 */
    expect_refused(&b, -EINVAL, "limit");
    free(bytes);
    free(good.data);
    state_free(s);
}

/* The same kind with a detach() that counts its calls, through the ops the macro defines. */
static unsigned detached;
static const phx_engine_t *detached_from;

static void count_detach(void *state, phx_engine_t *e)
{
    (void)state;
    detached++;
    detached_from = e;
}

static const phx_policy_kind_t toy_detach_kind = {
    .type = "ToyEngine", .version = "3.0.0", .magic = 0x544f5931u, .state_version = 3,
    .schema = &toy_schema, .policy_at = offsetof(struct toy_state, pol),
    .settings_at = offsetof(struct toy_state, set), .state_new = state_new,
    .state_free = state_free, .apply = apply, .detach = count_detach,
};

PHX_POLICY_DEFINE_OPS(toy_detach_kind)

static const phx_engine_ops_t toy_detach_ops = { PHX_POLICY_OPS(toy_detach_kind) };

static void test_detach(void)
{
    char err[256] = "";
    void *s = NULL;

    CU_ASSERT_FATAL(toy_detach_ops.create(&engine, "", &s, err, sizeof(err)) == 0);
    toy_detach_ops.destroy(&engine, s, PHX_DESTROY_STATE_ONLY);     /* handed over */
    CU_ASSERT_EQUAL(detached, 0);
    CU_ASSERT_FATAL(toy_detach_ops.create(&engine, "", &s, err, sizeof(err)) == 0);
    toy_detach_ops.destroy(&engine, s, PHX_DESTROY_ALL);            /* detached */
    CU_ASSERT_EQUAL(detached, 1);
    CU_ASSERT_PTR_EQUAL(detached_from, &engine);
}

static const phx_test_case_t cases[] = {
    { "create and live set through the schema; a refusal changes nothing", test_create_set },
    { "dump then restore: settings, own state and counters come back", test_round_trip },
    { "foreign, out-of-range version, short, long, bad settings: refused", test_refusals },
    { "detach() on a destroy for good, not on an upgrade's handover", test_detach },
    { NULL, NULL },
};

int main(int argc, char **argv)
{
    return phx_test_main("policy_kind", cases, argc, argv);
}
