/* marshal.h - mRPC's marshalling library: message layouts and the native payload format.
 *
 * Two halves, used on the two sides of the app/service boundary:
 *
 *  - App side (libmrpc): mrpc_layout_encode_service() describes the C layout of every message type
 *    a service uses (sizes, field offsets, labels, types, nesting, defaults, the addresses of the
 *    app's descriptors) as a packed phoenix.mrpc.ServiceLayout (proto/mrpc_layout.proto), which
 *    the app registers with the service.
 *
 *  - Service side (MrpcEngine): a layout set (one per app subscription) unpacks and validates those
 *    blobs as untrusted input, hashes each type (mrpc_type_hash: equal hashes on two nodes mean
 *    the native format can be used between them), and drives the native encoder and decoder:
 *    mrpc_native_encode() turns a message the app built in its send heap into a scatter-gather
 *    list (validating every pointer and length while it walks), mrpc_native_decode() rewrites a
 *    payload landed in the receiving app's receive heap into a protobuf-c struct in place.
 *
 * The payload format and the trust rules are described in docs/marshalling.md. Every function
 * returns 0 or a negative errno and, where it takes ERR/ERRLEN, writes one readable sentence
 * there on failure (ERR may be NULL). */
#ifndef MRPC_MARSHAL_H
#define MRPC_MARSHAL_H

#include <stddef.h>
#include <stdint.h>

#include "mrpc/mrpc.h"
#include "mrpc/transport.h"
#include "phoenix/shm_region.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- layouts, app side ---------------------------------------------------------------------- */

/* Describes SVC's methods and the closure of their message types as a packed ServiceLayout.
 * *BLOB is malloc'd (free() it), *LEN its size. Returns 0, -EINVAL (a NULL or inconsistent
 * descriptor) or -ENOMEM. */
int mrpc_layout_encode_service(const mrpc_service_desc_t *svc, void **blob, size_t *len);

/* ---- layouts, service side ------------------------------------------------------------------ */

/* Limits a layout blob must respect (larger ones are refused with -EINVAL). */
#define MRPC_LAYOUT_MAX_BLOB         (16u << 20)
#define MRPC_LAYOUT_MAX_TYPES        4096u      /* per service */
#define MRPC_LAYOUT_MAX_FIELDS       4096u      /* per type */
#define MRPC_LAYOUT_MAX_TOTAL_FIELDS 65536u     /* per service, all types together */
#define MRPC_LAYOUT_MAX_METHODS      4096u      /* per service */
#define MRPC_LAYOUT_MAX_TYPE_SIZE    (64u << 10)
#define MRPC_LAYOUT_MAX_SERVICES     1024u      /* per set */

typedef struct mrpc_layout_set mrpc_layout_set_t;

/* One message type of a registered service (opaque; see the accessors below). Lives as long as
 * the set that holds it. */
struct mrpc_type_layout;

/* What the structs below look like: a reader of another build's layouts (a policy reading through
 * MrpcEngine's, mrpc/transport.h) checks it is its own. */
#define MRPC_MARSHAL_ABI 1u

/* One method of a registered service. */
struct mrpc_method_layout {
    const char                    *name;          /* "SayHello" */
    const char                    *service_name;  /* "rpc_hello.Greeter" */
    uint32_t                       service_id;
    uint32_t                       method_id;
    const struct mrpc_type_layout *input;
    const struct mrpc_type_layout *output;
};

/* An empty set, or NULL with errno ENOMEM. */
mrpc_layout_set_t *mrpc_layout_set_create(void);
/* Frees the set and every layout in it (NULL is ignored). Encoded messages that may point at
 * the set's default strings (mrpc_encoded) must be freed first. */
void mrpc_layout_set_destroy(mrpc_layout_set_t *set);

/* Unpacks BLOB (from an untrusted app), validates it and adds its service to SET. Returns 0,
 * -EINVAL with a sentence when the blob is malformed or inconsistent, -EEXIST when the set
 * already holds that service id, -ENOSPC when the set is full, or -ENOMEM. On failure the set
 * is unchanged. */
int mrpc_layout_set_add(mrpc_layout_set_t *set, const void *blob, size_t len, char *err,
                        size_t errlen);

/* The method METHOD_ID of service SERVICE_ID, or NULL when the set holds no such method. */
const struct mrpc_method_layout *mrpc_layout_find_method(const mrpc_layout_set_t *set,
                                                         uint32_t service_id, uint32_t method_id);

/* 64-bit FNV-1a over a canonical description of the type and of every type it reaches (names,
 * size, field ids, names, labels, types, offsets, quantifier offsets, oneof membership; never
 * addresses or defaults). Two apps built from the same .proto with the same ABI agree on it. */
