/* test_mrpc_engine.c - MrpcEngine alone, in process (mrpc_harness.h): the test submits what
 * libmrpc would and answers what a transport would, so each case pins one rule of app_proto.h
 * and transport.h down without phoenixd, UCX or a second node:
 *
 *   cancel          CANCEL ends the call at once with CANCELLED and sends a wire CANCEL; the
 *                   reply that comes later is dropped (counted), never delivered; a CANCEL of
 *                   no call is not answered
 *   withdrawn       a wire CANCEL withdraws an incoming call still in the backlog (its app
 *                   never sees it, its request is freed); the others come in order
 *   dropped reply   DROPPED for a reply (the app's receive heap was full) fails its call with
 *                   RESOURCE_EXHAUSTED saying "release received messages"
 *   dropped call    DROPPED for an incoming call answers its caller with a wire ERROR
 *   reason          the transport's reason for a failed CONNECT reaches the app's CONNECTED
 *   refusals        a policy's refusal (mrpc/transport.h): SENT with a reason fails the call with
 *                   the policy's status and sentence, and a refused reply is answered to its
 *                   caller with them; REFUSED of an incoming call answers its caller with an
 *                   ERROR carrying them, REFUSED of a reply fails the call with them; a CALL's
 *                   SEND carries its deadline
 *   reused record   a call on the record of a call that ended has its own id, deadline and
 *                   outcome
 *   cancel cost     a CANCEL costs the same with 65,535 calls outstanding as with one: an app
 *                   cannot make the runtime thread it shares with other apps sweep every call
 *                   it holds for each CANCEL it submits (4,096 of them took 0.6 to 1.5 s)
 *
 * Every wait is bounded in turns (MH_TURNS). */
#include "mrpc_harness.h"
#include "mrpc_test.mrpc.h"
#include "phoenix/clock.h"
#include "phx_test.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#define CONN 7u

static struct mrpc_harness h;

/* A harness with mrpc_test.Echo registered and connection CONN up. */
static void start(void)
{
    CU_ASSERT_FATAL(mh_start(&h));
    CU_ASSERT_FATAL(mh_register(&h, &mrpc_test__echo__service));
    CU_ASSERT_FATAL(mh_connect(&h, CONN));
}

/* The app calls Echo with APP_ID and TIMEOUT_MS; the fake transport takes the SEND (answered
 * SENT OK); the wire message it saw in *W. */
static uint64_t call_with_timeout(uint64_t app_id, uint32_t timeout_ms,
                                  const struct mrpc_wire_msg **w)
{
    MrpcTest__Blob *b = mh_message(&h, &mrpc_test__blob__descriptor);
    phx_desc_t send, done;

    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    CU_ASSERT_FATAL(mh_submit(&h, &(phx_desc_t){
        .kind = MRPC_APP_CALL, .conn_id = CONN, .service_id = MRPC_TEST__ECHO__SERVICE_ID,
        .method_id = MRPC_TEST__ECHO__ECHO__METHOD_ID, .call_id = app_id,
        .call_timeout_ms = timeout_ms, .addr = (uintptr_t)b, .len = sizeof(*b) }));
    CU_ASSERT_FATAL(mh_tx_take(&h, MRPC_DESC_SEND, &send));
    CU_ASSERT_EQUAL(send.conn_id, CONN);
    *w = (const struct mrpc_wire_msg *)(uintptr_t)send.addr;
    send.kind = MRPC_DESC_SENT;
    send.status = PHX_OK;
    CU_ASSERT_FATAL(mh_rx_push(&h, &send));
    CU_ASSERT_FATAL(mh_completion(&h, MRPC_APP_SEND_DONE, &done));
    return send.call_id;
}

/* The same with the default timeout; the wire call id the engine chose. */
static uint64_t call_echo(uint64_t app_id)
{
    const struct mrpc_wire_msg *w;

    return call_with_timeout(app_id, 0, &w);
}

/* Whether a completion of KIND comes within a few turns. */
static bool completes(uint16_t kind)
{
    phx_desc_t d;

    for (unsigned t = 0; t < 20; t++) {
        mh_turn(&h);
        while (phx_ring_pop(&h.port->cq, &d, 1) == 1)
            if (d.kind == kind)
                return true;
    }
    return false;
}

