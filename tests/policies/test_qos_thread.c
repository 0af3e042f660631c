/* test_qos_thread.c - an app that a standing rule puts in QosEngine's latency class runs on a
 * runtime thread kept for urgent apps (runtime.urgent_threads; docs/policies.md, "qos"), end to
 * end through two real services (tests/mrpc/mrpc_fixture.h).
 *
 * Server side: runtime.threads = 2 and urgent_threads = 2, a standing rule (policyctl attach qos
 * --job 4711 --set class=latency), three echo servers registered in this order: one of job 4711,
 * one of no job, one of job 4711; and a local app (a context of this process, no job).
 * Client side: urgent_threads = 0 and a standing rule for every app (--all), and one app, this
 * process's context.
 *
 *   placed       the servers of job 4711 are each on a thread kept for urgent apps (2 and 3),
 *                one each (the least loaded), and their UCX engines on that thread's worker;
 *                the ordinary server is on runtime 0 (the urgent app before it did not use up
 *                its turn), the local app on runtime 1, each alone on its thread's worker; the
 *                client app has its QosEngine but stays on runtime 0 (no thread kept);
 *                `phoenixctl list` says "(urgent)"
 *   calls        Echo calls of 64 B and 48 KiB to each server, from the client app and from the
 *                local app (apps of one service on two threads): all succeed, nothing moved
 *   by pid       QosEngine attached by pid to the running ordinary server (policyctl attach
 *                --pid): it stays where it is (its connections are on its thread's worker) and
 *                serves on
 *   replaced     the second latency server killed (SIGKILL): the service lives, the other
 *                servers serve on, and its successor takes the thread it left (now the least
 *                loaded; in turn it would be the other one) */
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
/* An app of this process and its connections to the three servers. */
struct app {
    mrpc_ctx_t  *ctx;
    mrpc_conn_t *to_lat1, *to_lat2, *to_plain;
};

static struct app app, local;   /* on the client node; on the server node */

/* ---- set-up ------------------------------------------------------------------------------- */

static mrpc_conn_t *dial(const struct app *a, const struct mrpc_peer *p)
{
    mrpc_status_t st;
    mrpc_conn_t *c = mrpc_connect(a->ctx, p->addr, &st);

    if (!c)
        fprintf(stderr, "connect %s: %s: %s\n", p->addr, phx_status_name(st.code), st.message);
    return c;
}

static bool node_with(struct mrpc_node *n, const char *tag, enum mrpc_side side,
                      const char *threads, const char *urgent)
{
    setenv("PHX_TEST_THREADS", threads, 1);
    setenv("PHX_TEST_URGENT_THREADS", urgent, 1);
    bool ok = mrpc_node_start(n, tag, side);
    unsetenv("PHX_TEST_THREADS");
    unsetenv("PHX_TEST_URGENT_THREADS");
    return ok;
}

/* A context of this process on node N, connected to the three servers. */
static bool app_up(struct app *a, const struct mrpc_node *n)
{
    mrpc_ctx_params_t params = { .field_mask = MRPC_CTX_PARAM_FIELD_PREFIX,
                                 .prefix = n->d.prefix };
    mrpc_status_t st;

    if (!(a->ctx = mrpc_ctx_create(&params, &st))) {
        fprintf(stderr, "app: %s: %s\n", phx_status_name(st.code), st.message);
        return false;
    }
    return (a->to_lat1 = dial(a, &lat1)) && (a->to_lat2 = dial(a, &lat2)) &&
           (a->to_plain = dial(a, &plain));
}

static void app_down(struct app *a)
{
    mrpc_conn_t *conns[] = { a->to_lat1, a->to_lat2, a->to_plain };

    for (unsigned i = 0; i < 3; i++)
        if (conns[i])
            mrpc_conn_close(conns[i]);
    if (a->ctx)
        mrpc_ctx_destroy(a->ctx);
}

static bool bring_up(void)
{
    static phx_test_run_result_t r;

    if (!node_with(&srv, "qt-srv", MRPC_SIDE_SERVER, "2", "2") ||
        !node_with(&cli, "qt-cli", MRPC_SIDE_CLIENT, "1", "0") ||
        policy_ctl(&srv, (const char *[]){ "attach", "qos", "--job", LAT_JOB, "--set",
                                           "class=latency", NULL }, &r) != 0 ||
        policy_ctl(&cli, (const char *[]){ "attach", "qos", "--all", "--set", "class=latency",
                                           NULL }, &r) != 0 ||
        !policy_peer_of_job(&lat1, &srv, MRPC_TEST_PEER, LAT_JOB) ||
        !policy_peer_of_job(&plain, &srv, MRPC_TEST_PEER, NULL) ||
        !policy_peer_of_job(&lat2, &srv, MRPC_TEST_PEER, LAT_JOB))
        return false;
    return app_up(&app, &cli) && app_up(&local, &srv);
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
    long     worker_engines;    /* on that worker */
    unsigned n_addons;
};

