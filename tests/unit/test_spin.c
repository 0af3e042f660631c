/* test_spin.c - adaptive spinning (core/lib/spin.h): its decisions, fed durations, not clocks.
 *
 *   threshold  a long yield is 4 budgets, within [250 us, 1 ms]
 *   quiet      short yields keep spinning, wait after wait, and leave no back-off
 *   long       a long yield stops the spin and the next PHX_SPIN_SKIP_MIN waits do not spin
 *   back-off   a long probe after the skips doubles them, up to PHX_SPIN_SKIP_MAX
 *   re-probe   a probe with short yields only clears the back-off: a long yield later skips
 *              PHX_SPIN_SKIP_MIN again
 *   yield      phx_spin_yield() really yields and, on an idle-enough machine, judges it short */
#include "spin.h"
#include "phx_test.h"

#define SHORT_NS 20000ull      /* 20 us: the peer ran for a moment */
#define LONG_NS  4000000ull    /* 4 ms: a busy process's time slice */

/* Waits that START refuses in a row, at most LIMIT. */
static unsigned skipped(struct phx_spin *s, unsigned limit)
{
    unsigned n = 0;

    while (n < limit && !phx_spin_start(s))
        n++;
    return n;
}

/* One wait that spins and whose single yield took YIELD_NS: phx_spin_note()'s answer. */
static bool probe(struct phx_spin *s, uint64_t yield_ns)
{
    CU_ASSERT_TRUE(phx_spin_start(s));
    return phx_spin_note(s, yield_ns);
}

static void test_threshold(void)
{
    CU_ASSERT_EQUAL(phx_spin_long_ns(0), PHX_SPIN_LONG_MIN_NS);
    CU_ASSERT_EQUAL(phx_spin_long_ns(50), PHX_SPIN_LONG_MIN_NS);
    CU_ASSERT_EQUAL(phx_spin_long_ns(100), 400000ull);
    CU_ASSERT_EQUAL(phx_spin_long_ns(1000000), PHX_SPIN_LONG_MAX_NS);
    CU_ASSERT_TRUE(SHORT_NS < PHX_SPIN_LONG_MIN_NS && LONG_NS > PHX_SPIN_LONG_MAX_NS);
}

static void test_quiet_keeps_spinning(void)
{
    struct phx_spin s;

    phx_spin_init(&s, 50);
    for (unsigned w = 0; w < 100; w++) {
        CU_ASSERT_TRUE(phx_spin_start(&s));
        for (unsigned y = 0; y < 10; y++)
            CU_ASSERT_TRUE(phx_spin_note(&s, SHORT_NS));
        CU_ASSERT_TRUE(phx_spin_note(&s, phx_spin_long_ns(50)));   /* the bound is short */
    }
    CU_ASSERT_EQUAL(s.skip, 0u);
    CU_ASSERT_EQUAL(s.backoff, 0u);
}

static void test_long_yield_stops_and_skips(void)
{
    struct phx_spin s;

    phx_spin_init(&s, 50);
    CU_ASSERT_TRUE(phx_spin_start(&s));
    CU_ASSERT_TRUE(phx_spin_note(&s, SHORT_NS));
    CU_ASSERT_FALSE(phx_spin_note(&s, LONG_NS));
    CU_ASSERT_EQUAL(skipped(&s, 10000), PHX_SPIN_SKIP_MIN);
}

static void test_backoff_doubles_to_cap(void)
{
    struct phx_spin s;
    unsigned expect = PHX_SPIN_SKIP_MIN, rounds = 0;

    phx_spin_init(&s, 50);
    for (; rounds < 20; rounds++) {
        CU_ASSERT_FALSE(probe(&s, LONG_NS));
        CU_ASSERT_EQUAL(skipped(&s, 10000), expect);
        if (rounds > 0 && expect == PHX_SPIN_SKIP_MAX)
            break;
        expect = 2 * expect > PHX_SPIN_SKIP_MAX ? PHX_SPIN_SKIP_MAX : 2 * expect;
    }
    CU_ASSERT_TRUE(rounds < 20);
    /* capped: another long probe skips the cap again, no more */
    CU_ASSERT_FALSE(probe(&s, LONG_NS));
    CU_ASSERT_EQUAL(skipped(&s, 10000), PHX_SPIN_SKIP_MAX);
}

static void test_clean_probe_clears_backoff(void)
{
    struct phx_spin s;

    phx_spin_init(&s, 50);
    CU_ASSERT_FALSE(probe(&s, LONG_NS));
    CU_ASSERT_EQUAL(skipped(&s, 10000), PHX_SPIN_SKIP_MIN);
    CU_ASSERT_FALSE(probe(&s, LONG_NS));
    CU_ASSERT_EQUAL(skipped(&s, 10000), 2 * PHX_SPIN_SKIP_MIN);
    /* the probe's yields are short: the machine is quiet again */
    CU_ASSERT_TRUE(probe(&s, SHORT_NS));
    CU_ASSERT_TRUE(phx_spin_note(&s, SHORT_NS));
    CU_ASSERT_EQUAL(skipped(&s, 10000), 0u);            /* spins at once, and forgets */
    CU_ASSERT_EQUAL(s.backoff, 0u);
    CU_ASSERT_FALSE(phx_spin_note(&s, LONG_NS));        /* loaded again: starts over */
    CU_ASSERT_EQUAL(skipped(&s, 10000), PHX_SPIN_SKIP_MIN);
}

static void test_probe_without_yield_keeps_backoff(void)
{
    struct phx_spin s;

    phx_spin_init(&s, 50);
    CU_ASSERT_FALSE(probe(&s, LONG_NS));
    CU_ASSERT_EQUAL(skipped(&s, 10000), PHX_SPIN_SKIP_MIN);
    CU_ASSERT_TRUE(phx_spin_start(&s));                 /* the probe found work before a yield */
    CU_ASSERT_TRUE(phx_spin_start(&s));                 /* and so did the next wait */
    CU_ASSERT_FALSE(phx_spin_note(&s, LONG_NS));        /* no evidence of quiet: doubles */
    CU_ASSERT_EQUAL(skipped(&s, 10000), 2 * PHX_SPIN_SKIP_MIN);
}

static void test_real_yield(void)
{
    struct phx_spin s;
    unsigned shorts = 0;

    /* A real yield returns; with a budget of 1 s (threshold 1 ms) nearly all are short even on a
     * loaded machine. Asserts a count, not a time: one of 50 is enough. */
    phx_spin_init(&s, 1000000);
    for (unsigned i = 0; i < 50; i++)
        shorts += phx_spin_yield(&s);
    CU_ASSERT_TRUE(shorts >= 1);
}

static const phx_test_case_t cases[] = {
    { "a long yield is 4 budgets within [250 us, 1 ms]", test_threshold },
    { "short yields keep spinning", test_quiet_keeps_spinning },
    { "a long yield stops the spin and skips the next waits", test_long_yield_stops_and_skips },
    { "the back-off doubles up to its cap", test_backoff_doubles_to_cap },
    { "a quiet probe clears the back-off", test_clean_probe_clears_backoff },
    { "a probe without a yield proves nothing", test_probe_without_yield_keeps_backoff },
    { "a real yield comes back", test_real_yield },
    { NULL, NULL },
};

int main(int argc, char **argv)
{
    return phx_test_main("spin", cases, argc, argv);
}
