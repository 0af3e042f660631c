/* test_ring.c - the SPSC ring: geometry and header validation (the header is untrusted), a peer
 * corrupting an index, empty/full/wrap-around with odd batches and 32-bit index wrap, the
 * need-wakeup doorbell, and real concurrency: two processes moving ten million items with a
 * running checksum, and a consumer thread that sleeps on the doorbell between bursts (checked by
 * TSan). Every wait is bounded by a
 * wall-clock deadline that fails the test, and every child is reaped. */
#include "phoenix/ring.h"
#include "phoenix/log.h"
#include "phx_test.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define NS_PER_SEC 1000000000ull

/* ---- helpers ------------------------------------------------------------------------------ */

/* Ring memory from mmap: page aligned, and MAP_SHARED so a forked child sees the same ring. */
static void *map_shared(size_t len)
{
    void *mem = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    return mem == MAP_FAILED ? NULL : mem;
}

static void *map_ring(uint32_t slot_size, uint32_t capacity, size_t *len)
{
    *len = phx_ring_mem_size(slot_size, capacity);
    void *mem = map_shared(*len);
    if (mem && phx_ring_format(mem, *len, slot_size, capacity) != 0) {
        munmap(mem, *len);
        return NULL;
    }
    return mem;
}

static int new_doorbell(void)
{
    return eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
}

/* Whether the eventfd has been rung and not drained, without consuming it. */
static bool doorbell_pending(int fd)
{
    struct pollfd p = { .fd = fd, .events = POLLIN };
    return poll(&p, 1, 0) == 1;
}

