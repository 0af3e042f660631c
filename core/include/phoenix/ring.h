/* ring.h - single-producer single-consumer ring of fixed-size slots in shared memory, with an
 * io_uring-style "need wakeup" doorbell.
 *
 * Every app<->service ring and every engine-to-engine channel is one of these. The ring lives in
 * memory both sides map (MAP_SHARED across processes, or plain memory between threads); each side
 * attaches its own private handle (phx_ring_t) to it and uses it from one thread at a time.
 *
 *   shared layout (phx_ring_shared_t, 64-byte aligned):
 *     line 0  magic, version, slot_size, capacity     written once by phx_ring_format()
 *     line 1  head         producer's index: slots [tail, head) are filled
 *     line 2  tail         consumer's index
 *     line 3  need_wakeup  consumer sets it before sleeping on the doorbell eventfd
 *     then    capacity * slot_size bytes of slots, the first one 64-byte aligned
 *
 * Indices are free-running uint32_t counters (slot = index & (capacity - 1)); unsigned
 * subtraction gives the fill level across wrap-around. The producer publishes head with a release
 * store after writing slots and the consumer reads it with an acquire load before reading them;
 * tail works the other way round, so a slot is never overwritten while the consumer reads it.
 *
 * The peer is untrusted. Geometry is read once at attach and kept in the handle, never re-read;
 * the peer's index is read once per refresh and an impossible value (more filled slots than the
 * capacity) marks the handle broken: every later call fails with -EPROTO instead of touching
 * garbage. Every slot address comes from a masked index, so a hostile peer can make the ring
 * lie about its contents but never make us read or write outside it. Slot contents themselves
 * are the peer's to change at any time: copy a descriptor before validating it.
 *
 * Doorbell: producers call phx_ring_notify() after pushing; it costs one atomic store and one load
 * and rings the eventfd only when the consumer has announced it is about to sleep. A producer may
 * push several times and notify once, after the last push (a batch): notify publishes the head
 * of everything pushed before it, so the argument below covers the whole batch, and a sleeping
 * consumer is woken once with all of it. Until that notify the consumer may sleep with the batch
 * queued: the producer must not wait (for the consumer) before notifying. A consumer that
 * finds the ring empty does:
 *
 *     if (phx_ring_prepare_sleep(r) && poll(fd, timeout) says fd is readable)
 *         phx_ring_finish_sleep(r);     // drains the eventfd: one read()
 *     else
 *         phx_ring_cancel_sleep(r);     // no system call; a late ring ends the next poll
 *
 * and is never left asleep with work queued (the argument is in ring.c). */
#ifndef PHOENIX_RING_H
#define PHOENIX_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PHX_RING_MAGIC         0x31474e4952584850ull /* "PHXRING1" in little-endian memory */
#define PHX_RING_VERSION       1u
#define PHX_RING_ALIGN         64u                   /* cache line; also the slots' alignment */
#define PHX_RING_MIN_SLOT_SIZE 8u                    /* slot sizes are multiples of this */
#define PHX_RING_MAX_SLOT_SIZE 65536u
#define PHX_RING_MAX_CAPACITY  (1u << 30)            /* keeps head - tail unambiguous in 32 bits */

/* The layout in shared memory. Exposed so that tools can dump it and tests can corrupt it; code
 * outside ring.c touches it only through the functions below. Fields are accessed with __atomic
 * builtins. */
typedef struct phx_ring_shared {
    _Alignas(PHX_RING_ALIGN) uint64_t magic;
    uint32_t version;
    uint32_t slot_size;
    uint32_t capacity;
    _Alignas(PHX_RING_ALIGN) uint32_t head;
    _Alignas(PHX_RING_ALIGN) uint32_t tail;
    _Alignas(PHX_RING_ALIGN) uint32_t need_wakeup;
    _Alignas(PHX_RING_ALIGN) unsigned char slots[];
} phx_ring_shared_t;

/* A side's private handle. The producer owns `head` (the shared copy is only published, never
 * read back) and caches the consumer's `tail`; the consumer owns `tail` and caches `head`. The
 * cache means the common path touches the peer's cache line only when the ring looks full (or
 * empty). The handle owns nothing: the caller keeps the memory mapped and the fd open. */
