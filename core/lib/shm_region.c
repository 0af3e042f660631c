/* shm_region.c - sparse memfds mapped at the same address in the service and its apps.
 *
 * Creating: memfd_create, ftruncate (sparse), seal the size, then try random size-aligned slots
 * of the reserved range with MAP_FIXED_NOREPLACE until one is free; if none is, the kernel
 * picks. Kernels older than 4.17 take the address as a mere hint: a mapping that lands anywhere
 * else counts as "taken" and is undone. Mapping a peer's fd: check it is a size-sealed memfd of
 * the right length, then map at exactly the given address. See shm_region.h. */
#include "phoenix/shm_region.h"
#include "phoenix/log.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define RANGE_ATTEMPTS 32
#define SLOT_ALIGN_MAX (1ull << 30)     /* bigger regions need no more than 1 GiB alignment */
/* ASan's x86-64 shadow memory ends at 0x10007fff7fff, inside the bottom of the range: starting
 * the slots 4 GiB higher keeps addresses a plain service picks mappable in a sanitized app. */
#define RANGE_SANITIZER_SKIP (4ull << 30)
#define DEFAULT_NAME "phoenix-shm"

/* ThreadSanitizer's shadow memory covers the whole range and its mmap interceptor kills the
 * process on an attempt to map there, so under TSan the kernel picks every address. */
#if defined(__SANITIZE_THREAD__)
#define RANGE_USABLE 0
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define RANGE_USABLE 0
#endif
#endif
#ifndef RANGE_USABLE
#define RANGE_USABLE 1
#endif
#define PROT_ALLOWED (PROT_READ | PROT_WRITE)

static void region_reset(phx_shm_region_t *r)
{
    *r = (phx_shm_region_t){ .fd = -1 };
}

static size_t page_round_up(size_t size)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);

    return size > SIZE_MAX - page ? 0 : (size + page - 1) & ~(page - 1);
}

static bool page_aligned(const void *addr)
{
    return ((uintptr_t)addr & ((uintptr_t)sysconf(_SC_PAGESIZE) - 1)) == 0;
}

/* Maps FD at exactly ADDR without replacing anything there; -EEXIST when the address is taken. */
static int map_exactly(int fd, void *addr, size_t size, int prot)
{
    void *p = mmap(addr, size, prot, MAP_SHARED | MAP_FIXED_NOREPLACE, fd, 0);

    if (p == MAP_FAILED)
        return -errno;
    if (p != addr) {            /* the flag was taken as a hint: the address was not free */
        munmap(p, size);
        return -EEXIST;
    }
    return 0;
}

static uint64_t random_seed(void)
{
    uint64_t seed;
    struct timespec ts;

    if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) == (ssize_t)sizeof(seed))
        return seed;
    clock_gettime(CLOCK_MONOTONIC, &ts);        /* no entropy yet: still differ per process */
    return (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 32) ^ (uint64_t)ts.tv_sec;
}

static uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Regions of one size tile the range, so a taken slot costs one retry, not a partial overlap. */
static uint64_t slot_align(size_t size)
{
    uint64_t align = (uint64_t)sysconf(_SC_PAGESIZE);

    while (align < size && align < SLOT_ALIGN_MAX)
        align <<= 1;
    return align;
}

/* -EADDRNOTAVAIL when no slot of the range could be mapped. */
static int map_in_reserved_range(int fd, size_t size, int prot, void **base)
{
    const uint64_t first = PHX_SHM_RANGE_BASE + RANGE_SANITIZER_SKIP;
    const uint64_t end = PHX_SHM_RANGE_BASE + PHX_SHM_RANGE_SIZE;
    uint64_t align = slot_align(size);
    uint64_t rng = random_seed();

    if (!RANGE_USABLE || size > end - first)
        return -EADDRNOTAVAIL;
    uint64_t slots = (end - first - size) / align + 1;
    for (int i = 0; i < RANGE_ATTEMPTS; i++) {
        void *addr = (void *)(uintptr_t)(first + splitmix64(&rng) % slots * align);
        int rc = map_exactly(fd, addr, size, prot);

        if (rc == 0) {
            *base = addr;
            return 0;
        }
        if (rc == -ENOMEM)      /* the range lies beyond this process's address space */
            return -EADDRNOTAVAIL;
        if (rc != -EEXIST)
            return rc;
    }
    return -EADDRNOTAVAIL;
}

