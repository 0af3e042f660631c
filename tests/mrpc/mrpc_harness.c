/* mrpc_harness.c - MrpcEngine in process, with a scripted app and a fake transport (see
 * mrpc_harness.h). */
#include "mrpc_harness.h"

#include "marshal.h"
#include "mrpc/mrpc.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define MH_CHANNEL_DEPTH 1024u

static bool fail(const char *what, const char *why)
{
    fprintf(stderr, "mrpc harness: %s: %s\n", what, why);
    return false;
}

static bool load_plugin(struct mrpc_harness *h)
{
    if (!(h->plugin = dlopen(PHX_PLUGIN_MRPC, RTLD_NOW | RTLD_LOCAL)))
        return fail("dlopen " PHX_PLUGIN_MRPC, dlerror());
    const phx_plugin_desc_t *desc = dlsym(h->plugin, PHX_PLUGIN_SYMBOL);
    if (!desc || !desc->engines || !desc->engines[0] ||
        strcmp(desc->engines[0]->type, "MrpcEngine") != 0)
        return fail(PHX_PLUGIN_MRPC, "no MrpcEngine in its descriptor");
    h->ops = desc->engines[0];
    return true;
}

/* The port, with its send region writable here so the test can write the app's messages. */
static bool make_port(struct mrpc_harness *h)
{
    struct phx_app_port_params p = {
        .field_mask = PHX_APP_PORT_PARAM_FIELD_SEND_SIZE | PHX_APP_PORT_PARAM_FIELD_RECV_SIZE |
                      PHX_APP_PORT_PARAM_FIELD_DEPTH,
        .send_size = 16u << 20, .recv_size = 16u << 20,
        .depth = MH_RING_DEPTH,
    };
    char err[256];

    if (!(h->port = phx_app_port_create(&p, err, sizeof(err))))
        return fail("app port", err);
    if (mprotect(h->port->send.base, h->port->send.size, PROT_READ | PROT_WRITE) != 0)
        return fail("app port", "cannot make the send region writable");
    h->port->send.prot |= PROT_WRITE;
    struct phx_heap_params hp = { .field_mask = PHX_HEAP_PARAM_FIELD_SLAB_SIZE,
                                  .slab_size = h->port->layout.slab_size };
    if (!(h->send_heap = phx_heap_create(&h->port->send, &hp)))
        return fail("app port", "cannot make a heap over the send region");
    return true;
}

static bool make_engine(struct mrpc_harness *h)
{
    char err[256] = "";

    h->tx = phx_channel_create(PHX_TX, MH_CHANNEL_DEPTH);
    h->rx = phx_channel_create(PHX_RX, MH_CHANNEL_DEPTH);
    if (!h->tx || !h->rx)
        return fail("channels", "out of memory");
    h->group = (struct phx_engine_group){ .app = h->port };
    h->engine = (struct phx_engine){ .id = 1, .ops = h->ops, .group = &h->group, .wait_fd = -1 };
    h->engine.out[PHX_TX][0] = h->tx;
    h->engine.in[PHX_RX][0] = h->rx;
    if (h->ops->create(&h->engine, NULL, &h->state, err, sizeof(err)) != 0) {
        h->state = NULL;
        return fail("MrpcEngine create", err);
    }
    return true;
}

bool mh_start(struct mrpc_harness *h)
{
    phx_desc_t welcome;

    memset(h, 0, sizeof(*h));     /* no plugin in the engine: MrpcEngine's settings' defaults */
    return load_plugin(h) && make_port(h) && make_engine(h) &&
           mh_completion(h, MRPC_APP_WELCOME, &welcome);
}

void mh_stop(struct mrpc_harness *h)
{
    if (h->state)
        h->ops->destroy(&h->engine, h->state, PHX_DESTROY_ALL);
    phx_channel_destroy(h->tx);
    phx_channel_destroy(h->rx);
    if (h->send_heap)
        phx_heap_destroy(h->send_heap);
    phx_app_port_destroy(h->port);
    if (h->plugin)
        dlclose(h->plugin);
    memset(h, 0, sizeof(*h));
}

int mh_turn(struct mrpc_harness *h)
{
    return h->ops->progress(&h->engine, h->state);
}

bool mh_submit(struct mrpc_harness *h, const phx_desc_t *d)
{
    return phx_ring_push(&h->port->sq, d, 1) == 1;
}

bool mh_completion(struct mrpc_harness *h, uint16_t kind, phx_desc_t *out)
{
    for (unsigned t = 0; t < MH_TURNS; t++) {
        mh_turn(h);
        while (phx_ring_pop(&h->port->cq, out, 1) == 1) {
            if (out->kind == kind)
                return true;
            if (out->addr && out->kind != MRPC_APP_SEND_DONE)   /* a text: give it back */
                mh_submit(h, &(phx_desc_t){ .kind = MRPC_APP_RELEASE, .addr = out->addr });
        }
    }
    return false;
}

