/* test_policy_content.c - phx_call_field (phoenix/policy.h) in process: the built MrpcEngine
 * (tests/mrpc/mrpc_harness.h) with a policy engine of the SDK behind its tx out and in front of
 * its rx in, in the same group, so the policy reads through the layouts MrpcEngine shares:
 *
 *   fields       a request's bytes, uint32 and double fields by path; an unset message field
 *                reads as UNSET; a path of another type is -ENOENT, a repeated field -ENOTSUP,
 *                a field that does not exist -ENOENT
 *   private copy a 20 KB bytes field (sent zero-copy from the app's send heap) read by the
 *                policy: the wire message is then one piece in a private copy, and the app
 *                rewriting its send heap afterwards changes nothing that goes out
 *   rx           a landed request read on rx and refused because of its content: REFUSED goes
 *                up, and MrpcEngine answers the caller with an ERROR carrying the sentence
 *   names        decide() sees the service's and the method's names from the same layouts
 *   no layouts   without MrpcEngine's layouts (another group) the read is -ENOTSUP, no names
 *   repeated     elements by index: repeated messages (nodes[1].name), strings (tags[1]),
 *                doubles (weights[0]), scalars two levels down (nodes[0].leaves[0].numbers[1]);
 *                counts (phx_call_field_count) of each; an index past the end reads UNSET; bad
 *                index syntax and an index on a singular field are -ENOENT
 *   reply tx     a request answered by the policy (phx_verdict_reply) with fields it set: nothing
 *                reaches the transport, the app's call completes with that reply, decoded
 *   reply rx     a landed request answered by the policy: the caller gets a REPLY carrying the
 *                fields set (the payload decodes as the output type), the app never sees it
 *   reply set    what phx_call_reply_set refuses (wrong kind, unknown and repeated fields), and
 *                a reply left at its defaults (Fail's Empty)
 *
 * Every loop is bounded in turns. */
#include "mrpc_harness.h"
#include "mrpc_test.mrpc.h"
#include "marshal.h"
#include "phoenix/clock.h"
#include "phoenix/policy.h"
#include "phx_test.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define CONN 7u
#define BIG  20000u

static struct mrpc_harness h;

static struct {
    struct phx_engine engine;
    phx_channel_t    *tx_out, *rx_in;
    phx_policy_t      pol;
    const char       *path;          /* read in decide() */
    int               rc;
    phx_field_t       value;
    char              text[64];      /* the value's first bytes */
    unsigned          decided;
    bool              refuse_evil;
    bool              reply;         /* answer requests with phx_verdict_reply() */
    int               set_rc[8];     /* phx_call_reply_set's answers in decide() */
    const char       *count_path;    /* counted in decide() (phx_call_field_count) */
    int               count_rc;
    size_t            count;
    char              service[64], method[64];  /* the names decide() saw */
} p;

/* Fills Blob replies: seq 4242, data "local answer", ratio 0.5, the first node's name "n0"
 * through a sub-message path (refused: repeated); and tries what must be refused. */
static phx_verdict_t reply_to(const phx_call_t *c)
{
    const char *data = "local answer";

    if (c->method_id != MRPC_TEST__ECHO__ECHO__METHOD_ID)
        return phx_verdict_reply();                     /* Fail: an Empty at its defaults */
    p.set_rc[0] = phx_call_reply_set(c, "mrpc_test.Blob.seq",
                                     &(phx_field_t){ .kind = PHX_FIELD_UINT, .u = 4242 });
    p.set_rc[1] = phx_call_reply_set(c, "mrpc_test.Blob.data", &(phx_field_t){
                                     .kind = PHX_FIELD_BYTES, .data = data, .len = 12 });
    p.set_rc[2] = phx_call_reply_set(c, "mrpc_test.Blob.ratio",
                                     &(phx_field_t){ .kind = PHX_FIELD_DOUBLE, .d = 0.5 });
    p.set_rc[3] = phx_call_reply_set(c, "mrpc_test.Blob.nodes",
                                     &(phx_field_t){ .kind = PHX_FIELD_UINT, .u = 1 });
    p.set_rc[4] = phx_call_reply_set(c, "mrpc_test.Blob.seq",       /* a string: wrong kind */
                                     &(phx_field_t){ .kind = PHX_FIELD_STRING, .data = "1",
                                                     .len = 1 });
    p.set_rc[5] = phx_call_reply_set(c, "mrpc_test.Blob.nothing",
                                     &(phx_field_t){ .kind = PHX_FIELD_UINT, .u = 1 });
    p.set_rc[6] = phx_call_reply_set(c, "mrpc_test.Blob.seq",       /* out of uint32's range */
                                     &(phx_field_t){ .kind = PHX_FIELD_INT, .i = -1 });
    p.set_rc[7] = phx_call_reply_set(c, "mrpc_test.FailRequest.code",   /* the input type */
                                     &(phx_field_t){ .kind = PHX_FIELD_UINT, .u = 1 });
    return phx_verdict_reply();
}

