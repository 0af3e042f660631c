/* dt_pack_api.c - MPI_Pack, MPI_Unpack and MPI_Pack_size over the pack engine (dt_pack.c).
 *
 * The packed format is the engine's: the type map's bytes in order, no header, so a buffer
 * packed here is sent as MPI_PACKED and unpacked by the receiver with the same types. A buffer
 * too small for the data is MPI_ERR_TRUNCATE, raised before anything is copied. */
#include "dt_impl.h"
#include "mpi_impl.h"

#include <limits.h>

/* Checks what MPI_Pack and MPI_Unpack share: the type, the count, the position, the comm. */
static int pack_check(const char *fn, int count, MPI_Datatype dt, int bufsize,
                      const int *position, MPI_Comm comm)
{
    if (mpix_comm_check(comm) != MPI_SUCCESS)
        return mpix_err(MPI_COMM_WORLD, MPI_ERR_COMM, "%s: the communicator is not valid.", fn);
    if (mpix_dt_check(dt) != MPI_SUCCESS)
        return mpix_err(comm, MPI_ERR_TYPE, "%s: the datatype is null, freed or not committed; "
                        "commit it with MPI_Type_commit first.", fn);
    if (count < 0)
        return mpix_err(comm, MPI_ERR_COUNT, "%s: count is %d; it must be zero or more.", fn,
                        count);
    if (!position || *position < 0 || *position > bufsize)
        return mpix_err(comm, MPI_ERR_ARG, "%s: position must point to an offset between 0 and "
                        "the buffer's size (%d).", fn, bufsize);
    return MPI_SUCCESS;
}

/* Raises MPI_ERR_TRUNCATE unless COUNT elements of DT fit from POSITION in SIZE bytes. */
static int fits(const char *fn, int count, MPI_Datatype dt, int size, int position,
                MPI_Comm comm)
{
    MPI_Count need = (MPI_Count)count * mpix_dt_size(dt);

    if (need <= (MPI_Count)size - position)
        return MPI_SUCCESS;
    return mpix_err(comm, MPI_ERR_TRUNCATE, "%s: %d element(s) of %s need %lld bytes but only "
                    "%d are left in the buffer after position %d.", fn, count, mpix_dt_name(dt),
                    (long long)need, size - position, position);
}

int MPI_Pack(const void *inbuf, int incount, MPI_Datatype datatype, void *outbuf, int outsize,
             int *position, MPI_Comm comm)
{
    const char *fn = "MPI_Pack";
    int rc = pack_check(fn, incount, datatype, outsize, position, comm);

    if (!rc)
        rc = fits(fn, incount, datatype, outsize, *position, comm);
    if (rc)
        return rc;
    mpix_dt_pack(inbuf, incount, datatype, (char *)outbuf + *position);
    *position += (int)(incount * mpix_dt_size(datatype));
    return MPI_SUCCESS;
}

int MPI_Unpack(const void *inbuf, int insize, int *position, void *outbuf, int outcount,
               MPI_Datatype datatype, MPI_Comm comm)
{
    const char *fn = "MPI_Unpack";
    int rc = pack_check(fn, outcount, datatype, insize, position, comm);
    MPI_Count bytes;

    if (!rc)
        rc = fits(fn, outcount, datatype, insize, *position, comm);
    if (rc)
        return rc;
    bytes = (MPI_Count)outcount * mpix_dt_size(datatype);
    mpix_dt_unpack((const char *)inbuf + *position, bytes, outbuf, outcount, datatype);
    *position += (int)bytes;
    return MPI_SUCCESS;
}

int MPI_Pack_size(int incount, MPI_Datatype datatype, MPI_Comm comm, int *size)
{
    const char *fn = "MPI_Pack_size";
    int pos = 0, rc = pack_check(fn, incount, datatype, 0, &pos, comm);
    MPI_Count need;

    if (rc)
        return rc;
    if (!size)
        return mpix_err(comm, MPI_ERR_ARG, "%s: size is NULL; pass where to store it.", fn);
    need = (MPI_Count)incount * mpix_dt_size(datatype);
    if (need > INT_MAX)
        return mpix_err(comm, MPI_ERR_COUNT, "%s: %d element(s) of %s take %lld bytes, more "
                        "than an int can count.", fn, incount, mpix_dt_name(datatype),
                        (long long)need);
    *size = (int)need;
    return MPI_SUCCESS;
}
