/* ucx_pingpong.c - the baselines' latency, bandwidth and rate patterns straight on UCP active
 * messages between two processes: what the wire costs without MPI or mRPC on top.
 *
 *     ucx_pingpong -l [ADDR:]PORT [--sizes ...] [--blocking]     server (ADDR 127.0.0.1 by
 *                                                                default; PORT 0 picks one)
 *     ucx_pingpong -c HOST:PORT [--mode latency|bandwidth|rate] [common options] [--blocking]
 *
 * Connection: the server listens (ucp_listener_create) and accepts one client; the client
 * creates a client-server endpoint. Both endpoints use UCP_ERR_HANDLING_MODE_PEER, so a dead
 * peer fails operations instead of hanging them; on one host that mode keeps UCX off shared
 * memory unless UCX_MM_ERROR_HANDLING=y is in the environment (ucp_init reads it).
 *
 * Wire: every message is one active message (BENCH_AM_ID) with a 16-byte header {op, value}
 * and an optional payload. The handler (UCP_AM_FLAG_WHOLE_MSG) copies an eager payload into a
 * preallocated, ucp_mem_map'd receive buffer, or starts ucp_am_recv_data_nbx into that buffer
 * for a rendezvous one; it only counts, and the main loop acts once the data has landed:
 *   latency    client PING of SIZE bytes -> server PONG of SIZE bytes, one at a time;
 *   bandwidth  client STREAM x (window - 1) + STREAM_FLUSH -> server ACK once all landed;
 *   rate       client keeps up to --window STREAMs (32 B) unacknowledged; the server ACKs
 *              every window/2 landed (cumulative counts), so the window keeps sliding;
 *   CPU_REQ -> CPU_REP   the server's CPU time, read around each measured phase;
 *   QUIT -> BYE          the end; the client closes only after the BYE (or the server's
 *              close) so that neither side mistakes the other's close for a failure: the
 *              close travels on the connection manager's socket, which can overtake the data.
 * The client drives; the server only answers, so only the client's mode and sizes matter (the
 * server's --sizes only size its buffers). --blocking waits on the worker's event fd
 * (UCP_FEATURE_WAKEUP, ucp_worker_arm, epoll) instead of spinning: give it to both sides.
 * Every wait is bounded: the client's by the size's time budget plus a grace, the server's by
 * an idle limit. */
#include "bench_common.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <ucp/api/ucp.h>
#include <unistd.h>

#define BENCH_AM_ID      7
#define PAGE             4096
#define GRACE_NS         (10 * BENCH_NS_PER_SEC)   /* an operation pending this long past the
                                                      size's budget means a broken peer */
#define CONNECT_NS       (10 * BENCH_NS_PER_SEC)
#define SERVER_IDLE_NS   (60 * BENCH_NS_PER_SEC)
#define CLOSE_NS         (2 * BENCH_NS_PER_SEC)
#define SLEEP_SLICE_MS   100
#define OPT_BLOCKING     256

enum wire_op {
    OP_PING, OP_PONG, OP_STREAM, OP_STREAM_FLUSH, OP_ACK, OP_CPU_REQ, OP_CPU_REP, OP_QUIT,
    OP_BYE, OP_COUNT
};
#define OP_BIT(op)      (1u << (op))
#define SERVER_RECEIVES (OP_BIT(OP_PING) | OP_BIT(OP_STREAM) | OP_BIT(OP_STREAM_FLUSH) | \
                         OP_BIT(OP_CPU_REQ) | OP_BIT(OP_QUIT))
#define CLIENT_RECEIVES (OP_BIT(OP_PONG) | OP_BIT(OP_ACK) | OP_BIT(OP_CPU_REP) | OP_BIT(OP_BYE))

typedef struct {
    uint32_t op;
    uint32_t reserved;
    uint64_t value;   /* STREAM: ack every N landed (0: on flush only); ACK: streams landed;
                         CPU_REP: server CPU nanoseconds */
} wire_hdr_t;

struct ucx_bench;

/* Per op, both directions. UCX 1.13 reads the header until the send completes (there is no
 * COPY_HEADER flag yet), so each op sends from its own slot, changed only while idle. */
typedef struct {
    struct ucx_bench *ub;
    wire_hdr_t hdr;
    uint64_t sent;
    unsigned inflight;   /* sends not completed yet */
    uint64_t arrived;    /* handler ran */
    uint64_t landed;     /* payload is in the receive buffer */
    uint64_t rx_value;   /* value of the last one received */
} op_slot_t;