typedef struct phx_ring {
    phx_ring_shared_t *shared;
    unsigned char *slots;
    uint32_t mask;           /* capacity - 1, from the validated header */
    uint32_t slot_size;
    uint32_t head;
    uint32_t tail;
    int doorbell_fd;         /* eventfd, or -1 for none */
    bool broken;             /* the peer published an impossible index */
} phx_ring_t;

/* Bytes a ring of this geometry needs, or 0 when slot_size is not a multiple of
 * PHX_RING_MIN_SLOT_SIZE in [PHX_RING_MIN_SLOT_SIZE, PHX_RING_MAX_SLOT_SIZE] or capacity is not a
 * power of two in [1, PHX_RING_MAX_CAPACITY]. */
size_t phx_ring_mem_size(uint32_t slot_size, uint32_t capacity);

/* Writes an empty ring into MEM (PHX_RING_ALIGN-aligned, at least phx_ring_mem_size() bytes).
 * Slots are left as they are. Returns 0 or -EINVAL. */
int phx_ring_format(void *mem, size_t mem_len, uint32_t slot_size, uint32_t capacity);

/* Attaches R to the ring in MEM, treating the header as untrusted. DOORBELL_FD is an eventfd
 * opened O_NONBLOCK (EFD_NONBLOCK|EFD_CLOEXEC), or -1 for a ring without doorbell.
 * Returns 0; -EPROTO when the header is not a valid ring (magic, version, geometry, or head and
 * tail further apart than the capacity); -EINVAL when R or MEM is NULL, MEM is misaligned,
 * MEM_LEN cannot hold the ring the header describes, or the doorbell would block; -EBADF for a
 * closed doorbell fd. */
int phx_ring_attach(phx_ring_t *r, void *mem, size_t mem_len, int doorbell_fd);

/* Producer: copies up to N slots from SLOTS and publishes them. Returns how many (0 = full), or
 * -EPROTO once the ring is broken. */
int phx_ring_push(phx_ring_t *r, const void *slots, uint32_t n);

/* Consumer: copies up to MAX slots into SLOTS and frees them. Returns how many (0 = empty), or
 * -EPROTO once the ring is broken. */
int phx_ring_pop(phx_ring_t *r, void *slots, uint32_t max);

/* Filled slots as seen now from the shared indices (0 when the ring is, or turns out, broken). */
uint32_t phx_ring_count(phx_ring_t *r);
uint32_t phx_ring_capacity(const phx_ring_t *r);
uint32_t phx_ring_slot_size(const phx_ring_t *r);

/* Producer, after pushing: rings the doorbell only if the consumer set need_wakeup (and clears it,
 * so a sleeping consumer is rung once). Returns 1 if it rang, 0 if not (no system call), or
 * -errno if writing the eventfd failed. */
int phx_ring_notify(phx_ring_t *r);

/* Consumer, on finding the ring empty: sets need_wakeup and re-checks. Returns true when the ring
 * is still empty and the caller may block on the doorbell fd; false (flag cleared) when work
 * arrived, the ring is broken or it has no doorbell. Call phx_ring_finish_sleep() after a poll
 * that saw the doorbell readable, phx_ring_cancel_sleep() otherwise. */
bool phx_ring_prepare_sleep(phx_ring_t *r);

/* Consumer, after waking (or deciding not to sleep): clears need_wakeup and drains the eventfd
 * without blocking, so the next poll sleeps until the next ring. */
void phx_ring_finish_sleep(phx_ring_t *r);
/* Consumer, after a sleep its poll did not see the doorbell end (a timeout, another fd), or after
 * prepare_sleep() said no: clears need_wakeup without the read() of finish_sleep(). A ring that
 * came meanwhile stays in the eventfd, so the next poll on it returns at once and the caller
 * drains it then: one early wake-up at most, instead of a system call on every wake-up. */
void phx_ring_cancel_sleep(phx_ring_t *r);

int phx_ring_doorbell_fd(const phx_ring_t *r);
bool phx_ring_is_broken(const phx_ring_t *r);

#endif /* PHOENIX_RING_H */