static phx_verdict_t decide(void *ctx, const phx_call_t *c, uint64_t now)
{
    (void)ctx;
    (void)now;
    if (c->kind == PHX_CALL_ERROR)
        return phx_verdict_forward();           /* the refusal's answer going down */
    p.decided++;
    snprintf(p.service, sizeof(p.service), "%s", c->service_name ? c->service_name : "-");
    snprintf(p.method, sizeof(p.method), "%s", c->method_name ? c->method_name : "-");
    p.rc = phx_call_field(c, p.path, &p.value);
    if (p.count_path)
        p.count_rc = phx_call_field_count(c, p.count_path, &p.count);
    p.text[0] = '\0';
    if (p.rc == 0 && (p.value.kind == PHX_FIELD_BYTES || p.value.kind == PHX_FIELD_STRING)) {
        size_t n = p.value.len < sizeof(p.text) - 1 ? p.value.len : sizeof(p.text) - 1;
        memcpy(p.text, p.value.data, n);
        p.text[n] = '\0';
    }
    if (p.refuse_evil && strncmp(p.text, "evil", 4) == 0)
        return phx_verdict_reject(PHX_PERMISSION_DENIED, "no evil data");
    if (p.reply && c->kind == PHX_CALL_REQUEST)
        return reply_to(c);
    return phx_verdict_forward();
}

/* MrpcEngine with Echo registered and CONN up, and the policy spliced behind it. */
static void start(void)
{
    memset(&p, 0, sizeof(p));
    CU_ASSERT_FATAL(mh_start(&h));
    CU_ASSERT_FATAL(mh_register(&h, &mrpc_test__echo__service));
    CU_ASSERT_FATAL(mh_connect(&h, CONN));
    p.tx_out = phx_channel_create(PHX_TX, 1024);
    p.rx_in = phx_channel_create(PHX_RX, 1024);
    CU_ASSERT_FATAL(p.tx_out && p.rx_in);
    p.engine = (struct phx_engine){ .id = 2, .group = &h.group, .wait_fd = -1 };
    p.engine.in[PHX_TX][0] = h.tx;
    p.engine.out[PHX_TX][0] = p.tx_out;
    p.engine.in[PHX_RX][0] = p.rx_in;
    p.engine.out[PHX_RX][0] = h.rx;
    CU_ASSERT_FATAL(phx_policy_init(&p.pol, decide, NULL, (1u << PHX_TX) | (1u << PHX_RX),
                                    64) == 0);
}

static void stop(void)
{
    phx_policy_fini(&p.pol);
    mh_stop(&h);
    phx_channel_destroy(p.tx_out);
    phx_channel_destroy(p.rx_in);
}

static void turn(void)
{
    mh_turn(&h);
    phx_policy_progress(&p.pol, &p.engine, phx_now_ns());
}

/* Turns until the policy forwards a descriptor of KIND to the transport (SENDs skipped are
 * answered SENT OK through the policy). */
static bool to_transport(uint16_t kind, phx_desc_t *out)
{
    for (unsigned t = 0; t < MH_TURNS; t++) {
        turn();
        while (phx_chan_pop(p.tx_out, out, 1) == 1) {
            if (out->kind == kind)
                return true;
        }
    }
    return false;
}

