/* report.c - rpc_bench's figures and how they are printed.
 *
 * Statistics are bench_common's (nearest-rank percentiles over every measured call, sorted),
 * on round trips rather than half round trips. Per size: calls/s = measured calls / wall time
 * of the measured step (all threads together); Gb/s and MB/s count request payload bytes
 * (10^9 bits, 10^6 bytes); CPU per call = CPU seconds of this process plus each --cpu-pid
 * process over the measured step, divided by the calls. Output is a table, or with --json one
 * object per line: "type":"interval" for --interval lines and "type":"result" per size, e.g.
 *
 *   {"type":"result","system":"mrpc","size":64,"req_size":64,"reply_size":64,"threads":1,
 *    "concurrency":1,"iters":10000,"seconds":0.5,"rpc_per_s":20000,"gbps":0.01,"mbps":1.3,
 *    "rtt_p50_us":48,"rtt_p95_us":60,"rtt_p99_us":80,"rtt_mean_us":50,"cpu_us_per_call":95,
 *    "cpu_us_per_call_self":30,"cpu_us_per_call_pids":{"1234":40,"1240":25}}
 */
#include "rpc_bench.h"

#include <math.h>
#include <stdio.h>

/* A JSON number; non-finite values, which JSON cannot hold, become null. */
static const char *json_num(char *buf, size_t len, double v)
{
    if (!isfinite(v))
        return "null";
    snprintf(buf, len, "%.6g", v);
    return buf;
}

void rpcb_summarize(rpcb_summary_t *s, double *samples_us, size_t n, double seconds)
{
    bench_result_t r = { .size = s->req_size };

    bench_latency_stats(samples_us, n, &r);   /* sorts */
    s->calls = n;
    s->seconds = seconds;
    s->p50_us = r.p50_us;
    s->p95_us = bench_percentile(samples_us, n, 95.0);
    s->p99_us = r.p99_us;
    s->mean_us = r.mean_us;
    s->rpc_per_s = seconds > 0.0 ? (double)n / seconds : 0.0;
    s->gbps = s->rpc_per_s * (double)s->req_size * 8.0 / 1e9;
}

static double per_call_us(double before, double after, unsigned long calls)
{
    if (before < 0.0 || after < 0.0 || !calls)
        return NAN;   /* a process we could not read: say so (null), do not guess */
    return (after - before) * 1e6 / (double)calls;
}

void rpcb_summarize_cpu(rpcb_summary_t *s, const rpcb_args_t *a, const rpcb_cpu_t *before,
                        const rpcb_cpu_t *after)
{
    s->self_us_per_call = per_call_us(before->self, after->self, s->calls);
    s->cpu_us_per_call = s->self_us_per_call;
    for (unsigned i = 0; i < a->ncpu_pids; i++) {
        s->pid_us_per_call[i] = per_call_us(before->pids[i], after->pids[i], s->calls);
        s->cpu_us_per_call += s->pid_us_per_call[i];
    }
}

void rpcb_print_header(const rpcb_args_t *a)
{
    if (a->o.json)
        return;
    printf("# mrpc: %u client thread(s) x %u outstanding; rtt = round trip of one call, us; "
           "Gb/s of request payload; cpu = user+sys of this process%s per call\n",
           a->client_threads, a->o.window, a->ncpu_pids ? " and every --cpu-pid" : "");
    printf("# %10s %10s %10s %12s %8s %9s %9s %9s %9s %12s\n", "req", "reply", "calls",
           "RPC/s", "Gb/s", "p50_us", "p95_us", "p99_us", "mean_us", "cpu_us/call");
    fflush(stdout);
}

static void print_json_summary(const rpcb_args_t *a, const rpcb_summary_t *s)
{
    char v[12][32];

    printf("{\"type\":\"result\",\"system\":\"mrpc\",\"size\":%zu,\"req_size\":%zu,"
           "\"reply_size\":%zu,\"threads\":%u,\"concurrency\":%u,\"iters\":%lu,\"seconds\":%s,"
           "\"rpc_per_s\":%s,\"gbps\":%s,\"mbps\":%s,\"rtt_p50_us\":%s,\"rtt_p95_us\":%s,"
           "\"rtt_p99_us\":%s,\"rtt_mean_us\":%s,\"cpu_us_per_call\":%s,"
           "\"cpu_us_per_call_self\":%s,\"max_gap_us\":%s,\"failed_calls\":%lu,"
           "\"lost_calls\":%lu,\"cpu_us_per_call_pids\":{",
           s->req_size, s->req_size, s->reply_size, a->client_threads, a->o.window, s->calls,
           json_num(v[0], 32, s->seconds), json_num(v[1], 32, s->rpc_per_s),
           json_num(v[2], 32, s->gbps), json_num(v[3], 32, s->gbps * 1e3 / 8.0),
           json_num(v[4], 32, s->p50_us), json_num(v[5], 32, s->p95_us),
           json_num(v[6], 32, s->p99_us), json_num(v[7], 32, s->mean_us),
           json_num(v[8], 32, s->cpu_us_per_call), json_num(v[9], 32, s->self_us_per_call),
           json_num(v[11], 32, s->max_gap_us), s->failed, s->lost);
    for (unsigned i = 0; i < a->ncpu_pids; i++)
        printf("%s\"%d\":%s", i ? "," : "", (int)a->cpu_pids[i],
               json_num(v[10], 32, s->pid_us_per_call[i]));
    printf("}}\n");
}

void rpcb_print_summary(const rpcb_args_t *a, const rpcb_summary_t *s)
{
    if (a->o.json)
        print_json_summary(a, s);
    else
        printf("  %10zu %10zu %10lu %12.0f %8.3f %9.2f %9.2f %9.2f %9.2f %12.2f\n", s->req_size,
               s->reply_size, s->calls, s->rpc_per_s, s->gbps, s->p50_us, s->p95_us, s->p99_us,
               s->mean_us, s->cpu_us_per_call);
    fflush(stdout);
}

void rpcb_print_interval(const rpcb_args_t *a, unsigned index, double at_s, size_t req_size,
                         double *samples_us, size_t n, double seconds)
{
    rpcb_summary_t s = { .req_size = req_size };
    char v[6][32];

    rpcb_summarize(&s, samples_us, n, seconds);
    if (a->o.json)
        printf("{\"type\":\"interval\",\"system\":\"mrpc\",\"interval\":%u,\"t_s\":%s,"
               "\"size\":%zu,\"calls\":%zu,\"rpc_per_s\":%s,\"gbps\":%s,\"rtt_p50_us\":%s,"
               "\"rtt_p95_us\":%s,\"rtt_p99_us\":%s}\n", index, json_num(v[0], 32, at_s),
               req_size, n, json_num(v[1], 32, s.rpc_per_s), json_num(v[2], 32, s.gbps),
               json_num(v[3], 32, s.p50_us), json_num(v[4], 32, s.p95_us),
               json_num(v[5], 32, s.p99_us));
    else
        printf("[%7.2f s] size %zu: %.0f RPC/s, %.3f Gb/s, rtt p50 %.2f us, p95 %.2f us, "
               "p99 %.2f us\n", at_s, req_size, s.rpc_per_s, s.gbps, s.p50_us, s.p95_us,
               s.p99_us);
    fflush(stdout);
}
