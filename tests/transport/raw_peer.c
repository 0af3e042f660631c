/* raw_peer.c - a hostile mRPC peer for the transport tests: plain UCP, no Phoenix code.
 *
 *     raw_peer HOST PORT MAX_MESSAGE_BYTES [--sink | --bad-address]
 *
 * Connects to a UcxRpcAdapterEngine's binding (the service's wire-up, hs_client.c) and sends, on active message 1, frames that break
 * the wire rules one at a time and eight valid messages (call ids 0..7 of stream RAW_PEER_TAG,
 * wire_pattern.h payloads):
 *
 *   1 header of 40 bytes          2 bad magic              3 bad version
 *   4 payload_len 100, 50 sent    5 payload_len 2 MiB, 1 MiB sent (rendezvous)
 *   6 MAX_MESSAGE_BYTES + 1 bytes, honestly announced (rendezvous)
 *   7 a valid frame without UCP_AM_SEND_FLAG_REPLY (the receiver cannot tell the connection)
 *   valid: 0 eager, 1 rendezvous
 *   frames carrying payload in the AM header (transport.h, head_len/head_before):
 *   8 head over MRPC_WIRE_HEAD_MAX   9 head_before > head_len   10 AM header shorter than its head
 *   11 head + data != payload_len
 *   valid: 2 eager with head bytes before and after the data, 3 rendezvous with a head
 *   wire version 1 (before heads and batches): 12 one claiming a head; valid: 7, 200 bytes
 *   batches on active message 2 (three messages each): 13 bad magic  14 a batch of one
 *   15 a batch of 33  16 header shorter than its count  17 a bad message header inside
 *   18 lengths != data  19 sent by rendezvous  20 without UCP_AM_SEND_FLAG_REPLY
 *   valid: 4, 5, 6 in one batch (10, 0 and 300 bytes)
 *   credit grants on active message 3 (the receiver has sent us nothing, so its window is full):
 *   21 bad magic  22 a grant of 1 on a full window  23 a grant carrying data  24 a short header
 *   (20 and 7 have no reply endpoint: the receiver's worker counts them, not the connection)
 *
 * Malformed frames sent by rendezvous must come back refused (UCS_ERR_INVALID_PARAM), the others
 * complete OK. It waits for each send to complete, then for a byte (or EOF) on stdin so that the test decides
 * when the connection goes away (a close can overtake data still queued), then closes and exits:
 * 0 when everything was sent, 1 on a failure (said on stderr). Every wait is bounded.
 *
 * With --sink it sends nothing: it connects, swallows whatever active messages 1 arrive, and
 * waits on stdin the same way; the test kills it with SIGKILL to play a service that dies.
 *
 * With --bad-address its AUTH names 64 bytes of 0xff as its worker (UCX 1.13 aborts on that
 * address), and, should the service still answer DONE, it claims the handshake from its real
 * endpoint as usual, which makes the server ucp_ep_create() to that address. */
#include "hs_client.h"
#include "wire_pattern.h"
#include "mrpc/transport.h"

#include <netdb.h>
#include <stdbool.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <ucp/api/ucp.h>
#include <unistd.h>

#define RAW_PEER_TAG 77
#define WAIT_NS      (10ull * 1000000000ull)

static ucp_worker_h worker;
static int failed;

static unsigned long long now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (unsigned long long)ts.tv_sec * 1000000000ull + (unsigned long long)ts.tv_nsec;
}

static void on_error(void *arg, ucp_ep_h ep, ucs_status_t status)
{
    fprintf(stderr, "raw_peer: endpoint error: %s\n", ucs_status_string(status));
    failed = 1;
}

/* Progresses until REQ completes (or fails, or 10 s pass); 0 when it completed OK. */
/* Waits for REQ (bounded); 0 when it ended with EXPECT, else -1 (said on stderr). */
static int wait_req_for(ucs_status_ptr_t req, const char *what, ucs_status_t expect)
{
    ucs_status_t st = UCS_OK;

    if (UCS_PTR_IS_ERR(req)) {
        st = UCS_PTR_STATUS(req);
    } else if (req) {
        unsigned long long deadline = now_ns() + WAIT_NS;
        while ((st = ucp_request_check_status(req)) == UCS_INPROGRESS && now_ns() < deadline)
            ucp_worker_progress(worker);
        if (st == UCS_INPROGRESS)
            ucp_request_cancel(worker, req);
        ucp_request_free(req);
    }
    if (st != expect)
        fprintf(stderr, "raw_peer: %s: %s, expected %s\n", what, ucs_status_string(st),
                ucs_status_string(expect));
    return st == expect ? 0 : -1;
}

