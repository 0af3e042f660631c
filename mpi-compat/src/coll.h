/* coll.h - the collectives' internals: a schedule (rounds of sends, receives and local steps)
 * that a generalized request drives to completion, and the algorithms that fill schedules.
 *
 * Every collective, blocking or not, is built as a schedule: the MPI_I* call builds it and
 * hands it to the core as a generalized request (mpix_request_generalized); the blocking call
 * builds the same schedule and waits for it. A schedule is a list of rounds; a round's sends
 * and receives are posted together, and once all of them completed its local steps (reduce,
 * copy, pack, unpack) run in the order they were added, then the next round starts. Messages
 * travel in the communicator's collective context (mpix_coll_isend/irecv) with the schedule's
 * tag: each collective on a communicator takes the next tag, so collectives in flight at the
 * same time never match each other's messages, and two messages between the same pair of ranks
 * inside one schedule match in order (MPI's non-overtaking rule).
 *
 * Owner: coll (coll_*.c, nbc.c). */
#ifndef MPIX_COLL_H
#define MPIX_COLL_H

#include "mpi_impl.h"

#include <stdbool.h>
#include <stddef.h>

struct coll_sched;

/* ---- the schedule engine (nbc.c) ------------------------------------------------------------ */

/* A new, empty schedule on COMM with the communicator's next collective tag; NULL when out of
 * memory. The first round is open. */
struct coll_sched *coll_sched_new(MPI_Comm comm);
/* Closes the open round (if it has steps) and opens the next one. */
void coll_round(struct coll_sched *s);
/* Steps of the open round. Buffers must stay valid until the schedule ends (the user's, or
 * coll_tmp's). COUNT elements of DT; a count of 0 still sends or receives an empty message. */
void coll_send(struct coll_sched *s, const void *buf, int count, MPI_Datatype dt, int peer);
void coll_recv(struct coll_sched *s, void *buf, int count, MPI_Datatype dt, int peer);
/* inout = in OP inout (COUNT elements of DT), after the round's messages. */
void coll_reduce(struct coll_sched *s, MPI_Op op, const void *in, void *inout, int count,
                 MPI_Datatype dt);
void coll_copy(struct coll_sched *s, const void *src, void *dst, size_t bytes);
void coll_pack(struct coll_sched *s, const void *buf, int count, MPI_Datatype dt, void *out);
void coll_unpack(struct coll_sched *s, const void *in, void *buf, int count, MPI_Datatype dt);
/* COUNT elements of STYPE at SRC to DST as RTYPE elements (same type signature, any layouts). */
void coll_copy_typed(struct coll_sched *s, const void *src, int scount, MPI_Datatype stype,
                     void *dst, int rcount, MPI_Datatype rtype);
/* A scratch buffer of BYTES (at least 1) freed with the schedule; NULL when out of memory
 * (the schedule then fails to start). */
void *coll_tmp(struct coll_sched *s, size_t bytes);
/* A scratch buffer for COUNT elements of DT, as coll_tmp: the pointer to pass as their buffer
 * (their data lies where DT's bounds say, which for a non-zero lower bound is not the start of
 * what was allocated). */
void *coll_tmp_typed(struct coll_sched *s, int count, MPI_Datatype dt);
/* Keeps DT / OP alive while the schedule runs (a user may free them after MPI_I* returns). */
void coll_hold_dt(struct coll_sched *s, MPI_Datatype dt);
void coll_hold_op(struct coll_sched *s, MPI_Op op);
/* Starts S as the generalized request *REQ; frees S and returns an error class on failure
 * (out of memory while building). FN names the MPI call for error messages. */
int coll_start(struct coll_sched *s, MPI_Request *req, const char *fn);
/* Blocking form: starts S and waits for it. */
int coll_run(struct coll_sched *s, const char *fn);
/* What every collective's MPI_ function ends with: with NB coll_start, else coll_run. S may be
 * NULL (coll_sched_new ran out of memory): both report that, naming FN. */
int coll_go(struct coll_sched *s, MPI_Request *req, bool nb, const char *fn);
/* Drives S to its end without a request (engine tests; blocking collectives use coll_run). */
int coll_sched_drive(struct coll_sched *s);
void coll_sched_free(struct coll_sched *s);

/* ---- algorithms: each appends its rounds to S (coll_*.c) ------------------------------------ */

void coll_barrier(struct coll_sched *s);
/* BUF is COUNT elements of DT on every rank; ROOT's are sent to all. */
void coll_bcast(struct coll_sched *s, void *buf, int count, MPI_Datatype dt, int root);
/* SEND may be MPI_IN_PLACE at the root; RECV matters at the root only. */
void coll_reduce_to(struct coll_sched *s, const void *send, void *recv, int count,
                    MPI_Datatype dt, MPI_Op op, int root);
void coll_allreduce(struct coll_sched *s, const void *send, void *recv, int count,
                    MPI_Datatype dt, MPI_Op op);
/* RECVCOUNTS[i] elements of the reduction go to rank i; SEND may be MPI_IN_PLACE (input in
 * RECV then, all of it). */
void coll_reduce_scatter(struct coll_sched *s, const void *send, void *recv,
                         const int recvcounts[], MPI_Datatype dt, MPI_Op op);
void coll_scan(struct coll_sched *s, const void *send, void *recv, int count, MPI_Datatype dt,
               MPI_Op op, bool exclusive);

/* The data-movement collectives, with MPI's arguments (MPI_IN_PLACE as MPI allows). */
struct coll_args {
    const void *sbuf; int scount; const int *scounts, *sdispls; MPI_Datatype stype;
    void *rbuf; int rcount; const int *rcounts, *rdispls; MPI_Datatype rtype;
    int root;
};
void coll_gather(struct coll_sched *s, const struct coll_args *a);
void coll_gatherv(struct coll_sched *s, const struct coll_args *a);
void coll_scatter(struct coll_sched *s, const struct coll_args *a);
void coll_scatterv(struct coll_sched *s, const struct coll_args *a);
void coll_allgather(struct coll_sched *s, const struct coll_args *a);
void coll_allgatherv(struct coll_sched *s, const struct coll_args *a);
void coll_alltoall(struct coll_sched *s, const struct coll_args *a);
void coll_alltoallv(struct coll_sched *s, const struct coll_args *a);

/* ---- shared by the algorithms (nbc.c) ----------------------------------------------------- */

int  coll_rank(const struct coll_sched *s);
int  coll_size(const struct coll_sched *s);
/* Largest power of two <= N (N >= 1). */
int  coll_pof2(int n);
/* Message size (bytes of data) from which the large-message algorithms are used. */
#define COLL_LARGE (64 * 1024)

#endif /* MPIX_COLL_H */
