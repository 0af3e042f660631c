/* test_mrpc_buffers.c - buffers that calls borrow (mrpc_buffer_*, MRPC_CALL_OPT_FIELD_BORROW).
 *
 * Two nodes and the test server (mrpc_test_peer) as in test_mrpc (mrpc_fixture.h); this process
 * calls Echo.Echo through libmrpc with a request whose data field points into a buffer:
 *
 *   borrow       the reply carries the buffer's bytes; while the call is out the buffer is busy
 *                and cannot be freed; when the completion runs it is idle (the service no
 *                longer reads it), still a buffer (not freed with the request), and frees then;
 *                a field at the buffer's very start is not freed with the request either
 *   find         mrpc_buffer_find: inside, across the end, not a buffer
 *   bad borrow   naming memory that is no buffer (malloc'd, inside a buffer) is refused before
 *                anything is submitted, and the callback never runs
 *   outside      a request whose field points outside the send heap is refused by the service
 *                (INVALID_ARGUMENT), and the buffer it named is idle again afterwards
 *   cancel       a borrowing call cancelled ends at once; its buffer stays busy until the
 *                service gave the request back, then frees
 *   free twice   the second mrpc_buffer_free says INVALID_ARGUMENT
 *
 * Every loop is bounded in count and time; every process is stopped by PID. */
#include "mrpc_fixture.h"
#include "mrpc_test.mrpc.h"
#include "phx_test.h"

#include <stdlib.h>
#include <string.h>

static struct mrpc_setup up;    /* the nodes, the test server (up.peer), our up.ctx and up.conn */

/* What a completion saw. */
struct seen {
    bool          done;
    phx_status_t  code;
    int           busy_then;        /* mrpc_buffer_busy() of BUF inside the callback */
    const void   *buf;
    bool          data_ok;
    size_t        len;
    const uint8_t *want;
};

static void on_done(mrpc_ctx_t *c, void *token, const mrpc_status_t *st,
                    const ProtobufCMessage *reply)
{
    struct seen *s = token;
    const MrpcTest__Blob *b = (const MrpcTest__Blob *)reply;

    s->done = true;
    s->code = st->code;
    s->busy_then = mrpc_buffer_busy(c, s->buf);
    s->data_ok = b && b->data.len == s->len && memcmp(b->data.data, s->want, s->len) == 0;
    if (reply)
        mrpc_release(c, reply);
}

static void wait_done(const struct seen *s)
{
    for (unsigned long long end = phx_test_now_ns() + 20 * PHX_NS;
         !s->done && phx_test_now_ns() < end;)
        CU_ASSERT_FATAL(mrpc_ctx_progress(up.ctx, 100) >= 0);
}

/* A request whose data is LEN bytes of BUF at OFF. */
static MrpcTest__Blob *borrowing(uint8_t *buf, size_t off, size_t len)
{
    MrpcTest__Blob *b = (MrpcTest__Blob *)mrpc_message_new(up.ctx, &mrpc_test__blob__descriptor);

    b->seq = 1;
    b->data.data = buf + off;
    b->data.len = len;
    return b;
}

static mrpc_call_opts_t borrow_opts(const void *buf)
{
    return (mrpc_call_opts_t){ .field_mask = MRPC_CALL_OPT_FIELD_BORROW, .borrow = buf };
}

static void fill(uint8_t *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(i * 13 + seed);
}

