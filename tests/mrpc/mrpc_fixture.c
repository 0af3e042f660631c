/* mrpc_fixture.c - nodes (phoenixd with mrpc + ucx) and server programs for the mRPC tests (see
 * mrpc_fixture.h). The plugin paths come from the build (PHX_PLUGIN_MRPC, PHX_PLUGIN_UCX).
 *
 * The two hosts are made with iproute2 like tests/twonode/rpc_hello_netns.sh does, by running
 * `ip` (bounded, as every child); a step that fails removes what the earlier ones made and leaves
 * the tests on loopback. Deleting a namespace deletes its end of the veth pair, and with it the
 * other end. The namespaces are deleted by a watcher process, forked before they are made, when
 * the test process closes its pipe: at exit (atexit, which then reaps the watcher), and equally
 * when the test process crashes or is killed. */
#include "mrpc_fixture.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#if !defined(PHX_PLUGIN_MRPC) || !defined(PHX_PLUGIN_UCX) || !defined(PHX_PLUGIN_NULL) || \
    !defined(PHX_PLUGIN_RATELIMIT) || !defined(PHX_PLUGIN_ACL) || !defined(PHX_PLUGIN_LOGGING) || \
    !defined(PHOENIXCTL_PATH)
#error "define PHX_PLUGIN_MRPC, _UCX, _NULL, _RATELIMIT, _ACL, _LOGGING, PHOENIXCTL_PATH"
#endif

#define PEER_START_NS (20 * PHX_NS)
#define PEER_STOP_NS  (10 * PHX_NS)
#define IP_CMD_NS     (10 * PHX_NS)

/* spin_us = 0: a two-node test runs four busy processes (two services, two apps), often on two
 * cores, where a runtime that spins takes the core the process it waits for needs. The first %s
 * is the temporary directory vouched for as plugin_trusted_dirs; the second, the test user's
 * group, made the admin group so phoenixctl works without root too; the third, the heap
 * settings; the fourth, the network device UCX is pinned to; the sixth, the same-node path's
 * setting from PHX_TEST_SAME_NODE (mrpc_client_node_start). The runtime threads: 1, or
 * PHX_TEST_THREADS (mrpc_runtime_threads()); the threads kept for urgent apps: the default, or
 * PHX_TEST_URGENT_THREADS (urgent_threads_setting()). */
static const char node_conf_fmt[] =
    "log = { level = \"info\"; };\n"
    "plugin_trusted_dirs = \"%s\";\n"
    "runtime = { threads = %u; mode = \"shared\"; spin_us = 0; %s };\n"
    "control = { admin_group = \"%s\"; socket_mode = 0666; max_apps = 64; };\n"
    "heap = { %s };\n"
    "metrics = { listen = \"127.0.0.1:0\"; };\n"
    "settings = {\n"
    "  ucx = { tls = \"tcp\"; net_devices = \"%s\"; max_message_mb = 128; auth = \"none\";"
    "          %s %s %s };\n"
    "  mrpc = { max_message_mb = 128; call_timeout_ms = 30000; %s };\n"
    "};\n"
    "plugins = ( { name = \"mrpc\"; path = \"" PHX_PLUGIN_MRPC "\"; },\n"
    "            { name = \"ucx\"; path = \"" PHX_PLUGIN_UCX "\"; },\n"
    "            { name = \"null\"; path = \"" PHX_PLUGIN_NULL "\"; },\n"
    "            { name = \"ratelimit\"; path = \"" PHX_PLUGIN_RATELIMIT "\"; },\n"
    "            { name = \"acl\"; path = \"" PHX_PLUGIN_ACL "\"; },\n"
    "            { name = \"logging\"; path = \"" PHX_PLUGIN_LOGGING "\"; },\n"
    "            { name = \"fault\"; path = \"" PHX_PLUGIN_FAULT "\"; },\n"
    "            { name = \"admission\"; path = \"" PHX_PLUGIN_ADMISSION "\"; },\n"
    "            { name = \"qos\"; path = \"" PHX_PLUGIN_QOS "\"; },\n"
    "            { name = \"metrics\"; path = \"" PHX_PLUGIN_METRICS "\"; } );\n";

