/* test_metrics.c - MetricsEngine and phoenixd's Prometheus endpoint end to end: this process
 * calls the echo server through two real services (tests/mrpc/mrpc_fixture.h: namespaces joined
 * by a veth pair when root, else loopback), with MetricsEngine attached by policyctl on both
 * sides, and the nodes' endpoints (metrics.listen = 127.0.0.1:0, the port from the log) scraped
 * by http_get run inside each node's namespace.
 *
 *   scrape        40 Echo and 5 Fail calls: on the client node phoenix_rpc_calls_total of our
 *                 pid and side client is 45, errors_total{code="NOT_FOUND"} 5, the latency
 *                 histogram counts 45 with cumulative buckets ending at +Inf = 45, bytes went
 *                 both ways, app="test_metrics"; the series are labelled by name,
 *                 service="mrpc_test.Echo" with method="Echo" (40) and method="Fail" (5), and
 *                 no sample of ours is labelled by id; on the server node the server's pid
 *                 counts 45 on side server, by the same names; node gauges are there; content
 *                 type 0.0.4; the scrape time is printed
 *   phoenixctl    `phoenixctl metrics` shows the same count, and --json has it as a sample of
 *                 family phoenix_rpc_calls_total with our pid's labels
 *   http          /other is 404, POST /metrics 405; a silent client is dropped at the
 *                 endpoint's 5 s request deadline while a scrape beside it is answered at once
 *   slow headers  8 clients (the per-address limit) trickling a header byte a second are hung
 *                 up on at the 5 s deadline, though each byte renews the 10 s idle timeout, and
 *                 a scrape from the same address right after is answered
 *   kept alive    8 kept-alive clients (connections made in the node's namespace, handed over
 *                 by connect_in) ask again every 2 s for 6 s, past the deadline, each answered:
 *                 a scrape from their address is still answered (within 3 s), the endpoint
 *                 having hung up on the holder idle the longest; the other 7 are answered again
 *   mid-request   8 kept-alive holders, the one idle the longest begins its next request
 *                 ("GET /metr"): a scrape is answered by hanging up on the next idle one, and
 *                 the first finishes its request and is answered; with all 8 mid-request a
 *                 scrape is refused and every one of them is answered after
 *   prometheus    a real Prometheus (/usr/bin/prometheus) in the client node's namespace,
 *                 scraping every second with storage in the node's directory, answers
 *                 /api/v1/query for our series with the number of calls made, and for the
 *                 Fail method's series selected by its name; stopped by PID
 *   set           max_methods = 1: Fail calls count in the overflow series "other"; buckets =
 *                 fine live: le="1e-06" buckets appear; max_methods = 0 is refused naming the key
 *   upgrade       the plugin replaced by a copy (phoenixctl upgrade): counters carry over (30
 *                 before + 20 after = 50), the stats count one upgrade
 *   bad settings  policyctl attach with buckets = "weird" or max_methods = 5000: exit 1, one
 *                 line naming the key, nothing attached; phoenixd --check-config on a file whose
 *                 settings.metrics has max_methods = 0 says file:line: and the key */
#include "mrpc_fixture.h"
#include "mrpc_test.mrpc.h"
#include "phx_test.h"
#include "policy_fixture.h"

#include "phoenix/fdpass.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef HTTP_GET
#error "the build must define HTTP_GET"
#endif

#define WINDOW     16
#define PROMETHEUS "/usr/bin/prometheus"
#define OUT_MAX    (1u << 20)

static struct mrpc_setup up;

static bool bring_up(void)
{
    return mrpc_setup_start(&up, "mx", MRPC_TEST_PEER);
}

static void need_nodes(void)
{
    CU_ASSERT_FATAL(mrpc_bring_up_once(bring_up));
}

/* ---- programs in a node's namespace --------------------------------------------------------- */

/* Runs ARGV in N's namespace, at most TIMEOUT_S seconds; its stdout and stderr (together, in a
 * file of N's directory) into a malloc'd string; its exit code in *CODE (-1: killed). */
static char *run_in(const struct mrpc_node *n, char *const argv[], unsigned timeout_s, int *code)
{
    static unsigned k;
    char path[600];
    int status = 0;

    snprintf(path, sizeof(path), "%s/run-%u.out", n->d.dir, k++);
    pid_t pid = phx_spawn_to_file(argv, NULL, path, mrpc_node_netns(n));
    *code = -1;
    if (pid < 0)
        return NULL;
    unsigned long long deadline = phx_test_now_ns() + timeout_s * PHX_NS;
    pid_t done = 0;
    while ((done = waitpid(pid, &status, WNOHANG)) == 0 && phx_test_now_ns() < deadline)
        usleep(10000);
    if (done == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
    } else if (WIFEXITED(status)) {
        *code = WEXITSTATUS(status);
    }
    FILE *f = fopen(path, "r");
    char *out = calloc(1, OUT_MAX);
    if (f && out)
        out[fread(out, 1, OUT_MAX - 1, f)] = '\0';
    if (f)
        fclose(f);
    unlink(path);
    return out;
}