static void test_cancel(void)
{
    phx_desc_t r;

    start();
    uint64_t wire = call_echo(41);
    CU_ASSERT_FATAL(mh_submit(&h, &(phx_desc_t){ .kind = MRPC_APP_CANCEL, .conn_id = CONN,
                                                 .call_id = 41 }));
    CU_ASSERT_FATAL(mh_completion(&h, MRPC_APP_REPLY_RECEIVED, &r));
    CU_ASSERT_EQUAL(r.call_id, 41);
    CU_ASSERT_EQUAL(r.status, PHX_CANCELLED);
    CU_ASSERT_EQUAL(mh_stat(&h, "outstanding_calls"), 0);

    /* the server's service is told */
    phx_desc_t cancel;
    CU_ASSERT_FATAL(mh_tx_take(&h, MRPC_DESC_SEND, &cancel));
    const struct mrpc_wire_msg *w = (const struct mrpc_wire_msg *)(uintptr_t)cancel.addr;
    CU_ASSERT_EQUAL(w->hdr.kind, MRPC_WIRE_CANCEL);
    CU_ASSERT_EQUAL(w->hdr.call_id, wire);
    CU_ASSERT_EQUAL(cancel.conn_id, CONN);
    cancel.kind = MRPC_DESC_SENT;
    mh_rx_push(&h, &cancel);

    /* the server's reply arrives after all: dropped, not delivered */
    long dropped = mh_stat(&h, "dropped");
    void *payload = phx_heap_alloc(h.port->recv_heap, 64);
    CU_ASSERT_PTR_NOT_NULL_FATAL(payload);
    CU_ASSERT_FATAL(mh_rx_push(&h, &(phx_desc_t){
        .kind = MRPC_DESC_RECEIVED, .flags = MRPC_WIRE_REPLY | MRPC_FORMAT_NATIVE << 8,
        .conn_id = CONN, .service_id = MRPC_TEST__ECHO__SERVICE_ID,
        .method_id = MRPC_TEST__ECHO__ECHO__METHOD_ID, .call_id = wire,
        .addr = (uintptr_t)payload, .len = 64 }));
    CU_ASSERT_FALSE(completes(MRPC_APP_REPLY_RECEIVED));
    CU_ASSERT_EQUAL(mh_stat(&h, "dropped"), dropped + 1);

    /* a CANCEL of a call that ended: no answer at all */
    CU_ASSERT_FATAL(mh_submit(&h, &(phx_desc_t){ .kind = MRPC_APP_CANCEL, .conn_id = CONN,
                                                 .call_id = 41 }));
    CU_ASSERT_FALSE(completes(MRPC_APP_REPLY_RECEIVED));
    CU_ASSERT_FALSE(completes(MRPC_APP_ERROR));
    mh_stop(&h);
}

/* Incoming calls the app has not been handed yet (its ring holds MH_RING_DEPTH; the rest wait in
 * the backlog): a wire CANCEL withdraws one, the others come in order. */
static void test_cancel_withdraws_unseen_call(void)
{
    enum { N = 3 * MH_RING_DEPTH };
    uint32_t accepted = MRPC_CONN_ACCEPTED_BASE + 5;
    uint64_t withdrawn = 1000 + N - 2;
    phx_desc_t d;

    start();
    CU_ASSERT_FATAL(mh_rx_push(&h, &(phx_desc_t){ .kind = MRPC_DESC_ACCEPTED, .status = PHX_OK,
                                                  .conn_id = accepted, .call_id = 1 }));
    for (unsigned i = 0; i < N; i++) {
        MrpcTest__Blob *b = mh_message(&h, &mrpc_test__blob__descriptor);
        CU_ASSERT_PTR_NOT_NULL_FATAL(b);
        b->seq = i;
        CU_ASSERT_FATAL(mh_land(&h, &mrpc_test__echo__service, 0, MRPC_WIRE_CALL, &b->base, &d));
        d.conn_id = accepted;
        d.call_id = 1000 + i;
        CU_ASSERT_FATAL(mh_rx_push(&h, &d));
        mh_turn(&h);                        /* nobody pops: the ring fills, then the backlog */
    }
    CU_ASSERT(mh_stat(&h, "backlog") > 0);
    void *empty = phx_heap_alloc(h.port->recv_heap, 16);
    CU_ASSERT_FATAL(mh_rx_push(&h, &(phx_desc_t){
        .kind = MRPC_DESC_RECEIVED, .flags = MRPC_WIRE_CANCEL | MRPC_FORMAT_NATIVE << 8,
        .conn_id = accepted, .service_id = MRPC_TEST__ECHO__SERVICE_ID,
        .method_id = MRPC_TEST__ECHO__ECHO__METHOD_ID, .call_id = withdrawn,
        .addr = (uintptr_t)empty, .len = 0 }));
    mh_turn(&h);
    uint64_t next = 1000;
    unsigned seen = 0;
    bool in_order = true, withdrawn_seen = false;
    for (unsigned t = 0; t < 100; t++) {
        mh_turn(&h);
        while (phx_ring_pop(&h.port->cq, &d, 1) == 1) {
            if (d.kind != MRPC_APP_INCOMING_CALL)
                continue;
            withdrawn_seen |= d.call_id == withdrawn;
            next += next == withdrawn;
            in_order &= d.call_id == next++;
            seen++;
            mh_submit(&h, &(phx_desc_t){ .kind = MRPC_APP_RELEASE, .addr = d.addr });
        }
    }
    CU_ASSERT_EQUAL(seen, N - 1);
    CU_ASSERT_FALSE(withdrawn_seen);
    CU_ASSERT(in_order);
    CU_ASSERT_EQUAL(mh_stat(&h, "held_buffers"), 0);    /* its request was freed too */
    mh_stop(&h);
}

