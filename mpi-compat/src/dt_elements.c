/* dt_elements.c - MPI_Get_elements' count: how many basic elements (an int, a double; a pair
 * type's value and index are two) a received number of bytes holds.
 *
 * Whole elements of the type count nelems each; the rest of the bytes is followed into the type
 * map, entry by entry, down to the basic element where it ends. Data that ends inside a basic
 * element is no whole number of them: MPI_UNDEFINED, as the standard says. */
#include "dt_impl.h"

/* Basic elements in the first *BYTES (< one element) of T's data; *BYTES keeps what is left
 * inside a basic element (0 when the data ended on a boundary). */
static MPI_Count partial(MPI_Datatype t, MPI_Count *bytes)
{
    MPI_Count n = 0;

    if (t->flags & MPIX_DT_PREDEF) {
        MPI_Count value = t->size - (MPI_Count)sizeof(int);
        if ((t->flags & MPIX_DT_PAIR) && *bytes >= value) {
            *bytes -= value;
            return 1;
        }
        return 0;
    }
    for (size_t i = 0; i < t->nentries && *bytes > 0; i++) {
        const struct mpix_dt_entry *e = &t->entries[i];
        MPI_Count size = e->type->size, whole;
        if (size == 0)
            continue;
        whole = *bytes / size < e->count ? *bytes / size : e->count;
        n += whole * e->type->nelems;
        *bytes -= whole * size;
        if (whole < e->count && *bytes > 0)
            return n + partial(e->type, bytes);
    }
    return n;
}

MPI_Count mpix_dt_elements(MPI_Datatype dt, MPI_Count bytes)
{
    MPI_Count n, rest;

    if (dt->size == 0)
        return 0;
    n = bytes / dt->size * dt->nelems;
    rest = bytes % dt->size;
    n += partial(dt, &rest);
    return rest ? MPI_UNDEFINED : n;
}