static int wait_req(ucs_status_ptr_t req, const char *what)
{
    return wait_req_for(req, what, UCS_OK);
}

static bool acked;

static ucs_status_t on_claim_ack(void *arg, const void *header, size_t header_length,
                                 void *data, size_t length, const ucp_am_recv_param_t *param)
{
    acked |= hs_is_ack(header, header_length) != 0;
    return UCS_OK;
}

/* Closes EP at once (the peer need not answer). */
static void ep_close(ucp_ep_h ep)
{
    ucp_request_param_t cp = {.op_attr_mask = UCP_OP_ATTR_FIELD_FLAGS,
                              .flags = UCP_EP_CLOSE_FLAG_FORCE};
    wait_req(ucp_ep_close_nbx(ep, &cp), "close");
}

/* The service's wire-up (hs_client.c): the handshake, an endpoint to the worker address it
 * gave, the claim on it, and the ack. NULL, with nothing of it left open, when one fails. */
static ucp_ep_h connect_to(const char *host, const char *port, bool bad_address)
{
    static uint8_t ff[64];
    static struct hs_result r;
    char err[256];
    ucp_ep_h ep = NULL;
    ucp_worker_attr_t attr = {.field_mask = UCP_WORKER_ATTR_FIELD_ADDRESS};

    if (ucp_worker_query(worker, &attr) != UCS_OK)
        return NULL;
    struct hs_client c = {.auth = PHX_UCX_AUTH_NONE, .addr = (const uint8_t *)attr.address,
                          .addr_len = attr.address_length};
    if (bad_address) {
        memset(ff, 0xff, sizeof(ff));
        c.frame_addr = ff;
        c.frame_addr_len = sizeof(ff);
    }
    int rc = hs_client_run(host, port, &c, &r, err, sizeof(err));
    ucp_worker_release_address(worker, attr.address);
    if (rc < 0) {
        fprintf(stderr, "raw_peer: handshake: %s\n", err);
        return NULL;
    }
    ucp_am_handler_param_t hp = {
        .field_mask = UCP_AM_HANDLER_PARAM_FIELD_ID | UCP_AM_HANDLER_PARAM_FIELD_CB,
        .id = HS_CLAIM_AM, .cb = on_claim_ack};
    ucp_worker_set_am_recv_handler(worker, &hp);
    ucp_ep_params_t p = {
        .field_mask = UCP_EP_PARAM_FIELD_REMOTE_ADDRESS | UCP_EP_PARAM_FIELD_ERR_HANDLING_MODE |
                      UCP_EP_PARAM_FIELD_ERR_HANDLER,
        .address = (const ucp_address_t *)r.addr,
        .err_mode = UCP_ERR_HANDLING_MODE_PEER,
        .err_handler = {.cb = on_error},
    };
    if (ucp_ep_create(worker, &p, &ep) != UCS_OK)
        return NULL;
    static uint8_t claim[HS_CLAIM_LEN];
    hs_claim_frame(&r, claim);
    ucp_request_param_t cp = {.op_attr_mask = UCP_OP_ATTR_FIELD_FLAGS,
                              .flags = UCP_AM_SEND_FLAG_REPLY};
    if (wait_req(ucp_am_send_nbx(ep, HS_CLAIM_AM, claim, sizeof(claim), NULL, 0, &cp), "claim")) {
        ep_close(ep);
        return NULL;
    }
    unsigned long long deadline = now_ns() + WAIT_NS;
    while (!acked && now_ns() < deadline)
        ucp_worker_progress(worker);
    if (!acked) {
        fprintf(stderr, "raw_peer: the service did not acknowledge the claim\n");
        ep_close(ep);
        return NULL;
    }
    return ep;
}

static struct mrpc_wire_hdr header(uint64_t call, uint64_t payload_len)
{
    return (struct mrpc_wire_hdr){
        .magic = MRPC_WIRE_MAGIC, .version = MRPC_WIRE_VERSION, .kind = MRPC_WIRE_CALL,
        .format = MRPC_FORMAT_NATIVE, .service_id = RAW_PEER_TAG, .method_id = 7,
        .call_id = call, .type_hash = payload_len, .payload_len = payload_len};
}

/* Sends one frame: HDR_LEN bytes of HDR, LEN bytes of payload (pattern of call HDR.call_id). A
 * malformed frame sent by rendezvous is refused: the receiver answers UCS_ERR_INVALID_PARAM,
 * which completes our request (ucx_recv.c). */
