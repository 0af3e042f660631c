/* wire_pattern.h - the payload every transport test message carries, so that a receiver can
 * check it byte for byte without any shared state with the sender.
 *
 * Message CALL of stream TAG holds 64-bit words w(k) = (TAG << 56) ^ (CALL << 24) ^ k * phi,
 * little end first, the last word cut to the length: no two messages of a test look alike, and
 * a piece landing at the wrong offset or in the wrong message shows. Its size follows a schedule
 * from 0 B to 8 MiB: mostly small (eager) sizes around the protocol thresholds, and every 499th
 * message a large (rendezvous) one. */
#ifndef PHX_WIRE_PATTERN_H
#define PHX_WIRE_PATTERN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline uint64_t wp_word(uint64_t tag, uint64_t call, uint64_t k)
{
    return (tag << 56) ^ (call << 24) ^ (k * 0x9E3779B97F4A7C15ull);
}

static inline void wp_fill(void *buf, size_t len, uint64_t tag, uint64_t call)
{
    unsigned char *p = buf;

    for (size_t off = 0, k = 0; off < len; off += 8, k++) {
        uint64_t w = wp_word(tag, call, k);
        memcpy(p + off, &w, len - off < 8 ? len - off : 8);
    }
}

static inline bool wp_check(const void *buf, size_t len, uint64_t tag, uint64_t call)
{
    const unsigned char *p = buf;

    for (size_t off = 0, k = 0; off < len; off += 8, k++) {
        uint64_t w = wp_word(tag, call, k);
        if (memcmp(p + off, &w, len - off < 8 ? len - off : 8) != 0)
            return false;
    }
    return true;
}

/* Size of message I of a stream whose sizes are capped at MAX. */
static inline size_t wp_size(uint64_t i, size_t max)
{
    static const size_t small[] = {0,    1,    7,    16,   47,    48,    64,    100,   255, 512,
                                   1000, 1500, 4096, 8191, 8192,  16384, 32768, 65536, 65537, 3};
    static const size_t large[] = {256u << 10, 1u << 20, (3u << 20) + 5, 8u << 20};
    size_t n = i % 499 == 498 ? large[(i / 499) % 4] : small[i % 20];

    return n < max ? n : max;
}

#endif /* PHX_WIRE_PATTERN_H */