/* Turns (MrpcEngine and the policy) until the app gets a completion of KIND (into *OUT). */
static bool completion_of(uint16_t kind, phx_desc_t *out)
{
    for (unsigned t = 0; t < MH_TURNS; t++) {
        turn();
        while (phx_ring_pop(&h.port->cq, out, 1) == 1)
            if (out->kind == kind)
                return true;
    }
    return false;
}

static bool completion(uint16_t kind)
{
    phx_desc_t d;

    return completion_of(kind, &d);
}

/* A Blob in the send heap with DATA (LEN bytes), seq and ratio. */
static MrpcTest__Blob *blob(const char *head, size_t len, uint32_t seq)
{
    MrpcTest__Blob *b = mh_message(&h, &mrpc_test__blob__descriptor);
    uint8_t *data = phx_heap_alloc(h.send_heap, len);

    CU_ASSERT_FATAL(b && data);
    memset(data, 'x', len);
    memcpy(data, head, strlen(head));
    b->data = (ProtobufCBinaryData){ .len = len, .data = data };
    b->seq = seq;
    b->ratio = 0.25;
    return b;
}

static void call(MrpcTest__Blob *b, uint64_t id)
{
    CU_ASSERT_FATAL(mh_submit(&h, &(phx_desc_t){
        .kind = MRPC_APP_CALL, .conn_id = CONN, .service_id = MRPC_TEST__ECHO__SERVICE_ID,
        .method_id = MRPC_TEST__ECHO__ECHO__METHOD_ID, .call_id = id,
        .addr = (uintptr_t)b, .len = sizeof(*b) }));
}

/* Reads PATH of a small request; its rc. */
static int read_path(const char *path, uint32_t seq)
{
    phx_desc_t send;

    p.path = path;
    call(blob("good", 16, seq), seq);
    CU_ASSERT_FATAL(to_transport(MRPC_DESC_SEND, &send));
    send.kind = MRPC_DESC_SENT;
    send.status = PHX_OK;
    CU_ASSERT_FATAL(phx_chan_push(p.rx_in, &send, 1) == 1);
    turn();
    return p.rc;
}

static void test_fields(void)
{
    start();
    CU_ASSERT_EQUAL(read_path("mrpc_test.Blob.data", 1), 0);
    CU_ASSERT_EQUAL(p.value.kind, PHX_FIELD_BYTES);
    CU_ASSERT_EQUAL(p.value.len, 16);
    CU_ASSERT_EQUAL(strncmp(p.text, "goodxxxx", 8), 0);
    CU_ASSERT_EQUAL(read_path("mrpc_test.Blob.seq", 77), 0);
    CU_ASSERT_EQUAL(p.value.kind, PHX_FIELD_UINT);
    CU_ASSERT_EQUAL(p.value.u, 77);
    CU_ASSERT_EQUAL(read_path("mrpc_test.Blob.ratio", 2), 0);
    CU_ASSERT_EQUAL(p.value.kind, PHX_FIELD_DOUBLE);
    CU_ASSERT_DOUBLE_EQUAL(p.value.d, 0.25, 1e-12);
    CU_ASSERT_EQUAL(read_path("mrpc_test.Blob.nodes", 3), -ENOTSUP);  /* repeated, no index */
    CU_ASSERT_EQUAL(read_path("mrpc_test.Blob.nothing", 4), -ENOENT);
    CU_ASSERT_EQUAL(read_path("mrpc_test.FailRequest.code", 5), -ENOENT); /* another type */
    CU_ASSERT_EQUAL(read_path("mrpc_test.Blob", 6), -ENOENT);
    CU_ASSERT_EQUAL(read_path("mrpc_test.Blob.seq.more", 7), -ENOENT);
    CU_ASSERT_EQUAL(p.decided, 8);
    CU_ASSERT_STRING_EQUAL(p.service, "mrpc_test.Echo");
    CU_ASSERT_STRING_EQUAL(p.method, "Echo");
    stop();
}

