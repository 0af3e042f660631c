/* hop_cost.c - what one engine costs per call, measured in process so that scheduling on a small
 * machine does not decide the figure.
 *
 * Round-trip benchmarks through phoenixd measure four processes and the kernel waking them;
 * on a 2-core VM a crossing costs ~20 us and hides what an engine change bought. This program
 * drives the built MrpcEngine alone (tests/mrpc/mrpc_harness.h: the plugin dlopen'd, an app
 * port and two channels of our own) and times only its progress() calls, so the figure is the
 * engine's own work for a call: on the client side, marshalling the request (CALL -> SEND) and
 * delivering the reply (RECEIVED -> REPLY_RECEIVED, SENT -> SEND_DONE); on the server side, the
 * incoming call (RECEIVED -> INCOMING_CALL) and the reply (REPLY -> SEND, SENT). The fake
 * transport's work (landing a message, answering SENT) is outside the timed part.
 *
 *     hop_cost [--calls N] [--json]       64 B, 4 KiB and 1 MiB payloads, N calls each
 *
 * Instructions per call, where the machine has no PMU (`perf stat -e instructions` says "not
 * supported" in most VMs), come from callgrind, which counts them whatever else runs:
 *
 *     valgrind --tool=callgrind --toggle-collect='*progress*' ./hop_cost --calls 200
 *
 * Every loop is bounded in turns (MH_TURNS per wait). */
#include "mrpc_harness.h"
#include "mrpc_test.mrpc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CONN 7u

struct side_cost {
    unsigned long long ns;      /* inside progress() */
    unsigned long      turns;
    unsigned long      calls;
};

static unsigned long long now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (unsigned long long)ts.tv_sec * 1000000000ull + (unsigned long long)ts.tv_nsec;
}

static void timed_turn(struct mrpc_harness *h, struct side_cost *c)
{
    unsigned long long t0 = now_ns();

    mh_turn(h);
    c->ns += now_ns() - t0;
    c->turns++;
}

/* Turns until the engine sends a descriptor of KIND down; false after MH_TURNS. */
static bool take_down(struct mrpc_harness *h, uint16_t kind, phx_desc_t *out, struct side_cost *c)
{
    for (unsigned t = 0; t < MH_TURNS; t++) {
        timed_turn(h, c);
        while (phx_chan_pop(h->tx, out, 1) == 1)
            if (out->kind == kind)
                return true;
    }
    return false;
}

/* Turns until the app has a completion of KIND (the message it carries released right away,
 * as an app would once it read it); false after MH_TURNS. */
static bool take_up(struct mrpc_harness *h, uint16_t kind, phx_desc_t *out, struct side_cost *c)
{
    for (unsigned t = 0; t < MH_TURNS; t++) {
        timed_turn(h, c);
        while (phx_ring_pop(&h->port->cq, out, 1) == 1) {
            if (out->addr && out->kind != MRPC_APP_SEND_DONE)
                mh_submit(h, &(phx_desc_t){ .kind = MRPC_APP_RELEASE, .addr = out->addr });
            if (out->kind == kind)
                return true;
        }
    }
    return false;
}

/* A Blob with SIZE bytes of data in the app's send heap. */
static MrpcTest__Blob *blob_of(struct mrpc_harness *h, size_t size)
{
    MrpcTest__Blob *b = mh_message(h, &mrpc_test__blob__descriptor);
    uint8_t *data = size ? phx_heap_alloc(h->send_heap, size) : NULL;

    if (!b || (size && !data))
        return NULL;
    if (data)
        memset(data, 0x5a, size);
    b->data = (ProtobufCBinaryData){ .len = size, .data = data };
    return b;
}

static bool sent_ok(struct mrpc_harness *h, phx_desc_t d)
{
    d.kind = MRPC_DESC_SENT;
    d.status = PHX_OK;
    return mh_rx_push(h, &d);
}

/* One call as the client's MrpcEngine sees it. */
static bool client_call(struct mrpc_harness *h, MrpcTest__Blob *req, uint64_t id,
                        struct side_cost *c)
{
    phx_desc_t send, reply, done;

    if (!mh_submit(h, &(phx_desc_t){ .kind = MRPC_APP_CALL, .conn_id = CONN,
                                     .service_id = MRPC_TEST__ECHO__SERVICE_ID,
                                     .method_id = MRPC_TEST__ECHO__ECHO__METHOD_ID,
                                     .call_id = id, .addr = (uintptr_t)req,
                                     .len = sizeof(*req) }) ||
        !take_down(h, MRPC_DESC_SEND, &send, c) || !sent_ok(h, send) ||
        !take_up(h, MRPC_APP_SEND_DONE, &done, c) ||
        !mh_land(h, &mrpc_test__echo__service, 0, MRPC_WIRE_REPLY, &req->base, &reply))
        return false;
    reply.conn_id = CONN;
    reply.call_id = send.call_id;
    return mh_rx_push(h, &reply) && take_up(h, MRPC_APP_REPLY_RECEIVED, &done, c) &&
           done.status == PHX_OK;
}

