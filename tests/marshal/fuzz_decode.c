/* fuzz_decode.c - libFuzzer target: mrpc_native_decode() on arbitrary payloads from the network.
 *
 * Input: one byte choosing the message type (an index into harness_types, modulo their number),
 * then the payload. The payload is copied into a 16-byte aligned buffer of exactly its size (as
 * the transport lands it), so ASan sees any access beyond it. The decoder must either refuse with
 * -EINVAL and a sentence, or produce a message that protobuf-c can pack: every pointer it follows
 * leads inside the buffer, every string ends, every count matches its array.
 *
 * Built as `fuzz_decode` with clang and -DPHX_FUZZ=ON (see docs/marshalling.md); the same entry
 * point is linked with fuzz_replay.c into marshal_fuzz_replay, which ctest runs over corpus/. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "marshal_harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* How many inputs decoded successfully: the replayer checks that every seed still does. */
unsigned long fuzz_decode_accepted;

static void check_decoded(const ProtobufCMessage *msg, const ProtobufCMessageDescriptor *d,
                          const uint8_t *buf, size_t len)
{
    if (msg->descriptor != d || msg->n_unknown_fields || msg->unknown_fields ||
        (const uint8_t *)msg < buf || (const uint8_t *)msg + d->sizeof_message > buf + len) {
        fprintf(stderr, "fuzz_decode: decoded %s has a wrong base or lies outside\n", d->name);
        abort();
    }
    size_t packed = protobuf_c_message_get_packed_size(msg);
    uint8_t *out = malloc(packed + 1);
    if (!out || protobuf_c_message_pack(msg, out) != packed)
        abort();
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static mrpc_layout_set_t *set;
    if (!set && !(set = harness_layout_set()))
        abort();
    if (size < 1)
        return 0;
    const ProtobufCMessageDescriptor *d = harness_types[data[0] % harness_n_types];
    size_t len = size - 1;
    void *buf = NULL;
    if (posix_memalign(&buf, 16, len ? len : 1) != 0)
        abort();
    if (len)
        memcpy(buf, data + 1, len);

    void *msg = NULL;
    char err[256] = "";
    int rc = mrpc_native_decode(harness_type(set, d), buf, len, &msg, err, sizeof(err));
    if (rc == 0) {
        check_decoded(msg, d, buf, len);
        fuzz_decode_accepted++;
    } else if (rc != -EINVAL || err[0] == '\0' || msg) {
        fprintf(stderr, "fuzz_decode: refused with %d and \"%s\"\n", rc, err);
        abort();
    }
    free(buf);
    return 0;
}