/* N's metrics endpoint's port, from the line its log says it on; 0 if none. */
static int endpoint_port(const struct mrpc_node *n)
{
    FILE *f = fopen(n->d.log, "r");
    char line[1024];
    int port = 0;

    while (f && fgets(line, sizeof(line), f)) {
        const char *p = strstr(line, "metrics: serving http://127.0.0.1:");
        if (p)
            port = atoi(p + strlen("metrics: serving http://127.0.0.1:"));
    }
    if (f)
        fclose(f);
    return port;
}

/* `http_get 127.0.0.1 PORT ARG1 [ARG2]` in N's namespace: its output (malloc'd). */
static char *http(const struct mrpc_node *n, int port, const char *arg1, const char *arg2,
                  unsigned timeout_s)
{
    char p[16];
    int code;

    snprintf(p, sizeof(p), "%d", port);
    char *argv[] = { HTTP_GET, "127.0.0.1", p, (char *)arg1, (char *)arg2, NULL };
    return run_in(n, argv, timeout_s, &code);
}

static char *scrape(const struct mrpc_node *n)
{
    int port = endpoint_port(n);

    CU_ASSERT_FATAL(port > 0);
    char *out = http(n, port, "/metrics", NULL, 15);
    CU_ASSERT_FATAL(out != NULL);
    return out;
}

/* The sum of the samples of NAME (the whole name, before '{' or ' ') on lines that contain every
 * one of the NULL-terminated MUST strings; -1 when there is none. */
static double sample_sum(const char *text, const char *name, ...)
{
    double sum = -1;
    size_t nlen = strlen(name);

    for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        size_t len = strcspn(l, "\n");
        if (strncmp(l, name, nlen) != 0 || (l[nlen] != '{' && l[nlen] != ' '))
            continue;
        char line[2048];
        snprintf(line, sizeof(line), "%.*s", (int)(len < sizeof(line) ? len : sizeof(line) - 1),
                 l);
        va_list ap;
        bool all = true;
        va_start(ap, name);
        for (const char *m; all && (m = va_arg(ap, const char *));)
            all = strstr(line, m) != NULL;
        va_end(ap);
        if (all)
            sum = (sum < 0 ? 0 : sum) + strtod(strrchr(line, ' ') + 1, NULL);
    }
    return sum;
}

static const char *pid_label(pid_t pid)
{
    static char s[4][32];
    static unsigned k;

    k = (k + 1) % 4;
    snprintf(s[k], sizeof(s[k]), "pid=\"%d\"", (int)pid);
    return s[k];
}

/* Every _bucket line of our client series: cumulative (never falling), the last +Inf = TOTAL. */
static void check_buckets(const char *text, const char *pid, double total)
{
    double prev = 0, inf = -1;
    unsigned n = 0;

    for (const char *l = strstr(text, "phoenix_rpc_latency_seconds_bucket{"); l;
         l = strstr(l + 1, "phoenix_rpc_latency_seconds_bucket{")) {
        size_t len = strcspn(l, "\n");
        char line[1024];
        snprintf(line, sizeof(line), "%.*s", (int)(len < sizeof(line) ? len : 1023), l);
        if (!strstr(line, pid) || !strstr(line, "side=\"client\"") ||
            !strstr(line, "method=\"") || strstr(line, "method=\"other\""))
            continue;
        double v = strtod(strrchr(line, ' ') + 1, NULL);
        if (strstr(line, "le=\"+Inf\"")) {
            inf = (inf < 0 ? 0 : inf) + v;
            prev = 0;
        } else {
            CU_ASSERT(v >= prev);
            prev = v;
        }
        n++;
    }
    CU_ASSERT(n > 2);
    CU_ASSERT_EQUAL(inf, total);
}

static void detach_all(void)
{
    policy_detach(&up.client_node, "metrics", getpid());
    policy_detach(&up.server_node, "metrics", up.peer.pid);
}

/* ---- cases ---------------------------------------------------------------------------------- */