/* The payload the transport would send: the wire message's pieces, gathered. */
static size_t gather(const struct mrpc_wire_msg *w, char *out, size_t cap)
{
    size_t at = 0;

    for (unsigned i = 0; i < w->n_iov && at + w->iov[i].len <= cap; i++) {
        memcpy(out + at, w->iov[i].base, w->iov[i].len);
        at += w->iov[i].len;
    }
    return at;
}

static void test_private_copy(void)
{
    static char sent[BIG + 4096];
    phx_desc_t send;

    start();
    p.path = "mrpc_test.Blob.data";
    MrpcTest__Blob *b = blob("good", BIG, 9);
    call(b, 9);
    CU_ASSERT_FATAL(to_transport(MRPC_DESC_SEND, &send));
    CU_ASSERT_EQUAL(p.rc, 0);
    CU_ASSERT_EQUAL(p.value.len, BIG);
    CU_ASSERT_EQUAL(strncmp(p.text, "good", 4), 0);
    const struct mrpc_wire_msg *w = (const struct mrpc_wire_msg *)(uintptr_t)send.addr;
    CU_ASSERT_PTR_NOT_NULL(w->copy);
    CU_ASSERT_EQUAL(w->n_iov, 1);
    CU_ASSERT_EQUAL(p.pol.copies, 1);
    /* the app rewrites what it sent; what goes out is what the policy checked */
    memcpy(b->data.data, "evil", 4);
    size_t n = gather(w, sent, sizeof(sent));
    CU_ASSERT_EQUAL(n, w->hdr.payload_len);
    CU_ASSERT_PTR_NOT_NULL(memmem(sent, n, "goodxxxx", 8));
    CU_ASSERT_PTR_NULL(memmem(sent, n, "evil", 4));
    send.kind = MRPC_DESC_SENT;
    send.status = PHX_OK;
    CU_ASSERT_FATAL(phx_chan_push(p.rx_in, &send, 1) == 1);
    CU_ASSERT_FATAL(completion(MRPC_APP_SEND_DONE));      /* and the copy is freed */
    stop();
}

static void test_rx(void)
{
    phx_desc_t in, err;
    uint32_t acc = MRPC_CONN_ACCEPTED_BASE + 1;

    start();
    p.path = "mrpc_test.Blob.data";
    p.refuse_evil = true;
    CU_ASSERT_FATAL(phx_chan_push(p.rx_in, &(phx_desc_t){ .kind = MRPC_DESC_ACCEPTED,
                                                         .conn_id = acc }, 1) == 1);
    turn();
    CU_ASSERT_FATAL(mh_land(&h, &mrpc_test__echo__service, 0, MRPC_WIRE_CALL,
                            &blob("evil", 64, 3)->base, &in));
    in.conn_id = acc;
    in.call_id = 31;
    CU_ASSERT_FATAL(phx_chan_push(p.rx_in, &in, 1) == 1);
    CU_ASSERT_FATAL(to_transport(MRPC_DESC_SEND, &err));
    const struct mrpc_wire_msg *w = (const struct mrpc_wire_msg *)(uintptr_t)err.addr;
    CU_ASSERT_EQUAL(p.rc, 0);
    CU_ASSERT_EQUAL(w->hdr.kind, MRPC_WIRE_ERROR);
    CU_ASSERT_EQUAL(w->hdr.call_id, 31);
    CU_ASSERT_EQUAL(w->hdr.status, PHX_PERMISSION_DENIED);
    CU_ASSERT_EQUAL(w->hdr.payload_len, strlen("no evil data"));
    CU_ASSERT_EQUAL(p.pol.counts[PHX_RX].rejected, 1);
    CU_ASSERT_EQUAL(mh_stat(&h, "incoming_calls"), 0);
    err.kind = MRPC_DESC_SENT;
    err.status = PHX_OK;
    CU_ASSERT_FATAL(phx_chan_push(p.rx_in, &err, 1) == 1);
    /* a good one is delivered */
    CU_ASSERT_FATAL(mh_land(&h, &mrpc_test__echo__service, 0, MRPC_WIRE_CALL,
                            &blob("good", 64, 4)->base, &in));
    in.conn_id = acc;
    in.call_id = 32;
    CU_ASSERT_FATAL(phx_chan_push(p.rx_in, &in, 1) == 1);
    for (unsigned t = 0; t < 20; t++)
        turn();
    CU_ASSERT_EQUAL(mh_stat(&h, "incoming_calls"), 1);
    stop();
}