static void test_dropped_reply(void)
{
    phx_desc_t r;

    start();
    uint64_t wire = call_echo(42);
    CU_ASSERT_FATAL(mh_rx_push(&h, &(phx_desc_t){
        .kind = MRPC_DESC_DROPPED, .flags = MRPC_WIRE_REPLY, .status = PHX_RESOURCE_EXHAUSTED,
        .conn_id = CONN, .service_id = MRPC_TEST__ECHO__SERVICE_ID,
        .method_id = MRPC_TEST__ECHO__ECHO__METHOD_ID, .call_id = wire, .len = 4096 }));
    CU_ASSERT_FATAL(mh_completion(&h, MRPC_APP_REPLY_RECEIVED, &r));
    CU_ASSERT_EQUAL(r.call_id, 42);
    CU_ASSERT_EQUAL(r.status, PHX_RESOURCE_EXHAUSTED);
    CU_ASSERT_PTR_NOT_NULL(strstr(mh_text(&r), "release received messages"));
    CU_ASSERT_EQUAL(mh_stat(&h, "outstanding_calls"), 0);
    mh_stop(&h);
}

static void test_dropped_call(void)
{
    phx_desc_t send;

    start();
    uint32_t accepted = MRPC_CONN_ACCEPTED_BASE + 3;
    CU_ASSERT_FATAL(mh_rx_push(&h, &(phx_desc_t){ .kind = MRPC_DESC_ACCEPTED, .status = PHX_OK,
                                                  .conn_id = accepted, .call_id = 1 }));
    CU_ASSERT_FATAL(mh_rx_push(&h, &(phx_desc_t){
        .kind = MRPC_DESC_DROPPED, .flags = MRPC_WIRE_CALL, .status = PHX_RESOURCE_EXHAUSTED,
        .conn_id = accepted, .service_id = MRPC_TEST__ECHO__SERVICE_ID,
        .method_id = MRPC_TEST__ECHO__ECHO__METHOD_ID, .call_id = 99, .len = 4096 }));
    CU_ASSERT_FATAL(mh_tx_take(&h, MRPC_DESC_SEND, &send));
    const struct mrpc_wire_msg *w = (const struct mrpc_wire_msg *)(uintptr_t)send.addr;
    CU_ASSERT_EQUAL(send.conn_id, accepted);
    CU_ASSERT_EQUAL(w->hdr.kind, MRPC_WIRE_ERROR);
    CU_ASSERT_EQUAL(w->hdr.call_id, 99);
    CU_ASSERT_EQUAL(w->hdr.status, PHX_RESOURCE_EXHAUSTED);
    send.kind = MRPC_DESC_SENT;
    mh_rx_push(&h, &send);
    mh_turn(&h);
    mh_stop(&h);
}

