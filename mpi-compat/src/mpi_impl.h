/* mpi_impl.h - what libmrpc_mpi's parts share: the core's objects (communicators, groups,
 * requests, error handlers) and the entry points the collectives (coll_*.c, nbc.c) build on.
 *
 * Owner: core (env, errors, comm, group, request, p2p, match, fabric). The datatype engine has its
 * own header (dt.h), the reductions theirs (op.h), the collectives coll.h.
 *
 * Contexts: every communicator has two context ids, CONTEXT for point to point and CONTEXT + 1
 * for its collectives, so a collective's messages never match a user's receive. Inside the
 * collective context, tags >= 0 are the collectives' (coll_*.c, nbc.c) and tags < 0 the core's
 * own (communicator creation); the core checks neither there. */
#ifndef MPIX_MPI_IMPL_H
#define MPIX_MPI_IMPL_H

#include "mpi.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- objects -------------------------------------------------------------------------------- */

struct mpix_errhandler {
    bool fatal;                      /* ERRORS_ARE_FATAL: print the sentence, abort the job */
};

struct mpix_group {
    int   refs;                      /* 0 for the predefined MPI_GROUP_EMPTY: never freed */
    int   size;
    int  *world;                     /* world rank of each member, by rank in the group */
};

struct mpix_comm {
    uint32_t           magic;        /* MPIX_COMM_MAGIC while valid */
    uint32_t           context;      /* point to point; CONTEXT + 1 for collectives */
    int                rank, size;
    struct mpix_group *group;        /* the members, as world ranks */
    MPI_Errhandler     errhandler;
    int                refs;         /* 0 for the predefined ones: never freed */
    void              *coll;         /* the collectives' per-communicator state (coll owns it) */
    void             (*coll_free)(void *coll);   /* called on it when the communicator goes */
    struct mpix_attr  *attrs;        /* attribute values (attr.c) */
    bool               predefined;   /* has MPI_TAG_UB & co: WORLD and its duplicates */
};
#define MPIX_COMM_MAGIC 0x4d50434du

enum mpix_request_kind { MPIX_REQ_SEND, MPIX_REQ_RECV, MPIX_REQ_GENERALIZED };

/* A pending operation. The p2p fields are the core's; generalized requests are driven by their
 * PROGRESS function (mpix_request_generalized). */
struct mpix_request {
    enum mpix_request_kind kind;
    bool         done;               /* completed: STATUS holds its outcome */
    bool         freed;              /* MPI_Request_free'd while pending: released when done */
    bool         cancelled;
    bool         persistent;         /* MPI_Send_init & co: MPI_Start runs it again and again */
    bool         active;             /* persistent: started and not yet completed by Wait/Test */
    bool         starting;           /* persistent: MPI_Startall's mark while it checks its array */
    MPI_Status   status;
    char         why[256];           /* what went wrong, when STATUS.MPI_ERROR says something did */
    MPI_Comm     comm;
    /* point to point (p2p.c, match.c) */
    void        *buf;                /* the user's buffer */
    int          count;
    MPI_Datatype dt;
    uint32_t     context;
    int          peer, tag;          /* destination, or source/tag as posted (ANY_ allowed) */
    int          world_peer;         /* send: the destination's rank in MPI_COMM_WORLD */
    bool         sync;               /* Ssend/Issend: done when the receiver matched it */
    bool         started;            /* send: its first piece was handed to the fabric */
    bool         delivered;          /* send: every piece landed at the receiver */
    bool         acked;              /* sync send: the receiver said it matched */
    bool         cancel_wanted;      /* sync send: MPI_Cancel asked the receiver to withdraw it */
    uint64_t     id;                 /* sync send: the id its acknowledgement names */
    void        *packed;             /* send: packed copy of non-contiguous data (malloc) */
    const void  *zcopy;              /* send: the mRPC buffer DATA lies in (no copy), or NULL */
    const void  *data;               /* send: the bytes to send (BUF+offset or PACKED) */
    uint64_t     bytes;              /* send: their length */
    uint64_t     sent;               /* send: bytes handed to the fabric so far */
    int          pieces_out;         /* send: pieces handed over and not yet answered */
    struct mpix_inmsg *msg;          /* receive: the message it matched, while it arrives */
    struct mpix_request *next, *prev;/* the queue it is in (posted receives, a peer's sends) */
    struct mpix_request *inner;      /* persistent: the ordinary request of the current start */
    /* generalized */
    int        (*progress)(void *state, int *err);
    void       (*free_fn)(void *state);
    void        *state;
};

