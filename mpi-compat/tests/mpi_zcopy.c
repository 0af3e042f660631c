/* mpi_zcopy.c - sends from MPI_Alloc_mem'd memory go without a copy (2 ranks or more; ranks 0
 * and 1 take part). Rank 0 sends from a 64 MiB MPI_Alloc_mem buffer at sizes from 0 B to 64 MiB
 * (and from an offset inside it); rank 1 checks every byte. The fabric's counters
 * (mpix_fabric_stats: this program links the library's objects to read them) must say that
 * the sends of 64 KiB and more were sent from the buffer itself (zero-copy bytes grew by the
 * size, copied bytes not at all) and the smaller ones copied, and that the same send from
 * malloc'd memory is copied, and that every send went in pieces of 256 KiB (the ranks of this
 * test share a node: fabric.c's LOCAL_PIECE_BYTES). After MPI_Wait returns the buffer is overwritten at once: the data
 * that arrived must still be the old one (the send completes only once the service no longer
 * reads it). MPI_Free_mem of a buffer a send still reads is put off, not done under it. */
#include "core.h"
#include "mpi_check.h"

#include <stdlib.h>
#include <string.h>

#define MAX (64 << 20)
#define ZCOPY_MIN (64 << 10)
#define LOCAL_PIECE (256 << 10)

static int rank;

static unsigned char byte_at(size_t i, int size) { return (unsigned char)(i * 31 + (size_t)size); }

static void fill(unsigned char *p, int size)
{
    for (int i = 0; i < size; i++)
        p[i] = byte_at((size_t)i, size);
}

static int first_wrong(const unsigned char *p, int size)
{
    for (int i = 0; i < size; i++)
        if (p[i] != byte_at((size_t)i, size))
            return i;
    return -1;
}

/* Rank 0 sends SIZE bytes from SRC (its first byte), rank 1 checks them. */
static void one(unsigned char *src, unsigned char *dst, int size, int tag, bool from_buffer)
{
    if (rank == 0) {
        struct mpix_fabric_stats before = mpix_fabric_stats;
        MPI_Request r;
        fill(src, size);
        MPI_Isend(src, size, MPI_BYTE, 1, tag, MPI_COMM_WORLD, &r);
        MPI_Wait(&r, MPI_STATUS_IGNORE);
        memset(src, 0xee, (unsigned)size);    /* the service must be done with it now */
        uint64_t z = mpix_fabric_stats.zcopy_bytes - before.zcopy_bytes;
        uint64_t c = mpix_fabric_stats.copied_bytes - before.copied_bytes;
        uint64_t pieces = mpix_fabric_stats.pieces - before.pieces;
        uint64_t want = size ? ((uint64_t)size + LOCAL_PIECE - 1) / LOCAL_PIECE : 1;
        CHECK(pieces == want, "%d bytes to a rank of this node went in %llu pieces, not %llu",
              size, (unsigned long long)pieces, (unsigned long long)want);
        bool zcopy = from_buffer && size >= ZCOPY_MIN;
        CHECK(z == (zcopy ? (uint64_t)size : 0) && c == (zcopy ? 0 : (uint64_t)size),
              "%d bytes from %s: %llu sent without a copy, %llu copied", size,
              from_buffer ? "MPI_Alloc_mem" : "malloc", (unsigned long long)z,
              (unsigned long long)c);
    } else if (rank == 1) {
        MPI_Status st;
        int got = -1;
        MPI_Recv(dst, MAX, MPI_BYTE, 0, tag, MPI_COMM_WORLD, &st);
        MPI_Get_count(&st, MPI_BYTE, &got);
        int bad = first_wrong(dst, size);
        CHECK(got == size && bad < 0, "%d bytes: got %d, first wrong byte %d", size, got, bad);
    }
}

int main(int argc, char **argv)
{
    static const int sizes[] = { 0, 1, 1000, ZCOPY_MIN - 1, ZCOPY_MIN, 1 << 20, 4 << 20,
                                 (4 << 20) + 1, 16 << 20, MAX };
    int size;
    unsigned char *buf = NULL, *dst = NULL, *plain = NULL;

    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    CHECK(size >= 2, "needs 2 ranks");
    MPI_Alloc_mem(MAX, MPI_INFO_NULL, &buf);
    if (rank == 1)
        dst = malloc(MAX);
    for (size_t i = 0; size >= 2 && i < sizeof sizes / sizeof sizes[0]; i++)
        one(buf, dst, sizes[i], (int)i, true);
    if (size >= 2) {
        one(buf + 12345, dst, 3 << 20, 50, true);          /* from inside the buffer */
        plain = malloc(1 << 20);
        one(plain, dst, 1 << 20, 51, false);               /* malloc'd: copied */
        free(plain);
    }
    if (rank < 2)
        OK("sends from MPI_Alloc_mem'd memory, 0 B to 64 MiB, zero copy from 64 KiB");

    /* MPI_Free_mem while a send reads the buffer: put off until the service is done. */
    unsigned char *b2 = NULL;
    MPI_Alloc_mem(8 << 20, MPI_INFO_NULL, &b2);
    if (rank == 0 && size >= 2) {
        MPI_Request r;
        fill(b2, 8 << 20);
        MPI_Isend(b2, 8 << 20, MPI_BYTE, 1, 60, MPI_COMM_WORLD, &r);
        MPI_Free_mem(b2);
        MPI_Wait(&r, MPI_STATUS_IGNORE);
        OK("MPI_Free_mem during a send is put off");
    } else {
        if (rank == 1) {
            MPI_Status st;
            MPI_Recv(dst, MAX, MPI_BYTE, 0, 60, MPI_COMM_WORLD, &st);
            CHECK(first_wrong(dst, 8 << 20) < 0, "the send from a freed buffer brought wrong data");
        }
        MPI_Free_mem(b2);
    }
    MPI_Free_mem(buf);
    free(dst);
    MPI_Finalize();
    return check_exit();
}
