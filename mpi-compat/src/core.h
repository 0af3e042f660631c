/* core.h - what the core's files of libmrpc_mpi (env, errors, comm, group, request, wait, p2p,
 * match, fabric) share and nobody else needs: the process's MPI state, and the interfaces
 * between matching, point to point and the fabric that carries frames over mRPC.
 *
 * Data path: p2p.c checks arguments and makes requests; a send goes to fabric.c (another rank:
 * pieces as mRPC calls, flow-controlled) or straight to match.c (this rank); every frame that
 * arrives, in its sender's order, goes to match.c, which pairs messages with posted receives
 * (MPI's matching rules) and completes them. */
#ifndef MPIX_CORE_H
#define MPIX_CORE_H

#include "mpi_impl.h"

#include <stddef.h>

/* ---- the process (env.c) -------------------------------------------------------------------- */

struct mpix_env {
    int  state;                      /* MPIX_BEFORE, MPIX_RUNNING, MPIX_AFTER */
    int  thread;                     /* the level provided */
    int  world_rank, world_size;
    char node[MPI_MAX_PROCESSOR_NAME];
};
enum { MPIX_BEFORE, MPIX_RUNNING, MPIX_AFTER };
extern struct mpix_env mpix_env;

/* Bumped whenever something completes or arrives locally: a wait only sleeps when it did not move
 * since its last look (request.c, fabric.c, match.c bump it). */
extern unsigned long mpix_activity;

/* ---- errors (errors.c) ---------------------------------------------------------------------- */

/* Copies the sentence SRC into DST (SIZE bytes), cut to fit. */
void mpix_text_copy(char *dst, size_t size, const char *src);
/* Ends the job after a fatal error or MPI_Abort: says why on stderr, exits with CODE. */
_Noreturn void mpix_die(int code);

/* ---- requests (request.c) ------------------------------------------------------------------- */

struct mpix_request *mpix_request_new(enum mpix_request_kind kind, MPI_Comm comm);
/* Marks R done (its status set), bumps mpix_activity; a freed R is released. */
void mpix_request_complete(struct mpix_request *r);
/* Releases R's resources (its packed copy, its datatype and communicator holds) and R. */
void mpix_request_release(struct mpix_request *r);
/* Whether R is done; a generalized R is driven by its progress function. */
bool mpix_request_test(struct mpix_request *r);
/* Copies R's outcome into STATUS (may be MPI_STATUS_IGNORE) and releases R (*RP = NULL); a
 * persistent R becomes inactive instead, its handle kept. Returns R's error class. */
int  mpix_request_finish(MPI_Request *rp, MPI_Status *status);
/* The status of a request that never had anything to do (PROC_NULL, MPI_REQUEST_NULL). */
void mpix_status_empty(MPI_Status *status);
/* Whether R is active: not MPI_REQUEST_NULL, nor a persistent request not started (the Wait and
 * Test families treat both as inactive: empty status, nothing to wait for). */
bool mpix_request_active(const struct mpix_request *r);

/* ---- communicators (comm.c, comm_agree.c) --------------------------------------------------- */

void mpix_comm_init(void);                       /* MPI_COMM_WORLD and MPI_COMM_SELF */
void mpix_comm_retain(MPI_Comm c);
void mpix_comm_release(MPI_Comm c);
/* The next four are collective over their communicator; FN is the user's call they serve, which
 * an error names (raised on the communicator's handler). A new context id that no member of
 * PARENT uses, in *CONTEXT: */
int  mpix_comm_agree_context(MPI_Comm parent, uint32_t *context, const char *fn);
/* Returns once every member of C called it (a barrier over the fabric, which keeps serving). */
int  mpix_comm_sync(MPI_Comm c, const char *fn);
/* Every member's N ints, gathered into ALL (size * N, by rank), on every member. */
int  mpix_comm_allgather_ints(MPI_Comm parent, const int *mine, int n, int *all, const char *fn);
/* MPI_Comm_split of checked arguments (COLOR >= 0 or MPI_UNDEFINED, NEWCOMM not NULL). */
int  mpix_comm_split(MPI_Comm comm, int color, int key, MPI_Comm *newcomm, const char *fn);