static void test_scrape(void)
{
    need_nodes();
    const char *me = pid_label(getpid()), *srv = pid_label(up.peer.pid);

    CU_ASSERT_FATAL(policy_attach(&up.client_node, "metrics", getpid(), NULL) == 0);
    CU_ASSERT_FATAL(policy_attach(&up.server_node, "metrics", up.peer.pid, NULL) == 0);
    CU_ASSERT_EQUAL(policy_calls(&up, 40, false), 40);
    CU_ASSERT_EQUAL(policy_calls(&up, 5, true), 0);
    char *text = scrape(&up.client_node);
    const char *elapsed = strstr(text, "elapsed_us ");
    if (elapsed)
        printf("(client scrape: %ld us) ", atol(elapsed + 11));
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "HTTP/1.0 200") ? strstr(text, "HTTP/1.0 200")
                                                         : strstr(text, "HTTP/1.1 200"));
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "text/plain; version=0.0.4"));
    CU_ASSERT_EQUAL(sample_sum(text, "phoenix_rpc_calls_total", me, "side=\"client\"", NULL), 45);
    CU_ASSERT_EQUAL(sample_sum(text, "phoenix_rpc_errors_total", me, "code=\"NOT_FOUND\"", NULL),
                    5);
    CU_ASSERT_EQUAL(sample_sum(text, "phoenix_rpc_latency_seconds_count", me, NULL), 45);
    CU_ASSERT(sample_sum(text, "phoenix_rpc_latency_seconds_sum", me, NULL) > 0);
    CU_ASSERT(sample_sum(text, "phoenix_rpc_sent_bytes_total", me, NULL) >= 40 * 48);
    CU_ASSERT(sample_sum(text, "phoenix_rpc_received_bytes_total", me, NULL) >= 40 * 48);
    CU_ASSERT(sample_sum(text, "phoenix_rpc_calls_total", me, "app=\"test_metrics\"", NULL) ==
              45);
    check_buckets(text, me, 45);
    CU_ASSERT_EQUAL(sample_sum(text, "phoenix_rpc_calls_total", me, "service=\"mrpc_test.Echo\"",
                               "method=\"Echo\"", NULL), 40);
    CU_ASSERT_EQUAL(sample_sum(text, "phoenix_rpc_calls_total", me, "service=\"mrpc_test.Echo\"",
                               "method=\"Fail\"", NULL), 5);
    CU_ASSERT_EQUAL(sample_sum(text, "phoenix_rpc_errors_total", me, "method=\"Fail\"",
                               "code=\"NOT_FOUND\"", NULL), 5);
    char id[48];
    snprintf(id, sizeof(id), "method=\"%u\"", (unsigned)MRPC_TEST__ECHO__ECHO__METHOD_ID);
    CU_ASSERT_EQUAL(sample_sum(text, "phoenix_rpc_calls_total", me, id, NULL), -1);  /* no ids */
    CU_ASSERT_EQUAL(sample_sum(text, "phoenix_build_info", NULL), 1);
    CU_ASSERT(sample_sum(text, "phoenix_apps_registered", NULL) >= 1);
    CU_ASSERT(sample_sum(text, "phoenix_engines", NULL) >= 3);
    CU_ASSERT(sample_sum(text, "phoenix_runtime_busy_ratio", "runtime=\"0\"", NULL) >= 0);
    CU_ASSERT(sample_sum(text, "phoenix_runtime_busy_seconds_total", NULL) > 0);
    CU_ASSERT(sample_sum(text, "phoenix_heap_bytes", NULL) >= 0);     /* 0 under ASan */
    CU_ASSERT(sample_sum(text, "phoenix_resident_bytes", NULL) > 1000000);
    CU_ASSERT(sample_sum(text, "phoenix_control_connections", NULL) >= 1);
    free(text);
    text = scrape(&up.server_node);
    CU_ASSERT_EQUAL(sample_sum(text, "phoenix_rpc_calls_total", srv, "side=\"server\"", NULL),
                    45);
    CU_ASSERT_EQUAL(sample_sum(text, "phoenix_rpc_errors_total", srv, "code=\"NOT_FOUND\"",
                               NULL), 5);
    CU_ASSERT_EQUAL(sample_sum(text, "phoenix_rpc_latency_seconds_count", srv, NULL), 45);
    CU_ASSERT_EQUAL(sample_sum(text, "phoenix_rpc_calls_total", srv, "side=\"server\"",
                               "service=\"mrpc_test.Echo\"", "method=\"Echo\"", NULL), 40);
    free(text);
    json_object *stats = policy_stats(&up.client_node, "MetricsEngine", getpid()), *series;
    bool named = false;
    CU_ASSERT_FATAL(stats && json_object_object_get_ex(stats, "series", &series));
    for (size_t i = 0; i < json_object_array_length(series); i++) {
        json_object *x = json_object_array_get_idx(series, i), *m;
        named |= json_object_object_get_ex(x, "method_name", &m) &&
                 strcmp(json_object_get_string(m), "Fail") == 0;
    }
    CU_ASSERT(named);                            /* the stats name the methods too */
    json_object_put(stats);
}

