/* policy_fixture.c - policyctl against a node, and calls kept in flight through it (see
 * policy_fixture.h). */
#include "policy_fixture.h"

#include "mrpc_test.mrpc.h"
#include "phx_test.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#ifndef POLICYCTL_PATH
#error "the build must define POLICYCTL_PATH"
#endif

#define ARGS_MAX 40

bool policy_peer_of_job(struct mrpc_peer *p, const struct mrpc_node *n, const char *program,
                        const char *job)
{
    if (job)
        setenv("SLURM_JOB_ID", job, 1);
    bool ok = mrpc_peer_start(p, n, program, "ready");
    unsetenv("SLURM_JOB_ID");
    return ok;
}

int policy_ctl(const struct mrpc_node *n, const char *const *args, phx_test_run_result_t *r)
{
    char *argv[ARGS_MAX + 4];
    unsigned k = 0;

    argv[k++] = POLICYCTL_PATH;
    for (unsigned i = 0; args[i] && i < ARGS_MAX; i++)
        argv[k++] = (char *)args[i];
    argv[k++] = "--prefix";
    argv[k++] = (char *)n->d.prefix;
    argv[k] = NULL;
    if (phx_test_run(argv, NULL, r) != 0)
        fprintf(stderr, "policyctl %s: exit %d: %s%s\n", args[0], r->code, r->out, r->err);
    return r->code;
}

/* ARGS (HEAD then what AP lists, each after FLAG when FLAG is not NULL), NULL-terminated. */
static unsigned collect(const char **args, unsigned k, const char *flag, va_list ap)
{
    for (const char *s; (s = va_arg(ap, const char *)) && k + 3 < ARGS_MAX;) {
        if (flag)
            args[k++] = flag;
        args[k++] = s;
    }
    args[k] = NULL;
    return k;
}

/* `policyctl attach TYPE --pid PID --set S...` (the settings in AP), output in R; exit code. */
static int attach_v(const struct mrpc_node *n, const char *type, pid_t pid,
                    phx_test_run_result_t *r, va_list ap)
{
    const char *args[ARGS_MAX + 1] = { "attach", type, "--pid" };
    char p[16];

    snprintf(p, sizeof(p), "%d", (int)pid);
    args[3] = p;
    collect(args, 4, "--set", ap);
    return policy_ctl(n, args, r);
}

int policy_attach(const struct mrpc_node *n, const char *type, pid_t pid, ...)
{
    static phx_test_run_result_t r;
    va_list ap;

    va_start(ap, pid);
    int rc = attach_v(n, type, pid, &r, ap);
    va_end(ap);
    return rc;
}

int policy_detach(const struct mrpc_node *n, const char *type, pid_t pid)
{
    static phx_test_run_result_t r;
    char p[16];

    snprintf(p, sizeof(p), "%d", (int)pid);
    return policy_ctl(n, (const char *[]){ "detach", type, "--pid", p, NULL }, &r);
}

int policy_set(const struct mrpc_node *n, const char *engine, pid_t pid, ...)
{
    static phx_test_run_result_t r;
    const char *args[ARGS_MAX + 1] = { "set" };
    char id[24];
    va_list ap;

    snprintf(id, sizeof(id), "%ld", policy_engine_id(n, engine, pid));
    args[1] = id;
    va_start(ap, pid);
    collect(args, 2, NULL, ap);
    va_end(ap);
    return policy_ctl(n, args, &r);
}

/* The entry of `policyctl list --json`'s "attached" for ENGINE of PID (and SID, when not -1; a
 * new reference), or NULL. */
