/* common.h - what the correctness programs share: an output buffer every rank writes its lines
 * into, printed by rank 0 in rank order at the end (so the output of N ranks is deterministic
 * whatever the launcher does with concurrent stdout streams), and a checksum of buffers.
 *
 * These programs are ordinary MPI C programs: they build unchanged with Open MPI's mpicc (whose
 * output is stored as the expected result) and with mrpc-mpicc. The final collection of lines
 * uses plain MPI_Send/MPI_Recv only, so a broken collective shows in the lines, not in how they
 * are gathered. */
#ifndef PROGRAMS_COMMON_H
#define PROGRAMS_COMMON_H

#include <mpi.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *out_buf;
static size_t out_len, out_cap;

/* Appends one formatted line (the caller gives the newline) to this rank's output. */
static inline void out(const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (out_len + (size_t)n + 1 > out_cap) {
    out_cap = (out_len + (size_t)n + 1) * 2;
    out_buf = realloc(out_buf, out_cap);
    if (!out_buf) { fprintf(stderr, "out of memory for the output buffer\n"); MPI_Abort(MPI_COMM_WORLD, 2); }
  }
  va_start(ap, fmt);
  vsnprintf(out_buf + out_len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  out_len += (size_t)n;
}

/* Rank 0 prints its own lines, then every other rank's, in rank order. */
static inline void out_flush_all(void)
{
  int rank, size;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  if (rank != 0) {
    int len = (int)out_len;
    MPI_Send(&len, 1, MPI_INT, 0, 9999, MPI_COMM_WORLD);
    MPI_Send(out_buf, len, MPI_CHAR, 0, 9998, MPI_COMM_WORLD);
  } else {
    fwrite(out_buf, 1, out_len, stdout);
    for (int r = 1; r < size; r++) {
      int len;
      MPI_Recv(&len, 1, MPI_INT, r, 9999, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
      char *text = malloc((size_t)len + 1);
      MPI_Recv(text, len, MPI_CHAR, r, 9998, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
      fwrite(text, 1, (size_t)len, stdout);
      free(text);
    }
    fflush(stdout);
  }
  free(out_buf);
  out_buf = NULL;
  out_len = out_cap = 0;
}

/* FNV-1a over LEN bytes: the checksum the programs print for a buffer. */
static inline uint64_t checksum(const void *buf, size_t len)
{
  const unsigned char *p = buf;
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < len; i++) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

/* A failed check: says what and on which rank, then ends the job with status 1. */
static inline void must(int ok, const char *what)
{
  if (ok) return;
  int rank;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  fprintf(stderr, "rank %d: check failed: %s\n", rank, what);
  MPI_Abort(MPI_COMM_WORLD, 1);
}

#endif
