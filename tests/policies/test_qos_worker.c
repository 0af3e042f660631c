/* test_qos_worker.c - a latency-class app's UCX engine gets a worker of its own
 * (settings.ucx.worker = "class", set in both nodes by PHX_TEST_UCX_WORKER; docs/transport.md,
 * "Threads, workers, upgrade"), end to end through two real services
 * (tests/mrpc/mrpc_fixture.h).
 *
 * Server side: a standing rule (policyctl attach qos --job 4711 --set class=latency) and two
 * echo servers, one of job 4711 (SLURM_JOB_ID in its environment), one of no job. Client side,
 * this process: a latency app (its own libmrpc context) to which QosEngine is attached by pid
 * and sid after it registered and before it connects, a bulk app (no policy), and a late app
 * whose QosEngine comes after it connected.
 *
 *   workers      each app's UcxRpcAdapterEngine stats (phoenixctl engine ID stats): the latency
 *                apps' engines, on both services, are on workers of their own (`worker_own`,
 *                a `worker` id no other app's engine has), the bulk apps' share their runtime
 *                thread's; the late app stays on the shared worker (its endpoints cannot move)
 *   traffic      Echo calls of 64 B and 48 KiB from each app to each server (own worker to
 *                shared and back, both ways): all succeed
 *   kill bulk    the bulk server killed (SIGKILL): the latency app's calls go on; a new bulk
 *                server serves the bulk app on the shared worker
 *   kill latency the latency server killed (SIGKILL): its own worker goes with it, the service
 *                lives, the bulk app's calls go on; a new server of job 4711 gets a new own
 *                worker and serves
 *   detach       the rule and the client's policy detached: the engines keep their workers
 *                (an app that leaves the class keeps its own) and the calls go on */
#include "mrpc_fixture.h"
#include "mrpc_test.mrpc.h"
#include "phx_test.h"
#include "policy_fixture.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LAT_JOB "4711"

static struct mrpc_node srv, cli;
static struct mrpc_peer lat_srv, bulk_srv;

/* One app of this process: its context, subscription and a connection to each server. */
struct app {
    mrpc_ctx_t  *ctx;
    unsigned     sid;
    mrpc_conn_t *to_lat, *to_bulk;
};

static struct app lat, bulk, late;

/* ---- set-up ------------------------------------------------------------------------------- */

static bool app_register(struct app *a)
{
    mrpc_ctx_params_t params = { .field_mask = MRPC_CTX_PARAM_FIELD_PREFIX,
                                 .prefix = cli.d.prefix };
    mrpc_status_t st;
    struct mrpc_sub sub;

    if (!(a->ctx = mrpc_ctx_create(&params, &st)) || !mrpc_ctl_find_sub(&cli, getpid(), &sub)) {
        fprintf(stderr, "app: %s: %s\n", phx_status_name(st.code), st.message);
        return false;
    }
    a->sid = sub.sid;                   /* the newest: this context's */
    return true;
}

static bool app_connect(struct app *a)
{
    mrpc_status_t st;

    a->to_lat = mrpc_connect(a->ctx, lat_srv.addr, &st);
    if (a->to_lat)
        a->to_bulk = mrpc_connect(a->ctx, bulk_srv.addr, &st);
    if (!a->to_bulk)
        fprintf(stderr, "connect: %s: %s\n", phx_status_name(st.code), st.message);
    return a->to_bulk != NULL;
}

/* policyctl attach qos class=latency (ATTACH) or detach qos, for A's subscription. */
static int qos_sid(const struct app *a, bool attach)
{
    static phx_test_run_result_t r;
    char pid[16], sid[16];

    snprintf(pid, sizeof(pid), "%d", (int)getpid());
    snprintf(sid, sizeof(sid), "%u", a->sid);
    return attach ? policy_ctl(&cli, (const char *[]){ "attach", "qos", "--pid", pid, "--sid",
                                                       sid, "--set", "class=latency", NULL }, &r)
                  : policy_ctl(&cli, (const char *[]){ "detach", "qos", "--pid", pid, "--sid",
                                                       sid, NULL }, &r);
}