/* ---- the two hosts ------------------------------------------------------------------------- */

/* One host: a namespace, its end of the veth pair, its address ("" names: loopback). */
struct host {
    char netns[16];
    char veth[16];              /* at most 15 characters (IFNAMSIZ) */
    char ip[16];
};

static struct {
    bool        decided;
    bool        netns;          /* true: two namespaces; false: both sides on loopback */
    struct host side[2];        /* by enum mrpc_side */
    char        ip_path[32];    /* iproute2's ip */
    pid_t       watcher;        /* deletes the namespaces when watch_fd closes; 0: none */
    int         watch_fd;
} hosts;

static const struct host loopback = { .netns = "", .veth = "lo", .ip = "127.0.0.1" };

/* Runs `ip ARGS...` (NULL-terminated); true when it succeeded, else says why in WHY. */
static bool ip_cmd(const char *const *args, char *why, size_t whylen)
{
    static phx_test_run_result_t r;
    struct phx_test_run_params p = {
        .field_mask = PHX_TEST_RUN_PARAM_FIELD_PATH | PHX_TEST_RUN_PARAM_FIELD_TIMEOUT |
                      PHX_TEST_RUN_PARAM_FIELD_FLAGS,
        .path = hosts.ip_path, .timeout_ns = IP_CMD_NS, .flags = PHX_TEST_RUN_MERGE_OUTPUT };
    char *argv[16] = { "ip" };
    unsigned n = 1;

    for (unsigned i = 0; args[i] && n < 15; i++)
        argv[n++] = (char *)args[i];
    argv[n] = NULL;
    if (phx_test_run(argv, &p, &r) == 0)
        return true;
    r.out[strcspn(r.out, "\n")] = '\0';
    snprintf(why, whylen, "`ip %s %s` exit %d: %.200s", args[0], args[1] ? args[1] : "", r.code,
             r.out);
    return false;
}

/* Removes the namespaces (and with them the veth pair) and a veth left in ours by a failed
 * setup; quiet, since parts may not exist. */
static void hosts_remove(void)
{
    char ignored[256];

    for (unsigned i = 0; i < 2; i++)
        ip_cmd((const char *[]){ "netns", "del", hosts.side[i].netns, NULL }, ignored,
               sizeof(ignored));
    ip_cmd((const char *[]){ "link", "del", hosts.side[0].veth, NULL }, ignored, sizeof(ignored));
}

/* The watcher: waits for EOF on FD, then deletes the namespaces. Forked from a process that may
 * have threads, so only async-signal-safe calls; in its own session, so that a ^C to the tests
 * does not stop it before its work. */
static _Noreturn void watcher_main(int fd)
{
    int null = open("/dev/null", O_RDWR);
    char c;

    setsid();
    dup2(null, STDIN_FILENO);
    dup2(null, STDOUT_FILENO);          /* not ctest's pipe: it waits for that to close */
    dup2(null, STDERR_FILENO);
    for (int i = 3; i < 1024; i++)
        if (i != fd)
            close(i);
    while (read(fd, &c, 1) < 0 && errno == EINTR)
        continue;
    for (unsigned i = 0; i < 2; i++) {
        char *const argv[] = { "ip", "netns", "del", hosts.side[i].netns, NULL };
        pid_t pid = fork();
        if (pid == 0) {
            execv(hosts.ip_path, argv);
            _exit(127);
        }
        if (pid > 0)
            waitpid(pid, NULL, 0);
    }
    _exit(0);
}

static bool watcher_start(char *why, size_t whylen)
{
    int fds[2];

    if (pipe2(fds, O_CLOEXEC) != 0) {
        snprintf(why, whylen, "pipe: %s", strerror(errno));
        return false;
    }
    fflush(NULL);
    hosts.watcher = fork();
    if (hosts.watcher == 0)
        watcher_main(fds[0]);
    close(fds[0]);
    if (hosts.watcher < 0) {
        snprintf(why, whylen, "fork: %s", strerror(errno));
        hosts.watcher = 0;
        close(fds[1]);
        return false;
    }
    hosts.watch_fd = fds[1];
    return true;
}