/* ---- errors (errors.c) ---------------------------------------------------------------------- */

/* Raises CODE (an error class) on C's error handler (MPI_COMM_WORLD's when C is null or invalid):
 * ERRORS_ARE_FATAL prints "MPI error: <the sentence FMT makes>" and aborts the job; ERRORS_RETURN
 * returns CODE. MPI_SUCCESS returns MPI_SUCCESS and says nothing. Every MPI_ function returns
 * through it. */
int  mpix_err(MPI_Comm c, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* MPI_SUCCESS once MPI_Init ran and MPI_Finalize did not, else MPI_ERR_OTHER with a sentence
 * naming FN (fatal: such a program cannot go on). */
int  mpix_check_init(const char *fn);

/* ---- communicators and groups (comm.c, group.c) --------------------------------------------- */

int  mpix_comm_rank(MPI_Comm c);
int  mpix_comm_size(MPI_Comm c);
int  mpix_comm_check(MPI_Comm c);     /* MPI_SUCCESS or MPI_ERR_COMM (null, freed, not one) */
int  mpix_comm_world_rank(MPI_Comm c, int rank);   /* a member's rank in MPI_COMM_WORLD */

/* ---- info objects (info.c) ----------------------------------------------------------------- */

/* MPI_SUCCESS for MPI_INFO_NULL or a valid info object, else MPI_ERR_INFO (nothing raised): what
 * a function that takes an info checks. */
int  mpix_info_check(MPI_Info info);

/* ---- point to point in the collective context (p2p.c) --------------------------------------- */

/* As MPI_Isend/MPI_Irecv, in COMM's collective context: any tag (no ANY_TAG), ranks checked. */
int mpix_coll_isend(const void *buf, int count, MPI_Datatype dt, int dest, int tag,
                    MPI_Comm comm, MPI_Request *req);
int mpix_coll_irecv(void *buf, int count, MPI_Datatype dt, int src, int tag,
                    MPI_Comm comm, MPI_Request *req);

/* ---- requests (request.c) ------------------------------------------------------------------- */

/* A request whose completion a collective schedule drives (non-blocking collectives): the
 * Wait/Test family calls PROGRESS until it returns 1 (done, *err set) and then FREE_FN(STATE). */
int  mpix_request_generalized(int (*progress)(void *state, int *err), void (*free_fn)(void *),
                              void *state, MPI_Comm comm, MPI_Request *req);

/* ---- waiting (wait.c) ----------------------------------------------------------------------- */

/* MPI_Wait of *RP (checked: not NULL) for a call of the library that waits on its own request:
 * an error is raised naming FN, the call the user made (MPI_Recv, MPI_Finalize, MPI_Bcast...). */
int  mpix_wait(MPI_Request *rp, MPI_Status *status, const char *fn);

/* ---- scratch buffers (scratch.c) ------------------------------------------------------------ */

/* A temporary buffer of at least BYTES (large ones reused from earlier releases), or NULL when
 * out of memory; given back with mpix_scratch_put (NULL is ignored). mpix_scratch_fini frees the
 * cached ones (MPI_Finalize). */
void *mpix_scratch_get(size_t bytes);
void  mpix_scratch_put(void *p);
void  mpix_scratch_fini(void);

/* ---- progress (fabric.c) -------------------------------------------------------------------- */

/* Drives the fabric once: sends what flow control allows, runs arrived messages and completions;
 * sleeps up to TIMEOUT_MS on the mRPC context's event fd when nothing happened locally since the
 * last call. Blocking waits loop on it. */
void mpix_progress(int timeout_ms);

#endif /* MPIX_MPI_IMPL_H */