static void test_phoenixctl(void)
{
    static phx_test_run_result_t r;
    const char *me = pid_label(getpid());

    need_nodes();
    CU_ASSERT_EQUAL(mrpc_ctl(&up.client_node, (const char *[]){ "metrics", NULL }, &r), 0);
    CU_ASSERT_EQUAL(sample_sum(r.out, "phoenix_rpc_calls_total", me, "side=\"client\"", NULL),
                    45);
    json_object *doc = mrpc_ctl_json(&up.client_node, (const char *[]){ "metrics", NULL });
    json_object *families, *found = NULL;
    CU_ASSERT_FATAL(doc && json_object_object_get_ex(doc, "families", &families));
    for (size_t i = 0; i < json_object_array_length(families); i++) {
        json_object *f = json_object_array_get_idx(families, i), *name, *samples;
        if (!json_object_object_get_ex(f, "name", &name) ||
            strcmp(json_object_get_string(name), "phoenix_rpc_calls_total") != 0 ||
            !json_object_object_get_ex(f, "samples", &samples))
            continue;
        for (size_t k = 0; k < json_object_array_length(samples); k++) {
            json_object *s = json_object_array_get_idx(samples, k), *labels, *pid, *side;
            if (json_object_object_get_ex(s, "labels", &labels) &&
                json_object_object_get_ex(labels, "pid", &pid) &&
                json_object_object_get_ex(labels, "side", &side) &&
                atoi(json_object_get_string(pid)) == (int)getpid() &&
                strcmp(json_object_get_string(side), "client") == 0 &&
                mrpc_json_int(s, "value") == 40)
                found = s;
        }
    }
    CU_ASSERT_PTR_NOT_NULL(found);               /* the Echo method's series */
    json_object_put(doc);
}

static void test_http(void)
{
    int port;

    need_nodes();
    CU_ASSERT_FATAL((port = endpoint_port(&up.client_node)) > 0);
    char *out = http(&up.client_node, port, "/other", NULL, 15);
    CU_ASSERT(out && strstr(out, " 404 "));
    free(out);
    out = http(&up.client_node, port, "--raw",
               "POST /metrics HTTP/1.0\r\nContent-Length: 0\r\n\r\n", 15);
    CU_ASSERT(out && strstr(out, " 405 "));
    free(out);
    /* a silent client holds a connection; a scrape beside it is answered at once */
    char p[16], path[600];
    snprintf(p, sizeof(p), "%d", port);
    snprintf(path, sizeof(path), "%s/idle.out", up.client_node.d.dir);
    char *argv[] = { HTTP_GET, "127.0.0.1", p, "--idle", "13", NULL };
    pid_t idle = phx_spawn_to_file(argv, NULL, path, mrpc_node_netns(&up.client_node));
    CU_ASSERT_FATAL(idle > 0);
    usleep(300000);
    unsigned long long t0 = phx_test_now_ns();
    out = scrape(&up.client_node);
    CU_ASSERT(strstr(out, " 200 ") != NULL);
    CU_ASSERT(phx_test_now_ns() - t0 < 5 * PHX_NS);
    free(out);
    int status = 0;
    unsigned long long deadline = phx_test_now_ns() + 20 * PHX_NS;
    pid_t done;
    while ((done = waitpid(idle, &status, WNOHANG)) == 0 && phx_test_now_ns() < deadline)
        usleep(50000);
    if (done == 0) {
        kill(idle, SIGKILL);
        waitpid(idle, &status, 0);
    }
    FILE *f = fopen(path, "r");
    char said[64] = "";
    if (f) {
        if (!fgets(said, sizeof(said), f))
            said[0] = '\0';
        fclose(f);
    }
    printf("(silent client: %s) ", strtok(said, "\n") ? said : "?");
    CU_ASSERT_STRING_EQUAL(said, "closed");   /* dropped at the endpoint's 5 s deadline */
}

#define TRICKLERS 8     /* METRICS_HTTP_PER_IP: all the slots of their address */

/* What trickler I said ("closed 5"), into SAID; its process reaped (killed if it overstays). */
static void trickler_result(pid_t pid, const char *path, char *said, size_t n)
{
    CU_ASSERT_EQUAL(phx_test_reap(pid, 15 * PHX_NS), 0);
    FILE *f = fopen(path, "r");
    said[0] = '\0';
    if (f) {
        if (!fgets(said, (int)n, f))
            said[0] = '\0';
        fclose(f);
    }
    said[strcspn(said, "\n")] = '\0';
}

static void test_slow_headers(void)
{
    pid_t pids[TRICKLERS];
    char p[16], paths[TRICKLERS][600], said[64];
    int port;

    need_nodes();
    CU_ASSERT_FATAL((port = endpoint_port(&up.client_node)) > 0);
    snprintf(p, sizeof(p), "%d", port);
    for (int i = 0; i < TRICKLERS; i++) {
        snprintf(paths[i], sizeof(paths[i]), "%s/trickle%d.out", up.client_node.d.dir, i);
        char *argv[] = { HTTP_GET, "127.0.0.1", p, "--trickle", "12", NULL };
        pids[i] = phx_spawn_to_file(argv, NULL, paths[i], mrpc_node_netns(&up.client_node));
        CU_ASSERT_FATAL(pids[i] > 0);
    }
    phx_test_sleep_ms(6500);    /* past the 5 s deadline, well inside the 10 s idle timeout */
    char *out = http(&up.client_node, port, "/metrics", NULL, 15);
    CU_ASSERT(out && strstr(out, " 200 ") != NULL);
    free(out);
    for (int i = 0; i < TRICKLERS; i++) {
        trickler_result(pids[i], paths[i], said, sizeof(said));
        int secs = -1;
        CU_ASSERT(sscanf(said, "closed %d", &secs) == 1 && secs >= 4 && secs <= 7);
        if (i == 0)
            printf("(trickler: %s) ", said);
    }
}

