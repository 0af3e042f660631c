/* soak_app.h - what the parts of soak_app share: its options and the ledger of calls.
 *
 * soak_app is the soak test's app (tests/soak/soak.sh), in three modes:
 *   --serve ADDR   answers Soak.Call through the local mRPC service until SIGTERM (server.c);
 *   --call ADDR    keeps --window calls outstanding at most --rate calls/s until SIGTERM, then
 *                  waits for every call's outcome and prints its ledger as JSON (caller.c);
 *                  it survives its service or its peer going away: it reconnects, and every
 *                  call still ends once, with OK or a status;
 *   --read FILE    prints the ledger a caller left in FILE as JSON, also when it was killed
 *                  with SIGKILL (ledger.c).
 * The ledger (ledger.c) accounts for every call: its counters live in a file mapped shared, so
 * they survive kill -9; one bit per call says whether it ended, so a second ending is seen as a
 * duplicate and a call that never ends is counted as lost. */
#ifndef SOAK_APP_H
#define SOAK_APP_H

#include "soak.mrpc.h"

#include <stdbool.h>
#include <stdint.h>

#define SOAK_NSTATUS 17          /* PHX_OK .. PHX_DATA_LOSS, and the last for any other code */

typedef struct {
    enum { SOAK_NONE, SOAK_SERVE, SOAK_CALL, SOAK_READ } mode;
    const char *addr;            /* --serve / --call */
    const char *ledger;          /* --ledger FILE (caller), --read FILE */
    unsigned window;             /* calls outstanding at most */
    unsigned rate;               /* calls per second at most */
    unsigned timeout_ms;         /* each call's deadline */
    unsigned pad;                /* request padding bytes */
} soak_args_t;

/* The counters, as laid out in the ledger file (shared mapping: they outlive a kill -9). */
typedef struct {
    char magic[8];               /* "soakldg1" */
    uint64_t pid;
    uint64_t issued;             /* calls the library queued: each must end exactly once */
    uint64_t refused;            /* calls the library refused at once (their status counts) */
    uint64_t ended;              /* queued calls that ended (first ending only) */
    uint64_t status[SOAK_NSTATUS];   /* outcomes by code, refused calls included */
    uint64_t duplicated;         /* a second ending of a call, or one of a call never made */
    uint64_t mismatched;         /* an OK reply that answers another call */
    uint64_t lost;               /* queued, no ending by the drain's deadline (clean exit only) */
    uint64_t reconnects;         /* contexts or connections made again after a failure */
    uint64_t finished;           /* 1 once the caller drained and exited cleanly */
} soak_counters_t;

typedef struct soak_ledger soak_ledger_t;

soak_ledger_t *soak_ledger_create(const char *path, char *err, size_t errlen);
void soak_ledger_close(soak_ledger_t *l);
soak_counters_t *soak_ledger_counters(soak_ledger_t *l);
/* A new call number (from 1), marked outstanding; 0 when out of memory. */
uint64_t soak_ledger_issue(soak_ledger_t *l);
/* Call SEQ (0: the library refused to queue it) ended with CODE. */
void soak_ledger_end(soak_ledger_t *l, uint64_t seq, int code);
/* Calls issued that have not ended. */
uint64_t soak_ledger_outstanding(const soak_ledger_t *l);
/* Counts what never ended as lost, marks the ledger finished. */
void soak_ledger_finish(soak_ledger_t *l);
/* The counters as one JSON object on stdout; KILLED: the ledger of a process that did not
 * finish (its outstanding calls are abandoned, not lost). */
void soak_ledger_print(const soak_counters_t *c);
/* --read FILE: 0, or -1 after saying why. */
int soak_ledger_read(const char *path);

int soak_serve(const soak_args_t *a);
int soak_call(const soak_args_t *a);

#endif /* SOAK_APP_H */
