/* test_qos_thread.c - an app that a standing rule puts in QosEngine's latency class runs on a
 * runtime thread kept for urgent apps (runtime.urgent_threads; docs/policies.md, "qos"), end to
 * end through two real services (tests/mrpc/mrpc_fixture.h).
 *
 * Server side: runtime.threads = 1 and urgent_threads = 2, a standing rule (policyctl attach qos
 * --job 4711 --set class=latency) and three echo servers: two of job 4711, one of no job.
 * Client side: urgent_threads = 0 and a standing rule for every app (--all), and one app, this
 * process's context.
 *
 *   placed       the servers of job 4711 are each on a thread kept for urgent apps, one each
 *                (the least loaded), and their UCX engines on that thread's worker; the other
 *                server is on runtime 0; the client app has its QosEngine but stays on runtime 0
 *                (no thread kept); `phoenixctl list` says "(urgent)"
 *   calls        Echo calls of 64 B and 48 KiB to each server: all succeed, nothing moved
 *   by pid       QosEngine attached by pid to the running ordinary server (policyctl attach
 *                --pid): it stays where it is (its connections are on its thread's worker) and
 *                serves on
 *   replaced     a latency server killed (SIGKILL): the service lives, the other servers serve
 *                on, and its successor takes the thread it left (now the least loaded) */
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
static struct mrpc_peer lat1, lat2, plain;
static mrpc_ctx_t *app;
static mrpc_conn_t *to_lat1, *to_lat2, *to_plain;

/* ---- set-up ------------------------------------------------------------------------------- */

static bool peer_of_job(struct mrpc_peer *p, const char *job)
{
    if (job)
        setenv("SLURM_JOB_ID", job, 1);
    bool ok = mrpc_peer_start(p, &srv, MRPC_TEST_PEER, "ready");
    unsetenv("SLURM_JOB_ID");
    return ok;
}

static mrpc_conn_t *dial(const struct mrpc_peer *p)
{
    mrpc_status_t st;
    mrpc_conn_t *c = mrpc_connect(app, p->addr, &st);

    if (!c)
        fprintf(stderr, "connect %s: %s: %s\n", p->addr, phx_status_name(st.code), st.message);
    return c;
}

static bool node_with_urgent(struct mrpc_node *n, const char *tag, enum mrpc_side side,
                             const char *urgent)
{
    setenv("PHX_TEST_URGENT_THREADS", urgent, 1);
    bool ok = mrpc_node_start(n, tag, side);
    unsetenv("PHX_TEST_URGENT_THREADS");
    return ok;
}

static bool bring_up(void)
{
    static phx_test_run_result_t r;
    mrpc_ctx_params_t params = { .field_mask = MRPC_CTX_PARAM_FIELD_PREFIX };
    mrpc_status_t st;

    if (!node_with_urgent(&srv, "qt-srv", MRPC_SIDE_SERVER, "2") ||
        !node_with_urgent(&cli, "qt-cli", MRPC_SIDE_CLIENT, "0") ||
        policy_ctl(&srv, (const char *[]){ "attach", "qos", "--job", LAT_JOB, "--set",
                                           "class=latency", NULL }, &r) != 0 ||
        policy_ctl(&cli, (const char *[]){ "attach", "qos", "--all", "--set", "class=latency",
                                           NULL }, &r) != 0 ||
        !peer_of_job(&lat1, LAT_JOB) || !peer_of_job(&plain, NULL) ||
        !peer_of_job(&lat2, LAT_JOB))
        return false;
    params.prefix = cli.d.prefix;
    if (!(app = mrpc_ctx_create(&params, &st))) {
        fprintf(stderr, "app: %s: %s\n", phx_status_name(st.code), st.message);
        return false;
    }
    return (to_lat1 = dial(&lat1)) && (to_lat2 = dial(&lat2)) && (to_plain = dial(&plain));
}

static void need_nodes(void)
{
    CU_ASSERT_FATAL(mrpc_bring_up_once(bring_up));
}

/* ---- where each app runs ------------------------------------------------------------------ */

struct where {
    unsigned runtime;
    bool     urgent;
    long     worker_runtime;    /* of its UCX engine's worker */
    unsigned n_addons;
};

static struct where where_on(const struct mrpc_node *n, pid_t pid)
{
    struct where w = { 0, false, -1, 0 };
    struct mrpc_sub sub;
    char id[24];

    CU_ASSERT_FATAL(mrpc_ctl_find_sub(n, pid, &sub));
    w.runtime = sub.runtime;
    w.urgent = sub.runtime_urgent;
    w.n_addons = sub.n_addons;
    snprintf(id, sizeof(id), "%ld", sub.back_engine);
    json_object *st = mrpc_ctl_json(n, (const char *[]){ "engine", id, "stats", NULL });
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    w.worker_runtime = mrpc_json_int(st, "worker_runtime");
    json_object_put(st);
    return w;
}

/* An app on a thread kept for urgent apps (runtime 1 or 2 of 1 + 2), its UCX engine on that
 * thread's worker. */
static struct where check_urgent(const struct mrpc_peer *p)
{
    struct where w = where_on(&srv, p->pid);