static void test_borrow(void)
{
    enum { SIZE = 1 << 20, OFF = 4096, LEN = 512 << 10 };

    mrpc_need_setup();
    uint8_t *buf = mrpc_buffer_alloc(up.ctx, SIZE);
    CU_ASSERT_PTR_NOT_NULL_FATAL(buf);
    fill(buf, SIZE, 3);
    uint8_t *want = malloc(LEN);
    memcpy(want, buf + OFF, LEN);
    CU_ASSERT_EQUAL(mrpc_buffer_busy(up.ctx, buf), 0);
    struct seen s = { .buf = buf, .len = LEN, .want = want, .busy_then = -2 };
    mrpc_call_opts_t o = borrow_opts(buf);
    CU_ASSERT_EQUAL_FATAL(mrpc_test__echo__echo_async(up.conn, borrowing(buf, OFF, LEN), on_done,
                                                      &s, &o).code, PHX_OK);
    CU_ASSERT_EQUAL(mrpc_buffer_busy(up.ctx, buf), 1);
    CU_ASSERT_EQUAL(mrpc_buffer_free(up.ctx, buf), PHX_FAILED_PRECONDITION);  /* in flight */
    wait_done(&s);
    CU_ASSERT(s.done);
    CU_ASSERT_EQUAL(s.code, PHX_OK);
    CU_ASSERT(s.data_ok);
    CU_ASSERT_EQUAL(s.busy_then, 0);           /* the service read it before DONE ran */
    CU_ASSERT_EQUAL(mrpc_buffer_busy(up.ctx, buf), 0);
    CU_ASSERT_EQUAL(memcmp(buf + OFF, want, LEN), 0);

    /* A field at the buffer's start: the request is freed, the buffer stays. */
    struct seen t = { .buf = buf, .len = 100, .want = buf, .busy_then = -2 };
    memcpy(want, buf, 100);
    t.want = want;
    CU_ASSERT_EQUAL_FATAL(mrpc_test__echo__echo_async(up.conn, borrowing(buf, 0, 100), on_done, &t,
                                                      &o).code, PHX_OK);
    wait_done(&t);
    CU_ASSERT(t.done && t.code == PHX_OK && t.data_ok);
    CU_ASSERT_EQUAL(mrpc_buffer_busy(up.ctx, buf), 0);         /* still a buffer */
    CU_ASSERT_PTR_EQUAL(mrpc_buffer_find(up.ctx, buf, SIZE), buf);
    CU_ASSERT_EQUAL(mrpc_buffer_free(up.ctx, buf), PHX_OK);
    CU_ASSERT_EQUAL(mrpc_buffer_free(up.ctx, buf), PHX_INVALID_ARGUMENT);     /* twice */
    CU_ASSERT_EQUAL(mrpc_buffer_busy(up.ctx, buf), -1);
    free(want);
}

static void test_find(void)
{
    mrpc_need_setup();
    uint8_t *buf = mrpc_buffer_alloc(up.ctx, 10000), *other = malloc(64);
    CU_ASSERT_PTR_NOT_NULL_FATAL(buf);
    CU_ASSERT_PTR_EQUAL(mrpc_buffer_find(up.ctx, buf + 100, 9900), buf);
    CU_ASSERT_PTR_EQUAL(mrpc_buffer_find(up.ctx, buf, 10000), buf);
    CU_ASSERT_PTR_NULL(mrpc_buffer_find(up.ctx, buf + 100, 9901));              /* past its end */
    CU_ASSERT_PTR_NULL(mrpc_buffer_find(up.ctx, other, 10));
    CU_ASSERT_PTR_NULL(mrpc_buffer_alloc(up.ctx, 0));
    CU_ASSERT_EQUAL(mrpc_buffer_busy(up.ctx, other), -1);
    CU_ASSERT_EQUAL(mrpc_buffer_free(up.ctx, buf + 8), PHX_INVALID_ARGUMENT);  /* inside one */
    CU_ASSERT_EQUAL(mrpc_buffer_free(up.ctx, other), PHX_INVALID_ARGUMENT);
    CU_ASSERT_EQUAL(mrpc_buffer_free(up.ctx, buf), PHX_OK);
    free(other);
}