struct mpix_group *mpix_group_new(int size);
void mpix_group_retain(struct mpix_group *g);
void mpix_group_release(struct mpix_group *g);
/* G's rank of world rank WORLD, or MPI_UNDEFINED. */
int  mpix_group_rank_of(const struct mpix_group *g, int world);

/* ---- attributes (attr.c) ------------------------------------------------------------------- */

/* MPI_Comm_dup: FROM's values, through their keyvals' copy callbacks, onto TO. MPI_SUCCESS or the
 * failing callback's code (TO keeps what was copied before it). */
int  mpix_attr_copy(MPI_Comm from, MPI_Comm to);
/* Deletes C's values (delete callbacks) until one refuses; MPI_SUCCESS or its code. */
int  mpix_attr_delete_all(MPI_Comm c);
void mpix_attr_fini(void);

/* ---- matching (match.c) --------------------------------------------------------------------- */

/* What the first frame of a message says. */
struct mpix_envelope {
    uint32_t context;
    int      source, tag;            /* source: the sender's rank in the communicator */
    int      world;                  /* the sender's world rank */
    uint64_t total;                  /* the message's bytes */
    uint64_t sync_id;                /* not 0: acknowledge the match with this id */
};

void mpix_match_init(int world_size);
void mpix_match_fini(void);
/* LEN bytes of the message ENV describes, at OFFSET, arrived from ENV->world (pieces of one
 * message arrive in order, messages of one sender in the order sent). */
void mpix_match_arrive(const struct mpix_envelope *env, uint64_t offset, const void *data,
                       size_t len);
/* A receive: matched with the oldest fitting message that arrived, or queued for the next. */
void mpix_match_post(struct mpix_request *r);
/* Whether a message that fits (CONTEXT, SOURCE, TAG) arrived and is unclaimed; its envelope in
 * STATUS. */
bool mpix_match_probe(uint32_t context, int source, int tag, MPI_Status *status);
/* World rank WORLD is gone (WHY): the receives only it could satisfy fail, as do those from any
 * source of a communicator it belongs to, every collective's receive over such a communicator,
 * and one its message was arriving into; so do such receives posted later. Once closing, only
 * those that name WORLD as their source, and the one its message was arriving into. */
void mpix_match_peer_lost(int world, const char *why);
/* MPI_Finalize began: ranks that are done may leave (see mpix_match_peer_lost and _ping_sources). */
void mpix_match_closing(void);
/* Pings (mpix_fabric_ping) every rank a posted receive waits for: its source; for a collective's
 * receive, every member of its communicator; for MPI_ANY_SOURCE, the members of its communicator
 * this rank has talked to (a large job's wildcard receive does not connect to every rank).
 * Once closing (MPI_Finalize, where members that are done may be gone): only the sources that
 * receives name, which cannot have finished without sending what they wait for. */
void mpix_match_ping_sources(void);
/* Withdraws a receive no message matched yet: true when done so. */
bool mpix_match_cancel(struct mpix_request *r);
/* Withdraws the whole, unclaimed message of synchronous send SYNC_ID from world rank WORLD (its
 * sender cancels it): true when done so; false when a receive took it or it is not there. */
bool mpix_match_withdraw(int world, uint64_t sync_id);

/* ---- point to point (p2p.c) ----------------------------------------------------------------- */

/* The request of a send or receive of KIND in COMM with the call's arguments: a send's SENDBUF
 * (DATA) or a receive's RECVBUF (BUF), COUNT elements of DT (held until the request is
 * released), PEER and TAG as given. NULL when out of memory. */
struct mpix_request *mpix_p2p_request(enum mpix_request_kind kind, MPI_Comm comm,
                                      const void *sendbuf, void *recvbuf, int count,
                                      MPI_Datatype dt, int peer, int tag);

