/* shm_region.h - a sparse memfd mapped at the same virtual address in every process sharing it.
 *
 * Heaps shared between an app and the service hold protobuf-c structs full of raw pointers, so
 * both sides map them at one address. The owner (the service) creates the memfd and maps it at a
 * random, aligned address of a reserved range that nothing else uses, with MAP_FIXED_NOREPLACE so
 * that a taken address is skipped and never clobbered. The peer receives the fd over the control
 * socket (fdpass.h), treats it as untrusted, and maps it at exactly the owner's address.
 *
 * The memfd's size is fixed and sealed at creation (F_SEAL_SHRINK | F_SEAL_GROW): a peer holding
 * the fd cannot truncate it under a mapper, which would make the mapper die of SIGBUS. Memory is
 * only used for pages that are touched. A receive heap is additionally sealed read-only for peers
 * (phx_shm_region_seal_readonly) while the owner's own mapping stays writable. */
#ifndef PHOENIX_SHM_REGION_H
#define PHOENIX_SHM_REGION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Virtual address range from which the owner picks region addresses: far above the executable,
 * the brk heap and the low mmap area, far below the default mmap base and the stack. */
#define PHX_SHM_RANGE_BASE 0x100000000000ull
#define PHX_SHM_RANGE_SIZE 0x100000000000ull

enum {
    PHX_SHM_REGION_PARAM_FIELD_NAME = 1u << 0,  /* default "phoenix-shm" */
    PHX_SHM_REGION_PARAM_FIELD_SIZE = 1u << 1,  /* required */
    PHX_SHM_REGION_PARAM_FIELD_ADDR = 1u << 2,  /* default: picked in the reserved range */
    PHX_SHM_REGION_PARAM_FIELD_PROT = 1u << 3,  /* default PROT_READ | PROT_WRITE */
};

struct phx_shm_region_params {
    uint64_t field_mask;
    const char *name;   /* memfd name, shown in /proc/<pid>/maps; need not be unique */
    size_t size;        /* bytes; rounded up to whole pages */
    void *addr;         /* map exactly here (page-aligned) instead of picking an address */
    int prot;           /* PROT_READ and/or PROT_WRITE, nothing else */
};

typedef struct phx_shm_region {
    int fd;             /* memfd (the region's own; closed by destroy) */
    void *base;         /* same address in every process; NULL when not mapped */
    size_t size;        /* mapped bytes, a multiple of the page size */
    int prot;
    bool owner;         /* created here (may seal); false for a peer's mapping */
} phx_shm_region_t;

/* Creates a memfd of P->size bytes and maps it shared. Without PHX_SHM_REGION_PARAM_FIELD_ADDR the
 * address is a random slot of the reserved range aligned to the size (at most 1 GiB); taken slots
 * are skipped for a bounded number of attempts (the bottom 4 GiB, where ASan keeps its shadow
 * memory, are never picked). When no slot can be had (a small virtual address space, or a build
 * with ThreadSanitizer, whose shadow covers the whole range) the kernel picks the address, with
 * a warning outside TSan since peers may then fail to map it. Returns 0 or -errno: -EINVAL on
 * bad parameters, -EEXIST when a requested address is taken. */
int phx_shm_region_create(phx_shm_region_t *r, const struct phx_shm_region_params *p);

/* Peer side: maps FD, received from an untrusted peer, at exactly ADDR. FD is not consumed (the
 * region keeps its own duplicate). FD must be a memfd (else -ENODEV), sealed against shrinking
 * (else -EPERM: the sender could make us fault) and at least SIZE bytes long (else -EINVAL).
 * ADDR must be page-aligned and PROT only PROT_READ/PROT_WRITE (else -EINVAL). -EEXIST when
 * anything is mapped in [ADDR, ADDR + SIZE); -EPERM from the kernel when PROT asks for writing and
 * the region is sealed read-only. */
int phx_shm_region_map(phx_shm_region_t *r, int fd, void *addr, size_t size, int prot);

/* Owner only: from now on the memfd can only be mapped read-only (F_SEAL_FUTURE_WRITE), never
 * resized, and its seals never changed. The owner's existing mapping stays writable. This is what
 * makes a receive heap read-only in the app. Returns 0, -EPERM when not the owner, or -errno. */
int phx_shm_region_seal_readonly(phx_shm_region_t *r);

/* True when [PTR, PTR + LEN) lies inside the mapping, computed without overflow. An empty range
 * (LEN 0) is inside when PTR is in [base, base + size], the end included, as no byte is read. */
bool phx_shm_region_contains(const phx_shm_region_t *r, const void *ptr, size_t len);

/* Unmaps and closes. Safe on a region whose create/map failed and on a destroyed one. */
void phx_shm_region_destroy(phx_shm_region_t *r);

#endif /* PHOENIX_SHM_REGION_H */