/* A distinct, order-sensitive value for item I, so loss, duplication and reordering all show. */
static uint64_t item_value(uint64_t i)
{
    uint64_t z = i + 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t checksum_add(uint64_t sum, uint64_t value)
{
    return (sum ^ value) * 0x100000001b3ull;
}

static uint64_t xorshift(uint64_t *state)
{
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    return *state;
}

/* Waits for CHILD until DEADLINE_NS, killing it if it overstays. Returns its wait status, or -1
 * if it had to be killed. The child is reaped either way. */
static int reap_child(pid_t child, unsigned long long deadline_ns)
{
    int status = 0;
    pid_t rc;

    while ((rc = waitpid(child, &status, WNOHANG)) == 0 || (rc < 0 && errno == EINTR)) {
        if (phx_test_now_ns() > deadline_ns) {
            kill(child, SIGKILL);
            while (waitpid(child, &status, 0) < 0 && errno == EINTR)
                ;
            return -1;
        }
        usleep(1000);
    }
    return rc == child ? status : -1;
}

/* ---- geometry and header validation -------------------------------------------------------- */

static void test_mem_size_and_format_reject_bad_geometry(void)
{
    size_t hdr = offsetof(phx_ring_shared_t, slots);

    CU_ASSERT_EQUAL(hdr, 4 * PHX_RING_ALIGN);
    CU_ASSERT_EQUAL(phx_ring_mem_size(8, 16), hdr + 128);
    CU_ASSERT_EQUAL(phx_ring_mem_size(64, 1), hdr + 64);
    CU_ASSERT_EQUAL(phx_ring_mem_size(0, 16), 0);
    CU_ASSERT_EQUAL(phx_ring_mem_size(12, 16), 0);                 /* not a multiple of 8 */
    CU_ASSERT_EQUAL(phx_ring_mem_size(PHX_RING_MAX_SLOT_SIZE + 8, 16), 0);
    CU_ASSERT_EQUAL(phx_ring_mem_size(8, 0), 0);
    CU_ASSERT_EQUAL(phx_ring_mem_size(8, 24), 0);                  /* not a power of two */
    CU_ASSERT_EQUAL(phx_ring_mem_size(8, PHX_RING_MAX_CAPACITY * 2u), 0);

    size_t len = phx_ring_mem_size(8, 16);
    unsigned char *mem = map_shared(len + 64);
    CU_ASSERT_PTR_NOT_NULL_FATAL(mem);
    CU_ASSERT_EQUAL(phx_ring_format(NULL, len, 8, 16), -EINVAL);
    CU_ASSERT_EQUAL(phx_ring_format(mem + 8, len, 8, 16), -EINVAL);  /* misaligned */
    CU_ASSERT_EQUAL(phx_ring_format(mem, len - 1, 8, 16), -EINVAL);  /* too small */
    CU_ASSERT_EQUAL(phx_ring_format(mem, len, 8, 24), -EINVAL);
    CU_ASSERT_EQUAL(phx_ring_format(mem, len, 7, 16), -EINVAL);
    CU_ASSERT_EQUAL(phx_ring_format(mem, len, 8, 16), 0);

    phx_ring_shared_t *sh = (phx_ring_shared_t *)mem;
    CU_ASSERT_EQUAL(sh->magic, PHX_RING_MAGIC);
    CU_ASSERT_EQUAL(sh->version, PHX_RING_VERSION);
    CU_ASSERT_EQUAL(sh->capacity, 16);
    CU_ASSERT_EQUAL(sh->slot_size, 8);
    CU_ASSERT_EQUAL(sh->head, 0);
    CU_ASSERT_EQUAL(sh->tail, 0);
    munmap(mem, len + 64);
}

/* Formats a fresh ring, lets CORRUPT damage it, and returns what attach says. */
static int attach_after(void *mem, size_t len, void (*corrupt)(phx_ring_shared_t *))
{
    phx_ring_t r;

    phx_ring_format(mem, len, 8, 16);
    corrupt(mem);
    return phx_ring_attach(&r, mem, len, -1);
}

static void keep_intact(phx_ring_shared_t *sh) { (void)sh; }
static void flip_magic(phx_ring_shared_t *sh) { sh->magic ^= 1; }
static void bump_version(phx_ring_shared_t *sh) { sh->version++; }
static void odd_capacity(phx_ring_shared_t *sh) { sh->capacity = 24; }
static void zero_capacity(phx_ring_shared_t *sh) { sh->capacity = 0; }
static void huge_capacity(phx_ring_shared_t *sh) { sh->capacity = 1u << 31; }
static void grow_capacity(phx_ring_shared_t *sh) { sh->capacity = 1024; }   /* > mem_len */
static void odd_slot_size(phx_ring_shared_t *sh) { sh->slot_size = 12; }
static void zero_slot_size(phx_ring_shared_t *sh) { sh->slot_size = 0; }
static void head_past_capacity(phx_ring_shared_t *sh) { sh->head = sh->tail + 17; }
static void tail_past_head(phx_ring_shared_t *sh) { sh->tail = sh->head + 1; }
static void ring_full(phx_ring_shared_t *sh) { sh->tail = 1000; sh->head = 1016; }

static void test_attach_rejects_untrusted_headers(void)
{
    size_t len = phx_ring_mem_size(8, 16);
    unsigned char *mem = map_shared(len);
    phx_ring_t r;

    CU_ASSERT_PTR_NOT_NULL_FATAL(mem);
    CU_ASSERT_EQUAL(phx_ring_attach(&r, mem, len, -1), -EPROTO);      /* never formatted */
    CU_ASSERT_EQUAL(attach_after(mem, len, keep_intact), 0);
    CU_ASSERT_EQUAL(attach_after(mem, len, flip_magic), -EPROTO);
    CU_ASSERT_EQUAL(attach_after(mem, len, bump_version), -EPROTO);
    CU_ASSERT_EQUAL(attach_after(mem, len, odd_capacity), -EPROTO);
    CU_ASSERT_EQUAL(attach_after(mem, len, zero_capacity), -EPROTO);
    CU_ASSERT_EQUAL(attach_after(mem, len, huge_capacity), -EPROTO);
    CU_ASSERT_EQUAL(attach_after(mem, len, odd_slot_size), -EPROTO);
    CU_ASSERT_EQUAL(attach_after(mem, len, zero_slot_size), -EPROTO);
    CU_ASSERT_EQUAL(attach_after(mem, len, grow_capacity), -EINVAL);
    CU_ASSERT_EQUAL(attach_after(mem, len, head_past_capacity), -EPROTO);
    CU_ASSERT_EQUAL(attach_after(mem, len, tail_past_head), -EPROTO);
    CU_ASSERT_EQUAL(attach_after(mem, len, ring_full), 0);

    phx_ring_format(mem, len, 8, 16);
    CU_ASSERT_EQUAL(phx_ring_attach(NULL, mem, len, -1), -EINVAL);
    CU_ASSERT_EQUAL(phx_ring_attach(&r, NULL, len, -1), -EINVAL);
    CU_ASSERT_EQUAL(phx_ring_attach(&r, mem, len - 8, -1), -EINVAL);  /* too small memory */
    CU_ASSERT_EQUAL(phx_ring_attach(&r, mem, 64, -1), -EINVAL);       /* not even the header */

    int blocking = eventfd(0, EFD_CLOEXEC);
    int closed = new_doorbell();
    close(closed);
    CU_ASSERT_EQUAL(phx_ring_attach(&r, mem, len, blocking), -EINVAL);
    CU_ASSERT_EQUAL(phx_ring_attach(&r, mem, len, closed), -EBADF);
    close(blocking);
    munmap(mem, len);
}

/* ---- single-threaded behaviour ------------------------------------------------------------- */

/* A ring with a producer and a consumer handle on it, both in this thread. */
typedef struct {
    void *mem;
    size_t len;
    phx_ring_t prod;
    phx_ring_t cons;
} pair_t;

static bool pair_open(pair_t *p, uint32_t slot_size, uint32_t capacity, int doorbell_fd)
{
    p->mem = map_ring(slot_size, capacity, &p->len);
    return p->mem && phx_ring_attach(&p->prod, p->mem, p->len, doorbell_fd) == 0 &&
           phx_ring_attach(&p->cons, p->mem, p->len, doorbell_fd) == 0;
}

static void pair_close(pair_t *p)
{
    if (p->mem)
        munmap(p->mem, p->len);
}

static void test_corrupted_head_breaks_consumer(void)
{
    phx_log_level_t level = phx_log_get_level();
    pair_t p;
    uint64_t items[8] = { 0 };

    phx_log_set_level(PHX_LOG_ERROR);        /* the "ring broken" warning is expected here */
    CU_ASSERT_FATAL(pair_open(&p, 8, 16, -1));
    phx_ring_shared_t *sh = p.mem;
    CU_ASSERT_EQUAL(phx_ring_push(&p.prod, items, 3), 3);
    sh->head = sh->tail + 17;               /* a hostile producer claims 17 of 16 slots */
    CU_ASSERT_EQUAL(phx_ring_pop(&p.cons, items, 4), -EPROTO);
    CU_ASSERT(phx_ring_is_broken(&p.cons));
    CU_ASSERT_EQUAL(phx_ring_pop(&p.cons, items, 4), -EPROTO);
    CU_ASSERT_EQUAL(phx_ring_count(&p.cons), 0);
    CU_ASSERT_FALSE(phx_ring_prepare_sleep(&p.cons));
    CU_ASSERT_EQUAL(sh->tail, 0);           /* a broken handle publishes nothing */
    pair_close(&p);
    phx_log_set_level(level);
}

static void test_corrupted_tail_breaks_producer(void)
{
    phx_log_level_t level = phx_log_get_level();
    pair_t p;
    uint64_t items[16] = { 0 };

    phx_log_set_level(PHX_LOG_ERROR);
    CU_ASSERT_FATAL(pair_open(&p, 8, 16, -1));
    phx_ring_shared_t *sh = p.mem;
    CU_ASSERT_EQUAL(phx_ring_push(&p.prod, items, 16), 16);
    sh->tail = sh->head + 1;                /* a hostile consumer read past what was written */
    CU_ASSERT_EQUAL(phx_ring_push(&p.prod, items, 1), -EPROTO);
    CU_ASSERT(phx_ring_is_broken(&p.prod));
    CU_ASSERT_EQUAL(phx_ring_push(&p.prod, items, 1), -EPROTO);     /* for good */
    CU_ASSERT_EQUAL(phx_ring_notify(&p.prod), 0);
    pair_close(&p);
    phx_log_set_level(level);
}

static uint32_t min_u32(uint32_t a, uint32_t b)
{
    return a < b ? a : b;
}

static void test_empty_full_and_wrap_with_odd_batches(void)
{
    static const uint32_t push_sizes[] = { 5, 7, 3, 11, 1, 13, 16, 2 };
    static const uint32_t pop_sizes[] = { 3, 6, 9, 2, 17, 1, 4 };
    uint64_t buf[32], pushed = 0, popped = 0, misordered = 0;
    unsigned short_pushes = 0;
    pair_t p;
    int n;

    CU_ASSERT_FATAL(pair_open(&p, 8, 16, -1));
    CU_ASSERT_EQUAL(phx_ring_pop(&p.cons, buf, 4), 0);
    for (unsigned round = 0; round < 2000; round++) {
        uint32_t want = push_sizes[round % 8], room = 16 - (uint32_t)(pushed - popped);
        for (uint32_t i = 0; i < want; i++)
            buf[i] = pushed + i;
        n = phx_ring_push(&p.prod, buf, want);
        CU_ASSERT_EQUAL(n, (int)min_u32(want, room));
        short_pushes += n < (int)want;       /* the ring filled up */
        pushed += (uint64_t)(n > 0 ? n : 0);
        CU_ASSERT_EQUAL(phx_ring_count(&p.prod), pushed - popped);

        uint32_t take = pop_sizes[round % 7];
        n = phx_ring_pop(&p.cons, buf, take);
        CU_ASSERT_EQUAL(n, (int)min_u32(take, (uint32_t)(pushed - popped)));
        for (int i = 0; i < n; i++)
            misordered += buf[i] != popped + (uint64_t)i;
        popped += (uint64_t)(n > 0 ? n : 0);
    }
    CU_ASSERT_EQUAL(misordered, 0);
    CU_ASSERT(short_pushes > 0);
    CU_ASSERT(pushed > 10 * 16);             /* wrapped many times */

    while (phx_ring_pop(&p.cons, buf, 32) > 0)   /* at most 16 slots: ends in one or two */
        ;
    CU_ASSERT_EQUAL(phx_ring_push(&p.prod, buf, 32), 16);
    CU_ASSERT_EQUAL(phx_ring_push(&p.prod, buf, 1), 0);
    CU_ASSERT_EQUAL(phx_ring_count(&p.cons), 16);
    CU_ASSERT_EQUAL(phx_ring_pop(&p.cons, buf, 32), 16);
    CU_ASSERT_EQUAL(phx_ring_pop(&p.cons, buf, 1), 0);
    CU_ASSERT_EQUAL(phx_ring_capacity(&p.cons), 16);
    CU_ASSERT_EQUAL(phx_ring_slot_size(&p.cons), 8);
    pair_close(&p);
}

static void test_indices_wrap_past_32_bits(void)
{
    uint64_t buf[8], pushed = 0, popped = 0, misordered = 0;
    size_t len;
    void *mem = map_ring(8, 16, &len);
    phx_ring_t prod, cons;

    CU_ASSERT_PTR_NOT_NULL_FATAL(mem);
    phx_ring_shared_t *sh = mem;
    sh->head = sh->tail = UINT32_MAX - 20;
    CU_ASSERT_EQUAL_FATAL(phx_ring_attach(&prod, mem, len, -1), 0);
    CU_ASSERT_EQUAL_FATAL(phx_ring_attach(&cons, mem, len, -1), 0);
    for (unsigned round = 0; round < 40 && popped < 100; round++) {
        for (uint32_t i = 0; i < 7; i++)
            buf[i] = pushed + i;
        int n = phx_ring_push(&prod, buf, 7);
        CU_ASSERT(n >= 0);
        pushed += (uint64_t)(n > 0 ? n : 0);
        n = phx_ring_pop(&cons, buf, 5);
        CU_ASSERT(n >= 0);
        for (int i = 0; i < n; i++)
            misordered += buf[i] != popped + (uint64_t)i;
        popped += (uint64_t)(n > 0 ? n : 0);
        CU_ASSERT_EQUAL(phx_ring_count(&cons), pushed - popped);
    }
    CU_ASSERT(popped >= 100);
    CU_ASSERT_EQUAL(misordered, 0);
    CU_ASSERT(sh->head < 1000);              /* the counters did wrap */
    CU_ASSERT_FALSE(phx_ring_is_broken(&cons));
    munmap(mem, len);
}

static void test_doorbell_rings_only_for_a_sleeping_consumer(void)
{
    uint64_t item = 42;
    int fd = new_doorbell();
    pair_t p;

    CU_ASSERT_FATAL(fd >= 0 && pair_open(&p, 8, 16, fd));
    phx_ring_shared_t *sh = p.mem;
    CU_ASSERT_EQUAL(phx_ring_doorbell_fd(&p.prod), fd);

    CU_ASSERT_EQUAL(phx_ring_push(&p.prod, &item, 1), 1);
    CU_ASSERT_EQUAL(phx_ring_notify(&p.prod), 0);   /* consumer awake: no write(2) */
    CU_ASSERT_FALSE(doorbell_pending(fd));
    CU_ASSERT_FALSE(phx_ring_prepare_sleep(&p.cons));   /* work queued: do not sleep */
    CU_ASSERT_EQUAL(sh->need_wakeup, 0);
    CU_ASSERT_EQUAL(phx_ring_pop(&p.cons, &item, 1), 1);

    CU_ASSERT_TRUE(phx_ring_prepare_sleep(&p.cons));
    CU_ASSERT_EQUAL(sh->need_wakeup, 1);
    CU_ASSERT_EQUAL(phx_ring_push(&p.prod, &item, 1), 1);
    CU_ASSERT_EQUAL(phx_ring_notify(&p.prod), 1);
    CU_ASSERT_TRUE(doorbell_pending(fd));
    CU_ASSERT_EQUAL(phx_ring_notify(&p.prod), 0);   /* rung once per sleep */
    phx_ring_finish_sleep(&p.cons);
    CU_ASSERT_EQUAL(sh->need_wakeup, 0);
    CU_ASSERT_FALSE(doorbell_pending(fd));
    CU_ASSERT_EQUAL(phx_ring_notify(&p.prod), 0);
    pair_close(&p);
    close(fd);

    CU_ASSERT_FATAL(pair_open(&p, 8, 16, -1));     /* a ring without doorbell never sleeps */
    CU_ASSERT_EQUAL(phx_ring_doorbell_fd(&p.cons), -1);
    CU_ASSERT_FALSE(phx_ring_prepare_sleep(&p.cons));
    CU_ASSERT_EQUAL(phx_ring_notify(&p.prod), 0);
    phx_ring_finish_sleep(&p.cons);
    pair_close(&p);
}

/* ---- two processes ------------------------------------------------------------------------- */

#define XFER_ITEMS    10000000ull
#define XFER_CAPACITY 8192u
#define XFER_BATCH    64u

/* What the consumer child reports back through shared memory; read after waitpid(). */
typedef struct {
    uint64_t received;
    uint64_t checksum;
    uint64_t misordered;
} xfer_result_t;

/* Pops ITEMS items in batches of 1..64, checking each against its expected value, yielding the
 * CPU while the ring is empty, until done or DEADLINE. */
static void consume_items(phx_ring_t *r, xfer_result_t *res, unsigned long long deadline)
{
    uint64_t buf[XFER_BATCH], received = 0, sum = 0, misordered = 0;

    for (uint32_t round = 0; received < XFER_ITEMS; round++) {
        int n = phx_ring_pop(r, buf, 1 + round % XFER_BATCH);
        if (n < 0 || (n == 0 && phx_test_now_ns() > deadline))
            break;
        if (n == 0)
            sched_yield();
        for (int i = 0; i < n; i++) {
            misordered += buf[i] != item_value(received + (uint64_t)i);
            sum = checksum_add(sum, buf[i]);
        }
        received += (uint64_t)n;
    }
    *res = (xfer_result_t){ .received = received, .checksum = sum, .misordered = misordered };
}

/* Pushes ITEMS items in batches of 1..61 (odd sizes against the consumer's), yielding while the
 * ring is full, until done or DEADLINE. Returns how many went in; *CHECKSUM covers them. */
static uint64_t produce_items(phx_ring_t *r, unsigned long long deadline, uint64_t *checksum)
{
    uint64_t buf[XFER_BATCH], sent = 0, sum = 0;

    for (uint32_t round = 0; sent < XFER_ITEMS; round++) {
        uint32_t want = (uint32_t)(XFER_ITEMS - sent < 61 ? XFER_ITEMS - sent : 1 + round % 61);
        for (uint32_t i = 0; i < want; i++)
            buf[i] = item_value(sent + i);
        int n = phx_ring_push(r, buf, want);
        if (n < 0 || (n == 0 && phx_test_now_ns() > deadline))
            break;
        if (n == 0)
            sched_yield();
        for (int i = 0; i < n; i++)
            sum = checksum_add(sum, buf[i]);
        sent += (uint64_t)n;
    }
    *checksum = sum;
    return sent;
}

static void test_two_processes_move_ten_million_items(void)
{
    size_t len;
    void *mem = map_ring(8, XFER_CAPACITY, &len);
    xfer_result_t *res = map_shared(sizeof(*res));
    unsigned long long start = phx_test_now_ns(), deadline = start + 60 * NS_PER_SEC;
    uint64_t checksum = 0;
    phx_ring_t prod;

    CU_ASSERT_FATAL(mem && res);
    CU_ASSERT_EQUAL_FATAL(phx_ring_attach(&prod, mem, len, -1), 0);
    fflush(NULL);
    pid_t child = fork();
    if (child == 0) {
        phx_ring_t cons;
        if (phx_ring_attach(&cons, mem, len, -1) != 0)
            _exit(2);
        consume_items(&cons, res, deadline);
        _exit(0);
    }
    CU_ASSERT_FATAL(child > 0);
    uint64_t sent = produce_items(&prod, deadline, &checksum);
    int status = reap_child(child, deadline + 5 * NS_PER_SEC);
    double secs = (double)(phx_test_now_ns() - start) / NS_PER_SEC;

    printf("\n    %llu items in %.2f s (%.1f M items/s) ", (unsigned long long)res->received, secs,
           (double)res->received / secs / 1e6);
    CU_ASSERT(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CU_ASSERT_EQUAL(sent, XFER_ITEMS);
    CU_ASSERT_EQUAL(res->received, XFER_ITEMS);
    CU_ASSERT_EQUAL(res->checksum, checksum);
    CU_ASSERT_EQUAL(res->misordered, 0);
    munmap(res, sizeof(*res));
    munmap(mem, len);
}

/* ---- threads ------------------------------------------------------------------------------- */

#define BURSTS            200
#define BURST_MAX         40u
#define POLL_TIMEOUT_MS   1000

/* The consumer thread's state; the main thread reads it after pthread_join(). */
typedef struct {
    phx_ring_t cons;
    uint64_t expected;
    unsigned long long deadline;
    uint64_t received, misordered, sleep_attempts, sleeps, timeouts, missed_wakeups;
    int error;
} sleeper_t;

/* Sleeps on the doorbell if the ring is still empty once need_wakeup is set. A poll that times
 * out while items are queued is a lost wakeup. */
static void sleep_on_doorbell(sleeper_t *s)
{
    s->sleep_attempts++;
    if (phx_ring_prepare_sleep(&s->cons)) {
        struct pollfd p = { .fd = phx_ring_doorbell_fd(&s->cons), .events = POLLIN };
        s->sleeps++;
        if (poll(&p, 1, POLL_TIMEOUT_MS) == 0) {
            s->timeouts++;
            s->missed_wakeups += phx_ring_count(&s->cons) > 0;
        }
    }
    phx_ring_finish_sleep(&s->cons);
}

static void *sleeping_consumer(void *arg)
{
    sleeper_t *s = arg;
    uint64_t buf[64];

    while (s->received < s->expected && phx_test_now_ns() < s->deadline) {
        int n = phx_ring_pop(&s->cons, buf, 64);
        if (n < 0) {
            s->error = n;
            break;
        }
        for (int i = 0; i < n; i++)
            s->misordered += buf[i] != item_value(s->received + (uint64_t)i);
        s->received += (uint64_t)n;
        if (n == 0)
            sleep_on_doorbell(s);
    }
    return NULL;
}

/* Pushes COUNT items one by one. A full ring means the consumer must run to make room, so the
 * producer rings (if it sleeps) before yielding. Returns false on error or past DEADLINE. */
static bool push_burst(phx_ring_t *r, uint64_t *sent, uint32_t count, unsigned long long deadline,
                       uint64_t *rings)
{
    for (uint32_t done = 0; done < count;) {
        uint64_t v = item_value(*sent);
        int n = phx_ring_push(r, &v, 1);
        if (n == 1) {
            (*sent)++;
            done++;
            continue;
        }
        if (n < 0 || phx_test_now_ns() > deadline)
            return false;
        *rings += phx_ring_notify(r) == 1;
        sched_yield();
    }
    return true;
}

/* Half the gaps let the consumer fall asleep; the other half are spins of 0-50 us, so bursts
 * also land while the consumer is on its way to sleep (the lost-wakeup window). */
static void pause_between_bursts(uint64_t *rng)
{
    uint64_t r = xorshift(rng);

    if (r & 1) {
        usleep((useconds_t)((r >> 1) % 1500));
        return;
    }
    unsigned long long until = phx_test_now_ns() + (r >> 1) % 50000;
    while (phx_test_now_ns() < until)
        ;
}

static void test_sleeping_consumer_woken_for_every_burst(void)
{
    uint32_t sizes[BURSTS];
    uint64_t rng = 0x2545f4914f6cdd1dull, sent = 0, rings = 0, expected = 0;
    int fd = new_doorbell();
    size_t len;
    void *mem = map_ring(8, 256, &len);
    sleeper_t s = { .deadline = phx_test_now_ns() + 30 * NS_PER_SEC };
    phx_ring_t prod;
    pthread_t consumer;

    for (int b = 0; b < BURSTS; b++) {
        sizes[b] = 1 + (uint32_t)(xorshift(&rng) % BURST_MAX);
        expected += sizes[b];
    }
    s.expected = expected;
    CU_ASSERT_FATAL(fd >= 0 && mem);
    CU_ASSERT_EQUAL_FATAL(phx_ring_attach(&prod, mem, len, fd), 0);
    CU_ASSERT_EQUAL_FATAL(phx_ring_attach(&s.cons, mem, len, fd), 0);
    CU_ASSERT_EQUAL_FATAL(pthread_create(&consumer, NULL, sleeping_consumer, &s), 0);
    for (int b = 0; b < BURSTS && push_burst(&prod, &sent, sizes[b], s.deadline, &rings); b++) {
        rings += phx_ring_notify(&prod) == 1;
        pause_between_bursts(&rng);
    }
    pthread_join(consumer, NULL);

    printf("\n    %llu items, %llu sleeps, %llu rings, %llu poll timeouts ",
           (unsigned long long)s.received, (unsigned long long)s.sleeps,
           (unsigned long long)rings, (unsigned long long)s.timeouts);
    CU_ASSERT_EQUAL(sent, expected);
    CU_ASSERT_EQUAL(s.received, expected);
    CU_ASSERT_EQUAL(s.error, 0);
    CU_ASSERT_EQUAL(s.misordered, 0);
    CU_ASSERT_EQUAL(s.missed_wakeups, 0);
    CU_ASSERT(s.sleeps > 0 && rings > 0);
    CU_ASSERT(rings <= s.sleep_attempts);     /* each ring consumes one raised flag */
    munmap(mem, len);
    close(fd);
}

static const phx_test_case_t cases[] = {
    { "mem_size and format reject bad geometry", test_mem_size_and_format_reject_bad_geometry },
    { "attach rejects untrusted headers", test_attach_rejects_untrusted_headers },
    { "corrupted head breaks the consumer", test_corrupted_head_breaks_consumer },
    { "corrupted tail breaks the producer", test_corrupted_tail_breaks_producer },
    { "empty, full and wrap with odd batches", test_empty_full_and_wrap_with_odd_batches },
    { "indices wrap past 32 bits", test_indices_wrap_past_32_bits },
    { "doorbell rings only for a sleeping consumer",
      test_doorbell_rings_only_for_a_sleeping_consumer },
    { "two processes move ten million items", test_two_processes_move_ten_million_items },
    { "sleeping consumer woken for every burst", test_sleeping_consumer_woken_for_every_burst },
    { NULL, NULL },
};

int main(int argc, char **argv)
{
    return phx_test_main("ring", cases, argc, argv);
}
