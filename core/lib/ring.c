/* ring.c - SPSC ring in shared memory with a need-wakeup doorbell. See ring.h for the layout.
 *
 * Data ordering. The producer writes slots, then store-releases head; the consumer load-acquires
 * head, then reads those slots. The consumer store-releases tail after reading; the producer
 * load-acquires tail before writing the freed slots again. Each side caches the peer's index in
 * its handle and reloads it only when the cached value says "not enough", so a busy ring with
 * room to spare costs no cross-core cache traffic for the index it does not own.
 *
 * Sleeping without lost wakeups. This is Dekker's pattern on two words, using seq_cst atomics
 * (rather than fences, which ThreadSanitizer cannot model):
 *
 *     producer, phx_ring_notify()           consumer, phx_ring_prepare_sleep()
 *     P1  store_sc(head, h)                 C1  store_sc(need_wakeup, 1)
 *     P2  load_sc(need_wakeup)  -> ring?    C2  load_sc(head)  -> empty? then sleep
 *
 * All seq_cst operations form one total order S. If C1 comes before P2 in S, P2 reads 1 (or a
 * later 0 written by the consumer clearing it, which means it is awake already) and the producer
 * rings. Otherwise P1 < P2 < C1 < C2 in S, so C2 reads h and the consumer sees the work and does
 * not sleep. Either way a consumer never sleeps with work queued. P1 re-stores the head that
 * commit already published with release, purely to place it in S; on x86 it is one xchg. The
 * producer clears the flag (atomic exchange) when it rings, so a sleeping consumer is rung once
 * however many pushes arrive before it wakes; an exchange that finds the flag already cleared by
 * the consumer means it is awake and skips the system call.
 *
 * Trust. The other side may be hostile. Header fields are read once at attach into the handle;
 * the peer's index is read once per refresh and checked (head - tail <= capacity, in unsigned
 * arithmetic) before use; every slot address comes from an index masked with the handle's own
 * mask. Once a check fails the handle is broken for good. */
#include "phoenix/ring.h"

#include "phoenix/log.h"
#include "phoenix/minmax.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

_Static_assert(sizeof(size_t) >= sizeof(uint64_t), "ring sizes need a 64-bit size_t");
_Static_assert(offsetof(phx_ring_shared_t, slots) == 4 * PHX_RING_ALIGN,
               "header, head, tail and need_wakeup each take one cache line");

/* Reads a word of shared memory exactly once: the peer may change it under us. */
#define PEER_READ(field) __atomic_load_n(&(field), __ATOMIC_RELAXED)

static bool geometry_valid(uint32_t slot_size, uint32_t capacity)
{
    return slot_size >= PHX_RING_MIN_SLOT_SIZE && slot_size <= PHX_RING_MAX_SLOT_SIZE &&
           slot_size % PHX_RING_MIN_SLOT_SIZE == 0 && capacity >= 1 &&
           capacity <= PHX_RING_MAX_CAPACITY && (capacity & (capacity - 1)) == 0;
}

size_t phx_ring_mem_size(uint32_t slot_size, uint32_t capacity)
{
    if (!geometry_valid(slot_size, capacity))
        return 0;
    return offsetof(phx_ring_shared_t, slots) + (size_t)slot_size * capacity;
}

static bool mem_aligned(const void *mem)
{
    return mem && (uintptr_t)mem % PHX_RING_ALIGN == 0;
}

int phx_ring_format(void *mem, size_t mem_len, uint32_t slot_size, uint32_t capacity)
{
    size_t need = phx_ring_mem_size(slot_size, capacity);
    phx_ring_shared_t *sh = mem;

    if (!need || !mem_aligned(mem) || mem_len < need)
        return -EINVAL;
    memset(sh, 0, offsetof(phx_ring_shared_t, slots));
    sh->version = PHX_RING_VERSION;
    sh->slot_size = slot_size;
    sh->capacity = capacity;
    /* Magic last, with release: whoever sees it sees the whole header. */
    __atomic_store_n(&sh->magic, PHX_RING_MAGIC, __ATOMIC_RELEASE);
    return 0;
}

/* The doorbell is drained in finish_sleep with a read that must not block. */
static int doorbell_check(int fd)
{
    if (fd == -1)
        return 0;
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0)
        return -errno;
    return flags & O_NONBLOCK ? 0 : -EINVAL;
}

static uint32_t ring_cap(const phx_ring_t *r)
{
    return r->mask + 1;
}