typedef struct ucx_bench {
    bool server, blocking, verbose;
    ucp_context_h ctx;
    ucp_worker_h worker;
    ucp_listener_h listener;
    ucp_conn_request_h conn_request;
    ucp_ep_h ep;
    int epfd;
    void *sbuf, *rbuf;
    size_t buf_len;
    ucp_mem_h smemh, rmemh;
    op_slot_t ops[OP_COUNT];
    size_t ping_len;           /* server: the PONG's size */
    uint64_t acked;            /* server: streams landed when the last ACK was sent */
    uint64_t flushes_acked;    /* server: STREAM_FLUSHes answered */
    unsigned window;           /* client, rate mode */
    bool closing;              /* the peer's close is expected now */
    bool peer_closed;
    ucs_status_t failure;      /* first error: the run stops */
} ucx_bench_t;

typedef struct {
    const char *listen, *connect;
    bool blocking, verbose;
} ucx_args_t;

typedef bool (*wait_cond_t)(const ucx_bench_t *ub);

static int note_failure(ucx_bench_t *ub, ucs_status_t status, const char *what)
{
    if (ub->failure == UCS_OK) {
        ub->failure = status;
        fprintf(stderr, "ucx_pingpong: %s: %s\n", what, ucs_status_string(status));
    }
    return -EIO;
}

/* ---- receiving ------------------------------------------------------------------------------ */

static void on_rndv_landed(void *request, ucs_status_t status, size_t length, void *user_data)
{
    op_slot_t *slot = user_data;

    if (status == UCS_OK)
        slot->landed++;
    else
        note_failure(slot->ub, status, "rendezvous receive");
    ucp_request_free(request);
}

static void receive_rndv(ucx_bench_t *ub, op_slot_t *slot, void *desc, size_t length)
{
    ucp_request_param_t p = {
        .op_attr_mask = UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA |
                        UCP_OP_ATTR_FIELD_MEMH,
        .cb.recv_am = on_rndv_landed,
        .user_data = slot,
        .memh = ub->rmemh,
    };
    ucs_status_ptr_t req = ucp_am_recv_data_nbx(ub->worker, desc, ub->rbuf, length, &p);

    if (req == NULL)
        slot->landed++;   /* completed in place: no callback */
    else if (UCS_PTR_IS_ERR(req))
        note_failure(ub, UCS_PTR_STATUS(req), "ucp_am_recv_data_nbx");
}

/* Data from the network: check the header and the length before using either. A rejected
 * rendezvous message fails the sender's request with our status. */
static ucs_status_t on_am(void *arg, const void *header, size_t header_length, void *data,
                          size_t length, const ucp_am_recv_param_t *param)
{
    ucx_bench_t *ub = arg;
    bool rndv = param->recv_attr & UCP_AM_RECV_ATTR_FLAG_RNDV;
    wire_hdr_t h;

    if (header_length != sizeof(h) || length > ub->buf_len) {
        fprintf(stderr, "ucx_pingpong: message of %zu bytes, receive buffer %zu (start the "
                        "server with the client's --sizes)\n", length, ub->buf_len);
        note_failure(ub, UCS_ERR_MESSAGE_TRUNCATED, "bad message");
        return rndv ? UCS_ERR_MESSAGE_TRUNCATED : UCS_OK;
    }
    memcpy(&h, header, sizeof(h));   /* the header may be unaligned */
    if (h.op >= OP_COUNT ||
        !(OP_BIT(h.op) & (ub->server ? SERVER_RECEIVES : CLIENT_RECEIVES))) {
        note_failure(ub, UCS_ERR_INVALID_PARAM, "unexpected message");
        return rndv ? UCS_ERR_INVALID_PARAM : UCS_OK;
    }

    op_slot_t *slot = &ub->ops[h.op];
    slot->arrived++;
    slot->rx_value = h.value;
    if (h.op == OP_PING)
        ub->ping_len = length;
    if (rndv) {
        receive_rndv(ub, slot, data, length);
    } else {
        if (length)   /* DATA may be NULL for an empty message */
            memcpy(ub->rbuf, data, length);   /* into the app's buffer, as MPI_Recv does */
        slot->landed++;
    }
    return UCS_OK;
}

/* ---- sending -------------------------------------------------------------------------------- */

static void on_sent(void *request, ucs_status_t status, void *user_data)
{
    op_slot_t *slot = user_data;

    slot->inflight--;
    if (status != UCS_OK)
        note_failure(slot->ub, status, "send");
    ucp_request_free(request);
}

