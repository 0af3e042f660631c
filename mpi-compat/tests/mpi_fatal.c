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
 *             class within 2 s, also those waiting at that moment for a live rank that itself
 *             gave up the collective. The survivors ignore mrpc-run's SIGTERM and stay alive after their
 *             error (mrpc-run kills them 3 s after rank 1 died), so none of them is rescued by
 *             another's exit; each prints one ok: line (run_mpi.sh --expect-oks counts them).
 *   die-finalize  rank 1 leaves with status 0 without MPI_Finalize (so mrpc-run sees no failure
 *             and ends nobody) while the others are in MPI_Finalize: theirs must end the job with
 *             a sentence naming MPI_Finalize and rank 1 instead of waiting for it forever.
 * Prints "FAILED:" if the program gets past the error. */
#include "mpi_check.h"

#include <signal.h>
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

static void kill_self(int sig)
{
    (void)sig;
    kill(getpid(), SIGKILL);
}

/* One iteration of the collectives' loop: the first error class, or MPI_SUCCESS; *WHAT names
 * the call that returned it. */
static int coll_iteration(int it, int *small, int *large, int n_large, char *bc, const char **what)
{
    int rc, size;

    MPI_Comm_size(MPI_COMM_WORLD, &size);
    *what = "MPI_Allreduce of 16 ints";
    if ((rc = MPI_Allreduce(MPI_IN_PLACE, small, 16, MPI_INT, MPI_MAX, MPI_COMM_WORLD)) != MPI_SUCCESS)
        return rc;
    *what = "MPI_Allreduce of 64 KiB";
    if ((rc = MPI_Allreduce(MPI_IN_PLACE, large, n_large, MPI_INT, MPI_BOR, MPI_COMM_WORLD)) != MPI_SUCCESS)
        return rc;
    *what = "MPI_Bcast of 4 KiB";
    return MPI_Bcast(bc, 4096, MPI_CHAR, it % size, MPI_COMM_WORLD);
}

/* Rank 1 dies inside the loop; every other rank's collective fails within 2 s. */
static void die_coll(int rank)
{
    enum { N_LARGE = 16384, ARM_AT = 20, MAX_ITER = 100000 };
    static int small[16], large[N_LARGE];
    static char bc[4096];
    const char *what = "";
    int rc = MPI_SUCCESS, it;

    signal(SIGTERM, SIG_IGN);
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    double begin = MPI_Wtime(), prev = begin, now = begin;
    for (it = 0; it < MAX_ITER && now - begin < 60 && rc == MPI_SUCCESS; it++) {
        if (rank == 1 && it == ARM_AT) {
            struct itimerval t = { .it_value = { .tv_usec = 30000 } };
            signal(SIGALRM, kill_self);
            setitimer(ITIMER_REAL, &t, NULL);
        }
        prev = now;                     /* the death came after the previous iteration began */
        rc = coll_iteration(it, small, large, N_LARGE, bc, &what);
        now = MPI_Wtime();
    }
    double took = now - prev;
    int cls = -1, len = 0;
    char text[MPI_MAX_ERROR_STRING] = "";
    MPI_Error_class(rc, &cls);
    MPI_Error_string(rc, text, &len);
    /* Rank 1 began iteration ARM_AT, so it had finished the Allreduces of ARM_AT - 1: no rank
     * is behind that iteration (its Bcast may still wait for rank 1's last frames). */
    if (rc != MPI_SUCCESS && it >= ARM_AT && took < 2.0)
        OK("%s failed at iteration %d, %.2f s after the previous iteration began: class %d (%s)",
           what, it - 1, took, cls, text);
    else
        CHECK(0, "after %d iterations, %s returned %d after %.2f s (rank 1 died after iteration %d)",
              it, what, rc, took, ARM_AT);
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
    const char *mode = argc > 1 ? argv[1] : "";

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
    } else if (!strcmp(mode, "die-coll")) {
        die_coll(rank);
    } else if (!strcmp(mode, "die-finalize")) {
        die_finalize(rank);
        printf("FAILED: rank %d: MPI_Finalize returned though rank 1 never called it\n", rank);
        return 1;
    }
    printf("FAILED: rank %d went on after the error (mode '%s')\n", rank, mode);
    MPI_Finalize();
    return 1;
}
