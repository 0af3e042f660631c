/* marshal_harness.h - what the marshalling tests, the fuzz target and the seed maker share.
 *
 * A test "app" that registers one synthetic service, mtest.All, with one method per test message
 * type (taking and returning it), so that every type of the test protos is in one layout set.
 * For tests that move messages, a harness adds a send heap and a receive heap, each a shared
 * region with a phx_heap, standing for the sending app's and the receiving app's heaps (one
 * process plays both apps and both services, so descriptor addresses agree). */
#ifndef MRPC_MARSHAL_HARNESS_H
#define MRPC_MARSHAL_HARNESS_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

#include "marshal.h"
#include "phoenix/heap.h"

/* The types of mtest.All, in method order (the fuzz target picks one by index). */
extern const ProtobufCMessageDescriptor *const harness_types[];
extern const unsigned harness_n_types;

/* The mtest.All service description (methods named after the full type names). */
const mrpc_service_desc_t *harness_service(void);

/* Its layout blob loaded into a new set, or NULL (a failed CUnit-free check prints why). */
mrpc_layout_set_t *harness_layout_set(void);

/* The type layout of D in SET (D must be one of harness_types). */
const struct mrpc_type_layout *harness_type(const mrpc_layout_set_t *set,
                                            const ProtobufCMessageDescriptor *d);

struct harness {
    phx_shm_region_t   send_region;
    phx_shm_region_t   recv_region;
    phx_heap_t        *send_heap;
    phx_heap_t        *recv_heap;
    mrpc_layout_set_t *set;
    void              *landed;      /* the last payload landed in the receive heap */
};

/* Two regions of REGION_SIZE bytes each, their heaps and the layout set. Returns 0 or -errno. */
int  harness_open(struct harness *h, size_t region_size);
void harness_close(struct harness *h);

/* A deep copy of MSG (anywhere) built in the send heap, as an app would build it. */
ProtobufCMessage *harness_to_send_heap(struct harness *h, const ProtobufCMessage *msg);

/* Encodes MSG (in the send heap) with LIM, copies the payload into the receive heap (replacing
 * the previous landed payload) and decodes it. Returns encode's or decode's result; *OUT is the
 * decoded message. ERR gets the sentence. */
int harness_roundtrip(struct harness *h, const ProtobufCMessage *msg,
                      const struct mrpc_encode_limits *lim, ProtobufCMessage **out, char *err,
                      size_t errlen);

/* Lands ENC's payload in the receive heap (as the transport would) and returns it. */
void *harness_land(struct harness *h, const struct mrpc_encoded *enc);

/* True when A and B pack to the same protobuf bytes (deep equality). */
int harness_same_packed(const ProtobufCMessage *a, const ProtobufCMessage *b);

#endif /* MRPC_MARSHAL_HARNESS_H */