/* Sends OP with VALUE and LEN bytes of the send buffer. */
static int post(ucx_bench_t *ub, enum wire_op op, uint64_t value, size_t len)
{
    op_slot_t *slot = &ub->ops[op];
    ucp_request_param_t p = {
        .op_attr_mask = UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA,
        .cb.send = on_sent,
        .user_data = slot,
    };

    if (slot->inflight && slot->hdr.value != value)
        return note_failure(ub, UCS_ERR_BUSY, "header still in use (bug)");
    slot->hdr.op = op;
    slot->hdr.value = value;
    if (len) {
        p.op_attr_mask |= UCP_OP_ATTR_FIELD_MEMH;
        p.memh = ub->smemh;
    }
    ucs_status_ptr_t req = ucp_am_send_nbx(ub->ep, BENCH_AM_ID, &slot->hdr, sizeof(slot->hdr),
                                           ub->sbuf, len, &p);
    slot->sent++;
    if (UCS_PTR_IS_ERR(req))
        return note_failure(ub, UCS_PTR_STATUS(req), "ucp_am_send_nbx");
    if (req)
        slot->inflight++;   /* completed in place otherwise: no callback */
    return 0;
}

/* ---- waiting -------------------------------------------------------------------------------- */

/* Blocking mode: sleep on the worker's event fd, at most a slice and never past DEADLINE. */
static int sleep_on_worker(ucx_bench_t *ub, uint64_t deadline)
{
    struct epoll_event ev;
    uint64_t now = bench_now_ns();
    ucs_status_t status = ucp_worker_arm(ub->worker);

    if (status == UCS_ERR_BUSY)
        return 0;   /* events came in meanwhile: progress again */
    if (status != UCS_OK)
        return note_failure(ub, status, "ucp_worker_arm");
    uint64_t ms = now < deadline ? (deadline - now) / 1000000 : 0;
    if (epoll_wait(ub->epfd, &ev, 1, ms > SLEEP_SLICE_MS ? SLEEP_SLICE_MS : (int)ms) < 0 &&
        errno != EINTR)
        return note_failure(ub, UCS_ERR_IO_ERROR, "epoll_wait");
    return 0;
}

/* Progresses the worker until COND holds, the peer fails, or DEADLINE passes. */
static int wait_for(ucx_bench_t *ub, wait_cond_t cond, uint64_t deadline)
{
    for (unsigned spins = 0; !cond(ub); ) {
        if (ub->failure != UCS_OK)
            return -EIO;
        if ((++spins & 127) == 0 && bench_now_ns() > deadline)
            return note_failure(ub, UCS_ERR_TIMED_OUT, "waiting for the peer");
        if (ucp_worker_progress(ub->worker) == 0 && ub->blocking &&
            sleep_on_worker(ub, deadline) < 0)
            return -EIO;
    }
    return 0;
}

/* ---- conditions ----------------------------------------------------------------------------- */

static uint64_t streams_sent(const ucx_bench_t *ub)
{
    return ub->ops[OP_STREAM].sent + ub->ops[OP_STREAM_FLUSH].sent;
}

static uint64_t streams_landed(const ucx_bench_t *ub)
{
    return ub->ops[OP_STREAM].landed + ub->ops[OP_STREAM_FLUSH].landed;
}

static uint64_t streams_arrived(const ucx_bench_t *ub)
{
    return ub->ops[OP_STREAM].arrived + ub->ops[OP_STREAM_FLUSH].arrived;
}

static unsigned sends_in_flight(const ucx_bench_t *ub)
{
    unsigned n = 0;

    for (int op = 0; op < OP_COUNT; op++)
        n += ub->ops[op].inflight;
    return n;
}

/* Client: the PONG is in and the PING's buffer is free again. */
static bool pong_landed(const ucx_bench_t *ub)
{
    return ub->ops[OP_PONG].landed >= ub->ops[OP_PING].sent && !ub->ops[OP_PING].inflight;
}

static bool all_acked(const ucx_bench_t *ub)
{
    return ub->ops[OP_ACK].rx_value >= streams_sent(ub) && !ub->ops[OP_STREAM].inflight &&
           !ub->ops[OP_STREAM_FLUSH].inflight;
}

static bool window_open(const ucx_bench_t *ub)
{
    return streams_sent(ub) - ub->ops[OP_ACK].rx_value < ub->window;
}

static bool cpu_replied(const ucx_bench_t *ub)
{
    return ub->ops[OP_CPU_REP].landed >= ub->ops[OP_CPU_REQ].sent;
}