static json_object *attached_sid(const struct mrpc_node *n, const char *engine, pid_t pid,
                                 long sid)
{
    static phx_test_run_result_t r;
    json_object *doc, *list, *found = NULL;

    if (policy_ctl(n, (const char *[]){ "list", "--json", NULL }, &r) != 0 ||
        !(doc = json_tokener_parse(r.out)))
        return NULL;
    if (json_object_object_get_ex(doc, "attached", &list))
        for (size_t i = 0; !found && i < json_object_array_length(list); i++) {
            json_object *a = json_object_array_get_idx(list, i), *e;
            if (policy_json_path_int(a, "pid") == (long)pid &&
                (sid < 0 || policy_json_path_int(a, "sid") == sid) &&
                json_object_object_get_ex(a, "engine", &e) &&
                strcmp(json_object_get_string(e), engine) == 0)
                found = json_object_get(a);
        }
    json_object_put(doc);
    return found;
}

static json_object *attached(const struct mrpc_node *n, const char *engine, pid_t pid)
{
    return attached_sid(n, engine, pid, -1);
}

json_object *policy_stats_sid(const struct mrpc_node *n, const char *engine, pid_t pid,
                              unsigned sid)
{
    json_object *a = attached_sid(n, engine, pid, sid), *stats = NULL;

    if (a && json_object_object_get_ex(a, "stats", &stats))
        json_object_get(stats);
    json_object_put(a);
    return stats;
}

long policy_engine_id_sid(const struct mrpc_node *n, const char *engine, pid_t pid,
                          unsigned sid)
{
    json_object *a = attached_sid(n, engine, pid, sid);
    long id = policy_json_path_int(a, "engine_id");

    json_object_put(a);
    return id;
}

json_object *policy_stats(const struct mrpc_node *n, const char *engine, pid_t pid)
{
    json_object *a = attached(n, engine, pid), *stats = NULL;

    if (a && json_object_object_get_ex(a, "stats", &stats))
        json_object_get(stats);
    json_object_put(a);
    return stats;
}

long policy_engine_id(const struct mrpc_node *n, const char *engine, pid_t pid)
{
    json_object *a = attached(n, engine, pid);
    long id = policy_json_path_int(a, "engine_id");

    json_object_put(a);
    return id;
}

long policy_json_path_int(json_object *o, const char *path)
{
    char key[64];

    while (o && *path) {
        size_t len = strcspn(path, ".");
        if (len >= sizeof(key))
            return -1;
        memcpy(key, path, len);
        key[len] = '\0';
        if (!json_object_object_get_ex(o, key, &o))
            return -1;
        path += len + (path[len] == '.');
    }
    return o && json_object_is_type(o, json_type_int) ? (long)json_object_get_int64(o) : -1;
}

/* ---- refusals ------------------------------------------------------------------------------- */

void policy_expect_refusal(int rc, const phx_test_run_result_t *r, const char *want)
{
    printf("(%.*s) ", (int)strcspn(r->err, "\n"), r->err);
    CU_ASSERT_EQUAL(rc, 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(r->err, want));
    CU_ASSERT_EQUAL(strchr(r->err, '\n') - r->err + 1, (long)strlen(r->err));    /* one line */
}

void policy_attach_refused(const struct mrpc_node *n, const char *type, pid_t pid,
                           const char *want, ...)
{
    static phx_test_run_result_t r;
    va_list ap;

    va_start(ap, want);
    int rc = attach_v(n, type, pid, &r, ap);
    va_end(ap);
    policy_expect_refusal(rc, &r, want);
}

/* ---- traffic -------------------------------------------------------------------------------- */

void policy_flow_init(struct policy_flow *f, mrpc_ctx_t *ctx, mrpc_conn_t *conn, size_t payload)
{
    memset(f, 0, sizeof(*f));
    f->ctx = ctx;
    f->conn = conn;
    f->payload = payload;
}

