/* rpc_bench.h - what the parts of rpc_bench share: its options, the client's threads and the
 * steps that keep them in line.
 *
 * rpc_bench measures unary calls through the mRPC service, as the original mRPC rpc_bench did,
 * with bench_common's conventions so that its figures sit next to the baselines' (ucx_pingpong,
 * mpi_pingpong):
 *
 *   server   (--server) --num-server-threads threads, thread T with its own mrpc context
 *            (one registration with the local service) bound to 0.0.0.0:(PORT + T), answering
 *            Bench.Exchange with a reply of the size the request asks for (server.c);
 *   client   --num-client-threads threads, each with its own context and connection (thread T
 *            to the -c address T mod N, port PORT + T mod --num-server-threads), each keeping
 *            --concurrency calls outstanding (client.c). The main thread (sweep.c) runs every
 *            size of the sweep in two steps, warmup then measurement, that all threads start
 *            together; between the steps it reads the CPU clocks (this process and every
 *            --cpu-pid process, e.g. both phoenixd and the server) and, every --interval,
 *            the round trips the threads have published so far (report.c).
 *
 * Sizes, counts and budgets are bench_common's: -s sweeps sizes (or -r gives one), -t/-n calls
 * per size over all threads, -w warmup calls, -D time budget per size (the warmup gets a
 * fifth). Latencies are round trips of one call (not halved as the baselines' one-way
 * figures are); Gb/s and MB/s count request payload bytes. */
#ifndef RPC_BENCH_H
#define RPC_BENCH_H

#include "bench_common.h"
#include "rpc_bench.mrpc.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define RPCB_MAX_PEERS      16
#define RPCB_MAX_THREADS    64
#define RPCB_MAX_CPU_PIDS   16
#define RPCB_DEFAULT_PORT   5000
#define RPCB_MAX_REPLY      BENCH_MAX_MSG
#define RPCB_MAX_GAPS       65536     /* --log-gaps: gaps kept per thread and size */
#define RPCB_GAP_LOG_NS     100000    /* --log-gaps: gaps this long or longer are kept */
#define RPCB_GRACE_NS       (10 * BENCH_NS_PER_SEC)   /* a call pending this long past its
                                                         size's budget means a broken peer */

typedef struct {
    bench_opts_t o;             /* sizes, calls (iters), warmup, concurrency (window), -D, json */
    bool server;
    const char *connect[RPCB_MAX_PEERS];
    unsigned nconnect;
    unsigned port;
    long reply_size;            /* bytes; -1: the request's size */
    double interval;            /* seconds between interval lines; 0: none */
    unsigned client_threads, server_threads;
    const char *log_latency;
    const char *log_gaps;       /* every gap >= 100 us between completions, with its end time */
    pid_t cpu_pids[RPCB_MAX_CPU_PIDS];
    unsigned ncpu_pids;
    bool hold;                  /* wait for a line on stdin once connected */
    bool refusals_ok;           /* RESOURCE_EXHAUSTED ends a call, not the run (admission) */
} rpcb_args_t;

/* args.c: 0 to run, 1 for --help, -EINVAL for bad input (said on stderr, with the usage). */
int rpcb_parse_args(int argc, char **argv, rpcb_args_t *a);

/* server.c: serves until SIGINT or SIGTERM; 0, or -1 after saying why. */
int rpcb_serve(const rpcb_args_t *a);

/* ---- steps: the main thread releases a step, every client thread does it and arrives (sync.c) */

typedef struct {
    pthread_mutex_t lock;
    pthread_cond_t  cond;       /* on CLOCK_MONOTONIC */
    unsigned        step, arrived;
    atomic_bool     stop;       /* no more steps; also polled by the threads' call loops */
} rpcb_sync_t;

void rpcb_sync_init(rpcb_sync_t *s);
void rpcb_sync_destroy(rpcb_sync_t *s);
void rpcb_sync_release(rpcb_sync_t *s);                 /* main: the next step starts */
void rpcb_sync_stop(rpcb_sync_t *s);                    /* main: the end, or an abort */
bool rpcb_sync_wait_step(rpcb_sync_t *s, unsigned step);  /* thread: false once stopped */
void rpcb_sync_arrive(rpcb_sync_t *s);                  /* thread: done with the step */
/* main: whether N threads arrived before DEADLINE (bench_now_ns clock). */
bool rpcb_sync_wait_all(rpcb_sync_t *s, unsigned n, uint64_t deadline);