static bool nothing_in_flight(const ucx_bench_t *ub)
{
    return sends_in_flight(ub) == 0;
}

static bool bye_or_closed(const ucx_bench_t *ub)
{
    return ub->ops[OP_BYE].landed || ub->peer_closed;
}

static bool connection_requested(const ucx_bench_t *ub)
{
    return ub->conn_request != NULL;
}

/* Server: what the main loop has to answer. */
static bool pong_due(const ucx_bench_t *ub)
{
    return ub->ops[OP_PING].landed > ub->ops[OP_PONG].sent;
}

/* An ACK when a flush's window has fully landed, or every ack_every streams (rate mode); one
 * ACK in flight at a time, since its header carries the count. */
static bool ack_due(const ucx_bench_t *ub)
{
    uint64_t landed = streams_landed(ub), every = ub->ops[OP_STREAM].rx_value;
    bool flush = ub->ops[OP_STREAM_FLUSH].arrived > ub->flushes_acked &&
                 landed == streams_arrived(ub);

    return !ub->ops[OP_ACK].inflight && (flush || (every && landed - ub->acked >= every));
}

static bool cpu_due(const ucx_bench_t *ub)
{
    return ub->ops[OP_CPU_REQ].landed > ub->ops[OP_CPU_REP].sent && !ub->ops[OP_CPU_REP].inflight;
}

static bool quit_due(const ucx_bench_t *ub)
{
    return ub->ops[OP_QUIT].landed > 0;
}

static bool server_has_work(const ucx_bench_t *ub)
{
    return pong_due(ub) || ack_due(ub) || cpu_due(ub) || quit_due(ub);
}

/* ---- setup and teardown --------------------------------------------------------------------- */

static int map_buffer(ucx_bench_t *ub, size_t len, void **buf, ucp_mem_h *memh)
{
    ucp_mem_map_params_t mp = {
        .field_mask = UCP_MEM_MAP_PARAM_FIELD_ADDRESS | UCP_MEM_MAP_PARAM_FIELD_LENGTH,
        .length = len,
    };

    if (!(*buf = aligned_alloc(PAGE, len)))
        return -ENOMEM;
    memset(*buf, 'u', len);   /* touch every page before timing */
    mp.address = *buf;
    ucs_status_t status = ucp_mem_map(ub->ctx, &mp, memh);
    return status == UCS_OK ? 0 : note_failure(ub, status, "ucp_mem_map");
}

static void unmap_buffer(ucx_bench_t *ub, void *buf, ucp_mem_h memh)
{
    if (memh)
        ucp_mem_unmap(ub->ctx, memh);
    free(buf);
}

static int setup_wakeup(ucx_bench_t *ub)
{
    struct epoll_event ev = { .events = EPOLLIN };
    int efd;
    ucs_status_t status = ucp_worker_get_efd(ub->worker, &efd);

    if (status != UCS_OK)
        return note_failure(ub, status, "ucp_worker_get_efd");
    ub->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (ub->epfd < 0 || epoll_ctl(ub->epfd, EPOLL_CTL_ADD, efd, &ev) < 0)
        return note_failure(ub, UCS_ERR_IO_ERROR, "epoll on the worker's event fd");
    return 0;
}

/* Context, worker, AM handler, buffers. ucp_init without a config reads the UCX_* environment
 * (UCX_TLS, UCX_NET_DEVICES, UCX_MM_ERROR_HANDLING, ...), which is how runs are pinned. */
static int setup(ucx_bench_t *ub, size_t buf_len)
{
    ucp_params_t params = {
        .field_mask = UCP_PARAM_FIELD_FEATURES,
        .features = UCP_FEATURE_AM | (ub->blocking ? UCP_FEATURE_WAKEUP : 0),
    };
    ucp_worker_params_t wp = {
        .field_mask = UCP_WORKER_PARAM_FIELD_THREAD_MODE,
        .thread_mode = UCS_THREAD_MODE_SINGLE,
    };
    ucp_am_handler_param_t hp = {
        .field_mask = UCP_AM_HANDLER_PARAM_FIELD_ID | UCP_AM_HANDLER_PARAM_FIELD_FLAGS |
                      UCP_AM_HANDLER_PARAM_FIELD_CB | UCP_AM_HANDLER_PARAM_FIELD_ARG,
        .id = BENCH_AM_ID,
        .flags = UCP_AM_FLAG_WHOLE_MSG,
        .cb = on_am,
        .arg = ub,
    };
    ucs_status_t status;

    for (int op = 0; op < OP_COUNT; op++)
        ub->ops[op].ub = ub;
    ub->epfd = -1;
    ub->buf_len = buf_len;
    if ((status = ucp_init(&params, NULL, &ub->ctx)) != UCS_OK)
        return note_failure(ub, status, "ucp_init");
    if ((status = ucp_worker_create(ub->ctx, &wp, &ub->worker)) != UCS_OK)
        return note_failure(ub, status, "ucp_worker_create");
    if ((status = ucp_worker_set_am_recv_handler(ub->worker, &hp)) != UCS_OK)
        return note_failure(ub, status, "ucp_worker_set_am_recv_handler");
    if (ub->blocking && setup_wakeup(ub) < 0)
        return -EIO;
    if (map_buffer(ub, buf_len, &ub->sbuf, &ub->smemh) < 0 ||
        map_buffer(ub, buf_len, &ub->rbuf, &ub->rmemh) < 0)
        return -ENOMEM;
    return 0;
}