static void flow_done(mrpc_ctx_t *c, void *token, const mrpc_status_t *st,
                      const ProtobufCMessage *reply)
{
    struct policy_flow_call *k = token;
    struct policy_flow *f = k->flow;

    f->inflight--;
    f->done++;
    if (k->seq < POLICY_FLOW_CALLS)
        f->status[k->seq] = st->code;
    if (st->code == PHX_OK) {
        f->ok++;
    } else {
        f->failed++;
        f->exhausted += st->code == PHX_RESOURCE_EXHAUSTED;
        if ((int)st->code != f->want && f->wrong++ == 0)
            printf("(unexpected %s: %s) ", phx_status_name(st->code), st->message);
        if (st->message[0] && f->sentences++ == 0)
            printf("(the caller reads: %s: %s) ", phx_status_name(st->code), st->message);
        if (f->failed == 1)
            snprintf(f->message, sizeof(f->message), "%s", st->message);
    }
    if (reply)
        mrpc_release(c, reply);
}

/* The options of F's calls: each one's id into last_id. */
#define opts_of(f) \
    ((mrpc_call_opts_t){ .field_mask = MRPC_CALL_OPT_FIELD_ID, .id = &(f)->last_id })

static mrpc_status_t call_fail(struct policy_flow *f, struct policy_flow_call *k)
{
    MrpcTest__FailRequest *q = (MrpcTest__FailRequest *)mrpc_message_new(
        f->ctx, &mrpc_test__fail_request__descriptor);

    if (!q)
        return (mrpc_status_t){ .code = PHX_RESOURCE_EXHAUSTED };
    q->code = PHX_NOT_FOUND;
    return mrpc_test__echo__fail_async(f->conn, q, flow_done, k, &opts_of(f));
}

static mrpc_status_t call_echo(struct policy_flow *f, struct policy_flow_call *k)
{
    static uint8_t data[1 << 16];
    MrpcTest__Blob *b = (MrpcTest__Blob *)mrpc_message_new(f->ctx, &mrpc_test__blob__descriptor);

    if (!b || f->payload > sizeof(data))
        return (mrpc_status_t){ .code = PHX_RESOURCE_EXHAUSTED };
    b->seq = k->seq;
    if (f->payload)
        mrpc_bytes_set(f->ctx, &b->data, data, f->payload);
    return mrpc_test__echo__echo_async(f->conn, b, flow_done, k, &opts_of(f));
}

bool policy_flow_submit(struct policy_flow *f, unsigned seq, bool fail)
{
    struct policy_flow_call *k = &f->calls[seq % POLICY_FLOW_CALLS];

    *k = (struct policy_flow_call){ f, seq };
    if ((fail ? call_fail(f, k) : call_echo(f, k)).code != PHX_OK)
        return false;
    f->inflight++;
    return true;
}

void policy_flow_drain(struct policy_flow *f)
{
    unsigned long long deadline = phx_test_now_ns() + 30 * PHX_NS;

    while (f->inflight && phx_test_now_ns() < deadline)
        CU_ASSERT_FATAL(mrpc_ctx_progress(f->ctx, 20) >= 0);
    CU_ASSERT_EQUAL_FATAL(f->inflight, 0);
}

unsigned policy_flow_run(struct policy_flow *f, unsigned first, unsigned n, unsigned width,
                         bool fail, int want)
{
    unsigned long long deadline = phx_test_now_ns() + 60 * PHX_NS;
    unsigned seq = first, ok0 = f->ok;

    f->want = want;
    while (seq < first + n && phx_test_now_ns() < deadline) {
        while (f->inflight < width && seq < first + n)
            CU_ASSERT_FATAL(policy_flow_submit(f, seq++, fail));
        CU_ASSERT_FATAL(mrpc_ctx_progress(f->ctx, 1) >= 0);
    }
    policy_flow_drain(f);
    CU_ASSERT_EQUAL(seq, first + n);
    return f->ok - ok0;
}

unsigned policy_calls(const struct mrpc_setup *up, unsigned n, bool fail)
{
    static struct policy_flow f;

    policy_flow_init(&f, up->ctx, up->conn, 48);
    unsigned ok = policy_flow_run(&f, 0, n, POLICY_CALLS_WIDTH, fail,
                                  fail ? PHX_NOT_FOUND : PHX_OK);
    CU_ASSERT_EQUAL(f.ok + f.failed, n);
    return ok;
}

