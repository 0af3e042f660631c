/* test_mrpc_untrusted.c - a malicious app against MrpcEngine: hand-made descriptors and messages.
 *
 * This process registers with the client node's service directly (phoenix/client.h, no libmrpc)
 * and speaks mrpc/app_proto.h by hand: it registers the Echo service's layouts, connects to the
 * test server on the server node, and then submits what libmrpc never would. Each bad submission
 * must be refused with the right status (and, for a call, its message handed back with
 * SEND_DONE), and a valid call right after it must still come back intact:
 *
 *   a pointer outside the send heap, a pointer into the receive heap, a request outside the send
 *   heap, a huge repeated count, a cycle of nested messages, a string without terminator, a
 *   request of the wrong size      -> INVALID_ARGUMENT
 *   an unknown method               -> NOT_FOUND
 *   a call on an unknown connection -> UNAVAILABLE
 *   a garbage layout blob, a connect address without terminator, a RELEASE of an address that
 *   is no buffer of ours, an unknown kind -> INVALID_ARGUMENT in their own completions
 *   a non-zero `reserved` field in a submission other than CALL -> INVALID_ARGUMENT in ERROR
 *   message layouts that differ from the server's -> FAILED_PRECONDITION, "layout mismatch"
 *   thousands of calls while reading no completion -> the service holds back, loses nothing
 *   a message rewritten by another thread while the service reads it -> whatever status, the
 *   services survive and keep serving
 *
 * and MrpcEngine's admin "stats" (through phoenixctl) counts what it refused and holds nothing
 * once every buffer was released.
 *
 * Every wait is bounded; every process is stopped by PID. */
#include "marshal.h"
#include "mrpc/app_proto.h"
#include "mrpc_fixture.h"
#include "mrpc_test.mrpc.h"
#include "phoenix/client.h"
#include "phx_test.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CONN       1u
#define WAIT_NS    (10 * PHX_NS)
#define SLAB_BYTES (256u << 10)     /* heap.slab_kb of the fixture's nodes */

static struct mrpc_node server_node, client_node;
static struct mrpc_peer peer;
static phx_client_t *app;
static phx_heap_t *heap;
static uint64_t next_call = 1;

/* ---- the raw protocol -------------------------------------------------------------------- */

static void submit(const phx_desc_t *d)
{
    unsigned long long deadline = phx_test_now_ns() + WAIT_NS;

    while (phx_client_submit(app, d, 1) == 0 && phx_test_now_ns() < deadline)
        phx_test_sleep_ms(1);
}

static void release(uint64_t addr)
{
    phx_desc_t d = { .kind = MRPC_APP_RELEASE, .addr = addr };

    if (addr)
        submit(&d);
}

/* What the service answered about one submission. */
struct answer {
    bool       got;             /* the awaited completion came */
    phx_desc_t d;
    char       text[MRPC_APP_TEXT_MAX];
    bool       send_done;       /* for calls: SEND_DONE came too */
    uint64_t   send_done_addr;
};

static bool answers(const phx_desc_t *d, uint16_t kind, uint64_t call_id)
{
    return d->kind == kind && (kind != MRPC_APP_REPLY_RECEIVED || d->call_id == call_id);
}

/* Copies a text the service wrote (non-OK statuses) and gives the buffer back. */
static void take(struct answer *a, const phx_desc_t *d)
{
    a->got = true;
    a->d = *d;
    a->text[0] = '\0';
    if (d->status != PHX_OK && d->addr && d->len && d->len <= sizeof(a->text)) {
        memcpy(a->text, (const void *)(uintptr_t)d->addr, d->len);
        a->text[d->len - 1] = '\0';
    }
    if (d->status != PHX_OK)
        release(d->addr);
}

/* Waits for the completion of KIND (for replies: of CALL_ID, and its SEND_DONE as well). Replies
 * to other calls are released; everything else is ignored. */
static struct answer await(uint16_t kind, uint64_t call_id)
{
    struct answer a = { .got = false };
    unsigned long long deadline = phx_test_now_ns() + WAIT_NS;
    bool want_send_done = kind == MRPC_APP_REPLY_RECEIVED;

