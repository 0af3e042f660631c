/* fuzz.h - what every fuzz target of fuzz/ shares with the corpus replayer (replay.c).
 *
 * A target defines LLVMFuzzerTestOneInput() and counts, in phx_fuzz_accepted, the inputs the code
 * under test accepted as valid (decoded, registered, parsed). The replayer uses the count to
 * check that every seed of a corpus is still valid input, so that a format change that leaves the
 * seeds stale fails a test instead of quietly making the fuzzer start from garbage. A target that
 * needs one-time setup defines LLVMFuzzerInitialize(); the replayer calls it too. Under
 * PHX_LIBFUZZER (the clang -DPHX_FUZZ=ON build) a target may add LLVMFuzzerCustomMutator(). */
#ifndef PHX_FUZZ_H
#define PHX_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);
#ifdef PHX_LIBFUZZER
size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size);
size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed);
#endif

extern unsigned long phx_fuzz_accepted;

/* A new private directory /dev/shm/phx-fuzz-NAME-XXXXXX (tmpfs: targets that write files stay
 * fast), removed with its contents at exit; handlers registered with atexit() after this call
 * run before the removal. Aborts when it cannot be made. */
const char *phx_fuzz_tmpdir(const char *name);

/* Aborts with "fuzz: WHAT" on stderr: a target's own check failed (libFuzzer saves the input). */
__attribute__((noreturn, format(printf, 1, 2))) void phx_fuzz_fail(const char *fmt, ...);

#endif /* PHX_FUZZ_H */
