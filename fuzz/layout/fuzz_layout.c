/* fuzz_layout.c - libFuzzer target: layout registration, the blob an app hands the service.
 *
 * Input: a packed phoenix.mrpc.ServiceLayout (proto/mrpc_layout.proto), as libmrpc's
 * mrpc_layout_encode_service() makes it and MrpcEngine's layout shelves (mrpc/engine/layouts.c)
 * pass to mrpc_layout_set_add(). A blob the set takes must then hold up to what the service does
 * with it: every method it names is found with its input and output types, which hash and name
 * themselves; adding it again is -EEXIST; and the native encoder and decoder walk each type over
 * a zeroed message (encode from a send heap, decode of the one-segment payload that describes
 * it) without reading or writing outside their buffers. A refused blob must leave a sentence.
 *
 * Structure-aware: the custom mutator (libFuzzer build only) unpacks the blob, changes one number
 * a validator checks (a size, an offset, a label, a type, a message index, a method's types, the
 * order of two fields) and packs it again, so most inputs get past protobuf into the checks;
 * a quarter of the mutations are plain byte mutations of the packed form. Seeds (corpus/, from
 * make_seeds) are the layouts of the test services and of tests/mrpc's shop microservices. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "marshal.h"
#include "mrpc_layout.pb-c.h"
#include "phoenix/shm_region.h"

#define MSG_AT 4096u     /* where the zeroed message sits in the send region */

static phx_shm_region_t send_region = { .fd = -1 };

static void send_region_open(void)
{
    struct phx_shm_region_params p = {
        .field_mask = PHX_SHM_REGION_PARAM_FIELD_NAME | PHX_SHM_REGION_PARAM_FIELD_SIZE,
        .name = "fuzz-layout-send", .size = MSG_AT + MRPC_LAYOUT_MAX_TYPE_SIZE,
    };
    if (phx_shm_region_create(&send_region, &p) != 0)
        phx_fuzz_fail("cannot create the send region");
}

/* Encodes and decodes a zeroed message of type T. */
static void walk_zeroed(const struct mrpc_type_layout *t)
{
    size_t size = mrpc_type_size(t);
    struct mrpc_encoded enc;
    char err[256] = "";

    if (!send_region.base)
        send_region_open();
    memset((uint8_t *)send_region.base + MSG_AT, 0, size);
    if (mrpc_native_encode(t, (uintptr_t)send_region.base + MSG_AT, &send_region, NULL, &enc,
                           err, sizeof(err)) == 0)
        mrpc_encoded_free(&enc);
    else if (!err[0])
        phx_fuzz_fail("%s: encode refused without a sentence", mrpc_type_name(t));

    size_t len = 16 + ((size + 15) & ~(size_t)15);     /* header, one-entry table, struct */
    uint8_t *payload = NULL;
    if (posix_memalign((void **)&payload, 16, len) != 0)
        phx_fuzz_fail("out of memory");
    memset(payload, 0, len);
    uint32_t hdr[2] = { 1, 0 };
    uint64_t seg = size;
    memcpy(payload, hdr, 8);
    memcpy(payload + 8, &seg, 8);
    void *msg = NULL;
    /* the payload is exactly header + table + struct when SIZE is a multiple of 16 */
    if (mrpc_native_decode(t, payload, 16 + size, &msg, err, sizeof(err)) != 0 && !err[0])
        phx_fuzz_fail("%s: decode refused without a sentence", mrpc_type_name(t));
    free(payload);
}