static void on_ep_error(void *arg, ucp_ep_h ep, ucs_status_t status)
{
    ucx_bench_t *ub = arg;

    ub->peer_closed = true;
    if (!ub->closing)   /* at the end the peer's close shows up here too */
        note_failure(ub, status, "connection to the peer");
}

/* Flushes and closes the endpoint, waiting at most CLOSE_NS. */
static void close_ep(ucx_bench_t *ub)
{
    ucp_request_param_t p = { .op_attr_mask = UCP_OP_ATTR_FIELD_FLAGS, .flags = 0 };
    uint64_t limit = bench_now_ns() + CLOSE_NS;

    if (!ub->ep)
        return;
    if (ub->verbose)
        ucp_ep_print_info(ub->ep, stderr);
    ub->closing = true;
    ucs_status_ptr_t req = ucp_ep_close_nbx(ub->ep, &p);
    while (UCS_PTR_IS_PTR(req) && ucp_request_check_status(req) == UCS_INPROGRESS &&
           bench_now_ns() < limit)
        ucp_worker_progress(ub->worker);
    if (UCS_PTR_IS_PTR(req))
        ucp_request_free(req);
    ub->ep = NULL;
}

static void teardown(ucx_bench_t *ub)
{
    close_ep(ub);
    if (ub->conn_request)
        ucp_listener_reject(ub->listener, ub->conn_request);
    if (ub->listener)
        ucp_listener_destroy(ub->listener);
    if (ub->ctx) {
        unmap_buffer(ub, ub->sbuf, ub->smemh);
        unmap_buffer(ub, ub->rbuf, ub->rmemh);
    }
    if (ub->epfd >= 0)
        close(ub->epfd);
    if (ub->worker)
        ucp_worker_destroy(ub->worker);
    if (ub->ctx)
        ucp_cleanup(ub->ctx);
}

static ucp_ep_params_t peer_ep_params(ucx_bench_t *ub)
{
    return (ucp_ep_params_t){
        .field_mask = UCP_EP_PARAM_FIELD_ERR_HANDLING_MODE | UCP_EP_PARAM_FIELD_ERR_HANDLER,
        .err_mode = UCP_ERR_HANDLING_MODE_PEER,
        .err_handler = { .cb = on_ep_error, .arg = ub },
    };
}

/* ---- server --------------------------------------------------------------------------------- */

/* One client per run: later connection requests are turned away. */
static void on_conn_request(ucp_conn_request_h request, void *arg)
{
    ucx_bench_t *ub = arg;

    if (ub->conn_request || ub->ep)
        ucp_listener_reject(ub->listener, request);
    else
        ub->conn_request = request;
}

static int start_listener(ucx_bench_t *ub, const struct sockaddr_in *addr)
{
    ucp_listener_params_t lp = {
        .field_mask = UCP_LISTENER_PARAM_FIELD_SOCK_ADDR | UCP_LISTENER_PARAM_FIELD_CONN_HANDLER,
        .sockaddr = { .addr = (const struct sockaddr *)addr, .addrlen = sizeof(*addr) },
        .conn_handler = { .cb = on_conn_request, .arg = ub },
    };
    ucp_listener_attr_t attr = { .field_mask = UCP_LISTENER_ATTR_FIELD_SOCKADDR };
    char ip[INET_ADDRSTRLEN];
    ucs_status_t status = ucp_listener_create(ub->worker, &lp, &ub->listener);

    if (status != UCS_OK)
        return note_failure(ub, status, "ucp_listener_create");
    if ((status = ucp_listener_query(ub->listener, &attr)) != UCS_OK)
        return note_failure(ub, status, "ucp_listener_query");
    const struct sockaddr_in *bound = (const struct sockaddr_in *)&attr.sockaddr;
    printf("listening on %s:%u\n", inet_ntop(AF_INET, &bound->sin_addr, ip, sizeof(ip)),
           ntohs(bound->sin_port));
    fflush(stdout);   /* whoever started us waits for this line */
    return 0;
}