static int frame(ucp_ep_h ep, const char *what, const struct mrpc_wire_hdr *hdr, size_t hdr_len,
                 size_t len, uint32_t flags)
{
    bool refused = (flags & UCP_AM_SEND_FLAG_RNDV) && strncmp(what, "valid", 5) != 0;
    void *payload = calloc(1, len ? len : 1);

    if (!payload)
        return -1;
    wp_fill(payload, len, RAW_PEER_TAG, hdr->call_id);
    ucp_request_param_t p = {.op_attr_mask = UCP_OP_ATTR_FIELD_FLAGS, .flags = flags};
    int rc = wait_req_for(ucp_am_send_nbx(ep, 1, hdr, hdr_len, payload, len, &p), what,
                          refused ? UCS_ERR_INVALID_PARAM : UCS_OK);
    free(payload);
    return rc;
}

/* Sends one frame whose AM header is HDR followed by head bytes: BEFORE bytes from the front of
 * the pattern payload and AFTER from its end; the DATA bytes between them are the AM's data.
 * HDR's head fields are the caller's (they may lie); the pattern spans BEFORE + DATA + AFTER. */
static int frame_head(ucp_ep_h ep, const char *what, const struct mrpc_wire_hdr *hdr,
                      size_t before, size_t data, size_t after, uint32_t flags)
{
    size_t total = before + data + after;
    uint8_t *payload = malloc(total), *header = malloc(sizeof(*hdr) + before + after);
    int rc = -1;

    if (payload && header) {
        wp_fill(payload, total, RAW_PEER_TAG, hdr->call_id);
        memcpy(header, hdr, sizeof(*hdr));
        memcpy(header + sizeof(*hdr), payload, before);
        memcpy(header + sizeof(*hdr) + before, payload + before + data, after);
        ucp_request_param_t p = {.op_attr_mask = UCP_OP_ATTR_FIELD_FLAGS, .flags = flags};
        rc = wait_req(ucp_am_send_nbx(ep, 1, header, sizeof(*hdr) + before + after,
                                      payload + before, data, &p), what);
    }
    free(payload);
    free(header);
    return rc;
}

/* A frame from a build of wire version 1 (no head, no batches): still taken; V1 is valid. A
 * version-1 frame claiming a head is not. */
static int frame_v1(ucp_ep_h ep, struct mrpc_wire_hdr *v1)
{
    const uint32_t reply = UCP_AM_SEND_FLAG_REPLY;
    struct mrpc_wire_hdr lie = *v1;

    v1->version = lie.version = 1;
    lie.head_len = lie.head_before = 16;
    lie.payload_len += 16;
    return frame_head(ep, "version 1 claiming a head", &lie, 16, v1->payload_len, 0, reply) |
           frame(ep, "valid version 1", v1, sizeof(*v1), v1->payload_len, reply);
}

static struct mrpc_wire_hdr header_head(uint64_t call, size_t before, size_t data, size_t after)
{
    struct mrpc_wire_hdr h = header(call, before + data + after);

    h.head_len = (uint16_t)(before + after);
    h.head_before = (uint16_t)before;
    return h;
}

/* Frames whose AM header carries part of the payload (transport.h): four that lie about it, then
 * two valid ones, eager with head bytes on both sides and rendezvous with a head in front. */
static int send_heads(ucp_ep_h ep)
{
    const uint32_t reply = UCP_AM_SEND_FLAG_REPLY, rndv = reply | UCP_AM_SEND_FLAG_RNDV;
    struct mrpc_wire_hdr over = header_head(5, MRPC_WIRE_HEAD_MAX + 1, 3000, 0);
    struct mrpc_wire_hdr before = header_head(5, 100, 500, 0), shorter = before;
    struct mrpc_wire_hdr total = before, ok2 = header_head(2, 64, 1000, 32);
    struct mrpc_wire_hdr ok3 = header_head(3, 48, 300000, 0), v1 = header(7, 200);

    before.head_before = 101;               /* more in front than the head holds */
    shorter.head_len = 200;                 /* the AM header carries only 100 ... */
    shorter.payload_len = 700;              /* ... which nothing else gives away */
    total.payload_len = 700;                /* head + data = 600 */
    return frame_head(ep, "head over the limit", &over, MRPC_WIRE_HEAD_MAX + 1, 3000, 0, reply) |
           frame_head(ep, "head_before past the head", &before, 100, 500, 0, reply) |
           frame_head(ep, "header shorter than its head", &shorter, 100, 500, 0, reply) |
           frame_head(ep, "head + data != payload_len", &total, 100, 500, 0, reply) |
           frame_head(ep, "valid eager with a head", &ok2, 64, 1000, 32, reply) |
           frame_head(ep, "valid rendezvous with a head", &ok3, 48, 300000, 0, rndv) |
           frame_v1(ep, &v1);
}

