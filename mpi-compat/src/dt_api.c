/* dt_api.c - the MPI datatype functions: type constructors, commit and free, size and extent
 * queries, MPI_Pack/Unpack/Pack_size, MPI_Get_address and MPI_Get_elements.
 *
 * Each function validates its arguments, raising errors through mpix_err (on MPI_COMM_WORLD,
 * or the communicator it is given), then reduces the constructor to entries "count copies of a
 * type at a displacement" for the engine (dt_build.c): a vector is COUNT entries of BLOCKLENGTH
 * copies, a struct one entry per block, and so on. */
#include "dt_impl.h"
#include "mpi_impl.h"

#include <limits.h>
#include <stdlib.h>

#define WORLD MPI_COMM_WORLD

static int bad_count(const char *fn, const char *what, MPI_Aint n)
{
    return mpix_err(WORLD, MPI_ERR_COUNT, "%s: %s is %ld; it must be zero or more.", fn, what,
                    (long)n);
}

static int bad_type(const char *fn, MPI_Datatype t)
{
    return mpix_err(WORLD, MPI_ERR_TYPE,
                    "%s: the datatype is null or was freed; pass a type from a constructor or "
                    "a predefined one.", fn);
}

static int bad_arg(const char *fn, const char *what)
{
    return mpix_err(WORLD, MPI_ERR_ARG, "%s: %s is NULL; pass where to store the result.", fn,
                    what);
}

/* Checks COUNT, OLD and NEWTYPE, the arguments every constructor has. */
static int ctor_check(const char *fn, int count, MPI_Datatype old, MPI_Datatype *newtype)
{
    if (count < 0)
        return bad_count(fn, "count", count);
    if (!mpix_dt_valid(old))
        return bad_type(fn, old);
    return newtype ? MPI_SUCCESS : bad_arg(fn, "newtype");
}

/* Hands the new type DT (NULL: out of memory) to the caller. */
static int made(const char *fn, MPI_Datatype dt, MPI_Datatype *newtype)
{
    if (!dt)
        return mpix_err(WORLD, MPI_ERR_INTERN, "%s: out of memory for the new datatype.", fn);
    *newtype = dt;
    return MPI_SUCCESS;
}

/* Returns the type of N entries {DISP, COUNT, TYPE}, expressions of i, the entry's index;
 * ROUND_EACH as mpix_dt_build's. */
#define BUILD_ENTRIES(fn, n, newtype, DISP, COUNT, TYPE, ROUND_EACH)                               \
    do {                                                                                           \
        struct mpix_dt_entry *e_ = calloc((unsigned)(n) + 1u, sizeof(*e_));                        \
        if (!e_)                                                                                   \
            return made(fn, NULL, newtype);                                                        \
        for (int i = 0; i < (n); i++)                                                              \
            e_[i] = (struct mpix_dt_entry){ (DISP), (COUNT), (TYPE) };                             \
        MPI_Datatype t_ = mpix_dt_build(e_, (size_t)(n), (ROUND_EACH));                            \
        free(e_);                                                                                  \
        return made(fn, t_, newtype);                                                              \
    } while (0)

static int blocks_check(const char *fn, int count, const int blocklengths[])
{
    for (int i = 0; i < count; i++)
        if (blocklengths[i] < 0)
            return bad_count(fn, "a block length", blocklengths[i]);
    return MPI_SUCCESS;
}

int MPI_Type_contiguous(int count, MPI_Datatype oldtype, MPI_Datatype *newtype)
{
    const char *fn = "MPI_Type_contiguous";
    int rc = ctor_check(fn, count, oldtype, newtype);
    struct mpix_dt_entry e = { 0, count, oldtype };

    return rc ? rc : made(fn, mpix_dt_build(&e, 1, false), newtype);
}

static int hvector(const char *fn, int count, int blocklength, MPI_Aint stride,
                   MPI_Datatype oldtype, MPI_Datatype *newtype)
{
    int rc = ctor_check(fn, count, oldtype, newtype);

    if (rc)
        return rc;
    if (blocklength < 0)
        return bad_count(fn, "blocklength", blocklength);
    BUILD_ENTRIES(fn, count, newtype, i * stride, blocklength, oldtype, false);
}

int MPI_Type_vector(int count, int blocklength, int stride, MPI_Datatype oldtype,
                    MPI_Datatype *newtype)
{
    MPI_Aint ext = mpix_dt_valid(oldtype) ? mpix_dt_extent(oldtype) : 0;
    return hvector("MPI_Type_vector", count, blocklength, stride * ext, oldtype, newtype);
}