static void test_connect_reason(void)
{
    char *addr;
    phx_desc_t down, up;

    CU_ASSERT_FATAL(mh_start(&h));
    CU_ASSERT_PTR_NOT_NULL_FATAL(addr = mh_strdup(&h, "nowhere.test:9"));
    CU_ASSERT_FATAL(mh_submit(&h, &(phx_desc_t){ .kind = MRPC_APP_CONNECT, .conn_id = 3,
                                                 .addr = (uintptr_t)addr,
                                                 .len = strlen(addr) + 1 }));
    CU_ASSERT_FATAL(mh_tx_take(&h, MRPC_DESC_CONNECT, &down));
    down.kind = MRPC_DESC_CONNECTED;
    down.status = PHX_UNAVAILABLE;
    mrpc_conn_reason_put(&down, "Connection refused by the fake transport");
    CU_ASSERT_FATAL(mh_rx_push(&h, &down));
    CU_ASSERT_FATAL(mh_completion(&h, MRPC_APP_CONNECTED, &up));
    CU_ASSERT_EQUAL(up.status, PHX_UNAVAILABLE);
    CU_ASSERT_PTR_NOT_NULL(strstr(mh_text(&up), "nowhere.test:9"));
    CU_ASSERT_PTR_NOT_NULL(strstr(mh_text(&up), "Connection refused by the fake transport"));
    mh_stop(&h);
}

/* Puts N calls of Echo outstanding (app ids FIRST..FIRST+N-1, a minute to live), their SENDs
 * answered SENT OK; bounded in turns. */
static void calls_outstanding(uint64_t first, unsigned n)
{
    MrpcTest__Blob *b = mh_message(&h, &mrpc_test__blob__descriptor);
    unsigned queued = 0;
    phx_desc_t d;

    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    for (unsigned t = 0; t < 4 * n + 100; t++) {
        while (queued < n && mh_submit(&h, &(phx_desc_t){
                   .kind = MRPC_APP_CALL, .conn_id = CONN, .reserved = 60000,
                   .service_id = MRPC_TEST__ECHO__SERVICE_ID,
                   .method_id = MRPC_TEST__ECHO__ECHO__METHOD_ID, .call_id = first + queued,
                   .addr = (uintptr_t)b, .len = sizeof(*b) }))
            queued++;
        mh_turn(&h);
        while (phx_chan_pop(h.tx, &d, 1) == 1) {
            d.kind = MRPC_DESC_SENT;
            d.status = PHX_OK;
            CU_ASSERT_FATAL(mh_rx_push(&h, &d));
        }
        while (phx_ring_pop(&h.port->cq, &d, 1) == 1)
            CU_ASSERT_EQUAL(d.kind, MRPC_APP_SEND_DONE);
        if (queued == n && t % 64 == 0 && phx_chan_count(h.tx) == 0)
            break;
    }
    CU_ASSERT_EQUAL(queued, n);
}

/* Seconds COUNT CANCELs of calls that do not exist take the engine. */
static double cancel_burst(uint64_t first, unsigned count)
{
    unsigned long long t0 = phx_test_now_ns();
    unsigned sent = 0;

    for (unsigned t = 0; t < 4 * count + 100 && sent < count; t++) {
        while (sent < count && mh_submit(&h, &(phx_desc_t){ .kind = MRPC_APP_CANCEL,
                                                            .conn_id = CONN,
                                                            .call_id = first + sent }))
            sent++;
        mh_turn(&h);
    }
    mh_turn(&h);
    CU_ASSERT_EQUAL(sent, count);
    return (double)(phx_test_now_ns() - t0) / 1e9;
}

static void test_cancel_cost(void)
{
    const unsigned many = 65535, burst = 4096;
    phx_desc_t r;

    start();
    calls_outstanding(1, 1);
    double one = cancel_burst(1ull << 40, burst);
    calls_outstanding(2, many);
    CU_ASSERT_EQUAL_FATAL(mh_stat(&h, "outstanding_calls"), many + 1);
    double lots = cancel_burst(1ull << 41, burst);
    printf("(%u CANCELs: %.4f s with 1 call, %.4f s with %u) ", burst, one, lots, many + 1);
    CU_ASSERT(lots < 4 * one + 0.2);            /* a sweep each: over half a second */
    CU_ASSERT_EQUAL(mh_stat(&h, "outstanding_calls"), many + 1);    /* none of them hit */
    CU_ASSERT_FATAL(mh_submit(&h, &(phx_desc_t){ .kind = MRPC_APP_CANCEL, .conn_id = CONN,
                                                 .call_id = 2 + many / 2 }));
    CU_ASSERT_FATAL(mh_completion(&h, MRPC_APP_REPLY_RECEIVED, &r));
    CU_ASSERT_EQUAL(r.call_id, 2 + many / 2);
    CU_ASSERT_EQUAL(r.status, PHX_CANCELLED);
    CU_ASSERT_EQUAL(mh_stat(&h, "outstanding_calls"), many);
    /* on another connection's id it is no cancel */
    CU_ASSERT_FATAL(mh_submit(&h, &(phx_desc_t){ .kind = MRPC_APP_CANCEL, .conn_id = CONN + 1,
                                                 .call_id = 3 }));
    CU_ASSERT_FALSE(completes(MRPC_APP_REPLY_RECEIVED));
    CU_ASSERT_EQUAL(mh_stat(&h, "outstanding_calls"), many);
    mh_stop(&h);
}

