/* marshal_bench.c - how fast the service's native marshalling is, in one process.
 *
 *     marshal_bench [-b MS]
 *
 * Builds two messages in a send heap as an app would (the marshalling tests' harness,
 * tests/marshal/marshal_harness.h): a HeatRequest with a 48-byte payload and a Big message with
 * a 1 MiB bytes field. For each it times, for at most MS milliseconds per phase (default 300),
 * three phases: encode (and free the encoding), encode plus the copy of the payload into the
 * receive heap (what the transport does), and decode in place. It prints ns per operation and,
 * for the large message, GB/s of encode+copy. No network, no service: the figures are the
 * marshalling's own cost, the part of an mRPC call's latency that grows with message size.
 * (This was the test_throughput case of test_marshal; figures are not pass/fail material.)
 * Exit status: 0 done, 1 the harness or a round trip failed (said on stderr), 2 usage error. */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kitchen.pb-c.h"
#include "marshal_harness.h"
#include "marshal_test.pb-c.h"

#define MiB          (1ul << 20)
#define REGION_SIZE  (256 * MiB)

struct rate {
    double encode_ns;
    double land_ns;
    double decode_ns;
};

static unsigned long long now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (unsigned long long)ts.tv_sec * 1000000000ull + (unsigned long long)ts.tv_nsec;
}

/* Encodes MSG N times within BUDGET; returns ns per encode, with LAND also copying into BUF. */
static double time_encode(const struct mrpc_type_layout *t, struct harness *h,
                          const ProtobufCMessage *msg, void *buf, size_t len, bool land,
                          unsigned max_iters, unsigned long long budget)
{
    struct mrpc_encoded enc;
    unsigned long long t0 = now_ns();
    unsigned n = 0;

    for (; n < max_iters && now_ns() - t0 < budget; n++) {
        mrpc_native_encode(t, (uintptr_t)msg, &h->send_region, NULL, &enc, NULL, 0);
        if (land)
            mrpc_wire_to_buffer(&enc, buf, len);
        mrpc_encoded_free(&enc);
    }
    return (double)(now_ns() - t0) / n;
}

/* The three phases for MSG. Returns 0, or -1 after saying why. */
static int measure(struct harness *h, const ProtobufCMessage *msg, unsigned max_iters,
                   unsigned long long budget, struct rate *r)
{
    const struct mrpc_type_layout *t = harness_type(h->set, msg->descriptor);
    struct mrpc_encoded enc;
    char err[256];

    if (mrpc_native_encode(t, (uintptr_t)msg, &h->send_region, NULL, &enc, err, sizeof(err))) {
        fprintf(stderr, "marshal_bench: cannot encode %s: %s\n", msg->descriptor->name, err);
        return -1;
    }
    size_t len = enc.payload_len;
    mrpc_encoded_free(&enc);
    void *buf = phx_heap_alloc(h->recv_heap, len);
    if (!buf) {
        fprintf(stderr, "marshal_bench: no room for %zu bytes in the receive heap\n", len);
        return -1;
    }
    r->encode_ns = time_encode(t, h, msg, buf, len, false, max_iters, budget);
    r->land_ns = time_encode(t, h, msg, buf, len, true, max_iters, budget);

    void *out = NULL;
    unsigned long long t0 = now_ns();
    unsigned n = 0;
    for (; n < max_iters && now_ns() - t0 < budget; n++) {
        if (mrpc_native_decode(t, buf, len, &out, err, sizeof(err)) != 0) {
            fprintf(stderr, "marshal_bench: cannot decode %s: %s\n", msg->descriptor->name, err);
            return -1;
        }
    }
    r->decode_ns = (double)(now_ns() - t0) / n;
    int same = harness_same_packed(msg, out);
    phx_heap_free(h->recv_heap, buf);
    if (!same)
        fprintf(stderr, "marshal_bench: %s decoded differs from the original\n",
                msg->descriptor->name);
    return same ? 0 : -1;
}

/* -b MS: the time budget per phase. Returns it in ns, or 0 for a usage error. */
static unsigned long long parse_budget(int argc, char **argv)
{
    unsigned long long ms = 300;
    int c;

    while ((c = getopt(argc, argv, "b:h")) != -1) {
        if (c == 'b') {
            char *end;
            ms = strtoull(optarg, &end, 10);
            if (*end || ms < 1 || ms > 600000)
                return 0;
        } else {
            return 0;
        }
    }
    return optind == argc ? ms * 1000000ull : 0;
}

int main(int argc, char **argv)
{
    struct harness h;
    struct rate a, b;
    unsigned long long budget = parse_budget(argc, argv);

    if (!budget) {
        fprintf(stderr, "usage: marshal_bench [-b MS]   (MS: time per phase, 1..600000, "
                        "default 300)\n");
        return 2;
    }
    int rc = harness_open(&h, REGION_SIZE);
    if (rc) {
        fprintf(stderr, "marshal_bench: cannot open the heaps: %s\n", strerror(-rc));
        return 1;
    }
    Kitchen__Sink__V2__HeatRequest heat = KITCHEN__SINK__V2__HEAT_REQUEST__INIT;
    heat.seconds = 1;
    Mtest__Node root = MTEST__NODE__INIT;
    Mtest__Big big = MTEST__BIG__INIT;
    uint8_t *blob = calloc(1, MiB);
    big.title = "";
    big.root = &root;
    big.has_blob = 1;
    big.blob = (ProtobufCBinaryData){ MiB, blob };

    ProtobufCMessage *small = harness_to_send_heap(&h, &heat.base);
    ProtobufCMessage *large = blob ? harness_to_send_heap(&h, &big.base) : NULL;
    rc = small && large ? 0 : -1;
    if (rc)
        fprintf(stderr, "marshal_bench: cannot build the messages in the send heap\n");
    if (!rc)
        rc = measure(&h, small, 2000000, budget, &a);
    if (!rc)
        rc = measure(&h, large, 100000, budget, &b);
    if (!rc) {
        printf("%-34s encode %8.0f ns  encode+copy %8.0f ns  decode %8.0f ns\n",
               "HeatRequest (48-byte payload):", a.encode_ns, a.land_ns, a.decode_ns);
        printf("%-34s encode %8.0f ns  encode+copy %8.0f ns (%.1f GB/s)  decode %8.0f ns\n",
               "Big with 1 MiB bytes:", b.encode_ns, b.land_ns, MiB / b.land_ns, b.decode_ns);
    }
    free(blob);
    harness_close(&h);
    return rc ? 1 : 0;
}