bool mh_tx_take(struct mrpc_harness *h, uint16_t kind, phx_desc_t *out)
{
    for (unsigned t = 0; t < MH_TURNS; t++) {
        mh_turn(h);
        while (phx_chan_pop(h->tx, out, 1) == 1) {
            if (out->kind == kind)
                return true;
            if (out->kind == MRPC_DESC_SEND) {
                phx_desc_t sent = *out;
                sent.kind = MRPC_DESC_SENT;
                sent.status = PHX_OK;
                mh_rx_push(h, &sent);
            }
        }
    }
    return false;
}

bool mh_rx_push(struct mrpc_harness *h, const phx_desc_t *d)
{
    return phx_chan_push(h->rx, d, 1) == 1;
}

long mh_stat(struct mrpc_harness *h, const char *name)
{
    char *reply = NULL, key[80];
    long value = -1;

    if (h->ops->admin(&h->engine, h->state, "stats", &reply) != 0 || !reply)
        return -1;
    snprintf(key, sizeof(key), "\"%s\":", name);
    const char *at = strstr(reply, key);
    if (at)
        value = strtol(at + strlen(key), NULL, 10);
    free(reply);
    return value;
}

const char *mh_text(const phx_desc_t *d)
{
    return d->addr && d->len ? (const char *)(uintptr_t)d->addr : "";
}

char *mh_strdup(struct mrpc_harness *h, const char *s)
{
    char *copy = phx_heap_alloc(h->send_heap, strlen(s) + 1);

    if (copy)
        strcpy(copy, s);
    return copy;
}

void *mh_message(struct mrpc_harness *h, const ProtobufCMessageDescriptor *desc)
{
    void *msg = phx_heap_alloc(h->send_heap, desc->sizeof_message);

    if (msg)
        protobuf_c_message_init(desc, msg);
    return msg;
}

bool mh_register(struct mrpc_harness *h, const void *svc)
{
    const mrpc_service_desc_t *s = svc;
    void *blob;
    size_t len;
    phx_desc_t d;

    if (mrpc_layout_encode_service(s, &blob, &len) < 0)
        return fail("layouts", s->full_name);
    void *copy = phx_heap_alloc(h->send_heap, len);
    if (copy)
        memcpy(copy, blob, len);
    free(blob);
    if (!copy || !mh_submit(h, &(phx_desc_t){ .kind = MRPC_APP_REGISTER_SERVICE,
                                              .service_id = s->service_id,
                                              .addr = (uintptr_t)copy, .len = len }))
        return fail("layouts", "no room");
    return mh_completion(h, MRPC_APP_REGISTERED, &d) && d.status == PHX_OK;
}

bool mh_land(struct mrpc_harness *h, const void *svc, unsigned method_index, uint8_t wire_kind,
             const ProtobufCMessage *msg, phx_desc_t *out)
{
    const mrpc_service_desc_t *s = svc;
    const mrpc_method_desc_t *md = &s->methods[method_index];
    mrpc_layout_set_t *set = mrpc_layout_set_create();
    struct mrpc_encoded enc = { 0 };
    char err[256] = "";
    void *blob = NULL;
    size_t len;
    bool ok = false;

    if (set && mrpc_layout_encode_service(s, &blob, &len) == 0 &&
        mrpc_layout_set_add(set, blob, len, err, sizeof(err)) == 0) {
        const struct mrpc_method_layout *ml = mrpc_layout_find_method(set, s->service_id,
                                                                      md->method_id);
        const struct mrpc_type_layout *t = wire_kind == MRPC_WIRE_CALL ? ml->input : ml->output;
        void *block = NULL;
        if (mrpc_native_encode(t, (uintptr_t)msg, &h->port->send, NULL, &enc, err,
                               sizeof(err)) == 0 &&
            (block = phx_heap_alloc(h->port->recv_heap, enc.payload_len)) &&
            mrpc_wire_to_buffer(&enc, block, enc.payload_len) == 0) {
            *out = (phx_desc_t){ .kind = MRPC_DESC_RECEIVED,
                                 .flags = (uint16_t)(wire_kind | MRPC_FORMAT_NATIVE << 8),
                                 .service_id = s->service_id, .method_id = md->method_id,
                                 .addr = (uintptr_t)block, .len = enc.payload_len,
                                 .user = mrpc_type_hash(t) };
            ok = true;
        }
    }
    mrpc_encoded_free(&enc);
    free(blob);
    mrpc_layout_set_destroy(set);
    return ok || fail("landing a message", err[0] ? err : "out of memory");
}

bool mh_connect(struct mrpc_harness *h, uint32_t conn_id)
{
    char *addr = mh_strdup(h, "peer.test:1");
    phx_desc_t down, up;

    if (!addr || !mh_submit(h, &(phx_desc_t){ .kind = MRPC_APP_CONNECT, .conn_id = conn_id,
                                              .addr = (uintptr_t)addr,
                                              .len = strlen(addr) + 1 }) ||
        !mh_tx_take(h, MRPC_DESC_CONNECT, &down))
        return false;
    down.kind = MRPC_DESC_CONNECTED;
    down.status = PHX_OK;
    return mh_rx_push(h, &down) && mh_completion(h, MRPC_APP_CONNECTED, &up) &&
           up.status == PHX_OK;
}
