/* test_ledger.c - the soak caller's ledger (ledger.c) counts what soak.sh's verdict relies on.
 *
 * Each call ends once: a second ending, or one for a number never issued, is a duplicate and
 * not an outcome; refusals count as outcomes without a number; at a clean finish what never
 * ended is lost; and the counters are in the file, so a reader sees them as a killed caller
 * left them (before any finish). */
#include "soak_app.h"

#include "phx_test.h"

#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <fcntl.h>
#include <unistd.h>

static soak_ledger_t *new_ledger(char *path, size_t len)
{
    char err[256];

    snprintf(path, len, "%s/ledger", phx_test_tmpdir("soak-ledger"));
    soak_ledger_t *l = soak_ledger_create(path, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(l);
    return l;
}

static void test_each_call_ends_once(void)
{
    char path[512];
    soak_ledger_t *l = new_ledger(path, sizeof(path));
    const soak_counters_t *c = soak_ledger_counters(l);

    uint64_t a = soak_ledger_issue(l), b = soak_ledger_issue(l), d = soak_ledger_issue(l);
    CU_ASSERT_EQUAL(a, 1u);
    CU_ASSERT_EQUAL(d, 3u);
    soak_ledger_end(l, a, PHX_OK);
    soak_ledger_end(l, b, PHX_UNAVAILABLE);
    soak_ledger_end(l, a, PHX_OK);                 /* again */
    soak_ledger_end(l, 99, PHX_OK);                /* never issued */
    soak_ledger_end(l, 0, PHX_RESOURCE_EXHAUSTED); /* refused at once */
    soak_ledger_end(l, b, 1000);                   /* again, with a code beyond the enum */
    CU_ASSERT_EQUAL(c->duplicated, 3u);
    CU_ASSERT_EQUAL(c->ended, 2u);
    CU_ASSERT_EQUAL(c->refused, 1u);
    CU_ASSERT_EQUAL(c->status[PHX_OK], 1u);
    CU_ASSERT_EQUAL(c->status[PHX_UNAVAILABLE], 1u);
    CU_ASSERT_EQUAL(c->status[PHX_RESOURCE_EXHAUSTED], 1u);
    CU_ASSERT_EQUAL(c->status[SOAK_NSTATUS - 1], 0u);
    CU_ASSERT_EQUAL(soak_ledger_outstanding(l), 1u);
    CU_ASSERT_EQUAL(c->lost, 0u);
    soak_ledger_finish(l);
    CU_ASSERT_EQUAL(c->lost, 1u);                  /* d never ended */
    CU_ASSERT_EQUAL(c->finished, 1u);
    soak_ledger_close(l);
}

static void test_bitmap_grows(void)
{
    char path[512];
    soak_ledger_t *l = new_ledger(path, sizeof(path));
    uint64_t seq = 0;

    for (unsigned i = 0; i < (1u << 23) + 10; i++)   /* past the first 8 Mi-call chunk */
        seq = soak_ledger_issue(l);
    CU_ASSERT_EQUAL(seq, (1u << 23) + 10);
    soak_ledger_end(l, seq, PHX_OK);
    soak_ledger_end(l, seq, PHX_OK);
    CU_ASSERT_EQUAL(soak_ledger_counters(l)->duplicated, 1u);
    CU_ASSERT_EQUAL(soak_ledger_outstanding(l), (uint64_t)(1u << 23) + 9);
    soak_ledger_close(l);
}

/* What another process maps is what the caller counted, with no finish. */
static void test_counters_are_in_the_file(void)
{
    char path[512];
    soak_ledger_t *l = new_ledger(path, sizeof(path));

    soak_ledger_end(l, soak_ledger_issue(l), PHX_OK);
    soak_ledger_issue(l);
    int fd = open(path, O_RDONLY);
    CU_ASSERT_FATAL(fd >= 0);
    soak_counters_t *seen = mmap(NULL, sizeof(*seen), PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    CU_ASSERT_FATAL(seen != MAP_FAILED);
    CU_ASSERT_EQUAL(seen->issued, 2u);
    CU_ASSERT_EQUAL(seen->status[PHX_OK], 1u);
    CU_ASSERT_EQUAL(seen->finished, 0u);
    CU_ASSERT_EQUAL(soak_ledger_read(path), 0);
    munmap(seen, sizeof(*seen));
    soak_ledger_close(l);
    CU_ASSERT_EQUAL(soak_ledger_read("/proc/self/status"), -1);   /* not a ledger */
    CU_ASSERT_EQUAL(soak_ledger_read(phx_test_write_file(phx_test_tmpdir("soak-short"), "x",
                                                         "soakldg1")), -1);   /* too short */
}

static const phx_test_case_t cases[] = {
    { "each call ends once; the rest are duplicates or lost", test_each_call_ends_once },
    { "the bitmap grows past its first chunk", test_bitmap_grows },
    { "the counters are in the file for a reader", test_counters_are_in_the_file },
    { NULL, NULL },
};

int main(int argc, char **argv)
{
    return phx_test_main("soak_ledger", cases, argc, argv);
}