    CU_ASSERT(w.urgent);
    CU_ASSERT(w.runtime == 1 || w.runtime == 2);
    CU_ASSERT_EQUAL(w.worker_runtime, (long)w.runtime);
    return w;
}

static void check_plain(const struct mrpc_node *n, pid_t pid, unsigned addons)
{
    struct where w = where_on(n, pid);

    CU_ASSERT(!w.urgent);
    CU_ASSERT_EQUAL(w.runtime, 0);
    CU_ASSERT_EQUAL(w.worker_runtime, 0);
    CU_ASSERT_EQUAL(w.n_addons, addons);
}

/* The latency servers on one urgent thread each, the others on runtime 0. */
static void check_placement(void)
{
    struct where a = check_urgent(&lat1), b = check_urgent(&lat2);

    printf("(latency servers on runtimes %u and %u) ", a.runtime, b.runtime);
    CU_ASSERT_NOT_EQUAL(a.runtime, b.runtime);
    check_plain(&srv, plain.pid, 0);
    check_plain(&cli, getpid(), 1);     /* QosEngine from the rule, no thread kept for it */
}

static void test_placed(void)
{
    static phx_test_run_result_t r;

    need_nodes();
    check_placement();
    CU_ASSERT_EQUAL(mrpc_ctl(&srv, (const char *[]){ "list", NULL }, &r), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "| Runtime "));
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out, " (urgent) "));
}

/* ---- traffic ------------------------------------------------------------------------------ */

/* N Echo calls of PAYLOAD bytes on CONN, 4 in flight: all succeed. */
static void calls_ok(mrpc_conn_t *conn, size_t payload, unsigned n)
{
    static struct policy_flow f;

    policy_flow_init(&f, app, conn, payload);
    CU_ASSERT_EQUAL(policy_flow_run(&f, 0, n, 4, false, PHX_OK), n);
    CU_ASSERT_EQUAL(f.failed, 0);
}

static void traffic(mrpc_conn_t *const *conns, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        calls_ok(conns[i], 64, 50);
        calls_ok(conns[i], 48u << 10, 20);
    }
}

static void test_calls(void)
{
    need_nodes();
    traffic((mrpc_conn_t *const[]){ to_lat1, to_lat2, to_plain }, 3);
    check_placement();                  /* nothing moved */
}

static void test_by_pid(void)
{
    static phx_test_run_result_t r;
    char pid[16];

    need_nodes();
    snprintf(pid, sizeof(pid), "%d", (int)plain.pid);
    CU_ASSERT_EQUAL_FATAL(policy_ctl(&srv, (const char *[]){ "attach", "qos", "--pid", pid,
                                                             "--set", "class=latency", NULL },
                                     &r), 0);
    check_plain(&srv, plain.pid, 1);    /* attached, not moved */
    traffic(&to_plain, 1);
    CU_ASSERT_EQUAL(policy_ctl(&srv, (const char *[]){ "detach", "qos", "--pid", pid, NULL },
                               &r), 0);
    check_plain(&srv, plain.pid, 0);
}

static void test_replaced(void)
{
    need_nodes();
    unsigned left = where_on(&srv, lat1.pid).runtime;

    pid_t gone = lat1.pid;
    struct mrpc_sub sub;

    CU_ASSERT_EQUAL(kill(gone, SIGKILL), 0);
    mrpc_peer_stop(&lat1);
    CU_ASSERT_FATAL(mrpc_node_alive(&srv));
    for (unsigned i = 0; i < 100 && mrpc_ctl_find_sub(&srv, gone, &sub); i++)
        usleep(50 * 1000);              /* the service drops its subscription: 5 s at most */
    CU_ASSERT_FATAL(!mrpc_ctl_find_sub(&srv, gone, &sub));
    traffic((mrpc_conn_t *const[]){ to_lat2, to_plain }, 2);
    CU_ASSERT_FATAL(peer_of_job(&lat1, LAT_JOB));
    mrpc_conn_close(to_lat1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(to_lat1 = dial(&lat1));
    traffic((mrpc_conn_t *const[]){ to_lat1, to_lat2, to_plain }, 3);
    CU_ASSERT_EQUAL(check_urgent(&lat1).runtime, left);
    check_placement();
}

int main(int argc, char **argv)
{
    static const phx_test_case_t cases[] = {
        { "a latency app of a standing rule runs on a thread kept for urgent apps", test_placed },
        { "calls to latency and ordinary servers, nothing moves", test_calls },
        { "QoS attached by pid to a running app: it stays where it is", test_by_pid },
        { "a latency server killed: its successor takes the thread it left", test_replaced },
        { NULL, NULL },
    };
    int rc = phx_test_main("qos_thread", cases, argc, argv);

    mrpc_conn_t *conns[] = { to_lat1, to_lat2, to_plain };
    for (unsigned i = 0; i < 3; i++)
        if (conns[i])
            mrpc_conn_close(conns[i]);
    if (app)
        mrpc_ctx_destroy(app);
    mrpc_peer_stop(&lat1);
    mrpc_peer_stop(&lat2);
    mrpc_peer_stop(&plain);
    bool clean = mrpc_node_stop(&cli, SIGTERM) & mrpc_node_stop(&srv, SIGTERM);
    return rc ? rc : clean ? 0 : 1;
}