int MPI_Type_create_hvector(int count, int blocklength, MPI_Aint stride, MPI_Datatype oldtype,
                            MPI_Datatype *newtype)
{
    return hvector("MPI_Type_create_hvector", count, blocklength, stride, oldtype, newtype);
}

/* The indexed family: displacements in SCALE bytes (the old type's extent, or 1). */
static int indexed(const char *fn, int count, const int blocklengths[], int blocklength,
                   const int idispls[], const MPI_Aint adispls[], MPI_Datatype oldtype,
                   MPI_Datatype *newtype)
{
    int rc = ctor_check(fn, count, oldtype, newtype);
    MPI_Aint ext = rc ? 0 : mpix_dt_extent(oldtype);

    if (!rc && blocklengths)
        rc = blocks_check(fn, count, blocklengths);
    if (!rc && !blocklengths && blocklength < 0)
        rc = bad_count(fn, "blocklength", blocklength);
    if (rc)
        return rc;
    BUILD_ENTRIES(fn, count, newtype, idispls ? idispls[i] * ext : adispls[i],
                  blocklengths ? blocklengths[i] : blocklength, oldtype, true);
}

int MPI_Type_indexed(int count, const int array_of_blocklengths[],
                     const int array_of_displacements[], MPI_Datatype oldtype,
                     MPI_Datatype *newtype)
{
    return indexed("MPI_Type_indexed", count, array_of_blocklengths, 0, array_of_displacements,
                   NULL, oldtype, newtype);
}

int MPI_Type_create_hindexed(int count, const int array_of_blocklengths[],
                             const MPI_Aint array_of_displacements[], MPI_Datatype oldtype,
                             MPI_Datatype *newtype)
{
    return indexed("MPI_Type_create_hindexed", count, array_of_blocklengths, 0, NULL,
                   array_of_displacements, oldtype, newtype);
}

int MPI_Type_create_indexed_block(int count, int blocklength, const int array_of_displacements[],
                                  MPI_Datatype oldtype, MPI_Datatype *newtype)
{
    return indexed("MPI_Type_create_indexed_block", count, NULL, blocklength,
                   array_of_displacements, NULL, oldtype, newtype);
}

int MPI_Type_create_hindexed_block(int count, int blocklength,
                                   const MPI_Aint array_of_displacements[], MPI_Datatype oldtype,
                                   MPI_Datatype *newtype)
{
    return indexed("MPI_Type_create_hindexed_block", count, NULL, blocklength, NULL,
                   array_of_displacements, oldtype, newtype);
}

int MPI_Type_create_struct(int count, const int array_of_blocklengths[],
                           const MPI_Aint array_of_displacements[],
                           const MPI_Datatype array_of_types[], MPI_Datatype *newtype)
{
    const char *fn = "MPI_Type_create_struct";
    int rc = ctor_check(fn, count, MPI_BYTE, newtype);

    if (!rc)
        rc = blocks_check(fn, count, array_of_blocklengths);
    for (int i = 0; i < count && !rc; i++)
        if (!mpix_dt_valid(array_of_types[i]))
            rc = bad_type(fn, array_of_types[i]);
    if (rc)
        return rc;
    BUILD_ENTRIES(fn, count, newtype, array_of_displacements[i], array_of_blocklengths[i],
                  array_of_types[i], true);
}

int MPI_Type_create_resized(MPI_Datatype oldtype, MPI_Aint lb, MPI_Aint extent,
                            MPI_Datatype *newtype)
{
    const char *fn = "MPI_Type_create_resized";
    int rc = ctor_check(fn, 0, oldtype, newtype);

    return rc ? rc : made(fn, mpix_dt_resized(oldtype, lb, extent), newtype);
}

int MPI_Type_dup(MPI_Datatype oldtype, MPI_Datatype *newtype)
{
    const char *fn = "MPI_Type_dup";
    int rc = ctor_check(fn, 0, oldtype, newtype);
    struct mpix_dt_entry e = { 0, 1, oldtype };
    MPI_Datatype dt;

    if (rc)
        return rc;
    dt = mpix_dt_build(&e, 1, false);
    if (dt && mpix_dt_check(oldtype) == MPI_SUCCESS && mpix_dt_commit(dt) != MPI_SUCCESS) {
        mpix_dt_free(dt);
        dt = NULL;
    }
    return made(fn, dt, newtype);
}

