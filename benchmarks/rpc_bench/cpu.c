/* cpu.c - CPU time of this process and of other processes (--cpu-pid: the services, the server).
 *
 * A call through mRPC burns CPU in four processes (client, its phoenixd, the server's phoenixd,
 * the server), so the CPU per call must add them all, read at the same instants as the
 * client's own. For another process the figure is user + system time of all its threads, as
 * /proc/PID/stat has it (utime + stime), but read through the process's CPU clock
 * (clock_getcpuclockid), which counts nanoseconds where /proc counts 10 ms ticks; /proc is the
 * fallback when the clock cannot be had. */
#include "rpc_bench.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* utime + stime from /proc/PID/stat: fields 14 and 15, counted after the ")" that ends the
 * command name (which may itself hold spaces and parentheses). */
static double proc_stat_seconds(pid_t pid)
{
    char path[64], buf[1024];
    unsigned long long utime, stime;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
    if (f)
        fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')');
    /* after ")": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt, then
     * utime stime */
    if (!p || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
                     &utime, &stime) != 2)
        return -1.0;
    return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

double rpcb_pid_cpu_seconds(pid_t pid)
{
    clockid_t clock;
    struct timespec ts;

    if (clock_getcpuclockid(pid, &clock) == 0 && clock_gettime(clock, &ts) == 0)
        return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
    return proc_stat_seconds(pid);
}

void rpcb_cpu_read(const rpcb_args_t *a, rpcb_cpu_t *c)
{
    c->self = bench_cpu_seconds();
    for (unsigned i = 0; i < a->ncpu_pids; i++)
        c->pids[i] = rpcb_pid_cpu_seconds(a->cpu_pids[i]);
}