/* Lets the watcher delete the namespaces, and reaps it. */
static void watcher_stop(void)
{
    if (hosts.watcher <= 0)
        return;
    close(hosts.watch_fd);
    phx_test_reap(hosts.watcher, 2 * IP_CMD_NS);
    hosts.watcher = 0;
    hosts.netns = false;
}

/* Names the hosts after our PID: unique among the processes running. */
static void hosts_name(void)
{
    struct host *a = &hosts.side[MRPC_SIDE_CLIENT], *b = &hosts.side[MRPC_SIDE_SERVER];
    int pid = (int)getpid(), net = pid % 250 + 1;

    snprintf(a->netns, sizeof(a->netns), "phx%da", pid);
    snprintf(b->netns, sizeof(b->netns), "phx%db", pid);
    snprintf(a->veth, sizeof(a->veth), "phx%dva", pid);
    snprintf(b->veth, sizeof(b->veth), "phx%dvb", pid);
    snprintf(a->ip, sizeof(a->ip), "10.231.%d.1", net);
    snprintf(b->ip, sizeof(b->ip), "10.231.%d.2", net);
    snprintf(hosts.ip_path, sizeof(hosts.ip_path), "%s",
             access("/usr/sbin/ip", X_OK) == 0 ? "/usr/sbin/ip" : "/sbin/ip");
}

/* Makes the namespaces A and B, the veth pair between them and their addresses. */
static bool hosts_make(char *why, size_t whylen)
{
    struct host *a = &hosts.side[MRPC_SIDE_CLIENT], *b = &hosts.side[MRPC_SIDE_SERVER];
    char cidr_a[24], cidr_b[24];
    snprintf(cidr_a, sizeof(cidr_a), "%s/24", a->ip);
    snprintf(cidr_b, sizeof(cidr_b), "%s/24", b->ip);
    const char *const *steps[] = {
        (const char *[]){ "netns", "add", a->netns, NULL },
        (const char *[]){ "netns", "add", b->netns, NULL },
        (const char *[]){ "link", "add", a->veth, "type", "veth", "peer", "name", b->veth, NULL },
        (const char *[]){ "link", "set", a->veth, "netns", a->netns, NULL },
        (const char *[]){ "link", "set", b->veth, "netns", b->netns, NULL },
        (const char *[]){ "-n", a->netns, "addr", "add", cidr_a, "dev", a->veth, NULL },
        (const char *[]){ "-n", b->netns, "addr", "add", cidr_b, "dev", b->veth, NULL },
        (const char *[]){ "-n", a->netns, "link", "set", "lo", "up", NULL },
        (const char *[]){ "-n", b->netns, "link", "set", "lo", "up", NULL },
        (const char *[]){ "-n", a->netns, "link", "set", a->veth, "up", NULL },
        (const char *[]){ "-n", b->netns, "link", "set", b->veth, "up", NULL },
    };

    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        if (!ip_cmd(steps[i], why, whylen)) {
            hosts_remove();
            return false;
        }
    }
    return true;
}

/* Decides, once, between two namespaces and loopback, and says which. */
static void hosts_decide(void)
{
    char why[512] = "not root";

    if (hosts.decided)
        return;
    hosts.decided = true;
    hosts_name();
    if (geteuid() == 0 && watcher_start(why, sizeof(why)) && hosts_make(why, sizeof(why))) {
        hosts.netns = true;
        atexit(watcher_stop);
        printf("\nmrpc tests: two nodes = netns %s/%s over veth (%s - %s)\n",
               hosts.side[0].netns, hosts.side[1].netns, hosts.side[0].ip, hosts.side[1].ip);
    } else {
        watcher_stop();
        hosts.side[0] = hosts.side[1] = loopback;
        printf("\nmrpc tests: two services on loopback\n");
        phx_test_skip("two nodes in network namespaces: %s", why);
    }
    fflush(stdout);
}

static const struct host *node_host(const struct mrpc_node *n)
{
    hosts_decide();
    return &hosts.side[n->side == MRPC_SIDE_SERVER];
}

const char *mrpc_node_host(const struct mrpc_node *n)
{
    return node_host(n)->ip;
}

const char *mrpc_node_netns(const struct mrpc_node *n)
{
    return node_host(n)->netns;
}

