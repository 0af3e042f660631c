/* args.c - rpc_bench's command line: bench_common's options plus the original rpc_bench's.
 *
 * bench_parse_args() takes the options every benchmark shares (-s sizes, -n calls, -w warmup,
 * -W window, -D budget, --json) and hands the others to parse_extra() below. The original's
 * long names map onto the shared ones where they mean the same thing (--duration is -D,
 * --concurrency is -W, --total-iters is -n); -r SIZE is -s SIZE (the last one given wins) and
 * -t N is -n N. Only the latency "mode" exists: every figure comes from the same calls. */
#include "rpc_bench.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RPCB_MAX_CALLS     10000000ul   /* as bench_common's -n */
#define RPCB_MAX_INTERVAL  3600.0

enum {
    OPT_REPLY_SIZE = 256, OPT_CLIENT_THREADS, OPT_SERVER_THREADS, OPT_LOG_LATENCY, OPT_LOG_GAPS,
    OPT_SERVER,
    OPT_CPU_PID, OPT_HOLD, OPT_REFUSALS_OK,
};

static void usage(FILE *out)
{
    fprintf(out,
            "usage: rpc_bench --server [-p PORT] [--num-server-threads N]\n"
            "       rpc_bench -c HOST[:PORT] [-c ...] [-p PORT] [-r SIZE | -s SIZES] [options]\n"
            "Unary calls through the local mRPC service ($PHOENIX_PREFIX); round-trip latency,\n"
            "calls per second and request goodput per size.\n"
            "  -c, --connect HOST[:PORT]   server to call; repeatable: thread T calls the\n"
            "                              (T mod N)-th of N, without :PORT at\n"
            "                              PORT + T mod --num-server-threads\n"
            "  -p, --port PORT             the server's first port (default %u)\n"
            "  -r, --req-size SIZE         request payload bytes (the same as -s SIZE)\n"
            "      --reply-size SIZE       reply payload bytes, may be 0 (default: the request's)\n"
            "      --concurrency N         calls outstanding per client thread (= -W; default 1)\n"
            "  -t, --total-iters N         measured calls per size over all threads (= -n)\n"
            "      --duration SECONDS      time budget per size (= -D)\n"
            "  -i, --interval SECONDS      print calls/s, Gb/s, p50/p95/p99 every interval\n"
            "      --num-client-threads N  client threads, one mrpc context each (default 1)\n"
            "      --num-server-threads N  server threads (server: how many; client: how many\n"
            "                              ports the server has; default 1)\n"
            "      --log-latency FILE      write every measured round trip (us) to FILE\n"
            "      --log-gaps FILE         write every gap of 100 us or more between two\n"
            "                              completions of a thread to FILE (with its end,\n"
            "                              CLOCK_MONOTONIC ns)\n"
            "      --cpu-pid PID           add PID's CPU time to the per-call CPU (repeatable)\n"
            "      --hold                  once connected, print 'ready' and wait for a line on\n"
            "                              stdin (to attach policies before measuring); at the\n"
            "                              end print 'done' and wait again (to read counters)\n"
            "      --refusals-ok           a call refused with RESOURCE_EXHAUSTED (a policy's\n"
            "                              overload control) is counted in failed_calls and\n"
            "                              not timed, instead of ending the run\n"
            "      --server                answer calls instead of making them\n"
            "      --version               print the version and exit\n"
            "Shared with the baselines (here -n and -w count calls, -W is --concurrency and\n"
            "latency is the only mode):\n",
            RPCB_DEFAULT_PORT);
    bench_opts_usage(out);
}

static int parse_interval(const char *text, double *out)
{
    char *end;

    errno = 0;
    double v = strtod(text, &end);
    if (errno || end == text || *end || !(v >= 0.0) || v > RPCB_MAX_INTERVAL)
        return -EINVAL;
    *out = v;
    return 0;
}

/* A reply may be empty; a request may not (its payload carries the tag). */
static int parse_reply_size(const char *text, long *out)
{
    size_t size;

    if (strcmp(text, "0") == 0) {
        *out = 0;
        return 0;
    }
    if (bench_parse_size(text, &size) < 0)
        return -EINVAL;
    *out = (long)size;
    return 0;
}

static int add_cpu_pid(rpcb_args_t *a, const char *text)
{
    unsigned long pid;

    if (a->ncpu_pids >= RPCB_MAX_CPU_PIDS || bench_parse_count(text, 1, 4194304, &pid) < 0)
        return -EINVAL;
    a->cpu_pids[a->ncpu_pids++] = (pid_t)pid;
    return 0;
}

static int parse_count_into(const char *text, unsigned long min, unsigned long max,
                            unsigned *out)
{
    unsigned long v;

    if (bench_parse_count(text, min, max, &v) < 0)
        return -EINVAL;
    *out = (unsigned)v;
    return 0;
}

