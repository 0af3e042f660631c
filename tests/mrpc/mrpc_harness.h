/* mrpc_harness.h - MrpcEngine in the test's own process, between a scripted app and a fake
 * transport: unit tests of the engine without phoenixd, UCX or libmrpc.
 *
 * The harness loads the built mrpc plugin (dlopen, as phoenixd does) and creates its MrpcEngine
 * by hand on an app port of its own (phoenix/app_port.h) and two channels (core/daemon/graph.h):
 * the engine's tx out 0, where the fake transport reads what the engine sends down, and its rx
 * in 0, where the fake transport pushes what it sends up (mrpc/transport.h). The test plays both
 * ends and the runtime: it submits descriptors as libmrpc would, turns the engine (one progress()
 * per turn), reads completions, and answers the transport's side by hand. Every wait is bounded
 * in turns.
 *
 *     struct mrpc_harness h;
 *     CU_ASSERT_FATAL(mh_start(&h));
 *     mh_submit(&h, &(phx_desc_t){ .kind = MRPC_APP_CONNECT, ... });
 *     phx_desc_t down;
 *     CU_ASSERT_FATAL(mh_tx_take(&h, MRPC_DESC_CONNECT, &down));     // the fake transport
 *     down.kind = MRPC_DESC_CONNECTED;
 *     mh_rx_push(&h, &down);
 *     phx_desc_t c;
 *     CU_ASSERT_FATAL(mh_completion(&h, MRPC_APP_CONNECTED, &c));
 *     mh_stop(&h);
 *
 * The app's send region is made writable in this process (the service maps it read-only), so the
 * test can build messages at the addresses the engine checks, with `send_heap`. */
#ifndef MRPC_HARNESS_H
#define MRPC_HARNESS_H

#include "app_port_internal.h"
#include "graph.h"
#include "host.h"
#include "mrpc/app_proto.h"
#include "mrpc/transport.h"
#include "phoenix/app_port.h"
#include "phoenix/heap.h"

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stdint.h>

#define MH_TURNS 1000u              /* turns a wait takes at most */
#define MH_RING_DEPTH 8u            /* the app's rings: small, so the backlog is used */

struct mrpc_harness {
    void                    *plugin;        /* dlopen() handle */
    const phx_engine_ops_t  *ops;           /* MrpcEngine's */
    phx_app_port_t          *port;
    phx_heap_t              *send_heap;     /* the app's side of the send region */
    struct phx_engine_group  group;
    struct phx_engine        engine;
    phx_channel_t           *tx;            /* engine -> fake transport */
    phx_channel_t           *rx;            /* fake transport -> engine */
    void                    *state;
};

/* Loads the plugin at PHX_PLUGIN_MRPC, creates the engine and takes its WELCOME; false (why on
 * stderr) when a step failed, with what did start left for mh_stop(). */
bool mh_start(struct mrpc_harness *h);
void mh_stop(struct mrpc_harness *h);

/* One progress() of the engine; the work it reported. */
int  mh_turn(struct mrpc_harness *h);
/* Submits D as the app would. */
bool mh_submit(struct mrpc_harness *h, const phx_desc_t *d);
/* Turns until a completion of KIND comes (others are skipped, and a text they carry is given
 * back); false after MH_TURNS. */
bool mh_completion(struct mrpc_harness *h, uint16_t kind, phx_desc_t *out);
/* Turns until the engine sends a descriptor of KIND down to the transport (others are skipped;
 * a SEND skipped is answered SENT OK); false after MH_TURNS. */
bool mh_tx_take(struct mrpc_harness *h, uint16_t kind, phx_desc_t *out);
/* Pushes D up to the engine as the transport would. */
bool mh_rx_push(struct mrpc_harness *h, const phx_desc_t *d);
/* The engine's admin "stats" counter NAME, or -1. */
long mh_stat(struct mrpc_harness *h, const char *name);
/* The text a completion carries in the receive heap, or "". */
const char *mh_text(const phx_desc_t *d);

/* The app's side: a copy of S in the send heap, and a message of DESC there. */
char *mh_strdup(struct mrpc_harness *h, const char *s);
void *mh_message(struct mrpc_harness *h, const ProtobufCMessageDescriptor *desc);
/* REGISTER_SERVICE of SVC's layouts, answered REGISTERED OK. */
bool mh_register(struct mrpc_harness *h, const void *svc /* const mrpc_service_desc_t * */);
/* A message as the transport would land it: MSG (in the send heap, of the type method
 * METHOD_INDEX of SVC takes, or returns for a REPLY) encoded natively into a block of the receive
 * heap, described in *OUT as RECEIVED of WIRE_KIND (conn_id and call_id left for the caller). */
bool mh_land(struct mrpc_harness *h, const void *svc, unsigned method_index, uint8_t wire_kind,
             const ProtobufCMessage *msg, phx_desc_t *out);
/* CONNECT with id CONN_ID, answered CONNECTED OK by the fake transport. */
bool mh_connect(struct mrpc_harness *h, uint32_t conn_id);

#endif /* MRPC_HARNESS_H */