static void check_method(const mrpc_layout_set_t *set, uint32_t service_id,
                         const Phoenix__Mrpc__MethodLayout *ml)
{
    const struct mrpc_method_layout *m = mrpc_layout_find_method(set, service_id, ml->method_id);
    if (!m || !m->input || !m->output)
        phx_fuzz_fail("method %u of a registered service is not found", ml->method_id);
    const struct mrpc_type_layout *types[2] = { m->input, m->output };
    for (int i = 0; i < 2; i++) {
        (void)mrpc_type_hash(types[i]);
        if (!mrpc_type_name(types[i]) || mrpc_type_size(types[i]) > MRPC_LAYOUT_MAX_TYPE_SIZE)
            phx_fuzz_fail("a registered type has no name or is too large");
        walk_zeroed(types[i]);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mrpc_layout_set_t *set = mrpc_layout_set_create();
    char err[512] = "";
    if (!set)
        phx_fuzz_fail("out of memory");
    int rc = mrpc_layout_set_add(set, data, size, err, sizeof(err));
    if (rc == 0) {
        Phoenix__Mrpc__ServiceLayout *sl = phoenix__mrpc__service_layout__unpack(NULL, size, data);
        if (!sl)
            phx_fuzz_fail("the set took a blob that does not unpack");
        for (size_t i = 0; i < sl->n_methods; i++)
            check_method(set, sl->service_id, sl->methods[i]);
        if (mrpc_layout_set_add(set, data, size, err, sizeof(err)) != -EEXIST)
            phx_fuzz_fail("the same service was added twice");
        phoenix__mrpc__service_layout__free_unpacked(sl, NULL);
        phx_fuzz_accepted++;
    } else if (!err[0]) {
        phx_fuzz_fail("refused with %d and no sentence", rc);
    }
    mrpc_layout_set_destroy(set);
    return 0;
}

#ifdef PHX_LIBFUZZER
/* ---- the structure-aware mutator ---------------------------------------------------------- */

static uint32_t believable(uint32_t old, unsigned *rnd)
{
    static const uint32_t edge[] = { 0, 1, 2, 3, 4, 7, 8, 15, 16, 24, 32, 64, 0xff, 0xffff,
                                     0x7fffffff, 0xffffffff };
    switch (rand_r(rnd) % 4) {
    case 0:  return edge[rand_r(rnd) % (sizeof(edge) / sizeof(edge[0]))];
    case 1:  return old + 1 + rand_r(rnd) % 8;
    case 2:  return old - 1 - rand_r(rnd) % 8;
    default: return old ^ (1u << (rand_r(rnd) % 32));
    }
}

static void mutate_field(Phoenix__Mrpc__FieldLayout *f, unsigned *rnd)
{
    switch (rand_r(rnd) % 7) {
    case 0:  f->label = believable(f->label, rnd) % 5; break;
    case 1:  f->type = believable(f->type, rnd) % 20; break;
    case 2:  f->offset = believable(f->offset, rnd); break;
    case 3:  f->quantifier_offset = believable(f->quantifier_offset, rnd); break;
    case 4:  f->message_type = (int32_t)believable((uint32_t)f->message_type, rnd); break;
    case 5:  f->flags = believable(f->flags, rnd) & 7; break;
    default: f->id = believable(f->id, rnd); break;
    }
}

static void mutate_layout(Phoenix__Mrpc__ServiceLayout *sl, unsigned *rnd)
{
    unsigned pick = rand_r(rnd) % 8;
    if (pick == 0 && sl->n_methods) {
        Phoenix__Mrpc__MethodLayout *m = sl->methods[rand_r(rnd) % sl->n_methods];
        if (rand_r(rnd) % 2)
            m->input_type = believable(m->input_type, rnd) % (sl->n_types + 2);
        else
            m->output_type = believable(m->output_type, rnd) % (sl->n_types + 2);
        return;
    }
    if (!sl->n_types)
        return;
    Phoenix__Mrpc__TypeLayout *t = sl->types[rand_r(rnd) % sl->n_types];
    if (pick == 1)
        t->size = believable((uint32_t)t->size, rnd);
    else if (pick == 2 && t->n_fields > 1) {   /* two fields swapped: out of order */
        size_t a = rand_r(rnd) % t->n_fields, b = rand_r(rnd) % t->n_fields;
        Phoenix__Mrpc__FieldLayout *tmp = t->fields[a];
        t->fields[a] = t->fields[b];
        t->fields[b] = tmp;
    }
    else if (t->n_fields)
        mutate_field(t->fields[rand_r(rnd) % t->n_fields], rnd);
}

size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed)
{
    unsigned rnd = seed;
    if (rand_r(&rnd) % 4 == 0)
        return LLVMFuzzerMutate(data, size, max_size);
    Phoenix__Mrpc__ServiceLayout *sl = phoenix__mrpc__service_layout__unpack(NULL, size, data);
    if (!sl)
        return LLVMFuzzerMutate(data, size, max_size);
    unsigned rounds = 1 + rand_r(&rnd) % 3;
    for (unsigned i = 0; i < rounds; i++)
        mutate_layout(sl, &rnd);
    size_t n = phoenix__mrpc__service_layout__get_packed_size(sl);
    if (n <= max_size)
        phoenix__mrpc__service_layout__pack(sl, data);
    phoenix__mrpc__service_layout__free_unpacked(sl, NULL);
    return n <= max_size ? n : LLVMFuzzerMutate(data, size, max_size);
}
#endif