/* An array of N pointers in the send heap. */
static void **ptrs(size_t n)
{
    void **a = phx_heap_alloc(h.send_heap, n * sizeof(void *));

    CU_ASSERT_FATAL(a != NULL);
    return a;
}

/* A Blob with two nodes: "first" (tags "a", "bb"; weights 1.5, 2.5; one leaf "leaf0" with
 * numbers -3, 7) and "second" (nothing repeated). */
static MrpcTest__Blob *blob_with_nodes(void)
{
    MrpcTest__Blob *b = blob("nodes", 8, 1);
    MrpcTest__Node *n0 = mh_message(&h, &mrpc_test__node__descriptor);
    MrpcTest__Node *n1 = mh_message(&h, &mrpc_test__node__descriptor);
    MrpcTest__Leaf *leaf = mh_message(&h, &mrpc_test__leaf__descriptor);
    double *weights = phx_heap_alloc(h.send_heap, 2 * sizeof(double));
    int64_t *numbers = phx_heap_alloc(h.send_heap, 2 * sizeof(int64_t));

    CU_ASSERT_FATAL(n0 && n1 && leaf && weights && numbers);
    n0->name = mh_strdup(&h, "first");
    n1->name = mh_strdup(&h, "second");
    n0->n_tags = 2;
    n0->tags = (char **)ptrs(2);
    n0->tags[0] = mh_strdup(&h, "a");
    n0->tags[1] = mh_strdup(&h, "bb");
    weights[0] = 1.5;
    weights[1] = 2.5;
    n0->n_weights = 2;
    n0->weights = weights;
    leaf->text = mh_strdup(&h, "leaf0");
    numbers[0] = -3;
    numbers[1] = 7;
    leaf->n_numbers = 2;
    leaf->numbers = numbers;
    n0->n_leaves = 1;
    n0->leaves = (MrpcTest__Leaf **)ptrs(1);
    n0->leaves[0] = leaf;
    b->n_nodes = 2;
    b->nodes = (MrpcTest__Node **)ptrs(2);
    b->nodes[0] = n0;
    b->nodes[1] = n1;
    return b;
}

/* Reads PATH (and counts COUNT_PATH, unless NULL) of a Blob with nodes; the read's rc. */
static int read_nodes(const char *path, const char *count_path)
{
    static uint64_t id = 100;
    phx_desc_t send;

    p.path = path;
    p.count_path = count_path;
    p.count = 99;
    call(blob_with_nodes(), ++id);
    CU_ASSERT_FATAL(to_transport(MRPC_DESC_SEND, &send));
    send.kind = MRPC_DESC_SENT;
    send.status = PHX_OK;
    CU_ASSERT_FATAL(phx_chan_push(p.rx_in, &send, 1) == 1);
    turn();
    return p.rc;
}