/* A policy refuses the app's CALL on tx: SENT with the sentence in the wire message. */
static void test_refused_send(void)
{
    phx_desc_t send, r;

    start();
    MrpcTest__Blob *b = mh_message(&h, &mrpc_test__blob__descriptor);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    uint64_t before = phx_now_ns();
    CU_ASSERT_FATAL(mh_submit(&h, &(phx_desc_t){
        .kind = MRPC_APP_CALL, .conn_id = CONN, .service_id = MRPC_TEST__ECHO__SERVICE_ID,
        .method_id = MRPC_TEST__ECHO__ECHO__METHOD_ID, .call_id = 5, .call_timeout_ms = 2000,
        .addr = (uintptr_t)b, .len = sizeof(*b) }));
    CU_ASSERT_FATAL(mh_tx_take(&h, MRPC_DESC_SEND, &send));
    struct mrpc_wire_msg *w = (struct mrpc_wire_msg *)(uintptr_t)send.addr;
    CU_ASSERT(w->deadline_ns >= before + 2000000000ull);
    CU_ASSERT(w->deadline_ns <= phx_now_ns() + 2000000000ull);
    CU_ASSERT_EQUAL(w->reason[0], '\0');
    snprintf(w->reason, sizeof(w->reason), "denied by ACL rule 'no-echo'");
    send.kind = MRPC_DESC_SENT;
    send.status = PHX_PERMISSION_DENIED;
    CU_ASSERT_FATAL(mh_rx_push(&h, &send));
    CU_ASSERT_FATAL(mh_completion(&h, MRPC_APP_REPLY_RECEIVED, &r));
    CU_ASSERT_EQUAL(r.call_id, 5);
    CU_ASSERT_EQUAL(r.status, PHX_PERMISSION_DENIED);
    CU_ASSERT_STRING_EQUAL(mh_text(&r), "denied by ACL rule 'no-echo'");
    CU_ASSERT_EQUAL(mh_stat(&h, "refused"), 1);
    mh_stop(&h);
}

/* A call's deadline comes from the clock of the progress() pass that took it (calls.c): calls of
 * a later pass get later deadlines, each within its timeout of when it was submitted. */
static void test_deadline_per_pass(void)
{
    phx_desc_t send[2];
    uint64_t before[2], after[2];

    start();
    MrpcTest__Blob *b = mh_message(&h, &mrpc_test__blob__descriptor);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    for (unsigned i = 0; i < 2; i++) {
        if (i)
            nanosleep(&(struct timespec){ .tv_nsec = 5000000 }, NULL);
        before[i] = phx_now_ns();
        CU_ASSERT_FATAL(mh_submit(&h, &(phx_desc_t){
            .kind = MRPC_APP_CALL, .conn_id = CONN, .service_id = MRPC_TEST__ECHO__SERVICE_ID,
            .method_id = MRPC_TEST__ECHO__ECHO__METHOD_ID, .call_id = 10 + i,
            .call_timeout_ms = 2000, .addr = (uintptr_t)b, .len = sizeof(*b) }));
        CU_ASSERT_FATAL(mh_tx_take(&h, MRPC_DESC_SEND, &send[i]));
        after[i] = phx_now_ns();
    }
    for (unsigned i = 0; i < 2; i++) {
        const struct mrpc_wire_msg *w = (const struct mrpc_wire_msg *)(uintptr_t)send[i].addr;
        CU_ASSERT(w->deadline_ns >= before[i] + 2000000000ull);
        CU_ASSERT(w->deadline_ns <= after[i] + 2000000000ull);
    }
    const struct mrpc_wire_msg *w0 = (const struct mrpc_wire_msg *)(uintptr_t)send[0].addr;
    const struct mrpc_wire_msg *w1 = (const struct mrpc_wire_msg *)(uintptr_t)send[1].addr;
    CU_ASSERT(w1->deadline_ns >= w0->deadline_ns + 5000000ull);
    mh_stop(&h);
}

