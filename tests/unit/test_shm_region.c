/* test_shm_region.c - shared regions: sparse, size-sealed memfds at picked addresses, the checks
 * a peer's fd must pass, overflow-safe bounds, and two processes sharing one region at one
 * address: a sealed receive heap that the peer reads but cannot write, and a protobuf-c message
 * that a peer builds in its heap and this process reads through the very same raw pointers.
 * Peers are forked before the region exists and receive the memfd over a socket, as an app gets
 * it from the service, so their mapping is their own and not an inherited one. */
#include "phoenix/fdpass.h"
#include "phoenix/heap.h"
#include "phoenix/shm_region.h"
#include "phx_test.h"

#include "heap_test.pb-c.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define KiB ((size_t)1024)
#define MiB (1024 * KiB)
#define GiB (1024 * MiB)
#define PEER_SECONDS 30
#define WIRE_MAX 8192

/* Checks that run where CUnit cannot (in a peer, or deep in a walk) return the failing line. */
#define CHECK(cond)                  \
    do {                             \
        if (!(cond))                 \
            return __LINE__;         \
    } while (0)

#define ASSERT_NO_FAILED_LINE(expr)                                             \
    do {                                                                        \
        int failed_line_ = (expr);                                              \
        if (failed_line_)                                                       \
            fprintf(stderr, "\n    check at %s:%d failed\n", __FILE__, failed_line_); \
        CU_ASSERT_EQUAL(failed_line_, 0);                                       \
    } while (0)

/* ---- the test message, built field by field with any allocator ---- */

#define SHAPE_VALUES 50
#define SHAPE_TAGS 5
#define SHAPE_POINTS 20
#define SHAPE_BLOB 300
#define SHAPE_ID 0x1234567890abcdefull
#define SHAPE_WEIGHT 3.25
#define SHAPE_NUMBER 7

static void *alloc_with(ProtobufCAllocator *a, size_t size)
{
    return a->alloc(a->allocator_data, size);
}

static char *text_with(ProtobufCAllocator *a, const char *fmt, int i)
{
    char text[64];
    int n = snprintf(text, sizeof(text), fmt, i);
    char *copy = alloc_with(a, (size_t)n + 1);

    memcpy(copy, text, (size_t)n + 1);
    return copy;
}

static int64_t value_at(int i)
{
    return (int64_t)i * i * i - 1000;
}

static Phx__Test__Point *build_point(ProtobufCAllocator *a, int i)
{
    Phx__Test__Point *p = alloc_with(a, sizeof(*p));

    phx__test__point__init(p);
    p->x = i;
    p->y = -3 * i;
    p->label = text_with(a, "point %d", i);
    return p;
}

static Phx__Test__Shape *build_shape(ProtobufCAllocator *a)
{
    Phx__Test__Shape *s = alloc_with(a, sizeof(*s));

    phx__test__shape__init(s);
    s->name = text_with(a, "shape number %d", SHAPE_NUMBER);
    s->blob = (ProtobufCBinaryData){ SHAPE_BLOB, alloc_with(a, SHAPE_BLOB) };
    for (int i = 0; i < SHAPE_BLOB; i++)
        s->blob.data[i] = (uint8_t)(i * 7);
    s->n_values = SHAPE_VALUES;
    s->values = alloc_with(a, SHAPE_VALUES * sizeof(*s->values));
    for (int i = 0; i < SHAPE_VALUES; i++)
        s->values[i] = value_at(i);
    s->n_tags = SHAPE_TAGS;
    s->tags = alloc_with(a, SHAPE_TAGS * sizeof(*s->tags));
    for (int i = 0; i < SHAPE_TAGS; i++)
        s->tags[i] = text_with(a, "tag number %d", i);
    s->origin = build_point(a, -1);
    s->n_points = SHAPE_POINTS;
    s->points = alloc_with(a, SHAPE_POINTS * sizeof(*s->points));
    for (int i = 0; i < SHAPE_POINTS; i++)
        s->points[i] = build_point(a, i);
    s->id = SHAPE_ID;
    s->weight = SHAPE_WEIGHT;
    return s;
}