void policy_calls_ok(mrpc_ctx_t *ctx, mrpc_conn_t *conn, size_t payload, unsigned n)
{
    static struct policy_flow f;

    policy_flow_init(&f, ctx, conn, payload);
    CU_ASSERT_EQUAL(policy_flow_run(&f, 0, n, 4, false, PHX_OK), n);
    CU_ASSERT_EQUAL(f.failed, 0);
}

/* ---- a held call cancelled ------------------------------------------------------------------ */

long policy_app_stat(const struct mrpc_node *n, pid_t pid, const char *name)
{
    struct mrpc_sub sub;
    char id[32];

    if (!mrpc_ctl_find_sub(n, pid, &sub))
        return -1;
    snprintf(id, sizeof(id), "%ld", sub.front_engine);
    json_object *stats = mrpc_ctl_json(n, (const char *[]){ "engine", id, "stats", NULL });
    long v = mrpc_json_int(stats, name);
    json_object_put(stats);
    return v;
}

static long held_stat(const struct policy_held *h, const char *path)
{
    json_object *o = h->sid < 0 ? policy_stats(h->node, h->engine, h->pid)
                                : policy_stats_sid(h->node, h->engine, h->pid, (unsigned)h->sid);
    long v = policy_json_path_int(o, path);

    json_object_put(o);
    return v;
}

/* Progresses F's context for MS milliseconds. */
static void flow_run_for(struct policy_flow *f, unsigned ms)
{
    unsigned long long end = phx_test_now_ns() + ms * 1000000ull;

    while (phx_test_now_ns() < end)
        CU_ASSERT_FATAL(mrpc_ctx_progress(f->ctx, 1) >= 0);
}

void policy_cancel_held(struct policy_flow *f, const struct policy_held *h)
{
    unsigned done = f->done, failed = f->failed, wrong = f->wrong, i;
    int want = f->want;

    for (i = 0; i < 100 && held_stat(h, "tx.waiting") < 1; i++)
        flow_run_for(f, 100);
    CU_ASSERT_EQUAL_FATAL(held_stat(h, "tx.waiting"), 1);
    long forwarded = held_stat(h, "tx.forwarded"), cancelled = held_stat(h, "tx.cancelled");
    long incoming = policy_app_stat(h->server, h->server_pid, "incoming_calls");
    CU_ASSERT_FATAL(incoming >= 0);
    CU_ASSERT_EQUAL(f->done, done);                     /* still waiting for its answer */
    f->want = PHX_CANCELLED;
    CU_ASSERT_EQUAL_FATAL(mrpc_cancel(f->ctx, f->last_id), PHX_OK);
    CU_ASSERT_EQUAL(f->done, done + 1);                 /* answered at once ... */
    CU_ASSERT_EQUAL(f->failed, failed + 1);
    CU_ASSERT_EQUAL(f->wrong, wrong);                   /* ... with CANCELLED */
    f->want = want;
    for (i = 0; i < 100 && held_stat(h, "tx.cancelled") <= cancelled; i++)
        flow_run_for(f, 50);
    printf("(withdrawn after %u polls) ", i);
    CU_ASSERT_EQUAL(held_stat(h, "tx.cancelled"), cancelled + 1);
    CU_ASSERT_EQUAL(held_stat(h, "tx.waiting"), 0);
    CU_ASSERT_EQUAL(held_stat(h, "tx.forwarded"), forwarded);
    flow_run_for(f, 300);
    CU_ASSERT_EQUAL(f->done, done + 1);                 /* ... and only once */
    CU_ASSERT_EQUAL(f->inflight, 0);
    CU_ASSERT_EQUAL(policy_app_stat(h->server, h->server_pid, "incoming_calls"), incoming);
}