/* Ends the call of wire id WIRE as a dropped reply; the app hears APP_ID fail. */
static void drop_reply(uint64_t wire, uint64_t app_id)
{
    phx_desc_t r;

    CU_ASSERT_FATAL(mh_rx_push(&h, &(phx_desc_t){
        .kind = MRPC_DESC_DROPPED, .flags = MRPC_WIRE_REPLY, .status = PHX_RESOURCE_EXHAUSTED,
        .conn_id = CONN, .service_id = MRPC_TEST__ECHO__SERVICE_ID,
        .method_id = MRPC_TEST__ECHO__ECHO__METHOD_ID, .call_id = wire, .len = 64 }));
    CU_ASSERT_FATAL(mh_completion(&h, MRPC_APP_REPLY_RECEIVED, &r));
    CU_ASSERT_EQUAL(r.call_id, app_id);
    CU_ASSERT_EQUAL(r.status, PHX_RESOURCE_EXHAUSTED);
}

/* The records of ended calls are reused (calls.c, ENG_SPARE_CALLS): a call on a reused record
 * has its own id, deadline and outcome, nothing of the call that ended before it. */
static void test_reused_record(void)
{
    const struct mrpc_wire_msg *w;

    start();
    uint64_t wire1 = call_with_timeout(42, 60000, &w);
    uint64_t long_deadline = w->deadline_ns;
    drop_reply(wire1, 42);                  /* its record is spare now */
    uint64_t before = phx_now_ns();
    uint64_t wire2 = call_with_timeout(43, 2000, &w);
    CU_ASSERT_NOT_EQUAL(wire2, wire1);
    CU_ASSERT(w->deadline_ns < long_deadline);
    CU_ASSERT(w->deadline_ns >= before + 2000000000ull);
    CU_ASSERT(w->deadline_ns <= phx_now_ns() + 2000000000ull);
    CU_ASSERT_EQUAL(mh_stat(&h, "outstanding_calls"), 1);
    CU_ASSERT_FATAL(mh_rx_push(&h, &(phx_desc_t){      /* the old call's id again: no call */
        .kind = MRPC_DESC_DROPPED, .flags = MRPC_WIRE_REPLY, .status = PHX_RESOURCE_EXHAUSTED,
        .conn_id = CONN, .service_id = MRPC_TEST__ECHO__SERVICE_ID,
        .method_id = MRPC_TEST__ECHO__ECHO__METHOD_ID, .call_id = wire1, .len = 64 }));
    CU_ASSERT(!completes(MRPC_APP_REPLY_RECEIVED));
    CU_ASSERT_EQUAL(mh_stat(&h, "outstanding_calls"), 1);
    drop_reply(wire2, 43);
    CU_ASSERT_EQUAL(mh_stat(&h, "outstanding_calls"), 0);
    mh_stop(&h);
}