    while ((!a.got || (want_send_done && !a.send_done)) && phx_test_now_ns() < deadline) {
        phx_desc_t d;
        if (phx_client_wait(app, &d, 1, 100) != 1)
            continue;
        if (answers(&d, kind, call_id))
            take(&a, &d);
        else if (d.kind == MRPC_APP_SEND_DONE && d.call_id == call_id) {
            a.send_done = true;
            a.send_done_addr = d.addr;
        } else if (d.kind == MRPC_APP_REPLY_RECEIVED || d.kind == MRPC_APP_ERROR)
            release(d.addr);
    }
    return a;
}

static struct answer call_method(uint32_t method_id, uint32_t conn, const void *msg, size_t len)
{
    phx_desc_t d = { .kind = MRPC_APP_CALL, .conn_id = conn,
                     .service_id = MRPC_TEST__ECHO__SERVICE_ID, .method_id = method_id,
                     .call_id = next_call++, .addr = (uintptr_t)msg, .len = len };

    submit(&d);
    return await(MRPC_APP_REPLY_RECEIVED, d.call_id);
}

static struct answer echo(const MrpcTest__Blob *b)
{
    return call_method(MRPC_TEST__ECHO__ECHO__METHOD_ID, CONN, b, sizeof(*b));
}

/* ---- messages, by hand in the send heap -------------------------------------------------- */

static void *alloc(size_t size)
{
    void *p = phx_heap_calloc(heap, 1, size);

    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    return p;
}

static MrpcTest__Blob *new_blob(size_t data_len)
{
    MrpcTest__Blob *b = alloc(sizeof(*b));

    mrpc_test__blob__init(b);
    b->data.data = alloc(data_len);
    b->data.len = data_len;
    for (size_t i = 0; i < data_len; i++)
        b->data.data[i] = (uint8_t)(i * 7 + 3);
    return b;
}

static MrpcTest__Node *new_node(const char *name)
{
    MrpcTest__Node *n = alloc(sizeof(*n));

    mrpc_test__node__init(n);
    n->name = strcpy(alloc(strlen(name) + 1), name);
    return n;
}

/* A Blob whose one node is N. */
static MrpcTest__Blob *blob_with_node(MrpcTest__Node *n)
{
    MrpcTest__Blob *b = new_blob(16);

    b->nodes = alloc(sizeof(*b->nodes));
    b->nodes[0] = n;
    b->n_nodes = 1;
    return b;
}

/* ---- fixture ----------------------------------------------------------------------------- */

static bool expect_ok(struct answer a, const char *what)
{
    if (a.got && a.d.status == PHX_OK)
        return true;
    fprintf(stderr, "%s: %s: %s\n", what, a.got ? phx_status_name(a.d.status) : "no answer",
            a.text);
    return false;
}

static bool register_layouts(const mrpc_service_desc_t *svc)
{
    void *blob;
    size_t len;

    if (mrpc_layout_encode_service(svc, &blob, &len) < 0)
        return false;
    void *copy = memcpy(phx_heap_alloc(heap, len), blob, len);
    free(blob);
    phx_desc_t d = { .kind = MRPC_APP_REGISTER_SERVICE, .service_id = svc->service_id,
                     .addr = (uintptr_t)copy, .len = len };
    submit(&d);
    return expect_ok(await(MRPC_APP_REGISTERED, 0), "register");
}

static bool connect_peer(void)
{
    char *addr = strcpy(phx_heap_alloc(heap, sizeof(peer.addr)), peer.addr);
    phx_desc_t d = { .kind = MRPC_APP_CONNECT, .conn_id = CONN, .addr = (uintptr_t)addr,
                     .len = strlen(addr) + 1 };

    submit(&d);
    return expect_ok(await(MRPC_APP_CONNECTED, 0), "connect");
}

/* Makes C the app the helpers above speak for. */
static void use_app(phx_client_t *c)
{
    app = c;
    heap = phx_client_send_heap(c);
}

/* A new registration of ours with the client node's service (one more subscription), made
 * current once the service greeted it; NULL if it does not come up. */
static phx_client_t *open_app(void)
{
    char err[256];
    phx_client_t *c = phx_client_register(&(struct phx_client_params){
        .field_mask = PHX_CLIENT_PARAM_FIELD_SERVICE | PHX_CLIENT_PARAM_FIELD_PREFIX,
        .service = "mrpc", .prefix = client_node.d.prefix }, err, sizeof(err));

    if (!c) {
        fprintf(stderr, "register: %s\n", err);
        return NULL;
    }
    use_app(c);
    struct answer welcome = await(MRPC_APP_WELCOME, 0);
    if (welcome.got && welcome.d.call_id == MRPC_APP_PROTO_VERSION)
        return c;
    phx_client_close(c);
    return NULL;
}