static int accept_client(ucx_bench_t *ub)
{
    ucp_ep_params_t p = peer_ep_params(ub);

    if (wait_for(ub, connection_requested, bench_now_ns() + SERVER_IDLE_NS) < 0)
        return -EIO;
    p.field_mask |= UCP_EP_PARAM_FIELD_CONN_REQUEST;
    p.conn_request = ub->conn_request;
    ub->conn_request = NULL;   /* consumed by ucp_ep_create, even on failure */
    ucs_status_t status = ucp_ep_create(ub->worker, &p, &ub->ep);
    return status == UCS_OK ? 0 : note_failure(ub, status, "ucp_ep_create (server)");
}

/* One round of answers: whatever the client's messages asked for. */
static int answer(ucx_bench_t *ub)
{
    int rc = 0;

    if (pong_due(ub))
        rc = post(ub, OP_PONG, 0, ub->ping_len);
    if (rc == 0 && ack_due(ub)) {
        ub->acked = streams_landed(ub);
        ub->flushes_acked = ub->ops[OP_STREAM_FLUSH].arrived;
        rc = post(ub, OP_ACK, ub->acked, 0);
    }
    if (rc == 0 && cpu_due(ub))
        rc = post(ub, OP_CPU_REP, (uint64_t)(bench_cpu_seconds() * 1e9), 0);
    return rc;
}

static int serve(ucx_bench_t *ub, const struct sockaddr_in *addr)
{
    if (start_listener(ub, addr) < 0 || accept_client(ub) < 0)
        return -EIO;
    while (!quit_due(ub)) {
        if (wait_for(ub, server_has_work, bench_now_ns() + SERVER_IDLE_NS) < 0 || answer(ub) < 0)
            return -EIO;
    }
    ub->closing = true;
    if (post(ub, OP_BYE, 0, 0) < 0)
        return -EIO;
    return wait_for(ub, nothing_in_flight, bench_now_ns() + CLOSE_NS);
}

/* ---- client: the three patterns ------------------------------------------------------------- */

static int latency_phase(ucx_bench_t *ub, size_t size, unsigned long max, uint64_t deadline,
                         double *samples_us, unsigned long *done)
{
    for (unsigned long i = 0;; i++) {
        bool last = bench_is_last(i, max, deadline);
        uint64_t start = bench_now_ns();

        if (post(ub, OP_PING, 0, size) < 0 || wait_for(ub, pong_landed, deadline + GRACE_NS) < 0)
            return -EIO;
        if (samples_us)
            samples_us[i] = (double)(bench_now_ns() - start) / 2e3;
        if (last) {
            *done = i + 1;
            return 0;
        }
    }
}

static int bandwidth_phase(ucx_bench_t *ub, size_t size, unsigned long max, uint64_t deadline,
                           unsigned long *done)
{
    for (unsigned long w = 0;; w++) {
        bool last = bench_is_last(w, max, deadline);

        for (unsigned j = 0; j < ub->window; j++) {
            if (post(ub, j + 1 == ub->window ? OP_STREAM_FLUSH : OP_STREAM, 0, size) < 0)
                return -EIO;
        }
        if (wait_for(ub, all_acked, deadline + GRACE_NS) < 0)
            return -EIO;
        if (last) {
            *done = w + 1;
            return 0;
        }
    }
}

static int rate_phase(ucx_bench_t *ub, size_t size, unsigned long max, uint64_t deadline,
                      unsigned long *done)
{
    uint64_t ack_every = ub->window / 2 ? ub->window / 2 : 1;

    for (unsigned long i = 0;; i++) {
        bool last = bench_is_last(i, max, deadline);

        if (wait_for(ub, window_open, deadline + GRACE_NS) < 0 ||
            post(ub, last ? OP_STREAM_FLUSH : OP_STREAM, last ? 0 : ack_every, size) < 0)
            return -EIO;
        if (last) {
            *done = i + 1;
            return wait_for(ub, all_acked, deadline + GRACE_NS);
        }
    }
}

