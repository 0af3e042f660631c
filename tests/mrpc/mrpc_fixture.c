/* mrpc_fixture.c - nodes (phoenixd with mrpc + ucx) and server programs for the mRPC tests (see
 * mrpc_fixture.h). The plugin paths come from the build (PHX_PLUGIN_MRPC, PHX_PLUGIN_UCX). */
#include "mrpc_fixture.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#if !defined(PHX_PLUGIN_MRPC) || !defined(PHX_PLUGIN_UCX) || !defined(PHX_PLUGIN_NULL) || \
    !defined(PHOENIXCTL_PATH)
#error "the build must define PHX_PLUGIN_MRPC, PHX_PLUGIN_UCX, PHX_PLUGIN_NULL and PHOENIXCTL_PATH"
#endif

#define PEER_START_NS (20 * PHX_NS)
#define PEER_STOP_NS  (10 * PHX_NS)

/* spin_us = 0: a two-node test runs four busy processes (two services, two apps), often on two
 * cores, where a runtime that spins takes the core the process it waits for needs. */
static const char node_conf[] =
    "log = { level = \"info\"; };\n"
    "runtime = { threads = 1; mode = \"shared\"; spin_us = 0; };\n"
    "control = { admin_group = \"\"; socket_mode = 0666; max_apps = 64; };\n"
    "heap = { send_mb = 256; recv_mb = 256; slab_kb = 256; };\n"
    "ucx = { tls = \"tcp\"; net_devices = \"lo\"; };\n"
    "mrpc = { max_message_mb = 128; call_timeout_ms = 30000; };\n"
    "plugins = ( { name = \"mrpc\"; path = \"" PHX_PLUGIN_MRPC "\"; },\n"
    "            { name = \"ucx\"; path = \"" PHX_PLUGIN_UCX "\"; },\n"
    "            { name = \"null\"; path = \"" PHX_PLUGIN_NULL "\"; } );\n";

bool mrpc_node_start(struct mrpc_node *n, const char *tag)
{
    setenv("UCX_TLS", "tcp", 1);            /* the service reads its config, UCX the env too */
    setenv("UCX_NET_DEVICES", "lo", 1);
    return phx_daemon_start(&n->d, tag, node_conf);
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
    int code = n->d.pid > 0 ? phx_daemon_stop(&n->d, sig) : 0;

    report_log(n);
    phx_daemon_cleanup(&n->d);
    return code == 0;
}

bool mrpc_node_alive(struct mrpc_node *n)
{
    int status;

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

int mrpc_free_port(void)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
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

static long json_int(json_object *o, const char *key)
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
        if (json_int(sub, "pid") != (long)pid || !engines || json_object_array_length(engines) < 1)
            continue;
        if (found && json_int(sub, "sid") < (long)out->sid)
            continue;
        out->sid = (unsigned)json_int(sub, "sid");
        out->front_engine = json_int(json_object_array_get_idx(engines, 0), "id");
        out->n_addons = addons ? (unsigned)json_object_array_length(addons) : 0;
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

static pid_t spawn_to_file(char *const argv[], char *const env[], const char *path)
{
    pid_t pid = fork();

    if (pid == 0) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, STDOUT_FILENO);
            dup2(fd, STDERR_FILENO);
        }
        execve(argv[0], argv, env);
        _exit(127);
    }
    return pid;
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
    int port = mrpc_free_port();
    unsigned long long deadline = phx_test_now_ns() + PEER_START_NS;

    snprintf(p->addr, sizeof(p->addr), "127.0.0.1:%d", port);
    snprintf(p->log, sizeof(p->log), "%s/peer-%d.log", node->d.dir, port);
    char *const argv[] = { (char *)program, p->addr, NULL };
    if (port < 0 || (p->pid = spawn_to_file(argv, mrpc_env_with_prefix(node->d.prefix),
                                            p->log)) < 0) {
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
