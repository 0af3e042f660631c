/* marshal_harness.c - the test app, its service mtest.All and the two heaps (marshal_harness.h).
 *
 * Messages reach the send heap the way an app's would be built there: packed from wherever the
 * test built them and unpacked with the send heap's protobuf-c allocator. */
#include "marshal_harness.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kitchen.pb-c.h"
#include "legacy.pb-c.h"
#include "marshal_test.pb-c.h"

const ProtobufCMessageDescriptor *const harness_types[] = {
    &kitchen__sink__v2__empty__descriptor,
    &kitchen__sink__v2__order__descriptor,
    &kitchen__sink__v2__order__line__descriptor,
    &kitchen__sink__v2__receipt__descriptor,
    &kitchen__sink__v2__heat_request__descriptor,
    &legacy__query__descriptor,
    &legacy__record__descriptor,
    &legacy__nothing__descriptor,
    &mtest__scalars__descriptor,
    &mtest__node__descriptor,
    &mtest__big__descriptor,
    &mtest__choice__descriptor,
};
#define N_TYPES (sizeof(harness_types) / sizeof(harness_types[0]))
const unsigned harness_n_types = N_TYPES;

#define SERVICE_NAME "mtest.All"

static mrpc_method_desc_t methods[N_TYPES];
static char               full_names[N_TYPES][128];
static mrpc_service_desc_t service;

const mrpc_service_desc_t *harness_service(void)
{
    if (service.n_methods)
        return &service;
    for (unsigned i = 0; i < N_TYPES; i++) {
        snprintf(full_names[i], sizeof(full_names[i]), SERVICE_NAME ".%s",
                 harness_types[i]->name);
        methods[i] = (mrpc_method_desc_t){
            .name = harness_types[i]->name, .full_name = full_names[i],
            .method_id = mrpc_id_of(full_names[i]),
            .input = harness_types[i], .output = harness_types[i],
        };
    }
    service = (mrpc_service_desc_t){
        .name = "All", .full_name = SERVICE_NAME, .service_id = mrpc_id_of(SERVICE_NAME),
        .n_methods = N_TYPES, .methods = methods,
    };
    return &service;
}

mrpc_layout_set_t *harness_layout_set(void)
{
    void *blob;
    size_t len;
    char err[256] = "";
    mrpc_layout_set_t *set = mrpc_layout_set_create();
    int rc = set ? mrpc_layout_encode_service(harness_service(), &blob, &len) : -ENOMEM;
    if (rc == 0) {
        rc = mrpc_layout_set_add(set, blob, len, err, sizeof(err));
        free(blob);
    }
    if (rc) {
        fprintf(stderr, "harness: loading the test layouts failed (%d): %s\n", rc, err);
        mrpc_layout_set_destroy(set);
        return NULL;
    }
    return set;
}

const struct mrpc_type_layout *harness_type(const mrpc_layout_set_t *set,
                                            const ProtobufCMessageDescriptor *d)
{
    char full[128];
    snprintf(full, sizeof(full), SERVICE_NAME ".%s", d->name);
    const struct mrpc_method_layout *m =
        mrpc_layout_find_method(set, mrpc_id_of(SERVICE_NAME), mrpc_id_of(full));
    return m ? m->input : NULL;
}

static int region_with_heap(phx_shm_region_t *r, phx_heap_t **heap, const char *name,
                            size_t size)
{
    struct phx_shm_region_params p = {
        .field_mask = PHX_SHM_REGION_PARAM_FIELD_NAME | PHX_SHM_REGION_PARAM_FIELD_SIZE,
        .name = name, .size = size,
    };
    int rc = phx_shm_region_create(r, &p);
    if (rc)
        return rc;
    *heap = phx_heap_create(r, NULL);
    return *heap ? 0 : -errno;
}

int harness_open(struct harness *h, size_t region_size)
{
    *h = (struct harness){ .send_region.fd = -1, .recv_region.fd = -1 };
    int rc = region_with_heap(&h->send_region, &h->send_heap, "mtest-send", region_size);
    if (rc == 0)
        rc = region_with_heap(&h->recv_region, &h->recv_heap, "mtest-recv", region_size);
    if (rc == 0 && !(h->set = harness_layout_set()))
        rc = -EINVAL;
    if (rc)
        harness_close(h);
    return rc;
}

void harness_close(struct harness *h)
{
    mrpc_layout_set_destroy(h->set);
    if (h->send_heap)
        phx_heap_destroy(h->send_heap);
    if (h->recv_heap)
        phx_heap_destroy(h->recv_heap);
    phx_shm_region_destroy(&h->send_region);
    phx_shm_region_destroy(&h->recv_region);
    *h = (struct harness){ .send_region.fd = -1, .recv_region.fd = -1 };
}

ProtobufCMessage *harness_to_send_heap(struct harness *h, const ProtobufCMessage *msg)
{
    size_t len = protobuf_c_message_get_packed_size(msg);
    uint8_t *buf = malloc(len + 1);
    if (!buf)
        return NULL;
    protobuf_c_message_pack(msg, buf);
    ProtobufCMessage *copy = protobuf_c_message_unpack(
        msg->descriptor, phx_heap_protobuf_allocator(h->send_heap), len, buf);
    free(buf);
    return copy;
}

void *harness_land(struct harness *h, const struct mrpc_encoded *enc)
{
    phx_heap_free(h->recv_heap, h->landed);
    h->landed = phx_heap_alloc(h->recv_heap, enc->payload_len);
    if (h->landed && mrpc_wire_to_buffer(enc, h->landed, enc->payload_len) != 0)
        h->landed = NULL;
    return h->landed;
}

int harness_roundtrip(struct harness *h, const ProtobufCMessage *msg,
                      const struct mrpc_encode_limits *lim, ProtobufCMessage **out, char *err,
                      size_t errlen)
{
    const struct mrpc_type_layout *t = harness_type(h->set, msg->descriptor);
    struct mrpc_encoded enc;
    void *decoded = NULL;
    *out = NULL;
    if (!t)
        return -ENOENT;
    int rc = mrpc_native_encode(t, (uintptr_t)msg, &h->send_region, lim, &enc, err, errlen);
    if (rc)
        return rc;
    void *payload = harness_land(h, &enc);
    rc = payload ? mrpc_native_decode(t, payload, enc.payload_len, &decoded, err, errlen)
                 : -ENOMEM;
    mrpc_encoded_free(&enc);
    *out = decoded;
    return rc;
}

int harness_same_packed(const ProtobufCMessage *a, const ProtobufCMessage *b)
{
    size_t la = protobuf_c_message_get_packed_size(a);
    size_t lb = protobuf_c_message_get_packed_size(b);
    if (la != lb)
        return 0;
    uint8_t *pa = malloc(la + 1), *pb = malloc(lb + 1);
    int same = pa && pb && protobuf_c_message_pack(a, pa) == la &&
               protobuf_c_message_pack(b, pb) == lb && memcmp(pa, pb, la) == 0;
    free(pa);
    free(pb);
    return same;
}