/* Whether a fill level is one a correct peer could have produced. Unsigned subtraction makes a
 * tail that overtook head look huge, so one comparison covers both directions. */
static bool fill_possible(uint32_t head, uint32_t tail, uint32_t capacity)
{
    return head - tail <= capacity;
}

int phx_ring_attach(phx_ring_t *r, void *mem, size_t mem_len, int doorbell_fd)
{
    phx_ring_shared_t *sh = mem;

    if (!r || !mem_aligned(mem) || mem_len < sizeof(*sh))
        return -EINVAL;
    int rc = doorbell_check(doorbell_fd);
    if (rc)
        return rc;

    uint64_t magic = __atomic_load_n(&sh->magic, __ATOMIC_ACQUIRE);
    uint32_t version = PEER_READ(sh->version);
    uint32_t slot_size = PEER_READ(sh->slot_size);
    uint32_t capacity = PEER_READ(sh->capacity);
    if (magic != PHX_RING_MAGIC || version != PHX_RING_VERSION ||
        !geometry_valid(slot_size, capacity))
        return -EPROTO;
    if (mem_len < phx_ring_mem_size(slot_size, capacity))
        return -EINVAL;

    /* Acquire both: the cached head lets the consumer read slots without reloading it. Each
     * side's own index is stable while it attaches, so the order of the two loads is free. */
    uint32_t head = __atomic_load_n(&sh->head, __ATOMIC_ACQUIRE);
    uint32_t tail = __atomic_load_n(&sh->tail, __ATOMIC_ACQUIRE);
    if (!fill_possible(head, tail, capacity))
        return -EPROTO;

    *r = (phx_ring_t){
        .shared = sh,
        .slots = sh->slots,
        .mask = capacity - 1,
        .slot_size = slot_size,
        .head = head,
        .tail = tail,
        .doorbell_fd = doorbell_fd,
    };
    return 0;
}

/* The peer published an index no correct peer could: stop using the ring for good. */
static void mark_broken(phx_ring_t *r, uint32_t head, uint32_t tail)
{
    if (!r->broken)
        phx_warn("ring %p: peer index out of range (head %u, tail %u, capacity %u), ring broken",
                 (void *)r->shared, head, tail, ring_cap(r));
    r->broken = true;
}

/* Producer: free slots, reloading the consumer's tail only when fewer than WANT look free. */
static uint32_t producer_free(phx_ring_t *r, uint32_t want)
{
    uint32_t free_slots = ring_cap(r) - (r->head - r->tail);

    if (free_slots >= want || r->broken)
        return free_slots;
    uint32_t tail = __atomic_load_n(&r->shared->tail, __ATOMIC_ACQUIRE);
    if (!fill_possible(r->head, tail, ring_cap(r))) {
        mark_broken(r, r->head, tail);
        return 0;
    }
    r->tail = tail;
    return ring_cap(r) - (r->head - tail);
}

/* Consumer: reloads the producer's head with MEMORDER; false (and broken) if impossible. */
static bool consumer_reload_head(phx_ring_t *r, int memorder)
{
    uint32_t head = __atomic_load_n(&r->shared->head, memorder);

    if (!fill_possible(head, r->tail, ring_cap(r))) {
        mark_broken(r, head, r->tail);
        return false;
    }
    r->head = head;
    return true;
}

/* Consumer: filled slots, reloading head only when fewer than WANT look filled. */
static uint32_t consumer_filled(phx_ring_t *r, uint32_t want)
{
    uint32_t filled = r->head - r->tail;

    if (filled >= want || r->broken)
        return filled;
    return consumer_reload_head(r, __ATOMIC_ACQUIRE) ? r->head - r->tail : 0;
}

static unsigned char *slot_at(const phx_ring_t *r, uint32_t index)
{
    return r->slots + (size_t)(index & r->mask) * r->slot_size;
}

/* How many of N slots starting at INDEX lie before the end of the slot array. */
static uint32_t contiguous(const phx_ring_t *r, uint32_t index, uint32_t n)
{
    return phx_min_u32(n, ring_cap(r) - (index & r->mask));
}

static void publish_head(phx_ring_t *r, uint32_t head)
{
    r->head = head;
    __atomic_store_n(&r->shared->head, head, __ATOMIC_RELEASE);
}

static void publish_tail(phx_ring_t *r, uint32_t tail)
{
    r->tail = tail;
    __atomic_store_n(&r->shared->tail, tail, __ATOMIC_RELEASE);
}