static bool bring_up(void)
{
    if (!mrpc_node_start(&server_node, "untrusted-srv", MRPC_SIDE_SERVER) ||
        !mrpc_client_node_start(&client_node, &server_node, "untrusted-cli") ||
        !mrpc_peer_start(&peer, &server_node, MRPC_TEST_PEER, "ready"))
        return false;
    return open_app() && register_layouts(&mrpc_test__echo__service) && connect_peer();
}

/* Starts the nodes, the test server and our side once; a failed start fails every case. */
static void need_nodes(void)
{
    CU_ASSERT_FATAL(mrpc_bring_up_once(bring_up));
}

/* Stops everything; false when a service or the test server did not exit cleanly. */
static bool tear_down(void)
{
    phx_client_close(app);
    if (peer.pid > 0)
        mrpc_peer_stop(&peer);
    bool clean = mrpc_node_stop(&client_node, SIGTERM);
    return mrpc_node_stop(&server_node, SIGTERM) && clean;
}

/* A valid call right after: the service still serves this app, and the data is intact. */
static void still_serves(void)
{
    MrpcTest__Blob *b = new_blob(100);
    struct answer a = echo(b);

    CU_ASSERT_TRUE(a.got && a.send_done);
    CU_ASSERT_EQUAL(a.d.status, PHX_OK);
    if (a.d.status != PHX_OK || !a.d.addr) {
        fprintf(stderr, "valid call after a bad one: %s: %s\n", phx_status_name(a.d.status),
                a.text);
        return;
    }
    const MrpcTest__Blob *r = (const MrpcTest__Blob *)(uintptr_t)a.d.addr;
    CU_ASSERT_EQUAL(r->data.len, 100u);
    CU_ASSERT(r->data.len == 100 && memcmp(r->data.data, b->data.data, 100) == 0);
    release(a.d.addr);
}

/* Submits the Echo call of B and expects STATUS with a text containing WHY, and B back. */
static void refused(const MrpcTest__Blob *b, size_t len, phx_status_t status, const char *why)
{
    struct answer a = call_method(MRPC_TEST__ECHO__ECHO__METHOD_ID, CONN, b, len);

    CU_ASSERT_TRUE(a.got);
    CU_ASSERT_EQUAL(a.d.status, status);
    CU_ASSERT_PTR_NOT_NULL(strstr(a.text, why));
    if (a.d.status != (int32_t)status || !strstr(a.text, why))
        fprintf(stderr, "expected %s with \"%s\", got %s: \"%s\"\n", phx_status_name(status), why,
                phx_status_name(a.d.status), a.text);
    CU_ASSERT_TRUE(a.send_done);
    CU_ASSERT_EQUAL(a.send_done_addr, (uintptr_t)b);
    still_serves();
}

/* ---- cases ------------------------------------------------------------------------------- */

static void test_outside_send_heap(void)
{
    static uint8_t outside[64];

    need_nodes();
    MrpcTest__Blob *b = new_blob(16);
    b->data.data = outside;
    b->data.len = sizeof(outside);
    refused(b, sizeof(*b), PHX_INVALID_ARGUMENT, "outside the send heap");
}

static void test_into_recv_heap(void)
{
    need_nodes();
    MrpcTest__Blob *b = new_blob(16);
    b->data.data = (uint8_t *)phx_client_recv_base(app);
    b->data.len = 64;
    refused(b, sizeof(*b), PHX_INVALID_ARGUMENT, "outside the send heap");
}

static void test_request_outside(void)
{
    static MrpcTest__Blob on_stack_like;

    need_nodes();
    mrpc_test__blob__init(&on_stack_like);
    refused(&on_stack_like, sizeof(on_stack_like), PHX_INVALID_ARGUMENT,
            "message mrpc_test.Blob at");
    refused(&on_stack_like, sizeof(on_stack_like), PHX_INVALID_ARGUMENT,
            "is outside the send heap");
}

static void test_wrong_size(void)
{
    need_nodes();
    refused(new_blob(8), 8, PHX_INVALID_ARGUMENT, "bytes");
}

static void test_huge_count(void)
{
    need_nodes();
    MrpcTest__Blob *b = blob_with_node(new_node("n"));
    b->n_nodes = (size_t)1 << 40;
    refused(b, sizeof(*b), PHX_INVALID_ARGUMENT,
            "field mrpc_test.Blob.nodes points outside the send heap");
}