/* ---- kept-alive clients --------------------------------------------------------------------- */

#define HOLDERS 8       /* METRICS_HTTP_PER_IP, again */
#define MID_REQUEST "GET /metr"

/* COUNT (at most PHX_SOCK_MAX_FDS) connections to 127.0.0.1:PORT made inside N's namespace, into
 * FDS: a child enters the namespace, connects, and hands the sockets over a socketpair (a socket
 * stays in the namespace it was made in). Returns how many came. */
static int connect_in(const struct mrpc_node *n, int port, int *fds, unsigned count)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    struct timeval tv = { .tv_sec = 5 };
    int sp[2];
    unsigned got = 0;

    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0)
        return 0;
    pid_t pid = fork();
    if (pid == 0) {
        const char *ns = mrpc_node_netns(n);
        int mine[PHX_SOCK_MAX_FDS];
        if (ns && ns[0] && phx_netns_enter(ns) != 0)
            _exit(1);
        for (unsigned i = 0; i < count; i++)
            if ((mine[i] = socket(AF_INET, SOCK_STREAM, 0)) < 0 ||
                connect(mine[i], (struct sockaddr *)&a, sizeof(a)) < 0)
                _exit(2);
        _exit(phx_sock_send(sp[1], "s", 1, mine, count) == 1 ? 0 : 3);
    }
    close(sp[1]);
    setsockopt(sp[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    char c;
    if (pid < 0 || phx_sock_recv(sp[0], &c, 1, fds, &got, count) != 1)
        got = 0;
    close(sp[0]);
    if (pid > 0)
        CU_ASSERT_EQUAL(phx_test_reap(pid, 10 * PHX_NS), 0);
    return (int)got;
}

/* Whether FD is readable before DEADLINE (monotonic ns). */
static bool readable_by(int fd, unsigned long long deadline)
{
    struct pollfd p = { .fd = fd, .events = POLLIN };
    unsigned long long now = phx_test_now_ns();

    return now < deadline && poll(&p, 1, (int)((deadline - now) / 1000000 + 1)) == 1;
}

/* Reads one answer on a kept-alive connection (its header, then Content-Length bytes), at most
 * 5 s: its status, or -1 when the connection was closed or the answer did not come whole. */
static int answer(int fd)
{
    unsigned long long deadline = phx_test_now_ns() + 5 * PHX_NS;
    char head[8192], body[4096], *end = NULL;
    size_t len = 0;
    ssize_t r;

    while (!end) {
        if (len == sizeof(head) - 1 || !readable_by(fd, deadline) ||
            (r = recv(fd, head + len, sizeof(head) - 1 - len, 0)) <= 0)
            return -1;
        len += (size_t)r;
        head[len] = '\0';
        end = strstr(head, "\r\n\r\n");
    }
    const char *cl = strstr(head, "Content-Length: ");
    long long left = cl ? atoll(cl + 16) - (long long)(head + len - (end + 4)) : -1;
    for (; left > 0; left -= r)
        if (!readable_by(fd, deadline) ||
            (r = recv(fd, body, left < (long long)sizeof(body) ? (size_t)left : sizeof(body),
                      0)) <= 0)
            return -1;
    return left == 0 && strncmp(head, "HTTP/1.1 ", 9) == 0 ? atoi(head + 9) : -1;
}

static bool say(int fd, const char *text)
{
    return send(fd, text, strlen(text), MSG_NOSIGNAL) == (ssize_t)strlen(text);
}

/* A whole GET /metrics on the kept-alive connection FD: the answer's status, or -1. */
static int get_again(int fd)
{
    return say(fd, "GET /metrics HTTP/1.1\r\nHost: phoenix\r\n\r\n") ? answer(fd) : -1;
}

/* Whether the server has closed FD (end of stream within a second, nothing unread before it). */
static bool closed(int fd)
{
    char c;

    return readable_by(fd, phx_test_now_ns() + PHX_NS) && recv(fd, &c, 1, 0) <= 0;
}

/* A scrape from a new connection of the holders' address: its output has a 200. */
static bool newcomer_served(int port, unsigned long long *ms)
{
    unsigned long long t0 = phx_test_now_ns();
    char *out = http(&up.client_node, port, "/metrics", NULL, 15);
    bool ok = out && strstr(out, " 200 ");

    *ms = (phx_test_now_ns() - t0) / 1000000;
    free(out);
    return ok;
}

static void close_all(int *fds, int n)
{
    for (int i = 0; i < n; i++)
        close(fds[i]);
}

static void test_kept_alive(void)
{
    int port, fds[HOLDERS];
    unsigned long long ms;

    need_nodes();
    CU_ASSERT_FATAL((port = endpoint_port(&up.client_node)) > 0);
    CU_ASSERT_FATAL(connect_in(&up.client_node, port, fds, HOLDERS) == HOLDERS);
    for (int round = 0; round < 4; round++) {   /* 6 s: past the 5 s deadline, each renews it */
        if (round)
            phx_test_sleep_ms(2000);
        for (int i = 0; i < HOLDERS; i++)
            CU_ASSERT_EQUAL(get_again(fds[i]), 200);
    }
    CU_ASSERT(newcomer_served(port, &ms));      /* the holders are between requests */
    printf("(newcomer answered in %llu ms) ", ms);
    CU_ASSERT(ms < 3000);
    CU_ASSERT(closed(fds[0]));                  /* the longest idle made room */
    for (int i = 1; i < HOLDERS; i++)
        CU_ASSERT_EQUAL(get_again(fds[i]), 200);    /* the others kept theirs */
    close_all(fds, HOLDERS);
}

static void test_mid_request(void)
{
    int port, fds[HOLDERS];
    unsigned long long ms;

    need_nodes();
    CU_ASSERT_FATAL((port = endpoint_port(&up.client_node)) > 0);
    CU_ASSERT_FATAL(connect_in(&up.client_node, port, fds, HOLDERS) == HOLDERS);
    for (int i = 0; i < HOLDERS; i++)           /* fds[0] answered first: idle the longest */
        CU_ASSERT_EQUAL(get_again(fds[i]), 200);
    CU_ASSERT(say(fds[0], MID_REQUEST));        /* ... until it begins its next request */
    phx_test_sleep_ms(200);
    CU_ASSERT(newcomer_served(port, &ms));
    CU_ASSERT(closed(fds[1]));                  /* the longest idle of those idle */
    CU_ASSERT(say(fds[0], "ics HTTP/1.1\r\nHost: phoenix\r\n\r\n"));
    CU_ASSERT_EQUAL(answer(fds[0]), 200);       /* not cut mid-request */
    close(fds[1]);
    CU_ASSERT_FATAL(connect_in(&up.client_node, port, &fds[1], 1) == 1);
    for (int i = 0; i < HOLDERS; i++)           /* the address's 8 slots held again, each */
        CU_ASSERT_EQUAL(get_again(fds[i]), 200);  /* deadline renewed (5 s, absolute) */
    for (int i = 0; i < HOLDERS; i++)           /* every one of them mid-request */
        CU_ASSERT(say(fds[i], MID_REQUEST));
    phx_test_sleep_ms(200);
    CU_ASSERT(!newcomer_served(port, &ms));     /* refused: nobody to hang up on */
    for (int i = 0; i < HOLDERS; i++) {         /* and nobody was */
        CU_ASSERT(say(fds[i], "ics HTTP/1.1\r\nHost: phoenix\r\n\r\n"));
        CU_ASSERT_EQUAL(answer(fds[i]), 200);
    }
    close_all(fds, HOLDERS);
}

/* ---- a real Prometheus ---------------------------------------------------------------------- */

/* Q made safe for a URL's query string (every byte but [A-Za-z0-9_] escaped). */
static void url_encode(const char *q, char *out, size_t n)
{
    size_t o = 0;

    for (; *q && o + 4 < n; q++) {
        unsigned char c = (unsigned char)*q;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '_')
            out[o++] = (char)c;
        else
            o += (size_t)snprintf(out + o, n - o, "%%%02X", c);
    }
    out[o] = '\0';
}

