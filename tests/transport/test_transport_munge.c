/* test_transport_munge.c - peer authentication of the wire-up with MUNGE (ucx_auth.c), between
 * two apps of one process and against a hand-made client (hs_client.c).
 *
 * Each case starts from transport_harness.h's private munged realms (two keys: two realms):
 * one realm connects and the server learns the caller's uid; another realm is refused; a
 * captured credential replayed on another handshake is refused; two services calling each other
 * at the same instant both connect; a client's credential sent with
 * another worker address than the one it names is refused; with auth_same_job only peers of the
 * service's Slurm job connect, and a service of no job refuses the setting. */
#include "transport_harness.h"

#include "admin_conns.h"
#include "hs_client.h"
#include "mrpc/transport.h"
#include "phoenix/log.h"
#include "phoenix/status.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- MUNGE (ucx_auth.c) -------------------------------------------------------------------- */

/* What `phoenixctl list` reports of SUB's connections (admin_conns.c): the one accepted, from
 * the caller of uid and gid ours, authenticated. */
static void assert_listed(const struct phx_subscription *sub)
{
    Phoenix__Control__Subscription m;

    phoenix__control__subscription__init(&m);
    CU_ASSERT_EQUAL_FATAL(phx_admin_connections(sub, &m), 0);
    CU_ASSERT_EQUAL_FATAL(m.n_connections, 1);
    CU_ASSERT_EQUAL(m.connections[0]->uid, (int64_t)geteuid());
    CU_ASSERT_EQUAL(m.connections[0]->gid, (int64_t)getegid());
    CU_ASSERT(m.connections[0]->authenticated);
    CU_ASSERT_EQUAL(strncmp(m.connections[0]->peer, "127.0.0.1:", 10), 0);
    CU_ASSERT(m.connections[0]->id >= MRPC_CONN_ACCEPTED_BASE);
    for (size_t i = 0; i < m.n_connections; i++)
        phoenix__control__connection__free_unpacked(m.connections[i], NULL);
    free(m.connections);
}

/* Two services of one realm (the same key): connected, and the server knows the caller's uid
 * (its transport's "peers", and what `phoenixctl list` shows). */
static void test_munge_realm(void)
{
    char uid[64];

    munge_settings(0);
    pair_up();
    auth_none();
    pair_connect();
    round_trip(5, 36);
    char *peers = ask(A.ucx, "peers");
    snprintf(uid, sizeof(uid), "\"uid\":%u,", (unsigned)geteuid());
    CU_ASSERT_PTR_NOT_NULL(strstr(peers, uid));
    CU_ASSERT_PTR_NOT_NULL(strstr(peers, "\"authenticated\":true"));
    free(peers);
    assert_listed(A.sub);
    CU_ASSERT_EQUAL(refused(A.ucx, "auth"), 0);
    pair_down();
}

/* Crossed connects between two authenticated services (workers of their own): the rule that
 * decides which connection keeps UCX's crossed pair works on the worker addresses MUNGE vouches
 * for, and every CONNECT connects. */
static void test_munge_crossed(void)
{
    munge_settings(0);
    side_up_on(&A, 1, 0);
    side_up_on(&B, 2, 1);
    auth_none();
    cross_connect(10);
    CU_ASSERT_EQUAL(refused(A.ucx, "auth"), 0);
    CU_ASSERT_EQUAL(refused(B.ucx, "auth"), 0);
    pair_down();
}

/* B's munged has another key: B cannot verify A's credential (nor A B's): refused. */
static void test_munge_other_realm(void)
{
    munge_settings(0);
    side_up(&A, 1);
    munge_settings(1);
    side_up(&B, 2);
    auth_none();
    cmd(A.wt, "bind 1 127.0.0.1:0");
    CU_ASSERT_FATAL(RUN_UNTIL(st(A.wt, "bound") == 1, 3000));
    cmd(B.wt, "connect 5 127.0.0.1:%lld", st(A.wt, "bound_port"));
    CU_ASSERT(RUN_UNTIL(st(B.wt, "connected") == 1, 5000));
    CU_ASSERT_EQUAL(st(B.wt, "connected_status"), PHX_UNAVAILABLE);
    CU_ASSERT_EQUAL(refused(B.ucx, "auth"), 1);
    CU_ASSERT_EQUAL(st(A.wt, "accepted"), 0);
    pair_down();
}