static void *system_alloc(void *unused, size_t size)
{
    return malloc(size);
}

static void system_free(void *unused, void *ptr)
{
    free(ptr);
}

static ProtobufCAllocator system_allocator = { system_alloc, system_free, NULL };

/* ---- reading a message as the service would: check every pointer before following it ---- */

static bool string_in_region(const phx_shm_region_t *r, const char *s)
{
    if (!phx_shm_region_contains(r, s, 1))
        return false;
    size_t room = (size_t)((const char *)r->base + r->size - s);
    return strnlen(s, room) < room;
}

static int check_text(const phx_shm_region_t *r, const char *s, const char *fmt, int i)
{
    char expected[64];

    CHECK(string_in_region(r, s));
    snprintf(expected, sizeof(expected), fmt, i);
    CHECK(strcmp(s, expected) == 0);
    return 0;
}

static int check_point(const phx_shm_region_t *r, const Phx__Test__Point *p, int i)
{
    CHECK(phx_shm_region_contains(r, p, sizeof(*p)));
    CHECK(p->base.descriptor == &phx__test__point__descriptor);
    CHECK(p->x == i && p->y == -3 * i);
    return check_text(r, p->label, "point %d", i);
}

static int check_arrays(const phx_shm_region_t *r, const Phx__Test__Shape *s)
{
    CHECK(s->blob.len == SHAPE_BLOB && phx_shm_region_contains(r, s->blob.data, SHAPE_BLOB));
    for (int i = 0; i < SHAPE_BLOB; i++)
        CHECK(s->blob.data[i] == (uint8_t)(i * 7));
    CHECK(s->n_values == SHAPE_VALUES);
    CHECK(phx_shm_region_contains(r, s->values, SHAPE_VALUES * sizeof(*s->values)));
    for (int i = 0; i < SHAPE_VALUES; i++)
        CHECK(s->values[i] == value_at(i));
    CHECK(s->n_tags == SHAPE_TAGS);
    CHECK(phx_shm_region_contains(r, s->tags, SHAPE_TAGS * sizeof(*s->tags)));
    for (int i = 0; i < SHAPE_TAGS; i++)
        CHECK(check_text(r, s->tags[i], "tag number %d", i) == 0);
    return 0;
}

static int check_shape(const phx_shm_region_t *r, const Phx__Test__Shape *s)
{
    CHECK(phx_shm_region_contains(r, s, sizeof(*s)));
    CHECK(s->base.descriptor == &phx__test__shape__descriptor);
    CHECK(check_text(r, s->name, "shape number %d", SHAPE_NUMBER) == 0);
    int line = check_arrays(r, s);
    if (line)
        return line;
    CHECK(check_point(r, s->origin, -1) == 0);
    CHECK(s->n_points == SHAPE_POINTS);
    CHECK(phx_shm_region_contains(r, s->points, SHAPE_POINTS * sizeof(*s->points)));
    for (int i = 0; i < SHAPE_POINTS; i++)
        CHECK(check_point(r, s->points[i], i) == 0);
    CHECK(s->id == SHAPE_ID && s->weight == SHAPE_WEIGHT);
    return 0;
}

/* Packs S and compares with the same message built in private memory. */
static int check_packs_like_reference(const Phx__Test__Shape *s)
{
    static uint8_t got[WIRE_MAX], want[WIRE_MAX];
    Phx__Test__Shape *reference = build_shape(&system_allocator);
    size_t want_len = phx__test__shape__get_packed_size(reference);

    CHECK(want_len <= WIRE_MAX && phx__test__shape__get_packed_size(s) == want_len);
    phx__test__shape__pack(reference, want);
    phx__test__shape__free_unpacked(reference, &system_allocator);
    CHECK(phx__test__shape__pack(s, got) == want_len);
    CHECK(memcmp(got, want, want_len) == 0);
    return 0;
}