static bool bring_up(void)
{
    static phx_test_run_result_t r;

    setenv("PHX_TEST_UCX_WORKER", "class", 1);
    if (!mrpc_node_start(&srv, "qw-srv", MRPC_SIDE_SERVER) ||
        !mrpc_node_start(&cli, "qw-cli", MRPC_SIDE_CLIENT) ||
        policy_ctl(&srv, (const char *[]){ "attach", "qos", "--job", LAT_JOB, "--set",
                                           "class=latency", NULL }, &r) != 0 ||
        !policy_peer_of_job(&lat_srv, &srv, MRPC_TEST_PEER, LAT_JOB) ||
        !policy_peer_of_job(&bulk_srv, &srv, MRPC_TEST_PEER, NULL))
        return false;
    return app_register(&bulk) && app_connect(&bulk) &&
           app_register(&lat) && qos_sid(&lat, true) == 0 && app_connect(&lat) &&
           app_register(&late) && app_connect(&late) && qos_sid(&late, true) == 0;
}

static void need_nodes(void)
{
    CU_ASSERT_FATAL(mrpc_bring_up_once(bring_up));
}

/* ---- which worker ------------------------------------------------------------------------- */

struct where {
    long worker;
    bool own;
};

/* The worker of the UCX engine (the subscription's last engine) of PID's subscription SID on N
 * (SID 0: its newest). */
static struct where where_sid(const struct mrpc_node *n, pid_t pid, unsigned sid)
{
    struct where w = { -1, false };
    json_object *list = mrpc_ctl_json(n, (const char *[]){ "list", NULL }), *subs = NULL;
    long engine = -1;

    if (list && json_object_object_get_ex(list, "subscriptions", &subs))
        for (size_t i = 0; i < json_object_array_length(subs); i++) {
            json_object *sub = json_object_array_get_idx(subs, i), *engines = NULL;
            if (mrpc_json_int(sub, "pid") != (long)pid ||
                (sid && mrpc_json_int(sub, "sid") != (long)sid) ||
                !json_object_object_get_ex(sub, "engines", &engines))
                continue;
            size_t k = json_object_array_length(engines);
            for (size_t j = 0; j < k; j++) {
                json_object *e = json_object_array_get_idx(engines, j), *type = NULL;
                if (json_object_object_get_ex(e, "type", &type) &&
                    !strcmp(json_object_get_string(type), "UcxRpcAdapterEngine"))
                    engine = mrpc_json_int(e, "id");
            }
        }
    json_object_put(list);
    CU_ASSERT_FATAL(engine >= 0);
    char id[24];
    snprintf(id, sizeof(id), "%ld", engine);
    json_object *st = mrpc_ctl_json(n, (const char *[]){ "engine", id, "stats", NULL }), *own;
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    w.worker = mrpc_json_int(st, "worker");
    w.own = json_object_object_get_ex(st, "worker_own", &own) && json_object_get_boolean(own);
    json_object_put(st);
    return w;
}

static struct where where_app(const struct app *a)
{
    return where_sid(&cli, getpid(), a->sid);
}

static struct where where_peer(const struct mrpc_peer *p)
{
    return where_sid(&srv, p->pid, 0);
}

/* The latency apps on workers of their own, the bulk ones (and the late one) on a shared one. */
static void check_workers(void)
{
    struct where l = where_app(&lat), b = where_app(&bulk), z = where_app(&late);
    struct where ls = where_peer(&lat_srv), bs = where_peer(&bulk_srv);

    printf("(client: latency on worker %ld%s, bulk %ld, late %ld; server: latency %ld%s, "
           "bulk %ld) ", l.worker, l.own ? " (own)" : "", b.worker, z.worker, ls.worker,
           ls.own ? " (own)" : "", bs.worker);
    CU_ASSERT(l.own);
    CU_ASSERT(!b.own);
    CU_ASSERT_NOT_EQUAL(l.worker, b.worker);
    CU_ASSERT(!z.own);                      /* attached after it connected: stays */
    CU_ASSERT_EQUAL(z.worker, b.worker);
    CU_ASSERT(ls.own);
    CU_ASSERT(!bs.own);
    CU_ASSERT_NOT_EQUAL(ls.worker, bs.worker);
}

/* ---- traffic ------------------------------------------------------------------------------ */

