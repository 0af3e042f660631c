/* rank_probe.c - checks libmrpc's rank API (mrpc_rank_publish/barrier/lookup) against mrpc-run.
 *
 *     rank_probe outside        run without mrpc-run: every call is FAILED_PRECONDITION
 *     mrpc-run -n 2 rank_probe  each rank: lookup before any barrier fails, a value with a blank
 *                               is INVALID_ARGUMENT, after publish + barrier the other rank's
 *                               value is seen, a rank outside the job is INVALID_ARGUMENT; then
 *                               rank 1 exits and rank 0's next barrier is ABORTED.
 * Prints "ok: ..." per check, "FAILED: ..." and exits 1 on the first that does not hold. */
#include <mrpc/mrpc.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int rank = -1;

static void expect(const char *what, mrpc_status_t st, phx_status_t want)
{
    if (st.code != want) {
        printf("FAILED: rank %d: %s: got %s (%s), want %s\n", rank, what, phx_status_name(st.code),
               st.message, phx_status_name(want));
        exit(1);
    }
    printf("ok: rank %d: %s: %s%s%s\n", rank, what, phx_status_name(st.code), *st.message ? ": " : "",
           st.message);
}

int main(int argc, char **argv)
{
    char v[MRPC_RANK_VALUE_MAX], mine[32], theirs[32];

    if (argc == 2 && strcmp(argv[1], "outside") == 0) {
        expect("barrier outside mrpc-run", mrpc_rank_barrier(), PHX_FAILED_PRECONDITION);
        expect("publish outside mrpc-run", mrpc_rank_publish("x"), PHX_FAILED_PRECONDITION);
        expect("lookup outside mrpc-run", mrpc_rank_lookup(0, v, sizeof v), PHX_FAILED_PRECONDITION);
        return 0;
    }
    if (!getenv("MRPC_RANK") || strcmp(getenv("MRPC_SIZE") ? getenv("MRPC_SIZE") : "", "2") != 0) {
        printf("FAILED: run as mrpc-run -n 2 rank_probe\n");
        return 1;
    }
    rank = atoi(getenv("MRPC_RANK"));
    expect("lookup before a barrier", mrpc_rank_lookup(0, v, sizeof v), PHX_FAILED_PRECONDITION);
    expect("publish with a blank", mrpc_rank_publish("a b"), PHX_INVALID_ARGUMENT);
    snprintf(mine, sizeof mine, "r%d:%d", rank, 7000 + rank);
    snprintf(theirs, sizeof theirs, "r%d:%d", 1 - rank, 7000 + 1 - rank);
    expect("publish", mrpc_rank_publish(mine), PHX_OK);
    expect("barrier", mrpc_rank_barrier(), PHX_OK);
    expect("lookup of the other rank", mrpc_rank_lookup(1 - rank, v, sizeof v), PHX_OK);
    if (strcmp(v, theirs) != 0) {
        printf("FAILED: rank %d: the other rank's value is '%s', want '%s'\n", rank, v, theirs);
        return 1;
    }
    expect("lookup of rank 5 in a job of 2", mrpc_rank_lookup(5, v, sizeof v), PHX_INVALID_ARGUMENT);
    if (rank == 1)
        return 0;                       /* leaves rank 0 alone at the next barrier */
    expect("barrier after rank 1 exited", mrpc_rank_barrier(), PHX_ABORTED);
    return 0;
}