static int map_anywhere(int fd, size_t size, int prot, void **base)
{
    void *p = mmap(NULL, size, prot, MAP_SHARED, fd, 0);

    if (p == MAP_FAILED)
        return -errno;
    if (RANGE_USABLE)
        phx_warn("shm: no free slot in the reserved range; region at %p chosen by the kernel, "
                 "peers may fail to map it", p);
    *base = p;
    return 0;
}

static int map_new_region(phx_shm_region_t *r, const struct phx_shm_region_params *p)
{
    if (p->field_mask & PHX_SHM_REGION_PARAM_FIELD_ADDR) {
        int rc = map_exactly(r->fd, p->addr, r->size, r->prot);
        if (rc == 0)
            r->base = p->addr;
        return rc;
    }
    int rc = map_in_reserved_range(r->fd, r->size, r->prot, &r->base);
    return rc == -EADDRNOTAVAIL ? map_anywhere(r->fd, r->size, r->prot, &r->base) : rc;
}

static int check_create_params(const struct phx_shm_region_params *p, int prot)
{
    if (!(p->field_mask & PHX_SHM_REGION_PARAM_FIELD_SIZE) || page_round_up(p->size) == 0)
        return -EINVAL;
    if ((p->field_mask & PHX_SHM_REGION_PARAM_FIELD_ADDR) && (!p->addr || !page_aligned(p->addr)))
        return -EINVAL;
    return (prot & ~PROT_ALLOWED) ? -EINVAL : 0;
}

int phx_shm_region_create(phx_shm_region_t *r, const struct phx_shm_region_params *p)
{
    region_reset(r);
    if (!p)
        return -EINVAL;
    int prot = (p->field_mask & PHX_SHM_REGION_PARAM_FIELD_PROT) ? p->prot : PROT_ALLOWED;
    const char *name = (p->field_mask & PHX_SHM_REGION_PARAM_FIELD_NAME) && p->name
                           ? p->name : DEFAULT_NAME;
    int rc = check_create_params(p, prot);
    if (rc < 0)
        return rc;

    r->size = page_round_up(p->size);
    r->prot = prot;
    r->owner = true;
    r->fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (r->fd < 0)
        return -errno;
    /* The size is final: sealing it now means every peer's mapping stays backed to the end. */
    if (ftruncate(r->fd, (off_t)r->size) < 0 ||
        fcntl(r->fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) < 0)
        rc = -errno;
    else
        rc = map_new_region(r, p);
    if (rc < 0) {
        close(r->fd);
        region_reset(r);
    }
    return rc;
}

/* The fd comes from a peer: check the seal before the size, so the size cannot shrink after. */
static int check_peer_fd(int fd, size_t size)
{
    struct stat st;

    if (fstat(fd, &st) < 0)
        return -errno;
    if (!S_ISREG(st.st_mode))
        return -ENODEV;
    int seals = fcntl(fd, F_GET_SEALS);
    if (seals < 0)
        return -ENODEV;         /* a file on disk, not a memfd */
    if (!(seals & F_SEAL_SHRINK))
        return -EPERM;
    return (uint64_t)st.st_size < size ? -EINVAL : 0;
}

int phx_shm_region_map(phx_shm_region_t *r, int fd, void *addr, size_t size, int prot)
{
    region_reset(r);
    size_t mapped = page_round_up(size);
    if (mapped == 0 || !addr || !page_aligned(addr) || (prot & ~PROT_ALLOWED) ||
        (uintptr_t)addr > UINTPTR_MAX - mapped)
        return -EINVAL;
    int rc = check_peer_fd(fd, size);
    if (rc < 0)
        return rc;

    r->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (r->fd < 0)
        return -errno;
    rc = map_exactly(r->fd, addr, mapped, prot);
    if (rc < 0) {
        close(r->fd);
        region_reset(r);
        return rc;
    }
    r->base = addr;
    r->size = mapped;
    r->prot = prot;
    return 0;
}

int phx_shm_region_seal_readonly(phx_shm_region_t *r)
{
    if (!r->owner || !r->base)
        return -EPERM;
    int seals = F_SEAL_FUTURE_WRITE | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL;
    return fcntl(r->fd, F_ADD_SEALS, seals) < 0 ? -errno : 0;
}

bool phx_shm_region_contains(const phx_shm_region_t *r, const void *ptr, size_t len)
{
    uintptr_t base = (uintptr_t)r->base, p = (uintptr_t)ptr;

    if (!r->base || p < base || len > r->size)
        return false;
    return p - base <= r->size - len;
}

void phx_shm_region_destroy(phx_shm_region_t *r)
{
    if (r->base) {
        munmap(r->base, r->size);
        close(r->fd);
    }
    region_reset(r);
}