/* Naming what is no buffer: refused before anything goes to the service. */
static void test_bad_borrow(void)
{
    mrpc_need_setup();
    uint8_t *buf = mrpc_buffer_alloc(up.ctx, 4096), *other = malloc(4096);
    struct seen s = { .buf = buf };
    CU_ASSERT_PTR_NOT_NULL_FATAL(buf);
    mrpc_call_opts_t o = borrow_opts(other);
    mrpc_status_t st = mrpc_test__echo__echo_async(up.conn, borrowing(buf, 0, 16), on_done, &s, &o);
    CU_ASSERT_EQUAL(st.code, PHX_INVALID_ARGUMENT);
    CU_ASSERT_PTR_NOT_NULL(strstr(st.message, "mrpc_buffer_alloc"));
    o = borrow_opts(buf + 16);
    st = mrpc_test__echo__echo_async(up.conn, borrowing(buf, 16, 16), on_done, &s, &o);
    CU_ASSERT_EQUAL(st.code, PHX_INVALID_ARGUMENT);
    mrpc_ctx_progress(up.ctx, 50);
    CU_ASSERT(!s.done);                        /* DONE never runs for a call not made */
    CU_ASSERT_EQUAL(mrpc_buffer_busy(up.ctx, buf), 0);
    CU_ASSERT_EQUAL(mrpc_buffer_free(up.ctx, buf), PHX_OK);    /* not freed with the requests */
    free(other);
}

/* The request's field points outside the send heap: the service refuses it, as any message. */
static void test_outside_heap(void)
{
    mrpc_need_setup();
    uint8_t *buf = mrpc_buffer_alloc(up.ctx, 4096), *outside = malloc(4096);
    CU_ASSERT_PTR_NOT_NULL_FATAL(buf);
    memset(outside, 1, 4096);
    struct seen s = { .buf = buf, .busy_then = -2 };
    mrpc_call_opts_t o = borrow_opts(buf);
    MrpcTest__Blob *req = borrowing(buf, 0, 16);
    req->data.data = outside;
    CU_ASSERT_EQUAL_FATAL(mrpc_test__echo__echo_async(up.conn, req, on_done, &s, &o).code, PHX_OK);
    wait_done(&s);
    CU_ASSERT(s.done);
    CU_ASSERT_EQUAL(s.code, PHX_INVALID_ARGUMENT);
    CU_ASSERT_EQUAL(s.busy_then, 0);
    CU_ASSERT_EQUAL(mrpc_buffer_free(up.ctx, buf), PHX_OK);
    free(outside);
}

/* Cancelled: DONE at once; the buffer is idle once the service gave the request back. */
static void test_cancel(void)
{
    mrpc_need_setup();
    uint8_t *buf = mrpc_buffer_alloc(up.ctx, 1 << 16);
    mrpc_call_id_t id = 0;
    struct seen s = { .buf = buf };
    CU_ASSERT_PTR_NOT_NULL_FATAL(buf);
    mrpc_call_opts_t o = { .field_mask = MRPC_CALL_OPT_FIELD_BORROW | MRPC_CALL_OPT_FIELD_ID,
                           .borrow = buf, .id = &id };
    MrpcTest__Blob *req = borrowing(buf, 0, 1 << 16);
    req->seq = 400;                            /* Sleep answers after 400 ms */
    CU_ASSERT_EQUAL_FATAL(mrpc_test__echo__sleep_async(up.conn, req, on_done, &s, &o).code, PHX_OK);
    CU_ASSERT_EQUAL(mrpc_cancel(up.ctx, id), PHX_OK);
    CU_ASSERT(s.done);
    CU_ASSERT_EQUAL(s.code, PHX_CANCELLED);
    for (unsigned long long end = phx_test_now_ns() + 10 * PHX_NS;
         mrpc_buffer_busy(up.ctx, buf) > 0 && phx_test_now_ns() < end;)
        mrpc_ctx_progress(up.ctx, 50);
    CU_ASSERT_EQUAL(mrpc_buffer_busy(up.ctx, buf), 0);
    CU_ASSERT_EQUAL(mrpc_buffer_free(up.ctx, buf), PHX_OK);
}

static const phx_test_case_t cases[] = {
    { "a borrowing call sends from the buffer and completes once it was read", test_borrow },
    { "mrpc_buffer_find and bad frees", test_find },
    { "borrowing what is no buffer is refused", test_bad_borrow },
    { "a field outside the send heap is refused; the buffer is idle again", test_outside_heap },
    { "a cancelled borrowing call: the buffer frees once given back", test_cancel },
    { NULL, NULL },
};

int main(int argc, char **argv)
{
    return mrpc_setup_main(&up, "mrpc_buffers", "buffers", MRPC_TEST_PEER, cases, argc, argv);
}
