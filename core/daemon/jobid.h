/* jobid.h - which Slurm job an app belongs to, as the service can tell from outside the app.
 *
 * At registration the service reads, for the app's PID (from SO_PEERCRED):
 *   1. /proc/PID/cgroup. Slurm's task/cgroup plugin moves every task into a cgroup whose path
 *      holds a component `job_<id>`: cgroup v1 `/slurm/uid_1000/job_42/step_0/task_0` (or
 *      `/slurm_<node>/...` with several slurmd on one host), cgroup v2
 *      `/system.slice/slurmstepd.scope/job_42/step_0/user/task_0` (or `<node>_slurmstepd.scope`).
 *      An app cannot move itself out of it or into another job's, so this is *verified*. To keep
 *      a user from naming a cgroup of their own `job_42` (cgroup v2 delegates a subtree to a
 *      user's systemd), the `job_<id>` component counts only below a component that starts with
 *      `slurm` or ends in `slurmstepd.scope`, with no `user.slice` or `user@...` above it.
 *   2. else /proc/PID/environ's SLURM_JOB_ID (the environment the app was started with, read by
 *      the service, not told by the app): the app controls it, so it is *unverified*.
 *   3. else no job (an app started outside Slurm).
 *
 * The /proc root is PHOENIX_PROC_ROOT when that environment variable is set in phoenixd's
 * environment: tests point it at fake /proc trees; nothing else should set it. */
#ifndef PHX_JOBID_H
#define PHX_JOBID_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define PHX_JOB_ID_MAX 24       /* digits of a Slurm job id, and the NUL */

struct phx_job {
    char id[PHX_JOB_ID_MAX];    /* "" = no job */
    bool verified;              /* from the cgroup, not from the app's environment */
};

/* The /proc root to read: PHOENIX_PROC_ROOT, else "/proc". */
const char *phx_job_proc_root(void);
/* Fills JOB for PID under PROC_ROOT as described above; never fails (no job is an answer). */
void phx_job_identify(const char *proc_root, pid_t pid, struct phx_job *job);
/* The job of one /proc/PID/cgroup file's TEXT, or false: exported for the tests. */
bool phx_job_from_cgroup(const char *text, char id[PHX_JOB_ID_MAX]);
/* SLURM_JOB_ID of an environ block (NUL-separated, LEN bytes), if it is a number. */
bool phx_job_from_environ(const char *env, size_t len, char id[PHX_JOB_ID_MAX]);

#endif /* PHX_JOBID_H */