/* ---- nodes --------------------------------------------------------------------------------- */

/* settings.ucx.same_node as PHX_TEST_SAME_NODE says (0 or 1), or "" (the default). */
static const char *same_node_setting(void)
{
    const char *v = getenv("PHX_TEST_SAME_NODE");

    return !v || !*v ? "" : strcmp(v, "0") ? "same_node = true;" : "same_node = false;";
}

/* settings.ucx.worker as PHX_TEST_UCX_WORKER says ("thread", "class", "app"), or "" (the
 * default). Checked by the service: a wrong value fails the node's start. */
static const char *ucx_worker_setting(void)
{
    static char setting[64];
    const char *v = getenv("PHX_TEST_UCX_WORKER");

    if (!v || !*v || strlen(v) > 16)
        return "";
    snprintf(setting, sizeof(setting), "worker = \"%s\";", v);
    return setting;
}

/* runtime.urgent_threads as PHX_TEST_URGENT_THREADS says (a number), or "" (the default). */
static const char *urgent_threads_setting(void)
{
    static char setting[48];
    const char *v = getenv("PHX_TEST_URGENT_THREADS");

    if (!v || !*v)
        return "";
    snprintf(setting, sizeof(setting), "urgent_threads = %u;", (unsigned)strtoul(v, NULL, 10));
    return setting;
}

unsigned mrpc_runtime_threads(void)
{
    const char *v = getenv("PHX_TEST_THREADS");
    unsigned n = v ? (unsigned)strtoul(v, NULL, 10) : 1;

    return n >= 1 && n <= 8 ? n : 1;
}

bool mrpc_one_service(void)
{
    const char *one = getenv("PHX_TEST_ONE_SERVICE");

    return one && !strcmp(one, "1");
}

bool mrpc_same_node_path(void)
{
    const char *v = getenv("PHX_TEST_SAME_NODE");

    return mrpc_one_service() && (!v || strcmp(v, "0") != 0);
}

bool mrpc_client_node_start(struct mrpc_node *cli, struct mrpc_node *srv, const char *tag)
{
    if (mrpc_one_service()) {
        *cli = *srv;
        cli->same_as = srv;
        return true;
    }
    return mrpc_node_start(cli, tag, MRPC_SIDE_CLIENT);
}

bool mrpc_node_start(struct mrpc_node *n, const char *tag, enum mrpc_side side)
{
    return mrpc_node_start_mrpc(n, tag, side, "");
}

bool mrpc_node_start_mrpc(struct mrpc_node *n, const char *tag, enum mrpc_side side,
                          const char *mrpc_settings)
{
    return mrpc_node_start_heap(n, tag, side, mrpc_settings, NULL);
}

bool mrpc_node_start_heap(struct mrpc_node *n, const char *tag, enum mrpc_side side,
                          const char *mrpc_settings, const char *heap_settings)
{
    static char conf[sizeof(node_conf_fmt) + 512];
    const struct group *gr = getgrgid(getegid());

    n->side = side;
    n->same_as = NULL;
    const struct host *h = node_host(n);
    struct phx_daemon_params p = { .field_mask = h->netns[0] ? PHX_DAEMON_PARAM_FIELD_NETNS : 0,
                                   .netns = h->netns };
    const char *tmp = getenv("TMPDIR");

    /* The policy tests upgrade to copies of their plugins in the node's directory under $TMPDIR
     * (root's, mode 0755), which the plugin trust rules refuse for the sticky world-writable
     * /tmp above it unless the configuration vouches for it. */
    snprintf(conf, sizeof(conf), node_conf_fmt, tmp && *tmp ? tmp : "/tmp",
             mrpc_runtime_threads(), urgent_threads_setting(), gr ? gr->gr_name : "",
             heap_settings ? heap_settings : "send_mb = 256; recv_mb = 256; slab_kb = 256;",
             h->veth, mrpc_settings, same_node_setting(), ucx_worker_setting(), mrpc_settings);
    setenv("UCX_TLS", "tcp", 1);            /* the service reads its config, UCX the env too */
    setenv("UCX_NET_DEVICES", h->veth, 1);  /* inherited by the service started next */
    return phx_daemon_start_params(&n->d, tag, conf, &p);
}

