/* transport_harness.c - the apps, requests, waits and munged realms the transport's test
 * programs share (transport_harness.h). */
#include "transport_harness.h"

#include "config.h"
#include "mrpc/transport.h"
#include "phoenix/status.h"
#include "runtime.h"
#include "hs_client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <json-c/json.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

/* The ucx plugin's settings of these tests (settings.ucx): 8 MiB messages, the default in-flight
 * budget, no authentication unless a case says so. */
const char usual_settings[] = "max_message_mb = 8; inflight_mb = 256; auth = \"none\";";

struct phx_registry reg;
struct side A, B, C;
char err[512];
static phx_config_t cfg;

/* ---- the apps ------------------------------------------------------------------------------ */

void side_up_heap(struct side *s, unsigned sid, unsigned runtime, size_t recv_size)
{
    struct phx_app_port_params p = {
        .field_mask = PHX_APP_PORT_PARAM_FIELD_DEPTH | PHX_APP_PORT_PARAM_FIELD_SEND_SIZE |
                      PHX_APP_PORT_PARAM_FIELD_RECV_SIZE,
        .depth = 64,
        .send_size = 2u << 20,
        .recv_size = recv_size,
    };

    s->port = phx_app_port_create(&p, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(s->port);
    s->sub = phx_subscription_create_on(&reg, "wiretest", getpid(), sid, s->port, runtime, err,
                                        sizeof(err));
    if (!s->sub)
        fprintf(stderr, "\n  subscription: %s\n", err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s->sub);
    s->wt = phx_subscription_find(s->sub, "WireTestEngine");
    s->ucx = phx_subscription_find(s->sub, "UcxRpcAdapterEngine");
}

void side_up_on(struct side *s, unsigned sid, unsigned runtime)
{
    side_up_heap(s, sid, runtime, 512u << 20);  /* a 64 KiB + 1 message takes a 2 MiB slab */
}

void side_up(struct side *s, unsigned sid)
{
    side_up_on(s, sid, 0);
}

void side_down(struct side *s)
{
    phx_subscription_destroy(s->sub);
    phx_app_port_destroy(s->port);
    *s = (struct side){0};
}

void pair_up(void)
{
    side_up(&A, 1);
    side_up(&B, 2);
}

void pair_down(void)
{
    side_down(&A);
    side_down(&B);
}

void cmd(phx_engine_t *e, const char *fmt, ...)
{
    char req[256], *reply = NULL;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(req, sizeof(req), fmt, ap);
    va_end(ap);
    int rc = e->ops->admin(e, e->state, req, &reply);
    if (rc)
        fprintf(stderr, "\n  admin '%s': %s\n", req, strerror(-rc));
    CU_ASSERT_EQUAL(rc, 0);
    free(reply);
}

char *ask(phx_engine_t *e, const char *request)
{
    char *reply = NULL;

    CU_ASSERT_EQUAL(e->ops->admin(e, e->state, request, &reply), 0);
    return reply;
}

long long st(phx_engine_t *e, const char *key)
{
    return tp_stat(e, key);
}

void turns(unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        if (A.sub)
            tp_turn(A.sub);
        if (B.sub)
            tp_turn(B.sub);
    }
}

void dump_sides(const char *what)
{
    const struct side *sides[] = {&A, &B};

    fprintf(stderr, "\n  gave up waiting for: %s\n", what);
    for (unsigned i = 0; i < 2; i++) {
        for (unsigned k = 0; sides[i]->sub && k < sides[i]->sub->n_engines; k++) {
            phx_engine_t *e = sides[i]->sub->engines[k];
            char *reply = NULL;
            e->ops->admin(e, e->state, "stats", &reply);
            fprintf(stderr, "  %c %s %s\n", "AB"[i], e->ops->type, reply ? reply : "-");
            free(reply);
        }
    }
}

double secs_since(unsigned long long t0)
{
    return (double)(phx_test_now_ns() - t0) / 1e9;
}

