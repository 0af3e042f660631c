/* dt.h - what the rest of libmrpc_mpi needs from datatypes: validity, size, extent, and the
 * pack/unpack engine that turns COUNT elements of a (possibly non-contiguous) datatype into the
 * contiguous bytes a message carries, and back.
 *
 * A committed type has been flattened into a list of (offset, length) blocks, adjacent ones
 * merged, so packing is a memcpy per block and a contiguous type is one memcpy. Element i of a
 * buffer starts at buf + i * extent (the extent may differ from the size: holes, resized types,
 * negative lower bounds). Packed data is always count * size bytes in type-map order.
 *
 * Core and coll call these; none of them raises an error (mpix_err): callers check first with
 * mpix_dt_check() and raise what it returns. Datatype objects live in dt_impl.h. */
#ifndef MPIX_DT_H
#define MPIX_DT_H

#include <mpi.h>
#include <stdbool.h>

/* MPI_SUCCESS, or MPI_ERR_TYPE for a null, freed or uncommitted type (predefined ones are
 * always committed). */
int mpix_dt_check(MPI_Datatype dt);

/* Bytes of data in one element (MPI_Type_size). */
MPI_Count mpix_dt_size(MPI_Datatype dt);

/* MPI_Type_get_extent's extent: the stride between consecutive elements of a buffer. */
MPI_Aint mpix_dt_extent(MPI_Datatype dt);

/* The bytes COUNT elements of DT span in a buffer, from buf + *FIRST (negative when a lower
 * bound is): their data and their extents (a user operation may touch a pair's padding), what a
 * scratch buffer for them holds (0 without data). */
size_t mpix_dt_span(MPI_Datatype dt, int count, MPI_Aint *first);

/* True when COUNT elements' data is one block of count * size bytes at buf + *offset, so a
 * sender or receiver can use the user's buffer directly. */
bool mpix_dt_contig(MPI_Datatype dt, int count, MPI_Aint *offset);

/* Packs COUNT elements from BUF: count * size bytes into OUT. */
void mpix_dt_pack(const void *buf, int count, MPI_Datatype dt, void *out);

/* Unpacks the first BYTES (<= count * size) bytes of packed data IN into COUNT elements at BUF;
 * a truncated message fills whole elements and then part of the next one. */
void mpix_dt_unpack(const void *in, MPI_Count bytes, void *buf, int count, MPI_Datatype dt);

/* A reference held by a pending request, so that MPI_Type_free during a send is safe: the type
 * lives until the last release. No-ops on predefined types. */
void mpix_dt_retain(MPI_Datatype dt);
void mpix_dt_release(MPI_Datatype dt);

/* "MPI_INT", "MPI_DOUBLE_INT", "a derived datatype", ... for error messages. */
const char *mpix_dt_name(MPI_Datatype dt);

#endif
