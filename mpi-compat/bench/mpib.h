/*
 * mpib.h - what the mpi-compat micro-benchmarks (mpib_*.c) share: options, buffers, timing and
 * the OSU-like table they print. Plain MPI-3.1 C and POSIX only, so every program builds
 * unchanged with mrpc-mpicc, Open MPI's mpicc and MPICH's; they are our own programs of the kind
 * the popular suites are (docs/mpi.md, "Micro-benchmarks").
 *
 * Every MPI call is checked: MPI_COMM_WORLD returns errors (MPI_ERRORS_RETURN) and a failed
 * call prints the function and MPI_Error_string's text on stderr, then MPI_Abort ends the job.
 * Output (rank 0): '#' header lines (program, MPI version, library, processor name, MPI_Wtick),
 * one row per size "SIZE VALUE..." and a closing "# ok: PROGRAM: N rows" line.
 */
#ifndef MPIB_H
#define MPIB_H

#define _POSIX_C_SOURCE 200809L   /* getopt */

#include <mpi.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MPIB_LARGE 8192          /* above this size: iterations / 10, as the suites do */
#define MPIB_MAX_SIZES 64
#define MPIB_WAIT_S 60.0         /* a non-blocking operation still pending after this aborts */

struct mpib_opts {
    size_t min_size, max_size;   /* -s MIN:MAX bytes, doubling, or -s A,B,C (ascending) */
    size_t sizes[MPIB_MAX_SIZES];
    int nsizes;
    int iters, warmup;           /* -i, -x: per size (divided by 10 above MPIB_LARGE) */
    int window;                  /* -W: messages in flight (bandwidth, message rate) */
    int alloc_mem;               /* -M: buffers from MPI_Alloc_mem instead of malloc */
    int bidir;                   /* -B: both directions at once (bandwidth) */
    int nonblocking;             /* -N: the collective's non-blocking form, MPI_Test progress */
    const char *coll;            /* -c: which collective */
};

static int mpib_rank, mpib_size, mpib_rows;

static inline void mpib_fail(const char *what, int rc)
{
    char text[MPI_MAX_ERROR_STRING] = "";
    int len = 0;
    if (rc != MPI_SUCCESS)
        MPI_Error_string(rc, text, &len);
    fprintf(stderr, "mpib: rank %d: %s%s%s\n", mpib_rank, what, len ? ": " : "", text);
    MPI_Abort(MPI_COMM_WORLD, 1);
    exit(1);                     /* not reached */
}

#define MPIB_CHECK(call)                                                                      \
    do {                                                                                      \
        int mpib_rc_ = (call);                                                                \
        if (mpib_rc_ != MPI_SUCCESS)                                                          \
            mpib_fail(#call, mpib_rc_);                                                       \
    } while (0)

static inline size_t mpib_size_arg(const char *text)
{
    char *end;
    unsigned long long v = strtoull(text, &end, 10);
    if (*end == 'K' || *end == 'k')
        v <<= 10, end++;
    else if (*end == 'M' || *end == 'm')
        v <<= 20, end++;
    if (end == text || *end || v > (1ull << 30))
        return (size_t)-1;
    return (size_t)v;
}

static inline int mpib_int_arg(const char *text, int lo)
{
    char *end;
    long v = strtol(text, &end, 10);
    return end == text || *end || v < lo || v > 100000000 ? -1 : (int)v;
}

static inline void mpib_usage(const char *prog, const char *flags)
{
    if (mpib_rank == 0)
        fprintf(stderr, "usage: %s [-s MIN:MAX] [-i ITERS] [-x WARMUP] [-M]%s\n", prog, flags);
    MPI_Finalize();
    exit(2);
}

/* The sweep MIN, doubling to MAX (0 is followed by 1). */
static inline void mpib_sweep(struct mpib_opts *o)
{
    o->nsizes = 0;
    for (size_t size = o->min_size; size <= o->max_size && o->nsizes < MPIB_MAX_SIZES;
         size = size ? size * 2 : 1)
        o->sizes[o->nsizes++] = size;
}

/* -s A,B,C: ascending sizes; -1 when one is bad or out of order. */
static inline int mpib_size_list(struct mpib_opts *o, char *text)
{
    o->nsizes = 0;
    for (char *item = strtok(text, ","); item; item = strtok(NULL, ",")) {
        size_t size = mpib_size_arg(item);
        if (size == (size_t)-1 || o->nsizes == MPIB_MAX_SIZES ||
            (o->nsizes && size <= o->sizes[o->nsizes - 1]))
            return -1;
        o->sizes[o->nsizes++] = size;
    }
    if (o->nsizes == 0)
        return -1;
    o->min_size = o->sizes[0];
    o->max_size = o->sizes[o->nsizes - 1];
    return 0;
}

/* Parses argv; EXTRA lists the program's own flags of "W:BNc:" (the rest are common). */
static inline struct mpib_opts mpib_init(int *argc, char ***argv, const char *extra, size_t min,
                                  size_t max, int iters, const char *usage)
{
    struct mpib_opts o = { .min_size = min, .max_size = max, .iters = iters,
                           .warmup = iters / 10 + 1, .window = 64 };
    char flags[32];
    int c;
    MPIB_CHECK(MPI_Init(argc, argv));
    MPIB_CHECK(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN));
    MPIB_CHECK(MPI_Comm_rank(MPI_COMM_WORLD, &mpib_rank));
    MPIB_CHECK(MPI_Comm_size(MPI_COMM_WORLD, &mpib_size));
    snprintf(flags, sizeof flags, "s:i:x:M%s", extra);
    while ((c = getopt(*argc, *argv, flags)) != -1) {
        char *colon;
        switch (c) {
        case 's':
            if (strchr(optarg, ',')) {
                if (mpib_size_list(&o, optarg) < 0)
                    mpib_usage((*argv)[0], usage);
                break;
            }
            colon = strchr(optarg, ':');
            if (colon) {
                *colon = '\0';
                o.min_size = mpib_size_arg(optarg);
                o.max_size = mpib_size_arg(colon + 1);
            } else {
                o.max_size = mpib_size_arg(optarg);
            }
            if (o.min_size == (size_t)-1 || o.max_size == (size_t)-1 || o.min_size > o.max_size)
                mpib_usage((*argv)[0], usage);
            o.nsizes = 0;
            break;
        case 'i': o.iters = mpib_int_arg(optarg, 1); break;
        case 'x': o.warmup = mpib_int_arg(optarg, 0); break;
        case 'W': o.window = mpib_int_arg(optarg, 1); break;
        case 'M': o.alloc_mem = 1; break;
        case 'B': o.bidir = 1; break;
        case 'N': o.nonblocking = 1; break;
        case 'c': o.coll = optarg; break;
        default: mpib_usage((*argv)[0], usage);
        }
        if (o.iters < 0 || o.warmup < 0 || o.window < 0)
            mpib_usage((*argv)[0], usage);
    }
    if (o.nsizes == 0)
        mpib_sweep(&o);
    return o;
}