/* The value of the single sample of Prometheus' answer in OUT to an instant query, or -1. */
static double query_value(const char *out)
{
    const char *body = out ? strstr(out, "\r\n\r\n") : NULL;
    json_object *doc = body ? json_tokener_parse(body + 4) : NULL, *data, *result, *value;
    double v = -1;

    if (doc && json_object_object_get_ex(doc, "data", &data) &&
        json_object_object_get_ex(data, "result", &result) &&
        json_object_array_length(result) == 1 &&
        json_object_object_get_ex(json_object_array_get_idx(result, 0), "value", &value) &&
        json_object_array_length(value) == 2)
        v = strtod(json_object_get_string(json_object_array_get_idx(value, 1)), NULL);
    json_object_put(doc);
    return v;
}

static void stop_pid(pid_t pid)
{
    int status;
    unsigned long long deadline = phx_test_now_ns() + 10 * PHX_NS;

    kill(pid, SIGTERM);
    while (waitpid(pid, &status, WNOHANG) == 0) {
        if (phx_test_now_ns() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            return;
        }
        usleep(50000);
    }
}

static void test_prometheus(void)
{
    const struct mrpc_node *n = &up.client_node;
    char conf[600], tsdb[600], log[600], text[512], flag[4][700], q[256], path[700];
    struct stat st;

    need_nodes();
    int port = endpoint_port(n), prom_port = mrpc_free_port();
    if (stat(PROMETHEUS, &st) != 0) {
        CU_FAIL("no " PROMETHEUS ": deploy/install-deps.sh installs the prometheus package");
        return;
    }
    CU_ASSERT_FATAL(port > 0 && prom_port > 0);
    snprintf(text, sizeof(text), "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
             "scrape_configs:\n  - job_name: phoenix\n    static_configs:\n"
             "      - targets: ['127.0.0.1:%d']\n", port);
    snprintf(conf, sizeof(conf), "%s", phx_test_write_file(n->d.dir, "prometheus.yml", text));
    snprintf(tsdb, sizeof(tsdb), "%s/tsdb", n->d.dir);
    snprintf(log, sizeof(log), "%s/prometheus.log", n->d.dir);
    snprintf(flag[0], sizeof(flag[0]), "--config.file=%s", conf);
    snprintf(flag[1], sizeof(flag[1]), "--storage.tsdb.path=%s", tsdb);
    snprintf(flag[2], sizeof(flag[2]), "--web.listen-address=127.0.0.1:%d", prom_port);
    snprintf(flag[3], sizeof(flag[3]), "--log.level=warn");
    char *argv[] = { PROMETHEUS, flag[0], flag[1], flag[2], flag[3], NULL };
    pid_t prom = phx_spawn_to_file(argv, NULL, log, mrpc_node_netns(n));
    CU_ASSERT_FATAL(prom > 0);
    snprintf(q, sizeof(q), "sum(phoenix_rpc_calls_total{pid=\"%d\",side=\"client\"})",
             (int)getpid());
    snprintf(path, sizeof(path), "/api/v1/query?query=");
    url_encode(q, path + strlen(path), sizeof(path) - strlen(path));
    double v = -1;
    unsigned long long t0 = phx_test_now_ns(), deadline = t0 + 90 * PHX_NS;
    while (v != 45 && phx_test_now_ns() < deadline) {
        char *out = http(n, prom_port, path, NULL, 15);
        v = query_value(out);
        free(out);
        if (v != 45)
            usleep(500000);
    }
    printf("(Prometheus saw %.0f calls after %.1f s) ", v,
           (double)(phx_test_now_ns() - t0) / 1e9);
    CU_ASSERT_EQUAL(v, 45);
    /* a series selected by the method's name */
    snprintf(q, sizeof(q), "sum(phoenix_rpc_errors_total{pid=\"%d\",service=\"mrpc_test.Echo\","
             "method=\"Fail\",code=\"NOT_FOUND\"})", (int)getpid());
    snprintf(path, sizeof(path), "/api/v1/query?query=");
    url_encode(q, path + strlen(path), sizeof(path) - strlen(path));
    char *out = http(n, prom_port, path, NULL, 15);
    double fails = query_value(out);
    free(out);
    CU_ASSERT_EQUAL(fails, 5);
    stop_pid(prom);
    if (v != 45)
        fprintf(stderr, "see %s\n", log);
}