uint32_t pair_connect(void)
{
    cmd(A.wt, "bind 1 127.0.0.1:0");
    CU_ASSERT_FATAL(RUN_UNTIL(st(A.wt, "bound") == 1, 5000));
    CU_ASSERT_EQUAL_FATAL(st(A.wt, "bound_status"), PHX_OK);
    long long port = st(A.wt, "bound_port");
    CU_ASSERT_FATAL(port > 0 && port < 65536);
    cmd(B.wt, "connect 5 127.0.0.1:%lld", port);
    CU_ASSERT_FATAL(RUN_UNTIL(st(B.wt, "connected") == 1 && st(A.wt, "accepted") == 1, 5000));
    CU_ASSERT_EQUAL_FATAL(st(B.wt, "connected_status"), PHX_OK);
    CU_ASSERT_EQUAL(st(A.wt, "accepted_binding"), 1);
    long long id = st(A.wt, "accepted_conn");
    CU_ASSERT(id >= MRPC_CONN_ACCEPTED_BASE);
    return (uint32_t)id;
}

void assert_clean(phx_engine_t *wt)
{
    static const char *const keys[] = {"verify_errors", "duplicates", "unexpected",
                                       "outside_heap", "seq_errors", "unannounced",
                                       "after_lost", "other"};
    for (unsigned i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        long long v = st(wt, keys[i]);
        if (v)
            fprintf(stderr, "\n  %s = %lld\n", keys[i], v);
        CU_ASSERT_EQUAL(v, 0);
    }
}

void round_trip(unsigned conn, unsigned tag)
{
    long long received = st(A.wt, "received");

    cmd(A.wt, "expect %u 1", tag);
    cmd(B.wt, "send %u 1 1000 %u", conn, tag);
    CU_ASSERT(RUN_UNTIL(st(A.wt, "received") == received + 1, 3000));
}

long long connect_again(unsigned id)
{
    long long before = st(B.wt, "connected");

    cmd(B.wt, "connect %u 127.0.0.1:%lld", id, st(A.wt, "bound_port"));
    CU_ASSERT(RUN_UNTIL(st(B.wt, "connected") == before + 1, 5000));
    return st(B.wt, "connected_status");
}

/* PHX_TEST_SAME_NODE=0 or 1 turns the same-node path (settings.ucx.same_node) off or on in
 * every case's settings; unset, the plugin's default holds. ctest runs the suite both ways. */
static const char *same_node_setting(void)
{
    const char *v = getenv("PHX_TEST_SAME_NODE");

    return !v || !*v ? "" : strcmp(v, "0") ? " same_node = true;" : " same_node = false;";
}

bool same_node_path(void)
{
    const char *v = getenv("PHX_TEST_SAME_NODE");

    return !v || strcmp(v, "0") != 0;
}

/* A's and B's CONNECTs of round I (id 10 + I), issued in the same turn, are answered. */
static void cross_round(unsigned i, long long pa, long long pb)
{
    cmd(A.wt, "connect %u 127.0.0.1:%lld", 10 + i, pb);
    cmd(B.wt, "connect %u 127.0.0.1:%lld", 10 + i, pa);
    CU_ASSERT(RUN_UNTIL(st(A.wt, "connected") == i + 1 && st(B.wt, "connected") == i + 1,
                        4000));
    long long a_ok = st(A.wt, "connected_ok"), b_ok = st(B.wt, "connected_ok");
    CU_ASSERT(RUN_UNTIL(st(B.wt, "accepted") == a_ok && st(A.wt, "accepted") == b_ok, 1000));
}