uint64_t    mrpc_type_hash(const struct mrpc_type_layout *t);
const char *mrpc_type_name(const struct mrpc_type_layout *t);     /* "pkg.Msg" */
size_t      mrpc_type_size(const struct mrpc_type_layout *t);     /* sizeof the C struct */

/* ---- native encoding, service side (sender) ------------------------------------------------- */

#define MRPC_MARSHAL_DEFAULT_MAX_BYTES    (1ull << 30)
#define MRPC_MARSHAL_DEFAULT_MAX_SEGMENTS (1u << 20)
#define MRPC_MARSHAL_DEFAULT_MAX_DEPTH    64u      /* also what mrpc_native_decode accepts */
#define MRPC_MARSHAL_DEFAULT_GATHER_BELOW 8192u

enum {
    MRPC_ENCODE_LIMIT_FIELD_MAX_BYTES    = 1u << 0,  /* default MRPC_MARSHAL_DEFAULT_MAX_BYTES */
    MRPC_ENCODE_LIMIT_FIELD_MAX_SEGMENTS = 1u << 1,  /* default ..._MAX_SEGMENTS */
    MRPC_ENCODE_LIMIT_FIELD_MAX_DEPTH    = 1u << 2,  /* default ..._MAX_DEPTH */
    MRPC_ENCODE_LIMIT_FIELD_GATHER_BELOW = 1u << 3,  /* default ..._GATHER_BELOW; 0: never */
};

struct mrpc_encode_limits {
    uint64_t field_mask;
    size_t   max_bytes;      /* payload bytes, table and padding included */
    size_t   max_segments;   /* segments of the payload table */
    unsigned max_depth;      /* nesting of messages; the top-level struct is depth 0 */
    size_t   gather_below;   /* payloads shorter than this are copied into one buffer */
};

/* An encoded message: the payload is the concatenation of iov[0..n_iov). Pieces point into the
 * send heap (validated, zero copy), into the layout set (default strings) or into memory owned
 * by this struct. */
struct mrpc_encoded {
    struct mrpc_iov *iov;
    unsigned         n_iov;
    size_t           payload_len;
    void            *owned;      /* private: what mrpc_encoded_free() releases */
};

/* Encodes the message of type T at MSG_ADDR in SEND_HEAP (an app's send heap as the service maps
 * it). Every struct, string, bytes and array is checked to lie inside SEND_HEAP before it is read,
 * and each pointer and count is read from the app's memory exactly once. LIM may be NULL for
 * every default. Returns 0 and fills OUT; -EINVAL with a sentence for a malformed message (a
 * pointer outside the send heap, an unterminated string, a count that overflows, nesting deeper
 * than max_depth); -E2BIG when the payload would exceed max_bytes or max_segments; -ENOMEM.
 * On failure OUT holds nothing to free. */
int mrpc_native_encode(const struct mrpc_type_layout *t, uint64_t msg_addr,
                       const phx_shm_region_t *send_heap, const struct mrpc_encode_limits *lim,
                       struct mrpc_encoded *out, char *err, size_t errlen);

/* Frees what mrpc_native_encode() allocated (not the send heap's memory). Safe on a zeroed or
 * already freed struct. */
void mrpc_encoded_free(struct mrpc_encoded *e);

/* Copies E's payload (E->payload_len bytes) into DST. Returns 0, or -ENOSPC when CAP is too
 * small (DST is then untouched). */
int mrpc_wire_to_buffer(const struct mrpc_encoded *e, void *dst, size_t cap);

/* ---- native decoding, service side (receiver) ----------------------------------------------- */

/* Turns the payload of LEN bytes at PAYLOAD (landed in the receiving app's receive heap, writable
 * by the service, 16-byte aligned) into a message of type T in place: checks the segment table
 * and every segment's length against what the landed structs imply, rewrites every pointer to
 * its segment and writes the receiving app's descriptor addresses into each struct. Nothing
 * outside [PAYLOAD, PAYLOAD + LEN) is written. Returns 0 with *MSG the top-level struct (inside
 * the payload), or -EINVAL with a sentence, the payload then partly rewritten and fit only to be
 * freed. Nesting deeper than MRPC_MARSHAL_DEFAULT_MAX_DEPTH is refused. A string equal to its
 * field's default text gets the receiving app's default address, as protobuf-c expects of an
 * unset proto2 optional string (docs/marshalling.md). */
int mrpc_native_decode(const struct mrpc_type_layout *t, void *payload, size_t len, void **msg,
                       char *err, size_t errlen);

#ifdef __cplusplus
}
#endif

#endif /* MRPC_MARSHAL_H */
