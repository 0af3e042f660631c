/* mpi_fatal.c MODE - an erroneous MPI program: under MPI_ERRORS_ARE_FATAL (the default) the
 * error must end the whole job with a sentence naming it, never hang nor go on.
 *   rank      rank 1 sends to a rank outside MPI_COMM_WORLD
 *   truncate  rank 0 receives 8 ints into room for 2
 *   abort     rank 1 calls MPI_Abort(MPI_COMM_WORLD, 7) while rank 0 waits for a message
 *   die       rank 1 is killed (SIGKILL) while rank 0 waits for its message with
 *             MPI_ERRORS_RETURN: the receive must fail within 2 s (rank 0 ignores the SIGTERM
 *             mrpc-run sends when a rank dies, so the library's own detection is what is tested)
 *   die-coll  rank 1 is killed (SIGKILL, from a timer, so most likely inside a collective) while
 *             every rank loops on MPI_Allreduce (small: recursive doubling; 64 KiB: the ring) and
 *             MPI_Bcast with MPI_ERRORS_RETURN: every other rank's collective must return an error
 *             class within 2 s of the death (a time all ranks agreed on), also those waiting at
 *             that moment for a live rank that itself gave up the collective. The survivors ignore mrpc-run's SIGTERM and stay alive after their
 *             error (mrpc-run kills them 3 s after rank 1 died), so none of them is rescued by
 *             another's exit; each prints one ok: line (run_mpi.sh --expect-oks counts them).
 *   die-coll-fatal   the same loop under MPI_ERRORS_ARE_FATAL, rank 1 leaving with status 0
 *             (an _exit from the timer): a survivor's error line must name the collective it
 *             called (MPI_Allreduce, MPI_Bcast), never the waits inside it.
 *   die-icoll-fatal  the same with MPI_Iallreduce/MPI_Ibcast, each completed by MPI_Wait: the
 *             error line names MPI_Wait, the call the error came out of.
 *   no-address  rank 1 never calls MPI_Init: it meets MPI_Init's barrier through libmrpc
 *             without publishing an address, as a rank whose mrpc-run exchanged nothing would;
 *             rank 0's send to it must end the job with a sentence saying rank 1 has no address.
 *   die-finalize  rank 1 leaves with status 0 without MPI_Finalize (so mrpc-run sees no failure
 *             and ends nobody) while the others are in MPI_Finalize: theirs must end the job with
 *             a sentence naming MPI_Finalize and rank 1 instead of waiting for it forever.
 * Prints "FAILED:" if the program gets past the error. */
#include "mpi_check.h"

#include <mrpc/mrpc.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