/* One call as the server's MrpcEngine sees it: it comes in, the app replies with RESP. */
static bool server_call(struct mrpc_harness *h, MrpcTest__Blob *resp, uint64_t id,
                        struct side_cost *c)
{
    phx_desc_t in, incoming, send, done;

    if (!mh_land(h, &mrpc_test__echo__service, 0, MRPC_WIRE_CALL, &resp->base, &in))
        return false;
    in.conn_id = CONN;
    in.call_id = id;
    if (!mh_rx_push(h, &in) || !take_up(h, MRPC_APP_INCOMING_CALL, &incoming, c) ||
        !mh_submit(h, &(phx_desc_t){ .kind = MRPC_APP_REPLY, .conn_id = CONN,
                                     .service_id = MRPC_TEST__ECHO__SERVICE_ID,
                                     .method_id = MRPC_TEST__ECHO__ECHO__METHOD_ID,
                                     .call_id = incoming.call_id, .addr = (uintptr_t)resp,
                                     .len = sizeof(*resp) }) ||
        !take_down(h, MRPC_DESC_SEND, &send, c) || !sent_ok(h, send))
        return false;
    return take_up(h, MRPC_APP_SEND_DONE, &done, c);
}

typedef bool (*call_fn)(struct mrpc_harness *, MrpcTest__Blob *, uint64_t, struct side_cost *);

/* N calls of SIZE bytes on one side, after a warm-up; false when one failed. */
static bool measure(call_fn call, size_t size, unsigned n, struct side_cost *c)
{
    struct mrpc_harness h;
    bool ok = mh_start(&h) && mh_register(&h, &mrpc_test__echo__service) && mh_connect(&h, CONN);
    MrpcTest__Blob *b = ok ? blob_of(&h, size) : NULL;
    struct side_cost warm = { 0 };

    ok = b != NULL;
    for (unsigned i = 0; ok && i < 16; i++)
        ok = call(&h, b, i + 1, &warm);
    for (unsigned i = 0; ok && i < n; i++, c->calls++)
        ok = call(&h, b, 1000 + i, c);
    mh_stop(&h);
    return ok;
}

static void print_row(const char *side, size_t size, const struct side_cost *c, bool json,
                      bool *first)
{
    double per_call = c->calls ? (double)c->ns / (double)c->calls : 0;
    double turns = c->calls ? (double)c->turns / (double)c->calls : 0;

    if (json)
        printf("%s{\"engine\":\"MrpcEngine\",\"side\":\"%s\",\"bytes\":%zu,\"calls\":%lu,"
               "\"ns_per_call\":%.0f,\"turns_per_call\":%.1f}", *first ? "" : ",\n ", side,
               size, c->calls, per_call, turns);
    else
        printf("%-10s %-7s %9zu %8lu %12.0f %8.1f\n", "MrpcEngine", side, size, c->calls,
               per_call, turns);
    *first = false;
}

int main(int argc, char **argv)
{
    static const size_t sizes[] = { 64, 4096, 1u << 20 };
    unsigned calls = 2000;
    bool json = false, first = true;

    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--calls") && i + 1 < argc)
            calls = (unsigned)strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--json"))
            json = true;
        else {
            fprintf(stderr, "usage: hop_cost [--calls N] [--json]\n");
            return 2;
        }
    }
    if (calls == 0 || calls > 1000000) {
        fprintf(stderr, "hop_cost: --calls takes 1 to 1000000\n");
        return 2;
    }
    if (json)
        printf("[");
    else
        printf("%-10s %-7s %9s %8s %12s %8s\n", "engine", "side", "bytes", "calls",
               "ns/call", "turns");
    for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
        unsigned n = sizes[s] >= (1u << 20) ? (calls + 9) / 10 : calls;
        struct side_cost client = { 0 }, server = { 0 };
        if (!measure(client_call, sizes[s], n, &client) ||
            !measure(server_call, sizes[s], n, &server)) {
            fprintf(stderr, "hop_cost: a %zu B call did not complete (see above)\n", sizes[s]);
            return 1;
        }
        print_row("client", sizes[s], &client, json, &first);
        print_row("server", sizes[s], &server, json, &first);
    }
    if (json)
        printf("]\n");
    return 0;
}