/* Copies the warnings and errors of N's log to stderr (its directory is about to go). */
static void report_log(const struct mrpc_node *n)
{
    FILE *f = fopen(n->d.log, "r");
    char line[1024];
    unsigned shown = 0;

    while (f && shown < 20 && fgets(line, sizeof(line), f)) {
        if (strstr(line, " WARN ") || strstr(line, " ERROR ") || strstr(line, "Sanitizer")) {
            fprintf(stderr, "%s: %s", n->d.dir, line);
            shown++;
        }
    }
    if (f)
        fclose(f);
}

bool mrpc_node_stop(struct mrpc_node *n, int sig)
{
    if (n->same_as)             /* the server-side node's stop stops the service */
        return true;
    int code = n->d.pid > 0 ? phx_daemon_stop(&n->d, sig) : 0;

    report_log(n);
    phx_daemon_cleanup(&n->d);
    return code == 0;
}

bool mrpc_node_alive(struct mrpc_node *n)
{
    int status;

    if (n->same_as)
        return mrpc_node_alive(n->same_as);
    if (n->d.pid <= 0)
        return false;
    if (waitpid(n->d.pid, &status, WNOHANG) != n->d.pid)
        return true;
    fprintf(stderr, "phoenixd %d died: %s %d; log in %s\n", (int)n->d.pid,
            WIFSIGNALED(status) ? "signal" : "exit code",
            WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status), n->d.log);
    n->d.pid = 0;
    return false;
}

const char *mrpc_node_plugin_copy(const struct mrpc_node *n)
{
    static char path[400];
    char buf[65536];
    FILE *in = fopen(PHX_PLUGIN_MRPC, "rb"), *out;
    size_t got;
    bool ok = in != NULL;

    snprintf(path, sizeof(path), "%s/libphoenix_mrpc_copy.so", n->d.dir);
    out = ok ? fopen(path, "wb") : NULL;
    while (out && (got = fread(buf, 1, sizeof(buf), in)) > 0)
        ok = ok && fwrite(buf, 1, got, out) == got;
    ok = ok && out && !ferror(in);
    if (in)
        fclose(in);
    if (out && fclose(out) != 0)
        ok = false;
    return ok ? path : NULL;
}

/* The kernel's ephemeral range starts at LOW: every connect() and every bind to port 0 of this
 * namespace takes its port from [LOW, ...), phoenixd's and UCX's own in a node's namespace too,
 * so a port picked there (as a bind to port 0 in this namespace once did) may be another
 * namespace's or another moment's taken one. Below LOW only picks like this one compete. */
static int ephemeral_low(void)
{
    FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
    int low = 32768;

    if (f) {
        if (fscanf(f, "%d", &low) != 1)
            low = 32768;
        fclose(f);
    }
    return low;
}

/* Whether nothing of this namespace holds PORT now (a bind without SO_REUSEADDR to the wildcard
 * address fails on any socket of the port, one in TIME_WAIT too). */
static bool port_unused(int port)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_ANY) };
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    bool ok = fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0;

    if (fd >= 0)
        close(fd);
    return ok;
}

#define FREE_PORT_DRAWS 200
#define FREE_PORT_KEPT  64

int mrpc_free_port(void)
{
    static int given[FREE_PORT_KEPT];
    static unsigned n_given;
    static unsigned seed;
    int low = ephemeral_low(), base = low > 11000 ? 10000 : 1024;

    if (!seed)
        seed = (unsigned)getpid() ^ (unsigned)phx_test_now_ns();
    for (int draw = 0; draw < FREE_PORT_DRAWS && low > base; draw++) {
        int port = base + (int)(rand_r(&seed) % (unsigned)(low - base));
        bool repeat = false;

        for (unsigned i = 0; i < n_given && i < FREE_PORT_KEPT; i++)
            repeat = repeat || given[i] == port;
        if (repeat || !port_unused(port))
            continue;
        given[n_given++ % FREE_PORT_KEPT] = port;
        return port;
    }
    fprintf(stderr, "mrpc_free_port: no free port below %d after %d draws\n", low, FREE_PORT_DRAWS);
    return -1;
}

