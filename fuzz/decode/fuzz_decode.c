/* fuzz_decode.c - libFuzzer target: mrpc_native_decode() on payloads from the network.
 *
 * Input: one byte choosing the message type (an index into harness_types, modulo their number:
 * the layouts of tests/marshal/protos and tests/codegen/protos, registered as a real app would),
 * then the payload. The payload is copied into a 16-byte aligned buffer of exactly its size (as
 * the transport lands it), so ASan sees any access beyond it. The decoder must either refuse with
 * -EINVAL and a sentence, or produce a message that protobuf-c can pack: every pointer it follows
 * leads inside the buffer, every string ends, every count matches its array.
 *
 * Structure-aware: the custom mutator (libFuzzer build only) splits a payload into its segment
 * table and segments, mutates one segment (its bytes, its size, a word of it set to a count or a
 * length the walker will believe) or the set of segments (one dropped, one repeated), then writes
 * a consistent header, table and padding again. Plain byte mutations of the whole input, which
 * break the header, are a quarter of the mutations, so the first checks stay covered too. The
 * seeds (corpus/, from make_seeds) are valid payloads of every type. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "marshal_harness.h"

static void check_decoded(const ProtobufCMessage *msg, const ProtobufCMessageDescriptor *d,
                          const uint8_t *buf, size_t len)
{
    if (msg->descriptor != d || msg->n_unknown_fields || msg->unknown_fields ||
        (const uint8_t *)msg < buf || (const uint8_t *)msg + d->sizeof_message > buf + len)
        phx_fuzz_fail("decoded %s has a wrong base or lies outside the payload", d->name);
    size_t packed = protobuf_c_message_get_packed_size(msg);
    uint8_t *out = malloc(packed + 1);
    if (!out || protobuf_c_message_pack(msg, out) != packed)
        phx_fuzz_fail("decoded %s does not pack", d->name);
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static mrpc_layout_set_t *set;
    if (!set && !(set = harness_layout_set()))
        phx_fuzz_fail("the test layouts do not load");
    if (size < 1)
        return 0;
    const ProtobufCMessageDescriptor *d = harness_types[data[0] % harness_n_types];
    size_t len = size - 1;
    void *buf = NULL;
    if (posix_memalign(&buf, 16, len ? len : 1) != 0)
        phx_fuzz_fail("out of memory");
    if (len)
        memcpy(buf, data + 1, len);

    void *msg = NULL;
    char err[256] = "";
    int rc = mrpc_native_decode(harness_type(set, d), buf, len, &msg, err, sizeof(err));
    if (rc == 0) {
        check_decoded(msg, d, buf, len);
        phx_fuzz_accepted++;
    } else if (rc != -EINVAL || err[0] == '\0' || msg) {
        phx_fuzz_fail("refused with %d and \"%s\"", rc, err);
    }
    free(buf);
    return 0;
}

#ifdef PHX_LIBFUZZER
/* ---- the structure-aware mutator ---------------------------------------------------------- */

#define HDR       8u          /* segment count, reserved word */
#define MAX_SEGS  256u
#define ALIGN(n)  (((n) + 15u) & ~(size_t)15u)

struct frame {
    unsigned n;
    size_t   len[MAX_SEGS];
    uint8_t *seg[MAX_SEGS];   /* into the input copy */
};

/* Splits PAYLOAD as the decoder's first check reads it; false when it does not hold. */
static int frame_parse(struct frame *f, uint8_t *p, size_t len)
{
    uint32_t n;
    if (len < HDR)
        return 0;
    memcpy(&n, p, 4);
    if (n == 0 || n > MAX_SEGS || HDR + 8ull * n > len)
        return 0;
    size_t pos = ALIGN(HDR + 8 * n);
    for (unsigned i = 0; i < n; i++) {
        uint64_t l;
        memcpy(&l, p + HDR + 8 * i, 8);
        if (pos > len || l > len - pos)
            return 0;
        f->len[i] = (size_t)l;
        f->seg[i] = p + pos;
        pos = ALIGN(pos + (size_t)l);
    }
    f->n = n;
    return 1;
}