/* A captured AUTH frame, sent again on another handshake, is refused as replayed (it names the
 * first handshake's nonces; munged has seen it too). */
static void test_munge_replay(void)
{
    static struct replay_run run;
    static uint8_t addr[HS_FAKE_ADDR_LEN];
    size_t addr_len = hs_fake_worker_address(addr, 1);

    munge_settings(0);
    pair_up();
    auth_none();
    cmd(A.wt, "bind 1 127.0.0.1:0");
    CU_ASSERT_FATAL(RUN_UNTIL(st(A.wt, "bound") == 1, 3000));
    snprintf(run.port, sizeof(run.port), "%lld", st(A.wt, "bound_port"));
    run.c = (struct hs_client){.auth = PHX_UCX_AUTH_MUNGE, .munge_socket = munge_socket(0), .addr = addr,
                               .addr_len = addr_len};
    run_client(&run);                           /* an honest handshake, captured */
    CU_ASSERT_EQUAL_FATAL(run.rc, 0);
    close(run.r.fd);
    static uint8_t captured[PHX_UCX_HS_FRAME_MAX];
    size_t captured_len = run.r.auth_len;
    memcpy(captured, run.r.auth_frame, captured_len);
    run.c.replay = captured;
    run.c.replay_len = captured_len;
    run_client(&run);                           /* ... replayed on a new one */
    CU_ASSERT_EQUAL(run.rc, -1);
    CU_ASSERT_EQUAL(run.r.refused, PHX_UCX_HS_R_REPLAYED);
    CU_ASSERT_EQUAL(refused(A.ucx, "replayed"), 1);
    CU_ASSERT_EQUAL(st(A.wt, "accepted"), 0);   /* the honest one never claimed either */
    pair_down();
}

/* ---- the client's worker address ----------------------------------------------------------- */

/* A man in the middle who passes on an honest client's AUTH but names his own worker in it, so
 * that the server's endpoint would go to him: refused, the credential names the client's. */
static void test_munge_client_address(void)
{
    static struct replay_run run;
    static uint8_t addr[HS_FAKE_ADDR_LEN], thief[HS_FAKE_ADDR_LEN];
    size_t addr_len = hs_fake_worker_address(addr, 1);

    hs_fake_worker_address(thief, 2);

    munge_settings(0);
    pair_up();
    auth_none();
    cmd(A.wt, "bind 1 127.0.0.1:0");
    CU_ASSERT_FATAL(RUN_UNTIL(st(A.wt, "bound") == 1, 3000));
    snprintf(run.port, sizeof(run.port), "%lld", st(A.wt, "bound_port"));
    run.c = (struct hs_client){.auth = PHX_UCX_AUTH_MUNGE, .munge_socket = munge_socket(0),
                               .addr = addr, .addr_len = addr_len};
    run_client(&run);                           /* the honest client: DONE */
    CU_ASSERT_EQUAL(run.rc, 0);
    close(run.r.fd);
    run.c.frame_addr = thief;                   /* as long as the client's: only bytes differ */
    run.c.frame_addr_len = addr_len;
    run_client(&run);
    CU_ASSERT_EQUAL(run.rc, -1);
    CU_ASSERT_EQUAL(run.r.refused, PHX_UCX_HS_R_REPLAYED);
    CU_ASSERT_EQUAL(refused(A.ucx, "replayed"), 1);
    CU_ASSERT_EQUAL(st(A.wt, "accepted"), 0);
    pair_down();
}

/* ---- auth_same_job --------------------------------------------------------------------------- */