int MPI_Type_commit(MPI_Datatype *datatype)
{
    const char *fn = "MPI_Type_commit";

    if (!datatype)
        return bad_arg(fn, "datatype");
    if (!mpix_dt_valid(*datatype))
        return bad_type(fn, *datatype);
    if (mpix_dt_commit(*datatype) != MPI_SUCCESS)
        return mpix_err(WORLD, MPI_ERR_INTERN, "%s: out of memory flattening the datatype.", fn);
    return MPI_SUCCESS;
}

int MPI_Type_free(MPI_Datatype *datatype)
{
    const char *fn = "MPI_Type_free";

    if (!datatype)
        return bad_arg(fn, "datatype");
    if (!mpix_dt_valid(*datatype))
        return bad_type(fn, *datatype);
    if ((*datatype)->flags & MPIX_DT_PREDEF)
        return mpix_err(WORLD, MPI_ERR_TYPE, "%s: %s is predefined and cannot be freed.", fn,
                        (*datatype)->name);
    mpix_dt_free(*datatype);
    *datatype = MPI_DATATYPE_NULL;
    return MPI_SUCCESS;
}

/* ---- queries ----------------------------------------------------------------------------- */

/* Checks DT and the two result pointers of a query. */
static int query_check(const char *fn, MPI_Datatype dt, const void *a, const void *b)
{
    if (!mpix_dt_valid(dt))
        return bad_type(fn, dt);
    return a && b ? MPI_SUCCESS : bad_arg(fn, "a result pointer");
}

int MPI_Type_size(MPI_Datatype datatype, int *size)
{
    int rc = query_check("MPI_Type_size", datatype, size, size);

    if (!rc)
        *size = datatype->size > INT_MAX ? MPI_UNDEFINED : (int)datatype->size;
    return rc;
}

int MPI_Type_size_x(MPI_Datatype datatype, MPI_Count *size)
{
    int rc = query_check("MPI_Type_size_x", datatype, size, size);

    if (!rc)
        *size = datatype->size;
    return rc;
}

int MPI_Type_get_extent(MPI_Datatype datatype, MPI_Aint *lb, MPI_Aint *extent)
{
    int rc = query_check("MPI_Type_get_extent", datatype, lb, extent);

    if (!rc) {
        *lb = datatype->lb;
        *extent = datatype->ub - datatype->lb;
    }
    return rc;
}

int MPI_Type_get_extent_x(MPI_Datatype datatype, MPI_Count *lb, MPI_Count *extent)
{
    int rc = query_check("MPI_Type_get_extent_x", datatype, lb, extent);

    if (!rc) {
        *lb = datatype->lb;
        *extent = datatype->ub - datatype->lb;
    }
    return rc;
}

int MPI_Type_get_true_extent(MPI_Datatype datatype, MPI_Aint *true_lb, MPI_Aint *true_extent)
{
    int rc = query_check("MPI_Type_get_true_extent", datatype, true_lb, true_extent);

    if (!rc) {
        *true_lb = datatype->true_lb;
        *true_extent = datatype->true_ub - datatype->true_lb;
    }
    return rc;
}

int MPI_Type_get_true_extent_x(MPI_Datatype datatype, MPI_Count *true_lb,
                               MPI_Count *true_extent)
{
    int rc = query_check("MPI_Type_get_true_extent_x", datatype, true_lb, true_extent);

    if (!rc) {
        *true_lb = datatype->true_lb;
        *true_extent = datatype->true_ub - datatype->true_lb;
    }
    return rc;
}

int MPI_Get_address(const void *location, MPI_Aint *address)
{
    if (!address)
        return bad_arg("MPI_Get_address", "address");
    *address = (MPI_Aint)location;
    return MPI_SUCCESS;
}

static int get_elements(const char *fn, const MPI_Status *status, MPI_Datatype dt,
                        MPI_Count *count)
{
    if (!status)
        return bad_arg(fn, "status");
    if (mpix_dt_check(dt) != MPI_SUCCESS)
        return bad_type(fn, dt);
    *count = mpix_dt_elements(dt, status->mpix_bytes);
    return MPI_SUCCESS;
}

int MPI_Get_elements(const MPI_Status *status, MPI_Datatype datatype, int *count)
{
    MPI_Count n = 0;
    int rc = count ? get_elements("MPI_Get_elements", status, datatype, &n)
                   : bad_arg("MPI_Get_elements", "count");

    if (!rc)
        *count = n > INT_MAX ? MPI_UNDEFINED : (int)n;
    return rc;
}

int MPI_Get_elements_x(const MPI_Status *status, MPI_Datatype datatype, MPI_Count *count)
{
    return count ? get_elements("MPI_Get_elements_x", status, datatype, count)
                 : bad_arg("MPI_Get_elements_x", "count");
}