/* The receiver acknowledged synchronous send ID: it may complete. */
void mpix_p2p_acked(uint64_t id);
/* Send R's pieces are all handed over and answered (ERR: how it went): it may complete. */
void mpix_p2p_delivered(struct mpix_request *r, int err);
/* The receiver withdrew synchronous send ID, unmatched: it completes as cancelled. */
void mpix_p2p_cancelled(uint64_t id);
/* MPI_Cancel of send R: withdrawn if it can be, else it completes as it would have. */
void mpix_p2p_cancel(struct mpix_request *r);

/* Checks a send's (RECV false) or receive's arguments as MPI_Isend and MPI_Irecv do: MPI_SUCCESS,
 * or the error raised on COMM naming FN. */
int  mpix_p2p_check(const char *fn, MPI_Comm comm, int count, MPI_Datatype dt, int peer, int tag,
                    bool recv);
/* A send (SYNC: synchronous) or receive in COMM's point-to-point context with checked arguments,
 * as MPI_Isend/MPI_Issend/MPI_Irecv make it (persistent requests start theirs so). */
int  mpix_p2p_isend(const void *buf, int count, MPI_Datatype dt, int dest, int tag,
                    MPI_Comm comm, bool sync, MPI_Request *req);
int  mpix_p2p_irecv(void *buf, int count, MPI_Datatype dt, int src, int tag, MPI_Comm comm,
                    MPI_Request *req);

/* ---- the fabric (fabric.c) ------------------------------------------------------------------ */

/* Under mrpc-run: registers with the node's service, serves on MRPC_HOST, publishes the address
 * and waits for every rank (barrier). 0, or -1 with the reason in WHY. */
int  mpix_fabric_start(char *why, size_t len);
/* MPI_Finalize has begun on every rank that matters: a peer that closed its end after taking
 * the last frames is no error any more, but one a ping finds gone still is when a receive names
 * it (its receiver waits for it: it died instead of finalizing). Pings asked for earlier waits
 * are dropped, and matching is told (mpix_match_closing). */
void mpix_fabric_closing(void);
void mpix_fabric_stop(void);
/* Queues send R (R->world_peer not this rank) behind the earlier ones to that rank. */
void mpix_fabric_send(struct mpix_request *r);
/* Sends WORLD an empty frame, unless one is out already (or, KNOWN_ONLY, no connection was
 * made to it yet): if WORLD is gone, it fails. */
void mpix_fabric_ping(int world, bool known_only);
/* MPI_Alloc_mem: a buffer of SIZE bytes in the send heap (sends from it go without a copy), or
 * NULL (no service: a singleton; SIZE 0; the heap full) for the caller to malloc instead. */
void *mpix_fabric_mem_alloc(size_t size);
/* MPI_Free_mem: frees BASE if it is such a buffer (put off while the service reads it) and says
 * true; false when it is none (the caller's malloc'd memory). */
bool  mpix_fabric_mem_free(void *base);
/* Bytes of sends the fabric copied into the send heap, and sent from buffers without a copy,
 * and the pieces of messages it sent (tests read them: mpi_zcopy.c). */
struct mpix_fabric_stats { uint64_t copied_bytes, zcopy_bytes, pieces; };
extern struct mpix_fabric_stats mpix_fabric_stats;
/* Queues an acknowledgement of synchronous send ID to WORLD. */
void mpix_fabric_ack(int world, uint64_t id);
/* Takes send R off its peer's queue if none of it went out yet: true when done so. */
bool mpix_fabric_withdraw(struct mpix_request *r);
/* Asks R's receiver to withdraw synchronous send R (once all its pieces are out); its answer
 * comes as mpix_p2p_cancelled(), or, when a receive took it, as the ordinary acknowledgement. */
void mpix_fabric_cancel(struct mpix_request *r);

#endif /* MPIX_CORE_H */