/* Iterations and warmup for SIZE. */
static inline void mpib_counts(const struct mpib_opts *o, size_t size, int *iters, int *warmup)
{
    int large = size > MPIB_LARGE;
    *iters = large && o->iters >= 10 ? o->iters / 10 : o->iters;
    *warmup = large && o->warmup >= 10 ? o->warmup / 10 : o->warmup;
}

/* A buffer of N bytes (at least 1), filled, from MPI_Alloc_mem (-M) or malloc. */
static inline void *mpib_alloc(const struct mpib_opts *o, size_t n)
{
    void *p = NULL;
    if (n == 0)
        n = 1;
    if (o->alloc_mem)
        MPIB_CHECK(MPI_Alloc_mem((MPI_Aint)n, MPI_INFO_NULL, &p));
    else if (!(p = malloc(n)))
        mpib_fail("malloc", MPI_SUCCESS);
    memset(p, 'a' + mpib_rank % 26, n);
    return p;
}

static inline void mpib_free(const struct mpib_opts *o, void *p)
{
    if (o->alloc_mem)
        MPIB_CHECK(MPI_Free_mem(p));
    else
        free(p);
}

/* Rank 0 prints the header: the program, the MPI and the machine, then the column names. */
static inline void mpib_header(const char *title, const struct mpib_opts *o, const char *columns)
{
    char lib[MPI_MAX_LIBRARY_VERSION_STRING] = "", host[MPI_MAX_PROCESSOR_NAME] = "";
    int version, subversion, len;
    double tick = MPI_Wtick();
    MPIB_CHECK(MPI_Get_version(&version, &subversion));
    MPIB_CHECK(MPI_Get_library_version(lib, &len));
    MPIB_CHECK(MPI_Get_processor_name(host, &len));
    if (!(tick > 0) || !isfinite(tick))
        mpib_fail("MPI_Wtick is not a positive time", MPI_SUCCESS);
    if (mpib_rank != 0)
        return;
    lib[strcspn(lib, "\n")] = '\0';
    printf("# mpib %s\n# MPI %d.%d, %s\n# %d ranks, rank 0 on %s, MPI_Wtick %.3g us, %s buffers\n",
           title, version, subversion, lib, mpib_size, host, tick * 1e6,
           o->alloc_mem ? "MPI_Alloc_mem" : "malloc");
    printf("# %-10s %s\n", "Size", columns);
    fflush(stdout);
}

/* Rank 0 prints one row: SIZE and N figures. */
static inline void mpib_row(size_t size, int n, const double *v)
{
    if (mpib_rank != 0)
        return;
    printf("%-12zu", size);
    for (int i = 0; i < n; i++)         /* figures under 1 keep 3 significant digits */
        printf(v[i] < 1 ? " %14.3g" : " %14.2f", v[i]);
    printf("\n");
    fflush(stdout);
    mpib_rows++;
}

/* Measures one size into FIGURES (CTX: the program's buffers). */
typedef void mpib_measure_fn(void *ctx, size_t size, int iters, int warmup, double *figures);

/* The sweep: every size measured by FN and printed as a row of N figures (at most 4). */
static inline void mpib_sweep_rows(const struct mpib_opts *o, int n, mpib_measure_fn *fn, void *ctx)
{
    for (int k = 0; k < o->nsizes; k++) {
        int iters, warmup;
        double figures[4];
        mpib_counts(o, o->sizes[k], &iters, &warmup);
        fn(ctx, o->sizes[k], iters, warmup, figures);
        mpib_row(o->sizes[k], n, figures);
    }
}

/* Ends the program: rank 0's closing line, MPI_Finalize. */
static inline int mpib_finish(const char *program)
{
    if (mpib_rank == 0)
        printf("# ok: %s: %d rows\n", program, mpib_rows);
    MPIB_CHECK(MPI_Finalize());
    return 0;
}

/* Needs at least MIN ranks, an even number when EVEN. */
static inline void mpib_need_ranks(int min, int even)
{
    if (mpib_size < min || (even && mpib_size % 2)) {
        if (mpib_rank == 0)
            fprintf(stderr, "mpib: needs %s%d ranks or more, got %d\n", even ? "an even number of, " : "",
                    min, mpib_size);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
}

#endif