void cross_connect(unsigned rounds)
{
    cmd(A.wt, "bind 1 127.0.0.1:0");
    cmd(B.wt, "bind 1 127.0.0.1:0");
    CU_ASSERT_FATAL(RUN_UNTIL(st(A.wt, "bound") == 1 && st(B.wt, "bound") == 1, 5000));
    long long pa = st(A.wt, "bound_port"), pb = st(B.wt, "bound_port");
    for (unsigned i = 0; i < rounds; i++)
        cross_round(i, pa, pb);
    long long a_ok = st(A.wt, "connected_ok"), b_ok = st(B.wt, "connected_ok");
    printf("(%lld + %lld of %u CONNECTs OK, %lld + %lld crossed) ", a_ok, b_ok, rounds,
           st(A.ucx, "hs_crossed"), st(B.ucx, "hs_crossed"));
    CU_ASSERT_EQUAL(a_ok, rounds);
    CU_ASSERT_EQUAL(b_ok, rounds);
    CU_ASSERT(st(A.ucx, "hs_crossed") + st(B.ucx, "hs_crossed") > 0);  /* the case happened */
    cmd(A.wt, "expect 1 %u", rounds);
    cmd(B.wt, "expect 2 %u", rounds);
    for (unsigned i = 0; i < rounds; i++) {
        cmd(B.wt, "send1 %u 100 1 %u", 10 + i, i);
        cmd(A.wt, "send1 %u 100 2 %u", 10 + i, i);
        CU_ASSERT(RUN_UNTIL(st(A.wt, "received") == i + 1 && st(B.wt, "received") == i + 1,
                            3000));
    }
    CU_ASSERT_EQUAL(st(A.wt, "missing"), 0);
    CU_ASSERT_EQUAL(st(B.wt, "missing"), 0);
    assert_clean(A.wt);
    assert_clean(B.wt);
}

/* ---- runtime threads ----------------------------------------------------------------------- */

void threads_up(struct pair_threads *t)
{
    struct phx_runtime_params pa = {.field_mask = PHX_RUNTIME_PARAM_FIELD_INDEX, .index = 0};
    struct phx_runtime_params pb = {.field_mask = PHX_RUNTIME_PARAM_FIELD_INDEX, .index = 1};

    t->a = phx_runtime_start(&pa, err, sizeof(err));
    t->b = phx_runtime_start(&pb, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(t->a);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t->b);
    CU_ASSERT_EQUAL_FATAL(phx_runtime_add(t->a, A.sub), 0);
    CU_ASSERT_EQUAL_FATAL(phx_runtime_add(t->b, B.sub), 0);
}

void threads_down(struct pair_threads *t)
{
    CU_ASSERT_EQUAL(phx_runtime_remove(t->a, A.sub), 0);
    CU_ASSERT_EQUAL(phx_runtime_remove(t->b, B.sub), 0);
    phx_runtime_stop(t->a);
    phx_runtime_stop(t->b);
}

void ucx_settings(const char *text)
{
    struct phx_plugin *pl = phx_registry_find(&reg, "ucx");
    char all[1024];

    snprintf(all, sizeof(all), "%s%s", text, same_node_setting());
    CU_ASSERT_PTR_NOT_NULL_FATAL(pl);
    CU_ASSERT_EQUAL_FATAL(phx_settings_parse(pl->desc->settings, pl->host.settings, all, "test",
                                             err, sizeof(err)), 0);
}

/* ---- the wire-up --------------------------------------------------------------------------- */

long long refused(phx_engine_t *e, const char *reason)
{
    char *reply = ask(e, "stats");
    json_object *j = reply ? json_tokener_parse(reply) : NULL, *r, *v;
    long long n = -1;

    if (j && json_object_object_get_ex(j, "hs_refused", &r) &&
        json_object_object_get_ex(r, reason, &v))
        n = json_object_get_int64(v);
    json_object_put(j);
    free(reply);
    return n;
}

/* The kernel completes the connection from the listen backlog whether or not the service
 * accepts. */
int dial(unsigned port)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

    if (fd >= 0 && connect(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 && errno != EINPROGRESS) {
        close(fd);
        return -1;
    }
    return fd;
}

bool send_when_up(int fd, const void *p, size_t n)
{
    struct pollfd pfd = {.fd = fd, .events = POLLOUT};

    return poll(&pfd, 1, 1000) == 1 && send(fd, p, n, MSG_NOSIGNAL) == (ssize_t)n;
}

void frame_head(uint8_t *out, uint8_t version, uint8_t type, uint32_t len)
{
    memcpy(out, "PHXH", 4);
    out[4] = version;
    out[5] = type;
    out[6] = out[7] = 0;
    memcpy(out + 8, &len, 4);       /* little-endian host */
}

/* ---- MUNGE --------------------------------------------------------------------------------- */

static char munge_root[] = "/tmp/phx-munge-XXXXXX";  /* munged wants every parent searchable */
static char munge_dir[2][64], munge_sock[2][96];
static bool munge_up[2], root_made;