/* Every app to every live server, small and large. */
static void traffic(bool to_lat, bool to_bulk)
{
    const struct app *apps[] = { &lat, &bulk, &late };

    for (unsigned i = 0; i < 3; i++)
        for (unsigned k = 0; k < 2; k++) {
            size_t payload = k ? 48u << 10 : 64;
            if (to_lat)
                policy_calls_ok(apps[i]->ctx, apps[i]->to_lat, payload, 50);
            if (to_bulk)
                policy_calls_ok(apps[i]->ctx, apps[i]->to_bulk, payload, 50);
        }
}

static void test_workers(void)
{
    need_nodes();
    check_workers();
}

static void test_traffic(void)
{
    need_nodes();
    traffic(true, true);
    check_workers();                        /* nothing moved */
}

/* Kills P (SIGKILL) and reaps it; the service it used lives. */
static void kill_peer(struct mrpc_peer *p)
{
    CU_ASSERT_EQUAL(kill(p->pid, SIGKILL), 0);
    mrpc_peer_stop(p);
    CU_ASSERT(mrpc_node_alive(&srv));
}

/* Each app's connection to a server that was killed, closed and made again to its successor. */
static void redial(bool to_lat)
{
    struct app *apps[] = { &lat, &bulk, &late };
    mrpc_status_t st;

    for (unsigned i = 0; i < 3; i++) {
        mrpc_conn_t **c = to_lat ? &apps[i]->to_lat : &apps[i]->to_bulk;
        mrpc_conn_close(*c);
        *c = mrpc_connect(apps[i]->ctx, to_lat ? lat_srv.addr : bulk_srv.addr, &st);
        CU_ASSERT_PTR_NOT_NULL_FATAL(*c);
    }
}

static void test_kill_bulk(void)
{
    need_nodes();
    kill_peer(&bulk_srv);
    traffic(true, false);                   /* the latency server serves on */
    CU_ASSERT_FATAL(policy_peer_of_job(&bulk_srv, &srv, MRPC_TEST_PEER, NULL));
    redial(false);
    traffic(true, true);
    check_workers();
}

static void test_kill_latency(void)
{
    need_nodes();
    long before = where_peer(&lat_srv).worker;
    kill_peer(&lat_srv);
    traffic(false, true);                   /* the bulk server serves on */
    CU_ASSERT_FATAL(policy_peer_of_job(&lat_srv, &srv, MRPC_TEST_PEER, LAT_JOB));
    redial(true);
    traffic(true, true);
    check_workers();
    CU_ASSERT_NOT_EQUAL(where_peer(&lat_srv).worker, before);  /* the old one went with it */
}

static void test_detach(void)
{
    static phx_test_run_result_t r;

    need_nodes();
    struct where l = where_app(&lat), ls = where_peer(&lat_srv);
    CU_ASSERT_EQUAL(policy_ctl(&srv, (const char *[]){ "detach", "--job", LAT_JOB, NULL }, &r),
                    0);
    CU_ASSERT_EQUAL(qos_sid(&lat, false), 0);
    CU_ASSERT_EQUAL(qos_sid(&late, false), 0);
    traffic(true, true);
    struct where l2 = where_app(&lat), ls2 = where_peer(&lat_srv);
    CU_ASSERT_EQUAL(l2.worker, l.worker);
    CU_ASSERT(l2.own);
    CU_ASSERT_EQUAL(ls2.worker, ls.worker);
    CU_ASSERT(ls2.own);
}

static void app_close(struct app *a)
{
    if (a->to_lat)
        mrpc_conn_close(a->to_lat);
    if (a->to_bulk)
        mrpc_conn_close(a->to_bulk);
    if (a->ctx)
        mrpc_ctx_destroy(a->ctx);
}

int main(int argc, char **argv)
{
    static const phx_test_case_t cases[] = {
        { "a latency-class app's engines are on workers of their own", test_workers },
        { "calls both ways between own and shared workers", test_traffic },
        { "the bulk server killed: the latency app goes on", test_kill_bulk },
        { "the latency server killed: its worker goes, a new one comes", test_kill_latency },
        { "detached: the workers stay, the calls go on", test_detach },
        { NULL, NULL },
    };
    int rc = phx_test_main("qos_worker", cases, argc, argv);

    app_close(&late);
    app_close(&lat);
    app_close(&bulk);
    mrpc_peer_stop(&lat_srv);
    mrpc_peer_stop(&bulk_srv);
    bool clean = mrpc_node_stop(&cli, SIGTERM) & mrpc_node_stop(&srv, SIGTERM);
    return rc ? rc : clean ? 0 : 1;
}