static void test_repeated(void)
{
    start();
    CU_ASSERT_EQUAL(read_nodes("mrpc_test.Blob.nodes[1].name", "mrpc_test.Blob.nodes"), 0);
    CU_ASSERT_EQUAL(p.value.kind, PHX_FIELD_STRING);
    CU_ASSERT_STRING_EQUAL(p.text, "second");
    CU_ASSERT_EQUAL(p.count_rc, 0);
    CU_ASSERT_EQUAL(p.count, 2);
    CU_ASSERT_EQUAL(read_nodes("mrpc_test.Blob.nodes[0].tags[1]",
                               "mrpc_test.Blob.nodes[0].tags"), 0);
    CU_ASSERT_EQUAL(p.value.kind, PHX_FIELD_STRING);
    CU_ASSERT_STRING_EQUAL(p.text, "bb");
    CU_ASSERT_EQUAL(p.count, 2);
    CU_ASSERT_EQUAL(read_nodes("mrpc_test.Blob.nodes[0].weights[1]",
                               "mrpc_test.Blob.nodes[1].weights"), 0);
    CU_ASSERT_EQUAL(p.value.kind, PHX_FIELD_DOUBLE);
    CU_ASSERT_DOUBLE_EQUAL(p.value.d, 2.5, 1e-12);
    CU_ASSERT_EQUAL(p.count_rc, 0);
    CU_ASSERT_EQUAL(p.count, 0);                                 /* the second node has none */
    CU_ASSERT_EQUAL(read_nodes("mrpc_test.Blob.nodes[0].leaves[0].numbers[0]",
                               "mrpc_test.Blob.nodes[0].leaves[0].numbers"), 0);
    CU_ASSERT_EQUAL(p.value.kind, PHX_FIELD_INT);
    CU_ASSERT_EQUAL(p.value.i, -3);
    CU_ASSERT_EQUAL(p.count, 2);
    CU_ASSERT_EQUAL(read_nodes("mrpc_test.Blob.nodes[0].leaves[0].text", NULL), 0);
    CU_ASSERT_STRING_EQUAL(p.text, "leaf0");
    /* past the end: not set, on the way or at the end */
    CU_ASSERT_EQUAL(read_nodes("mrpc_test.Blob.nodes[2].name",
                               "mrpc_test.Blob.nodes[5].tags"), 0);
    CU_ASSERT_EQUAL(p.value.kind, PHX_FIELD_UNSET);
    CU_ASSERT_EQUAL(p.count_rc, 0);
    CU_ASSERT_EQUAL(p.count, 0);
    CU_ASSERT_EQUAL(read_nodes("mrpc_test.Blob.nodes[0].tags[2]", NULL), 0);
    CU_ASSERT_EQUAL(p.value.kind, PHX_FIELD_UNSET);
    /* what is not a path of this form */
    CU_ASSERT_EQUAL(read_nodes("mrpc_test.Blob.nodes", "mrpc_test.Blob.seq"), -ENOTSUP);
    CU_ASSERT_EQUAL(p.count_rc, -ENOENT);                         /* not repeated */
    CU_ASSERT_EQUAL(read_nodes("mrpc_test.Blob.seq[0]", "mrpc_test.Blob.nodes[0]"), -ENOENT);
    CU_ASSERT_EQUAL(p.count_rc, -ENOENT);                         /* an element */
    CU_ASSERT_EQUAL(read_nodes("mrpc_test.Blob.nodes[x].name", NULL), -ENOENT);
    CU_ASSERT_EQUAL(read_nodes("mrpc_test.Blob.nodes[0]x.name", NULL), -ENOENT);
    CU_ASSERT_EQUAL(read_nodes("mrpc_test.Blob.nodes[].name", NULL), -ENOENT);
    CU_ASSERT_EQUAL(read_nodes("mrpc_test.Blob.nodes[0]", NULL), -ENOTSUP);  /* a message */
    stop();
}

/* Reads the string field of a Fail request whose message is TEXT (NULL: left empty). */
static int read_string(const char *text, uint64_t id)
{
    MrpcTest__FailRequest *q = mh_message(&h, &mrpc_test__fail_request__descriptor);
    phx_desc_t send;

    CU_ASSERT_FATAL(q != NULL);
    if (text)
        CU_ASSERT_FATAL((q->message = mh_strdup(&h, text)) != NULL);
    q->code = 3;
    p.path = "mrpc_test.FailRequest.message";
    CU_ASSERT_FATAL(mh_submit(&h, &(phx_desc_t){
        .kind = MRPC_APP_CALL, .conn_id = CONN, .service_id = MRPC_TEST__ECHO__SERVICE_ID,
        .method_id = MRPC_TEST__ECHO__FAIL__METHOD_ID, .call_id = id,
        .addr = (uintptr_t)q, .len = sizeof(*q) }));
    CU_ASSERT_FATAL(to_transport(MRPC_DESC_SEND, &send));
    send.kind = MRPC_DESC_SENT;
    send.status = PHX_OK;
    CU_ASSERT_FATAL(phx_chan_push(p.rx_in, &send, 1) == 1);
    turn();
    return p.rc;
}