/* Rank 1 dies; rank 0's receive from it fails, soon. */
static void die(int rank)
{
    int v = 0;
    if (rank == 1) {
        MPI_Send(&v, 1, MPI_INT, 0, 0, MPI_COMM_WORLD);      /* rank 0 is connected to us */
        MPI_Recv(&v, 1, MPI_INT, 0, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        raise(SIGKILL);
    }
    if (rank != 0)
        return;
    signal(SIGTERM, SIG_IGN);
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Recv(&v, 1, MPI_INT, 1, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    MPI_Send(&v, 1, MPI_INT, 1, 0, MPI_COMM_WORLD);
    double t0 = MPI_Wtime();
    int rc = MPI_Recv(&v, 1, MPI_INT, 1, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE), cls = -1;
    double took = MPI_Wtime() - t0;
    MPI_Error_class(rc, &cls);
    if (rc != MPI_SUCCESS && took < 2.0)
        printf("ok: rank 0: a receive from a dead rank failed after %.2f s (class %d)\n", took, cls);
    else
        printf("FAILED: rank 0: the receive from a dead rank returned %d after %.2f s\n", rc, took);
    fflush(stdout);
    _exit(0);                   /* MPI_Finalize would wait for the dead rank */
}

/* die-coll*-fatal: rank 1 leaves with status 0 instead, so the job's status is the class of the
 * first survivor's error, not 137 or 15 as mrpc-run happens to reap rank 1 or that survivor. */
static bool leave_quietly;

static void kill_self(int sig)
{
    (void)sig;
    if (leave_quietly)
        _exit(0);
    kill(getpid(), SIGKILL);
}

/* MPI_Allreduce of N ints in place, or with NB MPI_Iallreduce and MPI_Wait. */
static int allreduce(int *buf, int n, MPI_Op op, bool nb)
{
    MPI_Request r;
    if (!nb)
        return MPI_Allreduce(MPI_IN_PLACE, buf, n, MPI_INT, op, MPI_COMM_WORLD);
    int rc = MPI_Iallreduce(MPI_IN_PLACE, buf, n, MPI_INT, op, MPI_COMM_WORLD, &r);
    return rc == MPI_SUCCESS ? MPI_Wait(&r, MPI_STATUS_IGNORE) : rc;
}

/* MPI_Bcast of N chars, or with NB MPI_Ibcast and MPI_Wait. */
static int bcast(char *buf, int n, int root, bool nb)
{
    MPI_Request r;
    if (!nb)
        return MPI_Bcast(buf, n, MPI_CHAR, root, MPI_COMM_WORLD);
    int rc = MPI_Ibcast(buf, n, MPI_CHAR, root, MPI_COMM_WORLD, &r);
    return rc == MPI_SUCCESS ? MPI_Wait(&r, MPI_STATUS_IGNORE) : rc;
}

/* One iteration of the collectives' loop (NB: their non-blocking forms): the first error class,
 * or MPI_SUCCESS; *WHAT names the call that returned it. */
static int coll_iteration(int it, int *small, int *large, int n_large, char *bc, bool nb,
                          const char **what)
{
    int rc, size;

    MPI_Comm_size(MPI_COMM_WORLD, &size);
    *what = "MPI_Allreduce of 16 ints";
    if ((rc = allreduce(small, 16, MPI_MAX, nb)) != MPI_SUCCESS)
        return rc;
    *what = "MPI_Allreduce of 64 KiB";
    if ((rc = allreduce(large, n_large, MPI_BOR, nb)) != MPI_SUCCESS)
        return rc;
    *what = "MPI_Bcast of 4 KiB";
    return bcast(bc, 4096, it % size, nb);
}

/* After the warm-up (every connection made), rank 0 names the time rank 1 is to die, DIE_IN s
 * ahead on MPI_Wtime's clock (CLOCK_MONOTONIC: the same clock in every rank of this one-node
 * job), and rank 1 arms its timer for it. The survivors measure their delay from that time, not
 * from the start of an iteration that under load may have begun long before the death. */
static double plan_death(int rank)
{
    const double DIE_IN = 0.2;
    double death = MPI_Wtime() + DIE_IN;

    MPI_Bcast(&death, 1, MPI_DOUBLE, 0, MPI_COMM_WORLD);
    if (rank == 1) {
        long us = (long)((death - MPI_Wtime()) * 1e6);
        us = us > 0 ? us : 1;           /* late already: at once */
        struct itimerval t = { .it_value = { .tv_sec = us / 1000000, .tv_usec = us % 1000000 } };
        signal(SIGALRM, kill_self);
        setitimer(ITIMER_REAL, &t, NULL);
    }
    return death;
}

/* Rank 1 dies inside the loop; every other rank's collective fails within 2 s of the death. With
 * FATAL the error ends the rank (its line is what the test checks); NB: the non-blocking
 * collectives. */
static void die_coll(int rank, bool fatal, bool nb)
{
    enum { N_LARGE = 16384, WARM_UP = 20, MAX_ITER = 100000 };
    static int small[16], large[N_LARGE];
    static char bc[4096];
    const char *what = "";
    int rc = MPI_SUCCESS, it;

    signal(SIGTERM, SIG_IGN);
    leave_quietly = fatal;
    if (!fatal)
        MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    double begin = MPI_Wtime(), now = begin, death = begin + 3600;
    for (it = 0; it < MAX_ITER && now - begin < 60 && rc == MPI_SUCCESS; it++) {
        if (it == WARM_UP)
            death = plan_death(rank);
        rc = coll_iteration(it, small, large, N_LARGE, bc, nb, &what);
        now = MPI_Wtime();
    }
    double took = now - death;
    int cls = -1, len = 0;
    char text[MPI_MAX_ERROR_STRING] = "";
    MPI_Error_class(rc, &cls);
    MPI_Error_string(rc, text, &len);
    if (rc != MPI_SUCCESS && took >= 0 && took < 2.0)
        OK("%s failed at iteration %d, %.2f s after rank 1 died: class %d (%s)",
           what, it - 1, took, cls, text);
    else
        CHECK(0, "after %d iterations, %s returned %d %.2f s after rank 1 was to die (after "
              "iteration %d)", it, what, rc, took, WARM_UP);
    sleep(10);                  /* alive until mrpc-run ends the job: no survivor exits first */
    _exit(0);                   /* MPI_Finalize would wait for the dead rank */
}

/* Rank 1 goes without finalizing once every rank is at MPI_Finalize; the others' must fail. */
static void die_finalize(int rank)
{
    MPI_Barrier(MPI_COMM_WORLD);
    if (rank == 1) {
        usleep(200000);             /* the others are in MPI_Finalize's barrier, waiting */
        _exit(0);
    }
    MPI_Finalize();
}

int main(int argc, char **argv)
{
    int rank, size, v[8] = { 0 };
    const char *mode = argc > 1 ? argv[1] : "", *me = getenv("MRPC_RANK");

    if (!strcmp(mode, "no-address") && me && !strcmp(me, "1")) {
        mrpc_status_t st = mrpc_rank_barrier();
        if (st.code != PHX_OK)
            printf("FAILED: rank 1: the bare barrier: %s\n", st.message);
        sleep(5);   /* alive until rank 0's send has failed and mrpc-run ended the job */
        return 0;
    }
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (!strcmp(mode, "rank")) {
        if (rank == 1)
            MPI_Send(v, 1, MPI_INT, size + 1, 0, MPI_COMM_WORLD);
        else
            MPI_Recv(v, 1, MPI_INT, 1, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    } else if (!strcmp(mode, "truncate")) {
        if (rank == 1) {
            MPI_Send(v, 8, MPI_INT, 0, 0, MPI_COMM_WORLD);
            MPI_Recv(v, 1, MPI_INT, 0, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE);   /* never comes */
        } else
            MPI_Recv(v, 2, MPI_INT, 1, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    } else if (!strcmp(mode, "abort")) {
        if (rank == 1)
            MPI_Abort(MPI_COMM_WORLD, 7);
        else
            MPI_Recv(v, 1, MPI_INT, 1, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    } else if (!strcmp(mode, "die")) {
        die(rank);
    } else if (!strcmp(mode, "die-coll") || !strcmp(mode, "die-coll-fatal")) {
        die_coll(rank, strcmp(mode, "die-coll") != 0, false);
    } else if (!strcmp(mode, "die-icoll-fatal")) {
        die_coll(rank, true, true);
    } else if (!strcmp(mode, "no-address")) {
        MPI_Send(v, 1, MPI_INT, 1, 0, MPI_COMM_WORLD);
    } else if (!strcmp(mode, "die-finalize")) {
        die_finalize(rank);
        printf("FAILED: rank %d: MPI_Finalize returned though rank 1 never called it\n", rank);
        return 1;
    }
    printf("FAILED: rank %d went on after the error (mode '%s')\n", rank, mode);
    MPI_Finalize();
    return 1;
}
