/* fuzz_replay.c - runs the fuzz target's entry point over a corpus, for ctest with any compiler.
 *
 * `marshal_fuzz_replay DIR` feeds every regular file of DIR (in name order) to
 * LLVMFuzzerTestOneInput(), then, for each file, every prefix of it and a copy with each byte
 * flipped in turn: the corpus holds valid payloads, and their truncations and corruptions are the
 * inputs most likely to find a missing check. Files named regress-* (inputs the fuzzer found
 * interesting, crash reproducers once fixed) only have to pass through; every other file is a seed
 * from marshal_make_seeds and must still decode, else the format or the test types changed and
 * the seeds need making again. It fails when DIR holds no file; a crash or an abort in the target
 * fails it too. Bounded: corpus files are small (it refuses any over 64 KiB). */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SEED (64u << 10)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
extern unsigned long fuzz_decode_accepted;

static size_t read_file(const char *path, uint8_t *buf)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, MAX_SEED + 1, f);
    fclose(f);
    return n;
}

/* Returns whether the seed itself decoded. */
static int replay_variants(uint8_t *buf, size_t n)
{
    unsigned long before = fuzz_decode_accepted;
    LLVMFuzzerTestOneInput(buf, n);
    int accepted = fuzz_decode_accepted > before;
    for (size_t len = 0; len < n; len++)
        LLVMFuzzerTestOneInput(buf, len);
    for (size_t i = 1; i < n; i++) {
        buf[i] ^= 0xff;
        LLVMFuzzerTestOneInput(buf, n);
        buf[i] ^= 0xff;
    }
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
                fprintf(stderr, "%s: the seed no longer decodes\n", path);
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