/* A received CALL a policy refused: its caller gets an ERROR with the status and sentence. */
static void test_refused_incoming(void)
{
    phx_desc_t send;
    const char *why = "denied by ACL rule 'ops-only'";

    start();
    uint32_t accepted = MRPC_CONN_ACCEPTED_BASE + 4;
    CU_ASSERT_FATAL(mh_rx_push(&h, &(phx_desc_t){ .kind = MRPC_DESC_ACCEPTED, .status = PHX_OK,
                                                  .conn_id = accepted, .call_id = 1 }));
    char *text = phx_heap_alloc(phx_app_port_recv_heap(h.port), strlen(why) + 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    strcpy(text, why);
    CU_ASSERT_FATAL(mh_rx_push(&h, &(phx_desc_t){
        .kind = MRPC_DESC_REFUSED, .flags = MRPC_WIRE_CALL, .status = PHX_PERMISSION_DENIED,
        .conn_id = accepted, .service_id = MRPC_TEST__ECHO__SERVICE_ID,
        .method_id = MRPC_TEST__ECHO__ECHO__METHOD_ID, .call_id = 77,
        .addr = (uintptr_t)text, .len = strlen(why) + 1 }));
    CU_ASSERT_FATAL(mh_tx_take(&h, MRPC_DESC_SEND, &send));
    const struct mrpc_wire_msg *w = (const struct mrpc_wire_msg *)(uintptr_t)send.addr;
    CU_ASSERT_EQUAL(send.conn_id, accepted);
    CU_ASSERT_EQUAL(w->hdr.kind, MRPC_WIRE_ERROR);
    CU_ASSERT_EQUAL(w->hdr.call_id, 77);
    CU_ASSERT_EQUAL(w->hdr.status, PHX_PERMISSION_DENIED);
    CU_ASSERT_EQUAL(w->hdr.payload_len, strlen(why));
    CU_ASSERT_EQUAL(memcmp(w->iov[0].base, why, strlen(why)), 0);
    CU_ASSERT_FALSE(completes(MRPC_APP_INCOMING_CALL));
    send.kind = MRPC_DESC_SENT;
    send.status = PHX_OK;
    mh_rx_push(&h, &send);
    mh_turn(&h);
    mh_stop(&h);
}

/* A received REPLY a policy refused: the app's call fails with the status and sentence; without a
 * sentence (no room in the heap) with a generic one. */
static void test_refused_reply(void)
{
    phx_desc_t r;
    const char *why = "reply larger than the policy allows";

    start();
    uint64_t wire = call_echo(43);
    char *text = phx_heap_alloc(phx_app_port_recv_heap(h.port), strlen(why) + 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    strcpy(text, why);
    CU_ASSERT_FATAL(mh_rx_push(&h, &(phx_desc_t){
        .kind = MRPC_DESC_REFUSED, .flags = MRPC_WIRE_REPLY, .status = PHX_OUT_OF_RANGE,
        .conn_id = CONN, .service_id = MRPC_TEST__ECHO__SERVICE_ID,
        .method_id = MRPC_TEST__ECHO__ECHO__METHOD_ID, .call_id = wire,
        .addr = (uintptr_t)text, .len = strlen(why) + 1 }));
    CU_ASSERT_FATAL(mh_completion(&h, MRPC_APP_REPLY_RECEIVED, &r));
    CU_ASSERT_EQUAL(r.call_id, 43);
    CU_ASSERT_EQUAL(r.status, PHX_OUT_OF_RANGE);
    CU_ASSERT_STRING_EQUAL(mh_text(&r), why);
    wire = call_echo(44);
    CU_ASSERT_FATAL(mh_rx_push(&h, &(phx_desc_t){
        .kind = MRPC_DESC_REFUSED, .flags = MRPC_WIRE_REPLY, .status = PHX_ABORTED,
        .conn_id = CONN, .service_id = MRPC_TEST__ECHO__SERVICE_ID,
        .method_id = MRPC_TEST__ECHO__ECHO__METHOD_ID, .call_id = wire }));
    CU_ASSERT_FATAL(mh_completion(&h, MRPC_APP_REPLY_RECEIVED, &r));
    CU_ASSERT_EQUAL(r.status, PHX_ABORTED);
    CU_ASSERT_PTR_NOT_NULL(strstr(mh_text(&r), "policy"));
    CU_ASSERT_EQUAL(mh_stat(&h, "outstanding_calls"), 0);
    CU_ASSERT_EQUAL(mh_stat(&h, "refused"), 2);
    mh_stop(&h);
}

static const phx_test_case_t cases[] = {
    { "CANCEL ends a call at once and its late reply is dropped", test_cancel },
    { "a wire CANCEL withdraws a call its app has not seen", test_cancel_withdraws_unseen_call },
    { "a reply dropped for a full heap says: release received messages", test_dropped_reply },
    { "a call dropped for a full heap is answered to its caller", test_dropped_call },
    { "the transport's reason for a failed CONNECT reaches the app", test_connect_reason },
    { "a CANCEL does not sweep every outstanding call", test_cancel_cost },
    { "a policy's refusal on tx reaches the app with its sentence", test_refused_send },
    { "each pass's calls take their deadlines from that pass's clock", test_deadline_per_pass },
    { "a reused call record carries nothing of the call before", test_reused_record },
    { "an incoming call a policy refused is answered to its caller", test_refused_incoming },
    { "a reply a policy refused fails the call with its sentence", test_refused_reply },
    { NULL, NULL },
};

int main(int argc, char **argv)
{
    return phx_test_main("mrpc_engine", cases, argc, argv);
}
