/* fuzz_handshake.c - libFuzzer target "handshake": the wire-up's frames (ucx_hs_frame.c), the
 * first code every byte sent to an app's bound port meets (docs/transport.md, "Wire-up").
 *
 * The input is read as the service reads a connection: phx_ucx_hs_parse() on what has arrived,
 * frame after frame, until it refuses the bytes or wants more. Beyond "no crash, no read outside
 * the buffer" (ASan), each accepted frame is checked for what the service relies on:
 *   - it fits the bytes given, and its address and credential point inside it;
 *   - one byte less was "need more", never a verdict (a reader never decides early);
 *   - encoding what was decoded gives back exactly the same bytes (one meaning per frame).
 * An input counts as accepted (fuzz.h) when it held at least one valid frame. Seeds: one frame
 * of each type, and a whole client and server exchange (fuzz_make_seeds handshake DIR). */
#include "fuzz.h"
#include "ucx_hs_frame.h"

#include <string.h>

static void check_frame(const uint8_t *buf, size_t used, const struct phx_ucx_hs_msg *m)
{
    static uint8_t again[PHX_UCX_HS_FRAME_MAX];
    struct phx_ucx_hs_msg shorter;
    size_t n;

    if (used < PHX_UCX_HS_HDR || used > PHX_UCX_HS_FRAME_MAX)
        phx_fuzz_fail("a frame of %zu bytes was accepted", used);
    if ((m->addr && (m->addr < buf || m->addr + m->addr_len > buf + used)) ||
        (m->cred && (m->cred < buf || m->cred + m->cred_len > buf + used)))
        phx_fuzz_fail("a frame's address or credential points outside it");
    if (phx_ucx_hs_parse(buf, used - 1, &shorter, &n) != PHX_UCX_HS_NEED_MORE)
        phx_fuzz_fail("one byte short of a valid %zu-byte frame was not 'need more'", used);
    n = phx_ucx_hs_encode(m, again, sizeof(again));
    if (n != used || memcmp(again, buf, used) != 0)
        phx_fuzz_fail("a frame of type %u does not encode back to its %zu bytes (%zu)",
                      (unsigned)m->type, used, n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct phx_ucx_hs_msg m;
    size_t at = 0, used = 0;
    unsigned frames = 0;

    while (at < size) {
        enum phx_ucx_hs_verdict v = phx_ucx_hs_parse(data + at, size - at, &m, &used);
        if (v != PHX_UCX_HS_OK)
            break;
        check_frame(data + at, used, &m);
        at += used;
        frames++;
    }
    if (frames)
        phx_fuzz_accepted++;
    return 0;
}