static void test_string(void)
{
    start();
    CU_ASSERT_EQUAL(read_string("stop right there", 1), 0);
    CU_ASSERT_EQUAL(p.value.kind, PHX_FIELD_STRING);
    CU_ASSERT_EQUAL(p.value.len, strlen("stop right there"));
    CU_ASSERT_STRING_EQUAL(p.text, "stop right there");
    CU_ASSERT_EQUAL(read_string(NULL, 2), 0);           /* the app's empty string */
    CU_ASSERT(p.value.kind == PHX_FIELD_STRING || p.value.kind == PHX_FIELD_UNSET);
    CU_ASSERT_EQUAL(p.value.len, 0);
    CU_ASSERT_STRING_EQUAL(p.method, "Fail");
    stop();
}

static void test_no_layouts(void)
{
    struct phx_engine_group other = { .app = NULL };
    phx_desc_t send;

    start();
    p.engine.group = &other;
    p.path = "mrpc_test.Blob.data";
    call(blob("good", 16, 1), 1);
    CU_ASSERT_FATAL(to_transport(MRPC_DESC_SEND, &send));
    CU_ASSERT_EQUAL(p.rc, -ENOTSUP);
    CU_ASSERT_STRING_EQUAL(p.method, "-");              /* no names either */
    send.kind = MRPC_DESC_SENT;
    CU_ASSERT_FATAL(phx_chan_push(p.rx_in, &send, 1) == 1);
    turn();
    stop();
}

static void test_reply_tx(void)
{
    phx_desc_t done, send;

    start();
    p.path = "mrpc_test.Blob.seq";
    p.reply = true;
    call(blob("good", 16, 5), 5);
    CU_ASSERT_FATAL(completion_of(MRPC_APP_REPLY_RECEIVED, &done));
    CU_ASSERT_EQUAL(done.status, PHX_OK);
    CU_ASSERT_EQUAL(done.call_id, 5);
    const MrpcTest__Blob *r = (const MrpcTest__Blob *)(uintptr_t)done.addr;
    CU_ASSERT_FATAL(r != NULL);
    CU_ASSERT_EQUAL(r->seq, 4242);
    CU_ASSERT_EQUAL(r->data.len, 12);
    CU_ASSERT(r->data.data && memcmp(r->data.data, "local answer", 12) == 0);
    CU_ASSERT_DOUBLE_EQUAL(r->ratio, 0.5, 1e-12);
    CU_ASSERT_EQUAL(r->n_nodes, 0);
    CU_ASSERT_EQUAL(p.set_rc[0], 0);
    CU_ASSERT_EQUAL(p.set_rc[1], 0);
    CU_ASSERT_EQUAL(p.set_rc[2], 0);
    CU_ASSERT_EQUAL(p.set_rc[3], -ENOTSUP);
    CU_ASSERT_EQUAL(p.set_rc[4], -EINVAL);
    CU_ASSERT_EQUAL(p.set_rc[5], -ENOENT);
    CU_ASSERT_EQUAL(p.set_rc[6], -EINVAL);
    CU_ASSERT_EQUAL(p.set_rc[7], -ENOENT);
    CU_ASSERT_EQUAL(p.pol.counts[PHX_TX].replied, 1);
    CU_ASSERT_EQUAL(mh_stat(&h, "replies_received"), 1);
    CU_ASSERT_FALSE(phx_chan_pop(p.tx_out, &send, 1) == 1);    /* nothing was sent */
    /* Fail's reply: an Empty at its defaults */
    MrpcTest__FailRequest *q = mh_message(&h, &mrpc_test__fail_request__descriptor);
    CU_ASSERT_FATAL(q != NULL);
    CU_ASSERT_FATAL(mh_submit(&h, &(phx_desc_t){
        .kind = MRPC_APP_CALL, .conn_id = CONN, .service_id = MRPC_TEST__ECHO__SERVICE_ID,
        .method_id = MRPC_TEST__ECHO__FAIL__METHOD_ID, .call_id = 6,
        .addr = (uintptr_t)q, .len = sizeof(*q) }));
    CU_ASSERT_FATAL(completion_of(MRPC_APP_REPLY_RECEIVED, &done));
    CU_ASSERT_EQUAL(done.status, PHX_OK);
    CU_ASSERT_EQUAL(done.call_id, 6);
    CU_ASSERT_EQUAL(p.pol.counts[PHX_TX].replied, 2);
    stop();
}