static void test_cycle(void)
{
    need_nodes();
    MrpcTest__Node *n = new_node("loop");
    n->child = n;
    refused(blob_with_node(n), sizeof(MrpcTest__Blob), PHX_INVALID_ARGUMENT, "cycle");
}

/* The highest slab of the send heap, filled with 'A' to the heap's end: a string starting there
 * has no terminator anywhere the service may read. Taking every free slab finds it. */
static void test_unterminated_string(void)
{
    static void *slabs[1u << 14];
    unsigned n = 0;
    char *last = NULL;

    need_nodes();
    while (n < sizeof(slabs) / sizeof(slabs[0]) && (slabs[n] = phx_heap_alloc(heap, SLAB_BYTES))) {
        if ((char *)slabs[n] > last)
            last = slabs[n];
        n++;
    }
    CU_ASSERT_PTR_NOT_NULL_FATAL(last);
    memset(last, 'A', SLAB_BYTES);
    MrpcTest__Node *node = new_node("x");
    node->name = last;
    struct answer a = call_method(MRPC_TEST__ECHO__ECHO__METHOD_ID, CONN, blob_with_node(node),
                                  sizeof(MrpcTest__Blob));
    CU_ASSERT_EQUAL(a.d.status, PHX_INVALID_ARGUMENT);
    CU_ASSERT_PTR_NOT_NULL(strstr(a.text, "without terminator"));
    for (unsigned i = 0; i < n; i++)
        phx_heap_free(heap, slabs[i]);
    still_serves();
}

static void test_unknown_method(void)
{
    need_nodes();
    struct answer a = call_method(0x12345678, CONN, new_blob(4), sizeof(MrpcTest__Blob));
    CU_ASSERT_EQUAL(a.d.status, PHX_NOT_FOUND);
    CU_ASSERT_TRUE(a.send_done);
    still_serves();
}

static void test_unknown_conn(void)
{
    need_nodes();
    struct answer a = call_method(MRPC_TEST__ECHO__ECHO__METHOD_ID, 77, new_blob(4),
                                  sizeof(MrpcTest__Blob));
    CU_ASSERT_EQUAL(a.d.status, PHX_UNAVAILABLE);
    CU_ASSERT_PTR_NOT_NULL(strstr(a.text, "no connection with id 77"));
    still_serves();
}

static void test_bad_layout_blob(void)
{
    need_nodes();
    uint8_t *junk = alloc(256);
    memset(junk, 0xff, 256);
    phx_desc_t d = { .kind = MRPC_APP_REGISTER_SERVICE, .service_id = 42, .addr = (uintptr_t)junk,
                     .len = 256 };
    submit(&d);
    struct answer a = await(MRPC_APP_REGISTERED, 0);
    CU_ASSERT_EQUAL(a.d.status, PHX_INVALID_ARGUMENT);
    d.addr = (uintptr_t)phx_client_recv_base(app);          /* not even ours to read */
    submit(&d);
    a = await(MRPC_APP_REGISTERED, 0);
    CU_ASSERT_EQUAL(a.d.status, PHX_INVALID_ARGUMENT);
    still_serves();
}

static void test_bad_connect_address(void)
{
    need_nodes();
    char *addr = alloc(16);
    memset(addr, 'x', 16);                                  /* no NUL */
    phx_desc_t d = { .kind = MRPC_APP_CONNECT, .conn_id = 9, .addr = (uintptr_t)addr, .len = 16 };
    submit(&d);
    struct answer a = await(MRPC_APP_CONNECTED, 0);
    CU_ASSERT_EQUAL(a.d.status, PHX_INVALID_ARGUMENT);
    d.conn_id = MRPC_CONN_ACCEPTED_BASE + 1;                /* the transport's ids */
    strcpy(addr, "127.0.0.1:1");
    submit(&d);
    a = await(MRPC_APP_CONNECTED, 0);
    CU_ASSERT_EQUAL(a.d.status, PHX_INVALID_ARGUMENT);
    still_serves();
}