/* Batches (transport.h: struct mrpc_wire_batch, wire headers, payloads back to back) on active
 * message 2: each lie spoils one thing of a batch of three. */
enum batch_lie { BATCH_OK, BATCH_MAGIC, BATCH_ONE, BATCH_TOO_MANY, BATCH_SHORT_HEADER,
                 BATCH_BAD_MESSAGE, BATCH_SUM, BATCH_RENDEZVOUS, BATCH_NO_REPLY };

#define BATCH_FIRST_CALL 4          /* the valid batch carries calls 4, 5, 6 */

static int batch(ucp_ep_h ep, const char *what, enum batch_lie lie)
{
    static const size_t sizes[] = {10, 0, 300};
    struct {
        struct mrpc_wire_batch bh;
        struct mrpc_wire_hdr   h[MRPC_WIRE_BATCH_MAX + 1];
    } hdr = {.bh = {.magic = MRPC_WIRE_BATCH_MAGIC, .version = MRPC_WIRE_VERSION, .count = 3}};
    uint8_t data[310];
    size_t len = 0;
    uint32_t flags = UCP_AM_SEND_FLAG_REPLY;

    for (unsigned i = 0; i < 3; i++) {
        hdr.h[i] = header(BATCH_FIRST_CALL + i, sizes[i]);
        wp_fill(data + len, sizes[i], RAW_PEER_TAG, BATCH_FIRST_CALL + i);
        len += sizes[i];
    }
    size_t hdr_len = sizeof(hdr.bh) + 3 * sizeof(hdr.h[0]);
    switch (lie) {
    case BATCH_OK:           break;
    case BATCH_MAGIC:        hdr.bh.magic ^= 1; break;
    case BATCH_ONE:          hdr.bh.count = 1; hdr_len -= 2 * sizeof(hdr.h[0]); len = 10; break;
    case BATCH_TOO_MANY:     hdr.bh.count = MRPC_WIRE_BATCH_MAX + 1;
                             for (unsigned i = 3; i <= MRPC_WIRE_BATCH_MAX; i++)
                                 hdr.h[i] = header(9, 0);
                             hdr_len = sizeof(hdr); break;
    case BATCH_SHORT_HEADER: hdr_len -= sizeof(hdr.h[0]); break;
    case BATCH_BAD_MESSAGE:  hdr.h[1].head_len = 5; break;
    case BATCH_SUM:          len -= 1; break;
    case BATCH_RENDEZVOUS:   flags |= UCP_AM_SEND_FLAG_RNDV; break;
    case BATCH_NO_REPLY:     flags = 0; break;
    }
    ucp_request_param_t p = {.op_attr_mask = UCP_OP_ATTR_FIELD_FLAGS, .flags = flags};
    return wait_req_for(ucp_am_send_nbx(ep, 2, &hdr, hdr_len, data, len, &p), what,
                        lie == BATCH_RENDEZVOUS ? UCS_ERR_INVALID_PARAM : UCS_OK);
}

static int send_batches(ucp_ep_h ep)
{
    return batch(ep, "batch: bad magic", BATCH_MAGIC) |
           batch(ep, "batch of one", BATCH_ONE) |
           batch(ep, "batch of 33", BATCH_TOO_MANY) |
           batch(ep, "batch header shorter than its count", BATCH_SHORT_HEADER) |
           batch(ep, "batch with a bad message header", BATCH_BAD_MESSAGE) |
           batch(ep, "batch lengths != data", BATCH_SUM) |
           batch(ep, "batch by rendezvous", BATCH_RENDEZVOUS) |
           batch(ep, "batch without a reply endpoint", BATCH_NO_REPLY) |
           batch(ep, "valid batch", BATCH_OK);
}

/* Grants that must give the receiver nothing (see the file comment). */
static int send_grants(ucp_ep_h ep)
{
    struct mrpc_wire_credit g = {.magic = MRPC_WIRE_CREDIT_MAGIC, .version = MRPC_WIRE_VERSION,
                                 .grant = 1}, magic = g;
    char data[8] = {0};
    ucp_request_param_t p = {.op_attr_mask = UCP_OP_ATTR_FIELD_FLAGS,
                             .flags = UCP_AM_SEND_FLAG_REPLY};
    int rc = 0;

    magic.magic ^= 1;
    rc |= wait_req(ucp_am_send_nbx(ep, 3, &magic, sizeof(g), NULL, 0, &p), "grant: bad magic");
    rc |= wait_req(ucp_am_send_nbx(ep, 3, &g, sizeof(g), NULL, 0, &p), "grant on a full window");
    rc |= wait_req(ucp_am_send_nbx(ep, 3, &g, sizeof(g), data, sizeof(data), &p),
                   "grant with data");
    rc |= wait_req(ucp_am_send_nbx(ep, 3, &g, sizeof(g) - 4, NULL, 0, &p), "short grant");
    return rc;
}