static void test_reply_rx(void)
{
    static char bytes[4096] __attribute__((aligned(16)));
    phx_desc_t in, out;
    uint32_t acc = MRPC_CONN_ACCEPTED_BASE + 2;
    void *msg = NULL;

    start();
    p.path = "mrpc_test.Blob.seq";
    p.reply = true;
    CU_ASSERT_FATAL(phx_chan_push(p.rx_in, &(phx_desc_t){ .kind = MRPC_DESC_ACCEPTED,
                                                         .conn_id = acc }, 1) == 1);
    turn();
    CU_ASSERT_FATAL(mh_land(&h, &mrpc_test__echo__service, 0, MRPC_WIRE_CALL,
                            &blob("asked", 64, 8)->base, &in));
    in.conn_id = acc;
    in.call_id = 41;
    CU_ASSERT_FATAL(phx_chan_push(p.rx_in, &in, 1) == 1);
    CU_ASSERT_FATAL(to_transport(MRPC_DESC_SEND, &out));
    const struct mrpc_wire_msg *w = (const struct mrpc_wire_msg *)(uintptr_t)out.addr;
    CU_ASSERT_EQUAL(out.conn_id, acc);
    CU_ASSERT_EQUAL(w->hdr.kind, MRPC_WIRE_REPLY);
    CU_ASSERT_EQUAL(w->hdr.status, PHX_OK);
    CU_ASSERT_EQUAL(w->hdr.call_id, 41);
    CU_ASSERT_EQUAL(w->hdr.method_id, MRPC_TEST__ECHO__ECHO__METHOD_ID);
    const struct mrpc_layout_view *view = phx_engine_shared(&p.engine, MRPC_LAYOUTS_SHARED);
    CU_ASSERT_FATAL(view != NULL);
    const struct mrpc_method_layout *ml = view->find(view->ctx, MRPC_TEST__ECHO__SERVICE_ID,
                                                     MRPC_TEST__ECHO__ECHO__METHOD_ID);
    CU_ASSERT_FATAL(ml != NULL);
    CU_ASSERT_EQUAL(w->hdr.type_hash, mrpc_type_hash(ml->output));
    size_t n = gather(w, bytes, sizeof(bytes));
    CU_ASSERT_FATAL(n == w->hdr.payload_len);
    CU_ASSERT_FATAL(mrpc_native_decode(ml->output, bytes, n, &msg, NULL, 0) == 0);
    const MrpcTest__Blob *r = msg;
    CU_ASSERT_EQUAL(r->seq, 4242);
    CU_ASSERT_EQUAL(r->data.len, 12);
    CU_ASSERT(r->data.data && memcmp(r->data.data, "local answer", 12) == 0);
    CU_ASSERT_EQUAL(mh_stat(&h, "incoming_calls"), 0);          /* the app never saw it */
    CU_ASSERT_EQUAL(mh_stat(&h, "answered"), 1);
    CU_ASSERT_EQUAL(p.pol.counts[PHX_RX].replied, 1);
    out.kind = MRPC_DESC_SENT;
    out.status = PHX_OK;
    CU_ASSERT_FATAL(phx_chan_push(p.rx_in, &out, 1) == 1);
    for (unsigned t = 0; t < 10; t++)
        turn();
    stop();
}

static const phx_test_case_t cases[] = {
    { "fields of a request read by path", test_fields },
    { "what the policy read is what is sent, whatever the app writes", test_private_copy },
    { "a request refused on rx for its content is answered to its caller", test_rx },
    { "a string field, set and empty", test_string },
    { "elements of repeated fields by index, and their counts", test_repeated },
    { "without MrpcEngine's layouts content is not supported", test_no_layouts },
    { "a request the policy answers on tx completes with its reply, unsent", test_reply_tx },
    { "a request the policy answers on rx: the caller gets the reply, the app nothing",
      test_reply_rx },
    { NULL, NULL },
};

int main(int argc, char **argv)
{
    return phx_test_main("policy_content", cases, argc, argv);
}
