/* test_handover.c - the live upgrade's resource table and state bytes (phoenix/handover.h).
 *
 *   table      handles name what was put; a handle is taken once and only with its kind; an
 *              engine that is not being upgraded has no table; commit frees the heap blocks and
 *              closes the fds no restore() took and leaves the taken ones alone (a taken fd is
 *              still open afterwards, an untaken one is closed); drop releases nothing
 *   handles    an opaque handle is taken once, as itself; commit neither frees nor forgets it
 *              wrongly (a stack address put and never taken survives commit under ASan)
 *   hooks      commit hooks run once each, in order, with their engine and argument, only
 *              when the host runs them (commit); an aborted upgrade drops them unrun
 *   bytes      what the writer writes the reader reads back, little-endian; a short blob or an
 *              oversized length fails the reader without reading past the end
 *   slots      a runtime slot is found again by name, another name is another slot */
#include "graph.h"
#include "phoenix/handover.h"
#include "phoenix/handover.h"
#include "phx_test.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static bool fd_open(int fd)
{
    return fcntl(fd, F_GETFD) != -1;
}

static void test_table(void)
{
    phx_engine_t e = { .wait_fd = -1 };
    uint32_t h_heap, h_kept, h_fd, h_open, none;
    int fds[2];

    CU_ASSERT_EQUAL(phx_handover_put_heap(&e, &none, &none), -EINVAL);  /* not upgrading */
    CU_ASSERT_FATAL(pipe(fds) == 0);
    e.handover = phx_handover_new();
    CU_ASSERT_PTR_NOT_NULL_FATAL(e.handover);
    void *kept = malloc(32);
    CU_ASSERT_EQUAL(phx_handover_put_heap(&e, malloc(16), &h_heap), 0);  /* freed by commit */
    CU_ASSERT_EQUAL(phx_handover_put_heap(&e, kept, &h_kept), 0);
    CU_ASSERT_EQUAL(phx_handover_put_fd(&e, fds[0], &h_fd), 0);           /* closed by commit */
    CU_ASSERT_EQUAL(phx_handover_put_fd(&e, fds[1], &h_open), 0);
    CU_ASSERT(h_heap && h_kept && h_fd && h_open && h_heap != h_kept);
    CU_ASSERT_PTR_NULL(phx_handover_take_heap(&e, h_fd));                 /* another kind */
    CU_ASSERT_EQUAL(phx_handover_take_fd(&e, h_kept), -1);
    CU_ASSERT_PTR_NULL(phx_handover_take_heap(&e, 0));
    CU_ASSERT_PTR_NULL(phx_handover_take_heap(&e, 99));
    CU_ASSERT_PTR_EQUAL(phx_handover_take_heap(&e, h_kept), kept);
    CU_ASSERT_PTR_NULL(phx_handover_take_heap(&e, h_kept));              /* taken once */
    CU_ASSERT_EQUAL(phx_handover_take_fd(&e, h_open), fds[1]);
    phx_handover_commit(e.handover);
    e.handover = NULL;
    CU_ASSERT(!fd_open(fds[0]));        /* nobody took it: the runtime closed it */
    CU_ASSERT(fd_open(fds[1]));         /* taken: the new state's now */
    close(fds[1]);
    free(kept);                         /* taken: the new state's now */
}

static void test_drop(void)
{
    phx_engine_t e = { .wait_fd = -1 };
    uint32_t h;
    int fds[2];

    CU_ASSERT_FATAL(pipe(fds) == 0);
    e.handover = phx_handover_new();
    CU_ASSERT_EQUAL(phx_handover_put_fd(&e, fds[0], &h), 0);
    CU_ASSERT_EQUAL(phx_handover_take_fd(&e, h), fds[0]);
    phx_handover_drop(e.handover);      /* abort: everything stays the old state's */
    CU_ASSERT(fd_open(fds[0]));
    close(fds[0]);
    close(fds[1]);
}

static void test_bytes(void)
{
    phx_wbuf_t w = { 0 };
    phx_blob_t blob = { 0 };
    phx_rbuf_t r;
    size_t n;

    phx_wbuf_u8(&w, 0xab);
    phx_wbuf_u32(&w, 0x01020304u);
    phx_wbuf_u64(&w, 0x1122334455667788ull);
    phx_wbuf_blob(&w, "hello", 5);
    for (unsigned i = 0; i < 1000; i++)     /* grows past the first buffer */
        phx_wbuf_u32(&w, i);
    CU_ASSERT_EQUAL_FATAL(phx_wbuf_finish(&w, &blob), 0);
    CU_ASSERT_EQUAL(blob.len, 1 + 4 + 8 + 4 + 5 + 4000);
    CU_ASSERT_EQUAL(((uint8_t *)blob.data)[1], 0x04);  /* little-endian */
    phx_rbuf_init(&r, &blob);
    CU_ASSERT_EQUAL(phx_rbuf_u8(&r), 0xab);
    CU_ASSERT_EQUAL(phx_rbuf_u32(&r), 0x01020304u);
    CU_ASSERT_EQUAL(phx_rbuf_u64(&r), 0x1122334455667788ull);
    const char *s = phx_rbuf_blob(&r, 16, &n);
    CU_ASSERT(s && n == 5 && memcmp(s, "hello", 5) == 0);
    unsigned wrong = 0;
    for (unsigned i = 0; i < 1000; i++)
        wrong += phx_rbuf_u32(&r) != i;
    CU_ASSERT_EQUAL(wrong, 0);
    CU_ASSERT(!r.failed && r.left == 0);
    CU_ASSERT_EQUAL(phx_rbuf_u32(&r), 0);   /* past the end: zero, and failed */
    CU_ASSERT(r.failed);

    phx_blob_t cut = { .data = blob.data, .len = 1 + 4 + 8 + 4 + 2 };   /* inside "hello" */
    phx_rbuf_init(&r, &cut);
    phx_rbuf_u8(&r);
    phx_rbuf_u32(&r);
    phx_rbuf_u64(&r);
    CU_ASSERT_PTR_NULL(phx_rbuf_blob(&r, 16, &n));
    CU_ASSERT(r.failed && n == 0);
    phx_rbuf_init(&r, &blob);
    phx_rbuf_bytes(&r, 13);
    CU_ASSERT_PTR_NULL(phx_rbuf_blob(&r, 4, &n));    /* 5 bytes: more than the 4 allowed */
    CU_ASSERT(r.failed);
    free(blob.data);
}