/* ---- phoenixctl ---------------------------------------------------------------------------- */

#define CTL_MAX_ARGS 16

static int ctl_run(const struct mrpc_node *n, const char *const *args, bool json,
                   phx_test_run_result_t *r)
{
    char *argv[CTL_MAX_ARGS + 5];
    unsigned k = 0;

    argv[k++] = PHOENIXCTL_PATH;
    for (unsigned i = 0; args[i] && i < CTL_MAX_ARGS; i++)
        argv[k++] = (char *)args[i];
    if (json)
        argv[k++] = "--json";
    argv[k++] = "--prefix";
    argv[k++] = (char *)n->d.prefix;
    argv[k] = NULL;
    if (phx_test_run(argv, NULL, r) != 0)
        fprintf(stderr, "phoenixctl %s: exit %d: %s%s\n", args[0], r->code, r->out, r->err);
    return r->code;
}

int mrpc_ctl(const struct mrpc_node *n, const char *const *args, phx_test_run_result_t *r)
{
    return ctl_run(n, args, false, r);
}

json_object *mrpc_ctl_json(const struct mrpc_node *n, const char *const *args)
{
    static phx_test_run_result_t r;

    return ctl_run(n, args, true, &r) == 0 ? json_tokener_parse(r.out) : NULL;
}

long mrpc_json_int(json_object *o, const char *key)
{
    json_object *v;

    return o && json_object_object_get_ex(o, key, &v) ? (long)json_object_get_int64(v) : -1;
}

static json_object *json_array(json_object *o, const char *key)
{
    json_object *v;

    return o && json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_array)
               ? v : NULL;
}

bool mrpc_ctl_find_sub(const struct mrpc_node *n, pid_t pid, struct mrpc_sub *out)
{
    json_object *list = mrpc_ctl_json(n, (const char *[]){ "list", NULL });
    json_object *subs = json_array(list, "subscriptions");
    bool found = false;

    for (size_t i = 0; subs && i < json_object_array_length(subs); i++) {
        json_object *sub = json_object_array_get_idx(subs, i);
        json_object *engines = json_array(sub, "engines"), *addons = json_array(sub, "addons");
        if (mrpc_json_int(sub, "pid") != (long)pid || !engines ||
            json_object_array_length(engines) < 1)
            continue;
        if (found && mrpc_json_int(sub, "sid") < (long)out->sid)
            continue;
        out->sid = (unsigned)mrpc_json_int(sub, "sid");
        size_t n_engines = json_object_array_length(engines);
        out->front_engine = mrpc_json_int(json_object_array_get_idx(engines, 0), "id");
        out->back_engine = mrpc_json_int(json_object_array_get_idx(engines, n_engines - 1), "id");
        out->n_addons = addons ? (unsigned)json_object_array_length(addons) : 0;
        out->runtime = (unsigned)mrpc_json_int(sub, "runtime");
        json_object *urgent = NULL;
        out->runtime_urgent = json_object_object_get_ex(sub, "runtime_urgent", &urgent) &&
                              json_object_get_boolean(urgent);
        found = true;
    }
    json_object_put(list);
    return found;
}

char *const *mrpc_env_with_prefix(const char *prefix)
{
    static char *env[512];
    static char var[400];
    size_t n = 0;

    snprintf(var, sizeof(var), "PHOENIX_PREFIX=%s", prefix);
    for (char **e = environ; *e && n + 2 < sizeof(env) / sizeof(env[0]); e++)
        if (strncmp(*e, "PHOENIX_PREFIX=", 15) != 0)
            env[n++] = *e;
    env[n++] = var;
    env[n] = NULL;
    return env;
}

bool mrpc_peer_said(const struct mrpc_peer *p, const char *text)
{
    char buf[65536];
    FILE *f = fopen(p->log, "r");
    size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;

    if (f)
        fclose(f);
    buf[n] = '\0';
    return strstr(buf, text) != NULL;
}