/* ---- peers: forked before the region exists, told about it over a socket ---- */

struct peer {
    pid_t pid;
    int sock;
};

/* A peer's body: returns 0, or the line of the check that failed. */
typedef int (*peer_main_fn)(int sock);

struct region_msg {
    uint64_t addr;
    uint64_t size;
};

static void send_int(int sock, int v)
{
    phx_sock_send(sock, &v, sizeof(v), NULL, 0);
}

/* The next int from the other side, or -1 when it is gone. */
static int recv_int(int sock)
{
    int v;

    return phx_sock_recv(sock, &v, sizeof(v), NULL, NULL, 0) == (ssize_t)sizeof(v) ? v : -1;
}

/* The peer sends its body's result as its last message. */
static struct peer peer_start(peer_main_fn body)
{
    int sv[2];

    CU_ASSERT_EQUAL_FATAL(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        close(sv[0]);
        alarm(PEER_SECONDS);            /* a stuck peer dies rather than hang the test */
        send_int(sv[1], body(sv[1]));
        _exit(0);
    }
    close(sv[1]);
    CU_ASSERT(pid > 0);
    return (struct peer){ pid, sv[0] };
}

/* Closes our end (waking a peer that waits on it) and reaps the peer: its wait status. */
static int peer_finish(struct peer *p)
{
    int status = -1;

    close(p->sock);
    while (p->pid > 0 && waitpid(p->pid, &status, 0) < 0 && errno == EINTR)
        ;
    return status;
}

static void send_region(int sock, const phx_shm_region_t *r)
{
    struct region_msg m = { (uintptr_t)r->base, r->size };

    CU_ASSERT_EQUAL(phx_sock_send(sock, &m, sizeof(m), &r->fd, 1), (ssize_t)sizeof(m));
}

/* Peer side: the region's address and size in M, and its memfd (or -1). */
static int recv_region(int sock, struct region_msg *m)
{
    int fd = -1;
    unsigned n = 0;
    ssize_t got = phx_sock_recv(sock, m, sizeof(*m), &fd, &n, 1);

    return got == (ssize_t)sizeof(*m) && n == 1 ? fd : -1;
}

static void send_pointers(int sock, const void *a, const void *b)
{
    uint64_t ptrs[2] = { (uintptr_t)a, (uintptr_t)b };

    phx_sock_send(sock, ptrs, sizeof(ptrs), NULL, 0);
}

static bool recv_pointers(int sock, void **a, void **b)
{
    uint64_t ptrs[2] = { 0, 0 };
    bool ok = phx_sock_recv(sock, ptrs, sizeof(ptrs), NULL, NULL, 0) == (ssize_t)sizeof(ptrs);

    *a = (void *)(uintptr_t)ptrs[0];
    *b = (void *)(uintptr_t)ptrs[1];
    return ok;
}

/* ---- cases: one process ---- */