static bool munged(const char *how, unsigned i)
{
    char line[4400];

    snprintf(line, sizeof(line), "%s %s %s >/dev/null", MUNGED_SH, how, munge_dir[i]);
    return system(line) == 0;
}

const char *munge_socket(unsigned i)
{
    if (!root_made) {
        root_made = mkdtemp(munge_root) && chmod(munge_root, 0755) == 0;
        CU_ASSERT_FATAL(root_made);
    }
    if (!munge_up[i]) {
        snprintf(munge_dir[i], sizeof(munge_dir[i]), "%s/%c", munge_root, "ab"[i]);
        snprintf(munge_sock[i], sizeof(munge_sock[i]), "%s/munge.socket.2", munge_dir[i]);
        munge_up[i] = munged("start", i);       /* a key of its own: a realm of its own */
        if (!munge_up[i])
            fprintf(stderr, "\n  cannot start munged (tests/lib/munged.sh)\n");
        CU_ASSERT_FATAL(munge_up[i]);
    }
    return munge_sock[i];
}

void munge_settings(unsigned i)
{
    char text[256];

    snprintf(text, sizeof(text), "auth = \"munge\"; munge_socket = \"%s\";", munge_socket(i));
    ucx_settings(text);
}

void auth_none(void)
{
    ucx_settings("auth = \"none\"; munge_socket = \"\"; auth_same_job = false;");
}

static void munge_stop(void)
{
    for (unsigned i = 0; i < 2; i++)
        if (munge_up[i])
            munged("stop", i);
    if (root_made)
        phx_test_rmtree(munge_root);
}

/* ---- main ---------------------------------------------------------------------------------- */

static int load(const char *dir)
{
    char conf[1024];

    snprintf(conf, sizeof(conf), "plugins = ( { name = \"ucx\"; path = \"-\"; } );\n"
             "settings = { ucx = { %s%s }; };\n", usual_settings, same_node_setting());
    if (phx_config_load(&cfg, phx_test_write_file(dir, "phoenix.conf", conf), err,
                        sizeof(err)) < 0 || phx_registry_init(&reg, dir) < 0)
        return -1;
    phx_registry_set_config(&reg, &cfg);
    if (!phx_registry_load(&reg, PHX_PLUGIN_UCX, err, sizeof(err)) ||
        !phx_registry_load(&reg, PHX_PLUGIN_WIRETEST, err, sizeof(err)))
        return -1;
    return 0;
}

int transport_main(const char *suite, const phx_test_case_t *cases, int argc, char **argv)
{
    char dir[4096];

    setenv("UCX_NET_DEVICES", "lo", 1);         /* loopback only, whatever the caller says */
    setenv("UCX_TLS", "tcp", 0);
    snprintf(dir, sizeof(dir), "%s", phx_test_tmpdir(suite));
    if (load(dir) < 0) {
        fprintf(stderr, "%s: %s\n", suite, err);
        return 1;
    }
    int rc = phx_test_main(suite, cases, argc, argv);
    munge_stop();
    phx_registry_fini(&reg);
    phx_test_rmtree(dir);
    phx_config_free(&cfg);
    return rc;
}

int loopback_socket(int backlog, unsigned *port)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sin);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    CU_ASSERT_FATAL(fd >= 0);
    CU_ASSERT_EQUAL_FATAL(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    CU_ASSERT_EQUAL_FATAL(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
    if (backlog)
        CU_ASSERT_EQUAL_FATAL(listen(fd, backlog), 0);
    *port = ntohs(sin.sin_port);
    return fd;
}

static void *replay_thread(void *arg)
{
    struct replay_run *run = arg;

    run->rc = hs_client_run("127.0.0.1", run->port, &run->c, &run->r, run->err,
                            sizeof(run->err));
    __atomic_store_n(&run->done, true, __ATOMIC_RELEASE);
    return NULL;
}

void run_client(struct replay_run *run)
{
    pthread_t t;

    run->done = false;
    CU_ASSERT_EQUAL_FATAL(pthread_create(&t, NULL, replay_thread, run), 0);
    CU_ASSERT(RUN_UNTIL(__atomic_load_n(&run->done, __ATOMIC_ACQUIRE), 10000));
    pthread_join(t, NULL);
}