static int run_phase(ucx_bench_t *ub, const bench_opts_t *o, size_t size, unsigned long max,
                     bool warmup, double *samples_us, unsigned long *done)
{
    uint64_t deadline = bench_phase_deadline(o, warmup);

    switch (o->mode) {
    case BENCH_MODE_LATENCY:
        return latency_phase(ub, size, max, deadline, samples_us, done);
    case BENCH_MODE_BANDWIDTH:
        return bandwidth_phase(ub, size, max, deadline, done);
    default:
        return rate_phase(ub, size, max, deadline, done);
    }
}

/* The server's CPU time in seconds, asked over the wire. */
static int peer_cpu_seconds(ucx_bench_t *ub, double *seconds)
{
    if (post(ub, OP_CPU_REQ, 0, 0) < 0 ||
        wait_for(ub, cpu_replied, bench_now_ns() + CONNECT_NS) < 0)
        return -EIO;
    *seconds = (double)ub->ops[OP_CPU_REP].rx_value / 1e9;
    return 0;
}

/* CPU seconds of both processes together. */
static int both_cpu_seconds(ucx_bench_t *ub, double *seconds)
{
    double peer;

    if (peer_cpu_seconds(ub, &peer) < 0)
        return -EIO;
    *seconds = peer + bench_cpu_seconds();
    return 0;
}

static int run_size(ucx_bench_t *ub, const bench_opts_t *o, size_t size)
{
    unsigned long iters, warmup, done = 0;
    double cpu_start, cpu_end, *samples = NULL;
    bench_result_t r;
    int rc = -ENOMEM;

    bench_counts_for(o, size, &iters, &warmup);
    if (o->mode == BENCH_MODE_LATENCY && !(samples = malloc(iters * sizeof(*samples))))
        goto out;
    rc = -EIO;
    if (warmup && run_phase(ub, o, size, warmup, true, NULL, &done) < 0)
        goto out;
    if (both_cpu_seconds(ub, &cpu_start) < 0)
        goto out;
    uint64_t start = bench_now_ns();
    if (run_phase(ub, o, size, iters, false, samples, &done) < 0)
        goto out;
    double seconds = (double)(bench_now_ns() - start) / 1e9;
    if (both_cpu_seconds(ub, &cpu_end) < 0)
        goto out;
    bench_fill_result(&r, o, "ucx", size, done, seconds, cpu_end - cpu_start, samples);
    bench_print_result(stdout, o, &r);
    rc = 0;
out:
    free(samples);
    return rc;
}

static int connect_server(ucx_bench_t *ub, const struct sockaddr_in *addr)
{
    ucp_ep_params_t p = peer_ep_params(ub);

    p.field_mask |= UCP_EP_PARAM_FIELD_FLAGS | UCP_EP_PARAM_FIELD_SOCK_ADDR;
    p.flags = UCP_EP_PARAMS_FLAGS_CLIENT_SERVER;
    p.sockaddr.addr = (const struct sockaddr *)addr;
    p.sockaddr.addrlen = sizeof(*addr);
    ucs_status_t status = ucp_ep_create(ub->worker, &p, &ub->ep);
    return status == UCS_OK ? 0 : note_failure(ub, status, "ucp_ep_create (client)");
}

static int run_client(ucx_bench_t *ub, const bench_opts_t *o, const struct sockaddr_in *addr)
{
    double ignored;

    ub->window = o->window;
    /* the first exchange also waits for the connection, bounded by CONNECT_NS */
    if (connect_server(ub, addr) < 0 || peer_cpu_seconds(ub, &ignored) < 0)
        return -EIO;
    bench_print_header(stdout, o, "ucx");
    for (unsigned i = 0; i < o->nsizes; i++) {
        if (run_size(ub, o, o->sizes[i]) < 0)
            return -EIO;
    }
    if (post(ub, OP_QUIT, 0, 0) < 0)
        return -EIO;
    ub->closing = true;
    return wait_for(ub, bye_or_closed, bench_now_ns() + CLOSE_NS);
}

/* ---- command line --------------------------------------------------------------------------- */

static void usage(FILE *out)
{
    fprintf(out,
            "usage: ucx_pingpong -l [ADDR:]PORT [options]    server (ADDR 127.0.0.1, PORT 0: any)\n"
            "       ucx_pingpong -c HOST:PORT [options]      client, drives the run\n"
            "Latency, bandwidth and rate over UCP active messages. Pin UCX with UCX_TLS and\n"
            "UCX_NET_DEVICES; on one host add UCX_MM_ERROR_HANDLING=y to allow shared memory.\n"
            "  -l, --listen [ADDR:]PORT  serve one client (--sizes bounds its buffers)\n"
            "  -c, --connect HOST:PORT   run the sweep against a server\n"
            "      --blocking            sleep on the worker's event fd instead of spinning\n"
            "  -v, --verbose             print the endpoint's transports at the end\n");
    bench_opts_usage(out);
}