static void test_create_sparse_and_size_sealed(void)
{
    phx_shm_region_t r = phx_test_region(GiB);
    struct stat st;

    CU_ASSERT(r.owner && r.fd >= 0 && r.size == GiB && r.prot == (PROT_READ | PROT_WRITE));
#ifndef __SANITIZE_THREAD__     /* TSan's shadow covers the range: the kernel picks instead */
    CU_ASSERT((uintptr_t)r.base >= PHX_SHM_RANGE_BASE);
    CU_ASSERT((uintptr_t)r.base + r.size <= PHX_SHM_RANGE_BASE + PHX_SHM_RANGE_SIZE);
    CU_ASSERT_EQUAL((uintptr_t)r.base % GiB, 0);
#endif
    CU_ASSERT_EQUAL_FATAL(fstat(r.fd, &st), 0);
    CU_ASSERT_EQUAL(st.st_size, (off_t)GiB);
    CU_ASSERT_EQUAL(st.st_blocks, 0);
    ((volatile char *)r.base)[512 * MiB] = 1;
    fstat(r.fd, &st);
    CU_ASSERT(st.st_blocks > 0 && (size_t)st.st_blocks * 512 <= 2 * MiB);
    CU_ASSERT_EQUAL(((volatile char *)r.base)[r.size - 1], 0);

    int seals = fcntl(r.fd, F_GET_SEALS);
    CU_ASSERT_EQUAL(seals & (F_SEAL_SHRINK | F_SEAL_GROW), F_SEAL_SHRINK | F_SEAL_GROW);
    CU_ASSERT_EQUAL(seals & (F_SEAL_SEAL | F_SEAL_FUTURE_WRITE), 0);
    CU_ASSERT(ftruncate(r.fd, 0) < 0 && errno == EPERM);
    CU_ASSERT(ftruncate(r.fd, (off_t)(2 * GiB)) < 0 && errno == EPERM);
    CU_ASSERT(fcntl(r.fd, F_GETFD) & FD_CLOEXEC);

    phx_shm_region_destroy(&r);
    CU_ASSERT(r.base == NULL && r.fd == -1);
    phx_shm_region_destroy(&r);
}

