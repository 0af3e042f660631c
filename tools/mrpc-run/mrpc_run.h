/* mrpc_run.h - the parts of mrpc-run (the launcher, docs/man/mrpc-run.1) and what they share.
 *
 *   main.c        options, the job's shape (local or a Slurm step), exit status
 *   service.c     the node's service: the system one if it answers, else the job's own phoenixd,
 *                 started once per node per job under a lock and stopped after the last rank
 *   launch.c      starts the ranks, relays their output, forwards signals, reports failures
 *   rendezvous.c  the ranks' channel (MRPC_RUN_FD): publish, barrier, look up by rank
 *   pmi.c         the exchange between nodes under Slurm: PMIx or PMI2, whichever srun offers */
#ifndef MRPC_RUN_H
#define MRPC_RUN_H

#include <stdbool.h>
#include <signal.h>
#include <stddef.h>
#include <sys/types.h>

#define RUN_NAME_MAX   64
#define RUN_VALUE_MAX  256          /* a published value, NUL included (mrpc.h: MRPC_RANK_VALUE_MAX) */

enum run_pmi { RUN_PMI_LOCAL, RUN_PMI_PMIX, RUN_PMI_PMI2 };

/* Who this mrpc-run is: its ranks and where they live. */
struct run_job {
    bool         slurm;                 /* a task of a Slurm step (one rank) */
    enum run_pmi pmi;
    int          first_rank, nlocal;    /* the ranks this process starts: first_rank .. +nlocal */
    int          size;                  /* ranks of the whole job */
    int          local_rank, local_size;/* of first_rank on this node */
    char         job_key[RUN_NAME_MAX]; /* "job<SLURM_JOB_ID>" or "local<pid>" */
    char         job_id[RUN_NAME_MAX];  /* SLURM_JOB_ID, "" outside Slurm */
    char         node[RUN_NAME_MAX];    /* SLURMD_NODENAME or the host name */
    char         host[RUN_NAME_MAX];    /* the node's address for peers (MRPC_HOST) */
};

struct run_opts {
    int          nranks;                /* -n, 0: not given */
    bool         tag_output;
    unsigned     timeout_s;             /* 0: none */
    const char  *service;               /* "auto", "system" or "job" */
    const char  *system_prefix;         /* the node's system service */
    const char  *phoenixd;              /* for a per-job service */
    const char  *service_conf;          /* its config, NULL: phoenixd's default */
    const char  *run_dir;               /* parent of per-job service directories */
    char       **argv;                  /* PROGRAM ARGS... */
};

/* The service the ranks use; `fd` holds this process's share of a per-job service (-1: none). */
struct run_service {
    char prefix[108];
    char dir[4096];                     /* per-job: its directory (log, locks); "" for the system */
    bool per_job;
    bool private_dir;                   /* outside Slurm: removed after a clean stop */
    int  users_fd;
};

/* service.c: 0, or -1 with a sentence in ERR. */
int  service_ensure(const struct run_opts *o, const struct run_job *job, struct run_service *svc,
                    char *err, size_t errlen);
void service_release(struct run_service *svc);

/* pmi.c: the exchange between mrpc-run processes of a Slurm step. */
int  pmi_init(enum run_pmi kind, char *err, size_t errlen);
int  pmi_exchange(int rank, unsigned epoch, const char *value, char *err, size_t errlen);
int  pmi_lookup(int rank, unsigned epoch, char *value, size_t len, char *err, size_t errlen);
void pmi_fini(void);

/* rendezvous.c: one channel per rank. */
struct run_rdv;
struct run_rdv *rdv_create(const struct run_job *job);
void rdv_destroy(struct run_rdv *r);
int  rdv_child_fd(struct run_rdv *r, int i);       /* the end a rank inherits (then closed here) */
void rdv_close_child_fds(struct run_rdv *r);
int  rdv_fd(struct run_rdv *r, int i);              /* mrpc-run's end, -1 once closed */
void rdv_handle(struct run_rdv *r, int i);          /* the fd of rank i is readable */
void rdv_rank_gone(struct run_rdv *r, int i);       /* rank i exited */

/* launch.c: blocks the signals it reads from a signalfd. Called before any library starts a
 * thread (PMIx does): a thread without them blocked would take SIGCHLD, and a rank's exit would
 * go unseen. */
void launch_block_signals(sigset_t *set);
/* launch.c: runs the ranks to completion; returns mrpc-run's exit status. */
int  launch_run(const struct run_opts *o, const struct run_job *job, const struct run_service *svc);

#endif
