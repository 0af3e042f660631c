/* ledger.c - the soak caller's account of every call: counters that outlive a kill -9, and one
 * bit per call.
 *
 * The counters live in a small file mapped MAP_SHARED: the kernel keeps the page when the
 * process is killed, so soak.sh reads (--read) what a killed caller had issued and seen end.
 * Each call gets the next number (from 1) and its bit in a bitmap that grows as calls are made;
 * an ending sets the bit, so a second ending of the same call (or one for a number never
 * issued) counts as duplicated instead of as an outcome. At a clean exit, after the drain,
 * every bit still clear is a lost call: issued, and the library never said how it ended. */
#include "soak_app.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define LEDGER_MAGIC "soakldg1"
#define BITMAP_CHUNK (1u << 20)   /* bytes the bitmap grows by: 8 Mi calls */

struct soak_ledger {
    soak_counters_t *c;
    uint8_t *ended;               /* bit SEQ: call SEQ ended */
    size_t ended_bytes;
};

static soak_counters_t *map_counters(int fd, int prot)
{
    void *p = mmap(NULL, sizeof(soak_counters_t), prot, MAP_SHARED, fd, 0);

    return p == MAP_FAILED ? NULL : p;
}

soak_ledger_t *soak_ledger_create(const char *path, char *err, size_t errlen)
{
    soak_ledger_t *l = calloc(1, sizeof(*l));
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

    if (!l || fd < 0 || ftruncate(fd, sizeof(soak_counters_t)) < 0 ||
        !(l->c = map_counters(fd, PROT_READ | PROT_WRITE))) {
        snprintf(err, errlen, "cannot make the ledger %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        free(l);
        return NULL;
    }
    close(fd);
    memcpy(l->c->magic, LEDGER_MAGIC, sizeof(l->c->magic));
    l->c->pid = (uint64_t)getpid();
    return l;
}

void soak_ledger_close(soak_ledger_t *l)
{
    if (!l)
        return;
    munmap(l->c, sizeof(*l->c));
    free(l->ended);
    free(l);
}

soak_counters_t *soak_ledger_counters(soak_ledger_t *l)
{
    return l->c;
}

uint64_t soak_ledger_issue(soak_ledger_t *l)
{
    uint64_t seq = l->c->issued + 1;

    if (seq / 8 >= l->ended_bytes) {
        uint8_t *grown = realloc(l->ended, l->ended_bytes + BITMAP_CHUNK);
        if (!grown)
            return 0;
        memset(grown + l->ended_bytes, 0, BITMAP_CHUNK);
        l->ended = grown;
        l->ended_bytes += BITMAP_CHUNK;
    }
    l->c->issued = seq;
    return seq;
}

static unsigned status_slot(int code)
{
    return code >= 0 && code < SOAK_NSTATUS - 1 ? (unsigned)code : SOAK_NSTATUS - 1;
}

void soak_ledger_end(soak_ledger_t *l, uint64_t seq, int code)
{
    soak_counters_t *c = l->c;

    if (seq == 0) {                                   /* refused before it was queued */
        c->refused++;
        c->status[status_slot(code)]++;
        return;
    }
    if (seq > c->issued || (l->ended[seq / 8] & (1u << (seq % 8)))) {
        c->duplicated++;
        return;
    }
    l->ended[seq / 8] |= (uint8_t)(1u << (seq % 8));
    c->status[status_slot(code)]++;
    c->ended++;
}

uint64_t soak_ledger_outstanding(const soak_ledger_t *l)
{
    return l->c->issued - l->c->ended;
}

void soak_ledger_finish(soak_ledger_t *l)
{
    l->c->lost = soak_ledger_outstanding(l);
    l->c->finished = 1;
}

void soak_ledger_print(const soak_counters_t *c)
{
    uint64_t open = c->issued - c->ended;

    printf("{\"pid\": %llu, \"finished\": %s, \"issued\": %llu, \"refused\": %llu, "
           "\"ended\": %llu, \"lost\": %llu, \"abandoned\": %llu, \"duplicated\": %llu, "
           "\"mismatched\": %llu, \"reconnects\": %llu, \"status\": {",
           (unsigned long long)c->pid, c->finished ? "true" : "false",
           (unsigned long long)c->issued, (unsigned long long)c->refused,
           (unsigned long long)c->ended, (unsigned long long)c->lost,
           (unsigned long long)(c->finished ? 0 : open), (unsigned long long)c->duplicated,
           (unsigned long long)c->mismatched, (unsigned long long)c->reconnects);
    const char *sep = "";
    for (int i = 0; i < SOAK_NSTATUS; i++) {
        if (!c->status[i])
            continue;
        printf("%s\"%s\": %llu", sep, i == SOAK_NSTATUS - 1 ? "OTHER" : phx_status_name(i),
               (unsigned long long)c->status[i]);
        sep = ", ";
    }
    printf("}}\n");
    fflush(stdout);
}

int soak_ledger_read(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat sb;
    soak_counters_t *c = NULL;

    if (fd >= 0 && fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) &&
        sb.st_size >= (off_t)sizeof(*c))      /* a shorter file would fault when read */
        c = map_counters(fd, PROT_READ);

    if (fd >= 0)
        close(fd);
    if (!c || memcmp(c->magic, LEDGER_MAGIC, sizeof(c->magic)) != 0) {
        fprintf(stderr, "soak_app: %s is not a soak ledger\n", path);
        if (c)
            munmap(c, sizeof(*c));
        return -1;
    }
    soak_ledger_print(c);
    munmap(c, sizeof(*c));
    return 0;
}