static void test_bad_release_and_kind(void)
{
    need_nodes();
    release((uintptr_t)phx_client_recv_base(app) + 4096);   /* nothing we were given */
    struct answer a = await(MRPC_APP_ERROR, 0);
    CU_ASSERT_EQUAL(a.d.status, PHX_INVALID_ARGUMENT);
    CU_ASSERT_EQUAL(a.d.flags, MRPC_APP_RELEASE);
    phx_desc_t d = { .kind = PHX_DESC_SERVICE_BASE + 0x1f };
    submit(&d);
    a = await(MRPC_APP_ERROR, 0);
    CU_ASSERT_EQUAL(a.d.status, PHX_INVALID_ARGUMENT);
    still_serves();
}

/* `reserved` must be 0 where the kind does not name it (a CALL's is its timeout): a CLOSE of
 * our connection with reserved set is refused and not carried out, and calls go on. */
static void test_nonzero_reserved(void)
{
    need_nodes();
    phx_desc_t d = { .kind = MRPC_APP_CLOSE, .conn_id = CONN, .reserved = 7, .user = 99 };
    submit(&d);
    struct answer a = await(MRPC_APP_ERROR, 0);
    CU_ASSERT_FATAL(a.got);
    CU_ASSERT_EQUAL(a.d.status, PHX_INVALID_ARGUMENT);
    CU_ASSERT_EQUAL(a.d.flags, MRPC_APP_CLOSE);
    CU_ASSERT_EQUAL(a.d.user, 99);
    CU_ASSERT_PTR_NOT_NULL(strstr(a.text, "reserved field must be 0"));
    still_serves();                         /* on CONN: the CLOSE was not carried out */
}

/* An app whose Echo layouts are not the server's: the server's service refuses the call. */
static void test_layout_mismatch(void)
{
    static const mrpc_method_desc_t impostor = {
        .name = "Echo", .full_name = "mrpc_test.Echo.Echo",
        .method_id = MRPC_TEST__ECHO__ECHO__METHOD_ID,
        .input = &mrpc_test__fail_request__descriptor,
        .output = &mrpc_test__fail_request__descriptor,
    };
    static const mrpc_service_desc_t echo_svc = {
        .name = "Echo", .full_name = "mrpc_test.Echo", .service_id = MRPC_TEST__ECHO__SERVICE_ID,
        .n_methods = 1, .methods = &impostor,
    };

    need_nodes();
    phx_client_t *main_app = app, *other = open_app();
    CU_ASSERT_PTR_NOT_NULL_FATAL(other);
    if (register_layouts(&echo_svc) && connect_peer()) {
        MrpcTest__FailRequest *req = alloc(sizeof(*req));
        mrpc_test__fail_request__init(req);
        req->code = 7;
        struct answer a = call_method(MRPC_TEST__ECHO__ECHO__METHOD_ID, CONN, req, sizeof(*req));
        CU_ASSERT_EQUAL(a.d.status, PHX_FAILED_PRECONDITION);
        CU_ASSERT_PTR_NOT_NULL(strstr(a.text, "layout mismatch for mrpc_test.Blob: peer "));
        CU_ASSERT_TRUE(a.send_done);
    } else {
        CU_FAIL("the impostor app could not register or connect");
    }
    phx_client_close(other);
    use_app(main_app);
    still_serves();
}

/* Submits Echo calls without reading a single completion until the service stops taking them;
 * returns how many it took (their ids from FIRST on). */
static unsigned submit_until_stalled(const MrpcTest__Blob *b, uint64_t *first)
{
    unsigned long long stalled_since = 0, deadline = phx_test_now_ns() + 20 * PHX_NS;
    unsigned submitted = 0;

    *first = next_call;
    while (submitted < 20000 && phx_test_now_ns() < deadline) {
        phx_desc_t d = { .kind = MRPC_APP_CALL, .conn_id = CONN,
                         .service_id = MRPC_TEST__ECHO__SERVICE_ID,
                         .method_id = MRPC_TEST__ECHO__ECHO__METHOD_ID, .call_id = next_call,
                         .addr = (uintptr_t)b, .len = sizeof(*b) };
        if (phx_client_submit(app, &d, 1) == 1) {
            next_call++;
            submitted++;
            stalled_since = 0;
            continue;
        }
        if (!stalled_since)
            stalled_since = phx_test_now_ns();
        else if (phx_test_now_ns() - stalled_since > PHX_NS / 2)
            break;                          /* the service holds back: back-pressure */
        phx_test_sleep_ms(1);
    }
    return submitted;
}

/* RELEASEs waiting for room in the submission ring, which the stalled calls fill: an app must
 * keep reading completions while it cannot submit (libmrpc queues the same way). */