/* ---- one client thread (client.c) ------------------------------------------------------------ */

struct rpcb_thread;

typedef struct {
    uint64_t start_ns;
    uint8_t tag;
    struct rpcb_thread *thread;
} rpcb_slot_t;

/* What the main thread sets before releasing a step; the thread only reads it. */
typedef struct {
    size_t req_size, reply_size;
    unsigned long calls;        /* this thread's share */
    bool measure;
} rpcb_phase_t;

typedef struct rpcb_thread {
    const rpcb_args_t *args;
    rpcb_sync_t *sync;
    unsigned index;
    pthread_t tid;
    mrpc_ctx_t *ctx;
    mrpc_conn_t *conn;
    char peer[96];
    mrpc_call_opts_t call_opts;
    rpcb_slot_t *slots;         /* --concurrency of them */
    rpcb_slot_t **free_slots;
    unsigned nfree;
    rpcb_phase_t phase;
    unsigned long issued, completed;
    unsigned long errors;       /* completions with another status than OK */
    uint64_t last_done_ns;      /* measured phase: the last completion (or the phase's start) */
    uint64_t max_gap_ns;        /* ... the longest wait between two (stall benchmark) */
    uint64_t (*gaps)[2];        /* --log-gaps: [end_ns, gap_ns] of the measured phase */
    size_t n_gaps;
    double *samples_us;         /* the measured phase's round trips, in completion order */
    size_t samples_cap;
    atomic_size_t published;    /* samples_us[0 .. published) may be read by the main thread */
    bool failed;
    char err[256];
} rpcb_thread_t;

/* Allocates T's slots and sample buffer (room for SAMPLES_CAP round trips). */
int  rpcb_thread_init(rpcb_thread_t *t, const rpcb_args_t *a, rpcb_sync_t *sync, unsigned index,
                      size_t samples_cap);
void rpcb_thread_free(rpcb_thread_t *t);
/* The thread's body: connect, arrive, then per size a warmup step and a measured step. */
void *rpcb_thread_main(void *arg);

/* ---- the main thread (sweep.c) and its output (report.c) ------------------------------------ */

/* Runs the whole sweep; 0, or -1 after saying why. */
int rpcb_run_client(const rpcb_args_t *a);

/* CPU time (user + system, all threads) of process PID, in seconds; negative if unreadable. */
double rpcb_pid_cpu_seconds(pid_t pid);

/* CPU seconds read at one instant: this process, then each --cpu-pid. */
typedef struct {
    double self;
    double pids[RPCB_MAX_CPU_PIDS];
} rpcb_cpu_t;

void rpcb_cpu_read(const rpcb_args_t *a, rpcb_cpu_t *c);

/* One size's figures over all threads. */
typedef struct {
    size_t req_size, reply_size;
    unsigned long calls;
    double seconds;
    double p50_us, p95_us, p99_us, mean_us;   /* round trips */
    double rpc_per_s, gbps;
    double cpu_us_per_call, self_us_per_call, pid_us_per_call[RPCB_MAX_CPU_PIDS];
    double max_gap_us;          /* longest time between two completions of one thread */
    unsigned long failed, lost; /* calls completed with an error; issued but never completed */
} rpcb_summary_t;

/* Sorts SAMPLES_US[N] (round trips) and fills S's latency figures, rate and bandwidth. */
void rpcb_summarize(rpcb_summary_t *s, double *samples_us, size_t n, double seconds);
void rpcb_summarize_cpu(rpcb_summary_t *s, const rpcb_args_t *a, const rpcb_cpu_t *before,
                        const rpcb_cpu_t *after);
void rpcb_print_header(const rpcb_args_t *a);
void rpcb_print_summary(const rpcb_args_t *a, const rpcb_summary_t *s);
/* One --interval line: the N round trips (SAMPLES_US, sorted here) that completed in SECONDS. */
void rpcb_print_interval(const rpcb_args_t *a, unsigned index, double at_s, size_t req_size,
                         double *samples_us, size_t n, double seconds);

#endif /* RPC_BENCH_H */