int phx_ring_push(phx_ring_t *r, const void *slots, uint32_t n)
{
    uint32_t count = phx_min_u32(n, producer_free(r, n));

    if (r->broken)
        return -EPROTO;
    if (count == 0)
        return 0;
    uint32_t first = contiguous(r, r->head, count);
    size_t first_bytes = (size_t)first * r->slot_size;
    memcpy(slot_at(r, r->head), slots, first_bytes);
    memcpy(slot_at(r, r->head + first), (const unsigned char *)slots + first_bytes,
           (size_t)(count - first) * r->slot_size);
    publish_head(r, r->head + count);
    return (int)count;
}

int phx_ring_pop(phx_ring_t *r, void *slots, uint32_t max)
{
    uint32_t count = phx_min_u32(max, consumer_filled(r, max));

    if (r->broken)
        return -EPROTO;
    if (count == 0)
        return 0;
    uint32_t first = contiguous(r, r->tail, count);
    size_t first_bytes = (size_t)first * r->slot_size;
    memcpy(slots, slot_at(r, r->tail), first_bytes);
    memcpy((unsigned char *)slots + first_bytes, slot_at(r, r->tail + first),
           (size_t)(count - first) * r->slot_size);
    publish_tail(r, r->tail + count);
    return (int)count;
}

uint32_t phx_ring_count(phx_ring_t *r)
{
    /* Tail first: head only grows, so a head read afterwards is never behind it. */
    uint32_t tail = __atomic_load_n(&r->shared->tail, __ATOMIC_ACQUIRE);
    uint32_t head = __atomic_load_n(&r->shared->head, __ATOMIC_ACQUIRE);

    if (r->broken)
        return 0;
    if (!fill_possible(head, tail, ring_cap(r))) {
        mark_broken(r, head, tail);
        return 0;
    }
    return head - tail;
}

uint32_t phx_ring_capacity(const phx_ring_t *r)
{
    return ring_cap(r);
}

uint32_t phx_ring_slot_size(const phx_ring_t *r)
{
    return r->slot_size;
}

static int ring_doorbell(int fd)
{
    uint64_t one = 1;

    /* EAGAIN means the eventfd counter is saturated: the consumer will wake all the same. */
    if (write(fd, &one, sizeof(one)) == (ssize_t)sizeof(one) || errno == EAGAIN)
        return 1;
    return -errno;
}

int phx_ring_notify(phx_ring_t *r)
{
    uint32_t *need_wakeup = &r->shared->need_wakeup;

    if (r->doorbell_fd < 0 || r->broken)
        return 0;
    __atomic_store_n(&r->shared->head, r->head, __ATOMIC_SEQ_CST);         /* P1 */
    if (!__atomic_load_n(need_wakeup, __ATOMIC_SEQ_CST))                   /* P2 */
        return 0;
    if (!__atomic_exchange_n(need_wakeup, 0, __ATOMIC_SEQ_CST))
        return 0;
    return ring_doorbell(r->doorbell_fd);
}

bool phx_ring_prepare_sleep(phx_ring_t *r)
{
    if (r->doorbell_fd < 0 || r->broken)
        return false;
    __atomic_store_n(&r->shared->need_wakeup, 1, __ATOMIC_SEQ_CST);        /* C1 */
    if (consumer_reload_head(r, __ATOMIC_SEQ_CST) && r->head == r->tail)   /* C2 */
        return true;
    __atomic_store_n(&r->shared->need_wakeup, 0, __ATOMIC_RELAXED);
    return false;
}

void phx_ring_finish_sleep(phx_ring_t *r)
{
    uint64_t rings;

    if (r->doorbell_fd < 0)
        return;
    __atomic_store_n(&r->shared->need_wakeup, 0, __ATOMIC_RELAXED);
    /* Non-blocking; EAGAIN just means nobody rang. Draining makes the next poll sleep. */
    ssize_t got = read(r->doorbell_fd, &rings, sizeof(rings));
    (void)got;
}

void phx_ring_cancel_sleep(phx_ring_t *r)
{
    if (r->doorbell_fd >= 0)
        __atomic_store_n(&r->shared->need_wakeup, 0, __ATOMIC_RELAXED);
}

int phx_ring_doorbell_fd(const phx_ring_t *r)
{
    return r->doorbell_fd;
}

bool phx_ring_is_broken(const phx_ring_t *r)
{
    return r->broken;
}