/* Where the newest subscription of PID on N runs. */
static struct where where_on(const struct mrpc_node *n, pid_t pid)
{
    struct where w = { 0, false, -1, -1, 0 };
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
    w.worker_engines = mrpc_json_int(st, "worker_engines");
    json_object_put(st);
    return w;
}

/* An app on a thread kept for urgent apps (runtime 2 or 3 of 2 + 2), alone on that thread's
 * worker. */
static struct where check_urgent(const struct mrpc_peer *p)
{
    struct where w = where_on(&srv, p->pid);

    CU_ASSERT(w.urgent);
    CU_ASSERT(w.runtime == 2 || w.runtime == 3);
    CU_ASSERT_EQUAL(w.worker_runtime, (long)w.runtime);
    CU_ASSERT_EQUAL(w.worker_engines, 1);
    return w;
}

/* An ordinary app on runtime RUNTIME of N, alone on its worker (an urgent app created beside
 * it let go of it), with ADDONS policies. */
static void check_plain(const struct mrpc_node *n, pid_t pid, unsigned runtime, unsigned addons)
{
    struct where w = where_on(n, pid);

    CU_ASSERT(!w.urgent);
    CU_ASSERT_EQUAL(w.runtime, runtime);
    CU_ASSERT_EQUAL(w.worker_runtime, (long)runtime);
    CU_ASSERT_EQUAL(w.worker_engines, 1);
    CU_ASSERT_EQUAL(w.n_addons, addons);
}

/* The latency servers on one kept thread each, the others on the ordinary threads in turn. */
static void check_placement(void)
{
    struct where a = check_urgent(&lat1), b = check_urgent(&lat2);

    printf("(latency servers on runtimes %u and %u) ", a.runtime, b.runtime);
    CU_ASSERT_NOT_EQUAL(a.runtime, b.runtime);
    check_plain(&srv, plain.pid, 0, 0);
    check_plain(&srv, getpid(), 1, 0);  /* the local app */
    check_plain(&cli, getpid(), 0, 1);  /* QosEngine from the rule, no thread kept for it */
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

/* Calls of 64 B and 48 KiB from both apps to each server that is up. */
static void traffic(bool lat1_up, bool lat2_up)
{
    const struct app *apps[] = { &app, &local };

    for (unsigned i = 0; i < 2; i++) {
        mrpc_conn_t *conns[] = { lat1_up ? apps[i]->to_lat1 : NULL,
                                 lat2_up ? apps[i]->to_lat2 : NULL, apps[i]->to_plain };
        for (unsigned k = 0; k < 3; k++) {
            if (!conns[k])
                continue;
            policy_calls_ok(apps[i]->ctx, conns[k], 64, 50);
            policy_calls_ok(apps[i]->ctx, conns[k], 48u << 10, 20);
        }
    }
}

static void test_calls(void)
{
    need_nodes();
    traffic(true, true);
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
    check_plain(&srv, plain.pid, 0, 1); /* attached, not moved */
    traffic(false, false);
    CU_ASSERT_EQUAL(policy_ctl(&srv, (const char *[]){ "detach", "qos", "--pid", pid, NULL },
                               &r), 0);
    check_plain(&srv, plain.pid, 0, 0);
}

static void test_replaced(void)
{
    need_nodes();
    unsigned left = where_on(&srv, lat2.pid).runtime;
    pid_t gone = lat2.pid;
    struct mrpc_sub sub;

    CU_ASSERT_EQUAL(kill(gone, SIGKILL), 0);
    mrpc_peer_stop(&lat2);
    CU_ASSERT_FATAL(mrpc_node_alive(&srv));
    for (unsigned i = 0; i < 100 && mrpc_ctl_find_sub(&srv, gone, &sub); i++)
        usleep(50 * 1000);              /* the service drops its subscription: 5 s at most */
    CU_ASSERT_FATAL(!mrpc_ctl_find_sub(&srv, gone, &sub));
    traffic(true, false);
    CU_ASSERT_FATAL(policy_peer_of_job(&lat2, &srv, MRPC_TEST_PEER, LAT_JOB));
    struct app *apps[] = { &app, &local };
    for (unsigned i = 0; i < 2; i++) {
        mrpc_conn_close(apps[i]->to_lat2);
        CU_ASSERT_PTR_NOT_NULL_FATAL(apps[i]->to_lat2 = dial(apps[i], &lat2));
    }
    traffic(true, true);
    CU_ASSERT_EQUAL(check_urgent(&lat2).runtime, left);
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

    app_down(&local);
    app_down(&app);
    mrpc_peer_stop(&lat1);
    mrpc_peer_stop(&lat2);
    mrpc_peer_stop(&plain);
    bool clean = mrpc_node_stop(&cli, SIGTERM) & mrpc_node_stop(&srv, SIGTERM);
    return rc ? rc : clean ? 0 : 1;
}