/* ---- settings ------------------------------------------------------------------------------- */

static void test_set(void)
{
    const char *me = pid_label(getpid());

    need_nodes();
    detach_all();
    CU_ASSERT_FATAL(policy_attach(&up.client_node, "metrics", getpid(), "max_methods=1",
                                  NULL) == 0);
    CU_ASSERT_EQUAL(policy_calls(&up, 10, false), 10);
    CU_ASSERT_EQUAL(policy_calls(&up, 3, true), 0);
    char *text = scrape(&up.client_node);
    CU_ASSERT_EQUAL(sample_sum(text, "phoenix_rpc_calls_total", me, "method=\"other\"", NULL), 3);
    CU_ASSERT_EQUAL(sample_sum(text, "phoenix_rpc_calls_total", me, NULL), 13);
    CU_ASSERT_PTR_NULL(strstr(text, "le=\"1e-06\""));
    free(text);
    CU_ASSERT_EQUAL(policy_set(&up.client_node, "MetricsEngine", getpid(), "buckets=fine",
                               NULL), 0);
    CU_ASSERT_EQUAL(policy_set(&up.client_node, "MetricsEngine", getpid(), "max_methods=0",
                               NULL), 1);
    CU_ASSERT_EQUAL(policy_calls(&up, 5, false), 5);
    text = scrape(&up.client_node);
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "le=\"1e-06\""));
    CU_ASSERT_EQUAL(sample_sum(text, "phoenix_rpc_calls_total", me, NULL), 18);
    CU_ASSERT_EQUAL(sample_sum(text, "phoenix_rpc_latency_seconds_count", me,
                               "method=\"other\"", NULL), 0);      /* restarted */
    free(text);
    json_object *stats = policy_stats(&up.client_node, "MetricsEngine", getpid());
    CU_ASSERT_EQUAL(policy_json_path_int(stats, "settings.max_methods"), 1);
    CU_ASSERT_EQUAL(policy_json_path_int(stats, "methods"), 1);
    CU_ASSERT_EQUAL(policy_json_path_int(stats, "overflowed"), 3);
    json_object_put(stats);
    CU_ASSERT(policy_detach(&up.client_node, "metrics", getpid()) == 0);
}