static void test_create_addresses(void)
{
    phx_shm_region_t a = phx_test_region(64 * MiB), b = phx_test_region(64 * MiB), c;
    struct phx_shm_region_params p = {
        .field_mask = PHX_SHM_REGION_PARAM_FIELD_SIZE | PHX_SHM_REGION_PARAM_FIELD_ADDR,
        .size = 64 * MiB, .addr = a.base,
    };

    CU_ASSERT((char *)a.base + a.size <= (char *)b.base || (char *)b.base + b.size <= (char *)a.base);
    CU_ASSERT_EQUAL(phx_shm_region_create(&c, &p), -EEXIST);
    CU_ASSERT(c.base == NULL && c.fd == -1);
    p.addr = (char *)b.base + b.size / 2;                /* overlaps b partly */
    CU_ASSERT_EQUAL(phx_shm_region_create(&c, &p), -EEXIST);
    p.addr = (char *)a.base + 1;
    CU_ASSERT_EQUAL(phx_shm_region_create(&c, &p), -EINVAL);

    void *freed = b.base;
    phx_shm_region_destroy(&b);
    p.addr = freed;
    CU_ASSERT_EQUAL_FATAL(phx_shm_region_create(&c, &p), 0);
    CU_ASSERT_PTR_EQUAL(c.base, freed);
    phx_shm_region_destroy(&c);

    struct phx_shm_region_params bad[] = {
        { .field_mask = 0 },
        { .field_mask = PHX_SHM_REGION_PARAM_FIELD_SIZE, .size = 0 },
        { .field_mask = PHX_SHM_REGION_PARAM_FIELD_SIZE, .size = SIZE_MAX },
        { .field_mask = PHX_SHM_REGION_PARAM_FIELD_SIZE | PHX_SHM_REGION_PARAM_FIELD_PROT,
          .size = 4096, .prot = PROT_READ | PROT_EXEC },
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        CU_ASSERT_EQUAL(phx_shm_region_create(&c, &bad[i]), -EINVAL);
    CU_ASSERT_EQUAL(phx_shm_region_create(&c, NULL), -EINVAL);

    struct phx_shm_region_params tiny = {
        .field_mask = PHX_SHM_REGION_PARAM_FIELD_SIZE | PHX_SHM_REGION_PARAM_FIELD_NAME,
        .size = 1, .name = "tiny",
    };
    CU_ASSERT_EQUAL_FATAL(phx_shm_region_create(&c, &tiny), 0);
    CU_ASSERT_EQUAL(c.size, (size_t)sysconf(_SC_PAGESIZE));
    phx_shm_region_destroy(&c);
    phx_shm_region_destroy(&a);
}

static void test_contains_edges(void)
{
    phx_shm_region_t r = phx_test_region(MiB);
    const char *b = r.base;
    size_t n = r.size;

    CU_ASSERT(phx_shm_region_contains(&r, b, n));
    CU_ASSERT(phx_shm_region_contains(&r, b, 0));
    CU_ASSERT(phx_shm_region_contains(&r, b + n - 1, 1));
    CU_ASSERT(phx_shm_region_contains(&r, b + n, 0));           /* empty range at the end */
    CU_ASSERT_FALSE(phx_shm_region_contains(&r, b, n + 1));
    CU_ASSERT_FALSE(phx_shm_region_contains(&r, b + n, 1));     /* one past the end */
    CU_ASSERT_FALSE(phx_shm_region_contains(&r, b + n + 1, 0));
    CU_ASSERT_FALSE(phx_shm_region_contains(&r, b - 1, 1));
    CU_ASSERT_FALSE(phx_shm_region_contains(&r, b - 1, 0));
    CU_ASSERT_FALSE(phx_shm_region_contains(&r, b + 1, SIZE_MAX));             /* wraps */
    CU_ASSERT_FALSE(phx_shm_region_contains(&r, b + n / 2, SIZE_MAX - n / 2 + 2));
    CU_ASSERT_FALSE(phx_shm_region_contains(&r, (void *)UINTPTR_MAX, 2));
    CU_ASSERT_FALSE(phx_shm_region_contains(&r, NULL, 0));
    phx_shm_region_destroy(&r);
    CU_ASSERT_FALSE(phx_shm_region_contains(&r, b, 1));
}

static void *free_address(size_t size)
{
    phx_shm_region_t spare = phx_test_region(size);
    void *addr = spare.base;

    phx_shm_region_destroy(&spare);
    return addr;
}

static void test_map_checks_peer_fd(void)
{
    phx_shm_region_t a = phx_test_region(MiB), m;
    void *spot = free_address(MiB);
    const char *dir = phx_test_tmpdir("shm");
    int pipefd[2], plain = memfd_create("plain", MFD_CLOEXEC);
    int unsealed = memfd_create("unsealed", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    int file = open(phx_test_write_file(dir, "file", "x"), O_RDWR | O_CLOEXEC);

    CU_ASSERT_FATAL(pipe(pipefd) == 0 && plain >= 0 && unsealed >= 0 && file >= 0);
    CU_ASSERT(ftruncate(plain, MiB) == 0 && ftruncate(unsealed, MiB) == 0 && ftruncate(file, MiB) == 0);

    CU_ASSERT_EQUAL(phx_shm_region_map(&m, a.fd, a.base, a.size, PROT_READ), -EEXIST);
    CU_ASSERT_EQUAL(phx_shm_region_map(&m, a.fd, spot, a.size + 1, PROT_READ), -EINVAL);
    CU_ASSERT_EQUAL(phx_shm_region_map(&m, pipefd[0], spot, 4096, PROT_READ), -ENODEV);
    CU_ASSERT_EQUAL(phx_shm_region_map(&m, file, spot, 4096, PROT_READ), -ENODEV);
    CU_ASSERT_EQUAL(phx_shm_region_map(&m, plain, spot, 4096, PROT_READ), -EPERM);
    CU_ASSERT_EQUAL(phx_shm_region_map(&m, unsealed, spot, 4096, PROT_READ), -EPERM);
    CU_ASSERT_EQUAL(phx_shm_region_map(&m, pipefd[1] + 100, spot, 4096, PROT_READ), -EBADF);
    CU_ASSERT_EQUAL(phx_shm_region_map(&m, a.fd, spot, a.size, PROT_READ | PROT_EXEC), -EINVAL);
    CU_ASSERT_EQUAL(phx_shm_region_map(&m, a.fd, (char *)spot + 1, 4096, PROT_READ), -EINVAL);
    CU_ASSERT_EQUAL(phx_shm_region_map(&m, a.fd, NULL, 4096, PROT_READ), -EINVAL);
    CU_ASSERT_EQUAL(phx_shm_region_map(&m, a.fd, spot, 0, PROT_READ), -EINVAL);
    CU_ASSERT_EQUAL(phx_shm_region_map(&m, a.fd, (void *)(UINTPTR_MAX & ~(uintptr_t)4095), 8192,
                                       PROT_READ), -EINVAL);
    CU_ASSERT(m.base == NULL && m.fd == -1);

    CU_ASSERT_EQUAL_FATAL(phx_shm_region_map(&m, a.fd, spot, a.size, PROT_READ | PROT_WRITE), 0);
    CU_ASSERT(m.base == spot && !m.owner && m.fd != a.fd && m.size == a.size);
    ((volatile char *)a.base)[100] = 42;
    CU_ASSERT_EQUAL(((volatile char *)m.base)[100], 42);
    ((volatile char *)m.base)[200] = 43;
    CU_ASSERT_EQUAL(((volatile char *)a.base)[200], 43);
    CU_ASSERT_EQUAL(phx_shm_region_seal_readonly(&m), -EPERM);  /* only the owner seals */
    phx_shm_region_destroy(&m);
    CU_ASSERT_EQUAL(((volatile char *)a.base)[200], 43);

    close(pipefd[0]);
    close(pipefd[1]);
    close(plain);
    close(unsealed);
    close(file);
    phx_test_rmtree(dir);
    phx_shm_region_destroy(&a);
}

/* ---- cases: a peer process ---- */

static phx_heap_t *small_heap(phx_shm_region_t *r)
{
    struct phx_heap_params p = {
        .field_mask = PHX_HEAP_PARAM_FIELD_SLAB_SIZE, .slab_size = PHX_HEAP_MIN_SLAB_SIZE,
    };
    return phx_heap_create(r, &p);
}

/* The app: maps the send heap it was given, builds two messages in it (field by field, and by
 * unpacking), reports where they are and exits. */
static int app_builds_messages(int sock)
{
    static uint8_t wire[WIRE_MAX];
    struct region_msg m;
    phx_shm_region_t r;
    int fd = recv_region(sock, &m);

    CHECK(fd >= 0);
    CHECK(phx_shm_region_map(&r, fd, (void *)(uintptr_t)m.addr, m.size, PROT_READ | PROT_WRITE) == 0);
    close(fd);
    phx_heap_t *h = small_heap(&r);
    CHECK(h);
    ProtobufCAllocator *a = phx_heap_protobuf_allocator(h);
    Phx__Test__Shape *built = build_shape(a);
    CHECK(check_shape(&r, built) == 0);
    size_t len = phx__test__shape__pack(built, wire);
    Phx__Test__Shape *unpacked = phx__test__shape__unpack(a, len, wire);
    CHECK(unpacked && check_shape(&r, unpacked) == 0);
    send_pointers(sock, built, unpacked);
    return 0;
}

static void test_message_built_by_peer(void)
{
    struct peer peer = peer_start(app_builds_messages);
    phx_shm_region_t r = phx_test_region(64 * MiB);
    void *built, *unpacked;

    send_region(peer.sock, &r);
    CU_ASSERT(recv_pointers(peer.sock, &built, &unpacked));
    CU_ASSERT_EQUAL(recv_int(peer.sock), 0);
    int status = peer_finish(&peer);
    CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);

    /* The app has exited: its messages live on in the memfd, at the same address here. */
    ASSERT_NO_FAILED_LINE(check_shape(&r, built));
    ASSERT_NO_FAILED_LINE(check_shape(&r, unpacked));
    if (phx_shm_region_contains(&r, built, 1) && phx_shm_region_contains(&r, unpacked, 1)) {
        ASSERT_NO_FAILED_LINE(check_packs_like_reference(built));
        ASSERT_NO_FAILED_LINE(check_packs_like_reference(unpacked));
        CU_ASSERT_PTR_NOT_EQUAL(built, unpacked);
    }
    phx_shm_region_destroy(&r);
}

/* The app with a receive heap: reads the service's message and a marker it keeps updating,
 * finds every way to write refused, then writes anyway and must die of SIGSEGV. */
static int app_reads_sealed_heap(int sock)
{
    struct region_msg m;
    phx_shm_region_t r;
    void *shape, *marker_ptr;
    int fd = recv_region(sock, &m);
    void *addr = (void *)(uintptr_t)m.addr;

    CHECK(fd >= 0 && recv_pointers(sock, &shape, &marker_ptr));
    CHECK(phx_shm_region_map(&r, fd, addr, m.size, PROT_READ | PROT_WRITE) == -EPERM);
    CHECK(phx_shm_region_map(&r, fd, addr, m.size, PROT_READ) == 0);
    volatile uint64_t *marker = marker_ptr;
    CHECK(phx_shm_region_contains(&r, marker_ptr, sizeof(*marker)) && *marker == 1);
    CHECK(check_shape(&r, shape) == 0);
    CHECK(mprotect(r.base, r.size, PROT_READ | PROT_WRITE) < 0 && errno == EACCES);
    CHECK(mmap(NULL, r.size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) == MAP_FAILED);
    CHECK(ftruncate(fd, 0) < 0 && errno == EPERM);
    CHECK(fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE) < 0 && errno == EPERM);
    send_int(sock, 0);                  /* mapped and checked */
    CHECK(recv_int(sock) == 0);         /* the owner has written 2 */
    CHECK(*marker == 2);
    send_int(sock, 0);                  /* about to write */
    signal(SIGSEGV, SIG_DFL);           /* die of it, even where a sanitizer handles SIGSEGV */
    *marker = 3;
    return __LINE__;
}