static int parse_extra(void *ctx, int opt, const char *arg, char *err, size_t errlen)
{
    ucx_args_t *a = ctx;

    switch (opt) {
    case 'l': a->listen = arg; return 0;
    case 'c': a->connect = arg; return 0;
    case 'v': a->verbose = true; return 0;
    case OPT_BLOCKING: a->blocking = true; return 0;
    default:
        snprintf(err, errlen, "unknown option (see --help)");
        return -EINVAL;
    }
}

/* "[ADDR:]PORT" (ADDR defaulting to DEFAULT_ADDR when given) into an IPv4 socket address. */
static int parse_sockaddr(const char *text, const char *default_addr, struct sockaddr_in *sa)
{
    char host[INET_ADDRSTRLEN] = "";
    const char *colon = strrchr(text, ':');
    const char *port_text = colon ? colon + 1 : text;
    unsigned long port;
    char *end;

    if (colon && (size_t)(colon - text) < sizeof(host))
        memcpy(host, text, (size_t)(colon - text));
    else if (colon || !default_addr)
        return -EINVAL;
    else
        snprintf(host, sizeof(host), "%s", default_addr);
    errno = 0;
    port = strtoul(port_text, &end, 10);
    if (*port_text < '0' || *port_text > '9' || *end || errno || port > 65535)
        return -EINVAL;
    memset(sa, 0, sizeof(*sa));
    sa->sin_family = AF_INET;
    sa->sin_port = htons((uint16_t)port);
    return inet_pton(AF_INET, host, &sa->sin_addr) == 1 ? 0 : -EINVAL;
}

/* 0 to run, 1 for --help, -EINVAL for bad input (said on stderr). */
static int parse_args(int argc, char **argv, bench_opts_t *o, ucx_args_t *a,
                      struct sockaddr_in *addr)
{
    static const struct option longopts[] = {
        { "listen", required_argument, NULL, 'l' }, { "connect", required_argument, NULL, 'c' },
        { "verbose", no_argument, NULL, 'v' },      { "blocking", no_argument, NULL, OPT_BLOCKING },
        { NULL, 0, NULL, 0 },
    };
    const bench_program_t prog = {
        .shortopts = "l:c:v", .longopts = longopts, .parse = parse_extra, .ctx = a,
        .modes = BENCH_MODE_BIT(BENCH_MODE_LATENCY) | BENCH_MODE_BIT(BENCH_MODE_BANDWIDTH) |
                 BENCH_MODE_BIT(BENCH_MODE_RATE),
    };
    char err[256] = "";
    int rc = bench_parse_args(argc, argv, &prog, o, err, sizeof(err));

    if (rc == 0 && !a->listen == !a->connect) {
        snprintf(err, sizeof(err), "give exactly one of -l [ADDR:]PORT and -c HOST:PORT");
        rc = -EINVAL;
    }
    if (rc == 0 && (a->listen ? parse_sockaddr(a->listen, "127.0.0.1", addr)
                              : parse_sockaddr(a->connect, NULL, addr)) < 0) {
        snprintf(err, sizeof(err), "bad address '%s' (IPv4 [ADDR:]PORT)",
                 a->listen ? a->listen : a->connect);
        rc = -EINVAL;
    }
    if (rc == 0 && a->connect && addr->sin_port == 0) {
        snprintf(err, sizeof(err), "the client needs the server's port, not 0");
        rc = -EINVAL;
    }
    if (rc < 0)
        fprintf(stderr, "ucx_pingpong: %s\n", err);
    if (rc != 0)
        usage(rc < 0 ? stderr : stdout);
    return rc;
}

int main(int argc, char **argv)
{
    ucx_args_t args = { 0 };
    ucx_bench_t ub = { 0 };
    struct sockaddr_in addr;
    bench_opts_t o;
    int rc = parse_args(argc, argv, &o, &args, &addr);

    if (rc != 0)
        return rc < 0 ? 2 : 0;
    ub.server = args.listen != NULL;
    ub.blocking = args.blocking;
    ub.verbose = args.verbose;
    rc = setup(&ub, (bench_max_size(&o) + PAGE - 1) / PAGE * PAGE);
    if (rc == 0)
        rc = ub.server ? serve(&ub, &addr) : run_client(&ub, &o, &addr);
    teardown(&ub);
    return rc < 0 ? 1 : 0;
}