static int send_all(ucp_ep_h ep, size_t max)
{
    const uint32_t reply = UCP_AM_SEND_FLAG_REPLY, rndv = reply | UCP_AM_SEND_FLAG_RNDV;
    struct mrpc_wire_hdr h = header(5, 64), magic = h, version = h;
    struct mrpc_wire_hdr lie = header(5, 100), rndv_lie = header(5, 2u << 20);
    struct mrpc_wire_hdr big = header(5, max + 1), ok0 = header(0, 1000), ok1 = header(1, 300000);

    magic.magic ^= 1;
    version.version = MRPC_WIRE_VERSION + 1;
    return frame(ep, "short header", &h, 40, 64, reply) |
           frame(ep, "bad magic", &magic, sizeof(h), 64, reply) |
           frame(ep, "bad version", &version, sizeof(h), 64, reply) |
           frame(ep, "length lie", &lie, sizeof(h), 50, reply) |
           frame(ep, "rendezvous length lie", &rndv_lie, sizeof(h), 1u << 20, rndv) |
           frame(ep, "oversize", &big, sizeof(h), max + 1, rndv) |
           frame(ep, "no reply endpoint", &h, sizeof(h), 64, 0) |
           frame(ep, "valid eager", &ok0, sizeof(h), 1000, reply) |
           frame(ep, "valid rendezvous", &ok1, sizeof(h), 300000, rndv) |
           send_heads(ep) | send_batches(ep) | send_grants(ep);
}

/* Keeps the connection serviced until the test writes to (or closes) stdin, at most 30 s. */
/* --sink: every message is dropped (rendezvous data is never fetched). */
static ucs_status_t swallow(void *arg, const void *header, size_t header_length, void *data,
                            size_t length, const ucp_am_recv_param_t *param)
{
    return UCS_OK;
}

static void set_sink(void)
{
    ucp_am_handler_param_t p = {
        .field_mask = UCP_AM_HANDLER_PARAM_FIELD_ID | UCP_AM_HANDLER_PARAM_FIELD_FLAGS |
                      UCP_AM_HANDLER_PARAM_FIELD_CB,
        .id = 1,
        .flags = UCP_AM_FLAG_WHOLE_MSG,
        .cb = swallow,
    };
    ucp_worker_set_am_recv_handler(worker, &p);
}

static void wait_for_test(void)
{
    unsigned long long deadline = now_ns() + 3 * WAIT_NS;
    struct pollfd pfd = {.fd = 0, .events = POLLIN};

    while (now_ns() < deadline && poll(&pfd, 1, 1) == 0)
        ucp_worker_progress(worker);
}

int main(int argc, char **argv)
{
    ucp_params_t params = {.field_mask = UCP_PARAM_FIELD_FEATURES, .features = UCP_FEATURE_AM};
    ucp_worker_params_t wp = {.field_mask = UCP_WORKER_PARAM_FIELD_THREAD_MODE,
                              .thread_mode = UCS_THREAD_MODE_SINGLE};
    bool sink = argc == 5 && strcmp(argv[4], "--sink") == 0;
    bool bad_address = argc == 5 && strcmp(argv[4], "--bad-address") == 0;
    ucp_context_h ctx;
    ucp_ep_h ep;

    if (argc != 4 && !sink && !bad_address) {
        fprintf(stderr, "usage: raw_peer HOST PORT MAX_MESSAGE_BYTES [--sink | --bad-address]\n");
        return 2;
    }
    if (ucp_init(&params, NULL, &ctx) != UCS_OK || ucp_worker_create(ctx, &wp, &worker) != UCS_OK)
        return 1;
    if (sink)
        set_sink();
    int rc = 1;
    if ((ep = connect_to(argv[1], argv[2], bad_address))) {
        rc = sink ? 0 : send_all(ep, strtoull(argv[3], NULL, 10));
        wait_for_test();
        ep_close(ep);
    } else {
        fprintf(stderr, "raw_peer: cannot connect to %s:%s\n", argv[1], argv[2]);
    }
    ucp_worker_destroy(worker);     /* on every way out: LeakSanitizer counts UCX's memory too */
    ucp_cleanup(ctx);
    return rc || failed ? 1 : 0;
}