static void test_sealed_heap_read_only_in_peer(void)
{
    struct peer peer = peer_start(app_reads_sealed_heap);
    phx_shm_region_t r = phx_test_region(64 * MiB);
    phx_heap_t *h = small_heap(&r);
    CU_ASSERT_PTR_NOT_NULL_FATAL(h);
    Phx__Test__Shape *shape = build_shape(phx_heap_protobuf_allocator(h));
    volatile uint64_t *marker = phx_heap_alloc(h, sizeof(*marker));

    *marker = 1;
    CU_ASSERT_EQUAL(phx_shm_region_seal_readonly(&r), 0);
    CU_ASSERT(mmap(NULL, r.size, PROT_READ | PROT_WRITE, MAP_SHARED, r.fd, 0) == MAP_FAILED &&
              errno == EPERM);
    send_region(peer.sock, &r);
    send_pointers(peer.sock, shape, (void *)marker);
    CU_ASSERT_EQUAL(recv_int(peer.sock), 0);
    *marker = 2;                        /* the owner's mapping stays writable */
    send_int(peer.sock, 0);
    CU_ASSERT_EQUAL(recv_int(peer.sock), 0);
    int status = peer_finish(&peer);
    CU_ASSERT(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV);
    CU_ASSERT_EQUAL(*marker, 2);
    phx_heap_destroy(h);
    phx_shm_region_destroy(&r);
}

static const phx_test_case_t cases[] = {
    { "create maps a sparse, size-sealed memfd in the range", test_create_sparse_and_size_sealed },
    { "create picks distinct addresses and honours a requested one", test_create_addresses },
    { "contains handles the edges and overflow", test_contains_edges },
    { "map checks the peer's fd and the address", test_map_checks_peer_fd },
    { "a message a peer built reads intact at the same address", test_message_built_by_peer },
    { "a sealed heap is read-only in a peer", test_sealed_heap_read_only_in_peer },
    { NULL, NULL },
};

int main(int argc, char **argv)
{
    return phx_test_main("shm_region", cases, argc, argv);
}
