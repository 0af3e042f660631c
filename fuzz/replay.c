/* replay.c - runs a fuzz target's entry point over its corpus, for ctest with any compiler.
 *
 * `fuzz_NAME_replay DIR` feeds every regular file of DIR (in name order) to
 * LLVMFuzzerTestOneInput(), then, for each file, every prefix of it and a copy with each byte
 * flipped in turn: the corpus holds valid inputs, and their truncations and corruptions are the
 * inputs most likely to find a missing check. Files named regress-* (inputs the fuzzer found
 * interesting, crash reproducers once fixed) only have to pass through; every other file is a
 * seed and must still be accepted (fuzz.h), else the format changed and the seeds need making
 * again (fuzz/make_seeds.c, docs/hacking.md "Fuzzing"). It fails when DIR holds no file; a crash
 * or an abort in the target fails it too. Bounded: corpus files are small (it refuses any over
 * 64 KiB). */
#include "fuzz.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SEED (64u << 10)

__attribute__((weak)) int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    return 0;
}

static size_t read_file(const char *path, uint8_t *buf)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, MAX_SEED + 1, f);
    fclose(f);
    return n;
}

/* Returns whether the input itself was accepted. Each variant gets a buffer of exactly its
 * size, as libFuzzer hands it, so ASan sees any read past its end. */
static int replay_variants(const uint8_t *data, size_t n)
{
    uint8_t *buf = malloc(n);
    if (!buf)
        phx_fuzz_fail("out of memory");
    memcpy(buf, data, n);
    unsigned long before = phx_fuzz_accepted;
    LLVMFuzzerTestOneInput(buf, n);
    int accepted = phx_fuzz_accepted > before;
    for (size_t len = 0; len < n; len++) {
        uint8_t *prefix = malloc(len ? len : 1);
        if (!prefix)
            phx_fuzz_fail("out of memory");
        memcpy(prefix, data, len);
        LLVMFuzzerTestOneInput(prefix, len);
        free(prefix);
    }
    for (size_t i = 0; i < n; i++) {
        buf[i] ^= 0xff;
        LLVMFuzzerTestOneInput(buf, n);
        buf[i] ^= 0xff;
    }
    free(buf);
    return accepted;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
        return 2;
    }
    LLVMFuzzerInitialize(&argc, &argv);
    struct dirent **entries;
    int n = scandir(argv[1], &entries, NULL, by_name);
    if (n < 0) {
        perror(argv[1]);
        return 1;
    }
    static uint8_t buf[MAX_SEED + 1];
    int files = 0, status = 0;
    for (int i = 0; i < n; i++) {
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", argv[1], entries[i]->d_name);
        if (entries[i]->d_name[0] != '.') {
            size_t len = read_file(path, buf);
            if (len == 0 || len > MAX_SEED) {
                fprintf(stderr, "%s: empty, unreadable or over %u bytes\n", path, MAX_SEED);
                status = 1;
            } else if (!replay_variants(buf, len) &&
                       strncmp(entries[i]->d_name, "regress-", 8) != 0) {
                fprintf(stderr, "%s: the seed is no longer accepted\n", path);
                status = 1;
            } else {
                files++;
            }
        }
        free(entries[i]);
    }
    free(entries);
    printf("replayed %d corpus files with their prefixes and byte flips\n", files);
    return files ? status : 1;
}