bool mrpc_peer_start(struct mrpc_peer *p, const struct mrpc_node *node, const char *program,
                     const char *ready)
{
    const struct host *h = node_host(node);
    int port = mrpc_free_port();
    unsigned long long deadline = phx_test_now_ns() + PEER_START_NS;

    snprintf(p->addr, sizeof(p->addr), "%s:%d", h->ip, port);
    snprintf(p->log, sizeof(p->log), "%s/peer-%d.log", node->d.dir, port);
    char *const argv[] = { (char *)program, p->addr, NULL };
    if (port < 0 || (p->pid = phx_spawn_to_file(argv, mrpc_env_with_prefix(node->d.prefix),
                                                p->log, h->netns)) < 0) {
        p->pid = 0;
        return false;
    }
    while (phx_test_now_ns() < deadline) {
        if (mrpc_peer_said(p, ready))
            return true;
        if (waitpid(p->pid, NULL, WNOHANG) == p->pid) {
            fprintf(stderr, "%s exited at start; see %s\n", program, p->log);
            p->pid = 0;
            return false;
        }
        phx_test_sleep_ms(10);
    }
    fprintf(stderr, "%s was not ready within 20 s; see %s\n", program, p->log);
    mrpc_peer_stop(p);
    return false;
}

int mrpc_peer_stop(struct mrpc_peer *p)
{
    if (p->pid <= 0)
        return PHX_TEST_KILLED;
    kill(p->pid, SIGTERM);
    int code = phx_test_reap(p->pid, PEER_STOP_NS);
    p->pid = 0;
    return code;
}

/* ---- the usual set-up --------------------------------------------------------------------- */

bool mrpc_setup_start(struct mrpc_setup *s, const char *tag, const char *program)
{
    mrpc_ctx_params_t params = { .field_mask = MRPC_CTX_PARAM_FIELD_PREFIX };
    mrpc_status_t st;
    char srv[64], cli[64];

    snprintf(srv, sizeof(srv), "%s-srv", tag);
    snprintf(cli, sizeof(cli), "%s-cli", tag);
    if (!mrpc_node_start(&s->server_node, srv, MRPC_SIDE_SERVER) ||
        !mrpc_client_node_start(&s->client_node, &s->server_node, cli) ||
        !mrpc_peer_start(&s->peer, &s->server_node, program, "ready"))
        return false;
    params.prefix = s->client_node.d.prefix;
    if (!(s->ctx = mrpc_ctx_create(&params, &st)) ||
        !(s->conn = mrpc_connect(s->ctx, s->peer.addr, &st))) {
        fprintf(stderr, "client: %s: %s\n", phx_status_name(st.code), st.message);
        return false;
    }
    return true;
}

bool mrpc_setup_stop(struct mrpc_setup *s)
{
    mrpc_conn_close(s->conn);
    mrpc_ctx_destroy(s->ctx);
    s->conn = NULL;
    s->ctx = NULL;
    bool clean = s->peer.pid <= 0 || mrpc_peer_stop(&s->peer) == 0;
    if (!clean)
        fprintf(stderr, "the server program did not exit cleanly; its output is in %s\n",
                s->peer.log);
    clean = mrpc_node_stop(&s->client_node, SIGTERM) && clean;
    return mrpc_node_stop(&s->server_node, SIGTERM) && clean;
}

/* ---- once per process -------------------------------------------------------------------- */

bool mrpc_bring_up_once(bool (*bring_up)(void))
{
    static enum { NOT_TRIED, UP, FAILED } state = NOT_TRIED;

    if (state == NOT_TRIED)
        state = bring_up() ? UP : FAILED;
    return state == UP;
}

/* ---- one set-up for a whole program ------------------------------------------------------ */

static struct {
    struct mrpc_setup *s;
    const char        *tag, *program;
} program_setup;

static bool program_setup_start(void)
{
    return mrpc_setup_start(program_setup.s, program_setup.tag, program_setup.program);
}

void mrpc_need_setup(void)
{
    CU_ASSERT_FATAL(program_setup.s && mrpc_bring_up_once(program_setup_start));
}

int mrpc_setup_main(struct mrpc_setup *s, const char *suite, const char *tag,
                    const char *program, const phx_test_case_t *cases, int argc, char **argv)
{
    program_setup.s = s;
    program_setup.tag = tag;
    program_setup.program = program;
    int rc = phx_test_main(suite, cases, argc, argv);

    return mrpc_setup_stop(s) ? rc : 1;
}
