/* pmi.c - how the mrpc-run processes of one Slurm step swap their ranks' published values.
 *
 * Under `srun --mpi=pmix` each task is a PMIx client of its slurmstepd; under `--mpi=pmi2` a
 * PMI2 client (Slurm's libpmi2). Either way one exchange is: every task puts its rank's value
 * under a key of this epoch ("mrpc.<epoch>.<rank>", so nothing is ever put twice), commits, and
 * joins a fence that collects the data; a look-up then reads another rank's key of that epoch.
 * A rank that published nothing puts "" so that a look-up of it answers at once instead of
 * waiting for a key that never comes. Only mrpc-run links these libraries: apps talk to it
 * through their channel (rendezvous.c), so their DT_NEEDED closure stays libmrpc's. */
#include "mrpc_run.h"

#include <pmix.h>
#include <slurm/pmi2.h>
#include <stdio.h>
#include <string.h>

static enum run_pmi pmi_kind = RUN_PMI_LOCAL;
static pmix_proc_t  pmix_me;
static char         pmi2_job[128];

static void key_of(char *key, size_t len, unsigned epoch, int rank)
{
    snprintf(key, len, "mrpc.%u.%d", epoch, rank);
}

int pmi_init(enum run_pmi kind, char *err, size_t errlen)
{
    pmi_kind = kind;
    if (kind == RUN_PMI_PMIX) {
        pmix_status_t rc = PMIx_Init(&pmix_me, NULL, 0);
        if (rc != PMIX_SUCCESS) {
            snprintf(err, errlen, "PMIx_Init failed: %s", PMIx_Error_string(rc));
            return -1;
        }
    } else if (kind == RUN_PMI_PMI2) {
        int spawned, size, rank, appnum;
        if (PMI2_Init(&spawned, &size, &rank, &appnum) != PMI2_SUCCESS ||
            PMI2_Job_GetId(pmi2_job, sizeof pmi2_job) != PMI2_SUCCESS) {
            snprintf(err, errlen, "PMI2 initialisation failed (is this a step of srun --mpi=pmi2?)");
            return -1;
        }
    }
    return 0;
}

static int pmix_exchange(int rank, unsigned epoch, const char *value, char *err, size_t errlen)
{
    char key[PMIX_MAX_KEYLEN + 1];
    pmix_value_t v = { .type = PMIX_STRING };
    pmix_info_t info;
    bool collect = true;
    pmix_status_t rc;

    key_of(key, sizeof key, epoch, rank);
    v.data.string = (char *)value;
    if ((rc = PMIx_Put(PMIX_GLOBAL, key, &v)) != PMIX_SUCCESS ||
        (rc = PMIx_Commit()) != PMIX_SUCCESS) {
        snprintf(err, errlen, "PMIx could not publish rank %d's value: %s", rank,
                 PMIx_Error_string(rc));
        return -1;
    }
    PMIX_INFO_LOAD(&info, PMIX_COLLECT_DATA, &collect, PMIX_BOOL);
    rc = PMIx_Fence(NULL, 0, &info, 1);
    PMIX_INFO_DESTRUCT(&info);
    if (rc != PMIX_SUCCESS) {
        snprintf(err, errlen, "the PMIx fence failed: %s", PMIx_Error_string(rc));
        return -1;
    }
    return 0;
}

static int pmix_lookup(int rank, unsigned epoch, char *value, size_t len, char *err, size_t errlen)
{
    char key[PMIX_MAX_KEYLEN + 1];
    pmix_proc_t p;
    pmix_value_t *v = NULL;
    pmix_status_t rc;

    key_of(key, sizeof key, epoch, rank);
    PMIX_PROC_LOAD(&p, pmix_me.nspace, (pmix_rank_t)rank);
    rc = PMIx_Get(&p, key, NULL, 0, &v);
    if (rc != PMIX_SUCCESS || !v || v->type != PMIX_STRING || !v->data.string) {
        snprintf(err, errlen, "PMIx has no value of rank %d: %s", rank, PMIx_Error_string(rc));
        if (v)
            PMIX_VALUE_RELEASE(v);
        return -1;
    }
    snprintf(value, len, "%s", v->data.string);
    PMIX_VALUE_RELEASE(v);
    return 0;
}

int pmi_exchange(int rank, unsigned epoch, const char *value, char *err, size_t errlen)
{
    char key[64];

    if (pmi_kind == RUN_PMI_PMIX)
        return pmix_exchange(rank, epoch, value, err, errlen);
    key_of(key, sizeof key, epoch, rank);
    if (PMI2_KVS_Put(key, value) != PMI2_SUCCESS || PMI2_KVS_Fence() != PMI2_SUCCESS) {
        snprintf(err, errlen, "the PMI2 exchange failed");
        return -1;
    }
    return 0;
}

int pmi_lookup(int rank, unsigned epoch, char *value, size_t len, char *err, size_t errlen)
{
    char key[64];
    int got = 0;

    if (pmi_kind == RUN_PMI_PMIX)
        return pmix_lookup(rank, epoch, value, len, err, errlen);
    key_of(key, sizeof key, epoch, rank);
    if (PMI2_KVS_Get(pmi2_job, PMI2_ID_NULL, key, value, (int)len, &got) != PMI2_SUCCESS) {
        snprintf(err, errlen, "PMI2 has no value of rank %d", rank);
        return -1;
    }
    return 0;
}

void pmi_fini(void)
{
    if (pmi_kind == RUN_PMI_PMIX)
        PMIx_Finalize(NULL, 0);
    else if (pmi_kind == RUN_PMI_PMI2)
        PMI2_Finalize();
    pmi_kind = RUN_PMI_LOCAL;
}
