/* test_channel.c - channels: capacity rounding, push/pop/forward order and limits, merge order
 * and growth, connect moving a channel between ports, unique ids. */
#include "graph.h"
#include "phx_test.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Pushes seq FROM..FROM+N-1; returns how many went in. */
static unsigned push_seq(phx_channel_t *c, uint64_t from, unsigned n)
{
    unsigned pushed = 0;

    for (unsigned i = 0; i < n; i++) {
        phx_desc_t d = {.kind = PHX_DESC_DATA, .seq = from + i};
        pushed += phx_chan_push(c, &d, 1);
    }
    return pushed;
}

/* Pops everything, checking seq FROM, FROM+1, ...; returns how many came out in order. */
static unsigned pop_expect_seq(phx_channel_t *c, uint64_t from)
{
    phx_desc_t d;
    unsigned n = 0;

    while (phx_chan_pop(c, &d, 1) == 1) {
        if (d.seq != from + n)
            return n;
        n++;
    }
    return n;
}

static void test_create_rounds_capacity(void)
{
    phx_channel_t *c = phx_channel_create(PHX_TX, 100);

    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_EQUAL(phx_chan_space(c), 128);
    CU_ASSERT_EQUAL(phx_chan_count(c), 0);
    CU_ASSERT_EQUAL(c->dir, PHX_TX);
    CU_ASSERT_EQUAL((uintptr_t)c->mem % 64, 0);
    phx_channel_destroy(c);

    c = phx_channel_create(PHX_RX, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_EQUAL(phx_chan_space(c), PHX_CHANNEL_DEFAULT_CAP);
    phx_channel_destroy(c);

    errno = 0;
    CU_ASSERT_PTR_NULL(phx_channel_create(PHX_TX, PHX_RING_MAX_CAPACITY + 1u));
    CU_ASSERT_EQUAL(errno, EINVAL);
    CU_ASSERT_PTR_NULL(phx_channel_create((phx_dir_t)7, 16));
}

static void test_push_pop_order_and_full(void)
{
    phx_channel_t *c = phx_channel_create(PHX_TX, 16);

    CU_ASSERT_EQUAL(push_seq(c, 0, 20), 16);     /* full is back-pressure, not growth */
    CU_ASSERT_EQUAL(phx_chan_space(c), 0);
    CU_ASSERT_EQUAL(pop_expect_seq(c, 0), 16);
    /* Around the wrap point, twice. */
    for (uint64_t round = 0; round < 3; round++) {
        CU_ASSERT_EQUAL(push_seq(c, 100 * round, 11), 11);
        CU_ASSERT_EQUAL(pop_expect_seq(c, 100 * round), 11);
    }
    phx_channel_destroy(c);
}

static void test_null_channel_moves_nothing(void)
{
    phx_desc_t d = {0};

    CU_ASSERT_EQUAL(phx_chan_push(NULL, &d, 1), 0);
    CU_ASSERT_EQUAL(phx_chan_pop(NULL, &d, 1), 0);
    CU_ASSERT_EQUAL(phx_chan_count(NULL), 0);
    CU_ASSERT_EQUAL(phx_chan_space(NULL), 0);
    CU_ASSERT_EQUAL(phx_chan_forward(NULL, NULL, 10), 0);
}

static void test_forward_limits(void)
{
    phx_channel_t *in = phx_channel_create(PHX_TX, 128);
    phx_channel_t *out = phx_channel_create(PHX_TX, 64);

    CU_ASSERT_EQUAL(push_seq(in, 0, 100), 100);
    CU_ASSERT_EQUAL(phx_chan_forward(in, out, 10), 10);         /* bounded by max */
    CU_ASSERT_EQUAL(phx_chan_forward(in, out, 1000), 54);       /* bounded by out's space */
    CU_ASSERT_EQUAL(phx_chan_count(in), 36);
    CU_ASSERT_EQUAL(phx_chan_forward(in, NULL, 10), 0);
    CU_ASSERT_EQUAL(pop_expect_seq(out, 0), 64);
    CU_ASSERT_EQUAL(phx_chan_forward(in, out, 1000), 36);       /* bounded by in's count */
    CU_ASSERT_EQUAL(pop_expect_seq(out, 64), 36);
    phx_channel_destroy(in);
    phx_channel_destroy(out);
}

static void test_merge_keeps_order(void)
{
    phx_channel_t *a = phx_channel_create(PHX_RX, 16);
    phx_channel_t *b = phx_channel_create(PHX_RX, 16);

    push_seq(a, 0, 10);
    push_seq(b, 10, 16);
    phx_channel_t *m = phx_channel_merge(a, b, 8);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    CU_ASSERT_EQUAL(m->dir, PHX_RX);
    CU_ASSERT_EQUAL(phx_chan_count(a), 0);
    CU_ASSERT_EQUAL(phx_chan_count(b), 0);
    CU_ASSERT_EQUAL(phx_chan_count(m), 26);
    CU_ASSERT(phx_chan_space(m) + phx_chan_count(m) >= 26);        /* grown to hold both */
    CU_ASSERT_NOT_EQUAL(m->id, a->id);
    CU_ASSERT_NOT_EQUAL(m->id, b->id);
    CU_ASSERT_EQUAL(pop_expect_seq(m, 0), 26);
    phx_channel_destroy(a);
    phx_channel_destroy(b);
    phx_channel_destroy(m);
}

static void test_merge_grows_and_takes_null(void)
{
    phx_channel_t *a = phx_channel_create(PHX_TX, 8);

    push_seq(a, 0, 8);
    phx_channel_t *bigger = phx_channel_merge(a, NULL, 16);   /* growing a full channel */
    CU_ASSERT_PTR_NOT_NULL_FATAL(bigger);
    CU_ASSERT_EQUAL(phx_chan_count(bigger), 8);
    CU_ASSERT_EQUAL(phx_chan_space(bigger), 8);
    CU_ASSERT_EQUAL(push_seq(bigger, 8, 8), 8);
    CU_ASSERT_EQUAL(pop_expect_seq(bigger, 0), 16);

    phx_channel_t *second_only = phx_channel_merge(NULL, a, 4);
    CU_ASSERT_PTR_NOT_NULL_FATAL(second_only);
    CU_ASSERT_EQUAL(second_only->dir, PHX_TX);
    CU_ASSERT_EQUAL(phx_chan_count(second_only), 0);
    phx_channel_destroy(second_only);
    phx_channel_destroy(bigger);
    phx_channel_destroy(a);
}

static void test_connect_moves_between_ports(void)
{
    phx_engine_t a = {.wait_fd = -1}, b = {.wait_fd = -1}, c = {.wait_fd = -1};
    phx_channel_t *ch = phx_channel_create(PHX_TX, 16);

    phx_channel_connect(ch, &a, 0, &b, 1);
    CU_ASSERT_PTR_EQUAL(phx_engine_out(&a, PHX_TX, 0), ch);
    CU_ASSERT_PTR_EQUAL(phx_engine_in(&b, PHX_TX, 1), ch);
    CU_ASSERT_PTR_NULL(phx_engine_in(&b, PHX_RX, 1));
    CU_ASSERT_PTR_NULL(phx_engine_in(&b, PHX_TX, PHX_MAX_PORTS));   /* out of range: none */

    phx_channel_connect(ch, &a, 0, &c, 0);   /* consumer changes: b's port is freed */
    CU_ASSERT_PTR_NULL(b.in[PHX_TX][1]);
    CU_ASSERT_PTR_EQUAL(c.in[PHX_TX][0], ch);
    CU_ASSERT_PTR_EQUAL(ch->consumer, &c);
    CU_ASSERT_EQUAL(ch->consumer_port, 0);
    phx_channel_destroy(ch);
}

static void test_ids_unique(void)
{
    phx_channel_t *c[8];

    for (int i = 0; i < 8; i++)
        c[i] = phx_channel_create(PHX_TX, 4);
    for (int i = 0; i < 8; i++)
        for (int j = i + 1; j < 8; j++)
            CU_ASSERT_NOT_EQUAL(c[i]->id, c[j]->id);
    for (int i = 0; i < 8; i++)
        phx_channel_destroy(c[i]);
}

static const phx_test_case_t cases[] = {
    {"create rounds capacity up to a power of two", test_create_rounds_capacity},
    {"push and pop keep order, full refuses", test_push_pop_order_and_full},
    {"a NULL channel moves nothing", test_null_channel_moves_nothing},
    {"forward is bounded by max, space and count", test_forward_limits},
    {"merge keeps first's then second's order", test_merge_keeps_order},
    {"merge grows a full channel and accepts NULL", test_merge_grows_and_takes_null},
    {"connect moves a channel between ports", test_connect_moves_between_ports},
    {"channel ids are unique", test_ids_unique},
    {NULL, NULL},
};

int main(int argc, char **argv)
{
    return phx_test_main("channel", cases, argc, argv);
}