/* Writes F as a consistent payload into OUT (CAP bytes); 0 when it does not fit. */
static size_t frame_write(const struct frame *f, uint8_t *out, size_t cap)
{
    size_t pos = ALIGN(HDR + 8 * f->n);
    for (unsigned i = 0; i < f->n; i++)
        pos = ALIGN(pos) + f->len[i];
    if (pos > cap || f->n == 0)
        return 0;
    uint32_t hdr[2] = { f->n, 0 };
    memset(out, 0, pos);
    memcpy(out, hdr, HDR);
    pos = ALIGN(HDR + 8 * f->n);
    for (unsigned i = 0; i < f->n; i++) {
        uint64_t l = f->len[i];
        memcpy(out + HDR + 8 * i, &l, 8);
        pos = ALIGN(pos);
        memmove(out + pos, f->seg[i], f->len[i]);
        pos += f->len[i];
    }
    return pos;
}

/* A word the walker will take for a count, a length or a case: small, a segment's own length
 * or element count, or a boundary. */
static uint64_t believable_word(const struct frame *f, unsigned *rnd)
{
    static const uint64_t edge[] = { 0, 1, 2, 3, 7, 8, 16, 255, 0xffffffffu, UINT64_MAX,
                                     1ull << 32, 1ull << 63 };
    unsigned i = rand_r(rnd) % f->n;
    switch (rand_r(rnd) % 4) {
    case 0:  return edge[rand_r(rnd) % (sizeof(edge) / sizeof(edge[0]))];
    case 1:  return f->len[i];
    case 2:  return f->len[i] / 8;
    default: return f->len[i] / 4;
    }
}

static void mutate_frame(struct frame *f, uint8_t *scratch, size_t cap, unsigned *rnd)
{
    unsigned i = rand_r(rnd) % f->n;
    switch (rand_r(rnd) % 5) {
    case 0:     /* a word of one segment (struct fields, counts, oneof cases) */
        if (f->len[i] >= 8) {
            uint64_t w = believable_word(f, rnd);
            size_t at = (rand_r(rnd) % (f->len[i] / 8)) * 8;
            memcpy(f->seg[i] + at, &w, rand_r(rnd) % 2 ? 8 : 4);
            break;
        }
        /* fall through */
    case 1: {   /* the bytes and size of one segment, through libFuzzer's own mutator */
        size_t room = cap / 2;
        size_t len = f->len[i] < room ? f->len[i] : room;
        memcpy(scratch, f->seg[i], len);
        f->len[i] = LLVMFuzzerMutate(scratch, len, room);
        f->seg[i] = scratch;
        break;
    }
    case 2:     /* a segment dropped */
        if (f->n > 1) {
            memmove(&f->len[i], &f->len[i + 1], (f->n - i - 1) * sizeof(f->len[0]));
            memmove(&f->seg[i], &f->seg[i + 1], (f->n - i - 1) * sizeof(f->seg[0]));
            f->n--;
        }
        break;
    case 3:     /* a segment repeated at the end */
        if (f->n < MAX_SEGS) {
            f->len[f->n] = f->len[i];
            f->seg[f->n] = f->seg[i];
            f->n++;
        }
        break;
    default:    /* a length changed to a believable one, its bytes kept or cut */
        if (f->len[i]) {
            size_t want = (size_t)(believable_word(f, rnd) % (f->len[i] + 64));
            f->len[i] = want < f->len[i] ? want : f->len[i];
        }
        break;
    }
}

size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed)
{
    static uint8_t copy[1 << 20], scratch[1 << 20];
    unsigned rnd = seed;
    struct frame f;

    if (size < 2 || size > sizeof(copy) || rand_r(&rnd) % 4 == 0)
        return LLVMFuzzerMutate(data, size, max_size);
    memcpy(copy, data + 1, size - 1);
    if (!frame_parse(&f, copy, size - 1))
        return LLVMFuzzerMutate(data, size, max_size);
    if (rand_r(&rnd) % 8 == 0)
        data[0] = (uint8_t)(rand_r(&rnd) % harness_n_types);
    else
        mutate_frame(&f, scratch, max_size < sizeof(scratch) ? max_size : sizeof(scratch), &rnd);
    size_t n = frame_write(&f, data + 1, max_size - 1);
    return n ? n + 1 : LLVMFuzzerMutate(data, size, max_size);
}
#endif
