/* test_jobid.c - which Slurm job the service gives an app (core/daemon/jobid.h), from fake /proc
 * trees in a temporary directory (the same files the service reads under PHOENIX_PROC_ROOT).
 *
 *   cgroup v1 and v2   Slurm's task/cgroup paths, with and without a node name, give the job,
 *                      verified
 *   not forgeable      a `job_<id>` below a user's own delegated cgroup, or not below a Slurm
 *                      component, or not all digits, gives nothing from the cgroup
 *   environment        SLURM_JOB_ID in /proc/PID/environ is the fallback, unverified; the cgroup
 *                      wins over it; a near-miss name or a non-number is no job
 *   nothing            no files at all: no job */
#include "jobid.h"
#include "phx_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char root[] = "/tmp/phx-jobid-XXXXXX";

/* Writes ROOT/PID/NAME with LEN bytes of DATA. */
static void put(int pid, const char *name, const char *data, size_t len)
{
    char path[256];

    snprintf(path, sizeof(path), "%s/%d", root, pid);
    mkdir(path, 0700);
    snprintf(path, sizeof(path), "%s/%d/%s", root, pid, name);
    FILE *f = fopen(path, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    CU_ASSERT_EQUAL(fwrite(data, 1, len, f), len);
    fclose(f);
}

static void put_text(int pid, const char *name, const char *text)
{
    put(pid, name, text, strlen(text));
}

static void expect(int pid, const char *id, bool verified)
{
    struct phx_job job;

    phx_job_identify(root, pid, &job);
    CU_ASSERT_STRING_EQUAL(job.id, id);
    CU_ASSERT_EQUAL(job.verified, verified);
}

static void test_cgroup_v1_v2(void)
{
    put_text(101, "cgroup", "12:pids:/slurm/uid_1000/job_4242/step_0/task_0\n"
                            "4:memory:/slurm/uid_1000/job_4242/step_0/task_0\n"
                            "1:name=systemd:/system.slice/slurmd.service\n");
    expect(101, "4242", true);
    put_text(102, "cgroup", "0::/system.slice/slurmstepd.scope/job_77/step_batch/user/task_0\n");
    expect(102, "77", true);
    put_text(103, "cgroup", "5:cpuset:/slurm_n3/uid_0/job_9/step_0/task_1\n");
    expect(103, "9", true);
    put_text(104, "cgroup", "0::/system.slice/n2_slurmstepd.scope/job_31337/step_0/user/task_0");
    expect(104, "31337", true);
}

static void test_cgroup_not_forgeable(void)
{
    char id[PHX_JOB_ID_MAX] = "";

    /* a user's own subtree under systemd --user, named like Slurm's */
    CU_ASSERT_FALSE(phx_job_from_cgroup("0::/user.slice/user-1000.slice/user@1000.service/"
                                        "slurmstepd.scope/job_5/step_0\n", id));
    CU_ASSERT_FALSE(phx_job_from_cgroup("0::/user.slice/user-1000.slice/session-3.scope/job_5\n",
                                        id));
    CU_ASSERT_FALSE(phx_job_from_cgroup("0::/job_5/slurm/step_0\n", id));
    CU_ASSERT_FALSE(phx_job_from_cgroup("0::/slurm/uid_0/job_12a/step_0\n", id));
    CU_ASSERT_FALSE(phx_job_from_cgroup("0::/slurm/uid_0/job_/step_0\n", id));
    CU_ASSERT_FALSE(phx_job_from_cgroup("0::/slurm/uid_0/job_123456789012345678901234567\n", id));
    CU_ASSERT_FALSE(phx_job_from_cgroup("garbage without colons", id));
    CU_ASSERT_STRING_EQUAL(id, "");
    /* with such a cgroup, what the app claims in its environment stays unverified */
    static const char env[] = "HOME=/root\0SLURM_JOB_ID=5\0PATH=/bin\0";
    put_text(105, "cgroup", "0::/user.slice/user-1000.slice/user@1000.service/slurm/job_5\n");
    put(105, "environ", env, sizeof(env) - 1);
    expect(105, "5", false);
}

static void test_environment(void)
{
    static const char env[] = "SLURM_JOB_IDX=1\0XSLURM_JOB_ID=2\0SLURM_JOB_ID=808\0A=b";
    static const char bad[] = "SLURM_JOB_ID=12;rm -rf\0";
    static const char both[] = "SLURM_JOB_ID=1\0";

    put(201, "environ", env, sizeof(env) - 1);            /* no cgroup file at all */
    expect(201, "808", false);
    put_text(202, "cgroup", "0::/user.slice/user-0.slice/session-1.scope\n");
    put(202, "environ", bad, sizeof(bad) - 1);
    expect(202, "", false);
    put_text(203, "cgroup", "0::/system.slice/slurmstepd.scope/job_2/step_0/user/task_0\n");
    put(203, "environ", both, sizeof(both) - 1);          /* the cgroup wins */
    expect(203, "2", true);
}

static void test_nothing(void)
{
    expect(999, "", false);
    setenv("PHOENIX_PROC_ROOT", root, 1);
    CU_ASSERT_STRING_EQUAL(phx_job_proc_root(), root);
    unsetenv("PHOENIX_PROC_ROOT");
    CU_ASSERT_STRING_EQUAL(phx_job_proc_root(), "/proc");
}

static void test_real_self(void)
{
    struct phx_job job;

    /* this process: whatever it is, the answer is consistent with its own files */
    phx_job_identify("/proc", getpid(), &job);
    CU_ASSERT(!job.verified || job.id[0]);
}

static const phx_test_case_t cases[] = {
    { "cgroup v1 and v2 paths give a verified job", test_cgroup_v1_v2 },
    { "a cgroup an app could name itself gives no verified job", test_cgroup_not_forgeable },
    { "SLURM_JOB_ID in the environment is unverified", test_environment },
    { "no files, no job; PHOENIX_PROC_ROOT", test_nothing },
    { "this process's own /proc", test_real_self },
    { NULL, NULL },
};

int main(int argc, char **argv)
{
    if (!mkdtemp(root)) {
        perror("mkdtemp");
        return 1;
    }
    int rc = phx_test_main("jobid", cases, argc, argv);
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", root);
    return rc;
}