struct releases {
    uint64_t addr[1u << 15];
    unsigned n;
};

static void releases_flush(struct releases *r)
{
    unsigned done = 0;

    while (done < r->n) {
        phx_desc_t d = { .kind = MRPC_APP_RELEASE, .addr = r->addr[done] };
        if (phx_client_submit(app, &d, 1) != 1)
            break;
        done++;
    }
    memmove(r->addr, r->addr + done, (r->n - done) * sizeof(r->addr[0]));
    r->n -= done;
}

/* An app that stops reading its completions: the service backs off (bounded backlog, then no
 * more submissions taken) instead of losing anything or spinning, and catches up afterwards. */
static void test_slow_reader(void)
{
    static struct releases rel;
    MrpcTest__Blob *b = new_blob(16);
    unsigned ok = 0, sent = 0;
    uint64_t first;

    need_nodes();
    rel.n = 0;
    unsigned submitted = submit_until_stalled(b, &first);
    CU_ASSERT(submitted > 2 * 1024);        /* more than both rings hold */
    unsigned long long deadline = phx_test_now_ns() + 30 * PHX_NS;
    while ((ok < submitted || sent < submitted || rel.n) && phx_test_now_ns() < deadline) {
        phx_desc_t batch[64];
        int n = phx_client_wait(app, batch, 64, 10);
        for (int i = 0; i < n; i++) {
            const phx_desc_t *d = &batch[i];
            bool ours = d->call_id >= first && d->call_id < first + submitted;
            if (d->kind == MRPC_APP_SEND_DONE && ours)
                sent++;
            if (d->kind == MRPC_APP_REPLY_RECEIVED) {
                ok += ours && d->status == PHX_OK;
                if (d->addr && rel.n < sizeof(rel.addr) / sizeof(rel.addr[0]))
                    rel.addr[rel.n++] = d->addr;
            }
        }
        releases_flush(&rel);
    }
    printf("\n    %u calls submitted before the service held back; %u replies, %u SEND_DONE\n",
           submitted, ok, sent);
    CU_ASSERT_EQUAL(ok, submitted);
    CU_ASSERT_EQUAL(sent, submitted);
    still_serves();
}

/* ---- a message that changes under the service ------------------------------------------- */

struct flipper {
    MrpcTest__Blob *b;
    MrpcTest__Node *n, *other;
    volatile bool   stop;
};

/* Rewrites pointers and counts as fast as it can: most of the time between valid variants (a
 * longer or shorter payload, a child or none), a third of the time making one field invalid. */
static void *flip(void *arg)
{
    struct flipper *f = arg;
    static uint8_t outside[32];
    MrpcTest__Node **nodes = f->b->nodes;
    uint8_t *data = f->b->data.data;
    char *name = f->n->name;

    for (unsigned i = 0; !f->stop; i++) {
        unsigned phase = i % 16;
        __atomic_store_n(&f->b->data.len, phase & 1 ? 16 : 8, __ATOMIC_RELAXED);
        __atomic_store_n(&f->n->child, phase == 11 ? f->n : phase & 2 ? f->other : NULL,
                         __ATOMIC_RELAXED);
        __atomic_store_n(&f->b->n_nodes, phase == 12 ? (size_t)1 << 40 : 1, __ATOMIC_RELAXED);
        __atomic_store_n(&f->b->nodes, phase == 13 ? (MrpcTest__Node **)outside : nodes,
                         __ATOMIC_RELAXED);
        __atomic_store_n(&f->b->data.data, phase == 14 ? outside : data, __ATOMIC_RELAXED);
        __atomic_store_n(&f->n->name, phase == 15 ? (char *)outside : name, __ATOMIC_RELAXED);
    }
    f->b->n_nodes = 1;
    f->b->nodes = nodes;
    f->b->data.data = data;
    f->b->data.len = 16;
    f->n->name = name;
    f->n->child = NULL;
    return NULL;
}