/* The log of what LOGGED_BY did (phoenix's log sent to a file meanwhile), malloc'd. */
static char *log_of(void (*logged_by)(void))
{
    char path[4200], *text = calloc(1, 65536);
    snprintf(path, sizeof(path), "%s/same_job.log", phx_test_tmpdir("transport_munge"));
    unlink(path);
    CU_ASSERT_EQUAL_FATAL(phx_log_set_file(path), 0);
    logged_by();
    phx_log_set_file(NULL);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0 && text && read(fd, text, 65535) < 0)
        text[0] = '\0';
    if (fd >= 0)
        close(fd);
    unlink(path);
    return text;
}

/* App SIDE (SID) of Slurm job JOB, with auth "munge" in realm 0, auth_same_job as SAME. */
static void job_side_up(struct side *side, unsigned sid, const char *job, bool same)
{
    setenv("SLURM_JOB_ID", job, 1);
    munge_settings(0);
    ucx_settings(same ? "auth_same_job = true;" : "auth_same_job = false;");
    side_up(side, sid);
    auth_none();
    unsetenv("SLURM_JOB_ID");
}

static void refused_other_job(void)
{
    CU_ASSERT_EQUAL(connect_again(6), PHX_UNAVAILABLE);
}

/* A (job 4242) accepts only its job: B of job 4242 connects, B of job 777 is refused, counted
 * and logged with a sentence; a client with the setting refuses a server of another job too. */
static void test_munge_same_job(void)
{
    job_side_up(&A, 1, "4242", true);
    job_side_up(&B, 2, "4242", false);
    pair_connect();
    round_trip(5, 37);
    side_down(&B);
    job_side_up(&B, 2, "777", false);       /* only the server restricts */
    char *log = log_of(refused_other_job);
    CU_ASSERT_EQUAL(refused(A.ucx, "policy"), 1);
    CU_ASSERT_EQUAL(st(A.wt, "accepted"), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(log, "names job 777, not this service's job 4242 "
                                       "(auth_same_job)"));
    free(log);
    side_down(&B);
    job_side_up(&B, 2, "777", true);        /* the client restricts: it refuses A's WELCOME */
    CU_ASSERT_EQUAL(connect_again(7), PHX_UNAVAILABLE);
    CU_ASSERT_EQUAL(refused(B.ucx, "policy"), 1);
    CU_ASSERT_EQUAL(st(A.wt, "accepted"), 1);
    pair_down();
}

/* A service of no job (a node service) refuses the setting, and an engine refuses it without
 * auth "munge": each with a sentence. */
static void test_munge_same_job_needs_a_job(void)
{
    struct phx_plugin *pl = phx_registry_find(&reg, "ucx");

    unsetenv("SLURM_JOB_ID");
    CU_ASSERT_NOT_EQUAL(phx_settings_parse(pl->desc->settings, pl->host.settings,
                                           "auth_same_job = true;", "test", err, sizeof(err)), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "SLURM_JOB_ID"));
    setenv("SLURM_JOB_ID", "4242", 1);
    ucx_settings("auth = \"none\"; auth_same_job = true;");
    phx_app_port_t *port = phx_app_port_create(NULL, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(port);
    struct phx_subscription *sub = phx_subscription_create_on(&reg, "wiretest", getpid(), 9,
                                                              port, 0, err, sizeof(err));
    CU_ASSERT_PTR_NULL(sub);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "auth_same_job needs auth \"munge\""));
    if (sub)
        phx_subscription_destroy(sub);
    phx_app_port_destroy(port);
    auth_none();
    unsetenv("SLURM_JOB_ID");
}

static const phx_test_case_t cases[] = {
    {"MUNGE: one realm connects, the server knows the uid", test_munge_realm},
    {"MUNGE: another realm is refused", test_munge_other_realm},
    {"MUNGE: crossed connects both connect", test_munge_crossed},
    {"MUNGE: a replayed credential is refused", test_munge_replay},
    {"MUNGE: an AUTH naming another worker than its credential is refused",
     test_munge_client_address},
    {"MUNGE: auth_same_job accepts only peers of the service's job", test_munge_same_job},
    {"MUNGE: auth_same_job needs a job and auth munge", test_munge_same_job_needs_a_job},
    {NULL, NULL},
};

int main(int argc, char **argv)
{
    return transport_main("transport_munge", cases, argc, argv);
}