static void test_handles(void)
{
    phx_engine_t e = { .wait_fd = -1 };
    int a, b;
    uint32_t ha, hb, hh;

    CU_ASSERT_EQUAL(phx_handover_put_handle(&e, &a, &ha), -EINVAL);     /* not upgrading */
    e.handover = phx_handover_new();
    CU_ASSERT_PTR_NOT_NULL_FATAL(e.handover);
    CU_ASSERT_EQUAL(phx_handover_put_handle(&e, NULL, &ha), -EINVAL);
    CU_ASSERT_EQUAL(phx_handover_put_handle(&e, &a, &ha), 0);
    CU_ASSERT_EQUAL(phx_handover_put_handle(&e, &b, &hb), 0);           /* never taken */
    CU_ASSERT_EQUAL(phx_handover_put_heap(&e, malloc(8), &hh), 0);
    CU_ASSERT_PTR_NULL(phx_handover_take_handle(&e, hh));               /* another kind */
    CU_ASSERT_PTR_NULL(phx_handover_take_heap(&e, ha));
    CU_ASSERT_PTR_EQUAL(phx_handover_take_handle(&e, ha), &a);
    CU_ASSERT_PTR_NULL(phx_handover_take_handle(&e, ha));               /* taken once */
    phx_handover_commit(e.handover);    /* frees the heap block only: &b is not free()d */
}

struct hook_log {
    phx_engine_t *e[4];
    int           tag[4];
    unsigned      n;
};

static struct hook_log hooks;

static void hook(phx_engine_t *e, void *arg)
{
    if (hooks.n < 4) {
        hooks.e[hooks.n] = e;
        hooks.tag[hooks.n] = *(int *)arg;
    }
    hooks.n++;
}

static void test_hooks(void)
{
    phx_engine_t e = { .wait_fd = -1 };
    int one = 1, two = 2;
    uint32_t h;

    memset(&hooks, 0, sizeof(hooks));
    CU_ASSERT_EQUAL(phx_handover_on_commit(&e, hook, &one), -EINVAL);   /* not upgrading */
    e.handover = phx_handover_new();
    CU_ASSERT_PTR_NOT_NULL_FATAL(e.handover);
    CU_ASSERT_EQUAL(phx_handover_on_commit(&e, NULL, &one), -EINVAL);
    CU_ASSERT_EQUAL(phx_handover_on_commit(&e, hook, &one), 0);
    CU_ASSERT_EQUAL(phx_handover_put_fd(&e, -1, &h), 0);
    CU_ASSERT_EQUAL(phx_handover_on_commit(&e, hook, &two), 0);
    CU_ASSERT_EQUAL(hooks.n, 0);                    /* registering runs nothing */
    phx_handover_run_hooks(e.handover, &e);
    CU_ASSERT_EQUAL_FATAL(hooks.n, 2);
    CU_ASSERT(hooks.e[0] == &e && hooks.e[1] == &e);
    CU_ASSERT(hooks.tag[0] == 1 && hooks.tag[1] == 2);
    phx_handover_commit(e.handover);                /* does not run them again */
    CU_ASSERT_EQUAL(hooks.n, 2);

    e.handover = phx_handover_new();                /* another upgrade, aborted */
    CU_ASSERT_PTR_NOT_NULL_FATAL(e.handover);
    CU_ASSERT_EQUAL(phx_handover_on_commit(&e, hook, &one), 0);
    phx_handover_drop(e.handover);
    CU_ASSERT_EQUAL(hooks.n, 2);
}

static void test_slots(void)
{
    void **a = phx_runtime_slot("test.a"), **b = phx_runtime_slot("test.b");
    int x;

    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    CU_ASSERT_PTR_NOT_EQUAL(a, b);
    CU_ASSERT_PTR_NULL(*a);
    *a = &x;
    CU_ASSERT_PTR_EQUAL(phx_runtime_slot("test.a"), a);
    CU_ASSERT_PTR_EQUAL(*phx_runtime_slot("test.a"), &x);
    CU_ASSERT_PTR_NULL(*b);
}

static const phx_test_case_t cases[] = {
    { "resource table: put, take, commit", test_table },
    { "resource table: an aborted upgrade releases nothing", test_drop },
    { "resource table: opaque handles", test_handles },
    { "resource table: commit hooks run at commit only", test_hooks },
    { "state bytes: written, read back, bounded", test_bytes },
    { "runtime slots by name", test_slots },
    { NULL, NULL },
};

int main(int argc, char **argv)
{
    return phx_test_main("handover", cases, argc, argv);
}