static void test_message_changes_under_the_service(void)
{
    struct flipper f = { .stop = false };
    unsigned counts[PHX_DATA_LOSS + 1] = { 0 }, unanswered = 0;
    pthread_t t;

    need_nodes();
    f.n = new_node("mutant");
    f.other = new_node("other");
    f.b = blob_with_node(f.n);
    CU_ASSERT_EQUAL_FATAL(pthread_create(&t, NULL, flip, &f), 0);
    for (unsigned i = 0; i < 300 && !unanswered; i++) {    /* a silent service ends it */
        struct answer a = echo(f.b);
        if (!a.got)
            unanswered++;
        else if (a.d.status >= 0 && a.d.status <= PHX_DATA_LOSS)
            counts[a.d.status]++;
        if (a.got && a.d.status == PHX_OK)
            release(a.d.addr);
    }
    f.stop = true;
    pthread_join(t, NULL);
    unsigned answered = 0;
    for (unsigned i = 0; i <= PHX_DATA_LOSS; i++)
        answered += counts[i];
    printf("\n    %u calls of a changing message: %u OK, %u INVALID_ARGUMENT, %u other, %u "
           "unanswered\n", answered + unanswered, counts[PHX_OK], counts[PHX_INVALID_ARGUMENT],
           answered - counts[PHX_OK] - counts[PHX_INVALID_ARGUMENT], unanswered);
    CU_ASSERT_EQUAL(unanswered, 0u);
    CU_ASSERT(mrpc_node_alive(&client_node));              /* both services are alive */
    CU_ASSERT(mrpc_node_alive(&server_node));
    struct answer settled = echo(f.b);                      /* the message, settled, goes */
    CU_ASSERT_EQUAL(settled.d.status, PHX_OK);
    if (settled.d.status == PHX_OK)
        release(settled.d.addr);
    still_serves();
}

/* ---- what the engine says about it ------------------------------------------------------ */

static void test_engine_stats(void)
{
    char id[32];
    json_object *stats = NULL;

    need_nodes();
    refused(new_blob(8), 8, PHX_INVALID_ARGUMENT, "bytes");     /* one refused, one served */
    struct mrpc_sub sub;
    CU_ASSERT_FATAL(mrpc_ctl_find_sub(&client_node, getpid(), &sub));
    snprintf(id, sizeof(id), "%ld", sub.front_engine);
    unsigned long long deadline = phx_test_now_ns() + 5 * PHX_NS;
    do {                                    /* our last RELEASE may still be on its way */
        json_object_put(stats);
        phx_test_sleep_ms(20);
        stats = mrpc_ctl_json(&client_node, (const char *[]){ "engine", id, "stats", NULL });
    } while (mrpc_json_int(stats, "held_buffers") != 0 && phx_test_now_ns() < deadline);
    CU_ASSERT_PTR_NOT_NULL_FATAL(stats);
    CU_ASSERT(mrpc_json_int(stats, "invalid_argument") >= 1);
    CU_ASSERT(mrpc_json_int(stats, "calls") >= 1);
    CU_ASSERT(mrpc_json_int(stats, "replies_received") >= 1);
    CU_ASSERT(mrpc_json_int(stats, "errors") >= 1);
    CU_ASSERT_EQUAL(mrpc_json_int(stats, "held_buffers"), 0);
    CU_ASSERT_EQUAL(mrpc_json_int(stats, "outstanding_calls"), 0);
    CU_ASSERT_EQUAL(mrpc_json_int(stats, "connections"), 1);
    printf("\n    MrpcEngine stats: %s\n", json_object_to_json_string(stats));
    json_object_put(stats);
}

static const phx_test_case_t cases[] = {
    { "pointer outside the send heap", test_outside_send_heap },
    { "pointer into the receive heap", test_into_recv_heap },
    { "request outside the send heap", test_request_outside },
    { "request of the wrong size", test_wrong_size },
    { "huge repeated count", test_huge_count },
    { "cycle of nested messages", test_cycle },
    { "string without terminator", test_unterminated_string },
    { "unknown method", test_unknown_method },
    { "unknown connection", test_unknown_conn },
    { "garbage layout blob", test_bad_layout_blob },
    { "bad connect address", test_bad_connect_address },
    { "release of a foreign address, unknown kind", test_bad_release_and_kind },
    { "non-zero reserved field", test_nonzero_reserved },
    { "layout mismatch between the peers", test_layout_mismatch },
    { "an app that stops reading its completions", test_slow_reader },
    { "message changed while the service reads it", test_message_changes_under_the_service },
    { "engine stats count the refusals", test_engine_stats },
    { NULL, NULL },
};

int main(int argc, char **argv)
{
    int rc = phx_test_main("mrpc_untrusted", cases, argc, argv);

    return tear_down() ? rc : 1;
}