/* How the user spelt option OPT, for error messages. */
static const char *option_name(int opt)
{
    switch (opt) {
    case 'c': return "-c/--connect (at most 16)";
    case 'p': return "-p/--port (1..65535)";
    case 'r': return "-r/--req-size (1 B .. 1 GiB)";
    case 't': return "-t/--total-iters (1..10000000)";
    case 'i': return "-i/--interval (0..3600 s)";
    case OPT_REPLY_SIZE: return "--reply-size (0 .. 1 GiB)";
    case OPT_CLIENT_THREADS: return "--num-client-threads (1..64)";
    case OPT_SERVER_THREADS: return "--num-server-threads (1..64)";
    case OPT_CPU_PID: return "--cpu-pid (a PID, at most 16 of them)";
    default: return "an option";
    }
}

/* The options bench_common does not know. */
static int parse_extra(void *ctx, int opt, const char *arg, char *err, size_t errlen)
{
    rpcb_args_t *a = ctx;
    int rc = 0;

    switch (opt) {
    case 'c':
        if (a->nconnect >= RPCB_MAX_PEERS)
            rc = -EINVAL;
        else
            a->connect[a->nconnect++] = arg;
        break;
    case 'p': rc = parse_count_into(arg, 1, 65535, &a->port); break;
    case 'r':
        rc = bench_parse_size(arg, &a->o.sizes[0]);
        a->o.nsizes = 1;
        break;
    case 't':
        rc = bench_parse_count(arg, 1, RPCB_MAX_CALLS, &a->o.iters);
        a->o.iters_set = true;
        break;
    case 'i': rc = parse_interval(arg, &a->interval); break;
    case OPT_REPLY_SIZE: rc = parse_reply_size(arg, &a->reply_size); break;
    case OPT_CLIENT_THREADS:
        rc = parse_count_into(arg, 1, RPCB_MAX_THREADS, &a->client_threads);
        break;
    case OPT_SERVER_THREADS:
        rc = parse_count_into(arg, 1, RPCB_MAX_THREADS, &a->server_threads);
        break;
    case OPT_LOG_LATENCY: a->log_latency = arg; break;
    case OPT_LOG_GAPS: a->log_gaps = arg; break;
    case OPT_CPU_PID: rc = add_cpu_pid(a, arg); break;
    case OPT_HOLD: a->hold = true; break;
    case OPT_REFUSALS_OK: a->refusals_ok = true; break;
    case OPT_SERVER: a->server = true; break;
    default:
        snprintf(err, errlen, "unknown option (see --help)");
        return -EINVAL;
    }
    if (rc < 0)
        snprintf(err, errlen, "bad value '%s' for %s", arg ? arg : "", option_name(opt));
    return rc;
}

/* What the options cannot say one by one. */
static int check_combination(const rpcb_args_t *a, char *err, size_t errlen)
{
    if (a->server && a->nconnect) {
        snprintf(err, errlen, "--server takes no -c: it binds 0.0.0.0:PORT..");
        return -EINVAL;
    }
    if (!a->server && !a->nconnect) {
        snprintf(err, errlen, "give -c HOST[:PORT] (client) or --server");
        return -EINVAL;
    }
    if (a->port + a->server_threads - 1 > 65535) {
        snprintf(err, errlen, "ports %u..%u do not exist", a->port,
                 a->port + a->server_threads - 1);
        return -EINVAL;
    }
    return 0;
}

int rpcb_parse_args(int argc, char **argv, rpcb_args_t *a)
{
    static const struct option longopts[] = {
        { "connect", required_argument, NULL, 'c' },
        { "port", required_argument, NULL, 'p' },
        { "req-size", required_argument, NULL, 'r' },
        { "reply-size", required_argument, NULL, OPT_REPLY_SIZE },
        { "concurrency", required_argument, NULL, 'W' },
        { "total-iters", required_argument, NULL, 't' },
        { "duration", required_argument, NULL, 'D' },
        { "interval", required_argument, NULL, 'i' },
        { "num-client-threads", required_argument, NULL, OPT_CLIENT_THREADS },
        { "num-server-threads", required_argument, NULL, OPT_SERVER_THREADS },
        { "log-latency", required_argument, NULL, OPT_LOG_LATENCY },
        { "log-gaps", required_argument, NULL, OPT_LOG_GAPS },
        { "cpu-pid", required_argument, NULL, OPT_CPU_PID },
        { "hold", no_argument, NULL, OPT_HOLD },
        { "refusals-ok", no_argument, NULL, OPT_REFUSALS_OK },
        { "server", no_argument, NULL, OPT_SERVER },
        { NULL, 0, NULL, 0 },
    };
    const bench_program_t prog = {
        .shortopts = "c:p:r:t:i:", .longopts = longopts, .parse = parse_extra, .ctx = a,
        .modes = BENCH_MODE_BIT(BENCH_MODE_LATENCY),
    };
    char err[256] = "";

    *a = (rpcb_args_t){ .port = RPCB_DEFAULT_PORT, .reply_size = -1, .client_threads = 1,
                        .server_threads = 1 };
    int rc = bench_parse_args(argc, argv, &prog, &a->o, err, sizeof(err));
    if (rc == 0)
        rc = check_combination(a, err, sizeof(err));
    if (rc < 0)
        fprintf(stderr, "rpc_bench: %s\n", err);
    if (rc != 0)
        usage(rc < 0 ? stderr : stdout);
    return rc;
}