/* A copy of the built plugin in N's directory: a new build, as far as the service can tell. */
static const char *plugin_copy(const struct mrpc_node *n)
{
    static char path[512], cmd[1200];

    snprintf(path, sizeof(path), "%s/metrics-next.so", n->d.dir);
    snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", PHX_PLUGIN_METRICS, path);
    return system(cmd) == 0 ? path : NULL;
}

static void test_upgrade(void)
{
    static phx_test_run_result_t r;
    static struct policy_flow f;
    const char *me = pid_label(getpid()), *copy;

    need_nodes();
    CU_ASSERT_FATAL((copy = plugin_copy(&up.client_node)) != NULL);
    CU_ASSERT_FATAL(policy_attach(&up.client_node, "metrics", getpid(), NULL) == 0);
    CU_ASSERT_EQUAL(policy_calls(&up, 30, false), 30);
    policy_flow_init(&f, up.ctx, up.conn, 48);
    for (unsigned i = 0; i < WINDOW; i++)               /* in flight across the upgrade */
        CU_ASSERT_FATAL(policy_flow_submit(&f, i, false));
    CU_ASSERT(mrpc_ctx_progress(up.ctx, 0) >= 0);
    CU_ASSERT_EQUAL(mrpc_ctl(&up.client_node, (const char *[]){ "upgrade", "--plugin", copy,
                                                                NULL }, &r), 0);
    policy_flow_drain(&f);
    CU_ASSERT_EQUAL(f.ok, WINDOW);
    CU_ASSERT_EQUAL(policy_calls(&up, 20, false), 20);
    char *text = scrape(&up.client_node);
    CU_ASSERT_EQUAL(sample_sum(text, "phoenix_rpc_calls_total", me, NULL), 30 + WINDOW + 20);
    CU_ASSERT_EQUAL(sample_sum(text, "phoenix_rpc_latency_seconds_count", me, NULL),
                    30 + WINDOW + 20);
    free(text);
    json_object *stats = policy_stats(&up.client_node, "MetricsEngine", getpid());
    CU_ASSERT_EQUAL(policy_json_path_int(stats, "upgrades"), 1);
    json_object_put(stats);
    CU_ASSERT(policy_detach(&up.client_node, "metrics", getpid()) == 0);
}

static void test_bad_settings(void)
{
    static phx_test_run_result_t r;
    struct mrpc_sub sub;
    char text[1024];

    need_nodes();
    policy_attach_refused(&up.client_node, "metrics", getpid(), "buckets", "buckets=weird", NULL);
    policy_attach_refused(&up.client_node, "metrics", getpid(), "max_methods",
                          "max_methods=5000", NULL);
    CU_ASSERT(mrpc_ctl_find_sub(&up.client_node, getpid(), &sub) && sub.n_addons == 0);
    snprintf(text, sizeof(text),
             "plugins = ( { name = \"metrics\"; path = \"%s\"; } );\n"
             "settings = {\n  metrics = {\n    max_methods = 0;\n  };\n};\n",
             PHX_PLUGIN_METRICS);
    const char *conf = phx_test_write_file(up.client_node.d.dir, "bad-metrics.conf", text);
    CU_ASSERT_FATAL(conf != NULL);
    CU_ASSERT_NOT_EQUAL(phx_daemon_run(NULL, (const char *[]){ "-c", conf, "--check-config",
                                                                NULL }, &r), 0);
    printf("(%.*s) ", (int)strcspn(r.out, "\n"), r.out);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "bad-metrics.conf:4"));
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "max_methods"));
    snprintf(text, sizeof(text), "metrics = { listen = \"localhost:9464\"; };\n");
    conf = phx_test_write_file(up.client_node.d.dir, "bad-listen.conf", text);
    CU_ASSERT_NOT_EQUAL(phx_daemon_run(NULL, (const char *[]){ "-c", conf, "--check-config",
                                                                NULL }, &r), 0);
    printf("(%.*s) ", (int)strcspn(r.out, "\n"), r.out);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "bad-listen.conf:1"));
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "metrics.listen"));
}

static const phx_test_case_t cases[] = {
    { "a scrape counts every call, error and byte, both sides", test_scrape },
    { "phoenixctl metrics shows the same, also as JSON", test_phoenixctl },
    { "404, 405, and a silent client stalls nothing", test_http },
    { "clients trickling headers are hung up on at the deadline", test_slow_headers },
    { "8 kept-alive clients asking again and again do not lock a scrape out", test_kept_alive },
    { "no client is hung up on mid-request to make room", test_mid_request },
    { "a real Prometheus scrapes the calls made", test_prometheus },
    { "max_methods overflows to other; buckets change live", test_set },
    { "counters survive a live upgrade", test_upgrade },
    { "bad settings: one line naming the key", test_bad_settings },
    { NULL, NULL },
};

int main(int argc, char **argv)
{
    int rc = phx_test_main("metrics", cases, argc, argv);

    return mrpc_setup_stop(&up) ? rc : 1;
}
